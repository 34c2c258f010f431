//! The OSCAL Assessment Results document of a fleet: one `result` per cluster (its id in the
//! title and the `cluster` prop), holding a finding per resource and control of that cluster
//! (with the resource's kind and name as props), an observation per evaluation citing its
//! history entry, and the exemptions in force as risks: the same parts as a single cluster's
//! document ([`super::results`]), gathered per cluster.
//!
//! A cluster whose chain did not verify (or could not be read) proves nothing for the period:
//! its result has one observation stating the first broken entry, and a `not-satisfied`
//! finding per control (reason `history-broken` / `history-unreadable`) citing it. Never a
//! satisfied finding, and never silently left out.

use super::results::{Parts, document, parts, reviewed_controls};
use super::*;
use std::collections::BTreeMap;

/// What a fleet's OSCAL document says: every cluster over one period.
#[derive(Clone, Debug, PartialEq)]
pub struct FleetAssessment {
    pub title: String,
    pub description: String,
    /// A stable name of what was assessed (the period and every cluster's chain head): the
    /// seed of the UUIDs.
    pub scope: String,
    pub start: Timestamp,
    pub end: Timestamp,
    /// Facts about the whole fleet (where it is, the trusted keys...), as props.
    pub props: Vec<(&'static str, String)>,
    pub clusters: Vec<ClusterAssessment>,
}

/// One cluster of the fleet: one OSCAL `result`.
#[derive(Clone, Debug, PartialEq)]
pub struct ClusterAssessment {
    pub cluster: String,
    /// Facts about the cluster's chain (its location, entries, head, snapshot...), as props.
    pub props: Vec<(&'static str, String)>,
    pub outcome: ClusterOutcome,
}

/// What a cluster's chain gave for the period.
#[derive(Clone, Debug, PartialEq)]
pub enum ClusterOutcome {
    /// The chain verified: its resources, as a single cluster's document has them.
    Verified(Vec<ResourceAssessment>),
    /// The chain did not verify: the first broken entry (or snapshot), in words, and its seq.
    Broken { first_broken: String, seq: u64 },
    /// The chain could not be read (access, network): why.
    Unreadable(String),
}

/// The fleet's Assessment Results document, generated at `generated` (`metadata.last-modified`
/// and the `collected` time of a broken chain's observation: when the verification ran).
pub fn fleet_assessment_results(fleet: &FleetAssessment, generated: Timestamp) -> Value {
    let mut back_matter: BTreeMap<String, Value> = BTreeMap::new();
    let mut results: Vec<Value> = fleet
        .clusters
        .iter()
        .map(|cluster| cluster_result(fleet, cluster, generated, &mut back_matter))
        .collect();
    if results.is_empty() {
        // OSCAL needs one result; the CLI refuses an empty fleet, this keeps the document valid.
        results.push(json!({
            "uuid": uuid_of(&format!("result/none/{}", fleet.scope)),
            "title": "No cluster assessed",
            "description": "No cluster's evidence history was found: nothing is proven.",
            "start": date_time(fleet.start),
            "end": date_time(fleet.end),
            "reviewed-controls": reviewed_controls(ControlId::ALL),
        }));
    }
    document(
        &fleet.scope,
        &fleet.title,
        &fleet.props,
        generated,
        results,
        back_matter,
    )
}

fn cluster_result(
    fleet: &FleetAssessment,
    cluster: &ClusterAssessment,
    generated: Timestamp,
    back_matter: &mut BTreeMap<String, Value>,
) -> Value {
    let name = format!("result/{}/{}", cluster.cluster, fleet.scope);
    let id = &cluster.cluster;
    let mut props: Vec<Value> = prop("cluster", id).into_iter().collect();
    props.extend(
        cluster
            .props
            .iter()
            .filter_map(|(name, value)| prop(name, value)),
    );
    let period = format!(
        "from {} to {}",
        date_time(fleet.start),
        date_time(fleet.end)
    );
    let (title, description, controls, parts) = match &cluster.outcome {
        ClusterOutcome::Verified(resources) => {
            let mut all = Parts {
                observations: Vec::new(),
                risks: BTreeMap::new(),
                findings: Vec::new(),
            };
            let mut controls: Vec<ControlId> = Vec::new();
            for resource in resources {
                let scoped = format!(
                    "{name}/{}/{}",
                    resource.resource.kind, resource.resource.name
                );
                let mut part = parts(&scoped, resource, back_matter);
                // Several resources share the result: each finding names its resource.
                for finding in &mut part.findings {
                    if let Some(list) = finding["props"].as_array_mut() {
                        list.extend(prop("resource-kind", &resource.resource.kind));
                        list.extend(prop("resource-name", &resource.resource.name));
                    }
                }
                all.observations.extend(part.observations);
                all.risks.extend(part.risks);
                all.findings.extend(part.findings);
                controls.extend(resource.controls.iter().map(|c| c.control));
            }
            controls.sort_by_key(|c| ControlId::ALL.iter().position(|a| a == c));
            controls.dedup();
            props.extend(prop("chain", "verified"));
            if controls.is_empty() {
                // OSCAL selections need one control: a cluster that evaluated nothing in the
                // period reviewed them all and proves none (no finding, as for one cluster).
                (
                    format!("Cluster {id}: nothing evaluated"),
                    format!(
                        "The verified evidence history of cluster {id} records no evaluation \
                         {period}: nothing is proven."
                    ),
                    ControlId::ALL.to_vec(),
                    all,
                )
            } else {
                (
                    format!("Cluster {id}"),
                    format!(
                        "The controls of every resource of cluster {id}, as its \
                         baseline-operator evaluated them {period}, read from its verified \
                         evidence history."
                    ),
                    controls,
                    all,
                )
            }
        }
        ClusterOutcome::Broken { first_broken, seq } => {
            props.extend(prop("chain", "broken"));
            props.extend(prop("first-broken-entry-seq", &seq.to_string()));
            props.extend(prop("first-broken-entry", first_broken));
            (
                format!("Cluster {id}: evidence history BROKEN"),
                format!(
                    "The evidence history of cluster {id} does not verify, so nothing it says \
                     {period} is proven: first broken: {first_broken}."
                ),
                ControlId::ALL.to_vec(),
                unproven(&name, id, "history-broken", first_broken, generated),
            )
        }
        ClusterOutcome::Unreadable(why) => {
            props.extend(prop("chain", "unreadable"));
            (
                format!("Cluster {id}: evidence history NOT READ"),
                format!(
                    "The evidence history of cluster {id} could not be read, so nothing \
                     {period} is proven: {why}."
                ),
                ControlId::ALL.to_vec(),
                unproven(&name, id, "history-unreadable", why, generated),
            )
        }
    };
    let mut result = json!({
        "uuid": uuid_of(&name),
        "title": title,
        "description": description,
        "start": date_time(fleet.start),
        "end": date_time(fleet.end),
        "props": props,
        "reviewed-controls": reviewed_controls(&controls),
    });
    insert_list(&mut result, "observations", parts.observations);
    insert_list(&mut result, "risks", parts.risks.into_values().collect());
    insert_list(&mut result, "findings", parts.findings);
    result
}

/// A cluster whose chain proves nothing: one observation saying why (`what`: the first broken
/// entry, or the read error) and a not-satisfied finding per control citing it.
fn unproven(result: &str, cluster: &str, reason: &str, what: &str, checked: Timestamp) -> Parts {
    let props: Vec<Value> = [
        prop("cluster", cluster),
        prop("state", reason),
        prop("first-broken", what),
    ]
    .into_iter()
    .flatten()
    .collect();
    let observation = json!({
        "uuid": uuid_of(&format!("observation/{result}/{reason}")),
        "title": format!("The evidence history of cluster {cluster}: {reason}"),
        "description": format!(
            "`baseline-operator evidence report --fleet` verified the evidence history of \
             cluster {cluster} for the period and it did not hold: {what}. \
             `evidence verify --fleet` names the same."
        ),
        "props": props,
        "methods": ["TEST"],
        "types": ["finding"],
        "collected": date_time(checked),
    });
    let related = json!([{"observation-uuid": observation["uuid"].clone()}]);
    let findings = ControlId::ALL
        .iter()
        .map(|id| {
            let props: Vec<Value> = [prop("control", id.as_str())]
                .into_iter()
                .chain(
                    references([*id].iter())
                        .iter()
                        .map(|r| prop("reference", &control_id(r))),
                )
                .flatten()
                .collect();
            json!({
                "uuid": uuid_of(&format!("finding/{result}/{id}")),
                "title": format!("{id}: {}", id.title()),
                "description": format!(
                    "Cluster {cluster} {id}: not-satisfied ({reason}): its evidence history \
                     proves nothing for the period ({what})."
                ),
                "props": props,
                "target": {
                    "type": "objective-id",
                    "target-id": id.as_str(),
                    "status": {"state": "not-satisfied", "reason": reason},
                },
                "related-observations": related.clone(),
            })
        })
        .collect();
    Parts {
        observations: vec![observation],
        risks: BTreeMap::new(),
        findings,
    }
}
