//! The forking half: runs a [`SpawnPlan`] in a new process and reports which
//! step failed, if one did, through the child's status pipe.
//!
//! Between fork and exec the child only reads memory laid out before the
//! fork and makes async-signal-safe system calls: no allocation, no locks,
//! no formatting, no panics.

use std::ffi::CStr;
use std::os::fd::{AsRawFd, BorrowedFd, OwnedFd, RawFd};
use std::ptr;

use libc::{c_char, c_int, c_uint};
use nix::errno::Errno;
use nix::fcntl::OFlag;
use nix::unistd::ForkResult;

use super::prepare::SpawnPlan;
use crate::supervisor::{SpawnFailure, SpawnStage};

/// Where one of the child's standard fds comes from.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Stdio<'a> {
    /// svinit's own fd of that number.
    Inherit,
    /// `/dev/null`, read-only for stdin, write-only for stdout/stderr.
    Null,
    Fd(BorrowedFd<'a>),
}

/// The child's fds. A plan with a `tty` puts the terminal on 0, 1 and 2
/// instead of `stdin`/`stdout`/`stderr`.
#[derive(Debug, Clone)]
pub(crate) struct ChildIo<'a> {
    pub(crate) stdin: Stdio<'a>,
    pub(crate) stdout: Stdio<'a>,
    pub(crate) stderr: Stdio<'a>,
    /// `(target, source)`: `source` becomes fd number `target` in the child
    /// (`ready-fd`). A source may carry the number of another target.
    pub(crate) extra_fds: Vec<(RawFd, BorrowedFd<'a>)>,
}

impl Default for ChildIo<'_> {
    /// stdin on `/dev/null`, stdout and stderr inherited.
    fn default() -> Self {
        ChildIo {
            stdin: Stdio::Null,
            stdout: Stdio::Inherit,
            stderr: Stdio::Inherit,
            extra_fds: Vec::new(),
        }
    }
}

/// A forked child. `status` (CLOEXEC, non-blocking) turns readable when the
/// child has exec'd (EOF) or reported a failed step.
#[derive(Debug)]
pub(crate) struct Child {
    pub(crate) pid: i32,
    pub(crate) status: OwnedFd,
}

