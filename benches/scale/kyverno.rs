//! The Kyverno phase of the scale bench: Kyverno v1.19.1's background controller and reports
//! controller, built by `tests/kyverno/build` from the module it pins, run out of cluster as two
//! processes against the same API server, on the same namespaces and workloads, after the
//! operator has stopped and everything it wrote has been removed.
//!
//! Kyverno runs as its own client certificate user `bench-kyverno`, with FlowSchemas like the
//! operator's, so that the API server counts its writes (`bench-kyverno-writes`), its other
//! requests (`bench-kyverno-reads`) and its leader-election leases (`bench-kyverno-lease`).
//!
//! The ClusterPolicies stand for the bench's SecurityBaseline (`custom_resources()`), on the
//! same namespace selector (`env In [production, staging, development]`): generated
//! default-deny and allow NetworkPolicies (generateExisting, synchronize), Pod Security
//! restricted, requests and a memory limit, an image tag that is not `latest`, allowed
//! registries; validation in Audit mode with background scanning, so the reports controller
//! writes PolicyReports.
//!
//! Converged means: every selected namespace has the generated `default-deny` NetworkPolicy,
//! every selected namespace has at least one PolicyReport written by Kyverno, and neither
//! Kyverno's writes (as the API server counts them) nor the number of Kyverno's reports changed
//! for `QUIET` (15 s, as for the operator). The convergence time is the last change, measured
//! from the moment the policies were applied to the already started and warm processes.
//!
//! Without Kyverno's admission controller (it needs a webhook the API server calls), a generate
//! rule fires for a namespace created or labelled later only when the background controller
//! reprocesses its policies; the new-namespace samples measure whether and when that happens.

use super::{
    Cluster, ENVIRONMENTS, REPO, changed_counts, mib, percentile, process_usage, resource, stop,
    user_kubeconfig,
};
use futures::{StreamExt, TryStreamExt};
use k8s_openapi::api::coordination::v1::Lease;
use k8s_openapi::api::core::v1::Namespace;
use k8s_openapi::api::networking::v1::NetworkPolicy;
use kube::api::{Api, DeleteParams, DynamicObject, ListParams, Patch, PatchParams};
use kube::runtime::watcher;
use kube::{Client, ResourceExt};
use serde_json::{Value, json};
use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

const NAMESPACE: &str = "kyverno";
const USER: &str = "bench-kyverno";
const MANAGED: &str = "app.kubernetes.io/managed-by=kyverno";
/// The label Kyverno puts on what a generate rule created, naming the policy.
const GENERATED: &str = "generate.kyverno.io/policy-name=bench-network";
const QUIET: Duration = Duration::from_secs(15);
/// Started Kyverno counts as warm once it holds its leases and wrote nothing for this long.
const WARM_QUIET: Duration = Duration::from_secs(10);
/// Each new-namespace sample waits this long for the generated NetworkPolicy.
const SAMPLE_TIMEOUT: Duration = Duration::from_secs(60);
/// Kyverno stops creating background-scan reports above `--maxBackgroundReports` (default
/// 10,000); the bench's 3,200 namespaces hold 12,800 Deployments, ReplicaSets and Pods.
const MAX_BACKGROUND_REPORTS: &str = "1000000";

#[derive(Clone, Debug)]
pub struct KyvernoOptions {
    pub skip: bool,
    pub steady_seconds: u64,
    pub latency_samples: usize,
    pub timeout_seconds: u64,
}

/// Builds Kyverno in the background while the operator's phases run: the directory holding
/// `background-controller`, `reports-controller` and `crds/`, or why it could not be built.
pub fn start_build() -> std::thread::JoinHandle<Result<PathBuf, String>> {
    std::thread::spawn(|| {
        let out = Command::new(Path::new(REPO).join("tests/kyverno/build"))
            .stderr(Stdio::inherit())
            .output()
            .map_err(|e| format!("tests/kyverno/build: {e}"))?;
        if !out.status.success() {
            return Err(format!(
                "tests/kyverno/build failed ({}); its progress is above",
                out.status
            ));
        }
        Ok(PathBuf::from(String::from_utf8_lossy(&out.stdout).trim()))
    })
}

