//! Readiness (SPEC §3, §4): `ready-fd` holds dependents back until the
//! service says it is ready, `start-timeout` counts a service that never
//! does as a failed start, and `type "forking"` follows the pid in
//! `pid-file`. Also: an idle svinit does not wake up.

use std::time::Duration;

use nix::sys::signal::Signal;

use crate::harness::{DEADLINE, Mode, Svinit, TempDir, is_state_line};

#[test]
fn ready_fd_holds_dependents_until_the_service_is_ready() {
    let dir = TempDir::new("ready-fd");
    dir.write(
        "conf/units.kdl",
        r#"
service "slow" {
    ready-fd 3
    shell "touch $DIR/slow.running; i=0; while [ ! -e $DIR/go ] && [ $i -lt 400 ]; do sleep 0.05; i=$((i+1)); done; echo >&3; exec sleep 1000"
}
service "needs-slow" {
    requires "slow"
    shell "touch $DIR/needs-slow; exec sleep 1000"
}
"#,
    );
    let sv = Svinit::container(&dir);
    sv.wait_file(&dir, "slow.running", DEADLINE);
    // slow runs but has not written to fd 3: it is not up, and nothing that
    // requires it may start.
    if !sv.state_lines("slow", "up").is_empty() {
        sv.fail("slow is `up` before writing to its ready-fd");
    }
    if !sv.service_lines("needs-slow").iter().all(|l| {
        !is_state_line(l, "needs-slow", "starting") && !is_state_line(l, "needs-slow", "up")
    }) || dir.exists("needs-slow")
    {
        sv.fail("needs-slow started before slow was ready");
    }
    dir.write("go", "");
    sv.wait_file(&dir, "needs-slow", DEADLINE);
    sv.wait_state("slow", "up", DEADLINE);
    let log = sv.log();
    let up = log.lines().position(|l| is_state_line(l, "slow", "up"));
    let dep = log
        .lines()
        .position(|l| is_state_line(l, "needs-slow", "starting"));
    if !matches!((up, dep), (Some(u), Some(d)) if u < d) {
        sv.fail("needs-slow must start after slow is up");
    }
}

#[test]
fn start_timeout_counts_as_a_failed_start() {
    let dir = TempDir::new("start-timeout");
    dir.write(
        "conf/units.kdl",
        r#"
service "mute" {
    ready-fd 3
    start-timeout "1s"
    backoff-limit 2
    shell "echo $$ >> $DIR/pids; exec sleep 1000"
}
"#,
    );
    let sv = Svinit::container(&dir);
    sv.wait_state("mute", "failed", Duration::from_secs(20));
    let pids: Vec<i32> = dir
        .lines("pids")
        .iter()
        .filter_map(|l| l.trim().parse().ok())
        .collect();
    if pids.len() != 2 {
        sv.fail(&format!(
            "mute was started {} times, want 2 (backoff-limit 2)",
            pids.len()
        ));
    }
    if !sv
        .service_lines("mute")
        .iter()
        .any(|l| l.contains("not ready"))
    {
        sv.fail("the reason must say the service was not ready in time");
    }
    sv.wait_until("every start of mute to be killed", DEADLINE, || {
        pids.iter().all(|&p| !sv.ns_alive(p))
    });
}

#[test]
fn forking_service_is_tracked_by_its_pid_file() {
    let dir = TempDir::new("forking");
    dir.write(
        "conf/units.kdl",
        r#"
service "daemon" {
    type "forking"
    pid-file "$DIR/daemon.pid"
    shell "sleep 1000 & echo $! > $DIR/daemon.tmp; mv $DIR/daemon.tmp $DIR/daemon.pid"
}
"#,
    );
    let sv = Svinit::container(&dir);
    sv.wait_state("daemon", "up", DEADLINE);
    let pid: i32 = dir
        .read("daemon.pid")
        .and_then(|s| s.trim().parse().ok())
        .unwrap_or_else(|| sv.fail("daemon.pid is not a number"));
    let up = sv.state_lines("daemon", "up").join("\n");
    if !up.contains(&format!("pid {pid}")) {
        sv.fail(&format!(
            "daemon must be up with the pid from its pid-file ({pid}): {up}"
        ));
    }
    if !sv.ns_alive(pid) {
        sv.fail("the daemon is not running");
    }
    let host = sv.host_pid(pid).unwrap_or_default();
    sv.signal(Signal::SIGTERM);
    let status = sv.wait_exit(DEADLINE);
    if status.code() != Some(0) {
        sv.fail(&format!("svinit exited with {status}, want 0"));
    }
    if !sv
        .state_lines("daemon", "stopping")
        .join("\n")
        .contains(&format!("pid {pid}"))
    {
        sv.fail("the stop must be aimed at the daemon's pid");
    }
    if crate::harness::alive(host) {
        sv.fail("the daemon survived svinit");
    }
}

