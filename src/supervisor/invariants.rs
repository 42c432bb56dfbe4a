//! The bookkeeping checked against the states, for tests: every deadline
//! held once, the pid index, the live and first-try counts, and the rules
//! no state may break (failed means wanted down, nothing wanted up during
//! a shutdown).

use super::service::{Service, State};
use super::{Supervisor, TimerOwner, Want};

impl Supervisor {
    /// The bookkeeping agrees with the states; for tests.
    pub(super) fn check_invariants(&self) -> Result<(), String> {
        let mut live = 0;
        let mut timers = 0;
        for id in self.ids() {
            let Some(service) = self.get(id) else {
                continue;
            };
            let name = service.name();
            let state = service.state();
            if let Some(at) = state.deadline() {
                timers += 1;
                if !self.deadlines.contains(at, TimerOwner::Service(id)) {
                    return Err(format!("{name}: deadline of {state:?} not held"));
                }
            }
            if let Some(pid) = state.pid()
                && self.by_pid.get(&pid) != Some(&id)
            {
                return Err(format!("{name}: pid {pid} not indexed"));
            }
            if matches!(state, State::Failed { .. }) && service.want() != Want::Down {
                return Err(format!("{name}: failed but wanted up"));
            }
            if service.restart_pending()
                && !matches!(state, State::Starting { .. } | State::Up { .. })
            {
                return Err(format!("{name}: restart pending but {state:?}"));
            }
            if self.shutdown.is_some() && service.want() == Want::Up {
                return Err(format!("{name}: wanted up during shutdown"));
            }
            live += usize::from(state.has_process());
        }
        for (&pid, &id) in &self.by_pid {
            if self.get(id).and_then(|s| s.state().pid()) != Some(pid) {
                return Err(format!("pid {pid} indexed for {id:?}, not its process"));
            }
        }
        if let Some(at) = self.main.deadline() {
            timers += 1;
            if !self.deadlines.contains(at, TimerOwner::Main) {
                return Err("main command deadline not held".into());
            }
        }
        if let Some(at) = self.shutdown.as_ref().and_then(|s| s.deadline) {
            timers += 1;
            if !self.deadlines.contains(at, TimerOwner::Shutdown) {
                return Err("shutdown deadline not held".into());
            }
        }
        if timers != self.deadlines.len() {
            return Err(format!(
                "{} deadlines held, {timers} due",
                self.deadlines.len()
            ));
        }
        if live != self.live {
            return Err(format!("live count {} but {live} processes", self.live));
        }
        let first_try = self
            .ids()
            .filter(|&id| self.get(id).is_some_and(Service::in_first_try))
            .count();
        if first_try != self.first_try {
            return Err(format!(
                "{} in their first try counted, {first_try} are",
                self.first_try
            ));
        }
        Ok(())
    }
}
