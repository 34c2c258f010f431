//! `encryption-in-transit` (Ingress TLS) and `encryption-at-rest` (encrypted StorageClasses).

use super::{ControlOutcome, ObjectRef, Violation};
use crate::api::security_baseline::AtRestSpec;
use crate::catalog::ControlId;
use crate::snapshot::Snapshot;
use crate::vocabulary::storage::{default_class_name, encrypting_parameter};
use k8s_openapi::api::networking::v1::Ingress;

pub fn in_transit(require_tls: bool, namespaces: &[String], snapshot: &Snapshot) -> ControlOutcome {
    if !require_tls {
        return ControlOutcome::not_applicable(ControlId::EncryptionInTransit);
    }
    let ingresses: Vec<&Ingress> = snapshot
        .ingresses
        .iter()
        .map(AsRef::as_ref)
        .filter(|i| in_scope(i.metadata.namespace.as_deref(), namespaces))
        .collect();
    let violations = ingresses
        .iter()
        .flat_map(|i| ingress_violations(i))
        .collect();
    ControlOutcome::checked(ControlId::EncryptionInTransit, ingresses.len(), violations)
}

pub fn ingress_violations(ingress: &Ingress) -> Vec<Violation> {
    let object = ObjectRef::of("Ingress", &ingress.metadata);
    let Some(spec) = &ingress.spec else {
        return Vec::new();
    };
    let tls = spec.tls.as_deref().unwrap_or_default();
    let mut out = Vec::new();
    for rule in spec.rules.iter().flatten() {
        match &rule.host {
            Some(host) => {
                let covered = tls.iter().any(|t| {
                    t.hosts
                        .iter()
                        .flatten()
                        .any(|h| h == host || wildcard_covers(h, host))
                });
                if !covered {
                    out.push(Violation::new(
                        object.clone(),
                        format!("Ingress host `{host}` is served without TLS"),
                    ));
                }
            }
            None if tls.is_empty() => out.push(Violation::new(
                object.clone(),
                "Ingress rule without a host is served without TLS",
            )),
            None => {}
        }
    }
    if spec.rules.as_ref().is_none_or(Vec::is_empty)
        && spec.default_backend.is_some()
        && tls.is_empty()
    {
        out.push(Violation::new(
            object,
            "Ingress default backend is served without TLS",
        ));
    }
    out
}

/// Whether a TLS host `pattern` such as `*.example.com` covers `host`: the wildcard stands for
/// exactly one leading label, so it covers `a.example.com` but neither `example.com` nor
/// `a.b.example.com`. Admission renders the same test in CEL
/// (`desired::admission::TLS_HOST_COVERS`).
pub fn wildcard_covers(pattern: &str, host: &str) -> bool {
    pattern
        .strip_prefix("*.")
        .is_some_and(|suffix| host.split_once('.').is_some_and(|(_, rest)| rest == suffix))
}

pub fn at_rest(
    spec: Option<&AtRestSpec>,
    namespaces: &[String],
    snapshot: &Snapshot,
) -> ControlOutcome {
    let Some(spec) = spec else {
        return ControlOutcome::not_applicable(ControlId::EncryptionAtRest);
    };
    let default_class = default_class_name(snapshot);
    let mut checked = 0;
    let mut violations = Vec::new();
    for pvc in snapshot
        .persistent_volume_claims
        .iter()
        .filter(|p| in_scope(p.metadata.namespace.as_deref(), namespaces))
    {
        checked += 1;
        let object = ObjectRef::of("PersistentVolumeClaim", &pvc.metadata);
        let requested = pvc.spec.as_ref().and_then(|s| s.storage_class_name.clone());
        let class_name = requested.clone().or_else(|| default_class.clone());
        let Some(class_name) = class_name else {
            violations.push(Violation::new(
                object,
                "PersistentVolumeClaim names no StorageClass and the cluster has no default",
            ));
            continue;
        };
        let class = snapshot
            .storage_classes
            .iter()
            .find(|c| c.metadata.name.as_deref() == Some(class_name.as_str()));
        let encrypted = spec.encrypted_storage_classes.contains(&class_name)
            || class.is_some_and(|c| encrypting_parameter(spec, c));
        if !encrypted {
            let why = if class.is_none() && !spec.encrypted_storage_classes.contains(&class_name) {
                "which does not exist"
            } else {
                "which is not an encrypted class"
            };
            violations.push(Violation::new(
                object,
                format!("PersistentVolumeClaim uses StorageClass `{class_name}` {why}"),
            ));
        }
    }
    ControlOutcome::checked(ControlId::EncryptionAtRest, checked, violations)
}

pub fn in_scope(namespace: Option<&str>, namespaces: &[String]) -> bool {
    namespace.is_some_and(|ns| namespaces.binary_search_by(|n| n.as_str().cmp(ns)).is_ok())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wildcard_tls_host_covers_exactly_one_leading_label() {
        assert!(wildcard_covers("*.example.com", "a.example.com"));
        assert!(!wildcard_covers("*.example.com", "example.com"));
        assert!(!wildcard_covers("*.example.com", "a.b.example.com"));
        assert!(!wildcard_covers("*.example.com", "aexample.com"));
        assert!(!wildcard_covers("*.example.com", "a.example.com.evil.io"));
        assert!(!wildcard_covers("a.example.com", "a.example.com"));
    }

    fn ingress(hosts: &[&str], tls_hosts: &[&str]) -> Ingress {
        serde_json::from_value(serde_json::json!({
            "metadata": {"name": "i", "namespace": "ns"},
            "spec": {
                "rules": hosts.iter().map(|h| serde_json::json!({"host": h})).collect::<Vec<_>>(),
                "tls": [{"hosts": tls_hosts}],
            },
        }))
        .unwrap()
    }

    #[test]
    fn ingress_hosts_are_judged_against_wildcard_tls_hosts() {
        let wildcard = ["*.example.com"];
        assert!(ingress_violations(&ingress(&["a.example.com"], &wildcard)).is_empty());
        assert!(ingress_violations(&ingress(&["*.example.com"], &wildcard)).is_empty());
        for uncovered in ["example.com", "a.b.example.com"] {
            let found = ingress_violations(&ingress(&[uncovered], &wildcard));
            assert_eq!(found.len(), 1, "{uncovered}");
            assert!(found[0].message.contains(uncovered));
        }
    }
}
