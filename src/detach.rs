//! `svinit --detach`: going to the background like `zdaemon start`.
//!
//! The foreground process forks once, before the loop exists (no threads,
//! no descriptors but the ones made here). The child starts a new session,
//! puts stdin on /dev/null and stdout/stderr on the log file, and keeps
//! the write end of a pipe. It writes exactly one line on it when the
//! supervisor says the boot has settled (`Action::BootSettled`: every
//! autostart service has had its first try), or when it fails before that
//! (socket in use, exit during start-up), then closes it. The parent
//! waits for that line, prints it and exits 0 (all up/done) or 1; EOF
//! without a line means the child died, and its status is reported.
//!
//! The log file (svinit's log and what services write to its stdout) is
//! `--log FILE`, else [`default_log_path`]: `/var/log/svinit/svinit.log`
//! for root, `$XDG_STATE_HOME/svinit/svinit.log` (else
//! `~/.local/state/svinit/svinit.log`) for a user, its directory made
//! (0750 for root, 0700 for a user). Always appended to, mode 0600 when
//! made, never truncated, rotated or reopened by svinit (it keeps the one
//! descriptor): rotate it with a `copytruncate` tool. The default file is
//! opened without following a symlink, in a directory that must be a real
//! one owned by svinit's user; `--log` is the operator's path, taken as
//! given. The line `--detach` prints names the file.
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
use std::os::unix::fs::{DirBuilderExt, MetadataExt, OpenOptionsExt};
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
    /// Where its stdout and stderr go, for the summary line.
    log: PathBuf,
}

