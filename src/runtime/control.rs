//! The control socket server, owned by the runtime and driven by its mio
//! loop: accepts connections, checks `SO_PEERCRED`, reads request lines
//! with hard limits (64 KiB, 5 s, bounded clients, bounded output), hands
//! parsed and authorized requests to the runtime and writes its replies
//! without ever blocking. It also keeps the ring of state changes behind
//! `svctl events` and streams them to followers; what requests *do* is the
//! runtime's business.
//!
//! Use from the loop:
//! `handle(token, now)` on readiness of any of its tokens, then drain
//! `next_request()` answering each with `reply()`; `publish()` every state
//! change; sleep no longer than `next_deadline()` and call
//! `handle_timeout(now)` after every wakeup.

mod access;
mod events;
mod socket;

use std::collections::VecDeque;
use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use mio::net::{UnixListener, UnixStream};
use mio::{Interest, Registry, Token};

use crate::control::{
    ErrorKind, EventsReport, MAX_REQUEST_BYTES, ProtocolError, Reply, Request, StreamLine,
    WallClock,
};
use crate::supervisor::Transition;
use crate::{debug, info, warn};

pub use self::access::{Access, AccessPolicy, AccountFiles, Peer, SocketPermissions};
pub use self::events::{EVENT_RING_CAPACITY, EventRing};
pub use self::socket::{BindError, BoundSocket};

/// Clients served at once; one more gets a `too-many-clients` error.
pub const MAX_CLIENTS: usize = 128;
/// Time for a whole request line to arrive, for an idle connection to send
/// its next one, and for a client to take a reply or an error.
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(5);
/// Unsent stream output (events, logs -f) past which a follower that does
/// not read is dropped.
pub const STREAM_BACKLOG_LIMIT: usize = 1024 * 1024;

const READ_CHUNK: usize = 16 * 1024;
/// Buffers that grew past this (a big status reply) are freed once empty.
const RETAINED_BUFFER: usize = 64 * 1024;

/// The mio tokens the runtime lends the server: one for the listener and
/// `max_clients` consecutive ones for connections.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ControlTokens {
    pub listener: Token,
    pub first_client: usize,
    pub max_clients: usize,
}

impl ControlTokens {
    #[cfg(test)]
    pub fn contains(&self, token: Token) -> bool {
        token == self.listener
            || (self.first_client..self.first_client + self.max_clients).contains(&token.0)
    }
}

/// Where and how to listen.
#[derive(Debug, Clone)]
pub struct ControlSettings {
    pub path: PathBuf,
    /// The socket's directory is svinit's own (the default path): create
    /// or adjust its mode, and refuse it if another user owns it. For a
    /// path given with `-s`, an existing directory is left as it is.
    pub own_directory: bool,
    pub policy: AccessPolicy,
    pub tokens: ControlTokens,
    pub accounts: AccountFiles,
}

/// A connection, stable across slot reuse: a reply to a client that has
/// gone is dropped rather than sent to its successor.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct ClientId {
    slot: usize,
    generation: u64,
}

/// An authorized request for the runtime to execute and `reply()` to.
#[derive(Debug, Clone, PartialEq)]
pub struct IncomingRequest {
    pub client: ClientId,
    pub peer: Peer,
    pub request: Request,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    /// Waiting for a request line.
    Reading,
    /// A request is with the runtime; its reply is due.
    Busy,
    /// Following events or logs: lines are pushed, input is ignored.
    Streaming,
    /// A final line (usually an error) is queued; close once written.
    Closing,
}

struct Client {
    stream: UnixStream,
    generation: u64,
    peer: Peer,
    phase: Phase,
    input: Vec<u8>,
    output: Vec<u8>,
    /// Bytes of `output` already written.
    written: usize,
    deadline: Option<Instant>,
    /// The peer shut down its writing side (or hung up).
    input_closed: bool,
    replies_sent: u64,
    follows_events: bool,
}

impl Client {
    fn backlog(&self) -> usize {
        self.output.len() - self.written
    }

    fn queue(&mut self, line: &str) {
        if self.written == self.output.len() {
            self.output.clear();
            self.written = 0;
        }
        self.output.extend_from_slice(line.as_bytes());
    }
}

/// What a pass over a client decided.
enum Outcome {
    Keep,
    Close,
}

pub struct ControlServer {
    listener: UnixListener,
    registry: Registry,
    bound: BoundSocket,
    tokens: ControlTokens,
    policy: AccessPolicy,
    accounts: AccountFiles,
    clients: Vec<Option<Client>>,
    next_generation: u64,
    requests: VecDeque<IncomingRequest>,
    events: EventRing,
}

