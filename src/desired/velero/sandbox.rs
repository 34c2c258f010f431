//! The quarantined sandbox a restore test restores into: a labelled namespace and a deny-all
//! NetworkPolicy.

use super::policy_labels;
use crate::desired::{DesiredObject, Owner};
use crate::vocabulary::labels::{
    RESTORE_TEST_LABEL, RESTORE_TEST_POLICY_UID, RESTORE_TEST_PREFIX, RESTORE_TEST_SOURCE_LABEL,
};
use k8s_openapi::api::core::v1::Namespace;
use k8s_openapi::api::networking::v1::{NetworkPolicy, NetworkPolicySpec};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::LabelSelector;
use std::collections::BTreeMap;

/// The deny-all NetworkPolicy in every sandbox; one per namespace, so a fixed name suffices.
pub const SANDBOX_DENY_ALL: &str = "restore-test-deny-all";
const DNS_LABEL_MAX: usize = 63;

/// `restore-test-<policy>-<source>`; when that exceeds a namespace name's 63 characters it is
/// cut and suffixed with a hash of the full name, so two long sources never share a sandbox.
pub fn sandbox_name(policy: &str, source: &str) -> String {
    let full = format!("{RESTORE_TEST_PREFIX}{policy}-{source}");
    if full.len() <= DNS_LABEL_MAX {
        return full;
    }
    let suffix = format!("{:08x}", fnv1a(full.as_bytes()));
    let keep = DNS_LABEL_MAX - suffix.len() - 1;
    let head = full[..keep].trim_end_matches(|c: char| !c.is_ascii_alphanumeric());
    format!("{head}-{suffix}")
}

/// Stable across processes and releases, unlike std's hasher; not for security.
fn fnv1a(bytes: &[u8]) -> u32 {
    bytes.iter().fold(0x811c_9dc5, |hash, byte| {
        (hash ^ u32::from(*byte)).wrapping_mul(0x0100_0193)
    })
}

fn sandbox_labels(policy: &str, source: &str) -> BTreeMap<String, String> {
    let mut labels = policy_labels(policy);
    labels.insert(RESTORE_TEST_LABEL.into(), "true".into());
    labels.insert(RESTORE_TEST_SOURCE_LABEL.into(), source.into());
    labels
}

/// The quarantined sandbox: a namespace EnvironmentIsolation recognises as a restore test
/// (name prefix, label and the policy's uid in an annotation: see
/// [`is_restore_test_sandbox`](crate::vocabulary::sandbox::is_restore_test_sandbox)), and a NetworkPolicy denying all traffic to and from its pods.
pub fn sandbox_objects(
    owner: &Owner,
    policy_name: &str,
    source: &str,
    sandbox: &str,
) -> Vec<DesiredObject> {
    let labels = sandbox_labels(policy_name, source);
    let namespace = DesiredObject::typed(owner, None, sandbox.to_string(), Namespace::default());
    let namespace = namespace
        .with_labels(&labels)
        .with_annotation(RESTORE_TEST_POLICY_UID, &owner.uid);
    let deny_all = DesiredObject::typed(
        owner,
        Some(sandbox),
        SANDBOX_DENY_ALL.to_string(),
        NetworkPolicy {
            spec: Some(NetworkPolicySpec {
                pod_selector: Some(LabelSelector::default()),
                policy_types: Some(vec!["Ingress".into(), "Egress".into()]),
                ..NetworkPolicySpec::default()
            }),
            ..NetworkPolicy::default()
        },
    );
    vec![namespace, deny_all.with_labels(&labels)]
}
