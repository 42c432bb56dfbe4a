//! The decisions that once lived in the runtime, on the fake clock: what a
//! signal svinit receives means in each role, with and without a main
//! command; the refusals returned to `svctl`.

use super::harness::{Harness, config, names, secs, service};
use super::*;

const ROLES: [Role; 3] = [Role::System, Role::Container, Role::User];

fn chain(role: Role) -> Harness {
    let mut web = service("web");
    web.requires = names(&["db"]);
    Harness::with_role(config(vec![service("db"), web]), role).booted()
}

fn with_main(role: Role) -> Harness {
    let mut h = Harness::with_role(config(vec![service("web")]), role);
    h.sup.set_main_command();
    h.booted()
}

#[test]
fn term_and_int_shut_down_with_0_outside_the_system_role_once_logged() {
    for role in [Role::Container, Role::User] {
        for signal in [libc::SIGTERM, libc::SIGINT] {
            let mut h = chain(role);
            h.event(Event::Signal(signal));
            assert!(h.sup.is_shutting_down());
            assert_eq!(h.reached(StateKind::Down), names(&["web", "db"]));
            h.event(Event::Signal(signal));
            let said: Vec<Notice> = h.notices();
            assert_eq!(
                said,
                vec![Notice::ShutdownBySignal {
                    signal,
                    before_main: false
                }],
                "a second signal is not logged again"
            );
            h.event(Event::NoChildren);
            assert_eq!(h.exit_code(), Some(0));
            assert_eq!(h.power(), None);
        }
    }
}

#[test]
fn on_a_booted_system_signals_ask_for_reboot_halt_or_poweroff() {
    for (signal, kind) in [
        (libc::SIGTERM, PowerKind::Reboot),
        (libc::SIGINT, PowerKind::Reboot),
        (libc::SIGUSR1, PowerKind::Halt),
        (libc::SIGUSR2, PowerKind::Poweroff),
    ] {
        let mut h = chain(Role::System);
        h.event(Event::Signal(signal));
        assert_eq!(h.reached(StateKind::Down), names(&["web", "db"]));
        assert_eq!(
            h.notices(),
            vec![Notice::PowerRequested {
                kind,
                by: format!("SIG{}", signal_name(signal)),
            }]
        );
        h.event(Event::NoChildren);
        assert_eq!(h.power(), Some(kind));
        assert_eq!(h.exit_code(), None);
        assert!(!h.effects().contains(&Action::ReopenTranscripts));
    }
}

#[test]
fn hup_reloads_and_usr1_reopens_transcripts_outside_the_system_role() {
    for role in ROLES {
        let mut h = chain(role);
        h.clear_log();
        h.event(Event::Signal(libc::SIGHUP));
        assert_eq!(h.effects(), vec![Action::Reload], "{role}");
        h.clear_log();
        h.event(Event::Signal(libc::SIGUSR1));
        if role == Role::System {
            assert!(h.sup.is_shutting_down(), "USR1 halts a booted system");
        } else {
            assert_eq!(h.effects(), vec![Action::ReopenTranscripts], "{role}");
            assert!(!h.sup.is_shutting_down());
        }
    }
}

#[test]
fn other_signals_are_ignored_and_said_so() {
    for role in ROLES {
        let mut h = chain(role);
        h.clear_log();
        let mut ignored = vec![libc::SIGQUIT, libc::SIGWINCH, libc::SIGPIPE, libc::SIGCONT];
        if role != Role::System {
            ignored.push(libc::SIGUSR2);
        }
        for &signal in &ignored {
            h.event(Event::Signal(signal));
        }
        assert!(h.effects().is_empty(), "{role}: {:?}", h.effects());
        assert!(!h.sup.is_shutting_down());
        let expected: Vec<Notice> = ignored
            .iter()
            .map(|&signal| Notice::SignalIgnored { signal })
            .collect();
        assert_eq!(h.notices(), expected);
        assert!(
            h.notices()
                .iter()
                .all(|n| n.level() == crate::log::Level::Debug)
        );
    }
}

