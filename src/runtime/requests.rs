//! What control requests do: each `Request` from the control server is
//! executed against the supervisor and answered. Policy stays in the
//! supervisor; this file only translates (names to ids, states to JSON)
//! and fills in what the runtime itself knows (mode, config path).

use std::collections::BinaryHeap;
use std::time::Instant;

use crate::config::{self, RunConfigError};
use crate::control::{
    BlameEntry, ErrorKind, LogsReport, MAX_LOGS_REPLY_BYTES, MergedLogsReport, PlotReport, PlotRun,
    PlotService, ProtocolError, ReloadReport, Reply, Request, ServiceLine, ServiceStatusJson,
    StatusReport, StreamLine, TreeNode, TreeReport, WallClock, parse_signal, round_millis,
    round_unix_millis,
};
use crate::supervisor::{KillTarget, PowerKind, Refusal, ServiceId, StateKind, Want};
use crate::transcript::RingLines;
use crate::{error, info};

use super::Runtime;
use super::config_diff::diff_configs;
use super::control::{AccessPolicy, AccountFiles, ClientId, IncomingRequest};

/// How a request is answered: a single reply, or a reply that opens a
/// stream (`logs -f`).
pub(super) enum Answer {
    Reply(Reply),
    /// `logs -f`: the reply, then the follower's new lines as they come.
    FollowLogs {
        reply: Reply,
        follower: LogFollower,
    },
}

/// A `svctl logs -f` client: which services it follows and how far.
pub(super) struct LogFollower {
    client: ClientId,
    /// The services followed; `None`: every service whose output is
    /// captured, those a reload adds included.
    services: Option<Vec<ServiceId>>,
    /// Asked for by `names` (or none): each line carries its service. One
    /// service asked for by `name` gets bare lines, and its stream ends when
    /// a reload removes the service; with `names` its lines just stop.
    labelled: bool,
    /// Every line that arrived up to this arrival has been sent.
    cursor: u64,
}

impl From<Result<Reply, ProtocolError>> for Answer {
    fn from(result: Result<Reply, ProtocolError>) -> Answer {
        Answer::Reply(result.unwrap_or_else(Reply::error))
    }
}

impl Runtime {
    /// Answers every request the control server has parsed.
    pub(super) fn serve_control_requests(&mut self) {
        loop {
            let Some(incoming) = self.control.as_mut().and_then(|c| c.next_request()) else {
                return;
            };
            let answer = self.answer(&incoming);
            let now = Instant::now();
            if let Some(control) = self.control.as_mut() {
                match answer {
                    Answer::Reply(reply) => control.reply(incoming.client, &reply, now),
                    Answer::FollowLogs { reply, follower } => {
                        control.begin_stream(incoming.client, &reply, now);
                        self.log_followers.push(follower);
                    }
                }
            }
        }
    }

    /// Sends `logs -f` clients the lines that arrived since last time, of
    /// all their services in the order they arrived; forgets clients that
    /// went away.
    pub(super) fn feed_log_followers(&mut self) {
        let Some(control) = self.control.as_mut() else {
            self.log_followers.clear();
            return;
        };
        let now = Instant::now();
        let output = &self.output;
        let supervisor = &self.supervisor;
        let latest = output.last_arrival();
        self.log_followers.retain_mut(|follower| {
            if !control.is_connected(follower.client) {
                return false;
            }
            if !follower.labelled
                && let Some(ids) = &follower.services
                && ids.iter().all(|&id| supervisor.try_status(id).is_none())
            {
                // Removed by a reload: say so and hang up, rather than
                // leave `svctl logs -f` waiting for lines that cannot come.
                control.end_stream(
                    follower.client,
                    ProtocolError::new(
                        ErrorKind::UnknownService,
                        "the service was removed from the configuration; no more output",
                    ),
                    now,
                );
                return false;
            }
            if latest == follower.cursor {
                return true;
            }
            let services: Vec<(ServiceId, &str)> = match &follower.services {
                Some(ids) => ids
                    .iter()
                    .filter_map(|&id| Some((id, output.captured_name(id)?)))
                    .collect(),
                None => output.captured().collect(),
            };
            let label = |name: &str| follower.labelled.then(|| name.to_string());
            let mut news: Vec<(u64, StreamLine)> = Vec::new();
            for (id, name) in services {
                let Some(after) = output.lines_after(id, follower.cursor) else {
                    continue;
                };
                if after.skipped {
                    let notice = "svctl: [output skipped: the follower fell behind]";
                    news.push((follower.cursor, StreamLine::log(notice, label(name))));
                }
                news.extend(
                    after
                        .lines
                        .into_iter()
                        .map(|line| (line.arrival, StreamLine::log(line.text, label(name)))),
                );
            }
            // Stable: the lines of one arrival are one service's, in order.
            news.sort_by_key(|(arrival, _)| *arrival);
            for (_, line) in news {
                control.stream(follower.client, &line, now);
            }
            follower.cursor = latest;
            true
        });
    }

