//! The thin loop around the pure supervisor: one thread, one `mio::Poll`.
//! It owns every file descriptor (signalfd, exec-status pipes), the clock and
//! the processes; it turns readiness into `Event`s and executes `Action`s.
//! No policy lives here: what to do is always the supervisor's decision.

mod config_diff;
mod containment;
pub(crate) mod control;
mod forking;
mod helper_process;
mod main_command;
pub(crate) mod output;
mod own_limits;
pub(crate) mod passed_fds;
mod probes;
mod proc_stat;
mod readiness;
mod reaper;
mod requests;
mod signals;
mod slab;
mod starting;
mod stop_command;
mod syslog;
mod system;
mod tokens;
mod written_pid_file;

use std::collections::HashMap;
use std::io;
use std::os::fd::{AsFd, AsRawFd, OwnedFd};
use std::path::PathBuf;
use std::time::{Duration, Instant};

use mio::unix::SourceFd;
use mio::{Events, Interest, Poll};

use crate::config;
use crate::control::WallClock;
use crate::detach::{Detached, Summary};
use crate::log::{self, Level};
use crate::mode::Mode;
use crate::spawn::{self, ExecStatus, SpawnContext};
use crate::supervisor::{
    Action, Event, ExitStatus, Reason, ServiceId, SignalOrder, SpawnFailure, StateKind, Supervisor,
    Transition, format_duration,
};
use crate::{debug, error, info, warn};

pub use self::containment::{BOOT_ATTEMPTS, contain};

use self::containment::PanicBrake;
use self::main_command::MainProcess;
use self::output::Output;
use self::readiness::Readiness;
use self::reaper::Reaped;
use self::slab::Slab;
use self::tokens::Source;

/// What svinit was started with, as far as the loop cares.
#[derive(Debug, Clone)]
pub struct Options {
    pub mode: Mode,
    pub config_path: PathBuf,
    /// The control socket (`-s`, `SVINIT_SOCKET` or the default path).
    pub socket_path: PathBuf,
    /// `socket_path` is the default one, whose directory is svinit's own.
    pub socket_is_default: bool,
    /// `svinit -- COMMAND ARGS`: argv of the main command.
    pub main_command: Option<Vec<String>>,
    /// Services that are not in the config files (`svinit --detach --
    /// COMMAND`): added again at each reload.
    pub extra_services: Vec<config::ServiceConfig>,
    /// The config at `config_path` could not be loaded (its diagnostics
    /// were shown): the supervisor boots without one (system mode: the
    /// emergency shell, until `svctl reload`).
    pub config_invalid: bool,
}

/// A child between fork and exec: its status pipe gives its pid first,
/// then tells which step failed, or reaches EOF when the exec succeeded.
struct ExecWatch {
    service: ServiceId,
    /// `None` until the pipe says (a child the spawner made).
    pid: Option<i32>,
    status_pipe: Option<OwnedFd>,
    plan: spawn::SpawnPlan,
    failure: Option<SpawnFailure>,
    /// Handed to `readiness` once the pid is known; until then also what
    /// svinit needs to start the service itself if the spawner loses it.
    ready: Option<readiness::ReadyIo>,
}

pub struct Runtime {
    poll: Poll,
    signals: signals::SignalSource,
    /// SIGCHLD and when to reap (`reaper`).
    exits: reaper::ExitWatch,
    supervisor: Supervisor,
    spawn_context: SpawnContext,
    exec_watches: Slab<ExecWatch>,
    exec_watch_by_pid: HashMap<i32, usize>,
    /// Exec watches whose pid is not known yet.
    awaiting_pid: usize,
    /// The spawner, and the starts waiting for it.
    spawner: starting::SpawnerLink,
    /// What exec probes and stop commands run from (`helper_process`).
    helper_plans: helper_process::HelperPlans,
    /// The boot has settled: start-up's pages go before the loop next
    /// sleeps (`own_memory`).
    startup_pages_held: bool,
    /// `None` when the socket could not be set up (logged); svinit then
    /// supervises without it.
    control: Option<control::ControlServer>,
    /// Services' stdout/stderr pipes, transcripts and ring buffers.
    output: Output,
    log_followers: Vec<requests::LogFollower>,
    readiness: Readiness,
    probes: probes::Probes,
    /// The uid each service's current (or last) process was started as:
    /// whom its pid file may name (`forking.rs`).
    service_uids: HashMap<ServiceId, u32>,
    main: Option<MainProcess>,
    stop_commands: stop_command::StopCommands,
    /// `svinit --detach`: the foreground process waiting for the boot.
    detached: Option<Detached>,
    /// When to look at every source again after a panic.
    brake: PanicBrake,
    options: Options,
}

