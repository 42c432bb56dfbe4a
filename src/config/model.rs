//! The typed configuration: what a set of unit files means once parsed and
//! validated. Plain data with defaults already applied; no spans, no I/O.
//! The supervisor, spawn and runtime read only these types.

use std::path::PathBuf;
use std::time::Duration;

/// A whole validated configuration (all `*.kdl` files of a directory, merged).
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Config {
    /// Services in declaration order (files in name order, nodes in file order).
    pub services: Vec<ServiceConfig>,
    pub(crate) control: ControlConfig,
    /// Global deadline for an orderly shutdown; `None`: no global deadline,
    /// each service's `stop-timeout` still applies.
    pub(crate) shutdown_timeout: Option<Duration>,
    /// Templates (`service "NAME@"`), `defaults` merged, `%i` not yet
    /// replaced: never run themselves, each instance is one of `services`.
    pub(crate) templates: Vec<ServiceConfig>,
}

impl Config {
    pub fn service(&self, name: &str) -> Option<&ServiceConfig> {
        self.services.iter().find(|s| s.name == name)
    }

    /// The template named `name` (`"getty@"`), if there is one.
    pub(crate) fn template(&self, name: &str) -> Option<&ServiceConfig> {
        self.templates.iter().find(|t| t.name == name)
    }
}

/// The `control` node: who may use the socket besides root and svinit's user.
#[derive(Debug, Clone, PartialEq, Default)]
pub(crate) struct ControlConfig {
    pub(crate) group: Option<IdRef>,
    pub(crate) read_group: Option<IdRef>,
}

/// A user or group given by name or by number.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub(crate) enum IdRef {
    Name(String),
    Id(u32),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Command {
    /// argv; `argv[0]` is looked up on PATH when it has no `/`.
    Exec(Vec<String>),
    /// Run as `/bin/sh -c SCRIPT`.
    Shell(String),
}

/// `ready-probe { … }`: one check and its timing (SPEC §3 *Probes*).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Probe {
    pub(crate) check: ProbeCheck,
    /// From the end of one probe to the start of the next.
    pub(crate) interval: Duration,
    /// A probe running longer has failed (its process group is SIGKILLed).
    pub(crate) timeout: Duration,
}

pub(crate) const DEFAULT_PROBE_INTERVAL: Duration = Duration::from_secs(1);
pub(crate) const DEFAULT_HEALTH_INTERVAL: Duration = Duration::from_secs(30);
pub(crate) const DEFAULT_HEALTH_RETRIES: u32 = 3;

/// `health { … }`: a probe while `up`, and what failing it does.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Health {
    pub(crate) probe: Probe,
    /// Failures in a row that carry out `on_failure` (at least 1).
    pub(crate) retries: u32,
    /// Failures this soon after `up` do not count.
    pub(crate) start_period: Duration,
    pub(crate) on_failure: HealthAction,
}

/// `on-failure` of `health`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum HealthAction {
    /// Stop it; its exit is a crash (backoff, restart).
    Restart,
    /// Stop it and leave it `failed`.
    Stop,
    /// Leave it `up`, `unhealthy`.
    Log,
}
pub(crate) const DEFAULT_PROBE_TIMEOUT: Duration = Duration::from_secs(5);

/// What a probe does; it passes on a successful connect or exit status 0.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum ProbeCheck {
    Connect(ConnectTarget),
    /// Run with the service's user, group, directory, environment, umask.
    Command(Command),
}

/// A literal address: no name lookup in PID 1.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum ConnectTarget {
    Tcp(std::net::SocketAddr),
    Unix(PathBuf),
}

