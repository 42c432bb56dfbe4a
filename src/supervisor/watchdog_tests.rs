//! The `watchdog` rule (SPEC §3) on the fake clock: armed when the service
//! is `up`, reset by each `WATCHDOG=1`; a missed deadline (or
//! `WATCHDOG=trigger`) stops the service like any stop, and that exit is a
//! crash whatever its status: backoff, `restarts` + 1, giving up, `critical`.

use std::time::Duration;

use crate::config::{RestartPolicy, ServiceConfig};

use super::harness::{Behaviour, Harness, config, names, secs, service};
use super::*;

fn term(pid: i32) -> (i32, i32, bool) {
    (pid, libc::SIGTERM, true)
}

fn kill(pid: i32) -> (i32, i32, bool) {
    (pid, libc::SIGKILL, true)
}

/// A `ready-notify` service with `watchdog 5s`, up at once.
fn dog(name: &str) -> ServiceConfig {
    let mut dog = service(name);
    dog.ready_notify = true;
    dog.watchdog = Some(secs(5));
    dog
}

fn booted(services: Vec<ServiceConfig>) -> Harness {
    let mut h = Harness::new(config(services));
    for name in ["dog", "db"] {
        h.set(name, Behaviour::RunReady);
    }
    h.booted()
}

fn ping(h: &mut Harness, name: &str) {
    let service = h.id(name);
    h.event(Event::Watchdog {
        service,
        message: WatchdogMessage::KeepAlive,
    });
}

fn trigger(h: &mut Harness, name: &str) {
    let service = h.id(name);
    h.event(Event::Watchdog {
        service,
        message: WatchdogMessage::Trigger,
    });
}

#[test]
fn each_keep_alive_resets_the_deadline_and_a_missed_one_stops_the_service() {
    let mut h = booted(vec![dog("dog")]);
    h.obey_signals = false;
    let pid = h.pid("dog");
    assert_eq!(h.sup.poll_timeout(), Some(h.now + secs(5)), "armed when up");
    for _ in 0..3 {
        h.advance(secs(4));
        ping(&mut h, "dog");
    }
    assert_eq!(h.sup.poll_timeout(), Some(h.now + secs(5)));
    h.advance(Duration::from_millis(4999));
    assert_eq!(h.signals(), vec![], "a ping 4.999 s ago");
    h.advance(Duration::from_millis(1));
    assert_eq!(
        h.signals(),
        vec![term(pid)],
        "the stop signal, like any stop"
    );
    assert_eq!(h.state("dog"), StateKind::Stopping);
    let reason = Reason::WatchdogTimeout(secs(5));
    assert_eq!(h.status("dog").reason.as_ref(), Some(&reason));
    assert_eq!(
        reason.to_string(),
        "watchdog timeout: no WATCHDOG=1 within 5s"
    );
    h.exit_status(
        "dog",
        ExitStatus::Signaled {
            signal: libc::SIGTERM,
            core: false,
        },
    );
    assert_eq!(h.state("dog"), StateKind::Backoff);
    assert_eq!(h.status("dog").reason.as_ref(), Some(&reason));
    h.advance(secs(1));
    assert_eq!(h.state("dog"), StateKind::Up);
    assert_eq!(h.status("dog").restarts, 1);
    assert_ne!(h.pid("dog"), pid);
}

/// SPEC §3 *on-failure*: the exit that follows is judged by neither
/// `exit-codes` nor `restart`: a clean exit on SIGTERM, with `restart
/// "never"`, is still a crash for the backoff.
#[test]
fn the_exit_after_a_missed_deadline_is_a_crash_whatever_its_status() {
    let mut clean = dog("dog");
    clean.restart = RestartPolicy::Never;
    let mut h = booted(vec![clean]);
    h.obey_signals = false;
    h.advance(secs(5));
    h.exit("dog", 0);
    assert_eq!(h.state("dog"), StateKind::Backoff);
    assert_eq!(h.status("dog").last_exit, Some(ExitStatus::Exited(0)));
}

/// A service that ignores the stop signal gets SIGKILL at `stop-timeout`;
/// that exit is the crash.
#[test]
fn a_service_that_ignores_the_stop_signal_is_killed_at_stop_timeout() {
    let mut stubborn = dog("dog");
    stubborn.stop_timeout = secs(3);
    let mut h = booted(vec![stubborn]);
    h.stubborn("dog");
    let pid = h.pid("dog");
    h.advance(secs(5));
    assert_eq!(h.signals(), vec![term(pid)]);
    h.advance(secs(3));
    assert_eq!(h.signals(), vec![term(pid), kill(pid)]);
    assert_eq!(h.state("dog"), StateKind::Backoff);
    let reason = Reason::WatchdogTimeout(secs(5));
    assert_eq!(h.status("dog").reason, Some(reason));
}

