//! Where the control socket is (SPEC.md §1), which both binaries compute
//! the same way: `-s`, else `SVINIT_SOCKET`, else a default by user.

use std::path::PathBuf;

/// The environment variable that overrides the socket path (like `-s`).
pub const SOCKET_ENV: &str = "SVINIT_SOCKET";

/// The control socket path of SPEC.md §1 when neither `-s` nor
/// `SVINIT_SOCKET` is given: `/run/svinit/control.sock` for root, else
/// `$XDG_RUNTIME_DIR/svinit/control.sock`, else `/tmp/svinit-$UID/control.sock`.
pub fn default_socket_path() -> PathBuf {
    let uid = nix::unistd::geteuid();
    let runtime_dir = std::env::var_os("XDG_RUNTIME_DIR").map(PathBuf::from);
    default_socket_path_for(uid.as_raw(), runtime_dir)
}

/// `default_socket_path` for a given uid and `$XDG_RUNTIME_DIR`.
pub fn default_socket_path_for(uid: u32, xdg_runtime_dir: Option<PathBuf>) -> PathBuf {
    if uid == 0 {
        return PathBuf::from("/run/svinit/control.sock");
    }
    match xdg_runtime_dir {
        Some(dir) if dir.is_absolute() => dir.join("svinit").join("control.sock"),
        _ => PathBuf::from(format!("/tmp/svinit-{uid}/control.sock")),
    }
}

/// The socket path both binaries use: `-s PATH` if given, else
/// `SVINIT_SOCKET` if set and not empty, else the default.
pub fn socket_path(flag: Option<PathBuf>) -> PathBuf {
    flag.or_else(|| {
        std::env::var_os(SOCKET_ENV)
            .filter(|value| !value.is_empty())
            .map(PathBuf::from)
    })
    .unwrap_or_else(default_socket_path)
}
