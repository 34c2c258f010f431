//! Test support: one real control plane per test run, a client, an in-process operator, and
//! helpers to wait for conditions.
//!
//! The control plane is the project's own (tests/cluster/up): etcd, kube-apiserver and
//! kube-controller-manager. There is no kubelet or scheduler, so Pods are stored but never run;
//! the tests assert on API objects, admission decisions and operator status, never on running
//! containers (except the node tests, through `node_cluster`). Set `BASELINE_TEST_KUBECONFIG`
//! to reuse a cluster that is already up.

pub mod cosign;
pub mod oscal;
mod scenario;
mod signed_history;

pub use scenario::*;
pub use signed_history::*;

use baseline_operator::controller::{self, RunConfig};
use baseline_operator::telemetry::{Health, Metrics};
use k8s_openapi::api::core::v1::Namespace;
use kube::api::{Api, DeleteParams, PostParams};
use kube::config::{KubeConfigOptions, Kubeconfig};
use kube::{Client, Config};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

/// The repository root (this crate lives in `tests/support`).
pub const REPO: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../..");

pub struct Cluster {
    pub kubeconfig: PathBuf,
    pub bin: PathBuf,
}

static CLUSTER: OnceLock<Cluster> = OnceLock::new();

/// The shared control plane, started on first use and stopped by its watchdog when the test
/// process exits.
pub fn cluster() -> &'static Cluster {
    CLUSTER.get_or_init(|| start_cluster(&[]))
}

/// The shared cluster with a real node and the backup stack (`tests/cluster/up --with-node
/// --with-velero`): pods run, NetworkPolicies are enforced, and restore tests restore real
/// backups. Only the node test binaries call this first; with `BASELINE_TEST_KUBECONFIG` the
/// given cluster must have been started with both.
pub fn node_cluster() -> &'static Cluster {
    let cluster = CLUSTER.get_or_init(|| start_cluster(&["--with-node", "--with-velero"]));
    let nodes = cluster.kubectl_ok(&["get", "nodes", "-o", "name"]);
    assert!(
        !nodes.trim().is_empty(),
        "this cluster has no node: start it with tests/cluster/up --with-node"
    );
    cluster
}

/// The shared cluster with the backup stack (`tests/cluster/up --with-velero`): a MinIO S3
/// server on loopback and `velero server` with the AWS plugin, so Backups and Schedules are
/// really processed and their tarballs land in the bucket. Call it before [`operator`] (which
/// otherwise starts a plain cluster); with `BASELINE_TEST_KUBECONFIG` the given cluster must
/// have been started with `--with-velero`.
pub fn velero_cluster() -> &'static Cluster {
    let cluster = CLUSTER.get_or_init(|| start_cluster(&["--with-velero"]));
    assert!(
        cluster.s3().is_some(),
        "this cluster has no backup stack: start it with tests/cluster/up --with-velero"
    );
    cluster
}

fn start_cluster(up_args: &[&str]) -> Cluster {
    match std::env::var("BASELINE_TEST_KUBECONFIG") {
        Ok(path) => Cluster::with_kubeconfig(PathBuf::from(path)),
        Err(_) => Cluster::up(
            up_args,
            &std::env::temp_dir().join(format!("baseline-e2e-{}", std::process::id())),
        ),
    }
}

impl Cluster {
    /// A control plane of its own in `state` (`tests/cluster/up` with `up_args`), stopped (and
    /// `state` deleted) by its watchdog when the test process exits, with the CRDs installed: for tests that
    /// break or restart a control plane the other tests must not share.
    pub fn up(up_args: &[&str], state: &Path) -> Cluster {
        let out = Command::new(Path::new(REPO).join("tests/cluster/up"))
            .args(up_args)
            .arg("--watch-pid")
            .arg(std::process::id().to_string())
            .arg("--remove-state")
            .arg(state)
            .output()
            .expect("running tests/cluster/up");
        assert!(
            out.status.success(),
            "tests/cluster/up failed:\n{}",
            String::from_utf8_lossy(&out.stderr)
        );
        Cluster::with_kubeconfig(PathBuf::from(String::from_utf8_lossy(&out.stdout).trim()))
    }

