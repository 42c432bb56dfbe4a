//! Service output (SPEC §3 `transcript`, `output`; issue 6): the zdaemon
//! rotation scenario (rename, keep writing, reopen) loses and duplicates no
//! line; `max-size` rotation; `NAME | line` prefixing under two flooding
//! services; a transcript on a full tmpfs; svinit's fd count across
//! restarts and reopens. Reopen is triggered by SIGUSR1 (container and
//! user mode without a main command) until `svctl reopen` is wired.

use std::collections::HashMap;
use std::process::Command;
use std::time::Duration;

use nix::sys::signal::Signal;

use crate::harness::{DEADLINE, Svinit, TempDir, poll_until};

/// Numbers `0..count` each exactly once across `texts`, every line whole.
fn check_numbers(sv: &Svinit, texts: &[&str], count: usize) {
    let mut seen = vec![0u32; count];
    for text in texts {
        for line in text.lines() {
            let Ok(n) = line.parse::<usize>() else {
                sv.fail(&format!("a line that is not a number: {line:?}"));
            };
            if n >= count {
                sv.fail(&format!("unexpected number {n}"));
            }
            seen[n] += 1;
        }
    }
    let missing: Vec<usize> = (0..count).filter(|&n| seen[n] == 0).collect();
    let twice: Vec<usize> = (0..count).filter(|&n| seen[n] > 1).collect();
    if !missing.is_empty() || !twice.is_empty() {
        sv.fail(&format!(
            "lost {} lines (first {:?}), duplicated {} (first {:?})",
            missing.len(),
            missing.first(),
            twice.len(),
            twice.first()
        ));
    }
}

#[test]
fn rename_then_reopen_loses_and_duplicates_no_line() {
    // A numbered line every 2 ms (1,500 lines: ~3 s plus the cost of
    // forking sleep), then it stays up.
    const COUNT: usize = 1500;
    let dir = TempDir::new("out-rotate");
    dir.write(
        "conf/writer.kdl",
        &format!(
            r#"
service "writer" {{
    shell "i=0; while [ $i -lt {COUNT} ]; do echo $i; i=$((i+1)); sleep 0.002; done; exec sleep 1000"
    transcript "$DIR/log"
}}
"#
        ),
    );
    let sv = Svinit::container(&dir);
    let lines = |rel: &str| dir.read(rel).unwrap_or_default().lines().count();
    sv.wait_until("100 lines in the transcript", DEADLINE, || {
        lines("log") >= 100
    });
    std::fs::rename(dir.join("log"), dir.join("log.1")).expect("mv log log.1");
    // Output keeps going to the renamed file until the reopen.
    let moved_at = lines("log.1");
    sv.wait_until("output continuing in log.1", DEADLINE, || {
        lines("log.1") >= moved_at + 100
    });
    assert!(!dir.exists("log"), "nothing reopens by itself");
    sv.signal(Signal::SIGUSR1);
    sv.wait_until(
        "the last line in the new log",
        Duration::from_secs(30),
        || {
            dir.read("log")
                .is_some_and(|t| t.ends_with(&format!("\n{}\n", COUNT - 1)))
        },
    );
    let old = dir.read("log.1").unwrap_or_default();
    let new = dir.read("log").unwrap_or_default();
    assert!(old.lines().count() >= moved_at + 100);
    assert!(new.lines().count() > 0);
    check_numbers(&sv, &[&old, &new], COUNT);
    assert!(sv.log().contains("svinit: reopening transcripts"));
}

