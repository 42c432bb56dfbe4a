//! Unit tests of the non-blocking console: each kind of writer against a
//! destination that takes nothing (a full pipe, a full socket), the bound
//! of the queue, the dropped-lines count and notice, whole lines.

use std::io::Read;
use std::os::fd::AsFd;
use std::os::unix::net::UnixStream;

use nix::fcntl::{FcntlArg, fcntl};

use super::*;

fn pipe() -> (OwnedFd, OwnedFd) {
    nix::unistd::pipe2(OFlag::O_CLOEXEC).expect("pipe")
}

/// A stream writing to what `fd` is, chosen as `capture` would.
fn stream_for(fd: &OwnedFd) -> Stream {
    let raw = fd.as_raw_fd();
    Stream::new("stdout", Writer::open(raw, fd_stat(raw)))
}

/// Fills `fd`'s pipe or socket through a non-blocking description of the
/// test's own.
fn fill(fd: &OwnedFd) {
    let own = reopen(fd.as_raw_fd()).expect("reopen");
    let mut block = [b'.'; 4096];
    block[4095] = b'\n';
    while nix::unistd::write(&own, &block).is_ok() {}
}

/// Reads what is in `read` now (non-blocking).
fn drain(read: &OwnedFd) -> Vec<u8> {
    let own = nix::fcntl::open(
        format!("/proc/self/fd/{}", read.as_raw_fd()).as_str(),
        OFlag::O_RDONLY | OFlag::O_NONBLOCK | OFlag::O_CLOEXEC,
        FileMode::empty(),
    )
    .expect("reopen for reading");
    let mut out = Vec::new();
    let mut buf = [0u8; 65536];
    while let Ok(n) = nix::unistd::read(&own, &mut buf) {
        if n == 0 {
            break;
        }
        out.extend_from_slice(&buf[..n]);
    }
    out
}

fn is_nonblocking(fd: impl AsFd) -> bool {
    let flags = fcntl(fd, FcntlArg::F_GETFL).expect("F_GETFL");
    OFlag::from_bits_truncate(flags).contains(OFlag::O_NONBLOCK)
}

fn numbered_lines(count: usize) -> Vec<u8> {
    (0..count)
        .flat_map(|i| format!("svc | line number {i}\n").into_bytes())
        .collect()
}

#[test]
fn each_kind_of_file_gets_its_writer() {
    let (_read, write) = pipe();
    assert!(matches!(stream_for(&write).writer, Writer::Own(_)));
    let (socket, _peer) = UnixStream::pair().unwrap();
    assert!(matches!(
        stream_for(&OwnedFd::from(socket)).writer,
        Writer::Socket(_)
    ));
    let file: OwnedFd = std::fs::File::open("/proc/self/stat").unwrap().into();
    assert!(matches!(stream_for(&file).writer, Writer::File(_)));
    assert!(matches!(Writer::open(-1, None), Writer::Unwritable));
}

#[test]
fn writes_are_cut_at_line_boundaries() {
    let (read, write) = pipe();
    let mut text = numbered_lines(1000);
    let long = vec![b'z'; WRITE_MAX + 10];
    text.extend_from_slice(&long);
    text.push(b'\n');
    let mut queue = Queue::default();
    queue.push(&text);
    let mut cuts = Vec::new();
    while !queue.is_empty() {
        let piece = queue.next_write().to_vec();
        assert!(piece.ends_with(b"\n"), "a write ends mid-line");
        assert!(piece.len() <= WRITE_MAX || !piece[..piece.len() - 1].contains(&b'\n'));
        cuts.push(piece.len());
        queue.consume(piece.len());
    }
    assert!(cuts.len() > 5, "{cuts:?}");
    // ~28 KB fits in the pipe, so the stream writes it all at once.
    let mut stream = stream_for(&write);
    stream.push(&text, false);
    assert!(stream.queue.is_empty());
    drop((stream, write));
    let mut got = Vec::new();
    std::fs::File::from(read).read_to_end(&mut got).unwrap();
    assert_eq!(got, text);
}

