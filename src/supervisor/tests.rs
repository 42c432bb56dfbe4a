//! The rules of SPEC.md §4, one test each, on a fake clock and fake
//! processes (see `harness.rs`); then random event storms and a large boot.

use std::time::{Duration, Instant};

use crate::config::{BackoffKind, KillMode, RestartPolicy, ServiceType};

use super::harness::{Behaviour, Harness, config, exec_failure, names, secs, service, term_sweep};
use super::*;

const CRASH: Behaviour = Behaviour::Crash(ExitStatus::Exited(1));

fn crashing(limit: Option<u64>, forever: bool) -> Harness {
    let mut web = service("web");
    if let Some(limit) = limit {
        web.backoff_limit = secs(limit);
    }
    web.forever = forever;
    Harness::new(config(vec![web])).with("web", CRASH).booted()
}

fn term(pid: i32) -> (i32, i32, bool) {
    (pid, libc::SIGTERM, true)
}

fn kill(pid: i32) -> (i32, i32, bool) {
    (pid, libc::SIGKILL, true)
}

// --- backoff (zdaemon 5) ---

#[test]
fn backoff_limit_3_starts_three_times_with_delays_1s_and_2s() {
    let mut h = crashing(Some(3), false);
    h.drive();
    assert_eq!(h.starts("web"), 3);
    assert_eq!(h.delays("web"), vec![secs(1), secs(2)]);
    assert_eq!(h.state("web"), StateKind::Failed);
    let last = ExitStatus::Exited(1);
    assert_eq!(
        h.status("web").reason,
        Some(Reason::GaveUp { starts: 3, last })
    );
    assert_eq!(h.sup.poll_timeout(), None, "nothing left to wake up for");
}

#[test]
fn default_backoff_limit_starts_ten_times() {
    let mut h = crashing(None, false);
    h.drive();
    assert_eq!(h.starts("web"), 10);
    let expected: Vec<Duration> = (1..=9).map(secs).collect();
    assert_eq!(h.delays("web"), expected);
    assert_eq!(h.state("web"), StateKind::Failed);
}

#[test]
fn backoff_limit_2_starts_twice() {
    let mut h = crashing(Some(2), false);
    h.drive();
    assert_eq!(h.starts("web"), 2);
    assert_eq!(h.state("web"), StateKind::Failed);
}

#[test]
fn forever_keeps_restarting_with_the_delay_capped_at_the_limit() {
    let mut h = crashing(Some(3), true);
    h.drive_until(h.t0 + secs(60));
    let delays = h.delays("web");
    assert_eq!(
        delays[..6],
        [secs(1), secs(2), secs(3), secs(3), secs(3), secs(3)]
    );
    assert!(delays.iter().all(|&d| d <= secs(3)));
    assert!(h.starts("web") > 15);
    assert_eq!(h.state("web"), StateKind::Backoff);
    let status = h.status("web");
    assert_eq!(status.reason, Some(Reason::Exited(ExitStatus::Exited(1))));
    assert!(status.next_restart.is_some());
    assert_eq!(h.sup.poll_timeout(), status.next_restart);
}

#[test]
fn a_run_longer_than_the_limit_resets_the_delay() {
    let mut web = service("web");
    web.backoff_limit = secs(3);
    let mut h = Harness::boot(config(vec![web]));
    h.exit("web", 1);
    assert_eq!(h.status("web").next_restart, Some(h.now + secs(1)));
    h.drive();
    h.exit("web", 1);
    assert_eq!(h.status("web").next_restart, Some(h.now + secs(2)));
    h.drive();
    // Exactly the limit is not longer than it: no reset.
    h.advance(secs(3));
    h.exit("web", 1);
    assert_eq!(
        h.state("web"),
        StateKind::Failed,
        "the third crash in a row"
    );

    h.start("web");
    h.exit("web", 1);
    h.drive();
    h.advance(secs(4));
    h.exit("web", 1);
    assert_eq!(h.status("web").next_restart, Some(h.now + secs(1)));
}

#[test]
fn exponential_backoff_doubles_with_jitter_and_gives_up_on_the_unjittered_delay() {
    let mut web = service("web");
    web.backoff = BackoffKind::Exponential;
    let mut h = Harness::new(config(vec![web])).with("web", CRASH).booted();
    h.drive();
    assert_eq!(h.starts("web"), 5, "1, 2, 4, 8; 16 would reach 10");
    let delays = h.delays("web");
    for (n, delay) in delays.iter().enumerate() {
        let base = (1u64 << n) as f64;
        let secs = delay.as_secs_f64();
        assert!(
            secs >= base * 0.9 && secs <= base * 1.1,
            "delay {n}: {secs}"
        );
    }
    assert!(
        delays.iter().any(|d| d.subsec_nanos() != 0),
        "jittered: {delays:?}"
    );
    assert_eq!(h.state("web"), StateKind::Failed);
}

#[test]
fn exponential_forever_is_capped_at_the_limit() {
    let mut web = service("web");
    web.backoff = BackoffKind::Exponential;
    web.forever = true;
    let mut h = Harness::new(config(vec![web])).with("web", CRASH).booted();
    h.drive_until(h.t0 + secs(120));
    let delays = h.delays("web");
    assert!(delays.len() > 8);
    assert!(delays[5..].iter().all(|&d| d >= secs(9) && d <= secs(10)));
}

#[test]
fn jitter_depends_on_the_seed_only() {
    let run = |seed| {
        let mut web = service("web");
        web.backoff = BackoffKind::Exponential;
        let t0 = Instant::now();
        let mut sup = Supervisor::new(config(vec![web]), Role::User, t0, seed);
        sup.boot(t0);
        let id = sup.id_of("web").unwrap();
        sup.handle_event(
            t0,
            Event::Spawned {
                service: id,
                pid: 10,
            },
        );
        sup.handle_event(t0, Event::Execed { pid: 10 });
        let status = ExitStatus::Exited(1);
        sup.handle_event(t0, Event::Exited { pid: 10, status });
        sup.status(id).next_restart.unwrap() - t0
    };
    assert_eq!(run(1), run(1));
    assert_ne!(run(1), run(2));
}

// --- exit handling ---

#[test]
fn an_exit_code_in_exit_codes_is_done_even_with_forever() {
    for code in [0, 2] {
        let mut web = service("web");
        web.forever = true;
        web.exit_codes = vec![0, 2];
        let clean = Behaviour::Crash(ExitStatus::Exited(code));
        let mut h = Harness::new(config(vec![web])).with("web", clean).booted();
        h.drive();
        assert_eq!(h.state("web"), StateKind::Done);
        assert_eq!(h.starts("web"), 1);
    }
}

#[test]
fn any_status_but_0_is_a_failure_by_default_exit_2_included() {
    for code in [1, 2, 3, 255] {
        let web = service("web");
        let mut setup = service("setup");
        setup.service_type = ServiceType::Oneshot;
        setup.restart = RestartPolicy::Never;
        let crash = Behaviour::Crash(ExitStatus::Exited(code));
        let h = Harness::new(config(vec![web, setup]))
            .with("web", crash.clone())
            .with("setup", crash)
            .booted();
        assert_eq!(h.state("web"), StateKind::Backoff, "exit {code}");
        assert_eq!(h.state("setup"), StateKind::Failed, "exit {code}");
        let reason = Reason::Exited(ExitStatus::Exited(code));
        assert_eq!(h.status("setup").reason, Some(reason));
    }
}

#[test]
fn restart_always_restarts_whatever_the_status() {
    let mut web = service("web");
    web.restart = RestartPolicy::Always;
    let mut h = Harness::boot(config(vec![web]));
    h.exit("web", 0);
    assert_eq!(h.state("web"), StateKind::Backoff);
    h.drive();
    assert_eq!(h.state("web"), StateKind::Up);
    assert_eq!(h.starts("web"), 2);
}

