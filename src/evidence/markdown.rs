//! evidence.md, the auditor-readable report. Pure: same bundle, same text.

use super::*;

fn cell(text: &str) -> String {
    text.replace('|', "\\|").replace(['\n', '\r'], " ")
}

fn state(state: ControlState) -> &'static str {
    match state {
        ControlState::Pass => "Pass",
        ControlState::Fail => "**Fail**",
        ControlState::Exempt => "Exempt",
        ControlState::NotApplicable => "Not applicable",
        ControlState::NotEvaluated => "**Not evaluated**",
    }
}

/// The auditor-readable report. Pure: same bundle, same text.
pub fn render_markdown(bundle: &Bundle) -> String {
    let mut md = String::new();
    let mut line = |s: String| {
        md.push_str(&s);
        md.push('\n');
    };
    line("# Compliance evidence".into());
    line(String::new());
    line(format!(
        "- Cluster: kube-system namespace uid `{}`, Kubernetes {}{}",
        bundle.cluster.kube_system_uid,
        bundle.cluster.server_version,
        if bundle.cluster.platform.is_empty() {
            String::new()
        } else {
            format!(" ({})", bundle.cluster.platform)
        }
    ));
    line(format!("- Collected: {}", bundle.generated_at));
    line(format!(
        "- Collected by: baseline-operator {}",
        bundle.operator_version
    ));
    line("- Integrity: `SHA256SUMS` in this directory (`sha256sum -c SHA256SUMS`)".into());
    line(format!(
        "- OSCAL {}: `{}` (this evidence as Assessment Results), `{}` (the plan it imports), `{}` (the controls and the references they prove)",
        super::oscal::OSCAL_VERSION,
        super::oscal::RESULTS_FILE,
        super::oscal::PLAN_FILE,
        super::oscal::COMPONENTS_FILE
    ));
    for history in &bundle.history {
        line(format!(
            "- Evidence history: {} (published by ConfigMap {}), verified with ed25519 public key `{}` (`baseline-operator evidence verify --public-key`)",
            history.location, history.published_by, history.public_key
        ));
    }
    line(String::new());

    line("## Summary".into());
    line(String::new());
    if bundle.resources.is_empty() {
        line(
            "No SecurityBaseline, BackupPolicy or EnvironmentIsolation exists in this cluster."
                .into(),
        );
    } else {
        line("| Resource | Mode | Compliant | Score | Passing | Failing | Exempt | Failing controls |".into());
        line("|---|---|---|---|---|---|---|---|".into());
        for r in &bundle.resources {
            let s = r.summary.clone().unwrap_or_default();
            let reconciled = r.summary.is_some();
            line(format!(
                "| {}/{} | {:?} | {} | {} | {} | {} | {} | {} |",
                r.kind,
                cell(&r.name),
                r.mode,
                if r.compliant.is_empty() {
                    "not reconciled"
                } else {
                    &r.compliant
                },
                if reconciled {
                    s.score.to_string()
                } else {
                    "-".into()
                },
                s.passing,
                s.failing,
                s.exempt,
                cell(&s.failing_controls),
            ));
        }
    }
    line(String::new());

    line("## Evidence by framework".into());
    line(String::new());
    line(format!(
        "References from the control catalog of baseline-operator {}. One row per control per resource; \"no resource\": no resource of the control's kind exists, or none has been reconciled yet (not the NotEvaluated state).",
        bundle.operator_version
    ));
    line(String::new());
    // A status written by an operator with another catalog cites other references; say so
    // instead of silently regrouping it.
    for r in &bundle.resources {
        for c in &r.controls {
            if c.frameworks != c.id.framework_refs() {
                line(format!(
                    "- Note: the status of {}/{} lists other references for `{}` than this catalog (written by another operator version): {}",
                    r.kind,
                    cell(&r.name),
                    c.id,
                    cell(&c.frameworks.join(", "))
                ));
                line(String::new());
            }
        }
    }
    if bundle.frameworks.is_empty() {
        line("No framework selected.".into());
        line(String::new());
    }
    for section in &bundle.frameworks {
        line(format!("### {}", section.name));
        line(String::new());
        line(format!("{}.", section.framework.scope()));
        line(String::new());
        line(
            "| Reference | Title | Control | Resource | State | Checked | Failed | Exempted |"
                .into(),
        );
        line("|---|---|---|---|---|---|---|---|".into());
        for reference in &section.references {
            for proof in &reference.controls {
                let lead = format!(
                    "| {} | {} | `{}` |",
                    cell(&reference.id),
                    cell(&reference.title),
                    proof.control
                );
                if proof.results.is_empty() {
                    line(format!("{lead} - | no resource | - | - | - |"));
                }
                for o in &proof.results {
                    let shown = match (o.state, o.note.is_empty()) {
                        (ControlState::NotApplicable, false) => {
                            format!("{}: {}", state(o.state), cell(&o.note))
                        }
                        _ => state(o.state).to_string(),
                    };
                    line(format!(
                        "{lead} {}/{} | {} | {} | {} | {} |",
                        o.kind,
                        cell(&o.name),
                        shown,
                        o.checked,
                        o.failed,
                        o.exempted
                    ));
                }
            }
        }
        line(String::new());
    }

    line("## What an empty scope means".into());
    line(String::new());
    line("Nothing checked is never a Pass. Per control, as the catalog of this operator states it: the spec field that turns it on (without it: Not applicable), what it counts, and what it reports when it is configured but judged no object.".into());
    line(String::new());
    line(crate::catalog::empty_scope_table());

    line("## Scope".into());
    line(String::new());
    line("Which namespaces each resource's figures cover, which its selectors pick but were left out, and which are exempted as a whole.".into());
    line(String::new());
    for r in &bundle.resources {
        let Some(scope) = &r.scope else {
            line(format!(
                "- {}/{}: not reconciled yet",
                r.kind,
                cell(&r.name)
            ));
            continue;
        };
        let mut names = scope.namespace_names.join(", ");
        let listed = i32::try_from(scope.namespace_names.len()).unwrap_or(i32::MAX);
        if listed < scope.namespaces {
            names.push_str(&format!(" (first {listed} of {})", scope.namespaces));
        }
        line(format!(
            "- {}/{}: {} namespace(s) in scope{}, evaluated {}",
            r.kind,
            cell(&r.name),
            scope.namespaces,
            if names.is_empty() {
                String::new()
            } else {
                format!(": {}", cell(&names))
            },
            scope
                .evaluated_at
                .as_ref()
                .map(|t| t.0.to_string())
                .unwrap_or_else(|| "-".into())
        ));
        for e in &scope.excluded {
            line(format!(
                "  - excluded `{}`: {}",
                cell(&e.name),
                cell(&e.reason)
            ));
        }
        for e in &scope.exempted_namespaces {
            let controls: Vec<String> = e.controls.iter().map(|c| format!("`{c}`")).collect();
            line(format!(
                "  - exempted `{}` from {} (approved by {}, expires {})",
                cell(&e.name),
                controls.join(", "),
                cell(&e.approved_by),
                cell(&e.expires)
            ));
        }
    }
    line(String::new());

    line("## Objects behind the figures".into());
    line(String::new());
    line("Every failed and every exempted object per control, so each figure above can be traced without cluster access.".into());
    line(String::new());
    let mut any = false;
    for r in &bundle.resources {
        for o in &r.objects {
            if !any {
                line("| Resource | Control | Result | Object | Findings |".into());
                line("|---|---|---|---|---|".into());
                any = true;
            }
            for (result, objects) in [("failed", &o.failing), ("exempted", &o.exempted)] {
                for object in objects {
                    let ns = object
                        .namespace
                        .as_deref()
                        .map(|n| format!("{n}/"))
                        .unwrap_or_default();
                    line(format!(
                        "| {}/{} | `{}` | {result} | {} {}{} | {} |",
                        r.kind,
                        cell(&r.name),
                        o.control,
                        object.kind,
                        cell(&ns),
                        cell(&object.name),
                        cell(&object.findings.join("; "))
                    ));
                }
            }
        }
    }
    if !any {
        line("None.".into());
    }
    line(String::new());
    for r in &bundle.resources {
        for o in r.objects.iter().filter(|o| !o.complete) {
            line(format!(
                "- Note on {}/{} `{}`: {}",
                r.kind,
                cell(&r.name),
                o.control,
                cell(o.note.as_deref().unwrap_or_default())
            ));
        }
    }
    line(String::new());

    line("## Exemptions".into());
    line(String::new());
    let exemptions: Vec<_> = bundle
        .resources
        .iter()
        .flat_map(|r| r.exemptions.iter().map(move |e| (r, e)))
        .collect();
    if exemptions.is_empty() {
        line("None.".into());
    } else {
        line("| Resource | Controls | Scope | Reason | Approved by | Expires | Ticket |".into());
        line("|---|---|---|---|---|---|---|".into());
        for (r, e) in exemptions {
            let controls: Vec<String> = e.controls.iter().map(|c| format!("`{c}`")).collect();
            let mut scope = Vec::new();
            if !e.namespaces.is_empty() {
                scope.push(format!("namespaces {}", e.namespaces.join(", ")));
            }
            if let Some(selector) = &e.selector {
                scope.push(format!(
                    "selector {}",
                    serde_json::to_string(selector).unwrap_or_default()
                ));
            }
            if scope.is_empty() {
                scope.push("every selected namespace".into());
            }
            line(format!(
                "| {}/{} | {} | {} | {} | {} | {} | {} |",
                r.kind,
                cell(&r.name),
                controls.join(", "),
                cell(&scope.join("; ")),
                cell(&e.reason),
                cell(&e.approved_by),
                cell(&e.expires),
                cell(e.ticket.as_deref().unwrap_or("-")),
            ));
        }
    }
    line(String::new());

    line("## Policy reports".into());
    line(String::new());
    let pr = &bundle.policy_reports;
    if let Some(note) = &pr.note {
        line(format!("{note}."));
    } else if pr.reports.is_empty() {
        line("The operator has written no PolicyReport (`wgpolicyk8s.io/v1alpha2`).".into());
    } else {
        line("Every finding is in `evidence.json` (`policyReports.reports[].results`).".into());
        line(String::new());
        line("| Namespace | Report | Pass | Fail | Skip |".into());
        line("|---|---|---|---|---|".into());
        for r in &pr.reports {
            let n = |k: &str| r.summary.get(k).and_then(Value::as_i64).unwrap_or(0);
            let namespace = if r.namespace.is_empty() {
                "(cluster-scoped)"
            } else {
                &r.namespace
            };
            line(format!(
                "| {} | {} | {} | {} | {} |",
                cell(namespace),
                cell(&r.name),
                n("pass"),
                n("fail"),
                n("skip")
            ));
        }
    }
    md
}
