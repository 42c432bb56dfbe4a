//! The spawner (src/spawn/spawner.rs): svinit's helper process that makes
//! the services' processes. Whatever happens to it, every start happens
//! once and is reported as before: killed mid-boot, out of descriptors,
//! out of processes (EAGAIN), and children that exit before svinit has
//! read their pid.

use std::collections::HashSet;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;

use crate::harness::{DEADLINE, Svinit, TempDir, all_processes, innermost_pid, poll_until};

/// The spawner's name in /proc (`PR_SET_NAME`).
const SPAWNER: &str = "svinit-spawner";

/// Host pids of svinit's spawners (one, or none while it is replaced).
fn spawners(sv: &Svinit) -> Vec<i32> {
    all_processes()
        .into_iter()
        .filter(|p| p.ppid == sv.pid && p.comm == SPAWNER && p.state != 'Z')
        .map(|p| p.pid)
        .collect()
}

#[track_caller]
fn wait_for_spawner(sv: &Svinit) -> i32 {
    let mut found = None;
    sv.wait_until("svinit's spawner", DEADLINE, || {
        found = spawners(sv).first().copied();
        found.is_some()
    });
    found.unwrap_or_else(|| sv.fail("no spawner"))
}

/// A oneshot `gate` that waits for `$DIR/go`, and `count` services after
/// it that each append their pid to `$DIR/starts/NAME` once per start.
fn gated_services(dir: &TempDir, count: usize) {
    let mut text = String::from(
        r#"
service "gate" {
    type "oneshot"
    shell "touch $DIR/gate.running; while [ ! -e $DIR/go ]; do sleep 0.02; done"
}
"#,
    );
    for i in 1..=count {
        text.push_str(&format!(
            r#"
service "s{i}" {{
    requires "gate"
    shell "echo $$ >> $DIR/starts/s{i}; exec sleep 1000"
}}
"#
        ));
    }
    dir.write("conf/units.kdl", &text);
    std::fs::create_dir_all(dir.join("starts")).expect("mkdir starts");
}

/// svinit with `gated_services`, once the gate runs, and its spawner. Until
/// then the gate's process may bear the spawner's name (a clone not yet
/// exec'd): a test that kills or confines "the spawner" could hit it, and
/// the gate, a oneshot, would fail and every service with it.
#[track_caller]
fn start_gated(dir: &TempDir) -> (Svinit, i32) {
    let sv = Svinit::container(dir);
    sv.wait_file(dir, "gate.running", DEADLINE);
    let spawner = wait_for_spawner(&sv);
    (sv, spawner)
}

#[track_caller]
fn wait_all_up(sv: &Svinit, count: usize) {
    for i in 1..=count {
        sv.wait_state(&format!("s{i}"), "up", Duration::from_secs(30));
    }
}

/// Every service up, and started exactly once.
#[track_caller]
fn all_up_once(sv: &Svinit, dir: &TempDir, count: usize) {
    all_up_once_but_killed(sv, dir, count, &HashSet::new());
}

/// Every service up, and started exactly once but for the starts whose
/// process the test killed itself (pids in svinit's namespace).
#[track_caller]
fn all_up_once_but_killed(sv: &Svinit, dir: &TempDir, count: usize, killed: &HashSet<String>) {
    let unkilled = |i: usize| {
        let starts = dir.lines(&format!("starts/s{i}"));
        starts.iter().filter(|pid| !killed.contains(*pid)).count()
    };
    wait_all_up(sv, count);
    // `up` is the exec of the shell: its line may come a moment later, and
    // a start the test killed is followed by another after a backoff.
    sv.wait_until(
        "every service's start line",
        Duration::from_secs(30),
        || (1..=count).all(|i| unkilled(i) > 0),
    );
    for i in 1..=count {
        let starts = dir.lines(&format!("starts/s{i}"));
        if unkilled(i) != 1 {
            sv.fail(&format!(
                "s{i} started {} times, {} of them not killed by the test: {starts:?}",
                starts.len(),
                unkilled(i)
            ));
        }
    }
}