/// Crashes in a row give up (`failed`, the watchdog's reason); a run longer
/// than `backoff-limit` resets the delay first; `critical` applies.
#[test]
fn watchdog_crashes_count_for_the_backoff_and_give_up() {
    let mut limited = dog("dog");
    limited.backoff_limit = secs(3);
    limited.critical = true;
    let mut h = booted(vec![limited]);
    // Up 5 s > 3 s: each miss starts again from a 1 s delay.
    for _ in 0..3 {
        h.advance(secs(5));
        assert_eq!(h.status("dog").next_restart, Some(h.now + secs(1)));
        h.advance(secs(1));
    }
    // Missed at once: 1 s, 2 s, then the next delay reaches the limit.
    let mut quick = dog("dog");
    quick.watchdog = Some(secs(1));
    quick.backoff_limit = secs(3);
    quick.critical = true;
    let mut h = booted(vec![quick, service("web")]);
    h.drive();
    assert_eq!(h.starts("dog"), 3);
    assert_eq!(h.state("dog"), StateKind::Failed);
    assert_eq!(
        h.status("dog").reason,
        Some(Reason::WatchdogTimeout(secs(1)))
    );
    assert_eq!(h.status("dog").restarts, 2);
    let ended = h.notices().into_iter().find_map(|notice| match notice {
        Notice::CriticalEnded { exit_code, .. } => Some(exit_code),
        _ => None,
    });
    assert_eq!(
        ended,
        Some(1),
        "critical: a failure with no status of its own"
    );
    assert!(h.sup.is_shutting_down());
}

/// `WATCHDOG=trigger` (systemd): act as if the deadline was missed, now.
#[test]
fn watchdog_trigger_acts_at_once() {
    let mut h = booted(vec![dog("dog")]);
    let pid = h.pid("dog");
    h.advance(secs(1));
    trigger(&mut h, "dog");
    assert_eq!(h.signals(), vec![term(pid)]);
    assert_eq!(h.state("dog"), StateKind::Backoff);
    assert_eq!(h.status("dog").reason, Some(Reason::WatchdogTriggered));
    assert_eq!(
        Reason::WatchdogTriggered.to_string(),
        "watchdog timeout: WATCHDOG=trigger"
    );
}

/// Not armed before `up` (start-timeout rules then), nor without the key;
/// pings and triggers are then ignored.
#[test]
fn the_watchdog_runs_only_while_up_and_only_with_the_key() {
    let mut h = Harness::new(config(vec![dog("dog")])).booted();
    assert_eq!(h.state("dog"), StateKind::Starting);
    ping(&mut h, "dog");
    trigger(&mut h, "dog");
    assert_eq!(h.sup.poll_timeout(), Some(h.t0 + secs(60)), "start-timeout");
    h.advance(secs(10));
    h.ready("dog");
    assert_eq!(h.sup.poll_timeout(), Some(h.now + secs(5)));

    let mut plain = dog("plain");
    plain.watchdog = None;
    let mut h = Harness::new(config(vec![plain]))
        .with("plain", Behaviour::RunReady)
        .booted();
    assert_eq!(h.state("plain"), StateKind::Up);
    assert_eq!(h.sup.poll_timeout(), None, "nothing to wake up for");
    ping(&mut h, "plain");
    trigger(&mut h, "plain");
    h.advance(secs(3600));
    assert_eq!(h.signals(), vec![]);
    assert_eq!(h.state("plain"), StateKind::Up);
}

/// No watchdog action while the service is wanted down (its stop waits for
/// a dependent), about to restart, or during a shutdown.
#[test]
fn no_watchdog_action_while_it_is_being_stopped() {
    for how in ["stop", "restart", "shutdown"] {
        let mut web = service("web");
        web.requires = names(&["dog"]);
        let mut h = booted(vec![dog("dog"), web]);
        h.stubborn("web");
        let (dog_pid, web) = (h.pid("dog"), h.pid("web"));
        match how {
            "stop" => h.stop("dog"),
            "restart" => h.restart("dog"),
            _ => h.shutdown(0),
        }
        assert_eq!(h.signals(), vec![term(web)], "{how}");
        h.advance(secs(9));
        assert_eq!(
            h.signals(),
            vec![term(web)],
            "{how}: dog waits for web, quietly"
        );
        h.advance(secs(1));
        assert_eq!(
            h.signals(),
            vec![term(web), kill(web), term(dog_pid)],
            "{how}"
        );
        assert_ne!(h.state("dog"), StateKind::Backoff, "{how}");
        assert_eq!(h.status("dog").restarts, 0, "{how}: a stop, not a crash");
        let reason = h.status("dog").reason;
        assert!(
            !matches!(reason, Some(Reason::WatchdogTimeout(_))),
            "{how}: {reason:?}"
        );
    }
}