impl ControlServer {
    /// Binds the socket (see `socket::bind_control_socket` for the
    /// permission dance) and registers the listener with `registry`.
    pub fn bind(registry: &Registry, settings: ControlSettings) -> Result<Self, BindError> {
        let io_error = |error| BindError::Io {
            path: settings.path.clone(),
            error,
        };
        let (mut listener, bound) = socket::bind_control_socket(
            &settings.path,
            settings.policy.socket_permissions(),
            settings.policy.owner_uid,
            settings.own_directory,
        )?;
        let registry = registry.try_clone().map_err(io_error)?;
        if let Err(error) =
            registry.register(&mut listener, settings.tokens.listener, Interest::READABLE)
        {
            bound.remove();
            return Err(io_error(error));
        }
        let mut clients = Vec::with_capacity(settings.tokens.max_clients);
        clients.resize_with(settings.tokens.max_clients, || None);
        Ok(ControlServer {
            listener,
            registry,
            bound,
            tokens: settings.tokens,
            policy: settings.policy,
            accounts: settings.accounts,
            clients,
            next_generation: 1,
            requests: VecDeque::new(),
            events: EventRing::new(EVENT_RING_CAPACITY),
        })
    }

    pub fn path(&self) -> &Path {
        &self.bound.path
    }

    /// Whether `token` is one of the server's (the runtime routes tokens
    /// with `tokens::Source`).
    #[cfg(test)]
    pub fn owns(&self, token: Token) -> bool {
        self.tokens.contains(token)
    }

    /// Whether `client` is still connected (a follower may have left).
    pub fn is_connected(&self, client: ClientId) -> bool {
        self.clients
            .get(client.slot)
            .and_then(Option::as_ref)
            .is_some_and(|current| current.generation == client.generation)
    }

    pub fn client_count(&self) -> usize {
        self.clients.iter().filter(|c| c.is_some()).count()
    }

    /// Changes who may connect (after a reload) and the socket's mode and
    /// group to match. Open connections are re-checked at their next request.
    pub fn set_policy(&mut self, policy: AccessPolicy) -> Result<(), BindError> {
        if policy == self.policy {
            return Ok(());
        }
        self.policy = policy;
        socket::change_permissions(&mut self.bound, self.policy.socket_permissions())
    }

    /// Readiness on one of the server's tokens.
    pub fn handle(&mut self, token: Token, now: Instant) {
        if token == self.tokens.listener {
            self.accept_all(now);
        } else if let Some(slot) = token.0.checked_sub(self.tokens.first_client)
            && slot < self.clients.len()
        {
            self.pump(slot, now);
        }
    }

    /// The next authorized request, in arrival order.
    pub fn next_request(&mut self) -> Option<IncomingRequest> {
        self.requests.pop_front()
    }

    /// Sends the reply to a request from `next_request`. The connection
    /// then waits for the client's next request.
    pub fn reply(&mut self, client: ClientId, reply: &Reply, now: Instant) {
        self.answer(client, reply, Phase::Reading, now);
    }

    /// Answers a request with `reply` and keeps the connection as a stream
    /// (`logs -f`): further lines go out with `stream()`.
    pub fn begin_stream(&mut self, client: ClientId, reply: &Reply, now: Instant) {
        self.answer(client, reply, Phase::Streaming, now);
    }

    fn answer(&mut self, client: ClientId, reply: &Reply, next: Phase, now: Instant) {
        let Some(current) = self.client_mut(client) else {
            return;
        };
        if current.phase != Phase::Busy {
            return;
        }
        current.queue(&reply.to_line());
        current.phase = next;
        current.replies_sent += 1;
        // A reply must be taken within the timeout; a stream has no end.
        current.deadline = (next == Phase::Reading).then_some(now + REQUEST_TIMEOUT);
        self.pump(client.slot, now);
    }

    /// One more line for a streaming client. A client whose unsent backlog
    /// passes `STREAM_BACKLOG_LIMIT` is dropped.
    pub fn stream(&mut self, client: ClientId, line: &StreamLine, now: Instant) {
        let Some(current) = self.client_mut(client) else {
            return;
        };
        if current.phase != Phase::Streaming {
            return;
        }
        self.push_stream_line(client.slot, &line.to_line(), now);
    }

    /// Ends a stream with a final error line, then closes the connection.
    pub fn end_stream(&mut self, client: ClientId, error: ProtocolError, now: Instant) {
        let Some(current) = self.client_mut(client) else {
            return;
        };
        if current.phase != Phase::Streaming {
            return;
        }
        fail(current, error, now);
        self.pump(client.slot, now);
    }

