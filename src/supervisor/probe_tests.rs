//! `ready-probe` (SPEC §3 "Probe timing", §4 *Probes*) on the fake clock:
//! the first probe right after the exec, the next `interval` after the
//! previous one ended, a pass makes the service `up`, start-timeout makes
//! it a failed start, a probe left behind by a change of state is stopped
//! and its result ignored, none while wanted down, and a reloaded probe
//! only from the next start.

use std::time::Duration;

use crate::config::{ConnectTarget, Health, HealthAction, Probe, ProbeCheck, ServiceConfig};

use super::harness::{Harness, config, names, secs, service};
use super::*;

fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

fn connect(port: u16) -> ProbeCheck {
    ProbeCheck::Connect(ConnectTarget::Tcp(
        format!("127.0.0.1:{port}").parse().unwrap(),
    ))
}

/// `db`, probed by a connect to port 5432 every second, 5 s timeout.
fn probed(name: &str) -> ServiceConfig {
    let mut probed = service(name);
    probed.ready_probe = Some(Probe {
        check: connect(5432),
        interval: secs(1),
        timeout: secs(5),
    });
    probed
}

/// Every probe started: when (since boot), for which service, its id and
/// its check.
fn runs(h: &Harness) -> Vec<(Duration, ServiceId, ProbeId, ProbeCheck)> {
    h.log
        .iter()
        .filter_map(|(at, action)| match action {
            Action::RunProbe {
                service,
                probe,
                check,
            } => Some((at.duration_since(h.t0), *service, *probe, check.clone())),
            _ => None,
        })
        .collect()
}

fn run_times(h: &Harness) -> Vec<Duration> {
    runs(h).into_iter().map(|(at, ..)| at).collect()
}

fn stopped(h: &Harness) -> Vec<ProbeId> {
    h.log
        .iter()
        .filter_map(|(_, action)| match action {
            Action::StopProbe { probe, .. } => Some(*probe),
            _ => None,
        })
        .collect()
}

/// The last probe started.
fn last(h: &Harness) -> ProbeId {
    runs(h).last().map(|run| run.2).expect("no probe ran")
}

fn answer(h: &mut Harness, name: &str, probe: ProbeId, ok: bool) {
    let service = h.id(name);
    h.event(Event::ProbeEnded {
        service,
        probe,
        ok,
        detail: String::new(),
    });
}

/// The last probe started ends.
fn answer_last(h: &mut Harness, name: &str, ok: bool) {
    let probe = last(h);
    answer(h, name, probe, ok);
}

fn with_web(db: ServiceConfig) -> Harness {
    let mut web = service("web");
    web.requires = names(&["db"]);
    Harness::boot(config(vec![db, web]))
}

#[test]
fn the_first_probe_runs_at_exec_the_next_an_interval_after_the_last_ended_and_a_pass_is_up() {
    let mut h = with_web(probed("db"));
    assert_eq!(h.state("db"), StateKind::Starting, "not up at exec");
    assert_eq!(run_times(&h), vec![Duration::ZERO], "one probe, at exec");
    assert_eq!(h.starts("web"), 0);

    h.advance(ms(300));
    let first = last(&h);
    answer(&mut h, "db", first, false);
    assert_eq!(h.state("db"), StateKind::Starting);
    h.advance(ms(999));
    assert_eq!(run_times(&h).len(), 1, "not before interval after the end");
    h.advance(ms(1));
    assert_eq!(run_times(&h), vec![Duration::ZERO, ms(1300)]);

    h.advance(ms(50));
    answer_last(&mut h, "db", true);
    assert_eq!(h.state("db"), StateKind::Up);
    assert_eq!(h.status("db").ready_at, Some(h.t0 + ms(1350)));
    assert_eq!(h.starts("web"), 1, "the dependent starts once db passed");
    assert!(stopped(&h).is_empty(), "an ended probe needs no stop");
    h.drive();
    assert_eq!(run_times(&h).len(), 2, "no readiness probe once up");
}

#[test]
fn a_probe_running_past_its_timeout_fails_and_is_stopped() {
    let mut db = probed("db");
    db.ready_probe.as_mut().unwrap().timeout = secs(2);
    let mut h = with_web(db);
    let first = last(&h);
    h.advance(secs(2));
    assert_eq!(stopped(&h), vec![first], "killed at its timeout");
    assert_eq!(h.state("db"), StateKind::Starting);
    h.advance(ms(999));
    assert_eq!(run_times(&h).len(), 1);
    h.advance(ms(1));
    assert_eq!(run_times(&h), vec![Duration::ZERO, secs(3)]);
    // The stopped probe's late pass counts for nothing.
    answer(&mut h, "db", first, true);
    assert_eq!(h.state("db"), StateKind::Starting);
    answer_last(&mut h, "db", true);
    assert_eq!(h.state("db"), StateKind::Up);
}

