//! `svinit --detach`: going to the background like `zdaemon start`.
//!
//! The foreground process forks once, before the loop exists (no threads,
//! no descriptors but the ones made here). The child starts a new session,
//! puts stdin on /dev/null and stdout/stderr on /dev/null or on the log
//! file, and keeps the write end of a pipe. It writes exactly one line on
//! it when the supervisor says the boot has settled (`Action::BootSettled`:
//! every autostart service has had its first try), or when it fails before
//! that (socket in use, exit during start-up), then closes it. The parent
//! waits for that line, prints it and exits 0 (all up/done) or 1; EOF
//! without a line means the child died, and its status is reported.
//!
//! Line protocol on the pipe: `0 TEXT\n` (success) or `1 TEXT\n` (failure).
//!
//! `svinit --detach -- COMMAND ARGS`: COMMAND becomes one more service,
//! named after the program's file name, marked `critical` so svinit lives
//! as long as it does (zdaemon's daemon manager ends when its program is
//! done or given up on) and restarted with the usual backoff meanwhile.

use std::fs::{File, OpenOptions};
use std::io::{self, Read, Write};
use std::os::fd::OwnedFd;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

use nix::sys::wait::{WaitStatus, waitpid};
use nix::unistd::{ForkResult, Pid, dup2_stderr, dup2_stdin, dup2_stdout, fork, setsid};

use crate::config::{Command, Config, ServiceConfig};
use crate::supervisor::{Reason, StateKind};

/// The child's side: report the outcome of the start-up to the waiting
/// foreground process, once.
#[derive(Debug)]
pub struct Detached {
    pipe: Option<File>,
}

impl Detached {
    /// Boot settled: the summary line, exit 0 unless something failed or
    /// is not up after its first try.
    pub fn settled(&mut self, summary: &Summary) {
        let code = if summary.succeeded() { 0 } else { 1 };
        self.send(code, &summary.line(std::process::id()));
    }

    /// svinit could not start, or is exiting before the boot settled.
    pub fn failed(&mut self, message: &str) {
        self.send(1, message);
    }

    fn send(&mut self, code: u8, text: &str) {
        if let Some(mut pipe) = self.pipe.take() {
            // One line, newlines inside flattened, shorter than PIPE_BUF:
            // one write into the empty pipe, which never blocks even if
            // the parent is stopped. A parent that is gone (EPIPE; SIGPIPE
            // is blocked in svinit) changes nothing.
            let line = report_line(code, text);
            let _ = pipe.write_all(line.as_bytes());
        }
    }
}

/// The most a report line takes, newline included: under `PIPE_BUF`.
const REPORT_MAX: usize = 4000;

/// `CODE TEXT\n`, flattened to one line and cut (with `…`) to fit
/// [`REPORT_MAX`] (hundreds of failed services could make it longer).
fn report_line(code: u8, text: &str) -> String {
    let mut line = format!("{code} {}", text.replace('\n', " "));
    if line.len() + 1 > REPORT_MAX {
        let mut end = REPORT_MAX - 1 - '…'.len_utf8();
        while !line.is_char_boundary(end) {
            end -= 1;
        }
        line.truncate(end);
        line.push('…');
    }
    line.push('\n');
    line
}

/// Which way `detach` returned.
pub enum Fork {
    /// In the background process: run svinit, report with `Detached`.
    Child(Detached),
    /// In the foreground process, after the child reported: exit with it.
    Parent(u8),
}

/// Where the background svinit's stdout and stderr go.
pub fn log_path(log: Option<PathBuf>, verbose: bool, socket: &Path) -> Option<PathBuf> {
    log.or_else(|| verbose.then(|| socket.with_extension("log")))
}

/// Forks into the background. The log file is opened first, so a bad path
/// is reported in the foreground.
pub fn detach(log: Option<&Path>) -> io::Result<Fork> {
    let devnull = OpenOptions::new()
        .read(true)
        .write(true)
        .open("/dev/null")?;
    let output: File = match log {
        Some(path) => OpenOptions::new()
            .create(true)
            .append(true)
            .mode(0o600)
            .open(path)
            .map_err(|err| io::Error::new(err.kind(), format!("{}: {err}", path.display())))?,
        None => devnull.try_clone()?,
    };
    let (read, write) = nix::unistd::pipe2(nix::fcntl::OFlag::O_CLOEXEC)?;
    // SAFETY: svinit has one thread here (the loop does not exist yet).
    match unsafe { fork() }? {
        ForkResult::Child => {
            drop(read);
            setsid()?;
            dup2_stdin(&devnull)?;
            dup2_stdout(&output)?;
            dup2_stderr(&output)?;
            Ok(Fork::Child(Detached {
                pipe: Some(File::from(write)),
            }))
        }
        ForkResult::Parent { child } => {
            drop(write);
            Ok(Fork::Parent(wait_for_report(read, child)))
        }
    }
}

