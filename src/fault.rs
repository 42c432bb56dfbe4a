//! Fault injection for tests, compiled only into debug builds: a named
//! point panics when the environment variable `SVINIT_TEST_PANIC` asks it
//! to, so the integration tests can prove that a panic is contained
//! (SPEC.md §7). Release builds compile every point to nothing.
//!
//! `SVINIT_TEST_PANIC=POINT[:N][,POINT[:N]...]`: panic at POINT the first
//! N times it is reached (default 1; `*` every time). The points:
//! `config-load`, `runtime-new`, `boot` (before the first spawns),
//! `signals` (the signalfd is readable, before it is read), `loop-end`
//! (the end of every loop turn). TEST-ONLY: not an interface.

/// A point still armed, with the panics it has left (`None`: forever).
#[cfg(debug_assertions)]
type Armed = (String, Option<u32>);

/// Panics if `SVINIT_TEST_PANIC` names `point` and its count is not used up.
#[cfg(debug_assertions)]
pub fn point(point: &str) {
    use std::cell::RefCell;

    thread_local! {
        /// Parsed from the environment at the first point reached.
        static ARMED: RefCell<Option<Vec<Armed>>> = const { RefCell::new(None) };
    }
    let fire = ARMED.with(|armed| {
        let mut armed = armed.borrow_mut();
        let points = armed.get_or_insert_with(|| {
            std::env::var("SVINIT_TEST_PANIC")
                .map(|spec| parse(&spec))
                .unwrap_or_default()
        });
        let Some((_, left)) = points.iter_mut().find(|(name, _)| name == point) else {
            return false;
        };
        match left {
            None => true,
            Some(0) => false,
            Some(n) => {
                *n -= 1;
                true
            }
        }
    });
    if fire {
        panic!("injected panic at `{point}` (SVINIT_TEST_PANIC)");
    }
}

#[cfg(not(debug_assertions))]
#[inline(always)]
pub fn point(_point: &str) {}

/// `a,b:3,c:*` → [(a, Some(1)), (b, Some(3)), (c, None)].
#[cfg(debug_assertions)]
fn parse(spec: &str) -> Vec<Armed> {
    spec.split(',')
        .filter(|item| !item.is_empty())
        .map(|item| match item.split_once(':') {
            Some((name, "*")) => (name.to_string(), None),
            Some((name, count)) => (name.to_string(), Some(count.parse().unwrap_or(1))),
            None => (item.to_string(), Some(1)),
        })
        .collect()
}

#[cfg(all(test, debug_assertions))]
mod tests {
    use super::*;

    #[test]
    fn points_with_counts() {
        assert_eq!(
            parse("boot,signals:3,loop-end:*,"),
            vec![
                ("boot".to_string(), Some(1)),
                ("signals".to_string(), Some(3)),
                ("loop-end".to_string(), None),
            ]
        );
    }

    #[test]
    fn an_unarmed_point_does_nothing() {
        point("no-such-point");
    }
}
