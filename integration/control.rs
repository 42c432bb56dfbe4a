//! The control socket and `svctl` (SPEC §5) against a real svinit as PID 1
//! of a new PID namespace: every command and exit code, bad requests,
//! SO_PEERCRED authorization for users made with useradd, descriptor
//! hygiene over hundreds of connections, waiting start/stop/restart, and
//! `events --since` replay.

use std::io::{BufRead, BufReader, Write};
use std::os::unix::fs::MetadataExt;
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use nix::sys::signal::Signal;
use serde_json::Value;

use crate::harness::{
    DEADLINE, Mode, Svinit, TempDir, fd_census, poll_until, succeeds, svinit_bin,
};

pub(crate) fn svctl_bin() -> &'static str {
    env!("CARGO_BIN_EXE_svctl")
}

/// svinit as PID 1 with its socket given by `-s` (the harness also sets
/// `SVINIT_SOCKET` to the same path).
pub(crate) fn container(dir: &TempDir) -> Svinit {
    Svinit::start(
        Mode::Container,
        dir,
        &[
            "-c",
            &dir.join("conf").to_string_lossy(),
            "-s",
            &socket(dir).to_string_lossy(),
        ],
    )
}

// ---------------------------------------------------------------- svctl

/// What one svctl run did.
pub(crate) struct Run {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

impl Run {
    fn from(output: Output) -> Run {
        Run {
            code: output.status.code().unwrap_or(-1),
            stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
        }
    }
}

impl std::fmt::Display for Run {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "exit {}\n--- stdout\n{}--- stderr\n{}",
            self.code, self.stdout, self.stderr
        )
    }
}

pub(crate) fn socket(dir: &TempDir) -> PathBuf {
    dir.join("control.sock")
}

/// `svctl -s DIR/control.sock ARGS`.
pub(crate) fn svctl(dir: &TempDir, args: &[&str]) -> Run {
    let output = Command::new(svctl_bin())
        .arg("-s")
        .arg(socket(dir))
        .args(args)
        .stdin(Stdio::null())
        .output()
        .unwrap_or_else(|e| panic!("run svctl: {e}"));
    Run::from(output)
}

/// Runs svctl and fails the test (with svinit's log) unless it exits `code`.
#[track_caller]
pub(crate) fn expect(sv: &Svinit, dir: &TempDir, args: &[&str], code: i32) -> Run {
    let run = svctl(dir, args);
    if run.code != code {
        sv.fail(&format!(
            "svctl {} → want exit {code}, got {run}",
            args.join(" ")
        ));
    }
    run
}

/// Waits until svinit answers on its socket.
pub(crate) fn wait_for_socket(sv: &Svinit, dir: &TempDir) {
    sv.wait_until("the control socket to answer", DEADLINE, || {
        svctl(dir, &["status"]).code == 0
    });
}

pub(crate) fn status_json(sv: &Svinit, dir: &TempDir, name: &str) -> Value {
    let run = svctl(dir, &["status", "--json", name]);
    if run.code != 0 && run.code != 3 {
        sv.fail(&format!("status --json {name}: {run}"));
    }
    let value: Value = serde_json::from_str(run.stdout.trim())
        .unwrap_or_else(|e| sv.fail(&format!("status --json is not JSON ({e}): {run}")));
    value[0].clone()
}

fn state_of(sv: &Svinit, dir: &TempDir, name: &str) -> String {
    status_json(sv, dir, name)["state"]
        .as_str()
        .unwrap_or_default()
        .to_string()
}

/// One raw request line (or any bytes) on a fresh connection; the first
/// line svinit answers.
fn raw_exchange(dir: &TempDir, bytes: &[u8]) -> Value {
    let mut stream = UnixStream::connect(socket(dir)).expect("connect");
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    // svinit may hang up before taking it all (too large): that is fine.
    let _ = stream.write_all(bytes);
    let mut line = String::new();
    let _ = BufReader::new(stream).read_line(&mut line);
    serde_json::from_str(&line).unwrap_or_else(|e| panic!("reply {line:?}: {e}"))
}

fn error_kind(reply: &Value) -> String {
    assert_eq!(reply["v"], 1, "{reply}");
    assert_eq!(reply["ok"], false, "{reply}");
    reply["error"]["kind"]
        .as_str()
        .unwrap_or_default()
        .to_string()
}

/// `pid`'s descriptors but the spawner's socket (see `FdCensus::total`).
pub(crate) fn fd_count(pid: i32) -> usize {
    crate::harness::fd_census(pid, Path::new("")).total
}

