//! `cross-environment-access`: no identity of one environment granted access in another.

use super::*;

pub(super) fn cross_environment_access(
    spec: Option<&IsolationAccessSpec>,
    scope: &Scope,
) -> ControlOutcome {
    let Some(spec) = spec.filter(|a| a.deny_cross_environment_bindings) else {
        return ControlOutcome::not_applicable(ControlId::CrossEnvironmentAccess);
    };
    let snapshot = scope.snapshot;
    let mut violations = Vec::new();
    let mut checked = 0;
    for binding in &snapshot.role_bindings {
        let Some(namespace) = binding.metadata.namespace.as_deref() else {
            continue;
        };
        if !scope.envs.is_production(namespace)
            || grants_nothing(&binding.role_ref, Some(namespace), snapshot)
        {
            continue;
        }
        checked += 1;
        let object = ObjectRef::of("RoleBinding", &binding.metadata);
        let name = binding.metadata.name.as_deref().unwrap_or_default();
        for identity in non_production_identities(&binding.subjects, Some(namespace), spec, scope) {
            violations.push(Violation::new(
                object.clone(),
                format!(
                    "RoleBinding {namespace}/{name} lets {identity} act in production namespace `{namespace}`"
                ),
            ));
        }
    }
    for binding in &snapshot.cluster_role_bindings {
        if grants_nothing(&binding.role_ref, None, snapshot) {
            continue;
        }
        checked += 1;
        let object = ObjectRef::of("ClusterRoleBinding", &binding.metadata);
        let name = binding.metadata.name.as_deref().unwrap_or_default();
        for identity in non_production_identities(&binding.subjects, None, spec, scope) {
            violations.push(Violation::new(
                object.clone(),
                format!(
                    "ClusterRoleBinding {name} lets {identity} act cluster-wide, production namespaces {} included",
                    names(&scope.envs.production_namespaces())
                ),
            ));
        }
    }
    ControlOutcome::checked(ControlId::CrossEnvironmentAccess, checked, violations)
}

/// Whether the bound role is known and grants nothing in namespaces; an unknown role is
/// assumed to grant something.
pub(super) fn grants_nothing(role: &RoleRef, namespace: Option<&str>, snapshot: &Snapshot) -> bool {
    let rules = match role.kind.as_str() {
        "ClusterRole" => snapshot
            .cluster_roles
            .iter()
            .find(|r| r.metadata.name.as_deref() == Some(role.name.as_str()))
            .map(|r| r.rules.as_deref()),
        "Role" => snapshot
            .roles
            .iter()
            .find(|r| {
                r.metadata.name.as_deref() == Some(role.name.as_str())
                    && r.metadata.namespace.as_deref() == namespace
            })
            .map(|r| r.rules.as_deref()),
        _ => None,
    };
    rules.is_some_and(grants_nothing_in_namespaces)
}

/// Describes each subject that is, or includes, a non-production identity, in every form RBAC
/// knows it by:
/// - a ServiceAccount subject (without a namespace it is the RoleBinding's own,
///   `binding_namespace`);
/// - the user `system:serviceaccount:<namespace>:<name>`;
/// - the group `system:serviceaccounts:<namespace>`;
/// - the groups `system:serviceaccounts` and `system:authenticated`, which include every
///   ServiceAccount of every non-production namespace (and, for `system:authenticated`, every
///   member of a declared non-production group);
/// - a declared non-production group.
pub(super) fn non_production_identities(
    subjects: &Option<Vec<Subject>>,
    binding_namespace: Option<&str>,
    spec: &IsolationAccessSpec,
    scope: &Scope,
) -> Vec<String> {
    let non_production = |ns: &str| {
        scope.envs.is_non_production(ns).then(|| {
            format!(
                "non-production namespace `{ns}` (environment `{}`)",
                scope.environment(ns)
            )
        })
    };
    let any_non_production = !scope.envs.non_production_namespaces().is_empty();
    subjects
        .iter()
        .flatten()
        .filter_map(|subject| {
            let name = subject.name.as_str();
            match subject.kind.as_str() {
                "ServiceAccount" => {
                    let ns = subject.namespace.as_deref().or(binding_namespace)?;
                    non_production(ns).map(|of| format!("ServiceAccount {ns}/{name} of {of}"))
                }
                "User" => {
                    let (ns, _) = name.strip_prefix(SERVICE_ACCOUNT_USER_PREFIX)?.split_once(':')?;
                    non_production(ns)
                        .map(|of| format!("user `{name}`, a ServiceAccount of {of}"))
                }
                "Group" if spec.non_production_groups.iter().any(|g| g == name) => {
                    Some(format!("non-production group `{name}`"))
                }
                "Group" if name == ALL_SERVICE_ACCOUNTS_GROUP && any_non_production => Some(format!(
                    "group `{name}`, which includes every ServiceAccount of the non-production namespaces"
                )),
                "Group"
                    if name == AUTHENTICATED_GROUP
                        && (any_non_production || !spec.non_production_groups.is_empty()) =>
                {
                    Some(format!(
                        "group `{name}`, which includes every non-production identity"
                    ))
                }
                "Group" => {
                    let ns = name.strip_prefix(SERVICE_ACCOUNTS_GROUP_PREFIX)?;
                    non_production(ns).map(|of| {
                        format!("group `{name}`, every ServiceAccount of {of}")
                    })
                }
                _ => None,
            }
        })
        .collect()
}
