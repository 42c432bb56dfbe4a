//! Loading a config: reading a file or every `*.kdl` file of a directory,
//! parsing each KDL document, reading its top-level nodes (`defaults`,
//! `control`, `shutdown-timeout`, `service`), merging `defaults`, and
//! handing the services to the cross-service checks. Every problem of
//! every file is collected before anything is returned.

use std::fs;
use std::path::Path;
use std::time::Duration;

use kdl::{KdlDocument, KdlNode};

use super::diagnostic::{ConfigError, Location, Problem, SourceFile, source_file};
use super::merge::{finish_service, merge_defaults};
use super::model::{Config, ControlConfig, ServiceConfig};
use super::parse::{Key, ServiceDraft, read_service_block};
use super::shape::{BlockRule, Checker, Shape};
use super::template::{MAX_INSTANCE_NAME, expand_templates, is_template_name};
use super::validate::{ServiceEntry, check_services};
use super::values;

/// Load a config file, or every `*.kdl` file of a directory (not
/// recursive, hidden files skipped) in name order.
pub fn load_path(path: &Path) -> Result<Config, ConfigError> {
    load_path_located(path).map(|loaded| loaded.config)
}

/// Load a config from `(file name, text)` pairs, in order. The names are
/// only used in diagnostics.
pub fn load_sources(sources: Vec<(String, String)>) -> Result<Config, ConfigError> {
    load_sources_located(sources).map(|loaded| loaded.config)
}

/// A valid config with where its services and `control` node are written,
/// for the checks that point at a value (`--check`'s warnings).
pub(crate) struct Located {
    pub(crate) config: Config,
    /// In the order of `config.services`, `defaults` merged.
    pub(crate) services: Vec<ServiceEntry>,
    /// In the order of `config.templates`, `defaults` merged.
    pub(crate) templates: Vec<ServiceEntry>,
    pub(crate) control_at: Option<Location>,
}

pub(crate) fn load_path_located(path: &Path) -> Result<Located, ConfigError> {
    let sources = read_sources(path).map_err(ConfigError::new)?;
    load_sources_located(sources)
}

pub(crate) fn load_sources_located(sources: Vec<(String, String)>) -> Result<Located, ConfigError> {
    let mut problems = Vec::new();
    let mut top = TopLevel::default();
    let mut files = Vec::with_capacity(sources.len());
    let mut syntax_errors = false;
    for (name, text) in sources {
        let file = source_file(&name, text);
        match KdlDocument::parse_v2(file.inner()) {
            Ok(document) => {
                let mut checker = Checker {
                    file: &file,
                    problems: &mut problems,
                };
                top.read_document(&mut checker, &document);
            }
            Err(error) => {
                syntax_errors = true;
                problems.extend(
                    error
                        .diagnostics
                        .iter()
                        .map(|d| Problem::from_kdl(&file, d)),
                );
                if error.diagnostics.is_empty() {
                    problems.push(Problem::error(format!(
                        "`{name}` is not a valid KDL document"
                    )));
                }
            }
        }
        files.push(file);
    }

    let defaults = top.defaults.map(|(draft, _)| draft);
    let mut services = top.services;
    let mut configs: Vec<ServiceConfig> = Vec::with_capacity(services.len());
    for entry in &mut services {
        if let Some(defaults) = &defaults {
            merge_defaults(&mut entry.draft, defaults);
        }
        configs.push(finish_service(&entry.draft, &entry.name_at, &mut problems));
    }
    let expanded = expand_templates(services, configs, !syntax_errors, &mut problems);
    let services = expanded.entries;
    let templates = expanded.template_entries;
    let (control, control_at) = top.control.unzip();
    let config = Config {
        services: expanded.services,
        control: control.unwrap_or_default(),
        shutdown_timeout: top.shutdown_timeout.map(|(timeout, _)| timeout),
        templates: expanded.templates,
    };
    check_services(&services, &config, !syntax_errors, &mut problems);

    if problems.is_empty() {
        Ok(Located {
            config,
            services,
            templates,
            control_at,
        })
    } else {
        sort_by_position(&mut problems, &files);
        Err(ConfigError::new(problems))
    }
}

/// Problems in reading order: those without a file first, then by file
/// and by position in it (a stable sort keeps the order of equals).
fn sort_by_position(problems: &mut [Problem], files: &[SourceFile]) {
    problems.sort_by_cached_key(|problem| {
        let file_rank = problem.file_name().map_or(0, |name| {
            1 + files
                .iter()
                .position(|file| file.name() == name)
                .unwrap_or(files.len())
        });
        let offset = problem.spans().first().map_or(0, |label| label.offset());
        (file_rank, offset)
    });
}

/// The top-level nodes read so far, across files.
#[derive(Default)]
struct TopLevel {
    defaults: Option<(ServiceDraft, Location)>,
    control: Option<(ControlConfig, Location)>,
    shutdown_timeout: Option<(Duration, Location)>,
    services: Vec<ServiceEntry>,
}

