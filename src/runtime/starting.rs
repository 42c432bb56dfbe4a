//! Starting a prepared process: through the spawner (`spawn::Spawner`), or
//! by svinit's own fork when there is no spawner; learning the child's pid
//! from its status pipe; starting again what a dying spawner lost.
//!
//! Every start ends as `Spawned` (its pid read from the pipe, or from the
//! fork) or `SpawnFailed`, whatever happens to the spawner: a request it
//! lost (EOF on the pipe before a pid) is forked here. Requests the
//! spawner's socket does not take at once wait in order in a backlog,
//! sent when the socket is writable again. A reaped pid svinit does not
//! know yet is looked for in the pipes of the starts still without a pid,
//! so `Spawned` always comes before its `Exited`.

use std::collections::VecDeque;
use std::os::fd::{AsRawFd, OwnedFd};
use std::time::{Duration, Instant};

use mio::Interest;
use mio::unix::SourceFd;

use super::readiness::ReadyIo;
use super::tokens::Source;
use super::{ExecWatch, Runtime};
use crate::spawn::{self, SpawnPlan, Unsent};
use crate::supervisor::{Event, ExitStatus, ServiceId, SpawnFailure, SpawnStage};
use crate::{debug, warn};

/// The spawner makes one child at a time and waits for its exec (or
/// exit): a child stuck before its exec (an exec on a hung mount) would
/// hold up every start. With requests outstanding and no new child for
/// this long, svinit replaces the spawner; the stuck child stays its own.
const SPAWNER_STALL: Duration = Duration::from_secs(2);

/// The spawner svinit talks to, what it was last seen doing, and the
/// starts waiting for room on its socket.
pub(super) struct SpawnerLink {
    /// Makes the services' processes; `None` when it died or could not be
    /// forked: svinit forks them itself meanwhile and forks a new spawner
    /// at the next start.
    current: Option<spawn::Spawner>,
    /// The last spawner's pid until it is reaped (reaping it is no
    /// service's business).
    pid: Option<i32>,
    /// Cleared by the shutdown's sweep: no new spawner after it.
    wanted: bool,
    /// When the spawner last made a child, or was given work while idle:
    /// the stall check's reference while requests are outstanding.
    progress: Instant,
    /// Whether the spawner's socket is polled for room.
    socket_watched: bool,
    /// Starts waiting, in order, for the spawner to take more requests.
    backlog: VecDeque<Backlogged>,
}

impl SpawnerLink {
    /// `prelaunched`: the spawner svinit forked before reading its config.
    /// With no service to start it is let go (it exits when its socket
    /// closes); its pid is kept until it is reaped either way.
    pub(super) fn new(prelaunched: Option<spawn::Spawner>, has_services: bool) -> SpawnerLink {
        SpawnerLink {
            pid: prelaunched.as_ref().map(spawn::Spawner::pid),
            current: prelaunched.filter(|_| has_services),
            wanted: true,
            progress: Instant::now(),
            socket_watched: false,
            backlog: VecDeque::new(),
        }
    }

    /// Whether `pid` is the last spawner's, not yet reaped.
    pub(super) fn is(&self, pid: i32) -> bool {
        self.pid == Some(pid)
    }
}

/// A start waiting for the spawner's socket.
pub(super) struct Backlogged {
    service: ServiceId,
    plan: SpawnPlan,
    ready: ReadyIo,
}

impl Runtime {
    /// Forks a spawner at a start when there is none: the one forked at
    /// start-up died, or svinit went to the background (`--detach`).
    pub(super) fn launch_spawner(&mut self) {
        if self.spawner.current.is_some() || !self.spawner.wanted {
            return;
        }
        let Some(spawner) = spawn::Spawner::launch() else {
            debug!("", "cannot fork the spawner: forking services here");
            return;
        };
        debug!("", "spawner forked: pid {}", spawner.pid());
        self.spawner.pid = Some(spawner.pid());
        self.spawner.socket_watched = false;
        // Requests a dead spawner left are no debt of this one.
        self.spawner.progress = Instant::now();
        self.spawner.current = Some(spawner);
        if !self.spawner.backlog.is_empty() {
            // Reported writable at once: the backlog goes out.
            self.watch_spawner_socket(true);
        }
    }

