//! EnvironmentIsolation controls: environments defined by namespace selectors, kept apart on
//! the network (`environment-segregation`), in data (`production-data-restricted`) and in
//! access (`cross-environment-access`).
//!
//! A namespace two environments claim is never silently given to one of them: it is a
//! segregation finding, and the data and access rules treat it as production, the safer side.

use super::{ControlOutcome, Evaluation, ObjectRef, Violation, selects};
use crate::api::EnvironmentIsolationSpec;
use crate::api::environment_isolation::{IsolationAccessSpec, ProductionDataSpec};
use crate::catalog::ControlId;
use crate::snapshot::{ObjectMetaOnly, SecretDigest, Snapshot};
use crate::velero::Restore;
use jiff::Timestamp;
use k8s_openapi::api::core::v1::PersistentVolumeClaim;
use k8s_openapi::api::networking::v1::{
    NetworkPolicy, NetworkPolicyIngressRule, NetworkPolicyPeer,
};
use k8s_openapi::api::rbac::v1::Subject;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::LabelSelector;
use std::collections::BTreeMap;

/// Marks the quarantined restore-test sandbox (value `true`). Such namespaces belong to no
/// environment: they hold restored production data on purpose, behind a deny-all network.
pub const RESTORE_TEST_LABEL: &str = "security.baseline.dev/restore-test";
/// Name prefix of restore-test sandboxes, for Restores whose target does not exist yet.
pub const RESTORE_TEST_PREFIX: &str = "restore-test-";

/// The owned NetworkPolicy that isolates each namespace of an environment.
pub fn isolation_policy_name(cr_name: &str) -> String {
    format!("ei-{cr_name}-isolation")
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
}

pub fn is_restore_test(labels: &BTreeMap<String, String>) -> bool {
    labels.get(RESTORE_TEST_LABEL).is_some_and(|v| v == "true")
}

/// Resolves environment membership from the namespaces' labels.
pub fn environments_of(spec: &EnvironmentIsolationSpec, snapshot: &Snapshot) -> EnvironmentMap {
    let mut namespaces = BTreeMap::new();
    for (name, labels) in snapshot.namespace_labels() {
        if is_restore_test(labels) {
            continue;
        }
        let envs: Vec<String> = spec
            .environments
            .iter()
            .filter(|env| selects(&env.namespace_selector, labels))
            .map(|env| env.name.clone())
            .collect();
        if !envs.is_empty() {
            namespaces.insert(name.to_string(), envs);
        }
    }
    let production = spec
        .environments
        .iter()
        .map(|env| (env.name.clone(), env.production))
        .collect();
    EnvironmentMap {
        namespaces,
        production,
    }
}

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
        segregation(&isolation_policy_name(name), &scope),
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

    /// The only environment of a non-production namespace, for messages.
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

fn segregation(policy_name: &str, scope: &Scope) -> ControlOutcome {
    let mut violations = Vec::new();
    let mut checked = 0;
    for (namespace, envs) in &scope.envs.namespaces {
        checked += 1;
        let ns_ref = scope.namespace_ref(namespace);
        if envs.len() > 1 {
            violations.push(Violation::new(
                ns_ref.clone(),
                format!(
                    "namespace `{namespace}` is selected by environments {}; it is treated as production until only one selects it",
                    names(envs)
                ),
            ));
        }
        if !has_policy(scope.snapshot, namespace, policy_name) {
            violations.push(Violation::new(
                ns_ref,
                format!("namespace `{namespace}` has no isolation NetworkPolicy"),
            ));
        }
    }
    for policy in foreign_production_policies(policy_name, scope) {
        checked += 1;
        if let Some(source) = non_production_source(policy, scope) {
            violations.push(Violation::new(
                ObjectRef::of("NetworkPolicy", &policy.metadata),
                format!(
                    "NetworkPolicy {}/{} in a production namespace admits ingress from {source}",
                    policy.metadata.namespace.as_deref().unwrap_or_default(),
                    policy.metadata.name.as_deref().unwrap_or_default(),
                ),
            ));
        }
    }
    ControlOutcome::checked(ControlId::EnvironmentSegregation, checked, violations)
}