/// svinit's descriptor count once it holds exactly `keep` client
/// connections (the ones the caller holds open): an svctl that has just
/// exited may stay open on svinit's side for a loop iteration.
pub(crate) fn settled_fds(sv: &Svinit, dir: &TempDir, keep: usize) -> usize {
    let mut census = fd_census(sv.pid, &socket(dir));
    sv.wait_until(
        &format!("svinit to hold {keep} client connections"),
        DEADLINE,
        || {
            census = fd_census(sv.pid, &socket(dir));
            census.clients == keep
        },
    );
    census.total
}

const SERVICES: &str = r#"
service "web" {
    description "the web server"
    shell "trap 'echo hup >> $DIR/web.hup' HUP; echo $$ >> $DIR/web.pids; while :; do sleep 0.05; done"
    stop-timeout "2s"
}
service "idle" {
    exec "sleep" "1000"
    autostart #false
}
service "job" {
    type "oneshot"
    shell "echo ran >> $DIR/job.runs"
    autostart #false
}
service "broken" {
    exec "/nonexistent/program"
    autostart #false
    backoff-limit "2s"
}
service "stubborn" {
    shell "trap '' TERM; while :; do sleep 0.05; done"
    autostart #false
    stop-timeout "300ms"
}
service "api" {
    exec "sleep" "1000"
    requires "web"
    wants "idle"
    autostart #false
}
"#;

fn start(tag: &str) -> (TempDir, Svinit) {
    let dir = TempDir::new(tag);
    dir.write("conf/services.kdl", SERVICES);
    let sv = container(&dir);
    wait_for_socket(&sv, &dir);
    sv.wait_until("web to be up", DEADLINE, || {
        svctl(&dir, &["status", "web"]).code == 0
    });
    (dir, sv)
}

#[test]
fn status_exit_codes_and_json() {
    let (dir, sv) = start("ctl-status");
    let run = expect(&sv, &dir, &["status", "web"], 0);
    assert!(
        run.stdout.contains("web") && run.stdout.contains("up"),
        "{run}"
    );
    expect(&sv, &dir, &["status", "idle"], 3);
    expect(&sv, &dir, &["status", "web", "idle"], 3);
    let run = expect(&sv, &dir, &["status", "nope"], 4);
    assert!(run.stderr.contains("nope"), "{run}");

    // The whole table: one line per service plus the header.
    let run = expect(&sv, &dir, &["status"], 0);
    for name in ["web", "idle", "job", "broken", "stubborn", "api"] {
        assert!(run.stdout.contains(name), "{name} missing: {run}");
    }
    assert!(run.stdout.contains("the web server"), "{run}");

    // The stable JSON.
    let web = status_json(&sv, &dir, "web");
    for key in [
        "name",
        "status",
        "state",
        "pid",
        "since",
        "restarts",
        "exit",
        "reason",
        "next_restart",
        "history",
        "config_changed",
    ] {
        assert!(web.get(key).is_some(), "status --json lacks {key}: {web}");
    }
    assert_eq!(web["name"], "web");
    assert_eq!(web["status"], "up");
    assert_eq!(web["state"], "up");
    assert!(web["pid"].as_i64().unwrap_or(0) > 1, "{web}");
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64;
    let since = web["since"].as_i64().unwrap_or(0);
    assert!(
        (now - 60..=now + 1).contains(&since),
        "since {since}, now {now}"
    );
    let idle = status_json(&sv, &dir, "idle");
    assert_eq!(
        (idle["status"].as_str(), idle["pid"].is_null()),
        (Some("down"), true)
    );
    let all: Value =
        serde_json::from_str(expect(&sv, &dir, &["status", "--json"], 0).stdout.trim())
            .expect("json array");
    assert_eq!(all.as_array().map(Vec::len), Some(6));

    // svinit gone: 5, and the message names the socket.
    sv.signal(Signal::SIGTERM);
    sv.wait_exit(DEADLINE);
    let run = expect(&sv, &dir, &["status", "web"], 5);
    assert!(
        run.stderr.contains(&socket(&dir).display().to_string()),
        "{run}"
    );
    assert!(!socket(&dir).exists(), "svinit left its socket behind");
}

