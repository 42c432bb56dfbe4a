//! Real daemons from Debian's packages under svinit (issue 19), with the
//! shipped unit files of `units/daemons` (symlinked into the config
//! directory, not copied) and its logrotate config: svinit is PID 1 of its
//! own PID, mount and network namespaces, with /run, /var/log,
//! /var/lib/redis, /var/lib/nginx and a copy of /etc/ssh bind-mounted from
//! the test's directory (so the units' paths are theirs, ports 80/22/6379
//! collide with nothing, the daemons write nothing of the host's, and what
//! they leave is seen after they are gone). Checked: each daemon
//! answers (redis PING, an HTTP GET, sshd's banner) before what requires
//! it starts; redis runs as user redis, made `up` by its own READY=1;
//! nginx's stderr lands in its transcript; cron stays in the foreground;
//! real `logrotate -f`, four times, under a service writing numbered lines
//! as fast as it can, loses and duplicates no line; SIGTERM stops
//! everything in reverse dependency order and leaves nothing behind.

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::Duration;

use nix::sys::signal::Signal;

use crate::control::{expect, status_json, svctl_bin, wait_for_socket};
use crate::harness::{DEADLINE, Svinit, TempDir, is_state_line, proc_stat};

const DAEMONS: [&str; 5] = [
    "/usr/bin/redis-server",
    "/usr/sbin/nginx",
    "/usr/sbin/sshd",
    "/usr/sbin/cron",
    "/usr/sbin/logrotate",
];

/// Where the transcripts are, in the test's directory: the namespace's
/// /var/log/svinit/services.
const TRANSCRIPTS: &str = "varlog/svinit/services";

/// The shipped units and logrotate config.
fn units_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("units/daemons")
}

/// A service for the logrotate check only: numbered lines, as fast as a
/// shell loop writes them, into a transcript the shipped logrotate config
/// rotates (/var/log/svinit/services/NAME.log).
const BUSY_UNIT: &str = r#"
service "busy" {
    autostart #false
    shell "i=0; while :; do i=$((i+1)); echo $i; done"
    transcript "/var/log/svinit/services/busy.log"
}
"#;

/// Run as the namespace's PID 1 before svinit: what a Debian system has
/// at boot (/run a fresh directory, /var/log with the packages' and the
/// install's directories, redis's and nginx's data directories, /etc/ssh
/// a copy of the host's, where sshd-prepare's `ssh-keygen -A` writes keys
/// the host lacks), and loopback up. cron gets no jobs: the host's
/// (cron.daily, e2scrub …) must not run here, nor outlive cron at the
/// shutdown should a test cross their minute.
const PRELUDE: &str = r#"
mount --bind "$DIR/run" /run
mount --bind "$DIR/varlog" /var/log
mount --bind "$DIR/redis" /var/lib/redis
mount --bind "$DIR/nginx" /var/lib/nginx
mount --bind "$DIR/ssh" /etc/ssh
mount --bind "$DIR/crontab" /etc/crontab
mount --bind "$DIR/no-jobs" /etc/cron.d
mount --bind "$DIR/no-jobs" /var/spool/cron/crontabs
if command -v ip >/dev/null; then ip link set lo up; else busybox ip link set lo up; fi
"#;

fn make_dir(path: &Path, mode: u32) {
    fs::create_dir_all(path).unwrap_or_else(|e| panic!("mkdir {}: {e}", path.display()));
    fs::set_permissions(path, fs::Permissions::from_mode(mode))
        .unwrap_or_else(|e| panic!("chmod {}: {e}", path.display()));
}