#[test]
fn restart_never_is_failed_with_the_status_or_done() {
    let mut web = service("web");
    web.restart = RestartPolicy::Never;
    let mut h = Harness::boot(config(vec![web.clone()]));
    let killed = ExitStatus::Signaled {
        signal: libc::SIGSEGV,
        core: true,
    };
    h.exit_status("web", killed);
    assert_eq!(h.state("web"), StateKind::Failed);
    assert_eq!(h.status("web").reason, Some(Reason::Exited(killed)));
    assert_eq!(h.status("web").last_exit, Some(killed));

    let mut h = Harness::boot(config(vec![web]));
    h.exit("web", 0);
    assert_eq!(h.state("web"), StateKind::Done);
    h.drive();
    assert_eq!(h.starts("web"), 1);
}

#[test]
fn a_oneshot_is_done_on_a_good_exit_and_its_dependents_wait_for_it() {
    let mut setup = service("setup");
    setup.service_type = ServiceType::Oneshot;
    setup.restart = RestartPolicy::Never;
    let mut web = service("web");
    web.requires = names(&["setup"]);
    let mut h = Harness::boot(config(vec![setup.clone(), web.clone()]));
    assert_eq!(
        h.state("setup"),
        StateKind::Starting,
        "exec'd, still running"
    );
    assert_eq!(h.state("web"), StateKind::Waiting);
    h.exit("setup", 0);
    assert_eq!(h.state("setup"), StateKind::Done);
    assert_eq!(h.state("web"), StateKind::Up);
    assert!(h.status("setup").ready_at.is_some());

    let mut h = Harness::boot(config(vec![setup, web]));
    h.exit("setup", 1);
    assert_eq!(h.state("setup"), StateKind::Failed);
    let reason = Reason::Exited(ExitStatus::Exited(1));
    assert_eq!(h.status("setup").reason, Some(reason));
    assert_eq!(h.state("web"), StateKind::Failed);
    assert_eq!(h.starts("web"), 0);
}

#[test]
fn a_oneshot_that_runs_past_start_timeout_is_a_failed_start() {
    let mut setup = service("setup");
    setup.service_type = ServiceType::Oneshot;
    setup.restart = RestartPolicy::OnFailure;
    setup.start_timeout = secs(5);
    let mut h = Harness::boot(config(vec![setup]));
    let pid = h.pid("setup");
    h.advance(secs(5));
    assert_eq!(h.signals(), vec![kill(pid)]);
    assert_eq!(h.state("setup"), StateKind::Backoff);
    assert_eq!(
        h.status("setup").reason,
        Some(Reason::StartTimeout(secs(5)))
    );
}

#[test]
fn a_spawn_failure_counts_as_a_crash_and_its_reason_is_kept() {
    let mut web = service("web");
    web.backoff_limit = secs(3);
    let failed = Behaviour::FailSpawn(exec_failure());
    let mut h = Harness::new(config(vec![web])).with("web", failed).booted();
    assert_eq!(h.state("web"), StateKind::Backoff);
    let reason = Reason::SpawnFailed(exec_failure());
    assert_eq!(h.status("web").reason.as_ref(), Some(&reason));
    assert_eq!(h.status("web").next_restart, Some(h.t0 + secs(1)));
    h.drive();
    assert_eq!(h.starts("web"), 3);
    assert_eq!(h.state("web"), StateKind::Failed);
    assert_eq!(h.status("web").reason.as_ref(), Some(&reason));
    let shown = reason.to_string();
    assert_eq!(shown, "exec /usr/bin/nope: No such file or directory");
}

/// SPEC §4 "Exec failure": with `restart "never"` (a oneshot's default)
/// a crash is `failed` at once, whatever the crash: a failed exec, a start
/// timeout, a refused pid file, an exit. With `on-failure` each is a
/// backoff.
#[test]
fn with_restart_never_every_crash_is_failed_at_once() {
    let spawn_failure = Reason::SpawnFailed(exec_failure());
    let timeout = Reason::StartTimeout(secs(5));
    let refused = Reason::PidFile {
        path: "/run/x.pid".into(),
        problem: PidFileProblem::Dead(555),
        waited: secs(60),
    };
    let exit = Reason::Exited(ExitStatus::Exited(1));
    for (restart, oneshot) in [
        (RestartPolicy::Never, true),
        (RestartPolicy::Never, false),
        (RestartPolicy::OnFailure, false),
    ] {
        for reason in [&spawn_failure, &timeout, &refused, &exit] {
            let mut x = service("x");
            x.restart = restart;
            let behaviour = match reason {
                Reason::SpawnFailed(failure) => Behaviour::FailSpawn(failure.clone()),
                Reason::StartTimeout(waited) => {
                    x.ready_fd = Some(3);
                    x.start_timeout = *waited;
                    Behaviour::Run
                }
                Reason::PidFile { .. } => {
                    x.service_type = ServiceType::Forking;
                    x.pid_file = Some("/run/x.pid".into());
                    Behaviour::Crash(ExitStatus::Exited(0))
                }
                _ => Behaviour::Crash(ExitStatus::Exited(1)),
            };
            if oneshot && x.service_type == ServiceType::Longrun {
                x.service_type = ServiceType::Oneshot;
                x.ready_fd = None;
            }
            let mut h = Harness::new(config(vec![x])).with("x", behaviour).booted();
            match reason {
                Reason::StartTimeout(waited) => h.advance(*waited),
                Reason::PidFile { .. } => {
                    let service = h.id("x");
                    h.event(Event::PidFile {
                        service,
                        result: Err(PidFileProblem::Dead(555)),
                    });
                }
                _ => {}
            }
            let case = format!("{restart:?}, oneshot {oneshot}, {reason}");
            let expected = match restart {
                RestartPolicy::Never => StateKind::Failed,
                _ => StateKind::Backoff,
            };
            assert_eq!(h.state("x"), expected, "{case}");
            assert_eq!(h.status("x").reason.as_ref(), Some(reason), "{case}");
            h.drive();
            if restart == RestartPolicy::Never {
                assert_eq!(h.starts("x"), 1, "{case}");
                assert_eq!(h.status("x").restarts, 0, "{case}");
            }
        }
    }
}

#[test]
fn a_spawn_failure_after_spawned_clears_the_pid() {
    let mut h = Harness::new(config(vec![service("web")]))
        .with("web", Behaviour::Hold)
        .booted();
    let pid = h.pid("web");
    let service = h.id("web");
    let failure = exec_failure();
    h.event(Event::SpawnFailed { service, failure });
    assert_eq!(h.state("web"), StateKind::Backoff);
    assert_eq!(h.sup.service_of_pid(pid), None);
}

// --- dependencies ---

fn diamond() -> Vec<ServiceConfig> {
    let a = service("a");
    let mut b = service("b");
    b.requires = names(&["a"]);
    let mut c = service("c");
    c.requires = names(&["a"]);
    let mut d = service("d");
    d.requires = names(&["b", "c"]);
    vec![d, c, b, a]
}

#[test]
fn a_diamond_starts_in_levels() {
    let mut h = Harness::new(config(diamond()))
        .with("a", Behaviour::Hold)
        .with("b", Behaviour::Hold)
        .with("c", Behaviour::Hold)
        .with("d", Behaviour::Hold)
        .booted();
    let spawned =
        |h: &Harness| -> Vec<usize> { ["a", "b", "c", "d"].iter().map(|n| h.starts(n)).collect() };
    assert_eq!(spawned(&h), [1, 0, 0, 0]);
    let waiting_for = h.status("d").reason;
    // Named in config order.
    assert_eq!(waiting_for, Some(Reason::WaitingFor(names(&["c", "b"]))));
    h.exec("a");
    assert_eq!(spawned(&h), [1, 1, 1, 0], "b and c together");
    h.exec("c");
    assert_eq!(
        h.status("d").reason,
        Some(Reason::WaitingFor(names(&["b"])))
    );
    h.exec("b");
    assert_eq!(spawned(&h), [1, 1, 1, 1]);
    h.exec("d");
    assert_eq!(h.reached(StateKind::Up), names(&["a", "c", "b", "d"]));
}

#[test]
fn wants_waits_for_its_dependency_but_tolerates_its_failure() {
    let mut cache = service("cache");
    cache.restart = RestartPolicy::Never;
    let mut web = service("web");
    web.wants = names(&["cache"]);
    let mut h = Harness::new(config(vec![web, cache]))
        .with("cache", Behaviour::Hold)
        .booted();
    assert_eq!(h.state("web"), StateKind::Waiting);
    h.exit("cache", 1);
    assert_eq!(h.state("cache"), StateKind::Failed);
    assert_eq!(h.state("web"), StateKind::Up);
}

