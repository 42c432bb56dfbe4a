//! Probes with real programs (SPEC §3 *Probes*, §4, §5): python3's
//! `http.server` gated by a `connect` probe holds back the service that
//! requires it until its port answers; an `exec`/`shell` probe runs as the
//! service's user, and one that hangs past its `timeout` is killed. A
//! wedged (SIGSTOPped) service is restarted by its `health` probe; health
//! shows in `svctl status` (exit 3 when unhealthy) and as events. A
//! probe's exit leaves its service's unterminated output line whole, and
//! takes what it left running in its process group with it.

use std::net::{Ipv4Addr, SocketAddr, TcpListener, TcpStream};
use std::time::{Duration, Instant};

use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;
use serde_json::Value;

use crate::control::{container, expect, status_json, svctl, wait_for_socket};
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
    if latency > Duration::from_secs(1) {
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
        shell "id -u > $DIR/shared/uid.$$; mv $DIR/shared/uid.$$ $DIR/shared/probe.uid; echo probing; test -e $DIR/shared/go || exec sleep 1000"
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

#[test]
fn a_wedged_service_is_restarted_by_its_health_probe() {
    let dir = TempDir::new("health-wedged");
    // The service beats every 50 ms; its health probe fails when the last
    // beat is older than 500 ms. SIGSTOP wedges it.
    dir.write(
        "conf/units.kdl",
        r#"
service "beater" {
    shell "echo $$ >> $DIR/pids; while :; do touch $DIR/beat; sleep 0.05; done"
    health {
        shell "test -n \"$(find $DIR/beat -newermt '-0.5 seconds')\""
        interval "200ms"
        timeout "1s"
        retries 2
    }
}
"#,
    );
    let sv = container(&dir);
    wait_for_socket(&sv, &dir);
    sv.wait_until("beater healthy", DEADLINE, || {
        status_json(&sv, &dir, "beater")["health"]["state"] == "healthy"
    });
    let first: i32 = dir.lines("pids")[0].trim().parse().expect("a pid");
    let host = sv.host_pid(first).unwrap_or_else(|| sv.fail("no host pid"));
    kill(Pid::from_raw(host), Signal::SIGSTOP).expect("SIGSTOP");
    let stopped = Instant::now();
    sv.wait_until("beater started again", DEADLINE, || {
        dir.lines("pids").len() >= 2
    });
    let restarted = stopped.elapsed();
    // interval × retries + timeout, plus the 500 ms of staleness the probe
    // allows and the backoff's first 1 s.
    let bound = Duration::from_millis(200 * 2 + 1000 + 500 + 1000 + 1500);
    eprintln!("health: SIGSTOP to restart {restarted:.3?} (bound {bound:?})");
    if restarted > bound {
        sv.fail(&format!(
            "restarted {restarted:?} after SIGSTOP, bound {bound:?}"
        ));
    }
    let status = status_json(&sv, &dir, "beater");
    if status["restarts"] != 1 {
        sv.fail(&format!("want restarts 1: {status}"));
    }
    let crash = sv
        .state_lines("beater", "backoff")
        .into_iter()
        .find(|line| line.contains("health check failed"));
    if crash.is_none() {
        sv.fail("the backoff line does not say `health check failed`");
    }
}

#[test]
fn health_shows_in_status_and_events_and_unhealthy_exits_3() {
    let dir = TempDir::new("health-status");
    dir.write(
        "conf/units.kdl",
        r#"
service "app" {
    exec "sleep" "1000"
    health {
        shell "test -e $DIR/ok || { echo not ok; exit 7; }"
        interval "100ms"
        retries 2
        on-failure "log"
    }
}
service "plain" { exec "sleep" "1000"; }
"#,
    );
    let sv = container(&dir);
    wait_for_socket(&sv, &dir);
    if !status_json(&sv, &dir, "plain")
        .as_object()
        .is_some_and(|o| o.get("health") == Some(&Value::Null))
    {
        sv.fail("`health` must be present and null without a health block");
    }
    sv.wait_until("app unhealthy", DEADLINE, || {
        status_json(&sv, &dir, "app")["health"]["state"] == "unhealthy"
    });
    let health = status_json(&sv, &dir, "app")["health"].clone();
    if health["failures"].as_u64() < Some(2)
        || health["last"]["ok"] != false
        || health["last"]["detail"] != "exited with status 7"
        || !health["last"]["time"].is_number()
    {
        sv.fail(&format!("health of app: {health}"));
    }
    if status_json(&sv, &dir, "app")["state"] != "up" {
        sv.fail("on-failure \"log\" leaves it up");
    }
    let text = expect(&sv, &dir, &["status", "app"], 3);
    if !text.stdout.contains("health: unhealthy") {
        sv.fail(&format!("status text: {text}"));
    }
    expect(&sv, &dir, &["status", "plain"], 0);
    dir.write("ok", "");
    sv.wait_until("app healthy", DEADLINE, || {
        svctl(&dir, &["status", "app"]).code == 0
    });
    let events = expect(&sv, &dir, &["events", "--since", "0", "--no-follow"], 0);
    let health_events: Vec<(String, String)> = events
        .stdout
        .lines()
        .filter_map(|line| serde_json::from_str::<Value>(line).ok())
        .filter(|event| event["kind"] == "health" && event["name"] == "app")
        .map(|event| {
            (
                event["from"].as_str().unwrap_or_default().to_string(),
                event["to"].as_str().unwrap_or_default().to_string(),
            )
        })
        .collect();
    let want = [("starting", "unhealthy"), ("unhealthy", "healthy")]
        .map(|(from, to)| (from.to_string(), to.to_string()));
    if health_events != want {
        sv.fail(&format!(
            "health events {health_events:?}, want {want:?}:\n{events}"
        ));
    }
}

#[test]
fn a_probes_exit_does_not_cut_the_services_unterminated_line() {
    let dir = TempDir::new("probe-partial-line");
    // Each line comes in two writes 20 ms apart, well within the 100 ms a
    // partial line waits for its newline; a probe ends every few ms.
    dir.write(
        "conf/units.kdl",
        r#"
service "app" {
    shell "for i in $(seq 40); do printf 'first half, '; sleep 0.02; echo 'second half'; sleep 0.01; done; touch $DIR/done; exec sleep 1000"
    health {
        exec "true"
        interval "5ms"
    }
}
"#,
    );
    let sv = Svinit::container(&dir);
    sv.wait_file(&dir, "done", DEADLINE);
    sv.wait_until("forty lines of app", DEADLINE, || {
        sv.log().matches("app | ").count() >= 40
    });
    let log = sv.log();
    let cut: Vec<&str> = log
        .lines()
        .filter(|line| line.contains("app | ") && !line.ends_with("app | first half, second half"))
        .collect();
    if !cut.is_empty() {
        sv.fail(&format!("app's lines were cut: {cut:?}"));
    }
}

#[test]
fn what_a_probe_leaves_running_in_its_group_is_killed_when_it_exits() {
    let dir = TempDir::new("probe-leftover");
    dir.write(
        "conf/units.kdl",
        r#"
service "app" {
    exec "tail" "-f" "/dev/null"
    ready-probe {
        shell "sleep 1000 & sleep 0.2; exit 0"
        interval "100ms"
    }
}
"#,
    );
    let sv = Svinit::container(&dir);
    // Up once the probe has exited, its `sleep 1000` started 0.2 s before.
    sv.wait_state("app", "up", DEADLINE);
    let namespace = sv.namespace();
    sv.wait_until("the probe's sleep gone", DEADLINE, || {
        !processes_in_namespace(&namespace)
            .into_iter()
            .filter_map(proc_stat)
            .any(|p| p.comm == "sleep" && p.state != 'Z')
    });
}

/// A probe runs with the environment its service was started with: the
/// `environment-file` is read once per start, not again at each probe (a
/// path the service may write, read by PID 1 every interval otherwise). A
/// restart reads it anew.
#[test]
fn probes_run_with_the_environment_of_the_start_and_a_restart_reads_it_anew() {
    let dir = TempDir::new("probe-env");
    dir.write("app.env", "GENERATION=first\n");
    dir.write(
        "conf/units.kdl",
        r#"
service "app" {
    exec "sleep" "1000"
    environment-file "$DIR/app.env"
    health {
        shell "echo $GENERATION >> $DIR/seen"
        interval "50ms"
    }
}
"#,
    );
    let sv = container(&dir);
    wait_for_socket(&sv, &dir);
    sv.wait_until("a first probe", DEADLINE, || !dir.lines("seen").is_empty());
    dir.write("app.env", "GENERATION=second\n");
    let probed = dir.lines("seen").len();
    sv.wait_until("three more probes", DEADLINE, || {
        dir.lines("seen").len() >= probed + 3
    });
    let seen = dir.lines("seen");
    if seen.iter().any(|line| line != "first") {
        sv.fail(&format!("probes after the file changed: {seen:?}"));
    }
    expect(&sv, &dir, &["restart", "app"], 0);
    sv.wait_until("a probe of the new start", DEADLINE, || {
        dir.lines("seen").last().map(String::as_str) == Some("second")
    });
}
