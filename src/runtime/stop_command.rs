//! Stop commands (`stop-exec` / `stop-shell`) on the I/O side: forked by
//! svinit itself when the supervisor asks (`Action::RunStopCommand`), as
//! the service runs (`helper_process`), with `MAINPID` set; reaped here, its
//! exec outcome read from the status pipe, and reported to the supervisor,
//! which decides what follows (the stop signal, a SIGKILL).
//!
//! Forked by svinit, never through the spawner: a stop command is rare,
//! and the shutdown, when most of them run, has let the spawner go.

use std::collections::HashMap;
use std::time::Instant;

use super::helper_process::HelperChild;
use crate::supervisor::{Event, ExitStatus, ServiceId};

/// The stop commands forked and not yet reaped, by pid, with their
/// service.
#[derive(Default)]
pub(super) struct StopCommands {
    running: HashMap<i32, (ServiceId, HelperChild)>,
}

impl super::Runtime {
    /// `Action::RunStopCommand`: fork the stop command of `service`, whose
    /// process is `main_pid`.
    pub(super) fn run_stop_command(&mut self, service: ServiceId, main_pid: i32) {
        let now = Instant::now();
        let Some(command) = self.supervisor.running_config(service).stop_command.clone() else {
            return;
        };
        let main_pid = main_pid.to_string();
        let forked = self.fork_as_service(service, &command, &[("MAINPID", &main_pid)]);
        let event = match forked {
            Ok(child) => {
                let pid = child.pid;
                crate::debug!(
                    &self.supervisor.running_config(service).name,
                    "stop command started (pid {pid})"
                );
                self.stop_commands.running.insert(pid, (service, child));
                Event::StopCommandSpawned { service, pid }
            }
            Err(failure) => Event::StopCommandFailed {
                service,
                pid: None,
                failure,
            },
        };
        self.supervisor.handle_event(now, event);
    }

    /// `true` when `pid` was a stop command (and has been reported).
    pub(super) fn stop_command_reaped(&mut self, pid: i32, status: ExitStatus) -> bool {
        let Some((service, child)) = self.stop_commands.running.remove(&pid) else {
            return false;
        };
        let event = match child.outcome(status) {
            Err(failure) => Event::StopCommandFailed {
                service,
                pid: Some(pid),
                failure,
            },
            Ok(status) => Event::StopCommandExited {
                service,
                pid,
                status,
            },
        };
        self.supervisor.handle_event(Instant::now(), event);
        true
    }
}
