//! Restart with backoff in real time (SPEC §4, zdaemon semantics): how many
//! times a crashing service is started, when it becomes `failed`, and which
//! exits are `done` and never restarted.

use std::time::{Duration, Instant};

use crate::control;
use crate::harness::{DEADLINE, Svinit, TempDir};

/// `backoff-limit 3`: started exactly 3 times (delays 1 s, 2 s), then
/// `failed`, no sooner than the 3 s of delays.
#[test]
fn always_crashing_service_is_started_backoff_limit_times_then_failed() {
    let dir = TempDir::new("backoff");
    dir.write(
        "conf/crash.kdl",
        r#"
service "crash" {
    backoff-limit 3
    shell "echo start >> $DIR/starts; exit 1"
}
"#,
    );
    let started = Instant::now();
    let sv = Svinit::container(&dir);
    sv.wait_state("crash", "failed", Duration::from_secs(30));
    let took = started.elapsed();
    let starts = dir.lines("starts").len();
    if starts != 3 {
        sv.fail(&format!("crash was started {starts} times, want exactly 3"));
    }
    if took < Duration::from_millis(2900) {
        sv.fail(&format!(
            "failed after {took:?}: the delays 1 s + 2 s were not waited"
        ));
    }
    let backoffs = sv.state_lines("crash", "backoff");
    if backoffs.len() != 2 {
        sv.fail(&format!("want 2 backoff lines, got {backoffs:?}"));
    }
    if !backoffs.iter().all(|l| l.contains("status 1")) {
        sv.fail(&format!(
            "backoff lines must give the exit status: {backoffs:?}"
        ));
    }
}

/// Exit 0 (the default `exit-codes`), exit 2 with zdaemon's `exit-codes 0 2`
/// and a custom `exit-codes` value end `done` and are not restarted; `crash` is the clock: it gives up
/// after ~3 s, long after a restart (1 s) of the others would have happened.
#[test]
fn exit_codes_mean_done_and_are_not_restarted() {
    let dir = TempDir::new("exit-codes");
    dir.write(
        "conf/units.kdl",
        r#"
service "clean" {
    shell "echo start >> $DIR/clean; exit 0"
}
service "two" {
    exit-codes 0 2
    shell "echo start >> $DIR/two; exit 2"
}
service "custom" {
    exit-codes 7
    shell "echo start >> $DIR/custom; exit 7"
}
service "clock" {
    backoff-limit 3
    shell "exit 1"
}
"#,
    );
    let sv = Svinit::container(&dir);
    sv.wait_state("clock", "failed", Duration::from_secs(30));
    for name in ["clean", "two", "custom"] {
        let starts = dir.lines(name).len();
        if starts != 1 {
            sv.fail(&format!("{name} was started {starts} times, want 1"));
        }
        if sv.state_lines(name, "done").is_empty() {
            sv.fail(&format!("{name} must be `done`"));
        }
        if !sv.state_lines(name, "backoff").is_empty() || !sv.state_lines(name, "failed").is_empty()
        {
            sv.fail(&format!("{name} must not be in backoff or failed"));
        }
    }
}

/// `exit-codes 7` replaces the default: exit 0 is then a crash.
#[test]
fn exit_codes_replace_the_default_list() {
    let dir = TempDir::new("exit-codes-replace");
    dir.write(
        "conf/units.kdl",
        r#"
service "zero" {
    exit-codes 7
    backoff-limit 2
    shell "echo start >> $DIR/starts; exit 0"
}
"#,
    );
    let sv = Svinit::container(&dir);
    sv.wait_state("zero", "failed", Duration::from_secs(20));
    let starts = dir.lines("starts").len();
    if starts != 2 {
        sv.fail(&format!("zero was started {starts} times, want 2"));
    }
}

/// `forever #true` keeps restarting past the point where `backoff-limit`
/// would give up.
#[test]
fn forever_keeps_restarting_past_the_backoff_limit() {
    let dir = TempDir::new("forever");
    dir.write(
        "conf/units.kdl",
        r#"
service "phoenix" {
    forever #true
    backoff-limit 2
    shell "echo start >> $DIR/starts; exit 1"
}
"#,
    );
    let sv = Svinit::container(&dir);
    // Without forever: 2 starts. With it: delays 1, 2, 2 … s.
    sv.wait_until("a 4th start", Duration::from_secs(30), || {
        dir.lines("starts").len() >= 4
    });
    if !sv.state_lines("phoenix", "failed").is_empty() {
        sv.fail("a `forever` service must never be `failed`");
    }
}