impl std::fmt::Display for ConnectTarget {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ConnectTarget::Tcp(address) => write!(f, "{address}"),
            ConnectTarget::Unix(path) => write!(f, "{}", path.display()),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub(crate) enum ServiceType {
    #[default]
    Longrun,
    Oneshot,
    Forking,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum RestartPolicy {
    OnFailure,
    Always,
    Never,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub(crate) enum BackoffKind {
    #[default]
    Linear,
    Exponential,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub(crate) enum OutputMode {
    #[default]
    Prefix,
    Inherit,
    Null,
    Syslog,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub(crate) enum KillMode {
    #[default]
    Group,
    Process,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Transcript {
    pub(crate) path: PathBuf,
    /// Rotate when the file would grow past this many bytes.
    pub(crate) max_size: Option<u64>,
    /// Rotated files kept: `PATH.1` … `PATH.keep`.
    pub(crate) keep: u32,
    pub(crate) timestamps: bool,
}

/// One rlimit: `limits { nofile 65536 }` sets soft = hard; `nofile 1024 65536` sets both.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Limit {
    /// `libc::RLIMIT_*` resource number.
    pub(crate) resource: i32,
    /// `None` = unlimited.
    pub(crate) soft: Option<u64>,
    pub(crate) hard: Option<u64>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct ServiceConfig {
    pub(crate) name: String,
    pub(crate) description: Option<String>,
    pub(crate) command: Command,
    pub(crate) service_type: ServiceType,
    /// `type "forking"`: read to find the daemon; a longrun: written by
    /// svinit (never on a oneshot).
    pub(crate) pid_file: Option<PathBuf>,
    pub(crate) autostart: bool,
    pub requires: Vec<String>,
    pub wants: Vec<String>,
    pub(crate) after: Vec<String>,
    pub(crate) before: Vec<String>,
    pub(crate) directory: Option<PathBuf>,
    pub(crate) user: Option<IdRef>,
    pub(crate) group: Option<IdRef>,
    pub(crate) groups: Option<Vec<IdRef>>,
    pub(crate) umask: Option<u32>,
    /// `environment { NAME "value" }` in declaration order.
    pub(crate) environment: Vec<(String, String)>,
    pub(crate) environment_file: Option<PathBuf>,
    pub(crate) clear_environment: bool,
    pub(crate) transcript: Option<Transcript>,
    pub(crate) output: OutputMode,
    pub(crate) tty: Option<PathBuf>,
    /// Already resolved: on-failure for longrun/forking, never for oneshot unless given.
    pub(crate) restart: RestartPolicy,
    pub(crate) exit_codes: Vec<i32>,
    pub(crate) backoff_limit: Duration,
    pub(crate) backoff: BackoffKind,
    pub(crate) forever: bool,
    pub(crate) critical: bool,
    pub(crate) ready_fd: Option<i32>,
    pub(crate) ready_notify: bool,
    /// `ready-notify` only: `WATCHDOG=1` at least this often once `up`.
    pub(crate) watchdog: Option<Duration>,
    pub(crate) start_timeout: Duration,
    /// Signal number (`libc::SIGTERM` …).
    pub(crate) stop_signal: i32,
    /// `stop-exec` / `stop-shell`: run instead of sending `stop_signal`.
    pub(crate) stop_command: Option<Command>,
    pub(crate) stop_timeout: Duration,
    pub(crate) kill_mode: KillMode,
    pub(crate) nice: Option<i32>,
    pub(crate) limits: Vec<Limit>,
    /// Readiness by probing: `starting` until a probe passes.
    pub(crate) ready_probe: Option<Probe>,
    /// Liveness by probing while `up`.
    pub(crate) health: Option<Health>,
}

impl ServiceConfig {
    /// Every name its `requires`, `wants`, `after` and `before` give.
    pub(crate) fn dependency_names(&self) -> impl Iterator<Item = &String> {
        [&self.requires, &self.wants, &self.after, &self.before]
            .into_iter()
            .flatten()
    }

    /// A service with every key at its default, running `command`.
    /// The loader starts from this; tests build configs with it.
    pub(crate) fn new(name: impl Into<String>, command: Command) -> Self {
        ServiceConfig {
            name: name.into(),
            description: None,
            command,
            service_type: ServiceType::Longrun,
            pid_file: None,
            autostart: true,
            requires: Vec::new(),
            wants: Vec::new(),
            after: Vec::new(),
            before: Vec::new(),
            directory: None,
            user: None,
            group: None,
            groups: None,
            umask: None,
            environment: Vec::new(),
            environment_file: None,
            clear_environment: false,
            transcript: None,
            output: OutputMode::Prefix,
            tty: None,
            restart: RestartPolicy::OnFailure,
            exit_codes: vec![0],
            backoff_limit: Duration::from_secs(10),
            backoff: BackoffKind::Linear,
            forever: false,
            critical: false,
            ready_fd: None,
            ready_notify: false,
            watchdog: None,
            start_timeout: Duration::from_secs(60),
            stop_signal: libc::SIGTERM,
            stop_command: None,
            stop_timeout: Duration::from_secs(10),
            kill_mode: KillMode::Group,
            nice: None,
            limits: Vec::new(),
            ready_probe: None,
            health: None,
        }
    }
}
