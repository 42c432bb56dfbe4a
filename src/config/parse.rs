//! Service keys: reading one `service` or `defaults` block into a
//! [`ServiceDraft`] (typed values plus where each key was written), merging
//! `defaults` into a service, and the per-service checks done once the
//! merge is complete (`restart` default, command present, `pid-file` only
//! with `forking`). Also the node-shape checks (arguments, properties,
//! children, annotations) shared with the top-level reader.

use kdl::{KdlDocument, KdlEntry, KdlNode};
use miette::SourceSpan;

use super::diagnostic::{Location, Problem, SourceFile};
use super::model::{
    BackoffKind, Command, KillMode, Limit, OutputMode, RestartPolicy, ServiceConfig, ServiceType,
    Transcript,
};
use super::values::{self, ValueError, ValueResult};
use crate::graph::DependencyKind;

/// Rotated transcript files kept when `keep=` is not given.
pub const DEFAULT_TRANSCRIPT_KEEP: u32 = 5;
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
    StartTimeout,
    StopSignal,
    StopTimeout,
    KillMode,
    Nice,
    Limits,
}

impl Key {
    pub const ALL: [Key; 35] = [
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
        Key::StartTimeout,
        Key::StopSignal,
        Key::StopTimeout,
        Key::KillMode,
        Key::Nice,
        Key::Limits,
    ];

    /// The name written in unit files, and an example of its use (shown as
    /// a hint when its shape is wrong).
    pub fn spelling(self) -> (&'static str, &'static str) {
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
            Key::StartTimeout => ("start-timeout", "start-timeout \"60s\""),
            Key::StopSignal => ("stop-signal", "stop-signal \"TERM\""),
            Key::StopTimeout => ("stop-timeout", "stop-timeout \"10s\""),
            Key::KillMode => ("kill-mode", "kill-mode \"process\""),
            Key::Nice => ("nice", "nice 10"),
            Key::Limits => ("limits", "limits { nofile 65536; core \"unlimited\" }"),
        }
    }

    pub fn name(self) -> &'static str {
        self.spelling().0
    }

    pub fn from_name(name: &str) -> Option<Key> {
        Key::ALL.into_iter().find(|key| key.name() == name)
    }

    /// Dependency keys may be repeated; their names accumulate.
    pub fn repeatable(self) -> bool {
        self.dependency_kind().is_some()
    }

    pub fn dependency_kind(self) -> Option<DependencyKind> {
        match self {
            Key::Requires => Some(DependencyKind::Requires),
            Key::Wants => Some(DependencyKind::Wants),
            Key::After => Some(DependencyKind::After),
            Key::Before => Some(DependencyKind::Before),
            _ => None,
        }
    }

    fn shape(self) -> Shape<'static> {
        let (what, usage) = self.spelling();
        let (min, max) = match self {
            Key::Exec
            | Key::Requires
            | Key::Wants
            | Key::After
            | Key::Before
            | Key::Groups
            | Key::ExitCodes => (1, usize::MAX),
            Key::Environment | Key::Limits => (0, 0),
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
                Key::Environment | Key::Limits => BlockRule::Required,
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
    pub fn contains(self, key: Key) -> bool {
        self.0 & key.bit() != 0
    }

    pub fn insert(&mut self, key: Key) {
        self.0 |= key.bit();
    }
}

/// One name given to `requires`/`wants`/`after`/`before`, and where.
#[derive(Debug, Clone)]
pub(crate) struct DependencyRef {
    pub kind: DependencyKind,
    pub name: String,
    pub at: Location,
}

/// A service (or the `defaults` block) as read, before merging: the typed
/// values in a `ServiceConfig`, which keys were given, where, and the
/// located dependency names.
#[derive(Debug, Clone)]
pub(crate) struct ServiceDraft {
    pub config: ServiceConfig,
    pub given: KeySet,
    /// Where each given key's node name was written (first occurrence).
    pub key_at: Vec<(Key, Location)>,
    pub dependencies: Vec<DependencyRef>,
    /// Where each environment variable / limit was written, by name.
    environment_at: Vec<Location>,
    limits_at: Vec<Location>,
}

