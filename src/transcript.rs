//! Output sinks for what services write on stdout and stderr, without the
//! event loop: splitting a byte stream into whole lines ([`LineBuffer`]),
//! the transcript file with reopen, size rotation and timestamps
//! ([`TranscriptFile`]), the `NAME | line` console format ([`prefix_lines`];
//! `crate::console` writes it) and the per-service ring buffer behind
//! `svctl logs` ([`RingBuffer`]). The runtime (`runtime/output/`) reads
//! the pipes and feeds these; everything here is plain data plus file I/O
//! on paths it is given, unit-tested without processes.
//!
//! Faults never panic: a transcript that cannot be opened, renamed or
//! written records a problem ([`TranscriptFile::problem`]), closes the file
//! and drops (and counts) further output until it is opened again, by a
//! reopen or by itself at the next output a second later; the ring buffer
//! still gets everything. A transcript is a path its service may control:
//! it is only ever opened through `crate::untrusted`.

use std::collections::VecDeque;
use std::fs::File;
use std::io;
use std::ops::Range;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use crate::config::Transcript;
use crate::untrusted::{FileKind, Purpose, open_untrusted};

/// Bytes of recent output kept per service for `svctl logs`.
pub(crate) const RING_CAPACITY: usize = 64 * 1024;
/// An unterminated line is passed on once it holds this many bytes...
pub(crate) const PARTIAL_LINE_LIMIT: usize = 4096;
/// ...or once it has waited this long for its newline.
pub(crate) const PARTIAL_LINE_WAIT: Duration = Duration::from_millis(100);

