//! Reaping and the orphan sweep: `waitpid(-1, WNOHANG)` until nothing is
//! left to reap, and finding every remaining child of svinit in /proc.

use nix::errno::Errno;
use nix::sys::wait::{WaitPidFlag, WaitStatus, waitpid};

use crate::supervisor::ExitStatus;

use super::proc_stat;

pub enum Reaped {
    Exited {
        pid: i32,
        status: ExitStatus,
    },
    /// Children exist but none has exited.
    NoneReady,
    /// svinit has no children at all.
    NoChildren,
}

/// One `waitpid(-1, WNOHANG)`; stopped/continued reports are skipped.
pub fn reap_one() -> Reaped {
    loop {
        match waitpid(None, Some(WaitPidFlag::WNOHANG)) {
            Ok(WaitStatus::Exited(pid, code)) => {
                return Reaped::Exited {
                    pid: pid.as_raw(),
                    status: ExitStatus::Exited(code),
                };
            }
            Ok(WaitStatus::Signaled(pid, signal, core)) => {
                return Reaped::Exited {
                    pid: pid.as_raw(),
                    status: ExitStatus::Signaled {
                        signal: signal as i32,
                        core,
                    },
                };
            }
            Ok(WaitStatus::StillAlive) => return Reaped::NoneReady,
            Ok(_) => continue,
            Err(Errno::EINTR) => continue,
            Err(Errno::ECHILD) => return Reaped::NoChildren,
            Err(_) => return Reaped::NoneReady,
        }
    }
}

/// The pids and command names of every live process whose parent is svinit.
pub fn children_of_self() -> Vec<(i32, String)> {
    let me = std::process::id() as i32;
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    let mut children = Vec::new();
    for entry in entries.flatten() {
        let Some(pid) = entry
            .file_name()
            .to_str()
            .and_then(|name| name.parse::<i32>().ok())
        else {
            continue;
        };
        if let Some((command, stat)) = proc_stat::read_with_command(pid)
            && stat.ppid == me
        {
            children.push((pid, command));
        }
    }
    children
}
