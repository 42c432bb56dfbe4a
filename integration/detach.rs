//! `svinit --detach` (zdaemon-style background use), the single-instance
//! rule and `output "syslog"`, against the real binaries in user mode:
//! the foreground returns once the boot settled with one line and 0/1,
//! svctl then drives the background svinit and `svctl shutdown` ends it;
//! a second svinit on the same socket is refused, a stale socket replaced;
//! syslog lines reach a datagram listener standing in for /dev/log.

use std::os::unix::fs::PermissionsExt;
use std::os::unix::net::{UnixDatagram, UnixListener};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;
use serde_json::Value;

use crate::harness::{DEADLINE, TempDir, alive, poll_until, svinit_bin};

fn svctl_bin() -> &'static str {
    env!("CARGO_BIN_EXE_svctl")
}

fn socket(dir: &TempDir) -> PathBuf {
    dir.join("control.sock")
}

/// Root's default log of `--detach` (no `--log`).
const ROOT_LOG: &str = "/var/log/svinit/svinit.log";

/// `svinit --detach ARGS` in `dir` with `env`: exit code and output. It
/// runs in a mount namespace of its own whose /var/log is an empty tmpfs,
/// so its default log (`ROOT_LOG`) never touches the host's /var/log; read
/// it through `/proc/PID/root`.
fn detach(dir: &TempDir, args: &[&str], env: &[(&str, &Path)]) -> (i32, String) {
    let mut command = Command::new("unshare");
    command.args([
        "--mount",
        "--propagation",
        "private",
        "sh",
        "-c",
        "mount -t tmpfs -o mode=0755 svit-log /var/log && exec \"$@\"",
        "sh",
        &svinit_bin(),
    ]);
    run_detach(command, dir, args, env)
}

/// `svinit --detach ARGS` as the user `uid`, with no namespace of its own.
fn detach_as(uid: u32, dir: &TempDir, args: &[&str], env: &[(&str, &Path)]) -> (i32, String) {
    let mut command = Command::new(svinit_bin());
    command.uid(uid).gid(uid).env_remove("XDG_STATE_HOME");
    run_detach(command, dir, args, env)
}

fn run_detach(
    mut command: Command,
    dir: &TempDir,
    args: &[&str],
    env: &[(&str, &Path)],
) -> (i32, String) {
    // The foreground must return within `DEADLINE` (it is killed
    // otherwise, and the background svinit shut down).
    let out_path = dir.join("detach.out");
    let out = std::fs::File::create(&out_path).expect("create detach.out");
    command
        .arg("--detach")
        .args(args)
        .current_dir(dir.path())
        .env("SVINIT_SOCKET", socket(dir))
        .stdin(Stdio::null())
        .stdout(out.try_clone().expect("dup"))
        .stderr(out);
    for (name, value) in env {
        command.env(name, value);
    }
    let mut child = command.spawn().expect("run svinit --detach");
    let mut status = None;
    let returned = poll_until(DEADLINE, || {
        status = child.try_wait().expect("wait svinit --detach");
        status.is_some()
    });
    let text = std::fs::read_to_string(&out_path).unwrap_or_default();
    if !returned {
        let _ = child.kill();
        let _ = child.wait();
        // The background svinit, if it got that far.
        let _ = svctl(dir, &["shutdown", "--timeout", "10s"]);
        panic!("svinit --detach did not return within {DEADLINE:?}: {text}");
    }
    (status.and_then(|s| s.code()).unwrap_or(-1), text)
}

fn svctl(dir: &TempDir, args: &[&str]) -> (i32, String) {
    let output = Command::new(svctl_bin())
        .args(["-s", &socket(dir).to_string_lossy()])
        .args(args)
        .stdin(Stdio::null())
        .output()
        .expect("run svctl");
    let mut text = String::from_utf8_lossy(&output.stdout).into_owned();
    text.push_str(&String::from_utf8_lossy(&output.stderr));
    (output.status.code().unwrap_or(-1), text)
}

fn status_json(dir: &TempDir, name: &str) -> Value {
    let (code, text) = svctl(dir, &["status", "--json", name]);
    assert!(code == 0 || code == 3, "status {name}: {code} {text}");
    let all: Value = serde_json::from_str(&text).expect("status json");
    all[0].clone()
}

/// The pid in `svinit: started in the background (pid N, log PATH): …`.
fn background_pid(text: &str) -> i32 {
    text.split("(pid ")
        .nth(1)
        .map(|rest| rest.split(|c: char| !c.is_ascii_digit()).next())
        .and_then(|pid| pid?.parse().ok())
        .unwrap_or_else(|| panic!("no background pid in {text:?}"))
}

