//! The dependency model of a set of services, built once per config: every
//! name given to `requires`, `wants`, `after` and `before` resolved to a
//! service index (a position in `Config::services`), and what each reader
//! needs computed from that one resolution:
//! - the start order, one edge per pair of services with the kind that
//!   made it, and its reverse (who must stop first): the supervisor's
//!   links (`supervisor/deps.rs`);
//! - the edges as declared, per key, and what a service pulls in: `svctl
//!   tree`;
//! - the start levels: `--check`'s plan; the cycles: the validator.
//!
//! Everything is O(V + E). Names that match no service, edges from a
//! service to itself and a name given twice are left out: the validator
//! reports the first two, and the third changes nothing.

use std::collections::{HashMap, VecDeque};

use crate::config::{Config, ServiceConfig};

/// Which key declared an ordering edge.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) enum DependencyKind {
    Requires,
    Wants,
    After,
    Before,
}

impl DependencyKind {
    /// The unit-file key.
    pub(crate) fn key(self) -> &'static str {
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
pub(crate) struct Edge {
    pub(crate) later: usize,
    pub(crate) earlier: usize,
    pub(crate) kind: DependencyKind,
}

impl Edge {
    /// The service whose block declares this edge.
    pub(crate) fn declared_in(&self) -> usize {
        match self.kind {
            DependencyKind::Before => self.earlier,
            _ => self.later,
        }
    }

    /// The service named by the declaration.
    pub(crate) fn names(&self) -> usize {
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
    /// What each service's `requires` names, in declaration order.
    requires: Vec<Vec<usize>>,
    /// What each service's `wants` names, in declaration order.
    wants: Vec<Vec<usize>>,
    /// What each service starts after by an ordering key: its `after`, then
    /// every service whose `before` names it (in index order).
    ordering: Vec<Vec<usize>>,
    /// For each service, one edge to each service it starts after, in
    /// declaration order: its requires, wants and after, then every service
    /// whose `before` names it. The edge has the kind of the first
    /// declaration; requires come first, so it is `Requires` whenever the
    /// service requires the other.
    starts_after: Vec<Vec<Edge>>,
    /// The reverse of `starts_after`: for each service, the edges of the
    /// services that start after it (so must stop before it), in index
    /// order of those.
    dependents: Vec<Vec<Edge>>,
}

impl Graph {
    pub fn new(config: &Config) -> Graph {
        Graph::of_services(&config.services)
    }

    /// The graph of `services` among themselves, indexed in the order given.
    pub(crate) fn of_services<'a>(services: impl IntoIterator<Item = &'a ServiceConfig>) -> Graph {
        let services: Vec<&ServiceConfig> = services.into_iter().collect();
        let count = services.len();
        let mut index = HashMap::with_capacity(count);
        for (position, service) in services.iter().enumerate() {
            index.entry(service.name.clone()).or_insert(position);
        }
        let mut seen = SeenMarker::new(count);
        // The one place a name becomes an index: known, not the service
        // itself, each once.
        let mut resolve = |service: usize, names: &[String]| -> Vec<usize> {
            seen.next_round();
            names
                .iter()
                .filter_map(|name| index.get(name.as_str()).copied())
                .filter(|&other| other != service && seen.first_time(other))
                .collect()
        };
        let mut requires = Vec::with_capacity(count);
        let mut wants = Vec::with_capacity(count);
        let mut after = Vec::with_capacity(count);
        let mut named_before_by: Vec<Vec<usize>> = vec![Vec::new(); count];
        for (position, service) in services.iter().enumerate() {
            requires.push(resolve(position, &service.requires));
            wants.push(resolve(position, &service.wants));
            after.push(resolve(position, &service.after));
            for later in resolve(position, &service.before) {
                named_before_by[later].push(position);
            }
        }

        let mut ordering = Vec::with_capacity(count);
        let mut starts_after = Vec::with_capacity(count);
        let mut dependents: Vec<Vec<Edge>> = vec![Vec::new(); count];
        for later in 0..count {
            seen.next_round();
            let mut ordered = Vec::with_capacity(after[later].len() + named_before_by[later].len());
            for &earlier in after[later].iter().chain(&named_before_by[later]) {
                if seen.first_time(earlier) {
                    ordered.push(earlier);
                }
            }
            ordering.push(ordered);

            seen.next_round();
            let declared = [
                (DependencyKind::Requires, &requires[later]),
                (DependencyKind::Wants, &wants[later]),
                (DependencyKind::After, &after[later]),
                (DependencyKind::Before, &named_before_by[later]),
            ];
            let mut edges = Vec::new();
            for (kind, earliers) in declared {
                for &earlier in earliers {
                    if seen.first_time(earlier) {
                        let edge = Edge {
                            later,
                            earlier,
                            kind,
                        };
                        edges.push(edge);
                        dependents[earlier].push(edge);
                    }
                }
            }
            starts_after.push(edges);
        }
        Graph {
            names: services.iter().map(|s| s.name.clone()).collect(),
            index,
            requires,
            wants,
            ordering,
            starts_after,
            dependents,
        }
    }

