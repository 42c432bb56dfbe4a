//! Fault injection (issue 9, RELIABILITY.md): svinit as PID 1 under chaos
//! (random crashes plus a SIGKILL loop), fork bombs, 200 concurrent
//! clients, clients that never read or vanish mid-stream, reload storms,
//! full and vanished transcript directories, an unwritable socket
//! directory. Each test is bounded in time: a short version runs in
//! `make check`, `SVINIT_SOAK=1` (`make soak`) runs the long one. Figures
//! go to stderr (`--nocapture`) as `figure: ...` lines.

use std::collections::{BTreeMap, HashMap};
use std::io::{BufRead, BufReader, Write};
use std::os::unix::net::UnixStream;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Barrier, Mutex};
use std::thread;
use std::time::{Duration, Instant};

use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;
use serde_json::Value;

use crate::control::{
    container, expect, fd_count, settled_fds, socket, svctl, svctl_bin, wait_for_socket,
};
use crate::harness::{
    DEADLINE, Mode, Svinit, TempDir, all_processes, fd_census, poll_until, proc_stat,
    processes_in_namespace,
};
use crate::output::Tmpfs;

// ------------------------------------------------------------- helpers

fn soak() -> bool {
    std::env::var("SVINIT_SOAK").is_ok_and(|v| v == "1")
}

/// `short` in `make check`, `long` under `SVINIT_SOAK=1`.
fn pick<T>(short: T, long: T) -> T {
    if soak() { long } else { short }
}

fn figure(test: &str, text: &str) {
    eprintln!("figure: {test}: {text}");
}

/// xorshift64*, seeded from `SVINIT_CHAOS_SEED` or the clock (printed).
struct Rng(u64);

impl Rng {
    fn new(test: &str) -> Rng {
        let seed = std::env::var("SVINIT_CHAOS_SEED")
            .ok()
            .and_then(|s| s.parse().ok())
            .unwrap_or_else(|| {
                std::time::SystemTime::now()
                    .duration_since(std::time::UNIX_EPOCH)
                    .map(|d| d.as_nanos() as u64)
                    .unwrap_or(1)
            })
            | 1;
        figure(test, &format!("seed {seed} (SVINIT_CHAOS_SEED)"));
        Rng(seed)
    }

    fn below(&mut self, bound: usize) -> usize {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        (self.0.wrapping_mul(0x2545_F491_4F6C_DD1D) >> 33) as usize % bound.max(1)
    }
}

/// svinit's resident set in KiB (host pid).
fn rss_kib(sv: &Svinit) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{}/status", sv.pid))
        .unwrap_or_else(|e| sv.fail(&format!("read /proc/{}/status: {e}", sv.pid)));
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.split_whitespace().next()?.parse().ok())
        .unwrap_or_else(|| sv.fail("no VmRSS"))
}

/// The real uid of a host process.
fn uid_of(pid: i32) -> Option<u32> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let line = status.lines().find(|l| l.starts_with("Uid:"))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

/// Zombies in svinit's namespace (host pids).
fn zombies(sv: &Svinit) -> Vec<i32> {
    processes_in_namespace(&sv.namespace())
        .into_iter()
        .filter(|&pid| proc_stat(pid).is_some_and(|p| p.state == 'Z'))
        .collect()
}

/// The live direct children of svinit: the services' main processes.
fn service_processes(sv: &Svinit) -> Vec<i32> {
    all_processes()
        .into_iter()
        .filter(|p| p.ppid == sv.pid && p.state != 'Z')
        .map(|p| p.pid)
        .collect()
}

/// `status --json` of every service, by name.
fn statuses(sv: &Svinit, dir: &TempDir) -> BTreeMap<String, Value> {
    let run = svctl(dir, &["status", "--json"]);
    if run.code != 0 && run.code != 3 {
        sv.fail(&format!("status --json: {run}"));
    }
    let all: Vec<Value> = serde_json::from_str(run.stdout.trim())
        .unwrap_or_else(|e| sv.fail(&format!("status --json is not JSON ({e}): {run}")));
    all.into_iter()
        .map(|s| (s["name"].as_str().unwrap_or_default().to_string(), s))
        .collect()
}

/// How long `svctl status` takes, failing unless it succeeds.
fn status_latency(sv: &Svinit, dir: &TempDir) -> Duration {
    let start = Instant::now();
    let run = svctl(dir, &["status"]);
    let took = start.elapsed();
    if run.code != 0 && run.code != 3 {
        sv.fail(&format!("status while under fault: {run}"));
    }
    took
}

/// A `svctl events --since 0` running for the whole test, collecting
/// every event it prints.
struct Follower {
    child: Child,
    events: Arc<Mutex<Vec<Value>>>,
    reader: Option<thread::JoinHandle<()>>,
}

