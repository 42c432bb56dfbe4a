//! The main command (`svinit -- COMMAND`, the tini/dumb-init job) as the
//! supervisor sees it: when it may start (boot settled), what a signal to
//! svinit does to it, how long it gets to stop at shutdown, and which exit
//! status svinit ends with (its own, a critical service's, 126/127 when it
//! could not be started). Its state changes in one place, `step`, one
//! exhaustive `match (state, input)` in the style of `Service::step`; the
//! supervisor commits the state it returns and holds its deadline
//! (`Supervisor::step_main`).
//!
//! Decisions where SPEC.md is silent:
//! - Main command: it starts when every service the boot wants (the
//!   autostart ones and what they require or want) has had its first try
//!   (SPEC §2): it has been up, done, failed or in backoff (the flag
//!   `first_try_ended` stays), or is stopped, or is `waiting` (for one
//!   still in its first try, which holds the boot by itself, or for one
//!   whose first try ended without it being ready: its own cannot come).
//!   So a never-ready sidecar holds it one `start-timeout`, `forever` or
//!   not, and a `critical` one that gives up later still ends svinit.
//!   `--detach` returns at the same moment (`Action::BootSettled`). The
//!   main command's exit starts the shutdown with its status (128+N for a
//!   signal). A shutdown it did not cause (critical,
//!   `svctl`) sends it SIGTERM first and holds every unit's stop until it is
//!   gone; SIGKILL to its group after `shutdown-timeout`, else 10 s. The
//!   first cause of a shutdown sets the exit status. Before it starts,
//!   SIGTERM/SIGINT shut down with 128+N; other signals are dropped.

use std::collections::VecDeque;
use std::time::{Duration, Instant};

use super::escalation::{Escalation, UNKILLABLE_AFTER};
use super::service::continue_after;
use super::{Action, ExitStatus, Notice, Reason, SpawnFailure, SpawnStage, Supervisor, TimerOwner};

/// How long the main command gets between the shutdown's SIGTERM and the
/// SIGKILL to its group, when the config sets no `shutdown-timeout`
/// (the default `stop-timeout` of a service).
pub(crate) const MAIN_STOP_TIMEOUT: Duration = Duration::from_secs(10);

#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum MainCommand {
    /// No `-- COMMAND`: svinit supervises its units until told to stop.
    Absent,
    /// Waiting for every autostart service to be up, done or failed.
    WaitingForBoot,
    /// `Action::StartMain` emitted, no pid yet.
    Starting,
    Running {
        pid: i32,
    },
    /// Signalled by a shutdown it did not cause: SIGKILL to its group, then
    /// given up on as unkillable, as `escalation` says when.
    Stopping {
        pid: i32,
        escalation: Escalation,
    },
    /// Exited (or never started); svinit is shutting down.
    Finished,
}

/// What happens to the main command.
#[derive(Debug)]
pub(crate) enum MainInput<'a> {
    /// svinit was started with one (before the boot).
    Given,
    /// Every service the boot wants has had its first try, and no
    /// shutdown began: it may start.
    BootSettled,
    /// Forked as this pid.
    Spawned(i32),
    /// Could not be started (fork or exec).
    SpawnFailed(&'a SpawnFailure),
    /// Its process ended.
    Exited(ExitStatus),
    /// A signal svinit received, every one but SIGCHLD and SIGPIPE.
    Signal(i32),
    /// A shutdown it did not cause began: SIGTERM now, SIGKILL after this.
    Stop(Duration),
    /// The shutdown's deadline passed: SIGKILL now.
    KillNow,
    /// Its deadline passed.
    Deadline,
    /// A `critical` service ended before it started: it never will.
    Abandon,
}

impl MainInput<'_> {
    fn name(&self) -> &'static str {
        match self {
            MainInput::Given => "given",
            MainInput::BootSettled => "boot settled",
            MainInput::Spawned(_) => "spawned",
            MainInput::SpawnFailed(_) => "spawn failure",
            MainInput::Exited(_) => "exit",
            MainInput::Signal(_) => "signal",
            MainInput::Stop(_) => "stop",
            MainInput::KillNow => "kill",
            MainInput::Deadline => "deadline",
            MainInput::Abandon => "abandon",
        }
    }
}