#[test]
fn with_a_main_command_every_signal_but_pipe_is_the_commands_in_every_role() {
    for role in ROLES {
        let mut h = with_main(role);
        h.obey_signals = false;
        let main = h.sup.main_pid().expect("main runs");
        // What each role would make of them alone: shutdown, power, reload.
        let svinits = [libc::SIGTERM, libc::SIGINT, libc::SIGHUP, libc::SIGUSR1];
        for signal in svinits.into_iter().chain([libc::SIGUSR2]) {
            h.event(Event::Signal(signal));
            assert_eq!(h.signals().last(), Some(&(main, signal, true)), "{role}");
        }
        assert!(!h.sup.is_shutting_down(), "{role}: the command's to act on");
        assert!(!h.effects().contains(&Action::Reload));
        h.clear_log();
        h.event(Event::Signal(libc::SIGPIPE));
        assert!(h.signals().is_empty(), "{role}: SIGPIPE is svinit's own");
        assert_eq!(
            h.notices(),
            vec![Notice::SignalIgnored {
                signal: libc::SIGPIPE
            }]
        );
    }
}

#[test]
fn a_signal_for_a_main_command_that_is_gone_is_dropped() {
    let mut h = with_main(Role::Container);
    h.main_exit(ExitStatus::Exited(0));
    h.pump();
    h.clear_log();
    h.event(Event::Signal(libc::SIGHUP));
    assert!(h.signals().is_empty());
    assert_eq!(
        h.notices(),
        vec![Notice::SignalDropped {
            signal: libc::SIGHUP
        }]
    );
}

#[test]
fn power_requests_are_the_system_roles_and_shutdown_requests_the_others() {
    for role in [Role::Container, Role::User] {
        let mut h = chain(role);
        let now = h.now;
        assert_eq!(
            h.sup.request_power(now, PowerKind::Reboot, "svctl reboot"),
            Err(Refusal::NotInRole(role))
        );
        assert!(!h.sup.is_shutting_down());
        assert_eq!(h.sup.request_shutdown(now), Ok(()));
        h.pump();
        assert_eq!(h.notices(), vec![Notice::ShutdownRequested]);
        assert!(h.sup.is_shutting_down());
    }
    let mut h = chain(Role::System);
    let now = h.now;
    assert_eq!(
        h.sup.request_shutdown(now),
        Err(Refusal::NotInRole(Role::System))
    );
    assert!(!h.sup.is_shutting_down());
    let by = "svctl halt (uid 0 pid 7)";
    assert_eq!(h.sup.request_power(now, PowerKind::Halt, by), Ok(()));
    h.pump();
    assert_eq!(
        h.sup.request_power(now, PowerKind::Reboot, by),
        Ok(()),
        "a second request is no error"
    );
    h.pump();
    assert_eq!(
        h.notices(),
        vec![Notice::PowerRequested {
            kind: PowerKind::Halt,
            by: by.to_string()
        }]
    );
    h.drive();
    assert_eq!(h.power(), Some(PowerKind::Halt), "the first kind stands");
}

fn shell_unit() -> crate::config::ServiceConfig {
    let mut shell = service("emergency-shell");
    shell.tty = Some("/dev/ttyS0".into());
    shell
}

#[test]
fn an_invalid_config_at_boot_starts_the_emergency_shell_until_a_reload() {
    let mut h = Harness::with_role(config(Vec::new()), Role::System);
    h.sup.set_emergency_shell(shell_unit());
    let now = h.now;
    h.sup.boot_without_config(now);
    h.pump();
    assert_eq!(
        h.notices(),
        vec![Notice::EmergencyShell {
            tty: "/dev/ttyS0".into(),
            at_boot: true
        }]
    );
    assert_eq!(h.state("emergency-shell"), StateKind::Up);
    assert!(!h.sup.is_shutting_down());
    h.sup.check_invariants().unwrap();

    // The fixed config replaces it.
    let summary = h.sup.reload(now, config(vec![service("web")]));
    h.pump();
    assert_eq!(summary.added, names(&["web"]));
    assert_eq!(summary.removed, names(&["emergency-shell"]));
    assert_eq!(h.state("web"), StateKind::Up);
    assert_eq!(
        h.sup.id_of("emergency-shell"),
        None,
        "stopped and forgotten"
    );
}

