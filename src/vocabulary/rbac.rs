//! Roles judged on their rules, not their names, as the `least-privilege` check and its
//! admission policy both judge them: what a rule grants that only a forbidden role should,
//! Secret read, and an aggregated ClusterRole's rules.

use super::environments::{
    ALL_SERVICE_ACCOUNTS_GROUP, AUTHENTICATED_GROUP, SERVICE_ACCOUNT_USER_PREFIX,
    SERVICE_ACCOUNTS_GROUP_PREFIX, normalized,
};
use crate::api::security_baseline::AccessSpec;
use crate::snapshot::Snapshot;
use k8s_openapi::api::rbac::v1::{ClusterRole, PolicyRule, Subject};
use kube::core::{Selector, SelectorExt};
use std::collections::BTreeSet;

/// Verbs that let their holder grant or assume more than it has: `escalate` (write roles
/// beyond one's own rights), `bind` (bind any role), `impersonate` (act as anyone).
pub const ESCALATING_VERBS: &[&str] = &["escalate", "bind", "impersonate"];

/// Roles are judged on their rules whenever the spec forbids roles at all: a role granting
/// what `cluster-admin` grants is as forbidden under any other name.
pub fn judged_on_rules(spec: &AccessSpec) -> bool {
    spec.forbid_wildcard_roles || !spec.forbidden_roles.is_empty()
}

/// The group of every unauthenticated request.
pub const UNAUTHENTICATED_GROUP: &str = "system:unauthenticated";

/// Where a role's rules take effect: in one namespace (a Role, or a ClusterRole bound by a
/// RoleBinding) or in every namespace (a ClusterRole bound by a ClusterRoleBinding).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum GrantScope {
    Namespace,
    Cluster,
}

/// Whether `rule` impersonates ServiceAccounts and nothing else (core group, resource
/// `serviceaccounts` only).
fn impersonates_only_service_accounts(rule: &PolicyRule) -> bool {
    let only = |items: &Option<Vec<String>>, wanted: &str| {
        items
            .as_deref()
            .is_some_and(|i| !i.is_empty() && i.iter().all(|x| x == wanted))
    };
    only(&rule.api_groups, "") && only(&rule.resources, "serviceaccounts")
}

/// What one rule grants that only a forbidden role should: every verb, resource or API group
/// (`*`), an escalating verb ([`ESCALATING_VERBS`]), or every non-resource URL (`*`, `/*`).
///
/// One exception, in a namespace only: `impersonate` on ServiceAccounts and nothing else (as
/// the built-in `edit` and `admin` grant it). Bound in one namespace it lets its holder act as
/// that namespace's ServiceAccounts, which whoever may create a pod there (or a token,
/// `serviceaccounts/token`) already can; flagging it would flag every namespace editor and
/// hide the findings that matter. Cluster-wide it reaches `kube-system`'s ServiceAccounts,
/// and is forbidden.
pub fn forbidden_grant(rule: &PolicyRule, scope: GrantScope) -> Option<String> {
    let has = |items: &Option<Vec<String>>, wanted: &[&str]| {
        items
            .iter()
            .flatten()
            .find(|i| wanted.contains(&i.as_str()))
            .cloned()
    };
    if rule.verbs.iter().any(|v| v == "*") {
        return Some("every verb (`*`)".into());
    }
    let bounded_impersonation =
        scope == GrantScope::Namespace && impersonates_only_service_accounts(rule);
    if let Some(verb) = rule.verbs.iter().find(|v| {
        ESCALATING_VERBS.contains(&v.as_str()) && !(bounded_impersonation && *v == "impersonate")
    }) {
        return Some(format!("the `{verb}` verb"));
    }
    if has(&rule.resources, &["*"]).is_some() {
        return Some("every resource (`*`)".into());
    }
    if has(&rule.api_groups, &["*"]).is_some() {
        return Some("every API group (`*`)".into());
    }
    has(&rule.non_resource_urls, &["*", "/*"])
        .map(|url| format!("every non-resource URL (`{url}`)"))
}

/// The first forbidden grant among `rules` in `scope`, if any.
pub fn forbidden_grant_of(rules: &[PolicyRule], scope: GrantScope) -> Option<String> {
    rules.iter().find_map(|rule| forbidden_grant(rule, scope))
}

/// Whether `rules` let their holder read Secrets (`get`, `list` or `watch` on `secrets` in
/// the core group, wildcards included).
pub fn reads_secrets(rules: &[PolicyRule]) -> bool {
    rules.iter().any(|rule| {
        let any = |items: &Option<Vec<String>>, wanted: &str| {
            items.iter().flatten().any(|i| i == wanted || i == "*")
        };
        any(&rule.api_groups, "")
            && any(&rule.resources, "secrets")
            && rule
                .verbs
                .iter()
                .any(|v| ["get", "list", "watch", "*"].contains(&v.as_str()))
    })
}

/// A ClusterRole's rules as RBAC applies them: its own, and for an aggregated ClusterRole
/// (`aggregationRule`) also those of every ClusterRole its selectors pick, recursively, so
/// that a role is judged on what it grants even before (or despite) the aggregation
/// controller filling in its rules.
pub fn cluster_role_rules(role: &ClusterRole, snapshot: &Snapshot) -> Vec<PolicyRule> {
    let mut seen = BTreeSet::new();
    let mut rules = Vec::new();
    collect_rules(role, snapshot, &mut seen, &mut rules);
    rules
}

