//! One service's state machine: its state (data in the variants), what it
//! wants, its crash count and exit history, and the single exhaustive
//! `match (state, input)` that decides its next state. It sees its
//! neighbours only through the `Surroundings` the supervisor hands it, and
//! never touches the pid index, the timers or the work queue: the
//! supervisor commits the state it returns.

use std::collections::VecDeque;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use crate::config::{KillMode, RestartPolicy, ServiceConfig, ServiceType};

use super::backoff::{BackoffPolicy, SplitMix64};
use super::deps::Links;
use super::escalation::{Escalation, UNKILLABLE_AFTER};
use super::probe::ProbePhase;
use super::types::format_duration;
use super::{
    Action, ExitRecord, ExitStatus, Notice, PidFileProblem, ProbeId, Reason, ServiceId,
    ServiceStatus, SpawnFailure, StateKind, Want, WatchdogMessage,
};
use super::{HealthResult, HealthState, HealthStatus};
use crate::config::{HealthAction, Probe};

/// `type "forking"`: the first re-read of a missing or unusable pid file
/// comes this long after the launcher's exit, each further one twice as
/// long, up to `PID_FILE_RETRY_MAX`; all bounded by start-timeout.
pub(crate) const PID_FILE_RETRY_MIN: Duration = Duration::from_millis(50);
pub(crate) const PID_FILE_RETRY_MAX: Duration = Duration::from_secs(1);

/// How many exits `status` keeps.
pub(crate) const HISTORY_LEN: usize = 8;

#[derive(Debug, Clone, PartialEq)]
pub enum State {
    /// Not running. `note`: why the last stop was not clean (stop-timeout).
    Down {
        note: Option<Reason>,
    },
    /// Wanted, waiting for dependencies (the supervisor names them).
    Waiting,
    /// `Action::Spawn` emitted; `pid` once `Spawned` arrives. Ready (or,
    /// for a oneshot, finished) by `deadline`, or counted as a failed start.
    Starting {
        pid: Option<i32>,
        execed: bool,
        deadline: Instant,
        /// With a `ready-probe`: the probe running or the next one.
        probe: ProbePhase,
    },
    /// `type "forking"`: the launcher exited successfully; the pid file is
    /// read (`Action::ReadPidFile`) at `retry_at` until it names a live
    /// child, or `deadline` (start-timeout) passes. Shown as `starting`.
    AwaitingPidFile {
        deadline: Instant,
        retry_at: Instant,
        reads: u32,
        problem: PidFileProblem,
    },
    /// Ready since `since`. With `watchdog`: stopped as a crash unless a
    /// `WATCHDOG=1` comes by `watchdog` (`None`: not watched now).
    Up {
        pid: i32,
        since: Instant,
        watchdog: Option<Instant>,
        /// With `health`: the probe running or the next one.
        health: ProbePhase,
    },
    /// Signalled (or, with `pid: None`, to be signalled when `Spawned`
    /// arrives): SIGKILL to the group, then given up on as unkillable, as
    /// `escalation` says when.
    Stopping {
        pid: Option<i32>,
        escalation: Escalation,
        cause: StopCause,
    },
    /// Crashed; the next start is at `until`. `cause`: why it crashed.
    Backoff {
        until: Instant,
        delay: Duration,
        cause: Reason,
    },
    Failed {
        reason: Reason,
    },
    Done,
}

/// Why a process is being stopped.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum StopCause {
    /// Not wanted any more, restarted, or shut down.
    Requested,
    /// Not ready in time: when it is gone, that counts as a crash.
    StartTimeout(Duration),
    /// SIGKILLed because the shutdown's `shutdown-timeout` ran out.
    ShutdownTimeout(Duration),
    /// A liveness check failed (`watchdog`): when it is gone, that is a
    /// crash with this reason, judged by neither `exit-codes` nor
    /// `restart`; `up_since` for the reset after a long run.
    Unhealthy { reason: Reason, up_since: Instant },
    /// `health` with `on-failure "stop"`: once gone, `failed` with this
    /// reason.
    HealthStop(Reason),
}

impl State {
    pub(crate) fn kind(&self) -> StateKind {
        match self {
            State::Down { .. } => StateKind::Down,
            State::Waiting => StateKind::Waiting,
            State::Starting { .. } | State::AwaitingPidFile { .. } => StateKind::Starting,
            State::Up { .. } => StateKind::Up,
            State::Stopping { .. } => StateKind::Stopping,
            State::Backoff { .. } => StateKind::Backoff,
            State::Failed { .. } => StateKind::Failed,
            State::Done => StateKind::Done,
        }
    }

    pub(crate) fn pid(&self) -> Option<i32> {
        match self {
            State::Starting { pid, .. } | State::Stopping { pid, .. } => *pid,
            State::Up { pid, .. } => Some(*pid),
            State::Down { .. }
            | State::Waiting
            | State::AwaitingPidFile { .. }
            | State::Backoff { .. }
            | State::Failed { .. }
            | State::Done => None,
        }
    }

    /// The one deadline this state holds, if any.
    pub(crate) fn deadline(&self) -> Option<Instant> {
        match self {
            State::Starting {
                deadline, probe, ..
            } => Some(probe.due().map_or(*deadline, |due| due.min(*deadline))),
            State::Stopping { escalation, .. } => Some(escalation.deadline()),
            State::Up {
                watchdog, health, ..
            } => [*watchdog, health.due()].into_iter().flatten().min(),
            State::Backoff { until, .. } => Some(*until),
            State::AwaitingPidFile {
                deadline, retry_at, ..
            } => Some((*retry_at).min(*deadline)),
            State::Down { .. } | State::Waiting | State::Failed { .. } | State::Done => None,
        }
    }

    /// A process exists or is being created: the service is not settled.
    pub(crate) fn has_process(&self) -> bool {
        matches!(
            self,
            State::Starting { .. } | State::Up { .. } | State::Stopping { .. }
        )
    }
}

/// Where the stop command of a stop stands (`stop-exec`/`stop-shell`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum StopCommandRun {
    /// `Action::RunStopCommand` emitted, its pid not yet known.
    Forking,
    /// Running as this pid (its own process group).
    Running(i32),
}

