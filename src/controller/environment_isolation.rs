//! EnvironmentIsolation: environments apart on the network, in data and in access.

use super::reads::Reads;
use super::reconciler::{NoExtraStatus, Plan, Reconciled, Stage};
use super::scope::Scope;
use crate::api::{ComplianceStatus, EnvironmentIsolation, Exemption, Mode};
use crate::catalog::{ControlId, ControlKind};
use crate::desired::{self, OwnedKind, Owner};
use crate::evaluate::{Notice, isolation};
use crate::validate::environment_isolation::ValidEnvironmentIsolation;
use jiff::Timestamp;
use kube::ResourceExt;

impl Reconciled for EnvironmentIsolation {
    const KIND: ControlKind = ControlKind::EnvironmentIsolation;
    const MANAGES: &'static [OwnedKind] = &[
        OwnedKind::NetworkPolicy,
        OwnedKind::ValidatingAdmissionPolicy,
        OwnedKind::ValidatingAdmissionPolicyBinding,
    ];
    const LABEL_MARKER: &'static str = "security.baseline.dev/isolation-from";

    fn compliance(&self) -> ComplianceStatus {
        self.status.clone().unwrap_or_default()
    }

    fn exemptions(&self) -> &[Exemption] {
        &self.spec.exemptions
    }

    /// Every namespace concerns an isolation: any may join or leave an environment, and a
    /// copy of production data matters wherever it lands.
    /// Every namespace: one in no environment is an environment of its own for access.
    fn selects_namespace(
        &self,
        _namespace: &str,
        _labels: Option<&std::collections::BTreeMap<String, String>>,
    ) -> bool {
        true
    }

    /// Not what no control of isolation reads: workloads (judged through their Pods),
    /// Ingresses, ServiceAccounts (identities are judged by name, bound or not), disruption
    /// budgets, StorageClasses.
    fn reads(&self, kind: &str, _namespace: Option<&str>) -> bool {
        !NOT_READ.contains(&kind)
    }

    /// Namespaces are read through selectors only (environments, exemptions, NetworkPolicy
    /// peers, the baselines whose ports its policies allow) and the restore-test sandbox
    /// markers.
    const READS_NAMESPACES_THROUGH_SELECTORS: bool = true;

    type Valid = ValidEnvironmentIsolation;

    fn validate(
        &self,
        _reads: &Reads,
        _now: Timestamp,
    ) -> Result<ValidEnvironmentIsolation, crate::validate::InvalidSpec> {
        crate::validate::environment_isolation::validate(&self.spec)
    }

    type ExtraStatus = NoExtraStatus;

    fn extra_status(&self) -> NoExtraStatus {
        NoExtraStatus {}
    }

    fn plan(
        &self,
        valid: &ValidEnvironmentIsolation,
        reads: &Reads,
        scope: &Scope,
        _stage: Stage,
        now: Timestamp,
    ) -> Plan<NoExtraStatus> {
        // What the plan renders reads namespaces' labels and the custom resources alone; the
        // whole cluster only for a from-scratch evaluation.
        let snapshot = reads.cluster_snapshot();
        let name = self.name_any();
        // Status covers every namespace, drawn from the incremental engine's kept parts (the
        // namespaces changes reached were judged again); a from-scratch evaluation is its
        // oracle (`engine_feed::check_periodically`) and its stand-in while the engine's
        // watch holds another version of this spec. What is planned, written and reported is
        // the pass's namespaces (see `reported_scope`).
        let mut evaluation = reads
            .stores
            .engine
            .isolation_by(&name, valid, now)
            .unwrap_or_else(|| {
                tracing::debug!("the engine holds another spec; evaluating from scratch");
                isolation::evaluate(&name, valid, &reads.snapshot(), now)
            });
        let wants_copies = self
            .spec
            .production_data
            .as_ref()
            .is_some_and(|d| d.detect_copied_secrets);
        if wants_copies && !reads.detects_copied_secrets {
            evaluation.notices.push(Notice {
                reason: crate::conditions::Reason::CopiedSecretDetectionOff.as_str(),
                message: "detectCopiedSecrets is set but the operator runs without --detect-copied-secrets (Helm value copiedSecretDetection): copies are not detected".into(),
            });
        }
        let mut plan = Plan::report_only(evaluation, NoExtraStatus {});
        plan.scope = reported_scope(scope, &plan.evaluation, reads, self.uid().as_deref());
        if valid.mode == Mode::Enforce {
            let owner = Owner::of(self);
            // A namespace's isolation policy selects its peers by the environments' label
            // selectors, never by name: it depends on its own environment (and the baseline
            // restricting it) only, so a namespace joining an environment changes its own,
            // and a pass resolves the environments of its own namespaces alone.
            let envs = crate::vocabulary::environments::environments_of_some(
                &valid.environments,
                &snapshot,
                |ns| plan.scope.covers(Some(ns)),
            );
            plan.desired =
                desired::isolation::network_policies(&owner, valid, &envs, &snapshot, now);
            plan.desired.extend(desired::isolation::admission(
                &owner,
                valid,
                &snapshot,
                reads.username.as_deref(),
                &reads.restorers,
                now,
            ));
        }
        plan
    }
}