impl Follower {
    fn start(dir: &TempDir) -> Follower {
        let mut child = Command::new(svctl_bin())
            .arg("-s")
            .arg(socket(dir))
            .args(["events", "--since", "0"])
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .spawn()
            .expect("spawn svctl events");
        let stdout = child.stdout.take().expect("stdout");
        let events = Arc::new(Mutex::new(Vec::new()));
        let sink = Arc::clone(&events);
        let reader = thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                let event: Value = serde_json::from_str(&line)
                    .unwrap_or_else(|e| panic!("event line {line:?}: {e}"));
                sink.lock().unwrap().push(event);
            }
        });
        Follower {
            child,
            events,
            reader: Some(reader),
        }
    }

    fn events(&self) -> Vec<Value> {
        self.events.lock().unwrap().clone()
    }

    /// The last event seen per service.
    fn last_per_service(&self) -> HashMap<String, Value> {
        let mut last = HashMap::new();
        for event in self.events() {
            last.insert(
                event["name"].as_str().unwrap_or_default().to_string(),
                event,
            );
        }
        last
    }

    fn still_connected(&mut self) -> bool {
        self.child.try_wait().ok().flatten().is_none()
    }
}

impl Drop for Follower {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        if let Some(reader) = self.reader.take() {
            let _ = reader.join();
        }
    }
}

/// The follower's stream is complete: numbered 1, 2, 3 … without a gap or
/// a repeat, and per service every event starts where the previous ended.
fn check_event_stream(sv: &Svinit, events: &[Value]) {
    let mut state: HashMap<String, String> = HashMap::new();
    for (i, event) in events.iter().enumerate() {
        if event["seq"] != i as u64 + 1 {
            sv.fail(&format!(
                "event {} has seq {} (gap or repeat): {event}",
                i + 1,
                event["seq"]
            ));
        }
        let name = event["name"].as_str().unwrap_or_default().to_string();
        let from = event["from"].as_str().unwrap_or_default().to_string();
        let to = event["to"].as_str().unwrap_or_default().to_string();
        let before = state.get(&name).cloned().unwrap_or_else(|| "down".into());
        if from != before {
            sv.fail(&format!(
                "{name}: event {event} starts from {from}, the previous one ended in {before}: a transition is missing"
            ));
        }
        state.insert(name, to);
    }
}

/// Checks that no zombie stays in svinit's namespace.
fn wait_no_zombies(sv: &Svinit) {
    sv.wait_until("no zombie in the namespace", DEADLINE, || {
        zombies(sv).is_empty()
    });
}

// --------------------------------------------------------------- chaos

const CHAOS_SERVICES: usize = 50;

/// Even services restart forever (their exit codes are never "done");
/// odd ones keep the defaults: exit 0 or 2 is `done`, three quick crashes
/// in a row are `failed`.
fn chaos_config() -> String {
    let mut text = String::new();
    for i in 0..CHAOS_SERVICES {
        let policy = if i % 2 == 0 {
            "    forever #true\n    exit-codes 100\n    backoff-limit \"1s\"\n"
        } else {
            "    backoff-limit \"3s\"\n"
        };
        // Lifetime and exit code vary with the pid: 0.0 to 2.9 s, 0 to 3.
        text.push_str(&format!(
            "service \"c{i:02}\" {{\n    shell \"echo start $$; sleep $(( $$ % 3 )).$(( $$ % 10 )); exit $(( $$ / 7 % 4 ))\"\n{policy}}}\n"
        ));
    }
    text
}

/// What the rules allow for chaos service `i` in `status`.
fn check_chaos_state(sv: &Svinit, i: usize, status: &Value) {
    let state = status["state"].as_str().unwrap_or_default();
    let ok = match state {
        "starting" | "up" | "backoff" => true,
        // Only the default-policy services end, and only for these reasons.
        "done" => i % 2 == 1 && [0, 2].contains(&status["exit"]["code"].as_i64().unwrap_or(-1)),
        "failed" => i % 2 == 1 && !status["reason"].is_null(),
        _ => false,
    };
    if !ok {
        sv.fail(&format!("c{i:02} in a state the rules forbid: {status}"));
    }
    if state == "backoff" {
        let next = status["next_restart"].as_f64().unwrap_or(-1.0);
        let limit = if i.is_multiple_of(2) { 1.0 } else { 3.0 };
        if !(0.0..=limit + 0.5).contains(&next) {
            sv.fail(&format!("c{i:02} waits {next} s to restart: {status}"));
        }
    }
}

