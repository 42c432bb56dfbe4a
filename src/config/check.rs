//! `svinit --check` / `svctl check`: load a config, print its diagnostics
//! or its start plan and the warnings of [`start_up_warnings`]; and where
//! the config is by default (SPEC §1).

use std::io::{IsTerminal, Write};
use std::path::{Path, PathBuf};

use super::diagnostic::{Location, Problem, render_problems};
use super::load::{Located, load_path_located};
use super::model::{Config, IdRef, ServiceConfig};
use super::parse::{Key, ServiceDraft};
use super::template::{is_template_name, split_instance};
use crate::graph::Graph;
use crate::spawn::read_environment_file;
use crate::users::UserDb;

/// Check the config at `path`. Prints the diagnostics to stderr and
/// returns 1, or prints the start plan to stdout, the warnings to stderr,
/// and returns 0.
pub fn check_command(path: &Path) -> i32 {
    let color = std::io::stderr().is_terminal() && std::env::var_os("NO_COLOR").is_none();
    match load_path_located(path) {
        Ok(located) => {
            let mut stdout = std::io::stdout().lock();
            // A closed stdout (`svinit --check | head -1`) is not an error of the config.
            let _ = stdout.write_all(start_plan(&located.config, path).as_bytes());
            let warnings = start_up_warnings(&located, &UserDb::load());
            if !warnings.is_empty() {
                let mut stderr = std::io::stderr().lock();
                let _ = writeln!(stderr, "{}", render_problems(&warnings, color).trim_end());
            }
            0
        }
        Err(error) => {
            let mut stderr = std::io::stderr().lock();
            let _ = writeln!(stderr, "{}", error.render(color).trim_end());
            1
        }
    }
}

/// What svinit would meet when it starts, though the config is valid: a
/// `control` group, a `user`, `group` or `groups` name that `users` (read
/// from /etc/passwd and /etc/group, as svinit reads them) does not have,
/// and an `environment-file` that cannot be read as one. Warnings, not
/// errors: the config may be checked on another machine than the one it
/// runs on, or before the user or the file is made.
///
/// A template with no instance yet is checked too (its instances are, in
/// its place), for what does not depend on the instance (no `%`).
pub(crate) fn start_up_warnings(located: &Located, users: &UserDb) -> Vec<Problem> {
    let mut warnings = control_group_warnings(located, users);
    for (service, entry) in located.config.services.iter().zip(&located.services) {
        warnings.extend(unknown_id_warnings(service, &entry.draft, users));
        warnings.extend(environment_file_warning(service, &entry.draft));
    }
    let has_instances = |template: &str| {
        located.config.services.iter().any(|service| {
            split_instance(&service.name).is_some_and(|(made_from, _)| made_from == template)
        })
    };
    let templates = located.config.templates.iter().zip(&located.templates);
    for (template, entry) in templates.filter(|(template, _)| !has_instances(&template.name)) {
        warnings.extend(unknown_id_warnings(template, &entry.draft, users));
        warnings.extend(environment_file_warning(template, &entry.draft));
    }
    warnings
}

/// `control group=`/`read-group=` names that /etc/group does not have:
/// svinit ignores them (the socket stays closed to that group), which
/// `--check` says before the operator finds out by an EACCES.
fn control_group_warnings(located: &Located, users: &UserDb) -> Vec<Problem> {
    let control = &located.config.control;
    [
        ("group", &control.group),
        ("read-group", &control.read_group),
    ]
    .into_iter()
    .filter_map(|(key, id)| match id {
        Some(IdRef::Name(name)) if users.group_by_name(name).is_none() => Some(located_at(
            Problem::warning(format!(
                "control {key} `{name}` is not in /etc/group; svinit would ignore it"
            )),
            located.control_at.as_ref(),
            "not in /etc/group",
        )),
        _ => None,
    })
    .collect()
}

/// A `user`, `group` or `groups` name that is neither in /etc/passwd
/// (/etc/group) nor a number: spawn would fail the start with "no such
/// user" (group). A number needs no entry, as at spawn.
fn unknown_id_warnings(
    service: &ServiceConfig,
    draft: &ServiceDraft,
    users: &UserDb,
) -> Vec<Problem> {
    let ids = service
        .user
        .iter()
        .map(|id| (Key::User, id))
        .chain(service.group.iter().map(|id| (Key::Group, id)))
        .chain(service.groups.iter().flatten().map(|id| (Key::Groups, id)));
    ids.filter_map(|(key, id)| {
        let IdRef::Name(name) = id else {
            return None;
        };
        if depends_on_instance(service, name) {
            return None;
        }
        let (what, file, known) = match key {
            Key::User => ("user", "/etc/passwd", users.user_by_name(name).is_some()),
            _ => ("group", "/etc/group", users.group_by_name(name).is_some()),
        };
        if known || name.parse::<u32>().is_ok() {
            return None;
        }
        let problem = Problem::warning(format!(
            "service `{}`: {what} `{name}` is not in {file}",
            service.name
        ))
        .help(format!(
            "svinit reads {file} at each start of the service: as it is now, the start \
             would fail with \"no such {what}\""
        ));
        Some(located_at(
            problem,
            draft.location_of(key),
            format!("not in {file}"),
        ))
    })
    .collect()
}

