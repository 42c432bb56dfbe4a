//! Readiness I/O: the `ready-fd` pipes (s6 style: a newline on fd N) and
//! the sd_notify datagram socket (`ready-notify`: `READY=1`, `STATUS=…`).
//! It turns bytes into `Event::Ready` / `Event::NotifyStatus`; whether that
//! makes a service `up` is the supervisor's decision.
//!
//! Decisions where SPEC.md is silent:
//! - One notify socket for all services, in the abstract namespace with a
//!   kernel-chosen name (`NOTIFY_SOCKET=@xxxxx`): nothing on disk, no clash
//!   between svinits. It is opened at the first start of a `ready-notify`
//!   service and kept.
//! - A message counts only with SCM_CREDENTIALS naming a process of a
//!   `ready-notify` service: its main pid, or a process in its session or
//!   process group (/proc/PID/stat). Anything else is logged at debug level
//!   and dropped; so is a sender that is gone before it is looked up.
//! - `READY=1` and `STATUS=…` are read; other assignments are ignored.
//!   File descriptors passed along (`FDSTORE=1`) are closed at once.
//! - A `ready-fd` pipe is closed as soon as a newline came, at EOF without
//!   one (logged: the service stays `starting` until start-timeout), or
//!   when its process is reaped.

use std::collections::HashMap;
use std::ffi::OsString;
use std::io::IoSliceMut;
use std::os::fd::{AsFd, AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::os::unix::ffi::OsStringExt;

use mio::unix::SourceFd;
use mio::{Interest, Registry};

use super::tokens::Source;
use nix::errno::Errno;
use nix::fcntl::OFlag;
use nix::sys::socket::{
    AddressFamily, ControlMessageOwned, MsgFlags, SockFlag, SockType, UnixAddr, bind, getsockname,
    recvmsg, setsockopt, socket, sockopt,
};

use super::proc_stat;
use super::slab::Slab;
use crate::config::ServiceConfig;
use crate::supervisor::{Event, ServiceId, SpawnFailure, SpawnStage, StateKind, Supervisor};
use crate::{debug, warn};

/// The biggest notify message read; longer ones are dropped.
const NOTIFY_MAX: usize = 4096;
/// Messages handled per wakeup, so a flood cannot starve the loop.
const NOTIFY_BATCH: usize = 64;

struct ReadyPipe {
    service: ServiceId,
    pid: i32,
    fd: OwnedFd,
}

/// What a spawn needs for readiness: the write end to place at fd N, and
/// the `NOTIFY_SOCKET` value.
#[derive(Default)]
pub struct ReadyIo {
    pipe: Option<(RawFd, OwnedFd, OwnedFd)>,
    pub notify_socket: Option<OsString>,
}

impl ReadyIo {
    /// `(N, write end)` for `ChildIo::extra_fds`.
    pub fn child_fd(&self) -> Option<(RawFd, std::os::fd::BorrowedFd<'_>)> {
        self.pipe.as_ref().map(|(n, _, write)| (*n, write.as_fd()))
    }
}

/// What a readable `ready-fd` pipe said.
pub enum PipeOutcome {
    Ready {
        service: ServiceId,
        pid: i32,
    },
    /// EOF without a newline.
    ClosedWithoutNewline {
        service: ServiceId,
        pid: i32,
    },
    Pending,
}

/// One sd_notify message from a known process.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct NotifyMessage {
    pub ready: bool,
    pub status: Option<String>,
}

pub struct Readiness {
    pipes: Slab<ReadyPipe>,
    pipe_by_pid: HashMap<i32, usize>,
    notify: Option<OwnedFd>,
    notify_name: Option<OsString>,
}

impl Readiness {
    pub fn new() -> Readiness {
        Readiness {
            pipes: Slab::new(),
            pipe_by_pid: HashMap::new(),
            notify: None,
            notify_name: None,
        }
    }

