//! Scale benchmark: builds a cluster of N namespaces on the real test control plane, runs the
//! release operator against it as a separate process and measures it side by side with two
//! floors measured in the same run: the same owned objects written by the simplest client (one
//! server-side apply each, same concurrency), and a process holding only one metadata-only
//! reflector per watched kind.
//!
//! Not part of `cargo test`. Run it with (after `cargo build --release`):
//!
//!     cargo bench --bench scale -- --namespaces 100 [--steady-seconds 300] [--out FILE]
//!
//! Options: `--cluster-dir DIR` reuses (or starts) a control plane in DIR and leaves it up;
//! without it a fresh one is started in a temporary directory and stopped at the end.
//! `--concurrency C` (default 32) is shared by setup, the operator's floor writer and deletes.
//! `--operator PATH` (default target/release/baseline-operator), `--latency-samples N`
//! (default 50), `--label TEXT` (recorded in the JSON, e.g. "before").
//!
//! Then Kyverno (benches/scale/kyverno.rs), on the same control plane and namespaces, with the
//! operator stopped and its objects removed: `--skip-kyverno` leaves it out (recorded as
//! skipped), `--kyverno-steady-seconds S` (default 60), `--kyverno-latency-samples N`
//! (default 5), `--kyverno-timeout-seconds S` (default 3600). It is built by
//! tests/kyverno/build (about 12 minutes the first time, cached after), while the operator runs.
//!
//! Requests are counted by the API server itself: the operator and the floor writer run with
//! their own client certificates (users `bench-operator`, `bench-floor`), and FlowSchemas route
//! their writes and their other requests to flows of their own, so
//! `apiserver_flowcontrol_dispatched_requests_total{flow_schema=...}` separates them from the
//! controller-manager and from this harness.

use futures::{StreamExt, TryStreamExt};
use k8s_openapi::api::core::v1::Namespace;
use kube::api::{
    Api, ApiResource, DeleteParams, DynamicObject, GroupVersionKind, ListParams, Patch, PatchParams,
};
use kube::config::{KubeConfigOptions, Kubeconfig};
use kube::core::PartialObjectMeta;
use kube::runtime::{WatchStreamExt, reflector, watcher};
use kube::{Client, Config, Resource};
use serde_json::{Value, json};
use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

#[path = "scale/kyverno.rs"]
mod kyverno;

const REPO: &str = env!("CARGO_MANIFEST_DIR");
const ENVIRONMENTS: [&str; 3] = ["production", "staging", "development"];
const MANAGED: &str = "app.kubernetes.io/managed-by=baseline-operator";
const INGRESSES_PER_NAMESPACE: usize = 4;
const ROLE_BINDINGS_PER_NAMESPACE: usize = 4;
const REPLICAS: usize = 2;

#[derive(Clone, Debug)]
struct Options {
    namespaces: usize,
    steady_seconds: u64,
    concurrency: usize,
    cluster_dir: Option<PathBuf>,
    operator: PathBuf,
    latency_samples: usize,
    out: Option<PathBuf>,
    label: String,
    kyverno: kyverno::KyvernoOptions,
    /// `--operator-env KEY=VALUE` (repeatable): set for the operator process only, e.g.
    /// `MALLOC_ARENA_MAX=2` to measure glibc's allocator with fewer arenas.
    operator_env: Vec<(String, String)>,
}

fn options() -> Options {
    let mut o = Options {
        namespaces: 100,
        steady_seconds: 300,
        concurrency: 32,
        cluster_dir: None,
        operator: Path::new(REPO).join("target/release/baseline-operator"),
        latency_samples: 50,
        out: None,
        label: String::new(),
        kyverno: kyverno::KyvernoOptions {
            skip: false,
            steady_seconds: 60,
            latency_samples: 5,
            timeout_seconds: 3600,
        },
        operator_env: Vec::new(),
    };
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        let mut value = || args.next().unwrap_or_else(|| panic!("{arg} needs a value"));
        match arg.as_str() {
            "--namespaces" => o.namespaces = value().parse().expect("--namespaces N"),
            "--steady-seconds" => o.steady_seconds = value().parse().expect("--steady-seconds S"),
            "--concurrency" => o.concurrency = value().parse().expect("--concurrency C"),
            "--cluster-dir" => o.cluster_dir = Some(value().into()),
            "--operator" => o.operator = value().into(),
            "--latency-samples" => o.latency_samples = value().parse().expect("N"),
            "--out" => o.out = Some(value().into()),
            "--label" => o.label = value(),
            "--skip-kyverno" => o.kyverno.skip = true,
            "--kyverno-steady-seconds" => {
                o.kyverno.steady_seconds = value().parse().expect("--kyverno-steady-seconds S")
            }
            "--kyverno-latency-samples" => {
                o.kyverno.latency_samples = value().parse().expect("--kyverno-latency-samples N")
            }
            "--kyverno-timeout-seconds" => {
                o.kyverno.timeout_seconds = value().parse().expect("--kyverno-timeout-seconds S")
            }
            "--operator-env" => {
                let pair = value();
                let (key, val) = pair.split_once('=').expect("--operator-env KEY=VALUE");
                o.operator_env.push((key.into(), val.into()));
            }
            // cargo bench passes --bench to harness = false targets.
            "--bench" => {}
            "--floor-reflector" => {
                // Internal: the metadata-only reflector floor, run as its own process.
                let kubeconfig = value();
                floor_reflector(&kubeconfig);
            }
            other => panic!("unknown argument {other}"),
        }
    }
    o
}

fn main() {
    let o = options();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(run(o));
}

/// A control plane and the three identities used against it.
struct Cluster {
    dir: PathBuf,
    owned_dir: bool,
    kubectl: PathBuf,
    admin: PathBuf,
    operator: PathBuf,
    floor: PathBuf,
}

