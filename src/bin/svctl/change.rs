//! `svctl start|stop|restart`: ask, then poll status until the outcome.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use svinit::control::{Request, Running, ServiceStatusJson, State, StatusReport};

use crate::connection::{Connection, Failure};
use crate::{EXIT_FAILED, EXIT_OK, POLL_INTERVAL, Verb};

/// What a service's state means for a start/stop/restart being waited on.
#[derive(Debug, PartialEq)]
pub(crate) enum Progress {
    Pending,
    Done,
    Failed(String),
}

/// Tracks one service through a start, stop or restart.
pub(crate) struct Waiter {
    verb: Verb,
    name: String,
    /// Pid when the request was answered: a restart must end on another.
    initial_pid: Option<i32>,
    /// The service has been seen out of its starting point (restart) or
    /// stopping (stop).
    moved: bool,
    last: Option<ServiceStatusJson>,
}

impl Waiter {
    pub(crate) fn new(verb: Verb, initial: &ServiceStatusJson) -> Waiter {
        let mut waiter = Waiter {
            verb,
            name: initial.name.clone(),
            initial_pid: initial.pid,
            moved: false,
            last: None,
        };
        waiter.observe(initial);
        waiter
    }

    pub(crate) fn observe(&mut self, service: &ServiceStatusJson) -> Progress {
        self.last = Some(service.clone());
        let reason = || {
            service
                .reason
                .clone()
                .unwrap_or_else(|| "no reason given".into())
        };
        match self.verb {
            Verb::Start | Verb::Restart => {
                if self.verb == Verb::Restart
                    && (service.pid != self.initial_pid
                        || !matches!(service.state, State::Up | State::Done))
                {
                    self.moved = true;
                }
                match service.state {
                    State::Up | State::Done if self.verb == Verb::Start || self.moved => {
                        Progress::Done
                    }
                    State::Failed => {
                        Progress::Failed(format!("{} failed: {}", self.name, reason()))
                    }
                    _ if service.want == Running::Down => {
                        Progress::Failed(format!("{} was stopped meanwhile", self.name))
                    }
                    _ => Progress::Pending,
                }
            }
            Verb::Stop => {
                if service.state == State::Stopping {
                    self.moved = true;
                }
                let stopped = service.pid.is_none()
                    && matches!(service.state, State::Down | State::Failed | State::Done);
                if !stopped {
                    return Progress::Pending;
                }
                if self.moved && service.reason_code.as_deref() == Some("stop-timeout") {
                    Progress::Failed(format!("{}: {}", self.name, reason()))
                } else {
                    Progress::Done
                }
            }
        }
    }

    pub(crate) fn timed_out(&self, timeout: Duration) -> String {
        let goal = match self.verb {
            Verb::Start | Verb::Restart => "come up",
            Verb::Stop => "stop",
        };
        let mut message = format!(
            "{} did not {goal} within {}",
            self.name,
            format_duration(timeout)
        );
        if let Some(last) = &self.last {
            message.push_str(&format!(" (state {}", last.state));
            if let Some(reason) = &last.reason {
                message.push_str(&format!(": {reason}"));
            }
            message.push(')');
        }
        message
    }
}

/// The status of those of `names` svinit still knows: a run-time instance
/// that has stopped is gone (SPEC §3 *Templates*), as is a service a
/// reload removed, and one unknown name fails a status of several.
fn known_statuses(
    connection: &mut Connection,
    names: Vec<String>,
) -> Result<Vec<ServiceStatusJson>, Failure> {
    let asked = connection.ask::<StatusReport>(&Request::Status {
        names: names.clone(),
    });
    match asked {
        Ok(report) => Ok(report.services),
        Err(failure) if failure.is_unknown_service() => {
            let mut known = Vec::new();
            for name in names {
                match connection.ask::<StatusReport>(&Request::Status { names: vec![name] }) {
                    Ok(report) => known.extend(report.services),
                    Err(failure) if failure.is_unknown_service() => {}
                    Err(failure) => return Err(failure),
                }
            }
            Ok(known)
        }
        Err(failure) => Err(failure),
    }
}

pub(crate) fn format_duration(d: Duration) -> String {
    if d.subsec_millis() == 0 {
        format!("{}s", d.as_secs())
    } else {
        format!("{}ms", d.as_millis())
    }
}

/// Asks for the change of `names` (or `all`), then, when `wait`, polls
/// the status of the services the reply lists until each is done.
pub(crate) fn change(
    connection: &mut Connection,
    verb: Verb,
    names: Vec<String>,
    all: bool,
    wait: bool,
    timeout: Duration,
) -> Result<u8, Failure> {
    let started = Instant::now();
    let request = match verb {
        Verb::Start => Request::Start { names, all },
        Verb::Stop => Request::Stop { names, all },
        Verb::Restart => Request::Restart { names, all },
    };
    let initial: Vec<ServiceStatusJson> = connection.ask(&request)?;
    if !wait {
        return Ok(EXIT_OK);
    }
    let mut waiters: Vec<Waiter> = initial.iter().map(|s| Waiter::new(verb, s)).collect();
    let mut failures = Vec::new();
    let mut snapshot = initial;
    loop {
        let by_name: HashMap<&str, &ServiceStatusJson> =
            snapshot.iter().map(|s| (s.name.as_str(), s)).collect();
        waiters.retain_mut(|waiter| match by_name.get(waiter.name.as_str()) {
            Some(service) => match waiter.observe(service) {
                Progress::Pending => true,
                Progress::Done => false,
                Progress::Failed(message) => {
                    failures.push(message);
                    false
                }
            },
            // Removed by a reload meanwhile: nothing left to wait for.
            None => false,
        });
        if waiters.is_empty() {
            break;
        }
        if started.elapsed() >= timeout {
            failures.extend(waiters.iter().map(|w| w.timed_out(timeout)));
            break;
        }
        std::thread::sleep(POLL_INTERVAL);
        let names = waiters.iter().map(|w| w.name.clone()).collect();
        snapshot = known_statuses(connection, names)?;
    }
    if failures.is_empty() {
        return Ok(EXIT_OK);
    }
    for message in &failures {
        eprintln!("svctl: {message}");
    }
    Ok(EXIT_FAILED)
}