    pub(crate) fn len(&self) -> usize {
        self.names.len()
    }

    /// Index of the (first) service with this name.
    pub(crate) fn index_of(&self, name: &str) -> Option<usize> {
        self.index.get(name).copied()
    }

    pub(crate) fn name(&self, service: usize) -> &str {
        self.names.get(service).map_or("", String::as_str)
    }

    /// What `service` requires: wanted up with it, ready before it starts,
    /// and its failure or stop takes `service` down.
    pub(crate) fn requires_of(&self, service: usize) -> &[usize] {
        row(&self.requires, service)
    }

    /// What `service` wants: wanted up with it, failure tolerated.
    pub(crate) fn wants_of(&self, service: usize) -> &[usize] {
        row(&self.wants, service)
    }

    /// What `service` starts after by an ordering key (its `after`, and
    /// every service whose `before` names it), whether or not it also
    /// requires or wants it: `svctl tree`'s ordering edges.
    pub(crate) fn ordering_of(&self, service: usize) -> &[usize] {
        row(&self.ordering, service)
    }

    /// One edge to each service `service` starts after (and stops before),
    /// whatever key made it: `Requires` when it requires that one.
    pub(crate) fn starts_after(&self, service: usize) -> &[Edge] {
        row(&self.starts_after, service)
    }

    /// One edge from each service that starts after `service` (and stops
    /// before it), in index order: the reverse of [`Graph::starts_after`].
    pub(crate) fn dependents_of(&self, service: usize) -> &[Edge] {
        row(&self.dependents, service)
    }

