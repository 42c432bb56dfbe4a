//! Processes that ignore or survive stop signals: the shutdown stays
//! bounded (SPEC §7 "Bounded shutdown", §4 "Stop"). A stopped process
//! (SIGSTOP) gets SIGCONT after every stop signal, so it acts on it at
//! once instead of waiting for the SIGKILL; a process that survives
//! SIGKILL (uninterruptible sleep, made here with the cgroup v1 freezer)
//! is reported as unkillable after 5 s and the shutdown goes on.

use std::fs;
use std::path::PathBuf;
use std::time::Duration;

use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;

use crate::control::{container, expect, status_json, wait_for_socket};
use crate::harness::{DEADLINE, Mode, Svinit, TempDir};

/// A loop that records its pid in `DIR/NAME.pid`, writes `DIR/NAME.got`
/// when SIGTERM reaches it, then exits 0.
fn trapping(name: &str) -> String {
    format!(
        "trap 'echo TERM > $DIR/{name}.got; exit 0' TERM; echo $$ > $DIR/{name}.pid; while :; do sleep 0.05; done"
    )
}

/// The host pid of the process whose namespace pid `DIR/NAME.pid` holds.
fn host_pid_of(sv: &Svinit, dir: &TempDir, name: &str) -> i32 {
    sv.wait_file(dir, &format!("{name}.pid"), DEADLINE);
    let pid: i32 = dir
        .read(&format!("{name}.pid"))
        .and_then(|text| text.trim().parse().ok())
        .unwrap_or_else(|| sv.fail(&format!("{name}.pid holds no pid")));
    sv.host_pid(pid)
        .unwrap_or_else(|| sv.fail(&format!("{name} (pid {pid}) is not running")))
}

#[test]
fn a_stopped_service_and_a_stopped_orphan_act_on_their_stop_signal_at_once() {
    let dir = TempDir::new("adv-sigcont");
    // The orphan stops itself; only a SIGCONT after the sweep's SIGTERM
    // lets its trap run before the SIGKILL sweep 5 s later.
    dir.write(
        "orphan.sh",
        "trap 'echo TERM > $DIR/orphan.got; exit 0' TERM; echo $$ > $DIR/orphan.pid; kill -STOP $$; while :; do sleep 0.05; done",
    );
    dir.write(
        "conf/stopped.kdl",
        &format!(
            r#"
service "frozen" {{
    stop-timeout "60s"
    shell "{frozen}"
}}
service "parent" {{
    shell "setsid sh $DIR/orphan.sh & exec sleep 600"
}}
"#,
            frozen = trapping("frozen"),
        ),
    );
    let sv = container(&dir);
    wait_for_socket(&sv, &dir);
    let frozen = host_pid_of(&sv, &dir, "frozen");
    kill(Pid::from_raw(frozen), Signal::SIGSTOP).expect("SIGSTOP frozen");
    // Stopped long before the 60 s stop-timeout, by its own trap.
    expect(&sv, &dir, &["stop", "--timeout", "10s", "frozen"], 0);
    assert_eq!(dir.read("frozen.got").as_deref(), Some("TERM\n"));
    let status = status_json(&sv, &dir, "frozen");
    assert!(status["reason"].is_null(), "frozen was killed: {status}");

    let orphan = host_pid_of(&sv, &dir, "orphan");
    sv.wait_until("the orphan to stop itself", DEADLINE, || {
        crate::harness::proc_stat(orphan).is_some_and(|p| p.state == 'T')
    });
    sv.signal(Signal::SIGTERM);
    // Well within the 5 s between the sweep's SIGTERM and its SIGKILL.
    sv.wait_until(
        "the stopped orphan to run its trap",
        Duration::from_secs(4),
        || dir.read("orphan.got").as_deref() == Some("TERM\n"),
    );
    let status = sv.wait_exit(DEADLINE);
    assert_eq!(status.code(), Some(0), "{}", sv.log());
    assert!(!sv.log().contains("outlived"), "{}", sv.log());
}

