//! Unit tests of the output sinks: line splitting with partial lines, the
//! ring buffer's bounds, timestamps, rotation naming and the transcript file.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use super::*;

fn collect(buffer: &mut LineBuffer, chunks: &[&[u8]], now: Instant) -> Vec<(bool, Vec<u8>)> {
    let mut out = Vec::new();
    for chunk in chunks {
        buffer.push(chunk, now, &mut |piece| match piece {
            Piece::Lines(b) => out.push((true, b.to_vec())),
            Piece::Partial(b) => out.push((false, b.to_vec())),
        });
    }
    out
}

#[test]
fn whole_lines_pass_at_once_and_a_tail_is_held() {
    let now = Instant::now();
    let mut buffer = LineBuffer::new();
    let out = collect(&mut buffer, &[b"a\nb\nc"], now);
    assert_eq!(out, vec![(true, b"a\nb\n".to_vec())]);
    assert!(buffer.has_pending());
    assert_eq!(buffer.deadline(), Some(now + PARTIAL_LINE_WAIT));
    let out = collect(&mut buffer, &[b"d", b"e\nf\n"], now);
    assert_eq!(
        out,
        vec![(true, b"cde\n".to_vec()), (true, b"f\n".to_vec())]
    );
    assert!(!buffer.has_pending());
    assert_eq!(buffer.deadline(), None);
}

#[test]
fn a_line_split_across_many_chunks_comes_out_whole() {
    let now = Instant::now();
    let mut buffer = LineBuffer::new();
    let text = b"hello world, this is one line\nand another\n";
    let chunks: Vec<&[u8]> = text.chunks(3).collect();
    let out = collect(&mut buffer, &chunks, now);
    let joined: Vec<u8> = out.iter().flat_map(|(_, b)| b.clone()).collect();
    assert_eq!(joined, text.to_vec());
    assert!(out.iter().all(|(whole, b)| *whole && b.ends_with(b"\n")));
    assert_eq!(out.len(), 2);
}

#[test]
fn a_long_partial_line_is_passed_on_at_the_limit() {
    let now = Instant::now();
    let mut buffer = LineBuffer::new();
    let long = vec![b'x'; PARTIAL_LINE_LIMIT - 1];
    assert!(collect(&mut buffer, &[&long], now).is_empty());
    let out = collect(&mut buffer, &[b"yy"], now);
    assert_eq!(out.len(), 1);
    assert!(!out[0].0);
    assert_eq!(out[0].1.len(), PARTIAL_LINE_LIMIT + 1);
    assert_eq!(buffer.deadline(), None);
}

#[test]
fn flush_passes_the_tail_as_partial_once() {
    let now = Instant::now();
    let mut buffer = LineBuffer::new();
    collect(&mut buffer, &[b"prompt> "], now);
    let mut out = Vec::new();
    buffer.flush(&mut |piece| out.push(format!("{piece:?}")));
    buffer.flush(&mut |piece| out.push(format!("{piece:?}")));
    assert_eq!(out.len(), 1);
    assert!(out[0].starts_with("Partial"));
}

#[test]
fn ring_keeps_the_newest_bytes_within_capacity() {
    let mut ring = RingBuffer::new(10);
    ring.push(b"0123", 1);
    assert_eq!(ring.copy_from(0), b"0123");
    ring.push(b"456789ab", 1);
    assert_eq!(ring.len(), 10);
    assert_eq!(ring.end(), 12);
    assert_eq!(ring.start(), 2);
    assert_eq!(ring.copy_from(0), b"23456789ab");
    assert_eq!(ring.copy_from(5), b"56789ab");
    ring.push(b"this is longer than ten", 1);
    assert_eq!(ring.len(), 10);
    assert_eq!(ring.copy_from(0), b"r than ten");
    for i in 0..1000u32 {
        ring.push(format!("{i}").as_bytes(), 1);
        assert!(ring.len() <= 10);
    }
    assert_eq!(ring.copy_from(ring.start()), b"6997998999");
}

#[test]
fn ring_with_zero_capacity_keeps_nothing() {
    let mut ring = RingBuffer::new(0);
    ring.push(b"abc\n", 1);
    assert!(ring.is_empty());
    assert_eq!(ring.end(), 4);
    assert!(ring.last_lines(None).is_empty());
}

