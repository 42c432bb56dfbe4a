//! svinit as the entrypoint of a real OCI runtime: podman (with runc) runs
//! a scratch image holding the very svinit and svctl of this build (with
//! the shared libraries and loader `ldd` names), a static busybox and,
//! when the host has it, systemd-notify. Everything is checked through
//! podman alone (run, exec, kill, stop, wait, logs, inspect, kube play):
//! start order with readiness, reload, `podman stop`, a critical sidecar,
//! reaping, exit codes, and the Kubernetes Pod of units/container/.
//!
//! The image is built once per test run, tagged by the identity of what it
//! holds, reused while that does not change; older tags are removed. Every
//! container has a unique name and is removed by a guard, whatever the
//! test's outcome. Skipped, with a message, only where podman or runc
//! cannot run at all. Podman gets a containers.conf of its own
//! (`CONTAINERS_CONF`): runc, since crun fails on hybrid cgroups, and no
//! default ulimits, which a sandbox may refuse.

use std::collections::HashMap;
use std::fs;
use std::hash::{DefaultHasher, Hash, Hasher};
use std::os::unix::fs::{MetadataExt, PermissionsExt, symlink};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::OnceLock;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::control::svctl_bin;
use crate::harness::{
    TempDir, all_processes, descendants, pid_namespace, poll_until, proc_stat, svinit_bin,
};

/// The image repository; tags are `HASH` (entrypoint `svinit --`) and
/// `HASH-infra` (the pause container of `kube play`'s pods).
const REPOSITORY: &str = "localhost/svinit-it";

/// Bumped when the rootfs layout below changes, so a new image is built.
const LAYOUT: &str = "podman-rootfs-1";

const PATH_ENV: &str = "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

/// No main command: svinit alone supervises the units.
const NO_MAIN_COMMAND: &[&str] = &["--entrypoint", "/usr/bin/svinit"];

/// A main command that runs until TERM, `sleep & wait` so a trap runs at once.
const LOOP: &str = "while :; do sleep 1 & wait $!; done";

/// The image every test shares.
struct Image {
    tag: String,
    infra: String,
    /// The containers.conf every podman command gets.
    conf: PathBuf,
    /// Whether systemd-notify is in the image.
    notify: bool,
}

fn image() -> Option<&'static Image> {
    static IMAGE: OnceLock<Result<Image, String>> = OnceLock::new();
    match IMAGE.get_or_init(build_image) {
        Ok(image) => Some(image),
        Err(why) => {
            eprintln!("SKIPPED: podman cannot run here: {why}");
            None
        }
    }
}

fn runs(program: &str) -> Result<(), String> {
    // Not the caller's CONTAINERS_CONF: podman gets ours.
    let version = Command::new(program)
        .arg("--version")
        .env_remove("CONTAINERS_CONF")
        .output();
    match version {
        Ok(out) if out.status.success() => Ok(()),
        Ok(out) => Err(format!(
            "`{program} --version` failed: {}",
            String::from_utf8_lossy(&out.stderr).trim()
        )),
        Err(e) => Err(format!("`{program}` cannot be run: {e}")),
    }
}

