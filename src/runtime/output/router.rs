//! The line router of one captured service, pure: what a chunk of bytes
//! read from one of its streams becomes for its ring buffer, for its sink
//! and for the held-back tail. Whole lines go to the sink at once; an
//! unterminated tail is held (per stream) until its line ends, it reaches
//! [`PARTIAL_LINE_LIMIT`](crate::transcript::PARTIAL_LINE_LIMIT) bytes, its
//! deadline passes or its service exits. It touches no file descriptor and
//! reads no clock: the caller gives the time and the [`Destination`].

use std::time::Instant;

use crate::runtime::syslog::Stream;
use crate::transcript::{LineBuffer, Piece};

/// What a service's ring buffer takes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum RingFeed {
    /// The bytes as read, before they are cut into lines.
    Bytes,
    /// Whole lines only, as they go to the sink: a syslog service, whose
    /// two streams then interleave at line boundaries.
    Lines,
}

/// Where routed output goes: the runtime's side writes the ring buffer and
/// the sink (`sink.rs`), a test records it.
pub(super) trait Destination {
    /// Bytes for the ring buffer.
    fn ring(&mut self, bytes: &[u8]);
    /// Whole lines of `stream`, or a held-back tail passed on, for the sink.
    fn sink(&mut self, stream: Stream, piece: Piece<'_>);
}

/// The held-back tails of one service's output: stdout's, and stderr's
/// when stderr has a pipe of its own (syslog); else stderr shares stdout's
/// pipe and so its line buffer.
#[derive(Debug, Default)]
pub(super) struct LineRouter {
    stdout: LineBuffer,
    stderr: Option<LineBuffer>,
}

impl LineRouter {
    pub(super) fn new() -> LineRouter {
        LineRouter::default()
    }

    /// Gives stderr a line buffer of its own (`own`), or takes it away:
    /// when its pipe is made or closed. What it held must have been flushed.
    pub(super) fn set_own_stderr(&mut self, own: bool) {
        match (own, &self.stderr) {
            (true, None) => self.stderr = Some(LineBuffer::new()),
            (false, Some(_)) => self.stderr = None,
            _ => {}
        }
    }

    /// Routes one `chunk` read from `stream` at `now`.
    pub(super) fn route(
        &mut self,
        stream: Stream,
        chunk: &[u8],
        now: Instant,
        feed: RingFeed,
        to: &mut impl Destination,
    ) {
        let lines = match (stream, &mut self.stderr) {
            (Stream::Stderr, Some(stderr)) => stderr,
            _ => &mut self.stdout,
        };
        if feed == RingFeed::Bytes {
            to.ring(chunk);
        }
        lines.push(chunk, now, &mut |piece| pass_on(stream, piece, feed, to));
    }

    /// Passes on every held-back tail, stdout's first.
    pub(super) fn flush(&mut self, feed: RingFeed, to: &mut impl Destination) {
        self.stdout
            .flush(&mut |piece| pass_on(Stream::Stdout, piece, feed, to));
        if let Some(stderr) = &mut self.stderr {
            stderr.flush(&mut |piece| pass_on(Stream::Stderr, piece, feed, to));
        }
    }

