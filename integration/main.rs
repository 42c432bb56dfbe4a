//! Black-box integration tests: the real `svinit` binary as PID 1 of a new
//! PID namespace (`unshare --pid --fork --mount-proc`) or in user mode, with
//! unit files in a temp dir and services that report what they see through
//! files. Run as root: `cargo test --test integration`.

mod harness;

mod adversarial;
mod backoff;
mod boot;
mod check;
mod cli;
mod completion;
mod control;
mod daemons;
mod detach;
mod entrypoint;
mod faults;
mod main_command;
mod options;
mod ordering;
mod output;
mod plot;
mod podman;
mod probes;
mod readiness;
mod reaping;
mod reload;
mod shutdown;
mod spawn_failures;
mod spawner;
mod stop_commands;
mod svctl_habits;
mod templates;
mod written_pid_files;
