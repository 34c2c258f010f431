//! Environments and identities as EnvironmentIsolation's checks and its admission policies
//! both read them.

use super::sandbox::is_restore_test_sandbox;
use crate::snapshot::Snapshot;
use k8s_openapi::api::rbac::v1::PolicyRule;
use kube::core::{Selector, SelectorExt};
use std::collections::BTreeMap;

/// The owned NetworkPolicy that isolates each namespace of an environment.
pub fn isolation_policy_name(cr_name: &str) -> String {
    format!("ei-{cr_name}-isolation")
}

/// The user-name prefix of ServiceAccounts (`system:serviceaccount:<namespace>:<name>`).
pub const SERVICE_ACCOUNT_USER_PREFIX: &str = "system:serviceaccount:";
/// The group of every ServiceAccount of one namespace (`system:serviceaccounts:<namespace>`).
pub const SERVICE_ACCOUNTS_GROUP_PREFIX: &str = "system:serviceaccounts:";
/// The group of every ServiceAccount of every namespace.
pub const ALL_SERVICE_ACCOUNTS_GROUP: &str = "system:serviceaccounts";
/// The group of every authenticated identity.
pub const AUTHENTICATED_GROUP: &str = "system:authenticated";
/// Resources Kubernetes makes available to every identity on purpose, with the verbs that
/// keep them harmless: asking about one's own access, and reading the public trust bundles.
/// (The default bindings of `system:authenticated` and `system:serviceaccounts` grant these.)
const PUBLIC_RESOURCES: &[(&str, &str, &[&str])] = &[
    (
        "authorization.k8s.io",
        "selfsubjectaccessreviews",
        &["create"],
    ),
    (
        "authorization.k8s.io",
        "selfsubjectrulesreviews",
        &["create"],
    ),
    ("authentication.k8s.io", "selfsubjectreviews", &["create"]),
    (
        "certificates.k8s.io",
        "clustertrustbundles",
        &["get", "list", "watch"],
    ),
];

/// Whether rules grant nothing that acts in a namespace: only non-resource URLs (never
/// namespaced) and [`PUBLIC_RESOURCES`]. Bindings of such roles are left out of
/// cross-environment access, so that Kubernetes' own bindings of `system:authenticated` and
/// `system:serviceaccounts` to discovery, self-review and trust-bundle roles are not findings
/// in every cluster (nor blocked from being reconciled by the API server).
pub fn grants_nothing_in_namespaces(rules: Option<&[PolicyRule]>) -> bool {
    rules.unwrap_or_default().iter().all(|rule| {
        let resources = rule.resources.as_deref().unwrap_or_default();
        let groups = rule.api_groups.as_deref().unwrap_or_default();
        resources.is_empty()
            || groups.iter().all(|group| {
                resources.iter().all(|resource| {
                    PUBLIC_RESOURCES.iter().any(|(g, r, verbs)| {
                        g == group
                            && r == resource
                            && rule.verbs.iter().all(|v| verbs.contains(&v.as_str()))
                    })
                })
            })
    })
}

/// The ClusterRoles in the cluster that grant nothing in namespaces, sorted.
pub fn cluster_roles_granting_nothing_in_namespaces(snapshot: &Snapshot) -> Vec<String> {
    let mut names: Vec<String> = snapshot
        .cluster_roles
        .iter()
        .filter(|r| grants_nothing_in_namespaces(r.rules.as_deref()))
        .filter_map(|r| r.metadata.name.clone())
        .collect();
    names.sort();
    names
}

/// One declared environment, its namespace selector compiled (see
/// [`crate::validate::environment_isolation`]).
#[derive(Clone, Debug)]
pub struct Environment {
    pub name: String,
    pub selector: Selector,
    pub production: bool,
}

/// Which environments claim which namespaces.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct EnvironmentMap {
    /// Every namespace at least one environment selects, with those environments in spec order.
    pub namespaces: BTreeMap<String, Vec<String>>,
    /// Every declared environment and whether it holds production data.
    pub production: BTreeMap<String, bool>,
}

impl EnvironmentMap {
    /// The environments claiming `namespace`, in spec order (empty for non-members).
    pub fn environments(&self, namespace: &str) -> &[String] {
        self.namespaces.get(namespace).map_or(&[], Vec::as_slice)
    }

    /// Claimed by more than one environment: a segregation finding.
    pub fn is_ambiguous(&self, namespace: &str) -> bool {
        self.environments(namespace).len() > 1
    }

    /// In a production environment, or ambiguous (treated as production, the safer side).
    pub fn is_production(&self, namespace: &str) -> bool {
        let envs = self.environments(namespace);
        envs.len() > 1 || envs.iter().any(|e| self.production.get(e) == Some(&true))
    }

    /// In exactly one environment, and that one is not production.
    pub fn is_non_production(&self, namespace: &str) -> bool {
        !self.environments(namespace).is_empty() && !self.is_production(namespace)
    }

    /// Every namespace of any environment, sorted.
    pub fn members(&self) -> Vec<String> {
        self.namespaces.keys().cloned().collect()
    }

    pub fn production_namespaces(&self) -> Vec<String> {
        self.members_where(|ns| self.is_production(ns))
    }

    pub fn non_production_namespaces(&self) -> Vec<String> {
        self.members_where(|ns| self.is_non_production(ns))
    }

    fn members_where(&self, keep: impl Fn(&str) -> bool) -> Vec<String> {
        self.namespaces
            .keys()
            .filter(|ns| keep(ns))
            .cloned()
            .collect()
    }

    /// Whether two namespaces share an environment (then traffic between them is not a path
    /// between environments).
    pub fn share_environment(&self, a: &str, b: &str) -> bool {
        let b = self.environments(b);
        self.environments(a).iter().any(|e| b.contains(e))
    }
}

/// Resolves environment membership from the namespaces' labels. A restore-test sandbox the
/// operator created belongs to no environment, whatever its labels
/// ([`is_restore_test_sandbox`]).
pub fn environments_of(environments: &[Environment], snapshot: &Snapshot) -> EnvironmentMap {
    static NO_LABELS: BTreeMap<String, String> = BTreeMap::new();
    let mut namespaces = BTreeMap::new();
    for ns in &snapshot.namespaces {
        let Some(name) = ns.metadata.name.as_deref() else {
            continue;
        };
        if is_restore_test_sandbox(&ns.metadata, snapshot) || snapshot.out_of_scope(name).is_some()
        {
            continue;
        }
        let labels = ns.metadata.labels.as_ref().unwrap_or(&NO_LABELS);
        let envs: Vec<String> = environments
            .iter()
            .filter(|env| env.selector.matches(labels))
            .map(|env| env.name.clone())
            .collect();
        if !envs.is_empty() {
            namespaces.insert(name.to_string(), envs);
        }
    }
    let production = environments
        .iter()
        .map(|env| (env.name.clone(), env.production))
        .collect();
    EnvironmentMap {
        namespaces,
        production,
    }
}
