//! A fake world around one `Supervisor`, for tests (quinn-proto's `Pair`
//! style): a clock that moves only when told, fake pids, and processes that
//! answer spawns and signals the way each test says.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use crate::config::{Command, Config, ServiceConfig};

use super::{
    Action, Event, ExitStatus, Notice, PowerKind, Role, ServiceId, ServiceStatus, SpawnFailure,
    SpawnStage, StateKind, Supervisor, Transition,
};

/// How the fake process layer answers `Action::Spawn` for a service.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Behaviour {
    /// `Spawned` then `Execed`.
    Run,
    /// `Spawned`, `Execed`, `Ready`.
    RunReady,
    /// `Spawned` only: the test sends the rest.
    Hold,
    /// `Spawned`, `Execed`, then it exits at once with this status.
    Crash(ExitStatus),
    /// `SpawnFailed` with this failure.
    FailSpawn(SpawnFailure),
}

pub(crate) struct Harness {
    pub(crate) sup: Supervisor,
    pub(crate) t0: Instant,
    pub(crate) now: Instant,
    /// Every action polled, with the time it was polled.
    pub(crate) log: Vec<(Instant, Action)>,
    behaviour: HashMap<String, Behaviour>,
    /// Fake processes alive: pid → service name.
    procs: HashMap<i32, String>,
    next_pid: i32,
    /// Processes exit at once on any signal (`false`: tests exit them).
    pub(crate) obey_signals: bool,
    /// Processes that ignore everything but SIGKILL.
    stubborn: Vec<String>,
    /// Processes that survive even SIGKILL (asleep in the kernel).
    unkillable: Vec<String>,
    /// The fake main command's pid, once `StartMain` was answered.
    pub(crate) main_pid: Option<i32>,
    /// The main command ignores SIGTERM (only SIGKILL ends it).
    pub(crate) main_stubborn: bool,
    /// The main command survives even SIGKILL.
    pub(crate) main_unkillable: bool,
    /// Fake stop commands alive: pid → their service. They end only when
    /// signalled or told to (`stop_command_exit`).
    stop_commands: HashMap<i32, ServiceId>,
    /// `RunStopCommand` is answered with this failure instead of a fork.
    pub(crate) stop_command_failure: Option<SpawnFailure>,
    /// Stop commands outlive their signals (not reaped yet) until
    /// `stop_command_exit`.
    pub(crate) stop_commands_linger: bool,
}

pub(crate) fn service(name: &str) -> ServiceConfig {
    ServiceConfig::new(name, Command::Shell(format!("run {name}")))
}

pub(crate) fn config(services: Vec<ServiceConfig>) -> Config {
    Config {
        services,
        ..Config::default()
    }
}

pub(crate) fn names(list: &[&str]) -> Vec<String> {
    list.iter().map(|s| s.to_string()).collect()
}

pub(crate) fn secs(n: u64) -> Duration {
    Duration::from_secs(n)
}

/// The shutdown's sweep of adopted orphans: SIGTERM, then SIGCONT so a
/// stopped one acts on it.
pub(crate) fn term_sweep() -> [Action; 2] {
    [libc::SIGTERM, libc::SIGCONT].map(|signal| Action::SweepOrphans {
        signal,
        log_survivors: false,
    })
}

pub(crate) fn exec_failure() -> SpawnFailure {
    SpawnFailure {
        stage: SpawnStage::Exec,
        detail: "/usr/bin/nope".into(),
        errno: libc::ENOENT,
        message: None,
    }
}

impl Harness {
    /// A supervisor on `config` in the user role, not booted yet.
    pub(crate) fn new(config: Config) -> Harness {
        Harness::with_role(config, Role::User)
    }

    /// A supervisor on `config` in `role`, not booted yet.
    pub(crate) fn with_role(config: Config, role: Role) -> Harness {
        let t0 = Instant::now();
        Harness {
            sup: Supervisor::new(config, role, t0, 0x5eed),
            t0,
            now: t0,
            log: Vec::new(),
            behaviour: HashMap::new(),
            procs: HashMap::new(),
            next_pid: 100,
            obey_signals: true,
            stubborn: Vec::new(),
            unkillable: Vec::new(),
            main_pid: None,
            main_stubborn: false,
            main_unkillable: false,
            stop_commands: HashMap::new(),
            stop_command_failure: None,
            stop_commands_linger: false,
        }
    }

    /// A supervisor on `config`, booted.
    pub(crate) fn boot(config: Config) -> Harness {
        Harness::new(config).booted()
    }

