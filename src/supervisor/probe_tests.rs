//! `ready-probe` (SPEC §3 "Probe timing", §4 *Probes*) on the fake clock:
//! the first probe right after the exec, the next `interval` after the
//! previous one ended, a pass makes the service `up`, start-timeout makes
//! it a failed start, a probe left behind by a change of state is stopped
//! and its result ignored, none while wanted down, and a reloaded probe
//! only from the next start.

use std::time::Duration;

use crate::config::{ConnectTarget, Probe, ProbeCheck, ServiceConfig};

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
