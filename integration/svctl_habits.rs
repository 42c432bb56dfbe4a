//! svctl the way users of supervisorctl, docker compose and systemctl
//! reach for it (issue 15): `start|stop|restart --all`, `logs` of several
//! services or all of them interleaved by arrival as `NAME | line` (and
//! followed on one connection), `kill --group` and `kill NAME 0`, and
//! usage errors that name the one wrong thing with a suggestion; and what
//! svctl keeps of std's start-up since it has its own `main` (issue 17).

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc::{Receiver, channel};
use std::time::Instant;

use crate::control::{
    container, expect, settled_fds, socket, status_json, svctl, svctl_bin, wait_for_socket,
};
use crate::harness::{DEADLINE, Svinit, TempDir, poll_until};

fn pid_of(sv: &Svinit, dir: &TempDir, name: &str) -> Option<i64> {
    status_json(sv, dir, name)["pid"].as_i64()
}

fn state_of(sv: &Svinit, dir: &TempDir, name: &str) -> String {
    status_json(sv, dir, name)["state"]
        .as_str()
        .unwrap_or_default()
        .to_string()
}

const ALL: &str = r#"
service "a" {
    exec "sleep" "1000"
}
service "b" {
    exec "sleep" "1000"
}
service "ondemand" {
    exec "sleep" "1000"
    autostart #false
}
service "tool" {
    exec "sleep" "1000"
    autostart #false
}
"#;

#[test]
fn all_acts_on_every_service_and_leaves_unasked_on_demand_ones_alone() {
    let dir = TempDir::new("habits-all");
    dir.write("conf/services.kdl", ALL);
    let sv = container(&dir);
    wait_for_socket(&sv, &dir);
    sv.wait_until("a and b to be up", DEADLINE, || {
        svctl(&dir, &["status", "a", "b"]).code == 0
    });

    expect(&sv, &dir, &["stop", "--all"], 0);
    for name in ["a", "b", "ondemand", "tool"] {
        assert_eq!(state_of(&sv, &dir, name), "down", "{name} after stop --all");
    }
    expect(&sv, &dir, &["start", "--all"], 0);
    for name in ["a", "b"] {
        assert_eq!(state_of(&sv, &dir, name), "up", "{name} after start --all");
    }
    // `autostart #false` services nobody asked for stay down...
    for name in ["ondemand", "tool"] {
        assert_eq!(
            state_of(&sv, &dir, name),
            "down",
            "{name} after start --all"
        );
    }
    // ...but one started by hand is in `--all` until it is stopped.
    expect(&sv, &dir, &["start", "ondemand"], 0);
    let before: Vec<Option<i64>> = ["a", "b", "ondemand"]
        .iter()
        .map(|name| pid_of(&sv, &dir, name))
        .collect();
    expect(&sv, &dir, &["restart", "--all"], 0);
    for (name, old) in ["a", "b", "ondemand"].iter().zip(before) {
        assert_eq!(
            state_of(&sv, &dir, name),
            "up",
            "{name} after restart --all"
        );
        let new = pid_of(&sv, &dir, name);
        assert!(
            new.is_some() && new != old,
            "{name}: restart --all must give a new process ({old:?} → {new:?})"
        );
    }
    assert_eq!(state_of(&sv, &dir, "tool"), "down");

    // --no-wait and --timeout as with names.
    expect(&sv, &dir, &["stop", "--all", "--no-wait"], 0);
    sv.wait_until("every service to be down", DEADLINE, || {
        ["a", "b", "ondemand"]
            .iter()
            .all(|name| state_of(&sv, &dir, name) == "down")
    });
    expect(&sv, &dir, &["start", "--timeout", "20s", "--all"], 0);
    assert_eq!(state_of(&sv, &dir, "a"), "up");
    assert_eq!(
        state_of(&sv, &dir, "ondemand"),
        "down",
        "stopped: no longer asked for"
    );

    // Names and --all together: which one was meant?
    let run = expect(&sv, &dir, &["restart", "--all", "a"], 2);
    assert!(run.stderr.contains("--all"), "{run}");
}

