//! Faults survived, on a real control plane of their own: kube-apiserver and etcd restarted
//! during convergence, the operator SIGKILLed mid-apply, leader failover under namespace churn,
//! another field manager fighting over owned fields, a namespace deleted while reconciled, a
//! deleted custom resource, and `helm uninstall`.
//!
//! These tests restart control-plane components, so they never share the cluster of the other
//! e2e tests (whose in-process operator would see the outages): [`fault_cluster`] starts one of
//! their own (tests/cluster/up, stopped by its watchdog when the test process exits). The
//! operator under test is the real binary as a child process, so that it can be SIGKILLed and
//! run as two replicas; a small supervisor restarts it when it exits, as the kubelet would.

use crate::support::{Cluster, REPO, free_port, in_seconds, wait_until};
use baseline_operator::api::SecurityBaseline;
use baseline_operator::controller::security_baseline::PSA_MARKER;
use baseline_operator::desired::OWNER_UID;
use k8s_openapi::api::coordination::v1::Lease;
use k8s_openapi::api::core::v1::Namespace;
use k8s_openapi::api::networking::v1::NetworkPolicy;
use kube::api::{Api, DeleteParams, ListParams, Patch, PatchParams, PostParams};
use kube::{Client, ResourceExt};
use serde_json::{Value, json};
use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

const TIMEOUT: Duration = Duration::from_secs(90);
const PSA_ENFORCE: &str = "pod-security.kubernetes.io/enforce";

// ------------------------------------------------------------------------- the cluster

/// A control plane of the fault tests' own: they restart and break it.
struct FaultCluster {
    state: PathBuf,
    cluster: Cluster,
}

static FAULT_CLUSTER: OnceLock<FaultCluster> = OnceLock::new();

fn fault_cluster() -> &'static FaultCluster {
    FAULT_CLUSTER.get_or_init(|| {
        let state = std::env::temp_dir().join(format!("baseline-faults-{}", std::process::id()));
        let cluster = Cluster::up(&[], &state);
        FaultCluster { state, cluster }
    })
}

impl std::ops::Deref for FaultCluster {
    type Target = Cluster;
    fn deref(&self) -> &Cluster {
        &self.cluster
    }
}

impl FaultCluster {
    /// Restarts one component with tests/cluster/restart (which waits until it is healthy).
    fn restart(&self, component: &str) {
        let out = Command::new(Path::new(REPO).join("tests/cluster/restart"))
            .arg(&self.state)
            .arg(component)
            .output()
            .expect("running tests/cluster/restart");
        assert!(
            out.status.success(),
            "restarting {component} failed:\n{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }

    fn helm(&self, args: &[&str]) -> std::process::Output {
        let home = self.state.join("helm");
        Command::new(self.bin.join("helm"))
            .args(args)
            .env("KUBECONFIG", &self.kubeconfig)
            .env("HELM_CONFIG_HOME", home.join("config"))
            .env("HELM_CACHE_HOME", home.join("cache"))
            .env("HELM_DATA_HOME", home.join("data"))
            .output()
            .expect("running the built helm")
    }
}

async fn fault_client() -> Client {
    fault_cluster().client().await
}

static FAULTS: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

/// Fault tests run one at a time: each reconciles every custom resource on the fault cluster.
async fn serial() -> tokio::sync::MutexGuard<'static, ()> {
    FAULTS.lock().await
}

// ------------------------------------------------------------------------- the operator

/// Timings short enough for a test, in the ratios the chart uses.
const LEASE: [&str; 6] = [
    "--lease-seconds",
    "6",
    "--renew-deadline-seconds",
    "4",
    "--retry-period-seconds",
    "1",
];

fn spawn_operator(
    kubeconfig: &Path,
    lease: &str,
    identity: &str,
    port: u16,
    log: &Path,
    args: &[String],
) -> Child {
    let out = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(log)
        .unwrap();
    Command::new(env!("CARGO_BIN_EXE_baseline-operator"))
        .env("KUBECONFIG", kubeconfig)
        // The replace path logs every 409 at debug: the failover test counts them.
        .env(
            "RUST_LOG",
            "info,kube=warn,baseline_operator::controller::apply=debug",
        )
        .env_remove("BASELINE_LOG_JSON")
        .env_remove("POD_NAME")
        .env_remove("POD_NAMESPACE")
        .env_remove("BASELINE_HEALTH_ADDR")
        .args(["run", "--health-addr", &format!("127.0.0.1:{port}")])
        .args(["--lease-namespace", "default", "--lease-name", lease])
        .args(if args.is_empty() {
            LEASE.iter().map(|a| a.to_string()).collect()
        } else {
            args.to_vec()
        })
        .args(["--identity", identity])
        .stdin(Stdio::null())
        .stdout(out.try_clone().unwrap())
        .stderr(out)
        .spawn()
        .expect("starting the operator binary")
}

/// One operator replica, restarted by a supervisor thread whenever it exits (as the kubelet
/// restarts a container), until dropped. Its output, across restarts, goes to one log file.
struct Replica {
    identity: String,
    port: u16,
    log: PathBuf,
    child: Arc<Mutex<Option<Child>>>,
    stop: Arc<AtomicBool>,
    hold: Arc<AtomicBool>,
    exits: Arc<AtomicUsize>,
    supervisor: Option<std::thread::JoinHandle<()>>,
    _dir: tempfile::TempDir,
}

impl Replica {
    fn start(lease: &str, identity: &str) -> Self {
        Self::start_with(lease, identity, &[])
    }

    /// A replica with `args` in place of the default lease timings.
    fn start_with(lease: &str, identity: &str, args: &[&str]) -> Self {
        Self::start_via(&fault_cluster().kubeconfig, lease, identity, args)
    }

