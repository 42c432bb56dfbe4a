//! Stop commands (`stop-exec`/`stop-shell`, SPEC §3 *Settled details*) on
//! the fake clock: run instead of the stop signal, only while the service
//! has a pid; the stop signal at once when the command cannot be started
//! or exits non-zero; both process groups SIGKILLed at `stop-timeout`; the
//! command killed once the service has been reaped; a shutdown runs them in
//! reverse dependency order.

use crate::config::{Command, ServiceConfig, ServiceType};

use super::harness::{Behaviour, Harness, config, exec_failure, secs, service};
use super::*;

fn term(pid: i32) -> (i32, i32, bool) {
    (pid, libc::SIGTERM, true)
}

fn kill(pid: i32) -> (i32, i32, bool) {
    (pid, libc::SIGKILL, true)
}

/// A service stopped by `stop-shell "myserver stop"`, `stop-timeout 5s`.
fn stoppable(name: &str) -> ServiceConfig {
    let mut s = service(name);
    s.stop_command = Some(Command::Shell(format!("{name} stop")));
    s.stop_timeout = secs(5);
    s
}

/// The stop commands asked for, in order: (service, MAINPID).
fn stop_commands(h: &Harness) -> Vec<(String, i32)> {
    h.log
        .iter()
        .filter_map(|(_, action)| match action {
            Action::RunStopCommand { service, pid } => Some((h.sup.status(*service).name, *pid)),
            _ => None,
        })
        .collect()
}

/// Processes do not die of signals here: each test says who exits.
fn booted(services: Vec<ServiceConfig>) -> Harness {
    let mut h = Harness::boot(config(services));
    h.obey_signals = false;
    h
}

#[test]
fn a_stop_runs_the_stop_command_with_the_pid_instead_of_the_stop_signal() {
    let mut h = booted(vec![stoppable("web")]);
    let pid = h.pid("web");
    h.stop("web");
    assert_eq!(stop_commands(&h), vec![("web".to_string(), pid)]);
    assert_eq!(h.all_signals(), vec![], "no stop signal, no SIGCONT");
    assert_eq!(h.state("web"), StateKind::Stopping);
    // The command made the service exit, and exited itself.
    let command = h.stop_command_pid("web");
    h.stop_command_exit("web", ExitStatus::Exited(0));
    assert_eq!(h.all_signals(), vec![], "a command that succeeded");
    h.exit("web", 0);
    assert_eq!(h.state("web"), StateKind::Down);
    assert_eq!(h.status("web").reason, None);
    assert_eq!(
        h.all_signals(),
        vec![kill(command)],
        "what the command left in its group goes with the stop"
    );
}

#[test]
fn a_stop_command_still_running_when_the_service_is_reaped_is_killed() {
    let mut h = booted(vec![stoppable("web")]);
    h.stop("web");
    let command = h.stop_command_pid("web");
    h.exit("web", 0);
    assert_eq!(h.state("web"), StateKind::Down);
    assert_eq!(h.signals(), vec![kill(command)]);
    h.clear_log();
    h.advance(secs(10));
    assert_eq!(h.signals(), vec![], "no deadline left");
}

#[test]
fn a_stop_command_that_exits_non_zero_sends_the_stop_signal_at_once() {
    let mut h = booted(vec![stoppable("web")]);
    let pid = h.pid("web");
    h.stop("web");
    h.stop_command_exit("web", ExitStatus::Exited(1));
    assert_eq!(
        h.all_signals(),
        vec![term(pid), (pid, libc::SIGCONT, true)],
        "the stop signal, then SIGCONT, as any stop signal"
    );
    assert!(h.notices().contains(&Notice::StopCommandFailed {
        service: "web".into(),
        problem: "exited with status 1".into(),
        signal: libc::SIGTERM,
    }));
    h.exit_status(
        "web",
        ExitStatus::Signaled {
            signal: libc::SIGTERM,
            core: false,
        },
    );
    assert_eq!(h.state("web"), StateKind::Down);
}

#[test]
fn a_stop_command_that_cannot_be_started_sends_the_stop_signal_at_once() {
    let mut h = booted(vec![stoppable("web")]);
    let pid = h.pid("web");
    h.stop_command_failure = Some(exec_failure());
    h.stop("web");
    assert_eq!(h.signals(), vec![term(pid)]);
    assert!(h.notices().iter().any(|n| matches!(
        n,
        Notice::StopCommandFailed { problem, .. } if problem.starts_with("cannot be started: exec")
    )));
}