/// Two services that take turns: each line is written only once svinit
/// has the other's previous line in its ring buffer, so the order in which
/// svinit received them is known: a1, b1, a2, b2.
fn ping_pong(dir: &TempDir) -> String {
    let svctl = format!("{} -s {}", svctl_bin(), socket(dir).display());
    let wait_for = |name: &str, line: &str| {
        format!("until {svctl} logs {name} | grep -qx {line}; do sleep 0.01; done")
    };
    format!(
        r#"
service "a" {{
    shell "echo a1; {}; echo a2; {}; exec sleep 1000"
}}
service "b" {{
    shell "{}; echo b1; {}; echo b2; exec sleep 1000"
}}
service "quiet" {{
    exec "sleep" "1000"
    output "null"
}}
"#,
        wait_for("b", "b1"),
        wait_for("b", "b2"),
        wait_for("a", "a1"),
        wait_for("a", "a2"),
    )
}

#[test]
fn logs_of_several_services_are_interleaved_by_arrival_and_labelled() {
    let dir = TempDir::new("habits-logs");
    dir.write("conf/services.kdl", &ping_pong(&dir));
    let sv = container(&dir);
    wait_for_socket(&sv, &dir);
    sv.wait_until("b to print b2", DEADLINE, || {
        svctl(&dir, &["logs", "b"])
            .stdout
            .lines()
            .any(|l| l == "b2")
    });

    let interleaved = "a | a1\nb | b1\na | a2\nb | b2\n";
    let run = expect(&sv, &dir, &["logs", "a", "b"], 0);
    assert_eq!(run.stdout, interleaved, "{run}");
    let run = expect(&sv, &dir, &["logs", "b", "a"], 0);
    assert_eq!(run.stdout, interleaved, "the order is arrival's: {run}");
    // No name: every service whose output is captured (not `quiet`).
    let run = expect(&sv, &dir, &["logs"], 0);
    assert_eq!(run.stdout, interleaved, "{run}");
    // -n: the last lines of the interleaved output.
    let run = expect(&sv, &dir, &["logs", "-n", "3"], 0);
    assert_eq!(run.stdout, "b | b1\na | a2\nb | b2\n", "{run}");
    // One name: its bare lines, as before.
    let run = expect(&sv, &dir, &["logs", "a"], 0);
    assert_eq!(run.stdout, "a1\na2\n", "{run}");
    // A named service whose output is not kept is an error, as for one.
    let run = expect(&sv, &dir, &["logs", "a", "quiet"], 1);
    assert!(run.stderr.contains("quiet"), "{run}");
    expect(&sv, &dir, &["logs", "a", "nope"], 4);
}

/// A service that prints `NAMEn` each time `DIR/NAME.go` appears.
fn on_demand_printer(name: &str) -> String {
    format!(
        r#"
service "{name}" {{
    shell "n=0; while :; do if [ -e $DIR/{name}.go ]; then rm -f $DIR/{name}.go; n=$((n+1)); echo {name}$n; fi; sleep 0.02; done"
}}
"#
    )
}

/// `svctl logs -f ARGS` in the background; its stdout lines arrive on the
/// channel as they are printed.
fn log_follower(dir: &TempDir, args: &[&str]) -> (Child, Receiver<String>) {
    let mut child = Command::new(svctl_bin())
        .arg("-s")
        .arg(socket(dir))
        .args(["logs", "-f"])
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap_or_else(|e| panic!("run svctl: {e}"));
    let stdout = child.stdout.take().expect("piped stdout");
    let (lines, received) = channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            if lines.send(line).is_err() {
                break;
            }
        }
    });
    (child, received)
}

