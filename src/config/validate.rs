//! Checks across services, once every file is read and `defaults` merged:
//! duplicate service names, dependencies on oneself or on unknown names,
//! and dependency cycles (found by `graph`, mapped back to the spans where
//! each edge of the cycle is declared).

use std::collections::{HashMap, HashSet};

use super::diagnostic::{Location, Problem};
use super::model::Config;
use super::parse::ServiceDraft;
use super::values;
use crate::graph::{DependencyKind, Edge, Graph};

/// A service as read, with the location of its name.
pub(crate) struct ServiceEntry {
    pub(crate) draft: ServiceDraft,
    pub(crate) name_at: Location,
}

/// Unknown dependency names for which a "did you mean" is searched among
/// all service names; past this, the search is skipped to stay linear.
const MAX_SUGGESTED_UNKNOWN_NAMES: usize = 64;

/// Report the problems that involve several services. `names_complete`
/// is false when a file could not be parsed: its services are missing, so
/// unknown names are not reported (they may be defined there).
pub(crate) fn check_services(
    entries: &[ServiceEntry],
    config: &Config,
    names_complete: bool,
    problems: &mut Vec<Problem>,
) {
    let mut first_by_name: HashMap<&str, usize> = HashMap::with_capacity(entries.len());
    for (index, service) in config.services.iter().enumerate() {
        if let Some(&first) = first_by_name.get(service.name.as_str()) {
            problems.push(
                Problem::error(format!("service `{}` is defined twice", service.name))
                    .label(&entries[index].name_at, "defined again here")
                    .label(&entries[first].name_at, "first defined here")
                    .help("service names must be unique across all files of the config"),
            );
        } else {
            first_by_name.insert(&service.name, index);
        }
    }

    let mut suggestions_left = MAX_SUGGESTED_UNKNOWN_NAMES;
    // The instances of a template share its spans: one report per name
    // and place.
    let mut reported_unknown: HashSet<(String, usize)> = HashSet::new();
    for (index, entry) in entries.iter().enumerate() {
        let own_name = config.services[index].name.as_str();
        for dependency in &entry.draft.dependencies {
            let key = dependency.kind.key();
            if dependency.name == own_name {
                problems.push(
                    Problem::error(format!("service `{own_name}` depends on itself"))
                        .label(&dependency.at, format!("`{key}` names its own service"))
                        .help("remove this name"),
                );
            } else if names_complete
                && !first_by_name.contains_key(dependency.name.as_str())
                && !names_an_instance(config, &dependency.name)
                && reported_unknown.insert((dependency.name.clone(), dependency.at.span.offset()))
            {
                let help = if config.template(&dependency.name).is_some() {
                    Some(format!(
                        "`{0}` is a template, which never runs: name one of its instances, \
                         e.g. `{0}NAME`",
                        dependency.name
                    ))
                } else if suggestions_left > 0 {
                    suggestions_left -= 1;
                    let names = config.services.iter().map(|s| s.name.as_str());
                    values::suggest(&dependency.name, names)
                        .map(|close| format!("did you mean `{close}`?"))
                } else {
                    None
                };
                problems.push(
                    Problem::error(format!(
                        "unknown service `{}` in `{key}` of `{own_name}`",
                        dependency.name
                    ))
                    .label(&dependency.at, "no service has this name")
                    .help(help.unwrap_or_else(|| {
                        "define it with `service \"NAME\" { … }` in any file of the config"
                            .to_owned()
                    })),
                );
            }
        }
    }

    let graph = Graph::new(config);
    for cycle in graph.cycles() {
        problems.push(cycle_problem(&graph, &cycle, entries));
    }
}

/// Whether `name` is `TEMPLATE@INSTANCE` of a template of `config`: made
/// at load, or its bad instance name reported there.
fn names_an_instance(config: &Config, name: &str) -> bool {
    super::template::split_instance(name)
        .is_some_and(|(template, _)| config.template(template).is_some())
}

/// One diagnostic for a cycle, labelling every edge where it is declared.
fn cycle_problem(graph: &Graph, cycle: &[Edge], entries: &[ServiceEntry]) -> Problem {
    let mut path: Vec<&str> = cycle.iter().map(|edge| graph.name(edge.later)).collect();
    if let Some(first) = path.first().copied() {
        path.push(first);
    }
    let shown = path
        .iter()
        .map(|name| format!("`{name}`"))
        .collect::<Vec<_>>()
        .join(" → ");
    let mut problem = Problem::error(format!("dependency cycle: {shown}"));
    for edge in cycle {
        let later = graph.name(edge.later);
        let earlier = graph.name(edge.earlier);
        let label = match edge.kind {
            DependencyKind::Requires => format!("`{later}` requires `{earlier}`"),
            DependencyKind::Wants => format!("`{later}` wants `{earlier}`"),
            DependencyKind::After => format!("`{later}` starts after `{earlier}`"),
            DependencyKind::Before => format!("`{earlier}` starts before `{later}`"),
        };
        let named = graph.name(edge.names());
        let declaration = entries.get(edge.declared_in()).and_then(|entry| {
            entry
                .draft
                .dependencies
                .iter()
                .find(|d| d.kind == edge.kind && d.name == named)
        });
        if let Some(declaration) = declaration {
            problem = problem.label(&declaration.at, label);
        }
    }
    problem.help(
        "each service in the cycle waits for the next one, so none can start: \
         remove or reverse one of these dependencies",
    )
}
