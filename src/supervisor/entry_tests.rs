//! The container-entrypoint rules on the fake clock: the main command
//! (boot settled, signals, exit status, stop order), `critical`,
//! readiness (ready-fd/notify, oneshot, start-timeout) and `type "forking"`.

use std::time::Duration;

use crate::config::{RestartPolicy, ServiceType};

use super::harness::{Behaviour, Harness, config, exec_failure, names, secs, service, term_sweep};
use super::main_command::MAIN_STOP_TIMEOUT;
use super::service::{PID_FILE_RETRY_MAX, PID_FILE_RETRY_MIN};
use super::*;

fn term(pid: i32) -> (i32, i32, bool) {
    (pid, libc::SIGTERM, true)
}

fn kill(pid: i32) -> (i32, i32, bool) {
    (pid, libc::SIGKILL, true)
}

fn with_main(config: Config) -> Harness {
    let mut h = Harness::new(config);
    h.sup.set_main_command();
    h.booted()
}

/// The sweep after the units, then no children: svinit exits.
fn finish(h: &mut Harness) -> Option<i32> {
    h.event(Event::NoChildren);
    h.exit_code()
}

// --- the main command ---

#[test]
fn alone_the_main_command_starts_at_once_and_its_status_is_svinits() {
    let mut h = with_main(config(vec![]));
    assert!(h.main_started());
    assert!(h.sup.main_pid().is_some());
    h.main_exit(ExitStatus::Exited(7));
    h.pump();
    assert!(h.effects().ends_with(&term_sweep()), "{:?}", h.effects());
    assert_eq!(finish(&mut h), Some(7));
}

#[test]
fn a_signal_death_of_the_main_command_is_128_plus_n() {
    let mut h = with_main(config(vec![]));
    h.main_exit(ExitStatus::Signaled {
        signal: libc::SIGUSR1,
        core: false,
    });
    h.pump();
    assert_eq!(finish(&mut h), Some(128 + libc::SIGUSR1));
}

#[test]
fn the_main_command_waits_for_the_first_try_of_every_autostart_unit() {
    let mut db = service("db");
    db.ready_fd = Some(3);
    let mut setup = service("setup");
    setup.service_type = ServiceType::Oneshot;
    let mut flaky = service("flaky");
    flaky.backoff_limit = secs(3);
    let mut lazy = service("lazy");
    lazy.autostart = false;
    let mut h = Harness::new(config(vec![db, setup, flaky, lazy]))
        .with("setup", Behaviour::Hold)
        .with("flaky", Behaviour::FailSpawn(exec_failure()));
    h.sup.set_main_command();
    let mut h = h.booted();
    assert_eq!(h.state("flaky"), StateKind::Backoff);
    assert!(!h.main_started(), "db is starting, setup runs");
    h.ready("db");
    assert!(!h.main_started());
    h.exit("setup", 0);
    assert_eq!(h.state("setup"), StateKind::Done);
    assert!(
        h.main_started(),
        "up, done, and in backoff after its first try: the boot has settled"
    );
    assert_eq!(h.state("lazy"), StateKind::Down, "not waited for");
}

#[test]
fn boot_settled_is_reported_once_without_a_main_command() {
    let mut db = service("db");
    db.ready_fd = Some(3);
    let mut flaky = service("flaky");
    flaky.backoff_limit = secs(2);
    let mut h =
        Harness::new(config(vec![db, flaky])).with("flaky", Behaviour::FailSpawn(exec_failure()));
    h.sup.report_boot_settled();
    let mut h = h.booted();
    assert_eq!(h.boot_settled_count(), 0, "db is starting");
    h.ready("db");
    assert_eq!(h.state("flaky"), StateKind::Backoff);
    assert_eq!(h.boot_settled_count(), 1, "flaky's first try has ended");
    assert!(!h.main_started());
    h.advance(secs(1));
    assert_eq!(h.state("flaky"), StateKind::Failed);
    let _ = h.sup.start(h.now, h.id("flaky"));
    h.pump();
    h.advance(secs(5));
    assert_eq!(h.boot_settled_count(), 1, "only once");
}

