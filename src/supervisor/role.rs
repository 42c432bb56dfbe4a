//! What kind of init svinit is this time (system, container or user; SPEC
//! §2 "Modes"), given to the supervisor when it is made, and every rule
//! that depends on it alone: what a signal means when there is no main
//! command, whether svinit may ever exit, and the default working
//! directory. Which role applies is detected in `crate::mode`.

use std::fmt;
use std::path::Path;

use super::PowerKind;

/// The role svinit plays (the user's word for it is the *mode*).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    /// PID 1 booted by a kernel: never exits, ends in `reboot(2)`; a
    /// `critical` service ending starts the emergency shell.
    System,
    /// PID 1 of a child PID namespace: exits when its work is done.
    Container,
    /// Not PID 1 (a child subreaper): exits when its work is done.
    User,
}

/// What a signal svinit received means, with no main command to take it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum SignalMeaning {
    /// An orderly shutdown, exit status 0.
    Shutdown,
    /// System role: stop everything, then reboot, halt or power off.
    Power(PowerKind),
    /// Read the config again (SIGHUP).
    Reload,
    /// Reopen every transcript (SIGUSR1 outside the system role).
    ReopenTranscripts,
    /// Nothing: logged at debug level.
    Ignored,
}

impl Role {
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            Role::System => "system",
            Role::Container => "container",
            Role::User => "user",
        }
    }

    /// Whether svinit may end its process: not in the system role, where
    /// PID 1 exiting panics the kernel (a finished shutdown is `reboot(2)`,
    /// a `critical` service's end only starts the emergency shell, and a
    /// second svinit on the socket does not stop it from booting).
    pub fn may_exit(self) -> bool {
        self != Role::System
    }

    /// Whether svinit falls back on an emergency shell (an invalid config
    /// at boot, a `critical` service's end) rather than exiting.
    pub(crate) fn has_emergency_shell(self) -> bool {
        self == Role::System
    }

    /// The working directory of a service without `directory`: `/` on a
    /// booted system, svinit's own otherwise (SPEC §3).
    pub(crate) fn default_directory(self) -> Option<&'static Path> {
        (self == Role::System).then(|| Path::new("/"))
    }

    /// What `signal` means when no main command takes it (SPEC §2, §4
    /// "System mode"): on a booted system SIGINT (ctrl-alt-del) and
    /// SIGTERM reboot, SIGUSR1 halts, SIGUSR2 powers off; elsewhere SIGTERM
    /// and SIGINT shut down and SIGUSR1 reopens the transcripts. SIGHUP
    /// reloads in every role.
    pub(crate) fn signal_meaning(self, signal: i32) -> SignalMeaning {
        match self {
            Role::System => match PowerKind::from_signal(signal) {
                Some(kind) => SignalMeaning::Power(kind),
                None if signal == libc::SIGHUP => SignalMeaning::Reload,
                None => SignalMeaning::Ignored,
            },
            Role::Container | Role::User => match signal {
                libc::SIGTERM | libc::SIGINT => SignalMeaning::Shutdown,
                libc::SIGHUP => SignalMeaning::Reload,
                libc::SIGUSR1 => SignalMeaning::ReopenTranscripts,
                _ => SignalMeaning::Ignored,
            },
        }
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signals_mean_power_on_a_booted_system_and_shutdown_elsewhere() {
        let system = |signal| Role::System.signal_meaning(signal);
        assert_eq!(
            system(libc::SIGTERM),
            SignalMeaning::Power(PowerKind::Reboot)
        );
        assert_eq!(
            system(libc::SIGINT),
            SignalMeaning::Power(PowerKind::Reboot)
        );
        assert_eq!(system(libc::SIGUSR1), SignalMeaning::Power(PowerKind::Halt));
        assert_eq!(
            system(libc::SIGUSR2),
            SignalMeaning::Power(PowerKind::Poweroff)
        );
        assert_eq!(system(libc::SIGHUP), SignalMeaning::Reload);
        for role in [Role::Container, Role::User] {
            let meaning = |signal| role.signal_meaning(signal);
            assert_eq!(meaning(libc::SIGTERM), SignalMeaning::Shutdown);
            assert_eq!(meaning(libc::SIGINT), SignalMeaning::Shutdown);
            assert_eq!(meaning(libc::SIGHUP), SignalMeaning::Reload);
            assert_eq!(meaning(libc::SIGUSR1), SignalMeaning::ReopenTranscripts);
            assert_eq!(meaning(libc::SIGUSR2), SignalMeaning::Ignored);
        }
        for role in [Role::System, Role::Container, Role::User] {
            for signal in [libc::SIGQUIT, libc::SIGWINCH, libc::SIGPIPE, libc::SIGTSTP] {
                assert_eq!(role.signal_meaning(signal), SignalMeaning::Ignored);
            }
        }
    }

    #[test]
    fn only_the_system_role_never_exits_and_starts_services_in_the_root() {
        assert!(!Role::System.may_exit());
        assert!(Role::Container.may_exit() && Role::User.may_exit());
        assert_eq!(Role::System.default_directory(), Some(Path::new("/")));
        assert_eq!(Role::User.default_directory(), None);
    }
}
