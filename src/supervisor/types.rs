//! The vocabulary between the pure supervisor and the runtime that drives it:
//! events in, actions out, and the states and reasons the supervisor keeps.

use std::fmt;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use crate::untrusted::PathProblem;

use super::{HealthState, HealthStatus, Notice, ProbeId, Role};
use crate::config::ProbeCheck;

/// Index of a service in the supervisor's table. Stable for the life of the
/// supervisor: a reload appends new services and never reuses an index.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub(crate) struct ServiceId(pub usize);

/// How a process ended, kept whole.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ExitStatus {
    Exited(i32),
    Signaled { signal: i32, core: bool },
}

impl ExitStatus {
    /// Shell convention: the code, or 128 + signal.
    pub(crate) fn as_shell_code(self) -> i32 {
        match self {
            ExitStatus::Exited(code) => code,
            ExitStatus::Signaled { signal, .. } => 128 + signal,
        }
    }
}

impl fmt::Display for ExitStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ExitStatus::Exited(code) => write!(f, "exited with status {code}"),
            ExitStatus::Signaled { signal, core } => {
                write!(f, "killed by signal {}", signal_name(*signal))?;
                if *core {
                    write!(f, " (core dumped)")?;
                }
                Ok(())
            }
        }
    }
}

/// `TERM` for 15; the number itself (`40`) for a signal without a classic
/// name: real-time signals are given by number (SPEC §3), since SIGRTMIN
/// differs between C libraries.
pub(crate) fn signal_name(signal: i32) -> String {
    match nix::sys::signal::Signal::try_from(signal) {
        Ok(sig) => sig.as_str().trim_start_matches("SIG").to_string(),
        Err(_) => signal.to_string(),
    }
}

/// The step of starting a process that failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum SpawnStage {
    /// Building the plan before fork: PATH lookup, user/group lookup,
    /// environment-file, bad strings.
    Prepare,
    Fork,
    Setsid,
    Stdio,
    Chdir,
    Umask,
    Nice,
    Rlimit,
    Setgroups,
    Setgid,
    Setuid,
    Tty,
    Exec,
}

impl SpawnStage {
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            SpawnStage::Prepare => "prepare",
            SpawnStage::Fork => "fork",
            SpawnStage::Setsid => "setsid",
            SpawnStage::Stdio => "stdio",
            SpawnStage::Chdir => "chdir",
            SpawnStage::Umask => "umask",
            SpawnStage::Nice => "nice",
            SpawnStage::Rlimit => "setrlimit",
            SpawnStage::Setgroups => "setgroups",
            SpawnStage::Setgid => "setgid",
            SpawnStage::Setuid => "setuid",
            SpawnStage::Tty => "tty",
            SpawnStage::Exec => "exec",
        }
    }
}

/// Why a start did not happen: the step, and what it said.
/// `detail` names the object ("/usr/bin/x", "user www-data").
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct SpawnFailure {
    pub(crate) stage: SpawnStage,
    pub(crate) detail: String,
    /// errno when the step was a system call; 0 otherwise.
    pub(crate) errno: i32,
    /// A message when there is no errno (e.g. "no such user").
    pub(crate) message: Option<String>,
}

impl fmt::Display for SpawnFailure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.stage.as_str())?;
        if !self.detail.is_empty() {
            write!(f, " {}", self.detail)?;
        }
        if let Some(message) = &self.message {
            write!(f, ": {message}")
        } else {
            write!(f, ": {}", nix::errno::Errno::from_raw(self.errno).desc())
        }
    }
}

