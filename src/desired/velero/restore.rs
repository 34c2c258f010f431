//! The Velero Restore of a restore test, from a backup of the source into its sandbox.

use super::policy_labels;
use crate::desired::{DesiredObject, OwnedKind, Owner};
use crate::vocabulary::labels::RESTORE_TEST_LABEL;
use jiff::Timestamp;
use serde_json::json;

/// Kept out of a test restore. Restored allow-policies would add to the sandbox's deny-all
/// (NetworkPolicies only ever widen), and restored Ingresses would claim production hosts.
/// Restored workloads must never run production code in the sandbox: bare Pods, Jobs and
/// CronJobs would run at once, DaemonSets cannot be scaled to zero, and a HorizontalPodAutoscaler
/// would scale the workloads [`SCALED_TO_ZERO`] back up. The chart's restore guard requires the
/// first four of these.
pub const RESTORE_EXCLUDED_RESOURCES: &[&str] = &[
    "networkpolicies.networking.k8s.io",
    "ingresses.networking.k8s.io",
    "pods",
    "jobs.batch",
    "cronjobs.batch",
    "daemonsets.apps",
    "horizontalpodautoscalers.autoscaling",
];
/// Restored with zero replicas by the Restore's resource modifiers: their objects (and the data
/// in their volumes) are restored and can be inspected, but no pod of theirs starts.
pub const SCALED_TO_ZERO: &[&str] = &["deployments.apps", "statefulsets.apps", "replicasets.apps"];
/// The one data key of the resource-modifier ConfigMap (Velero requires exactly one).
pub const MODIFIERS_KEY: &str = "restore-test-modifiers.yaml";

/// The policy's resource-modifier ConfigMap in Velero's namespace, referenced by its Restores.
pub fn modifiers_name(owner: &Owner) -> String {
    format!("{}-restore-test-modifiers", owner.prefix())
}

/// Velero resource modifier rules (Velero >= 1.12, format `v1`) setting `/spec/replicas` to 0
/// on every [`SCALED_TO_ZERO`] kind. `add` rather than `replace`: it also holds when a backup
/// lacks the field. The value is JSON (`0`, a number), as Velero reads it.
pub fn modifier_rules() -> String {
    let mut rules = String::from("version: v1\nresourceModifierRules:\n");
    for group_resource in SCALED_TO_ZERO {
        rules.push_str(&format!(
            "- conditions:\n    groupResource: {group_resource}\n  patches:\n  - operation: add\n    path: \"/spec/replicas\"\n    value: \"0\"\n"
        ));
    }
    rules
}

/// The ConfigMap of [`modifier_rules`], owned by the policy so drift is repaired like any
/// other owned object's.
pub fn resource_modifiers(owner: &Owner, spec: &crate::api::BackupPolicySpec) -> DesiredObject {
    DesiredObject::owned(
        OwnedKind::ConfigMap,
        owner,
        Some(spec.velero_namespace()),
        modifiers_name(owner),
        json!({"data": {MODIFIERS_KEY: modifier_rules()}}),
    )
    .with_labels(&policy_labels(&owner.name))
}

/// Named after the moment the test fell due, so every reconcile that plans the same test
/// names the same Restore, and a repeated create fails with AlreadyExists instead of
/// starting a second restore.
pub fn restore_name(owner: &Owner, due: Timestamp) -> String {
    format!("{}-restore-{}", owner.prefix(), due.as_second())
}

/// The Velero Restore of `source` from `backup` into `sandbox`.
pub fn restore_object(
    owner: &Owner,
    spec: &crate::api::BackupPolicySpec,
    backup: &str,
    source: &str,
    sandbox: &str,
    due: Timestamp,
) -> DesiredObject {
    let mut labels = policy_labels(&owner.name);
    labels.insert(RESTORE_TEST_LABEL.into(), "true".into());
    let fields = json!({"spec": {
        "backupName": backup,
        "includedNamespaces": [source],
        "namespaceMapping": {source: sandbox},
        "excludedResources": RESTORE_EXCLUDED_RESOURCES,
        "resourceModifier": {"kind": "configmap", "name": modifiers_name(owner)},
    }});
    DesiredObject::owned(
        OwnedKind::VeleroRestore,
        owner,
        Some(spec.velero_namespace()),
        restore_name(owner, due),
        fields,
    )
    .with_labels(&labels)
}

/// `restore` stamped with the instant the operator creates it, on its own clock and to the
/// nanosecond ([`CREATED_AT_ANNOTATION`](super::CREATED_AT_ANNOTATION)): the start of the
/// measured RTO. The Restore is created once, never re-applied, so the stamp never moves.
pub fn created_at(mut restore: DesiredObject, at: Timestamp) -> DesiredObject {
    restore.body["metadata"]["annotations"] = json!({super::CREATED_AT_ANNOTATION: at.to_string()});
    restore
}