/// SPEC §2: a sidecar that is never ready delays the main command by one
/// `start-timeout`, `forever` or not; so do the units that wait for it,
/// however far down the chain (their first try cannot come).
#[test]
fn a_sidecar_never_ready_delays_the_main_command_by_one_start_timeout() {
    for forever in [false, true] {
        let mut sidecar = service("sidecar");
        sidecar.ready_fd = Some(3);
        sidecar.start_timeout = secs(5);
        sidecar.forever = forever;
        let mut app = service("app");
        app.requires = names(&["sidecar"]);
        let mut web = service("web");
        web.wants = names(&["app"]);
        let mut late = service("late");
        late.after = names(&["web"]);
        let mut h = Harness::new(config(vec![late, web, app, sidecar, service("db")]));
        h.sup.set_main_command();
        let mut h = h.booted();
        h.advance(Duration::from_millis(4999));
        assert!(!h.main_started(), "sidecar's first try goes on");
        h.advance(Duration::from_millis(1));
        assert_eq!(h.state("sidecar"), StateKind::Backoff);
        assert_eq!(h.state("app"), StateKind::Waiting);
        assert!(h.main_started(), "forever {forever}");
        assert_eq!(h.spawn_times("sidecar"), vec![Duration::ZERO]);
        assert_eq!(h.starts("late"), 0);
    }
}

/// Whether the boot has settled is known in constant time (a count kept
/// as states change): a 10,000-long `requires` chain declared from its
/// end, readied one by one, boots in well under a second.
#[test]
fn a_long_chain_declared_backwards_settles_in_linear_time() {
    const N: usize = 10_000;
    let services: Vec<ServiceConfig> = (0..N)
        .rev()
        .map(|i| {
            let mut link = service(&format!("s{i}"));
            link.ready_fd = Some(3);
            if i > 0 {
                link.requires = vec![format!("s{}", i - 1)];
            }
            link
        })
        .collect();
    let started = std::time::Instant::now();
    let mut h = Harness::new(config(services));
    h.sup.set_main_command();
    let mut h = h.booted();
    for i in 0..N {
        assert!(h.sup.main_pid().is_none(), "s{i} is starting");
        h.ready(&format!("s{i}"));
    }
    assert!(h.main_started());
    let elapsed = started.elapsed();
    let budget = Duration::from_secs(if cfg!(debug_assertions) { 3 } else { 1 });
    assert!(elapsed < budget, "boot took {elapsed:?}");
}

/// Once a unit's first try has ended, its next tries do not hold the main
/// command, even when one is under way at the moment the boot settles.
#[test]
fn a_units_second_try_does_not_hold_the_main_command() {
    let mut flaky = service("flaky");
    flaky.forever = true;
    let mut slow = service("slow");
    slow.ready_fd = Some(3);
    let mut h = Harness::new(config(vec![flaky, slow]))
        .with("flaky", Behaviour::Crash(ExitStatus::Exited(1)));
    h.sup.set_main_command();
    let mut h = h.booted();
    assert_eq!(h.state("flaky"), StateKind::Backoff);
    h.set("flaky", Behaviour::Hold);
    h.advance(secs(1));
    assert_eq!(h.state("flaky"), StateKind::Starting, "its second try");
    assert!(!h.main_started(), "slow is starting");
    h.ready("slow");
    assert!(h.main_started());
}

/// A `critical` unit in backoff after its first try lets the main command
/// start; when it gives up, svinit still ends, with its status.
#[test]
fn a_critical_unit_that_gives_up_after_the_main_command_started_ends_svinit() {
    let mut db = service("db");
    db.critical = true;
    db.backoff_limit = secs(3);
    let mut h = Harness::new(config(vec![db, service("web")]))
        .with("db", Behaviour::FailSpawn(exec_failure()));
    h.sup.set_main_command();
    let mut h = h.booted();
    assert!(h.main_started());
    let main = h.sup.main_pid().unwrap();
    h.clear_log();
    h.drive();
    assert_eq!(h.state("db"), StateKind::Failed);
    assert_eq!(h.signals().first(), Some(&term(main)));
    assert_eq!(finish(&mut h), Some(127));
}

#[test]
fn boot_settled_is_not_reported_when_a_shutdown_comes_first() {
    let mut db = service("db");
    db.ready_fd = Some(3);
    let mut h = Harness::new(config(vec![db]));
    h.sup.report_boot_settled();
    let mut h = h.booted();
    h.shutdown(0);
    h.advance(secs(20));
    assert_eq!(h.boot_settled_count(), 0);
}

