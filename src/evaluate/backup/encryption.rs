//! `backup-encryption`: every BackupStorageLocation the policy's backups really use turns on
//! encryption at rest.

use crate::catalog::ControlId;
use crate::evaluate::{ControlOutcome, ObjectRef, Violation};
use crate::validate::backup_policy::ValidBackupPolicy;
use crate::velero::BackupStorageLocationSpec;
use crate::vocabulary::velero_view::{Reach, VeleroView, belongs_to_policy};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use std::collections::{BTreeSet, HashSet};

/// BackupStorageLocation `config` keys that turn on encryption, by object-store provider
/// (`velero.io/` prefix stripped). Only key presence is read: values are never printed.
pub const ENCRYPTION_KEYS: &[(&str, &[&str])] = &[
    (
        "aws",
        &[
            "kmsKeyId",
            "serverSideEncryption",
            "customerKeyEncryptionFile",
        ],
    ),
    ("gcp", &["kmsKeyName"]),
    ("azure", &["encryptionScope", "customerKeyEncryptionFile"]),
];
/// Accepted from any provider, so S3-compatible or third-party plugins using the common
/// names are not reported as unencrypted.
pub const GENERIC_ENCRYPTION_KEYS: &[&str] = &[
    "kmsKeyId",
    "kmsKeyName",
    "serverSideEncryption",
    "encryptionScope",
];

pub(super) fn backup_encryption(
    name: &str,
    spec: &ValidBackupPolicy,
    velero: &VeleroView,
    namespaces: &[String],
) -> ControlOutcome {
    let id = ControlId::BackupEncryption;
    if !spec.require_encryption {
        return ControlOutcome::not_applicable(id);
    }
    let locations = locations_in_use(name, spec, velero, namespaces);
    let snapshot_locations = snapshot_locations_in_use(name, velero, namespaces);
    let mut violations: Vec<Violation> = locations
        .iter()
        .filter_map(|location| location_violation(velero, location))
        .collect();
    violations.extend(
        snapshot_locations
            .iter()
            .filter_map(|location| snapshot_location_violation(velero, location)),
    );
    ControlOutcome::checked(id, locations.len() + snapshot_locations.len(), violations)
}

/// The VolumeSnapshotLocations backups of the policy's namespaces really took volume
/// snapshots in. Resource-only backups (no snapshot attempted) put no volume data anywhere.
fn snapshot_locations_in_use(
    name: &str,
    velero: &VeleroView,
    namespaces: &[String],
) -> BTreeSet<String> {
    let selected: HashSet<&str> = namespaces.iter().map(String::as_str).collect();
    velero
        .backup_reaches()
        .filter(|(b, reach)| belongs_to_policy(&b.metadata, name) || reach.includes_any(&selected))
        .map(|(b, _)| b)
        .filter(|b| {
            let status = b.status.as_ref();
            status
                .and_then(|s| s.volume_snapshots_attempted)
                .unwrap_or(0)
                > 0
        })
        .flat_map(|b| b.spec.volume_snapshot_locations.iter().flatten().cloned())
        .collect()
}

/// Snapshot locations rarely carry an encryption setting of their own (a cloud snapshot
/// inherits its volume's): unless the location shows one, encryption is not proven, and an
/// unproven check never passes.
fn snapshot_location_violation(velero: &VeleroView, name: &str) -> Option<Violation> {
    let qualified_name = format!("{}/{name}", velero.namespace);
    let location = velero.snapshot.velero.snapshot_locations.iter().find(|l| {
        l.metadata.namespace.as_deref() == Some(velero.namespace)
            && l.metadata.name.as_deref() == Some(name)
    });
    let object = ObjectRef {
        kind: "VolumeSnapshotLocation".into(),
        namespace: Some(velero.namespace.to_string()),
        name: name.to_string(),
        ..ObjectRef::default()
    };
    match location {
        None => Some(Violation::new(
            object,
            format!(
                "VolumeSnapshotLocation {qualified_name}, where backups took volume snapshots, does not exist"
            ),
        )),
        Some(location) => {
            let keys = encryption_keys(&location.spec.provider);
            let set = keys.iter().any(|key| {
                location
                    .spec
                    .config
                    .get(*key)
                    .is_some_and(|v| !v.trim().is_empty())
            });
            (!set).then(|| {
                Violation::new(
                    object,
                    format!(
                        "volume snapshots in VolumeSnapshotLocation {qualified_name} (provider `{}`) are not shown to be encrypted: it sets none of {}",
                        location.spec.provider,
                        keys.join(", ")
                    ),
                )
            })
        }
    }
}

/// Where the policy's backups really go, not only where the policy says they should: the
/// location it names, the one each Schedule covering it writes to, and the one each Backup
/// holding a selected namespace went to. (An unset location is Velero's default one.)
fn locations_in_use(
    name: &str,
    spec: &ValidBackupPolicy,
    velero: &VeleroView,
    namespaces: &[String],
) -> BTreeSet<String> {
    let selected: HashSet<&str> = namespaces.iter().map(String::as_str).collect();
    let holds = |meta: &ObjectMeta, reach: &Reach| {
        belongs_to_policy(meta, name) || reach.includes_any(&selected)
    };
    let default = velero.default_storage_location();
    let resolve = |location: &Option<String>| {
        location
            .clone()
            .filter(|l| !l.is_empty())
            .unwrap_or_else(|| default.clone())
    };
    let mut used = BTreeSet::from([spec.storage_location.clone()]);
    for (schedule, reach) in velero.schedule_reaches() {
        if holds(&schedule.metadata, reach) {
            used.insert(resolve(&schedule.spec.template.storage_location));
        }
    }
    for (backup, reach) in velero.backup_reaches() {
        if holds(&backup.metadata, reach) {
            used.insert(resolve(&backup.spec.storage_location));
        }
    }
    used
}

fn location_violation(velero: &VeleroView, name: &str) -> Option<Violation> {
    let qualified_name = format!("{}/{name}", velero.namespace);
    match velero.storage_location(name) {
        None => Some(Violation::new(
            ObjectRef {
                kind: "BackupStorageLocation".into(),
                namespace: Some(velero.namespace.to_string()),
                name: name.to_string(),
                ..ObjectRef::default()
            },
            format!("BackupStorageLocation {qualified_name} does not exist"),
        )),
        Some(location) if !is_encrypted(&location.spec) => Some(Violation::new(
            ObjectRef::of("BackupStorageLocation", &location.metadata),
            format!(
                "BackupStorageLocation {qualified_name} (provider `{}`) sets none of {}",
                location.spec.provider,
                encryption_keys(&location.spec.provider).join(", ")
            ),
        )),
        Some(_) => None,
    }
}

/// The config keys that count as encryption for `provider`, its own first.
pub fn encryption_keys(provider: &str) -> Vec<&'static str> {
    let short = provider.trim().trim_start_matches("velero.io/");
    let own = ENCRYPTION_KEYS
        .iter()
        .filter(|(p, _)| p.eq_ignore_ascii_case(short))
        .flat_map(|(_, keys)| keys.iter().copied());
    let mut keys: Vec<&'static str> = Vec::new();
    for key in own.chain(GENERIC_ENCRYPTION_KEYS.iter().copied()) {
        if !keys.contains(&key) {
            keys.push(key);
        }
    }
    keys
}

/// Whether the location sets (to anything non-empty) a key that turns on encryption.
pub fn is_encrypted(location: &BackupStorageLocationSpec) -> bool {
    encryption_keys(&location.provider).iter().any(|key| {
        location
            .config
            .get(*key)
            .is_some_and(|v| !v.trim().is_empty())
    })
}