/// What a [`LineBuffer`] passes on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Piece<'a> {
    /// One or more whole lines, each ending in `\n`.
    Lines(&'a [u8]),
    /// The start of a line whose end has not come (too long, or waited too
    /// long, or the service exited); the rest follows later, if ever.
    Partial(&'a [u8]),
}

/// Holds back an unterminated tail so that sinks see whole lines.
#[derive(Debug, Default)]
pub(crate) struct LineBuffer {
    pending: Vec<u8>,
    /// When the oldest held-back byte arrived.
    since: Option<Instant>,
}

impl LineBuffer {
    pub(crate) fn new() -> LineBuffer {
        LineBuffer::default()
    }

    /// Feeds `chunk`; whole lines are emitted at once, an unterminated tail
    /// is kept unless it reaches [`PARTIAL_LINE_LIMIT`].
    pub(crate) fn push(&mut self, chunk: &[u8], now: Instant, emit: &mut dyn FnMut(Piece<'_>)) {
        let Some(last_newline) = chunk.iter().rposition(|&b| b == b'\n') else {
            self.hold(chunk, now, emit);
            return;
        };
        let mut whole = &chunk[..=last_newline];
        if !self.pending.is_empty() {
            // The held-back start of a line, completed by this chunk.
            let first_newline = whole.iter().position(|&b| b == b'\n').unwrap_or(0);
            self.pending.extend_from_slice(&whole[..=first_newline]);
            emit(Piece::Lines(&self.pending));
            self.pending.clear();
            self.since = None;
            whole = &whole[first_newline + 1..];
        }
        if !whole.is_empty() {
            emit(Piece::Lines(whole));
        }
        self.hold(&chunk[last_newline + 1..], now, emit);
    }

    fn hold(&mut self, tail: &[u8], now: Instant, emit: &mut dyn FnMut(Piece<'_>)) {
        if tail.is_empty() {
            return;
        }
        if self.pending.is_empty() {
            self.since = Some(now);
        }
        self.pending.extend_from_slice(tail);
        if self.pending.len() >= PARTIAL_LINE_LIMIT {
            self.flush(emit);
        }
    }

    /// Passes on a held-back tail, if any, as a [`Piece::Partial`].
    pub(crate) fn flush(&mut self, emit: &mut dyn FnMut(Piece<'_>)) {
        if !self.pending.is_empty() {
            emit(Piece::Partial(&self.pending));
            self.pending.clear();
        }
        self.since = None;
        if self.pending.capacity() > 4 * PARTIAL_LINE_LIMIT {
            self.pending = Vec::new();
        }
    }

    /// When the held-back tail must be passed on, if there is one.
    pub(crate) fn deadline(&self) -> Option<Instant> {
        self.since.map(|since| since + PARTIAL_LINE_WAIT)
    }

    pub(crate) fn has_pending(&self) -> bool {
        !self.pending.is_empty()
    }
}

/// The last [`RING_CAPACITY`] (or `capacity`) bytes a service wrote, as
/// written (no timestamps, no prefix), and which read brought them. Memory
/// grows with use, up to the capacity: a quiet service costs nothing.
///
/// Arrivals: the caller numbers every push with a count it keeps over all
/// its rings (`runtime/output/sink.rs`: one per push of any service), so the
/// lines of several services can be put in the order svinit received them
/// (`svctl logs web db`). A line's arrival is the one that brought its
/// newline. Each push starts a mark of 16 bytes; at most [`ARRIVAL_MARKS`]
/// are kept (a quarter of the ring): past that the oldest stretch counts
/// as arriving with the next, a little later than it did.
#[derive(Debug)]
pub(crate) struct RingBuffer {
    /// Oldest byte at `data[write..]` then `data[..write]` once full;
    /// `data[..]` in order while it grows (`write == data.len()`).
    data: Vec<u8>,
    write: usize,
    capacity: usize,
    /// Bytes ever pushed: the position just after the newest byte.
    total: u64,
    /// Oldest first: the bytes after the previous mark's `end` up to this
    /// `end` came with arrival `number`.
    arrivals: VecDeque<Arrival>,
    /// The newest arrival whose bytes have all been overwritten (0: none).
    lost: u64,
}

/// Arrival marks a ring keeps: 16 bytes each, 16 KiB in all.
pub(crate) const ARRIVAL_MARKS: usize = 1024;

#[derive(Debug, Clone, Copy)]
struct Arrival {
    end: u64,
    number: u64,
}

/// One line of a ring, without its `\n` (invalid UTF-8 replaced), and the
/// arrival that completed it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct NumberedLine {
    pub(crate) arrival: u64,
    pub(crate) text: String,
}

/// The lines of a ring at one moment (a copy), each with its arrival,
/// oldest first; the text of each is made only when asked for, so that
/// merging many rings costs little for the lines left out.
#[derive(Debug, Clone, Default)]
pub(crate) struct RingLines {
    bytes: Vec<u8>,
    /// Arrival and the line's bytes, without its `\n`.
    lines: Vec<(u64, Range<usize>)>,
}

impl RingLines {
    pub(crate) fn len(&self) -> usize {
        self.lines.len()
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.lines.is_empty()
    }

    pub(crate) fn arrival(&self, index: usize) -> u64 {
        self.lines[index].0
    }

    /// The length of line `index` in bytes.
    pub(crate) fn text_len(&self, index: usize) -> usize {
        self.lines[index].1.len()
    }

    /// Line `index`, invalid UTF-8 replaced.
    pub(crate) fn text(&self, index: usize) -> String {
        String::from_utf8_lossy(&self.bytes[self.lines[index].1.clone()]).into_owned()
    }

    /// The lines from `first` on, with their text.
    pub(crate) fn numbered(&self, first: usize) -> Vec<NumberedLine> {
        (first.min(self.len())..self.len())
            .map(|index| NumberedLine {
                arrival: self.arrival(index),
                text: self.text(index),
            })
            .collect()
    }
}

/// The whole lines that arrived after a given arrival (`svctl logs -f`).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub(crate) struct LinesAfter {
    pub(crate) lines: Vec<NumberedLine>,
    /// Some of them were overwritten before they were asked for (a
    /// follower that fell behind).
    pub(crate) skipped: bool,
}

impl RingBuffer {
    pub(crate) fn new(capacity: usize) -> RingBuffer {
        RingBuffer {
            data: Vec::new(),
            write: 0,
            capacity,
            total: 0,
            arrivals: VecDeque::new(),
            lost: 0,
        }
    }

    #[cfg(test)]
    pub(crate) fn len(&self) -> usize {
        self.data.len()
    }

    #[cfg(test)]
    pub(crate) fn is_empty(&self) -> bool {
        self.data.is_empty()
    }

    #[cfg(test)]
    /// The position just after the newest byte (bytes ever pushed).
    pub(crate) fn end(&self) -> u64 {
        self.total
    }

    /// The position of the oldest byte kept.
    pub(crate) fn start(&self) -> u64 {
        self.total - self.data.len() as u64
    }

    /// The arrival of the newest bytes kept (0: none).
    pub(crate) fn last_arrival(&self) -> u64 {
        self.arrivals.back().map_or(0, |mark| mark.number)
    }

    /// Appends `bytes`, which came with arrival `arrival` (numbers never
    /// go down from one push to the next).
    pub(crate) fn push(&mut self, bytes: &[u8], arrival: u64) {
        let old_start = self.start();
        self.total += bytes.len() as u64;
        if self.capacity == 0 {
            self.lost = self.lost.max(arrival);
            return;
        }
        let mut rest = if bytes.len() > self.capacity {
            &bytes[bytes.len() - self.capacity..]
        } else {
            bytes
        };
        if self.data.len() < self.capacity {
            let grow = (self.capacity - self.data.len()).min(rest.len());
            self.data.extend_from_slice(&rest[..grow]);
            rest = &rest[grow..];
            self.write = self.data.len() % self.capacity;
        }
        while !rest.is_empty() {
            let room = self.capacity - self.write;
            let n = room.min(rest.len());
            self.data[self.write..self.write + n].copy_from_slice(&rest[..n]);
            self.write = (self.write + n) % self.capacity;
            rest = &rest[n..];
        }
        self.mark(arrival, old_start);
    }

    /// Notes that the bytes up to the end came with `arrival`, and which
    /// arrivals the push overwrote (bytes from `old_start` on).
    fn mark(&mut self, arrival: u64, old_start: u64) {
        match self.arrivals.back_mut() {
            Some(last) if last.number == arrival => last.end = self.total,
            _ => self.arrivals.push_back(Arrival {
                end: self.total,
                number: arrival,
            }),
        }
        let start = self.start();
        if start > old_start {
            // The newest byte overwritten is the one just before `start`.
            let newest_lost = self.arrivals.iter().find(|mark| mark.end >= start);
            self.lost = self
                .lost
                .max(newest_lost.map_or(arrival, |mark| mark.number));
        }
        while let Some(oldest) = self.arrivals.front() {
            if oldest.end > start && self.arrivals.len() <= ARRIVAL_MARKS {
                break;
            }
            self.arrivals.pop_front();
        }
    }

    /// The byte at position `at` (which must be kept).
    fn byte_at(&self, at: u64) -> u8 {
        let offset = (at - self.start()) as usize;
        if self.data.len() < self.capacity {
            self.data[offset]
        } else {
            self.data[(self.write + offset) % self.capacity]
        }
    }

    /// A copy of everything from position `from` (clamped to what is kept).
    pub(crate) fn copy_from(&self, from: u64) -> Vec<u8> {
        let skip = from
            .saturating_sub(self.start())
            .min(self.data.len() as u64) as usize;
        let (older, newer) = if self.data.len() < self.capacity {
            (&self.data[..], &self.data[..0])
        } else {
            (&self.data[self.write..], &self.data[..self.write])
        };
        let mut out = Vec::with_capacity(self.data.len() - skip);
        if skip < older.len() {
            out.extend_from_slice(&older[skip..]);
            out.extend_from_slice(newer);
        } else {
            out.extend_from_slice(&newer[skip - older.len()..]);
        }
        out
    }

    #[cfg(test)]
    /// The last `count` lines (all kept lines when `None`), oldest first,
    /// an unterminated last line included. A line cut by the wrap-around is
    /// left out.
    pub(crate) fn last_lines(&self, count: Option<usize>) -> Vec<u8> {
        let all = self.copy_from(self.start());
        let mut begin = 0;
        if self.start() > 0 {
            // The oldest line lost its beginning.
            begin = all
                .iter()
                .position(|&b| b == b'\n')
                .map_or(all.len(), |i| i + 1);
        }
        let body = &all[begin..];
        let Some(count) = count else {
            return body.to_vec();
        };
        if count == 0 {
            return Vec::new();
        }
        // Newlines to pass from the end: the final one ends the last line.
        let mut wanted = count;
        if body.last() == Some(&b'\n') {
            wanted += 1;
        }
        let mut from = 0;
        for (i, &b) in body.iter().enumerate().rev() {
            if b == b'\n' {
                wanted -= 1;
                if wanted == 0 {
                    from = i + 1;
                    break;
                }
            }
        }
        body[from..].to_vec()
    }

    /// The last `count` lines (all kept lines when `None`), oldest first,
    /// each with its arrival. `whole`: without an unterminated last line
    /// (it is not over yet); else it counts as arrived with its last bytes.
    pub(crate) fn numbered_lines(&self, count: Option<usize>, whole: bool) -> Vec<NumberedLine> {
        let lines = self.lines(whole);
        let first = count.map_or(0, |count| lines.len().saturating_sub(count));
        lines.numbered(first)
    }

    /// Every line kept (see [`RingBuffer::numbered_lines`]), text on demand.
    pub(crate) fn lines(&self, whole: bool) -> RingLines {
        self.lines_from(self.start(), whole)
    }

    /// The whole lines that arrived after arrival `after`, oldest first. An
    /// unterminated last line waits for its newline.
    pub(crate) fn lines_after(&self, after: u64) -> LinesAfter {
        let skipped = self.lost > after;
        let Some(first_new) = self.arrivals.iter().position(|mark| mark.number > after) else {
            return LinesAfter {
                lines: Vec::new(),
                skipped,
            };
        };
        let new_from = match first_new {
            0 => self.start(),
            i => self.arrivals[i - 1].end,
        };
        // The line the new bytes complete began earlier.
        let mut line_start = new_from;
        while line_start > self.start() && self.byte_at(line_start - 1) != b'\n' {
            line_start -= 1;
        }
        let lines = self.lines_from(line_start, true);
        let first = lines
            .lines
            .partition_point(|(arrival, _)| *arrival <= after);
        LinesAfter {
            lines: lines.numbered(first),
            skipped,
        }
    }

    /// The lines from position `from` (a line start, or the oldest byte
    /// kept: then a line cut by the wrap-around is left out) with the
    /// arrival of their newline.
    fn lines_from(&self, from: u64, whole: bool) -> RingLines {
        let base = from.max(self.start());
        let bytes = self.copy_from(base);
        let mut begin = 0;
        if base == self.start() && base > 0 {
            begin = bytes
                .iter()
                .position(|&b| b == b'\n')
                .map_or(bytes.len(), |i| i + 1);
        }
        let mut marks = self.arrivals.iter().peekable();
        let mut arrival_at = |at: u64| {
            while marks.next_if(|mark| mark.end <= at).is_some() {}
            marks.peek().map_or(self.last_arrival(), |mark| mark.number)
        };
        let mut lines = Vec::new();
        for (i, &byte) in bytes.iter().enumerate().skip(begin) {
            if byte == b'\n' {
                lines.push((arrival_at(base + i as u64), begin..i));
                begin = i + 1;
            }
        }
        if !whole && begin < bytes.len() {
            lines.push((self.last_arrival(), begin..bytes.len()));
        }
        RingLines { bytes, lines }
    }
}

#[cfg(test)]
/// Lines of `bytes` without their `\n`, invalid UTF-8 replaced. A final
/// `\n` does not start an empty line.
pub(crate) fn split_lines(bytes: &[u8]) -> Vec<String> {
    let bytes = bytes.strip_suffix(b"\n").unwrap_or(bytes);
    if bytes.is_empty() {
        return Vec::new();
    }
    bytes
        .split(|&b| b == b'\n')
        .map(|line| String::from_utf8_lossy(line).into_owned())
        .collect()
}

/// Appends `NAME | line\n` for each line of `piece` to `out`; a partial
/// line gets its `\n` too (the console is shared, so it cannot wait).
pub(crate) fn prefix_lines(name: &str, piece: Piece<'_>, out: &mut Vec<u8>) {
    let bytes = match piece {
        Piece::Lines(bytes) | Piece::Partial(bytes) => bytes,
    };
    let bytes = bytes.strip_suffix(b"\n").unwrap_or(bytes);
    for line in bytes.split(|&b| b == b'\n') {
        out.reserve(name.len() + 4 + line.len());
        out.extend_from_slice(name.as_bytes());
        out.extend_from_slice(b" | ");
        out.extend_from_slice(line);
        out.push(b'\n');
    }
}

/// `2024-05-01T12:34:56.789Z`: RFC 3339, UTC, milliseconds. Times before
/// 1970 show as the epoch.
pub(crate) fn rfc3339_millis(time: SystemTime) -> String {
    let since = time.duration_since(UNIX_EPOCH).unwrap_or_default();
    let secs = since.as_secs();
    let millis = since.subsec_millis();
    let days = (secs / 86_400) as i64;
    let rem = secs % 86_400;
    let (year, month, day) = civil_from_days(days);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}.{millis:03}Z",
        rem / 3600,
        rem / 60 % 60,
        rem % 60
    )
}

