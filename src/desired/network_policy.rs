//! NetworkPolicies for `restricted-ports`: default-deny plus one allow policy per namespace.

use super::{DesiredObject, OwnedKind, Owner};
use crate::api::PortSpec;
use crate::api::security_baseline::{NetworkSpec, TrafficDirection};
use serde_json::{Value, json};

pub fn ports(ports: &[PortSpec]) -> Vec<Value> {
    ports
        .iter()
        .map(|p| json!({"port": p.port, "protocol": p.protocol().as_str()}))
        .collect()
}

fn directions(spec: &NetworkSpec) -> Vec<&'static str> {
    let mut types = Vec::new();
    if spec.denies(TrafficDirection::Ingress) {
        types.push("Ingress");
    }
    if spec.denies(TrafficDirection::Egress) {
        types.push("Egress");
    }
    types
}

pub fn restricted_ports(
    owner: &Owner,
    spec: &NetworkSpec,
    namespaces: &[String],
) -> Vec<DesiredObject> {
    let types = directions(spec);
    let mut out = Vec::new();
    if types.is_empty() {
        return out;
    }
    let egress_denied = spec.denies(TrafficDirection::Egress);
    let mut ingress_rules = Vec::new();
    if !spec.allowed_ingress_ports.is_empty() {
        ingress_rules.push(json!({"ports": ports(&spec.allowed_ingress_ports)}));
    }
    let mut egress_rules = Vec::new();
    if egress_denied && spec.allow_dns {
        egress_rules.push(json!({"ports": [
            {"port": 53, "protocol": "UDP"},
            {"port": 53, "protocol": "TCP"},
        ]}));
    }
    if egress_denied {
        for rule in &spec.allowed_egress {
            let mut r = json!({"to": [{"ipBlock": {"cidr": rule.cidr}}]});
            if !rule.ports.is_empty() {
                r["ports"] = json!(ports(&rule.ports));
            }
            egress_rules.push(r);
        }
    }
    for ns in namespaces {
        out.push(DesiredObject::owned(
            OwnedKind::NetworkPolicy,
            owner,
            Some(ns),
            format!("{}-default-deny", owner.prefix()),
            json!({"spec": {"podSelector": {}, "policyTypes": types}}),
        ));
        let mut allow_types = Vec::new();
        let mut allow = json!({"podSelector": {}});
        if !ingress_rules.is_empty() && spec.denies(TrafficDirection::Ingress) {
            allow_types.push("Ingress");
            allow["ingress"] = json!(ingress_rules);
        }
        if !egress_rules.is_empty() {
            allow_types.push("Egress");
            allow["egress"] = json!(egress_rules);
        }
        if !allow_types.is_empty() {
            allow["policyTypes"] = json!(allow_types);
            out.push(DesiredObject::owned(
                OwnedKind::NetworkPolicy,
                owner,
                Some(ns),
                format!("{}-allow", owner.prefix()),
                json!({ "spec": allow }),
            ));
        }
    }
    out
}
