//! Where a stop stands between its first signal and giving up: SIGKILL to
//! the process group at the first deadline, then, if the process is still
//! there `UNKILLABLE_AFTER` later, given up on as unkillable (SPEC §7
//! "Bounded shutdown"). One value says both the deadline and what happens
//! at it, for a service's stop and the main command's alike.

use std::time::{Duration, Instant};

/// A process still there this long after SIGKILL (uninterruptible sleep:
/// a hung disk or NFS server, a frozen cgroup) is given up on as
/// unkillable: its service counts as down and stops and shutdowns go on.
pub(crate) const UNKILLABLE_AFTER: Duration = Duration::from_secs(5);

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Escalation {
    /// Signalled (its stop signal, or TERM); SIGKILL at this time.
    KillAt(Instant),
    /// SIGKILLed; given up on as unkillable at this time.
    GiveUpAt(Instant),
}

impl Escalation {
    /// SIGKILL sent `now`: given up on `UNKILLABLE_AFTER` later.
    pub(crate) fn killed(now: Instant) -> Escalation {
        Escalation::GiveUpAt(now + UNKILLABLE_AFTER)
    }

    pub(crate) fn is_killed(self) -> bool {
        matches!(self, Escalation::GiveUpAt(_))
    }

    pub(crate) fn deadline(self) -> Instant {
        match self {
            Escalation::KillAt(at) | Escalation::GiveUpAt(at) => at,
        }
    }
}
