//! A stalled stdout or console, and internal errors: svinit keeps serving.
