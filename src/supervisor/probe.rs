//! Readiness probes in the core (SPEC §3 *Probes*, "Probe timing"): the
//! probe phase a `starting` service is in, and the ids that tell a probe's
//! result from a stale one. The service's `step` decides when one runs;
//! `Supervisor::commit` stops one its state change left behind.

use std::time::Instant;

/// One run of a probe; a result for any other id than the running one is
/// stale (its probe was stopped) and ignored.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub(crate) struct ProbeId(pub u64);

/// Where a `starting` service with a `ready-probe` is in its probing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ProbePhase {
    /// No probe: none configured, or not yet exec'd (a forking service:
    /// not before its pid file named the daemon).
    Idle,
    /// The next probe starts at `at`.
    NextAt(Instant),
    /// Probe `id` runs; not ended by `until` (its timeout), it has failed.
    Running { id: ProbeId, until: Instant },
}

impl ProbePhase {
    /// When this phase needs the service looked at again.
    pub(crate) fn due(self) -> Option<Instant> {
        match self {
            ProbePhase::Idle => None,
            ProbePhase::NextAt(at) => Some(at),
            ProbePhase::Running { until, .. } => Some(until),
        }
    }

    pub(crate) fn running(self) -> Option<ProbeId> {
        match self {
            ProbePhase::Running { id, .. } => Some(id),
            ProbePhase::Idle | ProbePhase::NextAt(_) => None,
        }
    }
}

/// `health`'s verdict on a service (SPEC §3 "Health state").
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum HealthState {
    /// From each (re)start until the first counted result.
    Starting,
    Healthy,
    Unhealthy,
}

impl HealthState {
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            HealthState::Starting => "starting",
            HealthState::Healthy => "healthy",
            HealthState::Unhealthy => "unhealthy",
        }
    }
}

/// The last health probe's result.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct HealthResult {
    pub(crate) at: Instant,
    pub(crate) ok: bool,
    /// What it saw: exit status, timeout, connect error.
    pub(crate) detail: String,
}

/// The health of a service with a `health` block, as status shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct HealthStatus {
    pub(crate) state: HealthState,
    /// Counted failures in a row.
    pub(crate) failures: u32,
    pub(crate) last: Option<HealthResult>,
}

impl HealthStatus {
    pub(crate) fn starting() -> HealthStatus {
        HealthStatus {
            state: HealthState::Starting,
            failures: 0,
            last: None,
        }
    }
}
