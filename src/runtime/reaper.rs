//! Reaping and the orphan sweep: `waitpid(-1, WNOHANG)` until nothing is
//! left to reap, when to do it ([`ExitWatch`]), and finding every remaining
//! child of svinit in /proc.
//!
//! When: SIGCHLD has a signalfd of its own. A wake on it reaps every child
//! that has exited. If that reaped an orphan (a process svinit did not
//! start), the SIGCHLD is left pending for [`ORPHAN_BATCH`]: deaths in the
//! meantime merge into it and wake nobody (the kernel queues one SIGCHLD at
//! most and notifies a signalfd only when it becomes pending), and the loop
//! reaps them all together when the time is up. A stream of orphans (a
//! forking payload) so costs a wake per batch instead of one per orphan,
//! each wake of which also takes the kernel's tasklist lock twice. Otherwise,
//! or when a look finds nothing, the SIGCHLD is consumed and the children
//! are reaped once more: a death between the last reap and the consume
//! merged into the SIGCHLD just consumed. So a death is always either
//! reaped, or behind a pending SIGCHLD that wakes the loop, or behind a
//! pending SIGCHLD the loop's deadline will look at: never missed. The cost
//! is latency: a service that dies within the batch of an orphan's death is
//! reaped up to that much later.
//!
//! The raw wait status is decoded here rather than by nix, whose
//! `WaitStatus` cannot name the real-time signals (32–64): a child killed
//! by one would be reaped and then lost. Only ECHILD means "no children";
//! EINTR is retried and any other error is logged and ends this round.

use std::io;
use std::os::fd::{AsRawFd, RawFd};
use std::time::{Duration, Instant};

use nix::errno::Errno;
use nix::sys::signal::{SigSet, Signal};
use nix::sys::signalfd::SignalFd;

use crate::supervisor::ExitStatus;
use crate::warn;

use super::{proc_stat, signals};

/// How long a SIGCHLD is left pending after a look that reaped an orphan.
pub(crate) const ORPHAN_BATCH: Duration = Duration::from_millis(1);

/// SIGCHLD's signalfd and whether its pending signal is left there on
/// purpose, until when.
pub(crate) struct ExitWatch {
    fd: SignalFd,
    parked_until: Option<Instant>,
}

impl ExitWatch {
    /// The SIGCHLD signalfd; SIGCHLD must already be blocked
    /// (`signals::SignalSource::open`).
    pub(crate) fn open() -> io::Result<ExitWatch> {
        let mut mask = SigSet::empty();
        mask.add(Signal::SIGCHLD);
        Ok(ExitWatch {
            fd: signals::open_signalfd(&mask)?,
            parked_until: None,
        })
    }

    pub(crate) fn raw_fd(&self) -> RawFd {
        self.fd.as_raw_fd()
    }

    /// Parked and not yet due: the loop leaves SIGCHLD alone.
    pub(crate) fn parked_at(&self, now: Instant) -> bool {
        self.parked_until.is_some_and(|until| now < until)
    }

    /// When the loop must look again, if a SIGCHLD is parked.
    pub(crate) fn deadline(&self) -> Option<Instant> {
        self.parked_until
    }

    /// Leaves the pending SIGCHLD pending until `ORPHAN_BATCH` from `now`.
    pub(crate) fn park(&mut self, now: Instant) {
        self.parked_until = Some(now + ORPHAN_BATCH);
    }

    /// Consumes the pending SIGCHLD, if any: the next death wakes the loop.
    /// One read is enough, the kernel never queues a second SIGCHLD.
    pub(crate) fn consume(&mut self) {
        self.parked_until = None;
        let _ = self.fd.read_signal();
    }
}

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
