//! `restricted-ports`: default-deny in every selected namespace, only listed ports open.

use super::{ControlOutcome, ObjectRef, Violation};
use crate::api::security_baseline::{NetworkSpec, TrafficDirection};
use crate::api::{PortSpec, Protocol};
use crate::catalog::ControlId;
use crate::snapshot::Snapshot;
use k8s_openapi::api::networking::v1::{NetworkPolicy, NetworkPolicyPeer, NetworkPolicyPort};
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
    let labels_of: BTreeMap<&str, &BTreeMap<String, String>> =
        snapshot.namespace_labels().collect();
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
            labels_of
                .get(ns.as_str())
                .copied()
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
        for policy in &policies {
            violations.extend(open_ports(policy, &spec.allowed_ingress_ports));
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

/// Ingress rules that admit every source: on all ports, or on a port the baseline does not list.
fn open_ports(policy: &NetworkPolicy, allowed: &[PortSpec]) -> Vec<Violation> {
    let mut out = Vec::new();
    let Some(spec) = &policy.spec else { return out };
    for rule in spec.ingress.iter().flatten() {
        if !admits_everyone(rule.from.as_deref()) {
            continue;
        }
        let object = ObjectRef::of("NetworkPolicy", &policy.metadata);
        match rule.ports.as_deref() {
            None | Some([]) => out.push(Violation::new(
                object,
                "NetworkPolicy admits all sources on all ports",
            )),
            Some(ports) => {
                for port in ports {
                    if let Some(message) = unlisted(port, allowed) {
                        out.push(Violation::new(object.clone(), message));
                    }
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

fn unlisted(port: &NetworkPolicyPort, allowed: &[PortSpec]) -> Option<String> {
    let protocol = protocol_of(port.protocol.as_deref());
    match &port.port {
        None => Some(format!(
            "NetworkPolicy admits all sources on every {} port",
            protocol.as_str()
        )),
        Some(IntOrString::Int(number)) if port.end_port.is_some_and(|end| end > *number) => {
            Some(format!(
                "NetworkPolicy admits all sources on port range {number}-{}/{}",
                port.end_port.unwrap_or(*number),
                protocol.as_str()
            ))
        }
        Some(IntOrString::Int(number)) if !listed(allowed, *number, protocol) => Some(format!(
            "NetworkPolicy admits all sources on port {number}/{} which the baseline does not list",
            protocol.as_str()
        )),
        Some(IntOrString::String(name)) => Some(format!(
            "NetworkPolicy admits all sources on named port `{name}`, which cannot be checked against the list"
        )),
        Some(IntOrString::Int(_)) => None,
    }
}

fn listed(allowed: &[PortSpec], port: i32, protocol: Protocol) -> bool {
    allowed
        .iter()
        .any(|a| a.port == port && a.protocol() == protocol)
}

fn protocol_of(text: Option<&str>) -> Protocol {
    match text {
        Some("UDP") => Protocol::UDP,
        Some("SCTP") => Protocol::SCTP,
        _ => Protocol::TCP,
    }
}