impl ServiceDraft {
    fn new(name: &str) -> Self {
        ServiceDraft {
            config: ServiceConfig::new(name, Command::Exec(Vec::new())),
            given: KeySet::default(),
            key_at: Vec::new(),
            dependencies: Vec::new(),
            environment_at: Vec::new(),
            limits_at: Vec::new(),
        }
    }

    pub fn location_of(&self, key: Key) -> Option<&Location> {
        self.key_at
            .iter()
            .find(|(given, _)| *given == key)
            .map(|(_, at)| at)
    }
}

/// What a node must look like: its positional argument count, the
/// properties it accepts, whether it has a `{ … }` block.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Shape<'s> {
    pub what: &'s str,
    pub usage: &'s str,
    pub min: usize,
    pub max: usize,
    pub properties: &'s [&'s str],
    pub block: BlockRule,
}

/// Whether a node has a `{ … }` block.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum BlockRule {
    Forbidden,
    Required,
    /// Allowed and not reported when absent (the caller decides).
    Optional,
}

/// Reports problems of one file while its nodes are read.
pub(crate) struct Checker<'a> {
    pub file: &'a SourceFile,
    pub problems: &'a mut Vec<Problem>,
}

/// The span of an entry's value alone (without `key=` for a property).
pub(crate) fn value_span(entry: &KdlEntry) -> SourceSpan {
    let span = entry.span();
    let Some(format) = entry.format() else {
        return span;
    };
    let value_len = format.value_repr.len();
    if entry.name().is_some() && value_len > 0 && value_len <= span.len() {
        SourceSpan::new((span.offset() + span.len() - value_len).into(), value_len)
    } else {
        span
    }
}

/// How the value was written in the source (`0o027`, `"10s"`).
fn value_text(entry: &KdlEntry) -> &str {
    entry
        .format()
        .map_or("", |format| format.value_repr.as_str())
}