    pub(crate) fn booted(mut self) -> Harness {
        self.sup.boot(self.now);
        self.pump();
        self
    }

    pub(crate) fn with(mut self, name: &str, behaviour: Behaviour) -> Harness {
        self.set(name, behaviour);
        self
    }

    pub(crate) fn set(&mut self, name: &str, behaviour: Behaviour) {
        self.behaviour.insert(name.to_string(), behaviour);
    }

    pub(crate) fn stubborn(&mut self, name: &str) {
        self.stubborn.push(name.to_string());
    }

    pub(crate) fn unkillable(&mut self, name: &str) {
        self.unkillable.push(name.to_string());
    }

    pub(crate) fn id(&self, name: &str) -> ServiceId {
        self.sup
            .id_of(name)
            .unwrap_or_else(|| panic!("no service {name}"))
    }

    pub(crate) fn status(&self, name: &str) -> ServiceStatus {
        self.sup.status(self.id(name))
    }

    pub(crate) fn state(&self, name: &str) -> StateKind {
        self.status(name).state
    }

    pub(crate) fn pid(&self, name: &str) -> i32 {
        self.status(name)
            .pid
            .unwrap_or_else(|| panic!("{name} has no pid"))
    }

    /// Poll every action, answering spawns and signals as the fake
    /// processes would.
    pub(crate) fn pump(&mut self) {
        while let Some(action) = self.sup.poll_action() {
            self.log.push((self.now, action.clone()));
            match action {
                Action::Spawn { service } => self.answer_spawn(service),
                Action::Signal { pid, signal, .. } => self.deliver(pid, signal),
                Action::RunStopCommand { service, .. } => self.answer_stop_command(service),
                Action::StartMain => {
                    let pid = self.next_pid;
                    self.next_pid += 1;
                    self.main_pid = Some(pid);
                    self.sup.handle_event(self.now, Event::MainSpawned { pid });
                }
                Action::SweepOrphans { .. }
                | Action::SweepEveryone { .. }
                | Action::BootSettled
                | Action::NoMoreStarts
                | Action::StateChanged(_)
                | Action::Exit { .. }
                | Action::Power { .. }
                | Action::ReadPidFile { .. }
                | Action::RemoveStalePidFile { .. }
                | Action::WritePidFile { .. }
                | Action::RemovePidFile { .. }
                | Action::MainUnkillable { .. }
                | Action::Reload
                | Action::ReopenTranscripts
                | Action::Notice(_)
                | Action::Forget { .. }
                | Action::RunProbe { .. }
                | Action::StopProbe { .. }
                | Action::HealthChanged { .. } => {}
            }
        }
    }

    fn answer_spawn(&mut self, id: ServiceId) {
        let name = self.sup.service_config(id).name.clone();
        let behaviour = self.behaviour.get(&name).cloned().unwrap_or(Behaviour::Run);
        if let Behaviour::FailSpawn(failure) = behaviour {
            let event = Event::SpawnFailed {
                service: id,
                failure,
            };
            self.sup.handle_event(self.now, event);
            return;
        }
        let pid = self.next_pid;
        self.next_pid += 1;
        self.procs.insert(pid, name);
        self.sup
            .handle_event(self.now, Event::Spawned { service: id, pid });
        if behaviour == Behaviour::Hold {
            return;
        }
        self.sup.handle_event(self.now, Event::Execed { pid });
        match behaviour {
            Behaviour::RunReady => self.sup.handle_event(
                self.now,
                Event::Ready {
                    service: id,
                    pid: Some(pid),
                },
            ),
            Behaviour::Crash(status) => {
                self.procs.remove(&pid);
                self.sup
                    .handle_event(self.now, Event::Exited { pid, status });
            }
            _ => {}
        }
    }

    fn answer_stop_command(&mut self, service: ServiceId) {
        if let Some(failure) = self.stop_command_failure.clone() {
            let event = Event::StopCommandFailed {
                service,
                pid: None,
                failure,
            };
            self.sup.handle_event(self.now, event);
            return;
        }
        let pid = self.next_pid;
        self.next_pid += 1;
        self.stop_commands.insert(pid, service);
        self.sup
            .handle_event(self.now, Event::StopCommandSpawned { service, pid });
    }