#[test]
fn max_size_rotates_keeping_keep_files() {
    let dir = TempDir::new("out-maxsize");
    // 2,000 lines of 100 bytes (200 KB) through a 16 KiB transcript.
    dir.write(
        "conf/writer.kdl",
        r#"
service "writer" {
    shell "awk 'BEGIN { for (i = 0; i < 2000; i++) printf \"%06d %092d\\n\", i, 0 }'; exec sleep 1000"
    transcript "$DIR/log" max-size="16K" keep=3
}
"#,
    );
    let sv = Svinit::container(&dir);
    sv.wait_until("the last line in log", DEADLINE, || {
        dir.read("log").is_some_and(|t| t.contains("\n001999 "))
    });
    let mut numbers = Vec::new();
    for rel in ["log.3", "log.2", "log.1", "log"] {
        let text = dir
            .read(rel)
            .unwrap_or_else(|| sv.fail(&format!("{rel} is missing")));
        if text.len() > 16 * 1024 {
            sv.fail(&format!("{rel} has {} bytes, over max-size", text.len()));
        }
        for line in text.lines() {
            if line.len() != 99 {
                sv.fail(&format!("{rel}: a cut line: {line:?}"));
            }
            numbers.push(line[..6].parse::<u32>().unwrap_or(u32::MAX));
        }
    }
    assert!(!dir.exists("log.4"), "keep=3 keeps 3 old files");
    // The four files hold the newest lines, in order, without a gap.
    let last = *numbers.last().unwrap_or(&0);
    assert_eq!(last, 1999);
    let first = numbers[0];
    let expected: Vec<u32> = (first..=1999).collect();
    assert_eq!(numbers, expected, "lines in order across log.3 … log");
}

#[test]
fn prefix_lines_of_two_flooding_services_stay_whole() {
    const LINES: usize = 20_000;
    let dir = TempDir::new("out-prefix");
    // awk writes in 4 KiB blocks that cut lines anywhere.
    let mut units = String::new();
    for name in ["alpha", "beta"] {
        units.push_str(&format!(
            r#"
service "{name}" {{
    shell "awk 'BEGIN {{ for (i = 0; i < {LINES}; i++) printf \"{name}-%d-%s\\n\", i, \"abcdefghijklmnopqrstuvwxyz0123456789abcdefghijklmnopqrstuvwxyz\" }}'; echo {name}-end; exec sleep 1000"
}}
"#
        ));
    }
    dir.write("conf/noisy.kdl", &units);
    let sv = Svinit::container(&dir);
    sv.wait_until("both services' last lines", Duration::from_secs(60), || {
        let log = sv.log();
        log.contains("alpha | alpha-end\n") && log.contains("beta | beta-end\n")
    });
    let log = sv.log();
    let mut counts: HashMap<String, u32> = HashMap::new();
    for line in log.lines() {
        if line.starts_with("svinit: ") {
            continue;
        }
        let Some((name, rest)) = line.split_once(" | ") else {
            sv.fail(&format!("a line neither svinit's nor prefixed: {line:?}"));
        };
        if rest == format!("{name}-end") {
            continue;
        }
        let mut parts = rest.splitn(3, '-');
        let (owner, number, payload) = (parts.next(), parts.next(), parts.next());
        if owner != Some(name)
            || number.and_then(|n| n.parse::<usize>().ok()).is_none()
            || payload != Some("abcdefghijklmnopqrstuvwxyz0123456789abcdefghijklmnopqrstuvwxyz")
        {
            sv.fail(&format!("a mangled line: {line:?}"));
        }
        *counts.entry(rest.to_string()).or_default() += 1;
    }
    for name in ["alpha", "beta"] {
        for i in 0..LINES {
            let key = format!(
                "{name}-{i}-abcdefghijklmnopqrstuvwxyz0123456789abcdefghijklmnopqrstuvwxyz"
            );
            if counts.get(&key) != Some(&1) {
                sv.fail(&format!("{key} seen {:?} times", counts.get(&key)));
            }
        }
    }
}

/// A 1 MiB tmpfs mounted at `path` for the life of the guard. Mounted
/// before svinit starts, so its mount namespace (a copy) has it too.
pub(crate) struct Tmpfs(std::path::PathBuf);

