//! The pure, sans-IO supervisor: every rule of SPEC.md §4 as a state machine
//! driven by events and a clock it is handed, emitting actions.

mod types;

pub use types::*;
