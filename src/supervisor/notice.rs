//! What the supervisor has to say that no other action shows: why a signal
//! did what it did, why a shutdown began, an event it ignored. The core
//! cannot log (it has no clock, no stderr); it emits `Action::Notice` and
//! the runtime writes the line, at the level and with the subject the
//! notice gives. The wording is part of the log format people grep.

use std::fmt;

use crate::log::Level;

use super::{PowerKind, ReadyFdProblem, Reason, StateKind, signal_name};

#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Notice {
    /// A signal that means nothing in svinit's role (and no main command
    /// takes it).
    SignalIgnored { signal: i32 },
    /// Passed on to the main command's process group.
    SignalForwarded { signal: i32, pid: i32 },
    /// A signal for the main command, which does not run (yet, or any
    /// more).
    SignalDropped { signal: i32 },
    /// SIGTERM or SIGINT began an orderly shutdown; `before_main`: the main
    /// command had not started.
    ShutdownBySignal { signal: i32, before_main: bool },
    /// `svctl shutdown` began an orderly shutdown.
    ShutdownRequested,
    /// System role: a stop of everything, then `kind`, asked for by `by`
    /// (`SIGTERM`, `svctl reboot (uid 0 pid 7)`).
    PowerRequested { kind: PowerKind, by: String },
    /// A `critical` service ended for good with `exit_code`: svinit stops
    /// everything and exits with it (`shutdown`), or, in the system role,
    /// starts the emergency shell.
    CriticalEnded {
        service: String,
        exit_code: i32,
        shutdown: bool,
    },
    /// The emergency shell starts on `tty`: the config at boot was invalid
    /// (`at_boot`), or a `critical` service ended.
    EmergencyShell { tty: String, at_boot: bool },
    /// It would, but there is no shell to start.
    NoEmergencyShell { at_boot: bool },
    /// Readiness from `pid`, which is not the service's process (any more).
    StaleReadiness { service: String, pid: i32 },
    /// The `ready-fd` pipe of the service's starting process ended without
    /// a newline: it stays `starting` until its start-timeout.
    ReadyFdFailed {
        service: String,
        problem: ReadyFdProblem,
    },
    /// `STATUS=…` from a `ready-notify` service.
    StatusText { service: String, text: String },
    /// The stop command failed (`problem`: it could not be started, or
    /// how it exited) while the service still runs: `signal` is sent.
    StopCommandFailed {
        service: String,
        problem: String,
        signal: i32,
    },
    /// The `pid-file` of a longrun could not be written (the reason says
    /// why); the service runs on.
    PidFileNotWritten { service: String, reason: Reason },
    /// An event about a service that does not fit its state (an exec
    /// report after its stop, a pid file read after it stopped): nothing
    /// done.
    Ignored {
        service: String,
        event: &'static str,
        state: StateKind,
    },
    /// An event about the main command that does not fit its state
    /// (`Spawned` after it was given up, say): nothing done.
    MainIgnored {
        event: &'static str,
        state: &'static str,
    },
}

impl Notice {
    pub(crate) fn level(&self) -> Level {
        match self {
            Notice::SignalIgnored { .. }
            | Notice::SignalForwarded { .. }
            | Notice::SignalDropped { .. }
            | Notice::StaleReadiness { .. }
            | Notice::StatusText { .. }
            | Notice::Ignored { .. }
            | Notice::MainIgnored { .. } => Level::Debug,
            Notice::ReadyFdFailed { .. }
            | Notice::StopCommandFailed { .. }
            | Notice::PidFileNotWritten { .. } => Level::Warn,
            Notice::ShutdownBySignal { .. }
            | Notice::ShutdownRequested
            | Notice::PowerRequested { .. }
            | Notice::EmergencyShell { at_boot: false, .. } => Level::Info,
            Notice::CriticalEnded { shutdown: true, .. } => Level::Warn,
            Notice::CriticalEnded {
                shutdown: false, ..
            }
            | Notice::EmergencyShell { at_boot: true, .. }
            | Notice::NoEmergencyShell { .. } => Level::Error,
        }
    }

