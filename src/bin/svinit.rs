//! `svinit`: argument parsing, mode detection, and the hand-off to the
//! runtime (or to the offline `--check`).

use std::path::PathBuf;
use std::process::ExitCode;

use svinit::config;
use svinit::control;
use svinit::log::{self, Level};
use svinit::mode::{self, Mode};
use svinit::runtime::{Options, Runtime};
use svinit::system;
use svinit::{debug, error, info};

const USAGE: &str = "\
usage: svinit [-c PATH] [-s SOCKET] [--system | --container] [-v | -q] [-- COMMAND [ARG...]]
       svinit --check [-c PATH]
       svinit --version | --help

  -c, --config PATH   unit file or directory of *.kdl files (env SVINIT_CONFIG)
  -s, --socket PATH   control socket (env SVINIT_SOCKET)
      --system        act as the init of a booted system
      --container     act as PID 1 of a container
  -v, --verbose       also log debug events (reaped orphans, signals)
  -q, --quiet         log only warnings and errors
      --check         validate the config, print the start plan, exit 0 or 1
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
            "--system" => cli.mode = Some(Mode::System),
            "--container" => cli.mode = Some(Mode::Container),
            "-v" | "--verbose" => cli.level = Level::Debug,
            "-q" | "--quiet" => cli.level = Level::Warn,
            "--check" => cli.check = true,
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
    Ok(Parsed::Run(cli))
}

fn main() -> ExitCode {
    let cli = match parse_args(std::env::args().skip(1)) {
        Ok(Parsed::Run(cli)) => cli,
        Ok(Parsed::Exit(code)) => return ExitCode::from(code),
        Err(message) => {
            eprintln!("svinit: {message}\n{USAGE}");
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
    let mode = cli.mode.unwrap_or_else(mode::detect);
    if mode == Mode::System {
        system::early_boot();
    }
    if mode == Mode::User
        && let Err(err) = nix::sys::prctl::set_child_subreaper(true)
    {
        error!("", "cannot become a child subreaper: {err}");
    }
    // `svinit -- COMMAND` with no config at all: a drop-in for `tini --`.
    let run_alone = cli.main_command.is_some() && !config_path.exists();
    let loaded = if run_alone {
        Ok(config::Config::default())
    } else {
        config::load_path(&config_path)
    };
    let config = match loaded {
        Ok(config) => config,
        Err(diagnostics) => {
            eprintln!("{}", diagnostics.render(false));
            error!("", "invalid config at {}", config_path.display());
            if mode != Mode::System {
                return ExitCode::from(1);
            }
            system::emergency_boot_config()
        }
    };
    if run_alone {
        debug!(
            "",
            "starting in {mode} mode with no config ({} does not exist)",
            config_path.display()
        );
    } else {
        info!(
            "",
            "starting in {mode} mode, {} services from {}",
            config.services.len(),
            config_path.display()
        );
    }
    let options = Options {
        mode,
        config_path,
        socket_path,
        socket_is_default,
        main_command: cli.main_command,
    };
    if mode == Mode::System {
        system::run_forever(options, config);
    }
    let runtime = match Runtime::new(options, config) {
        Ok(runtime) => runtime,
        Err(err) => {
            error!("", "cannot start: {err}");
            return ExitCode::from(1);
        }
    };
    let code = runtime.run();
    if run_alone {
        debug!("", "exiting with status {code}");
    } else {
        info!("", "exiting with status {code}");
    }
    ExitCode::from(code.clamp(0, 255) as u8)
}
