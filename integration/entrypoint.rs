//! svinit as a container entrypoint, black-box: the real binary as PID 1 of
//! a new PID namespace (`unshare --pid --fork --mount-proc`), run side by
//! side with tini and dumb-init (Debian's packages) where they behave the
//! same: exit codes, forwarded signals, a signal death, SIGTERM to the whole
//! process group, reaped zombies. Then what only svinit does: readiness
//! (ready-fd, sd_notify, a forged READY=1, start-timeout), `type "forking"`
//! and `critical`. The main command is often the test's driver: it runs
//! once the units are settled, checks what it sees, and exits.
//!
//! Needs root (unshare). tini/dumb-init missing: those halves are skipped
//! with a printed note (`.ci/run` installs them).

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;

const DEADLINE: Duration = Duration::from_secs(30);

// --- scaffolding ---

struct Dir(PathBuf);

impl Dir {
    fn new(tag: &str) -> Dir {
        static N: AtomicUsize = AtomicUsize::new(0);
        let n = N.fetch_add(1, Ordering::Relaxed);
        let path = PathBuf::from(format!(
            "/tmp/svinit-entry-{tag}-{}-{n}",
            std::process::id()
        ));
        let _ = fs::remove_dir_all(&path);
        fs::create_dir_all(&path).expect("mkdir");
        fs::set_permissions(&path, fs::Permissions::from_mode(0o777)).expect("chmod");
        Dir(path)
    }

    fn path(&self) -> &Path {
        &self.0
    }

    fn s(&self) -> String {
        self.0.display().to_string()
    }

    /// Writes `rel` with every `$DIR` replaced by this directory.
    fn write(&self, rel: &str, text: &str) -> PathBuf {
        let path = self.0.join(rel);
        fs::write(&path, text.replace("$DIR", &self.s())).expect("write");
        path
    }

    fn read(&self, rel: &str) -> Option<String> {
        fs::read_to_string(self.0.join(rel)).ok()
    }

    fn lines(&self, rel: &str) -> Vec<String> {
        let mut lines: Vec<String> = self
            .read(rel)
            .unwrap_or_default()
            .lines()
            .map(str::to_string)
            .collect();
        lines.sort();
        lines
    }

    fn wait_for(&self, rel: &str) -> String {
        let start = Instant::now();
        loop {
            if let Some(text) = self.read(rel).filter(|t| !t.is_empty()) {
                return text;
            }
            assert!(start.elapsed() < DEADLINE, "{rel} never appeared");
            std::thread::sleep(Duration::from_millis(10));
        }
    }
}

impl Drop for Dir {
    fn drop(&mut self) {
        let _ = fs::remove_dir_all(&self.0);
    }
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum Init {
    Svinit,
    Tini,
    /// `tini -g`: signals to the child's process group, as svinit and
    /// dumb-init do by default.
    TiniGroup,
    Dumb,
}

impl Init {
    fn argv(self, dir: &Dir, config: Option<&Path>) -> Option<Vec<String>> {
        let which = |name: &str| {
            let found = ["/usr/bin", "/bin", "/usr/local/bin", "/usr/sbin"]
                .iter()
                .map(|d| format!("{d}/{name}"))
                .find(|p| Path::new(p).exists());
            if found.is_none() {
                println!(
                    "note: {name} is not installed, skipping its half (apt-get install {name})"
                );
            }
            found
        };
        Some(match self {
            Init::Svinit => {
                let config = config.map_or_else(|| dir.path().join("no-config"), Path::to_path_buf);
                vec![
                    env!("CARGO_BIN_EXE_svinit").to_string(),
                    "-v".into(),
                    "-c".into(),
                    config.display().to_string(),
                    // Its own socket: tests run in parallel, on one /run.
                    "-s".into(),
                    dir.path().join("control.sock").display().to_string(),
                ]
            }
            Init::Tini => vec![which("tini")?, "--".into()],
            Init::TiniGroup => vec![which("tini")?, "-g".into(), "--".into()],
            Init::Dumb => vec![which("dumb-init")?],
        })
    }
}

/// An init running as PID 1 of a new PID namespace; killed on drop.
struct Pid1 {
    unshare: Child,
    log: PathBuf,
}

impl Pid1 {
    /// `None` when `init` is not installed.
    fn start(init: Init, dir: &Dir, config: Option<&Path>, main: &[&str]) -> Option<Pid1> {
        let mut argv = init.argv(dir, config)?;
        if init == Init::Svinit && !main.is_empty() {
            argv.push("--".into());
        }
        argv.extend(main.iter().map(|a| a.replace("$DIR", &dir.s())));
        let log = dir.path().join(format!("{init:?}.log"));
        let unshare = Command::new("unshare")
            .args(["--pid", "--fork", "--mount-proc", "--kill-child"])
            .args(&argv)
            .stdin(Stdio::null())
            .stdout(fs::File::create(&log).expect("log"))
            .stderr(fs::File::options().append(true).open(&log).expect("log"))
            .spawn()
            .expect("unshare (run the integration tests as root)");
        Some(Pid1 { unshare, log })
    }

