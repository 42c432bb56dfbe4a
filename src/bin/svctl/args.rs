//! Command-line arguments: words to a `Cli`, or a usage error that names
//! the one wrong thing, with a suggestion when a command or option is
//! close to what was typed (`stauts`: did you mean `status`?).

use std::collections::HashMap;
use std::fmt;
use std::path::PathBuf;
use std::time::Duration;

use svinit::control::{Request, parse_signal};

use crate::{Cli, Command, DEFAULT_WAIT, Verb};

/// The commands, for suggestions.
const COMMANDS: &[&str] = &[
    "status", "start", "stop", "restart", "kill", "reopen", "logs", "reload", "check", "events",
    "tree", "blame", "plot", "shutdown", "poweroff", "reboot", "halt", "help",
];

/// The options before the command.
const GLOBAL_OPTIONS: &[&str] = &["-s", "--socket", "-h", "--help", "-V", "--version"];

/// What was wrong with the command line, said in one line.
#[derive(Debug, PartialEq)]
pub(crate) struct UsageError {
    message: String,
    /// Where to read more: `svctl --help` for …
    more: &'static str,
    /// Nothing was given at all: the whole usage is the answer.
    pub(crate) nothing_given: bool,
}

impl UsageError {
    fn new(message: impl Into<String>) -> UsageError {
        UsageError {
            message: message.into(),
            more: "usage",
            nothing_given: false,
        }
    }

    fn unknown_command(word: &str) -> UsageError {
        let message = if word.starts_with('-') {
            format!(
                "unknown option `{word}`{}",
                suggestion(word, GLOBAL_OPTIONS)
            )
        } else {
            format!("unknown command `{word}`{}", suggestion(word, COMMANDS))
        };
        UsageError {
            message,
            more: "all commands",
            nothing_given: false,
        }
    }

    fn unknown_option(command: &str, option: &str, allowed: &[&str]) -> UsageError {
        UsageError::new(format!(
            "{command}: unknown option `{option}`{}",
            suggestion(option, allowed)
        ))
    }
}

impl fmt::Display for UsageError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} (svctl --help for {})", self.message, self.more)
    }
}

impl From<String> for UsageError {
    fn from(message: String) -> UsageError {
        UsageError::new(message)
    }
}

impl From<&str> for UsageError {
    fn from(message: &str) -> UsageError {
        UsageError::new(message)
    }
}

/// `; did you mean `X`?` when `word` is most likely `X` (see `closest`),
/// else nothing.
fn suggestion(word: &str, candidates: &[&str]) -> String {
    closest(word, candidates)
        .map(|meant| format!("; did you mean `{meant}`?"))
        .unwrap_or_default()
}

/// The one candidate `word` begins, else the one nearest to it within a
/// typo (two for longer words: a letter left out, added, changed or two
/// swapped counts as one), when no other is as near.
pub(crate) fn closest<'a>(word: &str, candidates: &[&'a str]) -> Option<&'a str> {
    let begun: Vec<&str> = candidates
        .iter()
        .copied()
        .filter(|candidate| candidate.len() > word.len() && candidate.starts_with(word))
        .collect();
    if let [only] = begun[..] {
        return Some(only);
    }
    let limit = if word.trim_start_matches('-').chars().count() <= 4 {
        1
    } else {
        2
    };
    let mut scored: Vec<(usize, &str)> = candidates
        .iter()
        .map(|candidate| (edit_distance(word, candidate), *candidate))
        .filter(|&(distance, _)| distance <= limit)
        .collect();
    scored.sort();
    match scored[..] {
        [(best, meant), (next, _), ..] if next > best => Some(meant),
        [(_, meant)] => Some(meant),
        _ => None,
    }
}

/// Optimal string alignment distance: insertions, deletions, changes and
/// swaps of two neighbours each cost one.
fn edit_distance(a: &str, b: &str) -> usize {
    let a: Vec<char> = a.chars().collect();
    let b: Vec<char> = b.chars().collect();
    let mut rows = vec![vec![0usize; b.len() + 1]; a.len() + 1];
    for (i, row) in rows.iter_mut().enumerate() {
        row[0] = i;
    }
    for (j, cell) in rows[0].iter_mut().enumerate() {
        *cell = j;
    }
    for i in 1..=a.len() {
        for j in 1..=b.len() {
            let change = usize::from(a[i - 1] != b[j - 1]);
            let mut best = (rows[i - 1][j] + 1)
                .min(rows[i][j - 1] + 1)
                .min(rows[i - 1][j - 1] + change);
            if i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1] {
                best = best.min(rows[i - 2][j - 2] + 1);
            }
            rows[i][j] = best;
        }
    }
    rows[a.len()][b.len()]
}

