//! Templates (`service "getty@"`): what an instance name may be, `%i` and
//! `%%` in a template's values, an instance's config made from its
//! template, and the expansion at load: the `instances` of each template
//! and every instance another service names become services, each problem
//! reported at its span. A template itself never runs.

use std::collections::{HashSet, VecDeque};
use std::path::{Path, PathBuf};

use kdl::{KdlNode, KdlValue};

use super::diagnostic::{Location, Problem};
use super::model::{
    Command, Config, ConnectTarget, Health, IdRef, Probe, ProbeCheck, ServiceConfig, Transcript,
};
use super::parse::{DependencyRef, Key};
use super::shape::{Checker, value_span};
use super::validate::ServiceEntry;
use super::values::ValueError;

/// Longest instance name.
pub const MAX_INSTANCE_NAME: usize = 64;

/// Whether `name` is a template's (`"getty@"`).
pub fn is_template_name(name: &str) -> bool {
    name.ends_with('@')
}

/// `("getty@", "tty1")` for `"getty@tty1"`: the template an instance comes
/// from. Instance names hold no `@`, so the last `@` splits.
pub fn split_instance(name: &str) -> Option<(&str, &str)> {
    let at = name.rfind('@')?;
    let (template, instance) = name.split_at(at + 1);
    (!instance.is_empty()).then_some((template, instance))
}

/// Why `instance` cannot be an instance name, if it cannot: 1–64 characters
/// of `[A-Za-z0-9_.:-]`, not `.` or `..`, not starting with `-`.
pub fn instance_name_refusal(instance: &str) -> Option<&'static str> {
    if instance.is_empty() {
        Some("empty")
    } else if instance.len() > MAX_INSTANCE_NAME {
        Some("longer than 64 characters")
    } else if !instance
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | ':' | '-'))
    {
        Some("a character outside [A-Za-z0-9_.:-]")
    } else if instance == "." || instance == ".." {
        Some("not a usable file name")
    } else if instance.starts_with('-') {
        Some("starts with '-'")
    } else {
        None
    }
}

const INSTANCE_NAME_HELP: &str = "an instance name is 1 to 64 characters of letters, digits, \
                                  `_`, `.`, `:` and `-`, not `.` or `..`, not starting with `-`";

/// [`instance_name_refusal`] as a value error, for a span.
pub(crate) fn instance_name_error(instance: &str) -> Option<ValueError> {
    instance_name_refusal(instance).map(|reason| {
        ValueError::new(format!("invalid instance name {instance:?}"), reason)
            .with_help(INSTANCE_NAME_HELP)
    })
}

/// `%i` → `instance`, `%%` → `%`; any other `%` is kept (a template with
/// one is refused at load).
fn substitute(text: &str, instance: &str) -> String {
    let mut out = String::with_capacity(text.len() + instance.len());
    let mut chars = text.chars();
    while let Some(c) = chars.next() {
        if c != '%' {
            out.push(c);
            continue;
        }
        match chars.next() {
            Some('i') => out.push_str(instance),
            Some('%') => out.push('%'),
            Some(other) => {
                out.push('%');
                out.push(other);
            }
            None => out.push('%'),
        }
    }
    out
}

/// The first `%` sequence of `text` that is neither `%i` nor `%%`.
fn bad_percent(text: &str) -> Option<String> {
    let mut chars = text.chars();
    while let Some(c) = chars.next() {
        if c == '%' {
            match chars.next() {
                Some('i' | '%') => {}
                Some(other) => return Some(format!("%{other}")),
                None => return Some("%".to_owned()),
            }
        }
    }
    None
}

/// Hand `report` a problem for each string value of `node` (its children
/// included) with a `%` other than `%i` or `%%`.
pub(crate) fn find_percent_problems(
    checker: &Checker<'_>,
    node: &KdlNode,
    report: &mut impl FnMut(Problem),
) {
    for entry in node.entries() {
        if let KdlValue::String(text) = entry.value()
            && let Some(sequence) = bad_percent(text)
        {
            let at = checker.at(value_span(entry));
            report(
                Problem::error(format!("unknown `{sequence}` in a template"))
                    .label(&at, format!("`{sequence}` here"))
                    .help("in a template, `%i` is the instance name and `%%` a literal `%`"),
            );
        }
    }
    for child in node.children().into_iter().flat_map(|c| c.nodes()) {
        find_percent_problems(checker, child, report);
    }
}

