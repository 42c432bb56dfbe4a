//! Service output on the loop: one pipe per service for its stdout and
//! stderr, read non-blockingly and fed to the sinks of `crate::transcript`
//! (a transcript file, or `NAME | line` on svinit's stdout through
//! `crate::console`, which never blocks, and always the ring buffer behind
//! `svctl logs`).
//!
//! [`Output`] and the record of each captured service are here, with what
//! the control requests ask of them (logs, problems, counts). The rest:
//! - `pipes.rs`: the pipe lifecycle, what a service's config asks for and
//!   the pipe made, kept or closed to match it;
//! - `reading.rs`: read scheduling, the budget per service, the round
//!   robin of the ready queue, and the deadlines of held-back lines;
//! - `router.rs`: the pure line router, what a chunk of bytes becomes for
//!   the ring buffer, for the sink and for the held-back tail (no fds,
//!   unit-tested on its own);
//! - `sink.rs`: where routed lines are written (transcript, syslog, the
//!   console) and the ring buffer's numbering.
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

mod pipes;
mod reading;
mod router;
mod sink;

use std::collections::{HashMap, HashSet, VecDeque};
use std::os::fd::OwnedFd;

use crate::supervisor::ServiceId;
use crate::transcript::{LinesAfter, NumberedLine, RingBuffer, RingLines};

pub(crate) use self::pipes::captures;
pub(crate) use self::reading::READ_BUDGET;

use self::pipes::DirectKind;
use self::router::LineRouter;
use self::sink::Sink;
use super::slab::Slab;
use super::syslog::SyslogClient;

/// One captured service.
#[derive(Debug)]
struct ServicePipe {
    service: ServiceId,
    name: String,
    read: OwnedFd,
    /// Given to every run as fds 1 and 2; kept so the pipe outlives runs.
    write: OwnedFd,
    /// Its line buffers: what is held back of each stream.
    router: LineRouter,
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
pub(crate) struct Output {
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

impl Default for Output {
    fn default() -> Self {
        Output::new()
    }
}

impl Output {
    pub(crate) fn new() -> Output {
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

    /// Lines of `service`'s output that did not reach its transcript
    /// (`output_dropped` of `svctl status`).
    pub(crate) fn dropped_lines(&self, service: ServiceId) -> u64 {
        match self.pipe(service).map(|pipe| &pipe.sink) {
            Some(Sink::Transcript(file)) => file.dropped(),
            _ => 0,
        }
    }

    /// Why `service`'s output does not reach its transcript, while it does
    /// not (`output_problem` of `svctl status`).
    pub(crate) fn status_problem(&self, service: ServiceId) -> Option<String> {
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
    pub(crate) fn recent_lines(
        &self,
        service: ServiceId,
        lines: Option<usize>,
        whole: bool,
    ) -> Option<Vec<NumberedLine>> {
        Some(self.pipe(service)?.ring.numbered_lines(lines, whole))
    }

    /// Every line of `service` kept now, text on demand (see
    /// [`Output::recent_lines`]).
    pub(crate) fn ring_lines(&self, service: ServiceId, whole: bool) -> Option<RingLines> {
        Some(self.pipe(service)?.ring.lines(whole))
    }

    /// The number of the latest arrival, of any service: `svctl logs -f`
    /// follows what comes after it.
    pub(crate) fn last_arrival(&self) -> u64 {
        self.shared.arrivals
    }

    /// The whole lines of `service` that arrived after arrival `after`.
    /// Cheap when nothing is new: callers may ask every loop iteration.
    /// `None` when its output is not captured (now).
    pub(crate) fn lines_after(&self, service: ServiceId, after: u64) -> Option<LinesAfter> {
        let ring = &self.pipe(service)?.ring;
        if ring.last_arrival() <= after {
            return Some(LinesAfter::default());
        }
        Some(ring.lines_after(after))
    }

    /// The name of `service` when its output is captured now.
    pub(crate) fn captured_name(&self, service: ServiceId) -> Option<&str> {
        Some(self.pipe(service)?.name.as_str())
    }

    /// The services whose output is captured now, with their names.
    pub(crate) fn captured(&self) -> impl Iterator<Item = (ServiceId, &str)> + '_ {
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
}

#[cfg(test)]
mod tests;