#[test]
fn chaos_random_crashes_and_sigkills_lose_nothing() {
    let test = "chaos";
    let length = pick(Duration::from_secs(5), Duration::from_secs(60));
    let dir = TempDir::new("fault-chaos");
    dir.write("conf/chaos.kdl", &chaos_config());
    let sv = container(&dir);
    wait_for_socket(&sv, &dir);
    let mut follower = Follower::start(&dir);
    sv.wait_until("every chaos service to have started", DEADLINE, || {
        statuses(&sv, &dir)
            .values()
            .all(|s| s["restarts"].as_u64().is_some())
            && follower.last_per_service().len() == CHAOS_SERVICES
    });
    // The baseline is taken with no start in flight: a starting service's
    // exec-status pipe is open until its exec, and would count.
    let mut fds_before = 0;
    sv.wait_until("a moment with no service starting", DEADLINE, || {
        let at_rest = |s: &BTreeMap<String, Value>| {
            let quiet = s.values().all(|v| v["state"] != "starting");
            quiet.then(|| {
                s.values()
                    .map(|v| {
                        (
                            v["state"].to_string(),
                            v["pid"].to_string(),
                            v["restarts"].to_string(),
                        )
                    })
                    .collect::<Vec<_>>()
            })
        };
        let Some(before) = at_rest(&statuses(&sv, &dir)) else {
            return false;
        };
        fds_before = settled_fds(&sv, &dir, 1);
        at_rest(&statuses(&sv, &dir)) == Some(before)
    });
    let rss_before = rss_kib(&sv);

    let mut rng = Rng::new(test);
    let start = Instant::now();
    let (mut kills, mut samples, mut slowest) = (0usize, 0usize, Duration::ZERO);
    let mut rss_warm = None;
    // States and latency are sampled by the clock, not by the kill count:
    // on a loaded host the /proc scans make kills rare.
    let mut sampled: Option<Instant> = None;
    while start.elapsed() < length {
        let victims = service_processes(&sv);
        if !victims.is_empty() {
            let victim = victims[rng.below(victims.len())];
            if kill(Pid::from_raw(victim), Signal::SIGKILL).is_ok() {
                kills += 1;
            }
        }
        if sampled.is_none_or(|at| at.elapsed() >= Duration::from_millis(250)) {
            sampled = Some(Instant::now());
            slowest = slowest.max(status_latency(&sv, &dir));
            for (name, status) in statuses(&sv, &dir) {
                let i: usize = name[1..].parse().unwrap_or(0);
                check_chaos_state(&sv, i, &status);
            }
            samples += 1;
        }
        if rss_warm.is_none() && start.elapsed() > length / 5 {
            rss_warm = Some(rss_kib(&sv));
        }
        thread::sleep(Duration::from_millis(20));
    }
    let rss_chaos = rss_kib(&sv);
    let statuses_now = statuses(&sv, &dir);
    assert_eq!(statuses_now.len(), CHAOS_SERVICES);
    for (name, status) in &statuses_now {
        check_chaos_state(&sv, name[1..].parse().unwrap_or(0), status);
    }
    let restarts: u64 = statuses_now
        .values()
        .map(|s| s["restarts"].as_u64().unwrap_or(0))
        .sum();

    // Quiesce: stop everything; the follower must see every service end
    // down, nothing may be left in the namespace but svinit.
    let names: Vec<String> = (0..CHAOS_SERVICES).map(|i| format!("c{i:02}")).collect();
    let mut args = vec!["stop"];
    args.extend(names.iter().map(String::as_str));
    expect(&sv, &dir, &args, 0);
    sv.wait_until("the follower to see every service down", DEADLINE, || {
        let last = follower.last_per_service();
        names
            .iter()
            .all(|n| last.get(n).is_some_and(|e| e["to"] == "down"))
    });
    assert!(
        follower.still_connected(),
        "the events follower was dropped"
    );
    for (name, status) in statuses(&sv, &dir) {
        assert_eq!(status["state"], "down", "{name}: {status}");
    }
    wait_no_zombies(&sv);
    // svinit's own spawner (src/spawn/spawner.rs) stays, idle.
    sv.wait_until("only svinit left in its namespace", DEADLINE, || {
        processes_in_namespace(&sv.namespace())
            .into_iter()
            .all(|pid| pid == sv.pid || proc_stat(pid).is_some_and(|p| p.comm == "svinit-spawner"))
    });
    let events = follower.events();
    check_event_stream(&sv, &events);
    // The stream also agrees with the ring's replay of its last part.
    let tail = events.len().saturating_sub(500);
    let run = expect(
        &sv,
        &dir,
        &["events", "--since", &tail.to_string(), "--no-follow"],
        0,
    );
    let replay: Vec<Value> = run
        .stdout
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(replay[..], events[tail..], "replay and live stream differ");

    let total = || fd_census(sv.pid, &socket(&dir)).total;
    let settled = poll_until(DEADLINE, || total() == fds_before);
    if !settled {
        sv.fail(&format!(
            "svinit has {} descriptors after the chaos, {fds_before} before",
            total()
        ));
    }
    let rss_after = rss_kib(&sv);
    let warm = rss_warm.unwrap_or(rss_before);
    figure(
        test,
        &format!(
            "{:.1?}, {CHAOS_SERVICES} services, {kills} SIGKILLs, {restarts} restarts, {} events, {samples} status samples (slowest status {slowest:.0?}), fds {fds_before} → {}, RSS KiB boot {rss_before} / warm {warm} / end of chaos {rss_chaos} / after {rss_after}",
            start.elapsed(),
            events.len(),
            fd_count(sv.pid)
        ),
    );
    assert!(kills > 0 && restarts > 0, "no chaos happened");
    assert!(samples > 0, "no status sampled during the chaos");
    assert!(
        rss_after <= warm + 1024,
        "svinit grew from {warm} KiB to {rss_after} KiB during the chaos"
    );
    assert!(slowest < Duration::from_secs(2), "status took {slowest:?}");
}