#[test]
fn a_spawner_killed_again_and_again_during_the_boot_loses_no_start() {
    const COUNT: usize = 40;
    let dir = TempDir::new("spawner-killed");
    gated_services(&dir, COUNT);
    let (sv, _) = start_gated(&dir);
    // Every spawner svinit forks is killed as soon as it is seen, for the
    // whole boot: requests are lost in flight, mid-clone or queued.
    //
    // A process the spawner has just cloned bears its name until it execs,
    // so the killer sometimes hits a service's process instead, even just
    // after its exec: such a start is the test's doing, not a lost one, and
    // is left out of the count by its pid.
    let stop = Arc::new(AtomicBool::new(false));
    let kills = Arc::new(AtomicUsize::new(0));
    let killed = Arc::new(Mutex::new(HashSet::new()));
    let svinit_pid = sv.pid;
    let killer = {
        let (stop, kills, killed) = (stop.clone(), kills.clone(), killed.clone());
        std::thread::spawn(move || {
            while !stop.load(Ordering::Relaxed) {
                for p in all_processes() {
                    if p.ppid == svinit_pid && p.comm == SPAWNER && p.state != 'Z' {
                        if let Some(pid) = innermost_pid(p.pid)
                            && let Ok(mut killed) = killed.lock()
                        {
                            killed.insert(pid.to_string());
                        }
                        let _ = kill(Pid::from_raw(p.pid), Signal::SIGKILL);
                        kills.fetch_add(1, Ordering::Relaxed);
                    }
                }
                std::thread::sleep(Duration::from_millis(1));
            }
        })
    };
    dir.write("go", "");
    wait_all_up(&sv, COUNT);
    stop.store(true, Ordering::Relaxed);
    killer.join().expect("killer thread");
    let killed = killed.lock().map(|set| set.clone()).unwrap_or_default();
    all_up_once_but_killed(&sv, &dir, COUNT, &killed);
    if kills.load(Ordering::Relaxed) == 0 {
        sv.fail("the spawner was never killed");
    }
    if !sv.log().contains("spawner (pid ") {
        sv.fail("svinit did not say that its spawner died");
    }
    // The next start forks a spawner again.
    crate::control::expect(&sv, &dir, &["restart", "s1"], 0);
    wait_for_spawner(&sv);
}

#[test]
fn a_spawner_out_of_descriptors_loses_no_start() {
    const COUNT: usize = 10;
    let dir = TempDir::new("spawner-emfile");
    gated_services(&dir, COUNT);
    let (sv, spawner) = start_gated(&dir);
    // 0-2 and its socket are open: no passed descriptor fits (EMFILE at
    // recvmsg), every request arrives without its fds.
    let limit = libc::rlimit {
        rlim_cur: 4,
        rlim_max: 4,
    };
    // SAFETY: prlimit with a valid rlimit and no old-limit pointer.
    let set = unsafe { libc::prlimit(spawner, libc::RLIMIT_NOFILE, &limit, std::ptr::null_mut()) };
    assert_eq!(set, 0, "prlimit: {}", std::io::Error::last_os_error());
    dir.write("go", "");
    all_up_once(&sv, &dir, COUNT);
    if spawners(&sv) != [spawner] {
        sv.fail("the spawner should have stayed, refusing requests");
    }
}

#[test]
fn a_stalled_spawner_is_replaced_and_its_starts_are_not_lost() {
    const COUNT: usize = 5;
    let dir = TempDir::new("spawner-stalled");
    gated_services(&dir, COUNT);
    let (sv, spawner) = start_gated(&dir);
    // It takes requests but makes no child, as when a child hangs before
    // its exec (the spawner waits for each exec).
    kill(Pid::from_raw(spawner), Signal::SIGSTOP).expect("SIGSTOP the spawner");
    dir.write("go", "");
    all_up_once(&sv, &dir, COUNT);
    if !sv.log().contains("made no process for 2s: replacing it") {
        sv.fail("svinit did not say that it replaced its stalled spawner");
    }
    sv.wait_until("the stalled spawner's end", DEADLINE, || {
        !spawners(&sv).contains(&spawner)
    });
}

/// A pids cgroup (v1) holding the spawner, removed at the end.
struct PidsCgroup {
    path: std::path::PathBuf,
}

impl PidsCgroup {
    fn new(tag: &str) -> Option<PidsCgroup> {
        let root = std::path::Path::new("/sys/fs/cgroup/pids");
        if !root.join("cgroup.procs").exists() {
            return None;
        }
        let path = root.join(format!("svinit-test-{tag}-{}", std::process::id()));
        std::fs::create_dir(&path).ok()?;
        Some(PidsCgroup { path })
    }

    fn set_max(&self, max: &str) {
        std::fs::write(self.path.join("pids.max"), max).expect("pids.max");
    }

    fn add(&self, pid: i32) {
        std::fs::write(self.path.join("cgroup.procs"), pid.to_string()).expect("cgroup.procs");
    }
}

impl Drop for PidsCgroup {
    fn drop(&mut self) {
        let _ = poll_until(DEADLINE, || std::fs::remove_dir(&self.path).is_ok());
    }
}

#[test]
fn a_clone_refused_with_eagain_is_reported_as_a_fork_failure_then_retried() {
    let dir = TempDir::new("spawner-eagain");
    gated_services(&dir, 1);
    let Some(cgroup) = PidsCgroup::new("eagain") else {
        eprintln!("skipped: no pids cgroup (v1) to refuse a clone with");
        return;
    };
    // Dropped before `cgroup`, which is then empty.
    let (sv, spawner) = start_gated(&dir);
    cgroup.add(spawner);
    // The spawner alone: its next clone gets EAGAIN, whatever its uid.
    cgroup.set_max("1");
    dir.write("go", "");
    sv.wait_until("s1's fork failure", Duration::from_secs(20), || {
        sv.service_lines("s1")
            .iter()
            .any(|l| l.contains("backoff (fork: Try again;"))
    });
    cgroup.set_max("max");
    all_up_once(&sv, &dir, 1);
}

