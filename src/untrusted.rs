//! Opening paths a service could control (SPEC.md §7): transcripts, pid
//! files, environment-files. svinit opens them as root, in directories a
//! service's user may write, so the last component may be anything that
//! user can make there: a symlink to a root-owned file, a fifo that
//! blocks an open or a read for good, a device, a hard link.
//!
//! [`open_untrusted`] is the one way such a path is opened:
//! `O_NOFOLLOW | O_NONBLOCK | O_NOCTTY | O_CLOEXEC` (a symlink is never
//! followed, a fifo or device cannot block the open, a terminal is never
//! made svinit's controlling tty), then `fstat` on the descriptor itself
//! (no race with a rename): what it is must be what the caller accepts.
//! When the open itself fails, `lstat` says why in words ("is a symbolic
//! link", "is a fifo") rather than an errno ("Too many levels of symbolic
//! links", "No such device or address"). The descriptor stays
//! non-blocking: a regular file ignores it, a character device is then
//! written without blocking (the caller drops what does not fit).
//! [`replace_untrusted`] is the one way a whole file is put at such a path
//! (a longrun's written pid file): a temporary file created with
//! `O_EXCL | O_NOFOLLOW` beside it, renamed over it.
//!
//! Decisions:
//! - A regular file with more than one hard link is refused: a service
//!   could have linked a root-owned file there (where
//!   `fs.protected_hardlinks` is 0): root would append the service's
//!   output to it, hand a root-only environment-file to the service, or
//!   trust a pid file for its owner; and a rotation would rename `PATH`
//!   onto `PATH.1`, the same file, and reopen it, for ever.
//! - Only the last component is guarded: the directories above belong to
//!   whoever wrote the config. A FUSE mount owned by a service can still
//!   block an open (out of scope, SPEC.md §7).

use std::fmt;
use std::fs::{File, OpenOptions};
use std::io;
use std::os::unix::fs::{FileTypeExt, MetadataExt, OpenOptionsExt};
use std::path::Path;

/// Mode of a transcript svinit creates (less its umask).
const CREATE_MODE: u32 = 0o640;

/// What a file turned out to be.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum FileKind {
    Regular,
    Directory,
    Symlink,
    CharDevice,
    BlockDevice,
    Fifo,
    Socket,
}

impl FileKind {
    fn of(file_type: std::fs::FileType) -> FileKind {
        if file_type.is_symlink() {
            FileKind::Symlink
        } else if file_type.is_dir() {
            FileKind::Directory
        } else if file_type.is_char_device() {
            FileKind::CharDevice
        } else if file_type.is_block_device() {
            FileKind::BlockDevice
        } else if file_type.is_fifo() {
            FileKind::Fifo
        } else if file_type.is_socket() {
            FileKind::Socket
        } else {
            FileKind::Regular
        }
    }
}

impl fmt::Display for FileKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            FileKind::Regular => "a regular file",
            FileKind::Directory => "a directory",
            FileKind::Symlink => "a symbolic link",
            FileKind::CharDevice => "a character device",
            FileKind::BlockDevice => "a block device",
            FileKind::Fifo => "a fifo",
            FileKind::Socket => "a socket",
        })
    }
}

/// What a caller will read or write through.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Purpose {
    /// A pid file or an environment-file: read, a regular file.
    Read,
    /// A transcript: appended to (created 0640 if missing), a regular file
    /// with one link or a character device.
    Append,
}

impl Purpose {
    fn accepts(self, kind: FileKind) -> bool {
        match self {
            Purpose::Read => kind == FileKind::Regular,
            Purpose::Append => matches!(kind, FileKind::Regular | FileKind::CharDevice),
        }
    }

    fn wanted(self) -> &'static str {
        match self {
            Purpose::Read => "a regular file",
            Purpose::Append => "a regular file or a character device",
        }
    }
}