#[test]
fn without_a_shell_an_invalid_config_waits_for_a_reload() {
    let mut h = Harness::with_role(config(Vec::new()), Role::System);
    let now = h.now;
    h.sup.boot_without_config(now);
    h.pump();
    assert_eq!(
        h.notices(),
        vec![Notice::NoEmergencyShell { at_boot: true }]
    );
    assert_eq!(h.sup.ids().count(), 0);
    assert!(!h.sup.is_shutting_down(), "a booted system never exits");
}

#[test]
fn an_invalid_config_at_boot_exits_1_where_svinit_may_exit() {
    for role in [Role::Container, Role::User] {
        let mut h = Harness::with_role(config(Vec::new()), role);
        h.sup.set_emergency_shell(shell_unit());
        let now = h.now;
        h.sup.boot_without_config(now);
        h.pump();
        h.event(Event::NoChildren);
        assert_eq!(h.exit_code(), Some(1));
        assert_eq!(h.sup.id_of("emergency-shell"), None);
    }
}

#[test]
fn a_critical_end_on_a_booted_system_starts_the_emergency_shell_once() {
    let mut app = service("app");
    app.critical = true;
    app.restart = crate::config::RestartPolicy::Never;
    let mut db = app.clone();
    db.name = "db".into();
    let mut h = Harness::with_role(config(vec![app, db, service("web")]), Role::System);
    h.sup.set_emergency_shell(shell_unit());
    let mut h = h.booted();
    h.clear_log();
    h.exit("app", 3);
    assert_eq!(
        h.notices(),
        vec![
            Notice::CriticalEnded {
                service: "app".into(),
                exit_code: 3,
                shutdown: false
            },
            Notice::EmergencyShell {
                tty: "/dev/ttyS0".into(),
                at_boot: false
            },
        ]
    );
    assert_eq!(h.state("emergency-shell"), StateKind::Up);
    assert_eq!(h.state("web"), StateKind::Up, "the rest runs on");
    assert!(!h.sup.is_shutting_down());
    assert_eq!(
        h.transitions().last().map(|t| t.name.as_str()),
        Some("emergency-shell"),
        "the shell starts after the failure is reported"
    );
    h.clear_log();
    h.exit("db", 4);
    assert_eq!(h.starts("emergency-shell"), 0, "one shell");
    assert_eq!(h.notices().len(), 1, "{:?}", h.notices());
    h.sup.check_invariants().unwrap();
}

#[test]
fn a_critical_end_where_svinit_may_exit_starts_no_shell() {
    let mut app = service("app");
    app.critical = true;
    app.restart = crate::config::RestartPolicy::Never;
    let mut h = Harness::with_role(config(vec![app]), Role::Container);
    h.sup.set_emergency_shell(shell_unit());
    let mut h = h.booted();
    h.exit("app", 3);
    assert!(h.sup.is_shutting_down());
    assert_eq!(h.sup.id_of("emergency-shell"), None);
    h.event(Event::NoChildren);
    assert_eq!(h.exit_code(), Some(3));
}

/// A `ready-fd` service `db`, spawned and exec'd, not ready yet.
fn starting_db() -> Harness {
    let mut db = service("db");
    db.ready_fd = Some(3);
    let mut h = Harness::new(config(vec![db]))
        .with("db", super::harness::Behaviour::Hold)
        .booted();
    h.exec("db");
    h
}

#[test]
fn readiness_from_a_process_that_is_not_the_services_is_stale() {
    let mut h = starting_db();
    let db = h.id("db");
    let old = h.pid("db");
    h.restart("db");
    let new = h.pid("db");
    assert_ne!(old, new);
    h.exec("db");
    h.clear_log();
    h.event(Event::Ready {
        service: db,
        pid: Some(old),
    });
    assert_eq!(h.state("db"), StateKind::Starting, "the old run's newline");
    assert_eq!(
        h.notices(),
        vec![Notice::StaleReadiness {
            service: "db".into(),
            pid: old
        }]
    );
    h.event(Event::Ready {
        service: db,
        pid: Some(new),
    });
    assert_eq!(h.state("db"), StateKind::Up);
}

