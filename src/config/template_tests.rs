//! Tests of templates at load: instances made from `instances` and from
//! the names other services give, `%i` and `%%` in every string value,
//! and a snapshot of each diagnostic (see `tests.rs` for snapshots).

use super::template::{instance_name_refusal, is_template_name, split_instance};
use super::tests::{assert_snapshot, load, render_errors, snapshot, sources};
use super::*;

fn names(config: &Config) -> Vec<&str> {
    config.services.iter().map(|s| s.name.as_str()).collect()
}

#[test]
fn instances_are_made_where_the_template_is_written() {
    let config = load(
        r#"
service "first" { exec "first" }
service "getty@" {
    exec "/sbin/agetty" "%i" "115200"
    instances "tty1" "ttyS0"
}
service "last" { exec "last" }
"#,
    );
    assert_eq!(
        names(&config),
        ["first", "getty@tty1", "getty@ttyS0", "last"]
    );
    assert_eq!(config.templates.len(), 1);
    assert_eq!(config.templates[0].name, "getty@");
    assert!(config.service("getty@").is_none());
    assert_eq!(
        config.service("getty@ttyS0").unwrap().command,
        Command::Exec(vec!["/sbin/agetty".into(), "ttyS0".into(), "115200".into()])
    );
}

#[test]
fn percent_i_is_replaced_in_every_string_value() {
    let config = load(
        r#"
defaults {
    directory "/srv/%i"
    environment { SITE "site-%i" }
}
service "db@" {
    shell "exec db --name %i"
    autostart #false
}
service "web@" {
    description "Web %i at 100%%"
    exec "web" "--port=%i"
    requires "db@%i"
    wants "cache-%i"
    after "db@%i"
    user "web-%i"
    group "grp-%i"
    groups "g-%i" 44
    environment { NAME "%i"; LITERAL "%%i" }
    environment-file "/etc/web/%i.env"
    transcript "/var/log/web-%i.log" keep=2
    instances "8080"
}
service "cache-8080" { exec "cache" }
"#,
    );
    assert_eq!(names(&config), ["db@8080", "web@8080", "cache-8080"]);
    let web = config.service("web@8080").unwrap();
    assert_eq!(web.description.as_deref(), Some("Web 8080 at 100%"));
    assert_eq!(
        web.command,
        Command::Exec(vec!["web".into(), "--port=8080".into()])
    );
    assert_eq!(web.requires, ["db@8080"]);
    assert_eq!(web.wants, ["cache-8080"]);
    assert_eq!(web.after, ["db@8080"]);
    assert_eq!(web.directory, Some("/srv/8080".into()));
    assert_eq!(web.user, Some(IdRef::Name("web-8080".into())));
    assert_eq!(web.group, Some(IdRef::Name("grp-8080".into())));
    assert_eq!(
        web.groups,
        Some(vec![IdRef::Name("g-8080".into()), IdRef::Id(44)])
    );
    assert_eq!(
        web.environment,
        [
            ("SITE".to_owned(), "site-8080".to_owned()),
            ("NAME".to_owned(), "8080".to_owned()),
            ("LITERAL".to_owned(), "%i".to_owned()),
        ]
    );
    assert_eq!(web.environment_file, Some("/etc/web/8080.env".into()));
    let transcript = web.transcript.as_ref().unwrap();
    assert_eq!(
        transcript.path,
        std::path::Path::new("/var/log/web-8080.log")
    );
    assert_eq!(transcript.keep, 2);
    let db = config.service("db@8080").unwrap();
    assert_eq!(db.command, Command::Shell("exec db --name 8080".into()));
    assert!(
        !db.autostart,
        "an instance follows its template's autostart"
    );
    assert!(web.autostart);
    // Outside templates `%` is not special, `defaults` included.
    let cache = config.service("cache-8080").unwrap();
    assert_eq!(cache.directory, Some("/srv/%i".into()));
}

