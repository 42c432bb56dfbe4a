//! The pure half of spawning: a service's config → a [`SpawnPlan`] of
//! resolved ids, paths and `CString`s that the forked child only reads.
//! The plan and what every spawn shares ([`SpawnContext`]) are here; the
//! environment is built in `env.rs`, the credentials resolved in
//! `credentials.rs`.

use std::ffi::{CString, OsStr, OsString};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use super::credentials::resolve_ids;
use super::env::{DEFAULT_PATH, EnvEntry, assigns, env_entry, is_env_name, service_environment};
use crate::config::{Command, ServiceConfig};
use crate::supervisor::{SpawnFailure, SpawnStage};
use crate::users::UserDb;

/// What every spawn shares, built once: svinit's environment (already as
/// `NAME=value` C strings), the users database, the default directory.
#[derive(Debug, Clone)]
pub(crate) struct SpawnContext {
    inherited_env: Vec<EnvEntry>,
    default_directory: Option<PathBuf>,
    users: UserDb,
    euid: u32,
    /// The open-files limit svinit was started with, when it raised its own
    /// (`runtime/own_limits.rs`): what services get unless they set `nofile`.
    inherited_nofile: Option<(libc::rlim_t, libc::rlim_t)>,
}

/// What svinit's own service manager (systemd, another svinit) set for
/// svinit: a service must not notify or take sockets meant for svinit.
/// svinit sets `NOTIFY_SOCKET` and `WATCHDOG_*` itself for the services
/// that use them.
const MANAGER_VARIABLES: &[&[u8]] = &[
    b"NOTIFY_SOCKET",
    b"WATCHDOG_USEC",
    b"WATCHDOG_PID",
    b"LISTEN_FDS",
    b"LISTEN_PID",
    b"LISTEN_FDNAMES",
];

impl SpawnContext {
    /// `default_directory`: where a service without `directory` starts;
    /// `None` leaves it in svinit's own directory.
    pub(crate) fn new(
        inherited_env: impl IntoIterator<Item = (OsString, OsString)>,
        default_directory: Option<PathBuf>,
        users: UserDb,
    ) -> SpawnContext {
        let mut env: Vec<EnvEntry> = Vec::new();
        for (name, value) in inherited_env {
            let (name, value) = (name.as_bytes(), value.as_bytes());
            if !is_env_name(name)
                || MANAGER_VARIABLES.contains(&name)
                || env.iter().any(|e| e.name() == name)
            {
                continue;
            }
            if let Some(entry) = EnvEntry::new(name, value) {
                env.push(entry);
            }
        }
        SpawnContext {
            inherited_env: env,
            default_directory,
            users,
            euid: nix::unistd::geteuid().as_raw(),
            inherited_nofile: None,
        }
    }

    /// svinit's own environment and `/etc/passwd`, `/etc/group`.
    pub(crate) fn from_process(default_directory: Option<PathBuf>) -> SpawnContext {
        SpawnContext::new(std::env::vars_os(), default_directory, UserDb::load())
    }

    pub(crate) fn default_directory(&self) -> Option<&Path> {
        self.default_directory.as_deref()
    }

    /// Services get this open-files limit (soft, hard) unless they set
    /// `limits nofile` themselves.
    pub(crate) fn set_inherited_nofile(&mut self, limit: (libc::rlim_t, libc::rlim_t)) {
        self.inherited_nofile = Some(limit);
    }
}

/// Everything the child needs to become the service, resolved and checked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct SpawnPlan {
    pub(super) program: CString,
    pub(super) argv: Vec<CString>,
    pub(super) env: Vec<CString>,
    pub(super) directory: Option<CString>,
    pub(super) umask: Option<libc::mode_t>,
    pub(super) nice: Option<i32>,
    pub(super) limits: Vec<PreparedLimit>,
    pub(super) tty: Option<CString>,
    /// `setgroups` with these, when `Some`.
    pub(super) groups: Option<Vec<libc::gid_t>>,
    pub(super) gid: Option<libc::gid_t>,
    pub(super) uid: Option<libc::uid_t>,
    /// How to name the user and group in failures: the name, or the number.
    pub(super) user_label: String,
    pub(super) group_label: String,
    /// svinit's session and the terminal's foreground instead of a new session.
    pub(super) foreground: bool,
    /// The name of a variable whose value is the child's own pid, which the
    /// child writes itself (`WATCHDOG_PID`).
    pub(super) own_pid_env: Option<Vec<u8>>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct PreparedLimit {
    pub(super) resource: i32,
    pub(super) soft: libc::rlim_t,
    pub(super) hard: libc::rlim_t,
}

