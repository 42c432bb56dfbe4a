//! The main command (SPEC §2, `svinit -c PATH -- COMMAND…`, a tini
//! replacement): it starts once the units are up or done, gets the signals
//! svinit receives, and its exit ends svinit with its status after the
//! units are stopped.

use std::time::Duration;

use nix::sys::signal::Signal;

use crate::harness::{DEADLINE, Mode, Svinit, TempDir};

fn start_with_main(dir: &TempDir, main: &str) -> Svinit {
    let conf = dir.join("conf").to_string_lossy().into_owned();
    let main = dir.expand(main);
    Svinit::start(
        Mode::Container,
        dir,
        &["-c", &conf, "--", "/bin/sh", "-c", &main],
    )
}

#[test]
fn main_command_runs_after_the_units_and_its_status_ends_svinit() {
    let dir = TempDir::new("main-status");
    dir.write(
        "conf/units.kdl",
        r#"
service "setup" {
    type "oneshot"
    shell "touch $DIR/setup.done"
}
service "helper" {
    shell "trap 'echo helper >> $DIR/stopped; exit 0' TERM; while :; do sleep 0.1; done"
}
"#,
    );
    // Exits 3 if the oneshot had finished before it started, 9 otherwise.
    let sv = start_with_main(
        &dir,
        "if [ -e $DIR/setup.done ]; then exit 3; else exit 9; fi",
    );
    let status = sv.wait_exit(Duration::from_secs(15));
    if status.code() != Some(3) {
        sv.fail(&format!(
            "svinit exited with {status}; want 3, the main command's status (9: it ran before the oneshot was done)"
        ));
    }
    if dir.lines("stopped") != ["helper"] {
        sv.fail("the units must be stopped (with their stop signal) when the main command exits");
    }
}

#[test]
fn main_command_gets_the_signals_svinit_receives() {
    let dir = TempDir::new("main-signals");
    dir.write(
        "conf/units.kdl",
        "service \"idle\" {\n    shell \"exec sleep 1000\"\n}\n",
    );
    let sv = start_with_main(
        &dir,
        "trap 'echo USR1 >> $DIR/got' USR1; trap 'echo TERM >> $DIR/got; exit 7' TERM; touch $DIR/ready; while :; do sleep 0.1; done",
    );
    sv.wait_file(&dir, "ready", DEADLINE);
    sv.signal(Signal::SIGUSR1);
    sv.wait_until("the main command to get USR1", DEADLINE, || {
        dir.lines("got") == ["USR1"]
    });
    sv.signal(Signal::SIGTERM);
    let status = sv.wait_exit(DEADLINE);
    if dir.lines("got") != ["USR1", "TERM"] {
        sv.fail(&format!(
            "signals seen by the main command: {:?}",
            dir.lines("got")
        ));
    }
    if status.code() != Some(7) {
        sv.fail(&format!(
            "svinit exited with {status}; want 7, the main command's status"
        ));
    }
}

#[test]
fn an_empty_config_directory_runs_the_main_command_alone() {
    // An image that ships an empty /etc/svinit/ is a `tini --` drop-in,
    // like one with no /etc/svinit/ at all.
    let dir = TempDir::new("main-empty-conf");
    std::fs::create_dir_all(dir.join("conf")).expect("mkdir conf");
    dir.write("conf/README", "no units here\n");
    let sv = start_with_main(&dir, "exit 7");
    let status = sv.wait_exit(DEADLINE);
    if status.code() != Some(7) {
        sv.fail(&format!(
            "svinit exited with {status}; want 7, the main command's status, with no unit file in the config directory"
        ));
    }
}

/// A main command that says it runs, and exits 7 on SIGTERM.
const WAITING_MAIN: &str = "trap 'exit 7' TERM; touch $DIR/running; while :; do sleep 0.1; done";

/// SIGTERM to svinit reaches `WAITING_MAIN`, still running, whose status
/// is svinit's.
fn main_ends_with_7_on_term(sv: &Svinit) {
    sv.signal(Signal::SIGTERM);
    let status = sv.wait_exit(DEADLINE);
    if status.code() != Some(7) {
        sv.fail(&format!(
            "svinit exited with {status}; want 7 from the main command"
        ));
    }
}

/// Start-up and reload decide "no config" with one function: with a main
/// command, a missing path and a directory without a `*.kdl` file are no
/// config at start (the command runs alone) and at reload (nothing to
/// change), never an error at one and not the other.
#[test]
fn no_config_is_the_same_at_start_and_at_reload() {
    for (tag, make_dir) in [("main-reload-empty", true), ("main-reload-missing", false)] {
        let dir = TempDir::new(tag);
        if make_dir {
            dir.write("conf/README", "no units here\n");
        }
        let sv = start_with_main(&dir, WAITING_MAIN);
        sv.wait_file(&dir, "running", DEADLINE);
        let run = crate::control::svctl(&dir, &["reload"]);
        if run.code != 0 {
            sv.fail(&format!("{tag}: reload refused where start-up ran:\n{run}"));
        }
        main_ends_with_7_on_term(&sv);
    }
}

/// A broken config gets the same diagnostics at start (svinit exits 1)
/// and at reload (refused, the running config kept), main command or not.
#[test]
fn a_broken_config_is_refused_alike_at_start_and_at_reload() {
    const BROKEN: &str = "service \"web\" {\n    exec\n    restart \"sometimes\"\n}\n";
    let dir = TempDir::new("main-broken-start");
    dir.write("conf/units.kdl", BROKEN);
    let sv = start_with_main(&dir, "exit 0");
    let status = sv.wait_exit(DEADLINE);
    if status.code() != Some(1) {
        sv.fail(&format!("a broken config at start: exit {status}; want 1"));
    }
    let at_start = sv.log().replace(&dir.path().display().to_string(), "DIR");

    let dir = TempDir::new("main-broken-reload");
    dir.write(
        "conf/units.kdl",
        "service \"web\" {\n    exec \"sleep\" \"1000\"\n}\n",
    );
    let sv = start_with_main(&dir, WAITING_MAIN);
    sv.wait_file(&dir, "running", DEADLINE);
    dir.write("conf/units.kdl", BROKEN);
    let run = crate::control::svctl(&dir, &["reload"]);
    let at_reload = run.stderr.replace(&dir.path().display().to_string(), "DIR");
    let diagnostics: Vec<&str> = at_reload
        .lines()
        .filter(|line| line.contains("units.kdl") || line.contains('×'))
        .collect();
    if run.code == 0 || diagnostics.len() < 3 {
        sv.fail(&format!("reload of a broken config:\n{run}"));
    }
    for line in diagnostics {
        let line = line.trim_start_matches("svctl: ").trim();
        assert!(
            at_start.contains(line),
            "`{line}` is said at reload, not at start:\n{at_start}\n--- reload\n{run}"
        );
    }
    sv.signal(Signal::SIGTERM);
    assert_eq!(
        sv.wait_exit(DEADLINE).code(),
        Some(7),
        "the main command ran on"
    );
}