/// Days since 1970-01-01 to (year, month, day) in the proleptic Gregorian
/// calendar (Howard Hinnant's `civil_from_days`).
fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let month = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let year = yoe + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

/// `PATH.N`: the name of the `n`th rotated file, `.1` being the newest.
pub(crate) fn rotated_path(path: &Path, n: u32) -> PathBuf {
    let mut name = path.as_os_str().to_owned();
    name.push(format!(".{n}"));
    PathBuf::from(name)
}

/// After a failure the transcript is opened again when output comes, at
/// most this often.
pub(crate) const TRANSCRIPT_RETRY: Duration = Duration::from_secs(1);

/// A service's transcript: `PATH` opened as an untrusted path for appending
/// (`crate::untrusted`: no symlink followed, never blocking, a regular file
/// with one link or a character device), created mode 0640 (less svinit's
/// umask), owned by svinit's user; the parent directory must exist.
///
/// A failure (cannot open, write error) closes it and makes it the
/// problem; the lines that do not reach the file are counted
/// ([`TranscriptFile::dropped`]). It is opened again lazily: by the first
/// output at least [`TRANSCRIPT_RETRY`] after the failure (no timer, so no
/// idle wakeup), and the problem is gone once a write succeeds again
/// ([`TranscriptFile::take_recovery`]). A character device is written
/// without blocking: what it does not take (EAGAIN) is dropped and counted,
/// and it is never rotated.
#[derive(Debug)]
pub(crate) struct TranscriptFile {
    config: Transcript,
    file: Option<File>,
    /// The open file is a character device.
    device: bool,
    /// Bytes in the current file (its size at open, plus what we wrote).
    size: u64,
    /// Why output is not reaching the file, while it is not.
    problem: Option<String>,
    /// A problem not yet reported by `take_new_problem`.
    new_problem: bool,
    /// Closed after a failure: the earliest moment to open it again.
    retry_at: Option<Instant>,
    /// Opened again by a retry: the problem stays until a write succeeds.
    retried: bool,
    /// Lines that did not reach the file.
    dropped: u64,
    /// `dropped` when the current problem arose.
    dropped_before_problem: u64,
    /// The lines dropped during a problem that has ended, not yet reported
    /// by `take_recovery`.
    recovered: Option<u64>,
    /// The last byte written ended a line (so the next gets a timestamp).
    at_line_start: bool,
    scratch: Vec<u8>,
}

