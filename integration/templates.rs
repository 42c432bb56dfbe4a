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
