//! Scalar values of unit files: durations, sizes, signals, octal umasks,
//! user/group references, booleans, enumerations, rlimit names and values,
//! and the edit-distance suggestions ("did you mean …?") used everywhere.
//!
//! Every function takes a `KdlValue` (plus, where the spelling matters, its
//! source text) and returns the typed value or a [`ValueError`] that the
//! caller turns into a diagnostic pointing at the value's span.

use std::time::Duration;

use kdl::KdlValue;

use super::model::IdRef;

/// Why a value was refused: the diagnostic's message, the text under the
/// span, and an optional hint.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ValueError {
    pub(crate) message: String,
    pub(crate) label: String,
    pub(crate) help: Option<String>,
}

impl ValueError {
    pub(crate) fn new(message: impl Into<String>, label: impl Into<String>) -> Self {
        ValueError {
            message: message.into(),
            label: label.into(),
            help: None,
        }
    }

    pub(crate) fn with_help(mut self, help: impl Into<String>) -> Self {
        self.help = Some(help.into());
        self
    }
}

pub(crate) type ValueResult<T> = Result<T, ValueError>;

/// A short human description of a value's KDL type, for "expected X, found Y".
pub(crate) fn kind_of(value: &KdlValue) -> &'static str {
    match value {
        KdlValue::String(_) => "a string",
        KdlValue::Integer(_) => "an integer",
        KdlValue::Float(_) => "a floating-point number",
        KdlValue::Bool(_) => "a boolean",
        KdlValue::Null => "#null",
    }
}

/// "expected a string, found an integer".
pub(crate) fn wrong_type(expected: &str, value: &KdlValue) -> ValueError {
    ValueError::new(
        format!("expected {expected}, found {}", kind_of(value)),
        format!("expected {expected}"),
    )
}

pub(crate) fn string(value: &KdlValue) -> ValueResult<&str> {
    value
        .as_string()
        .ok_or_else(|| wrong_type("a string", value))
}

/// A string that will reach the kernel (argv, paths, environment, names):
/// it must not contain a NUL byte.
pub(crate) fn os_string(value: &KdlValue) -> ValueResult<&str> {
    let text = string(value)?;
    if text.contains('\0') {
        return Err(ValueError::new(
            "strings passed to the system cannot contain a NUL character",
            "contains \\0",
        ));
    }
    Ok(text)
}

pub(crate) fn boolean(value: &KdlValue) -> ValueResult<bool> {
    match value {
        KdlValue::Bool(b) => Ok(*b),
        KdlValue::String(text)
            if matches!(
                text.to_ascii_lowercase().as_str(),
                "true" | "false" | "yes" | "no"
            ) =>
        {
            Err(wrong_type("a boolean", value)
                .with_help("KDL v2 booleans are written #true and #false, without quotes"))
        }
        _ => Err(wrong_type("a boolean", value).with_help("write #true or #false")),
    }
}

pub(crate) fn integer(value: &KdlValue) -> ValueResult<i128> {
    match value {
        KdlValue::Integer(n) => Ok(*n),
        KdlValue::Float(_) => {
            Err(wrong_type("an integer", value).with_help("only whole numbers are accepted here"))
        }
        _ => Err(wrong_type("an integer", value)),
    }
}

/// An integer within `min..=max`, reported with the key's name.
pub(crate) fn integer_in(value: &KdlValue, min: i128, max: i128) -> ValueResult<i128> {
    let n = integer(value)?;
    if n < min || n > max {
        return Err(ValueError::new(
            format!("{n} is out of range: expected {min} to {max}"),
            format!("not in {min}..={max}"),
        ));
    }
    Ok(n)
}

/// An absolute path (a string starting with `/`).
pub(crate) fn absolute_path(value: &KdlValue) -> ValueResult<std::path::PathBuf> {
    let text = os_string(value)?;
    if !text.starts_with('/') {
        return Err(ValueError::new(
            format!("{text:?} is not an absolute path"),
            "not an absolute path",
        )
        .with_help("write a path starting with `/`: relative paths would depend on svinit's own working directory"));
    }
    Ok(std::path::PathBuf::from(text))
}