/// The `"kyverno"` object of the bench's JSON: figures, or "skipped" / "error" with the reason.
pub async fn phase(
    cluster: &Cluster,
    admin: &Client,
    namespaces: usize,
    o: &KyvernoOptions,
    build: Option<std::thread::JoinHandle<Result<PathBuf, String>>>,
) -> Value {
    if o.skip {
        return json!({"status": "skipped", "reason": "--skip-kyverno"});
    }
    let dir = match build.map(|b| b.join()) {
        Some(Ok(Ok(dir))) => dir,
        Some(Ok(Err(error))) => return json!({"status": "error", "error": error}),
        Some(Err(_)) => return json!({"status": "error", "error": "the build thread panicked"}),
        None => return json!({"status": "error", "error": "Kyverno was not built"}),
    };
    let mut run = Run {
        processes: Vec::new(),
    };
    let result = run.measure(cluster, admin, namespaces, o, &dir).await;
    let usage = run.stop_all();
    remove_kyverno_objects(admin).await;
    match result {
        Ok(mut figures) => {
            figures["status"] = json!("ok");
            figures
        }
        Err(error) => json!({"status": "error", "error": error, "processes_at_stop": usage}),
    }
}

struct Process {
    name: &'static str,
    child: Child,
    log: PathBuf,
}

struct Run {
    processes: Vec<Process>,
}

/// Per process and summed: VmHWM and VmRSS (MiB), CPU seconds.
fn usage(processes: &[Process]) -> Value {
    let mut out = serde_json::Map::new();
    let (mut hwm_sum, mut rss_sum, mut cpu_sum) = (0, 0, 0.0);
    for p in processes {
        let (hwm, rss, cpu) = process_usage(p.child.id());
        hwm_sum += hwm;
        rss_sum += rss;
        cpu_sum += cpu;
        out.insert(
            p.name.to_string(),
            json!({"rss_peak_mib": mib(hwm), "rss_mib": mib(rss), "cpu_seconds": cpu}),
        );
    }
    out.insert(
        "sum".into(),
        json!({"rss_peak_mib": mib(hwm_sum), "rss_mib": mib(rss_sum), "cpu_seconds": cpu_sum}),
    );
    Value::Object(out)
}

fn log_tail(path: &Path) -> String {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    let tail: Vec<&str> = text.lines().rev().take(8).collect();
    tail.into_iter().rev().collect::<Vec<_>>().join("\n")
}

impl Run {
    /// An error naming the process that exited, with the end of its log.
    fn check_running(&mut self) -> Result<(), String> {
        for p in &mut self.processes {
            if let Ok(Some(status)) = p.child.try_wait() {
                return Err(format!(
                    "Kyverno's {} exited ({status}); the end of {}:\n{}",
                    p.name,
                    p.log.display(),
                    log_tail(&p.log)
                ));
            }
        }
        Ok(())
    }

    fn stop_all(&mut self) -> Value {
        let at_stop = usage(&self.processes);
        for p in &mut self.processes {
            stop(&mut p.child);
        }
        at_stop
    }

