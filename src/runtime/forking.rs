//! `type "forking"` on the I/O side: the stale pid file removed before the
//! launcher runs (`Action::RemoveStalePidFile`), and the pid file read when
//! the supervisor asks (`Action::ReadPidFile`). The file is opened as an
//! untrusted path (a regular file, no symlink followed, never blocking:
//! `crate::untrusted`); the pid it names must be alive, not svinit, and a
//! child of svinit (the daemon is reparented to svinit, PID 1 or subreaper,
//! so its exit is reaped here). The facts the supervisor judges it by
//! (process group, session, the file's owner, the process's real uid, the
//! service's uid) go with it in a `PidClaim`: whose pid it is, is the
//! supervisor's call.

use std::io::Read;
use std::path::Path;

use super::proc_stat;
use crate::debug;
use crate::supervisor::{PidClaim, PidFileProblem};
use crate::untrusted::{PathProblem, Purpose, open_untrusted};

/// A pid file larger than this is garbage.
const MAX_PID_FILE: u64 = 4096;

/// Before the launcher runs: a pid file left by an earlier run would name
/// a dead (or, worse, a reused) pid. (unlink never follows a symlink nor
/// blocks on a fifo.)
pub(crate) fn remove_stale(name: &str, path: &Path) {
    match std::fs::remove_file(path) {
        Ok(()) => debug!(name, "removed stale pid file {}", path.display()),
        Err(err) if err.kind() == std::io::ErrorKind::NotFound => {}
        Err(err) => debug!(name, "cannot remove pid file {}: {err}", path.display()),
    }
}

/// The pid in `path` and its facts, if it names a live child of svinit
/// other than svinit itself; `service_uid`: the uid the service runs as.
pub(crate) fn read_pid_file(path: &Path, service_uid: u32) -> Result<PidClaim, PidFileProblem> {
    let (pid, file_owner) = parse_pid_file(path)?;
    let me = std::process::id() as i32;
    if pid == me {
        return Err(PidFileProblem::Svinit(pid));
    }
    let stat = proc_stat::read(pid).ok_or(PidFileProblem::Dead(pid))?;
    // A zombie child is fine: it is reaped next, and reported then.
    // Maybe not reparented yet (its parent is exiting): read again.
    if stat.ppid != me {
        return Err(PidFileProblem::NotAChild(pid));
    }
    // A child of svinit stays (a zombie at worst) until svinit reaps it.
    let process_uid = proc_stat::real_uid(pid).ok_or(PidFileProblem::Dead(pid))?;
    let svinit_uid = nix::unistd::geteuid().as_raw();
    Ok(PidClaim {
        pid,
        pgrp: stat.pgrp,
        session: stat.session,
        file_owner,
        owner_trusted: file_owner == 0 || file_owner == svinit_uid,
        process_uid,
        service_uid,
        probe_of: None,
    })
}

/// The pid on the first line of `path`, and the file's owner.
pub(super) fn parse_pid_file(path: &Path) -> Result<(i32, u32), PidFileProblem> {
    let opened = open_untrusted(path, Purpose::Read).map_err(|problem| match problem {
        problem if problem.is_missing() => PidFileProblem::Missing,
        PathProblem::Open(errno) => PidFileProblem::Unreadable(errno),
        problem => PidFileProblem::Unsafe(problem),
    })?;
    let mut text = String::new();
    opened
        .file
        .take(MAX_PID_FILE)
        .read_to_string(&mut text)
        .map_err(|err| match err.kind() {
            std::io::ErrorKind::InvalidData => PidFileProblem::Garbage("(not text)".into()),
            _ => PidFileProblem::Unreadable(err.raw_os_error().unwrap_or(libc::EIO)),
        })?;
    let first = text.lines().next().unwrap_or("").trim();
    match first.parse::<i32>() {
        Ok(pid) if pid > 0 => Ok((pid, opened.owner)),
        _ => Err(PidFileProblem::Garbage(first.chars().take(40).collect())),
    }
}

