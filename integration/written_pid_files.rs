//! `pid-file` on a longrun (SPEC §3 "Written pid files") with real
//! processes: svinit writes the pid once the program has exec'd (mode 0644,
//! its own file, renamed into place so a planted symlink is replaced, not
//! followed) and removes it when the process is reaped, unless something
//! else has rewritten it; a failed write is the service's reason and the
//! service runs on.

use std::os::unix::fs::{MetadataExt, PermissionsExt};

use crate::control::{container, expect, status_json, wait_for_socket};
use crate::harness::{DEADLINE, Svinit, TempDir};

/// svinit with one longrun `web` that records its pid in `web.self`, with
/// `pid-file PATH`; returns once web is up with its pid.
fn web_with_pid_file(dir: &TempDir, path: &str) -> (Svinit, i32) {
    dir.write(
        "conf/web.kdl",
        &format!(
            "service \"web\" {{\n    shell \"echo $$ > $DIR/web.self; exec sleep 1000\"\n    pid-file \"{path}\"\n}}\n"
        ),
    );
    let sv = container(dir);
    wait_for_socket(&sv, dir);
    sv.wait_file(dir, "web.self", DEADLINE);
    sv.wait_state("web", "up", DEADLINE);
    let pid = dir
        .read("web.self")
        .and_then(|text| text.trim().parse().ok())
        .unwrap_or_else(|| sv.fail("no pid in web.self"));
    (sv, pid)
}

#[test]
fn the_pid_file_holds_the_pid_with_mode_0644_and_goes_when_the_service_ends() {
    let dir = TempDir::new("pidfile-written");
    std::fs::create_dir(dir.join("run")).expect("mkdir run");
    let (sv, pid) = web_with_pid_file(&dir, "$DIR/run/web.pid");
    let path = dir.join("run/web.pid");
    sv.wait_until("the pid file", DEADLINE, || path.exists());
    let text = dir.read("run/web.pid").unwrap_or_default();
    if text != format!("{pid}\n") {
        sv.fail(&format!("pid file holds {text:?}, want \"{pid}\\n\""));
    }
    let meta = std::fs::symlink_metadata(&path).unwrap_or_else(|e| sv.fail(&e.to_string()));
    let mode = meta.permissions().mode() & 0o7777;
    if !meta.file_type().is_file() || mode != 0o644 || meta.uid() != 0 {
        sv.fail(&format!(
            "pid file: {:?}, mode {mode:o}, owner {}: want a regular file, 0644, root's",
            meta.file_type(),
            meta.uid()
        ));
    }
    let leftovers: Vec<_> = std::fs::read_dir(dir.join("run"))
        .map(|entries| {
            entries
                .filter_map(|e| e.ok())
                .map(|e| e.file_name())
                .collect()
        })
        .unwrap_or_default();
    if leftovers.len() != 1 {
        sv.fail(&format!("temporary files left beside it: {leftovers:?}"));
    }
    expect(&sv, &dir, &["stop", "web"], 0);
    sv.wait_until("the pid file removed", DEADLINE, || !path.exists());
}

#[test]
fn a_pid_file_rewritten_by_someone_else_is_left_alone() {
    let dir = TempDir::new("pidfile-rewritten");
    let (sv, _) = web_with_pid_file(&dir, "$DIR/web.pid");
    sv.wait_file(&dir, "web.pid", DEADLINE);
    dir.write("web.pid", "99999\n");
    expect(&sv, &dir, &["stop", "web"], 0);
    // Removal would have come with the reap: `stop` has returned after it.
    let after = dir.read("web.pid");
    if after.as_deref() != Some("99999\n") {
        sv.fail(&format!("the other program's pid file became {after:?}"));
    }
}

#[test]
fn a_symlink_planted_at_the_path_is_replaced_not_followed() {
    let dir = TempDir::new("pidfile-symlink");
    let target = dir.write("root-owned", "precious\n");
    std::os::unix::fs::symlink(&target, dir.join("web.pid")).expect("plant symlink");
    let (sv, pid) = web_with_pid_file(&dir, "$DIR/web.pid");
    let path = dir.join("web.pid");
    sv.wait_until("a pid file in place of the symlink", DEADLINE, || {
        std::fs::symlink_metadata(&path).is_ok_and(|m| m.file_type().is_file())
    });
    if dir.read("root-owned").as_deref() != Some("precious\n") {
        sv.fail("the symlink's target was written through");
    }
    if dir.read("web.pid") != Some(format!("{pid}\n")) {
        sv.fail(&format!("pid file holds {:?}", dir.read("web.pid")));
    }
}

#[test]
fn a_pid_file_that_cannot_be_written_is_the_reason_and_the_service_stays_up() {
    let dir = TempDir::new("pidfile-unwritable");
    // procfs takes no new files, not even root's.
    let (sv, pid) = web_with_pid_file(&dir, "/proc/svinit-web.pid");
    sv.wait_until("the reason in status", DEADLINE, || {
        !status_json(&sv, &dir, "web")["reason"].is_null()
    });
    let status = status_json(&sv, &dir, "web");
    let want = "pid file /proc/svinit-web.pid not written: No such file or directory";
    if status["state"] != "up" || status["pid"] != pid || status["reason"] != want {
        sv.fail(&format!(
            "status {status}, want up as pid {pid} with {want:?}"
        ));
    }
    if !sv
        .log()
        .contains(&format!("web: warning: {want}; running on"))
    {
        sv.fail("no warning in the log");
    }
}

#[test]
fn a_stopped_instance_and_a_service_removed_by_a_reload_have_their_pid_files_removed() {
    let dir = TempDir::new("pidfile-forgotten");
    dir.write(
        "conf/t.kdl",
        "service \"t@\" {\n    shell \"exec sleep 1000\"\n    pid-file \"$DIR/%i.pid\"\n}\n",
    );
    dir.write(
        "conf/gone.kdl",
        "service \"gone\" {\n    shell \"exec sleep 1000\"\n    pid-file \"$DIR/gone.pid\"\n}\n",
    );
    let sv = container(&dir);
    wait_for_socket(&sv, &dir);
    // A run-time instance is forgotten once stopped.
    expect(&sv, &dir, &["start", "t@a"], 0);
    sv.wait_file(&dir, "a.pid", DEADLINE);
    expect(&sv, &dir, &["stop", "t@a"], 0);
    let path = dir.join("a.pid");
    sv.wait_until("t@a's pid file removed", DEADLINE, || !path.exists());
    // A service removed by a reload is forgotten once stopped.
    sv.wait_file(&dir, "gone.pid", DEADLINE);
    dir.remove("conf/gone.kdl");
    sv.signal(nix::sys::signal::Signal::SIGHUP);
    let path = dir.join("gone.pid");
    sv.wait_until("gone's pid file removed", DEADLINE, || !path.exists());
}