impl Checker<'_> {
    pub fn at(&self, span: SourceSpan) -> Location {
        Location::new(self.file, span)
    }

    pub fn push(&mut self, problem: Problem) {
        self.problems.push(problem);
    }

    /// Report a refused value at the value's span.
    pub fn value_problem(&mut self, entry: &KdlEntry, error: ValueError) {
        let at = self.at(value_span(entry));
        self.push(
            Problem::error(error.message)
                .label(&at, error.label)
                .maybe_help(error.help),
        );
    }

    /// Convert an entry's value, reporting a problem when it is refused.
    pub fn value<T>(
        &mut self,
        entry: &KdlEntry,
        convert: impl FnOnce(&KdlEntry) -> ValueResult<T>,
    ) -> Option<T> {
        match convert(entry) {
            Ok(value) => Some(value),
            Err(error) => {
                self.value_problem(entry, error);
                None
            }
        }
    }

    /// Check `node` against `shape`, reporting everything wrong with it;
    /// the positional arguments when their count fits (and, for a block
    /// node, the block is there).
    pub fn read<'n>(&mut self, node: &'n KdlNode, shape: Shape<'_>) -> Option<Vec<&'n KdlEntry>> {
        self.annotations(node);
        let name_at = self.at(node.name().span());
        let mut arguments = Vec::new();
        let mut seen_properties: Vec<(&str, SourceSpan)> = Vec::new();
        for entry in node.entries() {
            let Some(property) = entry.name() else {
                arguments.push(entry);
                continue;
            };
            let property_name = property.value();
            let property_at = self.at(entry.span());
            if !shape.properties.contains(&property_name) {
                let help = match values::suggest(property_name, shape.properties.iter().copied()) {
                    Some(close) => format!("did you mean `{close}=`?"),
                    None if shape.properties.is_empty() => {
                        format!("`{}` takes no properties: {}", shape.what, shape.usage)
                    }
                    None => format!(
                        "`{}` accepts {}",
                        shape.what,
                        shape
                            .properties
                            .iter()
                            .map(|p| format!("`{p}=`"))
                            .collect::<Vec<_>>()
                            .join(", ")
                    ),
                };
                self.push(
                    Problem::error(format!(
                        "unexpected property `{property_name}=` on `{}`",
                        shape.what
                    ))
                    .label(&property_at, "unexpected property")
                    .help(help),
                );
            } else if let Some((_, first)) = seen_properties
                .iter()
                .find(|(name, _)| *name == property_name)
            {
                let first_at = self.at(*first);
                self.push(
                    Problem::error(format!("property `{property_name}=` is given twice"))
                        .label(&property_at, "given again here")
                        .label(&first_at, "first given here"),
                );
            } else {
                seen_properties.push((property_name, entry.span()));
            }
        }

        let mut block_ok = true;
        match (node.children(), shape.block) {
            (Some(children), BlockRule::Forbidden) => {
                let at = self.at(children.span());
                self.push(
                    Problem::error(format!("`{}` takes no block", shape.what))
                        .label(&at, "unexpected block")
                        .label(&name_at, "for this key")
                        .help(format!("write it as: {}", shape.usage)),
                );
            }
            (None, BlockRule::Required) => {
                block_ok = false;
                self.push(
                    Problem::error(format!("`{}` needs a block", shape.what))
                        .label(&name_at, "no { … } block")
                        .help(format!("write it as: {}", shape.usage)),
                );
            }
            _ => {}
        }

        if arguments.len() < shape.min {
            let message = match shape.min {
                1 if shape.max == 1 => format!("`{}` needs a value", shape.what),
                1 => format!("`{}` needs at least one value", shape.what),
                n => format!("`{}` needs at least {n} values", shape.what),
            };
            self.push(
                Problem::error(message)
                    .label(&name_at, "missing value")
                    .help(format!("write it as: {}", shape.usage)),
            );
            return None;
        }
        if arguments.len() > shape.max {
            let message = match shape.max {
                0 => format!("`{}` takes no values", shape.what),
                1 => format!(
                    "`{}` takes one value, found {}",
                    shape.what,
                    arguments.len()
                ),
                n => format!(
                    "`{}` takes at most {n} values, found {}",
                    shape.what,
                    arguments.len()
                ),
            };
            let mut problem = Problem::error(message);
            for extra in &arguments[shape.max..] {
                problem = problem.label(&self.at(extra.span()), "unexpected value");
            }
            self.push(problem.help(format!("write it as: {}", shape.usage)));
            return None;
        }
        block_ok.then_some(arguments)
    }

    /// Type annotations like `(u8)5` mean nothing to svinit: report them
    /// rather than silently ignore them.
    pub fn annotations(&mut self, node: &KdlNode) {
        let annotated = node
            .ty()
            .into_iter()
            .chain(node.entries().iter().filter_map(|entry| entry.ty()));
        let spans: Vec<(String, SourceSpan)> = annotated
            .map(|ty| (ty.value().to_owned(), ty.span()))
            .collect();
        for (ty, span) in spans {
            let at = self.at(span);
            self.push(
                Problem::error(format!("type annotation `({ty})` is not supported"))
                    .label(&at, "unsupported annotation")
                    .help("remove the annotation: svinit infers each value's type from its key"),
            );
        }
    }

    /// Report a key given twice where it may appear once.
    pub fn duplicate(&mut self, what: &str, again: SourceSpan, first: &Location) {
        let again = self.at(again);
        self.push(
            Problem::error(format!("`{what}` is given twice"))
                .label(&again, "given again here")
                .label(first, "first given here")
                .help(format!("`{what}` may appear only once; remove one of them")),
        );
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
        let Some(arguments) = checker.read(node, key.shape()) else {
            continue;
        };
        read_key(checker, &mut draft, key, node, &arguments);
    }
    if let (Some(exec), Some(shell)) = (
        draft.location_of(Key::Exec).cloned(),
        draft.location_of(Key::Shell).cloned(),
    ) {
        checker.push(
            Problem::error("`exec` and `shell` cannot both be given")
                .label(&shell, "`shell` here")
                .label(&exec, "`exec` here")
                .help(
                    "keep one: `exec` runs a program directly, `shell` runs a script with /bin/sh -c",
                ),
        );
    }
    draft
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
    let single = arguments.first().copied();
    match (key, single) {
        (Key::Exec, Some(program)) => {
            let argv: Vec<Option<String>> = arguments
                .iter()
                .map(|entry| {
                    checker.value(entry, |e| values::os_string(e.value()).map(str::to_owned))
                })
                .collect();
            if argv.first().is_some_and(|p| p.as_deref() == Some("")) {
                checker.value_problem(
                    program,
                    ValueError::new("the program of `exec` is empty", "empty program")
                        .with_help("give a program name or path, e.g. \"/usr/bin/env\""),
                );
                return;
            }
            if let Some(argv) = argv.into_iter().collect::<Option<Vec<String>>>() {
                config.command = Command::Exec(argv);
            }
        }
        (Key::Shell, Some(script)) => {
            let text = checker.value(script, |e| values::os_string(e.value()).map(str::to_owned));
            match text {
                Some(text) if text.trim().is_empty() => checker.value_problem(
                    script,
                    ValueError::new("the script of `shell` is empty", "empty script"),
                ),
                Some(text) => config.command = Command::Shell(text),
                None => {}
            }
        }
        (Key::Description, Some(entry)) => {
            config.description =
                checker.value(entry, |e| values::string(e.value()).map(str::to_owned));
        }
        (Key::Type, Some(entry)) => {
            const TYPES: &[(&str, ServiceType)] = &[
                ("longrun", ServiceType::Longrun),
                ("oneshot", ServiceType::Oneshot),
                ("forking", ServiceType::Forking),
            ];
            if let Some(kind) = checker.value(entry, |e| values::choice(e.value(), TYPES)) {
                config.service_type = kind;
            }
        }
        (Key::PidFile, Some(entry)) => {
            config.pid_file = checker.value(entry, |e| values::absolute_path(e.value()));
        }
        (Key::Autostart, Some(entry)) => {
            if let Some(on) = checker.value(entry, |e| values::boolean(e.value())) {
                config.autostart = on;
            }
        }
        (Key::Requires | Key::Wants | Key::After | Key::Before, _) => {
            let Some(kind) = key.dependency_kind() else {
                return;
            };
            for entry in arguments {
                if let Some(name) =
                    checker.value(entry, |e| values::string(e.value()).map(str::to_owned))
                {
                    draft.dependencies.push(DependencyRef {
                        kind,
                        name,
                        at: checker.at(entry.span()),
                    });
                }
            }
        }
        (Key::Directory, Some(entry)) => {
            config.directory = checker.value(entry, |e| values::absolute_path(e.value()));
        }
        (Key::User, Some(entry)) => {
            config.user = checker.value(entry, |e| values::id_ref(e.value(), "user"));
        }
        (Key::Group, Some(entry)) => {
            config.group = checker.value(entry, |e| values::id_ref(e.value(), "group"));
        }
        (Key::Groups, _) => {
            let groups: Option<Vec<_>> = arguments
                .iter()
                .map(|entry| checker.value(entry, |e| values::id_ref(e.value(), "group")))
                .collect::<Vec<_>>()
                .into_iter()
                .collect();
            config.groups = groups;
        }
        (Key::Umask, Some(entry)) => {
            config.umask = checker.value(entry, |e| values::umask(e.value(), value_text(e)));
        }
        (Key::Environment, _) => read_environment(checker, draft, node.children()),
        (Key::EnvironmentFile, Some(entry)) => {
            config.environment_file = checker.value(entry, |e| values::absolute_path(e.value()));
        }
        (Key::ClearEnvironment, Some(entry)) => {
            if let Some(on) = checker.value(entry, |e| values::boolean(e.value())) {
                config.clear_environment = on;
            }
        }
        (Key::Transcript, Some(entry)) => {
            config.transcript = read_transcript(checker, node, entry);
        }
        (Key::Output, Some(entry)) => {
            const OUTPUTS: &[(&str, OutputMode)] = &[
                ("prefix", OutputMode::Prefix),
                ("inherit", OutputMode::Inherit),
                ("null", OutputMode::Null),
                ("syslog", OutputMode::Syslog),
            ];
            if let Some(mode) = checker.value(entry, |e| values::choice(e.value(), OUTPUTS)) {
                config.output = mode;
            }
        }
        (Key::Tty, Some(entry)) => {
            config.tty = checker.value(entry, |e| values::absolute_path(e.value()));
        }
        (Key::Restart, Some(entry)) => {
            const POLICIES: &[(&str, RestartPolicy)] = &[
                ("on-failure", RestartPolicy::OnFailure),
                ("always", RestartPolicy::Always),
                ("never", RestartPolicy::Never),
            ];
            if let Some(policy) = checker.value(entry, |e| values::choice(e.value(), POLICIES)) {
                config.restart = policy;
            }
        }
        (Key::ExitCodes, _) => {
            let codes: Vec<Option<i32>> = arguments
                .iter()
                .map(|entry| {
                    checker.value(entry, |e| {
                        values::integer_in(e.value(), 0, 255).map(|c| c as i32)
                    })
                })
                .collect();
            if let Some(codes) = codes.into_iter().collect::<Option<Vec<i32>>>() {
                config.exit_codes = codes;
            }
        }
        (Key::BackoffLimit, Some(entry)) => {
            if let Some(limit) = checker.value(entry, |e| values::duration(e.value())) {
                config.backoff_limit = limit;
            }
        }
        (Key::Backoff, Some(entry)) => {
            const KINDS: &[(&str, BackoffKind)] = &[
                ("linear", BackoffKind::Linear),
                ("exponential", BackoffKind::Exponential),
            ];
            if let Some(kind) = checker.value(entry, |e| values::choice(e.value(), KINDS)) {
                config.backoff = kind;
            }
        }
        (Key::Forever, Some(entry)) => {
            if let Some(on) = checker.value(entry, |e| values::boolean(e.value())) {
                config.forever = on;
            }
        }
        (Key::Critical, Some(entry)) => {
            if let Some(on) = checker.value(entry, |e| values::boolean(e.value())) {
                config.critical = on;
            }
        }
        (Key::ReadyFd, Some(entry)) => {
            config.ready_fd = checker.value(entry, |e| {
                values::integer_in(e.value(), 3, i32::MAX.into())
                    .map(|fd| fd as i32)
                    .map_err(|error| {
                        error
                            .with_help("fds 0, 1 and 2 are stdin, stdout and stderr; use 3 or more")
                    })
            });
        }
        (Key::ReadyNotify, Some(entry)) => {
            if let Some(on) = checker.value(entry, |e| values::boolean(e.value())) {
                config.ready_notify = on;
            }
        }
        (Key::StartTimeout, Some(entry)) => {
            let timeout = checker.value(entry, |e| {
                let timeout = values::duration(e.value())?;
                if timeout.is_zero() {
                    return Err(ValueError::new("`start-timeout` cannot be zero", "zero")
                        .with_help("give the service time to become ready, e.g. \"60s\""));
                }
                Ok(timeout)
            });
            if let Some(timeout) = timeout {
                config.start_timeout = timeout;
            }
        }
        (Key::StopSignal, Some(entry)) => {
            if let Some(signal) = checker.value(entry, |e| values::signal(e.value())) {
                config.stop_signal = signal;
            }
        }
        (Key::StopTimeout, Some(entry)) => {
            if let Some(timeout) = checker.value(entry, |e| values::duration(e.value())) {
                config.stop_timeout = timeout;
            }
        }
        (Key::KillMode, Some(entry)) => {
            const MODES: &[(&str, KillMode)] =
                &[("group", KillMode::Group), ("process", KillMode::Process)];
            if let Some(mode) = checker.value(entry, |e| values::choice(e.value(), MODES)) {
                config.kill_mode = mode;
            }
        }
        (Key::Nice, Some(entry)) => {
            config.nice = checker.value(entry, |e| {
                values::integer_in(e.value(), -20, 19).map(|nice| nice as i32)
            });
        }
        (Key::Limits, _) => read_limits(checker, draft, node.children()),
        // Shapes with a minimum of one argument always have one.
        (_, None) => {}
    }
}

