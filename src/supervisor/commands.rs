//! What svinit is asked to do from outside, decided: `svctl start`,
//! `stop`, `restart`, `kill`, `poweroff|reboot|halt` and `shutdown`, each
//! answered with a `Refusal` when it may not be done, and a signal svinit
//! received (`Event::Signal`), whose meaning depends on the role and on
//! the main command. The effects go through the core's work queue.
//!
//! Decisions where SPEC.md is silent:
//! - `failed` means not wanted any more (`want` becomes `Down`): nothing
//!   restarts it by itself. `start` revives it, and every failed service in
//!   its requires/wants closure, with a fresh crash count; `stop` clears a
//!   `failed` or `done` service to `down`.
//! - `done` counts as ready for dependents, for a longrun too; a longrun
//!   that ends `done` does not take its running dependents down.
//! - `start` of a wanted service (running, waiting, in backoff) changes
//!   nothing; of a `done` longrun runs it again; a `done` oneshot stays
//!   done (`restart` runs it again).
//! - `restart` stops and starts that service with a fresh crash count (in
//!   backoff it starts at once), and with it every running service that
//!   requires it, transitively through running ones (systemd's semantics,
//!   SPEC §5): a flag (`restart_pending`) makes each stop once its running
//!   requirers have stopped, and not count as ready meanwhile, so they come
//!   back in dependency order. `wants`/`after` dependents, and requirers
//!   that do not run (down, waiting, in backoff, failed), are left alone.
//! - Nothing starts once a shutdown has begun: `start` and `restart` are
//!   refused (`Refusal::ShuttingDown`), `stop` is not.
//! - `svctl kill` is answered with the signal to send (`SignalOrder`), which
//!   the runtime sends at once so that kill(2)'s outcome is the reply: to
//!   the service's current process, or to the process group the runtime
//!   found that process in; never to pid 0 or 1, init's group or svinit's.

use std::collections::HashSet;
use std::time::Instant;

use crate::config::ServiceType;

use super::main_command::MainInput;
use super::service::{Input, Service, State};
use super::{
    Action, KillTarget, MAX_SIGNAL, MainCommand, Notice, PowerKind, Refusal, ServiceId,
    SignalMeaning, SignalOrder, StateKind, Supervisor, Want, signal_name,
};

impl Supervisor {
    /// A signal svinit received (SIGCHLD aside). With a main command every
    /// one but SIGPIPE is the command's (TERM, INT, HUP, QUIT, USR1, USR2,
    /// WINCH, TSTP, TTIN, TTOU, CONT): forwarded to its process group, or,
    /// before it started, TERM and INT shut down with 128+N. Otherwise the
    /// role says what it means (`Role::signal_meaning`).
    pub(super) fn on_signal(&mut self, now: Instant, signal: i32) {
        if self.main != MainCommand::Absent && signal != libc::SIGPIPE {
            return self.step_main(now, MainInput::Signal(signal));
        }
        match self.role.signal_meaning(signal) {
            SignalMeaning::Shutdown => {
                if self.shutdown.is_none() {
                    self.notice(Notice::ShutdownBySignal {
                        signal,
                        before_main: false,
                    });
                }
                self.begin_shutdown(0, now);
            }
            SignalMeaning::Power(kind) => {
                let by = format!("SIG{}", signal_name(signal));
                self.power_off(now, kind, by);
            }
            SignalMeaning::Reload => self.actions.push_back(Action::Reload),
            SignalMeaning::ReopenTranscripts => self.actions.push_back(Action::ReopenTranscripts),
            SignalMeaning::Ignored => self.notice(Notice::SignalIgnored { signal }),
        }
    }

    /// Stop everything, then `kind` (the first kind asked for stands);
    /// `by` says who asked, for the log.
    fn power_off(&mut self, now: Instant, kind: PowerKind, by: String) {
        if self.shutdown.is_none() {
            self.notice(Notice::PowerRequested { kind, by });
        }
        self.power.get_or_insert(kind);
        self.begin_shutdown(0, now);
    }

    /// `svctl poweroff|reboot|halt`, asked for `by` (the peer): only an
    /// init of a booted system may.
    pub(crate) fn request_power(
        &mut self,
        now: Instant,
        kind: PowerKind,
        by: &str,
    ) -> Result<(), Refusal> {
        if self.role.may_exit() {
            return Err(Refusal::NotInRole(self.role));
        }
        self.power_off(now, kind, by.to_string());
        self.drain(now);
        Ok(())
    }

    /// `svctl shutdown`: the orderly shutdown of SIGTERM, exit 0; not for
    /// a booted system, which has poweroff, reboot and halt.
    pub(crate) fn request_shutdown(&mut self, now: Instant) -> Result<(), Refusal> {
        if !self.role.may_exit() {
            return Err(Refusal::NotInRole(self.role));
        }
        if self.shutdown.is_none() {
            self.notice(Notice::ShutdownRequested);
        }
        self.begin_shutdown(0, now);
        self.drain(now);
        Ok(())
    }