impl TranscriptFile {
    /// Opens the file; a failure is recorded as the problem.
    pub(crate) fn open(config: Transcript) -> TranscriptFile {
        let mut transcript = TranscriptFile {
            config,
            file: None,
            device: false,
            size: 0,
            problem: None,
            new_problem: false,
            retry_at: None,
            retried: false,
            dropped: 0,
            dropped_before_problem: 0,
            recovered: None,
            at_line_start: true,
            scratch: Vec::new(),
        };
        let _ = transcript.reopen();
        transcript
    }

    pub(crate) fn config(&self) -> &Transcript {
        &self.config
    }

    pub(crate) fn is_open(&self) -> bool {
        self.file.is_some()
    }

    /// Why output does not reach the file, while it does not.
    pub(crate) fn problem(&self) -> Option<&str> {
        self.problem.as_deref()
    }

    /// Lines of output that did not reach the file, since it was set up.
    pub(crate) fn dropped(&self) -> u64 {
        self.dropped
    }

    /// The problem that arose since the last call, once (to log it).
    pub(crate) fn take_new_problem(&mut self) -> Option<String> {
        if !std::mem::take(&mut self.new_problem) {
            return None;
        }
        self.problem.clone()
    }

    /// Output reaches the file again after a problem: how many lines were
    /// dropped meanwhile, once (to log it).
    pub(crate) fn take_recovery(&mut self) -> Option<u64> {
        self.recovered.take()
    }

