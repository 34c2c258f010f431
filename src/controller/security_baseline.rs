//! SecurityBaseline: evaluate the eight controls; in Enforce mode, NetworkPolicies, Pod
//! Security labels and admission policies.

use super::reads::Reads;
use super::reconciler::{NoExtraStatus, Plan, Reconciled, Stage};
use super::scope::Scope;
use crate::api::{ComplianceStatus, Exemption, Mode, SecurityBaseline};
use crate::catalog::{ControlId, ControlKind};
use crate::desired::overlap::{self, Mechanism};
use crate::desired::pod_security_takeover as takeover;
use crate::desired::{self, OwnedKind, Owner};
use crate::evaluate;
use crate::evaluate::exemptions::Live;
use crate::validate::InvalidSpec;
use crate::validate::security_baseline::ValidSecurityBaseline;
use jiff::Timestamp;
use kube::ResourceExt;
use std::collections::BTreeMap;
use std::sync::Arc;

/// Marks namespaces that carry Pod Security labels set by a SecurityBaseline (value: its uid).
pub const PSA_MARKER: &str = "security.baseline.dev/pod-security-from";

impl Reconciled for SecurityBaseline {
    const KIND: ControlKind = ControlKind::SecurityBaseline;
    const MANAGES: &'static [OwnedKind] = &[
        OwnedKind::NetworkPolicy,
        OwnedKind::ValidatingAdmissionPolicy,
        OwnedKind::ValidatingAdmissionPolicyBinding,
    ];
    const LABEL_MARKER: &'static str = PSA_MARKER;

    fn compliance(&self) -> ComplianceStatus {
        self.status.clone().unwrap_or_default()
    }

    fn exemptions(&self) -> &[Exemption] {
        &self.spec.exemptions
    }

    fn selects_namespace(
        &self,
        _namespace: &str,
        labels: Option<&BTreeMap<String, String>>,
    ) -> bool {
        super::namespace_selected(&self.spec.namespace_selector, labels)
    }

    /// Not Velero's objects: no control of a baseline reads them (the namespaces a
    /// BackupPolicy takes out of scope come from its spec), so the Schedule a BackupPolicy
    /// rewrites for each new production namespace does not wake the baseline.
    fn reads(&self, kind: &str, _namespace: Option<&str>) -> bool {
        !crate::velero::KINDS.contains(&kind)
    }

    type Valid = ValidSecurityBaseline;

    fn validate(
        &self,
        _reads: &Reads,
        _now: Timestamp,
    ) -> Result<ValidSecurityBaseline, InvalidSpec> {
        crate::validate::security_baseline::validate(&self.spec)
    }

    type ExtraStatus = NoExtraStatus;

    fn extra_status(&self) -> NoExtraStatus {
        NoExtraStatus {}
    }

    fn plan(
        &self,
        valid: &ValidSecurityBaseline,
        reads: &Reads,
        scope: &Scope,
        stage: Stage,
        now: Timestamp,
    ) -> Plan<NoExtraStatus> {
        let mut watch = crate::telemetry::stopwatch::Stopwatch::start();
        // What the plan renders reads namespaces' labels and the custom resources alone; the
        // whole cluster only for a from-scratch evaluation.
        let snapshot = reads.cluster_snapshot();
        watch.lap("snapshot");
        let name = self.name_any();
        // The incremental engine judged only the namespaces that changed since; a
        // from-scratch evaluation is its oracle (`engine_feed::check_periodically`) and its
        // stand-in while the engine's watch holds another version of this spec.
        // Enforcement first: the pass's own namespaces are judged now, and alone (the plan
        // for a new namespace costs that namespace), the others' changes (a new namespace's
        // labels concern every namespace whose policies pick them) by the evidence plan that
        // follows.
        let first = match (stage, scope) {
            (Stage::Enforcement, Scope::Namespaces(namespaces)) => Some(namespaces),
            _ => None,
        };
        let (evaluation, provisional) = reads
            .stores
            .engine
            .security_baseline_by(&name, valid, first, now)
            .unwrap_or_else(|| {
                tracing::debug!("the engine holds another spec; evaluating from scratch");
                (
                    evaluate::security_baseline::evaluate(&name, valid, &reads.snapshot(), now),
                    false,
                )
            });
        watch.lap("evaluation");
        let mut plan = Plan::report_only(evaluation, NoExtraStatus {});
        plan.scope = scope.clone();
        plan.provisional = provisional;
        if valid.mode != Mode::Enforce {
            return plan;
        }
        let in_scope = |names: &[String]| -> Vec<String> {
            names
                .iter()
                .filter(|ns| scope.covers(Some(ns)))
                .cloned()
                .collect()
        };
        let owner = Owner::of(self);
        let namespaces = plan.evaluation.namespaces.clone();
        // Enforcement follows the same live exemptions status applies, so the two agree; an
        // exemption's expiry requeues the resource (see `next_check`), bringing it back.
        let live = Live::new(&valid.exemptions, now);
        if let Some(network) = &valid.network {
            // Where another baseline writes the namespace's policies, this one adds none.
            let writers =
                overlap::writers(self, Mechanism::NetworkPolicies, &namespaces, &snapshot);
            for note in writers.notes {
                plan.evaluation
                    .note(ControlId::RestrictedPorts, OVERLAPPING_BASELINES, note);
            }
            let enforced =
                desired::network_policy::enforced_namespaces(&live, &writers.mine, &snapshot);
            for note in desired::network_policy::exemption_notes(&live, &enforced, &snapshot) {
                plan.evaluation
                    .note(ControlId::RestrictedPorts, EXEMPTION_NOT_ENFORCEABLE, note);
            }
            // The notes above judge every namespace (status shows them); the objects are
            // rendered for this pass's namespaces only.
            plan.desired
                .extend(desired::network_policy::restricted_ports(
                    &owner,
                    network,
                    &in_scope(&enforced),
                    &snapshot,
                ));
            watch.lap("network");
        }
        plan.desired.extend(desired::admission::security_baseline(
            &owner, valid, &snapshot, now,
        ));
        watch.lap("admission");
        if let Some(pod_security) = &valid.pod_security {
            // One label set per namespace: the strictest baseline selecting it writes it.
            let writers =
                overlap::writers(self, Mechanism::PodSecurityLabels, &namespaces, &snapshot);
            for note in writers.notes {
                plan.evaluation
                    .note(ControlId::WorkloadHardening, OVERLAPPING_BASELINES, note);
            }
            // A provisional plan labels its own namespaces only (its notes are not evidence).
            let provisional_scope;
            let labelled_namespaces: &[String] = if plan.provisional {
                provisional_scope = in_scope(&writers.mine);
                &provisional_scope
            } else {
                &writers.mine
            };
            let labelled = desired::pod_security_labels::namespace_labels(
                pod_security,
                &live,
                labelled_namespaces,
            );
            for note in labelled.notes {
                plan.evaluation.note(
                    ControlId::WorkloadHardening,
                    EXEMPTION_NOT_ENFORCEABLE,
                    note,
                );
            }
            // Never weaken what was already there: a stricter prior stays, and what was
            // there is recorded to be put back when this baseline leaves.
            let mut kept: BTreeMap<Vec<String>, Vec<&str>> = BTreeMap::new();
            // Each namespace's priors. A provisional plan (enforcement of a few namespaces
            // first) writes their labels and is never evidence: the note that judges every
            // namespace waits for the evidence plan, so a new namespace's protection does not
            // cost the cluster's size. The evidence plan parses each once per Namespace version
            // (at 3,200 namespaces parsing every record each plan was a tenth of a relabel's
            // pass).
            let parse = |namespace: &k8s_openapi::api::core::v1::Namespace| {
                let no_labels = BTreeMap::new();
                let meta = &namespace.metadata;
                takeover::priors(
                    PSA_MARKER,
                    meta.labels.as_ref().unwrap_or(&no_labels),
                    meta.annotations.as_ref().unwrap_or(&no_labels),
                )
            };
            let priors: Vec<(&str, Arc<takeover::Record>)> = if plan.provisional {
                snapshot
                    .namespaces
                    .iter()
                    .filter_map(|n| Some((n.metadata.name.as_deref()?, n)))
                    .filter(|(name, _)| scope.covers(Some(name)))
                    .map(|(name, n)| (name, Arc::new(parse(n))))
                    .collect()
            } else {
                let parsed = reads
                    .stores
                    .pod_security_priors
                    .project(snapshot.namespaces.clone(), parse);
                snapshot
                    .namespaces
                    .iter()
                    .zip(parsed)
                    .filter_map(|(n, prior)| Some((n.metadata.name.as_deref()?, prior)))
                    .collect()
            };
            let by_name: BTreeMap<&str, &takeover::Record> = priors
                .iter()
                .map(|(name, prior)| (*name, prior.as_ref()))
                .collect();
            let no_labels = BTreeMap::new();
            for (ns, wanted) in &labelled.labels {
                let Some(prior) = by_name.get(ns.as_str()) else {
                    continue;
                };
                // What is kept is noted for every namespace (status shows the note); the
                // labels are written for this pass's namespaces only, so the others' are not
                // made.
                if !scope.covers(Some(ns)) {
                    let held = takeover::kept_priors(wanted, prior);
                    if !held.is_empty() {
                        kept.entry(held).or_default().push(ns);
                    }
                    continue;
                }
                let taken = takeover::take_over(wanted, &no_labels, Some(prior));
                if !taken.kept.is_empty() {
                    kept.entry(taken.kept.clone()).or_default().push(ns);
                }
                plan.namespace_annotations.insert(
                    ns.clone(),
                    BTreeMap::from([(
                        takeover::record_annotation(PSA_MARKER),
                        takeover::render_record(&taken.record),
                    )]),
                );
                plan.namespace_labels.insert(ns.clone(), taken.labels);
            }
            plan.desired.extend(takeover::record_guard(
                &owner,
                PSA_MARKER,
                &snapshot,
                reads.username.as_deref(),
            ));
            let asked = format!("{}:{}", pod_security.level.as_str(), pod_security.version());
            for (labels, names) in kept {
                plan.evaluation.note(
                    ControlId::WorkloadHardening,
                    STRICTER_LABELS_KEPT,
                    format!(
                        "namespace(s) {} keep the stricter Pod Security label(s) {} they carried before (this baseline asks {asked}); the operator never weakens them, and puts back what was there when it leaves",
                        names.join(", "),
                        labels.join(", ")
                    ),
                );
            }
            watch.lap("pod_security");
        }
        tracing::debug!(laps = %watch, "security baseline planned");
        plan
    }
}

/// The reason of the notes that say a namespace keeps stricter Pod Security labels.
pub const STRICTER_LABELS_KEPT: &str = crate::conditions::Reason::StricterLabelsKept.as_str();

/// The reason of the events that say where enforcement cannot follow an exemption.
pub const EXEMPTION_NOT_ENFORCEABLE: &str = crate::conditions::Reason::ExemptionScope.as_str();
/// The reason of the events that say another baseline also selects a namespace.
pub const OVERLAPPING_BASELINES: &str = crate::conditions::Reason::OverlappingBaselines.as_str();
