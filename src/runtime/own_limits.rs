//! svinit's own resource limits, set once at start-up (not a service's:
//! those are in the spawn plan).

/// Raises svinit's own soft open-files limit to the hard one, as systemd
/// does: it keeps a pipe or two per service, and a soft limit of 1,024
/// would cap it at a few hundred services. Returns the limit it had, which
/// services keep (programs using `select()` break above 1,024), or `None`
/// when nothing changed. Raises once; later calls return the same answer.
pub(crate) fn raise_own_nofile() -> Option<(libc::rlim_t, libc::rlim_t)> {
    static ORIGINAL: std::sync::OnceLock<Option<(libc::rlim_t, libc::rlim_t)>> =
        std::sync::OnceLock::new();
    *ORIGINAL.get_or_init(raise_nofile_to_hard)
}

fn raise_nofile_to_hard() -> Option<(libc::rlim_t, libc::rlim_t)> {
    let mut limit = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: `limit` is a valid rlimit for getrlimit to fill in.
    if unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit) } != 0
        || limit.rlim_cur >= limit.rlim_max
    {
        return None;
    }
    let original = (limit.rlim_cur, limit.rlim_max);
    let raised = libc::rlimit {
        rlim_cur: limit.rlim_max,
        rlim_max: limit.rlim_max,
    };
    // SAFETY: `raised` is a valid rlimit.
    (unsafe { libc::setrlimit(libc::RLIMIT_NOFILE, &raised) } == 0).then_some(original)
}
