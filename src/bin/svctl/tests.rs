//! Unit tests of svctl: argument parsing, waiting rules, rendering.

use std::path::PathBuf;
use std::time::Duration;

use svinit::control::{
    BlameEntry, ExitJson, Request, Running, ServiceStatusJson, State, TreeNode, TreeReport,
};

use crate::args::{UsageError, closest, parse_args, parse_duration};
use crate::change::{Progress, Waiter};
use crate::reports::{blame_lines, render_dot, render_tree};
use crate::status::{format_age, since_cell, status_info};
use crate::{Command, DEFAULT_WAIT, Verb};

fn args(text: &str) -> Vec<String> {
    text.split_whitespace().map(String::from).collect()
}

fn command(text: &str) -> Result<Command, UsageError> {
    parse_args(args(text)).map(|cli| cli.command)
}

#[test]
fn arguments_parse_into_commands() {
    let cli = parse_args(args("-s /x.sock status --json web db")).unwrap();
    assert_eq!(cli.socket, Some(PathBuf::from("/x.sock")));
    assert_eq!(
        cli.command,
        Command::Status {
            json: true,
            names: vec!["web".into(), "db".into()]
        }
    );
    assert_eq!(
        parse_args(args("status --socket=/y")).unwrap().socket,
        Some(PathBuf::from("/y"))
    );
    assert_eq!(
        command("restart --timeout 2s --no-wait web").unwrap(),
        Command::Change {
            verb: Verb::Restart,
            names: vec!["web".into()],
            all: false,
            wait: false,
            timeout: Duration::from_secs(2)
        }
    );
    assert_eq!(
        command("stop web").unwrap(),
        Command::Change {
            verb: Verb::Stop,
            names: vec!["web".into()],
            all: false,
            wait: true,
            timeout: DEFAULT_WAIT
        }
    );
    assert_eq!(
        command("logs -f -n 20 web").unwrap(),
        Command::Logs {
            names: vec!["web".into()],
            lines: Some(20),
            follow: true
        }
    );
    assert_eq!(
        command("stop --all --no-wait").unwrap(),
        Command::Change {
            verb: Verb::Stop,
            names: vec![],
            all: true,
            wait: false,
            timeout: DEFAULT_WAIT
        }
    );
    assert_eq!(
        command("logs -n 5").unwrap(),
        Command::Logs {
            names: vec![],
            lines: Some(5),
            follow: false
        }
    );
    assert_eq!(
        command("kill --group web 0").unwrap(),
        Command::Kill {
            name: "web".into(),
            signal: "0".into(),
            group: true
        }
    );
    assert_eq!(
        command("events --since 12").unwrap(),
        Command::Events {
            since: Some(12),
            follow: true
        }
    );
    assert_eq!(
        command("tree web --dot").unwrap(),
        Command::Tree {
            name: Some("web".into()),
            dot: true
        }
    );
    assert_eq!(
        command("reload --dry-run").unwrap(),
        Command::Reload { dry_run: true }
    );
    assert_eq!(
        command("check -c /etc/x").unwrap(),
        Command::Check {
            config: Some("/etc/x".into())
        }
    );
    assert_eq!(
        command("kill web hup").unwrap(),
        Command::Kill {
            name: "web".into(),
            signal: "hup".into(),
            group: false
        }
    );
    assert_eq!(command("halt").unwrap(), Command::Power(Request::Halt));
    assert_eq!(command("--help").unwrap(), Command::Help);
    assert_eq!(command("status --help").unwrap(), Command::Help);
}

#[test]
fn usage_errors_are_reported() {
    for bad in [
        "",
        "frobnicate",
        "start",
        "start --timeout",
        "start --timeout soon web",
        "kill web",
        "kill web NOTASIGNAL",
        "logs -n many web",
        "start --all web",
        "kill --group web",
        "kill web -1",
        "kill web 65",
        "events --since x",
        "reload now",
        "status --bogus",
        "blame extra",
        "tree a b",
        "-s",
    ] {
        assert!(command(bad).is_err(), "`{bad}` should be a usage error");
    }
}

fn usage_error(text: &str) -> String {
    match parse_args(args(text)) {
        Ok(cli) => panic!("`{text}` should be a usage error, got {:?}", cli.command),
        Err(err) => err.to_string(),
    }
}

