//! Service keys: the list of keys a `service` or `defaults` block accepts,
//! and reading one block into a [`ServiceDraft`]: typed values, which keys
//! were given and where, and the located dependency names.

use std::path::PathBuf;
use std::time::Duration;

use kdl::{KdlDocument, KdlEntry, KdlNode};

use super::diagnostic::{Location, Problem};
use super::model::{
    BackoffKind, Command, IdRef, KillMode, Limit, OutputMode, RestartPolicy, ServiceConfig,
    ServiceType, Transcript,
};
use super::shape::{BlockRule, Checker, Shape, value_span, value_text};
use super::template;
use super::values::{self, ValueError, ValueResult};
use crate::graph::DependencyKind;

/// Rotated transcript files kept when `keep=` is not given.
pub(crate) const DEFAULT_TRANSCRIPT_KEEP: u32 = 5;
/// Highest accepted `keep=`.
const MAX_TRANSCRIPT_KEEP: i128 = 1000;

/// Every key a `service` (or `defaults`) block accepts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Key {
    Exec,
    Shell,
    Description,
    Type,
    PidFile,
    Autostart,
    Requires,
    Wants,
    After,
    Before,
    Directory,
    User,
    Group,
    Groups,
    Umask,
    Environment,
    EnvironmentFile,
    ClearEnvironment,
    Transcript,
    Output,
    Tty,
    Restart,
    ExitCodes,
    BackoffLimit,
    Backoff,
    Forever,
    Critical,
    ReadyFd,
    ReadyNotify,
    Watchdog,
    StartTimeout,
    StopSignal,
    StopExec,
    StopShell,
    StopTimeout,
    KillMode,
    Nice,
    Limits,
    Instances,
    ReadyProbe,
    Health,
}

impl Key {
    pub(crate) const ALL: [Key; 41] = [
        Key::Exec,
        Key::Shell,
        Key::Description,
        Key::Type,
        Key::PidFile,
        Key::Autostart,
        Key::Requires,
        Key::Wants,
        Key::After,
        Key::Before,
        Key::Directory,
        Key::User,
        Key::Group,
        Key::Groups,
        Key::Umask,
        Key::Environment,
        Key::EnvironmentFile,
        Key::ClearEnvironment,
        Key::Transcript,
        Key::Output,
        Key::Tty,
        Key::Restart,
        Key::ExitCodes,
        Key::BackoffLimit,
        Key::Backoff,
        Key::Forever,
        Key::Critical,
        Key::ReadyFd,
        Key::ReadyNotify,
        Key::Watchdog,
        Key::StartTimeout,
        Key::StopSignal,
        Key::StopExec,
        Key::StopShell,
        Key::StopTimeout,
        Key::KillMode,
        Key::Nice,
        Key::Limits,
        Key::Instances,
        Key::ReadyProbe,
        Key::Health,
    ];