impl SpawnPlan {
    #[cfg(test)]
    /// The path given to `execve`.
    pub(crate) fn program(&self) -> &std::ffi::CStr {
        &self.program
    }

    #[cfg(test)]
    pub(crate) fn argv(&self) -> &[CString] {
        &self.argv
    }

    #[cfg(test)]
    /// `NAME=value` strings.
    pub(crate) fn env(&self) -> &[CString] {
        &self.env
    }

    /// The value of `name` in its environment, if set.
    pub(crate) fn env_var(&self, name: &str) -> Option<&[u8]> {
        self.env.iter().find_map(|line| {
            line.as_bytes()
                .strip_prefix(name.as_bytes())?
                .strip_prefix(b"=")
        })
    }

    /// Sets a variable the runtime adds itself (`NOTIFY_SOCKET`), replacing
    /// any value of the same name.
    pub(crate) fn set_env(&mut self, name: &str, value: &OsStr) -> Result<(), SpawnFailure> {
        let entry = env_entry(name.as_bytes(), value.as_bytes())?;
        match self.env.iter_mut().find(|line| assigns(line, name)) {
            Some(line) => *line = entry.line,
            None => self.env.push(entry.line),
        }
        Ok(())
    }

    /// Sets `name` to the child's own pid, known only after the fork: the
    /// child writes it between fork and exec (`WATCHDOG_PID`, as systemd
    /// sets it). Replaces any value of the same name.
    pub(crate) fn set_own_pid_env(&mut self, name: &str) -> Result<(), SpawnFailure> {
        env_entry(name.as_bytes(), b"")?;
        self.env.retain(|line| !assigns(line, name));
        self.own_pid_env = Some(name.as_bytes().to_vec());
        Ok(())
    }

    #[cfg(test)]
    pub(crate) fn directory(&self) -> Option<&std::ffi::CStr> {
        self.directory.as_deref()
    }

    pub(crate) fn uid(&self) -> Option<u32> {
        self.uid
    }

    #[cfg(test)]
    pub(crate) fn gid(&self) -> Option<u32> {
        self.gid
    }

    #[cfg(test)]
    /// The supplementary groups to set, when they are set.
    pub(crate) fn groups(&self) -> Option<&[u32]> {
        self.groups.as_deref()
    }

    #[cfg(test)]
    pub(crate) fn tty(&self) -> Option<&std::ffi::CStr> {
        self.tty.as_deref()
    }

    /// For the main command (`svinit -- COMMAND`, like tini): instead of a
    /// session of its own, a process group of its own in svinit's session,
    /// made the foreground group of the terminal on its stdin when that is
    /// svinit's controlling terminal. Not with `tty`, which needs a session.
    pub(crate) fn set_foreground(&mut self) {
        self.foreground = true;
    }
}

/// Builds the plan for one start of `service`.
pub(crate) fn prepare(
    service: &ServiceConfig,
    ctx: &SpawnContext,
) -> Result<SpawnPlan, SpawnFailure> {
    let ids = resolve_ids(service, &ctx.users, ctx.euid)?;

    let env = service_environment(service, &ctx.inherited_env, ids.user_env.as_ref())?;

    let path = env.get(b"PATH").unwrap_or(DEFAULT_PATH.as_bytes());
    let (program, argv) = command_line(&service.command, path)?;

    let path_string = |kind: &str, path: &Path| {
        c_string(path.as_os_str().as_bytes(), || {
            format!("{kind} {}", path.display())
        })
    };
    let directory = match service.directory.as_deref().or(ctx.default_directory()) {
        Some(dir) => Some(path_string("directory", dir)?),
        None => None,
    };
    let tty = match &service.tty {
        Some(tty) => Some(path_string("tty", tty)?),
        None => None,
    };

    Ok(SpawnPlan {
        program,
        argv,
        env: env.finish(),
        directory,
        umask: service.umask.map(|mask| (mask & 0o777) as libc::mode_t),
        nice: service.nice,
        limits: prepare_limits(service, ctx),
        tty,
        groups: ids.groups,
        gid: ids.gid,
        uid: ids.uid,
        user_label: ids.user_label,
        group_label: ids.group_label,
        foreground: false,
        own_pid_env: None,
    })
}

