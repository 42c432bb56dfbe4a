//! Which kind of init svinit is this time: system (PID 1 booted by a
//! kernel), container (PID 1 of a child PID namespace) or user (not PID 1).

use std::fmt;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    System,
    Container,
    User,
}

impl Mode {
    pub fn as_str(self) -> &'static str {
        match self {
            Mode::System => "system",
            Mode::Container => "container",
            Mode::User => "user",
        }
    }
}

impl fmt::Display for Mode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The inode of the initial PID namespace (`PROC_PID_INIT_INO` in the kernel).
const INITIAL_PID_NAMESPACE_INODE: u64 = 0xEFFF_FFFC;

/// PID 1 in the initial PID namespace is system mode; PID 1 elsewhere is a
/// container. When /proc is not mounted yet (an initramfs boot), a PID 1 can
/// only be the kernel's init: system.
pub fn detect() -> Mode {
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
