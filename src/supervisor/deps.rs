//! The supervisor's view of the dependency graph: for every service, by id,
//! whom it starts after (and must stop before) and who starts after it.
//! Names are resolved once, by `graph`; this only puts service ids on its
//! edges. Linear in the number of services and edges, so that every start
//! and stop decision reads only a service's own neighbours.

use crate::graph::{DependencyKind, Graph};

use super::ServiceId;

/// One edge of the start order, seen from one end.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Edge {
    pub(crate) id: ServiceId,
    /// A `requires` edge: the later service cannot run without the earlier.
    pub(crate) required: bool,
}

/// A service's neighbours in the start order.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct Links {
    /// `requires`: activated with this one, must be ready before it starts.
    pub(crate) requires: Vec<ServiceId>,
    /// `wants`: activated with this one, failure tolerated.
    pub(crate) wants: Vec<ServiceId>,
    /// What this one starts after and stops before: its requires, wants,
    /// after, and every service that names it in `before`. One edge per
    /// service; `required` when one of them is a `requires`.
    pub(crate) after: Vec<Edge>,
    /// The reverse of `after`: who starts after this one and stops before it;
    /// `required` when that one requires this one.
    pub(crate) before: Vec<Edge>,
}

impl Links {
    /// Every service whose decisions may change when this one changes.
    pub(crate) fn neighbours(&self) -> impl Iterator<Item = ServiceId> + '_ {
        self.after.iter().chain(&self.before).map(|edge| edge.id)
    }
}

/// The links of the services of `graph`, whose ids are `ids` (by index
/// in the graph).
pub(crate) fn links_from_graph(graph: &Graph, ids: &[ServiceId]) -> Vec<Links> {
    let id_of = |index: usize| ids.get(index).copied();
    let ids_of = |indices: &[usize]| indices.iter().filter_map(|&i| id_of(i)).collect();
    let edge_to = |index: usize, kind: DependencyKind| {
        id_of(index).map(|id| Edge {
            id,
            required: kind == DependencyKind::Requires,
        })
    };
    (0..graph.len())
        .map(|service| {
            // By position, as `WaitingFor` lists them.
            let mut after: Vec<_> = graph.starts_after(service).to_vec();
            after.sort_unstable_by_key(|edge| edge.earlier);
            Links {
                requires: ids_of(graph.requires_of(service)),
                wants: ids_of(graph.wants_of(service)),
                after: after
                    .iter()
                    .filter_map(|edge| edge_to(edge.earlier, edge.kind))
                    .collect(),
                before: graph
                    .dependents_of(service)
                    .iter()
                    .filter_map(|edge| edge_to(edge.later, edge.kind))
                    .collect(),
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::{Command, ServiceConfig};

    fn service(name: &str, edit: impl FnOnce(&mut ServiceConfig)) -> ServiceConfig {
        let mut config = ServiceConfig::new(name, Command::Shell("true".into()));
        edit(&mut config);
        config
    }

    fn names(list: &[&str]) -> Vec<String> {
        list.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn edges_are_merged_and_mirrored() {
        let configs = [
            service("db", |c| c.before = names(&["web"])),
            service("web", |c| {
                c.requires = names(&["db"]);
                c.wants = names(&["cache", "db"]);
                c.after = names(&["web"]);
            }),
            service("cache", |_| {}),
        ];
        let ids: Vec<ServiceId> = (10..13).map(ServiceId).collect();
        let links = links_from_graph(&Graph::of_services(&configs), &ids);
        let (db, web, cache) = (ServiceId(10), ServiceId(11), ServiceId(12));

        assert_eq!(links[1].requires, vec![db]);
        assert_eq!(links[1].wants, vec![cache, db]);
        // `after` goes by position, whatever the order of the keys.
        assert_eq!(
            links[1].after,
            vec![
                Edge {
                    id: db,
                    required: true
                },
                Edge {
                    id: cache,
                    required: false
                },
            ]
        );
        assert_eq!(
            links[0].before,
            vec![Edge {
                id: web,
                required: true
            }]
        );
        assert_eq!(
            links[2].before,
            vec![Edge {
                id: web,
                required: false
            }]
        );
        assert!(links[0].after.is_empty() && links[2].after.is_empty());
    }

    #[test]
    fn unknown_names_are_ignored() {
        let configs = [service("a", |c| c.requires = names(&["ghost"]))];
        let links = links_from_graph(&Graph::of_services(&configs), &[ServiceId(0)]);
        assert_eq!(links[0], Links::default());
    }

    #[test]
    fn a_name_given_twice_is_one_link() {
        let configs = [
            service("a", |_| {}),
            service("b", |_| {}),
            service("c", |c| c.requires = names(&["a", "b", "a"])),
        ];
        let ids: Vec<ServiceId> = (0..3).map(ServiceId).collect();
        let links = links_from_graph(&Graph::of_services(&configs), &ids);
        assert_eq!(links[2].requires, vec![ServiceId(0), ServiceId(1)]);
        assert_eq!(links[2].after.len(), 2);
        assert_eq!(links[0].before.len(), 1);
    }
}