    /// Closes the file and opens `PATH` again (after it was renamed away,
    /// or to retry after a failure). Bytes already written are in the old
    /// file; nothing is lost or written twice.
    pub(crate) fn reopen(&mut self) -> Result<(), String> {
        match self.open_file() {
            Ok(()) => {
                self.recover();
                Ok(())
            }
            Err(message) => Err(self.fail(message)),
        }
    }

    fn open_file(&mut self) -> Result<(), String> {
        self.file = None;
        let opened = open_untrusted(&self.config.path, Purpose::Append)
            .map_err(|problem| format!("transcript {}: {problem}", self.config.path.display()))?;
        self.device = opened.kind == FileKind::CharDevice;
        self.size = opened.size;
        self.file = Some(opened.file);
        self.at_line_start = true;
        Ok(())
    }

    /// Output reaches the file: the problem, if any, is over (reported
    /// when it cost lines: a failed rotation, say, cost none).
    fn recover(&mut self) {
        let lost = self.dropped - self.dropped_before_problem;
        if self.problem.take().is_some() && lost > 0 {
            self.recovered = Some(lost);
        }
        self.new_problem = false;
        self.retry_at = None;
        self.retried = false;
    }

    /// Records `message` as the problem and closes the file until the
    /// retry.
    fn fail(&mut self, message: String) -> String {
        self.file = None;
        self.retried = false;
        self.retry_at = Some(Instant::now() + TRANSCRIPT_RETRY);
        self.set_problem(message.clone());
        message
    }

