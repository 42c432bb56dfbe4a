//! The dependency graph of a `Config`, on service indices (positions in
//! `Config::services`): which services each one starts after (its
//! `requires`, `wants`, `after`, and every other service's `before` naming
//! it), the reverse lookups the supervisor needs for stop order and failure
//! propagation, the start levels printed by `--check`, and cycle finding
//! for the validator. Everything is O(V + E).
//!
//! Names that match no service and edges from a service to itself are left
//! out: the validator reports them separately.

use std::collections::{HashMap, VecDeque};

use crate::config::Config;

/// Which key declared an ordering edge.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum DependencyKind {
    Requires,
    Wants,
    After,
    Before,
}

impl DependencyKind {
    /// The unit-file key.
    pub fn key(self) -> &'static str {
        match self {
            DependencyKind::Requires => "requires",
            DependencyKind::Wants => "wants",
            DependencyKind::After => "after",
            DependencyKind::Before => "before",
        }
    }
}

/// `later` starts after `earlier` because of `kind`.
///
/// For `requires`, `wants` and `after` the edge is declared in `later`'s
/// block, naming `earlier`; for `before` it is declared in `earlier`'s
/// block, naming `later`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Edge {
    pub later: usize,
    pub earlier: usize,
    pub kind: DependencyKind,
}

impl Edge {
    /// The service whose block declares this edge.
    pub fn declared_in(&self) -> usize {
        match self.kind {
            DependencyKind::Before => self.earlier,
            _ => self.later,
        }
    }

    /// The service named by the declaration.
    pub fn names(&self) -> usize {
        match self.kind {
            DependencyKind::Before => self.later,
            _ => self.earlier,
        }
    }
}

#[derive(Debug, Clone, Default)]
pub struct Graph {
    names: Vec<String>,
    index: HashMap<String, usize>,
    /// For each service, the services it starts after (no duplicates,
    /// declaration order), and the kind of the first edge to each.
    starts_after: Vec<Vec<usize>>,
    starts_after_kind: Vec<Vec<DependencyKind>>,
    /// Reverse of `starts_after`: the services that start after this one
    /// (and so must stop before it).
    dependents: Vec<Vec<usize>>,
    requires: Vec<Vec<usize>>,
    wants: Vec<Vec<usize>>,
    requirers: Vec<Vec<usize>>,
    wanters: Vec<Vec<usize>>,
}

impl Graph {
    pub fn new(config: &Config) -> Graph {
        let count = config.services.len();
        let mut index = HashMap::with_capacity(count);
        for (position, service) in config.services.iter().enumerate() {
            index.entry(service.name.clone()).or_insert(position);
        }
        let lookup = |name: &String| index.get(name.as_str()).copied();

        let mut starts_after: Vec<Vec<(usize, DependencyKind)>> = vec![Vec::new(); count];
        let mut requires = vec![Vec::new(); count];
        let mut wants = vec![Vec::new(); count];
        for (later, service) in config.services.iter().enumerate() {
            let declared = [
                (DependencyKind::Requires, &service.requires),
                (DependencyKind::Wants, &service.wants),
                (DependencyKind::After, &service.after),
            ];
            for (kind, names) in declared {
                for earlier in names.iter().filter_map(lookup) {
                    if earlier == later {
                        continue;
                    }
                    starts_after[later].push((earlier, kind));
                    match kind {
                        DependencyKind::Requires => requires[later].push(earlier),
                        DependencyKind::Wants => wants[later].push(earlier),
                        _ => {}
                    }
                }
            }
        }
        for (earlier, service) in config.services.iter().enumerate() {
            for later in service.before.iter().filter_map(lookup) {
                if later != earlier {
                    starts_after[later].push((earlier, DependencyKind::Before));
                }
            }
        }

        let mut seen = SeenMarker::new(count);
        let mut graph = Graph {
            names: config.services.iter().map(|s| s.name.clone()).collect(),
            index,
            starts_after: Vec::with_capacity(count),
            starts_after_kind: Vec::with_capacity(count),
            dependents: vec![Vec::new(); count],
            requires,
            wants,
            requirers: vec![Vec::new(); count],
            wanters: vec![Vec::new(); count],
        };
        for (later, edges) in starts_after.into_iter().enumerate() {
            seen.next_round();
            let mut targets = Vec::with_capacity(edges.len());
            let mut kinds = Vec::with_capacity(edges.len());
            for (earlier, kind) in edges {
                if seen.first_time(earlier) {
                    targets.push(earlier);
                    kinds.push(kind);
                    graph.dependents[earlier].push(later);
                }
            }
            graph.starts_after.push(targets);
            graph.starts_after_kind.push(kinds);
        }
        for service in 0..count {
            seen.next_round();
            graph.requires[service].retain(|&other| seen.first_time(other));
            for &required in &graph.requires[service] {
                graph.requirers[required].push(service);
            }
            seen.next_round();
            graph.wants[service].retain(|&other| seen.first_time(other));
            for &wanted in &graph.wants[service] {
                graph.wanters[wanted].push(service);
            }
        }
        graph
    }

