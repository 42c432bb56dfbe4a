//! `svctl`: for now only `svctl check [-c PATH]`; the lead engineer's full
//! client (status, start, stop, …) replaces this.

use std::path::PathBuf;
use std::process::ExitCode;

use svinit::config::{check_command, resolve_config_path};

fn main() -> ExitCode {
    let mut args = std::env::args_os().skip(1);
    if args.next().as_deref().and_then(|a| a.to_str()) != Some("check") {
        return usage("only `check` is implemented in this build");
    }
    let mut config_path: Option<PathBuf> = None;
    while let Some(arg) = args.next() {
        match arg.to_str() {
            Some("-c" | "--config") => match args.next() {
                Some(path) => config_path = Some(PathBuf::from(path)),
                None => return usage("-c needs a PATH"),
            },
            _ => return usage(&format!("unexpected argument {arg:?}")),
        }
    }
    let code = check_command(&resolve_config_path(config_path));
    ExitCode::from(u8::try_from(code).unwrap_or(1))
}

fn usage(problem: &str) -> ExitCode {
    eprintln!("svctl: {problem}\nusage: svctl check [-c PATH]");
    ExitCode::from(2)
}
