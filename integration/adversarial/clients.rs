//! A local user of the control socket: floods, stream hoarding, slots.
//!
//! SPEC §7 "Fair to clients": whatever one client sends (empty lines,
//! back-to-back requests, input after a stream request) it gets a bounded
//! share of each loop turn, so `svctl status` from another client is still
//! answered promptly; a read-only user cannot take the slots of full-access
//! ones; one uid cannot hold more than a fixed share of the streams.
//! Figures (`figure: ...` on stderr, `--nocapture`): the `svctl status`
//! latency under each flood.

use std::io::{Read, Write};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::net::UnixStream;
use std::os::unix::process::CommandExt;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::mpsc;
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

use crate::control::{container, socket, svctl_bin, wait_for_socket};
use crate::harness::{DEADLINE, Svinit, TempDir, fd_census, system_user};

const SERVICES: &str = r#"
service "web" {
    exec "sleep" "100000"
}
"#;

/// `svctl status` under a flood: the answer must come within this (the
/// unfair server gives none at all; a fair one answers in milliseconds).
const ANSWER_LIMIT: Duration = Duration::from_secs(3);
/// `svctl status` runs timed under each flood.
const SAMPLES: usize = 50;
/// Bytes a flood must have pushed before the samples start (it is on).
const FLOOD_STARTED: u64 = 1 << 20;

fn figure(test: &str, text: &str) {
    eprintln!("figure: {test}: {text}");
}

fn start(tag: &str, conf: &str) -> (TempDir, Svinit) {
    let dir = TempDir::new(tag);
    dir.write("conf/services.kdl", conf);
    let sv = container(&dir);
    wait_for_socket(&sv, &dir);
    (dir, sv)
}

/// How one `svctl` run ended.
struct Timed {
    code: i32,
    stderr: String,
    took: Duration,
}

/// Runs `svctl ARGS` (as `user` when given) and waits at most `limit`:
/// `None` when it got no answer in time (it is killed).
fn timed_svctl(
    dir: &TempDir,
    user: Option<(u32, u32)>,
    args: &[&str],
    limit: Duration,
) -> Option<Timed> {
    let mut command = Command::new(svctl_bin());
    command
        .arg("-s")
        .arg(socket(dir))
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped());
    if let Some((uid, gid)) = user {
        command.uid(uid).gid(gid);
    }
    let began = Instant::now();
    let child = command.spawn().expect("spawn svctl");
    let pid = child.id() as i32;
    let (done, result) = mpsc::channel();
    let waiter = thread::spawn(move || {
        let _ = done.send(child.wait_with_output());
    });
    let outcome = match result.recv_timeout(limit) {
        Ok(output) => {
            let output = output.expect("wait for svctl");
            Some(Timed {
                code: output.status.code().unwrap_or(-1),
                stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
                took: began.elapsed(),
            })
        }
        Err(_) => {
            let _ = nix::sys::signal::kill(
                nix::unistd::Pid::from_raw(pid),
                nix::sys::signal::Signal::SIGKILL,
            );
            None
        }
    };
    let _ = waiter.join();
    outcome
}

/// What a flooding client sends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Flood {
    /// `yes '' | socat - UNIX:sock`: empty (and blank) lines, no request.
    EmptyLines,
    /// Valid read-only requests back to back, never waiting for a reply
    /// (the replies are drained by another thread, as fast as they come).
    Requests,
    /// `events`, then input svinit has no use for, without end.
    InputAfterStream,
}

impl Flood {
    /// The first bytes on each connection, then the block sent again and
    /// again.
    fn script(self) -> (Vec<u8>, Vec<u8>) {
        let status = b"{\"v\":1,\"cmd\":\"status\"}\n";
        match self {
            Flood::EmptyLines => (Vec::new(), b"\n \n\r\n\t\n".repeat(16 * 1024)),
            Flood::Requests => (Vec::new(), status.repeat(1024)),
            Flood::InputAfterStream => (
                b"{\"v\":1,\"cmd\":\"events\"}\n".to_vec(),
                b"\n".repeat(64 * 1024),
            ),
        }
    }
}