impl Runtime {
    /// Blocks signals and opens the loop's descriptors. Must run before the
    /// first spawn, so no signal is lost between start-up and the loop.
    /// Fails when another svinit answers on the control socket (except in
    /// system mode); any other socket problem is logged and svinit runs
    /// without a control socket.
    pub fn new(
        options: Options,
        config: config::Config,
        prelaunched: Option<spawn::Spawner>,
    ) -> io::Result<Runtime> {
        crate::fault::point("runtime-new");
        let poll = Poll::new()?;
        crate::console::forget_watch();
        let signals = signals::SignalSource::open()?;
        let exits = reaper::ExitWatch::open()?;
        for (fd, source) in [
            (signals.raw_fd(), Source::Signals),
            (exits.raw_fd(), Source::ChildExits),
        ] {
            poll.registry()
                .register(&mut SourceFd(&fd), source.token(), Interest::READABLE)?;
        }
        let control = open_control_socket(&poll, &options, &config.control)?;
        let now = Instant::now();
        let mut supervisor = Supervisor::new(config, options.mode, now, random_seed());
        // The moment start-up's pages can go (`boot_settled`).
        supervisor.report_boot_settled();
        let main = options.main_command.clone().map(MainProcess::new);
        if main.is_some() {
            supervisor.set_main_command();
        }
        if options.mode.has_emergency_shell()
            && let Some(unit) = crate::system::emergency_shell_unit(&crate::system::console_tty())
        {
            supervisor.set_emergency_shell(unit);
        }
        let default_directory = options.mode.default_directory().map(PathBuf::from);
        let mut spawn_context = SpawnContext::from_process(default_directory);
        if let Some(original) = own_limits::raise_own_nofile() {
            spawn_context.set_inherited_nofile(original);
        }
        let has_services = !supervisor.config().services.is_empty();
        Ok(Runtime {
            poll,
            signals,
            exits,
            supervisor,
            spawn_context,
            exec_watches: Slab::new(),
            exec_watch_by_pid: HashMap::new(),
            awaiting_pid: 0,
            spawner: starting::SpawnerLink::new(prelaunched, has_services),
            helper_plans: helper_process::HelperPlans::default(),
            startup_pages_held: false,
            control,
            output: Output::new(),
            log_followers: Vec::new(),
            readiness: Readiness::new(),
            probes: probes::Probes::default(),
            service_uids: HashMap::new(),
            main,
            stop_commands: stop_command::StopCommands::default(),
            detached: None,
            brake: PanicBrake::default(),
            options,
        })
    }

    /// `svinit --detach`: tell `detached` how the boot went, once it has
    /// settled (or that svinit exits before). Call before `run`.
    pub fn report_boot_to(&mut self, detached: Detached) {
        self.supervisor.report_boot_settled();
        self.detached = Some(detached);
    }

    /// `Action::BootSettled`: start-up is over, so its pages go
    /// (`own_memory`); and the one line `svinit --detach` prints.
    fn boot_settled(&mut self) {
        self.startup_pages_held = true;
        let Some(mut detached) = self.detached.take() else {
            return;
        };
        let mut summary = Summary::default();
        for id in self.supervisor.ids() {
            let status = self.supervisor.status(id);
            summary.add(&status.name, status.state, status.reason.as_ref());
        }
        detached.settled(&summary);
    }