    async fn measure(
        &mut self,
        cluster: &Cluster,
        admin: &Client,
        namespaces: usize,
        o: &KyvernoOptions,
        dir: &Path,
    ) -> Result<Value, String> {
        let kubeconfig = prepare(cluster, admin, dir).await?;

        eprintln!("[scale] kyverno: starting the background and reports controllers");
        let flows_start = cluster.flow_counts();
        let started = Instant::now();
        for (name, extra) in [
            (
                "background-controller",
                vec![
                    "--controllerRuntimeMetricsAddress=0".to_string(),
                    format!("--maxBackgroundReports={MAX_BACKGROUND_REPORTS}"),
                ],
            ),
            (
                "reports-controller",
                vec![format!("--maxBackgroundReports={MAX_BACKGROUND_REPORTS}")],
            ),
        ] {
            let log = cluster.dir.join(format!("bench-kyverno-{name}.log"));
            let file = std::fs::File::create(&log).map_err(|e| e.to_string())?;
            let child = Command::new(dir.join(name))
                .arg(format!("--kubeconfig={}", kubeconfig.display()))
                .arg(format!("--metricsPort={}", super::free_port()))
                .arg("--disableLogColor")
                .args(extra)
                .env("KYVERNO_NAMESPACE", NAMESPACE)
                .env("POD_NAMESPACE", NAMESPACE)
                .env("INIT_CONFIG", "kyverno")
                .env("METRICS_CONFIG", "kyverno-metrics")
                .env("KYVERNO_SERVICEACCOUNT_NAME", format!("kyverno-{name}"))
                .env("KYVERNO_DEPLOYMENT", format!("kyverno-{name}"))
                .env("KYVERNO_POD_NAME", format!("bench-{name}"))
                .stdout(file.try_clone().map_err(|e| e.to_string())?)
                .stderr(file)
                .spawn()
                .map_err(|e| format!("starting {}: {e}", dir.join(name).display()))?;
            self.processes.push(Process { name, child, log });
        }
        let ready = self.wait_warm(cluster, admin, started).await?;
        let idle = usage(&self.processes);
        eprintln!(
            "[scale] kyverno: leaders after {:.1} s, warm after {:.1} s",
            ready.0, ready.1
        );

        eprintln!("[scale] kyverno: policies applied; waiting for convergence");
        let flows_before = cluster.flow_counts();
        let writes_before = cluster.writes_by_verb_and_resource();
        let cpu_before: f64 = self
            .processes
            .iter()
            .map(|p| process_usage(p.child.id()).2)
            .sum();
        let applied = Instant::now();
        kubectl(
            cluster,
            &["apply", "--server-side", "--force-conflicts", "-f", "-"],
            Some(&policies()),
        )?;
        let progress = self
            .converge(cluster, admin, namespaces, applied, o.timeout_seconds)
            .await?;
        let at_convergence = usage(&self.processes);
        let flows_converged = cluster.flow_counts();
        let writes_converged = cluster.writes_by_verb_and_resource();
        let reports_converged = report_counts(admin).await;

        let mut steady = Value::Null;
        if progress["converged"] == json!(true) {
            eprintln!(
                "[scale] kyverno: converged; steady window {} s",
                o.steady_seconds
            );
            let step = Duration::from_secs(1);
            let until = Instant::now() + Duration::from_secs(o.steady_seconds);
            while Instant::now() < until {
                tokio::time::sleep(step).await;
                self.check_running()?;
            }
            let flows_steady = cluster.flow_counts();
            steady = json!({
                "seconds": o.steady_seconds,
                "writes": flow_delta(&flows_converged, &flows_steady, "writes"),
                "requests": flow_delta(&flows_converged, &flows_steady, "writes")
                    + flow_delta(&flows_converged, &flows_steady, "reads"),
                "lease_requests": flow_delta(&flows_converged, &flows_steady, "lease"),
                "api_server_writes": changed_counts(&writes_converged,
                    &cluster.writes_by_verb_and_resource()),
                "usage": usage(&self.processes),
                "reports": report_counts(admin).await,
            });
        }

        eprintln!("[scale] kyverno: new-namespace samples");
        let new_namespace = self.new_namespace_latency(admin, o.latency_samples).await?;
        let end = usage(&self.processes);

        Ok(json!({
            "build": dir.file_name().map(|n| n.to_string_lossy().into_owned()),
            "how": "background-controller and reports-controller built by tests/kyverno/build, \
                run out of cluster with --kubeconfig as user bench-kyverno (cluster-admin); \
                no admission controller",
            "flags": format!("--maxBackgroundReports={MAX_BACKGROUND_REPORTS} (both; default \
                10,000), --controllerRuntimeMetricsAddress=0 (background), --metricsPort (a free \
                port each)"),
            "policies": policy_names(),
            "converged_means": "every selected namespace has the generated default-deny \
                NetworkPolicy and at least one Kyverno PolicyReport, and neither bench-kyverno's \
                writes nor the number of Kyverno reports changed for 15 s; measured from applying \
                the policies to warm processes",
            "startup": {
                "leaders_seconds": ready.0,
                "warm_seconds": ready.1,
                "requests_to_warm": flow_delta(&flows_start, &flows_before, "writes")
                    + flow_delta(&flows_start, &flows_before, "reads"),
                "usage_idle": idle,
            },
            "convergence": progress,
            "convergence_seconds": progress["seconds"],
            "cpu_seconds_convergence": at_convergence["sum"]["cpu_seconds"].as_f64()
                .unwrap_or(0.0) - cpu_before,
            "writes_convergence": flow_delta(&flows_before, &flows_converged, "writes"),
            "requests_convergence": flow_delta(&flows_before, &flows_converged, "writes")
                + flow_delta(&flows_before, &flows_converged, "reads"),
            "api_server_writes_convergence": changed_counts(&writes_before, &writes_converged),
            "api_server_writes_note": "all clients, as apiserver_request_total counts them: \
                Kyverno, the controller-manager (its Pending Pods' events: PATCH events at the \
                same rate in the steady window while Kyverno writes nothing), every lease \
                renewal, and the harness's 5 ClusterPolicy applies; bench-kyverno's own writes \
                are writes_convergence",
            "reports_at_convergence": reports_converged,
            "usage_at_convergence": at_convergence,
            "steady": steady,
            "new_namespace": new_namespace,
            "usage_at_end": end,
            "rss_peak_mib_sum": end["sum"]["rss_peak_mib"],
            "rss_end_mib_sum": end["sum"]["rss_mib"],
        }))
    }