/// Inputs to the supervisor. `pid`s are plain numbers.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Event {
    /// The runtime forked a process for `service` after `Action::Spawn`.
    Spawned { service: ServiceId, pid: i32 },
    /// The process of `service` is not running: fork failed, or the child
    /// reported a failed step and has already been reaped.
    SpawnFailed {
        service: ServiceId,
        failure: SpawnFailure,
    },
    /// The child of `pid` has exec'd its program.
    Execed { pid: i32 },
    /// A service signalled readiness. `pid`: the process it came from, when
    /// known (the newline on a `ready-fd` pipe, which belongs to the process
    /// it was made for): readiness of any other process than the service's
    /// current one is stale and ignored. `None`: `READY=1` on the service's
    /// notify socket, whose sender's pid is no evidence (it may have exited,
    /// and SPEC §7 lets a helper speak for the service): it is the current
    /// process's, and counts only while the service's config has
    /// `ready-notify`.
    Ready {
        service: ServiceId,
        pid: Option<i32>,
    },
    /// The `ready-fd` pipe given to `pid` ended without a newline.
    ReadyFdFailed {
        service: ServiceId,
        pid: i32,
        problem: ReadyFdProblem,
    },
    /// A service sent `STATUS=…` (sd_notify): kept and shown in status.
    /// Like the `WATCHDOG=` messages, only while its config has
    /// `ready-notify`.
    NotifyStatus { service: ServiceId, text: String },
    /// A service sent `WATCHDOG=1` or `WATCHDOG=trigger` (sd_notify).
    Watchdog {
        service: ServiceId,
        message: WatchdogMessage,
    },
    /// The answer to `Action::ReadPidFile` (`type "forking"`): the pid it
    /// names, alive and a child of svinit, with what the supervisor needs
    /// to judge whose it is; or what was wrong with the file or the pid.
    PidFile {
        service: ServiceId,
        result: Result<PidClaim, PidFileProblem>,
    },
    /// The stop command of `service` (`Action::RunStopCommand`) was forked
    /// as `pid`.
    StopCommandSpawned { service: ServiceId, pid: i32 },
    /// The stop command of `service` did not run: it could not be prepared
    /// or forked (`pid: None`), or its exec failed and `pid` was reaped.
    StopCommandFailed {
        service: ServiceId,
        pid: Option<i32>,
        failure: SpawnFailure,
    },
    /// The stop command `pid` of `service` was reaped.
    StopCommandExited {
        service: ServiceId,
        pid: i32,
        status: ExitStatus,
    },
    /// The `pid-file` of a longrun (`Action::WritePidFile`) could not be
    /// written: why.
    PidFileNotWritten {
        service: ServiceId,
        pid: i32,
        error: String,
    },
    /// The main command (`svinit -- COMMAND`) was forked as `pid`.
    MainSpawned { pid: i32 },
    /// The main command could not be started (not found, not executable).
    MainSpawnFailed { failure: SpawnFailure },
    /// `waitpid` returned this pid: a service process or an adopted orphan.
    Exited { pid: i32, status: ExitStatus },
    /// `waitpid` said ECHILD: svinit has no children left.
    NoChildren,
    /// A signal svinit received, other than SIGCHLD (which only makes the
    /// runtime reap): what it means is decided here, by role and main
    /// command.
    Signal(i32),
    /// The probe `Action::RunProbe` started has ended: passed (`ok`) or
    /// failed, with what it saw (exit status, connect error).
    ProbeEnded {
        service: ServiceId,
        probe: ProbeId,
        ok: bool,
        detail: String,
    },
}

/// How a `ready-fd` pipe ended without the newline that means ready.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ReadyFdProblem {
    /// EOF: the process closed it.
    ClosedWithoutNewline,
    /// This many bytes came without a newline: svinit closed it.
    Flooded { bytes: usize },
}

/// What a service said to its `watchdog` (sd_notify).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum WatchdogMessage {
    /// `WATCHDOG=1`: alive; the deadline starts again.
    KeepAlive,
    /// `WATCHDOG=trigger`: act as if the deadline had passed.
    Trigger,
}

/// What a system-mode shutdown ends with (`reboot(2)`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum PowerKind {
    Reboot,
    Halt,
    Poweroff,
}