/// Whether `value` of `service` is a template's, with a `%` that each
/// instance fills in: nothing to check before there is one.
fn depends_on_instance(service: &ServiceConfig, value: &str) -> bool {
    is_template_name(&service.name) && value.contains('%')
}

/// An `environment-file` that each start would fail to read or parse.
fn environment_file_warning(service: &ServiceConfig, draft: &ServiceDraft) -> Option<Problem> {
    let path = service
        .environment_file
        .as_ref()
        .filter(|path| !depends_on_instance(service, &path.to_string_lossy()))?;
    let failure = read_environment_file(path).err()?;
    let why = failure
        .message
        .clone()
        .unwrap_or_else(|| nix::errno::Errno::from_raw(failure.errno).desc().to_owned());
    let problem = Problem::warning(format!(
        "service `{}`: environment-file `{}` cannot be used: {why}",
        service.name,
        path.display()
    ))
    .help(
        "svinit reads it at each start of the service (--check reads it with your rights): \
         as it is now, the start would fail",
    );
    Some(located_at(
        problem,
        draft.location_of(Key::EnvironmentFile),
        "read at each start",
    ))
}

fn located_at(problem: Problem, at: Option<&Location>, label: impl Into<String>) -> Problem {
    match at {
        Some(at) => problem.label(at, label),
        None => problem,
    }
}

/// The plan printed by a successful check:
///
/// ```text
/// config OK: 4 services in 3 levels (from /etc/svinit)
/// level 0: db cache
/// level 1: app
/// level 2: web
/// ```
pub fn start_plan(config: &Config, source: &Path) -> String {
    let graph = Graph::new(config);
    let levels = graph.start_levels();
    let plural = |count: usize, word: &str| {
        if count == 1 {
            format!("1 {word}")
        } else {
            format!("{count} {word}s")
        }
    };
    let mut plan = format!(
        "config OK: {} in {} (from {})\n",
        plural(config.services.len(), "service"),
        plural(levels.len(), "level"),
        source.display()
    );
    for (depth, level) in levels.iter().enumerate() {
        let names: Vec<&str> = level.iter().map(|&service| graph.name(service)).collect();
        plan.push_str(&format!("level {depth}: {}\n", names.join(" ")));
    }
    plan
}

/// The config path when neither `-c PATH` nor `SVINIT_CONFIG` is given:
/// `/etc/svinit` for root, else `$XDG_CONFIG_HOME/svinit`, else
/// `~/.config/svinit`.
pub fn default_config_path() -> PathBuf {
    default_config_path_for(
        nix::unistd::geteuid().is_root(),
        std::env::var_os("XDG_CONFIG_HOME").map(PathBuf::from),
        home_dir(),
    )
}

/// `$HOME`, else the home directory of svinit's user in the user database.
pub fn home_dir() -> Option<PathBuf> {
    std::env::var_os("HOME").map(PathBuf::from).or_else(|| {
        nix::unistd::User::from_uid(nix::unistd::geteuid())
            .ok()
            .flatten()
            .map(|user| user.dir)
    })
}

/// The config path to use: `-c PATH` if given, else `SVINIT_CONFIG` if set
/// and not empty, else [`default_config_path`].
pub fn resolve_config_path(command_line: Option<PathBuf>) -> PathBuf {
    command_line
        .or_else(|| {
            std::env::var_os("SVINIT_CONFIG")
                .filter(|value| !value.is_empty())
                .map(PathBuf::from)
        })
        .unwrap_or_else(default_config_path)
}

