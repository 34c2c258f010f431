//! A pod is vouched for by a template only when it is exactly that template: the pods the real
//! kube-controller-manager makes from a ReplicaSet are, and hand-made pods claiming the same
//! owner with a hostPath volume named like the token volume, an AppArmor annotation the
//! template lacks, or a Job that had already finished are judged themselves, and found.

use crate::support::*;
use baseline_operator::api::{ControlState, SecurityBaseline};
use k8s_openapi::api::apps::v1::ReplicaSet;
use k8s_openapi::api::batch::v1::Job;
use k8s_openapi::api::core::v1::Pod;
use kube::Client;
use kube::api::{Api, DeleteParams, PostParams};
use serde_json::{Value, json};
use std::time::Duration;

const TIMEOUT: Duration = Duration::from_secs(60);
/// The ReplicaSet controller deletes the pods with the lowest deletion cost first when it has
/// one too many: the hand-made pods stay, one of its own goes.
const DELETION_COST: &str = "controller.kubernetes.io/pod-deletion-cost";

fn workload_hardening(sb: &SecurityBaseline) -> Option<(ControlState, Vec<String>)> {
    let c = sb
        .status
        .as_ref()?
        .controls
        .iter()
        .find(|c| c.id.as_str() == "workload-hardening")?;
    Some((
        c.state,
        c.findings
            .iter()
            .map(|f| format!("{} {}: {}", f.kind, f.name, f.message))
            .collect(),
    ))
}

async fn findings(api: &Api<SecurityBaseline>, name: &str) -> Vec<String> {
    let sb = api.get(name).await.unwrap();
    workload_hardening(&sb).map(|(_, f)| f).unwrap_or_default()
}