/// `transcript PATH max-size=… keep=… timestamps=…`.
fn read_transcript(
    checker: &mut Checker<'_>,
    node: &KdlNode,
    path_entry: &KdlEntry,
) -> Option<Transcript> {
    let path = checker.value(path_entry, |e| values::absolute_path(e.value()));
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
                let on = checker.value(property, |e| values::boolean(e.value()));
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
    for variable in block.nodes() {
        let name = variable.name().value();
        let name_at = checker.at(variable.name().span());
        let arguments = checker.read(
            variable,
            Shape {
                what: name,
                usage: "NAME \"value\"",
                min: 1,
                max: 1,
                properties: &[],
                block: BlockRule::Forbidden,
            },
        );
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
        if let Some(position) = draft.config.environment.iter().position(|(n, _)| n == name) {
            let first = draft.environment_at[position].clone();
            checker.duplicate(name, variable.name().span(), &first);
            continue;
        }
        let Some(value_entry) = arguments.and_then(|a| a.first().copied()) else {
            continue;
        };
        if let Some(value) = checker.value(value_entry, |e| {
            values::os_string(e.value()).map(str::to_owned)
        }) {
            draft.config.environment.push((name.to_owned(), value));
            draft.environment_at.push(name_at);
        }
    }
}

/// `limits { nofile 65536; core "unlimited"; nproc 100 200 }`.
fn read_limits(checker: &mut Checker<'_>, draft: &mut ServiceDraft, block: Option<&KdlDocument>) {
    let Some(block) = block else {
        return;
    };
    for limit_node in block.nodes() {
        let name = limit_node.name().value();
        let name_at = checker.at(limit_node.name().span());
        let arguments = checker.read(
            limit_node,
            Shape {
                what: name,
                usage: "nofile 65536 (soft = hard) or nofile 1024 65536 (soft, hard)",
                min: 1,
                max: 2,
                properties: &[],
                block: BlockRule::Forbidden,
            },
        );
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
        if let Some(position) = draft
            .config
            .limits
            .iter()
            .position(|l| l.resource == resource)
        {
            let first = draft.limits_at[position].clone();
            checker.duplicate(name, limit_node.name().span(), &first);
            continue;
        }
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
        draft.limits_at.push(name_at);
    }
}