// ----------------------------------------------------------- fork bomb

/// The fork bombs' own uid. RLIMIT_NPROC counts processes per uid across
/// the whole machine, so a named account would be shared with any other run
/// of this suite on the host (a second `cargo test` makes the bombs hit the
/// limit early and this one never sees them). A uid with no passwd entry,
/// unique to this test process.
fn bomb_uid() -> u32 {
    0x5E00_0000 + std::process::id()
}

const NPROC: usize = 40;

#[test]
fn fork_bombs_stay_inside_nproc_and_svinit_keeps_answering() {
    let test = "fork-bomb";
    let length = pick(Duration::from_secs(3), Duration::from_secs(60));
    let uid = bomb_uid();
    let dir = TempDir::new("fault-bomb");
    // A shell whose fork fails exits 0 or 2, which the default `exit-codes`
    // call done: only code 100 is, so both bombs go off again and again.
    dir.write(
        "conf/bomb.kdl",
        &format!(
            r#"
service "bomb" {{
    user "{uid}"
    group "{uid}"
    limits {{ nproc {NPROC} }}
    shell "b() {{ b & b & wait; }}; b"
    forever #true
    exit-codes 100
    backoff-limit "1s"
}}
service "runaway" {{
    user "{uid}"
    group "{uid}"
    limits {{ nproc {NPROC} }}
    shell "while :; do ( sleep 1000 & ) 2>/dev/null; done"
    forever #true
    exit-codes 100
    backoff-limit "1s"
}}
service "steady" {{
    exec "sleep" "100000"
}}
"#
        ),
    );
    let sv = container(&dir);
    wait_for_socket(&sv, &dir);
    let ns = sv.namespace();
    let count = || {
        processes_in_namespace(&ns)
            .into_iter()
            .filter(|&p| uid_of(p) == Some(uid))
            .count()
    };
    sv.wait_until("the bombs to reach the limit", DEADLINE, || {
        count() >= NPROC / 2
    });
    let start = Instant::now();
    let (mut most, mut slowest, mut asked) = (0, Duration::ZERO, 0);
    while start.elapsed() < length {
        most = most.max(count());
        slowest = slowest.max(status_latency(&sv, &dir));
        asked += 1;
    }
    let during = statuses(&sv, &dir);
    assert_eq!(during["steady"]["state"], "up", "{}", during["steady"]);
    assert_eq!(during["steady"]["restarts"], 0, "{}", during["steady"]);
    let restarts = |name: &str| during[name]["restarts"].as_u64().unwrap_or(0);
    // Both services stop (their process groups are signalled), then
    // whatever escaped the groups is killed from outside: svinit reaps it.
    expect(&sv, &dir, &["stop", "bomb", "runaway"], 0);
    let leftovers = count();
    poll_until(DEADLINE, || {
        for pid in processes_in_namespace(&ns) {
            if uid_of(pid) == Some(uid) {
                let _ = kill(Pid::from_raw(pid), Signal::SIGKILL);
            }
        }
        count() == 0
    });
    wait_no_zombies(&sv);
    let took = status_latency(&sv, &dir);
    figure(
        test,
        &format!(
            "{length:?} of two fork bombs under nproc {NPROC} (restarted {} and {} times): at most {most} processes of the uid seen, {asked} status requests, slowest {slowest:.0?}; {leftovers} left after stop, all reaped; status afterwards {took:.0?}",
            restarts("bomb"),
            restarts("runaway")
        ),
    );
    // The kernel lets setuid() take a uid past its limit and refuses the
    // execve() that follows (PF_NPROC_EXCEEDED): a service's fresh main
    // process can be the one too many until its exec fails. Two services,
    // so at most two over; a bomb that escaped the limit would be hundreds.
    assert!(most <= NPROC + 2, "{most} processes past nproc {NPROC}");
    assert!(
        slowest < Duration::from_secs(2),
        "status took {slowest:?} under the bomb"
    );
}

// -------------------------------------------------- concurrent clients