    /// `root` and everything it requires or wants, transitively: what
    /// starting it wants up. In index order.
    pub(crate) fn pulled_in_by(&self, root: usize) -> Vec<usize> {
        let mut pulled = vec![false; self.len()];
        let mut stack = vec![root];
        while let Some(service) = stack.pop() {
            match pulled.get_mut(service) {
                Some(seen) if !*seen => *seen = true,
                _ => continue,
            }
            stack.extend(
                self.requires_of(service)
                    .iter()
                    .chain(self.wants_of(service)),
            );
        }
        (0..self.len()).filter(|&s| pulled[s]).collect()
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
            for dependent in self.dependents[service].iter().map(|edge| edge.later) {
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

    /// One cycle for each group of services that depend on each other
    /// (strongly connected component of more than one service), as the
    /// list of its edges: each edge's `earlier` is the next edge's
    /// `later`, and the last edge's `earlier` is the first edge's `later`.
    /// The cycle starts at the component's first-declared service and is a
    /// shortest one through it. Ordered by that service.
    pub(crate) fn cycles(&self) -> Vec<Vec<Edge>> {
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
            for next in self.starts_after[service].iter().map(|edge| edge.earlier) {
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
            let edge = self.starts_after[later]
                .iter()
                .find(|edge| edge.earlier == earlier)?;
            edges.push(*edge);
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
                if let Some(target) = self.starts_after[service]
                    .get(*next_edge)
                    .map(|e| e.earlier)
                {
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
fn row<T>(lists: &[Vec<T>], index: usize) -> &[T] {
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

    fn earliers(graph: &Graph, later: usize) -> Vec<usize> {
        graph
            .starts_after(later)
            .iter()
            .map(|e| e.earlier)
            .collect()
    }

    fn kind_of(graph: &Graph, later: usize, earlier: usize) -> Option<DependencyKind> {
        let edge = graph
            .starts_after(later)
            .iter()
            .find(|e| e.earlier == earlier);
        edge.map(|e| e.kind)
    }

    fn requirers(graph: &Graph, earlier: usize) -> Vec<usize> {
        let edges = graph.dependents_of(earlier).iter();
        let required = edges.filter(|e| e.kind == DependencyKind::Requires);
        required.map(|e| e.later).collect()
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
        assert_eq!(requirers(&graph, db), vec![web]);
        assert_eq!(graph.dependents_of(db).len(), 2);
        assert_eq!(kind_of(&graph, db, 3), Some(DependencyKind::Before));
    }

    #[test]
    fn duplicates_self_edges_and_unknown_names_are_ignored() {
        let graph = Graph::new(&config(vec![
            service("a", &["b", "b", "a", "nope"], &["b"], &[]),
            service("b", &[], &[], &["a"]),
        ]));
        assert_eq!(earliers(&graph, 0), vec![1]);
        assert_eq!(graph.requires_of(0), &[1]);
        assert_eq!(requirers(&graph, 1), vec![0]);
        assert_eq!(kind_of(&graph, 0, 1), Some(DependencyKind::Requires));
        assert!(graph.cycles().is_empty());
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
        assert_eq!(earliers(&graph, 1), vec![0]);
        assert_eq!(kind_of(&graph, 1, 0), Some(DependencyKind::After));
        assert_eq!(graph.ordering_of(1), &[0]);
        let edge = Edge {
            later: 1,
            earlier: 0,
            kind: DependencyKind::Before,
        };
        assert_eq!((edge.declared_in(), edge.names()), (0, 1));
    }

    /// `svctl tree` (the edges per key) and `--check` (the start plan)
    /// read one graph: every edge the tree shows is one of the start order,
    /// every edge of the start order is shown, and each goes to a lower
    /// level of the plan.
    #[test]
    fn the_tree_and_the_check_plan_agree() {
        const UNITS: &str = r#"
            service "web" { exec "web"; requires "app" "app"; after "log" }
            service "app" { exec "app"; requires "db"; wants "cache"; after "db" }
            service "db" { exec "db"; before "cache" }
            service "cache" { exec "cache" }
            service "log" { exec "log"; before "db" "app" }
            service "lone" { exec "lone" }
        "#;
        let sources = vec![("a.kdl".to_string(), UNITS.to_string())];
        let config = crate::config::load_sources(sources).unwrap();
        let graph = Graph::new(&config);
        let plan = crate::config::start_plan(&config, std::path::Path::new("a.kdl"));
        let mut level_of = HashMap::new();
        for line in plan.lines().skip(1) {
            let (level, names) = line.split_once(": ").unwrap();
            let level: usize = level.trim_start_matches("level ").parse().unwrap();
            for name in names.split(' ') {
                level_of.insert(graph.index_of(name).unwrap(), level);
            }
        }
        assert_eq!(level_of.len(), graph.len(), "{plan}");
        for service in 0..graph.len() {
            let mut shown: Vec<usize> = graph.requires_of(service).to_vec();
            shown.extend(graph.wants_of(service));
            shown.extend(graph.ordering_of(service));
            shown.sort_unstable();
            shown.dedup();
            let mut order = earliers(&graph, service);
            order.sort_unstable();
            assert_eq!(shown, order, "{}", graph.name(service));
            for earlier in order {
                assert!(level_of[&earlier] < level_of[&service], "{plan}");
            }
        }
        let app = graph.index_of("app").unwrap();
        // Both keys are shown: `app` requires `db` and is after it.
        assert_eq!(graph.requires_of(app), &[2]);
        assert_eq!(graph.ordering_of(app), &[2, 4]);
        assert_eq!(
            graph.requires_of(0),
            &[app],
            "a name given twice is one edge"
        );
        let pulled: Vec<&str> = graph
            .pulled_in_by(0)
            .into_iter()
            .map(|s| graph.name(s))
            .collect();
        assert_eq!(pulled, ["web", "app", "db", "cache"]);
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
        let cycle = graph.cycles().remove(0);
        assert_eq!(cycle.len(), count);
    }
}