/// SPEC §4 "Idle": with no timer pending, svinit sleeps in the kernel.
/// Counted over one second of a quiet system: svinit's voluntary context
/// switches (each wakeup from epoll_wait is one) must not grow.
#[test]
fn idle_svinit_does_not_wake_up() {
    let dir = TempDir::new("idle");
    dir.write(
        "conf/units.kdl",
        "service \"quiet\" {\n    shell \"exec sleep 1000\"\n}\n",
    );
    let sv = Svinit::container(&dir);
    sv.wait_state("quiet", "up", DEADLINE);
    let switches = || {
        std::fs::read_to_string(format!("/proc/{}/status", sv.pid))
            .ok()
            .and_then(|s| {
                s.lines()
                    .find(|l| l.starts_with("voluntary_ctxt_switches:"))
                    .and_then(|l| l.split_whitespace().last()?.parse::<u64>().ok())
            })
            .unwrap_or_else(|| sv.fail("cannot read svinit's context switches"))
    };
    // Let the start settle (the service's exec is reported on a pipe).
    sv.wait_until("the log to stop growing", DEADLINE, || {
        let before = sv.log().len();
        std::thread::sleep(Duration::from_millis(100));
        sv.log().len() == before
    });
    let before = switches();
    // A measurement window, not a wait for an event.
    std::thread::sleep(Duration::from_secs(1));
    let after = switches();
    if after != before {
        sv.fail(&format!(
            "idle svinit woke up {} times in 1 s",
            after - before
        ));
    }
}

/// The real `systemd-notify` (from systemd) as a readiness client: from a
/// root service and from one running as `nobody`, which cannot fake its
/// credentials and sends from a process of the service's session.
#[test]
fn systemd_notify_is_understood_as_root_and_as_another_user() {
    let Some(_) = find_on_path("systemd-notify") else {
        assert!(
            std::env::var_os("CI").is_none(),
            "systemd-notify is missing (.ci/run installs the systemd package)"
        );
        eprintln!("SKIPPED: systemd-notify is not installed");
        return;
    };
    let dir = TempDir::new("systemd-notify");
    dir.write(
        "conf/units.kdl",
        r#"
service "as-root" {
    ready-notify #true
    start-timeout "30s"
    shell "sleep 0.2; systemd-notify --ready --status=warm; exec sleep 1000"
}
service "as-nobody" {
    user "nobody"
    ready-notify #true
    start-timeout "30s"
    shell "sleep 0.2; systemd-notify --ready --status=cold; exec sleep 1000"
}
service "after-both" {
    requires "as-root" "as-nobody"
    exec "sleep" "1000"
}
"#,
    );
    // -v: STATUS= lines are logged at debug level.
    let conf = dir.join("conf").to_string_lossy().into_owned();
    let sv = Svinit::start(Mode::Container, &dir, &["-v", "-c", &conf]);
    sv.wait_state("after-both", "up", DEADLINE);
    let log = sv.log();
    for line in ["as-root: STATUS=warm", "as-nobody: STATUS=cold"] {
        if !log.contains(line) {
            sv.fail(&format!("no {line:?}"));
        }
    }
    let position =
        |name: &str, state: &str| log.lines().position(|l| is_state_line(l, name, state));
    let dependent = position("after-both", "starting");
    for name in ["as-root", "as-nobody"] {
        if !matches!((position(name, "up"), dependent), (Some(up), Some(d)) if up < d) {
            sv.fail(&format!("after-both started before {name} was up"));
        }
    }
}

fn find_on_path(program: &str) -> Option<std::path::PathBuf> {
    std::env::split_paths(&std::env::var_os("PATH")?)
        .map(|dir| dir.join(program))
        .find(|path| path.is_file())
}

