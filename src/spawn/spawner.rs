//! The spawner: a small process svinit forks once, at start-up, that makes
//! the services' processes for it. Forking svinit itself costs more the more
//! services it runs (its page tables are copied, its kept output pipes
//! closed again in every child); the spawner's address space and fd table
//! stay as they were when it was forked.
//!
//! svinit sends one request per start on a `SOCK_SEQPACKET` socketpair (the
//! spawner's end is its only descriptor but 0-2, so only svinit can ask):
//! the [`SpawnPlan`], how to lay out the child's fds, and in `SCM_RIGHTS`
//! the write end of the start's status pipe and every fd the child needs.
//! The spawner creates the child with `clone(CLONE_PARENT)`, so it is
//! svinit's own child (svinit reaps it and gets its SIGCHLD), and the child
//! runs exactly what a forked one does ([`super::execute`]). It shares the
//! spawner's memory until it execs (`CLONE_VM | CLONE_VFORK`): no page
//! table is copied; the spawner waits meanwhile, svinit does not. The spawner
//! never answers: the child writes its pid first on the status pipe, and a
//! clone that fails is reported there as the `Fork` stage with its errno.
//! EOF before a pid means the request was lost with the spawner: svinit
//! then starts the service itself.
//!
//! The first spawner is forked before svinit reads its config
//! (`prelaunch`), while svinit is small. One forked later (after a spawner
//! died, or under `--detach`) execs svinit's own binary afresh
//! (`/proc/self/exe`, argv[0] `svinit-spawner`, its socket on fd 3): a fork
//! of the grown svinit would share its heap, which becomes the spawner's
//! private copy page by page as svinit writes to it (at 1,000 services,
//! 5 MiB more in all). Without /proc it serves from the forked copy.
//!
//! The spawner blocks only in `recvmsg` on svinit's socket and touches no
//! path: nothing a service controls reaches it (SPEC §7). It exits when
//! svinit closes the socket or dies (`PR_SET_PDEATHSIG`).

use std::ffi::CString;
use std::io::{IoSlice, IoSliceMut};
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, FromRawFd, OwnedFd, RawFd};

use nix::errno::Errno;
use nix::sys::socket::{
    AddressFamily, ControlMessage, ControlMessageOwned, MsgFlags, SockFlag, SockType, recvmsg,
    sendmsg, socketpair,
};
use nix::unistd::ForkResult;

use super::execute::{ChildIo, Stdio, clone_for_parent, reset_signal_dispositions, status_pipe};
use super::prepare::{PreparedLimit, SpawnPlan};
use crate::supervisor::SpawnFailure;

/// The most fds one request passes: the status pipe, stdin, stdout,
/// stderr and the extra fds (`ready-fd`, one today).
const MAX_FDS: usize = 16;

/// The stack a child runs on from clone to exec: `run_child` needs a few
/// KiB; the rest is margin.
const CHILD_STACK: usize = 256 * 1024;

/// The largest request, above any plan but one with a huge environment:
/// that one is refused with `EMSGSIZE` and svinit forks it itself.
const MAX_REQUEST: usize = 128 * 1024;

/// svinit's handle on its spawner.
#[derive(Debug)]
pub struct Spawner {
    pid: i32,
    socket: OwnedFd,
}

/// Why a request was not sent; the start is then svinit's to do.
#[derive(Debug)]
pub(crate) enum Unsent {
    /// The spawner is behind, or the request too large: this once.
    Busy,
    /// The spawner is gone.
    Gone,
    /// Not even the status pipe could be made: the start fails as a fork
    /// without one would.
    Failed(SpawnFailure),
}

impl Spawner {
    /// Forks the spawner, which execs svinit's binary afresh. `None` (and
    /// svinit forks every child itself) when that fails.
    pub(crate) fn launch() -> Option<Spawner> {
        Spawner::fork_into(exec_fresh)
    }

