//! The engine against its oracle: for arbitrary clusters and arbitrary event sequences, the
//! incremental evaluation of every resource equals a from-scratch evaluation of the final
//! state; and a label change on one namespace evaluates that namespace only, whatever the
//! namespace count.

use super::*;
use crate::api::{BackupPolicy, EnvironmentIsolation, SecurityBaseline};
use crate::evaluate::{Evaluation, backup, isolation, security_baseline};
use crate::snapshot::{ExcludedNamespaces, ObjectMetaOnly, Observed, SecretDigest, Snapshot};
use crate::validate;
use k8s_openapi::api::core::v1::PodSpec;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use proptest::prelude::*;
use proptest::strategy::ValueTree;
use serde_json::{Value, json};
use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

const NAMESPACES: &[&str] = &["prod", "stage", "dev", "shop", "kube-system"];
const NAMES: &[&str] = &["a", "b"];

fn now() -> jiff::Timestamp {
    "2026-06-01T00:00:00Z".parse().unwrap()
}

fn parse<T: serde::de::DeserializeOwned>(value: Value) -> Arc<T> {
    Arc::new(serde_json::from_value(value).expect("generated object"))
}

fn ns_name() -> impl Strategy<Value = &'static str> {
    prop::sample::select(NAMESPACES.to_vec())
}

fn name() -> impl Strategy<Value = &'static str> {
    prop::sample::select(NAMES.to_vec())
}

fn meta(ns: &str, name: &str, labels: Value) -> Value {
    json!({"namespace": ns, "name": name, "labels": labels, "uid": format!("{ns}-{name}")})
}

/// Pod specs from a small pool, so that pods run their workloads' templates now and then.
fn pod_spec(which: usize) -> Value {
    let digest = "registry.acme.test/app@sha256:0123456789012345678901234567890123456789012345678901234567890123";
    match which {
        0 => json!({"containers": [{"name": "c", "image": "registry.acme.test/app:1"}]}),
        1 => json!({"containers": [{"name": "c", "image": "nginx:latest",
                     "securityContext": {"privileged": true}}], "serviceAccountName": "ci"}),
        _ => json!({
            "automountServiceAccountToken": false,
            "securityContext": {"runAsNonRoot": true, "seccompProfile": {"type": "RuntimeDefault"}},
            "containers": [{"name": "c", "image": digest,
                "securityContext": {"allowPrivilegeEscalation": false, "capabilities": {"drop": ["ALL"]}},
                "resources": {"requests": {"cpu": "1", "memory": "1Mi"}, "limits": {"memory": "1Mi"}},
                "readinessProbe": {"tcpSocket": {"port": 80}}, "livenessProbe": {"tcpSocket": {"port": 80}}}],
        }),
    }
}

fn app_labels() -> impl Strategy<Value = Value> {
    prop::sample::select(vec![
        json!({"app": "a"}),
        json!({"app": "b"}),
        json!({"app": "a", "exempt": "yes"}),
    ])
}

fn namespace() -> impl Strategy<Value = Object> {
    (
        ns_name(),
        prop::option::of(prop::sample::select(vec!["production", "development"])),
        prop::option::of(prop::sample::select(vec!["a", "b"])),
        prop::bool::weighted(0.1),
    )
        .prop_map(|(name, env, team, terminating)| {
            let mut labels = json!({"kubernetes.io/metadata.name": name});
            if let Some(env) = env {
                labels["env"] = json!(env);
            }
            if let Some(team) = team {
                labels["team"] = json!(team);
            }
            let mut body = json!({"metadata": {"name": name, "labels": labels}});
            if terminating {
                body["status"] = json!({"phase": "Terminating"});
            }
            Object::namespaces(parse(body))
        })
}

fn pod() -> impl Strategy<Value = Object> {
    (
        ns_name(),
        name(),
        app_labels(),
        0..3usize,
        prop::option::of((ns_name(), name())),
    )
        .prop_map(|(ns, name, labels, spec, owner)| {
            let mut metadata = meta(ns, name, labels);
            if let Some((owner_ns, owner)) = owner {
                metadata["ownerReferences"] = json!([{"apiVersion": "apps/v1", "kind": "ReplicaSet",
                    "name": owner, "uid": format!("rs-{owner_ns}-{owner}"), "controller": true}]);
            }
            Object::pods(parse(json!({"metadata": metadata, "spec": pod_spec(spec),
                "status": {"podIPs": [{"ip": format!("10.0.{}.{}", ns.len(), name.len())}]}})))
        })
}

fn deployment() -> impl Strategy<Value = Object> {
    (ns_name(), name(), app_labels(), 0..3usize, 1..3i32).prop_map(
        |(ns, name, labels, spec, replicas)| {
            Object::deployments(parse(json!({
                "metadata": meta(ns, name, labels.clone()),
                "spec": {"replicas": replicas, "selector": {"matchLabels": {"app": "a"}},
                         "template": {"metadata": {"labels": labels}, "spec": pod_spec(spec)}},
                "status": {"readyReplicas": replicas},
            })))
        },
    )
}

fn replica_set() -> impl Strategy<Value = Object> {
    (ns_name(), name(), ns_name(), name()).prop_map(|(ns, name, owner_ns, owner)| {
        Object::replica_sets(Arc::new(crate::snapshot::ReplicaSetLink {
            namespace: ns.into(),
            uid: format!("rs-{ns}-{name}"),
            controller: Some(("Deployment".into(), format!("{owner_ns}-{owner}"))),
        }))
    })
}

fn peer(which: usize) -> Value {
    match which {
        0 => json!({"ipBlock": {"cidr": "10.0.0.0/8", "except": ["10.1.0.0/16"]}}),
        1 => json!({"ipBlock": {"cidr": "0.0.0.0/0"}}),
        2 => json!({"namespaceSelector": {"matchLabels": {"env": "production"}}}),
        3 => json!({"namespaceSelector": {"matchLabels": {"team": "a"}}}),
        4 => json!({"namespaceSelector": {}}),
        5 => json!({"podSelector": {"matchLabels": {"app": "a"}}}),
        _ => {
            json!({"namespaceSelector": {"matchExpressions": [{"key": "env", "operator": "NotIn", "values": ["production"]}]},
                    "podSelector": {}})
        }
    }
}

fn network_policy() -> impl Strategy<Value = Object> {
    (
        ns_name(),
        name(),
        any::<bool>(),
        0..3usize,
        prop::collection::vec(
            (
                prop::collection::vec(0..7usize, 0..3),
                prop::option::of(prop::sample::select(vec![80, 443])),
            ),
            0..3,
        ),
        any::<bool>(),
    )
        .prop_map(|(ns, name, all_pods, types, rules, open_egress)| {
            let selector = if all_pods {
                json!({})
            } else {
                json!({"matchLabels": {"app": "a"}})
            };
            let types = match types {
                0 => json!(["Ingress"]),
                1 => json!(["Ingress", "Egress"]),
                _ => json!(["Egress"]),
            };
            let ingress: Vec<Value> = rules
                .iter()
                .map(|(peers, port)| {
                    let mut rule = json!({});
                    if !peers.is_empty() {
                        rule["from"] = peers.iter().map(|p| peer(*p)).collect();
                    }
                    if let Some(port) = port {
                        rule["ports"] = json!([{"port": port}]);
                    }
                    rule
                })
                .collect();
            let mut spec =
                json!({"podSelector": selector, "policyTypes": types, "ingress": ingress});
            if open_egress {
                spec["egress"] = json!([{"ports": [{"port": 53, "protocol": "UDP"}]}]);
            }
            Object::network_policies(parse(
                json!({"metadata": meta(ns, name, json!({})), "spec": spec}),
            ))
        })
}

fn service() -> impl Strategy<Value = Object> {
    (
        ns_name(),
        name(),
        prop::sample::select(vec!["ClusterIP", "NodePort", "LoadBalancer", "ExternalName"]),
        prop::sample::select(vec![80, 443]),
        ns_name(),
    )
        .prop_map(|(ns, name, type_, port, target)| {
            let mut spec = json!({"type": type_, "ports": [{"port": port}], "clusterIP": format!("10.96.{}.{}", ns.len(), name.len())});
            if type_ == "ExternalName" {
                spec = json!({"type": type_, "externalName": format!("db.{target}.svc.cluster.local")});
            }
            Object::services(parse(json!({"metadata": meta(ns, name, json!({})), "spec": spec})))
        })
}

fn endpoint_slice() -> impl Strategy<Value = Object> {
    (ns_name(), name(), ns_name(), 0..3usize).prop_map(|(ns, name, target, how)| {
        // By reference, or at an address some pod or Service reports (pod and Service
        // addresses follow their namespace's name length, so prod's and shop's coincide).
        let endpoint = match how {
            0 => {
                json!({"addresses": ["192.168.0.1"], "targetRef": {"kind": "Pod", "namespace": target, "name": "a"}})
            }
            1 => json!({"addresses": [format!("10.0.{}.1", target.len())]}),
            _ => json!({"addresses": [format!("10.96.{}.1", target.len())]}),
        };
        Object::endpoint_slices(parse(json!({
            "metadata": meta(ns, name, json!({"kubernetes.io/service-name": name})),
            "addressType": "IPv4", "endpoints": [endpoint],
        })))
    })
}