    /// Seconds until both controllers hold their leader Lease, and until Kyverno's writes
    /// have been quiet for `WARM_QUIET` after that (informers synced, start-up writes done).
    /// Reads never go quiet: Kyverno fetches `/openapi/v3` every few seconds.
    async fn wait_warm(
        &mut self,
        cluster: &Cluster,
        admin: &Client,
        started: Instant,
    ) -> Result<(f64, f64), String> {
        let leases: Api<Lease> = Api::namespaced(admin.clone(), NAMESPACE);
        let deadline = started + Duration::from_secs(600);
        let leaders = loop {
            self.check_running()?;
            let mut held = 0;
            for p in &self.processes {
                let holder = format!("bench-{}", p.name);
                let list = leases.list(&ListParams::default()).await;
                held += list.iter().flat_map(|l| &l.items).any(|l| {
                    l.spec.as_ref().and_then(|s| s.holder_identity.as_deref())
                        == Some(holder.as_str())
                }) as usize;
            }
            if held == self.processes.len() {
                break started.elapsed().as_secs_f64();
            }
            if Instant::now() > deadline {
                return Err("Kyverno's controllers did not take their leases within 600 s".into());
            }
            tokio::time::sleep(Duration::from_millis(250)).await;
        };
        let mut last = -1.0;
        let mut last_change = Instant::now();
        while last_change.elapsed() < WARM_QUIET {
            self.check_running()?;
            let flows = cluster.flow_counts();
            let requests = flows.get("bench-kyverno-writes").copied().unwrap_or(0.0);
            if requests != last {
                last = requests;
                last_change = Instant::now();
            }
            if Instant::now() > deadline {
                break;
            }
            tokio::time::sleep(Duration::from_millis(250)).await;
        }
        Ok((leaders, started.elapsed().as_secs_f64()))
    }

    /// Waits for convergence (see the module's comment); on timeout, what was reached.
    async fn converge(
        &mut self,
        cluster: &Cluster,
        admin: &Client,
        namespaces: usize,
        applied: Instant,
        timeout_seconds: u64,
    ) -> Result<Value, String> {
        let deadline = applied + Duration::from_secs(timeout_seconds);
        let mut generated_at = None;
        let mut reported_at = None;
        let mut last = (-1.0, usize::MAX);
        let mut last_change = Instant::now();
        let mut last_print = Instant::now();
        loop {
            tokio::time::sleep(Duration::from_secs(1)).await;
            self.check_running()?;
            let writes = cluster
                .flow_counts()
                .get("bench-kyverno-writes")
                .copied()
                .unwrap_or(0.0);
            let with_policy = selected_namespaces_with(admin, "networkpolicies", GENERATED).await;
            let (reports, with_report) = kyverno_reports(admin).await;
            if generated_at.is_none() && with_policy >= namespaces {
                generated_at = Some(applied.elapsed().as_secs_f64());
            }
            if reported_at.is_none() && with_report >= namespaces {
                reported_at = Some(applied.elapsed().as_secs_f64());
            }
            if (writes, reports) != last {
                last = (writes, reports);
                last_change = Instant::now();
            }
            if last_print.elapsed() >= Duration::from_secs(20) {
                last_print = Instant::now();
                eprintln!(
                    "[scale]   kyverno {:.0} s: {with_policy}/{namespaces} namespaces with the \
                     NetworkPolicy, {with_report} with reports, {reports} reports",
                    applied.elapsed().as_secs_f64()
                );
            }
            let complete = with_policy >= namespaces && with_report >= namespaces;
            let status = json!({
                "namespaces": namespaces,
                "namespaces_with_generated_network_policy": with_policy,
                "namespaces_with_policy_report": with_report,
                "kyverno_reports": reports,
                "all_network_policies_seconds": generated_at,
                "all_namespaces_reported_seconds": reported_at,
            });
            if complete && last_change.elapsed() >= QUIET {
                let mut status = status;
                status["converged"] = json!(true);
                status["seconds"] = json!(last_change.duration_since(applied).as_secs_f64());
                return Ok(status);
            }
            if Instant::now() > deadline {
                let mut status = status;
                status["converged"] = json!(false);
                status["seconds"] = Value::Null;
                status["reason"] = json!(format!("not converged within {timeout_seconds} s"));
                return Ok(status);
            }
        }
    }