    /// The cluster `kubeconfig` reaches, with the built tools, and the CRDs installed.
    fn with_kubeconfig(kubeconfig: PathBuf) -> Cluster {
        let out = Command::new(Path::new(REPO).join("tests/cluster/build"))
            .output()
            .expect("running tests/cluster/build");
        assert!(out.status.success(), "tests/cluster/build failed");
        let bin = PathBuf::from(String::from_utf8_lossy(&out.stdout).trim());
        let cluster = Cluster { kubeconfig, bin };
        let crds = Path::new(REPO).join("crds/crds.yaml");
        cluster.kubectl_ok(&[
            "apply",
            "--server-side",
            "--force-conflicts",
            "-f",
            crds.to_str().unwrap(),
        ]);
        cluster.kubectl_ok(&[
            "wait",
            "--for=condition=Established",
            "--timeout=60s",
            "crd/securitybaselines.security.baseline.dev",
            "crd/backuppolicies.security.baseline.dev",
            "crd/environmentisolations.security.baseline.dev",
        ]);
        cluster
    }

    /// A client of this cluster.
    pub async fn client(&self) -> Client {
        let kubeconfig = Kubeconfig::read_from(&self.kubeconfig).expect("reading kubeconfig");
        let config = Config::from_custom_kubeconfig(kubeconfig, &KubeConfigOptions::default())
            .await
            .expect("kubeconfig");
        Client::try_from(config).expect("client")
    }
}

impl Cluster {
    pub fn kubectl(&self, args: &[&str]) -> std::process::Output {
        Command::new(self.bin.join("kubectl"))
            .env("KUBECONFIG", &self.kubeconfig)
            .args(args)
            .output()
            .expect("running the built kubectl")
    }