/// Builds (or reuses) the image; `Err` only when podman or runc cannot run.
fn build_image() -> Result<Image, String> {
    runs("podman")?;
    runs("runc")?;
    let host_notify = ["/usr/bin/systemd-notify", "/bin/systemd-notify"]
        .into_iter()
        .map(PathBuf::from)
        .find(|p| p.is_file());
    let svctl = PathBuf::from(svctl_bin());
    let svinit = PathBuf::from(svinit_bin());
    let mut contents = vec![svinit.clone(), svctl.clone(), PathBuf::from("/bin/busybox")];
    contents.extend(host_notify.clone());

    // The identity of what goes in: a new build of svinit is a new tag.
    let mut hasher = DefaultHasher::new();
    LAYOUT.hash(&mut hasher);
    for path in &contents {
        let meta = fs::metadata(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        (
            path,
            meta.len(),
            meta.mtime(),
            meta.mtime_nsec(),
            meta.ino(),
        )
            .hash(&mut hasher);
    }
    let hash = format!("{:016x}", hasher.finish());
    let work = Path::new(env!("CARGO_TARGET_TMPDIR")).join("podman");
    fs::create_dir_all(&work).unwrap_or_else(|e| panic!("mkdir {}: {e}", work.display()));
    let conf = work.join(format!("containers-{hash}.conf"));
    let tag = format!("{REPOSITORY}:{hash}");
    let infra = format!("{REPOSITORY}:{hash}-infra");
    fs::write(
        &conf,
        format!(
            "[containers]\ndefault_ulimits = []\n\n[engine]\nruntime = \"runc\"\ninfra_image = \"{infra}\"\n"
        ),
    )
    .unwrap_or_else(|e| panic!("write {}: {e}", conf.display()));
    let image = Image {
        tag,
        infra,
        conf,
        notify: host_notify.is_some(),
    };

    let exists = |tag: &str| image.podman(&["image", "exists", tag]).code == 0;
    if !(exists(&image.tag) && exists(&image.infra)) {
        let root = work.join(format!("rootfs-{hash}"));
        make_rootfs(&root, &svinit, &svctl, host_notify.as_deref());
        let tar = work.join(format!("rootfs-{hash}.tar"));
        let out = Command::new("tar")
            .arg("-C")
            .arg(&root)
            .arg("-cf")
            .arg(&tar)
            .arg(".")
            .output()
            .expect("run tar");
        assert!(out.status.success(), "tar: {out:?}");
        let tar_arg = tar.to_string_lossy();
        for (tag, entrypoint) in [
            (&image.tag, r#"["/usr/bin/svinit", "--"]"#),
            // The pod's pause process: svinit with nothing but a sleep.
            (
                &image.infra,
                r#"["/usr/bin/svinit", "--", "/bin/sleep", "2147483647"]"#,
            ),
        ] {
            image.podman_ok(&[
                "import",
                "--change",
                &format!("ENTRYPOINT {entrypoint}"),
                "--change",
                &format!("ENV {PATH_ENV}"),
                &tar_arg,
                tag,
            ]);
        }
        let _ = fs::remove_file(&tar);
        let _ = fs::remove_dir_all(&root);
    }
    image.remove_older_tags();
    Ok(image)
}

/// A scratch rootfs: svinit, svctl (and systemd-notify) with what `ldd`
/// says they load, busybox with its applets, /app-server as in
/// units/container/Dockerfile.
fn make_rootfs(root: &Path, svinit: &Path, svctl: &Path, notify: Option<&Path>) {
    let _ = fs::remove_dir_all(root);
    for dir in [
        "bin",
        "usr/bin",
        "etc/svinit",
        "proc",
        "dev",
        "sys",
        "run",
        "root",
        "var/log",
        "var/cache",
    ] {
        fs::create_dir_all(root.join(dir)).expect("mkdir in rootfs");
    }
    fs::create_dir_all(root.join("tmp")).expect("mkdir tmp");
    fs::set_permissions(root.join("tmp"), fs::Permissions::from_mode(0o1777)).expect("chmod tmp");
    fs::write(
        root.join("etc/passwd"),
        "root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/:/bin/false\n",
    )
    .expect("write passwd");
    fs::write(root.join("etc/group"), "root:x:0:\nnogroup:x:65534:\n").expect("write group");
    copy_into(root, Path::new("/bin/busybox"), "bin/busybox");
    let applets = Command::new("/bin/busybox")
        .arg("--list")
        .output()
        .expect("busybox --list");
    for applet in String::from_utf8_lossy(&applets.stdout).split_whitespace() {
        if applet != "busybox" {
            let _ = symlink("busybox", root.join("bin").join(applet));
        }
    }
    copy_program(root, svinit, "usr/bin/svinit");
    copy_program(root, svctl, "usr/bin/svctl");
    if let Some(notify) = notify {
        copy_program(root, notify, "usr/bin/systemd-notify");
    }
    fs::write(
        root.join("app-server"),
        format!("#!/bin/sh\ntrap \"exit 0\" TERM\n{LOOP}\n"),
    )
    .expect("write app-server");
    fs::set_permissions(root.join("app-server"), fs::Permissions::from_mode(0o755))
        .expect("chmod app-server");
}

fn copy_into(root: &Path, from: &Path, to: &str) {
    let dest = root.join(to.trim_start_matches('/'));
    if let Some(parent) = dest.parent() {
        fs::create_dir_all(parent).expect("mkdir in rootfs");
    }
    fs::copy(from, &dest)
        .unwrap_or_else(|e| panic!("copy {} → {}: {e}", from.display(), dest.display()));
}

/// Copies `program` to `to` and the libraries (and loader) it loads to
/// their own paths, so it runs in an image with no C library of its own.
fn copy_program(root: &Path, program: &Path, to: &str) {
    copy_into(root, program, to);
    // A static program: ldd says so and exits 1, nothing to copy.
    let out = Command::new("ldd").arg(program).output().expect("run ldd");
    for line in String::from_utf8_lossy(&out.stdout).lines() {
        if let Some(lib) = line.split_whitespace().find(|w| w.starts_with('/')) {
            copy_into(root, Path::new(lib), lib);
        }
    }
}

/// What one podman command did.
struct Out {
    code: i32,
    stdout: String,
    stderr: String,
}

impl std::fmt::Display for Out {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "exit {}\n--- stdout\n{}--- stderr\n{}",
            self.code, self.stdout, self.stderr
        )
    }
}

impl Image {
    /// `podman ARGS` with this run's containers.conf, cut off after 60 s.
    fn podman(&self, args: &[&str]) -> Out {
        self.podman_within(Duration::from_secs(60), args)
    }

    /// `podman ARGS`, killed (exit 124) when it runs longer than `limit`.
    fn podman_within(&self, limit: Duration, args: &[&str]) -> Out {
        let out = Command::new("timeout")
            .args([
                "--kill-after=5",
                &format!("{}", limit.as_secs_f64()),
                "podman",
            ])
            .args(args)
            .env("CONTAINERS_CONF", &self.conf)
            .stdin(Stdio::null())
            .output()
            .expect("run podman");
        Out {
            code: out.status.code().unwrap_or(-1),
            stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        }
    }

    #[track_caller]
    fn podman_ok(&self, args: &[&str]) -> Out {
        let out = self.podman(args);
        assert_eq!(out.code, 0, "podman {}: {out}", args.join(" "));
        out
    }

    /// Removes the tags of earlier builds (unless a container still uses
    /// them, or they are recent: another test run may be about to).
    fn remove_older_tags(&self) {
        let old = self.podman(&[
            "images",
            "--filter",
            &format!("reference={REPOSITORY}"),
            "--filter",
            "until=10m",
            "--format",
            "{{.Repository}}:{{.Tag}}",
        ]);
        for tag in old.stdout.lines() {
            if tag != self.tag && tag != self.infra {
                let _ = self.podman(&["rmi", tag]);
            }
        }
    }
}

/// A unique container (or pod) name.
fn unique_name(label: &str) -> String {
    static COUNTER: AtomicUsize = AtomicUsize::new(0);
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    format!("svinit-it-{}-{n}-{label}", std::process::id())
}

/// A running container, removed (`podman rm -f`) when dropped.
struct Container {
    image: &'static Image,
    name: String,
}

impl Container {
    /// `podman run -d --name NAME OPTIONS IMAGE ARGS` (ARGS: the main command).
    fn run(image: &'static Image, label: &str, options: &[&str], args: &[&str]) -> Container {
        let container = Container {
            image,
            name: unique_name(label),
        };
        let mut argv = vec!["run", "-d", "--name", &container.name];
        argv.extend(options);
        argv.push(&image.tag);
        argv.extend(args);
        image.podman_ok(&argv);
        container
    }

