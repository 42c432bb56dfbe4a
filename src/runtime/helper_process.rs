//! A command run as a service but not its program (an exec or shell probe,
//! a stop command): the config the service's process runs with (user,
//! group, directory, environment, umask), the command in its place, no
//! terminal (it must not take the service's controlling tty), stdin on
//! /dev/null, stdout and stderr into the service's output. Forked by svinit
//! itself, not the spawner.

use std::ffi::OsStr;

use crate::config::Command;
use crate::spawn::{self, Child, SpawnPlan};
use crate::supervisor::{ServiceId, SpawnFailure};

impl super::Runtime {
    /// Forks `command` as `service` runs, with `env` added to its
    /// environment; the child and its plan (to read its exec status).
    pub(super) fn fork_as_service(
        &mut self,
        service: ServiceId,
        command: &Command,
        env: &[(&str, &str)],
    ) -> Result<(Child, SpawnPlan), SpawnFailure> {
        let mut config = self.supervisor.running_config(service).clone();
        config.command = command.clone();
        config.tty = None;
        let mut plan = spawn::prepare(&config, &self.spawn_context)?;
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
