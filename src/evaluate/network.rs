//! `restricted-ports`: default-deny in every selected namespace, only listed ports open (the
//! ingress judgement of the policies' union is in [`super::open_ports`]).

use super::open_ports::{Environments, listed, open_ports, protocol_of};
use super::{ControlOutcome, ObjectRef, Violation};
use crate::api::security_baseline::{NetworkSpec, TrafficDirection};
use crate::catalog::ControlId;
use crate::snapshot::Snapshot;
use k8s_openapi::api::networking::v1::{NetworkPolicy, NetworkPolicyPeer};
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;
use std::collections::BTreeMap;

pub fn restricted_ports(
    spec: Option<&NetworkSpec>,
    namespaces: &[String],
    snapshot: &Snapshot,
) -> ControlOutcome {
    let Some(spec) = spec else {
        return ControlOutcome::not_applicable(ControlId::RestrictedPorts);
    };
    let mut violations = Vec::new();
    let mut checked = 0;
    // Resolved only when a policy is judged: a resource-level call (no namespaces) over the
    // cluster-scoped part would otherwise place every Namespace in its environments per fold.
    let environments = std::cell::OnceCell::new();
    for ns in namespaces {
        checked += 1;
        let policies: Vec<&NetworkPolicy> = snapshot
            .network_policies
            .iter()
            .map(AsRef::as_ref)
            .filter(|p| p.metadata.namespace.as_deref() == Some(ns))
            .collect();
        let ns_ref = ObjectRef::namespace(
            ns,
            snapshot
                .namespace_named(ns)
                .and_then(|n| n.metadata.labels.as_ref())
                .unwrap_or(&BTreeMap::new()),
        );
        for direction in [TrafficDirection::Ingress, TrafficDirection::Egress] {
            if spec.denies(direction) && !policies.iter().any(|p| is_default_deny(p, direction)) {
                violations.push(Violation::new(
                    ns_ref.clone(),
                    format!("namespace `{ns}` has no default-deny {direction:?} NetworkPolicy"),
                ));
            }
        }
        // NetworkPolicies are judged (open ports, open egress), so they are counted.
        checked += policies.len();
        for policy in &policies {
            violations.extend(open_ports(
                policy,
                &spec.allowed_ingress_ports,
                environments.get_or_init(|| Environments::of(snapshot)),
                snapshot,
            ));
            if spec.denies(TrafficDirection::Egress) {
                violations.extend(open_egress(policy, spec));
            }
        }
        for service in snapshot
            .services
            .iter()
            .filter(|s| s.metadata.namespace.as_deref() == Some(ns))
        {
            checked += 1;
            let Some(svc) = &service.spec else { continue };
            let exposed = matches!(svc.type_.as_deref(), Some("NodePort" | "LoadBalancer"));
            if !exposed {
                continue;
            }
            for port in svc.ports.iter().flatten() {
                let protocol = protocol_of(port.protocol.as_deref());
                if !listed(&spec.allowed_ingress_ports, port.port, protocol) {
                    violations.push(Violation::new(
                        ObjectRef::of("Service", &service.metadata),
                        format!(
                            "{} Service exposes port {}/{} which the baseline does not list",
                            svc.type_.as_deref().unwrap_or_default(),
                            port.port,
                            protocol.as_str()
                        ),
                    ));
                }
            }
        }
    }
    ControlOutcome::checked(ControlId::RestrictedPorts, checked, violations)
}

/// A policy selecting every pod that names `direction` and allows nothing in it.
pub fn is_default_deny(policy: &NetworkPolicy, direction: TrafficDirection) -> bool {
    let Some(spec) = &policy.spec else {
        return false;
    };
    let selects_all = spec.pod_selector.as_ref().is_none_or(|s| {
        s.match_labels.as_ref().is_none_or(BTreeMap::is_empty)
            && s.match_expressions.as_ref().is_none_or(Vec::is_empty)
    });
    let types = spec
        .policy_types
        .clone()
        .unwrap_or_else(|| vec!["Ingress".into()]);
    let name = match direction {
        TrafficDirection::Ingress => "Ingress",
        TrafficDirection::Egress => "Egress",
    };
    let no_rules = match direction {
        TrafficDirection::Ingress => spec.ingress.as_ref().is_none_or(Vec::is_empty),
        TrafficDirection::Egress => spec.egress.as_ref().is_none_or(Vec::is_empty),
    };
    selects_all && types.iter().any(|t| t == name) && no_rules
}

