//! Test harness: throw-away directories, unit files, and a running svinit —
//! PID 1 of a new PID namespace ("container mode") or a plain child of the
//! test ("user mode") — whose log is polled against deadlines. Dropping a
//! `Svinit` SIGKILLs it and everything it started, so a failing test never
//! leaves processes behind.

use std::cell::{Cell, RefCell};
use std::collections::{HashMap, HashSet};
use std::fs::{self, File};
use std::os::unix::fs::PermissionsExt;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;

/// The binary under test: the one cargo built for this test target, or
/// `SVINIT_TEST_BIN` (e.g. an installed or static build).
pub fn svinit_bin() -> String {
    std::env::var("SVINIT_TEST_BIN").unwrap_or_else(|_| env!("CARGO_BIN_EXE_svinit").to_string())
}

/// How often conditions are polled.
pub const POLL: Duration = Duration::from_millis(10);

/// The default deadline for something svinit should do "at once".
pub const DEADLINE: Duration = Duration::from_secs(10);

/// An environment variable every svinit is started with, so tests can see
/// whether a service inherited svinit's environment.
pub const MARKER_VAR: &str = "SVINIT_IT_MARKER";
pub const MARKER_VALUE: &str = "inherited";

// ---------------------------------------------------------------------------
// Temporary directories
// ---------------------------------------------------------------------------

/// A fresh, world-writable directory under /tmp, removed on drop.
/// Declare it *before* the `Svinit` that uses it, so it outlives svinit.
pub struct TempDir {
    path: PathBuf,
}

impl TempDir {
    pub fn new(tag: &str) -> TempDir {
        static COUNTER: AtomicUsize = AtomicUsize::new(0);
        let n = COUNTER.fetch_add(1, Ordering::Relaxed);
        let path = PathBuf::from(format!("/tmp/svinit-it-{tag}-{}-{n}", std::process::id()));
        let _ = fs::remove_dir_all(&path);
        fs::create_dir_all(&path).unwrap_or_else(|e| panic!("mkdir {}: {e}", path.display()));
        // Services running as `nobody` write their observations here.
        fs::set_permissions(&path, fs::Permissions::from_mode(0o777))
            .unwrap_or_else(|e| panic!("chmod {}: {e}", path.display()));
        TempDir { path }
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    pub fn join(&self, rel: &str) -> PathBuf {
        self.path.join(rel)
    }

    /// `text` with every `$DIR` replaced by this directory's path.
    pub fn expand(&self, text: &str) -> String {
        text.replace("$DIR", &self.path.to_string_lossy())
    }

    /// Writes `rel` (parents created) with `$DIR` expanded; returns its path.
    pub fn write(&self, rel: &str, text: &str) -> PathBuf {
        let path = self.join(rel);
        if let Some(parent) = path.parent() {
            fs::create_dir_all(parent)
                .unwrap_or_else(|e| panic!("mkdir {}: {e}", parent.display()));
        }
        fs::write(&path, self.expand(text))
            .unwrap_or_else(|e| panic!("write {}: {e}", path.display()));
        path
    }

    /// The contents of `rel`, or `None` when it does not exist (yet).
    pub fn read(&self, rel: &str) -> Option<String> {
        fs::read_to_string(self.join(rel)).ok()
    }

    /// The lines of `rel`; empty when it does not exist.
    pub fn lines(&self, rel: &str) -> Vec<String> {
        self.read(rel)
            .map(|s| s.lines().map(str::to_string).collect())
            .unwrap_or_default()
    }

    pub fn exists(&self, rel: &str) -> bool {
        self.join(rel).exists()
    }

    pub fn remove(&self, rel: &str) {
        fs::remove_file(self.join(rel)).unwrap_or_else(|e| panic!("rm {rel}: {e}"));
    }
}

impl Drop for TempDir {
    /// Removes the directory, unless `SVINIT_TEST_KEEP` is set (to read the
    /// logs of a run afterwards).
    fn drop(&mut self) {
        if std::env::var_os("SVINIT_TEST_KEEP").is_none() {
            let _ = fs::remove_dir_all(&self.path);
        }
    }
}

// ---------------------------------------------------------------------------
// /proc
// ---------------------------------------------------------------------------

/// The fields of /proc/PID/stat the tests look at.
#[derive(Debug, Clone)]
pub struct ProcStat {
    pub pid: i32,
    pub comm: String,
    pub state: char,
    pub ppid: i32,
    pub pgrp: i32,
}

/// Parses /proc/PID/stat; `None` when the process is gone.
pub fn proc_stat(pid: i32) -> Option<ProcStat> {
    let text = fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let open = text.find('(')?;
    let close = text.rfind(')')?;
    let comm = text[open + 1..close].to_string();
    let mut rest = text[close + 1..].split_whitespace();
    let state = rest.next()?.chars().next()?;
    let ppid = rest.next()?.parse().ok()?;
    let pgrp = rest.next()?.parse().ok()?;
    Some(ProcStat {
        pid,
        comm,
        state,
        ppid,
        pgrp,
    })
}

/// Descriptors of process `pid`: all of them, and how many are accepted
/// connections of the Unix socket bound at `socket` (from /proc/net/unix,
/// where an accepted socket shows its listener's path). A client that has
/// just exited may stay open on svinit's side for a loop iteration, so leak
/// checks wait for `clients` to be the connections they hold themselves
/// before they take `total` (`control::settled_fds`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FdCensus {
    /// Every descriptor but the spawner's socket.
    pub total: usize,
    pub clients: usize,
}

