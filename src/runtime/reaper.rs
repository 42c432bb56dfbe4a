//! Reaping and the orphan sweep: `waitpid(-1, WNOHANG)` until nothing is
//! left to reap, and finding every remaining child of svinit in /proc.
//!
//! The raw wait status is decoded here rather than by nix, whose
//! `WaitStatus` cannot name the real-time signals (32–64): a child killed
//! by one would be reaped and then lost. Only ECHILD means "no children";
//! EINTR is retried and any other error is logged and ends this round.

use nix::errno::Errno;

use crate::supervisor::ExitStatus;
use crate::warn;

use super::proc_stat;

pub(crate) enum Reaped {
    Exited {
        pid: i32,
        status: ExitStatus,
    },
    /// Children exist but none has exited.
    NoneReady,
    /// svinit has no children at all.
    NoChildren,
}

/// One `waitpid(-1, WNOHANG)`. Without `WUNTRACED`/`WCONTINUED` only
/// exits and deaths by a signal are reported.
pub(crate) fn reap_one() -> Reaped {
    loop {
        let mut raw: libc::c_int = 0;
        // SAFETY: waitpid only writes the status through the pointer.
        let pid = unsafe { libc::waitpid(-1, &mut raw, libc::WNOHANG) };
        if pid == 0 {
            return Reaped::NoneReady;
        }
        if pid < 0 {
            match Errno::last() {
                Errno::EINTR => continue,
                Errno::ECHILD => return Reaped::NoChildren,
                errno => {
                    warn!("", "waitpid failed: {errno}");
                    return Reaped::NoneReady;
                }
            }
        }
        if let Some(status) = decode_wait_status(raw) {
            return Reaped::Exited { pid, status };
        }
    }
}

/// An exit or a death by any signal 1–64, with the core flag; `None` for a
/// stop or a continue report.
pub(crate) fn decode_wait_status(raw: libc::c_int) -> Option<ExitStatus> {
    if libc::WIFEXITED(raw) {
        Some(ExitStatus::Exited(libc::WEXITSTATUS(raw)))
    } else if libc::WIFSIGNALED(raw) {
        Some(ExitStatus::Signaled {
            signal: libc::WTERMSIG(raw),
            core: libc::WCOREDUMP(raw),
        })
    } else {
        None
    }
}

/// The pids and command names of every live process whose parent is svinit.
pub(crate) fn children_of_self() -> Vec<(i32, String)> {
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_signal_and_the_core_flag_are_decoded() {
        assert_eq!(decode_wait_status(42 << 8), Some(ExitStatus::Exited(42)));
        for signal in 1..=64 {
            assert_eq!(
                decode_wait_status(signal),
                Some(ExitStatus::Signaled {
                    signal,
                    core: false
                }),
                "signal {signal}"
            );
            assert_eq!(
                decode_wait_status(signal | 0x80),
                Some(ExitStatus::Signaled { signal, core: true }),
                "signal {signal} with a core"
            );
        }
        // Stopped by SIGSTOP, continued: not deaths.
        assert_eq!(decode_wait_status((libc::SIGSTOP << 8) | 0x7f), None);
        assert_eq!(decode_wait_status(0xffff), None);
    }

    #[test]
    fn a_child_killed_by_a_real_time_signal_is_reaped_with_it() {
        let mut child = std::process::Command::new("sleep")
            .arg("60")
            .spawn()
            .expect("spawn sleep");
        let pid = child.id() as i32;
        // SAFETY: a plain kill(2) of our own child.
        assert_eq!(unsafe { libc::kill(pid, 40) }, 0);
        let mut raw = 0;
        // SAFETY: waitpid only writes the status.
        assert_eq!(unsafe { libc::waitpid(pid, &mut raw, 0) }, pid);
        // Reaped above: std's own wait now finds nothing, and says so.
        assert!(child.try_wait().is_err());
        assert_eq!(
            decode_wait_status(raw),
            Some(ExitStatus::Signaled {
                signal: 40,
                core: false
            })
        );
    }
}