    /// Starts the prepared process: through the spawner when `via_spawner`
    /// and there is one, else by svinit's own fork.
    pub(super) fn start_process(
        &mut self,
        service: ServiceId,
        plan: SpawnPlan,
        ready: ReadyIo,
        via_spawner: bool,
    ) {
        if via_spawner {
            self.launch_spawner();
        }
        if via_spawner && self.spawner.current.is_some() {
            if !self.spawner.backlog.is_empty() {
                self.spawner.backlog.push_back(Backlogged {
                    service,
                    plan,
                    ready,
                });
                return;
            }
            match self.request(service, &plan, &ready) {
                Ok(status) => return self.watch_start(service, plan, ready, None, status),
                Err(Unsent::Busy) => {
                    self.spawner.backlog.push_back(Backlogged {
                        service,
                        plan,
                        ready,
                    });
                    return self.watch_spawner_socket(true);
                }
                Err(Unsent::Gone) => self.spawner.current = None,
                Err(Unsent::Failed(failure)) => return self.spawn_failed(service, failure),
            }
        }
        let mut io = spawn::ChildIo {
            stdout: self.output.stdio(service),
            stderr: self.output.stderr(service),
            ..spawn::ChildIo::default()
        };
        io.extra_fds.extend(ready.child_fd());
        let forked = spawn::execute(&plan, &io);
        drop(io);
        match forked {
            Ok(child) => self.watch_start(service, plan, ready, Some(child.pid), child.status),
            Err(failure) => self.spawn_failed(service, failure),
        }
    }

    fn request(
        &mut self,
        service: ServiceId,
        plan: &SpawnPlan,
        ready: &ReadyIo,
    ) -> Result<OwnedFd, Unsent> {
        let Some(spawner) = &self.spawner.current else {
            return Err(Unsent::Gone);
        };
        let mut io = spawn::ChildIo {
            stdout: self.output.stdio(service),
            stderr: self.output.stderr(service),
            ..spawn::ChildIo::default()
        };
        io.extra_fds.extend(ready.child_fd());
        let sent = spawner.request(plan, &io);
        if sent.is_ok() && self.awaiting_pid == 0 {
            self.spawner.progress = Instant::now();
        }
        sent
    }

    /// Polls the spawner's socket for room only while starts wait for it:
    /// it turns writable at every request the spawner takes.
    fn watch_spawner_socket(&mut self, watch: bool) {
        let Some(spawner) = &self.spawner.current else {
            return;
        };
        if watch == self.spawner.socket_watched {
            return;
        }
        let fd = spawner.socket_fd();
        let mut source = SourceFd(&fd);
        let registry = self.poll.registry();
        let done = if watch {
            registry.register(&mut source, Source::Spawner.token(), Interest::WRITABLE)
        } else {
            registry.deregister(&mut source)
        };
        match done {
            Ok(()) => self.spawner.socket_watched = watch,
            Err(err) => warn!("", "cannot watch the spawner's socket: {err}"),
        }
    }

    /// The spawner's socket has room: send what waits, in order. Without a
    /// spawner, svinit forks them.
    pub(super) fn send_backlog(&mut self) {
        self.send_waiting();
        if self.spawner.backlog.is_empty() {
            self.watch_spawner_socket(false);
        }
    }

    fn send_waiting(&mut self) {
        while let Some(next) = self.spawner.backlog.pop_front() {
            let Backlogged {
                service,
                plan,
                ready,
            } = next;
            match self.request(service, &plan, &ready) {
                Ok(status) => self.watch_start(service, plan, ready, None, status),
                Err(Unsent::Busy) => {
                    self.spawner.backlog.push_front(Backlogged {
                        service,
                        plan,
                        ready,
                    });
                    return;
                }
                Err(Unsent::Gone) => {
                    self.spawner.current = None;
                    self.start_process(service, plan, ready, false);
                }
                Err(Unsent::Failed(failure)) => self.spawn_failed(service, failure),
            }
        }
    }

    fn spawn_failed(&mut self, service: ServiceId, failure: SpawnFailure) {
        self.supervisor
            .handle_event(Instant::now(), Event::SpawnFailed { service, failure });
    }

    /// Watches the status pipe of a start; `pid` when svinit forked it.
    fn watch_start(
        &mut self,
        service: ServiceId,
        plan: SpawnPlan,
        ready: ReadyIo,
        pid: Option<i32>,
        status: OwnedFd,
    ) {
        let slot = self.exec_watches.insert(ExecWatch {
            service,
            pid: None,
            status_pipe: None,
            plan,
            failure: None,
            ready: Some(ready),
        });
        self.awaiting_pid += 1;
        let registered = self.poll.registry().register(
            &mut SourceFd(&status.as_raw_fd()),
            Source::ExecStatus(slot).token(),
            Interest::READABLE,
        );
        if let Err(err) = registered {
            // Without the pipe the exec outcome is learnt at exit.
            warn!(
                &self.supervisor.status(service).name,
                "cannot watch exec: {err}"
            );
        }
        if let Some(watch) = self.exec_watches.get_mut(slot) {
            watch.status_pipe = Some(status);
        }
        if let Some(pid) = pid {
            self.pid_known(slot, pid);
        }
    }