#[test]
fn when_the_main_command_exits_the_units_stop_in_reverse_order() {
    let db = service("db");
    let mut web = service("web");
    web.requires = names(&["db"]);
    let mut h = with_main(config(vec![db, web]));
    assert!(h.main_started());
    let (db, web) = (h.pid("db"), h.pid("web"));
    h.clear_log();
    h.main_exit(ExitStatus::Exited(3));
    h.pump();
    assert_eq!(h.signals(), vec![term(web), term(db)]);
    assert_eq!(h.reached(StateKind::Down), names(&["web", "db"]));
    assert_eq!(finish(&mut h), Some(3));
}

#[test]
fn signals_are_forwarded_to_the_main_commands_group() {
    let mut h = with_main(config(vec![service("web")]));
    let main = h.sup.main_pid().unwrap();
    h.obey_signals = false;
    h.clear_log();
    for signal in [
        libc::SIGTERM,
        libc::SIGINT,
        libc::SIGHUP,
        libc::SIGQUIT,
        libc::SIGUSR1,
        libc::SIGUSR2,
        libc::SIGWINCH,
        libc::SIGTSTP,
        libc::SIGCONT,
    ] {
        h.event(Event::Signal(signal));
        assert_eq!(
            h.notices().last(),
            Some(&Notice::SignalForwarded { signal, pid: main })
        );
        let sent = h.all_signals();
        if signal == libc::SIGTERM {
            // So that a stopped command acts on it.
            assert!(sent.ends_with(&[(main, signal, true), (main, libc::SIGCONT, true)]));
        } else {
            assert_eq!(sent.last(), Some(&(main, signal, true)));
        }
    }
    assert!(
        !h.sup.is_shutting_down(),
        "a forwarded TERM is the command's"
    );
    assert_eq!(h.state("web"), StateKind::Up);
}

#[test]
fn term_before_the_main_command_started_shuts_down_with_128_plus_15() {
    let mut db = service("db");
    db.ready_notify = true;
    let mut h = with_main(config(vec![db]));
    h.event(Event::Signal(libc::SIGHUP));
    assert_eq!(
        h.notices(),
        vec![Notice::SignalDropped {
            signal: libc::SIGHUP
        }]
    );
    assert!(!h.sup.is_shutting_down());
    h.event(Event::Signal(libc::SIGTERM));
    assert_eq!(
        h.notices().last(),
        Some(&Notice::ShutdownBySignal {
            signal: libc::SIGTERM,
            before_main: true
        })
    );
    assert_eq!(h.state("db"), StateKind::Down);
    assert_eq!(finish(&mut h), Some(143));
    assert!(!h.main_started());
}

#[test]
fn a_shutdown_stops_the_main_command_first_and_kills_it_after_the_timeout() {
    let mut h = with_main(config(vec![service("web")]));
    let main = h.sup.main_pid().unwrap();
    let web = h.pid("web");
    h.main_stubborn = true;
    h.clear_log();
    h.shutdown(0);
    assert_eq!(
        h.signals(),
        vec![term(main)],
        "web waits for the main command"
    );
    assert_eq!(h.state("web"), StateKind::Up);
    h.advance(MAIN_STOP_TIMEOUT);
    assert_eq!(h.signals(), vec![term(main), kill(main), term(web)]);
    assert_eq!(h.state("web"), StateKind::Down);
    assert_eq!(
        finish(&mut h),
        Some(0),
        "the shutdown's code, not the KILL's"
    );
}

#[test]
fn the_shutdowns_sigterm_to_the_main_command_is_followed_by_sigcont() {
    let mut h = with_main(config(vec![]));
    let main = h.sup.main_pid().unwrap();
    h.obey_signals = false;
    h.clear_log();
    h.shutdown(0);
    assert_eq!(
        h.all_signals(),
        vec![term(main), (main, libc::SIGCONT, true)]
    );
}

#[test]
fn an_unkillable_main_command_does_not_stall_the_shutdown() {
    let mut h = with_main(config(vec![service("web")]));
    let main = h.sup.main_pid().unwrap();
    let web = h.pid("web");
    h.main_unkillable = true;
    h.clear_log();
    h.shutdown(0);
    h.advance(MAIN_STOP_TIMEOUT);
    assert_eq!(h.signals(), vec![term(main), kill(main)]);
    assert_eq!(h.state("web"), StateKind::Up, "still held by the command");
    h.advance(secs(5));
    assert!(h.effects().contains(&Action::MainUnkillable {
        pid: main,
        after: secs(5)
    }));
    assert_eq!(h.signals(), vec![term(main), kill(main), term(web)]);
    assert_eq!(h.state("web"), StateKind::Down);
    assert_eq!(finish(&mut h), Some(0));
    h.sup.check_invariants().unwrap();
}