    /// The name written in unit files, and an example of its use (shown as
    /// a hint when its shape is wrong).
    pub(crate) fn spelling(self) -> (&'static str, &'static str) {
        match self {
            Key::Exec => ("exec", "exec \"/usr/bin/program\" \"--flag\""),
            Key::Shell => ("shell", "shell \"echo hello; sleep 10\""),
            Key::Description => ("description", "description \"Public HTTP frontend\""),
            Key::Type => ("type", "type \"oneshot\""),
            Key::PidFile => ("pid-file", "pid-file \"/run/daemon.pid\""),
            Key::Autostart => ("autostart", "autostart #false"),
            Key::Requires => ("requires", "requires \"db\" \"cache\""),
            Key::Wants => ("wants", "wants \"cache\""),
            Key::After => ("after", "after \"network\""),
            Key::Before => ("before", "before \"web\""),
            Key::Directory => ("directory", "directory \"/srv/www\""),
            Key::User => ("user", "user \"www-data\""),
            Key::Group => ("group", "group \"www-data\""),
            Key::Groups => ("groups", "groups \"audio\" \"video\""),
            Key::Umask => ("umask", "umask 0o027"),
            Key::Environment => ("environment", "environment { LANG \"C.UTF-8\" }"),
            Key::EnvironmentFile => ("environment-file", "environment-file \"/etc/default/web\""),
            Key::ClearEnvironment => ("clear-environment", "clear-environment #true"),
            Key::Transcript => (
                "transcript",
                "transcript \"/var/log/web.log\" max-size=\"10M\" keep=5 timestamps=#true",
            ),
            Key::Output => ("output", "output \"inherit\""),
            Key::Tty => ("tty", "tty \"/dev/tty1\""),
            Key::Restart => ("restart", "restart \"always\""),
            Key::ExitCodes => ("exit-codes", "exit-codes 0 2"),
            Key::BackoffLimit => ("backoff-limit", "backoff-limit \"10s\""),
            Key::Backoff => ("backoff", "backoff \"exponential\""),
            Key::Forever => ("forever", "forever #true"),
            Key::Critical => ("critical", "critical #true"),
            Key::ReadyFd => ("ready-fd", "ready-fd 3"),
            Key::ReadyNotify => ("ready-notify", "ready-notify #true"),
            Key::Watchdog => ("watchdog", "watchdog \"30s\""),
            Key::StartTimeout => ("start-timeout", "start-timeout \"60s\""),
            Key::StopSignal => ("stop-signal", "stop-signal \"TERM\""),
            Key::StopExec => ("stop-exec", "stop-exec \"/usr/sbin/nginx\" \"-s\" \"quit\""),
            Key::StopShell => ("stop-shell", "stop-shell \"pg_ctl stop -D /var/lib/pg\""),
            Key::StopTimeout => ("stop-timeout", "stop-timeout \"10s\""),
            Key::KillMode => ("kill-mode", "kill-mode \"process\""),
            Key::Nice => ("nice", "nice 10"),
            Key::Limits => ("limits", "limits { nofile 65536; core \"unlimited\" }"),
            Key::Instances => ("instances", "instances \"tty1\" \"ttyS0\""),
            Key::ReadyProbe => (
                "ready-probe",
                "ready-probe { connect \"127.0.0.1:80\"; interval \"250ms\" }",
            ),
            Key::Health => (
                "health",
                "health { exec \"curl\" \"-fsS\" \"http://127.0.0.1/\"; retries 3 }",
            ),
        }
    }

    pub(crate) fn name(self) -> &'static str {
        self.spelling().0
    }

    pub(crate) fn from_name(name: &str) -> Option<Key> {
        Key::ALL.into_iter().find(|key| key.name() == name)
    }

    /// Dependency keys may be repeated; their names accumulate.
    pub(crate) fn repeatable(self) -> bool {
        self.dependency_kind().is_some()
    }

    pub(crate) fn dependency_kind(self) -> Option<DependencyKind> {
        match self {
            Key::Requires => Some(DependencyKind::Requires),
            Key::Wants => Some(DependencyKind::Wants),
            Key::After => Some(DependencyKind::After),
            Key::Before => Some(DependencyKind::Before),
            _ => None,
        }
    }

    pub(crate) fn shape(self) -> Shape<'static> {
        let (what, usage) = self.spelling();
        let (min, max) = match self {
            Key::Exec
            | Key::StopExec
            | Key::Requires
            | Key::Wants
            | Key::After
            | Key::Before
            | Key::Groups
            | Key::ExitCodes
            | Key::Instances => (1, usize::MAX),
            Key::Environment | Key::Limits | Key::ReadyProbe | Key::Health => (0, 0),
            _ => (1, 1),
        };
        Shape {
            what,
            usage,
            min,
            max,
            properties: if self == Key::Transcript {
                &["max-size", "keep", "timestamps"]
            } else {
                &[]
            },
            block: match self {
                Key::Environment | Key::Limits | Key::ReadyProbe | Key::Health => {
                    BlockRule::Required
                }
                _ => BlockRule::Forbidden,
            },
        }
    }

    fn bit(self) -> u64 {
        1 << (self as u32)
    }
}

/// The keys a block gave.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct KeySet(u64);

impl KeySet {
    pub(crate) fn contains(self, key: Key) -> bool {
        self.0 & key.bit() != 0
    }

    pub(crate) fn insert(&mut self, key: Key) {
        self.0 |= key.bit();
    }
}

/// One name given to `requires`/`wants`/`after`/`before`, and where.
#[derive(Debug, Clone)]
pub(crate) struct DependencyRef {
    pub(crate) kind: DependencyKind,
    pub(crate) name: String,
    pub(crate) at: Location,
}