/// What happens to a service: an event about its process, a passed
/// deadline, an operator's command, or a change around it.
#[derive(Debug)]
pub(crate) enum Input<'a> {
    Spawned(i32),
    SpawnFailed(&'a SpawnFailure),
    Execed,
    Ready,
    /// `WATCHDOG=1` or `WATCHDOG=trigger`.
    Watchdog(WatchdogMessage),
    /// What `Action::ReadPidFile` found.
    PidFile(&'a Result<i32, PidFileProblem>),
    /// Its stop command was forked as this pid.
    StopCommandSpawned(i32),
    /// Its stop command ended (`pid`: `None` when it never ran): how it
    /// exited, or why it could not be run.
    StopCommandEnded {
        pid: Option<i32>,
        outcome: Result<ExitStatus, &'a SpawnFailure>,
    },
    /// A probe ended: passed (`ok`) or failed.
    ProbeEnded {
        probe: ProbeId,
        ok: bool,
        detail: &'a str,
    },
    Exited(ExitStatus),
    /// The deadline of its state passed.
    Deadline,
    /// The shutdown deadline (`shutdown-timeout`, given) passed: SIGKILL
    /// whatever runs.
    KillNow(Duration),
    /// `svctl restart`, of it or of what it requires: stop what runs (to
    /// start again) once its running requirers have stopped, or leave
    /// backoff, `done` or `failed` for `down` at once.
    Restart,
    /// `svctl start` of a `failed` (or finished) service, `svctl stop` of
    /// one: forget the outcome, be `down`.
    Clear,
    /// Its want or its dependencies changed: start, wait or stop.
    Settle(&'a Surroundings),
}

impl Input<'_> {
    /// How the log names it.
    pub(crate) fn name(&self) -> &'static str {
        match self {
            Input::Spawned(_) => "spawn",
            Input::SpawnFailed(_) => "spawn failure",
            Input::Execed => "exec",
            Input::Ready => "readiness",
            Input::Watchdog(_) => "watchdog message",
            Input::PidFile(_) => "pid file",
            Input::StopCommandSpawned(_) => "stop command spawn",
            Input::StopCommandEnded { .. } => "stop command end",
            Input::ProbeEnded { .. } => "probe result",
            Input::Exited(_) => "exit",
            Input::Deadline => "deadline",
            Input::KillNow(_) => "shutdown kill",
            Input::Restart => "restart",
            Input::Clear => "clear",
            Input::Settle(_) => "settle",
        }
    }
}

/// What the supervisor knows about a service's neighbours, for `Settle`.
#[derive(Debug, Default)]
pub(crate) struct Surroundings {
    /// Wanted up: a dependency it must wait for is not there yet.
    pub(crate) start_blocked: bool,
    /// Wanted down: a service that must stop before it still runs.
    pub(crate) stop_blocked: bool,
}

/// Where a step puts what it does.
pub(crate) struct Outbox<'a> {
    pub(crate) actions: &'a mut VecDeque<Action>,
    pub(crate) rng: &'a mut SplitMix64,
}

impl Outbox<'_> {
    /// Never for pid 0, 1 or negatives: `kill(-1, …)` would reach everything.
    pub(crate) fn signal(&mut self, pid: i32, signal: i32, group: bool) {
        if pid > 1 {
            self.actions
                .push_back(Action::Signal { pid, signal, group });
        }
    }

    /// A stop signal, then SIGCONT to the same target: a stopped process
    /// (SIGSTOP, a debugger, a suspended job) acts on it at once instead of
    /// at the SIGKILL. Neither after SIGKILL nor after SIGCONT itself.
    pub(crate) fn stop_signal(&mut self, pid: i32, signal: i32, group: bool) {
        self.signal(pid, signal, group);
        if let Some(cont) = continue_after(signal) {
            self.signal(pid, cont, group);
        }
    }
}

/// SIGCONT when `signal` may be left pending by a stopped process.
pub(crate) fn continue_after(signal: i32) -> Option<i32> {
    (signal != libc::SIGKILL && signal != libc::SIGCONT).then_some(libc::SIGCONT)
}

/// One service. Its fields are its own: the supervisor reads them through
/// the methods below and changes them only by saying what happened
/// (`step`, `enter`, `set_want`, `reconfigure` …).
#[derive(Debug, Clone)]
pub(crate) struct Service {
    id: ServiceId,
    /// What the current (or last) process was spawned with; rules its life.
    active: ServiceConfig,
    /// A reloaded config waiting for the next spawn.
    pending: Option<ServiceConfig>,
    state: State,
    want: Want,
    /// Wanted down because a required dependency failed: once stopped,
    /// `failed` with this reason instead of `down`.
    fate: Option<Reason>,
    /// When `state` last changed kind.
    since: Instant,
    /// Crashes in a row, for the backoff.
    crashes: u32,
    /// Starts svinit made by itself after a crash (`restarts` of status,
    /// systemd's NRestarts): operator starts and restarts are not counted.
    restarts: u32,
    spawned_at: Option<Instant>,
    ready_at: Option<Instant>,
    last_exit: Option<ExitStatus>,
    history: VecDeque<ExitRecord>,
    /// Its first `HISTORY_LEN` runs of this boot, kept for good: the boot
    /// chart's (`svctl plot`), whatever a crash loop does to `history`.
    first_runs: Vec<ExitRecord>,
    /// How many of its runs have ended this boot.
    runs_ended: u64,
    links: Links,
    /// How many of its `requires` are wanted down or gone.
    required_down: usize,
    /// Where the last scan of `links.after` / `links.before` found a
    /// blocker: the next scan starts there (a blocker tends to stay one).
    start_scan_hint: usize,
    stop_scan_hint: usize,
    /// Gone from the config: stopping, then forgotten.
    removed: bool,
    /// The last `STATUS=…` (sd_notify) of its current process.
    status_text: Option<String>,
    /// `svctl restart`: to stop (and start again) once what requires it
    /// has stopped; not ready for its dependents meanwhile. Only while
    /// `starting` or `up`.
    restart_pending: bool,
    /// Its first try has ended: it has been `up`, `done`, `failed` or in
    /// `backoff`. The main command waits for nothing more (SPEC §2).
    first_try_ended: bool,
    /// The stop command of the stop under way; only while `stopping` and
    /// not yet SIGKILLed.
    stop_command: Option<StopCommandRun>,
    /// The process group of the stop under way's stop command, once
    /// forked: SIGKILLed when the stop ends or escalates, even after the
    /// command itself has exited (what it left behind goes too).
    stop_command_group: Option<i32>,
    /// Every stop command of this service forked and not yet reaped, the
    /// SIGKILLed ones too: until reaped, a pid file may not claim them.
    stop_commands_unreaped: Vec<i32>,
    /// A longrun's `pid-file`: the pid written (asked to be) there and
    /// where, until that process is reaped.
    pid_file_written: Option<(i32, PathBuf)>,
    /// Why the `pid-file` of its current process could not be written.
    pid_file_problem: Option<Reason>,
    /// The id of its last probe started (`ProbeId`s are never reused).
    probe_seq: u64,
    /// The probe whose result was the last input: ended, nothing to stop.
    probe_ended: Option<ProbeId>,
    /// With `health`: its state since the last spawn.
    health: Option<HealthStatus>,
}

impl Service {
    pub(crate) fn new(id: ServiceId, config: ServiceConfig, now: Instant) -> Service {
        Service {
            id,
            active: config,
            pending: None,
            state: State::Down { note: None },
            want: Want::Down,
            fate: None,
            since: now,
            crashes: 0,
            restarts: 0,
            spawned_at: None,
            ready_at: None,
            last_exit: None,
            history: VecDeque::with_capacity(HISTORY_LEN),
            first_runs: Vec::new(),
            runs_ended: 0,
            links: Links::default(),
            required_down: 0,
            start_scan_hint: 0,
            stop_scan_hint: 0,
            removed: false,
            status_text: None,
            restart_pending: false,
            first_try_ended: false,
            stop_command: None,
            stop_command_group: None,
            stop_commands_unreaped: Vec::new(),
            pid_file_written: None,
            pid_file_problem: None,
            probe_seq: 0,
            probe_ended: None,
            health: None,
        }
    }