    fn set_problem(&mut self, message: String) {
        if self.problem.is_none() {
            self.dropped_before_problem = self.dropped;
        }
        if self.problem.as_deref() != Some(&message) {
            self.new_problem = true;
        }
        self.problem = Some(message);
    }

    /// Appends `piece`, with timestamps (of `wall`) if configured, rotating
    /// first when `max-size` would be passed. While the file is closed by a
    /// failure it is opened again first if its retry is due at `now`;
    /// otherwise the piece is dropped and counted.
    pub(crate) fn write(&mut self, piece: Piece<'_>, now: Instant, wall: SystemTime) {
        let (bytes, ends_line) = match piece {
            Piece::Lines(bytes) => (bytes, true),
            Piece::Partial(bytes) => (bytes, false),
        };
        if self.file.is_none() && self.retry_at.is_none_or(|at| at <= now) {
            match self.open_file() {
                Ok(()) => self.retried = true,
                Err(message) => {
                    self.fail(message);
                }
            }
        }
        if self.file.is_none() {
            self.dropped += count_line_starts(bytes, self.at_line_start);
        } else if self.config.timestamps {
            let mut stamped = std::mem::take(&mut self.scratch);
            stamped.clear();
            stamp_lines(
                bytes,
                self.at_line_start,
                &rfc3339_millis(wall),
                &mut stamped,
            );
            self.write_rotating(&stamped, self.at_line_start);
            if stamped.capacity() <= 1 << 20 {
                self.scratch = stamped;
            }
        } else {
            self.write_rotating(bytes, self.at_line_start);
        }
        self.at_line_start = ends_line;
    }

    /// Writes `bytes`, cutting at line boundaries to rotate before the file
    /// would pass `max-size`. A single line longer than `max-size` is
    /// written whole into a file of its own; so is a line that finds the
    /// file just rotated to still full (rotation never loops). What cannot
    /// be written is dropped and counted (`at_line_start`: `bytes` starts a
    /// line).
    fn write_rotating(&mut self, bytes: &[u8], at_line_start: bool) {
        let mut rest = bytes;
        let mut just_rotated = false;
        while !rest.is_empty() && self.file.is_some() {
            let room = match self.config.max_size {
                Some(max) if !self.device => max.saturating_sub(self.size),
                _ => u64::MAX,
            };
            let (cut, rotate_after) = if rest.len() as u64 <= room {
                (rest.len(), false)
            } else {
                match rest[..room as usize].iter().rposition(|&b| b == b'\n') {
                    Some(i) => (i + 1, true),
                    None if self.size > 0 && !just_rotated => {
                        self.rotate();
                        just_rotated = true;
                        continue;
                    }
                    None => (
                        rest.iter()
                            .position(|&b| b == b'\n')
                            .map_or(rest.len(), |i| i + 1),
                        false,
                    ),
                }
            };
            let written = self.write_raw(&rest[..cut]);
            rest = &rest[written..];
            if written < cut {
                break;
            }
            just_rotated = rotate_after;
            if rotate_after {
                self.rotate();
            }
        }
        if !rest.is_empty() {
            let offset = bytes.len() - rest.len();
            let starts_line = match offset {
                0 => at_line_start,
                _ => bytes[offset - 1] == b'\n',
            };
            self.dropped += count_line_starts(rest, starts_line);
        }
    }