impl PowerKind {
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            PowerKind::Reboot => "reboot",
            PowerKind::Halt => "halt",
            PowerKind::Poweroff => "poweroff",
        }
    }

    /// SIGINT (ctrl-alt-del) and SIGTERM reboot, SIGUSR1 halts, SIGUSR2
    /// powers off (the sysvinit and busybox init convention).
    pub(crate) fn from_signal(signal: i32) -> Option<PowerKind> {
        match signal {
            libc::SIGINT | libc::SIGTERM => Some(PowerKind::Reboot),
            libc::SIGUSR1 => Some(PowerKind::Halt),
            libc::SIGUSR2 => Some(PowerKind::Poweroff),
            _ => None,
        }
    }
}

/// Outputs of the supervisor, executed by the runtime in order.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Action {
    /// Fork and exec the service with its current config; answer with
    /// `Event::Spawned` (+ `Execed`) or `Event::SpawnFailed`.
    Spawn { service: ServiceId },
    /// `kill(pid, signal)`, or `kill(-pid, signal)` when `group`.
    Signal { pid: i32, signal: i32, group: bool },
    /// Fork the `stop-exec`/`stop-shell` of `service` (the config its
    /// process runs with), `MAINPID` set to `pid`; answer with
    /// `Event::StopCommandSpawned` or `StopCommandFailed`, and
    /// `StopCommandExited` when it is reaped.
    RunStopCommand { service: ServiceId, pid: i32 },
    /// Send `signal` to every remaining child of svinit (adopted orphans);
    /// `log_survivors`: log the pids signalled (the final SIGKILL round).
    SweepOrphans { signal: i32, log_survivors: bool },
    /// The system role's `SweepOrphans`: every process of the machine but
    /// PID 1 and kernel threads (`kill(-1, signal)`), after the services.
    SweepEveryone { signal: i32, log_survivors: bool },
    /// A service changed state; the runtime logs it and feeds `svctl events`.
    StateChanged(Transition),
    /// The shutdown has begun: no service starts any more, so what the
    /// runtime keeps for starting them (the spawner) can go. Emitted once.
    NoMoreStarts,
    /// Shutdown is complete: exit the process with this code.
    Exit { code: i32 },
    /// System mode: shutdown is complete (every process gone or killed):
    /// sync, remount read-only, `reboot(2)`. Takes the place of `Exit`.
    Power { kind: PowerKind },
    /// Every autostart service has had its first try (SPEC §2): fork the
    /// main command; answer with `Event::MainSpawned` or `MainSpawnFailed`.
    StartMain,
    /// The same moment as `StartMain`, for whoever asked with
    /// `Supervisor::report_boot_settled` (the runtime, to let start-up's
    /// pages go and for `svinit --detach`'s report): emitted once.
    BootSettled,
    /// Read the `pid-file` of a `type "forking"` service whose launcher
    /// exited successfully; answer with `Event::PidFile`.
    ReadPidFile { service: ServiceId },
    /// Before a `type "forking"` service's launcher runs: remove its
    /// `pid-file` at `path`, left by an earlier run (it would name a dead,
    /// or reused, pid). No answer.
    RemoveStalePidFile { service: ServiceId, path: PathBuf },
    /// Write `pid` to `path`, the `pid-file` of longrun `service` (of the
    /// config its process runs with); answer `Event::PidFileNotWritten` on
    /// failure.
    WritePidFile {
        service: ServiceId,
        pid: i32,
        path: PathBuf,
    },
    /// The process `pid` whose pid `WritePidFile` wrote to `path` was
    /// reaped: remove the file if it still holds that pid. The path comes
    /// with it: the service may be forgotten by then (a stopped instance,
    /// one removed by a reload).
    RemovePidFile {
        service: ServiceId,
        pid: i32,
        path: PathBuf,
    },
    /// The main command's process `pid` was still there `after` its
    /// SIGKILL: given up on; the shutdown goes on without it.
    MainUnkillable { pid: i32, after: Duration },
    /// Read the config again and hand it to `Supervisor::reload` (SIGHUP);
    /// an invalid one changes nothing and is logged.
    Reload,
    /// Reopen every transcript (SIGUSR1 outside the system role).
    ReopenTranscripts,
    /// A line for svinit's log.
    Notice(Notice),
    /// `service` is gone for good (removed by a reload, then stopped):
    /// close what the runtime holds for it (output, notify socket).
    Forget { service: ServiceId },
    /// Start probe `probe` of `service`: `check` as its config said when
    /// its process was spawned; answer with `Event::ProbeEnded`. At most
    /// one per service runs.
    RunProbe {
        service: ServiceId,
        probe: ProbeId,
        check: ProbeCheck,
    },
    /// The health state of `service` changed (an event of kind `health`).
    HealthChanged {
        service: ServiceId,
        name: String,
        from: HealthState,
        to: HealthState,
    },
    /// Probe `probe` of `service` is not wanted any more (timed out, or the
    /// service's state changed): SIGKILL its process group or drop its
    /// socket; no `Event::ProbeEnded` is wanted for it. Nothing when it has
    /// already ended.
    StopProbe { service: ServiceId, probe: ProbeId },
}

