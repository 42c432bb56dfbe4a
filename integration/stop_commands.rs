//! Stop commands (`stop-exec` / `stop-shell`, SPEC §3) with real processes:
//! run instead of the stop signal with the service's user, directory,
//! environment, umask and output, `MAINPID` set; the stop signal at once
//! when the command fails or cannot be started; both process groups
//! SIGKILLed at `stop-timeout`; reverse dependency order at a shutdown,
//! where svinit forks them itself (the spawner is gone by then).

use std::process::Command;
use std::time::{Duration, Instant};

use nix::sys::signal::Signal;

use crate::control::{container, expect, socket, status_json, wait_for_socket};
use crate::harness::{DEADLINE, Mode, Svinit, TempDir};

/// A service body: records its pid in `NAME.pid`, writes `NAME.term` if it
/// gets SIGTERM (and exits), exits 0 on SIGUSR1, and touches `NAME.ready`
/// once its traps are in place.
fn service_body(name: &str) -> String {
    format!(
        "echo $$ > $DIR/{name}.pid; trap 'echo term > $DIR/{name}.term; exit 0' TERM; trap 'exit 0' USR1; touch $DIR/{name}.ready; while :; do sleep 0.1; done"
    )
}

/// svinit with one service `web` (`service_body`, plus `keys`), and once
/// it is up `svctl stop web`, which must exit `code`: svinit, web's pid,
/// and how long the stop took.
fn stop_web(dir: &TempDir, keys: &str, code: i32) -> (Svinit, i32, Duration) {
    let body = service_body("web");
    dir.write(
        "conf/web.kdl",
        &format!("service \"web\" {{\n    shell \"{body}\"\n{keys}\n}}\n"),
    );
    // svinit's own stdin is a file: a stop command that inherited it, not
    // /dev/null, would show it.
    let stdin = std::fs::File::open(dir.write("svinit-stdin", "")).expect("open");
    let conf = dir.join("conf");
    let sock = socket(dir);
    let args = [
        "-c",
        conf.to_str().unwrap_or(""),
        "-s",
        sock.to_str().unwrap_or(""),
    ];
    let sv = Svinit::start_with(Mode::Container, dir, &args, |cmd| {
        cmd.stdin(stdin);
    });
    wait_for_socket(&sv, dir);
    sv.wait_file(dir, "web.ready", DEADLINE);
    let pid = pid_in(dir, "web.pid");
    let began = Instant::now();
    expect(&sv, dir, &["stop", "web"], code);
    let took = began.elapsed();
    (sv, pid, took)
}

fn pid_in(dir: &TempDir, rel: &str) -> i32 {
    dir.read(rel)
        .and_then(|text| text.trim().parse().ok())
        .unwrap_or_else(|| panic!("no pid in {rel}"))
}

/// Waits until each (what, namespace pid) is gone.
fn wait_gone(sv: &Svinit, processes: &[(&str, i32)]) {
    for &(what, pid) in processes {
        sv.wait_until(&format!("the {what} (pid {pid}) gone"), DEADLINE, || {
            !sv.ns_alive(pid)
        });
    }
}

#[test]
fn a_stop_shell_runs_as_the_service_with_mainpid_and_stops_it_gracefully() {
    let dir = TempDir::new("stop-shell");
    let nobody_uid = Command::new("id")
        .args(["-u", "nobody"])
        .output()
        .ok()
        .and_then(|out| {
            String::from_utf8_lossy(&out.stdout)
                .trim()
                .parse::<u32>()
                .ok()
        })
        .expect("user nobody");
    let keys = r#"
    user "nobody"
    directory "$DIR"
    umask 0o027
    environment {
        GREETING "from-the-unit"
    }
    stop-shell "echo \"$MAINPID $(id -u) $(pwd) $(umask) $GREETING $(readlink /proc/self/fd/0)\" > $DIR/stop.marker; echo stop-command-speaking; kill -USR1 $MAINPID"
    stop-timeout "30s""#;
    let (sv, pid, took) = stop_web(&dir, keys, 0);
    let marker = dir.read("stop.marker").unwrap_or_default();
    let expected = format!(
        "{pid} {nobody_uid} {} 0027 from-the-unit /dev/null",
        dir.path().display()
    );
    if marker.trim() != expected {
        sv.fail(&format!("stop marker {marker:?}, want {expected:?}"));
    }
    if dir.exists("web.term") {
        sv.fail("the service got SIGTERM: the stop command was not used instead");
    }
    if took >= Duration::from_secs(10) {
        sv.fail(&format!(
            "stop took {took:?}: the service was not stopped by its command"
        ));
    }
    let status = status_json(&sv, &dir, "web");
    if status["state"] != "down" || !status["reason"].is_null() {
        sv.fail(&format!("after the stop: {status}"));
    }
    sv.wait_until("the stop command's line in web's output", DEADLINE, || {
        sv.log().contains("web | stop-command-speaking")
    });
}

