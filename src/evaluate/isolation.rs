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
#[path = "isolation_tests.rs"]
pub(crate) mod tests;