/// A thread that floods the socket, reconnecting whenever svinit drops it
/// (a silent client is cut after 5 s), until dropped.
struct Flooder {
    stop: Arc<AtomicBool>,
    sent: Arc<AtomicU64>,
    thread: Option<JoinHandle<()>>,
}

impl Flooder {
    fn start(path: &Path, flood: Flood) -> Flooder {
        let stop = Arc::new(AtomicBool::new(false));
        let sent = Arc::new(AtomicU64::new(0));
        let path = path.to_path_buf();
        let thread = {
            let (stop, sent) = (stop.clone(), sent.clone());
            thread::spawn(move || {
                let (opening, block) = flood.script();
                while !stop.load(Ordering::Relaxed) {
                    let Ok(mut stream) = UnixStream::connect(&path) else {
                        thread::sleep(Duration::from_millis(5));
                        continue;
                    };
                    let _ = stream.set_write_timeout(Some(Duration::from_millis(100)));
                    let drain = stream
                        .try_clone()
                        .ok()
                        .map(|reader| drain(reader, stop.clone()));
                    let mut written = stream.write_all(&opening).is_ok();
                    while written && !stop.load(Ordering::Relaxed) {
                        match stream.write(&block) {
                            Ok(n) => {
                                sent.fetch_add(n as u64, Ordering::Relaxed);
                            }
                            Err(err) if is_transient(&err) => {}
                            Err(_) => written = false,
                        }
                    }
                    let _ = stream.shutdown(std::net::Shutdown::Both);
                    if let Some(drain) = drain {
                        let _ = drain.join();
                    }
                }
            })
        };
        Flooder {
            stop,
            sent,
            thread: Some(thread),
        }
    }

    fn sent(&self) -> u64 {
        self.sent.load(Ordering::Relaxed)
    }
}

