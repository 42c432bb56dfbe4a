//! Reaping (SPEC §4): a service leaves 2,000 orphaned grandchildren behind;
//! svinit — as PID 1, and in user mode as a child subreaper — adopts and
//! reaps every one of them: no zombie of svinit remains. Services that die
//! in the middle of an orphan storm (while svinit batches its reaping) are
//! each reported once, with their exact status, real-time signals included.

use std::collections::HashSet;
use std::time::{Duration, Instant};

use nix::sys::signal::Signal;

use crate::control;
use crate::harness::{DEADLINE, ProcStat, Svinit, TempDir, all_processes, proc_stat};

const ORPHANS: usize = 2000;

/// Writes a service that starts `ORPHANS` short-lived orphans running a
/// symlink to sleep named `comm` (so they can be told apart in /proc,
/// zombies included), then touches `spawned` and sleeps.
fn write_spawner(dir: &TempDir, comm: &str) {
    dir.write(
        "conf/spawner.kdl",
        &format!(
            r#"
service "spawner" {{
    shell "echo $$ > $DIR/spawner.pid; ln -s /bin/sleep $DIR/{comm}; for i in $(seq {ORPHANS}); do ($DIR/{comm} 0.2 &); done; touch $DIR/spawned; exec sleep 1000"
}}
"#
        ),
    );
}

/// A name for the orphans' command that no other test (or run) uses;
/// at most 15 bytes, the length of a process `comm`.
fn orphan_comm(mode: &str) -> String {
    format!("orph{}{mode}", std::process::id() % 10_000_000)
}