pub fn fd_census(pid: i32, socket: &Path) -> FdCensus {
    const LISTENING: &str = "01";
    const SEQPACKET: &str = "0005";
    let unix = fs::read_to_string("/proc/net/unix").unwrap_or_default();
    // The spawner's socket, svinit's only SOCK_SEQPACKET: left out of the
    // count, since the spawner comes and goes (replaced when killed or
    // stalled under load, made anew at the next start).
    let spawner_sockets: HashSet<String> = unix
        .lines()
        .skip(1)
        .filter_map(|line| {
            let fields: Vec<&str> = line.split_whitespace().collect();
            let (kind, inode) = (fields.get(4)?, fields.get(6)?);
            (*kind == SEQPACKET).then(|| inode.to_string())
        })
        .collect();
    let connections: HashSet<String> = unix
        .lines()
        .skip(1)
        .filter_map(|line| {
            let fields: Vec<&str> = line.split_whitespace().collect();
            let (state, inode, path) = (fields.get(5)?, fields.get(6)?, fields.get(7)?);
            (Path::new(path) == socket && *state != LISTENING).then(|| inode.to_string())
        })
        .collect();
    let mut census = FdCensus {
        total: 0,
        clients: 0,
    };
    let Ok(entries) = fs::read_dir(format!("/proc/{pid}/fd")) else {
        return census;
    };
    for entry in entries.flatten() {
        let target = fs::read_link(entry.path()).unwrap_or_default();
        let target = target.to_string_lossy();
        let inode = target
            .strip_prefix("socket:[")
            .and_then(|rest| rest.strip_suffix(']'));
        if inode.is_some_and(|inode| spawner_sockets.contains(inode)) {
            continue;
        }
        census.total += 1;
        if inode.is_some_and(|inode| connections.contains(inode)) {
            census.clients += 1;
        }
    }
    census
}

/// Whether a process with host pid `pid` exists and is not a zombie.
pub fn alive(pid: i32) -> bool {
    proc_stat(pid).is_some_and(|p| p.state != 'Z')
}

/// Every process of the host, as seen now.
pub fn all_processes() -> Vec<ProcStat> {
    let Ok(entries) = fs::read_dir("/proc") else {
        return Vec::new();
    };
    entries
        .filter_map(|e| e.ok()?.file_name().to_str()?.parse::<i32>().ok())
        .filter_map(proc_stat)
        .collect()
}

/// The pids below `root` in the process tree of `procs` (not `root` itself).
pub fn descendants(procs: &[ProcStat], root: i32) -> HashSet<i32> {
    let mut children: HashMap<i32, Vec<i32>> = HashMap::new();
    for p in procs {
        children.entry(p.ppid).or_default().push(p.pid);
    }
    let mut found = HashSet::new();
    let mut queue = vec![root];
    while let Some(pid) = queue.pop() {
        for &child in children.get(&pid).map(Vec::as_slice).unwrap_or(&[]) {
            if found.insert(child) {
                queue.push(child);
            }
        }
    }
    found
}

