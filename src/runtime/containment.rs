//! Panic containment (SPEC.md §7 "A panic is contained"), in every mode:
//! a bug must not take PID 1, and with it the container or the machine,
//! down.
//!
//! Decisions:
//! - The boot steps (config load, the loop's set-up, the first spawns)
//!   run under [`contain`], which tries a step that panics again a few
//!   times and then gives up on it, as on an error.
//! - A panic in the loop abandons the rest of that turn (the hook,
//!   `crate::console::install_panic_hook`, has logged it). Its batch of
//!   readiness events is gone, and they are edge-triggered: they do not
//!   come again. So the loop then looks at every event source once
//!   ([`Runtime::look_at_every_source`]): children reaped, the signalfd
//!   drained, every output pipe, ready pipe, exec-status pipe, control
//!   client and the notify socket read, svinit's stdout and stderr written.
//! - A panic that repeats (the look itself, or a deadline whose handling
//!   panics, would otherwise make a busy loop) is rate-limited without a
//!   sleep: the first [`FREE_LOOKS`] looks in quick succession come at
//!   once, the next ones after a delay that doubles up to [`MAX_DELAY`];
//!   meanwhile the loop waits in its poll for events (served as usual) but
//!   not for its deadlines. [`CALM`] without a panic forgives the past ones.

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::time::{Duration, Instant};

use mio::Token;

use super::Runtime;
use super::tokens::Source;
use crate::error;
use crate::supervisor::format_duration;

/// How often a boot step that panics is tried.
pub const BOOT_ATTEMPTS: u32 = 3;
/// Panics in quick succession (none [`CALM`] apart) after which the look
/// at every source waits.
const FREE_LOOKS: u32 = 3;
/// The first wait, doubled at each further panic…
const FIRST_DELAY: Duration = Duration::from_millis(10);
/// …up to this.
const MAX_DELAY: Duration = Duration::from_secs(1);
/// A panic this long after the last one counts as the first.
const CALM: Duration = Duration::from_secs(10);

/// Runs `step`, again when it panics, at most `attempts` times; `None`
/// when every attempt panicked.
pub fn contain<T>(attempts: u32, what: &str, mut step: impl FnMut() -> T) -> Option<T> {
    for attempt in 1..=attempts {
        match catch_unwind(AssertUnwindSafe(&mut step)) {
            Ok(value) => return Some(value),
            Err(_) if attempt < attempts => {
                error!(
                    "",
                    "{what} was interrupted by an internal error; trying again"
                )
            }
            Err(_) => error!(
                "",
                "{what} was interrupted by an internal error {attempts} times; giving up on it"
            ),
        }
    }
    None
}

/// When the loop looks at every source again after a panic.
#[derive(Debug, Default)]
pub(super) struct PanicBrake {
    /// Panics since the last calm period.
    recent: u32,
    last: Option<Instant>,
    look_at: Option<Instant>,
}

impl PanicBrake {
    /// A loop turn panicked at `now`: schedules the look.
    pub(super) fn panicked(&mut self, now: Instant) {
        if self
            .last
            .is_some_and(|last| now.duration_since(last) >= CALM)
        {
            self.recent = 0;
        }
        self.recent = self.recent.saturating_add(1);
        self.last = Some(now);
        let delay = match self.recent.checked_sub(FREE_LOOKS + 1) {
            None => Duration::ZERO,
            Some(doublings) => FIRST_DELAY
                .saturating_mul(1 << doublings.min(16))
                .min(MAX_DELAY),
        };
        self.look_at = Some(now + delay);
        if delay.is_zero() {
            error!(
                "",
                "loop turn abandoned after an internal error; looking at every event source again"
            );
        } else {
            error!(
                "",
                "loop turn abandoned after an internal error (the {} in quick succession); looking at every event source again in {}",
                ordinal(self.recent),
                format_duration(delay)
            );
        }
    }