/// A service (or the `defaults` block) as read, before merging: the typed
/// values in a `ServiceConfig`, which keys were given, where, and the
/// located dependency names.
#[derive(Debug, Clone)]
pub(crate) struct ServiceDraft {
    pub(crate) config: ServiceConfig,
    pub(crate) given: KeySet,
    /// Given keys whose shape or value was refused (and reported): checks
    /// that depend on them are skipped rather than piled on.
    pub(crate) refused: KeySet,
    /// Keys a service took from `defaults` (empty in `defaults` itself).
    pub(crate) inherited: KeySet,
    /// Where each given key's node name was written (first occurrence).
    pub(crate) key_at: Vec<(Key, Location)>,
    pub(crate) dependencies: Vec<DependencyRef>,
    /// `instances` of a template: each name and where it is written.
    pub(crate) instances: Vec<(String, Location)>,
    /// A `%` other than `%i` or `%%` in a value of each key: reported only
    /// if the block is (or a template inherits it from `defaults`) a template.
    pub(crate) percent_problems: Vec<(Key, Problem)>,
}

impl ServiceDraft {
    fn new(name: &str) -> Self {
        ServiceDraft {
            config: ServiceConfig::new(name, Command::Exec(Vec::new())),
            given: KeySet::default(),
            refused: KeySet::default(),
            inherited: KeySet::default(),
            key_at: Vec::new(),
            dependencies: Vec::new(),
            instances: Vec::new(),
            percent_problems: Vec::new(),
        }
    }

    pub(crate) fn location_of(&self, key: Key) -> Option<&Location> {
        self.key_at
            .iter()
            .find(|(given, _)| *given == key)
            .map(|(_, at)| at)
    }
}

/// Read the keys of a `service` or `defaults` block.
pub(crate) fn read_service_block(
    checker: &mut Checker<'_>,
    service_name: &str,
    block: Option<&KdlDocument>,
) -> ServiceDraft {
    let mut draft = ServiceDraft::new(service_name);
    let Some(block) = block else {
        return draft;
    };
    for node in block.nodes() {
        let key_name = node.name().value();
        let name_at = checker.at(node.name().span());
        let Some(key) = Key::from_name(key_name) else {
            let help = match values::suggest(key_name, Key::ALL.iter().map(|k| k.name())) {
                Some(close) => format!("did you mean `{close}`?"),
                None if key_name == "service" || key_name == "defaults" => {
                    format!("`{key_name}` is a top-level node; it cannot be nested in a block")
                }
                None => "see svinit.kdl(5) for the keys a service accepts".to_owned(),
            };
            checker.push(
                Problem::error(format!("unknown key `{key_name}`"))
                    .label(&name_at, "unknown key")
                    .help(help),
            );
            checker.annotations(node);
            continue;
        };
        if draft.given.contains(key) && !key.repeatable() {
            if let Some(first) = draft.location_of(key).cloned() {
                checker.duplicate(key.name(), node.name().span(), &first);
            }
            continue;
        }
        if !draft.given.contains(key) {
            draft.key_at.push((key, name_at));
        }
        draft.given.insert(key);
        let problems_before = checker.problems.len();
        if let Some(arguments) = checker.read(node, key.shape()) {
            read_key(checker, &mut draft, key, node, &arguments);
        }
        if key != Key::Instances {
            template::find_percent_problems(checker, node, &mut |problem| {
                draft.percent_problems.push((key, problem));
            });
        }
        if checker.problems.len() > problems_before {
            draft.refused.insert(key);
        }
    }
    for &(first, second, help) in EXCLUSIVE_KEYS {
        // `ready-notify #false` says nothing that contradicts `ready-fd`.
        if second == Key::ReadyNotify && !draft.config.ready_notify {
            continue;
        }
        if let (Some(first_at), Some(second_at)) = (
            draft.location_of(first).cloned(),
            draft.location_of(second).cloned(),
        ) {
            let (a, b) = (first.name(), second.name());
            checker.push(
                Problem::error(format!("`{a}` and `{b}` cannot both be given"))
                    .label(&second_at, format!("`{b}` here"))
                    .label(&first_at, format!("`{a}` here"))
                    .help(help),
            );
        }
    }
    draft
}