#[test]
fn a_required_dependency_that_gives_up_fails_its_dependents_unstarted() {
    let mut db = service("db");
    db.backoff_limit = secs(2);
    let mut web = service("web");
    web.requires = names(&["db"]);
    let mut worker = service("worker");
    worker.requires = names(&["web"]);
    let failed = Behaviour::FailSpawn(exec_failure());
    let mut h = Harness::new(config(vec![db, web, worker]))
        .with("db", failed)
        .booted();
    assert_eq!(
        h.state("web"),
        StateKind::Waiting,
        "db in backoff: still hoped for"
    );
    h.drive();
    assert_eq!(h.state("db"), StateKind::Failed);
    assert_eq!(h.state("web"), StateKind::Failed);
    let reason = Some(Reason::DependencyFailed("db".into()));
    assert_eq!(h.status("web").reason, reason);
    let reason = Some(Reason::DependencyFailed("web".into()));
    assert_eq!(h.status("worker").reason, reason);
    assert_eq!(h.starts("web") + h.starts("worker"), 0);
}

#[test]
fn a_running_dependent_survives_a_crash_in_backoff_but_not_giving_up() {
    let mut db = service("db");
    db.backoff_limit = secs(2);
    let mut web = service("web");
    web.requires = names(&["db"]);
    let mut h = Harness::boot(config(vec![db, web]));
    let web_pid = h.pid("web");
    h.exit("db", 1);
    assert_eq!(h.state("db"), StateKind::Backoff);
    assert_eq!(h.state("web"), StateKind::Up);
    h.set("db", CRASH);
    h.drive();
    assert_eq!(h.state("db"), StateKind::Failed);
    assert_eq!(h.signals(), vec![term(web_pid)]);
    assert_eq!(h.state("web"), StateKind::Failed);
    let reason = Some(Reason::DependencyFailed("db".into()));
    assert_eq!(h.status("web").reason, reason);

    // Starting web again revives db too.
    h.set("db", Behaviour::Run);
    h.start("web");
    assert_eq!(h.state("db"), StateKind::Up);
    assert_eq!(h.state("web"), StateKind::Up);
}

#[test]
fn after_and_before_order_without_activating() {
    let mut db = service("db");
    db.autostart = false;
    let mut web = service("web");
    web.after = names(&["db"]);
    let h = Harness::boot(config(vec![db.clone(), web.clone()]));
    assert_eq!(h.state("web"), StateKind::Up);
    assert_eq!(h.state("db"), StateKind::Down, "after does not activate");

    // Wanted and on its way up: web waits for it, both ways of saying so.
    db.autostart = true;
    let mut before = db.clone();
    before.before = names(&["web"]);
    let mut plain = web.clone();
    plain.after.clear();
    for services in [vec![db, web], vec![before, plain]] {
        let mut h = Harness::new(config(services))
            .with("db", Behaviour::Hold)
            .booted();
        assert_eq!(h.state("web"), StateKind::Waiting);
        h.exec("db");
        assert_eq!(h.state("web"), StateKind::Up);
    }
}

#[test]
fn an_autostart_false_service_starts_only_when_required_or_started() {
    let mut lib = service("lib");
    lib.autostart = false;
    let mut app = service("app");
    app.requires = names(&["lib"]);
    let mut tool = service("tool");
    tool.autostart = false;
    let mut h = Harness::boot(config(vec![lib, app, tool]));
    assert_eq!(h.state("lib"), StateKind::Up);
    assert_eq!(h.state("app"), StateKind::Up);
    assert_eq!(h.state("tool"), StateKind::Down);
    assert_eq!(h.status("tool").want, Want::Down);
    h.start("tool");
    assert_eq!(h.state("tool"), StateKind::Up);
}

// --- stop ---

#[test]
fn stopping_a_required_dependency_stops_its_dependents_first() {
    let db = service("db");
    let mut web = service("web");
    web.requires = names(&["db"]);
    let mut worker = service("worker");
    worker.requires = names(&["web"]);
    let mut cron = service("cron");
    cron.wants = names(&["db"]);
    let mut h = Harness::boot(config(vec![db, web, worker, cron]));
    h.obey_signals = false;
    let (db, web, worker) = (h.pid("db"), h.pid("web"), h.pid("worker"));
    h.clear_log();
    h.stop("db");
    assert_eq!(h.signals(), vec![term(worker)]);
    assert_eq!(h.state("db"), StateKind::Up);
    assert_eq!(h.status("db").want, Want::Down);
    h.exit_status("worker", ExitStatus::Exited(0));
    assert_eq!(h.signals(), vec![term(worker), term(web)]);
    h.exit_status("web", ExitStatus::Exited(0));
    assert_eq!(h.signals(), vec![term(worker), term(web), term(db)]);
    h.exit_status("db", ExitStatus::Exited(0));
    assert_eq!(h.reached(StateKind::Down), names(&["worker", "web", "db"]));
    assert_eq!(h.state("cron"), StateKind::Up, "wants: not taken down");
    h.drive();
    assert_eq!(h.starts("db"), 0, "a stop is not a crash: no new start");
}

#[test]
fn a_stop_that_times_out_kills_the_process_group() {
    let mut web = service("web");
    web.stop_timeout = secs(5);
    web.kill_mode = KillMode::Process;
    let mut h = Harness::boot(config(vec![web]));
    h.stubborn("web");
    let pid = h.pid("web");
    h.stop("web");
    assert_eq!(h.signals(), vec![(pid, libc::SIGTERM, false)]);
    assert_eq!(h.sup.poll_timeout(), Some(h.now + secs(5)));
    h.advance(secs(5));
    assert_eq!(h.signals(), vec![(pid, libc::SIGTERM, false), kill(pid)]);
    assert_eq!(h.state("web"), StateKind::Down);
    assert_eq!(h.status("web").reason, Some(Reason::StopTimeout(secs(5))));
    assert_eq!(h.sup.poll_timeout(), None);
}

#[test]
fn a_service_stopped_before_exec_is_signalled_too() {
    let mut h = Harness::new(config(vec![service("web")]))
        .with("web", Behaviour::Hold)
        .booted();
    let pid = h.pid("web");
    h.stop("web");
    assert_eq!(h.signals(), vec![term(pid)]);
    assert_eq!(h.state("web"), StateKind::Down);
}

#[test]
fn a_service_stopped_before_spawned_is_signalled_once_spawned() {
    let mut sup = Supervisor::new(config(vec![service("web")]), Role::User, Instant::now(), 1);
    let now = Instant::now();
    sup.boot(now);
    let id = sup.id_of("web").unwrap();
    sup.stop(now, id);
    assert_eq!(sup.status(id).state, StateKind::Stopping);
    while sup.poll_action().is_some() {}
    sup.handle_event(
        now,
        Event::Spawned {
            service: id,
            pid: 50,
        },
    );
    let signal = Action::Signal {
        pid: 50,
        signal: libc::SIGTERM,
        group: true,
    };
    assert_eq!(sup.poll_action(), Some(signal));
}

#[test]
fn stopping_a_service_in_backoff_cancels_the_restart() {
    let mut h = crashing(None, false);
    assert_eq!(h.state("web"), StateKind::Backoff);
    h.stop("web");
    assert_eq!(h.state("web"), StateKind::Down);
    assert_eq!(h.sup.poll_timeout(), None);
    h.drive();
    assert_eq!(h.starts("web"), 1);
}

#[test]
fn restart_stops_and_starts_with_a_fresh_crash_count() {
    let mut h = Harness::boot(config(vec![service("web")]));
    h.exit("web", 1);
    h.drive();
    h.exit("web", 1);
    assert_eq!(h.status("web").next_restart, Some(h.now + secs(2)));
    h.restart("web");
    assert_eq!(h.state("web"), StateKind::Up, "backoff skipped");
    let pid = h.pid("web");
    h.restart("web");
    assert_eq!(h.signals(), vec![term(pid)]);
    assert_eq!(h.state("web"), StateKind::Up);
    assert_ne!(h.pid("web"), pid);
    assert_eq!(h.starts("web"), 4);
    assert_eq!(
        h.status("web").restarts,
        1,
        "one restart after a crash; the two operator restarts do not count"
    );
    h.exit("web", 1);
    assert_eq!(h.status("web").next_restart, Some(h.now + secs(1)));
}

