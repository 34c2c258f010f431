//! `least-privilege`: roles judged on their rules (what a forbidden role grants, under any
//! name, aggregated ClusterRoles on their aggregated rules), Secret read granted to identities
//! of other namespaces, forbidden roles by name, token automounting.

use super::encryption::in_scope;
use super::{ControlOutcome, ObjectRef, Violation};
use crate::api::security_baseline::AccessSpec;
use crate::catalog::ControlId;
use crate::snapshot::Snapshot;
use crate::vocabulary::rbac::{
    GrantScope, forbidden_grant_of, is_broad_group, is_foreign_identity, judged_on_rules,
    reads_secrets, role_rules, service_account_namespace,
};
use k8s_openapi::api::rbac::v1::{ClusterRoleBinding, RoleBinding, RoleRef, Subject};

pub fn least_privilege(
    spec: Option<&AccessSpec>,
    namespaces: &[String],
    snapshot: &Snapshot,
) -> ControlOutcome {
    let Some(spec) = spec else {
        return ControlOutcome::not_applicable(ControlId::LeastPrivilege);
    };
    let mut checked = 0;
    let mut violations = Vec::new();
    for binding in snapshot
        .role_bindings
        .iter()
        .filter(|b| in_scope(b.metadata.namespace.as_deref(), namespaces))
    {
        checked += 1;
        if let Some(message) = binding_problem(spec, binding, snapshot) {
            violations.push(Violation::new(
                ObjectRef::of("RoleBinding", &binding.metadata),
                message,
            ));
        }
    }
    if judged_on_rules(spec) {
        for role in snapshot
            .roles
            .iter()
            .filter(|r| in_scope(r.metadata.namespace.as_deref(), namespaces))
        {
            checked += 1;
            if let Some(grant) = forbidden_grant_of(
                role.rules.as_deref().unwrap_or_default(),
                GrantScope::Namespace,
            ) {
                violations.push(Violation::new(
                    ObjectRef::of("Role", &role.metadata),
                    format!("Role grants {grant}, as a forbidden role does"),
                ));
            }
        }
        for binding in &snapshot.cluster_role_bindings {
            let ours = selected_identities(binding, namespaces);
            if ours.is_empty() {
                continue;
            }
            checked += 1;
            if let Some(message) = cluster_binding_problem(binding, &ours, snapshot) {
                violations.push(Violation::new(
                    ObjectRef::of("ClusterRoleBinding", &binding.metadata),
                    message,
                ));
            }
        }
    }
    if spec.disallow_automount_token {
        for carrier in snapshot
            .pod_carriers()
            .into_iter()
            .filter(|c| in_scope(Some(c.namespace()), namespaces))
        {
            checked += 1;
            let account = carrier
                .spec
                .service_account_name
                .as_deref()
                .unwrap_or("default");
            let account_opts_out = snapshot.service_accounts.iter().any(|sa| {
                sa.metadata.namespace.as_deref() == Some(carrier.namespace())
                    && sa.metadata.name.as_deref() == Some(account)
                    && sa.automount_service_account_token == Some(false)
            });
            if carrier.spec.automount_service_account_token.is_none() && !account_opts_out {
                violations.push(Violation::new(
                    ObjectRef::of_carrier(&carrier),
                    format!(
                        "pods automount the token of ServiceAccount `{account}` without opting in (set automountServiceAccountToken)"
                    ),
                ));
            }
        }
    }
    ControlOutcome::checked(ControlId::LeastPrivilege, checked, violations)
}

