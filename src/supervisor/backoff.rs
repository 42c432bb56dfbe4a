//! How long a crashed service waits before its next start, and when it is
//! given up on: zdaemon 5's rules (SPEC.md §4), linear or exponential, with
//! the small seeded PRNG that jitters the exponential delays.

use std::time::Duration;

use crate::config::{BackoffKind, ServiceConfig};

/// The restart rules of one service, read from its config.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct BackoffPolicy {
    pub(crate) kind: BackoffKind,
    pub(crate) limit: Duration,
    pub(crate) forever: bool,
}

/// The first delay, and the step of the linear kind.
const STEP: Duration = Duration::from_secs(1);

/// Exponential delays stop doubling here (2^30 s is decades): no overflow.
const MAX_DOUBLINGS: u32 = 30;

impl BackoffPolicy {
    pub(crate) fn of(config: &ServiceConfig) -> BackoffPolicy {
        BackoffPolicy {
            kind: config.backoff,
            limit: config.backoff_limit,
            forever: config.forever,
        }
    }

    /// The wait before the next start after the `crashes`-th crash in a row
    /// (`crashes` ≥ 1), or `None`: give up.
    ///
    /// Without `forever`, give up when the un-jittered delay would reach the
    /// limit; with it, cap the delay at the limit.
    pub(crate) fn delay(&self, crashes: u32, rng: &mut SplitMix64) -> Option<Duration> {
        let crashes = crashes.max(1);
        let base = match self.kind {
            BackoffKind::Linear => STEP.saturating_mul(crashes),
            BackoffKind::Exponential => STEP.saturating_mul(1 << (crashes - 1).min(MAX_DOUBLINGS)),
        };
        if !self.forever && base >= self.limit {
            return None;
        }
        let capped = base.min(self.limit);
        Some(match self.kind {
            BackoffKind::Linear => capped,
            BackoffKind::Exponential => capped.mul_f64(rng.jitter_factor()).min(self.limit),
        })
    }
}

/// SplitMix64 (Steele, Lea, Flood 2014): tiny, fast, deterministic per seed.
#[derive(Debug, Clone)]
pub(crate) struct SplitMix64 {
    state: u64,
}

impl SplitMix64 {
    pub(crate) fn new(seed: u64) -> SplitMix64 {
        SplitMix64 { state: seed }
    }

    pub(crate) fn next_u64(&mut self) -> u64 {
        self.state = self.state.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.state;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in [0, 1).
    pub(crate) fn next_f64(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64
    }

    /// Uniform in [0.9, 1.1): ±10 %.
    pub(crate) fn jitter_factor(&mut self) -> f64 {
        0.9 + 0.2 * self.next_f64()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn policy(kind: BackoffKind, limit: u64, forever: bool) -> BackoffPolicy {
        BackoffPolicy {
            kind,
            limit: Duration::from_secs(limit),
            forever,
        }
    }

    fn delays(policy: BackoffPolicy, crashes: u32) -> Vec<Option<Duration>> {
        let mut rng = SplitMix64::new(7);
        (1..=crashes).map(|n| policy.delay(n, &mut rng)).collect()
    }

    #[test]
    fn linear_gives_up_when_the_delay_would_reach_the_limit() {
        let s = |n| Some(Duration::from_secs(n));
        let got = delays(policy(BackoffKind::Linear, 3, false), 4);
        assert_eq!(got, vec![s(1), s(2), None, None]);
    }

    #[test]
    fn linear_forever_is_capped_at_the_limit() {
        let got = delays(policy(BackoffKind::Linear, 3, true), 5);
        let secs: Vec<u64> = got.iter().map(|d| d.unwrap().as_secs()).collect();
        assert_eq!(secs, vec![1, 2, 3, 3, 3]);
    }

    #[test]
    fn exponential_doubles_with_jitter_and_gives_up_on_the_unjittered_delay() {
        let got = delays(policy(BackoffKind::Exponential, 10, false), 5);
        for (n, delay) in got.iter().take(4).enumerate() {
            let base = (1u64 << n) as f64;
            let secs = delay.unwrap().as_secs_f64();
            assert!(secs >= base * 0.9 && secs < base * 1.1, "{n}: {secs}");
        }
        assert_eq!(got[4], None, "16 s would reach the 10 s limit");
    }

    #[test]
    fn exponential_forever_never_exceeds_the_limit_nor_overflows() {
        let policy = policy(BackoffKind::Exponential, 10, true);
        let mut rng = SplitMix64::new(1);
        for n in [5, 64, u32::MAX] {
            let d = policy.delay(n, &mut rng).unwrap();
            assert!(d <= Duration::from_secs(10) && d >= Duration::from_secs(9));
        }
    }

    #[test]
    fn the_prng_is_deterministic_and_in_range() {
        let mut a = SplitMix64::new(42);
        let mut b = SplitMix64::new(42);
        for _ in 0..1000 {
            let x = a.next_f64();
            assert_eq!(x, b.next_f64());
            assert!((0.0..1.0).contains(&x));
        }
    }
}