    pub fn kubectl_ok(&self, args: &[&str]) -> String {
        let out = self.kubectl(args);
        assert!(
            out.status.success(),
            "kubectl {args:?} failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// Runs the built kubectl with `stdin` as its input.
    pub fn kubectl_stdin(&self, args: &[&str], stdin: &str) -> std::process::Output {
        use std::io::Write;
        let mut child = Command::new(self.bin.join("kubectl"))
            .env("KUBECONFIG", &self.kubeconfig)
            .args(args)
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .expect("spawning kubectl");
        child
            .stdin
            .take()
            .unwrap()
            .write_all(stdin.as_bytes())
            .unwrap();
        child.wait_with_output().unwrap()
    }

    /// Applies YAML through the built kubectl; returns stderr on failure.
    pub fn apply_yaml(&self, yaml: &str) -> Result<String, String> {
        let out = self.kubectl_stdin(&["apply", "-f", "-"], yaml);
        if out.status.success() {
            Ok(String::from_utf8_lossy(&out.stdout).into_owned())
        } else {
            Err(String::from_utf8_lossy(&out.stderr).into_owned())
        }
    }
}

impl Cluster {
    /// Whether the API server rejects creating `yaml` with a message naming `control`. An
    /// object that slipped in (the policy was not there yet) is deleted again, so that the
    /// next attempt is a fresh create that admission sees.
    pub fn rejects(&self, yaml: &str, control: &str) -> bool {
        match self.apply_yaml(yaml) {
            Ok(_) => {
                self.kubectl_stdin(&["delete", "--wait", "-f", "-"], yaml);
                false
            }
            Err(message) => message.contains(&format!("[{control}]")),
        }
    }
}

/// Runs a build script of ours (`script`, relative to the repository: tests/cosign/build,
/// tests/argocd/build, ...), which builds a pinned tool or finds it in its cache and prints
/// where it is; its errors go to the test's stderr.
pub fn built_tool(script: &str) -> PathBuf {
    let build = Path::new(REPO).join(script);
    let out = Command::new(&build)
        .stderr(std::process::Stdio::inherit())
        .output()
        .unwrap_or_else(|e| panic!("cannot run {}: {e}", build.display()));
    assert!(
        out.status.success(),
        "{} failed ({}); its output is above",
        build.display(),
        out.status
    );
    PathBuf::from(String::from_utf8(out.stdout).expect("UTF-8 path").trim())
}

pub async fn client() -> Client {
    Client::try_from(kube_config().await).expect("client")
}

/// The client configuration of the shared test cluster.
pub async fn kube_config() -> Config {
    let kubeconfig = Kubeconfig::read_from(&cluster().kubeconfig).expect("reading kubeconfig");
    Config::from_custom_kubeconfig(kubeconfig, &KubeConfigOptions::default())
        .await
        .expect("kubeconfig")
}

/// The operator under test, running in-process on its own runtime for the whole test run.
pub struct Operator {
    pub metrics: Arc<Metrics>,
}

impl Operator {
    /// Fails unless the engine has agreed with every from-scratch evaluation since the shared
    /// operator started (the counter spans every e2e scenario), printing the operator's
    /// divergence warnings, which say what differed, so that a failure here can be traced to
    /// the scenario that caused it.
    pub fn assert_engine_never_diverged(&self, context: &str) {
        let divergences = self.metrics.engine_divergences.get();
        if divergences == 0 {
            return;
        }
        let warnings: Vec<String> = logs()
            .lines()
            .filter(|line| line.contains("disagrees with a from-scratch evaluation"))
            .map(str::to_string)
            .collect();
        panic!(
            "{context}: the incremental engine disagreed with a from-scratch evaluation {divergences} time(s):\n{}",
            warnings.join("\n")
        );
    }
}

static OPERATOR: OnceLock<Operator> = OnceLock::new();

/// Resync period of the in-process operator: longer than any wait in the tests, so that every
/// reaction they see comes from a watch trigger, not from the periodic resync.
pub const TEST_RESYNC: Duration = Duration::from_secs(120);
/// The in-process operator's "own namespace", which it must never touch.
pub const OPERATOR_HOME: &str = "e2e-operator-home";
/// A namespace excluded with `--excluded-namespaces`.
pub const EXCLUDED_BY_FLAG: &str = "e2e-excluded-by-flag";

/// How often the shared operator compares its incremental engine with a from-scratch
/// evaluation: often, so that every e2e scenario is also a check of the engine (see
/// `e2e engine_shadow`).
pub const ENGINE_CHECK: Duration = Duration::from_secs(2);

/// The settings of an operator a test runs in-process: the defaults of `run` (those its flags
/// default to), a resync of [`TEST_RESYNC`], copied-secret detection on, no history, no
/// namespace excluded beyond the system ones. Tests change what they are about with struct
/// update syntax: `RunConfig { reports_api, ..test_run_config("openreports") }`.
pub fn test_run_config(instance: &str) -> RunConfig {
    RunConfig {
        instance: instance.into(),
        resync: TEST_RESYNC,
        evaluated_refresh: controller::DEFAULT_EVALUATED_REFRESH,
        engine_check: controller::engine_feed::DEFAULT_CHECK_INTERVAL,
        write_concurrency: controller::write_pool::WRITE_CONCURRENCY,
        history: None,
        detect_copied_secrets: true,
        operator_namespace: None,
        excluded_namespaces: Vec::new(),
        watch_grace: controller::watch_health::DEFAULT_GRACE,
        velero_namespace: controller::DEFAULT_VELERO_NAMESPACE.into(),
        velero_service_accounts: controller::DEFAULT_VELERO_SERVICE_ACCOUNTS
            .iter()
            .map(|s| s.to_string())
            .collect(),
        reports_api: Default::default(),
    }
}

pub fn operator() -> &'static Operator {
    OPERATOR.get_or_init(|| {
        cluster();
        let metrics = Arc::new(Metrics::default());
        let health = Arc::new(Health::default());
        let (m, h) = (metrics.clone(), health.clone());
        std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_multi_thread()
                .worker_threads(2)
                .enable_all()
                .build()
                .unwrap();
            runtime.block_on(async move {
                capture_logs();
                let client = client().await;
                let (_keep, shutdown) = tokio::sync::watch::channel(false);
                let config = RunConfig {
                    resync: TEST_RESYNC,
                    engine_check: ENGINE_CHECK,
                    // What the chart passes: its own namespace, and one more by flag.
                    operator_namespace: Some(OPERATOR_HOME.into()),
                    excluded_namespaces: vec![EXCLUDED_BY_FLAG.into()],
                    ..test_run_config("e2e")
                };
                if let Err(error) = controller::run(client, config, m, h, shutdown).await {
                    panic!("operator stopped: {error}");
                }
            });
        });
        let deadline = Instant::now() + Duration::from_secs(60);
        while !health.ready.load(std::sync::atomic::Ordering::Relaxed) {
            assert!(
                Instant::now() < deadline,
                "operator caches never became ready"
            );
            std::thread::sleep(Duration::from_millis(100));
        }
        Operator { metrics }
    })
}