#[test]
fn notify_messages_count_while_the_config_has_ready_notify() {
    let mut db = service("db");
    db.ready_notify = true;
    db.watchdog = Some(secs(5));
    let mut h = Harness::new(config(vec![db.clone(), service("web")]))
        .with("db", super::harness::Behaviour::Hold)
        .booted();
    let id = h.id("db");
    h.exec("db");
    // Whoever sent it: the socket is the service's.
    h.event(Event::Ready {
        service: id,
        pid: None,
    });
    assert_eq!(h.state("db"), StateKind::Up);
    let text = |text: &str| Event::NotifyStatus {
        service: id,
        text: text.into(),
    };
    h.event(text("serving"));
    assert_eq!(h.status("db").status_text.as_deref(), Some("serving"));

    // A reload drops ready-notify: the running process's socket is not
    // listened to any more, for any message.
    db.ready_notify = false;
    db.watchdog = None;
    let now = h.now;
    h.sup.reload(now, config(vec![db, service("web")]));
    h.clear_log();
    h.event(text("ignored"));
    h.event(Event::Watchdog {
        service: id,
        message: WatchdogMessage::Trigger,
    });
    assert_eq!(h.status("db").status_text.as_deref(), Some("serving"));
    assert_eq!(h.state("db"), StateKind::Up, "the trigger is not heard");
    assert!(h.notices().is_empty());
    // A ready-fd service does not take READY=1 from a socket it has not.
    let web = h.id("web");
    h.event(Event::Ready {
        service: web,
        pid: None,
    });
    assert!(h.notices().is_empty());
}

#[test]
fn a_ready_fd_that_ends_without_a_newline_is_reported_for_the_current_start_only() {
    let mut h = starting_db();
    let db = h.id("db");
    let pid = h.pid("db");
    let closed = |pid| Event::ReadyFdFailed {
        service: db,
        pid,
        problem: ReadyFdProblem::ClosedWithoutNewline,
    };
    h.event(closed(pid + 1));
    assert!(h.notices().is_empty(), "not its process");
    h.event(closed(pid));
    assert_eq!(
        h.notices(),
        vec![Notice::ReadyFdFailed {
            service: "db".into(),
            problem: ReadyFdProblem::ClosedWithoutNewline
        }]
    );
    assert_eq!(h.notices()[0].level(), crate::log::Level::Warn);
    assert_eq!(h.state("db"), StateKind::Starting, "until start-timeout");

    // Once up, closing the pipe is nothing; a flood is still said.
    h.ready("db");
    h.clear_log();
    h.event(closed(pid));
    assert!(h.notices().is_empty());
    let flooded = ReadyFdProblem::Flooded { bytes: 4096 };
    h.event(Event::ReadyFdFailed {
        service: db,
        pid,
        problem: flooded,
    });
    assert_eq!(
        h.notices().last().map(ToString::to_string).as_deref(),
        Some("wrote 4096 bytes to its ready-fd without a newline: not ready, the pipe is closed")
    );
}

#[test]
fn starts_and_restarts_are_refused_once_shutting_down_stops_are_not() {
    let mut h = chain(Role::Container);
    let (db, web) = (h.id("db"), h.id("web"));
    let now = h.now;
    assert_eq!(h.sup.restart(now, web), Ok(()));
    h.pump();
    h.shutdown(0);
    h.clear_log();
    assert_eq!(h.sup.start(now, db), Err(Refusal::ShuttingDown));
    assert_eq!(h.sup.restart(now, web), Err(Refusal::ShuttingDown));
    h.sup.stop(now, db);
    h.pump();
    assert!(
        h.effects()
            .iter()
            .all(|a| !matches!(a, Action::Spawn { .. }))
    );
}

