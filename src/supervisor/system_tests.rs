//! System mode's shutdown rules: the same reverse-order stop and orphan
//! sweep, ending in `Action::Power` (reboot, halt, poweroff), never `Exit`.

use super::harness::{Harness, config, names, secs, service};
use super::*;

fn system(services: Vec<crate::config::ServiceConfig>) -> Harness {
    Harness::with_role(config(services), Role::System).booted()
}

fn chain() -> Vec<crate::config::ServiceConfig> {
    let mut web = service("web");
    web.requires = names(&["db"]);
    vec![service("db"), web]
}

#[test]
fn power_stops_in_reverse_order_then_asks_for_reboot() {
    let mut h = system(chain());
    h.request_power(PowerKind::Reboot);
    assert_eq!(h.reached(StateKind::Down), names(&["web", "db"]));
    h.event(Event::NoChildren);
    assert_eq!(
        h.effects().last(),
        Some(&Action::Power {
            kind: PowerKind::Reboot
        })
    );
    assert_eq!(h.exit_code(), None, "system mode never exits");
}

#[test]
fn the_first_power_kind_asked_wins() {
    let mut h = system(chain());
    h.request_power(PowerKind::Halt);
    h.request_power(PowerKind::Reboot);
    h.drive();
    assert_eq!(h.power(), Some(PowerKind::Halt));
}

#[test]
fn a_plain_shutdown_in_system_mode_powers_off_after_the_kill_sweep() {
    let mut h = system(chain());
    h.shutdown(0);
    h.advance(secs(5));
    h.advance(secs(1));
    assert_eq!(h.power(), Some(PowerKind::Poweroff));
    assert_eq!(h.exit_code(), None);
}