/// An operator a test binary of its own runs with its own settings, on the test's runtime and
/// beside no shared [`operator`]; stopped gracefully by [`OwnOperator::stop`].
pub struct OwnOperator {
    shutdown: tokio::sync::watch::Sender<bool>,
    task: tokio::task::JoinHandle<()>,
}

impl OwnOperator {
    /// Starts it and waits (a minute at most) until its caches are ready.
    pub async fn start(client: Client, config: RunConfig) -> Self {
        let (shutdown, receiver) = tokio::sync::watch::channel(false);
        let health = Arc::new(Health::default());
        let ready = health.clone();
        let task = tokio::spawn(async move {
            let metrics = Arc::new(Metrics::default());
            if let Err(error) = controller::run(client, config, metrics, health, receiver).await {
                panic!("operator stopped: {error}");
            }
        });
        wait_until("operator caches ready", Duration::from_secs(60), || {
            let ready = ready.ready.load(std::sync::atomic::Ordering::Relaxed);
            async move { ready }
        })
        .await;
        Self { shutdown, task }
    }

    /// Asks it to shut down and waits (a minute at most) until it has.
    pub async fn stop(self) {
        let _ = self.shutdown.send(true);
        let _ = tokio::time::timeout(Duration::from_secs(60), self.task).await;
    }
}

/// Everything the in-process operator logs, at debug level, for tests that scan logs.
pub static LOGS: Mutex<Vec<u8>> = Mutex::new(Vec::new());

struct LogBuffer;

