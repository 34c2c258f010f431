//! The control plane itself: versions, CRDs served, garbage collection.

use crate::support::*;
use baseline_operator::api::SecurityBaseline;
use k8s_openapi::api::core::v1::ConfigMap;
use kube::api::{Api, DeleteParams, PostParams};
use std::time::Duration;

#[test]
fn kubectl_reports_the_pinned_server_version() {
    let cluster = cluster();
    let go_mod = std::fs::read_to_string(format!("{REPO}/tests/cluster/k8s/go.mod")).unwrap();
    let pinned = go_mod
        .lines()
        .find_map(|l| l.trim().strip_prefix("k8s.io/kubernetes "))
        .or_else(|| {
            go_mod
                .lines()
                .find_map(|l| l.trim().strip_prefix("require k8s.io/kubernetes "))
        })
        .expect("k8s.io/kubernetes pin in go.mod")
        .trim()
        .to_string();
    let version = cluster.kubectl_ok(&["version", "-o", "json"]);
    let json: serde_json::Value = serde_json::from_str(&version).unwrap();
    assert_eq!(json["serverVersion"]["gitVersion"], pinned.as_str());
    assert_eq!(json["clientVersion"]["gitVersion"], pinned.as_str());
}

#[test]
fn crds_are_served_with_short_names() {
    let out = cluster().kubectl_ok(&["get", "sb,bp,ei"]);
    assert!(!out.contains("error"), "{out}");
    let resources = cluster().kubectl_ok(&[
        "api-resources",
        "--api-group=security.baseline.dev",
        "-o",
        "wide",
    ]);
    for short in ["sb", "bp", "ei"] {
        assert!(
            resources.split_whitespace().any(|w| w == short),
            "short name {short} missing:\n{resources}"
        );
    }
    assert!(
        resources.contains("baseline"),
        "category missing:\n{resources}"
    );
}

#[tokio::test]
async fn garbage_collector_removes_objects_owned_by_a_deleted_cr() {
    let client = client().await;
    let ns = namespace(&client, "e2e-gc", &[]).await;
    let baselines: Api<SecurityBaseline> = Api::all(client.clone());
    let sb: SecurityBaseline = serde_json::from_value(serde_json::json!({
        "apiVersion": "security.baseline.dev/v1alpha1", "kind": "SecurityBaseline",
        "metadata": {"name": "e2e-gc-owner"},
        "spec": {"namespaceSelector": {"matchLabels": {"e2e": "gc-nothing"}}},
    }))
    .unwrap();
    let _ = baselines
        .delete("e2e-gc-owner", &DeleteParams::default())
        .await;
    let sb = baselines.create(&PostParams::default(), &sb).await.unwrap();
    let config_maps: Api<ConfigMap> = Api::namespaced(client.clone(), &ns);
    let cm: ConfigMap = serde_json::from_value(serde_json::json!({
        "metadata": {"name": "owned", "ownerReferences": [{
            "apiVersion": "security.baseline.dev/v1alpha1", "kind": "SecurityBaseline",
            "name": "e2e-gc-owner", "uid": sb.metadata.uid.clone().unwrap(),
        }]},
    }))
    .unwrap();
    config_maps
        .create(&PostParams::default(), &cm)
        .await
        .unwrap();
    // No operator runs here, so no finalizer holds the CR.
    baselines
        .delete("e2e-gc-owner", &DeleteParams::default())
        .await
        .unwrap();
    wait_until(
        "garbage collector deletes the dependent",
        Duration::from_secs(60),
        || async { config_maps.get_opt("owned").await.unwrap().is_none() },
    )
    .await;
}