/// The program to exec (found in `path` for an `exec`) and its argv.
fn command_line(command: &Command, path: &[u8]) -> Result<(CString, Vec<CString>), SpawnFailure> {
    Ok(match command {
        Command::Exec(args) => {
            let Some(name) = args.first() else {
                return Err(prepare_failure("exec", "empty command"));
            };
            let argv = args
                .iter()
                .enumerate()
                .map(|(i, arg)| c_string(arg.as_bytes(), || format!("argument {i}")))
                .collect::<Result<Vec<_>, _>>()?;
            (find_program(name, path)?, argv)
        }
        Command::Shell(script) => {
            let sh = CString::from(c"/bin/sh");
            let script = c_string(script.as_bytes(), || "shell script".to_string())?;
            (sh.clone(), vec![sh, CString::from(c"-c"), script])
        }
    })
}

impl SpawnPlan {
    /// The plan of a helper (a probe, a stop command) run as this plan's
    /// process runs: the same credentials, directory, umask, limits and
    /// environment, read once at the start; `command` in its place, and no
    /// terminal.
    pub(crate) fn for_helper(&self, command: &Command) -> Result<SpawnPlan, SpawnFailure> {
        let path = self.env_var("PATH").unwrap_or(DEFAULT_PATH.as_bytes());
        let (program, argv) = command_line(command, path)?;
        Ok(SpawnPlan {
            program,
            argv,
            tty: None,
            foreground: false,
            own_pid_env: None,
            ..self.clone()
        })
    }
}

/// The service's `limits`, plus the open-files limit svinit started with
/// when it raised its own and the service does not set one.
fn prepare_limits(service: &ServiceConfig, ctx: &SpawnContext) -> Vec<PreparedLimit> {
    let infinity = |limit: Option<u64>| limit.unwrap_or(libc::RLIM_INFINITY);
    let mut limits: Vec<PreparedLimit> = service
        .limits
        .iter()
        .map(|limit| PreparedLimit {
            resource: limit.resource,
            soft: infinity(limit.soft),
            hard: infinity(limit.hard),
        })
        .collect();
    let nofile = libc::RLIMIT_NOFILE as i32;
    if let Some((soft, hard)) = ctx.inherited_nofile
        && !limits.iter().any(|limit| limit.resource == nofile)
    {
        limits.push(PreparedLimit {
            resource: nofile,
            soft,
            hard,
        });
    }
    limits
}

pub(super) fn prepare_failure(
    detail: impl Into<String>,
    message: impl Into<String>,
) -> SpawnFailure {
    SpawnFailure {
        stage: SpawnStage::Prepare,
        detail: detail.into(),
        errno: 0,
        message: Some(message.into()),
    }
}

fn c_string(bytes: &[u8], what: impl FnOnce() -> String) -> Result<CString, SpawnFailure> {
    CString::new(bytes).map_err(|_| prepare_failure(what(), "contains a NUL byte"))
}

/// `name` itself when it has a `/`, else the first executable regular file
/// `DIR/name` for the absolute entries `DIR` of `path`.
fn find_program(name: &str, path: &[u8]) -> Result<CString, SpawnFailure> {
    let not_found = || SpawnFailure {
        stage: SpawnStage::Exec,
        detail: name.to_string(),
        errno: libc::ENOENT,
        message: None,
    };
    if name.contains('/') {
        return c_string(name.as_bytes(), || format!("program {name}"));
    }
    if name.is_empty() || name.contains('\0') {
        return Err(not_found());
    }
    for dir in path.split(|&b| b == b':').filter(|d| d.starts_with(b"/")) {
        let mut candidate = Vec::with_capacity(dir.len() + name.len() + 1);
        candidate.extend_from_slice(dir);
        if !dir.ends_with(b"/") {
            candidate.push(b'/');
        }
        candidate.extend_from_slice(name.as_bytes());
        let executable = std::fs::metadata(OsStr::from_bytes(&candidate))
            .is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0);
        if executable {
            return CString::new(candidate).map_err(|_| not_found());
        }
    }
    Err(not_found())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::IdRef;
    use crate::spawn::tests::{TempDir, exec, nofile_100_200_core_unlimited, shell};

    const PASSWD: &str = "root:x:0:0:root:/root:/bin/bash
