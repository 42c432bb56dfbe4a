//! Tests of the loader as a whole: every key read into the model, the
//! `defaults` merge, and a snapshot of the rendered diagnostic (no color,
//! 100 columns, with the file:line:column it points at) for every kind of
//! error. Snapshots live in `src/config/snapshots/NAME.txt`; run with
//! `SVINIT_UPDATE_SNAPSHOTS=1` to rewrite them after a deliberate change,
//! then review the diff.

use std::path::PathBuf;
use std::time::Duration;

use miette::Diagnostic;

use super::*;
use crate::config::parse::DEFAULT_TRANSCRIPT_KEEP;

pub(super) fn sources(files: &[(&str, &str)]) -> Vec<(String, String)> {
    files
        .iter()
        .map(|(name, text)| (name.to_string(), text.to_string()))
        .collect()
}

pub(super) fn load(text: &str) -> Config {
    match load_sources(sources(&[("test.kdl", text)])) {
        Ok(config) => config,
        Err(error) => panic!("config should load:\n{}", error.render(false)),
    }
}

pub(super) fn render_errors(files: &[(&str, &str)]) -> String {
    match load_sources(sources(files)) {
        Ok(config) => panic!("config should be refused: {config:#?}"),
        Err(error) => error.render(false),
    }
}

pub(super) fn assert_snapshot(name: &str, actual: &str) {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("src/config/snapshots")
        .join(format!("{name}.txt"));
    if std::env::var_os("SVINIT_UPDATE_SNAPSHOTS").is_some() {
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(&path, actual).unwrap();
        return;
    }
    let expected = std::fs::read_to_string(&path).unwrap_or_default();
    assert!(
        expected == actual,
        "snapshot {name} differs (SVINIT_UPDATE_SNAPSHOTS=1 rewrites it)\n--- expected\n{expected}\n--- actual\n{actual}"
    );
}

/// `snapshot!(name, "kdl")`: the config is refused and its report matches
/// `snapshots/name.txt`. `snapshot!(name, files: [("a.kdl", "…"), …])` for
/// several files.
macro_rules! snapshot {
    ($name:ident, files: [$(($file:expr, $text:expr)),+ $(,)?]) => {
        #[test]
        fn $name() {
            assert_snapshot(stringify!($name), &render_errors(&[$(($file, $text)),+]));
        }
    };
    ($name:ident, $text:expr) => {
        snapshot!($name, files: [("test.kdl", $text)]);
    };
}
pub(super) use snapshot;

// ---------------------------------------------------------------- reading

#[test]
fn every_service_key_is_read() {
    let config = load(
        r#"
service "db" { exec "postgres" }
service "cache" { exec "redis" }
service "web" {
    description "Public HTTP frontend"
    exec "/usr/sbin/nginx" "-g" "daemon off;"
    type "forking"
    pid-file "/run/nginx.pid"
    autostart #false
    requires "db"
    requires "cache"
    wants "cache"
    after "db"
    before "late"
    directory "/srv/www"
    user "www-data"
    group 33
    groups "audio" 44
    umask 0o027
    environment {
        LD_LIBRARY_PATH "/opt/lib"
        _X1 ""
    }
    environment-file "/etc/default/web"
    clear-environment #true
    transcript "/var/log/web.log" max-size="10M" keep=3 timestamps=#true
    output "syslog"
    restart "always"
    exit-codes 0 3 255
    backoff-limit "1m30s"
    backoff "exponential"
    forever #true
    critical #true
    ready-notify #true
    watchdog "5s"
    start-timeout "250ms"
    stop-signal "SIGint"
    stop-exec "/usr/sbin/nginx" "-s" "quit"
    stop-timeout 7
    kill-mode "process"
    nice -5
    limits {
        nofile 1024 65536
        core "unlimited"
        stack "8M"
    }
}
service "late" { shell "echo late" }
// Keys that exclude some of web's: tty (transcript, output), ready-fd (ready-notify).
service "console" {
    exec "/sbin/getty" "tty1"
    tty "/dev/tty1"
    ready-fd 3
}
control group="svadm" read-group=1001
shutdown-timeout "30s"
"#,
    );
    let console = config.service("console").unwrap();
    assert_eq!(console.tty, Some("/dev/tty1".into()));
    assert_eq!(console.ready_fd, Some(3));
    let web = config.service("web").unwrap();
    let mut expected = ServiceConfig::new(
        "web",
        Command::Exec(vec![
            "/usr/sbin/nginx".into(),
            "-g".into(),
            "daemon off;".into(),
        ]),
    );
    expected.description = Some("Public HTTP frontend".into());
    expected.service_type = ServiceType::Forking;
    expected.pid_file = Some("/run/nginx.pid".into());
    expected.autostart = false;
    expected.requires = vec!["db".into(), "cache".into()];
    expected.wants = vec!["cache".into()];
    expected.after = vec!["db".into()];
    expected.before = vec!["late".into()];
    expected.directory = Some("/srv/www".into());
    expected.user = Some(IdRef::Name("www-data".into()));
    expected.group = Some(IdRef::Id(33));
    expected.groups = Some(vec![IdRef::Name("audio".into()), IdRef::Id(44)]);
    expected.umask = Some(0o027);
    expected.environment = vec![
        ("LD_LIBRARY_PATH".into(), "/opt/lib".into()),
        ("_X1".into(), "".into()),
    ];
    expected.environment_file = Some("/etc/default/web".into());
    expected.clear_environment = true;
    expected.transcript = Some(Transcript {
        path: "/var/log/web.log".into(),
        max_size: Some(10 << 20),
        keep: 3,
        timestamps: true,
    });
    expected.output = OutputMode::Syslog;
    expected.restart = RestartPolicy::Always;
    expected.exit_codes = vec![0, 3, 255];
    expected.backoff_limit = Duration::from_secs(90);
    expected.backoff = BackoffKind::Exponential;
    expected.forever = true;
    expected.critical = true;
    expected.ready_notify = true;
    expected.watchdog = Some(Duration::from_secs(5));
    expected.start_timeout = Duration::from_millis(250);
    expected.stop_signal = libc::SIGINT;
    expected.stop_command = Some(Command::Exec(vec![
        "/usr/sbin/nginx".into(),
        "-s".into(),
        "quit".into(),
    ]));
    expected.stop_timeout = Duration::from_secs(7);
    expected.kill_mode = KillMode::Process;
    expected.nice = Some(-5);
    expected.limits = vec![
        Limit {
            resource: libc::RLIMIT_NOFILE as i32,
            soft: Some(1024),
            hard: Some(65536),
        },
        Limit {
            resource: libc::RLIMIT_CORE as i32,
            soft: None,
            hard: None,
        },
        Limit {
            resource: libc::RLIMIT_STACK as i32,
            soft: Some(8 << 20),
            hard: Some(8 << 20),
        },
    ];
    assert_eq!(web, &expected);
    assert_eq!(
        config.service("late").unwrap().command,
        Command::Shell("echo late".into())
    );
    assert_eq!(
        config.control,
        ControlConfig {
            group: Some(IdRef::Name("svadm".into())),
            read_group: Some(IdRef::Id(1001)),
        }
    );
    assert_eq!(config.shutdown_timeout, Some(Duration::from_secs(30)));
    let names: Vec<&str> = config.services.iter().map(|s| s.name.as_str()).collect();
    assert_eq!(names, ["db", "cache", "web", "late", "console"]);
}