#[test]
fn a_main_command_that_cannot_be_executed_gives_126_or_127() {
    for (errno, code) in [(libc::ENOENT, 127), (libc::EACCES, 126)] {
        let mut h = Harness::new(config(vec![service("web")]));
        h.sup.set_main_command();
        let mut h = h.booted();
        let mut failure = exec_failure();
        failure.errno = errno;
        h.event(Event::MainSpawnFailed { failure });
        assert_eq!(h.state("web"), StateKind::Down);
        assert_eq!(finish(&mut h), Some(code));
    }
}

#[test]
fn a_stray_exit_is_not_the_main_commands() {
    let mut h = with_main(config(vec![]));
    h.event(Event::Exited {
        pid: 4242,
        status: ExitStatus::Exited(1),
    });
    assert!(!h.sup.is_shutting_down());
    assert_eq!(h.sup.orphans_reaped(), 1);
}

// --- critical ---

fn critical_chain() -> Vec<ServiceConfig> {
    let db = service("db");
    let mut app = service("app");
    app.requires = names(&["db"]);
    let mut proxy = service("proxy");
    proxy.after = names(&["db"]);
    let mut worker = service("worker");
    worker.critical = true;
    worker.restart = RestartPolicy::Never;
    worker.after = names(&["app"]);
    vec![db, app, proxy, worker]
}

#[test]
fn a_critical_service_failing_stops_everything_in_reverse_order_with_its_status() {
    let mut h = Harness::boot(config(critical_chain()));
    let pids = [h.pid("app"), h.pid("proxy"), h.pid("db")];
    h.clear_log();
    h.exit("worker", 3);
    assert_eq!(h.state("worker"), StateKind::Failed);
    assert!(h.notices().contains(&Notice::CriticalEnded {
        service: "worker".into(),
        exit_code: 3,
        shutdown: true
    }));
    let stopped: Vec<i32> = h.signals().iter().map(|s| s.0).collect();
    assert_eq!(stopped, pids.to_vec(), "app and proxy before db");
    assert_eq!(h.reached(StateKind::Down), names(&["app", "proxy", "db"]));
    assert_eq!(finish(&mut h), Some(3));
}

#[test]
fn a_critical_service_that_gives_up_exits_with_its_last_status() {
    let mut worker = service("worker");
    worker.critical = true;
    worker.backoff_limit = secs(2);
    let mut h = Harness::new(config(vec![worker]))
        .with(
            "worker",
            Behaviour::Crash(ExitStatus::Signaled {
                signal: libc::SIGSEGV,
                core: true,
            }),
        )
        .booted();
    h.drive();
    assert_eq!(h.starts("worker"), 2);
    assert_eq!(finish(&mut h), Some(128 + libc::SIGSEGV));
}

#[test]
fn a_critical_longrun_that_finishes_cleanly_ends_svinit_with_0_but_a_oneshot_does_not() {
    let mut app = service("app");
    app.critical = true;
    let mut setup = service("setup");
    setup.critical = true;
    setup.service_type = ServiceType::Oneshot;
    let mut h = Harness::new(config(vec![app, setup]))
        .with("setup", Behaviour::Crash(ExitStatus::Exited(0)))
        .booted();
    assert_eq!(h.state("setup"), StateKind::Done);
    assert!(!h.sup.is_shutting_down(), "a oneshot's done is its success");
    h.exit("app", 0);
    assert_eq!(h.state("app"), StateKind::Done);
    assert_eq!(finish(&mut h), Some(0));
}

#[test]
fn a_critical_service_stopped_by_an_operator_ends_nothing() {
    let mut app = service("app");
    app.critical = true;
    let mut h = Harness::boot(config(vec![app, service("web")]));
    h.stop("app");
    assert_eq!(h.state("app"), StateKind::Down);
    assert!(!h.sup.is_shutting_down());
}

#[test]
fn in_system_mode_a_critical_end_is_only_reported() {
    let mut app = service("app");
    app.critical = true;
    app.restart = RestartPolicy::Never;
    let mut h = Harness::with_role(config(vec![app, service("web")]), Role::System).booted();
    h.exit("app", 1);
    assert!(h.notices().contains(&Notice::CriticalEnded {
        service: "app".into(),
        exit_code: 1,
        shutdown: false
    }));
    assert!(!h.sup.is_shutting_down());
    assert_eq!(h.state("web"), StateKind::Up);
}

