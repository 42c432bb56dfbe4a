//! The config svinit runs, decided alike at start-up and at each reload:
//! the config at the path, or none at all when there is a command to run
//! and no config there (SPEC §2: `svinit -- COMMAND` is a drop-in for
//! `tini --`); then the services of `svinit --detach -- COMMAND` added to
//! it.

use std::path::Path;

use super::diagnostic::ConfigError;
use super::load::{has_config, load_path};
use super::model::{Config, ServiceConfig};

/// What [`config_to_run`] found.
#[derive(Debug)]
pub struct ConfigToRun {
    pub config: Config,
    /// There is no config at the path (no such path, or a directory without
    /// a `*.kdl` file): the command runs alone.
    pub alone: bool,
}

/// Why there is no config to run.
#[derive(Debug)]
pub enum RunConfigError {
    /// The config at the path is invalid: its diagnostics.
    Invalid(ConfigError),
    /// A service of the command has the name of one of the config's.
    NameTaken(String),
}

/// The config to run from `path`, with `main_command` (`svinit -- COMMAND`)
/// and `extra_services` (`svinit --detach -- COMMAND`). With either and no
/// config at `path`, the command alone; otherwise the config must load.
pub fn config_to_run(
    path: &Path,
    main_command: Option<&[String]>,
    extra_services: &[ServiceConfig],
) -> Result<ConfigToRun, RunConfigError> {
    let has_command = main_command.is_some() || !extra_services.is_empty();
    let alone = has_command && !has_config(path);
    let mut config = if alone {
        Config::default()
    } else {
        load_path(path).map_err(RunConfigError::Invalid)?
    };
    crate::detach::add_services(&mut config, extra_services).map_err(RunConfigError::NameTaken)?;
    Ok(ConfigToRun { config, alone })
}