    pub(crate) fn id(&self) -> ServiceId {
        self.id
    }

    pub(crate) fn name(&self) -> &str {
        &self.active.name
    }

    pub(crate) fn state(&self) -> &State {
        &self.state
    }

    pub(crate) fn want(&self) -> Want {
        self.want
    }

    /// What the current (or last) process was spawned with.
    pub(crate) fn active_config(&self) -> &ServiceConfig {
        &self.active
    }

    pub(crate) fn links(&self) -> &Links {
        &self.links
    }

    /// How many of its `requires` are wanted down or gone.
    pub(crate) fn required_down(&self) -> usize {
        self.required_down
    }

    /// Where the last scans of `links().after` / `links().before` found a
    /// blocker.
    pub(crate) fn scan_hints(&self) -> (usize, usize) {
        (self.start_scan_hint, self.stop_scan_hint)
    }

    pub(crate) fn is_removed(&self) -> bool {
        self.removed
    }

    pub(crate) fn restart_pending(&self) -> bool {
        self.restart_pending
    }

    /// Wanted down because a required dependency failed: `failed` once
    /// stopped.
    pub(crate) fn is_doomed(&self) -> bool {
        self.fate.is_some()
    }

    pub(crate) fn last_exit(&self) -> Option<ExitStatus> {
        self.last_exit
    }

    /// Its status for `svctl status`, with `reason` (which the supervisor
    /// knows for `waiting`).
    pub(crate) fn status(&self, reason: Option<Reason>) -> ServiceStatus {
        ServiceStatus {
            name: self.name().to_string(),
            state: self.state.kind(),
            want: self.want,
            pid: self.state.pid(),
            since: self.since,
            restarts: self.restarts,
            last_exit: self.last_exit,
            reason,
            next_restart: match self.state {
                State::Backoff { until, .. } => Some(until),
                _ => None,
            },
            history: self.history.iter().cloned().collect(),
            config_changed: self.pending.is_some(),
            removed: self.removed,
            spawned_at: self.spawned_at,
            ready_at: self.ready_at,
            status_text: self.status_text.clone(),
            // `starting` from the config until a spawn gives it its own.
            health: self
                .active
                .health
                .as_ref()
                .map(|_| self.health.clone().unwrap_or_else(HealthStatus::starting)),
        }
    }

    /// Move to `next` (the state `step` returned; the supervisor keeps the
    /// indexes): `since` follows a change of kind, the first try ends at
    /// `up`, `done`, `failed` or `backoff`, and a pending restart ends with
    /// `starting` or `up`. Returns the state left.
    pub(crate) fn enter(&mut self, now: Instant, next: State) -> State {
        let old = std::mem::replace(&mut self.state, next);
        if old.kind() != self.state.kind() {
            self.since = now;
        }
        if matches!(
            self.state,
            State::Up { .. } | State::Done | State::Failed { .. } | State::Backoff { .. }
        ) {
            self.first_try_ended = true;
        }
        if !matches!(self.state, State::Starting { .. } | State::Up { .. }) {
            self.restart_pending = false;
        }
        old
    }

    /// Whether `want` changed it.
    pub(crate) fn set_want(&mut self, want: Want) -> bool {
        std::mem::replace(&mut self.want, want) != want
    }

    /// What it becomes once stopped: `failed` with `fate`, or (`None`)
    /// whatever its stop ends in.
    pub(crate) fn set_fate(&mut self, fate: Option<Reason>) {
        self.fate = fate;
    }

    /// A fresh crash count (`svctl start` of a stopped or failed service,
    /// `svctl restart`).
    pub(crate) fn forgive_crashes(&mut self) {
        self.crashes = 0;
    }

    /// Keep `STATUS=…` while it has a process or awaits its pid file.
    pub(crate) fn keep_status_text(&mut self, text: String) {
        if self.state.has_process() || matches!(self.state, State::AwaitingPidFile { .. }) {
            self.status_text = Some(text);
        }
    }

    /// Its neighbours after a (re)load; the scans start over.
    pub(crate) fn relink(&mut self, links: Links) {
        self.links = links;
        self.start_scan_hint = 0;
        self.stop_scan_hint = 0;
    }

    pub(crate) fn set_required_down(&mut self, count: usize) {
        self.required_down = count;
    }

    /// One of its `requires` is now wanted `want`.
    pub(crate) fn requirement_wanted(&mut self, want: Want) {
        self.required_down = match want {
            Want::Down => self.required_down.saturating_add(1),
            Want::Up => self.required_down.saturating_sub(1),
        };
    }

    pub(crate) fn set_scan_hints(&mut self, start: Option<usize>, stop: Option<usize>) {
        self.start_scan_hint = start.unwrap_or(self.start_scan_hint);
        self.stop_scan_hint = stop.unwrap_or(self.stop_scan_hint);
    }

    /// Gone from the config (`true`), or back in it.
    pub(crate) fn set_removed(&mut self, removed: bool) {
        self.removed = removed;
    }

    /// A reload's config: at once without a process, else at its next
    /// spawn (`config_changed` until then).
    pub(crate) fn reconfigure(&mut self, config: &ServiceConfig) {
        if self.state.has_process() {
            self.pending = (self.active != *config).then(|| config.clone());
        } else {
            self.active = config.clone();
            self.pending = None;
        }
    }

    /// The config a spawn uses now: the reloaded one if there is one.
    pub(crate) fn latest_config(&self) -> &ServiceConfig {
        self.pending.as_ref().unwrap_or(&self.active)
    }

    /// Dependents may start: `up` (and not about to restart), or `done`
    /// (finished successfully).
    pub(crate) fn is_ready(&self) -> bool {
        matches!(self.state, State::Up { .. } | State::Done) && !self.restart_pending
    }

    /// Still in its first try, for the main command (SPEC §2): wanted up
    /// (or being stopped) and never yet up, done, failed or in backoff,
    /// and not `waiting`. A waiting service needs no look of its own: what
    /// it waits for is in its first try too (and holds the boot), or has
    /// had it without being ready, and then its own first try cannot come.
    pub(crate) fn in_first_try(&self) -> bool {
        !self.removed
            && !self.first_try_ended
            && match self.want {
                Want::Up => !matches!(self.state, State::Waiting),
                Want::Down => self.state.has_process(),
            }
    }

    /// Wanted and not there yet: ordered dependents wait for it.
    pub(crate) fn is_pending_up(&self) -> bool {
        self.want == Want::Up
            && !matches!(
                self.state,
                State::Up { .. } | State::Done | State::Failed { .. }
            )
    }

    /// Ready only on `Event::Ready`, not on exec.
    fn needs_ready_signal(&self) -> bool {
        self.active.ready_fd.is_some() || self.active.ready_notify
    }

    fn is_oneshot(&self) -> bool {
        self.active.service_type == ServiceType::Oneshot
    }

    fn is_forking(&self) -> bool {
        self.active.service_type == ServiceType::Forking
    }