fn default_config_path_for(
    is_root: bool,
    xdg_config_home: Option<PathBuf>,
    home: Option<PathBuf>,
) -> PathBuf {
    if is_root {
        return PathBuf::from("/etc/svinit");
    }
    // The XDG spec says a relative $XDG_CONFIG_HOME is invalid and ignored.
    if let Some(config_home) = xdg_config_home.filter(|dir| dir.is_absolute()) {
        return config_home.join("svinit");
    }
    match home {
        Some(home) => home.join(".config").join("svinit"),
        None => PathBuf::from("/etc/svinit"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::load::load_sources_located;
    use crate::config::load_sources;

    #[test]
    fn an_unknown_control_group_is_a_warning() {
        let located = load_sources_located(vec![(
            "a.kdl".into(),
            "control group=\"svadm\" read-group=\"monitr\"\nservice \"a\" { exec \"a\" }\n".into(),
        )])
        .unwrap();
        let messages = |users: &UserDb| -> Vec<String> {
            start_up_warnings(&located, users)
                .iter()
                .map(|w| w.message().to_owned())
                .collect()
        };
        let users = UserDb::from_text("", "svadm:x:900:\nmonitor:x:901:\n");
        assert_eq!(
            messages(&users),
            ["control read-group `monitr` is not in /etc/group; svinit would ignore it"]
        );
        let users = UserDb::from_text("", "svadm:x:900:\nmonitr:x:901:\n");
        assert!(messages(&users).is_empty());
    }

    #[test]
    fn unknown_ids_are_warnings_at_their_key_even_from_defaults() {
        let located = load_sources_located(vec![(
            "a.kdl".into(),
            "defaults { user \"ghost\" }\n\
             service \"a\" { exec \"a\"; groups \"wheel\" \"7\" 8 \"nope\" }\n\
             service \"b\" { exec \"b\"; user \"ann\"; group \"staff\" }\n"
                .into(),
        )])
        .unwrap();
        let users = UserDb::from_text("ann:x:1000:1000::/:/bin/sh\n", "wheel:x:10:\n");
        let warnings = start_up_warnings(&located, &users);
        let messages: Vec<&str> = warnings.iter().map(|w| w.message()).collect();
        assert_eq!(
            messages,
            [
                "service `a`: user `ghost` is not in /etc/passwd",
                "service `a`: group `nope` is not in /etc/group",
                "service `b`: group `staff` is not in /etc/group",
            ]
        );
        assert!(
            warnings
                .iter()
                .all(|w| w.severity() == miette::Severity::Warning)
        );
        // Where the key is written: `user` in `defaults` (line 1).
        assert_eq!(warnings[0].spans()[0].offset(), "defaults { ".len());
    }

    /// A template is checked in its instances' place while it has none,
    /// except for what each instance fills in (`%i`).
    #[test]
    fn templates_without_instances_are_checked_but_for_what_the_instance_fills_in() {
        let located = load_sources_located(vec![(
            "a.kdl".into(),
            "service \"idle@\" { exec \"a\"; user \"ghost\"; group \"%i\"; \
             environment-file \"/nonexistent/%i.env\" }\n\
             service \"bad-env@\" { exec \"a\"; environment-file \"/nonexistent/x.env\" }\n\
             service \"used@\" { exec \"a\"; user \"ghost\"; instances \"one\" }\n"
                .into(),
        )])
        .unwrap();
        let users = UserDb::from_text("", "");
        let messages: Vec<String> = start_up_warnings(&located, &users)
            .iter()
            .map(|w| w.message().to_owned())
            .collect();
        assert_eq!(
            messages,
            [
                "service `used@one`: user `ghost` is not in /etc/passwd",
                "service `idle@`: user `ghost` is not in /etc/passwd",
                "service `bad-env@`: environment-file `/nonexistent/x.env` cannot be used: \
                 No such file or directory",
            ]
        );
    }

    #[test]
    fn default_paths() {
        let home = Some(PathBuf::from("/home/ann"));
        let xdg = Some(PathBuf::from("/xdg"));
        assert_eq!(
            default_config_path_for(true, xdg.clone(), home.clone()),
            PathBuf::from("/etc/svinit")
        );
        assert_eq!(
            default_config_path_for(false, xdg, home.clone()),
            PathBuf::from("/xdg/svinit")
        );
        assert_eq!(
            default_config_path_for(false, Some(PathBuf::from("rel")), home.clone()),
            PathBuf::from("/home/ann/.config/svinit")
        );
        assert_eq!(
            default_config_path_for(false, None, home),
            PathBuf::from("/home/ann/.config/svinit")
        );
        assert_eq!(
            default_config_path_for(false, None, None),
            PathBuf::from("/etc/svinit")
        );
        assert_eq!(
            resolve_config_path(Some("/x.kdl".into())),
            PathBuf::from("/x.kdl")
        );
    }

    #[test]
    fn plan_lists_levels() {
        let config = load_sources(vec![(
            "a.kdl".into(),
            r#"
            service "web" { exec "web"; requires "app" }
            service "db" { exec "db" }
            service "app" { exec "app"; requires "db" "cache" }
            service "cache" { exec "cache" }
            "#
            .into(),
        )])
        .unwrap();
        assert_eq!(
            start_plan(&config, Path::new("/etc/svinit")),
            "config OK: 4 services in 3 levels (from /etc/svinit)\n\
             level 0: db cache\n\
             level 1: app\n\
             level 2: web\n"
        );
        let one = load_sources(vec![(
            "a.kdl".into(),
            "service \"x\" { exec \"x\" }".into(),
        )])
        .unwrap();
        assert_eq!(
            start_plan(&one, Path::new("a.kdl")),
            "config OK: 1 service in 1 level (from a.kdl)\nlevel 0: x\n"
        );
    }
}
