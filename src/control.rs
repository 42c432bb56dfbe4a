//! The control protocol spoken on svinit's Unix socket, shared by the server
//! (`runtime::control`) and the client (`svctl`): one JSON object per line,
//! each carrying `"v": 1`. Requests are `{"v":1,"cmd":"status",...}`; replies
//! are `{"v":1,"ok":true,"data":...}` or `{"v":1,"ok":false,"error":{"kind":
//! "unknown-service","message":"..."}}`; streams (`events`, `logs -f`) follow
//! an ok reply with `{"v":1,"event":{...}}` / `{"v":1,"log":"..."}` lines
//! (`"service"` too when `logs` named its services with `names`).
//! Also the default socket path of SPEC.md §1, which both binaries compute.
//! Nothing here does I/O on the socket.

use std::fmt;
use std::path::PathBuf;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::supervisor::{ExitStatus, Reason, ServiceStatus, StateKind, Want, signal_name};

/// The protocol version every line carries as `"v"`.
pub const PROTOCOL_VERSION: u32 = 1;

/// A request line longer than this (without its newline) is refused.
pub const MAX_REQUEST_BYTES: usize = 64 * 1024;

/// The environment variable that overrides the socket path (like `-s`).
pub const SOCKET_ENV: &str = "SVINIT_SOCKET";

/// One command sent to svinit. `cmd` names the variant in kebab case; the
/// other fields are the variant's. Unknown fields are refused, so a typo is
/// an error rather than a silently different command.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "cmd", rename_all = "kebab-case", deny_unknown_fields)]
pub enum Request {
    /// Status of the named services, or of all when `names` is empty.
    Status {
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        names: Vec<String>,
    },
    /// Start the named services, or with `all` every service except those
    /// with `autostart #false` that are not wanted up (SPEC.md §5).
    Start {
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        names: Vec<String>,
        #[serde(default, skip_serializing_if = "is_false")]
        all: bool,
    },
    /// Stop the named services, or with `all` every service.
    Stop {
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        names: Vec<String>,
        #[serde(default, skip_serializing_if = "is_false")]
        all: bool,
    },
    /// Restart the named services, or with `all` the services `Start`
    /// takes.
    Restart {
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        names: Vec<String>,
        #[serde(default, skip_serializing_if = "is_false")]
        all: bool,
    },
    /// Send `signal` (a name like `HUP`/`SIGHUP` or a number, 0 to check
    /// that the process exists) to the service's main process, or with
    /// `group` to its process group.
    Kill {
        name: String,
        signal: String,
        #[serde(default, skip_serializing_if = "is_false")]
        group: bool,
    },
    /// Reopen the transcripts of the named services, or of all.
    Reopen {
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        names: Vec<String>,
    },
    /// The last `lines` lines of output (all the ring holds when absent);
    /// `follow`: then stream new lines. `name`: one service, its bare
    /// lines ([`LogsReport`], stream lines without `service`, the form of
    /// svinit 0.1). Else `names`, or every service whose output is kept
    /// when empty: the lines of all, in the order they arrived, each with
    /// its service ([`MergedLogsReport`], stream lines with `service`).
    Logs {
        #[serde(default, skip_serializing_if = "Option::is_none")]
        name: Option<String>,
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        names: Vec<String>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        lines: Option<u32>,
        #[serde(default, skip_serializing_if = "is_false")]
        follow: bool,
    },
    /// Re-read the configuration; `dry_run`: only say what would change.
    Reload {
        #[serde(default, skip_serializing_if = "is_false")]
        dry_run: bool,
    },
    /// Stream state changes. `since`: first replay the ring's events with a
    /// sequence number greater than this. `follow: false` ends the stream
    /// after the replay.
    Events {
        #[serde(default, skip_serializing_if = "Option::is_none")]
        since: Option<u64>,
        #[serde(default = "default_true", skip_serializing_if = "is_true")]
        follow: bool,
    },
    /// The dependency graph below `name`, or the whole graph.
    Tree {
        #[serde(default, skip_serializing_if = "Option::is_none")]
        name: Option<String>,
    },
    /// Spawn-to-ready timings of this boot.
    Blame,
    Poweroff,
    Reboot,
    Halt,
    /// Stop every service and end svinit (user and container mode); the
    /// reply comes at once, the client waits for the socket to go away.
    Shutdown,
}

fn is_false(value: &bool) -> bool {
    !*value
}

fn is_true(value: &bool) -> bool {
    *value
}

fn default_true() -> bool {
    true
}

