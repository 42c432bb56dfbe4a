//! Daemon options (SPEC §3: user, group, groups, umask, directory,
//! environment, environment-file, clear-environment, limits, nice) and the
//! process setup of §4 (own session, stdin /dev/null), each observed from
//! inside the started process, which writes what it sees into a file.

use std::collections::BTreeSet;

use crate::harness::{DEADLINE, MARKER_VALUE, MARKER_VAR, Svinit, TempDir};

/// Runs a oneshot service with `options` (KDL lines, `$DIR` expanded) whose
/// `script` writes to stdout; returns what it wrote. The output reaches the
/// test through `DIR/out`, renamed into place once complete.
fn observe(tag: &str, options: &str, script: &str) -> String {
    let dir = TempDir::new(tag);
    observe_in(&dir, options, script)
}

fn observe_in(dir: &TempDir, options: &str, script: &str) -> String {
    let shell = format!("{{ {script}; }} > $DIR/out.tmp && mv $DIR/out.tmp $DIR/out");
    dir.write(
        "conf/probe.kdl",
        &format!(
            "service \"probe\" {{\n    type \"oneshot\"\n{options}\n    shell {}\n}}\n",
            kdl_string(&shell)
        ),
    );
    let sv = Svinit::container(dir);
    sv.wait_file(dir, "out", DEADLINE);
    dir.read("out").unwrap_or_default()
}

/// A KDL v2 raw string holding `s` (which must not contain `"#`).
fn kdl_string(s: &str) -> String {
    assert!(!s.contains("\"#"));
    format!("#\"{s}\"#")
}

/// The gid of group `name` from /etc/group.
fn gid_of(name: &str) -> u32 {
    let groups = std::fs::read_to_string("/etc/group").expect("read /etc/group");
    groups
        .lines()
        .find_map(|l| {
            let f: Vec<&str> = l.split(':').collect();
            (f.len() >= 3 && f[0] == name).then(|| f[2].parse().ok())?
        })
        .unwrap_or_else(|| panic!("group {name} not in /etc/group"))
}

fn words(s: &str) -> Vec<String> {
    s.split_whitespace().map(str::to_string).collect()
}

#[test]
fn user_nobody_gets_its_uid_and_groups_from_etc_passwd() {
    let out = observe(
        "user",
        "    user \"nobody\"",
        "id -u; id -g; id -G | tr ' ' '\\n' | sort -un | tr '\\n' ' '",
    );
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines.first().copied(), Some("65534"), "id -u: {out:?}");
    assert_eq!(lines.get(1).copied(), Some("65534"), "id -g: {out:?}");
    // nobody is in no group but its own (nogroup) here: no root group left.
    assert_eq!(
        lines.get(2).map(|l| words(l)),
        Some(vec!["65534".to_string()]),
        "id -G: supplementary groups must be nobody's, not root's: {out:?}"
    );
}

#[test]
fn group_and_groups_override_the_users_groups() {
    let out = observe(
        "groups",
        "    user \"nobody\"\n    group \"daemon\"\n    groups \"adm\" \"tty\"",
        "id -u; id -g; id -G",
    );
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines.first().copied(), Some("65534"), "id -u: {out:?}");
    assert_eq!(
        lines.get(1).and_then(|l| l.parse().ok()),
        Some(gid_of("daemon")),
        "id -g: {out:?}"
    );
    let seen: BTreeSet<u32> = lines
        .get(2)
        .map(|l| {
            l.split_whitespace()
                .filter_map(|w| w.parse().ok())
                .collect()
        })
        .unwrap_or_default();
    let want: BTreeSet<u32> = [gid_of("daemon"), gid_of("adm"), gid_of("tty")].into();
    assert_eq!(seen, want, "id -G: {out:?}");
}

#[test]
fn umask_is_applied() {
    let out = observe("umask", "    umask 0o027", "umask");
    assert_eq!(out.trim(), "0027");
}

#[test]
fn umask_as_a_string_is_octal() {
    let out = observe("umask-str", "    umask \"077\"", "umask");
    assert_eq!(out.trim(), "0077");
}

#[test]
fn directory_is_the_working_directory() {
    let dir = TempDir::new("directory");
    std::fs::create_dir(dir.join("work")).expect("mkdir work");
    let out = observe_in(&dir, "    directory \"$DIR/work\"", "pwd");
    assert_eq!(out.trim(), dir.join("work").to_string_lossy());
}

#[test]
fn environment_adds_to_the_inherited_environment() {
    let out = observe(
        "environment",
        "    environment {\n        FOO \"bar\"\n        GREETING \"hello world\"\n    }",
        &format!("echo \"$FOO|$GREETING|${MARKER_VAR}\""),
    );
    assert_eq!(out.trim(), format!("bar|hello world|{MARKER_VALUE}"));
}

#[test]
fn environment_overrides_an_inherited_variable() {
    let out = observe(
        "env-override",
        &format!("    environment {{\n        {MARKER_VAR} \"overridden\"\n    }}"),
        &format!("echo \"${MARKER_VAR}\""),
    );
    assert_eq!(out.trim(), "overridden");
}

