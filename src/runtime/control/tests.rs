//! The server against real sockets and a real `mio::Poll`, without the
//! rest of the runtime: requests in, replies out, and every limit.

use std::io::{BufRead, BufReader, Read, Write};
use std::os::unix::fs::MetadataExt;
use std::os::unix::net::UnixStream as StdStream;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use mio::{Events, Poll, Token};
use serde_json::Value;

use super::*;
use crate::control::{EventState, EventsReport, Request, State, StreamLine};
use crate::supervisor::{ServiceId, StateKind, Transition};

struct Fixture {
    poll: Poll,
    events: Events,
    server: ControlServer,
    dir: PathBuf,
}

impl Fixture {
    fn new(tag: &str, max_clients: usize) -> Fixture {
        let dir = std::env::temp_dir().join(format!("svinit-control-{tag}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let poll = Poll::new().unwrap();
        let settings = ControlSettings {
            path: dir.join("control.sock"),
            own_directory: true,
            policy: AccessPolicy::owner_only(nix::unistd::geteuid().as_raw()),
            tokens: ControlTokens {
                listener: Token(10),
                first_client: 100,
                max_clients,
            },
            accounts: AccountFiles::default(),
        };
        let server = ControlServer::bind(poll.registry(), settings).unwrap();
        Fixture {
            poll,
            events: Events::with_capacity(64),
            server,
            dir,
        }
    }

    fn connect(&mut self) -> StdStream {
        let stream = StdStream::connect(self.server.path()).unwrap();
        stream
            .set_read_timeout(Some(Duration::from_secs(5)))
            .unwrap();
        self.turn();
        stream
    }

    /// One loop iteration, as the runtime does it.
    fn turn(&mut self) {
        self.poll
            .poll(&mut self.events, Some(Duration::from_millis(20)))
            .unwrap();
        let tokens: Vec<Token> = self.events.iter().map(|e| e.token()).collect();
        for token in tokens {
            assert!(self.server.owns(token));
            self.server.handle(token);
        }
        self.server.pump(Instant::now());
    }

    /// Connects, sends `text` and turns until its request arrives.
    fn ask(&mut self, text: &str) -> (StdStream, IncomingRequest) {
        let mut stream = self.connect();
        send(&mut stream, text);
        let incoming = self.request();
        (stream, incoming)
    }

    /// Turns until a request arrives.
    fn request(&mut self) -> IncomingRequest {
        for _ in 0..50 {
            self.turn();
            if let Some(request) = self.server.next_request() {
                return request;
            }
        }
        panic!("no request arrived");
    }

    fn no_request(&mut self) {
        for _ in 0..3 {
            self.turn();
        }
        assert!(self.server.next_request().is_none());
    }
}

impl Drop for Fixture {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

fn send(stream: &mut StdStream, text: &str) {
    stream.write_all(text.as_bytes()).unwrap();
}

fn read_reply(reader: &mut impl BufRead) -> Value {
    let mut line = String::new();
    reader.read_line(&mut line).unwrap();
    assert!(line.ends_with('\n'), "no whole line: {line:?}");
    serde_json::from_str(&line).unwrap()
}

fn error_kind(reply: &Value) -> &str {
    assert_eq!(reply["ok"], Value::Bool(false), "{reply}");
    reply["error"]["kind"].as_str().unwrap()
}

/// True when the server has closed its end (EOF or reset).
fn is_closed(stream: &mut StdStream) -> bool {
    let mut byte = [0u8; 1];
    match stream.read(&mut byte) {
        Ok(0) => true,
        Err(err) => err.kind() == std::io::ErrorKind::ConnectionReset,
        Ok(_) => false,
    }
}

fn transition(name: &str, to: StateKind) -> Transition {
    Transition {
        service: ServiceId(0),
        name: name.into(),
        from: StateKind::Down,
        to,
        pid: Some(7),
        exit: None,
        reason: None,
    }
}

#[test]
fn the_socket_is_private_and_removed_with_the_server() {
    let fixture = Fixture::new("perm", 4);
    let path = fixture.server.path().to_path_buf();
    assert_eq!(std::fs::metadata(&path).unwrap().mode() & 0o777, 0o600);
    assert_eq!(
        std::fs::metadata(&fixture.dir).unwrap().mode() & 0o777,
        0o700
    );
    drop(fixture);
    assert!(!path.exists());
}

#[test]
fn a_request_is_handed_over_and_its_reply_written() {
    let mut fixture = Fixture::new("basic", 4);
    let (mut stream, incoming) = fixture.ask(
        &Request::Status {
            names: vec!["web".into()],
        }
        .to_line(),
    );
    assert_eq!(
        incoming.request,
        Request::Status {
            names: vec!["web".into()]
        }
    );
    assert_eq!(incoming.peer.uid, nix::unistd::geteuid().as_raw());
    assert_eq!(incoming.peer.pid, std::process::id() as i32);
    fixture
        .server
        .reply(incoming.client, &Reply::ok(vec![1, 2]), Instant::now());
    let mut reader = BufReader::new(stream.try_clone().unwrap());
    let reply = read_reply(&mut reader);
    assert_eq!(reply["v"], 1);
    assert_eq!(reply["ok"], true);
    assert_eq!(reply["data"], serde_json::json!([1, 2]));

    // The same connection serves a second request.
    send(&mut stream, "{\"v\":1,\"cmd\":\"blame\"}\r\n");
    let incoming = fixture.request();
    assert_eq!(incoming.request, Request::Blame);
    fixture
        .server
        .reply(incoming.client, &Reply::ok(()), Instant::now());
    assert_eq!(read_reply(&mut reader)["ok"], true);
}

#[test]
fn pipelined_requests_are_taken_one_at_a_time_in_order() {
    let mut fixture = Fixture::new("pipeline", 4);
    let (_stream, first) =
        fixture.ask("{\"v\":1,\"cmd\":\"blame\"}\n\n{\"v\":1,\"cmd\":\"tree\"}\n");
    assert_eq!(first.request, Request::Blame);
    fixture.no_request();
    fixture
        .server
        .reply(first.client, &Reply::ok(()), Instant::now());
    let second = fixture
        .server
        .next_request()
        .unwrap_or_else(|| fixture.request());
    assert_eq!(second.request, Request::Tree { name: None });
}

#[test]
fn a_request_without_newline_is_taken_at_end_of_input() {
    let mut fixture = Fixture::new("eof", 4);
    let mut stream = fixture.connect();
    send(&mut stream, "{\"v\":1,\"cmd\":\"blame\"}");
    stream.shutdown(std::net::Shutdown::Write).unwrap();
    let incoming = fixture.request();
    fixture
        .server
        .reply(incoming.client, &Reply::ok(()), Instant::now());
    let mut reader = BufReader::new(stream.try_clone().unwrap());
    assert_eq!(read_reply(&mut reader)["ok"], true);
    fixture.turn();
    assert!(is_closed(&mut stream));
    assert_eq!(fixture.server.client_count(), 0);
}

#[test]
fn bad_lines_get_an_error_and_a_hang_up() {
    let cases = [
        ("garbage\n", "bad-json"),
        ("{\"v\":1,\"cmd\":\"status\"\n", "bad-json"),
        ("{\"v\":1,\"cmd\":\"explode\"}\n", "unknown-command"),
        ("{\"v\":9,\"cmd\":\"status\"}\n", "unsupported-version"),
        ("{\"v\":1,\"cmd\":\"start\"}\n", "bad-request"),
    ];
    let mut fixture = Fixture::new("bad", 4);
    for (line, kind) in cases {
        let mut stream = fixture.connect();
        send(&mut stream, line);
        fixture.no_request();
        let mut reader = BufReader::new(stream.try_clone().unwrap());
        assert_eq!(error_kind(&read_reply(&mut reader)), kind, "{line}");
        assert!(is_closed(&mut stream), "{line}");
    }
    assert_eq!(fixture.server.client_count(), 0);
}

#[test]
fn a_request_over_64_kib_is_refused() {
    let mut fixture = Fixture::new("large", 4);
    let mut stream = fixture.connect();
    stream.set_nonblocking(true).unwrap();
    let mut big = vec![b'x'; 1024 * 1024];
    big.push(b'\n');
    let mut sent = 0;
    // Feed the server until it gives up on us; never block the test.
    for _ in 0..2000 {
        match stream.write(&big[sent..]) {
            Ok(n) => sent += n,
            Err(err) if err.kind() == std::io::ErrorKind::WouldBlock => {}
            Err(_) => break,
        }
        fixture.turn();
        if fixture.server.client_count() == 0 || sent == big.len() {
            break;
        }
    }
    fixture.no_request();
    assert_eq!(fixture.server.client_count(), 0);
    assert!(sent < big.len(), "the server should stop reading early");
    stream.set_nonblocking(false).unwrap();
    let mut reader = BufReader::new(stream.try_clone().unwrap());
    assert_eq!(error_kind(&read_reply(&mut reader)), "too-large");
}

#[test]
fn a_silent_client_times_out_with_an_error() {
    let mut fixture = Fixture::new("timeout", 4);
    let mut stream = fixture.connect();
    send(&mut stream, "{\"v\":1,");
    fixture.turn();
    let deadline = fixture.server.next_deadline().unwrap();
    let remaining = deadline.saturating_duration_since(Instant::now());
    assert!(remaining <= REQUEST_TIMEOUT && remaining > Duration::from_secs(4));
    // Not yet.
    fixture.server.handle_timeout(Instant::now());
    assert_eq!(fixture.server.client_count(), 1);
    fixture.server.handle_timeout(deadline);
    assert_eq!(fixture.server.client_count(), 0);
    assert!(fixture.server.next_deadline().is_none());
    let mut reader = BufReader::new(stream.try_clone().unwrap());
    assert_eq!(error_kind(&read_reply(&mut reader)), "timeout");
}

#[test]
fn an_idle_connection_after_a_reply_just_closes() {
    let mut fixture = Fixture::new("idle", 4);
    let (stream, incoming) = fixture.ask("{\"v\":1,\"cmd\":\"blame\"}\n");
    fixture
        .server
        .reply(incoming.client, &Reply::ok(()), Instant::now());
    let mut reader = BufReader::new(stream.try_clone().unwrap());
    assert_eq!(read_reply(&mut reader)["ok"], true);
    let deadline = fixture.server.next_deadline().unwrap();
    fixture.server.handle_timeout(deadline);
    assert_eq!(fixture.server.client_count(), 0);
    let mut rest = String::new();
    let _ = reader.read_to_string(&mut rest);
    assert_eq!(rest, "");
}

#[test]
fn clients_past_the_limit_are_told_and_dropped() {
    let mut fixture = Fixture::new("limit", 2);
    let _a = fixture.connect();
    let _b = fixture.connect();
    let mut c = fixture.connect();
    assert_eq!(fixture.server.client_count(), 2);
    let mut reader = BufReader::new(c.try_clone().unwrap());
    assert_eq!(error_kind(&read_reply(&mut reader)), "too-many-clients");
    assert!(is_closed(&mut c));
    // A slot frees when a client leaves.
    drop(_a);
    fixture.turn();
    assert_eq!(fixture.server.client_count(), 1);
    let _d = fixture.connect();
    assert_eq!(fixture.server.client_count(), 2);
}

#[test]
fn a_reply_to_a_departed_client_goes_nowhere() {
    let mut fixture = Fixture::new("departed", 4);
    let (stream, old) = fixture.ask("{\"v\":1,\"cmd\":\"blame\"}\n");
    drop(stream);
    fixture.turn();
    // Its slot is reused by a newcomer, which must not get the old reply.
    let mut stream = fixture.connect();
    assert!(!fixture.server.is_connected(old.client) || fixture.server.client_count() == 2);
    fixture
        .server
        .reply(old.client, &Reply::ok("stale"), Instant::now());
    send(&mut stream, "{\"v\":1,\"cmd\":\"tree\"}\n");
    let new = fixture.request();
    assert_ne!(new.client, old.client);
    fixture
        .server
        .reply(new.client, &Reply::ok("fresh"), Instant::now());
    let mut reader = BufReader::new(stream.try_clone().unwrap());
    assert_eq!(read_reply(&mut reader)["data"], "fresh");
}

#[test]
fn events_are_replayed_since_a_sequence_number_and_followed() {
    let mut fixture = Fixture::new("events", 4);
    let clock = WallClock::now();
    for to in [StateKind::Starting, StateKind::Up, StateKind::Stopping] {
        fixture.server.publish(&transition("web", to), &clock);
    }
    let mut stream = fixture.connect();
    send(
        &mut stream,
        &Request::Events {
            since: Some(1),
            follow: true,
        }
        .to_line(),
    );
    fixture.no_request();
    let mut reader = BufReader::new(stream.try_clone().unwrap());
    let reply = read_reply(&mut reader);
    let report: EventsReport = serde_json::from_value(reply["data"].clone()).unwrap();
    assert_eq!((report.oldest, report.next, report.missed), (1, 4, 0));
    let line: StreamLine = serde_json::from_value(read_reply(&mut reader)).unwrap();
    let event = line.event.unwrap();
    assert_eq!((event.seq, event.to), (2, EventState::Service(State::Up)));
    let line: StreamLine = serde_json::from_value(read_reply(&mut reader)).unwrap();
    assert_eq!(line.event.unwrap().seq, 3);

    // Live events follow; a follower has no deadline.
    assert!(fixture.server.next_deadline().is_none());
    fixture
        .server
        .publish(&transition("db", StateKind::Failed), &WallClock::now());
    let line: StreamLine = serde_json::from_value(read_reply(&mut reader)).unwrap();
    let event = line.event.unwrap();
    assert_eq!(
        (event.seq, event.name.as_str(), event.to),
        (4, "db", EventState::Service(State::Failed))
    );

    // A follower that hangs up is forgotten.
    drop(reader);
    drop(stream);
    fixture.turn();
    assert_eq!(fixture.server.client_count(), 0);
}

#[test]
fn events_without_follow_end_after_the_replay() {
    let mut fixture = Fixture::new("events-once", 4);
    fixture
        .server
        .publish(&transition("web", StateKind::Up), &WallClock::now());
    let mut stream = fixture.connect();
    send(
        &mut stream,
        "{\"v\":1,\"cmd\":\"events\",\"since\":0,\"follow\":false}\n",
    );
    fixture.turn();
    let mut text = String::new();
    stream.read_to_string(&mut text).unwrap();
    assert_eq!(text.lines().count(), 2, "{text}");
    assert_eq!(fixture.server.client_count(), 0);
}

#[test]
fn a_follower_that_does_not_read_is_dropped() {
    let mut fixture = Fixture::new("slow", 4);
    let mut stream = fixture.connect();
    send(&mut stream, "{\"v\":1,\"cmd\":\"events\"}\n");
    fixture.turn();
    let clock = WallClock::now();
    let mut long = transition("x", StateKind::Up);
    long.name = "n".repeat(4096);
    for _ in 0..2000 {
        fixture.server.publish(&long, &clock);
        if fixture.server.client_count() == 0 {
            break;
        }
    }
    assert_eq!(fixture.server.client_count(), 0);
    assert!(fixture.server.events().len() < 2000);
}

#[test]
fn a_stream_started_by_the_runtime_carries_its_lines() {
    let mut fixture = Fixture::new("logs", 4);
    let (stream, incoming) =
        fixture.ask("{\"v\":1,\"cmd\":\"logs\",\"name\":\"web\",\"follow\":true}\n");
    let now = Instant::now();
    fixture
        .server
        .begin_stream(incoming.client, &Reply::ok(()), now);
    fixture
        .server
        .stream(incoming.client, &StreamLine::log("hello", None), now);
    let mut reader = BufReader::new(stream.try_clone().unwrap());
    assert_eq!(read_reply(&mut reader)["ok"], true);
    assert_eq!(read_reply(&mut reader)["log"], "hello");
    assert!(fixture.server.next_deadline().is_none());
}

/// (The descriptor count of a whole svinit is checked by the integration
/// tests; the test harness's other threads make it noisy here.)
#[test]
fn many_connections_leave_no_client_behind() {
    let mut fixture = Fixture::new("many", 8);
    for i in 0..200 {
        let mut stream = fixture.connect();
        if i % 2 == 0 {
            send(&mut stream, "{\"v\":1,\"cmd\":\"blame\"}\n");
            let incoming = fixture.request();
            fixture
                .server
                .reply(incoming.client, &Reply::ok(()), Instant::now());
        } else {
            send(&mut stream, "nonsense\n");
            fixture.turn();
        }
        drop(stream);
        fixture.turn();
    }
    fixture.turn();
    assert_eq!(fixture.server.client_count(), 0);
    assert!(fixture.server.next_deadline().is_none());
}

#[test]
fn a_flood_of_blank_lines_gets_a_bounded_share_of_each_turn() {
    let mut fixture = Fixture::new("blank-flood", 4);
    let mut flooder = fixture.connect();
    let mut other = fixture.connect();
    let blank = "\n \r\n".repeat(4 * LINE_BUDGET);
    send(&mut flooder, &blank);
    send(&mut flooder, "{\"v\":1,\"cmd\":\"blame\"}\n");
    send(&mut other, "{\"v\":1,\"cmd\":\"tree\"}\n");
    fixture.turn();
    // The other client's request is taken in the same turn; the flooder
    // is still at its blank lines and queued for the next turn.
    let first = fixture.server.next_request().expect("the other request");
    assert_eq!(first.request, Request::Tree { name: None });
    assert!(fixture.server.next_request().is_none());
    let timeout = fixture.server.poll_timeout().expect("a queued client");
    assert!(timeout <= Instant::now(), "the loop must not sleep");
    let mut turns = 1;
    let flooded = loop {
        fixture.server.pump(Instant::now());
        turns += 1;
        if let Some(request) = fixture.server.next_request() {
            break request;
        }
        assert!(turns < 100, "the request after the blank lines never came");
    };
    assert_eq!(flooded.request, Request::Blame);
    // 8 × LINE_BUDGET lines at LINE_BUDGET a turn, the request with the last.
    assert_eq!(turns, 9);
}

#[test]
fn pipelined_requests_are_taken_one_per_turn() {
    let mut fixture = Fixture::new("one-per-turn", 4);
    let request = "{\"v\":1,\"cmd\":\"blame\"}\n".repeat(3);
    let (stream, mut incoming) = fixture.ask(&request);
    let mut reader = BufReader::new(stream.try_clone().unwrap());
    for _ in 0..2 {
        fixture
            .server
            .reply(incoming.client, &Reply::ok(()), Instant::now());
        assert_eq!(read_reply(&mut reader)["ok"], true);
        // The next request waits for the next turn, which is due at once.
        assert!(fixture.server.next_request().is_none());
        assert!(fixture.server.poll_timeout().unwrap() <= Instant::now());
        fixture.server.pump(Instant::now());
        incoming = fixture.server.next_request().expect("the next request");
    }
}

#[test]
fn accepting_is_bounded_per_turn() {
    let mut fixture = Fixture::new("accept-budget", 64);
    let clients: Vec<StdStream> = (0..ACCEPT_BUDGET + 10)
        .map(|_| StdStream::connect(fixture.server.path()).unwrap())
        .collect();
    fixture.turn();
    assert_eq!(fixture.server.client_count(), ACCEPT_BUDGET);
    assert!(fixture.server.poll_timeout().unwrap() <= Instant::now());
    // No new readiness comes for connections already waiting.
    fixture.server.pump(Instant::now());
    assert_eq!(fixture.server.client_count(), clients.len());
}

#[test]
fn one_uid_may_follow_a_quarter_of_the_slots() {
    let mut fixture = Fixture::new("streams", 8);
    let events = "{\"v\":1,\"cmd\":\"events\"}\n";
    let follow = |fixture: &mut Fixture| {
        let mut stream = fixture.connect();
        send(&mut stream, events);
        fixture.turn();
        let mut reader = BufReader::new(stream.try_clone().unwrap());
        (stream, read_reply(&mut reader))
    };
    let (first, reply) = follow(&mut fixture);
    assert_eq!(reply["ok"], true);

    // A `logs -f` takes a place until the runtime answers it with an
    // error instead of a stream.
    let (_logs, incoming) =
        fixture.ask("{\"v\":1,\"cmd\":\"logs\",\"name\":\"web\",\"follow\":true}\n");
    let (_refused, reply) = follow(&mut fixture);
    assert_eq!(error_kind(&reply), "too-many-clients");
    fixture.server.reply(
        incoming.client,
        &Reply::error(ProtocolError::unknown_service("web")),
        Instant::now(),
    );

    let (_second, reply) = follow(&mut fixture);
    assert_eq!(reply["ok"], true);
    let (mut third, reply) = follow(&mut fixture);
    assert_eq!(error_kind(&reply), "too-many-clients");
    let message = reply["error"]["message"].as_str().unwrap();
    assert!(message.contains("already follows 2 streams"), "{message}");
    assert!(is_closed(&mut third));

    // A follower leaves: its place is free again.
    drop(first);
    fixture.turn();
    let (_fourth, reply) = follow(&mut fixture);
    assert_eq!(reply["ok"], true);
}
