//! Property tests of the loader with a seeded PRNG (no extra crates):
//! random text and random well-formed-ish unit files built from the real
//! key names, fed to `load_sources`. Properties: it never panics; every
//! label of every diagnostic (nested ones too) lies inside its source, on
//! character boundaries; the report renders; an accepted config has only
//! known dependency names and a start level for every service.
//!
//! `SVINIT_FUZZ_CASES=N` runs N cases of each kind instead of the default,
//! `SVINIT_FUZZ_SECS=S` as many as fit in S seconds (`make fuzz-short`),
//! `SVINIT_FUZZ_SEED=S` starts from another seed. The generator and the
//! budget are shared with the control protocol's seeded tests.

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::time::{Duration, Instant};

use super::parse::Key;
use super::{ConfigError, Problem, load_sources};
use crate::graph::Graph;

/// splitmix64: small, fast, good enough to explore inputs.
pub(crate) struct Rng(pub(crate) u64);

impl Rng {
    pub(crate) fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    pub(crate) fn below(&mut self, bound: usize) -> usize {
        (self.next() % bound.max(1) as u64) as usize
    }

    pub(crate) fn chance(&mut self, percent: usize) -> bool {
        self.below(100) < percent
    }

    pub(crate) fn pick<'a, T: ?Sized>(&mut self, items: &[&'a T]) -> &'a T {
        items[self.below(items.len())]
    }
}

/// The cases to run: `SVINIT_FUZZ_SECS` seconds' worth when set, else
/// `SVINIT_FUZZ_CASES` or `default`. Prints how many ran when dropped.
pub(crate) struct Budget {
    what: &'static str,
    limit: Option<usize>,
    until: Option<Instant>,
    started: Instant,
    done: usize,
}

pub(crate) fn budget(what: &'static str, default: usize) -> Budget {
    let seconds = std::env::var("SVINIT_FUZZ_SECS")
        .ok()
        .and_then(|n| n.parse().ok())
        .map(Duration::from_secs);
    let cases = std::env::var("SVINIT_FUZZ_CASES")
        .ok()
        .and_then(|n| n.parse().ok())
        .unwrap_or(default);
    let started = Instant::now();
    Budget {
        what,
        limit: if seconds.is_some() { None } else { Some(cases) },
        until: seconds.map(|s| started + s),
        started,
        done: 0,
    }
}

impl Iterator for Budget {
    type Item = usize;

    fn next(&mut self) -> Option<usize> {
        let more = match (self.limit, self.until) {
            (Some(limit), _) => self.done < limit,
            (None, Some(until)) => Instant::now() < until,
            (None, None) => false,
        };
        if !more {
            return None;
        }
        self.done += 1;
        Some(self.done - 1)
    }
}

impl Drop for Budget {
    fn drop(&mut self) {
        eprintln!(
            "fuzz {}: {} cases in {:.1?}",
            self.what,
            self.done,
            self.started.elapsed()
        );
    }
}

pub(crate) fn seed() -> u64 {
    std::env::var("SVINIT_FUZZ_SEED")
        .ok()
        .and_then(|n| n.parse().ok())
        .unwrap_or(0x5EED_CAFE)
}

const PIECES: &[&str] = &[
    "{", "}", "(", ")", ";", "=", "#", "\"", "\\", "/", "*", "-", "+", ".", "0", "1", "9", "0o7",
    "0x", "#true", "#false", "#null", "#inf", "r#\"", "\"\"\"", "/*", "*/", "//", "/-", " ", " ",
    "\t", "\n", "\n", "\r\n", "service", "exec", "defaults", "a", "z", "é", "→", "\u{FEFF}",
    "\u{2028}", "\u{0}", "\u{7f}", "\u{85}", "𝔘", "\u{200D}",
];

fn random_text(rng: &mut Rng) -> String {
    let mut text = String::new();
    for _ in 0..rng.below(120) {
        if rng.chance(10) {
            text.push(char::from_u32(rng.next() as u32 % 0x11_0000).unwrap_or('?'));
        } else {
            text.push_str(rng.pick(PIECES));
        }
    }
    text
}

