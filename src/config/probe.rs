//! The `ready-probe { … }` block: one check (`connect`, `exec` or `shell`)
//! and its timing (`interval`, `timeout`), read into a [`Probe`] with a
//! diagnostic for anything else (SPEC §3 *Probes*, "Probe keys").

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use kdl::{KdlEntry, KdlNode};

use super::diagnostic::{Location, Problem};
use super::model::{
    Command, ConnectTarget, DEFAULT_PROBE_INTERVAL, DEFAULT_PROBE_TIMEOUT, Probe, ProbeCheck,
};
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

/// Reads the block of `node` (`ready-probe`); `None` when it is refused
/// (every problem reported).
pub(crate) fn read_probe(checker: &mut Checker<'_>, node: &KdlNode) -> Option<Probe> {
    let block_name = node.name().value();
    let block_at = checker.at(node.name().span());
    let problems_before = checker.problems.len();
    let mut check: Option<(ProbeCheck, Location)> = None;
    let mut interval = DEFAULT_PROBE_INTERVAL;
    let mut timeout = DEFAULT_PROBE_TIMEOUT;
    let mut seen: Vec<(&str, Location)> = Vec::new();
    for key_node in node
        .children()
        .map(|block| block.nodes())
        .unwrap_or_default()
    {
        let name = key_node.name().value();
        let name_at = checker.at(key_node.name().span());
        let Some(&(_, usage)) = PROBE_KEYS.iter().find(|(key, _)| *key == name) else {
            let known = PROBE_KEYS.iter().map(|(key, _)| *key);
            let help = match values::suggest(name, known) {
                Some(close) => format!("did you mean `{close}`?"),
                None => {
                    "a probe takes one of `connect`, `exec`, `shell`, and `interval`, `timeout`"
                        .to_owned()
                }
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
            "interval" => {
                checker.set(first, nonzero("interval"), &mut interval);
                None
            }
            _ => {
                checker.set(first, nonzero("timeout"), &mut timeout);
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

fn os_string(entry: &KdlEntry) -> ValueResult<String> {
    values::os_string(entry.value()).map(str::to_owned)
}

fn nonzero(key: &'static str) -> impl Fn(&KdlEntry) -> ValueResult<Duration> {
    move |entry| match values::duration(entry.value())? {
        zero if zero.is_zero() => Err(ValueError::new(format!("`{key}` cannot be zero"), "zero")
            .with_help("give a duration such as \"250ms\" or \"2s\"")),
        nonzero => Ok(nonzero),
    }
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
