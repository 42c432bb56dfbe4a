//! Service output on the loop: one pipe per service for its stdout and
//! stderr, read non-blockingly and fed to the sinks of `crate::transcript`
//! (a transcript file, or `NAME | line` on svinit's stdout through
//! `crate::console`, which never blocks, and always the ring buffer behind
//! `svctl logs`).
//!
//! Decisions:
//! - One pipe per service carries stdout and stderr together (their order
//!   is kept). It is made at the service's first spawn and **kept across
//!   restarts** (like s6): svinit holds both ends, so output written
//!   between two runs, or by a leftover child of an old run, is never lost,
//!   and no EOF is needed to know a run ended. It is closed when the
//!   service is forgotten (removed by a reload and stopped) or when a
//!   reload switches it to `inherit`, `null` or `tty`. Both ends are
//!   CLOEXEC in svinit (and `spawn` closes every fd it was not asked for),
//!   the read end is O_NONBLOCK, the service's end stays blocking.
//! - Reads are bounded: at most [`READ_BUDGET`] bytes per service per loop
//!   iteration, services taken round-robin; a service with more to read is
//!   queued again and the loop polls with a zero timeout, so signals, the
//!   control socket and other services get their turn between two reads.
//! - An unterminated line is held at most [`PARTIAL_LINE_WAIT`] or
//!   [`PARTIAL_LINE_LIMIT`] bytes, and passed on when its service exits;
//!   `poll_timeout` gives the loop the earliest such deadline (none when
//!   nothing is held: no idle wakeups).
//! - Config changes (transcript path, size, mode) apply at the next spawn,
//!   like every other key. A broken transcript (cannot open, write error)
//!   is retried at each spawn, at each reopen, and by itself: the first
//!   output at least a second after the failure opens it again
//!   (`TranscriptFile::write`). Lazily, so a broken transcript costs no
//!   timer and no idle wakeup; until then lines are dropped from it (still
//!   in the ring buffer) and counted (`output_dropped` of `svctl status`).
//!   The end of a problem is logged with the count.
//! - Every push to a ring buffer gets the next number of one count over all
//!   services (`Shared::arrivals`): `svctl logs` of several services puts
//!   their lines in the order svinit read them, and `logs -f` follows all
//!   its services from one number (see `RingBuffer`).
//! - `output "syslog"` (see `syslog.rs`): stdout and stderr need their own
//!   pipes there (stderr is sent at a higher priority), so a syslog service
//!   gets a second kept pipe for its stderr; other services keep one pipe
//!   (fd cost: two per service, four per syslog service). The ring buffer
//!   of a syslog service gets whole lines from both streams, interleaved
//!   at line boundaries. When syslog cannot be reached the reason is the
//!   service's `output_problem` and its lines are only in the ring buffer.

use std::collections::{HashMap, HashSet, VecDeque};
use std::os::fd::{AsFd, AsRawFd, OwnedFd};
use std::time::{Instant, SystemTime};

use mio::unix::SourceFd;
use mio::{Interest, Registry};

use super::tokens::Source;
use nix::errno::Errno;
use nix::fcntl::{FcntlArg, OFlag, fcntl};

use crate::config::{OutputMode, ServiceConfig, Transcript};
use crate::spawn::Stdio;
use crate::supervisor::ServiceId;
use crate::transcript::{
    LineBuffer, LinesAfter, NumberedLine, Piece, RING_CAPACITY, RingBuffer, RingLines,
    TranscriptFile, lines_dropped_text, prefix_lines,
};
use crate::{info, warn};

pub use crate::transcript::{PARTIAL_LINE_LIMIT, PARTIAL_LINE_WAIT};

use super::slab::Slab;
use super::syslog::{Stream, SyslogClient};

/// Bytes read from one service per loop iteration.
pub const READ_BUDGET: usize = 64 * 1024;
/// Bytes read from each service when svinit exits, before the last flush.
const FINAL_DRAIN: usize = 1 << 20;

/// Where a service's output goes besides its ring buffer.
#[derive(Debug)]
enum Sink {
    /// `NAME | line` on svinit's stdout.
    Prefix,
    Transcript(TranscriptFile),
    /// Each line to syslog (`Output::syslog`), stderr at `err`.
    Syslog,
}

