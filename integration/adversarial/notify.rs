//! sd_notify readiness attributed without the sender still existing
//! (SPEC §7, `ready-notify`). A shell service whose `READY=1` comes from
//! a short helper (`systemd-notify --ready`, a one-line python) must be
//! `up` even when the helper has exited before svinit reads the datagram
//! (svinit busy, or descheduled: here, stopped with SIGSTOP while the
//! helper runs); and a process of another user must not be able to make
//! a service ready by sending to its socket.

use std::process::Command;

use nix::sys::signal::Signal;

use crate::control::{container, status_json, svctl, wait_for_socket};
use crate::harness::{DEADLINE, Mode, Svinit, TempDir};

/// A python3 helper that sends `READY=1` to `$NOTIFY_SOCKET` (abstract
/// when it starts with `@`) and exits.
const PY_NOTIFY: &str = "import os,socket; a=os.environ['NOTIFY_SOCKET']; a='\\0'+a[1:] if a[0]=='@' else a; s=socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM); s.sendto(b'READY=1', a)";

/// A python3 any user can run (a root-only pyenv shim is not).
fn system_python() -> &'static str {
    ["/usr/bin/python3", "/usr/local/bin/python3"]
        .into_iter()
        .find(|path| std::path::Path::new(path).exists())
        .unwrap_or("python3")
}

fn has(program: &str) -> bool {
    Command::new("sh")
        .args(["-c", &format!("command -v {program}")])
        .output()
        .is_ok_and(|out| out.status.success())
}

/// svinit is stopped (SIGSTOP) while each service's helper sends READY=1
/// and exits; then it continues and must find every service ready.
#[test]
fn ready_from_a_helper_that_has_exited_is_not_lost() {
    let dir = TempDir::new("adv-notify-gone");
    dir.write("notify.py", PY_NOTIFY);
    let mut helpers = vec![
        ("py", "python3 $DIR/notify.py".to_string()),
        // In a session of its own: not in the service's session or group.
        ("setsid", "setsid -w python3 $DIR/notify.py".to_string()),
    ];
    if has("systemd-notify") {
        helpers.push(("systemd", "systemd-notify --ready --no-block".to_string()));
    } else {
        eprintln!("systemd-notify not installed: checked with python3 only");
    }
    let mut units = String::new();
    for (name, helper) in &helpers {
        units.push_str(&format!(
            "service \"{name}\" {{\n    ready-notify #true\n    shell \"while [ ! -e $DIR/go ]; do sleep 0.01; done; {helper}; touch $DIR/{name}.sent; exec sleep 600\"\n}}\n"
        ));
    }
    dir.write("conf/notify.kdl", &units);
    let sv = container(&dir);
    wait_for_socket(&sv, &dir);
    for (name, _) in &helpers {
        assert_eq!(status_json(&sv, &dir, name)["state"], "starting");
    }
    sv.signal(Signal::SIGSTOP);
    dir.write("go", "");
    let sent = crate::harness::poll_until(DEADLINE, || {
        helpers
            .iter()
            .all(|(name, _)| dir.exists(&format!("{name}.sent")))
    });
    sv.signal(Signal::SIGCONT);
    assert!(sent, "the helpers did not send within {DEADLINE:?}");
    for (name, _) in &helpers {
        sv.wait_until(&format!("{name} to be up"), DEADLINE, || {
            svctl(&dir, &["status", name]).code == 0
        });
    }
}

/// `nobody` sends READY=1 to a root service's notify socket (abstract
/// socket names are not secret: /proc/net/unix lists them): ignored.
#[test]
fn another_users_ready_is_ignored() {
    let dir = TempDir::new("adv-notify-foreign");
    dir.write("notify.py", PY_NOTIFY);
    dir.write(
        "conf/notify.kdl",
        r#"
service "db" {
    ready-notify #true
    start-timeout "60s"
    shell "echo $NOTIFY_SOCKET > $DIR/db.socket; exec sleep 600"
}
"#,
    );
    let conf = dir.join("conf");
    let sock = crate::control::socket(&dir);
    let sv = Svinit::start(
        Mode::Container,
        &dir,
        &[
            "-v",
            "-c",
            &conf.to_string_lossy(),
            "-s",
            &sock.to_string_lossy(),
        ],
    );
    wait_for_socket(&sv, &dir);
    sv.wait_file(&dir, "db.socket", DEADLINE);
    let socket = dir.read("db.socket").unwrap_or_default();
    let send = |uid: Option<u32>| {
        let mut command = Command::new("setpriv");
        if let Some(uid) = uid {
            command.args([
                &format!("--reuid={uid}"),
                &format!("--regid={uid}"),
                "--clear-groups",
            ]);
        }
        command
            .arg(system_python())
            .arg(dir.join("notify.py"))
            .env("NOTIFY_SOCKET", socket.trim())
            .status()
            .is_ok_and(|status| status.success())
    };
    assert!(send(Some(65534)), "nobody could not send at all");
    sv.wait_until("svinit to ignore nobody's READY=1", DEADLINE, || {
        sv.log().contains("notify: ignored")
    });
    assert_eq!(status_json(&sv, &dir, "db")["state"], "starting");
    // The same datagram from root (svinit's own user) is taken.
    assert!(send(None), "root could not send");
    sv.wait_until("db to be up from root's READY=1", DEADLINE, || {
        svctl(&dir, &["status", "db"]).code == 0
    });
}

/// svinit's CPU time (user + system) in clock ticks, host pid `pid`.
fn cpu_ticks(pid: i32) -> u64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    let fields: Vec<&str> = stat
        .rsplit_once(')')
        .map(|(_, rest)| rest.split_whitespace().collect())
        .unwrap_or_default();
    // utime and stime are fields 14 and 15 of the whole line.
    let field = |n: usize| -> u64 { fields.get(n - 3).and_then(|v| v.parse().ok()).unwrap_or(0) };
    field(14) + field(15)
}

/// A service floods its `ready-fd` without ever writing a newline: svinit
/// reads a bounded amount, gives up on that pipe (logged), and does not
/// spend its time reading zeros.
#[test]
fn a_ready_fd_flood_without_a_newline_is_cut_off() {
    let dir = TempDir::new("adv-ready-flood");
    dir.write(
        "conf/flood.kdl",
        r#"
service "flood" {
    ready-fd 3
    start-timeout "60s"
    user "nobody"
    shell "cat /dev/zero >&3; exec sleep 600"
}
"#,
    );
    let sv = container(&dir);
    wait_for_socket(&sv, &dir);
    sv.wait_until(
        "svinit to give up on the flooded ready-fd",
        DEADLINE,
        || sv.log().contains("without a newline"),
    );
    let before = cpu_ticks(sv.pid);
    std::thread::sleep(std::time::Duration::from_secs(2));
    let spent = cpu_ticks(sv.pid) - before;
    assert!(spent < 20, "svinit used {spent} ticks of CPU in 2 s");
    assert_eq!(status_json(&sv, &dir, "flood")["state"], "starting");
}