const DURATION_HELP: &str = "write an integer number of seconds (10) or a string with a unit: \
\"250ms\", \"10s\", \"5m\", \"1h\" (units may be combined: \"1m30s\")";

/// The longest duration accepted: 100 years, far beyond any sane timeout,
/// and small enough that deadline arithmetic on `Instant` cannot overflow.
const MAX_DURATION: Duration = Duration::from_secs(100 * 365 * 24 * 3600);

/// `"250ms"`, `"10s"`, `"5m"`, `"1h"`, combinations like `"1h30m"`, or an
/// integer number of seconds.
pub(crate) fn duration(value: &KdlValue) -> ValueResult<Duration> {
    let parsed = match value {
        KdlValue::Integer(n) if *n < 0 => {
            return Err(
                ValueError::new("a duration cannot be negative", "negative duration")
                    .with_help(DURATION_HELP),
            );
        }
        KdlValue::Integer(n) => u64::try_from(*n).ok().map(Duration::from_secs),
        KdlValue::String(text) => return duration_text(text),
        _ => {
            return Err(wrong_type("a duration", value).with_help(DURATION_HELP));
        }
    };
    match parsed {
        Some(d) if d <= MAX_DURATION => Ok(d),
        _ => Err(too_long_duration()),
    }
}

fn too_long_duration() -> ValueError {
    ValueError::new("duration is too long", "more than 100 years")
        .with_help("the longest accepted duration is 100 years")
}

fn duration_text(text: &str) -> ValueResult<Duration> {
    let invalid = || {
        ValueError::new(format!("invalid duration {text:?}"), "not a duration")
            .with_help(DURATION_HELP)
    };
    let trimmed = text.trim();
    if trimmed.starts_with('-') {
        return Err(
            ValueError::new("a duration cannot be negative", "negative duration")
                .with_help(DURATION_HELP),
        );
    }
    if !trimmed.is_empty() && trimmed.bytes().all(|b| b.is_ascii_digit()) {
        return Err(invalid().with_help(format!(
            "a duration string needs a unit: write {trimmed} (an integer, meaning seconds) or \"{trimmed}s\""
        )));
    }
    let mut rest = trimmed;
    let mut total_ms: u128 = 0;
    if rest.is_empty() {
        return Err(invalid());
    }
    while !rest.is_empty() {
        let digits = rest.bytes().take_while(u8::is_ascii_digit).count();
        if digits == 0 {
            return Err(invalid());
        }
        let (number, after) = rest.split_at(digits);
        let unit_len = after
            .bytes()
            .take_while(|b| b.is_ascii_alphabetic())
            .count();
        let (unit, after_unit) = after.split_at(unit_len);
        let per_unit_ms: u128 = match unit {
            "ms" => 1,
            "s" | "sec" => 1_000,
            "m" | "min" => 60_000,
            "h" => 3_600_000,
            "d" => 86_400_000,
            "" if after.starts_with('.') => {
                return Err(invalid()
                    .with_help("fractions are not accepted: use a smaller unit, e.g. \"1500ms\""));
            }
            _ => return Err(invalid()),
        };
        let number: u128 = number.parse().map_err(|_| too_long_duration())?;
        total_ms = number
            .checked_mul(per_unit_ms)
            .and_then(|ms| total_ms.checked_add(ms))
            .ok_or_else(too_long_duration)?;
        rest = after_unit.trim_start();
    }
    let total_ms = u64::try_from(total_ms).map_err(|_| too_long_duration())?;
    let parsed = Duration::from_millis(total_ms);
    if parsed > MAX_DURATION {
        return Err(too_long_duration());
    }
    Ok(parsed)
}

