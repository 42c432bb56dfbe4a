//! `svctl plot`: this boot as an SVG timeline, drawn here from svinit's
//! `plot` reply (svinit itself only remembers the runs). One row per
//! service in start order (a service starts after what it requires, so
//! dependencies read top to bottom), one bar per run: spawn → ready in a
//! light shade, ready → exit (or now) in a dark one; its end green for
//! exit 0, grey for a stop's signal, red otherwise; a time axis in seconds
//! from the first spawn.

use std::fmt::Write as _;

use svinit::control::{ExitJson, PlotReport, PlotRun, State};

const ROW: f64 = 22.0;
const BAR: f64 = 14.0;
const TOP: f64 = 40.0;
const NAME_WIDTH: f64 = 180.0;
const PLOT_WIDTH: f64 = 800.0;
const RIGHT: f64 = 20.0;

/// The whole SVG document of `report`.
pub(crate) fn render_svg(report: &PlotReport) -> String {
    let origin = report
        .services
        .iter()
        .flat_map(|service| service.runs.iter().map(|run| run.spawned))
        .fold(report.now, f64::min);
    let span = (report.now - origin).max(0.001);
    let step = tick_step(span);
    let scale = PLOT_WIDTH / span;
    let x = |unix: f64| NAME_WIDTH + (unix - origin).clamp(0.0, span) * scale;
    let rows = report.services.len() as f64;
    let width = NAME_WIDTH + PLOT_WIDTH + RIGHT;
    let height = TOP + rows * ROW + 30.0;

    let mut svg = String::new();
    let _ = writeln!(
        svg,
        r#"<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" viewBox="0 0 {width} {height}" font-family="sans-serif" font-size="12">"#
    );
    let _ = writeln!(svg, r#"<rect width="100%" height="100%" fill="white"/>"#);
    let _ = writeln!(
        svg,
        r#"<text x="8" y="18" font-size="14">svinit boot: {} services, {:.3} s from the first spawn</text>"#,
        report.services.len(),
        span
    );
    let legend = [
        ("starting", "#9ecae1"),
        ("up", "#3182bd"),
        ("exit 0", "#31a354"),
        ("stopped", "#969696"),
        ("failed", "#de2d26"),
    ];
    for (index, (label, color)) in legend.iter().enumerate() {
        let at = width - RIGHT - 90.0 * (legend.len() - index) as f64;
        let _ = writeln!(
            svg,
            r#"<rect x="{at:.1}" y="8" width="12" height="12" fill="{color}"/><text x="{:.1}" y="18">{label}</text>"#,
            at + 16.0
        );
    }
    let axis_bottom = TOP + rows * ROW;
    let mut tick = 0.0;
    while tick <= span + step / 1000.0 {
        let at = NAME_WIDTH + tick * scale;
        let _ = writeln!(
            svg,
            r##"<line class="tick" x1="{at:.1}" y1="{TOP}" x2="{at:.1}" y2="{axis_bottom}" stroke="#ddd"/><text x="{at:.1}" y="{:.1}" text-anchor="middle" fill="#555">{}</text>"##,
            axis_bottom + 16.0,
            tick_label(tick, step)
        );
        tick += step;
    }
    for (index, service) in report.services.iter().enumerate() {
        let top = TOP + index as f64 * ROW;
        let middle = top + ROW / 2.0 + 4.0;
        let _ = writeln!(
            svg,
            r#"<text class="name" x="{:.1}" y="{middle:.1}" text-anchor="end">{}</text>"#,
            NAME_WIDTH - 8.0,
            escape(&service.name)
        );
        let bar_top = top + (ROW - BAR) / 2.0;
        for run in &service.runs {
            draw_run(&mut svg, run, service.state, bar_top, &x, report.now);
        }
        if service.omitted > 0 {
            let _ = writeln!(
                svg,
                r##"<text class="omitted" x="{:.1}" y="{middle:.1}" fill="#555">+{} runs not shown</text>"##,
                width - RIGHT - 140.0,
                service.omitted
            );
        }
    }
    svg.push_str("</svg>\n");
    svg
}

/// One run's bar: starting (spawn → ready), running (ready → end), and a
/// mark at the end saying how it ended.
fn draw_run(
    svg: &mut String,
    run: &PlotRun,
    state: State,
    top: f64,
    x: &impl Fn(f64) -> f64,
    now: f64,
) {
    let end = run.ended.unwrap_or(now);
    let ready = run.ready.unwrap_or(end).min(end);
    let title = run_title(run, state);
    let (spawn_x, ready_x, end_x) = (x(run.spawned), x(ready), x(end));
    let _ = writeln!(
        svg,
        r##"<g class="run"><title>{title}</title><rect class="starting" x="{spawn_x:.1}" y="{top:.1}" width="{:.1}" height="{BAR}" fill="#9ecae1"/>"##,
        (ready_x - spawn_x).max(1.0)
    );
    if run.ready.is_some() {
        let _ = writeln!(
            svg,
            r##"<rect class="up" x="{ready_x:.1}" y="{top:.1}" width="{:.1}" height="{BAR}" fill="#3182bd"/>"##,
            (end_x - ready_x).max(1.0)
        );
    }
    if let Some(exit) = &run.exit {
        let color = match exit {
            ExitJson::Code { code: 0 } => "#31a354",
            // How a stop ends a run: not a failure.
            ExitJson::Signal { signal, .. }
                if [libc::SIGTERM, libc::SIGINT, libc::SIGHUP, libc::SIGKILL].contains(signal) =>
            {
                "#969696"
            }
            _ => "#de2d26",
        };
        let _ = writeln!(
            svg,
            r#"<rect class="exit" x="{:.1}" y="{top:.1}" width="3" height="{BAR}" fill="{color}"/>"#,
            end_x - 1.5
        );
    }
    svg.push_str("</g>\n");
}

/// The tooltip of a run: its times and how it ended.
fn run_title(run: &PlotRun, state: State) -> String {
    let mut title = match run.ready {
        Some(ready) => format!("ready after {:.3} s", ready - run.spawned),
        None => "never ready".to_string(),
    };
    match (&run.exit, run.ended) {
        (Some(exit), Some(ended)) => {
            let _ = write!(
                title,
                ", ended after {:.3} s: {}",
                ended - run.spawned,
                escape(&exit_text(exit))
            );
        }
        _ => {
            let _ = write!(title, ", {state}");
        }
    }
    title
}

fn exit_text(exit: &ExitJson) -> String {
    match exit {
        ExitJson::Code { code } => format!("exit {code}"),
        ExitJson::Signal { name, .. } => format!("killed by SIG{name}"),
    }
}

/// A round step for about 5–10 ticks over `span` seconds.
fn tick_step(span: f64) -> f64 {
    let rough = span / 8.0;
    let magnitude = 10f64.powf(rough.log10().floor());
    [1.0, 2.0, 5.0, 10.0]
        .iter()
        .map(|factor| factor * magnitude)
        .find(|step| *step >= rough)
        .unwrap_or(10.0 * magnitude)
}

fn tick_label(seconds: f64, step: f64) -> String {
    let decimals = (-step.log10().floor()).max(0.0) as usize;
    format!("{seconds:.decimals$} s")
}

fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use svinit::control::PlotService;

    #[test]
    fn ticks_are_round_and_names_are_escaped() {
        assert_eq!(tick_step(4.02), 1.0);
        assert_eq!(tick_step(2.5), 0.5);
        assert_eq!(tick_step(0.03), 0.005);
        assert_eq!(tick_step(120.0), 20.0);
        assert_eq!(tick_label(1.5, 0.5), "1.5 s");
        let report = PlotReport {
            now: 102.0,
            services: vec![PlotService {
                name: "a<b>&\"c\"".into(),
                state: State::Failed,
                runs: vec![PlotRun {
                    spawned: 100.0,
                    ready: None,
                    ended: Some(101.0),
                    exit: Some(ExitJson::Code { code: 3 }),
                }],
                omitted: 0,
            }],
        };
        let svg = render_svg(&report);
        assert!(
            svg.contains(">a&lt;b&gt;&amp;&quot;c&quot;</text>"),
            "{svg}"
        );
        assert!(svg.contains("ended after 1.000 s: exit 3"), "{svg}");
        assert_eq!(svg.matches("<g class=\"run\">").count(), 1);
        assert!(!svg.contains("not shown"), "{svg}");
    }

    #[test]
    fn runs_left_out_are_counted_on_their_row() {
        let report = PlotReport {
            now: 102.0,
            services: vec![PlotService {
                name: "loop".into(),
                state: State::Backoff,
                runs: Vec::new(),
                omitted: 12,
            }],
        };
        let svg = render_svg(&report);
        assert!(svg.contains(">+12 runs not shown</text>"), "{svg}");
    }
}