/// Why the supervisor did not do what it was asked; the runtime words the
/// reply.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Refusal {
    /// svinit is shutting down: nothing starts any more.
    ShuttingDown,
    /// Not in this role (power requests are the system role's, `shutdown`
    /// the others').
    NotInRole(Role),
    /// `svctl kill`: the service has no process (it is in this state).
    NotRunning(StateKind),
    /// `svctl kill`: not a signal number (0–64).
    NoSuchSignal(i32),
    /// `svctl kill --group`: the process group was looked up for a pid
    /// that is not the service's process (any more).
    NotItsProcess(i32),
    /// `svctl kill --group`: the service's process `pid` is in process
    /// group `pgid`, init's or svinit's own, which are never signalled.
    ForbiddenGroup { pid: i32, pgid: i32 },
    /// `svctl start NAME@INSTANCE`: no such service, and no template
    /// `NAME@` to make it from.
    NoSuchService,
    /// `svctl start NAME@INSTANCE`: the instance name is refused (why).
    BadInstanceName(&'static str),
    /// `svctl start NAME@INSTANCE`: it, or an instance it names, names what
    /// is not a service, or would close a dependency cycle.
    InstanceUnusable(String),
}

/// The highest signal number on Linux (`SIGRTMAX`).
pub(crate) const MAX_SIGNAL: i32 = 64;

/// Whom `svctl kill` signals.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum KillTarget {
    /// The service's process.
    Process,
    /// The process group its process `pid` is in: `pgid`, as the runtime
    /// found it, beside svinit's own group.
    Group {
        pid: i32,
        pgid: i32,
        svinit_pgid: i32,
    },
}

/// A signal to send now, as `Action::Signal` would: `kill(pid, signal)`,
/// or `kill(-pid, signal)` when `group`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct SignalOrder {
    pub(crate) pid: i32,
    pub(crate) signal: i32,
    pub(crate) group: bool,
}

/// One state change, as logged and as streamed by `svctl events`.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Transition {
    pub(crate) service: ServiceId,
    pub(crate) name: String,
    pub(crate) from: StateKind,
    pub(crate) to: StateKind,
    pub(crate) pid: Option<i32>,
    pub(crate) exit: Option<ExitStatus>,
    pub(crate) reason: Option<Reason>,
}

/// What a service wants to be.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Want {
    Up,
    Down,
}

/// The name of a state (SPEC.md §4), without its data.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) enum StateKind {
    Down,
    Waiting,
    Starting,
    Up,
    Stopping,
    Backoff,
    Failed,
    Done,
}