    /// Creates namespaces outside the selector, then labels each into it and waits (a watch)
    /// for Kyverno's generated NetworkPolicy. A sample that sees none within `SAMPLE_TIMEOUT`
    /// ends the series: without the admission controller nothing in Kyverno reacts to the
    /// label change, so the next samples would only wait as long again.
    async fn new_namespace_latency(
        &mut self,
        admin: &Client,
        samples: usize,
    ) -> Result<Value, String> {
        let namespaces: Api<Namespace> = Api::all(admin.clone());
        let mut latencies = Vec::new();
        let mut timed_out = None;
        for i in 0..samples {
            self.check_running()?;
            let name = format!("scale-kyverno-probe-{i:03}");
            let ns = json!({"apiVersion": "v1", "kind": "Namespace",
                "metadata": {"name": name, "labels": {"bench": "probe"}}});
            namespaces
                .patch(
                    &name,
                    &PatchParams::apply("bench-setup"),
                    &Patch::Apply(&ns),
                )
                .await
                .map_err(|e| format!("creating {name}: {e}"))?;
            let policies: Api<NetworkPolicy> = Api::namespaced(admin.clone(), &name);
            let mut events = watcher(
                policies,
                watcher::Config::default().labels(GENERATED).any_semantic(),
            )
            .boxed();
            while let Ok(Some(event)) = events.try_next().await {
                if matches!(event, watcher::Event::InitDone) {
                    break;
                }
            }
            let started = Instant::now();
            let patch = json!({"metadata": {"labels": {"env": ENVIRONMENTS[i % 3]}}});
            namespaces
                .patch(&name, &PatchParams::default(), &Patch::Merge(&patch))
                .await
                .map_err(|e| format!("labelling {name}: {e}"))?;
            let seen = tokio::time::timeout(SAMPLE_TIMEOUT, async {
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
                eprintln!(
                    "[scale] kyverno: no NetworkPolicy in {name} within {} s",
                    SAMPLE_TIMEOUT.as_secs()
                );
                timed_out = Some(name);
                break;
            }
        }
        for i in 0..samples {
            let _ = namespaces
                .delete(
                    &format!("scale-kyverno-probe-{i:03}"),
                    &DeleteParams::background(),
                )
                .await;
        }
        let mut sorted = latencies.clone();
        sorted.sort_by(f64::total_cmp);
        Ok(json!({
            "samples_planned": samples,
            "samples_run": latencies.len() + usize::from(timed_out.is_some()),
            "latencies_ms": latencies,
            "p50_ms": if sorted.is_empty() { Value::Null } else { json!(percentile(&sorted, 50.0)) },
            "p99_ms": if sorted.is_empty() { Value::Null } else { json!(percentile(&sorted, 99.0)) },
            "timed_out": timed_out.as_ref().map(|name| json!({
                "namespace": name,
                "waited_seconds": SAMPLE_TIMEOUT.as_secs(),
                "why": "without Kyverno's admission controller no UpdateRequest is made when a \
                    namespace enters the selector; the background controller applies generate \
                    rules to existing objects when a policy is created or updated, and again \
                    only at its forced reconciliation every BACKGROUND_SCAN_INTERVAL (default \
                    1 h, pkg/policy/policy_controller.go forceReconciliation); the remaining \
                    samples were not run",
            })),
        }))
    }
}

fn flow_delta(before: &BTreeMap<String, f64>, after: &BTreeMap<String, f64>, kind: &str) -> f64 {
    let key = format!("{USER}-{kind}");
    after.get(&key).copied().unwrap_or(0.0) - before.get(&key).copied().unwrap_or(0.0)
}

/// Kyverno's identity, FlowSchemas, CRDs, namespace and ConfigMaps, and nothing left from an
/// earlier run; returns Kyverno's kubeconfig.
async fn prepare(cluster: &Cluster, admin: &Client, dir: &Path) -> Result<PathBuf, String> {
    user_kubeconfig(cluster, USER);
    // The operator's flows take precedence 99-111; these come after and count only Kyverno.
    kubectl(
        cluster,
        &["apply", "--server-side", "--force-conflicts", "-f", "-"],
        Some(&format!(
            r#"---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRoleBinding
metadata: {{name: {USER}}}
roleRef: {{apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: cluster-admin}}
subjects: [{{kind: User, name: {USER}, apiGroup: rbac.authorization.k8s.io}}]
---
apiVersion: flowcontrol.apiserver.k8s.io/v1
kind: FlowSchema
metadata: {{name: {USER}-lease}}
spec:
  priorityLevelConfiguration: {{name: workload-high}}
  matchingPrecedence: 119
  distinguisherMethod: {{type: ByUser}}
  rules:
  - subjects: [{{kind: User, user: {{name: {USER}}}}}]
    resourceRules:
    - verbs: ["*"]
      apiGroups: [coordination.k8s.io]
      resources: [leases]
      namespaces: ["*"]
---
apiVersion: flowcontrol.apiserver.k8s.io/v1
kind: FlowSchema
metadata: {{name: {USER}-writes}}
spec:
  priorityLevelConfiguration: {{name: workload-high}}
  matchingPrecedence: 120
  distinguisherMethod: {{type: ByUser}}
  rules:
  - subjects: [{{kind: User, user: {{name: {USER}}}}}]
    resourceRules:
    - verbs: [create, update, patch, delete, deletecollection]
      apiGroups: ["*"]
      resources: ["*"]
      clusterScope: true
      namespaces: ["*"]
---
apiVersion: flowcontrol.apiserver.k8s.io/v1
kind: FlowSchema
metadata: {{name: {USER}-reads}}
spec:
  priorityLevelConfiguration: {{name: workload-high}}
  matchingPrecedence: 121
  distinguisherMethod: {{type: ByUser}}
  rules:
  - subjects: [{{kind: User, user: {{name: {USER}}}}}]
    resourceRules:
    - verbs: ["*"]
      apiGroups: ["*"]
      resources: ["*"]
      clusterScope: true
      namespaces: ["*"]
    nonResourceRules:
    - verbs: ["*"]
      nonResourceURLs: ["*"]
---
apiVersion: v1
kind: Namespace
metadata: {{name: {NAMESPACE}}}
---
apiVersion: v1
kind: ConfigMap
metadata: {{name: kyverno, namespace: {NAMESPACE}}}
---
apiVersion: v1
kind: ConfigMap
metadata: {{name: kyverno-metrics, namespace: {NAMESPACE}}}
"#
        )),
    )?;
    // Kyverno's CRDs; the wgpolicyk8s.io PolicyReport CRDs the control plane already serves
    // (the operator writes them) are left as they are.
    let mut crds: Vec<PathBuf> = std::fs::read_dir(dir.join("crds"))
        .map_err(|e| format!("{}: {e}", dir.join("crds").display()))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "yaml"))
        .collect();
    crds.sort();
    let served = kubectl(cluster, &["get", "crd", "-o", "name"], None)?;
    let mut names = Vec::new();
    for path in crds {
        // tests/kyverno/build names them <dir>_<group>_<plural>.yaml.
        let stem = path.file_stem().unwrap().to_string_lossy().into_owned();
        let mut parts = stem.rsplit('_');
        let (Some(plural), Some(group)) = (parts.next(), parts.next()) else {
            return Err(format!("unexpected CRD file name {}", path.display()));
        };
        let crd = format!("{plural}.{group}");
        if crd.ends_with(".wgpolicyk8s.io")
            && served
                .lines()
                .any(|l| l == format!("customresourcedefinition.apiextensions.k8s.io/{crd}"))
        {
            continue;
        }
        kubectl(
            cluster,
            &[
                "apply",
                "--server-side",
                "--force-conflicts",
                "-f",
                path.to_str().unwrap(),
            ],
            None,
        )?;
        names.push(format!("crd/{crd}"));
    }
    let mut wait = vec!["wait", "--for=condition=Established", "--timeout=120s"];
    wait.extend(names.iter().map(String::as_str));
    kubectl(cluster, &wait, None)?;
    remove_kyverno_objects(admin).await;
    Ok(cluster.dir.join(format!("{USER}.kubeconfig")))
}

