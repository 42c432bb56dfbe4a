//! `ready-probe` with real programs (SPEC §3 *Probes*, §4): python3's
//! `http.server` gated by a `connect` probe holds back the service that
//! requires it until its port answers; an `exec`/`shell` probe runs as the
//! service's user, and one that hangs past its `timeout` is killed.

use std::net::{Ipv4Addr, SocketAddr, TcpListener, TcpStream};
use std::time::{Duration, Instant};

use crate::harness::{DEADLINE, Svinit, TempDir, is_state_line, proc_stat, processes_in_namespace};

const PYTHON: &str = "/usr/bin/python3";

/// A port nothing listens on now (the kernel's choice of a free one).
fn free_port() -> u16 {
    let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).expect("bind 127.0.0.1:0");
    listener.local_addr().expect("local address").port()
}

#[test]
fn a_dependent_starts_only_once_the_http_servers_port_answers() {
    if !std::path::Path::new(PYTHON).exists() {
        eprintln!("skipped: no {PYTHON}");
        return;
    }
    let dir = TempDir::new("probe-connect");
    let port = free_port();
    dir.write("www/index.html", "hello\n");
    // The server opens its port a second after its exec: until then the
    // probe is refused and web is `starting`. The client fails loudly if
    // it is started before the port answers.
    dir.write(
        "conf/units.kdl",
        &format!(
            r#"
service "web" {{
    shell "sleep 1; exec {PYTHON} -m http.server {port} --bind 127.0.0.1 --directory $DIR/www"
    ready-probe {{
        connect "127.0.0.1:{port}"
        interval "100ms"
    }}
}}
service "client" {{
    requires "web"
    shell "if {PYTHON} -c 'import socket; socket.create_connection((\"127.0.0.1\", {port}), 1).close()'; then touch $DIR/client.connected; else touch $DIR/client.refused; fi; exec sleep 1000"
}}
"#
        ),
    );
    let sv = Svinit::container(&dir);
    let address = SocketAddr::from((Ipv4Addr::LOCALHOST, port));
    let start = Instant::now();
    let mut port_answered: Option<Duration> = None;
    let mut web_up: Option<Duration> = None;
    sv.wait_until("web up and its port answering", DEADLINE, || {
        std::thread::sleep(Duration::from_millis(2));
        if port_answered.is_none()
            && TcpStream::connect_timeout(&address, Duration::from_millis(50)).is_ok()
        {
            port_answered = Some(start.elapsed());
        }
        if web_up.is_none() && !sv.state_lines("web", "up").is_empty() {
            web_up = Some(start.elapsed());
        }
        port_answered.is_some() && web_up.is_some()
    });
    let (Some(answered), Some(up)) = (port_answered, web_up) else {
        unreachable!()
    };
    sv.wait_file(&dir, "client.connected", DEADLINE);
    if dir.exists("client.refused") {
        sv.fail("client was started before web's port answered");
    }
    let log = sv.log();
    let position =
        |name: &str, state: &str| log.lines().position(|l| is_state_line(l, name, state));
    match (position("web", "up"), position("client", "starting")) {
        (Some(up), Some(client)) if up < client => {}
        _ => sv.fail("client must start after web is up"),
    }
    // Seen from here, polling every few ms: the probe (every 100 ms) saw
    // the port open within about one interval.
    let latency = up.saturating_sub(answered);
    eprintln!(
        "probe-to-state latency: port answered at {answered:.3?}, web up at {up:.3?}: {latency:.3?}"
    );
    if up + Duration::from_millis(50) < answered {
        sv.fail(&format!(
            "web was up at {up:?}, before its port answered at {answered:?}"
        ));
    }
    if latency > Duration::from_millis(600) {
        sv.fail(&format!(
            "web was up {latency:?} after its port answered (interval 100ms)"
        ));
    }
}

#[test]
fn a_shell_probe_runs_as_the_service_and_one_that_hangs_is_killed_at_its_timeout() {
    let dir = TempDir::new("probe-exec");
    let shared = dir.join("shared");
    std::fs::create_dir_all(&shared).expect("mkdir shared");
    std::fs::set_permissions(&shared, std::os::unix::fs::PermissionsExt::from_mode(0o777))
        .expect("chmod shared");
    // Each probe records its uid and hangs until `go` exists, then passes.
    dir.write(
        "conf/units.kdl",
        r#"
service "app" {
    user "nobody"
    exec "sleep" "1000"
    ready-probe {
        shell "id -u > $DIR/shared/probe.uid; echo probing; test -e $DIR/shared/go || exec sleep 1000"
        interval "100ms"
        timeout "300ms"
    }
}
"#,
    );
    let sv = Svinit::container(&dir);
    sv.wait_file(&dir, "shared/probe.uid", DEADLINE);
    let uid = dir.read("shared/probe.uid").unwrap_or_default();
    if uid.trim() != "65534" {
        sv.fail(&format!("the probe ran as uid {uid:?}, not nobody's 65534"));
    }
    // Several probes have hung and been killed: never more than one sleeps.
    sv.wait_until("three probes", DEADLINE, || {
        sv.log().matches("app | probing").count() >= 3
    });
    let namespace = sv.namespace();
    let sleeping_probes = || {
        processes_in_namespace(&namespace)
            .into_iter()
            .filter_map(proc_stat)
            .filter(|p| p.comm == "sleep" && p.state != 'Z')
            .count()
    };
    let most = (0..20)
        .map(|_| {
            std::thread::sleep(Duration::from_millis(20));
            sleeping_probes()
        })
        .max()
        .unwrap_or(0);
    // app's own `sleep 1000` and at most one probe's.
    if most > 2 {
        sv.fail(&format!(
            "{most} sleeps at once: hung probes were not killed"
        ));
    }
    if !sv.state_lines("app", "up").is_empty() {
        sv.fail("app is up while its probe hangs");
    }
    dir.write("shared/go", "");
    sv.wait_state("app", "up", DEADLINE);
    sv.wait_until("the last hung probe gone", DEADLINE, || {
        sleeping_probes() == 1
    });
}

#[test]
fn a_unix_socket_probe_passes_once_the_socket_accepts() {
    if !std::path::Path::new(PYTHON).exists() {
        eprintln!("skipped: no {PYTHON}");
        return;
    }
    let dir = TempDir::new("probe-unix");
    // The socket is bound and listening only once `go` exists; before,
    // the path does not exist (a refused probe).
    dir.write(
        "conf/units.kdl",
        &format!(
            r#"
service "sock" {{
    exec "{PYTHON}" "-c" "import os, socket, time\nwhile not os.path.exists('$DIR/go'): print('waiting', flush=True); time.sleep(0.02)\ns = socket.socket(socket.AF_UNIX)\ns.bind('$DIR/app.sock')\ns.listen()\nwhile True: s.accept()[0].close()"
    ready-probe {{
        connect "$DIR/app.sock"
        interval "50ms"
    }}
}}
"#
        ),
    );
    let sv = Svinit::container(&dir);
    // Ten looks for `go` (200 ms): four probe intervals or more.
    sv.wait_until("sock waiting a while", DEADLINE, || {
        sv.log().matches("sock | waiting").count() >= 10
    });
    if !sv.state_lines("sock", "up").is_empty() {
        sv.fail("sock is up before its socket exists");
    }
    dir.write("go", "");
    sv.wait_state("sock", "up", DEADLINE);
}
