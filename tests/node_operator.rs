//! The operator as a pod: the chart installed with a locally built image, two replicas under
//! the chart's own ServiceAccount, a rollout that completes (both replicas Ready: caches
//! synced against the API server they reach from inside the pod network), a leader that
//! actually enforces, and a failover when the leader's pod is deleted.
//!
//! Its own test binary (feature `node-tests`), because no in-process operator may run beside
//! the operator pods: every reconcile these tests see must come from a pod.

/// The shared test support crate (tests/support), under the name the test modules use.
mod support {
    pub use baseline_test_support::*;
}

use crate::support::*;
use k8s_openapi::api::coordination::v1::Lease;
use k8s_openapi::api::core::v1::Pod;
use kube::api::Api;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

const RELEASE_NS: &str = "baseline-system";
const RELEASE: &str = "baseline-operator";
const IMAGE_REPO: &str = "localhost/baseline-test/operator";

/// The cluster's `env` file (written by tests/cluster/up next to the kubeconfig).
fn cluster_env(key: &str) -> String {
    let env = cluster().kubeconfig.parent().unwrap().join("env");
    let text = std::fs::read_to_string(&env).unwrap_or_else(|e| panic!("{}: {e}", env.display()));
    text.lines()
        .find_map(|l| l.strip_prefix(&format!("export {key}=")))
        .map(|v| v.trim_matches('\'').to_string())
        .unwrap_or_else(|| panic!("{key} missing from {}", env.display()))
}

