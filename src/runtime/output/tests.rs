//! Output on real pipes, without processes: what a service writes on the
//! fd `Output::stdio` hands out reaches its sinks, in bounded rounds.

use std::io::Write;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd};
use std::path::PathBuf;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use mio::Poll;
use nix::fcntl::{FcntlArg, fcntl};

use super::*;
use crate::config::{Command, OutputMode, ServiceConfig};
use crate::spawn::Stdio;
use crate::transcript::PARTIAL_LINE_WAIT;

fn service(name: &str) -> ServiceConfig {
    ServiceConfig::new(name, Command::Exec(vec!["true".into()]))
}

/// The recent lines of `id` as `svctl logs` shows them.
fn logs(output: &Output, id: ServiceId, lines: Option<usize>) -> Option<Vec<String>> {
    let lines = output.recent_lines(id, lines, false)?;
    Some(lines.into_iter().map(|line| line.text).collect())
}

/// Writes `bytes` on the service's end of its pipe, as the service would.
fn write_as_service(output: &Output, id: ServiceId, bytes: &[u8]) {
    let Stdio::Fd(fd) = output.stdio(id) else {
        panic!("not a pipe");
    };
    let fd: BorrowedFd<'_> = fd.as_fd();
    let mut file = std::fs::File::from(fd.try_clone_to_owned().unwrap());
    file.write_all(bytes).unwrap();
}

/// `name` with a transcript at `path`.
fn with_transcript(name: &str, path: PathBuf) -> ServiceConfig {
    let mut config = service(name);
    config.transcript = Some(crate::config::Transcript {
        path,
        max_size: None,
        keep: 5,
        timestamps: false,
    });
    config
}

/// The raw fd the service's stdout would be.
fn pipe_fd(output: &Output, id: ServiceId) -> i32 {
    match output.stdio(id) {
        Stdio::Fd(fd) => fd.as_raw_fd(),
        _ => panic!("not a pipe"),
    }
}