#[test]
fn a_failed_critical_unit_ends_svinit_instead_of_starting_the_main_command() {
    let mut db = service("db");
    db.critical = true;
    db.restart = RestartPolicy::Never;
    let mut h = Harness::new(config(vec![db, service("web")]))
        .with("db", Behaviour::FailSpawn(exec_failure()));
    h.sup.set_main_command();
    let mut h = h.booted();
    h.drive();
    assert_eq!(h.state("db"), StateKind::Failed);
    assert!(!h.main_started());
    assert_eq!(finish(&mut h), Some(127));
}

#[test]
fn a_critical_failure_while_the_main_command_runs_stops_it_first() {
    let mut worker = service("worker");
    worker.critical = true;
    worker.restart = RestartPolicy::Never;
    let mut h = with_main(config(vec![service("db"), worker]));
    let main = h.sup.main_pid().unwrap();
    let db = h.pid("db");
    h.clear_log();
    h.exit("worker", 4);
    assert_eq!(h.signals(), vec![term(main), term(db)]);
    assert_eq!(
        finish(&mut h),
        Some(4),
        "the critical status, not the main's 143"
    );
}

// --- readiness ---

#[test]
fn dependents_of_a_notify_service_wait_for_ready_and_status_text_is_kept() {
    let mut db = service("db");
    db.ready_notify = true;
    let mut web = service("web");
    web.requires = names(&["db"]);
    let mut h = Harness::boot(config(vec![db, web]));
    let db_id = h.id("db");
    h.event(Event::NotifyStatus {
        service: db_id,
        text: "replaying WAL".into(),
    });
    assert_eq!(h.state("db"), StateKind::Starting);
    assert_eq!(h.state("web"), StateKind::Waiting);
    assert_eq!(h.status("db").status_text.as_deref(), Some("replaying WAL"));
    h.advance(secs(1));
    h.ready("db");
    assert_eq!(h.state("web"), StateKind::Up);
    h.exit("db", 1);
    assert_eq!(
        h.status("db").status_text.as_deref(),
        Some("replaying WAL"),
        "kept after a crash, to tell why"
    );
    h.advance(secs(1));
    assert_eq!(h.state("db"), StateKind::Starting);
    assert_eq!(h.status("db").status_text, None, "reset at the next start");
}

#[test]
fn ready_is_ignored_for_a_service_without_a_readiness_protocol_or_not_starting() {
    let mut h = Harness::new(config(vec![service("web")]))
        .with("web", Behaviour::Hold)
        .booted();
    h.ready("web");
    assert_eq!(h.state("web"), StateKind::Starting, "not before exec");
    h.exec("web");
    assert_eq!(h.state("web"), StateKind::Up);
}

#[test]
fn a_oneshot_is_ready_when_it_exits_with_a_code_in_exit_codes() {
    let mut setup = service("setup");
    setup.service_type = ServiceType::Oneshot;
    setup.exit_codes = vec![0, 5];
    setup.restart = RestartPolicy::Never;
    let mut web = service("web");
    web.requires = names(&["setup"]);
    let mut h = Harness::new(config(vec![setup, web]))
        .with("setup", Behaviour::Run)
        .booted();
    h.ready("setup");
    assert_eq!(
        h.state("setup"),
        StateKind::Starting,
        "READY=1 means nothing"
    );
    h.exit("setup", 5);
    assert_eq!(h.state("setup"), StateKind::Done);
    assert_eq!(h.state("web"), StateKind::Up);

    let mut bad = service("bad");
    bad.service_type = ServiceType::Oneshot;
    bad.restart = RestartPolicy::Never;
    let mut after = service("after");
    after.requires = names(&["bad"]);
    let mut h = Harness::boot(config(vec![bad, after]));
    h.exit("bad", 1);
    assert_eq!(h.state("bad"), StateKind::Failed);
    assert_eq!(h.state("after"), StateKind::Failed);
}

#[test]
fn start_timeouts_are_failed_starts_counted_by_the_backoff() {
    let mut db = service("db");
    db.ready_fd = Some(3);
    db.start_timeout = secs(2);
    db.backoff_limit = secs(3);
    let mut h = Harness::boot(config(vec![db]));
    h.drive();
    assert_eq!(h.starts("db"), 3, "zdaemon's count: delays 1 s, 2 s");
    assert_eq!(h.delays("db"), vec![secs(3), secs(4)]);
    assert_eq!(h.state("db"), StateKind::Failed);
    assert_eq!(h.status("db").reason, Some(Reason::StartTimeout(secs(2))));
}

// --- type "forking" ---

