//! Readiness I/O: the `ready-fd` pipes (s6 style: a newline on fd N) and
//! the sd_notify datagram socket (`ready-notify`: `READY=1`, `STATUS=…`,
//! `WATCHDOG=1`, `WATCHDOG=trigger`). It turns bytes into `Event::Ready` /
//! `Event::ReadyFdFailed` / `Event::NotifyStatus` / `Event::Watchdog`, with
//! the pid a pipe was made for; whether that makes a service `up` (or is
//! stale, or comes from a config without `ready-notify`), what a missed
//! watchdog does and what is worth a log line is the supervisor's decision.
//!
//! Decisions where SPEC.md is silent:
//! - One notify socket **per service**, in the abstract namespace with a
//!   kernel-chosen name (`NOTIFY_SOCKET=@xxxxx`): nothing on disk, no clash
//!   between svinits. It is opened at the service's first `ready-notify`
//!   start and kept until the service is forgotten; what is still queued
//!   on it is discarded before each spawn (a leftover of the last run).
//! - A message on a service's socket is that service's: attribution never
//!   looks the sender up in /proc, so a `READY=1` from a helper that has
//!   exited before svinit read it (`systemd-notify`, a short script) counts
//!   (SPEC §7). Abstract names are not secret (/proc/net/unix lists them),
//!   so the kernel-checked sender uid (SCM_CREDENTIALS) must be root,
//!   svinit's own user or the user the service runs as; anything else is
//!   logged at debug level (`notify: ignored …`) and dropped. Processes of
//!   one user are one trust domain (they could ptrace each other anyway).
//! - `READY=1`, `STATUS=…`, `WATCHDOG=1` and `WATCHDOG=trigger` are read;
//!   other assignments are ignored (`WATCHDOG_USEC=`, which changes the
//!   timeout in systemd, among them). In one message they are acted on in
//!   that order: `READY=1` arms the watchdog, which `WATCHDOG=1` resets.
//!   File descriptors passed along (`FDSTORE=1`) are closed at once.
//! - A `ready-fd` pipe is closed as soon as a newline came, at EOF without
//!   one or after `READY_FD_MAX` bytes without one (the supervisor logs it:
//!   the service stays `starting` until start-timeout), or when its process
//!   is reaped.

use std::collections::HashMap;
use std::ffi::OsString;
use std::io::IoSliceMut;
use std::os::fd::{AsFd, AsRawFd, OwnedFd, RawFd};
use std::os::unix::ffi::OsStringExt;
use std::time::Instant;

use mio::unix::SourceFd;
use mio::{Interest, Registry};

use super::tokens::Source;
use nix::errno::Errno;
use nix::fcntl::OFlag;
use nix::sys::socket::{
    AddressFamily, ControlMessageOwned, MsgFlags, SockFlag, SockType, UnixAddr, bind, getsockname,
    recvmsg, setsockopt, socket, sockopt,
};

use super::slab::Slab;
use crate::config::ServiceConfig;
use crate::supervisor::{
    Event, ReadyFdProblem, ServiceId, SpawnFailure, SpawnStage, WatchdogMessage,
};
use crate::{debug, warn};

/// Bytes read from a `ready-fd` pipe without a newline before svinit gives
/// up on it (a service writing without end must not keep the loop busy).
pub(crate) const READY_FD_MAX: usize = 4096;

/// The biggest notify message read; longer ones are dropped.
const NOTIFY_MAX: usize = 4096;
/// Messages read from one socket per loop turn, so a flood cannot starve
/// the loop; a socket with more is served again next turn.
const NOTIFY_BATCH: usize = 64;

struct ReadyPipe {
    service: ServiceId,
    pid: i32,
    fd: OwnedFd,
    /// Bytes read so far, none of them a newline.
    read: usize,
}

/// A `ready-notify` service's own datagram socket.
struct NotifySocket {
    service: ServiceId,
    fd: OwnedFd,
    /// The `NOTIFY_SOCKET` value: `@` and the abstract name.
    name: OsString,
    /// Who may speak on it besides root and svinit's user: the user the
    /// service's current run was started as.
    uid: u32,
}

/// What a spawn needs for readiness: the write end to place at fd N, and
/// the `NOTIFY_SOCKET` value.
#[derive(Default)]
pub(crate) struct ReadyIo {
    pipe: Option<(RawFd, OwnedFd, OwnedFd)>,
    pub(crate) notify_socket: Option<OsString>,
}