    /// When the oldest held-back tail (of either stream) is due.
    pub(super) fn deadline(&self) -> Option<Instant> {
        let stderr = self.stderr.as_ref().and_then(LineBuffer::deadline);
        match (self.stdout.deadline(), stderr) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    /// Whether a tail is held back.
    pub(super) fn has_pending(&self) -> bool {
        self.stdout.has_pending() || self.stderr.as_ref().is_some_and(LineBuffer::has_pending)
    }
}

/// One piece the line buffer lets go: to the ring too when it takes lines.
fn pass_on(stream: Stream, piece: Piece<'_>, feed: RingFeed, to: &mut impl Destination) {
    if feed == RingFeed::Lines {
        to.ring(piece_bytes(piece));
    }
    to.sink(stream, piece);
}

pub(super) fn piece_bytes(piece: Piece<'_>) -> &[u8] {
    match piece {
        Piece::Lines(bytes) | Piece::Partial(bytes) => bytes,
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;
    use crate::transcript::{PARTIAL_LINE_LIMIT, PARTIAL_LINE_WAIT};

    /// What reached the ring and the sink, in order.
    #[derive(Default)]
    struct Recorder {
        ring: Vec<String>,
        sink: Vec<(Stream, &'static str, String)>,
    }

    impl Destination for Recorder {
        fn ring(&mut self, bytes: &[u8]) {
            self.ring.push(String::from_utf8_lossy(bytes).into_owned());
        }

        fn sink(&mut self, stream: Stream, piece: Piece<'_>) {
            let kind = match piece {
                Piece::Lines(_) => "lines",
                Piece::Partial(_) => "partial",
            };
            let text = String::from_utf8_lossy(piece_bytes(piece)).into_owned();
            self.sink.push((stream, kind, text));
        }
    }

    fn sunk(stream: Stream, kind: &'static str, text: &str) -> (Stream, &'static str, String) {
        (stream, kind, text.to_string())
    }

    #[test]
    fn the_ring_takes_bytes_as_read_and_the_sink_whole_lines() {
        let (mut router, mut to) = (LineRouter::new(), Recorder::default());
        let now = Instant::now();
        router.route(
            Stream::Stdout,
            b"one\ntwo\nthr",
            now,
            RingFeed::Bytes,
            &mut to,
        );
        assert_eq!(to.ring, ["one\ntwo\nthr"]);
        assert_eq!(to.sink, [sunk(Stream::Stdout, "lines", "one\ntwo\n")]);
        assert!(router.has_pending());
        assert_eq!(router.deadline(), Some(now + PARTIAL_LINE_WAIT));

        let later = now + Duration::from_millis(50);
        router.route(Stream::Stdout, b"ee\nfo", later, RingFeed::Bytes, &mut to);
        assert_eq!(to.ring, ["one\ntwo\nthr", "ee\nfo"], "each byte once");
        assert_eq!(to.sink[1], sunk(Stream::Stdout, "lines", "three\n"));
        assert_eq!(router.deadline(), Some(later + PARTIAL_LINE_WAIT));

        router.flush(RingFeed::Bytes, &mut to);
        assert_eq!(to.ring.len(), 2, "a flushed tail is in the ring already");
        assert_eq!(to.sink[2], sunk(Stream::Stdout, "partial", "fo"));
        assert!(!router.has_pending());
        assert_eq!(router.deadline(), None);
    }

    #[test]
    fn a_ring_of_lines_interleaves_the_streams_at_line_boundaries() {
        let (mut router, mut to) = (LineRouter::new(), Recorder::default());
        router.set_own_stderr(true);
        let now = Instant::now();
        router.route(
            Stream::Stdout,
            b"out 1\nout 2 ",
            now,
            RingFeed::Lines,
            &mut to,
        );
        router.route(Stream::Stderr, b"err 1\n", now, RingFeed::Lines, &mut to);
        router.route(Stream::Stdout, b"ends\n", now, RingFeed::Lines, &mut to);
        assert_eq!(to.ring, ["out 1\n", "err 1\n", "out 2 ends\n"]);
        assert_eq!(
            to.sink,
            [
                sunk(Stream::Stdout, "lines", "out 1\n"),
                sunk(Stream::Stderr, "lines", "err 1\n"),
                sunk(Stream::Stdout, "lines", "out 2 ends\n"),
            ]
        );
        assert!(!router.has_pending());
    }

    #[test]
    fn each_stream_holds_its_own_tail_and_the_earliest_is_due_first() {
        let (mut router, mut to) = (LineRouter::new(), Recorder::default());
        router.set_own_stderr(true);
        let now = Instant::now();
        router.route(Stream::Stderr, b"err tail", now, RingFeed::Lines, &mut to);
        let later = now + Duration::from_millis(30);
        router.route(Stream::Stdout, b"out tail", later, RingFeed::Lines, &mut to);
        assert!(
            to.ring.is_empty() && to.sink.is_empty(),
            "nothing whole yet"
        );
        assert_eq!(router.deadline(), Some(now + PARTIAL_LINE_WAIT));

        router.flush(RingFeed::Lines, &mut to);
        assert_eq!(to.ring, ["out tail", "err tail"]);
        assert_eq!(
            to.sink,
            [
                sunk(Stream::Stdout, "partial", "out tail"),
                sunk(Stream::Stderr, "partial", "err tail"),
            ]
        );
        assert_eq!(router.deadline(), None);
        assert!(!router.has_pending());
    }

    #[test]
    fn a_tail_at_the_limit_is_passed_on_without_waiting() {
        let (mut router, mut to) = (LineRouter::new(), Recorder::default());
        let long = vec![b'x'; PARTIAL_LINE_LIMIT];
        router.route(
            Stream::Stdout,
            &long,
            Instant::now(),
            RingFeed::Bytes,
            &mut to,
        );
        assert_eq!(to.sink.len(), 1);
        assert_eq!(to.sink[0].1, "partial");
        assert_eq!(to.sink[0].2.len(), PARTIAL_LINE_LIMIT);
        assert!(!router.has_pending());
        assert_eq!(router.deadline(), None);
    }

    #[test]
    fn without_its_own_buffer_stderr_shares_the_stdout_tail() {
        let (mut router, mut to) = (LineRouter::new(), Recorder::default());
        let now = Instant::now();
        router.route(Stream::Stdout, b"a", now, RingFeed::Bytes, &mut to);
        router.route(Stream::Stderr, b"b\n", now, RingFeed::Bytes, &mut to);
        assert_eq!(to.sink, [sunk(Stream::Stderr, "lines", "ab\n")]);

        router.set_own_stderr(true);
        router.route(Stream::Stdout, b"c", now, RingFeed::Bytes, &mut to);
        router.route(Stream::Stderr, b"d\n", now, RingFeed::Bytes, &mut to);
        assert_eq!(to.sink[1], sunk(Stream::Stderr, "lines", "d\n"));
        router.set_own_stderr(false);
        router.flush(RingFeed::Bytes, &mut to);
        assert_eq!(to.sink[2], sunk(Stream::Stdout, "partial", "c"));
    }
}