    fn exec(&self, args: &[&str]) -> Out {
        let mut argv = vec!["exec", &self.name];
        argv.extend(args);
        self.image.podman(&argv)
    }

    /// The units of `dir` as /etc/svinit and `sh -c SCRIPT` as the main
    /// command.
    fn with_main(image: &'static Image, label: &str, dir: &TempDir, script: &str) -> Container {
        Container::run(
            image,
            label,
            &["-v", &units_volume(dir)],
            &["sh", "-c", script],
        )
    }

    /// `with_main` with a main command that loops until `signal`, which
    /// runs `action` (a shell trap).
    fn trapping(
        image: &'static Image,
        label: &str,
        dir: &TempDir,
        (signal, action): (&str, &str),
    ) -> Container {
        let script = format!("trap '{action}' {signal}; {LOOP}");
        Container::with_main(image, label, dir, &script)
    }

    /// `svctl ARGS` in the container; fails unless it exits `code`.
    #[track_caller]
    fn svctl(&self, args: &[&str], code: i32) -> Out {
        let mut argv = vec!["svctl"];
        argv.extend(args);
        let out = self.exec(&argv);
        if out.code != code {
            self.fail(&format!(
                "svctl {}: want exit {code}, got {out}",
                args.join(" ")
            ));
        }
        out
    }

    /// `svctl status --json` by name.
    fn status(&self) -> HashMap<String, Value> {
        let out = self.exec(&["svctl", "status", "--json"]);
        let list: Vec<Value> = serde_json::from_str(out.stdout.trim()).unwrap_or_default();
        list.into_iter()
            .map(|s| (s["name"].as_str().unwrap_or_default().to_string(), s))
            .collect()
    }

    fn state(&self, status: &HashMap<String, Value>, name: &str) -> String {
        status
            .get(name)
            .and_then(|s| s["state"].as_str())
            .unwrap_or("(absent)")
            .to_string()
    }

    /// Waits until every service of `wanted` is in its state.
    #[track_caller]
    fn wait_states(&self, wanted: &[(&str, &str)], timeout: Duration) {
        let mut status = HashMap::new();
        let ok = poll_until(timeout, || {
            status = self.status();
            wanted
                .iter()
                .all(|(name, state)| self.state(&status, name) == *state)
        });
        if !ok {
            self.fail(&format!("want states {wanted:?}; status: {status:#?}"));
        }
    }

    /// svinit's log and the services' output: `podman logs` (stdout, then
    /// stderr: svinit logs on stderr), with `-t` RFC 3339 timestamps.
    fn logs(&self, timestamps: bool) -> String {
        let args: &[&str] = if timestamps {
            &["logs", "-t", &self.name]
        } else {
            &["logs", &self.name]
        };
        let out = self.image.podman(args);
        out.stdout + &out.stderr
    }

    #[track_caller]
    fn wait_log(&self, what: &str, timeout: Duration) {
        if !poll_until(timeout, || self.logs(false).contains(what)) {
            self.fail(&format!("no {what:?} in the log within {timeout:?}"));
        }
    }

    /// The container's exit status, waiting at most `timeout` for it.
    #[track_caller]
    fn wait_exit(&self, timeout: Duration) -> i32 {
        let out = self
            .image
            .podman_within(timeout, &["wait", "--interval", "50ms", &self.name]);
        out.stdout
            .trim()
            .parse()
            .unwrap_or_else(|_| self.fail(&format!("podman wait: {out}")))
    }

    fn inspect(&self, format: &str) -> String {
        self.image
            .podman_ok(&["inspect", "-f", format, &self.name])
            .stdout
            .trim()
            .to_string()
    }

    /// svinit's pid on the host.
    fn host_pid(&self) -> i32 {
        let pid = self.inspect("{{.State.Pid}}");
        pid.parse()
            .unwrap_or_else(|_| self.fail(&format!("State.Pid {pid:?}")))
    }

    #[track_caller]
    fn fail(&self, msg: &str) -> ! {
        panic!(
            "{msg}\n--- podman logs {} ---\n{}--- end of log ---",
            self.name,
            self.logs(false)
        );
    }
}

impl Drop for Container {
    fn drop(&mut self) {
        let _ = self.image.podman(&["rm", "-f", "-t", "0", &self.name]);
    }
}

/// The shared image and a new directory whose `conf/units.kdl` holds
/// `units`; `None` when podman cannot run (the test is skipped).
fn with_units(tag: &str, units: &str) -> Option<(&'static Image, TempDir)> {
    let image = image()?;
    let dir = TempDir::new(tag);
    dir.write("conf/units.kdl", units);
    Some((image, dir))
}

/// A unit `name` that sleeps, with `extra` keys.
fn sleeper(name: &str, extra: &str) -> String {
    format!("service \"{name}\" {{\n    exec \"sleep\" \"1000\"\n    {extra}\n}}\n")
}

/// `-v DIR:/etc/svinit`: the units of a test, edited from the host.
fn units_volume(dir: &TempDir) -> String {
    format!("{}:/etc/svinit", dir.join("conf").display())
}

/// The time (unix seconds) of the first event of `name` into `state`.
fn event_time(events: &[Value], name: &str, state: &str) -> Option<f64> {
    events
        .iter()
        .find(|e| e["kind"] == "state" && e["name"] == name && e["to"] == state)
        .and_then(|e| e["time"].as_f64())
}