/// What a service's config asks for.
#[derive(Debug, Clone, PartialEq)]
enum Wanted {
    /// No pipe: the fd given to the child as is (`inherit`, `null`, `tty`).
    Direct(DirectKind),
    Prefix,
    Transcript(Transcript),
    Syslog,
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum DirectKind {
    Inherit,
    Null,
}

/// Whether `config` has svinit capture the service's output (into its
/// ring buffer, for `svctl logs`): not `inherit`, `null` or a `tty`.
pub fn captures(config: &ServiceConfig) -> bool {
    !matches!(wanted(config), Wanted::Direct(_))
}

fn wanted(config: &ServiceConfig) -> Wanted {
    if config.tty.is_some() {
        // spawn puts the terminal on 0, 1 and 2 whatever it is given.
        return Wanted::Direct(DirectKind::Inherit);
    }
    if let Some(transcript) = &config.transcript {
        return Wanted::Transcript(transcript.clone());
    }
    match config.output {
        OutputMode::Prefix => Wanted::Prefix,
        OutputMode::Syslog => Wanted::Syslog,
        OutputMode::Inherit => Wanted::Direct(DirectKind::Inherit),
        OutputMode::Null => Wanted::Direct(DirectKind::Null),
    }
}

/// One captured service.
#[derive(Debug)]
struct ServicePipe {
    service: ServiceId,
    name: String,
    read: OwnedFd,
    /// Given to every run as fds 1 and 2; kept so the pipe outlives runs.
    write: OwnedFd,
    lines: LineBuffer,
    /// Syslog only: stderr's own pipe.
    err: Option<ErrPipe>,
    /// The current run's pid (the syslog tag's `[PID]`).
    pid: Option<i32>,
    ring: RingBuffer,
    sink: Sink,
    /// In `Output::ready`.
    queued: bool,
    /// Its process exited: pass the held-back tail on once drained.
    flush_when_drained: bool,
}

/// A syslog service's stderr: a second kept pipe.
#[derive(Debug)]
struct ErrPipe {
    read: OwnedFd,
    write: OwnedFd,
    lines: LineBuffer,
}

impl ServicePipe {
    /// When its oldest held-back line (of either stream) is due.
    fn deadline(&self) -> Option<Instant> {
        let err = self.err.as_ref().and_then(|err| err.lines.deadline());
        match (self.lines.deadline(), err) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    fn has_pending(&self) -> bool {
        self.lines.has_pending() || self.err.as_ref().is_some_and(|e| e.lines.has_pending())
    }
}

/// What the sinks share: the console buffer, the syslog sender and the
/// count of arrivals.
struct Shared {
    console: Vec<u8>,
    syslog: SyslogClient,
    /// Every push to any ring buffer gets the next number: `svctl logs`
    /// of several services puts their lines in this order.
    arrivals: u64,
}

/// Every captured service's pipe and sinks.
pub struct Output {
    pipes: Slab<ServicePipe>,
    by_service: HashMap<ServiceId, usize>,
    /// Services with (maybe) more to read, in turn order.
    ready: VecDeque<usize>,
    /// Services holding an unterminated line.
    holding: HashSet<usize>,
    /// Services whose direct output is `null`/`inherit` (remembered so
    /// `stdio` can answer after `prepare`).
    direct: HashMap<ServiceId, DirectKind>,
    scratch: Vec<u8>,
    shared: Shared,
}

/// The outcome of reading one service.
enum Drain {
    /// EAGAIN: nothing left for now.
    Empty,
    /// The budget ran out with data maybe left.
    More,
}

impl Default for Output {
    fn default() -> Self {
        Output::new()
    }
}

impl Output {
    pub fn new() -> Output {
        Output {
            pipes: Slab::new(),
            by_service: HashMap::new(),
            ready: VecDeque::new(),
            holding: HashSet::new(),
            direct: HashMap::new(),
            scratch: vec![0; READ_BUDGET],
            shared: Shared {
                console: Vec::new(),
                syslog: SyslogClient::from_env(),
                arrivals: 0,
            },
        }
    }

