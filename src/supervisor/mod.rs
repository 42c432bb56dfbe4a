//! The pure, sans-IO supervisor: every rule of SPEC.md §4 as a state machine
//! driven by events and a clock it is handed, emitting actions. Every
//! decision is made here; the runtime executes the actions and writes the
//! notices (`Action::Notice`) to the log.
//!
//! This module, the core, owns the table of services (indexed by
//! `ServiceId`, never reused), the pid index, the deadlines, the action
//! queue and the work queue through which dependency effects propagate to
//! a fixed point: a change to a service queues its neighbours, and each
//! queued service is re-evaluated (`Input::Settle`) until nothing changes.
//! Around it: `service.rs` (one service's transitions), `main_command.rs`
//! (the main command's), `commands.rs` (svctl requests and the signals
//! svinit receives, with their refusals), `reload.rs` (a new config,
//! forgetting removed services, the emergency shell), `role.rs` (what
//! depends on system, container or user alone), `notice.rs` (the log
//! lines), `invariants.rs` (the bookkeeping checked, for tests).
//!
//! What the runtime must do: answer every `Action::Spawn` with `Spawned`
//! (then `Execed`) or `SpawnFailed`, and not also report `Exited` for a
//! child it reported through `SpawnFailed`; after executing a
//! `SweepOrphans`, report `NoChildren` as soon as `waitpid` says ECHILD
//! (otherwise svinit exits 5 + 1 s later); call `handle_timeout` when
//! `poll_timeout` is due.
//!
//! Decisions where SPEC.md §4 is silent:
//! - `restart "always"`: every restart goes through the backoff, so a
//!   service that keeps exiting (even cleanly) gives up without `forever`.
//! - `restart "never"`: every crash is `failed` at once with its reason,
//!   not only an exit: a failed exec, a start timeout, a refused pid file.
//! - `start-timeout` runs from the spawn until ready (longrun: exec;
//!   ready-fd/notify: `Ready`; oneshot: its exit). When it passes the
//!   process group gets SIGKILL, and once reaped that is a crash with
//!   `Reason::StartTimeout`. Giving up keeps `StartTimeout` or
//!   `SpawnFailed` as the reason; `GaveUp` is for crashes that were exits.
//! - The long-run reset counts the time `up` (since ready), strictly longer
//!   than `backoff-limit`. Exponential jitter applies after the cap and is
//!   capped again.
//! - `StateChanged` is emitted when the state's kind changes; a waiting
//!   service's list of awaited names and a starting one's pid are not.
//! - A dependent holds up a stop while it has a process and either wants
//!   down too or requires the stopping service.
//! - A second `Shutdown` is ignored. `failed` and `done` services keep
//!   their state through a shutdown.
//! - A `Spawned` nobody waits for (its start was abandoned) gets SIGKILL to
//!   its group; a stop requested before `Spawned` signals once it comes.
//!   No signal is ever sent to pid 1 or below.
//! - SIGCONT follows every stop signal to the same target (SPEC §3), the
//!   shutdown sweep's SIGTERM and a SIGTERM to the main command, never
//!   SIGKILL or SIGCONT itself.
//! - A process still there `UNKILLABLE_AFTER` (5 s) after its SIGKILL is
//!   given up on (SPEC §7): its service ends its stop as if it had exited
//!   (`down`, reason `Unkillable`; a start-timeout kill is a crash), the
//!   main command counts as finished (`Action::MainUnkillable`), and the
//!   shutdown goes on. Its pid leaves the index: a late exit is an
//!   orphan's.
//! - `type "forking"`: the launcher must exit 0 (then `Action::ReadPidFile`
//!   at once, again after 50 ms, 100 ms … at most 1 s apart, all within
//!   start-timeout, counted from the spawn). The pid it names becomes the
//!   service's process (indexed, so its reaped exit is the service's); with
//!   ready-notify it must still send READY=1. A missing, garbled or not yet
//!   reparented pid is read again; a refused one (`PidFileProblem::
//!   is_refusal`: not a regular file, dead, svinit, the main command's,
//!   another service's, a process of another user) is a failed start at
//!   once. Whose pid it is, is judged here (`judge_pid_claim`: the pid, its
//!   process group and its session against every service's live pid); the
//!   runtime only reports the facts of the file and of /proc. A
//!   stop while the pid file is awaited has no process to signal: `down`
//!   (the orphan sweep catches the daemon at shutdown).
//! - `critical`: ends for good = `failed`, or `done` unless a oneshot (a
//!   oneshot's `done` is its success). Exit status: its exit code, 128+N,
//!   126/127 for an exec failure, else 1; a failure never exits 0. A stop by
//!   an operator, a removal by reload or an end during shutdown is not one.
//!   In the system role svinit never exits: the end is reported and the
//!   emergency shell starts beside what runs.
//! - Readiness from a `ready-fd` pipe (`Event::Ready` with a pid) counts
//!   only for the service's current process. The notify socket is the
//!   service's and its messages carry no pid worth trusting (the sender may
//!   have exited), so `READY=1` (no pid), `STATUS=` and `WATCHDOG=` are the
//!   current process's, while the service's latest config has
//!   `ready-notify`.
//! - An event from outside that does not fit the state it finds (stale, or
//!   out of order) changes nothing and is logged at debug level
//!   (`Notice::Ignored`, `Notice::MainIgnored`, `Notice::StaleReadiness`).
//! - `watchdog` (SPEC §3): armed when the service becomes `up` (the
//!   deadline is its `Up` state's), moved by each `WATCHDOG=1`. A missed
//!   deadline or `WATCHDOG=trigger` stops it like any stop, with
//!   `StopCause::Unhealthy`: its exit, or its being given up on as
//!   unkillable, is a crash judged by neither `exit-codes` nor `restart`
//!   (the reset after a long run first), reason `WatchdogTimeout` or
//!   `WatchdogTriggered`. Not armed before `up`; disarmed while wanted
//!   down or restarting (its stop is coming); messages without a
//!   `watchdog` key are ignored.
//! - `STATUS=` text is kept after the process exits (it may say why) and
//!   reset at the next start.
//! - `stop-exec`/`stop-shell` (SPEC §3): every stop of a process that has a
//!   pid (a stop signal would be sent then) runs the stop command instead
//!   (`Action::RunStopCommand`, the config the process runs with). Its
//!   failure to start or a non-zero exit sends the stop signal at once
//!   (`Notice::StopCommandFailed`); an exit 0 leaves the rest to
//!   `stop-timeout`. It lives only as long as its stop is not past the
//!   SIGKILL: reaping the service, stop-timeout and shutdown-timeout kill
//!   its process group. A pid file naming it is refused like another
//!   service's pid.
//! - `pid-file` on a longrun (SPEC §3): `Action::WritePidFile` at its exec
//!   (also with `ready-fd`/`ready-notify`, before ready), and
//!   `Action::RemovePidFile` when that process is reaped (not when it is
//!   given up on as unkillable: it may still run). A failed write is the
//!   service's reason while that process runs (`Reason::PidFileNotWritten`),
//!   forgotten at the next start.
//! - Probes (`ready-probe`, `health`; `probe.rs`): the phase is in the
//!   state (`Starting`'s, `Up`'s), so its deadline is the state's; the
//!   first ready probe at exec, the first health probe `interval` after
//!   `up`, each next `interval` after the previous ended. A probe the new
//!   state does not carry on is stopped by `commit` (`Action::StopProbe`),
//!   and a result for any other `ProbeId` than the running one is stale.
//!   Health failures reuse the watchdog's `StopCause::Unhealthy` (restart)
//!   or `StopCause::HealthStop` (stop: `failed`).