impl Child {
    #[cfg(test)]
    pub(crate) fn read_status(&self, plan: &SpawnPlan) -> ExecStatus {
        read_exec_status(std::os::fd::AsFd::as_fd(&self.status), plan)
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum ExecStatus {
    /// Neither exec'd nor failed yet.
    Pending,
    /// The child's first record: its pid ([`read_exec_record`] only).
    Started(i32),
    Execed,
    Failed(SpawnFailure),
}

/// The report of a failed step: stage, a detail number, errno.
const REPORT_LEN: usize = 8;
type Report = [u8; REPORT_LEN];

/// The detail number of a `Stdio` failure when the status pipe itself could
/// not be moved; otherwise it is the target fd.
const AUX_STATUS_PIPE: u16 = u16::MAX;

/// The stage byte of the record a child writes first: its pid, in the
/// errno field.
const PID_RECORD: u8 = u8::MAX;

/// The stages a child can report.
const CHILD_STAGES: [SpawnStage; 11] = [
    SpawnStage::Setsid,
    SpawnStage::Stdio,
    SpawnStage::Tty,
    SpawnStage::Chdir,
    SpawnStage::Umask,
    SpawnStage::Nice,
    SpawnStage::Rlimit,
    SpawnStage::Setgroups,
    SpawnStage::Setgid,
    SpawnStage::Setuid,
    SpawnStage::Exec,
];

fn encode(stage: SpawnStage, aux: u16, errno: i32) -> Report {
    let [a0, a1] = aux.to_ne_bytes();
    let [e0, e1, e2, e3] = errno.to_ne_bytes();
    [stage as u8, 0, a0, a1, e0, e1, e2, e3]
}

fn encode_pid(pid: libc::pid_t) -> Report {
    let [e0, e1, e2, e3] = pid.to_ne_bytes();
    [PID_RECORD, 0, 0, 0, e0, e1, e2, e3]
}

fn decode(report: Report) -> Option<(SpawnStage, u16, i32)> {
    let [code, _, a0, a1, e0, e1, e2, e3] = report;
    // `Fork` comes from the spawner, which could not create the child.
    let stage = CHILD_STAGES
        .into_iter()
        .chain([SpawnStage::Fork])
        .find(|&s| s as u8 == code)?;
    Some((
        stage,
        u16::from_ne_bytes([a0, a1]),
        i32::from_ne_bytes([e0, e1, e2, e3]),
    ))
}

/// Forks a child that becomes `plan`. The child, in order: blocks every
/// signal and sets every disposition to default; `setsid` (or `setpgid` in
/// foreground mode); the tty as controlling terminal; fds 0-2 and
/// `extra_fds` in place, every other fd closed; in foreground mode
/// `tcsetpgrp` on stdin; chdir; umask; nice; rlimits; setgroups, setgid,
/// setuid; an empty signal mask; execve. A failing step is reported on
/// `Child::status` and the child exits 127.
pub(crate) fn execute(plan: &SpawnPlan, io: &ChildIo<'_>) -> Result<Child, SpawnFailure> {
    let mut setup = ChildSetup::new(plan, io);
    let (status, report) = status_pipe()?;
    // SAFETY: the child runs only `run_child`, which never returns and only
    // makes async-signal-safe calls on memory prepared before the fork.
    match unsafe { nix::unistd::fork() } {
        Err(errno) => Err(fork_failure("", errno)),
        Ok(ForkResult::Child) => unsafe { run_child(&mut setup, report.as_raw_fd()) },
        Ok(ForkResult::Parent { child }) => {
            drop(report);
            Ok(Child {
                pid: child.as_raw(),
                status,
            })
        }
    }
}

/// A status pipe: the read end CLOEXEC and non-blocking for svinit, the
/// write end CLOEXEC for the child.
pub(crate) fn status_pipe() -> Result<(OwnedFd, OwnedFd), SpawnFailure> {
    nix::unistd::pipe2(OFlag::O_CLOEXEC | OFlag::O_NONBLOCK)
        .map_err(|errno| fork_failure("status pipe", errno))
}

/// The spawner's half of [`execute`]: a child of the spawner's parent
/// (`CLONE_PARENT`: svinit's own child, reaped by svinit) runs `plan`,
/// reporting on `report` like a forked one. A failed clone is reported
/// there too, as the `Fork` stage with its errno.
///
/// The child shares the spawner's memory until it execs (`CLONE_VM |
/// CLONE_VFORK`, as `posix_spawn` does), on `stack`: no page table is
/// copied, whatever the spawner's size, and the spawner, which has nothing
/// else to do, waits meanwhile. Every signal is blocked across the clone,
/// so none reaches the child before `run_child` has reset the handlers.
pub(super) fn clone_for_parent(
    plan: &SpawnPlan,
    io: &ChildIo<'_>,
    report: BorrowedFd<'_>,
    stack: &mut [u8],
) {
    let mut start = ChildStart {
        setup: ChildSetup::new(plan, io),
        report: report.as_raw_fd(),
    };
    // `serve` reset them all: the child's copy is default already.
    start.setup.reset_dispositions = false;
    // The stack grows down from its 16-byte aligned top.
    let top = stack.as_mut_ptr_range().end as usize & !15;
    let flags = libc::CLONE_PARENT | libc::CLONE_VM | libc::CLONE_VFORK | libc::SIGCHLD;
    // SAFETY: `child_entry` gets a pointer to `start`, which outlives the
    // child's use of it (the spawner is suspended until the child execs or
    // exits); the child touches only memory laid out before the clone with
    // async-signal-safe calls. The masks are plain `sigset_t`s.
    let pid = unsafe {
        let mut all: libc::sigset_t = std::mem::zeroed();
        let mut old: libc::sigset_t = std::mem::zeroed();
        libc::sigfillset(&mut all);
        libc::sigprocmask(libc::SIG_SETMASK, &all, &mut old);
        let pid = libc::clone(
            child_entry,
            top as *mut libc::c_void,
            flags,
            (&raw mut start).cast(),
        );
        let errno = Errno::last_raw();
        libc::sigprocmask(libc::SIG_SETMASK, &old, ptr::null_mut());
        (pid, errno)
    };
    if let (-1, errno) = pid {
        let message = encode(SpawnStage::Fork, 0, errno);
        // A fresh pipe of which this is the first write: never blocks.
        let _ = nix::unistd::write(report, &message);
    }
}

struct ChildStart<'p> {
    setup: ChildSetup<'p>,
    report: RawFd,
}

extern "C" fn child_entry(start: *mut libc::c_void) -> c_int {
    // SAFETY: `clone_for_parent` passes its `ChildStart`, alive meanwhile.
    unsafe {
        let start = &mut *start.cast::<ChildStart<'_>>();
        run_child(&mut start.setup, start.report)
    }
}

fn fork_failure(detail: &str, errno: Errno) -> SpawnFailure {
    SpawnFailure {
        stage: SpawnStage::Fork,
        detail: detail.to_string(),
        errno: errno as i32,
        message: None,
    }
}

/// Reads the child's status pipe without blocking. The runtime calls this
/// when the pipe is readable, and after reaping the child: then it is never
/// `Pending` in a single-threaded svinit, the write end being closed (with
/// threads, a child forked meanwhile by another thread may hold it until it
/// closes its fds). Once it is not `Pending`, the answer is final.
pub(crate) fn read_exec_status(fd: BorrowedFd<'_>, plan: &SpawnPlan) -> ExecStatus {
    loop {
        match read_exec_record(fd, plan) {
            ExecStatus::Started(_) => continue,
            status => return status,
        }
    }
}

/// One record of the status pipe: the child's pid (always first, unless
/// the spawner could not create the child), then EOF at exec or a failed
/// step. EOF before the pid means no child was made: the request was lost
/// with the spawner.
pub(crate) fn read_exec_record(fd: BorrowedFd<'_>, plan: &SpawnPlan) -> ExecStatus {
    let mut report: Report = [0; REPORT_LEN];
    loop {
        return match nix::unistd::read(fd, &mut report) {
            Ok(0) => ExecStatus::Execed,
            Ok(REPORT_LEN) if report[0] == PID_RECORD => {
                let [.., e0, e1, e2, e3] = report;
                ExecStatus::Started(i32::from_ne_bytes([e0, e1, e2, e3]))
            }
            Ok(REPORT_LEN) => ExecStatus::Failed(match decode(report) {
                Some((stage, aux, errno)) => child_failure(plan, stage, aux, errno),
                None => malformed_report(),
            }),
            Ok(_) => ExecStatus::Failed(malformed_report()),
            Err(Errno::EAGAIN) => ExecStatus::Pending,
            Err(Errno::EINTR) => continue,
            Err(errno) => ExecStatus::Failed(SpawnFailure {
                stage: SpawnStage::Exec,
                detail: "status pipe".to_string(),
                errno: errno as i32,
                message: None,
            }),
        };
    }
}

fn malformed_report() -> SpawnFailure {
    SpawnFailure {
        stage: SpawnStage::Exec,
        detail: "status pipe".to_string(),
        errno: 0,
        message: Some("malformed report from the child".to_string()),
    }
}

/// Names what the failed step was working on, from the plan.
fn child_failure(plan: &SpawnPlan, stage: SpawnStage, aux: u16, errno: i32) -> SpawnFailure {
    let lossy = |s: &CStr| s.to_string_lossy().into_owned();
    let detail = match stage {
        SpawnStage::Exec => lossy(&plan.program),
        SpawnStage::Chdir => plan.directory.as_deref().map(lossy).unwrap_or_default(),
        SpawnStage::Tty => plan.tty.as_deref().map(lossy).unwrap_or_default(),
        SpawnStage::Stdio if aux == AUX_STATUS_PIPE => "status pipe".to_string(),
        SpawnStage::Stdio => format!("fd {aux}"),
        SpawnStage::Nice => plan.nice.map(|n| n.to_string()).unwrap_or_default(),
        SpawnStage::Rlimit => plan
            .limits
            .get(usize::from(aux))
            .map(|l| rlimit_name(l.resource))
            .unwrap_or_default(),
        SpawnStage::Setgroups => plan
            .groups
            .iter()
            .flatten()
            .map(u32::to_string)
            .collect::<Vec<_>>()
            .join(","),
        SpawnStage::Setgid => plan.group_label.clone(),
        SpawnStage::Setuid => plan.user_label.clone(),
        SpawnStage::Prepare | SpawnStage::Fork | SpawnStage::Setsid | SpawnStage::Umask => {
            String::new()
        }
    };
    SpawnFailure {
        stage,
        detail,
        errno,
        message: None,
    }
}

/// The `limits` key name of an rlimit resource.
fn rlimit_name(resource: i32) -> String {
    const NAMES: [(c_int, &str); 16] = [
        (libc::RLIMIT_AS as c_int, "as"),
        (libc::RLIMIT_CORE as c_int, "core"),
        (libc::RLIMIT_CPU as c_int, "cpu"),
        (libc::RLIMIT_DATA as c_int, "data"),
        (libc::RLIMIT_FSIZE as c_int, "fsize"),
        (libc::RLIMIT_LOCKS as c_int, "locks"),
        (libc::RLIMIT_MEMLOCK as c_int, "memlock"),
        (libc::RLIMIT_MSGQUEUE as c_int, "msgqueue"),
        (libc::RLIMIT_NICE as c_int, "nice"),
        (libc::RLIMIT_NOFILE as c_int, "nofile"),
        (libc::RLIMIT_NPROC as c_int, "nproc"),
        (libc::RLIMIT_RSS as c_int, "rss"),
        (libc::RLIMIT_RTPRIO as c_int, "rtprio"),
        (libc::RLIMIT_RTTIME as c_int, "rttime"),
        (libc::RLIMIT_SIGPENDING as c_int, "sigpending"),
        (libc::RLIMIT_STACK as c_int, "stack"),
    ];
    NAMES
        .iter()
        .find(|(r, _)| *r == resource)
        .map_or_else(|| format!("resource {resource}"), |(_, n)| n.to_string())
}

#[derive(Debug, Clone, Copy)]
enum FdSource {
    Fd(RawFd),
    NullRead,
    NullWrite,
    Tty,
}

/// `source` goes to fd `target`, through a copy `staged` above every target
/// so that no source is overwritten before it is used.
#[derive(Debug, Clone, Copy)]
struct FdMove {
    target: RawFd,
    source: FdSource,
    staged: RawFd,
}

/// Everything the child uses, allocated before the fork.
struct ChildSetup<'p> {
    plan: &'p SpawnPlan,
    argv: Vec<*const c_char>,
    envp: Vec<*const c_char>,
    /// `NAME=` and room for a pid and a NUL, in `envp`: the child writes
    /// its own pid there (`SpawnPlan::set_own_pid_env`).
    own_pid: Option<OwnPidEntry>,
    moves: Vec<FdMove>,
    /// Targets above 2, sorted: the fds other than 0..=2 the child keeps.
    keep: Vec<RawFd>,
    /// Above every target: where sources are staged and the status pipe moves.
    high: RawFd,
    /// The highest signal number.
    max_signal: c_int,
    /// Whether the child resets every disposition: not when the spawner,
    /// whose dispositions are all default already, made it.
    reset_dispositions: bool,
    full_mask: libc::sigset_t,
    empty_mask: libc::sigset_t,
}