/// Why an untrusted path was not opened.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum PathProblem {
    /// `open(2)` failed with this errno.
    Open(i32),
    /// The last component is a symbolic link: not followed.
    Symlink,
    /// It is something the caller does not accept.
    Kind { found: FileKind, purpose: Purpose },
    /// A regular file with this many hard links.
    HardLinks(u64),
}

impl PathProblem {
    /// The path does not exist.
    pub(crate) fn is_missing(self) -> bool {
        self == PathProblem::Open(libc::ENOENT)
    }
}

impl fmt::Display for PathProblem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PathProblem::Open(errno) => write!(
                f,
                "cannot open: {}",
                nix::errno::Errno::from_raw(*errno).desc()
            ),
            PathProblem::Symlink => f.write_str("is a symbolic link (not followed)"),
            PathProblem::Kind { found, purpose } => {
                write!(f, "is {found}, not {}", purpose.wanted())
            }
            PathProblem::HardLinks(links) => {
                write!(f, "has {links} hard links (refused)")
            }
        }
    }
}

/// An open untrusted file and what `fstat` said of it.
#[derive(Debug)]
pub(crate) struct Opened {
    pub(crate) file: File,
    pub(crate) kind: FileKind,
    /// The file's owner.
    pub(crate) owner: u32,
    /// Its size (0 for a device).
    pub(crate) size: u64,
}

/// Opens `path` for `purpose` without following a symlink in its last
/// component and without blocking, and checks what it is (see the module
/// header).
pub(crate) fn open_untrusted(path: &Path, purpose: Purpose) -> Result<Opened, PathProblem> {
    let mut options = OpenOptions::new();
    match purpose {
        Purpose::Read => options.read(true),
        Purpose::Append => options.append(true).create(true).mode(CREATE_MODE),
    };
    // std adds O_CLOEXEC itself.
    options.custom_flags(libc::O_NOFOLLOW | libc::O_NONBLOCK | libc::O_NOCTTY);
    let file = options
        .open(path)
        .map_err(|err| explain_open_failure(path, purpose, &err))?;
    let meta = file
        .metadata()
        .map_err(|err| PathProblem::Open(err.raw_os_error().unwrap_or(libc::EIO)))?;
    let kind = FileKind::of(meta.file_type());
    if !purpose.accepts(kind) {
        return Err(PathProblem::Kind {
            found: kind,
            purpose,
        });
    }
    if kind == FileKind::Regular && meta.nlink() > 1 {
        return Err(PathProblem::HardLinks(meta.nlink()));
    }
    Ok(Opened {
        file,
        kind,
        owner: meta.uid(),
        size: if kind == FileKind::Regular {
            meta.len()
        } else {
            0
        },
    })
}

/// Puts a new file with `contents` and `mode` (umask or not) at `path`,
/// owned by svinit's user, whatever was there (a symlink is replaced, never
/// followed): written to a temporary file in the same directory, created
/// with `O_CREAT | O_EXCL | O_NOFOLLOW` (so nothing planted under that
/// name is opened), then renamed over `path`. A written pid file.
pub(crate) fn replace_untrusted(path: &Path, contents: &[u8], mode: u32) -> io::Result<()> {
    use std::io::Write;
    use std::os::unix::fs::PermissionsExt;
    use std::sync::atomic::{AtomicU32, Ordering};
    static TEMPORARIES: AtomicU32 = AtomicU32::new(0);

    let (Some(directory), Some(name)) = (path.parent(), path.file_name()) else {
        return Err(io::Error::from_raw_os_error(libc::EINVAL));
    };
    let mut last = io::Error::from_raw_os_error(libc::EEXIST);
    // A name taken (planted by a service, or left by a crash) is skipped.
    for _ in 0..8 {
        let n = TEMPORARIES.fetch_add(1, Ordering::Relaxed);
        let mut temporary_name = std::ffi::OsString::from(".");
        temporary_name.push(name);
        temporary_name.push(format!(".svinit-{}-{n}", std::process::id()));
        let temporary = directory.join(temporary_name);
        let created = OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(mode)
            .custom_flags(libc::O_NOFOLLOW | libc::O_NONBLOCK | libc::O_NOCTTY)
            .open(&temporary);
        let mut file = match created {
            Ok(file) => file,
            Err(err) if err.kind() == io::ErrorKind::AlreadyExists => {
                last = err;
                continue;
            }
            Err(err) => return Err(err),
        };
        let written = file
            .set_permissions(std::fs::Permissions::from_mode(mode))
            .and_then(|()| file.write_all(contents))
            .and_then(|()| std::fs::rename(&temporary, path));
        if written.is_err() {
            let _ = std::fs::remove_file(&temporary);
        }
        return written;
    }
    Err(last)
}