impl super::Runtime {
    /// `Action::ReadPidFile`: read it now and answer.
    pub(super) fn read_pid_file(&mut self, service: crate::supervisor::ServiceId) {
        let config = self.supervisor.service_config(service);
        let service_uid = self.service_uid(service);
        let result = match &config.pid_file {
            Some(path) => read_pid_file(path, service_uid),
            None => Err(PidFileProblem::Missing),
        }
        .map(|claim| PidClaim {
            probe_of: self.probes.owner_of(&claim),
            ..claim
        });
        let config = self.supervisor.service_config(service);
        if let Err(problem) = &result {
            debug!(&config.name, "pid file: {problem}");
        }
        self.supervisor.handle_event(
            std::time::Instant::now(),
            crate::supervisor::Event::PidFile { service, result },
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::untrusted::FileKind;

    fn temp(name: &str, text: &str) -> std::path::PathBuf {
        let path =
            std::env::temp_dir().join(format!("svinit-pidfile-{}-{name}", std::process::id()));
        let _ = std::fs::remove_file(&path);
        std::fs::write(&path, text).expect("write temp file");
        path
    }

    fn read(path: &Path) -> Result<i32, PidFileProblem> {
        read_pid_file(path, 0).map(|claim| claim.pid)
    }

    #[test]
    fn pid_file_contents() {
        let missing = std::env::temp_dir().join("svinit-no-such-pid-file");
        assert_eq!(read(&missing), Err(PidFileProblem::Missing));
        let garbage = temp("garbage", "hello\n");
        assert_eq!(read(&garbage), Err(PidFileProblem::Garbage("hello".into())));
        let empty = temp("empty", "");
        assert_eq!(read(&empty), Err(PidFileProblem::Garbage(String::new())));
        let zero = temp("zero", "0\n");
        assert_eq!(read(&zero), Err(PidFileProblem::Garbage("0".into())));
        let me = std::process::id() as i32;
        let own = temp("own", &format!("{me}\n"));
        assert_eq!(read(&own), Err(PidFileProblem::Svinit(me)));
        // The test's own parent is alive but not our child.
        let parent = nix::unistd::getppid().as_raw();
        let other = temp("other", &format!("{parent}\n"));
        assert_eq!(read(&other), Err(PidFileProblem::NotAChild(parent)));
        let dead = temp("dead", " 2147483646 \n");
        assert_eq!(read(&dead), Err(PidFileProblem::Dead(2147483646)));
        for path in [garbage, empty, zero, own, other, dead] {
            let _ = std::fs::remove_file(path);
        }
    }

    #[test]
    fn a_pid_file_must_be_a_regular_file_and_no_symlink() {
        let real = temp("real", &format!("{}\n", std::process::id()));
        let link = real.with_extension("link");
        let _ = std::fs::remove_file(&link);
        std::os::unix::fs::symlink(&real, &link).expect("symlink");
        assert_eq!(
            read(&link),
            Err(PidFileProblem::Unsafe(PathProblem::Symlink))
        );
        let fifo = real.with_extension("fifo");
        let _ = std::fs::remove_file(&fifo);
        nix::unistd::mkfifo(&fifo, nix::sys::stat::Mode::from_bits_truncate(0o600))
            .expect("mkfifo");
        let problem = read(&fifo).expect_err("a fifo");
        assert_eq!(
            problem,
            PidFileProblem::Unsafe(PathProblem::Kind {
                found: FileKind::Fifo,
                purpose: Purpose::Read
            })
        );
        assert!(problem.is_refusal());
        assert_eq!(problem.to_string(), "is a fifo, not a regular file");
        for path in [real, link, fifo] {
            let _ = std::fs::remove_file(path);
        }
    }

    #[test]
    fn a_live_child_is_claimed_with_its_facts() {
        let mut child = std::process::Command::new("sleep")
            .arg("5")
            .spawn()
            .expect("spawn sleep");
        let path = temp("child", &format!("{}\n", child.id()));
        let claim = read_pid_file(&path, 4242).expect("a live child");
        let _ = child.kill();
        let _ = child.wait();
        let _ = std::fs::remove_file(path);
        let me = proc_stat::read(std::process::id() as i32).expect("own stat");
        let uid = nix::unistd::getuid().as_raw();
        assert_eq!(
            claim,
            PidClaim {
                pid: child.id() as i32,
                pgrp: me.pgrp,
                session: me.session,
                file_owner: nix::unistd::geteuid().as_raw(),
                owner_trusted: true,
                process_uid: uid,
                service_uid: 4242,
                probe_of: None,
            }
        );
    }
}
