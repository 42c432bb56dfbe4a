//! Instances of templates made at run time (`svctl start NAME@INSTANCE`,
//! SPEC §3 *Templates*): made from the config's template, with every
//! instance they name, as a reload would add them; kept across reloads
//! while their template is there; removed when `svctl stop` stops them.
//!
//! Decisions where SPEC.md is silent:
//! - A run-time instance that a service still names (another run-time
//!   instance requires it) is only stopped by `svctl stop`, not removed;
//!   it is removed when stopped once nothing names it.
//! - At a reload, a run-time instance whose template is gone, or that would
//!   name what is not a service or close a cycle, is removed; one the new
//!   config makes itself (its template's `instances`) is the config's.
//! - A run-time instance made while another one is being removed (still
//!   stopping) takes it back, as a reload re-adding a service does.

use std::collections::HashSet;
use std::time::Instant;

use crate::config::{self, Config, InstanceProblem};
use crate::graph::Graph;

use super::{Refusal, ServiceId, Supervisor};

impl Supervisor {
    /// The services `names` for `svctl start`: existing ones, or, for
    /// `NAME@INSTANCE` of a template of the config, the instance made now
    /// (with every instance it names). All or nothing: the first name
    /// refused (with why) makes none, and a request makes at most
    /// `MAX_INSTANCES` instances in all. Not while shutting down. A name
    /// given twice is one service.
    pub(crate) fn services_to_start(
        &mut self,
        now: Instant,
        names: &[String],
    ) -> Result<Vec<ServiceId>, (String, Refusal)> {
        let mut config = self.config.clone();
        let mut made: Vec<(&String, Vec<String>)> = Vec::new();
        let mut made_count = 0;
        for name in names {
            let exists = self
                .id_of(name)
                .and_then(|id| self.get(id))
                .is_some_and(|service| !service.is_removed());
            if exists || config.service(name).is_some() {
                continue;
            }
            let refused = |refusal| (name.clone(), refusal);
            let instances = config::add_instance(&mut config, name).map_err(|problem| {
                refused(match problem {
                    InstanceProblem::NoTemplate => Refusal::NoSuchService,
                    InstanceProblem::BadName(reason) => Refusal::BadInstanceName(reason),
                    InstanceProblem::Unresolved(why) => Refusal::InstanceUnusable(why),
                })
            })?;
            self.may_start().map_err(refused)?;
            made_count += instances.len();
            if made_count > config::MAX_INSTANCES {
                let why = format!(
                    "the request would make more than {} instances",
                    config::MAX_INSTANCES
                );
                return Err(refused(Refusal::InstanceUnusable(why)));
            }
            made.push((name, instances));
        }
        if made.is_empty() {
            return self.ids_of(names);
        }
        // One graph for the whole request: a name closing a cycle is found
        // among its members only when there is one.
        let graph = Graph::new(&config);
        let in_cycles: HashSet<&str> = graph
            .cycles()
            .iter()
            .flatten()
            .filter_map(|edge| config.services.get(edge.later))
            .map(|service| service.name.as_str())
            .collect();
        if !in_cycles.is_empty() {
            let culprit = made
                .iter()
                .find(|(_, instances)| instances.iter().any(|i| in_cycles.contains(i.as_str())))
                .or(made.last())
                .map(|(name, _)| name.to_string())
                .unwrap_or_default();
            let why = format!("`{culprit}` would close a dependency cycle");
            return Err((culprit, Refusal::InstanceUnusable(why)));
        }
        let made = made.into_iter().flat_map(|(_, instances)| instances);
        self.runtime_instances.extend(made);
        self.apply_config(now, config);
        self.ids_of(names)
    }

    /// The services `names`, each once, in order.
    fn ids_of(&self, names: &[String]) -> Result<Vec<ServiceId>, (String, Refusal)> {
        let mut ids = Vec::new();
        let mut seen = HashSet::new();
        for name in names {
            let id = self
                .id_of(name)
                .ok_or_else(|| (name.clone(), Refusal::NoSuchService))?;
            if seen.insert(id) {
                ids.push(id);
            }
        }
        Ok(ids)
    }

    /// `loaded` (a reload's config) with the run-time instances it can
    /// still make.
    pub(crate) fn with_runtime_instances(&self, loaded: &Config) -> Config {
        let mut config = loaded.clone();
        for name in &self.runtime_instances {
            let mut candidate = config.clone();
            if config::add_instance(&mut candidate, name).is_ok()
                && Graph::new(&candidate).cycles().is_empty()
            {
                config = candidate;
            }
        }
        config
    }

    /// `svctl stop` of a run-time instance that no other service names:
    /// removed from the config, so it stops and is then forgotten. False
    /// (nothing done) for any other service.
    pub(super) fn remove_runtime_instance(&mut self, now: Instant, id: ServiceId) -> bool {
        let Some(name) = self.name_of(id) else {
            return false;
        };
        let named_elsewhere = self
            .config
            .services
            .iter()
            .any(|service| service.dependency_names().any(|named| *named == name));
        let removable = self.runtime_instances.contains(&name) && self.shutdown.is_none();
        if named_elsewhere || !removable {
            return false;
        }
        self.runtime_instances.retain(|made| *made != name);
        let mut config = self.config.clone();
        config.services.retain(|service| service.name != name);
        self.apply_config(now, config);
        true
    }
}