// Purity checked by `make lint`: no clock reads, files, processes, sockets or
// printing in the core (the lists are in clippy.toml); its tests may read the
// real clock, for a fake clock's origin and for timing.
#![cfg_attr(
    not(test),
    deny(
        clippy::disallowed_methods,
        clippy::disallowed_types,
        clippy::disallowed_macros
    )
)]

mod backoff;
mod commands;
mod deadlines;
mod deps;
mod escalation;
mod instances;
#[cfg(test)]
mod invariants;
mod main_command;
mod notice;
mod probe;
mod reload;
mod role;
mod service;
mod shutdown;
mod types;

#[cfg(test)]
mod entry_tests;
#[cfg(test)]
mod harness;
#[cfg(test)]
mod instance_tests;
#[cfg(test)]
mod probe_tests;
#[cfg(test)]
mod role_tests;
#[cfg(test)]
mod stop_command_tests;
#[cfg(test)]
mod system_tests;
#[cfg(test)]
mod tests;
#[cfg(test)]
mod watchdog_tests;
#[cfg(test)]
mod written_pid_file_tests;

use std::collections::{HashMap, HashSet, VecDeque};
use std::time::Instant;

use crate::config::{Command, Config, ServiceConfig, ServiceType};
use crate::graph::Graph;

pub(crate) use backoff::SplitMix64;
use deadlines::{Deadlines, TimerOwner};
use deps::Edge;
use main_command::MainInput;
pub(crate) use main_command::{MainCommand, critical_exit_code, spawn_failure_code};
pub(crate) use notice::Notice;
pub(crate) use probe::HealthResult;
pub(crate) use probe::{HealthState, HealthStatus, ProbeId};
pub use role::Role;
pub(crate) use role::SignalMeaning;
use service::{Input, Outbox, Service, State, Surroundings};
use shutdown::{Shutdown, ShutdownStep};
pub(crate) use types::*;