/// Waits until the file at `path` holds `wanted`; its text.
fn wait_for_text(path: &Path, wanted: &str) -> String {
    let mut text = String::new();
    let found = poll_until(DEADLINE, || {
        text = std::fs::read_to_string(path).unwrap_or_default();
        text.contains(wanted)
    });
    assert!(found, "{} never held {wanted:?}:\n{text}", path.display());
    text
}

/// A background svinit: `svctl shutdown` on drop, SIGKILL if it lingers.
struct Background<'a> {
    dir: &'a TempDir,
    pid: i32,
}

impl Drop for Background<'_> {
    fn drop(&mut self) {
        if alive(self.pid) {
            let _ = svctl(self.dir, &["shutdown", "--timeout", "10s"]);
        }
        if alive(self.pid) {
            let _ = kill(Pid::from_raw(self.pid), Signal::SIGKILL);
        }
    }
}

#[test]
fn detach_returns_once_the_boot_settled_and_svctl_drives_it() {
    let dir = TempDir::new("detach-up");
    dir.write(
        "conf/a.kdl",
        r#"
service "db" {
    shell "sleep 0.5; echo ready >&3; echo db started; exec sleep 100"
    ready-fd 3
}
service "setup" {
    type "oneshot"
    shell "echo setting up"
}
service "web" {
    exec "sleep" "100"
    requires "db"
}
"#,
    );
    let started = Instant::now();
    let (code, text) = detach(&dir, &["-c", "conf"], &[]);
    assert_eq!(code, 0, "{text}");
    assert!(
        started.elapsed() >= Duration::from_millis(450),
        "returned before db was ready: {text}"
    );
    let pid = background_pid(&text);
    let _guard = Background { dir: &dir, pid };
    assert_eq!(
        text.trim(),
        format!("svinit: started in the background (pid {pid}, log {ROOT_LOG}): 2 up, 1 done")
    );
    // Answering as soon as --detach returned.
    let (code, status) = svctl(&dir, &["status", "web", "db", "setup"]);
    assert_eq!(code, 0, "{status}");
    let (code, logs) = svctl(&dir, &["logs", "db"]);
    assert_eq!((code, logs.trim()), (0, "db started"));
    let (code, out) = svctl(&dir, &["stop", "web"]);
    assert_eq!(code, 0, "{out}");
    assert_eq!(status_json(&dir, "web")["state"], "down");
    let (code, out) = svctl(&dir, &["shutdown"]);
    assert_eq!(code, 0, "{out}");
    assert!(
        poll_until(DEADLINE, || !alive(pid)),
        "svinit did not exit after svctl shutdown"
    );
    assert!(!socket(&dir).exists(), "the socket is removed");
    let (code, out) = svctl(&dir, &["status"]);
    assert_eq!(code, 5, "{out}");
}

#[test]
fn detach_exits_1_naming_a_failed_service_and_bad_configs() {
    let dir = TempDir::new("detach-fail");
    dir.write(
        "conf/a.kdl",
        r#"
service "ok" { exec "sleep" "100"; }
service "bad" { exec "/nonexistent/x"; restart "never"; }
service "flaky" { exec "/nonexistent/y"; forever #true; }
"#,
    );
    let (code, text) = detach(&dir, &["-c", "conf"], &[]);
    let pid = background_pid(&text);
    let _guard = Background { dir: &dir, pid };
    assert_eq!(code, 1, "{text}");
    assert!(
        text.contains("1 up, 1 failed: bad (exec /nonexistent/x: No such file or directory)"),
        "{text}"
    );
    // Retried for ever: named after its first try, not waited for.
    assert!(
        text.contains("1 not up: flaky (backoff: exec /nonexistent/y: No such file or directory)"),
        "{text}"
    );
    // Still running: the failure is reported, svinit keeps supervising.
    assert_eq!(status_json(&dir, "ok")["state"], "up");

    let other = TempDir::new("detach-badconf");
    other.write("conf/a.kdl", "service \"x\" { exex \"true\" }\n");
    let (code, text) = detach(&other, &["-c", "conf"], &[]);
    assert_eq!(code, 1, "{text}");
    assert!(
        text.contains("exex"),
        "the diagnostic in the foreground: {text}"
    );
    assert!(!socket(&other).exists());
}

#[test]
fn a_second_svinit_is_refused_and_a_stale_socket_replaced() {
    let dir = TempDir::new("detach-single");
    dir.write("conf/a.kdl", "service \"s\" { exec \"sleep\" \"100\"; }\n");
    // A socket file with nobody behind it (a SIGKILLed svinit's).
    drop(UnixListener::bind(socket(&dir)).expect("bind"));
    assert!(socket(&dir).exists());
    let (code, text) = detach(&dir, &["-c", "conf"], &[]);
    assert_eq!(code, 0, "the stale socket is replaced: {text}");
    let pid = background_pid(&text);
    let _guard = Background { dir: &dir, pid };

    let path = socket(&dir).display().to_string();
    let (code, text) = detach(&dir, &["-c", "conf"], &[]);
    assert_eq!(code, 1, "{text}");
    assert!(
        text.contains(&path) && text.contains(&format!("pid {pid}")),
        "{text}"
    );
    assert_eq!(text.lines().count(), 1, "one line: {text}");

    // In the foreground too.
    let output = Command::new(svinit_bin())
        .args(["-c", "conf", "-s", &path])
        .current_dir(dir.path())
        .stdin(Stdio::null())
        .output()
        .expect("svinit");
    let text = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(1), "{text}");
    assert!(
        text.contains(&path) && text.contains(&format!("pid {pid}")),
        "{text}"
    );
    // The first one is untouched.
    assert_eq!(svctl(&dir, &["status", "s"]).0, 0);
}

