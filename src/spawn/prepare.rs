//! The pure half of spawning: a service's config → a [`SpawnPlan`] of
//! resolved ids, paths and `CString`s that the forked child only reads.

use std::ffi::{CStr, CString, OsStr, OsString};
use std::io::Read;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use super::envfile::{EnvVar, parse_environment_file};
use crate::config::{Command, IdRef, ServiceConfig};
use crate::supervisor::{SpawnFailure, SpawnStage};
use crate::untrusted::{PathProblem, Purpose, open_untrusted};
use crate::users::UserDb;

/// `PATH` of a service started with `clear-environment`, or whose
/// environment has no `PATH`, for the program lookup.
pub const DEFAULT_PATH: &str = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

/// An environment-file larger than this is refused: it is surely not one.
const MAX_ENVIRONMENT_FILE: u64 = 1 << 20;

/// What every spawn shares, built once: svinit's environment (already as
/// `NAME=value` C strings), the users database, the default directory.
#[derive(Debug, Clone)]
pub struct SpawnContext {
    inherited_env: Vec<EnvEntry>,
    default_directory: Option<PathBuf>,
    users: UserDb,
    euid: u32,
    /// The open-files limit svinit was started with, when it raised its own
    /// (see [`raise_own_nofile`]): what services get unless they set `nofile`.
    inherited_nofile: Option<(libc::rlim_t, libc::rlim_t)>,
}

impl SpawnContext {
    /// `default_directory`: where a service without `directory` starts;
    /// `None` leaves it in svinit's own directory.
    pub fn new(
        inherited_env: impl IntoIterator<Item = (OsString, OsString)>,
        default_directory: Option<PathBuf>,
        users: UserDb,
    ) -> SpawnContext {
        let mut env: Vec<EnvEntry> = Vec::new();
        for (name, value) in inherited_env {
            let (name, value) = (name.as_bytes(), value.as_bytes());
            if !is_env_name(name) || env.iter().any(|e| e.name() == name) {
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
    pub fn from_process(default_directory: Option<PathBuf>) -> SpawnContext {
        SpawnContext::new(std::env::vars_os(), default_directory, UserDb::load())
    }

    pub fn users(&self) -> &UserDb {
        &self.users
    }

    /// Replaces the users database (re-read on reload).
    pub fn set_users(&mut self, users: UserDb) {
        self.users = users;
    }

    pub fn default_directory(&self) -> Option<&Path> {
        self.default_directory.as_deref()
    }

    /// Services get this open-files limit (soft, hard) unless they set
    /// `limits nofile` themselves.
    pub fn set_inherited_nofile(&mut self, limit: (libc::rlim_t, libc::rlim_t)) {
        self.inherited_nofile = Some(limit);
    }
}

/// Raises svinit's own soft open-files limit to the hard one, as systemd
/// does: it keeps a pipe or two per service, and a soft limit of 1,024
/// would cap it at a few hundred services. Returns the limit it had, which
/// services keep (programs using `select()` break above 1,024), or `None`
/// when nothing changed. Raises once; later calls return the same answer.
pub fn raise_own_nofile() -> Option<(libc::rlim_t, libc::rlim_t)> {
    static ORIGINAL: std::sync::OnceLock<Option<(libc::rlim_t, libc::rlim_t)>> =
        std::sync::OnceLock::new();
    *ORIGINAL.get_or_init(raise_nofile_to_hard)
}

fn raise_nofile_to_hard() -> Option<(libc::rlim_t, libc::rlim_t)> {
    let mut limit = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: `limit` is a valid rlimit for getrlimit to fill in.
    if unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit) } != 0
        || limit.rlim_cur >= limit.rlim_max
    {
        return None;
    }
    let original = (limit.rlim_cur, limit.rlim_max);
    let raised = libc::rlimit {
        rlim_cur: limit.rlim_max,
        rlim_max: limit.rlim_max,
    };
    // SAFETY: `raised` is a valid rlimit.
    (unsafe { libc::setrlimit(libc::RLIMIT_NOFILE, &raised) } == 0).then_some(original)
}

/// One `NAME=value` environment string.
#[derive(Debug, Clone, PartialEq, Eq)]
struct EnvEntry {
    line: CString,
    name_len: usize,
}

impl EnvEntry {
    /// `None` when either part holds a NUL byte.
    fn new(name: &[u8], value: &[u8]) -> Option<EnvEntry> {
        let mut line = Vec::with_capacity(name.len() + value.len() + 2);
        line.extend_from_slice(name);
        line.push(b'=');
        line.extend_from_slice(value);
        Some(EnvEntry {
            line: CString::new(line).ok()?,
            name_len: name.len(),
        })
    }

