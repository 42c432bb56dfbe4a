//! A local user of the control socket: floods, stream hoarding, slots.