pub(crate) struct Supervisor {
    /// The latest config (after a reload: the new one).
    config: Config,
    /// The dependency graph of `config`.
    graph: Graph,
    /// Every service ever known, by id; `None` once forgotten.
    table: Vec<Option<Box<Service>>>,
    /// Services in display order: the config's, then removed ones still
    /// stopping. Forgotten ones linger until the next reload (`ids` skips
    /// them): forgetting many at once stays linear.
    order: Vec<ServiceId>,
    by_name: HashMap<String, ServiceId>,
    /// Live service processes only: a pid is matched against nothing else.
    by_pid: HashMap<i32, ServiceId>,
    deadlines: Deadlines,
    actions: VecDeque<Action>,
    work: WorkQueue,
    /// Services with a process (starting, up or stopping).
    live: usize,
    rng: SplitMix64,
    orphans_reaped: u64,
    shutdown: Option<Shutdown>,
    /// `svinit -- COMMAND`: started once the boot settles.
    main: MainCommand,
    /// How many services are in their first try (`Service::in_first_try`):
    /// the main command waits until none is (SPEC §2).
    first_try: usize,
    /// `Action::BootSettled` is still to be emitted (`svinit --detach`).
    report_boot: bool,
    /// System, container or user: what signals mean, whether svinit may
    /// exit, what a `critical` service's end does.
    role: Role,
    /// The system role's emergency shell (`/bin/sh` on the console), a
    /// unit added when needed; `None` when there is no shell.
    emergency_shell: Option<ServiceConfig>,
    /// What the system shutdown ends with; poweroff unless asked otherwise.
    power: Option<PowerKind>,
    created_at: Instant,
    /// Answer to `service_config` for an id that names nothing.
    placeholder: ServiceConfig,
    /// Instances made by `svctl start NAME@INSTANCE`, in the order made:
    /// kept across reloads while their template is there, removed when
    /// `svctl stop` stops them.
    runtime_instances: Vec<String>,
    /// Evaluations and dependency edges looked at: tests bound the work.
    #[cfg(test)]
    work_done: std::cell::Cell<u64>,
}

/// Services whose decisions must be re-made, each at most once in the queue.
#[derive(Debug, Default)]
struct WorkQueue {
    queue: VecDeque<ServiceId>,
    queued: Vec<bool>,
}

impl WorkQueue {
    fn push(&mut self, id: ServiceId) {
        if self.queued.len() <= id.0 {
            self.queued.resize(id.0 + 1, false);
        }
        if let Some(flag) = self.queued.get_mut(id.0)
            && !*flag
        {
            *flag = true;
            self.queue.push_back(id);
        }
    }

    fn pop(&mut self) -> Option<ServiceId> {
        let id = self.queue.pop_front()?;
        if let Some(flag) = self.queued.get_mut(id.0) {
            *flag = false;
        }
        Some(id)
    }
}

impl Supervisor {
    pub(crate) fn new(config: Config, role: Role, now: Instant, seed: u64) -> Supervisor {
        let mut supervisor = Supervisor {
            config: Config::default(),
            graph: Graph::default(),
            table: Vec::with_capacity(config.services.len()),
            order: Vec::with_capacity(config.services.len()),
            by_name: HashMap::with_capacity(config.services.len()),
            by_pid: HashMap::new(),
            deadlines: Deadlines::default(),
            actions: VecDeque::new(),
            work: WorkQueue::default(),
            live: 0,
            rng: SplitMix64::new(seed),
            orphans_reaped: 0,
            shutdown: None,
            main: MainCommand::Absent,
            first_try: 0,
            report_boot: false,
            role,
            emergency_shell: None,
            power: None,
            created_at: now,
            placeholder: ServiceConfig::new("", Command::Exec(Vec::new())),
            runtime_instances: Vec::new(),
            #[cfg(test)]
            work_done: std::cell::Cell::new(0),
        };
        for service in &config.services {
            let id = supervisor.add_service(service.clone(), now);
            supervisor.order.push(id);
        }
        supervisor.config = config;
        supervisor.relink();
        supervisor
    }

    /// There is a main command: it starts (`Action::StartMain`) once every
    /// service the boot wants has had its first try, and its exit shuts svinit
    /// down with its status. Call before `boot`.
    pub(crate) fn set_main_command(&mut self) {
        self.step_main(self.created_at, MainInput::Given);
    }

    /// Emit `Action::BootSettled` once, at the moment a main command would
    /// start (every service the boot wants has had its first try), main
    /// command or not. Not emitted when a shutdown begins first. Call before `boot`.
    pub(crate) fn report_boot_settled(&mut self) {
        self.report_boot = true;
    }

    #[cfg(test)]
    /// The main command's pid while it runs.
    pub(crate) fn main_pid(&self) -> Option<i32> {
        self.main.pid()
    }

    pub(crate) fn role(&self) -> Role {
        self.role
    }

    /// The unit to start when the system needs a shell (an invalid config
    /// at boot, a `critical` service's end; system role only). Call before
    /// `boot`.
    pub(crate) fn set_emergency_shell(&mut self, unit: ServiceConfig) {
        self.emergency_shell = Some(unit);
    }

    fn notice(&mut self, notice: Notice) {
        self.actions.push_back(Action::Notice(notice));
    }

    /// The config at boot could not be loaded (its diagnostics were
    /// shown), so the supervisor has none: in the system role the
    /// emergency shell starts, and the control socket waits for a reload;
    /// in the others svinit exits 1 (`svinit` does so before it has a
    /// supervisor).
    pub(crate) fn boot_without_config(&mut self, now: Instant) {
        if self.role.has_emergency_shell() {
            self.start_emergency_shell(now, true);
        } else {
            self.begin_shutdown(1, now);
        }
        self.drain(now);
    }

