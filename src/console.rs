//! svinit's own output: its stdout (the `NAME | line` of services in
//! `output "prefix"`) and its stderr (its event log, the config
//! diagnostics at boot, the panic message); in system mode both are the
//! console. SPEC.md §7 "Nothing blocks the loop": nothing here ever waits
//! for a reader.
//!
//! Decisions:
//! - svinit writes through a file description of its own, never by setting
//!   `O_NONBLOCK` on the one it shares with `output "inherit"` services and
//!   the main command (they would get EAGAIN). By what fd 1 or 2 is: a
//!   pipe, fifo, terminal or other device is reopened through
//!   `/proc/self/fd/N` with `O_NONBLOCK`; a socket is written with
//!   `send(MSG_DONTWAIT)`; a regular file is written as is (a write to it
//!   waits for no reader). When the reopen is refused (the pipe's owner is
//!   not mapped in svinit's user namespace, /proc is not mounted yet), a
//!   duplicate is written with `pwritev2(RWF_NOWAIT)`, which Linux honours
//!   for pipes and sockets; where it refuses that too (EOPNOTSUPP: a
//!   terminal), svinit does not write there at all: lines wait in the queue
//!   and, once it is full, are dropped and counted.
//! - When stdout and stderr are the same file (`2>&1`, a terminal, the
//!   console) they share one queue: svinit's lines keep their order, and a
//!   line cut by a partial write is finished before any other of svinit's.
//! - A bounded queue of whole lines per stream ([`QUEUE_LIMIT`]). A line is
//!   written at once when nothing is queued; what the destination does not
//!   take waits, and the runtime registers the descriptor with its poll
//!   ([`watch`]) to go on when it is writable. A line that does not fit is
//!   dropped and counted ([`dropped_lines`], shown by `svctl status`); the
//!   services' lines are still in their ring buffers. Once the destination
//!   takes lines again and the queue is down to half, one line says how
//!   many were dropped.
//! - Writes are cut at line boundaries, at most `PIPE_BUF` bytes each unless
//!   one line is longer: a pipe takes each whole or not at all.
//! - Before svinit exits (or reboots), what is queued gets at most
//!   [`EXIT_FLUSH`] to go out.
//! - One console for the process (svinit has one thread), so logging needs
//!   no handle. It is captured at the first line, and again with [`capture`]
//!   when svinit moves its stdio before the loop (system mode's console,
//!   `--detach`).

use std::cell::RefCell;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd, RawFd};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use mio::unix::SourceFd;
use mio::{Interest, Registry, Token};
use nix::errno::Errno;
use nix::fcntl::OFlag;
use nix::poll::{PollFd, PollFlags, PollTimeout};
use nix::sys::socket::MsgFlags;
use nix::sys::stat::{FileStat, Mode as FileMode, SFlag};

/// Which of svinit's standard streams a line is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Out {
    Stdout,
    Stderr,
}

/// Bytes of lines a stream holds while its destination does not take them.
pub(crate) const QUEUE_LIMIT: usize = 64 * 1024;
/// The largest write, unless one line is longer: `PIPE_BUF`, atomic on a pipe.
pub(crate) const WRITE_MAX: usize = libc::PIPE_BUF;
/// How long what is still queued may take to go out when svinit exits.
pub const EXIT_FLUSH: Duration = Duration::from_secs(1);

/// Lines lost because the console itself was busy (a panic inside it).
static LOST: AtomicU64 = AtomicU64::new(0);

thread_local! {
    static CONSOLE: RefCell<Console> = RefCell::new(Console::default());
}

/// Queues `text` (whole lines; a missing last newline is added) for `out`
/// and writes what the destination takes now.
pub fn write(out: Out, text: &[u8]) {
    let pushed = with_console(|console| {
        let held = console.held;
        console.stream(out).push(text, held)
    });
    if pushed.is_none() {
        let lines = text.split_inclusive(|&b| b == b'\n').count();
        LOST.fetch_add(lines as u64, Ordering::Relaxed);
    }
}