    fn name(&self) -> &[u8] {
        &self.line.as_bytes()[..self.name_len]
    }

    fn value(&self) -> &[u8] {
        &self.line.as_bytes()[self.name_len + 1..]
    }
}

fn is_env_name(name: &[u8]) -> bool {
    !name.is_empty() && !name.contains(&b'=') && !name.contains(&0)
}

/// Everything the child needs to become the service, resolved and checked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SpawnPlan {
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
    /// The path given to `execve`.
    pub fn program(&self) -> &CStr {
        &self.program
    }

    pub fn argv(&self) -> &[CString] {
        &self.argv
    }

    /// `NAME=value` strings.
    pub fn env(&self) -> &[CString] {
        &self.env
    }

    pub fn env_var(&self, name: &str) -> Option<&[u8]> {
        self.env.iter().find_map(|line| {
            line.as_bytes()
                .strip_prefix(name.as_bytes())?
                .strip_prefix(b"=")
        })
    }

    /// Sets a variable the runtime adds itself (`NOTIFY_SOCKET`), replacing
    /// any value of the same name.
    pub fn set_env(&mut self, name: &str, value: &OsStr) -> Result<(), SpawnFailure> {
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
    pub fn set_own_pid_env(&mut self, name: &str) -> Result<(), SpawnFailure> {
        env_entry(name.as_bytes(), b"")?;
        self.env.retain(|line| !assigns(line, name));
        self.own_pid_env = Some(name.as_bytes().to_vec());
        Ok(())
    }

    pub fn directory(&self) -> Option<&CStr> {
        self.directory.as_deref()
    }

    pub fn uid(&self) -> Option<u32> {
        self.uid
    }

    pub fn gid(&self) -> Option<u32> {
        self.gid
    }

    /// The supplementary groups to set, when they are set.
    pub fn groups(&self) -> Option<&[u32]> {
        self.groups.as_deref()
    }

    pub fn tty(&self) -> Option<&CStr> {
        self.tty.as_deref()
    }

    /// For the main command (`svinit -- COMMAND`, like tini): instead of a
    /// session of its own, a process group of its own in svinit's session,
    /// made the foreground group of the terminal on its stdin when that is
    /// svinit's controlling terminal. Not with `tty`, which needs a session.
    pub fn set_foreground(&mut self) {
        self.foreground = true;
    }
}

/// Builds the plan for one start of `service`.
pub fn prepare(service: &ServiceConfig, ctx: &SpawnContext) -> Result<SpawnPlan, SpawnFailure> {
    let ids = resolve_ids(service, ctx)?;

    let mut env = EnvBuilder::new(if service.clear_environment {
        &[]
    } else {
        &ctx.inherited_env
    });
    if service.clear_environment {
        env.set(b"PATH", DEFAULT_PATH.as_bytes())?;
    }
    if let Some(user) = &ids.user_env {
        env.set(b"HOME", user.home.as_bytes())?;
        env.set(b"USER", user.name.as_bytes())?;
        env.set(b"LOGNAME", user.name.as_bytes())?;
        env.set(b"SHELL", user.shell.as_bytes())?;
    }
    if let Some(path) = &service.environment_file {
        for (name, value) in read_environment_file(path)? {
            env.set(&name, &value)?;
        }
    }
    for (name, value) in &service.environment {
        env.set(name.as_bytes(), value.as_bytes())?;
    }

    let (program, argv) = match &service.command {
        Command::Exec(args) => {
            let Some(name) = args.first() else {
                return Err(prepare_failure("exec", "empty command"));
            };
            let argv = args
                .iter()
                .enumerate()
                .map(|(i, arg)| c_string(arg.as_bytes(), || format!("argument {i}")))
                .collect::<Result<Vec<_>, _>>()?;
            let path = env.get(b"PATH").unwrap_or(DEFAULT_PATH.as_bytes());
            (find_program(name, path)?, argv)
        }
        Command::Shell(script) => {
            let sh = CString::from(c"/bin/sh");
            let script = c_string(script.as_bytes(), || "shell script".to_string())?;
            (sh.clone(), vec![sh, CString::from(c"-c"), script])
        }
    };

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

fn prepare_failure(detail: impl Into<String>, message: impl Into<String>) -> SpawnFailure {
    SpawnFailure {
        stage: SpawnStage::Prepare,
        detail: detail.into(),
        errno: 0,
        message: Some(message.into()),
    }
}

/// Whether the `NAME=value` string `line` gives `name`.
fn assigns(line: &CString, name: &str) -> bool {
    line.as_bytes()
        .strip_prefix(name.as_bytes())
        .is_some_and(|rest| rest.starts_with(b"="))
}

fn c_string(bytes: &[u8], what: impl FnOnce() -> String) -> Result<CString, SpawnFailure> {
    CString::new(bytes).map_err(|_| prepare_failure(what(), "contains a NUL byte"))
}

fn env_entry(name: &[u8], value: &[u8]) -> Result<EnvEntry, SpawnFailure> {
    let what = || format!("environment {}", String::from_utf8_lossy(name));
    if !is_env_name(name) {
        return Err(prepare_failure(what(), "invalid variable name"));
    }
    EnvEntry::new(name, value).ok_or_else(|| prepare_failure(what(), "contains a NUL byte"))
}

/// The inherited environment plus overrides, without copying the inherited
/// part until the end.
struct EnvBuilder<'c> {
    base: &'c [EnvEntry],
    overrides: Vec<EnvEntry>,
}

impl<'c> EnvBuilder<'c> {
    fn new(base: &'c [EnvEntry]) -> Self {
        EnvBuilder {
            base,
            overrides: Vec::new(),
        }
    }

