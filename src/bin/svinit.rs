//! `svinit`: argument parsing, mode detection, and the hand-off to the
//! runtime (or to the offline `--check`).

use std::path::PathBuf;
use std::process::ExitCode;

use svinit::config;
use svinit::log::{self, Level};
use svinit::mode::{self, Mode};
use svinit::runtime::{Options, Runtime};
use svinit::{error, info};

const USAGE: &str = "\
usage: svinit [-c PATH] [-s SOCKET] [--system | --container] [-v | -q]
       svinit --check [-c PATH]
       svinit --version | --help

  -c, --config PATH   unit file or directory of *.kdl files (env SVINIT_CONFIG)
  -s, --socket PATH   control socket (env SVINIT_SOCKET)
      --system        act as the init of a booted system
      --container     act as PID 1 of a container
  -v, --verbose       also log debug events (reaped orphans, signals)
  -q, --quiet         log only warnings and errors
      --check         validate the config, print the start plan, exit 0 or 1
";

struct Cli {
    config: Option<PathBuf>,
    socket: Option<PathBuf>,
    mode: Option<Mode>,
    level: Level,
    check: bool,
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
            "--" => return Err("a main command (`-- COMMAND`) is not supported yet".into()),
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
    let _ = cli.socket;
    let mode = cli.mode.unwrap_or_else(mode::detect);
    if mode == Mode::User
        && let Err(err) = nix::sys::prctl::set_child_subreaper(true)
    {
        error!("", "cannot become a child subreaper: {err}");
    }
    let config = match config::load_path(&config_path) {
        Ok(config) => config,
        Err(diagnostics) => {
            eprintln!("{}", diagnostics.render(false));
            error!("", "invalid config at {}", config_path.display());
            return ExitCode::from(1);
        }
    };
    info!(
        "",
        "starting in {mode} mode, {} services from {}",
        config.services.len(),
        config_path.display()
    );
    let options = Options { mode, config_path };
    let runtime = match Runtime::new(options, config) {
        Ok(runtime) => runtime,
        Err(err) => {
            error!("", "cannot set up the event loop: {err}");
            return ExitCode::from(1);
        }
    };
    let code = runtime.run();
    info!("", "exiting with status {code}");
    ExitCode::from(code.clamp(0, 255) as u8)
}
