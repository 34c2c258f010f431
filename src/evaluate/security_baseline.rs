//! All eight SecurityBaseline controls over the namespaces the baseline selects.

use super::{
    Evaluation, ObjectRef, encryption, excluded_namespaces, exemptions, images, network, privilege,
    selected_namespaces, workloads,
};
use crate::catalog::ControlId;
use crate::snapshot::Snapshot;
use crate::validate::security_baseline::ValidSecurityBaseline;
use jiff::Timestamp;

/// Notice reason: the offline audit judged declared replicas, not Ready ones.
pub const READINESS_NOT_JUDGED: &str = crate::conditions::Reason::ReadinessNotJudged.as_str();
/// What the offline audit says about `high-availability`.
pub const READINESS_LIVE_ONLY: &str =
    "readiness is judged live only: manifests carry no status, so the declared replicas are judged";

/// `name` is the SecurityBaseline's.
pub fn evaluate(
    name: &str,
    spec: &ValidSecurityBaseline,
    snapshot: &Snapshot,
    now: Timestamp,
) -> Evaluation {
    let namespaces = selected_namespaces(&spec.namespace_selector, snapshot);
    let encryption = spec.encryption.as_ref();
    let require_tls = encryption
        .and_then(|e| e.in_transit.as_ref())
        .is_some_and(|t| t.require_ingress_tls);
    let outcomes = vec![
        network::restricted_ports(spec.network.as_ref(), &namespaces, snapshot),
        encryption::in_transit(require_tls, &namespaces, snapshot),
        encryption::at_rest(
            encryption.and_then(|e| e.at_rest.as_ref()),
            &namespaces,
            snapshot,
        ),
        workloads::hardening(spec.pod_security.as_ref(), &namespaces, snapshot),
        images::trusted_images(spec.images.as_ref(), &namespaces, snapshot),
        privilege::least_privilege(spec.access.as_ref(), &namespaces, snapshot),
        workloads::availability(spec.availability.as_ref(), &namespaces, snapshot),
        workloads::resources(spec.resources.as_ref(), &namespaces, snapshot),
    ];
    let resource = ObjectRef::cluster_scoped("SecurityBaseline", name);
    let mut evaluation = Evaluation::new(&resource, namespaces, outcomes, &spec.exemptions, now)
        .with_excluded(excluded_namespaces([&spec.namespace_selector], snapshot));
    let judges_replicas = spec
        .availability
        .as_ref()
        .is_some_and(|a| a.min_replicas.is_some());
    let in_scope = evaluation.namespaces.clone();
    for (control, message) in misconfigured_exemptions(spec, snapshot, &in_scope, now) {
        evaluation.note(control, EXEMPTION_MISCONFIGURED, message);
    }
    if snapshot.from_manifests && judges_replicas {
        evaluation.note(
            ControlId::HighAvailability,
            READINESS_NOT_JUDGED,
            READINESS_LIVE_ONLY.into(),
        );
    }
    evaluation
}

/// Notice reason: an exemption's selector matches workloads by their own labels only.
pub const EXEMPTION_MISCONFIGURED: &str =
    crate::conditions::Reason::ExemptionMisconfigured.as_str();
/// Workloads a note names before it counts the rest.
const WORKLOADS_NAMED: usize = 5;

/// Live exemptions whose selector matches workloads in scope by their own labels but not by
/// their pod templates': they exempt neither the workload nor the Pods it makes (see
/// `exemptions::covers`). Per control the exemption names, what to tell, naming the workloads.
fn misconfigured_exemptions(
    spec: &ValidSecurityBaseline,
    snapshot: &Snapshot,
    namespaces: &[String],
    now: Timestamp,
) -> Vec<(ControlId, String)> {
    let live = exemptions::Live::new(&spec.exemptions, now);
    let workloads: Vec<ObjectRef> = snapshot
        .pod_carriers()
        .iter()
        .filter(|c| namespaces.iter().any(|ns| ns == c.namespace()))
        .map(ObjectRef::of_carrier)
        .collect();
    let mut out = Vec::new();
    for exemption in live.iter() {
        for &control in &exemption.controls {
            let missed: Vec<String> = workloads
                .iter()
                .filter(|w| exemptions::missed_by_template(exemption, control, w))
                .map(|w| {
                    let ns = w.namespace.as_deref().unwrap_or_default();
                    format!("{} {ns}/{}", w.kind, w.name)
                })
                .collect();
            if missed.is_empty() {
                continue;
            }
            let mut named = missed
                .iter()
                .take(WORKLOADS_NAMED)
                .cloned()
                .collect::<Vec<_>>()
                .join(", ");
            if missed.len() > WORKLOADS_NAMED {
                named.push_str(&format!(" and {} more", missed.len() - WORKLOADS_NAMED));
            }
            out.push((
                control,
                format!(
                    "misconfigured exemption (approved by {}): its selector matches {named} by the workload's own labels but not its pod template's, so neither the workload nor the Pods made from it are exempted; put the label on spec.template.metadata.labels",
                    exemption.approved_by
                ),
            ));
        }
    }
    out
}
