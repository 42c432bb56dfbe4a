//! Reload on SIGHUP (SPEC §2, §4): an added service starts, an invalid
//! config is logged and changes nothing (running services keep their
//! processes), a removed service stops.

use nix::sys::signal::Signal;

use crate::harness::{DEADLINE, Svinit, TempDir};

/// A service that records its (namespace) pid in `DIR/NAME.pid`.
fn unit(name: &str) -> String {
    format!(
        "service \"{name}\" {{\n    shell \"echo $$ > $DIR/{name}.tmp; mv $DIR/{name}.tmp $DIR/{name}.pid; exec sleep 1000\"\n}}\n"
    )
}

fn recorded_pid(sv: &Svinit, dir: &TempDir, name: &str) -> i32 {
    dir.read(&format!("{name}.pid"))
        .and_then(|s| s.trim().parse().ok())
        .unwrap_or_else(|| sv.fail(&format!("{name}.pid missing or not a number")))
}

/// `name` is running as the very process that recorded its pid, started once.
fn assert_still_running(sv: &Svinit, name: &str, pid: i32, when: &str) {
    if !sv.ns_alive(pid) {
        sv.fail(&format!("{when}: {name}'s process {pid} is gone"));
    }
    let starts = sv.state_lines(name, "starting").len();
    if starts != 1 {
        sv.fail(&format!(
            "{when}: {name} was started {starts} times, want 1"
        ));
    }
}

#[test]
fn sighup_adds_services_rejects_invalid_configs_and_removes_services() {
    let dir = TempDir::new("reload");
    dir.write("conf/a.kdl", &unit("a"));
    let sv = Svinit::container(&dir);
    sv.wait_file(&dir, "a.pid", DEADLINE);
    let a = recorded_pid(&sv, &dir, "a");

    // 1. A new file: its service starts; a is untouched.
    dir.write("conf/b.kdl", &unit("b"));
    sv.signal(Signal::SIGHUP);
    sv.wait_file(&dir, "b.pid", DEADLINE);
    let b = recorded_pid(&sv, &dir, "b");
    sv.wait_state("b", "up", DEADLINE);
    assert_still_running(&sv, "a", a, "after adding b");

    // 2. An invalid file: an error is logged, nothing changes — not even
    //    the valid new service in the same reload.
    dir.write(
        "conf/c.kdl",
        "service \"c\" {\n    shell \"touch $DIR/c; exec sleep 1000\"\n    exek \"oops\"\n}\n",
    );
    dir.write("conf/d.kdl", &unit("d"));
    let before = sv.log().len();
    sv.signal(Signal::SIGHUP);
    sv.wait_until(
        "an error about c.kdl / `exek` in the log after SIGHUP",
        DEADLINE,
        || {
            let log = sv.log();
            let new = &log[before.min(log.len())..];
            new.contains("c.kdl") || new.contains("exek")
        },
    );
    assert_still_running(&sv, "a", a, "after an invalid reload");
    assert_still_running(&sv, "b", b, "after an invalid reload");
    if dir.exists("c") || dir.exists("d.pid") || !sv.service_lines("d").is_empty() {
        sv.fail("an invalid reload must change nothing, yet c or d was started");
    }

    // 3. Fix the config by removing c and b: b stops, d starts, a stays.
    dir.remove("conf/c.kdl");
    dir.remove("conf/b.kdl");
    sv.signal(Signal::SIGHUP);
    sv.wait_file(&dir, "d.pid", DEADLINE);
    sv.wait_until(
        "b's process to be gone after its file was removed",
        DEADLINE,
        || !sv.ns_alive(b),
    );
    assert_still_running(&sv, "a", a, "after removing b");
    if sv.try_status().is_some() {
        sv.fail("svinit exited during reloads");
    }
}