    fn answer(&mut self, incoming: &IncomingRequest) -> Answer {
        let now = Instant::now();
        match &incoming.request {
            Request::Status { names } => self.status(names).into(),
            Request::Start { names, all } => self.change(names, *all, now, Change::Start).into(),
            Request::Stop { names, all } => self.change(names, *all, now, Change::Stop).into(),
            Request::Restart { names, all } => {
                self.change(names, *all, now, Change::Restart).into()
            }
            Request::Kill {
                name,
                signal,
                group,
            } => self.kill(name, signal, *group).into(),
            Request::Reopen { names } => self.reopen(names).into(),
            Request::Logs {
                name: Some(name),
                lines,
                follow,
                ..
            } => self.logs(incoming.client, name, *lines, *follow),
            Request::Logs {
                name: None,
                names,
                lines,
                follow,
            } => self
                .merged_logs(incoming.client, names, *lines, *follow)
                .unwrap_or_else(|error| Answer::Reply(Reply::error(error))),
            Request::Reload { dry_run } => self.reload_request(*dry_run).into(),
            Request::Tree { name } => self.tree(name.as_deref()).into(),
            Request::Blame => Answer::Reply(self.blame()),
            Request::Plot => Answer::Reply(self.plot()),
            Request::Poweroff | Request::Reboot | Request::Halt => {
                let peer = format!("uid {} pid {}", incoming.peer.uid, incoming.peer.pid);
                self.power(&incoming.request, &peer).into()
            }
            Request::Shutdown => self.shutdown_request(now).into(),
            // Served by the control server itself from its ring.
            Request::Events { .. } => Answer::Reply(Reply::failure(
                ErrorKind::Failed,
                "events are answered by the control server",
            )),
        }
    }

    /// Names to ids, all or nothing; no names: every service.
    fn resolve(&self, names: &[String]) -> Result<Vec<ServiceId>, ProtocolError> {
        if names.is_empty() {
            return Ok(self.supervisor.ids().collect());
        }
        // A name given twice is one service: what a request costs is
        // bounded by the number of services, not by how it is written.
        let mut ids = Vec::new();
        let mut seen = std::collections::HashSet::new();
        for name in names {
            let id = self
                .supervisor
                .id_of(name)
                .ok_or_else(|| ProtocolError::unknown_service(name))?;
            if seen.insert(id) {
                ids.push(id);
            }
        }
        Ok(ids)
    }

    fn status_entries(&self, ids: &[ServiceId], clock: &WallClock) -> Vec<ServiceStatusJson> {
        ids.iter()
            .map(|&id| {
                let description = self.supervisor.service_config(id).description.clone();
                let mut entry =
                    ServiceStatusJson::from_status(&self.supervisor.status(id), description, clock);
                entry.output_problem = self.output.status_problem(id);
                entry.output_dropped = self.output.dropped_lines(id);
                entry
            })
            .collect()
    }

    fn status(&self, names: &[String]) -> Result<Reply, ProtocolError> {
        let ids = self.resolve(names)?;
        let clock = WallClock::now();
        Ok(Reply::ok(StatusReport {
            services: self.status_entries(&ids, &clock),
            orphans_reaped: self.supervisor.orphans_reaped(),
            mode: self.options.mode.as_str().to_string(),
            pid: std::process::id(),
            console_lines_dropped: crate::console::dropped_lines(),
        }))
    }