    /// Want up every autostart service and what it requires or wants.
    pub(crate) fn boot(&mut self, now: Instant) {
        if self.is_shutting_down() {
            return;
        }
        let roots: Vec<ServiceId> = self
            .order
            .iter()
            .copied()
            .filter(|&id| {
                self.get(id)
                    .is_some_and(|s| !s.is_removed() && s.latest_config().autostart)
            })
            .collect();
        self.activate(now, roots, false);
        self.drain(now);
    }

    pub(crate) fn handle_event(&mut self, now: Instant, event: Event) {
        match event {
            Event::Spawned { service, pid } => {
                let claimed_by_other = self.by_pid.get(&pid).is_some_and(|&id| id != service);
                if pid > 1 && !claimed_by_other {
                    self.step(now, service, Input::Spawned(pid), None);
                }
            }
            Event::SpawnFailed { service, failure } => {
                self.step(now, service, Input::SpawnFailed(&failure), None);
            }
            Event::Execed { pid } => {
                if let Some(&id) = self.by_pid.get(&pid) {
                    self.step(now, id, Input::Execed, None);
                }
            }
            Event::Ready { service, pid } => self.ready(now, service, pid),
            Event::ProbeEnded {
                service,
                probe,
                ok,
                detail,
            } => self.step(
                now,
                service,
                Input::ProbeEnded {
                    probe,
                    ok,
                    detail: &detail,
                },
                None,
            ),
            Event::ReadyFdFailed {
                service,
                pid,
                problem,
            } => self.ready_fd_failed(service, pid, problem),
            Event::Watchdog { service, message } => {
                if self.listens_to_notify(service) {
                    self.step(now, service, Input::Watchdog(message), None)
                }
            }
            Event::NotifyStatus { service, text } => self.status_text(service, text),
            Event::PidFile { service, result } => {
                let result = result.and_then(|claim| self.judge_pid_claim(service, &claim));
                self.step(now, service, Input::PidFile(&result), None)
            }
            Event::StopCommandSpawned { service, pid } => {
                self.step(now, service, Input::StopCommandSpawned(pid), None)
            }
            Event::StopCommandFailed {
                service,
                pid,
                failure,
            } => {
                let outcome = Err(&failure);
                self.step(now, service, Input::StopCommandEnded { pid, outcome }, None)
            }
            Event::StopCommandExited {
                service,
                pid,
                status,
            } => {
                let (pid, outcome) = (Some(pid), Ok(status));
                self.step(now, service, Input::StopCommandEnded { pid, outcome }, None)
            }
            Event::PidFileNotWritten {
                service,
                pid,
                error,
            } => {
                let problem = self
                    .get_mut(service)
                    .and_then(|s| s.pid_file_not_written(pid, error).then(|| s.reason()))
                    .flatten();
                if let (Some(reason), Some(name)) = (problem, self.name_of(service)) {
                    self.notice(Notice::PidFileNotWritten {
                        service: name,
                        reason,
                    });
                }
            }
            Event::MainSpawned { pid } => {
                self.step_main(now, MainInput::Spawned(pid));
                if self.shutdown.is_some() {
                    // A shutdown began between `StartMain` and the fork.
                    self.step_main(now, MainInput::Stop(self.main_stop_timeout()));
                }
            }
            Event::MainSpawnFailed { failure } => {
                self.step_main(now, MainInput::SpawnFailed(&failure))
            }
            Event::Exited { pid, status } if self.main.pid() == Some(pid) => {
                self.step_main(now, MainInput::Exited(status))
            }
            Event::Exited { pid, status } => match self.by_pid.get(&pid).copied() {
                Some(id) => {
                    if let Some(service) = self.get_mut(id) {
                        service.record_exit(now, pid, status);
                    }
                    self.step(now, id, Input::Exited(status), Some(status));
                }
                None => self.orphans_reaped = self.orphans_reaped.saturating_add(1),
            },
            Event::NoChildren => {
                if let Some(ShutdownStep::Act(action)) = self.with_shutdown(|s| s.no_children()) {
                    self.push_shutdown_action(action);
                }
            }
            Event::Signal(signal) => self.on_signal(now, signal),
        }
        self.drain(now);
    }

    /// Readiness from `pid` (a `ready-fd` pipe) counts only for the
    /// service's current process; readiness from its notify socket (`pid`
    /// unknown) only while its config has `ready-notify`.
    fn ready(&mut self, now: Instant, id: ServiceId, pid: Option<i32>) {
        let current = self.get(id).and_then(|s| s.state().pid());
        match pid {
            Some(pid) if current != Some(pid) => {
                if let Some(service) = self.name_of(id) {
                    self.notice(Notice::StaleReadiness { service, pid });
                }
            }
            None if !self.listens_to_notify(id) => {}
            _ => self.step(now, id, Input::Ready, None),
        }
    }

    /// Messages on a service's notify socket count while its config (the
    /// latest: a reload may have dropped it) has `ready-notify`.
    fn listens_to_notify(&self, id: ServiceId) -> bool {
        self.service_config(id).ready_notify
    }

    /// `STATUS=…` is logged, and kept while the service has a process (or
    /// awaits its pid file).
    fn status_text(&mut self, id: ServiceId, text: String) {
        if !self.listens_to_notify(id) {
            return;
        }
        let service = self.name_of(id).unwrap_or_default();
        self.notice(Notice::StatusText {
            service,
            text: text.clone(),
        });
        if let Some(service) = self.get_mut(id) {
            service.keep_status_text(text);
        }
    }