#[test]
fn start_stop_restart_wait_for_the_outcome() {
    let (dir, sv) = start("ctl-wait");

    expect(&sv, &dir, &["start", "idle"], 0);
    assert_eq!(state_of(&sv, &dir, "idle"), "up");
    let pid = status_json(&sv, &dir, "idle")["pid"].as_i64();
    expect(&sv, &dir, &["restart", "idle"], 0);
    let new_pid = status_json(&sv, &dir, "idle")["pid"].as_i64();
    assert_eq!(state_of(&sv, &dir, "idle"), "up");
    assert_ne!(pid, new_pid, "restart must give a new process");
    expect(&sv, &dir, &["stop", "idle"], 0);
    assert_eq!(state_of(&sv, &dir, "idle"), "down");

    // A oneshot is waited for until done.
    expect(&sv, &dir, &["start", "job"], 0);
    assert_eq!(state_of(&sv, &dir, "job"), "done");
    assert_eq!(dir.lines("job.runs"), ["ran"]);

    // A service that cannot start: 1, with the reason.
    let run = expect(&sv, &dir, &["start", "--timeout", "20s", "broken"], 1);
    assert!(run.stderr.contains("broken"), "{run}");
    assert!(run.stderr.contains("nonexistent"), "{run}");

    // A service that ignores TERM needs the KILL: "did not stop in time".
    expect(&sv, &dir, &["start", "stubborn"], 0);
    let run = expect(&sv, &dir, &["stop", "stubborn"], 1);
    assert!(run.stderr.contains("stubborn"), "{run}");
    assert_eq!(state_of(&sv, &dir, "stubborn"), "down");

    // --timeout bounds the wait.
    expect(&sv, &dir, &["start", "stubborn"], 0);
    let begun = Instant::now();
    let run = expect(&sv, &dir, &["stop", "--timeout", "100ms", "stubborn"], 1);
    assert!(begun.elapsed() < Duration::from_secs(2), "{run}");
    assert!(run.stderr.contains("did not stop within"), "{run}");

    // --no-wait returns at once; a start pulls in what it requires.
    expect(&sv, &dir, &["stop", "web"], 0);
    expect(&sv, &dir, &["start", "--no-wait", "api"], 0);
    sv.wait_until("api and web to be up", DEADLINE, || {
        state_of(&sv, &dir, "api") == "up" && state_of(&sv, &dir, "web") == "up"
    });

    // Unknown names: 4, and nothing is started.
    expect(&sv, &dir, &["start", "idle", "nope"], 4);
    assert_eq!(
        state_of(&sv, &dir, "idle"),
        "up",
        "idle came up as api wants it"
    );
    expect(&sv, &dir, &["stop", "nope"], 4);
    expect(&sv, &dir, &["restart", "nope"], 4);
    expect(&sv, &dir, &["start"], 2);
}