    /// Records a state change in the events ring and streams it to every
    /// `events` follower.
    pub fn publish(&mut self, transition: &Transition, clock: &WallClock) {
        let line = StreamLine::event(self.events.record(transition, clock).clone()).to_line();
        for slot in 0..self.clients.len() {
            let follows = self.clients[slot]
                .as_ref()
                .is_some_and(|c| c.follows_events && c.phase == Phase::Streaming);
            if follows {
                self.push_stream_line(slot, &line, clock.instant);
            }
        }
    }

    pub fn events(&self) -> &EventRing {
        &self.events
    }

    /// The earliest time a client must have made progress by.
    pub fn next_deadline(&self) -> Option<Instant> {
        self.clients
            .iter()
            .flatten()
            .filter_map(|client| client.deadline)
            .min()
    }

    /// Ends the connections whose deadline has passed: a silent client
    /// gets a `timeout` error first; an idle one after a reply just closes.
    pub fn handle_timeout(&mut self, now: Instant) {
        for slot in 0..self.clients.len() {
            let Some(client) = self.clients[slot].as_mut() else {
                continue;
            };
            if client.deadline.is_none_or(|deadline| deadline > now) {
                continue;
            }
            let idle = client.replies_sent > 0 && client.input.is_empty();
            if client.phase == Phase::Reading && client.backlog() == 0 && !idle {
                client.queue(
                    &Reply::failure(
                        ErrorKind::Timeout,
                        format!("no complete request within {}s", REQUEST_TIMEOUT.as_secs()),
                    )
                    .to_line(),
                );
                let _ = flush(client);
            }
            self.close(slot);
        }
    }

    /// After a panic in the loop: each request taken by the runtime and
    /// never answered gets an error reply, so its client does not wait.
    pub fn abandon_requests_in_progress(&mut self, now: Instant) {
        for slot in 0..self.clients.len() {
            let Some(client) = self.clients[slot].as_ref() else {
                continue;
            };
            let id = ClientId {
                slot,
                generation: client.generation,
            };
            let queued = self.requests.iter().any(|request| request.client == id);
            if client.phase == Phase::Busy && !queued {
                let error = ProtocolError::new(
                    ErrorKind::Failed,
                    "svinit hit an internal error while answering this request",
                );
                self.answer(id, &Reply::error(error), Phase::Reading, now);
            }
        }
    }

    fn client_mut(&mut self, client: ClientId) -> Option<&mut Client> {
        self.clients
            .get_mut(client.slot)?
            .as_mut()
            .filter(|current| current.generation == client.generation)
    }

    fn accept_all(&mut self, now: Instant) {
        loop {
            match self.listener.accept() {
                Ok((stream, _)) => self.admit(stream, now),
                Err(err) if err.kind() == io::ErrorKind::WouldBlock => break,
                Err(err)
                    if matches!(
                        err.kind(),
                        io::ErrorKind::Interrupted | io::ErrorKind::ConnectionAborted
                    ) => {}
                Err(err) => {
                    // EMFILE and the like: the pending connection is retried
                    // at the next readiness of the listener.
                    warn!("", "control socket: accept failed: {err}");
                    break;
                }
            }
        }
    }

    fn admit(&mut self, mut stream: UnixStream, now: Instant) {
        let mut peer = match access::peer_credentials(&stream) {
            Ok(peer) => peer,
            Err(err) => {
                debug!("", "control socket: no peer credentials: {err}");
                return;
            }
        };
        if self.policy.needs_groups_of(peer.uid) {
            peer.groups = self.accounts.groups_of(peer.uid);
        }
        if self.policy.decide(&peer) == Access::Denied {
            info!(
                "",
                "control socket: refused uid {} ({}): not root, svinit's user or a member of the control groups",
                peer.uid,
                describe_pid(peer.pid)
            );
            refuse(&stream, permission_denied(&peer));
            return;
        }
        let Some(slot) = self.clients.iter().position(Option::is_none) else {
            refuse(
                &stream,
                ProtocolError::new(
                    ErrorKind::TooManyClients,
                    format!(
                        "svinit is serving {} clients already; try again later",
                        self.clients.len()
                    ),
                ),
            );
            return;
        };
        let token = Token(self.tokens.first_client + slot);
        if let Err(err) =
            self.registry
                .register(&mut stream, token, Interest::READABLE | Interest::WRITABLE)
        {
            warn!("", "control socket: cannot watch a connection: {err}");
            return;
        }
        let generation = self.next_generation;
        self.next_generation += 1;
        self.clients[slot] = Some(Client {
            stream,
            generation,
            peer,
            phase: Phase::Reading,
            input: Vec::new(),
            output: Vec::new(),
            written: 0,
            deadline: Some(now + REQUEST_TIMEOUT),
            input_closed: false,
            replies_sent: 0,
            follows_events: false,
        });
        self.pump(slot, now);
    }