fn forking(name: &str) -> ServiceConfig {
    let mut s = service(name);
    s.service_type = ServiceType::Forking;
    s.pid_file = Some(format!("/run/{name}.pid").into());
    s.start_timeout = secs(5);
    s
}

fn pid_file_reads(h: &Harness, name: &str) -> Vec<Duration> {
    let id = h.id(name);
    h.log
        .iter()
        .filter(|(_, a)| *a == Action::ReadPidFile { service: id })
        .map(|(at, _)| at.duration_since(h.t0))
        .collect()
}

/// Each launch of a forking service is preceded by the removal of its
/// stale pid file; a longrun's pid file is svinit's own, written after.
#[test]
fn a_stale_pid_file_is_removed_before_each_launch_of_a_forking_service() {
    let mut written = service("written");
    written.pid_file = Some("/run/written.pid".into());
    let mut h = Harness::boot(config(vec![forking("daemon"), written]));
    h.exit("daemon", 1);
    h.advance(secs(60));
    let daemon = h.id("daemon");
    let order: Vec<&str> = h
        .log
        .iter()
        .filter_map(|(_, action)| match action {
            Action::RemoveStalePidFile { service, path } => {
                assert_eq!(*service, daemon);
                assert_eq!(path, std::path::Path::new("/run/daemon.pid"));
                Some("remove")
            }
            Action::Spawn { service } if *service == daemon => Some("spawn"),
            _ => None,
        })
        .collect();
    assert_eq!(order, ["remove", "spawn", "remove", "spawn"]);
}

#[test]
fn a_forking_daemon_is_found_through_its_pid_file_supervised_and_restarted() {
    let mut web = service("web");
    web.requires = names(&["daemon"]);
    let mut h = Harness::boot(config(vec![forking("daemon"), web]));
    assert_eq!(h.state("daemon"), StateKind::Starting);
    h.exit("daemon", 0);
    assert_eq!(h.state("daemon"), StateKind::Starting);
    assert_eq!(h.status("daemon").pid, None);
    assert_eq!(pid_file_reads(&h, "daemon"), vec![Duration::ZERO]);
    assert_eq!(h.state("web"), StateKind::Waiting);
    let id = h.id("daemon");
    h.event(Event::PidFile {
        service: id,
        result: Ok(PidClaim::trusted(555)),
    });
    assert_eq!(h.state("daemon"), StateKind::Up);
    assert_eq!(h.pid("daemon"), 555);
    assert_eq!(h.sup.service_of_pid(555), Some(id));
    assert_eq!(h.state("web"), StateKind::Up);
    // The daemon dies (reaped by svinit, its reparented parent): a crash.
    h.event(Event::Exited {
        pid: 555,
        status: ExitStatus::Exited(1),
    });
    assert_eq!(h.state("daemon"), StateKind::Backoff);
    h.advance(secs(1));
    assert_eq!(h.starts("daemon"), 2, "the launcher runs again");
    assert_eq!(h.state("daemon"), StateKind::Starting);
}

#[test]
fn a_pid_file_that_never_appears_is_read_with_growing_gaps_then_a_failed_start() {
    let mut h = Harness::boot(config(vec![forking("daemon")]));
    h.exit("daemon", 0);
    h.set("daemon", Behaviour::Hold);
    h.drive_until(h.t0 + secs(5));
    let reads = pid_file_reads(&h, "daemon");
    let gaps: Vec<Duration> = reads.windows(2).map(|w| w[1] - w[0]).collect();
    assert_eq!(gaps[0], PID_FILE_RETRY_MIN);
    assert_eq!(gaps[1], PID_FILE_RETRY_MIN * 2);
    assert!(gaps.iter().all(|&g| g <= PID_FILE_RETRY_MAX));
    assert!(reads.len() < 15, "bounded: {} reads", reads.len());
    assert_eq!(h.state("daemon"), StateKind::Backoff);
    let reason = h.status("daemon").reason.unwrap();
    assert_eq!(
        reason.to_string(),
        "pid file /run/daemon.pid did not appear within 5s"
    );
}

#[test]
fn a_pid_file_naming_a_dead_pid_is_a_failed_start_at_once() {
    let mut h = Harness::boot(config(vec![forking("daemon")]));
    h.exit("daemon", 0);
    let id = h.id("daemon");
    h.event(Event::PidFile {
        service: id,
        result: Err(PidFileProblem::Garbage("".into())),
    });
    assert_eq!(h.state("daemon"), StateKind::Starting, "maybe half written");
    h.event(Event::PidFile {
        service: id,
        result: Err(PidFileProblem::Dead(777)),
    });
    assert_eq!(h.state("daemon"), StateKind::Backoff);
    assert_eq!(
        h.status("daemon").reason.unwrap().to_string(),
        "pid file /run/daemon.pid names pid 777, which is not running"
    );
}

