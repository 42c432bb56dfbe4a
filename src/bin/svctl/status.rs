//! `svctl status`: the text table and the stable JSON.

use std::time::{SystemTime, UNIX_EPOCH};

use svinit::control::{HealthStateJson, Request, Running, ServiceStatusJson, State, StatusReport};
use svinit::transcript::lines_dropped_text;

use crate::connection::{Connection, Failure};
use crate::{EXIT_NOT_UP, EXIT_OK};

pub(crate) fn status(
    connection: &mut Connection,
    json: bool,
    names: &[String],
) -> Result<u8, Failure> {
    let report: StatusReport = connection.ask(&Request::Status {
        names: names.to_vec(),
    })?;
    if json {
        let text = serde_json::to_string(&report.services).unwrap_or_else(|_| "[]".into());
        say!("{text}");
    } else {
        print_status_table(&report, names.is_empty());
    }
    // Health `starting` counts as up (SPEC §3 "svctl exit codes").
    let all_up = report.services.iter().all(|service| {
        matches!(service.state, State::Up | State::Done)
            && service
                .health
                .as_ref()
                .is_none_or(|health| health.state != HealthStateJson::Unhealthy)
    });
    Ok(if !names.is_empty() && !all_up {
        EXIT_NOT_UP
    } else {
        EXIT_OK
    })
}

pub(crate) fn unix_now() -> f64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs_f64())
        .unwrap_or(0.0)
}

/// `200ms`, `45s`, `3m12s`, `5h2m`, `2d3h`: milliseconds under a second,
/// else whole units, rounded down.
pub(crate) fn format_age(seconds: f64) -> String {
    if seconds < 1.0 {
        return format!("{}ms", (seconds.max(0.0) * 1000.0) as u64);
    }
    let s = seconds as u64;
    match s {
        0..=59 => format!("{s}s"),
        60..=3599 => format!("{}m{}s", s / 60, s % 60),
        3600..=86_399 => format!("{}h{}m", s / 3600, s % 3600 / 60),
        _ => format!("{}d{}h", s / 86_400, s % 86_400 / 3600),
    }
}

/// The last column of the table: why, or what it is.
pub(crate) fn status_info(service: &ServiceStatusJson) -> String {
    let mut parts = Vec::new();
    if let Some(reason) = &service.reason {
        parts.push(reason.clone());
    } else if let Some(exit) = &service.exit
        && !matches!(service.state, State::Up | State::Starting | State::Stopping)
    {
        parts.push(format!("last {exit}"));
    }
    if let Some(seconds) = service.next_restart {
        parts.push(format!("restart in {seconds:.1}s"));
    }
    if service.want == Running::Down
        && matches!(service.state, State::Up | State::Starting | State::Waiting)
    {
        parts.push("stop pending".into());
    }
    if service.config_changed {
        parts.push("config changed, applies at next start".into());
    }
    if let Some(text) = &service.status_text {
        parts.push(format!("status: {text}"));
    }
    if let Some(health) = &service.health {
        let mut text = format!("health: {}", health.state.as_str());
        if health.failures > 0 {
            text.push_str(&format!(" ({} failed in a row", health.failures));
            if let Some(last) = health.last.as_ref().filter(|last| !last.ok) {
                text.push_str(&format!(": {}", last.detail));
            }
            text.push(')');
        }
        parts.push(text);
    }
    let dropped = lines_dropped_text(service.output_dropped);
    match (&service.output_problem, service.output_dropped) {
        (Some(problem), 0) => parts.push(format!("output: {problem}")),
        (Some(problem), _) => parts.push(format!("output: {problem} ({dropped})")),
        (None, 0) => {}
        (None, _) => parts.push(format!("output: {dropped}")),
    }
    if parts.is_empty()
        && let Some(description) = &service.description
    {
        parts.push(description.clone());
    }
    parts.join("; ")
}

/// The SINCE column: how long the service has been in its state. `age`
/// is exact; without it (an older svinit) `since` and `now` (unix seconds)
/// are whole seconds, so an age under a second shows as `0s`.
pub(crate) fn since_cell(service: &ServiceStatusJson, now: f64) -> String {
    match service.age {
        Some(age) => format_age(age),
        None => match now as i64 - service.since {
            ..=0 => "0s".to_owned(),
            whole => format_age(whole as f64),
        },
    }
}

pub(crate) fn print_status_table(report: &StatusReport, whole: bool) {
    let now = unix_now();
    let rows: Vec<[String; 6]> = report
        .services
        .iter()
        .map(|service| {
            [
                service.name.clone(),
                service.state.to_string(),
                service.pid.map_or("-".into(), |pid| pid.to_string()),
                since_cell(service, now),
                service.restarts.to_string(),
                status_info(service),
            ]
        })
        .collect();
    if whole && report.console_lines_dropped > 0 {
        say!(
            "svinit: {} lines dropped: its stdout or stderr was not writable (services' lines are still in svctl logs)",
            report.console_lines_dropped
        );
    }
    let header = ["NAME", "STATE", "PID", "SINCE", "RESTARTS", "INFO"].map(String::from);
    let mut widths = header.clone().map(|h| h.len());
    for row in &rows {
        for (width, cell) in widths.iter_mut().zip(row) {
            *width = (*width).max(cell.chars().count());
        }
    }
    let render = |row: &[String; 6]| {
        let mut line = String::new();
        for (i, cell) in row.iter().enumerate() {
            if i == 5 {
                line.push_str(cell);
            } else if i == 2 || i == 4 {
                line.push_str(&format!("{cell:>width$}  ", width = widths[i]));
            } else {
                line.push_str(&format!("{cell:<width$}  ", width = widths[i]));
            }
        }
        line.trim_end().to_string()
    };
    say!("{}", render(&header));
    for row in &rows {
        say!("{}", render(row));
    }
    if whole && report.orphans_reaped > 0 {
        say!("orphans reaped: {}", report.orphans_reaped);
    }
}