impl StateKind {
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            StateKind::Down => "down",
            StateKind::Waiting => "waiting",
            StateKind::Starting => "starting",
            StateKind::Up => "up",
            StateKind::Stopping => "stopping",
            StateKind::Backoff => "backoff",
            StateKind::Failed => "failed",
            StateKind::Done => "done",
        }
    }
}

impl fmt::Display for StateKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Why a service is failed, waiting or stopped. Data, so status and events
/// can show it and tests can match it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Reason {
    /// Waiting for these dependencies to be ready.
    WaitingFor(Vec<String>),
    /// A `requires` dependency failed or was stopped.
    DependencyFailed(String),
    /// Crashed too often: gave up after this many starts.
    GaveUp { starts: u32, last: ExitStatus },
    /// Exited with a status it is not restarted for (restart "never").
    Exited(ExitStatus),
    /// Starting the process failed at a step (counts as a crash).
    SpawnFailed(SpawnFailure),
    /// Not ready within start-timeout.
    StartTimeout(Duration),
    /// `watchdog`: no `WATCHDOG=1` within this long while up.
    WatchdogTimeout(Duration),
    /// `watchdog`: the service sent `WATCHDOG=trigger`.
    WatchdogTriggered,
    /// Needed SIGKILL after stop-timeout.
    StopTimeout(Duration),
    /// SIGKILLed because the shutdown's `shutdown-timeout` ran out.
    ShutdownTimeout(Duration),
    /// Its process `pid` was still there `after` its SIGKILL (asleep in
    /// the kernel): given up on, counted as down.
    Unkillable { pid: i32, after: Duration },
    /// The `pid-file` of a longrun could not be written; it runs on.
    PidFileNotWritten { path: String, error: String },
    /// `health`: `retries` failures in a row; the last one's detail.
    HealthCheckFailed(String),
    /// `type "forking"`: no usable pid in `path` within start-timeout.
    PidFile {
        path: String,
        problem: PidFileProblem,
        waited: Duration,
    },
}

/// A pid read from a pid file that names a live child of svinit, with the
/// facts the supervisor judges it by (SPEC.md §7 "Pids"): its process
/// group and session (whose process is it?), and the users involved.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct PidClaim {
    pub(crate) pid: i32,
    pub(crate) pgrp: i32,
    pub(crate) session: i32,
    /// The pid file's owner.
    pub(crate) file_owner: u32,
    /// `file_owner` is root or svinit's own user: the file's word is enough.
    pub(crate) owner_trusted: bool,
    /// The real uid of the process.
    pub(crate) process_uid: u32,
    /// The uid the service runs as.
    pub(crate) service_uid: u32,
    /// The service one of whose probes is the process, or leads its group
    /// or session (the runtime runs probes and knows their pids).
    pub(crate) probe_of: Option<ServiceId>,
}

#[cfg(test)]
impl PidClaim {
    /// A claim by a root-owned file about a root process leading its own
    /// group and session.
    pub(crate) fn trusted(pid: i32) -> PidClaim {
        PidClaim {
            pid,
            pgrp: pid,
            session: pid,
            file_owner: 0,
            owner_trusted: true,
            process_uid: 0,
            service_uid: 0,
            probe_of: None,
        }
    }
}

/// What was wrong with a `pid-file` when it was last read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum PidFileProblem {
    /// The file does not exist.
    Missing,
    /// It exists but could not be read (errno).
    Unreadable(i32),
    /// Not a regular file, or a symlink (not followed).
    Unsafe(PathProblem),
    /// Its content is not a pid (the first line, shortened).
    Garbage(String),
    /// It names a process that does not exist.
    Dead(i32),
    /// It names a process that is not (yet: a daemon's parent may still be
    /// exiting) a child of svinit, so cannot be supervised.
    NotAChild(i32),
    /// It names svinit itself.
    Svinit(i32),
    /// It names the main command (`svinit -- COMMAND`) or a process in its
    /// process group.
    MainCommand(i32),
    /// It names another service's process, or a process in its process
    /// group or session.
    OtherService { pid: i32, service: String },
    /// It names a process of a probe of `service` (a `ready-probe`
    /// command), or a process in its process group or session.
    Probe { pid: i32, service: String },
    /// A file owned by neither root nor svinit's user names a process that
    /// does not run as the service's user.
    WrongUser {
        pid: i32,
        file_owner: u32,
        process_uid: u32,
        service_uid: u32,
    },
}