const TOP_LEVEL_NODES: [&str; 4] = ["defaults", "control", "shutdown-timeout", "service"];

impl TopLevel {
    fn read_document(&mut self, checker: &mut Checker<'_>, document: &KdlDocument) {
        for node in document.nodes() {
            let name_at = checker.at(node.name().span());
            match node.name().value() {
                "defaults" => self.read_defaults(checker, node, name_at),
                "control" => self.read_control(checker, node, name_at),
                "shutdown-timeout" => self.read_shutdown_timeout(checker, node, name_at),
                "service" => self.read_service(checker, node),
                other => {
                    let help = match values::suggest(other, TOP_LEVEL_NODES) {
                        Some(close) => format!("did you mean `{close}`?"),
                        None if Key::from_name(other).is_some() => format!(
                            "`{other}` is a service key: put it inside `service \"NAME\" {{ … }}`, \
                             or inside `defaults {{ … }}` to apply it to every service"
                        ),
                        None => "the top-level nodes are `defaults`, `control`, \
                                 `shutdown-timeout` and `service`"
                            .to_owned(),
                    };
                    checker.push(
                        Problem::error(format!("unknown top-level node `{other}`"))
                            .label(&name_at, "unknown node")
                            .help(help),
                    );
                }
            }
        }
    }

    fn read_defaults(&mut self, checker: &mut Checker<'_>, node: &KdlNode, name_at: Location) {
        if !first_time(checker, &self.defaults, node) {
            return;
        }
        let shape = Shape {
            what: "defaults",
            usage: "defaults { stop-timeout \"5s\" }",
            min: 0,
            max: 0,
            properties: &[],
            block: BlockRule::Required,
        };
        checker.read(node, shape);
        let draft = read_service_block(checker, "", node.children());
        if let Some(at) = draft.location_of(Key::Instances) {
            checker.push(
                Problem::error("`instances` cannot be a default")
                    .label(at, "instances in `defaults`")
                    .help("give `instances` in the template whose instances they are: `service \"NAME@\" { instances \"a\" \"b\" }`"),
            );
        }
        self.defaults = Some((draft, name_at));
    }

    fn read_control(&mut self, checker: &mut Checker<'_>, node: &KdlNode, name_at: Location) {
        if !first_time(checker, &self.control, node) {
            return;
        }
        let shape = Shape {
            what: "control",
            usage: "control group=\"svadm\" read-group=\"monitor\"",
            min: 0,
            max: 0,
            properties: &["group", "read-group"],
            block: BlockRule::Forbidden,
        };
        checker.read(node, shape);
        let mut control = ControlConfig::default();
        for entry in node.entries() {
            let target = match entry.name().map(|name| name.value()) {
                Some("group") => &mut control.group,
                Some("read-group") => &mut control.read_group,
                _ => continue,
            };
            *target = checker.value(entry, |e| values::id_ref(e.value(), "group"));
        }
        self.control = Some((control, name_at));
    }

    fn read_shutdown_timeout(
        &mut self,
        checker: &mut Checker<'_>,
        node: &KdlNode,
        name_at: Location,
    ) {
        if !first_time(checker, &self.shutdown_timeout, node) {
            return;
        }
        let shape = Shape::values("shutdown-timeout", "shutdown-timeout \"30s\"", 1, 1);
        let Some(arguments) = checker.read(node, shape) else {
            return;
        };
        let timeout = arguments
            .first()
            .and_then(|entry| checker.value(entry, |e| values::duration(e.value())));
        if let Some(timeout) = timeout {
            self.shutdown_timeout = Some((timeout, name_at));
        }
    }

    fn read_service(&mut self, checker: &mut Checker<'_>, node: &KdlNode) {
        let shape = Shape {
            what: "service",
            usage: "service \"web\" { exec \"/usr/sbin/nginx\" }",
            min: 1,
            max: 1,
            properties: &[],
            block: BlockRule::Optional,
        };
        let arguments = checker.read(node, shape);
        let Some(name_entry) = arguments.and_then(|a| a.first().copied()) else {
            // Still check the keys of a nameless service.
            read_service_block(checker, "", node.children());
            return;
        };
        let name = checker.value(name_entry, |e| values::string(e.value()).map(str::to_owned));
        if let Some(error) = name.as_deref().and_then(service_name_error) {
            checker.value_problem(name_entry, error);
        }
        let draft = read_service_block(checker, name.as_deref().unwrap_or(""), node.children());
        if name.is_some() {
            self.services.push(ServiceEntry {
                draft,
                name_at: checker.at(name_entry.span()),
            });
        }
    }
}

