//! `svinit --check` / `svctl check`: load a config, print its diagnostics
//! or its start plan; and where the config is by default (SPEC §1).

use std::io::{IsTerminal, Write};
use std::path::{Path, PathBuf};

use super::load::load_path;
use super::model::{Config, IdRef};
use crate::graph::Graph;
use crate::users::UserDb;

/// Check the config at `path`. Prints the diagnostics to stderr and
/// returns 1, or prints the start plan to stdout and returns 0.
pub fn check_command(path: &Path) -> i32 {
    match load_path(path) {
        Ok(config) => {
            let mut stdout = std::io::stdout().lock();
            // A closed stdout (`svinit --check | head -1`) is not an error of the config.
            let _ = stdout.write_all(start_plan(&config, path).as_bytes());
            let mut stderr = std::io::stderr().lock();
            for warning in control_group_warnings(&config, &UserDb::load()) {
                let _ = writeln!(stderr, "warning: {warning}");
            }
            0
        }
        Err(error) => {
            let color = std::io::stderr().is_terminal() && std::env::var_os("NO_COLOR").is_none();
            let mut stderr = std::io::stderr().lock();
            let _ = writeln!(stderr, "{}", error.render(color).trim_end());
            1
        }
    }
}

/// `control group=`/`read-group=` names that /etc/group does not have:
/// svinit ignores them (the socket stays closed to that group), which
/// `--check` says before the operator finds out by an EACCES. A warning,
/// not an error: the config may be checked on another machine.
pub fn control_group_warnings(config: &Config, users: &UserDb) -> Vec<String> {
    [
        ("group", &config.control.group),
        ("read-group", &config.control.read_group),
    ]
    .into_iter()
    .filter_map(|(key, id)| match id {
        Some(IdRef::Name(name)) if users.group_by_name(name).is_none() => Some(format!(
            "control {key} `{name}` is not in /etc/group; svinit would ignore it"
        )),
        _ => None,
    })
    .collect()
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
    let home = std::env::var_os("HOME").map(PathBuf::from).or_else(|| {
        nix::unistd::User::from_uid(nix::unistd::geteuid())
            .ok()
            .flatten()
            .map(|user| user.dir)
    });
    default_config_path_for(
        nix::unistd::geteuid().is_root(),
        std::env::var_os("XDG_CONFIG_HOME").map(PathBuf::from),
        home,
    )
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
    use crate::config::load_sources;

    #[test]
    fn an_unknown_control_group_is_a_warning() {
        let config = load_sources(vec![(
            "a.kdl".into(),
            "control group=\"svadm\" read-group=\"monitr\"\nservice \"a\" { exec \"a\" }\n".into(),
        )])
        .unwrap();
        let users = UserDb::from_text("", "svadm:x:900:\nmonitor:x:901:\n");
        assert_eq!(
            control_group_warnings(&config, &users),
            ["control read-group `monitr` is not in /etc/group; svinit would ignore it"]
        );
        let users = UserDb::from_text("", "svadm:x:900:\nmonitr:x:901:\n");
        assert!(control_group_warnings(&config, &users).is_empty());
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