/// SPEC §3 readiness through a real runtime: a chain whose links become
/// ready by fd, by sd_notify (systemd-notify) and by probe, each 0.4 s
/// after its exec; every dependent starts only once its dependency is
/// `up`, the main command once all are, and `podman exec svctl status
/// --json` shows them.
#[test]
fn sidecars_start_in_readiness_order_under_podman() {
    let Some(image) = image() else { return };
    let dir = TempDir::new("podman-ready");
    let (notify_unit, probe_requires) = if image.notify {
        (
            r#"
service "cache" {
    requires "db"
    ready-notify #true
    shell "sleep 0.4; systemd-notify --ready --status=warm; exec sleep 1000"
}
"#,
            "cache",
        )
    } else {
        eprintln!("systemd-notify is not installed: the chain has no ready-notify link");
        ("", "db")
    };
    dir.write(
        "conf/units.kdl",
        &format!(
            r#"
service "db" {{
    ready-fd 3
    shell "sleep 0.4; echo >&3; exec sleep 1000"
}}
{notify_unit}
service "api" {{
    requires "{probe_requires}"
    ready-probe {{
        exec "test" "-e" "/tmp/api.ready"
        interval "100ms"
    }}
    shell "sleep 0.4; touch /tmp/api.ready; exec sleep 1000"
}}
service "web" {{
    requires "api"
    exec "sleep" "1000"
}}
"#
        ),
    );
    let ctr = Container::with_main(
        image,
        "ready",
        &dir,
        "svctl status --json > /tmp/at-main-start.json; exec sleep 1000",
    );
    let mut chain = vec!["db"];
    if image.notify {
        chain.push("cache");
    }
    chain.extend(["api", "web"]);
    let all_up: Vec<(&str, &str)> = chain.iter().map(|name| (*name, "up")).collect();
    ctr.wait_states(&all_up, Duration::from_secs(20));

    let status = ctr.status();
    if image.notify && status["cache"]["status_text"] != "warm" {
        ctr.fail(&format!(
            "cache's STATUS=warm is not shown: {:#}",
            status["cache"]
        ));
    }
    let events: Vec<Value> = ctr
        .svctl(&["events", "--since", "0", "--no-follow"], 0)
        .stdout
        .lines()
        .filter_map(|line| serde_json::from_str(line).ok())
        .collect();
    let time = |name: &str, state: &str| {
        event_time(&events, name, state)
            .unwrap_or_else(|| ctr.fail(&format!("no event {name} → {state}: {events:#?}")))
    };
    for pair in chain.windows(2) {
        let (dependency, dependent) = (pair[0], pair[1]);
        let ready_after = time(dependency, "up") - time(dependency, "starting");
        if ready_after < 0.3 {
            ctr.fail(&format!(
                "{dependency} was up {ready_after:.3} s after it started: its readiness was not awaited"
            ));
        }
        if time(dependent, "starting") < time(dependency, "up") {
            ctr.fail(&format!(
                "{dependent} started before {dependency} was up: {events:#?}"
            ));
        }
    }
    // The main command ran once every sidecar was up.
    let at_start = ctr.exec(&["cat", "/tmp/at-main-start.json"]);
    let at_start: Vec<Value> = serde_json::from_str(at_start.stdout.trim()).unwrap_or_else(|e| {
        ctr.fail(&format!(
            "status at the main command's start ({e}): {at_start}"
        ))
    });
    for service in &at_start {
        if service["state"] != "up" {
            ctr.fail(&format!("the main command started while {service}"));
        }
    }
    assert_eq!(at_start.len(), chain.len(), "{at_start:#?}");
}

/// SPEC §2: with a main command, `podman kill -s HUP` reaches the command
/// and reloads nothing; `podman exec svctl reload` reloads the
/// bind-mounted config: a new service starts, a changed one is marked.
#[test]
fn with_a_main_command_sighup_reaches_it_and_svctl_reload_reloads() {
    let Some((image, dir)) = with_units("podman-hup-main", &sleeper("one", "")) else {
        return;
    };
    let ctr = Container::trapping(image, "hup-main", &dir, ("HUP", "echo main got HUP"));
    ctr.wait_states(&[("one", "up")], Duration::from_secs(10));
    ctr.wait_log("main command sh started", Duration::from_secs(10));
    dir.write("conf/two.kdl", &sleeper("two", ""));
    dir.write("conf/units.kdl", &sleeper("one", "description \"changed\""));

    ctr.image.podman_ok(&["kill", "-s", "HUP", &ctr.name]);
    ctr.wait_log("main got HUP", Duration::from_secs(10));
    // svinit forwarded the signal in the loop turn it got it: had it also
    // reloaded, that would show by now.
    let status = ctr.status();
    if status.contains_key("two") || ctr.logs(false).contains("reloading") {
        ctr.fail("SIGHUP reloaded the config although there is a main command");
    }

    ctr.svctl(&["reload"], 0);
    ctr.wait_states(&[("one", "up"), ("two", "up")], Duration::from_secs(10));
    if ctr.status()["one"]["config_changed"] != true {
        ctr.fail("the changed service is not marked config_changed");
    }
}

/// SPEC §2: without a main command, `podman kill -s HUP` reloads.
#[test]
fn without_a_main_command_podman_kill_hup_reloads() {
    let Some((image, dir)) = with_units("podman-hup", &sleeper("one", "")) else {
        return;
    };
    let mut options = NO_MAIN_COMMAND.to_vec();
    let volume = units_volume(&dir);
    options.extend(["-v", &volume]);
    let ctr = Container::run(image, "hup", &options, &[]);
    ctr.wait_states(&[("one", "up")], Duration::from_secs(10));
    dir.write("conf/two.kdl", &sleeper("two", ""));
    ctr.image.podman_ok(&["kill", "-s", "HUP", &ctr.name]);
    ctr.wait_states(&[("one", "up"), ("two", "up")], Duration::from_secs(10));
}