fn collect_rules(
    role: &ClusterRole,
    snapshot: &Snapshot,
    seen: &mut BTreeSet<String>,
    rules: &mut Vec<PolicyRule>,
) {
    let name = role.metadata.name.clone().unwrap_or_default();
    if !seen.insert(name) {
        return;
    }
    rules.extend(role.rules.iter().flatten().cloned());
    let selectors = role
        .aggregation_rule
        .iter()
        .flat_map(|a| a.cluster_role_selectors.iter().flatten());
    for selector in selectors {
        // A selector kube cannot parse picks nothing, as the aggregation controller's does.
        let Ok(selector) = Selector::try_from(selector.clone()) else {
            continue;
        };
        static NO_LABELS: std::collections::BTreeMap<String, String> =
            std::collections::BTreeMap::new();
        for other in &snapshot.cluster_roles {
            let labels = other.metadata.labels.as_ref().unwrap_or(&NO_LABELS);
            if selector.matches(labels) {
                collect_rules(other, snapshot, seen, rules);
            }
        }
    }
}

/// The rules of the role a binding names (`kind` `ClusterRole` or `Role`, the latter in
/// `namespace`); `None` when the role is not in the snapshot.
pub fn role_rules(
    kind: &str,
    name: &str,
    namespace: Option<&str>,
    snapshot: &Snapshot,
) -> Option<Vec<PolicyRule>> {
    match kind {
        "ClusterRole" => snapshot
            .cluster_roles
            .iter()
            .find(|r| r.metadata.name.as_deref() == Some(name))
            .map(|r| cluster_role_rules(r, snapshot)),
        "Role" => snapshot
            .roles
            .iter()
            .find(|r| {
                r.metadata.name.as_deref() == Some(name)
                    && r.metadata.namespace.as_deref() == namespace
            })
            .map(|r| r.rules.clone().unwrap_or_default()),
        _ => None,
    }
}

/// The namespace whose ServiceAccount(s) a subject names, in any subject form (names
/// compared [`normalized`]): a ServiceAccount subject with a namespace, the user
/// `system:serviceaccount:<namespace>:<name>`, the group `system:serviceaccounts:<namespace>`.
pub fn service_account_namespace(subject: &Subject) -> Option<String> {
    let name = normalized(&subject.name);
    match subject.kind.as_str() {
        "ServiceAccount" => subject
            .namespace
            .as_deref()
            .filter(|ns| !ns.is_empty())
            .map(normalized),
        "User" => name
            .strip_prefix(SERVICE_ACCOUNT_USER_PREFIX)
            .and_then(|rest| rest.split_once(':'))
            .map(|(ns, _)| ns.to_string()),
        "Group" => name
            .strip_prefix(SERVICE_ACCOUNTS_GROUP_PREFIX)
            .map(str::to_string),
        _ => None,
    }
}

/// The groups that include identities of every namespace: `system:serviceaccounts`,
/// `system:authenticated`, `system:unauthenticated`.
pub fn is_broad_group(subject: &Subject) -> bool {
    subject.kind == "Group"
        && [
            ALL_SERVICE_ACCOUNTS_GROUP,
            AUTHENTICATED_GROUP,
            UNAUTHENTICATED_GROUP,
        ]
        .contains(&normalized(&subject.name).as_str())
}

/// Whether a subject of a binding in `namespace` is, or includes, an identity of another
/// namespace: a ServiceAccount of another namespace in any subject form, or a broad group.
/// People (other users and groups) are not: whom a namespace's administrators let read its
/// Secrets is theirs to decide.
pub fn is_foreign_identity(subject: &Subject, namespace: &str) -> bool {
    is_broad_group(subject) || service_account_namespace(subject).is_some_and(|ns| ns != namespace)
}

/// Roles judged on their rules, for admission: the ClusterRoles and `namespace/Role`s that
/// grant what a forbidden role grants ([`forbidden_grant`]) when a RoleBinding grants them in
/// a namespace, and those that read Secrets.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct RolesByRules {
    pub forbidden_cluster_roles: Vec<String>,
    pub forbidden_roles: Vec<String>,
    pub secret_reading_cluster_roles: Vec<String>,
    pub secret_reading_roles: Vec<String>,
}

pub fn roles_by_rules(snapshot: &Snapshot) -> RolesByRules {
    let mut out = RolesByRules::default();
    for role in &snapshot.cluster_roles {
        let Some(name) = role.metadata.name.clone() else {
            continue;
        };
        let rules = cluster_role_rules(role, snapshot);
        if reads_secrets(&rules) {
            out.secret_reading_cluster_roles.push(name.clone());
        }
        if forbidden_grant_of(&rules, GrantScope::Namespace).is_some() {
            out.forbidden_cluster_roles.push(name);
        }
    }
    for role in &snapshot.roles {
        let (Some(ns), Some(name)) = (&role.metadata.namespace, &role.metadata.name) else {
            continue;
        };
        let rules = role.rules.as_deref().unwrap_or_default();
        if reads_secrets(rules) {
            out.secret_reading_roles.push(format!("{ns}/{name}"));
        }
        if forbidden_grant_of(rules, GrantScope::Namespace).is_some() {
            out.forbidden_roles.push(format!("{ns}/{name}"));
        }
    }
    for list in [
        &mut out.forbidden_cluster_roles,
        &mut out.forbidden_roles,
        &mut out.secret_reading_cluster_roles,
        &mut out.secret_reading_roles,
    ] {
        list.sort();
        list.dedup();
    }
    out
}