/// Waits until every `expected` prefix starts a finding; on timeout, says what was found.
async fn wait_findings(api: &Api<SecurityBaseline>, name: &str, what: &str, expected: &[&str]) {
    let deadline = std::time::Instant::now() + TIMEOUT;
    loop {
        let seen = findings(api, name).await;
        if expected
            .iter()
            .all(|e| seen.iter().any(|f| f.starts_with(e)))
        {
            return;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "timed out waiting for: {what}\nfindings: {seen:?}"
        );
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}

/// The ReplicaSet the real controller-manager made for Deployment `app` (by its label).
async fn replica_set_of(client: &Client, ns: &str, app: &str) -> ReplicaSet {
    let api: Api<ReplicaSet> = Api::namespaced(client.clone(), ns);
    let deadline = std::time::Instant::now() + TIMEOUT;
    loop {
        let list = api
            .list(&kube::api::ListParams::default().labels(&format!("app={app}")))
            .await
            .unwrap();
        if let Some(rs) = list.items.into_iter().next() {
            return rs;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "no ReplicaSet for {app}"
        );
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}

/// A pod written by hand from `template` (a ReplicaSet's or Job's, as stored), claiming
/// `owner` as its controller, changed by `change`.
fn hand_made(
    name: &str,
    ns: &str,
    owner: (&str, &str, &str, &str),
    template: &Value,
    change: impl Fn(&mut Value),
) -> Pod {
    let (api_version, kind, owner_name, uid) = owner;
    let mut pod = json!({
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {
            "name": name,
            "namespace": ns,
            "labels": template["metadata"]["labels"],
            "annotations": {DELETION_COST: "1000"},
            "ownerReferences": [{"apiVersion": api_version, "kind": kind, "name": owner_name,
                "uid": uid, "controller": true, "blockOwnerDeletion": true}],
        },
        "spec": template["spec"],
    });
    change(&mut pod);
    serde_json::from_value(pod).unwrap()
}

async fn pods_named(client: &Client, ns: &str) -> Vec<String> {
    let api: Api<Pod> = Api::namespaced(client.clone(), ns);
    api.list(&Default::default())
        .await
        .unwrap()
        .items
        .into_iter()
        .filter_map(|p| p.metadata.name)
        .collect()
}

#[tokio::test]
async fn a_pod_differing_from_its_replica_sets_template_in_what_pod_security_reads_is_judged_itself()
 {
    let s = Scenario::start().await.timeout(TIMEOUT);
    let ns = s
        .namespace("e2e-tv-replicas", &[("e2e-tv", "replicas")])
        .await;
    cluster()
        .apply_yaml(&format!(
            r#"
apiVersion: apps/v1
kind: Deployment
metadata: {{name: shop, namespace: {ns}}}
spec:
  replicas: 2
  selector: {{matchLabels: {{app: shop}}}}
  template:
    metadata: {{labels: {{app: shop}}}}
    spec: {{containers: [{{name: shop, image: "registry.example.com/shop:1"}}]}}
---
apiVersion: apps/v1
kind: Deployment
metadata: {{name: win, namespace: {ns}}}
spec:
  replicas: 2
  selector: {{matchLabels: {{app: win}}}}
  template:
    metadata: {{labels: {{app: win}}}}
    spec:
      os: {{name: windows}}
      containers: [{{name: win, image: "registry.example.com/win:1"}}]
"#
        ))
        .expect("create the Deployments");
    let pods: Api<Pod> = Api::namespaced(s.client.clone(), &ns);
    s.wait_until(
        "the controller-manager makes both Deployments' pods",
        || async { pods.list(&Default::default()).await.unwrap().items.len() == 4 },
    )
    .await;
    let name = "e2e-template-vouching";
    let baseline = s
        .baseline(
            name,
            json!({
                "mode": "Audit",
                "namespaceSelector": {"matchLabels": {"e2e-tv": "replicas"}},
                "podSecurity": {"level": "baseline"},
            }),
        )
        .await;
    s.wait_until("workload-hardening evaluated", || async {
        workload_hardening(&baseline.get().await)
            .is_some_and(|(state, _)| state == ControlState::Pass)
    })
    .await;

    for (app, pod_name, change) in [
        (
            "shop",
            "hides-host-path",
            // The ServiceAccount admission plugin takes a volume named kube-api-access-* for
            // the token volume and mounts it at the token path in every container.
            Box::new(|pod: &mut Value| {
                pod["spec"]["volumes"] =
                    json!([{"name": "kube-api-access-x", "hostPath": {"path": "/"}}]);
            }) as Box<dyn Fn(&mut Value)>,
        ),
        (
            "win",
            "apparmor-unconfined",
            // On a Windows pod the API server neither copies the annotation into the field
            // nor checks the two agree: only the annotation says it, and Pod Security reads it.
            Box::new(|pod: &mut Value| {
                pod["metadata"]["annotations"]["container.apparmor.security.beta.kubernetes.io/win"] =
                    json!("unconfined");
            }),
        ),
    ] {
        let rs = replica_set_of(&s.client, &ns, app).await;
        let template = serde_json::to_value(rs.spec.template.as_ref().unwrap()).unwrap();
        let owner = (
            "apps/v1",
            "ReplicaSet",
            rs.metadata.name.as_deref().unwrap(),
            rs.metadata.uid.as_deref().unwrap(),
        );
        pods.create(
            &PostParams::default(),
            &hand_made(pod_name, &ns, owner, &template, change),
        )
        .await
        .unwrap_or_else(|e| panic!("creating {pod_name}: {e}"));
    }

    let expected = ["Pod apparmor-unconfined: ", "Pod hides-host-path: "];
    wait_findings(
        &baseline.api,
        name,
        "both hand-made pods are judged themselves and found",
        &expected,
    )
    .await;
    let seen = findings(&baseline.api, name).await;
    assert!(
        seen.iter()
            .any(|f| f.starts_with("Pod hides-host-path: ") && f.contains("hostPath")),
        "{seen:?}"
    );
    assert!(
        seen.iter()
            .any(|f| f.starts_with("Pod apparmor-unconfined: ") && f.contains("AppArmor")),
        "{seen:?}"
    );
    // The pods the controller-manager made (with the real token volume the API server added)
    // are vouched for by their compliant templates: no finding of their own.
    assert_eq!(seen.len(), expected.len(), "{seen:?}");
    let names = pods_named(&s.client, &ns).await;
    assert!(
        names.iter().any(|n| n.starts_with("shop-")) && names.iter().any(|n| n.starts_with("win-")),
        "the controller-manager's own pods are still there: {names:?}"
    );
    let _ = baseline.api.delete(name, &DeleteParams::default()).await;
}

#[tokio::test]
async fn a_pod_made_for_a_finished_job_is_judged_itself() {
    let s = Scenario::start().await.timeout(TIMEOUT);
    let ns = s.namespace("e2e-tv-job", &[("e2e-tv", "job")]).await;
    // No kubelet runs pods here: the Job controller itself fails the Job at its deadline.
    cluster()
        .apply_yaml(&format!(
            r#"
apiVersion: batch/v1
kind: Job
metadata: {{name: batch, namespace: {ns}}}
spec:
  activeDeadlineSeconds: 1
  template:
    spec:
      restartPolicy: Never
      containers: [{{name: batch, image: "registry.example.com/batch:1", securityContext: {{privileged: true}}}}]
"#
        ))
        .expect("create the Job");
    let jobs: Api<Job> = Api::namespaced(s.client.clone(), &ns);
    s.wait_until(
        "the Job controller fails the Job at its deadline",
        || async {
            let job = jobs.get("batch").await.unwrap();
            job.status
                .and_then(|s| s.conditions)
                .unwrap_or_default()
                .iter()
                .any(|c| c.type_ == "Failed" && c.status == "True")
        },
    )
    .await;
    // The next second at least: the pod is created after the Job finished.
    tokio::time::sleep(Duration::from_millis(1100)).await;
    let job = jobs.get("batch").await.unwrap();
    let template = serde_json::to_value(&job.spec.as_ref().unwrap().template).unwrap();
    let owner = (
        "batch/v1",
        "Job",
        "batch",
        job.metadata.uid.as_deref().unwrap(),
    );
    let pods: Api<Pod> = Api::namespaced(s.client.clone(), &ns);
    pods.create(
        &PostParams::default(),
        &hand_made("after-the-end", &ns, owner, &template, |_| {}),
    )
    .await
    .expect("a pod claiming the finished Job, exactly its template");

    let name = "e2e-template-vouching-job";
    let baseline = s
        .baseline(
            name,
            json!({
                "mode": "Audit",
                "namespaceSelector": {"matchLabels": {"e2e-tv": "job"}},
                "podSecurity": {"level": "baseline"},
            }),
        )
        .await;
    let expected = ["Job batch: ", "Pod after-the-end: "];
    wait_findings(
        &baseline.api,
        name,
        "the pod made after the Job finished is judged itself",
        &expected,
    )
    .await;
    let seen = findings(&baseline.api, name).await;
    assert_eq!(seen.len(), expected.len(), "{seen:?}");
    let _ = baseline.api.delete(name, &DeleteParams::default()).await;
}