#[test]
fn kill_reopen_logs_reload_tree_blame_power_and_usage() {
    let (dir, sv) = start("ctl-misc");

    expect(&sv, &dir, &["kill", "web", "HUP"], 0);
    sv.wait_until("web to note the HUP", DEADLINE, || dir.exists("web.hup"));
    let run = expect(&sv, &dir, &["kill", "idle", "TERM"], 1);
    assert!(run.stderr.contains("idle"), "{run}");
    expect(&sv, &dir, &["kill", "web", "NOSUCHSIGNAL"], 2);
    expect(&sv, &dir, &["kill", "nope", "HUP"], 4);

    expect(&sv, &dir, &["reopen"], 0);
    expect(&sv, &dir, &["reopen", "web"], 0);
    expect(&sv, &dir, &["reopen", "nope"], 4);
    expect(&sv, &dir, &["logs", "web"], 0);
    expect(&sv, &dir, &["logs", "nope"], 4);
    let run = expect(&sv, &dir, &["poweroff"], 1);
    assert!(run.stderr.contains("system mode"), "{run}");
    expect(&sv, &dir, &["reboot"], 1);
    expect(&sv, &dir, &["halt"], 1);

    let run = expect(&sv, &dir, &["tree", "api"], 0);
    assert!(run.stdout.starts_with("api ("), "{run}");
    assert!(run.stdout.contains("web (up)"), "{run}");
    assert!(run.stdout.contains("idle (down) [wants]"), "{run}");
    let run = expect(&sv, &dir, &["tree", "--dot"], 0);
    assert!(run.stdout.contains("\"api\" -> \"web\";"), "{run}");
    expect(&sv, &dir, &["tree", "nope"], 4);
    let run = expect(&sv, &dir, &["blame"], 0);
    assert!(run.stdout.contains("web"), "{run}");

    // Reload: a dry run changes nothing, then the real one.
    let changed = SERVICES.replace(
        "sleep\" \"1000\"\n    autostart",
        "sleep\" \"2000\"\n    autostart",
    );
    dir.write(
        "conf/services.kdl",
        &format!("{changed}\nservice \"extra\" {{\n    exec \"sleep\" \"1000\"\n}}\n"),
    );
    let run = expect(&sv, &dir, &["reload", "--dry-run"], 0);
    assert!(run.stdout.contains("would be added: extra"), "{run}");
    assert!(
        run.stdout.contains("would be changed: idle (exec)"),
        "{run}"
    );
    expect(&sv, &dir, &["status", "extra"], 4);
    let run = expect(&sv, &dir, &["reload"], 0);
    assert!(run.stdout.contains("added: extra"), "{run}");
    sv.wait_until("extra to be up", DEADLINE, || {
        svctl(&dir, &["status", "extra"]).code == 0
    });

    // An invalid config: diagnostics, exit 1, nothing changes.
    dir.write("conf/zz.kdl", "service \"bad\" {\n    exek \"x\"\n}\n");
    let run = expect(&sv, &dir, &["reload"], 1);
    assert!(run.stderr.contains("exek"), "{run}");
    expect(&sv, &dir, &["status", "web", "extra"], 0);

    // Offline check needs no svinit.
    let run = expect(
        &sv,
        &dir,
        &["check", "-c", &dir.join("conf").to_string_lossy()],
        1,
    );
    assert!(
        run.stdout.contains("exek") || run.stderr.contains("exek"),
        "{run}"
    );
    dir.remove("conf/zz.kdl");
    expect(
        &sv,
        &dir,
        &["check", "-c", &dir.join("conf").to_string_lossy()],
        0,
    );

    for usage in [&["bogus"][..], &["status", "--bogus"], &["kill", "web"]] {
        expect(&sv, &dir, usage, 2);
    }
}

#[test]
fn bad_requests_get_errors_and_svinit_keeps_answering() {
    let (dir, sv) = start("ctl-bad");
    let cases: Vec<(Vec<u8>, &str)> = vec![
        (b"garbage\n".to_vec(), "bad-json"),
        (b"{\"v\":1,\"cmd\":\n".to_vec(), "bad-json"),
        (
            b"{\"v\":1,\"cmd\":\"frobnicate\"}\n".to_vec(),
            "unknown-command",
        ),
        (
            b"{\"v\":2,\"cmd\":\"status\"}\n".to_vec(),
            "unsupported-version",
        ),
        (
            b"{\"v\":1,\"cmd\":\"start\",\"names\":7}\n".to_vec(),
            "bad-request",
        ),
        (vec![b'x'; 1024 * 1024], "too-large"),
    ];
    for (bytes, kind) in cases {
        let reply = raw_exchange(&dir, &bytes);
        assert_eq!(error_kind(&reply), kind, "{reply}");
        expect(&sv, &dir, &["status", "web"], 0);
    }
    // A well-formed raw request works too, and the version is echoed.
    let reply = raw_exchange(&dir, b"{\"v\":1,\"cmd\":\"status\",\"names\":[\"web\"]}\n");
    assert_eq!(reply["ok"], true, "{reply}");
    assert_eq!(reply["data"]["services"][0]["name"], "web", "{reply}");

    // A client that says nothing gets a timeout error after 5 s.
    let silent = UnixStream::connect(socket(&dir)).expect("connect");
    silent
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    let begun = Instant::now();
    let mut line = String::new();
    BufReader::new(&silent).read_line(&mut line).unwrap();
    let waited = begun.elapsed();
    let reply: Value = serde_json::from_str(&line).unwrap();
    assert_eq!(error_kind(&reply), "timeout");
    assert!(
        waited >= Duration::from_millis(4500) && waited < Duration::from_secs(8),
        "{waited:?}"
    );
    expect(&sv, &dir, &["status", "web"], 0);
    if sv.try_status().is_some() {
        sv.fail("svinit exited");
    }
}