fn ingress() -> impl Strategy<Value = Object> {
    (ns_name(), name(), any::<bool>()).prop_map(|(ns, name, tls)| {
        let mut spec = json!({"rules": [{"host": "shop.example.com"}]});
        if tls {
            spec["tls"] = json!([{"hosts": ["*.example.com"]}]);
        }
        Object::ingresses(parse(
            json!({"metadata": meta(ns, name, json!({})), "spec": spec}),
        ))
    })
}

fn claim() -> impl Strategy<Value = Object> {
    (
        ns_name(),
        name(),
        prop::option::of(prop::sample::select(vec!["encrypted", "plain", "other"])),
        // Populated from a claim in another namespace now and then (a clone of production
        // data is judged by that namespace's environment).
        prop::option::weighted(0.3, ns_name()),
    )
        .prop_map(|(ns, name, class, source)| {
            let mut spec = json!({"accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": "1Gi"}}});
            if let Some(class) = class {
                spec["storageClassName"] = json!(class);
            }
            if let Some(source) = source {
                spec["dataSourceRef"] =
                    json!({"kind": "PersistentVolumeClaim", "name": "a", "namespace": source});
            }
            Object::persistent_volume_claims(parse(
                json!({"metadata": meta(ns, name, json!({"data": "production"})), "spec": spec}),
            ))
        })
}

fn storage_class() -> impl Strategy<Value = Object> {
    (
        prop::sample::select(vec!["encrypted", "plain", "other"]),
        any::<bool>(),
        any::<bool>(),
    )
        .prop_map(|(name, default, encrypted)| {
            let mut body = json!({"metadata": {"name": name}, "provisioner": "x"});
            if default {
                body["metadata"]["annotations"] =
                    json!({"storageclass.kubernetes.io/is-default-class": "true"});
            }
            if encrypted {
                body["parameters"] = json!({"encrypted": "true"});
            }
            Object::storage_classes(parse(body))
        })
}

fn subject() -> impl Strategy<Value = Value> {
    (
        prop::sample::select(vec!["sa", "user", "group", "authenticated", "alice"]),
        ns_name(),
    )
        .prop_map(|(kind, ns)| match kind {
            "sa" => json!({"kind": "ServiceAccount", "namespace": ns, "name": "ci"}),
            "user" => json!({"kind": "User", "name": format!("system:serviceaccount:{ns}:ci"), "apiGroup": "rbac.authorization.k8s.io"}),
            "group" => json!({"kind": "Group", "name": format!("system:serviceaccounts:{ns}"), "apiGroup": "rbac.authorization.k8s.io"}),
            "authenticated" => json!({"kind": "Group", "name": "system:authenticated", "apiGroup": "rbac.authorization.k8s.io"}),
            _ => json!({"kind": "User", "name": "alice", "apiGroup": "rbac.authorization.k8s.io"}),
        })
}

const CLUSTER_ROLES: &[&str] = &["admin", "everything", "secrets", "agg", "part"];

fn role_binding() -> impl Strategy<Value = Object> {
    (
        ns_name(),
        name(),
        any::<bool>(),
        prop::sample::select(CLUSTER_ROLES.to_vec()),
        subject(),
    )
        .prop_map(|(ns, name, cluster, role, subject)| {
            let kind = if cluster { "ClusterRole" } else { "Role" };
            Object::role_bindings(parse(json!({
                "metadata": meta(ns, name, json!({})), "subjects": [subject],
                "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": kind, "name": role},
            })))
        })
}

fn cluster_role_binding() -> impl Strategy<Value = Object> {
    (
        name(),
        prop::sample::select(CLUSTER_ROLES.to_vec()),
        prop::collection::vec(subject(), 1..3),
    )
        .prop_map(|(name, role, subjects)| {
            Object::cluster_role_bindings(parse(json!({
                "metadata": {"name": name}, "subjects": subjects,
                "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": role},
            })))
        })
}

fn rules(which: usize) -> Value {
    match which {
        0 => json!([{"apiGroups": ["*"], "resources": ["*"], "verbs": ["*"]}]),
        1 => json!([{"apiGroups": [""], "resources": ["secrets"], "verbs": ["get"]}]),
        _ => json!([{"apiGroups": [""], "resources": ["pods"], "verbs": ["get"]}]),
    }
}

fn role() -> impl Strategy<Value = Object> {
    (
        ns_name(),
        prop::sample::select(CLUSTER_ROLES.to_vec()),
        0..3usize,
    )
        .prop_map(|(ns, name, which)| {
            Object::roles(parse(
                json!({"metadata": meta(ns, name, json!({})), "rules": rules(which)}),
            ))
        })
}

fn cluster_role() -> impl Strategy<Value = Object> {
    (
        prop::sample::select(CLUSTER_ROLES.to_vec()),
        0..3usize,
        any::<bool>(),
        any::<bool>(),
    )
        .prop_map(|(name, which, part_of, aggregates)| {
            let mut body = json!({"metadata": {"name": name}, "rules": rules(which)});
            if part_of {
                body["metadata"]["labels"] = json!({"part-of": "agg"});
            }
            if aggregates {
                body["aggregationRule"] =
                    json!({"clusterRoleSelectors": [{"matchLabels": {"part-of": "agg"}}]});
            }
            Object::cluster_roles(parse(body))
        })
}

fn service_account() -> impl Strategy<Value = Object> {
    (
        ns_name(),
        prop::sample::select(vec!["default", "ci"]),
        any::<bool>(),
    )
        .prop_map(|(ns, name, off)| {
            let mut body = json!({"metadata": meta(ns, name, json!({}))});
            if off {
                body["automountServiceAccountToken"] = json!(false);
            }
            Object::service_accounts(parse(body))
        })
}

fn disruption_budget() -> impl Strategy<Value = Object> {
    (ns_name(), name(), app_labels()).prop_map(|(ns, name, labels)| {
        Object::pod_disruption_budgets(parse(json!({
            "metadata": meta(ns, name, json!({})),
            "spec": {"selector": {"matchLabels": labels}, "minAvailable": 1},
        })))
    })
}

fn secret() -> impl Strategy<Value = Object> {
    (ns_name(), name(), 0..3u8, any::<bool>()).prop_map(|(ns, name, value, material)| {
        let digest = [value; 32];
        Object::secrets(Arc::new(SecretDigest {
            namespace: ns.into(),
            name: name.into(),
            labels: BTreeMap::new(),
            digest,
            value_digests: BTreeMap::from([("password".to_string(), digest)]),
            material_keys: if material {
                BTreeSet::from(["password".to_string()])
            } else {
                BTreeSet::new()
            },
            holds_material: material,
        }))
    })
}

fn config_map() -> impl Strategy<Value = Object> {
    (ns_name(), name(), any::<bool>()).prop_map(|(ns, name, personal)| {
        let labels = if personal {
            BTreeMap::from([("data".to_string(), "personal".to_string())])
        } else {
            BTreeMap::new()
        };
        Object::config_maps(Arc::new(ObjectMetaOnly {
            kind: "ConfigMap",
            namespace: ns.into(),
            name: name.into(),
            labels,
        }))
    })
}

fn selector(which: usize) -> Value {
    match which {
        0 => json!({"matchLabels": {"env": "production"}}),
        1 => json!({"matchLabels": {"team": "a"}}),
        2 => json!({}),
        _ => {
            json!({"matchExpressions": [{"key": "env", "operator": "NotIn", "values": ["production"]}]})
        }
    }
}

fn exemptions(kind: crate::catalog::ControlKind, which: usize) -> Value {
    let controls: Vec<&str> = crate::catalog::CATALOG
        .iter()
        .filter(|c| c.kind == kind)
        .map(|c| c.id.as_str())
        .collect();
    match which {
        0 => json!([]),
        1 => json!([{"controls": controls, "selector": {"matchLabels": {"exempt": "yes"}},
                     "reason": "r", "approvedBy": "ciso", "expires": "2099-01-01"}]),
        2 => json!([{"controls": controls, "namespaces": ["dev"],
                     "reason": "r", "approvedBy": "ciso", "expires": "2099-01-01"}]),
        _ => json!([{"controls": controls, "selector": {"matchLabels": {"exempt": "yes"}},
                     "reason": "r", "approvedBy": "ciso", "expires": "2020-01-01"}]),
    }
}