const SIZE_HELP: &str = "write a number of bytes (1048576) or a string with a binary unit: \
\"512K\", \"10M\", \"1G\" (powers of 1024)";

/// `"512K"`, `"10M"`, `"1G"`, `"2T"` (powers of 1024, an optional trailing
/// `B`/`iB`), a string of digits, or an integer number of bytes.
pub(crate) fn size(value: &KdlValue) -> ValueResult<u64> {
    match value {
        KdlValue::Integer(n) if *n < 0 => {
            Err(ValueError::new("a size cannot be negative", "negative size").with_help(SIZE_HELP))
        }
        KdlValue::Integer(n) => u64::try_from(*n).map_err(|_| too_large_size()),
        KdlValue::String(text) => size_text(text),
        _ => Err(wrong_type("a size", value).with_help(SIZE_HELP)),
    }
}

fn too_large_size() -> ValueError {
    ValueError::new("size is too large", "does not fit in 64 bits")
}

fn size_text(text: &str) -> ValueResult<u64> {
    let invalid =
        || ValueError::new(format!("invalid size {text:?}"), "not a size").with_help(SIZE_HELP);
    let trimmed = text.trim();
    let digits = trimmed.bytes().take_while(u8::is_ascii_digit).count();
    if digits == 0 {
        return Err(invalid());
    }
    let (number, unit) = trimmed.split_at(digits);
    let unit = unit.trim_start().to_ascii_uppercase();
    let unit = unit
        .strip_suffix("IB")
        .or_else(|| unit.strip_suffix('B'))
        .unwrap_or(&unit);
    let shift = match unit {
        "" => 0,
        "K" => 10,
        "M" => 20,
        "G" => 30,
        "T" => 40,
        _ => return Err(invalid()),
    };
    let number: u64 = number.parse().map_err(|_| too_large_size())?;
    number.checked_mul(1u64 << shift).ok_or_else(too_large_size)
}

/// Signal names svinit knows, without the `SIG` prefix.
const SIGNALS: &[(&str, i32)] = &[
    ("HUP", libc::SIGHUP),
    ("INT", libc::SIGINT),
    ("QUIT", libc::SIGQUIT),
    ("ILL", libc::SIGILL),
    ("TRAP", libc::SIGTRAP),
    ("ABRT", libc::SIGABRT),
    ("IOT", libc::SIGIOT),
    ("BUS", libc::SIGBUS),
    ("FPE", libc::SIGFPE),
    ("KILL", libc::SIGKILL),
    ("USR1", libc::SIGUSR1),
    ("SEGV", libc::SIGSEGV),
    ("USR2", libc::SIGUSR2),
    ("PIPE", libc::SIGPIPE),
    ("ALRM", libc::SIGALRM),
    ("TERM", libc::SIGTERM),
    ("STKFLT", libc::SIGSTKFLT),
    ("CHLD", libc::SIGCHLD),
    ("CONT", libc::SIGCONT),
    ("STOP", libc::SIGSTOP),
    ("TSTP", libc::SIGTSTP),
    ("TTIN", libc::SIGTTIN),
    ("TTOU", libc::SIGTTOU),
    ("URG", libc::SIGURG),
    ("XCPU", libc::SIGXCPU),
    ("XFSZ", libc::SIGXFSZ),
    ("VTALRM", libc::SIGVTALRM),
    ("PROF", libc::SIGPROF),
    ("WINCH", libc::SIGWINCH),
    ("IO", libc::SIGIO),
    ("POLL", libc::SIGPOLL),
    ("PWR", libc::SIGPWR),
    ("SYS", libc::SIGSYS),
];

/// Highest signal number on Linux (`SIGRTMAX`).
const MAX_SIGNAL: i128 = 64;

#[cfg(test)]
/// The name of a signal number (`15` → `"TERM"`), for messages.
pub(crate) fn signal_name(number: i32) -> Option<&'static str> {
    SIGNALS
        .iter()
        .find(|(name, n)| *n == number && *name != "IOT" && *name != "POLL")
        .map(|(name, _)| *name)
}