impl Drop for Flooder {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

/// A timeout (the thread looks at its stop flag) or an interruption.
fn is_transient(err: &std::io::Error) -> bool {
    matches!(
        err.kind(),
        std::io::ErrorKind::WouldBlock
            | std::io::ErrorKind::TimedOut
            | std::io::ErrorKind::Interrupted
    )
}

/// Reads and forgets whatever svinit sends on `reader` until it closes.
fn drain(mut reader: UnixStream, stop: Arc<AtomicBool>) -> JoinHandle<()> {
    let _ = reader.set_read_timeout(Some(Duration::from_millis(100)));
    thread::spawn(move || {
        let mut buffer = vec![0u8; 64 * 1024];
        loop {
            match reader.read(&mut buffer) {
                Ok(0) => return,
                Ok(_) => {}
                Err(err) if is_transient(&err) => {
                    if stop.load(Ordering::Relaxed) {
                        return;
                    }
                }
                Err(_) => return,
            }
        }
    })
}

/// Median and worst of `samples` (sorted here).
fn median_and_worst(samples: &mut [Duration]) -> (Duration, Duration) {
    samples.sort();
    (samples[samples.len() / 2], samples[samples.len() - 1])
}

/// `SAMPLES` timed `svctl status` runs; fails the test at the first that
/// gets no answer within `ANSWER_LIMIT`, or that does not exit 0.
fn status_latencies(sv: &Svinit, dir: &TempDir, while_doing: &str) -> Vec<Duration> {
    (0..SAMPLES)
        .map(
            |i| match timed_svctl(dir, None, &["status"], ANSWER_LIMIT) {
                Some(run) if run.code == 0 => run.took,
                Some(run) => sv.fail(&format!(
                    "svctl status #{i} {while_doing}: exit {}: {}",
                    run.code, run.stderr
                )),
                None => sv.fail(&format!(
                    "svctl status #{i} {while_doing}: no answer within {}s",
                    ANSWER_LIMIT.as_secs()
                )),
            },
        )
        .collect()
}

/// Clients flood (one per entry of `floods`, all at once); another's
/// `svctl status` is answered every time, promptly; svinit still serves
/// after the flood.
fn floods_do_not_starve_others(test: &str, floods: &[Flood]) {
    let (dir, sv) = start(test, SERVICES);
    let mut calm = status_latencies(&sv, &dir, "without a flood");
    let flooders: Vec<Flooder> = floods
        .iter()
        .map(|&flood| Flooder::start(&socket(&dir), flood))
        .collect();
    let sent = || flooders.iter().map(Flooder::sent).sum::<u64>();
    sv.wait_until("the floods to be under way", DEADLINE, || {
        flooders
            .iter()
            .all(|flooder| flooder.sent() >= FLOOD_STARTED)
    });
    let (began, sent_before) = (Instant::now(), sent());
    let mut flooded = status_latencies(&sv, &dir, &format!("while clients flood ({floods:?})"));
    let rate = (sent() - sent_before) as f64 / began.elapsed().as_secs_f64() / 1e6;
    drop(flooders);
    let (calm_median, calm_worst) = median_and_worst(&mut calm);
    let (median, worst) = median_and_worst(&mut flooded);
    figure(
        test,
        &format!(
            "svctl status over {SAMPLES} runs (debug build, PID 1 of a namespace): \
             median {median:.1?}, worst {worst:.1?} while {floods:?} flood \
             (taken at {rate:.1} MB/s); median {calm_median:.1?}, worst {calm_worst:.1?} without"
        ),
    );
    status_latencies(&sv, &dir, "after the flood");
}

#[test]
fn a_client_streaming_empty_lines_does_not_starve_the_others() {
    floods_do_not_starve_others("flood-empty-lines", &[Flood::EmptyLines]);
}

#[test]
fn a_client_sending_requests_back_to_back_does_not_starve_the_others() {
    floods_do_not_starve_others("flood-requests", &[Flood::Requests]);
}

#[test]
fn a_follower_sending_input_without_end_does_not_starve_the_others() {
    floods_do_not_starve_others("flood-after-stream", &[Flood::InputAfterStream]);
}

#[test]
fn every_kind_of_flood_at_once_does_not_starve_the_others() {
    floods_do_not_starve_others(
        "flood-all",
        &[
            Flood::EmptyLines,
            Flood::Requests,
            Flood::InputAfterStream,
            Flood::EmptyLines,
            Flood::Requests,
            Flood::InputAfterStream,
        ],
    );
}

// ------------------------------------------------------- slots and streams

/// The read-only user: the read group is its primary group, so no
/// /etc/group membership is toggled under other tests' feet.
fn read_only_account() -> Option<(u32, u32)> {
    system_user("svit-hoard", "svit-watch")
}

const READ_ONLY_CONF: &str = "control read-group=\"svit-watch\"\n";

/// A process of `uid:gid` that holds `count` connections to `path`, each
/// having sent `request` (when not empty): `sleep`, with the connections
/// made between fork and exec (plain syscalls only) so SO_PEERCRED names
/// the user. Killed on drop.
struct Hoard(Child);

impl Hoard {
    fn start(path: &Path, (uid, gid): (u32, u32), count: usize, request: &[u8]) -> Hoard {
        // SAFETY: sockaddr_un is plain data; all zeroes is a valid value.
        let mut address: libc::sockaddr_un = unsafe { std::mem::zeroed() };
        address.sun_family = libc::AF_UNIX as libc::sa_family_t;
        let bytes = path.as_os_str().as_bytes();
        assert!(bytes.len() < address.sun_path.len(), "socket path too long");
        for (slot, byte) in address.sun_path.iter_mut().zip(bytes) {
            *slot = *byte as libc::c_char;
        }
        let request = request.to_vec();
        let mut command = Command::new("sleep");
        command.arg("1000").uid(uid).gid(gid).stdin(Stdio::null());
        let connect = move || {
            for _ in 0..count {
                // SAFETY: async-signal-safe calls on memory prepared
                // before the fork; the descriptors stay open across exec.
                unsafe {
                    let fd = libc::socket(libc::AF_UNIX, libc::SOCK_STREAM, 0);
                    if fd < 0 {
                        return Err(std::io::Error::last_os_error());
                    }
                    let connected = libc::connect(
                        fd,
                        (&raw const address).cast(),
                        std::mem::size_of::<libc::sockaddr_un>() as libc::socklen_t,
                    );
                    if connected != 0 {
                        return Err(std::io::Error::last_os_error());
                    }
                    if !request.is_empty() {
                        libc::write(fd, request.as_ptr().cast(), request.len());
                    }
                }
            }
            Ok(())
        };
        // SAFETY: `connect` only makes async-signal-safe calls.
        unsafe { command.pre_exec(connect) };
        Hoard(command.spawn().expect("spawn the hoarding process"))
    }
}

impl Drop for Hoard {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// A read-only user opens as many connections as svinit serves and sends
/// `request` on each (nothing: idle; `events`: streams). Root is still
/// served, and the user's next `svctl ARGS` fails with exit 1 and an error
/// naming the limit (`limit_words`).
fn hoarding_leaves_root_served(test: &str, request: &[u8], args: &[&str], limit_words: &str) {
    if !nix::unistd::geteuid().is_root() {
        eprintln!("skipped: needs root for useradd");
        return;
    }
    let Some(user) = read_only_account() else {
        eprintln!("skipped: useradd/groupadd unavailable");
        return;
    };
    let (dir, sv) = start(test, &format!("{READ_ONLY_CONF}{SERVICES}"));
    // `status web` below exits 3 while web is still `starting`.
    sv.wait_state("web", "up", DEADLINE);
    let own = timed_svctl(&dir, Some(user), &["status"], ANSWER_LIMIT);
    assert!(
        own.as_ref().is_some_and(|run| run.code == 0),
        "the read-only user may read: {:?}",
        own.map(|run| (run.code, run.stderr))
    );
    // More connections than svinit serves at once, all queued before
    // root's: svinit accepts in arrival order.
    let hoard = Hoard::start(&socket(&dir), user, 128, request);
    match timed_svctl(&dir, None, &["status", "web"], ANSWER_LIMIT) {
        Some(run) if run.code == 0 => {}
        Some(run) => sv.fail(&format!(
            "root's svctl status after {test}: exit {}: {}",
            run.code, run.stderr
        )),
        None => sv.fail(&format!("root's svctl status after {test}: no answer")),
    }
    let held = fd_census(sv.pid, &socket(&dir)).clients;
    assert!(held < 128, "the read-only user holds {held} connections");
    match timed_svctl(&dir, Some(user), args, ANSWER_LIMIT) {
        Some(run) if run.code == 1 && run.stderr.contains(limit_words) => {
            figure(test, &format!("svinit held {held} of the user's 128 connections; the next one: {}", run.stderr.trim()));
        }
        Some(run) => sv.fail(&format!(
            "the hoarding user's svctl {}: want exit 1 naming the limit ({limit_words}), got exit {}: {}",
            args.join(" "),
            run.code,
            run.stderr
        )),
        None => sv.fail(&format!("the hoarding user's svctl {}: no answer", args.join(" "))),
    }
    drop(hoard);
}

#[test]
fn a_read_only_user_cannot_take_the_slots_of_full_access_users() {
    hoarding_leaves_root_served("hoard-idle", b"", &["status"], "read-only");
}

#[test]
fn a_read_only_user_cannot_hoard_the_event_streams() {
    hoarding_leaves_root_served(
        "hoard-events",
        b"{\"v\":1,\"cmd\":\"events\"}\n",
        &["events"],
        "streams",
    );
}

/// One request whose cost is the client's to choose: `status` naming the
/// same service thousands of times, that service carrying a long
/// `STATUS=` text (4 KiB, sent by the service itself). svinit answers it
/// once per service named, with a bounded text, and everyone else at once.
#[test]
fn a_request_naming_a_service_thousands_of_times_costs_one_entry() {
    let (dir, sv) = start(
        "adv-dup-names",
        r#"
service "s" {
    ready-notify #true
    shell "python3 -c \"import os,socket; a=os.environ['NOTIFY_SOCKET']; a='\\0'+a[1:] if a[0]=='@' else a; socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM).sendto(b'READY=1\\nSTATUS='+b'x'*4000, a)\"; exec sleep 100000"
}
"#,
    );
    sv.wait_until("s to be up", DEADLINE, || {
        timed_svctl(&dir, None, &["status", "s"], ANSWER_LIMIT).is_some_and(|run| run.code == 0)
    });
    let names: Vec<String> = std::iter::repeat_n("\"s\"".to_string(), 16_000).collect();
    let request = format!(
        "{{\"v\":1,\"cmd\":\"status\",\"names\":[{}]}}\n",
        names.join(",")
    );
    let mut stream = UnixStream::connect(socket(&dir)).expect("connect");
    stream.set_read_timeout(Some(DEADLINE)).unwrap();
    let start = Instant::now();
    stream.write_all(request.as_bytes()).expect("send");
    let mut reply = Vec::new();
    let mut byte = [0u8; 65536];
    while !reply.ends_with(b"\n") {
        match stream.read(&mut byte) {
            Ok(0) | Err(_) => break,
            Ok(n) => reply.extend_from_slice(&byte[..n]),
        }
    }
    let took = start.elapsed();
    let value: serde_json::Value = serde_json::from_slice(&reply)
        .unwrap_or_else(|e| sv.fail(&format!("reply of {} bytes is not JSON: {e}", reply.len())));
    let services = value["data"]["services"].as_array().map(Vec::len);
    figure(
        "a_request_naming_a_service_thousands_of_times_costs_one_entry",
        &format!("reply {} bytes in {took:?}", reply.len()),
    );
    assert_eq!(services, Some(1), "one entry per service named");
    let text = value["data"]["services"][0]["status_text"]
        .as_str()
        .unwrap_or_default();
    assert!(
        (1..=1024).contains(&text.len()),
        "STATUS= text of {} bytes kept",
        text.len()
    );
    assert!(reply.len() < 64 * 1024, "a reply of {} bytes", reply.len());
}

/// Anyone may connect to a 0666 socket (`group` and `read-group` both
/// given): a refused user connecting as fast as it can must not make
/// svinit re-read the account files and log a line for each connection.
#[test]
fn a_refused_user_connecting_in_a_loop_costs_little() {
    let (dir, sv) = start(
        "adv-refused-flood",
        r#"
control group="root" read-group="nogroup"
service "web" {
    exec "sleep" "100000"
}
"#,
    );
    let script = dir.write(
        "flood.py",
        &format!(
            r#"
import socket, time
end = time.time() + 3
n = 0
while time.time() < end:
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        s.connect({path:?}); s.recv(4096)
    except OSError:
        pass
    s.close(); n += 1
print(n, flush=True)
"#,
            path = socket(&dir).to_string_lossy()
        ),
    );
    let python = ["/usr/bin/python3", "/usr/local/bin/python3"]
        .into_iter()
        .find(|p| Path::new(p).exists())
        .unwrap_or("python3");
    let flood = Command::new("setpriv")
        .args(["--reuid=12345", "--regid=12345", "--clear-groups", python])
        .arg(&script)
        .stdout(Stdio::piped())
        .spawn()
        .expect("start the flood");
    let mut worst = Duration::ZERO;
    for _ in 0..5 {
        let run = timed_svctl(&dir, None, &["status"], ANSWER_LIMIT)
            .unwrap_or_else(|| sv.fail("root got no answer during the flood"));
        worst = worst.max(run.took);
        thread::sleep(Duration::from_millis(200));
    }
    let output = flood.wait_with_output().expect("the flood ends");
    let connections: u64 = String::from_utf8_lossy(&output.stdout)
        .trim()
        .parse()
        .unwrap_or(0);
    let logged = sv
        .log()
        .lines()
        .filter(|line| line.contains("refused uid 12345"))
        .count();
    figure(
        "a_refused_user_connecting_in_a_loop_costs_little",
        &format!(
            "{connections} refused connections in 3 s, {logged} log lines, root's status worst {worst:?}"
        ),
    );
    assert!(
        connections > 100,
        "the flood made {connections} connections"
    );
    assert!(logged <= 3, "{logged} log lines for {connections} refusals");
}