/// The config of `template`'s instance `instance`: named `NAME@INSTANCE`,
/// `%i` replaced in every string value.
pub(crate) fn instantiate(template: &ServiceConfig, instance: &str) -> ServiceConfig {
    let text = |text: &str| substitute(text, instance);
    let path = |path: &Path| PathBuf::from(text(&path.to_string_lossy()));
    let names = |names: &[String]| names.iter().map(|name| text(name)).collect();
    let id = |id: &IdRef| match id {
        IdRef::Name(name) => IdRef::Name(text(name)),
        IdRef::Id(id) => IdRef::Id(*id),
    };
    // Every field is named, so a new key cannot be forgotten here.
    let ServiceConfig {
        name,
        description,
        command,
        stop_command,
        service_type,
        pid_file,
        autostart,
        requires,
        wants,
        after,
        before,
        directory,
        user,
        group,
        groups,
        umask,
        environment,
        environment_file,
        clear_environment,
        transcript,
        output,
        tty,
        restart,
        exit_codes,
        backoff_limit,
        backoff,
        forever,
        critical,
        ready_fd,
        ready_notify,
        watchdog,
        start_timeout,
        stop_signal,
        stop_timeout,
        kill_mode,
        nice,
        limits,
        ready_probe,
        health,
    } = template;
    let probe = |probe: &Probe| Probe {
        check: match &probe.check {
            ProbeCheck::Connect(ConnectTarget::Unix(socket)) => {
                ProbeCheck::Connect(ConnectTarget::Unix(path(socket)))
            }
            ProbeCheck::Connect(tcp) => ProbeCheck::Connect(tcp.clone()),
            ProbeCheck::Command(command) => ProbeCheck::Command(substitute_command(command, &text)),
        },
        ..probe.clone()
    };
    ServiceConfig {
        name: format!("{name}{instance}"),
        description: description.as_deref().map(text),
        command: substitute_command(command, &text),
        stop_command: stop_command
            .as_ref()
            .map(|command| substitute_command(command, &text)),
        service_type: *service_type,
        pid_file: pid_file.as_deref().map(path),
        autostart: *autostart,
        requires: names(requires),
        wants: names(wants),
        after: names(after),
        before: names(before),
        directory: directory.as_deref().map(path),
        user: user.as_ref().map(id),
        group: group.as_ref().map(id),
        groups: groups
            .as_ref()
            .map(|groups| groups.iter().map(id).collect()),
        umask: *umask,
        environment: environment
            .iter()
            .map(|(variable, value)| (variable.clone(), text(value)))
            .collect(),
        environment_file: environment_file.as_deref().map(path),
        clear_environment: *clear_environment,
        transcript: transcript.as_ref().map(|transcript| Transcript {
            path: path(&transcript.path),
            ..transcript.clone()
        }),
        output: *output,
        tty: tty.as_deref().map(path),
        restart: *restart,
        exit_codes: exit_codes.clone(),
        backoff_limit: *backoff_limit,
        backoff: *backoff,
        forever: *forever,
        critical: *critical,
        ready_fd: *ready_fd,
        ready_notify: *ready_notify,
        watchdog: *watchdog,
        start_timeout: *start_timeout,
        stop_signal: *stop_signal,
        stop_timeout: *stop_timeout,
        kill_mode: *kill_mode,
        nice: *nice,
        limits: limits.clone(),
        ready_probe: ready_probe.as_ref().map(probe),
        health: health.as_ref().map(|health| Health {
            probe: probe(&health.probe),
            ..health.clone()
        }),
    }
}

/// `command` with `text` applied to each argument or to the script.
fn substitute_command(command: &Command, text: &impl Fn(&str) -> String) -> Command {
    match command {
        Command::Exec(argv) => Command::Exec(argv.iter().map(|arg| text(arg)).collect()),
        Command::Shell(script) => Command::Shell(text(script)),
    }
}

/// The services of a config once its templates are expanded, in the order
/// read (each template's instances where the template is written), and
/// the templates.
pub(crate) struct Expanded {
    pub(crate) entries: Vec<ServiceEntry>,
    pub(crate) services: Vec<ServiceConfig>,
    pub(crate) templates: Vec<ServiceConfig>,
    /// In the order of `templates`.
    pub(crate) template_entries: Vec<ServiceEntry>,
}

/// One template while its instances are made.
struct Template {
    entry: ServiceEntry,
    config: ServiceConfig,
    instances: Vec<(ServiceEntry, ServiceConfig)>,
}

enum Slot {
    Service(Box<(ServiceEntry, ServiceConfig)>),
    Template(usize),
}