/// SPEC §5, systemd's semantics: `restart db` also restarts what runs and
/// requires db, transitively: they stop first (reverse order), db stops,
/// then db starts and they follow once it is ready. `wants` and `after`
/// dependents are left alone, and so is a requirer that was not running.
#[test]
fn restart_also_restarts_the_running_services_that_require_it() {
    let mut db = service("db");
    db.ready_fd = Some(3);
    let mut app = service("app");
    app.requires = names(&["db"]);
    let mut web = service("web");
    web.requires = names(&["app"]);
    let mut fan = service("fan");
    fan.wants = names(&["db"]);
    let mut late = service("late");
    late.after = names(&["db"]);
    let mut lazy = service("lazy");
    lazy.requires = names(&["db"]);
    lazy.autostart = false;
    let services = vec![db, app, web, fan, late, lazy];
    let mut h = Harness::new(config(services)).with("db", Behaviour::RunReady);
    h.obey_signals = false;
    let mut h = h.booted();
    let (db, app, web) = (h.pid("db"), h.pid("app"), h.pid("web"));
    let (fan, late) = (h.pid("fan"), h.pid("late"));
    h.clear_log();
    h.set("db", Behaviour::Run);
    h.restart("db");
    assert_eq!(h.signals(), vec![term(web)], "the last dependent first");
    assert_eq!(h.state("db"), StateKind::Up);
    h.exit_status("web", ExitStatus::Exited(0));
    assert_eq!(h.state("web"), StateKind::Waiting, "until app is back");
    assert_eq!(h.signals(), vec![term(web), term(app)]);
    h.exit_status("app", ExitStatus::Exited(0));
    assert_eq!(h.signals(), vec![term(web), term(app), term(db)]);
    h.exit_status("db", ExitStatus::Exited(0));
    assert_eq!(h.reached(StateKind::Down), names(&["web", "app", "db"]));
    assert_eq!(h.state("db"), StateKind::Starting);
    assert_eq!(
        (h.starts("app"), h.starts("web")),
        (0, 0),
        "db is not ready"
    );
    h.ready("db");
    assert_eq!(h.reached(StateKind::Up), names(&["db", "app", "web"]));
    assert_ne!(h.pid("app"), app);
    assert_ne!(h.pid("web"), web);
    assert_ne!(h.pid("db"), db);
    assert_eq!((h.pid("fan"), h.pid("late")), (fan, late), "not restarted");
    assert_eq!(h.state("lazy"), StateKind::Down);
    assert_eq!(h.starts("lazy"), 0, "was not running: not started");
    for name in ["db", "app", "web"] {
        assert_eq!(h.status(name).restarts, 0, "{name}: an operator's restart");
    }
}

/// A requirer that is not running (in backoff, here) is not restarted; it
/// starts, as it would have, once db is ready again.
#[test]
fn restart_leaves_a_requirer_in_backoff_to_its_backoff() {
    let db = service("db");
    let mut app = service("app");
    app.requires = names(&["db"]);
    let mut h = Harness::boot(config(vec![db, app]));
    h.exit("app", 1);
    assert_eq!(h.state("app"), StateKind::Backoff);
    let db = h.pid("db");
    h.clear_log();
    h.restart("db");
    assert_eq!(h.signals(), vec![term(db)]);
    assert_eq!(h.state("db"), StateKind::Up);
    assert_eq!(h.state("app"), StateKind::Backoff);
    h.advance(secs(1));
    assert_eq!(h.state("app"), StateKind::Up);
    assert_eq!(h.starts("app"), 1);
}

#[test]
fn restarts_counts_only_restarts_after_a_crash() {
    let mut h = crashing(Some(3), false);
    h.drive();
    assert_eq!(h.state("web"), StateKind::Failed);
    assert_eq!(h.status("web").restarts, 2, "3 starts: 2 restarts");
    h.start("web");
    assert_eq!(h.status("web").restarts, 2, "svctl start is no restart");
    h.drive();
    assert_eq!(h.status("web").restarts, 4);
    let mut h = Harness::boot(config(vec![service("db")]));
    h.stop("db");
    h.start("db");
    h.restart("db");
    assert_eq!(h.status("db").restarts, 0, "operator stop/start/restart");
}

#[test]
fn start_gives_a_failed_service_a_fresh_start() {
    let mut h = crashing(Some(2), false);
    h.drive();
    assert_eq!(h.state("web"), StateKind::Failed);
    h.start("web");
    h.drive();
    assert_eq!(h.starts("web"), 4, "two more starts: the count began again");
}

// --- shutdown ---

fn chain() -> Config {
    let db = service("db");
    let mut web = service("web");
    web.requires = names(&["db"]);
    let mut proxy = service("proxy");
    proxy.after = names(&["web"]);
    config(vec![db, web, proxy])
}

/// `chain()` with a shutdown-timeout and every service's stop-timeout.
fn chain_with_timeouts(shutdown: Option<u64>, stop: u64) -> Config {
    let mut chain = chain();
    chain.shutdown_timeout = shutdown.map(secs);
    for service in &mut chain.services {
        service.stop_timeout = secs(stop);
    }
    chain
}

#[test]
fn shutdown_stops_in_reverse_order_sweeps_orphans_and_exits() {
    let mut h = Harness::boot(chain());
    let pids = [h.pid("proxy"), h.pid("web"), h.pid("db")];
    h.clear_log();
    h.shutdown(0);
    assert!(h.sup.is_shutting_down());
    assert_eq!(h.signals(), pids.map(term));
    assert_eq!(h.reached(StateKind::Down), names(&["proxy", "web", "db"]));
    assert!(h.effects().ends_with(&term_sweep()), "{:?}", h.effects());
    h.event(Event::NoChildren);
    assert_eq!(h.effects().last(), Some(&Action::Exit { code: 0 }));
    assert_eq!(h.sup.poll_timeout(), None);
    h.drive();
    assert_eq!(h.starts("db"), 0, "nothing restarts");
}

#[test]
fn shutdown_kills_orphans_after_5s_and_exits_1s_later() {
    let mut h = Harness::boot(chain());
    h.shutdown(3);
    h.clear_log();
    h.advance(secs(5));
    let sweep = Action::SweepOrphans {
        signal: libc::SIGKILL,
        log_survivors: true,
    };
    assert_eq!(h.effects(), vec![sweep]);
    h.advance(Duration::from_millis(999));
    assert_eq!(h.effects().len(), 1);
    h.advance(Duration::from_millis(1));
    assert_eq!(h.effects().last(), Some(&Action::Exit { code: 3 }));
    h.event(Event::NoChildren);
    assert_eq!(h.effects().len(), 2, "exits once");
}

#[test]
fn shutdown_timeout_kills_every_remaining_service_at_once() {
    let mut h = Harness::boot(chain_with_timeouts(Some(10), 60));
    for name in ["db", "web", "proxy"] {
        h.stubborn(name);
    }
    let [proxy, web, db] = [h.pid("proxy"), h.pid("web"), h.pid("db")];
    h.clear_log();
    h.shutdown(0);
    assert_eq!(h.signals(), vec![term(proxy)]);
    assert_eq!(h.sup.poll_timeout(), Some(h.now + secs(10)));
    h.advance(secs(10));
    assert_eq!(
        h.signals(),
        vec![term(proxy), kill(db), kill(web), kill(proxy)]
    );
    for name in ["db", "web", "proxy"] {
        // The reason names the deadline that ran out, not stop-timeout.
        assert_eq!(
            h.status(name).reason,
            Some(Reason::ShutdownTimeout(secs(10))),
            "{name}"
        );
    }
    assert!(h.effects().ends_with(&term_sweep()), "{:?}", h.effects());
}

