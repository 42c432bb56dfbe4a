//! Service output on the loop: one pipe per service for its stdout and
//! stderr, read non-blockingly and fed to the sinks of `crate::transcript`
//! (a transcript file, or `NAME | line` on svinit's stdout, and always the
//! ring buffer behind `svctl logs`).
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
//!   like every other key. A broken transcript is retried at each spawn and
//!   at each reopen.
//! - `output "syslog"` is not implemented yet: it behaves like `prefix`,
//!   with one warning per service.

use std::collections::{HashMap, HashSet, VecDeque};
use std::os::fd::{AsFd, AsRawFd, OwnedFd};
use std::time::{Instant, SystemTime};

use mio::unix::SourceFd;
use mio::{Interest, Registry, Token};
use nix::errno::Errno;
use nix::fcntl::{FcntlArg, OFlag, fcntl};

use crate::config::{OutputMode, ServiceConfig, Transcript};
use crate::spawn::Stdio;
use crate::supervisor::ServiceId;
use crate::transcript::{
    LineBuffer, LinesSince, Piece, RING_CAPACITY, RingBuffer, TranscriptFile, prefix_lines,
    split_lines, write_lines_whole,
};
use crate::warn;

pub use crate::transcript::{PARTIAL_LINE_LIMIT, PARTIAL_LINE_WAIT};

use super::slab::Slab;

/// Tokens at and above this are output pipes (`TOKEN_BASE + slot`).
pub const TOKEN_BASE: usize = 1 << 24;
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
}

/// What a service's config asks for.
#[derive(Debug, Clone, PartialEq)]
enum Wanted {
    /// No pipe: the fd given to the child as is (`inherit`, `null`, `tty`).
    Direct(DirectKind),
    Prefix,
    Transcript(Transcript),
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum DirectKind {
    Inherit,
    Null,
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
        OutputMode::Prefix | OutputMode::Syslog => Wanted::Prefix,
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
    ring: RingBuffer,
    sink: Sink,
    /// In `Output::ready`.
    queued: bool,
    /// Its process exited: pass the held-back tail on once drained.
    flush_when_drained: bool,
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
    warned_syslog: HashSet<ServiceId>,
    scratch: Vec<u8>,
    console: Vec<u8>,
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
            warned_syslog: HashSet::new(),
            scratch: vec![0; READ_BUDGET],
            console: Vec::new(),
        }
    }

    pub fn owns(token: Token) -> bool {
        token.0 >= TOKEN_BASE
    }

    /// Before spawning `service`: makes its output match `config` (a pipe
    /// made, kept, or closed; a transcript opened, changed or retried).
    /// Then [`Output::stdio`] says what the child gets on fds 1 and 2.
    pub fn prepare(&mut self, registry: &Registry, service: ServiceId, config: &ServiceConfig) {
        let wanted = wanted(config);
        if config.transcript.is_none()
            && config.tty.is_none()
            && config.output == OutputMode::Syslog
            && self.warned_syslog.insert(service)
        {
            warn!(
                &config.name,
                "output \"syslog\" is not supported yet; its lines go to svinit's stdout as with \"prefix\""
            );
        }
        let kind = match &wanted {
            Wanted::Direct(kind) => Some(*kind),
            Wanted::Prefix | Wanted::Transcript(_) => None,
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
                    (Sink::Prefix, Wanted::Prefix) => true,
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
                    flush_pipe(pipe, &mut self.console);
                    self.holding.remove(&slot);
                    pipe.sink = open_sink(&wanted);
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
            Token(TOKEN_BASE + slot),
            Interest::READABLE,
        ) {
            warn!(&config.name, "cannot watch the output pipe: {err}");
            self.pipes.remove(slot);
            return;
        }
        self.by_service.insert(service, slot);
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

    /// The pipe of `token` is readable: it gets its turn in `pump`.
    pub fn readable(&mut self, token: Token) {
        let slot = token.0 - TOKEN_BASE;
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
            .filter_map(|pipe| pipe.lines.deadline())
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
                    .and_then(|pipe| pipe.lines.deadline())
                    .is_some_and(|deadline| deadline <= now)
            })
            .collect();
        for slot in due {
            self.holding.remove(&slot);
            if let Some(pipe) = self.pipes.get_mut(slot) {
                flush_pipe(pipe, &mut self.console);
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
                flush_pipe(pipe, &mut self.console);
            }
        }
        self.holding.clear();
    }

    /// `service` is gone for good: its pipe and transcript are closed.
    pub fn forget(&mut self, registry: &Registry, service: ServiceId) {
        self.direct.remove(&service);
        self.warned_syslog.remove(&service);
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
        flush_pipe(&mut pipe, &mut self.console);
        let _ = registry.deregister(&mut SourceFd(&pipe.read.as_raw_fd()));
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

    /// Why `service`'s output does not reach its transcript, while it does
    /// not (`output_problem` of `svctl status`).
    pub fn status_problem(&self, service: ServiceId) -> Option<String> {
        let pipe = self.pipe(service)?;
        match &pipe.sink {
            Sink::Transcript(file) => file.problem().map(str::to_string),
            Sink::Prefix => None,
        }
    }

    /// `svctl logs`: the last `lines` lines (all kept when `None`), without
    /// their newline, oldest first; `None` when `service`'s output is not
    /// captured (`inherit`, `null`, `tty`, or not started yet).
    pub fn logs(&self, service: ServiceId, lines: Option<usize>) -> Option<Vec<String>> {
        let pipe = self.pipe(service)?;
        Some(split_lines(&pipe.ring.last_lines(lines)))
    }

    /// The same as raw bytes, as written.
    pub fn logs_bytes(&self, service: ServiceId, lines: Option<usize>) -> Option<Vec<u8>> {
        Some(self.pipe(service)?.ring.last_lines(lines))
    }

    /// `svctl logs -f`: the position to follow from (everything written
    /// after this call), `None` when output is not captured.
    pub fn follow_cursor(&self, service: ServiceId) -> Option<u64> {
        Some(self.pipe(service)?.ring.end())
    }

    /// The whole lines written since `cursor`; call again with
    /// `LinesSince::next`. Cheap when nothing is new: callers may ask every
    /// loop iteration. `skipped` says the follower was too slow and lines
    /// were overwritten in the ring.
    pub fn lines_since(&self, service: ServiceId, cursor: u64) -> Option<LinesSince> {
        let ring = &self.pipe(service)?.ring;
        if cursor == ring.end() {
            return Some(LinesSince {
                lines: Vec::new(),
                next: cursor,
                skipped: false,
            });
        }
        Some(ring.lines_since(cursor))
    }

    fn pipe(&self, service: ServiceId) -> Option<&ServicePipe> {
        self.by_service
            .get(&service)
            .and_then(|&slot| self.pipes.get(slot))
    }

    /// Reads up to `budget` bytes of `slot`'s pipe into its sinks.
    fn read_some(&mut self, slot: usize, budget: usize) -> Drain {
        let Some(pipe) = self.pipes.get_mut(slot) else {
            return Drain::Empty;
        };
        let now = Instant::now();
        let mut left = budget;
        let drained = loop {
            if left == 0 {
                break false;
            }
            let room = left.min(self.scratch.len());
            match nix::unistd::read(pipe.read.as_fd(), &mut self.scratch[..room]) {
                // svinit holds the write end: no EOF while the pipe exists.
                Ok(0) => break true,
                Ok(n) => {
                    left -= n;
                    deliver(pipe, &self.scratch[..n], now, &mut self.console);
                }
                Err(Errno::EINTR) => {}
                Err(Errno::EAGAIN) => break true,
                Err(errno) => {
                    warn!(&pipe.name, "reading its output failed: {errno}");
                    break true;
                }
            }
        };
        if drained && pipe.flush_when_drained {
            pipe.flush_when_drained = false;
            flush_pipe(pipe, &mut self.console);
        }
        if pipe.lines.has_pending() {
            self.holding.insert(slot);
        } else {
            self.holding.remove(&slot);
        }
        if drained { Drain::Empty } else { Drain::More }
    }
}

