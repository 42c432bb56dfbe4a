//! The `ready-probe { … }` and `health { … }` blocks: one check
//! (`connect`, `exec` or `shell`) and its timing (`interval`, `timeout`),
//! plus, for `health`, `retries`, `start-period` and `on-failure`; read
//! into a [`Probe`] / [`Health`] with a diagnostic for anything else (SPEC
//! §3 *Probes*, "Probe keys").

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use kdl::{KdlEntry, KdlNode};

use super::diagnostic::{Location, Problem};
use super::model::{
    Command, ConnectTarget, DEFAULT_HEALTH_INTERVAL, DEFAULT_HEALTH_RETRIES,
    DEFAULT_PROBE_INTERVAL, DEFAULT_PROBE_TIMEOUT, Health, HealthAction, Probe, ProbeCheck,
};
use super::parse::{nonzero_duration, os_string};
use super::shape::{Checker, Shape};
use super::values::{self, ValueError, ValueResult};

/// The keys a probe block accepts, with an example of each.
const PROBE_KEYS: &[(&str, &str)] = &[
    (
        "connect",
        "connect \"127.0.0.1:80\" (or \"[::1]:80\", \"/run/web.sock\")",
    ),
    (
        "exec",
        "exec \"/usr/bin/curl\" \"-fsS\" \"http://127.0.0.1/\"",
    ),
    ("shell", "shell \"test -e /run/web.ready\""),
    ("interval", "interval \"250ms\""),
    ("timeout", "timeout \"2s\""),
];

/// The keys only `health` accepts.
const HEALTH_KEYS: &[(&str, &str)] = &[
    ("retries", "retries 3"),
    ("start-period", "start-period \"30s\""),
    (
        "on-failure",
        "on-failure \"restart\" (or \"stop\", \"log\")",
    ),
];

const HEALTH_ACTIONS: &[(&str, HealthAction)] = &[
    ("restart", HealthAction::Restart),
    ("stop", HealthAction::Stop),
    ("log", HealthAction::Log),
];

/// Reads the block of `node` (`ready-probe`); `None` when it is refused
/// (every problem reported).
pub(crate) fn read_probe(checker: &mut Checker<'_>, node: &KdlNode) -> Option<Probe> {
    let mut unused = health_defaults();
    read_block(checker, node, DEFAULT_PROBE_INTERVAL, &mut unused, &[])
}

/// Reads the block of `node` (`health`); `None` when it is refused.
pub(crate) fn read_health(checker: &mut Checker<'_>, node: &KdlNode) -> Option<Health> {
    let mut rules = health_defaults();
    let probe = read_block(
        checker,
        node,
        DEFAULT_HEALTH_INTERVAL,
        &mut rules,
        HEALTH_KEYS,
    )?;
    Some(Health { probe, ..rules })
}

fn health_defaults() -> Health {
    Health {
        probe: Probe {
            check: ProbeCheck::Command(Command::Exec(Vec::new())),
            interval: DEFAULT_HEALTH_INTERVAL,
            timeout: DEFAULT_PROBE_TIMEOUT,
        },
        retries: DEFAULT_HEALTH_RETRIES,
        start_period: Duration::ZERO,
        on_failure: HealthAction::Restart,
    }
}

