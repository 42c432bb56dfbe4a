//! Process tests: real children, observed from inside (what a shell prints)
//! and from outside (`/proc/PID`), waited for with `waitpid`.

use std::ffi::OsString;
use std::fs::File;
use std::io::Read;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, FromRawFd, OwnedFd};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};

use nix::fcntl::OFlag;
use nix::poll::{PollFd, PollFlags, PollTimeout};
use nix::sys::signal::{SigSet, SigmaskHow, Signal, pthread_sigmask};
use nix::sys::wait::{WaitStatus, waitpid};
use nix::unistd::{Pid, pipe2};

use super::execute::Child;
use super::*;
use crate::config::{Command, IdRef, Limit, ServiceConfig};
use crate::supervisor::{SpawnFailure, SpawnStage};
use crate::users::UserDb;

/// A directory removed when dropped.
pub(crate) struct TempDir(PathBuf);

impl TempDir {
    pub(crate) fn new() -> TempDir {
        static COUNT: AtomicUsize = AtomicUsize::new(0);
        let n = COUNT.fetch_add(1, Ordering::Relaxed);
        let path = std::env::temp_dir().join(format!("svinit-spawn-{}-{n}", std::process::id()));
        std::fs::create_dir_all(&path).expect("create temp dir");
        TempDir(path)
    }

