//! A stalled stdout or console, and internal errors: svinit keeps serving.
//!
//! SPEC §7 "Nothing blocks the loop": svinit's stdout (the services'
//! `NAME | line`), its stderr (its own event log, config diagnostics, the
//! panic message) and, in system mode, the console may be a pipe nobody
//! reads (a container runtime's stalled log pipe), a terminal held by
//! Ctrl-S, or a socket whose reader is gone to lunch. svinit must still
//! answer `svctl` and obey SIGTERM; the lines it cannot write are counted
//! (`svctl status`) and the services' lines are still in `svctl logs`.
//! Each destination is stalled before svinit writes its first line (filled
//! to the brim by the test), so every write svinit makes to it is one that
//! would block.
//!
//! SPEC §7 "A panic is contained": with the debug-only fault injection
//! (`SVINIT_TEST_PANIC`, src/fault.rs) svinit panics at boot or in the
//! loop; it logs it, looks at every event source again (the rest of the
//! batch of edge-triggered events is gone) and goes on; a panic that
//! repeats cannot make it spin. These tests need the debug binary.

use std::io::{BufRead, BufReader, Write};
use std::os::fd::{AsFd, AsRawFd, OwnedFd};
use std::os::unix::net::UnixStream;
use std::os::unix::process::CommandExt;
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use nix::errno::Errno;
use nix::fcntl::{FcntlArg, FdFlag, OFlag, fcntl};
use nix::sys::signal::{Signal, kill};
use nix::sys::socket::{MsgFlags, send};
use nix::sys::stat::Mode as FileMode;
use nix::sys::termios::{FlowArg, tcflow};
use nix::unistd::Pid;
use serde_json::Value;

use crate::control::{socket, status_json, svctl_bin};
use crate::harness::{DEADLINE, Mode, Svinit, TempDir, poll_until, proc_stat};

/// How long one `svctl` may take to answer: svinit is idle but for a
/// chatty service, so anything near this is a hang.
const ANSWER_WITHIN: Duration = Duration::from_secs(3);

/// A service that writes ~1 MB at once (far more than any pipe, socket
/// buffer or svinit queue holds), then a line every 50 ms; one whose
/// `output "inherit"` shares svinit's stdout; and one that just runs.
const SERVICES: &str = r#"
service "chatty" {
    shell "yes 'chatty says hello with a line of some length' | head -n 20000; i=0; while :; do i=$((i+1)); echo tick $i; sleep 0.05; done"
}
service "inheritor" {
    exec "sleep" "1000"
    output "inherit"
}
service "steady" {
    exec "sleep" "1000"
}
"#;

// ------------------------------------------------------------ destinations

/// A destination for svinit's stdout or stderr that nobody reads, full
/// before svinit starts. `svinit_end` is what svinit gets; `reader` is
/// where the test can read what svinit managed to write.
struct Stalled {
    svinit_end: OwnedFd,
    reader: OwnedFd,
    /// To resume a stopped terminal (Ctrl-Q).
    pty_slave: Option<OwnedFd>,
}

impl Stalled {
    /// A pipe filled to capacity with `prefill` lines.
    fn pipe() -> Stalled {
        let (read, write) = nix::unistd::pipe2(OFlag::O_CLOEXEC).expect("pipe");
        // Fill it through a description of our own: svinit must get the
        // pipe with its flags untouched (blocking).
        let own = nix::fcntl::open(
            format!("/proc/self/fd/{}", write.as_raw_fd()).as_str(),
            OFlag::O_WRONLY | OFlag::O_NONBLOCK | OFlag::O_CLOEXEC,
            FileMode::empty(),
        )
        .expect("reopen the pipe");
        fill(|chunk| nix::unistd::write(&own, chunk));
        Stalled {
            svinit_end: write,
            reader: read,
            pty_slave: None,
        }
    }

