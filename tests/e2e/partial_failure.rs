//! One bad namespace never stops the rest: someone else's admission policy refuses the
//! operator's NetworkPolicies in one namespace; the others are still enforced, status names
//! the refused write with Ready=False, the evaluation shows the gap where it is, and the
//! operator recovers once the refusal is gone. A burst of changes in a selected namespace
//! costs a handful of evaluations, not one per change.

use crate::environment_isolation::DeleteOnDrop;
use crate::support::*;
use baseline_operator::api::{ControlState, SecurityBaseline};
use k8s_openapi::api::core::v1::{ConfigMap, Namespace};
use k8s_openapi::api::networking::v1::NetworkPolicy;
use kube::api::{Api, ListParams, Patch, PatchParams, PostParams};
use serde_json::json;
use std::time::Duration;

const TIMEOUT: Duration = Duration::from_secs(60);
const BLOCKED: &str = "e2e-pf-a-blocked";
const OPEN: &str = "e2e-pf-b-open";
const FOREIGN: &str = "e2e-pf-foreign-deny";

fn foreign_policy(namespace: &str) -> String {
    format!(
        r#"apiVersion: admissionregistration.k8s.io/v1
kind: ValidatingAdmissionPolicy
metadata: {{name: {FOREIGN}}}
spec:
  failurePolicy: Fail
  matchConstraints:
    resourceRules:
    - apiGroups: ["networking.k8s.io"]
      apiVersions: ["v1"]
      operations: ["CREATE", "UPDATE"]
      resources: ["networkpolicies"]
  validations:
  - expression: "false"
    message: another team's policy forbids NetworkPolicies here
---
apiVersion: admissionregistration.k8s.io/v1
kind: ValidatingAdmissionPolicyBinding
metadata: {{name: {FOREIGN}}}
spec:
  policyName: {FOREIGN}
  validationActions: [Deny]
  matchResources:
    namespaceSelector:
      matchLabels: {{kubernetes.io/metadata.name: {namespace}}}
"#
    )
}

async fn owned_policies(client: &kube::Client, ns: &str) -> usize {
    let api: Api<NetworkPolicy> = Api::namespaced(client.clone(), ns);
    api.list(&ListParams::default().labels("app.kubernetes.io/managed-by=baseline-operator"))
        .await
        .map_or(0, |l| l.items.len())
}

fn ready(sb: &SecurityBaseline) -> Option<(String, String, String)> {
    let c = sb
        .status
        .as_ref()?
        .conditions
        .iter()
        .find(|c| c.type_ == "Ready")?;
    Some((c.status.clone(), c.reason.clone(), c.message.clone()))
}

fn failing_namespaces(sb: &SecurityBaseline) -> Vec<String> {
    sb.status
        .as_ref()
        .and_then(|s| {
            s.controls
                .iter()
                .find(|c| c.id.as_str() == "restricted-ports")
        })
        .filter(|c| c.state == ControlState::Fail)
        .map(|c| {
            // A missing default-deny is a finding about the Namespace object itself.
            let mut names: Vec<String> = c
                .findings
                .iter()
                .map(|f| f.namespace.clone().unwrap_or_else(|| f.name.clone()))
                .collect();
            names.dedup();
            names
        })
        .unwrap_or_default()
}

