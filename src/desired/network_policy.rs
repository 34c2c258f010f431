//! NetworkPolicies for `restricted-ports`: default-deny plus one allow policy per namespace,
//! in every selected namespace that no live exemption of the control covers as a whole.

use super::{DesiredObject, Owner};
use crate::api::PortSpec;
use crate::api::security_baseline::{NetworkSpec, TrafficDirection};
use crate::catalog::ControlId;
use crate::snapshot::Snapshot;
use crate::vocabulary::exemptions::{Live, covers};
use crate::vocabulary::objects::ObjectRef;
use crate::vocabulary::selection::selects;
use k8s_openapi::api::networking::v1::{
    IPBlock, NetworkPolicy, NetworkPolicyEgressRule, NetworkPolicyIngressRule, NetworkPolicyPeer,
    NetworkPolicyPort, NetworkPolicySpec,
};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::LabelSelector;
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;
use std::collections::BTreeMap;

/// Where cluster DNS runs: the `kube-dns` pods (CoreDNS keeps that label) in `kube-system`.
/// `allowDNS` opens port 53 to them only, not to every host: an open port 53 to anywhere is
/// an exfiltration path past the egress default-deny.
pub const DNS_NAMESPACE: &str = "kube-system";
pub const DNS_POD_LABEL: (&str, &str) = ("k8s-app", "kube-dns");
/// The label the API server sets on every namespace, naming it.
pub const NAMESPACE_NAME_LABEL: &str = "kubernetes.io/metadata.name";

/// Each port with its protocol spelled out, so the server's `TCP` default never makes the
/// stored object differ from the desired one.
pub fn ports(ports: &[PortSpec]) -> Vec<NetworkPolicyPort> {
    ports
        .iter()
        .map(|p| port(p.port, p.protocol().as_str()))
        .collect()
}

fn port(number: i32, protocol: &str) -> NetworkPolicyPort {
    NetworkPolicyPort {
        port: Some(IntOrString::Int(number)),
        protocol: Some(protocol.into()),
        end_port: None,
    }
}

fn match_labels(key: &str, value: &str) -> LabelSelector {
    LabelSelector {
        match_labels: Some(BTreeMap::from([(key.into(), value.into())])),
        match_expressions: None,
    }
}

/// The egress peer that is the cluster DNS.
pub fn dns_peer() -> NetworkPolicyPeer {
    NetworkPolicyPeer {
        namespace_selector: Some(match_labels(NAMESPACE_NAME_LABEL, DNS_NAMESPACE)),
        pod_selector: Some(match_labels(DNS_POD_LABEL.0, DNS_POD_LABEL.1)),
        ip_block: None,
    }
}

/// A peer: every pod of the namespaces `selector` selects.
pub fn namespaces_peer(selector: &LabelSelector) -> NetworkPolicyPeer {
    NetworkPolicyPeer {
        namespace_selector: Some(selector.clone()),
        ..NetworkPolicyPeer::default()
    }
}

/// A NetworkPolicy over every pod of its namespace (`podSelector: {}`).
pub fn every_pod(
    policy_types: Vec<String>,
    ingress: Option<Vec<NetworkPolicyIngressRule>>,
    egress: Option<Vec<NetworkPolicyEgressRule>>,
) -> NetworkPolicy {
    NetworkPolicy {
        spec: Some(NetworkPolicySpec {
            pod_selector: Some(LabelSelector::default()),
            policy_types: Some(policy_types),
            ingress,
            egress,
        }),
        ..NetworkPolicy::default()
    }
}

fn directions(spec: &NetworkSpec) -> Vec<String> {
    let mut types = Vec::new();
    if spec.denies(TrafficDirection::Ingress) {
        types.push("Ingress".to_string());
    }
    if spec.denies(TrafficDirection::Egress) {
        types.push("Egress".to_string());
    }
    types
}

