//! Command-line arguments: words to a `Cli`, or a usage error.

use std::collections::HashMap;
use std::path::PathBuf;
use std::time::Duration;

use svinit::control::{Request, parse_signal};

use crate::{Cli, Command, DEFAULT_WAIT, Verb};

pub(crate) fn parse_args(args: Vec<String>) -> Result<Cli, String> {
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
    let verb = words.next().ok_or("no command given")?;
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
) -> Result<(Flags, Vec<String>), String> {
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
                return Err(format!("{command}: unknown option `{arg}`"));
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
                return Err(format!("{command}: {name} takes no value"));
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

pub(crate) fn parse_command(verb: &str, args: Vec<String>) -> Result<Command, String> {
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
            let Some((wait, timeout, names)) = wait_flags(verb, args)? else {
                return Ok(Command::Help);
            };
            if names.is_empty() {
                return Err(format!("{verb}: name at least one service"));
            }
            let timeout = timeout.unwrap_or(DEFAULT_WAIT);
            let verb = match verb {
                "start" => Verb::Start,
                "stop" => Verb::Stop,
                _ => Verb::Restart,
            };
            Command::Change {
                verb,
                names,
                wait,
                timeout,
            }
        }
        "kill" => {
            let (flags, words) = split_flags(verb, args, &[], &[])?;
            if flags.contains_key("--help") {
                return Ok(Command::Help);
            }
            let [name, signal] = <[String; 2]>::try_from(words)
                .map_err(|_| "kill: give a service name and a signal".to_string())?;
            if parse_signal(&signal).is_none() {
                return Err(format!(
                    "kill: unknown signal `{signal}` (a name like HUP or a number)"
                ));
            }
            Command::Kill { name, signal }
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
            let [name] = <[String; 1]>::try_from(words)
                .map_err(|_| "logs: give exactly one service name".to_string())?;
            let lines = match flag_value(&flags, &["-n", "--lines"]) {
                Some(text) => Some(
                    text.parse::<u32>()
                        .map_err(|_| format!("logs: bad line count `{text}`"))?,
                ),
                None => None,
            };
            Command::Logs {
                name,
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
        "blame" | "poweroff" | "reboot" | "halt" => {
            let (flags, words) = split_flags(verb, args, &[], &[])?;
            if flags.contains_key("--help") {
                return Ok(Command::Help);
            }
            no_words(verb, &words)?;
            match verb {
                "blame" => Command::Blame,
                "poweroff" => Command::Power(Request::Poweroff),
                "reboot" => Command::Power(Request::Reboot),
                _ => Command::Power(Request::Halt),
            }
        }
        "shutdown" => {
            let Some((wait, timeout, words)) = wait_flags(verb, args)? else {
                return Ok(Command::Help);
            };
            no_words(verb, &words)?;
            Command::Shutdown { wait, timeout }
        }
        "help" => Command::Help,
        other => return Err(format!("unknown command `{other}`")),
    };
    Ok(command)
}

/// `[--no-wait] [--timeout|-t DUR] WORDS…`: whether to wait, the timeout
/// and the words; `None` for `--help`.
type WaitFlags = (bool, Option<Duration>, Vec<String>);

pub(crate) fn wait_flags(verb: &str, args: Vec<String>) -> Result<Option<WaitFlags>, String> {
    let (flags, words) = split_flags(
        verb,
        args,
        &["--no-wait", "--timeout", "-t"],
        &["--timeout", "-t"],
    )?;
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
    Ok(Some((!flags.contains_key("--no-wait"), timeout, words)))
}

pub(crate) fn no_words(command: &str, words: &[String]) -> Result<(), String> {
    match words.first() {
        Some(word) => Err(format!("{command}: unexpected argument `{word}`")),
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
