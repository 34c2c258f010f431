//! The period report as Markdown, for a reader or a ticket. Pure: same report, same text.

use super::report::{ControlReport, FailureInterval, PeriodReport, PeriodState};
use std::fmt::Write;

fn cell(text: &str) -> String {
    text.replace('|', "\\|").replace(['\n', '\r'], " ")
}

/// `3d 4h 5m`: to the minute, zero units dropped (seconds under a minute shown as such).
pub fn duration(seconds: i64) -> String {
    if seconds < 60 {
        return format!("{seconds}s");
    }
    let (d, h, m) = (
        seconds / 86_400,
        seconds % 86_400 / 3600,
        seconds % 3600 / 60,
    );
    let mut parts = Vec::new();
    for (value, unit) in [(d, "d"), (h, "h"), (m, "m")] {
        if value > 0 {
            parts.push(format!("{value}{unit}"));
        }
    }
    parts.join(" ")
}

/// What ended a failure, in words (Markdown and HTML say it the same way).
pub fn ended_by(failure: &FailureInterval) -> String {
    match failure.ended_by {
        None => "nothing: still failing at the period's end".to_string(),
        Some(PeriodState::Gap) => "a gap: nothing was evaluated, the end is unknown".to_string(),
        Some(PeriodState::Absent) => "the resource's deletion".to_string(),
        Some(state) => state.as_str().to_string(),
    }
}

pub fn render_markdown(report: &PeriodReport) -> String {
    let mut md = String::new();
    let _ = writeln!(md, "# Control operation over a period\n");
    let _ = writeln!(md, "- Period: {} to {} (UTC)", report.from, report.to);
    let _ = writeln!(
        md,
        "- Checkpoint interval: {}; an evaluation counts for at most {} without a newer one, \
         after which the time is a **gap** (never a pass)",
        duration(report.checkpoint_interval_seconds),
        duration(report.max_silence_seconds)
    );
    match &report.chain {
        Some(chain) => {
            let _ = writeln!(
                md,
                "- Evidence log: {} - {} entries in {} segments, chain and signatures **verified** \
                 (trusted keys: {}); verified through entry {} `{}`",
                chain.source,
                chain.entries,
                chain.segments,
                chain.trusted_key_ids.join(", "),
                chain.head_seq.map(|s| s.to_string()).unwrap_or("-".into()),
                chain.head_hash.as_deref().unwrap_or("-"),
            );
        }
        None => {
            let _ = writeln!(md, "- Evidence log: **not verified**");
        }
    }
    if report.recording_gaps.is_empty() {
        let _ = writeln!(md, "- The operator recorded throughout the period.");
    } else {
        let _ = writeln!(md, "- The operator recorded nothing during:");
        for gap in &report.recording_gaps {
            let _ = writeln!(
                md,
                "  - {} to {} ({})",
                gap.start,
                gap.end,
                duration(gap.seconds)
            );
        }
    }
    let _ = writeln!(md, "\n## Summary\n");
    if report.controls.is_empty() {
        let _ = writeln!(md, "The log records no control.");
    } else {
        let _ = writeln!(
            md,
            "| Resource | Control | Pass | Fail | Exempt | Not applicable | Not evaluated | Gap | Absent | Failures |"
        );
        let _ = writeln!(md, "|---|---|---|---|---|---|---|---|---|---|");
        for control in &report.controls {
            let share = |state| format!("{:.1}%", control.shares.get(state).percent);
            let _ = writeln!(
                md,
                "| {} | {} | {} | {} | {} | {} | {} | {} | {} | {} |",
                cell(&control.resource.to_string()),
                control.control,
                share(PeriodState::Pass),
                share(PeriodState::Fail),
                share(PeriodState::Exempt),
                share(PeriodState::NotApplicable),
                share(PeriodState::NotEvaluated),
                share(PeriodState::Gap),
                share(PeriodState::Absent),
                control.failures.len(),
            );
        }
    }
    for control in &report.controls {
        control_section(&mut md, control);
    }
    md
}

fn control_section(md: &mut String, control: &ControlReport) {
    let _ = writeln!(
        md,
        "\n## {} - {} ({})\n",
        cell(&control.resource.to_string()),
        control.control,
        cell(&control.title)
    );
    let _ = writeln!(md, "Proves: {}\n", control.frameworks.join("; "));
    let _ = writeln!(md, "| From | To | State | Duration |");
    let _ = writeln!(md, "|---|---|---|---|");
    for span in &control.timeline {
        let _ = writeln!(
            md,
            "| {} | {} | {} | {} |",
            span.start,
            span.end,
            match span.state {
                PeriodState::Fail | PeriodState::Gap | PeriodState::NotEvaluated =>
                    format!("**{}**", span.state.as_str()),
                other => other.as_str().to_string(),
            },
            duration(span.seconds)
        );
    }
    if control.failures.is_empty() {
        let _ = writeln!(md, "\nNo failure in the period.");
    } else {
        let _ = writeln!(md, "\n### Failures\n");
        for failure in &control.failures {
            let ended = ended_by(failure);
            let _ = writeln!(
                md,
                "- {}{} to {} ({}), up to {} objects failing, ended by {ended}",
                if failure.started_before_period {
                    "(before the period) "
                } else {
                    ""
                },
                failure.start,
                failure.end,
                duration(failure.seconds),
                failure.failed_objects,
            );
            for finding in &failure.findings {
                let object = match &finding.namespace {
                    Some(ns) => format!("{} {}/{}", finding.kind, ns, finding.name),
                    None => format!("{} {}", finding.kind, finding.name),
                };
                let _ = writeln!(md, "  - {}: {}", cell(&object), cell(&finding.message));
            }
        }
    }
    if !control.exemptions.is_empty() {
        let _ = writeln!(md, "\n### Exemptions in force\n");
        let _ = writeln!(
            md,
            "| Approved by | Ticket | Reason | Namespaces | Expires | In force (recorded) |"
        );
        let _ = writeln!(md, "|---|---|---|---|---|---|");
        for e in &control.exemptions {
            let _ = writeln!(
                md,
                "| {} | {} | {} | {} | {} | {} to {} |",
                cell(&e.exemption.approved_by),
                cell(e.exemption.ticket.as_deref().unwrap_or("-")),
                cell(&e.exemption.reason),
                cell(&if e.exemption.namespaces.is_empty() {
                    e.exemption
                        .selector
                        .clone()
                        .unwrap_or("all selected".into())
                } else {
                    e.exemption.namespaces.join(", ")
                }),
                cell(&e.exemption.expires),
                e.from,
                e.to,
            );
        }
    }
}