    pub(crate) fn record_exit(&mut self, now: Instant, pid: i32, status: ExitStatus) {
        self.last_exit = Some(status);
        let record = ExitRecord {
            at: now,
            pid,
            status,
            spawned_at: self.spawned_at,
            ready_at: self.ready_at,
        };
        self.runs_ended += 1;
        if self.first_runs.len() < HISTORY_LEN {
            self.first_runs.push(record.clone());
        }
        if self.history.len() == HISTORY_LEN {
            self.history.pop_front();
        }
        self.history.push_back(record);
    }

    /// The ended runs `svctl plot` shows, oldest first: the first
    /// `HISTORY_LEN` of this boot and the last ones after them; and how
    /// many ended between the two, not shown.
    pub(crate) fn plotted_runs(&self) -> (Vec<ExitRecord>, u64) {
        let first = self.first_runs.len() as u64;
        let last = self.history.len() as u64;
        // `history` holds the runs numbered from `total - last + 1` on.
        let history_from = self.runs_ended - last + 1;
        let mut runs = self.first_runs.clone();
        let later = (history_from..).zip(&self.history);
        runs.extend(
            later
                .filter(|(number, _)| *number > first)
                .map(|(_, run)| run.clone()),
        );
        (runs, self.runs_ended.saturating_sub(first + last))
    }

    /// Whether `pid` is one of its stop commands, running or SIGKILLed,
    /// and not yet reaped.
    pub(crate) fn has_unreaped_stop_command(&self, pid: i32) -> bool {
        self.stop_commands_unreaped.contains(&pid)
    }

    /// The next state after `input`, or `None` to stay. Actions go to `out`.
    /// A stop command lives only as long as the stop that ran it, until
    /// the SIGKILL: whatever leaves that (the process reaped, killed at
    /// stop-timeout or shutdown-timeout) kills its group.
    pub(crate) fn step(
        &mut self,
        now: Instant,
        input: Input<'_>,
        out: &mut Outbox<'_>,
    ) -> Option<State> {
        let reaped = matches!(input, Input::Exited(_));
        match input {
            Input::StopCommandSpawned(pid) => self.stop_commands_unreaped.push(pid),
            Input::StopCommandEnded { pid: Some(pid), .. } => self
                .stop_commands_unreaped
                .retain(|&unreaped| unreaped != pid),
            _ => {}
        }
        let next = self.decide(now, input, out);
        if reaped && let Some((pid, path)) = self.pid_file_written.take() {
            out.actions.push_back(Action::RemovePidFile {
                service: self.id,
                pid,
                path,
            });
        }
        let asking = matches!(
            next.as_ref().unwrap_or(&self.state),
            State::Stopping {
                escalation: Escalation::KillAt(_),
                ..
            }
        );
        if !asking {
            self.stop_command = None;
            if let Some(group) = self.stop_command_group.take() {
                out.signal(group, libc::SIGKILL, true);
            }
        }
        next
    }

    /// A longrun with a `pid-file`: svinit writes its pid there once it has
    /// exec'd (a forking service's daemon writes its own).
    fn write_pid_file(&mut self, pid: i32, out: &mut Outbox<'_>) {
        if self.active.service_type == ServiceType::Longrun
            && let Some(path) = &self.active.pid_file
        {
            out.actions.push_back(Action::WritePidFile {
                service: self.id,
                pid,
                path: path.clone(),
            });
            self.pid_file_written = Some((pid, path.clone()));
        }
    }

    /// The `pid-file` could not be written for `pid`: its reason while that
    /// process runs on. `false` when `pid` is not the one written for.
    pub(crate) fn pid_file_not_written(&mut self, pid: i32, error: String) -> bool {
        let Some((written, path)) = &self.pid_file_written else {
            return false;
        };
        if *written != pid {
            return false;
        }
        let path = path.display().to_string();
        self.pid_file_problem = Some(Reason::PidFileNotWritten { path, error });
        true
    }

    /// Ask the process `pid` to stop: its stop command, or its stop signal.
    fn ask_to_stop(&mut self, pid: i32, out: &mut Outbox<'_>) {
        if self.active.stop_command.is_some() {
            out.actions.push_back(Action::RunStopCommand {
                service: self.id,
                pid,
            });
            self.stop_command = Some(StopCommandRun::Forking);
        } else {
            self.send_stop_signal(pid, out);
        }
    }

    fn send_stop_signal(&self, pid: i32, out: &mut Outbox<'_>) {
        out.stop_signal(
            pid,
            self.active.stop_signal,
            self.active.kill_mode == KillMode::Group,
        );
    }

    /// Whether `pid` (`None`: not forked) is the stop command under way.
    fn is_stop_command(&self, pid: Option<i32>) -> bool {
        match (self.stop_command, pid) {
            (Some(StopCommandRun::Forking), None) => true,
            (Some(StopCommandRun::Running(running)), Some(pid)) => running == pid,
            _ => false,
        }
    }

