//! The period report as ONE self-contained HTML file an auditor opens in a browser: inline
//! CSS, one inline SVG timeline per control, no script, no network. Pure: same report, same
//! text. Its Content-Security-Policy forbids every fetch and script, so opening it contacts
//! nothing.
//!
//! Stable hooks for tests and for anyone who post-processes the file:
//! - `section.control` per control, `id="control-<kind>-<name>-<control id>"`, with
//!   `data-resource` and `data-control`;
//! - in it `svg.timeline` whose `rect.span` carry `class="span span-<state>"` (`span-pass`,
//!   `span-fail`, `span-exempt`, `span-notapplicable`, `span-notevaluated`, `span-gap`,
//!   `span-absent`), `data-state`, `data-start` and `data-end`;
//! - `tr.failure` per failure interval; `tr.exemption` per exemption; `#chain` for the
//!   verification summary; `#recording-gaps`.

use super::markdown::{duration, ended_by};
use super::report::{ControlReport, PeriodReport, PeriodState};
use std::fmt::Write;

/// Width of the SVG's coordinate system (the drawing scales to the page).
const WIDTH: f64 = 1000.0;

pub fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// An id fragment: lowercase letters, digits and `-` only.
fn id_part(text: &str) -> String {
    text.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() {
                c.to_ascii_lowercase()
            } else {
                '-'
            }
        })
        .collect()
}

fn class(state: PeriodState) -> String {
    format!("span-{}", state.as_str().to_ascii_lowercase())
}

