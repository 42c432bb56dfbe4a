//! The main command (`svinit -- COMMAND`) on the I/O side: forked like a
//! service but in svinit's session, in a process group of its own that
//! becomes the terminal's foreground group, with svinit's stdin, stdout and
//! stderr (tini's way). Its exec outcome is read from the status pipe when
//! it is reaped, so a command that cannot be run gives 127/126.

use std::os::fd::{AsFd, OwnedFd};

use crate::config::{Command, ServiceConfig};
use crate::spawn::{self, ChildIo, ExecStatus, SpawnContext, SpawnPlan, Stdio};
use crate::supervisor::SpawnFailure;

pub(crate) struct MainProcess {
    argv: Vec<String>,
    /// The forked child, until reaped: its exec-status pipe and plan.
    child: Option<(i32, OwnedFd, SpawnPlan)>,
}

impl MainProcess {
    pub(crate) fn new(argv: Vec<String>) -> MainProcess {
        MainProcess { argv, child: None }
    }

    /// How logs name it: the program as given.
    pub(crate) fn label(&self) -> &str {
        self.argv.first().map_or("", String::as_str)
    }

    pub(crate) fn spawn(&mut self, context: &SpawnContext) -> Result<i32, SpawnFailure> {
        let config = ServiceConfig::new("main", Command::Exec(self.argv.clone()));
        let mut plan = spawn::prepare(&config, context)?;
        plan.set_foreground();
        let io = ChildIo {
            stdin: Stdio::Inherit,
            stdout: Stdio::Inherit,
            stderr: Stdio::Inherit,
            extra_fds: Vec::new(),
        };
        let child = spawn::execute(&plan, &io)?;
        self.child = Some((child.pid, child.status, plan));
        Ok(child.pid)
    }

    /// `pid` was reaped: `None` when it is not the main command, else
    /// whether its exec had failed (and how).
    pub(crate) fn reaped(&mut self, pid: i32) -> Option<Option<SpawnFailure>> {
        match &self.child {
            Some((child, _, _)) if *child == pid => {}
            _ => return None,
        }
        let (_, status, plan) = self.child.take()?;
        Some(match spawn::read_exec_status(status.as_fd(), &plan) {
            ExecStatus::Failed(failure) => Some(failure),
            _ => None,
        })
    }
}

/// Alone (no units), svinit is as quiet as tini: its own events at debug.
fn log_level(supervisor: &crate::supervisor::Supervisor) -> crate::log::Level {
    match supervisor.ids().next() {
        Some(_) => crate::log::Level::Info,
        None => crate::log::Level::Debug,
    }
}

impl super::Runtime {
    /// `Action::StartMain`: the boot has settled.
    pub(super) fn start_main(&mut self) {
        let now = std::time::Instant::now();
        let Some(main) = self.main.as_mut() else {
            return;
        };
        match main.spawn(&self.spawn_context) {
            Ok(pid) => {
                let level = log_level(&self.supervisor);
                crate::log_at!(
                    level,
                    "",
                    "main command {} started (pid {pid})",
                    main.label()
                );
                self.supervisor
                    .handle_event(now, crate::supervisor::Event::MainSpawned { pid });
            }
            Err(failure) => self.main_spawn_failed(failure),
        }
    }

    fn main_spawn_failed(&mut self, failure: SpawnFailure) {
        let code = crate::supervisor::spawn_failure_code(&failure);
        let what = match code {
            127 => "not found",
            126 => "cannot be executed",
            _ => "cannot be started",
        };
        crate::error!("", "main command {what}: {failure}");
        self.supervisor.handle_event(
            std::time::Instant::now(),
            crate::supervisor::Event::MainSpawnFailed { failure },
        );
    }

    /// `true` when `pid` was the main command (and has been reported).
    pub(super) fn main_reaped(&mut self, pid: i32, status: crate::supervisor::ExitStatus) -> bool {
        let Some(main) = self.main.as_mut() else {
            return false;
        };
        let Some(exec_failure) = main.reaped(pid) else {
            return false;
        };
        match exec_failure {
            Some(failure) => self.main_spawn_failed(failure),
            None => {
                let level = log_level(&self.supervisor);
                crate::log_at!(level, "", "main command {}: {status}", main.label());
                self.supervisor.handle_event(
                    std::time::Instant::now(),
                    crate::supervisor::Event::Exited { pid, status },
                );
            }
        }
        true
    }
}
