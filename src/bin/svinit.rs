//! `svinit`: argument parsing, mode detection, and the hand-off to the
//! runtime (or to the offline `--check`).

use std::path::PathBuf;
use std::process::ExitCode;

use svinit::config::{self, RunConfigError};
use svinit::console::{self, Out};
use svinit::control;
use svinit::detach;
use svinit::log::{self, Level};
use svinit::mode::{self, Mode};
use svinit::runtime::{BOOT_ATTEMPTS, Options, Runtime, contain};
use svinit::system;
use svinit::{debug, error, info};

const USAGE: &str = "\
usage: svinit [-c PATH] [-s SOCKET] [--system | --container] [-v | -q] [-- COMMAND [ARG...]]
       svinit --check [-c PATH]
       svinit --detach [-c PATH] [-s SOCKET] [-v | -q] [--log FILE] [-- COMMAND [ARG...]]
       svinit --version | --help

  -c, --config PATH   unit file or directory of *.kdl files (env SVINIT_CONFIG)
  -s, --socket PATH   control socket (env SVINIT_SOCKET)
      --system        act as the init of a booted system
      --container     act as PID 1 of a container
  -v, --verbose       also log debug events (reaped orphans, signals)
  -q, --quiet         log only warnings and errors
      --check         validate the config, print the start plan, exit 0 or 1
      --detach        user mode in the background (like `zdaemon start`):
                      returns once every autostart service is up, done or
                      failed, exit 0 or 1 with one line saying which; with
                      `-- COMMAND` the command is a service of its own
      --log FILE      with --detach: svinit's log and the services' console
                      output are appended to FILE (default: for root
                      /var/log/svinit/svinit.log, else
                      $XDG_STATE_HOME/svinit/svinit.log or
                      ~/.local/state/svinit/svinit.log)
  -- COMMAND ARG...   the main command (like tini/dumb-init): started once the
                      units are up, signals forwarded to it, its exit status
                      is svinit's; with no config at PATH it runs alone
";

struct Cli {
    config: Option<PathBuf>,
    socket: Option<PathBuf>,
    mode: Option<Mode>,
    level: Level,
    check: bool,
    detach: bool,
    log: Option<PathBuf>,
    main_command: Option<Vec<String>>,
}

enum Parsed {
    Run(Cli),
    Exit(u8),
}

fn parse_args(args: impl Iterator<Item = String>) -> Result<Parsed, String> {
    let mut cli = Cli {
        config: None,
        socket: None,
        mode: None,
        level: Level::Info,
        check: false,
        detach: false,
        log: None,
        main_command: None,
    };
    let mut args = args.peekable();
    while let Some(arg) = args.next() {
        let mut value = |flag: &str| {
            args.next()
                .map(PathBuf::from)
                .ok_or_else(|| format!("{flag} needs a value"))
        };
        match arg.as_str() {
            "-c" | "--config" => cli.config = Some(value(&arg)?),
            "-s" | "--socket" => cli.socket = Some(value(&arg)?),
            "--system" | "--container" => {
                let mode = if arg == "--system" {
                    Mode::System
                } else {
                    Mode::Container
                };
                if cli.mode.is_some_and(|m| m != mode) {
                    return Err("--system and --container exclude each other".into());
                }
                cli.mode = Some(mode);
            }
            "-v" | "--verbose" | "-q" | "--quiet" => {
                let level = if matches!(arg.as_str(), "-v" | "--verbose") {
                    Level::Debug
                } else {
                    Level::Warn
                };
                if cli.level != Level::Info && cli.level != level {
                    return Err("-v and -q exclude each other".into());
                }
                cli.level = level;
            }
            "--check" => cli.check = true,
            "--detach" => cli.detach = true,
            "--log" => cli.log = Some(value(&arg)?),
            "-h" | "--help" => {
                print!("{USAGE}");
                return Ok(Parsed::Exit(0));
            }
            "-V" | "--version" => {
                println!("svinit {}", env!("CARGO_PKG_VERSION"));
                return Ok(Parsed::Exit(0));
            }
            "--" => {
                let command: Vec<String> = args.by_ref().collect();
                if command.is_empty() {
                    return Err("`--` must be followed by a command".into());
                }
                cli.main_command = Some(command);
            }
            other => return Err(format!("unknown argument `{other}`")),
        }
    }
    if cli.log.is_some() && !cli.detach {
        return Err("--log goes with --detach".into());
    }
    if cli.detach && cli.mode.is_some() {
        return Err("--detach is for user mode, not with --system or --container".into());
    }
    Ok(Parsed::Run(cli))
}

fn main() -> ExitCode {
    // The spawner is this binary again (see spawn/spawner.rs): before
    // anything else, so that it holds nothing of svinit's.
    svinit::spawn::serve_if_spawner();
    console::claim_standard_fds();
    console::install_panic_hook();
    let code = run();
    console::flush_before_exit(console::EXIT_FLUSH);
    code
}

/// Lines for svinit's stderr that are not log events (usage, diagnostics).
fn say(text: &str) {
    console::write(Out::Stderr, text.as_bytes());
}