    /// `svctl start|stop|restart`: the named services, or `all`: for a
    /// stop every service, for a start or restart every service but those
    /// with `autostart #false` that nobody wants up (on-demand jobs stay
    /// down unless started by hand or needed by another service).
    fn change(
        &mut self,
        names: &[String],
        all: bool,
        now: Instant,
        change: Change,
    ) -> Result<Reply, ProtocolError> {
        if names.is_empty() && !all {
            return Err(ProtocolError::new(
                ErrorKind::BadRequest,
                "name at least one service",
            ));
        }
        let ids = if all {
            self.supervisor
                .ids()
                .filter(|&id| change == Change::Stop || self.in_all(id))
                .collect()
        } else if change == Change::Start {
            // Instances of templates are made (SPEC §3 *Templates*).
            self.supervisor
                .services_to_start(now, names)
                .map_err(|(name, refusal)| refused(&name, refusal))?
        } else {
            self.resolve(names)?
        };
        for &id in &ids {
            match change {
                Change::Start => self.supervisor.start(now, id),
                Change::Stop => {
                    self.supervisor.stop(now, id);
                    Ok(())
                }
                Change::Restart => self.supervisor.restart(now, id),
            }
            .map_err(|refusal| refused(&self.supervisor.status(id).name, refusal))?;
        }
        Ok(Reply::ok(self.status_entries(&ids, &WallClock::now())))
    }

    /// Whether `start --all` and `restart --all` take `id`: a service of
    /// the configuration that starts by itself or is wanted up now.
    fn in_all(&self, id: ServiceId) -> bool {
        let status = self.supervisor.status(id);
        !status.removed && (self.supervisor.service_config(id).autostart || status.want == Want::Up)
    }

    /// `svctl kill`: `signal` (0: only whether it exists) to the service's
    /// main process, or with `group` to the process group that process is
    /// in (a `shell` service's daemon is a child of its /bin/sh). The
    /// supervisor says whom, or refuses; the outcome of kill(2) is the
    /// reply.
    fn kill(&self, name: &str, signal: &str, group: bool) -> Result<Reply, ProtocolError> {
        let id = self
            .supervisor
            .id_of(name)
            .ok_or_else(|| ProtocolError::unknown_service(name))?;
        let number = parse_signal(signal).ok_or_else(|| {
            ProtocolError::new(ErrorKind::BadRequest, format!("unknown signal `{signal}`"))
        })?;
        let failed = |target: String, errno: nix::errno::Errno| {
            let signal = match number {
                0 => "0".to_string(),
                _ => format!("SIG{}", crate::supervisor::signal_name(number)),
            };
            ProtocolError::new(
                ErrorKind::Failed,
                format!("kill({target}, {signal}): {}", errno.desc()),
            )
        };
        let target = match self.supervisor.status(id).pid {
            // The process is svinit's child, reaped only by this loop: its
            // pid, and so its group, cannot be another's meanwhile.
            Some(pid) if group => KillTarget::Group {
                pid,
                pgid: nix::unistd::getpgid(Some(nix::unistd::Pid::from_raw(pid)))
                    .map_err(|errno| failed(format!("group of {pid}"), errno))?
                    .as_raw(),
                svinit_pgid: nix::unistd::getpgrp().as_raw(),
            },
            _ => KillTarget::Process,
        };
        let order = self
            .supervisor
            .kill(id, number, target)
            .map_err(|refusal| refused(name, refusal))?;
        match super::send_signal(order) {
            // Signal 0 to a process of another user: it exists.
            Ok(()) | Err(nix::errno::Errno::EPERM) if number == 0 => Ok(Reply::ok(())),
            Ok(()) => Ok(Reply::ok(())),
            Err(errno) => {
                let target = if order.group { -order.pid } else { order.pid };
                Err(failed(target.to_string(), errno))
            }
        }
    }

