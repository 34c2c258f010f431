//! The plain-text table `audit` prints by default.

use super::*;

/// A plain-text table: one row per control.
pub fn render_table(report: &AuditReport) -> String {
    let mut rows = vec![[
        "CR".to_string(),
        "CONTROL".into(),
        "STATE".into(),
        "ISO27001:2022".into(),
        "SOC2".into(),
        "FAILED".into(),
        "EXEMPTED".into(),
        "FIRST FINDING".into(),
    ]];
    for r in &report.resources {
        for c in &r.controls {
            let first = c
                .findings
                .first()
                .map(|f| {
                    let ns = f
                        .namespace
                        .as_deref()
                        .map(|n| format!("{n}/"))
                        .unwrap_or_default();
                    format!("{} {ns}{}: {}", f.kind, f.name, f.message)
                })
                .unwrap_or_default();
            rows.push([
                format!("{}/{}", r.kind, r.name),
                c.id.as_str().into(),
                format!("{:?}", c.state),
                references(c.id, Framework::Iso27001v2022),
                references(c.id, Framework::Soc2),
                c.failed.to_string(),
                c.exempted.to_string(),
                first,
            ]);
        }
    }
    let mut widths = [0usize; 7];
    for row in &rows {
        for (w, cell) in widths.iter_mut().zip(row.iter()) {
            *w = (*w).max(cell.chars().count());
        }
    }
    let mut out = String::new();
    for row in &rows {
        for (i, cell) in row.iter().enumerate() {
            if i < widths.len() {
                out.push_str(&format!("{cell:<w$}  ", w = widths[i]));
            } else {
                out.push_str(cell);
            }
        }
        out.push('\n');
    }
    let notes: Vec<String> = report
        .resources
        .iter()
        .flat_map(|r| {
            r.controls
                .iter()
                .filter(|c| !c.note.is_empty())
                .map(move |c| format!("  {}/{} {}: {}\n", r.kind, r.name, c.id, c.note))
        })
        .collect();
    if !notes.is_empty() {
        out.push_str("\nnotes:\n");
        out.extend(notes);
    }
    let kinds: Vec<String> = report
        .skipped
        .kinds
        .iter()
        .map(|(kind, n)| format!("{kind} x{n}"))
        .collect();
    out.push_str(&format!(
        "\nskipped: {} object(s) of kinds no control reads{}\n",
        report.skipped.unknown_kinds,
        if kinds.is_empty() {
            String::new()
        } else {
            format!(": {}", kinds.join(", "))
        }
    ));
    out.push_str(&format!(
        "secrets: {} compared by keyed digest (values never printed)\n",
        report.secrets
    ));
    out
}

/// A control's reference ids in one framework, for a table cell (`8.20,8.21`).
fn references(id: ControlId, framework: Framework) -> String {
    id.references(framework)
        .map(|r| r.id)
        .collect::<Vec<_>>()
        .join(",")
}
