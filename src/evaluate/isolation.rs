//! EnvironmentIsolation controls: environments defined by namespace selectors, kept apart on
//! the network (`environment-segregation`), in data (`production-data-restricted`) and in
//! access (`cross-environment-access`).
//!
//! A namespace two environments claim is never silently given to one of them: it is a
//! segregation finding, and the data and access rules treat it as production, the safer side.

use super::{ControlOutcome, Evaluation, ObjectRef, Violation, selects};
use crate::api::EnvironmentIsolationSpec;
use crate::api::environment_isolation::{Flow, IsolationAccessSpec, ProductionDataSpec};
use crate::catalog::ControlId;
use crate::snapshot::{ObjectMetaOnly, SecretDigest, Snapshot};
use crate::velero::Restore;
use crate::vocabulary::environments::{
    ALL_SERVICE_ACCOUNTS_GROUP, AUTHENTICATED_GROUP, EnvironmentMap, SERVICE_ACCOUNT_USER_PREFIX,
    SERVICE_ACCOUNTS_GROUP_PREFIX, environments_of, grants_nothing_in_namespaces,
    isolation_policy_name,
};
use jiff::Timestamp;
use k8s_openapi::api::core::v1::PersistentVolumeClaim;
use k8s_openapi::api::networking::v1::{
    NetworkPolicy, NetworkPolicyIngressRule, NetworkPolicyPeer, NetworkPolicyPort,
};
use k8s_openapi::api::rbac::v1::{RoleRef, Subject};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::LabelSelector;
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;
use std::collections::{BTreeMap, BTreeSet};

/// The three EnvironmentIsolation controls, in catalog order. `name` is the custom resource's.
pub fn evaluate(
    name: &str,
    spec: &EnvironmentIsolationSpec,
    snapshot: &Snapshot,
    now: Timestamp,
) -> Evaluation {
    let envs = environments_of(spec, snapshot);
    let scope = Scope::new(&envs, snapshot);
    let outcomes = vec![
        segregation(&isolation_policy_name(name), &spec.allowed_flows, &scope),
        production_data(spec.production_data.as_ref(), &scope),
        cross_environment_access(spec.access.as_ref(), &scope),
    ];
    Evaluation::new(envs.members(), outcomes, &spec.exemptions, now)
}

/// What every check reads: environment membership plus namespace labels by name.
struct Scope<'a> {
    envs: &'a EnvironmentMap,
    snapshot: &'a Snapshot,
    labels: BTreeMap<&'a str, &'a BTreeMap<String, String>>,
}

impl<'a> Scope<'a> {
    fn new(envs: &'a EnvironmentMap, snapshot: &'a Snapshot) -> Self {
        Self {
            envs,
            snapshot,
            labels: snapshot.namespace_labels().collect(),
        }
    }

    fn namespace_ref(&self, namespace: &str) -> ObjectRef {
        let labels = self.labels.get(namespace).copied().cloned();
        ObjectRef::namespace(namespace, &labels.unwrap_or_default())
    }

    /// The environments of a namespace, for messages.
    fn environment(&self, namespace: &str) -> String {
        self.envs.environments(namespace).join(", ")
    }
}

fn names(items: &[String]) -> String {
    items
        .iter()
        .map(|s| format!("`{s}`"))
        .collect::<Vec<_>>()
        .join(", ")
}

// ---- environment-segregation ----

/// Judges the NetworkPolicies that exist, whoever wrote them, so that Audit mode assesses the
/// cluster as it is (in Enforce mode the owned isolation policy is one of them).
///
/// A namespace is reached from another environment unless its ingress is isolated (some
/// NetworkPolicy selects all its pods and governs Ingress) and no ingress rule of any policy
/// in it admits that environment's namespaces beyond a declared flow. Only the target's
/// ingress is credited: that is the side the environment being protected controls.
///
/// Peers are judged as the API defines them, with one deliberate simplification: an `ipBlock`
/// peer is treated as admitting every source, because which addresses pods have is not in the
/// API (a pod CIDR inside the block admits pods of every namespace), so a narrower block
/// cannot honestly be judged as closed.
fn segregation(policy_name: &str, flows: &[Flow], scope: &Scope) -> ControlOutcome {
    let mut violations = Vec::new();
    let mut checked = 0;
    for (target, envs) in &scope.envs.namespaces {
        checked += 1;
        let ns_ref = scope.namespace_ref(target);
        if envs.len() > 1 {
            violations.push(Violation::new(
                ns_ref.clone(),
                format!(
                    "namespace `{target}` is selected by environments {}; it is treated as production until only one selects it",
                    names(envs)
                ),
            ));
        }
        // Sources are namespaces of other environments; a source fully allowed by a flow
        // without port limits can never be a finding.
        let sources: Vec<&str> = scope
            .envs
            .namespaces
            .keys()
            .map(String::as_str)
            .filter(|s| *s != target && !scope.envs.share_environment(s, target))
            .filter(|s| !flow_allows(flows, scope.envs, s, target, None))
            .collect();
        if sources.is_empty() {
            continue;
        }
        let policies: Vec<&NetworkPolicy> = scope
            .snapshot
            .network_policies
            .iter()
            .map(AsRef::as_ref)
            .filter(|p| p.metadata.namespace.as_deref() == Some(target.as_str()))
            .filter(|p| governs_ingress(p))
            .collect();
        if !policies.iter().any(|p| selects_all_pods(p)) {
            violations.push(Violation::new(
                ns_ref,
                format!(
                    "namespace `{target}` (environment {}) does not isolate ingress: no NetworkPolicy selects all its pods for Ingress, so namespaces of other environments reach it ({}); in Enforce mode the operator maintains {policy_name} there",
                    names(envs),
                    describe_sources(&sources, scope)
                ),
            ));
            continue;
        }
        for policy in policies {
            if let Some(violation) = admitting_policy(policy, target, &sources, flows, scope) {
                violations.push(violation);
            }
        }
    }
    ControlOutcome::checked(ControlId::EnvironmentSegregation, checked, violations)
}

/// At most three sources by name, then how many more.
fn describe_sources(sources: &[&str], scope: &Scope) -> String {
    let mut shown: Vec<String> = sources
        .iter()
        .take(3)
        .map(|s| format!("`{s}` of environment {}", names(scope.envs.environments(s))))
        .collect();
    if sources.len() > 3 {
        shown.push(format!("{} more", sources.len() - 3));
    }
    shown.join(", ")
}