#[test]
fn clients_past_the_limit_are_refused_and_descriptors_do_not_leak() {
    let (dir, sv) = start("ctl-fds");
    let before = settled_fds(&sv, &dir, 0);

    // 128 idle connections fill the table; the next is told so.
    let held: Vec<UnixStream> = (0..128)
        .map(|_| UnixStream::connect(socket(&dir)).expect("connect"))
        .collect();
    let reply = raw_exchange(&dir, b"{\"v\":1,\"cmd\":\"status\"}\n");
    assert_eq!(error_kind(&reply), "too-many-clients");
    drop(held);
    sv.wait_until("the held connections to be closed", DEADLINE, || {
        svctl(&dir, &["status", "web"]).code == 0
    });

    // 500 connections of every kind: svctl runs, raw requests, garbage,
    // hang-ups before and in the middle of a request.
    for i in 0..500 {
        match i % 5 {
            0 => assert_eq!(svctl(&dir, &["status", "web"]).code, 0),
            1 => {
                let reply = raw_exchange(&dir, b"{\"v\":1,\"cmd\":\"blame\"}\n");
                assert_eq!(reply["ok"], true);
            }
            2 => {
                raw_exchange(&dir, b"nonsense\n");
            }
            3 => drop(UnixStream::connect(socket(&dir)).expect("connect")),
            _ => {
                let mut stream = UnixStream::connect(socket(&dir)).expect("connect");
                let _ = stream.write_all(b"{\"v\":1,\"cmd\":\"sta");
            }
        }
    }
    let after = settled_fds(&sv, &dir, 0);
    assert_eq!(
        after, before,
        "svinit has {after} descriptors after 500 connections, {before} before"
    );
}

#[test]
fn events_replay_since_a_sequence_number_and_follow() {
    let (dir, sv) = start("ctl-events");
    let run = expect(&sv, &dir, &["events", "--since", "0", "--no-follow"], 0);
    let boot: Vec<Value> = run
        .stdout
        .lines()
        .map(|line| serde_json::from_str(line).unwrap())
        .collect();
    assert!(!boot.is_empty(), "{run}");
    for (i, event) in boot.iter().enumerate() {
        assert_eq!(event["seq"], i as u64 + 1, "{event}");
        for key in ["time", "name", "from", "to", "pid", "exit", "reason"] {
            assert!(event.get(key).is_some(), "event lacks {key}: {event}");
        }
    }
    assert!(
        boot.iter().any(|e| e["name"] == "web" && e["to"] == "up"),
        "{run}"
    );
    let last = boot
        .last()
        .map(|e| e["seq"].as_u64().unwrap_or(0))
        .unwrap_or(0);

    // A follower sees the next changes live.
    let mut follower = Command::new(svctl_bin())
        .arg("-s")
        .arg(socket(&dir))
        .args(["events", "--since", &last.to_string()])
        .stdout(Stdio::piped())
        .spawn()
        .expect("spawn svctl events");
    let mut seen = Vec::new();
    let stdout = follower.stdout.take().expect("stdout");
    expect(&sv, &dir, &["start", "idle"], 0);
    expect(&sv, &dir, &["stop", "idle"], 0);
    let mut reader = BufReader::new(stdout);
    let deadline = Instant::now() + DEADLINE;
    let mut saw_down = false;
    while Instant::now() < deadline && !saw_down {
        let mut line = String::new();
        if reader.read_line(&mut line).unwrap_or(0) == 0 {
            break;
        }
        let event: Value = serde_json::from_str(&line).unwrap();
        saw_down = event["name"] == "idle" && event["to"] == "down";
        seen.push(event);
    }
    let _ = follower.kill();
    let _ = follower.wait();
    assert!(saw_down, "no idle → down event: {seen:?}");
    assert_eq!(seen[0]["seq"], last + 1, "{seen:?}");
    assert!(seen.iter().any(|e| e["name"] == "idle" && e["to"] == "up"));

    // Replaying since the old number gives the same events again.
    let run = expect(
        &sv,
        &dir,
        &["events", "--since", &last.to_string(), "--no-follow"],
        0,
    );
    let replay: Vec<Value> = run
        .stdout
        .lines()
        .map(|line| serde_json::from_str(line).unwrap())
        .collect();
    assert!(replay.len() >= seen.len(), "{run}");
    assert_eq!(replay[..seen.len()], seen[..]);
}