    /// Before spawning `service`: makes its output match `config` (a pipe
    /// made, kept, or closed; a transcript opened, changed or retried).
    /// Then [`Output::stdio`] says what the child gets on fds 1 and 2.
    pub fn prepare(&mut self, registry: &Registry, service: ServiceId, config: &ServiceConfig) {
        let wanted = wanted(config);
        let kind = match &wanted {
            Wanted::Direct(kind) => Some(*kind),
            Wanted::Prefix | Wanted::Transcript(_) | Wanted::Syslog => None,
        };
        let Some(kind) = kind else {
            self.direct.remove(&service);
            self.prepare_pipe(registry, service, config, wanted);
            return;
        };
        self.direct.insert(service, kind);
        if let Some(slot) = self.by_service.get(&service).copied() {
            self.close(registry, slot);
        }
    }

    fn prepare_pipe(
        &mut self,
        registry: &Registry,
        service: ServiceId,
        config: &ServiceConfig,
        wanted: Wanted,
    ) {
        if let Some(&slot) = self.by_service.get(&service) {
            if let Some(pipe) = self.pipes.get_mut(slot) {
                pipe.name.clone_from(&config.name);
                let same = match (&pipe.sink, &wanted) {
                    (Sink::Prefix, Wanted::Prefix) | (Sink::Syslog, Wanted::Syslog) => true,
                    (Sink::Transcript(file), Wanted::Transcript(new)) => file.config() == new,
                    _ => false,
                };
                if same {
                    if let Sink::Transcript(file) = &mut pipe.sink
                        && !file.is_open()
                    {
                        let _ = file.reopen();
                    }
                } else {
                    // Pass what is held to the old sink first.
                    flush_pipe(pipe, &mut self.shared);
                    self.holding.remove(&slot);
                    pipe.sink = open_sink(&wanted);
                    set_err_pipe(registry, slot, pipe, wanted == Wanted::Syslog);
                }
                report_problem(pipe);
            }
            return;
        }
        let pipe = match make_pipe() {
            Ok(pipe) => pipe,
            Err(err) => {
                // Without a pipe the service still runs, on svinit's stdout.
                warn!(&config.name, "cannot make an output pipe: {err}");
                return;
            }
        };
        let (read, write) = pipe;
        let mut service_pipe = ServicePipe {
            service,
            name: config.name.clone(),
            read,
            write,
            lines: LineBuffer::new(),
            err: None,
            pid: None,
            ring: RingBuffer::new(RING_CAPACITY),
            sink: open_sink(&wanted),
            queued: false,
            flush_when_drained: false,
        };
        report_problem(&mut service_pipe);
        let raw = service_pipe.read.as_raw_fd();
        let slot = self.pipes.insert(service_pipe);
        if let Err(err) = registry.register(
            &mut SourceFd(&raw),
            Source::Output(slot).token(),
            Interest::READABLE,
        ) {
            warn!(&config.name, "cannot watch the output pipe: {err}");
            self.pipes.remove(slot);
            return;
        }
        if let Some(pipe) = self.pipes.get_mut(slot) {
            set_err_pipe(registry, slot, pipe, wanted == Wanted::Syslog);
        }
        self.by_service.insert(service, slot);
    }

    /// The child of `service` is `pid` (the tag of its syslog lines).
    pub fn spawned(&mut self, service: ServiceId, pid: i32) {
        if let Some(pipe) = self
            .by_service
            .get(&service)
            .and_then(|&slot| self.pipes.get_mut(slot))
        {
            pipe.pid = Some(pid);
        }
    }

    /// What the child of `service` gets as stderr: its own pipe for a
    /// syslog service, else the same as stdout.
    pub fn stderr(&self, service: ServiceId) -> Stdio<'_> {
        match self
            .by_service
            .get(&service)
            .and_then(|&slot| self.pipes.get(slot))
            .and_then(|pipe| pipe.err.as_ref())
        {
            Some(err) => Stdio::Fd(err.write.as_fd()),
            None => self.stdio(service),
        }
    }

