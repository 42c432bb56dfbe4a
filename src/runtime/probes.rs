//! Readiness probes on the I/O side: a `connect` probe is a non-blocking
//! TCP or Unix-socket connect registered with the loop (no thread, no name
//! lookup); an `exec`/`shell` probe is a process made like the service's
//! (its user, group, directory, environment, umask; stdin /dev/null, its
//! output into the service's output; its own session and process group).
//! Each ends as `Event::ProbeEnded`; a probe process's exit SIGKILLs its
//! group (what it left running). When a probe runs, how long it may
//! and what its result means is the supervisor's decision
//! (`Action::RunProbe`, `Action::StopProbe`).

use std::collections::HashMap;
use std::io;
use std::time::Instant;

use mio::{Interest, Registry};

use crate::config::{ConnectTarget, ProbeCheck};
use crate::supervisor::{Event, ExitStatus, PidClaim, ProbeId, ServiceId, SignalOrder};

use super::helper_process::HelperChild;
use super::tokens::Source;

/// What a running probe holds.
enum Check {
    Tcp(mio::net::TcpStream),
    Unix(mio::net::UnixStream),
    /// A process, and its group.
    Process(HelperChild),
}

struct Running {
    id: ProbeId,
    check: Check,
}

/// The probe running for each service (at most one), and the processes of
/// stopped probes (with their service) until they are reaped.
#[derive(Default)]
pub(crate) struct Probes {
    running: HashMap<ServiceId, Running>,
    killed: HashMap<i32, ServiceId>,
}

impl Probes {
    /// The service whose probe process (a group and session leader) is
    /// the claimed pid, or leads its group or session (SPEC §7 "Pids": a
    /// pid file may not name a probe).
    pub(crate) fn owner_of(&self, claim: &PidClaim) -> Option<ServiceId> {
        let claimed = |pid: i32| [claim.pid, claim.pgrp, claim.session].contains(&pid);
        let running = self
            .running
            .iter()
            .find_map(|(service, running)| match running.check {
                Check::Process(HelperChild { pid, .. }) if claimed(pid) => Some(*service),
                _ => None,
            });
        running.or_else(|| {
            self.killed
                .iter()
                .find_map(|(pid, service)| claimed(*pid).then_some(*service))
        })
    }
}

fn connect(target: &ConnectTarget) -> io::Result<Check> {
    Ok(match target {
        ConnectTarget::Tcp(address) => Check::Tcp(mio::net::TcpStream::connect(*address)?),
        ConnectTarget::Unix(path) => Check::Unix(mio::net::UnixStream::connect(path)?),
    })
}

/// A socket's connect has finished (writable): `None` while it has not.
fn connect_outcome(check: &Check) -> Option<Result<(), String>> {
    let (error, connected) = match check {
        Check::Tcp(stream) => (stream.take_error(), stream.peer_addr().map(|_| ())),
        Check::Unix(stream) => (stream.take_error(), stream.peer_addr().map(|_| ())),
        Check::Process(_) => return None,
    };
    match (error, connected) {
        (Ok(Some(error)) | Err(error), _) => Some(Err(format!("connect: {error}"))),
        (Ok(None), Ok(())) => Some(Ok(())),
        (Ok(None), Err(error)) if error.kind() == io::ErrorKind::NotConnected => None,
        (Ok(None), Err(error)) => Some(Err(format!("connect: {error}"))),
    }
}

impl super::Runtime {
    /// `Action::RunProbe`.
    pub(super) fn run_probe(&mut self, service: ServiceId, id: ProbeId, check: &ProbeCheck) {
        self.stop_probe(service, None);
        let started = match check {
            ProbeCheck::Connect(target) => connect(target)
                .map_err(|error| format!("connect {target}: {error}"))
                .and_then(|mut check| {
                    let registry = self.poll.registry();
                    register(registry, service, &mut check)
                        .map_err(|error| format!("connect {target}: {error}"))?;
                    Ok(check)
                }),
            ProbeCheck::Command(command) => self.start_probe_process(service, command),
        };
        match started {
            Ok(check) => {
                self.probes.running.insert(service, Running { id, check });
            }
            Err(detail) => self.probe_ended(service, id, false, detail),
        }
    }

