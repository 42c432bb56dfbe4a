//! Deaths by any signal 1–64 are seen; any signal 1–64 can be sent.