    /// What the child of `service` gets as stdout and stderr (after
    /// [`Output::prepare`]).
    pub fn stdio(&self, service: ServiceId) -> Stdio<'_> {
        if let Some(kind) = self.direct.get(&service) {
            return match kind {
                DirectKind::Inherit => Stdio::Inherit,
                DirectKind::Null => Stdio::Null,
            };
        }
        match self
            .by_service
            .get(&service)
            .and_then(|&slot| self.pipes.get(slot))
        {
            Some(pipe) => Stdio::Fd(pipe.write.as_fd()),
            None => Stdio::Inherit,
        }
    }

    /// A pipe of the service in `slot` is readable: it gets its turn in
    /// `pump`.
    pub fn readable(&mut self, slot: usize) {
        self.enqueue(slot);
    }

    fn enqueue(&mut self, slot: usize) {
        if let Some(pipe) = self.pipes.get_mut(slot)
            && !pipe.queued
        {
            pipe.queued = true;
            self.ready.push_back(slot);
        }
    }

    /// After a panic in the loop, whose readiness events are lost: every
    /// pipe gets its turn again, whatever it was doing.
    pub fn read_every_pipe(&mut self) {
        self.ready.clear();
        let slots: Vec<usize> = self.by_service.values().copied().collect();
        for &slot in &slots {
            if let Some(pipe) = self.pipes.get_mut(slot) {
                pipe.queued = false;
            }
        }
        for slot in slots {
            self.enqueue(slot);
        }
    }

    /// One round: every queued service reads up to [`READ_BUDGET`]; those
    /// with more wait for the next round.
    pub fn pump(&mut self) {
        for _ in 0..self.ready.len() {
            let Some(slot) = self.ready.pop_front() else {
                break;
            };
            match self.read_some(slot, READ_BUDGET) {
                Drain::More => self.ready.push_back(slot),
                Drain::Empty => {
                    if let Some(pipe) = self.pipes.get_mut(slot) {
                        pipe.queued = false;
                    }
                }
            }
        }
    }

    /// The earliest moment the loop must call back: now when services
    /// have more to read, else when the oldest held-back line is due.
    pub fn poll_timeout(&self) -> Option<Instant> {
        if !self.ready.is_empty() {
            return Some(Instant::now());
        }
        self.holding
            .iter()
            .filter_map(|&slot| self.pipes.get(slot))
            .filter_map(ServicePipe::deadline)
            .min()
    }

    /// Passes on every held-back line whose wait is over.
    pub fn handle_timeout(&mut self, now: Instant) {
        if self.holding.is_empty() {
            return;
        }
        let due: Vec<usize> = self
            .holding
            .iter()
            .copied()
            .filter(|&slot| {
                self.pipes
                    .get(slot)
                    .and_then(ServicePipe::deadline)
                    .is_some_and(|deadline| deadline <= now)
            })
            .collect();
        for slot in due {
            self.holding.remove(&slot);
            if let Some(pipe) = self.pipes.get_mut(slot) {
                flush_pipe(pipe, &mut self.shared);
            }
        }
    }

    /// `service`'s process was reaped: read what it left (one budget now,
    /// the rest in later rounds) and pass on its unterminated last line.
    pub fn process_exited(&mut self, service: ServiceId) {
        let Some(&slot) = self.by_service.get(&service) else {
            return;
        };
        if let Some(pipe) = self.pipes.get_mut(slot) {
            pipe.flush_when_drained = true;
        }
        if let Drain::More = self.read_some(slot, READ_BUDGET) {
            self.enqueue(slot);
        }
    }

    /// Before svinit exits: reads what is left (bounded) and passes on
    /// every held-back line.
    pub fn finish(&mut self) {
        let slots: Vec<usize> = self.by_service.values().copied().collect();
        for slot in slots {
            let _ = self.read_some(slot, FINAL_DRAIN);
            if let Some(pipe) = self.pipes.get_mut(slot) {
                flush_pipe(pipe, &mut self.shared);
            }
        }
        self.holding.clear();
    }

    /// `service` is gone for good: its pipe and transcript are closed.
    pub fn forget(&mut self, registry: &Registry, service: ServiceId) {
        self.direct.remove(&service);
        if let Some(slot) = self.by_service.get(&service).copied() {
            self.close(registry, slot);
        }
    }

