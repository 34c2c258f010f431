//! `high-availability` on running pods: a Deployment is judged on the replicas that are
//! Ready, not on the number its spec asks for. The same spec passes while its pods serve and
//! fails once they stop passing their readiness probe.

use crate::pods::BUSYBOX;
use crate::support::*;
use baseline_operator::api::{ControlResult, ControlState, SecurityBaseline};
use kube::api::{Api, DeleteParams};
use serde_json::json;
use std::time::Duration;

const TIMEOUT: Duration = Duration::from_secs(120);

/// Two replicas of a busybox httpd whose readiness probe asks for `ready_path`; the server
/// only has `/index.html`, so any other path keeps the pods running but never Ready.
fn web(ns: &str, ready_path: &str) -> String {
    format!(
        r#"apiVersion: apps/v1
kind: Deployment
metadata: {{name: web, namespace: {ns}}}
spec:
  replicas: 2
  # Recreate, so the unready revision replaces the Ready one instead of waiting behind it.
  strategy: {{type: Recreate}}
  selector: {{matchLabels: {{app: web}}}}
  template:
    metadata: {{labels: {{app: web}}}}
    spec:
      automountServiceAccountToken: false
      terminationGracePeriodSeconds: 1
      containers:
      - name: main
        image: {BUSYBOX}
        imagePullPolicy: Never
        command: ["/bin/sh", "-c", "mkdir -p /tmp/www && echo ok > /tmp/www/index.html && exec httpd -f -p 8080 -h /tmp/www"]
        resources: {{limits: {{cpu: 50m, memory: 16Mi}}}}
        readinessProbe: {{httpGet: {{path: "{ready_path}", port: 8080}}, periodSeconds: 1, failureThreshold: 1}}
        livenessProbe: {{tcpSocket: {{port: 8080}}, periodSeconds: 5}}
---
apiVersion: policy/v1
kind: PodDisruptionBudget
metadata: {{name: web, namespace: {ns}}}
spec:
  minAvailable: 1
  selector: {{matchLabels: {{app: web}}}}
"#
    )
}

fn control<'a>(sb: &'a SecurityBaseline, id: &str) -> Option<&'a ControlResult> {
    sb.status
        .as_ref()?
        .controls
        .iter()
        .find(|c| c.id.as_str() == id)
}

fn messages(c: &ControlResult) -> Vec<String> {
    c.findings.iter().map(|f| f.message.clone()).collect()
}

async fn wait_control(
    api: &Api<SecurityBaseline>,
    what: &str,
    want: impl Fn(&ControlResult) -> bool,
) -> ControlResult {
    let deadline = std::time::Instant::now() + TIMEOUT;
    loop {
        let sb = api.get("node-ha").await.unwrap();
        let seen = control(&sb, "high-availability").cloned();
        match seen {
            Some(c) if want(&c) => return c,
            _ if std::time::Instant::now() > deadline => {
                panic!("{what}: not within {TIMEOUT:?}; last seen {seen:?}")
            }
            _ => tokio::time::sleep(Duration::from_secs(1)).await,
        }
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn high_availability_counts_ready_replicas_not_requested_ones() {
    node_cluster();
    operator();
    let _serial = serial().await;
    let client = client().await;
    let ns = namespace(&client, "node-ha", &[("e2e-node", "ha")]).await;
    let api: Api<SecurityBaseline> = apply_cr(
        &client,
        "node-ha",
        json!({
            "mode": "Audit",
            "namespaceSelector": {"matchLabels": {"e2e-node": "ha"}},
            "availability": {"minReplicas": 2, "requirePodDisruptionBudget": true, "requireProbes": true},
        }),
    )
    .await;

    cluster().apply_yaml(&web(&ns, "/index.html")).expect("web");
    let passed = wait_control(&api, "two Ready replicas pass", |c| {
        c.state == ControlState::Pass && c.checked == 1
    })
    .await;
    assert_eq!(passed.failed, 0);
    let ready = cluster().kubectl_ok(&[
        "get",
        "deployment",
        "web",
        "-n",
        &ns,
        "-o",
        "jsonpath={.status.readyReplicas}",
    ]);
    assert_eq!(ready.trim(), "2", "the kubelet reports both replicas Ready");

    // Same replica count, probes and budget; only readiness changes.
    cluster()
        .apply_yaml(&web(&ns, "/never-ready"))
        .expect("web, never ready");
    let failed = wait_control(&api, "unready replicas fail", |c| {
        c.state == ControlState::Fail
    })
    .await;
    let findings = messages(&failed);
    assert!(
        findings.len() == 1 && findings[0].contains("Ready replica(s), fewer than the required 2"),
        "{findings:?}"
    );

    api.delete("node-ha", &DeleteParams::default())
        .await
        .unwrap();
    cluster().kubectl_ok(&["delete", "namespace", &ns, "--wait=false"]);
}
