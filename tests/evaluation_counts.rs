//! Property test over the evaluators: for arbitrary clusters, every control's figures add up
//! the way status, PolicyReports and the evidence bundle promise an auditor.
//!
//! - `failed + exempted <= checked`: the three count the same objects;
//! - the findings counted in status are exactly the results the PolicyReports list (plus the
//!   findings about cluster-scoped objects, which no namespaced report can carry);
//! - every finding names an object of the snapshot (or the policy itself).

use baseline_operator::api::{BackupPolicySpec, EnvironmentIsolationSpec, SecurityBaselineSpec};
use baseline_operator::catalog::ControlKind;
use baseline_operator::desired::report::{policy_reports, unreported};
use baseline_operator::desired::report_api::ReportApi;
use baseline_operator::desired::{OwnedKind, Owner};
use baseline_operator::evaluate::{Evaluation, backup, isolation, security_baseline};
use baseline_operator::snapshot::{ObjectMetaOnly, Observed, Snapshot};
use baseline_operator::validate;
use proptest::prelude::*;
use serde_json::{Value, json};
use std::collections::BTreeSet;
use std::sync::Arc;

const NAMESPACES: &[&str] = &["prod", "stage", "dev", "shop", "tools"];
const ENVIRONMENTS: &[&str] = &["production", "development", "none"];

fn now() -> jiff::Timestamp {
    "2026-06-01T00:00:00Z".parse().unwrap()
}

fn meta(ns: &str, name: &str, labels: &[(String, String)]) -> Value {
    let labels: serde_json::Map<String, Value> =
        labels.iter().map(|(k, v)| (k.clone(), json!(v))).collect();
    json!({"namespace": ns, "name": name, "labels": labels})
}

fn labels() -> impl Strategy<Value = Vec<(String, String)>> {
    prop::collection::vec(
        (
            prop::sample::select(vec!["exempt", "app", "data", "tier"]),
            prop::sample::select(vec!["yes", "web", "production", "personal", "ünïcode"]),
        )
            .prop_map(|(k, v)| (k.to_string(), v.to_string())),
        0..3,
    )
}

fn namespace_name() -> impl Strategy<Value = &'static str> {
    prop::sample::select(NAMESPACES.to_vec())
}

fn container() -> impl Strategy<Value = Value> {
    (
        prop::sample::select(vec![
            "nginx:latest",
            "registry.acme.test/app:1",
            "registry.acme.test.evil.io/x:1",
            "registry.acme.test/app@sha256:0123",
            "busybox",
        ]),
        any::<bool>(),
        any::<bool>(),
        prop::option::of(1..70000i32),
    )
        .prop_map(|(image, privileged, resources, port)| {
            let mut c = json!({"name": "c", "image": image});
            if privileged {
                c["securityContext"] = json!({"privileged": true});
            }
            if resources {
                c["resources"] =
                    json!({"requests": {"cpu": "1", "memory": "1Mi"}, "limits": {"memory": "1Mi"}});
            }
            if let Some(port) = port {
                c["ports"] =
                    json!([{"containerPort": port.min(65535), "hostPort": port.min(65535)}]);
            }
            c
        })
}

fn pod_spec() -> impl Strategy<Value = Value> {
    (
        prop::collection::vec(container(), 1..3),
        prop::option::of(any::<bool>()),
    )
        .prop_map(|(containers, automount)| {
            let mut spec = json!({"containers": containers});
            if let Some(a) = automount {
                spec["automountServiceAccountToken"] = json!(a);
            }
            spec
        })
}

type Labels = Vec<(String, String)>;
type Namespace = &'static str;