    /// The child of `slot` has pid `pid`: from now on it is the service's.
    pub(super) fn pid_known(&mut self, slot: usize, pid: i32) {
        let Some(watch) = self.exec_watches.get_mut(slot) else {
            return;
        };
        if watch.pid.is_some() {
            return;
        }
        watch.pid = Some(pid);
        self.awaiting_pid -= 1;
        self.spawner.progress = Instant::now();
        let service = watch.service;
        let uid = super::run_as(&watch.plan);
        if let Some(ready) = watch.ready.take() {
            self.readiness
                .spawned(self.poll.registry(), service, pid, ready);
        }
        self.service_uids.insert(service, uid);
        self.output.spawned(service, pid);
        self.exec_watch_by_pid.insert(pid, slot);
        self.supervisor
            .handle_event(Instant::now(), Event::Spawned { service, pid });
    }

    /// The request was lost with the spawner (its pipe closed before a
    /// child wrote its pid): svinit starts the service itself.
    pub(super) fn start_again(&mut self, slot: usize) {
        let Some(watch) = self.forget_exec_watch(slot) else {
            return;
        };
        let service = watch.service;
        let name = &self.supervisor.status(service).name;
        debug!(name, "start lost with the spawner: forking it here");
        match watch.ready {
            Some(ready) => self.start_process(service, watch.plan, ready, false),
            // Not reached: `ready` goes only once the pid is known.
            None => self.spawn_failed(
                service,
                SpawnFailure {
                    stage: SpawnStage::Fork,
                    detail: "spawner".to_string(),
                    errno: 0,
                    message: Some("start lost".to_string()),
                },
            ),
        }
    }

    /// A reaped pid svinit does not know may be a child of the spawner whose
    /// pid record is still unread: read every such pipe.
    pub(super) fn read_awaited_pids(&mut self) {
        if self.awaiting_pid == 0 {
            return;
        }
        for slot in self.exec_watches.occupied() {
            if self.exec_watches.get(slot).is_some_and(|w| w.pid.is_none()) {
                self.on_exec_status(slot);
            }
        }
    }

    /// The spawner was reaped. Its lost requests come back as EOF on their
    /// pipes and are started here, the backlog too; the next start forks a
    /// new spawner.
    pub(super) fn spawner_reaped(&mut self, pid: i32, status: ExitStatus) {
        self.spawner.pid = None;
        if self
            .spawner
            .current
            .as_ref()
            .is_some_and(|s| s.pid() == pid)
        {
            self.spawner.current = None;
            if self.spawner.wanted {
                warn!(
                    "",
                    "spawner (pid {pid}) {status}: a new one at the next start"
                );
            }
        }
        self.send_backlog();
    }

    /// When the spawner counts as stalled, if requests are outstanding.
    pub(super) fn spawner_stall_deadline(&self) -> Option<Instant> {
        (self.awaiting_pid > 0 && self.spawner.current.is_some())
            .then(|| self.spawner.progress + SPAWNER_STALL)
    }

    /// Kills a stalled spawner: its requests come back as EOF and are
    /// forked here; the next start forks a new spawner.
    pub(super) fn check_spawner_stall(&mut self, now: Instant) {
        if self.spawner_stall_deadline().is_none_or(|at| now < at) {
            return;
        }
        if let Some(spawner) = self.spawner.current.take() {
            warn!(
                "",
                "spawner (pid {}) made no process for {}s: replacing it",
                spawner.pid(),
                SPAWNER_STALL.as_secs()
            );
            let _ = nix::sys::signal::kill(
                nix::unistd::Pid::from_raw(spawner.pid()),
                nix::sys::signal::Signal::SIGKILL,
            );
        }
    }

    /// Before the shutdown's sweep: the spawner ends, no new one is forked,
    /// and svinit forks what still waits.
    pub(super) fn retire_spawner(&mut self) {
        self.spawner.wanted = false;
        if let Some(spawner) = self.spawner.current.take() {
            let _ = nix::sys::signal::kill(
                nix::unistd::Pid::from_raw(spawner.pid()),
                nix::sys::signal::Signal::SIGKILL,
            );
        }
        self.send_backlog();
    }
}