/// Reads the child's one line; prints it; returns the exit status.
fn wait_for_report(read: OwnedFd, child: Pid) -> u8 {
    let mut text = String::new();
    let mut pipe = File::from(read);
    let _ = pipe.read_to_string(&mut text);
    match parse_report(&text) {
        Some((0, message)) => {
            println!("{message}");
            0
        }
        Some((_, message)) => {
            eprintln!("{message}");
            1
        }
        None => {
            let how = match waitpid(child, None) {
                Ok(WaitStatus::Exited(_, code)) => format!("exited with status {code}"),
                Ok(WaitStatus::Signaled(_, signal, _)) => format!("was killed by {signal}"),
                _ => "is gone".to_string(),
            };
            eprintln!(
                "svinit: the background svinit (pid {child}) {how} before its services were started"
            );
            1
        }
    }
}

/// `0 TEXT` / `1 TEXT` → (code, TEXT).
pub fn parse_report(text: &str) -> Option<(u8, &str)> {
    let line = text.lines().next()?;
    let (code, message) = line.split_once(' ')?;
    Some((code.parse().ok()?, message))
}

/// The outcome of the boot, for the one line `--detach` prints.
#[derive(Debug, Default, PartialEq)]
pub struct Summary {
    pub up: usize,
    pub done: usize,
    /// Name and reason of each failed service.
    pub failed: Vec<(String, Option<String>)>,
    /// Name, state and reason of each service the boot stopped waiting for
    /// without it being up: in backoff after its first try, starting again,
    /// or waiting for such a one (SPEC §2).
    pub not_up: Vec<(String, Option<String>)>,
}

impl Summary {
    pub fn add(&mut self, name: &str, state: StateKind, reason: Option<&Reason>) {
        let reason = reason.map(|r| r.to_string());
        match state {
            StateKind::Up => self.up += 1,
            StateKind::Done => self.done += 1,
            StateKind::Down => {}
            StateKind::Failed => self.failed.push((name.to_string(), reason)),
            _ => {
                let shown = match reason {
                    Some(reason) if reason.starts_with(state.as_str()) => reason,
                    Some(reason) => format!("{state}: {reason}"),
                    None => state.to_string(),
                };
                self.not_up.push((name.to_string(), Some(shown)));
            }
        }
    }

    /// Everything came up or finished: `--detach` exits 0.
    pub fn succeeded(&self) -> bool {
        self.failed.is_empty() && self.not_up.is_empty()
    }

    /// `svinit: started in the background (pid 42): 5 up, 1 done`, with
    /// `, 1 failed: web (REASON)` when something failed and `, 1 not up:
    /// sidecar (backoff: REASON)` when something is still being retried.
    pub fn line(&self, pid: u32) -> String {
        let mut counts = Vec::new();
        if self.up > 0 {
            counts.push(format!("{} up", self.up));
        }
        if self.done > 0 {
            counts.push(format!("{} done", self.done));
        }
        for (label, list) in [("failed", &self.failed), ("not up", &self.not_up)] {
            if list.is_empty() {
                continue;
            }
            let names: Vec<String> = list
                .iter()
                .map(|(name, reason)| match reason {
                    Some(reason) => format!("{name} ({reason})"),
                    None => name.clone(),
                })
                .collect();
            counts.push(format!("{} {label}: {}", list.len(), names.join(", ")));
        }
        if counts.is_empty() {
            counts.push("no services".to_string());
        }
        format!(
            "svinit: started in the background (pid {pid}): {}",
            counts.join(", ")
        )
    }
}

/// The service `svinit --detach -- COMMAND ARGS` runs: named after the
/// program's file name, `critical`, everything else default.
pub fn adhoc_service(command: &[String]) -> Option<ServiceConfig> {
    let program = command.first()?;
    let name = Path::new(program)
        .file_name()
        .map(|name| name.to_string_lossy().into_owned())
        .filter(|name| !name.is_empty())?;
    let mut service = ServiceConfig::new(name, Command::Exec(command.to_vec()));
    service.critical = true;
    Some(service)
}

