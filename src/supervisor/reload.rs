//! Changing what the supervisor supervises: a reload's new config (added,
//! removed and changed services), the services' links rebuilt, a removed
//! service forgotten once stopped (`Action::Forget`), and the emergency
//! shell, a built-in unit added the way a reload adds one.
//!
//! Decisions where SPEC.md is silent:
//! - Reload: a changed service without a process takes its new config at
//!   once; with one, at its next spawn (`config_changed` until then). A
//!   wanted changed service gets its new requires/wants activated; a change
//!   of `autostart` alone starts or stops nothing. Removed services stop in
//!   their old order among themselves; one re-added before it is forgotten
//!   keeps its id. A reload during shutdown is ignored (empty summary).
//! - The emergency shell (system role: an invalid config at boot, a
//!   `critical` service's end) is added once, after the config's services;
//!   the next reload, whose config does not have it, removes it.

use std::collections::HashSet;
use std::time::Instant;

use crate::config::{Config, ServiceConfig};

use super::deps::links_from_graph;
use super::service::Service;
use super::{Action, Notice, ReloadSummary, ServiceId, Supervisor, TimerOwner, Want};
use crate::graph::Graph;

impl Supervisor {
    /// Apply a new config: new services are added (and started if
    /// autostart), removed ones stopped and then forgotten, changed ones get
    /// their new config at their next spawn (at once if they have no
    /// process). Ignored while shutting down.
    pub(crate) fn reload(&mut self, now: Instant, loaded: Config) -> ReloadSummary {
        if self.shutdown.is_some() {
            return ReloadSummary::default();
        }
        let new = self.with_runtime_instances(&loaded);
        self.runtime_instances
            .retain(|name| loaded.service(name).is_none() && new.service(name).is_some());
        self.apply_config(now, new)
    }

    /// `reload`'s work, also for a run-time instance added or removed.
    pub(super) fn apply_config(&mut self, now: Instant, new: Config) -> ReloadSummary {
        let mut summary = ReloadSummary::default();
        let mut order = Vec::with_capacity(new.services.len());
        let mut roots = Vec::new();
        for config in &new.services {
            let known = self.id_of(&config.name);
            let Some(service) = known.and_then(|id| self.get_mut(id)) else {
                let id = self.add_service(config.clone(), now);
                summary.added.push(config.name.clone());
                if config.autostart {
                    roots.push(id);
                }
                order.push(id);
                continue;
            };
            let id = service.id();
            let first_try = service.in_first_try();
            if service.is_removed() {
                service.set_removed(false);
                summary.added.push(config.name.clone());
                if config.autostart {
                    roots.push(id);
                }
            } else if service.latest_config() != config {
                summary.changed.push(config.name.clone());
                if service.want() == Want::Up {
                    roots.push(id);
                }
            }
            service.reconfigure(config);
            let still = service.in_first_try();
            self.count_first_try(first_try, still);
            order.push(id);
        }

        let kept: HashSet<ServiceId> = order.iter().copied().collect();
        for id in std::mem::take(&mut self.order) {
            if kept.contains(&id) {
                continue;
            }
            let Some(service) = self.get_mut(id) else {
                continue;
            };
            if !service.is_removed() {
                let first_try = service.in_first_try();
                service.set_removed(true);
                summary.removed.push(service.name().to_string());
                self.count_first_try(first_try, false);
            }
            order.push(id);
        }
        self.order = order;
        self.config = new;
        self.relink();
        let removed: Vec<ServiceId> = self
            .order
            .iter()
            .copied()
            .filter(|&id| self.get(id).is_some_and(Service::is_removed))
            .collect();
        for id in removed {
            self.set_want(id, Want::Down);
        }
        self.activate(now, roots, false);
        for id in self.order.clone() {
            self.work.push(id);
        }
        self.drain(now);
        summary
    }

    pub(super) fn add_service(&mut self, config: ServiceConfig, now: Instant) -> ServiceId {
        let id = ServiceId(self.table.len());
        self.by_name.insert(config.name.clone(), id);
        self.table
            .push(Some(Box::new(Service::new(id, config, now))));
        id
    }

    /// Rebuild every service's links: the config's services among
    /// themselves, removed ones (still stopping) among themselves.
    pub(super) fn relink(&mut self) {
        self.graph = Graph::new(&self.config);
        let (removed, current): (Vec<ServiceId>, Vec<ServiceId>) = self
            .order
            .iter()
            .copied()
            .partition(|&id| self.get(id).is_some_and(Service::is_removed));
        let removed_graph = Graph::of_services(
            removed
                .iter()
                .filter_map(|&id| self.get(id).map(Service::latest_config)),
        );
        let groups = [
            (links_from_graph(&self.graph, &current), current),
            (links_from_graph(&removed_graph, &removed), removed),
        ];
        for (links, group) in groups {
            for (id, links) in group.into_iter().zip(links) {
                if let Some(service) = self.get_mut(id) {
                    service.relink(links);
                }
            }
        }
        for id in self.order.clone() {
            let Some(service) = self.get(id) else {
                continue;
            };
            let required_down = service
                .links()
                .requires
                .iter()
                .filter(|&&dep| self.get(dep).is_none_or(|d| d.want() == Want::Down))
                .count();
            if let Some(service) = self.get_mut(id) {
                service.set_required_down(required_down);
            }
        }
    }

    /// Drop a removed service that has stopped.
    pub(super) fn forget(&mut self, id: ServiceId) {
        let Some(service) = self.table.get_mut(id.0).and_then(Option::take) else {
            return;
        };
        self.count_first_try(service.in_first_try(), false);
        if self.by_name.get(service.name()) == Some(&id) {
            self.by_name.remove(service.name());
        }
        self.deadlines
            .change(TimerOwner::Service(id), service.state().deadline(), None);
        for neighbour in service.links().neighbours() {
            self.work.push(neighbour);
        }
        self.actions.push_back(Action::Forget { service: id });
    }

    /// Add the emergency shell and want it up, beside whatever runs; once
    /// (it stays until a reload, whose config does not have it, removes
    /// it).
    pub(super) fn start_emergency_shell(&mut self, now: Instant, at_boot: bool) {
        let Some(unit) = self.emergency_shell.clone() else {
            self.notice(Notice::NoEmergencyShell { at_boot });
            return;
        };
        if self.id_of(&unit.name).is_some() {
            return;
        }
        let tty = unit.tty.as_deref().unwrap_or(std::path::Path::new(""));
        self.notice(Notice::EmergencyShell {
            tty: tty.display().to_string(),
            at_boot,
        });
        let id = self.add_service(unit.clone(), now);
        // Where a reload adding it would put it: after the config's services.
        let at = self
            .order
            .iter()
            .position(|&other| self.get(other).is_some_and(Service::is_removed))
            .unwrap_or(self.order.len());
        self.order.insert(at, id);
        self.config.services.push(unit);
        self.relink();
        self.activate(now, vec![id], false);
    }
}