#[derive(Debug, Clone)]
struct Cluster {
    namespaces: Vec<(&'static str, &'static str)>,
    pods: Vec<(Namespace, Labels, Value)>,
    deployments: Vec<(Namespace, Labels, Value, i32)>,
    services: Vec<(&'static str, &'static str, i32)>,
    bindings: Vec<(
        Option<&'static str>,
        &'static str,
        &'static str,
        &'static str,
    )>,
    claims: Vec<(Namespace, Labels, Option<&'static str>, Option<Namespace>)>,
    config_maps: Vec<(&'static str, Vec<(String, String)>)>,
    ingresses: Vec<(&'static str, bool)>,
    policies: Vec<(&'static str, bool, Option<i32>)>,
}

fn cluster() -> impl Strategy<Value = Cluster> {
    let namespaces = prop::collection::vec(prop::sample::select(ENVIRONMENTS.to_vec()), 5)
        .prop_map(|envs| NAMESPACES.iter().copied().zip(envs).collect::<Vec<_>>());
    let pods = prop::collection::vec((namespace_name(), labels(), pod_spec()), 0..5);
    let deployments =
        prop::collection::vec((namespace_name(), labels(), pod_spec(), 0..4i32), 0..4);
    let services = prop::collection::vec(
        (
            namespace_name(),
            prop::sample::select(vec!["ClusterIP", "NodePort", "LoadBalancer"]),
            prop::sample::select(vec![80, 443, 8080, 22]),
        ),
        0..4,
    );
    let bindings = prop::collection::vec(
        (
            prop::option::of(namespace_name()),
            prop::sample::select(vec!["ClusterRole", "Role"]),
            prop::sample::select(vec!["cluster-admin", "admin", "view", "everything"]),
            prop::sample::select(vec![
                "ServiceAccount:dev:ci",
                "User:system:serviceaccount:dev:ci",
                "Group:system:serviceaccounts:dev",
                "Group:system:authenticated",
                "User:alice",
            ]),
        ),
        0..5,
    );
    let claims = prop::collection::vec(
        (
            namespace_name(),
            labels(),
            prop::option::of(prop::sample::select(vec!["encrypted", "plain", "missing"])),
            prop::option::of(namespace_name()),
        ),
        0..4,
    );
    let config_maps = prop::collection::vec((namespace_name(), labels()), 0..4);
    let ingresses = prop::collection::vec((namespace_name(), any::<bool>()), 0..3);
    let policies = prop::collection::vec(
        (
            namespace_name(),
            any::<bool>(),
            prop::option::of(prop::sample::select(vec![80, 22])),
        ),
        0..4,
    );
    (
        namespaces,
        pods,
        deployments,
        services,
        bindings,
        (claims, config_maps, ingresses, policies),
    )
        .prop_map(
            |(
                namespaces,
                pods,
                deployments,
                services,
                bindings,
                (claims, config_maps, ingresses, policies),
            )| Cluster {
                namespaces,
                pods,
                deployments,
                services,
                bindings,
                claims,
                config_maps,
                ingresses,
                policies,
            },
        )
}

fn parse<T: serde::de::DeserializeOwned>(value: Value) -> Arc<T> {
    Arc::new(serde_json::from_value(value).expect("generated object"))
}

fn snapshot(c: &Cluster) -> Snapshot {
    let mut s = Snapshot::default();
    for (name, env) in &c.namespaces {
        let mut labels = json!({"kubernetes.io/metadata.name": name, "baseline": "yes"});
        if *env != "none" {
            labels["env"] = json!(env);
        }
        s.namespaces
            .push(parse(json!({"metadata": {"name": name, "labels": labels}})));
    }
    for (i, (ns, labels, spec)) in c.pods.iter().enumerate() {
        s.pods.push(parse(
            json!({"metadata": meta(ns, &format!("pod-{i}"), labels), "spec": spec}),
        ));
    }
    for (i, (ns, labels, spec, replicas)) in c.deployments.iter().enumerate() {
        let name = format!("deploy-{i}");
        s.deployments.push(parse(json!({
            "metadata": meta(ns, &name, labels),
            "spec": {"replicas": replicas, "selector": {"matchLabels": {"app": name}},
                     "template": {"metadata": {"labels": {"app": name}}, "spec": spec}},
        })));
    }
    for (i, (ns, type_, port)) in c.services.iter().enumerate() {
        s.services.push(parse(json!({
            "metadata": meta(ns, &format!("svc-{i}"), &[]),
            "spec": {"type": type_, "ports": [{"port": port}]},
        })));
    }
    s.cluster_roles.push(parse(json!({
        "metadata": {"name": "everything"},
        "rules": [{"apiGroups": ["*"], "resources": ["*"], "verbs": ["*"]}],
    })));
    for (i, (ns, role_kind, role, subject)) in c.bindings.iter().enumerate() {
        let (kind, rest) = subject.split_once(':').unwrap();
        let subject = match kind {
            "ServiceAccount" => {
                let (ns, name) = rest.split_once(':').unwrap();
                json!({"kind": kind, "namespace": ns, "name": name})
            }
            _ => json!({"kind": kind, "name": rest, "apiGroup": "rbac.authorization.k8s.io"}),
        };
        let body = |metadata: Value, role_kind: &str| {
            json!({"metadata": metadata, "subjects": [subject],
                   "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": role_kind, "name": role}})
        };
        match ns {
            Some(ns) => s
                .role_bindings
                .push(parse(body(meta(ns, &format!("rb-{i}"), &[]), role_kind))),
            None => s.cluster_role_bindings.push(parse(body(
                json!({"name": format!("crb-{i}")}),
                "ClusterRole",
            ))),
        }
    }
    s.storage_classes.push(parse(json!({
        "metadata": {"name": "encrypted"}, "provisioner": "x", "parameters": {"encrypted": "true"},
    })));
    s.storage_classes.push(parse(
        json!({"metadata": {"name": "plain"}, "provisioner": "x"}),
    ));
    for (i, (ns, labels, class, source)) in c.claims.iter().enumerate() {
        let mut spec = json!({"accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": "1Gi"}}});
        if let Some(class) = class {
            spec["storageClassName"] = json!(class);
        }
        if let Some(source) = source {
            spec["dataSourceRef"] = json!({"kind": "VolumeSnapshot", "apiGroup": "snapshot.storage.k8s.io", "name": "snap", "namespace": source});
        }
        s.persistent_volume_claims.push(parse(
            json!({"metadata": meta(ns, &format!("pvc-{i}"), labels), "spec": spec}),
        ));
    }
    for (i, (ns, labels)) in c.config_maps.iter().enumerate() {
        s.config_maps.push(Arc::new(ObjectMetaOnly {
            kind: "ConfigMap",
            namespace: ns.to_string(),
            name: format!("cm-{i}"),
            labels: labels.iter().cloned().collect(),
        }));
    }
    for (i, (ns, tls)) in c.ingresses.iter().enumerate() {
        let mut spec = json!({"rules": [{"host": "shop.example.com"}]});
        if *tls {
            spec["tls"] = json!([{"hosts": ["shop.example.com"]}]);
        }
        s.ingresses.push(parse(
            json!({"metadata": meta(ns, &format!("ing-{i}"), &[]), "spec": spec}),
        ));
    }
    for (i, (ns, deny, port)) in c.policies.iter().enumerate() {
        let spec = match (deny, port) {
            (true, _) => json!({"podSelector": {}, "policyTypes": ["Ingress", "Egress"]}),
            (false, Some(port)) => {
                json!({"podSelector": {}, "policyTypes": ["Ingress"], "ingress": [{"ports": [{"port": port}]}]})
            }
            (false, None) => {
                json!({"podSelector": {}, "policyTypes": ["Ingress"], "ingress": [{}]})
            }
        };
        s.network_policies.push(parse(
            json!({"metadata": meta(ns, &format!("np-{i}"), &[]), "spec": spec}),
        ));
    }
    s.secrets = Observed::Observed(Vec::new());
    s.velero.installed = true;
    s
}

/// Exemptions of every control of `kind` (the CRDs and `validate` refuse others).
fn exemptions(kind: ControlKind, expired: bool) -> Value {
    let expires = if expired { "2020-01-01" } else { "2099-01-01" };
    let controls: Vec<&str> = baseline_operator::catalog::CATALOG
        .iter()
        .filter(|c| c.kind == kind)
        .map(|c| c.id.as_str())
        .collect();
    json!([
        {"controls": controls, "selector": {"matchLabels": {"exempt": "yes"}},
         "reason": "property", "approvedBy": "ciso", "expires": expires},
        {"controls": controls, "namespaces": ["tools"],
         "reason": "property", "approvedBy": "ciso", "expires": "2099-01-01"},
    ])
}

fn evaluations(c: &Cluster, expired: bool) -> Vec<(&'static str, Evaluation)> {
    let s = snapshot(c);
    let sb: SecurityBaselineSpec = serde_json::from_value(json!({
        "mode": "Audit",
        "namespaceSelector": {"matchLabels": {"baseline": "yes"}},
        "network": {"allowedIngressPorts": [{"port": 443}], "defaultDeny": ["Ingress", "Egress"]},
        "encryption": {"inTransit": {"requireIngressTLS": true},
                       "atRest": {"encryptedStorageClasses": ["encrypted"]}},
        "podSecurity": {"level": "restricted"},
        "images": {"allowedRegistries": ["registry.acme.test"], "disallowLatestTag": true, "requireDigest": true},
        "access": {"forbiddenRoles": ["cluster-admin", "admin"], "forbidWildcardRoles": true, "disallowAutomountToken": true},
        "availability": {"minReplicas": 2, "requirePodDisruptionBudget": true, "requireProbes": true},
        "resources": {"requireRequests": true, "requireMemoryLimit": true},
        "exemptions": exemptions(ControlKind::SecurityBaseline, expired),
    }))
    .expect("SecurityBaseline spec");
    let env = |name: &str, production: bool| json!({"name": name, "production": production, "namespaceSelector": {"matchLabels": {"env": name}}});
    let ei: EnvironmentIsolationSpec = serde_json::from_value(json!({
        "mode": "Audit",
        "environments": [env("production", true), env("development", false)],
        "productionData": {"productionValues": ["production", "personal"]},
        "access": {"denyCrossEnvironmentBindings": true},
        "exemptions": exemptions(ControlKind::EnvironmentIsolation, expired),
    }))
    .expect("EnvironmentIsolation spec");
    let bp: BackupPolicySpec = serde_json::from_value(json!({
        "mode": "Audit",
        "namespaceSelector": {"matchLabels": {"baseline": "yes"}},
        "rpo": "24h",
        "retention": {"min": "720h", "max": "2160h"},
        "requireEncryption": true,
        "restoreTest": {"every": "720h"},
        "exemptions": exemptions(ControlKind::BackupPolicy, expired),
    }))
    .expect("BackupPolicy spec");
    vec![
        (
            "SecurityBaseline",
            security_baseline::evaluate(
                "p",
                &validate::security_baseline::validate(&sb).expect("valid"),
                &s,
                now(),
            ),
        ),
        (
            "EnvironmentIsolation",
            isolation::evaluate(
                "p",
                &validate::environment_isolation::validate(&ei).expect("valid"),
                &s,
                now(),
            ),
        ),
        (
            "BackupPolicy",
            backup::evaluate(
                "p",
                &baseline_operator::validate::backup_policy::validate(&bp, now())
                    .expect("a valid BackupPolicy"),
                None,
                &s,
                now(),
            ),
        ),
    ]
}

fn object_names(c: &Cluster) -> BTreeSet<String> {
    let s = snapshot(c);
    let mut names: BTreeSet<String> = ["p".to_string(), "default".to_string()].into();
    let mut add = |meta: &k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta| {
        names.insert(meta.name.clone().unwrap_or_default());
    };
    s.namespaces.iter().for_each(|o| add(&o.metadata));
    s.pods.iter().for_each(|o| add(&o.metadata));
    s.deployments.iter().for_each(|o| add(&o.metadata));
    s.services.iter().for_each(|o| add(&o.metadata));
    s.role_bindings.iter().for_each(|o| add(&o.metadata));
    s.cluster_role_bindings
        .iter()
        .for_each(|o| add(&o.metadata));
    s.persistent_volume_claims
        .iter()
        .for_each(|o| add(&o.metadata));
    s.ingresses.iter().for_each(|o| add(&o.metadata));
    s.network_policies.iter().for_each(|o| add(&o.metadata));
    s.config_maps.iter().for_each(|o| {
        names.insert(o.name.clone());
    });
    names
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(200))]

    #[test]
    fn figures_add_up_for_any_cluster(c in cluster(), expired in any::<bool>()) {
        let known = object_names(&c);
        for (kind, evaluation) in evaluations(&c, expired) {
            let results = evaluation.control_results(now());
            for r in &results {
                prop_assert!(
                    r.failed + r.exempted <= r.checked,
                    "{kind} {}: failed {} + exempted {} > checked {}", r.id, r.failed, r.exempted, r.checked
                );
                prop_assert!(r.failed <= r.failed_findings && r.exempted <= r.exempted_findings);
            }
            for control in &evaluation.controls {
                for v in control.failed.iter().chain(control.waived.iter().map(|w| &w.violation)) {
                    prop_assert!(known.contains(&v.object.name), "{kind} {}: unknown object {:?}", control.id, v.object);
                }
            }
            let owner = Owner { api_version: "security.baseline.dev/v1alpha1".into(), kind: kind.into(), name: "p".into(), uid: "u".into() };
            let failed: i32 = results.iter().map(|r| r.failed_findings).sum();
            let exempted: i32 = results.iter().map(|r| r.exempted_findings).sum();
            // With ClusterPolicyReports served, the reports carry every finding; without, the
            // ones about cluster-scoped objects are counted as unreported.
            let without_cluster = policy_reports(&owner, &evaluation, ReportApi::WgPolicyK8s, false);
            let outside = unreported(&evaluation);
            let in_reports = |reports: &[baseline_operator::desired::DesiredObject], result: &str| -> usize {
                reports.iter().map(|r| {
                    r.json()["results"].as_array().map_or(0, |rs| rs.iter().filter(|x| x["result"] == result).count())
                }).sum()
            };
            prop_assert_eq!(in_reports(&without_cluster, "fail") + outside.fail, failed as usize, "{} fail results", kind);
            prop_assert_eq!(in_reports(&without_cluster, "skip") + outside.skip, exempted as usize, "{} skip results", kind);
            let reports = policy_reports(&owner, &evaluation, ReportApi::WgPolicyK8s, true);
            let listed = |result: &str| in_reports(&reports, result);
            let summed = |field: &str| -> i64 {
                reports.iter().map(|r| r.json()["summary"][field].as_i64().unwrap_or(0)).sum()
            };
            prop_assert_eq!(listed("fail"), failed as usize, "{} fail results", kind);
            prop_assert_eq!(listed("skip"), exempted as usize, "{} skip results", kind);
            for r in &reports {
                let cluster = r.kind == OwnedKind::ClusterPolicyReport;
                prop_assert_eq!(cluster, r.namespace.is_none());
                let body = r.json();
                prop_assert_eq!(body["kind"].as_str(), Some(if cluster { "ClusterPolicyReport" } else { "PolicyReport" }));
            }
            prop_assert_eq!(summed("fail") as usize, listed("fail"));
            prop_assert_eq!(summed("skip") as usize, listed("skip"));
        }
    }
}