fn temp_dir(tag: &str) -> PathBuf {
    static NEXT: AtomicUsize = AtomicUsize::new(0);
    let dir = std::env::temp_dir().join(format!(
        "svinit-output-{tag}-{}-{}",
        std::process::id(),
        NEXT.fetch_add(1, Ordering::Relaxed)
    ));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

#[test]
fn inherit_null_and_tty_get_no_pipe() {
    let poll = Poll::new().unwrap();
    let mut output = Output::new();
    let mut inherit = service("a");
    inherit.output = OutputMode::Inherit;
    let mut null = service("b");
    null.output = OutputMode::Null;
    let mut tty = service("c");
    tty.tty = Some("/dev/tty1".into());
    output.prepare(poll.registry(), ServiceId(0), &inherit);
    output.prepare(poll.registry(), ServiceId(1), &null);
    output.prepare(poll.registry(), ServiceId(2), &tty);
    assert!(matches!(output.stdio(ServiceId(0)), Stdio::Inherit));
    assert!(matches!(output.stdio(ServiceId(1)), Stdio::Null));
    assert!(matches!(output.stdio(ServiceId(2)), Stdio::Inherit));
    assert!(logs(&output, ServiceId(0), None).is_none());
    assert!(output.lines_after(ServiceId(1), 0).is_none());
    assert!(!captures(&inherit) && !captures(&null) && !captures(&tty));
    assert!(captures(&service("d")));
}

#[test]
fn the_pipe_is_kept_across_prepares_and_feeds_the_ring() {
    let poll = Poll::new().unwrap();
    let mut output = Output::new();
    let dir = temp_dir("ring");
    let config = with_transcript("web", dir.join("log"));
    let id = ServiceId(3);
    output.prepare(poll.registry(), id, &config);
    let first = pipe_fd(&output, id);
    let cursor = output.last_arrival();
    write_as_service(&output, id, b"one\ntwo\nthr");
    output.readable(0);
    output.pump();
    assert_eq!(logs(&output, id, Some(1)).unwrap(), vec!["thr"]);
    let since = output.lines_after(id, cursor).unwrap();
    let texts: Vec<&str> = since.lines.iter().map(|l| l.text.as_str()).collect();
    assert_eq!(texts, ["one", "two"]);
    assert!(since.lines.iter().all(|l| l.arrival > cursor));
    assert!(output.last_arrival() > cursor);
    assert!(
        output.poll_timeout().is_some(),
        "a held line has a deadline"
    );
    // A restart: same pipe.
    output.prepare(poll.registry(), id, &config);
    assert_eq!(first, pipe_fd(&output, id));
    output.process_exited(id);
    assert_eq!(output.poll_timeout(), None, "exit flushed the held line");
    assert_eq!(
        std::fs::read_to_string(dir.join("log")).unwrap(),
        "one\ntwo\nthr"
    );
    assert_eq!(output.status_problem(id), None);
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn a_held_line_is_flushed_after_the_wait() {
    let poll = Poll::new().unwrap();
    let mut output = Output::new();
    let dir = temp_dir("wait");
    let config = with_transcript("web", dir.join("log"));
    let id = ServiceId(0);
    output.prepare(poll.registry(), id, &config);
    write_as_service(&output, id, b"prompt> ");
    output.readable(0);
    output.pump();
    let deadline = output.poll_timeout().unwrap();
    assert!(deadline > Instant::now());
    assert!(deadline <= Instant::now() + PARTIAL_LINE_WAIT);
    output.handle_timeout(deadline - Duration::from_millis(1));
    assert_eq!(std::fs::read_to_string(dir.join("log")).unwrap(), "");
    output.handle_timeout(deadline);
    assert_eq!(
        std::fs::read_to_string(dir.join("log")).unwrap(),
        "prompt> "
    );
    assert_eq!(output.poll_timeout(), None);
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn reads_are_bounded_per_round_and_fair() {
    let poll = Poll::new().unwrap();
    let mut output = Output::new();
    let dir = temp_dir("fair");
    for (i, name) in ["a", "b"].iter().enumerate() {
        let config = with_transcript(name, dir.join(name));
        output.prepare(poll.registry(), ServiceId(i), &config);
    }
    // Enlarge the pipes so each can hold more than one budget.
    for i in 0..2 {
        let Stdio::Fd(fd) = output.stdio(ServiceId(i)) else {
            panic!()
        };
        fcntl(fd, FcntlArg::F_SETPIPE_SZ(4 * READ_BUDGET as i32)).unwrap();
        let line = [b'x'; 99];
        let mut block = Vec::new();
        for _ in 0..(3 * READ_BUDGET / 100) {
            block.extend_from_slice(&line);
            block.push(b'\n');
        }
        write_as_service(&output, ServiceId(i), &block);
        output.readable(i);
    }
    let size = |name: &str| {
        std::fs::metadata(dir.join(name))
            .map(|m| m.len())
            .unwrap_or(0)
    };
    output.pump();
    assert_eq!(size("a"), READ_BUDGET as u64 / 100 * 100);
    assert!(size("b") >= READ_BUDGET as u64 - 100 && size("b") <= READ_BUDGET as u64);
    assert!(output.poll_timeout().unwrap() <= Instant::now());
    output.pump();
    output.pump();
    output.pump();
    assert_eq!(size("a"), (3 * READ_BUDGET / 100 * 100) as u64);
    assert_eq!(size("b"), (3 * READ_BUDGET / 100 * 100) as u64);
    assert_eq!(output.poll_timeout(), None);
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn a_broken_transcript_is_a_status_problem_and_the_ring_still_fills() {
    let poll = Poll::new().unwrap();
    let mut output = Output::new();
    let dir = temp_dir("broken");
    let config = with_transcript("web", dir.join("missing").join("log"));
    let id = ServiceId(0);
    output.prepare(poll.registry(), id, &config);
    let problem = output.status_problem(id).unwrap();
    assert!(problem.contains("cannot open"), "{problem}");
    write_as_service(&output, id, b"still here\n");
    output.readable(0);
    output.pump();
    assert_eq!(logs(&output, id, None).unwrap(), vec!["still here"]);
    assert!(output.reopen(id).is_err());
    assert_eq!(output.reopen_all().len(), 1);
    std::fs::create_dir(dir.join("missing")).unwrap();
    output.reopen(id).unwrap();
    assert_eq!(output.status_problem(id), None);
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn forget_and_mode_changes_close_the_pipe() {
    let poll = Poll::new().unwrap();
    let mut output = Output::new();
    let id = ServiceId(0);
    let config = service("web");
    output.prepare(poll.registry(), id, &config);
    assert!(matches!(output.stdio(id), Stdio::Fd(_)));
    let mut null = config.clone();
    null.output = OutputMode::Null;
    output.prepare(poll.registry(), id, &null);
    assert!(matches!(output.stdio(id), Stdio::Null));
    assert!(
        logs(&output, id, None).is_none(),
        "the pipe and its ring are gone"
    );
    output.prepare(poll.registry(), id, &config);
    assert!(matches!(output.stdio(id), Stdio::Fd(_)));
    output.forget(poll.registry(), id);
    assert!(matches!(output.stdio(id), Stdio::Inherit));
    assert!(logs(&output, id, None).is_none());
}

#[test]
fn arrivals_are_numbered_over_all_services_in_reading_order() {
    let poll = Poll::new().unwrap();
    let mut output = Output::new();
    let (a, b) = (ServiceId(0), ServiceId(1));
    output.prepare(poll.registry(), a, &service("a"));
    output.prepare(poll.registry(), b, &service("b"));
    let start = output.last_arrival();
    for (id, slot, text) in [(a, 0, "a1\n"), (b, 1, "b1\n"), (a, 0, "a2\n")] {
        write_as_service(&output, id, text.as_bytes());
        output.readable(slot);
        output.pump();
    }
    let arrival = |id: ServiceId| -> Vec<(u64, String)> {
        let lines = output.lines_after(id, start).unwrap().lines;
        lines.into_iter().map(|l| (l.arrival, l.text)).collect()
    };
    let (from_a, from_b) = (arrival(a), arrival(b));
    assert_eq!(from_a.len(), 2);
    assert_eq!(from_b.len(), 1);
    assert!(from_a[0].0 < from_b[0].0 && from_b[0].0 < from_a[1].0);
    assert_eq!(output.last_arrival(), from_a[1].0);
    assert!(output.lines_after(a, from_a[1].0).unwrap().lines.is_empty());
    let names: Vec<&str> = {
        let mut names: Vec<&str> = output.captured().map(|(_, name)| name).collect();
        names.sort();
        names
    };
    assert_eq!(names, ["a", "b"]);
}