    pub fn len(&self) -> usize {
        self.names.len()
    }

    pub fn is_empty(&self) -> bool {
        self.names.is_empty()
    }

    /// Index of the (first) service with this name.
    pub fn index_of(&self, name: &str) -> Option<usize> {
        self.index.get(name).copied()
    }

    pub fn name(&self, service: usize) -> &str {
        self.names.get(service).map_or("", String::as_str)
    }

    /// The services `service` must start after: its `requires`, `wants`,
    /// `after`, and those whose `before` names it.
    pub fn starts_after(&self, service: usize) -> &[usize] {
        row(&self.starts_after, service)
    }

    /// The services that start after `service`, so must stop before it.
    pub fn dependents_of(&self, service: usize) -> &[usize] {
        row(&self.dependents, service)
    }

    /// The services `service` requires (activation + failure propagation).
    pub fn requires_of(&self, service: usize) -> &[usize] {
        row(&self.requires, service)
    }

    /// The services `service` wants (activation, failure tolerated).
    pub fn wants_of(&self, service: usize) -> &[usize] {
        row(&self.wants, service)
    }

    /// The services whose `requires` names `service`: they are stopped or
    /// not started when it fails or stops.
    pub fn requirers_of(&self, service: usize) -> &[usize] {
        row(&self.requirers, service)
    }

    /// The services whose `wants` names `service`.
    pub fn wanters_of(&self, service: usize) -> &[usize] {
        row(&self.wanters, service)
    }

    /// The kind of the (first declared) edge making `later` start after `earlier`.
    pub fn edge_kind(&self, later: usize, earlier: usize) -> Option<DependencyKind> {
        let targets = self.starts_after.get(later)?;
        let position = targets.iter().position(|&t| t == earlier)?;
        self.starts_after_kind.get(later)?.get(position).copied()
    }

    /// Services grouped by start level: level 0 has no dependencies, level
    /// n only dependencies in lower levels. Declaration order within a
    /// level. Services on or behind a dependency cycle are left out (a
    /// validated config has none).
    pub fn start_levels(&self) -> Vec<Vec<usize>> {
        let count = self.len();
        let mut waiting_on: Vec<usize> = self.starts_after.iter().map(Vec::len).collect();
        let mut level = vec![0usize; count];
        let mut ready: VecDeque<usize> = (0..count).filter(|&s| waiting_on[s] == 0).collect();
        let mut placed = vec![false; count];
        let mut deepest = 0;
        while let Some(service) = ready.pop_front() {
            placed[service] = true;
            deepest = deepest.max(level[service]);
            for &dependent in &self.dependents[service] {
                level[dependent] = level[dependent].max(level[service] + 1);
                waiting_on[dependent] -= 1;
                if waiting_on[dependent] == 0 {
                    ready.push_back(dependent);
                }
            }
        }
        if !placed.iter().any(|&p| p) {
            return Vec::new();
        }
        let mut levels = vec![Vec::new(); deepest + 1];
        for service in (0..count).filter(|&s| placed[s]) {
            levels[level[service]].push(service);
        }
        levels
    }

    /// One dependency cycle, if there is any (the first of [`Graph::cycles`]).
    pub fn find_cycle(&self) -> Option<Vec<Edge>> {
        self.cycles().into_iter().next()
    }

    /// One cycle for each group of services that depend on each other
    /// (strongly connected component of more than one service), as the
    /// list of its edges: each edge's `earlier` is the next edge's
    /// `later`, and the last edge's `earlier` is the first edge's `later`.
    /// The cycle starts at the component's first-declared service and is a
    /// shortest one through it. Ordered by that service.
    pub fn cycles(&self) -> Vec<Vec<Edge>> {
        let component = self.strongly_connected_components();
        let count = self.len();
        let mut component_size = vec![0usize; count];
        for &c in &component {
            component_size[c] += 1;
        }
        let mut done = vec![false; count];
        let mut came_from = vec![usize::MAX; count];
        let mut cycles = Vec::new();
        for start in 0..count {
            let c = component[start];
            if done[c] || component_size[c] < 2 {
                continue;
            }
            done[c] = true;
            if let Some(cycle) = self.shortest_cycle_through(start, &component, &mut came_from) {
                cycles.push(cycle);
            }
        }
        cycles
    }

