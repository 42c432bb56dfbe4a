//! Creating the control socket file safely: its directory, a live or stale
//! socket already at the path, and permissions that are never looser than
//! the final ones, not even between bind() and chmod().
//!
//! No mode or owner is changed through a path that someone who can write
//! the directory could swap for a symlink between a check and the change
//! (SPEC.md §7): svinit's own directory is made with mkdir, opened with
//! `O_DIRECTORY | O_NOFOLLOW`, checked with fstat (a directory owned by
//! svinit's user) and changed with fchown/fchmod; the socket file is held
//! as an `O_PATH | O_NOFOLLOW` descriptor right after bind() (looked up in
//! that directory), changed with fchownat(`AT_EMPTY_PATH`) and with chmod
//! through /proc/self/fd (fchmod refuses `O_PATH` descriptors; svinit
//! mounts /proc before this in system mode). Both descriptors are kept, so
//! a reload changes the same files again.

use std::fmt;
use std::fs;
use std::io;
use std::os::fd::{AsFd, AsRawFd, OwnedFd};
use std::os::unix::fs::{DirBuilderExt, FileTypeExt, MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};

use mio::net::UnixListener;
use nix::errno::Errno;
use nix::fcntl::{AT_FDCWD, AtFlags, OFlag, openat};
use nix::sys::socket::{
    AddressFamily, SockFlag, SockType, UnixAddr, connect, getsockopt, socket, sockopt,
};
use nix::sys::stat::{Mode, fchmod, fstat, umask};
use nix::unistd::{Gid, fchown, fchownat, mkdir};

use super::access::SocketPermissions;

/// Why the socket could not be set up.
#[derive(Debug)]
pub(crate) enum BindError {
    /// Another svinit answers on this socket.
    InUse {
        path: PathBuf,
        pid: i32,
    },
    /// Something that is not a socket is at the path; it is left alone.
    NotASocket {
        path: PathBuf,
    },
    /// The socket's directory belongs to another user.
    UnsafeDirectory {
        dir: PathBuf,
        owner: u32,
    },
    Io {
        path: PathBuf,
        error: io::Error,
    },
}

impl fmt::Display for BindError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            BindError::InUse { path, pid: 0 } => write!(
                f,
                "something is listening on {} (not answering, or outside svinit's PID namespace)",
                path.display()
            ),
            BindError::InUse { path, pid } => write!(
                f,
                "another svinit (pid {pid}) is already answering on {}",
                path.display()
            ),
            BindError::NotASocket { path } => {
                write!(f, "{} exists and is not a socket", path.display())
            }
            BindError::UnsafeDirectory { dir, owner } => write!(
                f,
                "{} belongs to uid {owner}, not to svinit's user; refusing to put the control socket there",
                dir.display()
            ),
            BindError::Io { path, error } => write!(f, "{}: {error}", path.display()),
        }
    }
}

impl std::error::Error for BindError {}

fn io_error(path: &Path) -> impl FnOnce(io::Error) -> BindError + '_ {
    move |error| BindError::Io {
        path: path.to_path_buf(),
        error,
    }
}

/// The file the server bound, held open (`O_PATH`) so its mode and group
/// change through the descriptor, never through a path that could be
/// swapped for a symlink, and so that it is removed at exit only if the
/// path still names it (while held, its inode number cannot be reused).
#[derive(Debug)]
pub(crate) struct BoundSocket {
    pub(crate) path: PathBuf,
    device: u64,
    inode: u64,
    file: OwnedFd,
    /// svinit's own directory (created by it, or the default socket's),
    /// opened without following a symlink: its mode and group follow the
    /// policy, also on reload.
    directory: Option<OwnedFd>,
}

impl BoundSocket {
    /// Removes the socket file if it is still the one bound.
    pub(crate) fn remove(&self) {
        if let Ok(meta) = fs::symlink_metadata(&self.path)
            && meta.file_type().is_socket()
            && (meta.dev(), meta.ino()) == (self.device, self.inode)
        {
            let _ = fs::remove_file(&self.path);
        }
    }
}

