//! `type "forking"` on the I/O side: the stale pid file removed before the
//! launcher runs, and the pid file read when the supervisor asks
//! (`Action::ReadPidFile`): a pid, alive, and a child of svinit (the daemon
//! is reparented to svinit, PID 1 or subreaper, so its exit is reaped here).

use std::io::Read;
use std::path::Path;

use super::proc_stat;
use crate::debug;
use crate::supervisor::PidFileProblem;

/// A pid file larger than this is garbage.
const MAX_PID_FILE: u64 = 4096;

/// Before the launcher runs: a pid file left by an earlier run would name
/// a dead (or, worse, a reused) pid.
pub fn remove_stale(name: &str, path: &Path) {
    match std::fs::remove_file(path) {
        Ok(()) => debug!(name, "removed stale pid file {}", path.display()),
        Err(err) if err.kind() == std::io::ErrorKind::NotFound => {}
        Err(err) => debug!(name, "cannot remove pid file {}: {err}", path.display()),
    }
}

/// The pid in `path`, if it names a live child of svinit.
pub fn read_pid_file(path: &Path) -> Result<i32, PidFileProblem> {
    let pid = parse_pid_file(path)?;
    let me = std::process::id() as i32;
    match proc_stat::read(pid) {
        None => Err(PidFileProblem::Dead(pid)),
        // A zombie child is fine: it is reaped next, and reported then.
        Some(stat) if stat.ppid == me => Ok(pid),
        // Maybe not reparented yet (its parent is exiting): read again.
        Some(_) => Err(PidFileProblem::NotAChild(pid)),
    }
}

fn parse_pid_file(path: &Path) -> Result<i32, PidFileProblem> {
    let file = std::fs::File::open(path).map_err(|err| match err.kind() {
        std::io::ErrorKind::NotFound => PidFileProblem::Missing,
        _ => PidFileProblem::Unreadable(err.raw_os_error().unwrap_or(libc::EIO)),
    })?;
    let mut text = String::new();
    file.take(MAX_PID_FILE)
        .read_to_string(&mut text)
        .map_err(|err| match err.kind() {
            std::io::ErrorKind::InvalidData => PidFileProblem::Garbage("(not text)".into()),
            _ => PidFileProblem::Unreadable(err.raw_os_error().unwrap_or(libc::EIO)),
        })?;
    let first = text.lines().next().unwrap_or("").trim();
    match first.parse::<i32>() {
        Ok(pid) if pid > 1 => Ok(pid),
        _ => Err(PidFileProblem::Garbage(first.chars().take(40).collect())),
    }
}

impl super::Runtime {
    /// `Action::ReadPidFile`: read it now and answer.
    pub(super) fn read_pid_file(&mut self, service: crate::supervisor::ServiceId) {
        let config = self.supervisor.service_config(service);
        let result = match &config.pid_file {
            Some(path) => read_pid_file(path),
            None => Err(PidFileProblem::Missing),
        };
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

    fn temp(name: &str, text: &str) -> std::path::PathBuf {
        let path =
            std::env::temp_dir().join(format!("svinit-pidfile-{}-{name}", std::process::id()));
        std::fs::write(&path, text).expect("write temp file");
        path
    }

    #[test]
    fn pid_file_contents() {
        let missing = std::env::temp_dir().join("svinit-no-such-pid-file");
        assert_eq!(read_pid_file(&missing), Err(PidFileProblem::Missing));
        let garbage = temp("garbage", "hello\n");
        assert_eq!(
            read_pid_file(&garbage),
            Err(PidFileProblem::Garbage("hello".into()))
        );
        let empty = temp("empty", "");
        assert_eq!(
            read_pid_file(&empty),
            Err(PidFileProblem::Garbage(String::new()))
        );
        let one = temp("one", "1\n");
        assert_eq!(
            read_pid_file(&one),
            Err(PidFileProblem::Garbage("1".into()))
        );
        // The test's own parent is alive but not our child.
        let parent = nix::unistd::getppid().as_raw();
        let other = temp("other", &format!("{parent}\n"));
        assert_eq!(
            read_pid_file(&other),
            Err(PidFileProblem::NotAChild(parent))
        );
        let dead = temp("dead", " 2147483646 \n");
        assert_eq!(read_pid_file(&dead), Err(PidFileProblem::Dead(2147483646)));
        for path in [garbage, empty, one, other, dead] {
            let _ = std::fs::remove_file(path);
        }
    }

    #[test]
    fn a_live_child_is_accepted() {
        let mut child = std::process::Command::new("sleep")
            .arg("5")
            .spawn()
            .expect("spawn sleep");
        let path = temp("child", &format!("{}\n", child.id()));
        assert_eq!(read_pid_file(&path), Ok(child.id() as i32));
        let _ = child.kill();
        let _ = child.wait();
        let _ = std::fs::remove_file(path);
    }
}