    /// `svctl reopen`: every transcript, or those of the named services.
    fn reopen(&mut self, names: &[String]) -> Result<Reply, ProtocolError> {
        let failures: Vec<String> = if names.is_empty() {
            self.output
                .reopen_all()
                .into_iter()
                .map(|(id, err)| format!("{}: {err}", self.supervisor.status(id).name))
                .collect()
        } else {
            let ids = self.resolve(names)?;
            ids.into_iter()
                .filter_map(|id| {
                    let name = self.supervisor.status(id).name;
                    self.output
                        .reopen(id)
                        .err()
                        .map(|err| format!("{name}: {err}"))
                })
                .collect()
        };
        if failures.is_empty() {
            Ok(Reply::ok(()))
        } else {
            Err(ProtocolError::new(ErrorKind::Failed, failures.join("; ")))
        }
    }

    /// `svctl logs NAME`: the last lines from the service's ring buffer,
    /// bare; with `follow`, the stream then goes on with every new line.
    fn logs(&self, client: ClientId, name: &str, lines: Option<u32>, follow: bool) -> Answer {
        let id = match self.logged_service(name) {
            Ok(id) => id,
            Err(error) => return Answer::Reply(Reply::error(error)),
        };
        let recent = self
            .output
            .recent_lines(id, lines.map(|n| n as usize), follow)
            .unwrap_or_default();
        let reply = Reply::ok(LogsReport {
            name: name.to_string(),
            lines: recent.into_iter().map(|line| line.text).collect(),
        });
        self.logs_answer(reply, client, Some(vec![id]), false, follow)
    }

    /// `svctl logs [NAME...]` but one name: the last lines of the named
    /// services, or of every service whose output is captured, in the
    /// order they arrived, each with its service; the newest
    /// `MAX_LOGS_REPLY_BYTES` at most. With `follow`, the stream then goes
    /// on with the lines of all of them as they come, on this connection.
    fn merged_logs(
        &self,
        client: ClientId,
        names: &[String],
        lines: Option<u32>,
        follow: bool,
    ) -> Result<Answer, ProtocolError> {
        let services: Option<Vec<ServiceId>> = match names {
            [] => None,
            names => Some(
                names
                    .iter()
                    .map(|name| self.logged_service(name))
                    .collect::<Result<_, _>>()?,
            ),
        };
        let rings: Vec<(&str, RingLines)> = self
            .output
            .captured()
            .filter(|(id, _)| services.as_ref().is_none_or(|ids| ids.contains(id)))
            .filter_map(|(id, name)| Some((name, self.output.ring_lines(id, follow)?)))
            .collect();
        let (picked, omitted) = newest_lines(&rings, lines.map(|n| n as usize));
        let reply = Reply::ok(MergedLogsReport {
            lines: picked
                .into_iter()
                .map(|(ring, index)| ServiceLine {
                    service: rings[ring].0.to_string(),
                    line: rings[ring].1.text(index),
                })
                .collect(),
            omitted,
        });
        Ok(self.logs_answer(reply, client, services, true, follow))
    }

    /// A service `logs` may name: known, and its output captured by its
    /// config (it may not have run yet: its lines come when it does).
    fn logged_service(&self, name: &str) -> Result<ServiceId, ProtocolError> {
        let id = self
            .supervisor
            .id_of(name)
            .ok_or_else(|| ProtocolError::unknown_service(name))?;
        if !super::output::captures(self.supervisor.service_config(id)) {
            return Err(ProtocolError::new(
                ErrorKind::NotAvailable,
                format!(
                    "the output of {name} is not kept (output \"inherit\" or \"null\", or a tty)"
                ),
            ));
        }
        Ok(id)
    }

    fn logs_answer(
        &self,
        reply: Reply,
        client: ClientId,
        services: Option<Vec<ServiceId>>,
        labelled: bool,
        follow: bool,
    ) -> Answer {
        if !follow {
            return Answer::Reply(reply);
        }
        Answer::FollowLogs {
            reply,
            follower: LogFollower {
                client,
                services,
                labelled,
                cursor: self.output.last_arrival(),
            },
        }
    }

    fn reload_request(&mut self, dry_run: bool) -> Result<Reply, ProtocolError> {
        match self.reload_config(dry_run) {
            Ok(report) => Ok(Reply::ok(report)),
            Err(diagnostics) => Err(ProtocolError::new(ErrorKind::InvalidConfig, diagnostics)),
        }
    }