/// Where a step puts what it does.
pub(crate) struct MainOutbox<'a> {
    pub(crate) actions: &'a mut VecDeque<Action>,
    /// svinit shuts down with this exit status.
    pub(crate) shutdown: Option<i32>,
}

impl MainOutbox<'_> {
    /// `signal` to the command's group, and SIGCONT after a SIGTERM (a
    /// forwarded one or the shutdown's) that a stopped command would leave
    /// pending. Never to pid 0 or 1.
    fn signal_group(&mut self, pid: i32, signal: i32) {
        if pid <= 1 {
            return;
        }
        let cont = (signal == libc::SIGTERM)
            .then(|| continue_after(signal))
            .flatten();
        for signal in std::iter::once(signal).chain(cont) {
            self.actions.push_back(Action::Signal {
                pid,
                signal,
                group: true,
            });
        }
    }

    fn notice(&mut self, notice: Notice) {
        self.actions.push_back(Action::Notice(notice));
    }
}

impl MainCommand {
    pub(crate) fn pid(&self) -> Option<i32> {
        match self {
            MainCommand::Running { pid } | MainCommand::Stopping { pid, .. } => Some(*pid),
            _ => None,
        }
    }

    /// Its process exists or is being created: units keep running.
    pub(crate) fn has_process(&self) -> bool {
        matches!(
            self,
            MainCommand::Starting | MainCommand::Running { .. } | MainCommand::Stopping { .. }
        )
    }

    pub(crate) fn deadline(&self) -> Option<Instant> {
        match self {
            MainCommand::Stopping { escalation, .. } => Some(escalation.deadline()),
            _ => None,
        }
    }

    fn name(&self) -> &'static str {
        match self {
            MainCommand::Absent => "absent",
            MainCommand::WaitingForBoot => "waiting for the boot",
            MainCommand::Starting => "starting",
            MainCommand::Running { .. } => "running",
            MainCommand::Stopping { .. } => "stopping",
            MainCommand::Finished => "finished",
        }
    }

    /// The next state after `input`, or `None` to stay; actions go to
    /// `out`. An event from outside that does not fit is logged (debug).
    pub(crate) fn step(
        &self,
        now: Instant,
        input: MainInput<'_>,
        out: &mut MainOutbox<'_>,
    ) -> Option<MainCommand> {
        use MainCommand::*;
        use MainInput::*;
        let input_name = input.name();
        match (self, input) {
            (Absent, Given) => Some(WaitingForBoot),
            (_, Given) => None,

            (WaitingForBoot, BootSettled) => {
                out.actions.push_back(Action::StartMain);
                Some(Starting)
            }
            (_, BootSettled) => None,

            (Starting, Spawned(pid)) if pid > 1 => Some(Running { pid }),
            // Reported before `Spawned` (fork failed) or after (the child
            // reported a failed exec and was reaped).
            (Starting | Running { .. }, SpawnFailed(failure)) => {
                out.shutdown = Some(spawn_failure_code(failure));
                Some(Finished)
            }
            (Running { .. } | Stopping { .. }, Exited(status)) => {
                out.shutdown = Some(status.as_shell_code());
                Some(Finished)
            }
            (
                Absent | WaitingForBoot | Starting | Running { .. } | Stopping { .. } | Finished,
                Spawned(_) | SpawnFailed(_) | Exited(_),
            ) => {
                out.notice(Notice::MainIgnored {
                    event: input_name,
                    state: self.name(),
                });
                None
            }

            (&Running { pid } | &Stopping { pid, .. }, Signal(signal)) => {
                out.notice(Notice::SignalForwarded { signal, pid });
                out.signal_group(pid, signal);
                None
            }
            // Before it started, TERM and INT stop svinit as if the
            // command had been killed by them.
            (WaitingForBoot | Starting, Signal(signal))
                if signal == libc::SIGTERM || signal == libc::SIGINT =>
            {
                out.notice(Notice::ShutdownBySignal {
                    signal,
                    before_main: true,
                });
                out.shutdown = Some(128 + signal);
                Some(Finished)
            }
            (Absent | WaitingForBoot | Starting | Finished, Signal(signal)) => {
                out.notice(Notice::SignalDropped { signal });
                None
            }

            (&Running { pid }, Stop(timeout)) => {
                out.signal_group(pid, libc::SIGTERM);
                Some(Stopping {
                    pid,
                    escalation: Escalation::KillAt(now + timeout),
                })
            }
            (Absent | WaitingForBoot | Starting | Stopping { .. } | Finished, Stop(_)) => None,

            (
                &Running { pid }
                | &Stopping {
                    pid,
                    escalation: Escalation::KillAt(_),
                },
                KillNow,
            ) => Some(kill(now, pid, out)),
            (
                &Stopping {
                    pid,
                    escalation: Escalation::KillAt(at),
                },
                Deadline,
            ) if at <= now => Some(kill(now, pid, out)),
            (
                &Stopping {
                    pid,
                    escalation: Escalation::GiveUpAt(at),
                },
                Deadline,
            ) if at <= now => {
                // Still there after SIGKILL: the shutdown goes on.
                out.actions.push_back(Action::MainUnkillable {
                    pid,
                    after: UNKILLABLE_AFTER,
                });
                Some(Finished)
            }
            // Already killed: its unkillable deadline stands.
            (
                Absent | WaitingForBoot | Starting | Running { .. } | Stopping { .. } | Finished,
                KillNow | Deadline,
            ) => None,

            (WaitingForBoot | Starting, Abandon) => Some(Finished),
            (Absent | Running { .. } | Stopping { .. } | Finished, Abandon) => None,
        }
    }
}

