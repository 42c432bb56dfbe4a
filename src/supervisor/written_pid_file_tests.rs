//! A longrun's `pid-file` (SPEC §3 *Settled details* "Written pid files")
//! on the fake clock: written once the process has exec'd, removed when
//! that process is reaped; a failed write is the service's reason while it
//! runs on.

use std::path::PathBuf;

use crate::config::{ServiceConfig, ServiceType};

use super::harness::{Behaviour, Harness, config, secs, service};
use super::*;

fn with_pid_file(name: &str) -> ServiceConfig {
    let mut s = service(name);
    s.pid_file = Some(format!("/run/{name}.pid").into());
    s
}

/// The pid-file actions, in order.
fn pid_file_actions(h: &Harness) -> Vec<Action> {
    h.effects()
        .into_iter()
        .filter(|a| {
            matches!(
                a,
                Action::WritePidFile { .. } | Action::RemovePidFile { .. }
            )
        })
        .collect()
}

#[test]
fn written_after_the_exec_and_removed_when_that_process_is_reaped() {
    let mut h = Harness::new(config(vec![with_pid_file("web")])).with("web", Behaviour::Hold);
    h.sup.boot(h.now);
    h.pump();
    let service = h.id("web");
    let path = PathBuf::from("/run/web.pid");
    assert_eq!(pid_file_actions(&h), vec![], "not at the spawn");
    let pid = h.pid("web");
    h.exec("web");
    let write = Action::WritePidFile {
        service,
        pid,
        path: path.clone(),
    };
    assert_eq!(pid_file_actions(&h), vec![write.clone()]);
    h.exit("web", 1);
    assert_eq!(
        pid_file_actions(&h),
        vec![
            write,
            Action::RemovePidFile {
                service,
                pid,
                path: path.clone()
            }
        ]
    );
    // The restart writes the new pid.
    h.clear_log();
    h.set("web", Behaviour::Run);
    h.advance(secs(1));
    let new_pid = h.pid("web");
    assert_eq!(
        pid_file_actions(&h),
        vec![Action::WritePidFile {
            service,
            pid: new_pid,
            path
        }]
    );
}

#[test]
fn a_service_waiting_for_readiness_has_its_pid_file_at_the_exec() {
    let mut web = with_pid_file("web");
    web.ready_fd = Some(3);
    let h = Harness::boot(config(vec![web]));
    assert_eq!(h.state("web"), StateKind::Starting);
    let (service, pid) = (h.id("web"), h.pid("web"));
    assert_eq!(
        pid_file_actions(&h),
        vec![Action::WritePidFile {
            service,
            pid,
            path: "/run/web.pid".into()
        }]
    );
}

#[test]
fn a_forking_service_or_one_without_pid_file_has_none_written() {
    let mut daemon = with_pid_file("daemon");
    daemon.service_type = ServiceType::Forking;
    let mut h = Harness::boot(config(vec![daemon, service("plain")]));
    h.exit("plain", 1);
    assert_eq!(pid_file_actions(&h), vec![]);
}

#[test]
fn a_failed_write_is_the_reason_and_the_service_runs_on() {
    let mut h = Harness::boot(config(vec![with_pid_file("web")]));
    let (service, pid) = (h.id("web"), h.pid("web"));
    // A stale failure, for a pid that is not the one written: nothing.
    h.event(Event::PidFileNotWritten {
        service,
        pid: pid + 1000,
        error: "old".into(),
    });
    assert_eq!(h.status("web").reason, None);
    h.event(Event::PidFileNotWritten {
        service,
        pid,
        error: "Permission denied (os error 13)".into(),
    });
    let reason = Reason::PidFileNotWritten {
        path: "/run/web.pid".into(),
        error: "Permission denied (os error 13)".into(),
    };
    assert_eq!(h.state("web"), StateKind::Up);
    assert_eq!(h.status("web").reason, Some(reason.clone()));
    assert!(h.notices().contains(&Notice::PidFileNotWritten {
        service: "web".into(),
        reason
    }));
    h.exit("web", 1);
    h.advance(secs(1));
    assert_eq!(h.state("web"), StateKind::Up);
    assert_eq!(h.status("web").reason, None, "a new start, a new write");
}
