//! The restore-test sandbox on a real node: Velero (the backup stack runs beside the node)
//! backs a namespace up, the operator restores it into its quarantined sandbox, and a
//! workload running there reaches nothing and is reached by nothing. Restored workloads are
//! scaled to zero and pods are never restored: a ReplicationController that runs in the source
//! namespace runs nothing in the sandbox, and its Ingress is not restored. The pods this test
//! starts in the sandbox stand for a restored workload that runs anyway (a modifier removed, a
//! controller that scales it back up), which is what the deny-all policy is for.

use crate::pods::*;
use crate::support::*;
use baseline_operator::api::BackupPolicy;
use baseline_operator::velero::Restore;
use kube::api::{Api, DeleteParams};
use serde_json::json;
use std::time::Duration;

const PORT: u16 = 8080;
/// The Schedule's first backup comes within about two minutes (tests/cluster/README.md).
const RESTORE_TIMEOUT: Duration = Duration::from_secs(360);

#[tokio::test(flavor = "multi_thread")]
async fn a_restore_test_sandbox_lets_nothing_in_or_out() {
    node_cluster();
    operator();
    let _serial = serial().await;
    let client = client().await;
    let run = jiff::Timestamp::now().as_second().to_string();
    let source = namespace(&client, &format!("node-rt-{run}"), &[("e2e-node-rt", &run)]).await;
    // A workload that really runs in the source, and an Ingress claiming a host for it.
    cluster()
        .apply_yaml(&legacy_controller_and_ingress(&source, &run))
        .expect("the source's ReplicationController and Ingress");
    wait_running(&source, "app=legacy");
    let outside = namespace(&client, "node-rt-outside", &[]).await;
    let outside_server = server(&outside, "server", "app: server", &[PORT]);
    prober(&outside, "client", "app: client");
    // The probe works where no policy applies.
    wait_reachability("no policy", &outside, "client", &outside_server, PORT, true);

    let name = format!("node-rt-{run}");
    let api: Api<BackupPolicy> = apply_cr(
        &client,
        &name,
        json!({
            "mode": "Enforce",
            "namespaceSelector": {"matchLabels": {"e2e-node-rt": run}},
            "rpo": "1h", "rto": "30m",
            "schedule": "* * * * *",
            // Kept long enough to probe it.
            "restoreTest": {"every": "8760h", "keepSandboxFor": "1h", "minRestoredItems": 1},
        }),
    )
    .await;
    let deadline = std::time::Instant::now() + RESTORE_TIMEOUT;
    let result = loop {
        let policy = api.get(&name).await.unwrap();
        if let Some(result) = policy.status.and_then(|s| s.last_restore_test) {
            break result;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "no restore test recorded within {RESTORE_TIMEOUT:?}"
        );
        tokio::time::sleep(Duration::from_secs(2)).await;
    };
    assert_eq!(result.result, "Passed", "{result:?}");
    let restores: Api<Restore> = Api::namespaced(client.clone(), "velero");
    let restore = restores.get(&result.restore).await.unwrap();
    let sandbox = restore.spec.namespace_mapping[&source].clone();

    // Restored, the ReplicationController asks for no pod, and none runs on the node however
    // long one looks (its controller acts within a second); the Ingress stayed in the backup.
    let replicas = cluster().kubectl_ok(&[
        "get",
        "replicationcontroller",
        "legacy",
        "-n",
        &sandbox,
        "-o",
        "jsonpath={.spec.replicas}",
    ]);
    assert_eq!(
        replicas, "0",
        "the restored ReplicationController's replicas"
    );
    for _ in 0..10 {
        let pods = cluster().kubectl_ok(&["get", "pods", "-n", &sandbox, "-o", "name"]);
        assert!(pods.trim().is_empty(), "pods in the sandbox: {pods}");
        std::thread::sleep(Duration::from_secs(1));
    }
    let ingresses = cluster().kubectl_ok(&["get", "ingresses", "-n", &sandbox, "-o", "name"]);
    assert!(ingresses.trim().is_empty(), "restored: {ingresses}");

    let restored = server(&sandbox, "restored", "app: restored", &[PORT]);
    prober(&sandbox, "restored-client", "app: restored-client");
    assert_steady(
        "a sandbox workload connecting out",
        &sandbox,
        "restored-client",
        &outside_server,
        PORT,
        false,
    );
    assert_steady(
        "a connection into the sandbox",
        &outside,
        "client",
        &restored,
        PORT,
        false,
    );
    // Not even to its neighbour in the sandbox.
    assert_steady(
        "within the sandbox",
        &sandbox,
        "restored-client",
        &restored,
        PORT,
        false,
    );

    api.delete(&name, &DeleteParams::default()).await.unwrap();
    cluster().kubectl_ok(&["delete", "namespace", &source, &outside, "--wait=false"]);
}

/// A ReplicationController running one busybox pod (restricted-compliant) and an Ingress
/// routing a host to it.
fn legacy_controller_and_ingress(ns: &str, run: &str) -> String {
    format!(
        r#"apiVersion: v1
kind: ReplicationController
metadata: {{name: legacy, namespace: {ns}}}
spec:
  replicas: 1
  selector: {{app: legacy}}
  template:
    metadata: {{labels: {{app: legacy}}}}
    spec:
      automountServiceAccountToken: false
      terminationGracePeriodSeconds: 1
      containers:
      - name: main
        image: {BUSYBOX}
        imagePullPolicy: Never
        command: ["/bin/sh", "-c", "exec sleep 3600"]
        securityContext: {{runAsNonRoot: true, runAsUser: 65534, allowPrivilegeEscalation: false, capabilities: {{drop: [ALL]}}, seccompProfile: {{type: RuntimeDefault}}}}
        resources: {{limits: {{cpu: 100m, memory: 32Mi}}}}
---
apiVersion: networking.k8s.io/v1
kind: Ingress
metadata: {{name: legacy, namespace: {ns}}}
spec:
  rules:
  - host: legacy-{run}.example.com
    http:
      paths:
      - {{path: /, pathType: Prefix, backend: {{service: {{name: legacy, port: {{number: 80}}}}}}}}
"#
    )
}

/// Waits until a pod matching `selector` in `ns` is Ready on the node.
fn wait_running(ns: &str, selector: &str) {
    for _ in 0..MAX_PROBES * 3 {
        let out = cluster().kubectl(&[
            "wait",
            "--for=condition=Ready",
            "--timeout=5s",
            "-n",
            ns,
            "pod",
            "-l",
            selector,
        ]);
        if out.status.success() {
            return;
        }
        std::thread::sleep(Duration::from_secs(1));
    }
    panic!("no Ready pod {selector} in {ns}");
}
