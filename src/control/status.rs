//! The wire form of a service's status (SPEC.md §5, the stable object of
//! `svctl status --json`): states, exits and reasons as the protocol names
//! them, and the conversion of the loop's instants to unix time.

use std::fmt;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use serde::{Deserialize, Serialize};

use crate::supervisor::{
    ExitStatus, HealthState, Reason, ServiceStatus, StateKind, Want, signal_name,
};

/// A service state as named in SPEC.md §4, on the wire.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum State {
    Down,
    Waiting,
    Starting,
    Up,
    Stopping,
    Backoff,
    Failed,
    Done,
}

impl State {
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            State::Down => "down",
            State::Waiting => "waiting",
            State::Starting => "starting",
            State::Up => "up",
            State::Stopping => "stopping",
            State::Backoff => "backoff",
            State::Failed => "failed",
            State::Done => "done",
        }
    }
}

impl From<StateKind> for State {
    fn from(kind: StateKind) -> State {
        match kind {
            StateKind::Down => State::Down,
            StateKind::Waiting => State::Waiting,
            StateKind::Starting => State::Starting,
            StateKind::Up => State::Up,
            StateKind::Stopping => State::Stopping,
            StateKind::Backoff => State::Backoff,
            StateKind::Failed => State::Failed,
            StateKind::Done => State::Done,
        }
    }
}

impl fmt::Display for State {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// `"up"` iff the service's process runs (SPEC.md §5).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Running {
    Up,
    Down,
}

/// How a process ended: `{"code": N}` or
/// `{"signal": N, "name": "TERM", "core": false}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum ExitJson {
    Code {
        code: i32,
    },
    Signal {
        signal: i32,
        name: String,
        core: bool,
    },
}

impl From<ExitStatus> for ExitJson {
    fn from(status: ExitStatus) -> ExitJson {
        match status {
            ExitStatus::Exited(code) => ExitJson::Code { code },
            ExitStatus::Signaled { signal, core } => ExitJson::Signal {
                signal,
                name: signal_name(signal),
                core,
            },
        }
    }
}

impl fmt::Display for ExitJson {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ExitJson::Code { code } => write!(f, "exited with status {code}"),
            ExitJson::Signal { name, core, .. } => {
                write!(f, "killed by signal {name}")?;
                if *core {
                    f.write_str(" (core dumped)")?;
                }
                Ok(())
            }
        }
    }
}

/// A short stable code for a `Reason`, so programs need not parse the text.
pub(crate) fn reason_code(reason: &Reason) -> &'static str {
    match reason {
        Reason::WaitingFor(_) => "waiting-for",
        Reason::DependencyFailed(_) => "dependency-failed",
        Reason::GaveUp { .. } => "gave-up",
        Reason::Exited(_) => "exited",
        Reason::SpawnFailed(_) => "spawn-failed",
        Reason::StartTimeout(_) => "start-timeout",
        Reason::WatchdogTimeout(_) | Reason::WatchdogTriggered => "watchdog-timeout",
        Reason::StopTimeout(_) => "stop-timeout",
        Reason::ShutdownTimeout(_) => "shutdown-timeout",
        Reason::Unkillable { .. } => "unkillable",
        Reason::PidFile { .. } => "pid-file",
        Reason::PidFileNotWritten { .. } => "pid-file-not-written",
        Reason::HealthCheckFailed(_) => "health-check",
    }
}

/// The `reason` field: the reason as text.
pub(crate) fn reason_text(reason: Option<&Reason>) -> Option<String> {
    reason.map(ToString::to_string)
}

/// The `reason_code` field.
pub(crate) fn reason_code_text(reason: Option<&Reason>) -> Option<String> {
    reason.map(|reason| reason_code(reason).to_string())
}

/// One finished run in a service's `history`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct HistoryEntry {
    /// Unix seconds of the exit.
    pub time: i64,
    pub pid: i32,
    pub exit: ExitJson,
}

/// One service in `svctl status --json`: the stable object of SPEC.md §5.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ServiceStatusJson {
    pub name: String,
    pub status: Running,
    pub state: State,
    pub pid: Option<i32>,
    /// Unix seconds when the service entered its current state.
    pub since: i64,
    pub restarts: u32,
    pub exit: Option<ExitJson>,
    pub reason: Option<String>,
    /// `reason` as a short code (`gave-up`, `spawn-failed` …), or null.
    pub reason_code: Option<String>,
    /// Seconds until the next start while in backoff, else null.
    pub next_restart: Option<f64>,
    pub history: Vec<HistoryEntry>,
    /// The config changed on reload; the change applies at the next start.
    pub config_changed: bool,
    /// Whether the service is wanted up or down.
    pub want: Running,
    pub description: Option<String>,
    /// Gone from the config by a reload, still stopping.
    #[serde(default)]
    pub removed: bool,
    /// Why the service's output is not reaching its transcript (cannot
    /// open, disk full), or null. The output is still in the ring buffer.
    #[serde(default)]
    pub output_problem: Option<String>,
    /// Lines of its output that did not reach its transcript since svinit
    /// started (while it could not be opened or written, or a device did
    /// not keep up); they are in the ring buffer.
    #[serde(default)]
    pub output_dropped: u64,
    /// The last `STATUS=` a `ready-notify` service sent, or null.
    #[serde(default)]
    pub status_text: Option<String>,
    /// Seconds since it entered its state, when the reply was made, with
    /// millisecond precision (`since` is whole seconds). Absent from the
    /// replies of older versions.
    #[serde(default)]
    pub age: Option<f64>,
    /// With a `health` block: its health; null without one.
    #[serde(default)]
    pub health: Option<HealthJson>,
}