    /// A `ready-fd` pipe that ended without a newline is worth a warning
    /// while its process is the service's, and, when closed, still
    /// starting.
    fn ready_fd_failed(&mut self, id: ServiceId, pid: i32, problem: ReadyFdProblem) {
        let Some(service) = self.get(id).filter(|s| s.state().pid() == Some(pid)) else {
            return;
        };
        let starting = service.state().kind() == StateKind::Starting;
        if problem == ReadyFdProblem::ClosedWithoutNewline && !starting {
            return;
        }
        let service = service.name().to_string();
        self.notice(Notice::ReadyFdFailed { service, problem });
    }

    /// SPEC.md §7 "Pids": may `service` take the pid its pid file names?
    /// Not when it is the main command's (or in its process group), or
    /// another service's process (or in its process group or session: its
    /// main process leads both), or a stop command's or a probe's (any
    /// service's); and a file owned by neither root nor
    /// svinit's user may name only a process of the service's user.
    fn judge_pid_claim(&self, service: ServiceId, claim: &PidClaim) -> Result<i32, PidFileProblem> {
        let pid = claim.pid;
        if let Some(main) = self.main.pid()
            && (pid == main || claim.pgrp == main)
        {
            return Err(PidFileProblem::MainCommand(pid));
        }
        let owner = [pid, claim.pgrp, claim.session].into_iter().find_map(|p| {
            self.by_pid
                .get(&p)
                .copied()
                .filter(|&id| id != service)
                .or_else(|| self.stop_command_of(p))
        });
        if let Some(owner) = owner {
            return Err(PidFileProblem::OtherService {
                pid,
                service: self.name_of(owner).unwrap_or_default(),
            });
        }
        if let Some(prober) = claim.probe_of {
            return Err(PidFileProblem::Probe {
                pid,
                service: self.name_of(prober).unwrap_or_default(),
            });
        }
        if !claim.owner_trusted && claim.process_uid != claim.service_uid {
            return Err(PidFileProblem::WrongUser {
                pid,
                file_owner: claim.file_owner,
                process_uid: claim.process_uid,
                service_uid: claim.service_uid,
            });
        }
        Ok(pid)
    }

    /// The service whose stop command (any service's, its own too: that is
    /// no daemon of it) is `pid`: running, or SIGKILLed and not yet reaped.
    fn stop_command_of(&self, pid: i32) -> Option<ServiceId> {
        self.table
            .iter()
            .flatten()
            .find(|s| s.has_unreaped_stop_command(pid))
            .map(|s| s.id())
    }

    /// Fire every deadline at or before `now`. Deadlines set while doing so
    /// (a zero start-timeout, a zero backoff) wait for the next call, after
    /// the runtime has executed the actions: no call can loop forever.
    pub(crate) fn handle_timeout(&mut self, now: Instant) {
        for (at, owner) in self.deadlines.due(now) {
            // Fired entries are moved or removed by the state change they
            // cause; one moved by an earlier entry of this batch is not due.
            if !self.deadlines.contains(at, owner) {
                continue;
            }
            match owner {
                TimerOwner::Service(id) => match self.get(id).map(Service::state) {
                    // Restarting needs the surroundings: a settle does it.
                    Some(State::Backoff { .. }) => self.evaluate(now, id),
                    Some(_) => self.step(now, id, Input::Deadline, None),
                    None => {}
                },
                TimerOwner::Main => self.step_main(now, MainInput::Deadline),
                TimerOwner::Shutdown => match self.with_shutdown(|s| s.deadline_passed(now)) {
                    Some(ShutdownStep::KillServices) => {
                        self.step_main(now, MainInput::KillNow);
                        let timeout = self.config.shutdown_timeout.unwrap_or_default();
                        for id in self.order.clone() {
                            self.step(now, id, Input::KillNow(timeout), None);
                        }
                    }
                    Some(ShutdownStep::Act(action)) => self.push_shutdown_action(action),
                    Some(ShutdownStep::Nothing) | None => {}
                },
            }
            self.drain(now);
        }
    }

    /// In the system role the end of a shutdown is `reboot(2)`, not an
    /// exit (poweroff unless a reboot or halt was asked for), and the sweep
    /// after the services reaches every process, not only svinit's
    /// children. A SIGTERM sweep is followed by a SIGCONT one.
    fn push_shutdown_action(&mut self, action: Action) {
        let system = !self.role.may_exit();
        let cont = match action {
            Action::SweepOrphans { signal, .. } => service::continue_after(signal),
            _ => None,
        };
        let sweeps = std::iter::once(action).chain(cont.map(|signal| Action::SweepOrphans {
            signal,
            log_survivors: false,
        }));
        for action in sweeps {
            let action = match action {
                Action::Exit { .. } if system => Action::Power {
                    kind: *self.power.get_or_insert(PowerKind::Poweroff),
                },
                Action::SweepOrphans {
                    signal,
                    log_survivors,
                } if system => Action::SweepEveryone {
                    signal,
                    log_survivors,
                },
                other => other,
            };
            self.actions.push_back(action);
        }
    }

