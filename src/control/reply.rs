//! Replies: the envelope of every answer (`ok` with data, or an error with
//! a kind for programs and a message for people), the lines of a stream
//! that follows an ok reply, and the data of the replies other than
//! `status` (events, reload, tree, blame, logs).

use std::fmt;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::request::truncate;
use super::{ExitJson, HealthStateJson, PROTOCOL_VERSION, State};

/// The machine-readable side of an error reply.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum ErrorKind {
    /// The line is not JSON.
    BadJson,
    /// JSON, but not a valid request (not an object, missing or bad fields).
    BadRequest,
    /// `v` missing or not 1.
    UnsupportedVersion,
    UnknownCommand,
    /// The request is over 64 KiB.
    TooLarge,
    /// No request within 5 s.
    Timeout,
    /// The server has as many clients as it serves at once.
    TooManyClients,
    /// SO_PEERCRED says this peer may not do this.
    PermissionDenied,
    UnknownService,
    /// The service has no running process (e.g. `kill`).
    NotRunning,
    /// `reload`: the new configuration has errors; nothing changed.
    InvalidConfig,
    /// A feature this build does not provide yet (logs, reopen).
    NotAvailable,
    /// Not in this mode (poweroff outside system mode).
    NotSupported,
    /// Anything else that went wrong.
    Failed,
    /// `start NAME@INSTANCE`: not a valid instance name.
    BadName,
}

impl ErrorKind {
    #[cfg(test)]
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            ErrorKind::BadJson => "bad-json",
            ErrorKind::BadRequest => "bad-request",
            ErrorKind::UnsupportedVersion => "unsupported-version",
            ErrorKind::UnknownCommand => "unknown-command",
            ErrorKind::TooLarge => "too-large",
            ErrorKind::Timeout => "timeout",
            ErrorKind::TooManyClients => "too-many-clients",
            ErrorKind::PermissionDenied => "permission-denied",
            ErrorKind::UnknownService => "unknown-service",
            ErrorKind::NotRunning => "not-running",
            ErrorKind::InvalidConfig => "invalid-config",
            ErrorKind::NotAvailable => "not-available",
            ErrorKind::NotSupported => "not-supported",
            ErrorKind::Failed => "failed",
            ErrorKind::BadName => "bad-name",
        }
    }
}

/// An error reply: a kind for programs, a message for people.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProtocolError {
    pub kind: ErrorKind,
    pub message: String,
}

impl ProtocolError {
    pub(crate) fn new(kind: ErrorKind, message: impl Into<String>) -> Self {
        ProtocolError {
            kind,
            message: message.into(),
        }
    }

    pub(crate) fn unknown_service(name: &str) -> Self {
        ProtocolError::new(
            ErrorKind::UnknownService,
            format!("unknown service `{}`", truncate(name, 128)),
        )
    }
}

impl fmt::Display for ProtocolError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

/// The answer to one request.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Reply {
    pub v: u32,
    pub ok: bool,
    #[serde(default, skip_serializing_if = "Value::is_null")]
    pub data: Value,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<ProtocolError>,
}

impl Reply {
    /// Success with `data` (anything serializable; `()` gives no data).
    pub(crate) fn ok(data: impl Serialize) -> Reply {
        Reply {
            v: PROTOCOL_VERSION,
            ok: true,
            data: serde_json::to_value(data).unwrap_or(Value::Null),
            error: None,
        }
    }

    pub fn error(error: ProtocolError) -> Reply {
        Reply {
            v: PROTOCOL_VERSION,
            ok: false,
            data: Value::Null,
            error: Some(error),
        }
    }

    pub(crate) fn failure(kind: ErrorKind, message: impl Into<String>) -> Reply {
        Reply::error(ProtocolError::new(kind, message))
    }

    /// The reply as one line, newline included.
    pub fn to_line(&self) -> String {
        let mut text = serde_json::to_string(self).unwrap_or_else(|_| {
            r#"{"v":1,"ok":false,"error":{"kind":"failed","message":"unserializable reply"}}"#
                .to_string()
        });
        text.push('\n');
        text
    }

    /// The data decoded as `T`, or the error the server sent.
    pub fn into_result<T: for<'de> Deserialize<'de>>(self) -> Result<T, ProtocolError> {
        if let Some(error) = self.error {
            return Err(error);
        }
        if !self.ok {
            return Err(ProtocolError::new(ErrorKind::Failed, "request failed"));
        }
        serde_json::from_value(self.data).map_err(|err| {
            ProtocolError::new(ErrorKind::Failed, format!("unexpected reply: {err}"))
        })
    }
}

/// One line of a stream that follows an ok reply to `events` or `logs -f`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StreamLine {
    pub v: u32,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub event: Option<EventRecord>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub log: Option<String>,
    /// The service a `log` line came from, when the request named its
    /// services with `names` (or none).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub service: Option<String>,
}

impl StreamLine {
    pub(crate) fn event(event: EventRecord) -> StreamLine {
        StreamLine {
            v: PROTOCOL_VERSION,
            event: Some(event),
            log: None,
            service: None,
        }
    }

