//! The runtime's system-mode duties (PID 1 of a booted kernel): the final
//! sweep of every process with `kill(-1, …)` and the hand-over to
//! `reboot(2)`. What to do and when stays the supervisor's decision.

use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;

use crate::supervisor::PowerKind;
use crate::system;
use crate::{info, warn};

use super::Runtime;

impl Runtime {
    /// After the services: every remaining process of the system gets
    /// `signal` (`kill(-1)` spares PID 1 and kernel threads).
    pub(super) fn sweep_everyone(&mut self, signal: i32, log_survivors: bool) {
        let Ok(sig) = Signal::try_from(signal) else {
            return;
        };
        self.retire_spawner();
        let left = super::reaper::children_of_self();
        if log_survivors {
            for (pid, command) in &left {
                warn!("", "pid {pid} ({command}) outlived the SIGTERM");
            }
        }
        info!(
            "",
            "sending SIG{} to all processes",
            sig.as_str().trim_start_matches("SIG")
        );
        match kill(Pid::from_raw(-1), sig) {
            Ok(()) | Err(nix::errno::Errno::ESRCH) => {}
            Err(err) => warn!("", "kill(-1, {sig}) failed: {err}"),
        }
        self.reap_all();
    }

    /// The shutdown is over: sync, remount read-only, `reboot(2)`.
    pub(super) fn power_off(&mut self, kind: PowerKind) -> ! {
        self.finish_output();
        system::final_shutdown(kind)
    }
}
