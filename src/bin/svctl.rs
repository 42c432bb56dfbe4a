//! `svctl`: the control client of svinit. Parses its arguments, speaks the
//! JSON-lines protocol of `svinit::control` over the control socket and
//! turns replies into text, JSON and the exit codes of SPEC.md §5:
//! 0 ok, 1 failed, 2 usage, 3 a named service is not up, 4 unknown
//! service, 5 svinit not reachable. Nothing heavy runs before connecting.

use std::collections::{HashMap, HashSet};
use std::io::{self, BufRead, BufReader, Write};
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use svinit::control::{
    BlameEntry, ErrorKind, EventsReport, LogsReport, ProtocolError, ReloadReport, Reply, Request,
    Running, ServiceStatusJson, State, StatusReport, StreamLine, TreeNode, TreeReport,
    parse_signal, socket_path,
};

const USAGE: &str = "\
usage: svctl [-s SOCKET] COMMAND [ARGS]

  status [--json] [NAME...]            state of services (all when no NAME)
  start|stop|restart [--no-wait] [--timeout DUR] NAME...
                                       and wait until up (oneshot: done) or down
  kill NAME SIGNAL                     send SIGNAL (HUP, SIGUSR1, 9 ...) to NAME
  reopen [NAME...]                     reopen transcripts (all when no NAME)
  logs [-f] [-n LINES] NAME            recent output of NAME (-f: and follow)
  reload [--dry-run]                   re-read the configuration
  check [-c PATH]                      validate a configuration offline
  events [--since SEQ] [--no-follow]   state changes as JSON lines
  tree [NAME] [--dot]                  dependency tree (--dot: Graphviz)
  blame                                start-up time of each service
  shutdown [--no-wait] [--timeout DUR]  stop every service and end svinit
                                       (user, container mode); waits until gone
  poweroff|reboot|halt                 system mode only

  -s, --socket PATH   control socket (env SVINIT_SOCKET)
  -h, --help          this text
  -V, --version       version

exit status: 0 ok, 1 failed, 2 usage, 3 a named service is not up,
             4 unknown service, 5 svinit not reachable
";

const EXIT_OK: u8 = 0;
const EXIT_FAILED: u8 = 1;
const EXIT_USAGE: u8 = 2;
const EXIT_NOT_UP: u8 = 3;
const EXIT_UNKNOWN_SERVICE: u8 = 4;
const EXIT_UNREACHABLE: u8 = 5;

/// How long svctl waits for a reply before calling svinit unreachable.
const REPLY_TIMEOUT: Duration = Duration::from_secs(30);
/// Default bound on start/stop/restart waiting.
const DEFAULT_WAIT: Duration = Duration::from_secs(90);
/// Status polling interval while waiting.
const POLL_INTERVAL: Duration = Duration::from_millis(10);