/// An environment string the child completes with its own pid.
struct OwnPidEntry {
    buffer: Vec<u8>,
    /// Where the digits go: just after `NAME=`.
    at: usize,
}

/// Decimal digits of a pid (at most 10 for an i32) and the NUL.
const PID_ROOM: usize = 11;

impl OwnPidEntry {
    fn new(name: &[u8]) -> OwnPidEntry {
        let mut buffer = Vec::with_capacity(name.len() + 1 + PID_ROOM);
        buffer.extend_from_slice(name);
        buffer.push(b'=');
        let at = buffer.len();
        buffer.resize(at + PID_ROOM, 0);
        OwnPidEntry { buffer, at }
    }

    /// The string for `envp`; valid while `buffer` is neither moved out of
    /// nor reallocated (it never is once made).
    fn as_ptr(&mut self) -> *const c_char {
        self.buffer.as_mut_ptr().cast_const().cast()
    }

    /// Writes `pid` in decimal and a NUL. Async-signal-safe: no allocation,
    /// only stores into memory laid out before the fork.
    fn write(&mut self, pid: libc::pid_t) {
        let mut digits = [0u8; PID_ROOM];
        let mut len = 0;
        let mut rest = pid.unsigned_abs();
        loop {
            digits[len] = b'0' + (rest % 10) as u8;
            len += 1;
            rest /= 10;
            if rest == 0 || len == PID_ROOM - 1 {
                break;
            }
        }
        if self.at + len >= self.buffer.len() {
            return;
        }
        // Through the same kind of pointer `envp` holds (no reference to
        // the buffer is made), within its length (checked above).
        let base = self.buffer.as_mut_ptr();
        for (offset, digit) in digits[..len].iter().rev().enumerate() {
            // SAFETY: `self.at + offset < self.at + len < buffer.len()`.
            unsafe { base.add(self.at + offset).write(*digit) };
        }
        // SAFETY: `self.at + len < buffer.len()`.
        unsafe { base.add(self.at + len).write(0) };
    }
}

