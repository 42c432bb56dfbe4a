//! svinit: a declarative init and process supervisor for Linux.
//!
//! The program is a pure core driven by a thin loop (ARCHITECTURE.md):
//! `config` turns unit files into a typed `Config`, `graph` orders services,
//! `supervisor` decides what to do, `spawn` starts processes and `runtime`
//! owns the file descriptors, the signals and the clock.

pub mod config;
pub mod console;
pub mod control;
pub mod detach;
pub mod fault;
pub mod graph;
pub mod log;
pub mod mode;
pub(crate) mod own_memory;
pub mod runtime;
pub mod spawn;
pub mod supervisor;
pub mod system;
pub mod transcript;
pub mod untrusted;
pub mod users;
