use super::*;
use crate::api::EnvironmentIsolation;
use k8s_openapi::api::core::v1::Namespace;
use proptest::prelude::*;
use serde_json::{Value, json};
use std::sync::Arc;

fn namespace(name: &str, env: Option<&str>) -> Arc<Namespace> {
    let mut labels =
        BTreeMap::from([("kubernetes.io/metadata.name".to_string(), name.to_string())]);
    if let Some(env) = env {
        labels.insert("env".into(), env.into());
    }
    Arc::new(Namespace {
        metadata: kube::api::ObjectMeta {
            name: Some(name.into()),
            labels: Some(labels),
            ..Default::default()
        },
        ..Default::default()
    })
}

fn isolation(flows: Value) -> Arc<EnvironmentIsolation> {
    let spec = serde_json::from_value(json!({
        "environments": [
            {"name": "prod", "production": true, "namespaceSelector": {"matchLabels": {"env": "prod"}}},
            {"name": "stage", "namespaceSelector": {"matchLabels": {"env": "stage"}}},
            {"name": "dev", "namespaceSelector": {"matchLabels": {"env": "dev"}}},
        ],
        "allowedFlows": flows,
    }))
    .unwrap();
    Arc::new(EnvironmentIsolation::new("iso", spec))
}

/// `shop` and `orders` in prod, `qa` in stage, `play` in dev, `tools` in none, `kube-system`.
fn snapshot(flows: Option<Value>) -> Snapshot {
    let mut snapshot = Snapshot {
        namespaces: vec![
            namespace("shop", Some("prod")),
            namespace("orders", Some("prod")),
            namespace("qa", Some("stage")),
            namespace("play", Some("dev")),
            namespace("tools", None),
            namespace("kube-system", None),
        ],
        ..Default::default()
    };
    if let Some(flows) = flows {
        snapshot.custom_resources.environment_isolations = vec![isolation(flows)];
    }
    snapshot
}

fn policy(body: Value) -> NetworkPolicy {
    serde_json::from_value(json!({
        "apiVersion": "networking.k8s.io/v1", "kind": "NetworkPolicy",
        "metadata": {"name": "p", "namespace": "shop"},
        "spec": body,
    }))
    .unwrap()
}

fn https() -> Vec<PortSpec> {
    vec![PortSpec {
        port: 443,
        protocol: None,
    }]
}

fn found(body: Value, snapshot: &Snapshot) -> Vec<String> {
    open_ports(
        &policy(body),
        &https(),
        &Environments::of(snapshot),
        snapshot,
    )
    .into_iter()
    .map(|v| v.message.clone())
    .collect()
}

fn one_rule(from: Value, ports: Value) -> Value {
    json!({"podSelector": {}, "ingress": [{"from": from, "ports": ports}]})
}

#[test]
fn address_blocks_open_to_outside_with_or_without_except() {
    let s = snapshot(Some(json!([])));
    for block in [
        json!({"cidr": "0.0.0.0/0", "except": ["10.0.0.0/8"]}),
        json!({"cidr": "::/0"}),
        json!({"cidr": "::/0", "except": ["fd00::/8"]}),
        json!({"cidr": "203.0.113.7/32"}),
    ] {
        let f = found(
            one_rule(json!([{"ipBlock": block}]), json!([{"port": 22}])),
            &s,
        );
        assert_eq!(f.len(), 1, "{block}: {f:?}");
        assert!(
            f[0].contains("ipBlock") && f[0].contains("port 22/TCP"),
            "{f:?}"
        );
    }
    // The listed port is open to every source by design.
    let f = found(
        one_rule(
            json!([{"ipBlock": {"cidr": "0.0.0.0/0", "except": ["10.0.0.0/8"]}}]),
            json!([{"port": 443}]),
        ),
        &s,
    );
    assert!(f.is_empty(), "{f:?}");
}