/// SIGKILL to its group; given up on as unkillable if it is still there
/// `UNKILLABLE_AFTER` later.
fn kill(now: Instant, pid: i32, out: &mut MainOutbox<'_>) -> MainCommand {
    out.signal_group(pid, libc::SIGKILL);
    MainCommand::Stopping {
        pid,
        escalation: Escalation::killed(now),
    }
}

/// svinit's exit status when a command could not be started, as a shell
/// (and tini) says it: 127 when the program is not found, 126 when it was
/// found but cannot be executed, 1 for a failed step before exec.
pub(crate) fn spawn_failure_code(failure: &SpawnFailure) -> i32 {
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
pub(crate) fn critical_exit_code(failed: Option<&Reason>, last_exit: Option<ExitStatus>) -> i32 {
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

impl Supervisor {
    /// Feed `input` to the main command and commit the state it returns:
    /// its deadline, the shutdown it asks for, and the units it held up at
    /// shutdown, which may stop once it has no process.
    pub(super) fn step_main(&mut self, now: Instant, input: MainInput<'_>) {
        let mut out = MainOutbox {
            actions: &mut self.actions,
            shutdown: None,
        };
        let next = self.main.step(now, input, &mut out);
        let shutdown = out.shutdown;
        let Some(next) = next else {
            return;
        };
        let released = self.main.has_process() && !next.has_process();
        let old = std::mem::replace(&mut self.main, next);
        self.deadlines
            .change(TimerOwner::Main, old.deadline(), self.main.deadline());
        if let Some(exit_code) = shutdown {
            self.begin_shutdown(exit_code, now);
        }
        if released {
            for id in self.order.clone() {
                self.work.push(id);
            }
        }
    }

    /// Between the main command's SIGTERM and its SIGKILL: the
    /// `shutdown-timeout`, else `MAIN_STOP_TIMEOUT`.
    pub(super) fn main_stop_timeout(&self) -> std::time::Duration {
        self.config.shutdown_timeout.unwrap_or(MAIN_STOP_TIMEOUT)
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

    /// `step` on a fresh outbox: the next state, the actions, the exit
    /// status it shuts svinit down with.
    fn step(
        main: &MainCommand,
        now: Instant,
        input: MainInput<'_>,
    ) -> (Option<MainCommand>, Vec<Action>, Option<i32>) {
        let mut actions = VecDeque::new();
        let mut out = MainOutbox {
            actions: &mut actions,
            shutdown: None,
        };
        let next = main.step(now, input, &mut out);
        let shutdown = out.shutdown;
        (next, actions.into(), shutdown)
    }

    fn signals(actions: &[Action]) -> Vec<(i32, i32)> {
        actions
            .iter()
            .filter_map(|action| match action {
                Action::Signal { pid, signal, group } => {
                    assert!(group, "always its group");
                    Some((*pid, *signal))
                }
                _ => None,
            })
            .collect()
    }

    #[test]
    fn signals_before_the_start_stop_svinit_only_for_term_and_int() {
        let now = Instant::now();
        for main in [MainCommand::WaitingForBoot, MainCommand::Starting] {
            let (next, _, shutdown) = step(&main, now, MainInput::Signal(libc::SIGTERM));
            assert_eq!((next, shutdown), (Some(MainCommand::Finished), Some(143)));
            let (_, _, shutdown) = step(&main, now, MainInput::Signal(libc::SIGINT));
            assert_eq!(shutdown, Some(130));
            let (next, actions, shutdown) = step(&main, now, MainInput::Signal(libc::SIGHUP));
            assert_eq!((next, shutdown), (None, None));
            assert_eq!(
                actions,
                vec![Action::Notice(Notice::SignalDropped {
                    signal: libc::SIGHUP
                })]
            );
        }
        let running = MainCommand::Running { pid: 7 };
        for signal in [libc::SIGHUP, libc::SIGWINCH, libc::SIGTSTP, libc::SIGCONT] {
            let (next, actions, shutdown) = step(&running, now, MainInput::Signal(signal));
            assert_eq!((next, shutdown), (None, None));
            assert_eq!(signals(&actions), vec![(7, signal)]);
        }
        let (_, actions, _) = step(&running, now, MainInput::Signal(libc::SIGTERM));
        assert_eq!(
            signals(&actions),
            vec![(7, libc::SIGTERM), (7, libc::SIGCONT)]
        );
        let (next, actions, _) = step(&MainCommand::Finished, now, MainInput::Signal(15));
        assert_eq!((next, signals(&actions)), (None, Vec::new()));
    }

    #[test]
    fn a_stop_escalates_to_sigkill_then_gives_up() {
        let t0 = Instant::now();
        let timeout = Duration::from_secs(10);
        let running = MainCommand::Running { pid: 7 };
        let (stopping, actions, _) = step(&running, t0, MainInput::Stop(timeout));
        let stopping = stopping.expect("stops");
        assert_eq!(
            signals(&actions),
            vec![(7, libc::SIGTERM), (7, libc::SIGCONT)]
        );
        assert_eq!(stopping.deadline(), Some(t0 + timeout));
        let early = t0 + timeout - Duration::from_millis(1);
        assert_eq!(step(&stopping, early, MainInput::Deadline).0, None);
        let at = t0 + timeout;
        let (killed, actions, _) = step(&stopping, at, MainInput::Deadline);
        let killed = killed.expect("killed");
        assert_eq!(signals(&actions), vec![(7, libc::SIGKILL)]);
        assert_eq!(killed.deadline(), Some(at + UNKILLABLE_AFTER));
        assert_eq!(step(&killed, at, MainInput::KillNow).0, None, "once");
        let (gone, actions, shutdown) = step(&killed, at + UNKILLABLE_AFTER, MainInput::Deadline);
        assert_eq!(gone, Some(MainCommand::Finished));
        assert_eq!(shutdown, None, "the shutdown is already under way");
        assert_eq!(
            actions,
            vec![Action::MainUnkillable {
                pid: 7,
                after: UNKILLABLE_AFTER
            }]
        );
    }

    #[test]
    fn its_exit_or_failed_start_is_svinits_status_and_strays_are_said() {
        let now = Instant::now();
        let running = MainCommand::Running { pid: 7 };
        let killed = ExitStatus::Signaled {
            signal: 9,
            core: false,
        };
        let (next, _, shutdown) = step(&running, now, MainInput::Exited(killed));
        assert_eq!((next, shutdown), (Some(MainCommand::Finished), Some(137)));
        let missing = failure(SpawnStage::Exec, libc::ENOENT);
        let (_, _, shutdown) = step(
            &MainCommand::Starting,
            now,
            MainInput::SpawnFailed(&missing),
        );
        assert_eq!(shutdown, Some(127));
        let (next, actions, shutdown) = step(&MainCommand::Finished, now, MainInput::Spawned(9));
        assert_eq!((next, shutdown), (None, None));
        assert_eq!(
            actions,
            vec![Action::Notice(Notice::MainIgnored {
                event: "spawned",
                state: "finished"
            })]
        );
        let (next, ..) = step(&MainCommand::Starting, now, MainInput::Spawned(1));
        assert_eq!(next, None, "never pid 1");
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
