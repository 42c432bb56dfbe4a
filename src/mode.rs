//! Which kind of init svinit is this time: system (PID 1 booted by a
//! kernel), container (PID 1 of a child PID namespace) or user (not PID 1),
//! chosen from the flags or detected. What each mode means is the
//! supervisor's `Role`.

/// The user's word for the supervisor's `Role`: one type for one fact.
pub use crate::supervisor::Role as Mode;

/// The mode to run in: `forced` by `--system`/`--container`, else
/// detected. `--system` is refused when svinit is not PID 1: system mode
/// mounts /proc, /dev, /run … over the host's and ends with read-only
/// remounts and `reboot(2)`, which must never happen to a machine svinit
/// is merely a process on (systemd refuses the same way). `--container`
/// is allowed anywhere: apart from the log line it behaves as user mode
/// when svinit is not PID 1 (svinit is then a child subreaper).
pub fn choose(forced: Option<Mode>, is_pid1: bool) -> Result<Mode, String> {
    match forced {
        Some(Mode::System) if !is_pid1 => Err(format!(
            "--system needs svinit to be PID 1 (it is pid {}): system mode mounts \
             filesystems and reboots the machine at shutdown",
            std::process::id()
        )),
        Some(mode) => Ok(mode),
        None => Ok(detect()),
    }
}

/// The inode of the initial PID namespace (`PROC_PID_INIT_INO` in the kernel).
const INITIAL_PID_NAMESPACE_INODE: u64 = 0xEFFF_FFFC;

/// PID 1 in the initial PID namespace is system mode; PID 1 elsewhere is a
/// container. When /proc is not mounted yet (an initramfs boot), a PID 1 can
/// only be the kernel's init: system.
pub(crate) fn detect() -> Mode {
    if std::process::id() != 1 {
        return Mode::User;
    }
    match std::fs::metadata("/proc/self/ns/pid") {
        Ok(meta) => {
            use std::os::unix::fs::MetadataExt;
            if meta.ino() == INITIAL_PID_NAMESPACE_INODE {
                Mode::System
            } else {
                Mode::Container
            }
        }
        Err(_) => Mode::System,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn system_mode_is_refused_unless_pid_1() {
        let err = choose(Some(Mode::System), false).unwrap_err();
        assert!(err.contains("--system needs svinit to be PID 1"), "{err}");
        assert_eq!(choose(Some(Mode::System), true), Ok(Mode::System));
    }

    #[test]
    fn container_mode_may_be_forced_anywhere() {
        assert_eq!(choose(Some(Mode::Container), false), Ok(Mode::Container));
        assert_eq!(choose(Some(Mode::Container), true), Ok(Mode::Container));
    }
}