#[test]
fn detach_with_a_command_supervises_it_as_a_service_named_after_it() {
    let dir = TempDir::new("detach-adhoc");
    let (code, text) = detach(&dir, &["-c", "none", "--", "sleep", "100"], &[]);
    assert_eq!(code, 0, "{text}");
    let pid = background_pid(&text);
    let _guard = Background { dir: &dir, pid };
    assert!(text.ends_with("1 up\n"), "{text}");
    let sleep = status_json(&dir, "sleep");
    assert_eq!(sleep["state"], "up");
    let (code, out) = svctl(&dir, &["stop", "sleep"]);
    assert_eq!(code, 0, "{out}");
    assert!(
        alive(pid),
        "an operator's stop is not the end of a critical service"
    );
    // An empty config directory is no config for a reload either.
    let empty = TempDir::new("detach-empty");
    std::fs::create_dir_all(empty.join("conf")).expect("mkdir conf");
    let (code, text) = detach(&empty, &["-c", "conf", "--", "sleep", "100"], &[]);
    assert_eq!(code, 0, "{text}");
    let _empty_guard = Background {
        dir: &empty,
        pid: background_pid(&text),
    };
    let (code, text) = svctl(&empty, &["reload"]);
    assert_eq!(code, 0, "reload with an empty config directory: {text}");

    // Critical: when the program ends for good, svinit ends too (zdaemon).
    let other = TempDir::new("detach-adhoc-end");
    let (code, text) = detach(&other, &["-c", "none", "--", "sh", "-c", "sleep 0.5"], &[]);
    assert_eq!(code, 0, "{text}");
    let pid = background_pid(&text);
    let _guard = Background { dir: &other, pid };
    assert!(text.contains("1 up"), "{text}");
    assert!(
        poll_until(DEADLINE, || !alive(pid)),
        "svinit outlived its done program"
    );
}

/// Receives datagrams until `count` arrived or the deadline passed.
fn receive(listener: &UnixDatagram, count: usize) -> Vec<String> {
    let mut got = Vec::new();
    let deadline = Instant::now() + DEADLINE;
    let mut buf = vec![0u8; 16 * 1024];
    while got.len() < count && Instant::now() < deadline {
        let _ = listener.set_read_timeout(Some(Duration::from_millis(200)));
        if let Ok(n) = listener.recv(&mut buf) {
            got.push(String::from_utf8_lossy(&buf[..n]).into_owned());
        }
    }
    got
}

#[test]
fn syslog_lines_reach_the_socket_with_tag_pid_and_priority() {
    let dir = TempDir::new("detach-syslog");
    dir.write(
        "conf/a.kdl",
        r#"
service "talk" {
    output "syslog"
    shell "echo to stdout; echo to stderr >&2; exec sleep 100"
}
"#,
    );
    let log = dir.join("log.sock");
    let listener = UnixDatagram::bind(&log).expect("bind the syslog stand-in");
    let (code, text) = detach(&dir, &["-c", "conf"], &[("SVINIT_SYSLOG_SOCKET", &log)]);
    assert_eq!(code, 0, "{text}");
    let _guard = Background {
        dir: &dir,
        pid: background_pid(&text),
    };
    let mut lines = receive(&listener, 2);
    lines.sort();
    let pid = status_json(&dir, "talk")["pid"].as_i64().unwrap_or(0);
    assert_eq!(lines.len(), 2, "{lines:?}");
    // `<PRI>Mmm dd hh:mm:ss TAG[PID]: MSG`: daemon.err = 27, daemon.info = 30.
    for (line, pri, msg) in [
        (&lines[0], "<27>", "to stderr"),
        (&lines[1], "<30>", "to stdout"),
    ] {
        assert!(line.starts_with(pri), "{line}");
        assert!(line.ends_with(&format!(" talk[{pid}]: {msg}")), "{line}");
        let stamp = &line[pri.len()..line.len() - format!(" talk[{pid}]: {msg}").len()];
        assert_eq!(stamp.len(), "Nov 22 12:34:56".len(), "{line}");
    }
    assert_eq!(status_json(&dir, "talk")["output_problem"], Value::Null);
    let (_, logs) = svctl(&dir, &["logs", "talk"]);
    assert!(
        logs.contains("to stdout") && logs.contains("to stderr"),
        "{logs}"
    );

    // syslogd restarts: lines sent meanwhile stay in the ring, later
    // lines reach the new socket (after the retry interval).
    drop(listener);
    let _ = std::fs::remove_file(&log);
    let _ = svctl(&dir, &["restart", "talk"]);
    assert!(poll_until(DEADLINE, || {
        !status_json(&dir, "talk")["output_problem"].is_null()
    }));
    let listener = UnixDatagram::bind(&log).expect("bind again");
    std::thread::sleep(Duration::from_millis(1100));
    let _ = svctl(&dir, &["restart", "talk"]);
    assert_eq!(receive(&listener, 2).len(), 2);
    assert!(poll_until(DEADLINE, || {
        status_json(&dir, "talk")["output_problem"].is_null()
    }));
}