fn security_baseline() -> impl Strategy<Value = Object> {
    (
        prop::sample::select(vec!["sb1", "sb2"]),
        0..4usize,
        any::<bool>(),
        0..4usize,
        prop::bool::weighted(0.8),
    )
        .prop_map(|(name, which, egress, exempt, access)| {
            let deny = if egress {
                json!(["Ingress", "Egress"])
            } else {
                json!(["Ingress"])
            };
            let mut spec = json!({
                "mode": "Audit",
                "namespaceSelector": selector(which),
                "network": {"allowedIngressPorts": [{"port": 443}], "defaultDeny": deny},
                "encryption": {"inTransit": {"requireIngressTLS": true},
                               "atRest": {"encryptedStorageClasses": ["encrypted"],
                                          "storageClassParameter": {"key": "encrypted", "value": "true"}}},
                "podSecurity": {"level": "restricted"},
                "images": {"allowedRegistries": ["registry.acme.test/"], "disallowLatestTag": true},
                "availability": {"minReplicas": 2, "requirePodDisruptionBudget": true, "requireProbes": true},
                "resources": {"requireRequests": true, "requireMemoryLimit": true},
                "exemptions": exemptions(crate::catalog::ControlKind::SecurityBaseline, exempt),
            });
            if access {
                spec["access"] = json!({"forbiddenRoles": ["admin"], "forbidWildcardRoles": true, "disallowAutomountToken": true});
            }
            Object::security_baselines(parse::<SecurityBaseline>(json!({
                "apiVersion": "security.baseline.dev/v1alpha1", "kind": "SecurityBaseline",
                "metadata": {"name": name, "uid": format!("uid-{name}")}, "spec": spec,
            })))
        })
}

fn environment_isolation() -> impl Strategy<Value = Object> {
    (any::<bool>(), 0..3usize, any::<bool>()).prop_map(|(flow, exempt, by_team)| {
        let env = |name: &str, production: bool, selector: Value| json!({"name": name, "production": production, "namespaceSelector": selector});
        // Environments by `env` label, or production by team: a spec change that moves
        // namespaces between environments.
        let production = if by_team {
            json!({"matchLabels": {"team": "a"}})
        } else {
            json!({"matchLabels": {"env": "production"}})
        };
        let mut spec = json!({
            "mode": "Audit",
            "environments": [env("production", true, production),
                             env("development", false, json!({"matchLabels": {"env": "development"}}))],
            "productionData": {"productionValues": ["production", "personal"], "detectCopiedSecrets": true},
            "access": {"denyCrossEnvironmentBindings": true},
            "exemptions": exemptions(crate::catalog::ControlKind::EnvironmentIsolation, exempt),
        });
        if flow {
            spec["allowedFlows"] =
                json!([{"from": "development", "to": "production", "ports": [{"port": 443}]}]);
        }
        Object::environment_isolations(parse::<EnvironmentIsolation>(json!({
            "apiVersion": "security.baseline.dev/v1alpha1", "kind": "EnvironmentIsolation",
            "metadata": {"name": "ei", "uid": "uid-ei"}, "spec": spec,
        })))
    })
}

fn backup_policy() -> impl Strategy<Value = Object> {
    (0..4usize, 0..3usize).prop_map(|(which, exempt)| {
        Object::backup_policies(parse::<BackupPolicy>(json!({
            "apiVersion": "security.baseline.dev/v1alpha1", "kind": "BackupPolicy",
            "metadata": {"name": "bp", "uid": "uid-bp"},
            "spec": {"mode": "Audit", "namespaceSelector": selector(which), "rpo": "24h",
                     "retention": {"min": "720h", "max": "2160h"}, "requireEncryption": true,
                     "exemptions": exemptions(crate::catalog::ControlKind::BackupPolicy, exempt)},
        })))
    })
}

/// A Velero Schedule in Velero's namespace over some of the namespaces (none listed: all),
/// running hourly or monthly (less often than the policies' 24h RPO), paused now and then.
/// Half of them take their cron from their name and are never paused, so that a Schedule is
/// often rewritten with only another namespace list (as a policy's own is when a namespace
/// joins or leaves it: `backup::namespaces_a_schedule_change_judges`).
fn velero_schedule() -> impl Strategy<Value = Object> {
    let any = (
        name(),
        prop::sample::subsequence(NAMESPACES.to_vec(), 0..=3),
        prop::bool::ANY,
        prop::bool::weighted(0.2),
    );
    let list_only = (
        name(),
        prop::sample::subsequence(NAMESPACES.to_vec(), 0..=3),
    )
        .prop_map(|(name, included)| (name, included, name == "a", false));
    prop_oneof![any, list_only].prop_map(|(name, included, hourly, paused)| {
        let cron = if hourly { "0 * * * *" } else { "0 0 1 * *" };
        Object::velero_schedules(parse(json!({
            "apiVersion": "velero.io/v1", "kind": "Schedule",
            "metadata": meta("velero", name, json!({"security.baseline.dev/backup-policy": "bp"})),
            "spec": {"schedule": cron, "paused": paused,
                     "template": {"includedNamespaces": included, "ttl": "720h"}},
        })))
    })
}

/// A Velero Backup of some of the namespaces that completed (1, 20 or 100 hours before the
/// tests' instant: fresh or stale against a 24h RPO, and each turning stale as the tests'
/// clock moves), failed or is running.
fn velero_backup() -> impl Strategy<Value = Object> {
    (
        prop::sample::select(vec!["b1", "b2", "b3"]),
        prop::sample::subsequence(NAMESPACES.to_vec(), 0..=2),
        prop::sample::select(vec!["Completed", "Completed", "Failed", "InProgress"]),
        prop::sample::select(vec![1i64, 20, 100]),
    )
        .prop_map(|(name, included, phase, hours_ago)| {
            let at = |hours: i64| {
                now()
                    .checked_sub(jiff::SignedDuration::from_hours(hours))
                    .unwrap()
                    .to_string()
            };
            Object::velero_backups(parse(json!({
                "apiVersion": "velero.io/v1", "kind": "Backup",
                "metadata": meta("velero", name, json!({"security.baseline.dev/backup-policy": "bp"})),
                "spec": {"includedNamespaces": included},
                "status": {"phase": phase, "startTimestamp": at(hours_ago + 1),
                           "completionTimestamp": at(hours_ago), "expiration": at(hours_ago - 720)},
            })))
        })
}

fn object() -> impl Strategy<Value = Object> {
    prop_oneof![
        3 => namespace(),
        2 => pod(),
        2 => deployment(),
        1 => replica_set(),
        3 => network_policy(),
        1 => service(),
        1 => endpoint_slice(),
        1 => ingress(),
        1 => claim(),
        1 => storage_class(),
        2 => role_binding(),
        1 => cluster_role_binding(),
        1 => role(),
        2 => cluster_role(),
        1 => service_account(),
        1 => disruption_budget(),
        1 => secret(),
        1 => config_map(),
        1 => security_baseline(),
        2 => environment_isolation(),
        1 => backup_policy(),
        1 => velero_schedule(),
        1 => velero_backup(),
    ]
}

/// One step of a history: an event, and whether the engine settles after it (otherwise the
/// dirty sets pile up and settle later, as a batching shell would).
fn step() -> impl Strategy<Value = (Event, bool)> {
    (
        object(),
        prop::bool::weighted(0.2),
        prop::bool::weighted(0.7),
    )
        .prop_map(|(object, delete, settle)| {
            let event = if delete {
                Event::Delete(object.key())
            } else {
                Event::Upsert(object)
            };
            (event, settle)
        })
}

macro_rules! oracle_snapshot {
    ($($field:ident: $ty:ty,)*) => {
        /// The final state as one Snapshot, built from the events alone (not from the
        /// engine), objects in reverse order of their keys: an evaluation that depends on
        /// the order objects are listed in shows up as a difference.
        fn oracle(model: &BTreeMap<ObjectKey, Object>) -> Snapshot {
            let mut s = Snapshot {
                excluded: ExcludedNamespaces::default(),
                secrets: Observed::Observed(Vec::new()),
                ..Snapshot::default()
            };
            s.velero.installed = true;
            let mut secrets = Vec::new();
            for object in model.values().rev() {
                match object.clone() {
                    $(Object::$field(o) => s.$field.push(o),)*
                    Object::config_maps(o) => s.config_maps.push(o),
                    Object::replica_sets(o) => s.replica_sets.push(o),
                    Object::secrets(o) => secrets.push(o),
                    Object::security_baselines(o) => s.custom_resources.security_baselines.push(o),
                    Object::backup_policies(o) => s.custom_resources.backup_policies.push(o),
                    Object::environment_isolations(o) => s.custom_resources.environment_isolations.push(o),
                    Object::velero_schedules(o) => s.velero.schedules.push(o),
                    Object::velero_backups(o) => s.velero.backups.push(o),
                    Object::velero_restores(o) => s.velero.restores.push(o),
                    Object::velero_storage_locations(o) => s.velero.storage_locations.push(o),
                    Object::velero_snapshot_locations(o) => s.velero.snapshot_locations.push(o),
                }
            }
            s.secrets = Observed::Observed(secrets);
            s
        }
    };
}
crate::snapshot::watched_kinds!(oracle_snapshot);