    /// Breadth-first search from `start` inside its component, back to
    /// `start`. `came_from` is scratch space, all `usize::MAX` between calls.
    fn shortest_cycle_through(
        &self,
        start: usize,
        component: &[usize],
        came_from: &mut [usize],
    ) -> Option<Vec<Edge>> {
        let inside = component[start];
        let mut queue = VecDeque::from([start]);
        let mut visited = vec![start];
        came_from[start] = start;
        let mut closing = None;
        'search: while let Some(service) = queue.pop_front() {
            for &next in &self.starts_after[service] {
                if component[next] != inside {
                    continue;
                }
                if next == start {
                    closing = Some(service);
                    break 'search;
                }
                if came_from[next] == usize::MAX {
                    came_from[next] = service;
                    visited.push(next);
                    queue.push_back(next);
                }
            }
        }
        let mut path = Vec::new();
        if let Some(last) = closing {
            let mut service = last;
            path.push(service);
            while service != start {
                service = came_from[service];
                path.push(service);
            }
            path.reverse();
        }
        // Leave the scratch space clean for the next component.
        for member in visited {
            came_from[member] = usize::MAX;
        }
        if path.is_empty() {
            return None;
        }
        let mut edges = Vec::with_capacity(path.len());
        for (position, &later) in path.iter().enumerate() {
            let earlier = path[(position + 1) % path.len()];
            let kind = self.edge_kind(later, earlier)?;
            edges.push(Edge {
                later,
                earlier,
                kind,
            });
        }
        Some(edges)
    }

    /// Tarjan's algorithm, iterative: the component id of every service.
    fn strongly_connected_components(&self) -> Vec<usize> {
        const UNVISITED: usize = usize::MAX;
        let count = self.len();
        let mut order = vec![UNVISITED; count];
        let mut low = vec![0usize; count];
        let mut on_stack = vec![false; count];
        let mut stack = Vec::new();
        let mut component = vec![UNVISITED; count];
        let mut next_order = 0;
        let mut next_component = 0;
        let mut calls: Vec<(usize, usize)> = Vec::new();
        for root in 0..count {
            if order[root] != UNVISITED {
                continue;
            }
            order[root] = next_order;
            low[root] = next_order;
            next_order += 1;
            stack.push(root);
            on_stack[root] = true;
            calls.push((root, 0));
            while let Some(&mut (service, ref mut next_edge)) = calls.last_mut() {
                if let Some(&target) = self.starts_after[service].get(*next_edge) {
                    *next_edge += 1;
                    if order[target] == UNVISITED {
                        order[target] = next_order;
                        low[target] = next_order;
                        next_order += 1;
                        stack.push(target);
                        on_stack[target] = true;
                        calls.push((target, 0));
                    } else if on_stack[target] {
                        low[service] = low[service].min(order[target]);
                    }
                    continue;
                }
                calls.pop();
                if let Some(&(caller, _)) = calls.last() {
                    low[caller] = low[caller].min(low[service]);
                }
                if low[service] == order[service] {
                    while let Some(member) = stack.pop() {
                        on_stack[member] = false;
                        component[member] = next_component;
                        if member == service {
                            break;
                        }
                    }
                    next_component += 1;
                }
            }
        }
        component
    }
}

/// Row `index` of an adjacency list; empty for an index out of range.
fn row(lists: &[Vec<usize>], index: usize) -> &[usize] {
    lists.get(index).map_or(&[], Vec::as_slice)
}

/// O(1) "seen in this round?" over indices, without clearing between rounds.
struct SeenMarker {
    round: usize,
    seen_in: Vec<usize>,
}

impl SeenMarker {
    fn new(count: usize) -> Self {
        SeenMarker {
            round: 0,
            seen_in: vec![0; count],
        }
    }

    fn next_round(&mut self) {
        self.round += 1;
    }