#[test]
fn the_habits_of_other_supervisors_parse() {
    // supervisorctl `restart all`, `docker compose logs`, `kill --group`.
    for good in [
        "start --all",
        "stop --all --no-wait",
        "restart --timeout 5s --all",
        "logs",
        "logs web db",
        "logs -f",
        "logs -f -n 5 web db",
        "kill --group web TERM",
        "kill web --group 9",
        "kill web 0",
        "kill --group web 0",
    ] {
        if let Err(err) = parse_args(args(good)) {
            panic!("`{good}` should parse: {err}");
        }
    }
}

#[test]
fn a_usage_error_names_the_one_wrong_thing_and_suggests() {
    let cases = [
        ("stauts", "unknown command `stauts`; did you mean `status`?"),
        (
            "restrat web",
            "unknown command `restrat`; did you mean `restart`?",
        ),
        ("stat", "unknown command `stat`; did you mean `status`?"),
        (
            "status --jsn",
            "status: unknown option `--jsn`; did you mean `--json`?",
        ),
        (
            "logs --follw web",
            "logs: unknown option `--follw`; did you mean `--follow`?",
        ),
        (
            "start --al",
            "start: unknown option `--al`; did you mean `--all`?",
        ),
        (
            "reload --dryrun",
            "reload: unknown option `--dryrun`; did you mean `--dry-run`?",
        ),
    ];
    for (text, wanted) in cases {
        let message = usage_error(text);
        assert!(message.starts_with(wanted), "`{text}`: {message}");
        assert!(
            message.contains("svctl --help"),
            "`{text}`: a hint: {message}"
        );
        assert_eq!(message.lines().count(), 1, "`{text}`: one line: {message}");
    }
    // Nothing close: no guess, still the hint.
    let message = usage_error("frobnicate");
    assert!(
        message.starts_with("unknown command `frobnicate`"),
        "{message}"
    );
    assert!(!message.contains("did you mean"), "{message}");
    assert!(message.contains("svctl --help"), "{message}");
    let message = usage_error("status --xyzzy");
    assert!(!message.contains("did you mean"), "{message}");
    let message = usage_error("kill -9 web");
    assert!(
        message.starts_with("kill: give the signal after the name, without `-`: svctl kill NAME 9"),
        "{message}"
    );
    // Every other usage error carries the hint too.
    for text in ["kill web", "start", "logs -n many web", "tree a b"] {
        let message = usage_error(text);
        assert!(message.contains("svctl --help"), "`{text}`: {message}");
        assert_eq!(message.lines().count(), 1, "`{text}`: {message}");
    }
}

#[test]
fn suggestions_are_only_made_when_one_candidate_stands_out() {
    let commands = ["status", "start", "stop", "restart", "reload", "reopen"];
    assert_eq!(closest("stauts", &commands), Some("status"));
    assert_eq!(
        closest("stat", &commands),
        Some("status"),
        "the only one it begins"
    );
    assert_eq!(closest("sop", &commands), Some("stop"));
    assert_eq!(closest("re", &commands), None, "begins three");
    assert_eq!(closest("relod", &commands), Some("reload"));
    assert_eq!(closest("xyz", &commands), None);
    // `-x` is one change from both `-f` and `-n`: no guess.
    assert_eq!(closest("-x", &["-f", "--follow", "-n", "--lines"]), None);
    assert_eq!(
        closest("--lnes", &["-f", "--follow", "-n", "--lines"]),
        Some("--lines")
    );
}

#[test]
fn durations_take_units() {
    assert_eq!(parse_duration("250ms"), Some(Duration::from_millis(250)));
    assert_eq!(parse_duration("10s"), Some(Duration::from_secs(10)));
    assert_eq!(parse_duration("10"), Some(Duration::from_secs(10)));
    assert_eq!(parse_duration("1.5s"), Some(Duration::from_millis(1500)));
    assert_eq!(parse_duration("2m"), Some(Duration::from_secs(120)));
    assert_eq!(parse_duration("1h"), Some(Duration::from_secs(3600)));
    assert_eq!(parse_duration("soon"), None);
    assert_eq!(parse_duration("5x"), None);
    assert_eq!(parse_duration(""), None);
}

#[test]
fn ages_are_short() {
    assert_eq!(format_age(-3.0), "0ms");
    assert_eq!(format_age(0.2), "200ms");
    assert_eq!(format_age(0.9999), "999ms");
    assert_eq!(format_age(1.0), "1s");
    assert_eq!(format_age(59.9), "59s");
    assert_eq!(format_age(192.0), "3m12s");
    assert_eq!(format_age(18_120.0), "5h2m");
    assert_eq!(format_age(183_600.0), "2d3h");
}

