//! What control requests do: each `Request` from the control server is
//! executed against the supervisor and answered. Policy stays in the
//! supervisor; this file only translates (names to ids, states to JSON)
//! and fills in what the runtime itself knows (mode, config path).

use std::collections::HashSet;
use std::time::Instant;

use crate::config;
use crate::control::{
    BlameEntry, ErrorKind, LogsReport, ProtocolError, ReloadReport, Reply, Request,
    ServiceStatusJson, StatusReport, StreamLine, TreeNode, TreeReport, WallClock, parse_signal,
    round_millis, round_unix_millis,
};
use crate::mode::Mode;
use crate::supervisor::{Event, PowerKind, ServiceId, StateKind};
use crate::{error, info};

use super::Runtime;
use super::config_diff::diff_configs;
use super::control::{AccessPolicy, AccountFiles, ClientId, IncomingRequest};

/// How a request is answered: a single reply, or a reply that opens a
/// stream (`logs -f`).
pub(super) enum Answer {
    Reply(Reply),
    /// `logs -f`: the reply, then every line of `service` written after
    /// `cursor` in its ring buffer.
    FollowLogs {
        reply: Reply,
        service: ServiceId,
        cursor: u64,
    },
}

/// A `svctl logs -f` client and how far it has read.
pub(super) struct LogFollower {
    client: ClientId,
    service: ServiceId,
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
                    Answer::FollowLogs {
                        reply,
                        service,
                        cursor,
                    } => {
                        control.begin_stream(incoming.client, &reply, now);
                        self.log_followers.push(LogFollower {
                            client: incoming.client,
                            service,
                            cursor,
                        });
                    }
                }
            }
        }
    }

    /// Sends `logs -f` clients what their services wrote since last time;
    /// forgets clients that went away and services no longer captured.
    pub(super) fn feed_log_followers(&mut self) {
        let Some(control) = self.control.as_mut() else {
            self.log_followers.clear();
            return;
        };
        let now = Instant::now();
        let output = &self.output;
        self.log_followers.retain_mut(|follower| {
            if !control.is_connected(follower.client) {
                return false;
            }
            let Some(news) = output.lines_since(follower.service, follower.cursor) else {
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
            };
            if news.skipped {
                control.stream(
                    follower.client,
                    &StreamLine::log("svctl: [output skipped: the follower fell behind]"),
                    now,
                );
            }
            for line in news.lines {
                control.stream(follower.client, &StreamLine::log(line), now);
            }
            follower.cursor = news.next;
            true
        });
    }

    fn answer(&mut self, incoming: &IncomingRequest) -> Answer {
        let now = Instant::now();
        match &incoming.request {
            Request::Status { names } => self.status(names).into(),
            Request::Start { names } => self.change(names, now, Change::Start).into(),
            Request::Stop { names } => self.change(names, now, Change::Stop).into(),
            Request::Restart { names } => self.change(names, now, Change::Restart).into(),
            Request::Kill { name, signal } => self.kill(name, signal).into(),
            Request::Reopen { names } => self.reopen(names).into(),
            Request::Logs {
                name,
                lines,
                follow,
            } => self.logs(name, *lines, *follow),
            Request::Reload { dry_run } => self.reload_request(*dry_run).into(),
            Request::Tree { name } => self.tree(name.as_deref()).into(),
            Request::Blame => Answer::Reply(self.blame()),
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

    fn change(
        &mut self,
        names: &[String],
        now: Instant,
        change: Change,
    ) -> Result<Reply, ProtocolError> {
        if names.is_empty() {
            return Err(ProtocolError::new(
                ErrorKind::BadRequest,
                "name at least one service",
            ));
        }
        let ids = self.resolve(names)?;
        if self.supervisor.is_shutting_down() && change != Change::Stop {
            return Err(ProtocolError::new(
                ErrorKind::Failed,
                "svinit is shutting down",
            ));
        }
        for &id in &ids {
            match change {
                Change::Start => self.supervisor.start(now, id),
                Change::Stop => self.supervisor.stop(now, id),
                Change::Restart => self.supervisor.restart(now, id),
            }
        }
        Ok(Reply::ok(self.status_entries(&ids, &WallClock::now())))
    }

    fn kill(&self, name: &str, signal: &str) -> Result<Reply, ProtocolError> {
        let id = self
            .supervisor
            .id_of(name)
            .ok_or_else(|| ProtocolError::unknown_service(name))?;
        let number = parse_signal(signal).ok_or_else(|| {
            ProtocolError::new(ErrorKind::BadRequest, format!("unknown signal `{signal}`"))
        })?;
        let status = self.supervisor.status(id);
        let Some(pid) = status.pid.filter(|&pid| pid > 1) else {
            return Err(ProtocolError::new(
                ErrorKind::NotRunning,
                format!("{name} has no running process (state {})", status.state),
            ));
        };
        super::signals::send(pid, number).map_err(|errno| {
            ProtocolError::new(
                ErrorKind::Failed,
                format!(
                    "kill({pid}, SIG{}): {}",
                    crate::supervisor::signal_name(number),
                    errno.desc()
                ),
            )
        })?;
        Ok(Reply::ok(()))
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

    /// `svctl logs`: the last lines from the service's ring buffer; with
    /// `follow`, the stream then goes on with every new line.
    fn logs(&self, name: &str, lines: Option<u32>, follow: bool) -> Answer {
        let Some(id) = self.supervisor.id_of(name) else {
            return Answer::Reply(Reply::error(ProtocolError::unknown_service(name)));
        };
        let wanted = lines.map(|n| n as usize);
        let (Some(recent), Some(cursor)) =
            (self.output.logs(id, wanted), self.output.follow_cursor(id))
        else {
            return Answer::Reply(Reply::failure(
                ErrorKind::NotAvailable,
                format!(
                    "the output of {name} is not captured (output \"inherit\", \"null\", a tty, or it never ran)"
                ),
            ));
        };
        let reply = Reply::ok(LogsReport {
            name: name.to_string(),
            lines: recent,
        });
        if follow {
            Answer::FollowLogs {
                reply,
                service: id,
                cursor,
            }
        } else {
            Answer::Reply(reply)
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
        // `svinit --detach -- COMMAND` with no config (no such path, or a
        // directory without a `*.kdl` file): the command alone, as at start.
        let alone = !self.options.extra_services.is_empty() && !config::has_config(&path);
        let loaded = if alone {
            Ok(config::Config::default())
        } else {
            config::load_path(&path)
        };
        let new_config = match loaded {
            Ok(mut config) => {
                if let Err(text) =
                    crate::detach::add_services(&mut config, &self.options.extra_services)
                {
                    if !dry_run {
                        error!("", "reload refused: {text}");
                    }
                    return Err(text);
                }
                config
            }
            Err(diagnostics) => {
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
        let mut report = diff_configs(self.supervisor.config(), &new_config, dry_run);
        if dry_run {
            return Ok(report);
        }
        info!("", "reloading {}", path.display());
        let control = new_config.control.clone();
        let summary = self.supervisor.reload(Instant::now(), new_config);
        info!("", "reload: {summary}");
        report.summary = Some(summary.to_string());
        self.forget_gone_outputs();
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
        let config = self.supervisor.config();
        let root = match name {
            Some(name) => {
                self.supervisor
                    .id_of(name)
                    .ok_or_else(|| ProtocolError::unknown_service(name))?;
                Some(name.to_string())
            }
            None => None,
        };
        // Reachable from the root through requires and wants.
        let wanted: Option<HashSet<&str>> = root.as_deref().map(|root| {
            let mut seen = HashSet::from([root]);
            let mut queue = vec![root];
            while let Some(current) = queue.pop() {
                if let Some(service) = config.service(current) {
                    for next in service.requires.iter().chain(&service.wants) {
                        if seen.insert(next.as_str()) {
                            queue.push(next.as_str());
                        }
                    }
                }
            }
            seen
        });
        let services = config
            .services
            .iter()
            .filter(|service| {
                wanted
                    .as_ref()
                    .is_none_or(|set| set.contains(service.name.as_str()))
            })
            .map(|service| {
                let state = self
                    .supervisor
                    .id_of(&service.name)
                    .map_or(StateKind::Down, |id| self.supervisor.status(id).state);
                let mut after = service.after.clone();
                for other in &config.services {
                    if other.before.contains(&service.name) && !after.contains(&other.name) {
                        after.push(other.name.clone());
                    }
                }
                TreeNode {
                    name: service.name.clone(),
                    state: state.into(),
                    requires: service.requires.clone(),
                    wants: service.wants.clone(),
                    after,
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

    /// `svctl shutdown`: the orderly shutdown of SIGTERM, exit 0 (user and
    /// container mode; a booted system has poweroff, reboot and halt).
    fn shutdown_request(&mut self, now: Instant) -> Result<Reply, ProtocolError> {
        if self.options.mode == Mode::System {
            return Err(ProtocolError::new(
                ErrorKind::NotSupported,
                "shutdown is for user and container mode; use poweroff, reboot or halt in system mode",
            ));
        }
        if !self.supervisor.is_shutting_down() {
            info!("", "shutting down (svctl shutdown)");
        }
        self.supervisor
            .handle_event(now, Event::Shutdown { exit_code: 0 });
        Ok(Reply::ok(serde_json::json!({ "pid": std::process::id() })))
    }

    /// poweroff/reboot/halt: only an init of a booted system may. The
    /// reply goes out before the services stop.
    fn power(&mut self, request: &Request, peer: &str) -> Result<Reply, ProtocolError> {
        let command = request.command();
        if self.options.mode != Mode::System {
            return Err(ProtocolError::new(
                ErrorKind::NotSupported,
                format!(
                    "{command} is only available in system mode; svinit runs in {} mode (stop it with SIGTERM)",
                    self.options.mode
                ),
            ));
        }
        let kind = match request {
            Request::Reboot => PowerKind::Reboot,
            Request::Halt => PowerKind::Halt,
            _ => PowerKind::Poweroff,
        };
        self.request_power(kind, &format!("svctl {command} ({peer})"));
        Ok(Reply::ok(serde_json::Value::Null))
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Change {
    Start,
    Stop,
    Restart,
}
