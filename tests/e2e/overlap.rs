//! Two SecurityBaselines in Enforce mode select the same namespace: one Pod Security label set
//! (the strictest level), one set of NetworkPolicies (the first name), no flapping, the overlap
//! said on both; and when the writer goes, the other takes over.

use crate::environment_isolation::DeleteOnDrop;
use crate::support::*;
use baseline_operator::api::SecurityBaseline;
use k8s_openapi::api::core::v1::Namespace;
use kube::api::{Api, DeleteParams};
use serde_json::json;
use std::time::Duration;

const TIMEOUT: Duration = Duration::from_secs(45);
const NS: &str = "e2e-overlap";

fn spec(level: &str) -> serde_json::Value {
    json!({
        "mode": "Enforce",
        "namespaceSelector": {"matchLabels": {"e2e-overlap": "yes"}},
        "network": {"defaultDeny": ["Ingress"]},
        "podSecurity": {"level": level},
    })
}

async fn enforce_level(client: &kube::Client) -> Option<String> {
    let api: Api<Namespace> = Api::all(client.clone());
    api.get(NS)
        .await
        .unwrap()
        .metadata
        .labels
        .unwrap_or_default()
        .get("pod-security.kubernetes.io/enforce")
        .cloned()
}

fn owned_policies() -> Vec<String> {
    let out = cluster().kubectl_ok(&[
        "get",
        "networkpolicies",
        "-n",
        NS,
        "-l",
        "app.kubernetes.io/managed-by=baseline-operator",
        "-o",
        "jsonpath={.items[*].metadata.name}",
    ]);
    out.split_whitespace().map(String::from).collect()
}

fn condition(sb: &SecurityBaseline, type_: &str) -> String {
    sb.status
        .as_ref()
        .and_then(|s| s.conditions.iter().find(|c| c.type_ == type_))
        .map(|c| c.message.clone())
        .unwrap_or_default()
}

#[tokio::test]
async fn overlapping_baselines_have_one_writer_per_mechanism_and_hand_over() {
    let s = Scenario::start().await.timeout(TIMEOUT);
    let operator = operator();
    s.namespace(NS, &[("e2e-overlap", "yes")]).await;
    let _a = DeleteOnDrop("securitybaseline", "e2e-overlap-a".into());
    let _b = DeleteOnDrop("securitybaseline", "e2e-overlap-b".into());
    // "a" sorts first (it writes the NetworkPolicies); "b" is stricter (it writes the labels).
    let a: Api<SecurityBaseline> = apply_cr(&s.client, "e2e-overlap-a", spec("baseline")).await;
    apply_cr::<SecurityBaseline>(&s.client, "e2e-overlap-b", spec("restricted")).await;
    s.wait_until("the strictest level and one policy set", || async {
        enforce_level(&s.client).await.as_deref() == Some("restricted")
            && !owned_policies().is_empty()
            && owned_policies()
                .iter()
                .all(|p| p.starts_with("sb-e2e-overlap-a-"))
    })
    .await;
    settle_writes().await;
    // Converged: both reconcile again (a resync of each), and nothing is written.
    let writes = operator.metrics.total_writes();
    for name in ["e2e-overlap-a", "e2e-overlap-b"] {
        cluster().kubectl_ok(&[
            "annotate",
            "securitybaseline",
            name,
            "e2e/poke=1",
            "--overwrite",
        ]);
    }
    settle_writes().await;
    assert_eq!(
        operator.metrics.total_writes(),
        writes,
        "the two baselines fight over the namespace:\n{}",
        operator.metrics.encode()
    );
    assert_eq!(
        enforce_level(&s.client).await.as_deref(),
        Some("restricted")
    );
    let sb_a = a.get("e2e-overlap-a").await.unwrap();
    let sb_b = a.get("e2e-overlap-b").await.unwrap();
    assert!(
        condition(&sb_a, "WorkloadHardening")
            .contains("also selected by SecurityBaseline e2e-overlap-b, which writes their Pod Security labels"),
        "{}",
        condition(&sb_a, "WorkloadHardening")
    );
    assert!(
        condition(&sb_b, "RestrictedPorts").contains(
            "also selected by SecurityBaseline e2e-overlap-a, which writes their NetworkPolicies"
        ),
        "{}",
        condition(&sb_b, "RestrictedPorts")
    );

    // The writer of the labels goes: the other takes over with its own level, and the
    // policies stay one set.
    a.delete("e2e-overlap-b", &DeleteParams::default())
        .await
        .unwrap();
    s.wait_until("labels handed over", || async {
        enforce_level(&s.client).await.as_deref() == Some("baseline")
    })
    .await;
    a.delete("e2e-overlap-a", &DeleteParams::default())
        .await
        .unwrap();
    s.wait_until("everything removed with the last baseline", || async {
        enforce_level(&s.client).await.is_none() && owned_policies().is_empty()
    })
    .await;
}