const NAMES: &[&str] = &[
    "web", "db", "cache", "log", "a", "b", "c", "", "a/b", "my svc", ".", "web\u{7}",
];

const STRING_VALUES: &[&str] = &[
    "",
    "web",
    "db",
    "/bin/sh",
    "sh",
    "relative/path",
    "/var/log/x.log",
    "10s",
    "250ms",
    "5m",
    "1h30m",
    "10",
    "1.5s",
    "-3s",
    "soon",
    "512K",
    "10M",
    "1G",
    "10Q",
    "TERM",
    "SIGKILL",
    "trem",
    "027",
    "0789",
    "unlimited",
    "infinity",
    "longrun",
    "oneshot",
    "forking",
    "onshot",
    "on-failure",
    "always",
    "never",
    "prefix",
    "inherit",
    "null",
    "syslog",
    "group",
    "process",
    "linear",
    "exponential",
    "root",
    "www:data",
    "a\u{0}b",
    "true",
    "999999999999999999999h",
];

fn random_value(rng: &mut Rng) -> String {
    match rng.below(9) {
        0..=3 => format!("{:?}", rng.pick(STRING_VALUES)),
        4 => rng
            .pick(&["0", "1", "3", "-1", "19", "20", "255", "256", "65536"])
            .to_owned(),
        5 => rng
            .pick(&[
                "0o027",
                "0o1777",
                "027",
                "0x10",
                "-0o5",
                "99999999999999999999999999",
            ])
            .to_owned(),
        6 => rng.pick(&["1.5", "-0.0", "1e3", "#inf", "#nan"]).to_owned(),
        7 => rng.pick(&["#true", "#false", "#null"]).to_owned(),
        _ => format!("{:?}", rng.pick(NAMES)),
    }
}

fn random_key(rng: &mut Rng) -> String {
    if rng.chance(90) {
        Key::ALL[rng.below(Key::ALL.len())].name().to_owned()
    } else {
        rng.pick(&[
            "umsk",
            "servce",
            "frobnicate",
            "service",
            "requires-x",
            "\"quoted key\"",
        ])
        .to_owned()
    }
}

fn random_node(rng: &mut Rng, depth: usize) -> String {
    let key = random_key(rng);
    let mut node = key.clone();
    if key == "exec" && rng.chance(70) {
        node.push_str(" \"/bin/true\"");
    }
    for _ in 0..rng.below(4) {
        node.push(' ');
        if rng.chance(15) {
            let property = rng.pick(&["keep", "max-size", "timestamps", "group", "mode"]);
            node.push_str(&format!("{property}={}", random_value(rng)));
        } else {
            if rng.chance(3) {
                node.push_str("(ty)");
            }
            node.push_str(&random_value(rng));
        }
    }
    let wants_block = matches!(key.as_str(), "environment" | "limits") || rng.chance(5);
    if wants_block && depth < 2 {
        node.push_str(" {\n");
        for _ in 0..rng.below(4) {
            let name = if key == "limits" {
                rng.pick(&["nofile", "core", "nproc", "stack", "nofiles"])
            } else {
                rng.pick(&["PATH", "LANG", "X_1", "\"1BAD\"", "\"A=B\""])
            };
            node.push_str(&format!("        {name}"));
            for _ in 0..rng.below(3) {
                node.push(' ');
                node.push_str(&random_value(rng));
            }
            node.push('\n');
        }
        node.push_str("    }");
    }
    node
}