impl ReadyIo {
    /// `(N, write end)` for `ChildIo::extra_fds`.
    pub(crate) fn child_fd(&self) -> Option<(RawFd, std::os::fd::BorrowedFd<'_>)> {
        self.pipe.as_ref().map(|(n, _, write)| (*n, write.as_fd()))
    }
}

/// What a readable `ready-fd` pipe said.
pub(crate) enum PipeOutcome {
    Ready {
        service: ServiceId,
        pid: i32,
    },
    /// EOF without a newline.
    ClosedWithoutNewline {
        service: ServiceId,
        pid: i32,
    },
    /// [`READY_FD_MAX`] bytes without a newline: given up on.
    Flooded {
        service: ServiceId,
        pid: i32,
    },
    Pending,
}

/// One sd_notify message from a known process.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub(crate) struct NotifyMessage {
    pub(crate) ready: bool,
    pub(crate) status: Option<String>,
    /// `WATCHDOG=1` or `WATCHDOG=trigger` (the last one given).
    pub(crate) watchdog: Option<WatchdogMessage>,
}

pub(crate) struct Readiness {
    pipes: Slab<ReadyPipe>,
    pipe_by_pid: HashMap<i32, usize>,
    sockets: Slab<NotifySocket>,
    socket_of: HashMap<ServiceId, usize>,
    /// Sockets to read again next turn (their batch ran out).
    more: Vec<usize>,
    own_uid: u32,
}

impl Readiness {
    pub(crate) fn new() -> Readiness {
        Readiness {
            pipes: Slab::new(),
            pipe_by_pid: HashMap::new(),
            sockets: Slab::new(),
            socket_of: HashMap::new(),
            more: Vec::new(),
            own_uid: nix::unistd::geteuid().as_raw(),
        }
    }

    /// Before a spawn of `service` (running as `uid`): the pipe for
    /// `ready-fd`, the socket for `ready-notify`.
    pub(crate) fn prepare(
        &mut self,
        registry: &Registry,
        service: ServiceId,
        uid: u32,
        config: &ServiceConfig,
    ) -> Result<ReadyIo, SpawnFailure> {
        let mut io = ReadyIo::default();
        if let Some(n) = config.ready_fd {
            let (read, write) = nix::unistd::pipe2(OFlag::O_CLOEXEC | OFlag::O_NONBLOCK)
                .map_err(|errno| failure(SpawnStage::Stdio, format!("ready-fd {n} pipe"), errno))?;
            // The child's end blocks like any ordinary fd 3.
            let _ = nix::fcntl::fcntl(&write, nix::fcntl::FcntlArg::F_SETFL(OFlag::empty()));
            io.pipe = Some((n, read, write));
        }
        if config.ready_notify {
            io.notify_socket = Some(self.notify_socket(registry, service, uid)?);
        }
        Ok(io)
    }

    /// After the fork: our copy of the write end is closed, the read end
    /// watched for `pid`.
    pub(crate) fn spawned(
        &mut self,
        registry: &Registry,
        service: ServiceId,
        pid: i32,
        io: ReadyIo,
    ) {
        let Some((_, read, write)) = io.pipe else {
            return;
        };
        drop(write);
        let slot = self.pipes.insert(ReadyPipe {
            service,
            pid,
            fd: read,
            read: 0,
        });
        if let Some(pipe) = self.pipes.get_mut(slot) {
            let registered = registry.register(
                &mut SourceFd(&pipe.fd.as_raw_fd()),
                Source::ReadyPipe(slot).token(),
                Interest::READABLE,
            );
            if let Err(err) = registered {
                warn!("", "cannot watch the ready-fd pipe of pid {pid}: {err}");
            }
        }
        if let Some(old) = self.pipe_by_pid.insert(pid, slot) {
            self.forget_slot(registry, old);
        }
    }

    /// Reads a readable pipe; closes it once it has said something final.
    /// Every ready pipe's slot (to read them all after a panic).
    pub(crate) fn pipe_slots(&self) -> Vec<usize> {
        self.pipes.occupied()
    }

