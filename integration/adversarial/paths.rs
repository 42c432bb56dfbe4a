//! Paths a service controls: fifos, symlinks, lying pid files.
//!
//! SPEC §7 "Paths a service could control" and "Pids": a pid file or an
//! environment-file that is a fifo, a symlink or a device; a transcript a
//! service swaps for a symlink to a root-owned file, caught on every kind
//! of reopen; a pid file naming another service's process; a transcript
//! on a full disk that must come back by itself.

use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::Path;
use std::process::Command;
use std::time::Duration;

use nix::sys::signal::Signal;
use nix::sys::stat::{Mode, SFlag, makedev, mknod};
use serde_json::Value;

use crate::control::{container, status_json, svctl, wait_for_socket};
use crate::harness::{DEADLINE, Svinit, TempDir, voluntary_switches, wait_log_settled};
use crate::output::Tmpfs;

/// Makes each line of the counting services 60 bytes or so.
const PADDING: &str = "0123456789012345678901234567890123456789012345";

/// uid and gid of `nobody`, the unprivileged user the attacks run as.
fn nobody() -> (u32, u32) {
    let id = |flag: &str| -> u32 {
        let out = Command::new("id")
            .args([flag, "nobody"])
            .output()
            .expect("run id");
        String::from_utf8_lossy(&out.stdout)
            .trim()
            .parse()
            .expect("id of nobody")
    };
    (id("-u"), id("-g"))
}

/// A directory owned by `nobody` (mode 0755): its user may replace
/// anything in it, as a service may in its own log or run directory.
fn nobody_dir(dir: &TempDir, rel: &str) {
    let path = dir.join(rel);
    std::fs::create_dir_all(&path).expect("mkdir");
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).expect("chmod");
    let (uid, gid) = nobody();
    std::os::unix::fs::chown(&path, Some(uid), Some(gid)).expect("chown to nobody");
}

/// A root-owned file (0644) holding `text`: what an attack wants to write to.
fn root_file(dir: &TempDir, rel: &str, text: &str) {
    let path = dir.write(rel, text);
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).expect("chmod");
    let meta = std::fs::metadata(&path).expect("stat");
    assert_eq!(meta.uid(), 0, "the tests run as root");
}

fn json_str(value: &Value, key: &str) -> String {
    value[key].as_str().unwrap_or_default().to_string()
}

/// Waits until `name` is in `state` (by `svctl status --json`); its status.
#[track_caller]
fn wait_status(sv: &Svinit, dir: &TempDir, name: &str, state: &str, timeout: Duration) -> Value {
    let mut last = Value::Null;
    sv.wait_until(&format!("{name} to be {state}"), timeout, || {
        last = status_json(sv, dir, name);
        last["state"] == state
    });
    last
}

/// Waits until `name`'s `output_problem` says `words`.
#[track_caller]
fn wait_output_problem(sv: &Svinit, dir: &TempDir, name: &str, words: &str) {
    wait_for_socket(sv, dir);
    sv.wait_until(
        &format!("{name}'s output problem: {words}"),
        DEADLINE,
        || json_str(&status_json(sv, dir, name), "output_problem").contains(words),
    );
}

/// The number a counting service last wrote to `rel` (0 before it did).
fn count(dir: &TempDir, rel: &str) -> u64 {
    dir.read(rel)
        .and_then(|text| text.trim().parse().ok())
        .unwrap_or(0)
}

/// Waits until the service counting into `rel` has written `more` lines
/// since now: what svinit does with them has happened by then.
#[track_caller]
fn wait_for_more_output(sv: &Svinit, dir: &TempDir, rel: &str, more: u64) {
    let from = count(dir, rel);
    sv.wait_until(&format!("{more} more lines from {rel}"), DEADLINE, || {
        count(dir, rel) >= from + more
    });
}

