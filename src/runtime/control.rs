//! The control socket server, owned by the runtime and driven by its mio
//! loop: accepts connections, checks `SO_PEERCRED`, reads request lines
//! with hard limits (64 KiB, 5 s, bounded clients, bounded output), hands
//! parsed and authorized requests to the runtime and writes its replies
//! without ever blocking. It also keeps the ring of state changes behind
//! `svctl events` and streams them to followers; what requests *do* is the
//! runtime's business.
//!
//! Fair to clients, whatever they send (SPEC.md §7):
//! - A loop turn serves each client at most once, with a budget of
//!   [`READ_BUDGET`] bytes read and [`LINE_BUDGET`] lines taken (empty
//!   lines count), and at most one request: the next one is taken on a
//!   later turn, once the reply is written. A client with input left when
//!   its budget runs out is queued for the next turn (readiness is
//!   edge-triggered: no new event comes for data already there) and the
//!   loop then polls with a zero timeout, as for service output. Accepting
//!   is bounded too ([`ACCEPT_BUDGET`] connections a turn). So a flood
//!   costs a turn at most 16 KiB of reading and 64 lines, and every other
//!   client is served between two of its turns. 16 KiB: the largest
//!   request (64 KiB) still arrives in four turns; 64 lines: far more than
//!   a real client sends at once (a request, then it reads the reply).
//! - Slots: [`MAX_CLIENTS`] connections at once, of which read-only peers
//!   (`read-group=`) hold at most half together ([`READ_ONLY_CLIENTS`]):
//!   full-access peers (root, svinit's user, `group=`) always find the
//!   other half. A read-only peer past its share gets a `too-many-clients`
//!   error naming the limit right after `accept`.
//! - Streams (`events`, `logs -f`) are the connections that never time
//!   out, so one uid (root included) may follow at most
//!   [`STREAMS_PER_UID`] at once, a quarter of the slots: plenty for a
//!   person's terminals and a monitor, and no single read-only uid can fill
//!   even the read-only share with them. Past it, the request gets a
//!   `too-many-clients` error naming the limit.
//!
//! Use from the loop: `handle(token)` on readiness of any of its tokens,
//! then once per turn `pump(now)` and drain `next_request()` answering
//! each with `reply()`; `publish()` every state change; sleep no longer
//! than `poll_timeout()` and call `handle_timeout(now)` after every wakeup.

mod access;
mod events;
mod socket;

use std::collections::{HashMap, VecDeque};
use std::io::{self, Write};
use std::os::fd::AsFd;
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

pub(crate) use self::access::{Access, AccessPolicy, AccountCache, AccountFiles, Peer};
pub(crate) use self::events::{EVENT_RING_CAPACITY, EventRing};
pub(crate) use self::socket::{BindError, BoundSocket};

/// Clients served at once; one more gets a `too-many-clients` error.
pub(crate) const MAX_CLIENTS: usize = 128;
/// Bytes read from one client in one loop turn.
pub(crate) const READ_BUDGET: usize = 16 * 1024;
/// Lines (empty ones included) taken from one client in one loop turn.
pub(crate) const LINE_BUDGET: usize = 64;
/// Connections accepted in one loop turn.
pub(crate) const ACCEPT_BUDGET: usize = 32;
/// Time for a whole request line to arrive, for an idle connection to send
/// its next one, and for a client to take a reply or an error.
pub(crate) const REQUEST_TIMEOUT: Duration = Duration::from_secs(5);
/// Unsent stream output (events, logs -f) past which a follower that does
/// not read is dropped.
pub(crate) const STREAM_BACKLOG_LIMIT: usize = 1024 * 1024;

/// Buffers that grew past this (a big status reply) are freed once empty.
const RETAINED_BUFFER: usize = 64 * 1024;

/// The mio tokens the runtime lends the server: one for the listener and
/// `max_clients` consecutive ones for connections.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct ControlTokens {
    pub(crate) listener: Token,
    pub(crate) first_client: usize,
    pub(crate) max_clients: usize,
}