impl PidFileProblem {
    /// A refusal: the start has failed, at once. The others may be a pid
    /// file half written, or a daemon not yet reparented: read again.
    pub(crate) fn is_refusal(&self) -> bool {
        match self {
            PidFileProblem::Missing
            | PidFileProblem::Unreadable(_)
            | PidFileProblem::Garbage(_)
            | PidFileProblem::NotAChild(_) => false,
            PidFileProblem::Unsafe(_)
            | PidFileProblem::Dead(_)
            | PidFileProblem::Svinit(_)
            | PidFileProblem::MainCommand(_)
            | PidFileProblem::OtherService { .. }
            | PidFileProblem::Probe { .. }
            | PidFileProblem::WrongUser { .. } => true,
        }
    }
}

impl fmt::Display for PidFileProblem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PidFileProblem::Missing => write!(f, "does not exist"),
            PidFileProblem::Unreadable(errno) => {
                write!(
                    f,
                    "cannot be read: {}",
                    nix::errno::Errno::from_raw(*errno).desc()
                )
            }
            PidFileProblem::Unsafe(problem) => write!(f, "{problem}"),
            PidFileProblem::Garbage(text) => write!(f, "does not hold a pid: {text:?}"),
            PidFileProblem::Dead(pid) => write!(f, "names pid {pid}, which is not running"),
            PidFileProblem::NotAChild(pid) => write!(
                f,
                "names pid {pid}, which is not a child of svinit (a stale pid file?)"
            ),
            PidFileProblem::Svinit(pid) => write!(f, "names pid {pid}, svinit itself"),
            PidFileProblem::MainCommand(pid) => {
                write!(f, "names pid {pid}, which belongs to the main command")
            }
            PidFileProblem::OtherService { pid, service } => {
                write!(f, "names pid {pid}, which belongs to service {service}")
            }
            PidFileProblem::Probe { pid, service } => {
                write!(
                    f,
                    "names pid {pid}, which belongs to a probe of service {service}"
                )
            }
            PidFileProblem::WrongUser {
                pid,
                file_owner,
                process_uid,
                service_uid,
            } => write!(
                f,
                "is owned by uid {file_owner} and names pid {pid}, which runs as uid \
                 {process_uid}, not as the service's user (uid {service_uid})"
            ),
        }
    }
}

impl fmt::Display for Reason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Reason::WaitingFor(names) => write!(f, "waiting for {}", names.join(", ")),
            Reason::DependencyFailed(name) => write!(f, "dependency {name} failed"),
            Reason::GaveUp { starts, last } => {
                write!(f, "gave up after {starts} starts, last {last}")
            }
            Reason::Exited(status) => write!(f, "{status}"),
            Reason::SpawnFailed(failure) => write!(f, "{failure}"),
            Reason::StartTimeout(d) => write!(f, "not ready within {}", format_duration(*d)),
            Reason::WatchdogTimeout(d) => write!(
                f,
                "watchdog timeout: no WATCHDOG=1 within {}",
                format_duration(*d)
            ),
            Reason::WatchdogTriggered => write!(f, "watchdog timeout: WATCHDOG=trigger"),
            Reason::HealthCheckFailed(detail) => write!(f, "health check failed: {detail}"),
            Reason::StopTimeout(d) => {
                write!(f, "did not stop within {}, killed", format_duration(*d))
            }
            Reason::ShutdownTimeout(d) => write!(
                f,
                "still running when shutdown-timeout {} ran out, killed",
                format_duration(*d)
            ),
            Reason::Unkillable { pid, after } => write!(
                f,
                "unkillable (pid {pid}): still there {} after SIGKILL, given up on",
                format_duration(*after)
            ),
            Reason::PidFile {
                path,
                problem: PidFileProblem::Missing,
                waited,
            } => write!(
                f,
                "pid file {path} did not appear within {}",
                format_duration(*waited)
            ),
            Reason::PidFile { path, problem, .. } => write!(f, "pid file {path} {problem}"),
            Reason::PidFileNotWritten { path, error } => {
                write!(f, "pid file {path} not written: {error}")
            }
        }
    }
}

