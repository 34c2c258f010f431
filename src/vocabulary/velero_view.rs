//! Velero's objects as the BackupPolicy controls and the restore-test planner read them: only
//! those in the namespace Velero runs in (Velero ignores them anywhere else).

use super::labels::POLICY_LABEL;
use crate::api::BackupPolicySpec;
use crate::snapshot::Snapshot;
use crate::velero::{Backup, BackupStorageLocation, Restore, Schedule};
use jiff::Timestamp;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;

const COMPLETED: &str = "Completed";

/// Velero's objects in the namespace Velero runs in.
pub struct VeleroView<'a> {
    pub snapshot: &'a Snapshot,
    pub namespace: &'a str,
}

impl<'a> VeleroView<'a> {
    pub fn new(snapshot: &'a Snapshot, spec: &'a BackupPolicySpec) -> Self {
        Self {
            snapshot,
            namespace: spec.velero_namespace(),
        }
    }

    fn here(&self, meta: &ObjectMeta) -> bool {
        meta.namespace.as_deref() == Some(self.namespace)
    }

    pub fn schedules(&self) -> impl Iterator<Item = &'a Schedule> + '_ {
        let all = &self.snapshot.velero.schedules;
        all.iter()
            .map(AsRef::as_ref)
            .filter(|s| self.here(&s.metadata))
    }

    pub fn backups(&self) -> impl Iterator<Item = &'a Backup> + '_ {
        let all = &self.snapshot.velero.backups;
        all.iter()
            .map(AsRef::as_ref)
            .filter(|b| self.here(&b.metadata))
    }

    pub fn restores(&self) -> impl Iterator<Item = &'a Restore> + '_ {
        let all = &self.snapshot.velero.restores;
        all.iter()
            .map(AsRef::as_ref)
            .filter(|r| self.here(&r.metadata))
    }

    pub fn storage_location(&self, name: &str) -> Option<&'a BackupStorageLocation> {
        let all = &self.snapshot.velero.storage_locations;
        all.iter()
            .map(AsRef::as_ref)
            .find(|l| self.here(&l.metadata) && l.metadata.name.as_deref() == Some(name))
    }

    /// The newest Backup that completed and holds `namespace`, with its completion time.
    pub fn newest_completed_backup(&self, namespace: &str) -> Option<(&'a Backup, Timestamp)> {
        self.backups()
            .filter(|b| includes(&b.spec.included_namespaces, namespace))
            .filter_map(|b| Some((b, completed_at(b)?)))
            .max_by_key(|(_, at)| *at)
    }
}

/// Velero reads an empty include list as "all namespaces", as it does `*`.
pub fn includes(included: &[String], namespace: &str) -> bool {
    included.is_empty() || included.iter().any(|n| n == "*" || n == namespace)
}

pub fn belongs_to_policy(meta: &ObjectMeta, policy: &str) -> bool {
    meta.labels
        .as_ref()
        .and_then(|l| l.get(POLICY_LABEL))
        .is_some_and(|v| v == policy)
}

pub fn qualified(meta: &ObjectMeta) -> String {
    format!(
        "{}/{}",
        meta.namespace.as_deref().unwrap_or_default(),
        meta.name.as_deref().unwrap_or_default()
    )
}

pub fn backup_phase(backup: &Backup) -> &str {
    let status = backup.status.as_ref();
    status.and_then(|s| s.phase.as_deref()).unwrap_or_default()
}

/// When a backup finished successfully; None for any other phase.
pub fn completed_at(backup: &Backup) -> Option<Timestamp> {
    if backup_phase(backup) != COMPLETED {
        return None;
    }
    Some(backup.status.as_ref()?.completion_timestamp.as_ref()?.0)
}

/// When a backup attempt began, for ordering attempts whatever their outcome.
pub fn attempted_at(backup: &Backup) -> Option<Timestamp> {
    let started = backup
        .status
        .as_ref()
        .and_then(|s| s.start_timestamp.as_ref());
    started
        .or(backup.metadata.creation_timestamp.as_ref())
        .map(|t| t.0)
}