    /// The decision of `step`. An event from outside that does not fit the
    /// state (stale, or out of order: an exec report after a stop, a pid
    /// file read for a service that stopped meanwhile) changes nothing and
    /// is logged at debug level.
    fn decide(&mut self, now: Instant, input: Input<'_>, out: &mut Outbox<'_>) -> Option<State> {
        use Input::*;
        let event = input.name();
        match (&self.state, input) {
            (State::Down { .. } | State::Waiting, Settle(around)) => {
                self.settle_idle(now, around, out)
            }
            (&State::Backoff { until, .. }, Settle(around)) => match self.want {
                Want::Down => Some(self.finish_stop(None)),
                Want::Up if until <= now => self.settle_idle(now, around, out),
                Want::Up => None,
            },
            (State::Starting { .. } | State::Up { .. }, Settle(around)) => {
                let stop = self.want == Want::Down || self.restart_pending;
                if stop && !around.stop_blocked {
                    return Some(self.begin_stop(now, StopCause::Requested, out));
                }
                // A stop is coming: no probe runs meanwhile (SPEC §3).
                match self.state {
                    State::Up {
                        pid,
                        since,
                        watchdog,
                        health: ProbePhase::Running { .. },
                    } if stop => Some(State::Up {
                        pid,
                        since,
                        watchdog,
                        health: self.next_health(now),
                    }),
                    State::Starting {
                        pid,
                        execed,
                        deadline,
                        probe: ProbePhase::Running { .. },
                    } if stop => Some(State::Starting {
                        pid,
                        execed,
                        deadline,
                        probe: self.next_probe(now),
                    }),
                    _ => None,
                }
            }
            (State::Stopping { .. } | State::Failed { .. } | State::Done, Settle(_)) => None,
            // The daemon's pid is not known: nothing to signal. svinit's
            // orphan sweep catches it at shutdown.
            (State::AwaitingPidFile { .. }, Settle(_)) => {
                (self.want == Want::Down).then(|| self.finish_stop(None))
            }

            (
                &State::Starting {
                    pid: None,
                    execed,
                    deadline,
                    probe,
                },
                Spawned(pid),
            ) => {
                if let Some(config) = self.pending.take() {
                    self.active = config;
                }
                Some(State::Starting {
                    pid: Some(pid),
                    execed,
                    deadline,
                    probe,
                })
            }
            (
                &State::Stopping {
                    pid: None,
                    escalation,
                    ref cause,
                },
                Spawned(pid),
            ) => {
                let cause = cause.clone();
                if escalation.is_killed() {
                    out.signal(pid, libc::SIGKILL, true);
                } else {
                    self.ask_to_stop(pid, out);
                }
                Some(State::Stopping {
                    pid: Some(pid),
                    escalation,
                    cause,
                })
            }
            (state, Spawned(pid)) => {
                // A process nobody waits for (its start was abandoned): it
                // would run unsupervised.
                if state.pid() != Some(pid) {
                    out.signal(pid, libc::SIGKILL, true);
                }
                None
            }

            (State::Starting { .. }, SpawnFailed(failure)) => Some(match self.want {
                Want::Down => self.finish_stop(None),
                Want::Up => self.crash(now, Reason::SpawnFailed(failure.clone()), None, out),
            }),
            (State::Stopping { .. }, SpawnFailed(_)) => Some(self.finish_stop(None)),
            (
                State::Down { .. }
                | State::Waiting
                | State::AwaitingPidFile { .. }
                | State::Up { .. }
                | State::Backoff { .. }
                | State::Failed { .. }
                | State::Done,
                SpawnFailed(_),
            ) => self.ignored(event, out),

            (
                &State::Starting {
                    pid: Some(pid),
                    execed: false,
                    deadline,
                    ..
                },
                Execed,
            ) => Some({
                self.write_pid_file(pid, out);
                if self.is_oneshot() || self.is_forking() || self.needs_ready_signal() {
                    State::Starting {
                        pid: Some(pid),
                        execed: true,
                        deadline,
                        probe: ProbePhase::Idle,
                    }
                } else if self.active.ready_probe.is_some() {
                    self.probing(now, pid, deadline, out)
                } else {
                    self.become_up(now, pid)
                }
            }),
            (
                &State::Starting {
                    pid: Some(pid),
                    execed: true,
                    deadline,
                    probe: ProbePhase::Running { id, .. },
                },
                ProbeEnded { probe, ok, .. },
            ) if probe == id => {
                self.probe_ended = Some(id);
                Some(if ok {
                    self.become_up(now, pid)
                } else {
                    State::Starting {
                        pid: Some(pid),
                        execed: true,
                        deadline,
                        probe: self.next_probe(now),
                    }
                })
            }
            (&State::Starting { pid: Some(pid), .. }, Ready)
                if self.needs_ready_signal() && !self.is_oneshot() =>
            {
                Some(self.become_up(now, pid))
            }
            (
                &State::Up {
                    pid,
                    since,
                    watchdog: Some(_),
                    health,
                },
                Watchdog(WatchdogMessage::KeepAlive),
            ) => Some(State::Up {
                pid,
                since,
                watchdog: self.watchdog_deadline(now),
                health,
            }),
            (
                &State::Up {
                    pid,
                    since,
                    watchdog,
                    health: ProbePhase::Running { id, .. },
                },
                ProbeEnded { probe, ok, detail },
            ) if probe == id => {
                self.probe_ended = Some(id);
                Some(self.health_result(now, (pid, since, watchdog), ok, detail.to_owned(), out))
            }
            (&State::Up { since, .. }, Watchdog(WatchdogMessage::Trigger)) if self.watched() => {
                Some(self.stop_unhealthy(now, since, Reason::WatchdogTriggered, out))
            }
            // Already exec'd or ready, not starting, or readiness it does
            // not use; a watchdog message while not up or not watched (no
            // `watchdog`, wanted down, restarting).
            (
                State::Down { .. }
                | State::Waiting
                | State::Starting { .. }
                | State::AwaitingPidFile { .. }
                | State::Up { .. }
                | State::Stopping { .. }
                | State::Backoff { .. }
                | State::Failed { .. }
                | State::Done,
                Execed | Ready | Watchdog(_) | ProbeEnded { .. },
            ) => self.ignored(event, out),

            (&State::Starting { deadline, .. }, Exited(ExitStatus::Exited(0)))
                if self.is_forking() && self.want == Want::Up =>
            {
                // The launcher daemonized: find the daemon.
                out.actions
                    .push_back(Action::ReadPidFile { service: self.id });
                Some(State::AwaitingPidFile {
                    deadline,
                    retry_at: now + PID_FILE_RETRY_MIN,
                    reads: 1,
                    problem: PidFileProblem::Missing,
                })
            }
            (State::Starting { .. }, Exited(status)) => Some(self.exited(now, status, None, out)),
            (&State::Up { since, .. }, Exited(status)) => {
                Some(self.exited(now, status, Some(since), out))
            }
            (
                State::Stopping {
                    cause: StopCause::StartTimeout(waited),
                    ..
                },
                Exited(status),
            ) if self.want == Want::Up => {
                Some(self.crash(now, Reason::StartTimeout(*waited), Some(status), out))
            }
            (
                &State::Stopping {
                    cause:
                        StopCause::Unhealthy {
                            ref reason,
                            up_since,
                        },
                    ..
                },
                Exited(status),
            ) if self.want == Want::Up => {
                Some(self.unhealthy_crash(now, reason.clone(), up_since, Some(status), out))
            }
            (
                State::Stopping {
                    cause: StopCause::HealthStop(reason),
                    ..
                },
                Exited(_),
            ) if self.want == Want::Up => Some(State::Failed {
                reason: reason.clone(),
            }),
            (
                State::Stopping {
                    escalation, cause, ..
                },
                Exited(_),
            ) => {
                let note = match cause {
                    StopCause::Requested if escalation.is_killed() => {
                        Some(Reason::StopTimeout(self.active.stop_timeout))
                    }
                    StopCause::ShutdownTimeout(timeout) => Some(Reason::ShutdownTimeout(*timeout)),
                    _ => None,
                };
                Some(self.finish_stop(note))
            }
            (
                State::Down { .. }
                | State::Waiting
                | State::AwaitingPidFile { .. }
                | State::Backoff { .. }
                | State::Failed { .. }
                | State::Done,
                Exited(_),
            ) => self.ignored(event, out),

            (State::Stopping { .. }, StopCommandSpawned(pid))
                if self.stop_command == Some(StopCommandRun::Forking) =>
            {
                self.stop_command = Some(StopCommandRun::Running(pid));
                self.stop_command_group = Some(pid);
                None
            }
            // Its stop ended, or was SIGKILLed, before the fork was known.
            (_, StopCommandSpawned(pid)) => {
                out.signal(pid, libc::SIGKILL, true);
                None
            }
            (
                &State::Stopping { pid: Some(pid), .. },
                StopCommandEnded {
                    pid: command,
                    outcome,
                },
            ) if self.is_stop_command(command) => {
                self.stop_command = None;
                let problem = match outcome {
                    Ok(ExitStatus::Exited(0)) => return None,
                    Ok(status) => status.to_string(),
                    Err(failure) => format!("cannot be started: {failure}"),
                };
                out.actions
                    .push_back(Action::Notice(Notice::StopCommandFailed {
                        service: self.name().to_string(),
                        problem,
                        signal: self.active.stop_signal,
                    }));
                self.send_stop_signal(pid, out);
                None
            }
            // A stop command that was killed, or whose stop is over.
            (_, StopCommandEnded { .. }) => None,

            (&State::AwaitingPidFile { deadline, .. }, PidFile(Ok(pid))) if *pid > 1 => {
                Some(if self.needs_ready_signal() {
                    State::Starting {
                        pid: Some(*pid),
                        execed: true,
                        deadline,
                        probe: ProbePhase::Idle,
                    }
                } else if self.active.ready_probe.is_some() {
                    self.probing(now, *pid, deadline, out)
                } else {
                    self.become_up(now, *pid)
                })
            }
            // A pid file (written since the launcher ran: a stale one was
            // removed before) naming a dead process (the daemon died), or a
            // pid or file that is refused.
            (State::AwaitingPidFile { .. }, PidFile(Err(problem)))
                if problem.is_refusal() && self.want == Want::Up =>
            {
                let reason = self.pid_file_reason(problem.clone());
                Some(self.crash(now, reason, None, out))
            }
            (
                &State::AwaitingPidFile {
                    deadline,
                    retry_at,
                    reads,
                    ..
                },
                PidFile(Err(problem)),
            ) => Some(State::AwaitingPidFile {
                deadline,
                retry_at,
                reads,
                problem: problem.clone(),
            }),
            (
                State::Down { .. }
                | State::Waiting
                | State::Starting { .. }
                | State::AwaitingPidFile { .. }
                | State::Up { .. }
                | State::Stopping { .. }
                | State::Backoff { .. }
                | State::Failed { .. }
                | State::Done,
                PidFile(_),
            ) => self.ignored(event, out),

            (
                &State::Starting {
                    pid: Some(pid),
                    deadline,
                    ..
                },
                Deadline,
            ) if deadline <= now => {
                out.signal(pid, libc::SIGKILL, true);
                let waited = self.active.start_timeout;
                Some(State::Stopping {
                    pid: Some(pid),
                    escalation: Escalation::killed(now),
                    cause: StopCause::StartTimeout(waited),
                })
            }
            (
                &State::Starting {
                    pid: None,
                    deadline,
                    ..
                },
                Deadline,
            ) if deadline <= now => Some(match self.want {
                Want::Down => self.finish_stop(None),
                Want::Up => self.crash(
                    now,
                    Reason::StartTimeout(self.active.start_timeout),
                    None,
                    out,
                ),
            }),
            // A probe that outlived its timeout has failed (`commit` stops
            // it); the next starts `interval` later.
            (
                &State::Starting {
                    pid: Some(pid),
                    execed: true,
                    deadline,
                    probe: ProbePhase::Running { until, .. },
                },
                Deadline,
            ) if until <= now => Some(State::Starting {
                pid: Some(pid),
                execed: true,
                deadline,
                probe: self.next_probe(now),
            }),
            (
                &State::Starting {
                    pid: Some(pid),
                    execed: true,
                    deadline,
                    probe: ProbePhase::NextAt(at),
                },
                Deadline,
            ) if at <= now => Some(self.probing(now, pid, deadline, out)),
            (
                &State::Stopping {
                    pid: Some(pid),
                    escalation: Escalation::KillAt(at),
                    ref cause,
                },
                Deadline,
            ) if at <= now => {
                out.signal(pid, libc::SIGKILL, true);
                Some(State::Stopping {
                    pid: Some(pid),
                    escalation: Escalation::killed(now),
                    cause: cause.clone(),
                })
            }
            (
                &State::Stopping {
                    pid: Some(pid),
                    escalation: Escalation::GiveUpAt(at),
                    ref cause,
                },
                Deadline,
            ) if at <= now => {
                // Still there after SIGKILL: given up on, so that stops and
                // the shutdown go on. Its exit, if it ever comes, is an
                // orphan's.
                let reason = Reason::Unkillable {
                    pid,
                    after: UNKILLABLE_AFTER,
                };
                Some(match *cause {
                    StopCause::StartTimeout(_) if self.want == Want::Up => {
                        self.crash(now, reason, None, out)
                    }
                    StopCause::Unhealthy { up_since, .. } if self.want == Want::Up => {
                        self.unhealthy_crash(now, reason, up_since, None, out)
                    }
                    StopCause::HealthStop(ref health) if self.want == Want::Up => State::Failed {
                        reason: health.clone(),
                    },
                    _ => self.finish_stop(Some(reason)),
                })
            }
            (
                &State::Stopping {
                    pid: None,
                    escalation,
                    ..
                },
                Deadline,
            ) if escalation.deadline() <= now => {
                // `Spawned` never came: nothing to wait for.
                Some(self.finish_stop(None))
            }
            (
                &State::AwaitingPidFile {
                    deadline,
                    ref problem,
                    ..
                },
                Deadline,
            ) if deadline <= now => {
                let reason = self.pid_file_reason(problem.clone());
                Some(match self.want {
                    Want::Down => self.finish_stop(None),
                    Want::Up => self.crash(now, reason, None, out),
                })
            }
            (
                &State::AwaitingPidFile {
                    deadline,
                    retry_at,
                    reads,
                    ref problem,
                },
                Deadline,
            ) if retry_at <= now => {
                out.actions
                    .push_back(Action::ReadPidFile { service: self.id });
                let wait = PID_FILE_RETRY_MIN
                    .saturating_mul(1 << reads.min(16))
                    .min(PID_FILE_RETRY_MAX);
                Some(State::AwaitingPidFile {
                    deadline,
                    retry_at: now + wait,
                    reads: reads.saturating_add(1),
                    problem: problem.clone(),
                })
            }
            (
                &State::Up {
                    pid,
                    since,
                    watchdog: Some(at),
                    health,
                },
                Deadline,
            ) if at <= now => Some(match self.active.watchdog {
                Some(limit) if self.watched() => {
                    self.stop_unhealthy(now, since, Reason::WatchdogTimeout(limit), out)
                }
                // Wanted down or restarting: its stop is coming.
                _ => State::Up {
                    pid,
                    since,
                    watchdog: None,
                    health,
                },
            }),
            // A health probe past its timeout has failed (`commit` stops it).
            (
                &State::Up {
                    pid,
                    since,
                    watchdog,
                    health: ProbePhase::Running { until, .. },
                },
                Deadline,
            ) if until <= now => {
                let timeout = self
                    .active
                    .health
                    .as_ref()
                    .map_or(Duration::ZERO, |health| health.probe.timeout);
                let detail = format!("timed out after {}", format_duration(timeout));
                Some(self.health_result(now, (pid, since, watchdog), false, detail, out))
            }
            (
                &State::Up {
                    pid,
                    since,
                    watchdog,
                    health: ProbePhase::NextAt(at),
                },
                Deadline,
            ) if at <= now => {
                let probe = self.active.health.as_ref().map(|h| h.probe.clone());
                let health = self.run_probe(now, probe.as_ref(), out);
                Some(State::Up {
                    pid,
                    since,
                    watchdog,
                    health,
                })
            }
            // A backoff deadline is handled by `Settle` (it needs the surroundings).
            (
                State::Down { .. }
                | State::AwaitingPidFile { .. }
                | State::Waiting
                | State::Starting { .. }
                | State::Up { .. }
                | State::Stopping { .. }
                | State::Backoff { .. }
                | State::Failed { .. }
                | State::Done,
                Deadline,
            ) => self.ignored(event, out),

            // Already killed: its unkillable deadline stands.
            (
                State::Stopping {
                    escalation: Escalation::GiveUpAt(_),
                    ..
                },
                KillNow(_),
            ) => None,
            (State::Starting { pid, .. } | State::Stopping { pid, .. }, KillNow(timeout)) => {
                let pid = *pid;
                self.kill_now(now, pid, timeout, out)
            }
            (&State::Up { pid, .. }, KillNow(timeout)) => {
                self.kill_now(now, Some(pid), timeout, out)
            }
            (
                State::Down { .. }
                | State::Waiting
                | State::AwaitingPidFile { .. }
                | State::Backoff { .. }
                | State::Failed { .. }
                | State::Done,
                KillNow(_),
            ) => None,

            (State::Starting { .. } | State::Up { .. }, Restart) => {
                self.restart_pending = true;
                None
            }
            (
                State::Backoff { .. }
                | State::Failed { .. }
                | State::Done
                | State::AwaitingPidFile { .. },
                Restart,
            )
            | (State::Backoff { .. } | State::Failed { .. } | State::Done, Clear) => {
                Some(State::Down { note: None })
            }
            (State::Down { .. } | State::Waiting | State::Stopping { .. }, Restart | Clear)
            | (State::Starting { .. } | State::Up { .. } | State::AwaitingPidFile { .. }, Clear) => {
                None
            }
        }
    }