/// `"TERM"`, `"SIGTERM"`, `"term"` or a number 1..=64.
pub(crate) fn signal(value: &KdlValue) -> ValueResult<i32> {
    match value {
        KdlValue::Integer(n) => {
            if (1..=MAX_SIGNAL).contains(n) {
                Ok(*n as i32)
            } else {
                Err(ValueError::new(
                    format!("{n} is not a signal number"),
                    format!("not in 1..={MAX_SIGNAL}"),
                ))
            }
        }
        KdlValue::String(text) => {
            let upper = text.trim().to_ascii_uppercase();
            let bare = upper.strip_prefix("SIG").unwrap_or(&upper);
            if let Some((_, number)) = SIGNALS.iter().find(|(name, _)| *name == bare) {
                return Ok(*number);
            }
            let mut error = ValueError::new(format!("unknown signal {text:?}"), "not a signal");
            let names = SIGNALS.iter().map(|(name, _)| *name);
            error.help = Some(match suggest(bare, names) {
                Some(name) => format!("did you mean \"{name}\"?"),
                None => "write a signal name such as \"TERM\", \"INT\", \"HUP\", \"USR1\", or its number".to_owned(),
            });
            Err(error)
        }
        _ => Err(wrong_type("a signal name or number", value)),
    }
}

const UMASK_HELP: &str =
    "write the umask as a KDL octal integer (0o027) or a string of octal digits (\"027\")";

/// `0o027` (a KDL integer written in octal) or `"027"` / `"0027"`.
///
/// `source_text` is the value as written: `027` is the *decimal* number 27
/// in KDL, almost certainly not what was meant, so only `0o…` integers (and
/// `0`) are accepted.
pub(crate) fn umask(value: &KdlValue, source_text: &str) -> ValueResult<u32> {
    let mask = match value {
        KdlValue::Integer(n) => {
            let written = source_text.trim_start_matches('+');
            if *n != 0 && !written.starts_with("0o") {
                return Err(ValueError::new(
                    format!("umask {written} is not written in octal"),
                    format!("the decimal number {n}"),
                )
                .with_help(UMASK_HELP));
            }
            *n
        }
        KdlValue::String(text) => {
            let digits = text.trim();
            let digits = digits.strip_prefix("0o").unwrap_or(digits);
            if digits.is_empty() || !digits.bytes().all(|b| (b'0'..=b'7').contains(&b)) {
                return Err(
                    ValueError::new(format!("invalid umask {text:?}"), "not octal digits")
                        .with_help(UMASK_HELP),
                );
            }
            i128::from_str_radix(digits, 8).unwrap_or(i128::MAX)
        }
        _ => return Err(wrong_type("an octal umask", value).with_help(UMASK_HELP)),
    };
    if !(0..=0o777).contains(&mask) {
        return Err(ValueError::new(
            format!("umask {mask:#o} is out of range"),
            "not in 0o000..=0o777",
        ));
    }
    Ok(mask as u32)
}

/// A user or group: a name string or a numeric id.
pub(crate) fn id_ref(value: &KdlValue, what: &str) -> ValueResult<IdRef> {
    match value {
        // u32::MAX is (uid_t)-1, which the kernel treats as "no change".
        KdlValue::Integer(n) => match u32::try_from(*n) {
            Ok(id) if id != u32::MAX => Ok(IdRef::Id(id)),
            _ => Err(ValueError::new(
                format!("{n} is not a valid {what} id"),
                format!("not in 0..={}", u32::MAX - 1),
            )),
        },
        KdlValue::String(_) => {
            let name = os_string(value)?;
            if name.is_empty() {
                return Err(ValueError::new(
                    format!("empty {what} name"),
                    format!("empty {what}"),
                ));
            }
            if name.contains([':', '\n']) || name.chars().any(char::is_whitespace) {
                return Err(ValueError::new(
                    format!("invalid {what} name {name:?}"),
                    "contains ':' or whitespace",
                ));
            }
            Ok(IdRef::Name(name.to_owned()))
        }
        _ => Err(wrong_type(&format!("a {what} name or id"), value)),
    }
}