/// Waits for `wanted` among the follower's next lines; the lines seen.
#[track_caller]
fn expect_line(sv: &Svinit, lines: &Receiver<String>, wanted: &str) {
    let deadline = Instant::now() + DEADLINE;
    let mut seen = Vec::new();
    while let Some(left) = deadline.checked_duration_since(Instant::now()) {
        match lines.recv_timeout(left) {
            Ok(line) if line == wanted => return,
            Ok(line) => seen.push(line),
            Err(_) => break,
        }
    }
    sv.fail(&format!(
        "the follower did not print {wanted:?}; it printed {seen:?}"
    ));
}

fn trigger(dir: &TempDir, name: &str) {
    dir.write(&format!("{name}.go"), "");
}

#[test]
fn logs_follow_several_services_on_one_connection_through_a_reload() {
    let dir = TempDir::new("habits-follow");
    let conf = |names: &[&str]| {
        names
            .iter()
            .map(|n| on_demand_printer(n))
            .collect::<String>()
    };
    dir.write("conf/services.kdl", &conf(&["x", "y"]));
    let sv = container(&dir);
    wait_for_socket(&sv, &dir);
    sv.wait_until("x and y to be up", DEADLINE, || {
        svctl(&dir, &["status", "x", "y"]).code == 0
    });
    let fds_before = settled_fds(&sv, &dir, 0);

    let (mut every, every_lines) = log_follower(&dir, &[]);
    // One stream for all services, not one per service.
    settled_fds(&sv, &dir, 1);
    trigger(&dir, "x");
    expect_line(&sv, &every_lines, "x | x1");
    trigger(&dir, "y");
    expect_line(&sv, &every_lines, "y | y1");

    let (mut named, named_lines) = log_follower(&dir, &["x", "y"]);
    settled_fds(&sv, &dir, 2);
    trigger(&dir, "y");
    expect_line(&sv, &every_lines, "y | y2");
    expect_line(&sv, &named_lines, "y | y2");

    // A reload removes y and adds z: y's lines just stop, the streams go
    // on, and the follower of every service follows z too.
    dir.write("conf/services.kdl", &conf(&["x", "z"]));
    expect(&sv, &dir, &["reload"], 0);
    sv.wait_until("z to be up", DEADLINE, || {
        svctl(&dir, &["status", "z"]).code == 0
    });
    trigger(&dir, "z");
    expect_line(&sv, &every_lines, "z | z1");
    trigger(&dir, "x");
    expect_line(&sv, &every_lines, "x | x2");
    expect_line(&sv, &named_lines, "x | x2");
    for follower in [&mut every, &mut named] {
        assert!(
            matches!(follower.try_wait(), Ok(None)),
            "a follower ended after the reload"
        );
        let _ = follower.kill();
        let _ = follower.wait();
    }
    assert_eq!(
        settled_fds(&sv, &dir, 0),
        fds_before,
        "the followers' descriptors"
    );
}

const KILL: &str = r#"
service "grp" {
    shell "sleep 1000 & echo $! > $DIR/child.pid; wait"
}
service "solo" {
    exec "sleep" "1000"
    autostart #false
}
"#;

#[test]
fn kill_group_reaches_the_children_of_a_shell_and_zero_checks_existence() {
    let dir = TempDir::new("habits-kill");
    dir.write("conf/services.kdl", KILL);
    let sv = container(&dir);
    wait_for_socket(&sv, &dir);
    sv.wait_file(&dir, "child.pid", DEADLINE);
    let child: i32 = dir
        .read("child.pid")
        .and_then(|text| text.trim().parse().ok())
        .unwrap_or_else(|| sv.fail("child.pid holds no pid"));
    sv.wait_until("the shell's child to run", DEADLINE, || sv.ns_alive(child));

    // Signal 0: whether the process exists, nothing sent.
    expect(&sv, &dir, &["kill", "grp", "0"], 0);
    expect(&sv, &dir, &["kill", "--group", "grp", "0"], 0);
    let run = expect(&sv, &dir, &["kill", "solo", "0"], 1);
    assert!(run.stderr.contains("solo"), "{run}");
    assert!(sv.ns_alive(child), "signal 0 must send nothing");
    expect(&sv, &dir, &["kill", "--group", "nope", "TERM"], 4);

    // The shell's pid is /bin/sh: only the group reaches the daemon.
    expect(&sv, &dir, &["kill", "--group", "grp", "TERM"], 0);
    let gone = poll_until(DEADLINE, || !sv.ns_alive(child));
    if !gone {
        sv.fail("kill --group grp TERM missed the shell's child");
    }
}