#[test]
fn every_namespace_and_port_less_rules_count() {
    let s = snapshot(Some(json!([])));
    // An empty namespaceSelector, even narrowed to some pods, is every namespace.
    let f = found(
        one_rule(
            json!([{"namespaceSelector": {}, "podSelector": {"matchLabels": {"app": "x"}}}]),
            json!([{"port": 22}]),
        ),
        &s,
    );
    assert_eq!(f.len(), 1, "{f:?}");
    assert!(f[0].contains("empty namespaceSelector"), "{f:?}");
    // A rule without ports from another environment: every port.
    let f = found(
        json!({"podSelector": {}, "ingress": [{"from": [{"namespaceSelector": {"matchLabels": {"env": "dev"}}}]}]}),
        &s,
    );
    assert_eq!(f.len(), 1, "{f:?}");
    assert!(
        f[0].contains("`play`") && f[0].ends_with("on all ports, which the baseline does not list"),
        "{f:?}"
    );
    // policyTypes omitted: the policy governs ingress.
    let f = found(json!({"podSelector": {}, "ingress": [{}]}), &s);
    assert_eq!(f, ["NetworkPolicy admits all sources on all ports"]);
    // Egress-only: the plugin ignores its ingress rules.
    let f = found(
        json!({"podSelector": {}, "policyTypes": ["Egress"], "ingress": [{}]}),
        &s,
    );
    assert!(f.is_empty(), "{f:?}");
}

#[test]
fn protocols_ranges_and_named_ports_are_judged_as_the_plugin_opens_them() {
    let s = snapshot(None);
    let everyone = json!([{"ipBlock": {"cidr": "0.0.0.0/0"}}]);
    let cases = [
        (
            json!([{"port": 443, "protocol": "UDP"}]),
            Some("port 443/UDP"),
        ),
        (
            json!([{"port": 443, "protocol": "SCTP"}]),
            Some("port 443/SCTP"),
        ),
        (json!([{"port": 443, "protocol": "TCP"}]), None),
        (
            json!([{"port": 440, "endPort": 450}]),
            Some("ports 440-450/TCP"),
        ),
        (json!([{"port": 443, "endPort": 443}]), None),
        (json!([{"port": "https"}]), Some("named port `https`")),
        (json!([{"protocol": "UDP"}]), Some("every UDP port")),
    ];
    for (ports, expected) in cases {
        let f = found(one_rule(everyone.clone(), ports.clone()), &s);
        match expected {
            Some(text) => assert!(f.len() == 1 && f[0].contains(text), "{ports}: {f:?}"),
            None => assert!(f.is_empty(), "{ports}: {f:?}"),
        }
    }
}

