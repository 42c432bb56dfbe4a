//! System mode on a real kernel: `integration/boot/boot.sh` builds an
//! initramfs around the static svinit (`make static`), busybox and the
//! units of `units/embedded`, boots it in QEMU (TCG, 60 s bound) and these
//! tests assert on the serial console. What they need (qemu, busybox,
//! cpio, a Debian cloud kernel) is installed on the way when missing;
//! when that is impossible the tests fail under `CI=true` and are skipped,
//! loudly, elsewhere.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Mutex;

/// One boot at a time: the static build and the kernel cache are shared,
/// and two TCG guests on a loaded machine would only slow each other.
static BOOTS: Mutex<()> = Mutex::new(());

const MUSL: &str = "x86_64-unknown-linux-musl";

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// `Err` says what is missing; the caller fails (CI) or skips.
fn prerequisites() -> Result<(), String> {
    let missing: Vec<&str> = [
        ("qemu-system-x86_64", "qemu-system-x86"),
        ("busybox", "busybox-static"),
        ("cpio", "cpio"),
    ]
    .into_iter()
    .filter(|(tool, _)| !on_path(tool))
    .map(|(_, package)| package)
    .collect();
    if !missing.is_empty() {
        let installed = Command::new("sh")
            .arg("-c")
            .arg(format!(
                "apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq {}",
                missing.join(" ")
            ))
            .status()
            .map(|s| s.success())
            .unwrap_or(false);
        if !installed {
            return Err(format!(
                "cannot install {} (apt-get failed: no network or not root)",
                missing.join(" ")
            ));
        }
    }
    let kernel = Command::new(repo().join("integration/boot/fetch-kernel.sh"))
        .arg(repo().join("target/boot-cache"))
        .output()
        .map_err(|e| format!("fetch-kernel.sh: {e}"))?;
    if !kernel.status.success() {
        return Err(format!(
            "no kernel image: fetch-kernel.sh failed: {}",
            String::from_utf8_lossy(&kernel.stderr)
        ));
    }
    // The static binaries, fresh: the boot must test this tree's code.
    let built = Command::new(env!("CARGO"))
        .args(["build", "--release", "--bins", "--target", MUSL])
        .current_dir(repo())
        .status()
        .map_err(|e| format!("cargo build --target {MUSL}: {e}"))?;
    if !built.success() {
        return Err(format!(
            "cannot build the static binaries (rustup target add {MUSL})"
        ));
    }
    Ok(())
}

fn on_path(tool: &str) -> bool {
    std::env::var_os("PATH")
        .map(|path| std::env::split_paths(&path).any(|dir| dir.join(tool).is_file()))
        .unwrap_or(false)
}

/// Boots `scenario` and returns the console, or `None` when skipped.
fn boot(scenario: &str) -> Option<String> {
    let _one_at_a_time = BOOTS.lock().unwrap_or_else(|e| e.into_inner());
    if let Err(why) = prerequisites() {
        if std::env::var("CI").is_ok_and(|v| v == "true" || v == "1") {
            panic!("the QEMU boot test cannot run in CI: {why}");
        }
        eprintln!("SKIPPED the QEMU boot test ({scenario}): {why}");
        return None;
    }
    let out = repo().join(format!("target/boot-test-{scenario}"));
    let run = Command::new(repo().join("integration/boot/boot.sh"))
        .arg(scenario)
        .arg(&out)
        .env("BOOT_TIMEOUT", "60")
        .output()
        .expect("run boot.sh");
    let info = String::from_utf8_lossy(&run.stdout).into_owned();
    let console = read_console(&out.join("console.log"));
    assert!(
        run.status.success(),
        "boot.sh failed: {}\n{info}\n{console}",
        String::from_utf8_lossy(&run.stderr)
    );
    assert!(
        info.contains("qemu_status=0"),
        "QEMU did not power off by itself within 60 s ({info}):\n{console}"
    );
    assert!(
        !console.contains("Kernel panic"),
        "the kernel panicked:\n{console}"
    );
    Some(console)
}

fn read_console(path: &Path) -> String {
    let bytes = std::fs::read(path).unwrap_or_default();
    String::from_utf8_lossy(&bytes).replace('\r', "")
}

/// The line number of the first line containing `needle` at or after
/// line `from`.
fn line_of(console: &str, needle: &str, from: usize) -> usize {
    console
        .lines()
        .enumerate()
        .skip(from)
        .find(|(_, line)| line.contains(needle))
        .map(|(n, _)| n)
        .unwrap_or_else(|| panic!("no line with {needle:?} (from line {from}) in:\n{console}"))
}