    fn set(&mut self, name: &[u8], value: &[u8]) -> Result<(), SpawnFailure> {
        let entry = env_entry(name, value)?;
        match self.overrides.iter_mut().find(|e| e.name() == name) {
            Some(slot) => *slot = entry,
            None => self.overrides.push(entry),
        }
        Ok(())
    }

    fn get(&self, name: &[u8]) -> Option<&[u8]> {
        self.overrides
            .iter()
            .chain(self.base)
            .find(|e| e.name() == name)
            .map(EnvEntry::value)
    }

    /// Inherited variables keep their place, with overridden values; new
    /// ones follow in the order they were first set.
    fn finish(self) -> Vec<CString> {
        let mut overrides: Vec<Option<EnvEntry>> = self.overrides.into_iter().map(Some).collect();
        let mut env = Vec::with_capacity(self.base.len() + overrides.len());
        for entry in self.base {
            let replacement = overrides
                .iter_mut()
                .find(|o| o.as_ref().is_some_and(|o| o.name() == entry.name()))
                .and_then(Option::take);
            env.push(replacement.unwrap_or_else(|| entry.clone()).line);
        }
        env.extend(overrides.into_iter().flatten().map(|e| e.line));
        env
    }
}

/// Reads and parses a service's `environment-file` as each start does
/// (also `--check`, to warn before the start fails).
pub fn read_environment_file(path: &Path) -> Result<Vec<EnvVar>, SpawnFailure> {
    let detail = || format!("environment-file {}", path.display());
    let errno_failure = |errno: i32| SpawnFailure {
        stage: SpawnStage::Prepare,
        detail: detail(),
        errno,
        message: None,
    };
    // A fifo or a device would block the read or never end; a symlink
    // could point anywhere root can read.
    let opened = open_untrusted(path, Purpose::Read).map_err(|problem| match problem {
        PathProblem::Open(errno) => errno_failure(errno),
        problem => prepare_failure(detail(), problem.to_string()),
    })?;
    let mut text = Vec::new();
    opened
        .file
        .take(MAX_ENVIRONMENT_FILE + 1)
        .read_to_end(&mut text)
        .map_err(|error| errno_failure(error.raw_os_error().unwrap_or(libc::EIO)))?;
    if text.len() as u64 > MAX_ENVIRONMENT_FILE {
        return Err(prepare_failure(detail(), "larger than 1 MiB"));
    }
    parse_environment_file(&text).map_err(|error| prepare_failure(detail(), error.to_string()))
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

/// The credentials part of a plan.
struct Ids {
    uid: Option<u32>,
    gid: Option<u32>,
    groups: Option<Vec<u32>>,
    user_label: String,
    group_label: String,
    user_env: Option<UserEnv>,
}

/// `HOME`, `USER`/`LOGNAME`, `SHELL` for a configured user.
struct UserEnv {
    home: String,
    name: String,
    shell: String,
}

fn resolve_ids(service: &ServiceConfig, ctx: &SpawnContext) -> Result<Ids, SpawnFailure> {
    let db = &ctx.users;
    let user = match &service.user {
        None => None,
        Some(id) => {
            let entry = match id {
                IdRef::Name(name) => db.user_by_name(name),
                IdRef::Id(uid) => db.user_by_uid(*uid),
            };
            Some(match (entry, numeric(id)) {
                (Some(entry), _) => (entry.uid, entry.gid, Some(entry)),
                (None, Some(uid)) => (uid, uid, None),
                (None, None) => return Err(prepare_failure(label("user", id), "no such user")),
            })
        }
    };
    let resolve_group = |id: &IdRef| match id {
        IdRef::Name(name) => db
            .group_by_name(name)
            .map(|g| g.gid)
            .or_else(|| numeric(id))
            .ok_or_else(|| prepare_failure(label("group", id), "no such group")),
        IdRef::Id(gid) => Ok(*gid),
    };
    let group = service.group.as_ref().map(resolve_group).transpose()?;
    let explicit_groups = match &service.groups {
        Some(ids) => Some(
            ids.iter()
                .map(resolve_group)
                .collect::<Result<Vec<_>, _>>()?,
        ),
        None => None,
    };

    let gid = group.or(user.map(|(_, gid, _)| gid));
    let groups = match (explicit_groups, user, gid) {
        (Some(groups), _, _) => Some(groups),
        (None, _, _) if ctx.euid != 0 => None,
        (None, Some((_, _, Some(entry))), Some(gid)) => {
            Some(db.supplementary_gids(&entry.name, gid))
        }
        (None, _, Some(gid)) => Some(vec![gid]),
        (None, _, None) => None,
    };
    let user_label = match user {
        Some((_, _, Some(entry))) => entry.name.clone(),
        Some((uid, _, None)) => uid.to_string(),
        None => String::new(),
    };
    let group_label = gid.map_or_else(String::new, |gid| {
        db.group_by_gid(gid)
            .map_or_else(|| gid.to_string(), |g| g.name.clone())
    });
    let user_env = user.map(|(uid, _, entry)| match entry {
        Some(entry) => UserEnv {
            home: or_default(&entry.home, "/"),
            name: entry.name.clone(),
            shell: or_default(&entry.shell, "/bin/sh"),
        },
        None => UserEnv {
            home: "/".to_string(),
            name: uid.to_string(),
            shell: "/bin/sh".to_string(),
        },
    });
    Ok(Ids {
        uid: user.map(|(uid, _, _)| uid),
        gid,
        groups,
        user_label,
        group_label,
        user_env,
    })
}

fn numeric(id: &IdRef) -> Option<u32> {
    match id {
        IdRef::Id(id) => Some(*id),
        IdRef::Name(name) => name.parse().ok(),
    }
}

fn label(kind: &str, id: &IdRef) -> String {
    match id {
        IdRef::Name(name) => format!("{kind} {name}"),
        IdRef::Id(id) => format!("{kind} {id}"),
    }
}

fn or_default(value: &str, default: &str) -> String {
    if value.is_empty() { default } else { value }.to_string()
}

#[cfg(test)]
mod tests {
    use super::*;
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