    /// A replica that reaches the API server through `kubeconfig`.
    fn start_via(kubeconfig: &Path, lease: &str, identity: &str, args: &[&str]) -> Self {
        let kubeconfig = kubeconfig.to_path_buf();
        let args: Vec<String> = args.iter().map(|a| a.to_string()).collect();
        let dir = tempfile::tempdir().unwrap();
        let log = dir.path().join("operator.log");
        let port = free_port();
        let child = Arc::new(Mutex::new(Some(spawn_operator(
            &kubeconfig,
            lease,
            identity,
            port,
            &log,
            &args,
        ))));
        let stop = Arc::new(AtomicBool::new(false));
        let hold = Arc::new(AtomicBool::new(false));
        let exits = Arc::new(AtomicUsize::new(0));
        let supervisor = {
            let (child, stop, hold, exits) =
                (child.clone(), stop.clone(), hold.clone(), exits.clone());
            let (lease, identity, log) = (lease.to_string(), identity.to_string(), log.clone());
            let args = args.clone();
            let kubeconfig = kubeconfig.clone();
            std::thread::spawn(move || {
                while !stop.load(Ordering::SeqCst) {
                    std::thread::sleep(Duration::from_millis(100));
                    let mut slot = child.lock().unwrap();
                    let exited = match slot.as_mut() {
                        Some(c) => c.try_wait().unwrap().is_some(),
                        None => true,
                    };
                    if exited && slot.is_some() {
                        exits.fetch_add(1, Ordering::SeqCst);
                        *slot = None;
                    }
                    if slot.is_none() && !hold.load(Ordering::SeqCst) {
                        drop(slot);
                        std::thread::sleep(Duration::from_millis(500)); // restart backoff
                        *child.lock().unwrap() = Some(spawn_operator(
                            &kubeconfig,
                            &lease,
                            &identity,
                            port,
                            &log,
                            &args,
                        ));
                    }
                }
            })
        };
        Self {
            identity: identity.to_string(),
            port,
            log,
            child,
            stop,
            hold,
            exits,
            supervisor: Some(supervisor),
            _dir: dir,
        }
    }

    /// Sends `signal` (e.g. "KILL", "TERM") to the running process, by its pid.
    fn signal(&self, signal: &str) {
        let pid = self
            .child
            .lock()
            .unwrap()
            .as_ref()
            .map(Child::id)
            .expect("the replica is running");
        let status = Command::new("kill")
            .args(["-s", signal, &pid.to_string()])
            .status()
            .unwrap();
        assert!(status.success(), "kill -s {signal} {pid}");
    }

    /// Keeps the supervisor from restarting the process until [`Replica::release`].
    fn hold(&self) {
        self.hold.store(true, Ordering::SeqCst);
    }

    fn release(&self) {
        self.hold.store(false, Ordering::SeqCst);
    }

    fn running(&self) -> bool {
        self.child.lock().unwrap().is_some()
    }

    fn exits(&self) -> usize {
        self.exits.load(Ordering::SeqCst)
    }

    fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    fn get(&self, path: &str) -> Option<(u16, String)> {
        http_get(self.port, path)
    }

