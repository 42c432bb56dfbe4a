//! Templates (SPEC §3 *Templates*) with the real binaries: instances from
//! `instances` and from a dependency run as real processes with `%i`
//! replaced, `svctl status` lists instances and never the template, and
//! `svinit --check` / `svctl check` point at bad instance names.

use std::time::Duration;

use serde_json::Value;

use crate::control::{container, expect, wait_for_socket};
use crate::harness::{DEADLINE, TempDir, run_svinit};

const CHECK_TIMEOUT: Duration = Duration::from_secs(10);

const WORKERS: &str = r#"
service "worker@" {
    description "worker %i"
    shell "echo %i:$QUEUE > $DIR/ran-%i; exec sleep 1000"
    environment { QUEUE "queue-%i" }
    instances "a" "b"
}
service "client" {
    requires "worker@c"
    shell "touch $DIR/client; exec sleep 1000"
}
"#;

/// The `name` of every service `svctl status --json` lists.
fn listed_names(json: &str) -> Vec<String> {
    let services: Value = serde_json::from_str(json).unwrap_or(Value::Null);
    let Some(services) = services.as_array() else {
        panic!("status --json is not an array:\n{json}");
    };
    services
        .iter()
        .filter_map(|s| s["name"].as_str().map(str::to_owned))
        .collect()
}

#[test]
fn instances_run_with_their_name_and_a_dependency_makes_one() {
    let dir = TempDir::new("tpl-run");
    dir.write("conf/units.kdl", WORKERS);
    let sv = container(&dir);
    wait_for_socket(&sv, &dir);
    for instance in ["a", "b", "c"] {
        sv.wait_state(&format!("worker@{instance}"), "up", DEADLINE);
        let ran = format!("ran-{instance}");
        sv.wait_file(&dir, &ran, DEADLINE);
        sv.wait_until(&format!("{ran} written"), DEADLINE, || {
            dir.read(&ran)
                .is_some_and(|text| text == format!("{instance}:queue-{instance}\n"))
        });
    }
    sv.wait_file(&dir, "client", DEADLINE);
    let run = expect(&sv, &dir, &["status", "--json"], 0);
    let mut names = listed_names(&run.stdout);
    names.sort();
    assert_eq!(names, ["client", "worker@a", "worker@b", "worker@c"]);
    let run = expect(&sv, &dir, &["status"], 0);
    assert!(
        !run.stdout
            .lines()
            .any(|l| l.split_whitespace().next() == Some("worker@")),
        "the template is not listed:\n{run}"
    );
    expect(&sv, &dir, &["status", "worker@"], 4);
}

#[test]
fn check_lists_instances_and_points_at_bad_instance_names() {
    let dir = TempDir::new("tpl-check");
    dir.write("good/units.kdl", WORKERS);
    let good = dir.join("good").to_string_lossy().into_owned();
    let (status, out) = run_svinit(&dir, &["--check", "-c", &good], CHECK_TIMEOUT);
    assert_eq!(status.code(), Some(0), "{out}");
    for name in ["worker@a", "worker@b", "worker@c", "client"] {
        assert!(out.contains(name), "{name} in the plan:\n{out}");
    }
    assert!(
        !out.split_whitespace().any(|word| word == "worker@"),
        "the template is not in the plan:\n{out}"
    );

    dir.write(
        "bad/units.kdl",
        "service \"getty@\" {\n    exec \"getty\" \"%i\"\n    instances \"tty/1\"\n}\n\
         service \"login\" {\n    exec \"login\" \"%q\"\n    requires \"getty@-x\"\n}\n",
    );
    let bad = dir.join("bad").to_string_lossy().into_owned();
    let (status, out) = run_svinit(&dir, &["--check", "-c", &bad], CHECK_TIMEOUT);
    assert_eq!(status.code(), Some(1), "{out}");
    for (line, what) in [(3, "\"tty/1\""), (7, "\"-x\"")] {
        assert!(
            out.contains(&format!("units.kdl:{line}:")),
            "line {line}:\n{out}"
        );
        assert!(
            out.contains(&format!("invalid instance name {what}")),
            "{out}"
        );
    }
    assert!(
        !out.contains("unknown `%q`"),
        "`%` is literal outside a template:\n{out}"
    );

    let run = crate::control::svctl(&dir, &["check", "-c", &bad]);
    assert_eq!(run.code, 1, "{run}");
    let text = format!("{}{}", run.stdout, run.stderr);
    assert!(text.contains("units.kdl:3:"), "{run}");
}

