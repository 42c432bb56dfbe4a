//! The pipe lifecycle: what a service's config asks for (a captured pipe,
//! or the fd given to the child as is) and the pipe made at its first
//! spawn, kept across restarts, switched to a new sink, or closed when the
//! service is forgotten or no longer captured; what the child gets on fds 1
//! and 2; `svctl reopen` of its transcript.

use std::os::fd::{AsFd, AsRawFd, OwnedFd};

use mio::unix::SourceFd;
use mio::{Interest, Registry};
use nix::fcntl::{FcntlArg, OFlag, fcntl};

use super::reading::READ_BUDGET;
use super::router::LineRouter;
use super::sink::{Sink, flush_pipe, open_sink, report_problem};
use super::{ErrPipe, Output, ServicePipe};
use crate::config::{OutputMode, ServiceConfig, Transcript};
use crate::runtime::tokens::Source;
use crate::spawn::Stdio;
use crate::supervisor::ServiceId;
use crate::transcript::{RING_CAPACITY, RingBuffer};
use crate::warn;

/// What a service's config asks for.
#[derive(Debug, Clone, PartialEq)]
pub(super) enum Wanted {
    /// No pipe: the fd given to the child as is (`inherit`, `null`, `tty`).
    Direct(DirectKind),
    Prefix,
    Transcript(Transcript),
    Syslog,
}

#[derive(Debug, Clone, Copy, PartialEq)]
pub(super) enum DirectKind {
    Inherit,
    Null,
}

/// Whether `config` has svinit capture the service's output (into its
/// ring buffer, for `svctl logs`): not `inherit`, `null` or a `tty`.
pub(crate) fn captures(config: &ServiceConfig) -> bool {
    !matches!(wanted(config), Wanted::Direct(_))
}

fn wanted(config: &ServiceConfig) -> Wanted {
    if config.tty.is_some() {
        // spawn puts the terminal on 0, 1 and 2 whatever it is given.
        return Wanted::Direct(DirectKind::Inherit);
    }
    if let Some(transcript) = &config.transcript {
        return Wanted::Transcript(transcript.clone());
    }
    match config.output {
        OutputMode::Prefix => Wanted::Prefix,
        OutputMode::Syslog => Wanted::Syslog,
        OutputMode::Inherit => Wanted::Direct(DirectKind::Inherit),
        OutputMode::Null => Wanted::Direct(DirectKind::Null),
    }
}

impl Output {
    /// Before spawning `service`: makes its output match `config` (a pipe
    /// made, kept, or closed; a transcript opened, changed or retried).
    /// Then [`Output::stdio`] says what the child gets on fds 1 and 2.
    pub(crate) fn prepare(
        &mut self,
        registry: &Registry,
        service: ServiceId,
        config: &ServiceConfig,
    ) {
        let wanted = wanted(config);
        let kind = match &wanted {
            Wanted::Direct(kind) => Some(*kind),
            Wanted::Prefix | Wanted::Transcript(_) | Wanted::Syslog => None,
        };
        let Some(kind) = kind else {
            self.direct.remove(&service);
            self.prepare_pipe(registry, service, config, wanted);
            return;
        };
        self.direct.insert(service, kind);
        if let Some(slot) = self.by_service.get(&service).copied() {
            self.close(registry, slot);
        }
    }

    fn prepare_pipe(
        &mut self,
        registry: &Registry,
        service: ServiceId,
        config: &ServiceConfig,
        wanted: Wanted,
    ) {
        if let Some(&slot) = self.by_service.get(&service) {
            if let Some(pipe) = self.pipes.get_mut(slot) {
                pipe.name.clone_from(&config.name);
                let same = match (&pipe.sink, &wanted) {
                    (Sink::Prefix, Wanted::Prefix) | (Sink::Syslog, Wanted::Syslog) => true,
                    (Sink::Transcript(file), Wanted::Transcript(new)) => file.config() == new,
                    _ => false,
                };
                if same {
                    if let Sink::Transcript(file) = &mut pipe.sink
                        && !file.is_open()
                    {
                        let _ = file.reopen();
                    }
                } else {
                    // Pass what is held to the old sink first.
                    flush_pipe(pipe, &mut self.shared);
                    self.holding.remove(&slot);
                    pipe.sink = open_sink(&wanted);
                    set_err_pipe(registry, slot, pipe, wanted == Wanted::Syslog);
                }
                report_problem(pipe);
            }
            return;
        }
        let pipe = match make_pipe() {
            Ok(pipe) => pipe,
            Err(err) => {
                // Without a pipe the service still runs, on svinit's stdout.
                warn!(&config.name, "cannot make an output pipe: {err}");
                return;
            }
        };
        let (read, write) = pipe;
        let mut service_pipe = ServicePipe {
            service,
            name: config.name.clone(),
            read,
            write,
            router: LineRouter::new(),
            err: None,
            pid: None,
            ring: RingBuffer::new(RING_CAPACITY),
            sink: open_sink(&wanted),
            queued: false,
            flush_when_drained: false,
        };
        report_problem(&mut service_pipe);
        let raw = service_pipe.read.as_raw_fd();
        let slot = self.pipes.insert(service_pipe);
        if let Err(err) = registry.register(
            &mut SourceFd(&raw),
            Source::Output(slot).token(),
            Interest::READABLE,
        ) {
            warn!(&config.name, "cannot watch the output pipe: {err}");
            self.pipes.remove(slot);
            return;
        }
        if let Some(pipe) = self.pipes.get_mut(slot) {
            set_err_pipe(registry, slot, pipe, wanted == Wanted::Syslog);
        }
        self.by_service.insert(service, slot);
    }