/// The selected namespaces that get the owned NetworkPolicies: every one but those a live
/// exemption of `restricted-ports` covers as a namespace (by name, or by a selector matching
/// the Namespace's labels), exactly the namespaces whose default-deny finding status waives.
pub fn enforced_namespaces(live: &Live, namespaces: &[String], snapshot: &Snapshot) -> Vec<String> {
    // No live exemption of the control waives a namespace: every one is enforced (what most
    // clusters have, without a look at every namespace's labels).
    if !live
        .iter()
        .any(|e| e.controls.contains(&ControlId::RestrictedPorts))
    {
        return namespaces.to_vec();
    }
    let labels: BTreeMap<&str, &BTreeMap<String, String>> = snapshot.namespace_labels().collect();
    let none = BTreeMap::new();
    namespaces
        .iter()
        .filter(|ns| {
            let ns_ref =
                ObjectRef::namespace(ns, labels.get(ns.as_str()).copied().unwrap_or(&none));
            live.waiver(ControlId::RestrictedPorts, &ns_ref).is_none()
        })
        .cloned()
        .collect()
}

/// Why enforcement cannot follow exemptions of `restricted-ports` that select objects by label
/// in namespaces that keep their policies: the default-deny selects every pod.
pub fn exemption_notes(live: &Live, enforced: &[String], snapshot: &Snapshot) -> Vec<String> {
    if !live
        .iter()
        .any(|e| e.selector.is_some() && e.controls.contains(&ControlId::RestrictedPorts))
    {
        return Vec::new();
    }
    let labels: BTreeMap<&str, &BTreeMap<String, String>> = snapshot.namespace_labels().collect();
    let none = BTreeMap::new();
    let mut notes = Vec::new();
    for exemption in live.iter() {
        let Some(selector) = &exemption.selector else {
            continue;
        };
        if !exemption.controls.contains(&ControlId::RestrictedPorts) {
            continue;
        }
        let scoped: Vec<&str> = enforced
            .iter()
            .filter(|ns| exemption.namespaces.is_empty() || exemption.namespaces.contains(ns))
            .filter(|ns| {
                let ns_labels = labels.get(ns.as_str()).copied().unwrap_or(&none);
                !covers(
                    exemption,
                    ControlId::RestrictedPorts,
                    &ObjectRef::namespace(ns, ns_labels),
                )
            })
            .map(String::as_str)
            .collect();
        if scoped.is_empty() {
            continue;
        }
        notes.push(format!(
            "exemption of restricted-ports approved by {} selects objects by label ({}); the default-deny NetworkPolicies select every pod, so traffic to the pods it selects stays denied in namespace(s) {}; it waives findings only on the Services and NetworkPolicies it selects",
            exemption.approved_by,
            describe_selector(selector),
            scoped.join(", ")
        ));
    }
    notes
}

/// A label selector as a user wrote it, for messages.
pub fn describe_selector(
    selector: &k8s_openapi::apimachinery::pkg::apis::meta::v1::LabelSelector,
) -> String {
    let mut terms: Vec<String> = selector
        .match_labels
        .iter()
        .flatten()
        .map(|(k, v)| format!("{k}={v}"))
        .collect();
    for e in selector.match_expressions.iter().flatten() {
        let values = e.values.clone().unwrap_or_default().join(",");
        terms.push(format!("{} {} ({values})", e.key, e.operator));
    }
    if terms.is_empty() {
        "every object".into()
    } else {
        terms.join(", ")
    }
}

