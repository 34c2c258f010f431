//! The OSCAL Assessment Results document of an [`Assessment`].
//!
//! Shape: one `result` per resource (`props`: cluster, kind, name), whose `reviewed-controls`
//! name the ISO/IEC 27001:2022 and SOC 2 controls its kind's controls prove and select our
//! controls as the objectives; per control evaluation an `observation` (method `TEST`,
//! `collected`, the state and counts as props, a link to the back-matter resource of the
//! history entry that recorded it); per control a `finding` targeting the control's objective
//! with `satisfied` / `not-satisfied` and the reason, the period's spans as `interval` props
//! (`<start>/<end>`, class = the state), and the exemptions in force as `risks` (status
//! `deviation-approved`, props approved-by, ticket, expires, deadline = expiry).

use super::*;
use std::collections::BTreeMap;

/// The Assessment Results document, generated at `generated` (`metadata.last-modified`, the
/// only field that is not a function of `assessment`).
pub fn assessment_results(assessment: &Assessment, generated: Timestamp) -> Value {
    let mut back_matter: BTreeMap<String, Value> = BTreeMap::new();
    let mut results: Vec<Value> = assessment
        .resources
        .iter()
        .map(|resource| result(assessment, resource, &mut back_matter))
        .collect();
    if results.is_empty() {
        // OSCAL needs one result; with no resource, say that nothing was assessed.
        results.push(empty_result(assessment));
    }
    document(
        &assessment.scope,
        &assessment.title,
        &assessment.props,
        generated,
        results,
        back_matter,
    )
}