#[test]
fn not_ready_within_start_timeout_is_a_failed_start_and_backs_off() {
    let mut db = probed("db");
    db.start_timeout = secs(3);
    let mut h = with_web(db);
    let pid = h.pid("db");
    for _ in 0..2 {
        h.advance(ms(100));
        answer_last(&mut h, "db", false);
        h.advance(secs(1));
    }
    assert_eq!(run_times(&h), vec![Duration::ZERO, ms(1100), ms(2200)]);
    let running = last(&h);
    h.advance(ms(799));
    assert_eq!(h.state("db"), StateKind::Starting);
    h.advance(ms(1));
    assert!(h.signals().contains(&(pid, libc::SIGKILL, true)));
    assert_eq!(stopped(&h), vec![running], "the running probe is stopped");
    assert_eq!(h.state("db"), StateKind::Backoff);
    assert_eq!(h.status("db").reason, Some(Reason::StartTimeout(secs(3))));
    answer(&mut h, "db", running, true);
    assert_eq!(h.state("db"), StateKind::Backoff, "its result is ignored");
    assert_eq!(h.starts("web"), 0);
    h.advance(secs(1));
    assert_eq!(h.starts("db"), 2, "started again after the backoff");
    assert_eq!(run_times(&h).last(), Some(&secs(4)), "probed from its exec");
}

#[test]
fn an_exit_while_probing_stops_the_probe_and_ignores_its_result() {
    let mut h = with_web(probed("db"));
    let probe = last(&h);
    h.advance(ms(200));
    h.exit("db", 1);
    assert_eq!(stopped(&h), vec![probe]);
    assert_eq!(h.state("db"), StateKind::Backoff);
    answer(&mut h, "db", probe, true);
    assert_eq!(h.state("db"), StateKind::Backoff);
    assert_eq!(run_times(&h).len(), 1, "none in backoff");
    h.advance(ms(999));
    assert_eq!(run_times(&h).len(), 1);
}

#[test]
fn no_probe_runs_once_wanted_down() {
    let mut h = with_web(probed("db"));
    let probe = last(&h);
    h.advance(ms(200));
    h.stop("db");
    assert_eq!(stopped(&h), vec![probe], "stopped with the service");
    h.drive();
    assert_eq!(h.state("db"), StateKind::Down);
    assert_eq!(run_times(&h).len(), 1);

    // A stop held up by a dependent still stopping: no probe meanwhile.
    let mut h = with_web(probed("db"));
    answer_last(&mut h, "db", true);
    assert_eq!(h.state("web"), StateKind::Up);
    h.exit("db", 1);
    h.advance(secs(1));
    assert_eq!(
        (h.state("db"), h.state("web")),
        (StateKind::Starting, StateKind::Up)
    );
    let probe = last(&h);
    h.stubborn("web");
    h.stop("db");
    assert_eq!(
        (h.state("db"), h.state("web")),
        (StateKind::Starting, StateKind::Stopping),
        "db's stop waits for web's"
    );
    assert_eq!(stopped(&h), vec![probe]);
    let probes = run_times(&h).len();
    h.drive();
    assert_eq!(h.state("db"), StateKind::Down);
    assert_eq!(run_times(&h).len(), probes, "none while wanted down");
}

#[test]
fn the_shutdown_stops_a_running_probe_and_starts_none() {
    let mut h = with_web(probed("db"));
    let probe = last(&h);
    h.advance(ms(200));
    h.shutdown(0);
    assert_eq!(stopped(&h), vec![probe]);
    h.drive();
    assert_eq!(run_times(&h).len(), 1);
    assert_eq!(h.exit_code(), Some(0));
}

#[test]
fn a_reloaded_probe_is_used_from_the_next_start() {
    let mut h = Harness::boot(config(vec![probed("db")]));
    let mut changed = probed("db");
    changed.ready_probe = Some(Probe {
        check: connect(6543),
        interval: secs(3),
        timeout: secs(5),
    });
    let now = h.now;
    h.sup.reload(now, config(vec![changed]));
    h.pump();
    answer_last(&mut h, "db", false);
    h.advance(secs(1));
    let checks: Vec<ProbeCheck> = runs(&h).into_iter().map(|run| run.3).collect();
    assert_eq!(
        checks,
        vec![connect(5432), connect(5432)],
        "this run's probe"
    );
    answer_last(&mut h, "db", true);
    h.exit("db", 1);
    h.advance(secs(1));
    assert_eq!(h.starts("db"), 2);
    let (at, _, _, check) = runs(&h).last().cloned().unwrap();
    assert_eq!((at, check), (secs(2), connect(6543)), "the new one");
    answer_last(&mut h, "db", false);
    h.advance(secs(2));
    assert_eq!(run_times(&h).len(), 3, "the new interval, 3 s");
    h.advance(secs(1));
    assert_eq!(run_times(&h).len(), 4);
}