#[test]
fn the_tty_and_pid_file_of_an_instance_are_its_own() {
    let config = load(
        r#"
service "getty@" { exec "getty" "%i"; tty "/dev/%i"; instances "tty2" }
service "daemon@" {
    exec "daemon" "%i"
    type "forking"
    pid-file "/run/daemon-%i.pid"
    instances "a"
}
"#,
    );
    let getty = config.service("getty@tty2").unwrap();
    assert_eq!(getty.tty, Some("/dev/tty2".into()));
    let daemon = config.service("daemon@a").unwrap();
    assert_eq!(daemon.pid_file, Some("/run/daemon-a.pid".into()));
}

#[test]
fn an_instances_stop_command_is_its_own() {
    let config = load(
        r#"
service "worker@" {
    exec "worker" "%i"
    stop-exec "workerctl" "stop" "%i"
    instances "q1"
}
service "pg@" {
    exec "postgres" "-D" "/var/lib/%i"
    stop-shell "pg_ctl stop -D /var/lib/%i"
    instances "main"
}
"#,
    );
    let worker = config.service("worker@q1").unwrap();
    assert_eq!(
        worker.stop_command,
        Some(Command::Exec(vec![
            "workerctl".into(),
            "stop".into(),
            "q1".into()
        ]))
    );
    let pg = config.service("pg@main").unwrap();
    assert_eq!(
        pg.stop_command,
        Some(Command::Shell("pg_ctl stop -D /var/lib/main".into()))
    );
}