/// Binds a listening socket at `path` with `permissions`.
///
/// The parent directory is created (mode `dir_mode`, group-owned) when
/// missing; when it exists it is adjusted only if `own_parent` (the default
/// path's directory, which is svinit's) and must then belong to `owner_uid`.
/// A socket file left at `path` by a dead svinit is replaced; one with a
/// live server behind it is `InUse`.
pub(crate) fn bind_control_socket(
    path: &Path,
    permissions: SocketPermissions,
    owner_uid: u32,
    own_parent: bool,
) -> Result<(UnixListener, BoundSocket), BindError> {
    let parent = parent_directory(path);
    let directory = prepare_directory(&parent, permissions, owner_uid, own_parent)?;
    clear_stale_socket(path)?;

    // The file appears as 0600 at most (0777 & ~0177) and only widens after
    // its group is set.
    let previous = umask(Mode::from_bits_truncate(0o177));
    let bound = UnixListener::bind(path);
    umask(previous);
    let listener = match bound {
        Ok(listener) => listener,
        // Another svinit bound it since `clear_stale_socket` looked: say
        // who, instead of running without a socket.
        Err(err) if err.kind() == io::ErrorKind::AddrInUse => {
            clear_stale_socket(path)?;
            return Err(io_error(path)(err));
        }
        Err(err) => return Err(io_error(path)(err)),
    };
    // Clients cannot pass descriptors (see `runtime::passed_fds`); the
    // accepted connections inherit this.
    crate::runtime::passed_fds::refuse(listener.as_fd());

    let file = open_socket_file(path, directory.as_ref()).map_err(io_error(path))?;
    let stat = fstat(&file).map_err(|errno| io_error(path)(errno.into()))?;
    if stat.st_mode & libc::S_IFMT != libc::S_IFSOCK {
        return Err(BindError::NotASocket {
            path: path.to_path_buf(),
        });
    }
    let bound = BoundSocket {
        path: path.to_path_buf(),
        device: stat.st_dev,
        inode: stat.st_ino,
        file,
        directory,
    };
    if let Err(error) = apply_socket_permissions(&bound, permissions) {
        bound.remove();
        return Err(error);
    }
    Ok((listener, bound))
}

/// The directory the socket file is in (`.` for a bare file name).
fn parent_directory(path: &Path) -> PathBuf {
    match path.parent() {
        Some(dir) if !dir.as_os_str().is_empty() => dir.to_path_buf(),
        _ => PathBuf::from("."),
    }
}

/// The socket file just bound at `path`, as an `O_PATH` descriptor of the
/// file itself (a symlink there is not followed: it would be refused as
/// not a socket), looked up in svinit's own directory when it has one.
fn open_socket_file(path: &Path, directory: Option<&OwnedFd>) -> io::Result<OwnedFd> {
    let flags = OFlag::O_PATH | OFlag::O_NOFOLLOW | OFlag::O_CLOEXEC;
    let opened = match (directory, path.file_name()) {
        (Some(directory), Some(name)) => openat(directory, name, flags, Mode::empty()),
        _ => openat(AT_FDCWD, path, flags, Mode::empty()),
    };
    opened.map_err(io::Error::from)
}

/// A change of policy (reload): the socket, then svinit's own directory
/// (which would otherwise keep group members out, or let them reach a
/// socket that is no longer theirs). The directory is closed to 0700 while
/// the socket changes, so neither is ever looser than its final mode.
pub(crate) fn change_permissions(
    bound: &BoundSocket,
    permissions: SocketPermissions,
) -> Result<(), BindError> {
    let dir = parent_directory(&bound.path);
    if let Some(directory) = &bound.directory {
        fchmod(directory, Mode::S_IRWXU).map_err(|errno| io_error(&dir)(errno.into()))?;
    }
    apply_socket_permissions(bound, permissions)?;
    if let Some(directory) = &bound.directory {
        set_directory_permissions(&dir, directory, permissions)?;
    }
    Ok(())
}