/// Builds an image of the operator binary cargo built for these tests, with the glibc shared
/// libraries it links copied in from the host (what the Dockerfile's distroless base adds),
/// and imports it into the node's containerd. Returns the tag: the binary's digest, so a
/// rebuilt binary is a new image.
fn operator_image() -> String {
    let binary = PathBuf::from(env!("CARGO_BIN_EXE_baseline-operator"));
    let bytes = std::fs::read(&binary).unwrap();
    let tag = {
        use sha2::{Digest, Sha256};
        hex::encode(Sha256::digest(&bytes))[..12].to_string()
    };
    let ldd = Command::new("ldd").arg(&binary).output().expect("ldd");
    assert!(ldd.status.success(), "ldd {}", binary.display());
    let mut files = vec![format!("{}=/baseline-operator", binary.display())];
    for line in String::from_utf8_lossy(&ldd.stdout).lines() {
        // "libc.so.6 => /lib/x86_64-linux-gnu/libc.so.6 (0x...)" or "/lib64/ld-linux-x86-64.so.2 (0x...)"
        let path = line
            .split("=>")
            .last()
            .and_then(|s| s.split_whitespace().next())
            .filter(|p| p.starts_with('/'));
        if let Some(path) = path {
            let real = std::fs::canonicalize(path).unwrap();
            files.push(format!("{}={path}", real.display()));
        }
    }
    assert!(
        files.iter().any(|f| f.contains("libc.so")),
        "ldd found no libc: {files:?}"
    );
    let dir = tempfile::tempdir().unwrap();
    let archive = dir.path().join("operator.tar");
    let image = format!("{IMAGE_REPO}:{tag}");
    let mut make = Command::new(Path::new(REPO).join("tests/cluster/make-image"));
    make.arg(&archive)
        .arg(&image)
        .args(["--entrypoint", "/baseline-operator", "run", "--"])
        .args(&files);
    let out = make.output().unwrap();
    assert!(
        out.status.success(),
        "make-image: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let out = Command::new("ctr")
        .args(["--address", &cluster_env("CLUSTER_CONTAINERD_SOCK")])
        .args(["-n", "k8s.io", "images", "import"])
        .arg(&archive)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "ctr images import: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    tag
}

fn helm(args: &[&str]) -> std::process::Output {
    Command::new(cluster().bin.join("helm"))
        .env("KUBECONFIG", &cluster().kubeconfig)
        .env(
            "HELM_CACHE_HOME",
            std::env::temp_dir().join("baseline-node-helm"),
        )
        .env(
            "HELM_CONFIG_HOME",
            std::env::temp_dir().join("baseline-node-helm"),
        )
        .env(
            "HELM_DATA_HOME",
            std::env::temp_dir().join("baseline-node-helm"),
        )
        .args(args)
        .output()
        .expect("running the built helm")
}

async fn leader(leases: &Api<Lease>) -> Option<String> {
    leases
        .get_opt(RELEASE)
        .await
        .ok()
        .flatten()
        .and_then(|l| l.spec?.holder_identity)
        .filter(|h| !h.is_empty())
}

/// Waits (at most 60 s) for a Lease holder other than `not`; returns it.
async fn wait_leader(leases: &Api<Lease>, what: &str, not: Option<&str>) -> String {
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    loop {
        if let Some(holder) = leader(leases).await.filter(|h| Some(h.as_str()) != not) {
            return holder;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "timed out waiting for: {what}"
        );
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}

async fn ready_pods(client: &kube::Client) -> Vec<String> {
    let pods: Api<Pod> = Api::namespaced(client.clone(), RELEASE_NS);
    let list = pods
        .list(&kube::api::ListParams::default().labels("app.kubernetes.io/name=baseline-operator"))
        .await
        .unwrap();
    list.items
        .into_iter()
        .filter(|p| p.metadata.deletion_timestamp.is_none())
        .filter(|p| {
            p.status
                .as_ref()
                .and_then(|s| s.conditions.as_ref())
                .is_some_and(|c| c.iter().any(|c| c.type_ == "Ready" && c.status == "True"))
        })
        .filter_map(|p| p.metadata.name)
        .collect()
}

/// The chart on the node: rollout of 2 replicas completes, the leader (a pod, using its
/// ServiceAccount) reconciles a SecurityBaseline, and deleting the leader pod fails over to
/// the standby, which then reconciles too.
#[tokio::test(flavor = "multi_thread")]
async fn chart_runs_the_operator_as_pods_and_fails_over() {
    node_cluster();
    let _serial = serial().await;
    let client = client().await;
    let tag = operator_image();
    let chart = Path::new(REPO).join("charts/baseline-operator");
    // The chart's Velero rights are a Role in Velero's namespace, which must exist; a second
    // create is refused, which is fine.
    cluster().kubectl(&["create", "namespace", "velero"]);
    let out = helm(&[
        "upgrade",
        "--install",
        RELEASE,
        chart.to_str().unwrap(),
        "--namespace",
        RELEASE_NS,
        "--create-namespace",
        "--skip-crds",
        "--set",
        &format!("image.repository={IMAGE_REPO}"),
        "--set",
        &format!("image.tag={tag}"),
        "--set",
        "image.pullPolicy=Never",
        "--set",
        "leaseSeconds=6",
        "--set",
        "renewDeadlineSeconds=4",
        "--set",
        "retryPeriodSeconds=1",
    ]);
    assert!(
        out.status.success(),
        "helm install: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let rollout = cluster().kubectl(&[
        "rollout",
        "status",
        "-n",
        RELEASE_NS,
        &format!("deployment/{RELEASE}"),
        "--timeout=180s",
    ]);
    if !rollout.status.success() {
        let pods = cluster().kubectl(&["describe", "pods", "-n", RELEASE_NS]);
        let logs = cluster().kubectl(&[
            "logs",
            "-n",
            RELEASE_NS,
            "-l",
            "app.kubernetes.io/name=baseline-operator",
            "--tail=30",
        ]);
        panic!(
            "rollout did not complete: {}\n{}\n{}",
            String::from_utf8_lossy(&rollout.stderr),
            String::from_utf8_lossy(&pods.stdout),
            String::from_utf8_lossy(&logs.stdout)
        );
    }
    assert_eq!(ready_pods(&client).await.len(), 2, "both replicas Ready");

    // The pods run under the chart's ServiceAccount, not the namespace default.
    let sa = cluster().kubectl_ok(&[
        "get",
        "pods",
        "-n",
        RELEASE_NS,
        "-l",
        "app.kubernetes.io/name=baseline-operator",
        "-o",
        "jsonpath={.items[*].spec.serviceAccountName}",
    ]);
    assert_eq!(
        sa.split_whitespace().collect::<Vec<_>>(),
        [RELEASE, RELEASE]
    );

    let leases: Api<Lease> = Api::namespaced(client.clone(), RELEASE_NS);
    let first = wait_leader(&leases, "a leader holds the Lease", None).await;
    assert!(
        ready_pods(&client).await.contains(&first),
        "the Lease holder {first} is one of the Ready operator pods"
    );
    enforced_by_the_pod(&client, "node-op-first").await;

    cluster().kubectl_ok(&["delete", "pod", "-n", RELEASE_NS, &first, "--wait=false"]);
    let second = wait_leader(&leases, "the standby takes over the Lease", Some(&first)).await;
    assert_ne!(second, first);
    enforced_by_the_pod(&client, "node-op-second").await;
    let rollout = cluster().kubectl(&[
        "rollout",
        "status",
        "-n",
        RELEASE_NS,
        &format!("deployment/{RELEASE}"),
        "--timeout=180s",
    ]);
    assert!(
        rollout.status.success(),
        "the Deployment replaces the deleted pod"
    );

    let out = helm(&["uninstall", RELEASE, "--namespace", RELEASE_NS, "--wait"]);
    assert!(
        out.status.success(),
        "helm uninstall: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// A SecurityBaseline that only the operator pods can act on (the in-process operator is not
/// started in this test): its owned default-deny NetworkPolicy appears, then goes with it.
async fn enforced_by_the_pod(client: &kube::Client, name: &str) {
    use baseline_operator::api::SecurityBaseline;
    use k8s_openapi::api::networking::v1::NetworkPolicy;
    let ns = namespace(client, name, &[("e2e-node-op", name)]).await;
    let api: Api<SecurityBaseline> = apply_cr(
        client,
        name,
        serde_json::json!({
            "mode": "Enforce",
            "namespaceSelector": {"matchLabels": {"e2e-node-op": name}},
            "network": {"defaultDeny": ["Ingress"]},
        }),
    )
    .await;
    let policies: Api<NetworkPolicy> = Api::namespaced(client.clone(), &ns);
    let deny = format!("sb-{name}-default-deny");
    wait_until(
        "the operator pod writes the owned NetworkPolicy",
        Duration::from_secs(60),
        || async { policies.get_opt(&deny).await.ok().flatten().is_some() },
    )
    .await;
    let _ = api.delete(name, &Default::default()).await;
    let _ = Api::<k8s_openapi::api::core::v1::Namespace>::all(client.clone())
        .delete(&ns, &Default::default())
        .await;
}
