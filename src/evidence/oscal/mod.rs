//! The evidence as NIST OSCAL 1.1.3 JSON, the format GRC tools and auditors' tools import:
//!
//! - [`assessment_results`]: OSCAL Assessment Results of an [`Assessment`] (the current state
//!   from `evidence --out`, or a period from `evidence report --format oscal`): one `result`
//!   per resource (the cluster in its props), `reviewed-controls` naming the ISO/IEC 27001:2022
//!   and SOC 2 controls, an `observation` per control evaluation (method `TEST`, the history
//!   entry's digest in back-matter), a `finding` per control (`satisfied` / `not-satisfied`),
//!   the exemptions in force as `risks`.
//! - [`fleet_assessment_results`]: the same for a fleet (`evidence report --fleet --format
//!   oscal`): one `result` per cluster, a broken chain's first broken entry stated.
//! - [`assessment_plan`]: the minimal Assessment Plan the results import (`import-ap`).
//! - [`component_definition`]: the operator as a component, mapping its 15 controls to the
//!   ISO/IEC 27001:2022 and SOC 2 references of the catalog.
//!
//! Pure: the documents are built from values, nothing is read. Every UUID is a v5 UUID of a
//! stable name (see [`uuid_of`]), so the same evidence gives the same document; the only field
//! that changes between two runs over the same input is `metadata.last-modified`, the time the
//! document was generated ([`generated_at`]: now, or `SOURCE_DATE_EPOCH` for reproducible
//! builds).

use crate::api::{ControlState, Finding};
use crate::catalog::{ControlId, Framework, FrameworkRef};
use crate::history::{ExemptionInForce, PeriodState, ResourceRef};
use jiff::Timestamp;
use serde_json::{Value, json};

mod components;
mod current;
mod fleet;
mod mapping;
mod plan;
mod results;
#[cfg(test)]
mod tests;

pub use components::component_definition;
pub use current::from_bundle;
pub use fleet::{ClusterAssessment, ClusterOutcome, FleetAssessment, fleet_assessment_results};
pub use mapping::{Verdict, control_state_verdict, period_verdict};
pub use plan::assessment_plan;
pub use results::assessment_results;

/// The OSCAL version the documents conform to (compliance-trestle 3.12.4's
/// `trestle.oscal.OSCAL_VERSION`; the pinned schema is tests/fixtures/oscal).
pub const OSCAL_VERSION: &str = "1.1.3";

/// The namespace of the props OSCAL does not define (`control`, `interval`, `approved-by`...).
pub const NS: &str = "https://github.com/baseline-dev/baseline-operator/ns/oscal";

/// File names the documents are written under, side by side (`import-ap` and the component
/// definition are referenced by these relative names).
pub const RESULTS_FILE: &str = "assessment-results.json";
pub const PLAN_FILE: &str = "assessment-plan.json";
pub const COMPONENTS_FILE: &str = "component-definition.json";

/// The frameworks whose controls OSCAL documents name (control ids need a catalog an auditor
/// tests against: ISO/IEC 27001:2022 Annex A and the SOC 2 Trust Services Criteria).
pub const FRAMEWORKS: [Framework; 2] = [Framework::Iso27001v2022, Framework::Soc2];