    /// Whom the log line is about: a service's name, or empty for svinit.
    pub(crate) fn subject(&self) -> &str {
        match self {
            Notice::SignalIgnored { .. }
            | Notice::SignalForwarded { .. }
            | Notice::SignalDropped { .. }
            | Notice::ShutdownBySignal { .. }
            | Notice::ShutdownRequested
            | Notice::PowerRequested { .. }
            | Notice::EmergencyShell { .. }
            | Notice::NoEmergencyShell { .. }
            | Notice::MainIgnored { .. } => "",
            Notice::CriticalEnded { service, .. }
            | Notice::StaleReadiness { service, .. }
            | Notice::ReadyFdFailed { service, .. }
            | Notice::StatusText { service, .. }
            | Notice::StopCommandFailed { service, .. }
            | Notice::PidFileNotWritten { service, .. }
            | Notice::Ignored { service, .. } => service,
        }
    }
}

impl fmt::Display for Notice {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Notice::SignalIgnored { signal } => {
                write!(f, "ignored signal {}", signal_name(*signal))
            }
            Notice::SignalForwarded { signal, pid } => write!(
                f,
                "forwarding SIG{} to the main command's group {pid}",
                signal_name(*signal)
            ),
            Notice::SignalDropped { signal } => write!(
                f,
                "ignored SIG{}: no main command running",
                signal_name(*signal)
            ),
            Notice::ShutdownBySignal {
                signal,
                before_main,
            } => {
                let when = if *before_main {
                    " before the main command started"
                } else {
                    ""
                };
                write!(
                    f,
                    "received SIG{}{when}, shutting down",
                    signal_name(*signal)
                )
            }
            Notice::ShutdownRequested => write!(f, "shutting down (svctl shutdown)"),
            Notice::PowerRequested { kind, by } => write!(
                f,
                "{by}: {}, stopping services in reverse order",
                kind.as_str()
            ),
            Notice::CriticalEnded {
                exit_code,
                shutdown: true,
                ..
            } => write!(
                f,
                "critical service ended: stopping everything, exit status {exit_code}"
            ),
            Notice::CriticalEnded {
                exit_code,
                shutdown: false,
                ..
            } => write!(f, "critical service ended (status {exit_code})"),
            Notice::EmergencyShell { tty, at_boot } => {
                write!(f, "starting the emergency shell on {tty}")?;
                if *at_boot {
                    write!(f, "; fix the config, then `svctl reload`")?;
                }
                Ok(())
            }
            Notice::NoEmergencyShell { at_boot: true } => {
                write!(f, "no /bin/sh: waiting for `svctl reload`")
            }
            Notice::NoEmergencyShell { at_boot: false } => {
                write!(f, "no /bin/sh: no emergency shell")
            }
            Notice::StaleReadiness { pid, .. } => {
                write!(f, "ignored readiness of pid {pid}: not its process")
            }
            Notice::ReadyFdFailed {
                problem: ReadyFdProblem::ClosedWithoutNewline,
                ..
            } => write!(
                f,
                "closed its ready-fd without writing a newline: not ready"
            ),
            Notice::ReadyFdFailed {
                problem: ReadyFdProblem::Flooded { bytes },
                ..
            } => write!(
                f,
                "wrote {bytes} bytes to its ready-fd without a newline: not ready, the pipe is closed"
            ),
            Notice::StatusText { text, .. } => write!(f, "STATUS={text}"),
            Notice::PidFileNotWritten { reason, .. } => write!(f, "{reason}; running on"),
            Notice::StopCommandFailed {
                problem, signal, ..
            } => write!(
                f,
                "stop command {problem}: sending SIG{} instead",
                signal_name(*signal)
            ),
            Notice::Ignored { event, state, .. } => write!(f, "ignored {event} while {state}"),
            Notice::MainIgnored { event, state } => {
                write!(f, "main command: ignored {event} while {state}")
            }
        }
    }
}