/// A forking service whose launcher leaves a fifo, a symlink or a device
/// where its pid file should be, and services whose environment-file is
/// one: svinit must never block opening them (it keeps answering and
/// shuts down on SIGTERM), and each start fails with a reason naming what
/// the file is.
#[test]
fn a_fifo_symlink_or_device_as_pid_or_environment_file_fails_the_start() {
    let dir = TempDir::new("adv-paths-kind");
    dir.write("real.env", "A=1\n");
    nix::unistd::mkfifo(&dir.join("fifo.env"), Mode::from_bits_truncate(0o666)).expect("mkfifo");
    std::os::unix::fs::symlink(dir.join("real.env"), dir.join("link.env")).expect("symlink");
    // /dev/zero: endless, so a reader that follows it reads forever.
    mknod(
        &dir.join("dev.env"),
        SFlag::S_IFCHR,
        Mode::from_bits_truncate(0o666),
        makedev(1, 5),
    )
    .expect("mknod");
    // A root-only secret, hard-linked where a service's file should be
    // (what a service's user can do where fs.protected_hardlinks is 0).
    let secret = dir.write("secret", "API_KEY=topsecret\n");
    std::fs::set_permissions(&secret, std::fs::Permissions::from_mode(0o600)).expect("chmod");
    std::fs::hard_link(&secret, dir.join("hard.env")).expect("ln");
    dir.write(
        "conf/units.kdl",
        r#"
defaults {
    start-timeout "60s"
    backoff-limit 1
    restart "never"
}
service "fifo-pid" {
    type "forking"
    pid-file "$DIR/fifo.pid"
    shell "mkfifo $DIR/fifo.pid"
}
service "link-pid" {
    type "forking"
    pid-file "$DIR/link.pid"
    shell "sleep 1000 & echo $! > $DIR/real.pid; ln -s $DIR/real.pid $DIR/link.pid"
}
service "dev-pid" {
    type "forking"
    pid-file "$DIR/dev.pid"
    shell "mknod $DIR/dev.pid c 1 3"
}
service "fifo-env" {
    environment-file "$DIR/fifo.env"
    shell "exec sleep 1000"
}
service "link-env" {
    environment-file "$DIR/link.env"
    shell "exec sleep 1000"
}
service "dev-env" {
    environment-file "$DIR/dev.env"
    shell "exec sleep 1000"
}
service "hard-env" {
    environment-file "$DIR/hard.env"
    shell "echo $API_KEY > $DIR/leaked; exec sleep 1000"
}
service "hard-pid" {
    type "forking"
    pid-file "$DIR/hard.pid"
    shell "ln $DIR/secret $DIR/hard.pid"
}
"#,
    );
    let sv = container(&dir);
    wait_for_socket(&sv, &dir);
    // Each fails long before its 60 s start-timeout, naming the problem.
    for (name, words) in [
        ("fifo-pid", "is a fifo"),
        ("link-pid", "is a symbolic link"),
        ("dev-pid", "is a character device"),
        ("fifo-env", "is a fifo"),
        ("link-env", "is a symbolic link"),
        ("dev-env", "is a character device"),
        ("hard-env", "hard links"),
        ("hard-pid", "hard links"),
    ] {
        let status = wait_status(&sv, &dir, name, "failed", DEADLINE);
        let reason = json_str(&status, "reason");
        if !reason.contains(words) {
            sv.fail(&format!("{name}: reason {reason:?} must say it {words}"));
        }
        if !status["pid"].is_null() {
            sv.fail(&format!("{name}: no pid may be adopted: {status}"));
        }
    }
    assert!(!dir.exists("leaked"), "the secret reached a service");
    sv.signal(Signal::SIGTERM);
    let exit = sv.wait_exit(DEADLINE);
    if exit.code() != Some(0) {
        sv.fail(&format!("svinit exited with {exit}, want 0"));
    }
}

