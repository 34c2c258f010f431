//! The incremental engine runs inside the operator in shadow: fed by the real watches, it is
//! compared every `ENGINE_CHECK` with a from-scratch evaluation of every SecurityBaseline,
//! EnvironmentIsolation and BackupPolicy (metrics `engine_checks`, `engine_divergences`). Every e2e scenario before this one ran
//! with those checks on; this one drives the events the engine must follow (a namespace
//! joining and leaving the selection, objects created, changed and deleted, a spec change)
//! and requires that no comparison since the operator started has disagreed.

use crate::environment_isolation::DeleteOnDrop;
use crate::support::*;
use baseline_operator::api::{BackupPolicy, SecurityBaseline};
use k8s_openapi::api::core::v1::Namespace;
use kube::api::{Api, Patch, PatchParams};
use serde_json::json;
use std::time::Duration;

const TIMEOUT: Duration = Duration::from_secs(60);

fn pod(ns: &str, name: &str, image: &str) -> String {
    format!(
        "apiVersion: v1\nkind: Pod\nmetadata: {{name: {name}, namespace: {ns}}}\nspec:\n  containers: [{{name: app, image: \"{image}\"}}]\n"
    )
}

#[tokio::test]
async fn the_incremental_engine_agrees_with_a_full_recompute_on_real_watches() {
    let s = Scenario::start().await.timeout(TIMEOUT);
    let operator = operator();
    let a = s.namespace("e2e-shadow-a", &[("e2e-shadow", "in")]).await;
    let b = s.namespace("e2e-shadow-b", &[("e2e-shadow", "out")]).await;
    let _cleanup = DeleteOnDrop("securitybaseline", "e2e-shadow".into());
    let spec = |registry: &str| {
        json!({
            "mode": "Audit",
            "namespaceSelector": {"matchLabels": {"e2e-shadow": "in"}},
            "network": {"defaultDeny": ["Ingress"], "allowedIngressPorts": [{"port": 443}]},
            "images": {"allowedRegistries": [registry], "disallowLatestTag": true},
            "resources": {"requireRequests": true},
        })
    };
    let api =
        apply_cr::<SecurityBaseline>(&s.client, "e2e-shadow", spec("registry.example.com/")).await;
    // A BackupPolicy over the same selection: its per-namespace part is kept by the engine
    // and follows the same relabels.
    let _policy_cleanup = DeleteOnDrop("backuppolicy", "e2e-shadow".into());
    apply_cr::<BackupPolicy>(
        &s.client,
        "e2e-shadow",
        json!({"mode": "Audit", "namespaceSelector": {"matchLabels": {"e2e-shadow": "in"}},
               "rpo": "24h"}),
    )
    .await;
    cluster()
        .apply_yaml(&pod(&a, "web", "nginx:latest"))
        .unwrap();
    cluster()
        .apply_yaml(&pod(&b, "web", "registry.example.com/web:1"))
        .unwrap();
    // b joins the selection, a leaves it, a comes back.
    let namespaces: Api<Namespace> = Api::all(s.client.clone());
    let relabel = |value: &'static str| json!({"metadata": {"labels": {"e2e-shadow": value}}});
    namespaces
        .patch(&b, &PatchParams::default(), &Patch::Merge(relabel("in")))
        .await
        .unwrap();
    namespaces
        .patch(&a, &PatchParams::default(), &Patch::Merge(relabel("out")))
        .await
        .unwrap();
    namespaces
        .patch(&a, &PatchParams::default(), &Patch::Merge(relabel("in")))
        .await
        .unwrap();
    // An object changed and one deleted; a NetworkPolicy the restricted-ports control judges.
    cluster()
        .apply_yaml(&pod(&b, "batch", "nginx:1.27"))
        .unwrap();
    cluster().kubectl(&["delete", "pod", "web", "-n", &a, "--wait=false"]);
    cluster()
        .apply_yaml(&format!(
            "apiVersion: networking.k8s.io/v1\nkind: NetworkPolicy\nmetadata: {{name: deny, namespace: {b}}}\nspec: {{podSelector: {{}}, policyTypes: [Ingress]}}\n"
        ))
        .unwrap();
    // The spec changes: every namespace is judged again.
    apply_cr::<SecurityBaseline>(&s.client, "e2e-shadow", spec("nginx")).await;
    s.wait_until("the baseline evaluated its last spec", || async {
        api.get("e2e-shadow").await.is_ok_and(|sb| {
            sb.status
                .is_some_and(|s| s.observed_generation == sb.metadata.generation)
        })
    })
    .await;

    // Two rounds of comparisons after the last change, then: no disagreement, ever.
    let checks = operator.metrics.engine_checks.get();
    s.wait_until("two engine checks after the last change", || async {
        operator.metrics.engine_checks.get() >= checks + 2
    })
    .await;
    tokio::time::sleep(Duration::from_millis(100)).await;
    operator.assert_engine_never_diverged("after every kind of change");
}
