//! `backup-encryption`: the policy's BackupStorageLocation turns on encryption at rest.

use crate::api::BackupPolicySpec;
use crate::catalog::ControlId;
use crate::evaluate::{ControlOutcome, ObjectRef, Violation};
use crate::velero::BackupStorageLocationSpec;
use crate::vocabulary::velero_view::VeleroView;

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

pub(super) fn backup_encryption(spec: &BackupPolicySpec, velero: &VeleroView) -> ControlOutcome {
    let id = ControlId::BackupEncryption;
    if !spec.require_encryption {
        return ControlOutcome::not_applicable(id);
    }
    let name = spec.storage_location();
    let qualified_name = format!("{}/{name}", velero.namespace);
    let violation = match velero.storage_location(name) {
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
    };
    ControlOutcome::checked(id, 1, violation.into_iter().collect())
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
