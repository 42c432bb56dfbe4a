//! svinit's own event log: one line per event on stderr (the console in
//! system mode), `svinit: SUBJECT: message` (or `svinit: message` for
//! svinit itself), filtered by `-v` / `-q`.
//! The format is stable so people and tests can grep it. Lines go out
//! through `crate::console`, which never blocks.

use std::io::Write;
use std::sync::atomic::{AtomicU8, Ordering};

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
#[repr(u8)]
pub enum Level {
    Error = 0,
    Warn = 1,
    Info = 2,
    Debug = 3,
}

static MAX_LEVEL: AtomicU8 = AtomicU8::new(Level::Info as u8);

/// `-q` → Warn, default Info, `-v` → Debug.
pub fn set_max_level(level: Level) {
    MAX_LEVEL.store(level as u8, Ordering::Relaxed);
}

pub(crate) fn enabled(level: Level) -> bool {
    level as u8 <= MAX_LEVEL.load(Ordering::Relaxed)
}

/// Writes one whole line to svinit's stderr through the console, which
/// never blocks: a line the destination cannot take is queued or, when
/// the queue is full, dropped and counted.
pub fn write_line(level: Level, subject: &str, message: std::fmt::Arguments<'_>) {
    let tag = match level {
        Level::Error => "error: ",
        Level::Warn => "warning: ",
        Level::Info | Level::Debug => "",
    };
    write_tagged(level, tag, subject, message);
}

/// A service state line, `svinit: NAME: STATE (details)`: filtered by
/// `level` but never tagged, so every state line has the same shape.
pub(crate) fn write_state_line(level: Level, subject: &str, message: std::fmt::Arguments<'_>) {
    write_tagged(level, "", subject, message);
}

fn write_tagged(level: Level, tag: &str, subject: &str, message: std::fmt::Arguments<'_>) {
    if !enabled(level) {
        return;
    }
    let mut line = Vec::with_capacity(96);
    if subject.is_empty() {
        let _ = writeln!(line, "svinit: {tag}{message}");
    } else {
        let _ = writeln!(line, "svinit: {subject}: {tag}{message}");
    }
    crate::console::write(crate::console::Out::Stderr, &line);
}

#[macro_export]
macro_rules! log_at {
    ($level:expr, $subject:expr, $($arg:tt)*) => {
        $crate::log::write_line($level, $subject, format_args!($($arg)*))
    };
}

#[macro_export]
macro_rules! info {
    ($subject:expr, $($arg:tt)*) => { $crate::log_at!($crate::log::Level::Info, $subject, $($arg)*) };
}

#[macro_export]
macro_rules! warn {
    ($subject:expr, $($arg:tt)*) => { $crate::log_at!($crate::log::Level::Warn, $subject, $($arg)*) };
}

#[macro_export]
macro_rules! error {
    ($subject:expr, $($arg:tt)*) => { $crate::log_at!($crate::log::Level::Error, $subject, $($arg)*) };
}

#[macro_export]
macro_rules! debug {
    ($subject:expr, $($arg:tt)*) => { $crate::log_at!($crate::log::Level::Debug, $subject, $($arg)*) };
}