/// The RFC 3339 timestamp of a `podman logs -t` line, in seconds since
/// midnight (the tests run for seconds, not days).
fn log_time(line: &str) -> Option<f64> {
    let stamp = line.split_whitespace().next()?;
    let time = stamp.split('T').nth(1)?.trim_end_matches('Z');
    let mut parts = time.split(':');
    let hours: f64 = parts.next()?.parse().ok()?;
    let minutes: f64 = parts.next()?.parse().ok()?;
    let seconds: f64 = parts.next()?.split('+').next()?.parse().ok()?;
    Some(hours * 3600.0 + minutes * 60.0 + seconds)
}

/// `podman stop -t 30`: SIGTERM reaches the main command, which exits 77
/// from its trap; then the sidecars stop in reverse dependency order
/// (each takes 0.2 s), all well within the grace period, and the
/// container's status is the command's 77.
#[test]
fn podman_stop_stops_in_reverse_order_and_passes_the_main_status() {
    let slow_stop = format!("trap 'sleep 0.2; exit 0' TERM; {LOOP}");
    let Some((image, dir)) = with_units(
        "podman-stop",
        &format!(
            r#"
shutdown-timeout "8s"
service "base" {{ shell "{slow_stop}"; }}
service "middle" {{ requires "base"; shell "{slow_stop}"; }}
service "top" {{ requires "middle"; shell "{slow_stop}"; }}
"#
        ),
    ) else {
        return;
    };
    let ctr = Container::trapping(image, "stop", &dir, ("TERM", "exit 77"));
    ctr.wait_states(
        &[("base", "up"), ("middle", "up"), ("top", "up")],
        Duration::from_secs(10),
    );
    ctr.wait_log("main command sh started", Duration::from_secs(10));
    let start = Instant::now();
    ctr.image.podman_ok(&["stop", "-t", "30", &ctr.name]);
    let stop_took = start.elapsed();
    let code = ctr.wait_exit(Duration::from_secs(20));
    let logs = ctr.logs(true);
    if code != 77 {
        ctr.fail(&format!("podman wait: {code}, want the main command's 77"));
    }
    let inspected = ctr.inspect("{{.State.ExitCode}}");
    assert_eq!(inspected, "77", "podman inspect's ExitCode");

    let lines: Vec<&str> = logs.lines().collect();
    let find = |needle: &str| -> (usize, f64) {
        lines
            .iter()
            .enumerate()
            .find(|(_, l)| l.contains(needle))
            .and_then(|(i, l)| Some((i, log_time(l)?)))
            .unwrap_or_else(|| ctr.fail(&format!("no {needle:?} in the log:\n{logs}")))
    };
    let (main_exit, main_exit_at) = find("main command sh: ");
    let mut last = main_exit;
    for name in ["top", "middle", "base"] {
        let (stopping, _) = find(&format!("svinit: {name}: stopping"));
        let (down, _) = find(&format!("svinit: {name}: down"));
        if stopping < last || down < stopping {
            ctr.fail(&format!(
                "{name} did not stop after its dependents (reverse order):\n{logs}"
            ));
        }
        last = down;
    }
    let (_, exit_at) = find("exiting with status 77");
    let shutdown = exit_at - main_exit_at;
    println!(
        "podman stop -t 30 took {:.2} s; svinit's shutdown after the command: {shutdown:.2} s",
        stop_took.as_secs_f64()
    );
    if !(0.5..5.0).contains(&shutdown) || stop_took > Duration::from_secs(10) {
        ctr.fail(&format!(
            "want three 0.2 s stops well within the 30 s grace: shutdown {shutdown:.2} s, podman stop {stop_took:?}"
        ));
    }
}

/// SPEC §3 `critical`: a critical sidecar that exits 9 for good ends the
/// container with status 9, after the main command got SIGTERM and the
/// other sidecar was stopped.
#[test]
fn a_crashing_critical_sidecar_ends_the_container_with_its_status() {
    let Some((image, dir)) = with_units(
        "podman-critical",
        r#"
service "vital" {
    critical #true
    restart "never"
    shell "sleep 0.5; exit 9"
}
service "helper" {
    exec "sleep" "1000"
}
"#,
    ) else {
        return;
    };
    let ctr = Container::trapping(
        image,
        "critical",
        &dir,
        ("TERM", "echo main got TERM; exit 0"),
    );
    let code = ctr.wait_exit(Duration::from_secs(20));
    let logs = ctr.logs(false);
    if code != 9 {
        ctr.fail(&format!(
            "exit status {code}, want the critical sidecar's 9"
        ));
    }
    for needle in ["main got TERM", "svinit: helper: down"] {
        if !logs.contains(needle) {
            ctr.fail(&format!("no {needle:?} in the log"));
        }
    }
}

/// The command line of host process `pid`, arguments joined by spaces.
fn cmdline(pid: i32) -> String {
    fs::read(format!("/proc/{pid}/cmdline"))
        .map(|b| {
            String::from_utf8_lossy(&b)
                .replace('\0', " ")
                .trim()
                .to_string()
        })
        .unwrap_or_default()
}

