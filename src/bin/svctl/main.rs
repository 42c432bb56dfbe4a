//! `svctl`: the control client of svinit. Parses its arguments, speaks the
//! JSON-lines protocol of `svinit::control` over the control socket and
//! turns replies into text, JSON and the exit codes of SPEC.md §5:
//! 0 ok, 1 failed, 2 usage, 3 a named service is not up, 4 unknown
//! service, 5 svinit not reachable. Nothing heavy runs before connecting.
//!
//! svctl has its own C `main` in place of std's start-up (`start.rs`): a
//! status query is mostly process start-up.

#![cfg_attr(not(test), no_main)]

use std::path::PathBuf;
use std::time::Duration;

use svinit::control::{Request, socket_path};

const USAGE: &str = "\
usage: svctl [-s SOCKET] COMMAND [ARGS]

  status [--json] [NAME...]            state of services (all when no NAME)
  start|stop|restart [--no-wait] [--timeout DUR] NAME...|--all
                                       and wait until up (oneshot: done) or down
  kill [--group] NAME SIGNAL           send SIGNAL (HUP, SIGUSR1, 9 ...; 0: does
                                       it run?) to NAME, or to its process group
  reopen [NAME...]                     reopen transcripts (all when no NAME)
  logs [-f] [-n LINES] [NAME...]       recent output (-f: and follow); several
                                       or no NAME: all of them, `NAME | line`
  reload [--dry-run]                   re-read the configuration
  check [-c PATH]                      validate a configuration offline
  events [--since SEQ] [--no-follow]   state changes as JSON lines
  tree [NAME] [--dot]                  dependency tree (--dot: Graphviz)
  blame                                start-up time of each service
  plot                                 this boot as an SVG timeline (on stdout)
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
        use std::io::Write as _;
        let mut out = std::io::stdout().lock();
        if writeln!(out, $($arg)*).is_err() {
            std::process::exit(0);
        }
    }};
}

mod args;
mod change;
mod connection;
mod plot;
mod reports;
mod start;
mod status;
#[cfg(test)]
mod tests;

use args::parse_args;
use change::change;
use connection::{Connection, shutdown, simple};
use reports::{blame, events, logs, plot, reload, tree};
use status::status;

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
        all: bool,
        wait: bool,
        timeout: Duration,
    },
    Kill {
        name: String,
        signal: String,
        group: bool,
    },
    Reopen {
        names: Vec<String>,
    },
    Logs {
        names: Vec<String>,
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
    Plot,
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
            all,
            wait,
            timeout,
        } => change(&mut connection, verb, names, all, wait, timeout),
        Command::Kill {
            name,
            signal,
            group,
        } => simple(
            &mut connection,
            &Request::Kill {
                name,
                signal,
                group,
            },
        ),
        Command::Reopen { names } => simple(&mut connection, &Request::Reopen { names }),
        Command::Logs {
            names,
            lines,
            follow,
        } => logs(&mut connection, names, lines, follow),
        Command::Reload { dry_run } => reload(&mut connection, dry_run),
        Command::Events { since, follow } => events(&mut connection, since, follow),
        Command::Tree { name, dot } => tree(&mut connection, name, dot),
        Command::Blame => blame(&mut connection),
        Command::Plot => plot(&mut connection),
        Command::Power(request) => simple(&mut connection, &request),
        Command::Shutdown { wait, timeout } => shutdown(connection, &path, wait, timeout),
        Command::Help | Command::Version | Command::Check { .. } => Ok(EXIT_OK),
    };
    match outcome {
        Ok(code) => code,
        Err(failure) => failure.report(),
    }
}
