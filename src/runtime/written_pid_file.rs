//! The `pid-file` of a longrun on the I/O side (SPEC §3 "Written pid
//! files"): written when the supervisor asks (`Action::WritePidFile`, once
//! the process has exec'd), mode 0644, owned by svinit's user, through a
//! new temporary file renamed into place (`untrusted::replace_untrusted`:
//! the directory may be a service's, nothing there is followed); removed
//! when that process is reaped (`Action::RemovePidFile`), only if it still
//! holds its pid: a file another program has rewritten since is left alone.

use std::path::Path;
use std::time::Instant;

use super::forking::parse_pid_file;
use crate::debug;
use crate::supervisor::{Event, ServiceId};
use crate::untrusted::replace_untrusted;

/// Written pid files are readable by everyone, like a daemon's own.
const PID_FILE_MODE: u32 = 0o644;

impl super::Runtime {
    /// `Action::WritePidFile`: `pid` into the service's `pid-file` `path`.
    pub(super) fn write_pid_file(&mut self, service: ServiceId, pid: i32, path: &Path) {
        let error = match replace_untrusted(path, format!("{pid}\n").as_bytes(), PID_FILE_MODE) {
            Ok(()) => {
                let name = &self.supervisor.running_config(service).name;
                debug!(name, "pid {pid} written to {}", path.display());
                return;
            }
            // "Permission denied", as the other reasons word an errno.
            Err(err) => match err.raw_os_error() {
                Some(errno) => nix::errno::Errno::from_raw(errno).desc().to_string(),
                None => err.to_string(),
            },
        };
        self.supervisor.handle_event(
            Instant::now(),
            Event::PidFileNotWritten {
                service,
                pid,
                error,
            },
        );
    }

    /// `Action::RemovePidFile`: `pid` was reaped; its file `path` goes if it
    /// still names it (read as an untrusted path: a regular file, no
    /// symlink). The service may be forgotten already: its name is then
    /// the placeholder's, empty.
    pub(super) fn remove_pid_file(&mut self, service: ServiceId, pid: i32, path: &Path) {
        let name = &self.supervisor.running_config(service).name;
        match parse_pid_file(path) {
            Ok((named, _)) if named == pid => match std::fs::remove_file(path) {
                Ok(()) => debug!(name, "removed pid file {}", path.display()),
                Err(err) => debug!(name, "cannot remove {}: {err}", path.display()),
            },
            Ok((named, _)) => debug!(
                name,
                "pid file {} names pid {named} now, not {pid}: left alone",
                path.display()
            ),
            Err(problem) => debug!(name, "pid file {} {problem}", path.display()),
        }
    }
}