    /// Nothing happens on `event`; the log says so (debug).
    fn ignored(&self, event: &'static str, out: &mut Outbox<'_>) -> Option<State> {
        out.actions.push_back(Action::Notice(Notice::Ignored {
            service: self.name().to_string(),
            event,
            state: self.state.kind(),
        }));
        None
    }

    /// `down` or `waiting`, wanted up: start when nothing is awaited. Wanted
    /// down: settle where a stop ends.
    fn settle_idle(
        &mut self,
        now: Instant,
        around: &Surroundings,
        out: &mut Outbox<'_>,
    ) -> Option<State> {
        if self.want == Want::Down {
            return match &self.state {
                State::Down { .. } if self.fate.is_none() => None,
                _ => Some(self.finish_stop(None)),
            };
        }
        if !around.start_blocked {
            return Some(self.spawn(now, out));
        }
        match &self.state {
            State::Waiting => None,
            _ => Some(State::Waiting),
        }
    }

    fn spawn(&mut self, now: Instant, out: &mut Outbox<'_>) -> State {
        if let Some(config) = self.pending.take() {
            self.active = config;
        }
        // A crash in a row not forgiven by `svctl start`/`restart`: this
        // start is svinit's own restart.
        if self.crashes > 0 {
            self.restarts = self.restarts.saturating_add(1);
        }
        self.spawned_at = Some(now);
        self.ready_at = None;
        self.status_text = None;
        let fresh = self
            .active
            .health
            .as_ref()
            .map(|_| HealthStatus::starting());
        if let (Some(old), Some(_)) = (&self.health, &fresh)
            && old.state != HealthState::Starting
        {
            out.actions.push_back(Action::HealthChanged {
                service: self.id,
                name: self.name().to_string(),
                from: old.state,
                to: HealthState::Starting,
            });
        }
        self.health = fresh;
        self.pid_file_problem = None;
        if self.active.service_type == ServiceType::Forking
            && let Some(path) = &self.active.pid_file
        {
            out.actions.push_back(Action::RemoveStalePidFile {
                service: self.id,
                path: path.clone(),
            });
        }
        out.actions.push_back(Action::Spawn { service: self.id });
        State::Starting {
            pid: None,
            execed: false,
            deadline: now + self.active.start_timeout,
            probe: ProbePhase::Idle,
        }
    }