fn has_policy(snapshot: &Snapshot, namespace: &str, name: &str) -> bool {
    snapshot.network_policies.iter().any(|p| {
        p.metadata.namespace.as_deref() == Some(namespace)
            && p.metadata.name.as_deref() == Some(name)
    })
}

/// NetworkPolicies in production namespaces other than the owned isolation policy: NetworkPolicies
/// add up, so any one of them can reopen what the isolation policy closes.
fn foreign_production_policies<'a>(
    policy_name: &'a str,
    scope: &'a Scope,
) -> impl Iterator<Item = &'a NetworkPolicy> {
    scope
        .snapshot
        .network_policies
        .iter()
        .map(AsRef::as_ref)
        .filter(move |p| p.metadata.name.as_deref() != Some(policy_name))
        .filter(|p| {
            p.metadata
                .namespace
                .as_deref()
                .is_some_and(|ns| scope.envs.is_production(ns))
        })
}

/// Describes the first non-production source the policy admits ingress from, if any.
fn non_production_source(policy: &NetworkPolicy, scope: &Scope) -> Option<String> {
    ingress_rules(policy).find_map(|rule| match rule.from.as_deref() {
        // A rule without sources admits every source.
        None | Some([]) => Some("every source (an ingress rule without `from`)".to_string()),
        Some(peers) => peers
            .iter()
            .find_map(|peer| non_production_peer(peer, scope)),
    })
}

/// The policy's ingress rules, if the policy governs ingress at all.
fn ingress_rules(policy: &NetworkPolicy) -> impl Iterator<Item = &NetworkPolicyIngressRule> {
    let spec = policy.spec.as_ref();
    // Without `policyTypes`, a policy always governs ingress.
    let governs_ingress = spec
        .and_then(|s| s.policy_types.as_ref())
        .is_none_or(|types| types.iter().any(|t| t == "Ingress"));
    spec.and_then(|s| s.ingress.as_ref())
        .filter(|_| governs_ingress)
        .into_iter()
        .flatten()
}