    /// Boots the configured services and runs until the supervisor says
    /// exit; returns svinit's exit status. A panic (logged by the hook)
    /// abandons one loop turn only (`containment`).
    pub fn run(mut self) -> i32 {
        // The boot's lines go out together, before the loop first sleeps.
        crate::console::hold();
        // Booting is declarative (wanted services up): again is harmless.
        contain(BOOT_ATTEMPTS, "booting the services", || {
            crate::fault::point("boot");
            if self.options.config_invalid {
                self.supervisor.boot_without_config(Instant::now());
            } else {
                self.supervisor.boot(Instant::now());
            }
        });
        let mut events = Events::with_capacity(256);
        loop {
            let turn = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                self.iterate(&mut events)
            }));
            match turn {
                Ok(Some(code)) => {
                    // The socket's path is removed (its only drop with an
                    // effect outside svinit). The rest, a pipe or two per
                    // service and every allocation, the kernel frees at the
                    // exit anyway: freeing it piece by piece first would
                    // hold the exit (and an empty namespace) up.
                    drop(self.control.take());
                    std::mem::forget(self);
                    return code;
                }
                Ok(None) => {}
                Err(_) => self.brake.panicked(Instant::now()),
            }
        }
    }

    /// One turn of the loop: execute the supervisor's actions, sleep until
    /// an event or the next deadline, handle what woke us.
    fn iterate(&mut self, events: &mut Events) -> Option<i32> {
        if let Some(code) = self.execute_actions() {
            return Some(code);
        }
        // The actions may have forgotten a followed service's output
        // (removed by a reload): end those streams before sleeping.
        self.feed_log_followers();
        let client_deadline = self.control.as_ref().and_then(|c| c.poll_timeout());
        let timeout = [
            self.supervisor.poll_timeout(),
            client_deadline,
            self.output.poll_timeout(),
            self.readiness.has_more().then(Instant::now),
            self.exits.deadline(),
            self.spawner_stall_deadline(),
        ]
        .into_iter()
        .flatten()
        .min()
        .map(|deadline| deadline.saturating_duration_since(Instant::now()));
        let timeout = self.brake.timeout(timeout);
        crate::console::release();
        if std::mem::take(&mut self.startup_pages_held) {
            crate::own_memory::release_startup_pages();
        }
        crate::console::watch(self.poll.registry(), |stream| {
            Source::Console(stream).token()
        });
        let polled = self.poll.poll(events, timeout);
        // svinit's lines of this turn go out in one write before it sleeps.
        crate::console::hold();
        if let Err(err) = polled
            && err.kind() != io::ErrorKind::Interrupted
        {
            error!("", "poll failed: {err}");
        }
        if self.brake.look_due(Instant::now()) {
            self.look_at_every_source();
        }
        let mut exits_due = self.exits.deadline().is_some();
        for event in events.iter() {
            let Some(source) = Source::of(event.token()) else {
                continue;
            };
            match source {
                Source::Signals => self.on_signals(),
                Source::ChildExits => exits_due = true,
                Source::Output(slot) | Source::OutputErr(slot) => self.output.readable(slot),
                Source::Notify(slot) => self.on_notify(slot),
                Source::ReadyPipe(slot) => self.on_ready_pipe(slot),
                Source::ExecStatus(slot) => self.on_exec_status(slot),
                Source::ControlListener | Source::ControlClient(_) => {
                    if let Some(control) = self.control.as_mut() {
                        control.handle(event.token());
                    }
                }
                Source::Console(stream) => crate::console::writable(stream),
                Source::Spawner => self.send_backlog(),
                Source::Probe(slot) => self.on_probe_socket(ServiceId(slot)),
            }
        }
        if exits_due {
            self.on_child_exits();
        }
        self.output.pump();
        self.notify_more();
        if let Some(control) = self.control.as_mut() {
            control.pump(Instant::now());
        }
        self.serve_control_requests();
        self.feed_log_followers();
        let now = Instant::now();
        self.output.handle_timeout(now);
        self.supervisor.handle_timeout(now);
        self.check_spawner_stall(now);
        if let Some(control) = self.control.as_mut() {
            control.handle_timeout(now);
        }
        crate::fault::point("loop-end");
        None
    }

    fn execute_actions(&mut self) -> Option<i32> {
        while let Some(action) = self.supervisor.poll_action() {
            match action {
                Action::Spawn { service } => self.spawn(service),
                Action::Signal { pid, signal, group } => {
                    let _ = send_signal(SignalOrder { pid, signal, group });
                }
                Action::RunStopCommand { service, pid } => self.run_stop_command(service, pid),
                Action::SweepOrphans {
                    signal,
                    log_survivors,
                } => self.sweep_orphans(signal, log_survivors),
                Action::SweepEveryone {
                    signal,
                    log_survivors,
                } => self.sweep_everyone(signal, log_survivors),
                Action::StateChanged(transition) => {
                    let restart_in = (transition.to == StateKind::Backoff)
                        .then(|| self.supervisor.status(transition.service).next_restart)
                        .flatten()
                        .map(|at| at.saturating_duration_since(Instant::now()));
                    log_transition(&transition, restart_in);
                    if let Some(control) = self.control.as_mut() {
                        control.publish(&transition, &WallClock::now());
                    }
                }
                Action::RunProbe {
                    service,
                    probe,
                    check,
                } => self.run_probe(service, probe, &check),
                Action::StopProbe { service, probe } => self.stop_probe(service, Some(probe)),
                Action::HealthChanged {
                    service: _,
                    name,
                    from,
                    to,
                } => {
                    let level = match to {
                        crate::supervisor::HealthState::Unhealthy => Level::Warn,
                        _ => Level::Info,
                    };
                    log::write_line(
                        level,
                        &name,
                        format_args!("health {} -> {}", from.as_str(), to.as_str()),
                    );
                    if let Some(control) = self.control.as_mut() {
                        control.publish_health(&name, from, to, &WallClock::now());
                    }
                }
                Action::Forget { service } => {
                    self.stop_probe(service, None);
                    self.output.forget(self.poll.registry(), service);
                    self.readiness.forget_service(self.poll.registry(), service);
                    self.helper_plans.forget(service);
                    self.service_uids.remove(&service);
                }
                Action::Exit { code } => {
                    if let Some(mut detached) = self.detached.take() {
                        detached.failed(&format!(
                            "svinit: exited with status {code} before its services were started"
                        ));
                    }
                    self.finish_output();
                    return Some(code);
                }
                Action::NoMoreStarts => self.retire_spawner(),
                Action::Power { kind } => self.power_off(kind),
                Action::StartMain => self.start_main(),
                Action::BootSettled => self.boot_settled(),
                Action::ReadPidFile { service } => self.read_pid_file(service),
                Action::WritePidFile { service, pid, path } => {
                    self.write_pid_file(service, pid, &path)
                }
                Action::RemoveStalePidFile { service, path } => {
                    forking::remove_stale(&self.supervisor.service_config(service).name, &path)
                }
                Action::RemovePidFile { service, pid, path } => {
                    self.remove_pid_file(service, pid, &path)
                }
                Action::MainUnkillable { pid, after } => warn!(
                    "",
                    "main command unkillable (pid {pid}): still there {} after SIGKILL, given up on",
                    format_duration(after)
                ),
                Action::Reload => self.reload(),
                Action::ReopenTranscripts => self.reopen_all_transcripts(),
                Action::Notice(notice) => {
                    log::write_line(notice.level(), notice.subject(), format_args!("{notice}"))
                }
            }
        }
        None
    }

    /// Before svinit exits or powers off: the services' last output, even
    /// if passing it on panics (the exit must not be lost with it).
    fn finish_output(&mut self) {
        contain(1, "passing on the services' last output", || {
            self.output.finish()
        });
    }

    fn spawn(&mut self, service: ServiceId) {
        let now = Instant::now();
        let config = self.supervisor.service_config(service);
        self.output.prepare(self.poll.registry(), service, config);
        let registry = self.poll.registry();
        let prepared = spawn::prepare(config, &self.spawn_context).and_then(|mut plan| {
            self.helper_plans.remember(service, config, &plan);
            let ready = self
                .readiness
                .prepare(registry, service, run_as(&plan), config)?;
            if let Some(socket) = &ready.notify_socket {
                plan.set_env("NOTIFY_SOCKET", socket)?;
                // systemd's names: the period, and who must send.
                if let Some(watchdog) = config.watchdog {
                    let usec = watchdog.as_micros().to_string();
                    plan.set_env("WATCHDOG_USEC", std::ffi::OsStr::new(&usec))?;
                    plan.set_own_pid_env("WATCHDOG_PID")?;
                }
            }
            Ok((plan, ready))
        });
        match prepared {
            Ok((plan, ready)) => self.start_process(service, plan, ready, true),
            Err(failure) => self
                .supervisor
                .handle_event(now, Event::SpawnFailed { service, failure }),
        }
    }

    fn on_exec_status(&mut self, slot: usize) {
        loop {
            let Some(watch) = self.exec_watches.get_mut(slot) else {
                return;
            };
            let Some(pipe) = &watch.status_pipe else {
                return;
            };
            match spawn::read_exec_record(pipe.as_fd(), &watch.plan) {
                ExecStatus::Pending => return,
                // svinit's own fork: known since the fork.
                ExecStatus::Started(_) if watch.pid.is_some() => {}
                ExecStatus::Started(pid) => self.pid_known(slot, pid),
                ExecStatus::Execed => {
                    match watch.pid {
                        Some(pid) => {
                            self.forget_exec_watch(slot);
                            self.supervisor
                                .handle_event(Instant::now(), Event::Execed { pid });
                        }
                        None => self.start_again(slot),
                    }
                    return;
                }
                ExecStatus::Failed(failure) if watch.pid.is_none() => {
                    // The spawner could not make the child: nothing to reap.
                    let service = watch.service;
                    self.forget_exec_watch(slot);
                    self.supervisor
                        .handle_event(Instant::now(), Event::SpawnFailed { service, failure });
                    return;
                }
                ExecStatus::Failed(failure) => {
                    // The child _exits right after writing; report the failure
                    // when it is reaped, so the supervisor sees one event.
                    watch.failure = Some(failure);
                    if let Some(pipe) = watch.status_pipe.take() {
                        let _ = self
                            .poll
                            .registry()
                            .deregister(&mut SourceFd(&pipe.as_raw_fd()));
                    }
                    return;
                }
            }
        }
    }

    fn forget_exec_watch(&mut self, slot: usize) -> Option<ExecWatch> {
        let watch = self.exec_watches.remove(slot)?;
        match watch.pid {
            Some(pid) => {
                self.exec_watch_by_pid.remove(&pid);
            }
            None => self.awaiting_pid -= 1,
        }
        if let Some(pipe) = &watch.status_pipe {
            let _ = self
                .poll
                .registry()
                .deregister(&mut SourceFd(&pipe.as_raw_fd()));
        }
        Some(watch)
    }

    /// What a signal (any but SIGCHLD) means is the supervisor's call.
    fn on_signals(&mut self) {
        crate::fault::point("signals");
        while let Some(signal) = self.signals.next() {
            self.supervisor
                .handle_event(Instant::now(), Event::Signal(signal));
        }
    }

    /// A SIGCHLD, or a parked one due: reaps, then parks the SIGCHLD if an
    /// orphan was among the dead, else consumes it and reaps once more
    /// (`reaper` says why). Does nothing while parked and not yet due.
    fn on_child_exits(&mut self) {
        if self.exits.parked_at(Instant::now()) {
            return;
        }
        let orphans_before = self.supervisor.orphans_reaped();
        self.reap_all();
        if self.supervisor.orphans_reaped() != orphans_before {
            self.exits.park(Instant::now());
            return;
        }
        self.exits.consume();
        self.reap_all();
    }

    /// Reaps every child that has exited (a child still being watched for
    /// its exec outcome has that outcome reported first); true when none is
    /// left at all.
    fn reap_all(&mut self) -> bool {
        loop {
            match reaper::reap_one() {
                Reaped::Exited { pid, status } => self.on_reaped(pid, status),
                Reaped::NoneReady => return false,
                Reaped::NoChildren => {
                    self.supervisor
                        .handle_event(Instant::now(), Event::NoChildren);
                    return true;
                }
            }
        }
    }

    fn on_reaped(&mut self, pid: i32, status: ExitStatus) {
        let now = Instant::now();
        debug!("", "reaped pid {pid}: {status}");
        // Its last output comes before the log line about its exit.
        if let Some(service) = self.supervisor.service_of_pid(pid) {
            self.output.process_exited(service);
        }
        if self.spawner.is(pid) {
            self.spawner_reaped(pid, status);
            return;
        }
        if !self.exec_watch_by_pid.contains_key(&pid) {
            self.read_awaited_pids();
        }
        self.readiness.forget_pid(self.poll.registry(), pid);
        if self.probe_reaped(pid, status) {
            return;
        }
        if self.main_reaped(pid, status) || self.stop_command_reaped(pid, status) {
            return;
        }
        if let Some(slot) = self.exec_watch_by_pid.get(&pid).copied()
            && let Some(mut watch) = self.forget_exec_watch(slot)
        {
            let failure = match (watch.failure.take(), &watch.status_pipe) {
                (Some(failure), _) => Some(failure),
                (None, Some(pipe)) => match spawn::read_exec_status(pipe.as_fd(), &watch.plan) {
                    ExecStatus::Failed(failure) => Some(failure),
                    _ => None,
                },
                (None, None) => None,
            };
            match failure {
                Some(failure) => {
                    let service = watch.service;
                    self.supervisor
                        .handle_event(now, Event::SpawnFailed { service, failure });
                    return;
                }
                None => self.supervisor.handle_event(now, Event::Execed { pid }),
            }
        }
        self.supervisor
            .handle_event(now, Event::Exited { pid, status });
    }

    fn sweep_orphans(&mut self, signal: i32, log_survivors: bool) {
        self.retire_spawner();
        // wait4's ECHILD says what the scan of /proc would: no child left.
        if self.reap_all() {
            return;
        }
        for (pid, command) in reaper::children_of_self() {
            if self.spawner.is(pid) {
                continue;
            }
            if log_survivors {
                warn!(
                    "",
                    "pid {pid} ({command}) outlived the shutdown, sending SIG{}",
                    signal_label(signal)
                );
            } else {
                debug!(
                    "",
                    "sweep: SIG{} to pid {pid} ({command})",
                    signal_label(signal)
                );
            }
            let _ = send_signal(SignalOrder {
                pid,
                signal,
                group: false,
            });
        }
        self.reap_all();
    }

    /// The uid `service` was last started as (svinit's own before that).
    fn service_uid(&self, service: ServiceId) -> u32 {
        self.service_uids
            .get(&service)
            .copied()
            .unwrap_or_else(|| nix::unistd::geteuid().as_raw())
    }

    /// Reopens every transcript (`Action::ReopenTranscripts`, `svctl
    /// reopen` without names).
    fn reopen_all_transcripts(&mut self) {
        info!("", "reopening transcripts");
        for (service, err) in self.output.reopen_all() {
            warn!(&self.supervisor.status(service).name, "{err}");
        }
    }

    /// `Action::Reload` (SIGHUP): like `svctl reload`, with the outcome in
    /// the log only.
    fn reload(&mut self) {
        let _ = self.reload_config(false);
    }
}