/// kubectl as the administrator; a failure is the phase's error (recorded in the JSON), not a
/// panic that would lose the operator's figures.
fn kubectl(cluster: &Cluster, args: &[&str], stdin: Option<&str>) -> Result<String, String> {
    let mut child = Command::new(&cluster.kubectl)
        .arg("--kubeconfig")
        .arg(&cluster.admin)
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| format!("kubectl: {e}"))?;
    let mut input = child.stdin.take().unwrap();
    std::io::Write::write_all(&mut input, stdin.unwrap_or_default().as_bytes())
        .map_err(|e| format!("kubectl {args:?}: {e}"))?;
    drop(input);
    let out = child
        .wait_with_output()
        .map_err(|e| format!("kubectl {args:?}: {e}"))?;
    if !out.status.success() {
        return Err(format!(
            "kubectl {args:?}: {}",
            String::from_utf8_lossy(&out.stderr).trim()
        ));
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

fn selector() -> Value {
    json!({"matchExpressions": [{"key": "env", "operator": "In", "values": ENVIRONMENTS}]})
}

fn policy_names() -> Vec<&'static str> {
    vec![
        "bench-network",
        "bench-pod-security",
        "bench-resources",
        "bench-image-tag",
        "bench-registries",
    ]
}

/// The ClusterPolicies standing for the SecurityBaseline `scale`, as YAML (JSON documents).
fn policies() -> String {
    let pods = json!({"any": [{"resources": {"kinds": ["Pod"], "namespaceSelector": selector()}}]});
    let namespaces =
        json!({"any": [{"resources": {"kinds": ["Namespace"], "selector": selector()}}]});
    let generate = |name: &str, spec: Value| {
        json!({"name": name, "match": namespaces,
            "generate": {"generateExisting": true, "synchronize": true,
                "apiVersion": "networking.k8s.io/v1", "kind": "NetworkPolicy", "name": name,
                "namespace": "{{request.object.metadata.name}}", "data": {"spec": spec}}})
    };
    let validate = |name: &str, message: &str, body: Value| {
        let mut validate = json!({"failureAction": "Audit", "message": message});
        for (k, v) in body.as_object().unwrap() {
            validate[k] = v.clone();
        }
        json!({"name": name, "match": pods, "validate": validate})
    };
    let policy = |name: &str, rules: Vec<Value>| {
        json!({"apiVersion": "kyverno.io/v1", "kind": "ClusterPolicy",
            "metadata": {"name": name}, "spec": {"background": true, "rules": rules}})
    };
    let all = [
        policy(
            "bench-network",
            vec![
                generate(
                    "default-deny",
                    json!({"podSelector": {}, "policyTypes": ["Ingress", "Egress"]}),
                ),
                // allowDNS and allowedIngressPorts 443/TCP of the SecurityBaseline.
                generate(
                    "allow-dns-and-https",
                    json!({"podSelector": {}, "policyTypes": ["Ingress", "Egress"],
                        "ingress": [{"ports": [{"port": 443, "protocol": "TCP"}]}],
                        "egress": [{"ports": [{"port": 53, "protocol": "UDP"},
                            {"port": 53, "protocol": "TCP"}],
                            "to": [{"namespaceSelector": {"matchLabels":
                                {"kubernetes.io/metadata.name": "kube-system"}},
                                "podSelector": {"matchLabels": {"k8s-app": "kube-dns"}}}]}]}),
                ),
            ],
        ),
        policy(
            "bench-pod-security",
            vec![validate(
                "restricted",
                "Pod Security restricted",
                json!({"podSecurity": {"level": "restricted", "version": "latest"}}),
            )],
        ),
        policy(
            "bench-resources",
            vec![validate(
                "requests-and-memory-limit",
                "CPU and memory requests and a memory limit are required",
                json!({"pattern": {"spec": {"containers": [{"resources": {
                    "requests": {"cpu": "?*", "memory": "?*"}, "limits": {"memory": "?*"}}}]}}}),
            )],
        ),
        policy(
            "bench-image-tag",
            vec![
                validate(
                    "image-tag-required",
                    "an image tag is required",
                    json!({"pattern": {"spec": {"containers": [{"image": "*:*"}]}}}),
                ),
                validate(
                    "no-latest-tag",
                    "the latest tag is not allowed",
                    json!({"pattern": {"spec": {"containers": [{"image": "!*:latest"}]}}}),
                ),
            ],
        ),
        policy(
            "bench-registries",
            vec![validate(
                "allowed-registries",
                "images must come from registry.example.com/",
                json!({"pattern": {"spec": {"containers": [{"image": "registry.example.com/*"}]}}}),
            )],
        ),
    ];
    all.iter()
        .map(|p| format!("---\n{p}\n"))
        .collect::<String>()
}