#[test]
fn a_stopped_main_command_acts_on_a_forwarded_sigterm_at_once() {
    let dir = TempDir::new("adv-sigcont-main");
    let script = format!(
        "trap 'echo TERM > {dir}/main.got; exit 7' TERM; echo $$ > {dir}/main.pid; kill -STOP $$; while :; do sleep 0.05; done",
        dir = dir.path().display()
    );
    let sv = Svinit::start(Mode::Container, &dir, &["--", "sh", "-c", &script]);
    let main = host_pid_of(&sv, &dir, "main");
    sv.wait_until("the main command to stop itself", DEADLINE, || {
        crate::harness::proc_stat(main).is_some_and(|p| p.state == 'T')
    });
    sv.signal(Signal::SIGTERM);
    let status = sv.wait_exit(DEADLINE);
    assert_eq!(status.code(), Some(7), "{}", sv.log());
    assert_eq!(dir.read("main.got").as_deref(), Some("TERM\n"));
}

/// A cgroup v1 freezer group: its tasks sleep uninterruptibly (`D`) and
/// survive SIGKILL until thawed. Thawed and removed on drop.
struct Freezer {
    dir: PathBuf,
}

impl Freezer {
    fn new(tag: &str) -> Option<Freezer> {
        let root = PathBuf::from("/sys/fs/cgroup/freezer");
        if !root.join("freezer.state").exists() && !root.join("tasks").exists() {
            return None;
        }
        let dir = root.join(format!("svinit-it-{tag}-{}", std::process::id()));
        fs::create_dir_all(&dir).ok()?;
        Some(Freezer { dir })
    }

    fn freeze(&self, pid: i32) {
        fs::write(self.dir.join("cgroup.procs"), pid.to_string()).expect("join the freezer");
        fs::write(self.dir.join("freezer.state"), "FROZEN").expect("freeze");
    }

    fn thaw(&self) {
        let _ = fs::write(self.dir.join("freezer.state"), "THAWED");
    }
}

impl Drop for Freezer {
    fn drop(&mut self) {
        self.thaw();
        for _ in 0..200 {
            if fs::remove_dir(&self.dir).is_ok() {
                return;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
    }
}

#[test]
fn a_process_that_survives_sigkill_is_reported_and_the_shutdown_goes_on() {
    let dir = TempDir::new("adv-unkillable");
    dir.write(
        "conf/stuck.kdl",
        &format!(
            r#"
service "stuck" {{
    stop-timeout "1s"
    shell "{stuck}"
}}
service "fine" {{
    shell "{fine}"
}}
"#,
            stuck = trapping("stuck"),
            fine = trapping("fine"),
        ),
    );
    let sv = container(&dir);
    // Declared after svinit, so dropped (thawed) first if the test fails:
    // svinit's namespace cannot end while a frozen process is in it.
    let Some(freezer) = Freezer::new("unkillable") else {
        eprintln!("skipped: no cgroup v1 freezer at /sys/fs/cgroup/freezer");
        return;
    };
    wait_for_socket(&sv, &dir);
    let stuck = host_pid_of(&sv, &dir, "stuck");
    host_pid_of(&sv, &dir, "fine");
    let inner: i32 = dir
        .read("stuck.pid")
        .and_then(|t| t.trim().parse().ok())
        .unwrap_or(0);
    freezer.freeze(stuck);
    sv.wait_until("stuck to sleep uninterruptibly", DEADLINE, || {
        crate::harness::proc_stat(stuck).is_some_and(|p| p.state == 'D')
    });
    sv.signal(Signal::SIGTERM);
    // stop-timeout 1 s, 5 s after the SIGKILL, then the orphan sweep's
    // 5 s and 1 s: about 12 s.
    let bound = Duration::from_secs(30);
    sv.wait_until("svinit to say stuck is unkillable", bound, || {
        sv.log().contains(&format!("unkillable (pid {inner})"))
    });
    sv.wait_until("svinit to finish its shutdown", bound, || {
        sv.log().contains("exiting with status 0")
    });
    assert_eq!(dir.read("fine.got").as_deref(), Some("TERM\n"));
    // PID 1 has exited; the kernel tears the namespace down once the
    // frozen process can die.
    freezer.thaw();
    let status = sv.wait_exit(DEADLINE);
    assert_eq!(status.code(), Some(0), "{}", sv.log());
}
