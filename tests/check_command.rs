//! `svinit --check` and `svctl check` as a user runs them: exit codes, the
//! plan on stdout, the diagnostics on stderr, `-c` and `SVINIT_CONFIG`.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn units(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("units")
        .join(name)
}

fn run(program: &str, args: &[&str], config_env: Option<&Path>) -> Output {
    let mut command = Command::new(program);
    command
        .args(args)
        .env_remove("SVINIT_CONFIG")
        .env("NO_COLOR", "1");
    if let Some(path) = config_env {
        command.env("SVINIT_CONFIG", path);
    }
    command.output().expect("the binary runs")
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

#[test]
fn svinit_check_prints_the_plan_of_a_valid_config() {
    let demo = units("demo");
    let output = run(
        env!("CARGO_BIN_EXE_svinit"),
        &["--check", "-c", demo.to_str().unwrap()],
        None,
    );
    assert_eq!(output.status.code(), Some(0), "{}", text(&output.stderr));
    let stdout = text(&output.stdout);
    assert_eq!(
        stdout,
        format!(
            "config OK: 9 services in 4 levels (from {})\n\
             level 0: setup cache clock ticker\n\
             level 1: db http\n\
             level 2: web fetch\n\
             level 3: report\n",
            demo.display()
        )
    );
    assert!(output.stderr.is_empty());
}

#[test]
fn svinit_check_prints_diagnostics_and_fails_on_an_invalid_config() {
    let dir = std::env::temp_dir().join(format!("svinit-check-cli-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("bad.kdl");
    std::fs::write(
        &file,
        "service \"web\" {\n    exec \"web\"\n    umsk 0o022\n}\n",
    )
    .unwrap();
    let output = run(env!("CARGO_BIN_EXE_svinit"), &["--check"], Some(&file));
    let _ = std::fs::remove_dir_all(&dir);
    assert_eq!(output.status.code(), Some(1));
    assert!(output.stdout.is_empty());
    let stderr = text(&output.stderr);
    assert!(stderr.contains("unknown key `umsk`"), "{stderr}");
    assert!(
        stderr.contains(&format!("[{}:3:5]", file.display())),
        "{stderr}"
    );
    assert!(stderr.contains("did you mean `umask`?"), "{stderr}");
    assert!(!stderr.contains('\u{1b}'), "no color when NO_COLOR is set");
}

#[test]
fn svctl_check_does_the_same() {
    let embedded = units("embedded");
    let output = run(
        env!("CARGO_BIN_EXE_svctl"),
        &["check", "-c", embedded.to_str().unwrap()],
        None,
    );
    assert_eq!(output.status.code(), Some(0), "{}", text(&output.stderr));
    assert!(text(&output.stdout).starts_with("config OK: 6 services in 4 levels"));

    let missing = embedded.join("no-such-file.kdl");
    let output = run(env!("CARGO_BIN_EXE_svctl"), &["check"], Some(&missing));
    assert_eq!(output.status.code(), Some(1));
    assert!(text(&output.stderr).contains("cannot read config"));
}

#[test]
fn bad_arguments_are_usage_errors() {
    let output = run(env!("CARGO_BIN_EXE_svinit"), &["--check", "-c"], None);
    assert_eq!(output.status.code(), Some(2));
    let output = run(
        env!("CARGO_BIN_EXE_svctl"),
        &["check", "--frobnicate"],
        None,
    );
    assert_eq!(output.status.code(), Some(2));
}
