//! Shell completions (completions/): bash and fish complete svctl's
//! commands, options, signals and the names of the services of a running
//! svinit (instances of templates included, templates not); the zsh
//! function is at least valid zsh.

use std::path::Path;
use std::process::Command;

use crate::harness::{DEADLINE, Svinit, TempDir};

const UNITS: &str = r#"
service "web" {
    exec "sleep" "1000"
}
service "worker" {
    exec "sleep" "1000"
}
service "db" {
    exec "sleep" "1000"
}
service "getty@" {
    exec "sleep" "1000"
    instances "tty1"
}
"#;

fn completions(file: &str) -> String {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("completions")
        .join(file)
        .to_string_lossy()
        .into_owned()
}

/// PATH with the svctl under test first.
fn path_with_svctl() -> String {
    let svctl = Path::new(env!("CARGO_BIN_EXE_svctl"));
    let dir = svctl.parent().map(|d| d.to_string_lossy().into_owned());
    format!(
        "{}:{}",
        dir.unwrap_or_default(),
        std::env::var("PATH").unwrap_or_default()
    )
}

/// Runs `shell -c script`; `None` (and a loud skip) when the shell is
/// missing outside CI, which installs it.
fn run_shell(shell: &str, script: &str) -> Option<String> {
    let output = match Command::new(shell)
        .arg("-c")
        .arg(script)
        .env("PATH", path_with_svctl())
        .output()
    {
        Ok(output) => output,
        Err(err) if err.kind() == std::io::ErrorKind::NotFound => {
            assert!(
                std::env::var_os("CI").is_none(),
                "{shell} is missing (.ci/run installs it)"
            );
            eprintln!("SKIPPED: {shell} is not installed");
            return None;
        }
        Err(err) => panic!("run {shell}: {err}"),
    };
    assert!(
        output.status.success(),
        "{shell} -c {script:?}: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    Some(String::from_utf8_lossy(&output.stdout).into_owned())
}

fn sorted_words(text: &str) -> Vec<String> {
    let mut words: Vec<String> = text
        .lines()
        .filter_map(|line| line.split('\t').next())
        .filter(|word| !word.is_empty())
        .map(str::to_string)
        .collect();
    words.sort();
    words
}

fn running_svinit(tag: &str) -> (TempDir, Svinit, String) {
    let dir = TempDir::new(tag);
    dir.write("conf/units.kdl", UNITS);
    let sv = Svinit::container(&dir);
    sv.wait_state("db", "up", DEADLINE);
    let socket = dir.join("control.sock").to_string_lossy().into_owned();
    (dir, sv, socket)
}

/// What bash's completion function offers for the words of `line` (the
/// last one being completed).
fn bash_complete(line: &str) -> Option<Vec<String>> {
    let words: Vec<&str> = line.split(' ').collect();
    let script = format!(
        "source {}; COMP_WORDS=({}); COMP_CWORD={}; _svctl; printf '%s\\n' \"${{COMPREPLY[@]}}\"",
        completions("svctl.bash"),
        words
            .iter()
            .map(|w| format!("'{w}'"))
            .collect::<Vec<_>>()
            .join(" "),
        words.len() - 1
    );
    run_shell("bash", &script).map(|out| sorted_words(&out))
}

#[test]
fn bash_completes_commands_options_signals_and_service_names() {
    let (_dir, _sv, socket) = running_svinit("compl-bash");
    let cases: &[(String, &[&str])] = &[
        (
            "svctl re".into(),
            &["reboot", "reload", "reopen", "restart"],
        ),
        (format!("svctl -s {socket} status w"), &["web", "worker"]),
        (
            format!("svctl -s {socket} restart "),
            &["db", "getty@tty1", "web", "worker"],
        ),
        (format!("svctl -s {socket} stop g"), &["getty@tty1"]),
        (format!("svctl -s {socket} status --j"), &["--json"]),
        (format!("svctl -s {socket} kill web HU"), &["HUP"]),
        (format!("svctl -s {socket} reload --"), &["--dry-run"]),
        (
            format!("svctl -s {socket} restart --"),
            &["--all", "--no-wait", "--timeout"],
        ),
        (format!("svctl -s {socket} kill --"), &["--group"]),
        (format!("svctl -s {socket} kill --group web HU"), &["HUP"]),
        (format!("svctl -s {socket} logs web w"), &["web", "worker"]),
        // svinit not reachable: no names, no error.
        ("svctl -s /nonexistent/sock status ".into(), &[]),
    ];
    for (line, expected) in cases {
        let Some(offered) = bash_complete(line) else {
            return;
        };
        assert_eq!(offered, *expected, "bash completion of {line:?}");
    }
}

#[test]
fn fish_completes_commands_and_service_names() {
    let (_dir, _sv, socket) = running_svinit("compl-fish");
    let cases: &[(String, &[&str])] = &[
        ("svctl rel".into(), &["reload"]),
        (format!("svctl -s {socket} logs w"), &["web", "worker"]),
        (format!("svctl -s {socket} stop g"), &["getty@tty1"]),
        (format!("svctl -s {socket} events --s"), &["--since"]),
        (format!("svctl -s {socket} stop --a"), &["--all"]),
        (format!("svctl -s {socket} kill --g"), &["--group"]),
        (format!("svctl -s {socket} logs web w"), &["web", "worker"]),
    ];
    for (line, expected) in cases {
        let script = format!("source {}; complete -C '{line}'", completions("svctl.fish"));
        let Some(out) = run_shell("fish", &script) else {
            return;
        };
        assert_eq!(sorted_words(&out), *expected, "fish completion of {line:?}");
    }
}

#[test]
fn the_zsh_completion_is_valid_zsh() {
    let Some(_) = run_shell("zsh", &format!("zsh -n {}", completions("_svctl"))) else {
        return;
    };
}
