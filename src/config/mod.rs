//! Unit files: KDL v2 documents → a validated `Config`, with miette
//! diagnostics that point at the exact span of every problem.
//!
//! - `model`: the typed config the rest of svinit reads.
//! - `load`: files and directories, top-level nodes, the overall flow.
//! - `shape`: node shapes (arguments, properties, blocks) and `Checker`.
//! - `parse`: service keys, one block into a `ServiceDraft`.
//! - `merge`: `defaults` into each service, per-service checks.
//! - `values`: durations, sizes, signals, umasks, ids, limits, suggestions.
//! - `template`: `service "NAME@"`: instance names, `%i`, instances made at load.
//! - `validate`: checks across services (names, dependencies, cycles).
//! - `diagnostic`: `Problem` and `ConfigError`, rendered by miette.
//! - `run`: the config svinit runs, at start-up and at reload (no config
//!   and a command: the command alone; `--detach -- COMMAND`'s service).
//! - `check`: `--check` (the plan, and warnings of what would fail at
//!   start-up on this machine), and the default config path.

mod check;
mod diagnostic;
mod load;
mod merge;
mod model;
mod parse;
mod probe;
mod run;
mod shape;
mod template;
mod validate;
mod values;

#[cfg(test)]
pub(crate) mod fuzz_tests;
#[cfg(test)]
mod template_tests;
#[cfg(test)]
mod tests;

pub use check::{check_command, default_config_path, home_dir, resolve_config_path, start_plan};
pub use diagnostic::{ConfigError, Problem, SourceFile, render_problems};
pub use load::{has_config, load_path, load_sources};
pub use model::*;
pub use run::{ConfigToRun, RunConfigError, config_to_run};
pub(crate) use template::{InstanceProblem, MAX_INSTANCES, add_instance};