/// One finding per policy that admits ingress from other environments beyond the declared
/// flows, naming what admits them.
fn admitting_policy(
    policy: &NetworkPolicy,
    target: &str,
    sources: &[&str],
    flows: &[Flow],
    scope: &Scope,
) -> Option<Violation> {
    let mut admitted: Vec<&str> = Vec::new();
    let mut how = None;
    for rule in ingress_rules(policy) {
        for source in sources {
            let Some(through) = admits(rule, source, scope) else {
                continue;
            };
            if flow_allows(
                flows,
                scope.envs,
                source,
                target,
                Some(rule.ports.as_deref()),
            ) {
                continue;
            }
            if !admitted.contains(source) {
                admitted.push(source);
            }
            how.get_or_insert(through);
        }
    }
    let how = how?;
    Some(Violation::new(
        ObjectRef::of("NetworkPolicy", &policy.metadata),
        format!(
            "NetworkPolicy {target}/{} admits ingress into environment {} from other environments through {how}: {}",
            policy.metadata.name.as_deref().unwrap_or_default(),
            names(scope.envs.environments(target)),
            describe_sources(&admitted, scope)
        ),
    ))
}

/// Whether an ingress rule admits traffic from namespace `source`, and through which peer.
fn admits(rule: &NetworkPolicyIngressRule, source: &str, scope: &Scope) -> Option<String> {
    let peers = match rule.from.as_deref() {
        None | Some([]) => return Some("an ingress rule without `from` (every source)".into()),
        Some(peers) => peers,
    };
    peers
        .iter()
        .find_map(|peer| peer_admits(peer, source, scope))
}

fn peer_admits(peer: &NetworkPolicyPeer, source: &str, scope: &Scope) -> Option<String> {
    if let Some(block) = &peer.ip_block {
        return Some(format!(
            "ipBlock {} (pod addresses are not known, so an address block counts as every source)",
            block.cidr
        ));
    }
    // A peer with only a podSelector means pods of the policy's own namespace.
    let selector = peer.namespace_selector.as_ref()?;
    let labels = scope.labels.get(source)?;
    if !selects(selector, labels) {
        return None;
    }
    Some(if is_empty_selector(selector) {
        "an empty namespaceSelector (every namespace)".into()
    } else {
        format!("namespaceSelector {}", selector_text(selector))
    })
}

fn selector_text(selector: &LabelSelector) -> String {
    serde_json::to_string(selector).unwrap_or_default()
}

/// Whether a declared flow lets `source`'s environment reach `target`'s on `ports`: `None`
/// asks for every port (only a flow without port limits allows that); a rule's ports are
/// allowed when each one is a port the flow lists (a rule without ports means every port).
fn flow_allows(
    flows: &[Flow],
    envs: &EnvironmentMap,
    source: &str,
    target: &str,
    ports: Option<Option<&[NetworkPolicyPort]>>,
) -> bool {
    let (from, to) = (envs.environments(source), envs.environments(target));
    flows
        .iter()
        .filter(|f| from.contains(&f.from) && to.contains(&f.to))
        .any(|flow| {
            if flow.ports.is_empty() {
                return true;
            }
            match ports.flatten() {
                Some(ports) if !ports.is_empty() => ports.iter().all(|p| {
                    let protocol = p.protocol.as_deref().unwrap_or("TCP");
                    let single = match (&p.port, p.end_port) {
                        (Some(IntOrString::Int(port)), None) => Some(*port),
                        (Some(IntOrString::Int(port)), Some(end)) if end == *port => Some(*port),
                        // Named ports and ranges cannot be matched against numbered flows.
                        _ => None,
                    };
                    single.is_some_and(|port| {
                        flow.ports
                            .iter()
                            .any(|f| f.port == port && f.protocol().as_str() == protocol)
                    })
                }),
                _ => false,
            }
        })
}

/// Without `policyTypes`, a policy governs ingress (and egress only if it has egress rules).
fn governs_ingress(policy: &NetworkPolicy) -> bool {
    policy
        .spec
        .as_ref()
        .and_then(|s| s.policy_types.as_ref())
        .is_none_or(|types| types.iter().any(|t| t == "Ingress"))
}

fn selects_all_pods(policy: &NetworkPolicy) -> bool {
    policy
        .spec
        .as_ref()
        .and_then(|s| s.pod_selector.as_ref())
        .is_none_or(is_empty_selector)
}

/// The policy's ingress rules, if the policy governs ingress at all.
fn ingress_rules(policy: &NetworkPolicy) -> impl Iterator<Item = &NetworkPolicyIngressRule> {
    policy
        .spec
        .as_ref()
        .and_then(|s| s.ingress.as_ref())
        .filter(|_| governs_ingress(policy))
        .into_iter()
        .flatten()
}

fn is_empty_selector(selector: &LabelSelector) -> bool {
    selector
        .match_labels
        .as_ref()
        .is_none_or(BTreeMap::is_empty)
        && selector
            .match_expressions
            .as_ref()
            .is_none_or(Vec::is_empty)
}

// ---- production-data-restricted ----

fn production_data(spec: Option<&ProductionDataSpec>, scope: &Scope) -> ControlOutcome {
    let Some(spec) = spec else {
        return ControlOutcome::not_applicable(ControlId::ProductionDataRestricted);
    };
    let snapshot = scope.snapshot;
    let in_non_production = |ns: &str| scope.envs.is_non_production(ns);
    let config_maps: Vec<&ObjectMetaOnly> = snapshot
        .config_maps
        .iter()
        .map(AsRef::as_ref)
        .filter(|c| in_non_production(&c.namespace))
        .collect();
    let secrets: Vec<&SecretDigest> = snapshot
        .secrets
        .items()
        .iter()
        .map(AsRef::as_ref)
        .filter(|s| in_non_production(&s.namespace))
        .collect();
    let claims: Vec<&PersistentVolumeClaim> = snapshot
        .persistent_volume_claims
        .iter()
        .map(AsRef::as_ref)
        .filter(|p| {
            p.metadata
                .namespace
                .as_deref()
                .is_some_and(in_non_production)
        })
        .collect();

    let mut violations = Vec::new();
    let classified = Classification { spec, scope };
    for c in &config_maps {
        violations.extend(classified.check("ConfigMap", &c.namespace, &c.name, &c.labels));
    }
    for s in &secrets {
        violations.extend(classified.check("Secret", &s.namespace, &s.name, &s.labels));
    }
    for p in &claims {
        let meta = &p.metadata;
        let labels = meta.labels.clone().unwrap_or_default();
        let (ns, name) = (meta.namespace.as_deref(), meta.name.as_deref());
        let (ns, name) = (ns.unwrap_or_default(), name.unwrap_or_default());
        violations.extend(classified.check("PersistentVolumeClaim", ns, name, &labels));
        violations.extend(cloned_from_production(p, scope));
    }
    // Without the Secrets, "no copy found" would be a Pass for a check that never ran.
    let not_run = spec
        .detect_copied_secrets
        .then(|| snapshot.secrets.why_not())
        .flatten();
    if spec.detect_copied_secrets && not_run.is_none() {
        violations.extend(copied_secrets(&secrets, scope));
    }
    for restore in &snapshot.velero.restores {
        violations.extend(restores_production_elsewhere(restore, scope));
    }
    let checked = config_maps.len() + secrets.len() + claims.len() + snapshot.velero.restores.len();
    let outcome = ControlOutcome::checked(ControlId::ProductionDataRestricted, checked, violations);
    match not_run {
        Some(why) => outcome.with_check_not_run(format!("copied-Secret detection: {why}")),
        None => outcome,
    }
}