    /// write(2) until done; returns how much was written. A device that
    /// would block takes no more (the rest is dropped); an error closes the
    /// file.
    fn write_raw(&mut self, bytes: &[u8]) -> usize {
        let Some(file) = &self.file else {
            return 0;
        };
        let mut written = 0;
        let error = loop {
            if written == bytes.len() {
                break None;
            }
            match nix::unistd::write(file, &bytes[written..]) {
                Ok(0) => break Some(io::Error::from(io::ErrorKind::WriteZero)),
                Ok(n) => written += n,
                Err(nix::errno::Errno::EINTR) => {}
                Err(nix::errno::Errno::EAGAIN) => break None,
                Err(errno) => break Some(io::Error::from(errno)),
            }
        };
        if !self.device {
            self.size += written as u64;
        }
        if written > 0 && self.retried {
            self.recover();
        }
        if let Some(err) = error {
            self.fail(format!(
                "transcript {}: write failed: {}",
                self.config.path.display(),
                describe(&err)
            ));
        }
        written
    }

    /// `PATH.keep-1` → `PATH.keep` … `PATH` → `PATH.1`, then a new `PATH`.
    /// With `keep=0` the full file is removed. (rename and unlink act on
    /// a symlink itself, never on what it points to.)
    pub(crate) fn rotate(&mut self) {
        let path = self.config.path.clone();
        let keep = self.config.keep;
        let moved = if keep == 0 {
            std::fs::remove_file(&path)
        } else {
            for n in (1..keep).rev() {
                let _ = std::fs::rename(rotated_path(&path, n), rotated_path(&path, n + 1));
            }
            std::fs::rename(&path, rotated_path(&path, 1))
        };
        match moved {
            Ok(()) => {
                let _ = self.reopen();
            }
            Err(err) if err.kind() == io::ErrorKind::NotFound => {
                // Renamed away by someone else meanwhile: start a new file.
                let _ = self.reopen();
            }
            Err(err) => {
                // Keep appending to the full file rather than lose output.
                self.set_problem(format!(
                    "transcript {}: cannot rotate: {}",
                    path.display(),
                    describe(&err)
                ));
                self.size = 0;
            }
        }
    }
}

/// `1 line dropped`, `12 lines dropped`: for the log and `svctl status`.
pub fn lines_dropped_text(count: u64) -> String {
    match count {
        1 => "1 line dropped".to_string(),
        n => format!("{n} lines dropped"),
    }
}

/// How many lines start in `bytes` (the first byte starts one when
/// `at_line_start`): the lines a dropped piece costs, a line cut in two
/// counted once.
fn count_line_starts(bytes: &[u8], at_line_start: bool) -> u64 {
    let Some((_, body)) = bytes.split_last() else {
        return 0;
    };
    let inner = body.iter().filter(|&&b| b == b'\n').count() as u64;
    inner + u64::from(at_line_start)
}

/// An error as people read it: "No space left on device", without Rust's
/// "(os error 28)".
pub(crate) fn describe(err: &io::Error) -> String {
    match err.raw_os_error() {
        Some(errno) => nix::errno::Errno::from_raw(errno).desc().to_string(),
        None => err.to_string(),
    }
}

/// Copies `bytes` to `out`, putting `stamp` and a space before each line
/// that starts in it (the first only when `at_line_start`).
fn stamp_lines(bytes: &[u8], at_line_start: bool, stamp: &str, out: &mut Vec<u8>) {
    let mut line_start = at_line_start;
    for segment in bytes.split_inclusive(|&b| b == b'\n') {
        if line_start {
            out.extend_from_slice(stamp.as_bytes());
            out.push(b' ');
        }
        out.extend_from_slice(segment);
        line_start = segment.last() == Some(&b'\n');
    }
}

#[cfg(test)]
mod tests;