    /// The pid of the running fake stop command of `name`.
    pub(crate) fn stop_command_pid(&self, name: &str) -> i32 {
        let id = self.id(name);
        self.stop_commands
            .iter()
            .find(|&(_, &service)| service == id)
            .map(|(&pid, _)| pid)
            .unwrap_or_else(|| panic!("{name} has no stop command running"))
    }

    /// The fake stop command of `name` ends with `status`.
    pub(crate) fn stop_command_exit(&mut self, name: &str, status: ExitStatus) {
        let pid = self.stop_command_pid(name);
        self.stop_commands.remove(&pid);
        let service = self.id(name);
        self.event(Event::StopCommandExited {
            service,
            pid,
            status,
        });
    }

    fn deliver(&mut self, pid: i32, signal: i32) {
        if signal == libc::SIGCONT {
            // Fake processes are never stopped: nothing to continue.
            return;
        }
        if self.stop_commands_linger && self.stop_commands.contains_key(&pid) {
            return;
        }
        if let Some(service) = self.stop_commands.remove(&pid) {
            let status = ExitStatus::Signaled {
                signal,
                core: false,
            };
            let event = Event::StopCommandExited {
                service,
                pid,
                status,
            };
            self.sup.handle_event(self.now, event);
            return;
        }
        if self.main_pid == Some(pid) {
            let ignores = self.main_unkillable || (self.main_stubborn && signal != libc::SIGKILL);
            if self.obey_signals && !ignores {
                self.main_exit(ExitStatus::Signaled {
                    signal,
                    core: false,
                });
            }
            return;
        }
        let Some(name) = self.procs.get(&pid) else {
            return;
        };
        let ignores = self.unkillable.contains(name)
            || (self.stubborn.contains(name) && signal != libc::SIGKILL);
        if self.obey_signals && !ignores {
            self.procs.remove(&pid);
            let status = ExitStatus::Signaled {
                signal,
                core: false,
            };
            self.sup
                .handle_event(self.now, Event::Exited { pid, status });
        }
    }

    /// The fake main command exits with `status`.
    pub(crate) fn main_exit(&mut self, status: ExitStatus) {
        if let Some(pid) = self.main_pid.take() {
            self.sup
                .handle_event(self.now, Event::Exited { pid, status });
        }
    }

    /// The `Power` kind emitted (system mode), if any.
    pub(crate) fn power(&self) -> Option<PowerKind> {
        self.log.iter().find_map(|(_, action)| match action {
            Action::Power { kind } => Some(*kind),
            _ => None,
        })
    }

    /// The `Exit` code emitted, if any.
    pub(crate) fn exit_code(&self) -> Option<i32> {
        self.log.iter().find_map(|(_, action)| match action {
            Action::Exit { code } => Some(*code),
            _ => None,
        })
    }

    /// Whether `StartMain` was emitted.
    pub(crate) fn main_started(&self) -> bool {
        self.log
            .iter()
            .any(|(_, action)| *action == Action::StartMain)
    }

    /// How many times `BootSettled` was emitted.
    pub(crate) fn boot_settled_count(&self) -> usize {
        self.log
            .iter()
            .filter(|(_, action)| *action == Action::BootSettled)
            .count()
    }

    pub(crate) fn event(&mut self, event: Event) {
        self.sup.handle_event(self.now, event);
        self.pump();
    }

    /// The fake process `pid` ends (a late exit: its service may have
    /// given up on it).
    pub(crate) fn exit_pid(&mut self, pid: i32, status: ExitStatus) {
        self.procs.remove(&pid);
        self.event(Event::Exited { pid, status });
    }

    pub(crate) fn exit_status(&mut self, name: &str, status: ExitStatus) {
        let pid = self.pid(name);
        self.procs.remove(&pid);
        self.event(Event::Exited { pid, status });
    }

    pub(crate) fn exit(&mut self, name: &str, code: i32) {
        self.exit_status(name, ExitStatus::Exited(code));
    }

    pub(crate) fn exec(&mut self, name: &str) {
        let pid = self.pid(name);
        self.event(Event::Execed { pid });
    }

    pub(crate) fn ready(&mut self, name: &str) {
        let service = self.id(name);
        // From its process (a ready-fd pipe) when it has one.
        let pid = self.sup.status(service).pid;
        self.event(Event::Ready { service, pid });
    }

    pub(crate) fn start(&mut self, name: &str) {
        let id = self.id(name);
        // A refusal is seen in the states that do not change.
        let _ = self.sup.start(self.now, id);
        self.pump();
    }

    pub(crate) fn stop(&mut self, name: &str) {
        let id = self.id(name);
        self.sup.stop(self.now, id);
        self.pump();
    }