impl Cluster {
    fn kubectl(&self, args: &[&str]) -> String {
        let out = Command::new(&self.kubectl)
            .arg("--kubeconfig")
            .arg(&self.admin)
            .args(args)
            .output()
            .expect("kubectl");
        assert!(
            out.status.success(),
            "kubectl {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    fn kubectl_stdin(&self, args: &[&str], stdin: &str) {
        let mut child = Command::new(&self.kubectl)
            .arg("--kubeconfig")
            .arg(&self.admin)
            .args(args)
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .spawn()
            .expect("kubectl");
        child
            .stdin
            .take()
            .unwrap()
            .write_all(stdin.as_bytes())
            .unwrap();
        assert!(child.wait().unwrap().success(), "kubectl {args:?}");
    }

    /// Counts of requests dispatched per FlowSchema, from the API server's own metrics.
    /// Writes as the API server counts them, by verb and resource (`apiserver_request_total`
    /// of every client: during the operator's phases it is the only writer but for the
    /// controller-manager and the leases).
    fn writes_by_verb_and_resource(&self) -> BTreeMap<String, f64> {
        let text = self.kubectl(&["get", "--raw", "/metrics"]);
        let mut counts = BTreeMap::new();
        for line in text.lines() {
            let Some(rest) = line.strip_prefix("apiserver_request_total{") else {
                continue;
            };
            let label = |name: &str| {
                let start = rest.find(&format!("{name}=\""))? + name.len() + 2;
                let value = &rest[start..];
                Some(value[..value.find('"')?].to_string())
            };
            let verb = label("verb").unwrap_or_default();
            if !["POST", "PUT", "PATCH", "APPLY", "DELETE"].contains(&verb.as_str()) {
                continue;
            }
            let mut resource = label("resource").unwrap_or_default();
            if let Some(sub) = label("subresource").filter(|s| !s.is_empty()) {
                resource = format!("{resource}/{sub}");
            }
            let value: f64 = line
                .rsplit(' ')
                .next()
                .and_then(|v| v.parse().ok())
                .unwrap_or(0.0);
            *counts.entry(format!("{verb} {resource}")).or_default() += value;
        }
        counts
    }

    fn flow_counts(&self) -> BTreeMap<String, f64> {
        let text = self.kubectl(&["get", "--raw", "/metrics"]);
        let mut counts = BTreeMap::new();
        for line in text.lines() {
            let Some(rest) = line.strip_prefix("apiserver_flowcontrol_dispatched_requests_total{")
            else {
                continue;
            };
            let Some(start) = rest.find("flow_schema=\"") else {
                continue;
            };
            let name = &rest[start + 13..];
            let name = &name[..name.find('"').unwrap_or(0)];
            if !name.starts_with("bench-") {
                continue;
            }
            let value: f64 = line
                .rsplit(' ')
                .next()
                .and_then(|v| v.parse().ok())
                .unwrap_or(0.0);
            *counts.entry(name.to_string()).or_default() += value;
        }
        counts
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        if self.owned_dir {
            let _ = Command::new(Path::new(REPO).join("tests/cluster/down"))
                .arg(&self.dir)
                .status();
        }
    }
}

fn start_cluster(o: &Options) -> Cluster {
    let (dir, owned_dir) = match &o.cluster_dir {
        Some(dir) => (dir.clone(), false),
        None => (
            std::env::temp_dir().join(format!("scale-bench-{}", std::process::id())),
            true,
        ),
    };
    let admin = dir.join("kubeconfig");
    let running = admin.exists()
        && Command::new(Path::new(REPO).join("tests/cluster/build"))
            .output()
            .ok()
            .and_then(|out| {
                let bin = PathBuf::from(String::from_utf8_lossy(&out.stdout).trim());
                Command::new(bin.join("kubectl"))
                    .arg("--kubeconfig")
                    .arg(&admin)
                    .args(["get", "--raw", "/readyz"])
                    .output()
                    .ok()
            })
            .is_some_and(|out| out.status.success());
    if !running {
        eprintln!("[scale] starting a control plane in {}", dir.display());
        let out = Command::new(Path::new(REPO).join("tests/cluster/up"))
            .arg(&dir)
            .output()
            .expect("tests/cluster/up");
        assert!(
            out.status.success(),
            "tests/cluster/up: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    let out = Command::new(Path::new(REPO).join("tests/cluster/build"))
        .output()
        .expect("tests/cluster/build");
    let bin = PathBuf::from(String::from_utf8_lossy(&out.stdout).trim());
    let cluster = Cluster {
        kubectl: bin.join("kubectl"),
        operator: dir.join("bench-operator.kubeconfig"),
        floor: dir.join("bench-floor.kubeconfig"),
        admin,
        dir,
        owned_dir,
    };
    for user in ["bench-operator", "bench-floor"] {
        user_kubeconfig(&cluster, user);
    }
    cluster.kubectl(&[
        "apply",
        "--server-side",
        "--force-conflicts",
        "-f",
        &format!("{REPO}/crds/crds.yaml"),
    ]);
    cluster.kubectl(&[
        "wait",
        "--for=condition=Established",
        "--timeout=60s",
        "crd/securitybaselines.security.baseline.dev",
        "crd/backuppolicies.security.baseline.dev",
        "crd/environmentisolations.security.baseline.dev",
    ]);
    // Leader election renews a Lease every few seconds: counted apart from the operator's
    // other writes (the controller-manager renews its own the same way).
    let mut rbac_and_flows = String::from(
        r#"---
apiVersion: flowcontrol.apiserver.k8s.io/v1
kind: FlowSchema
metadata: {name: bench-operator-lease}
spec:
  priorityLevelConfiguration: {name: workload-high}
  matchingPrecedence: 99
  distinguisherMethod: {type: ByUser}
  rules:
  - subjects: [{kind: User, user: {name: bench-operator}}]
    resourceRules:
    - verbs: ["*"]
      apiGroups: [coordination.k8s.io]
      resources: [leases]
      namespaces: ["*"]
"#,
    );
    for (precedence, user) in [(100, "bench-operator"), (110, "bench-floor")] {
        rbac_and_flows.push_str(&format!(
            r#"---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRoleBinding
metadata: {{name: {user}}}
roleRef: {{apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: cluster-admin}}
subjects: [{{kind: User, name: {user}, apiGroup: rbac.authorization.k8s.io}}]
---
apiVersion: flowcontrol.apiserver.k8s.io/v1
kind: FlowSchema
metadata: {{name: {user}-writes}}
spec:
  priorityLevelConfiguration: {{name: workload-high}}
  matchingPrecedence: {precedence}
  distinguisherMethod: {{type: ByUser}}
  rules:
  - subjects: [{{kind: User, user: {{name: {user}}}}}]
    resourceRules:
    - verbs: [create, update, patch, delete, deletecollection]
      apiGroups: ["*"]
      resources: ["*"]
      clusterScope: true
      namespaces: ["*"]
---
apiVersion: flowcontrol.apiserver.k8s.io/v1
kind: FlowSchema
metadata: {{name: {user}-reads}}
spec:
  priorityLevelConfiguration: {{name: workload-high}}
  matchingPrecedence: {}
  distinguisherMethod: {{type: ByUser}}
  rules:
  - subjects: [{{kind: User, user: {{name: {user}}}}}]
    resourceRules:
    - verbs: ["*"]
      apiGroups: ["*"]
      resources: ["*"]
      clusterScope: true
      namespaces: ["*"]
    nonResourceRules:
    - verbs: ["*"]
      nonResourceURLs: ["*"]
"#,
            precedence + 1
        ));
    }
    cluster.kubectl_stdin(
        &["apply", "--server-side", "--force-conflicts", "-f", "-"],
        &rbac_and_flows,
    );
    cluster
}

/// A kubeconfig for `user`, with a client certificate signed by the cluster's CA.
fn user_kubeconfig(cluster: &Cluster, user: &str) {
    let pki = cluster.dir.join("pki");
    let key = pki.join(format!("{user}.key"));
    let crt = pki.join(format!("{user}.crt"));
    let csr = pki.join(format!("{user}.csr"));
    let openssl = |args: &[&str]| {
        let status = Command::new("openssl")
            .args(args)
            .stderr(Stdio::null())
            .status()
            .unwrap();
        assert!(status.success(), "openssl {args:?}");
    };
    openssl(&[
        "req",
        "-newkey",
        "rsa:2048",
        "-nodes",
        "-keyout",
        key.to_str().unwrap(),
        "-subj",
        &format!("/O=bench/CN={user}"),
        "-out",
        csr.to_str().unwrap(),
    ]);
    // rustls takes only X.509 v3 client certificates: give it extensions.
    let ext = pki.join(format!("{user}.ext"));
    std::fs::write(
        &ext,
        "basicConstraints=CA:FALSE\nkeyUsage=critical,digitalSignature,keyEncipherment\nextendedKeyUsage=clientAuth\n",
    )
    .unwrap();
    openssl(&[
        "x509",
        "-extfile",
        ext.to_str().unwrap(),
        "-req",
        "-in",
        csr.to_str().unwrap(),
        "-CA",
        pki.join("ca.crt").to_str().unwrap(),
        "-CAkey",
        pki.join("ca.key").to_str().unwrap(),
        "-CAcreateserial",
        "-days",
        "2",
        "-out",
        crt.to_str().unwrap(),
    ]);
    let admin = std::fs::read_to_string(&cluster.admin).unwrap();
    let mut lines = Vec::new();
    for line in admin.lines() {
        if line.trim_start().starts_with("client-certificate-data:") {
            lines.push(format!("    client-certificate: {}", crt.display()));
        } else if line.trim_start().starts_with("client-key-data:") {
            lines.push(format!("    client-key: {}", key.display()));
        } else {
            lines.push(line.to_string());
        }
    }
    let path = cluster.dir.join(format!("{user}.kubeconfig"));
    std::fs::write(&path, lines.join("\n") + "\n").unwrap();
}

async fn client(kubeconfig: &Path) -> Client {
    let kubeconfig = Kubeconfig::read_from(kubeconfig).expect("kubeconfig");
    let mut config = Config::from_custom_kubeconfig(kubeconfig, &KubeConfigOptions::default())
        .await
        .expect("kubeconfig");
    config.read_timeout = Some(Duration::from_secs(300));
    Client::try_from(config).expect("client")
}

fn resource(api_version: &str, kind: &str, plural: &str) -> ApiResource {
    let (group, version) = api_version.rsplit_once('/').unwrap_or(("", api_version));
    ApiResource::from_gvk_with_plural(&GroupVersionKind::gvk(group, version, kind), plural)
}

fn plural(kind: &str) -> &'static str {
    match kind {
        "Namespace" => "namespaces",
        "Deployment" => "deployments",
        "Service" => "services",
        "Ingress" => "ingresses",
        "PersistentVolumeClaim" => "persistentvolumeclaims",
        "RoleBinding" => "rolebindings",
        "Secret" => "secrets",
        "ConfigMap" => "configmaps",
        "NetworkPolicy" => "networkpolicies",
        "ValidatingAdmissionPolicy" => "validatingadmissionpolicies",
        "ValidatingAdmissionPolicyBinding" => "validatingadmissionpolicybindings",
        "PolicyReport" => "policyreports",
        "ClusterPolicyReport" => "clusterpolicyreports",
        "Schedule" => "schedules",
        "Restore" => "restores",
        "SecurityBaseline" => "securitybaselines",
        "EnvironmentIsolation" => "environmentisolations",
        "BackupPolicy" => "backuppolicies",
        other => panic!("no plural for {other}"),
    }
}

fn api_for(client: &Client, object: &Value) -> (Api<DynamicObject>, String) {
    let kind = object["kind"].as_str().unwrap();
    let ar = resource(object["apiVersion"].as_str().unwrap(), kind, plural(kind));
    let name = object["metadata"]["name"].as_str().unwrap().to_string();
    let api = match object["metadata"]["namespace"].as_str() {
        Some(ns) => Api::namespaced_with(client.clone(), ns, &ar),
        None => Api::all_with(client.clone(), &ar),
    };
    (api, name)
}

/// Server-side applies every object, `concurrency` at a time; returns the failures.
async fn apply_all(
    client: &Client,
    manager: &str,
    objects: Vec<Value>,
    concurrency: usize,
) -> Vec<String> {
    let params = PatchParams::apply(manager).force();
    futures::stream::iter(objects)
        .map(|object| {
            let params = params.clone();
            async move {
                let (api, name) = api_for(client, &object);
                let mut last = None;
                for _attempt in 0..5 {
                    match api.patch(&name, &params, &Patch::Apply(&object)).await {
                        Ok(_) => return None,
                        Err(error) => {
                            last = Some(format!("{} {name}: {error}", object["kind"]));
                            tokio::time::sleep(Duration::from_millis(500)).await;
                        }
                    }
                }
                last
            }
        })
        .buffer_unordered(concurrency)
        .filter_map(|r| async move { r })
        .collect()
        .await
}

fn namespace_name(i: usize) -> String {
    format!("scale-{}-{i:05}", &ENVIRONMENTS[i % 3][..4])
}

/// The tenant objects of namespace `i`: what the controls judge.
fn workload(i: usize) -> Vec<Value> {
    let ns = namespace_name(i);
    let env = ENVIRONMENTS[i % 3];
    // Every 10th namespace breaks some rules, so that reports carry findings.
    let sloppy = i.is_multiple_of(10);
    let image = if sloppy {
        "nginx:latest".to_string()
    } else {
        format!("registry.example.com/app:1.{}", i % 7)
    };
    let mut objects = vec![
        json!({"apiVersion": "apps/v1", "kind": "Deployment",
            "metadata": {"name": "app", "namespace": ns, "labels": {"app": "app"}},
            "spec": {"replicas": REPLICAS, "selector": {"matchLabels": {"app": "app"}},
                "template": {"metadata": {"labels": {"app": "app"}}, "spec": {
                    "automountServiceAccountToken": false,
                    "securityContext": {"runAsNonRoot": true, "seccompProfile": {"type": "RuntimeDefault"}},
                    "containers": [{"name": "app", "image": image,
                        "ports": [{"containerPort": 8443}],
                        "resources": {"requests": {"cpu": "10m", "memory": "32Mi"}, "limits": {"memory": "64Mi"}},
                        "readinessProbe": {"httpGet": {"path": "/ready", "port": 8443}},
                        "livenessProbe": {"httpGet": {"path": "/live", "port": 8443}},
                        "env": [{"name": "MODE", "value": env}, {"name": "LOG_LEVEL", "value": "info"}],
                        "securityContext": {"allowPrivilegeEscalation": sloppy,
                            "capabilities": {"drop": ["ALL"]}}}]}}}}),
        json!({"apiVersion": "v1", "kind": "Service",
            "metadata": {"name": "app", "namespace": ns},
            "spec": {"clusterIP": "None", "selector": {"app": "app"},
                "ports": [{"port": 443, "targetPort": 8443, "name": "https"}]}}),
        json!({"apiVersion": "v1", "kind": "PersistentVolumeClaim",
            "metadata": {"name": "data", "namespace": ns},
            "spec": {"accessModes": ["ReadWriteOnce"], "storageClassName": "encrypted-gp3",
                "resources": {"requests": {"storage": "1Gi"}}}}),
        json!({"apiVersion": "v1", "kind": "Secret",
            "metadata": {"name": "db", "namespace": ns},
            "stringData": {"password": format!("secret-{i}-{env}")}}),
        json!({"apiVersion": "v1", "kind": "Secret",
            "metadata": {"name": "tls", "namespace": ns},
            "stringData": {"tls.crt": format!("cert-{i}"), "tls.key": format!("key-{i}")}}),
        json!({"apiVersion": "v1", "kind": "ConfigMap",
            "metadata": {"name": "app-config", "namespace": ns},
            "data": {"config.yaml": format!("env: {env}\nreplicas: {REPLICAS}\n")}}),
        json!({"apiVersion": "v1", "kind": "ConfigMap",
            "metadata": {"name": "feature-flags", "namespace": ns},
            "data": {"flags": "a=1,b=0"}}),
    ];
    for j in 0..INGRESSES_PER_NAMESPACE {
        let mut spec = json!({"rules": [{"host": format!("h{j}.{ns}.example.com"),
            "http": {"paths": [{"path": "/", "pathType": "Prefix",
                "backend": {"service": {"name": "app", "port": {"number": 443}}}}]}}]});
        if !(sloppy && j == 0) {
            spec["tls"] =
                json!([{"hosts": [format!("h{j}.{ns}.example.com")], "secretName": "tls"}]);
        }
        objects.push(
            json!({"apiVersion": "networking.k8s.io/v1", "kind": "Ingress",
            "metadata": {"name": format!("web-{j}"), "namespace": ns}, "spec": spec}),
        );
    }
    for j in 0..ROLE_BINDINGS_PER_NAMESPACE {
        let role = ["view", "edit", "view", "view"][j];
        objects.push(json!({"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "RoleBinding",
            "metadata": {"name": format!("team-{j}"), "namespace": ns},
            "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": role},
            "subjects": [{"kind": "Group", "name": format!("team-{}-{j}", i % 50),
                "apiGroup": "rbac.authorization.k8s.io"},
                {"kind": "ServiceAccount", "name": "default", "namespace": ns}]}));
    }
    objects
}

fn custom_resources() -> Vec<Value> {
    vec![
        json!({"apiVersion": "security.baseline.dev/v1alpha1", "kind": "SecurityBaseline",
            "metadata": {"name": "scale"},
            "spec": {"mode": "Enforce",
                "namespaceSelector": {"matchExpressions": [{"key": "env", "operator": "In",
                    "values": ENVIRONMENTS}]},
                "network": {"defaultDeny": ["Ingress", "Egress"], "allowDNS": true,
                    "allowedIngressPorts": [{"port": 443, "protocol": "TCP"}]},
                "encryption": {"inTransit": {"requireIngressTLS": true},
                    "atRest": {"encryptedStorageClasses": ["encrypted-gp3"]}},
                "podSecurity": {"level": "restricted", "version": "latest"},
                "images": {"allowedRegistries": ["registry.example.com/"], "disallowLatestTag": true},
                "access": {"forbiddenRoles": ["cluster-admin"], "forbidWildcardRoles": true,
                    "disallowAutomountToken": true},
                "availability": {"minReplicas": 2, "requirePodDisruptionBudget": true,
                    "requireProbes": true},
                "resources": {"requireRequests": true, "requireMemoryLimit": true}}}),
        json!({"apiVersion": "security.baseline.dev/v1alpha1", "kind": "EnvironmentIsolation",
            "metadata": {"name": "scale"},
            "spec": {"mode": "Enforce",
                "environments": [
                    {"name": "production", "production": true,
                        "namespaceSelector": {"matchLabels": {"env": "production"}}},
                    {"name": "staging", "namespaceSelector": {"matchLabels": {"env": "staging"}}},
                    {"name": "development",
                        "namespaceSelector": {"matchLabels": {"env": "development"}}}],
                "allowedFlows": [{"from": "staging", "to": "production", "ports": [{"port": 443}]}],
                "productionData": {"classificationLabel": "data.baseline.dev/classification",
                    "productionValues": ["production", "personal"], "detectCopiedSecrets": true},
                "access": {"denyCrossEnvironmentBindings": true},
                "protectEnvironmentLabels": {"allowedUsers": [],
                    // The harness labels probe namespaces as an administrator.
                    "allowedGroups": ["platform-admins", "system:masters"]}}}),
        json!({"apiVersion": "security.baseline.dev/v1alpha1", "kind": "BackupPolicy",
            "metadata": {"name": "scale"},
            "spec": {"mode": "Enforce",
                "namespaceSelector": {"matchLabels": {"env": "production"}},
                "rpo": "24h", "rto": "6h", "retention": {"min": "720h", "max": "2160h"},
                "storageLocation": "default", "requireEncryption": true, "snapshotVolumes": true,
                "velero": {"namespace": "velero"}}}),
    ]
}

async fn count<K>(api: Api<K>, selector: &str) -> usize
where
    K: Resource + Clone + serde::de::DeserializeOwned + std::fmt::Debug,
{
    let mut total = 0;
    let mut params = ListParams::default().limit(500).labels(selector);
    loop {
        let Ok(page) = api.list_metadata(&params).await else {
            return total;
        };
        total += page.items.len();
        match page.metadata.continue_ {
            Some(token) if !token.is_empty() => params = params.continue_token(&token),
            _ => return total,
        }
    }
}

async fn setup(cluster: &Cluster, admin: &Client, o: &Options) -> Duration {
    let namespaces: Api<Namespace> = Api::all(admin.clone());
    let present = count(namespaces.clone(), "bench=scale").await;
    if present == o.namespaces {
        eprintln!("[scale] reusing the {present} namespaces already there");
        return Duration::ZERO;
    }
    assert_eq!(
        present, 0,
        "the cluster holds {present} bench namespaces, not {}: use a fresh --cluster-dir",
        o.namespaces
    );
    let started = Instant::now();
    cluster.kubectl(&["create", "namespace", "velero"]);
    let ns_objects = (0..o.namespaces)
        .map(|i| {
            json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": namespace_name(i),
            "labels": {"env": ENVIRONMENTS[i % 3], "bench": "scale",
                "data.baseline.dev/classification": if i % 3 == 0 {"production"} else {"internal"}}}})
        })
        .collect();
    let failed = apply_all(admin, "bench-setup", ns_objects, o.concurrency).await;
    assert!(failed.is_empty(), "namespaces: {failed:?}");
    let objects: Vec<Value> = (0..o.namespaces).flat_map(workload).collect();
    eprintln!("[scale] creating {} objects", objects.len());
    let failed = apply_all(admin, "bench-setup", objects, o.concurrency).await;
    assert!(
        failed.is_empty(),
        "workload: {:?}",
        &failed[..failed.len().min(5)]
    );
    // Wait for the controller-manager's ReplicaSets and Pods, so that the operator starts on a
    // settled cluster.
    let pods: Api<k8s_openapi::api::core::v1::Pod> = Api::all(admin.clone());
    let want = o.namespaces * REPLICAS;
    let deadline = Instant::now() + Duration::from_secs(900);
    loop {
        let have = count(pods.clone(), "app=app").await;
        if have >= want || Instant::now() > deadline {
            eprintln!("[scale] {have}/{want} pods");
            break;
        }
        tokio::time::sleep(Duration::from_secs(3)).await;
    }
    started.elapsed()
}

