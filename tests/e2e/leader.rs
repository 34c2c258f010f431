//! Two operator processes against one cluster: exactly one leads; killing it hands over
//! within the lease duration.

use crate::support::*;
use k8s_openapi::api::coordination::v1::Lease;
use kube::api::Api;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

const LEASE_SECONDS: u64 = 6;

/// Kills the operator process when the test ends, however it ends.
struct Replica(Child);

impl Drop for Replica {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn replica(lease: &str, identity: &str) -> Replica {
    let child = Command::new(env!("CARGO_BIN_EXE_baseline-operator"))
        .env("KUBECONFIG", &cluster().kubeconfig)
        .env("RUST_LOG", "warn")
        .args([
            "run",
            "--health-addr",
            "127.0.0.1:0",
            "--lease-namespace",
            "default",
        ])
        .args([
            "--lease-name",
            lease,
            "--lease-seconds",
            &LEASE_SECONDS.to_string(),
        ])
        .args(["--identity", identity])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("starting the operator binary");
    Replica(child)
}

async fn holder(api: &Api<Lease>, lease: &str) -> Option<String> {
    api.get_opt(lease)
        .await
        .ok()
        .flatten()?
        .spec?
        .holder_identity
}

#[tokio::test]
async fn exactly_one_replica_leads_and_a_killed_leader_hands_over() {
    let _serial = serial().await;
    let client = client().await;
    let lease = format!("e2e-leader-{}", std::process::id());
    let leases: Api<Lease> = Api::namespaced(client.clone(), "default");
    let mut replicas = vec![
        (replica(&lease, "replica-a"), "replica-a"),
        (replica(&lease, "replica-b"), "replica-b"),
    ];

    wait_until(
        "one replica takes the lease",
        Duration::from_secs(30),
        || async { holder(&leases, &lease).await.is_some() },
    )
    .await;
    let leader = holder(&leases, &lease).await.unwrap();
    // The holder stays the same while both run: the standby never steals a live lease.
    for _ in 0..(LEASE_SECONDS * 2) {
        tokio::time::sleep(Duration::from_secs(1)).await;
        assert_eq!(
            holder(&leases, &lease).await.as_deref(),
            Some(leader.as_str()),
            "leadership flapped"
        );
    }

    let index = replicas
        .iter()
        .position(|(_, id)| *id == leader)
        .expect("the holder is one of ours");
    let (killed, _) = replicas.remove(index);
    let killed_at = Instant::now();
    drop(killed); // SIGKILL: no chance to release the lease
    let standby = replicas[0].1;
    wait_until(
        "the standby takes over",
        Duration::from_secs(LEASE_SECONDS * 3),
        || async { holder(&leases, &lease).await.as_deref() == Some(standby) },
    )
    .await;
    let handover = killed_at.elapsed();
    // Expiry of the lease plus one retry interval (a third of the lease) at most.
    assert!(
        handover <= Duration::from_secs(LEASE_SECONDS + LEASE_SECONDS / 3 + 2),
        "handover took {handover:?}, lease is {LEASE_SECONDS}s"
    );
}

fn http_get(port: u16, path: &str) -> Option<(u16, String)> {
    use std::io::{Read, Write};
    let mut stream = std::net::TcpStream::connect(("127.0.0.1", port)).ok()?;
    write!(
        stream,
        "GET {path} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n"
    )
    .ok()?;
    let mut response = String::new();
    stream.read_to_string(&mut response).ok()?;
    let code = response.split_whitespace().nth(1)?.parse().ok()?;
    Some((code, response))
}

#[tokio::test]
async fn health_readiness_and_metrics_are_served() {
    let _serial = serial().await;
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let child = Command::new(env!("CARGO_BIN_EXE_baseline-operator"))
        .env("KUBECONFIG", &cluster().kubeconfig)
        .args([
            "run",
            "--health-addr",
            &format!("127.0.0.1:{port}"),
            "--lease-namespace",
            "default",
        ])
        .args([
            "--lease-name",
            &format!("e2e-health-{}", std::process::id()),
            "--log-json",
        ])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let _guard = Replica(child);
    wait_until("/healthz answers", Duration::from_secs(30), || async {
        http_get(port, "/healthz").is_some_and(|(c, _)| c == 200)
    })
    .await;
    wait_until(
        "/readyz turns ready once caches sync",
        Duration::from_secs(30),
        || async { http_get(port, "/readyz").is_some_and(|(c, _)| c == 200) },
    )
    .await;
    cluster()
        .apply_yaml("apiVersion: security.baseline.dev/v1alpha1\nkind: SecurityBaseline\nmetadata: {name: e2e-health}\nspec: {namespaceSelector: {matchLabels: {e2e-health: none}}}\n")
        .unwrap();
    wait_until("metrics count reconciles", Duration::from_secs(30), || async {
        http_get(port, "/metrics").is_some_and(|(_, body)| {
            body.contains("baseline_operator_leader 1")
                && body.contains("baseline_operator_reconciles_total{kind=\"SecurityBaseline\"}")
                && body.contains("baseline_operator_reconcile_duration_seconds_count{kind=\"SecurityBaseline\"}")
        })
    })
    .await;
    cluster().kubectl_ok(&["delete", "sb", "e2e-health", "--wait=false"]);
}
