//! A fresh cluster, its own control plane started without Velero's CRDs (so the other suites
//! keep theirs): the operator refuses to start without its CRDs, naming the missing one; a
//! BackupPolicy says Velero is missing (`Ready=False`, `VeleroNotInstalled`, then
//! `VeleroNamespaceMissing`) and recovers by itself once Velero's CRDs and namespace appear;
//! the operator keeps working when the API server restarts under it.

use baseline_operator::api::BackupPolicy;
use baseline_operator::controller::{self, RunConfig};
use baseline_operator::telemetry::{Health, Metrics};
use baseline_operator::velero::Schedule;
use kube::api::{Api, Patch, PatchParams};
use kube::config::{KubeConfigOptions, Kubeconfig};
use kube::{Client, Config};
use serde_json::json;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;
use std::time::{Duration, Instant};

const REPO: &str = env!("CARGO_MANIFEST_DIR");

fn script(name: &str) -> PathBuf {
    Path::new(REPO).join("tests/cluster").join(name)
}

fn run(command: &mut Command) -> String {
    let out = command.output().expect("running a cluster script");
    assert!(
        out.status.success(),
        "{command:?} failed:\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

async fn ready_reason(api: &Api<BackupPolicy>) -> Option<(String, String)> {
    let bp = api.get("no-velero").await.ok()?;
    let ready = bp
        .status?
        .compliance
        .conditions
        .into_iter()
        .find(|c| c.type_ == "Ready")?;
    Some((ready.status, ready.reason))
}

/// Applies the test's BackupPolicy with the given RPO.
async fn apply_policy(api: &Api<BackupPolicy>, rpo: &str) {
    let body = json!({
        "apiVersion": "security.baseline.dev/v1alpha1", "kind": "BackupPolicy",
        "metadata": {"name": "no-velero"},
        "spec": {"mode": "Enforce", "namespaceSelector": {"matchLabels": {"env": "production"}}, "rpo": rpo},
    });
    let params = PatchParams::apply("test").force();
    api.patch("no-velero", &params, &Patch::Apply(&body))
        .await
        .unwrap();
}

async fn wait_for(api: &Api<BackupPolicy>, want: (&str, &str)) {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let got = ready_reason(api).await;
        if got
            .as_ref()
            .is_some_and(|(s, r)| s == want.0 && r == want.1)
        {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "Ready never became {want:?}; last {got:?}"
        );
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn survives_missing_crds_missing_velero_and_an_api_server_restart() {
    let state = std::env::temp_dir().join(format!("baseline-novelero-{}", std::process::id()));
    let kubeconfig = run(Command::new(script("up"))
        .args([
            "--no-velero",
            "--watch-pid",
            &std::process::id().to_string(),
            "--remove-state",
        ])
        .arg(&state));
    let bin = PathBuf::from(run(&mut Command::new(script("build"))));
    let kubectl = |args: &[&str]| {
        run(Command::new(bin.join("kubectl"))
            .env("KUBECONFIG", &kubeconfig)
            .args(args))
    };
    kubectl(&[
        "apply",
        "--server-side",
        "-f",
        &format!("{REPO}/crds/crds.yaml"),
    ]);
    kubectl(&[
        "wait",
        "--for=condition=Established",
        "--timeout=60s",
        "crd/backuppolicies.security.baseline.dev",
    ]);

    let config = Config::from_custom_kubeconfig(
        Kubeconfig::read_from(&kubeconfig).unwrap(),
        &KubeConfigOptions::default(),
    )
    .await
    .unwrap();
    let client = Client::try_from(config).unwrap();
    let (_keep, shutdown) = tokio::sync::watch::channel(false);
    let operator = tokio::spawn(controller::run(
        client.clone(),
        RunConfig {
            resync: Duration::from_secs(3),
            detect_copied_secrets: false,
            ..baseline_test_support::test_run_config("no-velero")
        },
        Arc::new(Metrics::default()),
        Arc::new(Health::default()),
        shutdown,
    ));

    let api: Api<BackupPolicy> = Api::all(client.clone());
    apply_policy(&api, "24h").await;
    wait_for(&api, ("False", "VeleroNotInstalled")).await;

    let velero_crds = bin.parent().unwrap().join("velero-crds.yaml");
    kubectl(&[
        "apply",
        "--server-side",
        "-f",
        velero_crds.to_str().unwrap(),
    ]);
    wait_for(&api, ("False", "VeleroNamespaceMissing")).await;
    kubectl(&["create", "namespace", "velero"]);
    kubectl(&["create", "namespace", "shop"]);
    kubectl(&["label", "namespace", "shop", "env=production"]);
    wait_for(&api, ("True", "Reconciled")).await;

    // The API server restarts under the operator: its watches must come back on their own.
    run(Command::new(script("restart"))
        .arg(&state)
        .arg("kube-apiserver"));
    apply_policy(&api, "6h").await;
    let schedules: Api<Schedule> = Api::namespaced(client.clone(), "velero");
    let deadline = Instant::now() + Duration::from_secs(90);
    loop {
        let cron = schedules
            .get_opt("bp-no-velero")
            .await
            .ok()
            .flatten()
            .map(|s| s.spec.schedule);
        if cron.as_deref() == Some("0 */6 * * *") {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "no reconcile after the API server restart (cron {cron:?})"
        );
        tokio::time::sleep(Duration::from_millis(500)).await;
    }

    operator.abort();
    // `down` stops the watchdog too, which would have removed the state dir: remove it here.
    run(Command::new(script("down")).arg(&state));
    if std::env::var("BASELINE_KEEP_CLUSTER_STATE").as_deref() != Ok("1") {
        let _ = std::fs::remove_dir_all(&state);
    }
}
