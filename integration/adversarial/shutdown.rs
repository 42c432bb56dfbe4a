//! Processes that ignore or survive stop signals: the shutdown stays bounded.