#[test]
fn last_lines_counts_from_the_end_and_drops_a_cut_first_line() {
    let mut ring = RingBuffer::new(64);
    ring.push(b"one\ntwo\nthree\nfour", 1);
    assert_eq!(ring.last_lines(Some(2)), b"three\nfour");
    assert_eq!(ring.last_lines(Some(0)), b"");
    assert_eq!(ring.last_lines(None), b"one\ntwo\nthree\nfour");
    ring.push(b"\n", 1);
    assert_eq!(ring.last_lines(Some(1)), b"four\n");
    assert_eq!(ring.last_lines(Some(99)), b"one\ntwo\nthree\nfour\n");
    let mut small = RingBuffer::new(12);
    small.push(b"first line\nsecond\nthird\n", 1);
    // Kept: "econd\nthird\n": the cut "econd" is not shown.
    assert_eq!(small.last_lines(None), b"third\n");
}

fn texts(lines: &[NumberedLine]) -> Vec<(u64, &str)> {
    lines
        .iter()
        .map(|line| (line.arrival, line.text.as_str()))
        .collect()
}

#[test]
fn lines_are_numbered_by_the_arrival_of_their_newline() {
    let mut ring = RingBuffer::new(64);
    ring.push(b"one\ntw", 3);
    ring.push(b"o\nthr", 5);
    ring.push(b"ee\nfour", 9);
    assert_eq!(
        texts(&ring.numbered_lines(None, false)),
        [(3, "one"), (5, "two"), (9, "three"), (9, "four")]
    );
    assert_eq!(
        texts(&ring.numbered_lines(Some(2), true)),
        [(5, "two"), (9, "three")]
    );
    assert_eq!(ring.last_arrival(), 9);
    // Several pushes of one arrival are one stretch.
    ring.push(b"\nfive\n", 12);
    ring.push(b"six\n", 12);
    assert_eq!(
        texts(&ring.numbered_lines(Some(3), true)),
        [(12, "four"), (12, "five"), (12, "six")]
    );
}

#[test]
fn lines_after_follow_whole_lines_and_notice_overwrites() {
    let mut ring = RingBuffer::new(16);
    ring.push(b"a\nb", 1);
    let got = ring.lines_after(0);
    assert_eq!(texts(&got.lines), [(1, "a")]);
    assert!(!got.skipped);
    assert!(ring.lines_after(1).lines.is_empty());
    // The held-back "b" is sent whole once its newline comes.
    ring.push(b"c\nd\n", 2);
    let got = ring.lines_after(1);
    assert_eq!(texts(&got.lines), [(2, "bc"), (2, "d")]);
    assert!(!got.skipped);
    // A slow follower: 40 bytes pass a 16-byte ring.
    ring.push(b"line-0001\nline-0002\nline-0003\nline-0004\n", 3);
    let got = ring.lines_after(2);
    assert!(got.skipped);
    assert_eq!(texts(&got.lines), [(3, "line-0004")]);
    // What was only overwritten after it was read is not news.
    ring.push(b"x\n", 4);
    let got = ring.lines_after(3);
    assert!(!got.skipped);
    assert_eq!(texts(&got.lines), [(4, "x")]);
}

#[test]
fn arrival_marks_are_bounded_and_only_delay_the_oldest_lines() {
    let mut ring = RingBuffer::new(RING_CAPACITY);
    let total = ARRIVAL_MARKS as u64 + 100;
    for arrival in 1..=total {
        ring.push(format!("{arrival}\n").as_bytes(), arrival);
    }
    let lines = ring.numbered_lines(None, true);
    assert_eq!(lines.len() as u64, total, "every line is kept");
    // The newest lines keep their own arrival; the oldest ones count as
    // arriving with the oldest mark kept, never earlier than they did.
    for line in &lines {
        let written: u64 = line.text.parse().unwrap();
        assert!(line.arrival >= written, "{line:?}");
        if written > total - ARRIVAL_MARKS as u64 {
            assert_eq!(line.arrival, written, "{line:?}");
        }
    }
    assert!(lines.windows(2).all(|w| w[0].arrival <= w[1].arrival));
    // A follower that is up to date misses nothing and gets nothing twice.
    ring.push(b"last\n", total + 1);
    assert_eq!(texts(&ring.lines_after(total).lines), [(total + 1, "last")]);
}

#[test]
fn split_lines_replaces_invalid_utf8() {
    assert_eq!(split_lines(b"a\n\xff\n"), vec!["a", "\u{fffd}"]);
    assert_eq!(split_lines(b"a\n\nb"), vec!["a", "", "b"]);
    assert!(split_lines(b"").is_empty());
}