    pub(crate) fn poll_action(&mut self) -> Option<Action> {
        self.actions.pop_front()
    }

    /// The earliest deadline held; `None`: sleep until an event.
    pub(crate) fn poll_timeout(&self) -> Option<Instant> {
        self.deadlines.earliest()
    }

    pub(crate) fn config(&self) -> &Config {
        &self.config
    }

    /// The dependency graph of `config()`, indexed as its services.
    pub(crate) fn graph(&self) -> &Graph {
        &self.graph
    }

    /// The config a spawn of `id` must use now (after a reload: the new one).
    pub(crate) fn service_config(&self, id: ServiceId) -> &ServiceConfig {
        self.get(id)
            .map_or(&self.placeholder, |s| s.latest_config())
    }

    pub(crate) fn id_of(&self, name: &str) -> Option<ServiceId> {
        self.by_name.get(name).copied()
    }

    /// The config the current (or last) process of `id` was spawned with:
    /// what its probes and its stop command run as.
    pub(crate) fn running_config(&self, id: ServiceId) -> &ServiceConfig {
        self.get(id)
            .map_or(&self.placeholder, |s| s.active_config())
    }

    /// The service whose live process is `pid`; `None` for an adopted orphan.
    pub(crate) fn service_of_pid(&self, pid: i32) -> Option<ServiceId> {
        self.by_pid.get(&pid).copied()
    }