fn service(name: &str, state: State, pid: Option<i32>) -> ServiceStatusJson {
    ServiceStatusJson {
        name: name.into(),
        status: if pid.is_some() {
            Running::Up
        } else {
            Running::Down
        },
        state,
        pid,
        since: 0,
        restarts: 0,
        exit: None,
        reason: None,
        reason_code: None,
        next_restart: None,
        history: vec![],
        config_changed: false,
        want: Running::Up,
        description: None,
        removed: false,
        output_problem: None,
        output_dropped: 0,
        status_text: None,
        age: None,
        health: None,
    }
}

#[test]
fn a_start_waits_for_up_or_done_and_fails_on_failed() {
    let mut waiter = Waiter::new(Verb::Start, &service("web", State::Waiting, None));
    assert_eq!(
        waiter.observe(&service("web", State::Starting, Some(5))),
        Progress::Pending
    );
    assert_eq!(
        waiter.observe(&service("web", State::Up, Some(5))),
        Progress::Done
    );
    let mut oneshot = Waiter::new(Verb::Start, &service("init", State::Starting, Some(6)));
    assert_eq!(
        oneshot.observe(&service("init", State::Done, None)),
        Progress::Done
    );
    let mut failing = Waiter::new(Verb::Start, &service("bad", State::Starting, None));
    let mut failed = service("bad", State::Failed, None);
    failed.reason = Some("exec /nope: No such file or directory".into());
    assert_eq!(
        failing.observe(&failed),
        Progress::Failed("bad failed: exec /nope: No such file or directory".into())
    );
    let message = failing.timed_out(Duration::from_secs(3));
    assert!(message.starts_with("bad did not come up within 3s (state failed"));
}

#[test]
fn a_restart_needs_a_new_process() {
    let mut waiter = Waiter::new(Verb::Restart, &service("web", State::Up, Some(10)));
    assert_eq!(
        waiter.observe(&service("web", State::Up, Some(10))),
        Progress::Pending
    );
    assert_eq!(
        waiter.observe(&service("web", State::Up, Some(11))),
        Progress::Done
    );
    let mut waiter = Waiter::new(Verb::Restart, &service("web", State::Stopping, Some(10)));
    assert_eq!(
        waiter.observe(&service("web", State::Stopping, Some(10))),
        Progress::Pending
    );
    assert_eq!(
        waiter.observe(&service("web", State::Up, Some(12))),
        Progress::Done
    );
}

#[test]
fn a_stop_waits_for_no_process_and_reports_a_kill() {
    let mut waiter = Waiter::new(Verb::Stop, &service("web", State::Stopping, Some(10)));
    assert_eq!(
        waiter.observe(&service("web", State::Stopping, Some(10))),
        Progress::Pending
    );
    assert_eq!(
        waiter.observe(&service("web", State::Down, None)),
        Progress::Done
    );
    let mut killed = Waiter::new(Verb::Stop, &service("web", State::Stopping, Some(10)));
    let mut down = service("web", State::Down, None);
    down.reason = Some("did not stop within 1s, killed".into());
    down.reason_code = Some("stop-timeout".into());
    assert!(matches!(killed.observe(&down), Progress::Failed(_)));
    // An old stop-timeout reason on a service that was already down is not news.
    let mut already = Waiter::new(Verb::Stop, &down);
    assert_eq!(already.observe(&down), Progress::Done);
}

#[test]
fn the_info_column_says_why() {
    let mut crashed = service("web", State::Backoff, None);
    crashed.reason = Some("exited with status 1".into());
    crashed.next_restart = Some(1.25);
    crashed.config_changed = true;
    assert_eq!(
        status_info(&crashed),
        "exited with status 1; restart in 1.2s; config changed, applies at next start"
    );
    let mut described = service("db", State::Up, Some(3));
    described.description = Some("Postgres".into());
    assert_eq!(status_info(&described), "Postgres");
    let mut exited = service("job", State::Done, None);
    exited.exit = Some(ExitJson::Code { code: 0 });
    assert_eq!(status_info(&exited), "last exited with status 0");
    let mut full = service("web", State::Up, Some(4));
    full.output_problem = Some("transcript /l: write failed: No space left on device".into());
    full.output_dropped = 12;
    assert_eq!(
        status_info(&full),
        "output: transcript /l: write failed: No space left on device (12 lines dropped)"
    );
    full.output_problem = None;
    assert_eq!(status_info(&full), "output: 12 lines dropped");
    full.output_dropped = 1;
    assert_eq!(status_info(&full), "output: 1 line dropped");
}