/// How many selected (bench) namespaces hold an object of `plural` matching `labels`.
async fn selected_namespaces_with(admin: &Client, plural: &str, labels: &str) -> usize {
    let ar = match plural {
        "networkpolicies" => resource("networking.k8s.io/v1", "NetworkPolicy", plural),
        _ => resource("wgpolicyk8s.io/v1alpha2", "PolicyReport", plural),
    };
    let api: Api<DynamicObject> = Api::all_with(admin.clone(), &ar);
    let mut seen = BTreeSet::new();
    let mut params = ListParams::default().limit(500).labels(labels);
    loop {
        let Ok(page) = api.list_metadata(&params).await else {
            return seen.len();
        };
        for item in &page.items {
            // The bench's namespaces, not the probes (the operator's may still be terminating).
            if let Some(ns) = item.namespace()
                && ns.starts_with("scale-")
                && !ns.contains("probe-")
            {
                seen.insert(ns);
            }
        }
        match page.metadata.continue_ {
            Some(token) if !token.is_empty() => params = params.continue_token(&token),
            _ => return seen.len(),
        }
    }
}

/// Kyverno's reports (PolicyReports and ClusterPolicyReports) and how many selected
/// namespaces have a PolicyReport.
async fn kyverno_reports(admin: &Client) -> (usize, usize) {
    let counts = report_counts(admin).await;
    let total = ["policyreports", "clusterpolicyreports"]
        .iter()
        .map(|k| counts[k].as_u64().unwrap_or(0) as usize)
        .sum();
    (
        total,
        selected_namespaces_with(admin, "policyreports", MANAGED).await,
    )
}

/// Kyverno's objects by kind: reports, ephemeral reports, update requests, generated policies.
async fn report_counts(admin: &Client) -> Value {
    let mut out = serde_json::Map::new();
    for (api_version, kind, plural, labels) in KYVERNO_KINDS {
        let api: Api<DynamicObject> =
            Api::all_with(admin.clone(), &resource(api_version, kind, plural));
        let n = super::count(api, labels).await;
        out.insert(plural.to_string(), json!(n));
    }
    Value::Object(out)
}