/// The probe of a block; the values of `extra_keys` go into `rules`.
fn read_block(
    checker: &mut Checker<'_>,
    node: &KdlNode,
    default_interval: Duration,
    rules: &mut Health,
    extra_keys: &[(&str, &str)],
) -> Option<Probe> {
    let block_name = node.name().value();
    let block_at = checker.at(node.name().span());
    let problems_before = checker.problems.len();
    let mut check: Option<(ProbeCheck, Location)> = None;
    let mut interval = default_interval;
    let mut timeout = DEFAULT_PROBE_TIMEOUT;
    let mut seen: Vec<(&str, Location)> = Vec::new();
    let keys = || PROBE_KEYS.iter().chain(extra_keys);
    for key_node in node
        .children()
        .map(|block| block.nodes())
        .unwrap_or_default()
    {
        let name = key_node.name().value();
        let name_at = checker.at(key_node.name().span());
        let Some(&(_, usage)) = keys().find(|(key, _)| *key == name) else {
            let help = match values::suggest(name, keys().map(|(key, _)| *key)) {
                Some(close) => format!("did you mean `{close}`?"),
                None => format!(
                    "`{block_name}` takes one of `connect`, `exec`, `shell`, and {}",
                    keys()
                        .skip(3)
                        .map(|(key, _)| format!("`{key}`"))
                        .collect::<Vec<_>>()
                        .join(", ")
                ),
            };
            checker.push(
                Problem::error(format!("unknown key `{name}` in `{block_name}`"))
                    .label(&name_at, "unknown key")
                    .help(help),
            );
            continue;
        };
        if let Some((_, first)) = seen.iter().find(|(seen_name, _)| *seen_name == name) {
            checker.duplicate(name, key_node.name().span(), first);
            continue;
        }
        seen.push((name, name_at.clone()));
        let max = if name == "exec" { usize::MAX } else { 1 };
        let Some(arguments) = checker.read(key_node, Shape::values(name, usage, 1, max)) else {
            continue;
        };
        let Some(&first) = arguments.first() else {
            continue;
        };
        let this_check = match name {
            "connect" => checker
                .value(first, connect_target)
                .map(ProbeCheck::Connect),
            "exec" => arguments
                .iter()
                .map(|entry| checker.value(entry, os_string))
                .collect::<Vec<_>>()
                .into_iter()
                .collect::<Option<Vec<_>>>()
                .map(|argv| ProbeCheck::Command(Command::Exec(argv))),
            "shell" => checker
                .value(first, os_string)
                .map(|script| ProbeCheck::Command(Command::Shell(script))),
            _ => {
                read_timing(checker, name, first, &mut interval, &mut timeout, rules);
                None
            }
        };
        let Some(this_check) = this_check else {
            continue;
        };
        match &check {
            Some((_, first_at)) => checker.push(
                Problem::error(format!("`{block_name}` takes one check"))
                    .label(&name_at, "a second check")
                    .label(first_at, "the first check")
                    .help("keep one of `connect`, `exec` and `shell`"),
            ),
            None => check = Some((this_check, name_at)),
        }
    }
    let Some((check, _)) = check else {
        if checker.problems.len() == problems_before {
            checker.push(
                Problem::error(format!("`{block_name}` has no check"))
                    .label(&block_at, "nothing to probe with")
                    .help("add one of `connect \"127.0.0.1:80\"`, `exec \"program\" …` or `shell \"…\"`"),
            );
        }
        return None;
    };
    (checker.problems.len() == problems_before).then_some(Probe {
        check,
        interval,
        timeout,
    })
}

/// A key of a block other than its check.
fn read_timing(
    checker: &mut Checker<'_>,
    name: &str,
    value: &KdlEntry,
    interval: &mut Duration,
    timeout: &mut Duration,
    rules: &mut Health,
) {
    match name {
        "interval" => checker.set(value, nonzero("interval"), interval),
        "timeout" => checker.set(value, nonzero("timeout"), timeout),
        "retries" => checker.set(value, retries, &mut rules.retries),
        "start-period" => checker.set(
            value,
            |e| values::duration(e.value()),
            &mut rules.start_period,
        ),
        _ => checker.set(
            value,
            |e| values::choice(e.value(), HEALTH_ACTIONS),
            &mut rules.on_failure,
        ),
    }
}

fn retries(entry: &KdlEntry) -> ValueResult<u32> {
    values::integer_in(entry.value(), 1, 1000)
        .map(|n| n as u32)
        .map_err(|error| {
            error.with_help("the failures in a row that carry out `on-failure`: 1 or more")
        })
}

/// A probe's `interval` or `timeout`.
fn nonzero(key: &'static str) -> impl Fn(&KdlEntry) -> ValueResult<Duration> {
    nonzero_duration(key, "give a duration such as \"250ms\" or \"2s\"")
}

/// `IP:PORT`, `[IPv6]:PORT` or an absolute path: nothing to look up.
fn connect_target(entry: &KdlEntry) -> ValueResult<ConnectTarget> {
    let text = values::string(entry.value())?;
    if text.starts_with('/') {
        return Ok(ConnectTarget::Unix(PathBuf::from(text)));
    }
    match text.parse::<SocketAddr>() {
        Ok(address) if address.port() != 0 => Ok(ConnectTarget::Tcp(address)),
        _ => Err(ValueError::new(
            format!("`{text}` is not a literal IP address with a port, nor an absolute path"),
            "not an address",
        )
        .with_help(
            "write \"127.0.0.1:8080\", \"[::1]:8080\" or \"/run/web.sock\": svinit looks up no names",
        )),
    }
}