/// `restart "never"` and a status outside `exit-codes` → `failed` at once.
#[test]
fn restart_never_fails_without_restarting() {
    let dir = TempDir::new("restart-never");
    dir.write(
        "conf/units.kdl",
        r#"
service "once" {
    restart "never"
    shell "echo start >> $DIR/starts; exit 5"
}
"#,
    );
    let sv = Svinit::container(&dir);
    sv.wait_state("once", "failed", DEADLINE);
    let starts = dir.lines("starts").len();
    if starts != 1 {
        sv.fail(&format!("once was started {starts} times, want 1"));
    }
    let reason = sv.state_lines("once", "failed").join("\n");
    if !reason.contains("status 5") {
        sv.fail(&format!(
            "the failure must give the exit status 5: {reason}"
        ));
    }
}

/// A run longer than `backoff-limit` resets the delay to 1 s: with limit
/// 2 s, crash (delay 1 s), a 3 s run then a crash (delay back to 1 s, not
/// 2 s), crash (next delay 2 s reaches the limit) → 3 starts, not 2.
#[test]
fn a_long_run_resets_the_backoff() {
    let dir = TempDir::new("backoff-reset");
    dir.write(
        "conf/units.kdl",
        r#"
service "bumpy" {
    backoff-limit 2
    shell "echo start >> $DIR/starts; n=$(wc -l < $DIR/starts); if [ $n -eq 2 ]; then sleep 3; fi; exit 1"
}
"#,
    );
    let sv = Svinit::container(&dir);
    sv.wait_state("bumpy", "failed", Duration::from_secs(30));
    let starts = dir.lines("starts").len();
    if starts != 3 {
        sv.fail(&format!(
            "bumpy was started {starts} times, want 3 (the 3 s run must reset the delay)"
        ));
    }
}

/// `backoff "exponential"`, limit 5 s: delays 1, 2, 4 s (±10 %), the next
/// (8 s) reaches the limit → exactly 4 starts, no sooner than ~6.3 s.
#[test]
fn exponential_backoff_doubles_the_delay() {
    let dir = TempDir::new("backoff-exp");
    dir.write(
        "conf/units.kdl",
        r#"
service "doubling" {
    backoff "exponential"
    backoff-limit 5
    shell "echo start >> $DIR/starts; exit 1"
}
"#,
    );
    let started = Instant::now();
    let sv = Svinit::container(&dir);
    sv.wait_state("doubling", "failed", Duration::from_secs(40));
    let took = started.elapsed();
    let starts = dir.lines("starts").len();
    if starts != 4 {
        sv.fail(&format!("doubling was started {starts} times, want 4"));
    }
    if took < Duration::from_millis(6000) {
        sv.fail(&format!(
            "failed after {took:?}: delays 1 + 2 + 4 s (±10 %) were not waited"
        ));
    }
}

/// `restart "always"` restarts after a clean exit too.
#[test]
fn restart_always_restarts_after_exit_0() {
    let dir = TempDir::new("restart-always");
    dir.write(
        "conf/units.kdl",
        r#"
service "again" {
    restart "always"
    shell "echo start >> $DIR/starts; exit 0"
}
"#,
    );
    let sv = Svinit::container(&dir);
    sv.wait_until("a second start", DEADLINE, || {
        dir.lines("starts").len() >= 2
    });
    if !sv.state_lines("again", "done").is_empty() {
        sv.fail("restart \"always\": an exit 0 must not make the service `done`");
    }
}

/// SPEC §3: `exit-codes` defaults to `0`, so an exit 2 (a usage error, as
/// Python's argparse exits) is a failure: a longrun is restarted and given
/// up on, a oneshot is `failed` at once, and `svctl status NAME` exits 3 for
/// both (a health check on it fails). zdaemon's `exit-codes 0 2` must be
/// written out, and then exit 2 is `done`.
#[test]
fn an_exit_2_is_a_failure_unless_exit_codes_says_otherwise() {
    let dir = TempDir::new("exit-2");
    dir.write(
        "conf/units.kdl",
        r#"
service "daemon" {
    backoff-limit 2
    shell "echo start >> $DIR/daemon; exit 2"
}
service "migrate" {
    type "oneshot"
    shell "echo start >> $DIR/migrate; exit 2"
}
service "zdaemon" {
    exit-codes 0 2
    shell "echo start >> $DIR/zdaemon; exit 2"
}
"#,
    );
    let sv = control::container(&dir);
    sv.wait_state("daemon", "failed", Duration::from_secs(20));
    sv.wait_state("migrate", "failed", DEADLINE);
    sv.wait_state("zdaemon", "done", DEADLINE);
    for (name, starts) in [("daemon", 2), ("migrate", 1), ("zdaemon", 1)] {
        let got = dir.lines(name).len();
        if got != starts {
            sv.fail(&format!("{name} was started {got} times, want {starts}"));
        }
    }
    let daemon = control::expect(&sv, &dir, &["status", "daemon"], 3);
    if !daemon.stdout.contains("status 2") {
        sv.fail(&format!("the reason must give the exit status 2: {daemon}"));
    }
    control::expect(&sv, &dir, &["status", "migrate"], 3);
    control::expect(&sv, &dir, &["status", "zdaemon"], 0);
}
