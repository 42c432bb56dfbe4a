//! Fake-clock tests of run-time instances (`svctl start NAME@INSTANCE`,
//! SPEC §3 *Templates*): made with what they name, removed when stopped
//! (not when they fail), kept by a reload while their template is there.

use crate::config::{Command, Config, RestartPolicy, ServiceConfig};

use super::harness::{Behaviour, Harness, exec_failure, names, service};
use super::*;

fn template(name: &str) -> ServiceConfig {
    ServiceConfig::new(name, Command::Shell("run %i".into()))
}

/// `db`, the templates `queue@` and `worker@` (which requires
/// `queue@%i`), neither of which autostarts.
fn templates() -> Config {
    let mut worker = template("worker@");
    worker.requires = names(&["queue@%i"]);
    worker.autostart = false;
    let mut queue = template("queue@");
    queue.autostart = false;
    Config {
        services: vec![service("db")],
        templates: vec![worker, queue],
        ..Config::default()
    }
}

impl Harness {
    /// `svctl start NAME` as the runtime asks it: made if need be, then
    /// started.
    fn start_instance(&mut self, name: &str) -> Result<(), Refusal> {
        let ids = self
            .sup
            .services_to_start(self.now, &[name.to_string()])
            .map_err(|(_, refusal)| refusal)?;
        let id = ids[0];
        let started = self.sup.start(self.now, id);
        self.pump();
        started
    }

    fn listed(&self) -> Vec<String> {
        self.sup.ids().map(|id| self.sup.status(id).name).collect()
    }
}

#[test]
fn start_makes_the_instance_and_what_it_names_and_starts_them() {
    let mut h = Harness::boot(templates());
    assert_eq!(h.listed(), names(&["db"]));
    h.start_instance("worker@a").unwrap();
    assert_eq!(h.listed(), names(&["db", "worker@a", "queue@a"]));
    assert_eq!(h.state("worker@a"), StateKind::Up);
    assert_eq!(h.state("queue@a"), StateKind::Up);
    let worker = h.sup.service_config(h.id("worker@a"));
    assert_eq!(worker.command, Command::Shell("run a".into()));
    assert_eq!(worker.requires, names(&["queue@a"]));
    // Starting it again changes nothing.
    let id = h.id("worker@a");
    h.start_instance("worker@a").unwrap();
    assert_eq!(h.id("worker@a"), id);
    assert_eq!(h.starts("worker@a"), 1);
}

#[test]
fn bad_names_unknown_templates_and_dangling_names_are_refused_and_add_nothing() {
    let mut config = templates();
    let mut broken = template("broken@");
    broken.wants = names(&["missing"]);
    config.templates.push(broken);
    let mut h = Harness::boot(config);
    let refusals = [
        ("nosuch@x", Refusal::NoSuchService),
        ("plain", Refusal::NoSuchService),
        ("worker@", Refusal::NoSuchService),
        ("worker@-x", Refusal::BadInstanceName("starts with '-'")),
        (
            "worker@a/b",
            Refusal::BadInstanceName("a character outside [A-Za-z0-9_.:-]"),
        ),
        (
            "broken@x",
            Refusal::InstanceUnusable("`broken@x` names `missing`, which is not a service".into()),
        ),
    ];
    for (name, refusal) in refusals {
        assert_eq!(h.start_instance(name), Err(refusal.clone()), "{name}");
        // Beside good names, before or after them: nothing is made.
        let request = [
            "worker@good".to_string(),
            name.to_string(),
            "queue@b".to_string(),
        ];
        assert_eq!(
            h.sup.services_to_start(h.now, &request),
            Err((name.to_string(), refusal)),
            "{name}"
        );
    }
    assert_eq!(h.listed(), names(&["db"]));
}

#[test]
fn one_request_makes_every_instance_it_names_once() {
    let mut h = Harness::boot(templates());
    let request = ["worker@a", "queue@a", "worker@a", "db"].map(String::from);
    let ids = h.sup.services_to_start(h.now, &request).unwrap();
    let listed = names(&["db", "worker@a", "queue@a"]);
    assert_eq!(h.listed(), listed);
    let named: Vec<String> = ids.iter().map(|&id| h.sup.status(id).name).collect();
    assert_eq!(named, names(&["worker@a", "queue@a", "db"]));
}

#[test]
fn an_instance_that_would_close_a_cycle_is_refused() {
    let mut ping = template("ping@");
    ping.requires = names(&["pong@%i"]);
    let mut pong = template("pong@");
    pong.requires = names(&["ping@%i"]);
    let mut h = Harness::boot(Config {
        templates: vec![ping, pong],
        ..Config::default()
    });
    assert!(matches!(
        h.start_instance("ping@x"),
        Err(Refusal::InstanceUnusable(why)) if why.contains("cycle")
    ));
    assert!(h.listed().is_empty());
    // In a request of several names, the one that closes it is named.
    let mut config = templates();
    let mut ping = template("ping@");
    ping.requires = names(&["pong@%i"]);
    let mut pong = template("pong@");
    pong.requires = names(&["ping@%i"]);
    config.templates.extend([ping, pong]);
    let mut h = Harness::boot(config);
    let request = ["worker@a", "ping@x", "queue@b"].map(String::from);
    let refused = h.sup.services_to_start(h.now, &request);
    assert!(
        matches!(&refused, Err((name, Refusal::InstanceUnusable(why)))
            if name == "ping@x" && why == "`ping@x` would close a dependency cycle"),
        "{refused:?}"
    );
    assert_eq!(h.listed(), names(&["db"]));
    // One naming itself is refused as the load refuses it.
    let mut config = templates();
    let mut selfish = template("self@");
    selfish.after = names(&["self@%i"]);
    config.templates.push(selfish);
    let mut h = Harness::boot(config);
    assert_eq!(
        h.start_instance("self@x"),
        Err(Refusal::InstanceUnusable(
            "`self@x` would depend on itself".into()
        ))
    );
}