/// The open failed: when what is at `path` is not something `purpose`
/// accepts (a symlink refused by `O_NOFOLLOW`, a fifo without a reader,
/// a directory), say that; else the errno.
fn explain_open_failure(path: &Path, purpose: Purpose, err: &io::Error) -> PathProblem {
    let errno = err.raw_os_error().unwrap_or(libc::EIO);
    if errno == libc::ENOENT {
        return PathProblem::Open(errno);
    }
    match std::fs::symlink_metadata(path).map(|meta| FileKind::of(meta.file_type())) {
        Ok(FileKind::Symlink) => PathProblem::Symlink,
        Ok(found) if !purpose.accepts(found) => PathProblem::Kind { found, purpose },
        _ => PathProblem::Open(errno),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use nix::sys::stat::Mode;
    use std::io::{Read, Write};
    use std::path::PathBuf;

    struct TempDir(PathBuf);

    impl TempDir {
        fn new(tag: &str) -> TempDir {
            let path =
                std::env::temp_dir().join(format!("svinit-untrusted-{tag}-{}", std::process::id()));
            let _ = std::fs::remove_dir_all(&path);
            std::fs::create_dir_all(&path).expect("mkdir");
            TempDir(path)
        }
    }

    impl Drop for TempDir {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }

    #[test]
    fn a_regular_file_is_read_and_its_owner_told() {
        let dir = TempDir::new("regular");
        let path = dir.0.join("pid");
        std::fs::write(&path, "42\n").expect("write");
        let mut opened = open_untrusted(&path, Purpose::Read).expect("opens");
        assert_eq!(opened.kind, FileKind::Regular);
        assert_eq!(opened.owner, nix::unistd::geteuid().as_raw());
        assert_eq!(opened.size, 3);
        let mut text = String::new();
        opened.file.read_to_string(&mut text).expect("read");
        assert_eq!(text, "42\n");
    }

    #[test]
    fn a_symlink_is_never_followed() {
        let dir = TempDir::new("symlink");
        let target = dir.0.join("target");
        std::fs::write(&target, "root's\n").expect("write");
        let link = dir.0.join("link");
        std::os::unix::fs::symlink(&target, &link).expect("symlink");
        let dangling = dir.0.join("dangling");
        std::os::unix::fs::symlink(dir.0.join("nowhere"), &dangling).expect("symlink");
        for purpose in [Purpose::Read, Purpose::Append] {
            assert_eq!(
                open_untrusted(&link, purpose).err(),
                Some(PathProblem::Symlink)
            );
            // Not created through either.
            assert_eq!(
                open_untrusted(&dangling, purpose).err(),
                Some(PathProblem::Symlink)
            );
        }
        assert!(!dir.0.join("nowhere").exists());
        assert_eq!(std::fs::read_to_string(&target).expect("read"), "root's\n");
        assert_eq!(
            PathProblem::Symlink.to_string(),
            "is a symbolic link (not followed)"
        );
    }

    #[test]
    fn a_fifo_does_not_block_and_is_refused() {
        let dir = TempDir::new("fifo");
        let fifo = dir.0.join("fifo");
        nix::unistd::mkfifo(&fifo, Mode::from_bits_truncate(0o600)).expect("mkfifo");
        // No writer: a blocking open for reading would wait for one; no
        // reader: a non-blocking open for writing fails with ENXIO.
        for purpose in [Purpose::Read, Purpose::Append] {
            let problem = open_untrusted(&fifo, purpose).expect_err("refused");
            assert_eq!(
                problem,
                PathProblem::Kind {
                    found: FileKind::Fifo,
                    purpose
                }
            );
        }
        assert_eq!(
            open_untrusted(&fifo, Purpose::Read)
                .expect_err("refused")
                .to_string(),
            "is a fifo, not a regular file"
        );
    }

    #[test]
    fn devices_and_directories_are_refused_or_accepted_by_purpose() {
        let null = Path::new("/dev/null");
        assert_eq!(
            open_untrusted(null, Purpose::Read).err(),
            Some(PathProblem::Kind {
                found: FileKind::CharDevice,
                purpose: Purpose::Read
            })
        );
        let mut opened = open_untrusted(null, Purpose::Append).expect("a device to append to");
        assert_eq!(opened.kind, FileKind::CharDevice);
        assert_eq!(opened.size, 0);
        opened.file.write_all(b"x\n").expect("write");
        let dir = TempDir::new("dir");
        for purpose in [Purpose::Read, Purpose::Append] {
            assert_eq!(
                open_untrusted(&dir.0, purpose).err(),
                Some(PathProblem::Kind {
                    found: FileKind::Directory,
                    purpose
                })
            );
        }
        assert_eq!(
            open_untrusted(&dir.0, Purpose::Append)
                .expect_err("refused")
                .to_string(),
            "is a directory, not a regular file or a character device"
        );
    }

    #[test]
    fn appending_creates_with_0640_but_not_through_a_hard_link() {
        let dir = TempDir::new("append");
        let path = dir.0.join("log");
        let opened = open_untrusted(&path, Purpose::Append).expect("created");
        assert_eq!(opened.kind, FileKind::Regular);
        // 0640 less the umask: never more.
        let mode = std::fs::metadata(&path).expect("stat").mode() & 0o777;
        assert_eq!(mode & !0o640, 0, "mode {mode:o}");
        let link = dir.0.join("link");
        std::fs::hard_link(&path, &link).expect("ln");
        assert_eq!(
            open_untrusted(&link, Purpose::Append).err(),
            Some(PathProblem::HardLinks(2))
        );
        // Nor read: it could be a root-only file, or forge a trusted owner.
        assert_eq!(
            open_untrusted(&link, Purpose::Read).err(),
            Some(PathProblem::HardLinks(2))
        );
        let missing = dir.0.join("missing");
        let problem = open_untrusted(&missing, Purpose::Read).expect_err("missing");
        assert!(problem.is_missing());
        assert_eq!(
            problem.to_string(),
            "cannot open: No such file or directory"
        );
    }

    #[test]
    fn a_replaced_file_takes_the_place_of_a_symlink_without_following_it() {
        let dir = TempDir::new("replace");
        let target = dir.0.join("root-only");
        std::fs::write(&target, "secret\n").expect("write");
        let path = dir.0.join("web.pid");
        std::os::unix::fs::symlink(&target, &path).expect("symlink");
        // 0666: more than a usual umask lets through.
        replace_untrusted(&path, b"42\n", 0o666).expect("replaced");
        assert_eq!(std::fs::read_to_string(&target).expect("read"), "secret\n");
        let meta = std::fs::symlink_metadata(&path).expect("stat");
        assert!(meta.file_type().is_file(), "a regular file now");
        assert_eq!(meta.mode() & 0o777, 0o666, "whatever the umask");
        assert_eq!(std::fs::read_to_string(&path).expect("read"), "42\n");
        let names: Vec<_> = std::fs::read_dir(&dir.0)
            .expect("ls")
            .filter_map(|e| e.ok().map(|e| e.file_name()))
            .collect();
        assert_eq!(names.len(), 2, "no temporary file left: {names:?}");
        let missing = dir.0.join("no-such-dir").join("x.pid");
        assert!(replace_untrusted(&missing, b"1\n", 0o644).is_err());
    }
}
