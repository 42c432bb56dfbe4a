//! `svinit` invocation (SPEC §2): the mode flags. `--system` and
//! `--container`, `-v` and `-q` exclude each other (usage error, exit 2),
//! and `--system` is refused (exit 2) when svinit is not PID 1: system
//! mode mounts filesystems and ends in `reboot(2)`.

use std::process::{Command, Stdio};
use std::time::Duration;

use crate::harness::{TempDir, run_svinit, svinit_bin};

const RUN_TIMEOUT: Duration = Duration::from_secs(10);

fn config(dir: &TempDir) -> String {
    dir.write(
        "conf/a.kdl",
        "service \"a\" {\n    exec \"sleep\" \"1000\"\n}\n",
    );
    dir.join("conf").to_string_lossy().into_owned()
}

#[test]
fn system_mode_is_refused_when_not_pid_1() {
    let dir = TempDir::new("cli-system");
    let conf = config(&dir);
    // svinit as pid 2 of its own PID and mount namespaces: should the
    // refusal ever regress, its mounts and reboot(2) stay in there.
    let out = Command::new("unshare")
        .args(["--pid", "--fork", "--mount-proc", "--kill-child"])
        .args([
            "/bin/sh",
            "-c",
            "timeout -s KILL 10 \"$0\" \"$@\"; echo \"rc=$?\"",
        ])
        .arg(svinit_bin())
        .args(["--system", "-c", &conf, "-s"])
        .arg(dir.join("control.sock"))
        .stdin(Stdio::null())
        .output()
        .expect("run unshare");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(
        stdout.trim(),
        "rc=2",
        "svinit --system as pid 2; stderr:\n{stderr}"
    );
    assert!(
        stderr.contains("--system needs svinit to be PID 1"),
        "the refusal says why:\n{stderr}"
    );
}

#[test]
fn exclusive_flags_are_usage_errors() {
    let dir = TempDir::new("cli-exclusive");
    let conf = config(&dir);
    for flags in [["--system", "--container"], ["-v", "-q"]] {
        let mut args = flags.to_vec();
        args.extend(["--check", "-c", &conf]);
        let (status, out) = run_svinit(&dir, &args, RUN_TIMEOUT);
        assert_eq!(status.code(), Some(2), "{flags:?}; output:\n{out}");
        assert!(out.contains("exclude each other"), "{flags:?}:\n{out}");
    }
    // Repeating the same flag is fine.
    let (status, out) = run_svinit(&dir, &["-v", "-v", "--check", "-c", &conf], RUN_TIMEOUT);
    assert_eq!(status.code(), Some(0), "-v -v; output:\n{out}");
}