    /// Reads the config again; applies it unless `dry_run`. Shared by
    /// `svctl reload` and SIGHUP. The error is the rendered diagnostics.
    pub(super) fn reload_config(&mut self, dry_run: bool) -> Result<ReloadReport, String> {
        let path = self.options.config_path.clone();
        let loaded = config::config_to_run(
            &path,
            self.options.main_command.as_deref(),
            &self.options.extra_services,
        );
        let new_config = match loaded {
            Ok(loaded) => loaded.config,
            Err(RunConfigError::NameTaken(text)) => {
                if !dry_run {
                    error!("", "reload refused: {text}");
                }
                return Err(text);
            }
            Err(RunConfigError::Invalid(diagnostics)) => {
                let text = diagnostics.render(false);
                if !dry_run {
                    error!(
                        "",
                        "reload refused, the running configuration is unchanged:\n{text}"
                    );
                }
                return Err(text);
            }
        };
        // Run-time instances stay (SPEC §3 *Templates*): not "removed".
        let kept = self.supervisor.with_runtime_instances(&new_config);
        let mut report = diff_configs(self.supervisor.config(), &kept, dry_run);
        if dry_run {
            return Ok(report);
        }
        info!("", "reloading {}", path.display());
        let control = new_config.control.clone();
        let summary = self.supervisor.reload(Instant::now(), new_config);
        info!("", "reload: {summary}");
        report.summary = Some(summary.to_string());
        self.apply_control_config(&control);
        Ok(report)
    }

    /// After a reload: who may use the socket, and its mode and group.
    fn apply_control_config(&mut self, control: &config::ControlConfig) {
        let Some(server) = self.control.as_mut() else {
            return;
        };
        let (policy, warnings) = AccessPolicy::from_config(
            control,
            nix::unistd::geteuid().as_raw(),
            &AccountFiles::default(),
        );
        for warning in warnings {
            crate::warn!("", "{warning}");
        }
        if let Err(err) = server.set_policy(policy) {
            error!(
                "",
                "control socket: cannot apply the new access rules: {err}"
            );
        }
    }

    fn tree(&self, name: Option<&str>) -> Result<Reply, ProtocolError> {
        let graph = self.supervisor.graph();
        let root = match name {
            Some(name) => {
                self.supervisor
                    .id_of(name)
                    .ok_or_else(|| ProtocolError::unknown_service(name))?;
                Some(name.to_string())
            }
            None => None,
        };
        // The root and what it pulls in; none for a removed service (not in
        // the graph) that is still stopping.
        let shown: Vec<usize> = match root.as_deref() {
            Some(root) => graph
                .index_of(root)
                .map_or_else(Vec::new, |root| graph.pulled_in_by(root)),
            None => (0..graph.len()).collect(),
        };
        let names = |services: &[usize]| -> Vec<String> {
            services
                .iter()
                .map(|&s| graph.name(s).to_string())
                .collect()
        };
        let services = shown
            .into_iter()
            .map(|service| {
                let name = graph.name(service);
                let state = self
                    .supervisor
                    .id_of(name)
                    .map_or(StateKind::Down, |id| self.supervisor.status(id).state);
                TreeNode {
                    name: name.to_string(),
                    state: state.into(),
                    requires: names(graph.requires_of(service)),
                    wants: names(graph.wants_of(service)),
                    after: names(graph.ordering_of(service)),
                }
            })
            .collect();
        Ok(Reply::ok(TreeReport { root, services }))
    }

    fn blame(&self) -> Reply {
        let clock = WallClock::now();
        let entries: Vec<BlameEntry> = self
            .supervisor
            .ids()
            .map(|id| {
                let status = self.supervisor.status(id);
                let ready_after = match (status.spawned_at, status.ready_at) {
                    (Some(spawned), Some(ready)) if ready >= spawned => {
                        Some(round_millis(ready - spawned))
                    }
                    _ => None,
                };
                BlameEntry {
                    name: status.name,
                    state: status.state.into(),
                    spawned: status
                        .spawned_at
                        .map(|at| round_unix_millis(clock.unix_seconds(at))),
                    ready_after,
                }
            })
            .collect();
        Reply::ok(entries)
    }