/// The kinds the operator owns, for collecting and deleting them.
const OWNED: [(&str, &str, bool); 8] = [
    ("networking.k8s.io/v1", "NetworkPolicy", true),
    (
        "admissionregistration.k8s.io/v1",
        "ValidatingAdmissionPolicy",
        false,
    ),
    (
        "admissionregistration.k8s.io/v1",
        "ValidatingAdmissionPolicyBinding",
        false,
    ),
    ("wgpolicyk8s.io/v1alpha2", "PolicyReport", true),
    ("wgpolicyk8s.io/v1alpha2", "ClusterPolicyReport", false),
    ("velero.io/v1", "Schedule", true),
    ("velero.io/v1", "Restore", true),
    ("v1", "ConfigMap", true),
];

/// Every object the operator owns, reduced to what a server-side apply would send, and the
/// labels it set on namespaces (from its managedFields).
async fn owned_objects(admin: &Client) -> (Vec<Value>, Vec<Value>) {
    let mut objects = Vec::new();
    for (api_version, kind, _) in OWNED {
        let api: Api<DynamicObject> =
            Api::all_with(admin.clone(), &resource(api_version, kind, plural(kind)));
        let Ok(list) = api.list(&ListParams::default().labels(MANAGED)).await else {
            continue;
        };
        for item in list.items {
            let mut value = serde_json::to_value(&item).unwrap();
            value["apiVersion"] = json!(api_version);
            value["kind"] = json!(kind);
            let meta = value["metadata"].take();
            let mut clean = json!({"name": meta["name"], "labels": meta["labels"]});
            if let Some(ns) = meta["namespace"].as_str() {
                clean["namespace"] = json!(ns);
            }
            for key in ["annotations", "ownerReferences"] {
                if !meta[key].is_null() {
                    clean[key] = meta[key].clone();
                }
            }
            value["metadata"] = clean;
            if let Some(map) = value.as_object_mut() {
                map.remove("status");
            }
            objects.push(value);
        }
    }
    let mut namespace_labels = Vec::new();
    let namespaces: Api<Namespace> = Api::all(admin.clone());
    for ns in namespaces.list(&ListParams::default()).await.unwrap().items {
        // What the operator (or the floor writer, standing in for it) set: labels and the
        // annotations that fingerprint them.
        let mut owned = serde_json::Map::new();
        for map in ["labels", "annotations"] {
            let mut entries = serde_json::Map::new();
            for entry in ns.metadata.managed_fields.iter().flatten() {
                let manager = entry.manager.as_deref().unwrap_or_default();
                if !manager.starts_with("baseline-operator") && !manager.starts_with("bench-floor")
                {
                    continue;
                }
                let fields = entry.fields_v1.as_ref().map(|f| &f.0);
                let keys = fields
                    .and_then(|f| f.get("f:metadata"))
                    .and_then(|m| m.get(format!("f:{map}")))
                    .and_then(Value::as_object);
                let live = if map == "labels" {
                    ns.metadata.labels.as_ref()
                } else {
                    ns.metadata.annotations.as_ref()
                };
                for key in keys.into_iter().flat_map(|m| m.keys()) {
                    if let Some(name) = key.strip_prefix("f:")
                        && let Some(value) = live.and_then(|l| l.get(name))
                    {
                        entries.insert(name.to_string(), json!(value));
                    }
                }
            }
            if !entries.is_empty() {
                owned.insert(map.to_string(), Value::Object(entries));
            }
        }
        if !owned.is_empty() {
            owned.insert("name".into(), json!(ns.metadata.name));
            namespace_labels.push(json!({"apiVersion": "v1", "kind": "Namespace",
                "metadata": owned}));
        }
    }
    (objects, namespace_labels)
}

