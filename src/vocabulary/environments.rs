//! Environments and identities as EnvironmentIsolation's checks and its admission policies
//! both read them.

use super::sandbox::is_restore_test_sandbox;
use super::selection::{CheckedSelector, LabelMatch};
use crate::snapshot::Snapshot;
use k8s_openapi::api::core::v1::Namespace;
use k8s_openapi::api::rbac::v1::PolicyRule;
use std::collections::{BTreeMap, BTreeSet};

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

/// A subject name as the checks compare it: ASCII-lowercased and trimmed of whitespace (CEL:
/// `lowerAscii().trim()`). RBAC matches names exactly, so a variant such as
/// `System:ServiceAccount:dev:ci ` grants the ServiceAccount nothing; it is judged like the
/// exact name all the same, because it can only be a mistake or an attempt.
pub fn normalized(name: &str) -> String {
    name.to_ascii_lowercase().trim().to_string()
}

/// The access domain of a namespace in no environment: it is an environment of its own. The
/// `:` keeps it apart from declared environment names, which are DNS labels.
pub fn own_environment(namespace: &str) -> String {
    format!("namespace:{namespace}")
}

/// How an allowed direction of access (`allowedBindings`) is written in the admission
/// policies: `from>to`.
pub fn allowance_key(from: &str, to: &str) -> String {
    format!("{from}>{to}")
}
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
#[derive(Clone, Debug, PartialEq)]
pub struct Environment {
    pub name: String,
    pub selector: CheckedSelector,
    pub production: bool,
}

/// Which environments claim which namespaces.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct EnvironmentMap {
    /// Every namespace at least one environment selects, with those environments in spec order.
    pub namespaces: BTreeMap<String, Vec<String>>,
    /// Every declared environment and whether it holds production data.
    pub production: BTreeMap<String, bool>,
    /// Existing namespaces in no environment that still count: non-production for production
    /// data, and each an environment of its own for access. Not excluded, not Terminating, not
    /// a restore-test sandbox.
    pub unassigned: BTreeSet<String>,
    /// Restore-test sandboxes: in no environment and never non-production (they receive
    /// production data by design), but an environment of their own for access.
    pub sandboxes: BTreeSet<String>,
    /// Namespaces no check judges: the excluded names (system, Velero, the operator's own,
    /// configured; existing or not) and the Terminating namespaces.
    pub out_of_scope: BTreeSet<String>,
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

    /// Not production, as production data sees it: in exactly one environment, and that one
    /// not production; or in no environment at all (existing or not yet created), unless it is
    /// out of scope (system namespaces and the like) or a restore-test sandbox.
    pub fn is_non_production(&self, namespace: &str) -> bool {
        if self.namespaces.contains_key(namespace) {
            return !self.is_production(namespace);
        }
        !self.out_of_scope.contains(namespace) && !self.sandboxes.contains(namespace)
    }

    /// The environments a namespace's identities belong to and that bindings in it grant in,
    /// as cross-environment access judges them: its environments; its own
    /// ([`own_environment`]) when it is in none; none when it is out of scope.
    pub fn access_environments(&self, namespace: &str) -> Vec<String> {
        match self.namespaces.get(namespace) {
            Some(envs) => envs.clone(),
            None if self.out_of_scope.contains(namespace) => Vec::new(),
            None => vec![own_environment(namespace)],
        }
    }

    /// Every existing namespace cross-environment access judges, sorted.
    pub fn access_namespaces(&self) -> Vec<String> {
        let mut all: BTreeSet<&String> = self.namespaces.keys().collect();
        all.extend(&self.unassigned);
        all.extend(&self.sandboxes);
        all.into_iter().cloned().collect()
    }

    /// Whether a binding in namespace `to` naming an identity of namespace `from` lets it act
    /// in another environment: `from` is judged, not `to` itself, and some environment of
    /// `from` differs from some environment of `to` with no allowance (`from>to` keys, see
    /// [`allowance_key`]) for that direction. A namespace two environments claim is judged
    /// by both.
    pub fn crosses(&self, from: &str, to: &str, allowed: &BTreeSet<String>) -> bool {
        if from == to {
            return false;
        }
        let targets = self.access_environments(to);
        self.access_environments(from).iter().any(|f| {
            targets
                .iter()
                .any(|t| f != t && !allowed.contains(&allowance_key(f, t)))
        })
    }

    /// A namespace's place for messages: `environment `dev`` or `namespace `x`, in no
    /// environment`.
    pub fn describe(&self, namespace: &str) -> String {
        match self.namespaces.get(namespace) {
            Some(envs) if envs.len() == 1 => format!("environment `{}`", envs[0]),
            Some(envs) => format!(
                "environments {}",
                envs.iter()
                    .map(|e| format!("`{e}`"))
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
            None => format!("namespace `{namespace}`, in no environment"),
        }
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
    environments_of_some(environments, snapshot, |_| true)
}

/// [`environments_of`] for the namespaces `kept` accepts only: every set of the map holds
/// those alone (the excluded names aside). What a pass over a few namespaces renders for
/// them, without matching every namespace's labels against every environment.
pub fn environments_of_some(
    environments: &[Environment],
    snapshot: &Snapshot,
    kept: impl Fn(&str) -> bool,
) -> EnvironmentMap {
    let mut map = EnvironmentMap {
        production: environments
            .iter()
            .map(|env| (env.name.clone(), env.production))
            .collect(),
        out_of_scope: snapshot.excluded.names().into_iter().collect(),
        ..EnvironmentMap::default()
    };
    for ns in &snapshot.namespaces {
        let Some(name) = ns.metadata.name.as_deref().filter(|name| kept(name)) else {
            continue;
        };
        map.place(environments, name, ns, snapshot);
    }
    map
}

impl EnvironmentMap {
    /// Puts the existing namespace `name` (`ns`) where [`environments_of`] would: out of
    /// scope, a sandbox, in its environments, or unassigned.
    fn place(
        &mut self,
        environments: &[Environment],
        name: &str,
        ns: &Namespace,
        snapshot: &Snapshot,
    ) {
        static NO_LABELS: BTreeMap<String, String> = BTreeMap::new();
        if snapshot.namespace_out_of_scope(ns).is_some() {
            self.out_of_scope.insert(name.to_string());
            return;
        }
        if is_restore_test_sandbox(&ns.metadata, snapshot) {
            self.sandboxes.insert(name.to_string());
            return;
        }
        let labels = ns.metadata.labels.as_ref().unwrap_or(&NO_LABELS);
        let envs: Vec<String> = environments
            .iter()
            .filter(|env| env.selector.selects(labels))
            .map(|env| env.name.clone())
            .collect();
        if envs.is_empty() {
            self.unassigned.insert(name.to_string());
        } else {
            self.namespaces.insert(name.to_string(), envs);
        }
    }

    /// The map after the Namespace `name` changed to `now` (None: gone), the rest of
    /// `snapshot` (exclusions, BackupPolicies) as it was when the map was made: the
    /// incremental engine's update, equal to [`environments_of`] over the changed snapshot.
    pub fn namespace_changed(
        &mut self,
        environments: &[Environment],
        name: &str,
        now: Option<&Namespace>,
        snapshot: &Snapshot,
    ) {
        self.namespaces.remove(name);
        self.unassigned.remove(name);
        self.sandboxes.remove(name);
        // Excluded names are out of scope whether or not they exist.
        if snapshot.excluded.reason(name).is_none() {
            self.out_of_scope.remove(name);
        }
        if let Some(ns) = now {
            self.place(environments, name, ns, snapshot);
        }
    }
}
