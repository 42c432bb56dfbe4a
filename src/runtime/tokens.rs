//! The token space of the loop's one `mio::Poll`: every descriptor is
//! registered under [`Source::token`] and every readiness event is routed
//! back by [`Source::of`]. The only place that knows how tokens are laid out.

use mio::Token;

/// Slots per kind of source: a token is `kind * SLOTS + slot`. Slots are
/// slab indices (services, clients, children being spawned), far below this.
const SLOTS: usize = 1 << 24;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Source {
    /// The signalfd of every handled signal but SIGCHLD.
    Signals,
    /// SIGCHLD's signalfd (`reaper::ExitWatch`).
    ChildExits,
    /// The control socket's listener.
    ControlListener,
    /// A `ready-notify` service's sd_notify datagram socket, by slot.
    Notify(usize),
    /// An accepted control connection, by slot.
    ControlClient(usize),
    /// A child's exec-status pipe, by slot.
    ExecStatus(usize),
    /// A `ready-fd` pipe, by slot.
    ReadyPipe(usize),
    /// A service's output pipe, by slot.
    Output(usize),
    /// The separate stderr pipe of a service logging to syslog, by slot.
    OutputErr(usize),
    /// svinit's own stdout or stderr, waiting to be writable
    /// (`crate::console`), by stream.
    Console(usize),
    /// The socket to the spawner, waiting to take more requests.
    Spawner,
    /// The socket of a service's `connect` probe (slot: its `ServiceId`).
    Probe(usize),
}

impl Source {
    pub(crate) fn token(self) -> Token {
        let (kind, slot) = match self {
            Source::Signals => (0, 0),
            Source::ChildExits => (0, 1),
            Source::ControlListener => (1, 0),
            Source::Notify(slot) => (2, slot),
            Source::ControlClient(slot) => (3, slot),
            Source::ExecStatus(slot) => (4, slot),
            Source::ReadyPipe(slot) => (5, slot),
            Source::Output(slot) => (6, slot),
            Source::OutputErr(slot) => (7, slot),
            Source::Console(slot) => (8, slot),
            Source::Spawner => (9, 0),
            Source::Probe(slot) => (10, slot),
        };
        debug_assert!(slot < SLOTS, "slot {slot} out of the token space");
        Token(kind * SLOTS + slot % SLOTS)
    }

    /// The source a token was made for; `None` for a token no source makes.
    pub(crate) fn of(token: Token) -> Option<Source> {
        let (kind, slot) = (token.0 / SLOTS, token.0 % SLOTS);
        Some(match (kind, slot) {
            (0, 0) => Source::Signals,
            (0, 1) => Source::ChildExits,
            (1, 0) => Source::ControlListener,
            (2, slot) => Source::Notify(slot),
            (3, slot) => Source::ControlClient(slot),
            (4, slot) => Source::ExecStatus(slot),
            (5, slot) => Source::ReadyPipe(slot),
            (6, slot) => Source::Output(slot),
            (7, slot) => Source::OutputErr(slot),
            (8, slot) => Source::Console(slot),
            (9, 0) => Source::Spawner,
            (10, slot) => Source::Probe(slot),
            _ => return None,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_source_comes_back_from_its_token() {
        let sources = [
            Source::Signals,
            Source::ChildExits,
            Source::ControlListener,
            Source::Notify(4),
            Source::ControlClient(0),
            Source::ControlClient(127),
            Source::ExecStatus(10_000),
            Source::ReadyPipe(3),
            Source::Output(SLOTS - 1),
            Source::OutputErr(0),
            Source::Console(1),
            Source::Spawner,
            Source::Probe(7),
        ];
        for source in sources {
            assert_eq!(Source::of(source.token()), Some(source));
        }
        let mut tokens: Vec<usize> = sources.iter().map(|s| s.token().0).collect();
        tokens.sort_unstable();
        tokens.dedup();
        assert_eq!(tokens.len(), sources.len());
    }

    #[test]
    fn unknown_tokens_are_none() {
        assert_eq!(Source::of(Token(2)), None);
        assert_eq!(Source::of(Token(9 * SLOTS + 1)), None);
        assert_eq!(Source::of(Token(11 * SLOTS)), None);
        assert_eq!(Source::of(Token(usize::MAX)), None);
    }
}