#[test]
fn two_hundred_concurrent_clients_while_services_crash() {
    let test = "200-clients";
    let rounds = pick(1, 30);
    let dir = TempDir::new("fault-clients");
    let mut conf = String::new();
    for i in 0..5 {
        conf.push_str(&format!(
            "service \"crash{i}\" {{\n    shell \"sleep 0.$(( $$ % 5 + 1 )); exit 1\"\n    forever #true\n    backoff-limit \"1s\"\n}}\n"
        ));
        conf.push_str(&format!(
            "service \"steady{i}\" {{\n    exec \"sleep\" \"100000\"\n}}\n"
        ));
    }
    dir.write("conf/clients.kdl", &conf);
    let sv = container(&dir);
    wait_for_socket(&sv, &dir);
    sv.wait_until("every steady service up", DEADLINE, || {
        statuses(&sv, &dir)
            .iter()
            .filter(|(n, _)| n.starts_with("steady"))
            .all(|(_, s)| s["state"] == "up")
    });
    let fds_before = settled_fds(&sv, &dir, 0);
    let answered = Arc::new(AtomicUsize::new(0));
    let refused = Arc::new(AtomicUsize::new(0));
    let start = Instant::now();
    for _ in 0..rounds {
        let barrier = Arc::new(Barrier::new(200));
        let clients: Vec<_> = (0..200)
            .map(|i| {
                let barrier = Arc::clone(&barrier);
                let sock = socket(&dir);
                let (answered, refused) = (Arc::clone(&answered), Arc::clone(&refused));
                thread::spawn(move || {
                    let target = format!("{}{}", ["steady", "crash"][i % 2], i % 5);
                    let args: Vec<&str> = match i % 4 {
                        0 | 1 => vec!["status", "--json"],
                        2 => vec!["restart", &target],
                        _ => vec!["status", &target],
                    };
                    barrier.wait();
                    let out = Command::new(svctl_bin())
                        .arg("-s")
                        .arg(&sock)
                        .args(&args)
                        .stdin(Stdio::null())
                        .output()
                        .expect("run svctl");
                    let code = out.status.code().unwrap_or(-1);
                    let stderr = String::from_utf8_lossy(&out.stderr);
                    let ok = match args[0] {
                        "restart" => code == 0 || (code == 1 && target.starts_with("crash")),
                        _ => code == 0 || code == 3,
                    };
                    if ok {
                        answered.fetch_add(1, Ordering::Relaxed);
                    } else if code == 1 && stderr.contains("serving 128 clients already") {
                        refused.fetch_add(1, Ordering::Relaxed);
                    } else {
                        panic!("svctl {args:?}: exit {code}: {stderr}");
                    }
                })
            })
            .collect();
        for client in clients {
            client.join().expect("a client failed");
        }
    }
    let took = start.elapsed();
    let settled = poll_until(DEADLINE, || fd_count(sv.pid) == fds_before);
    if !settled {
        sv.fail(&format!(
            "{} descriptors after the clients, {fds_before} before",
            fd_count(sv.pid)
        ));
    }
    let (answered, refused) = (
        answered.load(Ordering::Relaxed),
        refused.load(Ordering::Relaxed),
    );
    figure(
        test,
        &format!(
            "{rounds} × 200 concurrent svctl in {took:.1?}: {answered} answered, {refused} refused as too many clients (limit 128)"
        ),
    );
    assert_eq!(answered + refused, rounds * 200);
    assert!(answered >= rounds * 128, "only {answered} answered");
    expect(&sv, &dir, &["status", "steady0"], 0);
}

// --------------------------------------------------- slow and gone clients

/// A name long enough that events are large: the stuck follower's backlog
/// fills sooner.
fn long_name(i: usize) -> String {
    format!("s{i:02}-{}", "x".repeat(48))
}