/// Creates (once) a user and two groups for the access tests; `None` when
/// the tools are missing.
fn test_accounts() -> Option<(u32, u32)> {
    static DONE: Mutex<Option<(u32, u32)>> = Mutex::new(None);
    let mut done = DONE.lock().unwrap();
    if let Some(ids) = *done {
        return Some(ids);
    }
    let _ = succeeds(&["groupadd", "-f", "svit-ctl"]);
    let _ = succeeds(&["groupadd", "-f", "svit-read"]);
    if !succeeds(&["id", "svit-user"])
        && !succeeds(&["useradd", "-M", "-N", "-g", "nogroup", "svit-user"])
    {
        // Some systems have no `nogroup`.
        if !succeeds(&["useradd", "-M", "-U", "svit-user"]) {
            return None;
        }
    }
    let id = |flag: &str| -> Option<u32> {
        let out = Command::new("id").args([flag, "svit-user"]).output().ok()?;
        String::from_utf8_lossy(&out.stdout).trim().parse().ok()
    };
    let ids = (id("-u")?, id("-g")?);
    *done = Some(ids);
    Some(ids)
}

/// svctl as `uid:gid` with no supplementary groups in the process itself:
/// membership must come from /etc/group.
fn svctl_as(dir: &TempDir, uid: u32, gid: u32, args: &[&str]) -> Run {
    let output = Command::new("setpriv")
        .args([
            &format!("--reuid={uid}"),
            &format!("--regid={gid}"),
            "--clear-groups",
            "--",
            svctl_bin(),
            "-s",
        ])
        .arg(socket(dir))
        .args(args)
        .output()
        .expect("setpriv");
    Run::from(output)
}

fn set_membership(group: &str, member: bool) {
    let flag = if member { "-a" } else { "-d" };
    let _ = Command::new("gpasswd")
        .args([flag, "svit-user", group])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status();
}

#[test]
fn access_is_decided_by_peer_credentials_and_groups() {
    if !nix::unistd::geteuid().is_root() {
        eprintln!("skipped: needs root for useradd");
        return;
    }
    let Some((uid, gid)) = test_accounts() else {
        eprintln!("skipped: useradd/groupadd unavailable");
        return;
    };
    set_membership("svit-ctl", false);
    set_membership("svit-read", false);
    let dir = TempDir::new("ctl-access");
    dir.write(
        "conf/services.kdl",
        &format!("control group=\"svit-ctl\" read-group=\"svit-read\"\n{SERVICES}"),
    );
    let sv = container(&dir);
    wait_for_socket(&sv, &dir);
    let mode = std::fs::metadata(socket(&dir)).map(|m| m.mode() & 0o777);
    assert_eq!(mode.ok(), Some(0o666), "both groups: 0666");

    // A stranger is refused, even for status.
    let run = svctl_as(&dir, uid, gid, &["status", "web"]);
    assert_eq!(run.code, 1, "{run}");
    assert!(run.stderr.contains("permission denied"), "{run}");

    // read-group: may read, may not change.
    set_membership("svit-read", true);
    let run = svctl_as(&dir, uid, gid, &["status"]);
    assert_eq!(run.code, 0, "{run}");
    let run = svctl_as(&dir, uid, gid, &["tree"]);
    assert_eq!(run.code, 0, "{run}");
    let run = svctl_as(&dir, uid, gid, &["plot"]);
    assert!(run.code == 0 && run.stdout.starts_with("<svg"), "{run}");
    let run = svctl_as(&dir, uid, gid, &["events", "--since", "0", "--no-follow"]);
    assert_eq!(run.code, 0, "{run}");
    let run = svctl_as(&dir, uid, gid, &["stop", "web"]);
    assert_eq!(run.code, 1, "{run}");
    assert!(run.stderr.contains("may only read"), "{run}");
    expect(&sv, &dir, &["status", "web"], 0);

    // control group: everything, and it is logged with uid and pid.
    set_membership("svit-ctl", true);
    let run = svctl_as(&dir, uid, gid, &["stop", "web"]);
    assert_eq!(run.code, 0, "{run}");
    expect(&sv, &dir, &["status", "web"], 3);
    sv.wait_until("the stop to be logged with the uid", DEADLINE, || {
        sv.log()
            .contains(&format!("control: stop web (uid {uid}, pid "))
    });
    set_membership("svit-ctl", false);
    set_membership("svit-read", false);
    drop(sv);

    // With only `control group=`, the file itself is 0660 root:svit-ctl
    // and a stranger cannot even connect.
    let dir = TempDir::new("ctl-access-group");
    dir.write(
        "conf/services.kdl",
        &format!("control group=\"svit-ctl\"\n{SERVICES}"),
    );
    let sv = container(&dir);
    wait_for_socket(&sv, &dir);
    let meta = std::fs::metadata(socket(&dir)).expect("socket");
    assert_eq!(meta.mode() & 0o777, 0o660);
    let run = svctl_as(&dir, uid, gid, &["status"]);
    assert_eq!(run.code, 5, "{run}");
    assert!(run.stderr.contains("Permission denied"), "{run}");
    drop(sv);

    // Without groups: 0600.
    let (dir, _sv) = start("ctl-access-none");
    let meta = std::fs::metadata(socket(&dir)).expect("socket");
    assert_eq!(meta.mode() & 0o777, 0o600);
}