#[test]
fn a_usage_error_is_one_line_with_a_suggestion_and_exit_2() {
    let dir = TempDir::new("habits-usage");
    for (args, wanted) in [
        (
            &["stauts"][..],
            "svctl: unknown command `stauts`; did you mean `status`?",
        ),
        (
            &["status", "--jsn"],
            "svctl: status: unknown option `--jsn`; did you mean `--json`?",
        ),
        (
            &["restart", "--al"],
            "svctl: restart: unknown option `--al`; did you mean `--all`?",
        ),
    ] {
        let run = svctl(&dir, args);
        assert_eq!(run.code, 2, "svctl {args:?}: {run}");
        assert!(run.stdout.is_empty(), "svctl {args:?}: {run}");
        assert_eq!(
            run.stderr.lines().count(),
            1,
            "svctl {args:?}: one line: {run}"
        );
        assert!(run.stderr.starts_with(wanted), "svctl {args:?}: {run}");
        assert!(
            run.stderr.contains("svctl --help"),
            "svctl {args:?}: a hint: {run}"
        );
    }
}

/// What svctl keeps of std's start-up, which its own `main` replaces
/// (src/bin/svctl/start.rs): a stdout nobody reads any more is a quiet
/// exit 0, not death by SIGPIPE; a closed stdout is no failure (std's
/// start-up, and svctl's, put /dev/null there); an argument that is not
/// UTF-8 is a usage error (exit 2, where std's `env::args` panicked).
#[test]
fn svctl_start_up_keeps_sigpipe_ignored_and_stdio_open() {
    use std::os::unix::ffi::OsStrExt;

    let (reader, writer) = nix::unistd::pipe().expect("pipe");
    drop(reader);
    let status = Command::new(svctl_bin())
        .arg("--version")
        .stdout(Stdio::from(writer))
        .status()
        .expect("run svctl");
    assert_eq!(
        status.code(),
        Some(0),
        "svctl --version into a closed pipe: {status}"
    );

    let dir = TempDir::new("habits-start-up");
    dir.write(
        "conf/a.kdl",
        "service \"a\" {\n    exec \"sleep\" \"3600\"\n}\n",
    );
    let sv = container(&dir);
    wait_for_socket(&sv, &dir);
    // `status a` exits 0 only once `a` is up.
    sv.wait_state("a", "up", DEADLINE);
    // `>&-`: svctl starts with descriptor 1 closed.
    let run = Command::new("sh")
        .arg("-c")
        .arg("exec \"$0\" -s \"$1\" status a >&-")
        .arg(svctl_bin())
        .arg(socket(&dir))
        .output()
        .expect("run sh");
    assert_eq!(
        run.status.code(),
        Some(0),
        "svctl with stdout closed: {run:?}"
    );
    assert!(run.stderr.is_empty(), "svctl with stdout closed: {run:?}");

    let run = Command::new(svctl_bin())
        .arg("-s")
        .arg(socket(&dir))
        .arg("status")
        .arg(std::ffi::OsStr::from_bytes(b"\xff"))
        .output()
        .expect("run svctl");
    assert_eq!(run.status.code(), Some(2), "a non-UTF-8 argument: {run:?}");
    assert_eq!(
        String::from_utf8_lossy(&run.stderr),
        "svctl: an argument is not valid UTF-8\n"
    );
}