/// Split the templates off `entries` (parallel to `services`, `defaults`
/// merged), make their instances (from `instances` and from every name
/// that names one, to a fixed point) and report what is wrong with them.
/// `names_complete`: as for `check_services`.
pub(crate) fn expand_templates(
    entries: Vec<ServiceEntry>,
    services: Vec<ServiceConfig>,
    names_complete: bool,
    problems: &mut Vec<Problem>,
) -> Expanded {
    let mut templates: Vec<Template> = Vec::new();
    let mut slots = Vec::with_capacity(entries.len());
    let mut reported_percent: HashSet<(String, usize)> = HashSet::new();
    for (entry, config) in entries.into_iter().zip(services) {
        if is_template_name(&config.name) {
            for (_, problem) in &entry.draft.percent_problems {
                let first_span = problem.spans().first().map_or(0, |span| span.offset());
                let file = problem.file_name().unwrap_or_default().to_owned();
                if reported_percent.insert((file, first_span)) {
                    problems.push(problem.clone());
                }
            }
            slots.push(Slot::Template(templates.len()));
            templates.push(Template {
                entry,
                config,
                instances: Vec::new(),
            });
        } else {
            if let Some(at) = entry.draft.location_of(Key::Instances) {
                problems.push(
                    Problem::error(format!(
                        "`instances` is only for templates, and `{}` is not one",
                        config.name
                    ))
                    .label(at, "instances of a service that is not a template")
                    .label(&entry.name_at, "not a template")
                    .help(format!(
                        "a template's name ends in `@`: `service \"{}@\" {{ … }}`",
                        config.name
                    )),
                );
            }
            slots.push(Slot::Service(Box::new((entry, config))));
        }
    }

    let template_names: Vec<String> = templates.iter().map(|t| t.config.name.clone()).collect();
    let template_index = |name: &str| template_names.iter().position(|t| t == name);
    let mut known: HashSet<String> = HashSet::new();
    let mut wanted: VecDeque<(usize, String, Location)> = VecDeque::new();
    for slot in &slots {
        let Slot::Service(service) = slot else {
            continue;
        };
        let (entry, config) = service.as_ref();
        known.insert(config.name.clone());
        if let Some((template, _)) = split_instance(&config.name)
            && let Some(index) = template_index(template)
        {
            problems.push(
                Problem::error(format!(
                    "service `{}` is defined twice: also an instance of template `{template}`",
                    config.name
                ))
                .label(&entry.name_at, "defined again here")
                .label(&templates[index].entry.name_at, "template defined here")
                .help(format!(
                    "every `{template}NAME` is an instance of `{template}`: rename this \
                     service, or remove it and let the template make it"
                )),
            );
        }
    }
    for (index, template) in templates.iter().enumerate() {
        for (instance, at) in &template.entry.draft.instances {
            wanted.push_back((index, instance.clone(), at.clone()));
        }
    }
    for slot in &slots {
        if let Slot::Service(service) = slot {
            let dependencies = &service.0.draft.dependencies;
            want_named_instances(dependencies, &template_index, problems, &mut wanted);
        }
    }
    let mut made = 0;
    while let Some((index, instance, at)) = wanted.pop_front() {
        let template = &templates[index];
        let config = instantiate(&template.config, &instance);
        if !known.insert(config.name.clone()) {
            continue;
        }
        made += 1;
        if made > MAX_INSTANCES {
            problems.push(too_many_instances(&config.name, &at));
            break;
        }
        let mut draft = template.entry.draft.clone();
        for dependency in &mut draft.dependencies {
            dependency.name = substitute(&dependency.name, &instance);
        }
        want_named_instances(&draft.dependencies, &template_index, problems, &mut wanted);
        let entry = ServiceEntry { draft, name_at: at };
        templates[index].instances.push((entry, config));
    }
    // A template with instances has its names checked through them.
    let unused = templates.iter().filter(|t| t.instances.is_empty());
    for template in unused.filter(|_| names_complete) {
        for dependency in &template.entry.draft.dependencies {
            let names_an_instance = split_instance(&dependency.name)
                .is_some_and(|(template, _)| template_index(template).is_some());
            if dependency.name.contains('%')
                || known.contains(&dependency.name)
                || names_an_instance
            {
                continue;
            }
            problems.push(
                Problem::error(format!(
                    "unknown service `{}` in `{}` of template `{}`",
                    dependency.name,
                    dependency.kind.key(),
                    template.config.name
                ))
                .label(&dependency.at, "no service has this name")
                .help("define it with `service \"NAME\" { … }` in any file of the config"),
            );
        }
    }

    let mut expanded = Expanded {
        entries: Vec::new(),
        services: Vec::new(),
        templates: Vec::new(),
        template_entries: Vec::new(),
    };
    let mut templates: Vec<Option<Template>> = templates.into_iter().map(Some).collect();
    for slot in slots {
        match slot {
            Slot::Service(service) => {
                let (entry, config) = *service;
                expanded.entries.push(entry);
                expanded.services.push(config);
            }
            Slot::Template(index) => {
                let Some(template) = templates.get_mut(index).and_then(Option::take) else {
                    continue;
                };
                for (entry, config) in template.instances {
                    expanded.entries.push(entry);
                    expanded.services.push(config);
                }
                expanded.templates.push(template.config);
                expanded.template_entries.push(template.entry);
            }
        }
    }
    expanded
}