#[test]
fn a_second_svinit_on_the_same_socket_is_refused_and_a_stale_socket_replaced() {
    let (dir, sv) = start("ctl-single");
    let second = Command::new(svinit_bin())
        .args(["-c", &dir.join("conf").to_string_lossy()])
        .env("SVINIT_SOCKET", socket(&dir))
        .stdin(Stdio::null())
        .output()
        .expect("second svinit");
    assert_eq!(second.status.code(), Some(1));
    let text = String::from_utf8_lossy(&second.stderr);
    assert!(text.contains(&socket(&dir).display().to_string()), "{text}");
    // The pid as this (host) namespace sees the running svinit.
    assert!(text.contains(&format!("pid {}", sv.pid)), "{text}");
    expect(&sv, &dir, &["status", "web"], 0);

    // SIGKILL leaves the socket file behind; the next svinit replaces it.
    let host_pid = sv.pid;
    drop(sv);
    assert!(socket(&dir).exists());
    assert!(
        poll_until(DEADLINE, || !Path::new(&format!("/proc/{host_pid}"))
            .exists()),
        "the killed svinit is still there"
    );
    let sv = container(&dir);
    wait_for_socket(&sv, &dir);
    // The socket answers before web's exec is done: wait for it to be up.
    sv.wait_until("web to be up again", DEADLINE, || {
        svctl(&dir, &["status", "web"]).code == 0
    });
}

/// A service that prints a numbered line every 20 ms.
const TALKER: &str = r#"
service "talk" {
    shell "i=0; while :; do i=$((i+1)); echo \"line $i\"; sleep 0.02; done"
}
"#;

fn line_numbers(text: &str) -> Vec<u64> {
    text.lines()
        .filter_map(|line| line.strip_prefix("line ")?.trim().parse().ok())
        .collect()
}

#[test]
fn logs_reads_the_ring_and_follow_streams_new_lines() {
    let dir = TempDir::new("ctl-logs");
    dir.write("conf/services.kdl", TALKER);
    let sv = container(&dir);
    wait_for_socket(&sv, &dir);
    sv.wait_until("talk to print 5 lines", DEADLINE, || {
        line_numbers(&svctl(&dir, &["logs", "talk"]).stdout).len() >= 5
    });

    // -n: exactly the last N lines, consecutive.
    let run = expect(&sv, &dir, &["logs", "-n", "3", "talk"], 0);
    let numbers = line_numbers(&run.stdout);
    assert_eq!(numbers.len(), 3, "{run}");
    assert!(numbers.windows(2).all(|w| w[1] == w[0] + 1), "{run}");

    // -f: what was there, then lines written afterwards, in order.
    let fds_before = settled_fds(&sv, &dir, 0);
    let mut follower = Command::new(svctl_bin())
        .arg("-s")
        .arg(socket(&dir))
        .args(["logs", "-f", "-n", "1", "talk"])
        .stdout(Stdio::piped())
        .stdin(Stdio::null())
        .spawn()
        .unwrap_or_else(|e| panic!("run svctl: {e}"));
    let stdout = follower
        .stdout
        .take()
        .unwrap_or_else(|| panic!("no stdout"));
    let mut reader = BufReader::new(stdout);
    let mut seen = Vec::new();
    let start = Instant::now();
    while seen.len() < 10 && start.elapsed() < DEADLINE {
        let mut line = String::new();
        if reader.read_line(&mut line).unwrap_or(0) == 0 {
            break;
        }
        seen.extend(line_numbers(&line));
    }
    assert!(seen.len() >= 10, "logs -f streamed only {seen:?}");
    assert!(
        seen.windows(2).all(|w| w[1] == w[0] + 1),
        "lines missing or repeated: {seen:?}"
    );

    // A follower that goes away costs svinit nothing.
    let _ = follower.kill();
    let _ = follower.wait();
    assert_eq!(
        settled_fds(&sv, &dir, 0),
        fds_before,
        "the follower's descriptors"
    );
    expect(&sv, &dir, &["status", "talk"], 0);
}