    /// The poll's timeout: until the look when one is pending (deadlines
    /// wait for it), else `until_deadline`.
    pub(super) fn timeout(&self, until_deadline: Option<Duration>) -> Option<Duration> {
        match self.look_at {
            Some(at) => Some(at.saturating_duration_since(Instant::now())),
            None => until_deadline,
        }
    }

    /// Whether the look is due now (then it is no longer pending).
    pub(super) fn look_due(&mut self, now: Instant) -> bool {
        if self.look_at.is_some_and(|at| at <= now) {
            self.look_at = None;
            return true;
        }
        false
    }
}

fn ordinal(n: u32) -> String {
    let suffix = match (n % 10, n % 100) {
        (_, 11..=13) => "th",
        (1, _) => "st",
        (2, _) => "nd",
        (3, _) => "rd",
        _ => "th",
    };
    format!("{n}{suffix}")
}

impl Runtime {
    /// After a panic: every source whose readiness event may have been
    /// dropped with the rest of the batch is looked at once.
    pub(super) fn look_at_every_source(&mut self) {
        let now = Instant::now();
        // Consumed first: a SIGCHLD left pending would wake nobody again.
        self.exits.consume();
        self.reap_all();
        self.on_signals();
        self.output.read_every_pipe();
        for slot in self.readiness.pipe_slots() {
            self.on_ready_pipe(slot);
        }
        for slot in self.readiness.notify_slots() {
            self.on_notify(slot);
        }
        for slot in self.exec_watches.occupied() {
            self.on_exec_status(slot);
        }
        if let Some(control) = self.control.as_mut() {
            control.abandon_requests_in_progress(now);
            let clients = (0..super::control::MAX_CLIENTS).map(Source::ControlClient);
            for source in std::iter::once(Source::ControlListener).chain(clients) {
                let token: Token = source.token();
                control.handle(token);
            }
        }
        crate::console::look_again();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn delay_after(brake: &mut PanicBrake, now: Instant) -> Duration {
        brake.panicked(now);
        brake.look_at.expect("a look is pending") - now
    }

    #[test]
    fn looks_come_at_once_then_ever_later_up_to_a_cap() {
        let mut brake = PanicBrake::default();
        let now = Instant::now();
        let delays: Vec<u128> = (0..12)
            .map(|_| delay_after(&mut brake, now).as_millis())
            .collect();
        assert_eq!(delays, [0, 0, 0, 10, 20, 40, 80, 160, 320, 640, 1000, 1000]);
    }

    #[test]
    fn a_calm_period_forgives_past_panics() {
        let mut brake = PanicBrake::default();
        let start = Instant::now();
        for _ in 0..6 {
            brake.panicked(start);
        }
        assert!(!delay_after(&mut brake, start).is_zero());
        assert!(delay_after(&mut brake, start + CALM + CALM).is_zero());
    }

    #[test]
    fn a_pending_look_bounds_the_poll_and_is_due_once() {
        let mut brake = PanicBrake::default();
        let forever = None;
        assert_eq!(brake.timeout(forever), None);
        let now = Instant::now();
        brake.panicked(now);
        assert_eq!(brake.timeout(forever), Some(Duration::ZERO));
        assert!(brake.look_due(now));
        assert!(!brake.look_due(now));
        assert_eq!(brake.timeout(forever), None);
    }

    #[test]
    fn a_step_that_panics_is_tried_again_then_given_up() {
        let mut tries = 0;
        let value = contain(3, "a test step", || {
            tries += 1;
            assert!(tries >= 2, "first try fails");
            tries
        });
        assert_eq!(value, Some(2));
        let mut tries = 0;
        let value: Option<()> = contain(3, "a test step", || {
            tries += 1;
            panic!("always")
        });
        assert_eq!((value, tries), (None, 3));
    }

    #[test]
    fn ordinals() {
        let got: Vec<String> = [1, 2, 3, 4, 11, 12, 13, 21, 22, 112].map(ordinal).to_vec();
        assert_eq!(
            got,
            [
                "1st", "2nd", "3rd", "4th", "11th", "12th", "13th", "21st", "22nd", "112th"
            ]
        );
    }
}
