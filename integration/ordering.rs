//! Start order, parallel start and activation (`requires`, `wants`,
//! `autostart`), observed from the started processes themselves.

use std::time::Duration;

use crate::harness::{DEADLINE, Svinit, TempDir, is_state_line};

/// a; b and c require a; d requires b and c. Each appends its name to
/// `order` when it starts. b and c are oneshots that each wait (bounded) for
/// the other's marker and succeed only if they saw it: they both end `done`
/// only if they ran at the same time.
#[test]
fn diamond_starts_in_dependency_order_with_siblings_in_parallel() {
    let dir = TempDir::new("diamond");
    dir.write(
        "conf/diamond.kdl",
        r#"
service "a" {
    type "oneshot"
    shell "echo a >> $DIR/order"
}
service "b" {
    type "oneshot"
    requires "a"
    shell "echo b >> $DIR/order; touch $DIR/b.running; i=0; while [ ! -e $DIR/c.running ] && [ $i -lt 200 ]; do sleep 0.05; i=$((i+1)); done; test -e $DIR/c.running"
}
service "c" {
    type "oneshot"
    requires "a"
    shell "echo c >> $DIR/order; touch $DIR/c.running; i=0; while [ ! -e $DIR/b.running ] && [ $i -lt 200 ]; do sleep 0.05; i=$((i+1)); done; test -e $DIR/b.running"
}
service "d" {
    requires "b" "c"
    shell "echo d >> $DIR/order; exec sleep 1000"
}
"#,
    );
    let sv = Svinit::container(&dir);
    sv.wait_until(
        "d to start, or b/c/d to fail",
        Duration::from_secs(30),
        || {
            dir.lines("order").iter().any(|l| l == "d")
                || ["b", "c", "d"]
                    .iter()
                    .any(|n| !sv.state_lines(n, "failed").is_empty())
        },
    );
    for name in ["b", "c"] {
        if sv.state_lines(name, "done").is_empty() {
            sv.fail(&format!(
                "{name} is not done: b and c did not run at the same time"
            ));
        }
    }
    let order = dir.lines("order");
    assert_eq!(order.len(), 4, "each service starts once: {order:?}");
    assert_eq!(order[0], "a", "a starts first: {order:?}");
    assert_eq!(order[3], "d", "d starts last: {order:?}");
    let mut middle = order[1..3].to_vec();
    middle.sort();
    assert_eq!(
        middle,
        ["b", "c"],
        "b and c start between a and d: {order:?}"
    );
}

/// A oneshot that fails is never ready: a service that `wants` it still
/// starts (after it failed), one that `requires` it does not and ends
/// `failed` with a reason naming the dependency.
#[test]
fn wants_tolerates_a_failed_dependency_but_requires_does_not() {
    let dir = TempDir::new("wants");
    dir.write(
        "conf/units.kdl",
        r#"
service "broken" {
    type "oneshot"
    shell "echo started >> $DIR/broken; exit 3"
}
service "wanter" {
    wants "broken"
    shell "touch $DIR/wanter; exec sleep 1000"
}
service "requirer" {
    requires "broken"
    shell "touch $DIR/requirer; exec sleep 1000"
}
"#,
    );
    let sv = Svinit::container(&dir);
    sv.wait_state("broken", "failed", DEADLINE);
    sv.wait_file(&dir, "wanter", DEADLINE);
    sv.wait_state("requirer", "failed", DEADLINE);

    let log = sv.log();
    let broken_failed = log
        .lines()
        .position(|l| is_state_line(l, "broken", "failed"));
    let wanter_started = log
        .lines()
        .position(|l| is_state_line(l, "wanter", "starting"));
    match (broken_failed, wanter_started) {
        (Some(f), Some(s)) if s > f => {}
        _ => sv.fail("wanter must start after broken failed (wants: ready or failed)"),
    }
    let reason = sv.state_lines("requirer", "failed").join("\n");
    if !reason.contains("broken") {
        sv.fail(&format!(
            "requirer's failure must name the dependency `broken`: {reason}"
        ));
    }
    if !sv.state_lines("requirer", "starting").is_empty() || dir.exists("requirer") {
        sv.fail("requirer was started although its required dependency failed");
    }
    assert_eq!(dir.lines("broken").len(), 1, "a oneshot is not restarted");
}

/// A longrun that keeps crashing until svinit gives up: the service that
/// `requires` it is stopped and ends `failed`, naming the dependency.
#[test]
fn requires_stops_the_dependent_when_its_dependency_gives_up() {
    let dir = TempDir::new("requires-stop");
    dir.write(
        "conf/units.kdl",
        r#"
service "flaky" {
    backoff-limit 2
    shell "sleep 0.2; exit 1"
}
service "dependent" {
    requires "flaky"
    shell "echo $$ >> $DIR/dependent.pids; exec sleep 1000"
}
"#,
    );
    let sv = Svinit::container(&dir);
    sv.wait_file(&dir, "dependent.pids", DEADLINE);
    sv.wait_state("flaky", "failed", Duration::from_secs(20));
    sv.wait_until(
        "dependent to be failed after its dependency gave up",
        DEADLINE,
        || !sv.state_lines("dependent", "failed").is_empty(),
    );
    let reason = sv.state_lines("dependent", "failed").join("\n");
    if !reason.contains("flaky") {
        sv.fail(&format!(
            "dependent's failure must name the dependency `flaky`: {reason}"
        ));
    }
    let pids: Vec<i32> = dir
        .lines("dependent.pids")
        .iter()
        .filter_map(|l| l.trim().parse().ok())
        .collect();
    sv.wait_until("every process of dependent to be gone", DEADLINE, || {
        pids.iter().all(|&p| !sv.ns_alive(p))
    });
}

/// `autostart #false`: not started at boot, but started when another
/// autostarted service requires it.
#[test]
fn autostart_false_starts_only_as_a_dependency() {
    let dir = TempDir::new("autostart");
    dir.write(
        "conf/units.kdl",
        r#"
service "lazy" {
    autostart #false
    shell "touch $DIR/lazy; exec sleep 1000"
}
service "needed" {
    autostart #false
    shell "touch $DIR/needed; exec sleep 1000"
}
service "app" {
    requires "needed"
    shell "touch $DIR/app; exec sleep 1000"
}
"#,
    );
    let sv = Svinit::container(&dir);
    sv.wait_state("app", "up", DEADLINE);
    sv.wait_file(&dir, "needed", DEADLINE);
    sv.wait_file(&dir, "app", DEADLINE);
    // Everything svinit starts at boot starts no later than `app`, which
    // waited for `needed`: had `lazy` been started, it would be logged by now.
    if !sv
        .service_lines("lazy")
        .iter()
        .all(|l| !is_state_line(l, "lazy", "starting") && !is_state_line(l, "lazy", "up"))
        || dir.exists("lazy")
    {
        sv.fail("lazy (autostart #false, required by nobody) was started");
    }
}