/// Services running as `nobody` own their log directories and turn their
/// transcript into a symlink to a root-owned file, by every way svinit
/// opens a transcript: `svctl reopen`, SIGUSR1, the reopen after a
/// rotation (the symlink hard-linked as `PATH.1`, so the rename is a no-op)
/// and the open at the next spawn. svinit must never append to the target
/// and must say why in `output_problem`. A hard link to a root-owned file
/// (which `protected_hardlinks=0` would let the service make) is refused
/// the same way.
#[test]
fn a_transcript_swapped_for_a_link_is_never_followed() {
    let dir = TempDir::new("adv-paths-link");
    for name in ["reopen", "usr1", "rotate", "spawn", "hard"] {
        nobody_dir(&dir, &format!("logs-{name}"));
        root_file(&dir, &format!("secret-{name}"), "root's own\n");
    }
    // The spawn service's first open fails (a directory is in the way).
    std::fs::create_dir(dir.join("logs-spawn/out.log")).expect("mkdir");
    std::os::unix::fs::chown(dir.join("logs-spawn/out.log"), Some(nobody().0), None)
        .expect("chown");
    // Each counts its output lines into $DIR/count-NAME.
    let counting = |name: &str| {
        format!(
            "i=0; while :; do i=$((i+1)); echo {name} $i {PADDING}; echo $i > $DIR/count-{name}.tmp; mv $DIR/count-{name}.tmp $DIR/count-{name}; sleep 0.02; done"
        )
    };
    let swap = |name: &str| {
        format!("rm $DIR/logs-{name}/out.log; ln -s $DIR/secret-{name} $DIR/logs-{name}/out.log")
    };
    let config = format!(
        r#"
defaults {{
    user "nobody"
}}
service "reopen" {{
    transcript "$DIR/logs-reopen/out.log"
    shell "echo first; {swap_reopen}; {count_reopen}"
}}
service "usr1" {{
    transcript "$DIR/logs-usr1/out.log"
    shell "echo first; {swap_usr1}; {count_usr1}"
}}
service "rotate" {{
    transcript "$DIR/logs-rotate/out.log" max-size="1K" keep=1
    shell "echo first; while [ ! -e $DIR/go-rotate ]; do sleep 0.02; done; ln -s $DIR/secret-rotate $DIR/logs-rotate/out.log.1; ln $DIR/logs-rotate/out.log.1 $DIR/logs-rotate/out.log.new; mv $DIR/logs-rotate/out.log.new $DIR/logs-rotate/out.log; {count_rotate}"
}}
service "spawn" {{
    transcript "$DIR/logs-spawn/out.log"
    shell "if [ -d $DIR/logs-spawn/out.log ]; then rmdir $DIR/logs-spawn/out.log; ln -s $DIR/secret-spawn $DIR/logs-spawn/out.log; exit 1; fi; {count_spawn}"
}}
service "hard" {{
    transcript "$DIR/logs-hard/out.log"
    shell "echo first; while [ ! -e $DIR/go-hard ]; do sleep 0.02; done; {count_hard}"
}}
"#,
        swap_reopen = swap("reopen"),
        count_reopen = counting("reopen"),
        swap_usr1 = swap("usr1"),
        count_usr1 = counting("usr1"),
        count_rotate = counting("rotate"),
        count_spawn = counting("spawn"),
        count_hard = counting("hard"),
    );
    dir.write("conf/units.kdl", &config);
    let sv = container(&dir);
    wait_for_socket(&sv, &dir);
    let secret_untouched = |name: &str| {
        let text = dir.read(&format!("secret-{name}")).unwrap_or_default();
        if text != "root's own\n" {
            sv.fail(&format!("svinit wrote to secret-{name}: {text:?}"));
        }
    };
    let problem_names = |name: &str, words: &str| {
        let status = status_json(&sv, &dir, name);
        let problem = json_str(&status, "output_problem");
        if !problem.contains(words) {
            sv.fail(&format!(
                "{name}: output_problem {problem:?} must say {words:?}"
            ));
        }
    };

    // The rotation: the full file renamed onto itself, then reopened.
    dir.write("go-rotate", "");
    wait_for_more_output(&sv, &dir, "count-rotate", 60);
    secret_untouched("rotate");
    problem_names("rotate", "symbolic link");

    // The next spawn.
    wait_for_more_output(&sv, &dir, "count-spawn", 50);
    secret_untouched("spawn");
    problem_names("spawn", "symbolic link");

    // svctl reopen: refused, with the reason in the reply too.
    wait_for_more_output(&sv, &dir, "count-reopen", 5);
    let run = svctl(&dir, &["reopen", "reopen"]);
    if run.code != 1 || !run.stderr.contains("symbolic link") {
        sv.fail(&format!("svctl reopen of a swapped transcript: {run}"));
    }
    wait_for_more_output(&sv, &dir, "count-reopen", 50);
    secret_untouched("reopen");
    problem_names("reopen", "symbolic link");

    // A hard link to a root-owned file (as root: protected_hardlinks=1
    // here stops nobody, not a system without it).
    wait_for_more_output(&sv, &dir, "count-usr1", 5);
    std::fs::remove_file(dir.join("logs-hard/out.log")).expect("rm");
    std::fs::hard_link(dir.join("secret-hard"), dir.join("logs-hard/out.log")).expect("ln");
    dir.write("go-hard", "");

    // SIGUSR1 reopens them all.
    sv.signal(Signal::SIGUSR1);
    wait_for_more_output(&sv, &dir, "count-usr1", 50);
    wait_for_more_output(&sv, &dir, "count-hard", 50);
    for name in ["rotate", "spawn", "reopen", "usr1", "hard"] {
        secret_untouched(name);
    }
    problem_names("usr1", "symbolic link");
    problem_names("hard", "hard link");
}