/// Objects whose classification label marks them as production data.
struct Classification<'a> {
    spec: &'a ProductionDataSpec,
    scope: &'a Scope<'a>,
}

impl Classification<'_> {
    fn check(
        &self,
        kind: &str,
        namespace: &str,
        name: &str,
        labels: &BTreeMap<String, String>,
    ) -> Option<Violation> {
        let value = labels.get(self.spec.classification_label())?;
        if !self.spec.production_values.contains(value) {
            return None;
        }
        let object = ObjectRef {
            kind: kind.to_string(),
            namespace: Some(namespace.to_string()),
            name: name.to_string(),
            labels: labels.clone(),
            pod_labels: None,
        };
        Some(Violation::new(
            object,
            format!(
                "{kind} {namespace}/{name} is classified `{value}` in non-production environment `{}`",
                self.scope.environment(namespace)
            ),
        ))
    }
}

/// Whether a Secret's whole-content digest can be compared at all.
///
/// The snapshot computes a digest only for Secrets worth comparing: service-account tokens and
/// Secrets without data would match each other across every namespace and prove nothing, so
/// they carry the all-zero digest, which never matches here.
fn comparable(secret: &SecretDigest) -> bool {
    secret.digest != [0; 32]
}

/// Non-production Secrets holding a production Secret's content: all of it (same keyed
/// digest), or one of its values under any key (same keyed value digest), so that copying a
/// single production key into a bigger Secret is found too.
///
/// The message names only the non-production Secret and its keys: it lands in that
/// namespace's PolicyReport, where naming the production Secret would let the namespace's
/// tenants confirm guesses of production values (store a guess, watch for the finding). The
/// production Secret is named in the finding's detail, which only the cluster-scoped status
/// carries.
fn copied_secrets(non_production: &[&SecretDigest], scope: &Scope) -> Vec<Violation> {
    let mut whole: BTreeMap<&[u8; 32], Vec<&SecretDigest>> = BTreeMap::new();
    let mut values: BTreeMap<&[u8; 32], Vec<(&SecretDigest, &str)>> = BTreeMap::new();
    for secret in scope.snapshot.secrets.items().iter().map(AsRef::as_ref) {
        if !scope.envs.is_production(&secret.namespace) {
            continue;
        }
        if comparable(secret) {
            whole.entry(&secret.digest).or_default().push(secret);
        }
        for (key, digest) in &secret.value_digests {
            values.entry(digest).or_default().push((secret, key));
        }
    }
    let mut violations = Vec::new();
    for secret in non_production {
        // The first by namespace/name(/key), so the message is stable across resyncs.
        let original = comparable(secret)
            .then(|| whole.get(&secret.digest))
            .flatten()
            .and_then(|matches| matches.iter().min_by_key(|s| (&s.namespace, &s.name)));
        if let Some(original) = original {
            violations.push(
                Violation::new(
                    secret_ref(secret),
                    format!("{secret} holds the same data as a production Secret"),
                )
                .with_detail(format!("copied from production {original}")),
            );
            continue;
        }
        let mut keys = Vec::new();
        let mut originals = BTreeSet::new();
        for (key, digest) in &secret.value_digests {
            if let Some(matches) = values.get(digest) {
                keys.push(key.clone());
                if let Some((original, original_key)) = matches
                    .iter()
                    .min_by_key(|(s, k)| (&s.namespace, &s.name, *k))
                {
                    originals.insert(format!("{original} key `{original_key}`"));
                }
            }
        }
        if !keys.is_empty() {
            let originals: Vec<String> = originals.into_iter().collect();
            violations.push(
                Violation::new(
                    secret_ref(secret),
                    format!(
                        "{secret} holds a value of a production Secret under key {}",
                        names(&keys)
                    ),
                )
                .with_detail(format!("copied from production {}", originals.join(", "))),
            );
        }
    }
    violations
}

fn secret_ref(secret: &SecretDigest) -> ObjectRef {
    ObjectRef {
        kind: "Secret".into(),
        namespace: Some(secret.namespace.clone()),
        name: secret.name.clone(),
        labels: secret.labels.clone(),
        pod_labels: None,
    }
}

/// A non-production PVC cloned or restored from an object in a production namespace.
/// `dataSource` is always same-namespace; only `dataSourceRef.namespace` can reach across.
fn cloned_from_production(claim: &PersistentVolumeClaim, scope: &Scope) -> Option<Violation> {
    let own = claim.metadata.namespace.as_deref().unwrap_or_default();
    let spec = claim.spec.as_ref()?;
    let local = spec
        .data_source
        .as_ref()
        .map(|s| (s.kind.as_str(), own, s.name.as_str()));
    let typed = spec.data_source_ref.as_ref().map(|r| {
        let ns = r.namespace.as_deref().unwrap_or(own);
        (r.kind.as_str(), ns, r.name.as_str())
    });
    let (kind, ns, name) = local
        .into_iter()
        .chain(typed)
        .find(|(_, ns, _)| scope.envs.is_production(ns))?;
    Some(Violation::new(
        ObjectRef::of("PersistentVolumeClaim", &claim.metadata),
        format!(
            "PersistentVolumeClaim {own}/{} is populated from {kind} {ns}/{name} in production namespace `{ns}`",
            claim.metadata.name.as_deref().unwrap_or_default()
        ),
    ))
}