#[test]
fn nothing_starts_while_shutting_down() {
    let mut lazy = service("lazy");
    lazy.autostart = false;
    let mut h = Harness::boot(config(vec![service("web"), lazy]));
    h.obey_signals = false;
    h.shutdown(0);
    h.start("lazy");
    h.restart("web");
    h.exit("web", 1);
    assert_eq!(h.state("lazy"), StateKind::Down);
    assert_eq!(h.state("web"), StateKind::Down);
    let summary = h.sup.reload(h.now, config(vec![service("new")]));
    assert!(summary.is_empty());
    assert_eq!(h.starts("web"), 1);
    assert_eq!(h.starts("lazy"), 0);
}

#[test]
fn shutdown_with_no_services_sweeps_at_once() {
    let mut h = Harness::boot(config(vec![]));
    h.shutdown(7);
    h.event(Event::NoChildren);
    assert_eq!(h.effects().last(), Some(&Action::Exit { code: 7 }));
}

// --- reaping ---

#[test]
fn orphan_exits_are_counted_and_old_pids_are_not_matched() {
    let mut h = Harness::boot(config(vec![service("web")]));
    let status = ExitStatus::Exited(0);
    h.event(Event::Exited { pid: 4242, status });
    assert_eq!(h.sup.orphans_reaped(), 1);
    let old = h.pid("web");
    h.exit("web", 1);
    h.drive();
    let new = h.pid("web");
    h.event(Event::Exited { pid: old, status });
    assert_eq!(h.sup.orphans_reaped(), 2, "the old pid is someone else now");
    assert_eq!(h.state("web"), StateKind::Up);
    assert_eq!(h.pid("web"), new);
}

// --- readiness ---

#[test]
fn dependents_of_a_ready_fd_service_wait_for_ready() {
    let mut db = service("db");
    db.ready_fd = Some(3);
    let mut web = service("web");
    web.requires = names(&["db"]);
    let mut h = Harness::boot(config(vec![db, web]));
    assert_eq!(h.state("db"), StateKind::Starting);
    assert_eq!(h.state("web"), StateKind::Waiting);
    h.advance(secs(2));
    h.ready("db");
    assert_eq!(h.state("db"), StateKind::Up);
    assert_eq!(h.state("web"), StateKind::Up);
    let db = h.status("db");
    assert_eq!(db.ready_at.unwrap() - db.spawned_at.unwrap(), secs(2));
}

#[test]
fn not_ready_within_start_timeout_is_a_failed_start() {
    let mut db = service("db");
    db.ready_notify = true;
    db.start_timeout = secs(5);
    let mut h = Harness::boot(config(vec![db]));
    let pid = h.pid("db");
    assert_eq!(h.sup.poll_timeout(), Some(h.t0 + secs(5)));
    h.advance(secs(5));
    assert_eq!(h.signals(), vec![kill(pid)]);
    assert_eq!(h.state("db"), StateKind::Backoff);
    assert_eq!(h.status("db").reason, Some(Reason::StartTimeout(secs(5))));
    h.set("db", Behaviour::RunReady);
    h.drive();
    assert_eq!(h.state("db"), StateKind::Up);
}

// --- reload ---

#[test]
fn reload_adds_removes_and_changes() {
    let mut lazy = service("lazy");
    lazy.autostart = false;
    let mut h = Harness::boot(config(vec![service("web"), service("old"), lazy]));
    h.obey_signals = false;
    let (web_id, old_id, old_pid) = (h.id("web"), h.id("old"), h.pid("old"));

    let mut web = service("web");
    web.command = Command::Exec(names(&["/bin/web", "--v2"]));
    let mut extra = service("extra");
    extra.autostart = false;
    let mut lazy = service("lazy");
    lazy.autostart = false;
    lazy.description = Some("changed while down".into());
    let new = config(vec![service("cache"), web.clone(), lazy, extra]);
    let summary = h.sup.reload(h.now, new);
    h.pump();
    assert_eq!(summary.added, names(&["cache", "extra"]));
    assert_eq!(summary.removed, names(&["old"]));
    assert_eq!(summary.changed, names(&["web", "lazy"]));

    assert_eq!(h.state("cache"), StateKind::Up);
    assert_eq!(h.state("extra"), StateKind::Down);
    assert!(h.id("cache").0 >= 3, "ids are never reused");
    assert!(h.status("web").config_changed);
    assert!(
        !h.status("lazy").config_changed,
        "no process: applied at once"
    );
    assert_eq!(h.sup.service_config(web_id), &web);
    assert_eq!(h.signals(), vec![term(old_pid)]);
    assert!(h.status("old").removed);
    let order: Vec<String> = h.sup.ids().map(|id| h.sup.status(id).name).collect();
    assert_eq!(order, names(&["cache", "web", "lazy", "extra", "old"]));

    h.exit_status("old", ExitStatus::Exited(0));
    assert_eq!(h.sup.id_of("old"), None);
    assert!(h.sup.ids().all(|id| id != old_id));
    assert_eq!(h.sup.try_status(old_id), None);

    h.restart("web");
    h.exit_status("web", ExitStatus::Exited(0));
    assert_eq!(h.state("web"), StateKind::Up);
    assert!(!h.status("web").config_changed);
    assert_eq!(h.sup.service_config(web_id), &web);
}

#[test]
fn reload_of_an_unchanged_config_changes_nothing() {
    let mut h = Harness::boot(chain());
    h.clear_log();
    let summary = h.sup.reload(h.now, chain());
    h.pump();
    assert!(summary.is_empty());
    assert!(h.log.is_empty());
}

#[test]
fn a_removed_service_is_stopped_after_its_removed_dependents() {
    let mut h = Harness::boot(chain());
    h.obey_signals = false;
    let (db, web) = (h.pid("db"), h.pid("web"));
    h.clear_log();
    let summary = h.sup.reload(h.now, config(vec![service("proxy")]));
    h.pump();
    assert_eq!(summary.removed, names(&["db", "web"]));
    assert_eq!(h.signals(), vec![term(web)]);
    h.exit_status("web", ExitStatus::Exited(0));
    assert_eq!(h.signals(), vec![term(web), term(db)]);
}

// --- robustness ---

#[test]
fn impossible_events_are_ignored() {
    let mut ready = service("ready");
    ready.ready_fd = Some(3);
    let mut h = Harness::boot(config(vec![service("web"), ready]));
    let web = h.id("web");
    let pid = h.pid("web");
    let status = ExitStatus::Exited(1);
    let failure = exec_failure();
    let bogus = ServiceId(999);
    for event in [
        Event::Ready {
            service: web,
            pid: None,
        },
        Event::Ready {
            service: bogus,
            pid: None,
        },
        Event::Execed { pid: 77 },
        Event::Execed { pid },
        Event::Spawned {
            service: bogus,
            pid: 5,
        },
        Event::Spawned {
            service: web,
            pid: 1,
        },
        Event::Spawned {
            service: web,
            pid: -1,
        },
        Event::Spawned { service: web, pid },
        Event::SpawnFailed {
            service: web,
            failure: failure.clone(),
        },
        Event::SpawnFailed {
            service: bogus,
            failure,
        },
        Event::NoChildren,
        Event::Exited { pid: -1, status },
    ] {
        h.event(event);
    }
    assert_eq!(h.state("web"), StateKind::Up);
    assert_eq!(h.pid("web"), pid);
    h.exit("web", 1);
    h.event(Event::Exited { pid, status });
    assert_eq!(h.state("web"), StateKind::Backoff);
    h.event(Event::Ready {
        service: web,
        pid: None,
    });
    assert_eq!(h.state("web"), StateKind::Backoff);
    assert!(h.signals().iter().all(|&(pid, _, _)| pid > 1));
    let placeholder = h.sup.status(bogus);
    assert_eq!(placeholder.state, StateKind::Down);
    assert_eq!(h.sup.service_config(bogus).name, "");
    let _ = h.sup.start(h.now, bogus);
    h.sup.stop(h.now, bogus);
    let _ = h.sup.restart(h.now, bogus);
    h.sup.check_invariants().unwrap();
}

#[test]
fn a_stray_spawned_process_is_killed() {
    let mut h = crashing(None, false);
    let web = h.id("web");
    h.event(Event::Spawned {
        service: web,
        pid: 999,
    });
    assert_eq!(h.signals(), vec![kill(999)]);
    assert_eq!(h.state("web"), StateKind::Backoff);
}

