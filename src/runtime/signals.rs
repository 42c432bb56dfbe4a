//! Signals as file-descriptor events: svinit blocks the signals it cares
//! about and reads them from a signalfd registered with mio. No handlers run,
//! so nothing async happens between fork and exec; children unblock them.
//! SIGCHLD has a signalfd of its own, read by the reaper (`reaper::ExitWatch`)
//! on its own cadence; this one carries every other signal in `HANDLED`.
//! Signals svinit sends go out through [`send`], by number, so every
//! signal 1–64 can be sent (nix's `Signal` has no real-time signals).

use std::io;
use std::os::fd::{AsRawFd, RawFd};
use std::sync::OnceLock;

use nix::errno::Errno;
use nix::sys::signal::{SigSet, SigmaskHow, Signal, sigprocmask};
use nix::sys::signalfd::{SfdFlags, SignalFd};

/// Every signal svinit acts on or forwards. The job-control stops are
/// among them so that svinit itself is never stopped: with a main command
/// they are forwarded to it (like dumb-init), otherwise ignored.
pub(crate) const HANDLED: &[Signal] = &[
    Signal::SIGCHLD,
    Signal::SIGTERM,
    Signal::SIGINT,
    Signal::SIGHUP,
    Signal::SIGQUIT,
    Signal::SIGUSR1,
    Signal::SIGUSR2,
    Signal::SIGWINCH,
    Signal::SIGPIPE,
    Signal::SIGTSTP,
    Signal::SIGTTIN,
    Signal::SIGTTOU,
    Signal::SIGCONT,
];

pub(crate) struct SignalSource {
    fd: SignalFd,
}

impl SignalSource {
    /// Blocks `HANDLED` (SIGCHLD too) for the process and opens a
    /// non-blocking signalfd for every one of them but SIGCHLD.
    pub(crate) fn open() -> io::Result<SignalSource> {
        let mut blocked = SigSet::empty();
        for &signal in HANDLED {
            blocked.add(signal);
        }
        sigprocmask(SigmaskHow::SIG_BLOCK, Some(&blocked), None)?;
        let mut read_here = blocked;
        read_here.remove(Signal::SIGCHLD);
        Ok(SignalSource {
            fd: open_signalfd(&read_here)?,
        })
    }

    pub(crate) fn raw_fd(&self) -> RawFd {
        self.fd.as_raw_fd()
    }

    /// Next pending signal number, `None` when drained.
    pub(crate) fn next(&mut self) -> Option<i32> {
        match self.fd.read_signal() {
            Ok(Some(info)) => i32::try_from(info.ssi_signo).ok(),
            Ok(None) | Err(_) => None,
        }
    }
}

/// A non-blocking, close-on-exec signalfd reading `mask` (already blocked).
pub(crate) fn open_signalfd(mask: &SigSet) -> io::Result<SignalFd> {
    Ok(SignalFd::with_flags(
        mask,
        SfdFlags::SFD_NONBLOCK | SfdFlags::SFD_CLOEXEC,
    )?)
}

use crate::supervisor::MAX_SIGNAL;

/// `kill(target, signal)` for any signal 1–64, or 0 to check that the
/// target exists; `target` as kill(2) takes it (negative: a process
/// group). Never to pid 0, 1 or -1, nor to svinit's own process group:
/// those would reach svinit's group, svinit or every process.
pub(crate) fn send(target: i32, signal: i32) -> Result<(), Errno> {
    if !(0..=MAX_SIGNAL).contains(&signal) || (-1..=1).contains(&target) {
        return Err(Errno::EINVAL);
    }
    if target < 0 && target.checked_neg() == Some(own_process_group()) {
        return Err(Errno::EINVAL);
    }
    // SAFETY: kill(2) with checked arguments; it touches no memory.
    Errno::result(unsafe { libc::kill(target, signal) }).map(drop)
}

/// svinit's own process group, read once: it cannot change while the
/// loop runs (`--detach` calls setsid before the loop exists; svinit calls
/// neither setsid nor setpgid after, and its parent cannot once it has
/// exec'd). Saves a getpgrp(2) per signal sent: stopping a service sends two.
fn own_process_group() -> i32 {
    static OWN_GROUP: OnceLock<i32> = OnceLock::new();
    *OWN_GROUP.get_or_init(|| nix::unistd::getpgrp().as_raw())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sends_real_time_signals_and_refuses_what_would_reach_everyone() {
        let mut child = std::process::Command::new("sleep")
            .arg("60")
            .spawn()
            .expect("spawn sleep");
        let pid = child.id() as i32;
        // Signal 0 only asks whether the process exists.
        assert_eq!(send(pid, 0), Ok(()));
        assert_eq!(send(pid, 65), Err(Errno::EINVAL));
        for target in [-1, 0, 1] {
            assert_eq!(send(target, libc::SIGTERM), Err(Errno::EINVAL));
        }
        // Never svinit's own process group (a group kill of a service that
        // shares it): signal 0, so that a failure here harms nobody.
        let own_group = nix::unistd::getpgrp().as_raw();
        assert_eq!(send(-own_group, 0), Err(Errno::EINVAL));
        assert_eq!(send(pid, 50), Ok(()));
        let status = child.wait().expect("wait");
        assert_eq!(
            std::os::unix::process::ExitStatusExt::signal(&status),
            Some(50)
        );
    }
}