/// `svctl ARGS` in the background, for its exit status and stderr.
fn follower(dir: &TempDir, args: &[&str]) -> std::process::Child {
    Command::new(svctl_bin())
        .arg("-s")
        .arg(socket(dir))
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("run svctl: {e}"))
}

#[test]
fn followers_exit_5_when_svinit_goes_away() {
    let dir = TempDir::new("ctl-followers-lost");
    dir.write("conf/services.kdl", TALKER);
    let sv = container(&dir);
    wait_for_socket(&sv, &dir);
    let followers = [
        follower(&dir, &["events"]),
        follower(&dir, &["logs", "-f", "talk"]),
    ];
    // Let both connect and get their first lines.
    std::thread::sleep(Duration::from_millis(500));
    sv.signal(Signal::SIGTERM);
    sv.wait_exit(DEADLINE);
    for follower in followers {
        let output = follower.wait_with_output().expect("wait svctl");
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert_eq!(
            output.status.code(),
            Some(5),
            "a follower whose svinit went away; stderr: {stderr}"
        );
        assert!(
            stderr.contains(&socket(&dir).to_string_lossy().into_owned()),
            "names the socket: {stderr}"
        );
    }
}

#[test]
fn logs_follow_of_a_service_removed_by_reload_ends_with_exit_4() {
    let dir = TempDir::new("ctl-logs-removed");
    dir.write(
        "conf/services.kdl",
        &format!("{TALKER}service \"idle\" {{\n    exec \"sleep\" \"1000\"\n}}\n"),
    );
    let sv = container(&dir);
    wait_for_socket(&sv, &dir);
    let mut follower = follower(&dir, &["logs", "-f", "talk"]);
    std::thread::sleep(Duration::from_millis(300));
    dir.write(
        "conf/services.kdl",
        "service \"idle\" {\n    exec \"sleep\" \"1000\"\n}\n",
    );
    expect(&sv, &dir, &["reload"], 0);
    // Nothing else happens in svinit from now on: the stream must end anyway.
    let ended = poll_until(DEADLINE, || matches!(follower.try_wait(), Ok(Some(_))));
    if !ended {
        let _ = follower.kill();
        let _ = follower.wait();
        sv.fail("svctl logs -f still waits for a service that was removed");
    }
    let output = follower.wait_with_output().expect("wait svctl");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(4), "stderr: {stderr}");
    assert!(stderr.contains("removed"), "says why: {stderr}");
}

/// SPEC §5, systemd's semantics: `svctl restart db` also restarts the
/// running services that `require` db. They stop first, db stops, db comes
/// back, and they start again once it is ready. A `wants` dependent and a
/// requirer that was not running are left as they were.
#[test]
fn restart_also_restarts_the_running_services_that_require_it() {
    let dir = TempDir::new("ctl-restart-deps");
    dir.write(
        "conf/units.kdl",
        r#"
service "db" {
    shell "sleep 0.3; echo >&3; exec sleep 1000"
    ready-fd 3
}
service "app" {
    exec "sleep" "1000"
    requires "db"
}
service "fan" {
    exec "sleep" "1000"
    wants "db"
}
service "lazy" {
    exec "sleep" "1000"
    requires "db"
    autostart #false
}
"#,
    );
    let sv = container(&dir);
    wait_for_socket(&sv, &dir);
    sv.wait_until("app to be up", DEADLINE, || {
        state_of(&sv, &dir, "app") == "up"
    });
    let pid = |name: &str| status_json(&sv, &dir, name)["pid"].as_i64();
    let (db, app, fan) = (pid("db"), pid("app"), pid("fan"));
    let offset = sv.log_len();
    expect(&sv, &dir, &["restart", "db"], 0);
    sv.wait_until("app to be up again", DEADLINE, || {
        state_of(&sv, &dir, "app") == "up" && pid("app") != app
    });
    assert_ne!(pid("db"), db);
    assert_eq!(pid("fan"), fan, "wants: not restarted");
    assert_eq!(state_of(&sv, &dir, "lazy"), "down", "was not running");
    let log = sv.log_since(offset);
    let at = |name: &str, state: &str| {
        log.lines()
            .position(|l| crate::harness::is_state_line(l, name, state))
            .unwrap_or_else(|| sv.fail(&format!("no `{name}: {state}` after the restart")))
    };
    assert!(
        at("app", "down") < at("db", "stopping"),
        "app stops first:\n{log}"
    );
    assert!(
        at("db", "up") < at("app", "starting"),
        "then after db:\n{log}"
    );
}
