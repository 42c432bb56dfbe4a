//! Every deadline the supervisor holds, earliest first: one per service at
//! most, its state's (`State::deadline`: start-timeout, stop-timeout then
//! the wait for an unkillable process, backoff, watchdog, the next pid-file
//! read), the main command's stop (SIGKILL, then giving up on it), and the
//! shutdown's current phase. Kept exact (an entry is moved or removed when
//! its state changes), so that `poll_timeout` is a lookup and never wakes
//! the loop for nothing.

use std::collections::BTreeSet;
use std::time::Instant;

use super::ServiceId;

/// Who a deadline belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) enum TimerOwner {
    Shutdown,
    /// The main command's stop: SIGKILL to its group, then giving up on it.
    Main,
    Service(ServiceId),
}

#[derive(Debug, Default)]
pub(crate) struct Deadlines {
    entries: BTreeSet<(Instant, TimerOwner)>,
}

impl Deadlines {
    /// `owner`'s deadline was `old` and is now `new`.
    pub(crate) fn change(&mut self, owner: TimerOwner, old: Option<Instant>, new: Option<Instant>) {
        if old == new {
            return;
        }
        if let Some(at) = old {
            self.entries.remove(&(at, owner));
        }
        if let Some(at) = new {
            self.entries.insert((at, owner));
        }
    }

    pub(crate) fn earliest(&self) -> Option<Instant> {
        self.entries.first().map(|&(at, _)| at)
    }

    /// Every entry due at `now`, earliest first.
    pub(crate) fn due(&self, now: Instant) -> Vec<(Instant, TimerOwner)> {
        self.entries
            .iter()
            .take_while(|&&(at, _)| at <= now)
            .copied()
            .collect()
    }

    pub(crate) fn contains(&self, at: Instant, owner: TimerOwner) -> bool {
        self.entries.contains(&(at, owner))
    }

    #[cfg(test)]
    pub(crate) fn len(&self) -> usize {
        self.entries.len()
    }
}