    /// Forgets every captured service for which `is_gone` holds.
    pub fn forget_gone(&mut self, registry: &Registry, is_gone: impl Fn(ServiceId) -> bool) {
        let gone: Vec<ServiceId> = self
            .by_service
            .keys()
            .chain(self.direct.keys())
            .copied()
            .filter(|&id| is_gone(id))
            .collect();
        for service in gone {
            self.forget(registry, service);
        }
    }

    fn close(&mut self, registry: &Registry, slot: usize) {
        let _ = self.read_some(slot, READ_BUDGET);
        let Some(mut pipe) = self.pipes.remove(slot) else {
            return;
        };
        flush_pipe(&mut pipe, &mut self.shared);
        let _ = registry.deregister(&mut SourceFd(&pipe.read.as_raw_fd()));
        if let Some(err) = &pipe.err {
            let _ = registry.deregister(&mut SourceFd(&err.read.as_raw_fd()));
        }
        self.by_service.remove(&pipe.service);
        self.holding.remove(&slot);
        self.ready.retain(|&queued| queued != slot);
    }

    /// Closes and opens again the transcript of `service` (`svctl reopen`).
    /// `Ok` for a service without a transcript (nothing to do). A failure
    /// is the status problem from then on; the caller reports it.
    pub fn reopen(&mut self, service: ServiceId) -> Result<(), String> {
        let Some(pipe) = self
            .by_service
            .get(&service)
            .and_then(|&slot| self.pipes.get_mut(slot))
        else {
            return Ok(());
        };
        let Sink::Transcript(file) = &mut pipe.sink else {
            return Ok(());
        };
        // Lines already read went to the old file: none lost, none twice.
        // The caller reports a failure; it is not logged again here.
        let result = file.reopen();
        let _ = file.take_new_problem();
        result
    }

    /// Reopens every transcript; the errors, by service.
    pub fn reopen_all(&mut self) -> Vec<(ServiceId, String)> {
        let services: Vec<ServiceId> = self.by_service.keys().copied().collect();
        services
            .into_iter()
            .filter_map(|service| self.reopen(service).err().map(|err| (service, err)))
            .collect()
    }

    /// Lines of `service`'s output that did not reach its transcript
    /// (`output_dropped` of `svctl status`).
    pub fn dropped_lines(&self, service: ServiceId) -> u64 {
        match self.pipe(service).map(|pipe| &pipe.sink) {
            Some(Sink::Transcript(file)) => file.dropped(),
            _ => 0,
        }
    }

    /// Why `service`'s output does not reach its transcript, while it does
    /// not (`output_problem` of `svctl status`).
    pub fn status_problem(&self, service: ServiceId) -> Option<String> {
        let pipe = self.pipe(service)?;
        match &pipe.sink {
            Sink::Transcript(file) => file.problem().map(str::to_string),
            Sink::Syslog => self.shared.syslog.problem().map(str::to_string),
            Sink::Prefix => None,
        }
    }

    /// `svctl logs`: the last `lines` lines (all kept when `None`), oldest
    /// first, each with its arrival; `whole`: without an unterminated last
    /// line. `None` when `service`'s output is not captured (`inherit`,
    /// `null`, `tty`, or it has not run yet).
    pub fn recent_lines(
        &self,
        service: ServiceId,
        lines: Option<usize>,
        whole: bool,
    ) -> Option<Vec<NumberedLine>> {
        Some(self.pipe(service)?.ring.numbered_lines(lines, whole))
    }

    /// Every line of `service` kept now, text on demand (see
    /// [`Output::recent_lines`]).
    pub fn ring_lines(&self, service: ServiceId, whole: bool) -> Option<RingLines> {
        Some(self.pipe(service)?.ring.lines(whole))
    }

    /// The number of the latest arrival, of any service: `svctl logs -f`
    /// follows what comes after it.
    pub fn last_arrival(&self) -> u64 {
        self.shared.arrivals
    }

