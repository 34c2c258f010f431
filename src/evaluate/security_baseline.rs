//! All eight SecurityBaseline controls over the namespaces the baseline selects.

use super::{
    ControlOutcome, Evaluation, ObjectRef, encryption, excluded_namespaces, exemptions, images,
    network, privilege, selected_namespaces, workloads,
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
    let outcomes = outcomes(spec, &namespaces, snapshot);
    let missed = missed_by_templates(spec, snapshot, &namespaces);
    assemble(name, spec, snapshot, namespaces, outcomes, &missed, now)
}

/// The eight controls' raw outcomes over `namespaces`, in catalog order. Each is a sum over
/// the namespaces (and, for `least-privilege`, the ClusterRoleBindings naming their
/// identities), which is what lets `engine::per_namespace` compute them one namespace at a
/// time and add them up.
pub fn outcomes(
    spec: &ValidSecurityBaseline,
    namespaces: &[String],
    snapshot: &Snapshot,
) -> Vec<ControlOutcome> {
    let encryption = spec.encryption.as_ref();
    let require_tls = encryption
        .and_then(|e| e.in_transit.as_ref())
        .is_some_and(|t| t.require_ingress_tls);
    vec![
        network::restricted_ports(spec.network.as_ref(), namespaces, snapshot),
        encryption::in_transit(require_tls, namespaces, snapshot),
        encryption::at_rest(
            encryption.and_then(|e| e.at_rest.as_ref()),
            namespaces,
            snapshot,
        ),
        workloads::hardening(spec.pod_security.as_ref(), namespaces, snapshot),
        images::trusted_images(spec.images.as_ref(), namespaces, snapshot),
        privilege::least_privilege(spec.access.as_ref(), namespaces, snapshot),
        workloads::availability(spec.availability.as_ref(), namespaces, snapshot),
        workloads::resources(spec.resources.as_ref(), namespaces, snapshot),
    ]
}

/// The Evaluation of raw `outcomes` over the selected `namespaces`: exemptions, empty-scope
/// rules, excluded namespaces and notes. `missed` is [`missed_by_templates`]' answer for the
/// same namespaces; `snapshot` is read for namespaces and their labels only.
pub fn assemble(
    name: &str,
    spec: &ValidSecurityBaseline,
    snapshot: &Snapshot,
    namespaces: Vec<String>,
    outcomes: Vec<ControlOutcome>,
    missed: &MissedByTemplates,
    now: Timestamp,
) -> Evaluation {
    let resource = ObjectRef::cluster_scoped("SecurityBaseline", name);
    let mut evaluation = Evaluation::new(&resource, namespaces, outcomes, &spec.exemptions, now)
        .with_excluded(excluded_namespaces([&spec.namespace_selector], snapshot));
    let judges_replicas = spec
        .availability
        .as_ref()
        .is_some_and(|a| a.min_replicas.is_some());
    for (control, message) in misconfigured_exemptions(spec, missed, now) {
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

/// Per exemption of the spec (live or not), per control it names (in its order), the
/// workloads in scope whose own labels its selector matches but whose pod template's it does
/// not, as `Kind namespace/name`, sorted: lists of disjoint namespaces add up by
/// [`MissedByTemplates::merge`].
#[derive(Clone, Debug, Default, PartialEq)]
pub struct MissedByTemplates(pub Vec<Vec<Vec<String>>>);

impl MissedByTemplates {
    /// Adds the lists of other namespaces, keeping each sorted.
    pub fn merge(&mut self, other: &MissedByTemplates) {
        if self.0.is_empty() {
            self.0 = other.0.clone();
            return;
        }
        for (mine, theirs) in self.0.iter_mut().zip(&other.0) {
            for (mine, theirs) in mine.iter_mut().zip(theirs) {
                mine.extend(theirs.iter().cloned());
                mine.sort();
            }
        }
    }
}

/// The workloads of `namespaces` each exemption's selector misses by template
/// (see `exemptions::covers`).
pub fn missed_by_templates(
    spec: &ValidSecurityBaseline,
    snapshot: &Snapshot,
    namespaces: &[String],
) -> MissedByTemplates {
    let workloads: Vec<ObjectRef> = snapshot
        .pod_carriers()
        .iter()
        .filter(|c| namespaces.iter().any(|ns| ns == c.namespace()))
        .map(ObjectRef::of_carrier)
        .collect();
    let lists = spec
        .exemptions
        .iter()
        .map(|exemption| {
            exemption
                .controls
                .iter()
                .map(|&control| {
                    let mut missed: Vec<String> = workloads
                        .iter()
                        .filter(|w| exemptions::missed_by_template(exemption, control, w))
                        .map(|w| {
                            let ns = w.namespace.as_deref().unwrap_or_default();
                            format!("{} {ns}/{}", w.kind, w.name)
                        })
                        .collect();
                    // Sorted, so that the workloads a note names do not depend on the order
                    // objects were listed in.
                    missed.sort();
                    missed
                })
                .collect()
        })
        .collect();
    MissedByTemplates(lists)
}

/// Live exemptions whose selector matches workloads in scope by their own labels but not by
/// their pod templates': they exempt neither the workload nor the Pods it makes (see
/// `exemptions::covers`). Per control the exemption names, what to tell, naming the workloads.
fn misconfigured_exemptions(
    spec: &ValidSecurityBaseline,
    missed: &MissedByTemplates,
    now: Timestamp,
) -> Vec<(ControlId, String)> {
    let live = exemptions::Live::new(&spec.exemptions, now);
    let mut out = Vec::new();
    for exemption in live.iter() {
        let Some(index) = spec
            .exemptions
            .iter()
            .position(|e| std::ptr::eq(e, exemption))
        else {
            continue;
        };
        for (position, &control) in exemption.controls.iter().enumerate() {
            let missed = missed
                .0
                .get(index)
                .and_then(|lists| lists.get(position))
                .map(Vec::as_slice)
                .unwrap_or_default();
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
