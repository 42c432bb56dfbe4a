//! Reaping and the orphan sweep: `waitpid(-1, WNOHANG)` until nothing is
//! left to reap, and finding every remaining child of svinit in /proc.

use nix::errno::Errno;
use nix::sys::wait::{WaitPidFlag, WaitStatus, waitpid};

use crate::supervisor::ExitStatus;

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
        let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else {
            continue;
        };
        if let Some((comm, ppid)) = parse_stat_parent(&stat)
            && ppid == me
        {
            children.push((pid, comm.to_string()));
        }
    }
    children
}

/// `(comm, ppid)` from a /proc/PID/stat line; comm may contain spaces and
/// parentheses, so the fields after it are found from the last `)`.
fn parse_stat_parent(stat: &str) -> Option<(&str, i32)> {
    let open = stat.find('(')?;
    let close = stat.rfind(')')?;
    let comm = stat.get(open + 1..close)?;
    let mut rest = stat.get(close + 1..)?.split_ascii_whitespace();
    let _state = rest.next()?;
    let ppid = rest.next()?.parse().ok()?;
    Some((comm, ppid))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stat_with_odd_command_name() {
        let stat = "42 (a) b (c)) S 7 42 42 0 -1";
        assert_eq!(parse_stat_parent(stat), Some(("a) b (c)", 7)));
    }

    #[test]
    fn truncated_stat_is_ignored() {
        assert_eq!(parse_stat_parent("42 (sh"), None);
        assert_eq!(parse_stat_parent("42 (sh) S"), None);
    }
}