#[test]
fn a_stop_command_whose_exec_failed_sends_the_stop_signal_when_reaped() {
    let mut h = booted(vec![stoppable("web")]);
    let pid = h.pid("web");
    h.stop("web");
    let service = h.id("web");
    let command = h.stop_command_pid("web");
    h.event(Event::StopCommandFailed {
        service,
        pid: Some(command),
        failure: exec_failure(),
    });
    assert_eq!(h.signals(), vec![term(pid)]);
}

#[test]
fn at_stop_timeout_both_groups_get_sigkill() {
    let mut h = booted(vec![stoppable("web")]);
    let pid = h.pid("web");
    h.stop("web");
    let command = h.stop_command_pid("web");
    h.advance(secs(4));
    assert_eq!(h.signals(), vec![], "neither before stop-timeout");
    h.advance(secs(1));
    let killed = h.signals();
    assert!(killed.contains(&kill(pid)), "{killed:?}");
    assert!(killed.contains(&kill(command)), "{killed:?}");
    assert_eq!(killed.len(), 2, "{killed:?}");
    h.exit_status(
        "web",
        ExitStatus::Signaled {
            signal: libc::SIGKILL,
            core: false,
        },
    );
    assert_eq!(h.state("web"), StateKind::Down);
    assert_eq!(h.status("web").reason, Some(Reason::StopTimeout(secs(5))));
    assert_eq!(h.signals().len(), 2, "the command is not killed twice");
}

#[test]
fn a_stop_command_that_succeeded_leaves_the_service_to_stop_timeout() {
    let mut h = booted(vec![stoppable("web")]);
    let pid = h.pid("web");
    h.stop("web");
    let command = h.stop_command_pid("web");
    h.stop_command_exit("web", ExitStatus::Exited(0));
    h.advance(secs(5));
    assert_eq!(
        h.signals(),
        vec![kill(pid), kill(command)],
        "the service, and whatever the command left in its group"
    );
}

#[test]
fn a_stop_before_the_pid_is_known_runs_the_stop_command_once_it_is() {
    let mut h = Harness::new(config(vec![stoppable("web")])).with("web", Behaviour::Hold);
    h.sup.boot(h.now);
    h.clear_log();
    h.sup.stop(h.now, h.id("web"));
    // `Spawn` polled, `Spawned` held back by the runtime: nothing yet.
    let spawn = h.sup.poll_action();
    assert!(matches!(spawn, Some(Action::Spawn { .. })), "{spawn:?}");
    while h.sup.poll_action().is_some() {}
    let service = h.id("web");
    h.event(Event::Spawned { service, pid: 4242 });
    assert_eq!(stop_commands(&h), vec![("web".to_string(), 4242)]);
    assert_eq!(h.signals(), vec![]);
}

#[test]
fn no_stop_command_without_a_pid() {
    // A forking service whose pid file is awaited has no pid: down at once.
    let mut daemon = stoppable("daemon");
    daemon.service_type = ServiceType::Forking;
    daemon.pid_file = Some("/run/daemon.pid".into());
    let mut h = booted(vec![daemon]);
    h.exit("daemon", 0);
    assert_eq!(h.state("daemon"), StateKind::Starting);
    h.stop("daemon");
    assert_eq!(h.state("daemon"), StateKind::Down);
    assert_eq!(stop_commands(&h), vec![]);
}

#[test]
fn a_late_end_of_an_old_stop_command_does_not_signal_a_new_process() {
    let mut h = booted(vec![stoppable("web")]);
    h.stop("web");
    let old_command = h.stop_command_pid("web");
    h.exit("web", 0);
    h.start("web");
    let pid = h.pid("web");
    h.stop("web");
    h.clear_log();
    let service = h.id("web");
    h.event(Event::StopCommandExited {
        service,
        pid: old_command,
        status: ExitStatus::Exited(1),
    });
    assert_eq!(h.signals(), vec![], "not the stop command of this stop");
    h.stop_command_exit("web", ExitStatus::Exited(2));
    assert_eq!(h.signals(), vec![term(pid)]);
}

