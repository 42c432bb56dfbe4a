//! `svinit --check` (SPEC §2, §3): the start plan of a valid config (one
//! line per level of services that start together, exit 0); the
//! diagnostics of an invalid one (file and line of every error, exit 1);
//! and an invalid config at start in container mode (exit 1).

use std::time::Duration;

use crate::harness::{Svinit, TempDir, run_svinit};

const CHECK_TIMEOUT: Duration = Duration::from_secs(10);

/// `svinit --check -c DIR/rel`: its exit status and output.
fn check(dir: &TempDir, rel: &str) -> (std::process::ExitStatus, String) {
    let path = dir.join(rel);
    run_svinit(
        dir,
        &["--check", "-c", &path.to_string_lossy()],
        CHECK_TIMEOUT,
    )
}

/// The index of the first line of `out` that has `name` as a whole word.
fn line_of(out: &str, name: &str) -> Option<usize> {
    out.lines().position(|l| {
        l.split(|c: char| !(c.is_alphanumeric() || c == '-' || c == '_'))
            .any(|w| w == name)
    })
}

#[test]
fn check_prints_the_start_plan_level_by_level() {
    let dir = TempDir::new("check-ok");
    dir.write(
        "conf/10-base.kdl",
        "service \"alpha\" {\n    shell \"touch $DIR/started\"\n}\n",
    );
    dir.write(
        "conf/20-rest.kdl",
        r#"
service "beta" {
    requires "alpha"
    exec "/bin/true"
}
service "gamma" {
    wants "alpha"
    exec "/bin/true"
}
service "delta" {
    requires "beta" "gamma"
    shell "touch $DIR/started"
}
"#,
    );
    let (status, out) = check(&dir, "conf");
    assert_eq!(
        status.code(),
        Some(0),
        "exit status of --check; output:\n{out}"
    );
    let lines: Vec<Option<usize>> = ["alpha", "beta", "gamma", "delta"]
        .iter()
        .map(|n| line_of(&out, n))
        .collect();
    let [Some(alpha), Some(beta), Some(gamma), Some(delta)] = lines[..] else {
        panic!("every service must appear in the plan: {lines:?}\n{out}");
    };
    assert!(alpha < beta, "alpha's level before beta's:\n{out}");
    assert_eq!(
        beta, gamma,
        "beta and gamma start together (one line):\n{out}"
    );
    assert!(gamma < delta, "delta's level after beta and gamma:\n{out}");
    // --check does not start anything.
    assert!(!dir.exists("started"), "--check must not start services");
}

#[test]
fn check_reports_every_error_with_file_and_line() {
    let dir = TempDir::new("check-bad");
    dir.write(
        "conf/good.kdl",
        "service \"fine\" {\n    exec \"/bin/true\"\n}\n",
    );
    // Line 3: unknown key; line 7: unknown dependency.
    dir.write(
        "conf/broken.kdl",
        "service \"one\" {\n    exec \"/bin/true\"\n    umsk 0o022\n}\nservice \"two\" {\n    exec \"/bin/true\"\n    requires \"nosuch\"\n}\n",
    );
    let (status, out) = check(&dir, "conf");
    assert_eq!(
        status.code(),
        Some(1),
        "exit status of --check; output:\n{out}"
    );
    assert!(out.contains("broken.kdl"), "the file must be named:\n{out}");
    for line in [3, 7] {
        assert!(
            out.contains(&format!("broken.kdl:{line}:")),
            "the error on line {line} must be located as broken.kdl:{line}:COL:\n{out}"
        );
    }
    assert!(
        out.contains("nosuch"),
        "the unknown dependency must be named:\n{out}"
    );
}

#[test]
fn check_suggests_the_key_that_was_meant() {
    let dir = TempDir::new("check-suggest");
    dir.write(
        "bad.kdl",
        "service \"one\" {\n    exec \"/bin/true\"\n    umsk 0o022\n}\n",
    );
    let (status, out) = check(&dir, "bad.kdl");
    assert_eq!(status.code(), Some(1), "output:\n{out}");
    assert!(out.contains("umsk"), "the bad key must be quoted:\n{out}");
    assert!(
        out.contains("umask"),
        "a suggestion (did you mean `umask`?):\n{out}"
    );
}