/// Fill the keys `service` did not give from `defaults`.
///
/// Every key is replaced whole, except `environment` and `limits`, which
/// merge entry by entry (the service's entries win), and dependency keys,
/// where a default naming the service itself is dropped.
pub(crate) fn merge_defaults(service: &mut ServiceDraft, defaults: &ServiceDraft) {
    let own_command = service.given.contains(Key::Exec) || service.given.contains(Key::Shell);
    for key in Key::ALL {
        if !defaults.given.contains(key) {
            continue;
        }
        let inherited = match key {
            Key::Exec | Key::Shell => !own_command,
            Key::Environment | Key::Limits => true,
            _ => !service.given.contains(key),
        };
        if !inherited {
            continue;
        }
        copy_key(key, defaults, service);
        if !service.given.contains(key) {
            service.given.insert(key);
            if let Some(at) = defaults.location_of(key) {
                service.key_at.push((key, at.clone()));
            }
        }
    }
}

fn copy_key(key: Key, from: &ServiceDraft, to: &mut ServiceDraft) {
    let source = &from.config;
    let target = &mut to.config;
    match key {
        Key::Exec | Key::Shell => target.command = source.command.clone(),
        Key::Description => target.description = source.description.clone(),
        Key::Type => target.service_type = source.service_type,
        Key::PidFile => target.pid_file = source.pid_file.clone(),
        Key::Autostart => target.autostart = source.autostart,
        Key::Requires | Key::Wants | Key::After | Key::Before => {
            let own_name = target.name.clone();
            to.dependencies.extend(
                from.dependencies
                    .iter()
                    .filter(|d| Some(d.kind) == key.dependency_kind() && d.name != own_name)
                    .cloned(),
            );
        }
        Key::Directory => target.directory = source.directory.clone(),
        Key::User => target.user = source.user.clone(),
        Key::Group => target.group = source.group.clone(),
        Key::Groups => target.groups = source.groups.clone(),
        Key::Umask => target.umask = source.umask,
        Key::Environment => {
            let own = std::mem::take(&mut target.environment);
            let mut merged: Vec<(String, String)> = source
                .environment
                .iter()
                .filter(|(name, _)| !own.iter().any(|(n, _)| n == name))
                .cloned()
                .collect();
            merged.extend(own);
            target.environment = merged;
        }
        Key::EnvironmentFile => target.environment_file = source.environment_file.clone(),
        Key::ClearEnvironment => target.clear_environment = source.clear_environment,
        Key::Transcript => target.transcript = source.transcript.clone(),
        Key::Output => target.output = source.output,
        Key::Tty => target.tty = source.tty.clone(),
        Key::Restart => target.restart = source.restart,
        Key::ExitCodes => target.exit_codes = source.exit_codes.clone(),
        Key::BackoffLimit => target.backoff_limit = source.backoff_limit,
        Key::Backoff => target.backoff = source.backoff,
        Key::Forever => target.forever = source.forever,
        Key::Critical => target.critical = source.critical,
        Key::ReadyFd => target.ready_fd = source.ready_fd,
        Key::ReadyNotify => target.ready_notify = source.ready_notify,
        Key::StartTimeout => target.start_timeout = source.start_timeout,
        Key::StopSignal => target.stop_signal = source.stop_signal,
        Key::StopTimeout => target.stop_timeout = source.stop_timeout,
        Key::KillMode => target.kill_mode = source.kill_mode,
        Key::Nice => target.nice = source.nice,
        Key::Limits => {
            let own = std::mem::take(&mut target.limits);
            let mut merged: Vec<Limit> = source
                .limits
                .iter()
                .filter(|limit| !own.iter().any(|l| l.resource == limit.resource))
                .copied()
                .collect();
            merged.extend(own);
            target.limits = merged;
        }
    }
}