#[test]
fn children_that_exit_at_once_are_each_reported_once() {
    const COUNT: usize = 60;
    let dir = TempDir::new("spawner-quick-exit");
    let mut text = String::new();
    for i in 1..=COUNT {
        text.push_str(&format!(
            "service \"q{i}\" {{\n    type \"oneshot\"\n    exec \"/bin/true\"\n}}\n"
        ));
    }
    dir.write("conf/units.kdl", &text);
    let sv = Svinit::container(&dir);
    for i in 1..=COUNT {
        sv.wait_state(&format!("q{i}"), "done", DEADLINE);
    }
    for i in 1..=COUNT {
        let name = format!("q{i}");
        let done = sv.state_lines(&name, "done").len();
        let failed = sv.state_lines(&name, "failed").len();
        if done != 1 || failed != 0 {
            sv.fail(&format!("{name}: done {done} times, failed {failed} times"));
        }
    }
}

#[test]
fn services_start_with_no_signal_ignored_even_if_svinit_inherited_some() {
    use std::os::unix::process::CommandExt;
    let dir = TempDir::new("spawner-sigign");
    dir.write(
        "conf/units.kdl",
        r#"
service "probe" {
    shell "grep SigIgn /proc/$$/status > $DIR/sigign.tmp; mv $DIR/sigign.tmp $DIR/sigign; exec sleep 1000"
}
"#,
    );
    let conf = dir.join("conf").to_string_lossy().into_owned();
    let sv = Svinit::start_with(
        crate::harness::Mode::Container,
        &dir,
        &["-c", &conf],
        |cmd| {
            // SAFETY: only signal(2) between fork and exec.
            unsafe {
                cmd.pre_exec(|| {
                    libc::signal(libc::SIGHUP, libc::SIG_IGN);
                    libc::signal(libc::SIGUSR1, libc::SIG_IGN);
                    Ok(())
                });
            }
        },
    );
    sv.wait_file(&dir, "sigign", DEADLINE);
    let line = dir.read("sigign").unwrap_or_default();
    if line.split_whitespace().nth(1) != Some("0000000000000000") {
        sv.fail(&format!("the service inherited ignored signals: {line}"));
    }
}

/// `RssAnon` of /proc/PID/status, in kB.
fn anonymous_kb(pid: i32) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .unwrap_or_default()
        .lines()
        .find_map(|line| line.strip_prefix("RssAnon:"))
        .and_then(|rest| rest.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or(0)
}

/// What a spawner must hold, and nothing more: fds 0-2 and its socket on
/// 3, svinit's binary, and little of svinit's memory (a fork of svinit once
/// its config is loaded shares, then copies, most of svinit's heap).
#[track_caller]
fn holds_nothing_of_svinits(sv: &Svinit, spawner: i32) {
    let exe = |pid: i32| std::fs::read_link(format!("/proc/{pid}/exe")).ok();
    if exe(spawner).is_none() || exe(spawner) != exe(sv.pid) {
        sv.fail(&format!(
            "the spawner runs {:?}, svinit {:?}",
            exe(spawner),
            exe(sv.pid)
        ));
    }
    let mut fds: Vec<i32> = std::fs::read_dir(format!("/proc/{spawner}/fd"))
        .map(|entries| {
            entries
                .flatten()
                .filter_map(|e| e.file_name().to_str()?.parse().ok())
                .collect()
        })
        .unwrap_or_default();
    fds.sort();
    if fds != [0, 1, 2, 3] {
        sv.fail(&format!(
            "the spawner holds fds {fds:?}, not 0-2 and its socket"
        ));
    }
    let (ours, svinits) = (anonymous_kb(spawner), anonymous_kb(sv.pid));
    if ours * 2 > svinits {
        sv.fail(&format!(
            "the spawner holds {ours} kB of anonymous memory, svinit {svinits} kB"
        ));
    }
}

#[test]
fn a_spawner_holds_nothing_of_svinits_forked_at_start_or_fresh_after_a_death() {
    const COUNT: usize = 300;
    let dir = TempDir::new("spawner-fresh");
    let mut text = String::new();
    for i in 1..=COUNT {
        text.push_str(&format!(
            "service \"s{i}\" {{ exec \"/bin/sleep\" \"1000\" }}\n"
        ));
    }
    dir.write("conf/units.kdl", &text);
    let sv = Svinit::container(&dir);
    wait_all_up(&sv, COUNT);
    // The first is forked before svinit reads its config.
    let first = wait_for_spawner(&sv);
    holds_nothing_of_svinits(&sv, first);
    // A replacement, forked from the grown svinit, execs its binary afresh.
    let _ = kill(Pid::from_raw(first), Signal::SIGKILL);
    sv.wait_until("the spawner's death", DEADLINE, || {
        !spawners(&sv).contains(&first)
    });
    crate::control::expect(&sv, &dir, &["restart", "s1"], 0);
    let second = wait_for_spawner(&sv);
    let cmdline = std::fs::read(format!("/proc/{second}/cmdline")).unwrap_or_default();
    if cmdline != b"svinit-spawner\0" {
        sv.fail(&format!(
            "the new spawner's argv: {:?}",
            String::from_utf8_lossy(&cmdline)
        ));
    }
    holds_nothing_of_svinits(&sv, second);
}
