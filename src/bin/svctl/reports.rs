//! The other commands: logs, reload, events, blame, tree (text and dot).

use std::cmp::Ordering;
use std::collections::{HashMap, HashSet};
use std::io;
use std::io::Write;

use svinit::control::{
    BlameEntry, EventsReport, LogsReport, MAX_LOGS_REPLY_BYTES, MergedLogsReport, PlotReport,
    ReloadReport, Request, State, TreeNode, TreeReport,
};

use crate::EXIT_OK;
use crate::connection::{Connection, Failure};

/// `svctl logs`: one name prints its bare lines; several or none print
/// every line as `NAME | line`, in the order svinit received them.
pub(crate) fn logs(
    connection: &mut Connection,
    names: Vec<String>,
    lines: Option<u32>,
    follow: bool,
) -> Result<u8, Failure> {
    if let [name] = &names[..] {
        let report: LogsReport = connection.ask(&Request::Logs {
            name: Some(name.clone()),
            names: Vec::new(),
            lines,
            follow,
        })?;
        report.lines.iter().for_each(|line| say!("{line}"));
    } else {
        let report: MergedLogsReport = connection.ask(&Request::Logs {
            name: None,
            names,
            lines,
            follow,
        })?;
        if report.omitted > 0 {
            eprintln!(
                "svctl: {} older lines left out (a reply holds at most {} KiB; use -n or name fewer services)",
                report.omitted,
                MAX_LOGS_REPLY_BYTES / 1024
            );
        }
        for entry in &report.lines {
            say!("{} | {}", entry.service, entry.line);
        }
    }
    if !follow {
        return Ok(EXIT_OK);
    }
    connection.follow();
    while let Some(line) = connection.next_stream_line()? {
        match (line.service, line.log) {
            (Some(service), Some(text)) => say!("{service} | {text}"),
            (None, Some(text)) => say!("{text}"),
            (_, None) => {}
        }
    }
    Err(connection.stream_lost())
}

pub(crate) fn reload(connection: &mut Connection, dry_run: bool) -> Result<u8, Failure> {
    let report: ReloadReport = connection.ask(&Request::Reload { dry_run })?;
    let would = if report.dry_run { "would be " } else { "" };
    let nothing = report.added.is_empty()
        && report.removed.is_empty()
        && report.changed.is_empty()
        && report.global.is_empty();
    if nothing {
        say!("no changes");
    }
    for name in &report.added {
        say!("{would}added: {name}");
    }
    for name in &report.removed {
        say!("{would}removed: {name}");
    }
    for changed in &report.changed {
        say!(
            "{would}changed: {} ({})",
            changed.name,
            changed.keys.join(", ")
        );
    }
    for key in &report.global {
        say!("{would}changed: {key}");
    }
    if !report.dry_run && !report.changed.is_empty() {
        say!("changed services take the new config at their next start");
    }
    Ok(EXIT_OK)
}

pub(crate) fn events(
    connection: &mut Connection,
    since: Option<u64>,
    follow: bool,
) -> Result<u8, Failure> {
    let report: EventsReport = connection.ask(&Request::Events { since, follow })?;
    if report.missed > 0 {
        eprintln!(
            "svctl: {} events after {} are no longer kept; replaying from {}",
            report.missed,
            since.unwrap_or(0),
            report.oldest
        );
    }
    connection.follow();
    while let Some(line) = connection.next_stream_line()? {
        if let Some(event) = line.event {
            let text = serde_json::to_string(&event).unwrap_or_default();
            say!("{text}");
        }
    }
    if follow {
        return Err(connection.stream_lost());
    }
    Ok(EXIT_OK)
}

pub(crate) fn blame(connection: &mut Connection) -> Result<u8, Failure> {
    let entries: Vec<BlameEntry> = connection.ask(&Request::Blame)?;
    for line in blame_lines(entries) {
        say!("{line}");
    }
    Ok(EXIT_OK)
}

pub(crate) fn plot(connection: &mut Connection) -> Result<u8, Failure> {
    let report: PlotReport = connection.ask(&Request::Plot)?;
    let svg = crate::plot::render_svg(&report);
    say!("{}", svg.trim_end());
    Ok(EXIT_OK)
}