#[test]
fn kill_signals_the_services_process_or_its_group_never_init_or_svinits() {
    let mut h = chain(Role::Container);
    let db = h.id("db");
    let pid = h.pid("db");
    let group = |pgid| KillTarget::Group {
        pid,
        pgid,
        svinit_pgid: 7,
    };
    let order = |pid, group| SignalOrder {
        pid,
        signal: libc::SIGUSR1,
        group,
    };
    assert_eq!(
        h.sup.kill(db, libc::SIGUSR1, KillTarget::Process),
        Ok(order(pid, false))
    );
    // A daemon of a `shell` service is in its /bin/sh's group.
    assert_eq!(
        h.sup.kill(db, libc::SIGUSR1, group(42)),
        Ok(order(42, true))
    );
    for pgid in [0, 1, 7] {
        assert_eq!(
            h.sup.kill(db, libc::SIGUSR1, group(pgid)),
            Err(Refusal::ForbiddenGroup { pid, pgid })
        );
    }
    let stale = KillTarget::Group {
        pid: pid + 1,
        pgid: 42,
        svinit_pgid: 7,
    };
    assert_eq!(
        h.sup.kill(db, libc::SIGUSR1, stale),
        Err(Refusal::NotItsProcess(pid + 1))
    );
    assert_eq!(
        h.sup.kill(db, 0, KillTarget::Process),
        Ok(SignalOrder {
            signal: 0,
            ..order(pid, false)
        })
    );
    assert_eq!(
        h.sup.kill(db, 65, KillTarget::Process),
        Err(Refusal::NoSuchSignal(65))
    );
    h.stop("web");
    h.stop("db");
    assert_eq!(
        h.sup.kill(db, libc::SIGUSR1, KillTarget::Process),
        Err(Refusal::NotRunning(StateKind::Down))
    );
    assert_eq!(
        h.sup
            .kill(ServiceId(99), libc::SIGUSR1, KillTarget::Process),
        Err(Refusal::NotRunning(StateKind::Down))
    );
    assert!(
        h.effects().iter().all(|a| !matches!(
            a,
            Action::Signal {
                signal: libc::SIGUSR1,
                ..
            }
        )),
        "an order is the runtime's to send, at once"
    );
}

#[test]
fn a_removed_service_is_forgotten_by_an_action_once_stopped() {
    let mut h = Harness::boot(config(vec![service("db"), service("web"), service("idle")]));
    let (web, idle) = (h.id("web"), h.id("idle"));
    h.stop("idle");
    h.obey_signals = false;
    h.clear_log();
    let now = h.now;
    h.sup.reload(now, config(vec![service("db")]));
    h.pump();
    // Down already: forgotten during the reload itself.
    let forgotten = |h: &Harness| {
        h.effects()
            .into_iter()
            .filter(|action| matches!(action, Action::Forget { .. }))
            .collect::<Vec<_>>()
    };
    assert_eq!(forgotten(&h), vec![Action::Forget { service: idle }]);
    assert_eq!(h.state("web"), StateKind::Stopping);
    h.exit("web", 0);
    assert_eq!(
        forgotten(&h),
        vec![
            Action::Forget { service: idle },
            Action::Forget { service: web }
        ]
    );
    assert_eq!(h.sup.try_status(web), None);
}

#[test]
fn events_that_do_not_fit_the_state_are_logged_at_debug_level() {
    let mut h = Harness::boot(config(vec![service("web")]));
    let web = h.id("web");
    let pid = h.pid("web");
    h.clear_log();
    h.event(Event::Execed { pid });
    h.event(Event::SpawnFailed {
        service: web,
        failure: super::harness::exec_failure(),
    });
    h.event(Event::PidFile {
        service: web,
        result: Ok(PidClaim::trusted(pid)),
    });
    assert_eq!(h.state("web"), StateKind::Up);
    let ignored = |event| Notice::Ignored {
        service: "web".into(),
        event,
        state: StateKind::Up,
    };
    assert_eq!(
        h.notices(),
        vec![
            ignored("exec"),
            ignored("spawn failure"),
            ignored("pid file")
        ]
    );
    assert_eq!(h.notices()[0].to_string(), "ignored exec while up");
    assert!(
        h.notices()
            .iter()
            .all(|n| n.level() == crate::log::Level::Debug)
    );
    assert!(h.effects().is_empty(), "nothing else happens");
}
