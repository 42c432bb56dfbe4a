//! Property tests of the control protocol decoder with the config tests'
//! seeded PRNG (no extra crates): random bytes, and random request-shaped
//! JSON built from the real commands and field names, mutated, fed line by
//! line to `Request::parse` (the server) and to the `Reply` / `StreamLine`
//! decoders (svctl). Properties: nothing panics; a parsed request survives
//! `to_line` and parses back to itself; a refused one becomes an error
//! reply of one line that decodes back to the same error, whose message
//! echoes at most a bounded part of the input. The same properties as
//! `fuzz/fuzz_targets/protocol.rs`; `SVINIT_FUZZ_SECS` / `_CASES` / `_SEED`
//! as for the config.

use std::panic::{AssertUnwindSafe, catch_unwind};

use super::{COMMANDS, MAX_REQUEST_BYTES, Reply, Request, StreamLine};
use crate::config::fuzz_tests::{Rng, budget, seed};

/// The longest error message a request can provoke: what svinit writes
/// itself plus truncated echoes of the input.
const MAX_ERROR_MESSAGE: usize = 512;

const KEYS: &[&str] = &[
    "v", "cmd", "names", "name", "signal", "lines", "follow", "dry_run", "since", "dry-run", "",
    "V", "cmd ",
];

const ATOMS: &[&str] = &[
    "1",
    "0",
    "2",
    "-1",
    "1.0",
    "1e0",
    "18446744073709551615",
    "18446744073709551616",
    "4294967296",
    "-9223372036854775809",
    "1e400",
    "null",
    "true",
    "false",
    "\"\"",
    "\"web\"",
    "\"TERM\"",
    "\"9\"",
    "\"\\u0000\"",
    "\"\\ud800\"",
    "\"é→𝔘\"",
    "[]",
    "{}",
    "[\"web\",\"db\"]",
    "[1]",
    "[[[[[[]]]]]]",
];

fn random_value(rng: &mut Rng, depth: usize) -> String {
    match rng.below(if depth > 3 { 3 } else { 6 }) {
        0 | 1 => rng.pick(ATOMS).to_string(),
        2 => format!("\"{}\"", rng.pick(COMMANDS)),
        3 => format!(
            "[{}]",
            (0..rng.below(4))
                .map(|_| random_value(rng, depth + 1))
                .collect::<Vec<_>>()
                .join(",")
        ),
        4 => random_object(rng, depth + 1),
        _ => format!("\"{}\"", "x".repeat(rng.below(3) * 40_000)),
    }
}

fn random_object(rng: &mut Rng, depth: usize) -> String {
    let mut fields = Vec::new();
    if rng.chance(85) {
        fields.push("\"v\":1".to_string());
    }
    if rng.chance(85) {
        fields.push(format!("\"cmd\":\"{}\"", rng.pick(COMMANDS)));
    }
    for _ in 0..rng.below(4) {
        let key = if rng.chance(5) {
            "k".repeat(rng.below(70_000))
        } else {
            rng.pick(KEYS).to_string()
        };
        fields.push(format!("\"{key}\":{}", random_value(rng, depth)));
    }
    // Any order, duplicates allowed.
    for i in (1..fields.len()).rev() {
        fields.swap(i, rng.below(i + 1));
    }
    format!("{{{}}}", fields.join(","))
}

fn mutate(rng: &mut Rng, mut bytes: Vec<u8>) -> Vec<u8> {
    for _ in 0..rng.below(4) {
        let at = rng.below(bytes.len() + 1);
        match rng.below(4) {
            0 => bytes.truncate(at),
            1 => bytes.insert(at, rng.next() as u8),
            2 if at < bytes.len() => {
                bytes.remove(at);
            }
            _ => bytes.insert(at, *rng.pick(&[&b'{', &b'"', &b'\\', &b',', &b'\r'])),
        }
    }
    bytes
}

fn random_input(rng: &mut Rng) -> Vec<u8> {
    match rng.below(10) {
        0 => (0..rng.below(200)).map(|_| rng.next() as u8).collect(),
        1..=4 => random_object(rng, 0).into_bytes(),
        _ => {
            let object = random_object(rng, 0).into_bytes();
            mutate(rng, object)
        }
    }
}

/// Every property, on each line of `input`; panics name the line.
fn check_input(input: &[u8]) {
    for line in input.split(|&b| b == b'\n') {
        let shown = String::from_utf8_lossy(&line[..line.len().min(300)]).into_owned();
        let outcome = catch_unwind(AssertUnwindSafe(|| Request::parse(line)));
        let Ok(parsed) = outcome else {
            panic!("Request::parse panicked on {shown:?}");
        };
        match parsed {
            Ok(request) => {
                let again = request.to_line();
                assert_eq!(again.matches('\n').count(), 1, "{again:?}");
                assert_eq!(
                    Request::parse(again.trim_end().as_bytes()),
                    Ok(request),
                    "{shown:?}"
                );
            }
            Err(error) => {
                assert!(
                    error.message.chars().count() <= MAX_ERROR_MESSAGE,
                    "a {}-character error message for {} input bytes ({shown:?}): {:?}",
                    error.message.chars().count(),
                    line.len(),
                    &error.message[..error.message.len().min(200)]
                );
                let reply = Reply::error(error.clone()).to_line();
                assert_eq!(reply.matches('\n').count(), 1, "{reply:?}");
                let back: Reply = serde_json::from_str(&reply).expect("svctl decodes the reply");
                assert_eq!(back.error, Some(error));
            }
        }
        if let Ok(text) = std::str::from_utf8(line) {
            let _ =
                serde_json::from_str::<Reply>(text).map(Reply::into_result::<serde_json::Value>);
            let _ = serde_json::from_str::<StreamLine>(text);
        }
    }
}

#[test]
fn random_requests_never_panic_and_round_trip() {
    let mut rng = Rng(seed() ^ 0xC0DE);
    let mut accepted = 0;
    for _ in budget("protocol requests", 3000) {
        let input = random_input(&mut rng);
        accepted += usize::from(Request::parse(&input).is_ok());
        check_input(&input);
    }
    // The generator reaches valid requests too, so both paths are exercised.
    assert!(accepted > 0, "no generated request was valid");
}

#[test]
fn several_requests_on_one_connection_decode_one_by_one() {
    let mut rng = Rng(seed() ^ 0x11E5);
    for _ in budget("protocol streams", 500) {
        let mut input = Vec::new();
        for _ in 0..rng.below(5) {
            input.extend(random_input(&mut rng));
            input.extend_from_slice(if rng.chance(20) { b"\r\n" } else { b"\n" });
        }
        check_input(&input);
    }
}

#[test]
fn a_request_at_the_size_limit_is_decoded_and_one_past_it_refused() {
    let head = br#"{"v":1,"cmd":"status","names":[""#;
    let tail = br#""]}"#;
    let fill = MAX_REQUEST_BYTES - head.len() - tail.len();
    let line = [&head[..], &vec![b'a'; fill], &tail[..]].concat();
    assert_eq!(line.len(), MAX_REQUEST_BYTES);
    assert!(Request::parse(&line).is_ok());
    let longer = [&head[..], &vec![b'a'; fill + 1], &tail[..]].concat();
    check_input(&longer);
    assert!(Request::parse(&longer).is_err());
}