impl std::io::Write for LogBuffer {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        LOGS.lock()
            .unwrap_or_else(|p| p.into_inner())
            .extend_from_slice(bytes);
        Ok(bytes.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

fn capture_logs() {
    use tracing_subscriber::prelude::*;
    let layer = tracing_subscriber::fmt::layer()
        .json()
        .with_writer(|| LogBuffer)
        .with_filter(tracing_subscriber::EnvFilter::new(
            "debug,hyper=info,tower=info,rustls=info",
        ));
    let _ = tracing_subscriber::registry().with(layer).try_init();
}

pub fn logs() -> String {
    String::from_utf8_lossy(&LOGS.lock().unwrap_or_else(|p| p.into_inner())).into_owned()
}

static SERIAL: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

/// Tests that use the shared operator run one at a time, so that write counts and events are
/// attributable to the test that caused them.
pub async fn serial() -> tokio::sync::MutexGuard<'static, ()> {
    SERIAL.lock().await
}

/// Server-side applies a cluster-scoped custom resource of kind `K` with `spec`.
pub async fn apply_cr<K>(client: &Client, name: &str, spec: serde_json::Value) -> Api<K>
where
    K: kube::Resource<DynamicType = ()> + Clone + serde::de::DeserializeOwned + std::fmt::Debug,
{
    let api: Api<K> = Api::all(client.clone());
    let body = serde_json::json!({
        "apiVersion": K::api_version(&()), "kind": K::kind(&()),
        "metadata": {"name": name}, "spec": spec,
    });
    let params = kube::api::PatchParams::apply("e2e").force();
    if let Err(error) = api
        .patch(name, &params, &kube::api::Patch::Apply(&body))
        .await
    {
        panic!("applying {} {name}: {error}", K::kind(&()));
    }
    api
}

/// Creates a namespace with labels; returns its name.
pub async fn namespace(client: &Client, name: &str, labels: &[(&str, &str)]) -> String {
    let api: Api<Namespace> = Api::all(client.clone());
    let _ = api.delete(name, &DeleteParams::default()).await;
    wait_until("old namespace gone", Duration::from_secs(60), || async {
        api.get_opt(name).await.ok().flatten().is_none()
    })
    .await;
    let ns: Namespace = serde_json::from_value(serde_json::json!({
        "metadata": {"name": name, "labels": labels.iter().cloned().collect::<std::collections::BTreeMap<_, _>>()}
    }))
    .unwrap();
    api.create(&PostParams::default(), &ns)
        .await
        .expect("create namespace");
    name.to_string()
}

/// Polls `check` until it returns true, failing the test with `what` after `timeout`.
pub async fn wait_until<F, Fut>(what: &str, timeout: Duration, mut check: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let deadline = Instant::now() + timeout;
    loop {
        if check().await {
            return;
        }
        assert!(Instant::now() < deadline, "timed out waiting for: {what}");
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}

/// Runs `bin evidence --out <out>` against the shared cluster, as an auditor would, and fails
/// the test if it does not succeed. `bin` is the test's `CARGO_BIN_EXE_baseline-operator`.
pub fn export_evidence(bin: &str, out: &Path) {
    let run = Command::new(bin)
        .args(["evidence", "--out"])
        .arg(out)
        .env("KUBECONFIG", &cluster().kubeconfig)
        .output()
        .expect("running baseline-operator evidence");
    assert!(
        run.status.success(),
        "evidence failed: {}",
        String::from_utf8_lossy(&run.stderr)
    );
}

/// Waits until the in-process operator has stopped writing (no write for two seconds), so that
/// what a test does next is judged against a converged state the operator has seen.
pub async fn settle_writes() {
    let operator = operator();
    let mut before = operator.metrics.total_writes();
    wait_until("operator writes settle", Duration::from_secs(60), || {
        let now = operator.metrics.total_writes();
        let settled = now == before;
        before = now;
        async move {
            tokio::time::sleep(Duration::from_secs(2)).await;
            settled
        }
    })
    .await;
}

/// Where the backup stack of a `--with-velero` cluster keeps its backups, from `STATE_DIR/env`.
#[derive(Clone, Debug)]
pub struct S3Store {
    pub endpoint: String,
    pub bucket: String,
    pub region: String,
    access_key_file: PathBuf,
    secret_key_file: PathBuf,
}

impl Cluster {
    /// The S3 store of this cluster's backup stack, or None when it was started without one.
    pub fn s3(&self) -> Option<S3Store> {
        let env_file = self.kubeconfig.parent()?.join("env");
        let env = std::fs::read_to_string(env_file).ok()?;
        let value = |name: &str| {
            env.lines()
                .find_map(|line| line.strip_prefix(&format!("export {name}=")))
                .map(|v| v.trim_matches('\'').to_string())
        };
        Some(S3Store {
            endpoint: value("CLUSTER_S3_ENDPOINT")?,
            bucket: value("CLUSTER_S3_BUCKET")?,
            region: value("CLUSTER_S3_REGION")?,
            access_key_file: value("CLUSTER_S3_ACCESS_KEY_FILE")?.into(),
            secret_key_file: value("CLUSTER_S3_SECRET_KEY_FILE")?.into(),
        })
    }
}

impl S3Store {
    /// The file holding the access key id (for clients given credentials by file).
    pub fn access_key_file(&self) -> &Path {
        &self.access_key_file
    }

    /// The file holding the secret key.
    pub fn secret_key_file(&self) -> &Path {
        &self.secret_key_file
    }

    /// A SigV4-signed GET of `path_and_query` (after the bucket) with the system curl, the same
    /// way `up` created the bucket. The credentials go to curl on stdin, not its command line.
    fn get(&self, path_and_query: &str) -> Vec<u8> {
        use std::io::Write;
        let read = |path: &Path| {
            std::fs::read_to_string(path)
                .unwrap_or_else(|e| panic!("reading {}: {e}", path.display()))
        };
        let user = format!(
            "{}:{}",
            read(&self.access_key_file),
            read(&self.secret_key_file)
        );
        let url = format!("{}/{}{}", self.endpoint, self.bucket, path_and_query);
        let mut child = Command::new("curl")
            .args(["-fsS", "--max-time", "30", "--aws-sigv4"])
            .arg(format!("aws:amz:{}:s3", self.region))
            .args(["-K", "-", &url])
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .expect("running curl");
        let config = format!("user = \"{user}\"\n");
        child
            .stdin
            .take()
            .unwrap()
            .write_all(config.as_bytes())
            .unwrap();
        let out = child.wait_with_output().unwrap();
        assert!(
            out.status.success(),
            "S3 GET {url} failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        out.stdout
    }

    /// Every object key in the bucket under `prefix` (ListObjectsV2, following continuation
    /// tokens).
    pub fn keys(&self, prefix: &str) -> Vec<String> {
        let mut keys = Vec::new();
        let mut token: Option<String> = None;
        loop {
            // Parameters in SigV4's canonical (sorted) order and percent-encoded: this curl
            // signs the query as written.
            let continuation = token
                .as_deref()
                .map(|t| format!("continuation-token={}&", query_escape(t)))
                .unwrap_or_default();
            let query = format!("?{continuation}list-type=2&prefix={}", query_escape(prefix));
            let body = String::from_utf8(self.get(&query)).expect("S3 listing is UTF-8");
            keys.extend(xml_values(&body, "Key"));
            token = xml_values(&body, "NextContinuationToken")
                .into_iter()
                .next();
            if token.is_none() {
                return keys;
            }
        }
    }

    /// The access key and secret key, for a process the test starts (put them in its
    /// environment, never on a command line).
    pub fn credentials(&self) -> (String, String) {
        let read = |path: &Path| {
            std::fs::read_to_string(path)
                .unwrap_or_else(|e| panic!("reading {}: {e}", path.display()))
                .trim()
                .to_string()
        };
        (read(&self.access_key_file), read(&self.secret_key_file))
    }

    /// The content of one object.
    pub fn object(&self, key: &str) -> Vec<u8> {
        let path: String = key
            .split('/')
            .map(query_escape)
            .collect::<Vec<_>>()
            .join("/");
        self.get(&format!("/{path}"))
    }
}

/// Percent-encodes everything but RFC 3986's unreserved characters.
fn query_escape(value: &str) -> String {
    value
        .bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// The text of every `<tag>...</tag>` in an S3 XML answer (keys here are plain names; the
/// five XML entities are decoded).
fn xml_values(body: &str, tag: &str) -> Vec<String> {
    let (open, close) = (format!("<{tag}>"), format!("</{tag}>"));
    body.split(&open)
        .skip(1)
        .filter_map(|rest| rest.split_once(&close).map(|(value, _)| value))
        .map(|value| {
            value
                .replace("&lt;", "<")
                .replace("&gt;", ">")
                .replace("&quot;", "\"")
                .replace("&apos;", "'")
                .replace("&amp;", "&")
        })
        .collect()
}