/// Adds the ad-hoc services to a loaded config; a name already taken is an
/// error (at start and at each reload).
pub fn add_services(config: &mut Config, extra: &[ServiceConfig]) -> Result<(), String> {
    for service in extra {
        if config.service(&service.name).is_some() {
            return Err(format!(
                "the command's service name `{}` is already a service of the config",
                service.name
            ));
        }
        config.services.push(service.clone());
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_report_fits_one_atomic_pipe_write() {
        assert_eq!(report_line(0, "a\nb"), "0 a b\n");
        let long = "é".repeat(5000);
        let line = report_line(1, &long);
        assert!(line.len() <= REPORT_MAX, "{}", line.len());
        assert!(line.ends_with("…\n"));
        assert_eq!(parse_report(line.trim_end()).map(|(code, _)| code), Some(1));
    }
    use crate::supervisor::{SpawnFailure, SpawnStage};

    #[test]
    fn the_summary_line_counts_and_names_failures() {
        let mut summary = Summary::default();
        summary.add("a", StateKind::Up, None);
        summary.add("b", StateKind::Up, None);
        summary.add("c", StateKind::Done, None);
        summary.add("d", StateKind::Down, None);
        assert_eq!(
            summary.line(7),
            "svinit: started in the background (pid 7): 2 up, 1 done"
        );
        let failure = Reason::SpawnFailed(SpawnFailure {
            stage: SpawnStage::Exec,
            detail: "/x".into(),
            errno: libc::ENOENT,
            message: None,
        });
        summary.add("web", StateKind::Failed, Some(&failure));
        let line = summary.line(7);
        assert!(
            line.starts_with(
                "svinit: started in the background (pid 7): 2 up, 1 done, 1 failed: web ("
            ),
            "{line}"
        );
        assert_eq!(
            Summary::default().line(1),
            "svinit: started in the background (pid 1): no services"
        );
    }

    /// The boot settles once every service's first try has ended (SPEC
    /// §2): one still in backoff, starting again or waiting for such a one
    /// is named with its state and reason, and the start-up failed (1).
    #[test]
    fn services_not_up_after_their_first_try_are_named_and_fail_the_start() {
        let mut summary = Summary::default();
        summary.add("db", StateKind::Up, None);
        let timeout = Reason::StartTimeout(std::time::Duration::from_secs(1));
        summary.add("sidecar", StateKind::Backoff, Some(&timeout));
        summary.add("app", StateKind::Waiting, None);
        let (read, write) = nix::unistd::pipe().expect("pipe");
        let mut detached = Detached {
            pipe: Some(File::from(write)),
        };
        detached.settled(&summary);
        drop(detached);
        let mut report = String::new();
        File::from(read)
            .read_to_string(&mut report)
            .expect("read the report");
        let pid = std::process::id();
        assert_eq!(
            report,
            format!(
                "1 svinit: started in the background (pid {pid}): 1 up, \
                 2 not up: sidecar (backoff: not ready within 1s), app (waiting)\n"
            )
        );
    }

    #[test]
    fn reports_parse() {
        assert_eq!(parse_report("0 fine\n"), Some((0, "fine")));
        assert_eq!(parse_report("1 svinit: no\n"), Some((1, "svinit: no")));
        assert_eq!(parse_report(""), None);
        assert_eq!(parse_report("garbage"), None);
    }

    #[test]
    fn the_adhoc_service_is_named_after_the_program() {
        let service = adhoc_service(&["/bin/sleep".into(), "100".into()]);
        let service = service.map(|s| (s.name, s.critical));
        assert_eq!(service, Some(("sleep".to_string(), true)));
        assert!(adhoc_service(&[]).is_none());
        let mut config = Config::default();
        let extra: Vec<ServiceConfig> = adhoc_service(&["sleep".into()]).into_iter().collect();
        assert!(add_services(&mut config, &extra).is_ok());
        assert!(add_services(&mut config, &extra).is_err(), "taken");
    }

    #[test]
    fn the_log_defaults_next_to_the_socket_with_v() {
        let socket = Path::new("/tmp/x/control.sock");
        assert_eq!(log_path(None, false, socket), None);
        assert_eq!(
            log_path(None, true, socket),
            Some(PathBuf::from("/tmp/x/control.log"))
        );
        assert_eq!(
            log_path(Some("/l".into()), true, socket),
            Some(PathBuf::from("/l"))
        );
    }
}