#[test]
fn prefix_puts_the_name_before_every_line() {
    let mut out = Vec::new();
    prefix_lines("web", Piece::Lines(b"a\n\nb\n"), &mut out);
    prefix_lines("db", Piece::Partial(b"prompt> "), &mut out);
    assert_eq!(out, b"web | a\nweb | \nweb | b\ndb | prompt> \n");
}

#[test]
fn timestamps_are_rfc3339_utc_with_milliseconds() {
    let at = |secs: u64, millis: u64| UNIX_EPOCH + Duration::from_millis(secs * 1000 + millis);
    assert_eq!(rfc3339_millis(UNIX_EPOCH), "1970-01-01T00:00:00.000Z");
    assert_eq!(
        rfc3339_millis(at(951_782_400, 5)),
        "2000-02-29T00:00:00.005Z"
    );
    assert_eq!(
        rfc3339_millis(at(1_714_566_896, 789)),
        "2024-05-01T12:34:56.789Z"
    );
    assert_eq!(
        rfc3339_millis(at(4_107_542_399, 999)),
        "2100-02-28T23:59:59.999Z"
    );
    assert_eq!(
        rfc3339_millis(at(253_402_300_799, 0)),
        "9999-12-31T23:59:59.000Z"
    );
    let before = UNIX_EPOCH - Duration::from_secs(10);
    assert_eq!(rfc3339_millis(before), "1970-01-01T00:00:00.000Z");
    assert_eq!(rfc3339_millis(SystemTime::now()).len(), 24);
}

#[test]
fn civil_dates_match_a_day_by_day_walk() {
    let (mut y, mut m, mut d) = (1970i64, 1u32, 1u32);
    for days in 0..200_000 {
        assert_eq!(civil_from_days(days), (y, m, d), "day {days}");
        let leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
        let len = match m {
            2 if leap => 29,
            2 => 28,
            4 | 6 | 9 | 11 => 30,
            _ => 31,
        };
        d += 1;
        if d > len {
            d = 1;
            m += 1;
            if m > 12 {
                m = 1;
                y += 1;
            }
        }
    }
}

#[test]
fn rotated_names_append_the_number() {
    let path = std::path::Path::new("/var/log/web.log");
    assert_eq!(rotated_path(path, 1), PathBuf::from("/var/log/web.log.1"));
    assert_eq!(rotated_path(path, 12), PathBuf::from("/var/log/web.log.12"));
}

struct TempDir(PathBuf);