    /// `starting`, exec'd, with a probe started now; or, while a stop is
    /// wanted or coming, none and a look again `interval` later.
    fn probing(
        &mut self,
        now: Instant,
        pid: i32,
        deadline: Instant,
        out: &mut Outbox<'_>,
    ) -> State {
        let probe = self.active.ready_probe.clone();
        State::Starting {
            pid: Some(pid),
            execed: true,
            deadline,
            probe: self.run_probe(now, probe.as_ref(), out),
        }
    }

    /// `probe` started now; or, while a stop is wanted or coming, none and
    /// a look again `interval` later.
    fn run_probe(
        &mut self,
        now: Instant,
        probe: Option<&Probe>,
        out: &mut Outbox<'_>,
    ) -> ProbePhase {
        let Some(probe) = probe else {
            return ProbePhase::Idle;
        };
        if self.want == Want::Down || self.restart_pending {
            return ProbePhase::NextAt(now + probe.interval);
        }
        self.probe_seq += 1;
        let id = ProbeId(self.probe_seq);
        out.actions.push_back(Action::RunProbe {
            service: self.id,
            probe: id,
            check: probe.check.clone(),
        });
        ProbePhase::Running {
            id,
            until: now + probe.timeout,
        }
    }

    /// The next health probe, `interval` from now.
    fn next_health(&self, now: Instant) -> ProbePhase {
        match &self.active.health {
            Some(health) => ProbePhase::NextAt(now + health.probe.interval),
            None => ProbePhase::Idle,
        }
    }

    /// A health probe of the `up` service `(pid, since, watchdog)` ended:
    /// its state and last result, and, at `retries` counted failures in
    /// a row, `on-failure` (SPEC §3 "Health state", "on-failure").
    fn health_result(
        &mut self,
        now: Instant,
        (pid, since, watchdog): (i32, Instant, Option<Instant>),
        ok: bool,
        detail: String,
        out: &mut Outbox<'_>,
    ) -> State {
        let up = State::Up {
            pid,
            since,
            watchdog,
            health: self.next_health(now),
        };
        let Some(rules) = self.active.health.clone() else {
            return up;
        };
        let health = self.health.get_or_insert_with(HealthStatus::starting);
        let from = health.state;
        let counted = ok || now >= since + rules.start_period;
        health.last = Some(HealthResult {
            at: now,
            ok,
            detail: detail.clone(),
        });
        if ok {
            health.failures = 0;
            health.state = HealthState::Healthy;
        } else if counted {
            health.failures = health.failures.saturating_add(1);
            if health.failures >= rules.retries {
                health.state = HealthState::Unhealthy;
            }
        }
        let to = health.state;
        let failed = !ok && counted && health.failures >= rules.retries;
        if from != to {
            out.actions.push_back(Action::HealthChanged {
                service: self.id,
                name: self.name().to_string(),
                from,
                to,
            });
        }
        if !failed || self.want == Want::Down || self.restart_pending {
            return up;
        }
        let reason = Reason::HealthCheckFailed(detail);
        match rules.on_failure {
            HealthAction::Restart => self.stop_unhealthy(now, since, reason, out),
            HealthAction::Stop => self.begin_stop(now, StopCause::HealthStop(reason), out),
            HealthAction::Log => up,
        }
    }

    /// The next probe, `interval` from now.
    fn next_probe(&self, now: Instant) -> ProbePhase {
        match &self.active.ready_probe {
            Some(probe) => ProbePhase::NextAt(now + probe.interval),
            None => ProbePhase::Idle,
        }
    }