/// The config directory (the shipped units plus `busy`) and the
/// directories the prelude mounts.
fn prepare(dir: &TempDir) {
    let conf = dir.join("conf");
    make_dir(&conf, 0o755);
    let units = fs::read_dir(units_dir()).expect("read units/daemons");
    for entry in units.flatten() {
        let path = entry.path();
        if path.extension().is_some_and(|e| e == "kdl") {
            std::os::unix::fs::symlink(&path, conf.join(entry.file_name()))
                .expect("symlink a unit");
        }
    }
    dir.write("conf/90-busy.kdl", BUSY_UNIT);
    // logrotate refuses a directory others may write to.
    make_dir(&dir.join("run"), 0o755);
    make_dir(&dir.join("varlog"), 0o755);
    make_dir(&dir.join("varlog/svinit"), 0o755);
    make_dir(&dir.join(TRANSCRIPTS), 0o755);
    make_dir(&dir.join("varlog/nginx"), 0o755);
    make_dir(&dir.join("redis"), 0o750);
    make_dir(&dir.join("nginx"), 0o755);
    let copy = Command::new("cp")
        .args(["-a", "/etc/ssh", &dir.join("ssh").to_string_lossy()])
        .status();
    assert!(copy.is_ok_and(|s| s.success()), "cp -a /etc/ssh");
    make_dir(&dir.join("no-jobs"), 0o755);
    dir.write("crontab", "# no jobs in the test\n");
    let chown = Command::new("chown")
        .args(["redis:redis", &dir.join("redis").to_string_lossy()])
        .status();
    assert!(chown.is_ok_and(|s| s.success()), "chown redis:redis");
}

/// `nsenter` into svinit's mount or network namespace (`flag`), running
/// `args` with svctl on PATH and svinit's socket in SVINIT_SOCKET.
fn in_namespace(sv: &Svinit, dir: &TempDir, flag: &str, args: &[&str]) -> Output {
    let svctl_dir = Path::new(svctl_bin()).parent().expect("svctl's directory");
    let path = format!(
        "{}:{}",
        svctl_dir.display(),
        std::env::var("PATH").unwrap_or_default()
    );
    Command::new("nsenter")
        .args(["--target", &sv.pid.to_string(), flag, "--"])
        .args(args)
        .env("PATH", path)
        .env("SVINIT_SOCKET", dir.join("control.sock"))
        .stdin(Stdio::null())
        .output()
        .unwrap_or_else(|e| panic!("nsenter {args:?}: {e}"))
}

/// Index of the first log line saying `name` entered `state`.
#[track_caller]
fn position(sv: &Svinit, lines: &[&str], name: &str, state: &str) -> usize {
    lines
        .iter()
        .position(|l| is_state_line(l, name, state))
        .unwrap_or_else(|| sv.fail(&format!("no `{name}: {state}` line")))
}

/// The host pid of a service's process, from `svctl status --json`.
fn service_host_pid(sv: &Svinit, dir: &TempDir, name: &str) -> i32 {
    let status = status_json(sv, dir, name);
    let pid = status["pid"]
        .as_i64()
        .unwrap_or_else(|| sv.fail(&format!("{name} has no pid: {status}")));
    sv.host_pid(pid as i32)
        .unwrap_or_else(|| sv.fail(&format!("{name}'s pid {pid} is not running")))
}

#[test]
fn debian_daemons_answer_rotate_and_stop_in_order() {
    if let Some(missing) = DAEMONS.iter().find(|p| !Path::new(p).exists()) {
        eprintln!(
            "skipped: {missing} is not installed (.ci/run installs redis-server, nginx, \
             openssh-server, cron and logrotate)"
        );
        return;
    }
    let dir = TempDir::new("daemons");
    prepare(&dir);
    let conf = dir.join("conf");
    // -v: redis's STATUS= notifications are logged (debug).
    let sv = Svinit::container_isolated(
        &dir,
        &dir.expand(PRELUDE),
        &["-v", "-c", &conf.to_string_lossy()],
    );
    wait_for_socket(&sv, &dir);
    for (check, what) in [
        ("redis-answers", "redis-answers | redis: PONG"),
        ("nginx-answers", "nginx-answers | nginx: HTTP/1.1 200 OK"),
        ("sshd-answers", "sshd-answers | sshd: SSH-2.0-OpenSSH"),
    ] {
        sv.wait_state(check, "done", DEADLINE);
        sv.wait_until(what, DEADLINE, || sv.log().contains(what));
    }
    sv.wait_state("app", "up", DEADLINE);

    answered_before_dependents_started(&sv);
    redis_is_user_redis_made_ready_by_its_notification(&sv, &dir);
    nginx_stderr_lands_in_its_transcript(&sv, &dir);
    let cron = service_host_pid(&sv, &dir, "cron");
    cron_runs_in_the_foreground(&sv, &dir, cron);
    logrotate_loses_and_duplicates_no_line(&sv, &dir);
    // Still the same cron, never restarted.
    assert_eq!(service_host_pid(&sv, &dir, "cron"), cron);
    assert_eq!(status_json(&sv, &dir, "cron")["restarts"], 0);

    sigterm_stops_in_reverse_order_leaving_nothing(&sv, &dir);
}

