//! Unit files: KDL v2 documents → a validated `Config`, with miette
//! diagnostics that point at the exact span of every problem.

mod model;

pub use model::*;