#[test]
fn a_minimal_service_gets_every_default() {
    let config = load("service \"x\" { exec \"x\" }");
    assert_eq!(
        config.services,
        vec![ServiceConfig::new("x", Command::Exec(vec!["x".into()]))]
    );
    assert_eq!(config.control, ControlConfig::default());
    assert_eq!(config.shutdown_timeout, None);
}

#[test]
fn exit_codes_default_to_0_and_zdaemons_list_is_asked_for() {
    // SPEC §3: an exit 2 (a usage error) is a failure unless said otherwise.
    let config = load(
        r#"
service "plain" { exec "x" }
service "zdaemon" { exec "x"; exit-codes 0 2 }
"#,
    );
    let codes: Vec<&[i32]> = config
        .services
        .iter()
        .map(|s| s.exit_codes.as_slice())
        .collect();
    assert_eq!(codes, [&[0][..], &[0, 2][..]]);
}

#[test]
fn watchdog_needs_ready_notify_and_has_no_default() {
    let config = load(
        r#"
defaults { ready-notify #true; }
service "plain" { exec "x" }
service "dog" { exec "x"; watchdog "1m30s" }
"#,
    );
    let watchdogs: Vec<_> = config.services.iter().map(|s| s.watchdog).collect();
    assert_eq!(watchdogs, [None, Some(Duration::from_secs(90))]);
}

#[test]
fn transcript_defaults() {
    let config = load("service \"x\" { exec \"x\"; transcript \"/tmp/x.log\" }");
    assert_eq!(
        config.services[0].transcript,
        Some(Transcript {
            path: "/tmp/x.log".into(),
            max_size: None,
            keep: DEFAULT_TRANSCRIPT_KEEP,
            timestamps: false,
        })
    );
}

#[test]
fn restart_defaults_to_the_type() {
    let config = load(
        r#"
service "a" { exec "a" }
service "b" { exec "b"; type "oneshot" }
service "c" { exec "c"; type "forking"; pid-file "/run/c.pid" }
service "d" { exec "d"; type "oneshot"; restart "on-failure" }
"#,
    );
    let restart: Vec<RestartPolicy> = config.services.iter().map(|s| s.restart).collect();
    use RestartPolicy::*;
    assert_eq!(restart, [OnFailure, Never, OnFailure, OnFailure]);
}

#[test]
fn defaults_apply_unless_the_service_sets_the_key() {
    let config = load(
        r#"
defaults {
    stop-timeout "5s"
    type "oneshot"
    user "nobody"
    after "log"
    environment {
        LANG "C.UTF-8"
        MODE "default"
    }
    limits { nofile 1024; core 0 }
}
service "log" { exec "logd"; type "longrun" }
service "job" {
    exec "job"
    user 1000
    environment { MODE "job" }
    limits { nofile 4096 }
}
service "own-order" { exec "x"; after "job" }
"#,
    );
    let log = config.service("log").unwrap();
    assert_eq!(log.stop_timeout, Duration::from_secs(5));
    assert_eq!(log.service_type, ServiceType::Longrun);
    assert_eq!(log.restart, RestartPolicy::OnFailure);
    assert!(
        log.after.is_empty(),
        "a default never names the service itself"
    );
    assert_eq!(log.user, Some(IdRef::Name("nobody".into())));

    let job = config.service("job").unwrap();
    assert_eq!(job.service_type, ServiceType::Oneshot);
    assert_eq!(job.restart, RestartPolicy::Never, "resolved after merging");
    assert_eq!(job.user, Some(IdRef::Id(1000)));
    assert_eq!(job.after, ["log"]);
    assert_eq!(
        job.environment,
        [
            ("LANG".to_string(), "C.UTF-8".to_string()),
            ("MODE".to_string(), "job".to_string())
        ]
    );
    let nofile = libc::RLIMIT_NOFILE as i32;
    let core = libc::RLIMIT_CORE as i32;
    let limits: Vec<(i32, Option<u64>)> = job.limits.iter().map(|l| (l.resource, l.soft)).collect();
    assert_eq!(limits, [(core, Some(0)), (nofile, Some(4096))]);

    assert_eq!(config.service("own-order").unwrap().after, ["job"]);
}

#[test]
fn defaults_can_give_the_command_and_the_restart_policy() {
    let config = load(
        r#"
defaults { shell "exec sleep 100"; restart "always" }
service "a" {}
service "b" { exec "b"; type "oneshot" }
"#,
    );
    assert_eq!(
        config.services[0].command,
        Command::Shell("exec sleep 100".into())
    );
    assert_eq!(config.services[1].command, Command::Exec(vec!["b".into()]));
    assert_eq!(config.services[1].restart, RestartPolicy::Always);
}

#[test]
fn a_service_own_stop_command_replaces_either_default_one() {
    let config = load(
        r#"
defaults { stop-shell "kill -QUIT $MAINPID" }
service "a" { exec "a" }
service "b" { exec "b"; stop-exec "b" "stop" }
"#,
    );
    assert_eq!(
        config.services[0].stop_command,
        Some(Command::Shell("kill -QUIT $MAINPID".into()))
    );
    assert_eq!(
        config.services[1].stop_command,
        Some(Command::Exec(vec!["b".into(), "stop".into()]))
    );
}

#[test]
fn a_longrun_may_have_a_pid_file_for_svinit_to_write() {
    let config = load("service \"web\" { exec \"web\"; pid-file \"/run/web.pid\" }\n");
    assert_eq!(config.services[0].pid_file, Some("/run/web.pid".into()));
}

#[test]
fn umask_forms() {
    for (text, expected) in [
        ("0o027", 0o027),
        ("\"027\"", 0o027),
        ("\"0027\"", 0o027),
        ("0", 0),
    ] {
        let config = load(&format!("service \"x\" {{ exec \"x\"; umask {text} }}"));
        assert_eq!(config.services[0].umask, Some(expected), "{text}");
    }
}

#[test]
fn signal_forms() {
    for (text, expected) in [
        ("\"TERM\"", libc::SIGTERM),
        ("\"sigkill\"", libc::SIGKILL),
        ("\"Hup\"", libc::SIGHUP),
        ("10", 10),
    ] {
        let config = load(&format!(
            "service \"x\" {{ exec \"x\"; stop-signal {text} }}"
        ));
        assert_eq!(config.services[0].stop_signal, expected, "{text}");
    }
}

#[test]
fn files_are_merged_in_order() {
    let config = load_sources(sources(&[
        (
            "10-base.kdl",
            "service \"db\" { exec \"db\" }\nshutdown-timeout 5",
        ),
        (
            "20-web.kdl",
            "service \"web\" { exec \"web\"; requires \"db\" }",
        ),
    ]))
    .unwrap();
    let names: Vec<&str> = config.services.iter().map(|s| s.name.as_str()).collect();
    assert_eq!(names, ["db", "web"]);
    assert_eq!(config.shutdown_timeout, Some(Duration::from_secs(5)));
}

#[test]
fn an_empty_config_is_valid() {
    assert_eq!(load("// nothing yet\n"), Config::default());
}

// ------------------------------------------------------- files and directories

/// A fresh directory under the system temp dir, removed on drop.
struct TempDir(PathBuf);

impl TempDir {
    fn new(tag: &str) -> Self {
        let path =
            std::env::temp_dir().join(format!("svinit-config-test-{tag}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&path);
        std::fs::create_dir_all(&path).unwrap();
        TempDir(path)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

#[test]
fn a_directory_is_read_in_name_order_skipping_other_files() {
    let dir = TempDir::new("order");
    let write = |name: &str, text: &str| std::fs::write(dir.0.join(name), text).unwrap();
    write("b.kdl", "service \"second\" { exec \"b\" }");
    write("a.kdl", "service \"first\" { exec \"a\" }");
    write("notes.txt", "not kdl");
    write(".hidden.kdl", "broken {");
    write("c.kdl.bak", "broken {");
    std::fs::create_dir(dir.0.join("sub.kdl")).unwrap();
    let config = load_path(&dir.0).unwrap();
    let names: Vec<&str> = config.services.iter().map(|s| s.name.as_str()).collect();
    assert_eq!(names, ["first", "second"]);

    let file = load_path(&dir.0.join("b.kdl")).unwrap();
    assert_eq!(file.services[0].name, "second");
}

#[test]
fn diagnostics_name_the_file_path() {
    let dir = TempDir::new("names");
    std::fs::write(
        dir.0.join("web.kdl"),
        "service \"web\" { exec \"web\"; umsk 1 }",
    )
    .unwrap();
    let report = load_path(&dir.0).unwrap_err().render(false);
    let shown = format!("[{}:1:29]", dir.0.join("web.kdl").display());
    assert!(report.contains(&shown), "{report}");
}

/// The only message of a refused config, with `dir` shown as `DIR`.
fn only_message(error: &ConfigError, dir: &TempDir) -> String {
    assert_eq!(error.problems().len(), 1, "{}", error.render(false));
    let problem = &error.problems()[0];
    let shown = dir.0.display().to_string();
    format!(
        "{}\n{}",
        problem,
        Diagnostic::help(problem)
            .map(|h| h.to_string())
            .unwrap_or_default()
    )
    .replace(&shown, "DIR")
}

#[test]
fn a_directory_without_kdl_files_is_an_error() {
    let dir = TempDir::new("empty");
    std::fs::write(dir.0.join("README"), "").unwrap();
    let error = load_path(&dir.0).unwrap_err();
    assert_eq!(
        only_message(&error, &dir),
        "no `*.kdl` file in config directory `DIR`\n\
         svinit reads every `*.kdl` file of the directory (not of its subdirectories); \
         create one, e.g. `DIR/services.kdl`"
    );
}

#[test]
fn ready_notify_false_goes_with_ready_fd() {
    let config =
        load("service \"web\" {\n    exec \"web\"\n    ready-fd 3\n    ready-notify #false\n}\n");
    assert_eq!(config.services[0].ready_fd, Some(3));
}

#[test]
fn only_a_file_or_a_directory_with_kdl_files_is_a_config() {
    let dir = TempDir::new("has-config");
    assert!(!has_config(&dir.0.join("nope")));
    std::fs::write(dir.0.join("README"), "").unwrap();
    std::fs::write(dir.0.join(".hidden.kdl"), "").unwrap();
    std::fs::create_dir(dir.0.join("sub.kdl")).unwrap();
    assert!(!has_config(&dir.0), "no usable *.kdl file: no config");
    std::fs::write(dir.0.join("a.kdl"), "").unwrap();
    assert!(has_config(&dir.0));
    assert!(has_config(&dir.0.join("README")), "a file is a config");
}

#[test]
fn a_missing_path_is_an_error() {
    let dir = TempDir::new("missing");
    let error = load_path(&dir.0.join("nope")).unwrap_err();
    assert_eq!(
        only_message(&error, &dir),
        "cannot read config `DIR/nope`: No such file or directory (os error 2)\n\
         give a config file or directory with `-c PATH` or SVINIT_CONFIG"
    );
}

// ------------------------------------------------------ config to run

fn a_command() -> Vec<String> {
    vec!["sleep".to_string(), "1".to_string()]
}

fn command_service(name: &str) -> ServiceConfig {
    ServiceConfig::new(name, Command::Exec(a_command()))
}

fn names_to_run(loaded: &ConfigToRun) -> Vec<&str> {
    let services = loaded.config.services.iter();
    services.map(|s| s.name.as_str()).collect()
}

/// Start-up and reload both call `config_to_run`: an empty directory and
/// a missing path are no config, and a command runs alone.
#[test]
fn no_config_and_a_command_runs_the_command_alone() {
    let empty = TempDir::new("run-empty");
    std::fs::write(empty.0.join("README"), "no units here\n").unwrap();
    let missing = empty.0.join("nope");
    let main = a_command();
    for path in [&empty.0, &missing] {
        let loaded = config_to_run(path, Some(&main), &[]).unwrap();
        assert!(
            loaded.alone && loaded.config == Config::default(),
            "{path:?}"
        );
        let loaded = config_to_run(path, None, &[command_service("sleep")]).unwrap();
        assert!(loaded.alone, "{path:?}");
        assert_eq!(names_to_run(&loaded), ["sleep"]);
        // Without a command there is nothing to run: the error says why.
        let Err(RunConfigError::Invalid(error)) = config_to_run(path, None, &[]) else {
            panic!("no config and no command must be an error: {path:?}");
        };
        assert!(error.render(false).contains(&*path.to_string_lossy()));
    }
}

#[test]
fn a_config_is_loaded_and_the_command_service_added() {
    let units = TempDir::new("run-units");
    std::fs::write(units.0.join("a.kdl"), "service \"web\" { exec \"web\" }\n").unwrap();
    let loaded = config_to_run(&units.0, None, &[command_service("sleep")]).unwrap();
    assert!(!loaded.alone);
    assert_eq!(names_to_run(&loaded), ["web", "sleep"]);
    let main = a_command();
    let loaded = config_to_run(&units.0, Some(&main), &[]).unwrap();
    assert_eq!(names_to_run(&loaded), ["web"]);
    let taken = config_to_run(&units.0, None, &[command_service("web")]);
    assert!(matches!(taken, Err(RunConfigError::NameTaken(text)) if text.contains("`web`")));
}

#[test]
fn a_broken_config_is_an_error_with_or_without_a_command() {
    let broken = TempDir::new("run-broken");
    std::fs::write(broken.0.join("a.kdl"), "service \"web\" { exec }\n").unwrap();
    let main = a_command();
    let extra = [command_service("sleep")];
    let asked: [(Option<&[String]>, &[ServiceConfig]); 3] =
        [(None, &[]), (Some(&main), &[]), (None, &extra)];
    let rendered: Vec<String> = asked
        .into_iter()
        .map(
            |(main, extra)| match config_to_run(&broken.0, main, extra) {
                Err(RunConfigError::Invalid(error)) => error.render(false),
                other => panic!("a broken config must not run: {other:?}"),
            },
        )
        .collect();
    assert!(rendered[0].contains("a.kdl"), "{}", rendered[0]);
    assert!(rendered.iter().all(|text| *text == rendered[0]));
}

#[test]
fn a_file_that_is_not_utf8_is_an_error() {
    let dir = TempDir::new("utf8");
    std::fs::write(dir.0.join("bad.kdl"), b"service \"x\xff\" {}").unwrap();
    std::fs::write(dir.0.join("good.kdl"), "service \"y\" { exec \"y\" }").unwrap();
    let error = load_path(&dir.0).unwrap_err();
    assert_eq!(
        only_message(&error, &dir),
        "config file `DIR/bad.kdl` is not valid UTF-8 (first bad byte at offset 10)\n\
         unit files are KDL documents, which are UTF-8 text"
    );
}

#[test]
fn every_problem_is_reported_at_once() {
    let error = load_sources(sources(&[(
        "test.kdl",
        r#"
service "a" {
    exec "a"
    umask 999
    nice 50
    stop-signal "NOPE"
    requires "b" "zzz"
}
service "b" { requires "a" }
servce "c" {}
"#,
    )]))
    .unwrap_err();
    let messages: Vec<&str> = error.problems().iter().map(|p| p.message()).collect();
    assert_eq!(
        messages,
        [
            "umask 999 is not written in octal",
            "50 is out of range: expected -20 to 19",
            "unknown signal \"NOPE\"",
            "dependency cycle: `a` → `b` → `a`",
            "unknown service `zzz` in `requires` of `a`",
            "service `b` has no `exec` or `shell`",
            "unknown top-level node `servce`",
        ]
    );
    assert_eq!(error.to_string(), "invalid configuration: 7 problems");
}

// ------------------------------------------------------ diagnostics per kind

/// A report line that is only a severity (`Error: `, `Advice: `): miette
/// writes one before every related diagnostic, which reads as an empty
/// error. Neither a fresh report nor any stored snapshot may have one.
#[test]
fn no_report_has_a_bare_severity_line() {
    let bare = |text: &str| {
        text.lines()
            .find(|line| matches!(line.trim(), "Error:" | "Warning:" | "Advice:"))
            .map(str::to_owned)
    };
    let report = render_errors(&[
        (
            "a.kdl",
            "service \"a\" {\n    exec \"a\"\n    requires \"b\"\n    umsk 1\n}\n",
        ),
        (
            "b.kdl",
            "service \"b\" {\n    exec \"b\"\n    requires \"a\"\n}\n",
        ),
    ]);
    assert_eq!(bare(&report), None, "{report}");
    let snapshots = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("src/config/snapshots");
    for entry in std::fs::read_dir(snapshots).unwrap() {
        let path = entry.unwrap().path();
        let text = std::fs::read_to_string(&path).unwrap();
        assert_eq!(bare(&text), None, "{}:\n{text}", path.display());
    }
}

snapshot!(
    unknown_key_with_suggestion,
    "service \"web\" {\n    exec \"web\"\n    umsk 0o022\n}\n"
);
snapshot!(
    unknown_key_without_suggestion,
    "service \"web\" {\n    exec \"web\"\n    frobnicate 1\n}\n"
);
snapshot!(
    nested_service,
    "service \"web\" {\n    exec \"web\"\n    service \"inner\" {}\n}\n"
);
snapshot!(
    unknown_top_level_node,
    "servce \"web\" {\n    exec \"web\"\n}\n"
);
snapshot!(service_key_at_top_level, "exec \"/bin/sh\"\n");
snapshot!(
    duplicate_key,
    "service \"web\" {\n    exec \"web\"\n    umask 0o022\n    umask 0o077\n}\n"
);
snapshot!(
    duplicate_service_name,
    "service \"web\" { exec \"a\" }\nservice \"web\" { exec \"b\" }\n"
);
snapshot!(
    duplicate_service_name_across_files,
    files: [
        ("10-a.kdl", "service \"web\" { exec \"a\" }\n"),
        ("20-b.kdl", "// second\nservice \"web\" { exec \"b\" }\n"),
    ]
);
snapshot!(missing_command, "service \"web\" {\n    user \"www\"\n}\n");
snapshot!(service_without_block, "service \"web\"\n");
snapshot!(
    exec_and_shell,
    "service \"web\" {\n    exec \"web\"\n    shell \"web --x\"\n}\n"
);
snapshot!(
    stop_exec_and_stop_shell,
    "service \"db\" {\n    exec \"postgres\"\n    stop-exec \"pg_ctl\" \"stop\"\n    stop-shell \"pg_ctl stop\"\n}\n"
);
snapshot!(
    stop_exec_empty_program,
    "service \"db\" {\n    exec \"postgres\"\n    stop-exec \"\"\n}\n"
);
snapshot!(
    stop_shell_empty,
    "service \"db\" {\n    exec \"postgres\"\n    stop-shell \" \"\n}\n"
);
snapshot!(
    ready_fd_and_ready_notify,
    "service \"web\" {\n    exec \"web\"\n    ready-fd 3\n    ready-notify #true\n}\n"
);
snapshot!(
    tty_and_transcript_and_output,
    "service \"sh\" {\n    exec \"sh\"\n    tty \"/dev/tty1\"\n    transcript \"/var/log/sh.log\"\n    output \"null\"\n}\n"
);
snapshot!(exec_without_arguments, "service \"web\" {\n    exec\n}\n");
snapshot!(
    exec_with_a_number,
    "service \"web\" {\n    exec \"sleep\" 10\n}\n"
);
snapshot!(
    exec_empty_program,
    "service \"web\" {\n    exec \"\" \"x\"\n}\n"
);
snapshot!(
    exec_with_nul,
    "service \"web\" {\n    exec \"a\\u{0}b\"\n}\n"
);
snapshot!(shell_empty, "service \"web\" {\n    shell \"  \"\n}\n");
snapshot!(
    shell_two_scripts,
    "service \"web\" {\n    shell \"a\" \"b\"\n}\n"
);
snapshot!(
    description_not_a_string,
    "service \"web\" {\n    exec \"web\"\n    description #true\n}\n"
);
snapshot!(
    type_typo,
    "service \"web\" {\n    exec \"web\"\n    type \"onshot\"\n}\n"
);
snapshot!(
    type_unknown,
    "service \"web\" {\n    exec \"web\"\n    type \"daemon\"\n}\n"
);
snapshot!(
    forking_without_pid_file,
    "service \"web\" {\n    exec \"web\"\n    type \"forking\"\n}\n"
);
snapshot!(
    watchdog_without_ready_notify,
    "service \"web\" {\n    exec \"web\"\n    watchdog \"5s\"\n}\n"
);
snapshot!(
    watchdog_with_ready_notify_false,
    "service \"web\" {\n    exec \"web\"\n    ready-notify #false\n    watchdog \"5s\"\n}\n"
);
snapshot!(
    watchdog_zero,
    "service \"web\" {\n    exec \"web\"\n    ready-notify #true\n    watchdog 0\n}\n"
);
snapshot!(
    watchdog_typo,
    "service \"web\" {\n    exec \"web\"\n    ready-notify #true\n    whatchdog \"5s\"\n}\n"
);
snapshot!(
    defaults_watchdog_without_ready_notify,
    "defaults {\n    watchdog \"5s\"\n}\nservice \"a\" { exec \"a\"; ready-notify #true }\nservice \"b\" { exec \"b\" }\n"
);
snapshot!(
    ready_probe_with_ready_fd_from_defaults,
    "defaults {\n    ready-fd 3\n}\nservice \"x\" {\n    exec \"x\"\n    ready-probe { connect \"127.0.0.1:80\"; }\n}\n"
);
snapshot!(
    ready_probe_from_defaults_with_ready_notify,
    "defaults {\n    ready-probe { connect \"127.0.0.1:80\"; }\n}\nservice \"x\" {\n    exec \"x\"\n    ready-notify #true\n}\nservice \"y\" { exec \"y\"; ready-notify #false; }\n"
);
snapshot!(
    ready_fd_and_ready_notify_in_defaults_reported_once,
    "defaults {\n    ready-fd 3\n    ready-notify #true\n}\nservice \"x\" { exec \"x\"; }\nservice \"y\" { exec \"y\"; }\n"
);
snapshot!(
    ready_fd_from_defaults_with_ready_notify,
    "defaults {\n    ready-fd 3\n}\nservice \"x\" {\n    exec \"x\"\n    ready-notify #true\n}\nservice \"y\" { exec \"y\"; ready-notify #false; }\n"
);
snapshot!(
    pid_file_on_a_oneshot,
    "service \"setup\" {\n    exec \"setup\"\n    type \"oneshot\"\n    pid-file \"/run/setup.pid\"\n}\n"
);
snapshot!(
    pid_file_relative,
    "service \"web\" {\n    exec \"web\"\n    type \"forking\"\n    pid-file \"web.pid\"\n}\n"
);
snapshot!(
    type_typo_with_pid_file_reports_only_the_typo,
    "service \"web\" {\n    exec \"web\"\n    type \"forkin\"\n    pid-file \"/run/web.pid\"\n}\n"
);
snapshot!(
    autostart_quoted_bool,
    "service \"web\" {\n    exec \"web\"\n    autostart \"true\"\n}\n"
);
snapshot!(
    unknown_dependency_with_suggestion,
    "service \"database\" { exec \"db\" }\nservice \"web\" {\n    exec \"web\"\n    requires \"databse\"\n}\n"
);
snapshot!(
    unknown_dependency,
    "service \"web\" {\n    exec \"web\"\n    wants \"redis\"\n}\n"
);
snapshot!(
    depends_on_itself,
    "service \"web\" {\n    exec \"web\"\n    after \"web\"\n}\n"
);
snapshot!(
    requires_without_names,
    "service \"web\" {\n    exec \"web\"\n    requires\n}\n"
);
snapshot!(
    cycle_of_two,
    "service \"web\" {\n    exec \"web\"\n    requires \"db\"\n}\nservice \"db\" {\n    exec \"db\"\n    after \"web\"\n}\n"
);
snapshot!(
    cycle_of_three_with_before,
    r#"service "a" {
    exec "a"
    requires "b"
    before "c"
}
service "b" {
    exec "b"
    wants "c"
}
service "c" {
    exec "c"
}
service "d" {
    exec "d"
    requires "a"
}
"#
);
snapshot!(
    cycle_across_files,
    files: [
        ("a.kdl", "service \"a\" {\n    exec \"a\"\n    requires \"b\"\n}\n"),
        ("b.kdl", "service \"b\" {\n    exec \"b\"\n    requires \"a\"\n}\n"),
    ]
);
snapshot!(
    two_cycles,
    "service \"a\" { exec \"a\"; after \"b\" }\nservice \"b\" { exec \"b\"; after \"a\" }\nservice \"c\" { exec \"c\"; after \"d\" }\nservice \"d\" { exec \"d\"; after \"c\" }\n"
);
snapshot!(
    directory_relative,
    "service \"web\" {\n    exec \"web\"\n    directory \"srv/www\"\n}\n"
);
snapshot!(
    user_negative_id,
    "service \"web\" {\n    exec \"web\"\n    user -1\n}\n"
);
snapshot!(
    group_name_with_colon,
    "service \"web\" {\n    exec \"web\"\n    group \"www:data\"\n}\n"
);
snapshot!(
    groups_with_a_boolean,
    "service \"web\" {\n    exec \"web\"\n    groups \"audio\" #false\n}\n"
);
snapshot!(
    umask_written_in_decimal,
    "service \"web\" {\n    exec \"web\"\n    umask 027\n}\n"
);
snapshot!(
    umask_out_of_range,
    "service \"web\" {\n    exec \"web\"\n    umask 0o1777\n}\n"
);
snapshot!(
    umask_string_not_octal,
    "service \"web\" {\n    exec \"web\"\n    umask \"0789\"\n}\n"
);
snapshot!(
    environment_invalid_name,
    "service \"web\" {\n    exec \"web\"\n    environment {\n        \"MY-VAR\" \"x\"\n    }\n}\n"
);
snapshot!(
    environment_duplicate_name,
    "service \"web\" {\n    exec \"web\"\n    environment {\n        A \"1\"\n        A \"2\"\n    }\n}\n"
);
snapshot!(
    environment_value_not_a_string,
    "service \"web\" {\n    exec \"web\"\n    environment {\n        PORT 8080\n    }\n}\n"
);
snapshot!(
    environment_two_values,
    "service \"web\" {\n    exec \"web\"\n    environment {\n        A \"1\" \"2\"\n    }\n}\n"
);
snapshot!(
    environment_without_block,
    "service \"web\" {\n    exec \"web\"\n    environment \"A=1\"\n}\n"
);
snapshot!(
    environment_file_relative,
    "service \"web\" {\n    exec \"web\"\n    environment-file \"web.env\"\n}\n"
);
snapshot!(
    clear_environment_not_a_bool,
    "service \"web\" {\n    exec \"web\"\n    clear-environment 1\n}\n"
);
snapshot!(
    transcript_relative_path,
    "service \"web\" {\n    exec \"web\"\n    transcript \"web.log\"\n}\n"
);
snapshot!(
    transcript_bad_properties,
    "service \"web\" {\n    exec \"web\"\n    transcript \"/var/log/web.log\" max-size=\"10Q\" keep=-1 timestamps=\"yes\"\n}\n"
);
snapshot!(
    transcript_unknown_property,
    "service \"web\" {\n    exec \"web\"\n    transcript \"/var/log/web.log\" max_size=\"10M\"\n}\n"
);
snapshot!(
    transcript_property_twice,
    "service \"web\" {\n    exec \"web\"\n    transcript \"/var/log/web.log\" keep=1 keep=2\n}\n"
);
snapshot!(
    transcript_zero_max_size,
    "service \"web\" {\n    exec \"web\"\n    transcript \"/var/log/web.log\" max-size=0\n}\n"
);
snapshot!(
    output_typo,
    "service \"web\" {\n    exec \"web\"\n    output \"prefx\"\n}\n"
);
snapshot!(
    tty_relative,
    "service \"web\" {\n    exec \"web\"\n    tty \"tty1\"\n}\n"
);
snapshot!(
    restart_typo,
    "service \"web\" {\n    exec \"web\"\n    restart \"on-failur\"\n}\n"
);
snapshot!(
    exit_code_out_of_range,
    "service \"web\" {\n    exec \"web\"\n    exit-codes 0 256\n}\n"
);
snapshot!(
    backoff_limit_negative,
    "service \"web\" {\n    exec \"web\"\n    backoff-limit -1\n}\n"
);
snapshot!(
    backoff_typo,
    "service \"web\" {\n    exec \"web\"\n    backoff \"exponental\"\n}\n"
);
snapshot!(
    forever_without_value,
    "service \"web\" {\n    exec \"web\"\n    forever\n}\n"
);
snapshot!(
    critical_two_values,
    "service \"web\" {\n    exec \"web\"\n    critical #true #false\n}\n"
);
snapshot!(
    ready_fd_below_three,
    "service \"web\" {\n    exec \"web\"\n    ready-fd 1\n}\n"
);
snapshot!(
    ready_notify_not_a_bool,
    "service \"web\" {\n    exec \"web\"\n    ready-notify \"yes\"\n}\n"
);
snapshot!(
    start_timeout_nonsense,
    "service \"web\" {\n    exec \"web\"\n    start-timeout \"soon\"\n}\n"
);
snapshot!(
    start_timeout_without_unit,
    "service \"web\" {\n    exec \"web\"\n    start-timeout \"30\"\n}\n"
);
snapshot!(
    start_timeout_fraction,
    "service \"web\" {\n    exec \"web\"\n    start-timeout \"1.5s\"\n}\n"
);
snapshot!(
    start_timeout_zero,
    "service \"web\" {\n    exec \"web\"\n    start-timeout 0\n}\n"
);
snapshot!(
    stop_signal_typo,
    "service \"web\" {\n    exec \"web\"\n    stop-signal \"SIGTREM\"\n}\n"
);
snapshot!(
    stop_signal_out_of_range,
    "service \"web\" {\n    exec \"web\"\n    stop-signal 99\n}\n"
);
snapshot!(
    stop_timeout_float,
    "service \"web\" {\n    exec \"web\"\n    stop-timeout 1.5\n}\n"
);
snapshot!(
    kill_mode_typo,
    "service \"web\" {\n    exec \"web\"\n    kill-mode \"proces\"\n}\n"
);
snapshot!(
    nice_out_of_range,
    "service \"web\" {\n    exec \"web\"\n    nice 20\n}\n"
);
snapshot!(
    limit_unknown_name,
    "service \"web\" {\n    exec \"web\"\n    limits {\n        nofiles 1024\n    }\n}\n"
);
snapshot!(
    limit_soft_above_hard,
    "service \"web\" {\n    exec \"web\"\n    limits {\n        nofile 4096 1024\n    }\n}\n"
);
snapshot!(
    limit_soft_unlimited_hard_finite,
    "service \"web\" {\n    exec \"web\"\n    limits {\n        core \"unlimited\" 0\n    }\n}\n"
);
snapshot!(
    limit_three_values,
    "service \"web\" {\n    exec \"web\"\n    limits {\n        nproc 1 2 3\n    }\n}\n"
);
snapshot!(
    limit_bad_value,
    "service \"web\" {\n    exec \"web\"\n    limits {\n        nofile \"many\"\n    }\n}\n"
);
snapshot!(
    limit_given_twice,
    "service \"web\" {\n    exec \"web\"\n    limits {\n        nofile 1\n        nofile 2\n    }\n}\n"
);
snapshot!(
    unexpected_property,
    "service \"web\" {\n    exec \"web\"\n    umask 0o022 mode=1\n}\n"
);
snapshot!(
    unexpected_block,
    "service \"web\" {\n    exec \"web\"\n    umask 0o022 { x }\n}\n"
);
snapshot!(
    type_annotation,
    "service \"web\" {\n    exec \"web\"\n    nice (i8)5\n}\n"
);
snapshot!(
    service_name_with_slash,
    "service \"a/b\" {\n    exec \"x\"\n}\n"
);
snapshot!(
    service_name_with_space,
    "service \"my service\" {\n    exec \"x\"\n}\n"
);
snapshot!(service_name_empty, "service \"\" {\n    exec \"x\"\n}\n");
#[test]
fn a_template_name_leaves_room_for_any_instance_within_255_bytes() {
    let config = |name: &str| format!("service \"{name}\" {{\n    exec \"x\"\n}}\n");
    load(&config(&format!("{}@", "t".repeat(190))));
    let report = render_errors(&[("test.kdl", &config(&format!("{}@", "t".repeat(191))))]);
    assert!(
        report.contains("template name longer than 191 bytes"),
        "{report}"
    );
}
snapshot!(
    service_name_not_a_string,
    "service 5 {\n    exec \"x\"\n}\n"
);
snapshot!(service_without_name, "service {\n    exec \"x\"\n}\n");
snapshot!(
    service_with_two_names,
    "service \"a\" \"b\" {\n    exec \"x\"\n}\n"
);
snapshot!(
    defaults_unknown_key,
    "defaults {\n    stop-timout \"5s\"\n}\n"
);
snapshot!(
    defaults_bad_value,
    "defaults {\n    restart \"sometimes\"\n}\nservice \"a\" { exec \"a\" }\n"
);
snapshot!(
    defaults_given_twice,
    files: [
        ("a.kdl", "defaults {\n    nice 1\n}\n"),
        ("b.kdl", "defaults {\n    nice 2\n}\n"),
    ]
);
snapshot!(
    defaults_forking_without_pid_file,
    "defaults {\n    type \"forking\"\n}\nservice \"a\" { exec \"a\" }\n"
);
snapshot!(
    control_unknown_property,
    "control group=\"adm\" readgroup=\"mon\"\n"
);
snapshot!(control_bad_group, "control group=-5\n");
snapshot!(control_with_argument, "control \"adm\"\n");
snapshot!(shutdown_timeout_nonsense, "shutdown-timeout \"later\"\n");
snapshot!(
    shutdown_timeout_twice,
    "shutdown-timeout \"30s\"\nshutdown-timeout \"60s\"\n"
);
snapshot!(syntax_error, "service \"web\" {\n    exec \"web\" 1.\n}\n");
snapshot!(
    syntax_error_unclosed_block,
    "service \"web\" {\n    exec \"web\"\n"
);
snapshot!(
    syntax_error_kdl_v1_boolean,
    "service \"web\" {\n    exec \"web\"\n    forever true\n}\n"
);
snapshot!(
    syntax_error_in_one_file_others_still_checked,
    files: [
        ("a.kdl", "service \"web\" {\n    exec \"web\n}\n"),
        ("b.kdl", "service \"db\" {\n    exec \"db\"\n    requires \"not-reported\"\n    nice 99\n}\n"),
    ]
);

// ------------------------------------------------------------ examples

#[test]
fn every_example_in_units_passes_check() {
    let units = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("units");
    let mut checked = Vec::new();
    for entry in std::fs::read_dir(&units).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            if let Err(error) = load_path(&path) {
                panic!("{} fails --check:\n{}", path.display(), error.render(false));
            }
            checked.push(path.file_name().unwrap().to_string_lossy().into_owned());
        }
    }
    checked.sort();
    assert!(checked.len() >= 3, "{checked:?}");
    for expected in ["container", "demo", "embedded"] {
        assert!(checked.iter().any(|name| name == expected), "{checked:?}");
    }
}

// ------------------------------------------------------------ scale

/// A config of `count` services in files of 1000, each service with a few
/// keys and up to three dependencies on earlier services (a DAG about
/// log2(count) levels deep).
fn large_config(count: usize) -> Vec<(String, String)> {
    let mut files = Vec::new();
    let mut text = String::new();
    for i in 0..count {
        text.push_str(&format!(
            "service \"svc-{i}\" {{\n    exec \"/usr/bin/daemon\" \"--id\" \"{i}\"\n    stop-timeout \"5s\"\n    environment {{ ID \"{i}\" }}\n"
        ));
        if i > 0 {
            text.push_str(&format!("    requires \"svc-{}\"\n", i / 2));
        }
        if i > 2 {
            text.push_str(&format!(
                "    wants \"svc-{}\"\n    after \"svc-{}\"\n",
                i / 3,
                i / 5
            ));
        }
        text.push_str("}\n");
        if (i + 1) % 1000 == 0 || i + 1 == count {
            files.push((format!("{:02}.kdl", files.len()), std::mem::take(&mut text)));
        }
    }
    files
}

#[test]
fn a_thousand_services_load() {
    let config = load_sources(large_config(1000)).unwrap();
    assert_eq!(config.services.len(), 1000);
    let levels = crate::graph::Graph::new(&config).start_levels();
    assert_eq!(levels.iter().map(Vec::len).sum::<usize>(), 1000);
}

/// `cargo test --release --lib -- --ignored --nocapture ten_thousand`
#[test]
#[ignore = "timing benchmark: run by hand in release"]
fn ten_thousand_services_timing() {
    use std::time::Instant;
    let sources = large_config(10_000);
    let bytes: usize = sources.iter().map(|(_, text)| text.len()).sum();

    let start = Instant::now();
    for (_, text) in &sources {
        kdl::KdlDocument::parse_v2(text).unwrap();
    }
    let kdl_only = start.elapsed();

    let start = Instant::now();
    let config = load_sources(sources).unwrap();
    let loaded = start.elapsed();

    let start = Instant::now();
    let graph = crate::graph::Graph::new(&config);
    let levels = graph.start_levels();
    let cycles = graph.cycles();
    let graph_time = start.elapsed();

    assert!(cycles.is_empty());
    assert_eq!(levels.iter().map(Vec::len).sum::<usize>(), 10_000);
    println!(
        "10,000 services ({bytes} bytes, 10 files): load_sources {loaded:?} \
         (of which KDL parsing {kdl_only:?}), graph + levels + cycles {graph_time:?}, {} levels",
        levels.len()
    );
}

// ------------------------------------------------------------ man page

fn man_page() -> String {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("man/svinit.kdl.5");
    std::fs::read_to_string(path).unwrap()
}

#[test]
fn the_man_page_documents_every_key() {
    let page = man_page();
    for key in super::parse::Key::ALL {
        let name = key.name();
        let as_tag = format!(".B {name} ");
        let inside_tag = format!("\\fB{name} ");
        assert!(
            page.contains(&as_tag) || page.contains(&inside_tag),
            "svinit.kdl(5) does not document `{name}`"
        );
    }
}

#[test]
fn the_man_page_example_passes_check() {
    let page = man_page();
    let example = page
        .split(".SH EXAMPLE")
        .nth(1)
        .and_then(|rest| rest.split(".RS\n").nth(1))
        .and_then(|rest| rest.split("\n.RE").next())
        .unwrap();
    load(example);
}

/// Roff that renders a stray space before a comma: `.B -v ", " --verbose`
/// (a bold macro takes `", "` as one more word: `-v ,  --verbose`; the
/// alternating `.BR` is meant) or `\fR... , \fB` in a tag.
#[test]
fn no_man_page_puts_a_space_before_a_comma() {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("man");
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        let page = std::fs::read_to_string(&path).unwrap();
        for (number, line) in page.lines().enumerate() {
            let single_font = [".B ", ".I "].iter().any(|m| line.starts_with(m));
            let bad = (single_font && line.contains("\", \""))
                || line.contains("\\fR , ")
                || line.contains("\\fR... , ");
            assert!(!bad, "{}:{}: {line}", path.display(), number + 1);
        }
    }
}

// ------------------------------------------------------------ probes

#[test]
fn ready_probe_reads_each_check_and_its_timing() {
    use crate::config::{ConnectTarget, Probe, ProbeCheck};
    let config = load(
        r#"
service "v4" {
    exec "a"
    ready-probe { connect "127.0.0.1:8080"; interval "250ms"; timeout 2; }
}
service "v6" { exec "a"; ready-probe { connect "[::1]:80"; } }
service "unix" { exec "a"; ready-probe { connect "/run/web.sock"; } }
service "exec" { exec "a"; ready-probe { exec "curl" "-fsS" "http://127.0.0.1/"; } }
service "shell" { exec "a"; ready-probe { shell "test -e /run/ok"; } }
service "none" { exec "a" }
"#,
    );
    let probe = |name: &str| {
        config
            .services
            .iter()
            .find(|s| s.name == name)
            .unwrap()
            .ready_probe
            .clone()
    };
    assert_eq!(
        probe("v4"),
        Some(Probe {
            check: ProbeCheck::Connect(ConnectTarget::Tcp("127.0.0.1:8080".parse().unwrap())),
            interval: Duration::from_millis(250),
            timeout: Duration::from_secs(2),
        })
    );
    let v6 = probe("v6").unwrap();
    assert_eq!(
        v6.check,
        ProbeCheck::Connect(ConnectTarget::Tcp("[::1]:80".parse().unwrap()))
    );
    assert_eq!(
        (v6.interval, v6.timeout),
        (Duration::from_secs(1), Duration::from_secs(5))
    );
    assert_eq!(
        probe("unix").unwrap().check,
        ProbeCheck::Connect(ConnectTarget::Unix("/run/web.sock".into()))
    );
    assert_eq!(
        probe("exec").unwrap().check,
        ProbeCheck::Command(Command::Exec(vec![
            "curl".into(),
            "-fsS".into(),
            "http://127.0.0.1/".into()
        ]))
    );
    assert_eq!(
        probe("shell").unwrap().check,
        ProbeCheck::Command(Command::Shell("test -e /run/ok".into()))
    );
    assert_eq!(probe("none"), None);
}

snapshot!(
    ready_probe_errors,
    r#"service "a" {
    exec "a"
    ready-probe {
        connect "localhost:80"
        intervall "1s"
    }
}
service "b" {
    exec "b"
    ready-fd 3
    ready-probe {
        connect "127.0.0.1:80"
        exec "true"
    }
}
service "c" {
    exec "c"
    type "oneshot"
    ready-notify #true
    ready-probe { connect "/run/c.sock"; }
}
service "d" {
    exec "d"
    ready-probe {
        interval "1s"
    }
}
service "e" {
    exec "e"
    ready-probe { connect "run/e.sock"; timeout 0; }
}
"#
);