/// Binds the control socket with the access rules of the `control` node.
fn open_control_socket(
    poll: &Poll,
    options: &Options,
    control_config: &config::ControlConfig,
) -> io::Result<Option<control::ControlServer>> {
    let accounts = control::AccountFiles::default();
    let (policy, warnings) = control::AccessPolicy::from_config(
        control_config,
        nix::unistd::geteuid().as_raw(),
        &accounts,
    );
    for warning in warnings {
        warn!("", "{warning}");
    }
    let settings = control::ControlSettings {
        path: options.socket_path.clone(),
        own_directory: options.socket_is_default,
        policy,
        tokens: control::ControlTokens {
            listener: Source::ControlListener.token(),
            first_client: Source::ControlClient(0).token().0,
            max_clients: control::MAX_CLIENTS,
        },
        accounts,
    };
    match control::ControlServer::bind(poll.registry(), settings) {
        Ok(server) => {
            debug!("", "control socket at {}", server.path().display());
            Ok(Some(server))
        }
        // A second svinit refuses to start, unless it may never exit.
        Err(err @ control::BindError::InUse { .. }) if options.mode.may_exit() => {
            Err(io::Error::new(io::ErrorKind::AddrInUse, err.to_string()))
        }
        Err(err) => {
            error!("", "no control socket, svctl cannot reach svinit: {err}");
            Ok(None)
        }
    }
}