    /// Before a spawn of `config`: the pipe for `ready-fd`, the socket for
    /// `ready-notify`.
    pub fn prepare(
        &mut self,
        registry: &Registry,
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
            io.notify_socket = Some(self.notify_socket(registry)?);
        }
        Ok(io)
    }

    /// After the fork: our copy of the write end is closed, the read end
    /// watched for `pid`.
    pub fn spawned(&mut self, registry: &Registry, service: ServiceId, pid: i32, io: ReadyIo) {
        let Some((_, read, write)) = io.pipe else {
            return;
        };
        drop(write);
        let slot = self.pipes.insert(ReadyPipe {
            service,
            pid,
            fd: read,
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
    pub fn pipe_slots(&self) -> Vec<usize> {
        self.pipes.occupied()
    }

    pub fn on_pipe(&mut self, registry: &Registry, slot: usize) -> PipeOutcome {
        let Some(pipe) = self.pipes.get_mut(slot) else {
            return PipeOutcome::Pending;
        };
        let (service, pid) = (pipe.service, pipe.pid);
        let mut buf = [0u8; 512];
        let outcome = loop {
            match nix::unistd::read(pipe.fd.as_fd(), &mut buf) {
                Ok(0) => break PipeOutcome::ClosedWithoutNewline { service, pid },
                Ok(n) if buf[..n].contains(&b'\n') => break PipeOutcome::Ready { service, pid },
                Ok(_) | Err(Errno::EINTR) => continue,
                Err(Errno::EAGAIN) => return PipeOutcome::Pending,
                Err(_) => break PipeOutcome::ClosedWithoutNewline { service, pid },
            }
        };
        self.forget_slot(registry, slot);
        outcome
    }

    /// The process `pid` was reaped: its pipe, if still open, goes.
    pub fn forget_pid(&mut self, registry: &Registry, pid: i32) {
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

    /// The notify socket's `NOTIFY_SOCKET` value, opening it the first time.
    fn notify_socket(&mut self, registry: &Registry) -> Result<OsString, SpawnFailure> {
        if let Some(name) = &self.notify_name {
            return Ok(name.clone());
        }
        let open = || -> nix::Result<(OwnedFd, OsString)> {
            let fd = socket(
                AddressFamily::Unix,
                SockType::Datagram,
                SockFlag::SOCK_CLOEXEC | SockFlag::SOCK_NONBLOCK,
                None,
            )?;
            setsockopt(&fd, sockopt::PassCred, &true)?;
            // An address of just the family: the kernel picks a free
            // abstract name ("autobind").
            bind(fd.as_raw_fd(), &UnixAddr::new_unnamed())?;
            let addr: UnixAddr = getsockname(fd.as_raw_fd())?;
            let name = addr.as_abstract().ok_or(Errno::EADDRNOTAVAIL)?;
            let mut value = b"@".to_vec();
            value.extend_from_slice(name);
            Ok((fd, OsString::from_vec(value)))
        };
        let (fd, name) =
            open().map_err(|errno| failure(SpawnStage::Prepare, "notify socket".into(), errno))?;
        registry
            .register(
                &mut SourceFd(&fd.as_raw_fd()),
                Source::Notify.token(),
                Interest::READABLE,
            )
            .map_err(|err| {
                let errno = Errno::from_raw(err.raw_os_error().unwrap_or(libc::EIO));
                failure(SpawnStage::Prepare, "notify socket".into(), errno)
            })?;
        debug!("", "notify socket {}", name.to_string_lossy());
        self.notify = Some(fd);
        self.notify_name = Some(name.clone());
        Ok(name)
    }

    /// Reads what is waiting on the notify socket: each message with the
    /// service it was accepted for.
    pub fn on_notify(&mut self, supervisor: &Supervisor) -> Vec<(ServiceId, NotifyMessage)> {
        let mut accepted = Vec::new();
        let Some(fd) = &self.notify else {
            return accepted;
        };
        for _ in 0..NOTIFY_BATCH {
            let mut buf = [0u8; NOTIFY_MAX];
            let mut cmsg = nix::cmsg_space!(libc::ucred, [RawFd; 16]);
            let mut iov = [IoSliceMut::new(&mut buf)];
            let flags = MsgFlags::MSG_DONTWAIT | MsgFlags::MSG_CMSG_CLOEXEC;
            let (bytes, sender, truncated) =
                match recvmsg::<()>(fd.as_raw_fd(), &mut iov, Some(&mut cmsg), flags) {
                    Ok(msg) => {
                        let mut sender = None;
                        if let Ok(cmsgs) = msg.cmsgs() {
                            for c in cmsgs {
                                match c {
                                    ControlMessageOwned::ScmCredentials(cred) => {
                                        sender = Some(cred.pid());
                                    }
                                    ControlMessageOwned::ScmRights(fds) => {
                                        for raw in fds {
                                            // SAFETY: the kernel just gave us
                                            // this fd; nobody else owns it.
                                            drop(unsafe { OwnedFd::from_raw_fd(raw) });
                                        }
                                    }
                                    _ => {}
                                }
                            }
                        }
                        let truncated = msg
                            .flags
                            .intersects(MsgFlags::MSG_TRUNC | MsgFlags::MSG_CTRUNC);
                        (msg.bytes, sender, truncated)
                    }
                    Err(Errno::EINTR) => continue,
                    Err(_) => break,
                };
            let text = buf.get(..bytes).unwrap_or_default();
            let message = parse_notify(text);
            let Some(pid) = sender.filter(|&pid| pid > 0) else {
                debug!("", "notify: dropped a message without sender credentials");
                continue;
            };
            if truncated {
                debug!("", "notify: dropped an oversized message from pid {pid}");
                continue;
            }
            match owner_of(supervisor, pid) {
                Some(id) if supervisor.service_config(id).ready_notify => {
                    accepted.push((id, message));
                }
                owner => {
                    let from = owner
                        .map(|id| {
                            format!(
                                " (of {}, which does not use ready-notify)",
                                supervisor.status(id).name
                            )
                        })
                        .unwrap_or_default();
                    debug!(
                        "",
                        "notify: ignored {:?} from pid {pid}{from}: not a process of a ready-notify service",
                        String::from_utf8_lossy(text).trim_end()
                    );
                }
            }
        }
        accepted
    }
}

/// The service `pid` belongs to: its main process, or one in its session
/// or process group (every service gets a session of its own).
pub fn owner_of(supervisor: &Supervisor, pid: i32) -> Option<ServiceId> {
    if let Some(id) = supervisor.service_of_pid(pid) {
        return Some(id);
    }
    let stat = proc_stat::read(pid)?;
    [stat.session, stat.pgrp]
        .into_iter()
        .filter(|&leader| leader > 1)
        .find_map(|leader| supervisor.service_of_pid(leader))
}

/// The assignments of an sd_notify message that svinit acts on.
pub fn parse_notify(text: &[u8]) -> NotifyMessage {
    let mut message = NotifyMessage::default();
    for line in text.split(|&b| b == b'\n') {
        if line == b"READY=1" {
            message.ready = true;
        } else if let Some(status) = line.strip_prefix(b"STATUS=") {
            message.status = Some(String::from_utf8_lossy(status).into_owned());
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
        match self.readiness.on_pipe(self.poll.registry(), slot) {
            PipeOutcome::Ready { service, pid } => {
                // Only for the process that got the pipe.
                if self.supervisor.status(service).pid == Some(pid) {
                    self.supervisor
                        .handle_event(std::time::Instant::now(), Event::Ready { service });
                }
            }
            PipeOutcome::ClosedWithoutNewline { service, pid } => {
                let status = self.supervisor.status(service);
                if status.pid == Some(pid) && status.state == StateKind::Starting {
                    warn!(
                        &status.name,
                        "closed its ready-fd without writing a newline: not ready"
                    );
                }
            }
            PipeOutcome::Pending => {}
        }
    }

    /// The notify socket is readable.
    pub(super) fn on_notify(&mut self) {
        let now = std::time::Instant::now();
        for (service, message) in self.readiness.on_notify(&self.supervisor) {
            if let Some(text) = message.status {
                debug!(&self.supervisor.status(service).name, "STATUS={text}");
                self.supervisor
                    .handle_event(now, Event::NotifyStatus { service, text });
            }
            if message.ready {
                self.supervisor.handle_event(now, Event::Ready { service });
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn notify_messages() {
        assert_eq!(
            parse_notify(b"READY=1\nSTATUS=Accepting connections\n"),
            NotifyMessage {
                ready: true,
                status: Some("Accepting connections".into())
            }
        );
        assert_eq!(parse_notify(b"READY=0"), NotifyMessage::default());
        assert_eq!(
            parse_notify(b"MAINPID=7\nWATCHDOG=1"),
            NotifyMessage::default()
        );
        assert_eq!(
            parse_notify(b"STATUS=\xff half"),
            NotifyMessage {
                ready: false,
                status: Some("\u{fffd} half".into())
            }
        );
        assert!(parse_notify(b"X=1\nREADY=1").ready);
    }
}