#[test]
fn a_follower_that_never_reads_is_dropped_and_others_lose_nothing() {
    let test = "never-reads";
    let dir = TempDir::new("fault-stuck");
    let names: Vec<String> = (0..50).map(long_name).collect();
    let conf: String = names
        .iter()
        .map(|n| {
            format!("service \"{n}\" {{\n    exec \"sleep\" \"100000\"\n    autostart #false\n}}\n")
        })
        .collect();
    dir.write("conf/many.kdl", &conf);
    let sv = Svinit::start(
        Mode::Container,
        &dir,
        &[
            "-v",
            "-c",
            &dir.join("conf").to_string_lossy(),
            "-s",
            &socket(&dir).to_string_lossy(),
        ],
    );
    wait_for_socket(&sv, &dir);
    let mut follower = Follower::start(&dir);
    let mut start_args = vec!["start"];
    start_args.extend(names.iter().map(String::as_str));
    let mut stop_args = start_args.clone();
    stop_args[0] = "stop";
    // The first start makes each service's output pipe, kept from then on.
    expect(&sv, &dir, &start_args, 0);
    expect(&sv, &dir, &stop_args, 0);
    let fds_before = settled_fds(&sv, &dir, 1);
    // Asks for events and then never reads.
    let mut stuck = UnixStream::connect(socket(&dir)).expect("connect");
    stuck
        .write_all(b"{\"v\":1,\"cmd\":\"events\",\"follow\":true}\n")
        .expect("send");
    let start = Instant::now();
    let (mut cycles, mut slowest) = (0, Duration::ZERO);
    let dropped = || sv.log().contains("dropping a follower");
    while !dropped() {
        if start.elapsed() > Duration::from_secs(60) {
            sv.fail("the follower that never reads was not dropped within 60 s");
        }
        expect(&sv, &dir, &start_args, 0);
        expect(&sv, &dir, &stop_args, 0);
        slowest = slowest.max(status_latency(&sv, &dir));
        cycles += 1;
    }
    let took = start.elapsed();
    // It was cut off: what it gets ends, then EOF.
    stuck
        .set_read_timeout(Some(DEADLINE))
        .expect("read timeout");
    let mut received = Vec::new();
    let read = std::io::Read::read_to_end(&mut stuck, &mut received);
    assert!(
        read.is_ok(),
        "the stuck client was not disconnected: {read:?}"
    );
    // svinit still answers; the reading follower got every event, in order.
    assert_eq!(statuses(&sv, &dir).len(), 50);
    sv.wait_until("the follower to see the last stop", DEADLINE, || {
        let last = follower.last_per_service();
        names
            .iter()
            .all(|n| last.get(n).is_some_and(|e| e["to"] == "down"))
    });
    assert!(follower.still_connected());
    let events = follower.events();
    check_event_stream(&sv, &events);
    drop(stuck);
    let settled = poll_until(DEADLINE, || fd_count(sv.pid) == fds_before);
    if !settled {
        sv.fail(&format!(
            "{} descriptors, {fds_before} before",
            fd_count(sv.pid)
        ));
    }
    figure(
        test,
        &format!(
            "dropped after {took:.1?}, {cycles} start/stop cycles of 50 services, {} events ({} bytes read by the stuck client before EOF); the other follower got all {} in order; slowest status {slowest:.0?}",
            events.len(),
            received.len(),
            events.len()
        ),
    );
}

#[test]
fn clients_vanishing_mid_logs_follow_cost_nothing() {
    let test = "logs-f-hangups";
    let hangups = pick(30, 1000);
    let dir = TempDir::new("fault-hangup");
    dir.write(
        "conf/talk.kdl",
        r#"
service "talk" {
    shell "i=0; while :; do i=$((i+1)); echo \"line $i $i $i $i $i $i $i $i $i $i $i $i $i $i $i $i\"; done"
}
"#,
    );
    let sv = container(&dir);
    wait_for_socket(&sv, &dir);
    sv.wait_until("talk to talk", DEADLINE, || {
        svctl(&dir, &["logs", "-n", "1", "talk"])
            .stdout
            .contains("line")
    });
    let fds_before = settled_fds(&sv, &dir, 0);
    let start = Instant::now();
    for i in 0..hangups {
        if i % 2 == 0 {
            // svctl killed while it streams.
            let mut child = Command::new(svctl_bin())
                .arg("-s")
                .arg(socket(&dir))
                .args(["logs", "-f", "talk"])
                .stdin(Stdio::null())
                .stdout(Stdio::piped())
                .spawn()
                .expect("spawn svctl logs -f");
            let mut reader = BufReader::new(child.stdout.take().expect("stdout"));
            let mut line = String::new();
            reader.read_line(&mut line).expect("read a line");
            assert!(line.contains("line"), "{line:?}");
            let _ = child.kill();
            let _ = child.wait();
        } else {
            // A raw client reading half a reply and closing.
            let mut stream = UnixStream::connect(socket(&dir)).expect("connect");
            stream
                .write_all(b"{\"v\":1,\"cmd\":\"logs\",\"name\":\"talk\",\"follow\":true}\n")
                .expect("send");
            let mut buf = [0u8; 1000];
            let _ = std::io::Read::read(&mut stream, &mut buf);
        }
    }
    let settled = poll_until(DEADLINE, || fd_count(sv.pid) == fds_before);
    if !settled {
        sv.fail(&format!(
            "{} descriptors after {hangups} hang-ups, {fds_before} before",
            fd_count(sv.pid)
        ));
    }
    let status = &statuses(&sv, &dir)["talk"];
    assert_eq!(status["state"], "up", "{status}");
    assert_eq!(status["restarts"], 0, "{status}");
    figure(
        test,
        &format!(
            "{hangups} followers vanished mid-stream in {:.1?}; descriptors back to {fds_before}",
            start.elapsed()
        ),
    );
}

// -------------------------------------------------------- reload storm