/// Writes a line to stdout; a closed stdout (`svctl events | head`) ends
/// svctl quietly instead of panicking.
macro_rules! say {
    ($($arg:tt)*) => {{
        let mut out = io::stdout().lock();
        if writeln!(out, $($arg)*).is_err() {
            std::process::exit(0);
        }
    }};
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Verb {
    Start,
    Stop,
    Restart,
}

#[derive(Debug, PartialEq)]
enum Command {
    Status {
        json: bool,
        names: Vec<String>,
    },
    Change {
        verb: Verb,
        names: Vec<String>,
        wait: bool,
        timeout: Duration,
    },
    Kill {
        name: String,
        signal: String,
    },
    Reopen {
        names: Vec<String>,
    },
    Logs {
        name: String,
        lines: Option<u32>,
        follow: bool,
    },
    Reload {
        dry_run: bool,
    },
    Check {
        config: Option<PathBuf>,
    },
    Events {
        since: Option<u64>,
        follow: bool,
    },
    Tree {
        name: Option<String>,
        dot: bool,
    },
    Blame,
    Power(Request),
    Shutdown {
        wait: bool,
        timeout: Option<Duration>,
    },
    Help,
    Version,
}

#[derive(Debug, PartialEq)]
struct Cli {
    socket: Option<PathBuf>,
    command: Command,
}

fn main() -> ExitCode {
    let cli = match parse_args(std::env::args().skip(1).collect()) {
        Ok(cli) => cli,
        Err(message) => {
            eprintln!("svctl: {message}\n\n{USAGE}");
            return ExitCode::from(EXIT_USAGE);
        }
    };
    ExitCode::from(run(cli))
}

fn run(cli: Cli) -> u8 {
    match cli.command {
        Command::Help => {
            print!("{USAGE}");
            return EXIT_OK;
        }
        Command::Version => {
            say!("svctl {}", env!("CARGO_PKG_VERSION"));
            return EXIT_OK;
        }
        Command::Check { config } => {
            let path = svinit::config::resolve_config_path(config);
            return svinit::config::check_command(&path).clamp(0, 255) as u8;
        }
        _ => {}
    }
    let path = socket_path(cli.socket);
    let mut connection = match Connection::open(&path) {
        Ok(connection) => connection,
        Err(failure) => return failure.report(),
    };
    let outcome = match cli.command {
        Command::Status { json, names } => status(&mut connection, json, &names),
        Command::Change {
            verb,
            names,
            wait,
            timeout,
        } => change(&mut connection, verb, names, wait, timeout),
        Command::Kill { name, signal } => simple(&mut connection, &Request::Kill { name, signal }),
        Command::Reopen { names } => simple(&mut connection, &Request::Reopen { names }),
        Command::Logs {
            name,
            lines,
            follow,
        } => logs(&mut connection, name, lines, follow),
        Command::Reload { dry_run } => reload(&mut connection, dry_run),
        Command::Events { since, follow } => events(&mut connection, since, follow),
        Command::Tree { name, dot } => tree(&mut connection, name, dot),
        Command::Blame => blame(&mut connection),
        Command::Power(request) => simple(&mut connection, &request),
        Command::Shutdown { wait, timeout } => shutdown(connection, &path, wait, timeout),
        Command::Help | Command::Version | Command::Check { .. } => Ok(EXIT_OK),
    };
    match outcome {
        Ok(code) => code,
        Err(failure) => failure.report(),
    }
}

// ---------------------------------------------------------------- arguments

fn parse_args(args: Vec<String>) -> Result<Cli, String> {
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
fn split_flags(
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

fn parse_command(verb: &str, args: Vec<String>) -> Result<Command, String> {
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

fn wait_flags(verb: &str, args: Vec<String>) -> Result<Option<WaitFlags>, String> {
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

fn no_words(command: &str, words: &[String]) -> Result<(), String> {
    match words.first() {
        Some(word) => Err(format!("{command}: unexpected argument `{word}`")),
        None => Ok(()),
    }
}

/// `250ms`, `10s`, `5m`, `1h`, or a number of seconds.
fn parse_duration(text: &str) -> Option<Duration> {
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

// ---------------------------------------------------------------- connection

/// Why svctl stops, with its exit code and message.
struct Failure {
    code: u8,
    message: String,
}

impl Failure {
    fn new(code: u8, message: impl Into<String>) -> Failure {
        Failure {
            code,
            message: message.into(),
        }
    }

    /// An error reply from svinit, with the exit code its kind calls for.
    fn from_reply(error: ProtocolError) -> Failure {
        let code = match error.kind {
            ErrorKind::UnknownService => EXIT_UNKNOWN_SERVICE,
            _ => EXIT_FAILED,
        };
        Failure::new(code, error.message)
    }

    fn report(self) -> u8 {
        if !self.message.is_empty() {
            eprintln!("svctl: {}", self.message);
        }
        self.code
    }
}

struct Connection {
    path: PathBuf,
    reader: BufReader<UnixStream>,
    writer: UnixStream,
}

impl Connection {
    fn open(path: &Path) -> Result<Connection, Failure> {
        let unreachable = |err: io::Error| {
            Failure::new(
                EXIT_UNREACHABLE,
                format!(
                    "cannot reach svinit at {}: {} (is svinit running? -s or SVINIT_SOCKET choose another socket)",
                    path.display(),
                    plain_error(&err)
                ),
            )
        };
        let stream = UnixStream::connect(path).map_err(unreachable)?;
        stream
            .set_read_timeout(Some(REPLY_TIMEOUT))
            .map_err(unreachable)?;
        let writer = stream.try_clone().map_err(unreachable)?;
        Ok(Connection {
            path: path.to_path_buf(),
            reader: BufReader::new(stream),
            writer,
        })
    }

    fn lost(&self, detail: impl std::fmt::Display) -> Failure {
        Failure::new(
            EXIT_UNREACHABLE,
            format!("svinit at {} {detail}", self.path.display()),
        )
    }

    /// Sends `request` and reads its reply. A refused connection still has
    /// its error line to read even when the write failed.
    fn call(&mut self, request: &Request) -> Result<Reply, Failure> {
        let sent = self.writer.write_all(request.to_line().as_bytes());
        match self.read_line()? {
            Some(line) => serde_json::from_str(&line)
                .map_err(|err| self.lost(format!("sent an unreadable reply: {err}"))),
            None => Err(match sent {
                Err(err) => self.lost(format!("closed the connection: {}", plain_error(&err))),
                Ok(()) => self.lost("closed the connection without answering"),
            }),
        }
    }

    /// Sends `request` and decodes the data of an ok reply.
    fn ask<T: for<'de> serde::Deserialize<'de>>(
        &mut self,
        request: &Request,
    ) -> Result<T, Failure> {
        self.call(request)?
            .into_result()
            .map_err(Failure::from_reply)
    }

    /// The next line, or `None` at the end of the connection.
    fn read_line(&mut self) -> Result<Option<String>, Failure> {
        let mut line = String::new();
        match self.reader.read_line(&mut line) {
            Ok(0) => Ok(None),
            Ok(_) => Ok(Some(line)),
            Err(err) if err.kind() == io::ErrorKind::ConnectionReset && line.is_empty() => Ok(None),
            Err(err)
                if matches!(
                    err.kind(),
                    io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
                ) =>
            {
                Err(self.lost(format!(
                    "did not answer within {}s",
                    REPLY_TIMEOUT.as_secs()
                )))
            }
            Err(err) => Err(self.lost(format!("failed: {}", plain_error(&err)))),
        }
    }

    /// Streams are open-ended: no reply timeout.
    fn follow(&mut self) {
        let _ = self.reader.get_ref().set_read_timeout(None);
    }

    /// The next line of a stream, or `None` when svinit ends it.
    fn next_stream_line(&mut self) -> Result<Option<StreamLine>, Failure> {
        loop {
            let Some(line) = self.read_line()? else {
                return Ok(None);
            };
            // A final error (e.g. svinit shutting down) ends the stream.
            if let Ok(reply) = serde_json::from_str::<Reply>(&line)
                && let Some(error) = reply.error
            {
                return Err(Failure::from_reply(error));
            }
            if let Ok(stream_line) = serde_json::from_str::<StreamLine>(&line) {
                return Ok(Some(stream_line));
            }
        }
    }
}

/// `No such file or directory`, without std's ` (os error 2)`.
fn plain_error(err: &io::Error) -> String {
    match err.raw_os_error() {
        Some(errno) => nix::errno::Errno::from_raw(errno).desc().to_string(),
        None => err.to_string(),
    }
}

/// Commands whose whole answer is ok or an error.
fn simple(connection: &mut Connection, request: &Request) -> Result<u8, Failure> {
    connection.ask::<serde_json::Value>(request)?;
    Ok(EXIT_OK)
}

/// `svctl shutdown`: asks, then (unless `--no-wait`) waits until nobody
/// answers on the socket any more: svinit has stopped its services and
/// exited. Without `--timeout` it waits as long as the shutdown takes.
fn shutdown(
    mut connection: Connection,
    path: &Path,
    wait: bool,
    timeout: Option<Duration>,
) -> Result<u8, Failure> {
    connection.ask::<serde_json::Value>(&Request::Shutdown)?;
    drop(connection);
    if !wait {
        return Ok(EXIT_OK);
    }
    let deadline = timeout.map(|timeout| Instant::now() + timeout);
    while UnixStream::connect(path).is_ok() {
        if deadline.is_some_and(|deadline| Instant::now() >= deadline) {
            return Err(Failure::new(
                EXIT_FAILED,
                format!("svinit at {} is still shutting down", path.display()),
            ));
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    Ok(EXIT_OK)
}

// ---------------------------------------------------------------- status

fn status(connection: &mut Connection, json: bool, names: &[String]) -> Result<u8, Failure> {
    let report: StatusReport = connection.ask(&Request::Status {
        names: names.to_vec(),
    })?;
    if json {
        let text = serde_json::to_string(&report.services).unwrap_or_else(|_| "[]".into());
        say!("{text}");
    } else {
        print_status_table(&report, names.is_empty());
    }
    let all_up = report
        .services
        .iter()
        .all(|service| matches!(service.state, State::Up | State::Done));
    Ok(if !names.is_empty() && !all_up {
        EXIT_NOT_UP
    } else {
        EXIT_OK
    })
}

fn unix_now() -> f64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs_f64())
        .unwrap_or(0.0)
}

/// `45s`, `3m12s`, `5h2m`, `2d3h`.
fn format_age(seconds: i64) -> String {
    let s = seconds.max(0);
    match s {
        0..=59 => format!("{s}s"),
        60..=3599 => format!("{}m{}s", s / 60, s % 60),
        3600..=86_399 => format!("{}h{}m", s / 3600, s % 3600 / 60),
        _ => format!("{}d{}h", s / 86_400, s % 86_400 / 3600),
    }
}

/// The last column of the table: why, or what it is.
fn status_info(service: &ServiceStatusJson) -> String {
    let mut parts = Vec::new();
    if let Some(reason) = &service.reason {
        parts.push(reason.clone());
    } else if let Some(exit) = &service.exit
        && !matches!(service.state, State::Up | State::Starting | State::Stopping)
    {
        parts.push(format!("last {exit}"));
    }
    if let Some(seconds) = service.next_restart {
        parts.push(format!("restart in {seconds:.1}s"));
    }
    if service.want == Running::Down
        && matches!(service.state, State::Up | State::Starting | State::Waiting)
    {
        parts.push("stop pending".into());
    }
    if service.config_changed {
        parts.push("config changed, applies at next start".into());
    }
    if let Some(text) = &service.status_text {
        parts.push(format!("status: {text}"));
    }
    if let Some(problem) = &service.output_problem {
        parts.push(format!("output: {problem}"));
    }
    if parts.is_empty()
        && let Some(description) = &service.description
    {
        parts.push(description.clone());
    }
    parts.join("; ")
}

fn print_status_table(report: &StatusReport, whole: bool) {
    let now = unix_now() as i64;
    let rows: Vec<[String; 6]> = report
        .services
        .iter()
        .map(|service| {
            [
                service.name.clone(),
                service.state.to_string(),
                service.pid.map_or("-".into(), |pid| pid.to_string()),
                format_age(now - service.since),
                service.restarts.to_string(),
                status_info(service),
            ]
        })
        .collect();
    let header = ["NAME", "STATE", "PID", "SINCE", "RESTARTS", "INFO"].map(String::from);
    let mut widths = header.clone().map(|h| h.len());
    for row in &rows {
        for (width, cell) in widths.iter_mut().zip(row) {
            *width = (*width).max(cell.chars().count());
        }
    }
    let render = |row: &[String; 6]| {
        let mut line = String::new();
        for (i, cell) in row.iter().enumerate() {
            if i == 5 {
                line.push_str(cell);
            } else if i == 2 || i == 4 {
                line.push_str(&format!("{cell:>width$}  ", width = widths[i]));
            } else {
                line.push_str(&format!("{cell:<width$}  ", width = widths[i]));
            }
        }
        line.trim_end().to_string()
    };
    say!("{}", render(&header));
    for row in &rows {
        say!("{}", render(row));
    }
    if whole && report.orphans_reaped > 0 {
        say!("orphans reaped: {}", report.orphans_reaped);
    }
}

// ---------------------------------------------------------------- start/stop

/// What a service's state means for a start/stop/restart being waited on.
#[derive(Debug, PartialEq)]
enum Progress {
    Pending,
    Done,
    Failed(String),
}

/// Tracks one service through a start, stop or restart.
struct Waiter {
    verb: Verb,
    name: String,
    /// Pid when the request was answered: a restart must end on another.
    initial_pid: Option<i32>,
    /// The service has been seen out of its starting point (restart) or
    /// stopping (stop).
    moved: bool,
    last: Option<ServiceStatusJson>,
}

impl Waiter {
    fn new(verb: Verb, initial: &ServiceStatusJson) -> Waiter {
        let mut waiter = Waiter {
            verb,
            name: initial.name.clone(),
            initial_pid: initial.pid,
            moved: false,
            last: None,
        };
        waiter.observe(initial);
        waiter
    }

    fn observe(&mut self, service: &ServiceStatusJson) -> Progress {
        self.last = Some(service.clone());
        let reason = || {
            service
                .reason
                .clone()
                .unwrap_or_else(|| "no reason given".into())
        };
        match self.verb {
            Verb::Start | Verb::Restart => {
                if self.verb == Verb::Restart
                    && (service.pid != self.initial_pid
                        || !matches!(service.state, State::Up | State::Done))
                {
                    self.moved = true;
                }
                match service.state {
                    State::Up | State::Done if self.verb == Verb::Start || self.moved => {
                        Progress::Done
                    }
                    State::Failed => {
                        Progress::Failed(format!("{} failed: {}", self.name, reason()))
                    }
                    _ if service.want == Running::Down => {
                        Progress::Failed(format!("{} was stopped meanwhile", self.name))
                    }
                    _ => Progress::Pending,
                }
            }
            Verb::Stop => {
                if service.state == State::Stopping {
                    self.moved = true;
                }
                let stopped = service.pid.is_none()
                    && matches!(service.state, State::Down | State::Failed | State::Done);
                if !stopped {
                    return Progress::Pending;
                }
                if self.moved && service.reason_code.as_deref() == Some("stop-timeout") {
                    Progress::Failed(format!("{}: {}", self.name, reason()))
                } else {
                    Progress::Done
                }
            }
        }
    }

    fn timed_out(&self, timeout: Duration) -> String {
        let goal = match self.verb {
            Verb::Start | Verb::Restart => "come up",
            Verb::Stop => "stop",
        };
        let mut message = format!(
            "{} did not {goal} within {}",
            self.name,
            format_duration(timeout)
        );
        if let Some(last) = &self.last {
            message.push_str(&format!(" (state {}", last.state));
            if let Some(reason) = &last.reason {
                message.push_str(&format!(": {reason}"));
            }
            message.push(')');
        }
        message
    }
}

fn format_duration(d: Duration) -> String {
    if d.subsec_millis() == 0 {
        format!("{}s", d.as_secs())
    } else {
        format!("{}ms", d.as_millis())
    }
}

fn change(
    connection: &mut Connection,
    verb: Verb,
    names: Vec<String>,
    wait: bool,
    timeout: Duration,
) -> Result<u8, Failure> {
    let started = Instant::now();
    let request = match verb {
        Verb::Start => Request::Start {
            names: names.clone(),
        },
        Verb::Stop => Request::Stop {
            names: names.clone(),
        },
        Verb::Restart => Request::Restart {
            names: names.clone(),
        },
    };
    let initial: Vec<ServiceStatusJson> = connection.ask(&request)?;
    if !wait {
        return Ok(EXIT_OK);
    }
    let mut waiters: Vec<Waiter> = initial.iter().map(|s| Waiter::new(verb, s)).collect();
    let mut failures = Vec::new();
    let mut snapshot = initial;
    loop {
        let by_name: HashMap<&str, &ServiceStatusJson> =
            snapshot.iter().map(|s| (s.name.as_str(), s)).collect();
        waiters.retain_mut(|waiter| match by_name.get(waiter.name.as_str()) {
            Some(service) => match waiter.observe(service) {
                Progress::Pending => true,
                Progress::Done => false,
                Progress::Failed(message) => {
                    failures.push(message);
                    false
                }
            },
            // Removed by a reload meanwhile: nothing left to wait for.
            None => false,
        });
        if waiters.is_empty() {
            break;
        }
        if started.elapsed() >= timeout {
            failures.extend(waiters.iter().map(|w| w.timed_out(timeout)));
            break;
        }
        std::thread::sleep(POLL_INTERVAL);
        let names = waiters.iter().map(|w| w.name.clone()).collect();
        let report: StatusReport = connection.ask(&Request::Status { names })?;
        snapshot = report.services;
    }
    if failures.is_empty() {
        return Ok(EXIT_OK);
    }
    for message in &failures {
        eprintln!("svctl: {message}");
    }
    Ok(EXIT_FAILED)
}

// ---------------------------------------------------------------- the rest

fn logs(
    connection: &mut Connection,
    name: String,
    lines: Option<u32>,
    follow: bool,
) -> Result<u8, Failure> {
    let report: LogsReport = connection.ask(&Request::Logs {
        name,
        lines,
        follow,
    })?;
    for line in &report.lines {
        say!("{line}");
    }
    if follow {
        connection.follow();
        while let Some(line) = connection.next_stream_line()? {
            if let Some(text) = line.log {
                say!("{text}");
            }
        }
    }
    Ok(EXIT_OK)
}

fn reload(connection: &mut Connection, dry_run: bool) -> Result<u8, Failure> {
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

fn events(connection: &mut Connection, since: Option<u64>, follow: bool) -> Result<u8, Failure> {
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
    Ok(EXIT_OK)
}

fn blame(connection: &mut Connection) -> Result<u8, Failure> {
    let mut entries: Vec<BlameEntry> = connection.ask(&Request::Blame)?;
    entries.sort_by(|a, b| {
        b.ready_after
            .unwrap_or(-1.0)
            .total_cmp(&a.ready_after.unwrap_or(-1.0))
            .then_with(|| a.name.cmp(&b.name))
    });
    for entry in entries {
        match (entry.ready_after, entry.spawned) {
            (Some(seconds), _) => say!("{:>10.3}s  {}", seconds, entry.name),
            (None, Some(_)) => say!("{:>11}  {} (not ready: {})", "-", entry.name, entry.state),
            (None, None) => say!("{:>11}  {} (not started: {})", "-", entry.name, entry.state),
        }
    }
    Ok(EXIT_OK)
}

fn tree(connection: &mut Connection, name: Option<String>, dot: bool) -> Result<u8, Failure> {
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
fn render_tree(report: &TreeReport) -> String {
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

fn render_children<'a>(
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
fn render_dot(report: &TreeReport) -> String {
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

#[cfg(test)]
mod tests {
    use super::*;
    use svinit::control::ExitJson;

    fn args(text: &str) -> Vec<String> {
        text.split_whitespace().map(String::from).collect()
    }

    fn command(text: &str) -> Result<Command, String> {
        parse_args(args(text)).map(|cli| cli.command)
    }

    #[test]
    fn arguments_parse_into_commands() {
        let cli = parse_args(args("-s /x.sock status --json web db")).unwrap();
        assert_eq!(cli.socket, Some(PathBuf::from("/x.sock")));
        assert_eq!(
            cli.command,
            Command::Status {
                json: true,
                names: vec!["web".into(), "db".into()]
            }
        );
        assert_eq!(
            parse_args(args("status --socket=/y")).unwrap().socket,
            Some(PathBuf::from("/y"))
        );
        assert_eq!(
            command("restart --timeout 2s --no-wait web").unwrap(),
            Command::Change {
                verb: Verb::Restart,
                names: vec!["web".into()],
                wait: false,
                timeout: Duration::from_secs(2)
            }
        );
        assert_eq!(
            command("stop web").unwrap(),
            Command::Change {
                verb: Verb::Stop,
                names: vec!["web".into()],
                wait: true,
                timeout: DEFAULT_WAIT
            }
        );
        assert_eq!(
            command("logs -f -n 20 web").unwrap(),
            Command::Logs {
                name: "web".into(),
                lines: Some(20),
                follow: true
            }
        );
        assert_eq!(
            command("events --since 12").unwrap(),
            Command::Events {
                since: Some(12),
                follow: true
            }
        );
        assert_eq!(
            command("tree web --dot").unwrap(),
            Command::Tree {
                name: Some("web".into()),
                dot: true
            }
        );
        assert_eq!(
            command("reload --dry-run").unwrap(),
            Command::Reload { dry_run: true }
        );
        assert_eq!(
            command("check -c /etc/x").unwrap(),
            Command::Check {
                config: Some("/etc/x".into())
            }
        );
        assert_eq!(
            command("kill web hup").unwrap(),
            Command::Kill {
                name: "web".into(),
                signal: "hup".into()
            }
        );
        assert_eq!(command("halt").unwrap(), Command::Power(Request::Halt));
        assert_eq!(command("--help").unwrap(), Command::Help);
        assert_eq!(command("status --help").unwrap(), Command::Help);
    }

    #[test]
    fn usage_errors_are_reported() {
        for bad in [
            "",
            "frobnicate",
            "start",
            "start --timeout",
            "start --timeout soon web",
            "kill web",
            "kill web NOTASIGNAL",
            "logs",
            "logs a b",
            "logs -n many web",
            "events --since x",
            "reload now",
            "status --bogus",
            "blame extra",
            "tree a b",
            "-s",
        ] {
            assert!(command(bad).is_err(), "`{bad}` should be a usage error");
        }
    }

    #[test]
    fn durations_take_units() {
        assert_eq!(parse_duration("250ms"), Some(Duration::from_millis(250)));
        assert_eq!(parse_duration("10s"), Some(Duration::from_secs(10)));
        assert_eq!(parse_duration("10"), Some(Duration::from_secs(10)));
        assert_eq!(parse_duration("1.5s"), Some(Duration::from_millis(1500)));
        assert_eq!(parse_duration("2m"), Some(Duration::from_secs(120)));
        assert_eq!(parse_duration("1h"), Some(Duration::from_secs(3600)));
        assert_eq!(parse_duration("soon"), None);
        assert_eq!(parse_duration("5x"), None);
        assert_eq!(parse_duration(""), None);
    }

    #[test]
    fn ages_are_short() {
        assert_eq!(format_age(-3), "0s");
        assert_eq!(format_age(59), "59s");
        assert_eq!(format_age(192), "3m12s");
        assert_eq!(format_age(18_120), "5h2m");
        assert_eq!(format_age(183_600), "2d3h");
    }

    fn service(name: &str, state: State, pid: Option<i32>) -> ServiceStatusJson {
        ServiceStatusJson {
            name: name.into(),
            status: if pid.is_some() {
                Running::Up
            } else {
                Running::Down
            },
            state,
            pid,
            since: 0,
            restarts: 0,
            exit: None,
            reason: None,
            reason_code: None,
            next_restart: None,
            history: vec![],
            config_changed: false,
            want: Running::Up,
            description: None,
            removed: false,
            output_problem: None,
            status_text: None,
        }
    }

    #[test]
    fn a_start_waits_for_up_or_done_and_fails_on_failed() {
        let mut waiter = Waiter::new(Verb::Start, &service("web", State::Waiting, None));
        assert_eq!(
            waiter.observe(&service("web", State::Starting, Some(5))),
            Progress::Pending
        );
        assert_eq!(
            waiter.observe(&service("web", State::Up, Some(5))),
            Progress::Done
        );
        let mut oneshot = Waiter::new(Verb::Start, &service("init", State::Starting, Some(6)));
        assert_eq!(
            oneshot.observe(&service("init", State::Done, None)),
            Progress::Done
        );
        let mut failing = Waiter::new(Verb::Start, &service("bad", State::Starting, None));
        let mut failed = service("bad", State::Failed, None);
        failed.reason = Some("exec /nope: No such file or directory".into());
        assert_eq!(
            failing.observe(&failed),
            Progress::Failed("bad failed: exec /nope: No such file or directory".into())
        );
        let message = failing.timed_out(Duration::from_secs(3));
        assert!(message.starts_with("bad did not come up within 3s (state failed"));
    }

    #[test]
    fn a_restart_needs_a_new_process() {
        let mut waiter = Waiter::new(Verb::Restart, &service("web", State::Up, Some(10)));
        assert_eq!(
            waiter.observe(&service("web", State::Up, Some(10))),
            Progress::Pending
        );
        assert_eq!(
            waiter.observe(&service("web", State::Up, Some(11))),
            Progress::Done
        );
        let mut waiter = Waiter::new(Verb::Restart, &service("web", State::Stopping, Some(10)));
        assert_eq!(
            waiter.observe(&service("web", State::Stopping, Some(10))),
            Progress::Pending
        );
        assert_eq!(
            waiter.observe(&service("web", State::Up, Some(12))),
            Progress::Done
        );
    }

    #[test]
    fn a_stop_waits_for_no_process_and_reports_a_kill() {
        let mut waiter = Waiter::new(Verb::Stop, &service("web", State::Stopping, Some(10)));
        assert_eq!(
            waiter.observe(&service("web", State::Stopping, Some(10))),
            Progress::Pending
        );
        assert_eq!(
            waiter.observe(&service("web", State::Down, None)),
            Progress::Done
        );
        let mut killed = Waiter::new(Verb::Stop, &service("web", State::Stopping, Some(10)));
        let mut down = service("web", State::Down, None);
        down.reason = Some("did not stop within 1s, killed".into());
        down.reason_code = Some("stop-timeout".into());
        assert!(matches!(killed.observe(&down), Progress::Failed(_)));
        // An old stop-timeout reason on a service that was already down is not news.
        let mut already = Waiter::new(Verb::Stop, &down);
        assert_eq!(already.observe(&down), Progress::Done);
    }

    #[test]
    fn the_info_column_says_why() {
        let mut crashed = service("web", State::Backoff, None);
        crashed.reason = Some("exited with status 1".into());
        crashed.next_restart = Some(1.25);
        crashed.config_changed = true;
        assert_eq!(
            status_info(&crashed),
            "exited with status 1; restart in 1.2s; config changed, applies at next start"
        );
        let mut described = service("db", State::Up, Some(3));
        described.description = Some("Postgres".into());
        assert_eq!(status_info(&described), "Postgres");
        let mut exited = service("job", State::Done, None);
        exited.exit = Some(ExitJson::Code { code: 0 });
        assert_eq!(status_info(&exited), "last exited with status 0");
    }

    fn node(name: &str, requires: &[&str], wants: &[&str]) -> TreeNode {
        TreeNode {
            name: name.into(),
            state: State::Up,
            requires: requires.iter().map(|s| s.to_string()).collect(),
            wants: wants.iter().map(|s| s.to_string()).collect(),
            after: vec![],
        }
    }

    #[test]
    fn trees_render_from_the_top_services() {
        let report = TreeReport {
            root: None,
            services: vec![
                node("db", &[], &[]),
                node("cache", &[], &[]),
                node("web", &["db"], &["cache"]),
                node("lonely", &[], &[]),
            ],
        };
        assert_eq!(
            render_tree(&report),
            "web (up)\n├── db (up)\n└── cache (up) [wants]\nlonely (up)\n"
        );
        let dot = render_dot(&report);
        assert!(dot.contains("\"web\" -> \"db\";"), "{dot}");
        assert!(
            dot.contains("\"web\" -> \"cache\" [style=dashed];"),
            "{dot}"
        );
        assert!(dot.contains("\"web\" [label=\"web\\nup\"];"), "{dot}");
        // A cycle (which a valid config never has) does not loop forever.
        let cyclic = TreeReport {
            root: Some("a".into()),
            services: vec![node("a", &["b"], &[]), node("b", &["a"], &[])],
        };
        assert_eq!(
            render_tree(&cyclic),
            "a (up)\n└── b (up)\n    └── a (cycle)\n"
        );
    }
}