impl ControlTokens {
    #[cfg(test)]
    pub(crate) fn contains(&self, token: Token) -> bool {
        token == self.listener
            || (self.first_client..self.first_client + self.max_clients).contains(&token.0)
    }
}

/// The shares of a server with `clients` slots (see the module header).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Limits {
    clients: usize,
    read_only: usize,
    streams_per_uid: usize,
}

impl Limits {
    const fn for_slots(clients: usize) -> Limits {
        let quarter = if clients >= 4 { clients / 4 } else { 1 };
        Limits {
            clients,
            read_only: clients - clients / 2,
            streams_per_uid: quarter,
        }
    }
}

/// Where and how to listen.
#[derive(Debug, Clone)]
pub(crate) struct ControlSettings {
    pub(crate) path: PathBuf,
    /// The socket's directory is svinit's own (the default path): create
    /// or adjust its mode, and refuse it if another user owns it. For a
    /// path given with `-s`, an existing directory is left as it is.
    pub(crate) own_directory: bool,
    pub(crate) policy: AccessPolicy,
    pub(crate) tokens: ControlTokens,
    pub(crate) accounts: AccountFiles,
}

/// A connection, stable across slot reuse: a reply to a client that has
/// gone is dropped rather than sent to its successor.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) struct ClientId {
    slot: usize,
    generation: u64,
}

/// An authorized request for the runtime to execute and `reply()` to.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct IncomingRequest {
    pub(crate) client: ClientId,
    pub(crate) peer: Peer,
    pub(crate) request: Request,
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

/// Bytes read from a client and not yet taken as lines. Lines are taken
/// by moving `start`; the taken bytes go at the next read, all at once.
#[derive(Default)]
struct Input {
    bytes: Vec<u8>,
    start: usize,
}

impl Input {
    fn pending(&self) -> usize {
        self.bytes.len() - self.start
    }

    fn extend(&mut self, data: &[u8]) {
        if self.start > 0 {
            self.bytes.drain(..self.start);
            self.start = 0;
        }
        self.bytes.extend_from_slice(data);
    }

    /// The next line without its newline (and `\r`), or the rest at end of
    /// input.
    fn take_line(&mut self, at_end: bool) -> Option<Vec<u8>> {
        let rest = &self.bytes[self.start..];
        let (mut line, taken) = match rest.iter().position(|&b| b == b'\n') {
            Some(newline) => (&rest[..newline], newline + 1),
            None if at_end && !rest.is_empty() => (rest, rest.len()),
            None => return None,
        };
        if line.last() == Some(&b'\r') {
            line = &line[..line.len() - 1];
        }
        let line = line.to_vec();
        self.start += taken;
        if self.pending() == 0 {
            if self.bytes.capacity() > RETAINED_BUFFER {
                self.bytes = Vec::new();
            } else {
                self.bytes.clear();
            }
            self.start = 0;
        }
        Some(line)
    }
}

struct Client {
    stream: UnixStream,
    generation: u64,
    peer: Peer,
    /// Admitted as a read-only peer: counts against `Limits::read_only`.
    read_only: bool,
    phase: Phase,
    input: Input,
    output: Vec<u8>,
    /// Bytes of `output` already written.
    written: usize,
    deadline: Option<Instant>,
    /// The peer shut down its writing side (or hung up).
    input_closed: bool,
    replies_sent: u64,
    follows_events: bool,
    /// Holds one of its uid's stream places (`Limits::streams_per_uid`).
    holds_stream: bool,
    /// In `ControlServer::ready`.
    queued: bool,
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
    /// Nothing more to do until its next readiness (or reply).
    Keep,
    /// Its budget ran out with input maybe left: serve it next turn.
    Again,
    Close,
}

/// What one client may still take in this loop turn.
struct Budget {
    bytes: usize,
    lines: usize,
}

impl Budget {
    fn turn() -> Budget {
        Budget {
            bytes: READ_BUDGET,
            lines: LINE_BUDGET,
        }
    }
}