#[test]
fn check_reports_a_dependency_cycle() {
    let dir = TempDir::new("check-cycle");
    dir.write(
        "cycle.kdl",
        "service \"x\" {\n    exec \"/bin/true\"\n    requires \"y\"\n}\nservice \"y\" {\n    exec \"/bin/true\"\n    requires \"x\"\n}\n",
    );
    let (status, out) = check(&dir, "cycle.kdl");
    assert_eq!(status.code(), Some(1), "output:\n{out}");
    assert!(
        out.to_lowercase().contains("cycle"),
        "the cycle must be called one:\n{out}"
    );
    assert!(out.contains("cycle.kdl"), "the file must be named:\n{out}");
    // Both edges are shown with their line numbers (one snippet may hold
    // both: `3 │     requires "y"` … `7 │     requires "x"`).
    for (line, edge) in [(3, "requires \"y\""), (7, "requires \"x\"")] {
        let shown = out.lines().any(|l| {
            let l = l.trim_start();
            l.strip_prefix(&line.to_string())
                .is_some_and(|rest| rest.starts_with([' ', '|', '│']) && rest.contains(edge))
        });
        assert!(
            shown,
            "the edge on line {line} ({edge}) must be shown:\n{out}"
        );
    }
}

#[test]
fn invalid_config_at_start_in_container_mode_exits_1() {
    let dir = TempDir::new("start-bad");
    dir.write(
        "conf/broken.kdl",
        "service \"one\" {\n    exec \"/bin/true\"\n    umsk 0o022\n}\n",
    );
    let sv = Svinit::container(&dir);
    let status = sv.wait_exit(Duration::from_secs(10));
    if status.code() != Some(1) {
        sv.fail(&format!("svinit exited with {status}, want 1"));
    }
    let log = sv.log();
    if !log.contains("broken.kdl") || !log.contains("umsk") {
        sv.fail("the diagnostics (file, bad key) must be on stderr");
    }
}

#[test]
fn invalid_config_at_start_in_user_mode_exits_1() {
    let dir = TempDir::new("start-bad-user");
    dir.write(
        "conf/broken.kdl",
        "service \"one\" {\n    exec \"/bin/true\"\n    requires \"nosuch\"\n}\n",
    );
    let sv = Svinit::user(&dir);
    let status = sv.wait_exit(Duration::from_secs(10));
    if status.code() != Some(1) {
        sv.fail(&format!("svinit exited with {status}, want 1"));
    }
    let log = sv.log();
    if !log.contains("broken.kdl") || !log.contains("nosuch") {
        sv.fail("the diagnostics (file, unknown dependency) must be on stderr");
    }
}

/// The first line of `out` that is only a severity (`Error: `), which
/// reads as an empty error before each diagnostic.
fn bare_severity_line(out: &str) -> Option<&str> {
    out.lines()
        .find(|line| matches!(line.trim(), "Error:" | "Warning:" | "Advice:"))
}

#[test]
fn no_diagnostic_is_preceded_by_an_empty_error_line() {
    let dir = TempDir::new("check-bare");
    dir.write(
        "conf/a.kdl",
        "service \"one\" {\n    exec \"/bin/true\"\n    umsk 0o022\n    requires \"two\"\n}\n",
    );
    dir.write(
        "conf/b.kdl",
        "service \"two\" {\n    exec \"/bin/true\"\n    requires \"one\"\n}\n",
    );
    let (status, out) = check(&dir, "conf");
    assert_eq!(status.code(), Some(1), "output:\n{out}");
    assert_eq!(bare_severity_line(&out), None, "--check:\n{out}");
    let sv = Svinit::user(&dir);
    let status = sv.wait_exit(Duration::from_secs(10));
    let log = sv.log();
    if status.code() != Some(1) || !log.contains("umsk") {
        sv.fail(&format!(
            "svinit exited with {status}, want 1 with the diagnostics"
        ));
    }
    if let Some(line) = bare_severity_line(&log) {
        sv.fail(&format!("a bare {line:?} line at start-up"));
    }
}

