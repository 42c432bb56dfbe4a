//! Black-box integration tests: the real `svinit` binary as PID 1 of a new
//! PID namespace (`unshare --pid --fork --mount-proc`). Run as root:
//! `cargo test --test integration`.

mod entrypoint;