/// Kinds no isolation control reads (see `Reconciled::reads`).
const NOT_READ: &[&str] = &[
    "Deployment",
    "StatefulSet",
    "DaemonSet",
    "ReplicaSet",
    "Job",
    "CronJob",
    "Ingress",
    "ServiceAccount",
    "PodDisruptionBudget",
    "StorageClass",
];

/// The namespaces a pass over `scope` plans and reports. Segregation findings name the
/// environments of other namespaces (the sources a namespace is reached from), so a change in
/// one namespace rewrites the message of a finding in another: a narrow pass also covers
/// every namespace with a segregation finding now, and every namespace holding a report of
/// this resource (a finding there may be gone). In a converged cluster in Enforce mode those
/// are few; rendering them writes nothing unless they changed. The other two controls judge a
/// namespace by others only through the engine's indexes, which put those namespaces in
/// `scope` already (`engine::crossing`).
fn reported_scope(
    scope: &Scope,
    evaluation: &crate::evaluate::Evaluation,
    reads: &Reads,
    uid: Option<&str>,
) -> Scope {
    let Scope::Namespaces(names) = scope else {
        return Scope::All;
    };
    let mut names = names.clone();
    for control in evaluation
        .controls
        .iter()
        .filter(|c| c.id == ControlId::EnvironmentSegregation)
    {
        let waived = control.waived.iter().map(|w| &w.violation);
        names.extend(
            control
                .failed
                .iter()
                .chain(waived)
                .filter_map(|v| v.object.scope_namespace())
                .map(str::to_string),
        );
    }
    let Some(uid) = uid else {
        return Scope::Namespaces(names);
    };
    for kind in [OwnedKind::PolicyReport, OwnedKind::Report] {
        if let Some(store) = reads.stores.report_store(kind) {
            names.extend(store.namespaces_of(uid));
        }
    }
    Scope::Namespaces(names)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn workloads_ingresses_and_storage_classes_do_not_wake_an_isolation() {
        let ei: EnvironmentIsolation = serde_json::from_value(serde_json::json!({
            "apiVersion": "security.baseline.dev/v1alpha1", "kind": "EnvironmentIsolation",
            "metadata": {"name": "ei"},
            "spec": {"environments": [{"name": "prod", "production": true, "namespaceSelector": {"matchLabels": {"env": "prod"}}}]},
        }))
        .unwrap();
        for kind in ["Deployment", "Ingress", "ServiceAccount"] {
            assert!(!ei.reads(kind, Some("shop")), "{kind}");
        }
        assert!(!ei.reads("StorageClass", None));
        // What its controls read wakes it.
        for kind in [
            "Secret",
            "RoleBinding",
            "Role",
            "Pod",
            "Service",
            "NetworkPolicy",
            "ConfigMap",
        ] {
            assert!(ei.reads(kind, Some("shop")), "{kind}");
        }
        assert!(ei.reads("ClusterRole", None) && ei.reads("ClusterRoleBinding", None));
    }
}