    pub(crate) fn restart(&mut self, name: &str) {
        let id = self.id(name);
        // A refusal is seen in the states that do not change.
        let _ = self.sup.restart(self.now, id);
        self.pump();
    }

    /// The orderly shutdown SIGTERM and `svctl shutdown` come to, without
    /// their checks, ending in `exit_code`.
    pub(crate) fn shutdown(&mut self, exit_code: i32) {
        self.sup.begin_shutdown(exit_code, self.now);
        self.sup.drain(self.now);
        self.pump();
    }

    /// `svctl reboot|halt|poweroff` (the role must allow it).
    pub(crate) fn request_power(&mut self, kind: PowerKind) {
        let asked = self.sup.request_power(self.now, kind, "test");
        assert!(asked.is_ok(), "power refused: {asked:?}");
        self.pump();
    }

    /// Move the clock forward and fire what is due.
    pub(crate) fn advance(&mut self, by: Duration) {
        self.now += by;
        self.sup.handle_timeout(self.now);
        self.pump();
    }

    /// Jump the clock from deadline to deadline until none is left (or a
    /// bound of steps, for services that never settle).
    pub(crate) fn drive(&mut self) {
        self.drive_until(self.now + Duration::from_secs(1_000_000_000));
    }

    /// `drive`, but not past `end`; the clock ends at `end` at the latest.
    pub(crate) fn drive_until(&mut self, end: Instant) {
        for _ in 0..100_000 {
            match self.sup.poll_timeout() {
                Some(at) if at <= end => {
                    self.now = self.now.max(at);
                    self.sup.handle_timeout(self.now);
                    self.pump();
                }
                _ => return,
            }
        }
        panic!("drive did not settle");
    }

    /// When each `Spawn` of `name` was emitted.
    pub(crate) fn spawn_times(&self, name: &str) -> Vec<Duration> {
        let id = self.id(name);
        self.log
            .iter()
            .filter(|(_, action)| *action == Action::Spawn { service: id })
            .map(|(at, _)| at.duration_since(self.t0))
            .collect()
    }

    pub(crate) fn starts(&self, name: &str) -> usize {
        self.spawn_times(name).len()
    }

    /// The gaps between consecutive spawns of `name`.
    pub(crate) fn delays(&self, name: &str) -> Vec<Duration> {
        let times = self.spawn_times(name);
        times.windows(2).map(|w| w[1] - w[0]).collect()
    }

    /// Every `Signal` sent but the SIGCONTs that follow stop signals:
    /// (pid, signal, group). `all_signals` has those too.
    pub(crate) fn signals(&self) -> Vec<(i32, i32, bool)> {
        let mut signals = self.all_signals();
        signals.retain(|&(_, signal, _)| signal != libc::SIGCONT);
        signals
    }

    /// Every `Signal` sent, in order: (pid, signal, group).
    pub(crate) fn all_signals(&self) -> Vec<(i32, i32, bool)> {
        self.log
            .iter()
            .filter_map(|(_, action)| match action {
                Action::Signal { pid, signal, group } => Some((*pid, *signal, *group)),
                _ => None,
            })
            .collect()
    }

    pub(crate) fn transitions(&self) -> Vec<&Transition> {
        self.log
            .iter()
            .filter_map(|(_, action)| match action {
                Action::StateChanged(t) => Some(t),
                _ => None,
            })
            .collect()
    }

    /// The order in which services reached `state`.
    pub(crate) fn reached(&self, state: StateKind) -> Vec<String> {
        self.transitions()
            .into_iter()
            .filter(|t| t.to == state)
            .map(|t| t.name.clone())
            .collect()
    }

    /// The actions polled since the log was last cleared, other than
    /// `StateChanged` and `Notice` (see `transitions`, `notices`).
    pub(crate) fn effects(&self) -> Vec<Action> {
        self.log
            .iter()
            .map(|(_, action)| action.clone())
            .filter(|action| !matches!(action, Action::StateChanged(_) | Action::Notice(_)))
            .collect()
    }

    /// The notices (log lines) polled since the log was last cleared.
    pub(crate) fn notices(&self) -> Vec<Notice> {
        self.log
            .iter()
            .filter_map(|(_, action)| match action {
                Action::Notice(notice) => Some(notice.clone()),
                _ => None,
            })
            .collect()
    }

    pub(crate) fn clear_log(&mut self) {
        self.log.clear();
    }
}