pub(crate) fn parse_args(args: Vec<String>) -> Result<Cli, UsageError> {
    let mut socket = None;
    let mut words = Vec::new();
    let mut args = args.into_iter();
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "-s" | "--socket" => {
                let value = args.next().ok_or_else(|| format!("{arg} needs a path"))?;
                socket = Some(PathBuf::from(value));
            }
            _ if arg.starts_with("--socket=") => {
                socket = Some(PathBuf::from(&arg["--socket=".len()..]));
            }
            "-h" | "--help" if words.is_empty() => {
                return Ok(Cli {
                    socket,
                    command: Command::Help,
                });
            }
            "-V" | "--version" if words.is_empty() => {
                return Ok(Cli {
                    socket,
                    command: Command::Version,
                });
            }
            _ => words.push(arg),
        }
    }
    let mut words = words.into_iter();
    let verb = words.next().ok_or(UsageError {
        message: "no command given".into(),
        more: "all commands",
        nothing_given: true,
    })?;
    let rest: Vec<String> = words.collect();
    let command = parse_command(&verb, rest)?;
    Ok(Cli { socket, command })
}

/// Flags given to a command, with their values when they take one.
type Flags = HashMap<String, Option<String>>;

/// Splits `args` into flags (with the values of `valued` flags) and
/// positional words; refuses flags not in `allowed`.
pub(crate) fn split_flags(
    command: &str,
    args: Vec<String>,
    allowed: &[&str],
    valued: &[&str],
) -> Result<(Flags, Vec<String>), UsageError> {
    let mut flags = HashMap::new();
    let mut positional = Vec::new();
    let mut args = args.into_iter();
    while let Some(arg) = args.next() {
        if arg == "-h" || arg == "--help" {
            flags.insert("--help".to_string(), None);
            continue;
        }
        if arg == "--" {
            positional.extend(args.by_ref());
            break;
        }
        if arg.starts_with('-') && arg.len() > 1 {
            let (name, inline) = match arg.split_once('=') {
                Some((name, value)) => (name.to_string(), Some(value.to_string())),
                None => (arg.clone(), None),
            };
            if !allowed.contains(&name.as_str()) {
                return Err(UsageError::unknown_option(command, &arg, allowed));
            }
            let value = if valued.contains(&name.as_str()) {
                match inline {
                    Some(value) => Some(value),
                    None => Some(
                        args.next()
                            .ok_or_else(|| format!("{command}: {name} needs a value"))?,
                    ),
                }
            } else if inline.is_some() {
                return Err(format!("{command}: {name} takes no value").into());
            } else {
                None
            };
            flags.insert(name, value);
        } else {
            positional.push(arg);
        }
    }
    Ok((flags, positional))
}