    pub(crate) fn path(&self) -> &Path {
        &self.0
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

pub(crate) fn shell(script: &str) -> ServiceConfig {
    ServiceConfig::new("t", Command::Shell(script.to_string()))
}

pub(crate) fn exec(argv: &[&str]) -> ServiceConfig {
    ServiceConfig::new(
        "t",
        Command::Exec(argv.iter().map(|s| s.to_string()).collect()),
    )
}

fn context() -> SpawnContext {
    SpawnContext::from_process(None)
}

fn wait(pid: i32) -> WaitStatus {
    waitpid(Pid::from_raw(pid), None).expect("waitpid")
}

/// A finished child: how it ended, what its status pipe said, its output.
struct Finished {
    wait: WaitStatus,
    exec: ExecStatus,
    stdout: String,
    stderr: String,
}

fn run_in(service: &ServiceConfig, ctx: &SpawnContext) -> Finished {
    let plan = prepare(service, ctx).expect("prepare");
    run_plan(&plan, Vec::new())
}

/// Waits for the status pipe like the runtime does. Even after the child is
/// reaped: a child that another test thread forked meanwhile may hold the
/// write end open until it closes its fds.
fn exec_status(child: &Child, plan: &SpawnPlan) -> ExecStatus {
    loop {
        let mut poll = [PollFd::new(child.status.as_fd(), PollFlags::POLLIN)];
        nix::poll::poll(&mut poll, PollTimeout::NONE).expect("poll");
        // Readable first for the child's pid record alone.
        match child.read_status(plan) {
            ExecStatus::Pending => continue,
            status => return status,
        }
    }
}

/// Runs `plan` with stdout and stderr in files, plus `extra_fds`.
fn run_plan(plan: &SpawnPlan, extra_fds: Vec<(i32, BorrowedFd<'_>)>) -> Finished {
    let dir = TempDir::new();
    let out = File::create(dir.path().join("out")).expect("out");
    let err = File::create(dir.path().join("err")).expect("err");
    let io = ChildIo {
        stdout: Stdio::Fd(out.as_fd()),
        stderr: Stdio::Fd(err.as_fd()),
        extra_fds,
        ..ChildIo::default()
    };
    let child = execute(plan, &io).expect("execute");
    let wait = wait(child.pid);
    let read = |name| std::fs::read_to_string(dir.path().join(name)).expect("read output");
    Finished {
        wait,
        exec: exec_status(&child, plan),
        stdout: read("out"),
        stderr: read("err"),
    }
}

/// Runs `service` and returns its stdout; it must exec and exit 0.
fn observe(service: &ServiceConfig) -> String {
    let run = run_in(service, &context());
    assert_eq!(run.exec, ExecStatus::Execed, "stderr: {}", run.stderr);
    assert!(
        matches!(run.wait, WaitStatus::Exited(_, 0)),
        "{:?}, stderr: {}",
        run.wait,
        run.stderr
    );
    run.stdout
}

/// The child failed at a step before exec: exit 127 and a report.
fn failure(service: &ServiceConfig) -> SpawnFailure {
    let run = run_in(service, &context());
    assert!(
        matches!(run.wait, WaitStatus::Exited(_, 127)),
        "{:?}",
        run.wait
    );
    match run.exec {
        ExecStatus::Failed(failure) => failure,
        other => panic!("expected a failure, got {other:?}"),
    }
}

/// Fields of `/proc/PID/stat` after the command name: index 0 is field 3 (state).
fn stat_fields(stat: &str) -> Vec<i128> {
    let (_, rest) = stat.rsplit_once(')').expect("stat has a command name");
    rest.split_whitespace()
        .skip(1)
        .map(|f| f.parse().expect("numeric field"))
        .collect()
}
// Indexes into `stat_fields` (man 5 proc: field N is at N - 4).
const PGRP: usize = 1;
const SESSION: usize = 2;
const TTY_NR: usize = 3;
const TPGID: usize = 4;
const NICE: usize = 15;

fn sorted_numbers(text: &str) -> Vec<u32> {
    let mut numbers: Vec<u32> = text
        .split_whitespace()
        .map(|n| n.parse().expect("a number"))
        .collect();
    numbers.sort_unstable();
    numbers
}

/// `WATCHDOG_PID` (systemd): the child's own pid, known only after the
/// fork, written by the child into memory laid out before it; an inherited
/// value is replaced, once.
#[test]
fn a_variable_set_to_the_childs_own_pid() {
    let path = std::env::var_os("PATH").unwrap_or_default();
    let inherited = [
        (OsString::from("PATH"), path),
        (OsString::from("WATCHDOG_PID"), OsString::from("1")),
    ];
    let ctx = SpawnContext::new(inherited, None, UserDb::load());
    let service = shell("echo $$ $WATCHDOG_PID; env | grep -c ^WATCHDOG_PID=");
    let mut plan = prepare(&service, &ctx).expect("plan");
    plan.set_own_pid_env("WATCHDOG_PID").expect("set");
    let run = run_plan(&plan, Vec::new());
    let shown: Vec<&str> = run.stdout.split_whitespace().collect();
    assert_eq!(shown.len(), 3, "{}", run.stdout);
    assert_eq!(shown[0], shown[1], "the shell's pid: {}", run.stdout);
    assert_eq!(shown[2], "1", "one WATCHDOG_PID");
    assert!(plan.set_own_pid_env("A=B").is_err());
}

#[test]
fn runs_a_shell_and_reports_execed() {
    assert_eq!(observe(&shell("echo hello; echo oops >&2")), "hello\n");
}

#[test]
fn exec_looks_up_the_program_on_path() {
    assert_eq!(observe(&exec(&["echo", "a b", "c"])), "a b c\n");
}

/// Starts `cat` between two pipes, waits for its status pipe to turn
/// readable (at exec, while it runs), has it echo a byte so that its
/// start-up (the loader's fds) is over, lists its fds from outside, ends it.
fn fds_of_running_cat(extra_fds: Vec<(i32, BorrowedFd<'_>)>) -> Vec<i32> {
    let (stdin_read, stdin_write) = pipe2(OFlag::O_CLOEXEC).expect("pipe");
    let (stdout_read, stdout_write) = pipe2(OFlag::O_CLOEXEC).expect("pipe");
    let plan = prepare(&exec(&["/bin/cat"]), &context()).expect("prepare");
    let io = ChildIo {
        stdin: Stdio::Fd(stdin_read.as_fd()),
        stdout: Stdio::Fd(stdout_write.as_fd()),
        stderr: Stdio::Null,
        extra_fds,
    };
    let child = execute(&plan, &io).expect("execute");
    assert_eq!(exec_status(&child, &plan), ExecStatus::Execed);
    let mut echo = [0; 1];
    nix::unistd::write(&stdin_write, b"x").expect("write");
    nix::unistd::read(&stdout_read, &mut echo).expect("read");
    assert_eq!(&echo, b"x");
    let fds = fds_of(child.pid);
    drop(stdin_write);
    assert!(matches!(wait(child.pid), WaitStatus::Exited(_, 0)));
    fds
}

#[test]
fn status_pipe_turns_readable_at_exec_while_the_child_runs() {
    assert_eq!(fds_of_running_cat(Vec::new()), [0, 1, 2]);
}

fn fds_of(pid: i32) -> Vec<i32> {
    let mut fds: Vec<i32> = std::fs::read_dir(format!("/proc/{pid}/fd"))
        .expect("read /proc/PID/fd")
        .map(|e| {
            e.expect("entry")
                .file_name()
                .to_string_lossy()
                .parse()
                .expect("fd number")
        })
        .collect();
    fds.sort_unstable();
    fds
}

#[test]
fn missing_program_fails_at_exec_naming_it() {
    let failure = failure(&exec(&["/nonexistent/program", "arg"]));
    assert_eq!(failure.stage, SpawnStage::Exec);
    assert_eq!(failure.errno, libc::ENOENT);
    assert_eq!(
        failure.to_string(),
        "exec /nonexistent/program: No such file or directory"
    );
}

#[test]
fn missing_program_on_path_fails_in_prepare() {
    let failure = prepare(&exec(&["svinit-no-such-program"]), &context()).expect_err("missing");
    assert_eq!(
        (failure.stage, failure.errno),
        (SpawnStage::Exec, libc::ENOENT)
    );
    assert!(failure.to_string().contains("svinit-no-such-program"));
}

#[test]
fn missing_directory_fails_at_chdir() {
    let mut service = shell("true");
    service.directory = Some(PathBuf::from("/nonexistent/dir"));
    let failure = failure(&service);
    assert_eq!(
        (failure.stage, failure.errno),
        (SpawnStage::Chdir, libc::ENOENT)
    );
    assert_eq!(
        failure.to_string(),
        "chdir /nonexistent/dir: No such file or directory"
    );
}

#[test]
fn directory_is_the_working_directory() {
    let mut service = shell("pwd -P");
    service.directory = Some(PathBuf::from("/usr/share"));
    assert_eq!(observe(&service), "/usr/share\n");
    let ctx = SpawnContext::new(Vec::new(), Some(PathBuf::from("/")), UserDb::default());
    let run = run_in(&shell("pwd -P"), &ctx);
    assert_eq!(run.stdout, "/\n");
}

#[test]
fn unknown_user_is_a_prepare_failure() {
    let mut service = shell("true");
    service.user = Some(IdRef::Name("nobodyx".into()));
    let failure = prepare(&service, &context()).expect_err("unknown user");
    assert_eq!(failure.to_string(), "prepare user nobodyx: no such user");
}

#[test]
fn user_nobody() {
    let mut service = shell("id -u; id -g; id -G; echo $HOME $USER $LOGNAME $SHELL");
    service.user = Some(IdRef::Name("nobody".into()));
    assert_eq!(
        observe(&service),
        "65534\n65534\n65534\n/nonexistent nobody nobody /usr/sbin/nologin\n"
    );
}

#[test]
fn user_brings_supplementary_groups_from_the_db() {
    let users = UserDb::from_text(
        "svtest:x:4243:4243::/home/svtest:/bin/sh\n",
        "svtest:x:4243:\ng1:x:5000:svtest\ng2:x:5001:other,svtest\ng3:x:5002:other\n",
    );
    let ctx = SpawnContext::new(std::env::vars_os(), None, users);
    let mut service = shell("id -u; id -g; id -G");
    service.user = Some(IdRef::Name("svtest".into()));
    let run = run_in(&service, &ctx);
    let lines: Vec<&str> = run.stdout.lines().collect();
    assert_eq!(lines[..2], ["4243", "4243"], "stderr: {}", run.stderr);
    assert_eq!(sorted_numbers(lines[2]), [4243, 5000, 5001]);
}

#[test]
fn explicit_group_and_groups() {
    let mut service = shell("id -u; id -g; id -G");
    service.user = Some(IdRef::Name("nobody".into()));
    service.group = Some(IdRef::Id(100));
    service.groups = Some(vec![IdRef::Id(200), IdRef::Id(300)]);
    let output = observe(&service);
    let lines: Vec<&str> = output.lines().collect();
    assert_eq!(lines[..2], ["65534", "100"]);
    assert_eq!(sorted_numbers(lines[2]), [100, 200, 300]);
}

#[test]
fn uid_without_passwd_entry() {
    let mut service = shell("id -u; id -g; id -G; echo $HOME $USER");
    service.user = Some(IdRef::Id(4242));
    assert_eq!(observe(&service), "4242\n4242\n4242\n/ 4242\n");
}

/// `(gid_t)-1` and `(uid_t)-1` are invalid ids: each credential step fails
/// with EINVAL and names what it was setting.
#[test]
fn failing_credential_steps_name_the_ids() {
    let invalid = IdRef::Id(u32::MAX);
    let mut service = shell("true");
    service.group = Some(invalid.clone());
    assert_eq!(
        failure(&service).to_string(),
        "setgroups 4294967295: Invalid argument"
    );
    service.groups = Some(Vec::new());
    assert_eq!(
        failure(&service).to_string(),
        "setgid 4294967295: Invalid argument"
    );
    service.user = Some(invalid);
    service.group = Some(IdRef::Name("root".into()));
    assert_eq!(
        failure(&service).to_string(),
        "setuid 4294967295: Invalid argument"
    );
}

#[test]
fn umask() {
    let mut service = shell("umask");
    service.umask = Some(0o027);
    assert_eq!(observe(&service), "0027\n");
}

#[test]
fn nice() {
    let mut service = shell("exec cat /proc/self/stat");
    service.nice = Some(7);
    assert_eq!(stat_fields(&observe(&service))[NICE], 7);
}

/// Soft 100 / hard 200 open files, no core size limit.
pub(crate) fn nofile_100_200_core_unlimited() -> Vec<Limit> {
    let limit = |resource, soft, hard| Limit {
        resource: resource as i32,
        soft,
        hard,
    };
    vec![
        limit(libc::RLIMIT_NOFILE, Some(100), Some(200)),
        limit(libc::RLIMIT_CORE, None, None),
    ]
}

#[test]
fn rlimits() {
    let mut service = shell("ulimit -Sn; ulimit -Hn; ulimit -Sc");
    service.limits = nofile_100_200_core_unlimited();
    assert_eq!(observe(&service), "100\n200\nunlimited\n");
}

#[test]
fn bad_rlimit_names_the_resource() {
    let mut service = shell("true");
    service.limits = vec![Limit {
        resource: libc::RLIMIT_NOFILE as i32,
        soft: Some(200),
        hard: Some(100),
    }];
    let failure = failure(&service);
    assert_eq!(failure.to_string(), "setrlimit nofile: Invalid argument");
}

fn environ_of_shell(service: &ServiceConfig, ctx: &SpawnContext) -> Vec<String> {
    let run = run_in(service, ctx);
    let mut vars: Vec<String> = run.stdout.split('\0').map(str::to_string).collect();
    vars.retain(|v| !v.is_empty());
    vars.sort();
    vars
}

#[test]
fn environment_reaches_the_child() {
    let dir = TempDir::new();
    let file = dir.path().join("env");
    std::fs::write(&file, "FROM_FILE='x y'\nBOTH=file\n").expect("write");
    let inherited: Vec<(OsString, OsString)> = vec![
        ("INHERITED".into(), "1".into()),
        ("BOTH".into(), "inherited".into()),
        ("PATH".into(), "/usr/bin:/bin".into()),
    ];
    let ctx = SpawnContext::new(inherited, None, UserDb::default());
    let mut service = shell("cat /proc/$$/environ");
    service.environment_file = Some(file);
    service.environment = vec![("CONFIG".into(), "c".into())];
    assert_eq!(
        environ_of_shell(&service, &ctx),
        [
            "BOTH=file",
            "CONFIG=c",
            "FROM_FILE=x y",
            "INHERITED=1",
            "PATH=/usr/bin:/bin"
        ]
    );
}

#[test]
fn clear_environment() {
    let ctx = SpawnContext::new(
        vec![("SECRET".into(), "s".into())],
        None,
        UserDb::from_text(
            "nobody:x:65534:65534:nobody:/nonexistent:/usr/sbin/nologin\n",
            "",
        ),
    );
    let mut service = shell("cat /proc/$$/environ");
    service.clear_environment = true;
    assert_eq!(
        environ_of_shell(&service, &ctx),
        [format!("PATH={DEFAULT_PATH}")]
    );
    service.user = Some(IdRef::Name("nobody".into()));
    assert_eq!(
        environ_of_shell(&service, &ctx),
        [
            "HOME=/nonexistent".to_string(),
            "LOGNAME=nobody".into(),
            format!("PATH={DEFAULT_PATH}"),
            "SHELL=/usr/sbin/nologin".into(),
            "USER=nobody".into(),
        ]
    );
}

#[test]
fn signals_are_default_and_unblocked_in_the_child() {
    // Rust ignores SIGPIPE in this process; block SIGTERM too, as svinit does.
    let mut term = SigSet::empty();
    term.add(Signal::SIGTERM);
    let mut old = SigSet::empty();
    pthread_sigmask(SigmaskHow::SIG_BLOCK, Some(&term), Some(&mut old)).expect("block");
    let run = run_in(
        &shell("exec grep -E '^Sig(Blk|Ign)' /proc/self/status"),
        &context(),
    );
    pthread_sigmask(SigmaskHow::SIG_SETMASK, Some(&old), None).expect("restore");
    assert_eq!(
        run.stdout, "SigBlk:\t0000000000000000\nSigIgn:\t0000000000000000\n",
        "stderr: {}",
        run.stderr
    );
}

#[test]
fn child_is_a_session_and_group_leader() {
    let plan = prepare(&shell("exec cat /proc/self/stat"), &context()).expect("prepare");
    let dir = TempDir::new();
    let out = File::create(dir.path().join("out")).expect("out");
    let io = ChildIo {
        stdout: Stdio::Fd(out.as_fd()),
        ..ChildIo::default()
    };
    let child = execute(&plan, &io).expect("execute");
    assert!(matches!(wait(child.pid), WaitStatus::Exited(_, 0)));
    let stat = std::fs::read_to_string(dir.path().join("out")).expect("read");
    let fields = stat_fields(&stat);
    assert_eq!(fields[SESSION], i128::from(child.pid));
    assert_eq!(fields[PGRP], i128::from(child.pid));
    assert_eq!(fields[TTY_NR], 0, "no controlling terminal");
}

#[test]
fn foreground_mode_keeps_the_session_with_a_group_of_its_own() {
    let mut plan = prepare(&shell("exec cat /proc/self/stat"), &context()).expect("prepare");
    plan.set_foreground();
    let run = run_plan(&plan, Vec::new());
    assert_eq!(run.exec, ExecStatus::Execed, "{}", run.stderr);
    let WaitStatus::Exited(pid, 0) = run.wait else {
        panic!("{:?}", run.wait);
    };
    let fields = stat_fields(&run.stdout);
    let own_session = nix::unistd::getsid(None).expect("getsid").as_raw();
    assert_eq!(fields[SESSION], i128::from(own_session));
    assert_eq!(fields[PGRP], i128::from(pid.as_raw()));
}

#[test]
fn stdin_is_dev_null_and_stdout_can_be_null() {
    // Read by a command substitution, so that /proc/$$ is the shell's,
    // not that of a command with redirected fds.
    assert_eq!(
        observe(&shell("echo $(readlink /proc/$$/fd/0)")),
        "/dev/null\n"
    );
    let plan = prepare(&shell("echo $(readlink /proc/$$/fd/1) >&2"), &context()).expect("prepare");
    let dir = TempDir::new();
    let err = File::create(dir.path().join("err")).expect("err");
    let io = ChildIo {
        stdout: Stdio::Null,
        stderr: Stdio::Fd(err.as_fd()),
        ..ChildIo::default()
    };
    let child = execute(&plan, &io).expect("execute");
    assert!(matches!(wait(child.pid), WaitStatus::Exited(_, 0)));
    let text = std::fs::read_to_string(dir.path().join("err")).expect("read");
    assert_eq!(text, "/dev/null\n");
}

#[test]
fn no_unexpected_fd_reaches_the_child() {
    // An fd svinit might have inherited without CLOEXEC.
    // SAFETY: dup of an open fd; the result is owned by `leaked` only.
    let leaked = unsafe { OwnedFd::from_raw_fd(libc::dup(1)) };
    assert!(leaked.as_raw_fd() > 2);
    let (_, ready) = pipe2(OFlag::O_CLOEXEC).expect("pipe");
    assert_eq!(fds_of_running_cat(vec![(5, ready.as_fd())]), [0, 1, 2, 5]);
    drop(leaked);
}

/// Two pipes whose write ends trade numbers in the child: A's end lands on
/// the number of B's and the other way round, plus one on a fixed number.
#[test]
fn extra_fds_may_swap_numbers() {
    let (a_read, a_write) = pipe2(OFlag::O_CLOEXEC).expect("pipe");
    let (b_read, b_write) = pipe2(OFlag::O_CLOEXEC).expect("pipe");
    let (c_read, c_write) = pipe2(OFlag::O_CLOEXEC).expect("pipe");
    let (a, b) = (a_write.as_raw_fd(), b_write.as_raw_fd());
    let c = (3..).find(|n| *n != a && *n != b).unwrap_or(3);
    let script = format!(
        "echo to-a > /proc/$$/fd/{b}; echo to-b > /proc/$$/fd/{a}; echo to-c > /proc/$$/fd/{c}"
    );
    let plan = prepare(&shell(&script), &context()).expect("prepare");
    let run = run_plan(
        &plan,
        vec![
            (b, a_write.as_fd()),
            (a, b_write.as_fd()),
            (c, c_write.as_fd()),
        ],
    );
    drop((a_write, b_write, c_write));
    assert!(
        matches!(run.wait, WaitStatus::Exited(_, 0)),
        "{}",
        run.stderr
    );
    let read_all = |fd: OwnedFd| {
        let mut text = String::new();
        File::from(fd).read_to_string(&mut text).expect("read pipe");
        text
    };
    assert_eq!(read_all(a_read), "to-a\n");
    assert_eq!(read_all(b_read), "to-b\n");
    assert_eq!(read_all(c_read), "to-c\n");
}

#[test]
fn tty_becomes_the_controlling_terminal() {
    let pty = nix::pty::openpty(None, None).expect("openpty");
    let tty = nix::unistd::ttyname(pty.slave.as_fd()).expect("ttyname");
    let dir = TempDir::new();
    let out = dir.path().join("out");
    let mut service = shell(&format!(
        "fds=$(readlink /proc/$$/fd/0 /proc/$$/fd/1 /proc/$$/fd/2); echo \"$fds\" > {0}; cat /proc/$$/stat >> {0}",
        out.display()
    ));
    service.tty = Some(tty.clone());
    let plan = prepare(&service, &context()).expect("prepare");
    let child = execute(&plan, &ChildIo::default()).expect("execute");
    assert!(matches!(wait(child.pid), WaitStatus::Exited(_, 0)));
    drop(pty);
    let text = std::fs::read_to_string(&out).expect("read");
    let lines: Vec<&str> = text.lines().collect();
    let tty = tty.display().to_string();
    assert_eq!(lines[..3], [tty.as_str(), tty.as_str(), tty.as_str()]);
    let fields = stat_fields(lines[3]);
    assert_eq!(fields[SESSION], i128::from(child.pid));
    assert_ne!(fields[TTY_NR], 0, "has a controlling terminal");
    assert_eq!(fields[TPGID], i128::from(child.pid), "in the foreground");
}

#[test]
fn missing_tty_fails_at_tty() {
    let mut service = shell("true");
    service.tty = Some(PathBuf::from("/dev/nonexistent-tty"));
    let failure = failure(&service);
    assert_eq!(
        failure.to_string(),
        "tty /dev/nonexistent-tty: No such file or directory"
    );
}

/// `cargo test --release --lib -- --ignored --nocapture spawn_benchmark`
/// Rounds alternate between the two loops; the best round of each counts.
#[test]
#[ignore]
fn spawn_benchmark() {
    use std::time::{Duration, Instant};
    const N: u32 = 1000;
    const ROUNDS: usize = 5;
    let ctx = context();
    let service = exec(&["/bin/true"]);
    let per_spawn = |d: Duration, n: u32| d.as_secs_f64() * 1e6 / f64::from(n);

    let svinit_round = || {
        let start = Instant::now();
        for _ in 0..N {
            let plan = prepare(&service, &ctx).expect("prepare");
            let child = execute(&plan, &ChildIo::default()).expect("execute");
            assert!(matches!(wait(child.pid), WaitStatus::Exited(_, 0)));
            assert_eq!(exec_status(&child, &plan), ExecStatus::Execed);
        }
        start.elapsed()
    };
    let path = c"/bin/true";
    let argv = [path.as_ptr(), std::ptr::null()];
    let floor_round = || {
        let start = Instant::now();
        for _ in 0..N {
            // SAFETY: the child only calls execv and _exit.
            let pid = unsafe { libc::fork() };
            if pid == 0 {
                unsafe {
                    libc::execv(path.as_ptr(), argv.as_ptr());
                    libc::_exit(127);
                }
            }
            assert!(matches!(wait(pid), WaitStatus::Exited(_, 0)));
        }
        start.elapsed()
    };
    let (mut svinit, mut floor) = (Duration::MAX, Duration::MAX);
    for _ in 0..ROUNDS {
        svinit = svinit.min(svinit_round());
        floor = floor.min(floor_round());
    }

    let start = Instant::now();
    for _ in 0..10 * N {
        std::hint::black_box(prepare(&service, &ctx).expect("prepare"));
    }
    let prepare_only = start.elapsed();
    println!(
        "spawn of /bin/true, best of {ROUNDS} x {N}: prepare+execute+wait {:.1} µs, \
         fork+execv+wait {:.1} µs ({:.2}x); prepare alone {:.2} µs ({} env vars)",
        per_spawn(svinit, N),
        per_spawn(floor, N),
        svinit.as_secs_f64() / floor.as_secs_f64(),
        per_spawn(prepare_only, 10 * N),
        prepare(&service, &ctx).expect("prepare").env().len(),
    );
}
