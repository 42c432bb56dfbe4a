//! PID-1 duties of system mode (SPEC.md §4 "System mode"): the early boot
//! (API filesystems, console, hostname, ctrl-alt-del), the emergency shell
//! unit (which the supervisor starts), and the last steps of a shutdown (sync, read-only remounts,
//! `reboot(2)`). Mechanism only: when to do each is the supervisor's call.

use std::fs;
use std::path::Path;
use std::time::Duration;

use nix::mount::{MsFlags, mount};
use nix::sys::reboot::{RebootMode, reboot, set_cad_enabled};
use nix::sys::stat::Mode as FileMode;

use crate::config::{self, Config, ServiceConfig};
use crate::runtime::{BOOT_ATTEMPTS, Options, Runtime, contain};
use crate::spawn::Spawner;
use crate::supervisor::PowerKind;
use crate::{error, info, warn};

fn reboot_mode(kind: PowerKind) -> RebootMode {
    match kind {
        PowerKind::Reboot => RebootMode::RB_AUTOBOOT,
        PowerKind::Halt => RebootMode::RB_HALT_SYSTEM,
        PowerKind::Poweroff => RebootMode::RB_POWER_OFF,
    }
}

/// The name of the unit svinit adds when the system needs a shell.
pub(crate) const EMERGENCY_SHELL: &str = "emergency-shell";
const SHELL: &str = "/bin/sh";

/// One API filesystem: where, what, and its mount options.
struct ApiMount {
    target: &'static str,
    fstype: &'static str,
    flags: MsFlags,
    data: Option<&'static str>,
}

/// In mount order: /proc first (mountinfo), /dev before what lives in it.
fn api_mounts() -> [ApiMount; 6] {
    let safe = MsFlags::MS_NOSUID | MsFlags::MS_NODEV | MsFlags::MS_NOEXEC;
    [
        ApiMount {
            target: "/proc",
            fstype: "proc",
            flags: safe,
            data: None,
        },
        ApiMount {
            target: "/sys",
            fstype: "sysfs",
            flags: safe,
            data: None,
        },
        ApiMount {
            target: "/dev",
            fstype: "devtmpfs",
            flags: MsFlags::MS_NOSUID,
            data: Some("mode=0755"),
        },
        ApiMount {
            target: "/dev/pts",
            fstype: "devpts",
            flags: MsFlags::MS_NOSUID | MsFlags::MS_NOEXEC,
            data: Some("gid=5,mode=0620,ptmxmode=0666"),
        },
        ApiMount {
            target: "/dev/shm",
            fstype: "tmpfs",
            flags: MsFlags::MS_NOSUID | MsFlags::MS_NODEV,
            data: Some("mode=1777"),
        },
        ApiMount {
            target: "/run",
            fstype: "tmpfs",
            flags: MsFlags::MS_NOSUID | MsFlags::MS_NODEV,
            data: Some("mode=0755"),
        },
    ]
}

/// The early boot of system mode, before the loop starts: API filesystems,
/// stdio on the console (svinit's own output captured again there), PATH,
/// hostname, ctrl-alt-del as SIGINT. Every failure is logged and boot
/// goes on.
pub fn early_boot() {
    let mut mounted = Vec::new();
    for api in api_mounts() {
        // /proc is checked by itself: mountinfo does not exist before it.
        let present = if api.target == "/proc" {
            Path::new("/proc/self/mountinfo").exists()
        } else {
            mount_points().iter().any(|point| point == api.target)
        };
        if present {
            continue;
        }
        let _ = nix::unistd::mkdir(api.target, FileMode::from_bits_truncate(0o755));
        match mount(
            Some(api.fstype),
            api.target,
            Some(api.fstype),
            api.flags,
            api.data,
        ) {
            Ok(()) => mounted.push(api.target),
            Err(err) => error!("", "cannot mount {} on {}: {err}", api.fstype, api.target),
        }
    }
    console_stdio();
    crate::console::capture();
    if !mounted.is_empty() {
        info!("", "mounted {}", mounted.join(" "));
    }
    if std::env::var_os("PATH").is_none() {
        // SAFETY: single-threaded (svinit has no threads), before any spawn.
        unsafe { std::env::set_var("PATH", crate::spawn::DEFAULT_PATH) };
    }
    set_hostname();
    // ctrl-alt-del then sends SIGINT to PID 1 instead of rebooting at once.
    if let Err(err) = set_cad_enabled(false) {
        warn!("", "cannot disable ctrl-alt-del reboot: {err}");
    }
}

/// Mount points from /proc/self/mountinfo (field 5), in mount order.
/// Octal escapes (`\040` for a space) are decoded.
pub(crate) fn mount_points() -> Vec<String> {
    fs::read_to_string("/proc/self/mountinfo")
        .map(|text| parse_mount_points(&text))
        .unwrap_or_default()
}