/// Keys that contradict each other in one block, with the help line.
pub(super) const EXCLUSIVE_KEYS: &[(Key, Key, &str)] = &[
    (
        Key::Exec,
        Key::Shell,
        "keep one: `exec` runs a program directly, `shell` runs a script with /bin/sh -c",
    ),
    (
        Key::ReadyFd,
        Key::ReadyNotify,
        "keep one way to say ready: a newline on `ready-fd` (s6) or READY=1 on NOTIFY_SOCKET (systemd)",
    ),
    (
        Key::StopExec,
        Key::StopShell,
        "keep one way to stop: `stop-exec` runs a program directly, `stop-shell` runs a script with /bin/sh -c",
    ),
    (
        Key::Tty,
        Key::Transcript,
        "a service on a `tty` reads and writes that terminal: its output is not captured, so there is nothing to transcribe",
    ),
    (
        Key::Tty,
        Key::Output,
        "a service on a `tty` reads and writes that terminal: its output is not captured, so `output` does not apply",
    ),
    (
        Key::ReadyProbe,
        Key::ReadyFd,
        "keep one way to say ready: svinit probing it (`ready-probe`) or the service telling (`ready-fd`)",
    ),
    (
        Key::ReadyProbe,
        Key::ReadyNotify,
        "keep one way to say ready: svinit probing it (`ready-probe`) or the service telling (`ready-notify`)",
    ),
];

const SERVICE_TYPES: &[(&str, ServiceType)] = &[
    ("longrun", ServiceType::Longrun),
    ("oneshot", ServiceType::Oneshot),
    ("forking", ServiceType::Forking),
];
const OUTPUT_MODES: &[(&str, OutputMode)] = &[
    ("prefix", OutputMode::Prefix),
    ("inherit", OutputMode::Inherit),
    ("null", OutputMode::Null),
    ("syslog", OutputMode::Syslog),
];
const RESTART_POLICIES: &[(&str, RestartPolicy)] = &[
    ("on-failure", RestartPolicy::OnFailure),
    ("always", RestartPolicy::Always),
    ("never", RestartPolicy::Never),
];
const BACKOFF_KINDS: &[(&str, BackoffKind)] = &[
    ("linear", BackoffKind::Linear),
    ("exponential", BackoffKind::Exponential),
];
const KILL_MODES: &[(&str, KillMode)] =
    &[("group", KillMode::Group), ("process", KillMode::Process)];

// Entry → value conversions, for `Checker::value` and `Checker::set`.

fn boolean(entry: &KdlEntry) -> ValueResult<bool> {
    values::boolean(entry.value())
}

fn duration(entry: &KdlEntry) -> ValueResult<Duration> {
    values::duration(entry.value())
}

fn absolute_path(entry: &KdlEntry) -> ValueResult<PathBuf> {
    values::absolute_path(entry.value())
}

fn owned_string(entry: &KdlEntry) -> ValueResult<String> {
    values::string(entry.value()).map(str::to_owned)
}

pub(super) fn os_string(entry: &KdlEntry) -> ValueResult<String> {
    values::os_string(entry.value()).map(str::to_owned)
}

pub(super) fn nonzero_duration(
    key: &'static str,
    help: &'static str,
) -> impl Fn(&KdlEntry) -> ValueResult<Duration> {
    move |entry| match duration(entry)? {
        zero if zero.is_zero() => {
            Err(ValueError::new(format!("`{key}` cannot be zero"), "zero").with_help(help))
        }
        nonzero => Ok(nonzero),
    }
}

fn one_of<T: Copy>(choices: &[(&str, T)]) -> impl FnOnce(&KdlEntry) -> ValueResult<T> {
    move |entry| values::choice(entry.value(), choices)
}

fn integer_in(min: i128, max: i128) -> impl Fn(&KdlEntry) -> ValueResult<i32> {
    move |entry| values::integer_in(entry.value(), min, max).map(|n| n as i32)
}