/// Every resource's from-scratch evaluation of `snapshot`.
fn from_scratch(snapshot: &Snapshot) -> BTreeMap<ResourceKey, Evaluation> {
    let mut out = BTreeMap::new();
    let crs = &snapshot.custom_resources;
    for sb in &crs.security_baselines {
        let name = sb.metadata.name.clone().unwrap_or_default();
        if let Ok(spec) = validate::security_baseline::validate(&sb.spec) {
            let key = ResourceKey {
                kind: ResourceKind::SecurityBaseline,
                name: name.clone(),
            };
            out.insert(
                key,
                security_baseline::evaluate(&name, &spec, snapshot, now()),
            );
        }
    }
    for ei in &crs.environment_isolations {
        let name = ei.metadata.name.clone().unwrap_or_default();
        if let Ok(spec) = validate::environment_isolation::validate(&ei.spec) {
            let key = ResourceKey {
                kind: ResourceKind::EnvironmentIsolation,
                name: name.clone(),
            };
            out.insert(key, isolation::evaluate(&name, &spec, snapshot, now()));
        }
    }
    for bp in &crs.backup_policies {
        let name = bp.metadata.name.clone().unwrap_or_default();
        if let Ok(spec) = validate::backup_policy::validate(&bp.spec, now()) {
            let key = ResourceKey {
                kind: ResourceKind::BackupPolicy,
                name: name.clone(),
            };
            out.insert(key, backup::evaluate(&name, &spec, None, snapshot, now()));
        }
    }
    out
}

fn engine() -> Engine {
    let mut engine = Engine::new(ExcludedNamespaces::default(), false);
    engine.set_secrets_not_observed(None);
    engine.set_velero_state(true, None, None);
    engine
}

/// Feeds `event` as the shell does: an upsert of what the engine held but for its resource
/// version dirties nothing (`Engine::upsert`).
fn feed(engine: &mut Engine, event: &Event) -> Dirty {
    match event {
        Event::Upsert(object) => engine.upsert(object.clone()).unwrap_or_default(),
        Event::Delete(_) => engine.apply(event.clone()),
    }
}

/// Runs `history` through a fresh engine and through the model; returns both sides.
fn run(
    history: &[(Event, bool)],
) -> (
    BTreeMap<ResourceKey, Evaluation>,
    BTreeMap<ResourceKey, Evaluation>,
) {
    let mut engine = engine();
    let mut model: BTreeMap<ObjectKey, Object> = BTreeMap::new();
    let mut pending = Dirty::default();
    // BackupPolicies' kept parts are settled when a policy is evaluated, at the instant it
    // is: the clock moves 7 hours per settle, so that fresh backups turn stale between folds
    // and stale ones' findings name other ages.
    let mut clock = now();
    for (event, settle) in history {
        match event {
            Event::Upsert(object) => {
                model.insert(object.key(), object.clone());
            }
            Event::Delete(key) => {
                model.remove(key);
            }
        }
        pending.merge(feed(&mut engine, event));
        if *settle {
            engine.settle(&std::mem::take(&mut pending));
            clock = clock
                .checked_add(jiff::SignedDuration::from_hours(7))
                .unwrap();
            for key in engine.resources() {
                if key.kind == ResourceKind::BackupPolicy {
                    engine.backup_policy(&key.name, None, clock);
                }
            }
        }
    }
    engine.settle(&pending);
    let whole = oracle(&model);
    // The environments kept per event are those the final state resolves.
    assert_eq!(
        *engine.partition().environments(),
        crate::evaluate::open_ports::Environments::compute(&whole),
        "kept environments"
    );
    let diverging = desired_divergences(&engine, &whole);
    assert!(
        diverging.is_empty(),
        "desired objects differ: {diverging:?}"
    );
    let incremental = engine
        .resources()
        .into_iter()
        .filter_map(|key| {
            if key.kind == ResourceKind::BackupPolicy {
                let evaluation = engine.backup_policy(&key.name, None, clock)?;
                return Some((key, evaluation));
            }
            let evaluation = engine.evaluation(&key, now())?;
            if key.kind == ResourceKind::SecurityBaseline {
                assert_eq!(
                    folded_apart(&engine, &whole, &key.name).as_ref(),
                    Some(&evaluation),
                    "{}: the fold taken out of the engine differs",
                    key.name
                );
            }
            Some((key.clone(), evaluation))
        })
        .collect();
    let mut oracle = from_scratch(&whole);
    for (key, evaluation) in oracle.iter_mut() {
        if key.kind == ResourceKind::BackupPolicy {
            let bp = whole
                .custom_resources
                .backup_policies
                .iter()
                .find(|bp| bp.metadata.name.as_deref() == Some(key.name.as_str()))
                .expect("a policy the oracle evaluated");
            let spec = validate::backup_policy::validate(&bp.spec, clock).expect("valid");
            *evaluation = backup::evaluate(&key.name, &spec, None, &whole, clock);
        }
    }
    (incremental, oracle)
}

/// A SecurityBaseline's evaluation folded from what the engine hands out
/// (`security_baseline_fold`: the feed folds it after releasing the engine's lock).
fn folded_apart(engine: &Engine, whole: &Snapshot, name: &str) -> Option<Evaluation> {
    let sb = whole
        .custom_resources
        .security_baselines
        .iter()
        .find(|sb| sb.metadata.name.as_deref() == Some(name))?;
    let spec = validate::security_baseline::validate(&sb.spec).ok()?;
    Some(engine.security_baseline_fold(name, &spec)?.fold(now()))
}

/// The (SecurityBaseline, namespace) pairs whose desired NetworkPolicies, rendered from the
/// namespace's view alone, differ from the whole-snapshot rendering's objects in that
/// namespace. (Pod Security labels are a function of the spec alone.)
fn desired_divergences(engine: &Engine, whole: &Snapshot) -> Vec<String> {
    use crate::desired::{Owner, network_policy};
    let mut out = Vec::new();
    let mut base = engine.partition().namespace_base();
    for sb in &whole.custom_resources.security_baselines {
        let Ok(spec) = validate::security_baseline::validate(&sb.spec) else {
            continue;
        };
        let Some(network) = spec.network.as_ref() else {
            continue;
        };
        let name = sb.metadata.name.clone().unwrap_or_default();
        let owner = Owner {
            api_version: "security.baseline.dev/v1alpha1".into(),
            kind: "SecurityBaseline".into(),
            name: name.clone(),
            uid: "u".into(),
        };
        let selected = crate::evaluate::selected_namespaces(&spec.namespace_selector, whole);
        let all = network_policy::restricted_ports(&owner, network, &selected, whole);
        for ns in &selected {
            let mine = engine
                .partition()
                .with_namespace_view(&mut base, ns, |view| {
                    network_policy::restricted_ports(
                        &owner,
                        network,
                        std::slice::from_ref(ns),
                        view,
                    )
                });
            let theirs: Vec<_> = all
                .iter()
                .filter(|o| o.namespace.as_deref() == Some(ns.as_str()))
                .cloned()
                .collect();
            if mine != theirs {
                out.push(format!("{name} {ns}"));
            }
        }
    }
    out
}

