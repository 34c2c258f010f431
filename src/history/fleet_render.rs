//! The fleet report as Markdown and HTML: a verification line per cluster (the first broken
//! entry named), a row per cluster and control, and each cluster's recording gaps. Pure.
//!
//! OSCAL: one Assessment Results `result` per cluster is each cluster's own period report
//! ([`super::fleet::ClusterReport::period_report`]) through the OSCAL renderer; a cluster
//! whose chain is broken gives no result but an observation of the break.

use super::fleet::{ClusterReport, FleetReport};
use super::html::escape;
use super::markdown::duration;
use super::report::PeriodState;
use std::fmt::Write;

fn cell(text: &str) -> String {
    text.replace('|', "\\|").replace(['\n', '\r'], " ")
}

/// The cluster's verification, in words.
pub fn status(cluster: &ClusterReport) -> String {
    if let Some(broken) = &cluster.broken_text {
        return format!("BROKEN: {broken}");
    }
    if let Some(error) = &cluster.error {
        return format!("NOT READ: {error}");
    }
    let start = match &cluster.snapshot {
        Some(name) => format!("from signed snapshot {name}"),
        None => "from the first entry".to_string(),
    };
    match cluster.through_seq {
        Some(seq) => format!(
            "verified {} entries in {} segments {start}, through entry {seq}",
            cluster.entries_verified, cluster.segments_read
        ),
        None => "verified: the chain is empty (nothing is proven)".to_string(),
    }
}

const STATES: [PeriodState; 5] = [
    PeriodState::Pass,
    PeriodState::Fail,
    PeriodState::Exempt,
    PeriodState::Gap,
    PeriodState::Absent,
];

pub fn render_markdown(report: &FleetReport) -> String {
    let mut md = String::new();
    let _ = writeln!(md, "# Fleet evidence report\n");
    let _ = writeln!(
        md,
        "Period: {} to {} · source: {} · checkpoint interval {} · trusted keys: {}\n",
        report.from,
        report.to,
        cell(&report.source),
        duration(report.checkpoint_interval_seconds),
        report.trusted_key_ids.join(", ")
    );
    let _ = writeln!(md, "## Clusters\n");
    let _ = writeln!(md, "| Cluster | Chain | Recording gaps |");
    let _ = writeln!(md, "|---|---|---|");
    for cluster in &report.clusters {
        let gaps = if cluster.verified {
            duration(cluster.recording_gap_seconds)
        } else {
            "-".into()
        };
        let _ = writeln!(
            md,
            "| {} | {} | {} |",
            cell(&cluster.cluster),
            cell(&status(cluster)),
            gaps
        );
    }
    let _ = writeln!(md, "\n## Controls\n");
    let _ = writeln!(
        md,
        "| Cluster | Resource | Control | Pass % | Fail % | Exempt % | Gap % | Absent % | Failures |"
    );
    let _ = writeln!(md, "|---|---|---|---|---|---|---|---|---|");
    for cluster in report.clusters.iter().filter(|c| c.verified) {
        for control in &cluster.controls {
            let shares: Vec<String> = STATES
                .iter()
                .map(|s| format!("{:.1}", control.shares.get(*s).percent))
                .collect();
            let _ = writeln!(
                md,
                "| {} | {} | {} {} | {} | {} |",
                cell(&cluster.cluster),
                cell(&control.resource.to_string()),
                control.control.as_str(),
                cell(&control.title),
                shares.join(" | "),
                control.failures.len()
            );
        }
    }
    let _ = writeln!(md, "\n## Gaps per cluster\n");
    for cluster in report.clusters.iter().filter(|c| c.verified) {
        let _ = writeln!(md, "### {}\n", cell(&cluster.cluster));
        if cluster.recording_gaps.is_empty() {
            let _ = writeln!(md, "The operator recorded throughout the period.\n");
        }
        for gap in &cluster.recording_gaps {
            let _ = writeln!(
                md,
                "- not recording {} to {} ({})",
                gap.start,
                gap.end,
                duration(gap.seconds)
            );
        }
        for control in &cluster.controls {
            let gap = control.shares.get(PeriodState::Gap);
            if gap.seconds > 0 {
                let _ = writeln!(
                    md,
                    "- {} {}: gap {} ({:.1}%)",
                    cell(&control.resource.to_string()),
                    control.control.as_str(),
                    duration(gap.seconds),
                    gap.percent
                );
            }
        }
        let _ = writeln!(md);
    }
    md
}

pub fn render_html(report: &FleetReport) -> String {
    let mut html = String::new();
    let _ = write!(
        html,
        "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\"><title>Fleet evidence report</title>\
<style>body{{font-family:sans-serif;margin:2em}}table{{border-collapse:collapse}}td,th{{border:1px solid #ccc;padding:.2em .5em}}.broken{{color:#b00020;font-weight:bold}}</style></head><body>"
    );
    let _ = write!(
        html,
        "<h1>Fleet evidence report</h1><p>Period: {} to {} · source: {} · checkpoint interval {} · trusted keys: {}</p>",
        report.from,
        report.to,
        escape(&report.source),
        duration(report.checkpoint_interval_seconds),
        escape(&report.trusted_key_ids.join(", "))
    );
    let _ = write!(
        html,
        "<h2>Clusters</h2><table><tr><th>Cluster</th><th>Chain</th><th>Recording gaps</th></tr>"
    );
    for cluster in &report.clusters {
        let class = if cluster.verified {
            ""
        } else {
            " class=\"broken\""
        };
        let gaps = if cluster.verified {
            duration(cluster.recording_gap_seconds)
        } else {
            "-".into()
        };
        let _ = write!(
            html,
            "<tr><td>{}</td><td{class}>{}</td><td>{}</td></tr>",
            escape(&cluster.cluster),
            escape(&status(cluster)),
            gaps
        );
    }
    let _ = write!(
        html,
        "</table><h2>Controls</h2><table><tr><th>Cluster</th><th>Resource</th><th>Control</th>"
    );
    for state in STATES {
        let _ = write!(html, "<th>{} %</th>", state.as_str());
    }
    let _ = write!(html, "<th>Failures</th></tr>");
    for cluster in report.clusters.iter().filter(|c| c.verified) {
        for control in &cluster.controls {
            let _ = write!(
                html,
                "<tr><td>{}</td><td>{}</td><td>{} {}</td>",
                escape(&cluster.cluster),
                escape(&control.resource.to_string()),
                control.control.as_str(),
                escape(&control.title)
            );
            for state in STATES {
                let _ = write!(html, "<td>{:.1}</td>", control.shares.get(state).percent);
            }
            let _ = write!(html, "<td>{}</td></tr>", control.failures.len());
        }
    }
    let _ = write!(html, "</table><h2>Gaps per cluster</h2>");
    for cluster in report.clusters.iter().filter(|c| c.verified) {
        let _ = write!(html, "<h3>{}</h3><ul>", escape(&cluster.cluster));
        for gap in &cluster.recording_gaps {
            let _ = write!(
                html,
                "<li>not recording {} to {} ({})</li>",
                gap.start,
                gap.end,
                duration(gap.seconds)
            );
        }
        for control in &cluster.controls {
            let gap = control.shares.get(PeriodState::Gap);
            if gap.seconds > 0 {
                let _ = write!(
                    html,
                    "<li>{} {}: gap {} ({:.1}%)</li>",
                    escape(&control.resource.to_string()),
                    control.control.as_str(),
                    duration(gap.seconds),
                    gap.percent
                );
            }
        }
        let _ = write!(html, "</ul>");
    }
    let _ = writeln!(html, "</body></html>");
    html
}