/// False, with the problem reported, when a top-level node that may
/// appear once was already given.
fn first_time<T>(checker: &mut Checker<'_>, given: &Option<(T, Location)>, node: &KdlNode) -> bool {
    match given {
        Some((_, first)) => {
            checker.duplicate(node.name().value(), node.name().span(), first);
            false
        }
        None => true,
    }
}

/// Longest service name: names become file and log names.
const MAX_SERVICE_NAME: usize = 255;

/// Why a service name is refused, if it is.
fn service_name_error(name: &str) -> Option<values::ValueError> {
    let refuse = |label: &str| {
        Some(
            values::ValueError::new(format!("invalid service name {name:?}"), label).with_help(
                "service names become file and log names: no `/`, no whitespace or control \
                 characters, not empty, `.` or `..`, at most 255 bytes",
            ),
        )
    };
    if name.is_empty() {
        refuse("empty name")
    } else if name.contains('/') {
        refuse("contains '/'")
    } else if name.chars().any(|c| c.is_whitespace() || c.is_control()) {
        refuse("contains whitespace or a control character")
    } else if name == "." || name == ".." {
        refuse("not a usable file name")
    } else if name == "@" {
        refuse("a template needs a name before `@`")
    } else if name.len() > MAX_SERVICE_NAME {
        refuse("longer than 255 bytes")
    } else if is_template_name(name) && name.len() > MAX_SERVICE_NAME - MAX_INSTANCE_NAME {
        refuse("a template name longer than 191 bytes: its instances' names would not fit in 255")
    } else {
        None
    }
}

/// Whether there is a config at `path` at all: a file, or a directory with
/// at least one `*.kdl` file. `svinit -- COMMAND` runs the command alone
/// when there is none (an image may ship an empty /etc/svinit/), at start
/// and at reload: see `config_to_run`.
pub fn has_config(path: &Path) -> bool {
    match fs::metadata(path) {
        Ok(meta) if meta.is_dir() => fs::read_dir(path).is_ok_and(|mut entries| {
            entries.any(|entry| {
                entry.is_ok_and(|entry| is_unit_file(&entry.file_name(), &entry.path()))
            })
        }),
        Ok(_) => true,
        Err(_) => false,
    }
}

/// A `*.kdl` file that is not hidden: one file of a config directory.
fn is_unit_file(file_name: &std::ffi::OsStr, path: &Path) -> bool {
    let name = file_name.to_string_lossy();
    name.ends_with(".kdl") && !name.starts_with('.') && path.is_file()
}

/// The `(name, text)` of every file of the config at `path`.
fn read_sources(path: &Path) -> Result<Vec<(String, String)>, Vec<Problem>> {
    let shown = path.display().to_string();
    let metadata = fs::metadata(path).map_err(|error| {
        vec![
            Problem::error(format!("cannot read config `{shown}`: {error}"))
                .help("give a config file or directory with `-c PATH` or SVINIT_CONFIG"),
        ]
    })?;
    if !metadata.is_dir() {
        return read_file(path)
            .map(|text| vec![(shown, text)])
            .map_err(|p| vec![p]);
    }
    let listing = fs::read_dir(path).map_err(|error| {
        vec![Problem::error(format!(
            "cannot list config directory `{shown}`: {error}"
        ))]
    })?;
    let mut files = Vec::new();
    let mut problems = Vec::new();
    for entry in listing {
        match entry {
            Ok(entry) => {
                let file_name = entry.file_name();
                let entry_path = entry.path();
                if is_unit_file(&file_name, &entry_path) {
                    files.push((file_name, entry_path));
                }
            }
            Err(error) => problems.push(Problem::error(format!(
                "cannot list config directory `{shown}`: {error}"
            ))),
        }
    }
    files.sort();
    if files.is_empty() && problems.is_empty() {
        problems.push(
            Problem::error(format!("no `*.kdl` file in config directory `{shown}`")).help(format!(
                "svinit reads every `*.kdl` file of the directory (not of its subdirectories); \
                 create one, e.g. `{}`",
                path.join("services.kdl").display()
            )),
        );
    }
    let mut sources = Vec::with_capacity(files.len());
    for (_, file_path) in files {
        match read_file(&file_path) {
            Ok(text) => sources.push((file_path.display().to_string(), text)),
            Err(problem) => problems.push(problem),
        }
    }
    if problems.is_empty() {
        Ok(sources)
    } else {
        Err(problems)
    }
}

fn read_file(path: &Path) -> Result<String, Problem> {
    let bytes = fs::read(path).map_err(|error| {
        Problem::error(format!(
            "cannot read config file `{}`: {error}",
            path.display()
        ))
    })?;
    String::from_utf8(bytes).map_err(|error| {
        Problem::error(format!(
            "config file `{}` is not valid UTF-8 (first bad byte at offset {})",
            path.display(),
            error.utf8_error().valid_up_to()
        ))
        .help("unit files are KDL documents, which are UTF-8 text")
    })
}