/// Sets every signal's disposition to default. Ignored signals stay ignored
/// across exec, svinit's own (SIGPIPE from Rust) or inherited ones. The
/// system call, because the libc wrappers refuse 32-34, which svinit may
/// have inherited ignored too. Async-signal-safe.
pub(super) fn reset_signal_dispositions(max_signal: c_int) {
    let sigset_size = (max_signal / 8) as libc::size_t;
    for signal in 1..=max_signal {
        if signal != libc::SIGKILL && signal != libc::SIGSTOP {
            // SAFETY: rt_sigaction with a zeroed kernel sigaction (SIG_DFL).
            unsafe {
                libc::syscall(
                    libc::SYS_rt_sigaction,
                    signal,
                    KERNEL_SIG_DFL.as_ptr(),
                    ptr::null_mut::<libc::c_void>(),
                    sigset_size,
                );
            }
        }
    }
}

/// A kernel `struct sigaction` (not libc's) for `SIG_DFL`: all zero on every
/// architecture, and larger than any of them.
static KERNEL_SIG_DFL: [u64; 8] = [0; 8];

impl<'p> ChildSetup<'p> {
    fn new(plan: &'p SpawnPlan, io: &ChildIo<'_>) -> Self {
        let pointers = |strings: &[std::ffi::CString]| {
            strings
                .iter()
                .map(|s| s.as_ptr())
                .chain([ptr::null()])
                .collect()
        };
        let mut moves = Vec::with_capacity(3 + io.extra_fds.len());
        let mut add = |target, source| {
            moves.push(FdMove {
                target,
                source,
                staged: -1,
            })
        };
        if plan.tty.is_some() {
            for target in 0..3 {
                add(target, FdSource::Tty);
            }
        } else {
            for (target, stdio) in [(0, io.stdin), (1, io.stdout), (2, io.stderr)] {
                match stdio {
                    Stdio::Inherit => {}
                    Stdio::Null if target == 0 => add(target, FdSource::NullRead),
                    Stdio::Null => add(target, FdSource::NullWrite),
                    Stdio::Fd(fd) => add(target, FdSource::Fd(fd.as_raw_fd())),
                }
            }
        }
        for (target, source) in &io.extra_fds {
            add(*target, FdSource::Fd(source.as_raw_fd()));
        }
        let mut keep: Vec<RawFd> = moves.iter().map(|m| m.target).filter(|&t| t > 2).collect();
        keep.sort_unstable();
        keep.dedup();
        let high = keep.last().copied().unwrap_or(2).saturating_add(1);

        // SAFETY: all-zero is a valid `sigset_t`, then set properly.
        let (mut full_mask, mut empty_mask): (libc::sigset_t, libc::sigset_t) =
            unsafe { (std::mem::zeroed(), std::mem::zeroed()) };
        unsafe {
            libc::sigfillset(&mut full_mask);
            libc::sigemptyset(&mut empty_mask);
        }
        let mut own_pid = plan.own_pid_env.as_deref().map(OwnPidEntry::new);
        let mut envp: Vec<*const c_char> = plan.env.iter().map(|s| s.as_ptr()).collect();
        envp.extend(own_pid.as_mut().map(OwnPidEntry::as_ptr));
        envp.push(ptr::null());
        ChildSetup {
            plan,
            argv: pointers(&plan.argv),
            envp,
            own_pid,
            moves,
            keep,
            high,
            max_signal: libc::SIGRTMAX(),
            reset_dispositions: true,
            full_mask,
            empty_mask,
        }
    }
}

