//! Where a service's routed output is written: its ring buffer (each push
//! numbered from the one count of arrivals) and its sink, a transcript
//! file, syslog or `NAME | line` on svinit's stdout through the console,
//! which never blocks. Also the log lines when a transcript breaks and
//! recovers.

use std::time::{Instant, SystemTime};

use super::pipes::Wanted;
use super::router::{Destination, LineRouter, RingFeed, piece_bytes};
use super::{ServicePipe, Shared};
use crate::runtime::syslog::Stream;
use crate::transcript::{Piece, RingBuffer, TranscriptFile, lines_dropped_text, prefix_lines};
use crate::{info, warn};

/// Where a service's output goes besides its ring buffer.
#[derive(Debug)]
pub(super) enum Sink {
    /// `NAME | line` on svinit's stdout.
    Prefix,
    Transcript(TranscriptFile),
    /// Each line to syslog (`Output::syslog`), stderr at `err`.
    Syslog,
}

impl Sink {
    /// A syslog service's ring gets whole lines (its two streams
    /// interleave there), any other's the bytes as read.
    fn ring_feed(&self) -> RingFeed {
        match self {
            Sink::Syslog => RingFeed::Lines,
            Sink::Prefix | Sink::Transcript(_) => RingFeed::Bytes,
        }
    }
}

pub(super) fn open_sink(wanted: &Wanted) -> Sink {
    match wanted {
        Wanted::Transcript(config) => Sink::Transcript(TranscriptFile::open(config.clone())),
        Wanted::Syslog => Sink::Syslog,
        Wanted::Prefix | Wanted::Direct(_) => Sink::Prefix,
    }
}

/// Feeds one chunk of `stream` through `pipe`'s router to its ring buffer
/// and its sink.
pub(super) fn deliver(
    pipe: &mut ServicePipe,
    stream: Stream,
    chunk: &[u8],
    now: Instant,
    shared: &mut Shared,
) {
    let (mut to, router) = SinkWriter::split(pipe, shared, now);
    let feed = to.sink.ring_feed();
    router.route(stream, chunk, now, feed, &mut to);
    report_problem(pipe);
}

/// Passes on `pipe`'s held-back lines (both streams).
pub(super) fn flush_pipe(pipe: &mut ServicePipe, shared: &mut Shared) {
    let (mut to, router) = SinkWriter::split(pipe, shared, Instant::now());
    let feed = to.sink.ring_feed();
    router.flush(feed, &mut to);
    report_problem(pipe);
}

/// The [`Destination`] of one service's routed output: its ring buffer
/// and its sink.
struct SinkWriter<'a> {
    name: &'a str,
    pid: Option<i32>,
    ring: &'a mut RingBuffer,
    sink: &'a mut Sink,
    shared: &'a mut Shared,
    wall: SystemTime,
    now: Instant,
}

impl<'a> SinkWriter<'a> {
    /// The writer and, apart, the router of `pipe`.
    fn split(
        pipe: &'a mut ServicePipe,
        shared: &'a mut Shared,
        now: Instant,
    ) -> (SinkWriter<'a>, &'a mut LineRouter) {
        let ServicePipe {
            name,
            router,
            pid,
            ring,
            sink,
            ..
        } = pipe;
        let writer = SinkWriter {
            name,
            pid: *pid,
            ring,
            sink,
            shared,
            wall: SystemTime::now(),
            now,
        };
        (writer, router)
    }
}

impl Destination for SinkWriter<'_> {
    fn ring(&mut self, bytes: &[u8]) {
        self.shared.arrivals += 1;
        self.ring.push(bytes, self.shared.arrivals);
    }

    fn sink(&mut self, stream: Stream, piece: Piece<'_>) {
        let shared = &mut *self.shared;
        match self.sink {
            Sink::Transcript(file) => file.write(piece, self.now, self.wall),
            Sink::Syslog => shared.syslog.send_lines(
                stream,
                self.name,
                self.pid,
                piece_bytes(piece),
                self.now,
                self.wall,
            ),
            Sink::Prefix => {
                let console = &mut shared.console;
                console.clear();
                prefix_lines(self.name, piece, console);
                // Never blocks: what svinit's stdout does not take is
                // queued or dropped (counted); the ring buffer has it all.
                crate::console::write(crate::console::Out::Stdout, console);
                if console.capacity() > 1 << 20 {
                    *console = Vec::new();
                }
            }
        }
    }
}

/// Logs a transcript problem once, when it arises, and its end.
pub(super) fn report_problem(pipe: &mut ServicePipe) {
    let Sink::Transcript(file) = &mut pipe.sink else {
        return;
    };
    if let Some(problem) = file.take_new_problem() {
        warn!(
            &pipe.name,
            "{problem}; its output stays in the ring buffer (svctl logs), the transcript is tried again as output comes"
        );
    }
    if let Some(dropped) = file.take_recovery() {
        info!(
            &pipe.name,
            "transcript {}: writing again, {} meanwhile",
            file.config().path.display(),
            lines_dropped_text(dropped)
        );
    }
}