    pub(crate) fn on_pipe(&mut self, registry: &Registry, slot: usize) -> PipeOutcome {
        let Some(pipe) = self.pipes.get_mut(slot) else {
            return PipeOutcome::Pending;
        };
        let (service, pid) = (pipe.service, pipe.pid);
        let mut buf = [0u8; 512];
        let outcome = loop {
            if pipe.read >= READY_FD_MAX {
                break PipeOutcome::Flooded { service, pid };
            }
            match nix::unistd::read(pipe.fd.as_fd(), &mut buf) {
                Ok(0) => break PipeOutcome::ClosedWithoutNewline { service, pid },
                Ok(n) if buf[..n].contains(&b'\n') => break PipeOutcome::Ready { service, pid },
                Ok(n) => pipe.read += n,
                Err(Errno::EINTR) => continue,
                Err(Errno::EAGAIN) => return PipeOutcome::Pending,
                Err(_) => break PipeOutcome::ClosedWithoutNewline { service, pid },
            }
        };
        self.forget_slot(registry, slot);
        outcome
    }

    /// The process `pid` was reaped: its pipe, if still open, goes.
    pub(crate) fn forget_pid(&mut self, registry: &Registry, pid: i32) {
        if let Some(&slot) = self.pipe_by_pid.get(&pid) {
            self.forget_slot(registry, slot);
        }
    }

    fn forget_slot(&mut self, registry: &Registry, slot: usize) {
        if let Some(pipe) = self.pipes.remove(slot) {
            let _ = registry.deregister(&mut SourceFd(&pipe.fd.as_raw_fd()));
            if self.pipe_by_pid.get(&pipe.pid) == Some(&slot) {
                self.pipe_by_pid.remove(&pipe.pid);
            }
        }
    }

    /// `service`'s `NOTIFY_SOCKET` value, opening its socket the first
    /// time; what an earlier run left on it is discarded.
    fn notify_socket(
        &mut self,
        registry: &Registry,
        service: ServiceId,
        uid: u32,
    ) -> Result<OsString, SpawnFailure> {
        if let Some(socket) = self
            .socket_of
            .get(&service)
            .and_then(|&slot| self.sockets.get_mut(slot))
        {
            socket.uid = uid;
            discard_queued(&socket.fd);
            return Ok(socket.name.clone());
        }
        let (fd, name) = open_notify_socket()
            .map_err(|errno| failure(SpawnStage::Prepare, "notify socket".into(), errno))?;
        let slot = self.sockets.insert(NotifySocket {
            service,
            fd,
            name: name.clone(),
            uid,
        });
        let registered = self.sockets.get(slot).map(|socket| {
            registry.register(
                &mut SourceFd(&socket.fd.as_raw_fd()),
                Source::Notify(slot).token(),
                Interest::READABLE,
            )
        });
        if let Some(Err(err)) = registered {
            self.sockets.remove(slot);
            let errno = Errno::from_raw(err.raw_os_error().unwrap_or(libc::EIO));
            return Err(failure(SpawnStage::Prepare, "notify socket".into(), errno));
        }
        debug!("", "notify socket {}", name.to_string_lossy());
        self.socket_of.insert(service, slot);
        Ok(name)
    }

    /// `service` is gone for good: its socket is closed.
    pub(crate) fn forget_service(&mut self, registry: &Registry, service: ServiceId) {
        if let Some(slot) = self.socket_of.remove(&service)
            && let Some(socket) = self.sockets.remove(slot)
        {
            let _ = registry.deregister(&mut SourceFd(&socket.fd.as_raw_fd()));
            self.more.retain(|&queued| queued != slot);
        }
    }

    /// The services whose sockets are open.
    #[cfg(test)]
    pub(crate) fn notify_services(&self) -> Vec<ServiceId> {
        self.socket_of.keys().copied().collect()
    }

    /// Every open notify socket's slot (after a panic: read them all).
    pub(crate) fn notify_slots(&self) -> Vec<usize> {
        self.socket_of.values().copied().collect()
    }

    /// Whether a socket has more to read: the loop must not sleep.
    pub(crate) fn has_more(&self) -> bool {
        !self.more.is_empty()
    }

    /// The sockets whose batch ran out last turn, read again.
    pub(crate) fn take_more(&mut self) -> Vec<usize> {
        std::mem::take(&mut self.more)
    }