/// Each needle appears, in this order.
fn in_order(console: &str, needles: &[&str]) {
    in_order_from(console, 0, needles);
}

/// Each needle appears at or after line `from`, in this order.
fn in_order_from(console: &str, from: usize, needles: &[&str]) {
    let mut at = from;
    for needle in needles {
        at = line_of(console, needle, at) + 1;
    }
}

#[test]
fn boots_the_embedded_units_in_order_and_powers_off_cleanly() {
    let Some(console) = boot("ok") else {
        return;
    };
    // svinit mounted the API filesystems and mount-fs the rest (/tmp).
    in_order(
        &console,
        &["svinit: mounted /proc /sys /dev /dev/pts /dev/shm /run"],
    );
    for fs in [
        "/proc", "/sys", "/dev", "/dev/pts", "/dev/shm", "/run", "/tmp",
    ] {
        line_of(&console, &format!("report | MOUNTED {fs}"), 0);
    }
    line_of(&console, "report | HOSTNAME svinit-guest", 0);
    // Dependency order: mount-fs, then seed-shm, syslogd, klogd, report.
    in_order(
        &console,
        &[
            "svinit: mount-fs: done",
            "svinit: seed-shm: done",
            "svinit: syslogd: up",
            "svinit: klogd: starting",
            "svinit: report: starting",
        ],
    );
    in_order(
        &console,
        &["svinit: mount-fs: done", "svinit: console: starting"],
    );
    // The console shell has ttyS0 (4, 64) as its controlling terminal.
    line_of(&console, "report | CONSOLE-CTTY 1088", 0);
    // `svctl status` from inside the guest.
    let begin = line_of(&console, "report | SVCTL-STATUS-BEGIN", 0);
    for service in ["syslogd", "klogd", "console"] {
        let line = console
            .lines()
            .nth(line_of(&console, &format!("report | {service} "), begin));
        assert!(
            line.is_some_and(|l| l.split_whitespace().nth(3) == Some("up")),
            "{service} not up in svctl status:\n{console}"
        );
    }
    // `svctl poweroff`: reverse order, every process gone, reboot(2).
    let poweroff = line_of(&console, "poweroff, stopping services in reverse order", 0);
    in_order_from(
        &console,
        poweroff,
        &[
            "svinit: klogd: down",
            "svinit: syslogd: stopping",
            "svinit: syslogd: down",
            "svinit: sending SIGTERM to all processes",
            "svinit: syncing filesystems",
            "svinit: remounting filesystems read-only",
            "svinit: poweroff",
        ],
    );
    line_of(&console, "svinit: console: down", poweroff);
}

/// SIGTERM to PID 1 is a reboot (sysvinit and busybox do the same); QEMU's
/// `-no-reboot` turns the reboot into an exit.
#[test]
fn sigterm_to_pid_1_reboots_after_stopping_everything() {
    let Some(console) = boot("reboot") else {
        return;
    };
    line_of(&console, "report | ALL-READY", 0);
    let reboot = line_of(
        &console,
        "SIGTERM: reboot, stopping services in reverse order",
        0,
    );
    in_order_from(
        &console,
        reboot,
        &[
            "svinit: klogd: down",
            "svinit: syslogd: down",
            "svinit: sending SIGTERM to all processes",
            "svinit: syncing filesystems",
            "svinit: reboot",
        ],
    );
    assert!(
        !console.contains("svinit: poweroff"),
        "a reboot, not a poweroff:\n{console}"
    );
}

#[test]
fn a_broken_config_reaches_the_emergency_shell_and_reload_recovers() {
    let Some(console) = boot("broken") else {
        return;
    };
    in_order(
        &console,
        &[
            "unknown key `umaks`",
            "svinit: error: invalid config at /etc/svinit",
            "starting the emergency shell on /dev/ttyS0",
            "svinit: emergency-shell: up",
            // The shell ran what was typed on the serial line.
            "EMERGENCY-42-OK",
            "emergency-shell  up",
            // Config fixed, `svctl reload`: the real units come up.
            "removed emergency-shell",
            "svinit: emergency-shell: down",
            "svinit: klogd: up",
            "FIXED-2-OK",
            "poweroff, stopping services in reverse order",
            "svinit: klogd: down",
            "svinit: syslogd: down",
            "svinit: poweroff",
        ],
    );
}