    /// The host pid of the init (unshare's child).
    fn host_pid(&self) -> i32 {
        wait_for_child(self.unshare.id() as i32)
    }

    fn signal(&self, signal: Signal) {
        let _ = kill(Pid::from_raw(self.host_pid()), signal);
    }

    /// The init's exit code (unshare passes it on).
    fn wait(mut self) -> i32 {
        let start = Instant::now();
        loop {
            if let Ok(Some(status)) = self.unshare.try_wait() {
                return status.code().unwrap_or(-1);
            }
            if start.elapsed() > DEADLINE {
                panic!("init did not exit; log:\n{}", self.log());
            }
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    fn log(&self) -> String {
        fs::read_to_string(&self.log).unwrap_or_default()
    }
}

impl Drop for Pid1 {
    fn drop(&mut self) {
        let _ = self.unshare.kill();
        let _ = self.unshare.wait();
    }
}

/// `(state, ppid)` of a host pid.
fn stat(pid: i32) -> Option<(char, i32)> {
    crate::harness::proc_stat(pid).map(|p| (p.state, p.ppid))
}

/// Runs `main` under each init; returns `(init, exit code, dir)` for the
/// installed ones.
fn each_init(inits: &[Init], main: &[&str], body: impl Fn(Init, &Dir, &Pid1)) -> Vec<(Init, i32)> {
    let mut results = Vec::new();
    for &init in inits {
        let dir = Dir::new("drop-in");
        let Some(pid1) = Pid1::start(init, &dir, None, main) else {
            continue;
        };
        body(init, &dir, &pid1);
        let log = pid1.log();
        let code = pid1.wait();
        println!("{init:?}: exit {code}\n{log}");
        results.push((init, code));
    }
    results
}

const ALL: &[Init] = &[Init::Svinit, Init::Tini, Init::Dumb];

fn all_equal(results: &[(Init, i32)], expected: i32) {
    assert!(results.iter().any(|(i, _)| *i == Init::Svinit));
    for (init, code) in results {
        assert_eq!(*code, expected, "{init:?}");
    }
}

// --- drop-in for tini and dumb-init ---

#[test]
fn exit_codes_are_passed_on_like_tini_and_dumb_init() {
    for code in [0, 1, 2, 7, 255] {
        let script = format!("exit {code}");
        let results = each_init(ALL, &["sh", "-c", &script], |_, _, _| {});
        all_equal(&results, code);
    }
}

#[test]
fn a_command_that_cannot_run_gives_127_or_126_like_tini() {
    // dumb-init exits 2 for both, so only tini is compared.
    let inits = &[Init::Svinit, Init::Tini];
    let results = each_init(inits, &["/nonexistent/program"], |_, _, _| {});
    all_equal(&results, 127);
    let results = each_init(inits, &["no-such-program-anywhere"], |_, _, _| {});
    all_equal(&results, 127);
    let dir = Dir::new("noexec");
    let plain = dir.write("plain", "just text\n");
    fs::set_permissions(&plain, fs::Permissions::from_mode(0o644)).expect("chmod");
    let plain = plain.display().to_string();
    let results = each_init(inits, &[&plain], |_, _, _| {});
    all_equal(&results, 126);
}

#[test]
fn svinit_says_why_the_command_did_not_run() {
    let dir = Dir::new("why");
    let pid1 =
        Pid1::start(Init::Svinit, &dir, None, &["no-such-program-anywhere"]).expect("svinit");
    let code = pid1.wait();
    let log = fs::read_to_string(dir.path().join("Svinit.log")).unwrap_or_default();
    assert_eq!(code, 127);
    assert!(
        log.contains(
            "main command not found: exec no-such-program-anywhere: No such file or directory"
        ),
        "{log}"
    );
}

#[test]
fn every_forwarded_signal_reaches_the_command_like_tini_and_dumb_init() {
    let signals = [
        (Signal::SIGTERM, "TERM"),
        (Signal::SIGINT, "INT"),
        (Signal::SIGHUP, "HUP"),
        (Signal::SIGQUIT, "QUIT"),
        (Signal::SIGUSR1, "USR1"),
        (Signal::SIGUSR2, "USR2"),
        (Signal::SIGWINCH, "WINCH"),
    ];
    for (signal, name) in signals {
        let script = format!(
            "trap 'echo {name} > $DIR/got; exit 10' {name}; echo x > $DIR/ready; \
             while :; do sleep 0.05; done"
        );
        let results = each_init(ALL, &["sh", "-c", &script], |init, dir, pid1| {
            dir.wait_for("ready");
            pid1.signal(signal);
            let got = dir.wait_for("got");
            assert_eq!(got.trim(), name, "{init:?}");
        });
        all_equal(&results, 10);
    }
}

#[test]
fn a_signal_death_gives_128_plus_n_like_tini_and_dumb_init() {
    let results = each_init(
        ALL,
        &["sh", "-c", "echo x > $DIR/ready; exec sleep 100"],
        |_, dir, pid1| {
            dir.wait_for("ready");
            std::thread::sleep(Duration::from_millis(50));
            pid1.signal(Signal::SIGUSR1);
        },
    );
    all_equal(&results, 128 + Signal::SIGUSR1 as i32);
}

#[test]
fn sigterm_reaches_the_whole_process_group_like_dumb_init_and_tini_g() {
    // The command and a background subshell both trap TERM; the command
    // waits for the subshell, which only a group-wide TERM ends.
    let script = "trap 'echo main >> $DIR/got' TERM; \
        ( trap 'echo child >> $DIR/got; exit 0' TERM; echo x > $DIR/ready; \
          while :; do sleep 0.05; done ) & \
        while ! wait; do :; done; echo done >> $DIR/got; exit 5";
    let inits = &[Init::Svinit, Init::TiniGroup, Init::Dumb];
    let results = each_init(inits, &["sh", "-c", script], |init, dir, pid1| {
        dir.wait_for("ready");
        pid1.signal(Signal::SIGTERM);
        let start = Instant::now();
        while dir.lines("got").len() < 3 && start.elapsed() < DEADLINE {
            std::thread::sleep(Duration::from_millis(10));
        }
        assert_eq!(dir.lines("got"), ["child", "done", "main"], "{init:?}");
    });
    all_equal(&results, 5);
}

#[test]
fn orphans_of_the_command_are_reaped_like_tini_and_dumb_init() {
    // Double forks reparent to PID 1; once they exit no zombie is left.
    let script = "for i in 1 2 3 4 5; do ( sleep 0.2 & ); done; sleep 1.5; \
        grep -l '^State:.*Z' /proc/[0-9]*/status 2>/dev/null | wc -l > $DIR/zombies; \
        exit 0";
    let results = each_init(ALL, &["sh", "-c", script], |init, dir, _| {
        assert_eq!(dir.wait_for("zombies").trim(), "0", "{init:?}");
    });
    all_equal(&results, 0);
}

#[test]
fn job_control_stops_reach_the_command_but_never_svinit() {
    // No fork in the command: a shell stopped while it waits on a vforked
    // child shows `D`, not `T`, for as long as the child is stopped.
    let script = "echo x > $DIR/ready; exec sleep 1000";
    for init in [Init::Svinit, Init::Dumb] {
        let dir = Dir::new("tstp");
        let Some(pid1) = Pid1::start(init, &dir, None, &["sh", "-c", script]) else {
            continue;
        };
        dir.wait_for("ready");
        let init_pid = pid1.host_pid();
        let main = wait_for_main_command(init_pid);
        pid1.signal(Signal::SIGTSTP);
        wait_for_state(main, 'T');
        assert_ne!(stat(init_pid).map(|s| s.0), Some('T'), "{init:?} stopped");
        pid1.signal(Signal::SIGCONT);
        wait_for_state(main, 'S');
        pid1.signal(Signal::SIGTERM);
        assert_eq!(pid1.wait(), 143, "{init:?}");
    }
}

fn wait_for_child(parent: i32) -> i32 {
    wait_for_child_where(parent, |_| true)
}

/// The child of `parent` that leads its own process group: the main
/// command (svinit and dumb-init put it in a group of its own), never the
/// spawner svinit forks before it knows it has no services (which leads a
/// group too, but bears its own name).
fn wait_for_main_command(parent: i32) -> i32 {
    wait_for_child_where(parent, |child| {
        child.pgrp == child.pid && child.comm != "svinit-spawner"
    })
}

fn wait_for_child_where(parent: i32, wanted: impl Fn(&crate::harness::ProcStat) -> bool) -> i32 {
    let start = Instant::now();
    loop {
        let child = fs::read_dir("/proc").ok().and_then(|entries| {
            entries
                .flatten()
                .filter_map(|e| e.file_name().to_str()?.parse::<i32>().ok())
                .find(|&pid| {
                    crate::harness::proc_stat(pid).is_some_and(|p| p.ppid == parent && wanted(&p))
                })
        });
        if let Some(pid) = child {
            return pid;
        }
        assert!(start.elapsed() < DEADLINE, "no child of {parent}");
        std::thread::sleep(Duration::from_millis(5));
    }
}

fn wait_for_state(pid: i32, wanted: char) {
    let start = Instant::now();
    loop {
        let state = stat(pid).map(|s| s.0);
        // A shell in `sleep` is S; running it may be R.
        if state == Some(wanted) || (wanted == 'S' && state == Some('R')) {
            return;
        }
        assert!(
            start.elapsed() < DEADLINE,
            "pid {pid} is {state:?}, not {wanted}"
        );
        std::thread::sleep(Duration::from_millis(10));
    }
}

// --- units with a main command: svinit only ---

/// svinit with `config` (KDL, `$DIR` expanded) and `main`; its exit code
/// and log.
fn svinit(dir: &Dir, config: &str, main: &[&str]) -> (i32, String) {
    let path = dir.write("units.kdl", config);
    let pid1 = Pid1::start(Init::Svinit, dir, Some(&path), main).expect("svinit");
    let code = pid1.wait();
    let log = fs::read_to_string(dir.path().join("Svinit.log")).unwrap_or_default();
    println!("exit {code}\n{log}");
    (code, log)
}

fn line_of(log: &str, needle: &str) -> usize {
    log.lines()
        .position(|l| l.contains(needle))
        .unwrap_or_else(|| panic!("no line with {needle:?} in\n{log}"))
}

/// A python3 sd_notify: sends `$1` to NOTIFY_SOCKET (`@` = abstract).
const NOTIFY_PY: &str = r#"import os, socket, sys, time
a = sys.argv[2] if len(sys.argv) > 2 else os.environ["NOTIFY_SOCKET"]
if a.startswith("@"):
    a = "\0" + a[1:]
s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
s.sendto(sys.argv[1].encode().replace(b"\\n", b"\n"), a)
time.sleep(0.5)
"#;

#[test]
fn the_main_command_starts_after_the_units_and_they_stop_after_it() {
    let dir = Dir::new("order");
    let config = r#"
service "db" {
    shell "sleep 0.5; date +%s%N > $DIR/db-ready; echo >&3; exec sleep 100"
    ready-fd 3
}
service "web" {
    shell "date +%s%N > $DIR/web-start; exec sleep 100"
    requires "db"
}
"#;
    let main = "date +%s%N > $DIR/main-start; \
        while [ ! -s $DIR/web-start ]; do sleep 0.05; done; exit 7";
    let (code, log) = svinit(&dir, config, &["sh", "-c", main]);
    assert_eq!(code, 7);
    let t = |f: &str| -> u128 { dir.read(f).unwrap_or_default().trim().parse().unwrap_or(0) };
    assert!(
        t("db-ready") > 0 && t("web-start") >= t("db-ready"),
        "web waited for the newline"
    );
    assert!(
        t("main-start") >= t("db-ready"),
        "main after the units are ready"
    );
    assert!(
        line_of(&log, "web: down") < line_of(&log, "db: down"),
        "reverse order"
    );
    assert!(
        line_of(&log, "main command sh: exited with status 7") < line_of(&log, "web: stopping")
    );
}

#[test]
fn a_dependent_waits_for_ready_1_and_a_forged_one_is_ignored() {
    let dir = Dir::new("notify");
    dir.write("notify.py", NOTIFY_PY);
    let config = r#"
service "db" {
    shell "sleep 0.5; date +%s%N > $DIR/db-ready; python3 $DIR/notify.py 'STATUS=warm\nREADY=1'; exec sleep 100"
    ready-notify #true
}
service "slow" {
    shell "echo $NOTIFY_SOCKET > $DIR/slow.sock; exec sleep 100"
    ready-notify #true
    start-timeout "2s"
    backoff-limit "1s"
}
// Another user's process that knows slow's socket (abstract names are
// listed in /proc/net/unix): its READY=1 must not count.
service "forger" {
    user "nobody"
    shell "while [ ! -s $DIR/slow.sock ]; do sleep 0.05; done; sock=$(cat $DIR/slow.sock); py=/usr/bin/python3; [ -x $py ] || py=python3; $py $DIR/notify.py READY=1 \"$sock\"; echo \"$sock\" > $DIR/forged; exec sleep 100"
}
service "web" {
    shell "date +%s%N > $DIR/web-start; exec sleep 100"
    requires "db"
}
service "app" {
    shell "touch $DIR/app-start; exec sleep 100"
    requires "slow"
}
"#;
    let (code, log) = svinit(&dir, config, &["true"]);
    assert_eq!(code, 0);
    let t = |f: &str| -> u128 { dir.read(f).unwrap_or_default().trim().parse().unwrap_or(0) };
    assert!(t("db-ready") > 0 && t("web-start") >= t("db-ready"));
    assert!(
        dir.read("forged").is_some_and(|s| s.starts_with('@')),
        "the forger sent"
    );
    assert!(log.contains("notify: ignored \"READY=1\""), "{log}");
    // Its pid is whatever it got (svinit's spawner may have taken 2).
    assert!(
        log.lines().any(|l| l.contains("slow: failed (pid ")
            && l.contains(", killed by signal KILL; not ready within 2s)")),
        "{log}"
    );
    assert!(!dir.path().join("app-start").exists(), "app never started");
    assert!(log.contains("db: STATUS=warm"));
}

#[test]
fn a_forking_daemon_is_supervised_through_its_pid_file_and_restarted() {
    let dir = Dir::new("forking");
    let config = r#"
service "daemon" {
    type "forking"
    pid-file "$DIR/daemon.pid"
    shell "( sh -c 'echo $$ > $DIR/daemon.pid; echo x >> $DIR/starts; exec sleep 100' & ); exit 0"
}
service "nofile" {
    type "forking"
    pid-file "$DIR/never.pid"
    shell "exit 0"
    start-timeout "1s"
    backoff-limit "1s"
}
service "dead" {
    type "forking"
    pid-file "$DIR/dead.pid"
    shell "sh -c 'exit 0' & echo $! > $DIR/dead.pid; wait; exit 0"
    backoff-limit "1s"
}
"#;
    // The driver kills the daemon once, then waits for its restart.
    let main = "while [ \"$(wc -l < $DIR/starts 2>/dev/null)\" != 1 ]; do sleep 0.05; done; \
        sleep 0.3; kill $(cat $DIR/daemon.pid); \
        while [ \"$(wc -l < $DIR/starts)\" != 2 ]; do sleep 0.05; done; sleep 0.3; exit 0";
    let (code, log) = svinit(&dir, config, &["sh", "-c", main]);
    assert_eq!(code, 0);
    let ups: Vec<&str> = log
        .lines()
        .filter(|l| l.contains("daemon: up (pid"))
        .collect();
    assert_eq!(ups.len(), 2, "{log}");
    assert_ne!(ups[0], ups[1], "a new pid after the restart");
    assert!(log.contains("daemon: backoff"), "{log}");
    assert!(
        log.contains("pid file") && log.contains("never.pid did not appear within 1s"),
        "{log}"
    );
    assert!(log.contains("which is not running"), "{log}");
}

#[test]
fn a_failing_critical_service_ends_svinit_with_its_status_after_stopping_the_rest() {
    let dir = Dir::new("critical");
    let config = r#"
service "db" { shell "exec sleep 100"; }
service "app" { shell "exec sleep 100"; requires "db"; }
service "worker" {
    shell "sleep 0.5; exit 3"
    critical #true
    restart "never"
    after "app"
}
"#;
    // No main command: svinit supervises until the critical one ends.
    let (code, log) = svinit(&dir, config, &[]);
    assert_eq!(code, 3);
    assert!(log.contains("critical service ended: stopping everything, exit status 3"));
    assert!(
        line_of(&log, "app: down") < line_of(&log, "db: down"),
        "reverse order"
    );
}

#[test]
fn a_critical_failure_while_the_main_command_runs_stops_it_first() {
    let dir = Dir::new("critical-main");
    let config = r#"
service "worker" {
    shell "while [ ! -e $DIR/main-up ]; do sleep 0.05; done; exit 4"
    critical #true
    restart "never"
}
"#;
    let main = "trap 'echo term > $DIR/main-term; exit 0' TERM; echo x > $DIR/main-up; \
        while :; do sleep 0.05; done";
    let (code, log) = svinit(&dir, config, &["sh", "-c", main]);
    assert_eq!(code, 4, "the critical service's status");
    assert_eq!(dir.read("main-term").as_deref(), Some("term\n"));
    assert!(log.contains("critical service ended"));
}

/// SPEC §2: the main command waits for each unit's first try only. A
/// sidecar that never says it is ready, even with `forever #true`, delays
/// it by one `start-timeout`, and so does a unit that requires it (it
/// waited forever before).
#[test]
fn a_sidecar_that_is_never_ready_delays_the_main_command_one_start_timeout() {
    let dir = Dir::new("first-try");
    let config = r#"
service "sidecar" {
    shell "date +%s%N >> $DIR/sidecar-starts; exec sleep 100"
    ready-fd 3
    start-timeout "1s"
    forever #true
}
service "app" {
    shell "exec sleep 100"
    requires "sidecar"
}
"#;
    let (code, log) = svinit(
        &dir,
        config,
        &["sh", "-c", "date +%s%N > $DIR/main-start; exit 5"],
    );
    assert_eq!(code, 5, "{log}");
    let first: u128 = dir.lines("sidecar-starts")[0].parse().unwrap_or(0);
    let main: u128 = dir.wait_for("main-start").trim().parse().unwrap_or(0);
    let waited = Duration::from_nanos(main.saturating_sub(first) as u64);
    println!("the main command started {waited:?} after the sidecar");
    assert!(
        (Duration::from_millis(900)..Duration::from_secs(4)).contains(&waited),
        "want one start-timeout (1 s), got {waited:?}"
    );
    assert!(log.contains("sidecar: backoff"), "{log}");
}

/// A `critical` unit in backoff after its first try lets the main command
/// start; when it gives up, svinit stops the command and ends with the
/// unit's status.
#[test]
fn a_critical_unit_that_gives_up_after_its_first_try_still_ends_svinit() {
    let dir = Dir::new("critical-later");
    let config = r#"
service "db" {
    shell "sleep 0.2; exit 3"
    ready-fd 3
    critical #true
    backoff-limit 2
}
"#;
    let main = "trap 'echo term > $DIR/main-term; exit 0' TERM; echo x > $DIR/main-up; \
        while :; do sleep 0.05; done";
    let (code, log) = svinit(&dir, config, &["sh", "-c", main]);
    assert_eq!(code, 3, "the critical unit's status: {log}");
    assert!(dir.read("main-up").is_some(), "the main command ran: {log}");
    assert_eq!(dir.read("main-term").as_deref(), Some("term\n"), "{log}");
    assert!(log.contains("critical service ended"), "{log}");
}