    /// The whole lines of `service` that arrived after arrival `after`.
    /// Cheap when nothing is new: callers may ask every loop iteration.
    /// `None` when its output is not captured (now).
    pub fn lines_after(&self, service: ServiceId, after: u64) -> Option<LinesAfter> {
        let ring = &self.pipe(service)?.ring;
        if ring.last_arrival() <= after {
            return Some(LinesAfter::default());
        }
        Some(ring.lines_after(after))
    }

    /// The name of `service` when its output is captured now.
    pub fn captured_name(&self, service: ServiceId) -> Option<&str> {
        Some(self.pipe(service)?.name.as_str())
    }

    /// The services whose output is captured now, with their names.
    pub fn captured(&self) -> impl Iterator<Item = (ServiceId, &str)> + '_ {
        self.by_service.iter().filter_map(|(&service, &slot)| {
            self.pipes
                .get(slot)
                .map(|pipe| (service, pipe.name.as_str()))
        })
    }

    fn pipe(&self, service: ServiceId) -> Option<&ServicePipe> {
        self.by_service
            .get(&service)
            .and_then(|&slot| self.pipes.get(slot))
    }

    /// Reads up to `budget` bytes of `slot`'s pipes into its sinks
    /// (stderr's own pipe first, when it has one).
    fn read_some(&mut self, slot: usize, budget: usize) -> Drain {
        let Some(pipe) = self.pipes.get_mut(slot) else {
            return Drain::Empty;
        };
        let now = Instant::now();
        let mut left = budget;
        let mut drained = true;
        if pipe.err.is_some() {
            drained &= read_stream(
                pipe,
                Stream::Stderr,
                &mut left,
                &mut self.scratch,
                now,
                &mut self.shared,
            );
        }
        drained &= read_stream(
            pipe,
            Stream::Stdout,
            &mut left,
            &mut self.scratch,
            now,
            &mut self.shared,
        );
        if drained && pipe.flush_when_drained {
            pipe.flush_when_drained = false;
            flush_pipe(pipe, &mut self.shared);
        }
        if pipe.has_pending() {
            self.holding.insert(slot);
        } else {
            self.holding.remove(&slot);
        }
        if drained { Drain::Empty } else { Drain::More }
    }
}

/// Reads one of `pipe`'s streams until EAGAIN or `left` runs out; whether
/// it was drained.
fn read_stream(
    pipe: &mut ServicePipe,
    stream: Stream,
    left: &mut usize,
    scratch: &mut [u8],
    now: Instant,
    shared: &mut Shared,
) -> bool {
    loop {
        if *left == 0 {
            return false;
        }
        let room = (*left).min(scratch.len());
        let fd = match (stream, &pipe.err) {
            (Stream::Stderr, Some(err)) => err.read.as_fd(),
            (Stream::Stderr, None) => return true,
            (Stream::Stdout, _) => pipe.read.as_fd(),
        };
        match nix::unistd::read(fd, &mut scratch[..room]) {
            // svinit holds the write end: no EOF while the pipe exists.
            Ok(0) => return true,
            Ok(n) => {
                *left -= n;
                deliver(pipe, stream, &scratch[..n], now, shared);
            }
            Err(Errno::EINTR) => {}
            Err(Errno::EAGAIN) => return true,
            Err(errno) => {
                warn!(&pipe.name, "reading its output failed: {errno}");
                return true;
            }
        }
    }
}

/// Feeds one chunk of `stream` to the ring buffer and through its line
/// buffer to the sink. A syslog service's ring gets whole lines (its two
/// streams interleave there), any other's the bytes as read.
fn deliver(
    pipe: &mut ServicePipe,
    stream: Stream,
    chunk: &[u8],
    now: Instant,
    shared: &mut Shared,
) {
    let (mut to, out, err) = Emitter::split(pipe, now);
    let lines = match (stream, err) {
        (Stream::Stderr, Some(err)) => err,
        _ => out,
    };
    if !to.by_line {
        shared.arrivals += 1;
        to.ring.push(chunk, shared.arrivals);
    }
    lines.push(chunk, now, &mut |piece| to.emit(stream, piece, shared));
    report_problem(pipe);
}

