//! BackupPolicy controls, read from Velero's objects: `automated-backup`, `backup-retention`,
//! `backup-encryption` and `restore-tested`.
//!
//! Velero's objects (Schedules, Backups, Restores, BackupStorageLocations) live in Velero's own
//! namespace; Velero ignores them anywhere else, so only that namespace is read.

mod automated;
mod encryption;
mod restore_tested;
mod retention;

pub use automated::{
    Holds, ScheduleIntervals, namespace_findings, namespaces_a_backup_judges,
    namespaces_a_schedule_change_judges, namespaces_a_schedule_judges, next_deadline,
    schedule_intervals,
};
pub use encryption::{ENCRYPTION_KEYS, GENERIC_ENCRYPTION_KEYS, encryption_keys, is_encrypted};
pub use restore_tested::restore_test_problems;

use super::{ControlOutcome, Evaluation, ObjectRef, Violation, selected_namespaces};
use crate::api::backup_policy::RestoreTestResult;
use crate::catalog::ControlId;
use crate::snapshot::Snapshot;
use crate::validate::ValidBackupPolicy;
use crate::vocabulary::velero_view::VeleroView;
use jiff::Timestamp;

const NOT_INSTALLED: &str = "Velero is not installed (velero.io/v1 is not served)";

pub fn evaluate(
    name: &str,
    spec: &ValidBackupPolicy,
    last_restore_test: Option<&RestoreTestResult>,
    snapshot: &Snapshot,
    now: Timestamp,
) -> Evaluation {
    evaluate_with(name, spec, last_restore_test, snapshot, now, None)
}

/// What the incremental engine keeps of a BackupPolicy per namespace, folded: the selected
/// namespaces and the `automated-backup` outcome over them (see `engine::backups`).
#[derive(Clone, Debug, PartialEq)]
pub struct NamespaceParts {
    pub namespaces: Vec<String>,
    pub automated: ControlOutcome,
}

/// [`evaluate`], with the per-namespace part taken from `parts` when given (judged from the
/// same objects), so that a pass over one changed namespace does not judge every other.
pub fn evaluate_with(
    name: &str,
    spec: &ValidBackupPolicy,
    last_restore_test: Option<&RestoreTestResult>,
    snapshot: &Snapshot,
    now: Timestamp,
    parts: Option<NamespaceParts>,
) -> Evaluation {
    let (namespaces, automated) = match parts {
        Some(parts) => (parts.namespaces, Some(parts.automated)),
        None => (
            selected_namespaces(&spec.namespace_selector, snapshot),
            None,
        ),
    };
    let served = snapshot.velero.installed || snapshot.velero.unreadable.is_some();
    let outcomes = if !served {
        velero_missing(name, &namespaces, snapshot, NOT_INSTALLED)
    } else if let Some(namespace) = &snapshot.velero.namespace_missing {
        // Before "unreadable": without its namespace there are no Velero rights to have
        // (the chart grants them by a Role there), and the missing Velero is what to fix.
        let why = format!(
            "Velero is not deployed: its namespace `{namespace}` does not exist (its API is served, but nothing runs Schedules)"
        );
        velero_missing(name, &namespaces, snapshot, &why)
    } else {
        let velero = VeleroView::new(snapshot, &spec.velero_namespace);
        let outcomes = vec![
            automated.unwrap_or_else(|| {
                automated::automated_backup(name, spec, &velero, &namespaces, now)
            }),
            retention::backup_retention(name, spec, &velero, &namespaces),
            encryption::backup_encryption(name, spec, &velero, &namespaces),
            restore_tested::restore_tested(name, spec, last_restore_test, now),
        ];
        match &snapshot.velero.unreadable {
            // Served but unreadable: the controls that read Velero's objects looked at
            // nothing, so they neither pass nor fail (restore-tested judges the recorded
            // result of the last test).
            Some(why) => outcomes
                .into_iter()
                .map(|o| match o.applicable && o.id != ControlId::RestoreTested {
                    true => ControlOutcome::checked(o.id, 0, vec![]).with_check_not_run(why),
                    false => o,
                })
                .collect(),
            None => outcomes,
        }
    };
    Evaluation::new(
        &policy_ref(name),
        namespaces,
        outcomes,
        &spec.exemptions,
        now,
    )
    .with_excluded(super::excluded_namespaces(
        [&spec.namespace_selector],
        snapshot,
    ))
}

/// Without Velero (its API not served, or its namespace absent: `why`) nothing can be proven,
/// so every control fails: automated-backup for each selected namespace (its unit), the
/// others pointing at the policy. With no namespace selected, automated-backup points at the
/// policy too: a policy that backs up nothing while Velero is absent proves nothing either.
fn velero_missing(
    name: &str,
    namespaces: &[String],
    snapshot: &Snapshot,
    why: &str,
) -> Vec<ControlOutcome> {
    let finding = || vec![Violation::new(policy_ref(name), why)];
    let per_namespace: Vec<Violation> = namespaces
        .iter()
        .map(|ns| Violation::new(namespace_ref(snapshot, ns), why))
        .collect();
    let automated = match per_namespace.is_empty() {
        true => ControlOutcome::checked(ControlId::AutomatedBackup, 1, finding()),
        false => {
            ControlOutcome::checked(ControlId::AutomatedBackup, namespaces.len(), per_namespace)
        }
    };
    vec![
        automated,
        ControlOutcome::checked(ControlId::BackupRetention, 1, finding()),
        ControlOutcome::checked(ControlId::BackupEncryption, 1, finding()),
        ControlOutcome::checked(ControlId::RestoreTested, 1, finding()),
    ]
}

pub(super) fn policy_ref(name: &str) -> ObjectRef {
    ObjectRef::cluster_scoped("BackupPolicy", name)
}

pub(super) fn namespace_ref(snapshot: &Snapshot, namespace: &str) -> ObjectRef {
    // Looked up, not scanned: called once per selected namespace, a scan made the policy's
    // evaluation quadratic in the namespace count (a fifth of a relabel's CPU at 3,200).
    static NO_LABELS: std::collections::BTreeMap<String, String> =
        std::collections::BTreeMap::new();
    let labels = snapshot
        .namespace_named(namespace)
        .and_then(|ns| ns.metadata.labels.as_ref());
    ObjectRef::namespace(namespace, labels.unwrap_or(&NO_LABELS))
}

#[cfg(test)]
mod tests;