/// Every `cmd` the server knows, to tell "unknown command" from "bad
/// arguments to a known command".
pub const COMMANDS: &[&str] = &[
    "status", "start", "stop", "restart", "kill", "reopen", "logs", "reload", "events", "tree",
    "blame", "poweroff", "reboot", "halt", "shutdown",
];

const ARGUMENTLESS_COMMANDS: &[&str] = &["blame", "poweroff", "reboot", "halt", "shutdown"];

impl Request {
    /// The `cmd` string of this request.
    pub fn command(&self) -> &'static str {
        match self {
            Request::Status { .. } => "status",
            Request::Start { .. } => "start",
            Request::Stop { .. } => "stop",
            Request::Restart { .. } => "restart",
            Request::Kill { .. } => "kill",
            Request::Reopen { .. } => "reopen",
            Request::Logs { .. } => "logs",
            Request::Reload { .. } => "reload",
            Request::Events { .. } => "events",
            Request::Tree { .. } => "tree",
            Request::Blame => "blame",
            Request::Poweroff => "poweroff",
            Request::Reboot => "reboot",
            Request::Halt => "halt",
            Request::Shutdown => "shutdown",
        }
    }

    /// What members of `control read-group=` may ask (SPEC.md §5).
    pub fn is_read_only(&self) -> bool {
        matches!(
            self,
            Request::Status { .. }
                | Request::Logs { .. }
                | Request::Events { .. }
                | Request::Tree { .. }
                | Request::Blame
        )
    }

    /// Whether the request asks for a stream that stays open (`events`
    /// followed, `logs -f`).
    pub fn follows(&self) -> bool {
        matches!(
            self,
            Request::Events { follow: true, .. } | Request::Logs { follow: true, .. }
        )
    }

    /// A short human description for the audit log: `stop web db`.
    pub fn summary(&self) -> String {
        let mut text = self.command().to_string();
        let mut push = |word: &str| {
            text.push(' ');
            text.push_str(word);
        };
        match self {
            Request::Start { all: true, .. }
            | Request::Stop { all: true, .. }
            | Request::Restart { all: true, .. } => push("--all"),
            Request::Status { names }
            | Request::Start { names, .. }
            | Request::Stop { names, .. }
            | Request::Restart { names, .. }
            | Request::Reopen { names } => names.iter().for_each(|n| push(n)),
            Request::Kill {
                name,
                signal,
                group,
            } => {
                if *group {
                    push("--group");
                }
                push(name);
                push(signal);
            }
            Request::Logs { name, names, .. } => name.iter().chain(names).for_each(|n| push(n)),
            Request::Reload { dry_run: true } => push("--dry-run"),
            Request::Tree { name: Some(name) } => push(name),
            Request::Reload { dry_run: false }
            | Request::Tree { name: None }
            | Request::Events { .. }
            | Request::Blame
            | Request::Poweroff
            | Request::Reboot
            | Request::Halt
            | Request::Shutdown => {}
        }
        text
    }

    /// The request as one line, newline included.
    pub fn to_line(&self) -> String {
        #[derive(Serialize)]
        struct Line<'a> {
            v: u32,
            #[serde(flatten)]
            request: &'a Request,
        }
        let line = Line {
            v: PROTOCOL_VERSION,
            request: self,
        };
        let mut text = serde_json::to_string(&line).unwrap_or_default();
        text.push('\n');
        text
    }

    /// Parses one request line (without its newline). Every way it can be
    /// wrong is told apart, so the client gets a precise error.
    pub fn parse(line: &[u8]) -> Result<Request, ProtocolError> {
        if line.len() > MAX_REQUEST_BYTES {
            return Err(ProtocolError::new(
                ErrorKind::TooLarge,
                format!("request longer than {MAX_REQUEST_BYTES} bytes"),
            ));
        }
        let value: Value = serde_json::from_slice(line).map_err(|err| {
            ProtocolError::new(ErrorKind::BadJson, format!("malformed JSON: {err}"))
        })?;
        let Value::Object(mut fields) = value else {
            return Err(ProtocolError::new(
                ErrorKind::BadRequest,
                "a request must be a JSON object",
            ));
        };
        check_version(&mut fields)?;
        let command = match fields.get("cmd") {
            Some(Value::String(command)) => command.clone(),
            Some(_) => {
                return Err(ProtocolError::new(
                    ErrorKind::BadRequest,
                    "`cmd` must be a string",
                ));
            }
            None => {
                return Err(ProtocolError::new(
                    ErrorKind::BadRequest,
                    "missing `cmd` field",
                ));
            }
        };
        if !COMMANDS.contains(&command.as_str()) {
            return Err(ProtocolError::new(
                ErrorKind::UnknownCommand,
                format!("unknown command `{}`", truncate(&command, 64)),
            ));
        }
        // serde ignores extra fields next to a variant without fields.
        if ARGUMENTLESS_COMMANDS.contains(&command.as_str())
            && let Some(extra) = fields.keys().find(|key| *key != "cmd")
        {
            return Err(ProtocolError::new(
                ErrorKind::BadRequest,
                format!(
                    "bad arguments to `{command}`: unknown field `{}`",
                    truncate(extra, 64)
                ),
            ));
        }
        // serde's messages quote the offending key or value whole.
        let request: Request = serde_json::from_value(Value::Object(fields)).map_err(|err| {
            ProtocolError::new(
                ErrorKind::BadRequest,
                format!(
                    "bad arguments to `{command}`: {}",
                    truncate(&err.to_string(), 256)
                ),
            )
        })?;
        request.check_targets()?;
        Ok(request)
    }

    /// What serde cannot say: start/stop/restart name services or say
    /// `all`, exactly one of the two; `logs` takes `name` or `names`.
    fn check_targets(&self) -> Result<(), ProtocolError> {
        let problem = match self {
            Request::Start { names, all }
            | Request::Stop { names, all }
            | Request::Restart { names, all } => match (names.is_empty(), *all) {
                (true, false) => Some("name at least one service, or give `all`"),
                (false, true) => Some("give `names` or `all`, not both"),
                _ => None,
            },
            Request::Logs {
                name: Some(_),
                names,
                ..
            } if !names.is_empty() => Some("give `name` or `names`, not both"),
            _ => None,
        };
        match problem {
            Some(problem) => Err(ProtocolError::new(
                ErrorKind::BadRequest,
                format!("bad arguments to `{}`: {problem}", self.command()),
            )),
            None => Ok(()),
        }
    }
}

