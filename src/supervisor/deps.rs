//! The dependency index: for every service, by id, whom it starts after (and
//! must stop before) and who starts after it. Built once per config, in time
//! linear in the number of services and edges, so that every start and stop
//! decision reads only a service's own neighbours.

use std::collections::HashMap;

use crate::config::ServiceConfig;

use super::ServiceId;

/// One edge of the start order, seen from one end.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Edge {
    pub id: ServiceId,
    /// A `requires` edge: the later service cannot run without the earlier.
    pub required: bool,
}

/// A service's neighbours in the start order.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Links {
    /// `requires`: activated with this one, must be ready before it starts.
    pub requires: Vec<ServiceId>,
    /// `wants`: activated with this one, failure tolerated.
    pub wants: Vec<ServiceId>,
    /// What this one starts after and stops before: its requires, wants,
    /// after, and every service that names it in `before`. One edge per
    /// service; `required` when one of them is a `requires`.
    pub after: Vec<Edge>,
    /// The reverse of `after`: who starts after this one and stops before it;
    /// `required` when that one requires this one.
    pub before: Vec<Edge>,
}

impl Links {
    /// Every service whose decisions may change when this one changes.
    pub fn neighbours(&self) -> impl Iterator<Item = ServiceId> + '_ {
        self.after.iter().chain(&self.before).map(|edge| edge.id)
    }
}

/// The links of `members` among themselves, in the order given. Names that
/// are not members (a validated config has none) and self-references are
/// ignored.
pub fn build_links(members: &[(ServiceId, &ServiceConfig)]) -> Vec<Links> {
    let position: HashMap<&str, usize> = members
        .iter()
        .enumerate()
        .map(|(i, (_, config))| (config.name.as_str(), i))
        .collect();
    let resolve = |names: &[String]| -> Vec<usize> {
        names
            .iter()
            .filter_map(|name| position.get(name.as_str()).copied())
            .collect()
    };

    // after[i]: (position, required) of what i starts after, duplicates allowed.
    let mut after: Vec<Vec<(usize, bool)>> = vec![Vec::new(); members.len()];
    let mut links: Vec<Links> = Vec::with_capacity(members.len());
    for (i, (_, config)) in members.iter().enumerate() {
        let requires = resolve(&config.requires);
        let wants = resolve(&config.wants);
        after[i].extend(requires.iter().map(|&j| (j, true)));
        after[i].extend(wants.iter().map(|&j| (j, false)));
        after[i].extend(resolve(&config.after).into_iter().map(|j| (j, false)));
        for j in resolve(&config.before) {
            after[j].push((i, false));
        }
        let id_of = |positions: Vec<usize>| -> Vec<ServiceId> {
            let mut ids: Vec<ServiceId> = positions
                .into_iter()
                .filter(|&j| j != i)
                .map(|j| members[j].0)
                .collect();
            ids.dedup();
            ids
        };
        links.push(Links {
            requires: id_of(requires),
            wants: id_of(wants),
            after: Vec::new(),
            before: Vec::new(),
        });
    }

    for (i, mut edges) in after.into_iter().enumerate() {
        // One edge per neighbour, `required` winning: sort puts `true` last.
        edges.sort_unstable();
        edges.dedup_by(|later, earlier| {
            if later.0 == earlier.0 {
                earlier.1 |= later.1;
                true
            } else {
                false
            }
        });
        for (j, required) in edges {
            if j == i {
                continue;
            }
            links[i].after.push(Edge {
                id: members[j].0,
                required,
            });
            links[j].before.push(Edge {
                id: members[i].0,
                required,
            });
        }
    }
    links
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Command;

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
                c.wants = names(&["db", "cache"]);
                c.after = names(&["web"]);
            }),
            service("cache", |_| {}),
        ];
        let members: Vec<(ServiceId, &ServiceConfig)> = configs
            .iter()
            .enumerate()
            .map(|(i, c)| (ServiceId(10 + i), c))
            .collect();
        let links = build_links(&members);
        let (db, web, cache) = (ServiceId(10), ServiceId(11), ServiceId(12));

        assert_eq!(links[1].requires, vec![db]);
        assert_eq!(links[1].wants, vec![db, cache]);
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
        let links = build_links(&[(ServiceId(0), &configs[0])]);
        assert_eq!(links[0], Links::default());
    }
}