/// While the loop handles one turn's events: lines are queued, not
/// written, and go out together at [`release`] (one write for a shutdown's
/// hundred `down` lines, not a hundred).
pub(crate) fn hold() {
    with_console(|console| console.held = true);
}

/// The turn is over: writes what [`hold`] kept back.
pub(crate) fn release() {
    with_console(|console| {
        console.held = false;
        for stream in &mut console.streams {
            stream.flush();
        }
    });
}

/// (Re)takes fds 1 and 2 as they are now. Lines still queued go to the new
/// destinations. Call before the loop registers anything ([`watch`]).
pub fn capture() {
    let _ = CONSOLE.try_with(|cell| {
        if let Ok(mut console) = cell.try_borrow_mut() {
            console.capture();
        }
    });
}

/// Lines dropped since svinit started, on both streams.
pub(crate) fn dropped_lines() -> u64 {
    let dropped = with_console(|console| console.streams.iter().map(|s| s.dropped).sum::<u64>());
    dropped.unwrap_or(0) + LOST.load(Ordering::Relaxed)
}

/// Before the loop sleeps: registers with `registry` (as `token(index)`)
/// each stream waiting for its destination to take more, and forgets the
/// ones that have caught up.
pub(crate) fn watch(registry: &Registry, token: impl Fn(usize) -> Token) {
    with_console(|console| {
        for (index, stream) in console.streams.iter_mut().enumerate() {
            stream.watch(registry, token(index));
        }
    });
}

/// The poll said the destination of stream `index` takes more.
pub(crate) fn writable(index: usize) {
    with_console(|console| {
        if let Some(stream) = console.streams.get_mut(index) {
            stream.waiting = false;
            stream.flush();
        }
    });
}

/// After a panic in the loop (its writable events may be lost): writes
/// what every stream holds, as far as it goes.
pub(crate) fn look_again() {
    with_console(|console| {
        for stream in &mut console.streams {
            stream.waiting = false;
            stream.flush();
        }
    });
}

/// A new poll: nothing is registered with it yet.
pub(crate) fn forget_watch() {
    with_console(|console| {
        for stream in &mut console.streams {
            stream.watched = false;
        }
    });
}

/// Before svinit exits: gives what is queued up to `limit` to go out.
pub fn flush_before_exit(limit: Duration) {
    let deadline = Instant::now() + limit;
    with_console(|console| {
        console.held = false;
        loop {
            let mut waiting = Vec::new();
            for stream in &mut console.streams {
                stream.waiting = false;
                stream.flush();
                if stream.waiting
                    && let Some(fd) = stream.writer.fd()
                {
                    waiting.push(PollFd::new(fd, PollFlags::POLLOUT));
                }
            }
            let left = deadline.saturating_duration_since(Instant::now());
            if waiting.is_empty() || left.is_zero() {
                return;
            }
            let timeout = PollTimeout::try_from(left).unwrap_or(PollTimeout::MAX);
            if let Err(err) = nix::poll::poll(&mut waiting, timeout)
                && err != Errno::EINTR
            {
                return;
            }
        }
    });
}

/// Puts /dev/null on each of fds 0, 1 and 2 that is closed (a kernel may
/// start init so), before svinit opens anything: otherwise its first
/// descriptors would become its own stdout or a service's stdin. Call
/// first thing.
pub fn claim_standard_fds() {
    for fd in 0..3 {
        // SAFETY: F_GETFD only asks whether `fd` is open.
        let closed =
            unsafe { libc::fcntl(fd, libc::F_GETFD) } == -1 && Errno::last() == Errno::EBADF;
        if !closed {
            continue;
        }
        // The lowest free descriptor, which is `fd`: it stays open for good.
        if let Ok(null) = nix::fcntl::open("/dev/null", OFlag::O_RDWR, FileMode::empty()) {
            let raw = std::os::fd::IntoRawFd::into_raw_fd(null);
            if raw != fd {
                // SAFETY: `raw` was just opened here and is owned by nobody.
                unsafe { libc::close(raw) };
            }
        }
    }
}

