//! A command run as a service but not its program (an exec or shell probe,
//! a stop command): the config the service's process runs with (user,
//! group, directory, environment, umask), the command in its place, no
//! terminal (it must not take the service's controlling tty), stdin on
//! /dev/null, stdout and stderr into the service's output. Forked by svinit
//! itself, not the spawner, from the plan its process was started with:
//! the environment file and the user database are read once per start, not
//! at each probe.

use std::ffi::OsStr;

use crate::config::{Command, Probe, ProbeCheck, ServiceConfig};
use crate::spawn::{self, Child, SpawnPlan};
use crate::supervisor::{ServiceId, SpawnFailure};

/// Whether `config` runs helpers: exec or shell probes, a stop command.
pub(super) fn runs_helpers(config: &ServiceConfig) -> bool {
    let runs_command = |probe: Option<&Probe>| {
        probe.is_some_and(|probe| matches!(probe.check, ProbeCheck::Command(_)))
    };
    config.stop_command.is_some()
        || runs_command(config.ready_probe.as_ref())
        || runs_command(config.health.as_ref().map(|health| &health.probe))
}

impl super::Runtime {
    /// Forks `command` as `service` runs, with `env` added to its
    /// environment; the child and its plan (to read its exec status).
    pub(super) fn fork_as_service(
        &mut self,
        service: ServiceId,
        command: &Command,
        env: &[(&str, &str)],
    ) -> Result<(Child, SpawnPlan), SpawnFailure> {
        let mut plan = match self.helper_plans.get(&service) {
            Some(started_with) => started_with.for_helper(command)?,
            // Not started by this svinit (never the case while it has a
            // process to probe or stop): prepared from its config now.
            None => {
                let mut config = self.supervisor.running_config(service).clone();
                config.command = command.clone();
                config.tty = None;
                spawn::prepare(&config, &self.spawn_context)?
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
        let child = spawn::execute(&plan, &io)?;
        Ok((child, plan))
    }
}
