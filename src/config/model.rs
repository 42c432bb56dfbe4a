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
    pub control: ControlConfig,
    /// Global deadline for an orderly shutdown; `None`: no global deadline,
    /// each service's `stop-timeout` still applies.
    pub shutdown_timeout: Option<Duration>,
}

impl Config {
    pub fn service(&self, name: &str) -> Option<&ServiceConfig> {
        self.services.iter().find(|s| s.name == name)
    }
}

/// The `control` node: who may use the socket besides root and svinit's user.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct ControlConfig {
    pub group: Option<IdRef>,
    pub read_group: Option<IdRef>,
}

/// A user or group given by name or by number.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum IdRef {
    Name(String),
    Id(u32),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Command {
    /// argv; `argv[0]` is looked up on PATH when it has no `/`.
    Exec(Vec<String>),
    /// Run as `/bin/sh -c SCRIPT`.
    Shell(String),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ServiceType {
    #[default]
    Longrun,
    Oneshot,
    Forking,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RestartPolicy {
    OnFailure,
    Always,
    Never,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum BackoffKind {
    #[default]
    Linear,
    Exponential,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum OutputMode {
    #[default]
    Prefix,
    Inherit,
    Null,
    Syslog,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum KillMode {
    #[default]
    Group,
    Process,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Transcript {
    pub path: PathBuf,
    /// Rotate when the file would grow past this many bytes.
    pub max_size: Option<u64>,
    /// Rotated files kept: `PATH.1` … `PATH.keep`.
    pub keep: u32,
    pub timestamps: bool,
}

/// One rlimit: `limits { nofile 65536 }` sets soft = hard; `nofile 1024 65536` sets both.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limit {
    /// `libc::RLIMIT_*` resource number.
    pub resource: i32,
    /// `None` = unlimited.
    pub soft: Option<u64>,
    pub hard: Option<u64>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct ServiceConfig {
    pub name: String,
    pub description: Option<String>,
    pub command: Command,
    pub service_type: ServiceType,
    pub pid_file: Option<PathBuf>,
    pub autostart: bool,
    pub requires: Vec<String>,
    pub wants: Vec<String>,
    pub after: Vec<String>,
    pub before: Vec<String>,
    pub directory: Option<PathBuf>,
    pub user: Option<IdRef>,
    pub group: Option<IdRef>,
    pub groups: Option<Vec<IdRef>>,
    pub umask: Option<u32>,
    /// `environment { NAME "value" }` in declaration order.
    pub environment: Vec<(String, String)>,
    pub environment_file: Option<PathBuf>,
    pub clear_environment: bool,
    pub transcript: Option<Transcript>,
    pub output: OutputMode,
    pub tty: Option<PathBuf>,
    /// Already resolved: on-failure for longrun/forking, never for oneshot unless given.
    pub restart: RestartPolicy,
    pub exit_codes: Vec<i32>,
    pub backoff_limit: Duration,
    pub backoff: BackoffKind,
    pub forever: bool,
    pub critical: bool,
    pub ready_fd: Option<i32>,
    pub ready_notify: bool,
    /// `ready-notify` only: `WATCHDOG=1` at least this often once `up`.
    pub watchdog: Option<Duration>,
    pub start_timeout: Duration,
    /// Signal number (`libc::SIGTERM` …).
    pub stop_signal: i32,
    pub stop_timeout: Duration,
    pub kill_mode: KillMode,
    pub nice: Option<i32>,
    pub limits: Vec<Limit>,
}

impl ServiceConfig {
    /// A service with every key at its default, running `command`.
    /// The loader starts from this; tests build configs with it.
    pub fn new(name: impl Into<String>, command: Command) -> Self {
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
            stop_timeout: Duration::from_secs(10),
            kill_mode: KillMode::Group,
            nice: None,
            limits: Vec::new(),
        }
    }
}
