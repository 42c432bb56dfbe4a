//! SPEC.md §7 "Whom svinit trusts", from the attacker's side: each test is
//! an attack by a service (its processes, the paths its user can write) or
//! by a local user of the control socket, run against the real binary as
//! PID 1 of a new PID namespace, with real unprivileged users where the
//! attack needs one. Each was written to fail on the code before its fix
//! (RELIABILITY.md, "Threat model", names the test for every promise).

mod clients;
mod console;
mod fds;
mod notify;
mod paths;
mod shutdown;
mod signals;