/// SPEC §4 reaping under podman: a oneshot and the main command each
/// leave two orphans, reparented to svinit: a short one, which ends once
/// the test, having seen all four, creates /tmp/go, and `sleep 300`. The
/// short ones are reaped when they exit, no process of the container stays
/// a zombie, and the long ones are reaped once killed.
#[test]
fn orphans_are_reaped_in_a_podman_container() {
    const UNTIL_GO: &str = "until test -e /tmp/go; do sleep 0.1; done";
    let Some((image, dir)) = with_units(
        "podman-orphans",
        &format!(
            r#"
service "orphaner" {{
    type "oneshot"
    shell "sh -c '{UNTIL_GO}' short-1 & sleep 300 & exit 0"
}}
"#
        ),
    ) else {
        return;
    };
    let ctr = Container::with_main(
        image,
        "orphans",
        &dir,
        &format!("(sh -c '{UNTIL_GO}' short-2 &); (sleep 301 &); exec sleep 1000"),
    );
    ctr.wait_states(&[("orphaner", "done")], Duration::from_secs(10));
    let svinit = ctr.host_pid();
    let namespace = pid_namespace(svinit).unwrap_or_else(|| ctr.fail("svinit's pid namespace"));
    let orphans = |args: &str| -> Vec<i32> {
        let procs = all_processes();
        let below = descendants(&procs, svinit);
        procs
            .iter()
            .filter(|p| p.ppid == svinit && below.contains(&p.pid) && cmdline(p.pid) == args)
            .map(|p| p.pid)
            .collect()
    };
    let mut long = Vec::new();
    let mut short = Vec::new();
    if !poll_until(Duration::from_secs(10), || {
        long = [orphans("sleep 300"), orphans("sleep 301")].concat();
        short = [
            orphans(&format!("sh -c {UNTIL_GO} short-1")),
            orphans(&format!("sh -c {UNTIL_GO} short-2")),
        ]
        .concat();
        long.len() == 2 && short.len() == 2
    }) {
        ctr.fail(&format!(
            "want 4 orphans reparented to svinit (host pid {svinit}), have long {long:?}, short {short:?}"
        ));
    }

    let go = ctr.exec(&["touch", "/tmp/go"]);
    if go.code != 0 {
        ctr.fail(&format!("touch /tmp/go: {go}"));
    }
    // Until the short ones are gone from /proc (reaped), no process of the
    // container may stay a zombie longer than a moment.
    let mut zombie_since: HashMap<i32, Instant> = HashMap::new();
    let reaped = poll_until(Duration::from_secs(10), || {
        for p in all_processes() {
            if p.state == 'Z' && pid_namespace(p.pid).as_deref() == Some(namespace.as_str()) {
                let since = *zombie_since.entry(p.pid).or_insert_with(Instant::now);
                if since.elapsed() > Duration::from_millis(500) {
                    ctr.fail(&format!("{} ({}) stays a zombie", p.pid, p.comm));
                }
            }
        }
        short.iter().all(|&pid| proc_stat(pid).is_none())
    });
    if !reaped {
        ctr.fail(&format!("the exited orphans {short:?} were not reaped"));
    }
    for &pid in &long {
        if proc_stat(pid).is_none_or(|p| p.state == 'Z') {
            ctr.fail(&format!("orphan {pid} should still run"));
        }
        let _ = nix::sys::signal::kill(
            nix::unistd::Pid::from_raw(pid),
            nix::sys::signal::Signal::SIGKILL,
        );
    }
    if !poll_until(Duration::from_secs(10), || {
        long.iter().all(|&pid| proc_stat(pid).is_none())
    }) {
        ctr.fail(&format!("the killed orphans {long:?} were not reaped"));
    }
    let status = ctr.svctl(&["status"], 0).stdout;
    if !status.contains("orphans reaped: 4") {
        ctr.fail(&format!(
            "svctl status should count 4 reaped orphans: {status}"
        ));
    }
}

/// SPEC §2 through `podman run --rm IMAGE CMD` (no config in the image:
/// svinit runs the command alone, like `tini --`): exit codes 0, 1, 42,
/// and 128+N for a command killed by signal N.
#[test]
fn podman_run_passes_the_exit_status_of_the_command() {
    let Some(image) = image() else { return };
    let cases = [
        ("exit 0", 0),
        ("exit 1", 1),
        ("exit 42", 42),
        ("kill -KILL $$", 137),
        ("kill -TERM $$", 143),
    ];
    let results: Vec<(&str, i32, i32, String)> = std::thread::scope(|scope| {
        let handles: Vec<_> = cases
            .iter()
            .map(|&(script, want)| {
                scope.spawn(move || {
                    let guard = Container {
                        image,
                        name: unique_name("exit"),
                    };
                    let out = image.podman(&[
                        "run",
                        "--rm",
                        "--name",
                        &guard.name,
                        &image.tag,
                        "sh",
                        "-c",
                        script,
                    ]);
                    (script, want, out.code, out.stderr)
                })
            })
            .collect();
        handles
            .into_iter()
            .map(|h| h.join().expect("thread"))
            .collect()
    });
    for (script, want, got, stderr) in results {
        assert_eq!(
            got, want,
            "podman run --rm IMAGE sh -c {script:?}; stderr:\n{stderr}"
        );
    }
}

// ---------------------------------------------------------------------------
// Kubernetes: units/container/pod.yaml
// ---------------------------------------------------------------------------

fn repository_file(rel: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join(rel)
}

fn read_repository_file(rel: &str) -> String {
    let path = repository_file(rel);
    fs::read_to_string(&path).unwrap_or_else(|e| panic!("read {}: {e}", path.display()))
}

const POD_YAML: &str = "units/container/pod.yaml";
const POD_UNITS: &str = "units/container/services.kdl";

/// What pod.yaml's budget allows the app for its own shutdown, and svinit
/// for leftover processes after the units (SIGTERM, SIGKILL 5 s later,
/// exit at most 1 s after): the grace period must cover both plus
/// `shutdown-timeout` (docs/container.md, Kubernetes).
const APP_SHUTDOWN_SECS: u64 = 15;
const LEFTOVERS_SECS: u64 = 6;

/// A YAML file as JSON, read by the system's python3 with PyYAML;
/// `None` (the caller skips) when that cannot run.
fn yaml_as_json(path: &Path) -> Option<Value> {
    let out = Command::new("/usr/bin/python3")
        .args([
            "-c",
            "import json, sys, yaml; json.dump(yaml.safe_load(open(sys.argv[1])), sys.stdout)",
        ])
        .arg(path)
        .output();
    match out {
        Ok(out) if out.status.success() => Some(
            serde_json::from_slice(&out.stdout)
                .unwrap_or_else(|e| panic!("python's JSON of {}: {e}", path.display())),
        ),
        Ok(out) if String::from_utf8_lossy(&out.stderr).contains("No module named 'yaml'") => {
            eprintln!("SKIPPED: /usr/bin/python3 has no PyYAML (python3-yaml)");
            None
        }
        Ok(out) => panic!(
            "{} is not valid YAML: {}",
            path.display(),
            String::from_utf8_lossy(&out.stderr)
        ),
        Err(e) => {
            eprintln!("SKIPPED: /usr/bin/python3 cannot run: {e}");
            None
        }
    }
}

