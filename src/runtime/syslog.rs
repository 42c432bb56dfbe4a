//! `output "syslog"`: service lines as datagrams to the local syslog socket.
//!
//! Format: the local form glibc's `syslog(3)` sends to /dev/log, which
//! rsyslog, syslog-ng, busybox syslogd and journald's /dev/log all accept:
//! `<PRI>Mmm dd hh:mm:ss TAG[PID]: MESSAGE` (RFC 3164 without the
//! hostname, which the daemon adds; local time, day padded with a space).
//! PRI is facility `daemon` (3) × 8 + severity: `info` (6) for stdout,
//! `err` (3) for stderr. TAG is the service name, PID its process.
//!
//! One unbound non-blocking datagram socket serves every service; each line
//! is a `sendto` to the path, so a restarted syslogd is reached again with
//! nothing to reconnect. When a send fails (no socket, ECONNREFUSED …) the
//! reason becomes the problem shown in status and nothing is tried for
//! [`RETRY_INTERVAL`]; lines meanwhile are only in the ring buffer. A
//! receiver that does not keep up (EAGAIN) costs the line, never a wait.
//! The path is `/dev/log`, or `SVINIT_SYSLOG_SOCKET` from svinit's
//! environment (tests, chroots).

use std::io;
use std::os::unix::net::UnixDatagram;
use std::path::PathBuf;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use crate::{info, warn};

pub(crate) const DEFAULT_SOCKET: &str = "/dev/log";
/// The environment variable that overrides [`DEFAULT_SOCKET`].
pub const SOCKET_ENV: &str = "SVINIT_SYSLOG_SOCKET";
/// After a failed send, the next attempt waits at least this long.
pub(crate) const RETRY_INTERVAL: Duration = Duration::from_secs(1);
/// Longer messages are cut (syslogd's usual limit is 8 KiB with header).
pub(crate) const MAX_MESSAGE: usize = 8000;

const FACILITY_DAEMON: u8 = 3;

/// Which stream a line came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Stream {
    Stdout,
    Stderr,
}

impl Stream {
    /// `<PRI>`: daemon.info for stdout, daemon.err for stderr.
    pub(crate) fn priority(self) -> u8 {
        let severity = match self {
            Stream::Stdout => 6,
            Stream::Stderr => 3,
        };
        FACILITY_DAEMON * 8 + severity
    }
}

/// A broken-down local time, as the header shows it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Stamp {
    /// 0 = January.
    pub(crate) month: u8,
    pub(crate) day: u8,
    pub(crate) hour: u8,
    pub(crate) minute: u8,
    pub(crate) second: u8,
}

impl Stamp {
    /// `time` in the local time zone (UTC when it cannot be had).
    pub(crate) fn local(time: SystemTime) -> Stamp {
        let secs = time
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_secs())
            .unwrap_or(0);
        // `time_t` is not named: musl's libc marks the alias deprecated.
        let t = secs.try_into().unwrap_or(0);
        // SAFETY: an all-zero `tm` is valid; localtime_r only writes it.
        let mut tm: libc::tm = unsafe { std::mem::zeroed() };
        // SAFETY: both pointers are valid for the call.
        let ok = unsafe { !libc::localtime_r(&t, &mut tm).is_null() };
        if !ok {
            return Stamp {
                month: 0,
                day: 1,
                hour: 0,
                minute: 0,
                second: 0,
            };
        }
        let field = |v: libc::c_int| u8::try_from(v).unwrap_or(0);
        Stamp {
            month: field(tm.tm_mon),
            day: field(tm.tm_mday),
            hour: field(tm.tm_hour),
            minute: field(tm.tm_min),
            second: field(tm.tm_sec),
        }
    }
}

const MONTHS: [&str; 12] = [
    "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
];

/// Writes one datagram into `out` (cleared first): header, then `line`
/// without its line ending, cut at [`MAX_MESSAGE`] bytes.
pub(crate) fn format_line(
    out: &mut Vec<u8>,
    stream: Stream,
    stamp: Stamp,
    tag: &str,
    pid: Option<i32>,
    line: &[u8],
) {
    use std::io::Write;
    out.clear();
    let month = MONTHS.get(usize::from(stamp.month)).unwrap_or(&"Jan");
    let _ = write!(
        out,
        "<{}>{month} {:>2} {:02}:{:02}:{:02} {tag}",
        stream.priority(),
        stamp.day,
        stamp.hour,
        stamp.minute,
        stamp.second
    );
    if let Some(pid) = pid {
        let _ = write!(out, "[{pid}]");
    }
    out.extend_from_slice(b": ");
    let mut message = line.strip_suffix(b"\n").unwrap_or(line);
    message = message.strip_suffix(b"\r").unwrap_or(message);
    out.extend_from_slice(&message[..message.len().min(MAX_MESSAGE)]);
}

/// The shared sender.
#[derive(Debug)]
pub(crate) struct SyslogClient {
    path: PathBuf,
    socket: Option<UnixDatagram>,
    /// Why lines do not reach syslog, while they do not.
    problem: Option<String>,
    /// No attempt before this, after a failure.
    retry_at: Option<Instant>,
    datagram: Vec<u8>,
}

impl SyslogClient {
    pub(crate) fn new(path: PathBuf) -> SyslogClient {
        SyslogClient {
            path,
            socket: None,
            problem: None,
            retry_at: None,
            datagram: Vec::new(),
        }
    }