/// A health state (SPEC §3 "Health state"), on the wire.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum HealthStateJson {
    Starting,
    Healthy,
    Unhealthy,
}

impl From<HealthState> for HealthStateJson {
    fn from(state: HealthState) -> Self {
        match state {
            HealthState::Starting => HealthStateJson::Starting,
            HealthState::Healthy => HealthStateJson::Healthy,
            HealthState::Unhealthy => HealthStateJson::Unhealthy,
        }
    }
}

impl HealthStateJson {
    pub fn as_str(self) -> &'static str {
        match self {
            HealthStateJson::Starting => "starting",
            HealthStateJson::Healthy => "healthy",
            HealthStateJson::Unhealthy => "unhealthy",
        }
    }
}

/// `health` of `status --json`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct HealthJson {
    pub state: HealthStateJson,
    /// Counted failures in a row.
    pub failures: u32,
    /// The last probe's result; null until one ended.
    pub last: Option<HealthLastJson>,
}

/// The last health probe's result.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct HealthLastJson {
    /// Unix seconds, with millisecond precision.
    pub time: f64,
    pub ok: bool,
    /// What it saw: exit status, timeout, connect error.
    pub detail: String,
}

impl ServiceStatusJson {
    /// The wire form of the supervisor's view of one service; `clock`
    /// turns its instants into unix time.
    pub(crate) fn from_status(
        status: &ServiceStatus,
        description: Option<String>,
        clock: &WallClock,
    ) -> ServiceStatusJson {
        ServiceStatusJson {
            name: status.name.clone(),
            status: if status.pid.is_some() {
                Running::Up
            } else {
                Running::Down
            },
            state: status.state.into(),
            pid: status.pid,
            since: clock.unix_secs(status.since),
            restarts: status.restarts,
            exit: status.last_exit.map(ExitJson::from),
            reason: reason_text(status.reason.as_ref()),
            reason_code: reason_code_text(status.reason.as_ref()),
            next_restart: status.next_restart.map(|at| clock.seconds_until(at)),
            history: status
                .history
                .iter()
                .map(|record| HistoryEntry {
                    time: clock.unix_secs(record.at),
                    pid: record.pid,
                    exit: record.status.into(),
                })
                .collect(),
            config_changed: status.config_changed,
            want: match status.want {
                Want::Up => Running::Up,
                Want::Down => Running::Down,
            },
            description,
            removed: status.removed,
            output_problem: None,
            output_dropped: 0,
            status_text: status.status_text.clone(),
            age: Some(round_millis(
                clock.instant.saturating_duration_since(status.since),
            )),
            health: status.health.as_ref().map(|health| HealthJson {
                state: health.state.into(),
                failures: health.failures,
                last: health.last.as_ref().map(|last| HealthLastJson {
                    time: round_unix_millis(clock.unix_seconds(last.at)),
                    ok: last.ok,
                    detail: last.detail.clone(),
                }),
            }),
        }
    }
}

/// Reply data of `status`: the services, and svinit-wide counters.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StatusReport {
    pub services: Vec<ServiceStatusJson>,
    /// Adopted orphans reaped since svinit started.
    pub orphans_reaped: u64,
    /// `system`, `container` or `user`.
    pub mode: String,
    pub pid: u32,
    /// Lines svinit could not write to its own stdout or stderr (the
    /// console) since it started: they did not wait while it was stalled
    /// (services' lines are still in their ring buffers).
    #[serde(default)]
    pub console_lines_dropped: u64,
}

/// Converts the loop's `Instant`s to wall-clock Unix time, from one
/// reading of both clocks.
#[derive(Debug, Clone, Copy)]
pub struct WallClock {
    pub instant: Instant,
    pub system: SystemTime,
}

impl WallClock {
    pub(crate) fn now() -> WallClock {
        WallClock {
            instant: Instant::now(),
            system: SystemTime::now(),
        }
    }

    /// Unix seconds (fractional) of `at`.
    pub(crate) fn unix_seconds(&self, at: Instant) -> f64 {
        let system = if at <= self.instant {
            self.system
                .checked_sub(self.instant - at)
                .unwrap_or(UNIX_EPOCH)
        } else {
            self.system + (at - self.instant)
        };
        match system.duration_since(UNIX_EPOCH) {
            Ok(d) => d.as_secs_f64(),
            Err(err) => -err.duration().as_secs_f64(),
        }
    }

    /// Whole unix seconds of `at`, rounded down.
    pub(crate) fn unix_secs(&self, at: Instant) -> i64 {
        self.unix_seconds(at).floor() as i64
    }

    /// Seconds from now until `at` (0 when past), rounded to milliseconds.
    pub(crate) fn seconds_until(&self, at: Instant) -> f64 {
        round_millis(at.saturating_duration_since(self.instant))
    }
}

/// Seconds with millisecond precision, as every fractional time on the wire.
pub(crate) fn round_millis(duration: Duration) -> f64 {
    duration.as_millis() as f64 / 1000.0
}

/// Unix seconds with millisecond precision.
pub(crate) fn round_unix_millis(seconds: f64) -> f64 {
    (seconds * 1000.0).round() / 1000.0
}