const JOBS: &str = r#"
service "job@" {
    autostart #false
    shell "echo $$ > $DIR/pid-%i; exec sleep 1000"
}
"#;

/// The pid `job@INSTANCE` wrote, once it wrote it.
fn job_pid(sv: &crate::harness::Svinit, dir: &TempDir, instance: &str) -> i32 {
    let file = format!("pid-{instance}");
    let mut pid = None;
    sv.wait_until(&format!("{file} written"), DEADLINE, || {
        pid = dir.read(&file).and_then(|text| text.trim().parse().ok());
        pid.is_some()
    });
    pid.unwrap_or_default()
}

#[test]
fn svctl_start_makes_an_instance_and_stop_removes_it() {
    let dir = TempDir::new("tpl-runtime");
    dir.write("conf/units.kdl", JOBS);
    let sv = container(&dir);
    wait_for_socket(&sv, &dir);
    let run = expect(&sv, &dir, &["status", "--json"], 0);
    assert!(listed_names(&run.stdout).is_empty(), "{run}");

    expect(&sv, &dir, &["start", "job@x"], 0);
    let pid = job_pid(&sv, &dir, "x");
    assert!(sv.ns_alive(pid));
    let run = expect(&sv, &dir, &["status", "--json"], 0);
    assert_eq!(listed_names(&run.stdout), ["job@x"]);

    let run = expect(&sv, &dir, &["start", "job@-x"], 2);
    assert!(run.stderr.contains("invalid instance name"), "{run}");
    expect(&sv, &dir, &["start", "job@a/b"], 2);
    expect(&sv, &dir, &["start", "nosuch@x"], 4);
    expect(&sv, &dir, &["start", "job@"], 4);
    // All or nothing: a bad name beside a good one makes nothing.
    expect(&sv, &dir, &["start", "job@y", "nosuch@x"], 4);
    expect(&sv, &dir, &["status", "job@y"], 4);

    expect(&sv, &dir, &["stop", "job@x"], 0);
    sv.wait_until("job@x's process to end", DEADLINE, || !sv.ns_alive(pid));
    expect(&sv, &dir, &["status", "job@x"], 4);
}

#[test]
fn a_reload_keeps_runtime_instances_until_their_template_goes() {
    let dir = TempDir::new("tpl-reload");
    dir.write("conf/units.kdl", JOBS);
    dir.write(
        "conf/other.kdl",
        "service \"other\" { exec \"sleep\" \"1000\" }\n",
    );
    let sv = container(&dir);
    wait_for_socket(&sv, &dir);
    expect(&sv, &dir, &["start", "job@x"], 0);
    let pid = job_pid(&sv, &dir, "x");

    let run = expect(&sv, &dir, &["reload", "--dry-run"], 0);
    assert!(
        !run.stdout.contains("job@x"),
        "not removed, not changed:\n{run}"
    );
    expect(&sv, &dir, &["reload"], 0);
    let status = crate::control::status_json(&sv, &dir, "job@x");
    assert_eq!(status["pid"], pid, "{status}");
    assert_eq!(status["state"], "up", "{status}");

    dir.remove("conf/units.kdl");
    let run = expect(&sv, &dir, &["reload", "--dry-run"], 0);
    assert!(run.stdout.contains("job@x"), "removed:\n{run}");
    expect(&sv, &dir, &["reload"], 0);
    sv.wait_until("job@x's process to end", DEADLINE, || !sv.ns_alive(pid));
    sv.wait_until("job@x to be forgotten", DEADLINE, || {
        crate::control::svctl(&dir, &["status", "job@x"]).code == 4
    });
}