    /// Reads up to a batch of what waits on socket `slot`: each message
    /// from an allowed sender, with the service it is for.
    pub(crate) fn on_notify(&mut self, slot: usize) -> Vec<(ServiceId, NotifyMessage)> {
        self.read_notify(slot, NOTIFY_BATCH)
    }

    fn read_notify(&mut self, slot: usize, batch: usize) -> Vec<(ServiceId, NotifyMessage)> {
        let mut accepted = Vec::new();
        let own_uid = self.own_uid;
        let Some(socket) = self.sockets.get_mut(slot) else {
            return accepted;
        };
        let mut drained = false;
        for _ in 0..batch {
            let Some(datagram) = receive(&socket.fd) else {
                drained = true;
                break;
            };
            let text = datagram.text();
            let Some(sender) = &datagram.sender else {
                debug!("", "notify: ignored a message without sender credentials");
                continue;
            };
            if datagram.truncated {
                debug!(
                    "",
                    "notify: ignored an oversized message from uid {}", sender.uid
                );
                continue;
            }
            if sender.uid != 0 && sender.uid != own_uid && sender.uid != socket.uid {
                debug!(
                    "",
                    "notify: ignored {:?} from uid {} (pid {}): not root, svinit's user or the service's",
                    String::from_utf8_lossy(text).trim_end(),
                    sender.uid,
                    sender.pid
                );
                continue;
            }
            accepted.push((socket.service, parse_notify(text)));
        }
        if drained {
            self.more.retain(|&queued| queued != slot);
        } else if !self.more.contains(&slot) {
            self.more.push(slot);
        }
        accepted
    }
}

/// An abstract datagram socket with SO_PASSCRED, bound to a name the
/// kernel picks ("autobind"); the name as `NOTIFY_SOCKET` wants it.
fn open_notify_socket() -> nix::Result<(OwnedFd, OsString)> {
    let fd = socket(
        AddressFamily::Unix,
        SockType::Datagram,
        SockFlag::SOCK_CLOEXEC | SockFlag::SOCK_NONBLOCK,
        None,
    )?;
    setsockopt(&fd, sockopt::PassCred, &true)?;
    // Passed descriptors refused where the kernel can (else closed
    // without waiting as they come: `receive`).
    super::passed_fds::refuse(fd.as_fd());
    bind(fd.as_raw_fd(), &UnixAddr::new_unnamed())?;
    let addr: UnixAddr = getsockname(fd.as_raw_fd())?;
    let name = addr.as_abstract().ok_or(Errno::EADDRNOTAVAIL)?;
    let mut value = b"@".to_vec();
    value.extend_from_slice(name);
    Ok((fd, OsString::from_vec(value)))
}

/// The kernel-checked sender of a datagram.
struct Sender {
    /// 0 for a sender outside svinit's PID namespace.
    pid: i32,
    uid: u32,
}

/// One datagram read from a notify socket.
struct Datagram {
    buf: Vec<u8>,
    sender: Option<Sender>,
    truncated: bool,
}

impl Datagram {
    fn text(&self) -> &[u8] {
        &self.buf
    }
}

/// The next datagram, or `None` when nothing waits (or on an error).
/// File descriptors passed along (`FDSTORE=1`, barriers) are closed.
fn receive(fd: &OwnedFd) -> Option<Datagram> {
    let mut buf = vec![0u8; NOTIFY_MAX];
    loop {
        // Room for every descriptor a message can carry (253): one the
        // kernel had to drop would be closed by it, in svinit, waiting.
        let mut cmsg = nix::cmsg_space!(libc::ucred, [RawFd; 253]);
        let mut iov = [IoSliceMut::new(&mut buf)];
        let flags = MsgFlags::MSG_DONTWAIT | MsgFlags::MSG_CMSG_CLOEXEC;
        let msg = match recvmsg::<()>(fd.as_raw_fd(), &mut iov, Some(&mut cmsg), flags) {
            Ok(msg) => msg,
            Err(Errno::EINTR) => continue,
            Err(_) => return None,
        };
        let mut sender = None;
        if let Ok(cmsgs) = msg.cmsgs() {
            for c in cmsgs {
                match c {
                    ControlMessageOwned::ScmCredentials(cred) => {
                        sender = Some(Sender {
                            pid: cred.pid(),
                            uid: cred.uid(),
                        });
                    }
                    ControlMessageOwned::ScmRights(fds) => {
                        super::passed_fds::close_received(fds);
                    }
                    _ => {}
                }
            }
        }
        let truncated = msg
            .flags
            .intersects(MsgFlags::MSG_TRUNC | MsgFlags::MSG_CTRUNC);
        let bytes = msg.bytes;
        buf.truncate(bytes);
        return Some(Datagram {
            buf,
            sender,
            truncated,
        });
    }
}