#[test]
fn nothing_is_made_once_a_shutdown_has_begun() {
    let mut h = Harness::boot(templates());
    h.shutdown(0);
    assert_eq!(h.start_instance("queue@a"), Err(Refusal::ShuttingDown));
    assert_eq!(h.sup.id_of("queue@a"), None);
}

#[test]
fn stop_removes_a_runtime_instance_once_it_has_stopped() {
    let mut h = Harness::boot(templates());
    h.obey_signals = false;
    h.start_instance("queue@a").unwrap();
    let pid = h.pid("queue@a");
    h.stop("queue@a");
    assert_eq!(h.state("queue@a"), StateKind::Stopping);
    assert!(h.status("queue@a").removed);
    h.exit_status("queue@a", ExitStatus::Exited(0));
    assert_eq!(h.sup.id_of("queue@a"), None);
    assert!(
        h.effects()
            .iter()
            .any(|a| matches!(a, Action::Forget { .. }))
    );
    assert!(h.signals().iter().any(|&(to, _, _)| to == pid));
    // A stopped one can be made again.
    h.start_instance("queue@a").unwrap();
    assert_eq!(h.state("queue@a"), StateKind::Up);
}

#[test]
fn an_instance_started_again_while_it_stops_is_taken_back() {
    let mut h = Harness::boot(templates());
    h.obey_signals = false;
    h.start_instance("queue@a").unwrap();
    let id = h.id("queue@a");
    h.stop("queue@a");
    h.start_instance("queue@a").unwrap();
    assert_eq!(h.id("queue@a"), id, "the same service, not a new one");
    assert!(!h.status("queue@a").removed);
    h.exit_status(
        "queue@a",
        ExitStatus::Signaled {
            signal: libc::SIGTERM,
            core: false,
        },
    );
    assert_eq!(h.sup.id_of("queue@a"), Some(id));
    assert_eq!(
        h.state("queue@a"),
        StateKind::Up,
        "restarted after its stop"
    );
}

#[test]
fn a_failed_runtime_instance_is_not_removed() {
    let mut config = templates();
    config.templates[1].restart = RestartPolicy::Never;
    let mut h = Harness::boot(config).with("queue@a", Behaviour::FailSpawn(exec_failure()));
    // A start whose service fails at once is no refusal.
    h.start_instance("queue@a").unwrap();
    assert_eq!(h.state("queue@a"), StateKind::Failed);
    assert_eq!(h.listed(), names(&["db", "queue@a"]));
    // `svctl stop` clears it: then it goes.
    h.stop("queue@a");
    assert_eq!(h.sup.id_of("queue@a"), None);
}

#[test]
fn stop_of_an_instance_another_names_stops_it_and_keeps_it() {
    let mut h = Harness::boot(templates());
    h.start_instance("worker@a").unwrap();
    h.stop("queue@a");
    assert_eq!(h.state("queue@a"), StateKind::Down);
    assert_ne!(
        h.state("worker@a"),
        StateKind::Up,
        "its requirer stopped first"
    );
    h.stop("worker@a");
    assert_eq!(h.sup.id_of("worker@a"), None);
    assert_eq!(h.state("queue@a"), StateKind::Down);
}

#[test]
fn a_reload_keeps_runtime_instances_while_their_template_is_there() {
    let mut h = Harness::boot(templates());
    h.obey_signals = false;
    h.start_instance("worker@a").unwrap();
    let id = h.id("worker@a");

    let summary = h.sup.reload(h.now, templates());
    h.pump();
    assert!(
        summary.added.is_empty() && summary.removed.is_empty(),
        "{summary}"
    );
    assert_eq!(h.id("worker@a"), id);
    assert_eq!(h.state("worker@a"), StateKind::Up);

    let mut changed = templates();
    changed.templates[0].command = Command::Shell("run2 %i".into());
    let summary = h.sup.reload(h.now, changed.clone());
    h.pump();
    assert_eq!(summary.changed, names(&["worker@a"]));
    assert!(h.status("worker@a").config_changed);

    // Without the worker template: its instance goes, queue@a stays.
    changed.templates.remove(0);
    let summary = h.sup.reload(h.now, changed);
    h.pump();
    assert_eq!(summary.removed, names(&["worker@a"]));
    assert!(h.status("worker@a").removed);
    assert_eq!(h.state("worker@a"), StateKind::Stopping);
    h.exit_status("worker@a", ExitStatus::Exited(0));
    assert_eq!(h.sup.id_of("worker@a"), None);
    assert_eq!(h.state("queue@a"), StateKind::Up);

    // Without any template: every instance goes.
    let summary = h.sup.reload(
        h.now,
        Config {
            services: vec![service("db")],
            ..Config::default()
        },
    );
    h.pump();
    assert_eq!(summary.removed, names(&["queue@a"]));
}

#[test]
fn an_instance_the_new_config_makes_is_the_configs() {
    let mut h = Harness::boot(templates());
    h.start_instance("queue@a").unwrap();
    let mut config = templates();
    config
        .services
        .push(h.sup.service_config(h.id("queue@a")).clone());
    h.sup.reload(h.now, config.clone());
    h.pump();
    // `svctl stop` only stops it now, and a reload without it removes it.
    h.stop("queue@a");
    assert_eq!(h.state("queue@a"), StateKind::Down);
    let summary = h.sup.reload(h.now, templates());
    h.pump();
    assert_eq!(summary.removed, names(&["queue@a"]));
}
