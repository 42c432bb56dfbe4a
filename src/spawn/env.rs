//! The environment of a service's process: svinit's own environment
//! sanitised once, the layers a service adds on top of it (SPEC.md §3 and
//! the decisions in `spawn`), built without copying the inherited part
//! until the end, and the environment-file, read as a path the service's
//! user may control.

use std::ffi::CString;
use std::io::Read;
use std::path::Path;

use super::credentials::UserEnv;
use super::envfile::{EnvVar, parse_environment_file};
use super::prepare::prepare_failure;
use crate::config::ServiceConfig;
use crate::supervisor::{SpawnFailure, SpawnStage};
use crate::untrusted::{PathProblem, Purpose, open_untrusted};

/// `PATH` of a service started with `clear-environment`, or whose
/// environment has no `PATH`, for the program lookup.
pub(crate) const DEFAULT_PATH: &str =
    "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

/// An environment-file larger than this is refused: it is surely not one.
const MAX_ENVIRONMENT_FILE: u64 = 1 << 20;

/// A service's environment, lowest to highest precedence: `inherited` (or
/// only `PATH=`[`DEFAULT_PATH`] with `clear-environment`), the variables of
/// its user, its environment-file (read now), its `environment`.
pub(super) fn service_environment<'c>(
    service: &ServiceConfig,
    inherited: &'c [EnvEntry],
    user: Option<&UserEnv>,
) -> Result<EnvBuilder<'c>, SpawnFailure> {
    let mut env = EnvBuilder::new(if service.clear_environment {
        &[]
    } else {
        inherited
    });
    if service.clear_environment {
        env.set(b"PATH", DEFAULT_PATH.as_bytes())?;
    }
    if let Some(user) = user {
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
    Ok(env)
}

/// One `NAME=value` environment string.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct EnvEntry {
    pub(super) line: CString,
    name_len: usize,
}

impl EnvEntry {
    /// `None` when either part holds a NUL byte.
    pub(super) fn new(name: &[u8], value: &[u8]) -> Option<EnvEntry> {
        let mut line = Vec::with_capacity(name.len() + value.len() + 2);
        line.extend_from_slice(name);
        line.push(b'=');
        line.extend_from_slice(value);
        Some(EnvEntry {
            line: CString::new(line).ok()?,
            name_len: name.len(),
        })
    }

    pub(super) fn name(&self) -> &[u8] {
        &self.line.as_bytes()[..self.name_len]
    }

    fn value(&self) -> &[u8] {
        &self.line.as_bytes()[self.name_len + 1..]
    }
}

pub(super) fn is_env_name(name: &[u8]) -> bool {
    !name.is_empty() && !name.contains(&b'=') && !name.contains(&0)
}

/// Whether the `NAME=value` string `line` gives `name`.
pub(super) fn assigns(line: &CString, name: &str) -> bool {
    line.as_bytes()
        .strip_prefix(name.as_bytes())
        .is_some_and(|rest| rest.starts_with(b"="))
}

pub(super) fn env_entry(name: &[u8], value: &[u8]) -> Result<EnvEntry, SpawnFailure> {
    let what = || format!("environment {}", String::from_utf8_lossy(name));
    if !is_env_name(name) {
        return Err(prepare_failure(what(), "invalid variable name"));
    }
    EnvEntry::new(name, value).ok_or_else(|| prepare_failure(what(), "contains a NUL byte"))
}

/// The inherited environment plus overrides, without copying the inherited
/// part until the end.
pub(super) struct EnvBuilder<'c> {
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

    pub(super) fn get(&self, name: &[u8]) -> Option<&[u8]> {
        self.overrides
            .iter()
            .chain(self.base)
            .find(|e| e.name() == name)
            .map(EnvEntry::value)
    }

    /// Inherited variables keep their place, with overridden values; new
    /// ones follow in the order they were first set.
    pub(super) fn finish(self) -> Vec<CString> {
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
pub(crate) fn read_environment_file(path: &Path) -> Result<Vec<EnvVar>, SpawnFailure> {
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