/// Reads and drops everything queued on `fd` (bounded: a socket's queue
/// is bounded by the kernel, and this stops at the first empty read).
fn discard_queued(fd: &OwnedFd) {
    for _ in 0..4 * NOTIFY_BATCH {
        if receive(fd).is_none() {
            return;
        }
    }
}

/// The longest `STATUS=` text kept, in bytes: it is shown in every
/// `status` reply and log line, and the service chooses it.
pub(crate) const STATUS_TEXT_MAX: usize = 256;

/// A `STATUS=` value as kept: valid UTF-8, control characters (terminal
/// escapes) replaced, at most [`STATUS_TEXT_MAX`] bytes, cut at a
/// character boundary with `…` when longer.
fn status_text(raw: &[u8]) -> String {
    let text: String = String::from_utf8_lossy(raw)
        .chars()
        .map(|c| if c.is_control() { '\u{fffd}' } else { c })
        .collect();
    if text.len() <= STATUS_TEXT_MAX {
        return text;
    }
    let mut end = STATUS_TEXT_MAX - '…'.len_utf8();
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}…", &text[..end])
}

/// The assignments of an sd_notify message that svinit acts on.
pub(crate) fn parse_notify(text: &[u8]) -> NotifyMessage {
    let mut message = NotifyMessage::default();
    for line in text.split(|&b| b == b'\n') {
        if line == b"READY=1" {
            message.ready = true;
        } else if line == b"WATCHDOG=1" {
            message.watchdog = Some(WatchdogMessage::KeepAlive);
        } else if line == b"WATCHDOG=trigger" {
            message.watchdog = Some(WatchdogMessage::Trigger);
        } else if let Some(status) = line.strip_prefix(b"STATUS=") {
            message.status = Some(status_text(status));
        }
    }
    message
}

fn failure(stage: SpawnStage, detail: String, errno: Errno) -> SpawnFailure {
    SpawnFailure {
        stage,
        detail,
        errno: errno as i32,
        message: None,
    }
}

impl super::Runtime {
    /// A `ready-fd` pipe is readable.
    pub(super) fn on_ready_pipe(&mut self, slot: usize) {
        let (service, pid, problem) = match self.readiness.on_pipe(self.poll.registry(), slot) {
            PipeOutcome::Ready { service, pid } => {
                let ready = Event::Ready {
                    service,
                    pid: Some(pid),
                };
                return self.supervisor.handle_event(Instant::now(), ready);
            }
            PipeOutcome::ClosedWithoutNewline { service, pid } => {
                (service, pid, ReadyFdProblem::ClosedWithoutNewline)
            }
            PipeOutcome::Flooded { service, pid } => (
                service,
                pid,
                ReadyFdProblem::Flooded {
                    bytes: READY_FD_MAX,
                },
            ),
            PipeOutcome::Pending => return,
        };
        let failed = Event::ReadyFdFailed {
            service,
            pid,
            problem,
        };
        self.supervisor.handle_event(Instant::now(), failed);
    }

    /// A notify socket is readable (or had more than a batch last turn):
    /// each message, in the order of SPEC's assignments, to the supervisor.
    pub(super) fn on_notify(&mut self, slot: usize) {
        let now = Instant::now();
        for (service, message) in self.readiness.on_notify(slot) {
            if let Some(text) = message.status {
                self.supervisor
                    .handle_event(now, Event::NotifyStatus { service, text });
            }
            if message.ready {
                let ready = Event::Ready { service, pid: None };
                self.supervisor.handle_event(now, ready);
            }
            if let Some(message) = message.watchdog {
                self.supervisor
                    .handle_event(now, Event::Watchdog { service, message });
            }
        }
    }