/// What `fill` found.
enum Fill {
    /// Read some bytes; there may be more.
    Read,
    /// Nothing more for now (or the input is at its limit).
    Waiting,
    /// The budget ran out before the socket was drained.
    Spent,
    /// The peer has closed its side.
    Closed,
}

pub(crate) struct ControlServer {
    listener: UnixListener,
    registry: Registry,
    bound: BoundSocket,
    tokens: ControlTokens,
    limits: Limits,
    policy: AccessPolicy,
    accounts: AccountFiles,
    account_cache: AccountCache,
    refusals: RefusalLog,
    clients: Vec<Option<Client>>,
    next_generation: u64,
    /// Clients to serve at the next `pump`, in turn order.
    ready: VecDeque<usize>,
    /// The listener may have connections waiting.
    listener_ready: bool,
    /// Stream places held, by uid.
    streams: HashMap<u32, usize>,
    requests: VecDeque<IncomingRequest>,
    events: EventRing,
}

impl ControlServer {
    /// Binds the socket (see `socket::bind_control_socket` for the
    /// permission dance) and registers the listener with `registry`.
    pub(crate) fn bind(registry: &Registry, settings: ControlSettings) -> Result<Self, BindError> {
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
            limits: Limits::for_slots(settings.tokens.max_clients),
            policy: settings.policy,
            accounts: settings.accounts,
            account_cache: AccountCache::default(),
            refusals: RefusalLog::default(),
            clients,
            next_generation: 1,
            ready: VecDeque::new(),
            listener_ready: false,
            streams: HashMap::new(),
            requests: VecDeque::new(),
            events: EventRing::new(EVENT_RING_CAPACITY),
        })
    }

    pub(crate) fn path(&self) -> &Path {
        &self.bound.path
    }

    /// Whether `token` is one of the server's (the runtime routes tokens
    /// with `tokens::Source`).
    #[cfg(test)]
    pub(crate) fn owns(&self, token: Token) -> bool {
        self.tokens.contains(token)
    }

    /// Whether `client` is still connected (a follower may have left).
    pub(crate) fn is_connected(&self, client: ClientId) -> bool {
        self.clients
            .get(client.slot)
            .and_then(Option::as_ref)
            .is_some_and(|current| current.generation == client.generation)
    }

    #[cfg(test)]
    pub(crate) fn client_count(&self) -> usize {
        self.clients.iter().filter(|c| c.is_some()).count()
    }

    /// Changes who may connect (after a reload) and the socket's mode and
    /// group to match. Open connections are re-checked at their next request.
    pub(crate) fn set_policy(&mut self, policy: AccessPolicy) -> Result<(), BindError> {
        if policy == self.policy {
            return Ok(());
        }
        self.policy = policy;
        socket::change_permissions(&self.bound, self.policy.socket_permissions())
    }

    /// Readiness on one of the server's tokens: its owner gets its turn at
    /// the next `pump`.
    pub(crate) fn handle(&mut self, token: Token) {
        if token == self.tokens.listener {
            self.listener_ready = true;
        } else if let Some(slot) = token.0.checked_sub(self.tokens.first_client)
            && slot < self.clients.len()
        {
            self.enqueue(slot);
        }
    }

    /// One loop turn: accepts up to [`ACCEPT_BUDGET`] connections, then
    /// serves every queued client once, within its budget; those with
    /// input left are queued for the next turn.
    pub(crate) fn pump(&mut self, now: Instant) {
        if std::mem::take(&mut self.listener_ready) {
            self.accept_some(now);
        }
        for _ in 0..self.ready.len() {
            let Some(slot) = self.ready.pop_front() else {
                break;
            };
            if let Some(client) = self.clients.get_mut(slot).and_then(Option::as_mut) {
                client.queued = false;
                self.serve(slot, now);
            }
        }
    }

    /// The earliest time the loop must call back: now when clients (or the
    /// listener) have work left over, else the earliest client deadline.
    pub(crate) fn poll_timeout(&self) -> Option<Instant> {
        if self.listener_ready || !self.ready.is_empty() {
            return Some(Instant::now());
        }
        self.next_deadline()
    }

    /// The next authorized request, in arrival order.
    pub(crate) fn next_request(&mut self) -> Option<IncomingRequest> {
        self.requests.pop_front()
    }

    /// Sends the reply to a request from `next_request`. The connection
    /// then waits for the client's next request.
    pub(crate) fn reply(&mut self, client: ClientId, reply: &Reply, now: Instant) {
        self.answer(client, reply, Phase::Reading, now);
    }

    /// Answers a request with `reply` and keeps the connection as a stream
    /// (`logs -f`): further lines go out with `stream()`.
    pub(crate) fn begin_stream(&mut self, client: ClientId, reply: &Reply, now: Instant) {
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
        let released = current.holds_stream && next != Phase::Streaming;
        if released {
            current.holds_stream = false;
            let uid = current.peer.uid;
            self.release_stream(uid);
        }
        // The next request, maybe already read, waits for the next turn.
        self.enqueue(client.slot);
        self.write_out(client.slot, now);
    }

    /// One more line for a streaming client. A client whose unsent backlog
    /// passes `STREAM_BACKLOG_LIMIT` is dropped.
    pub(crate) fn stream(&mut self, client: ClientId, line: &StreamLine, now: Instant) {
        let Some(current) = self.client_mut(client) else {
            return;
        };
        if current.phase != Phase::Streaming {
            return;
        }
        self.push_stream_line(client.slot, &line.to_line(), now);
    }

    /// Ends a stream with a final error line, then closes the connection.
    pub(crate) fn end_stream(&mut self, client: ClientId, error: ProtocolError, now: Instant) {
        let Some(current) = self.client_mut(client) else {
            return;
        };
        if current.phase != Phase::Streaming {
            return;
        }
        fail(current, error, now);
        self.write_out(client.slot, now);
    }

    /// Records a state change in the events ring and streams it to every
    /// `events` follower.
    pub(crate) fn publish(&mut self, transition: &Transition, clock: &WallClock) {
        let event = self.events.record(transition, clock).clone();
        self.send_event(&event, clock);
    }

    /// A change of `name`'s health state, to the ring and the followers.
    pub(crate) fn publish_health(
        &mut self,
        name: &str,
        from: crate::supervisor::HealthState,
        to: crate::supervisor::HealthState,
        clock: &WallClock,
    ) {
        let event = self.events.record_health(name, from, to, clock).clone();
        self.send_event(&event, clock);
    }

    fn send_event(&mut self, event: &crate::control::EventRecord, clock: &WallClock) {
        let followers: Vec<usize> = (0..self.clients.len())
            .filter(|&slot| {
                self.clients[slot]
                    .as_ref()
                    .is_some_and(|c| c.follows_events && c.phase == Phase::Streaming)
            })
            .collect();
        // Serialized only if someone follows: a shutdown publishes two
        // transitions per service, usually to nobody.
        if followers.is_empty() {
            return;
        }
        let line = StreamLine::event(event.clone()).to_line();
        for slot in followers {
            self.push_stream_line(slot, &line, clock.instant);
        }
    }

    #[cfg(test)]
    pub(crate) fn events(&self) -> &EventRing {
        &self.events
    }

    /// The earliest time a client must have made progress by.
    pub(crate) fn next_deadline(&self) -> Option<Instant> {
        self.clients
            .iter()
            .flatten()
            .filter_map(|client| client.deadline)
            .min()
    }

    /// Ends the connections whose deadline has passed: a silent client
    /// gets a `timeout` error first; an idle one after a reply just closes.
    pub(crate) fn handle_timeout(&mut self, now: Instant) {
        for slot in 0..self.clients.len() {
            let Some(client) = self.clients[slot].as_mut() else {
                continue;
            };
            if client.deadline.is_none_or(|deadline| deadline > now) {
                continue;
            }
            let idle = client.replies_sent > 0 && client.input.pending() == 0;
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
    pub(crate) fn abandon_requests_in_progress(&mut self, now: Instant) {
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

    fn enqueue(&mut self, slot: usize) {
        if let Some(client) = self.clients.get_mut(slot).and_then(Option::as_mut)
            && !client.queued
        {
            client.queued = true;
            self.ready.push_back(slot);
        }
    }

    fn accept_some(&mut self, now: Instant) {
        for _ in 0..ACCEPT_BUDGET {
            match self.listener.accept() {
                Ok((stream, _)) => self.admit(stream, now),
                Err(err) if err.kind() == io::ErrorKind::WouldBlock => return,
                Err(err)
                    if matches!(
                        err.kind(),
                        io::ErrorKind::Interrupted | io::ErrorKind::ConnectionAborted
                    ) => {}
                Err(err) => {
                    // EMFILE and the like: the pending connection is retried
                    // at the next readiness of the listener.
                    warn!("", "control socket: accept failed: {err}");
                    return;
                }
            }
        }
        // More may be waiting: no new readiness will say so.
        self.listener_ready = true;
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
            peer.groups = self.account_cache.groups_of(&self.accounts, peer.uid);
        }
        let access = self.policy.decide(&peer);
        if access == Access::Denied {
            if let Some(unlogged) = self.refusals.note(peer.uid, now) {
                let more = match unlogged {
                    0 => String::new(),
                    n => format!(" ({n} more refused since the last line)"),
                };
                info!(
                    "",
                    "control socket: refused uid {} ({}): not root, svinit's user or a member of the control groups{more}",
                    peer.uid,
                    describe_pid(peer.pid)
                );
            }
            refuse(&stream, permission_denied(&peer));
            return;
        }
        let read_only = access == Access::ReadOnly;
        if read_only && self.read_only_clients() >= self.limits.read_only {
            debug!(
                "",
                "control socket: refused uid {} ({}): read-only share full",
                peer.uid,
                describe_pid(peer.pid)
            );
            refuse(
                &stream,
                ProtocolError::new(
                    ErrorKind::TooManyClients,
                    format!(
                        "svinit is serving {} read-only clients already, the most it serves at once (the other {} of its {} slots are kept for full-access users); try again later",
                        self.limits.read_only,
                        self.limits.clients - self.limits.read_only,
                        self.limits.clients
                    ),
                ),
            );
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
            read_only,
            phase: Phase::Reading,
            input: Input::default(),
            output: Vec::new(),
            written: 0,
            deadline: Some(now + REQUEST_TIMEOUT),
            input_closed: false,
            replies_sent: 0,
            follows_events: false,
            holds_stream: false,
            queued: false,
        });
        // Its first turn is in this pump: it was accepted for input.
        self.enqueue(slot);
    }

    fn read_only_clients(&self) -> usize {
        self.clients
            .iter()
            .flatten()
            .filter(|client| client.read_only)
            .count()
    }

    /// One turn of a client: writes what is queued, reads what has
    /// arrived and takes its next request, within a fresh budget.
    fn serve(&mut self, slot: usize, now: Instant) {
        let Some(client) = self.clients.get_mut(slot).and_then(Option::as_mut) else {
            return;
        };
        let id = ClientId {
            slot,
            generation: client.generation,
        };
        let mut context = Context {
            now,
            policy: &self.policy,
            events: &self.events,
            requests: &mut self.requests,
            streams: &mut self.streams,
            streams_per_uid: self.limits.streams_per_uid,
        };
        match drive(client, id, &mut context, &mut Budget::turn()) {
            Outcome::Keep => {}
            Outcome::Again => self.enqueue(slot),
            Outcome::Close => self.close(slot),
        }
    }

    /// Writes what is queued for `slot` (never reads: that is its turn's
    /// job); closes it when the write fails or its final line is out.
    fn write_out(&mut self, slot: usize, now: Instant) {
        let Some(client) = self.clients.get_mut(slot).and_then(Option::as_mut) else {
            return;
        };
        if write_queued(client, now).is_err() {
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
        self.write_out(slot, now);
    }

    fn release_stream(&mut self, uid: u32) {
        if let Some(count) = self.streams.get_mut(&uid) {
            *count = count.saturating_sub(1);
            if *count == 0 {
                self.streams.remove(&uid);
            }
        }
    }

    fn close(&mut self, slot: usize) {
        if let Some(mut client) = self.clients.get_mut(slot).and_then(Option::take) {
            let _ = self.registry.deregister(&mut client.stream);
            super::passed_fds::drain_before_close(client.stream.as_fd());
            if client.holds_stream {
                self.release_stream(client.peer.uid);
            }
            if client.queued {
                self.ready.retain(|&queued| queued != slot);
            }
        }
    }
}

impl Drop for ControlServer {
    fn drop(&mut self) {
        self.bound.remove();
    }
}

/// What a client's turn needs from the rest of the server.
struct Context<'a> {
    now: Instant,
    policy: &'a AccessPolicy,
    events: &'a EventRing,
    requests: &'a mut VecDeque<IncomingRequest>,
    streams: &'a mut HashMap<u32, usize>,
    streams_per_uid: usize,
}

