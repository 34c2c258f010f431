//! Wildcard roles, as the `least-privilege` check and its admission policy both judge them.

use crate::snapshot::Snapshot;
use k8s_openapi::api::rbac::v1::PolicyRule;

/// Whether any rule grants every verb or every resource.
pub fn has_wildcard(rules: Option<&[PolicyRule]>) -> bool {
    rules.unwrap_or_default().iter().any(|rule| {
        rule.verbs.iter().any(|v| v == "*") || rule.resources.iter().flatten().any(|r| r == "*")
    })
}

/// ClusterRoles and `namespace/Role`s with wildcard rules, for admission.
pub fn wildcard_role_names(snapshot: &Snapshot) -> (Vec<String>, Vec<String>) {
    let mut cluster: Vec<String> = snapshot
        .cluster_roles
        .iter()
        .filter(|r| has_wildcard(r.rules.as_deref()))
        .filter_map(|r| r.metadata.name.clone())
        .collect();
    let mut namespaced: Vec<String> = snapshot
        .roles
        .iter()
        .filter(|r| has_wildcard(r.rules.as_deref()))
        .filter_map(|r| {
            Some(format!(
                "{}/{}",
                r.metadata.namespace.as_deref()?,
                r.metadata.name.as_deref()?
            ))
        })
        .collect();
    cluster.sort();
    namespaced.sort();
    (cluster, namespaced)
}