/// Forking services running as `nobody` name, in their pid file, the main
/// process of a root service, the main process of a service of their own
/// user, and an orphan left in that service's session. Each start fails at
/// once with the reason; nothing is adopted, and stopping the liars
/// signals no victim.
#[test]
fn a_pid_file_naming_another_services_process_is_refused() {
    let dir = TempDir::new("adv-paths-liar");
    nobody_dir(&dir, "run");
    let publish = |file: &str| format!("echo $$ > $DIR/{file}.tmp; mv $DIR/{file}.tmp $DIR/{file}");
    let config = format!(
        r#"
defaults {{
    start-timeout "60s"
    backoff-limit 1
}}
service "victim-root" {{
    shell "{publish_root}; exec sleep 1000"
}}
service "victim-peer" {{
    user "nobody"
    shell "sh -c 'sleep 1000 & echo $! > $DIR/run/orphan.tmp; mv $DIR/run/orphan.tmp $DIR/run/orphan.pid'; {publish_peer}; exec sleep 1000"
}}
service "liar-root" {{
    type "forking"
    user "nobody"
    requires "victim-root"
    pid-file "$DIR/run/liar-root.pid"
    shell "while [ ! -s $DIR/run/victim-root.pid ]; do sleep 0.02; done; sleep 1000 & cp $DIR/run/victim-root.pid $DIR/run/liar-root.pid"
}}
service "liar-peer" {{
    type "forking"
    user "nobody"
    requires "victim-peer"
    pid-file "$DIR/run/liar-peer.pid"
    shell "while [ ! -s $DIR/run/victim-peer.pid ]; do sleep 0.02; done; sleep 1000 & cp $DIR/run/victim-peer.pid $DIR/run/liar-peer.pid"
}}
service "liar-orphan" {{
    type "forking"
    user "nobody"
    requires "victim-peer"
    pid-file "$DIR/run/liar-orphan.pid"
    shell "while [ ! -s $DIR/run/orphan.pid ]; do sleep 0.02; done; sleep 1000 & cp $DIR/run/orphan.pid $DIR/run/liar-orphan.pid"
}}
"#,
        publish_root = publish("run/victim-root.pid"),
        publish_peer = publish("run/victim-peer.pid"),
    );
    dir.write("conf/units.kdl", &config);
    let sv = container(&dir);
    wait_for_socket(&sv, &dir);
    let root_pid = wait_status(&sv, &dir, "victim-root", "up", DEADLINE)["pid"].clone();
    let peer_pid = wait_status(&sv, &dir, "victim-peer", "up", DEADLINE)["pid"].clone();
    sv.wait_file(&dir, "run/orphan.pid", DEADLINE);
    let orphan: i32 = count(&dir, "run/orphan.pid") as i32;
    for (liar, named, words) in [
        ("liar-root", root_pid.to_string(), "victim-root"),
        ("liar-peer", peer_pid.to_string(), "victim-peer"),
        ("liar-orphan", orphan.to_string(), "victim-peer"),
    ] {
        let status = wait_status(&sv, &dir, liar, "failed", DEADLINE);
        let reason = json_str(&status, "reason");
        if !reason.contains(&format!("pid {named}")) || !reason.contains(words) {
            sv.fail(&format!(
                "{liar}: reason {reason:?} must name pid {named} and {words}"
            ));
        }
        if !status["pid"].is_null() {
            sv.fail(&format!("{liar} adopted a pid: {status}"));
        }
        let run = svctl(&dir, &["stop", liar]);
        if run.code != 0 {
            sv.fail(&format!("svctl stop {liar}: {run}"));
        }
    }
    // The victims run on, untouched, with the same pids.
    for (name, pid) in [("victim-root", &root_pid), ("victim-peer", &peer_pid)] {
        let status = status_json(&sv, &dir, name);
        if status["state"] != "up" || &status["pid"] != pid {
            sv.fail(&format!("{name} was disturbed: {status}"));
        }
    }
    for pid in [
        root_pid.as_i64(),
        peer_pid.as_i64(),
        Some(i64::from(orphan)),
    ] {
        let pid = pid.unwrap_or_default() as i32;
        if !sv.ns_alive(pid) {
            sv.fail(&format!("pid {pid} was killed by a liar's stop"));
        }
    }
}