/// The child, from fork to exec.
///
/// # Safety
/// Only in the child of a fork; `report` is the write end of the status pipe.
unsafe fn run_child(setup: &mut ChildSetup<'_>, report: RawFd) -> ! {
    use SpawnStage::*;
    let plan = setup.plan;
    unsafe {
        // A signal sent to the child now waits until just before execve.
        libc::sigprocmask(libc::SIG_SETMASK, &setup.full_mask, ptr::null_mut());
        // Whoever reads the pipe learns the pid first: svinit does not when
        // the spawner made the child.
        let own_pid = encode_pid(libc::getpid());
        libc::write(report, own_pid.as_ptr().cast(), REPORT_LEN);
        if setup.reset_dispositions {
            reset_signal_dispositions(setup.max_signal);
        }

        if plan.foreground {
            // Cannot fail: a fresh child is neither a session leader nor exec'd.
            libc::setpgid(0, 0);
        } else if libc::setsid() < 0 {
            fail(report, Setsid, 0);
        }
        let report = match libc::fcntl(report, libc::F_DUPFD_CLOEXEC, setup.high) {
            -1 => fail(report, Stdio, AUX_STATUS_PIPE),
            moved => moved,
        };

        let mut tty = -1;
        if let Some(path) = &plan.tty {
            tty = libc::open(
                path.as_ptr(),
                libc::O_RDWR | libc::O_NOCTTY | libc::O_CLOEXEC,
            );
            if tty < 0 || libc::ioctl(tty, libc::TIOCSCTTY, 0) < 0 {
                fail(report, Tty, 0);
            }
        }
        let (mut null_read, mut null_write) = (-1, -1);
        for fd_move in setup.moves.iter_mut() {
            let aux = stdio_aux(fd_move.target);
            let source = match fd_move.source {
                FdSource::Fd(fd) => fd,
                FdSource::Tty => tty,
                FdSource::NullRead => open_null(&mut null_read, libc::O_RDONLY, report, aux),
                FdSource::NullWrite => open_null(&mut null_write, libc::O_WRONLY, report, aux),
            };
            fd_move.staged = libc::fcntl(source, libc::F_DUPFD_CLOEXEC, setup.high);
            if fd_move.staged < 0 {
                fail(report, Stdio, aux);
            }
        }
        for fd_move in setup.moves.iter() {
            if libc::dup2(fd_move.staged, fd_move.target) < 0 {
                fail(report, Stdio, stdio_aux(fd_move.target));
            }
        }
        close_other_fds(&setup.keep, report);
        if plan.foreground {
            // ENOTTY when stdin is not svinit's terminal: nothing to hand over.
            // SIGTTOU, which a background group gets for this, is blocked.
            libc::tcsetpgrp(0, libc::getpid());
        }

        if let Some(directory) = &plan.directory
            && libc::chdir(directory.as_ptr()) < 0
        {
            fail(report, Chdir, 0);
        }
        if let Some(mask) = plan.umask {
            libc::umask(mask);
        }
        if let Some(nice) = plan.nice
            && libc::setpriority(libc::PRIO_PROCESS as _, 0, nice) < 0
        {
            fail(report, Nice, 0);
        }
        for (index, limit) in plan.limits.iter().enumerate() {
            let rlimit = libc::rlimit {
                rlim_cur: limit.soft,
                rlim_max: limit.hard,
            };
            if libc::setrlimit(limit.resource as _, &rlimit) < 0 {
                fail(report, Rlimit, u16::try_from(index).unwrap_or(u16::MAX));
            }
        }
        if let Some(groups) = &plan.groups
            && libc::setgroups(groups.len() as _, groups.as_ptr()) < 0
        {
            fail(report, Setgroups, 0);
        }
        if let Some(gid) = plan.gid
            && libc::setgid(gid) < 0
        {
            fail(report, Setgid, 0);
        }
        if let Some(uid) = plan.uid
            && libc::setuid(uid) < 0
        {
            fail(report, Setuid, 0);
        }
        if let Some(entry) = setup.own_pid.as_mut() {
            entry.write(libc::getpid());
        }
        libc::sigprocmask(libc::SIG_SETMASK, &setup.empty_mask, ptr::null_mut());
        libc::execve(
            plan.program.as_ptr(),
            setup.argv.as_ptr(),
            setup.envp.as_ptr(),
        );
        fail(report, Exec, 0)
    }
}