/// Feeds one chunk to the ring buffer and through the line buffer to the
/// sink.
fn deliver(pipe: &mut ServicePipe, chunk: &[u8], now: Instant, console: &mut Vec<u8>) {
    pipe.ring.push(chunk);
    let ServicePipe {
        name, lines, sink, ..
    } = pipe;
    let wall = SystemTime::now();
    lines.push(chunk, now, &mut |piece| {
        write_piece(sink, name, piece, wall, console)
    });
    report_problem(pipe);
}

/// Passes on `pipe`'s held-back line.
fn flush_pipe(pipe: &mut ServicePipe, console: &mut Vec<u8>) {
    let ServicePipe {
        name, lines, sink, ..
    } = pipe;
    let wall = SystemTime::now();
    lines.flush(&mut |piece| write_piece(sink, name, piece, wall, console));
    report_problem(pipe);
}

fn write_piece(
    sink: &mut Sink,
    name: &str,
    piece: Piece<'_>,
    wall: SystemTime,
    console: &mut Vec<u8>,
) {
    match sink {
        Sink::Transcript(file) => file.write(piece, wall),
        Sink::Prefix => {
            console.clear();
            prefix_lines(name, piece, console);
            // svinit's stdout gone or not keeping up: the lines are still
            // in the ring buffer; the console is not worth stopping for.
            let _ = write_lines_whole(std::io::stdout().as_fd(), console);
            if console.capacity() > 1 << 20 {
                *console = Vec::new();
            }
        }
    }
}

/// Logs a transcript problem once, when it arises.
fn report_problem(pipe: &mut ServicePipe) {
    if let Sink::Transcript(file) = &mut pipe.sink
        && let Some(problem) = file.take_new_problem()
    {
        warn!(
            &pipe.name,
            "{problem}; its output stays in the ring buffer (svctl logs) until the transcript is reopened"
        );
    }
}

fn open_sink(wanted: &Wanted) -> Sink {
    match wanted {
        Wanted::Transcript(config) => Sink::Transcript(TranscriptFile::open(config.clone())),
        Wanted::Prefix | Wanted::Direct(_) => Sink::Prefix,
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
