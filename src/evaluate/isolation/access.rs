//! `cross-environment-access`: no identity of one environment granted access in another,
//! between every pair of environments, unless the spec allows that direction.

use super::*;

/// The judged namespaces' RoleBindings, in their parts. ClusterRoleBindings are no
/// namespace's: see [`cluster_access`].
pub(super) fn cross_environment_access(
    spec: &IsolationAccessSpec,
    scope: &Scope,
    parts: &mut Parts,
) {
    let snapshot = scope.snapshot;
    for binding in &snapshot.role_bindings {
        let Some(namespace) = binding.metadata.namespace.as_deref() else {
            continue;
        };
        if !scope.judges(namespace)
            || scope.envs.access_environments(namespace).is_empty()
            || grants_nothing(&binding.role_ref, Some(namespace), snapshot)
        {
            continue;
        }
        let tally = parts.tally(namespace, ACCESS);
        tally.checked += 1;
        let object = ObjectRef::of("RoleBinding", &binding.metadata);
        let name = binding.metadata.name.as_deref().unwrap_or_default();
        let target = Target::Namespace(namespace);
        for identity in crossing_identities(&binding.subjects, target, spec, scope) {
            tally.violations.push(Violation::new(
                object.clone(),
                format!(
                    "RoleBinding {namespace}/{name} lets {identity} act in namespace `{namespace}` of {}",
                    scope.envs.describe(namespace)
                ),
            ));
        }
    }
}

/// The control's outcome: the namespaces' `tally` with the ClusterRoleBindings, which grant
/// in every namespace and are no one namespace's.
pub(super) fn cluster_access(
    spec: &IsolationAccessSpec,
    mut tally: Tally,
    scope: &Scope,
) -> ControlOutcome {
    let snapshot = scope.snapshot;
    for binding in &snapshot.cluster_role_bindings {
        if grants_nothing(&binding.role_ref, None, snapshot) {
            continue;
        }
        tally.checked += 1;
        let object = ObjectRef::of("ClusterRoleBinding", &binding.metadata);
        let name = binding.metadata.name.as_deref().unwrap_or_default();
        for identity in crossing_identities(&binding.subjects, Target::Cluster, spec, scope) {
            tally.violations.push(Violation::new(
                object.clone(),
                format!(
                    "ClusterRoleBinding {name} lets {identity} act cluster-wide, in every other environment (production namespaces {} included)",
                    names(&scope.envs.production_namespaces())
                ),
            ));
        }
    }
    ControlOutcome::checked(
        ControlId::CrossEnvironmentAccess,
        tally.checked,
        tally.violations,
    )
}

/// Where a binding grants: one namespace (a RoleBinding's), or every namespace.
#[derive(Clone, Copy)]
pub(super) enum Target<'a> {
    Namespace(&'a str),
    Cluster,
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

/// Which namespaces' identities a subject is, or includes, in every form RBAC knows them by
/// (names compared [`normalized`], so case and whitespace variants count too):
/// - a ServiceAccount subject (without a namespace it is the RoleBinding's own,
///   `binding_namespace`);
/// - the user `system:serviceaccount:<namespace>:<name>`;
/// - the group `system:serviceaccounts:<namespace>`;
/// - the groups `system:serviceaccounts` and `system:authenticated`: every namespace's.
pub(crate) enum Identities {
    Of(String),
    Every,
    Nobody,
}

pub(crate) fn identities_of(subject: &Subject, binding_namespace: Option<&str>) -> Identities {
    let name = normalized(&subject.name);
    let found = match subject.kind.as_str() {
        "ServiceAccount" => subject
            .namespace
            .as_deref()
            .filter(|ns| !ns.is_empty())
            .map(normalized)
            .or(binding_namespace.map(str::to_string)),
        "User" => name
            .strip_prefix(SERVICE_ACCOUNT_USER_PREFIX)
            .and_then(|rest| rest.split_once(':'))
            .map(|(ns, _)| ns.to_string()),
        "Group" if name == ALL_SERVICE_ACCOUNTS_GROUP || name == AUTHENTICATED_GROUP => {
            return Identities::Every;
        }
        "Group" => name
            .strip_prefix(SERVICE_ACCOUNTS_GROUP_PREFIX)
            .map(str::to_string),
        _ => None,
    };
    found.map_or(Identities::Nobody, Identities::Of)
}

/// Describes each subject that lets an identity of one environment act in another
/// (`target`), unless an allowance names that direction; and each declared non-production
/// group bound in a production namespace or cluster-wide (with `system:authenticated`, which
/// includes its members). A ClusterRoleBinding grants in every namespace, so any identity of
/// a judged namespace crosses.
pub(super) fn crossing_identities(
    subjects: &Option<Vec<Subject>>,
    target: Target,
    spec: &IsolationAccessSpec,
    scope: &Scope,
) -> Vec<String> {
    let allowed: BTreeSet<String> = spec
        .allowed_bindings
        .iter()
        .map(|a| allowance_key(&a.from, &a.to))
        .collect();
    let (binding_namespace, reaches_production) = match target {
        Target::Namespace(ns) => (Some(ns), scope.envs.is_production(ns)),
        Target::Cluster => (None, true),
    };
    let crosses = |from: &str| match target {
        Target::Namespace(to) => scope.envs.crosses(from, to, &allowed),
        Target::Cluster => !scope.envs.access_environments(from).is_empty(),
    };
    let declared: Vec<String> = spec
        .non_production_groups
        .iter()
        .map(|g| normalized(g))
        .collect();
    let mut out = Vec::new();
    for subject in subjects.iter().flatten() {
        let name = &subject.name;
        let kind = subject.kind.as_str();
        let normalized_name = normalized(name);
        if kind == "Group" && reaches_production {
            if declared.contains(&normalized_name) {
                out.push(format!("non-production group `{name}`"));
                continue;
            }
            if normalized_name == AUTHENTICATED_GROUP && !declared.is_empty() {
                out.push(format!(
                    "group `{name}`, which includes the non-production groups {}",
                    names(&spec.non_production_groups)
                ));
                continue;
            }
        }
        match identities_of(subject, binding_namespace) {
            Identities::Of(ns) if crosses(&ns) => {
                let of = scope.envs.describe(&ns);
                out.push(match kind {
                    "ServiceAccount" => format!("ServiceAccount {ns}/{name} of {of}"),
                    "User" => format!("user `{name}`, a ServiceAccount of {of}"),
                    _ => format!("group `{name}`, every ServiceAccount of {of}"),
                });
            }
            Identities::Every => {
                let others: Vec<String> = scope
                    .envs
                    .access_namespaces()
                    .into_iter()
                    .filter(|ns| crosses(ns))
                    .collect();
                if !others.is_empty() {
                    out.push(format!(
                        "group `{name}`, which includes the ServiceAccounts of other environments (namespaces {})",
                        first_few(&others)
                    ));
                }
            }
            _ => {}
        }
    }
    out
}

/// Up to five names, then how many more: a message stays short in a cluster of thousands.
fn first_few(items: &[String]) -> String {
    const SHOWN: usize = 5;
    let shown = names(&items[..items.len().min(SHOWN)]);
    match items.len().checked_sub(SHOWN) {
        Some(more) if more > 0 => format!("{shown} and {more} more"),
        _ => shown,
    }
}