/// A transcript on a full disk: the write error closes it, and it comes
/// back by itself once there is space again (no `svctl reopen`, no
/// SIGUSR1), appending to the same file; the lines dropped meanwhile are
/// counted in `svctl status`.
#[test]
fn a_transcript_comes_back_by_itself_after_a_full_disk() {
    let dir = TempDir::new("adv-paths-full");
    let full = Tmpfs::mount(dir.join("full"));
    // Fill the filesystem but for nothing.
    let ballast = dir.join("full/ballast");
    let _ = std::fs::write(&ballast, vec![b'x'; 2 << 20]);
    dir.write(
        "conf/writer.kdl",
        r#"
service "writer" {
    shell "i=0; while :; do i=$((i+1)); echo beat $i; echo $i > $DIR/count.tmp; mv $DIR/count.tmp $DIR/count; sleep 0.05; done"
    transcript "$DIR/full/log"
}
"#,
    );
    let sv = container(&dir);
    wait_output_problem(&sv, &dir, "writer", "No space left on device");
    wait_for_more_output(&sv, &dir, "count", 20);
    std::fs::remove_file(&ballast).expect("rm ballast");
    let resumed = count(&dir, "count");
    sv.wait_until("beats in the transcript again", DEADLINE, || {
        transcript_has_beat_after(&dir.join("full/log"), resumed)
    });
    let status = status_json(&sv, &dir, "writer");
    if !status["output_problem"].is_null() {
        sv.fail(&format!("the problem must be gone: {status}"));
    }
    let dropped = status["output_dropped"].as_u64().unwrap_or_default();
    if dropped < 20 {
        sv.fail(&format!(
            "at least 20 lines were dropped, status says {status}"
        ));
    }
    let text = svctl(&dir, &["status", "writer"]).stdout;
    if !text.contains(&format!("{dropped} lines dropped")) {
        sv.fail(&format!("svctl status must show the dropped lines: {text}"));
    }
    drop(sv);
    drop(full);
}

