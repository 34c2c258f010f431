//! Two operator processes against one cluster: exactly one leads; killing it hands over
//! within the lease duration; a standby is Ready; a leader cut off from the API server stops
//! and exits before a standby takes over (no zombie leader).

use crate::support::*;
use k8s_openapi::api::coordination::v1::Lease;
use kube::api::Api;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

const LEASE_SECONDS: u64 = 6;
const RENEW_DEADLINE_SECONDS: u64 = 4;

/// Kills the operator process when the test ends, however it ends.
struct Replica(Child);

impl Drop for Replica {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn replica(lease: &str, identity: &str) -> Replica {
    replica_with(lease, identity, &cluster().kubeconfig, 0)
}

/// An operator process with its own kubeconfig and health port (0: any).
fn replica_with(
    lease: &str,
    identity: &str,
    kubeconfig: &std::path::Path,
    health_port: u16,
) -> Replica {
    let child = Command::new(env!("CARGO_BIN_EXE_baseline-operator"))
        .env("KUBECONFIG", kubeconfig)
        .env("RUST_LOG", "warn")
        .args([
            "run",
            "--health-addr",
            &format!("127.0.0.1:{health_port}"),
            "--lease-namespace",
            "default",
        ])
        .args([
            "--lease-name",
            lease,
            "--lease-seconds",
            &LEASE_SECONDS.to_string(),
            "--renew-deadline-seconds",
            &RENEW_DEADLINE_SECONDS.to_string(),
            "--retry-period-seconds",
            "1",
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
    // Expiry of the lease plus one retry period and the observation lag at most.
    assert!(
        handover <= Duration::from_secs(LEASE_SECONDS + 4),
        "handover took {handover:?}, lease is {LEASE_SECONDS}s"
    );
}

#[tokio::test]
async fn a_warm_standby_is_ready() {
    let _serial = serial().await;
    let client = client().await;
    let lease = format!("e2e-standby-{}", std::process::id());
    let leases: Api<Lease> = Api::namespaced(client.clone(), "default");
    let ports = [free_port(), free_port()];
    let _a = replica_with(&lease, "replica-a", &cluster().kubeconfig, ports[0]);
    let _b = replica_with(&lease, "replica-b", &cluster().kubeconfig, ports[1]);
    wait_until(
        "one replica takes the lease",
        Duration::from_secs(30),
        || async { holder(&leases, &lease).await.is_some() },
    )
    .await;
    // A 2-replica Deployment with maxUnavailable 0 rolls only if the standby turns Ready, and
    // a PDB with minAvailable 1 lets a drain evict the leader only then.
    for port in ports {
        wait_until(
            "both replicas, leader and standby, are Ready",
            Duration::from_secs(30),
            || async { http_get(port, "/readyz").is_some_and(|(c, _)| c == 200) },
        )
        .await;
        assert_eq!(http_get(port, "/healthz").map(|(c, _)| c), Some(200));
    }
    let leaders = ports
        .iter()
        .filter(|p| http_get(**p, "/metrics").is_some_and(|(_, body)| leads(&body)))
        .count();
    assert_eq!(leaders, 1, "exactly one of the Ready replicas leads");
}

/// A TCP relay to the API server that the test can freeze: connections stay open, but no byte
/// passes, as when a node is partitioned from the control plane.
pub(crate) struct Relay {
    pub(crate) port: u16,
    frozen: std::sync::Arc<std::sync::atomic::AtomicBool>,
}

impl Relay {
    /// Relays on plain threads (blocking std sockets), independent of the test's runtime.
    pub(crate) fn start(upstream: std::net::SocketAddr) -> Self {
        use std::io::{Read, Write};
        use std::sync::atomic::Ordering;
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let frozen = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        let flag = frozen.clone();
        std::thread::spawn(move || {
            for client in listener.incoming() {
                let Ok(client) = client else { return };
                let Ok(server) = std::net::TcpStream::connect(upstream) else {
                    continue;
                };
                let pairs = [
                    (client.try_clone().unwrap(), server.try_clone().unwrap()),
                    (server, client),
                ];
                for (mut from, mut to) in pairs {
                    let flag = flag.clone();
                    std::thread::spawn(move || {
                        let mut buf = vec![0u8; 16 * 1024];
                        loop {
                            let n = match from.read(&mut buf) {
                                Ok(0) | Err(_) => return,
                                Ok(n) => n,
                            };
                            while flag.load(Ordering::Relaxed) {
                                std::thread::sleep(Duration::from_millis(50));
                            }
                            if to.write_all(&buf[..n]).is_err() {
                                return;
                            }
                        }
                    });
                }
            }
        });
        Self { port, frozen }
    }

    pub(crate) fn freeze(&self) {
        self.frozen
            .store(true, std::sync::atomic::Ordering::Relaxed);
    }

    /// Lets the held bytes, and all after them, pass again.
    pub(crate) fn thaw(&self) {
        self.frozen
            .store(false, std::sync::atomic::Ordering::Relaxed);
    }
}

/// A copy of the cluster's kubeconfig whose server is `127.0.0.1:port`.
fn kubeconfig_via(port: u16, dir: &std::path::Path) -> (std::path::PathBuf, std::net::SocketAddr) {
    kubeconfig_of_via(&cluster().kubeconfig, port, dir)
}

/// A copy of `kubeconfig` whose server is `127.0.0.1:port`, and the server it named.
pub(crate) fn kubeconfig_of_via(
    kubeconfig: &std::path::Path,
    port: u16,
    dir: &std::path::Path,
) -> (std::path::PathBuf, std::net::SocketAddr) {
    // The kubeconfig of tests/cluster/up names one server, on a line of its own.
    let text = std::fs::read_to_string(kubeconfig).unwrap();
    let server = text
        .lines()
        .find_map(|l| l.trim().strip_prefix("server: "))
        .expect("kubeconfig names a server")
        .trim()
        .to_string();
    let upstream: std::net::SocketAddr = server
        .trim_start_matches("https://")
        .parse()
        .expect("server is https://IP:PORT");
    let relayed = text.replace(&server, &format!("https://127.0.0.1:{port}"));
    let path = dir.join("kubeconfig");
    std::fs::write(&path, relayed).unwrap();
    (path, upstream)
}

#[tokio::test]
async fn a_leader_cut_off_from_the_api_server_exits_before_a_standby_takes_over() {
    let _serial = serial().await;
    let client = client().await;
    let lease = format!("e2e-zombie-{}", std::process::id());
    let leases: Api<Lease> = Api::namespaced(client.clone(), "default");
    let dir = tempfile::tempdir().unwrap();
    let (_, upstream) = kubeconfig_via(0, dir.path());
    let relay = Relay::start(upstream);
    let (relayed, _) = kubeconfig_via(relay.port, dir.path());

    let mut leader = replica_with(&lease, "cut-off", &relayed, 0);
    wait_until(
        "the relayed replica leads",
        Duration::from_secs(30),
        || async { holder(&leases, &lease).await.as_deref() == Some("cut-off") },
    )
    .await;
    let _standby = replica(&lease, "standby");
    tokio::time::sleep(Duration::from_secs(3)).await;
    assert_eq!(holder(&leases, &lease).await.as_deref(), Some("cut-off"));

    // Every request of the leader now hangs: no error ever comes back. Only its own renew
    // deadline can stop it.
    relay.freeze();
    let frozen_at = Instant::now();
    let mut exited = None;
    let mut taken = None;
    while (exited.is_none() || taken.is_none()) && frozen_at.elapsed() < Duration::from_secs(30) {
        if exited.is_none() && leader.0.try_wait().unwrap().is_some() {
            exited = Some(frozen_at.elapsed());
        }
        if taken.is_none() && holder(&leases, &lease).await.as_deref() == Some("standby") {
            taken = Some(frozen_at.elapsed());
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let exited = exited.expect("the cut-off leader never exited: a zombie leader");
    let taken = taken.expect("the standby never took over");
    assert!(
        exited <= Duration::from_secs(RENEW_DEADLINE_SECONDS + 2),
        "the cut-off leader exited after {exited:?}, renew deadline is {RENEW_DEADLINE_SECONDS}s"
    );
    assert!(
        exited < taken,
        "the standby took over ({taken:?}) before the old leader stopped ({exited:?}): two leaders"
    );
    let status = leader.0.wait().unwrap();
    assert!(
        !status.success(),
        "losing the lease is an error exit: {status}"
    );
}

/// Whether a /metrics body says its replica leads (the sample line, not the HELP text, which
/// also contains "baseline_operator_leader 1").
fn leads(metrics: &str) -> bool {
    metrics
        .lines()
        .any(|l| l.trim() == "baseline_operator_leader 1")
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
    let port = free_port();
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
            leads(&body)
                && body.contains("baseline_operator_reconciles_total{kind=\"SecurityBaseline\"}")
                && body.contains("baseline_operator_reconcile_duration_seconds_count{kind=\"SecurityBaseline\"}")
        })
    })
    .await;
    cluster().kubectl_ok(&["delete", "sb", "e2e-health", "--wait=false"]);
}

/// Evaluating a large cluster keeps every worker of the operator's runtime busy for seconds.
/// The election runs on its own thread and runtime, so it keeps renewing meanwhile: before it
/// did, the scale benchmark's operator lost its lease at 1,000 namespaces and exited.
#[tokio::test(flavor = "multi_thread", worker_threads = 1)]
async fn a_runtime_kept_busy_past_the_renew_deadline_keeps_the_lease() {
    use baseline_operator::leader::{LeaseConfig, spawn_on_own_thread};
    use tokio::sync::watch;
    let client = client().await;
    let lease = format!("e2e-busy-leader-{}", std::process::id());
    let leases: Api<Lease> = Api::namespaced(client.clone(), "default");
    let config = LeaseConfig {
        namespace: "default".into(),
        name: lease.clone(),
        identity: "busy-replica".into(),
        duration: Duration::from_secs(LEASE_SECONDS),
        renew_deadline: Duration::from_secs(RENEW_DEADLINE_SECONDS),
        retry_period: Duration::from_secs(1),
    };
    let (leading_tx, mut leading) = watch::channel(false);
    let (stop, stopped) = watch::channel(false);
    let election = spawn_on_own_thread(kube_config().await, config, leading_tx, stopped)
        .expect("starting the election thread");
    tokio::time::timeout(Duration::from_secs(30), leading.wait_for(|l| *l))
        .await
        .expect("leading within 30 s")
        .expect("the election is running");
    let renewed = |lease: Option<Lease>| lease.and_then(|l| l.spec?.renew_time).map(|t| t.0);
    let before = renewed(leases.get_opt(&lease).await.unwrap()).expect("a renew time");

    // The only worker of this runtime is busy (no await) for twice the renew deadline, then
    // free again for a moment, in which an election sharing it would see its deadline passed.
    tokio::spawn(async {
        std::thread::sleep(Duration::from_secs(RENEW_DEADLINE_SECONDS * 2));
    })
    .await
    .unwrap();
    tokio::time::sleep(Duration::from_secs(2)).await;

    assert!(
        *leading.borrow(),
        "the leader lost its lease while its runtime was busy"
    );
    let after = renewed(leases.get_opt(&lease).await.unwrap()).expect("a renew time");
    assert!(
        after > before,
        "the lease was not renewed while the runtime was busy"
    );
    stop.send_replace(true);
    tokio::task::spawn_blocking(move || election.join().expect("the election thread"))
        .await
        .unwrap();
    assert_eq!(holder(&leases, &lease).await, None, "the lease is released");
}