    /// The child of `service` is `pid` (the tag of its syslog lines).
    pub(crate) fn spawned(&mut self, service: ServiceId, pid: i32) {
        if let Some(pipe) = self
            .by_service
            .get(&service)
            .and_then(|&slot| self.pipes.get_mut(slot))
        {
            pipe.pid = Some(pid);
        }
    }

    /// What the child of `service` gets as stderr: its own pipe for a
    /// syslog service, else the same as stdout.
    pub(crate) fn stderr(&self, service: ServiceId) -> Stdio<'_> {
        match self
            .by_service
            .get(&service)
            .and_then(|&slot| self.pipes.get(slot))
            .and_then(|pipe| pipe.err.as_ref())
        {
            Some(err) => Stdio::Fd(err.write.as_fd()),
            None => self.stdio(service),
        }
    }

    /// What the child of `service` gets as stdout and stderr (after
    /// [`Output::prepare`]).
    pub(crate) fn stdio(&self, service: ServiceId) -> Stdio<'_> {
        if let Some(kind) = self.direct.get(&service) {
            return match kind {
                DirectKind::Inherit => Stdio::Inherit,
                DirectKind::Null => Stdio::Null,
            };
        }
        match self
            .by_service
            .get(&service)
            .and_then(|&slot| self.pipes.get(slot))
        {
            Some(pipe) => Stdio::Fd(pipe.write.as_fd()),
            None => Stdio::Inherit,
        }
    }

    /// `service` is gone for good: its pipe and transcript are closed.
    pub(crate) fn forget(&mut self, registry: &Registry, service: ServiceId) {
        self.direct.remove(&service);
        if let Some(slot) = self.by_service.get(&service).copied() {
            self.close(registry, slot);
        }
    }

    fn close(&mut self, registry: &Registry, slot: usize) {
        let _ = self.read_some(slot, READ_BUDGET);
        let Some(mut pipe) = self.pipes.remove(slot) else {
            return;
        };
        flush_pipe(&mut pipe, &mut self.shared);
        let _ = registry.deregister(&mut SourceFd(&pipe.read.as_raw_fd()));
        if let Some(err) = &pipe.err {
            let _ = registry.deregister(&mut SourceFd(&err.read.as_raw_fd()));
        }
        self.by_service.remove(&pipe.service);
        self.holding.remove(&slot);
        self.ready.retain(|&queued| queued != slot);
    }

    /// Closes and opens again the transcript of `service` (`svctl reopen`).
    /// `Ok` for a service without a transcript (nothing to do). A failure
    /// is the status problem from then on; the caller reports it.
    pub(crate) fn reopen(&mut self, service: ServiceId) -> Result<(), String> {
        let Some(pipe) = self
            .by_service
            .get(&service)
            .and_then(|&slot| self.pipes.get_mut(slot))
        else {
            return Ok(());
        };
        let Sink::Transcript(file) = &mut pipe.sink else {
            return Ok(());
        };
        // Lines already read went to the old file: none lost, none twice.
        // The caller reports a failure; it is not logged again here.
        let result = file.reopen();
        let _ = file.take_new_problem();
        result
    }

    /// Reopens every transcript; the errors, by service.
    pub(crate) fn reopen_all(&mut self) -> Vec<(ServiceId, String)> {
        let services: Vec<ServiceId> = self.by_service.keys().copied().collect();
        services
            .into_iter()
            .filter_map(|service| self.reopen(service).err().map(|err| (service, err)))
            .collect()
    }
}

/// Gives `pipe` its own stderr pipe (`want`) or takes it away, flushing
/// what it holds first.
fn set_err_pipe(registry: &Registry, slot: usize, pipe: &mut ServicePipe, want: bool) {
    match (&pipe.err, want) {
        (None, true) => {
            let (read, write) = match make_pipe() {
                Ok(pair) => pair,
                Err(err) => {
                    // stderr then shares the stdout pipe (at info).
                    warn!(&pipe.name, "cannot make a stderr pipe: {err}");
                    return;
                }
            };
            let raw = read.as_raw_fd();
            if let Err(err) = registry.register(
                &mut SourceFd(&raw),
                Source::OutputErr(slot).token(),
                Interest::READABLE,
            ) {
                warn!(&pipe.name, "cannot watch the stderr pipe: {err}");
                return;
            }
            pipe.err = Some(ErrPipe { read, write });
            pipe.router.set_own_stderr(true);
        }
        (Some(_), false) => {
            // Its held-back lines were flushed to the old sink already.
            if let Some(err) = pipe.err.take() {
                let _ = registry.deregister(&mut SourceFd(&err.read.as_raw_fd()));
            }
            pipe.router.set_own_stderr(false);
        }
        _ => {}
    }
}

/// A CLOEXEC pipe whose read end (svinit's) is non-blocking and whose
/// write end (the services') is blocking.
fn make_pipe() -> nix::Result<(OwnedFd, OwnedFd)> {
    let (read, write) = nix::unistd::pipe2(OFlag::O_CLOEXEC)?;
    let flags = fcntl(&read, FcntlArg::F_GETFL)?;
    fcntl(
        &read,
        FcntlArg::F_SETFL(OFlag::from_bits_truncate(flags) | OFlag::O_NONBLOCK),
    )?;
    Ok((read, write))
}