#[test]
fn every_state_change_is_reported() {
    let mut h = crashing(Some(2), false);
    h.drive();
    let steps: Vec<(StateKind, StateKind)> =
        h.transitions().iter().map(|t| (t.from, t.to)).collect();
    use StateKind::*;
    let expected = [
        (Down, Starting),
        (Starting, Up),
        (Up, Backoff),
        (Backoff, Starting),
        (Starting, Up),
        (Up, Failed),
    ];
    assert_eq!(steps, expected);
    let last = h.transitions().last().copied().cloned().unwrap();
    assert_eq!(last.exit, Some(ExitStatus::Exited(1)));
    assert!(last.pid.is_some());
    assert!(matches!(
        last.reason,
        Some(Reason::GaveUp { starts: 2, .. })
    ));
}

#[test]
fn history_keeps_the_last_eight_exits() {
    let mut h = crashing(Some(3), true);
    h.drive_until(h.t0 + secs(60));
    let history = h.status("web").history;
    assert_eq!(history.len(), 8);
    assert!(history.windows(2).all(|w| w[0].at < w[1].at));
}

/// `svctl plot` shows a crash loop's first 8 runs of the boot for good,
/// the last 8 after them, and counts those in between.
#[test]
fn plotted_runs_keep_the_first_eight_and_the_last_eight() {
    let mut h = crashing(Some(1), true);
    let id = h.id("web");
    // Every ended run's pid, in order, from the last-8 history seen often
    // enough (a run at most per second) to miss none.
    let mut ended: Vec<i32> = Vec::new();
    for wanted in [3, 10, 20] {
        while ended.len() < wanted {
            h.advance(Duration::from_millis(500));
            for run in h.sup.status(id).history {
                if !ended.contains(&run.pid) {
                    ended.push(run.pid);
                }
            }
        }
        let ended = &ended[..wanted];
        let (runs, omitted) = h.sup.plotted_runs(id);
        let pids: Vec<i32> = runs.iter().map(|run| run.pid).collect();
        let first = wanted.min(8);
        let shown_after = (wanted - first).min(8);
        let mut expected: Vec<i32> = ended[..first].to_vec();
        expected.extend(&ended[wanted - shown_after..]);
        assert_eq!(pids, expected, "after {wanted} runs");
        assert_eq!(
            omitted as usize,
            wanted - first - shown_after,
            "after {wanted}"
        );
    }
}

/// Random configs and random event storms: no panic, and the bookkeeping
/// always agrees with the states.
#[test]
fn random_event_sequences_keep_the_invariants() {
    // SVINIT_FUZZ_SEQUENCES=100000 SVINIT_FUZZ_SEED=… for a longer hunt.
    let env = |name: &str| std::env::var(name).ok().and_then(|v| v.parse().ok());
    let sequences: u64 = env("SVINIT_FUZZ_SEQUENCES").unwrap_or(3000);
    let mut rng = SplitMix64::new(env("SVINIT_FUZZ_SEED").unwrap_or(2024));
    for _ in 0..sequences {
        let config = random_config(&mut rng);
        let count = config.services.len();
        let t0 = Instant::now();
        let mut now = t0;
        let seed = rng.next_u64();
        let main_command = rng.next_u64().is_multiple_of(3);
        let role = match rng.next_u64() % 8 {
            0 | 1 => Role::System,
            2..=4 => Role::Container,
            _ => Role::User,
        };
        let mut sup = Supervisor::new(config.clone(), role, now, seed);
        if main_command {
            sup.set_main_command();
        }
        let mut pids: Vec<i32> = Vec::new();
        let mut next_pid = 10;
        let mut trace: Vec<String> = Vec::new();
        let mut exits = 0;
        let mut starts_over = false;
        sup.boot(now);
        for _ in 0..60 {
            let pick = |rng: &mut SplitMix64, n: usize| (rng.next_u64() % n.max(1) as u64) as usize;
            let id = ServiceId(pick(&mut rng, count + 2));
            let pid = match pids.get(pick(&mut rng, pids.len() + 2)) {
                Some(&pid) => pid,
                None => pick(&mut rng, 40) as i32 - 2,
            };
            let status = match pick(&mut rng, 3) {
                0 => ExitStatus::Exited(0),
                1 => ExitStatus::Exited(1),
                _ => ExitStatus::Signaled {
                    signal: 9,
                    core: false,
                },
            };
            let was_shutting_down = sup.is_shutting_down();
            let op = pick(&mut rng, 19);
            trace.push(format!(
                "op {op} id {id:?} pid {pid} {status:?} now {:?}",
                now - t0
            ));
            match op {
                0..=2 => {
                    now += Duration::from_millis(rng.next_u64() % 4000);
                    if let Some(at) = sup.poll_timeout() {
                        now = now.max(at);
                    }
                    sup.handle_timeout(now);
                }
                3 => sup.handle_event(now, Event::Exited { pid, status }),
                4 => sup.handle_event(now, Event::Execed { pid }),
                5 => {
                    let pid = rng.next_u64().is_multiple_of(2).then_some(pid);
                    sup.handle_event(now, Event::Ready { service: id, pid })
                }
                6 => {
                    let failure = exec_failure();
                    sup.handle_event(
                        now,
                        Event::SpawnFailed {
                            service: id,
                            failure,
                        },
                    );
                }
                7 => {
                    let _ = sup.start(now, id);
                }
                8 => sup.stop(now, id),
                9 => {
                    let _ = sup.restart(now, id);
                }
                10 => sup.handle_event(now, Event::NoChildren),
                11 if pick(&mut rng, 8) == 0 => {
                    let exit_code = pick(&mut rng, 3) as i32;
                    sup.begin_shutdown(exit_code, now);
                    sup.drain(now);
                }
                12 if pick(&mut rng, 4) == 0 => {
                    let _ = sup.reload(now, random_config(&mut rng));
                }
                13 => sup.handle_event(now, Event::Spawned { service: id, pid }),
                14 => {
                    let result = match pick(&mut rng, 3) {
                        0 => Ok(PidClaim::trusted(pid)),
                        1 => Err(PidFileProblem::Dead(pid)),
                        _ => Err(PidFileProblem::Missing),
                    };
                    sup.handle_event(
                        now,
                        Event::PidFile {
                            service: id,
                            result,
                        },
                    );
                }
                15 => {
                    let signal = [libc::SIGTERM, libc::SIGHUP, libc::SIGINT][pick(&mut rng, 3)];
                    sup.handle_event(now, Event::Signal(signal));
                }
                16 => sup.handle_event(now, Event::MainSpawned { pid }),
                17 => sup.handle_event(
                    now,
                    Event::NotifyStatus {
                        service: id,
                        text: "x".into(),
                    },
                ),
                _ => sup.handle_timeout(now),
            }
            // The runtime's side: answer spawns, most with an exec.
            while let Some(action) = sup.poll_action() {
                trace.push(format!("  {action:?}"));
                if let Action::Exit { .. } = action {
                    exits += 1;
                    assert_eq!(exits, 1, "one exit\n{}", trace.join("\n"));
                }
                match action {
                    Action::NoMoreStarts => {
                        assert!(!starts_over, "NoMoreStarts twice\n{}", trace.join("\n"));
                        starts_over = true;
                    }
                    Action::Spawn { service } => {
                        assert!(!was_shutting_down, "spawn while shutting down");
                        assert!(!starts_over, "spawn after NoMoreStarts");
                        let _ = sup.service_config(service);
                        if pick(&mut rng, 10) == 0 {
                            let failure = exec_failure();
                            sup.handle_event(now, Event::SpawnFailed { service, failure });
                            continue;
                        }
                        let pid = next_pid;
                        next_pid += 1;
                        pids.push(pid);
                        sup.handle_event(now, Event::Spawned { service, pid });
                        if pick(&mut rng, 4) != 0 {
                            sup.handle_event(now, Event::Execed { pid });
                        }
                    }
                    Action::Signal { pid, .. } => assert!(pid > 1, "signal to {pid}"),
                    Action::BootSettled => {
                        assert!(!was_shutting_down, "boot settled while shutting down")
                    }
                    Action::StartMain => {
                        assert!(!was_shutting_down, "main started while shutting down");
                        assert!(!starts_over, "main started after NoMoreStarts");
                        let pid = next_pid;
                        next_pid += 1;
                        pids.push(pid);
                        sup.handle_event(now, Event::MainSpawned { pid });
                    }
                    Action::ReadPidFile { service } => {
                        let pid = next_pid;
                        next_pid += 1;
                        pids.push(pid);
                        let result = match pick(&mut rng, 3) {
                            0 => Ok(PidClaim::trusted(pid)),
                            1 => Err(PidFileProblem::Missing),
                            _ => Err(PidFileProblem::Dead(pid)),
                        };
                        sup.handle_event(now, Event::PidFile { service, result });
                    }
                    _ => {}
                }
            }
            if let Err(broken) = sup.check_invariants() {
                panic!("{broken}\n{}\nconfig: {config:#?}", trace.join("\n"));
            }
            for id in sup.ids() {
                let status = sup.status(id);
                if status.state == StateKind::Up {
                    assert!(status.pid.is_some());
                }
                if matches!(status.state, StateKind::Backoff | StateKind::Starting) {
                    assert!(sup.poll_timeout().is_some());
                }
                if let Some(at) = status.next_restart {
                    assert!(sup.poll_timeout().is_some_and(|t| t <= at));
                }
            }
        }
    }
}