#[test]
fn without_a_syslog_socket_the_problem_shows_and_the_lines_stay_in_the_ring() {
    let dir = TempDir::new("detach-nosyslog");
    dir.write(
        "conf/a.kdl",
        r#"
service "talk" {
    output "syslog"
    shell "echo hello; echo oops >&2; exec sleep 100"
}
"#,
    );
    let missing = dir.join("no-such.sock");
    let (code, text) = detach(&dir, &["-c", "conf"], &[("SVINIT_SYSLOG_SOCKET", &missing)]);
    assert_eq!(code, 0, "{text}");
    let _guard = Background {
        dir: &dir,
        pid: background_pid(&text),
    };
    let mut problem = Value::Null;
    assert!(poll_until(DEADLINE, || {
        problem = status_json(&dir, "talk")["output_problem"].clone();
        !problem.is_null()
    }));
    let problem = problem.as_str().unwrap_or_default().to_string();
    assert!(
        problem.contains(&missing.display().to_string())
            && problem.contains("No such file or directory"),
        "{problem}"
    );
    let (code, logs) = svctl(&dir, &["logs", "talk"]);
    assert_eq!(code, 0);
    assert!(logs.contains("hello") && logs.contains("oops"), "{logs}");
}

/// Without `--log`, the services' console output and svinit's own log go
/// to a file, said on the line `--detach` prints: for root
/// /var/log/svinit/svinit.log, its directory created, the file 0600.
#[test]
fn detach_as_root_logs_to_var_log_svinit_by_default() {
    let dir = TempDir::new("detach-log-root");
    dir.write(
        "conf/a.kdl",
        "service \"talk\" { shell \"echo hello from talk; exec sleep 100\"; }\n",
    );
    let (code, text) = detach(&dir, &["-c", "conf"], &[]);
    assert_eq!(code, 0, "{text}");
    let pid = background_pid(&text);
    let _guard = Background { dir: &dir, pid };
    assert!(
        text.contains(&format!("log {ROOT_LOG})")),
        "the start-up line says where the output goes: {text}"
    );
    let log = PathBuf::from(format!("/proc/{pid}/root{ROOT_LOG}"));
    let content = wait_for_text(&log, "talk | hello from talk");
    assert!(
        content.contains("svinit: starting in user mode"),
        "{content}"
    );
    let mode = std::fs::metadata(&log)
        .expect("stat the log")
        .permissions()
        .mode();
    assert_eq!(mode & 0o777, 0o600, "the log may hold secrets: {mode:o}");
}

/// For a user: $XDG_STATE_HOME/svinit/svinit.log, the directories made;
/// a second start appends to what the first wrote.
#[test]
fn detach_as_a_user_appends_to_the_xdg_state_log() {
    let dir = TempDir::new("detach-log-user");
    dir.write(
        "conf/a.kdl",
        "service \"talk\" { shell \"echo hello from talk; exec sleep 100\"; }\n",
    );
    let state = dir.join("state");
    let log = state.join("svinit/svinit.log");
    let nobody = 65534;
    for run in 1..=2 {
        let (code, text) = detach_as(nobody, &dir, &["-c", "conf"], &[("XDG_STATE_HOME", &state)]);
        assert_eq!(code, 0, "run {run}: {text}");
        let pid = background_pid(&text);
        let guard = Background { dir: &dir, pid };
        assert!(
            text.contains(&format!("log {})", log.display())),
            "run {run}: the start-up line says where the output goes: {text}"
        );
        let content = wait_for_text(&log, "talk | hello from talk");
        assert_eq!(
            content.matches("svinit: starting in user mode").count(),
            run,
            "run {run} appends:\n{content}"
        );
        drop(guard);
        assert!(
            poll_until(DEADLINE, || !alive(pid)),
            "run {run} did not end"
        );
    }
}