/// The ingress ports the baseline that writes `namespace`'s NetworkPolicies opens there, when
/// its default-deny covers ingress there (Enforce mode, ingress denied, no live exemption of
/// `restricted-ports` covering the namespace as a whole): `None` when no baseline restricts the
/// namespace's ingress.
///
/// An EnvironmentIsolation's own policy in that namespace opens no other port
/// ([`crate::desired::isolation::network_policies`]): NetworkPolicies are additive, so a
/// port-less same-environment rule beside the baseline's would reopen every port the baseline
/// closed. The baseline decides which ports are open, the isolation from where.
pub fn baseline_ingress_ports(
    namespace: &str,
    snapshot: &Snapshot,
    now: jiff::Timestamp,
) -> Option<Vec<PortSpec>> {
    let (_, labels) = snapshot
        .namespace_labels()
        .find(|(name, _)| *name == namespace)?;
    let writer = super::overlap::network_policy_writer(labels, snapshot)?;
    let network = writer.spec.network.as_ref()?;
    if !network.denies(TrafficDirection::Ingress) {
        return None;
    }
    let live = Live::new(&writer.spec.exemptions, now);
    let enforced = enforced_namespaces(&live, &[namespace.to_string()], snapshot);
    (!enforced.is_empty()).then(|| network.allowed_ingress_ports.clone())
}

/// The sources that may reach `port` of `namespace` when an EnvironmentIsolation places it in
/// an environment: the environment's own namespaces and the sources of declared flows into it
/// that include the port. None when no environment claims the namespace (then a listed port is
/// open to every source, as the baseline says).
///
/// This is how a SecurityBaseline's port list and an EnvironmentIsolation compose: the
/// baseline decides which ports are open, the isolation from where, so the allow policy never
/// opens a path between environments that `environment-segregation` would have to report.
fn environment_sources(
    namespace: &str,
    port: &PortSpec,
    snapshot: &Snapshot,
) -> Option<Vec<NetworkPolicyPeer>> {
    let labels = snapshot
        .namespace_labels()
        .find(|(name, _)| *name == namespace)
        .map(|(_, labels)| labels)?;
    let mut peers = Vec::new();
    for ei in &snapshot.custom_resources.environment_isolations {
        let Some(home) = ei
            .spec
            .environments
            .iter()
            .find(|env| selects(&env.namespace_selector, labels))
        else {
            continue;
        };
        peers.push(namespaces_peer(&home.namespace_selector));
        for flow in ei.spec.allowed_flows.iter().filter(|f| f.to == home.name) {
            let carries = flow.ports.is_empty()
                || flow
                    .ports
                    .iter()
                    .any(|p| p.port == port.port && p.protocol() == port.protocol());
            let source = ei.spec.environments.iter().find(|e| e.name == flow.from);
            if let (true, Some(source)) = (carries, source) {
                peers.push(namespaces_peer(&source.namespace_selector));
            }
        }
    }
    (!peers.is_empty()).then_some(peers)
}

/// The ingress rules of the allow policy in `namespace`: the listed ports, from every source or,
/// where an environment claims the namespace, from its own environment and declared flows.
fn ingress_rules(
    spec: &NetworkSpec,
    namespace: &str,
    snapshot: &Snapshot,
) -> Vec<NetworkPolicyIngressRule> {
    if spec.allowed_ingress_ports.is_empty() {
        return Vec::new();
    }
    let scoped: Vec<NetworkPolicyIngressRule> = spec
        .allowed_ingress_ports
        .iter()
        .filter_map(|port| {
            let from = environment_sources(namespace, port, snapshot)?;
            Some(NetworkPolicyIngressRule {
                from: Some(from),
                ports: Some(ports(std::slice::from_ref(port))),
            })
        })
        .collect();
    if scoped.is_empty() {
        vec![NetworkPolicyIngressRule {
            from: None,
            ports: Some(ports(&spec.allowed_ingress_ports)),
        }]
    } else {
        scoped
    }
}