impl Tmpfs {
    pub(crate) fn mount(path: std::path::PathBuf) -> Tmpfs {
        Tmpfs::mount_with(path, "size=1M,mode=0777")
    }

    /// A tmpfs with these mount options (`ro,size=64k` …), unmounted on drop.
    pub(crate) fn mount_with(path: std::path::PathBuf, options: &str) -> Tmpfs {
        std::fs::create_dir_all(&path).expect("mkdir tmpfs mount point");
        let status = Command::new("mount")
            .args(["-t", "tmpfs", "-o", options, "svinit-it"])
            .arg(&path)
            .status()
            .expect("run mount");
        assert!(status.success(), "mount tmpfs at {}", path.display());
        Tmpfs(path)
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg("-l").arg(&self.0).status();
    }
}

#[test]
fn a_full_disk_is_reported_and_the_service_keeps_running() {
    let dir = TempDir::new("out-full");
    let full = Tmpfs::mount(dir.join("full"));
    // 2 MiB into a 1 MiB filesystem, then a heartbeat outside it.
    dir.write(
        "conf/writer.kdl",
        r#"
service "writer" {
    shell "awk 'BEGIN { for (i = 0; i < 20000; i++) printf \"%06d %092d\\n\", i, 0 }'; while :; do date +%s%N > $DIR/alive; echo beat; sleep 0.1; done"
    transcript "$DIR/full/log"
}
"#,
    );
    let sv = Svinit::container(&dir);
    sv.wait_until("a full-disk warning", DEADLINE, || {
        sv.log().lines().any(|l| {
            l.starts_with("svinit: writer: warning: transcript ")
                && l.contains("No space left on device")
        })
    });
    // Still running, still writing, never restarted.
    let first = dir.read("alive");
    sv.wait_until("heartbeats after the disk filled", DEADLINE, || {
        dir.read("alive").is_some() && dir.read("alive") != first
    });
    assert!(sv.state_lines("writer", "backoff").is_empty());
    assert!(sv.state_lines("writer", "failed").is_empty());
    let warnings = sv
        .log()
        .lines()
        .filter(|l| l.contains("No space left on device"))
        .count();
    assert_eq!(warnings, 1, "the problem is logged once, not per write");
    // Space again, and a reopen: output reaches a fresh transcript.
    std::fs::remove_file(dir.join("full/log")).expect("rm the full transcript");
    sv.signal(Signal::SIGUSR1);
    sv.wait_until("heartbeats in the reopened transcript", DEADLINE, || {
        dir.read("full/log").is_some_and(|t| t.contains("beat\n"))
    });
    drop(sv);
    drop(full);
}

#[test]
fn an_unopenable_transcript_is_reported_and_the_service_runs() {
    let dir = TempDir::new("out-noparent");
    dir.write(
        "conf/writer.kdl",
        r#"
service "writer" {
    shell "while :; do date +%s%N > $DIR/alive; echo beat; sleep 0.1; done"
    transcript "$DIR/missing/log"
}
"#,
    );
    let sv = Svinit::container(&dir);
    sv.wait_until("an open failure warning", DEADLINE, || {
        sv.log().lines().any(|l| {
            l.starts_with("svinit: writer: warning: transcript ")
                && l.contains("cannot open: No such file or directory")
        })
    });
    sv.wait_state("writer", "up", DEADLINE);
    sv.wait_file(&dir, "alive", DEADLINE);
    // The directory appears; a reopen picks it up.
    std::fs::create_dir(dir.join("missing")).expect("mkdir");
    sv.signal(Signal::SIGUSR1);
    sv.wait_until(
        "output in the transcript after the reopen",
        DEADLINE,
        || {
            dir.read("missing/log")
                .is_some_and(|t| t.contains("beat\n"))
        },
    );
}