fn pid_unit(name: &str) -> String {
    format!(
        "service \"{name}\" {{\n    shell \"echo $$ > $DIR/{name}.tmp; mv $DIR/{name}.tmp $DIR/{name}.pid; exec sleep 100000\"\n}}\n"
    )
}

#[test]
fn reload_storms_never_disturb_running_services() {
    let test = "reload-storm";
    let reloads = pick(100, 2000);
    let dir = TempDir::new("fault-reload");
    let core = ["r0", "r1", "r2", "r3", "r4"];
    for name in core {
        dir.write(&format!("conf/{name}.kdl"), &pid_unit(name));
    }
    let sv = container(&dir);
    wait_for_socket(&sv, &dir);
    let mut pids = Vec::new();
    for name in core {
        sv.wait_file(&dir, &format!("{name}.pid"), DEADLINE);
        sv.wait_state(name, "up", DEADLINE);
        let pid: i32 = dir
            .read(&format!("{name}.pid"))
            .and_then(|s| s.trim().parse().ok())
            .unwrap_or_else(|| sv.fail("no pid"));
        pids.push(pid);
    }
    let fds_before = settled_fds(&sv, &dir, 0);
    let start = Instant::now();
    let (mut valid, mut invalid) = (0, 0);
    for i in 0..reloads {
        if i % 2 == 0 {
            // Valid: a changed description of a core service (taken at its
            // next start) and an extra service that comes and goes.
            dir.write(
                "conf/r0.kdl",
                &pid_unit("r0").replace("{\n", &format!("{{\n    description \"v{i}\"\n")),
            );
            if i % 4 == 0 {
                dir.write(
                    "conf/extra.kdl",
                    "service \"extra\" {\n    exec \"sleep\" \"100000\"\n}\n",
                );
            } else {
                let _ = std::fs::remove_file(dir.join("conf/extra.kdl"));
            }
            expect(&sv, &dir, &["reload"], 0);
            valid += 1;
        } else {
            // Invalid: removes r1 and breaks r2; nothing may change.
            let _ = std::fs::rename(dir.join("conf/r1.kdl"), dir.join("r1.kdl.away"));
            dir.write(
                "conf/broken.kdl",
                &format!("service \"broken{i}\" {{\n    exek \"x\"\n"),
            );
            let run = expect(&sv, &dir, &["reload"], 1);
            assert!(
                run.stdout.contains("broken.kdl") || run.stderr.contains("broken.kdl"),
                "the diagnostic names the file: {run}"
            );
            dir.remove("conf/broken.kdl");
            std::fs::rename(dir.join("r1.kdl.away"), dir.join("conf/r1.kdl")).expect("put r1 back");
            invalid += 1;
        }
    }
    let took = start.elapsed();
    for (name, &pid) in core.iter().zip(&pids) {
        if !sv.ns_alive(pid) {
            sv.fail(&format!("{name}'s process {pid} is gone after the storm"));
        }
        let starts = sv.state_lines(name, "starting").len();
        if starts != 1 {
            sv.fail(&format!("{name} was started {starts} times, want 1"));
        }
        let status = &statuses(&sv, &dir)[*name];
        assert_eq!(status["state"], "up", "{status}");
    }
    // The last valid reload may have left `extra` running or stopping.
    let _ = std::fs::remove_file(dir.join("conf/extra.kdl"));
    expect(&sv, &dir, &["reload"], 0);
    sv.wait_until("extra to be gone", DEADLINE, || {
        !statuses(&sv, &dir).contains_key("extra")
    });
    let settled = poll_until(DEADLINE, || fd_count(sv.pid) == fds_before);
    if !settled {
        sv.fail(&format!(
            "{} descriptors after {reloads} reloads, {fds_before} before",
            fd_count(sv.pid)
        ));
    }
    figure(
        test,
        &format!(
            "{reloads} reloads ({valid} valid, {invalid} invalid) in {took:.1?}; 5 services kept their pids, each started once; descriptors back to {fds_before}"
        ),
    );
}

// ------------------------------------------------------ disks and dirs

/// The lines `svctl logs` holds for `name` that start with `beat`.
fn beats(dir: &TempDir, name: &str) -> usize {
    svctl(dir, &["logs", name])
        .stdout
        .lines()
        .filter(|l| l.starts_with("beat"))
        .count()
}