/// Refused connections are logged at most once per uid this often: a
/// refused user connecting in a loop must not flood svinit's log.
const REFUSAL_LOG_EVERY: Duration = Duration::from_secs(10);
/// Uids remembered by [`RefusalLog`] before it starts afresh.
const REFUSAL_LOG_UIDS: usize = 1024;

/// When each refused uid was last logged, and how many refusals since.
#[derive(Debug, Default)]
struct RefusalLog {
    last: HashMap<u32, (Instant, u64)>,
}

impl RefusalLog {
    /// A refusal of `uid`: `Some(n)` to log it now, `n` refusals having
    /// gone unlogged before it; `None` to keep quiet.
    fn note(&mut self, uid: u32, now: Instant) -> Option<u64> {
        if !self.last.contains_key(&uid) && self.last.len() >= REFUSAL_LOG_UIDS {
            self.last.clear();
        }
        match self.last.get_mut(&uid) {
            Some((at, unlogged)) if now < *at + REFUSAL_LOG_EVERY => {
                *unlogged += 1;
                None
            }
            Some((at, unlogged)) => {
                *at = now;
                Some(std::mem::take(unlogged))
            }
            None => {
                self.last.insert(uid, (now, 0));
                Some(0)
            }
        }
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
    let mut writer = stream;
    let _ = writer.write(Reply::error(error).to_line().as_bytes());
    super::passed_fds::drain_before_close(stream.as_fd());
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

/// `flush`, and what writing means for the client: a reply being taken
/// is progress (a new deadline); a closing client whose last line is out
/// is done (an error).
fn write_queued(client: &mut Client, now: Instant) -> io::Result<()> {
    let before = client.backlog();
    flush(client)?;
    if client.backlog() == 0 && client.phase == Phase::Closing {
        return Err(io::ErrorKind::ConnectionAborted.into());
    }
    if client.backlog() < before && client.phase == Phase::Reading {
        client.deadline = Some(now + REQUEST_TIMEOUT);
    }
    Ok(())
}

/// Reads one chunk within the budget. Input of a streaming or closing
/// client is read and dropped (so a hang-up is seen); that of a reading or
/// busy one is kept, up to just past the request limit.
fn fill(client: &mut Client, budget: &mut Budget) -> io::Result<Fill> {
    if client.input_closed {
        return Ok(Fill::Closed);
    }
    let keep = matches!(client.phase, Phase::Reading | Phase::Busy);
    if keep && client.input.pending() > MAX_REQUEST_BYTES {
        return Ok(Fill::Waiting);
    }
    if budget.bytes == 0 {
        return Ok(Fill::Spent);
    }
    let mut chunk = [0u8; READ_BUDGET];
    let size = budget.bytes.min(READ_BUDGET);
    loop {
        match super::passed_fds::recv(client.stream.as_fd(), &mut chunk[..size]) {
            Ok(0) => {
                client.input_closed = true;
                return Ok(Fill::Closed);
            }
            Ok(n) => {
                budget.bytes -= n;
                if keep {
                    client.input.extend(&chunk[..n]);
                }
                return Ok(Fill::Read);
            }
            Err(err) if err.kind() == io::ErrorKind::WouldBlock => return Ok(Fill::Waiting),
            Err(err) if err.kind() == io::ErrorKind::Interrupted => {}
            Err(err) => return Err(err),
        }
    }
}

/// Queues a final error and switches the client to closing.
fn fail(client: &mut Client, error: ProtocolError, now: Instant) {
    client.queue(&Reply::error(error).to_line());
    client.phase = Phase::Closing;
    client.deadline = Some(now + REQUEST_TIMEOUT);
}

/// One turn of a client (see `ControlServer::serve`): as far as it can go
/// without blocking and within `budget`. One request at a time per
/// connection, taken only once the previous reply is written, which also
/// bounds what a client can make svinit buffer.
fn drive(client: &mut Client, id: ClientId, context: &mut Context, budget: &mut Budget) -> Outcome {
    loop {
        if write_queued(client, context.now).is_err() {
            return Outcome::Close;
        }
        if client.phase == Phase::Reading && client.backlog() == 0 {
            if budget.lines == 0 {
                return Outcome::Again;
            }
            if let Some(line) = client.input.take_line(client.input_closed) {
                budget.lines -= 1;
                take_request(client, id, &line, context);
                continue;
            }
            if client.input.pending() > MAX_REQUEST_BYTES {
                let error = ProtocolError::new(
                    ErrorKind::TooLarge,
                    format!("request longer than {MAX_REQUEST_BYTES} bytes"),
                );
                fail(client, error, context.now);
                continue;
            }
        }
        match fill(client, budget) {
            Err(_) => return Outcome::Close,
            Ok(Fill::Read) => {}
            Ok(Fill::Waiting) => return Outcome::Keep,
            Ok(Fill::Spent) => return Outcome::Again,
            // Hung up: its last line is taken at end of input; then it is
            // done once nothing is left to answer or write.
            Ok(Fill::Closed) => match client.phase {
                Phase::Reading if client.backlog() == 0 && client.input.pending() > 0 => {}
                Phase::Reading | Phase::Streaming if client.backlog() == 0 => {
                    return Outcome::Close;
                }
                _ => return Outcome::Keep,
            },
        }
    }
}

/// A line from a reading client: blank ones are skipped; a request is
/// checked and handed to the runtime (or answered here: `events`), a bad
/// one gets an error and the connection closes.
fn take_request(client: &mut Client, id: ClientId, line: &[u8], context: &mut Context) {
    if line.iter().all(u8::is_ascii_whitespace) {
        return;
    }
    let now = context.now;
    let request = match Request::parse(line) {
        Ok(request) => request,
        Err(error) => return fail(client, error, now),
    };
    match context.policy.decide(&client.peer) {
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
            return fail(client, error, now);
        }
        Access::Denied => return fail(client, permission_denied(&client.peer), now),
    }
    if request.follows() {
        let held = context.streams.entry(client.peer.uid).or_default();
        if *held >= context.streams_per_uid {
            let error = ProtocolError::new(
                ErrorKind::TooManyClients,
                format!(
                    "uid {} already follows {} streams (events, logs -f), the most one uid may; end one first",
                    client.peer.uid, context.streams_per_uid
                ),
            );
            return fail(client, error, now);
        }
        *held += 1;
        client.holds_stream = true;
    }
    if let Request::Events { since, follow } = request {
        return start_events(client, context.events, since, follow, now);
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
    context.requests.push_back(IncomingRequest {
        client: id,
        peer: client.peer.clone(),
        request,
    });
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
