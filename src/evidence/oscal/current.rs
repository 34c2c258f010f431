//! The current state (`evidence --out`'s bundle) as an [`Assessment`]: one result per
//! resource, one observation per control (the status's result, collected at its
//! `lastEvaluated`), the exemptions live at collection time as risks. A control the
//! resource's kind has but whose result is missing from status (not reconciled yet) is a
//! finding `not-satisfied` (`not-evaluated`), never left out.

use super::*;
use crate::catalog::ControlKind;
use crate::evidence::{Bundle, ResourceEvidence};

/// The bundle's evidence as an assessment at its collection time.
pub fn from_bundle(bundle: &Bundle) -> Assessment {
    let at: Timestamp = bundle.generated_at.parse().unwrap_or(Timestamp::UNIX_EPOCH);
    let cluster = Some(bundle.cluster.kube_system_uid.clone()).filter(|c| !c.is_empty());
    let resources = bundle
        .resources
        .iter()
        .filter_map(|r| resource(bundle, r, cluster.clone(), at))
        .collect();
    let mut props = vec![("cluster", bundle.cluster.kube_system_uid.clone())];
    props.push(("kubernetes-version", bundle.cluster.server_version.clone()));
    if let Some(framework) = bundle.framework {
        props.push(("framework", framework.key().to_string()));
    }
    for history in &bundle.history {
        props.push(("evidence-history", history.location.clone()));
    }
    Assessment {
        title: "baseline-operator: current state of the cluster's controls".into(),
        description: "The state of every control of every SecurityBaseline, BackupPolicy and \
            EnvironmentIsolation, as their status stood when `baseline-operator evidence --out` \
            read it."
            .into(),
        scope: format!(
            "current/{}/{}",
            bundle.cluster.kube_system_uid, bundle.generated_at
        ),
        start: at,
        end: None,
        props,
        resources,
    }
}

fn kind_of(kind: &str) -> Option<ControlKind> {
    [
        ControlKind::SecurityBaseline,
        ControlKind::BackupPolicy,
        ControlKind::EnvironmentIsolation,
    ]
    .into_iter()
    .find(|k| k.as_str() == kind)
}

fn resource(
    bundle: &Bundle,
    evidence: &ResourceEvidence,
    cluster: Option<String>,
    at: Timestamp,
) -> Option<ResourceAssessment> {
    let kind = kind_of(&evidence.kind)?;
    let source = format!(
        "the status of {} {} (generation {}, observed generation {})",
        evidence.kind,
        evidence.name,
        evidence
            .generation
            .map(|g| g.to_string())
            .unwrap_or("unknown".into()),
        evidence
            .observed_generation
            .map(|g| g.to_string())
            .unwrap_or("none".into())
    );
    let controls = kind
        .controls()
        .filter(|c| {
            bundle
                .framework
                .is_none_or(|f| c.references(f).next().is_some())
        })
        .map(|control| {
            let result = evidence.controls.iter().find(|r| r.id == control);
            let verdict = control_state_verdict(result.map(|r| r.state));
            let evaluations = result
                .map(|r| Evaluation {
                    collected: r.last_evaluated.as_ref().map(|t| t.0).unwrap_or(at),
                    state: r.state,
                    checked: r.checked,
                    failed: r.failed,
                    exempted: r.exempted,
                    findings: r.findings.clone(),
                    entry: None,
                    source: source.clone(),
                })
                .into_iter()
                .collect();
            let exemptions = ExemptionInForce::for_control(&evidence.exemptions, control, at)
                .into_iter()
                .map(|exemption| ExemptionRecord {
                    exemption,
                    in_force: None,
                })
                .collect();
            let remarks = match result {
                Some(r) => r.note.clone(),
                None => "No result in status: the resource was not evaluated yet.".into(),
            };
            ControlAssessment {
                control,
                verdict,
                timeline: Vec::new(),
                evaluations,
                exemptions,
                remarks,
            }
        })
        .collect();
    Some(ResourceAssessment {
        cluster,
        resource: ResourceRef {
            kind: evidence.kind.clone(),
            name: evidence.name.clone(),
        },
        controls,
    })
}