const STYLE: &str = r#"
body{font-family:system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;margin:2rem auto;max-width:1100px;padding:0 1rem;color:#1d2330}
h1{font-size:1.6rem}h2{font-size:1.2rem;margin-top:2.2rem;border-bottom:1px solid #d7dbe3;padding-bottom:.3rem}
table{border-collapse:collapse;margin:.6rem 0;width:100%;font-size:.9rem}
th,td{border:1px solid #d7dbe3;padding:.3rem .5rem;text-align:left;vertical-align:top}
th{background:#f3f5f8}
.meta{color:#4a5263;font-size:.9rem}
.verified{color:#106b2c;font-weight:600}.unverified{color:#b00020;font-weight:700}
svg.timeline{width:100%;height:28px;display:block;border:1px solid #c4c9d4;background:#fff}
.axis{display:flex;justify-content:space-between;font-size:.75rem;color:#4a5263}
.span-pass{fill:#2e9d4f}.span-fail{fill:#d32f2f}.span-exempt{fill:#f2b705}
.span-notapplicable{fill:#9aa3b2}.span-notevaluated{fill:#7b1fa2}
.span-gap{fill:url(#gap-hatch)}.span-absent{fill:#eceff3}
.legend span{display:inline-block;margin-right:1rem;font-size:.85rem}
.legend i{display:inline-block;width:.9rem;height:.9rem;margin-right:.3rem;vertical-align:-2px;border:1px solid #888}
.frameworks{font-size:.85rem;color:#4a5263}
td.num{text-align:right;font-variant-numeric:tabular-nums}
"#;

const LEGEND_COLOURS: [(PeriodState, &str); 7] = [
    (PeriodState::Pass, "#2e9d4f"),
    (PeriodState::Fail, "#d32f2f"),
    (PeriodState::Exempt, "#f2b705"),
    (PeriodState::NotApplicable, "#9aa3b2"),
    (PeriodState::NotEvaluated, "#7b1fa2"),
    (
        PeriodState::Gap,
        "repeating-linear-gradient(45deg,#555 0 2px,#fff 2px 5px)",
    ),
    (PeriodState::Absent, "#eceff3"),
];

pub fn render_html(report: &PeriodReport) -> String {
    let mut h = String::new();
    let _ = write!(
        h,
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\
         <meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none'; style-src 'unsafe-inline'\">\
         <title>Control operation {} to {}</title><style>{STYLE}</style></head><body>\n",
        report.from, report.to
    );
    // The hatching every timeline's gaps use, defined once.
    let _ = writeln!(
        h,
        "<svg width=\"0\" height=\"0\" style=\"position:absolute\" aria-hidden=\"true\"><defs>\
         <pattern id=\"gap-hatch\" width=\"6\" height=\"6\" patternUnits=\"userSpaceOnUse\" \
         patternTransform=\"rotate(45)\"><rect width=\"6\" height=\"6\" fill=\"#fff\"/>\
         <rect width=\"2\" height=\"6\" fill=\"#555\"/></pattern></defs></svg>"
    );
    let _ = writeln!(h, "<h1>Control operation over a period</h1>");
    let _ = writeln!(
        h,
        "<p class=\"meta\" id=\"period\">Period: <b>{}</b> to <b>{}</b> (UTC). Checkpoint interval {}; \
         an evaluation counts for at most {} without a newer one, after which the time is a \
         <b>gap</b>, never a pass.</p>",
        report.from,
        report.to,
        duration(report.checkpoint_interval_seconds),
        duration(report.max_silence_seconds)
    );
    match &report.chain {
        Some(chain) => {
            let _ = writeln!(
                h,
                "<p class=\"meta\" id=\"chain\"><span class=\"verified\">Chain and signatures verified</span>: \
                 {} entries in {} segments from {}; trusted keys {}; verified through entry {} <code>{}</code>.</p>",
                chain.entries,
                chain.segments,
                escape(&chain.source),
                escape(&chain.trusted_key_ids.join(", ")),
                chain.head_seq.map(|s| s.to_string()).unwrap_or("-".into()),
                escape(chain.head_hash.as_deref().unwrap_or("-")),
            );
        }
        None => {
            let _ = writeln!(
                h,
                "<p class=\"meta\" id=\"chain\"><span class=\"unverified\">Not verified</span></p>"
            );
        }
    }
    let _ = writeln!(h, "<div id=\"recording-gaps\">");
    if report.recording_gaps.is_empty() {
        let _ = writeln!(
            h,
            "<p class=\"meta\">The operator recorded throughout the period.</p>"
        );
    } else {
        let _ = writeln!(
            h,
            "<p class=\"meta\">The operator recorded nothing during:</p><ul>"
        );
        for gap in &report.recording_gaps {
            let _ = writeln!(
                h,
                "<li class=\"recording-gap\">{} to {} ({})</li>",
                gap.start,
                gap.end,
                duration(gap.seconds)
            );
        }
        let _ = writeln!(h, "</ul>");
    }
    let _ = writeln!(h, "</div>");
    let _ = write!(h, "<p class=\"legend\">");
    for (state, colour) in LEGEND_COLOURS {
        let _ = write!(
            h,
            "<span><i style=\"background:{colour}\"></i>{}</span>",
            state.as_str()
        );
    }
    let _ = writeln!(h, "</p>");
    summary(&mut h, report);
    for control in &report.controls {
        section(&mut h, report, control);
    }
    let _ = writeln!(h, "</body></html>");
    h
}

fn summary(h: &mut String, report: &PeriodReport) {
    let _ = writeln!(h, "<h2>Summary</h2>");
    if report.controls.is_empty() {
        let _ = writeln!(h, "<p>The log records no control.</p>");
        return;
    }
    let _ = write!(
        h,
        "<table id=\"summary\"><tr><th>Resource</th><th>Control</th>"
    );
    for state in PeriodState::ALL {
        let _ = write!(h, "<th>{}</th>", state.as_str());
    }
    let _ = writeln!(h, "<th>Failures</th></tr>");
    for control in &report.controls {
        let _ = write!(
            h,
            "<tr><td>{}</td><td><a href=\"#{}\">{}</a></td>",
            escape(&control.resource.to_string()),
            section_id(control),
            control.control
        );
        for state in PeriodState::ALL {
            let _ = write!(
                h,
                "<td class=\"num\">{:.1}%</td>",
                control.shares.get(state).percent
            );
        }
        let _ = writeln!(h, "<td class=\"num\">{}</td></tr>", control.failures.len());
    }
    let _ = writeln!(h, "</table>");
}

fn section_id(control: &ControlReport) -> String {
    format!(
        "control-{}-{}-{}",
        id_part(&control.resource.kind),
        id_part(&control.resource.name),
        control.control
    )
}

fn section(h: &mut String, report: &PeriodReport, control: &ControlReport) {
    let _ = writeln!(
        h,
        "<section class=\"control\" id=\"{}\" data-resource=\"{}\" data-control=\"{}\">",
        section_id(control),
        escape(&control.resource.to_string()),
        control.control
    );
    let _ = writeln!(
        h,
        "<h2>{} &middot; {} <small>({})</small></h2>",
        escape(&control.resource.to_string()),
        control.control,
        escape(&control.title)
    );
    let _ = writeln!(
        h,
        "<p class=\"frameworks\">Proves: {}</p>",
        escape(&control.frameworks.join("; "))
    );
    timeline(h, report, control);
    if control.failures.is_empty() {
        let _ = writeln!(h, "<p>No failure in the period.</p>");
    } else {
        let _ = writeln!(
            h,
            "<table class=\"failures\"><tr><th>Failing from</th><th>to</th><th>Duration</th>\
             <th>Objects</th><th>Ended by</th><th>Findings</th></tr>"
        );
        for failure in &control.failures {
            let ended = escape(&ended_by(failure));
            let findings: String = failure
                .findings
                .iter()
                .map(|f| {
                    let object = match &f.namespace {
                        Some(ns) => format!("{} {}/{}", f.kind, ns, f.name),
                        None => format!("{} {}", f.kind, f.name),
                    };
                    format!("<li>{}: {}</li>", escape(&object), escape(&f.message))
                })
                .collect();
            let _ = writeln!(
                h,
                "<tr class=\"failure\"><td>{}{}</td><td>{}</td><td>{}</td><td class=\"num\">{}</td>\
                 <td>{}</td><td><ul>{}</ul></td></tr>",
                if failure.started_before_period {
                    "(before the period) "
                } else {
                    ""
                },
                failure.start,
                failure.end,
                duration(failure.seconds),
                failure.failed_objects,
                ended,
                findings
            );
        }
        let _ = writeln!(h, "</table>");
    }
    if !control.exemptions.is_empty() {
        let _ = writeln!(
            h,
            "<table class=\"exemptions\"><tr><th>Exemption approved by</th><th>Ticket</th>\
             <th>Reason</th><th>Expires</th><th>Recorded in force</th></tr>"
        );
        for e in &control.exemptions {
            let _ = writeln!(
                h,
                "<tr class=\"exemption\"><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{} to {}</td></tr>",
                escape(&e.exemption.approved_by),
                escape(e.exemption.ticket.as_deref().unwrap_or("-")),
                escape(&e.exemption.reason),
                escape(&e.exemption.expires),
                e.from,
                e.to
            );
        }
        let _ = writeln!(h, "</table>");
    }
    let _ = writeln!(h, "</section>");
}

fn timeline(h: &mut String, report: &PeriodReport, control: &ControlReport) {
    let total = report.to.duration_since(report.from).as_secs_f64().max(1.0);
    let x = |t: jiff::Timestamp| t.duration_since(report.from).as_secs_f64() / total * WIDTH;
    let _ = writeln!(
        h,
        "<svg class=\"timeline\" viewBox=\"0 0 {WIDTH} 28\" preserveAspectRatio=\"none\" \
         role=\"img\" aria-label=\"timeline of {} {}\">",
        escape(&control.resource.to_string()),
        control.control
    );
    for span in &control.timeline {
        let start = x(span.start);
        // A failure of a few minutes in a year is still drawn (at least half a unit wide).
        let width = (x(span.end) - start).max(0.5);
        let _ = writeln!(
            h,
            "<rect class=\"span {}\" data-state=\"{}\" data-start=\"{}\" data-end=\"{}\" \
             x=\"{start:.3}\" y=\"0\" width=\"{width:.3}\" height=\"28\"><title>{}: {} to {} ({})</title></rect>",
            class(span.state),
            span.state.as_str(),
            span.start,
            span.end,
            span.state.as_str(),
            span.start,
            span.end,
            duration(span.seconds)
        );
    }
    let _ = writeln!(h, "</svg>");
    let _ = writeln!(
        h,
        "<div class=\"axis\"><span>{}</span><span>{}</span></div>",
        report.from, report.to
    );
}
