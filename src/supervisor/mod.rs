//! The pure, sans-IO supervisor: every rule of SPEC.md §4 as a state machine
//! driven by events and a clock it is handed, emitting actions.

#[allow(dead_code)]
mod backoff;
#[allow(dead_code)]
mod deps;
mod types;

pub use types::*;