/// Read one key's arguments (shape already checked) into the draft.
fn read_key(
    checker: &mut Checker<'_>,
    draft: &mut ServiceDraft,
    key: Key,
    node: &KdlNode,
    arguments: &[&KdlEntry],
) {
    let config = &mut draft.config;
    let Some(&first) = arguments.first() else {
        // Only the block keys take no argument.
        match key {
            Key::Environment => read_environment(checker, draft, node.children()),
            Key::Limits => read_limits(checker, draft, node.children()),
            Key::ReadyProbe => {
                draft.config.ready_probe = super::probe::read_probe(checker, node);
            }
            Key::Health => draft.config.health = super::probe::read_health(checker, node),
            _ => {}
        }
        return;
    };
    match key {
        Key::Exec => {
            if let Some(command) = read_exec(checker, key, arguments) {
                config.command = command;
            }
        }
        Key::Shell => {
            if let Some(command) = read_shell(checker, key, first) {
                config.command = command;
            }
        }
        Key::StopExec => config.stop_command = read_exec(checker, key, arguments),
        Key::StopShell => config.stop_command = read_shell(checker, key, first),
        Key::Description => config.description = checker.value(first, owned_string),
        Key::Type => checker.set(first, one_of(SERVICE_TYPES), &mut config.service_type),
        Key::PidFile => config.pid_file = checker.value(first, absolute_path),
        Key::Autostart => checker.set(first, boolean, &mut config.autostart),
        Key::Requires | Key::Wants | Key::After | Key::Before => {
            let Some(kind) = key.dependency_kind() else {
                return;
            };
            for entry in arguments {
                if let Some(name) = checker.value(entry, owned_string) {
                    let at = checker.at(entry.span());
                    draft.dependencies.push(DependencyRef { kind, name, at });
                }
            }
        }
        Key::Directory => config.directory = checker.value(first, absolute_path),
        Key::User => config.user = checker.value(first, |e| values::id_ref(e.value(), "user")),
        Key::Group => config.group = checker.value(first, |e| values::id_ref(e.value(), "group")),
        Key::Groups => {
            let groups: Vec<Option<IdRef>> = arguments
                .iter()
                .map(|entry| checker.value(entry, |e| values::id_ref(e.value(), "group")))
                .collect();
            config.groups = groups.into_iter().collect();
        }
        Key::Umask => {
            config.umask = checker.value(first, |e| values::umask(e.value(), value_text(e)));
        }
        Key::EnvironmentFile => config.environment_file = checker.value(first, absolute_path),
        Key::ClearEnvironment => checker.set(first, boolean, &mut config.clear_environment),
        Key::Transcript => config.transcript = read_transcript(checker, node, first),
        Key::Output => checker.set(first, one_of(OUTPUT_MODES), &mut config.output),
        Key::Tty => config.tty = checker.value(first, absolute_path),
        Key::Restart => checker.set(first, one_of(RESTART_POLICIES), &mut config.restart),
        Key::ExitCodes => {
            let codes: Vec<Option<i32>> = arguments
                .iter()
                .map(|entry| checker.value(entry, integer_in(0, 255)))
                .collect();
            if let Some(codes) = codes.into_iter().collect() {
                config.exit_codes = codes;
            }
        }
        Key::BackoffLimit => checker.set(first, duration, &mut config.backoff_limit),
        Key::Backoff => checker.set(first, one_of(BACKOFF_KINDS), &mut config.backoff),
        Key::Forever => checker.set(first, boolean, &mut config.forever),
        Key::Critical => checker.set(first, boolean, &mut config.critical),
        Key::ReadyFd => {
            config.ready_fd = checker.value(first, |e| {
                integer_in(3, i32::MAX.into())(e).map_err(|error| {
                    error.with_help("fds 0, 1 and 2 are stdin, stdout and stderr; use 3 or more")
                })
            });
        }
        Key::ReadyNotify => checker.set(first, boolean, &mut config.ready_notify),
        Key::Watchdog => {
            let help =
                "leave `watchdog` out for no watchdog, or give the longest silence, e.g. \"30s\"";
            config.watchdog = checker.value(first, nonzero_duration("watchdog", help));
        }
        Key::StartTimeout => {
            let help = "give the service time to become ready, e.g. \"60s\"";
            checker.set(
                first,
                nonzero_duration("start-timeout", help),
                &mut config.start_timeout,
            );
        }
        Key::StopSignal => checker.set(
            first,
            |e| values::signal(e.value()),
            &mut config.stop_signal,
        ),
        Key::StopTimeout => checker.set(first, duration, &mut config.stop_timeout),
        Key::KillMode => checker.set(first, one_of(KILL_MODES), &mut config.kill_mode),
        Key::Nice => config.nice = checker.value(first, integer_in(-20, 19)),
        Key::Instances => read_instances(checker, draft, arguments),
        Key::Environment | Key::Limits | Key::ReadyProbe | Key::Health => {}
    }
}