    /// Known services in display order (removed ones still stopping last).
    pub(crate) fn ids(&self) -> impl Iterator<Item = ServiceId> + '_ {
        self.order
            .iter()
            .copied()
            .filter(|&id| self.get(id).is_some())
    }

    /// The status of `id`; a `down` placeholder with an empty name for an id
    /// that names nothing (see `try_status`).
    pub(crate) fn status(&self, id: ServiceId) -> ServiceStatus {
        self.try_status(id).unwrap_or_else(|| ServiceStatus {
            name: String::new(),
            state: StateKind::Down,
            want: Want::Down,
            pid: None,
            since: self.created_at,
            restarts: 0,
            last_exit: None,
            reason: None,
            next_restart: None,
            history: Vec::new(),
            config_changed: false,
            removed: false,
            spawned_at: None,
            ready_at: None,
            status_text: None,
            health: None,
        })
    }

    pub(crate) fn try_status(&self, id: ServiceId) -> Option<ServiceStatus> {
        let service = self.get(id)?;
        Some(service.status(self.reason_of(service)))
    }

    /// `svctl plot`: the ended runs of `id` it shows, and how many ended
    /// between them not shown (`Service::plotted_runs`).
    pub(crate) fn plotted_runs(&self, id: ServiceId) -> (Vec<ExitRecord>, u64) {
        self.get(id).map(Service::plotted_runs).unwrap_or_default()
    }

    pub(crate) fn orphans_reaped(&self) -> u64 {
        self.orphans_reaped
    }

    pub(crate) fn is_shutting_down(&self) -> bool {
        self.shutdown.is_some()
    }

    fn get(&self, id: ServiceId) -> Option<&Service> {
        self.table.get(id.0).and_then(|slot| slot.as_deref())
    }

    fn get_mut(&mut self, id: ServiceId) -> Option<&mut Service> {
        self.table
            .get_mut(id.0)
            .and_then(|slot| slot.as_deref_mut())
    }

    fn name_of(&self, id: ServiceId) -> Option<String> {
        self.get(id).map(|s| s.name().to_string())
    }

    /// The one place a service's want changes: keeps its dependents'
    /// `required_down` counts and queues its neighbours.
    fn set_want(&mut self, id: ServiceId, want: Want) {
        let Some(service) = self.get_mut(id) else {
            return;
        };
        let first_try = service.in_first_try();
        if !service.set_want(want) {
            return;
        }
        let still = service.in_first_try();
        self.count_first_try(first_try, still);
        let dependents = self.get(id).map_or(0, |s| s.links().before.len());
        for at in 0..dependents {
            let edge = self.get(id).and_then(|s| s.links().before.get(at).copied());
            if let Some(edge) = edge.filter(|edge| edge.required)
                && let Some(dependent) = self.get_mut(edge.id)
            {
                dependent.requirement_wanted(want);
            }
        }
        self.queue_with_neighbours(id);
    }

    /// Why `service` is where it is; for `waiting`, every dependency it
    /// waits for.
    fn reason_of(&self, service: &Service) -> Option<Reason> {
        match service.state() {
            State::Waiting => Some(Reason::WaitingFor(
                service
                    .links()
                    .after
                    .iter()
                    .filter(|edge| self.blocks_start(edge))
                    .filter_map(|edge| self.name_of(edge.id))
                    .collect(),
            )),
            _ => service.reason(),
        }
    }

    /// Want up `roots` and, transitively, what they require and want.
    /// `revive`: a failed one is cleared to `down` with a fresh crash count;
    /// otherwise failed ones are left as they are.
    fn activate(&mut self, now: Instant, roots: Vec<ServiceId>, revive: bool) {
        let mut seen = HashSet::new();
        let mut stack = roots;
        while let Some(id) = stack.pop() {
            if !seen.insert(id) {
                continue;
            }
            let Some(service) = self.get_mut(id) else {
                continue;
            };
            let failed = matches!(service.state(), State::Failed { .. });
            if service.is_removed() || (failed && !revive) {
                continue;
            }
            let links = service.links();
            stack.extend(links.requires.iter().chain(&links.wants));
            service.set_fate(None);
            if failed {
                service.forgive_crashes();
                self.step(now, id, Input::Clear, None);
            }
            self.set_want(id, Want::Up);
            self.work.push(id);
        }
    }

    fn begin_shutdown(&mut self, exit_code: i32, now: Instant) {
        if self.shutdown.is_some() {
            return;
        }
        let timeout = self.config.shutdown_timeout;
        self.shutdown = Some(Shutdown::new(exit_code, now, timeout));
        let deadline = self.shutdown.as_ref().and_then(|s| s.deadline);
        self.deadlines.change(TimerOwner::Shutdown, None, deadline);
        self.actions.push_back(Action::NoMoreStarts);
        // The main command goes first: it started after every unit.
        self.step_main(now, MainInput::Stop(self.main_stop_timeout()));
        for id in self.order.clone() {
            self.set_want(id, Want::Down);
            self.work.push(id);
        }
    }

    /// `first_try` follows a service leaving or entering its first try.
    fn count_first_try(&mut self, before: bool, after: bool) {
        match (before, after) {
            (false, true) => self.first_try += 1,
            (true, false) => self.first_try = self.first_try.saturating_sub(1),
            _ => {}
        }
    }

    /// Run `f` on the shutdown, if one is under way, keeping its deadline.
    fn with_shutdown<R>(&mut self, f: impl FnOnce(&mut Shutdown) -> R) -> Option<R> {
        let shutdown = self.shutdown.as_mut()?;
        let before = shutdown.deadline;
        let result = f(shutdown);
        let after = shutdown.deadline;
        self.deadlines.change(TimerOwner::Shutdown, before, after);
        Some(result)
    }

    /// Re-evaluate queued services until nothing changes.
    fn drain(&mut self, now: Instant) {
        while let Some(id) = self.work.pop() {
            self.evaluate(now, id);
        }
        if self.report_boot && self.shutdown.is_none() && self.first_try == 0 {
            self.report_boot = false;
            self.actions.push_back(Action::BootSettled);
        }
        if self.shutdown.is_none() && self.first_try == 0 {
            self.step_main(now, MainInput::BootSettled);
        }
        if self.live == 0
            && !self.main.has_process()
            && let Some(Some(action)) = self.with_shutdown(|s| s.services_down(now))
        {
            self.push_shutdown_action(action);
        }
    }

    fn queue_with_neighbours(&mut self, id: ServiceId) {
        self.work.push(id);
        if let Some(service) = self.table.get(id.0).and_then(|slot| slot.as_deref()) {
            for neighbour in service.links().neighbours() {
                self.work.push(neighbour);
            }
        }
    }

    /// Decide what `id` does given its neighbours: give up on a required
    /// dependency that is not coming, then start, wait or stop.
    fn evaluate(&mut self, now: Instant, id: ServiceId) {
        self.count_work();
        let Some(service) = self.get(id) else {
            return;
        };
        if service.want() == Want::Up
            && service.required_down() > 0
            && let Some(fate) = self.required_dependency_gone(service)
        {
            if let Some(service) = self.get_mut(id) {
                service.set_fate(fate);
            }
            self.set_want(id, Want::Down);
        }
        let Some(service) = self.get(id) else {
            return;
        };
        let mut around = Surroundings::default();
        let (start_hint, stop_hint) = service.scan_hints();
        match (service.state(), service.want()) {
            (State::Down { .. } | State::Waiting | State::Backoff { .. }, Want::Up) => {
                let edges = &service.links().after;
                let blocker = first_match(edges, start_hint, |e| self.blocks_start(e));
                around.start_blocked = blocker.is_some();
                if let (Some(at), Some(service)) = (blocker, self.get_mut(id)) {
                    service.set_scan_hints(Some(at), None);
                }
            }
            (State::Starting { .. } | State::Up { .. }, want)
                if want == Want::Down || service.restart_pending() =>
            {
                let edges = &service.links().before;
                let blocker = first_match(edges, stop_hint, |e| self.blocks_stop(e));
                // At shutdown the main command, started after every unit,
                // stops before any of them.
                around.stop_blocked =
                    blocker.is_some() || (self.shutdown.is_some() && self.main.has_process());
                if let (Some(at), Some(service)) = (blocker, self.get_mut(id)) {
                    service.set_scan_hints(None, Some(at));
                }
            }
            _ => {}
        }
        self.step(now, id, Input::Settle(&around), None);
        if self
            .get(id)
            .is_some_and(|s| s.is_removed() && !s.state().has_process())
        {
            self.forget(id);
        }
    }

    /// `Some(fate)` when a required dependency is wanted down (stopped,
    /// failed, or doomed) or gone: `fate` is `DependencyFailed` unless it
    /// was merely stopped.
    fn required_dependency_gone(&self, service: &Service) -> Option<Option<Reason>> {
        service
            .links()
            .requires
            .iter()
            .find_map(|&dep| match self.count_work().get(dep) {
                None => Some(None),
                Some(dep) if dep.want() == Want::Down => {
                    let failed = matches!(dep.state(), State::Failed { .. }) || dep.is_doomed();
                    Some(failed.then(|| Reason::DependencyFailed(dep.name().to_string())))
                }
                Some(_) => None,
            })
    }

    /// Must a service wanted up wait for this dependency?
    fn blocks_start(&self, edge: &Edge) -> bool {
        self.count_work();
        match self.get(edge.id) {
            None => false,
            Some(dep) if edge.required => !dep.is_ready(),
            Some(dep) => dep.is_pending_up(),
        }
    }

    /// Must a service wanted down wait for this dependent to stop first?
    fn blocks_stop(&self, edge: &Edge) -> bool {
        self.count_work();
        self.get(edge.id).is_some_and(|dependent| {
            dependent.state().has_process() && (dependent.want() == Want::Down || edge.required)
        })
    }

    /// Feed `input` to one service and commit the state it returns.
    fn step(&mut self, now: Instant, id: ServiceId, input: Input<'_>, exit: Option<ExitStatus>) {
        let Some(service) = self
            .table
            .get_mut(id.0)
            .and_then(|slot| slot.as_deref_mut())
        else {
            return;
        };
        let mut out = Outbox {
            actions: &mut self.actions,
            rng: &mut self.rng,
        };
        if let Some(next) = service.step(now, input, &mut out) {
            self.commit(now, id, next, exit);
        }
    }

    /// The one place a service's state changes: keeps the pid index, the
    /// deadlines and the live count, and reports a change of kind.
    fn commit(&mut self, now: Instant, id: ServiceId, next: State, exit: Option<ExitStatus>) {
        let Some(service) = self.get_mut(id) else {
            return;
        };
        let first_try = service.in_first_try();
        let old = service.enter(now, next);
        if let Some(probe) = service.probe_left_behind(&old) {
            self.actions
                .push_back(Action::StopProbe { service: id, probe });
        }
        let Some(service) = self.get(id) else {
            return;
        };
        let new = service.state();
        let (old_pid, new_pid) = (old.pid(), new.pid());
        let old_deadline = old.deadline();
        let new_deadline = new.deadline();
        let live_change = (old.has_process(), new.has_process());
        let kind_changed = old.kind() != new.kind();
        let failed = matches!(new, State::Failed { .. });
        let still = service.in_first_try();
        self.count_first_try(first_try, still);

        if old_pid != new_pid {
            if let Some(pid) = old_pid
                && self.by_pid.get(&pid) == Some(&id)
            {
                self.by_pid.remove(&pid);
            }
            if let Some(pid) = new_pid {
                self.by_pid.insert(pid, id);
            }
        }
        self.deadlines
            .change(TimerOwner::Service(id), old_deadline, new_deadline);
        match live_change {
            (false, true) => self.live += 1,
            (true, false) => self.live = self.live.saturating_sub(1),
            _ => {}
        }
        if failed {
            self.set_want(id, Want::Down);
        }
        if !kind_changed {
            return;
        }
        self.check_critical(now, id);
        let Some(service) = self.get(id) else {
            return;
        };
        let transition = Transition {
            service: id,
            name: service.name().to_string(),
            from: old.kind(),
            to: service.state().kind(),
            pid: new_pid.or(old_pid),
            exit,
            reason: self.reason_of(service),
        };
        self.actions.push_back(Action::StateChanged(transition));
        self.queue_with_neighbours(id);
    }

    /// A `critical` service that just ended for good (failed, or `done`
    /// when it is not a oneshot, whose `done` is its success): svinit
    /// stops everything and exits with its status.
    fn check_critical(&mut self, now: Instant, id: ServiceId) {
        let Some(service) = self.get(id) else {
            return;
        };
        let config = service.active_config();
        let ended = match service.state() {
            State::Failed { reason } => Some(Some(reason)),
            State::Done if config.service_type != ServiceType::Oneshot => Some(None),
            _ => None,
        };
        let Some(failed) = ended else {
            return;
        };
        if !config.critical || service.is_removed() || self.shutdown.is_some() {
            return;
        }
        let exit_code = critical_exit_code(failed, service.last_exit());
        let shutdown = !self.role.has_emergency_shell();
        self.notice(Notice::CriticalEnded {
            service: service.name().to_string(),
            exit_code,
            shutdown,
        });
        if shutdown {
            self.step_main(now, MainInput::Abandon);
            self.begin_shutdown(exit_code, now);
        } else {
            self.start_emergency_shell(now, false);
        }
    }

    fn count_work(&self) -> &Self {
        #[cfg(test)]
        self.work_done.set(self.work_done.get() + 1);
        self
    }
}

/// The index of the first edge that `matches`, scanning from `hint` round
/// to where it started.
fn first_match(edges: &[Edge], hint: usize, matches: impl Fn(&Edge) -> bool) -> Option<usize> {
    let start = if hint < edges.len() { hint } else { 0 };
    let (tail, head) = edges.split_at(start);
    head.iter()
        .position(&matches)
        .map(|i| start + i)
        .or_else(|| tail.iter().position(&matches))
}