#[test]
fn naming_an_instance_makes_it_and_what_it_names() {
    let config = load(
        r#"
service "login" { exec "login"; requires "worker@q1" }
service "worker@" { exec "worker" "%i"; requires "queue@%i"; autostart #false }
service "queue@" { exec "queue" "%i" }
"#,
    );
    assert_eq!(names(&config), ["login", "worker@q1", "queue@q1"]);
    assert!(!config.service("worker@q1").unwrap().autostart);
    assert_eq!(config.service("worker@q1").unwrap().requires, ["queue@q1"]);
}

#[test]
fn a_percent_outside_a_template_is_literal() {
    let config = load("service \"p\" { shell \"date +%s; echo 100%\" }\n");
    assert_eq!(
        config.service("p").unwrap().command,
        Command::Shell("date +%s; echo 100%".into())
    );
}

#[test]
fn a_bad_percent_in_defaults_is_an_error_only_for_templates() {
    let plain = "defaults { description \"%d\" }\nservice \"p\" { exec \"p\" }\n";
    assert_eq!(
        load(plain).service("p").unwrap().description.as_deref(),
        Some("%d")
    );
    // Reported once, however many templates inherit it.
    let error = load_sources(sources(&[(
        "test.kdl",
        &format!("{plain}service \"a@\" {{ exec \"a\" }}\nservice \"b@\" {{ exec \"b\" }}\n"),
    )]))
    .unwrap_err();
    let messages: Vec<&str> = error.problems().iter().map(|p| p.message()).collect();
    assert_eq!(messages, ["unknown `%d` in a template"]);
}

#[test]
fn instance_names_are_checked() {
    let accepted = [
        "a",
        "tty1",
        "ttyS0",
        "eth0.100",
        "a:b",
        "x_y-z",
        "...",
        &"a".repeat(64),
    ];
    for name in accepted {
        assert_eq!(instance_name_refusal(name), None, "{name:?}");
    }
    let refused = [
        "",
        ".",
        "..",
        "-x",
        "a/b",
        "a b",
        "a@b",
        "ä",
        &"a".repeat(65),
    ];
    for name in refused {
        assert!(instance_name_refusal(name).is_some(), "{name:?}");
    }
}

#[test]
fn an_instance_splits_at_its_last_at() {
    assert_eq!(split_instance("getty@tty1"), Some(("getty@", "tty1")));
    assert_eq!(split_instance("a@b@c"), Some(("a@b@", "c")));
    assert_eq!(split_instance("getty@"), None);
    assert_eq!(split_instance("plain"), None);
    assert!(is_template_name("getty@"));
    assert!(!is_template_name("getty@tty1"));
}

#[test]
fn a_template_with_a_problem_is_reported_once() {
    let error = load_sources(sources(&[(
        "test.kdl",
        "service \"t@\" { user \"x\"; instances \"a\" \"b\" }\n",
    )]))
    .unwrap_err();
    assert_eq!(error.problems().len(), 1, "{}", error.render(false));
}

snapshot!(
    template_unknown_percent,
    "service \"web@\" {\n    exec \"/bin/web\" \"--port=%p\"\n    environment { X \"50%\" }\n}\n"
);
snapshot!(
    template_percent_in_defaults,
    "defaults {\n    description \"%n\"\n}\nservice \"web@\" {\n    exec \"web\"\n}\n"
);
snapshot!(
    instance_names_invalid,
    "service \"getty@\" {\n    exec \"getty\" \"%i\"\n    instances \"tty/1\" \"-x\" \"..\" \"ok\"\n}\n"
);
snapshot!(
    instance_given_twice,
    "service \"getty@\" {\n    exec \"getty\"\n    instances \"tty1\" \"tty1\"\n}\n"
);
snapshot!(
    instance_name_invalid_in_dependency,
    "service \"getty@\" { exec \"getty\" }\nservice \"login\" {\n    exec \"login\"\n    requires \"getty@tty 1\"\n}\n"
);
snapshot!(
    instances_of_a_plain_service,
    "service \"getty\" {\n    exec \"getty\"\n    instances \"tty1\"\n}\n"
);
snapshot!(
    instances_in_defaults,
    "defaults {\n    instances \"tty1\"\n}\nservice \"getty@\" { exec \"getty\" }\n"
);
snapshot!(
    instance_beside_its_template,
    "service \"getty@\" { exec \"getty\" \"%i\" }\nservice \"getty@tty1\" { exec \"getty\" }\n"
);
snapshot!(
    requires_a_template,
    "service \"getty@\" { exec \"getty\" }\nservice \"login\" {\n    exec \"login\"\n    requires \"getty@\"\n}\n"
);
snapshot!(template_without_a_name, "service \"@\" { exec \"x\" }\n");
snapshot!(
    cycle_between_instances,
    "service \"a@\" {\n    exec \"a\"\n    requires \"b@%i\"\n    instances \"x\"\n}\nservice \"b@\" {\n    exec \"b\"\n    requires \"a@%i\"\n}\n"
);
snapshot!(
    template_without_command,
    "service \"getty@\" {\n    instances \"tty1\" \"tty2\"\n}\n"
);
snapshot!(
    template_names_an_unknown_service,
    "service \"getty@\" {\n    exec \"getty\"\n    requires \"udev\" \"tty-%i\"\n}\n"
);
snapshot!(
    instances_name_an_unknown_service_once,
    "service \"getty@\" {\n    exec \"getty\"\n    requires \"udev\"\n    instances \"a\" \"b\"\n}\n"
);

/// A template whose instances name ever longer new instances of it: made
/// until the cap, then one error, never until memory runs out.
const GROWING: &str = r#"
service "a@" {
    exec "true"
    requires "a@%ix" "a@%iy"
    instances "q"
}
"#;

#[test]
fn instances_that_name_ever_new_instances_stop_at_the_cap() {
    let report = render_errors(&[("a.kdl", GROWING)]);
    assert!(
        report.contains(&format!(
            "templates make more than {} instances",
            template::MAX_INSTANCES
        )),
        "{report}"
    );
}

#[test]
fn a_run_time_instance_that_would_make_too_many_is_refused_and_adds_nothing() {
    let mut config = load(&GROWING.replace("    instances \"q\"\n", ""));
    let before = config.services.len();
    match add_instance(&mut config, "a@q") {
        Err(InstanceProblem::Unresolved(reason)) => {
            assert!(reason.contains("more than"), "{reason}")
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(config.services.len(), before);
}