fn parse_mount_points(mountinfo: &str) -> Vec<String> {
    mountinfo
        .lines()
        .filter_map(|line| line.split(' ').nth(4))
        .map(unescape_octal)
        .collect()
}

fn unescape_octal(field: &str) -> String {
    let bytes = field.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let octal = bytes
            .get(i + 1..i + 4)
            .filter(|digits| bytes[i] == b'\\' && digits.iter().all(|d| (b'0'..=b'7').contains(d)));
        match octal {
            Some(digits) => {
                let value = digits
                    .iter()
                    .fold(0u32, |acc, d| acc * 8 + u32::from(d - b'0'));
                out.push(value as u8);
                i += 4;
            }
            None => {
                out.push(bytes[i]);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// stdin, stdout and stderr on /dev/console (the kernel may have started
/// PID 1 without them when the initramfs has no /dev/console).
fn console_stdio() {
    use std::os::fd::AsRawFd;
    let Ok(console) = fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open("/dev/console")
    else {
        return;
    };
    for fd in 0..3 {
        // SAFETY: dup2 onto the standard descriptors, which svinit owns.
        unsafe { libc::dup2(console.as_raw_fd(), fd) };
    }
}

fn set_hostname() {
    let Ok(text) = fs::read_to_string("/etc/hostname") else {
        return;
    };
    let Some(name) = text
        .lines()
        .map(str::trim)
        .find(|line| !line.is_empty() && !line.starts_with('#'))
    else {
        return;
    };
    match nix::unistd::sethostname(name) {
        Ok(()) => info!("", "hostname {name}"),
        Err(err) => warn!("", "cannot set hostname {name:?}: {err}"),
    }
}

/// The terminal behind /dev/console (the last of
/// /sys/class/tty/console/active, e.g. /dev/ttyS0): a shell there gets a
/// controlling terminal and job control, which /dev/console itself cannot
/// give. /dev/console when it cannot be told.
pub(crate) fn console_tty() -> String {
    fs::read_to_string("/sys/class/tty/console/active")
        .ok()
        .and_then(|active| active.split_whitespace().last().map(str::to_string))
        .map(|name| format!("/dev/{name}"))
        .filter(|path| Path::new(path).exists())
        .unwrap_or_else(|| "/dev/console".to_string())
}

/// The emergency shell as a unit: `/bin/sh` on the console terminal,
/// restarted whenever it exits; the supervisor adds it when the system
/// needs it. `None` when there is no /bin/sh.
pub(crate) fn emergency_shell_unit(tty: &str) -> Option<ServiceConfig> {
    if !Path::new(SHELL).exists() {
        return None;
    }
    let kdl = format!(
        "service \"{EMERGENCY_SHELL}\" {{\n\
         \x20   description \"Emergency shell: fix the config, then svctl reload\"\n\
         \x20   exec \"{SHELL}\"\n\
         \x20   tty \"{tty}\"\n\
         \x20   restart \"always\"\n\
         \x20   forever #true\n\
         \x20   backoff-limit \"2s\"\n\
         \x20   stop-signal \"HUP\"\n\
         \x20   stop-timeout \"2s\"\n\
         }}\n"
    );
    let config = config::load_sources(vec![("<emergency shell>".to_string(), kdl)]).ok()?;
    config.services.into_iter().next()
}

/// System mode's main: the loop never returns; if it does (it should
/// not), the machine powers off rather than PID 1 exiting. A runtime that
/// cannot even start (no epoll, no signalfd, an internal error) is retried.
pub fn run_forever(options: Options, config: Config, mut spawner: Option<Spawner>) -> ! {
    loop {
        // A failed attempt drops the spawner; the next forks its own.
        let started = contain(BOOT_ATTEMPTS, "setting up the loop", || {
            Runtime::new(options.clone(), config.clone(), spawner.take())
        });
        match started {
            Some(Ok(runtime)) => {
                let code = runtime.run();
                error!("", "the loop ended with status {code}; powering off");
                final_shutdown(PowerKind::Poweroff)
            }
            Some(Err(err)) => error!("", "cannot start the loop, retrying in 5s: {err}"),
            None => error!("", "cannot start the loop, retrying in 5s"),
        }
        std::thread::sleep(std::time::Duration::from_secs(5));
    }
}

/// How long the final sync and read-only remounts may take before the
/// machine is rebooted anyway (a hung NFS server or disk must not keep it
/// up for ever, SPEC §7 "Bounded shutdown").
pub(crate) const FINAL_SYNC_LIMIT: Duration = Duration::from_secs(20);

/// The end of a system-mode shutdown, once every process is gone: sync,
/// remount every filesystem read-only (innermost first; failures are
/// normal for busy or virtual ones and ignored), sync again, all within
/// `FINAL_SYNC_LIMIT`, then `reboot(2)`. Never returns.
pub(crate) fn final_shutdown(kind: PowerKind) -> ! {
    info!("", "syncing filesystems");
    info!("", "remounting filesystems read-only");
    let mut points = mount_points();
    points.reverse();
    let finished = run_bounded(FINAL_SYNC_LIMIT, || {
        nix::unistd::sync();
        for point in &points {
            let flags = MsFlags::MS_REMOUNT | MsFlags::MS_RDONLY;
            let _ = mount(
                None::<&str>,
                point.as_str(),
                None::<&str>,
                flags,
                None::<&str>,
            );
        }
        nix::unistd::sync();
    });
    if !finished {
        error!(
            "",
            "sync and remount did not finish within {}s; going on",
            FINAL_SYNC_LIMIT.as_secs()
        );
    }
    info!("", "{}", kind.as_str());
    // The last lines reach the console, unless it is held (then bounded).
    crate::console::flush_before_exit(crate::console::EXIT_FLUSH);
    let err = match reboot(reboot_mode(kind)) {
        Ok(never) => match never {},
        Err(err) => err,
    };
    error!("", "reboot(2) for {} failed: {err}", kind.as_str());
    // PID 1 must not exit: wait for someone to cut the power.
    loop {
        nix::unistd::pause();
    }
}

/// Runs `job` in a child process and waits for it at most `limit`:
/// whether it finished. A child still busy (asleep in the kernel) is left
/// behind; what comes next (reboot(2)) ends it. Without a child (fork
/// failed), `job` runs here, unbounded.
pub(crate) fn run_bounded(limit: Duration, job: impl FnOnce()) -> bool {
    // SAFETY: svinit has one thread; the child runs `job` and exits
    // without returning into svinit's code.
    match unsafe { nix::unistd::fork() } {
        Ok(nix::unistd::ForkResult::Child) => {
            job();
            // SAFETY: _exit ends the child without running svinit's
            // destructors or flushing its buffers twice.
            unsafe { libc::_exit(0) }
        }
        Ok(nix::unistd::ForkResult::Parent { child }) => {
            let deadline = std::time::Instant::now() + limit;
            loop {
                match nix::sys::wait::waitpid(child, Some(nix::sys::wait::WaitPidFlag::WNOHANG)) {
                    Ok(nix::sys::wait::WaitStatus::StillAlive) | Err(nix::errno::Errno::EINTR) => {}
                    Ok(_) | Err(_) => return true,
                }
                if std::time::Instant::now() >= deadline {
                    return false;
                }
                std::thread::sleep(Duration::from_millis(20));
            }
        }
        Err(_) => {
            job();
            true
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_job_that_hangs_is_given_up_on_at_the_limit() {
        let start = std::time::Instant::now();
        assert!(run_bounded(Duration::from_secs(5), || {}));
        assert!(!run_bounded(Duration::from_millis(200), || {
            std::thread::sleep(Duration::from_secs(30))
        }));
        assert!(start.elapsed() < Duration::from_secs(5));
    }

    #[test]
    fn mount_points_from_mountinfo() {
        let text = "22 1 0:21 / /proc rw,nosuid - proc proc rw\n\
                    23 22 0:5 / /dev rw - devtmpfs devtmpfs rw\n\
                    24 23 0:6 / /mnt/my\\040disk rw - ext4 /dev/sda1 rw\n";
        assert_eq!(
            parse_mount_points(text),
            vec!["/proc", "/dev", "/mnt/my disk"]
        );
    }

    #[test]
    fn octal_escapes_and_stray_backslashes() {
        assert_eq!(unescape_octal("a\\011b"), "a\tb");
        assert_eq!(unescape_octal("a\\9"), "a\\9");
        assert_eq!(unescape_octal("end\\"), "end\\");
    }

    #[test]
    fn signals_to_power_kinds() {
        assert_eq!(
            PowerKind::from_signal(libc::SIGINT),
            Some(PowerKind::Reboot)
        );
        assert_eq!(
            PowerKind::from_signal(libc::SIGTERM),
            Some(PowerKind::Reboot)
        );
        assert_eq!(PowerKind::from_signal(libc::SIGUSR1), Some(PowerKind::Halt));
        assert_eq!(
            PowerKind::from_signal(libc::SIGUSR2),
            Some(PowerKind::Poweroff)
        );
        assert_eq!(PowerKind::from_signal(libc::SIGHUP), None);
    }

    #[test]
    fn the_emergency_shell_unit_is_valid() {
        // /bin/sh exists on every machine these tests run on.
        let unit = emergency_shell_unit("/dev/ttyS0").expect("a valid unit");
        assert_eq!(unit.name, EMERGENCY_SHELL);
        assert_eq!(unit.tty.as_deref(), Some(Path::new("/dev/ttyS0")));
    }
}
