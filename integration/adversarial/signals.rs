//! Deaths by any signal 1–64 are seen; any signal 1–64 can be sent
//! (SPEC §7 "Every exit is seen"). A service that dies of a real-time
//! signal must not stay `up` with a dead pid, the zombies reaped in the
//! same turn must not wait for the next SIGCHLD, and `stop-signal` and
//! `svctl kill` must deliver every signal number the config and the
//! protocol accept.

use std::time::{Duration, Instant};

use serde_json::Value;

use crate::control::{container, expect, socket, status_json, svctl, wait_for_socket};
use crate::harness::{DEADLINE, Svinit, TempDir, all_processes};

/// Signals whose default action ends the process, across the whole range:
/// classic ones with and without a core dump, the two real-time signals
/// glibc keeps for itself, real-time ones in the middle and the last.
const DEADLY: &[i32] = &[1, 6, 15, 31, 32, 33, 34, 36, 40, 50, 64];

/// The `exit` object of a service's `status --json`, once it is not null
/// and the service has no process.
fn final_exit(sv: &Svinit, dir: &TempDir, name: &str) -> Value {
    let mut last = Value::Null;
    sv.wait_until(
        &format!("{name} to be seen dead with an exit status"),
        DEADLINE,
        || {
            last = status_json(sv, dir, name);
            last["pid"].is_null() && !last["exit"].is_null()
        },
    );
    last
}

#[test]
fn a_death_by_any_signal_is_seen_with_that_signal() {
    let dir = TempDir::new("adv-deadly-signals");
    let mut units = String::new();
    for signal in DEADLY {
        // A oneshot is not restarted: its one death stays in its status.
        units.push_str(&format!(
            "service \"die{signal}\" {{\n    type \"oneshot\"\n    shell \"kill -{signal} $$; sleep 60\"\n}}\n"
        ));
    }
    dir.write("conf/die.kdl", &units);
    let sv = container(&dir);
    wait_for_socket(&sv, &dir);
    for &signal in DEADLY {
        let name = format!("die{signal}");
        let status = final_exit(&sv, &dir, &name);
        assert_eq!(
            status["exit"]["signal"].as_i64(),
            Some(i64::from(signal)),
            "{name}: {status}"
        );
        assert_eq!(status["state"], "failed", "{name}: {status}");
    }
    // Nothing svinit started is left as a zombie.
    sv.wait_until("no zombie child of svinit", DEADLINE, || {
        !all_processes()
            .iter()
            .any(|p| p.ppid == sv.pid && p.state == 'Z')
    });
}

#[test]
fn zombies_that_die_beside_a_real_time_death_are_reaped_at_once() {
    let dir = TempDir::new("adv-rt-zombies");
    // `rt` dies of a real-time signal at the moment twenty children of
    // `crowd` die: one SIGCHLD may stand for all of them. Nothing else
    // dies afterwards, so a reaper that stops early leaves zombies until
    // the end of the test.
    dir.write(
        "conf/crowd.kdl",
        r#"
service "crowd" {
    shell "while [ ! -e $DIR/go ]; do sleep 0.01; done; for i in $(seq 20); do setsid sh -c 'exit 0' & done; exec sleep 600"
}
service "rt" {
    shell "while [ ! -e $DIR/go ]; do sleep 0.01; done; kill -40 $$; sleep 60"
    restart "never"
}
"#,
    );
    let sv = container(&dir);
    wait_for_socket(&sv, &dir);
    sv.wait_until("both services up", DEADLINE, || {
        svctl(&dir, &["status", "crowd", "rt"]).code == 0
    });
    dir.write("go", "");
    let status = final_exit(&sv, &dir, "rt");
    assert_eq!(status["exit"]["signal"].as_i64(), Some(40), "{status}");
    let quickly = Duration::from_secs(2);
    let start = Instant::now();
    sv.wait_until("every zombie of svinit reaped", quickly, || {
        !all_processes()
            .iter()
            .any(|p| p.ppid == sv.pid && p.state == 'Z')
    });
    assert!(start.elapsed() < quickly);
}

#[test]
fn a_real_time_stop_signal_and_svctl_kill_are_delivered() {
    let dir = TempDir::new("adv-rt-send");
    // Each records the signal it got; a stop that fell back to SIGKILL
    // after the long stop-timeout would fail the deadline below.
    let trap = |name: &str, signal: i32| {
        format!(
            "trap 'echo {signal} >> $DIR/{name}.got; exit 0' {signal}; touch $DIR/{name}.ready; while :; do sleep 0.05; done"
        )
    };
    dir.write(
        "conf/send.kdl",
        &format!(
            r#"
service "stop40" {{
    stop-signal 40
    stop-timeout "60s"
    shell "{stop40}"
}}
service "stop64" {{
    stop-signal 64
    stop-timeout "60s"
    shell "{stop64}"
}}
service "kill50" {{
    shell "{kill50}"
}}
"#,
            stop40 = trap("stop40", 40),
            stop64 = trap("stop64", 64),
            kill50 = trap("kill50", 50),
        ),
    );
    let sv = container(&dir);
    wait_for_socket(&sv, &dir);
    for name in ["stop40", "stop64", "kill50"] {
        sv.wait_file(&dir, &format!("{name}.ready"), DEADLINE);
    }
    let run = svctl(&dir, &["kill", "kill50", "50"]);
    assert_eq!(run.code, 0, "svctl kill kill50 50: {run}");
    sv.wait_until("kill50 to get signal 50", DEADLINE, || {
        dir.read("kill50.got").as_deref() == Some("50\n")
    });
    for (name, signal) in [("stop40", 40), ("stop64", 64)] {
        expect(&sv, &dir, &["stop", "--timeout", "10s", name], 0);
        assert_eq!(
            dir.read(&format!("{name}.got")).as_deref(),
            Some(format!("{signal}\n").as_str()),
            "{name} did not get its stop signal"
        );
        let status = status_json(&sv, &dir, name);
        assert!(status["reason"].is_null(), "{name} was killed: {status}");
    }
    assert!(socket(&dir).exists());
}