    fn fork_into(spawner: fn(OwnedFd) -> !) -> Option<Spawner> {
        let (ours, theirs) = socketpair(
            AddressFamily::Unix,
            SockType::SeqPacket,
            None,
            SockFlag::SOCK_CLOEXEC,
        )
        .ok()?;
        set_nonblocking(ours.as_fd());
        // SAFETY: single-threaded svinit; the child runs `spawner`, which
        // never returns.
        match unsafe { nix::unistd::fork() } {
            Err(_) => None,
            Ok(ForkResult::Child) => {
                drop(ours);
                spawner(theirs)
            }
            Ok(ForkResult::Parent { child }) => Some(Spawner {
                pid: child.as_raw(),
                socket: ours,
            }),
        }
    }

    pub(crate) fn pid(&self) -> i32 {
        self.pid
    }

    /// svinit's end, to poll for room.
    pub(crate) fn socket_fd(&self) -> RawFd {
        self.socket.as_raw_fd()
    }

    /// Asks for a child running `plan` with `io`; returns the read end of
    /// its status pipe. Never blocks.
    pub(crate) fn request(&self, plan: &SpawnPlan, io: &ChildIo<'_>) -> Result<OwnedFd, Unsent> {
        let (status, report) = status_pipe().map_err(Unsent::Failed)?;
        let mut fds = vec![report.as_raw_fd()];
        let mut bytes = Vec::with_capacity(1024);
        encode_plan(&mut bytes, plan);
        encode_io(&mut bytes, io, &mut fds);
        let rights = [ControlMessage::ScmRights(&fds)];
        let sent = sendmsg::<()>(
            self.socket.as_raw_fd(),
            &[IoSlice::new(&bytes)],
            &rights,
            MsgFlags::MSG_DONTWAIT | MsgFlags::MSG_NOSIGNAL,
            None,
        );
        match sent {
            Ok(_) => Ok(status),
            Err(Errno::EAGAIN | Errno::EMSGSIZE | Errno::ENOBUFS | Errno::ENOMEM) => {
                Err(Unsent::Busy)
            }
            Err(_) => Err(Unsent::Gone),
        }
    }
}

fn set_nonblocking(fd: BorrowedFd<'_>) {
    // SAFETY: fcntl on an fd we own.
    unsafe {
        let flags = libc::fcntl(fd.as_raw_fd(), libc::F_GETFL);
        libc::fcntl(fd.as_raw_fd(), libc::F_SETFL, flags | libc::O_NONBLOCK);
    }
}

/// Forks the spawner now, while svinit is small (before it reads its
/// config): its copy of svinit's memory stays small without an exec, and it
/// is ready by the first start. Handed to `Runtime::new`; one forked later
/// (after a spawner died) execs afresh.
pub fn prelaunch() -> Option<Spawner> {
    Spawner::fork_into(serve)
}

/// argv[0] of the spawner's fresh image.
const SPAWNER_NAME: &std::ffi::CStr = c"svinit-spawner";
/// Where the fresh image finds its socket.
const SPAWNER_FD: RawFd = 3;

/// In the forked child: the socket to fd 3, then svinit's binary again as
/// the spawner (`serve_if_spawner`); `serve` here if that exec fails.
fn exec_fresh(socket: OwnedFd) -> ! {
    let raw = socket.as_raw_fd();
    std::mem::forget(socket);
    // SAFETY: async-signal-safe calls only, in a fresh child of a
    // single-threaded process; the strings are static.
    unsafe {
        libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL);
        let fd = if raw == SPAWNER_FD {
            libc::fcntl(raw, libc::F_SETFD, 0)
        } else {
            libc::dup2(raw, SPAWNER_FD)
        };
        if fd >= 0 {
            let argv = [SPAWNER_NAME.as_ptr(), std::ptr::null()];
            let envp: [*const libc::c_char; 1] = [std::ptr::null()];
            libc::execve(c"/proc/self/exe".as_ptr(), argv.as_ptr(), envp.as_ptr());
        }
        let fd = if fd >= 0 { SPAWNER_FD } else { raw };
        libc::fcntl(fd, libc::F_SETFD, libc::FD_CLOEXEC);
        serve(OwnedFd::from_raw_fd(fd))
    }
}