#[test]
fn a_forking_service_is_probed_once_its_pid_file_named_the_daemon() {
    let mut daemon = probed("daemon");
    daemon.service_type = crate::config::ServiceType::Forking;
    daemon.pid_file = Some("/run/daemon.pid".into());
    let mut h = Harness::boot(config(vec![daemon]));
    assert!(run_times(&h).is_empty(), "not while the launcher runs");
    h.exit("daemon", 0);
    assert!(run_times(&h).is_empty(), "not before the pid file is read");
    let service = h.id("daemon");
    h.advance(ms(100));
    h.event(Event::PidFile {
        service,
        result: Ok(PidClaim::trusted(4242)),
    });
    assert_eq!(h.state("daemon"), StateKind::Starting);
    assert_eq!(run_times(&h), vec![ms(100)]);
    answer_last(&mut h, "daemon", true);
    assert_eq!(h.state("daemon"), StateKind::Up);
    assert_eq!(h.pid("daemon"), 4242);
}

// ---------------------------------------------------------------- health

/// `web`, up at exec, health-probed every 10 s (timeout 5 s, 3 retries).
fn watched(name: &str, on_failure: HealthAction) -> ServiceConfig {
    let mut watched = service(name);
    watched.health = Some(Health {
        probe: Probe {
            check: connect(80),
            interval: secs(10),
            timeout: secs(5),
        },
        retries: 3,
        start_period: Duration::ZERO,
        on_failure,
    });
    watched
}

fn health(h: &Harness, name: &str) -> HealthStatus {
    h.status(name).health.expect("a health status")
}

/// The health events: (service, from, to).
fn health_changes(h: &Harness) -> Vec<(String, HealthState, HealthState)> {
    h.log
        .iter()
        .filter_map(|(_, action)| match action {
            Action::HealthChanged { name, from, to, .. } => Some((name.clone(), *from, *to)),
            _ => None,
        })
        .collect()
}

/// Fails the next health probe: wait for it, answer it.
fn fail_next(h: &mut Harness, name: &str) {
    h.advance(secs(10));
    let service = h.id(name);
    let probe = last(h);
    h.event(Event::ProbeEnded {
        service,
        probe,
        ok: false,
        detail: "exited with status 1".into(),
    });
}

#[test]
fn health_is_starting_before_the_first_spawn_and_null_without_a_health_block() {
    let mut lazy = watched("web", HealthAction::Restart);
    lazy.autostart = false;
    let h = Harness::boot(config(vec![lazy, service("plain")]));
    assert_eq!(h.state("web"), StateKind::Down);
    assert_eq!(h.status("web").health, Some(HealthStatus::starting()));
    assert_eq!(h.status("plain").health, None);
}

#[test]
fn health_probes_start_an_interval_after_up_and_a_pass_is_healthy() {
    let mut h = Harness::boot(config(vec![watched("web", HealthAction::Restart)]));
    assert_eq!(h.state("web"), StateKind::Up, "health does not hold up");
    assert_eq!(health(&h, "web"), HealthStatus::starting());
    assert!(run_times(&h).is_empty());
    h.advance(secs(10));
    assert_eq!(run_times(&h), vec![secs(10)]);
    h.advance(ms(300));
    answer_last(&mut h, "web", true);
    let status = health(&h, "web");
    assert_eq!((status.state, status.failures), (HealthState::Healthy, 0));
    assert_eq!(status.last.map(|l| (l.at, l.ok)), Some((h.now, true)));
    assert_eq!(
        health_changes(&h),
        vec![("web".into(), HealthState::Starting, HealthState::Healthy)]
    );
    h.advance(ms(9999));
    assert_eq!(
        run_times(&h).len(),
        1,
        "the next one interval after the end"
    );
    h.advance(ms(1));
    assert_eq!(run_times(&h), vec![secs(10), ms(20_300)]);
}

#[test]
fn retries_failures_in_a_row_restart_it_as_a_crash() {
    let mut h = Harness::boot(config(vec![watched("web", HealthAction::Restart)]));
    let pid = h.pid("web");
    fail_next(&mut h, "web");
    fail_next(&mut h, "web");
    assert_eq!(health(&h, "web").failures, 2);
    assert_eq!(
        health(&h, "web").state,
        HealthState::Starting,
        "below retries"
    );
    assert_eq!(h.state("web"), StateKind::Up);
    fail_next(&mut h, "web");
    assert!(h.signals().contains(&(pid, libc::SIGTERM, true)));
    assert_eq!(h.state("web"), StateKind::Backoff);
    let reason = Reason::HealthCheckFailed("exited with status 1".into());
    assert_eq!(h.status("web").reason, Some(reason.clone()));
    assert_eq!(
        reason.to_string(),
        "health check failed: exited with status 1"
    );
    h.advance(secs(1));
    assert_eq!(h.starts("web"), 2);
    assert_eq!(h.status("web").restarts, 1);
    assert_eq!(
        health(&h, "web"),
        HealthStatus::starting(),
        "again from a start"
    );
    assert_eq!(
        health_changes(&h),
        vec![
            ("web".into(), HealthState::Starting, HealthState::Unhealthy),
            ("web".into(), HealthState::Unhealthy, HealthState::Starting),
        ]
    );
}