    /// A terminal whose output is stopped (Ctrl-S, `tcflow(TCOOFF)`) and
    /// whose master nobody reads.
    fn stopped_terminal() -> Stalled {
        let pty = nix::pty::openpty(None, None).expect("openpty");
        for fd in [&pty.master, &pty.slave] {
            fcntl(fd, FcntlArg::F_SETFD(FdFlag::FD_CLOEXEC)).expect("cloexec");
        }
        tcflow(&pty.slave, FlowArg::TCOOFF).expect("tcflow TCOOFF");
        Stalled {
            svinit_end: pty.slave.try_clone().expect("dup"),
            reader: pty.master,
            pty_slave: Some(pty.slave),
        }
    }

    /// A terminal whose master nobody reads, its buffers full.
    fn unread_terminal() -> Stalled {
        let pty = nix::pty::openpty(None, None).expect("openpty");
        for fd in [&pty.master, &pty.slave] {
            fcntl(fd, FcntlArg::F_SETFD(FdFlag::FD_CLOEXEC)).expect("cloexec");
        }
        let own = nix::fcntl::open(
            format!("/proc/self/fd/{}", pty.slave.as_raw_fd()).as_str(),
            OFlag::O_WRONLY | OFlag::O_NONBLOCK | OFlag::O_NOCTTY | OFlag::O_CLOEXEC,
            FileMode::empty(),
        )
        .expect("reopen the terminal");
        fill(|chunk| nix::unistd::write(&own, chunk));
        Stalled {
            svinit_end: pty.slave.try_clone().expect("dup"),
            reader: pty.master,
            pty_slave: None,
        }
    }

    /// A connected stream socket whose peer never reads, its buffers full.
    fn unread_socket() -> Stalled {
        let (svinit_end, peer) = UnixStream::pair().expect("socketpair");
        fill(|chunk| send(svinit_end.as_raw_fd(), chunk, MsgFlags::MSG_DONTWAIT));
        Stalled {
            svinit_end: svinit_end.into(),
            reader: peer.into(),
            pty_slave: None,
        }
    }

    fn stdio(&self) -> Stdio {
        Stdio::from(self.svinit_end.try_clone().expect("dup"))
    }

    /// Lets output flow again: a thread reads everything from now on
    /// (and a stopped terminal is started, Ctrl-Q).
    fn resume(&self) -> Drain {
        let drain = Drain::start(self.reader.try_clone().expect("dup"));
        if let Some(slave) = &self.pty_slave {
            tcflow(slave, FlowArg::TCOON).expect("tcflow TCOON");
        }
        drain
    }
}

/// Writes `prefill\n` lines with `write` (non-blocking) until it would block.
fn fill(mut write: impl FnMut(&[u8]) -> nix::Result<usize>) {
    let chunk = "prefill\n".repeat(512);
    loop {
        match write(chunk.as_bytes()) {
            Ok(_) | Err(Errno::EINTR) => {}
            Err(Errno::EAGAIN) => return,
            Err(err) => panic!("filling a destination: {err}"),
        }
    }
}