/// Each daemon is `up` before what requires it starts (and the checks
/// above saw it answer), nginx and sshd once their port took a connect;
/// the app waits for all it needs.
fn answered_before_dependents_started(sv: &Svinit) {
    let log = sv.log();
    let lines: Vec<&str> = log.lines().collect();
    for (daemon, dependents) in [
        ("redis", &["redis-answers", "app"][..]),
        ("nginx", &["nginx-answers", "app"][..]),
        ("sshd", &["sshd-answers", "app"][..]),
        ("sshd-prepare", &["sshd"][..]),
    ] {
        let ready = match daemon {
            "sshd-prepare" => position(sv, &lines, daemon, "done"),
            _ => position(sv, &lines, daemon, "up"),
        };
        // Made ready by what says it answers: a connect to its port.
        if daemon == "nginx" || daemon == "sshd" {
            let probed = lines
                .iter()
                .position(|l| *l == format!("svinit: {daemon}: probe passed: connected"))
                .unwrap_or_else(|| sv.fail(&format!("no probe of {daemon} passed")));
            if probed > ready {
                sv.fail(&format!("{daemon} was up before its probe passed"));
            }
        }
        for dependent in dependents {
            if position(sv, &lines, dependent, "starting") < ready {
                sv.fail(&format!("{dependent} started before {daemon} was ready"));
            }
        }
    }
}

/// redis runs as user redis, and became `up` on its own READY=1: the
/// STATUS= of the same notification is logged just before.
fn redis_is_user_redis_made_ready_by_its_notification(sv: &Svinit, dir: &TempDir) {
    let redis = service_host_pid(sv, dir, "redis");
    let status = fs::read_to_string(format!("/proc/{redis}/status")).expect("redis's status");
    let uids = status
        .lines()
        .find_map(|l| l.strip_prefix("Uid:"))
        .expect("a Uid: line");
    let want = Command::new("id")
        .args(["-u", "redis"])
        .output()
        .expect("id -u redis");
    let want = String::from_utf8_lossy(&want.stdout).trim().to_string();
    let uids: Vec<&str> = uids.split_whitespace().collect();
    assert_eq!(
        uids,
        [want.as_str(); 4],
        "redis's real, effective, saved, fs uid"
    );

    let log = sv.log();
    let lines: Vec<&str> = log.lines().collect();
    let notified = lines
        .iter()
        .position(|l| *l == "svinit: redis: STATUS=Ready to accept connections")
        .unwrap_or_else(|| sv.fail("redis sent no STATUS=Ready to accept connections"));
    let starting = position(sv, &lines, "redis", "starting");
    let up = position(sv, &lines, "redis", "up");
    if !(starting < notified && notified < up) {
        sv.fail("redis was up before its own READY=1");
    }
}

/// nginx's error log goes to its stderr (`notice` level: its start is
/// logged), which is in nginx's transcript.
fn nginx_stderr_lands_in_its_transcript(sv: &Svinit, dir: &TempDir) {
    sv.wait_until("nginx's start in its transcript", DEADLINE, || {
        dir.read(&format!("{TRANSCRIPTS}/nginx.log"))
            .is_some_and(|t| {
                t.lines()
                    .any(|l| l.contains("[notice]") && l.contains("start worker processes"))
            })
    });
}

/// cron is the service's process, svinit's child, still `up`.
fn cron_runs_in_the_foreground(sv: &Svinit, dir: &TempDir, cron: i32) {
    let stat = proc_stat(cron).unwrap_or_else(|| sv.fail("cron is gone"));
    assert_eq!(stat.comm, "cron");
    assert_eq!(stat.ppid, sv.pid, "cron's parent is svinit");
    assert_eq!(status_json(sv, dir, "cron")["state"], "up");
}