#[test]
fn a_failing_or_missing_stop_command_sends_the_stop_signal_at_once() {
    let dir = TempDir::new("stop-fails");
    dir.write(
        "conf/units.kdl",
        &format!(
            r#"
service "fails" {{
    shell "{fails}"
    stop-shell "exit 1"
    stop-timeout "60s"
}}
service "missing" {{
    shell "{missing}"
    stop-exec "/no/such/stopper"
    stop-timeout "60s"
}}
"#,
            fails = service_body("fails"),
            missing = service_body("missing"),
        ),
    );
    let sv = container(&dir);
    wait_for_socket(&sv, &dir);
    for name in ["fails", "missing"] {
        sv.wait_file(&dir, &format!("{name}.ready"), DEADLINE);
        let began = Instant::now();
        expect(&sv, &dir, &["stop", name], 0);
        let took = began.elapsed();
        if !dir.exists(&format!("{name}.term")) {
            sv.fail(&format!("{name}: no SIGTERM after its stop command failed"));
        }
        if took >= Duration::from_secs(10) {
            sv.fail(&format!(
                "{name}: stop took {took:?}, want the stop signal at once"
            ));
        }
    }
    let log = sv.log();
    for (name, problem) in [
        (
            "fails",
            "stop command exited with status 1: sending SIGTERM instead",
        ),
        (
            "missing",
            "stop command cannot be started: exec /no/such/stopper",
        ),
    ] {
        if !sv.service_lines(name).iter().any(|l| l.contains(problem)) {
            sv.fail(&format!("{name}: no log line with {problem:?}:\n{log}"));
        }
    }
}

#[test]
fn a_hanging_stop_command_and_the_service_are_sigkilled_at_stop_timeout() {
    let dir = TempDir::new("stop-hangs");
    let keys = r#"
    stop-shell "echo $$ > $DIR/stopper.pid; sleep 1000 & echo $! > $DIR/stopper-child.pid; wait"
    stop-timeout "1s""#;
    // svctl says the stop needed SIGKILL (exit 1).
    let (sv, pid, took) = stop_web(&dir, keys, 1);
    if took < Duration::from_millis(900) {
        sv.fail(&format!(
            "stopped after {took:?}, before its stop-timeout of 1s"
        ));
    }
    let status = status_json(&sv, &dir, "web");
    if status["state"] != "down" || status["reason"] != "did not stop within 1s, killed" {
        sv.fail(&format!("after the stop: {status}"));
    }
    // The whole group of the stop command, not only its shell.
    let stopper = pid_in(&dir, "stopper.pid");
    let stopper_child = pid_in(&dir, "stopper-child.pid");
    wait_gone(
        &sv,
        &[
            ("service", pid),
            ("stop command", stopper),
            ("stop command's child", stopper_child),
        ],
    );
    if dir.exists("web.term") {
        sv.fail("the service got SIGTERM although its stop command ran");
    }
}

#[test]
fn what_an_exited_stop_command_left_behind_is_sigkilled_at_stop_timeout() {
    let dir = TempDir::new("stop-leftover");
    // The stop command exits 0 at once, leaving a child in its group; web
    // ignores the stop.
    let keys = r#"
    stop-shell "sleep 1000 & echo $! > $DIR/stopper-child.pid"
    stop-timeout "1s""#;
    let (sv, pid, _) = stop_web(&dir, keys, 1);
    let stopper_child = pid_in(&dir, "stopper-child.pid");
    wait_gone(
        &sv,
        &[("service", pid), ("stop command's child", stopper_child)],
    );
}