alice:x:1000:1000:Alice:/home/alice:/bin/zsh
bare:x:1001:1001:::
";
    const GROUP: &str = "root:x:0:
alice:x:1000:
wheel:x:10:alice
audio:x:29:bob,alice
";

    fn ctx(env: &[(&str, &str)]) -> SpawnContext {
        SpawnContext::new(
            env.iter().map(|(n, v)| (n.into(), v.into())),
            Some(PathBuf::from("/")),
            UserDb::from_text(PASSWD, GROUP),
        )
    }

    fn env_of(plan: &SpawnPlan) -> Vec<String> {
        plan.env()
            .iter()
            .map(|e| e.to_string_lossy().into_owned())
            .collect()
    }

    #[test]
    fn shell_runs_bin_sh_c() {
        let plan = prepare(&shell("echo hi"), &ctx(&[])).expect("plan");
        assert_eq!(plan.program(), c"/bin/sh");
        assert_eq!(plan.argv(), [c"/bin/sh", c"-c", c"echo hi"]);
    }

    #[test]
    fn exec_looks_up_path_of_the_service() {
        let ctx = ctx(&[("PATH", "/nonexistent:/usr/bin")]);
        let mut service = exec(&["sh", "-c", "x"]);
        let plan = prepare(&service, &ctx).expect("plan");
        assert_eq!(plan.program(), c"/usr/bin/sh");
        assert_eq!(plan.argv(), [c"sh", c"-c", c"x"], "argv[0] as written");

        service.environment = vec![("PATH".into(), "relative/bin::/bin/".into())];
        let plan = prepare(&service, &ctx).expect("plan");
        assert_eq!(plan.program(), c"/bin/sh");
    }

    #[test]
    fn exec_without_path_uses_the_default() {
        let plan = prepare(&exec(&["true"]), &ctx(&[])).expect("plan");
        assert!(plan.program().to_bytes().ends_with(b"/true"));
        assert_eq!(plan.env_var("PATH"), None, "only looked up, not set");
    }

    #[test]
    fn exec_with_a_slash_is_not_looked_up() {
        let plan = prepare(&exec(&["./run", "a"]), &ctx(&[])).expect("plan");
        assert_eq!(plan.program(), c"./run");
    }

    #[test]
    fn missing_program_is_an_exec_failure_naming_it() {
        let ctx = ctx(&[("PATH", "/bin:/usr/bin")]);
        let failure = prepare(&exec(&["no-such-program-x"]), &ctx).expect_err("missing");
        assert_eq!(failure.stage, SpawnStage::Exec);
        assert_eq!(failure.errno, libc::ENOENT);
        assert_eq!(
            failure.to_string(),
            "exec no-such-program-x: No such file or directory"
        );
        // A directory of that name, or a file without x bits, is not a program.
        let failure = prepare(&exec(&["passwd"]), &ctx_path("/etc")).expect_err("not executable");
        assert_eq!(failure.stage, SpawnStage::Exec);
        let failure = prepare(&exec(&["bin"]), &ctx_path("/usr")).expect_err("a directory");
        assert_eq!(failure.stage, SpawnStage::Exec);
    }

    fn ctx_path(path: &str) -> SpawnContext {
        ctx(&[("PATH", path)])
    }

    #[test]
    fn empty_exec_is_a_prepare_failure() {
        let failure = prepare(&exec(&[]), &ctx(&[])).expect_err("empty");
        assert_eq!(failure.to_string(), "prepare exec: empty command");
    }

    #[test]
    fn environment_layers() {
        let dir = TempDir::new();
        let file = dir.path().join("env");
        std::fs::write(
            &file,
            "# defaults\nB=file\nexport C=\"file c\"\nHOME=/srv\n",
        )
        .expect("write");
        let ctx = ctx(&[("A", "inherited"), ("B", "inherited"), ("HOME", "/root")]);
        let mut service = shell("true");
        service.user = Some(IdRef::Name("alice".into()));
        service.environment_file = Some(file);
        service.environment = vec![("C".into(), "config".into()), ("D".into(), "d".into())];
        let plan = prepare(&service, &ctx).expect("plan");
        assert_eq!(
            env_of(&plan),
            [
                "A=inherited",
                "B=file",
                "HOME=/srv",
                "USER=alice",
                "LOGNAME=alice",
                "SHELL=/bin/zsh",
                "C=config",
                "D=d"
            ]
        );
    }

    #[test]
    fn clear_environment_keeps_only_path_and_what_is_set() {
        let mut service = shell("true");
        service.clear_environment = true;
        service.environment = vec![("X".into(), "1".into())];
        let plan = prepare(&service, &ctx(&[("SECRET", "s"), ("PATH", "/x")])).expect("plan");
        assert_eq!(
            env_of(&plan),
            [format!("PATH={DEFAULT_PATH}"), "X=1".into()]
        );
    }

    /// svinit's own supervisor's notification variables (svinit run under
    /// systemd or another svinit) are not passed on: a service would
    /// send READY=1 or WATCHDOG=1 for svinit, to the wrong manager.
    #[test]
    fn the_notification_variables_svinit_inherited_are_not_passed_on() {
        let ctx = ctx(&[
            ("NOTIFY_SOCKET", "/run/systemd/notify"),
            ("WATCHDOG_USEC", "30000000"),
            ("WATCHDOG_PID", "1"),
            ("LISTEN_FDS", "2"),
            ("LISTEN_PID", "1"),
            ("LISTEN_FDNAMES", "a:b"),
            ("KEEP", "1"),
        ]);
        let plan = prepare(&shell("true"), &ctx).expect("plan");
        assert_eq!(env_of(&plan), ["KEEP=1"]);
    }

    #[test]
    fn inherited_env_is_sanitised_once() {
        let ctx = ctx(&[("A", "1"), ("A", "2"), ("", "x"), ("B=C", "y")]);
        let plan = prepare(&shell("true"), &ctx).expect("plan");
        assert_eq!(env_of(&plan), ["A=1"]);
    }

    #[test]
    fn environment_file_problems_name_the_file() {
        let dir = TempDir::new();
        let file = dir.path().join("env");
        std::fs::write(&file, "A=1\nnot a line\n").expect("write");
        let mut service = shell("true");
        service.environment_file = Some(file.clone());
        let failure = prepare(&service, &ctx(&[])).expect_err("bad line");
        assert_eq!(
            failure.to_string(),
            format!(
                "prepare environment-file {}: line 2: expected NAME=value",
                file.display()
            )
        );
        service.environment_file = Some(dir.path().join("missing"));
        let failure = prepare(&service, &ctx(&[])).expect_err("missing");
        assert_eq!(failure.errno, libc::ENOENT);
        assert!(
            failure
                .to_string()
                .ends_with("missing: No such file or directory")
        );
    }

    #[test]
    fn an_environment_file_must_be_a_regular_file_not_a_link() {
        let dir = TempDir::new();
        let real = dir.path().join("real");
        std::fs::write(&real, "A=1\n").expect("write");
        let link = dir.path().join("link");
        std::os::unix::fs::symlink(&real, &link).expect("symlink");
        let fifo = dir.path().join("fifo");
        nix::unistd::mkfifo(&fifo, nix::sys::stat::Mode::from_bits_truncate(0o600))
            .expect("mkfifo");
        let mut service = shell("true");
        for (path, words) in [
            (link, "is a symbolic link (not followed)"),
            (fifo, "is a fifo, not a regular file"),
            (
                PathBuf::from("/dev/zero"),
                "is a character device, not a regular file",
            ),
        ] {
            service.environment_file = Some(path.clone());
            let failure = prepare(&service, &ctx(&[])).expect_err("refused");
            assert_eq!(
                failure.to_string(),
                format!("prepare environment-file {}: {words}", path.display())
            );
        }
    }

    #[test]
    fn set_env_replaces_or_adds() {
        let mut plan = prepare(&shell("true"), &ctx(&[("NOTIFY_SOCKETX", "1")])).expect("plan");
        plan.set_env("NOTIFY_SOCKET", OsStr::new("/run/a"))
            .expect("set");
        plan.set_env("NOTIFY_SOCKET", OsStr::new("/run/b"))
            .expect("set");
        assert_eq!(env_of(&plan), ["NOTIFY_SOCKETX=1", "NOTIFY_SOCKET=/run/b"]);
        assert!(plan.set_env("A=B", OsStr::new("x")).is_err());
    }

    #[test]
    fn nul_bytes_are_prepare_failures() {
        let cases: [(ServiceConfig, &str); 5] = [
            (
                exec(&["/bin/echo", "a\0b"]),
                "prepare argument 1: contains a NUL byte",
            ),
            (shell("a\0"), "prepare shell script: contains a NUL byte"),
            (
                ServiceConfig {
                    environment: vec![("X".into(), "a\0".into())],
                    ..shell("true")
                },
                "prepare environment X: contains a NUL byte",
            ),
            (
                ServiceConfig {
                    environment: vec![("X=Y".into(), "a".into())],
                    ..shell("true")
                },
                "prepare environment X=Y: invalid variable name",
            ),
            (
                ServiceConfig {
                    directory: Some(PathBuf::from("/a\0b")),
                    ..shell("true")
                },
                "prepare directory /a\0b: contains a NUL byte",
            ),
        ];
        for (service, message) in cases {
            let failure = prepare(&service, &ctx(&[])).expect_err(message);
            assert_eq!(failure.to_string(), message);
        }
    }

    #[test]
    fn unknown_user_and_group_read_well() {
        let mut service = shell("true");
        service.user = Some(IdRef::Name("nobodyx".into()));
        let failure = prepare(&service, &ctx(&[])).expect_err("unknown user");
        assert_eq!(failure.stage, SpawnStage::Prepare);
        assert_eq!(failure.to_string(), "prepare user nobodyx: no such user");

        service.user = None;
        service.groups = Some(vec![IdRef::Id(5), IdRef::Name("nogroupx".into())]);
        let failure = prepare(&service, &ctx(&[])).expect_err("unknown group");
        assert_eq!(failure.to_string(), "prepare group nogroupx: no such group");
    }

    #[test]
    fn user_brings_its_groups_and_environment() {
        let mut service = shell("true");
        service.user = Some(IdRef::Name("alice".into()));
        let plan = prepare(&service, &ctx(&[])).expect("plan");
        assert_eq!((plan.uid(), plan.gid()), (Some(1000), Some(1000)));
        assert_eq!(plan.groups(), Some(&[1000, 10, 29][..]));
        assert_eq!(plan.env_var("HOME"), Some(&b"/home/alice"[..]));

        service.user = Some(IdRef::Id(1001));
        let plan = prepare(&service, &ctx(&[])).expect("plan");
        assert_eq!(plan.groups(), Some(&[1001][..]));
        assert_eq!(plan.env_var("HOME"), Some(&b"/"[..]), "empty home");
        assert_eq!(plan.env_var("SHELL"), Some(&b"/bin/sh"[..]), "empty shell");
        assert_eq!(plan.env_var("USER"), Some(&b"bare"[..]));
    }

    #[test]
    fn explicit_group_and_groups() {
        let mut service = shell("true");
        service.user = Some(IdRef::Name("alice".into()));
        service.group = Some(IdRef::Name("wheel".into()));
        let plan = prepare(&service, &ctx(&[])).expect("plan");
        assert_eq!((plan.uid(), plan.gid()), (Some(1000), Some(10)));
        assert_eq!(
            plan.groups(),
            Some(&[10, 29][..]),
            "initgroups(alice, wheel)"
        );
        assert_eq!(plan.group_label, "wheel");

        service.groups = Some(vec![IdRef::Id(7), IdRef::Name("audio".into())]);
        let plan = prepare(&service, &ctx(&[])).expect("plan");
        assert_eq!(plan.groups(), Some(&[7, 29][..]), "exactly those");

        service.groups = Some(Vec::new());
        let plan = prepare(&service, &ctx(&[])).expect("plan");
        assert_eq!(plan.groups(), Some(&[][..]));
    }

    #[test]
    fn group_alone_sets_only_the_group() {
        let mut service = shell("true");
        service.group = Some(IdRef::Name("29".into()));
        let plan = prepare(&service, &ctx(&[])).expect("plan");
        assert_eq!((plan.uid(), plan.gid()), (None, Some(29)));
        assert_eq!(plan.groups(), Some(&[29][..]));
        assert_eq!(plan.env_var("USER"), None);
    }

    #[test]
    fn uid_without_passwd_entry() {
        let mut service = shell("true");
        for id in [IdRef::Id(4242), IdRef::Name("4242".into())] {
            service.user = Some(id);
            let plan = prepare(&service, &ctx(&[])).expect("plan");
            assert_eq!((plan.uid(), plan.gid()), (Some(4242), Some(4242)));
            assert_eq!(plan.groups(), Some(&[4242][..]));
            assert_eq!(plan.env_var("USER"), Some(&b"4242"[..]));
            assert_eq!(plan.env_var("HOME"), Some(&b"/"[..]));
            assert_eq!(plan.user_label, "4242");
        }
    }

    #[test]
    fn unprivileged_does_not_set_derived_groups() {
        let mut ctx = ctx(&[]);
        ctx.euid = 1000;
        let mut service = shell("true");
        service.user = Some(IdRef::Name("alice".into()));
        let plan = prepare(&service, &ctx).expect("plan");
        assert_eq!(
            (plan.uid(), plan.gid(), plan.groups()),
            (Some(1000), Some(1000), None)
        );
        service.groups = Some(vec![IdRef::Id(10)]);
        let plan = prepare(&service, &ctx).expect("plan");
        assert_eq!(plan.groups(), Some(&[10][..]));
    }

    #[test]
    fn directory_defaults_from_the_context() {
        let mut service = shell("true");
        let plan = prepare(&service, &ctx(&[])).expect("plan");
        assert_eq!(plan.directory(), Some(c"/"));
        service.directory = Some(PathBuf::from("/srv"));
        let plan = prepare(&service, &ctx(&[])).expect("plan");
        assert_eq!(plan.directory(), Some(c"/srv"));
        let no_default = SpawnContext::new(Vec::new(), None, UserDb::default());
        let plan = prepare(&shell("true"), &no_default).expect("plan");
        assert_eq!(plan.directory(), None);
    }

    #[test]
    fn limits_umask_nice_tty() {
        let mut service = shell("true");
        service.limits = nofile_100_200_core_unlimited();
        service.umask = Some(0o1027);
        service.nice = Some(5);
        service.tty = Some(PathBuf::from("/dev/tty1"));
        let plan = prepare(&service, &ctx(&[])).expect("plan");
        assert_eq!(plan.limits[0].soft, 100);
        assert_eq!(plan.limits[0].hard, 200);
        assert_eq!(plan.limits[1].soft, libc::RLIM_INFINITY);
        assert_eq!(plan.umask, Some(0o027));
        assert_eq!(plan.nice, Some(5));
        assert_eq!(plan.tty(), Some(c"/dev/tty1"));
    }

    #[test]
    fn a_helper_runs_as_the_started_process_with_its_own_command_and_no_tty() {
        let mut service = exec(&["sleep", "1000"]);
        service.environment = vec![
            ("PATH".into(), "/nonexistent:/usr/bin".into()),
            ("MODE".into(), "prod".into()),
        ];
        service.umask = Some(0o077);
        service.tty = Some(PathBuf::from("/dev/tty1"));
        let mut started = prepare(&service, &ctx(&[])).expect("plan");
        started.set_own_pid_env("WATCHDOG_PID").expect("own pid");
        let helper = started
            .for_helper(&Command::Exec(vec!["sh".into(), "-c".into(), "x".into()]))
            .expect("helper plan");
        assert_eq!(
            helper.program(),
            c"/usr/bin/sh",
            "found in the service's PATH"
        );
        assert_eq!(helper.argv(), [c"sh", c"-c", c"x"]);
        assert_eq!(env_of(&helper), env_of(&started));
        assert_eq!(helper.umask, Some(0o077));
        assert_eq!(helper.tty(), None);
        assert_eq!(helper.own_pid_env, None);
        let missing = started.for_helper(&Command::Exec(vec!["no-such-program-x".into()]));
        assert_eq!(missing.expect_err("missing").stage, SpawnStage::Exec);
    }

    #[test]
    fn services_keep_the_open_files_limit_svinit_started_with() {
        let nofile = libc::RLIMIT_NOFILE as i32;
        let mut context = ctx(&[]);
        assert!(
            prepare(&shell("true"), &context)
                .expect("plan")
                .limits
                .is_empty()
        );
        context.set_inherited_nofile((1024, 4096));
        let plan = prepare(&shell("true"), &context).expect("plan");
        assert_eq!(
            plan.limits,
            [PreparedLimit {
                resource: nofile,
                soft: 1024,
                hard: 4096
            }]
        );
        // A service's own `limits nofile` wins.
        let mut service = shell("true");
        service.limits = nofile_100_200_core_unlimited();
        let plan = prepare(&service, &context).expect("plan");
        let nofiles: Vec<_> = plan
            .limits
            .iter()
            .filter(|l| l.resource == nofile)
            .collect();
        assert_eq!(nofiles.len(), 1);
        assert_eq!((nofiles[0].soft, nofiles[0].hard), (100, 200));
    }
}