/// `instances "tty1" "ttyS0"`: valid instance names, each once.
fn read_instances(checker: &mut Checker<'_>, draft: &mut ServiceDraft, arguments: &[&KdlEntry]) {
    for entry in arguments {
        let Some(instance) = checker.value(entry, |e| {
            let name = values::string(e.value())?;
            template::instance_name_error(name).map_or(Ok(name.to_owned()), Err)
        }) else {
            continue;
        };
        let at = checker.at(value_span(entry));
        if let Some((_, first)) = draft.instances.iter().find(|(seen, _)| *seen == instance) {
            let first = first.clone();
            checker.push(
                Problem::error(format!("instance `{instance}` is given twice"))
                    .label(&at, "given again here")
                    .label(&first, "first given here")
                    .help("each instance is created once; remove one of them"),
            );
            continue;
        }
        draft.instances.push((instance, at));
    }
}

/// `exec ARGS…` (or `stop-exec`): an argv whose program is not empty.
fn read_exec(checker: &mut Checker<'_>, key: Key, arguments: &[&KdlEntry]) -> Option<Command> {
    let argv: Vec<String> = arguments
        .iter()
        .map(|entry| checker.value(entry, os_string))
        .collect::<Vec<_>>()
        .into_iter()
        .collect::<Option<_>>()?;
    match argv.first() {
        Some(program) if !program.is_empty() => Some(Command::Exec(argv)),
        _ => {
            if let Some(&first) = arguments.first() {
                checker.value_problem(
                    first,
                    ValueError::new(
                        format!("the program of `{}` is empty", key.name()),
                        "empty program",
                    )
                    .with_help("give a program name or path, e.g. \"/usr/bin/env\""),
                );
            }
            None
        }
    }
}

/// `shell SCRIPT` (or `stop-shell`): a script that is not blank.
fn read_shell(checker: &mut Checker<'_>, key: Key, entry: &KdlEntry) -> Option<Command> {
    let script = checker.value(entry, os_string)?;
    if script.trim().is_empty() {
        checker.value_problem(
            entry,
            ValueError::new(
                format!("the script of `{}` is empty", key.name()),
                "empty script",
            ),
        );
        return None;
    }
    Some(Command::Shell(script))
}

/// `transcript PATH max-size=… keep=… timestamps=…`.
fn read_transcript(
    checker: &mut Checker<'_>,
    node: &KdlNode,
    path_entry: &KdlEntry,
) -> Option<Transcript> {
    let path = checker.value(path_entry, absolute_path);
    let mut ok = path.is_some();
    let mut transcript = Transcript {
        path: path.unwrap_or_default(),
        max_size: None,
        keep: DEFAULT_TRANSCRIPT_KEEP,
        timestamps: false,
    };
    for property in node.entries() {
        let Some(name) = property.name() else {
            continue;
        };
        match name.value() {
            "max-size" => {
                let size = checker.value(property, |e| {
                    let size = values::size(e.value())?;
                    if size == 0 {
                        return Err(ValueError::new("`max-size` cannot be zero", "zero")
                            .with_help("leave out `max-size` to never rotate"));
                    }
                    Ok(size)
                });
                ok &= size.is_some();
                transcript.max_size = size;
            }
            "keep" => {
                let keep = checker.value(property, |e| {
                    values::integer_in(e.value(), 0, MAX_TRANSCRIPT_KEEP).map(|k| k as u32)
                });
                ok &= keep.is_some();
                transcript.keep = keep.unwrap_or(DEFAULT_TRANSCRIPT_KEEP);
            }
            "timestamps" => {
                let on = checker.value(property, boolean);
                ok &= on.is_some();
                transcript.timestamps = on.unwrap_or(false);
            }
            // Unknown properties were reported by the shape check.
            _ => {}
        }
    }
    ok.then_some(transcript)
}