/// Waits until `spawned` exists and no process named `comm` is left, live
/// or zombie; on the way, calls `observe` with every scan of /proc.
fn wait_orphans_gone(sv: &Svinit, dir: &TempDir, comm: &str, mut observe: impl FnMut(&[ProcStat])) {
    let start = Instant::now();
    loop {
        let procs = all_processes();
        observe(&procs);
        let mine: Vec<&ProcStat> = procs.iter().filter(|p| p.comm == comm).collect();
        if dir.exists("spawned") && mine.is_empty() {
            return;
        }
        // The service forks 4,000 processes: allow a slow, shared machine.
        if start.elapsed() > Duration::from_secs(90) {
            let zombies = mine.iter().filter(|p| p.state == 'Z').count();
            sv.fail(&format!(
                "orphans still there after {:.0?}: {} live, {zombies} zombies (spawned: {})",
                start.elapsed(),
                mine.len() - zombies,
                dir.exists("spawned")
            ));
        }
        if let Some(status) = sv.try_status() {
            sv.fail(&format!("svinit exited ({status}) during the orphan storm"));
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Whether live process `pid` is, right now, provably not below `root`:
/// its chain of parents (read afresh) ends at pid 1 or 0 without meeting
/// `root`. A process that vanishes on the way proves nothing.
fn outside_tree(pid: i32, root: i32) -> bool {
    let mut current = pid;
    for _ in 0..64 {
        let Some(stat) = proc_stat(current) else {
            return false;
        };
        if stat.ppid == root {
            return false;
        }
        if stat.ppid <= 1 {
            return proc_stat(pid).is_some();
        }
        current = stat.ppid;
    }
    false
}

/// The zombies whose parent is svinit, as `pid (comm)`.
fn zombies_of(pid: i32) -> Vec<String> {
    all_processes()
        .into_iter()
        .filter(|p| p.ppid == pid && p.state == 'Z')
        .map(|p| format!("{} ({})", p.pid, p.comm))
        .collect()
}

#[test]
fn pid1_reaps_two_thousand_orphans() {
    let dir = TempDir::new("reap-pid1");
    let comm = orphan_comm("c");
    write_spawner(&dir, &comm);
    let sv = Svinit::container(&dir);
    sv.wait_state("spawner", "up", DEADLINE);
    wait_orphans_gone(&sv, &dir, &comm, |_| {});
    let zombies = zombies_of(sv.pid);
    if !zombies.is_empty() {
        sv.fail(&format!(
            "{} zombies left with svinit as parent, e.g. {:?}",
            zombies.len(),
            &zombies[..zombies.len().min(10)]
        ));
    }
    if let Some(status) = sv.try_status() {
        sv.fail(&format!("svinit exited ({status}); it must keep running"));
    }
}

#[test]
fn user_mode_subreaper_adopts_and_reaps_two_thousand_orphans() {
    let dir = TempDir::new("reap-user");
    let comm = orphan_comm("u");
    write_spawner(&dir, &comm);
    let sv = Svinit::user(&dir);
    sv.wait_state("spawner", "up", DEADLINE);

    // Every orphan seen must be in svinit's tree: parented by the subshell
    // that started it or, once that exited, by svinit itself.
    let mut adopted = 0usize;
    let mut escaped: HashSet<String> = HashSet::new();
    wait_orphans_gone(&sv, &dir, &comm, |procs| {
        for p in procs.iter().filter(|p| p.comm == comm && p.state != 'Z') {
            if p.ppid == sv.pid {
                adopted += 1;
            } else if outside_tree(p.pid, sv.pid) {
                escaped.insert(format!("{} (ppid {})", p.pid, p.ppid));
            }
        }
    });
    if !escaped.is_empty() {
        let some: Vec<&String> = escaped.iter().take(10).collect();
        sv.fail(&format!(
            "{} orphans escaped svinit's tree (not a child subreaper?), e.g. {some:?}",
            escaped.len()
        ));
    }
    if adopted == 0 {
        sv.fail("no orphan was ever seen with svinit (the subreaper) as its parent");
    }
    let zombies = zombies_of(sv.pid);
    if !zombies.is_empty() {
        sv.fail(&format!(
            "{} zombies left with svinit as parent, e.g. {:?}",
            zombies.len(),
            &zombies[..zombies.len().min(10)]
        ));
    }

    // User mode: SIGTERM stops the service and svinit exits 0.
    let spawner: i32 = dir
        .read("spawner.pid")
        .and_then(|s| s.trim().parse().ok())
        .unwrap_or_else(|| sv.fail("spawner.pid missing"));
    sv.signal(Signal::SIGTERM);
    let status = sv.wait_exit(Duration::from_secs(15));
    if status.code() != Some(0) {
        sv.fail(&format!(
            "svinit exited with {status} after SIGTERM, want 0"
        ));
    }
    if proc_stat(spawner).is_some_and(|p| p.comm == "sleep") {
        sv.fail(&format!("the service's process {spawner} outlived svinit"));
    }
}

#[test]
fn deaths_among_an_orphan_storm_are_each_reported_and_orphans_counted_exactly() {
    const STORM: usize = 3000;
    let dir = TempDir::new("reap-storm");
    let mut units = format!(
        r#"
service "storm" {{
    shell "for i in $(seq {STORM}); do (/bin/true &); done; touch $DIR/spawned; exec sleep 1000"
}}
"#
    );
    // Oneshots that die at staggered moments of the storm: by a real-time
    // signal, by an exit status, or cleanly.
    for i in 1..=4 {
        units.push_str(&format!(
            r#"
service "rt{i}" {{
    type "oneshot"
    shell "sleep 0.{i}; kill -40 $$"
}}
service "code{i}" {{
    type "oneshot"
    shell "sleep 0.{i}5; exit 7"
}}
service "clean{i}" {{
    type "oneshot"
    shell "sleep 0.{i}2; exit 0"
}}
"#
        ));
    }
    dir.write("conf/units.kdl", &units);
    let sv = control::container(&dir);
    for i in 1..=4 {
        sv.wait_state(&format!("rt{i}"), "failed", DEADLINE);
        sv.wait_state(&format!("code{i}"), "failed", DEADLINE);
        sv.wait_state(&format!("clean{i}"), "done", DEADLINE);
    }
    let mut orphans = 0;
    sv.wait_until(
        &format!("{STORM} orphans reaped"),
        Duration::from_secs(90),
        || {
            let run = control::svctl(&dir, &["status"]);
            orphans = run
                .stdout
                .lines()
                .find_map(|line| line.strip_prefix("orphans reaped: "))
                .and_then(|n| n.trim().parse::<usize>().ok())
                .unwrap_or(0);
            dir.exists("spawned") && orphans >= STORM
        },
    );
    if orphans != STORM {
        sv.fail(&format!("{orphans} orphans reaped, want exactly {STORM}"));
    }
    let zombies = zombies_of(sv.pid);
    if !zombies.is_empty() {
        sv.fail(&format!("zombies left with svinit as parent: {zombies:?}"));
    }
    for i in 1..=4 {
        for (name, state, reason) in [
            (format!("rt{i}"), "failed", "killed by signal 40"),
            (format!("code{i}"), "failed", "exited with status 7"),
            (format!("clean{i}"), "done", ""),
        ] {
            let lines = sv.state_lines(&name, state);
            if lines.len() != 1 || !lines[0].contains(reason) {
                sv.fail(&format!(
                    "{name}: want one `{state}` line with `{reason}`, got {lines:?}"
                ));
            }
        }
    }
}
