//! `defaults` merged into each service, then the checks that need the
//! merged service (`restart` default by type, a command present,
//! `pid-file` not on a oneshot, `ready-probe` not beside a `ready-fd` or
//! `ready-notify` from `defaults`) and the final `ServiceConfig`.

use super::diagnostic::{Location, Problem};
use super::model::{Limit, RestartPolicy, ServiceConfig, ServiceType};
use super::parse::{EXCLUSIVE_KEYS, Key, ServiceDraft};
use crate::graph::DependencyKind;

/// Fill the keys `service` did not give from `defaults`.
///
/// Every key is replaced whole, except `environment` and `limits`, which
/// merge entry by entry (the service's entries win), and dependency keys,
/// where a default naming the service itself is dropped.
pub(crate) fn merge_defaults(service: &mut ServiceDraft, defaults: &ServiceDraft) {
    let own_command = service.given.contains(Key::Exec) || service.given.contains(Key::Shell);
    let own_stop_command =
        service.given.contains(Key::StopExec) || service.given.contains(Key::StopShell);
    for key in Key::ALL {
        if !defaults.given.contains(key) {
            continue;
        }
        let inherited = match key {
            Key::Exec | Key::Shell => !own_command,
            Key::Instances => false,
            Key::StopExec | Key::StopShell => !own_stop_command,
            Key::Environment | Key::Limits => true,
            _ => !service.given.contains(key),
        };
        if !inherited {
            continue;
        }
        copy_key(key, defaults, service);
        service.percent_problems.extend(
            defaults
                .percent_problems
                .iter()
                .filter(|(given, _)| *given == key)
                .cloned(),
        );
        if defaults.refused.contains(key) {
            service.refused.insert(key);
        }
        if !service.given.contains(key) {
            service.given.insert(key);
            service.inherited.insert(key);
            if let Some(at) = defaults.location_of(key) {
                service.key_at.push((key, at.clone()));
            }
        }
    }
}

fn copy_key(key: Key, from: &ServiceDraft, to: &mut ServiceDraft) {
    let source = &from.config;
    let target = &mut to.config;
    match key {
        Key::Exec | Key::Shell => target.command = source.command.clone(),
        Key::Description => target.description = source.description.clone(),
        Key::Type => target.service_type = source.service_type,
        Key::PidFile => target.pid_file = source.pid_file.clone(),
        Key::Autostart => target.autostart = source.autostart,
        Key::Requires | Key::Wants | Key::After | Key::Before => {
            let own_name = target.name.clone();
            to.dependencies.extend(
                from.dependencies
                    .iter()
                    .filter(|d| Some(d.kind) == key.dependency_kind() && d.name != own_name)
                    .cloned(),
            );
        }
        Key::Directory => target.directory = source.directory.clone(),
        Key::User => target.user = source.user.clone(),
        Key::Group => target.group = source.group.clone(),
        Key::Groups => target.groups = source.groups.clone(),
        Key::Umask => target.umask = source.umask,
        Key::Environment => {
            let own = std::mem::take(&mut target.environment);
            let mut merged: Vec<(String, String)> = source
                .environment
                .iter()
                .filter(|(name, _)| !own.iter().any(|(n, _)| n == name))
                .cloned()
                .collect();
            merged.extend(own);
            target.environment = merged;
        }
        Key::EnvironmentFile => target.environment_file = source.environment_file.clone(),
        Key::ClearEnvironment => target.clear_environment = source.clear_environment,
        Key::Transcript => target.transcript = source.transcript.clone(),
        Key::Output => target.output = source.output,
        Key::Tty => target.tty = source.tty.clone(),
        Key::Restart => target.restart = source.restart,
        Key::ExitCodes => target.exit_codes = source.exit_codes.clone(),
        Key::BackoffLimit => target.backoff_limit = source.backoff_limit,
        Key::Backoff => target.backoff = source.backoff,
        Key::Forever => target.forever = source.forever,
        Key::Critical => target.critical = source.critical,
        Key::ReadyFd => target.ready_fd = source.ready_fd,
        Key::ReadyNotify => target.ready_notify = source.ready_notify,
        Key::Watchdog => target.watchdog = source.watchdog,
        Key::StartTimeout => target.start_timeout = source.start_timeout,
        Key::StopSignal => target.stop_signal = source.stop_signal,
        Key::StopExec | Key::StopShell => target.stop_command = source.stop_command.clone(),
        Key::StopTimeout => target.stop_timeout = source.stop_timeout,
        Key::KillMode => target.kill_mode = source.kill_mode,
        Key::Nice => target.nice = source.nice,
        // Refused in `defaults`: the instances of one template only.
        Key::Instances => {}
        Key::ReadyProbe => target.ready_probe = source.ready_probe.clone(),
        Key::Health => target.health = source.health.clone(),
        Key::Limits => {
            let own = std::mem::take(&mut target.limits);
            let mut merged: Vec<Limit> = source
                .limits
                .iter()
                .filter(|limit| !own.iter().any(|l| l.resource == limit.resource))
                .copied()
                .collect();
            merged.extend(own);
            target.limits = merged;
        }
    }
}