fn non_production_peer(peer: &NetworkPolicyPeer, scope: &Scope) -> Option<String> {
    if let Some(block) = &peer.ip_block
        && matches!(block.cidr.as_str(), "0.0.0.0/0" | "::/0")
    {
        return Some(format!("every address (ipBlock {})", block.cidr));
    }
    let selector = peer.namespace_selector.as_ref()?;
    if is_empty_selector(selector) {
        return Some("every namespace (an empty namespaceSelector)".into());
    }
    scope
        .envs
        .non_production_namespaces()
        .into_iter()
        .find(|ns| {
            scope
                .labels
                .get(ns.as_str())
                .is_some_and(|labels| selects(selector, labels))
        })
        .map(|ns| {
            format!(
                "non-production namespace `{ns}` (environment `{}`)",
                scope.environment(&ns)
            )
        })
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
    if spec.detect_copied_secrets {
        violations.extend(copied_secrets(&secrets, scope));
    }
    for restore in &snapshot.velero.restores {
        violations.extend(restores_production_elsewhere(restore, scope));
    }
    let checked = config_maps.len() + secrets.len() + claims.len() + snapshot.velero.restores.len();
    ControlOutcome::checked(ControlId::ProductionDataRestricted, checked, violations)
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

/// Whether a Secret's digest can be compared at all.
///
/// The snapshot computes a digest only for Secrets worth comparing: service-account tokens and
/// Secrets without data would match each other across every namespace and prove nothing, so
/// they carry the all-zero digest, which never matches here.
fn comparable(secret: &SecretDigest) -> bool {
    secret.digest != [0; 32]
}

/// Non-production Secrets with the same keyed digest as a production Secret. Messages name
/// both objects, never the digest.
fn copied_secrets(non_production: &[&SecretDigest], scope: &Scope) -> Vec<Violation> {
    let mut production: BTreeMap<&[u8; 32], Vec<&SecretDigest>> = BTreeMap::new();
    for secret in scope.snapshot.secrets.iter().map(AsRef::as_ref) {
        if comparable(secret) && scope.envs.is_production(&secret.namespace) {
            production.entry(&secret.digest).or_default().push(secret);
        }
    }
    let mut violations = Vec::new();
    for secret in non_production.iter().filter(|s| comparable(s)) {
        // The first by namespace/name, so the message is stable across resyncs.
        let Some(original) = production
            .get(&secret.digest)
            .and_then(|matches| matches.iter().min_by_key(|s| (&s.namespace, &s.name)))
        else {
            continue;
        };
        violations.push(Violation::new(
            secret_ref(secret),
            format!("{secret} holds the same data as production {original}"),
        ));
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

/// A Velero Restore mapping a production namespace into a non-production one.
fn restores_production_elsewhere(restore: &Restore, scope: &Scope) -> Vec<Violation> {
    restore
        .spec
        .namespace_mapping
        .iter()
        .filter(|(from, to)| {
            scope.envs.is_production(from)
                && scope.envs.is_non_production(to)
                && !is_restore_test_sandbox(to, scope)
        })
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

fn is_restore_test_sandbox(namespace: &str, scope: &Scope) -> bool {
    namespace.starts_with(RESTORE_TEST_PREFIX)
        || scope
            .labels
            .get(namespace)
            .is_some_and(|labels| is_restore_test(labels))
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
        if !scope.envs.is_production(namespace) {
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

/// Describes each subject that is a non-production identity. A ServiceAccount subject without a
/// namespace belongs to the RoleBinding's own namespace (`binding_namespace`).
fn non_production_identities(
    subjects: &Option<Vec<Subject>>,
    binding_namespace: Option<&str>,
    spec: &IsolationAccessSpec,
    scope: &Scope,
) -> Vec<String> {
    subjects
        .iter()
        .flatten()
        .filter_map(|subject| match subject.kind.as_str() {
            "ServiceAccount" => {
                let ns = subject.namespace.as_deref().or(binding_namespace)?;
                scope.envs.is_non_production(ns).then(|| {
                    format!(
                        "ServiceAccount {ns}/{} of non-production namespace `{ns}` (environment `{}`)",
                        subject.name,
                        scope.environment(ns)
                    )
                })
            }
            "Group" => spec
                .non_production_groups
                .contains(&subject.name)
                .then(|| format!("non-production group `{}`", subject.name)),
            _ => None,
        })
        .collect()
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::api::ControlState;
    use crate::api::environment_isolation::Environment;
    use crate::velero::RestoreSpec;
    use k8s_openapi::api::core::v1::{Namespace, PersistentVolumeClaimSpec, TypedObjectReference};
    use k8s_openapi::api::networking::v1::{IPBlock, NetworkPolicySpec};
    use k8s_openapi::api::rbac::v1::{ClusterRoleBinding, RoleBinding, RoleRef};
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
    fn missing_isolation_policy_is_a_finding() {
        let mut snapshot = snapshot();
        snapshot.network_policies.remove(1);
        let failed = control(&snapshot, &spec(), ControlId::EnvironmentSegregation);
        assert_eq!(failed, ["namespace `dev` has no isolation NetworkPolicy"]);
    }

    #[test]
    fn restore_test_namespace_is_in_no_environment() {
        let mut snapshot = snapshot();
        snapshot.namespaces.push(namespace(
            "restore-test-abc",
            &[("env", "production"), (RESTORE_TEST_LABEL, "true")],
        ));
        let envs = environments_of(&spec(), &snapshot);
        assert!(envs.environments("restore-test-abc").is_empty());
        let failed = control(&snapshot, &spec(), ControlId::EnvironmentSegregation);
        assert!(failed.is_empty(), "{failed:?}");
    }

    fn ingress_policy(
        namespace: &str,
        name: &str,
        from: Option<Vec<NetworkPolicyPeer>>,
    ) -> Arc<NetworkPolicy> {
        Arc::new(NetworkPolicy {
            metadata: meta(Some(namespace), name),
            spec: Some(NetworkPolicySpec {
                ingress: Some(vec![NetworkPolicyIngressRule { from, ports: None }]),
                ..Default::default()
            }),
        })
    }

    #[test]
    fn production_policy_admitting_non_production_is_a_finding() {
        let mut snapshot = snapshot();
        let dev_peer = NetworkPolicyPeer {
            namespace_selector: Some(LabelSelector {
                match_labels: Some(env_label("dev")),
                ..Default::default()
            }),
            ..Default::default()
        };
        let world = NetworkPolicyPeer {
            ip_block: Some(IPBlock {
                cidr: "0.0.0.0/0".into(),
                except: None,
            }),
            ..Default::default()
        };
        let same_namespace = NetworkPolicyPeer {
            pod_selector: Some(LabelSelector::default()),
            ..Default::default()
        };
        snapshot.network_policies.extend([
            ingress_policy("prod", "from-dev", Some(vec![dev_peer.clone()])),
            ingress_policy("prod", "from-world", Some(vec![world])),
            ingress_policy("prod", "from-anywhere", None),
            ingress_policy("prod", "same-namespace", Some(vec![same_namespace])),
            ingress_policy("dev", "dev-from-dev", Some(vec![dev_peer])),
        ]);
        let failed = control(&snapshot, &spec(), ControlId::EnvironmentSegregation);
        assert_eq!(failed.len(), 3, "{failed:?}");
        assert!(
            failed.iter().any(
                |m| m.contains("prod/from-dev") && m.contains("non-production namespace `dev`")
            )
        );
        assert!(
            failed
                .iter()
                .any(|m| m.contains("prod/from-world") && m.contains("0.0.0.0/0"))
        );
        assert!(failed.iter().any(|m| m.contains("prod/from-anywhere")));
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

    #[test]
    fn copied_secret_names_both_objects_and_never_the_digest() {
        let mut snapshot = snapshot();
        snapshot.secrets = vec![
            digest_secret("prod", "db", 7),
            digest_secret("dev", "db", 7),
            // Same name, different content: not a copy.
            digest_secret("prod", "api", 8),
            digest_secret("dev", "api", 9),
            // Not comparable (service-account tokens, empty Secrets).
            digest_secret("prod", "token", 0),
            digest_secret("dev", "token", 0),
        ];
        let failed = control(&snapshot, &spec(), ControlId::ProductionDataRestricted);
        assert_eq!(
            failed,
            ["Secret dev/db holds the same data as production Secret prod/db"]
        );
        let mut off = spec();
        off.production_data.as_mut().unwrap().detect_copied_secrets = false;
        assert!(control(&snapshot, &off, ControlId::ProductionDataRestricted).is_empty());
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
        // A sandbox whose labels would otherwise make it part of `dev`.
        snapshot
            .namespaces
            .push(namespace("restore-test-nightly", &[("env", "dev")]));
        snapshot
            .network_policies
            .push(isolation_policy("restore-test-nightly"));
        snapshot.velero.restores = vec![
            restore("into-dev", "prod", "dev"),
            restore("into-sandbox", "prod", "restore-test-nightly"),
            restore("in-place", "prod", "prod"),
        ];
        let failed = control(&snapshot, &spec(), ControlId::ProductionDataRestricted);
        assert_eq!(
            failed,
            [
                "Restore velero/into-dev maps production namespace `prod` into non-production namespace `dev` (environment `dev`)"
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