/// Logs every panic on svinit's stderr, the non-blocking way, as one line
/// (the default hook writes to fd 2 directly and would block on it).
pub fn install_panic_hook() {
    std::panic::set_hook(Box::new(|panic| {
        let text = panic.to_string().replace('\n', " ");
        crate::error!("", "internal error: {text}");
    }));
}

/// Runs `f` on the console, captured at first use; `None` when it is busy
/// (a panic inside it) or gone (thread exit).
fn with_console<R>(f: impl FnOnce(&mut Console) -> R) -> Option<R> {
    CONSOLE
        .try_with(|cell| {
            let mut console = cell.try_borrow_mut().ok()?;
            if console.streams.is_empty() {
                console.capture();
            }
            Some(f(&mut console))
        })
        .ok()
        .flatten()
}

#[derive(Default)]
struct Console {
    /// One stream, or two when stdout and stderr are different files.
    streams: Vec<Stream>,
    /// The stream of stdout and of stderr.
    route: [usize; 2],
    /// Between [`hold`] and [`release`]: lines wait in the queue.
    held: bool,
}

impl Console {
    fn stream(&mut self, out: Out) -> &mut Stream {
        let index = self.route[out as usize];
        &mut self.streams[index]
    }

    fn capture(&mut self) {
        let stdout = fd_stat(libc::STDOUT_FILENO);
        let stderr = fd_stat(libc::STDERR_FILENO);
        let shared = matches!((stdout, stderr), (Some(a), Some(b))
            if (a.st_dev, a.st_ino) == (b.st_dev, b.st_ino));
        let mut streams = Vec::with_capacity(2);
        if shared {
            streams.push(Stream::new(
                "stdout and stderr",
                Writer::open(libc::STDOUT_FILENO, stdout),
            ));
        } else {
            streams.push(Stream::new(
                "stdout",
                Writer::open(libc::STDOUT_FILENO, stdout),
            ));
            streams.push(Stream::new(
                "stderr",
                Writer::open(libc::STDERR_FILENO, stderr),
            ));
        }
        let route = if shared { [0, 0] } else { [0, 1] };
        let old = std::mem::replace(&mut self.streams, streams);
        let old_route = std::mem::replace(&mut self.route, route);
        let mut old: Vec<Option<Stream>> = old.into_iter().map(Some).collect();
        for out in [Out::Stdout, Out::Stderr] {
            let from = old.get_mut(old_route[out as usize]).and_then(Option::take);
            if let Some(from) = from {
                self.stream(out).take_over(from);
            }
        }
        for stream in &mut self.streams {
            stream.flush();
        }
    }
}

fn fd_stat(fd: RawFd) -> Option<FileStat> {
    // SAFETY: fstat only looks at `fd`, which is not closed meanwhile.
    nix::sys::stat::fstat(unsafe { BorrowedFd::borrow_raw(fd) }).ok()
}

/// How a stream reaches its destination without ever blocking.
#[derive(Debug)]
enum Writer {
    /// A description of svinit's own, non-blocking.
    Own(OwnedFd),
    /// A regular file, written as is.
    File(OwnedFd),
    /// A socket: `send(MSG_DONTWAIT)` on a duplicate.
    Socket(OwnedFd),
    /// `pwritev2(RWF_NOWAIT)` on a duplicate of the shared description.
    NoWait(OwnedFd),
    /// Nothing that cannot block: not written.
    Unwritable,
}