/// Everything read from a resumed destination, by a thread.
struct Drain {
    text: Arc<Mutex<Vec<u8>>>,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl Drain {
    fn start(fd: OwnedFd) -> Drain {
        let text = Arc::new(Mutex::new(Vec::new()));
        let stop = Arc::new(AtomicBool::new(false));
        let (into, stopped) = (text.clone(), stop.clone());
        let thread = std::thread::spawn(move || {
            let mut buf = vec![0u8; 64 * 1024];
            while !stopped.load(Ordering::Relaxed) {
                let mut fds = [nix::poll::PollFd::new(
                    fd.as_fd(),
                    nix::poll::PollFlags::POLLIN,
                )];
                match nix::poll::poll(&mut fds, 100u16) {
                    Ok(0) | Err(Errno::EINTR) => continue,
                    Ok(_) => {}
                    Err(_) => return,
                }
                match nix::unistd::read(&fd, &mut buf) {
                    Ok(0) | Err(_) => return,
                    Ok(n) => into.lock().unwrap().extend_from_slice(&buf[..n]),
                }
            }
        });
        Drain {
            text,
            stop,
            thread: Some(thread),
        }
    }

    /// What was read so far, `\r` (a terminal's) removed.
    fn text(&self) -> String {
        String::from_utf8_lossy(&self.text.lock().unwrap()).replace('\r', "")
    }
}

impl Drop for Drain {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

// ------------------------------------------------------------ helpers

/// What one svctl run did (exit code, stdout and stderr), or `None` when
/// it had not finished after `within` (it is killed then). Its output goes
/// to a file: a pipe the test does not read meanwhile could stall svctl.
fn svctl_within(dir: &TempDir, args: &[&str], within: Duration) -> Option<(i32, String)> {
    let out_path = dir.join("svctl.out");
    let out = std::fs::File::create(&out_path).expect("create svctl.out");
    let mut child = Command::new(svctl_bin())
        .arg("-s")
        .arg(socket(dir))
        .args(args)
        .stdin(Stdio::null())
        .stdout(out.try_clone().expect("dup"))
        .stderr(out)
        .spawn()
        .expect("spawn svctl");
    let deadline = Instant::now() + within;
    loop {
        if let Some(status) = child.try_wait().expect("wait svctl") {
            let text = std::fs::read_to_string(&out_path).unwrap_or_default();
            return Some((status.code().unwrap_or(-1), text));
        }
        if Instant::now() >= deadline {
            let _ = child.kill();
            let _ = child.wait();
            return None;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// Where svinit is stuck, for failure messages: its state and wait channel.
fn whereabouts(sv: &Svinit) -> String {
    let wchan = std::fs::read_to_string(format!("/proc/{}/wchan", sv.pid)).unwrap_or_default();
    let state = proc_stat(sv.pid).map_or('?', |p| p.state);
    format!(
        "svinit (pid {}) is in state {state}, waiting in `{wchan}`",
        sv.pid
    )
}

/// `svctl ARGS` must answer within `ANSWER_WITHIN`; its exit code and output.
#[track_caller]
fn answered(sv: &Svinit, dir: &TempDir, args: &[&str]) -> (i32, String) {
    svctl_within(dir, args, ANSWER_WITHIN).unwrap_or_else(|| {
        sv.fail(&format!(
            "svctl {} got no answer within {ANSWER_WITHIN:?}: {}",
            args.join(" "),
            whereabouts(sv)
        ))
    })
}

/// Polls `svctl status` (each answer within `ANSWER_WITHIN`) until `cond`
/// holds for its output.
#[track_caller]
fn wait_status(sv: &Svinit, dir: &TempDir, what: &str, cond: impl Fn(&str) -> bool) -> String {
    let deadline = Instant::now() + DEADLINE;
    loop {
        let (_, text) = answered(sv, dir, &["status"]);
        if cond(&text) {
            return text;
        }
        if Instant::now() >= deadline {
            sv.fail(&format!(
                "timed out waiting for {what}; last status:\n{text}"
            ));
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Waits until svinit's socket exists; from then on every `svctl` must
/// be answered within `ANSWER_WITHIN`.
#[track_caller]
fn wait_for_socket(sv: &Svinit, dir: &TempDir) {
    sv.wait_until("the control socket", DEADLINE, || socket(dir).exists());
}

/// One request line on a fresh connection; the reply, or why there is none.
fn raw_request(dir: &TempDir, line: &str) -> Result<Value, String> {
    let mut stream = UnixStream::connect(socket(dir)).map_err(|e| format!("connect: {e}"))?;
    stream
        .set_read_timeout(Some(ANSWER_WITHIN))
        .map_err(|e| e.to_string())?;
    stream
        .write_all(line.as_bytes())
        .map_err(|e| format!("send: {e}"))?;
    read_reply(stream)
}

fn read_reply(stream: UnixStream) -> Result<Value, String> {
    let mut reply = String::new();
    BufReader::new(stream)
        .read_line(&mut reply)
        .map_err(|e| format!("no reply: {e}"))?;
    serde_json::from_str(&reply).map_err(|e| format!("reply {reply:?}: {e}"))
}

/// The `O_NONBLOCK` flag of fd `fd` of host process `pid` (fdinfo `flags`).
fn is_nonblocking(pid: i32, fd: i32) -> bool {
    let info = std::fs::read_to_string(format!("/proc/{pid}/fdinfo/{fd}")).unwrap_or_default();
    let flags = info
        .lines()
        .find_map(|line| line.strip_prefix("flags:"))
        .and_then(|octal| u32::from_str_radix(octal.trim(), 8).ok())
        .unwrap_or_else(|| panic!("no flags in /proc/{pid}/fdinfo/{fd}: {info:?}"));
    flags & libc::O_NONBLOCK as u32 != 0
}

/// The host pid of service `name`'s process, once it is up.
#[track_caller]
fn host_pid_of(sv: &Svinit, dir: &TempDir, name: &str) -> i32 {
    wait_for_socket(sv, dir);
    let mut host = None;
    sv.wait_until(&format!("{name} to be up"), DEADLINE, || {
        let status = status_json(sv, dir, name);
        host = (status["state"] == "up")
            .then(|| status["pid"].as_i64())
            .flatten()
            .and_then(|pid| sv.host_pid(pid as i32));
        host.is_some()
    });
    host.unwrap_or_default()
}

/// Starts svinit in `mode` on `dir/conf` with `adjust` applied.
fn start(mode: Mode, dir: &TempDir, adjust: impl FnOnce(&mut Command)) -> Svinit {
    Svinit::start_with(
        mode,
        dir,
        &["-c", &dir.join("conf").to_string_lossy()],
        adjust,
    )
}

/// With its stdout and/or stderr stalled, svinit answers `svctl` every
/// time, keeps the services' lines in their ring buffers, leaves the
/// description it shares with an `inherit` service blocking, says how many
/// lines it dropped (when the services' lines were among them), and stops
/// on SIGTERM.
#[track_caller]
fn assert_keeps_serving(sv: &Svinit, dir: &TempDir, services_lines_stalled: bool) {
    wait_for_socket(sv, dir);
    for _ in 0..3 {
        let (code, text) = answered(sv, dir, &["status"]);
        assert_eq!(code, 0, "svctl status: {text}");
    }
    sv.wait_until("chatty's lines in svctl logs", DEADLINE, || {
        answered(sv, dir, &["logs", "chatty"])
            .1
            .contains("chatty says hello")
    });
    let inheritor = host_pid_of(sv, dir, "inheritor");
    assert!(
        !is_nonblocking(inheritor, 1),
        "the stdout svinit shares with an `inherit` service was made non-blocking"
    );
    if services_lines_stalled {
        let text = wait_status(sv, dir, "a `lines dropped` header", |text| {
            text.contains("lines dropped")
        });
        let reply = raw_request(dir, "{\"v\":1,\"cmd\":\"status\"}\n")
            .unwrap_or_else(|err| sv.fail(&format!("raw status: {err}")));
        let dropped = reply["data"]["console_lines_dropped"].as_u64().unwrap_or(0);
        assert!(
            dropped > 0,
            "console_lines_dropped in {reply}\nstatus:\n{text}"
        );
    }
    sv.signal(Signal::SIGTERM);
    let exited = poll_until(DEADLINE, || sv.try_status().is_some());
    if !exited {
        sv.fail(&format!(
            "svinit did not stop within {DEADLINE:?} of SIGTERM: {}",
            whereabouts(sv)
        ));
    }
    let status = sv.wait_exit(DEADLINE);
    assert!(status.success(), "svinit exited with {status}");
}

// ------------------------------------------------------------ stalled output

/// Which of svinit's streams go to the stalled destination (the others
/// to the log file).
#[derive(Clone, Copy, PartialEq)]
enum Onto {
    Stdout,
    Stderr,
    Both,
}

/// svinit as PID 1 (`-v`: its own log is as chatty as it gets, every
/// reaped pid) with `onto` stalled: it keeps serving.
fn assert_serves_with_stalled(tag: &str, stalled: Stalled, onto: Onto) {
    let dir = TempDir::new(tag);
    dir.write("conf/services.kdl", SERVICES);
    let sv = Svinit::start_with(
        Mode::Container,
        &dir,
        &["-v", "-c", &dir.join("conf").to_string_lossy()],
        |cmd| {
            if onto != Onto::Stderr {
                cmd.stdout(stalled.stdio());
            }
            if onto != Onto::Stdout {
                cmd.stderr(stalled.stdio());
            }
        },
    );
    assert_keeps_serving(&sv, &dir, onto != Onto::Stderr);
}

#[test]
fn a_stalled_stdout_pipe_does_not_freeze_svinit() {
    assert_serves_with_stalled("console-stdout-pipe", Stalled::pipe(), Onto::Stdout);
}

#[test]
fn a_stalled_stderr_pipe_does_not_freeze_svinit() {
    assert_serves_with_stalled("console-stderr-pipe", Stalled::pipe(), Onto::Stderr);
}

#[test]
fn a_stopped_terminal_does_not_freeze_svinit() {
    assert_serves_with_stalled("console-pty", Stalled::stopped_terminal(), Onto::Both);
}

#[test]
fn an_unread_terminal_does_not_freeze_svinit() {
    assert_serves_with_stalled("console-pty-unread", Stalled::unread_terminal(), Onto::Both);
}

#[test]
fn an_unread_socket_does_not_freeze_svinit() {
    assert_serves_with_stalled("console-socket", Stalled::unread_socket(), Onto::Both);
}

/// svinit running as `nobody` cannot reopen a pipe root made (0600, owned
/// by root): the case of a container whose user namespace does not map
/// the owner of its log pipe. It must still never block on it.
#[test]
fn a_stalled_pipe_svinit_cannot_reopen_does_not_freeze_it() {
    let dir = TempDir::new("console-foreign-pipe");
    dir.write("conf/services.kdl", SERVICES);
    let nobody = nix::unistd::User::from_name("nobody")
        .ok()
        .flatten()
        .expect("user nobody");
    let stalled = Stalled::pipe();
    let sv = start(Mode::User, &dir, |cmd| {
        cmd.stdout(stalled.stdio())
            .stderr(stalled.stdio())
            .uid(nobody.uid.as_raw())
            .gid(nobody.gid.as_raw());
    });
    assert_keeps_serving(&sv, &dir, true);
}

/// Once a stalled destination is read again, svinit says how many lines
/// it dropped, and what it writes stays whole lines: nothing of its own
/// is cut in the middle by another of its lines.
#[test]
fn dropped_lines_are_reported_once_output_flows_again() {
    for (kind, stalled) in [
        ("pipe", Stalled::pipe()),
        ("terminal", Stalled::stopped_terminal()),
    ] {
        let dir = TempDir::new(&format!("console-resume-{kind}"));
        dir.write("conf/services.kdl", SERVICES);
        let sv = start(Mode::Container, &dir, |cmd| {
            cmd.stdout(stalled.stdio()).stderr(stalled.stdio());
        });
        wait_for_socket(&sv, &dir);
        wait_status(&sv, &dir, "a `lines dropped` header", |text| {
            text.contains("lines dropped")
        });
        let drain = stalled.resume();
        sv.wait_until(
            &format!("{kind}: the `lines dropped` notice, then chatty's next tick"),
            DEADLINE,
            || {
                let text = drain.text();
                text.find("lines dropped")
                    .is_some_and(|at| text[at..].contains("chatty | tick"))
            },
        );
        let text = drain.text();
        let complete = &text[..text.rfind('\n').map_or(0, |end| end + 1)];
        for line in complete.lines() {
            let known = line == "prefill"
                || line == "chatty | chatty says hello with a line of some length"
                || line
                    .strip_prefix("chatty | tick ")
                    .is_some_and(|n| n.parse::<u64>().is_ok())
                || line.starts_with("svinit: ");
            assert!(known, "{kind}: a line cut or mixed up: {line:?}");
        }
        let notice = complete
            .lines()
            .find(|line| line.contains("lines dropped"))
            .unwrap_or_default();
        assert!(
            notice.starts_with("svinit: warning: ") && notice.contains(char::is_numeric),
            "{kind}: notice {notice:?}"
        );
        sv.signal(Signal::SIGTERM);
        assert!(sv.wait_exit(DEADLINE).success());
    }
}

/// The diagnostics of an invalid config are written like the rest: a
/// stalled stderr cannot keep svinit from exiting 1.
#[test]
fn config_diagnostics_into_a_stalled_stderr_do_not_hang_svinit() {
    let dir = TempDir::new("console-diagnostics");
    dir.write(
        "conf/broken.kdl",
        "service \"x\" {\n    exec\n    frobnicate 3\n",
    );
    let stalled = Stalled::pipe();
    let sv = start(Mode::Container, &dir, |cmd| {
        cmd.stderr(stalled.stdio());
    });
    if !poll_until(DEADLINE, || sv.try_status().is_some()) {
        sv.fail(&format!(
            "svinit with an invalid config did not exit: {}",
            whereabouts(&sv)
        ));
    }
    assert_eq!(sv.wait_exit(DEADLINE).code(), Some(1));
}

// ------------------------------------------------------------ panics

const PANIC_SERVICES: &str = r#"
service "brief" {
    shell "while [ ! -e $DIR/go ]; do sleep 0.02; done; exit 3"
    restart "never"
}
service "steady" {
    exec "sleep" "1000"
}
"#;

fn start_with_panic(dir: &TempDir, points: &str, adjust: impl FnOnce(&mut Command)) -> Svinit {
    dir.write("conf/services.kdl", PANIC_SERVICES);
    start(Mode::Container, dir, |cmd| {
        cmd.env("SVINIT_TEST_PANIC", points);
        adjust(cmd);
    })
}

/// A panic at each step of the boot (config load, runtime set-up, the
/// first spawns) is logged and svinit boots its services all the same.
#[test]
fn a_panic_at_boot_is_contained() {
    for point in ["config-load", "runtime-new", "boot"] {
        let dir = TempDir::new(&format!("panic-{point}"));
        let sv = start_with_panic(&dir, point, |_| {});
        host_pid_of(&sv, &dir, "steady");
        let log = sv.log();
        assert!(
            log.contains(&format!("injected panic at `{point}`")),
            "{point}: the panic is not logged:\n{log}"
        );
        sv.signal(Signal::SIGTERM);
        assert!(sv.wait_exit(DEADLINE).success(), "{point}");
    }
}

/// The panic message goes the non-blocking way too.
#[test]
fn a_panic_with_a_stalled_stderr_is_contained() {
    let dir = TempDir::new("panic-stalled");
    let stalled = Stalled::pipe();
    let sv = start_with_panic(&dir, "boot", |cmd| {
        cmd.stderr(stalled.stdio());
    });
    wait_for_socket(&sv, &dir);
    wait_status(&sv, &dir, "steady to be up", |text| {
        text.lines()
            .any(|line| line.starts_with("steady ") && line.contains(" up "))
    });
    sv.signal(Signal::SIGTERM);
    assert!(sv.wait_exit(DEADLINE).success());
}

/// svinit panics on the first batch of events that holds a child's exit
/// (SIGCHLD) and a client's request: with the rest of the batch dropped,
/// the child would stay a zombie and the client unanswered (edge-triggered
/// events do not come again). svinit must look at every source again.
#[test]
fn a_panic_in_the_loop_loses_no_event() {
    let dir = TempDir::new("panic-loop");
    let sv = start_with_panic(&dir, "signals", |_| {});
    let brief = host_pid_of(&sv, &dir, "brief");
    host_pid_of(&sv, &dir, "steady");
    // Freeze svinit so the exit and the request land in one batch.
    kill(Pid::from_raw(sv.pid), Signal::SIGSTOP).expect("SIGSTOP svinit");
    sv.wait_until("svinit to be stopped", DEADLINE, || {
        proc_stat(sv.pid).is_some_and(|p| p.state == 'T')
    });
    dir.write("go", "");
    sv.wait_until("brief to exit (a zombie)", DEADLINE, || {
        proc_stat(brief).is_some_and(|p| p.state == 'Z')
    });
    let mut client = UnixStream::connect(socket(&dir)).expect("connect");
    client
        .write_all(b"{\"v\":1,\"cmd\":\"status\"}\n")
        .expect("send the request");
    client.set_read_timeout(Some(ANSWER_WITHIN)).unwrap();
    kill(Pid::from_raw(sv.pid), Signal::SIGCONT).expect("SIGCONT svinit");
    let reply = read_reply(client).unwrap_or_else(|err| {
        sv.fail(&format!(
            "the waiting client got no answer after the panic ({err}): {}",
            whereabouts(&sv)
        ))
    });
    assert_eq!(reply["ok"], true, "{reply}");
    sv.wait_until("brief to be reaped (no zombie)", DEADLINE, || {
        proc_stat(brief).is_none()
    });
    let status = status_json(&sv, &dir, "brief");
    assert_eq!(status["state"], "failed", "{status}");
    assert_eq!(status["exit"]["code"], 3, "{status}");
    assert!(
        sv.log().contains("injected panic at `signals`"),
        "the panic is not logged"
    );
    sv.signal(Signal::SIGTERM);
    assert!(sv.wait_exit(DEADLINE).success());
}

/// A panic at the end of every loop turn: svinit still answers and
/// stops, and it does not spin (each panic makes it look at every source
/// again, which must not become a busy loop).
#[test]
fn a_repeating_panic_cannot_spin() {
    let dir = TempDir::new("panic-repeat");
    let sv = start_with_panic(&dir, "loop-end:*", |_| {});
    host_pid_of(&sv, &dir, "steady");
    let cpu_ticks = |pid: i32| -> u64 {
        let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
        let fields: Vec<&str> = stat
            .rsplit_once(')')
            .map(|(_, rest)| rest.split_whitespace().collect())
            .unwrap_or_default();
        // utime and stime: fields 14 and 15 of stat, 12 and 13 after `)`.
        [11, 12]
            .iter()
            .filter_map(|&i| fields.get(i)?.parse::<u64>().ok())
            .sum()
    };
    let panics = || sv.log().matches("injected panic at `loop-end`").count();
    let (ticks_before, panics_before) = (cpu_ticks(sv.pid), panics());
    let window = Duration::from_secs(3);
    std::thread::sleep(window);
    let ticks = cpu_ticks(sv.pid) - ticks_before;
    let repeated = panics() - panics_before;
    // 100 ticks a second: a spinning svinit would burn ~300 of them.
    assert!(
        ticks < 60,
        "svinit used {ticks} ticks of CPU in {window:?} ({repeated} panics)"
    );
    assert!(
        repeated <= 15,
        "{repeated} panics in {window:?}: not rate-limited"
    );
    let (code, text) = answered(&sv, &dir, &["status"]);
    assert_eq!(code, 0, "{text}");
    sv.signal(Signal::SIGTERM);
    assert!(sv.wait_exit(DEADLINE).success());
}