/// The checks that need the merged service, then the final `ServiceConfig`
/// (its dependency lists filled from the located names).
pub(crate) fn finish_service(
    draft: &ServiceDraft,
    name_at: &Location,
    problems: &mut Vec<Problem>,
) -> ServiceConfig {
    let mut config = draft.config.clone();
    let name = config.name.clone();
    if !draft.given.contains(Key::Restart) {
        config.restart = match config.service_type {
            ServiceType::Oneshot => RestartPolicy::Never,
            ServiceType::Longrun | ServiceType::Forking => RestartPolicy::OnFailure,
        };
    }
    if !draft.given.contains(Key::Exec) && !draft.given.contains(Key::Shell) {
        problems.push(
            Problem::error(format!("service `{name}` has no `exec` or `shell`"))
                .label(name_at, "nothing to run")
                .help(
                    "add `exec \"/path/to/program\" \"arg\"…` or `shell \"script\"` to its block",
                ),
        );
    }
    let type_at = draft.location_of(Key::Type).unwrap_or(name_at);
    let type_known = !draft.refused.contains(Key::Type);
    let pid_file_given = draft.given.contains(Key::PidFile);
    let pid_file_known = !draft.refused.contains(Key::PidFile);
    match (config.service_type, pid_file_given) {
        _ if !type_known => {}
        (ServiceType::Forking, false) => problems.push(
            Problem::error(format!("service `{name}` is `forking` but has no `pid-file`"))
                .label(type_at, "forking service")
                .label(name_at, "in this service")
                .help("svinit follows a daemonizing program through its pid file: add `pid-file \"/run/NAME.pid\"`"),
        ),
        (ServiceType::Oneshot, true) if pid_file_known => {
            let mut problem = Problem::error(format!(
                "`pid-file` cannot be used with `type \"oneshot\"`, and service `{name}` is a oneshot"
            ));
            if let Some(pid_file_at) = draft.location_of(Key::PidFile) {
                problem = problem.label(pid_file_at, "pid file of a oneshot");
            }
            problems.push(
                problem
                    .label(type_at, "oneshot service")
                    .help("svinit writes the pid file of a longrun and reads that of a forking service; a oneshot has none: remove `pid-file`"),
            );
        }
        _ => {}
    }
    let ready_notify_known = !draft.refused.contains(Key::ReadyNotify);
    if let Some(watchdog_at) = draft.location_of(Key::Watchdog)
        && config.watchdog.is_some()
        && !config.ready_notify
        && ready_notify_known
    {
        problems.push(
            Problem::error(format!(
                "`watchdog` needs `ready-notify #true`, which service `{name}` does not have"
            ))
            .label(watchdog_at, "watchdog of a service without ready-notify")
            .label(name_at, "in this service")
            .help(
                "the service sends WATCHDOG=1 on NOTIFY_SOCKET: add `ready-notify #true`, or remove `watchdog`",
            ),
        );
    }
    for (key, given, help) in [
        (
            Key::ReadyProbe,
            config.ready_probe.is_some(),
            "a oneshot is ready when it has exited successfully: remove `ready-probe`",
        ),
        (
            Key::Health,
            config.health.is_some(),
            "a oneshot is never `up`, so there is nothing to watch: remove `health`",
        ),
    ] {
        if let Some(probe_at) = draft.location_of(key)
            && given
            && config.service_type == ServiceType::Oneshot
            && type_known
        {
            let key = key.name();
            problems.push(
                Problem::error(format!(
                    "`{key}` cannot be used on a oneshot, and service `{name}` is one"
                ))
                .label(probe_at, format!("`{key}` of a oneshot"))
                .label(type_at, "oneshot here")
                .help(help),
            );
        }
    }
    check_readiness_against_defaults(draft, &config, problems);
    for dependency in &draft.dependencies {
        let list = match dependency.kind {
            DependencyKind::Requires => &mut config.requires,
            DependencyKind::Wants => &mut config.wants,
            DependencyKind::After => &mut config.after,
            DependencyKind::Before => &mut config.before,
        };
        list.push(dependency.name.clone());
    }
    config
}

/// Two ways to say ready (`ready-probe`, `ready-fd`, `ready-notify #true`)
/// when one of them comes from `defaults` and the other from the service:
/// one block giving both is reported as it is read (`parse.rs`, with the
/// same help lines).
fn check_readiness_against_defaults(
    draft: &ServiceDraft,
    config: &ServiceConfig,
    problems: &mut Vec<Problem>,
) {
    let name = &config.name;
    let given = |key: Key| match key {
        Key::ReadyProbe => config.ready_probe.is_some(),
        Key::ReadyFd => config.ready_fd.is_some(),
        Key::ReadyNotify => config.ready_notify,
        _ => false,
    };
    for &(first, second, help) in EXCLUSIVE_KEYS {
        if ![first, second]
            .iter()
            .all(|&key| READINESS_KEYS.contains(&key))
        {
            continue;
        }
        // Both from `defaults`: that block was reported as it was read.
        let (first_inherited, second_inherited) = (
            draft.inherited.contains(first),
            draft.inherited.contains(second),
        );
        let from_defaults = first_inherited != second_inherited;
        // A refused key has no value: `given` is false for it.
        if let (Some(first_at), Some(second_at)) =
            (draft.location_of(first), draft.location_of(second))
            && given(first)
            && given(second)
            && from_defaults
        {
            let (a, b) = (first.name(), second.name());
            problems.push(
                Problem::error(format!(
                    "`{a}` and `{b}` cannot both be given, and service `{name}` has both"
                ))
                .label(first_at, format!("`{a}` here"))
                .label(second_at, format!("`{b}` here"))
                .help(help),
            );
        }
    }
}

/// The keys that say how a service becomes ready: one at most.
const READINESS_KEYS: [Key; 3] = [Key::ReadyProbe, Key::ReadyFd, Key::ReadyNotify];