/// A dense start: every namespace exists, picks others by label in a NetworkPolicy, binds a
/// ClusterRole and claims storage, and a SecurityBaseline judges them all, so that the events
/// after it cross namespaces often (a random history rarely builds such a cluster).
fn dense_start() -> impl Strategy<Value = Vec<(Event, bool)>> {
    let per_namespace = (
        namespace(),
        prop::sample::select(vec![2usize, 3, 6]),
        prop::sample::select(vec!["agg", "agg", "admin", "everything", "secrets"]),
        prop::option::of(prop::sample::select(vec!["encrypted", "plain"])),
    );
    (
        prop::collection::vec(per_namespace, NAMESPACES.len()),
        security_baseline(),
    )
        .prop_map(|(namespaces, baseline)| {
            let mut events = Vec::new();
            for (i, (ns, peer_kind, role, class)) in namespaces.into_iter().enumerate() {
                // One of each name, whatever the generator picked.
                let name = NAMESPACES[i];
                let Object::namespaces(generated) = ns else {
                    unreachable!()
                };
                let mut namespace = (*generated).clone();
                namespace.metadata.name = Some(name.into());
                events.push(Object::namespaces(Arc::new(namespace)));
                events.push(Object::network_policies(parse(json!({
                    "metadata": meta(name, "peers", json!({})),
                    "spec": {"podSelector": {}, "policyTypes": ["Ingress"],
                             "ingress": [{"from": [peer(peer_kind)]}]},
                }))));
                events.push(Object::role_bindings(parse(json!({
                    "metadata": meta(name, "bound", json!({})),
                    "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": role},
                }))));
                let mut spec = json!({"accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": "1Gi"}}});
                if let Some(class) = class {
                    spec["storageClassName"] = json!(class);
                }
                events.push(Object::persistent_volume_claims(parse(
                    json!({"metadata": meta(name, "claim", json!({})), "spec": spec}),
                )));
            }
            // An aggregated ClusterRole, judged on the rules of the roles labelled into it.
            events.push(Object::cluster_roles(parse(json!({
                "metadata": {"name": "agg"},
                "aggregationRule": {"clusterRoleSelectors": [{"matchLabels": {"part-of": "agg"}}]},
            }))));
            events.push(baseline);
            events
                .into_iter()
                .map(|o| (Event::Upsert(o), true))
                .collect()
        })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    /// As below, from a dense start (see [`dense_start`]).
    #[test]
    fn incremental_evaluation_equals_a_from_scratch_one_across_namespaces(
        start in dense_start(),
        rest in prop::collection::vec(step(), 1..40),
    ) {
        let history: Vec<(Event, bool)> = start.into_iter().chain(rest).collect();
        let (incremental, oracle) = run(&history);
        prop_assert_eq!(
            incremental.keys().collect::<Vec<_>>(),
            oracle.keys().collect::<Vec<_>>()
        );
        for (key, expected) in &oracle {
            prop_assert_eq!(&incremental[key], expected, "{:?}", key);
        }
    }

    /// The engine's evaluation of every resource, after any history of events settled in any
    /// batches, equals a from-scratch evaluation of the final state: findings, counts,
    /// states, notes and notices.
    #[test]
    fn incremental_evaluation_equals_a_from_scratch_one(
        first in prop::collection::vec(security_baseline(), 1..3),
        rest in prop::collection::vec(step(), 1..80),
    ) {
        // The custom resources come first now and then, so that most events arrive while a
        // resource judges the cluster (a new resource judges every namespace, hiding a
        // missed dirty namespace).
        let history: Vec<(Event, bool)> = first
            .into_iter()
            .map(|o| (Event::Upsert(o), true))
            .chain(rest)
            .collect();
        let (incremental, oracle) = run(&history);
        prop_assert_eq!(
            incremental.keys().collect::<Vec<_>>(),
            oracle.keys().collect::<Vec<_>>()
        );
        for (key, expected) in &oracle {
            let got = &incremental[key];
            for (got, expected) in got.controls.iter().zip(&expected.controls) {
                prop_assert_eq!(got, expected, "{:?} {}", key, expected.id);
            }
            prop_assert_eq!(got, expected, "{:?}", key);
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    /// An EnvironmentIsolation judging the cluster from the start, so that every later event
    /// reaches its kept parts only through the dirty sets (a new resource judges every
    /// namespace, which would hide a missed one): after every settle, its evaluation equals a
    /// from-scratch one. Namespaces moving between environments, policies, routes, clones,
    /// copied Secrets and bindings, in any order and batches.
    #[test]
    fn isolation_parts_follow_every_event(
        isolation in environment_isolation(),
        start in dense_start(),
        rest in prop::collection::vec(step(), 1..60),
    ) {
        let mut engine = engine();
        let mut model: BTreeMap<ObjectKey, Object> = BTreeMap::new();
        let mut pending = Dirty::default();
        let custom = |event: &Event| {
            let key = match event {
                Event::Upsert(o) => o.key(),
                Event::Delete(key) => key.clone(),
            };
            key.kind.is_custom()
        };
        let history = std::iter::once((Event::Upsert(isolation), true))
            .chain(start)
            .chain(rest.into_iter().filter(|(event, _)| !custom(event)));
        for (event, settle) in history {
            match &event {
                Event::Upsert(object) => {
                    model.insert(object.key(), object.clone());
                }
                Event::Delete(key) => {
                    model.remove(key);
                }
            }
            pending.merge(feed(&mut engine, &event));
            if !settle {
                continue;
            }
            engine.settle(&std::mem::take(&mut pending));
            let whole = oracle(&model);
            let key = ResourceKey { kind: ResourceKind::EnvironmentIsolation, name: "ei".into() };
            let expected = from_scratch(&whole).remove(&key);
            let got = engine.evaluation(&key, now());
            prop_assert_eq!(got, expected, "after {:?}", event);
        }
    }
}

/// A cluster of `count` namespaces in three environments under an EnvironmentIsolation, each
/// with the policies the operator writes there (ingress from its own environment, and from
/// staging into production on 443 as the declared flow allows), a Secret and a RoleBinding;
/// `ns-0000` also has an ExternalName Service aliasing a name in `ns-0003`.
fn isolated_cluster_of(count: usize) -> Engine {
    let mut engine = engine();
    let mut pending = Dirty::default();
    let env_of = |i: usize| ["production", "staging", "development"][i % 3];
    let peer = |env: &str| json!({"namespaceSelector": {"matchLabels": {"env": env}}});
    for i in 0..count {
        let ns = format!("ns-{i:04}");
        let env = env_of(i);
        pending.merge(engine.apply(Event::Upsert(Object::namespaces(parse(json!({
            "metadata": {"name": ns, "labels": {"env": env, "kubernetes.io/metadata.name": ns}},
        }))))));
        let mut rules = vec![json!({"from": [peer(env)]})];
        if env == "production" {
            rules.push(json!({"from": [peer("staging")], "ports": [{"port": 443}]}));
        }
        let policy = json!({"podSelector": {}, "policyTypes": ["Ingress"], "ingress": rules});
        pending.merge(engine.apply(Event::Upsert(Object::network_policies(parse(
            json!({"metadata": meta(&ns, "isolation", json!({})), "spec": policy}),
        )))));
        pending.merge(
            engine.apply(Event::Upsert(Object::secrets(Arc::new(SecretDigest {
                namespace: ns.clone(),
                name: "db".into(),
                labels: BTreeMap::new(),
                digest: {
                    // Distinct per namespace: no Secret here is a copy of another.
                    let mut digest = [1; 32];
                    digest[..8].copy_from_slice(&(i as u64).to_le_bytes());
                    digest
                },
                value_digests: BTreeMap::new(),
                holds_material: true,
                material_keys: BTreeSet::new(),
            })))),
        );
        pending.merge(engine.apply(Event::Upsert(Object::role_bindings(parse(json!({
            "metadata": meta(&ns, "team", json!({})),
            "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": "view"},
            "subjects": [{"kind": "ServiceAccount", "name": "default", "namespace": ns}],
        }))))));
    }
    pending.merge(engine.apply(Event::Upsert(Object::services(parse(json!({
        "metadata": meta("ns-0000", "alias", json!({})),
        "spec": {"type": "ExternalName", "externalName": "db.ns-0003.svc.cluster.local"},
    }))))));
    let env = |name: &str, production: bool| {
        json!({"name": name, "production": production,
        "namespaceSelector": {"matchLabels": {"env": name}}})
    };
    pending.merge(engine.apply(Event::Upsert(Object::environment_isolations(parse::<EnvironmentIsolation>(json!({
        "apiVersion": "security.baseline.dev/v1alpha1", "kind": "EnvironmentIsolation",
        "metadata": {"name": "ei", "uid": "uid-ei"},
        "spec": {"mode": "Enforce",
            "environments": [env("production", true), env("staging", false), env("development", false)],
            "allowedFlows": [{"from": "staging", "to": "production", "ports": [{"port": 443}]}],
            "productionData": {"productionValues": ["production"], "detectCopiedSecrets": true},
            "access": {"denyCrossEnvironmentBindings": true}},
    }))))));
    engine.settle(&pending);
    engine
}

/// A namespace moving between environments, or a new one, judges the isolation's parts of a
/// few namespaces, the same few whatever the namespace count: itself, and the namespaces
/// whose findings can name it (here the one routing into it). Its isolation's evaluation is
/// still the whole one.
#[test]
fn a_namespace_changing_environment_judges_few_isolation_parts() {
    let mut judged = Vec::new();
    for count in [100, 1_000] {
        let mut engine = isolated_cluster_of(count);
        let isolation = ResourceKey {
            kind: ResourceKind::EnvironmentIsolation,
            name: "ei".into(),
        };
        let before = engine.counters();
        // ns-0003 is in production: into staging, then a new namespace in staging.
        let dirty = engine.apply_and_settle(Event::Upsert(Object::namespaces(parse(json!({
            "metadata": {"name": "ns-0003", "labels": {"env": "staging"}},
        })))));
        assert!(dirty.isolations.contains("ns-0000"), "{dirty:?}");
        engine.apply_and_settle(Event::Upsert(Object::namespaces(parse(json!({
            "metadata": {"name": "new", "labels": {"env": "staging"}},
        })))));
        let after = engine.counters();
        assert_eq!(after.whole_evaluations, before.whole_evaluations);
        judged.push(after.isolation_parts - before.isolation_parts);
        let expected = from_scratch(&engine.snapshot());
        assert_eq!(
            engine.evaluation(&isolation, now()).as_ref(),
            expected.get(&isolation)
        );
    }
    assert_eq!(
        judged[0], judged[1],
        "parts judged at 100 and 1,000: {judged:?}"
    );
    assert!(judged[0] <= 4, "{judged:?}");
}