#[test]
fn a_shutdown_runs_the_stop_commands_in_reverse_dependency_order() {
    let mut web = stoppable("web");
    web.requires = vec!["db".into()];
    let mut h = booted(vec![stoppable("db"), web]);
    h.shutdown(0);
    let web_pid = h.pid("web");
    assert_eq!(stop_commands(&h), vec![("web".to_string(), web_pid)]);
    let web_command = h.stop_command_pid("web");
    h.stop_command_exit("web", ExitStatus::Exited(0));
    h.exit("web", 0);
    let db_pid = h.pid("db");
    assert_eq!(
        stop_commands(&h),
        vec![("web".to_string(), web_pid), ("db".to_string(), db_pid)]
    );
    let db_command = h.stop_command_pid("db");
    h.stop_command_exit("db", ExitStatus::Exited(0));
    h.exit("db", 0);
    assert_eq!(h.exit_code(), None, "the orphan sweep comes first");
    // Only the stop commands' (empty) groups, as each stop ends.
    assert_eq!(h.signals(), vec![kill(web_command), kill(db_command)]);
}

#[test]
fn the_shutdown_timeout_kills_the_stop_command_too() {
    let mut h = Harness::new(Config {
        shutdown_timeout: Some(secs(2)),
        ..config(vec![stoppable("web")])
    })
    .booted();
    h.obey_signals = false;
    let pid = h.pid("web");
    h.shutdown(0);
    let command = h.stop_command_pid("web");
    h.advance(secs(2));
    let killed = h.signals();
    assert!(killed.contains(&kill(pid)), "{killed:?}");
    assert!(killed.contains(&kill(command)), "{killed:?}");
}

/// `watchdog`'s stop (and a health probe's) is a stop like any other.
#[test]
fn a_failed_liveness_check_stops_through_the_stop_command() {
    let mut dog = stoppable("dog");
    dog.ready_notify = true;
    dog.watchdog = Some(secs(5));
    let mut h = Harness::new(config(vec![dog]))
        .with("dog", Behaviour::RunReady)
        .booted();
    h.obey_signals = false;
    let pid = h.pid("dog");
    h.advance(secs(5));
    assert_eq!(stop_commands(&h), vec![("dog".to_string(), pid)]);
    h.exit("dog", 0);
    assert_eq!(h.state("dog"), StateKind::Backoff, "a crash all the same");
}

/// SPEC §7: a pid file may not name a stop command.
#[test]
fn a_pid_file_naming_a_stop_command_is_refused() {
    let mut daemon = service("daemon");
    daemon.service_type = ServiceType::Forking;
    daemon.pid_file = Some("/run/daemon.pid".into());
    let mut h = booted(vec![stoppable("web"), daemon]);
    h.stop("web");
    let command = h.stop_command_pid("web");
    h.exit("daemon", 0);
    let service = h.id("daemon");
    h.event(Event::PidFile {
        service,
        result: Ok(PidClaim::trusted(command)),
    });
    assert_eq!(h.state("daemon"), StateKind::Backoff);
    assert_refused_as_stop_command_of(&h, "daemon", "web");
}

/// SPEC §7: nor one SIGKILLed when its stop ended and not yet reaped: its
/// pid is not free until then.
#[test]
fn a_pid_file_naming_a_killed_unreaped_stop_command_is_refused() {
    let mut daemon = service("daemon");
    daemon.service_type = ServiceType::Forking;
    daemon.pid_file = Some("/run/daemon.pid".into());
    let mut h = booted(vec![stoppable("web"), daemon]);
    h.stop_commands_linger = true;
    h.stop("web");
    let command = h.stop_command_pid("web");
    h.exit("web", 0);
    assert!(h.all_signals().contains(&kill(command)), "its group killed");
    h.exit("daemon", 0);
    let service = h.id("daemon");
    h.event(Event::PidFile {
        service,
        result: Ok(PidClaim::trusted(command)),
    });
    assert_refused_as_stop_command_of(&h, "daemon", "web");
}

/// `daemon`'s pid file was refused: it named a process of `owner`.
fn assert_refused_as_stop_command_of(h: &Harness, daemon: &str, owner: &str) {
    let reason = h.status(daemon).reason;
    assert!(
        matches!(
            &reason,
            Some(Reason::PidFile {
                problem: PidFileProblem::OtherService { service, .. },
                ..
            }) if service == owner
        ),
        "{reason:?}"
    );
}