#[test]
fn environment_file_is_read_with_comments() {
    let dir = TempDir::new("env-file");
    dir.write(
        "vars.env",
        "# a comment\nALPHA=one\n\n# BETA=commented\nGAMMA=three=3\n",
    );
    let out = observe_in(
        &dir,
        "    environment-file \"$DIR/vars.env\"",
        "echo \"$ALPHA|${BETA-unset}|$GAMMA\"",
    );
    assert_eq!(out.trim(), "one|unset|three=3");
}

#[test]
fn clear_environment_leaves_only_path_and_what_is_given() {
    let out = observe(
        "clear-env",
        "    clear-environment #true\n    environment {\n        ONLY \"x\"\n    }",
        "env",
    );
    let names: BTreeSet<&str> = out
        .lines()
        .filter_map(|l| l.split_once('=').map(|(k, _)| k))
        .collect();
    assert!(
        names.contains("PATH")
            && out
                .lines()
                .any(|l| l.len() > "PATH=".len() && l.starts_with("PATH=")),
        "PATH must be set: {out}"
    );
    assert!(
        out.lines().any(|l| l == "ONLY=x"),
        "ONLY=x must be set: {out}"
    );
    // dash exports PWD itself; nothing else may come from svinit's environment.
    let extra: Vec<&&str> = names
        .iter()
        .filter(|n| !["PATH", "ONLY", "PWD"].contains(n))
        .collect();
    assert!(extra.is_empty(), "unexpected variables {extra:?} in: {out}");
}

#[test]
fn limits_set_soft_and_hard_rlimits() {
    let out = observe(
        "limits",
        "    limits {\n        nofile 1234\n    }",
        "ulimit -Sn; ulimit -Hn",
    );
    assert_eq!(words(&out), ["1234", "1234"], "soft and hard nofile");
}

#[test]
fn nice_is_applied() {
    // Field 19 of /proc/self/stat is the nice value (of `cut`, inherited).
    let out = observe("nice", "    nice 5", "cut -d' ' -f19 /proc/self/stat");
    assert_eq!(out.trim(), "5");
}

#[test]
fn a_service_runs_in_its_own_session_with_stdin_from_dev_null() {
    let out = observe(
        "session",
        "",
        "echo $$; cut -d' ' -f5,6 /proc/$$/stat; readlink /proc/$$/fd/0",
    );
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines.len(), 3, "{out:?}");
    let pid = lines[0];
    assert_eq!(
        words(lines[1]),
        [pid, pid],
        "process group and session must be the service's own pid: {out:?}"
    );
    assert_eq!(lines[2], "/dev/null", "stdin: {out:?}");
}

#[test]
fn exec_finds_the_program_on_path_and_passes_arguments_verbatim() {
    let dir = TempDir::new("exec-path");
    dir.write(
        "conf/probe.kdl",
        "service \"probe\" {\n    type \"oneshot\"\n    exec \"touch\" \"$DIR/with space\" \"$DIR/$HOME\"\n}\n",
    );
    let sv = Svinit::container(&dir);
    sv.wait_state("probe", "done", DEADLINE);
    // No shell: one argument with a space, no variable expansion.
    if !dir.exists("with space") || !dir.exists("$HOME") {
        sv.fail("exec must run `touch` from PATH with its arguments untouched");
    }
}

/// svinit raises its own soft open-files limit to the hard one (it keeps
/// descriptors per service); services and the main command keep the limit
/// svinit was started with, unless they set `limits nofile`.
#[test]
fn svinit_raises_its_own_open_files_limit_and_services_keep_theirs() {
    let dir = TempDir::new("nofile");
    dir.write(
        "conf/units.kdl",
        &dir.expand(
            r#"
service "own-limit" {
    type "oneshot"
    limits {
        nofile 700 900
    }
    shell "ulimit -n > $DIR/own.tmp && ulimit -Hn >> $DIR/own.tmp && mv $DIR/own.tmp $DIR/own"
}
"#,
        ),
    );
    let conf = dir.join("conf").to_string_lossy().into_owned();
    let main = "echo main $(ulimit -n) $(ulimit -Hn); grep 'Max open files' /proc/$PPID/limits";
    let output = std::process::Command::new("prlimit")
        .args(["--nofile=512:8192", "--"])
        .arg(crate::harness::svinit_bin())
        .args(["-q", "-c", &conf, "-s"])
        .arg(dir.join("control.sock"))
        .args(["--", "sh", "-c", main])
        .output()
        .unwrap_or_else(|e| panic!("run prlimit svinit: {e}"));
    let text = String::from_utf8_lossy(&output.stdout);
    assert!(output.status.success(), "{text}");
    assert!(text.contains("main 512 8192"), "main command: {text}");
    let svinit_line = text
        .lines()
        .find(|l| l.starts_with("Max open files"))
        .unwrap_or_else(|| panic!("no limits line: {text}"));
    let numbers: Vec<&str> = svinit_line.split_whitespace().skip(3).take(2).collect();
    assert_eq!(
        numbers,
        ["8192", "8192"],
        "svinit's own limit: {svinit_line}"
    );
    assert_eq!(dir.lines("own"), ["700", "900"], "a service's own limit");
}
