//! File descriptors passed to svinit (SCM_RIGHTS) by anyone who can send
//! to one of its sockets: the notify sockets (abstract names, listed in
//! /proc/net/unix) and the control socket. Closing the last reference to
//! a TCP socket with a long SO_LINGER and unsent data blocks in close(2):
//! if that close ran in PID 1, it would freeze svinit (its signals are
//! blocked, so nothing interrupts the wait). svinit refuses passed
//! descriptors (SO_PASSRIGHTS) and, on kernels without it, neutralises
//! and closes them without waiting.

use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use nix::sys::signal::Signal;

use crate::control::{container, socket, svctl, wait_for_socket};
use crate::harness::{DEADLINE, Svinit, TempDir};

/// Sends a lingering TCP socket with unsent data over `argv[2]`'s socket
/// (`notify ADDR` or `control PATH`), then holds on: the attacker stays
/// alive so the peer never drains the data.
const PASS_LINGERING_FD: &str = r#"
import socket, os, array, struct, sys, time
l = socket.socket(); l.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
l.bind(('127.0.0.1', 0)); l.listen(1)
c = socket.socket(); c.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 4096)
c.connect(l.getsockname()); peer, _ = l.accept()
c.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack('ii', 1, 1000000))
c.setblocking(False)
try:
    while True: c.send(b'x' * 65536)
except BlockingIOError: pass
rights = [(socket.SOL_SOCKET, socket.SCM_RIGHTS, array.array('i', [c.fileno()]))]
kind, addr = sys.argv[1], sys.argv[2]
try:
    if kind == 'notify':
        if addr[0] == '@': addr = '\0' + addr[1:]
        s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        s.sendmsg([b'FDSTORE=1'], rights, 0, addr)
    else:
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM); s.connect(addr)
        s.sendmsg([b'{"v":1,"cmd":"status"}\n'], rights)
    outcome = 'sent'
except PermissionError:
    outcome = 'refused'
    # Ours is then the last reference: do not wait in its close.
    c.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack('ii', 1, 0))
# Our copy goes first: the one in flight is then the last reference, and
# whoever closes it waits for the unsent data.
c.close()
print(outcome, flush=True)
time.sleep(600)
"#;

/// The attacker, killed when dropped.
struct Attacker(Child);

impl Attacker {
    fn start(dir: &TempDir, kind: &str, addr: &str) -> Attacker {
        dir.write("attack.py", PASS_LINGERING_FD);
        let child = Command::new("setpriv")
            .args(["--reuid=65534", "--regid=65534", "--clear-groups"])
            .arg(system_python())
            .arg(dir.join("attack.py"))
            .args([kind, addr])
            .stdout(Stdio::piped())
            .spawn()
            .expect("start the attacker");
        Attacker(child)
    }

    /// Waits for the attacker's one line: `sent` or `refused`.
    fn outcome(&mut self) -> String {
        use std::io::BufRead;
        let mut line = String::new();
        if let Some(out) = self.0.stdout.take() {
            let _ = std::io::BufReader::new(out).read_line(&mut line);
        }
        line.trim().to_string()
    }
}

impl Drop for Attacker {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn system_python() -> &'static str {
    ["/usr/bin/python3", "/usr/local/bin/python3"]
        .into_iter()
        .find(|path| std::path::Path::new(path).exists())
        .unwrap_or("python3")
}

/// svinit still answers `svctl status` at once, and stops on SIGTERM.
fn assert_not_frozen(sv: &Svinit, dir: &TempDir) {
    for _ in 0..3 {
        let start = Instant::now();
        let run = svctl(dir, &["status"]);
        let took = start.elapsed();
        if run.code != 0 || took > Duration::from_secs(3) {
            sv.fail(&format!("svctl status took {took:?}: {run}"));
        }
    }
    sv.signal(Signal::SIGTERM);
    let status = sv.wait_exit(DEADLINE);
    assert!(status.success(), "{}", sv.log());
}

#[test]
fn a_descriptor_passed_to_a_notify_socket_does_not_freeze_svinit() {
    let dir = TempDir::new("adv-fd-notify");
    dir.write(
        "conf/db.kdl",
        r#"
service "db" {
    ready-notify #true
    shell "echo $NOTIFY_SOCKET > $DIR/db.socket; exec sleep 600"
}
"#,
    );
    let sv = container(&dir);
    wait_for_socket(&sv, &dir);
    sv.wait_file(&dir, "db.socket", DEADLINE);
    let address = dir.read("db.socket").unwrap_or_default();
    // Another user: abstract names are public.
    let mut attacker = Attacker::start(&dir, "notify", address.trim());
    let outcome = attacker.outcome();
    assert!(
        ["sent", "refused"].contains(&outcome.as_str()),
        "{outcome:?}"
    );
    assert_not_frozen(&sv, &dir);
}

#[test]
fn a_descriptor_passed_to_the_control_socket_does_not_freeze_svinit() {
    let dir = TempDir::new("adv-fd-control");
    // Anyone may connect (SO_PEERCRED still decides): the attacker is
    // refused, but only after its descriptor has arrived.
    dir.write(
        "conf/ctl.kdl",
        r#"
control group="root" read-group="nogroup"
service "web" {
    exec "sleep" "600"
}
"#,
    );
    let sv = container(&dir);
    wait_for_socket(&sv, &dir);
    let path = socket(&dir).to_string_lossy().into_owned();
    let mut attacker = Attacker::start(&dir, "control", &path);
    let outcome = attacker.outcome();
    assert!(
        ["sent", "refused"].contains(&outcome.as_str()),
        "{outcome:?}"
    );
    assert_not_frozen(&sv, &dir);
}
