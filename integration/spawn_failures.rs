//! Spawn failures (SPEC §4 "Exec failure", §6): a program that does not
//! exist, an unknown user, a missing working directory. Each counts as a
//! crash, ends `failed` with a reason naming the step and the error, and
//! the rest of the system comes up.

use std::time::{Duration, Instant};

use crate::control;
use crate::harness::{DEADLINE, Svinit, TempDir};

/// Runs `broken` (KDL body lines) beside a healthy service; waits until
/// `broken` is failed and `healthy` is running; returns the dir (first, so
/// it is dropped last), svinit and every log line about `broken`.
fn fails_alone(tag: &str, broken: &str) -> (TempDir, Svinit, Vec<String>) {
    let dir = TempDir::new(tag);
    dir.write(
        "conf/units.kdl",
        &format!(
            r#"
service "broken" {{
    backoff-limit 2
{broken}
}}
service "healthy" {{
    shell "touch $DIR/healthy; exec sleep 1000"
}}
"#
        ),
    );
    let sv = Svinit::container(&dir);
    sv.wait_file(&dir, "healthy", DEADLINE);
    sv.wait_state("broken", "failed", Duration::from_secs(20));
    let lines = sv.service_lines("broken");
    (dir, sv, lines)
}

#[test]
fn missing_program_names_exec_and_enoent() {
    let (_dir, sv, lines) = fails_alone(
        "no-program",
        "    exec \"/nonexistent/svinit-test-program\" \"arg\"",
    );
    let found = lines
        .iter()
        .any(|l| l.contains("exec") && l.contains("No such file or directory"));
    if !found {
        sv.fail(&format!(
            "no line about broken names the step `exec` and `No such file or directory`: {lines:?}"
        ));
    }
    if sv.state_lines("healthy", "up").is_empty() {
        sv.fail("healthy must be up");
    }
}

#[test]
fn unknown_user_says_no_such_user() {
    let (_dir, sv, lines) = fails_alone(
        "no-user",
        "    user \"nosuchuser\"\n    shell \"exec sleep 1000\"",
    );
    let found = lines
        .iter()
        .any(|l| l.to_lowercase().contains("no such user") && l.contains("nosuchuser"));
    if !found {
        sv.fail(&format!(
            "no line about broken says `no such user` and names nosuchuser: {lines:?}"
        ));
    }
    if sv.state_lines("healthy", "up").is_empty() {
        sv.fail("healthy must be up");
    }
}

#[test]
fn missing_directory_names_chdir() {
    let (_dir, sv, lines) = fails_alone(
        "no-dir",
        "    directory \"/nonexistent/svinit-test-dir\"\n    shell \"exec sleep 1000\"",
    );
    let found = lines
        .iter()
        .any(|l| l.contains("chdir") && l.contains("No such file or directory"));
    if !found {
        sv.fail(&format!(
            "no line about broken names the step `chdir` and `No such file or directory`: {lines:?}"
        ));
    }
    if sv.state_lines("healthy", "up").is_empty() {
        sv.fail("healthy must be up");
    }
}

/// A spawn failure is a crash like any other: with `backoff-limit 2` the
/// start is attempted exactly twice (one backoff in between).
#[test]
fn spawn_failure_counts_as_a_crash_for_the_backoff() {
    let (_dir, sv, _lines) = fails_alone(
        "no-program-count",
        "    exec \"/nonexistent/svinit-test-program\"",
    );
    let backoffs = sv.state_lines("broken", "backoff");
    if backoffs.len() != 1 {
        sv.fail(&format!(
            "backoff-limit 2: want exactly 1 backoff before failed, got {backoffs:?}"
        ));
    }
}

/// SPEC §4 "Exec failure": with `restart "never"` (a oneshot's default) a
/// failed exec is `failed` on its first try, whichever step failed, and
/// `svctl start` says so at once (a oneshot with a typo in `exec` was tried
/// 10 times, and `svctl start` took 45 s to say so).
#[test]
fn with_restart_never_a_failed_exec_is_failed_on_the_first_try() {
    let dir = TempDir::new("exec-never");
    dir.write(
        "conf/units.kdl",
        r#"
service "migrate" {
    type "oneshot"
    autostart #false
    exec "/nonexistent/svinit-migrate-typo" "--all"
}
service "setup" {
    type "oneshot"
    user "nosuchuser"
    shell "true"
}
service "worker" {
    restart "never"
    directory "/nonexistent/svinit-test-dir"
    shell "exec sleep 1000"
}
"#,
    );
    let sv = control::container(&dir);
    control::wait_for_socket(&sv, &dir);
    sv.wait_state("setup", "failed", DEADLINE);
    sv.wait_state("worker", "failed", DEADLINE);

    let asked = Instant::now();
    let run = control::expect(&sv, &dir, &["start", "--timeout", "20s", "migrate"], 1);
    let took = asked.elapsed();
    println!("svctl start of a oneshot with a typo in exec: exit 1 after {took:?}");
    if took > Duration::from_secs(3) {
        sv.fail(&format!("svctl start took {took:?} to say migrate failed"));
    }
    if !(run.stderr.contains("failed") && run.stderr.contains("svinit-migrate-typo")) {
        sv.fail(&format!("svctl start must say that the exec failed: {run}"));
    }
    for name in ["migrate", "setup", "worker"] {
        let backoffs = sv.state_lines(name, "backoff");
        if !backoffs.is_empty() {
            sv.fail(&format!("{name} must not be retried: {backoffs:?}"));
        }
        let status = control::status_json(&sv, &dir, name);
        if status["state"] != "failed" || status["restarts"] != 0 {
            sv.fail(&format!("{name} must be failed, never restarted: {status}"));
        }
    }
}