/// The PID namespace of `pid` (`pid:[4026532…]`), `None` when it is gone.
pub fn pid_namespace(pid: i32) -> Option<String> {
    fs::read_link(format!("/proc/{pid}/ns/pid"))
        .ok()
        .map(|p| p.to_string_lossy().into_owned())
}

/// The innermost pid of a host process (last field of `NSpid:`).
pub fn innermost_pid(host_pid: i32) -> Option<i32> {
    let status = fs::read_to_string(format!("/proc/{host_pid}/status")).ok()?;
    let line = status.lines().find(|l| l.starts_with("NSpid:"))?;
    line.split_whitespace().last()?.parse().ok()
}

/// Host pids of the processes currently in the PID namespace `ns`.
pub fn processes_in_namespace(ns: &str) -> Vec<i32> {
    all_processes()
        .into_iter()
        .filter(|p| pid_namespace(p.pid).as_deref() == Some(ns))
        .map(|p| p.pid)
        .collect()
}

/// Polls `cond` every `POLL` until it holds or `timeout` passes.
/// Returns whether it held.
pub fn poll_until(timeout: Duration, mut cond: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + timeout;
    loop {
        if cond() {
            return true;
        }
        if Instant::now() >= deadline {
            return false;
        }
        std::thread::sleep(POLL);
    }
}

// ---------------------------------------------------------------------------
// A running svinit
// ---------------------------------------------------------------------------

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// `unshare --pid --fork --mount-proc --kill-child svinit …`: PID 1.
    Container,
    /// svinit as a direct child of the test: a child subreaper.
    User,
}

/// One svinit under test. Its stdout and stderr (and, for now, its
/// services' output) go to `DIR/svinit.log`.
pub struct Svinit {
    mode: Mode,
    /// `unshare` in container mode, svinit itself in user mode.
    child: RefCell<Child>,
    /// svinit's pid as seen from the host (0 if it exited before it was found).
    pub pid: i32,
    log: PathBuf,
    status: Cell<Option<ExitStatus>>,
}

impl Svinit {
    /// Starts svinit as PID 1 of a new PID namespace with config `DIR/conf`.
    pub fn container(dir: &TempDir) -> Svinit {
        Svinit::start(
            Mode::Container,
            dir,
            &["-c", &dir.join("conf").to_string_lossy()],
        )
    }

    /// Starts svinit in user mode (not PID 1) with config `DIR/conf`.
    pub fn user(dir: &TempDir) -> Svinit {
        Svinit::start(
            Mode::User,
            dir,
            &["-c", &dir.join("conf").to_string_lossy()],
        )
    }

    /// Starts svinit in `mode` with these arguments.
    pub fn start(mode: Mode, dir: &TempDir, args: &[&str]) -> Svinit {
        Svinit::start_with(mode, dir, args, |_| {})
    }

    /// Like `start`, with `adjust` applied to the command last (to give
    /// svinit another stdout or stderr, environment or user).
    pub fn start_with(
        mode: Mode,
        dir: &TempDir,
        args: &[&str],
        adjust: impl FnOnce(&mut Command),
    ) -> Svinit {
        let mut cmd = match mode {
            Mode::Container => {
                let mut cmd = Command::new("unshare");
                cmd.args(["--pid", "--fork", "--mount-proc", "--kill-child"]);
                cmd.arg(svinit_bin());
                cmd
            }
            Mode::User => Command::new(svinit_bin()),
        };
        cmd.args(args);
        Svinit::launch(mode, dir, cmd, adjust)
    }

    /// Starts svinit as PID 1 of new PID, mount and network namespaces:
    /// `prelude`, a shell script run first as that PID 1 (`sh -e`),
    /// prepares them (bind mounts, `ip link set lo up`), then execs svinit
    /// with `args`, which keeps pid 1. A failing prelude ends it all
    /// before svinit starts.
    pub fn container_isolated(dir: &TempDir, prelude: &str, args: &[&str]) -> Svinit {
        let mut cmd = Command::new("unshare");
        cmd.args(["--pid", "--fork", "--mount-proc", "--net", "--kill-child"])
            .args(["/bin/sh", "-ec", &format!("{prelude}\nexec \"$@\""), "sh"])
            .arg(svinit_bin())
            .args(args);
        Svinit::launch(Mode::Container, dir, cmd, |_| {})
    }

