//! The few facts of /proc/PID that readiness and `type "forking"` need:
//! state, parent, process group and session of a pid (`stat`), and its
//! real uid (`status`).

/// What /proc/PID/stat says about a process.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct ProcStat {
    pub(crate) state: char,
    pub(crate) ppid: i32,
    pub(crate) pgrp: i32,
    pub(crate) session: i32,
}

/// `None` when the process does not exist (or /proc is not mounted).
pub(crate) fn read(pid: i32) -> Option<ProcStat> {
    read_with_command(pid).map(|(_, stat)| stat)
}

/// The same, with the command name (`comm`).
pub(crate) fn read_with_command(pid: i32) -> Option<(String, ProcStat)> {
    if pid <= 0 {
        return None;
    }
    let text = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let command = command(&text)?.to_string();
    Some((command, parse(&text)?))
}

/// The real uid of `pid` (the first field of `Uid:` in /proc/PID/status);
/// `None` when the process does not exist.
pub(crate) fn real_uid(pid: i32) -> Option<u32> {
    if pid <= 0 {
        return None;
    }
    let text = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    parse_real_uid(&text)
}

fn parse_real_uid(status: &str) -> Option<u32> {
    let line = status.lines().find_map(|line| line.strip_prefix("Uid:"))?;
    line.split_ascii_whitespace().next()?.parse().ok()
}

fn command(stat: &str) -> Option<&str> {
    let open = stat.find('(')?;
    let close = stat.rfind(')')?;
    stat.get(open + 1..close)
}

/// The command name may hold spaces and parentheses: the fields after it
/// are found from the last `)`.
fn parse(stat: &str) -> Option<ProcStat> {
    let close = stat.rfind(')')?;
    let mut rest = stat.get(close + 1..)?.split_ascii_whitespace();
    let state = rest.next()?.chars().next()?;
    let ppid = rest.next()?.parse().ok()?;
    let pgrp = rest.next()?.parse().ok()?;
    let session = rest.next()?.parse().ok()?;
    Some(ProcStat {
        state,
        ppid,
        pgrp,
        session,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fields_after_an_odd_command_name() {
        let stat = "42 (a) b (c)) S 7 40 41 0 -1";
        assert_eq!(
            parse(stat),
            Some(ProcStat {
                state: 'S',
                ppid: 7,
                pgrp: 40,
                session: 41
            })
        );
        assert_eq!(command(stat), Some("a) b (c)"));
        assert_eq!(parse("42 (sh) S 7 40"), None);
        assert_eq!(parse("garbage"), None);
    }

    #[test]
    fn the_real_uid_is_the_first_of_four() {
        let status = "Name:\tsh\nUmask:\t0022\nUid:\t65534\t0\t0\t0\nGid:\t0\t0\t0\t0\n";
        assert_eq!(parse_real_uid(status), Some(65534));
        assert_eq!(parse_real_uid("Name:\tsh\n"), None);
        assert_eq!(
            real_uid(std::process::id() as i32),
            Some(nix::unistd::getuid().as_raw())
        );
        assert_eq!(real_uid(-3), None);
    }

    #[test]
    fn our_own_stat_reads() {
        let me = read(std::process::id() as i32).expect("own stat");
        assert_eq!(me.ppid, nix::unistd::getppid().as_raw());
        assert!(read(-5).is_none());
    }
}
