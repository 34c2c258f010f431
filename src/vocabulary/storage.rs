//! Which StorageClasses count as encrypted and which one a claim gets by default: read by
//! the `encryption-at-rest` check and rendered into its admission policy.

use crate::api::security_baseline::AtRestSpec;
use crate::snapshot::Snapshot;
use k8s_openapi::api::storage::v1::StorageClass;

/// The StorageClass a PersistentVolumeClaim without `storageClassName` gets: the one annotated
/// as the cluster default. Admission lets such a claim in when this class is encrypted, as the
/// DefaultStorageClass admission plugin (or, later, the PV controller) gives it this class.
pub fn default_class_name(snapshot: &Snapshot) -> Option<String> {
    // With several defaults, the newest wins, and among those created in the same second the
    // first by name, as the DefaultStorageClass admission plugin picks: never the order the
    // classes happened to be listed in.
    snapshot
        .storage_classes
        .iter()
        .filter(|c| {
            c.metadata
                .annotations
                .as_ref()
                .and_then(|a| a.get("storageclass.kubernetes.io/is-default-class"))
                .is_some_and(|v| v == "true")
        })
        .min_by(|a, b| {
            let created = |c: &StorageClass| c.metadata.creation_timestamp.as_ref().map(|t| t.0);
            created(b)
                .cmp(&created(a))
                .then_with(|| a.metadata.name.cmp(&b.metadata.name))
        })
        .and_then(|c| c.metadata.name.clone())
}

/// Whether `class` carries the parameter the baseline names as turning on encryption.
pub fn encrypting_parameter(spec: &AtRestSpec, class: &StorageClass) -> bool {
    spec.storage_class_parameter.as_ref().is_some_and(|kv| {
        class
            .parameters
            .as_ref()
            .and_then(|p| p.get(&kv.key))
            .is_some_and(|v| v == &kv.value)
    })
}

/// The StorageClasses the baseline counts as encrypted (listed or carrying the parameter).
pub fn encrypted_class_names(spec: &AtRestSpec, snapshot: &Snapshot) -> Vec<String> {
    let mut names = spec.encrypted_storage_classes.clone();
    names.extend(
        snapshot
            .storage_classes
            .iter()
            .filter(|c| encrypting_parameter(spec, c))
            .filter_map(|c| c.metadata.name.clone()),
    );
    names.sort();
    names.dedup();
    names
}
