//! The Velero Restore of a restore test, from a backup of the source into its sandbox.

use super::policy_labels;
use crate::desired::{DesiredObject, OwnedKind, Owner};
use crate::vocabulary::labels::RESTORE_TEST_LABEL;
use jiff::Timestamp;
use serde_json::json;

/// Kept out of a test restore. Restored allow-policies would add to the sandbox's deny-all
/// (NetworkPolicies only ever widen), and restored Ingresses would claim production hosts.
pub const RESTORE_EXCLUDED_RESOURCES: &[&str] = &[
    "networkpolicies.networking.k8s.io",
    "ingresses.networking.k8s.io",
];
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