/// A cluster of `count` namespaces (each with a Deployment, a NetworkPolicy picking
/// production namespaces by label, a RoleBinding and a claim) under one SecurityBaseline.
fn cluster_of(count: usize) -> Engine {
    let mut engine = engine();
    let mut pending = Dirty::default();
    let names: Vec<String> = (0..count).map(|i| format!("ns-{i:04}")).collect();
    for (i, ns) in names.iter().enumerate() {
        let env = if i % 2 == 0 {
            "production"
        } else {
            "development"
        };
        pending.merge(engine.apply(Event::Upsert(Object::namespaces(parse(json!({
            "metadata": {"name": ns, "labels": {"env": env, "kubernetes.io/metadata.name": ns}},
        }))))));
        pending.merge(engine.apply(Event::Upsert(Object::deployments(parse(json!({
            "metadata": meta(ns, "web", json!({"app": "a"})),
            "spec": {"replicas": 2, "selector": {"matchLabels": {"app": "a"}},
                     "template": {"metadata": {"labels": {"app": "a"}}, "spec": pod_spec(0)}},
        }))))));
        let policy = json!({"podSelector": {}, "policyTypes": ["Ingress"],
            "ingress": [{"from": [{"namespaceSelector": {"matchLabels": {"team": "blue"}}}]}]});
        pending.merge(engine.apply(Event::Upsert(Object::network_policies(parse(
            json!({"metadata": meta(ns, "np", json!({})), "spec": policy}),
        )))));
    }
    pending.merge(
        engine.apply(Event::Upsert(Object::security_baselines(parse(json!({
            "apiVersion": "security.baseline.dev/v1alpha1", "kind": "SecurityBaseline",
            "metadata": {"name": "sb"},
            "spec": {"namespaceSelector": {}, "network": {"defaultDeny": ["Ingress"]},
                     "podSecurity": {"level": "restricted"}},
        }))))),
    );
    // Settled once, as a shell would after the initial list.
    engine.settle(&pending);
    engine
}

/// Relabelling one namespace evaluates that namespace, and the ones whose NetworkPolicies
/// pick it by label before or after, never the others: the work does not grow with the
/// namespace count.
#[test]
fn a_label_change_on_one_namespace_evaluates_that_namespace_only() {
    for count in [100, 1_000] {
        let mut engine = cluster_of(count);
        let baseline = ResourceKey {
            kind: ResourceKind::SecurityBaseline,
            name: "sb".into(),
        };
        assert_eq!(engine.kept_namespaces("sb").len(), count);
        let before = engine.counters().namespace_evaluations;
        let relabel = |labels: Value| {
            Event::Upsert(Object::namespaces(parse(
                json!({"metadata": {"name": "ns-0001", "labels": labels}}),
            )))
        };
        let dirty = engine.apply_and_settle(relabel(json!({"env": "staging"})));
        assert_eq!(dirty.namespaces, BTreeSet::from(["ns-0001".to_string()]));
        assert_eq!(
            engine.counters().namespace_evaluations - before,
            1,
            "{count}"
        );
        // Labelled so that every namespace's NetworkPolicy picks it: those namespaces are
        // judged again (which sources they admit changed), and nothing else.
        let before = engine.counters().namespace_evaluations;
        let dirty = engine.apply_and_settle(relabel(json!({"team": "blue"})));
        assert_eq!(dirty.namespaces.len(), count);
        assert_eq!(
            engine.counters().namespace_evaluations - before,
            count as u64
        );
        // Leaving the selection is pruned, and the aggregate equals the whole one.
        let before = engine.counters().namespace_evaluations;
        engine.apply_and_settle(Event::Upsert(Object::namespaces(parse(json!({
            "metadata": {"name": "ns-0002", "labels": {"env": "production"}},
            "status": {"phase": "Terminating"},
        })))));
        assert_eq!(engine.counters().namespace_evaluations - before, 0);
        assert_eq!(engine.kept_namespaces("sb").len(), count - 1);
        let snapshot = engine.snapshot();
        let expected = from_scratch(&snapshot);
        assert_eq!(
            engine.evaluation(&baseline, now()).as_ref(),
            expected.get(&baseline)
        );
    }
}

/// A BackupPolicy over every namespace of [`cluster_of`], with one namespace freshly backed
/// up: relabelling one namespace judges that namespace's part alone; a Velero object judges
/// the namespaces it names (every namespace when it names all, or failed); the backup turning stale judges the namespace it holds; and each time
/// the evaluation equals a from-scratch one at that instant.
#[test]
fn a_backup_policy_judges_the_namespaces_that_changed() {
    let count = 200;
    let mut engine = cluster_of(count);
    let hours = |h: i64| {
        now()
            .checked_add(jiff::SignedDuration::from_hours(h))
            .unwrap()
    };
    engine.apply(Event::Upsert(Object::backup_policies(
        parse::<BackupPolicy>(json!({
            "apiVersion": "security.baseline.dev/v1alpha1", "kind": "BackupPolicy",
            "metadata": {"name": "bp", "uid": "uid-bp"},
            "spec": {"mode": "Audit", "namespaceSelector": {}, "rpo": "24h"},
        })),
    )));
    engine.apply(Event::Upsert(Object::velero_backups(parse(json!({
        "apiVersion": "velero.io/v1", "kind": "Backup",
        "metadata": meta("velero", "fresh", json!({})),
        "spec": {"includedNamespaces": ["ns-0003"]},
        "status": {"phase": "Completed", "startTimestamp": hours(-2).to_string(),
                   "completionTimestamp": hours(-1).to_string()},
    })))));
    let check = |engine: &mut Engine, at: jiff::Timestamp, judged: u64, what: &str| {
        let before = engine.counters().backup_parts;
        let got = engine.backup_policy("bp", None, at).expect("the policy");
        assert_eq!(engine.counters().backup_parts - before, judged, "{what}");
        let whole = engine.snapshot();
        let bp = &whole.custom_resources.backup_policies[0];
        let spec = validate::backup_policy::validate(&bp.spec, at).unwrap();
        assert_eq!(
            got,
            backup::evaluate("bp", &spec, None, &whole, at),
            "{what}"
        );
        got
    };
    let first = check(&mut engine, now(), count as u64, "the first evaluation");
    assert_eq!(first.namespaces.len(), count);
    check(&mut engine, now(), 0, "nothing changed");
    engine.apply(Event::Upsert(Object::namespaces(parse(json!({
        "metadata": {"name": "ns-0001", "labels": {"env": "staging"}},
    })))));
    check(&mut engine, hours(1), 1, "one namespace relabelled");
    // ns-0003's backup completed an hour before `now`: fresh up to 23 hours after it.
    check(&mut engine, hours(23), 0, "the backup still fresh");
    check(&mut engine, hours(24), 1, "the backup turned stale");
    // A stale backup's finding names its age: judged again at every other instant.
    check(&mut engine, hours(24), 0, "the same instant");
    check(&mut engine, hours(30), 1, "an hour later");
    // A Velero object naming its namespaces judges those (here the one it held) ...
    engine.apply(Event::Delete(ObjectKey {
        kind: Kind::velero_backups,
        namespace: Some("velero".into()),
        name: "fresh".into(),
    }));
    check(
        &mut engine,
        hours(30),
        1,
        "a backup of one namespace deleted",
    );
    engine.apply(Event::Upsert(Object::velero_backups(parse(json!({
        "apiVersion": "velero.io/v1", "kind": "Backup",
        "metadata": meta("velero", "two", json!({})),
        "spec": {"includedNamespaces": ["ns-0004", "ns-0005"]},
        "status": {"phase": "Completed", "startTimestamp": hours(29).to_string(),
                   "completionTimestamp": hours(29).to_string()},
    })))));
    check(&mut engine, hours(30), 2, "a backup of two namespaces");
    // ... one naming every namespace, or a failed one (its policy's failed backups are
    // counted in other namespaces' findings), judges every namespace.
    engine.apply(Event::Upsert(Object::velero_backups(parse(json!({
        "apiVersion": "velero.io/v1", "kind": "Backup",
        "metadata": meta("velero", "failed", json!({"security.baseline.dev/backup-policy": "bp"})),
        "spec": {"includedNamespaces": ["ns-0006"]},
        "status": {"phase": "Failed", "startTimestamp": hours(29).to_string()},
    })))));
    check(&mut engine, hours(30), count as u64, "a failed backup");
    // A second failed backup, of another namespace, changes what the first one's namespace
    // says (it counts the policy's failed backups).
    engine.apply(Event::Upsert(Object::velero_backups(parse(json!({
        "apiVersion": "velero.io/v1", "kind": "Backup",
        "metadata": meta("velero", "failed-too", json!({"security.baseline.dev/backup-policy": "bp"})),
        "spec": {"includedNamespaces": ["ns-0007"]},
        "status": {"phase": "Failed", "startTimestamp": hours(29).to_string()},
    })))));
    let got = check(
        &mut engine,
        hours(30),
        count as u64,
        "another failed backup",
    );
    let automated = got
        .controls
        .iter()
        .find(|c| c.id == crate::catalog::ControlId::AutomatedBackup)
        .unwrap();
    assert!(
        automated
            .failed
            .iter()
            .any(|v| v.object.name == "ns-0006" && v.message.contains("2 Failed")),
        "{:?}",
        automated
            .failed
            .iter()
            .map(|v| &v.message)
            .collect::<Vec<_>>()
    );
    // A new Schedule changes the Schedules' intervals every namespace reads ...
    let named = |included: &[&str]| {
        Event::Upsert(Object::velero_schedules(parse(json!({
            "apiVersion": "velero.io/v1", "kind": "Schedule",
            "metadata": meta("velero", "some", json!({})),
            "spec": {"schedule": "0 * * * *", "template": {"includedNamespaces": included}},
        }))))
    };
    engine.apply(named(&["ns-0004", "ns-0005"]));
    check(&mut engine, hours(30), count as u64, "a new Schedule");
    // ... but rewritten with another list (a policy's own Schedule after a namespace joined
    // or left), it judges only the namespaces it added or dropped.
    engine.apply(named(&["ns-0005", "ns-0006"]));
    check(
        &mut engine,
        hours(30),
        2,
        "a Schedule naming other namespaces",
    );
    engine.apply(Event::Upsert(Object::velero_schedules(parse(json!({
        "apiVersion": "velero.io/v1", "kind": "Schedule",
        "metadata": meta("velero", "all", json!({})),
        "spec": {"schedule": "0 * * * *", "template": {"includedNamespaces": ["*"]}},
    })))));
    check(
        &mut engine,
        hours(30),
        count as u64,
        "a Schedule of every namespace",
    );
    engine.apply(Event::Upsert(Object::namespaces(parse(json!({
        "metadata": {"name": "ns-0002"}, "status": {"phase": "Terminating"},
    })))));
    let last = check(&mut engine, hours(30), 0, "a namespace left the selection");
    assert_eq!(last.namespaces.len(), count - 1);
}

