//! `least-privilege`: forbidden and wildcard roles in RoleBindings, token automounting.

use super::encryption::in_scope;
use super::{ControlOutcome, ObjectRef, Violation};
use crate::api::security_baseline::AccessSpec;
use crate::catalog::ControlId;
use crate::snapshot::Snapshot;
use k8s_openapi::api::rbac::v1::{PolicyRule, RoleBinding};

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

fn binding_problem(
    spec: &AccessSpec,
    binding: &RoleBinding,
    snapshot: &Snapshot,
) -> Option<String> {
    let role = &binding.role_ref;
    if spec.forbidden_roles.iter().any(|r| r == &role.name) {
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
        _ => snapshot
            .roles
            .iter()
            .find(|r| {
                r.metadata.name.as_deref() == Some(name)
                    && r.metadata.namespace.as_deref() == namespace
            })
            .is_some_and(|r| has_wildcard(r.rules.as_deref())),
    }
}

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
