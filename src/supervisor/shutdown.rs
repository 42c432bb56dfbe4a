//! The phases of an orderly shutdown once the services are told to stop:
//! the global deadline, then the orphan sweep (TERM, KILL 5 s later), then
//! the exit. Pure: the supervisor calls it and keeps its deadline.

use std::time::{Duration, Instant};

use super::Action;

/// How long adopted orphans get between the TERM and the KILL sweep.
pub(crate) const TERM_GRACE: Duration = Duration::from_secs(5);
/// How long after the KILL sweep svinit exits even if children remain.
pub(crate) const KILL_GRACE: Duration = Duration::from_secs(1);

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ShutdownPhase {
    /// Services stop in reverse order; at the deadline everything left is
    /// SIGKILLed.
    StoppingServices,
    /// Every service is down; orphans got SIGTERM.
    TermSent,
    /// Orphans got SIGKILL.
    KillSent,
    /// `Action::Exit` was emitted.
    Finished,
}

/// What the shutdown asks the supervisor to do next.
#[derive(Debug, PartialEq)]
pub(crate) enum ShutdownStep {
    /// SIGKILL every remaining service process group.
    KillServices,
    Act(Action),
    Nothing,
}

#[derive(Debug, Clone)]
pub(crate) struct Shutdown {
    pub(crate) exit_code: i32,
    pub(crate) phase: ShutdownPhase,
    /// The deadline of the current phase.
    pub(crate) deadline: Option<Instant>,
}

impl Shutdown {
    pub(crate) fn new(exit_code: i32, now: Instant, timeout: Option<Duration>) -> Shutdown {
        Shutdown {
            exit_code,
            phase: ShutdownPhase::StoppingServices,
            deadline: timeout.map(|t| now + t),
        }
    }

    /// No service process is left.
    pub(crate) fn services_down(&mut self, now: Instant) -> Option<Action> {
        if self.phase != ShutdownPhase::StoppingServices {
            return None;
        }
        self.phase = ShutdownPhase::TermSent;
        self.deadline = Some(now + TERM_GRACE);
        Some(Action::SweepOrphans {
            signal: libc::SIGTERM,
            log_survivors: false,
        })
    }

    pub(crate) fn deadline_passed(&mut self, now: Instant) -> ShutdownStep {
        match self.phase {
            ShutdownPhase::StoppingServices => {
                self.deadline = None;
                ShutdownStep::KillServices
            }
            ShutdownPhase::TermSent => {
                self.phase = ShutdownPhase::KillSent;
                self.deadline = Some(now + KILL_GRACE);
                ShutdownStep::Act(Action::SweepOrphans {
                    signal: libc::SIGKILL,
                    log_survivors: true,
                })
            }
            ShutdownPhase::KillSent => self.finish(),
            ShutdownPhase::Finished => ShutdownStep::Nothing,
        }
    }

    /// svinit has no children left.
    pub(crate) fn no_children(&mut self) -> ShutdownStep {
        match self.phase {
            ShutdownPhase::TermSent | ShutdownPhase::KillSent => self.finish(),
            ShutdownPhase::StoppingServices | ShutdownPhase::Finished => ShutdownStep::Nothing,
        }
    }

    fn finish(&mut self) -> ShutdownStep {
        self.phase = ShutdownPhase::Finished;
        self.deadline = None;
        ShutdownStep::Act(Action::Exit {
            code: self.exit_code,
        })
    }
}
