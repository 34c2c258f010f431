//! What a namespace editor can open or route with NetworkPolicies and Services, judged on the
//! real control plane: `restricted-ports` on the union of every policy in the namespace (the
//! operator's own included), a SecurityBaseline beside an EnvironmentIsolation opening no
//! port the baseline does not list, and Services routing into another environment
//! (`environment-segregation`), reported in status and refused by admission where it can see
//! them.

use crate::environment_isolation::{
    DeleteOnDrop, apply_isolation, delete_isolation, environment, wait_control,
};
use crate::support::*;
use baseline_operator::api::{ControlState, SecurityBaseline};
use k8s_openapi::api::networking::v1::NetworkPolicy;
use kube::Client;
use kube::api::Api;
use serde_json::{Value, json};
use std::time::Duration;

const TIMEOUT: Duration = Duration::from_secs(30);

/// Applies `yaml` as `user`, a namespace editor (ClusterRole `edit` bound in `ns`).
fn apply_as(user: &str, yaml: &str) -> Result<(), String> {
    let out = cluster().kubectl_stdin(&["apply", "--as", user, "-f", "-"], yaml);
    if out.status.success() {
        Ok(())
    } else {
        Err(String::from_utf8_lossy(&out.stderr).into_owned())
    }
}

fn editor_of(ns: &str, user: &str) -> String {
    json!({"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "RoleBinding",
           "metadata": {"name": format!("{user}-edit"), "namespace": ns},
           "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": "edit"},
           "subjects": [{"apiGroup": "rbac.authorization.k8s.io", "kind": "User", "name": user}]})
    .to_string()
}

fn network_policy(ns: &str, name: &str, spec: Value) -> String {
    json!({"apiVersion": "networking.k8s.io/v1", "kind": "NetworkPolicy",
           "metadata": {"name": name, "namespace": ns}, "spec": spec})
    .to_string()
}