impl TempDir {
    fn new(tag: &str) -> TempDir {
        static NEXT: AtomicUsize = AtomicUsize::new(0);
        let dir = std::env::temp_dir().join(format!(
            "svinit-transcript-{tag}-{}-{}",
            std::process::id(),
            NEXT.fetch_add(1, Ordering::Relaxed)
        ));
        std::fs::create_dir_all(&dir).unwrap();
        TempDir(dir)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn config(path: PathBuf, max_size: Option<u64>, keep: u32, timestamps: bool) -> Transcript {
    Transcript {
        path,
        max_size,
        keep,
        timestamps,
    }
}

fn read(path: &std::path::Path) -> String {
    std::fs::read_to_string(path).unwrap_or_default()
}

#[test]
fn transcript_appends_with_mode_0640_and_reopens_after_a_rename() {
    use std::os::unix::fs::PermissionsExt;
    let dir = TempDir::new("reopen");
    let path = dir.0.join("log");
    std::fs::write(&path, "old\n").unwrap();
    let mut file = TranscriptFile::open(config(path.clone(), None, 5, false));
    assert!(file.is_open());
    file.write(Piece::Lines(b"1\n"), Instant::now(), SystemTime::now());
    std::fs::rename(&path, dir.0.join("log.1")).unwrap();
    file.write(Piece::Lines(b"2\n"), Instant::now(), SystemTime::now());
    file.reopen().unwrap();
    file.write(Piece::Lines(b"3\n"), Instant::now(), SystemTime::now());
    assert_eq!(read(&dir.0.join("log.1")), "old\n1\n2\n");
    assert_eq!(read(&path), "3\n");
    let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode & !0o640, 0, "mode {mode:o}");
}

#[test]
fn transcript_in_a_missing_directory_is_a_problem_until_reopened() {
    let dir = TempDir::new("missing");
    let path = dir.0.join("sub").join("log");
    let mut file = TranscriptFile::open(config(path.clone(), None, 5, false));
    assert!(!file.is_open());
    let problem = file.take_new_problem().unwrap();
    assert!(problem.contains("cannot open"), "{problem}");
    assert!(problem.contains("No such file or directory"), "{problem}");
    assert!(file.take_new_problem().is_none());
    assert_eq!(file.problem(), Some(problem.as_str()));
    file.write(
        Piece::Lines(b"dropped\n"),
        Instant::now(),
        SystemTime::now(),
    );
    assert!(file.reopen().is_err());
    assert!(
        file.take_new_problem().is_none(),
        "same problem, reported once"
    );
    std::fs::create_dir(dir.0.join("sub")).unwrap();
    file.reopen().unwrap();
    assert_eq!(file.problem(), None);
    file.write(Piece::Lines(b"kept\n"), Instant::now(), SystemTime::now());
    assert_eq!(read(&path), "kept\n");
}

#[test]
fn max_size_rotates_at_line_boundaries_keeping_keep_files() {
    let dir = TempDir::new("rotate");
    let path = dir.0.join("log");
    let mut file = TranscriptFile::open(config(path.clone(), Some(20), 2, false));
    let mut all = String::new();
    for i in 0..20 {
        let line = format!("line {i:02}\n"); // 8 bytes
        all.push_str(&line);
        file.write(
            Piece::Lines(line.as_bytes()),
            Instant::now(),
            SystemTime::now(),
        );
    }
    // Two lines (16 bytes) per file: 20 lines → 10 files, 3 kept.
    assert_eq!(read(&path), "line 18\nline 19\n");
    assert_eq!(read(&rotated_path(&path, 1)), "line 16\nline 17\n");
    assert_eq!(read(&rotated_path(&path, 2)), "line 14\nline 15\n");
    assert!(!rotated_path(&path, 3).exists());
    // One piece of many lines is cut the same way.
    let mut file = TranscriptFile::open(config(dir.0.join("big"), Some(20), 3, false));
    file.write(
        Piece::Lines(all.as_bytes()),
        Instant::now(),
        SystemTime::now(),
    );
    assert_eq!(read(&dir.0.join("big")), "line 18\nline 19\n");
    assert_eq!(read(&dir.0.join("big.3")), "line 12\nline 13\n");
}

#[test]
fn a_line_longer_than_max_size_gets_a_file_of_its_own() {
    let dir = TempDir::new("long");
    let path = dir.0.join("log");
    let mut file = TranscriptFile::open(config(path.clone(), Some(10), 5, false));
    file.write(Piece::Lines(b"ab\n"), Instant::now(), SystemTime::now());
    file.write(
        Piece::Lines(b"0123456789abcdef\nxy\n"),
        Instant::now(),
        SystemTime::now(),
    );
    assert_eq!(read(&path), "xy\n");
    assert_eq!(read(&rotated_path(&path, 1)), "0123456789abcdef\n");
    assert_eq!(read(&rotated_path(&path, 2)), "ab\n");
}

#[test]
fn keep_zero_removes_the_full_file() {
    let dir = TempDir::new("keep0");
    let path = dir.0.join("log");
    let mut file = TranscriptFile::open(config(path.clone(), Some(8), 0, false));
    file.write(
        Piece::Lines(b"aaaaaaa\n"),
        Instant::now(),
        SystemTime::now(),
    );
    file.write(
        Piece::Lines(b"bbbbbbb\n"),
        Instant::now(),
        SystemTime::now(),
    );
    assert_eq!(read(&path), "bbbbbbb\n");
    assert!(!rotated_path(&path, 1).exists());
}

#[test]
fn timestamps_go_before_each_line_start_only() {
    let dir = TempDir::new("stamps");
    let path = dir.0.join("log");
    let mut file = TranscriptFile::open(config(path.clone(), None, 5, true));
    let at = UNIX_EPOCH + Duration::from_millis(1_714_566_896_789);
    file.write(Piece::Lines(b"a\nb\n"), Instant::now(), at);
    file.write(Piece::Partial(b"par"), Instant::now(), at);
    file.write(Piece::Lines(b"tial\n"), Instant::now(), at);
    let stamp = "2024-05-01T12:34:56.789Z";
    assert_eq!(
        read(&path),
        format!("{stamp} a\n{stamp} b\n{stamp} partial\n")
    );
}

#[test]
fn a_full_disk_is_a_problem_and_the_file_is_closed() {
    // /dev/full fails every write with ENOSPC.
    if !std::path::Path::new("/dev/full").exists() {
        return;
    }
    let mut file = TranscriptFile::open(config(PathBuf::from("/dev/full"), None, 5, false));
    assert!(file.is_open());
    file.write(Piece::Lines(b"x\n"), Instant::now(), SystemTime::now());
    assert!(!file.is_open());
    let problem = file.take_new_problem().unwrap();
    assert!(problem.contains("No space left on device"), "{problem}");
    file.write(Piece::Lines(b"y\n"), Instant::now(), SystemTime::now());
    assert!(file.take_new_problem().is_none());
    assert!(!file.is_open(), "not retried within a second");
    assert_eq!(file.dropped(), 2);
    // A second later the next output opens it again: the same problem, not
    // reported again, and the line is counted.
    let later = Instant::now() + TRANSCRIPT_RETRY;
    file.write(Piece::Lines(b"z\nw\n"), later, SystemTime::now());
    assert!(file.take_new_problem().is_none());
    assert!(file.problem().is_some());
    assert_eq!(file.dropped(), 4);
    assert_eq!(file.take_recovery(), None);
}

#[test]
fn a_broken_transcript_comes_back_by_itself_and_counts_what_it_dropped() {
    let dir = TempDir::new("comeback");
    let path = dir.0.join("sub").join("log");
    let mut file = TranscriptFile::open(config(path.clone(), None, 5, false));
    assert!(file.take_new_problem().is_some());
    let now = Instant::now();
    file.write(Piece::Lines(b"a\nb\n"), now, SystemTime::now());
    file.write(Piece::Partial(b"c1"), now, SystemTime::now());
    file.write(Piece::Lines(b"c2\n"), now, SystemTime::now());
    assert_eq!(file.dropped(), 3, "a line cut in two counts once");
    std::fs::create_dir(dir.0.join("sub")).unwrap();
    // Not yet: the retry is at most once a second.
    file.write(Piece::Lines(b"d\n"), now, SystemTime::now());
    assert!(!file.is_open());
    file.write(
        Piece::Lines(b"e\n"),
        now + TRANSCRIPT_RETRY,
        SystemTime::now(),
    );
    assert!(file.is_open());
    assert_eq!(file.problem(), None);
    assert_eq!(file.take_recovery(), Some(4));
    assert_eq!(file.take_recovery(), None);
    assert_eq!(file.dropped(), 4);
    assert_eq!(read(&path), "e\n");
}

#[test]
fn a_rotation_onto_the_same_file_does_not_loop() {
    let dir = TempDir::new("samefile");
    let path = dir.0.join("log");
    let mut file = TranscriptFile::open(config(path.clone(), Some(8), 1, false));
    // PATH.1 the same file as PATH: renaming one onto the other does nothing.
    std::fs::hard_link(&path, rotated_path(&path, 1)).unwrap();
    file.write(
        Piece::Lines(b"1234567\nabc\n"),
        Instant::now(),
        SystemTime::now(),
    );
    let problem = file.problem().unwrap_or_default().to_string();
    assert!(problem.ends_with("has 2 hard links (refused)"), "{problem}");
    assert_eq!(read(&path), "1234567\n");
    assert_eq!(file.dropped(), 1);
}

#[test]
fn a_terminal_that_does_not_keep_up_loses_lines_without_blocking() {
    let pty = nix::pty::openpty(None, None).expect("openpty");
    let slave = std::fs::read_link(format!(
        "/proc/self/fd/{}",
        std::os::fd::AsRawFd::as_raw_fd(&pty.slave)
    ))
    .expect("pty name");
    let mut file = TranscriptFile::open(config(slave, Some(10), 1, false));
    assert!(file.is_open(), "{:?}", file.problem());
    // Nobody reads the master: the terminal's buffer fills, then each write
    // would block.
    let line = [b'x'; 99].iter().chain(b"\n").copied().collect::<Vec<u8>>();
    for _ in 0..2000 {
        file.write(Piece::Lines(&line), Instant::now(), SystemTime::now());
    }
    assert!(file.is_open(), "EAGAIN is not an error");
    assert_eq!(file.problem(), None);
    assert!(file.dropped() > 0, "what did not fit is counted");
    assert!(file.dropped() < 2000);
    drop(pty);
}

#[test]
fn line_starts_are_counted_once_per_line() {
    assert_eq!(count_line_starts(b"", true), 0);
    assert_eq!(count_line_starts(b"a\n", true), 1);
    assert_eq!(count_line_starts(b"a\nb\n", true), 2);
    assert_eq!(count_line_starts(b"tail\nb\nc", false), 2);
    assert_eq!(count_line_starts(b"\n", false), 0);
}