pub(crate) fn parse_command(verb: &str, args: Vec<String>) -> Result<Command, UsageError> {
    let flag_value = |flags: &Flags, names: &[&str]| {
        names
            .iter()
            .find_map(|name| flags.get(*name).cloned().flatten())
    };
    let command = match verb {
        "status" => {
            let (flags, names) = split_flags(verb, args, &["--json"], &[])?;
            if flags.contains_key("--help") {
                return Ok(Command::Help);
            }
            Command::Status {
                json: flags.contains_key("--json"),
                names,
            }
        }
        "start" | "stop" | "restart" => {
            let Some(waiting) = wait_flags(verb, args, true)? else {
                return Ok(Command::Help);
            };
            match (waiting.words.is_empty(), waiting.all) {
                (true, false) => {
                    return Err(format!("{verb}: name at least one service, or --all").into());
                }
                (false, true) => {
                    return Err(format!("{verb}: give service names or --all, not both").into());
                }
                _ => {}
            }
            let verb = match verb {
                "start" => Verb::Start,
                "stop" => Verb::Stop,
                _ => Verb::Restart,
            };
            Command::Change {
                verb,
                names: waiting.words,
                all: waiting.all,
                wait: waiting.wait,
                timeout: waiting.timeout.unwrap_or(DEFAULT_WAIT),
            }
        }
        "kill" => {
            // kill(1)'s habit: `kill -9 NAME`.
            if let Some(dashed) = args.iter().find(|arg| {
                arg.strip_prefix('-')
                    .is_some_and(|signal| parse_signal(signal).is_some())
            }) {
                return Err(format!(
                    "kill: give the signal after the name, without `-`: svctl kill NAME {}",
                    &dashed[1..]
                )
                .into());
            }
            let (flags, words) = split_flags(verb, args, &["--group"], &[])?;
            if flags.contains_key("--help") {
                return Ok(Command::Help);
            }
            let [name, signal] = <[String; 2]>::try_from(words)
                .map_err(|_| "kill: give a service name and a signal")?;
            if parse_signal(&signal).is_none() {
                return Err(format!(
                    "kill: unknown signal `{signal}` (a name like HUP, a number from 1 to 64, or 0 to check that it runs)"
                )
                .into());
            }
            Command::Kill {
                name,
                signal,
                group: flags.contains_key("--group"),
            }
        }
        "reopen" => {
            let (flags, names) = split_flags(verb, args, &[], &[])?;
            if flags.contains_key("--help") {
                return Ok(Command::Help);
            }
            Command::Reopen { names }
        }
        "logs" => {
            let (flags, words) = split_flags(
                verb,
                args,
                &["-f", "--follow", "-n", "--lines"],
                &["-n", "--lines"],
            )?;
            if flags.contains_key("--help") {
                return Ok(Command::Help);
            }
            let lines = match flag_value(&flags, &["-n", "--lines"]) {
                Some(text) => Some(
                    text.parse::<u32>()
                        .map_err(|_| format!("logs: bad line count `{text}`"))?,
                ),
                None => None,
            };
            Command::Logs {
                names: words,
                lines,
                follow: flags.contains_key("-f") || flags.contains_key("--follow"),
            }
        }
        "reload" => {
            let (flags, words) = split_flags(verb, args, &["--dry-run", "-n"], &[])?;
            if flags.contains_key("--help") {
                return Ok(Command::Help);
            }
            no_words(verb, &words)?;
            Command::Reload {
                dry_run: flags.contains_key("--dry-run") || flags.contains_key("-n"),
            }
        }
        "check" => {
            let (flags, words) = split_flags(verb, args, &["-c", "--config"], &["-c", "--config"])?;
            if flags.contains_key("--help") {
                return Ok(Command::Help);
            }
            no_words(verb, &words)?;
            Command::Check {
                config: flag_value(&flags, &["-c", "--config"]).map(PathBuf::from),
            }
        }
        "events" => {
            let (flags, words) =
                split_flags(verb, args, &["--since", "--no-follow"], &["--since"])?;
            if flags.contains_key("--help") {
                return Ok(Command::Help);
            }
            no_words(verb, &words)?;
            let since = match flag_value(&flags, &["--since"]) {
                Some(text) => Some(
                    text.parse::<u64>()
                        .map_err(|_| format!("events: bad sequence number `{text}`"))?,
                ),
                None => None,
            };
            Command::Events {
                since,
                follow: !flags.contains_key("--no-follow"),
            }
        }
        "tree" => {
            let (flags, words) = split_flags(verb, args, &["--dot"], &[])?;
            if flags.contains_key("--help") {
                return Ok(Command::Help);
            }
            if words.len() > 1 {
                return Err("tree: at most one service name".into());
            }
            Command::Tree {
                name: words.into_iter().next(),
                dot: flags.contains_key("--dot"),
            }
        }
        "blame" | "plot" | "poweroff" | "reboot" | "halt" => {
            let (flags, words) = split_flags(verb, args, &[], &[])?;
            if flags.contains_key("--help") {
                return Ok(Command::Help);
            }
            no_words(verb, &words)?;
            match verb {
                "blame" => Command::Blame,
                "plot" => Command::Plot,
                "poweroff" => Command::Power(Request::Poweroff),
                "reboot" => Command::Power(Request::Reboot),
                _ => Command::Power(Request::Halt),
            }
        }
        "shutdown" => {
            let Some(waiting) = wait_flags(verb, args, false)? else {
                return Ok(Command::Help);
            };
            no_words(verb, &waiting.words)?;
            Command::Shutdown {
                wait: waiting.wait,
                timeout: waiting.timeout,
            }
        }
        "help" => Command::Help,
        other => return Err(UsageError::unknown_command(other)),
    };
    Ok(command)
}

/// `[--no-wait] [--timeout|-t DUR] [--all] WORDS…`.
pub(crate) struct Waiting {
    wait: bool,
    timeout: Option<Duration>,
    all: bool,
    words: Vec<String>,
}

/// The waiting flags of `verb` (and `--all` when it `takes_all`); `None`
/// for `--help`.
pub(crate) fn wait_flags(
    verb: &str,
    args: Vec<String>,
    takes_all: bool,
) -> Result<Option<Waiting>, UsageError> {
    let allowed: &[&str] = if takes_all {
        &["--no-wait", "--timeout", "-t", "--all"]
    } else {
        &["--no-wait", "--timeout", "-t"]
    };
    let (flags, words) = split_flags(verb, args, allowed, &["--timeout", "-t"])?;
    if flags.contains_key("--help") {
        return Ok(None);
    }
    let text = ["--timeout", "-t"]
        .iter()
        .find_map(|name| flags.get(*name).cloned().flatten());
    let timeout = match text {
        Some(text) => Some(
            parse_duration(&text)
                .ok_or_else(|| format!("{verb}: bad duration `{text}` (e.g. 30s, 500ms, 2m)"))?,
        ),
        None => None,
    };
    Ok(Some(Waiting {
        wait: !flags.contains_key("--no-wait"),
        timeout,
        all: flags.contains_key("--all"),
        words,
    }))
}

pub(crate) fn no_words(command: &str, words: &[String]) -> Result<(), UsageError> {
    match words.first() {
        Some(word) => Err(format!("{command}: unexpected argument `{word}`").into()),
        None => Ok(()),
    }
}

/// `250ms`, `10s`, `5m`, `1h`, or a number of seconds.
pub(crate) fn parse_duration(text: &str) -> Option<Duration> {
    let text = text.trim();
    let split = text
        .find(|c: char| !c.is_ascii_digit() && c != '.')
        .unwrap_or(text.len());
    let (number, unit) = text.split_at(split);
    let value: f64 = number.parse().ok()?;
    let seconds = match unit {
        "" | "s" => value,
        "ms" => value / 1000.0,
        "m" => value * 60.0,
        "h" => value * 3600.0,
        _ => return None,
    };
    Duration::try_from_secs_f64(seconds).ok()
}