#[test]
fn a_pass_resets_the_failures_and_a_timeout_is_a_failure() {
    let mut h = Harness::boot(config(vec![watched("web", HealthAction::Restart)]));
    fail_next(&mut h, "web");
    fail_next(&mut h, "web");
    h.advance(secs(10));
    answer_last(&mut h, "web", true);
    assert_eq!(health(&h, "web").failures, 0);
    // A probe never answered: failed at its timeout, and stopped.
    h.advance(secs(10));
    let hung = last(&h);
    h.advance(secs(5));
    assert_eq!(stopped(&h), vec![hung]);
    let status = health(&h, "web");
    assert_eq!(status.failures, 1);
    assert_eq!(
        status.last.map(|l| l.detail),
        Some("timed out after 5s".into())
    );
    assert_eq!(h.state("web"), StateKind::Up);
}

#[test]
fn failures_within_the_start_period_do_not_count_but_a_pass_does() {
    let mut config_ = watched("web", HealthAction::Restart);
    config_.health.as_mut().unwrap().start_period = secs(25);
    let mut h = Harness::boot(config(vec![config_]));
    fail_next(&mut h, "web");
    fail_next(&mut h, "web");
    let status = health(&h, "web");
    assert_eq!((status.state, status.failures), (HealthState::Starting, 0));
    assert!(
        status.last.is_some_and(|last| !last.ok),
        "still the last result"
    );
    h.advance(secs(10));
    answer_last(&mut h, "web", true);
    assert_eq!(health(&h, "web").state, HealthState::Healthy);
    fail_next(&mut h, "web");
    assert_eq!(health(&h, "web").failures, 1, "counted after 25 s");
}

#[test]
fn on_failure_stop_leaves_it_failed_and_stops_what_requires_it() {
    let mut app = service("app");
    app.requires = names(&["web"]);
    let mut h = Harness::boot(config(vec![watched("web", HealthAction::Stop), app]));
    for _ in 0..3 {
        fail_next(&mut h, "web");
    }
    h.drive();
    assert_eq!(h.state("web"), StateKind::Failed);
    assert_eq!(
        h.status("web").reason,
        Some(Reason::HealthCheckFailed("exited with status 1".into()))
    );
    assert_eq!(h.status("web").want, Want::Down);
    assert_ne!(h.state("app"), StateKind::Up, "its requirer stopped");
    assert_eq!(h.starts("web"), 1, "not restarted");
}

#[test]
fn on_failure_log_leaves_it_up_and_unhealthy_until_a_pass() {
    let mut h = Harness::boot(config(vec![watched("web", HealthAction::Log)]));
    for _ in 0..4 {
        fail_next(&mut h, "web");
    }
    assert_eq!(h.state("web"), StateKind::Up);
    let status = health(&h, "web");
    assert_eq!((status.state, status.failures), (HealthState::Unhealthy, 4));
    assert!(h.signals().is_empty());
    h.advance(secs(10));
    answer_last(&mut h, "web", true);
    assert_eq!(health(&h, "web").state, HealthState::Healthy);
}

#[test]
fn no_health_probe_or_action_while_wanted_down_or_in_shutdown() {
    // A stop held up by a requirer that is still stopping.
    let mut app = service("app");
    app.requires = names(&["web"]);
    let mut h = Harness::boot(config(vec![watched("web", HealthAction::Restart), app]));
    h.advance(secs(10));
    let probe = last(&h);
    h.stubborn("app");
    h.stop("web");
    assert_eq!(h.state("web"), StateKind::Up, "waits for app to stop");
    assert_eq!(stopped(&h), vec![probe], "the running probe is stopped");
    let probes = run_times(&h).len();
    h.advance(secs(9));
    assert_eq!(run_times(&h).len(), probes, "none while wanted down");
    h.drive();
    assert_eq!(h.state("web"), StateKind::Down);
    assert_eq!(run_times(&h).len(), probes);

    let mut h = Harness::boot(config(vec![watched("web", HealthAction::Restart)]));
    h.advance(secs(10));
    let probe = last(&h);
    h.shutdown(0);
    assert_eq!(stopped(&h), vec![probe]);
    h.drive();
    assert_eq!(run_times(&h).len(), 1);
}