/// Why a RoleBinding breaks the policy, if it does. `forbiddenRoles` names ClusterRoles, so a
/// namespaced Role that happens to be called `admin` is not the ClusterRole `admin`. Judged on
/// rules (see [`judged_on_rules`]): the bound role (a ClusterRole with its aggregated rules, or
/// the Role of that name in the binding's own namespace) may not grant what a forbidden role
/// grants ([`crate::vocabulary::rbac::forbidden_grant`]), and a role that reads Secrets may
/// not be granted to an identity of another namespace. The built-in `system:*` roles are
/// judged like any other, on their rules. Admission renders the same judgment for the roles
/// it knows when it renders (see `desired::admission`).
pub fn binding_problem(
    spec: &AccessSpec,
    binding: &RoleBinding,
    snapshot: &Snapshot,
) -> Option<String> {
    let role = &binding.role_ref;
    if role.kind == "ClusterRole" && spec.forbidden_roles.iter().any(|r| r == &role.name) {
        return Some(format!(
            "RoleBinding grants forbidden {} `{}`",
            role.kind, role.name
        ));
    }
    if !judged_on_rules(spec) {
        return None;
    }
    let namespace = binding.metadata.namespace.as_deref().unwrap_or_default();
    let rules = role_rules(&role.kind, &role.name, Some(namespace), snapshot)?;
    if let Some(grant) = forbidden_grant_of(&rules, GrantScope::Namespace) {
        return Some(format!(
            "RoleBinding grants {} `{}` whose rules grant {grant}, as a forbidden role does",
            role.kind, role.name
        ));
    }
    let foreign = subjects_where(&binding.subjects, |s| is_foreign_identity(s, namespace));
    if reads_secrets(&rules) && !foreign.is_empty() {
        return Some(format!(
            "RoleBinding lets {} of other namespaces read Secrets in `{namespace}` through {} `{}`",
            foreign.join(", "),
            role.kind,
            role.name
        ));
    }
    None
}

/// The subjects of a ClusterRoleBinding that are identities of the selected namespaces: their
/// ServiceAccounts in any subject form, or the broad groups that include them. The control
/// plane's own bindings name its own identities and are never judged.
fn selected_identities(binding: &ClusterRoleBinding, namespaces: &[String]) -> Vec<String> {
    subjects_where(&binding.subjects, |s| {
        is_broad_group(s)
            || service_account_namespace(s).is_some_and(|ns| namespaces.binary_search(&ns).is_ok())
    })
}

/// Why a ClusterRoleBinding naming identities of the selected namespaces (`ours`) breaks the
/// policy, if it does: its ClusterRole grants what a forbidden role grants, or reads Secrets
/// (in every namespace, so across namespaces).
fn cluster_binding_problem(
    binding: &ClusterRoleBinding,
    ours: &[String],
    snapshot: &Snapshot,
) -> Option<String> {
    let role: &RoleRef = &binding.role_ref;
    let rules = role_rules(&role.kind, &role.name, None, snapshot)?;
    let grant = match forbidden_grant_of(&rules, GrantScope::Cluster) {
        Some(grant) => grant,
        None if reads_secrets(&rules) => "Secret read in every namespace".into(),
        None => return None,
    };
    Some(format!(
        "ClusterRoleBinding grants {} `{}` ({grant}) cluster-wide to {}, identities of selected namespaces",
        role.kind,
        role.name,
        ours.join(", ")
    ))
}