impl Detached {
    /// Boot settled: the summary line, exit 0 unless something failed or
    /// is not up after its first try.
    pub(crate) fn settled(&mut self, summary: &Summary) {
        let code = if summary.succeeded() { 0 } else { 1 };
        self.send(code, &summary.line(std::process::id(), &self.log));
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
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LogFile {
    /// `--log FILE`: the operator's path, opened as given.
    Given(PathBuf),
    /// [`default_log_path`]: its directory made, guarded.
    Default(PathBuf),
    /// No home directory to put the default in.
    Discarded,
}

impl LogFile {
    /// `--log FILE` if given, else the default of this user.
    pub fn choose(given: Option<PathBuf>) -> LogFile {
        match given {
            Some(path) => LogFile::Given(path),
            None => default_log_path(
                nix::unistd::geteuid().is_root(),
                std::env::var_os("XDG_STATE_HOME").map(PathBuf::from),
                crate::config::home_dir(),
            )
            .map_or(LogFile::Discarded, LogFile::Default),
        }
    }

    pub(crate) fn path(&self) -> &Path {
        match self {
            LogFile::Given(path) | LogFile::Default(path) => path,
            LogFile::Discarded => Path::new("/dev/null"),
        }
    }

    /// Opened for appending (made 0600), with its directory when default.
    fn open(&self) -> io::Result<File> {
        let path = self.path();
        let named =
            |err: io::Error| io::Error::new(err.kind(), format!("{}: {err}", path.display()));
        let mut options = OpenOptions::new();
        options.create(true).append(true).mode(0o600);
        if let LogFile::Default(_) = self {
            if let Some(dir) = path.parent() {
                make_own_directory(dir).map_err(named)?;
            }
            options.custom_flags(libc::O_NOFOLLOW);
        }
        options.open(path).map_err(named)
    }
}

/// The log of `--detach` without `--log`: `/var/log/svinit/svinit.log`
/// for root; for a user `$XDG_STATE_HOME/svinit/svinit.log`, else
/// `~/.local/state/svinit/svinit.log`; `None` without a home.
pub(crate) fn default_log_path(
    is_root: bool,
    xdg_state_home: Option<PathBuf>,
    home: Option<PathBuf>,
) -> Option<PathBuf> {
    let dir = if is_root {
        PathBuf::from("/var/log")
    } else if let Some(state) = xdg_state_home.filter(|dir| dir.is_absolute()) {
        // The XDG spec says a relative $XDG_STATE_HOME is invalid and ignored.
        state
    } else {
        home?.join(".local").join("state")
    };
    Some(dir.join("svinit").join("svinit.log"))
}

/// `dir` and its missing parents made (0750 for root, else 0700); `dir`
/// itself must then be a real directory owned by svinit's user, so no one
/// else can put a symlink or another file where the log goes.
fn make_own_directory(dir: &Path) -> io::Result<()> {
    let euid = nix::unistd::geteuid();
    let mode = if euid.is_root() { 0o750 } else { 0o700 };
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(mode)
        .create(dir)?;
    let meta = std::fs::symlink_metadata(dir)?;
    if !meta.is_dir() {
        return Err(io::Error::other(format!(
            "{} is not a directory (a symlink is not followed)",
            dir.display()
        )));
    }
    if meta.uid() != euid.as_raw() {
        return Err(io::Error::other(format!(
            "{} belongs to uid {}, not to svinit's user",
            dir.display(),
            meta.uid()
        )));
    }
    Ok(())
}

/// Forks into the background. The log file is opened first, so a bad path
/// is reported in the foreground.
pub fn detach(log: &LogFile) -> io::Result<Fork> {
    let devnull = OpenOptions::new()
        .read(true)
        .write(true)
        .open("/dev/null")?;
    let output = log.open()?;
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
                log: log.path().to_path_buf(),
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
pub(crate) fn parse_report(text: &str) -> Option<(u8, &str)> {
    let line = text.lines().next()?;
    let (code, message) = line.split_once(' ')?;
    Some((code.parse().ok()?, message))
}

/// The outcome of the boot, for the one line `--detach` prints.
#[derive(Debug, Default, PartialEq)]
pub(crate) struct Summary {
    pub(crate) up: usize,
    pub(crate) done: usize,
    /// Name and reason of each failed service.
    pub(crate) failed: Vec<(String, Option<String>)>,
    /// Name, state and reason of each service the boot stopped waiting for
    /// without it being up: in backoff after its first try, starting again,
    /// or waiting for such a one (SPEC §2).
    pub(crate) not_up: Vec<(String, Option<String>)>,
}

impl Summary {
    pub(crate) fn add(&mut self, name: &str, state: StateKind, reason: Option<&Reason>) {
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
    pub(crate) fn succeeded(&self) -> bool {
        self.failed.is_empty() && self.not_up.is_empty()
    }

    /// `svinit: started in the background (pid 42, log PATH): 5 up, 1
    /// done`, with `, 1 failed: web (REASON)` when something failed and `,
    /// 1 not up: sidecar (backoff: REASON)` when something is still being
    /// retried.
    pub(crate) fn line(&self, pid: u32, log: &Path) -> String {
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
            "svinit: started in the background (pid {pid}, log {}): {}",
            log.display(),
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
pub(crate) fn add_services(config: &mut Config, extra: &[ServiceConfig]) -> Result<(), String> {
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
        let log = Path::new("/l.log");
        assert_eq!(
            summary.line(7, log),
            "svinit: started in the background (pid 7, log /l.log): 2 up, 1 done"
        );
        let failure = Reason::SpawnFailed(SpawnFailure {
            stage: SpawnStage::Exec,
            detail: "/x".into(),
            errno: libc::ENOENT,
            message: None,
        });
        summary.add("web", StateKind::Failed, Some(&failure));
        let line = summary.line(7, log);
        assert!(
            line.starts_with(
                "svinit: started in the background (pid 7, log /l.log): 2 up, 1 done, 1 failed: web ("
            ),
            "{line}"
        );
        assert_eq!(
            Summary::default().line(1, log),
            "svinit: started in the background (pid 1, log /l.log): no services"
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
            log: PathBuf::from("/l.log"),
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
                "1 svinit: started in the background (pid {pid}, log /l.log): 1 up, \
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
    fn the_default_log_is_made_in_a_directory_of_our_own_only() {
        let base = std::env::temp_dir().join(format!("svinit-detach-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&base);
        let log = LogFile::Default(base.join("state/svinit/svinit.log"));
        let file = log.open().expect("made with its directories");
        assert_eq!(file.metadata().unwrap().mode() & 0o777, 0o600);
        let dir = std::fs::metadata(base.join("state/svinit")).unwrap();
        let own = if nix::unistd::geteuid().is_root() {
            0o750
        } else {
            0o700
        };
        assert_eq!(dir.mode() & 0o777, own);
        // A symlink where the directory goes is not followed.
        std::fs::create_dir_all(base.join("elsewhere")).unwrap();
        std::os::unix::fs::symlink(base.join("elsewhere"), base.join("link")).unwrap();
        let linked = LogFile::Default(base.join("link/svinit.log"));
        let err = linked.open().expect_err("a symlinked directory");
        assert!(err.to_string().contains("not a directory"), "{err}");
        assert!(!base.join("elsewhere/svinit.log").exists());
        // Nor one at the file.
        std::os::unix::fs::symlink(base.join("elsewhere/x"), base.join("state/svinit/l.log"))
            .unwrap();
        assert!(
            LogFile::Default(base.join("state/svinit/l.log"))
                .open()
                .is_err()
        );
        assert!(!base.join("elsewhere/x").exists());
        let _ = std::fs::remove_dir_all(&base);
    }

    #[test]
    fn the_default_log_is_in_var_log_for_root_and_the_state_home_for_a_user() {
        let home = Some(PathBuf::from("/home/ann"));
        let state = Some(PathBuf::from("/st"));
        let path = |p: &str| Some(PathBuf::from(p));
        assert_eq!(
            default_log_path(true, state.clone(), home.clone()),
            path("/var/log/svinit/svinit.log")
        );
        assert_eq!(
            default_log_path(false, state, home.clone()),
            path("/st/svinit/svinit.log")
        );
        assert_eq!(
            default_log_path(false, Some("rel".into()), home.clone()),
            path("/home/ann/.local/state/svinit/svinit.log")
        );
        assert_eq!(
            default_log_path(false, None, home),
            path("/home/ann/.local/state/svinit/svinit.log")
        );
        assert_eq!(default_log_path(false, None, None), None);
        assert_eq!(
            LogFile::choose(Some("/l".into())),
            LogFile::Given("/l".into())
        );
        assert_eq!(LogFile::Discarded.path(), Path::new("/dev/null"));
    }
}