fn random_config(rng: &mut SplitMix64) -> Config {
    let mut pick = |n: u64| rng.next_u64() % n;
    let count = 1 + pick(7) as usize;
    let mut services: Vec<ServiceConfig> = Vec::new();
    for i in 0..count {
        let mut s = service(&format!("s{i}"));
        // Edges only to earlier services: no cycles.
        for j in 0..i {
            let name = format!("s{j}");
            match pick(8) {
                0 => s.requires.push(name),
                1 => s.wants.push(name),
                2 => s.after.push(name),
                _ => {}
            }
        }
        s.autostart = pick(4) != 0;
        s.service_type = match pick(5) {
            0 => ServiceType::Oneshot,
            1 => ServiceType::Forking,
            _ => ServiceType::Longrun,
        };
        s.ready_notify = pick(5) == 0;
        s.critical = pick(6) == 0;
        s.restart = match pick(3) {
            0 => RestartPolicy::Never,
            1 => RestartPolicy::Always,
            _ => RestartPolicy::OnFailure,
        };
        s.backoff = if pick(2) == 0 {
            BackoffKind::Linear
        } else {
            BackoffKind::Exponential
        };
        s.backoff_limit = secs(pick(5));
        s.forever = pick(3) == 0;
        s.ready_fd = (pick(4) == 0).then_some(3);
        s.start_timeout = secs(pick(4));
        s.stop_timeout = secs(pick(3));
        s.kill_mode = if pick(2) == 0 {
            KillMode::Group
        } else {
            KillMode::Process
        };
        services.push(s);
    }
    // `before` edges point forward (s_i before s_j, j > i): still acyclic.
    for (i, service) in services.iter_mut().enumerate() {
        for j in i + 1..count {
            if pick(10) == 0 {
                service.before.push(format!("s{j}"));
            }
        }
    }
    Config {
        services,
        shutdown_timeout: (pick(2) == 0).then(|| secs(pick(20))),
        ..Config::default()
    }
}

/// Well under a second optimized (~25 ms); an unoptimized build on a
/// loaded machine gets slack. Linearity itself is asserted on `work_done`,
/// which does not depend on the machine.
const BOOT_BUDGET: Duration = if cfg!(debug_assertions) {
    Duration::from_secs(3)
} else {
    Duration::from_secs(1)
};

#[test]
fn ten_thousand_services_boot_fast_and_stop_in_linear_work() {
    const N: usize = 10_000;
    let services: Vec<ServiceConfig> = (0..N).map(|i| service(&format!("s{i}"))).collect();
    let started = std::time::Instant::now();
    let mut h = Harness::boot(config(services));
    let elapsed = started.elapsed();
    assert!(elapsed < BOOT_BUDGET, "boot took {elapsed:?}");
    assert_eq!(h.log.len(), 3 * N, "a spawn and two state changes each");
    assert_eq!(h.reached(StateKind::Up).len(), N);
    assert_eq!(h.sup.poll_timeout(), None);
    h.shutdown(0);
    assert_eq!(h.reached(StateKind::Down).len(), N);
    let work = h.sup.work_done.get();
    assert!(work < 20 * N as u64, "{work} steps of work");
}

#[test]
fn a_service_that_requires_ten_thousand_boots_fast_in_linear_work() {
    const N: usize = 10_000;
    let mut services: Vec<ServiceConfig> = (0..N).map(|i| service(&format!("s{i}"))).collect();
    let mut all = service("all");
    all.requires = services.iter().map(|s| s.name.clone()).collect();
    let mut base = service("base");
    base.before = all.requires.clone();
    services.push(all);
    services.push(base);
    let started = std::time::Instant::now();
    let mut h = Harness::boot(config(services));
    let elapsed = started.elapsed();
    assert!(elapsed < BOOT_BUDGET, "boot took {elapsed:?}");
    assert_eq!(h.state("all"), StateKind::Up);
    assert_eq!(h.reached(StateKind::Up).len(), N + 2);
    h.shutdown(0);
    let down = h.reached(StateKind::Down);
    assert_eq!(down.first().map(String::as_str), Some("all"));
    assert_eq!(down.last().map(String::as_str), Some("base"));
    let work = h.sup.work_done.get();
    assert!(work < 40 * N as u64, "{work} steps of work");
}

// --- corners ---

#[test]
fn zero_timeouts_and_zero_backoff_do_not_loop() {
    let mut web = service("web");
    web.start_timeout = Duration::ZERO;
    web.backoff_limit = Duration::ZERO;
    web.forever = true;
    let mut h = Harness::new(config(vec![web]))
        .with("web", Behaviour::Hold)
        .booted();
    for _ in 0..5 {
        h.advance(Duration::ZERO);
    }
    assert!(h.starts("web") <= 6, "one start per call at most");
    h.sup.check_invariants().unwrap();
}

#[test]
fn an_exit_before_exec_is_a_crash() {
    let mut h = Harness::new(config(vec![service("web")]))
        .with("web", Behaviour::Hold)
        .booted();
    h.exit("web", 127);
    assert_eq!(h.state("web"), StateKind::Backoff);
}

#[test]
fn a_forking_service_is_starting_until_its_launcher_exits() {
    let mut web = service("web");
    web.service_type = ServiceType::Forking;
    web.pid_file = Some("/run/web.pid".into());
    let h = Harness::boot(config(vec![web]));
    assert_eq!(h.state("web"), StateKind::Starting);
}

#[test]
fn start_reruns_a_finished_longrun_but_not_a_done_oneshot() {
    let mut setup = service("setup");
    setup.service_type = ServiceType::Oneshot;
    setup.restart = RestartPolicy::Never;
    let mut h = Harness::boot(config(vec![service("web"), setup]));
    h.exit("web", 0);
    h.exit("setup", 0);
    h.start("web");
    h.start("setup");
    assert_eq!(h.state("web"), StateKind::Up);
    assert_eq!(h.state("setup"), StateKind::Done);
    // Stopping a done oneshot makes it down; the next start runs it again.
    h.stop("setup");
    assert_eq!(h.state("setup"), StateKind::Down);
    h.start("setup");
    assert_eq!(h.starts("setup"), 2);
    // A failed one is cleared by stop.
    h.set("web", CRASH);
    h.exit("web", 1);
    h.drive();
    assert_eq!(h.state("web"), StateKind::Failed);
    h.stop("web");
    assert_eq!(h.state("web"), StateKind::Down);
    assert_eq!(h.status("web").reason, None);
}

#[test]
fn shutdown_cancels_a_backoff() {
    let mut h = crashing(None, false);
    h.shutdown(0);
    assert_eq!(h.state("web"), StateKind::Down);
    assert!(h.effects().ends_with(&term_sweep()), "{:?}", h.effects());
    assert_eq!(h.sup.poll_timeout(), Some(h.now + secs(5)), "the sweep's");
}