/// Passes on `pipe`'s held-back lines (both streams).
fn flush_pipe(pipe: &mut ServicePipe, shared: &mut Shared) {
    let (mut to, out, err) = Emitter::split(pipe, Instant::now());
    out.flush(&mut |piece| to.emit(Stream::Stdout, piece, shared));
    if let Some(err) = err {
        err.flush(&mut |piece| to.emit(Stream::Stderr, piece, shared));
    }
    report_problem(pipe);
}

/// Where a service's whole lines go: its sink, and its ring when that
/// takes lines rather than bytes (syslog).
struct Emitter<'a> {
    name: &'a str,
    pid: Option<i32>,
    ring: &'a mut RingBuffer,
    sink: &'a mut Sink,
    by_line: bool,
    wall: SystemTime,
    now: Instant,
}

impl<'a> Emitter<'a> {
    /// The emitter and the line buffers of stdout and (syslog) stderr.
    fn split(
        pipe: &'a mut ServicePipe,
        now: Instant,
    ) -> (Emitter<'a>, &'a mut LineBuffer, Option<&'a mut LineBuffer>) {
        let ServicePipe {
            name,
            lines,
            err,
            pid,
            ring,
            sink,
            ..
        } = pipe;
        let by_line = matches!(sink, Sink::Syslog);
        let emitter = Emitter {
            name,
            pid: *pid,
            ring,
            sink,
            by_line,
            wall: SystemTime::now(),
            now,
        };
        (emitter, lines, err.as_mut().map(|err| &mut err.lines))
    }

    fn emit(&mut self, stream: Stream, piece: Piece<'_>, shared: &mut Shared) {
        if self.by_line {
            shared.arrivals += 1;
            self.ring.push(piece_bytes(piece), shared.arrivals);
        }
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

fn piece_bytes(piece: Piece<'_>) -> &[u8] {
    match piece {
        Piece::Lines(bytes) | Piece::Partial(bytes) => bytes,
    }
}

/// Logs a transcript problem once, when it arises, and its end.
fn report_problem(pipe: &mut ServicePipe) {
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

fn open_sink(wanted: &Wanted) -> Sink {
    match wanted {
        Wanted::Transcript(config) => Sink::Transcript(TranscriptFile::open(config.clone())),
        Wanted::Syslog => Sink::Syslog,
        Wanted::Prefix | Wanted::Direct(_) => Sink::Prefix,
    }
}

/// Gives `pipe` its own stderr pipe (`want`) or takes it away, flushing
/// what it holds first.
fn set_err_pipe(registry: &Registry, slot: usize, pipe: &mut ServicePipe, want: bool) {
    match (&pipe.err, want) {
        (None, true) => {
            let (read, write) = match make_pipe() {
                Ok(pair) => pair,
                Err(err) => {
                    // stderr then shares the stdout pipe (at info).
                    warn!(&pipe.name, "cannot make a stderr pipe: {err}");
                    return;
                }
            };
            let raw = read.as_raw_fd();
            if let Err(err) = registry.register(
                &mut SourceFd(&raw),
                Source::OutputErr(slot).token(),
                Interest::READABLE,
            ) {
                warn!(&pipe.name, "cannot watch the stderr pipe: {err}");
                return;
            }
            pipe.err = Some(ErrPipe {
                read,
                write,
                lines: LineBuffer::new(),
            });
        }
        (Some(_), false) => {
            // Its held-back lines were flushed to the old sink already.
            if let Some(err) = pipe.err.take() {
                let _ = registry.deregister(&mut SourceFd(&err.read.as_raw_fd()));
            }
        }
        _ => {}
    }
}

/// A CLOEXEC pipe whose read end (svinit's) is non-blocking and whose
/// write end (the services') is blocking.
fn make_pipe() -> nix::Result<(OwnedFd, OwnedFd)> {
    let (read, write) = nix::unistd::pipe2(OFlag::O_CLOEXEC)?;
    let flags = fcntl(&read, FcntlArg::F_GETFL)?;
    fcntl(
        &read,
        FcntlArg::F_SETFL(OFlag::from_bits_truncate(flags) | OFlag::O_NONBLOCK),
    )?;
    Ok((read, write))
}

#[cfg(test)]
mod tests;