/// What one OSCAL Assessment Results document says: a list of resources assessed over a time
/// (an instant for the current state, a period for the history).
#[derive(Clone, Debug, PartialEq)]
pub struct Assessment {
    pub title: String,
    pub description: String,
    /// A stable name of what was assessed (period and chain head, or cluster and collection
    /// time): the seed of the document's and results' UUIDs.
    pub scope: String,
    pub start: Timestamp,
    pub end: Option<Timestamp>,
    /// Facts about the whole document (the chain's head, the trusted keys...), as props.
    pub props: Vec<(&'static str, String)>,
    pub resources: Vec<ResourceAssessment>,
}

/// One resource's controls: one OSCAL `result`.
#[derive(Clone, Debug, PartialEq)]
pub struct ResourceAssessment {
    /// The cluster the resource lives in (the kube-system namespace's uid), when known: a
    /// fleet document holds one result per cluster and resource.
    pub cluster: Option<String>,
    pub resource: ResourceRef,
    pub controls: Vec<ControlAssessment>,
}

/// One control of one resource: one OSCAL `finding` and its observations.
#[derive(Clone, Debug, PartialEq)]
pub struct ControlAssessment {
    pub control: ControlId,
    pub verdict: Verdict,
    /// The period cut into spans of one state (the period report's timeline); empty for the
    /// current state.
    pub timeline: Vec<crate::history::report::Span>,
    /// Every evaluation the finding rests on, oldest first.
    pub evaluations: Vec<Evaluation>,
    /// The exemptions naming the control that were in force, with when.
    pub exemptions: Vec<ExemptionRecord>,
    /// A sentence for the reader (shares of the period, the status's note...).
    pub remarks: String,
}

/// One evaluation of one control: an OSCAL `observation`.
#[derive(Clone, Debug, PartialEq)]
pub struct Evaluation {
    pub collected: Timestamp,
    pub state: ControlState,
    pub checked: i32,
    pub failed: i32,
    pub exempted: i32,
    pub findings: Vec<Finding>,
    /// The history entry that recorded it (None: read from status, not from the history).
    pub entry: Option<EntryRef>,
    /// Where else it was read (status `resource` and `generation`...).
    pub source: String,
}

/// A history entry, as the observation cites it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct EntryRef {
    pub seq: u64,
    /// SHA-256 hex of the entry's canonical JSON (the chain's `hash`), signed by `key_id`.
    pub hash: String,
    pub key_id: String,
}

/// An exemption in force, and (in a period) the first and last instant it was recorded so.
#[derive(Clone, Debug, PartialEq)]
pub struct ExemptionRecord {
    pub exemption: ExemptionInForce,
    pub in_force: Option<(Timestamp, Timestamp)>,
}

/// The namespace of every UUID in the documents.
fn namespace() -> uuid::Uuid {
    uuid::Uuid::new_v5(&uuid::Uuid::NAMESPACE_URL, NS.as_bytes())
}

/// The v5 UUID of a stable name (`result/<cluster>/<kind>/<name>/<scope>`, ...): the same name
/// gives the same UUID on every run and machine.
pub fn uuid_of(name: &str) -> String {
    uuid::Uuid::new_v5(&namespace(), name.as_bytes()).to_string()
}

/// The time a document is generated at: `SOURCE_DATE_EPOCH` (seconds) when set, so that two
/// runs over the same input give byte-identical documents, else now.
pub fn generated_at() -> Timestamp {
    std::env::var("SOURCE_DATE_EPOCH")
        .ok()
        .and_then(|s| s.trim().parse::<i64>().ok())
        .and_then(|s| Timestamp::from_second(s).ok())
        .unwrap_or_else(Timestamp::now)
}

/// An OSCAL date-time: RFC 3339 in UTC (the schema requires the zone), with the fraction of
/// a second when there is one, so intervals are exactly the period report's.
pub fn date_time(t: Timestamp) -> String {
    t.to_string()
}

/// The OSCAL control id of a catalog reference: `iso27001-2022_8.20`, `soc2_cc6.6` (a
/// token: it must start with a letter).
pub fn control_id(reference: &FrameworkRef) -> String {
    let prefix = match reference.framework {
        Framework::Iso27001v2022 => "iso27001-2022",
        Framework::Soc2 => "soc2",
        Framework::Iso27001v2013 => "iso27001-2013",
        Framework::SourcePolicy => "source",
    };
    format!("{prefix}_{}", reference.id.to_ascii_lowercase())
}