#[test]
fn a_forking_launcher_that_fails_is_an_ordinary_crash() {
    let mut h = Harness::boot(config(vec![forking("daemon")]));
    h.exit("daemon", 1);
    assert_eq!(h.state("daemon"), StateKind::Backoff);
    assert!(pid_file_reads(&h, "daemon").is_empty());
}

#[test]
fn a_forking_service_stopped_while_its_pid_file_is_awaited_is_down() {
    let mut h = Harness::boot(config(vec![forking("daemon")]));
    h.exit("daemon", 0);
    h.stop("daemon");
    assert_eq!(h.state("daemon"), StateKind::Down);
    let id = h.id("daemon");
    h.event(Event::PidFile {
        service: id,
        result: Ok(PidClaim::trusted(600)),
    });
    assert_eq!(
        h.state("daemon"),
        StateKind::Down,
        "a late answer is ignored"
    );
    assert_eq!(h.sup.poll_timeout(), None);
}

#[test]
fn a_forking_daemon_with_ready_notify_waits_for_ready() {
    let mut daemon = forking("daemon");
    daemon.ready_notify = true;
    let mut h = Harness::boot(config(vec![daemon]));
    h.exit("daemon", 0);
    let id = h.id("daemon");
    h.event(Event::PidFile {
        service: id,
        result: Ok(PidClaim::trusted(555)),
    });
    assert_eq!(h.state("daemon"), StateKind::Starting);
    assert_eq!(h.pid("daemon"), 555);
    h.ready("daemon");
    assert_eq!(h.state("daemon"), StateKind::Up);
}

// --- whose pid a pid file may name (SPEC §7 "Pids") ---

/// A liar (forking) beside a victim (a longrun that is up), the liar's
/// launcher exited: its pid file is awaited.
fn liar_and_victim() -> Harness {
    let mut liar = forking("liar");
    liar.backoff_limit = secs(1);
    let mut h = Harness::boot(config(vec![service("victim"), liar]));
    assert_eq!(h.state("victim"), StateKind::Up);
    h.exit("liar", 0);
    h.clear_log();
    h
}

fn claim_for(h: &mut Harness, name: &str, claim: PidClaim) {
    let service = h.id(name);
    h.event(Event::PidFile {
        service,
        result: Ok(claim),
    });
}

/// SPEC §7: nor a process of a probe (the runtime says whose).
#[test]
fn a_pid_file_naming_a_probes_process_is_refused_at_once() {
    let mut h = liar_and_victim();
    let claim = PidClaim {
        probe_of: Some(h.id("victim")),
        ..PidClaim::trusted(9000)
    };
    claim_for(&mut h, "liar", claim);
    assert_eq!(h.state("liar"), StateKind::Failed);
    assert_eq!(
        h.status("liar").reason.unwrap().to_string(),
        "pid file /run/liar.pid names pid 9000, which belongs to a probe of service victim"
    );
    assert_eq!(h.state("victim"), StateKind::Up);
}

#[test]
fn a_pid_file_naming_another_services_process_is_refused_at_once() {
    let claims = |victim: i32| {
        [
            // Its main process.
            PidClaim::trusted(victim),
            // A process in its process group, or only in its session.
            PidClaim {
                pgrp: victim,
                session: 1,
                ..PidClaim::trusted(9000)
            },
            PidClaim {
                pgrp: 9000,
                session: victim,
                ..PidClaim::trusted(9000)
            },
        ]
    };
    for index in 0..3 {
        let mut h = liar_and_victim();
        let victim = h.pid("victim");
        let claim = claims(victim)[index];
        claim_for(&mut h, "liar", claim);
        // Failed at once (backoff-limit 1: the first failed start gives up).
        assert_eq!(h.state("liar"), StateKind::Failed, "{claim:?}");
        assert_eq!(h.status("liar").pid, None);
        assert_eq!(
            h.status("liar").reason.unwrap().to_string(),
            format!(
                "pid file /run/liar.pid names pid {}, which belongs to service victim",
                claim.pid
            )
        );
        assert_eq!(h.sup.service_of_pid(victim), Some(h.id("victim")));
        // Stopping the liar signals nobody; the victim runs on.
        h.stop("liar");
        assert_eq!(h.signals(), vec![]);
        assert_eq!(h.state("victim"), StateKind::Up);
        assert_eq!(h.pid("victim"), victim);
    }
}