/// `1.5s`, `250ms`, `10s`.
pub(crate) fn format_duration(d: Duration) -> String {
    let ms = d.as_millis();
    if ms.is_multiple_of(1000) {
        format!("{}s", ms / 1000)
    } else if ms < 1000 {
        format!("{ms}ms")
    } else {
        format!("{:.1}s", d.as_secs_f64())
    }
}

/// A finished run of a service, for `history` in status and `svctl plot`.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct ExitRecord {
    pub(crate) at: Instant,
    pub(crate) pid: i32,
    pub(crate) status: ExitStatus,
    /// When this run was spawned and became ready, as far as known.
    pub(crate) spawned_at: Option<Instant>,
    pub(crate) ready_at: Option<Instant>,
}

/// One service as `svctl status` shows it.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct ServiceStatus {
    pub(crate) name: String,
    pub(crate) state: StateKind,
    pub(crate) want: Want,
    /// The process, while starting, up or stopping.
    pub(crate) pid: Option<i32>,
    /// When the state last changed.
    pub(crate) since: Instant,
    /// Starts svinit made by itself after a crash; `svctl start` and
    /// `svctl restart` are not counted (systemd's NRestarts).
    pub(crate) restarts: u32,
    pub(crate) last_exit: Option<ExitStatus>,
    /// Why it is failed, waiting, backing off (the crash) or down after a
    /// SIGKILL; `None` otherwise.
    pub(crate) reason: Option<Reason>,
    /// In backoff: when it starts again.
    pub(crate) next_restart: Option<Instant>,
    /// The last exits, oldest first (at most 8).
    pub(crate) history: Vec<ExitRecord>,
    /// Its process runs with an older config than the current one.
    pub(crate) config_changed: bool,
    /// Gone from the config by a reload: being stopped, then forgotten.
    pub(crate) removed: bool,
    /// When its current (or last) process was spawned, and when that one
    /// became ready (`up`, or `done` for a oneshot): `svctl blame`.
    pub(crate) spawned_at: Option<Instant>,
    pub(crate) ready_at: Option<Instant>,
    /// The last `STATUS=…` its process sent (sd_notify); kept after it
    /// exits (it may say why), reset when it starts again.
    pub(crate) status_text: Option<String>,
    /// With a `health` block: its state and last result.
    pub(crate) health: Option<HealthStatus>,
}

/// What a reload did, by service name.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct ReloadSummary {
    pub(crate) added: Vec<String>,
    pub(crate) removed: Vec<String>,
    pub(crate) changed: Vec<String>,
}

impl ReloadSummary {
    pub(crate) fn is_empty(&self) -> bool {
        self.added.is_empty() && self.removed.is_empty() && self.changed.is_empty()
    }
}

impl fmt::Display for ReloadSummary {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.is_empty() {
            return f.write_str("no change");
        }
        let mut parts = Vec::new();
        for (label, names) in [
            ("added", &self.added),
            ("removed", &self.removed),
            ("changed", &self.changed),
        ] {
            if !names.is_empty() {
                parts.push(format!("{label} {}", names.join(", ")));
            }
        }
        f.write_str(&parts.join("; "))
    }
}
