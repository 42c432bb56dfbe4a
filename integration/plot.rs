//! `svctl plot`: this boot as an SVG timeline, read back and rendered to
//! PNG by a real renderer (rsvg-convert, Debian's librsvg2-bin).

use std::process::Command;
use std::time::Duration;

use crate::control::{container, expect, wait_for_socket};
use crate::harness::{DEADLINE, TempDir};

const SERVICES: &str = r#"
service "db" {
    shell "sleep 0.3; echo >&3; exec sleep 1000"
    ready-fd 3
}
service "web" {
    exec "sleep" "1000"
    requires "db"
}
service "setup" {
    type "oneshot"
    shell "sleep 0.1"
}
service "flaky" {
    shell "exit 3"
    backoff-limit "2s"
}
service "idle" {
    exec "sleep" "1000"
    autostart #false
}
"#;

/// The x of `class="CLASS"`'s rects in the run groups of `name`'s row.
fn bars(svg: &str, name: &str, class: &str) -> Vec<f64> {
    let row = svg
        .split("<text class=\"name\"")
        .find(|row| row.contains(&format!(">{name}</text>")))
        .unwrap_or_else(|| panic!("no row for {name} in\n{svg}"));
    row.split("<rect class=\"")
        .skip(1)
        .filter(|rect| rect.starts_with(&format!("{class}\"")))
        .map(|rect| {
            let x = rect.split("x=\"").nth(1).and_then(|r| r.split('"').next());
            x.and_then(|x| x.parse().ok())
                .unwrap_or_else(|| panic!("no x in {rect}"))
        })
        .collect()
}

#[test]
fn plot_draws_each_run_in_start_order_and_renders_to_png() {
    let dir = TempDir::new("plot");
    dir.write("conf/services.kdl", SERVICES);
    let sv = container(&dir);
    wait_for_socket(&sv, &dir);
    sv.wait_state("web", "up", DEADLINE);
    sv.wait_state("setup", "done", DEADLINE);
    sv.wait_state("flaky", "failed", DEADLINE + Duration::from_secs(5));

    let run = expect(&sv, &dir, &["plot"], 0);
    let svg = run.stdout;
    assert!(
        svg.starts_with("<svg xmlns=\"http://www.w3.org/2000/svg\""),
        "{svg}"
    );
    assert!(svg.trim_end().ends_with("</svg>"), "{svg}");
    assert_eq!(
        svg.matches("<g ").count(),
        svg.matches("</g>").count(),
        "{svg}"
    );

    // Rows in start order; never-spawned `idle` left out.
    let at = |name: &str| {
        svg.find(&format!(">{name}</text>"))
            .unwrap_or_else(|| panic!("{name} missing"))
    };
    assert!(at("db") < at("web"), "db's row above web's:\n{svg}");
    assert!(!svg.contains(">idle</text>"), "{svg}");

    // web was spawned once db was ready: its bar starts where db's `up` does.
    let db_up = bars(&svg, "db", "up");
    let web_start = bars(&svg, "web", "starting");
    assert_eq!((db_up.len(), web_start.len()), (1, 1), "{svg}");
    assert!(
        web_start[0] + 1.0 >= db_up[0],
        "web {web_start:?} before db up {db_up:?}"
    );
    // flaky ran twice (backoff-limit 2s: delays 1 s, then gave up), each
    // ending in a red mark; setup's one run ends green.
    assert_eq!(bars(&svg, "flaky", "starting").len(), 2, "{svg}");
    let exit_marks = |color: &str| {
        svg.split("<rect class=\"exit\"")
            .skip(1)
            .filter(|rect| rect.split("/>").next().is_some_and(|r| r.contains(color)))
            .count()
    };
    assert_eq!(exit_marks("#de2d26"), 2, "{svg}");
    assert_eq!(exit_marks("#31a354"), 1, "{svg}");

    let bytes = render_png(&dir, &svg, "svctl-plot.png");
    assert!(bytes.starts_with(b"\x89PNG\r\n\x1a\n"), "not a PNG");
    let width = u32::from_be_bytes(bytes[16..20].try_into().expect("IHDR width"));
    assert!(width >= 800, "width {width}");
}

/// `svctl plot` of the README's demo (units/demo), rendered: the picture
/// of a boot with a readiness wait, ordering, a oneshot and a crash loop.
#[test]
fn the_demo_plot_renders() {
    let dir = TempDir::new("plot-demo");
    for entry in std::fs::read_dir("units/demo").expect("units/demo") {
        let path = entry.expect("entry").path();
        let text = std::fs::read_to_string(&path).expect("a demo unit");
        let name = path
            .file_name()
            .expect("name")
            .to_string_lossy()
            .into_owned();
        dir.write(&format!("conf/{name}"), &text);
    }
    let sv = container(&dir);
    wait_for_socket(&sv, &dir);
    sv.wait_state("web", "up", DEADLINE);
    sv.wait_state("report", "done", DEADLINE);
    sv.wait_until("cache to crash once", DEADLINE, || {
        let status = crate::control::status_json(&sv, &dir, "cache");
        status["restarts"].as_u64().is_some_and(|n| n >= 1)
    });
    let svg = expect(&sv, &dir, &["plot"], 0).stdout;
    for name in ["setup", "db", "web", "cache", "clock", "report"] {
        assert!(
            svg.contains(&format!(">{name}</text>")),
            "{name} missing:\n{svg}"
        );
    }
    assert!(!svg.contains(">ticker</text>"), "never spawned, left out");
    let bytes = render_png(&dir, &svg, "svctl-plot-demo.png");
    assert!(bytes.starts_with(b"\x89PNG\r\n\x1a\n"), "not a PNG");
}

/// Renders `svg` with rsvg-convert; returns the PNG's bytes, and leaves a
/// copy as target/`copy` for people to look at.
fn render_png(dir: &TempDir, svg: &str, copy: &str) -> Vec<u8> {
    let svg_path = dir.write("plot.svg", svg);
    let png = dir.join("plot.png");
    let rendered = Command::new("rsvg-convert")
        .arg("-o")
        .arg(&png)
        .arg(&svg_path)
        .output()
        .unwrap_or_else(|e| panic!("rsvg-convert (apt-get install librsvg2-bin): {e}"));
    assert!(rendered.status.success(), "rsvg-convert: {rendered:?}");
    let _ = std::fs::create_dir_all("target");
    let _ = std::fs::copy(&png, format!("target/{copy}"));
    std::fs::read(&png).expect("the PNG")
}