impl Writer {
    fn open(fd: RawFd, stat: Option<FileStat>) -> Writer {
        let Some(stat) = stat else {
            return Writer::Unwritable;
        };
        // SAFETY: `fd` is open (fstat succeeded) and only duplicated here.
        let shared = unsafe { BorrowedFd::borrow_raw(fd) };
        let duplicate = || shared.try_clone_to_owned().ok();
        let kind = SFlag::from_bits_truncate(stat.st_mode) & SFlag::S_IFMT;
        let writer = match kind {
            SFlag::S_IFREG => duplicate().map(Writer::File),
            SFlag::S_IFSOCK => duplicate().map(Writer::Socket),
            _ => reopen(fd)
                .map(Writer::Own)
                .or_else(|| duplicate().map(Writer::NoWait)),
        };
        writer.unwrap_or(Writer::Unwritable)
    }

    fn fd(&self) -> Option<BorrowedFd<'_>> {
        match self {
            Writer::Own(fd) | Writer::File(fd) | Writer::Socket(fd) | Writer::NoWait(fd) => {
                Some(fd.as_fd())
            }
            Writer::Unwritable => None,
        }
    }

    fn write(&self, bytes: &[u8]) -> nix::Result<usize> {
        match self {
            Writer::Own(fd) | Writer::File(fd) => nix::unistd::write(fd, bytes),
            Writer::Socket(fd) => nix::sys::socket::send(
                fd.as_raw_fd(),
                bytes,
                MsgFlags::MSG_DONTWAIT | MsgFlags::MSG_NOSIGNAL,
            ),
            Writer::NoWait(fd) => {
                let iov = libc::iovec {
                    iov_base: bytes.as_ptr() as *mut libc::c_void,
                    iov_len: bytes.len(),
                };
                // SAFETY: one iovec over `bytes`, which outlives the call;
                // offset -1: the file's own position, as write(2).
                let n = unsafe { libc::pwritev2(fd.as_raw_fd(), &iov, 1, -1, libc::RWF_NOWAIT) };
                Errno::result(n).map(|n| n as usize)
            }
            Writer::Unwritable => Err(Errno::EBADF),
        }
    }
}

/// A description of svinit's own for what `fd` is, non-blocking.
fn reopen(fd: RawFd) -> Option<OwnedFd> {
    nix::fcntl::open(
        format!("/proc/self/fd/{fd}").as_str(),
        OFlag::O_WRONLY | OFlag::O_NONBLOCK | OFlag::O_NOCTTY | OFlag::O_CLOEXEC,
        FileMode::empty(),
    )
    .ok()
}

/// Whole lines waiting for a destination, oldest first.
#[derive(Debug, Default)]
struct Queue {
    bytes: Vec<u8>,
    /// Bytes of `bytes` already written.
    start: usize,
}

impl Queue {
    fn len(&self) -> usize {
        self.bytes.len() - self.start
    }

    fn is_empty(&self) -> bool {
        self.len() == 0
    }

    fn push(&mut self, line: &[u8]) {
        self.bytes.extend_from_slice(line);
        if !line.ends_with(b"\n") {
            self.bytes.push(b'\n');
        }
    }

    /// The next write: at most [`WRITE_MAX`] bytes cut after a newline,
    /// or one longer line whole.
    fn next_write(&self) -> &[u8] {
        let rest = &self.bytes[self.start..];
        if rest.len() <= WRITE_MAX {
            return rest;
        }
        let cut = match rest[..WRITE_MAX].iter().rposition(|&b| b == b'\n') {
            Some(i) => i + 1,
            None => rest
                .iter()
                .position(|&b| b == b'\n')
                .map_or(rest.len(), |i| i + 1),
        };
        &rest[..cut]
    }

    fn consume(&mut self, n: usize) {
        self.start += n;
        if self.start >= self.bytes.len() {
            self.bytes.clear();
            self.start = 0;
        } else if self.start >= QUEUE_LIMIT {
            self.bytes.drain(..self.start);
            self.start = 0;
        }
    }
}

fn count_lines(bytes: &[u8]) -> u64 {
    bytes.split_inclusive(|&b| b == b'\n').count() as u64
}