/// One of a fixed set of strings, with a suggestion on a typo.
pub(crate) fn choice<T: Copy>(value: &KdlValue, choices: &[(&str, T)]) -> ValueResult<T> {
    let listed = choices
        .iter()
        .map(|(name, _)| format!("\"{name}\""))
        .collect::<Vec<_>>()
        .join(", ");
    let Some(text) = value.as_string() else {
        return Err(wrong_type("a string", value).with_help(format!("one of {listed}")));
    };
    if let Some((_, chosen)) = choices.iter().find(|(name, _)| *name == text) {
        return Ok(*chosen);
    }
    let help = match suggest(text, choices.iter().map(|(name, _)| *name)) {
        Some(name) => format!("did you mean \"{name}\"?"),
        None => format!("expected one of {listed}"),
    };
    Err(ValueError::new(format!("unknown value {text:?}"), "not a valid choice").with_help(help))
}

/// rlimit names of the `limits` block, mapped to `RLIMIT_*`.
pub(crate) const LIMIT_NAMES: &[(&str, i32)] = &[
    ("as", libc::RLIMIT_AS as i32),
    ("core", libc::RLIMIT_CORE as i32),
    ("cpu", libc::RLIMIT_CPU as i32),
    ("data", libc::RLIMIT_DATA as i32),
    ("fsize", libc::RLIMIT_FSIZE as i32),
    ("memlock", libc::RLIMIT_MEMLOCK as i32),
    ("msgqueue", libc::RLIMIT_MSGQUEUE as i32),
    ("nice", libc::RLIMIT_NICE as i32),
    ("nofile", libc::RLIMIT_NOFILE as i32),
    ("nproc", libc::RLIMIT_NPROC as i32),
    ("rss", libc::RLIMIT_RSS as i32),
    ("rtprio", libc::RLIMIT_RTPRIO as i32),
    ("rttime", libc::RLIMIT_RTTIME as i32),
    ("sigpending", libc::RLIMIT_SIGPENDING as i32),
    ("stack", libc::RLIMIT_STACK as i32),
];

/// Limits counted in bytes, which also accept size strings like `"64M"`.
const BYTE_LIMITS: &[&str] = &[
    "as", "core", "data", "fsize", "memlock", "msgqueue", "rss", "stack",
];

/// One rlimit value: a non-negative integer, `"unlimited"`/`"infinity"`
/// (`None`), or for byte-counted limits a size string.
pub(crate) fn limit_value(value: &KdlValue, limit_name: &str) -> ValueResult<Option<u64>> {
    let is_bytes = BYTE_LIMITS.contains(&limit_name);
    let help = if is_bytes {
        "write a number, a size such as \"64M\", or \"unlimited\""
    } else {
        "write a non-negative integer or \"unlimited\""
    };
    match value {
        KdlValue::String(text) if matches!(text.as_str(), "unlimited" | "infinity") => Ok(None),
        KdlValue::String(_) if is_bytes => size(value).map(Some).map_err(|mut error| {
            error.help = Some(help.to_owned());
            error
        }),
        KdlValue::Integer(n) => match u64::try_from(*n) {
            Ok(limit) if limit != u64::MAX => Ok(Some(limit)),
            Ok(_) => Ok(None),
            Err(_) => Err(ValueError::new(
                format!("{n} is not a valid limit"),
                "negative or too large",
            )
            .with_help(help)),
        },
        _ => Err(wrong_type("a limit", value).with_help(help)),
    }
}

