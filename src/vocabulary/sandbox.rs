//! Recognising a restore-test sandbox: the one Rust test every part of the operator uses.
//! (`desired::isolation::sandbox_cel` is the same test in CEL for admission policies.)

use super::labels::{RESTORE_TEST_LABEL, RESTORE_TEST_POLICY_UID, RESTORE_TEST_PREFIX};
use crate::snapshot::Snapshot;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;

/// Whether a namespace is a restore-test sandbox the operator created, the one test every
/// part of the operator uses (EnvironmentIsolation's evaluation and admission policies, and
/// the restore-test planner).
///
/// A sandbox carries everything the operator sets when it creates one: the name prefix, the
/// restore-test label, and the uid of a BackupPolicy that exists. The name or the label alone
/// never suffices, and an existing namespace cannot be renamed into a sandbox; label
/// protection (EnvironmentIsolation) also refuses adding the markers to an existing namespace.
/// `desired::isolation::sandbox_cel` is the same test in CEL; keep the two in step.
pub fn is_restore_test_sandbox(meta: &ObjectMeta, snapshot: &Snapshot) -> bool {
    sandbox_policy_uid(meta).is_some_and(|uid| {
        snapshot
            .custom_resources
            .backup_policies
            .iter()
            .any(|p| p.metadata.uid.as_deref() == Some(uid))
    })
}

/// The BackupPolicy uid a namespace claims to be a sandbox of, if it carries the sandbox name
/// prefix, label and annotation; whether that policy exists is [`is_restore_test_sandbox`]'s.
pub fn sandbox_policy_uid(meta: &ObjectMeta) -> Option<&str> {
    let named = meta
        .name
        .as_deref()
        .is_some_and(|n| n.starts_with(RESTORE_TEST_PREFIX));
    let labelled = meta
        .labels
        .as_ref()
        .and_then(|l| l.get(RESTORE_TEST_LABEL))
        .is_some_and(|v| v == "true");
    let uid = meta
        .annotations
        .as_ref()
        .and_then(|a| a.get(RESTORE_TEST_POLICY_UID))
        .filter(|uid| !uid.is_empty());
    uid.filter(|_| named && labelled).map(String::as_str)
}

/// A restore-test sandbox created for the BackupPolicy named `policy`.
pub fn is_own_sandbox(meta: &ObjectMeta, policy: &str, snapshot: &Snapshot) -> bool {
    let own_uid = snapshot
        .custom_resources
        .backup_policies
        .iter()
        .find(|p| p.metadata.name.as_deref() == Some(policy))
        .and_then(|p| p.metadata.uid.as_deref());
    is_restore_test_sandbox(meta, snapshot)
        && own_uid.is_some()
        && sandbox_policy_uid(meta) == own_uid
}
