//! `least-privilege`: forbidden and wildcard roles in RoleBindings, token automounting.

use super::encryption::in_scope;
use super::{ControlOutcome, ObjectRef, Violation};
use crate::api::security_baseline::AccessSpec;
use crate::catalog::ControlId;
use crate::snapshot::Snapshot;
use crate::vocabulary::rbac::has_wildcard;
use k8s_openapi::api::rbac::v1::RoleBinding;

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

/// Why a RoleBinding breaks the policy, if it does. Roles are matched by kind and name:
/// `forbiddenRoles` names ClusterRoles, so a namespaced Role that happens to be called `admin`
/// is not the ClusterRole `admin`; a wildcard Role is the Role of that name in the binding's
/// own namespace. Admission renders the same matching (see `desired::admission`).
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
    if spec.forbid_wildcard_roles
        && wildcard_role(
            &role.kind,
            &role.name,
            binding.metadata.namespace.as_deref(),
            snapshot,
        )
    {
        return Some(format!(
            "RoleBinding grants {} `{}` whose rules use `*`",
            role.kind, role.name
        ));
    }
    None
}

fn wildcard_role(kind: &str, name: &str, namespace: Option<&str>, snapshot: &Snapshot) -> bool {
    match kind {
        "ClusterRole" => snapshot
            .cluster_roles
            .iter()
            .find(|r| r.metadata.name.as_deref() == Some(name))
            .is_some_and(|r| has_wildcard(r.rules.as_deref())),
        "Role" => snapshot
            .roles
            .iter()
            .find(|r| {
                r.metadata.name.as_deref() == Some(name)
                    && r.metadata.namespace.as_deref() == namespace
            })
            .is_some_and(|r| has_wildcard(r.rules.as_deref())),
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::vocabulary::rbac::wildcard_role_names;
    use k8s_openapi::api::rbac::v1::{ClusterRole, Role};
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
        assert_eq!(
            wildcard_role_names(&snap),
            (
                vec!["everything".to_string()],
                vec!["shop/everything".to_string()]
            )
        );
    }
}