/// Under an egress default-deny, egress rules that reach every destination: on all ports, or
/// on any port (port 53 to anywhere included: `allowDNS` opens it to the cluster DNS only).
/// A baseline that itself lists an all-destinations `allowedEgress` CIDR asked for it.
fn open_egress(policy: &NetworkPolicy, spec: &NetworkSpec) -> Vec<Violation> {
    let mut out = Vec::new();
    let declared_everywhere = spec
        .allowed_egress
        .iter()
        .any(|r| r.cidr == "0.0.0.0/0" || r.cidr == "::/0");
    let Some(policy_spec) = &policy.spec else {
        return out;
    };
    if declared_everywhere {
        return out;
    }
    for rule in policy_spec.egress.iter().flatten() {
        if !admits_everyone(rule.to.as_deref()) {
            continue;
        }
        let object = ObjectRef::of("NetworkPolicy", &policy.metadata);
        match rule.ports.as_deref() {
            None | Some([]) => out.push(Violation::new(
                object,
                "NetworkPolicy allows egress to every destination on all ports, although the baseline denies egress",
            )),
            Some(ports) => {
                for port in ports {
                    let protocol = protocol_of(port.protocol.as_deref()).as_str();
                    let which = match &port.port {
                        None => format!("every {protocol} port"),
                        Some(IntOrString::Int(n)) => match port.end_port {
                            Some(end) if end > *n => format!("ports {n}-{end}/{protocol}"),
                            _ => format!("port {n}/{protocol}"),
                        },
                        Some(IntOrString::String(name)) => format!("named port `{name}`"),
                    };
                    let dns = matches!(port.port, Some(IntOrString::Int(53)));
                    out.push(Violation::new(
                        object.clone(),
                        if dns {
                            format!("NetworkPolicy allows egress to every destination on {which}, although the baseline denies egress (allowDNS opens port 53 to the cluster DNS only)")
                        } else {
                            format!("NetworkPolicy allows egress to every destination on {which}, although the baseline denies egress")
                        },
                    ));
                }
            }
        }
    }
    out
}

