//! Paths a service controls: fifos, symlinks, lying pid files.