fn random_document(rng: &mut Rng) -> String {
    let mut text = String::new();
    for _ in 0..rng.below(6) {
        match rng.below(10) {
            0 => text.push_str("defaults {\n"),
            1 => {
                text.push_str(&format!("control group={}\n", random_value(rng)));
                continue;
            }
            2 => {
                text.push_str(&format!("shutdown-timeout {}\n", random_value(rng)));
                continue;
            }
            3 => {
                text.push_str(&random_node(rng, 0));
                text.push('\n');
                continue;
            }
            _ => text.push_str(&format!("service {:?} {{\n", rng.pick(NAMES))),
        }
        for _ in 0..rng.below(8) {
            text.push_str("    ");
            text.push_str(&random_node(rng, 1));
            text.push_str(if rng.chance(20) { "; " } else { "\n" });
        }
        text.push_str("}\n");
    }
    // Sometimes break the syntax near valid structure.
    if rng.chance(15) && !text.is_empty() {
        let mut cut = rng.below(text.len());
        while !text.is_char_boundary(cut) {
            cut -= 1;
        }
        if rng.chance(50) {
            text.insert_str(cut, rng.pick(PIECES));
        } else {
            text.truncate(cut);
        }
    }
    text
}

/// Every label of `problem` and of its nested problems lies inside the
/// source, on character boundaries.
fn check_spans(problem: &Problem, sources: &[(String, String)], input: &str) {
    if let Some(file_name) = problem.file_name() {
        let text = sources
            .iter()
            .find(|(name, _)| name == file_name)
            .map(|(_, text)| text.as_str())
            .unwrap_or_else(|| panic!("unknown file {file_name} for {input:?}"));
        assert_eq!(problem.source_len(), Some(text.len()));
        for label in problem.spans() {
            let (start, end) = (label.offset(), label.offset() + label.len());
            assert!(
                end <= text.len(),
                "span {start}..{end} outside a source of {} bytes in `{}` for {input:?}",
                text.len(),
                problem.message()
            );
            assert!(
                text.is_char_boundary(start) && text.is_char_boundary(end),
                "span {start}..{end} splits a character in `{}` for {input:?}",
                problem.message()
            );
        }
    } else {
        assert!(problem.spans().is_empty(), "labels without a source");
    }
    for nested in problem.nested() {
        check_spans(nested, sources, input);
    }
}

fn check_case(sources: Vec<(String, String)>) {
    let input = format!("{sources:?}");
    let kept = sources.clone();
    let outcome = catch_unwind(AssertUnwindSafe(|| {
        let result = load_sources(sources);
        if let Err(error) = &result {
            // Rendering must not panic either.
            let _ = error.render(false);
        }
        result
    }));
    let result = match outcome {
        Ok(result) => result,
        Err(_) => panic!("load_sources panicked on {input}"),
    };
    match result {
        Err(error) => {
            assert!(!error.problems().is_empty());
            check_error(&error, &kept, &input);
        }
        Ok(config) => {
            for service in &config.services {
                let named = service
                    .requires
                    .iter()
                    .chain(&service.wants)
                    .chain(&service.after)
                    .chain(&service.before);
                for name in named {
                    assert!(config.service(name).is_some(), "{name} unknown in {input}");
                }
            }
            let graph = Graph::new(&config);
            let placed: usize = graph.start_levels().iter().map(Vec::len).sum();
            assert_eq!(placed, config.services.len(), "{input}");
        }
    }
}

fn check_error(error: &ConfigError, sources: &[(String, String)], input: &str) {
    for problem in error.problems() {
        check_spans(problem, sources, input);
    }
}

#[test]
fn random_text_never_panics_and_spans_stay_inside() {
    let mut rng = Rng(seed());
    for _ in budget("config text", 2000) {
        let text = random_text(&mut rng);
        check_case(vec![("fuzz.kdl".to_owned(), text)]);
    }
}

#[test]
fn random_unit_files_never_panic_and_spans_stay_inside() {
    let mut rng = Rng(seed() ^ 0xD0C5);
    let mut accepted = 0;
    for _ in budget("config units", 2000) {
        let mut sources = vec![("a.kdl".to_owned(), random_document(&mut rng))];
        if rng.chance(30) {
            sources.push(("b.kdl".to_owned(), random_document(&mut rng)));
        }
        let valid = load_sources(sources.clone()).is_ok();
        accepted += usize::from(valid);
        check_case(sources);
    }
    // The generator also produces valid configs, so both paths are exercised.
    assert!(accepted > 0, "no generated config was valid");
}