fn stdio_aux(target: RawFd) -> u16 {
    u16::try_from(target).map_or(AUX_STATUS_PIPE - 1, |t| t.min(AUX_STATUS_PIPE - 1))
}

/// Opens `/dev/null` once per mode (CLOEXEC: only its staged copies matter).
unsafe fn open_null(fd: &mut RawFd, mode: c_int, report: RawFd, aux: u16) -> RawFd {
    if *fd < 0 {
        *fd = unsafe { libc::open(c"/dev/null".as_ptr(), mode | libc::O_CLOEXEC) };
        if *fd < 0 {
            unsafe { fail(report, SpawnStage::Stdio, aux) }
        }
    }
    *fd
}

/// Closes every fd above 2 but the `keep` ones (sorted) and `report` (above
/// them all). A kernel without `close_range` (before 5.9) leaves them to
/// CLOEXEC.
unsafe fn close_other_fds(keep: &[RawFd], report: RawFd) {
    let close_range = |first: c_uint, last: c_uint| unsafe {
        libc::syscall(libc::SYS_close_range, first, last, 0 as c_uint);
    };
    let mut first: c_uint = 3;
    for &fd in keep.iter().chain([&report]) {
        let fd = fd as c_uint;
        if fd > first {
            close_range(first, fd - 1);
        }
        first = fd.saturating_add(1);
    }
    close_range(first, c_uint::MAX);
}