/// Removes everything the operator wrote, so that the next writer (the operator again, or the
/// floor) starts from the same state.
async fn reset_owned(admin: &Client, concurrency: usize) {
    let (objects, namespace_labels) = owned_objects(admin).await;
    futures::stream::iter(objects.iter())
        .for_each_concurrent(concurrency, |object| async move {
            let (api, name) = api_for(admin, object);
            let _ = api.delete(&name, &DeleteParams::background()).await;
        })
        .await;
    let namespaces: Api<Namespace> = Api::all(admin.clone());
    futures::stream::iter(namespace_labels.iter())
        .for_each_concurrent(concurrency, |ns| {
            let namespaces = namespaces.clone();
            async move {
                let mut metadata = serde_json::Map::new();
                for map in ["labels", "annotations"] {
                    let removed: serde_json::Map<String, Value> = ns["metadata"][map]
                        .as_object()
                        .into_iter()
                        .flat_map(|m| m.keys())
                        .map(|k| (k.clone(), Value::Null))
                        .collect();
                    metadata.insert(map.to_string(), Value::Object(removed));
                }
                let patch = json!({ "metadata": metadata });
                let _ = namespaces
                    .patch(
                        ns["metadata"]["name"].as_str().unwrap(),
                        &PatchParams::default(),
                        &Patch::Merge(&patch),
                    )
                    .await;
            }
        })
        .await;
    // Wait until the deletes have gone through.
    for _ in 0..120 {
        let mut left = 0;
        for (api_version, kind, _) in OWNED {
            let api: Api<DynamicObject> =
                Api::all_with(admin.clone(), &resource(api_version, kind, plural(kind)));
            left += api
                .list_metadata(&ListParams::default().labels(MANAGED))
                .await
                .map_or(0, |l| l.items.len());
        }
        if left == 0 {
            break;
        }
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
    // Fresh statuses: the operator must compute and write them again.
    for cr in custom_resources() {
        let (api, name) = api_for(admin, &cr);
        let _ = api
            .patch_status(
                &name,
                &PatchParams::default(),
                &Patch::Merge(&json!({"status": null})),
            )
            .await;
    }
}

/// VmHWM, VmRSS (KiB) and CPU seconds of a process.
fn process_usage(pid: u32) -> (u64, u64, f64) {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    let field = |name: &str| {
        status
            .lines()
            .find(|l| l.starts_with(name))
            .and_then(|l| l.split_whitespace().nth(1))
            .and_then(|v| v.parse().ok())
            .unwrap_or(0)
    };
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    let after = stat.rsplit_once(") ").map_or("", |(_, rest)| rest);
    let fields: Vec<&str> = after.split_whitespace().collect();
    // utime and stime are fields 14 and 15 of stat, 12 and 13 after "(comm) ".
    let ticks: f64 = fields.get(11..13).map_or(0.0, |f| {
        f.iter().filter_map(|v| v.parse::<f64>().ok()).sum()
    });
    (field("VmHWM:"), field("VmRSS:"), ticks / 100.0)
}

fn http_get(port: u16, path: &str) -> String {
    let Ok(mut stream) = std::net::TcpStream::connect(("127.0.0.1", port)) else {
        return String::new();
    };
    let _ = stream.set_read_timeout(Some(Duration::from_secs(10)));
    let _ = write!(
        stream,
        "GET {path} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n"
    );
    let mut body = String::new();
    let _ = stream.read_to_string(&mut body);
    body
}

/// Sums the samples of `metric` (all label sets), from Prometheus text.
fn metric_sum(text: &str, metric: &str) -> f64 {
    text.lines()
        .filter(|l| {
            l.starts_with(metric) && matches!(l.as_bytes().get(metric.len()), Some(b'{' | b' '))
        })
        .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .sum()
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// Whether every custom resource's status is current: written for its generation.
async fn statuses_current(admin: &Client) -> (bool, Vec<Value>) {
    let mut current = true;
    let mut scopes = Vec::new();
    for cr in custom_resources() {
        let (api, name) = api_for(admin, &cr);
        match api.get(&name).await {
            Ok(object) => {
                let value = serde_json::to_value(&object).unwrap();
                let generation = object.metadata.generation;
                let observed = value["status"]["observedGeneration"].as_i64();
                current &= observed.is_some() && observed == generation;
                scopes.push(json!({"kind": cr["kind"],
                    "namespaces": value["status"]["scope"]["namespaces"],
                    "ready": value["status"]["conditions"].as_array().and_then(|c| c.iter()
                        .find(|c| c["type"] == "Ready").map(|c| c["status"].clone()))}));
            }
            Err(_) => current = false,
        }
    }
    (current, scopes)
}

/// How long after labelling a fresh namespace into scope its first owned NetworkPolicy
/// appears, seen through a watch.
async fn protection_latency(
    admin: &Client,
    samples: usize,
    operator: &mut Child,
    log: &Path,
) -> Vec<f64> {
    use k8s_openapi::api::networking::v1::NetworkPolicy;
    let namespaces: Api<Namespace> = Api::all(admin.clone());
    let mut latencies = Vec::new();
    for i in 0..samples {
        let name = format!("scale-probe-{i:03}");
        let ns = json!({"apiVersion": "v1", "kind": "Namespace",
            "metadata": {"name": name, "labels": {"bench": "probe"}}});
        namespaces
            .patch(
                &name,
                &PatchParams::apply("bench-setup"),
                &Patch::Apply(&ns),
            )
            .await
            .unwrap();
        let policies: Api<NetworkPolicy> = Api::namespaced(admin.clone(), &name);
        let mut events = watcher(
            policies,
            watcher::Config::default().labels(MANAGED).any_semantic(),
        )
        .boxed();
        // The watch is established once its initial (empty) list is done.
        while let Ok(Some(event)) = events.try_next().await {
            if matches!(event, watcher::Event::InitDone) {
                break;
            }
        }
        let started = Instant::now();
        let patch = json!({"metadata": {"labels": {"env": ENVIRONMENTS[i % 3]}}});
        if let Err(error) = namespaces
            .patch(&name, &PatchParams::default(), &Patch::Merge(&patch))
            .await
        {
            eprintln!("[scale] labelling {name}: {error}");
            latencies.push(f64::INFINITY);
            continue;
        }
        let seen = tokio::time::timeout(Duration::from_secs(30), async {
            while let Ok(Some(event)) = events.try_next().await {
                if matches!(event, watcher::Event::Apply(_)) {
                    return true;
                }
            }
            false
        })
        .await;
        if seen == Ok(true) {
            latencies.push(started.elapsed().as_secs_f64() * 1000.0);
        } else {
            eprintln!("[scale] no NetworkPolicy in {name} within 30 s");
            fail_if_exited(operator, log);
            latencies.push(f64::INFINITY);
        }
    }
    latencies
}

/// `after - before` per key, the keys that changed only.
fn changed_counts(before: &BTreeMap<String, f64>, after: &BTreeMap<String, f64>) -> Value {
    let mut out = serde_json::Map::new();
    for (key, value) in after {
        let delta = value - before.get(key).copied().unwrap_or(0.0);
        if delta != 0.0 {
            out.insert(key.clone(), json!(delta));
        }
    }
    Value::Object(out)
}

/// The resourceVersion of every object the operator owns, and of every Namespace (the
/// operator writes labels there), by `kind namespace/name`.
async fn owned_versions(admin: &Client) -> BTreeMap<String, String> {
    let mut versions = BTreeMap::new();
    for (api_version, kind, _) in OWNED {
        let api: Api<DynamicObject> =
            Api::all_with(admin.clone(), &resource(api_version, kind, plural(kind)));
        let Ok(list) = api.list(&ListParams::default().labels(MANAGED)).await else {
            continue;
        };
        for item in list.items {
            let ns = item.metadata.namespace.clone().unwrap_or_default();
            let name = item.metadata.name.clone().unwrap_or_default();
            versions.insert(
                format!("{kind} {ns}/{name}"),
                item.metadata.resource_version.unwrap_or_default(),
            );
        }
    }
    let namespaces: Api<Namespace> = Api::all(admin.clone());
    for ns in namespaces.list(&ListParams::default()).await.unwrap().items {
        let name = ns.metadata.name.clone().unwrap_or_default();
        versions.insert(
            format!("Namespace /{name}"),
            ns.metadata.resource_version.unwrap_or_default(),
        );
    }
    versions
}

/// Which namespaces the objects that changed between `before` and `after` are in (created,
/// changed or deleted; a Namespace counts as its own; cluster-scoped objects as ""), with how
/// many changed in each.
fn namespaces_written(
    before: &BTreeMap<String, String>,
    after: &BTreeMap<String, String>,
) -> BTreeMap<String, usize> {
    let keys: std::collections::BTreeSet<&String> = before.keys().chain(after.keys()).collect();
    let mut out: BTreeMap<String, usize> = BTreeMap::new();
    for key in keys {
        if before.get(key) == after.get(key) {
            continue;
        }
        let (kind, rest) = key.split_once(' ').unwrap_or_default();
        let (ns, name) = rest.split_once('/').unwrap_or_default();
        let ns = if kind == "Namespace" { name } else { ns };
        *out.entry(ns.to_string()).or_default() += 1;
    }
    out
}

/// Moves one namespace from production to staging and waits until the operator is quiet:
/// what it wrote, where (the owned objects whose resourceVersion changed, by namespace, and
/// the API server's writes by verb and resource), and the reconcile time it took.
async fn one_namespace_relabelled(
    cluster: &Cluster,
    admin: &Client,
    port: u16,
    operator: &mut Child,
    log: &Path,
) -> Value {
    let target = namespace_name(3);
    // Into the other environment than the one it is in now: on a reused cluster
    // (`--cluster-dir`) an earlier run may have moved it already, and a patch that changes
    // nothing measures nothing.
    let namespaces = Api::<Namespace>::all(admin.clone());
    let from = namespaces
        .get(&target)
        .await
        .ok()
        .and_then(|n| n.metadata.labels?.get("env").cloned())
        .unwrap_or_default();
    let to = if from == "staging" {
        "production"
    } else {
        "staging"
    };
    let before = owned_versions(admin).await;
    let writes_before = cluster.writes_by_verb_and_resource();
    let flows_before = cluster.flow_counts();
    let metrics_before = http_get(port, "/metrics");
    // The operator's CPU over the relabel: its evaluation and bookkeeping, without the API
    // server's answers its passes wait for (which reconcile seconds include).
    let (_, _, cpu_before) = process_usage(operator.id());
    let started = Instant::now();
    namespaces
        .patch(
            &target,
            &PatchParams::default(),
            &Patch::Merge(json!({"metadata": {"labels": {"env": to}}})),
        )
        .await
        .unwrap();
    const QUIET: Duration = Duration::from_secs(10);
    let mut last = -1.0;
    let mut last_change = Instant::now();
    // Read at the first look after the last write: the quiet wait after it is not the
    // relabel's (a steady second of the operator, or a check round, would count).
    let mut cpu_after = cpu_before;
    while last_change.elapsed() < QUIET {
        tokio::time::sleep(Duration::from_millis(250)).await;
        fail_if_exited(operator, log);
        let writes = cluster
            .flow_counts()
            .get("bench-operator-writes")
            .copied()
            .unwrap_or(0.0);
        if writes != last {
            last = writes;
            last_change = Instant::now();
            cpu_after = process_usage(operator.id()).2;
        }
    }
    let settled = last_change.duration_since(started);
    let after = owned_versions(admin).await;
    let metrics_after = http_get(port, "/metrics");
    let seconds = |m: &str| metric_sum(m, "baseline_operator_reconcile_duration_seconds_sum");
    let reconciles = |m: &str| metric_sum(m, "baseline_operator_reconciles_total");
    let flow = |m: &BTreeMap<String, f64>| m.get("bench-operator-writes").copied().unwrap_or(0.0);
    json!({
        "namespace": target,
        "from": from,
        "to": to,
        "settled_seconds": settled.as_secs_f64(),
        "operator_writes": flow(&cluster.flow_counts()) - flow(&flows_before),
        "objects_written_by_namespace": namespaces_written(&before, &after),
        "api_server_writes": changed_counts(&writes_before, &cluster.writes_by_verb_and_resource()),
        "reconciles": reconciles(&metrics_after) - reconciles(&metrics_before),
        "reconcile_seconds": seconds(&metrics_after) - seconds(&metrics_before),
        "cpu_seconds": cpu_after - cpu_before,
        "engine_check_seconds": check_seconds(&metrics_after) - check_seconds(&metrics_before),
    })
}

/// Seconds the operator's engine check has run (a low-priority thread re-evaluating the
/// whole cluster): a phase's difference says whether a round ran beside it.
fn check_seconds(metrics: &str) -> f64 {
    metric_sum(metrics, "baseline_operator_engine_check_seconds_total")
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let rank = ((p / 100.0) * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

/// The metadata-only reflector floor: one metadata-only reflector per kind the operator
/// watches, nothing else. Prints `synced` once every store has its first list, then idles.
fn floor_reflector(kubeconfig: &str) -> ! {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async {
        use k8s_openapi::api::{
            admissionregistration::v1 as adm, apps::v1 as apps, batch::v1 as batch,
            core::v1 as core, discovery::v1 as discovery, networking::v1 as net,
            policy::v1 as policy, rbac::v1 as rbac, storage::v1 as storage,
        };
        let client = client(Path::new(kubeconfig)).await;
        let mut ready = Vec::new();
        macro_rules! meta_store {
            ($($ty:ty),*) => {$({
                let (reader, writer) = reflector::store::<PartialObjectMeta<$ty>>();
                let stream = watcher(Api::<PartialObjectMeta<$ty>>::all(client.clone()),
                        watcher::Config::default().any_semantic())
                    .default_backoff()
                    .reflect(writer);
                tokio::spawn(stream.for_each(|_| async {}));
                // The writer, in the stream's task, keeps the store; the reader only waits.
                ready.push(tokio::spawn(async move {
                    let _ = reader.wait_until_ready().await;
                }));
            })*};
        }
        meta_store!(
            core::Namespace,
            net::NetworkPolicy,
            core::Service,
            discovery::EndpointSlice,
            net::Ingress,
            core::PersistentVolumeClaim,
            storage::StorageClass,
            core::Pod,
            apps::Deployment,
            apps::StatefulSet,
            apps::DaemonSet,
            batch::Job,
            batch::CronJob,
            core::ServiceAccount,
            rbac::RoleBinding,
            rbac::ClusterRoleBinding,
            rbac::Role,
            rbac::ClusterRole,
            policy::PodDisruptionBudget,
            core::ConfigMap,
            core::Secret,
            adm::ValidatingAdmissionPolicy,
            adm::ValidatingAdmissionPolicyBinding
        );
        for handle in ready {
            let _ = handle.await;
        }
        println!("synced");
        let _ = std::io::stdout().flush();
        futures::future::pending::<()>().await;
    });
    unreachable!()
}

/// Starts the floor reflector, waits for it to sync and settle, and returns its (VmHWM, VmRSS).
fn measure_reflector_floor(cluster: &Cluster) -> (u64, u64, f64) {
    let mut child = Command::new(std::env::current_exe().unwrap())
        .arg("--floor-reflector")
        .arg(&cluster.floor)
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let started = Instant::now();
    let mut line = [0u8; 7];
    child.stdout.take().unwrap().read_exact(&mut line).unwrap();
    let synced = started.elapsed().as_secs_f64();
    std::thread::sleep(Duration::from_secs(5));
    let (hwm, rss, _) = process_usage(child.id());
    stop(&mut child);
    (hwm, rss, synced)
}

/// Stops the run when the operator has exited (it exits when it loses its leader lease): what
/// follows would only wait for writes that never come. The end of its log says why.
fn fail_if_exited(operator: &mut Child, log: &Path) {
    if let Ok(Some(status)) = operator.try_wait() {
        let text = std::fs::read_to_string(log).unwrap_or_default();
        let tail: Vec<&str> = text.lines().rev().take(5).collect();
        let tail: Vec<&str> = tail.into_iter().rev().collect();
        panic!(
            "the operator exited ({status}); the end of {}:\n{}",
            log.display(),
            tail.join("\n")
        );
    }
}

fn stop(child: &mut Child) {
    let _ = Command::new("kill")
        .arg("-TERM")
        .arg(child.id().to_string())
        .status();
    // Up to two minutes: a heap-profiling build (`--features dhat-heap`) writes its profile
    // on the way out.
    for _ in 0..1200 {
        if let Ok(Some(_)) = child.try_wait() {
            return;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    let _ = child.kill();
    let _ = child.wait();
}

fn mib(kib: u64) -> f64 {
    kib as f64 / 1024.0
}

async fn run(o: Options) {
    assert!(
        o.operator.exists(),
        "{} is missing: run `cargo build --release` first",
        o.operator.display()
    );
    // Built while the operator's phases run.
    let kyverno_build = (!o.kyverno.skip).then(kyverno::start_build);
    let cluster = start_cluster(&o);
    let admin = client(&cluster.admin).await;
    let floor_client = client(&cluster.floor).await;
    let setup_time = setup(&cluster, &admin, &o).await;
    eprintln!("[scale] setup took {:.0} s", setup_time.as_secs_f64());

    // Custom resources, and nothing the operator wrote before.
    let failed = apply_all(&admin, "bench-setup", custom_resources(), 1).await;
    assert!(failed.is_empty(), "{failed:?}");
    reset_owned(&admin, o.concurrency).await;
    // Nothing Kyverno wrote in an earlier run on a reused control plane.
    kyverno::remove_kyverno_objects(&admin).await;

    eprintln!("[scale] floor: metadata-only reflectors");
    let (floor_hwm, floor_rss, floor_sync) = measure_reflector_floor(&cluster);

    eprintln!("[scale] operator: start to convergence");
    let port = free_port();
    let flows_before = cluster.flow_counts();
    let api_writes_before = cluster.writes_by_verb_and_resource();
    let started = Instant::now();
    let log_path = cluster.dir.join("bench-operator.log");
    let log = std::fs::File::create(&log_path).unwrap();
    let mut operator = Command::new(&o.operator)
        .args([
            "run",
            "--detect-copied-secrets",
            "--lease-namespace",
            "default",
        ])
        .arg("--health-addr")
        .arg(format!("127.0.0.1:{port}"))
        .arg("--identity")
        .arg("bench")
        .env("KUBECONFIG", &cluster.operator)
        // Warnings, and the engine check's rounds (start, end, seconds): whether a round ran
        // beside a measured phase can be read here (and in each phase's `engine_check_seconds`).
        .env(
            "RUST_LOG",
            "warn,baseline_operator::controller::engine_feed=info",
        )
        .envs(o.operator_env.iter().map(|(k, v)| (k, v)))
        .stdout(log.try_clone().unwrap())
        .stderr(log)
        .spawn()
        .unwrap();
    let pid = operator.id();
    // Converged: every status current for its generation, and no write for `QUIET`.
    const QUIET: Duration = Duration::from_secs(15);
    let mut last_writes = -1.0;
    let mut last_change = Instant::now();
    let mut converged_at = None;
    let deadline = Instant::now() + Duration::from_secs(3600);
    while Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(250)).await;
        fail_if_exited(&mut operator, &log_path);
        let writes = cluster
            .flow_counts()
            .get("bench-operator-writes")
            .copied()
            .unwrap_or(0.0)
            - flows_before
                .get("bench-operator-writes")
                .copied()
                .unwrap_or(0.0);
        if started.elapsed().as_secs().is_multiple_of(20) && started.elapsed().subsec_millis() < 260
        {
            eprintln!(
                "[scale]   {:.0} s: {writes} writes",
                started.elapsed().as_secs_f64()
            );
        }
        if writes != last_writes {
            last_writes = writes;
            last_change = Instant::now();
            continue;
        }
        if last_change.elapsed() >= QUIET && statuses_current(&admin).await.0 {
            converged_at = Some(last_change.duration_since(started));
            break;
        }
    }
    let convergence = converged_at.expect("the operator did not converge within an hour");
    let (_, scopes) = statuses_current(&admin).await;
    let (hwm_converged, rss_converged, cpu_converged) = process_usage(pid);
    let flows_converged = cluster.flow_counts();
    let api_writes_converged = cluster.writes_by_verb_and_resource();
    let metrics_converged = http_get(port, "/metrics");
    eprintln!(
        "[scale] converged after {:.1} s; steady window {} s",
        convergence.as_secs_f64(),
        o.steady_seconds
    );

    tokio::time::sleep(Duration::from_secs(o.steady_seconds)).await;
    fail_if_exited(&mut operator, &log_path);
    let (hwm, rss, cpu) = process_usage(pid);
    let flows_steady = cluster.flow_counts();
    let api_writes_steady = cluster.writes_by_verb_and_resource();
    let metrics_steady = http_get(port, "/metrics");

    eprintln!("[scale] one namespace relabelled");
    let relabelled =
        one_namespace_relabelled(&cluster, &admin, port, &mut operator, &log_path).await;

    eprintln!("[scale] new-namespace protection latency");
    let metrics_before_latency = http_get(port, "/metrics");
    let mut latencies =
        protection_latency(&admin, o.latency_samples, &mut operator, &log_path).await;
    latencies.sort_by(f64::total_cmp);
    let (hwm_end, _, _) = process_usage(pid);
    // The engine's comparisons with a from-scratch evaluation over the whole run (run the
    // operator with BASELINE_ENGINE_CHECK_SECONDS short enough for some to happen).
    let metrics_end = http_get(port, "/metrics");
    stop(&mut operator);

    let (owned, namespace_labels) = owned_objects(&admin).await;
    let mut owned_by_kind: BTreeMap<String, usize> = BTreeMap::new();
    for object in owned.iter().chain(&namespace_labels) {
        *owned_by_kind
            .entry(object["kind"].as_str().unwrap().to_string())
            .or_default() += 1;
    }
    eprintln!(
        "[scale] floor: {} applies",
        owned.len() + namespace_labels.len()
    );
    // The probe namespaces go first, so the floor writes what the operator wrote at convergence.
    for i in 0..o.latency_samples {
        let _ = Api::<Namespace>::all(admin.clone())
            .delete(&format!("scale-probe-{i:03}"), &DeleteParams::background())
            .await;
    }
    let probe = |o: &Value| {
        o["metadata"]["namespace"]
            .as_str()
            .or(o["metadata"]["name"].as_str())
            .is_some_and(|n| n.starts_with("scale-probe-"))
    };
    let floor_objects: Vec<Value> = owned
        .iter()
        .chain(&namespace_labels)
        .filter(|o| !probe(o))
        .cloned()
        .collect();
    reset_owned(&admin, o.concurrency).await;
    let floor_before = cluster.flow_counts();
    // The namespaces' labels and records first: once the floor has applied the operator's
    // admission policies, they refuse a record written by anyone but the operator, and each
    // refused apply would be retried (seconds of sleep counted as the floor's time).
    let (namespace_wave, object_wave): (Vec<Value>, Vec<Value>) = floor_objects
        .iter()
        .cloned()
        .partition(|o| o["kind"] == "Namespace");
    let floor_started = Instant::now();
    let mut failed = apply_all(&floor_client, "bench-floor", namespace_wave, o.concurrency).await;
    failed.extend(apply_all(&floor_client, "bench-floor", object_wave, o.concurrency).await);
    let floor_time = floor_started.elapsed();
    let floor_after = cluster.flow_counts();
    let flow = |m: &BTreeMap<String, f64>, k: &str| m.get(k).copied().unwrap_or(0.0);

    // The operator's headline figures before Kyverno's phase, which can run for many minutes:
    // a run stopped during it still has them in its log.
    eprintln!(
        "[scale] operator: convergence {:.1} s (floor {:.1} s, {} failed), peak RSS {:.1} MiB (reflector floor {:.1}), new-ns p50 / p99 {:.0} / {:.0} ms",
        convergence.as_secs_f64(),
        floor_time.as_secs_f64(),
        failed.len(),
        mib(hwm_converged),
        mib(floor_hwm),
        percentile(&latencies, 50.0),
        percentile(&latencies, 99.0),
    );
    // Kyverno starts from the state the operator started from: no owned object, no label.
    reset_owned(&admin, o.concurrency).await;
    let kyverno_result =
        kyverno::phase(&cluster, &admin, o.namespaces, &o.kyverno, kyverno_build).await;
    let delta =
        |a: &BTreeMap<String, f64>, b: &BTreeMap<String, f64>, k: &str| flow(b, k) - flow(a, k);

    let reconcile_sum = metric_sum(
        &metrics_steady,
        "baseline_operator_reconcile_duration_seconds_sum",
    );
    let reconcile_count = metric_sum(
        &metrics_steady,
        "baseline_operator_reconcile_duration_seconds_count",
    );
    let result = json!({
        "label": o.label,
        "operator_env": o.operator_env.iter().map(|(k, v)| format!("{k}={v}")).collect::<Vec<_>>(),
        "namespaces": o.namespaces,
        "concurrency": o.concurrency,
        "steady_seconds": o.steady_seconds,
        "setup_seconds": setup_time.as_secs_f64(),
        "objects": {
            "ingresses": o.namespaces * INGRESSES_PER_NAMESPACE,
            "role_bindings": o.namespaces * ROLE_BINDINGS_PER_NAMESPACE,
            "pods": o.namespaces * REPLICAS,
            "owned_by_kind": owned_by_kind,
        },
        "statuses": scopes,
        "api_server_writes": {
            "convergence": changed_counts(&api_writes_before, &api_writes_converged),
            "steady": changed_counts(&api_writes_converged, &api_writes_steady),
        },
        "one_namespace_relabelled": relabelled,
        "operator": {
            "convergence_seconds": convergence.as_secs_f64(),
            "writes_convergence": delta(&flows_before, &flows_converged, "bench-operator-writes"),
            "requests_convergence": delta(&flows_before, &flows_converged, "bench-operator-writes")
                + delta(&flows_before, &flows_converged, "bench-operator-reads"),
            "writes_steady": delta(&flows_converged, &flows_steady, "bench-operator-writes"),
            "requests_steady": delta(&flows_converged, &flows_steady, "bench-operator-writes")
                + delta(&flows_converged, &flows_steady, "bench-operator-reads"),
            "lease_requests_steady": delta(&flows_converged, &flows_steady, "bench-operator-lease"),
            "own_write_metric_convergence": metric_sum(&metrics_converged, "baseline_operator_api_writes_total"),
            "own_write_metric_steady": metric_sum(&metrics_steady, "baseline_operator_api_writes_total")
                - metric_sum(&metrics_converged, "baseline_operator_api_writes_total"),
            "engine_checks": metric_sum(&metrics_end, "baseline_operator_engine_checks_total"),
            "engine_divergences": metric_sum(&metrics_end, "baseline_operator_engine_divergences_total"),
            "rss_peak_mib_converged": mib(hwm_converged),
            "rss_at_convergence_mib": mib(rss_converged),
            "rss_peak_mib": mib(hwm),
            "rss_peak_mib_after_latency_probe": mib(hwm_end),
            "rss_steady_mib": mib(rss),
            "cpu_seconds_convergence": cpu_converged,
            "cpu_seconds_steady": cpu - cpu_converged,
            "reconciles": metric_sum(&metrics_steady, "baseline_operator_reconciles_total"),
            "reconcile_seconds_total": reconcile_sum,
            "reconcile_seconds_mean": if reconcile_count > 0.0 { reconcile_sum / reconcile_count } else { 0.0 },
            "protection_latency_ms_p50": percentile(&latencies, 50.0),
            "protection_latency_ms_p99": percentile(&latencies, 99.0),
            "protection_latency_samples": latencies.len(),
            // Seconds of engine check rounds beside the probes (0: none ran then).
            "protection_latency_engine_check_seconds": check_seconds(&metrics_end) - check_seconds(&metrics_before_latency),
            "engine_check_seconds_convergence": check_seconds(&metrics_converged),
            // Sorted: the tail a p99 of 50 samples reads is its largest one or two.
            "protection_latency_ms": latencies.iter().map(|l| (l * 10.0).round() / 10.0).collect::<Vec<_>>(),
        },
        "floor": {
            "apply_seconds": floor_time.as_secs_f64(),
            "applies": floor_objects.len(),
            "apply_failures": failed.len(),
            "writes": delta(&floor_before, &floor_after, "bench-floor-writes"),
            "requests": delta(&floor_before, &floor_after, "bench-floor-writes")
                + delta(&floor_before, &floor_after, "bench-floor-reads"),
            "reflector_rss_peak_mib": mib(floor_hwm),
            "reflector_rss_mib": mib(floor_rss),
            "reflector_sync_seconds": floor_sync,
        },
        "ratios": {
            // A floor with refused applies is not a floor (its time holds retries): no ratio.
            "convergence_vs_floor": failed
                .is_empty()
                .then(|| convergence.as_secs_f64() / floor_time.as_secs_f64()),
            "peak_rss_vs_reflector_floor": mib(hwm) / mib(floor_hwm),
        },
        "kyverno": kyverno_result,
    });
    if !failed.is_empty() {
        eprintln!(
            "[scale] floor apply failures: {:?}",
            &failed[..failed.len().min(5)]
        );
    }
    // Written before the table is printed: a missing figure (no latency sample) must not
    // lose the run.
    let text = serde_json::to_string_pretty(&result).unwrap();
    if let Some(out) = &o.out {
        std::fs::write(out, text.clone() + "\n").unwrap();
    }
    let op = &result["operator"];
    let fl = &result["floor"];
    println!(
        "\n| namespaces | convergence s (floor s, ratio) | writes conv / steady (floor writes) | requests conv / steady | peak RSS MiB (reflector floor, ratio) | steady RSS MiB | CPU s conv / steady | new-ns p50 / p99 ms |"
    );
    println!("|---|---|---|---|---|---|---|---|");
    println!(
        "| {} | {:.1} ({:.1}, {:.2}x) | {} / {} ({}) | {} / {} | {:.1} ({:.1}, {:.2}x) | {:.1} | {:.1} / {:.1} | {:.0} / {:.0} |",
        o.namespaces,
        op["convergence_seconds"].as_f64().unwrap_or(f64::NAN),
        fl["apply_seconds"].as_f64().unwrap_or(f64::NAN),
        result["ratios"]["convergence_vs_floor"]
            .as_f64()
            .unwrap_or(f64::NAN),
        op["writes_convergence"],
        op["writes_steady"],
        fl["writes"],
        op["requests_convergence"],
        op["requests_steady"],
        op["rss_peak_mib"].as_f64().unwrap_or(f64::NAN),
        fl["reflector_rss_peak_mib"].as_f64().unwrap_or(f64::NAN),
        result["ratios"]["peak_rss_vs_reflector_floor"]
            .as_f64()
            .unwrap_or(f64::NAN),
        op["rss_steady_mib"].as_f64().unwrap_or(f64::NAN),
        op["cpu_seconds_convergence"].as_f64().unwrap_or(f64::NAN),
        op["cpu_seconds_steady"].as_f64().unwrap_or(f64::NAN),
        op["protection_latency_ms_p50"].as_f64().unwrap_or(f64::NAN),
        op["protection_latency_ms_p99"].as_f64().unwrap_or(f64::NAN),
    );
    kyverno::print_rows(&result);
    println!("\n{text}");
}
