//! A command run as a service but not its program (an exec or shell probe,
//! a stop command): the config the service's process runs with (user,
//! group, directory, environment, umask), the command in its place, no
//! terminal (it must not take the service's controlling tty), stdin on
//! /dev/null, stdout and stderr into the service's output. Forked by svinit
//! itself, not the spawner, from the plan its process was started with
//! (`HelperPlans`): the environment file and the user database are read
//! once per start, not at each probe.

use std::collections::HashMap;
use std::ffi::OsStr;
use std::os::fd::{AsFd, OwnedFd};

use crate::config::{Command, Probe, ProbeCheck, ServiceConfig};
use crate::spawn::{self, Child, ExecStatus, SpawnPlan};
use crate::supervisor::{ExitStatus, ServiceId, SpawnFailure};

/// Whether `config` runs helpers: exec or shell probes, a stop command.
fn runs_helpers(config: &ServiceConfig) -> bool {
    let runs_command = |probe: Option<&Probe>| {
        probe.is_some_and(|probe| matches!(probe.check, ProbeCheck::Command(_)))
    };
    config.stop_command.is_some()
        || runs_command(config.ready_probe.as_ref())
        || runs_command(config.health.as_ref().map(|health| &health.probe))
}

/// The plan each service's helpers run from, with the config it was
/// prepared from: the one its process runs with
/// (`Supervisor::running_config`). Kept from its start, and prepared anew
/// at the next helper when that config is no longer the one kept (the core
/// can make another config the running one without a start: a reload
/// while the pid is not known yet).
#[derive(Default)]
pub(super) struct HelperPlans {
    plans: HashMap<ServiceId, (ServiceConfig, SpawnPlan)>,
}

impl HelperPlans {
    /// At a start: keep `plan`, prepared from `config`, if `config` runs
    /// helpers; else nothing is kept.
    pub(super) fn remember(
        &mut self,
        service: ServiceId,
        config: &ServiceConfig,
        plan: &SpawnPlan,
    ) {
        if runs_helpers(config) {
            self.plans.insert(service, (config.clone(), plan.clone()));
        } else {
            self.plans.remove(&service);
        }
    }

    pub(super) fn forget(&mut self, service: ServiceId) {
        self.plans.remove(&service);
    }

    /// The plan kept for `service`, if it was prepared from `running`.
    fn for_config(&self, service: ServiceId, running: &ServiceConfig) -> Option<&SpawnPlan> {
        self.plans
            .get(&service)
            .filter(|(prepared_from, _)| prepared_from == running)
            .map(|(_, plan)| plan)
    }
}

/// A helper's process: its pid (which leads its own group and session),
/// and what tells, once it is reaped, a failed exec from the command's own
/// exit.
pub(super) struct HelperChild {
    pub(super) pid: i32,
    /// Its exec-status pipe.
    status: OwnedFd,
    /// Its plan, which words a failed exec.
    plan: Box<SpawnPlan>,
}

impl HelperChild {
    /// How it ended, `exit` being what reaping it said: its exit, or why
    /// it never ran the command.
    pub(super) fn outcome(&self, exit: ExitStatus) -> Result<ExitStatus, SpawnFailure> {
        match spawn::read_exec_status(self.status.as_fd(), &self.plan) {
            ExecStatus::Failed(failure) => Err(failure),
            _ => Ok(exit),
        }
    }
}

impl super::Runtime {
    /// Forks `command` as `service` runs, with `env` added to its
    /// environment.
    pub(super) fn fork_as_service(
        &mut self,
        service: ServiceId,
        command: &Command,
        env: &[(&str, &str)],
    ) -> Result<HelperChild, SpawnFailure> {
        let running = self.supervisor.running_config(service);
        let mut plan = match self.helper_plans.for_config(service, running) {
            Some(kept) => kept.for_helper(command)?,
            None => {
                let mut config = running.clone();
                config.command = command.clone();
                config.tty = None;
                let plan = spawn::prepare(&config, &self.spawn_context)?;
                let running = self.supervisor.running_config(service);
                self.helper_plans.remember(service, running, &plan);
                plan
            }
        };
        for (name, value) in env {
            plan.set_env(name, OsStr::new(value))?;
        }
        let io = spawn::ChildIo {
            stdout: self.output.stdio(service),
            stderr: self.output.stderr(service),
            ..spawn::ChildIo::default()
        };
        let Child { pid, status } = spawn::execute(&plan, &io)?;
        Ok(HelperChild {
            pid,
            status,
            plan: Box::new(plan),
        })
    }
}