/// The rotated files, oldest first, then the current one; `.gz` ones
/// uncompressed.
fn rotated_texts(dir: &TempDir, name: &str, rotations: usize) -> Vec<String> {
    let mut texts = Vec::new();
    for n in (1..=rotations).rev() {
        let plain = dir.join(&format!("{TRANSCRIPTS}/{name}.{n}"));
        let gz = dir.join(&format!("{TRANSCRIPTS}/{name}.{n}.gz"));
        let text = if plain.exists() {
            fs::read_to_string(&plain).expect("read a rotated transcript")
        } else {
            let out = Command::new("gzip")
                .arg("-dc")
                .arg(&gz)
                .output()
                .expect("gzip -dc");
            assert!(out.status.success(), "gzip -dc {}", gz.display());
            String::from_utf8_lossy(&out.stdout).into_owned()
        };
        texts.push(text);
    }
    texts.push(
        dir.read(&format!("{TRANSCRIPTS}/{name}"))
            .unwrap_or_default(),
    );
    texts
}

/// Real `logrotate -f` with the shipped config, four times while `busy`
/// writes numbered lines as fast as it can: once it is stopped, the lines
/// of every rotated file and the current one are 1..N in order.
fn logrotate_loses_and_duplicates_no_line(sv: &Svinit, dir: &TempDir) {
    const ROTATIONS: usize = 4;
    let config = units_dir().join("logrotate");
    let state = dir.join("logrotate.status");
    let current = || {
        dir.read(&format!("{TRANSCRIPTS}/busy.log"))
            .unwrap_or_default()
            .len()
    };
    expect(sv, dir, &["start", "busy"], 0);
    for _ in 0..ROTATIONS {
        sv.wait_until("busy writing into a fresh busy.log", DEADLINE, || {
            current() > 100_000
        });
        let out = in_namespace(
            sv,
            dir,
            "--mount",
            &[
                "logrotate",
                "-f",
                "-s",
                &state.to_string_lossy(),
                &config.to_string_lossy(),
            ],
        );
        if !out.status.success() {
            sv.fail(&format!(
                "logrotate: {}\n{}",
                out.status,
                String::from_utf8_lossy(&out.stderr)
            ));
        }
    }
    sv.wait_until("busy writing after the last rotation", DEADLINE, || {
        current() > 100_000
    });
    expect(sv, dir, &["stop", "busy"], 0);
    let texts = rotated_texts(dir, "busy.log", ROTATIONS);
    let mut expected = 1u64;
    for (file, text) in texts.iter().enumerate() {
        assert!(!text.is_empty(), "file {file} of the rotation is empty");
        for line in text.lines() {
            if line.parse::<u64>().ok() != Some(expected) {
                sv.fail(&format!(
                    "file {file} of {}: line {line:?} where {expected} was due",
                    texts.len()
                ));
            }
            expected += 1;
        }
    }
    eprintln!("{} numbered lines over {ROTATIONS} rotations", expected - 1);
    // postrotate named the service: `svctl reopen busy`, once a rotation.
    let reopens = sv.log().matches("svinit: control: reopen busy ").count();
    assert_eq!(reopens, ROTATIONS, "reopens of busy's transcript");
}

/// SIGTERM: the app stops before the daemons it requires or wants, each
/// daemon on its own stop signal (no SIGKILL), no process is left for the
/// orphan sweep, and nginx and sshd removed their pid files.
fn sigterm_stops_in_reverse_order_leaving_nothing(sv: &Svinit, dir: &TempDir) {
    let before = sv.log_len();
    sv.signal(Signal::SIGTERM);
    let status = sv.wait_exit(Duration::from_secs(30));
    assert_eq!(status.code(), Some(0), "svinit's exit status");
    for pid_file in ["nginx.pid", "sshd.pid"] {
        if dir.exists(&format!("run/{pid_file}")) {
            sv.fail(&format!("/run/{pid_file} left behind"));
        }
    }
    let log = sv.log_since(before);
    let lines: Vec<&str> = log.lines().collect();
    let app_down = position(sv, &lines, "app", "down");
    for daemon in ["redis", "nginx", "sshd"] {
        if position(sv, &lines, daemon, "stopping") < app_down {
            sv.fail(&format!("{daemon} was stopped before app was down"));
        }
    }
    for daemon in ["redis", "nginx", "sshd", "cron"] {
        let down = lines[position(sv, &lines, daemon, "down")];
        if down.contains("KILL") {
            sv.fail(&format!("{daemon} needed SIGKILL: {down}"));
        }
    }
    if let Some(left) = lines
        .iter()
        .find(|l| l.contains("sweep:") || l.contains("outlived the shutdown"))
    {
        sv.fail(&format!("a process outlived its service: {left}"));
    }
}