/// The `restricted-ports` findings of the baseline once it reconciled its generation and
/// `check` holds for them.
async fn wait_ports(
    baseline: &Applied<SecurityBaseline>,
    what: &str,
    check: impl Fn(ControlState, &[String]) -> bool,
) -> Vec<String> {
    let deadline = std::time::Instant::now() + TIMEOUT;
    let mut last = None;
    loop {
        let sb = baseline.get().await;
        if let Some(status) = &sb.status
            && status.observed_generation == sb.metadata.generation
            && let Some(c) = find_control(&sb, "restricted-ports")
        {
            let found = findings(c);
            if check(c.state, &found) {
                return found;
            }
            last = Some((c.state, found));
        }
        assert!(
            std::time::Instant::now() < deadline,
            "timed out waiting for: {what}; last: {last:#?}"
        );
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}

/// Every ingress rule of every NetworkPolicy in `ns`, as (policy, from, ports); `None` ports
/// means every port.
async fn ingress_rules(client: &Client, ns: &str) -> Vec<(String, Value, Option<Vec<Value>>)> {
    let api: Api<NetworkPolicy> = Api::namespaced(client.clone(), ns);
    let mut rules = Vec::new();
    for policy in api.list(&Default::default()).await.unwrap() {
        let value = serde_json::to_value(&policy).unwrap();
        let name = policy.metadata.name.unwrap_or_default();
        let types = value["spec"]["policyTypes"].clone();
        if types.is_array() && !types.as_array().unwrap().contains(&json!("Ingress")) {
            continue;
        }
        for rule in value["spec"]["ingress"]
            .as_array()
            .cloned()
            .unwrap_or_default()
        {
            let ports = rule["ports"].as_array().filter(|p| !p.is_empty()).cloned();
            rules.push((name.clone(), rule["from"].clone(), ports));
        }
    }
    rules
}

/// A namespace editor's policies that open unlisted ports to sources outside the namespace's
/// environment are findings, in every form the network plugin honours: an address block with
/// `except` (IPv4 and IPv6), an empty namespaceSelector narrowed to some pods, another
/// environment's namespaces on every port (no `ports`, `policyTypes` omitted), a port range,
/// UDP on a port listed for TCP, a named port. The same editor's openings to its own pods and
/// to its own environment are not, and the operator's own policies pass.
#[tokio::test]
async fn openings_to_outside_sources_are_judged_on_the_union_of_policies() {
    let s = Scenario::start().await;
    let key = "nu-env";
    let shop = s
        .namespace("nu-shop", &[(key, "prod"), ("nu-ports", "on")])
        .await;
    s.namespace("nu-orders", &[(key, "prod")]).await;
    s.namespace("nu-play", &[(key, "dev")]).await;
    let isolation = "e2e-nu-envs";
    let _cleanup = DeleteOnDrop("environmentisolation", isolation.to_string());
    // Audit: it defines the environments, and writes nothing.
    let isolation_api = apply_isolation(
        &s.client,
        isolation,
        json!({"mode": "Audit", "environments": [environment(key, "prod", true), environment(key, "dev", false)]}),
    )
    .await;
    let name = "e2e-nu-ports";
    let _sb_cleanup = DeleteOnDrop("securitybaseline", name.to_string());
    let baseline = s
        .baseline(
            name,
            json!({
                "mode": "Enforce",
                "namespaceSelector": {"matchLabels": {"nu-ports": "on"}},
                "network": {"defaultDeny": ["Ingress"], "allowedIngressPorts": [{"port": 443}]},
            }),
        )
        .await;
    wait_ports(&baseline, "the operator's own policies pass", |state, _| {
        state == ControlState::Pass
    })
    .await;

    cluster()
        .apply_yaml(&editor_of(&shop, "nu-tenant"))
        .unwrap();
    let dev = json!({"namespaceSelector": {"matchLabels": {key: "dev"}}});
    let opening = [
        (
            "ssh-except",
            json!([{"ipBlock": {"cidr": "0.0.0.0/0", "except": ["10.0.0.0/8"]}}]),
            json!([{"port": 22}]),
            "ipBlock 0.0.0.0/0 except 10.0.0.0/8",
        ),
        (
            "ssh-v6",
            json!([{"ipBlock": {"cidr": "::/0", "except": ["fd00::/8"]}}]),
            json!([{"port": 22}]),
            "ipBlock ::/0 except fd00::/8",
        ),
        (
            "any-namespace-app",
            json!([{"namespaceSelector": {}, "podSelector": {"matchLabels": {"app": "client"}}}]),
            json!([{"port": 5432}]),
            "an empty namespaceSelector",
        ),
        (
            "from-dev-every-port",
            json!([dev]),
            Value::Null,
            "`nu-play`",
        ),
        (
            "range",
            json!([dev]),
            json!([{"port": 440, "endPort": 450}]),
            "ports 440-450/TCP",
        ),
        (
            "udp",
            json!([{"ipBlock": {"cidr": "192.0.2.0/24"}}]),
            json!([{"port": 443, "protocol": "UDP"}]),
            "port 443/UDP",
        ),
        (
            "named",
            json!([{"ipBlock": {"cidr": "192.0.2.0/24"}}]),
            json!([{"port": "metrics"}]),
            "named port `metrics`",
        ),
    ];
    let inside = [
        (
            "same-environment",
            json!([{"namespaceSelector": {"matchLabels": {key: "prod"}}}]),
            json!([{"port": 9090}]),
        ),
        (
            "own-pods",
            json!([{"podSelector": {"matchLabels": {"app": "web"}}}]),
            json!([{"port": 9091}]),
        ),
    ];
    let policy = |name: &str, from: &Value, ports: &Value| {
        // No policyTypes: the API server fills in Ingress, as for most hand-written policies.
        let mut rule = json!({"from": from});
        if !ports.is_null() {
            rule["ports"] = ports.clone();
        }
        network_policy(
            &shop,
            name,
            json!({"podSelector": {"matchLabels": {"app": "web"}}, "ingress": [rule]}),
        )
    };
    for (name, from, ports, _) in &opening {
        apply_as("nu-tenant", &policy(name, from, ports))
            .expect("a namespace editor writes NetworkPolicies");
    }
    for (name, from, ports) in &inside {
        apply_as("nu-tenant", &policy(name, from, ports)).unwrap();
    }
    let found = wait_ports(&baseline, "every opening reported", |_, found| {
        opening.iter().all(|(n, ..)| {
            found
                .iter()
                .any(|f| f.starts_with(&format!("NetworkPolicy {n}:")))
        })
    })
    .await;
    for (n, _, _, how) in &opening {
        let finding = found
            .iter()
            .find(|f| f.starts_with(&format!("NetworkPolicy {n}:")))
            .unwrap();
        assert!(finding.contains(how), "{how:?} not in {finding}");
        assert!(
            finding.contains("which the baseline does not list"),
            "{finding}"
        );
    }
    for (n, ..) in &inside {
        assert!(
            !found
                .iter()
                .any(|f| f.starts_with(&format!("NetworkPolicy {n}:"))),
            "{n} opens only to its own environment: {found:?}"
        );
    }
    assert!(
        !found.iter().any(|f| f.contains(&format!("sb-{name}-"))),
        "the operator's own policies open nothing outside the list: {found:?}"
    );

    for (n, ..) in &opening {
        cluster().kubectl_ok(&["delete", "networkpolicy", n, "-n", &shop]);
    }
    wait_ports(
        &baseline,
        "passes once the openings are gone",
        |state, _| state == ControlState::Pass,
    )
    .await;
    baseline.delete().await;
    delete_isolation(&isolation_api, isolation).await;
}

/// A SecurityBaseline listing 443 and an EnvironmentIsolation, both in Enforce mode, over one
/// namespace: the policies of both together open 443 only, to the environment and the declared
/// flows (a flow without port limits and one listing 22 included), so neither resource reopens
/// what the other closed; both controls pass. In Audit the baseline restricts nothing, and the
/// isolation's policy opens every port to its own environment again.
#[tokio::test]
async fn a_baseline_and_an_isolation_together_open_only_the_listed_ports() {
    let s = Scenario::start().await;
    let key = "nc-env";
    let shop = s
        .namespace("nc-shop", &[(key, "prod"), ("nc-ports", "on")])
        .await;
    s.namespace("nc-orders", &[(key, "prod")]).await;
    s.namespace("nc-qa", &[(key, "stage")]).await;
    s.namespace("nc-play", &[(key, "dev")]).await;
    let isolation = "e2e-nc-envs";
    let _cleanup = DeleteOnDrop("environmentisolation", isolation.to_string());
    let isolation_api = apply_isolation(
        &s.client,
        isolation,
        json!({
            "mode": "Enforce",
            "environments": [environment(key, "prod", true), environment(key, "stage", false), environment(key, "dev", false)],
            "allowedFlows": [
                {"from": "stage", "to": "prod", "ports": [{"port": 443}, {"port": 22}]},
                {"from": "dev", "to": "prod"},
            ],
        }),
    )
    .await;
    let name = "e2e-nc-ports";
    let _sb_cleanup = DeleteOnDrop("securitybaseline", name.to_string());
    let spec = |mode: &str| {
        json!({
            "mode": mode,
            "namespaceSelector": {"matchLabels": {"nc-ports": "on"}},
            "network": {"defaultDeny": ["Ingress"], "allowedIngressPorts": [{"port": 443}]},
        })
    };
    let baseline = s.baseline(name, spec("Enforce")).await;
    let isolation_policy = format!("ei-{isolation}-isolation");
    let https = vec![json!({"port": 443, "protocol": "TCP"})];
    s.wait_until("both resources' policies in place", || async {
        let rules = ingress_rules(&s.client, &shop).await;
        rules.iter().any(|(p, ..)| *p == isolation_policy)
            && rules.iter().any(|(p, ..)| *p == format!("sb-{name}-allow"))
    })
    .await;
    // Converged when every rule is down to 443; asserted below, naming what is open.
    let deadline = std::time::Instant::now() + TIMEOUT;
    while std::time::Instant::now() < deadline
        && !ingress_rules(&s.client, &shop)
            .await
            .iter()
            .all(|(_, _, ports)| ports.as_ref() == Some(&https))
    {
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    let rules = ingress_rules(&s.client, &shop).await;
    for (policy, from, ports) in &rules {
        assert_eq!(
            ports.as_ref(),
            Some(&https),
            "{policy} opens more than 443 to {from}: {rules:#?}"
        );
    }
    let sources: Vec<&Value> = rules
        .iter()
        .filter(|(p, ..)| *p == isolation_policy)
        .map(|(_, from, _)| from)
        .collect();
    assert_eq!(
        sources.len(),
        3,
        "own environment, stage and dev: {rules:#?}"
    );
    wait_ports(&baseline, "restricted-ports passes", |state, _| {
        state == ControlState::Pass
    })
    .await;
    wait_control(
        &isolation_api,
        isolation,
        "environment-segregation",
        "segregation passes",
        |c| c.state == ControlState::Pass,
    )
    .await;

    // The baseline in Audit restricts nothing: the isolation opens its environment again.
    baseline.apply(spec("Audit")).await;
    s.wait_until("the isolation's own rule without ports", || async {
        ingress_rules(&s.client, &shop)
            .await
            .iter()
            .any(|(p, _, ports)| *p == isolation_policy && ports.is_none())
    })
    .await;
    baseline.delete().await;
    delete_isolation(&isolation_api, isolation).await;
}

fn service(ns: &str, name: &str, spec: Value) -> String {
    json!({"apiVersion": "v1", "kind": "Service", "metadata": {"name": name, "namespace": ns}, "spec": spec})
        .to_string()
}

fn alias(ns: &str, name: &str, target: &str) -> String {
    service(
        ns,
        name,
        json!({"type": "ExternalName", "externalName": target}),
    )
}

fn endpoint_slice(ns: &str, name: &str, service: &str, endpoint: Value) -> String {
    json!({"apiVersion": "discovery.k8s.io/v1", "kind": "EndpointSlice",
           "metadata": {"name": name, "namespace": ns, "labels": {"kubernetes.io/service-name": service}},
           "addressType": "IPv4", "endpoints": [endpoint], "ports": [{"port": 5432, "protocol": "TCP"}]})
    .to_string()
}

/// Services that route a namespace of one environment into another's are
/// `environment-segregation` findings: an ExternalName alias of a production Service in every
/// DNS form (`svc.ns`, `svc.ns.svc`, `svc.ns.svc.cluster.local.`), and selectorless Services
/// whose endpoints are a production pod (by the address its node reported, by `targetRef`), a
/// production Service's cluster IP, or a `v1` Endpoints object that kube-controller-manager
/// mirrors into a slice. An alias of an outside host or of the same environment is not. In
/// Enforce mode admission refuses, on create and update, the routes it can see (an alias, a
/// `targetRef`); one only an address shows is admitted and reported.
#[tokio::test]
async fn services_routing_into_another_environment_are_reported_and_refused() {
    let s = Scenario::start().await;
    let key = "rt-env";
    let prod = s.namespace("rt-prod", &[(key, "prod")]).await;
    let dev = s.namespace("rt-dev", &[(key, "dev")]).await;
    s.namespace("rt-dev-b", &[(key, "dev")]).await;
    let isolation = "e2e-rt-envs";
    let _cleanup = DeleteOnDrop("environmentisolation", isolation.to_string());
    let spec = |mode: &str| json!({"mode": mode, "environments": [environment(key, "prod", true), environment(key, "dev", false)]});
    let api = apply_isolation(&s.client, isolation, spec("Audit")).await;
    // Each namespace isolates its ingress, so that the findings are the routes (and fit the
    // ten status keeps).
    for ns in ["rt-prod", "rt-dev", "rt-dev-b"] {
        cluster()
            .apply_yaml(&network_policy(
                ns,
                "deny-ingress",
                json!({"podSelector": {}, "policyTypes": ["Ingress"]}),
            ))
            .unwrap();
    }

    // The production side: a Service, and a pod whose address is patched in as its node's
    // kubelet would report it (this control plane runs no kubelet).
    cluster()
        .apply_yaml(&service(
            &prod,
            "db",
            json!({"selector": {"app": "db"}, "ports": [{"port": 5432}]}),
        ))
        .unwrap();
    cluster()
        .apply_yaml(
            &json!({"apiVersion": "v1", "kind": "Pod",
            "metadata": {"name": "db-0", "namespace": prod, "labels": {"app": "db"}},
            "spec": {"containers": [{"name": "db", "image": "registry.example.com/db:1"}]}})
            .to_string(),
        )
        .unwrap();
    cluster().kubectl_ok(&[
        "patch",
        "pod",
        "db-0",
        "-n",
        &prod,
        "--subresource=status",
        "--type=merge",
        "-p",
        r#"{"status":{"podIP":"10.244.7.7","podIPs":[{"ip":"10.244.7.7"}]}}"#,
    ]);
    let cluster_ip = cluster().kubectl_ok(&[
        "get",
        "service",
        "db",
        "-n",
        &prod,
        "-o",
        "jsonpath={.spec.clusterIP}",
    ]);

    // The development side: a namespace editor's aliases, and (editors may not write
    // endpoints by default, so as an administrator) selectorless Services with endpoints.
    cluster().apply_yaml(&editor_of(&dev, "rt-tenant")).unwrap();
    let aliases = [
        ("alias-short", "db.rt-prod"),
        ("alias-svc", "db.rt-prod.svc"),
        ("alias-fqdn", "db.rt-prod.svc.cluster.local."),
    ];
    for (name, target) in aliases {
        apply_as("rt-tenant", &alias(&dev, name, target)).expect("an editor writes Services");
    }
    apply_as("rt-tenant", &alias(&dev, "outside", "api.example.org")).unwrap();
    apply_as(
        "rt-tenant",
        &alias(&dev, "same-env", "db.rt-dev-b.svc.cluster.local"),
    )
    .unwrap();
    let selectorless = json!({"ports": [{"port": 5432}]});
    for name in ["bridge", "bridge-legacy"] {
        cluster()
            .apply_yaml(&service(&dev, name, selectorless.clone()))
            .unwrap();
    }
    let slices = [
        (
            "bridge-by-ip",
            json!({"addresses": ["10.244.7.7"]}),
            "address 10.244.7.7 (pod rt-prod/db-0)",
        ),
        (
            "bridge-by-ref",
            json!({"addresses": ["192.0.2.10"], "targetRef": {"kind": "Pod", "namespace": prod, "name": "db-0"}}),
            "targetRef Pod rt-prod/db-0",
        ),
        (
            "bridge-by-cluster-ip",
            json!({"addresses": [cluster_ip]}),
            "(Service rt-prod/db)",
        ),
    ];
    for (name, endpoint, _) in &slices {
        cluster()
            .apply_yaml(&endpoint_slice(&dev, name, "bridge", endpoint.clone()))
            .unwrap();
    }
    cluster()
        .apply_yaml(
            &json!({"apiVersion": "v1", "kind": "Endpoints",
            "metadata": {"name": "bridge-legacy", "namespace": dev},
            "subsets": [{"addresses": [{"ip": "10.244.7.7"}], "ports": [{"port": 5432}]}]})
            .to_string(),
        )
        .unwrap();

    let id = "environment-segregation";
    let view = wait_control(&api, isolation, id, "every route reported", |c| {
        let has = |prefix: String| c.findings.iter().any(|f| f.starts_with(&prefix));
        aliases
            .iter()
            .all(|(n, _)| has(format!("Service rt-dev/{n}:")))
            && slices
                .iter()
                .all(|(n, ..)| has(format!("EndpointSlice rt-dev/{n}:")))
            && c.findings
                .iter()
                .any(|f| f.contains("of Service `bridge-legacy`"))
    })
    .await;
    for (n, target) in aliases {
        let finding = view
            .findings
            .iter()
            .find(|f| f.starts_with(&format!("Service rt-dev/{n}:")))
            .unwrap();
        assert!(
            finding.contains(&format!("points at `{target}` in namespace `rt-prod`")),
            "{finding}"
        );
    }
    for (n, _, how) in &slices {
        let finding = view
            .findings
            .iter()
            .find(|f| f.starts_with(&format!("EndpointSlice rt-dev/{n}:")))
            .unwrap();
        assert!(finding.contains(how), "{how} not in {finding}");
    }
    for innocent in ["Service rt-dev/outside:", "Service rt-dev/same-env:"] {
        assert!(
            !view.findings.iter().any(|f| f.starts_with(innocent)),
            "{innocent} {:#?}",
            view.findings
        );
    }

    // Enforce: admission refuses what it can see, on create and on update.
    apply_isolation(&s.client, isolation, spec("Enforce")).await;
    let refused = alias(&dev, "alias-new", "db.rt-prod.svc.cluster.local.");
    s.wait_until("a new alias into production refused", || {
        let r = cluster().rejects(&refused, id);
        async move { r }
    })
    .await;
    let update = apply_as("rt-tenant", &alias(&dev, "outside", "db.rt-prod"));
    assert!(
        update
            .as_ref()
            .is_err_and(|e| e.contains(&format!("[{id}]"))),
        "{update:?}"
    );
    let by_ref = endpoint_slice(&dev, "bridge-new", "bridge", slices[1].1.clone());
    assert!(
        cluster().rejects(&by_ref, id),
        "a slice whose targetRef is in production"
    );
    for admitted in [
        alias(&dev, "outside-new", "api.example.org"),
        alias(&dev, "same-env-new", "db.rt-dev-b"),
        // An address alone: admission cannot know whose it is; status reports it.
        endpoint_slice(&dev, "bridge-by-ip-new", "bridge", slices[0].1.clone()),
    ] {
        cluster().apply_yaml(&admitted).expect("admitted");
    }
    let view = wait_control(
        &api,
        isolation,
        id,
        "the admitted address route reported",
        |c| {
            c.findings
                .iter()
                .any(|f| f.starts_with("EndpointSlice rt-dev/bridge-by-ip-new:"))
        },
    )
    .await;
    assert_eq!(view.state, ControlState::Fail);
    assert!(
        view.findings
            .iter()
            .any(|f| f.starts_with("Service rt-dev/alias-short:")),
        "routes made before Enforce stay reported: {:#?}",
        view.findings
    );

    // A declared flow without port limits from dev to prod carries routes, in admission and
    // in status alike.
    let mut with_flow = spec("Enforce");
    with_flow["allowedFlows"] = json!([{"from": "dev", "to": "prod"}]);
    apply_isolation(&s.client, isolation, with_flow).await;
    s.wait_until("an alias along the declared flow admitted", || {
        let admitted = !cluster().rejects(&refused, id);
        async move { admitted }
    })
    .await;
    wait_control(&api, isolation, id, "routes along the flow pass", |c| {
        !c.findings
            .iter()
            .any(|f| f.starts_with("Service rt-dev/") || f.starts_with("EndpointSlice rt-dev/"))
    })
    .await;

    delete_isolation(&api, isolation).await;
    for ns in [&dev, &prod] {
        let _ = cluster().kubectl(&["delete", "namespace", ns, "--wait=false"]);
    }
}