#[test]
fn the_environment_and_declared_flows_are_inside() {
    let s = snapshot(Some(
        json!([{"from": "stage", "to": "prod", "ports": [{"port": 22}]}]),
    ));
    // Own pods, the environment's other namespace, and a flow carrying the port.
    for from in [
        json!([{"podSelector": {"matchLabels": {"app": "admin"}}}]),
        json!([{"namespaceSelector": {"matchLabels": {"env": "prod"}}}]),
        json!([{"namespaceSelector": {"matchLabels": {"env": "stage"}}}]),
        json!([{"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "orders"}}}]),
    ] {
        let f = found(one_rule(from.clone(), json!([{"port": 22}])), &s);
        assert!(f.is_empty(), "{from}: {f:?}");
    }
    // The flow carries 22 only; dev, a namespace in no environment and kube-system are out.
    for (from, port, who) in [
        (json!({"env": "stage"}), 23, "`qa`"),
        (json!({"env": "dev"}), 22, "`play`"),
        (
            json!({"kubernetes.io/metadata.name": "tools"}),
            22,
            "`tools`",
        ),
        (
            json!({"kubernetes.io/metadata.name": "kube-system"}),
            22,
            "`kube-system`",
        ),
    ] {
        let f = found(
            one_rule(
                json!([{"namespaceSelector": {"matchLabels": from}}]),
                json!([{"port": port}]),
            ),
            &s,
        );
        assert!(f.len() == 1 && f[0].contains(who), "{from} {port}: {f:?}");
    }
    // Without any EnvironmentIsolation, a namespace is an environment of its own.
    let alone = snapshot(None);
    let f = found(
        one_rule(
            json!([{"namespaceSelector": {"matchLabels": {"env": "prod"}}}]),
            json!([{"port": 22}]),
        ),
        &alone,
    );
    assert!(f.len() == 1 && f[0].contains("`orders`"), "{f:?}");
}

fn port_strategy() -> impl Strategy<Value = (i32, Option<&'static str>)> {
    (
        prop_oneof![Just(22), Just(443), Just(8080), 1..65536i32],
        prop_oneof![
            Just(None),
            Just(Some("TCP")),
            Just(Some("UDP")),
            Just(Some("SCTP"))
        ],
    )
}

proptest! {
    /// Any source set that reaches outside, on any single port: a finding exactly when the
    /// port (with its protocol) is not listed; a podSelector-only peer never is one.
    #[test]
    fn an_outside_source_on_a_port_is_a_finding_exactly_when_the_port_is_unlisted(
        (port, protocol) in port_strategy(),
        listed_ports in proptest::collection::vec(port_strategy(), 0..4),
        peer in prop_oneof![
            Just(json!({"ipBlock": {"cidr": "0.0.0.0/0", "except": ["10.0.0.0/8"]}})),
            Just(json!({"ipBlock": {"cidr": "::/0"}})),
            Just(json!({"namespaceSelector": {}})),
            Just(json!({"namespaceSelector": {"matchLabels": {"env": "dev"}}})),
        ],
    ) {
        let s = snapshot(Some(json!([])));
        let allowed: Vec<PortSpec> = listed_ports
            .iter()
            .map(|(p, proto)| serde_json::from_value(json!({"port": p, "protocol": proto})).unwrap())
            .collect();
        let mut p = json!({"port": port});
        if let Some(proto) = protocol {
            p["protocol"] = json!(proto);
        }
        let is_listed = listed(&allowed, port, protocol_of(protocol));
        let judge = |from: Value| {
            open_ports(&policy(one_rule(from, json!([p.clone()]))), &allowed, &Environments::of(&s), &s).len()
        };
        prop_assert_eq!(judge(json!([peer])), usize::from(!is_listed));
        prop_assert_eq!(judge(json!([{"podSelector": {}}])), 0);
    }
}

/// The operator's own isolation policy is judged like any other. An environment selected by
/// `NotIn` also matches namespaces outside every environment (kube-system among them); the
/// operator renders its peers without the excluded namespaces, so its port-less
/// same-environment rule opens nothing to them, and the same policy without that exclusion
/// (as a tenant might copy it) opens every port to kube-system and is a finding.
#[test]
fn the_operators_own_isolation_policy_is_judged_too() {
    let spec: crate::api::EnvironmentIsolationSpec = serde_json::from_value(json!({
        "mode": "Enforce",
        "environments": [
            {"name": "prod", "production": true, "namespaceSelector": {"matchExpressions": [{"key": "env", "operator": "NotIn", "values": ["dev", "stage"]}]}},
            {"name": "dev", "namespaceSelector": {"matchLabels": {"env": "dev"}}},
        ],
    }))
    .unwrap();
    let mut s = snapshot(None);
    let ei = Arc::new(EnvironmentIsolation::new("iso", spec.clone()));
    s.custom_resources.environment_isolations = vec![ei];
    let valid = validate(&spec).unwrap();
    let envs = environments_of(&valid.environments, &s);
    let owner = crate::desired::Owner {
        api_version: "security.baseline.dev/v1alpha1".into(),
        kind: "EnvironmentIsolation".into(),
        name: "iso".into(),
        uid: "u".into(),
    };
    let own = crate::desired::isolation::network_policies(
        &owner,
        &valid,
        &envs,
        &s,
        jiff::Timestamp::UNIX_EPOCH,
    )
    .into_iter()
    .find(|o| o.namespace.as_deref() == Some("shop"))
    .unwrap();
    let policy: NetworkPolicy = serde_json::from_value(own.json()).unwrap();
    let judge = |policy: &NetworkPolicy| -> Vec<String> {
        open_ports(policy, &https(), &Environments::of(&s), &s)
            .into_iter()
            .map(|v| v.message.clone())
            .collect()
    };
    assert_eq!(judge(&policy), Vec::<String>::new());
    let mut copied = policy.clone();
    for rule in copied
        .spec
        .iter_mut()
        .flat_map(|s| s.ingress.iter_mut().flatten())
    {
        for peer in rule.from.iter_mut().flatten() {
            if let Some(selector) = peer.namespace_selector.as_mut() {
                selector
                    .match_expressions
                    .iter_mut()
                    .for_each(|e| e.retain(|r| r.key != "kubernetes.io/metadata.name"));
            }
        }
    }
    let found = judge(&copied);
    assert_eq!(found.len(), 1, "{found:?}");
    assert!(
        found[0].contains("`kube-system`") && found[0].contains("on all ports"),
        "{found:?}"
    );
}