    /// Moves a connection as far as it can go without blocking: writes what
    /// is queued, reads what has arrived, and takes the next request when
    /// the previous reply is fully written (one request at a time per
    /// connection, which also bounds what a client can make svinit buffer).
    fn pump(&mut self, slot: usize, now: Instant) {
        let outcome = match self.clients.get_mut(slot).and_then(Option::as_mut) {
            Some(client) => {
                let id = ClientId {
                    slot,
                    generation: client.generation,
                };
                drive(
                    client,
                    id,
                    now,
                    &self.policy,
                    &mut self.requests,
                    &self.events,
                )
            }
            None => return,
        };
        if let Outcome::Close = outcome {
            self.close(slot);
        }
    }

    fn push_stream_line(&mut self, slot: usize, line: &str, now: Instant) {
        let Some(client) = self.clients.get_mut(slot).and_then(Option::as_mut) else {
            return;
        };
        if client.backlog() + line.len() > STREAM_BACKLOG_LIMIT {
            debug!(
                "",
                "control socket: dropping a follower (uid {}, {}) that does not read",
                client.peer.uid,
                describe_pid(client.peer.pid)
            );
            self.close(slot);
            return;
        }
        client.queue(line);
        self.pump(slot, now);
    }

    fn close(&mut self, slot: usize) {
        if let Some(mut client) = self.clients.get_mut(slot).and_then(Option::take) {
            let _ = self.registry.deregister(&mut client.stream);
        }
    }
}

impl Drop for ControlServer {
    fn drop(&mut self) {
        self.bound.remove();
    }
}

/// `pid 42`; the kernel gives 0 for a peer outside svinit's PID namespace.
fn describe_pid(pid: i32) -> String {
    if pid > 0 {
        format!("pid {pid}")
    } else {
        "pid outside svinit's PID namespace".to_string()
    }
}

fn permission_denied(peer: &Peer) -> ProtocolError {
    ProtocolError::new(
        ErrorKind::PermissionDenied,
        format!(
            "permission denied: uid {} may not use svinit's control socket",
            peer.uid
        ),
    )
}

/// Best-effort error line to a connection that is about to be dropped.
fn refuse(stream: &UnixStream, error: ProtocolError) {
    let mut stream = stream;
    let _ = stream.write(Reply::error(error).to_line().as_bytes());
}

/// Writes queued output until done or the socket is full.
fn flush(client: &mut Client) -> io::Result<()> {
    while client.written < client.output.len() {
        match client.stream.write(&client.output[client.written..]) {
            Ok(0) => return Err(io::ErrorKind::WriteZero.into()),
            Ok(n) => client.written += n,
            Err(err) if err.kind() == io::ErrorKind::WouldBlock => return Ok(()),
            Err(err) if err.kind() == io::ErrorKind::Interrupted => {}
            Err(err) => return Err(err),
        }
    }
    if client.output.capacity() > RETAINED_BUFFER {
        client.output = Vec::new();
    } else {
        client.output.clear();
    }
    client.written = 0;
    Ok(())
}

/// Reads what has arrived, up to just past the request limit. Input of a
/// streaming or closing client is read and dropped (so a hang-up is seen).
fn fill(client: &mut Client) -> io::Result<()> {
    let mut chunk = [0u8; READ_CHUNK];
    while !client.input_closed {
        let keep = matches!(client.phase, Phase::Reading | Phase::Busy);
        if keep && client.input.len() > MAX_REQUEST_BYTES {
            return Ok(());
        }
        match client.stream.read(&mut chunk) {
            Ok(0) => client.input_closed = true,
            Ok(n) if keep => client.input.extend_from_slice(&chunk[..n]),
            Ok(_) => {}
            Err(err) if err.kind() == io::ErrorKind::WouldBlock => return Ok(()),
            Err(err) if err.kind() == io::ErrorKind::Interrupted => {}
            Err(err) => return Err(err),
        }
    }
    Ok(())
}