/// The Assessment Results document around `results`: its identity (from `scope`), metadata
/// with the document's `props`, the plan it imports, and the history entries its observations
/// cite. Shared by one history's and a fleet's results.
pub(super) fn document(
    scope: &str,
    title: &str,
    props: &[(&'static str, String)],
    generated: Timestamp,
    results: Vec<Value>,
    back_matter: BTreeMap<String, Value>,
) -> Value {
    let props: Vec<Value> = props
        .iter()
        .filter_map(|(name, value)| prop(name, value))
        .collect();
    let mut document = json!({
        "uuid": uuid_of(&format!("assessment-results/{scope}")),
        "metadata": metadata(title, generated, props),
        "import-ap": {"href": PLAN_FILE},
        "results": results,
    });
    if !back_matter.is_empty() {
        document["back-matter"] =
            json!({"resources": back_matter.into_values().collect::<Vec<_>>()});
    }
    json!({"assessment-results": document})
}

fn result_name(assessment: &Assessment, resource: &ResourceAssessment) -> String {
    format!(
        "result/{}/{}/{}/{}",
        resource.cluster.as_deref().unwrap_or(""),
        resource.resource.kind,
        resource.resource.name,
        assessment.scope
    )
}

fn result(
    assessment: &Assessment,
    resource: &ResourceAssessment,
    back_matter: &mut BTreeMap<String, Value>,
) -> Value {
    let name = result_name(assessment, resource);
    let controls: Vec<ControlId> = resource.controls.iter().map(|c| c.control).collect();
    let parts = parts(&name, resource, back_matter);
    let mut props = vec![
        resource.cluster.as_deref().and_then(|c| prop("cluster", c)),
        prop("resource-kind", &resource.resource.kind),
        prop("resource-name", &resource.resource.name),
    ];
    props.retain(Option::is_some);
    let mut result = json!({
        "uuid": uuid_of(&name),
        "title": format!("{} {}", resource.resource.kind, resource.resource.name),
        "description": format!(
            "The controls of {} {}{}, as baseline-operator evaluated them{}.",
            resource.resource.kind,
            resource.resource.name,
            resource.cluster.as_deref().map(|c| format!(" in cluster {c}")).unwrap_or_default(),
            span_text(assessment),
        ),
        "start": date_time(assessment.start),
        "props": props.into_iter().flatten().collect::<Vec<_>>(),
        "reviewed-controls": reviewed_controls(&controls),
    });
    if let Some(end) = assessment.end {
        result["end"] = json!(date_time(end));
    }
    insert_list(&mut result, "observations", parts.observations);
    insert_list(&mut result, "risks", parts.risks.into_values().collect());
    insert_list(&mut result, "findings", parts.findings);
    result
}

/// What one resource adds to a result: an observation per evaluation, a finding per control,
/// a risk per exemption in force (by UUID: an exemption waiving several controls is one risk).
pub(super) struct Parts {
    pub observations: Vec<Value>,
    pub risks: BTreeMap<String, Value>,
    pub findings: Vec<Value>,
}

/// The parts of `resource`, their UUIDs named under `name`; the history entries the
/// observations cite go into `back_matter`.
pub(super) fn parts(
    name: &str,
    resource: &ResourceAssessment,
    back_matter: &mut BTreeMap<String, Value>,
) -> Parts {
    let mut observations = Vec::new();
    let mut risks: BTreeMap<String, Value> = BTreeMap::new();
    let mut findings = Vec::new();
    for control in &resource.controls {
        let mut related = Vec::new();
        for evaluation in &control.evaluations {
            let observation = observation(name, resource, control.control, evaluation);
            related.push(json!({"observation-uuid": observation["uuid"].clone()}));
            observations.push(observation);
            if let Some(entry) = &evaluation.entry {
                back_matter
                    .entry(entry.hash.clone())
                    .or_insert_with(|| entry_resource(entry));
            }
        }
        let mut related_risks = Vec::new();
        for record in &control.exemptions {
            let risk = risk(name, record);
            related_risks.push(json!({"risk-uuid": risk["uuid"].clone()}));
            // An exemption waiving several controls is one risk, related to each finding.
            let key = risk["uuid"].as_str().unwrap_or_default().to_string();
            risks.entry(key).or_insert(risk);
        }
        findings.push(finding(name, resource, control, related, related_risks));
    }
    Parts {
        observations,
        risks,
        findings,
    }
}

fn span_text(assessment: &Assessment) -> String {
    match assessment.end {
        Some(end) => format!(
            " from {} to {}",
            date_time(assessment.start),
            date_time(end)
        ),
        None => format!(" at {}", date_time(assessment.start)),
    }
}

fn empty_result(assessment: &Assessment) -> Value {
    let mut result = json!({
        "uuid": uuid_of(&format!("result/none/{}", assessment.scope)),
        "title": "No resource assessed",
        "description": format!(
            "No SecurityBaseline, BackupPolicy or EnvironmentIsolation was evaluated{}: nothing is proven.",
            span_text(assessment)
        ),
        "start": date_time(assessment.start),
        "reviewed-controls": reviewed_controls(ControlId::ALL),
    });
    if let Some(end) = assessment.end {
        result["end"] = json!(date_time(end));
    }
    result
}

/// The ISO/IEC 27001:2022 and SOC 2 controls `controls` prove, and our controls as the
/// objectives the findings target.
pub(super) fn reviewed_controls(controls: &[ControlId]) -> Value {
    let refs = references(controls.iter());
    json!({
        "description": "The ISO/IEC 27001:2022 Annex A controls and SOC 2 Trust Services Criteria the \
            resource's baseline-operator controls prove (component-definition.json maps each \
            control to them); the objectives are the baseline-operator controls themselves.",
        "control-selections": [{
            "include-controls": refs
                .iter()
                .map(|r| json!({"control-id": control_id(r)}))
                .collect::<Vec<_>>(),
        }],
        "control-objective-selections": [{
            "include-objectives": controls
                .iter()
                .map(|c| json!({"objective-id": c.as_str()}))
                .collect::<Vec<_>>(),
        }],
    })
}

fn observation(
    result: &str,
    resource: &ResourceAssessment,
    control: ControlId,
    evaluation: &Evaluation,
) -> Value {
    let name = match &evaluation.entry {
        Some(entry) => format!("observation/{result}/{}", entry.hash),
        None => format!(
            "observation/{result}/{control}/{}",
            date_time(evaluation.collected)
        ),
    };
    let state = state_token(period_state(evaluation.state));
    let mut props: Vec<Value> = [
        prop("control", control.as_str()),
        prop("state", state),
        prop("checked", &evaluation.checked.to_string()),
        prop("failed", &evaluation.failed.to_string()),
        prop("exempted", &evaluation.exempted.to_string()),
    ]
    .into_iter()
    .flatten()
    .collect();
    if let Some(entry) = &evaluation.entry {
        props.extend(prop("history-entry-seq", &entry.seq.to_string()));
        props.extend(prop("history-entry-hash", &entry.hash));
    }
    let failing: Vec<String> = evaluation
        .findings
        .iter()
        .map(|f| {
            let object = match &f.namespace {
                Some(ns) => format!("{} {ns}/{}", f.kind, f.name),
                None => format!("{} {}", f.kind, f.name),
            };
            format!("- {object}: {}", f.message)
        })
        .collect();
    let mut description = format!(
        "{} of {} {}: {} ({} objects checked, {} failed, {} exempted), read from {}.",
        control,
        resource.resource.kind,
        resource.resource.name,
        state,
        evaluation.checked,
        evaluation.failed,
        evaluation.exempted,
        evaluation.source
    );
    if !failing.is_empty() {
        description.push_str("\n\nFailing objects (sample):\n\n");
        description.push_str(&failing.join("\n"));
    }
    let mut observation = json!({
        "uuid": uuid_of(&name),
        "title": format!("{control}: {state}"),
        "description": description,
        "props": props,
        "methods": ["TEST"],
        "types": ["finding"],
        "collected": date_time(evaluation.collected),
    });
    if let Some(entry) = &evaluation.entry {
        let href = format!("#{}", entry_uuid(entry));
        observation["links"] = json!([{"href": href, "rel": "evidence"}]);
        observation["relevant-evidence"] = json!([{
            "href": href,
            "description": format!(
                "Evidence history entry {} (SHA-256 {}), signed by key {}: `baseline-operator evidence verify` checks it.",
                entry.seq, entry.hash, entry.key_id
            ),
        }]);
    }
    observation
}

fn entry_uuid(entry: &EntryRef) -> String {
    uuid_of(&format!("history-entry/{}", entry.hash))
}

/// The back-matter resource standing for one history entry: its place in the chain, its
/// digest and the key that signed it.
fn entry_resource(entry: &EntryRef) -> Value {
    let props: Vec<Value> = [
        prop("history-entry-seq", &entry.seq.to_string()),
        prop("history-entry-hash", &entry.hash),
        prop("key-id", &entry.key_id),
    ]
    .into_iter()
    .flatten()
    .collect();
    json!({
        "uuid": entry_uuid(entry),
        "title": format!("Evidence history entry {}", entry.seq),
        "description": "An entry of baseline-operator's hash-chained, signed evidence history: \
            `hash` is the SHA-256 of the canonical JSON of {seq, prev, record}, signed with ed25519.",
        "props": props,
        "document-ids": [{"scheme": NS, "identifier": format!("sha256:{}", entry.hash)}],
    })
}

fn risk(result: &str, record: &ExemptionRecord) -> Value {
    let exemption = &record.exemption;
    let key = crate::history::entry::canonical_json(
        &serde_json::to_value(exemption).expect("exemptions serialize"),
    );
    let controls: Vec<&str> = exemption.controls.iter().map(|c| c.as_str()).collect();
    let covers = match (&exemption.namespaces[..], &exemption.selector) {
        ([], None) => "every namespace the resource selects".to_string(),
        (namespaces, selector) => {
            let mut parts = Vec::new();
            if !namespaces.is_empty() {
                parts.push(format!("namespaces {}", namespaces.join(", ")));
            }
            if let Some(selector) = selector {
                parts.push(format!("objects matching {selector}"));
            }
            parts.join(" and ")
        }
    };
    let mut props: Vec<Value> = [
        prop("approved-by", &exemption.approved_by),
        exemption.ticket.as_deref().and_then(|t| prop("ticket", t)),
        prop("expires", &exemption.expires),
    ]
    .into_iter()
    .flatten()
    .collect();
    props.extend(controls.iter().filter_map(|c| prop("control", c)));
    if let Some((from, to)) = record.in_force {
        props.extend(prop(
            "in-force",
            &format!("{}/{}", date_time(from), date_time(to)),
        ));
    }
    let mut risk = json!({
        "uuid": uuid_of(&format!("risk/{result}/{key}")),
        "title": format!("Exemption from {}", controls.join(", ")),
        "description": exemption.reason,
        "statement": format!(
            "The risk is accepted for {covers}: approved by {}{}, until {}.",
            exemption.approved_by,
            exemption.ticket.as_deref().map(|t| format!(" (ticket {t})")).unwrap_or_default(),
            exemption.expires
        ),
        "props": props,
        "status": "deviation-approved",
    });
    if let Some(deadline) = expiry(&exemption.expires) {
        risk["deadline"] = json!(date_time(deadline));
    }
    risk
}

/// When an exemption stops waiving: an instant, or the end of its `YYYY-MM-DD` day (UTC).
fn expiry(expires: &str) -> Option<Timestamp> {
    let exemption = crate::api::Exemption {
        controls: Vec::new(),
        namespaces: Vec::new(),
        selector: None,
        reason: String::new(),
        approved_by: String::new(),
        ticket: None,
        expires: expires.to_string(),
    };
    crate::vocabulary::exemptions::expiry(&exemption)
}

fn finding(
    result: &str,
    resource: &ResourceAssessment,
    control: &ControlAssessment,
    related_observations: Vec<Value>,
    related_risks: Vec<Value>,
) -> Value {
    let id = control.control;
    let refs = references([id].iter());
    let mut props: Vec<Value> = vec![];
    props.extend(prop("control", id.as_str()));
    props.extend(
        refs.iter()
            .filter_map(|r| prop("reference", &control_id(r))),
    );
    for span in &control.timeline {
        props.extend(prop_class(
            "interval",
            state_token(span.state),
            &format!("{}/{}", date_time(span.start), date_time(span.end)),
        ));
    }
    let verdict = control.verdict;
    let mut status = json!({"state": verdict.state(), "reason": verdict.reason});
    if !control.remarks.is_empty() {
        status["remarks"] = json!(control.remarks);
    }
    let mut finding = json!({
        "uuid": uuid_of(&format!("finding/{result}/{id}")),
        "title": format!("{id}: {}", id.title()),
        "description": format!(
            "{} {} {}: {} ({}). Proves {}.",
            resource.resource.kind,
            resource.resource.name,
            id,
            verdict.state(),
            verdict.reason,
            id.framework_refs().join("; ")
        ),
        "props": props,
        "target": {
            "type": "objective-id",
            "target-id": id.as_str(),
            "status": status,
        },
    });
    if verdict.reason == "not-applicable" {
        finding["target"]["implementation-status"] = json!({"state": "not-applicable"});
    }
    insert_list(&mut finding, "related-observations", related_observations);
    insert_list(&mut finding, "related-risks", related_risks);
    finding
}