    /// The probe `old` (the state just left) ran, if the current state
    /// does not run it and it has not ended: to be stopped.
    pub(crate) fn probe_left_behind(&mut self, old: &State) -> Option<ProbeId> {
        let running = |state: &State| match state {
            State::Starting { probe, .. } => probe.running(),
            State::Up { health, .. } => health.running(),
            _ => None,
        };
        let left = running(old).filter(|id| running(&self.state) != Some(*id));
        let ended = self.probe_ended.take();
        left.filter(|id| ended != Some(*id))
    }

    fn pid_file_reason(&self, problem: PidFileProblem) -> Reason {
        Reason::PidFile {
            path: self
                .active
                .pid_file
                .as_deref()
                .map(|p| p.display().to_string())
                .unwrap_or_default(),
            problem,
            waited: self.active.start_timeout,
        }
    }

    fn become_up(&mut self, now: Instant, pid: i32) -> State {
        self.ready_at = Some(now);
        State::Up {
            pid,
            since: now,
            watchdog: self.watchdog_deadline(now),
            health: self.next_health(now),
        }
    }

    /// When the next `WATCHDOG=1` is due, with a `watchdog`.
    fn watchdog_deadline(&self, now: Instant) -> Option<Instant> {
        self.active.watchdog.map(|limit| now + limit)
    }

    /// The watchdog may act: it has one, and no stop is wanted or coming
    /// (SPEC §3: no on-failure action while wanted down or in shutdown).
    fn watched(&self) -> bool {
        self.active.watchdog.is_some() && self.want == Want::Up && !self.restart_pending
    }

    /// A failed liveness check (`watchdog`): stop it like any stop; its
    /// exit will be a crash with `reason`.
    fn stop_unhealthy(
        &mut self,
        now: Instant,
        up_since: Instant,
        reason: Reason,
        out: &mut Outbox<'_>,
    ) -> State {
        self.begin_stop(now, StopCause::Unhealthy { reason, up_since }, out)
    }

    /// The process stopped for a failed liveness check has gone: a crash,
    /// whatever its status (the reset after a long run applies first).
    fn unhealthy_crash(
        &mut self,
        now: Instant,
        reason: Reason,
        up_since: Instant,
        status: Option<ExitStatus>,
        out: &mut Outbox<'_>,
    ) -> State {
        self.forgive_a_long_run(now, up_since);
        self.count_crash(now, reason, status, out)
    }

    /// A run `up` longer than `backoff-limit` starts the crash count again.
    fn forgive_a_long_run(&mut self, now: Instant, up_since: Instant) {
        if now.saturating_duration_since(up_since) > self.active.backoff_limit {
            self.crashes = 0;
        }
    }

    fn begin_stop(&mut self, now: Instant, cause: StopCause, out: &mut Outbox<'_>) -> State {
        let pid = self.state.pid();
        if let Some(pid) = pid {
            self.ask_to_stop(pid, out);
        }
        State::Stopping {
            pid,
            escalation: Escalation::KillAt(now + self.active.stop_timeout),
            cause,
        }
    }

    fn kill_now(
        &mut self,
        now: Instant,
        pid: Option<i32>,
        timeout: Duration,
        out: &mut Outbox<'_>,
    ) -> Option<State> {
        if let Some(pid) = pid {
            out.signal(pid, libc::SIGKILL, true);
        }
        let cause = match &self.state {
            State::Stopping {
                cause: cause @ StopCause::StartTimeout(_),
                ..
            } => cause.clone(),
            _ => StopCause::ShutdownTimeout(timeout),
        };
        Some(State::Stopping {
            pid,
            escalation: Escalation::killed(now),
            cause,
        })
    }

    /// Where a stop ends: `failed` when a dependency doomed it, else `down`
    /// (to be started again by `Settle` if it is still wanted), noting why
    /// it needed SIGKILL (`killed`: why) if it did, or that it survived it.
    fn finish_stop(&mut self, killed: Option<Reason>) -> State {
        if let Some(reason) = self.fate.take() {
            return State::Failed { reason };
        }
        let note = killed
            .filter(|note| self.want == Want::Down || matches!(note, Reason::Unkillable { .. }));
        State::Down { note }
    }

    /// Its process ended on its own (`up_since`: when it became ready).
    fn exited(
        &mut self,
        now: Instant,
        status: ExitStatus,
        up_since: Option<Instant>,
        out: &mut Outbox<'_>,
    ) -> State {
        if self.want == Want::Down {
            return self.finish_stop(None);
        }
        let config = &self.active;
        let clean = matches!(status, ExitStatus::Exited(code) if config.exit_codes.contains(&code));
        if clean && config.restart != RestartPolicy::Always {
            if self.ready_at.is_none() {
                self.ready_at = Some(now);
            }
            return State::Done;
        }
        if let Some(since) = up_since {
            self.forgive_a_long_run(now, since);
        }
        self.crash(now, Reason::Exited(status), Some(status), out)
    }

    /// A crash (an exit it is restarted for, a failed exec, a start
    /// timeout, a refused pid file): with `restart "never"` it is `failed`
    /// at once (SPEC §4 "Exec failure"), else it counts for the backoff.
    fn crash(
        &mut self,
        now: Instant,
        cause: Reason,
        status: Option<ExitStatus>,
        out: &mut Outbox<'_>,
    ) -> State {
        if self.active.restart == RestartPolicy::Never {
            return State::Failed { reason: cause };
        }
        self.count_crash(now, cause, status, out)
    }

    /// Count a crash: wait for the next start, or give up.
    fn count_crash(
        &mut self,
        now: Instant,
        cause: Reason,
        status: Option<ExitStatus>,
        out: &mut Outbox<'_>,
    ) -> State {
        self.crashes = self.crashes.saturating_add(1);
        match BackoffPolicy::of(&self.active).delay(self.crashes, out.rng) {
            Some(delay) => State::Backoff {
                until: now + delay,
                delay,
                cause,
            },
            None => State::Failed {
                reason: match (cause, status) {
                    (Reason::Exited(_), Some(last)) => Reason::GaveUp {
                        starts: self.crashes,
                        last,
                    },
                    (cause, _) => cause,
                },
            },
        }
    }

    /// Why it is where it is, for status and transitions; `None` for
    /// `waiting`, whose reason the supervisor knows.
    pub(crate) fn reason(&self) -> Option<Reason> {
        match &self.state {
            State::Down { note } => note.clone(),
            State::Waiting => None,
            State::Stopping {
                cause: StopCause::StartTimeout(waited),
                ..
            } => Some(Reason::StartTimeout(*waited)),
            State::Stopping {
                cause: StopCause::Unhealthy { reason, .. } | StopCause::HealthStop(reason),
                ..
            } => Some(reason.clone()),
            State::Stopping { .. }
            | State::Up { .. }
            | State::Starting { .. }
            | State::AwaitingPidFile { .. } => {
                self.fate.clone().or_else(|| self.pid_file_problem.clone())
            }
            State::Backoff { cause, .. } => Some(cause.clone()),
            State::Failed { reason } => Some(reason.clone()),
            State::Done => None,
        }
    }
}
