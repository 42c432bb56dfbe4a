//! Starting service processes: the only place that forks.
//!
//! Two halves. [`prepare`] turns a
//! [`ServiceConfig`](crate::config::ServiceConfig) into a [`SpawnPlan`]:
//! PATH lookup, users and groups, the environment, rlimits, every string as
//! a `CString`. It does no I/O but reading the environment-file. [`execute`]
//! forks; the child touches only the prepared plan with async-signal-safe
//! calls, and reports a failing step as `{stage, errno}` on a CLOEXEC pipe
//! that [`read_exec_status`] decodes, naming the object from the plan:
//! "exec /usr/bin/x: No such file or directory", "chdir /srv: …",
//! "setuid www-data: …", "prepare user nobodyx: no such user".
//! [`Spawner`] makes the services' processes from a small helper process,
//! running the same child code; [`execute`] forks svinit itself (the main
//! command, and services while there is no spawner).
//!
//! Decisions where SPEC.md is silent:
//! - Environment, lowest to highest precedence: inherited (or only
//!   `PATH=`[`DEFAULT_PATH`] with `clear-environment`), then `HOME`, `USER`,
//!   `LOGNAME`, `SHELL` of `user`, then the environment-file, then
//!   `environment`. So a unit can still override `HOME`.
//! - environment-file: see [`parse_environment_file`]. A missing or
//!   malformed file fails the start with the path and line, rather than
//!   running the service with variables silently missing. It is a path a
//!   service's user may control: opened through `crate::untrusted` (no
//!   symlink followed, never blocking), it must be a regular file of at
//!   most 1 MiB.
//! - PATH lookup uses the service's final `PATH` (or [`DEFAULT_PATH`] when it
//!   has none), skips empty and relative entries, and takes the first regular
//!   file with an execute bit. A program with a `/` is not looked up; exec
//!   reports it when missing. `argv[0]` stays as written, like `execvp`.
//! - `user` by number without a passwd entry is allowed (s6, runit and
//!   docker accept bare ids): primary group = the uid's number, supplementary
//!   groups = just that, `HOME=/`, `USER`/`LOGNAME` = the number,
//!   `SHELL=/bin/sh`. A name made of digits that is not in passwd counts as
//!   that number; the same holds for groups.
//! - Groups: `groups` given → exactly those; else with `user` → what
//!   `initgroups(user, primary)` gives, primary being `group` when given;
//!   `group` alone → just it. Not running as root, derived supplementary
//!   groups are not applied (setgroups needs privilege even to change
//!   nothing); explicit `groups` are attempted and fail visibly.
//! - `nice` is absolute (`setpriority`), not an increment.
//! - `tty`: opened read-write, made the controlling terminal without
//!   stealing it from another session, and used for fds 0, 1 and 2 whatever
//!   [`ChildIo`] says; `extra_fds` still apply.
//! - Besides the fds asked for, the child closes every fd above 2
//!   (`close_range`), so an fd svinit inherited without CLOEXEC does not
//!   reach services.
//! - Signals are blocked in the child from fork to just before execve: one
//!   sent meanwhile (a quick stop) acts on the program, never on half-set-up
//!   svinit code. Dispositions ignored by svinit or by whoever started it
//!   (SIGPIPE, even 32-34) are reset too.
//! - The main command (`svinit -- COMMAND`) is spawned the same way after
//!   [`SpawnPlan::set_foreground`]: its own process group in svinit's
//!   session, the terminal's foreground group, like tini.
//! - Each environment-file is read at each start: an edit applies at the
//!   next restart, like the rest of a changed config.

mod credentials;
mod env;
mod envfile;
mod execute;
mod prepare;
mod spawner;
#[cfg(test)]
mod tests;

pub(crate) use env::{DEFAULT_PATH, read_environment_file};
pub(crate) use execute::{
    Child, ChildIo, ExecStatus, Stdio, execute, read_exec_record, read_exec_status,
};
pub(crate) use prepare::{SpawnContext, SpawnPlan, prepare};
pub(crate) use spawner::Unsent;
pub use spawner::{Spawner, prelaunch as prelaunch_spawner, serve_if_spawner};
