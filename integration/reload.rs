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
    let before = sv.log_len();
    sv.signal(Signal::SIGHUP);
    sv.wait_until(
        "an error about c.kdl / `exek` in the log after SIGHUP",
        DEADLINE,
        || {
            let new = sv.log_since(before);
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

/// A changed service keeps running as it is; the change takes effect at
/// its next start (here: after its process is killed and it is restarted).
#[test]
fn a_changed_service_takes_the_change_at_its_next_start() {
    let dir = TempDir::new("reload-change");
    let unit = |value: &str| {
        format!(
            "service \"a\" {{\n    environment {{\n        V \"{value}\"\n    }}\n    shell \"echo $$ > $DIR/a.pid; echo $V >> $DIR/values; exec sleep 1000\"\n}}\n"
        )
    };
    dir.write("conf/a.kdl", &unit("1"));
    let sv = Svinit::container(&dir);
    sv.wait_until("a to record V=1", DEADLINE, || dir.lines("values") == ["1"]);
    let a = recorded_pid(&sv, &dir, "a");

    dir.write("conf/a.kdl", &unit("2"));
    let before = sv.log_len();
    sv.signal(Signal::SIGHUP);
    sv.wait_until("the reload to be logged", DEADLINE, || {
        sv.log_since(before).contains("reload")
    });
    assert_still_running(&sv, "a", a, "after changing a");
    if dir.lines("values") != ["1"] {
        sv.fail("a changed service must not be restarted by the reload");
    }

    let host = sv
        .host_pid(a)
        .unwrap_or_else(|| sv.fail("a's process is not running"));
    nix::sys::signal::kill(nix::unistd::Pid::from_raw(host), Signal::SIGKILL)
        .unwrap_or_else(|e| sv.fail(&format!("kill a: {e}")));
    sv.wait_until("a to restart with V=2", DEADLINE, || {
        dir.lines("values").len() >= 2
    });
    if dir.lines("values") != ["1", "2"] {
        sv.fail(&format!(
            "after its restart a must see the new config: {:?}",
            dir.lines("values")
        ));
    }
}
