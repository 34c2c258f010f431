//! Velero's objects as the BackupPolicy controls and the restore-test planner read them: only
//! those in the namespace Velero runs in (Velero ignores them anywhere else).

use super::labels::POLICY_LABEL;
use crate::api::BackupPolicySpec;
use crate::snapshot::Snapshot;
use crate::velero::{Backup, BackupSpec, BackupStorageLocation, Restore, Schedule};
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

    /// The location Velero uses when a Schedule or Backup names none: the one marked
    /// `default`, else the one called `default`.
    pub fn default_storage_location(&self) -> String {
        let all = &self.snapshot.velero.storage_locations;
        all.iter()
            .find(|l| self.here(&l.metadata) && l.spec.default == Some(true))
            .and_then(|l| l.metadata.name.clone())
            .unwrap_or_else(|| "default".to_string())
    }

    /// The newest Backup that completed and holds all of `namespace`, with its completion
    /// time.
    pub fn newest_completed_backup(&self, namespace: &str) -> Option<(&'a Backup, Timestamp)> {
        self.backups()
            .filter(|b| coverage(&b.spec, namespace) == Coverage::Whole)
            .filter_map(|b| Some((b, completed_at(b)?)))
            .max_by_key(|(_, at)| *at)
    }
}

/// Velero reads an empty include list as "all namespaces", as it does `*`.
pub fn includes(included: &[String], namespace: &str) -> bool {
    included.is_empty() || included.iter().any(|n| n == "*" || n == namespace)
}

/// Kinds a backup may leave out and still hold the whole namespace: Velero never restores
/// events, so excluding them loses nothing; and Velero itself excludes CSI VolumeSnapshot
/// objects from every backup it makes (it handles CSI snapshots its own way), so a real
/// Velero's backups carry that exclusion.
const HARMLESS_EXCLUSIONS: &[&str] = &[
    "events",
    "events.events.k8s.io",
    "volumesnapshots.snapshot.storage.k8s.io",
];

/// How much of a namespace a backup (or a Schedule's template) holds.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Coverage {
    /// Every object of the namespace.
    Whole,
    /// Only some of it: the reason, to be shown. A partial backup cannot restore the
    /// namespace, so it never counts as its backup.
    Partial(String),
    /// None of it.
    Outside,
}

/// How much of `namespace` a backup with this spec holds. Velero's own filters decide:
/// namespace include/exclude lists, resource include/exclude lists (old and scoped forms)
/// and label selectors.
pub fn coverage(spec: &BackupSpec, namespace: &str) -> Coverage {
    if !includes(&spec.included_namespaces, namespace)
        || spec
            .excluded_namespaces
            .iter()
            .any(|n| n == "*" || n == namespace)
    {
        return Coverage::Outside;
    }
    let all = |list: &[String]| list.is_empty() || list.iter().any(|r| r == "*");
    let mut narrowed = Vec::new();
    if !all(&spec.included_resources) {
        narrowed.push(format!(
            "only resources {}",
            spec.included_resources.join(", ")
        ));
    }
    let scoped = spec.included_namespace_scoped_resources.as_deref();
    if let Some(list) = scoped.filter(|l| !all(l)) {
        narrowed.push(format!("only namespaced resources {}", list.join(", ")));
    }
    let excluded = spec
        .excluded_resources
        .iter()
        .chain(spec.excluded_namespace_scoped_resources.iter().flatten())
        .filter(|r| !HARMLESS_EXCLUSIONS.contains(&r.as_str()))
        .cloned()
        .collect::<Vec<_>>();
    if !excluded.is_empty() {
        narrowed.push(format!("excludes resources {}", excluded.join(", ")));
    }
    let selects = |s: &Option<serde_json::Value>| {
        s.as_ref().is_some_and(|v| match v {
            serde_json::Value::Null => false,
            serde_json::Value::Object(m) => !m.is_empty(),
            serde_json::Value::Array(a) => !a.is_empty(),
            _ => true,
        })
    };
    if selects(&spec.label_selector) || selects(&spec.or_label_selectors) {
        narrowed.push("only objects matching a label selector".into());
    }
    match narrowed.is_empty() {
        true => Coverage::Whole,
        false => Coverage::Partial(narrowed.join("; ")),
    }
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