    /// The sockets that had more than a batch last turn.
    pub(super) fn notify_more(&mut self) {
        for slot in self.readiness.take_more() {
            self.on_notify(slot);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn send(name: &OsString, text: &[u8]) {
        let socket = std::os::unix::net::UnixDatagram::unbound().expect("socket");
        let abstract_name = &name.as_encoded_bytes()[1..];
        let addr = <std::os::unix::net::SocketAddr as std::os::linux::net::SocketAddrExt>::from_abstract_name(abstract_name)
            .expect("abstract address");
        socket.send_to_addr(text, &addr).expect("send");
    }

    #[test]
    fn a_services_socket_is_its_own_batched_and_emptied_before_each_spawn() {
        let poll = mio::Poll::new().expect("poll");
        let mut config = ServiceConfig::new("db", crate::config::Command::Shell("x".into()));
        config.ready_notify = true;
        let mut readiness = Readiness::new();
        let db = ServiceId(3);
        let io = readiness
            .prepare(poll.registry(), db, 12345, &config)
            .expect("prepare");
        let name = io.notify_socket.expect("NOTIFY_SOCKET");
        assert!(name.as_encoded_bytes().starts_with(b"@"));
        let slot = readiness.socket_of[&db];

        // Whoever sent it (root here, gone or not), it is db's.
        send(&name, b"READY=1");
        let got = readiness.on_notify(slot);
        assert_eq!(got.len(), 1);
        assert_eq!(got[0].0, db);
        assert!(got[0].1.ready);
        assert!(!readiness.has_more());

        // A flood is read a batch per turn (the kernel queues at most
        // net.unix.max_dgram_qlen datagrams, 10 by default: a batch of 4).
        for _ in 0..8 {
            send(&name, b"STATUS=busy");
        }
        assert_eq!(readiness.read_notify(slot, 4).len(), 4);
        assert!(readiness.has_more());
        assert_eq!(readiness.take_more(), vec![slot]);
        assert_eq!(readiness.read_notify(slot, 4).len(), 4);
        assert_eq!(readiness.on_notify(slot).len(), 0);
        assert!(!readiness.has_more());

        // What the last run left is not taken by the next one; the socket
        // and its name stay.
        send(&name, b"READY=1");
        let again = readiness
            .prepare(poll.registry(), db, 12345, &config)
            .expect("prepare again");
        assert_eq!(again.notify_socket.as_ref(), Some(&name));
        assert!(readiness.on_notify(slot).is_empty());

        readiness.forget_service(poll.registry(), db);
        assert!(readiness.notify_services().is_empty());
    }

    #[test]
    fn notify_messages() {
        assert_eq!(
            parse_notify(b"READY=1\nSTATUS=Accepting connections\n"),
            NotifyMessage {
                ready: true,
                status: Some("Accepting connections".into()),
                watchdog: None
            }
        );
        assert_eq!(parse_notify(b"READY=0"), NotifyMessage::default());
        assert_eq!(parse_notify(b"MAINPID=7"), NotifyMessage::default());
        assert_eq!(
            parse_notify(b"MAINPID=7\nWATCHDOG=1").watchdog,
            Some(WatchdogMessage::KeepAlive)
        );
        assert_eq!(
            parse_notify(b"WATCHDOG=trigger\nREADY=1"),
            NotifyMessage {
                ready: true,
                status: None,
                watchdog: Some(WatchdogMessage::Trigger)
            }
        );
        // Neither a ping nor a trigger: WATCHDOG_USEC= (a new timeout) is
        // not supported, WATCHDOG=0 means nothing.
        for text in [&b"WATCHDOG_USEC=5000000"[..], b"WATCHDOG=0", b"WATCHDOG=1x"] {
            assert_eq!(parse_notify(text).watchdog, None);
        }
        assert_eq!(
            parse_notify(b"STATUS=\xff half"),
            NotifyMessage {
                ready: false,
                status: Some("\u{fffd} half".into()),
                watchdog: None
            }
        );
        assert!(parse_notify(b"X=1\nREADY=1").ready);
        let long = parse_notify(&[b"STATUS=".as_slice(), &[b'x'; 4000]].concat());
        let text = long.status.expect("kept");
        assert_eq!(text.len(), STATUS_TEXT_MAX);
        assert!(text.ends_with('…'));
        let escape = parse_notify(b"STATUS=\x1b[2Jred\tok");
        assert_eq!(escape.status.as_deref(), Some("\u{fffd}[2Jred\u{fffd}ok"));
    }
}