/// svinit's binary started as the spawner (argv[0] `svinit-spawner` and a
/// `SOCK_SEQPACKET` socket on fd 3): serves and never returns. Anything
/// else returns at once: svinit runs as asked.
pub fn serve_if_spawner() {
    let named = std::env::args_os()
        .next()
        .is_some_and(|arg0| arg0.as_encoded_bytes() == SPAWNER_NAME.to_bytes());
    if !named {
        return;
    }
    let mut kind: libc::c_int = 0;
    let mut len = std::mem::size_of::<libc::c_int>() as libc::socklen_t;
    // SAFETY: getsockopt into a c_int of the given size.
    let is_socket = unsafe {
        libc::getsockopt(
            SPAWNER_FD,
            libc::SOL_SOCKET,
            libc::SO_TYPE,
            (&mut kind as *mut libc::c_int).cast(),
            &mut len,
        )
    } == 0;
    if is_socket && kind == libc::SOCK_SEQPACKET {
        // SAFETY: fd 3 is the socket svinit handed over, ours alone; no
        // child of the spawner may inherit it.
        unsafe { libc::fcntl(SPAWNER_FD, libc::F_SETFD, libc::FD_CLOEXEC) };
        serve(unsafe { OwnedFd::from_raw_fd(SPAWNER_FD) })
    }
}

/// The spawner process: serves requests until svinit goes away.
fn serve(socket: OwnedFd) -> ! {
    // SAFETY: plain system calls in a fresh single-threaded child.
    unsafe {
        libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL);
        libc::prctl(libc::PR_SET_NAME, c"svinit-spawner".as_ptr());
        // Its own process group: a signal to svinit's group (Ctrl-C on
        // svinit's terminal) is svinit's to handle, not the spawner's end.
        libc::setpgid(0, 0);
        // svinit's blocked signals and handlers are not the spawner's: a
        // SIGTERM ends it, and its children start with every disposition
        // default (`clone_for_parent` does not reset them again).
        let mut none: libc::sigset_t = std::mem::zeroed();
        libc::sigemptyset(&mut none);
        reset_signal_dispositions(libc::SIGRTMAX());
        libc::sigprocmask(libc::SIG_SETMASK, &none, std::ptr::null_mut());
    }
    // Nothing of svinit's but 0-2 (what `Stdio::Inherit` means) stays open.
    let socket = keep_only(socket);
    let buffer = lazy_zeroed(MAX_REQUEST);
    let stack = lazy_zeroed(CHILD_STACK);
    // What svinit's start-up mapped, and what a burst of starts did, is let
    // go once no request has come for a while (`own_memory`).
    let mut pages_to_release = true;
    loop {
        if pages_to_release && !request_within(socket, IDLE_RELEASE_MS) {
            crate::own_memory::release_startup_pages();
            pages_to_release = false;
        }
        let mut space = nix::cmsg_space!([RawFd; MAX_FDS]);
        let mut iov = [IoSliceMut::new(&mut *buffer)];
        let received = recvmsg::<()>(
            socket,
            &mut iov,
            Some(&mut space),
            MsgFlags::MSG_CMSG_CLOEXEC,
        );
        let (len, fds) = match received {
            Ok(msg) if msg.bytes > 0 => {
                let mut fds = Vec::new();
                for cmsg in msg.cmsgs().into_iter().flatten() {
                    if let ControlMessageOwned::ScmRights(raw) = cmsg {
                        // SAFETY: just received: ours alone.
                        fds.extend(
                            raw.into_iter()
                                .map(|fd| unsafe { OwnedFd::from_raw_fd(fd) }),
                        );
                    }
                }
                (msg.bytes, fds)
            }
            Err(Errno::EINTR) => continue,
            // svinit closed its end (or the socket broke): done.
            _ => unsafe { libc::_exit(0) },
        };
        // A request that does not decode is dropped: its status pipe's EOF
        // tells svinit, which starts the service itself.
        if let Some((plan, layout)) = decode_request(&buffer[..len])
            && let Some(report) = fds.first()
            && let Some(io) = layout.io(&fds)
        {
            clone_for_parent(&plan, &io, report.as_fd(), stack);
            pages_to_release = true;
        }
    }
}

