//! Signals as file-descriptor events: svinit blocks the signals it cares
//! about and reads them from a signalfd registered with mio. No handlers run,
//! so nothing async happens between fork and exec; children unblock them.

use std::io;
use std::os::fd::{AsRawFd, RawFd};

use nix::sys::signal::{SigSet, SigmaskHow, Signal, sigprocmask};
use nix::sys::signalfd::{SfdFlags, SignalFd};

/// Every signal svinit acts on or forwards. The job-control stops are
/// among them so that svinit itself is never stopped: with a main command
/// they are forwarded to it (like dumb-init), otherwise ignored.
pub const HANDLED: &[Signal] = &[
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

pub struct SignalSource {
    fd: SignalFd,
}

impl SignalSource {
    /// Blocks `HANDLED` for the process and opens a non-blocking signalfd.
    pub fn open() -> io::Result<SignalSource> {
        let mut mask = SigSet::empty();
        for &signal in HANDLED {
            mask.add(signal);
        }
        sigprocmask(SigmaskHow::SIG_BLOCK, Some(&mask), None)?;
        let fd = SignalFd::with_flags(&mask, SfdFlags::SFD_NONBLOCK | SfdFlags::SFD_CLOEXEC)?;
        Ok(SignalSource { fd })
    }

    pub fn raw_fd(&self) -> RawFd {
        self.fd.as_raw_fd()
    }

    /// Next pending signal number, `None` when drained.
    pub fn next(&mut self) -> Option<i32> {
        match self.fd.read_signal() {
            Ok(Some(info)) => i32::try_from(info.ssi_signo).ok(),
            Ok(None) | Err(_) => None,
        }
    }
}