/// Executes `Action::Signal` (or `svctl kill`'s order, whose outcome is
/// the reply).
fn send_signal(order: SignalOrder) -> Result<(), nix::errno::Errno> {
    let SignalOrder { pid, signal, group } = order;
    // pid 0 or 1 would signal svinit's own group or every process: never.
    if pid <= 1 {
        return Err(nix::errno::Errno::EINVAL);
    }
    let target = if group { -pid } else { pid };
    // A process that is not a group leader (a forking daemon that did not
    // setsid) has no group of its pid: it still gets the signal.
    match signals::send(target, signal) {
        Err(nix::errno::Errno::ESRCH) if group => signals::send(pid, signal),
        sent => sent,
    }
}

/// The uid a plan runs its process as.
fn run_as(plan: &spawn::SpawnPlan) -> u32 {
    plan.uid()
        .unwrap_or_else(|| nix::unistd::geteuid().as_raw())
}

fn signal_label(signal: i32) -> String {
    crate::supervisor::signal_name(signal)
}

fn log_transition(transition: &Transition, restart_in: Option<Duration>) {
    let name = transition.name.as_str();
    let level = match (transition.to, &transition.reason) {
        (StateKind::Failed, _) | (_, Some(Reason::Unkillable { .. })) => Level::Warn,
        _ => Level::Info,
    };
    if !log::enabled(level) {
        return;
    }
    let mut detail = String::new();
    if let Some(pid) = transition.pid {
        detail.push_str(&format!("pid {pid}"));
    }
    if let Some(exit) = transition.exit {
        if !detail.is_empty() {
            detail.push_str(", ");
        }
        detail.push_str(&exit.to_string());
    }
    // An exit status is already shown; don't repeat it as the reason.
    let reason = transition.reason.as_ref().filter(
        |reason| !matches!(reason, Reason::Exited(status) if Some(*status) == transition.exit),
    );
    if let Some(reason) = reason {
        if !detail.is_empty() {
            detail.push_str("; ");
        }
        detail.push_str(&reason.to_string());
    }
    if let Some(delay) = restart_in {
        if !detail.is_empty() {
            detail.push_str("; ");
        }
        // Rounded up to the 100 ms: "restart in 2s", not "in 1.999s".
        let tenths = delay.as_millis().div_ceil(100) as u64;
        detail.push_str(&format!(
            "restart in {}",
            format_duration(Duration::from_millis(tenths * 100))
        ));
    }
    if detail.is_empty() {
        log::write_state_line(level, name, format_args!("{}", transition.to));
    } else {
        log::write_state_line(level, name, format_args!("{} ({detail})", transition.to));
    }
}

/// Seed for backoff jitter; quality does not matter, only variety.
fn random_seed() -> u64 {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos() as u64)
        .unwrap_or(0);
    now ^ ((std::process::id() as u64) << 32)
}