/// How long the spawner waits with no request before it lets its pages go.
const IDLE_RELEASE_MS: u16 = 100;

/// Whether a request (or svinit's end) arrives on `socket` within
/// `millis`; true when the poll fails, so the caller just reads.
fn request_within(socket: RawFd, millis: u16) -> bool {
    let mut pollfd = libc::pollfd {
        fd: socket,
        events: libc::POLLIN,
        revents: 0,
    };
    loop {
        // SAFETY: one valid pollfd.
        match unsafe { libc::poll(&mut pollfd, 1, libc::c_int::from(millis)) } {
            0 => return false,
            -1 if Errno::last() == Errno::EINTR => continue,
            _ => return true,
        }
    }
}

/// `len` zero bytes that take memory only where written (an anonymous
/// mapping): the spawner's request buffer and its children's stack are
/// sized for the largest case, which a start seldom is.
fn lazy_zeroed(len: usize) -> &'static mut [u8] {
    // SAFETY: a fresh private anonymous mapping, never unmapped: the
    // spawner keeps it until it exits.
    unsafe {
        let at = libc::mmap(
            std::ptr::null_mut(),
            len,
            libc::PROT_READ | libc::PROT_WRITE,
            libc::MAP_PRIVATE | libc::MAP_ANONYMOUS,
            -1,
            0,
        );
        if at == libc::MAP_FAILED {
            libc::_exit(1);
        }
        std::slice::from_raw_parts_mut(at.cast(), len)
    }
}

/// Moves `socket` to fd 3 and closes every other fd above 2.
fn keep_only(socket: OwnedFd) -> RawFd {
    let raw = socket.as_raw_fd();
    std::mem::forget(socket);
    // SAFETY: fd juggling in a fresh child that owns its fd table alone.
    unsafe {
        let fd = if raw == 3 {
            3
        } else {
            let fd = libc::dup3(raw, 3, libc::O_CLOEXEC);
            libc::close(raw);
            fd
        };
        libc::syscall(
            libc::SYS_close_range,
            4 as libc::c_uint,
            libc::c_uint::MAX,
            0,
        );
        fd
    }
}

// ---- the request's bytes: lengths and numbers native-endian, u32 lengths

fn put_u32(out: &mut Vec<u8>, value: u32) {
    out.extend_from_slice(&value.to_ne_bytes());
}

fn put_u64(out: &mut Vec<u8>, value: u64) {
    out.extend_from_slice(&value.to_ne_bytes());
}

fn put_bytes(out: &mut Vec<u8>, bytes: &[u8]) {
    put_u32(out, bytes.len() as u32);
    out.extend_from_slice(bytes);
}

/// `None` as 0, `Some(v)` as 1 then `v`.
fn put_option<T>(out: &mut Vec<u8>, value: Option<T>, put: impl FnOnce(&mut Vec<u8>, T)) {
    match value {
        None => out.push(0),
        Some(value) => {
            out.push(1);
            put(out, value);
        }
    }
}

fn put_strings(out: &mut Vec<u8>, strings: &[CString]) {
    put_u32(out, strings.len() as u32);
    for string in strings {
        put_bytes(out, string.as_bytes());
    }
}

