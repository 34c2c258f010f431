//! The network promises at the packet level: the NetworkPolicies the operator owns, enforced
//! by the node's kube-router firewall, block and admit real connections between real pods.
//! Each test first shows the probe succeeds without the policy, so a "blocked" result cannot
//! come from a broken probe or a dead server.

use crate::pods::*;
use crate::support::*;
use baseline_operator::api::{EnvironmentIsolation, SecurityBaseline};
use k8s_openapi::api::networking::v1::NetworkPolicy;
use kube::api::{Api, DeleteParams};
use serde_json::json;
use std::time::Duration;

const TIMEOUT: Duration = Duration::from_secs(60);
/// The port the baseline lists, and one it does not.
const LISTED: u16 = 8443;
const UNLISTED: u16 = 8080;

async fn policy_names(client: &kube::Client, ns: &str) -> Vec<String> {
    let api: Api<NetworkPolicy> = Api::namespaced(client.clone(), ns);
    api.list(&Default::default())
        .await
        .unwrap()
        .items
        .into_iter()
        .filter_map(|p| p.metadata.name)
        .collect()
}

/// `restricted-ports` enforced: the listed port of a selected namespace stays reachable from
/// another namespace, the unlisted one stops answering; the egress default-deny stops the
/// namespace's own pods from connecting out. Deleting the baseline opens everything again.
#[tokio::test(flavor = "multi_thread")]
async fn restricted_ports_blocks_unlisted_ports_on_running_pods() {
    node_cluster();
    operator();
    let _serial = serial().await;
    let client = client().await;
    let ns = namespace(&client, "node-ports", &[("e2e-node", "ports")]).await;
    let outside = namespace(&client, "node-outside", &[]).await;
    let server = server(&ns, "server", "app: server", &[LISTED, UNLISTED]);
    let outside_server = server_in(&outside);
    client_pod(&outside);
    client_pod(&ns);

    // Without a policy every path is open: the probe works.
    wait_reachability("no policy yet", &outside, "client", &server, UNLISTED, true);
    wait_reachability("no policy yet", &outside, "client", &server, LISTED, true);
    wait_reachability(
        "no policy yet",
        &ns,
        "client",
        &outside_server,
        UNLISTED,
        true,
    );

    let name = "node-ports";
    let api: Api<SecurityBaseline> = apply_cr(
        &client,
        name,
        json!({
            "mode": "Enforce",
            "namespaceSelector": {"matchLabels": {"e2e-node": "ports"}},
            "network": {"defaultDeny": ["Ingress", "Egress"], "allowedIngressPorts": [{"port": LISTED}]},
        }),
    )
    .await;
    wait_until("owned NetworkPolicies in place", TIMEOUT, || async {
        let names = policy_names(&client, &ns).await;
        names.contains(&format!("sb-{name}-default-deny"))
            && names.contains(&format!("sb-{name}-allow"))
    })
    .await;

    wait_reachability(
        "unlisted port under restricted-ports",
        &outside,
        "client",
        &server,
        UNLISTED,
        false,
    );
    assert_steady(
        "listed port under restricted-ports",
        &outside,
        "client",
        &server,
        LISTED,
        true,
    );
    assert_steady(
        "unlisted port under restricted-ports",
        &outside,
        "client",
        &server,
        UNLISTED,
        false,
    );
    assert_steady(
        "egress default-deny",
        &ns,
        "client",
        &outside_server,
        UNLISTED,
        false,
    );

    let _ = api.delete(name, &DeleteParams::default()).await;
    wait_until("owned NetworkPolicies removed", TIMEOUT, || async {
        policy_names(&client, &ns).await.is_empty()
    })
    .await;
    wait_reachability(
        "baseline deleted",
        &outside,
        "client",
        &server,
        UNLISTED,
        true,
    );
    wait_reachability(
        "baseline deleted",
        &ns,
        "client",
        &outside_server,
        UNLISTED,
        true,
    );
}

/// `environment-segregation` enforced: a development pod cannot connect to a production pod,
/// while the declared flow (staging -> production on its port) works, and only on that port.
#[tokio::test(flavor = "multi_thread")]
async fn environment_segregation_blocks_development_but_not_the_declared_flow() {
    node_cluster();
    operator();
    let _serial = serial().await;
    let client = client().await;
    let prod = namespace(&client, "node-prod", &[("e2e-node-env", "prod")]).await;
    let stage = namespace(&client, "node-stage", &[("e2e-node-env", "stage")]).await;
    let dev = namespace(&client, "node-dev", &[("e2e-node-env", "dev")]).await;
    let server = server(&prod, "server", "app: server", &[LISTED, UNLISTED]);
    client_pod(&stage);
    client_pod(&dev);
    client_pod(&prod);

    wait_reachability("no isolation yet", &dev, "client", &server, LISTED, true);
    wait_reachability(
        "no isolation yet",
        &stage,
        "client",
        &server,
        UNLISTED,
        true,
    );

    let env = |name: &str, production: bool| json!({"name": name, "production": production, "namespaceSelector": {"matchLabels": {"e2e-node-env": name}}});
    let name = "node-segregation";
    let api: Api<EnvironmentIsolation> = apply_cr(
        &client,
        name,
        json!({
            "mode": "Enforce",
            "environments": [env("prod", true), env("stage", false), env("dev", false)],
            "allowedFlows": [{"from": "stage", "to": "prod", "ports": [{"port": LISTED}]}],
        }),
    )
    .await;
    wait_until("isolation NetworkPolicies in place", TIMEOUT, || async {
        let mut all = true;
        for ns in [&prod, &stage, &dev] {
            all &= !policy_names(&client, ns).await.is_empty();
        }
        all
    })
    .await;

    wait_reachability(
        "development -> production",
        &dev,
        "client",
        &server,
        LISTED,
        false,
    );
    assert_steady(
        "development -> production",
        &dev,
        "client",
        &server,
        LISTED,
        false,
    );
    assert_steady(
        "declared flow staging -> production",
        &stage,
        "client",
        &server,
        LISTED,
        true,
    );
    assert_steady(
        "staging -> production on an undeclared port",
        &stage,
        "client",
        &server,
        UNLISTED,
        false,
    );
    assert_steady(
        "inside production",
        &prod,
        "client",
        &server,
        UNLISTED,
        true,
    );

    let _ = api.delete(name, &DeleteParams::default()).await;
    wait_until("isolation NetworkPolicies removed", TIMEOUT, || async {
        policy_names(&client, &prod).await.is_empty()
    })
    .await;
    wait_reachability("isolation deleted", &dev, "client", &server, LISTED, true);
}

fn server_in(ns: &str) -> String {
    server(ns, "server", "app: server", &[UNLISTED])
}

fn client_pod(ns: &str) -> String {
    prober(ns, "client", "app: client")
}
