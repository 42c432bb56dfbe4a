//! The protocol's unit tests: every request and reply through its line,
//! the wire status, the socket paths.

use std::path::PathBuf;
use std::time::{Duration, Instant, UNIX_EPOCH};

use serde_json::{Value, json};

use super::*;
use crate::supervisor::{ExitStatus, Reason, ServiceStatus, StateKind, Want};

fn parse(text: &str) -> Result<Request, ProtocolError> {
    Request::parse(text.as_bytes())
}

#[test]
fn bad_arguments_echo_a_bounded_part_of_the_request() {
    // Found by the seeded fuzz test: serde quoted a 60 KB key whole.
    let key = "k".repeat(60_000);
    let value = "x".repeat(60_000);
    for line in [
        format!(r#"{{"v":1,"cmd":"logs","{key}":1}}"#),
        format!(r#"{{"v":1,"cmd":"status","names":"{value}"}}"#),
        format!(r#"{{"v":1,"cmd":"kill","name":"web","signal":["{value}"]}}"#),
    ] {
        let error = parse(&line).unwrap_err();
        assert_eq!(error.kind, ErrorKind::BadRequest);
        assert!(error.message.starts_with("bad arguments to `"), "{error}");
        assert!(error.message.chars().count() < 400, "{error}");
    }
}

#[test]
fn every_request_round_trips_through_a_line() {
    let requests = vec![
        Request::Status { names: vec![] },
        Request::Status {
            names: vec!["web".into(), "db".into()],
        },
        Request::Start {
            names: vec!["web".into()],
            all: false,
        },
        Request::Start {
            names: vec![],
            all: true,
        },
        Request::Stop {
            names: vec!["web".into()],
            all: false,
        },
        Request::Restart {
            names: vec!["a".into(), "b".into()],
            all: false,
        },
        Request::Kill {
            name: "web".into(),
            signal: "HUP".into(),
            group: false,
        },
        Request::Kill {
            name: "web".into(),
            signal: "0".into(),
            group: true,
        },
        Request::Reopen { names: vec![] },
        Request::Logs {
            name: Some("web".into()),
            names: vec![],
            lines: Some(20),
            follow: true,
        },
        Request::Logs {
            name: None,
            names: vec!["web".into(), "db".into()],
            lines: None,
            follow: false,
        },
        Request::Reload { dry_run: true },
        Request::Reload { dry_run: false },
        Request::Events {
            since: Some(7),
            follow: true,
        },
        Request::Events {
            since: None,
            follow: false,
        },
        Request::Tree { name: None },
        Request::Tree {
            name: Some("web".into()),
        },
        Request::Blame,
        Request::Plot,
        Request::Poweroff,
        Request::Reboot,
        Request::Halt,
    ];
    for request in requests {
        let line = request.to_line();
        assert!(line.ends_with('\n'));
        assert_eq!(line.matches('\n').count(), 1, "{line}");
        let value: Value = serde_json::from_str(&line).unwrap();
        assert_eq!(value["v"], json!(1), "{line}");
        assert_eq!(value["cmd"], json!(request.command()), "{line}");
        let back = parse(line.trim_end()).unwrap();
        assert_eq!(back, request, "{line}");
    }
}

#[test]
fn the_wire_form_is_flat_and_kebab_case() {
    assert_eq!(
        Request::Reload { dry_run: true }.to_line(),
        "{\"v\":1,\"cmd\":\"reload\",\"dry_run\":true}\n"
    );
    assert_eq!(
        Request::Status {
            names: vec!["web".into()]
        }
        .to_line(),
        "{\"v\":1,\"cmd\":\"status\",\"names\":[\"web\"]}\n"
    );
    assert_eq!(Request::Blame.to_line(), "{\"v\":1,\"cmd\":\"blame\"}\n");
    // The single-service forms are those of svinit 0.1, so an older
    // svinit understands a newer svctl asking for one service.
    assert_eq!(
        Request::Logs {
            name: Some("web".into()),
            names: vec![],
            lines: None,
            follow: true
        }
        .to_line(),
        "{\"v\":1,\"cmd\":\"logs\",\"name\":\"web\",\"follow\":true}\n"
    );
    assert_eq!(
        Request::Stop {
            names: vec!["web".into()],
            all: false
        }
        .to_line(),
        "{\"v\":1,\"cmd\":\"stop\",\"names\":[\"web\"]}\n"
    );
    // Defaults: a hand-written minimal request works.
    assert_eq!(
        parse(r#"{"v":1,"cmd":"events"}"#).unwrap(),
        Request::Events {
            since: None,
            follow: true
        }
    );
    assert_eq!(
        parse(r#"{"cmd":"status","v":1}"#).unwrap(),
        Request::Status { names: vec![] }
    );
}

#[test]
fn each_kind_of_bad_request_has_its_own_error_kind() {
    let cases = [
        ("garbage", ErrorKind::BadJson),
        ("{\"v\":1,\"cmd\":", ErrorKind::BadJson),
        ("", ErrorKind::BadJson),
        ("[1,2]", ErrorKind::BadRequest),
        ("{\"v\":1}", ErrorKind::BadRequest),
        ("{\"v\":1,\"cmd\":5}", ErrorKind::BadRequest),
        ("{\"cmd\":\"status\"}", ErrorKind::UnsupportedVersion),
        (
            "{\"v\":2,\"cmd\":\"status\"}",
            ErrorKind::UnsupportedVersion,
        ),
        (
            "{\"v\":\"1\",\"cmd\":\"status\"}",
            ErrorKind::UnsupportedVersion,
        ),
        ("{\"v\":1,\"cmd\":\"explode\"}", ErrorKind::UnknownCommand),
        ("{\"v\":1,\"cmd\":\"start\"}", ErrorKind::BadRequest),
        (
            "{\"v\":1,\"cmd\":\"start\",\"names\":\"web\"}",
            ErrorKind::BadRequest,
        ),
        (
            "{\"v\":1,\"cmd\":\"status\",\"name\":[\"web\"]}",
            ErrorKind::BadRequest,
        ),
        (
            "{\"v\":1,\"cmd\":\"blame\",\"extra\":1}",
            ErrorKind::BadRequest,
        ),
    ];
    for (line, kind) in cases {
        let err = parse(line).unwrap_err();
        assert_eq!(err.kind, kind, "{line}: {}", err.message);
        assert!(!err.message.is_empty());
    }
}

#[test]
fn all_several_log_names_and_group_kills_are_requests() {
    for line in [
        r#"{"v":1,"cmd":"start","all":true}"#,
        r#"{"v":1,"cmd":"stop","names":[],"all":true}"#,
        r#"{"v":1,"cmd":"restart","all":true}"#,
        r#"{"v":1,"cmd":"logs"}"#,
        r#"{"v":1,"cmd":"logs","names":["a","b"],"follow":true}"#,
        r#"{"v":1,"cmd":"logs","name":"a","lines":3}"#,
        r#"{"v":1,"cmd":"kill","name":"a","signal":"TERM","group":true}"#,
        r#"{"v":1,"cmd":"kill","name":"a","signal":"0"}"#,
    ] {
        if let Err(err) = parse(line) {
            panic!("{line}: {err}");
        }
    }
    assert!(
        parse(r#"{"v":1,"cmd":"logs","follow":true}"#)
            .unwrap()
            .follows()
    );
    for line in [
        // Nothing to act on, or two ways of naming at once.
        r#"{"v":1,"cmd":"start","names":[]}"#,
        r#"{"v":1,"cmd":"restart","names":["a"],"all":true}"#,
        r#"{"v":1,"cmd":"logs","name":"a","names":["b"]}"#,
    ] {
        let err = parse(line).unwrap_err();
        assert_eq!(err.kind, ErrorKind::BadRequest, "{line}: {err}");
    }
}

#[test]
fn requests_over_64_kib_are_refused_before_parsing() {
    let names = vec!["x".repeat(MAX_REQUEST_BYTES)];
    let line = Request::Status { names }.to_line();
    let err = parse(line.trim_end()).unwrap_err();
    assert_eq!(err.kind, ErrorKind::TooLarge);
}

#[test]
fn echoed_client_input_is_truncated() {
    let command = "y".repeat(10_000);
    let err = parse(&format!("{{\"v\":1,\"cmd\":\"{command}\"}}")).unwrap_err();
    assert_eq!(err.kind, ErrorKind::UnknownCommand);
    assert!(err.message.len() < 200, "{}", err.message);
}

#[test]
fn only_reading_commands_are_read_only() {
    let read_only: Vec<&str> = COMMANDS
        .iter()
        .copied()
        .filter(|command| {
            let line = match *command {
                "start" | "stop" | "restart" => {
                    format!(r#"{{"v":1,"cmd":"{command}","names":["a"]}}"#)
                }
                "kill" => r#"{"v":1,"cmd":"kill","name":"a","signal":"HUP"}"#.to_string(),
                "logs" => r#"{"v":1,"cmd":"logs","name":"a"}"#.to_string(),
                _ => format!(r#"{{"v":1,"cmd":"{command}"}}"#),
            };
            parse(&line).unwrap().is_read_only()
        })
        .collect();
    assert_eq!(
        read_only,
        ["status", "logs", "events", "tree", "blame", "plot"]
    );
}

#[test]
fn only_followed_events_and_logs_are_streams() {
    let follows = |line: &str| parse(line).unwrap().follows();
    assert!(follows(r#"{"v":1,"cmd":"events"}"#));
    assert!(!follows(r#"{"v":1,"cmd":"events","follow":false}"#));
    assert!(follows(r#"{"v":1,"cmd":"logs","name":"a","follow":true}"#));
    assert!(!follows(r#"{"v":1,"cmd":"logs","name":"a"}"#));
    assert!(!follows(r#"{"v":1,"cmd":"status"}"#));
}

#[test]
fn replies_serialize_ok_and_error_forms() {
    let ok = Reply::ok(());
    assert_eq!(ok.to_line(), "{\"v\":1,\"ok\":true}\n");
    let error = Reply::error(ProtocolError::unknown_service("wbe"));
    assert_eq!(
        error.to_line(),
        "{\"v\":1,\"ok\":false,\"error\":{\"kind\":\"unknown-service\",\"message\":\"unknown service `wbe`\"}}\n"
    );
    let back: Reply = serde_json::from_str(error.to_line().trim_end()).unwrap();
    assert_eq!(
        back.into_result::<()>().unwrap_err().kind,
        ErrorKind::UnknownService
    );
    let report = EventsReport {
        oldest: 1,
        next: 5,
        missed: 0,
    };
    let back: Reply = serde_json::from_str(&Reply::ok(&report).to_line()).unwrap();
    assert_eq!(back.into_result::<EventsReport>().unwrap(), report);
}

#[test]
fn every_error_kind_serializes_as_its_name() {
    let kinds = [
        ErrorKind::BadJson,
        ErrorKind::BadRequest,
        ErrorKind::UnsupportedVersion,
        ErrorKind::UnknownCommand,
        ErrorKind::TooLarge,
        ErrorKind::Timeout,
        ErrorKind::TooManyClients,
        ErrorKind::PermissionDenied,
        ErrorKind::UnknownService,
        ErrorKind::NotRunning,
        ErrorKind::InvalidConfig,
        ErrorKind::NotAvailable,
        ErrorKind::NotSupported,
        ErrorKind::Failed,
        ErrorKind::BadName,
    ];
    for kind in kinds {
        assert_eq!(serde_json::to_value(kind).unwrap(), json!(kind.as_str()));
    }
}

#[test]
fn status_json_has_the_stable_shape() {
    let clock = WallClock {
        instant: Instant::now(),
        system: UNIX_EPOCH + Duration::from_secs(1_700_000_000),
    };
    let ago = |secs: u64| clock.instant - Duration::from_secs(secs);
    let status = ServiceStatus {
        name: "web".into(),
        state: StateKind::Backoff,
        want: Want::Up,
        pid: None,
        since: ago(3),
        restarts: 2,
        last_exit: Some(ExitStatus::Signaled {
            signal: 15,
            core: false,
        }),
        reason: Some(Reason::Exited(ExitStatus::Exited(1))),
        next_restart: Some(clock.instant + Duration::from_millis(1500)),
        history: vec![
            crate::supervisor::ExitRecord {
                at: ago(10),
                pid: 41,
                status: ExitStatus::Exited(1),
                spawned_at: None,
                ready_at: None,
            },
            crate::supervisor::ExitRecord {
                at: ago(3),
                pid: 42,
                status: ExitStatus::Signaled {
                    signal: 15,
                    core: false,
                },
                spawned_at: None,
                ready_at: None,
            },
        ],
        config_changed: true,
        removed: false,
        status_text: None,
        spawned_at: Some(ago(5)),
        ready_at: Some(ago(5)),
        health: Some(crate::supervisor::HealthStatus {
            state: crate::supervisor::HealthState::Unhealthy,
            failures: 3,
            last: Some(crate::supervisor::HealthResult {
                at: ago(4),
                ok: false,
                detail: "exited with status 7".into(),
            }),
        }),
    };
    let entry = ServiceStatusJson::from_status(&status, None, &clock);
    let value = serde_json::to_value(&entry).unwrap();
    assert_eq!(
        value,
        json!({
            "name": "web",
            "status": "down",
            "state": "backoff",
            "pid": null,
            "since": 1_699_999_997,
            "restarts": 2,
            "exit": {"signal": 15, "name": "TERM", "core": false},
            "reason": "exited with status 1",
            "reason_code": "exited",
            "next_restart": 1.5,
            "history": [
                {"time": 1_699_999_990, "pid": 41, "exit": {"code": 1}},
                {"time": 1_699_999_997, "pid": 42, "exit": {"signal": 15, "name": "TERM", "core": false}}
            ],
            "config_changed": true,
            "want": "up",
            "description": null,
            "removed": false,
            "output_problem": null,
            "output_dropped": 0,
            "status_text": null,
            "age": 3.0,
            "health": {
                "state": "unhealthy",
                "failures": 3,
                "last": {"time": 1_699_999_996.0, "ok": false, "detail": "exited with status 7"}
            }
        })
    );
    let back: ServiceStatusJson = serde_json::from_value(value).unwrap();
    assert_eq!(back, entry);

    // Running: "up" with its pid, whatever the state.
    let running = ServiceStatus {
        state: StateKind::Stopping,
        want: Want::Down,
        pid: Some(7),
        reason: None,
        next_restart: None,
        ..status
    };
    let entry = ServiceStatusJson::from_status(&running, Some("d".into()), &clock);
    assert_eq!(entry.status, Running::Up);
    assert_eq!(entry.want, Running::Down);
    assert_eq!(entry.pid, Some(7));
    assert_eq!(entry.reason_code, None);
    assert_eq!(entry.description.as_deref(), Some("d"));
}

#[test]
fn exit_statuses_read_back_as_the_same_variant() {
    let code: ExitJson = serde_json::from_str(r#"{"code":3}"#).unwrap();
    assert_eq!(code, ExitJson::Code { code: 3 });
    let signal: ExitJson =
        serde_json::from_str(r#"{"signal":9,"name":"KILL","core":true}"#).unwrap();
    assert_eq!(signal.to_string(), "killed by signal KILL (core dumped)");
    assert_eq!(
        ExitJson::from(ExitStatus::Exited(0)).to_string(),
        "exited with status 0"
    );
}

#[test]
fn event_lines_carry_every_field() {
    let event = EventRecord {
        seq: 3,
        time: 1_700_000_000.25,
        kind: crate::control::EventKind::State,
        name: "db".into(),
        from: crate::control::EventState::Service(State::Starting),
        to: crate::control::EventState::Service(State::Up),
        pid: Some(77),
        exit: None,
        reason: None,
        reason_code: None,
    };
    let line = StreamLine::event(event.clone()).to_line();
    let value: Value = serde_json::from_str(&line).unwrap();
    assert_eq!(
        value,
        json!({"v": 1, "event": {
            "seq": 3, "time": 1_700_000_000.25, "kind": "state", "name": "db", "from": "starting",
            "to": "up", "pid": 77, "exit": null, "reason": null, "reason_code": null
        }})
    );
    let back: StreamLine = serde_json::from_str(&line).unwrap();
    assert_eq!(back.event, Some(event));
}

#[test]
fn state_names_match_the_supervisor() {
    for kind in [
        StateKind::Down,
        StateKind::Waiting,
        StateKind::Starting,
        StateKind::Up,
        StateKind::Stopping,
        StateKind::Backoff,
        StateKind::Failed,
        StateKind::Done,
    ] {
        assert_eq!(State::from(kind).as_str(), kind.as_str());
    }
}

#[test]
fn signals_parse_by_name_or_number() {
    assert_eq!(parse_signal("HUP"), Some(libc::SIGHUP));
    assert_eq!(parse_signal("sighup"), Some(libc::SIGHUP));
    assert_eq!(parse_signal("SIGUSR1"), Some(libc::SIGUSR1));
    assert_eq!(parse_signal("9"), Some(9));
    // 0 sends nothing: `svctl kill NAME 0` asks whether the process exists.
    assert_eq!(parse_signal("0"), Some(0));
    assert_eq!(parse_signal("-1"), None);
    assert_eq!(parse_signal("65"), None);
    assert_eq!(parse_signal("NOPE"), None);
    assert_eq!(parse_signal(""), None);
}

#[test]
fn default_socket_paths_follow_spec_section_1() {
    assert_eq!(
        default_socket_path_for(0, Some("/run/user/0".into())),
        PathBuf::from("/run/svinit/control.sock")
    );
    assert_eq!(
        default_socket_path_for(1000, Some("/run/user/1000".into())),
        PathBuf::from("/run/user/1000/svinit/control.sock")
    );
    assert_eq!(
        default_socket_path_for(1000, None),
        PathBuf::from("/tmp/svinit-1000/control.sock")
    );
    // A relative or empty XDG_RUNTIME_DIR is ignored, as the XDG spec says.
    assert_eq!(
        default_socket_path_for(1000, Some("".into())),
        PathBuf::from("/tmp/svinit-1000/control.sock")
    );
    assert_eq!(
        default_socket_path_for(1000, Some("relative".into())),
        PathBuf::from("/tmp/svinit-1000/control.sock")
    );
    assert_eq!(
        socket_path(Some("/x/y.sock".into())),
        PathBuf::from("/x/y.sock")
    );
}

#[test]
fn wall_clock_converts_instants_both_ways() {
    let clock = WallClock {
        instant: Instant::now(),
        system: UNIX_EPOCH + Duration::from_secs(1_000),
    };
    let earlier = clock.instant - Duration::from_millis(1_500);
    assert_eq!(clock.unix_seconds(earlier), 998.5);
    assert_eq!(clock.unix_secs(earlier), 998);
    let later = clock.instant + Duration::from_millis(2_250);
    assert_eq!(clock.unix_seconds(later), 1_002.25);
    assert_eq!(clock.seconds_until(later), 2.25);
    assert_eq!(clock.seconds_until(earlier), 0.0);
}
