//! Velero's objects as the BackupPolicy controls and the restore-test planner read them: only
//! those in the namespace Velero runs in (Velero ignores them anywhere else).

use super::labels::POLICY_LABEL;
use crate::snapshot::Snapshot;
use crate::velero::{Backup, BackupSpec, BackupStorageLocation, Restore, Schedule};
use jiff::Timestamp;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use std::collections::HashSet;

const COMPLETED: &str = "Completed";

/// Velero's objects in the namespace Velero runs in, each Schedule and Backup with its
/// [`Reach`] compiled once: a policy's own Schedule lists every namespace it selects, so
/// asking each namespace's coverage of the raw lists walked that list once per namespace
/// (quadratic in the namespace count: the larger part of a BackupPolicy pass at 3,200).
pub struct VeleroView<'a> {
    pub snapshot: &'a Snapshot,
    pub namespace: &'a str,
    schedules: Vec<(&'a Schedule, Reach<'a>)>,
    backups: Vec<(&'a Backup, Reach<'a>)>,
}

impl<'a> VeleroView<'a> {
    /// `namespace`: the one Velero runs in (the policy's `velero.namespace`).
    pub fn new(snapshot: &'a Snapshot, namespace: &'a str) -> Self {
        let here = |meta: &ObjectMeta| meta.namespace.as_deref() == Some(namespace);
        let schedules = snapshot
            .velero
            .schedules
            .iter()
            .map(AsRef::as_ref)
            .filter(|s: &&Schedule| here(&s.metadata))
            .map(|s| (s, Reach::of(&s.spec.template)))
            .collect();
        let backups = snapshot
            .velero
            .backups
            .iter()
            .map(AsRef::as_ref)
            .filter(|b: &&Backup| here(&b.metadata))
            .map(|b| (b, Reach::of(&b.spec)))
            .collect();
        Self {
            snapshot,
            namespace,
            schedules,
            backups,
        }
    }

    fn here(&self, meta: &ObjectMeta) -> bool {
        meta.namespace.as_deref() == Some(self.namespace)
    }

    pub fn schedules(&self) -> impl Iterator<Item = &'a Schedule> + '_ {
        self.schedules.iter().map(|(s, _)| *s)
    }

    /// The Schedules with what their template holds.
    pub fn schedule_reaches(&self) -> impl Iterator<Item = (&'a Schedule, &Reach<'a>)> + '_ {
        self.schedules.iter().map(|(s, reach)| (*s, reach))
    }

    pub fn backups(&self) -> impl Iterator<Item = &'a Backup> + '_ {
        self.backups.iter().map(|(b, _)| *b)
    }

    /// The Backups with what each holds.
    pub fn backup_reaches(&self) -> impl Iterator<Item = (&'a Backup, &Reach<'a>)> + '_ {
        self.backups.iter().map(|(b, reach)| (*b, reach))
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
    /// time. Of two completed at the same instant, the one whose name sorts last: never the
    /// order the API listed them in, so that evidence does not change with a relist.
    pub fn newest_completed_backup(&self, namespace: &str) -> Option<(&'a Backup, Timestamp)> {
        self.backup_reaches()
            .filter(|(_, reach)| reach.coverage(namespace) == Coverage::Whole)
            .filter_map(|(b, _)| Some((b, completed_at(b)?)))
            .max_by(|(a, at_a), (b, at_b)| {
                at_a.cmp(at_b)
                    .then_with(|| a.metadata.name.cmp(&b.metadata.name))
            })
    }
}

/// Which namespaces a backup (or a Schedule's template) holds, and how much of each, read
/// once from its spec: the namespace lists as sets, and what narrows it (the same for every
/// namespace it holds).
#[derive(Debug)]
pub struct Reach<'a> {
    /// `None`: every namespace (an empty list, or `*`).
    included: Option<HashSet<&'a str>>,
    /// `None`: no namespace (`*` excluded).
    excluded: Option<HashSet<&'a str>>,
    /// Whole, or Partial with why: what a namespace it holds gets.
    narrowed: Coverage,
}

impl<'a> Reach<'a> {
    pub fn of(spec: &'a BackupSpec) -> Self {
        let set = |list: &'a [String]| -> Option<HashSet<&'a str>> {
            match list.iter().any(|n| n == "*") {
                true => None,
                false => Some(list.iter().map(String::as_str).collect()),
            }
        };
        let included = match spec.included_namespaces.is_empty() {
            true => None,
            false => set(&spec.included_namespaces),
        };
        Self {
            included,
            excluded: set(&spec.excluded_namespaces),
            narrowed: narrowed(spec),
        }
    }

    /// Whether the include list names `namespace` (see [`includes`]); the exclude list is not
    /// read.
    pub fn includes(&self, namespace: &str) -> bool {
        self.included
            .as_ref()
            .is_none_or(|names| names.contains(namespace))
    }

    /// Whether the include list names any of `namespaces`.
    pub fn includes_any(&self, namespaces: &HashSet<&str>) -> bool {
        match &self.included {
            None => !namespaces.is_empty(),
            Some(names) => names.iter().any(|n| namespaces.contains(n)),
        }
    }

    /// How much of `namespace` it holds (see [`coverage`]).
    pub fn coverage(&self, namespace: &str) -> Coverage {
        let excluded = self
            .excluded
            .as_ref()
            .is_none_or(|names| names.contains(namespace));
        match self.includes(namespace) && !excluded {
            true => self.narrowed.clone(),
            false => Coverage::Outside,
        }
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
/// and label selectors. (Asking for many namespaces: compile a [`Reach`] once.)
pub fn coverage(spec: &BackupSpec, namespace: &str) -> Coverage {
    Reach::of(spec).coverage(namespace)
}

/// What narrows a backup to less than a whole namespace, whichever namespace: Whole when
/// nothing does.
fn narrowed(spec: &BackupSpec) -> Coverage {
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

#[cfg(test)]
#[path = "velero_view_tests.rs"]
mod tests;