/// A portable environment variable name: letters, digits and `_`, not
/// starting with a digit.
fn is_environment_name(name: &str) -> bool {
    let mut chars = name.chars();
    chars
        .next()
        .is_some_and(|first| first.is_ascii_alphabetic() || first == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

/// `environment { NAME "value" … }`.
fn read_environment(
    checker: &mut Checker<'_>,
    draft: &mut ServiceDraft,
    block: Option<&KdlDocument>,
) {
    let Some(block) = block else {
        return;
    };
    let mut seen: Vec<(&str, Location)> = Vec::new();
    for variable in block.nodes() {
        let name = variable.name().value();
        let name_at = checker.at(variable.name().span());
        let arguments = checker.read(variable, Shape::values(name, "NAME \"value\"", 1, 1));
        if !is_environment_name(name) {
            checker.push(
                Problem::error(format!("invalid environment variable name `{name}`"))
                    .label(&name_at, "invalid name")
                    .help(
                        "names are made of letters, digits and `_`, and do not start with a digit",
                    ),
            );
            continue;
        }
        if let Some((_, first)) = seen.iter().find(|(seen_name, _)| *seen_name == name) {
            checker.duplicate(name, variable.name().span(), first);
            continue;
        }
        seen.push((name, name_at));
        let Some(value_entry) = arguments.and_then(|a| a.first().copied()) else {
            continue;
        };
        if let Some(value) = checker.value(value_entry, os_string) {
            draft.config.environment.push((name.to_owned(), value));
        }
    }
}

const LIMIT_USAGE: &str = "nofile 65536 (soft = hard) or nofile 1024 65536 (soft, hard)";

/// `limits { nofile 65536; core "unlimited"; nproc 100 200 }`.
fn read_limits(checker: &mut Checker<'_>, draft: &mut ServiceDraft, block: Option<&KdlDocument>) {
    let Some(block) = block else {
        return;
    };
    let mut seen: Vec<(&str, Location)> = Vec::new();
    for limit_node in block.nodes() {
        let name = limit_node.name().value();
        let name_at = checker.at(limit_node.name().span());
        let arguments = checker.read(limit_node, Shape::values(name, LIMIT_USAGE, 1, 2));
        let Some(&(_, resource)) = values::LIMIT_NAMES.iter().find(|(n, _)| *n == name) else {
            let known = values::LIMIT_NAMES.iter().map(|(n, _)| *n);
            let help = match values::suggest(name, known) {
                Some(close) => format!("did you mean `{close}`?"),
                None => format!(
                    "known limits: {}",
                    values::LIMIT_NAMES
                        .iter()
                        .map(|(n, _)| *n)
                        .collect::<Vec<_>>()
                        .join(", ")
                ),
            };
            checker.push(
                Problem::error(format!("unknown limit `{name}`"))
                    .label(&name_at, "unknown limit")
                    .help(help),
            );
            continue;
        };
        if let Some((_, first)) = seen.iter().find(|(seen_name, _)| *seen_name == name) {
            checker.duplicate(name, limit_node.name().span(), first);
            continue;
        }
        seen.push((name, name_at));
        let Some(arguments) = arguments else {
            continue;
        };
        let parsed: Vec<Option<Option<u64>>> = arguments
            .iter()
            .map(|entry| checker.value(entry, |e| values::limit_value(e.value(), name)))
            .collect();
        let (soft, hard) = match parsed.as_slice() {
            [Some(both)] => (*both, *both),
            [Some(soft), Some(hard)] => (*soft, *hard),
            _ => continue,
        };
        let soft_above_hard = match (soft, hard) {
            (None, Some(_)) => true,
            (Some(soft), Some(hard)) => soft > hard,
            _ => false,
        };
        if soft_above_hard {
            let mut problem = Problem::error(format!(
                "the soft limit of `{name}` is above its hard limit"
            ));
            if let [soft_entry, hard_entry] = arguments.as_slice() {
                problem = problem
                    .label(&checker.at(soft_entry.span()), "soft limit")
                    .label(&checker.at(hard_entry.span()), "hard limit");
            }
            checker.push(problem.help("the first value is the soft limit, the second the hard limit; soft must not exceed hard"));
            continue;
        }
        draft.config.limits.push(Limit {
            resource,
            soft,
            hard,
        });
    }
}