/// The checks that need the merged service, then the final `ServiceConfig`
/// (its dependency lists filled from the located names).
pub(crate) fn finish_service(
    draft: &ServiceDraft,
    name_at: &Location,
    problems: &mut Vec<Problem>,
) -> ServiceConfig {
    let mut config = draft.config.clone();
    let name = config.name.clone();
    if !draft.given.contains(Key::Restart) {
        config.restart = match config.service_type {
            ServiceType::Oneshot => RestartPolicy::Never,
            ServiceType::Longrun | ServiceType::Forking => RestartPolicy::OnFailure,
        };
    }
    if !draft.given.contains(Key::Exec) && !draft.given.contains(Key::Shell) {
        problems.push(
            Problem::error(format!("service `{name}` has no `exec` or `shell`"))
                .label(name_at, "nothing to run")
                .help(
                    "add `exec \"/path/to/program\" \"arg\"…` or `shell \"script\"` to its block",
                ),
        );
    }
    let type_at = draft.location_of(Key::Type).unwrap_or(name_at);
    match (config.service_type, &config.pid_file) {
        (ServiceType::Forking, None) => problems.push(
            Problem::error(format!("service `{name}` is `forking` but has no `pid-file`"))
                .label(type_at, "forking service")
                .label(name_at, "in this service")
                .help("svinit follows a daemonizing program through its pid file: add `pid-file \"/run/NAME.pid\"`"),
        ),
        (ServiceType::Longrun | ServiceType::Oneshot, Some(_)) => {
            let mut problem = Problem::error(format!(
                "`pid-file` is only used with `type \"forking\"`, and service `{name}` is not forking"
            ));
            if let Some(pid_file_at) = draft.location_of(Key::PidFile) {
                problem = problem.label(pid_file_at, "pid file of a non-forking service");
            }
            problems.push(
                problem
                    .label(name_at, "in this service")
                    .help("add `type \"forking\"` if the program daemonizes, or remove `pid-file`"),
            );
        }
        _ => {}
    }
    for dependency in &draft.dependencies {
        let list = match dependency.kind {
            DependencyKind::Requires => &mut config.requires,
            DependencyKind::Wants => &mut config.wants,
            DependencyKind::After => &mut config.after,
            DependencyKind::Before => &mut config.before,
        };
        list.push(dependency.name.clone());
    }
    config
}