/// Sets the group then the mode of the bound socket, through its
/// descriptor: the group first, so group bits never apply to the wrong
/// group. A change of policy (reload) tightens to 0600 first for the same
/// reason.
fn apply_socket_permissions(
    bound: &BoundSocket,
    permissions: SocketPermissions,
) -> Result<(), BindError> {
    let path = bound.path.as_path();
    let failed = |errno: Errno| io_error(path)(errno.into());
    let stat = fstat(&bound.file).map_err(failed)?;
    let mode = stat.st_mode & 0o7777;
    if mode != 0o600 {
        chmod_through(&bound.file, 0o600).map_err(io_error(path))?;
    }
    if let Some(gid) = permissions.group
        && stat.st_gid != gid
    {
        fchownat(
            &bound.file,
            "",
            None,
            Some(Gid::from_raw(gid)),
            AtFlags::AT_EMPTY_PATH,
        )
        .map_err(failed)?;
    }
    if permissions.socket_mode != 0o600 {
        chmod_through(&bound.file, permissions.socket_mode).map_err(io_error(path))?;
    }
    Ok(())
}

/// chmod of the file an `O_PATH` descriptor holds (fchmod refuses those):
/// through its /proc/self/fd link, which leads to that very inode.
fn chmod_through(file: &OwnedFd, mode: u32) -> io::Result<()> {
    let link = format!("/proc/self/fd/{}", file.as_raw_fd());
    fs::set_permissions(&link, fs::Permissions::from_mode(mode)).map_err(|error| {
        io::Error::new(
            error.kind(),
            format!("cannot change the socket's mode through {link} (is /proc mounted?): {error}"),
        )
    })
}

/// Makes sure `dir` exists: missing ancestors are created (0700), then
/// `dir` itself with mkdir. When it is svinit's (created now, or
/// `own_parent`) it is opened without following a symlink, must be a
/// directory owned by `owner_uid`, and gets its mode and group from
/// `permissions` through that descriptor, which is returned. Another
/// existing directory (given with `-s`) is left as it is.
fn prepare_directory(
    dir: &Path,
    permissions: SocketPermissions,
    owner_uid: u32,
    own_parent: bool,
) -> Result<Option<OwnedFd>, BindError> {
    if let Some(ancestors) = dir.parent()
        && !ancestors.as_os_str().is_empty()
    {
        fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(ancestors)
            .map_err(io_error(ancestors))?;
    }
    let created = match mkdir(dir, Mode::S_IRWXU) {
        Ok(()) => true,
        Err(Errno::EEXIST) => false,
        Err(errno) => return Err(io_error(dir)(errno.into())),
    };
    if !created && !own_parent {
        return match fs::metadata(dir) {
            Ok(meta) if meta.is_dir() => Ok(None),
            Ok(_) => Err(not_a_directory(dir, "not a directory")),
            Err(err) => Err(io_error(dir)(err)),
        };
    }
    let flags = OFlag::O_RDONLY | OFlag::O_DIRECTORY | OFlag::O_NOFOLLOW | OFlag::O_CLOEXEC;
    let directory = match openat(AT_FDCWD, dir, flags, Mode::empty()) {
        Ok(fd) => fd,
        // A symlink gives ENOTDIR or ELOOP: say which it is (the lstat
        // only words the error; nothing is done through the path).
        Err(Errno::ELOOP | Errno::ENOTDIR) => {
            let symlink = fs::symlink_metadata(dir).is_ok_and(|meta| meta.is_symlink());
            let what = if symlink {
                "a symbolic link, not a directory; refusing to follow it"
            } else {
                "not a directory"
            };
            return Err(not_a_directory(dir, what));
        }
        Err(errno) => return Err(io_error(dir)(errno.into())),
    };
    let stat = fstat(&directory).map_err(|errno| io_error(dir)(errno.into()))?;
    if stat.st_uid != owner_uid {
        return Err(BindError::UnsafeDirectory {
            dir: dir.to_path_buf(),
            owner: stat.st_uid,
        });
    }
    set_directory_permissions(dir, &directory, permissions)?;
    Ok(Some(directory))
}

fn not_a_directory(dir: &Path, what: &str) -> BindError {
    BindError::Io {
        path: dir.to_path_buf(),
        error: io::Error::new(io::ErrorKind::NotADirectory, what),
    }
}