#[test]
fn a_shutdown_runs_the_stop_commands_in_reverse_dependency_order() {
    let dir = TempDir::new("stop-shutdown");
    let unit = |name: &str, requires: &str| {
        format!(
            r#"
service "{name}" {{
    {requires}
    shell "{body}"
    stop-shell "echo {name} >> $DIR/stopped; kill -USR1 $MAINPID"
    stop-timeout "30s"
}}
"#,
            body = service_body(name),
        )
    };
    dir.write(
        "conf/chain.kdl",
        &[
            unit("a", ""),
            unit("b", "requires \"a\""),
            unit("c", "requires \"b\""),
        ]
        .concat(),
    );
    let sv = Svinit::container(&dir);
    for name in ["a", "b", "c"] {
        sv.wait_file(&dir, &format!("{name}.ready"), DEADLINE);
    }
    let sent = Instant::now();
    sv.signal(Signal::SIGTERM);
    let status = sv.wait_exit(Duration::from_secs(20));
    let (took, stopped) = (sent.elapsed(), dir.lines("stopped"));
    if status.code() != Some(0) || took >= Duration::from_secs(10) {
        sv.fail(&format!(
            "svinit exited with {status} after {took:?}, want 0 within 10 s (each stop command stops its service)"
        ));
    }
    if stopped != ["c", "b", "a"] {
        sv.fail(&format!(
            "stop commands ran in the order {stopped:?}, want c, b, a"
        ));
    }
    for name in ["a", "b", "c"] {
        if dir.exists(&format!("{name}.term")) {
            sv.fail(&format!("{name} got SIGTERM instead of its stop command"));
        }
    }
}

/// A stop command runs with the config the service's process runs with,
/// even when a reload made it the running one without a new start (a
/// forking service still waiting for its pid file takes a changed config
/// at once), and not with the plan of an older start.
#[test]
fn a_stop_command_runs_with_the_config_a_reload_made_current_before_the_pid_file() {
    let dir = TempDir::new("stop-reload");
    // The launcher leaves a daemon that writes its pid file once told to.
    let unit = |keys: &str| {
        format!(
            r#"
service "d" {{
    type "forking"
    pid-file "$DIR/d.pid"
    start-timeout "60s"
    shell "rm -f $DIR/go; (while [ ! -e $DIR/go ]; do sleep 0.02; done; echo $(sh -c 'echo $PPID') > $DIR/d.tmp; mv $DIR/d.tmp $DIR/d.pid; exec sleep 1000) & exit 0"
    {keys}
}}
"#
        )
    };
    let stop = r#"stop-shell "id -u > $DIR/stop.uid; kill $MAINPID""#;
    dir.write("conf/units.kdl", &unit(stop));
    let sv = container(&dir);
    wait_for_socket(&sv, &dir);
    dir.write("go", "");
    sv.wait_state("d", "up", DEADLINE);
    // Restarted as nobody without a stop command...
    dir.write("conf/units.kdl", &unit(r#"user "nobody""#));
    expect(&sv, &dir, &["reload"], 0);
    expect(&sv, &dir, &["restart", "--no-wait", "d"], 0);
    sv.wait_until("d waiting for its pid file", DEADLINE, || {
        status_json(&sv, &dir, "d")["state"] == "starting" && !dir.exists("d.pid")
    });
    // The restart's stop ran the stop command of the first start, as root.
    if dir.read("stop.uid").map(|uid| uid.trim().to_string()) != Some("0".into()) {
        sv.fail("the restart's stop command did not run as root");
    }
    dir.remove("stop.uid");
    // ...then, before its pid file came, given a stop command again.
    dir.write(
        "conf/units.kdl",
        &unit(&format!("user \"nobody\"\n    {stop}")),
    );
    expect(&sv, &dir, &["reload"], 0);
    dir.write("go", "");
    sv.wait_until("d up again", DEADLINE, || {
        sv.state_lines("d", "up").len() == 2
    });
    expect(&sv, &dir, &["stop", "d"], 0);
    sv.wait_file(&dir, "stop.uid", DEADLINE);
    let uid = dir.read("stop.uid").unwrap_or_default();
    if uid.trim() != "65534" {
        sv.fail(&format!(
            "the stop command ran as uid {uid:?}, not as nobody (65534)"
        ));
    }
}