#[test]
fn generated_custom_resources_are_valid() {
    let mut runner = proptest::test_runner::TestRunner::default();
    for _ in 0..20 {
        let ei = environment_isolation()
            .new_tree(&mut runner)
            .unwrap()
            .current();
        let Object::environment_isolations(ei) = ei else {
            unreachable!()
        };
        validate::environment_isolation::validate(&ei.spec).expect("valid EI");
        let bp = backup_policy().new_tree(&mut runner).unwrap().current();
        let Object::backup_policies(bp) = bp else {
            unreachable!()
        };
        validate::backup_policy::validate(&bp.spec, now()).expect("valid BP");
        let sb = security_baseline().new_tree(&mut runner).unwrap().current();
        let Object::security_baselines(sb) = sb else {
            unreachable!()
        };
        validate::security_baseline::validate(&sb.spec).expect("valid SB");
    }
}

/// EnvironmentIsolation's findings of the controls that judge one namespace by another
/// (copied Secrets, cross-environment access), per namespace: what a namespace's report and
/// the index-driven dirty sets are about. Cluster-scoped findings (ClusterRoleBindings) go to
/// the cluster report, rendered in every pass, and are left out.
fn crossing_findings(snapshot: &Snapshot) -> BTreeMap<String, BTreeSet<String>> {
    use crate::catalog::ControlId;
    let mut out: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for ei in &snapshot.custom_resources.environment_isolations {
        let Ok(spec) = validate::environment_isolation::validate(&ei.spec) else {
            continue;
        };
        let evaluation = isolation::evaluate("ei", &spec, snapshot, now());
        for control in evaluation.controls.iter().filter(|c| {
            matches!(
                c.id,
                ControlId::ProductionDataRestricted | ControlId::CrossEnvironmentAccess
            )
        }) {
            let waived = control.waived.iter().map(|w| (&w.violation, true));
            for (violation, waived) in control.failed.iter().map(|v| (v, false)).chain(waived) {
                let Some(ns) = &violation.object.namespace else {
                    continue;
                };
                out.entry(ns.clone()).or_default().insert(format!(
                    "{} {waived} {} {:?}",
                    control.id, violation.message, violation.detail
                ));
            }
        }
    }
    out
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(128))]

    /// The global indexes name every namespace an event changes EnvironmentIsolation's
    /// cross-namespace findings in: after any history, a Secret's value changing, a namespace
    /// changing environment, a RoleBinding or a role changing changes the copied-Secret and
    /// cross-environment-access findings only in namespaces the engine says it dirties. (A
    /// change of a custom resource is a whole pass, see `controller::scope`.)
    #[test]
    fn an_event_changes_isolation_findings_only_in_the_namespaces_it_dirties(
        isolation in environment_isolation(),
        rest in prop::collection::vec(step(), 1..60),
    ) {
        let mut engine = engine();
        let mut model: BTreeMap<ObjectKey, Object> = BTreeMap::new();
        model.insert(isolation.key(), isolation.clone());
        engine.apply_and_settle(Event::Upsert(isolation));
        let mut before = crossing_findings(&oracle(&model));
        for (event, _) in rest {
            let custom = match &event {
                Event::Upsert(o) => o.key(),
                Event::Delete(key) => key.clone(),
            };
            if matches!(
                custom.kind,
                Kind::environment_isolations | Kind::security_baselines | Kind::backup_policies
            ) {
                continue;
            }
            match &event {
                Event::Upsert(object) => {
                    model.insert(object.key(), object.clone());
                }
                Event::Delete(key) => {
                    model.remove(key);
                }
            }
            let dirty = engine.apply_and_settle(event.clone());
            let after = crossing_findings(&oracle(&model));
            let changed: BTreeSet<&String> = before
                .keys()
                .chain(after.keys())
                .filter(|ns| before.get(*ns) != after.get(*ns))
                .collect();
            for ns in changed {
                prop_assert!(
                    dirty.namespaces.contains(ns) || dirty.isolations.contains(ns),
                    "{:?} changed findings in {} but dirtied {:?} and {:?}",
                    event, ns, dirty.namespaces, dirty.isolations
                );
            }
            before = after;
        }
    }
}

/// `object` with fields no control reads added, as real clusters fill them in: environment,
/// command, scheduling, unrelated and last-applied annotations, and status details. The same
/// additions go to pods and to templates, so a pod that ran its template still does.
fn with_unread_fields(object: &Object) -> Object {
    fn noisy_meta(meta: &mut ObjectMeta) {
        let annotations = meta.annotations.get_or_insert_with(Default::default);
        annotations.insert("checksum/config".into(), "abc".into());
        annotations.insert(
            "kubectl.kubernetes.io/last-applied-configuration".into(),
            "{\"a\":1}".into(),
        );
    }
    fn noisy_spec(spec: &mut PodSpec) {
        spec.tolerations = Some(vec![Default::default()]);
        spec.dns_policy = Some("ClusterFirst".into());
        spec.termination_grace_period_seconds = Some(30);
        for c in &mut spec.containers {
            c.env = Some(vec![k8s_openapi::api::core::v1::EnvVar {
                name: "MODE".into(),
                value: Some("x".into()),
                ..Default::default()
            }]);
            c.command = Some(vec!["/app".into()]);
            c.termination_message_path = Some("/dev/termination-log".into());
        }
    }
    fn noisy_template(t: &mut k8s_openapi::api::core::v1::PodTemplateSpec) {
        noisy_meta(t.metadata.get_or_insert_with(Default::default));
        if let Some(spec) = t.spec.as_mut() {
            noisy_spec(spec);
        }
    }
    match object {
        Object::pods(p) => {
            let mut p = (**p).clone();
            noisy_meta(&mut p.metadata);
            if let Some(spec) = p.spec.as_mut() {
                noisy_spec(spec);
            }
            let status = p.status.get_or_insert_with(Default::default);
            status.conditions = Some(vec![k8s_openapi::api::core::v1::PodCondition {
                type_: "PodScheduled".into(),
                status: "False".into(),
                ..Default::default()
            }]);
            status.qos_class = Some("Burstable".into());
            Object::pods(Arc::new(p))
        }
        Object::deployments(d) => {
            let mut d = (**d).clone();
            noisy_meta(&mut d.metadata);
            noisy_template(&mut d.spec.template);
            d.status
                .get_or_insert_with(Default::default)
                .observed_generation = Some(3);
            Object::deployments(Arc::new(d))
        }
        Object::ingresses(i) => {
            let mut i = (**i).clone();
            noisy_meta(&mut i.metadata);
            i.status = Some(Default::default());
            Object::ingresses(Arc::new(i))
        }
        Object::services(s) => {
            let mut s = (**s).clone();
            noisy_meta(&mut s.metadata);
            s.status = Some(Default::default());
            Object::services(Arc::new(s))
        }
        other => other.clone(),
    }
}

/// `object` as the operator's stores keep it ([`crate::projection`]).
fn projected(object: &Object) -> Object {
    use crate::projection::Projected;
    fn reduce<T: Clone + Projected>(o: &Arc<T>) -> Arc<T> {
        let mut o = (**o).clone();
        o.project();
        Arc::new(o)
    }
    macro_rules! reduce_watched {
        ($($field:ident: $ty:ty,)*) => {
            match object {
                $(Object::$field(o) => Object::$field(reduce(o)),)*
                other => other.clone(),
            }
        };
    }
    crate::snapshot::watched_kinds!(reduce_watched)
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    /// What the stores keep of an object evaluates as the whole object does: for any
    /// history, the final state with fields no control reads added everywhere evaluates the
    /// same (findings, counts, messages) before and after [`crate::projection`] drops them.
    #[test]
    fn projected_objects_evaluate_as_whole_ones_do(
        start in dense_start(),
        rest in prop::collection::vec(step(), 1..40),
    ) {
        let mut model: BTreeMap<ObjectKey, Object> = BTreeMap::new();
        for (event, _) in start.iter().chain(&rest) {
            match event {
                Event::Upsert(object) => {
                    model.insert(object.key(), with_unread_fields(object));
                }
                Event::Delete(key) => {
                    model.remove(key);
                }
            }
        }
        let reduced: BTreeMap<ObjectKey, Object> =
            model.iter().map(|(k, o)| (k.clone(), projected(o))).collect();
        let whole = from_scratch(&oracle(&model));
        let kept = from_scratch(&oracle(&reduced));
        prop_assert_eq!(whole.len(), kept.len());
        for (key, expected) in &whole {
            prop_assert_eq!(Some(expected), kept.get(key), "{:?}", key);
        }
    }
}