    fn leads(&self) -> bool {
        self.get("/metrics").is_some_and(|(_, body)| {
            body.lines()
                .any(|l| l.trim() == "baseline_operator_leader 1")
        })
    }
}

impl Drop for Replica {
    fn drop(&mut self) {
        if std::thread::panicking() {
            let log = self.log();
            let tail: Vec<&str> = log.lines().rev().take(40).collect();
            eprintln!(
                "--- {} ({} exits), last log lines:\n{}",
                self.identity,
                self.exits(),
                tail.into_iter().rev().collect::<Vec<_>>().join("\n")
            );
        }
        self.stop.store(true, Ordering::SeqCst);
        if let Some(handle) = self.supervisor.take() {
            let _ = handle.join();
        }
        if let Some(mut child) = self.child.lock().unwrap().take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

fn http_get(port: u16, path: &str) -> Option<(u16, String)> {
    use std::io::{Read, Write};
    let mut stream = std::net::TcpStream::connect(("127.0.0.1", port)).ok()?;
    stream.set_read_timeout(Some(Duration::from_secs(5))).ok()?;
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

fn lease_name(test: &str) -> String {
    format!("faults-{test}-{}", std::process::id())
}

// ------------------------------------------------------------------------- objects

/// A baseline that enforces default-deny, DNS egress and PSA `restricted` on `faults=<tag>`.
fn baseline_spec(tag: &str) -> Value {
    json!({
        "mode": "Enforce",
        "namespaceSelector": {"matchLabels": {"faults": tag}},
        "network": {"defaultDeny": ["Ingress", "Egress"], "allowDNS": true},
        "podSecurity": {"level": "restricted"},
    })
}

async fn apply_baseline(client: &Client, name: &str, spec: Value) -> String {
    let api: Api<SecurityBaseline> = Api::all(client.clone());
    let body = json!({
        "apiVersion": "security.baseline.dev/v1alpha1", "kind": "SecurityBaseline",
        "metadata": {"name": name}, "spec": spec,
    });
    let params = PatchParams::apply("faults-test").force();
    let sb = api
        .patch(name, &params, &Patch::Apply(&body))
        .await
        .unwrap_or_else(|e| panic!("applying SecurityBaseline {name}: {e}"));
    sb.uid().unwrap()
}

/// Deletes the baseline and waits until its finalizer has run (an operator must be running).
async fn delete_baseline(client: &Client, name: &str) {
    let api: Api<SecurityBaseline> = Api::all(client.clone());
    let _ = api.delete(name, &DeleteParams::default()).await;
    wait_until("baseline deleted", TIMEOUT, || async {
        matches!(api.get_opt(name).await, Ok(None))
    })
    .await;
}

/// Creates namespaces `<prefix>-<i>` labelled `faults=<tag>`, with no leftovers of a failed run.
async fn namespaces(client: &Client, prefix: &str, tag: &str, count: usize) -> Vec<String> {
    let api: Api<Namespace> = Api::all(client.clone());
    let names: Vec<String> = (0..count).map(|i| format!("{prefix}-{i}")).collect();
    for name in &names {
        let _ = api.delete(name, &DeleteParams::default()).await;
    }
    for name in &names {
        wait_until("old namespace gone", TIMEOUT, || async {
            matches!(api.get_opt(name).await, Ok(None))
        })
        .await;
    }
    for name in &names {
        create_namespace(&api, name, tag).await;
    }
    names
}

async fn create_namespace(api: &Api<Namespace>, name: &str, tag: &str) {
    let ns: Namespace = serde_json::from_value(json!({
        "metadata": {"name": name, "labels": {"faults": tag}}
    }))
    .unwrap();
    api.create(&PostParams::default(), &ns)
        .await
        .unwrap_or_else(|e| panic!("creating namespace {name}: {e}"));
}

/// What the owner with `uid` has put in place: its NetworkPolicies by namespace, and the PSA
/// enforce level of the namespaces carrying its marker.
#[derive(Debug, Default, PartialEq)]
struct Enforcement {
    policies: BTreeMap<String, BTreeSet<String>>,
    psa: BTreeMap<String, Option<String>>,
}

/// Reads the enforcement of `uid`, retrying while the API server answers with errors (it may
/// still be reconnecting to a restarted etcd).
async fn enforcement(client: &Client, uid: &str) -> Enforcement {
    let deadline = Instant::now() + TIMEOUT;
    loop {
        match try_enforcement(client, uid).await {
            Ok(found) => return found,
            Err(error) if Instant::now() >= deadline => panic!("reading enforcement: {error}"),
            Err(_) => tokio::time::sleep(Duration::from_millis(500)).await,
        }
    }
}

async fn try_enforcement(client: &Client, uid: &str) -> Result<Enforcement, kube::Error> {
    let selector = ListParams::default().labels(&format!("{OWNER_UID}={uid}"));
    let mut found = Enforcement::default();
    let policies: Api<NetworkPolicy> = Api::all(client.clone());
    for p in policies.list(&selector).await?.items {
        found
            .policies
            .entry(p.namespace().unwrap_or_default())
            .or_default()
            .insert(p.name_any());
    }
    let namespaces: Api<Namespace> = Api::all(client.clone());
    let marked = ListParams::default().labels(&format!("{PSA_MARKER}={uid}"));
    for ns in namespaces.list(&marked).await?.items {
        let level = ns.labels().get(PSA_ENFORCE).cloned();
        found.psa.insert(ns.name_any(), level);
    }
    Ok(found)
}

/// Whether `found` is exactly the enforcement of `selected`: every selected namespace has the
/// same non-empty set of policies and PSA `restricted`, and no other namespace has anything.
fn converged(found: &Enforcement, selected: &BTreeSet<String>) -> Result<(), String> {
    let with_policies: BTreeSet<String> = found.policies.keys().cloned().collect();
    if &with_policies != selected {
        return Err(format!(
            "policies in {with_policies:?}, selected {selected:?}"
        ));
    }
    let sets: BTreeSet<&BTreeSet<String>> = found.policies.values().collect();
    if sets.len() > 1 || sets.iter().any(|s| s.is_empty()) {
        return Err(format!("policy sets differ: {:?}", found.policies));
    }
    let labelled: BTreeSet<String> = found.psa.keys().cloned().collect();
    if &labelled != selected {
        return Err(format!("PSA marker on {labelled:?}, selected {selected:?}"));
    }
    if let Some((ns, level)) = found
        .psa
        .iter()
        .find(|(_, l)| l.as_deref() != Some("restricted"))
    {
        return Err(format!("{ns} enforces {level:?}"));
    }
    Ok(())
}

async fn wait_converged(client: &Client, uid: &str, selected: &BTreeSet<String>, what: &str) {
    let deadline = Instant::now() + TIMEOUT;
    loop {
        let found = enforcement(client, uid).await;
        match converged(&found, selected) {
            Ok(()) => return,
            Err(why) if Instant::now() >= deadline => {
                panic!("timed out waiting for: {what}: {why}")
            }
            Err(_) => tokio::time::sleep(Duration::from_millis(500)).await,
        }
    }
}

/// Waits until the baseline's status reports its current generation `Ready=True`.
async fn wait_ready(client: &Client, name: &str) {
    let api: Api<SecurityBaseline> = Api::all(client.clone());
    wait_until(
        "baseline Ready=True for its generation",
        TIMEOUT,
        || async {
            let Ok(sb) = api.get(name).await else {
                return false;
            };
            sb.status.as_ref().is_some_and(|s| {
                s.observed_generation == sb.metadata.generation
                    && s.conditions
                        .iter()
                        .any(|c| c.type_ == "Ready" && c.status == "True")
            })
        },
    )
    .await;
}

/// Waits until the baseline `name` converges, checking at every step that its status never
/// claims more than is in place: whenever it says `Ready=True` for its current generation,
/// every selected namespace is enforced (status is written after the writes it reports on,
/// so a status read first and an enforcement read second must agree).
async fn wait_converged_with_honest_status(
    client: &Client,
    name: &str,
    uid: &str,
    selected: &BTreeSet<String>,
    what: &str,
) {
    let api: Api<SecurityBaseline> = Api::all(client.clone());
    let deadline = Instant::now() + TIMEOUT;
    loop {
        let ready = match api.get(name).await {
            Ok(sb) => sb.status.as_ref().is_some_and(|s| {
                s.observed_generation == sb.metadata.generation
                    && s.conditions
                        .iter()
                        .any(|c| c.type_ == "Ready" && c.status == "True")
            }),
            Err(_) => false, // the API server is still coming back
        };
        let verdict = match try_enforcement(client, uid).await {
            Ok(found) => converged(&found, selected),
            Err(e) => Err(e.to_string()),
        };
        if ready {
            if let Err(why) = &verdict {
                panic!("status says Ready=True but enforcement is incomplete: {why}");
            }
            return;
        }
        assert!(
            Instant::now() < deadline,
            "timed out waiting for: {what}: {verdict:?}"
        );
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}

/// Waits until `replica` holds the lease `lease`.
async fn wait_leading(client: &Client, lease: &str, replica: &Replica) {
    let leases: Api<Lease> = Api::namespaced(client.clone(), "default");
    wait_until(&format!("{} leads", replica.identity), TIMEOUT, || async {
        let holder = leases
            .get_opt(lease)
            .await
            .ok()
            .flatten()
            .and_then(|l| l.spec?.holder_identity);
        holder.as_deref() == Some(replica.identity.as_str()) && replica.leads()
    })
    .await;
}

fn set(names: &[String]) -> BTreeSet<String> {
    names.iter().cloned().collect()
}

// ------------------------------------------------------------------------- control plane

/// Restarts `component` while the operator is converging 12 namespaces; it still converges,
/// reports Ready for the current generation, and reacts to a change made afterwards (its
/// watches came back). Returns how often the operator exited (and was started again).
async fn converges_across_a_restart_of(component: &str, tag: &str, args: &[&str]) -> usize {
    let _serial = serial().await;
    let client = fault_client().await;
    let operator = Replica::start_with(&lease_name(tag), tag, args);
    let lease = lease_name(tag);
    wait_leading(&client, &lease, &operator).await;
    let mut names = namespaces(&client, &format!("faults-{tag}"), tag, 12).await;
    let name = format!("faults-{tag}");
    let uid = apply_baseline(&client, &name, baseline_spec(tag)).await;

    fault_cluster().restart(component);

    wait_converged_with_honest_status(
        &client,
        &name,
        &uid,
        &set(&names),
        "converged after the restart",
    )
    .await;
    wait_converged(&client, &uid, &set(&names), "converged after the restart").await;
    let late = format!("faults-{tag}-late");
    let _ = namespaces(&client, &late, tag, 1).await;
    names.push(format!("{late}-0"));
    wait_converged(&client, &uid, &set(&names), "a namespace created after it").await;
    assert_eq!(
        operator.get("/healthz").map(|(c, _)| c),
        Some(200),
        "live after the restart"
    );
    // Whether the restart outlasted the renew deadline (the replica then exited and its
    // supervisor started it again) depends on how long the component took to come back.
    let exits = operator.exits();
    eprintln!("{component} restart: the operator exited {exits} times");
    delete_baseline(&client, &name).await;
    wait_converged(
        &client,
        &uid,
        &BTreeSet::new(),
        "nothing left after deletion",
    )
    .await;
    exits
}

#[tokio::test]
async fn converges_across_a_kube_apiserver_restart() {
    // An outage longer than the renew deadline (4 s here) costs the leader its lease: it
    // exits and its supervisor starts it again, as the kubelet would.
    converges_across_a_restart_of("kube-apiserver", "apiserver", &[]).await;
}

/// With a renew deadline longer than the outage the leader keeps its lease: its watches and
/// reconciles recover in the same process, without a restart.
#[tokio::test]
async fn converges_across_a_kube_apiserver_restart_within_the_renew_deadline() {
    let exits = converges_across_a_restart_of(
        "kube-apiserver",
        "longlease",
        &[
            "--lease-seconds",
            "120",
            "--renew-deadline-seconds",
            "90",
            "--retry-period-seconds",
            "2",
        ],
    )
    .await;
    assert_eq!(exits, 0, "the leader kept its lease and process");
}

#[tokio::test]
async fn converges_across_an_etcd_restart() {
    converges_across_a_restart_of("etcd", "etcd", &[]).await;
}

// ------------------------------------------------------------------------- the operator

#[tokio::test]
async fn sigkill_mid_apply_then_restart_converges_without_duplicates_or_orphans() {
    let _serial = serial().await;
    let client = fault_client().await;
    let lease = lease_name("kill");
    // One write at a time: the operator converges 40 namespaces faster than the test can see
    // its first policy and kill it, with its usual 32 writes in flight.
    let mut args = LEASE.to_vec();
    args.extend(["--write-concurrency", "1"]);
    let operator = Replica::start_with(&lease, "kill", &args);
    wait_leading(&client, &lease, &operator).await;
    let names = namespaces(&client, "faults-kill", "kill", 40).await;
    let uid = apply_baseline(&client, "faults-kill", baseline_spec("kill")).await;
    wait_until("the first policies are written", TIMEOUT, || async {
        !enforcement(&client, &uid).await.policies.is_empty()
    })
    .await;
    operator.hold();
    operator.signal("KILL");
    wait_until("the operator is gone", TIMEOUT, || async {
        !operator.running()
    })
    .await;
    let partial = enforcement(&client, &uid).await;
    assert!(
        converged(&partial, &set(&names)).is_err(),
        "converged before the kill: the test needs more namespaces to catch it mid-apply"
    );

    // While it is down, five namespaces leave the selector: their enforcement is now orphaned.
    let namespaces_api: Api<Namespace> = Api::all(client.clone());
    for name in &names[..5] {
        let unlabel = json!({"metadata": {"labels": {"faults": null}}});
        namespaces_api
            .patch(name, &PatchParams::default(), &Patch::Merge(&unlabel))
            .await
            .unwrap();
    }
    operator.release();
    wait_converged(
        &client,
        &uid,
        &set(&names[5..]),
        "restarted operator converged, orphans pruned",
    )
    .await;
    wait_ready(&client, "faults-kill").await;
    for name in &names[..5] {
        let ns = namespaces_api.get(name).await.unwrap();
        assert!(
            !ns.labels().contains_key(PSA_ENFORCE),
            "{name} left the selector but kept {PSA_ENFORCE}"
        );
    }
    delete_baseline(&client, "faults-kill").await;
}

/// Lines of the operator's log that report a write which lost to a concurrent write (409).
fn conflicts(log: &str) -> Vec<&str> {
    log.lines()
        .filter(|l| l.contains("raced another writer") && l.contains("code=409"))
        .collect()
}

#[tokio::test]
async fn leader_failover_under_namespace_churn_loses_no_reconcile_and_has_one_writer() {
    let _serial = serial().await;
    let client = fault_client().await;
    let lease = lease_name("churn");
    let a = Replica::start(&lease, "churn-a");
    wait_leading(&client, &lease, &a).await;
    let b = Replica::start(&lease, "churn-b");
    let uid = apply_baseline(&client, "faults-churn", baseline_spec("churn")).await;
    wait_until("the standby is Ready", TIMEOUT, || async {
        b.get("/readyz").is_some_and(|(c, _)| c == 200)
    })
    .await;

    let namespaces_api: Api<Namespace> = Api::all(client.clone());
    let mut live: Vec<String> = Vec::new();
    let total = 48;
    for i in 0..total {
        let name = format!("faults-churn-{i}");
        let _ = namespaces_api.delete(&name, &DeleteParams::default()).await;
    }
    let started = Instant::now();
    for i in 0..total {
        let name = format!("faults-churn-{i}");
        wait_until("old namespace gone", TIMEOUT, || async {
            matches!(namespaces_api.get_opt(&name).await, Ok(None))
        })
        .await;
        create_namespace(&namespaces_api, &name, "churn").await;
        live.push(name);
        if i % 4 == 3 {
            let gone = live.remove(live.len() / 2);
            namespaces_api
                .delete(&gone, &DeleteParams::default())
                .await
                .unwrap();
        }
        // A graceful handover (SIGTERM: writers finish, then the lease is released), and then
        // a crash (SIGKILL: the lease runs out), each in the middle of the churn.
        if i == 12 {
            let leader = if a.leads() { &a } else { &b };
            leader.signal("TERM");
        }
        if i == 32 {
            let leader = if a.leads() { &a } else { &b };
            leader.signal("KILL");
        }
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
    eprintln!("churn took {:?}", started.elapsed());
    assert!(
        a.exits() + b.exits() >= 2,
        "both handovers happened ({} + {} exits)",
        a.exits(),
        b.exits()
    );

    // Namespaces deleted during the churn may still be terminating: judge the live ones.
    wait_converged(
        &client,
        &uid,
        &set(&live),
        "every namespace created during the churn is enforced",
    )
    .await;
    wait_ready(&client, "faults-churn").await;
    let leaders = [&a, &b].iter().filter(|r| r.leads()).count();
    assert_eq!(leaders, 1, "exactly one replica leads after the churn");
    for replica in [&a, &b] {
        let log = replica.log();
        let found = conflicts(&log);
        assert!(
            found.is_empty(),
            "{} lost writes to a concurrent writer:\n{}",
            replica.identity,
            found.join("\n")
        );
    }
    delete_baseline(&client, "faults-churn").await;
    for name in &live {
        let _ = namespaces_api.delete(name, &DeleteParams::default()).await;
    }
}

#[tokio::test]
async fn liveness_fails_while_a_reconcile_is_stuck_and_recovers_after() {
    let _serial = serial().await;
    let client = fault_client().await;
    let dir = tempfile::tempdir().unwrap();
    let (_, upstream) =
        crate::leader::kubeconfig_of_via(&fault_cluster().kubeconfig, 0, dir.path());
    let relay = crate::leader::Relay::start(upstream);
    let (relayed, _) =
        crate::leader::kubeconfig_of_via(&fault_cluster().kubeconfig, relay.port, dir.path());
    // A lease long enough that the leader keeps it through the stall: only liveness reacts.
    let lease = lease_name("live");
    let operator = Replica::start_via(
        &relayed,
        &lease,
        "live",
        &[
            "--lease-seconds",
            "120",
            "--renew-deadline-seconds",
            "90",
            "--retry-period-seconds",
            "2",
            "--stall-seconds",
            "5",
        ],
    );
    wait_leading(&client, &lease, &operator).await;
    let names = namespaces(&client, "faults-live", "live", 1).await;
    let ns = &names[0];
    // The exemption runs out while the operator is cut off: its expiry alone (a timer, no
    // watch event) starts a reconcile, whose first write then hangs.
    let mut spec = baseline_spec("live");
    spec["exemptions"] = json!([{
        "controls": ["workload-hardening"],
        "namespaces": [ns],
        "reason": "migration", "approvedBy": "ciso", "expires": in_seconds(20),
    }]);
    apply_baseline(&client, "faults-live", spec).await;
    wait_ready(&client, "faults-live").await;
    let namespaces_api: Api<Namespace> = Api::all(client.clone());
    assert!(
        !namespaces_api
            .get(ns)
            .await
            .unwrap()
            .labels()
            .contains_key(PSA_ENFORCE),
        "exempted: no PSA labels yet"
    );
    assert_eq!(operator.get("/healthz").map(|(c, _)| c), Some(200));

    relay.freeze();
    wait_until(
        "/healthz fails while the reconcile hangs",
        TIMEOUT,
        || async { operator.get("/healthz").is_some_and(|(c, _)| c == 503) },
    )
    .await;
    assert_eq!(
        operator.get("/readyz").map(|(c, _)| c),
        Some(200),
        "readiness is about caches, not progress"
    );
    relay.thaw();
    wait_until(
        "/healthz recovers once the reconcile ends",
        TIMEOUT,
        || async { operator.get("/healthz").is_some_and(|(c, _)| c == 200) },
    )
    .await;
    wait_until("the expired exemption is enforced", TIMEOUT, || async {
        namespaces_api
            .get(ns)
            .await
            .unwrap()
            .labels()
            .get(PSA_ENFORCE)
            .map(String::as_str)
            == Some("restricted")
    })
    .await;
    assert_eq!(operator.exits(), 0, "liveness reports; it does not exit");
    delete_baseline(&client, "faults-live").await;
}

// ------------------------------------------------------------------------- other writers

/// `kubectl apply --server-side --force-conflicts --field-manager=intruder` of `body`.
fn intrude(body: &Value) {
    let out = fault_cluster().kubectl_stdin(
        &[
            "apply",
            "--server-side",
            "--force-conflicts",
            "--field-manager=intruder",
            "-f",
            "-",
        ],
        &body.to_string(),
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Notes of `reason` events about the object with `uid`.
fn events_about(uid: &str, reason: &str) -> Vec<String> {
    let out = fault_cluster().kubectl_ok(&[
        "get",
        "events",
        "-A",
        "--field-selector",
        &format!("reason={reason}"),
        "-o",
        "json",
    ]);
    let events: Value = serde_json::from_str(&out).unwrap();
    events["items"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|e| e["involvedObject"]["uid"] == uid)
        .filter_map(|e| e["message"].as_str().map(str::to_string))
        .collect()
}

#[tokio::test]
async fn another_field_manager_fighting_over_owned_fields_loses_them_and_keeps_its_own() {
    let _serial = serial().await;
    let client = fault_client().await;
    let lease = lease_name("fight");
    let operator = Replica::start(&lease, "fight");
    wait_leading(&client, &lease, &operator).await;
    let names = namespaces(&client, "faults-fight", "fight", 1).await;
    let ns = &names[0];
    let uid = apply_baseline(&client, "faults-fight", baseline_spec("fight")).await;
    wait_converged(&client, &uid, &set(&names), "enforced").await;
    let found = enforcement(&client, &uid).await;
    let policy = found.policies[ns].iter().next().unwrap().clone();
    let policies: Api<NetworkPolicy> = Api::namespaced(client.clone(), ns);
    let original = policies.get(&policy).await.unwrap().spec;
    let namespaces_api: Api<Namespace> = Api::all(client.clone());

    // Three rounds: each time the intruder forces its values onto owned fields, and adds
    // fields of its own beside them.
    for round in 0..3 {
        intrude(&json!({
            "apiVersion": "networking.k8s.io/v1", "kind": "NetworkPolicy",
            "metadata": {"name": policy, "namespace": ns,
                         "annotations": {"intruder.example/note": "mine"}},
            "spec": {"podSelector": {}, "ingress": [{}]},
        }));
        intrude(&json!({
            "apiVersion": "v1", "kind": "Namespace",
            "metadata": {"name": ns, "labels": {PSA_ENFORCE: "privileged", "intruder.example/team": "blue"}},
        }));
        wait_until(
            &format!("round {round}: owned fields taken back"),
            TIMEOUT,
            || async {
                let spec = policies.get(&policy).await.unwrap().spec;
                let level = namespaces_api
                    .get(ns)
                    .await
                    .unwrap()
                    .labels()
                    .get(PSA_ENFORCE)
                    .cloned();
                spec == original && level.as_deref() == Some("restricted")
            },
        )
        .await;
    }
    // The intruder's own fields stay: the operator repairs what it owns, nothing else.
    let live = policies.get(&policy).await.unwrap();
    assert_eq!(
        live.annotations()
            .get("intruder.example/note")
            .map(String::as_str),
        Some("mine"),
        "a foreign annotation on an owned object was removed"
    );
    let ns_labels = namespaces_api.get(ns).await.unwrap().labels().clone();
    assert_eq!(
        ns_labels.get("intruder.example/team").map(String::as_str),
        Some("blue"),
        "a foreign namespace label was removed"
    );
    wait_until("Restored events recorded", TIMEOUT, || async {
        let notes = events_about(&uid, "Restored");
        notes
            .iter()
            .any(|n| n.contains(&format!("NetworkPolicy {ns}/{policy}")))
            && notes
                .iter()
                .any(|n| n.contains(&format!("Namespace {ns} were changed by hand")))
    })
    .await;
    delete_baseline(&client, "faults-fight").await;
}

#[tokio::test]
async fn a_namespace_deleted_while_reconciled_stops_nothing() {
    let _serial = serial().await;
    let client = fault_client().await;
    let lease = lease_name("nsdel");
    let operator = Replica::start(&lease, "nsdel");
    wait_leading(&client, &lease, &operator).await;
    let names = namespaces(&client, "faults-nsdel", "nsdel", 24).await;
    let uid = apply_baseline(&client, "faults-nsdel", baseline_spec("nsdel")).await;
    // Delete every third namespace while the first reconcile is writing.
    let namespaces_api: Api<Namespace> = Api::all(client.clone());
    wait_until("the first policies are written", TIMEOUT, || async {
        !enforcement(&client, &uid).await.policies.is_empty()
    })
    .await;
    let (deleted, kept): (Vec<_>, Vec<_>) = names.iter().enumerate().partition(|(i, _)| i % 3 == 0);
    for (_, name) in &deleted {
        namespaces_api
            .delete(name, &DeleteParams::default())
            .await
            .unwrap();
    }
    let kept: Vec<String> = kept.into_iter().map(|(_, n)| n.clone()).collect();
    for (_, name) in &deleted {
        wait_until("deleted namespace gone", TIMEOUT, || async {
            matches!(namespaces_api.get_opt(name).await, Ok(None))
        })
        .await;
    }
    wait_converged(
        &client,
        &uid,
        &set(&kept),
        "the remaining namespaces enforced",
    )
    .await;
    wait_ready(&client, "faults-nsdel").await;
    assert!(operator.running(), "the operator survived");
    assert_eq!(operator.exits(), 0, "the operator never exited");
    delete_baseline(&client, "faults-nsdel").await;
}

#[tokio::test]
async fn deleting_a_baseline_removes_everything_it_owns_including_its_psa_labels() {
    let _serial = serial().await;
    let client = fault_client().await;
    let lease = lease_name("delete");
    let operator = Replica::start(&lease, "delete");
    wait_leading(&client, &lease, &operator).await;
    let names = namespaces(&client, "faults-delete", "delete", 3).await;
    let namespaces_api: Api<Namespace> = Api::all(client.clone());
    // A label of someone else's, set before the baseline: it must survive the deletion.
    let foreign = json!({"metadata": {"labels": {"team.example/owner": "red"}}});
    namespaces_api
        .patch(&names[0], &PatchParams::default(), &Patch::Merge(&foreign))
        .await
        .unwrap();
    let uid = apply_baseline(&client, "faults-delete", baseline_spec("delete")).await;
    wait_converged(&client, &uid, &set(&names), "enforced").await;
    wait_ready(&client, "faults-delete").await;

    delete_baseline(&client, "faults-delete").await;
    assert_eq!(
        enforcement(&client, &uid).await,
        Enforcement::default(),
        "policies or PSA marker left behind"
    );
    // Every owned kind, not just NetworkPolicies: nothing carries the owner's uid any more.
    let owned = fault_cluster().kubectl_ok(&[
        "get",
        "networkpolicies,validatingadmissionpolicies,validatingadmissionpolicybindings,policyreports.wgpolicyk8s.io",
        "-A",
        "-l",
        &format!("{OWNER_UID}={uid}"),
        "-o",
        "name",
    ]);
    assert!(owned.trim().is_empty(), "left behind: {owned}");
    for name in &names {
        let ns = namespaces_api.get(name).await.unwrap();
        let psa: Vec<&String> = ns
            .labels()
            .keys()
            .filter(|k| {
                k.starts_with("pod-security.kubernetes.io/")
                    || k.starts_with("security.baseline.dev/")
            })
            .collect();
        assert!(psa.is_empty(), "{name} still carries {psa:?}");
        let stamps: Vec<&String> = ns
            .annotations()
            .keys()
            .filter(|k| k.starts_with("security.baseline.dev/"))
            .collect();
        assert!(stamps.is_empty(), "{name} still carries {stamps:?}");
    }
    let labels = namespaces_api
        .get(&names[0])
        .await
        .unwrap()
        .labels()
        .clone();
    assert_eq!(
        labels.get("team.example/owner").map(String::as_str),
        Some("red"),
        "a foreign label was removed"
    );
}

// ------------------------------------------------------------------------- helm

/// A privileged pod, which PSA `restricted` rejects.
fn privileged_pod(ns: &str) -> String {
    format!(
        "apiVersion: v1\nkind: Pod\nmetadata: {{name: privileged, namespace: {ns}}}\nspec:\n  containers:\n  - name: app\n    image: registry.example.com/app:1\n    securityContext: {{privileged: true}}\n"
    )
}

fn psa_rejects(ns: &str) -> bool {
    let pod = privileged_pod(ns);
    let out = fault_cluster().kubectl_stdin(&["create", "-f", "-"], &pod);
    if out.status.success() {
        fault_cluster().kubectl_stdin(&["delete", "--wait", "-f", "-"], &pod);
        return false;
    }
    String::from_utf8_lossy(&out.stderr).contains("violates PodSecurity")
}

#[tokio::test]
async fn helm_uninstall_leaves_enforcement_in_place() {
    let _serial = serial().await;
    let client = fault_client().await;
    let chart = Path::new(REPO).join("charts/baseline-operator");
    let release_ns = "faults-helm-system";
    let _ = fault_cluster().helm(&["uninstall", "baseline-operator", "--namespace", release_ns]);
    // Velero's namespace first, as on a cluster with Velero: the chart's Velero Role goes there.
    let _ = fault_cluster().kubectl(&["create", "namespace", "velero"]);
    let out = fault_cluster().helm(&[
        "install",
        "baseline-operator",
        chart.to_str().unwrap(),
        "--namespace",
        release_ns,
        "--create-namespace",
    ]);
    assert!(
        out.status.success(),
        "helm install: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    // The control plane has no kubelet: the chart's pods never run. The operator binary runs
    // here in their place (the chart's own RBAC is proven in tests/chart_rbac.rs).
    let lease = lease_name("helm");
    let operator = Replica::start(&lease, "helm");
    wait_leading(&client, &lease, &operator).await;
    let names = namespaces(&client, "faults-helm", "helm", 2).await;
    let uid = apply_baseline(&client, "faults-helm", baseline_spec("helm")).await;
    wait_converged(&client, &uid, &set(&names), "enforced").await;
    wait_ready(&client, "faults-helm").await;
    assert!(psa_rejects(&names[0]), "PSA restricted enforced");

    // Uninstall, and the operator stops with its Deployment.
    let out = fault_cluster().helm(&["uninstall", "baseline-operator", "--namespace", release_ns]);
    assert!(
        out.status.success(),
        "helm uninstall: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    drop(operator);
    wait_until("the chart's ClusterRole is gone", TIMEOUT, || async {
        !fault_cluster()
            .kubectl(&["get", "clusterrole", "baseline-operator"])
            .status
            .success()
    })
    .await;
    tokio::time::sleep(Duration::from_secs(3)).await;

    // The CRDs (shipped in crds/, which Helm never deletes), the baseline and everything it
    // put in place are still there, and the API server still enforces it.
    let api: Api<SecurityBaseline> = Api::all(client.clone());
    assert!(
        api.get_opt("faults-helm").await.unwrap().is_some(),
        "the baseline survived"
    );
    assert!(
        converged(&enforcement(&client, &uid).await, &set(&names)).is_ok(),
        "enforcement removed by helm uninstall"
    );
    assert!(
        psa_rejects(&names[0]),
        "PSA no longer enforced after uninstall"
    );

    // Clean up: an operator must run for the finalizer.
    let operator = Replica::start(&lease, "helm");
    wait_leading(&client, &lease, &operator).await;
    delete_baseline(&client, "faults-helm").await;
}

/// Velero's CRDs are removed while the operator runs: its Velero watches fail and its caches
/// hold what they last saw. Past the grace period an EnvironmentIsolation (which reads Velero's
/// Restores) turns Ready=False with reason `WatchFailing`, naming the kinds (before, status went
/// on reporting evidence from the stale caches as current), while a SecurityBaseline, which
/// reads nothing of Velero's, stays Ready; once the CRDs are back and the watches list again,
/// Ready=True.
#[tokio::test]
async fn a_watch_failing_past_the_grace_period_makes_status_say_so() {
    use baseline_operator::api::EnvironmentIsolation;
    let _serial = serial().await;
    let client = fault_client().await;
    let velero_crds = fault_cluster()
        .bin
        .parent()
        .unwrap()
        .join("velero-crds.yaml");
    let velero_crds = velero_crds.to_str().unwrap();
    fault_cluster().kubectl_ok(&["apply", "--server-side", "-f", velero_crds]);
    fault_cluster().kubectl_ok(&[
        "wait",
        "--for=condition=Established",
        "--timeout=60s",
        "crd/schedules.velero.io",
    ]);
    let lease = lease_name("watch");
    let mut args: Vec<String> = LEASE.iter().map(|a| a.to_string()).collect();
    args.extend(["--watch-grace-seconds".into(), "5".into()]);
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let operator = Replica::start_with(&lease, "watch", &args);
    wait_leading(&client, &lease, &operator).await;
    let name = "faults-watch";
    namespaces(&client, "faults-watch", "watch", 1).await;
    apply_baseline(&client, name, baseline_spec("watch")).await;
    let isolations: Api<EnvironmentIsolation> = Api::all(client.clone());
    let body = json!({
        "apiVersion": "security.baseline.dev/v1alpha1", "kind": "EnvironmentIsolation",
        "metadata": {"name": name},
        "spec": {"mode": "Audit", "environments": [
            {"name": "prod", "production": true, "namespaceSelector": {"matchLabels": {"faults": "watch"}}}]},
    });
    isolations
        .patch(
            name,
            &PatchParams::apply("faults-test").force(),
            &Patch::Apply(&body),
        )
        .await
        .unwrap();
    let ready = |status: Option<&baseline_operator::api::ComplianceStatus>| {
        status
            .and_then(|s| s.conditions.iter().find(|c| c.type_ == "Ready"))
            .map(|c| (c.status.clone(), c.reason.clone(), c.message.clone()))
    };
    let isolation_ready = || async {
        isolations
            .get(name)
            .await
            .ok()
            .and_then(|ei| ready(ei.status.as_ref()))
    };
    wait_ready(&client, name).await;
    wait_until("the isolation Ready", TIMEOUT, || async {
        isolation_ready().await.is_some_and(|(s, _, _)| s == "True")
    })
    .await;
    // Give the operator time to find Velero's API and list it (discovery polls every 5 s).
    tokio::time::sleep(Duration::from_secs(8)).await;

    fault_cluster().kubectl_ok(&["delete", "-f", velero_crds, "--wait=true"]);
    wait_until(
        "the isolation Ready=False, WatchFailing",
        TIMEOUT,
        || async {
            isolation_ready()
                .await
                .is_some_and(|(status, reason, message)| {
                    status == "False"
                        && reason == "WatchFailing"
                        && message.contains("Restore")
                        && message.contains("have failed since")
                })
        },
    )
    .await;
    let baselines: Api<SecurityBaseline> = Api::all(client.clone());
    let sb = baselines.get(name).await.unwrap();
    assert_eq!(
        ready(sb.status.as_ref()).map(|r| r.0),
        Some("True".to_string()),
        "a SecurityBaseline reads nothing of Velero's"
    );

    fault_cluster().kubectl_ok(&["apply", "--server-side", "-f", velero_crds]);
    wait_until(
        "Ready=True once the watches list again",
        TIMEOUT,
        || async { isolation_ready().await.is_some_and(|(s, _, _)| s == "True") },
    )
    .await;
    let _ = isolations.delete(name, &DeleteParams::default()).await;
    delete_baseline(&client, name).await;
    drop(operator);
}

#[path = "faults_never_weaken.rs"]
mod never_weaken_restart;