pub fn restricted_ports(
    owner: &Owner,
    spec: &NetworkSpec,
    namespaces: &[String],
    snapshot: &Snapshot,
) -> Vec<DesiredObject> {
    let types = directions(spec);
    let mut out = Vec::new();
    if types.is_empty() {
        return out;
    }
    let egress_denied = spec.denies(TrafficDirection::Egress);
    let mut egress_rules = Vec::new();
    if egress_denied && spec.allow_dns {
        egress_rules.push(NetworkPolicyEgressRule {
            to: Some(vec![dns_peer()]),
            ports: Some(vec![port(53, "UDP"), port(53, "TCP")]),
        });
    }
    if egress_denied {
        for rule in &spec.allowed_egress {
            egress_rules.push(NetworkPolicyEgressRule {
                to: Some(vec![NetworkPolicyPeer {
                    ip_block: Some(IPBlock {
                        cidr: rule.cidr.clone(),
                        except: None,
                    }),
                    ..NetworkPolicyPeer::default()
                }]),
                ports: (!rule.ports.is_empty()).then(|| ports(&rule.ports)),
            });
        }
    }
    for ns in namespaces {
        out.push(DesiredObject::typed(
            owner,
            Some(ns),
            format!("{}-default-deny", owner.prefix()),
            every_pod(types.clone(), None, None),
        ));
        let mut allow_types = Vec::new();
        let mut ingress = None;
        let mut egress = None;
        let ingress_rules = ingress_rules(spec, ns, snapshot);
        if !ingress_rules.is_empty() && spec.denies(TrafficDirection::Ingress) {
            allow_types.push("Ingress".to_string());
            ingress = Some(ingress_rules);
        }
        if !egress_rules.is_empty() {
            allow_types.push("Egress".to_string());
            egress = Some(egress_rules.clone());
        }
        if !allow_types.is_empty() {
            out.push(DesiredObject::typed(
                owner,
                Some(ns),
                format!("{}-allow", owner.prefix()),
                every_pod(allow_types, ingress, egress),
            ));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::Exemption;
    use crate::desired::OwnedKind;
    use jiff::Timestamp;
    use k8s_openapi::api::core::v1::Namespace;
    use k8s_openapi::apimachinery::pkg::apis::meta::v1::LabelSelector;
    use serde_json::{Value, json};
    use std::sync::Arc;

    fn owner() -> Owner {
        Owner {
            api_version: "security.baseline.dev/v1alpha1".into(),
            kind: "SecurityBaseline".into(),
            name: "prod".into(),
            uid: "u".into(),
        }
    }

    fn spec() -> NetworkSpec {
        NetworkSpec {
            default_deny: Some(vec![TrafficDirection::Ingress, TrafficDirection::Egress]),
            allow_dns: true,
            allowed_ingress_ports: vec![],
            allowed_egress: vec![],
        }
    }

    #[test]
    fn dns_egress_goes_to_the_cluster_dns_only() {
        let objects = restricted_ports(&owner(), &spec(), &["shop".into()], &Snapshot::default());
        let allow = objects
            .iter()
            .find(|o| o.name == "sb-prod-allow")
            .expect("an allow policy");
        let egress = &allow.json()["spec"]["egress"].clone();
        assert_eq!(egress.as_array().unwrap().len(), 1);
        assert_eq!(
            egress[0]["to"],
            json!([{
                "namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "kube-system"}},
                "podSelector": {"matchLabels": {"k8s-app": "kube-dns"}},
            }]),
            "port 53 must not be open to every destination"
        );
        assert_eq!(
            egress[0]["ports"],
            json!([{"port": 53, "protocol": "UDP"}, {"port": 53, "protocol": "TCP"}])
        );
    }

    fn namespace(name: &str, labels: &[(&str, &str)]) -> Arc<Namespace> {
        let mut labels: BTreeMap<String, String> = labels
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        labels.insert(NAMESPACE_NAME_LABEL.into(), name.into());
        Arc::new(Namespace {
            metadata: kube::api::ObjectMeta {
                name: Some(name.into()),
                labels: Some(labels),
                ..Default::default()
            },
            ..Default::default()
        })
    }

    fn exemption(namespaces: &[&str], selector: Option<(&str, &str)>, expires: &str) -> Exemption {
        Exemption {
            controls: vec![ControlId::RestrictedPorts],
            namespaces: namespaces.iter().map(|n| n.to_string()).collect(),
            selector: selector.map(|(k, v)| LabelSelector {
                match_labels: Some(BTreeMap::from([(k.to_string(), v.to_string())])),
                ..Default::default()
            }),
            reason: "legacy load balancer".into(),
            approved_by: "ciso".into(),
            ticket: None,
            expires: expires.into(),
        }
    }

    #[test]
    fn namespaces_exempted_as_a_whole_get_no_policies_until_the_exemption_expires() {
        let snapshot = Snapshot {
            namespaces: vec![
                namespace("shop", &[]),
                namespace("legacy", &[]),
                namespace("edge", &[("tier", "edge")]),
            ],
            ..Default::default()
        };
        let selected: Vec<String> = ["edge", "legacy", "shop"].map(String::from).to_vec();
        let exemptions = [
            exemption(&["legacy"], None, "2026-06-30"),
            // A selector matching the Namespace covers it as a whole, as in status.
            exemption(&[], Some(("tier", "edge")), "2026-06-30"),
        ];
        let before: Timestamp = "2026-03-01T00:00:00Z".parse().unwrap();
        let live = Live::new(&exemptions, before);
        assert_eq!(enforced_namespaces(&live, &selected, &snapshot), ["shop"]);
        let after: Timestamp = "2026-07-01T00:00:00Z".parse().unwrap();
        let expired = Live::new(&exemptions, after);
        assert_eq!(
            enforced_namespaces(&expired, &selected, &snapshot),
            selected,
            "an expired exemption stops waiving enforcement too"
        );
    }

    #[test]
    fn an_exemption_of_some_objects_keeps_the_policies_and_says_why() {
        let snapshot = Snapshot {
            namespaces: vec![namespace("shop", &[])],
            ..Default::default()
        };
        let exemptions = [exemption(&["shop"], Some(("app", "legacy")), "2026-06-30")];
        let live = Live::new(&exemptions, "2026-03-01T00:00:00Z".parse().unwrap());
        let selected = vec!["shop".to_string()];
        let enforced = enforced_namespaces(&live, &selected, &snapshot);
        assert_eq!(enforced, selected);
        let notes = exemption_notes(&live, &enforced, &snapshot);
        assert_eq!(notes.len(), 1, "{notes:?}");
        assert!(notes[0].contains("app=legacy"), "{}", notes[0]);
        assert!(
            notes[0].contains("stays denied in namespace(s) shop"),
            "{}",
            notes[0]
        );
    }

    /// A baseline's port list and an EnvironmentIsolation over the same namespaces compose:
    /// the allow policy opens the listed ports to the namespace's own environment and the
    /// declared flows only, so segregation (judging the policies that exist) passes, and the
    /// baseline's own port check passes too.
    #[test]
    fn allowed_ports_follow_the_environments_so_segregation_holds() {
        use crate::api::EnvironmentIsolation;
        let env_ns = |name: &str, env: &str| {
            Arc::new(Namespace {
                metadata: k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta {
                    name: Some(name.into()),
                    labels: Some(BTreeMap::from([("env".into(), env.into())])),
                    ..Default::default()
                },
                ..Default::default()
            })
        };
        let ei_spec = serde_json::from_value(serde_json::json!({
            "mode": "Audit",
            "environments": [
                {"name": "prod", "production": true, "namespaceSelector": {"matchLabels": {"env": "prod"}}},
                {"name": "stage", "namespaceSelector": {"matchLabels": {"env": "stage"}}},
                {"name": "dev", "namespaceSelector": {"matchLabels": {"env": "dev"}}},
            ],
            "allowedFlows": [{"from": "stage", "to": "prod", "ports": [{"port": 443}]}],
        }))
        .unwrap();
        let ei = Arc::new(EnvironmentIsolation::new("iso", ei_spec));
        let mut snapshot = Snapshot {
            namespaces: vec![
                env_ns("shop", "prod"),
                env_ns("qa", "stage"),
                env_ns("play", "dev"),
            ],
            ..Default::default()
        };
        snapshot.custom_resources.environment_isolations = vec![ei.clone()];
        let network = NetworkSpec {
            default_deny: Some(vec![TrafficDirection::Ingress]),
            allow_dns: false,
            allowed_ingress_ports: vec![
                PortSpec {
                    port: 443,
                    protocol: None,
                },
                PortSpec {
                    port: 8080,
                    protocol: None,
                },
            ],
            allowed_egress: vec![],
        };
        let objects = restricted_ports(&owner(), &network, &["shop".into()], &snapshot);
        let allow = &objects[1].json()["spec"]["ingress"].clone();
        assert_eq!(
            allow,
            &serde_json::json!([
                {"from": [{"namespaceSelector": {"matchLabels": {"env": "prod"}}},
                          {"namespaceSelector": {"matchLabels": {"env": "stage"}}}],
                 "ports": [{"port": 443, "protocol": "TCP"}]},
                {"from": [{"namespaceSelector": {"matchLabels": {"env": "prod"}}}],
                 "ports": [{"port": 8080, "protocol": "TCP"}]},
            ])
        );
        snapshot.network_policies = objects
            .into_iter()
            .map(|o| {
                let mut body = o.json();
                body["metadata"]["namespace"] = serde_json::json!("shop");
                Arc::new(serde_json::from_value(body).unwrap())
            })
            .collect();
        let now = Timestamp::from_second(1_900_000_000).unwrap();
        let evaluation = crate::evaluate::isolation::evaluate(
            "iso",
            &crate::validate::environment_isolation::validate(&ei.spec).unwrap(),
            &snapshot,
            now,
        );
        let segregation = &evaluation.controls[0];
        assert!(
            segregation
                .failed
                .iter()
                .all(|v| v.object.name != "shop" && v.object.namespace.as_deref() != Some("shop")),
            "{:#?}",
            segregation.failed
        );
    }

    /// A rule's ports as (number, protocol); `None`: every port.
    type RulePorts = Option<Vec<(i64, String)>>;

    /// Every ingress rule of `objects` as (source selectors, ports).
    fn ingress_of(objects: &[DesiredObject]) -> Vec<(Value, RulePorts)> {
        objects
            .iter()
            .filter(|o| o.kind == OwnedKind::NetworkPolicy)
            .flat_map(|o| {
                o.json()["spec"]["ingress"]
                    .as_array()
                    .cloned()
                    .unwrap_or_default()
            })
            .map(|rule| {
                let ports = rule["ports"].as_array().map(|ports| {
                    ports
                        .iter()
                        .map(|p| {
                            (
                                p["port"].as_i64().unwrap_or(-1),
                                p["protocol"].as_str().unwrap_or("TCP").to_string(),
                            )
                        })
                        .collect()
                });
                (rule["from"].clone(), ports)
            })
            .collect()
    }

    fn port_spec((port, udp): (i32, bool)) -> PortSpec {
        PortSpec {
            port,
            protocol: udp.then_some(crate::api::Protocol::UDP),
        }
    }

    proptest::proptest! {
        /// A SecurityBaseline and an EnvironmentIsolation, both in Enforce mode over the same
        /// namespaces: whatever ports the baseline lists and whatever flows the isolation
        /// declares, the union of both resources' policies opens only listed ports, and both
        /// `restricted-ports` and `environment-segregation` pass on them.
        #[test]
        fn baseline_and_isolation_together_open_only_the_listed_ports(
            listed in proptest::collection::vec((proptest::prop_oneof![proptest::strategy::Just(443), proptest::strategy::Just(8080), 1..65536i32], proptest::bool::ANY), 0..3),
            flow_ports in proptest::collection::vec(proptest::collection::vec((proptest::prop_oneof![proptest::strategy::Just(443), proptest::strategy::Just(22)], proptest::bool::ANY), 0..3), 2),
        ) {
            use crate::api::{EnvironmentIsolation, SecurityBaseline};
            let flows: Vec<Value> = ["stage", "dev"].iter().zip(&flow_ports).map(|(from, ports)| {
                json!({"from": from, "to": "prod", "ports": ports.iter().map(|p| port_spec(*p)).collect::<Vec<_>>()})
            }).collect();
            let ei_spec: crate::api::EnvironmentIsolationSpec = serde_json::from_value(json!({
                "mode": "Enforce",
                "environments": [
                    {"name": "prod", "production": true, "namespaceSelector": {"matchLabels": {"env": "prod"}}},
                    {"name": "stage", "namespaceSelector": {"matchLabels": {"env": "stage"}}},
                    {"name": "dev", "namespaceSelector": {"matchLabels": {"env": "dev"}}},
                ],
                "allowedFlows": flows,
            })).unwrap();
            let network = NetworkSpec {
                default_deny: Some(vec![TrafficDirection::Ingress]),
                allow_dns: false,
                allowed_ingress_ports: listed.iter().map(|p| port_spec(*p)).collect(),
                allowed_egress: vec![],
            };
            let sb_spec: crate::api::SecurityBaselineSpec = serde_json::from_value(json!({
                "mode": "Enforce",
                "namespaceSelector": {"matchLabels": {"env": "prod"}},
                "network": network,
            })).unwrap();
            let mut snapshot = Snapshot {
                namespaces: vec![
                    namespace("shop", &[("env", "prod")]),
                    namespace("orders", &[("env", "prod")]),
                    namespace("qa", &[("env", "stage")]),
                    namespace("play", &[("env", "dev")]),
                ],
                ..Default::default()
            };
            let ei = Arc::new(EnvironmentIsolation::new("iso", ei_spec));
            snapshot.custom_resources.environment_isolations = vec![ei.clone()];
            snapshot.custom_resources.security_baselines =
                vec![Arc::new(SecurityBaseline::new("prod", sb_spec))];
            let now = Timestamp::from_second(1_900_000_000).unwrap();
            let valid = crate::validate::environment_isolation::validate(&ei.spec).unwrap();
            let envs = crate::vocabulary::environments::environments_of(&valid.environments, &snapshot);
            let mut objects = restricted_ports(&owner(), &network, &["shop".into()], &snapshot);
            let ei_owner = Owner { kind: "EnvironmentIsolation".into(), name: "iso".into(), ..owner() };
            objects.extend(
                crate::desired::isolation::network_policies(&ei_owner, &valid, &envs, &snapshot, now)
                    .into_iter()
                    .filter(|o| o.namespace.as_deref() == Some("shop")),
            );
            let listed_ports: Vec<(i64, String)> = network
                .allowed_ingress_ports
                .iter()
                .map(|p| (i64::from(p.port), p.protocol().as_str().to_string()))
                .collect();
            for (from, ports) in ingress_of(&objects) {
                let ports = ports.unwrap_or_else(|| panic!("a rule from {from} opens every port"));
                for port in ports {
                    proptest::prop_assert!(listed_ports.contains(&port), "{port:?} from {from} is not listed");
                }
            }
            snapshot.network_policies = objects
                .into_iter()
                .map(|o| Arc::new(serde_json::from_value(o.json()).unwrap()))
                .collect();
            let ports = crate::evaluate::network::restricted_ports(Some(&network), &["shop".into()], &snapshot);
            proptest::prop_assert!(ports.violations.is_empty(), "{:#?}", ports.violations);
            let evaluation = crate::evaluate::isolation::evaluate("iso", &valid, &snapshot, now);
            proptest::prop_assert!(
                evaluation.controls[0].failed.iter().all(|v| v.object.namespace.as_deref() != Some("shop") && v.object.name != "shop"),
                "{:#?}", evaluation.controls[0].failed
            );
        }
    }
}