    /// `svctl start`: want it up, with what it requires and wants. A failed
    /// service (or dependency) gets a fresh start; a finished longrun runs
    /// again; a `done` oneshot stays done. Refused while shutting down;
    /// a removed service (still stopping) is left alone.
    pub(crate) fn start(&mut self, now: Instant, id: ServiceId) -> Result<(), Refusal> {
        self.may_start()?;
        let Some(service) = self.get_mut(id).filter(|s| !s.is_removed()) else {
            return Ok(());
        };
        let finished_longrun = matches!(service.state(), State::Done)
            && service.latest_config().service_type != ServiceType::Oneshot;
        if service.want() == Want::Down || finished_longrun {
            service.forgive_crashes();
        }
        if finished_longrun {
            self.step(now, id, Input::Clear, None);
        }
        self.activate(now, vec![id], true);
        self.drain(now);
        Ok(())
    }

    /// Nothing starts once a shutdown has begun.
    pub(super) fn may_start(&self) -> Result<(), Refusal> {
        match self.shutdown {
            Some(_) => Err(Refusal::ShuttingDown),
            None => Ok(()),
        }
    }

    /// `svctl stop`: want it down; what requires it goes down first. A
    /// `failed` or `done` service becomes `down`. A run-time instance is
    /// removed (`remove_runtime_instance`).
    pub(crate) fn stop(&mut self, now: Instant, id: ServiceId) {
        if self.remove_runtime_instance(now, id) {
            return;
        }
        let Some(service) = self.get_mut(id) else {
            return;
        };
        service.set_fate(None);
        self.set_want(id, Want::Down);
        self.step(now, id, Input::Clear, None);
        self.drain(now);
    }

    /// `svctl restart`: stop the process if there is one and start again,
    /// with a fresh crash count; and so for every running service that
    /// requires it, directly or through other running ones (systemd's
    /// semantics, SPEC §5). The stops go in reverse dependency order, the
    /// starts in dependency order: each waits for what it requires to be
    /// ready again. `wants` and `after` dependents are left alone, and so
    /// is a requirer that does not run (down, waiting, in backoff, failed).
    pub(crate) fn restart(&mut self, now: Instant, id: ServiceId) -> Result<(), Refusal> {
        self.may_start()?;
        if self.get(id).is_none_or(Service::is_removed) {
            return Ok(());
        }
        self.activate(now, vec![id], true);
        for restarted in self.running_requirers(id) {
            if let Some(service) = self.get_mut(restarted) {
                service.forgive_crashes();
            }
            self.step(now, restarted, Input::Restart, None);
            self.queue_with_neighbours(restarted);
        }
        self.drain(now);
        Ok(())
    }

    /// `svctl kill`: the signal to send at once (the runtime's outcome is
    /// the reply), validated here: `signal` 0–64 (0 only asks whether the
    /// process exists), to the service's current process, or to the
    /// process group `target` says that process is in, never to pid 0 or
    /// 1, init's group or svinit's own.
    pub(crate) fn kill(
        &self,
        id: ServiceId,
        signal: i32,
        target: KillTarget,
    ) -> Result<SignalOrder, Refusal> {
        if !(0..=MAX_SIGNAL).contains(&signal) {
            return Err(Refusal::NoSuchSignal(signal));
        }
        let state = self.get(id).map(Service::state);
        let Some(pid) = state.and_then(State::pid).filter(|&pid| pid > 1) else {
            let kind = state.map_or(StateKind::Down, State::kind);
            return Err(Refusal::NotRunning(kind));
        };
        match target {
            KillTarget::Process => Ok(SignalOrder {
                pid,
                signal,
                group: false,
            }),
            KillTarget::Group { pid: of, .. } if of != pid => Err(Refusal::NotItsProcess(of)),
            KillTarget::Group {
                pgid, svinit_pgid, ..
            } if pgid <= 1 || pgid == svinit_pgid => Err(Refusal::ForbiddenGroup { pid, pgid }),
            KillTarget::Group { pgid, .. } => Ok(SignalOrder {
                pid: pgid,
                signal,
                group: true,
            }),
        }
    }

    /// `id` and every running service (wanted up, `starting` or `up`) that
    /// requires it, directly or through other running ones.
    fn running_requirers(&self, id: ServiceId) -> Vec<ServiceId> {
        let mut found = vec![id];
        let mut seen = HashSet::from([id]);
        let mut next = 0;
        while let Some(&current) = found.get(next) {
            next += 1;
            let Some(service) = self.get(current) else {
                continue;
            };
            for edge in service.links().before.iter().filter(|edge| edge.required) {
                let running = self.get(edge.id).is_some_and(|dependent| {
                    dependent.want() == Want::Up
                        && matches!(dependent.state(), State::Starting { .. } | State::Up { .. })
                });
                if running && seen.insert(edge.id) {
                    found.push(edge.id);
                }
            }
        }
        found
    }
}