/// Takes the next line out of `input`: `Some(line)` without its newline
/// (and `\r`), or the rest at end of input.
fn take_line(input: &mut Vec<u8>, at_end: bool) -> Option<Vec<u8>> {
    let line = match input.iter().position(|&b| b == b'\n') {
        Some(newline) => {
            let mut line: Vec<u8> = input.drain(..=newline).collect();
            line.pop();
            line
        }
        None if at_end && !input.is_empty() => std::mem::take(input),
        None => return None,
    };
    if input.is_empty() && input.capacity() > RETAINED_BUFFER {
        *input = Vec::new();
    }
    let mut line = line;
    if line.last() == Some(&b'\r') {
        line.pop();
    }
    Some(line)
}

/// Queues a final error and switches the client to closing.
fn fail(client: &mut Client, error: ProtocolError, now: Instant) {
    client.queue(&Reply::error(error).to_line());
    client.phase = Phase::Closing;
    client.deadline = Some(now + REQUEST_TIMEOUT);
}

/// One pass of `pump` over a client; see there.
fn drive(
    client: &mut Client,
    id: ClientId,
    now: Instant,
    policy: &AccessPolicy,
    requests: &mut VecDeque<IncomingRequest>,
    events: &EventRing,
) -> Outcome {
    loop {
        let before = client.backlog();
        if flush(client).is_err() {
            return Outcome::Close;
        }
        if client.backlog() == 0 && client.phase == Phase::Closing {
            return Outcome::Close;
        }
        if client.backlog() < before && client.phase == Phase::Reading {
            // A client taking its reply is making progress.
            client.deadline = Some(now + REQUEST_TIMEOUT);
        }
        if fill(client).is_err() {
            return Outcome::Close;
        }
        if client.phase != Phase::Reading || client.backlog() > 0 {
            // Hung up while streaming, or with nothing left to answer.
            let finished =
                client.input_closed && client.backlog() == 0 && client.phase == Phase::Streaming;
            return if finished {
                Outcome::Close
            } else {
                Outcome::Keep
            };
        }
        let Some(line) = take_line(&mut client.input, client.input_closed) else {
            if client.input.len() > MAX_REQUEST_BYTES {
                fail(
                    client,
                    ProtocolError::new(
                        ErrorKind::TooLarge,
                        format!("request longer than {MAX_REQUEST_BYTES} bytes"),
                    ),
                    now,
                );
                continue;
            }
            if client.input_closed {
                return Outcome::Close;
            }
            return Outcome::Keep;
        };
        if line.iter().all(u8::is_ascii_whitespace) {
            continue;
        }
        let request = match Request::parse(&line) {
            Ok(request) => request,
            Err(error) => {
                fail(client, error, now);
                continue;
            }
        };
        match policy.decide(&client.peer) {
            Access::Full => {}
            Access::ReadOnly if request.is_read_only() => {}
            Access::ReadOnly => {
                let error = ProtocolError::new(
                    ErrorKind::PermissionDenied,
                    format!(
                        "permission denied: uid {} may only read (status, logs, events, tree, blame), not `{}`",
                        client.peer.uid,
                        request.command()
                    ),
                );
                fail(client, error, now);
                continue;
            }
            Access::Denied => {
                fail(client, permission_denied(&client.peer), now);
                continue;
            }
        }
        if let Request::Events { since, follow } = request {
            start_events(client, events, since, follow, now);
            continue;
        }
        if !request.is_read_only() {
            info!(
                "",
                "control: {} (uid {}, {})",
                request.summary(),
                client.peer.uid,
                describe_pid(client.peer.pid)
            );
        }
        client.phase = Phase::Busy;
        client.deadline = None;
        requests.push_back(IncomingRequest {
            client: id,
            peer: client.peer.clone(),
            request,
        });
        return Outcome::Keep;
    }
}

/// `events`: the ok reply with what the ring holds, the replay after
/// `since`, then either the live stream or the end of the connection.
fn start_events(
    client: &mut Client,
    ring: &EventRing,
    since: Option<u64>,
    follow: bool,
    now: Instant,
) {
    let report: EventsReport = ring.report(since);
    client.queue(&Reply::ok(&report).to_line());
    if let Some(since) = since {
        for event in ring.after(since) {
            client.queue(&StreamLine::event(event.clone()).to_line());
        }
    }
    client.replies_sent += 1;
    if follow {
        client.phase = Phase::Streaming;
        client.follows_events = true;
        client.deadline = None;
    } else {
        client.phase = Phase::Closing;
        client.deadline = Some(now + REQUEST_TIMEOUT);
    }
}

#[cfg(test)]
mod tests;