/// The lines of `svctl blame`: the services whose last start became
/// ready, slowest first, with the time from spawn to ready; then, apart
/// and by name, the failed ones, those in backoff (a time from a run that
/// then crashed would read as a start that went well), and those not ready
/// or not started.
pub(crate) fn blame_lines(mut entries: Vec<BlameEntry>) -> Vec<String> {
    let timed = |entry: &BlameEntry| {
        entry
            .ready_after
            .filter(|_| !matches!(entry.state, State::Failed | State::Backoff))
    };
    entries.sort_by(|a, b| {
        let rank = |entry: &BlameEntry| (entry.state != State::Failed) as u8;
        match (timed(a), timed(b)) {
            (Some(a), Some(b)) => b.total_cmp(&a),
            (Some(_), None) => Ordering::Less,
            (None, Some(_)) => Ordering::Greater,
            (None, None) => rank(a).cmp(&rank(b)),
        }
        .then_with(|| a.name.cmp(&b.name))
    });
    entries
        .iter()
        .map(|entry| {
            let name = &entry.name;
            match (timed(entry), entry.state, entry.spawned) {
                (Some(seconds), _, _) => format!("{seconds:>10.3}s  {name}"),
                (None, State::Failed | State::Backoff, _) => {
                    format!("{:>11}  {name} ({})", "-", entry.state)
                }
                (None, state, Some(_)) => format!("{:>11}  {name} (not ready: {state})", "-"),
                (None, state, None) => format!("{:>11}  {name} (not started: {state})", "-"),
            }
        })
        .collect()
}

pub(crate) fn tree(
    connection: &mut Connection,
    name: Option<String>,
    dot: bool,
) -> Result<u8, Failure> {
    let report: TreeReport = connection.ask(&Request::Tree { name })?;
    let text = if dot {
        render_dot(&report)
    } else {
        render_tree(&report)
    };
    let mut out = io::stdout().lock();
    if out.write_all(text.as_bytes()).is_err() {
        std::process::exit(0);
    }
    Ok(EXIT_OK)
}

/// Services and what they need (requires, wants), as an indented tree.
/// Without a root, the tops are the services nothing else needs.
pub(crate) fn render_tree(report: &TreeReport) -> String {
    let nodes: HashMap<&str, &TreeNode> = report
        .services
        .iter()
        .map(|n| (n.name.as_str(), n))
        .collect();
    let needed: HashSet<&str> = report
        .services
        .iter()
        .flat_map(|n| n.requires.iter().chain(&n.wants))
        .map(String::as_str)
        .collect();
    let tops: Vec<&str> = match &report.root {
        Some(root) => vec![root.as_str()],
        None => report
            .services
            .iter()
            .map(|n| n.name.as_str())
            .filter(|name| !needed.contains(name))
            .collect(),
    };
    let mut text = String::new();
    for top in tops {
        let state = nodes.get(top).map_or("?".into(), |n| n.state.to_string());
        text.push_str(&format!("{top} ({state})\n"));
        let mut path = vec![top];
        render_children(&nodes, top, "", &mut path, &mut text);
    }
    text
}

pub(crate) fn render_children<'a>(
    nodes: &HashMap<&'a str, &'a TreeNode>,
    name: &'a str,
    indent: &str,
    path: &mut Vec<&'a str>,
    text: &mut String,
) {
    let Some(node) = nodes.get(name) else {
        return;
    };
    let children: Vec<(&'a str, &str)> = node
        .requires
        .iter()
        .map(|c| (c.as_str(), "requires"))
        .chain(node.wants.iter().map(|c| (c.as_str(), "wants")))
        .collect();
    for (i, (child, how)) in children.iter().enumerate() {
        let last = i + 1 == children.len();
        let branch = if last { "└── " } else { "├── " };
        let state = nodes.get(child).map_or("?".into(), |n| n.state.to_string());
        let mark = if *how == "wants" { " [wants]" } else { "" };
        if path.contains(child) {
            text.push_str(&format!("{indent}{branch}{child} (cycle){mark}\n"));
            continue;
        }
        text.push_str(&format!("{indent}{branch}{child} ({state}){mark}\n"));
        let deeper = format!("{indent}{}", if last { "    " } else { "│   " });
        path.push(child);
        render_children(nodes, child, &deeper, path, text);
        path.pop();
    }
}

/// Graphviz: requires solid, wants dashed, ordering-only dotted.
pub(crate) fn render_dot(report: &TreeReport) -> String {
    let escape = |s: &str| s.replace('\\', "\\\\").replace('"', "\\\"");
    let quote = |s: &str| format!("\"{}\"", escape(s));
    let mut text = String::from("digraph svinit {\n  rankdir=LR;\n");
    for node in &report.services {
        // `\n` is Graphviz's line break inside a label.
        text.push_str(&format!(
            "  {} [label=\"{}\\n{}\"];\n",
            quote(&node.name),
            escape(&node.name),
            node.state
        ));
    }
    for node in &report.services {
        let from = quote(&node.name);
        for to in &node.requires {
            text.push_str(&format!("  {from} -> {};\n", quote(to)));
        }
        for to in &node.wants {
            text.push_str(&format!("  {from} -> {} [style=dashed];\n", quote(to)));
        }
        for to in &node.after {
            text.push_str(&format!("  {from} -> {} [style=dotted];\n", quote(to)));
        }
    }
    text.push_str("}\n");
    text
}