fn run() -> ExitCode {
    let cli = match parse_args(std::env::args().skip(1)) {
        Ok(Parsed::Run(cli)) => cli,
        Ok(Parsed::Exit(code)) => return ExitCode::from(code),
        Err(message) => {
            say(&format!("svinit: {message}\n{USAGE}"));
            return ExitCode::from(2);
        }
    };
    let config_path = config::resolve_config_path(cli.config);
    if cli.check {
        return ExitCode::from(config::check_command(&config_path).clamp(0, 255) as u8);
    }
    log::set_max_level(cli.level);
    let socket_path = control::socket_path(cli.socket);
    let socket_is_default = socket_path == control::default_socket_path();
    let is_pid1 = std::process::id() == 1;
    let mode = match mode::choose(cli.mode, is_pid1) {
        Ok(mode) => mode,
        Err(message) => {
            say(&format!("svinit: {message}"));
            return ExitCode::from(2);
        }
    };
    if cli.detach && mode != Mode::User {
        say(&format!(
            "svinit: --detach is for user mode; svinit is PID 1 here ({mode} mode)"
        ));
        return ExitCode::from(2);
    }
    if mode == Mode::System {
        system::early_boot();
    }
    // `--detach -- COMMAND`: the command is a service, not a main command.
    let extra_services: Vec<config::ServiceConfig> = match (cli.detach, &cli.main_command) {
        (true, Some(command)) => detach::adhoc_service(command).into_iter().collect(),
        _ => Vec::new(),
    };
    let main_command = if cli.detach { None } else { cli.main_command };
    // The spawner, forked while svinit is small; `--detach` forks to the
    // background later, and its spawner is made at the first start.
    let mut spawner = if cli.detach {
        None
    } else {
        svinit::spawn::prelaunch_spawner()
    };
    // Decided as at each reload: with a command and no config at all (no
    // such path, or a directory without a `*.kdl` file, as an image that
    // ships an empty /etc/svinit/), the command alone: a drop-in for `tini --`.
    let loaded = contain(BOOT_ATTEMPTS, "loading the config", || {
        svinit::fault::point("config-load");
        config::config_to_run(&config_path, main_command.as_deref(), &extra_services)
    });
    let (config, run_alone) = match loaded {
        Some(Ok(loaded)) => (Some(loaded.config), loaded.alone),
        Some(Err(RunConfigError::Invalid(diagnostics))) => {
            say(&diagnostics.render(false));
            error!("", "invalid config at {}", config_path.display());
            (None, false)
        }
        Some(Err(RunConfigError::NameTaken(message))) => {
            error!("", "{message}");
            return ExitCode::from(1);
        }
        None => {
            error!("", "cannot load the config at {}", config_path.display());
            (None, false)
        }
    };
    // An invalid config ends svinit, unless it may never exit: then the
    // supervisor boots without one (the emergency shell).
    let config_invalid = config.is_none();
    let config = match config {
        Some(config) => config,
        None if mode.may_exit() => return ExitCode::from(1),
        None => config::Config::default(),
    };
    // Forks before anything else is made: the subreaper flag is not
    // inherited, and the loop's descriptors belong to the background.
    let mut detached = None;
    if cli.detach {
        let log = detach::LogFile::choose(cli.log);
        // What is queued goes to the terminal now, not to the log as well.
        console::flush_before_exit(console::EXIT_FLUSH);
        match detach::detach(&log) {
            Ok(detach::Fork::Parent(code)) => return ExitCode::from(code),
            Ok(detach::Fork::Child(child)) => {
                console::capture();
                detached = Some(child);
            }
            Err(err) => {
                error!("", "cannot go to the background: {err}");
                return ExitCode::from(1);
            }
        }
    }
    // Not PID 1 (user mode, or `--container` under another init): only a
    // subreaper gets the orphans of its services.
    if !is_pid1 && let Err(err) = nix::sys::prctl::set_child_subreaper(true) {
        error!("", "cannot become a child subreaper: {err}");
    }
    // Said once the socket is ours: a second svinit is refused before it
    // claims to start anything.
    let services = config.services.len();
    let config_shown = config_path.display().to_string();
    let announce = move || {
        if run_alone {
            debug!(
                "",
                "starting in {mode} mode with no config (no `*.kdl` file at {config_shown})"
            );
        } else {
            info!(
                "",
                "starting in {mode} mode, {services} service{} from {config_shown}",
                if services == 1 { "" } else { "s" }
            );
        }
    };
    let options = Options {
        mode,
        config_path,
        socket_path,
        socket_is_default,
        main_command,
        extra_services,
        config_invalid,
    };
    if mode == Mode::System {
        announce();
        system::run_forever(options, config, spawner);
    }
    let started = contain(BOOT_ATTEMPTS, "setting up the loop", || {
        Runtime::new(options.clone(), config.clone(), spawner.take())
    });
    let mut runtime = match started {
        Some(Ok(runtime)) => runtime,
        failed => {
            let err = match failed {
                Some(Err(err)) => err.to_string(),
                _ => "internal error".to_string(),
            };
            error!("", "cannot start: {err}");
            if let Some(mut detached) = detached {
                detached.failed(&format!("svinit: cannot start: {err}"));
            }
            return ExitCode::from(1);
        }
    };
    announce();
    if let Some(detached) = detached {
        runtime.report_boot_to(detached);
    }
    let code = runtime.run();
    if run_alone {
        debug!("", "exiting with status {code}");
    } else {
        info!("", "exiting with status {code}");
    }
    ExitCode::from(code.clamp(0, 255) as u8)
}
