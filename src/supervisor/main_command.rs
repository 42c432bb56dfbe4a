//! The main command (`svinit -- COMMAND`, the tini/dumb-init job) as the
//! supervisor sees it: when it may start (boot settled), what a signal to
//! svinit does to it, how long it gets to stop at shutdown, and which exit
//! status svinit ends with (its own, a critical service's, 126/127 when it
//! could not be started). Pure: the supervisor holds its deadline.

use std::time::{Duration, Instant};

use super::{ExitStatus, Reason, SpawnFailure, SpawnStage};

/// How long the main command gets between the shutdown's SIGTERM and the
/// SIGKILL to its group, when the config sets no `shutdown-timeout`
/// (the default `stop-timeout` of a service).
pub const MAIN_STOP_TIMEOUT: Duration = Duration::from_secs(10);

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MainCommand {
    /// No `-- COMMAND`: svinit supervises its units until told to stop.
    Absent,
    /// Waiting for every autostart service to be up, done or failed.
    WaitingForBoot,
    /// `Action::StartMain` emitted, no pid yet.
    Starting,
    Running {
        pid: i32,
    },
    /// Signalled by a shutdown it did not cause. At `deadline`: SIGKILL to
    /// its group, or, once `killed`, it is given up on as unkillable.
    Stopping {
        pid: i32,
        deadline: Instant,
        killed: bool,
    },
    /// Exited (or never started); svinit is shutting down.
    Finished,
}

impl MainCommand {
    pub fn pid(&self) -> Option<i32> {
        match self {
            MainCommand::Running { pid } | MainCommand::Stopping { pid, .. } => Some(*pid),
            _ => None,
        }
    }

    /// Its process exists or is being created: units keep running.
    pub fn has_process(&self) -> bool {
        matches!(
            self,
            MainCommand::Starting | MainCommand::Running { .. } | MainCommand::Stopping { .. }
        )
    }

    pub fn deadline(&self) -> Option<Instant> {
        match self {
            MainCommand::Stopping { deadline, .. } => Some(*deadline),
            _ => None,
        }
    }
}

/// What a signal received by svinit (TERM, INT, HUP, QUIT, USR1, USR2,
/// WINCH, and the job-control TSTP, TTIN, TTOU, CONT) does when there is a
/// main command.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MainSignal {
    /// Sent to the main command's process group.
    Forwarded { pid: i32 },
    /// Before the main command started: TERM and INT stop svinit (exit
    /// 128+N, as if the command had been killed by it).
    Shutdown { exit_code: i32 },
    /// Nobody to forward it to (not started yet, or gone).
    Dropped,
}

/// The decision for `signal` given the main command's state.
pub fn route_signal(main: &MainCommand, signal: i32) -> MainSignal {
    match main {
        MainCommand::Running { pid } | MainCommand::Stopping { pid, .. } => {
            MainSignal::Forwarded { pid: *pid }
        }
        MainCommand::WaitingForBoot | MainCommand::Starting
            if signal == libc::SIGTERM || signal == libc::SIGINT =>
        {
            MainSignal::Shutdown {
                exit_code: 128 + signal,
            }
        }
        _ => MainSignal::Dropped,
    }
}

/// svinit's exit status when a command could not be started, as a shell
/// (and tini) says it: 127 when the program is not found, 126 when it was
/// found but cannot be executed, 1 for a failed step before exec.
pub fn spawn_failure_code(failure: &SpawnFailure) -> i32 {
    match (failure.stage, failure.errno) {
        (SpawnStage::Exec, libc::ENOENT | libc::ENOTDIR) => 127,
        (SpawnStage::Exec, _) => 126,
        _ => 1,
    }
}

/// svinit's exit status when a `critical` service ended for good: its exit
/// code (128+N for a signal), 126/127 for a failed exec, 1 for any other
/// failure. A failure never gives 0, even after clean exits (`restart
/// "always"` giving up).
pub fn critical_exit_code(failed: Option<&Reason>, last_exit: Option<ExitStatus>) -> i32 {
    let code = match failed {
        None => last_exit.map_or(0, ExitStatus::as_shell_code),
        Some(Reason::Exited(status)) => status.as_shell_code(),
        Some(Reason::GaveUp { last, .. }) => last.as_shell_code(),
        Some(Reason::SpawnFailed(failure)) => spawn_failure_code(failure),
        Some(_) => 1,
    };
    match (failed, code) {
        (Some(_), 0) => 1,
        (_, code) => code,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn failure(stage: SpawnStage, errno: i32) -> SpawnFailure {
        SpawnFailure {
            stage,
            detail: "x".into(),
            errno,
            message: None,
        }
    }

    #[test]
    fn spawn_failures_map_to_shell_codes() {
        assert_eq!(
            spawn_failure_code(&failure(SpawnStage::Exec, libc::ENOENT)),
            127
        );
        assert_eq!(
            spawn_failure_code(&failure(SpawnStage::Exec, libc::EACCES)),
            126
        );
        assert_eq!(
            spawn_failure_code(&failure(SpawnStage::Exec, libc::ENOEXEC)),
            126
        );
        assert_eq!(
            spawn_failure_code(&failure(SpawnStage::Chdir, libc::ENOENT)),
            1
        );
        assert_eq!(spawn_failure_code(&failure(SpawnStage::Prepare, 0)), 1);
    }

    #[test]
    fn signals_before_the_start_stop_svinit_only_for_term_and_int() {
        let waiting = MainCommand::WaitingForBoot;
        assert_eq!(
            route_signal(&waiting, libc::SIGTERM),
            MainSignal::Shutdown { exit_code: 143 }
        );
        assert_eq!(
            route_signal(&waiting, libc::SIGINT),
            MainSignal::Shutdown { exit_code: 130 }
        );
        assert_eq!(route_signal(&waiting, libc::SIGHUP), MainSignal::Dropped);
        let running = MainCommand::Running { pid: 7 };
        for signal in [libc::SIGHUP, libc::SIGWINCH, libc::SIGTSTP, libc::SIGCONT] {
            assert_eq!(
                route_signal(&running, signal),
                MainSignal::Forwarded { pid: 7 }
            );
        }
        assert_eq!(
            route_signal(&MainCommand::Finished, libc::SIGTERM),
            MainSignal::Dropped
        );
    }

    #[test]
    fn critical_codes() {
        let signaled = ExitStatus::Signaled {
            signal: 9,
            core: false,
        };
        assert_eq!(critical_exit_code(None, Some(ExitStatus::Exited(0))), 0);
        assert_eq!(critical_exit_code(None, Some(ExitStatus::Exited(2))), 2);
        assert_eq!(
            critical_exit_code(Some(&Reason::Exited(ExitStatus::Exited(3))), None),
            3
        );
        assert_eq!(
            critical_exit_code(Some(&Reason::Exited(signaled)), None),
            137
        );
        let gave_up = Reason::GaveUp {
            starts: 3,
            last: ExitStatus::Exited(0),
        };
        assert_eq!(critical_exit_code(Some(&gave_up), None), 1);
        let exec = Reason::SpawnFailed(failure(SpawnStage::Exec, libc::ENOENT));
        assert_eq!(critical_exit_code(Some(&exec), None), 127);
        let dep = Reason::DependencyFailed("db".into());
        assert_eq!(critical_exit_code(Some(&dep), None), 1);
    }
}