fn encode_plan(out: &mut Vec<u8>, plan: &SpawnPlan) {
    put_bytes(out, plan.program.as_bytes());
    put_strings(out, &plan.argv);
    put_strings(out, &plan.env);
    put_option(out, plan.directory.as_deref(), |o, d| {
        put_bytes(o, d.to_bytes())
    });
    put_option(out, plan.umask, put_u32);
    put_option(out, plan.nice, |o, n| put_u32(o, n as u32));
    put_u32(out, plan.limits.len() as u32);
    for limit in &plan.limits {
        put_u32(out, limit.resource as u32);
        put_u64(out, limit.soft);
        put_u64(out, limit.hard);
    }
    put_option(out, plan.tty.as_deref(), |o, t| put_bytes(o, t.to_bytes()));
    put_option(out, plan.groups.as_deref(), |o, groups| {
        put_u32(o, groups.len() as u32);
        for &gid in groups {
            put_u32(o, gid);
        }
    });
    put_option(out, plan.gid, put_u32);
    put_option(out, plan.uid, put_u32);
    out.push(u8::from(plan.foreground));
    put_option(out, plan.own_pid_env.as_deref(), put_bytes);
}

/// Stdio as a tag (0 inherit, 1 null, 2 fd) and for an fd its index in
/// the passed fds; then the extra fds as (target, index).
fn encode_io(out: &mut Vec<u8>, io: &ChildIo<'_>, fds: &mut Vec<RawFd>) {
    let pass = |fds: &mut Vec<RawFd>, fd: BorrowedFd<'_>| {
        fds.push(fd.as_raw_fd());
        (fds.len() - 1) as u32
    };
    for stdio in [io.stdin, io.stdout, io.stderr] {
        match stdio {
            Stdio::Inherit => out.push(0),
            Stdio::Null => out.push(1),
            Stdio::Fd(fd) => {
                out.push(2);
                let index = pass(fds, fd);
                put_u32(out, index);
            }
        }
    }
    put_u32(out, io.extra_fds.len() as u32);
    for &(target, source) in &io.extra_fds {
        put_u32(out, target as u32);
        let index = pass(fds, source);
        put_u32(out, index);
    }
}

/// Reads a request; every read is checked, so garbage gives `None`.
struct Reader<'a> {
    bytes: &'a [u8],
}

impl Reader<'_> {
    fn take(&mut self, len: usize) -> Option<&[u8]> {
        if len > self.bytes.len() {
            return None;
        }
        let (head, rest) = self.bytes.split_at(len);
        self.bytes = rest;
        Some(head)
    }

    fn u8(&mut self) -> Option<u8> {
        self.take(1).map(|b| b[0])
    }

    fn u32(&mut self) -> Option<u32> {
        Some(u32::from_ne_bytes(self.take(4)?.try_into().ok()?))
    }

    fn u64(&mut self) -> Option<u64> {
        Some(u64::from_ne_bytes(self.take(8)?.try_into().ok()?))
    }

    fn bytes(&mut self) -> Option<Vec<u8>> {
        let len = self.u32()? as usize;
        self.take(len).map(<[u8]>::to_vec)
    }

    fn cstring(&mut self) -> Option<CString> {
        CString::new(self.bytes()?).ok()
    }

    fn option<T>(&mut self, read: impl FnOnce(&mut Self) -> Option<T>) -> Option<Option<T>> {
        match self.u8()? {
            0 => Some(None),
            1 => read(self).map(Some),
            _ => None,
        }
    }

    /// A count, bounded by what is left (every item takes a byte at least).
    fn count(&mut self) -> Option<usize> {
        let count = self.u32()? as usize;
        (count <= self.bytes.len()).then_some(count)
    }

    fn strings(&mut self) -> Option<Vec<CString>> {
        (0..self.count()?).map(|_| self.cstring()).collect()
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum StdioLayout {
    Inherit,
    Null,
    Fd(usize),
}

/// [`ChildIo`] with indices into the passed fds.
#[derive(Debug, PartialEq, Eq)]
struct IoLayout {
    stdio: [StdioLayout; 3],
    extra: Vec<(RawFd, usize)>,
}

impl IoLayout {
    fn io<'a>(&self, fds: &'a [OwnedFd]) -> Option<ChildIo<'a>> {
        let fd = |index: usize| fds.get(index).map(|fd| fd.as_fd());
        let stdio = |layout: StdioLayout| match layout {
            StdioLayout::Inherit => Some(Stdio::Inherit),
            StdioLayout::Null => Some(Stdio::Null),
            StdioLayout::Fd(index) => fd(index).map(Stdio::Fd),
        };
        Some(ChildIo {
            stdin: stdio(self.stdio[0])?,
            stdout: stdio(self.stdio[1])?,
            stderr: stdio(self.stdio[2])?,
            extra_fds: self
                .extra
                .iter()
                .map(|&(target, index)| Some((target, fd(index)?)))
                .collect::<Option<_>>()?,
        })
    }
}