#[test]
fn health_reads_its_rules_with_their_defaults() {
    use crate::config::{Health, HealthAction, Probe, ProbeCheck};
    let config = load(
        r#"
service "all" {
    exec "a"
    health {
        exec "check"
        interval "10s"
        timeout "2s"
        retries 5
        start-period "30s"
        on-failure "log"
    }
}
service "defaults" { exec "a"; health { shell "true"; } }
"#,
    );
    let health = |name: &str| {
        config
            .services
            .iter()
            .find(|s| s.name == name)
            .unwrap()
            .health
            .clone()
            .unwrap()
    };
    assert_eq!(
        health("all"),
        Health {
            probe: Probe {
                check: ProbeCheck::Command(Command::Exec(vec!["check".into()])),
                interval: Duration::from_secs(10),
                timeout: Duration::from_secs(2),
            },
            retries: 5,
            start_period: Duration::from_secs(30),
            on_failure: HealthAction::Log,
        }
    );
    let defaults = health("defaults");
    assert_eq!(
        (
            defaults.probe.interval,
            defaults.probe.timeout,
            defaults.retries,
            defaults.start_period,
            defaults.on_failure
        ),
        (
            Duration::from_secs(30),
            Duration::from_secs(5),
            3,
            Duration::ZERO,
            HealthAction::Restart
        )
    );
}

snapshot!(
    health_errors,
    r#"service "a" {
    exec "a"
    health {
        connect "127.0.0.1:80"
        retries 0
        on-failure "reboot"
        retry 2
    }
}
service "b" {
    exec "b"
    type "oneshot"
    health { shell "true"; }
    ready-probe { shell "true"; retries 1; }
}
"#
);

#[test]
fn a_templates_probes_get_the_instance_name() {
    use crate::config::{ConnectTarget, ProbeCheck};
    let config = load(
        r#"
service "worker@" {
    exec "worker" "%i"
    instances "a"
    ready-probe { connect "/run/worker-%i.sock"; }
    health { shell "check %i"; }
}
"#,
    );
    let worker = config
        .services
        .iter()
        .find(|s| s.name == "worker@a")
        .expect("the instance");
    assert_eq!(
        worker.ready_probe.as_ref().map(|p| p.check.clone()),
        Some(ProbeCheck::Connect(ConnectTarget::Unix(
            "/run/worker-a.sock".into()
        )))
    );
    assert_eq!(
        worker.health.as_ref().map(|h| h.probe.check.clone()),
        Some(ProbeCheck::Command(Command::Shell("check a".into())))
    );
}