fn subjects_where(subjects: &Option<Vec<Subject>>, keep: impl Fn(&Subject) -> bool) -> Vec<String> {
    subjects
        .iter()
        .flatten()
        .filter(|s| keep(s))
        .map(|s| match s.namespace.as_deref() {
            Some(ns) if s.kind == "ServiceAccount" => format!("{} {ns}/{}", s.kind, s.name),
            _ => format!("{} `{}`", s.kind, s.name),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::vocabulary::rbac::roles_by_rules;
    use k8s_openapi::api::rbac::v1::{ClusterRole, PolicyRule, Role};
    use serde_json::json;
    use std::sync::Arc;

    fn binding(namespace: &str, kind: &str, name: &str) -> RoleBinding {
        serde_json::from_value(json!({
            "metadata": {"name": "b", "namespace": namespace},
            "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": kind, "name": name},
        }))
        .unwrap()
    }

    fn snapshot() -> Snapshot {
        let wildcard = json!([{"apiGroups": [""], "resources": ["*"], "verbs": ["get"]}]);
        let narrow = json!([{"apiGroups": [""], "resources": ["pods"], "verbs": ["get"]}]);
        let role = |ns: &str, name: &str, rules: &serde_json::Value| -> Arc<Role> {
            Arc::new(
                serde_json::from_value(
                    json!({"metadata": {"name": name, "namespace": ns}, "rules": rules}),
                )
                .unwrap(),
            )
        };
        let cluster_role = |name: &str, rules: &serde_json::Value| -> Arc<ClusterRole> {
            Arc::new(
                serde_json::from_value(json!({"metadata": {"name": name}, "rules": rules}))
                    .unwrap(),
            )
        };
        Snapshot {
            roles: vec![
                role("shop", "admin", &narrow),
                role("shop", "everything", &wildcard),
                role("other", "cluster-admin", &narrow),
            ],
            cluster_roles: vec![
                cluster_role("everything", &wildcard),
                cluster_role("admin", &narrow),
            ],
            ..Snapshot::default()
        }
    }

    fn spec() -> AccessSpec {
        AccessSpec {
            forbidden_roles: vec!["admin".into(), "cluster-admin".into()],
            forbid_wildcard_roles: true,
            disallow_automount_token: false,
        }
    }

    #[test]
    fn forbidden_roles_are_cluster_roles_matched_by_kind_and_name() {
        let (s, snap) = (spec(), snapshot());
        assert!(binding_problem(&s, &binding("shop", "ClusterRole", "admin"), &snap).is_some());
        assert!(
            binding_problem(&s, &binding("shop", "ClusterRole", "cluster-admin"), &snap).is_some()
        );
        // Namespaced Roles that happen to carry a forbidden ClusterRole's name grant nothing more.
        assert!(binding_problem(&s, &binding("shop", "Role", "admin"), &snap).is_none());
        assert!(binding_problem(&s, &binding("other", "Role", "cluster-admin"), &snap).is_none());
    }

    #[test]
    fn wildcard_roles_are_matched_by_kind_namespace_and_name() {
        let (s, snap) = (spec(), snapshot());
        assert!(binding_problem(&s, &binding("shop", "Role", "everything"), &snap).is_some());
        assert!(
            binding_problem(&s, &binding("shop", "ClusterRole", "everything"), &snap).is_some()
        );
        // The wildcard Role lives in `shop`: a Role of that name elsewhere is another Role.
        assert!(binding_problem(&s, &binding("other", "Role", "everything"), &snap).is_none());
        let roles = roles_by_rules(&snap);
        assert_eq!(roles.forbidden_cluster_roles, ["everything"]);
        assert_eq!(roles.forbidden_roles, ["shop/everything"]);
    }

    fn rule(groups: &[&str], resources: &[&str], verbs: &[&str]) -> serde_json::Value {
        json!({"apiGroups": groups, "resources": resources, "verbs": verbs})
    }

    fn role_snapshot(rules: serde_json::Value) -> Snapshot {
        let role: Role = serde_json::from_value(
            json!({"metadata": {"name": "r", "namespace": "shop"}, "rules": rules}),
        )
        .unwrap();
        Snapshot {
            roles: vec![Arc::new(role)],
            ..Snapshot::default()
        }
    }

    /// Impersonating ServiceAccounts only is bounded to a namespace when a RoleBinding grants
    /// it (as `edit` does), and forbidden cluster-wide, where it reaches `kube-system`'s.
    #[test]
    fn service_account_impersonation_is_forbidden_only_cluster_wide() {
        use crate::vocabulary::rbac::forbidden_grant;
        let sa: PolicyRule =
            serde_json::from_value(rule(&[""], &["serviceaccounts"], &["impersonate"])).unwrap();
        assert_eq!(forbidden_grant(&sa, GrantScope::Namespace), None);
        assert!(forbidden_grant(&sa, GrantScope::Cluster).is_some());
        let users: PolicyRule =
            serde_json::from_value(rule(&[""], &["users"], &["impersonate"])).unwrap();
        assert!(forbidden_grant(&users, GrantScope::Namespace).is_some());
    }

    /// What a forbidden role grants is forbidden under any name: wildcards in verbs,
    /// resources or API groups, the escalating verbs, every non-resource URL.
    #[test]
    fn roles_are_judged_on_their_rules_not_their_names() {
        let forbidden = [
            rule(&[""], &["pods"], &["*"]),
            rule(&[""], &["*"], &["get"]),
            rule(&["*"], &["pods"], &["get"]),
            rule(&["rbac.authorization.k8s.io"], &["roles"], &["escalate"]),
            rule(&["rbac.authorization.k8s.io"], &["rolebindings"], &["bind"]),
            rule(&[""], &["users"], &["impersonate"]),
            rule(&[""], &["serviceaccounts", "groups"], &["impersonate"]),
            json!({"nonResourceURLs": ["*"], "verbs": ["get"]}),
        ];
        for r in forbidden {
            let snap = role_snapshot(json!([r.clone()]));
            let message = binding_problem(&spec(), &binding("shop", "Role", "r"), &snap);
            assert!(message.is_some(), "{r} not judged forbidden");
            assert_eq!(roles_by_rules(&snap).forbidden_roles, ["shop/r"], "{r}");
        }
        let fine = [
            rule(&[""], &["pods"], &["get", "list"]),
            // Bound in one namespace, as `edit` grants it: nothing its holder cannot do already.
            rule(&[""], &["serviceaccounts"], &["impersonate"]),
            json!({"nonResourceURLs": ["/healthz"], "verbs": ["get"]}),
        ];
        for r in fine {
            let snap = role_snapshot(json!([r.clone()]));
            assert!(
                binding_problem(&spec(), &binding("shop", "Role", "r"), &snap).is_none(),
                "{r}"
            );
        }
    }

    /// Secret read is fine for the namespace's own identities and people, not for
    /// ServiceAccounts of other namespaces in any form nor the broad groups.
    #[test]
    fn secret_read_is_forbidden_to_identities_of_other_namespaces() {
        let snap = role_snapshot(json!([rule(&[""], &["secrets"], &["get"])]));
        let with = |kind: &str, name: &str, namespace: Option<&str>| {
            let mut b = binding("shop", "Role", "r");
            b.subjects = Some(vec![Subject {
                kind: kind.into(),
                name: name.into(),
                namespace: namespace.map(str::to_string),
                api_group: None,
            }]);
            binding_problem(&spec(), &b, &snap)
        };
        assert!(with("ServiceAccount", "ci", Some("shop")).is_none());
        assert!(with("ServiceAccount", "ci", None).is_none());
        assert!(with("User", "alice", None).is_none());
        assert!(with("User", "system:serviceaccount:shop:ci", None).is_none());
        assert!(with("ServiceAccount", "ci", Some("dev")).is_some());
        assert!(with("User", "System:ServiceAccount:dev:ci", None).is_some());
        assert!(with("Group", "system:serviceaccounts:dev", None).is_some());
        assert!(with("Group", "system:authenticated", None).is_some());
    }

    /// An aggregated ClusterRole is judged on the rules of the roles it aggregates, before
    /// the aggregation controller has filled them in.
    #[test]
    fn aggregated_cluster_roles_are_judged_on_their_aggregated_rules() {
        let aggregate: ClusterRole = serde_json::from_value(json!({
            "metadata": {"name": "aggregate"},
            "aggregationRule": {"clusterRoleSelectors": [{"matchLabels": {"part-of": "aggregate"}}]},
        }))
        .unwrap();
        let part: ClusterRole = serde_json::from_value(json!({
            "metadata": {"name": "part", "labels": {"part-of": "aggregate"}},
            "rules": [rule(&["rbac.authorization.k8s.io"], &["clusterroles"], &["escalate"])],
        }))
        .unwrap();
        let snap = Snapshot {
            cluster_roles: vec![Arc::new(aggregate), Arc::new(part)],
            ..Snapshot::default()
        };
        assert!(
            binding_problem(&spec(), &binding("shop", "ClusterRole", "aggregate"), &snap)
                .is_some_and(|m| m.contains("`escalate`"))
        );
        assert_eq!(
            roles_by_rules(&snap).forbidden_cluster_roles,
            ["aggregate", "part"]
        );
    }
}