/// svinit's open fds, from /proc (host pid).
fn fd_count(sv: &Svinit) -> usize {
    std::fs::read_dir(format!("/proc/{}/fd", sv.pid))
        .map(|dir| dir.count())
        .unwrap_or_else(|e| sv.fail(&format!("read /proc/{}/fd: {e}", sv.pid)))
}

#[test]
fn fds_stay_stable_across_restarts_and_reopens() {
    const RESTARTS: usize = 50;
    let dir = TempDir::new("out-fds");
    dir.write(
        "conf/crasher.kdl",
        r#"
service "crasher" {
    shell "echo run; exit 1"
    transcript "$DIR/log" timestamps=#true
    forever #true
    backoff-limit "50ms"
}
service "steady" {
    shell "exec sleep 1000"
}
"#,
    );
    let sv = Svinit::container(&dir);
    let runs = || dir.read("log").map_or(0, |t| t.lines().count());
    sv.wait_until("two runs", DEADLINE, || runs() >= 2);
    let before = fd_count(&sv);
    let mut reopens = 0;
    sv.wait_until(
        &format!("{RESTARTS} more runs"),
        Duration::from_secs(60),
        || {
            if reopens < 10 && runs() >= 2 + reopens * 4 {
                sv.signal(Signal::SIGUSR1);
                reopens += 1;
            }
            runs() >= 2 + RESTARTS
        },
    );
    // Between two runs and during one the count is the same: one pipe
    // (two ends) and one transcript per captured service.
    let settled = poll_until(DEADLINE, || fd_count(&sv) == before);
    assert!(
        settled,
        "svinit had {before} fds after 2 runs and {} after {} runs",
        fd_count(&sv),
        runs()
    );
    let text = dir.read("log").unwrap_or_default();
    for line in text.lines() {
        // `2024-05-01T12:34:56.789Z run`
        let ok = line.len() == 28
            && line.as_bytes()[10] == b'T'
            && line.ends_with("Z run")
            && line.as_bytes()[19] == b'.';
        if !ok {
            sv.fail(&format!("not a timestamped line: {line:?}"));
        }
    }
}

#[test]
fn output_fds_reach_no_other_service_and_close_when_removed() {
    let dir = TempDir::new("out-leak");
    dir.write(
        "conf/a.kdl",
        r#"
service "once" {
    type "oneshot"
    shell "echo once"
    transcript "$DIR/once.log"
}
service "noisy" {
    shell "while :; do echo noise; sleep 0.05; done"
    transcript "$DIR/noisy.log"
}
"#,
    );
    dir.write(
        "conf/b.kdl",
        r#"
service "lister" {
    requires "once" "noisy"
    type "oneshot"
    shell "exec ls /proc/self/fd > $DIR/fds"
}
"#,
    );
    let sv = Svinit::container(&dir);
    sv.wait_file(&dir, "fds", DEADLINE);
    sv.wait_until("the listing", DEADLINE, || {
        dir.read("fds").is_some_and(|t| t.ends_with('\n'))
    });
    // 0-2, and the directory ls reads.
    let fds: Vec<String> = dir.lines("fds");
    assert_eq!(fds, ["0", "1", "2", "3"], "fds of another service");
    sv.wait_state("once", "done", DEADLINE);
    let before = fd_count(&sv);
    sv.wait_state("lister", "done", DEADLINE);
    // Remove `once` and `lister` (done: forgotten during the reload) and
    // `noisy` (running: forgotten once stopped).
    dir.remove("conf/b.kdl");
    dir.write(
        "conf/a.kdl",
        "service \"other\" {\n    shell \"exec sleep 1000\"\n}\n",
    );
    sv.signal(Signal::SIGHUP);
    sv.wait_state("noisy", "down", DEADLINE);
    // Three pipes (two fds each) and two transcripts closed, one pipe
    // opened for `other`.
    let settled = poll_until(DEADLINE, || fd_count(&sv) + 6 == before);
    assert!(settled, "{before} fds before, {} after", fd_count(&sv));
}