    /// Runs `cmd`: svinit, or in container mode `unshare` making it PID 1.
    fn launch(
        mode: Mode,
        dir: &TempDir,
        mut cmd: Command,
        adjust: impl FnOnce(&mut Command),
    ) -> Svinit {
        let log = dir.join("svinit.log");
        let out = File::create(&log).unwrap_or_else(|e| panic!("create {}: {e}", log.display()));
        let err = out.try_clone().expect("dup log fd");
        cmd.current_dir(dir.path())
            .env(MARKER_VAR, MARKER_VALUE)
            // Never the default socket shared with other tests or the host.
            .env("SVINIT_SOCKET", dir.join("control.sock"))
            .stdin(Stdio::null())
            .stdout(out)
            .stderr(err)
            // Own process group: Drop can kill unshare and all it started.
            .process_group(0);
        adjust(&mut cmd);
        let child = cmd
            .spawn()
            .unwrap_or_else(|e| panic!("spawn svinit ({mode:?}): {e}"));
        let mut sv = Svinit {
            mode,
            pid: child.id() as i32,
            child: RefCell::new(child),
            log,
            status: Cell::new(None),
        };
        if mode == Mode::Container {
            let unshare = sv.child_pid();
            // svinit may also be gone already (e.g. a config rejected at
            // start): then only its exit status is left to look at, and
            // `pid` stays 0, which nothing signals.
            sv.pid = 0;
            let mut found = None;
            let ok = poll_until(DEADLINE, || {
                found = all_processes()
                    .into_iter()
                    .find(|p| p.ppid == unshare)
                    .map(|p| p.pid);
                found.is_some() || sv.try_status().is_some()
            });
            if !ok {
                sv.fail("unshare did not fork svinit");
            }
            sv.pid = found.unwrap_or(0);
        }
        sv
    }

    /// The pid of the process the test spawned (unshare or svinit).
    fn child_pid(&self) -> i32 {
        self.child.borrow().id() as i32
    }

    /// Everything svinit (and its services) wrote so far.
    pub fn log(&self) -> String {
        fs::read(&self.log)
            .map(|b| String::from_utf8_lossy(&b).into_owned())
            .unwrap_or_default()
    }

    /// The log's length in bytes, to read only what comes after with
    /// `log_since`.
    pub fn log_len(&self) -> usize {
        fs::metadata(&self.log)
            .map(|m| m.len() as usize)
            .unwrap_or(0)
    }

    /// What was logged after `offset` (a `log_len`).
    pub fn log_since(&self, offset: usize) -> String {
        let bytes = fs::read(&self.log).unwrap_or_default();
        String::from_utf8_lossy(bytes.get(offset..).unwrap_or_default()).into_owned()
    }

    /// The log lines svinit wrote about service `name`
    /// (`svinit: NAME: …`).
    pub fn service_lines(&self, name: &str) -> Vec<String> {
        let prefix = format!("svinit: {name}: ");
        self.log()
            .lines()
            .filter(|l| l.starts_with(&prefix))
            .map(str::to_string)
            .collect()
    }

    /// The log lines saying that `name` entered `state`
    /// (`svinit: NAME: STATE` alone or followed by details).
    pub fn state_lines(&self, name: &str, state: &str) -> Vec<String> {
        self.log()
            .lines()
            .filter(|l| is_state_line(l, name, state))
            .map(str::to_string)
            .collect()
    }

    /// Panics with `msg` and svinit's log.
    #[track_caller]
    pub fn fail(&self, msg: &str) -> ! {
        panic!(
            "{msg}\n--- svinit ({:?}, pid {}) log {} ---\n{}--- end of log ---",
            self.mode,
            self.pid,
            self.log.display(),
            self.log()
        );
    }

    /// Waits until `cond` holds; fails with `what` and the log after `timeout`,
    /// or as soon as svinit has exited and `cond` still does not hold.
    #[track_caller]
    pub fn wait_until(&self, what: &str, timeout: Duration, mut cond: impl FnMut() -> bool) {
        let start = Instant::now();
        let deadline = start + timeout;
        loop {
            if cond() {
                return;
            }
            if let Some(status) = self.try_status() {
                if cond() {
                    return;
                }
                self.fail(&format!(
                    "svinit exited ({status}) while waiting for: {what}"
                ));
            }
            if Instant::now() >= deadline {
                self.fail(&format!(
                    "timed out after {:.1?} waiting for: {what}",
                    start.elapsed()
                ));
            }
            std::thread::sleep(POLL);
        }
    }