    fn first_time(&mut self, index: usize) -> bool {
        let first = self.seen_in[index] != self.round;
        self.seen_in[index] = self.round;
        first
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::{Command, ServiceConfig};

    fn service(name: &str, requires: &[&str], after: &[&str], before: &[&str]) -> ServiceConfig {
        let mut service = ServiceConfig::new(name, Command::Exec(vec!["/bin/true".into()]));
        service.requires = requires.iter().map(|s| s.to_string()).collect();
        service.after = after.iter().map(|s| s.to_string()).collect();
        service.before = before.iter().map(|s| s.to_string()).collect();
        service
    }

    fn config(services: Vec<ServiceConfig>) -> Config {
        Config {
            services,
            ..Config::default()
        }
    }

    fn level_names(graph: &Graph) -> Vec<Vec<&str>> {
        graph
            .start_levels()
            .into_iter()
            .map(|level| level.into_iter().map(|s| graph.name(s)).collect())
            .collect()
    }

    #[test]
    fn levels_follow_dependencies_and_keep_declaration_order() {
        let graph = Graph::new(&config(vec![
            service("web", &["db", "cache"], &[], &[]),
            service("db", &[], &[], &[]),
            service("cache", &[], &["db"], &[]),
            service("log", &[], &[], &["db"]),
            service("cron", &[], &[], &[]),
        ]));
        assert_eq!(
            level_names(&graph),
            vec![vec!["log", "cron"], vec!["db"], vec!["cache"], vec!["web"]]
        );
        let db = graph.index_of("db").unwrap();
        let web = graph.index_of("web").unwrap();
        assert_eq!(graph.requirers_of(db), &[web]);
        assert_eq!(graph.dependents_of(db).len(), 2);
        assert_eq!(graph.edge_kind(db, 3), Some(DependencyKind::Before));
    }

    #[test]
    fn duplicates_self_edges_and_unknown_names_are_ignored() {
        let graph = Graph::new(&config(vec![
            service("a", &["b", "b", "a", "nope"], &["b"], &[]),
            service("b", &[], &[], &["a"]),
        ]));
        assert_eq!(graph.starts_after(0), &[1]);
        assert_eq!(graph.requires_of(0), &[1]);
        assert_eq!(graph.requirers_of(1), &[0]);
        assert_eq!(graph.edge_kind(0, 1), Some(DependencyKind::Requires));
        assert!(graph.find_cycle().is_none());
    }

    #[test]
    fn finds_every_cycle_with_its_edges() {
        let graph = Graph::new(&config(vec![
            service("a", &["b"], &[], &[]),
            service("b", &[], &["c"], &[]),
            service("c", &[], &[], &[]),
            service("d", &[], &[], &[]),
            service("e", &["d"], &[], &[]),
            service("ok", &["a"], &[], &[]),
        ]));
        assert!(graph.cycles().is_empty());

        let graph = Graph::new(&config(vec![
            service("a", &["b"], &[], &["c"]),
            service("b", &[], &["c"], &[]),
            service("c", &[], &[], &[]),
            service("d", &["e"], &[], &[]),
            service("e", &["d"], &[], &[]),
            service("ok", &["a"], &[], &[]),
        ]));
        let cycles = graph.cycles();
        assert_eq!(cycles.len(), 2);
        // a requires b, b is after c, and a's `before "c"` puts c after a.
        let first: Vec<(usize, usize, DependencyKind)> = cycles[0]
            .iter()
            .map(|e| (e.later, e.earlier, e.kind))
            .collect();
        use DependencyKind::*;
        assert_eq!(first, vec![(0, 1, Requires), (1, 2, After), (2, 0, Before)]);
        let second: Vec<(usize, usize)> = cycles[1].iter().map(|e| (e.later, e.earlier)).collect();
        assert_eq!(second, vec![(3, 4), (4, 3)]);
        // Nothing on or behind a cycle gets a start level.
        assert_eq!(level_names(&graph), Vec::<Vec<&str>>::new());
    }

    #[test]
    fn before_reverses_the_edge() {
        let graph = Graph::new(&config(vec![
            service("a", &[], &[], &["b"]),
            service("b", &[], &["a"], &[]),
        ]));
        assert_eq!(graph.starts_after(1), &[0]);
        assert_eq!(graph.edge_kind(1, 0), Some(DependencyKind::After));
        let edge = Edge {
            later: 1,
            earlier: 0,
            kind: DependencyKind::Before,
        };
        assert_eq!((edge.declared_in(), edge.names()), (0, 1));
    }

    #[test]
    fn long_chain_does_not_recurse() {
        let count = 200_000;
        let services = (0..count)
            .map(|i| {
                let previous = format!("s{}", (i + count - 1) % count);
                service(&format!("s{i}"), &[previous.as_str()], &[], &[])
            })
            .collect();
        let graph = Graph::new(&config(services));
        let cycle = graph.find_cycle().unwrap();
        assert_eq!(cycle.len(), count);
    }
}
