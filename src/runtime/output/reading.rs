//! Read scheduling: a readable pipe queues its service; each round, every
//! queued service reads at most [`READ_BUDGET`] bytes, round robin, and one
//! with more left waits for the next round (the loop then polls with a zero
//! timeout). Also when held-back lines are due, what a service's exit
//! flushes, and the bounded last drain before svinit exits.

use std::os::fd::AsFd;
use std::time::Instant;

use nix::errno::Errno;
use nix::poll::{PollFd, PollFlags, PollTimeout};

use super::sink::{deliver, flush_pipe};
use super::{Output, ServicePipe, Shared};
use crate::runtime::syslog::Stream;
use crate::supervisor::ServiceId;
use crate::warn;

/// Bytes read from one service per loop iteration.
pub(crate) const READ_BUDGET: usize = 64 * 1024;
/// Bytes read from each service when svinit exits, before the last flush.
const FINAL_DRAIN: usize = 1 << 20;

/// The outcome of reading one service.
pub(super) enum Drain {
    /// EAGAIN: nothing left for now.
    Empty,
    /// The budget ran out with data maybe left.
    More,
}

impl Output {
    /// A pipe of the service in `slot` is readable: it gets its turn in
    /// `pump`.
    pub(crate) fn readable(&mut self, slot: usize) {
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
    pub(crate) fn read_every_pipe(&mut self) {
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
    pub(crate) fn pump(&mut self) {
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
    pub(crate) fn poll_timeout(&self) -> Option<Instant> {
        if !self.ready.is_empty() {
            return Some(Instant::now());
        }
        self.holding
            .iter()
            .filter_map(|&slot| self.pipes.get(slot))
            .filter_map(|pipe| pipe.router.deadline())
            .min()
    }

    /// Passes on every held-back line whose wait is over.
    pub(crate) fn handle_timeout(&mut self, now: Instant) {
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
                    .and_then(|pipe| pipe.router.deadline())
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
    pub(crate) fn process_exited(&mut self, service: ServiceId) {
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
    pub(crate) fn finish(&mut self) {
        let slots: Vec<usize> = self.by_service.values().copied().collect();
        let unread = self.unread(&slots);
        for (slot, unread) in slots.into_iter().zip(unread) {
            if unread {
                let _ = self.read_some(slot, FINAL_DRAIN);
            }
            if let Some(pipe) = self.pipes.get_mut(slot) {
                flush_pipe(pipe, &mut self.shared);
            }
        }
        self.holding.clear();
    }

    /// For each of `slots`, whether its pipes may hold anything: one poll
    /// for them all, where most are empty by now (every one, when the poll
    /// fails).
    fn unread(&self, slots: &[usize]) -> Vec<bool> {
        let mut fds = Vec::with_capacity(slots.len());
        let mut owner = Vec::with_capacity(slots.len());
        for (index, &slot) in slots.iter().enumerate() {
            let Some(pipe) = self.pipes.get(slot) else {
                continue;
            };
            let ends =
                std::iter::once(pipe.read.as_fd()).chain(pipe.err.as_ref().map(|e| e.read.as_fd()));
            for fd in ends {
                fds.push(PollFd::new(fd, PollFlags::POLLIN));
                owner.push(index);
            }
        }
        let mut unread = vec![false; slots.len()];
        match nix::poll::poll(&mut fds, PollTimeout::ZERO) {
            Ok(_) => {
                for (fd, &index) in fds.iter().zip(&owner) {
                    if fd.revents().is_none_or(|events| !events.is_empty()) {
                        unread[index] = true;
                    }
                }
            }
            Err(_) => unread.fill(true),
        }
        unread
    }

    /// Reads up to `budget` bytes of `slot`'s pipes into its sinks
    /// (stderr's own pipe first, when it has one).
    pub(super) fn read_some(&mut self, slot: usize, budget: usize) -> Drain {
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
        if pipe.router.has_pending() {
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