/// A full pipe: nothing blocks, the queue holds what fits, the rest is
/// dropped and counted; once the pipe is read, the queue goes out whole,
/// then one line says how many were dropped.
#[test]
fn a_full_pipe_queues_then_drops_then_reports() {
    let (read, write) = pipe();
    fill(&write);
    let mut stream = stream_for(&write);
    let text = numbered_lines(10_000);
    stream.push(&text, false);
    assert!(stream.waiting);
    assert!(stream.queue.len() <= QUEUE_LIMIT);
    let kept = stream.queue.len();
    assert!(stream.dropped > 0);
    assert_eq!(
        stream.dropped + count_lines(&stream.queue.bytes),
        10_000,
        "every line is queued or counted"
    );
    assert!(
        !is_nonblocking(&write),
        "the shared description was changed"
    );
    let mut out = drain(&read);
    while !stream.queue.is_empty() || stream.unreported > 0 {
        stream.waiting = false;
        stream.flush();
        out.extend(drain(&read));
    }
    let out = String::from_utf8(out).unwrap();
    let lines: Vec<&str> = out.lines().filter(|l| !l.starts_with('.')).collect();
    assert_eq!(lines.len() as u64, count_lines(&text[..kept]) + 1);
    let notice = format!(
        "svinit: warning: {} lines dropped: stdout was not writable",
        stream.dropped
    );
    assert!(lines.last().unwrap().starts_with(&notice), "{lines:?}");
    for (i, line) in lines[..lines.len() - 1].iter().enumerate() {
        assert_eq!(*line, format!("svc | line number {i}"));
    }
}

/// A pipe svinit cannot reopen is written with RWF_NOWAIT: a full pipe
/// makes it wait, not block, and its shared description stays blocking.
#[test]
fn without_a_reopen_a_pipe_is_written_with_rwf_nowait() {
    let (read, write) = pipe();
    fill(&write);
    let mut stream = Stream::new("stdout", Writer::NoWait(write.try_clone().unwrap()));
    stream.push(b"one line\n", false);
    assert!(stream.waiting);
    assert_eq!(stream.queue.len(), 9);
    assert!(!is_nonblocking(&write));
    drain(&read);
    stream.waiting = false;
    stream.flush();
    assert!(stream.queue.is_empty());
    assert_eq!(drain(&read), b"one line\n");
}

/// A socket takes part of a long line: the rest goes first when it takes
/// more, so the peer reads whole lines in order (some dropped, none cut).
#[test]
fn a_line_cut_by_a_partial_write_is_finished_first() {
    let (ours, mut peer) = UnixStream::pair().unwrap();
    let ours = OwnedFd::from(ours);
    nix::sys::socket::setsockopt(&ours, nix::sys::socket::sockopt::SndBuf, &4096).unwrap();
    peer.set_nonblocking(true).unwrap();
    let mut stream = stream_for(&ours);
    let padding = "x".repeat(3 * WRITE_MAX);
    let text: Vec<u8> = (0..300)
        .flat_map(|i| format!("svc | line number {i} {padding}\n").into_bytes())
        .collect();
    let (mut pushed, mut cut_lines) = (0, 0);
    let mut got = Vec::new();
    let mut buf = vec![0u8; 65536];
    let mut read_some = |stream: &mut Stream, got: &mut Vec<u8>| {
        if let Ok(n) = peer.read(&mut buf) {
            got.extend_from_slice(&buf[..n]);
        }
        stream.waiting = false;
        stream.flush();
    };
    for line in text.split_inclusive(|&b| b == b'\n') {
        let dropped = stream.dropped;
        stream.push(line, false);
        if stream.dropped == dropped {
            pushed += line.len();
        }
        let written = pushed - stream.queue.len();
        if stream.waiting && written > 0 && text[..pushed][written - 1] != b'\n' {
            cut_lines += 1;
        }
        read_some(&mut stream, &mut got);
    }
    while !stream.queue.is_empty() {
        read_some(&mut stream, &mut got);
    }
    read_some(&mut stream, &mut got);
    assert!(cut_lines > 0, "the socket never took part of a line");
    let mut expected = 0;
    for line in String::from_utf8(got).unwrap().lines() {
        if line.starts_with("svinit: warning: ") {
            continue;
        }
        let number: usize = line
            .strip_prefix("svc | line number ")
            .and_then(|rest| rest.strip_suffix(padding.as_str()))
            .and_then(|n| n.trim().parse().ok())
            .unwrap_or_else(|| panic!("a cut line: {:?}", &line[..line.len().min(40)]));
        assert!(
            number >= expected,
            "out of order: {number} after {expected}"
        );
        expected = number + 1;
    }
    assert!(expected > 150, "only {expected} lines went out");
}