/// A cluster whose policies admit their own environment (what the operator writes): moving a
/// namespace between environments dirties that namespace alone, whichever policies pick it
/// before and after, and so does creating one; an EnvironmentIsolation's status write
/// dirties nothing. Counted, at two sizes.
#[test]
fn a_namespace_moving_between_environments_its_pickers_admit_dirties_itself_only() {
    for count in [100, 1_000] {
        let mut engine = engine();
        let mut pending = Dirty::default();
        let isolation = |status: Value| {
            Object::environment_isolations(parse::<EnvironmentIsolation>(json!({
                "apiVersion": "security.baseline.dev/v1alpha1", "kind": "EnvironmentIsolation",
                "metadata": {"name": "ei", "uid": "uid-ei"},
                "spec": {"environments": [
                    {"name": "production", "production": true,
                     "namespaceSelector": {"matchLabels": {"env": "production"}}},
                    {"name": "development",
                     "namespaceSelector": {"matchLabels": {"env": "development"}}}]},
                "status": status,
            })))
        };
        pending.merge(engine.apply(Event::Upsert(isolation(json!({})))));
        for i in 0..count {
            let ns = format!("ns-{i:04}");
            let env = ["production", "development"][i % 2];
            pending.merge(engine.apply(Event::Upsert(Object::namespaces(parse(json!({
                "metadata": {"name": ns, "labels": {"env": env}},
            }))))));
            let policy = json!({"podSelector": {}, "policyTypes": ["Ingress"],
                "ingress": [{"from": [{"namespaceSelector": {"matchLabels": {"env": env}}}]}]});
            pending.merge(engine.apply(Event::Upsert(Object::network_policies(parse(
                json!({"metadata": meta(&ns, "own-environment", json!({})), "spec": policy}),
            )))));
        }
        pending.merge(
            engine.apply(Event::Upsert(Object::security_baselines(parse(json!({
                "apiVersion": "security.baseline.dev/v1alpha1", "kind": "SecurityBaseline",
                "metadata": {"name": "sb"},
                "spec": {"namespaceSelector": {}, "network": {"defaultDeny": ["Ingress"]}},
            }))))),
        );
        engine.settle(&pending);
        let only = |name: &str| BTreeSet::from([name.to_string()]);
        let moved = engine.apply_and_settle(Event::Upsert(Object::namespaces(parse(json!({
            "metadata": {"name": "ns-0001", "labels": {"env": "production"}},
        })))));
        assert_eq!(moved.namespaces, only("ns-0001"), "{count}");
        let created = engine.apply_and_settle(Event::Upsert(Object::namespaces(parse(json!({
            "metadata": {"name": "new", "labels": {"env": "production"}},
        })))));
        assert_eq!(created.namespaces, only("new"), "{count}");
        // A label no peer selector reads (the Pod Security labels the operator writes), its
        // environment unchanged: it reaches no other namespace.
        let labelled = engine.apply_and_settle(Event::Upsert(Object::namespaces(parse(json!({
            "metadata": {"name": "ns-0002", "labels": {"env": "production",
                "pod-security.kubernetes.io/enforce": "restricted"}},
        })))));
        assert_eq!(labelled.namespaces, only("ns-0002"), "{count}");
        // ns-0001's policy still admits development, which is no longer its environment: a
        // development namespace created now is outside there, and only there.
        let outside = engine.apply_and_settle(Event::Upsert(Object::namespaces(parse(json!({
            "metadata": {"name": "newer", "labels": {"env": "development"}},
        })))));
        assert_eq!(
            outside.namespaces,
            BTreeSet::from(["newer".to_string(), "ns-0001".to_string()]),
            "{count}"
        );
        let status =
            engine.apply_and_settle(Event::Upsert(isolation(json!({"observedGeneration": 2}))));
        assert!(status.namespaces.is_empty(), "{count}: {status:?}");
        // And the result is the whole evaluation's.
        let baseline = ResourceKey {
            kind: ResourceKind::SecurityBaseline,
            name: "sb".into(),
        };
        let expected = from_scratch(&engine.snapshot());
        assert_eq!(
            engine.evaluation(&baseline, now()).as_ref(),
            expected.get(&baseline)
        );
    }
}

#[test]
fn a_namespace_label_is_read_while_some_selector_names_its_key() {
    let mut engine = engine();
    let keys = |labels: &[&str], annotations: &[&str]| ChangedKeys {
        labels: labels.iter().map(|k| k.to_string()).collect(),
        annotations: annotations.iter().map(|k| k.to_string()).collect(),
    };
    let psa = keys(
        &[
            "pod-security.kubernetes.io/enforce",
            "security.baseline.dev/pod-security-from",
        ],
        &["security.baseline.dev/pod-security-prior"],
    );
    assert!(!engine.selectors_read(&psa));
    // The restore-test sandbox markers are always read.
    assert!(engine.selectors_read(&keys(&["security.baseline.dev/restore-test"], &[])));
    assert!(engine.selectors_read(&keys(
        &[],
        &["security.baseline.dev/restore-test-policy-uid"]
    )));
    // An environment selector, and an exemption's selector, of an isolation.
    let isolation = Object::environment_isolations(parse::<EnvironmentIsolation>(json!({
        "apiVersion": "security.baseline.dev/v1alpha1", "kind": "EnvironmentIsolation",
        "metadata": {"name": "ei", "uid": "uid-ei"},
        "spec": {
            "environments": [{"name": "production", "production": true,
                "namespaceSelector": {"matchExpressions": [
                    {"key": "env", "operator": "In", "values": ["production"]}]}}],
            "exemptions": [{"controls": ["environment-segregation"],
                "selector": {"matchLabels": {"pod-security.kubernetes.io/enforce": "privileged"}},
                "reason": "r", "approvedBy": "a", "expires": "2099-01-01T00:00:00Z"}],
        },
    })));
    engine.apply(Event::Upsert(isolation.clone()));
    assert!(engine.selectors_read(&keys(&["env"], &[])));
    assert!(engine.selectors_read(&psa), "an exemption selects by it");
    engine.apply(Event::Delete(isolation.key()));
    assert!(!engine.selectors_read(&psa) && !engine.selectors_read(&keys(&["env"], &[])));
    // A NetworkPolicy's peer selector, while the policy stands.
    let policy = Object::network_policies(parse(json!({
        "metadata": meta("shop", "p", json!({})),
        "spec": {"podSelector": {}, "ingress": [{"from": [{"namespaceSelector":
            {"matchLabels": {"pod-security.kubernetes.io/enforce": "restricted"}}}]}]},
    })));
    engine.apply(Event::Upsert(policy.clone()));
    assert!(engine.selectors_read(&psa));
    engine.apply(Event::Delete(policy.key()));
    assert!(!engine.selectors_read(&psa));
}

#[test]
fn a_write_of_what_no_control_reads_dirties_nothing() {
    let mut engine = cluster_of(3);
    let deployment = |version: &str, ready: i32| {
        Object::deployments(parse(json!({
            "metadata": {"namespace": "ns-0001", "name": "web", "uid": "web",
                         "resourceVersion": version},
            "spec": {"selector": {"matchLabels": {"app": "web"}},
                     "template": {"metadata": {"labels": {"app": "web"}},
                                  "spec": {"containers": [{"name": "web", "image": "web:1"}]}}},
            "status": {"readyReplicas": ready},
        })))
    };
    let first = engine.upsert(deployment("1", 0)).expect("a new object");
    assert!(first.namespaces.contains("ns-0001"), "{first:?}");
    // The controller-manager rewrites the status with only what the projection drops (its
    // conditions): the same object but for its resource version.
    assert!(engine.upsert(deployment("2", 0)).is_none());
    // The partition holds the new version all the same.
    let whole = engine.snapshot();
    let held = whole
        .deployments
        .iter()
        .find(|d| d.metadata.namespace.as_deref() == Some("ns-0001"))
        .and_then(|d| d.metadata.resource_version.as_deref());
    assert_eq!(held, Some("2"));
    // What availability reads (ready replicas) is a change.
    let ready = engine.upsert(deployment("3", 1)).expect("a change");
    assert!(ready.namespaces.contains("ns-0001"), "{ready:?}");
    // A Namespace's labels are read, its resource version is not.
    let namespace = |version: &str, env: &str| {
        Object::namespaces(parse(json!({
            "metadata": {"name": "ns-0002", "resourceVersion": version,
                         "labels": {"env": env, "kubernetes.io/metadata.name": "ns-0002"}},
        })))
    };
    engine.upsert(namespace("10", "production"));
    assert!(engine.upsert(namespace("11", "production")).is_none());
    assert!(engine.upsert(namespace("12", "staging")).is_some());
}