    /// `svctl plot`: the runs of this boot the core remembers (the first
    /// and the last few per service, and the one going on), in start
    /// order.
    fn plot(&self) -> Reply {
        let clock = WallClock::now();
        let unix = |at: Instant| round_unix_millis(clock.unix_seconds(at));
        let services = self
            .supervisor
            .ids()
            .filter_map(|id| {
                let status = self.supervisor.status(id);
                let (ended, omitted) = self.supervisor.plotted_runs(id);
                let mut runs: Vec<PlotRun> = ended
                    .iter()
                    .filter_map(|record| {
                        Some(PlotRun {
                            spawned: unix(record.spawned_at?),
                            ready: record.ready_at.map(unix),
                            ended: Some(unix(record.at)),
                            exit: Some(record.status.into()),
                        })
                    })
                    .collect();
                if status.pid.is_some()
                    && let Some(spawned) = status.spawned_at
                {
                    runs.push(PlotRun {
                        spawned: unix(spawned),
                        ready: status.ready_at.map(unix),
                        ended: None,
                        exit: None,
                    });
                }
                (!runs.is_empty()).then(|| PlotService {
                    name: status.name,
                    state: status.state.into(),
                    runs,
                    omitted,
                })
            })
            .collect();
        Reply::ok(PlotReport {
            now: unix(clock.instant),
            services,
        })
    }

    /// `svctl shutdown`: the orderly shutdown of SIGTERM, exit 0 (user and
    /// container mode; a booted system has poweroff, reboot and halt).
    fn shutdown_request(&mut self, now: Instant) -> Result<Reply, ProtocolError> {
        self.supervisor.request_shutdown(now).map_err(|_| {
            ProtocolError::new(
                ErrorKind::NotSupported,
                "shutdown is for user and container mode; use poweroff, reboot or halt in system mode",
            )
        })?;
        Ok(Reply::ok(serde_json::json!({ "pid": std::process::id() })))
    }

    /// poweroff/reboot/halt: only an init of a booted system may. The
    /// reply goes out before the services stop.
    fn power(&mut self, request: &Request, peer: &str) -> Result<Reply, ProtocolError> {
        let command = request.command();
        let kind = match request {
            Request::Reboot => PowerKind::Reboot,
            Request::Halt => PowerKind::Halt,
            _ => PowerKind::Poweroff,
        };
        let by = format!("svctl {command} ({peer})");
        self.supervisor
            .request_power(Instant::now(), kind, &by)
            .map_err(|_| {
                ProtocolError::new(
                    ErrorKind::NotSupported,
                    format!(
                        "{command} is only available in system mode; svinit runs in {} mode (stop it with SIGTERM)",
                        self.supervisor.role()
                    ),
                )
            })?;
        Ok(Reply::ok(serde_json::Value::Null))
    }
}

/// The error reply for what the supervisor refused `name` (a service, or
/// the services of a request).
fn refused(name: &str, refusal: Refusal) -> ProtocolError {
    match refusal {
        Refusal::ShuttingDown => ProtocolError::new(ErrorKind::Failed, "svinit is shutting down"),
        Refusal::NotRunning(state) => ProtocolError::new(
            ErrorKind::NotRunning,
            format!("{name} has no running process (state {state})"),
        ),
        Refusal::ForbiddenGroup { pid, pgid } => ProtocolError::new(
            ErrorKind::Failed,
            format!(
                "{name}: its process {pid} is in process group {pgid}, which svinit cannot signal (its own, or init's)"
            ),
        ),
        Refusal::NotItsProcess(pid) => ProtocolError::new(
            ErrorKind::NotRunning,
            format!("{name}: pid {pid} is not its process any more"),
        ),
        Refusal::NoSuchSignal(signal) => {
            ProtocolError::new(ErrorKind::BadRequest, format!("unknown signal `{signal}`"))
        }
        Refusal::NotInRole(role) => {
            ProtocolError::new(ErrorKind::NotSupported, format!("not in {role} mode"))
        }
        Refusal::NoSuchService => ProtocolError::unknown_service(name),
        Refusal::BadInstanceName(reason) => ProtocolError::new(
            ErrorKind::BadName,
            format!(
                "invalid instance name in `{name}`: {reason} (1 to 64 characters of \
                 [A-Za-z0-9_.:-], not `.` or `..`, not starting with `-`)"
            ),
        ),
        Refusal::InstanceUnusable(why) => {
            ProtocolError::new(ErrorKind::Failed, format!("cannot start {name}: {why}"))
        }
    }
}