/// What Kyverno writes, to count and to remove: (apiVersion, kind, plural, label selector).
const KYVERNO_KINDS: [(&str, &str, &str, &str); 6] = [
    (
        "wgpolicyk8s.io/v1alpha2",
        "PolicyReport",
        "policyreports",
        MANAGED,
    ),
    (
        "wgpolicyk8s.io/v1alpha2",
        "ClusterPolicyReport",
        "clusterpolicyreports",
        MANAGED,
    ),
    (
        "reports.kyverno.io/v1",
        "EphemeralReport",
        "ephemeralreports",
        "",
    ),
    (
        "reports.kyverno.io/v1",
        "ClusterEphemeralReport",
        "clusterephemeralreports",
        "",
    ),
    ("kyverno.io/v2", "UpdateRequest", "updaterequests", ""),
    (
        "networking.k8s.io/v1",
        "NetworkPolicy",
        "networkpolicies",
        GENERATED,
    ),
];

/// Deletes the bench's ClusterPolicies and everything Kyverno wrote (its processes are
/// stopped), so that a reused control plane starts the next run without them.
pub async fn remove_kyverno_objects(admin: &Client) {
    let policies: Api<DynamicObject> = Api::all_with(
        admin.clone(),
        &resource("kyverno.io/v1", "ClusterPolicy", "clusterpolicies"),
    );
    for name in policy_names() {
        let _ = policies.delete(name, &DeleteParams::background()).await;
    }
    for (api_version, kind, plural, labels) in KYVERNO_KINDS {
        let ar = resource(api_version, kind, plural);
        let api: Api<DynamicObject> = Api::all_with(admin.clone(), &ar);
        let Ok(list) = api
            .list_metadata(&ListParams::default().labels(labels))
            .await
        else {
            continue;
        };
        futures::stream::iter(list.items)
            .for_each_concurrent(32, |item| {
                let ar = ar.clone();
                async move {
                    let api: Api<DynamicObject> = match item.namespace() {
                        Some(ns) => Api::namespaced_with(admin.clone(), &ns, &ar),
                        None => Api::all_with(admin.clone(), &ar),
                    };
                    let _ = api
                        .delete(&item.name_any(), &DeleteParams::background())
                        .await;
                }
            })
            .await;
    }
}

/// The operator and Kyverno side by side, from the same run.
pub fn print_rows(result: &Value) {
    let (operator, kyverno) = (&result["operator"], &result["kyverno"]);
    let num = |v: &Value| v.as_f64().map_or("-".to_string(), |v| format!("{v:.1}"));
    println!(
        "\n| | convergence s | writes conv / steady (steady s) | peak RSS MiB | RSS at end MiB | CPU s conv | new-ns p50 / p99 ms |"
    );
    println!("|---|---|---|---|---|---|---|");
    println!(
        "| operator | {} | {} / {} ({}) | {} | {} | {} | {:.0} / {:.0} |",
        num(&operator["convergence_seconds"]),
        operator["writes_convergence"],
        operator["writes_steady"],
        result["steady_seconds"],
        num(&operator["rss_peak_mib"]),
        num(&operator["rss_steady_mib"]),
        num(&operator["cpu_seconds_convergence"]),
        operator["protection_latency_ms_p50"]
            .as_f64()
            .unwrap_or(f64::NAN),
        operator["protection_latency_ms_p99"]
            .as_f64()
            .unwrap_or(f64::NAN),
    );
    match kyverno["status"].as_str() {
        Some("ok") => {
            let latency = &kyverno["new_namespace"];
            let new_ns = if latency["timed_out"].is_null() {
                format!("{} / {}", num(&latency["p50_ms"]), num(&latency["p99_ms"]))
            } else {
                format!("none within {} s", latency["timed_out"]["waited_seconds"])
            };
            println!(
                "| Kyverno | {} | {} / {} ({}) | {} (background {}, reports {}) | {} | {} | {new_ns} |",
                if kyverno["convergence"]["converged"] == json!(true) {
                    num(&kyverno["convergence_seconds"])
                } else {
                    "not converged".to_string()
                },
                kyverno["writes_convergence"],
                kyverno["steady"]["writes"],
                kyverno["steady"]["seconds"],
                num(&kyverno["rss_peak_mib_sum"]),
                num(&kyverno["usage_at_end"]["background-controller"]["rss_peak_mib"]),
                num(&kyverno["usage_at_end"]["reports-controller"]["rss_peak_mib"]),
                num(&kyverno["rss_end_mib_sum"]),
                num(&kyverno["cpu_seconds_convergence"]),
            );
        }
        status => println!(
            "| Kyverno | {} | {} | | | | |",
            status.unwrap_or("?"),
            kyverno["reason"]
                .as_str()
                .or(kyverno["error"].as_str())
                .unwrap_or_default()
                .replace('\n', " ")
        ),
    }
}