fn node(name: &str, requires: &[&str], wants: &[&str]) -> TreeNode {
    TreeNode {
        name: name.into(),
        state: State::Up,
        requires: requires.iter().map(|s| s.to_string()).collect(),
        wants: wants.iter().map(|s| s.to_string()).collect(),
        after: vec![],
    }
}

#[test]
fn trees_render_from_the_top_services() {
    let report = TreeReport {
        root: None,
        services: vec![
            node("db", &[], &[]),
            node("cache", &[], &[]),
            node("web", &["db"], &["cache"]),
            node("lonely", &[], &[]),
        ],
    };
    assert_eq!(
        render_tree(&report),
        "web (up)\n├── db (up)\n└── cache (up) [wants]\nlonely (up)\n"
    );
    let dot = render_dot(&report);
    assert!(dot.contains("\"web\" -> \"db\";"), "{dot}");
    assert!(
        dot.contains("\"web\" -> \"cache\" [style=dashed];"),
        "{dot}"
    );
    assert!(dot.contains("\"web\" [label=\"web\\nup\"];"), "{dot}");
    // A cycle (which a valid config never has) does not loop forever.
    let cyclic = TreeReport {
        root: Some("a".into()),
        services: vec![node("a", &["b"], &[]), node("b", &["a"], &[])],
    };
    assert_eq!(
        render_tree(&cyclic),
        "a (up)\n└── b (up)\n    └── a (cycle)\n"
    );
}

#[test]
fn since_shows_sub_second_ages_in_milliseconds() {
    let mut web = service("web", State::Up, Some(7));
    web.since = 1000;
    // 0.2 s old, though a second boundary passed between the two clocks.
    web.age = Some(0.2);
    assert_eq!(since_cell(&web, 1001.1), "200ms");
    web.age = Some(0.0004);
    assert_eq!(since_cell(&web, 1001.1), "0ms");
    web.age = Some(1.999);
    assert_eq!(since_cell(&web, 1001.1), "1s");
    web.age = Some(192.5);
    assert_eq!(since_cell(&web, 1001.1), "3m12s");
    // The reply of an older svinit, without `age`: whole seconds.
    web.age = None;
    assert_eq!(since_cell(&web, 1192.7), "3m12s");
    assert_eq!(since_cell(&web, 999.0), "0s");
}

fn blame_entry(name: &str, state: State, ready_after: Option<f64>) -> BlameEntry {
    BlameEntry {
        name: name.into(),
        state,
        spawned: (state != State::Waiting).then_some(1_700_000_000.0),
        ready_after,
    }
}

#[test]
fn blame_lists_the_ready_and_shows_failed_services_apart() {
    let lines = blame_lines(vec![
        blame_entry("db", State::Up, Some(2.003)),
        // Up at its exec, then crashed until svinit gave up.
        blame_entry("bad", State::Failed, Some(0.0)),
        blame_entry("flaky", State::Backoff, Some(0.0)),
        blame_entry("web", State::Up, Some(0.011)),
        blame_entry("setup", State::Done, Some(0.5)),
        blame_entry("slow", State::Starting, None),
        blame_entry("later", State::Waiting, None),
        blame_entry("broken", State::Failed, None),
    ]);
    assert_eq!(
        lines,
        [
            "     2.003s  db",
            "     0.500s  setup",
            "     0.011s  web",
            "          -  bad (failed)",
            "          -  broken (failed)",
            "          -  flaky (backoff)",
            "          -  later (not started: waiting)",
            "          -  slow (not ready: starting)",
        ]
    );
}

/// svctl(8) documents every field of `status --json` and of the status
/// reply (`.B field` under JSON FORMATS), so a field added later without
/// its documentation fails here.
#[test]
fn the_man_page_documents_every_status_field() {
    let page =
        std::fs::read_to_string(PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("man/svctl.8"))
            .unwrap();
    let formats = page.split(".SH JSON FORMATS").nth(1).unwrap_or_default();
    let report = svinit::control::StatusReport {
        services: vec![service("web", State::Up, Some(7))],
        orphans_reaped: 0,
        mode: "user".into(),
        pid: 1,
        console_lines_dropped: 0,
    };
    let value = serde_json::to_value(&report).unwrap();
    let service_fields = value["services"][0].as_object().unwrap().keys();
    let report_fields = value.as_object().unwrap().keys();
    for field in service_fields.chain(report_fields) {
        assert!(
            formats.contains(&format!("\n.B {field}\n")),
            "svctl(8) JSON FORMATS does not document `{field}`"
        );
    }
}