    /// Waits until svinit logs that `name` entered `state`.
    #[track_caller]
    pub fn wait_state(&self, name: &str, state: &str, timeout: Duration) {
        self.wait_until(&format!("svinit: {name}: {state}"), timeout, || {
            !self.state_lines(name, state).is_empty()
        });
    }

    /// Waits until `rel` exists in `dir`.
    #[track_caller]
    pub fn wait_file(&self, dir: &TempDir, rel: &str, timeout: Duration) {
        let path = dir.join(rel);
        self.wait_until(&format!("file {}", path.display()), timeout, || {
            path.exists()
        });
    }

    /// Sends `sig` to svinit itself (not to `unshare`, which does not forward).
    pub fn signal(&self, sig: Signal) {
        if self.status.get().is_some() || self.pid <= 1 {
            self.fail(&format!("cannot send {sig:?}: svinit already exited"));
        }
        kill(Pid::from_raw(self.pid), sig)
            .unwrap_or_else(|e| self.fail(&format!("kill({}, {sig:?}): {e}", self.pid)));
    }

    /// svinit's exit status if it has exited (reaping it).
    pub fn try_status(&self) -> Option<ExitStatus> {
        if self.status.get().is_none() {
            self.status
                .set(self.child.borrow_mut().try_wait().ok().flatten());
        }
        self.status.get()
    }

    /// Waits for svinit to exit; fails with the log after `timeout`.
    /// In container mode this is unshare's status, which is svinit's.
    #[track_caller]
    pub fn wait_exit(&self, timeout: Duration) -> ExitStatus {
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(status) = self.try_status() {
                return status;
            }
            if Instant::now() >= deadline {
                self.fail(&format!("svinit did not exit within {timeout:?}"));
            }
            std::thread::sleep(POLL);
        }
    }

    /// The PID namespace svinit runs in.
    pub fn namespace(&self) -> String {
        pid_namespace(self.pid).unwrap_or_else(|| self.fail("svinit's /proc/PID/ns/pid is gone"))
    }

    /// The host pid of a process of svinit's namespace known by its pid
    /// inside it (container mode), or the pid itself (user mode); `None`
    /// when no such process exists.
    pub fn host_pid(&self, pid: i32) -> Option<i32> {
        match self.mode {
            Mode::User => proc_stat(pid).map(|_| pid),
            Mode::Container => {
                let ns = pid_namespace(self.pid)?;
                processes_in_namespace(&ns)
                    .into_iter()
                    .find(|&host| innermost_pid(host) == Some(pid))
            }
        }
    }

    /// Whether a live (non-zombie) process has pid `pid` in svinit's
    /// namespace (container mode) or on the host (user mode).
    pub fn ns_alive(&self, pid: i32) -> bool {
        self.host_pid(pid).is_some_and(alive)
    }

    /// Kills svinit and everything it started. Idempotent.
    fn kill_everything(&mut self) {
        if self.try_status().is_some() {
            return;
        }
        match self.mode {
            Mode::Container => {
                let unshare = self.child_pid();
                // PID 1 dying takes the whole namespace with it; unshare then
                // reaps it and exits (leaving no zombie to the host's init).
                if proc_stat(self.pid).is_some_and(|p| p.ppid == unshare) {
                    let _ = kill(Pid::from_raw(self.pid), Signal::SIGKILL);
                }
                if !poll_until(DEADLINE, || self.try_status().is_some()) {
                    let _ = kill(Pid::from_raw(-unshare), Signal::SIGKILL);
                }
            }
            Mode::User => {
                // Freeze svinit so it restarts nothing, then kill its tree
                // until empty: orphans reparent to it (subreaper) as their
                // parents die, so repeat.
                let svinit = Pid::from_raw(self.pid);
                let _ = kill(svinit, Signal::SIGSTOP);
                let own_group = nix::unistd::getpgrp().as_raw();
                for _ in 0..100 {
                    let procs = all_processes();
                    let below = descendants(&procs, self.pid);
                    let live: Vec<&ProcStat> = procs
                        .iter()
                        .filter(|p| below.contains(&p.pid) && p.state != 'Z')
                        .collect();
                    if live.is_empty() {
                        break;
                    }
                    for p in live {
                        if p.pgrp > 1 && p.pgrp != own_group && p.pgrp != self.pid {
                            let _ = kill(Pid::from_raw(-p.pgrp), Signal::SIGKILL);
                        }
                        let _ = kill(Pid::from_raw(p.pid), Signal::SIGKILL);
                    }
                    std::thread::sleep(POLL);
                }
                let _ = kill(svinit, Signal::SIGKILL);
            }
        }
        let _ = self.child.borrow_mut().wait();
    }
}