fn admits_everyone(from: Option<&[NetworkPolicyPeer]>) -> bool {
    match from {
        None | Some([]) => true,
        Some(peers) => peers.iter().any(|peer| {
            let any_ns = peer.namespace_selector.as_ref().is_some_and(|s| {
                s.match_labels.as_ref().is_none_or(BTreeMap::is_empty)
                    && s.match_expressions.as_ref().is_none_or(Vec::is_empty)
            });
            let any_ip = peer.ip_block.as_ref().is_some_and(|b| {
                (b.cidr == "0.0.0.0/0" || b.cidr == "::/0")
                    && b.except.as_ref().is_none_or(Vec::is_empty)
            });
            let pods_any = peer.pod_selector.as_ref().is_none_or(|s| {
                s.match_labels.as_ref().is_none_or(BTreeMap::is_empty)
                    && s.match_expressions.as_ref().is_none_or(Vec::is_empty)
            });
            (any_ns && pods_any) || any_ip
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::PortSpec;
    use crate::api::security_baseline::EgressRule;
    use k8s_openapi::api::core::v1::Namespace;
    use std::sync::Arc;

    fn spec(deny: &[TrafficDirection]) -> NetworkSpec {
        NetworkSpec {
            default_deny: Some(deny.to_vec()),
            allow_dns: true,
            allowed_ingress_ports: vec![PortSpec {
                port: 443,
                protocol: None,
            }],
            allowed_egress: vec![],
        }
    }

    fn policy(name: &str, body: serde_json::Value) -> Arc<NetworkPolicy> {
        let mut value = serde_json::json!({
            "metadata": {"name": name, "namespace": "shop"},
            "spec": body,
        });
        value["apiVersion"] = "networking.k8s.io/v1".into();
        value["kind"] = "NetworkPolicy".into();
        Arc::new(serde_json::from_value(value).unwrap())
    }

    /// The policies the operator itself writes for `spec` in `shop`.
    fn owned(spec: &NetworkSpec) -> Vec<Arc<NetworkPolicy>> {
        let owner = crate::desired::Owner {
            api_version: "security.baseline.dev/v1alpha1".into(),
            kind: "SecurityBaseline".into(),
            name: "prod".into(),
            uid: "u".into(),
        };
        crate::desired::network_policy::restricted_ports(
            &owner,
            spec,
            &["shop".into()],
            &Snapshot::default(),
        )
        .into_iter()
        .map(|o| Arc::new(serde_json::from_value(o.json()).unwrap()))
        .collect()
    }

    fn snapshot(policies: Vec<Arc<NetworkPolicy>>) -> Snapshot {
        Snapshot {
            namespaces: vec![Arc::new(Namespace {
                metadata: kube::api::ObjectMeta {
                    name: Some("shop".into()),
                    ..Default::default()
                },
                ..Default::default()
            })],
            network_policies: policies,
            ..Default::default()
        }
    }

    fn messages(spec: &NetworkSpec, snapshot: &Snapshot) -> Vec<String> {
        restricted_ports(Some(spec), &["shop".into()], snapshot)
            .violations
            .into_iter()
            .map(|v| format!("{} {}: {}", v.object.kind, v.object.name, v.message))
            .collect()
    }

    #[test]
    fn the_operators_own_policies_pass() {
        let both = spec(&[TrafficDirection::Ingress, TrafficDirection::Egress]);
        assert_eq!(
            messages(&both, &snapshot(owned(&both))),
            Vec::<String>::new()
        );
    }

    #[test]
    fn dns_egress_to_every_destination_is_a_finding_under_egress_deny() {
        let both = spec(&[TrafficDirection::Ingress, TrafficDirection::Egress]);
        let mut policies = owned(&both);
        // What allowDNS wrote before it was restricted to the cluster DNS.
        policies.push(policy(
            "dns-anywhere",
            serde_json::json!({"podSelector": {}, "policyTypes": ["Egress"], "egress": [
                {"ports": [{"port": 53, "protocol": "UDP"}]},
            ]}),
        ));
        policies.push(policy(
            "all-out",
            serde_json::json!({"podSelector": {}, "policyTypes": ["Egress"], "egress": [
                {"to": [{"ipBlock": {"cidr": "0.0.0.0/0"}}]},
            ]}),
        ));
        let found = messages(&both, &snapshot(policies.clone()));
        assert_eq!(found.len(), 2, "{found:?}");
        assert!(found.iter().any(|m| m.starts_with("NetworkPolicy dns-anywhere: NetworkPolicy allows egress to every destination on port 53/UDP")), "{found:?}");
        assert!(found.iter().any(|m| m.starts_with("NetworkPolicy all-out: NetworkPolicy allows egress to every destination on all ports")), "{found:?}");
        // Egress not denied by the baseline: not its business.
        let ingress_only = spec(&[TrafficDirection::Ingress]);
        let found = messages(&ingress_only, &snapshot(policies.clone()));
        assert!(found.iter().all(|m| !m.contains("egress")), "{found:?}");
        // The baseline itself allows every destination: asked for.
        let mut open = both.clone();
        open.allowed_egress = vec![EgressRule {
            cidr: "0.0.0.0/0".into(),
            ports: vec![],
        }];
        let found = messages(&open, &snapshot(policies));
        assert!(found.iter().all(|m| !m.contains("egress")), "{found:?}");
    }

    #[test]
    fn ingress_open_to_all_sources_on_all_ports_is_a_finding() {
        let ingress = spec(&[TrafficDirection::Ingress]);
        let mut policies = owned(&ingress);
        policies.push(policy(
            "open",
            serde_json::json!({"podSelector": {}, "ingress": [{}]}),
        ));
        let found = messages(&ingress, &snapshot(policies));
        assert_eq!(
            found,
            ["NetworkPolicy open: NetworkPolicy admits all sources on all ports"]
        );
    }
}
