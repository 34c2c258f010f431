//! Label and annotation keys the operator sets and reads, in one place for every part that
//! writes or recognises them.

/// Label whose value is the BackupPolicy's name. Set on the owned Schedule and its template,
/// so Velero copies it onto every Backup, and on restore-test objects.
pub const POLICY_LABEL: &str = "security.baseline.dev/backup-policy";
/// Marks a restore-test sandbox namespace (and its Restore) so EnvironmentIsolation can tell a
/// quarantined restore apart from production data landing in a non-production namespace.
/// The label alone proves nothing: see [`is_restore_test_sandbox`].
pub const RESTORE_TEST_LABEL: &str = "security.baseline.dev/restore-test";
/// Set on a sandbox Namespace when the operator creates it: the uid of the BackupPolicy whose
/// restore test it holds. Admission policies see a namespace's annotations but not its
/// ownerReferences (`namespaceObject` carries no ownerReferences), so this annotation, not
/// the ownerReference the sandbox also carries, is what every check reads.
pub const RESTORE_TEST_POLICY_UID: &str = "security.baseline.dev/restore-test-policy-uid";
/// Every sandbox's name starts with this (see `desired::velero::sandbox_name`).
pub const RESTORE_TEST_PREFIX: &str = "restore-test-";

/// Which production namespace a sandbox holds a copy of.
pub const RESTORE_TEST_SOURCE_LABEL: &str = "security.baseline.dev/restore-test-source";
