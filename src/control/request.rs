//! Requests: the commands a client sends, one JSON object a line, and how
//! a line is parsed into one with a precise error for each way it can be
//! wrong (too long, not JSON, wrong version, unknown command, bad
//! arguments). Also how `kill` names its signal.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use super::{ErrorKind, PROTOCOL_VERSION, ProtocolError};

/// A request line longer than this (without its newline) is refused.
pub const MAX_REQUEST_BYTES: usize = 64 * 1024;

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
    /// lines ([`LogsReport`](super::LogsReport), stream lines without
    /// `service`, the form of svinit 0.1). Else `names`, or every service
    /// whose output is kept when empty: the lines of all, in the order they
    /// arrived, each with its service
    /// ([`MergedLogsReport`](super::MergedLogsReport), stream lines with
    /// `service`).
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
    /// Every run of this boot, for `svctl plot`'s timeline.
    Plot,
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
    "blame", "plot", "poweroff", "reboot", "halt", "shutdown",
];

const ARGUMENTLESS_COMMANDS: &[&str] = &["blame", "plot", "poweroff", "reboot", "halt", "shutdown"];

impl Request {
    /// The `cmd` string of this request.
    pub(crate) fn command(&self) -> &'static str {
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
            Request::Plot => "plot",
            Request::Poweroff => "poweroff",
            Request::Reboot => "reboot",
            Request::Halt => "halt",
            Request::Shutdown => "shutdown",
        }
    }

    /// What members of `control read-group=` may ask (SPEC.md §5).
    pub(crate) fn is_read_only(&self) -> bool {
        matches!(
            self,
            Request::Status { .. }
                | Request::Logs { .. }
                | Request::Events { .. }
                | Request::Tree { .. }
                | Request::Blame
                | Request::Plot
        )
    }

    /// Whether the request asks for a stream that stays open (`events`
    /// followed, `logs -f`).
    pub(crate) fn follows(&self) -> bool {
        matches!(
            self,
            Request::Events { follow: true, .. } | Request::Logs { follow: true, .. }
        )
    }

    /// A short human description for the audit log: `stop web db`.
    pub(crate) fn summary(&self) -> String {
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
            | Request::Plot
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
pub(super) fn truncate(text: &str, max: usize) -> String {
    match text.char_indices().nth(max) {
        Some((cut, _)) => format!("{}…", &text[..cut]),
        None => text.to_string(),
    }
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