/// Reports the failed step with the current errno and exits.
unsafe fn fail(report: RawFd, stage: SpawnStage, aux: u16) -> ! {
    let message = encode(stage, aux, Errno::last_raw());
    unsafe {
        libc::write(report, message.as_ptr().cast(), REPORT_LEN);
        libc::_exit(127)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reports_round_trip_for_every_child_stage() {
        for stage in CHILD_STAGES {
            let report = encode(stage, 513, libc::EACCES);
            assert_eq!(decode(report), Some((stage, 513, libc::EACCES)));
        }
        assert_eq!(decode(encode(SpawnStage::Prepare, 0, 1)), None);
        let fork = encode(SpawnStage::Fork, 0, libc::EAGAIN);
        assert_eq!(decode(fork), Some((SpawnStage::Fork, 0, libc::EAGAIN)));
        assert_eq!(encode_pid(4242)[0], PID_RECORD);
    }

    #[test]
    fn rlimit_names() {
        assert_eq!(rlimit_name(libc::RLIMIT_NOFILE as i32), "nofile");
        assert_eq!(rlimit_name(9999), "resource 9999");
    }

    #[test]
    fn stdio_aux_never_claims_the_status_pipe() {
        assert_eq!(stdio_aux(1), 1);
        assert_eq!(stdio_aux(70000), AUX_STATUS_PIPE - 1);
        assert_eq!(stdio_aux(-1), AUX_STATUS_PIPE - 1);
    }
}