#[test]
fn an_unwritable_stream_keeps_what_fits_and_counts_the_rest() {
    let mut stream = Stream::new("stderr", Writer::Unwritable);
    stream.push(&numbered_lines(10_000), false);
    assert!(stream.queue.len() <= QUEUE_LIMIT && stream.queue.len() > QUEUE_LIMIT - 64);
    assert_eq!(stream.dropped + count_lines(&stream.queue.bytes), 10_000);
}

#[test]
fn a_pipe_without_reader_drops_and_counts() {
    let (read, write) = pipe();
    let mut stream = stream_for(&write);
    drop(read);
    // SIGPIPE is blocked or ignored in svinit; here, the test harness
    // ignores it (Rust sets SIGPIPE to SIG_IGN), so EPIPE comes back.
    stream.push(b"a\nb\n", false);
    assert_eq!(stream.dropped, 2);
    assert!(stream.queue.is_empty());
}

#[test]
fn a_capture_keeps_what_was_queued() {
    let mut old = Stream::new("stdout", Writer::Unwritable);
    old.push(b"early line\n", false);
    old.dropped = 3;
    let (read, write) = pipe();
    let mut new = stream_for(&write);
    new.take_over(old);
    new.flush();
    assert_eq!(drain(&read), b"early line\n");
    assert_eq!(new.dropped, 3);
}

/// More text at once than the queue holds loses nothing when the
/// destination takes it all (a regular file, a pipe being read).
#[test]
fn a_large_write_to_a_willing_destination_loses_nothing() {
    let path = std::env::temp_dir().join(format!("svinit-console-{}", std::process::id()));
    let file: OwnedFd = std::fs::File::create(&path).unwrap().into();
    let mut stream = stream_for(&file);
    let text = numbered_lines(20_000);
    assert!(text.len() > 4 * QUEUE_LIMIT);
    stream.push(&text, false);
    assert_eq!(stream.dropped, 0);
    assert_eq!(std::fs::read(&path).unwrap(), text);
    let _ = std::fs::remove_file(&path);
}

#[test]
fn held_lines_wait_for_the_end_of_the_turn_then_go_out_in_one_write() {
    let (read, write) = pipe();
    let mut stream = stream_for(&write);
    for line in [&b"one\n"[..], b"two\n", b"three\n"] {
        stream.push(line, true);
    }
    assert!(drain(&read).is_empty(), "nothing written while held");
    stream.flush();
    assert_eq!(drain(&read), b"one\ntwo\nthree\n");
}

#[test]
fn a_held_queue_that_would_overflow_is_written_out_first() {
    let (read, write) = pipe();
    let mut stream = stream_for(&write);
    let lines = numbered_lines(QUEUE_LIMIT / 20);
    assert!(lines.len() > QUEUE_LIMIT);
    let mut got = Vec::new();
    for line in lines.split_inclusive(|&b| b == b'\n') {
        stream.push(line, true);
        got.extend(drain(&read));
        // What the loop's writable event does once the reader has read.
        stream.waiting = false;
    }
    stream.flush();
    got.extend(drain(&read));
    assert_eq!(stream.dropped, 0, "none dropped");
    assert_eq!(got.len(), lines.len());
    assert!(got == lines, "every line, in order");
}
