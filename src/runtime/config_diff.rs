//! What a reload would change: services added, removed and changed (with
//! the unit-file keys that differ), and global settings that differ. Pure;
//! behind `svctl reload` and `svctl reload --dry-run`.

use crate::config::{Config, ServiceConfig};
use crate::control::{ChangedService, ReloadReport};

/// Compares the running config with a new one. Services keep the order of
/// the config they are in (the new one for added and changed).
/// Templates (`NAME@`) are compared like services and listed among them:
/// a changed template changes the instances made from it later, even when
/// it has none now.
pub(crate) fn diff_configs(old: &Config, new: &Config, dry_run: bool) -> ReloadReport {
    let in_old = |name: &str| old.service(name).or_else(|| old.template(name));
    let in_new = |name: &str| new.service(name).or_else(|| new.template(name));
    let (old_units, new_units) = (units(old), units(new));
    let added = new_units
        .iter()
        .filter(|unit| in_old(&unit.name).is_none())
        .map(|unit| unit.name.clone())
        .collect();
    let removed = old_units
        .iter()
        .filter(|unit| in_new(&unit.name).is_none())
        .map(|unit| unit.name.clone())
        .collect();
    let changed = new_units
        .iter()
        .filter_map(|unit| {
            let before = in_old(&unit.name)?;
            let keys = changed_keys(before, unit);
            (!keys.is_empty()).then(|| ChangedService {
                name: unit.name.clone(),
                keys: keys.into_iter().map(String::from).collect(),
            })
        })
        .collect();
    let mut global = Vec::new();
    if old.control != new.control {
        global.push("control".to_string());
    }
    if old.shutdown_timeout != new.shutdown_timeout {
        global.push("shutdown-timeout".to_string());
    }
    ReloadReport {
        dry_run,
        added,
        removed,
        changed,
        global,
        summary: None,
    }
}

/// A config's services, then its templates.
fn units(config: &Config) -> Vec<&ServiceConfig> {
    config.services.iter().chain(&config.templates).collect()
}

/// The unit-file keys whose values differ between two versions of one
/// service. Destructured in full so that a new field cannot be forgotten.
pub(crate) fn changed_keys(old: &ServiceConfig, new: &ServiceConfig) -> Vec<&'static str> {
    let ServiceConfig {
        name: _,
        description,
        command,
        service_type,
        pid_file,
        autostart,
        requires,
        wants,
        after,
        before,
        directory,
        user,
        group,
        groups,
        umask,
        environment,
        environment_file,
        clear_environment,
        transcript,
        output,
        tty,
        restart,
        exit_codes,
        backoff_limit,
        backoff,
        forever,
        critical,
        ready_fd,
        ready_notify,
        watchdog,
        start_timeout,
        stop_signal,
        stop_command,
        stop_timeout,
        kill_mode,
        nice,
        limits,
        ready_probe,
        health,
    } = old;
    let mut keys = Vec::new();
    let mut check = |differs: bool, key: &'static str| {
        if differs {
            keys.push(key);
        }
    };
    check(*description != new.description, "description");
    let command_key = match new.command {
        crate::config::Command::Exec(_) => "exec",
        crate::config::Command::Shell(_) => "shell",
    };
    check(*command != new.command, command_key);
    check(*service_type != new.service_type, "type");
    check(*pid_file != new.pid_file, "pid-file");
    check(*autostart != new.autostart, "autostart");
    check(*requires != new.requires, "requires");
    check(*wants != new.wants, "wants");
    check(*after != new.after, "after");
    check(*before != new.before, "before");
    check(*directory != new.directory, "directory");
    check(*user != new.user, "user");
    check(*group != new.group, "group");
    check(*groups != new.groups, "groups");
    check(*umask != new.umask, "umask");
    check(*environment != new.environment, "environment");
    check(
        *environment_file != new.environment_file,
        "environment-file",
    );
    check(
        *clear_environment != new.clear_environment,
        "clear-environment",
    );
    check(*transcript != new.transcript, "transcript");
    check(*output != new.output, "output");
    check(*tty != new.tty, "tty");
    check(*restart != new.restart, "restart");
    check(*exit_codes != new.exit_codes, "exit-codes");
    check(*backoff_limit != new.backoff_limit, "backoff-limit");
    check(*backoff != new.backoff, "backoff");
    check(*forever != new.forever, "forever");
    check(*critical != new.critical, "critical");
    check(*ready_fd != new.ready_fd, "ready-fd");
    check(*ready_notify != new.ready_notify, "ready-notify");
    check(*watchdog != new.watchdog, "watchdog");
    check(*start_timeout != new.start_timeout, "start-timeout");
    check(*stop_signal != new.stop_signal, "stop-signal");
    let stop_command_key = match new.stop_command {
        Some(crate::config::Command::Shell(_)) => "stop-shell",
        _ => "stop-exec",
    };
    check(*stop_command != new.stop_command, stop_command_key);
    check(*stop_timeout != new.stop_timeout, "stop-timeout");
    check(*ready_probe != new.ready_probe, "ready-probe");
    check(*health != new.health, "health");
    check(*kill_mode != new.kill_mode, "kill-mode");
    check(*nice != new.nice, "nice");
    check(*limits != new.limits, "limits");
    keys
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::{Command, ControlConfig, IdRef};
    use std::time::Duration;

    fn service(name: &str) -> ServiceConfig {
        ServiceConfig::new(name, Command::Exec(vec!["/bin/true".into()]))
    }

    #[test]
    fn identical_configs_differ_in_nothing() {
        let config = Config {
            services: vec![service("a"), service("b")],
            ..Config::default()
        };
        let report = diff_configs(&config, &config.clone(), true);
        assert!(report.added.is_empty() && report.removed.is_empty());
        assert!(report.changed.is_empty() && report.global.is_empty());
        assert!(report.dry_run);
    }

    #[test]
    fn additions_removals_and_changed_keys_are_named() {
        let old = Config {
            services: vec![service("web"), service("db"), service("old")],
            ..Config::default()
        };
        let mut web = service("web");
        web.command = Command::Shell("exec nginx".into());
        web.stop_timeout = Duration::from_secs(3);
        web.requires = vec!["db".into()];
        let new = Config {
            services: vec![web, service("db"), service("new")],
            control: ControlConfig {
                group: Some(IdRef::Name("svadm".into())),
                read_group: None,
            },
            shutdown_timeout: Some(Duration::from_secs(30)),
            ..Config::default()
        };
        let report = diff_configs(&old, &new, false);
        assert_eq!(report.added, ["new"]);
        assert_eq!(report.removed, ["old"]);
        assert_eq!(report.changed.len(), 1);
        assert_eq!(report.changed[0].name, "web");
        assert_eq!(
            report.changed[0].keys,
            ["shell", "requires", "stop-timeout"]
        );
        assert_eq!(report.global, ["control", "shutdown-timeout"]);
    }

    /// A template with no instance changes nothing that runs, but the
    /// instances made from it later: it is named too.
    #[test]
    fn templates_are_named_like_services() {
        let old = Config {
            templates: vec![service("getty@"), service("gone@")],
            ..Config::default()
        };
        let mut getty = service("getty@");
        getty.command = Command::Shell("exec agetty %i".into());
        let new = Config {
            templates: vec![getty, service("worker@")],
            ..Config::default()
        };
        let report = diff_configs(&old, &new, true);
        assert_eq!(report.added, ["worker@"]);
        assert_eq!(report.removed, ["gone@"]);
        assert_eq!(report.changed.len(), 1);
        assert_eq!(report.changed[0].name, "getty@");
        assert_eq!(report.changed[0].keys, ["shell"]);
    }
}