/// A Velero Restore mapping a production namespace into a non-production one. A restore-test
/// sandbox belongs to no environment, so a Restore into one is never a finding here; a
/// namespace that only looks like a sandbox (name, label) is judged by its environment.
fn restores_production_elsewhere(restore: &Restore, scope: &Scope) -> Vec<Violation> {
    restore
        .spec
        .namespace_mapping
        .iter()
        .filter(|(from, to)| scope.envs.is_production(from) && scope.envs.is_non_production(to))
        .map(|(from, to)| {
            Violation::new(
                ObjectRef::of("Restore", &restore.metadata),
                format!(
                    "Restore {}/{} maps production namespace `{from}` into non-production namespace `{to}` (environment `{}`)",
                    restore.metadata.namespace.as_deref().unwrap_or_default(),
                    restore.metadata.name.as_deref().unwrap_or_default(),
                    scope.environment(to)
                ),
            )
        })
        .collect()
}

// ---- cross-environment-access ----

fn cross_environment_access(spec: Option<&IsolationAccessSpec>, scope: &Scope) -> ControlOutcome {
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
fn grants_nothing(role: &RoleRef, namespace: Option<&str>, snapshot: &Snapshot) -> bool {
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
fn non_production_identities(
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

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::api::ControlState;
    use crate::api::environment_isolation::Environment;
    use crate::api::{BackupPolicy, BackupPolicySpec, PortSpec};
    use crate::velero::RestoreSpec;
    use crate::vocabulary::environments::cluster_roles_granting_nothing_in_namespaces;
    use crate::vocabulary::labels::{RESTORE_TEST_LABEL, RESTORE_TEST_POLICY_UID};
    use k8s_openapi::api::core::v1::{Namespace, PersistentVolumeClaimSpec, TypedObjectReference};
    use k8s_openapi::api::networking::v1::{IPBlock, NetworkPolicySpec};
    use k8s_openapi::api::rbac::v1::PolicyRule;
    use k8s_openapi::api::rbac::v1::{ClusterRoleBinding, RoleBinding, RoleRef};
    use k8s_openapi::apimachinery::pkg::apis::meta::v1::LabelSelectorRequirement;
    use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
    use std::sync::Arc;

    pub(crate) fn meta(namespace: Option<&str>, name: &str) -> ObjectMeta {
        ObjectMeta {
            namespace: namespace.map(str::to_string),
            name: Some(name.to_string()),
            ..Default::default()
        }
    }

    fn env_label(value: &str) -> BTreeMap<String, String> {
        BTreeMap::from([("env".to_string(), value.to_string())])
    }

    pub(crate) fn environment(name: &str, production: bool) -> Environment {
        Environment {
            name: name.into(),
            production,
            namespace_selector: LabelSelector {
                match_labels: Some(env_label(name)),
                ..Default::default()
            },
        }
    }

    /// `production` and `dev`, selected by `env=<name>`.
    pub(crate) fn spec() -> EnvironmentIsolationSpec {
        EnvironmentIsolationSpec {
            mode: None,
            environments: vec![environment("production", true), environment("dev", false)],
            allowed_flows: vec![],
            production_data: Some(ProductionDataSpec {
                classification_label: None,
                production_values: vec!["production".into()],
                detect_copied_secrets: true,
            }),
            access: Some(IsolationAccessSpec {
                deny_cross_environment_bindings: true,
                non_production_groups: vec!["contractors".into()],
            }),
            protect_environment_labels: None,
            exemptions: vec![],
        }
    }

    pub(crate) fn namespace(name: &str, labels: &[(&str, &str)]) -> Arc<Namespace> {
        let mut m = meta(None, name);
        m.labels = Some(
            labels
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
        );
        Arc::new(Namespace {
            metadata: m,
            ..Default::default()
        })
    }

    /// `prod` (production), `dev` (dev), both with the isolation policy of CR `iso`.
    pub(crate) fn snapshot() -> Snapshot {
        Snapshot {
            namespaces: vec![
                namespace("prod", &[("env", "production")]),
                namespace("dev", &[("env", "dev")]),
            ],
            network_policies: vec![isolation_policy("prod"), isolation_policy("dev")],
            secrets: crate::snapshot::Observed::Observed(vec![]),
            ..Default::default()
        }
    }

    fn isolation_policy(namespace: &str) -> Arc<NetworkPolicy> {
        Arc::new(NetworkPolicy {
            metadata: meta(Some(namespace), &isolation_policy_name("iso")),
            spec: Some(NetworkPolicySpec::default()),
        })
    }

    fn now() -> Timestamp {
        "2025-06-01T00:00:00Z".parse().unwrap()
    }

    fn control(snapshot: &Snapshot, spec: &EnvironmentIsolationSpec, id: ControlId) -> Vec<String> {
        let evaluation = evaluate("iso", spec, snapshot, now());
        let evidence = evaluation.controls.iter().find(|c| c.id == id).unwrap();
        evidence.failed.iter().map(|v| v.message.clone()).collect()
    }

    fn digest_secret(namespace: &str, name: &str, byte: u8) -> Arc<SecretDigest> {
        Arc::new(SecretDigest {
            namespace: namespace.into(),
            name: name.into(),
            labels: BTreeMap::new(),
            digest: [byte; 32],
            value_digests: BTreeMap::new(),
        })
    }

    fn subject(kind: &str, namespace: Option<&str>, name: &str) -> Subject {
        Subject {
            kind: kind.into(),
            name: name.into(),
            namespace: namespace.map(str::to_string),
            api_group: None,
        }
    }

    fn role_ref() -> RoleRef {
        RoleRef {
            api_group: Some("rbac.authorization.k8s.io".into()),
            kind: "ClusterRole".into(),
            name: "edit".into(),
        }
    }

    #[test]
    fn clean_cluster_passes_in_catalog_order() {
        let evaluation = evaluate("iso", &spec(), &snapshot(), now());
        let ids: Vec<ControlId> = evaluation.controls.iter().map(|c| c.id).collect();
        assert_eq!(
            ids,
            [
                ControlId::EnvironmentSegregation,
                ControlId::ProductionDataRestricted,
                ControlId::CrossEnvironmentAccess
            ]
        );
        assert!(evaluation.compliant());
        assert_eq!(evaluation.namespaces, ["dev", "prod"]);
    }

    #[test]
    fn overlapping_namespace_is_a_finding_and_treated_as_production() {
        let mut snapshot = snapshot();
        snapshot.namespaces.push(namespace(
            "shared",
            &[("env", "dev"), ("tier", "production")],
        ));
        snapshot.network_policies.push(isolation_policy("shared"));
        // Production selects by `tier`, dev by `env`: `shared` carries both.
        let mut spec = spec();
        spec.environments[0].namespace_selector = LabelSelector {
            match_labels: Some(BTreeMap::from([("tier".into(), "production".into())])),
            ..Default::default()
        };
        snapshot.namespaces[0] = namespace("prod", &[("tier", "production")]);
        let envs = environments_of(&spec, &snapshot);
        assert!(envs.is_production("shared"));
        assert!(!envs.is_non_production("shared"));
        assert_eq!(envs.non_production_namespaces(), ["dev"]);
        let failed = control(&snapshot, &spec, ControlId::EnvironmentSegregation);
        assert_eq!(failed.len(), 1, "{failed:?}");
        assert!(failed[0].contains("`shared` is selected by environments `production`, `dev`"));
    }

    #[test]
    fn a_namespace_without_isolation_is_reached_from_other_environments() {
        let mut snapshot = snapshot();
        snapshot.network_policies.remove(1);
        let failed = control(&snapshot, &spec(), ControlId::EnvironmentSegregation);
        assert_eq!(
            failed,
            [
                "namespace `dev` (environment `dev`) does not isolate ingress: no NetworkPolicy selects all its pods for Ingress, so namespaces of other environments reach it (`prod` of environment `production`); in Enforce mode the operator maintains ei-iso-isolation there"
            ]
        );
    }

    /// Audit mode: no owned policy anywhere, only what the cluster's owners wrote. Isolated
    /// namespaces pass whatever their policies are called; open ones, partial ones and
    /// egress-only ones do not.
    #[test]
    fn hand_written_policies_are_judged_in_audit_mode() {
        let mut snapshot = snapshot();
        let deny = |ns: &str, name: &str, spec: NetworkPolicySpec| {
            Arc::new(NetworkPolicy {
                metadata: meta(Some(ns), name),
                spec: Some(spec),
            })
        };
        snapshot.network_policies = vec![deny(
            "prod",
            "default-deny",
            NetworkPolicySpec {
                policy_types: Some(vec!["Ingress".into()]),
                ..Default::default()
            },
        )];
        assert!(
            control(&snapshot, &spec(), ControlId::EnvironmentSegregation)
                .iter()
                .all(|m| m.starts_with("namespace `dev`"))
        );
        // Pods not selected by any ingress policy are open, and egress-only isolates nothing.
        snapshot.network_policies = vec![
            deny(
                "prod",
                "some-pods",
                NetworkPolicySpec {
                    pod_selector: Some(LabelSelector {
                        match_labels: Some(BTreeMap::from([("app".into(), "db".into())])),
                        ..Default::default()
                    }),
                    ..Default::default()
                },
            ),
            deny(
                "dev",
                "egress-only",
                NetworkPolicySpec {
                    policy_types: Some(vec!["Egress".into()]),
                    ..Default::default()
                },
            ),
        ];
        let failed = control(&snapshot, &spec(), ControlId::EnvironmentSegregation);
        assert_eq!(failed.len(), 2, "{failed:?}");
        assert!(
            failed
                .iter()
                .all(|m| m.contains("does not isolate ingress"))
        );
    }

    /// A BackupPolicy with uid `bp-uid`, whose sandboxes carry that uid.
    fn backup_policy() -> Arc<BackupPolicy> {
        let mut policy = BackupPolicy::new(
            "nightly",
            BackupPolicySpec {
                mode: None,
                namespace_selector: LabelSelector::default(),
                rpo: "24h".into(),
                rto: None,
                schedule: None,
                retention: None,
                storage_location: None,
                require_encryption: false,
                snapshot_volumes: None,
                restore_test: None,
                velero: None,
                exemptions: vec![],
            },
        );
        policy.metadata.uid = Some("bp-uid".into());
        Arc::new(policy)
    }

    /// A namespace labelled `env=dev`, with the sandbox label and uid annotation if given.
    fn sandbox_candidate(name: &str, label: bool, uid: Option<&str>) -> Arc<Namespace> {
        let mut labels = vec![("env", "dev")];
        if label {
            labels.push((RESTORE_TEST_LABEL, "true"));
        }
        let mut ns = (*namespace(name, &labels)).clone();
        ns.metadata.annotations =
            uid.map(|u| BTreeMap::from([(RESTORE_TEST_POLICY_UID.to_string(), u.into())]));
        Arc::new(ns)
    }

    #[test]
    fn a_sandbox_needs_the_operators_marks_and_an_existing_backup_policy() {
        let candidate = sandbox_candidate;
        let mut snapshot = snapshot();
        snapshot.custom_resources.backup_policies = vec![backup_policy()];
        snapshot.namespaces.extend([
            candidate("restore-test-real", true, Some("bp-uid")),
            // Impersonations: the name alone, the label alone, a made-up uid, the marks on a
            // namespace with another name (an existing namespace relabelled).
            candidate("restore-test-name-only", false, None),
            candidate("label-only", true, None),
            candidate("restore-test-made-up", true, Some("no-such-policy")),
            candidate("relabelled", true, Some("bp-uid")),
        ]);
        let envs = environments_of(&spec(), &snapshot);
        assert!(envs.environments("restore-test-real").is_empty());
        for impostor in [
            "restore-test-name-only",
            "label-only",
            "restore-test-made-up",
            "relabelled",
        ] {
            assert_eq!(envs.environments(impostor), ["dev"], "{impostor}");
        }
    }

    fn ingress_policy(
        namespace: &str,
        name: &str,
        from: Option<Vec<NetworkPolicyPeer>>,
    ) -> Arc<NetworkPolicy> {
        ingress_policy_on(namespace, name, from, None)
    }

    fn ingress_policy_on(
        namespace: &str,
        name: &str,
        from: Option<Vec<NetworkPolicyPeer>>,
        ports: Option<Vec<NetworkPolicyPort>>,
    ) -> Arc<NetworkPolicy> {
        Arc::new(NetworkPolicy {
            metadata: meta(Some(namespace), name),
            spec: Some(NetworkPolicySpec {
                ingress: Some(vec![NetworkPolicyIngressRule { from, ports }]),
                ..Default::default()
            }),
        })
    }

    fn namespaces_labelled(key: &str, value: &str) -> NetworkPolicyPeer {
        NetworkPolicyPeer {
            namespace_selector: Some(LabelSelector {
                match_labels: Some(BTreeMap::from([(key.into(), value.into())])),
                ..Default::default()
            }),
            ..Default::default()
        }
    }

    #[test]
    fn policies_admitting_other_environments_are_findings() {
        let mut snapshot = snapshot();
        let dev_peer = namespaces_labelled("env", "dev");
        let block = |cidr: &str| NetworkPolicyPeer {
            ip_block: Some(IPBlock {
                cidr: cidr.into(),
                except: None,
            }),
            ..Default::default()
        };
        let same_namespace = NetworkPolicyPeer {
            pod_selector: Some(LabelSelector::default()),
            ..Default::default()
        };
        let not_production = NetworkPolicyPeer {
            namespace_selector: Some(LabelSelector {
                match_expressions: Some(vec![LabelSelectorRequirement {
                    key: "env".into(),
                    operator: "NotIn".into(),
                    values: Some(vec!["production".into()]),
                }]),
                ..Default::default()
            }),
            ..Default::default()
        };
        snapshot.network_policies.extend([
            ingress_policy("prod", "from-dev", Some(vec![dev_peer.clone()])),
            ingress_policy("prod", "from-world", Some(vec![block("0.0.0.0/0")])),
            // Pod addresses are unknown: a narrow block counts as every source too.
            ingress_policy("prod", "from-one-address", Some(vec![block("10.1.2.3/32")])),
            ingress_policy("prod", "from-anywhere", None),
            ingress_policy("prod", "same-namespace", Some(vec![same_namespace])),
            ingress_policy(
                "prod",
                "production-only",
                Some(vec![namespaces_labelled("env", "production")]),
            ),
            // Non-production to non-production counts too: dev admitting production...
            ingress_policy("dev", "not-production", Some(vec![not_production])),
            ingress_policy("dev", "dev-from-dev", Some(vec![dev_peer])),
            ingress_policy(
                "dev",
                "from-everywhere",
                Some(vec![NetworkPolicyPeer {
                    namespace_selector: Some(LabelSelector::default()),
                    ..Default::default()
                }]),
            ),
        ]);
        let failed = control(&snapshot, &spec(), ControlId::EnvironmentSegregation);
        assert_eq!(failed.len(), 5, "{failed:?}");
        let has = |policy: &str, how: &str| {
            failed.iter().any(|m| {
                m.starts_with(&format!("NetworkPolicy {policy} admits")) && m.contains(how)
            })
        };
        assert!(
            has(
                "prod/from-dev",
                "namespaceSelector {\"matchLabels\":{\"env\":\"dev\"}}: `dev` of environment `dev`"
            ),
            "{failed:?}"
        );
        assert!(has("prod/from-world", "ipBlock 0.0.0.0/0"));
        assert!(has("prod/from-one-address", "ipBlock 10.1.2.3/32"));
        assert!(has("prod/from-anywhere", "without `from`"));
        assert!(has(
            "dev/from-everywhere",
            "an empty namespaceSelector (every namespace): `prod` of environment `production`"
        ));
    }

    #[test]
    fn declared_flows_are_allowed_on_their_ports_only() {
        let mut spec = spec();
        spec.environments.push(environment("staging", false));
        spec.allowed_flows = vec![Flow {
            from: "staging".into(),
            to: "production".into(),
            ports: vec![PortSpec {
                port: 443,
                protocol: None,
            }],
        }];
        let port = |p: i32, protocol: Option<&str>| NetworkPolicyPort {
            port: Some(IntOrString::Int(p)),
            protocol: protocol.map(str::to_string),
            end_port: None,
        };
        let staging = || Some(vec![namespaces_labelled("env", "staging")]);
        let mut snapshot = snapshot();
        snapshot
            .namespaces
            .push(namespace("staging", &[("env", "staging")]));
        snapshot.network_policies.extend([
            isolation_policy("staging"),
            ingress_policy_on(
                "prod",
                "https",
                staging(),
                Some(vec![port(443, Some("TCP"))]),
            ),
            ingress_policy_on(
                "prod",
                "http",
                staging(),
                Some(vec![port(443, None), port(80, None)]),
            ),
            ingress_policy_on("prod", "udp", staging(), Some(vec![port(443, Some("UDP"))])),
            ingress_policy_on("prod", "every-port", staging(), None),
        ]);
        let failed = control(&snapshot, &spec, ControlId::EnvironmentSegregation);
        let policies: Vec<&str> = failed
            .iter()
            .map(|m| m.split_whitespace().nth(1).unwrap())
            .collect();
        assert_eq!(
            policies,
            ["prod/every-port", "prod/http", "prod/udp"],
            "{failed:?}"
        );
        // A flow without ports allows every port.
        spec.allowed_flows[0].ports.clear();
        assert!(control(&snapshot, &spec, ControlId::EnvironmentSegregation).is_empty());
    }

    #[test]
    fn classified_config_map_in_dev_is_a_finding() {
        let mut snapshot = snapshot();
        let classified = |ns: &str, name: &str, value: &str| {
            Arc::new(ObjectMetaOnly {
                kind: "ConfigMap",
                namespace: ns.into(),
                name: name.into(),
                labels: BTreeMap::from([("data.baseline.dev/classification".into(), value.into())]),
            })
        };
        snapshot.config_maps = vec![
            classified("dev", "x", "production"),
            classified("dev", "y", "public"),
            classified("prod", "z", "production"),
        ];
        let failed = control(&snapshot, &spec(), ControlId::ProductionDataRestricted);
        assert_eq!(
            failed,
            ["ConfigMap dev/x is classified `production` in non-production environment `dev`"]
        );
    }

    fn evidence(
        snapshot: &Snapshot,
        spec: &EnvironmentIsolationSpec,
        id: ControlId,
    ) -> Vec<Violation> {
        let evaluation = evaluate("iso", spec, snapshot, now());
        let evidence = evaluation.controls.iter().find(|c| c.id == id).unwrap();
        evidence.failed.clone()
    }

    #[test]
    fn copied_secret_names_the_production_original_only_in_cluster_scoped_detail() {
        let mut snapshot = snapshot();
        snapshot.secrets = crate::snapshot::Observed::Observed(vec![
            digest_secret("prod", "db", 7),
            digest_secret("dev", "db", 7),
            // Same name, different content: not a copy.
            digest_secret("prod", "api", 8),
            digest_secret("dev", "api", 9),
            // Not comparable (service-account tokens, empty Secrets).
            digest_secret("prod", "token", 0),
            digest_secret("dev", "token", 0),
        ]);
        let failed = evidence(&snapshot, &spec(), ControlId::ProductionDataRestricted);
        assert_eq!(failed.len(), 1, "{failed:?}");
        assert_eq!(
            failed[0].message,
            "Secret dev/db holds the same data as a production Secret"
        );
        assert!(!failed[0].message.contains("prod/"));
        assert_eq!(
            failed[0].finding().message,
            "Secret dev/db holds the same data as a production Secret (copied from production Secret prod/db)"
        );
        let mut off = spec();
        off.production_data.as_mut().unwrap().detect_copied_secrets = false;
        assert!(control(&snapshot, &off, ControlId::ProductionDataRestricted).is_empty());
    }

    #[test]
    fn one_production_value_copied_into_a_bigger_secret_is_found() {
        let with_values = |ns: &str, name: &str, values: &[(&str, u8)]| {
            let mut secret = (*digest_secret(ns, name, values.len() as u8 + 40)).clone();
            secret.value_digests = values
                .iter()
                .map(|(k, b)| (k.to_string(), [*b; 32]))
                .collect();
            Arc::new(secret)
        };
        let mut snapshot = snapshot();
        snapshot.secrets = crate::snapshot::Observed::Observed(vec![
            with_values("prod", "db", &[("password", 1), ("user", 2)]),
            with_values(
                "dev",
                "app",
                &[("DB_PASSWORD", 1), ("FEATURE_FLAGS", 3), ("X", 4)],
            ),
            with_values("dev", "other", &[("token", 5)]),
        ]);
        let failed = evidence(&snapshot, &spec(), ControlId::ProductionDataRestricted);
        assert_eq!(failed.len(), 1, "{failed:?}");
        assert_eq!(
            failed[0].message,
            "Secret dev/app holds a value of a production Secret under key `DB_PASSWORD`"
        );
        assert_eq!(
            failed[0].detail.as_deref(),
            Some("copied from production Secret prod/db key `password`")
        );
    }

    #[test]
    fn pvc_cloned_from_production_is_a_finding() {
        let mut snapshot = snapshot();
        let claim = |name: &str, source_ns: Option<&str>| {
            Arc::new(PersistentVolumeClaim {
                metadata: meta(Some("dev"), name),
                spec: Some(PersistentVolumeClaimSpec {
                    data_source_ref: Some(TypedObjectReference {
                        api_group: Some("snapshot.storage.k8s.io".into()),
                        kind: "VolumeSnapshot".into(),
                        name: "snap".into(),
                        namespace: source_ns.map(str::to_string),
                    }),
                    ..Default::default()
                }),
                status: None,
            })
        };
        snapshot.persistent_volume_claims =
            vec![claim("cloned", Some("prod")), claim("local", None)];
        let failed = control(&snapshot, &spec(), ControlId::ProductionDataRestricted);
        assert_eq!(failed.len(), 1, "{failed:?}");
        assert!(failed[0].contains("dev/cloned is populated from VolumeSnapshot prod/snap"));
    }

    fn restore(name: &str, from: &str, to: &str) -> Arc<Restore> {
        Arc::new(Restore {
            metadata: meta(Some("velero"), name),
            spec: RestoreSpec {
                backup_name: "nightly".into(),
                included_namespaces: vec![from.into()],
                namespace_mapping: BTreeMap::from([(from.into(), to.into())]),
            },
            status: None,
        })
    }

    #[test]
    fn restore_of_production_into_dev_is_a_finding_except_the_sandbox() {
        let mut snapshot = snapshot();
        snapshot.custom_resources.backup_policies = vec![backup_policy()];
        // A sandbox whose labels would otherwise make it part of `dev`, and a dev namespace
        // that only looks like one.
        snapshot.namespaces.extend([
            sandbox_candidate("restore-test-nightly", true, Some("bp-uid")),
            sandbox_candidate("restore-test-lookalike", true, None),
        ]);
        snapshot.network_policies.extend([
            isolation_policy("restore-test-nightly"),
            isolation_policy("restore-test-lookalike"),
        ]);
        snapshot.velero.restores = vec![
            restore("into-dev", "prod", "dev"),
            restore("into-sandbox", "prod", "restore-test-nightly"),
            restore("into-lookalike", "prod", "restore-test-lookalike"),
            restore("in-place", "prod", "prod"),
        ];
        let failed = control(&snapshot, &spec(), ControlId::ProductionDataRestricted);
        assert_eq!(
            failed,
            [
                "Restore velero/into-dev maps production namespace `prod` into non-production namespace `dev` (environment `dev`)",
                "Restore velero/into-lookalike maps production namespace `prod` into non-production namespace `restore-test-lookalike` (environment `dev`)"
            ]
        );
    }

    #[test]
    fn cross_environment_bindings_are_findings() {
        let mut snapshot = snapshot();
        let role_binding = |ns: &str, name: &str, subjects: Vec<Subject>| {
            Arc::new(RoleBinding {
                metadata: meta(Some(ns), name),
                role_ref: role_ref(),
                subjects: Some(subjects),
            })
        };
        snapshot.role_bindings = vec![
            role_binding(
                "prod",
                "ci",
                vec![subject("ServiceAccount", Some("dev"), "deployer")],
            ),
            role_binding("prod", "own", vec![subject("ServiceAccount", None, "app")]),
            role_binding(
                "prod",
                "vendors",
                vec![subject("Group", None, "contractors")],
            ),
            // Non-production namespaces may bind whom they like.
            role_binding(
                "dev",
                "dev-ci",
                vec![subject("ServiceAccount", Some("dev"), "deployer")],
            ),
        ];
        snapshot.cluster_role_bindings = vec![Arc::new(ClusterRoleBinding {
            metadata: meta(None, "dev-admin"),
            role_ref: role_ref(),
            subjects: Some(vec![subject("ServiceAccount", Some("dev"), "admin")]),
        })];
        let failed = control(&snapshot, &spec(), ControlId::CrossEnvironmentAccess);
        assert_eq!(failed.len(), 3, "{failed:?}");
        assert!(failed.iter().any(|m| m.starts_with(
            "RoleBinding prod/ci lets ServiceAccount dev/deployer of non-production namespace `dev`"
        ) && m.ends_with("act in production namespace `prod`")));
        assert!(failed.iter().any(|m| m.contains("group `contractors`")));
        assert!(failed.iter().any(|m| {
            m.starts_with("ClusterRoleBinding dev-admin lets ServiceAccount dev/admin")
                && m.contains("`prod`")
        }));
    }

    /// Every way RBAC names a non-production identity, in RoleBindings and
    /// ClusterRoleBindings; production identities in the same forms pass.
    #[test]
    fn non_production_identities_are_found_in_every_form() {
        let cases: &[(&str, &str, bool)] = &[
            ("User", "system:serviceaccount:dev:ci", true),
            ("User", "system:serviceaccount:prod:ci", false),
            ("User", "system:serviceaccount:devx", false),
            ("User", "alice", false),
            ("Group", "system:serviceaccounts:dev", true),
            ("Group", "system:serviceaccounts:prod", false),
            ("Group", "system:serviceaccounts", true),
            ("Group", "system:authenticated", true),
            ("Group", "contractors", true),
            ("Group", "platform-admins", false),
        ];
        for (kind, name, cross) in cases {
            let subjects = vec![Subject {
                kind: kind.to_string(),
                name: name.to_string(),
                namespace: None,
                api_group: Some("rbac.authorization.k8s.io".into()),
            }];
            let mut snapshot = snapshot();
            snapshot.role_bindings = vec![Arc::new(RoleBinding {
                metadata: meta(Some("prod"), "rb"),
                role_ref: role_ref(),
                subjects: Some(subjects.clone()),
            })];
            snapshot.cluster_role_bindings = vec![Arc::new(ClusterRoleBinding {
                metadata: meta(None, "crb"),
                role_ref: role_ref(),
                subjects: Some(subjects),
            })];
            let failed = control(&snapshot, &spec(), ControlId::CrossEnvironmentAccess);
            assert_eq!(
                failed.len(),
                if *cross { 2 } else { 0 },
                "{kind} {name}: {failed:?}"
            );
        }
    }

    /// Kubernetes binds `system:authenticated` to discovery and self-review roles in every
    /// cluster; those grant nothing in a namespace and are not findings. The same subject
    /// bound to a role that grants something, or to a role not in the cluster, is.
    #[test]
    fn bindings_of_roles_granting_nothing_in_namespaces_are_left_out() {
        use k8s_openapi::api::rbac::v1::ClusterRole;
        let rule = |groups: &[&str], resources: &[&str], urls: &[&str]| PolicyRule {
            api_groups: Some(groups.iter().map(|g| g.to_string()).collect()),
            resources: Some(resources.iter().map(|r| r.to_string()).collect()),
            non_resource_urls: Some(urls.iter().map(|u| u.to_string()).collect()),
            verbs: vec!["get".into()],
            ..Default::default()
        };
        let role = |name: &str, rules: Vec<PolicyRule>| {
            Arc::new(ClusterRole {
                metadata: meta(None, name),
                rules: Some(rules),
                aggregation_rule: None,
            })
        };
        let mut snapshot = snapshot();
        snapshot.cluster_roles = vec![
            role(
                "system:discovery",
                vec![rule(&[], &[], &["/api", "/version"])],
            ),
            role(
                "system:basic-user",
                vec![PolicyRule {
                    verbs: vec!["create".into()],
                    ..rule(
                        &["authorization.k8s.io"],
                        &["selfsubjectaccessreviews", "selfsubjectrulesreviews"],
                        &[],
                    )
                }],
            ),
            role("reader", vec![rule(&[""], &["configmaps"], &[])]),
            // A public resource with a verb beyond the harmless ones grants something.
            role(
                "bundle-reader",
                vec![rule(
                    &["certificates.k8s.io"],
                    &["clustertrustbundles"],
                    &[],
                )],
            ),
            role(
                "bundle-writer",
                vec![PolicyRule {
                    verbs: vec!["get".into(), "update".into()],
                    ..rule(&["certificates.k8s.io"], &["clustertrustbundles"], &[])
                }],
            ),
        ];
        let bound = |name: &str, role: &str| {
            Arc::new(ClusterRoleBinding {
                metadata: meta(None, name),
                role_ref: RoleRef {
                    api_group: Some("rbac.authorization.k8s.io".into()),
                    kind: "ClusterRole".into(),
                    name: role.into(),
                },
                subjects: Some(vec![subject("Group", None, "system:authenticated")]),
            })
        };
        snapshot.cluster_role_bindings = vec![
            bound("system:discovery", "system:discovery"),
            bound("system:basic-user", "system:basic-user"),
            bound("bundles", "bundle-reader"),
            bound("readers", "reader"),
            bound("bundle-writers", "bundle-writer"),
            bound("unknown", "no-such-role"),
        ];
        let failed = control(&snapshot, &spec(), ControlId::CrossEnvironmentAccess);
        assert_eq!(failed.len(), 3, "{failed:?}");
        assert!(
            failed
                .iter()
                .any(|m| m.starts_with("ClusterRoleBinding bundle-writers "))
        );
        assert!(
            failed
                .iter()
                .any(|m| m.starts_with("ClusterRoleBinding readers "))
        );
        assert!(
            failed
                .iter()
                .any(|m| m.starts_with("ClusterRoleBinding unknown "))
        );
        assert_eq!(
            cluster_roles_granting_nothing_in_namespaces(&snapshot),
            ["bundle-reader", "system:basic-user", "system:discovery"]
        );
    }

    /// `system:serviceaccounts` and `system:authenticated` include non-production identities
    /// only when there are some.
    #[test]
    fn broad_groups_are_findings_only_when_non_production_identities_exist() {
        let mut snapshot = snapshot();
        snapshot
            .namespaces
            .retain(|ns| ns.metadata.name.as_deref() != Some("dev"));
        let mut spec = spec();
        spec.access.as_mut().unwrap().non_production_groups.clear();
        snapshot.cluster_role_bindings = vec![Arc::new(ClusterRoleBinding {
            metadata: meta(None, "crb"),
            role_ref: role_ref(),
            subjects: Some(vec![
                subject("Group", None, "system:serviceaccounts"),
                subject("Group", None, "system:authenticated"),
            ]),
        })];
        assert!(control(&snapshot, &spec, ControlId::CrossEnvironmentAccess).is_empty());
        spec.access.as_mut().unwrap().non_production_groups = vec!["contractors".into()];
        let failed = control(&snapshot, &spec, ControlId::CrossEnvironmentAccess);
        assert_eq!(failed.len(), 1, "{failed:?}");
        assert!(failed[0].contains("`system:authenticated`"));
    }

    #[test]
    fn unconfigured_controls_are_not_applicable() {
        let mut spec = spec();
        spec.production_data = None;
        spec.access
            .as_mut()
            .unwrap()
            .deny_cross_environment_bindings = false;
        let evaluation = evaluate("iso", &spec, &snapshot(), now());
        let states: Vec<ControlState> = evaluation.controls.iter().map(|c| c.state).collect();
        assert_eq!(
            states,
            [
                ControlState::Pass,
                ControlState::NotApplicable,
                ControlState::NotApplicable
            ]
        );
    }
}