fn check_version(fields: &mut Map<String, Value>) -> Result<(), ProtocolError> {
    match fields.remove("v") {
        Some(Value::Number(n)) if n.as_u64() == Some(u64::from(PROTOCOL_VERSION)) => Ok(()),
        Some(other) => Err(ProtocolError::new(
            ErrorKind::UnsupportedVersion,
            format!(
                "unsupported protocol version {}, this svinit speaks {PROTOCOL_VERSION}",
                truncate(&other.to_string(), 32)
            ),
        )),
        None => Err(ProtocolError::new(
            ErrorKind::UnsupportedVersion,
            format!("missing protocol version `\"v\": {PROTOCOL_VERSION}`"),
        )),
    }
}

/// At most `max` characters of `text`, for echoing client input safely.
fn truncate(text: &str, max: usize) -> String {
    match text.char_indices().nth(max) {
        Some((cut, _)) => format!("{}…", &text[..cut]),
        None => text.to_string(),
    }
}

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
}

impl ErrorKind {
    pub fn as_str(self) -> &'static str {
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
    pub fn new(kind: ErrorKind, message: impl Into<String>) -> Self {
        ProtocolError {
            kind,
            message: message.into(),
        }
    }

    pub fn unknown_service(name: &str) -> Self {
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
    pub fn ok(data: impl Serialize) -> Reply {
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

    pub fn failure(kind: ErrorKind, message: impl Into<String>) -> Reply {
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
    pub fn event(event: EventRecord) -> StreamLine {
        StreamLine {
            v: PROTOCOL_VERSION,
            event: Some(event),
            log: None,
            service: None,
        }
    }

    /// A line of output; `service` names where it came from, unless the
    /// request asked for one service by `name`.
    pub fn log(line: impl Into<String>, service: Option<String>) -> StreamLine {
        StreamLine {
            v: PROTOCOL_VERSION,
            event: None,
            log: Some(line.into()),
            service,
        }
    }

    pub fn to_line(&self) -> String {
        let mut text = serde_json::to_string(self).unwrap_or_default();
        text.push('\n');
        text
    }
}

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
    pub fn as_str(self) -> &'static str {
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
pub fn reason_code(reason: &Reason) -> &'static str {
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
    }
}

/// The `reason` field: the reason as text.
pub fn reason_text(reason: Option<&Reason>) -> Option<String> {
    reason.map(ToString::to_string)
}

/// The `reason_code` field.
pub fn reason_code_text(reason: Option<&Reason>) -> Option<String> {
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
}

impl ServiceStatusJson {
    /// The wire form of the supervisor's view of one service; `clock`
    /// turns its instants into unix time.
    pub fn from_status(
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

/// One state change, as `svctl events` prints it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EventRecord {
    /// 1 for the first event of this svinit, then +1 for each.
    pub seq: u64,
    /// Unix seconds, with millisecond precision.
    pub time: f64,
    pub name: String,
    pub from: State,
    pub to: State,
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

/// Converts the loop's `Instant`s to wall-clock Unix time, from one
/// reading of both clocks.
#[derive(Debug, Clone, Copy)]
pub struct WallClock {
    pub instant: Instant,
    pub system: SystemTime,
}

impl WallClock {
    pub fn now() -> WallClock {
        WallClock {
            instant: Instant::now(),
            system: SystemTime::now(),
        }
    }

    /// Unix seconds (fractional) of `at`.
    pub fn unix_seconds(&self, at: Instant) -> f64 {
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
    pub fn unix_secs(&self, at: Instant) -> i64 {
        self.unix_seconds(at).floor() as i64
    }

    /// Seconds from now until `at` (0 when past), rounded to milliseconds.
    pub fn seconds_until(&self, at: Instant) -> f64 {
        round_millis(at.saturating_duration_since(self.instant))
    }
}

/// Seconds with millisecond precision, as every fractional time on the wire.
pub fn round_millis(duration: Duration) -> f64 {
    duration.as_millis() as f64 / 1000.0
}

/// Unix seconds with millisecond precision.
pub fn round_unix_millis(seconds: f64) -> f64 {
    (seconds * 1000.0).round() / 1000.0
}

/// Parses a signal given as `HUP`, `SIGHUP`, `hup` or `1`; `0` is kill(2)'s
/// "no signal, only check that the process exists".
pub fn parse_signal(text: &str) -> Option<i32> {
    if let Ok(number) = text.parse::<i32>() {
        return (0..=64).contains(&number).then_some(number);
    }
    let upper = text.to_ascii_uppercase();
    let full = if upper.starts_with("SIG") {
        upper
    } else {
        format!("SIG{upper}")
    };
    full.parse::<nix::sys::signal::Signal>()
        .ok()
        .map(|signal| signal as i32)
}

/// The control socket path of SPEC.md §1 when neither `-s` nor
/// `SVINIT_SOCKET` is given: `/run/svinit/control.sock` for root, else
/// `$XDG_RUNTIME_DIR/svinit/control.sock`, else `/tmp/svinit-$UID/control.sock`.
pub fn default_socket_path() -> PathBuf {
    let uid = nix::unistd::geteuid();
    let runtime_dir = std::env::var_os("XDG_RUNTIME_DIR").map(PathBuf::from);
    default_socket_path_for(uid.as_raw(), runtime_dir)
}

/// `default_socket_path` for a given uid and `$XDG_RUNTIME_DIR`.
pub fn default_socket_path_for(uid: u32, xdg_runtime_dir: Option<PathBuf>) -> PathBuf {
    if uid == 0 {
        return PathBuf::from("/run/svinit/control.sock");
    }
    match xdg_runtime_dir {
        Some(dir) if dir.is_absolute() => dir.join("svinit").join("control.sock"),
        _ => PathBuf::from(format!("/tmp/svinit-{uid}/control.sock")),
    }
}

/// The socket path both binaries use: `-s PATH` if given, else
/// `SVINIT_SOCKET` if set and not empty, else the default.
pub fn socket_path(flag: Option<PathBuf>) -> PathBuf {
    flag.or_else(|| {
        std::env::var_os(SOCKET_ENV)
            .filter(|value| !value.is_empty())
            .map(PathBuf::from)
    })
    .unwrap_or_else(default_socket_path)
}

#[cfg(test)]
mod fuzz_tests;

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn parse(text: &str) -> Result<Request, ProtocolError> {
        Request::parse(text.as_bytes())
    }

    #[test]
    fn bad_arguments_echo_a_bounded_part_of_the_request() {
        // Found by the seeded fuzz test: serde quoted a 60 KB key whole.
        let key = "k".repeat(60_000);
        let value = "x".repeat(60_000);
        for line in [
            format!(r#"{{"v":1,"cmd":"logs","{key}":1}}"#),
            format!(r#"{{"v":1,"cmd":"status","names":"{value}"}}"#),
            format!(r#"{{"v":1,"cmd":"kill","name":"web","signal":["{value}"]}}"#),
        ] {
            let error = parse(&line).unwrap_err();
            assert_eq!(error.kind, ErrorKind::BadRequest);
            assert!(error.message.starts_with("bad arguments to `"), "{error}");
            assert!(error.message.chars().count() < 400, "{error}");
        }
    }

    #[test]
    fn every_request_round_trips_through_a_line() {
        let requests = vec![
            Request::Status { names: vec![] },
            Request::Status {
                names: vec!["web".into(), "db".into()],
            },
            Request::Start {
                names: vec!["web".into()],
                all: false,
            },
            Request::Start {
                names: vec![],
                all: true,
            },
            Request::Stop {
                names: vec!["web".into()],
                all: false,
            },
            Request::Restart {
                names: vec!["a".into(), "b".into()],
                all: false,
            },
            Request::Kill {
                name: "web".into(),
                signal: "HUP".into(),
                group: false,
            },
            Request::Kill {
                name: "web".into(),
                signal: "0".into(),
                group: true,
            },
            Request::Reopen { names: vec![] },
            Request::Logs {
                name: Some("web".into()),
                names: vec![],
                lines: Some(20),
                follow: true,
            },
            Request::Logs {
                name: None,
                names: vec!["web".into(), "db".into()],
                lines: None,
                follow: false,
            },
            Request::Reload { dry_run: true },
            Request::Reload { dry_run: false },
            Request::Events {
                since: Some(7),
                follow: true,
            },
            Request::Events {
                since: None,
                follow: false,
            },
            Request::Tree { name: None },
            Request::Tree {
                name: Some("web".into()),
            },
            Request::Blame,
            Request::Poweroff,
            Request::Reboot,
            Request::Halt,
        ];
        for request in requests {
            let line = request.to_line();
            assert!(line.ends_with('\n'));
            assert_eq!(line.matches('\n').count(), 1, "{line}");
            let value: Value = serde_json::from_str(&line).unwrap();
            assert_eq!(value["v"], json!(1), "{line}");
            assert_eq!(value["cmd"], json!(request.command()), "{line}");
            let back = parse(line.trim_end()).unwrap();
            assert_eq!(back, request, "{line}");
        }
    }

    #[test]
    fn the_wire_form_is_flat_and_kebab_case() {
        assert_eq!(
            Request::Reload { dry_run: true }.to_line(),
            "{\"v\":1,\"cmd\":\"reload\",\"dry_run\":true}\n"
        );
        assert_eq!(
            Request::Status {
                names: vec!["web".into()]
            }
            .to_line(),
            "{\"v\":1,\"cmd\":\"status\",\"names\":[\"web\"]}\n"
        );
        assert_eq!(Request::Blame.to_line(), "{\"v\":1,\"cmd\":\"blame\"}\n");
        // The single-service forms are those of svinit 0.1, so an older
        // svinit understands a newer svctl asking for one service.
        assert_eq!(
            Request::Logs {
                name: Some("web".into()),
                names: vec![],
                lines: None,
                follow: true
            }
            .to_line(),
            "{\"v\":1,\"cmd\":\"logs\",\"name\":\"web\",\"follow\":true}\n"
        );
        assert_eq!(
            Request::Stop {
                names: vec!["web".into()],
                all: false
            }
            .to_line(),
            "{\"v\":1,\"cmd\":\"stop\",\"names\":[\"web\"]}\n"
        );
        // Defaults: a hand-written minimal request works.
        assert_eq!(
            parse(r#"{"v":1,"cmd":"events"}"#).unwrap(),
            Request::Events {
                since: None,
                follow: true
            }
        );
        assert_eq!(
            parse(r#"{"cmd":"status","v":1}"#).unwrap(),
            Request::Status { names: vec![] }
        );
    }

    #[test]
    fn each_kind_of_bad_request_has_its_own_error_kind() {
        let cases = [
            ("garbage", ErrorKind::BadJson),
            ("{\"v\":1,\"cmd\":", ErrorKind::BadJson),
            ("", ErrorKind::BadJson),
            ("[1,2]", ErrorKind::BadRequest),
            ("{\"v\":1}", ErrorKind::BadRequest),
            ("{\"v\":1,\"cmd\":5}", ErrorKind::BadRequest),
            ("{\"cmd\":\"status\"}", ErrorKind::UnsupportedVersion),
            (
                "{\"v\":2,\"cmd\":\"status\"}",
                ErrorKind::UnsupportedVersion,
            ),
            (
                "{\"v\":\"1\",\"cmd\":\"status\"}",
                ErrorKind::UnsupportedVersion,
            ),
            ("{\"v\":1,\"cmd\":\"explode\"}", ErrorKind::UnknownCommand),
            ("{\"v\":1,\"cmd\":\"start\"}", ErrorKind::BadRequest),
            (
                "{\"v\":1,\"cmd\":\"start\",\"names\":\"web\"}",
                ErrorKind::BadRequest,
            ),
            (
                "{\"v\":1,\"cmd\":\"status\",\"name\":[\"web\"]}",
                ErrorKind::BadRequest,
            ),
            (
                "{\"v\":1,\"cmd\":\"blame\",\"extra\":1}",
                ErrorKind::BadRequest,
            ),
        ];
        for (line, kind) in cases {
            let err = parse(line).unwrap_err();
            assert_eq!(err.kind, kind, "{line}: {}", err.message);
            assert!(!err.message.is_empty());
        }
    }

    #[test]
    fn all_several_log_names_and_group_kills_are_requests() {
        for line in [
            r#"{"v":1,"cmd":"start","all":true}"#,
            r#"{"v":1,"cmd":"stop","names":[],"all":true}"#,
            r#"{"v":1,"cmd":"restart","all":true}"#,
            r#"{"v":1,"cmd":"logs"}"#,
            r#"{"v":1,"cmd":"logs","names":["a","b"],"follow":true}"#,
            r#"{"v":1,"cmd":"logs","name":"a","lines":3}"#,
            r#"{"v":1,"cmd":"kill","name":"a","signal":"TERM","group":true}"#,
            r#"{"v":1,"cmd":"kill","name":"a","signal":"0"}"#,
        ] {
            if let Err(err) = parse(line) {
                panic!("{line}: {err}");
            }
        }
        assert!(
            parse(r#"{"v":1,"cmd":"logs","follow":true}"#)
                .unwrap()
                .follows()
        );
        for line in [
            // Nothing to act on, or two ways of naming at once.
            r#"{"v":1,"cmd":"start","names":[]}"#,
            r#"{"v":1,"cmd":"restart","names":["a"],"all":true}"#,
            r#"{"v":1,"cmd":"logs","name":"a","names":["b"]}"#,
        ] {
            let err = parse(line).unwrap_err();
            assert_eq!(err.kind, ErrorKind::BadRequest, "{line}: {err}");
        }
    }

    #[test]
    fn requests_over_64_kib_are_refused_before_parsing() {
        let names = vec!["x".repeat(MAX_REQUEST_BYTES)];
        let line = Request::Status { names }.to_line();
        let err = parse(line.trim_end()).unwrap_err();
        assert_eq!(err.kind, ErrorKind::TooLarge);
    }

    #[test]
    fn echoed_client_input_is_truncated() {
        let command = "y".repeat(10_000);
        let err = parse(&format!("{{\"v\":1,\"cmd\":\"{command}\"}}")).unwrap_err();
        assert_eq!(err.kind, ErrorKind::UnknownCommand);
        assert!(err.message.len() < 200, "{}", err.message);
    }

    #[test]
    fn only_reading_commands_are_read_only() {
        let read_only: Vec<&str> = COMMANDS
            .iter()
            .copied()
            .filter(|command| {
                let line = match *command {
                    "start" | "stop" | "restart" => {
                        format!(r#"{{"v":1,"cmd":"{command}","names":["a"]}}"#)
                    }
                    "kill" => r#"{"v":1,"cmd":"kill","name":"a","signal":"HUP"}"#.to_string(),
                    "logs" => r#"{"v":1,"cmd":"logs","name":"a"}"#.to_string(),
                    _ => format!(r#"{{"v":1,"cmd":"{command}"}}"#),
                };
                parse(&line).unwrap().is_read_only()
            })
            .collect();
        assert_eq!(read_only, ["status", "logs", "events", "tree", "blame"]);
    }

    #[test]
    fn only_followed_events_and_logs_are_streams() {
        let follows = |line: &str| parse(line).unwrap().follows();
        assert!(follows(r#"{"v":1,"cmd":"events"}"#));
        assert!(!follows(r#"{"v":1,"cmd":"events","follow":false}"#));
        assert!(follows(r#"{"v":1,"cmd":"logs","name":"a","follow":true}"#));
        assert!(!follows(r#"{"v":1,"cmd":"logs","name":"a"}"#));
        assert!(!follows(r#"{"v":1,"cmd":"status"}"#));
    }

    #[test]
    fn replies_serialize_ok_and_error_forms() {
        let ok = Reply::ok(());
        assert_eq!(ok.to_line(), "{\"v\":1,\"ok\":true}\n");
        let error = Reply::error(ProtocolError::unknown_service("wbe"));
        assert_eq!(
            error.to_line(),
            "{\"v\":1,\"ok\":false,\"error\":{\"kind\":\"unknown-service\",\"message\":\"unknown service `wbe`\"}}\n"
        );
        let back: Reply = serde_json::from_str(error.to_line().trim_end()).unwrap();
        assert_eq!(
            back.into_result::<()>().unwrap_err().kind,
            ErrorKind::UnknownService
        );
        let report = EventsReport {
            oldest: 1,
            next: 5,
            missed: 0,
        };
        let back: Reply = serde_json::from_str(&Reply::ok(&report).to_line()).unwrap();
        assert_eq!(back.into_result::<EventsReport>().unwrap(), report);
    }

    #[test]
    fn every_error_kind_serializes_as_its_name() {
        let kinds = [
            ErrorKind::BadJson,
            ErrorKind::BadRequest,
            ErrorKind::UnsupportedVersion,
            ErrorKind::UnknownCommand,
            ErrorKind::TooLarge,
            ErrorKind::Timeout,
            ErrorKind::TooManyClients,
            ErrorKind::PermissionDenied,
            ErrorKind::UnknownService,
            ErrorKind::NotRunning,
            ErrorKind::InvalidConfig,
            ErrorKind::NotAvailable,
            ErrorKind::NotSupported,
            ErrorKind::Failed,
        ];
        for kind in kinds {
            assert_eq!(serde_json::to_value(kind).unwrap(), json!(kind.as_str()));
        }
    }

    #[test]
    fn status_json_has_the_stable_shape() {
        let clock = WallClock {
            instant: Instant::now(),
            system: UNIX_EPOCH + Duration::from_secs(1_700_000_000),
        };
        let ago = |secs: u64| clock.instant - Duration::from_secs(secs);
        let status = ServiceStatus {
            name: "web".into(),
            state: StateKind::Backoff,
            want: Want::Up,
            pid: None,
            since: ago(3),
            restarts: 2,
            last_exit: Some(ExitStatus::Signaled {
                signal: 15,
                core: false,
            }),
            reason: Some(Reason::Exited(ExitStatus::Exited(1))),
            next_restart: Some(clock.instant + Duration::from_millis(1500)),
            history: vec![
                crate::supervisor::ExitRecord {
                    at: ago(10),
                    pid: 41,
                    status: ExitStatus::Exited(1),
                },
                crate::supervisor::ExitRecord {
                    at: ago(3),
                    pid: 42,
                    status: ExitStatus::Signaled {
                        signal: 15,
                        core: false,
                    },
                },
            ],
            config_changed: true,
            removed: false,
            status_text: None,
            spawned_at: Some(ago(5)),
            ready_at: Some(ago(5)),
        };
        let entry = ServiceStatusJson::from_status(&status, None, &clock);
        let value = serde_json::to_value(&entry).unwrap();
        assert_eq!(
            value,
            json!({
                "name": "web",
                "status": "down",
                "state": "backoff",
                "pid": null,
                "since": 1_699_999_997,
                "restarts": 2,
                "exit": {"signal": 15, "name": "TERM", "core": false},
                "reason": "exited with status 1",
                "reason_code": "exited",
                "next_restart": 1.5,
                "history": [
                    {"time": 1_699_999_990, "pid": 41, "exit": {"code": 1}},
                    {"time": 1_699_999_997, "pid": 42, "exit": {"signal": 15, "name": "TERM", "core": false}}
                ],
                "config_changed": true,
                "want": "up",
                "description": null,
                "removed": false,
                "output_problem": null,
                "output_dropped": 0,
                "status_text": null,
                "age": 3.0
            })
        );
        let back: ServiceStatusJson = serde_json::from_value(value).unwrap();
        assert_eq!(back, entry);

        // Running: "up" with its pid, whatever the state.
        let running = ServiceStatus {
            state: StateKind::Stopping,
            want: Want::Down,
            pid: Some(7),
            reason: None,
            next_restart: None,
            ..status
        };
        let entry = ServiceStatusJson::from_status(&running, Some("d".into()), &clock);
        assert_eq!(entry.status, Running::Up);
        assert_eq!(entry.want, Running::Down);
        assert_eq!(entry.pid, Some(7));
        assert_eq!(entry.reason_code, None);
        assert_eq!(entry.description.as_deref(), Some("d"));
    }

    #[test]
    fn exit_statuses_read_back_as_the_same_variant() {
        let code: ExitJson = serde_json::from_str(r#"{"code":3}"#).unwrap();
        assert_eq!(code, ExitJson::Code { code: 3 });
        let signal: ExitJson =
            serde_json::from_str(r#"{"signal":9,"name":"KILL","core":true}"#).unwrap();
        assert_eq!(signal.to_string(), "killed by signal KILL (core dumped)");
        assert_eq!(
            ExitJson::from(ExitStatus::Exited(0)).to_string(),
            "exited with status 0"
        );
    }

    #[test]
    fn event_lines_carry_every_field() {
        let event = EventRecord {
            seq: 3,
            time: 1_700_000_000.25,
            name: "db".into(),
            from: State::Starting,
            to: State::Up,
            pid: Some(77),
            exit: None,
            reason: None,
            reason_code: None,
        };
        let line = StreamLine::event(event.clone()).to_line();
        let value: Value = serde_json::from_str(&line).unwrap();
        assert_eq!(
            value,
            json!({"v": 1, "event": {
                "seq": 3, "time": 1_700_000_000.25, "name": "db", "from": "starting",
                "to": "up", "pid": 77, "exit": null, "reason": null, "reason_code": null
            }})
        );
        let back: StreamLine = serde_json::from_str(&line).unwrap();
        assert_eq!(back.event, Some(event));
    }

    #[test]
    fn state_names_match_the_supervisor() {
        for kind in [
            StateKind::Down,
            StateKind::Waiting,
            StateKind::Starting,
            StateKind::Up,
            StateKind::Stopping,
            StateKind::Backoff,
            StateKind::Failed,
            StateKind::Done,
        ] {
            assert_eq!(State::from(kind).as_str(), kind.as_str());
        }
    }

    #[test]
    fn signals_parse_by_name_or_number() {
        assert_eq!(parse_signal("HUP"), Some(libc::SIGHUP));
        assert_eq!(parse_signal("sighup"), Some(libc::SIGHUP));
        assert_eq!(parse_signal("SIGUSR1"), Some(libc::SIGUSR1));
        assert_eq!(parse_signal("9"), Some(9));
        // 0 sends nothing: `svctl kill NAME 0` asks whether the process exists.
        assert_eq!(parse_signal("0"), Some(0));
        assert_eq!(parse_signal("-1"), None);
        assert_eq!(parse_signal("65"), None);
        assert_eq!(parse_signal("NOPE"), None);
        assert_eq!(parse_signal(""), None);
    }

    #[test]
    fn default_socket_paths_follow_spec_section_1() {
        assert_eq!(
            default_socket_path_for(0, Some("/run/user/0".into())),
            PathBuf::from("/run/svinit/control.sock")
        );
        assert_eq!(
            default_socket_path_for(1000, Some("/run/user/1000".into())),
            PathBuf::from("/run/user/1000/svinit/control.sock")
        );
        assert_eq!(
            default_socket_path_for(1000, None),
            PathBuf::from("/tmp/svinit-1000/control.sock")
        );
        // A relative or empty XDG_RUNTIME_DIR is ignored, as the XDG spec says.
        assert_eq!(
            default_socket_path_for(1000, Some("".into())),
            PathBuf::from("/tmp/svinit-1000/control.sock")
        );
        assert_eq!(
            default_socket_path_for(1000, Some("relative".into())),
            PathBuf::from("/tmp/svinit-1000/control.sock")
        );
        assert_eq!(
            socket_path(Some("/x/y.sock".into())),
            PathBuf::from("/x/y.sock")
        );
    }

    #[test]
    fn wall_clock_converts_instants_both_ways() {
        let clock = WallClock {
            instant: Instant::now(),
            system: UNIX_EPOCH + Duration::from_secs(1_000),
        };
        let earlier = clock.instant - Duration::from_millis(1_500);
        assert_eq!(clock.unix_seconds(earlier), 998.5);
        assert_eq!(clock.unix_secs(earlier), 998);
        let later = clock.instant + Duration::from_millis(2_250);
        assert_eq!(clock.unix_seconds(later), 1_002.25);
        assert_eq!(clock.seconds_until(later), 2.25);
        assert_eq!(clock.seconds_until(earlier), 0.0);
    }
}