/// A service of the `watchdog` tests: READY=1, then on its first run
/// `WATCHDOG=1` every 0.2 s for 2 s (twice the watchdog) and silence, or
/// `WATCHDOG=trigger` with `trigger`; on later runs a ping every 0.2 s.
/// Each run appends `PID WATCHDOG_PID WATCHDOG_USEC` to `NAME.runs`; the
/// last ping's time and the stop signal's go to `NAME.last-ping` and
/// `NAME.term` (seconds since the epoch).
const WATCHDOG_PY: &str = r#"import os, signal, socket, sys, time
name, mode = sys.argv[1], sys.argv[2]
runs = os.path.join(os.environ["DIR"], name + ".runs")
with open(runs, "a") as f:
    f.write("%d %s %s\n" % (os.getpid(), os.environ.get("WATCHDOG_PID"), os.environ.get("WATCHDOG_USEC")))
first = len(open(runs).read().splitlines()) == 1
def note(what):
    with open(os.path.join(os.environ["DIR"], name + "." + what), "w") as f:
        f.write("%.6f\n" % time.time())
def term(*_):
    note("term")
    sys.exit(0)
signal.signal(signal.SIGTERM, term)
address = os.environ["NOTIFY_SOCKET"]
if address.startswith("@"):
    address = "\0" + address[1:]
sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
sock.sendto(b"READY=1", address)
if first and mode == "trigger":
    time.sleep(0.3)
    sock.sendto(b"WATCHDOG=trigger", address)
    while True:
        time.sleep(1)
end = time.time() + 2 if first else float("inf")
while time.time() < end:
    time.sleep(0.2)
    sock.sendto(b"WATCHDOG=1", address)
    note("last-ping")
while True:
    time.sleep(1)
"#;

/// SPEC §3 `watchdog`: `WATCHDOG_USEC` and `WATCHDOG_PID` are set;
/// `WATCHDOG=1` keeps the service up past its deadline; once the pings
/// stop it is stopped (stop signal) one deadline after the last, and
/// restarted as after a crash, reason `watchdog timeout`. `WATCHDOG=trigger`
/// does the same at once.
#[test]
fn a_service_that_stops_pinging_its_watchdog_is_restarted() {
    let dir = TempDir::new("watchdog");
    dir.write("watchdog.py", WATCHDOG_PY);
    dir.write(
        "conf/units.kdl",
        r#"
defaults {
    ready-notify #true
    watchdog "1s"
    environment { DIR "$DIR"; }
}
service "pinger" {
    exec "python3" "$DIR/watchdog.py" "pinger" "stop"
}
service "trigger" {
    exec "python3" "$DIR/watchdog.py" "trigger" "trigger"
}
"#,
    );
    let sv = Svinit::container(&dir);
    for name in ["pinger", "trigger"] {
        sv.wait_until(
            &format!("{name}'s second run"),
            Duration::from_secs(20),
            || dir.lines(&format!("{name}.runs")).len() == 2,
        );
        let backoff = sv.state_lines(name, "backoff").join("\n");
        if !backoff.contains("watchdog timeout") {
            sv.fail(&format!(
                "{name}: the reason must be the watchdog: {backoff:?}"
            ));
        }
        for run in dir.lines(&format!("{name}.runs")) {
            let fields: Vec<&str> = run.split(' ').collect();
            if fields.len() != 3 || fields[0] != fields[1] || fields[2] != "1000000" {
                sv.fail(&format!(
                    "{name}: want PID WATCHDOG_PID=PID WATCHDOG_USEC=1000000, got {run:?}"
                ));
            }
        }
    }
    if !sv
        .state_lines("trigger", "backoff")
        .join("\n")
        .contains("WATCHDOG=trigger")
    {
        sv.fail("trigger's reason must name WATCHDOG=trigger");
    }
    let time = |file: &str| -> f64 {
        dir.read(file)
            .and_then(|t| t.trim().parse().ok())
            .unwrap_or_else(|| sv.fail(&format!("no {file}")))
    };
    let waited = time("pinger.term") - time("pinger.last-ping");
    println!("pinger: stopped {waited:.3} s after its last WATCHDOG=1 (watchdog 1 s)");
    if !(0.9..2.0).contains(&waited) {
        sv.fail(&format!(
            "stopped {waited:.3} s after the last ping, want about 1 s"
        ));
    }
    // The second runs ping on: restarted once, up for good.
    std::thread::sleep(Duration::from_secs(2));
    for name in ["pinger", "trigger"] {
        let runs = dir.lines(&format!("{name}.runs")).len();
        if runs != 2 {
            sv.fail(&format!("{name} ran {runs} times, want 2"));
        }
    }
}