/// The newest `count` lines (all when `None`) of several rings as
/// `(ring, line)` indexes in arrival order, then of those the newest that
/// hold `MAX_LOGS_REPLY_BYTES` of text; and how many of the `count` did not
/// fit. Merged from the newest back, so the lines left out cost nothing.
fn newest_lines(rings: &[(&str, RingLines)], count: Option<usize>) -> (Vec<(usize, usize)>, u64) {
    let count = count.unwrap_or(usize::MAX);
    // Per ring, the lines not taken yet: 0..left[ring].
    let mut left: Vec<usize> = rings.iter().map(|(_, lines)| lines.len()).collect();
    let mut newest: BinaryHeap<(u64, usize)> = rings
        .iter()
        .enumerate()
        .filter(|(_, (_, lines))| !lines.is_empty())
        .map(|(ring, (_, lines))| (lines.arrival(lines.len() - 1), ring))
        .collect();
    let mut picked = Vec::new();
    let mut bytes = 0;
    let mut omitted = 0;
    while picked.len() < count {
        let Some((_, ring)) = newest.pop() else {
            break;
        };
        let (name, lines) = &rings[ring];
        let index = left[ring] - 1;
        bytes += name.len() + lines.text_len(index);
        if bytes > MAX_LOGS_REPLY_BYTES {
            let unread: usize = left.iter().sum();
            omitted = unread.min(count - picked.len()) as u64;
            break;
        }
        picked.push((ring, index));
        left[ring] = index;
        if index > 0 {
            newest.push((lines.arrival(index - 1), ring));
        }
    }
    picked.reverse();
    (picked, omitted)
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Change {
    Start,
    Stop,
    Restart,
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::transcript::RingBuffer;

    fn ring(lines: &[(u64, &str)]) -> RingLines {
        let mut ring = RingBuffer::new(2 * MAX_LOGS_REPLY_BYTES);
        for (arrival, text) in lines {
            ring.push(format!("{text}\n").as_bytes(), *arrival);
        }
        ring.lines(true)
    }

    fn texts(rings: &[(&str, RingLines)], picked: &[(usize, usize)]) -> Vec<String> {
        picked
            .iter()
            .map(|&(r, i)| format!("{} | {}", rings[r].0, rings[r].1.text(i)))
            .collect()
    }

    #[test]
    fn newest_lines_merge_by_arrival_and_keep_the_newest_that_fit() {
        let rings = [
            ("a", ring(&[(1, "a1"), (4, "a2"), (5, "a3")])),
            ("b", ring(&[(2, "b1"), (3, "b2"), (6, "b3")])),
            ("c", ring(&[])),
        ];
        let (picked, omitted) = newest_lines(&rings, None);
        assert_eq!(
            texts(&rings, &picked),
            ["a | a1", "b | b1", "b | b2", "a | a2", "a | a3", "b | b3"]
        );
        assert_eq!(omitted, 0);
        let (picked, omitted) = newest_lines(&rings, Some(2));
        assert_eq!(texts(&rings, &picked), ["a | a3", "b | b3"]);
        assert_eq!(omitted, 0, "-n is not an omission");

        // Over the byte bound: the newest that fit, the rest counted.
        let long = "x".repeat(MAX_LOGS_REPLY_BYTES / 3);
        let rings = [(
            "big",
            ring(&[(1, &long), (2, &long), (3, &long), (4, "last")]),
        )];
        let (picked, omitted) = newest_lines(&rings, None);
        assert_eq!(picked, [(0, 1), (0, 2), (0, 3)]);
        assert_eq!(omitted, 1);
        let (_, omitted) = newest_lines(&rings, Some(4));
        assert_eq!(omitted, 1);
    }
}
