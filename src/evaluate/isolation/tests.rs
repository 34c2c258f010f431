use super::*;
use crate::api::ControlState;
use crate::api::EnvironmentIsolationSpec;
use crate::api::environment_isolation::{BindingAllowance, Environment};
use crate::api::{BackupPolicy, BackupPolicySpec, PortSpec};
use crate::snapshot::ObjectMetaOnly;
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
            allowed_bindings: vec![],
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
    let evaluation = evaluate(
        "iso",
        &crate::validate::environment_isolation::validate(spec).unwrap(),
        snapshot,
        now(),
    );
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
        material_keys: Default::default(),
        holds_material: true,
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
    let evaluation = evaluate(
        "iso",
        &crate::validate::environment_isolation::validate(&spec()).unwrap(),
        &snapshot(),
        now(),
    );
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
    let envs = environments_of(
        &crate::validate::environment_isolation::validate(&spec)
            .unwrap()
            .environments,
        &snapshot,
    );
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
    let envs = environments_of(
        &crate::validate::environment_isolation::validate(&spec())
            .unwrap()
            .environments,
        &snapshot,
    );
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

/// A pass over a few namespaces resolves their environments alone, and the same as the whole
/// map does (a sandbox stays in none, an unassigned namespace stays unassigned).
#[test]
fn the_environments_of_some_namespaces_are_the_whole_maps_for_them() {
    let mut snapshot = snapshot();
    snapshot.custom_resources.backup_policies = vec![backup_policy()];
    snapshot.namespaces.extend([
        sandbox_candidate("restore-test-real", true, Some("bp-uid")),
        namespace("nowhere", &[]),
    ]);
    let environments = crate::validate::environment_isolation::validate(&spec())
        .unwrap()
        .environments;
    let whole = environments_of(&environments, &snapshot);
    let kept = ["dev", "restore-test-real", "nowhere"];
    let some =
        crate::vocabulary::environments::environments_of_some(&environments, &snapshot, |ns| {
            kept.contains(&ns)
        });
    assert_eq!(some.members(), ["dev"]);
    assert_eq!(some.environments("dev"), whole.environments("dev"));
    assert!(some.environments("prod").is_empty(), "not resolved");
    assert_eq!(some.sandboxes, whole.sandboxes);
    assert_eq!(
        some.unassigned.iter().collect::<Vec<_>>(),
        ["nowhere"],
        "{:?}",
        whole.unassigned
    );
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
        failed
            .iter()
            .any(|m| m.starts_with(&format!("NetworkPolicy {policy} admits")) && m.contains(how))
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

fn evidence(snapshot: &Snapshot, spec: &EnvironmentIsolationSpec, id: ControlId) -> Vec<Violation> {
    let evaluation = evaluate(
        "iso",
        &crate::validate::environment_isolation::validate(spec).unwrap(),
        snapshot,
        now(),
    );
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
        secret.material_keys = values.iter().map(|(k, _)| k.to_string()).collect();
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
    assert!(
        failed[0].confidential,
        "only where dev's tenants cannot read"
    );
}

/// Secrets as the operator digests them from the API server.
fn real_digest(namespace: &str, name: &str, data: &[(&str, &str)]) -> Arc<SecretDigest> {
    let secret = k8s_openapi::api::core::v1::Secret {
        metadata: meta(Some(namespace), name),
        data: Some(
            data.iter()
                .map(|(k, v)| {
                    (
                        k.to_string(),
                        k8s_openapi::ByteString(v.as_bytes().to_vec()),
                    )
                })
                .collect(),
        ),
        ..Default::default()
    };
    Arc::new(crate::controller::secrets::digest(&[3; 32], &secret))
}

/// Copied means secret material: a production password in dev is found, a username, a host or
/// a whole Secret of values shared by design is not.
#[test]
fn a_copied_password_is_found_a_shared_username_is_not() {
    let password = "Pr0d-pa55word-7c1f";
    let mut snapshot = snapshot();
    snapshot.secrets = crate::snapshot::Observed::Observed(vec![
        real_digest(
            "prod",
            "db",
            &[
                ("username", "payments"),
                ("password", password),
                ("host", "payments-db.prod.svc"),
            ],
        ),
        real_digest(
            "prod",
            "config",
            &[("username", "payments"), ("host", "payments-db.prod.svc")],
        ),
        // Shares the username and the host: shared by design.
        real_digest(
            "dev",
            "shares-username",
            &[("username", "payments"), ("host", "payments-db.prod.svc")],
        ),
        // The whole of a production Secret that holds no secret material.
        real_digest(
            "dev",
            "config",
            &[("username", "payments"), ("host", "payments-db.prod.svc")],
        ),
        // The production username as a dev password proves nothing either.
        real_digest("dev", "odd", &[("password", "payments")]),
        real_digest(
            "dev",
            "app",
            &[("DB_PASS", password), ("username", "payments")],
        ),
        real_digest(
            "dev",
            "whole",
            &[
                ("username", "payments"),
                ("password", password),
                ("host", "payments-db.prod.svc"),
            ],
        ),
    ]);
    let failed = evidence(&snapshot, &spec(), ControlId::ProductionDataRestricted);
    let messages: Vec<String> = failed.iter().map(|v| v.finding().message).collect();
    assert_eq!(
        messages,
        [
            "Secret dev/app holds a value of a production Secret under key `DB_PASS` (copied from production Secret prod/db key `password`)",
            "Secret dev/whole holds the same data as a production Secret (copied from production Secret prod/db)",
        ]
    );
    assert!(failed.iter().all(|v| v.confidential));
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
    snapshot.persistent_volume_claims = vec![claim("cloned", Some("prod")), claim("local", None)];
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
            ..RestoreSpec::default()
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
    assert!(failed.iter().any(|m| m
        == "RoleBinding prod/ci lets ServiceAccount dev/deployer of environment `dev` act in namespace `prod` of environment `production`"));
    assert!(failed.iter().any(|m| m.contains("group `contractors`")));
    assert!(failed.iter().any(|m| {
        m.starts_with("ClusterRoleBinding dev-admin lets ServiceAccount dev/admin")
            && m.contains("`prod`")
    }));
}

/// Every way RBAC names an identity of another environment, in RoleBindings and
/// ClusterRoleBindings, case and whitespace variants included. A ClusterRoleBinding grants in
/// every environment, so any environment's identity crosses there.
#[test]
fn identities_of_other_environments_are_found_in_every_form() {
    // (kind, name, crosses in a production RoleBinding, crosses in a ClusterRoleBinding)
    let cases: &[(&str, &str, bool, bool)] = &[
        ("User", "system:serviceaccount:dev:ci", true, true),
        ("User", " System:ServiceAccount:DEV:ci\t", true, true),
        ("User", "system:serviceaccount:prod:ci", false, true),
        ("User", "system:serviceaccount:devx", false, false),
        ("User", "system:serviceaccount:kube-system:ci", false, false),
        ("User", "alice", false, false),
        ("Group", "system:serviceaccounts:dev", true, true),
        ("Group", "SYSTEM:SERVICEACCOUNTS:DEV ", true, true),
        ("Group", "system:serviceaccounts:prod", false, true),
        ("Group", "system:serviceaccounts:kube-system", false, false),
        ("Group", "system:serviceaccounts", true, true),
        ("Group", " system:authenticated", true, true),
        ("Group", "contractors", true, true),
        ("Group", "Contractors", true, true),
        ("Group", "platform-admins", false, false),
    ];
    for (kind, name, in_production, cluster_wide) in cases {
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
        let rb = failed
            .iter()
            .filter(|m| m.starts_with("RoleBinding"))
            .count();
        let crb = failed
            .iter()
            .filter(|m| m.starts_with("ClusterRoleBinding"))
            .count();
        assert_eq!(
            (rb, crb),
            (usize::from(*in_production), usize::from(*cluster_wide)),
            "{kind} {name:?}: {failed:?}"
        );
    }
}

/// Not only into production: identities of any environment bound in another are findings,
/// unless `allowedBindings` names that direction (and only that one). A namespace in no
/// environment is an environment of its own; system namespaces are no environment at all.
#[test]
fn bindings_between_every_pair_of_environments_are_findings_unless_allowed() {
    let mut snapshot = snapshot();
    snapshot.namespaces.extend([
        namespace("staging", &[("env", "staging")]),
        namespace("loose", &[]),
        namespace("kube-system", &[("env", "dev")]),
    ]);
    let mut spec = spec();
    spec.environments.push(environment("staging", false));
    let rb = |ns: &str, subject_ns: &str| {
        Arc::new(RoleBinding {
            metadata: meta(Some(ns), &format!("from-{subject_ns}")),
            role_ref: role_ref(),
            subjects: Some(vec![subject("ServiceAccount", Some(subject_ns), "ci")]),
        })
    };
    snapshot.role_bindings = vec![
        rb("staging", "dev"),
        rb("dev", "staging"),
        rb("staging", "loose"),
        rb("loose", "dev"),
        rb("loose", "loose"),
        rb("staging", "kube-system"),
        rb("kube-system", "dev"),
    ];
    let failed = control(&snapshot, &spec, ControlId::CrossEnvironmentAccess);
    assert_eq!(
        failed,
        [
            "RoleBinding dev/from-staging lets ServiceAccount staging/ci of environment `staging` act in namespace `dev` of environment `dev`",
            "RoleBinding loose/from-dev lets ServiceAccount dev/ci of environment `dev` act in namespace `loose` of namespace `loose`, in no environment",
            "RoleBinding staging/from-dev lets ServiceAccount dev/ci of environment `dev` act in namespace `staging` of environment `staging`",
            "RoleBinding staging/from-loose lets ServiceAccount loose/ci of namespace `loose`, in no environment act in namespace `staging` of environment `staging`",
        ]
    );
    spec.access.as_mut().unwrap().allowed_bindings = vec![BindingAllowance {
        from: "dev".into(),
        to: "staging".into(),
    }];
    let failed = control(&snapshot, &spec, ControlId::CrossEnvironmentAccess);
    assert_eq!(failed.len(), 3, "{failed:?}");
    assert!(
        !failed
            .iter()
            .any(|m| m.starts_with("RoleBinding staging/from-dev "))
    );
    assert!(
        failed
            .iter()
            .any(|m| m.starts_with("RoleBinding dev/from-staging "))
    );
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

/// `system:serviceaccounts` and `system:authenticated` include identities of other
/// environments only when there are some judged namespaces; `system:authenticated` includes
/// the declared non-production groups.
#[test]
fn broad_groups_are_findings_only_when_other_identities_exist() {
    let mut snapshot = snapshot();
    snapshot.namespaces = vec![namespace("kube-system", &[])];
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
    snapshot.namespaces.push(namespace("anything", &[]));
    let failed = control(&snapshot, &spec, ControlId::CrossEnvironmentAccess);
    assert_eq!(failed.len(), 2, "{failed:?}");
}

/// A namespace in no environment is non-production for production data: classified objects,
/// and restores into it (even before it exists); system namespaces and sandboxes are not.
#[test]
fn a_namespace_in_no_environment_is_non_production_for_data() {
    let mut snapshot = snapshot();
    snapshot.namespaces.extend([
        namespace("loose", &[]),
        namespace("kube-system", &[("env", "dev")]),
    ]);
    snapshot.config_maps = ["loose", "kube-system", "prod"]
        .into_iter()
        .map(|ns| {
            Arc::new(ObjectMetaOnly {
                kind: "ConfigMap",
                namespace: ns.into(),
                name: "customers".into(),
                labels: BTreeMap::from([(
                    "data.baseline.dev/classification".to_string(),
                    "production".to_string(),
                )]),
            })
        })
        .collect();
    snapshot.velero.restores = vec![restore("into-new", "prod", "not-yet-created")];
    let failed = control(&snapshot, &spec(), ControlId::ProductionDataRestricted);
    assert_eq!(
        failed,
        [
            "ConfigMap loose/customers is classified `production` in non-production environment `(none)`",
            "Restore velero/into-new maps production namespace `prod` into non-production namespace `not-yet-created` (environment `(none)`)",
        ]
    );
}

#[test]
fn unconfigured_controls_are_not_applicable() {
    let mut spec = spec();
    spec.production_data = None;
    spec.access
        .as_mut()
        .unwrap()
        .deny_cross_environment_bindings = false;
    let evaluation = evaluate(
        "iso",
        &crate::validate::environment_isolation::validate(&spec).unwrap(),
        &snapshot(),
        now(),
    );
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

fn from_json<T: serde::de::DeserializeOwned>(value: serde_json::Value) -> Arc<T> {
    Arc::new(serde_json::from_value(value).unwrap())
}

/// `prod` holds Service `db` (cluster IP 10.96.0.10) and pod `db-0` (10.244.1.7, and an IPv6
/// address); `dev` routes into it in every way a Service can.
fn routed_snapshot() -> Snapshot {
    let mut s = snapshot();
    s.namespaces.push(namespace("dev-b", &[("env", "dev")]));
    s.network_policies.push(isolation_policy("dev-b"));
    s.services = vec![
        from_json(
            serde_json::json!({"metadata": {"name": "db", "namespace": "prod"},
            "spec": {"clusterIP": "10.96.0.10", "clusterIPs": ["10.96.0.10"], "ports": [{"port": 5432}]}}),
        ),
        from_json(
            serde_json::json!({"metadata": {"name": "alias", "namespace": "dev"},
            "spec": {"type": "ExternalName", "externalName": "DB.Prod.svc.cluster.local."}}),
        ),
        from_json(
            serde_json::json!({"metadata": {"name": "short", "namespace": "dev"},
            "spec": {"type": "ExternalName", "externalName": "db.prod"}}),
        ),
        from_json(
            serde_json::json!({"metadata": {"name": "outside", "namespace": "dev"},
            "spec": {"type": "ExternalName", "externalName": "api.example.org"}}),
        ),
        from_json(
            serde_json::json!({"metadata": {"name": "sibling", "namespace": "dev"},
            "spec": {"type": "ExternalName", "externalName": "db.dev-b.svc"}}),
        ),
    ];
    s.pods = vec![
        from_json(
            serde_json::json!({"metadata": {"name": "db-0", "namespace": "prod"},
            "spec": {"containers": []},
            "status": {"phase": "Running", "podIP": "10.244.1.7", "podIPs": [{"ip": "10.244.1.7"}, {"ip": "fd00::7"}]}}),
        ),
        // A host-network pod has its node's address, not its namespace's.
        from_json(
            serde_json::json!({"metadata": {"name": "agent", "namespace": "prod"},
            "spec": {"containers": [], "hostNetwork": true},
            "status": {"phase": "Running", "podIP": "192.168.0.5", "podIPs": [{"ip": "192.168.0.5"}]}}),
        ),
    ];
    let slice = |name: &str, endpoint: serde_json::Value| {
        from_json(
            serde_json::json!({"metadata": {"name": name, "namespace": "dev",
                "labels": {"kubernetes.io/service-name": "bridge"}},
            "addressType": "IPv4", "endpoints": [endpoint], "ports": [{"port": 5432}]}),
        )
    };
    s.endpoint_slices = vec![
        slice("by-ip", serde_json::json!({"addresses": ["10.244.1.7"]})),
        slice("by-ipv6", serde_json::json!({"addresses": ["fd00:0:0::7"]})),
        slice(
            "by-ref",
            serde_json::json!({"addresses": ["192.0.2.1"], "targetRef": {"kind": "Pod", "namespace": "prod", "name": "db-0"}}),
        ),
        slice(
            "by-cluster-ip",
            serde_json::json!({"addresses": ["10.96.0.10"]}),
        ),
        slice("by-node", serde_json::json!({"addresses": ["192.168.0.5"]})),
        slice("unknown", serde_json::json!({"addresses": ["192.0.2.9"]})),
    ];
    s
}

#[test]
fn services_routing_into_another_environment_are_findings() {
    let found = control(
        &routed_snapshot(),
        &spec(),
        ControlId::EnvironmentSegregation,
    );
    let has = |prefix: &str| found.iter().filter(|f| f.starts_with(prefix)).count();
    assert_eq!(
        has(
            "ExternalName Service dev/alias points at `DB.Prod.svc.cluster.local.` in namespace `prod`"
        ),
        1,
        "{found:#?}"
    );
    assert_eq!(has("ExternalName Service dev/short "), 1, "{found:#?}");
    for slice in ["by-ip", "by-ipv6", "by-ref", "by-cluster-ip"] {
        assert_eq!(
            has(&format!("EndpointSlice dev/{slice} of Service `bridge`")),
            1,
            "{slice}: {found:#?}"
        );
    }
    for innocent in ["dev/outside", "dev/sibling", "dev/by-node", "dev/unknown"] {
        assert!(
            !found.iter().any(|f| f.contains(innocent)),
            "{innocent}: {found:#?}"
        );
    }
    assert!(
        found.iter().any(|f| f.contains("targetRef Pod prod/db-0")),
        "{found:#?}"
    );
    assert!(
        found
            .iter()
            .any(|f| f.contains("address 10.96.0.10 (Service prod/db)")),
        "{found:#?}"
    );
    assert_eq!(found.len(), 6, "{found:#?}");
}

#[test]
fn a_flow_without_port_limits_carries_a_route_and_a_port_limited_one_does_not() {
    let mut limited = spec();
    limited.allowed_flows = vec![Flow {
        from: "dev".into(),
        to: "production".into(),
        ports: vec![PortSpec {
            port: 5432,
            protocol: None,
        }],
    }];
    let found = control(
        &routed_snapshot(),
        &limited,
        ControlId::EnvironmentSegregation,
    );
    assert_eq!(found.len(), 6, "{found:#?}");
    let mut open = limited.clone();
    open.allowed_flows[0].ports.clear();
    let found = control(&routed_snapshot(), &open, ControlId::EnvironmentSegregation);
    assert!(found.is_empty(), "{found:#?}");
    // A flow the other way round carries nothing from dev into production.
    let mut reverse = open;
    reverse.allowed_flows[0] = Flow {
        from: "production".into(),
        to: "dev".into(),
        ports: vec![],
    };
    assert_eq!(
        control(
            &routed_snapshot(),
            &reverse,
            ControlId::EnvironmentSegregation
        )
        .len(),
        6
    );
}