/// What spawn would refuse at start-up but the config language cannot
/// know (names missing from /etc/passwd and /etc/group, an
/// environment-file that cannot be read as one) is a warning of
/// `--check`: exit 0 with the plan, each warning naming the service, the
/// value and where it is written. What spawn accepts is not warned about.
#[test]
fn check_warns_about_unknown_users_groups_and_unreadable_environment_files() {
    let dir = TempDir::new("check-warn");
    dir.write("good.env", "# comment\nexport A=1\nB='two'\n");
    dir.write("bad.env", "not an assignment\n");
    std::fs::create_dir_all(dir.join("dir.env")).expect("mkdir");
    dir.write(
        "conf/a.kdl",
        &dir.expand(
            r#"service "fine" {
    exec "/bin/true"
    user "nobody"
    group "nogroup"
    groups "root" 4242
    environment-file "$DIR/good.env"
}
service "numeric" {
    exec "/bin/true"
    user 4242
    group "4243"
}
service "u" {
    exec "/bin/true"
    user "svit-no-such-user"
}
service "g" {
    exec "/bin/true"
    user "nobody"
    group "svit-no-such-group"
}
service "gs" {
    exec "/bin/true"
    groups "root" "svit-no-such-extra"
}
service "missing" {
    exec "/bin/true"
    environment-file "$DIR/missing.env"
}
service "unparsable" {
    exec "/bin/true"
    environment-file "$DIR/bad.env"
}
service "directory" {
    exec "/bin/true"
    environment-file "$DIR/dir.env"
}
"#,
        ),
    );
    let (status, out) = check(&dir, "conf/a.kdl");
    assert_eq!(
        status.code(),
        Some(0),
        "warnings do not fail --check:\n{out}"
    );
    assert!(out.contains("config OK: 8 services"), "the plan:\n{out}");
    for (service, value, line) in [
        ("u", "svit-no-such-user", 15),
        ("g", "svit-no-such-group", 20),
        ("gs", "svit-no-such-extra", 24),
        ("missing", "missing.env", 28),
        ("unparsable", "bad.env", 32),
        ("directory", "dir.env", 36),
    ] {
        let warning = out
            .lines()
            .find(|l| l.contains(&format!("`{service}`")) && l.contains(value))
            .unwrap_or_else(|| panic!("no warning naming `{service}` and {value}:\n{out}"));
        assert!(
            warning.to_lowercase().contains("warning") || warning.contains('⚠'),
            "{warning}"
        );
        assert!(
            out.contains(&format!("a.kdl:{line}:")),
            "the warning about `{service}` points at line {line}:\n{out}"
        );
    }
    for quiet in ["`fine`", "`numeric`", "4242", "4243", "good.env"] {
        assert!(
            !out.lines().any(|l| l.contains(quiet) && !l.contains('│')),
            "{quiet} is accepted at start-up: no warning:\n{out}"
        );
    }
}

/// `svctl tree` of a running svinit and `svinit --check` of the same config
/// read one dependency model: the tree draws exactly the edges the config
/// declares (a name given twice once, `before` as the other's `after`),
/// each to a service of a lower level of the plan, and both know every
/// service.
#[test]
fn the_tree_of_a_running_svinit_agrees_with_the_check_plan() {
    let dir = TempDir::new("check-tree");
    dir.write(
        "conf/units.kdl",
        r#"
service "web" { exec "sleep" "1000"; requires "app" "app"; after "log"; }
service "app" { exec "sleep" "1000"; requires "db"; wants "cache"; after "db"; }
service "db" { exec "sleep" "1000"; before "cache"; }
service "cache" { exec "sleep" "1000"; }
service "log" { exec "sleep" "1000"; before "db" "app"; }
service "lone" { exec "sleep" "1000"; }
"#,
    );
    let (status, plan) = check(&dir, "conf");
    assert_eq!(status.code(), Some(0), "--check:\n{plan}");
    let mut level_of = std::collections::HashMap::new();
    for line in plan.lines().filter(|l| l.starts_with("level ")) {
        let (level, names) = line.split_once(": ").expect("level N: NAMES");
        let level: usize = level["level ".len()..].parse().expect("a level number");
        for name in names.split(' ') {
            level_of.insert(name.to_string(), level);
        }
    }

    let sv = crate::control::container(&dir);
    crate::control::wait_for_socket(&sv, &dir);
    let run = crate::control::expect(&sv, &dir, &["tree", "--dot"], 0);
    let mut edges: Vec<String> = run
        .stdout
        .lines()
        .filter(|line| line.contains(" -> "))
        .map(|line| line.trim().replace('"', ""))
        .collect();
    edges.sort();
    let want = [
        "app -> cache [style=dashed];",
        "app -> db [style=dotted];",
        "app -> db;",
        "app -> log [style=dotted];",
        "cache -> db [style=dotted];",
        "db -> log [style=dotted];",
        "web -> app;",
        "web -> log [style=dotted];",
    ];
    assert_eq!(edges, want, "svctl tree --dot:\n{run}\n--check:\n{plan}");
    for edge in &edges {
        let (later, rest) = edge.split_once(" -> ").expect("an edge");
        let earlier = rest
            .trim_end_matches(';')
            .split(' ')
            .next()
            .expect("a name");
        assert!(
            level_of[later] > level_of[earlier],
            "{edge}: not in the plan's order\n{plan}"
        );
    }
    let mut in_tree: Vec<&str> = run
        .stdout
        .lines()
        .filter(|line| line.contains("[label="))
        .filter_map(|line| line.trim().split('"').nth(1))
        .collect();
    let mut in_plan: Vec<&str> = level_of.keys().map(String::as_str).collect();
    in_tree.sort_unstable();
    in_plan.sort_unstable();
    assert_eq!(in_tree, in_plan, "{run}\n{plan}");
}