#[test]
fn a_pid_file_naming_the_main_command_or_its_group_is_refused() {
    let mut liar = forking("liar");
    liar.backoff_limit = secs(1);
    liar.autostart = false;
    let mut h = with_main(config(vec![liar]));
    let main = h.sup.main_pid().expect("main runs");
    for claim in [
        PidClaim::trusted(main),
        PidClaim {
            pgrp: main,
            ..PidClaim::trusted(9000)
        },
    ] {
        h.start("liar");
        h.exit("liar", 0);
        claim_for(&mut h, "liar", claim);
        assert_eq!(h.state("liar"), StateKind::Failed);
        assert_eq!(
            h.status("liar").reason.unwrap().to_string(),
            format!(
                "pid file /run/liar.pid names pid {}, which belongs to the main command",
                claim.pid
            )
        );
    }
    assert_eq!(h.sup.main_pid(), Some(main));
}

#[test]
fn an_untrusted_pid_file_may_only_name_a_process_of_the_services_user() {
    let untrusted = PidClaim {
        file_owner: 65534,
        owner_trusted: false,
        process_uid: 0,
        service_uid: 65534,
        ..PidClaim::trusted(9000)
    };
    let mut h = liar_and_victim();
    claim_for(&mut h, "liar", untrusted);
    assert_eq!(h.state("liar"), StateKind::Failed);
    assert_eq!(
        h.status("liar").reason.unwrap().to_string(),
        "pid file /run/liar.pid is owned by uid 65534 and names pid 9000, which runs as uid 0, \
         not as the service's user (uid 65534)"
    );
    // Its own user's process: adopted. A root-owned file: its word is enough.
    for claim in [
        PidClaim {
            process_uid: 65534,
            ..untrusted
        },
        PidClaim {
            owner_trusted: true,
            file_owner: 0,
            ..untrusted
        },
    ] {
        let mut h = liar_and_victim();
        claim_for(&mut h, "liar", claim);
        assert_eq!(h.state("liar"), StateKind::Up, "{claim:?}");
        assert_eq!(h.pid("liar"), 9000);
    }
}

#[test]
fn a_daemon_not_yet_reparented_is_read_again_until_it_is() {
    let mut h = Harness::boot(config(vec![forking("daemon")]));
    h.exit("daemon", 0);
    let id = h.id("daemon");
    h.event(Event::PidFile {
        service: id,
        result: Err(PidFileProblem::NotAChild(4000)),
    });
    assert_eq!(h.state("daemon"), StateKind::Starting);
    h.advance(PID_FILE_RETRY_MIN);
    assert_eq!(pid_file_reads(&h, "daemon").len(), 2, "read again");
    h.event(Event::PidFile {
        service: id,
        result: Ok(PidClaim::trusted(4000)),
    });
    assert_eq!(h.state("daemon"), StateKind::Up);
    assert_eq!(h.pid("daemon"), 4000);
}

#[test]
fn refusals_fail_the_start_and_transient_problems_do_not() {
    use crate::untrusted::{FileKind, PathProblem, Purpose};
    let refused = [
        PidFileProblem::Dead(5),
        PidFileProblem::Svinit(1),
        PidFileProblem::Unsafe(PathProblem::Symlink),
        PidFileProblem::Unsafe(PathProblem::Kind {
            found: FileKind::Fifo,
            purpose: Purpose::Read,
        }),
    ];
    for problem in refused {
        let mut h = liar_and_victim();
        let service = h.id("liar");
        h.event(Event::PidFile {
            service,
            result: Err(problem.clone()),
        });
        assert_eq!(h.state("liar"), StateKind::Failed, "{problem:?}");
        let reason = h.status("liar").reason.unwrap().to_string();
        assert_eq!(reason, format!("pid file /run/liar.pid {problem}"));
    }
    for problem in [
        PidFileProblem::Missing,
        PidFileProblem::Unreadable(libc::EACCES),
        PidFileProblem::Garbage("12".into()),
        PidFileProblem::NotAChild(5),
    ] {
        assert!(!problem.is_refusal(), "{problem:?}");
    }
    assert_eq!(
        PidFileProblem::Svinit(1).to_string(),
        "names pid 1, svinit itself"
    );
}