fn transcript_has_beat_after(path: &Path, after: u64) -> bool {
    std::fs::read_to_string(path).is_ok_and(|text| {
        text.lines().any(|line| {
            line.strip_prefix("beat ")
                .and_then(|n| n.parse::<u64>().ok())
                .is_some_and(|n| n > after)
        })
    })
}

/// The retry of a broken transcript costs no timer: while its service is
/// quiet svinit does not wake up at all; the first output after the
/// problem is over (here, the missing directory made) reaches the file by
/// itself, and the line dropped before is counted.
#[test]
fn a_broken_transcript_is_retried_by_output_not_by_a_timer() {
    let dir = TempDir::new("adv-paths-lazy");
    dir.write(
        "conf/units.kdl",
        r#"
service "quiet" {
    transcript "$DIR/later/log"
    shell "echo one; while [ ! -e $DIR/go ]; do sleep 0.05; done; echo two; exec sleep 1000"
}
"#,
    );
    let sv = container(&dir);
    wait_output_problem(&sv, &dir, "quiet", "No such file or directory");
    let switches = || {
        voluntary_switches(sv.pid)
            .unwrap_or_else(|| sv.fail("cannot read svinit's context switches"))
    };
    wait_log_settled(&sv);
    let before = switches();
    // A measurement window, not a wait for an event.
    std::thread::sleep(Duration::from_millis(1500));
    let woke = switches() - before;
    if woke != 0 {
        sv.fail(&format!("svinit woke up {woke} times in 1.5 s"));
    }
    std::fs::create_dir(dir.join("later")).expect("mkdir");
    dir.write("go", "");
    sv.wait_until("the next line in the transcript", DEADLINE, || {
        dir.read("later/log").as_deref() == Some("two\n")
    });
    let status = status_json(&sv, &dir, "quiet");
    if !status["output_problem"].is_null() || status["output_dropped"] != 1 {
        sv.fail(&format!("want no problem and 1 line dropped: {status}"));
    }
    sv.wait_until("the end of the problem in the log", DEADLINE, || {
        sv.log().contains("writing again, 1 line dropped meanwhile")
    });
}

/// A pid file may not name a probe's process either (SPEC §7 "Pids"): a
/// `ready-probe` command is svinit's child, in a session of its own, so
/// only the runtime knows whose it is. Both run as nobody: the owner of
/// the file and of the process agree, so only this rule refuses it.
#[test]
fn a_pid_file_naming_a_probes_process_is_refused() {
    let dir = TempDir::new("adv-paths-probe");
    nobody_dir(&dir, "run");
    dir.write(
        "conf/units.kdl",
        r#"
service "probed" {
    user "nobody"
    exec "sleep" "1000"
    ready-probe {
        shell "echo $$ > $DIR/run/probe.tmp; mv $DIR/run/probe.tmp $DIR/run/probe.pid; exec sleep 1000"
        timeout "60s"
    }
}
service "liar" {
    type "forking"
    user "nobody"
    backoff-limit 1
    pid-file "$DIR/run/liar.pid"
    shell "while [ ! -s $DIR/run/probe.pid ]; do sleep 0.02; done; sleep 1000 & cp $DIR/run/probe.pid $DIR/run/liar.pid"
}
"#,
    );
    let sv = container(&dir);
    wait_for_socket(&sv, &dir);
    sv.wait_file(&dir, "run/probe.pid", DEADLINE);
    let probe: i32 = count(&dir, "run/probe.pid") as i32;
    let status = wait_status(&sv, &dir, "liar", "failed", DEADLINE);
    let reason = json_str(&status, "reason");
    if !reason.contains(&format!("pid {probe}")) || !reason.contains("probe of service probed") {
        sv.fail(&format!(
            "liar: reason {reason:?} must name pid {probe} and probed's probe"
        ));
    }
    if !sv.ns_alive(probe) {
        sv.fail("the probe was killed by the liar's failure");
    }
    if status_json(&sv, &dir, "probed")["state"] != "starting" {
        sv.fail("probed was disturbed");
    }
}