    /// At `SVINIT_SYSLOG_SOCKET`, else /dev/log.
    pub(crate) fn from_env() -> SyslogClient {
        let path = std::env::var_os(SOCKET_ENV)
            .filter(|value| !value.is_empty())
            .map_or_else(|| PathBuf::from(DEFAULT_SOCKET), PathBuf::from);
        SyslogClient::new(path)
    }

    pub(crate) fn problem(&self) -> Option<&str> {
        self.problem.as_deref()
    }

    /// Sends each line of `lines` (one or more, each ending in `\n`, or a
    /// partial line without) as its own datagram.
    pub(crate) fn send_lines(
        &mut self,
        stream: Stream,
        tag: &str,
        pid: Option<i32>,
        lines: &[u8],
        now: Instant,
        wall: SystemTime,
    ) {
        if self.retry_at.is_some_and(|at| now < at) {
            return;
        }
        let stamp = Stamp::local(wall);
        for line in lines.split_inclusive(|&b| b == b'\n') {
            let mut datagram = std::mem::take(&mut self.datagram);
            format_line(&mut datagram, stream, stamp, tag, pid, line);
            let sent = self.send(&datagram);
            self.datagram = datagram;
            match sent {
                Ok(()) => self.clear_problem(),
                // Not keeping up: this line is lost to syslog only.
                Err(err) if err.kind() == io::ErrorKind::WouldBlock => {}
                Err(err) => {
                    self.retry_at = Some(now + RETRY_INTERVAL);
                    self.socket = None;
                    self.set_problem(format!(
                        "cannot send to syslog at {}: {}; the lines stay in the ring buffer (svctl logs)",
                        self.path.display(),
                        crate::transcript::describe(&err)
                    ));
                    return;
                }
            }
        }
    }

    fn send(&mut self, datagram: &[u8]) -> io::Result<()> {
        let socket = match &self.socket {
            Some(socket) => socket,
            None => {
                let socket = UnixDatagram::unbound()?;
                socket.set_nonblocking(true)?;
                self.socket.insert(socket)
            }
        };
        socket.send_to(datagram, &self.path).map(|_| ())
    }

    fn set_problem(&mut self, problem: String) {
        if self.problem.as_ref() != Some(&problem) {
            warn!("", "{problem}");
            self.problem = Some(problem);
        }
    }

    fn clear_problem(&mut self) {
        self.retry_at = None;
        if self.problem.take().is_some() {
            info!("", "syslog at {} reachable again", self.path.display());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn stamp() -> Stamp {
        Stamp {
            month: 10,
            day: 2,
            hour: 9,
            minute: 5,
            second: 7,
        }
    }

    fn text(stream: Stream, pid: Option<i32>, line: &[u8]) -> String {
        let mut out = Vec::new();
        format_line(&mut out, stream, stamp(), "web", pid, line);
        String::from_utf8_lossy(&out).into_owned()
    }

    #[test]
    fn stdout_is_daemon_info_and_stderr_daemon_err() {
        assert_eq!(
            text(Stream::Stdout, Some(42), b"hello\n"),
            "<30>Nov  2 09:05:07 web[42]: hello"
        );
        assert_eq!(
            text(Stream::Stderr, Some(42), b"oops\r\n"),
            "<27>Nov  2 09:05:07 web[42]: oops"
        );
        assert_eq!(
            text(Stream::Stdout, None, b"partial"),
            "<30>Nov  2 09:05:07 web: partial"
        );
    }

    #[test]
    fn two_digit_days_and_long_lines() {
        let mut out = Vec::new();
        let mut late = stamp();
        late.day = 23;
        late.month = 0;
        format_line(&mut out, Stream::Stdout, late, "t", None, &[b'x'; 9000]);
        assert!(out.starts_with(b"<30>Jan 23 09:05:07 t: xxx"));
        assert_eq!(out.len(), "<30>Jan 23 09:05:07 t: ".len() + MAX_MESSAGE);
    }

    #[test]
    fn a_missing_socket_is_a_problem_retried_after_the_interval() {
        let dir = std::env::temp_dir().join(format!("svinit-syslog-{}", std::process::id()));
        let _ = std::fs::create_dir_all(&dir);
        let path = dir.join("log");
        let _ = std::fs::remove_file(&path);
        let mut client = SyslogClient::new(path.clone());
        let now = Instant::now();
        let wall = SystemTime::now();
        client.send_lines(Stream::Stdout, "a", Some(1), b"one\n", now, wall);
        let problem = client.problem().unwrap_or_default().to_string();
        assert!(problem.contains("No such file or directory"), "{problem}");
        let listener = UnixDatagram::bind(&path).map_err(|e| e.to_string());
        let Ok(listener) = listener else {
            return;
        };
        let _ = listener.set_nonblocking(true);
        client.send_lines(Stream::Stdout, "a", Some(1), b"two\n", now, wall);
        let mut buf = [0u8; 256];
        assert!(listener.recv(&mut buf).is_err(), "not retried yet");
        let later = now + RETRY_INTERVAL;
        client.send_lines(Stream::Stderr, "a", Some(1), b"three\nfour\n", later, wall);
        assert_eq!(client.problem(), None);
        let first = listener.recv(&mut buf).unwrap_or(0);
        assert!(buf[..first].starts_with(b"<27>"));
        assert!(buf[..first].ends_with(b" a[1]: three"));
        let second = listener.recv(&mut buf).unwrap_or(0);
        assert!(buf[..second].ends_with(b" a[1]: four"));
        let _ = std::fs::remove_dir_all(&dir);
    }
}