/// Edit distance over chars, counting an insertion, a deletion, a
/// substitution or a swap of two neighbours as one edit (optimal string
/// alignment), with a cap: `None` when the distance exceeds `limit`.
fn edit_distance(a: &str, b: &str, limit: usize) -> Option<usize> {
    let a: Vec<char> = a.chars().collect();
    let b: Vec<char> = b.chars().collect();
    if a.len().abs_diff(b.len()) > limit {
        return None;
    }
    let mut before_previous: Vec<usize> = vec![0; b.len() + 1];
    let mut previous: Vec<usize> = (0..=b.len()).collect();
    let mut current = vec![0; b.len() + 1];
    for i in 0..a.len() {
        current[0] = i + 1;
        let mut row_min = current[0];
        for j in 0..b.len() {
            let substitution = previous[j] + usize::from(a[i] != b[j]);
            let mut best = substitution.min(previous[j + 1] + 1).min(current[j] + 1);
            if i > 0 && j > 0 && a[i] == b[j - 1] && a[i - 1] == b[j] {
                best = best.min(before_previous[j - 1] + 1);
            }
            current[j + 1] = best;
            row_min = row_min.min(best);
        }
        if row_min > limit {
            return None;
        }
        std::mem::swap(&mut before_previous, &mut previous);
        std::mem::swap(&mut previous, &mut current);
    }
    let distance = previous[b.len()];
    (distance <= limit).then_some(distance)
}

