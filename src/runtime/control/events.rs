//! The bounded ring of recent state changes behind `svctl events --since`:
//! each change gets the next sequence number, the oldest fall off, and a
//! monitor that reconnects replays what it missed (or learns how many it
//! can no longer get).

use std::collections::VecDeque;

use crate::control::{
    EventKind, EventRecord, EventState, EventsReport, ExitJson, WallClock, reason_code_text,
    reason_text, round_unix_millis,
};
use crate::supervisor::{HealthState, Transition};

/// Events kept for replay.
pub(crate) const EVENT_RING_CAPACITY: usize = 1024;

pub(crate) struct EventRing {
    events: VecDeque<EventRecord>,
    capacity: usize,
    next_seq: u64,
}

impl EventRing {
    pub(crate) fn new(capacity: usize) -> EventRing {
        EventRing {
            events: VecDeque::with_capacity(capacity.min(EVENT_RING_CAPACITY)),
            capacity: capacity.max(1),
            next_seq: 1,
        }
    }

    /// Records `transition` at the wall-clock time of `clock` and returns
    /// the stored event, numbered.
    pub(crate) fn record(&mut self, transition: &Transition, clock: &WallClock) -> &EventRecord {
        let event = EventRecord {
            seq: self.next_seq,
            time: round_unix_millis(clock.unix_seconds(clock.instant)),
            kind: EventKind::State,
            name: transition.name.clone(),
            from: EventState::Service(transition.from.into()),
            to: EventState::Service(transition.to.into()),
            pid: transition.pid,
            exit: transition.exit.map(ExitJson::from),
            reason: reason_text(transition.reason.as_ref()),
            reason_code: reason_code_text(transition.reason.as_ref()),
        };
        self.push(event)
    }

    /// Records a change of `name`'s health state (an event of kind
    /// `health`).
    pub(crate) fn record_health(
        &mut self,
        name: &str,
        from: HealthState,
        to: HealthState,
        clock: &WallClock,
    ) -> &EventRecord {
        let event = EventRecord {
            seq: self.next_seq,
            time: round_unix_millis(clock.unix_seconds(clock.instant)),
            kind: EventKind::Health,
            name: name.to_owned(),
            from: EventState::Health(from.into()),
            to: EventState::Health(to.into()),
            pid: None,
            exit: None,
            reason: None,
            reason_code: None,
        };
        self.push(event)
    }

    /// Stores `event` under the next sequence number (its own `seq` is
    /// replaced).
    pub(crate) fn push(&mut self, mut event: EventRecord) -> &EventRecord {
        event.seq = self.next_seq;
        self.next_seq += 1;
        if self.events.len() == self.capacity {
            self.events.pop_front();
        }
        self.events.push_back(event);
        // Just pushed: never empty here.
        &self.events[self.events.len() - 1]
    }

    /// The sequence number of the oldest event held, 0 when empty.
    pub(crate) fn oldest(&self) -> u64 {
        self.events.front().map_or(0, |event| event.seq)
    }

    /// What a client asking for the events after `since` gets.
    pub(crate) fn report(&self, since: Option<u64>) -> EventsReport {
        let oldest = self.oldest();
        let first_available = if oldest == 0 { self.next_seq } else { oldest };
        let missed = match since {
            Some(seq) => first_available.saturating_sub(seq.saturating_add(1)),
            None => 0,
        };
        EventsReport {
            oldest,
            next: self.next_seq,
            missed,
        }
    }

    /// The events with a sequence number greater than `since`, oldest first.
    pub(crate) fn after(&self, since: u64) -> impl Iterator<Item = &EventRecord> {
        let oldest = self.oldest();
        let skip = if oldest == 0 || since < oldest {
            0
        } else {
            (since - oldest + 1) as usize
        };
        self.events.iter().skip(skip)
    }

    #[cfg(test)]
    pub(crate) fn len(&self) -> usize {
        self.events.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::control::State;
    use crate::supervisor::{ExitStatus, Reason, ServiceId, StateKind};
    use std::time::{Duration, Instant, UNIX_EPOCH};

    fn transition(name: &str, from: StateKind, to: StateKind) -> Transition {
        Transition {
            service: ServiceId(0),
            name: name.into(),
            from,
            to,
            pid: None,
            exit: None,
            reason: None,
        }
    }

    fn clock() -> WallClock {
        WallClock {
            instant: Instant::now(),
            system: UNIX_EPOCH + Duration::from_millis(1_700_000_000_123),
        }
    }

    #[test]
    fn events_are_numbered_from_one_and_carry_the_transition() {
        let mut ring = EventRing::new(4);
        assert_eq!(ring.report(Some(0)).missed, 0);
        let mut crash = transition("web", StateKind::Up, StateKind::Backoff);
        crash.pid = Some(12);
        crash.exit = Some(ExitStatus::Exited(1));
        crash.reason = Some(Reason::Exited(ExitStatus::Exited(1)));
        let event = ring.record(&crash, &clock()).clone();
        assert_eq!(event.seq, 1);
        assert_eq!(event.time, 1_700_000_000.123);
        assert_eq!(event.kind, crate::control::EventKind::State);
        assert_eq!(event.from, EventState::Service(State::Up));
        assert_eq!(event.to, EventState::Service(State::Backoff));
        assert_eq!(event.pid, Some(12));
        assert_eq!(event.exit, Some(ExitJson::Code { code: 1 }));
        assert_eq!(event.reason.as_deref(), Some("exited with status 1"));
        assert_eq!(event.reason_code.as_deref(), Some("exited"));
    }

    #[test]
    fn the_ring_keeps_the_newest_and_replays_after_a_sequence_number() {
        let mut ring = EventRing::new(3);
        for _ in 0..5 {
            ring.record(&transition("a", StateKind::Down, StateKind::Up), &clock());
        }
        assert_eq!(ring.len(), 3);
        assert_eq!(ring.oldest(), 3);
        let seqs = |since| ring.after(since).map(|e| e.seq).collect::<Vec<_>>();
        assert_eq!(seqs(0), [3, 4, 5]);
        assert_eq!(seqs(3), [4, 5]);
        assert_eq!(seqs(5), Vec::<u64>::new());
        assert_eq!(seqs(99), Vec::<u64>::new());

        let report = ring.report(Some(0));
        assert_eq!((report.oldest, report.next, report.missed), (3, 6, 2));
        assert_eq!(ring.report(Some(2)).missed, 0);
        assert_eq!(ring.report(Some(4)).missed, 0);
        assert_eq!(ring.report(None).missed, 0);
        assert_eq!(ring.report(Some(u64::MAX)).missed, 0);
    }

    #[test]
    fn an_empty_ring_reports_the_next_number() {
        let ring = EventRing::new(EVENT_RING_CAPACITY);
        let report = ring.report(Some(0));
        assert_eq!((report.oldest, report.next, report.missed), (0, 1, 0));
        assert_eq!(ring.after(0).count(), 0);
    }
}