/// The command of a probe of the pod's container: `svctl status
/// [--json] NAME...`, checked; returns it and the names.
fn probe_command(container: &Value, probe: &str) -> (Vec<String>, Vec<String>) {
    let command: Vec<String> = container[probe]["exec"]["command"]
        .as_array()
        .unwrap_or_else(|| panic!("{probe}: no exec command: {container:#}"))
        .iter()
        .map(|word| word.as_str().expect("a string").to_string())
        .collect();
    assert_eq!(command[..2], ["svctl", "status"], "{probe}: {command:?}");
    let names: Vec<String> = command[2..]
        .iter()
        .filter(|word| *word != "--json")
        .cloned()
        .collect();
    assert!(!names.is_empty(), "{probe} must name services: {command:?}");
    (command, names)
}

/// A duration of a unit file in whole seconds (`"20s"`, `"2m"`, `20`).
fn seconds(value: &str) -> u64 {
    let value = value.trim_matches('"');
    let (number, unit) = value.split_at(
        value
            .find(|c: char| !c.is_ascii_digit())
            .unwrap_or(value.len()),
    );
    let number: u64 = number
        .parse()
        .unwrap_or_else(|_| panic!("duration {value:?}"));
    match unit {
        "" | "s" => number,
        "m" => number * 60,
        _ => panic!("duration {value:?}"),
    }
}

/// The value of a top-level `KEY VALUE` line of a unit file.
fn top_level_value(units: &str, key: &str) -> Option<String> {
    units
        .lines()
        .find_map(|line| line.strip_prefix(&format!("{key} ")))
        .map(|value| value.trim().to_string())
}

/// docs/container.md quotes pod.yaml whole (one source of truth), the
/// manifest is valid YAML and a Pod whose probes are `svctl status` of
/// services that services.kdl defines, and whose grace period covers the
/// budget the docs give: the app's shutdown + `shutdown-timeout` + 6 s.
#[test]
fn the_pod_manifest_is_valid_and_matches_its_units_and_the_docs() {
    let manifest_text = read_repository_file(POD_YAML);
    let docs = read_repository_file("docs/container.md");
    let quoted = docs
        .split("```yaml\n")
        .skip(1)
        .filter_map(|block| block.split("```").next())
        .any(|block| block == manifest_text);
    assert!(
        quoted,
        "docs/container.md must quote {POD_YAML} whole in a ```yaml block"
    );
    let Some(pod) = yaml_as_json(&repository_file(POD_YAML)) else {
        return;
    };
    assert_eq!(pod["apiVersion"], "v1", "{pod:#}");
    assert_eq!(pod["kind"], "Pod", "{pod:#}");
    let containers = pod["spec"]["containers"].as_array().expect("containers");
    assert_eq!(containers.len(), 1, "{pod:#}");
    let container = &containers[0];
    let units = read_repository_file(POD_UNITS);
    for probe in ["readinessProbe", "livenessProbe"] {
        for name in probe_command(container, probe).1 {
            assert!(
                units.contains(&format!("service \"{name}\" {{")),
                "{probe} names {name}, which {POD_UNITS} does not define"
            );
        }
    }
    // The units come from the ConfigMap, as /etc/svinit.
    let volume = container["volumeMounts"][0].clone();
    assert_eq!(volume["mountPath"], "/etc/svinit", "{container:#}");
    let volumes = pod["spec"]["volumes"].as_array().expect("volumes");
    assert!(
        volumes
            .iter()
            .any(|v| v["name"] == volume["name"] && v["configMap"]["name"].is_string()),
        "{pod:#}"
    );

    let shutdown_timeout = seconds(
        &top_level_value(&units, "shutdown-timeout")
            .unwrap_or_else(|| panic!("{POD_UNITS} must set shutdown-timeout")),
    );
    let grace = pod["spec"]["terminationGracePeriodSeconds"]
        .as_u64()
        .expect("terminationGracePeriodSeconds");
    let budget = APP_SHUTDOWN_SECS + shutdown_timeout + LEFTOVERS_SECS;
    assert!(
        grace >= budget,
        "terminationGracePeriodSeconds {grace} < {APP_SHUTDOWN_SECS} (app) + {shutdown_timeout} (shutdown-timeout) + {LEFTOVERS_SECS} (leftovers)"
    );
}

/// A pod made by `podman kube play` and the volume it made of its
/// ConfigMap (which `pod rm` leaves), both removed when dropped.
struct Pod {
    image: &'static Image,
    name: String,
    config_map: String,
}

impl Drop for Pod {
    fn drop(&mut self) {
        let _ = self
            .image
            .podman(&["pod", "rm", "-f", "-t", "0", &self.name]);
        let _ = self.image.podman(&["volume", "rm", "-f", &self.config_map]);
    }
}

/// Runs a probe's command in the container: its exit status.
fn probe(ctr: &Container, command: &[String]) -> i32 {
    let words: Vec<&str> = command.iter().map(String::as_str).collect();
    ctr.exec(&words).code
}