    /// A line of output; `service` names where it came from, unless the
    /// request asked for one service by `name`.
    pub(crate) fn log(line: impl Into<String>, service: Option<String>) -> StreamLine {
        StreamLine {
            v: PROTOCOL_VERSION,
            event: None,
            log: Some(line.into()),
            service,
        }
    }

    pub(crate) fn to_line(&self) -> String {
        let mut text = serde_json::to_string(self).unwrap_or_default();
        text.push('\n');
        text
    }
}

/// What an event is about: a service's state, or (`health`) its health.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum EventKind {
    #[default]
    State,
    Health,
}

/// What an event's `from` and `to` name: a state of the service, or (an
/// event of kind `health`) a health state.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum EventState {
    Service(State),
    Health(HealthStateJson),
}

/// One state change, as `svctl events` prints it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EventRecord {
    /// 1 for the first event of this svinit, then +1 for each.
    pub seq: u64,
    /// Unix seconds, with millisecond precision.
    pub time: f64,
    /// Absent from the events of older versions: `state`.
    #[serde(default)]
    pub kind: EventKind,
    pub name: String,
    pub from: EventState,
    pub to: EventState,
    pub pid: Option<i32>,
    pub exit: Option<ExitJson>,
    pub reason: Option<String>,
    pub reason_code: Option<String>,
}

/// Reply data of `events`, before the stream: what the ring still holds.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EventsReport {
    /// Sequence number of the oldest event still in the ring (0: empty).
    pub oldest: u64,
    /// Sequence number the next event will get.
    pub next: u64,
    /// Events asked for by `since` that have already left the ring.
    pub missed: u64,
}

/// A service whose config differs between the running and the new config.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChangedService {
    pub name: String,
    /// The unit-file keys whose values differ (`exec`, `stop-timeout` …).
    pub keys: Vec<String>,
}

/// Reply data of `reload`: what the new config adds, removes and changes.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct ReloadReport {
    pub dry_run: bool,
    pub added: Vec<String>,
    pub removed: Vec<String>,
    pub changed: Vec<ChangedService>,
    /// Global settings that differ (`control`, `shutdown-timeout`).
    #[serde(default)]
    pub global: Vec<String>,
    /// The supervisor's own account of what it did (not for a dry run).
    #[serde(default)]
    pub summary: Option<String>,
}

/// One service in the dependency graph of `tree`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TreeNode {
    pub name: String,
    pub state: State,
    pub requires: Vec<String>,
    pub wants: Vec<String>,
    /// Ordering only: this starts after these (`after`, and others' `before`).
    pub after: Vec<String>,
}

/// Reply data of `tree`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TreeReport {
    /// The service asked for, or null for the whole graph.
    pub root: Option<String>,
    pub services: Vec<TreeNode>,
}

/// One line of `blame`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BlameEntry {
    pub name: String,
    pub state: State,
    /// Unix seconds of the last spawn, or null if never spawned.
    pub spawned: Option<f64>,
    /// Seconds from spawn to ready, or null if not ready (yet).
    pub ready_after: Option<f64>,
}

/// Reply data of `plot`: this boot's runs, for `svctl plot`'s timeline.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PlotReport {
    /// Unix seconds when svinit answered: the end of runs still going.
    pub now: f64,
    /// Services with at least one run, in svinit's start order.
    pub services: Vec<PlotService>,
}

/// One service of `plot` and its runs, oldest first: its first 8 of this
/// boot, the last 8 after them, and the one going on.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PlotService {
    pub name: String,
    pub state: State,
    pub runs: Vec<PlotRun>,
    /// Runs that ended between the first and the last ones, not listed.
    #[serde(default)]
    pub omitted: u64,
}

/// One run: spawned, ready (or never), ended (or still running).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PlotRun {
    /// Unix seconds of the spawn.
    pub spawned: f64,
    /// Unix seconds it became ready (`up`, or `done` for a oneshot), or null.
    pub ready: Option<f64>,
    /// Unix seconds it was reaped, or null while it runs.
    pub ended: Option<f64>,
    /// How it ended, or null while it runs.
    pub exit: Option<ExitJson>,
}

/// Reply data of `logs` with `name`: the recent lines, oldest first.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LogsReport {
    pub name: String,
    pub lines: Vec<String>,
}

/// Reply data of `logs` with `names` (or none): the recent lines of all
/// those services, in the order svinit received them.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MergedLogsReport {
    pub lines: Vec<ServiceLine>,
    /// Older lines left out to keep the reply within
    /// [`MAX_LOGS_REPLY_BYTES`].
    #[serde(default)]
    pub omitted: u64,
}

/// One line of output and the service that wrote it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ServiceLine {
    pub service: String,
    pub line: String,
}

/// The recent lines a `logs` reply for several services holds at most (the
/// newest, counted in bytes of text): four rings' worth, so that one
/// request cannot make svinit build a reply of every ring it has.
pub const MAX_LOGS_REPLY_BYTES: usize = 256 * 1024;
