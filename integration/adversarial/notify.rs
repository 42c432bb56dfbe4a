//! sd_notify readiness attributed without the sender still existing.