#[tokio::test]
async fn a_refused_write_in_one_namespace_leaves_the_others_enforced() {
    let s = Scenario::start().await.timeout(TIMEOUT);
    let labels = [("e2e-pf", "yes")];
    s.namespace(BLOCKED, &labels).await;
    s.namespace(OPEN, &labels).await;
    let _policy = DeleteOnDrop("validatingadmissionpolicy", FOREIGN.into());
    let _binding = DeleteOnDrop("validatingadmissionpolicybinding", FOREIGN.into());
    cluster()
        .apply_yaml(&foreign_policy(BLOCKED))
        .expect("foreign policy");
    // The API server's policy cache lags the stored objects: wait until it refuses.
    let probe = json!({"apiVersion": "networking.k8s.io/v1", "kind": "NetworkPolicy",
        "metadata": {"name": "probe"}, "spec": {"podSelector": {}}});
    let probes: Api<NetworkPolicy> = Api::namespaced(s.client.clone(), BLOCKED);
    s.wait_until("the foreign policy refuses", || async {
        let np: NetworkPolicy = serde_json::from_value(probe.clone()).unwrap();
        match probes.create(&PostParams::default(), &np).await {
            Ok(_) => {
                let _ = probes.delete("probe", &Default::default()).await;
                false
            }
            Err(_) => true,
        }
    })
    .await;

    let name = "e2e-pf";
    let _sb = DeleteOnDrop("securitybaseline", name.into());
    let baseline = s
        .baseline(
            name,
            json!({
                "mode": "Enforce",
                "namespaceSelector": {"matchLabels": {"e2e-pf": "yes"}},
                "network": {"defaultDeny": ["Ingress"]},
                "podSecurity": {"level": "baseline"},
            }),
        )
        .await;
    // The blocked namespace sorts first: before, its refusal ended the reconcile there.
    let namespaces: Api<Namespace> = Api::all(s.client.clone());
    let scenario = &s;
    let enforce_level = move |ns: &'static str| async move {
        scenario
            .labels(ns)
            .await
            .get("pod-security.kubernetes.io/enforce")
            .cloned()
    };
    // The blocked namespace sorts first: before, its refusal ended the reconcile there, and
    // neither the open namespace's policies nor any labels (written after them) followed.
    s.wait_until(
        "the open namespace enforced while the blocked one is refused",
        || async {
            owned_policies(&s.client, OPEN).await > 0
                && enforce_level(OPEN).await.as_deref() == Some("baseline")
        },
    )
    .await;
    assert_eq!(
        enforce_level(BLOCKED).await.as_deref(),
        Some("baseline"),
        "the labels do not depend on the refused NetworkPolicy"
    );
    assert_eq!(owned_policies(&s.client, BLOCKED).await, 0);
    let deadline = std::time::Instant::now() + TIMEOUT;
    let sb = loop {
        let sb = baseline.get().await;
        let named = ready(&sb).is_some_and(|(status, _, message)| {
            status == "False" && message.contains(BLOCKED) && !message.contains(OPEN)
        });
        if named && failing_namespaces(&sb) == [BLOCKED] {
            break sb;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "status never named the refused write: {:?} {:?}\n{}",
            ready(&sb),
            failing_namespaces(&sb),
            serde_json::to_string_pretty(&sb.status).unwrap()
        );
        tokio::time::sleep(Duration::from_millis(250)).await;
    };
    assert!(
        sb.status.as_ref().unwrap().observed_generation == sb.metadata.generation,
        "the evaluation of this generation is recorded despite the failure"
    );

    // Another team lifts its policy; the next trigger (or the backoff) converges.
    cluster().kubectl(&["delete", "validatingadmissionpolicybinding", FOREIGN]);
    cluster().kubectl(&["delete", "validatingadmissionpolicy", FOREIGN]);
    s.wait_until("the blocked namespace enforced too", || async {
        // Touching the namespace is an ordinary trigger; the policy cache may still lag.
        let touch = json!({"metadata": {"annotations": {"e2e-pf/touched": jiff::Timestamp::now().to_string()}}});
        let _ = namespaces
            .patch(BLOCKED, &PatchParams::default(), &Patch::Merge(&touch))
            .await;
        let sb = baseline.get().await;
        owned_policies(&s.client, BLOCKED).await > 0
            && ready(&sb).is_some_and(|(status, _, _)| status == "True")
            && failing_namespaces(&sb).is_empty()
    })
    .await;
}

/// How many times the in-process operator has started reconciling `name`.
fn reconciles_of(name: &str) -> usize {
    let needle = format!("\"name\":\"{name}\"");
    logs()
        .lines()
        .filter(|l| l.contains("\"reconciling\"") && l.contains(&needle))
        .count()
}

#[tokio::test]
async fn a_burst_of_changes_costs_a_few_evaluations_not_one_each() {
    let s = Scenario::start().await.timeout(TIMEOUT);
    let ns = s
        .namespace("e2e-pf-burst", &[("e2e-pf-burst", "yes")])
        .await;
    let name = "e2e-pf-burst";
    let _sb = DeleteOnDrop("securitybaseline", name.into());
    let baseline = s
        .baseline(
            name,
            json!({"mode": "Audit", "namespaceSelector": {"matchLabels": {"e2e-pf-burst": "yes"}},
               "network": {"defaultDeny": ["Ingress"]}}),
        )
        .await;
    s.wait_until("evaluated", || async {
        baseline
            .api
            .get(name)
            .await
            .unwrap()
            .status
            .is_some_and(|s| s.observed_generation.is_some())
    })
    .await;
    settle_writes().await;
    tokio::time::sleep(Duration::from_secs(2)).await;
    let before = reconciles_of(name);
    assert!(before > 0, "the reconcile log line is there to count");
    // 100 changes in the selected namespace, 20 ms apart: two seconds of churn.
    let config_maps: Api<ConfigMap> = Api::namespaced(s.client.clone(), &ns);
    for i in 0..100 {
        let cm: ConfigMap =
            serde_json::from_value(json!({"metadata": {"name": format!("burst-{i}")}})).unwrap();
        config_maps
            .create(&PostParams::default(), &cm)
            .await
            .unwrap();
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    tokio::time::sleep(Duration::from_secs(3)).await;
    let during = reconciles_of(name) - before;
    assert!(
        (1..=5).contains(&during),
        "100 changes cost {during} reconciles"
    );
}