/// One destination and its queue.
#[derive(Debug)]
struct Stream {
    /// `stdout`, `stderr` or both, for the dropped-lines notice.
    label: &'static str,
    writer: Writer,
    queue: Queue,
    /// The destination took no more: wait until it is writable.
    waiting: bool,
    /// Registered with the runtime's poll.
    watched: bool,
    dropped: u64,
    /// Dropped since the last notice.
    unreported: u64,
}

impl Stream {
    fn new(label: &'static str, writer: Writer) -> Stream {
        Stream {
            label,
            writer,
            queue: Queue::default(),
            waiting: false,
            watched: false,
            dropped: 0,
            unreported: 0,
        }
    }

    /// Goes on with what `old` (the stream before a capture) held.
    fn take_over(&mut self, old: Stream) {
        let rest = &old.queue.bytes[old.queue.start..];
        if self.queue.len() + rest.len() <= QUEUE_LIMIT {
            self.queue.bytes.extend_from_slice(rest);
        } else {
            self.drop_lines(count_lines(rest));
        }
        self.dropped += old.dropped;
        self.unreported += old.unreported;
    }

    /// Queues `text`; writes it now unless `held` (or the destination is
    /// full). A queue `text` would overflow is written out first.
    fn push(&mut self, text: &[u8], held: bool) {
        for line in text.split_inclusive(|&b| b == b'\n') {
            let fits = |queue: &Queue| queue.len() + line.len() < QUEUE_LIMIT;
            if !fits(&self.queue) && !self.waiting {
                self.flush();
            }
            if fits(&self.queue) {
                self.queue.push(line);
            } else {
                self.drop_lines(1);
            }
        }
        if !self.waiting && !held {
            self.flush();
        }
    }

    fn drop_lines(&mut self, lines: u64) {
        self.dropped += lines;
        self.unreported += lines;
    }

    /// Writes until the queue is empty or the destination takes no more.
    fn flush(&mut self) {
        if matches!(self.writer, Writer::Unwritable) {
            return;
        }
        let mut progress = false;
        while !self.queue.is_empty() && !self.waiting {
            let chunk = self.queue.next_write();
            match self.writer.write(chunk) {
                Ok(n) if n > 0 => {
                    self.queue.consume(n);
                    progress = true;
                }
                Err(Errno::EINTR) => {}
                Err(Errno::EAGAIN) => self.waiting = true,
                Err(Errno::EOPNOTSUPP) if matches!(self.writer, Writer::NoWait(_)) => {
                    self.writer = Writer::Unwritable;
                    return;
                }
                // Gone for good or failing (EPIPE, EIO, ENOSPC): this piece
                // is lost, the next may fare better.
                Ok(_) | Err(_) => {
                    let (len, lines) = (chunk.len(), count_lines(chunk));
                    self.drop_lines(lines);
                    self.queue.consume(len);
                }
            }
        }
        if progress && self.unreported > 0 && self.queue.len() <= QUEUE_LIMIT / 2 {
            let notice = format!(
                "svinit: warning: {} lines dropped: {} was not writable (services' lines are still in svctl logs)\n",
                self.unreported, self.label
            );
            self.unreported = 0;
            self.queue.push(notice.as_bytes());
            self.flush();
        }
    }

    fn watch(&mut self, registry: &Registry, token: Token) {
        let Some(fd) = self.writer.fd() else {
            return;
        };
        let raw = fd.as_raw_fd();
        let wanted = self.waiting && !self.queue.is_empty();
        if wanted && !self.watched {
            match registry.register(&mut SourceFd(&raw), token, Interest::WRITABLE) {
                Ok(()) => self.watched = true,
                // Not pollable (epoll refuses it): tried again at the next line.
                Err(_) => self.waiting = false,
            }
        } else if !wanted && self.watched {
            let _ = registry.deregister(&mut SourceFd(&raw));
            self.watched = false;
        }
    }
}

#[cfg(test)]
mod tests;