/// units/container/pod.yaml under `podman kube play` (its image replaced
/// by the test image, its ConfigMap made from services.kdl with the
/// health check's interval cut to 1 s, its host port left out): the units
/// start, and the probes' commands, run in the container as the kubelet
/// would, pass while the services are up and healthy and fail (exit 3)
/// when a named one is stopped or unhealthy; svinit heals heartbeat by
/// itself. `podman pod stop` then ends it through the main command, with
/// its status 0, well within the grace period.
#[test]
fn the_pod_manifest_runs_under_podman_kube_play_and_its_probes_answer() {
    let Some(image) = image() else { return };
    let Some(mut manifest) = yaml_as_json(&repository_file(POD_YAML)) else {
        return;
    };
    let dir = TempDir::new("podman-kube");
    let name = unique_name("pod");
    let pod = Pod {
        image,
        config_map: format!("{name}-units"),
        name,
    };
    manifest["metadata"]["name"] = Value::from(pod.name.as_str());
    // podman makes the ConfigMap a volume of its name: a unique one, not
    // the manifest's, which a user's volume may have.
    manifest["spec"]["volumes"][0]["configMap"]["name"] = Value::from(pod.config_map.as_str());
    let container = &mut manifest["spec"]["containers"][0];
    container["image"] = Value::from(image.tag.as_str());
    // podman publishes a containerPort on the host: tests must not take
    // a fixed port of the machine.
    container
        .as_object_mut()
        .expect("a container object")
        .remove("ports");
    let (readiness, _) = probe_command(container, "readinessProbe");
    let (liveness, _) = probe_command(container, "livenessProbe");
    let container_name = format!("{}-{}", pod.name, container["name"].as_str().expect("name"));

    let units = read_repository_file(POD_UNITS);
    let interval_lines: Vec<&str> = units
        .lines()
        .filter(|line| line.trim_start().starts_with("interval "))
        .collect();
    assert_eq!(
        interval_lines.len(),
        1,
        "one health interval in {POD_UNITS}"
    );
    let units = units.replace(interval_lines[0], "        interval \"1s\"");
    let config_map = json!({
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": pod.config_map},
        "data": {"services.kdl": units},
    });
    let pod_file = dir.write("pod.json", &manifest.to_string());
    let config_map_file = dir.write("configmap.json", &config_map.to_string());
    image.podman_ok(&[
        "kube",
        "play",
        "--configmap",
        &config_map_file.to_string_lossy(),
        &pod_file.to_string_lossy(),
    ]);
    let ctr = Container {
        image,
        name: container_name,
    };
    ctr.wait_states(
        &[
            ("render-config", "done"),
            ("log-shipper", "up"),
            ("cron", "up"),
            ("heartbeat", "up"),
        ],
        Duration::from_secs(20),
    );
    ctr.wait_log("main command /app-server started", Duration::from_secs(10));
    let expect = |what: &str, command: &[String], want_ok: bool| {
        let code = probe(&ctr, command);
        if (code == 0) != want_ok {
            ctr.fail(&format!("{what}: {command:?} exited {code}"));
        }
    };
    expect("readiness with everything up", &readiness, true);
    expect("liveness with heartbeat up", &liveness, true);

    ctr.svctl(&["stop", "cron"], 0);
    expect("readiness with cron stopped", &readiness, false);
    ctr.svctl(&["start", "cron"], 0);
    expect("readiness with cron back", &readiness, true);

    // heartbeat frozen and its file gone: its health check fails. It is
    // `unhealthy` only from its third failed check to its restart, a
    // backoff later (about 1 s): the liveness command is sampled inside
    // the container, every 50 ms, for a podman exec from here may take
    // longer than that on a loaded machine.
    let sampler = format!(
        "while :; do {} >/dev/null 2>&1; echo $? >> /tmp/liveness; sleep 0.05; done",
        liveness.join(" ")
    );
    image.podman_ok(&["exec", "-d", &ctr.name, "sh", "-c", &sampler]);
    ctr.svctl(&["kill", "heartbeat", "STOP"], 0);
    let removed = ctr.exec(&["rm", "/tmp/heartbeat"]);
    assert_eq!(removed.code, 0, "rm /tmp/heartbeat: {removed}");
    let liveness_failed = || {
        ctr.exec(&["cat", "/tmp/liveness"])
            .stdout
            .lines()
            .any(|l| l == "3")
    };
    if !poll_until(Duration::from_secs(10), liveness_failed) {
        ctr.fail(&format!(
            "liveness never failed with heartbeat frozen: {:#}",
            ctr.status()["heartbeat"]
        ));
    }
    let events = ctr.svctl(&["events", "--since", "0", "--no-follow"], 0);
    let went_unhealthy = events.stdout.lines().any(|line| {
        serde_json::from_str::<Value>(line).is_ok_and(|event| {
            event["kind"] == "health" && event["name"] == "heartbeat" && event["to"] == "unhealthy"
        })
    });
    if !went_unhealthy {
        ctr.fail(&format!(
            "no event of heartbeat turning unhealthy:\n{events}"
        ));
    }
    // After 3 failed checks svinit restarts it, and it is healthy again.
    if !poll_until(Duration::from_secs(20), || probe(&ctr, &liveness) == 0) {
        ctr.fail(&format!(
            "heartbeat was not healed: {:#}",
            ctr.status()["heartbeat"]
        ));
    }
    if ctr.status()["heartbeat"]["restarts"] != 1 {
        ctr.fail(&format!(
            "heartbeat should have been restarted once: {:#}",
            ctr.status()["heartbeat"]
        ));
    }
    ctr.svctl(&["stop", "heartbeat"], 0);
    expect("liveness with heartbeat stopped", &liveness, false);
    expect("readiness (heartbeat is not named)", &readiness, true);

    let grace = manifest["spec"]["terminationGracePeriodSeconds"].to_string();
    let start = Instant::now();
    image.podman_ok(&["pod", "stop", "-t", &grace, &pod.name]);
    let took = start.elapsed();
    let code = ctr.inspect("{{.State.ExitCode}}");
    println!("podman pod stop -t {grace}: {:.2} s", took.as_secs_f64());
    if code != "0" || took > Duration::from_secs(10) {
        ctr.fail(&format!(
            "pod stop: exit {code} after {took:?}, want /app-server's 0 well within {grace} s"
        ));
    }
}
