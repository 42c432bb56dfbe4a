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

/// `after` / `before` order the stop too (reverse of start): y is after x,
/// z is before x → stop y, then x, then z.
#[test]
fn after_and_before_order_the_stop() {
    let dir = TempDir::new("stop-after");
    dir.write(
        "conf/units.kdl",
        &format!(
            "service \"x\" {{\n    shell \"{x}\"\n}}\nservice \"y\" {{\n    after \"x\"\n    shell \"{y}\"\n}}\nservice \"z\" {{\n    before \"x\"\n    shell \"{z}\"\n}}\n",
            x = stoppable("x"),
            y = stoppable("y"),
            z = stoppable("z"),
        ),
    );
    let sv = Svinit::container(&dir);
    for name in ["x", "y", "z"] {
        sv.wait_file(&dir, &format!("{name}.ready"), DEADLINE);
    }
    sv.signal(Signal::SIGTERM);
    let status = sv.wait_exit(DEADLINE);
    if status.code() != Some(0) {
        sv.fail(&format!("svinit exited with {status}, want 0"));
    }
    let stopped = dir.lines("stopped");
    if stopped != ["y", "x", "z"] {
        sv.fail(&format!("stop order {stopped:?}, want [y, x, z]"));
    }
}

/// `shutdown-timeout` bounds the whole shutdown: a TERM-ignoring service
/// with a 30 s `stop-timeout` is SIGKILLed when the 1 s global deadline
/// runs out.
#[test]
fn shutdown_timeout_cuts_a_long_stop_timeout() {
    let dir = TempDir::new("shutdown-timeout");
    dir.write(
        "conf/units.kdl",
        r#"
shutdown-timeout "1s"
service "stubborn" {
    stop-timeout "30s"
    shell "trap '' TERM; touch $DIR/ready; while :; do sleep 0.1; done"
}
"#,
    );
    let sv = Svinit::container(&dir);
    sv.wait_file(&dir, "ready", DEADLINE);
    let sent = Instant::now();
    sv.signal(Signal::SIGTERM);
    let status = sv.wait_exit(Duration::from_secs(20));
    let took = sent.elapsed();
    if took >= Duration::from_secs(8) {
        sv.fail(&format!(
            "shutdown took {took:?}: shutdown-timeout 1s must cut stop-timeout 30s"
        ));
    }
    if status.code() != Some(0) {
        sv.fail(&format!("svinit exited with {status}, want 0"));
    }
}

/// An adopted orphan that ignores the final SIGTERM sweep is SIGKILLed
/// (after 5 s) and svinit logs its pid.
#[test]
fn orphan_ignoring_the_sweep_is_killed_and_logged() {
    let dir = TempDir::new("sweep-kill");
    dir.write(
        "conf/units.kdl",
        r#"
service "parent" {
    shell "setsid sh -c 'trap \"\" TERM; echo $$ > $DIR/orphan.pid; while :; do sleep 0.1; done' & exec sleep 1000"
}
"#,
    );
    let sv = Svinit::container(&dir);
    sv.wait_file(&dir, "orphan.pid", DEADLINE);
    let orphan: i32 = dir
        .read("orphan.pid")
        .and_then(|s| s.trim().parse().ok())
        .unwrap_or_else(|| sv.fail("orphan.pid is not a number"));
    let host = sv
        .host_pid(orphan)
        .unwrap_or_else(|| sv.fail("the orphan is not running"));
    let sent = Instant::now();
    sv.signal(Signal::SIGTERM);
    let status = sv.wait_exit(Duration::from_secs(20));
    let took = sent.elapsed();
    if status.code() != Some(0) {
        sv.fail(&format!("svinit exited with {status}, want 0"));
    }
    if took < Duration::from_millis(4500) || took >= Duration::from_secs(12) {
        sv.fail(&format!(
            "shutdown took {took:?}; want the 5 s TERM→KILL grace for the orphan"
        ));
    }
    let logged = sv.log().lines().any(|l| {
        l.starts_with("svinit: ")
            && l.contains("KILL")
            && l.split(|c: char| !c.is_ascii_digit())
                .any(|w| w == orphan.to_string())
    });
    if !logged {
        sv.fail(&format!(
            "svinit must log the pid ({orphan}) that needed SIGKILL"
        ));
    }
    if crate::harness::alive(host) {
        sv.fail("the orphan survived svinit");
    }
}

/// A `critical` service that ends for good stops everything and svinit
/// exits with its status (container mode).
#[test]
fn critical_service_failure_ends_svinit_with_its_status() {
    let dir = TempDir::new("critical");
    dir.write(
        "conf/units.kdl",
        &format!(
            r#"
service "bystander" {{
    shell "{bystander}"
}}
service "vital" {{
    type "oneshot"
    critical #true
    shell "i=0; while [ ! -e $DIR/bystander.ready ] && [ $i -lt 200 ]; do sleep 0.05; i=$((i+1)); done; exit 4"
}}
"#,
            bystander = stoppable("bystander"),
        ),
    );
    let sv = Svinit::container(&dir);
    let status = sv.wait_exit(DEADLINE);
    if status.code() != Some(4) {
        sv.fail(&format!(
            "svinit exited with {status}; want 4, the critical service's status"
        ));
    }
    if dir.lines("stopped") != ["bystander"] {
        sv.fail("the other service must have been stopped with its stop signal");
    }
}

/// `kill-mode "process"`: the stop signal reaches only the main process of
/// `a`, not its child in the same process group. The child is adopted when
/// `a` exits and gets TERM from the final orphan sweep: strictly after `a`.
/// (With the default `group` it would get TERM together with `a`.)
#[test]
fn kill_mode_process_signals_only_the_main_process() {
    let dir = TempDir::new("kill-mode");
    dir.write(
        "conf/units.kdl",
        &format!(
            r#"
service "a" {{
    kill-mode "process"
    shell "sh -c 'trap \"echo child >> $DIR/stopped; exit 0\" TERM; touch $DIR/child.ready; while :; do sleep 0.1; done' & {a}"
}}
service "b" {{
    requires "a"
    shell "{b}"
}}
"#,
            a = stoppable("a"),
            b = stoppable("b"),
        ),
    );
    let sv = Svinit::container(&dir);
    for name in ["a", "b", "child"] {
        sv.wait_file(&dir, &format!("{name}.ready"), DEADLINE);
    }
    sv.signal(Signal::SIGTERM);
    let status = sv.wait_exit(Duration::from_secs(15));
    if status.code() != Some(0) {
        sv.fail(&format!("svinit exited with {status}, want 0"));
    }
    let stopped = dir.lines("stopped");
    if stopped != ["b", "a", "child"] {
        sv.fail(&format!(
            "stop order {stopped:?}, want [b, a, child]: the child of a kill-mode \"process\" service gets TERM only from the orphan sweep"
        ));
    }
}