/// The ISO/IEC 27001:2022 and SOC 2 references of `controls`, each once, in framework then
/// catalog order.
pub fn references<'a>(
    controls: impl IntoIterator<Item = &'a ControlId> + Clone,
) -> Vec<&'static FrameworkRef> {
    let mut out: Vec<&'static FrameworkRef> = Vec::new();
    for framework in FRAMEWORKS {
        let mut refs: Vec<&'static FrameworkRef> = controls
            .clone()
            .into_iter()
            .flat_map(|c| c.references(framework))
            .collect();
        refs.sort_by_key(|r| r.order_key());
        refs.dedup_by_key(|r| r.id);
        out.extend(refs);
    }
    out
}

/// A prop of ours (in [`NS`]); None for an empty value (OSCAL values are never blank).
pub fn prop(name: &str, value: &str) -> Option<Value> {
    let value = single_line(value);
    (!value.is_empty()).then(|| json!({"name": name, "ns": NS, "value": value}))
}

/// A prop of ours with a class (`interval` of class `fail`...).
pub fn prop_class(name: &str, class: &str, value: &str) -> Option<Value> {
    prop(name, value).map(|mut p| {
        p["class"] = json!(class);
        p
    })
}

/// OSCAL prop values are one line with no blank at either end.
fn single_line(text: &str) -> String {
    text.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// `props`, left out when empty (OSCAL arrays have at least one item).
fn insert_list(object: &mut Value, key: &str, items: Vec<Value>) {
    if !items.is_empty() {
        object[key] = Value::Array(items);
    }
}

/// The metadata every document carries.
fn metadata(title: &str, generated: Timestamp, props: Vec<Value>) -> Value {
    let mut metadata = json!({
        "title": title,
        "last-modified": date_time(generated),
        "version": env!("CARGO_PKG_VERSION"),
        "oscal-version": OSCAL_VERSION,
        "roles": [{"id": "assessor", "title": "Assessor: the baseline-operator that evaluated the controls"}],
        "parties": [{
            "uuid": uuid_of("party/baseline-operator"),
            "type": "organization",
            "name": "baseline-operator",
        }],
        "responsible-parties": [{
            "role-id": "assessor",
            "party-uuids": [uuid_of("party/baseline-operator")],
        }],
    });
    insert_list(&mut metadata, "props", props);
    metadata
}

/// The state a period span or control state is written as in props and classes.
pub fn state_token(state: PeriodState) -> &'static str {
    match state {
        PeriodState::Pass => "pass",
        PeriodState::Fail => "fail",
        PeriodState::Exempt => "exempt",
        PeriodState::NotApplicable => "not-applicable",
        PeriodState::NotEvaluated => "not-evaluated",
        PeriodState::Gap => "gap",
        PeriodState::Absent => "absent",
    }
}

/// A control state as the period state of the same name.
pub fn period_state(state: ControlState) -> PeriodState {
    match state {
        ControlState::Pass => PeriodState::Pass,
        ControlState::Fail => PeriodState::Fail,
        ControlState::Exempt => PeriodState::Exempt,
        ControlState::NotApplicable => PeriodState::NotApplicable,
        ControlState::NotEvaluated => PeriodState::NotEvaluated,
    }
}

/// The three documents, pretty JSON with a final newline, as written to disk.
pub fn to_text(document: &Value) -> String {
    serde_json::to_string_pretty(document).expect("OSCAL documents serialize") + "\n"
}

/// The Assessment Plan and Component Definition, as files written beside a results document
/// (its `import-ap` names the plan by this relative name).
pub fn companions(generated: Timestamp) -> [(&'static str, String); 2] {
    [
        (PLAN_FILE, to_text(&assessment_plan(generated))),
        (COMPONENTS_FILE, to_text(&component_definition(generated))),
    ]
}

/// Writes the Assessment Plan and Component Definition into `dir`; returns the paths.
pub fn write_companions(
    dir: &std::path::Path,
    generated: Timestamp,
) -> std::io::Result<Vec<std::path::PathBuf>> {
    let mut written = Vec::new();
    for (name, text) in companions(generated) {
        let path = dir.join(name);
        std::fs::write(&path, text)?;
        written.push(path);
    }
    Ok(written)
}
