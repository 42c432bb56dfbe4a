//! Orderly shutdown on SIGTERM / SIGINT (SPEC §2, §4): services stop in
//! reverse dependency order, a service that ignores its stop signal is
//! SIGKILLed after `stop-timeout`, adopted orphans are swept with SIGTERM,
//! svinit exits 0 and nothing of its PID namespace is left.

use std::time::{Duration, Instant};

use nix::sys::signal::Signal;

use crate::harness::{DEADLINE, Svinit, TempDir, processes_in_namespace};

/// A service body that records its pid, appends `name` to `stopped` when
/// it gets SIGTERM, and touches `name.ready` once the trap is in place.
fn stoppable(name: &str) -> String {
    format!(
        "echo $$ >> $DIR/pids; trap 'echo {name} >> $DIR/stopped; exit 0' TERM; touch $DIR/{name}.ready; while :; do sleep 0.1; done"
    )
}

#[test]
fn sigterm_stops_in_reverse_dependency_order_then_sweeps_orphans() {
    let dir = TempDir::new("stop-order");
    // `a` also leaves an orphan in its own session (out of a's process
    // group): it is adopted by svinit when a exits and must get svinit's
    // final SIGTERM sweep, after every unit is down.
    let orphan = "setsid sh -c 'echo $$ >> $DIR/pids; trap \"echo orphan >> $DIR/stopped; exit 0\" TERM; touch $DIR/orphan.ready; while :; do sleep 0.1; done' & ";
    dir.write(
        "conf/chain.kdl",
        &format!(
            r##"
service "a" {{
    shell #"{orphan}{a}"#
}}
service "b" {{
    requires "a"
    shell "{b}"
}}
service "c" {{
    requires "b"
    shell "{c}"
}}
service "stubborn" {{
    stop-timeout "1s"
    shell "echo $$ >> $DIR/pids; trap '' TERM; touch $DIR/stubborn.ready; while :; do sleep 0.1; done"
}}
"##,
            a = stoppable("a"),
            b = stoppable("b"),
            c = stoppable("c"),
        ),
    );
    let sv = Svinit::container(&dir);
    for name in ["a", "b", "c", "stubborn", "orphan"] {
        sv.wait_file(&dir, &format!("{name}.ready"), DEADLINE);
    }
    let ns = sv.namespace();
    let recorded: Vec<i32> = dir
        .lines("pids")
        .iter()
        .filter_map(|l| l.trim().parse().ok())
        .collect();
    assert_eq!(recorded.len(), 5, "pids recorded: {recorded:?}");
    let host_pids: Vec<i32> = recorded
        .iter()
        .map(|&p| {
            sv.host_pid(p)
                .unwrap_or_else(|| sv.fail(&format!("recorded pid {p} is not running")))
        })
        .collect();

    let sent = Instant::now();
    sv.signal(Signal::SIGTERM);
    let status = sv.wait_exit(Duration::from_secs(15));
    let took = sent.elapsed();

    if status.code() != Some(0) {
        sv.fail(&format!(
            "svinit exited with {status} after SIGTERM, want 0"
        ));
    }
    if took >= Duration::from_secs(8) {
        sv.fail(&format!("shutdown took {took:?}, want < 8 s"));
    }
    // stubborn ignores TERM: svinit must have waited for its stop-timeout.
    if took < Duration::from_millis(900) {
        sv.fail(&format!(
            "shutdown took {took:?}: stubborn (ignores TERM, stop-timeout 1s) cannot be gone that fast"
        ));
    }
    if sv.state_lines("stubborn", "stopping").is_empty() {
        sv.fail("no `stubborn: stopping` line");
    }
    let stopped = dir.lines("stopped");
    if stopped != ["c", "b", "a", "orphan"] {
        sv.fail(&format!(
            "stop order {stopped:?}, want [c, b, a, orphan] (reverse dependency order, then the orphan sweep)"
        ));
    }
    let left = processes_in_namespace(&ns);
    if !left.is_empty() {
        sv.fail(&format!("processes of svinit's namespace left: {left:?}"));
    }
    for host in host_pids {
        if crate::harness::alive(host)
            && crate::harness::pid_namespace(host).as_deref() == Some(ns.as_str())
        {
            sv.fail(&format!("recorded process {host} survived svinit"));
        }
    }
}

#[test]
fn sigint_shuts_down_like_sigterm() {
    let dir = TempDir::new("sigint");
    dir.write(
        "conf/one.kdl",
        &format!(
            "service \"only\" {{\n    shell \"{}\"\n}}\n",
            stoppable("only")
        ),
    );
    let sv = Svinit::container(&dir);
    sv.wait_file(&dir, "only.ready", DEADLINE);
    sv.signal(Signal::SIGINT);
    let status = sv.wait_exit(DEADLINE);
    if status.code() != Some(0) {
        sv.fail(&format!("svinit exited with {status} after SIGINT, want 0"));
    }
    assert_eq!(
        dir.lines("stopped"),
        ["only"],
        "the service got its stop signal"
    );
}

/// `stop-signal` replaces TERM; the service's exit on it is an orderly stop.
#[test]
fn stop_signal_is_sent_instead_of_term() {
    let dir = TempDir::new("stop-signal");
    dir.write(
        "conf/one.kdl",
        r#"
service "hup" {
    stop-signal "HUP"
    stop-timeout "20s"
    shell "trap 'echo HUP >> $DIR/stopped; exit 0' HUP; trap 'echo TERM >> $DIR/stopped; exit 0' TERM; touch $DIR/ready; while :; do sleep 0.1; done"
}
"#,
    );
    let sv = Svinit::container(&dir);
    sv.wait_file(&dir, "ready", DEADLINE);
    sv.signal(Signal::SIGTERM);
    let status = sv.wait_exit(DEADLINE);
    if status.code() != Some(0) {
        sv.fail(&format!("svinit exited with {status}, want 0"));
    }
    assert_eq!(dir.lines("stopped"), ["HUP"]);
}