    fn start_probe_process(
        &mut self,
        service: ServiceId,
        command: &crate::config::Command,
    ) -> Result<Check, String> {
        self.fork_as_service(service, command, &[])
            .map(Check::Process)
            .map_err(|failure| format!("cannot be started: {failure}"))
    }

    /// `Action::StopProbe` (or, with `None`, whatever probe `service` has):
    /// its socket is closed, its process group SIGKILLed.
    pub(super) fn stop_probe(&mut self, service: ServiceId, id: Option<ProbeId>) {
        let Some(running) = self.probes.running.get(&service) else {
            return;
        };
        if id.is_some_and(|id| id != running.id) {
            return;
        }
        let Some(running) = self.probes.running.remove(&service) else {
            return;
        };
        match running.check {
            Check::Tcp(mut stream) => {
                let _ = self.poll.registry().deregister(&mut stream);
            }
            Check::Unix(mut stream) => {
                let _ = self.poll.registry().deregister(&mut stream);
            }
            Check::Process(HelperChild { pid, .. }) => {
                let _ = super::send_signal(SignalOrder {
                    pid,
                    signal: libc::SIGKILL,
                    group: true,
                });
                self.probes.killed.insert(pid, service);
            }
        }
    }

    /// The socket of `service`'s connect probe is writable.
    pub(super) fn on_probe_socket(&mut self, service: ServiceId) {
        let Some(running) = self.probes.running.get(&service) else {
            return;
        };
        let Some(outcome) = connect_outcome(&running.check) else {
            return;
        };
        let id = running.id;
        self.stop_probe(service, Some(id));
        match outcome {
            Ok(()) => self.probe_ended(service, id, true, "connected".to_owned()),
            Err(detail) => self.probe_ended(service, id, false, detail),
        }
    }

    /// `true` when `pid` was a probe's process (reported, or stopped).
    pub(super) fn probe_reaped(&mut self, pid: i32, status: ExitStatus) -> bool {
        if self.probes.killed.remove(&pid).is_some() {
            return true;
        }
        let Some(service) = self.probes.running.iter().find_map(|(service, running)| {
            matches!(&running.check, Check::Process(child) if child.pid == pid).then_some(*service)
        }) else {
            return false;
        };
        let Some(Running {
            id,
            check: Check::Process(child),
        }) = self.probes.running.remove(&service)
        else {
            return true;
        };
        // What the probe left running in its group (`child &`) goes with it.
        // The group keeps its id reserved while it has members: no other
        // process can be hit.
        let _ = super::send_signal(SignalOrder {
            pid,
            signal: libc::SIGKILL,
            group: true,
        });
        // The probe wrote into its service's pipe, which stays open: its
        // router's held-back line is the running service's, left alone.
        match child.outcome(status) {
            Err(failure) => {
                self.probe_ended(service, id, false, format!("cannot be started: {failure}"))
            }
            Ok(status) => self.probe_ended(
                service,
                id,
                status == ExitStatus::Exited(0),
                status.to_string(),
            ),
        }
        true
    }

    fn probe_ended(&mut self, service: ServiceId, probe: ProbeId, ok: bool, detail: String) {
        crate::debug!(
            &self.supervisor.status(service).name,
            "probe {}: {detail}",
            if ok { "passed" } else { "failed" }
        );
        self.supervisor.handle_event(
            Instant::now(),
            Event::ProbeEnded {
                service,
                probe,
                ok,
                detail,
            },
        );
    }
}

fn register(registry: &Registry, service: ServiceId, check: &mut Check) -> io::Result<()> {
    let token = Source::Probe(service.0).token();
    match check {
        Check::Tcp(stream) => registry.register(stream, token, Interest::WRITABLE),
        Check::Unix(stream) => registry.register(stream, token, Interest::WRITABLE),
        Check::Process(_) => Ok(()),
    }
}