#[test]
fn a_removed_service_re_added_while_stopping_is_the_same_service() {
    let mut h = Harness::boot(config(vec![service("web")]));
    h.obey_signals = false;
    let id = h.id("web");
    h.sup.reload(h.now, config(vec![]));
    h.pump();
    assert_eq!(h.state("web"), StateKind::Stopping);
    let summary = h.sup.reload(h.now, config(vec![service("web")]));
    h.pump();
    assert_eq!(summary.added, names(&["web"]));
    assert_eq!(h.id("web"), id);
    assert!(!h.status("web").removed);
    h.exit_status("web", ExitStatus::Exited(0));
    assert_eq!(h.state("web"), StateKind::Up, "autostart: started again");
    assert_eq!(h.sup.ids().count(), 1);
}

#[test]
fn a_changed_service_activates_its_new_dependencies() {
    let mut lib = service("lib");
    lib.autostart = false;
    let mut h = Harness::boot(config(vec![service("web"), lib.clone()]));
    assert_eq!(h.state("lib"), StateKind::Down);
    let mut web = service("web");
    web.requires = names(&["lib"]);
    let summary = h.sup.reload(h.now, config(vec![web, lib]));
    h.pump();
    assert_eq!(summary.changed, names(&["web"]));
    assert_eq!(h.state("lib"), StateKind::Up);
    assert_eq!(
        h.state("web"),
        StateKind::Up,
        "still running, new config pending"
    );
    assert!(h.status("web").config_changed);
}

#[test]
fn an_orphan_exit_does_not_disturb_a_shutdown() {
    let mut h = Harness::boot(chain());
    h.obey_signals = false;
    h.shutdown(0);
    let status = ExitStatus::Exited(0);
    h.event(Event::Exited { pid: 9999, status });
    h.event(Event::NoChildren);
    assert_eq!(h.sup.orphans_reaped(), 1);
    assert!(
        !h.effects().contains(&Action::Exit { code: 0 }),
        "services still run"
    );
    for name in ["proxy", "web", "db"] {
        h.exit_status(name, status);
    }
    h.event(Event::NoChildren);
    assert_eq!(h.effects().last(), Some(&Action::Exit { code: 0 }));
}

// --- stop signals and processes that survive SIGKILL (SPEC §3, §7) ---

fn cont(pid: i32, group: bool) -> (i32, i32, bool) {
    (pid, libc::SIGCONT, group)
}

#[test]
fn every_stop_signal_is_followed_by_sigcont_to_the_same_target() {
    for (stop_signal, kill_mode, group) in [
        (libc::SIGTERM, KillMode::Group, true),
        (libc::SIGHUP, KillMode::Process, false),
        (40, KillMode::Group, true),
    ] {
        let mut web = service("web");
        web.stop_signal = stop_signal;
        web.kill_mode = kill_mode;
        web.stop_timeout = secs(3);
        let mut h = Harness::boot(config(vec![web]));
        h.stubborn("web");
        let pid = h.pid("web");
        h.clear_log();
        h.stop("web");
        assert_eq!(
            h.all_signals(),
            vec![(pid, stop_signal, group), cont(pid, group)],
            "stop-signal {stop_signal}"
        );
        // Never after SIGKILL.
        h.advance(secs(3));
        assert_eq!(h.all_signals().last(), Some(&kill(pid)));
        assert_eq!(h.all_signals().len(), 3);
    }
}

#[test]
fn no_sigcont_after_a_stop_signal_that_is_sigcont_or_sigkill() {
    for stop_signal in [libc::SIGCONT, libc::SIGKILL] {
        let mut web = service("web");
        web.stop_signal = stop_signal;
        let mut h = Harness::boot(config(vec![web]));
        let pid = h.pid("web");
        h.clear_log();
        h.stop("web");
        assert_eq!(h.all_signals(), vec![(pid, stop_signal, true)]);
    }
}

#[test]
fn a_stop_before_spawned_sends_sigcont_too_once_spawned() {
    let mut sup = Supervisor::new(config(vec![service("web")]), Role::User, Instant::now(), 1);
    let now = Instant::now();
    sup.boot(now);
    let id = sup.id_of("web").unwrap();
    sup.stop(now, id);
    while sup.poll_action().is_some() {}
    sup.handle_event(
        now,
        Event::Spawned {
            service: id,
            pid: 50,
        },
    );
    let mut sent = Vec::new();
    while let Some(action) = sup.poll_action() {
        if let Action::Signal { pid, signal, group } = action {
            sent.push((pid, signal, group));
        }
    }
    assert_eq!(sent, vec![term(50), cont(50, true)]);
}

#[test]
fn a_process_that_survives_sigkill_is_given_up_on_5s_later() {
    let mut web = service("web");
    web.stop_timeout = secs(2);
    let mut h = Harness::boot(config(vec![web]));
    h.unkillable("web");
    let pid = h.pid("web");
    h.stop("web");
    h.advance(secs(2));
    assert_eq!(h.signals().last(), Some(&kill(pid)));
    assert_eq!(h.state("web"), StateKind::Stopping);
    assert_eq!(h.sup.poll_timeout(), Some(h.now + secs(5)));
    h.advance(Duration::from_millis(4999));
    assert_eq!(h.state("web"), StateKind::Stopping);
    h.advance(Duration::from_millis(1));
    assert_eq!(h.state("web"), StateKind::Down);
    let reason = Reason::Unkillable {
        pid,
        after: secs(5),
    };
    assert_eq!(h.status("web").reason, Some(reason.clone()));
    assert!(
        reason
            .to_string()
            .starts_with(&format!("unkillable (pid {pid})"))
    );
    assert_eq!(h.sup.poll_timeout(), None);
    h.sup.check_invariants().unwrap();
    // Its exit, if it ever comes, is an orphan's and changes nothing.
    h.exit_pid(
        pid,
        ExitStatus::Signaled {
            signal: libc::SIGKILL,
            core: false,
        },
    );
    assert_eq!(h.sup.orphans_reaped(), 1);
    assert_eq!(h.state("web"), StateKind::Down);
    // And it can be started again.
    h.start("web");
    assert_eq!(h.state("web"), StateKind::Up);
    assert_ne!(h.pid("web"), pid);
}

#[test]
fn an_unkillable_process_does_not_stall_the_shutdown() {
    let mut h = Harness::boot(chain_with_timeouts(None, 1));
    h.unkillable("web");
    h.shutdown(0);
    assert_eq!(h.reached(StateKind::Down), names(&["proxy"]));
    h.drive_until(h.now + secs(6));
    assert_eq!(h.reached(StateKind::Down), names(&["proxy", "web", "db"]));
    assert!(h.effects().ends_with(&term_sweep()), "{:?}", h.effects());
    h.event(Event::NoChildren);
    assert_eq!(h.exit_code(), Some(0));
}

#[test]
fn an_unkillable_process_after_the_shutdown_timeout_does_not_stall_it() {
    let mut h = Harness::boot(chain_with_timeouts(Some(3), 60));
    for name in ["db", "web", "proxy"] {
        h.unkillable(name);
    }
    h.shutdown(0);
    h.advance(secs(3));
    assert_eq!(h.state("proxy"), StateKind::Stopping);
    h.advance(secs(5));
    for name in ["db", "web", "proxy"] {
        assert_eq!(h.state(name), StateKind::Down, "{name}");
        assert!(
            matches!(h.status(name).reason, Some(Reason::Unkillable { .. })),
            "{name}"
        );
    }
    assert!(h.effects().ends_with(&term_sweep()), "{:?}", h.effects());
}

#[test]
fn an_unkillable_process_at_start_timeout_is_a_crash() {
    let mut web = service("web");
    web.ready_notify = true;
    web.start_timeout = secs(2);
    let mut h = Harness::new(config(vec![web]))
        .with("web", Behaviour::Run)
        .booted();
    h.unkillable("web");
    let pid = h.pid("web");
    h.advance(secs(2));
    assert_eq!(h.signals().last(), Some(&kill(pid)));
    h.advance(secs(5));
    assert_eq!(h.state("web"), StateKind::Backoff);
    assert_eq!(
        h.status("web").reason,
        Some(Reason::Unkillable {
            pid,
            after: secs(5)
        })
    );
    h.sup.check_invariants().unwrap();
}