/// The most instances one load, or one `svctl start`, may make: a template
/// whose instances name new instances of it (`requires "a@%ix"`) would
/// otherwise make them until memory runs out.
pub(crate) const MAX_INSTANCES: usize = 10_000;

fn too_many_instances(name: &str, at: &Location) -> Problem {
    Problem::error(format!(
        "templates make more than {MAX_INSTANCES} instances (`{name}` would be the next)"
    ))
    .label(at, "this name makes instances that make more")
    .help("an instance naming a new instance of a template (`%i` in a dependency name that grows) never ends: name fixed instances")
}

/// Queue the instance each dependency name names, if its template exists;
/// a bad instance name is reported at the name.
fn want_named_instances(
    dependencies: &[DependencyRef],
    template_index: &impl Fn(&str) -> Option<usize>,
    problems: &mut Vec<Problem>,
    wanted: &mut VecDeque<(usize, String, Location)>,
) {
    for dependency in dependencies {
        let Some((template, instance)) = split_instance(&dependency.name) else {
            continue;
        };
        let Some(index) = template_index(template) else {
            continue;
        };
        match instance_name_error(instance) {
            Some(error) => problems.push(
                Problem::error(error.message)
                    .label(&dependency.at, error.label)
                    .maybe_help(error.help),
            ),
            None => wanted.push_back((index, instance.to_owned(), dependency.at.clone())),
        }
    }
}

/// Why an instance cannot be made at run time.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum InstanceProblem {
    /// No template `NAME@` in the config (or `name` is no instance name).
    NoTemplate,
    /// The instance name is refused, for this reason.
    BadName(&'static str),
    /// It, or an instance it names, names what is not a service.
    Unresolved(String),
}

/// Add the instance `name` to `config`, with every instance it names that
/// is not there yet (SPEC §3 *Templates*: naming an instance makes it);
/// the names added, in order. On a problem `config` is left as it was.
pub(crate) fn add_instance(
    config: &mut Config,
    name: &str,
) -> Result<Vec<String>, InstanceProblem> {
    let (template, instance) = split_instance(name).ok_or(InstanceProblem::NoTemplate)?;
    if config.template(template).is_none() {
        return Err(InstanceProblem::NoTemplate);
    }
    if let Some(reason) = instance_name_refusal(instance) {
        return Err(InstanceProblem::BadName(reason));
    }
    let mut made: Vec<ServiceConfig> = Vec::new();
    let mut made_names: HashSet<String> = HashSet::new();
    // Each name to make, and the instance that names it.
    let mut wanted = VecDeque::from([(name.to_owned(), String::new())]);
    while let Some((next, named_by)) = wanted.pop_front() {
        if config.service(&next).is_some() || made_names.contains(&next) {
            continue;
        }
        if made.len() == MAX_INSTANCES {
            return Err(InstanceProblem::Unresolved(format!(
                "`{name}` would make more than {MAX_INSTANCES} instances (`{named_by}` names `{next}`)"
            )));
        }
        let from_template = split_instance(&next).and_then(|(template, instance)| {
            let template = config.template(template)?;
            instance_name_refusal(instance)
                .is_none()
                .then_some((template, instance))
        });
        let Some((template, instance)) = from_template else {
            return Err(InstanceProblem::Unresolved(format!(
                "`{named_by}` names `{next}`, which is not a service"
            )));
        };
        let service = instantiate(template, instance);
        if service
            .dependency_names()
            .any(|dependency| *dependency == service.name)
        {
            return Err(InstanceProblem::Unresolved(format!(
                "`{}` would depend on itself",
                service.name
            )));
        }
        wanted.extend(
            service
                .dependency_names()
                .map(|dependency| (dependency.clone(), service.name.clone())),
        );
        made_names.insert(service.name.clone());
        made.push(service);
    }
    let names = made.iter().map(|service| service.name.clone()).collect();
    config.services.extend(made);
    Ok(names)
}