impl Drop for Svinit {
    fn drop(&mut self) {
        self.kill_everything();
    }
}

/// Whether `line` says that `name` entered `state`: `svinit: NAME: STATE`
/// alone or followed by ` (details)`. svinit tags lines logged above info
/// level (`failed` is a warning): `svinit: NAME: warning: failed (…)`.
pub fn is_state_line(line: &str, name: &str, state: &str) -> bool {
    let Some(rest) = line.strip_prefix(&format!("svinit: {name}: ")) else {
        return false;
    };
    let rest = rest
        .strip_prefix("warning: ")
        .or_else(|| rest.strip_prefix("error: "))
        .unwrap_or(rest);
    rest == state || rest.starts_with(&format!("{state} "))
}

/// Runs svinit to completion (e.g. `--check`) with a deadline; returns its
/// exit status and its combined stdout + stderr.
pub fn run_svinit(dir: &TempDir, args: &[&str], timeout: Duration) -> (ExitStatus, String) {
    let out_path = dir.join("run.out");
    let out = File::create(&out_path).expect("create run.out");
    let err = out.try_clone().expect("dup");
    let mut child = Command::new(svinit_bin())
        .args(args)
        .current_dir(dir.path())
        .env("SVINIT_SOCKET", dir.join("control.sock"))
        .stdin(Stdio::null())
        .stdout(out)
        .stderr(err)
        .spawn()
        .expect("spawn svinit");
    let deadline = Instant::now() + timeout;
    let status = loop {
        if let Some(status) = child.try_wait().expect("wait svinit") {
            break status;
        }
        if Instant::now() >= deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!(
                "svinit {args:?} did not finish within {timeout:?}; output:\n{}",
                fs::read_to_string(&out_path).unwrap_or_default()
            );
        }
        std::thread::sleep(POLL);
    };
    let text = String::from_utf8_lossy(&fs::read(&out_path).unwrap_or_default()).into_owned();
    (status, text)
}

// ---------------------------------------------------------------------------
// Accounts
// ---------------------------------------------------------------------------

/// Runs a system tool (`useradd`, `id` ...) with its output discarded;
/// whether it succeeded.
pub fn succeeds(args: &[&str]) -> bool {
    Command::new(args[0])
        .args(&args[1..])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

/// The uid and gid of user `name`, whose primary group is `group` (both
/// made when missing); `None` without groupadd/useradd.
pub fn system_user(name: &str, group: &str) -> Option<(u32, u32)> {
    let _ = succeeds(&["groupadd", "-f", group]);
    if !succeeds(&["id", name]) && !succeeds(&["useradd", "-M", "-N", "-g", group, name]) {
        return None;
    }
    let id = |flag: &str| -> Option<u32> {
        let out = Command::new("id").args([flag, name]).output().ok()?;
        String::from_utf8_lossy(&out.stdout).trim().parse().ok()
    };
    Some((id("-u")?, id("-g")?))
}

/// Voluntary context switches of process `pid` (host pid): each wakeup of
/// a process sleeping in epoll_wait is one. `None` when it is gone.
pub fn voluntary_switches(pid: i32) -> Option<u64> {
    let status = fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    status
        .lines()
        .find_map(|l| l.strip_prefix("voluntary_ctxt_switches:"))
        .and_then(|n| n.trim().parse().ok())
}

/// Waits until svinit's log has not grown for 100 ms (a start settled).
pub fn wait_log_settled(sv: &Svinit) {
    sv.wait_until("the log to stop growing", DEADLINE, || {
        let before = sv.log_len();
        std::thread::sleep(Duration::from_millis(100));
        sv.log_len() == before
    });
}