#[test]
fn a_full_disk_still_feeds_the_ring_and_shows_in_status() {
    let dir = TempDir::new("fault-full");
    let full = Tmpfs::mount(dir.join("full"));
    dir.write(
        "conf/writer.kdl",
        r#"
service "writer" {
    shell "head -c 1100000 /dev/zero | tr '\\0' 'z' | fold -w 99; i=0; while :; do i=$((i+1)); echo beat $i; sleep 0.05; done"
    transcript "$DIR/full/log"
}
"#,
    );
    let sv = container(&dir);
    wait_for_socket(&sv, &dir);
    sv.wait_until("the output problem in status --json", DEADLINE, || {
        statuses(&sv, &dir)["writer"]["output_problem"]
            .as_str()
            .is_some_and(|p| p.contains("No space left on device"))
    });
    let before = beats(&dir, "writer");
    sv.wait_until(
        "new beats in the ring after the disk filled",
        DEADLINE,
        || beats(&dir, "writer") > before + 5,
    );
    let status = &statuses(&sv, &dir)["writer"];
    assert_eq!(status["state"], "up", "{status}");
    assert_eq!(status["restarts"], 0, "{status}");
    drop(sv);
    drop(full);
}

#[test]
fn a_deleted_transcript_directory_is_reported_and_recovered() {
    let dir = TempDir::new("fault-rmdir");
    dir.write(
        "conf/writer.kdl",
        r#"
service "writer" {
    shell "i=0; while :; do i=$((i+1)); echo beat $i; sleep 0.05; done"
    transcript "$DIR/logs/writer.log"
}
"#,
    );
    std::fs::create_dir(dir.join("logs")).expect("mkdir logs");
    let sv = container(&dir);
    wait_for_socket(&sv, &dir);
    sv.wait_until("beats in the transcript", DEADLINE, || {
        dir.read("logs/writer.log")
            .is_some_and(|t| t.contains("beat"))
    });
    std::fs::remove_dir_all(dir.join("logs")).expect("rm -r logs");
    // A reopen cannot open it again: svctl says why, the service runs
    // on, its output still reaches the ring.
    let run = expect(&sv, &dir, &["reopen", "writer"], 1);
    assert!(
        run.stderr
            .contains("writer.log: cannot open: No such file or directory"),
        "{run}"
    );
    sv.wait_until("the output problem in status --json", DEADLINE, || {
        statuses(&sv, &dir)["writer"]["output_problem"]
            .as_str()
            .is_some_and(|p| p.contains("No such file or directory"))
    });
    let before = beats(&dir, "writer");
    sv.wait_until("beats in the ring without a transcript", DEADLINE, || {
        beats(&dir, "writer") > before + 5
    });
    // The directory comes back; a reopen resumes the transcript.
    std::fs::create_dir(dir.join("logs")).expect("mkdir logs");
    expect(&sv, &dir, &["reopen", "writer"], 0);
    sv.wait_until("beats in the new transcript", DEADLINE, || {
        dir.read("logs/writer.log")
            .is_some_and(|t| t.contains("beat"))
    });
    sv.wait_until("the output problem to clear", DEADLINE, || {
        statuses(&sv, &dir)["writer"]["output_problem"].is_null()
    });
    let status = &statuses(&sv, &dir)["writer"];
    assert_eq!(status["restarts"], 0, "{status}");
}

/// svinit must boot without its socket (an init that refuses to start
/// takes the machine with it): one error naming the path and the reason,
/// the services run, svctl says whom it could not reach.
#[test]
fn an_unwritable_socket_directory_is_a_clear_error_at_start() {
    let dir = TempDir::new("fault-sockdir");
    dir.write("conf/a.kdl", &pid_unit("a"));
    // Root ignores modes, so: a read-only filesystem, and a parent that is
    // a file.
    let ro = dir.join("ro");
    let ro_mount = Tmpfs::mount_with(ro.clone(), "ro,size=64k");
    dir.write("file", "not a directory\n");
    let file = dir.join("file").to_string_lossy().into_owned();
    let ro_sock = ro.join("control.sock").to_string_lossy().into_owned();
    let cases = [
        (ro_sock.clone(), format!("{ro_sock}: Read-only file system")),
        (
            format!("{file}/control.sock"),
            format!("{file}: not a directory"),
        ),
    ];
    for (path, reason) in &cases {
        let _ = std::fs::remove_file(dir.join("a.pid"));
        let sv = Svinit::start(
            Mode::Container,
            &dir,
            &["-c", &dir.join("conf").to_string_lossy(), "-s", path],
        );
        let want = format!("svinit: error: no control socket, svctl cannot reach svinit: {reason}");
        sv.wait_until(&format!("the error {want:?}"), DEADLINE, || {
            sv.log().lines().any(|l| l.starts_with(&want))
        });
        sv.wait_file(&dir, "a.pid", DEADLINE);
        sv.wait_state("a", "up", DEADLINE);
        let out = Command::new(svctl_bin())
            .args(["-s", path, "status"])
            .stdin(Stdio::null())
            .output()
            .expect("run svctl");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(5), "{stderr}");
        assert!(
            stderr.contains(path.as_str()),
            "svctl names the socket: {stderr}"
        );
        assert!(!sv.log().contains("panicked"), "{}", sv.log());
    }
    drop(ro_mount);
}
