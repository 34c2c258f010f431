//! Pod Security Admission labels for `workload-hardening`.

use crate::api::security_baseline::PodSecuritySpec;
use std::collections::BTreeMap;

/// The labels a selected namespace carries in Enforce mode: enforce, warn and audit at the
/// baseline's level and version.
pub fn labels(spec: &PodSecuritySpec) -> BTreeMap<String, String> {
    let mut labels = BTreeMap::new();
    for mode in ["enforce", "warn", "audit"] {
        labels.insert(
            format!("pod-security.kubernetes.io/{mode}"),
            spec.level.as_str().to_string(),
        );
        labels.insert(
            format!("pod-security.kubernetes.io/{mode}-version"),
            spec.version().to_string(),
        );
    }
    labels
}