/// The group (when one is configured), then the mode of svinit's
/// directory, through its descriptor.
fn set_directory_permissions(
    dir: &Path,
    directory: &OwnedFd,
    permissions: SocketPermissions,
) -> Result<(), BindError> {
    let failed = |errno: Errno| io_error(dir)(errno.into());
    if let Some(gid) = permissions.group {
        fchown(directory, None, Some(Gid::from_raw(gid))).map_err(failed)?;
    }
    fchmod(directory, Mode::from_bits_truncate(permissions.dir_mode)).map_err(failed)
}

/// Removes a socket file nobody answers on; refuses when somebody does.
fn clear_stale_socket(path: &Path) -> Result<(), BindError> {
    let meta = match fs::symlink_metadata(path) {
        Ok(meta) => meta,
        Err(err) if err.kind() == io::ErrorKind::NotFound => return Ok(()),
        Err(err) => return Err(io_error(path)(err)),
    };
    if !meta.file_type().is_socket() {
        return Err(BindError::NotASocket {
            path: path.to_path_buf(),
        });
    }
    // Non-blocking: a server at the path that never accepts (its backlog
    // full) must not hold svinit up at boot; it is somebody all the same.
    let probe = || -> nix::Result<OwnedFd> {
        let fd = socket(
            AddressFamily::Unix,
            SockType::Stream,
            SockFlag::SOCK_CLOEXEC | SockFlag::SOCK_NONBLOCK,
            None,
        )?;
        connect(fd.as_raw_fd(), &UnixAddr::new(path)?)?;
        Ok(fd)
    };
    match probe() {
        Ok(stream) => {
            let pid = getsockopt(&stream, sockopt::PeerCredentials)
                .map(|credentials| credentials.pid())
                .unwrap_or(0);
            Err(BindError::InUse {
                path: path.to_path_buf(),
                pid,
            })
        }
        Err(Errno::EAGAIN) => Err(BindError::InUse {
            path: path.to_path_buf(),
            pid: 0,
        }),
        Err(Errno::ECONNREFUSED) => match fs::remove_file(path) {
            Ok(()) => Ok(()),
            Err(err) if err.kind() == io::ErrorKind::NotFound => Ok(()),
            Err(err) => Err(io_error(path)(err)),
        },
        Err(errno) => Err(io_error(path)(io::Error::from(errno))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn temp_dir(tag: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!(
            "svinit-socket-{tag}-{}-{:?}",
            std::process::id(),
            std::thread::current().id()
        ));
        let _ = fs::remove_dir_all(&dir);
        fs::create_dir_all(&dir).unwrap();
        dir
    }

    fn mode_of(path: &Path) -> u32 {
        fs::symlink_metadata(path).unwrap().mode() & 0o7777
    }

    fn me() -> u32 {
        nix::unistd::geteuid().as_raw()
    }

    const PRIVATE: SocketPermissions = SocketPermissions {
        socket_mode: 0o600,
        dir_mode: 0o700,
        group: None,
    };

    #[test]
    fn a_private_socket_is_0600_in_a_0700_directory() {
        let base = temp_dir("private");
        let path = base.join("run/svinit/control.sock");
        // A loose umask must not leak into the socket's mode.
        let previous = umask(Mode::from_bits_truncate(0o000));
        let result = bind_control_socket(&path, PRIVATE, me(), true);
        umask(previous);
        let (_listener, bound) = result.unwrap();
        assert_eq!(mode_of(&path), 0o600);
        assert_eq!(mode_of(path.parent().unwrap()), 0o700);
        bound.remove();
        assert!(!path.exists());
        fs::remove_dir_all(&base).unwrap();
    }

    #[test]
    fn group_access_gives_0660_and_both_groups_0666() {
        let base = temp_dir("group");
        let gid = nix::unistd::getegid().as_raw();
        let path = base.join("sv/control.sock");
        let group = SocketPermissions {
            socket_mode: 0o660,
            dir_mode: 0o750,
            group: Some(gid),
        };
        let (listener, bound) = bind_control_socket(&path, group, me(), true).unwrap();
        assert_eq!(mode_of(&path), 0o660);
        assert_eq!(mode_of(path.parent().unwrap()), 0o750);
        assert_eq!(fs::metadata(&path).unwrap().gid(), gid);

        // A reload widening to both groups.
        let both = SocketPermissions {
            socket_mode: 0o666,
            dir_mode: 0o755,
            group: Some(gid),
        };
        change_permissions(&bound, both).unwrap();
        assert_eq!(mode_of(&path), 0o666);
        assert_eq!(
            mode_of(path.parent().unwrap()),
            0o755,
            "the directory follows"
        );
        change_permissions(&bound, PRIVATE).unwrap();
        assert_eq!(mode_of(&path), 0o600);
        assert_eq!(mode_of(path.parent().unwrap()), 0o700);
        drop(listener);
        bound.remove();
        fs::remove_dir_all(&base).unwrap();
    }

    #[test]
    fn a_reload_that_adds_a_group_opens_the_directory_svinit_created() {
        let base = temp_dir("reload-group");
        let gid = nix::unistd::getegid().as_raw();
        // A -s path in a directory svinit creates (own_parent false).
        let path = base.join("made/control.sock");
        let (listener, bound) = bind_control_socket(&path, PRIVATE, me(), false).unwrap();
        assert_eq!(mode_of(path.parent().unwrap()), 0o700);
        let group = SocketPermissions {
            socket_mode: 0o660,
            dir_mode: 0o750,
            group: Some(gid),
        };
        change_permissions(&bound, group).unwrap();
        assert_eq!(mode_of(&path), 0o660);
        assert_eq!(
            mode_of(path.parent().unwrap()),
            0o750,
            "group members must be able to reach the socket after the reload"
        );
        drop(listener);
        bound.remove();
        fs::remove_dir_all(&base).unwrap();
    }

    #[test]
    fn a_foreign_directory_is_left_alone_unless_it_is_ours() {
        let base = temp_dir("foreign");
        fs::set_permissions(&base, fs::Permissions::from_mode(0o755)).unwrap();
        let path = base.join("custom.sock");
        let (_listener, bound) = bind_control_socket(&path, PRIVATE, me(), false).unwrap();
        assert_eq!(
            mode_of(&base),
            0o755,
            "a given -s directory is not chmod-ed"
        );
        assert_eq!(mode_of(&path), 0o600);
        bound.remove();

        // svinit's own directory owned by someone else is refused.
        let err = bind_control_socket(&path, PRIVATE, me() + 1, true).unwrap_err();
        assert!(matches!(err, BindError::UnsafeDirectory { .. }), "{err}");
        fs::remove_dir_all(&base).unwrap();
    }

    #[test]
    fn a_stale_socket_is_replaced_and_a_live_one_refused() {
        let base = temp_dir("stale");
        let path = base.join("control.sock");
        {
            // A socket whose server is gone: the file stays behind.
            let _gone = std::os::unix::net::UnixListener::bind(&path).unwrap();
        }
        assert!(path.exists());
        let (listener, bound) = bind_control_socket(&path, PRIVATE, me(), false).unwrap();

        let err = bind_control_socket(&path, PRIVATE, me(), false).unwrap_err();
        match &err {
            BindError::InUse { pid, .. } => assert_eq!(*pid, std::process::id() as i32),
            other => panic!("expected InUse, got {other}"),
        }
        assert!(err.to_string().contains("control.sock"), "{err}");
        drop(listener);
        bound.remove();

        fs::write(&path, b"not a socket").unwrap();
        let err = bind_control_socket(&path, PRIVATE, me(), false).unwrap_err();
        assert!(matches!(err, BindError::NotASocket { .. }), "{err}");
        assert_eq!(fs::read(&path).unwrap(), b"not a socket");
        fs::remove_dir_all(&base).unwrap();
    }

    #[test]
    fn a_server_that_never_accepts_does_not_hold_up_the_bind() {
        let base = temp_dir("no-accept");
        let path = base.join("control.sock");
        let listener = socket(
            AddressFamily::Unix,
            SockType::Stream,
            SockFlag::SOCK_CLOEXEC,
            None,
        )
        .unwrap();
        nix::sys::socket::bind(listener.as_raw_fd(), &UnixAddr::new(&path).unwrap()).unwrap();
        nix::sys::socket::listen(&listener, nix::sys::socket::Backlog::new(0).unwrap()).unwrap();
        // Fill the backlog with connections nobody accepts.
        let mut queued = Vec::new();
        for _ in 0..8 {
            let fd = socket(
                AddressFamily::Unix,
                SockType::Stream,
                SockFlag::SOCK_NONBLOCK,
                None,
            )
            .unwrap();
            if connect(fd.as_raw_fd(), &UnixAddr::new(&path).unwrap()).is_err() {
                break;
            }
            queued.push(fd);
        }
        let (done, result) = std::sync::mpsc::channel();
        let probe = path.clone();
        std::thread::spawn(move || {
            let _ = done.send(bind_control_socket(&probe, PRIVATE, me(), false).map(|_| ()));
        });
        let outcome = result
            .recv_timeout(std::time::Duration::from_secs(5))
            .expect("the bind blocked on a server that does not accept");
        assert!(
            matches!(outcome, Err(BindError::InUse { .. })),
            "{outcome:?}"
        );
        drop(queued);
        drop(listener);
        fs::remove_dir_all(&base).unwrap();
    }

    #[test]
    fn removal_spares_a_socket_that_replaced_ours() {
        let base = temp_dir("replaced");
        let path = base.join("control.sock");
        let (listener, bound) = bind_control_socket(&path, PRIVATE, me(), false).unwrap();
        drop(listener);
        fs::remove_file(&path).unwrap();
        let _other = std::os::unix::net::UnixListener::bind(&path).unwrap();
        bound.remove();
        assert!(path.exists());
        fs::remove_dir_all(&base).unwrap();
    }

    fn make_dir(path: &Path, mode: u32) -> PathBuf {
        fs::create_dir(path).unwrap();
        fs::set_permissions(path, fs::Permissions::from_mode(mode)).unwrap();
        path.to_path_buf()
    }

    /// Runs `attempt` until `attacker` (another thread, looping until told
    /// to stop) has had 3 s or 20000 chances, checking `victim` after
    /// each: its mode must stay `mode`.
    fn race(victim: &Path, mode: u32, attacker: impl FnMut() + Send, mut attempt: impl FnMut()) {
        let stop = std::sync::atomic::AtomicBool::new(false);
        let stop = &stop;
        std::thread::scope(|scope| {
            let mut attacker = attacker;
            scope.spawn(move || {
                while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                    attacker();
                }
            });
            let deadline = std::time::Instant::now() + std::time::Duration::from_secs(3);
            for round in 0..20_000 {
                attempt();
                let now = mode_of(victim);
                if now != mode {
                    stop.store(true, std::sync::atomic::Ordering::Relaxed);
                    panic!(
                        "round {round}: {} changed from {mode:o} to {now:o}",
                        victim.display()
                    );
                }
                if std::time::Instant::now() > deadline {
                    break;
                }
            }
            stop.store(true, std::sync::atomic::Ordering::Relaxed);
        });
    }

    #[test]
    fn a_directory_swapped_for_a_symlink_never_redirects_a_chmod() {
        let base = temp_dir("dir-race");
        let victim = make_dir(&base.join("victim"), 0o755);
        let dir = base.join("svinit");
        let path = dir.join("control.sock");
        race(
            &victim,
            0o755,
            || {
                // Whatever svinit just made there becomes a symlink.
                let _ = fs::remove_file(dir.join("control.sock"));
                let _ = fs::remove_dir(&dir);
                let _ = std::os::unix::fs::symlink(&victim, &dir);
                let _ = fs::remove_file(&dir);
            },
            || {
                if let Ok((_listener, bound)) = bind_control_socket(&path, PRIVATE, me(), false) {
                    bound.remove();
                }
            },
        );
        fs::remove_dir_all(&base).unwrap();
    }

    #[test]
    fn a_socket_swapped_for_a_symlink_never_redirects_a_chmod() {
        let base = temp_dir("sock-race");
        let victim = base.join("victim");
        fs::write(&victim, "secret").unwrap();
        fs::set_permissions(&victim, fs::Permissions::from_mode(0o600)).unwrap();
        let path = base.join("control.sock");
        let decoy = base.join("decoy");
        let both = SocketPermissions {
            socket_mode: 0o666,
            dir_mode: 0o755,
            group: Some(nix::unistd::getegid().as_raw()),
        };
        race(
            &victim,
            0o600,
            || {
                // Replace the socket, once bound, by a symlink in one step.
                let _ = std::os::unix::fs::symlink(&victim, &decoy);
                if fs::symlink_metadata(&path).is_ok_and(|meta| meta.file_type().is_socket()) {
                    let _ = fs::rename(&decoy, &path);
                }
            },
            || {
                if let Ok((_listener, bound)) = bind_control_socket(&path, both, me(), false) {
                    bound.remove();
                }
                if fs::symlink_metadata(&path).is_ok_and(|meta| meta.file_type().is_symlink()) {
                    let _ = fs::remove_file(&path);
                }
            },
        );
        fs::remove_dir_all(&base).unwrap();
    }

    #[test]
    fn a_symlink_where_svinits_directory_should_be_is_refused() {
        let base = temp_dir("dir-symlink");
        let elsewhere = make_dir(&base.join("elsewhere"), 0o755);
        std::os::unix::fs::symlink(&elsewhere, base.join("svinit")).unwrap();
        let path = base.join("svinit/control.sock");
        let err = bind_control_socket(&path, PRIVATE, me(), true).unwrap_err();
        assert!(err.to_string().contains("symbolic link"), "{err}");
        assert!(err.to_string().contains("svinit"), "{err}");
        assert_eq!(mode_of(&elsewhere), 0o755, "the link's target is untouched");
        assert!(!elsewhere.join("control.sock").exists());
        fs::remove_dir_all(&base).unwrap();
    }

    #[test]
    fn svinits_directory_owned_by_another_user_is_refused_and_untouched() {
        if !nix::unistd::geteuid().is_root() {
            eprintln!("skipped: needs root to chown");
            return;
        }
        let base = temp_dir("dir-owner");
        let dir = make_dir(&base.join("svinit"), 0o777);
        std::os::unix::fs::chown(&dir, Some(65534), Some(65534)).unwrap();
        let err = bind_control_socket(&dir.join("control.sock"), PRIVATE, me(), true).unwrap_err();
        match &err {
            BindError::UnsafeDirectory { owner, .. } => assert_eq!(*owner, 65534),
            other => panic!("expected UnsafeDirectory, got {other}"),
        }
        assert_eq!(mode_of(&dir), 0o777);
        assert!(!dir.join("control.sock").exists());
        fs::remove_dir_all(&base).unwrap();
    }

    #[test]
    fn a_reload_changes_the_bound_socket_even_if_its_path_now_names_a_symlink() {
        let base = temp_dir("reload-symlink");
        let path = base.join("sv/control.sock");
        let (listener, bound) = bind_control_socket(&path, PRIVATE, me(), false).unwrap();
        // The socket moves away; a symlink to a private file takes its name.
        let moved = base.join("sv/moved.sock");
        fs::rename(&path, &moved).unwrap();
        let victim = base.join("victim");
        fs::write(&victim, "secret").unwrap();
        fs::set_permissions(&victim, fs::Permissions::from_mode(0o600)).unwrap();
        std::os::unix::fs::symlink(&victim, &path).unwrap();
        let group = SocketPermissions {
            socket_mode: 0o660,
            dir_mode: 0o750,
            group: Some(nix::unistd::getegid().as_raw()),
        };
        change_permissions(&bound, group).unwrap();
        assert_eq!(mode_of(&victim), 0o600, "the symlink's target is untouched");
        assert_eq!(mode_of(&moved), 0o660, "the bound socket itself changed");
        // Nor is the symlink removed at exit: it is not the socket bound.
        drop(listener);
        bound.remove();
        assert!(fs::symlink_metadata(&path).is_ok());
        fs::remove_dir_all(&base).unwrap();
    }
}