fn decode_request(bytes: &[u8]) -> Option<(SpawnPlan, IoLayout)> {
    let mut r = Reader { bytes };
    let plan = SpawnPlan {
        program: r.cstring()?,
        argv: r.strings()?,
        env: r.strings()?,
        directory: r.option(Reader::cstring)?,
        umask: r.option(Reader::u32)?,
        nice: r.option(|r| r.u32().map(|n| n as i32))?,
        limits: (0..r.count()?)
            .map(|_| {
                Some(PreparedLimit {
                    resource: r.u32()? as i32,
                    soft: r.u64()?,
                    hard: r.u64()?,
                })
            })
            .collect::<Option<_>>()?,
        tty: r.option(Reader::cstring)?,
        groups: r.option(|r| (0..r.count()?).map(|_| r.u32()).collect())?,
        gid: r.option(Reader::u32)?,
        uid: r.option(Reader::u32)?,
        foreground: r.u8()? != 0,
        own_pid_env: r.option(Reader::bytes)?,
        // Only svinit names failures: the spawner never reads these.
        user_label: String::new(),
        group_label: String::new(),
    };
    let mut stdio = [StdioLayout::Inherit; 3];
    for slot in &mut stdio {
        *slot = match r.u8()? {
            0 => StdioLayout::Inherit,
            1 => StdioLayout::Null,
            2 => StdioLayout::Fd(r.u32()? as usize),
            _ => return None,
        };
    }
    let extra = (0..r.count()?)
        .map(|_| Some((r.u32()? as RawFd, r.u32()? as usize)))
        .collect::<Option<_>>()?;
    r.bytes
        .is_empty()
        .then_some((plan, IoLayout { stdio, extra }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_request_round_trips_and_garbage_is_refused() {
        let plan = SpawnPlan {
            program: c"/bin/x".into(),
            argv: vec![c"x".into(), c"-y".into()],
            env: vec![c"A=1".into()],
            directory: Some(c"/srv".into()),
            umask: Some(0o27),
            nice: Some(-5),
            limits: vec![PreparedLimit {
                resource: libc::RLIMIT_NOFILE as i32,
                soft: 100,
                hard: libc::RLIM_INFINITY,
            }],
            tty: None,
            groups: Some(vec![1, 2]),
            gid: Some(7),
            uid: None,
            foreground: true,
            own_pid_env: Some(b"WATCHDOG_PID".to_vec()),
            user_label: String::new(),
            group_label: String::new(),
        };
        let (read, write) = nix::unistd::pipe().unwrap();
        let io = ChildIo {
            stdin: Stdio::Null,
            stdout: Stdio::Fd(write.as_fd()),
            stderr: Stdio::Inherit,
            extra_fds: vec![(3, read.as_fd())],
        };
        let mut bytes = Vec::new();
        let mut fds = vec![-1];
        encode_plan(&mut bytes, &plan);
        encode_io(&mut bytes, &io, &mut fds);
        assert_eq!(fds, [-1, write.as_raw_fd(), read.as_raw_fd()]);
        let (decoded, layout) = decode_request(&bytes).expect("decodes");
        assert_eq!(format!("{decoded:?}"), format!("{plan:?}"));
        assert_eq!(
            layout,
            IoLayout {
                stdio: [StdioLayout::Null, StdioLayout::Fd(1), StdioLayout::Inherit],
                extra: vec![(3, 2)],
            }
        );
        for len in 0..bytes.len() {
            assert!(decode_request(&bytes[..len]).is_none(), "cut at {len}");
        }
        bytes.push(0);
        assert!(decode_request(&bytes).is_none(), "trailing byte");
    }
}