/// The candidate closest to `word` if it is close enough to be a likely
/// typo (at most one edit per three characters, at least one), compared
/// case-insensitively. Ties go to the earliest candidate.
pub(crate) fn suggest<'c>(
    word: &str,
    candidates: impl IntoIterator<Item = &'c str>,
) -> Option<&'c str> {
    let word = word.to_lowercase();
    let limit = (word.chars().count() / 3).max(1);
    let mut best: Option<(usize, &str)> = None;
    for candidate in candidates {
        let Some(distance) = edit_distance(&word, &candidate.to_lowercase(), limit) else {
            continue;
        };
        if best.is_none_or(|(best_distance, _)| distance < best_distance) {
            best = Some((distance, candidate));
        }
    }
    best.map(|(_, candidate)| candidate)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(text: &str) -> KdlValue {
        KdlValue::String(text.to_owned())
    }

    #[test]
    fn durations() {
        assert_eq!(duration(&s("250ms")), Ok(Duration::from_millis(250)));
        assert_eq!(duration(&s("10s")), Ok(Duration::from_secs(10)));
        assert_eq!(duration(&s("5m")), Ok(Duration::from_secs(300)));
        assert_eq!(duration(&s("1h")), Ok(Duration::from_secs(3600)));
        assert_eq!(duration(&s("1h30m")), Ok(Duration::from_secs(5400)));
        assert_eq!(duration(&s("1m 30s")), Ok(Duration::from_secs(90)));
        assert_eq!(duration(&KdlValue::Integer(7)), Ok(Duration::from_secs(7)));
        assert_eq!(duration(&KdlValue::Integer(0)), Ok(Duration::ZERO));
        for bad in [
            "",
            "10",
            "ten seconds",
            "10 parsecs",
            "1.5s",
            "-3s",
            "s",
            "10ss",
        ] {
            let error = duration(&s(bad)).expect_err(bad);
            assert!(error.help.is_some(), "{bad}: {error:?}");
        }
        assert!(duration(&KdlValue::Integer(-1)).is_err());
        assert!(duration(&KdlValue::Float(1.5)).is_err());
        assert!(duration(&s("99999999999999999999999999999999999999h")).is_err());
        assert!(duration(&KdlValue::Integer(i128::MAX)).is_err());
        assert!(duration(&s("36600d")).is_err());
    }

    #[test]
    fn sizes() {
        assert_eq!(size(&s("512K")), Ok(512 * 1024));
        assert_eq!(size(&s("10M")), Ok(10 << 20));
        assert_eq!(size(&s("1G")), Ok(1 << 30));
        assert_eq!(size(&s("1gib")), Ok(1 << 30));
        assert_eq!(size(&s("3kB")), Ok(3 << 10));
        assert_eq!(size(&s("4096")), Ok(4096));
        assert_eq!(size(&KdlValue::Integer(100)), Ok(100));
        for bad in ["", "M", "10X", "1.5M", "-1M", "99999999999999999999T"] {
            assert!(size(&s(bad)).is_err(), "{bad}");
        }
        assert!(size(&KdlValue::Integer(-1)).is_err());
    }

    #[test]
    fn signals() {
        assert_eq!(signal(&s("TERM")), Ok(libc::SIGTERM));
        assert_eq!(signal(&s("SIGterm")), Ok(libc::SIGTERM));
        assert_eq!(signal(&s("hup")), Ok(libc::SIGHUP));
        assert_eq!(signal(&KdlValue::Integer(9)), Ok(9));
        assert!(signal(&KdlValue::Integer(0)).is_err());
        assert!(signal(&KdlValue::Integer(65)).is_err());
        let error = signal(&s("TREM")).expect_err("typo");
        assert_eq!(error.help.as_deref(), Some("did you mean \"TERM\"?"));
        assert_eq!(signal_name(libc::SIGTERM), Some("TERM"));
        assert_eq!(signal_name(libc::SIGIO), Some("IO"));
    }

    #[test]
    fn umasks() {
        assert_eq!(umask(&KdlValue::Integer(0o027), "0o027"), Ok(0o027));
        assert_eq!(umask(&KdlValue::Integer(0), "0"), Ok(0));
        assert_eq!(umask(&s("027"), ""), Ok(0o027));
        assert_eq!(umask(&s("0027"), ""), Ok(0o027));
        assert_eq!(umask(&s("0o22"), ""), Ok(0o022));
        assert!(umask(&KdlValue::Integer(27), "027").is_err());
        assert!(umask(&KdlValue::Integer(0o1000), "0o1000").is_err());
        assert!(umask(&s("089"), "").is_err());
        assert!(umask(&s("77777777777777777777777777777777777777777777777"), "").is_err());
    }

    #[test]
    fn id_refs() {
        assert_eq!(id_ref(&s("www"), "user"), Ok(IdRef::Name("www".into())));
        assert_eq!(id_ref(&KdlValue::Integer(33), "user"), Ok(IdRef::Id(33)));
        assert!(id_ref(&KdlValue::Integer(-1), "user").is_err());
        assert!(id_ref(&KdlValue::Integer(u32::MAX as i128), "user").is_err());
        assert!(id_ref(&s(""), "user").is_err());
        assert!(id_ref(&s("a:b"), "user").is_err());
        assert!(id_ref(&s("a\0b"), "user").is_err());
    }

    #[test]
    fn limit_values() {
        assert_eq!(limit_value(&KdlValue::Integer(5), "nofile"), Ok(Some(5)));
        assert_eq!(limit_value(&s("unlimited"), "core"), Ok(None));
        assert_eq!(limit_value(&s("64M"), "stack"), Ok(Some(64 << 20)));
        assert!(limit_value(&s("64M"), "nofile").is_err());
        assert!(limit_value(&KdlValue::Integer(-5), "nofile").is_err());
    }

    #[test]
    fn suggestions() {
        let keys = ["umask", "user", "exec", "environment"];
        assert_eq!(suggest("umsk", keys), Some("umask"));
        assert_eq!(suggest("enviroment", keys), Some("environment"));
        assert_eq!(suggest("xyzzy", keys), None);
        assert_eq!(suggest("USER", keys), Some("user"));
        assert_eq!(edit_distance("kitten", "sitting", 5), Some(3));
        assert_eq!(edit_distance("kitten", "sitting", 2), None);
        assert_eq!(edit_distance("trem", "term", 1), Some(1));
        assert_eq!(edit_distance("", "ab", 2), Some(2));
    }
}
