//! Reports in `openreports.io/v1alpha1` beside or instead of `wgpolicyk8s.io/v1alpha2`, on the
//! real control plane with both report APIs' real CRDs (wgpolicyk8s from `tests/cluster/up`,
//! OpenReports from the reports-api module pinned in `tests/openreports/go.mod`, installed
//! halfway through). One SecurityBaseline and one EnvironmentIsolation with findings (a
//! namespaced one, a cluster-scoped one, and a copied production Secret, which only the
//! cluster-scoped report may carry); then, in turn:
//! - `auto` with only wgpolicyk8s served writes PolicyReports;
//! - the OpenReports CRDs appear: the same running `auto` operator writes Reports with the
//!   same figures and prunes its PolicyReports;
//! - `both` writes both, with the same figures;
//! - `wgpolicyk8s` writes PolicyReports again and prunes its Reports.
//!
//! A test binary of its own (not part of `tests/e2e`): its operators run with other settings
//! than the shared e2e operator, one at a time, and it installs an API the other suites must
//! not see (their `auto` operator would move to it). It gets its own control plane unless
//! `BASELINE_TEST_KUBECONFIG` names one; against a shared cluster, do not run it while another
//! operator reconciles the same cluster.

use baseline_operator::api::{EnvironmentIsolation, SecurityBaseline};
use baseline_operator::controller::RunConfig;
use baseline_operator::desired::report_api::ReportsChoice;
use baseline_test_support::*;
use kube::Client;
use serde_json::{Value, json};
use std::collections::BTreeMap;
use std::time::Duration;

const TIMEOUT: Duration = Duration::from_secs(60);

/// An in-process operator with its own settings.
async fn start_operator(client: Client, reports_api: ReportsChoice) -> OwnOperator {
    let config = RunConfig {
        velero_service_accounts: Vec::new(),
        reports_api,
        ..test_run_config("openreports")
    };
    OwnOperator::start(client, config).await
}

/// The operator's reports of one kind (plural), by (namespace, name): their figures (summary
/// and results), and the report-level `source`.
type Figures = BTreeMap<(String, String), Value>;

fn reports(plural: &str) -> Option<Figures> {
    let out = cluster().kubectl(&[
        "get",
        plural,
        "-A",
        "-l",
        "app.kubernetes.io/managed-by=baseline-operator",
        "-o",
        "json",
    ]);
    if !out.status.success() {
        // The API is not served (yet).
        return None;
    }
    let list: Value = serde_json::from_slice(&out.stdout).expect("kubectl JSON");
    Some(
        list["items"]
            .as_array()
            .expect("items")
            .iter()
            .map(|r| {
                let key = (
                    r["metadata"]["namespace"]
                        .as_str()
                        .unwrap_or("")
                        .to_string(),
                    r["metadata"]["name"].as_str().unwrap_or("").to_string(),
                );
                (
                    key,
                    json!({"summary": r["summary"], "results": r["results"]}),
                )
            })
            .collect(),
    )
}

/// PolicyReports and ClusterPolicyReports together (cluster-scoped under namespace "").
fn wgpolicyk8s() -> Figures {
    let mut all = reports("policyreports.wgpolicyk8s.io").unwrap_or_default();
    all.extend(reports("clusterpolicyreports.wgpolicyk8s.io").unwrap_or_default());
    all
}

/// Reports and ClusterReports together; empty while the API is not served.
fn openreports() -> Figures {
    let mut all = reports("reports.openreports.io").unwrap_or_default();
    all.extend(reports("clusterreports.openreports.io").unwrap_or_default());
    all
}

/// `figures()` once it reads the same twice, two seconds apart: the operator has converged.
async fn settled(figures: fn() -> Figures) -> Figures {
    let mut last = figures();
    loop {
        tokio::time::sleep(Duration::from_secs(2)).await;
        let now = figures();
        if now == last {
            return now;
        }
        last = now;
    }
}

/// Waits until `figures()` equals `expected`.
async fn wait_figures(what: &str, figures: fn() -> Figures, expected: &Figures) {
    wait_until(what, TIMEOUT, || {
        let now = figures();
        let expected = expected.clone();
        async move { now == expected }
    })
    .await;
}

#[tokio::test]
async fn reports_follow_the_chosen_api_with_the_same_figures_and_old_ones_are_pruned() {
    let client = client().await;
    // Findings: a mutable image tag (namespaced), cluster-admin bound by a ClusterRoleBinding
    // (cluster-scoped), and a development Secret holding a production value (confidential:
    // never in the development namespace's report).
    let shop = namespace(&client, "or-shop", &[("e2e-or", "shop")]).await;
    let prod = namespace(
        &client,
        "or-prod",
        &[("e2e-or", "iso"), ("env", "production")],
    )
    .await;
    let dev = namespace(
        &client,
        "or-dev",
        &[("e2e-or", "iso"), ("env", "development")],
    )
    .await;
    cluster()
        .apply_yaml(&format!(
            "apiVersion: v1\nkind: Pod\nmetadata: {{name: latest, namespace: {shop}}}\nspec:\n  containers: [{{name: web, image: \"nginx:latest\"}}]\n"
        ))
        .expect("Pod");
    cluster()
        .apply_yaml(&format!(
            "apiVersion: rbac.authorization.k8s.io/v1\nkind: ClusterRoleBinding\nmetadata: {{name: or-shop-admin}}\nroleRef: {{apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: cluster-admin}}\nsubjects: [{{kind: ServiceAccount, name: default, namespace: {shop}}}]\n"
        ))
        .expect("ClusterRoleBinding");
    for (ns, name) in [(&prod, "db"), (&dev, "db-copy")] {
        cluster()
            .apply_yaml(&format!(
                "apiVersion: v1\nkind: Secret\nmetadata: {{name: {name}, namespace: {ns}}}\nstringData: {{password: e2e-or-copied-value}}\n"
            ))
            .expect("Secret");
    }
    let baselines = apply_cr::<SecurityBaseline>(
        &client,
        "or",
        json!({
            "mode": "Audit",
            "namespaceSelector": {"matchLabels": {"e2e-or": "shop"}},
            "images": {"disallowLatestTag": true},
            "access": {"forbiddenRoles": ["cluster-admin"]},
        }),
    )
    .await;
    let isolations = apply_cr::<EnvironmentIsolation>(
        &client,
        "or",
        json!({
            "mode": "Audit",
            "environments": [
                {"name": "production", "production": true, "namespaceSelector": {"matchLabels": {"e2e-or": "iso", "env": "production"}}},
                {"name": "development", "namespaceSelector": {"matchLabels": {"e2e-or": "iso", "env": "development"}}},
            ],
            "productionData": {"productionValues": ["production"], "detectCopiedSecrets": true},
        }),
    )
    .await;

    // 1. auto, only wgpolicyk8s served: PolicyReports.
    assert!(
        reports("reports.openreports.io").is_none(),
        "OpenReports is not served yet"
    );
    let operator = start_operator(client.clone(), ReportsChoice::Auto).await;
    wait_until("PolicyReports with every kind of finding", TIMEOUT, || {
        let now = wgpolicyk8s();
        async move {
            let text = |key: (&str, &str)| {
                now.get(&(key.0.to_string(), key.1.to_string()))
                    .map(Value::to_string)
                    .unwrap_or_default()
            };
            text(("or-shop", "sb-or")).contains("nginx:latest")
                && text(("", "sb-or")).contains("or-shop-admin")
                && text(("", "ei-or")).contains("db-copy")
        }
    })
    .await;
    // (Not `settle_writes`: it would start the shared e2e operator beside these.)
    let figures = settled(wgpolicyk8s).await;
    if let Some(report) = figures.get(&(dev.clone(), "ei-or".into())) {
        assert!(
            !report.to_string().contains("db-copy"),
            "the copied Secret leaves no trace in {dev}'s report: {report}"
        );
    }

    // 2. The OpenReports CRDs appear: the same auto operator moves to Reports, with the same
    // figures, and prunes its PolicyReports.
    let crds = cluster()
        .bin
        .parent()
        .expect("cache dir")
        .join("openreports-crds.yaml");
    let crds = crds.to_str().unwrap();
    cluster().kubectl_ok(&["apply", "--server-side", "-f", crds]);
    cluster().kubectl_ok(&[
        "wait",
        "--for=condition=Established",
        "--timeout=60s",
        "-f",
        crds,
    ]);
    wait_figures(
        "Reports with the PolicyReports' figures",
        openreports,
        &figures,
    )
    .await;
    wait_figures("PolicyReports pruned", wgpolicyk8s, &Figures::new()).await;
    let out = cluster().kubectl_ok(&["get", "report", "sb-or", "-n", &shop, "-o", "json"]);
    let report: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(report["source"], "baseline-operator");
    assert!(report.get("scope").is_none(), "{report}");
    operator.stop().await;

    // 3. both: the two sets, the same figures; the evidence bundle counts them once.
    let operator = start_operator(client.clone(), ReportsChoice::Both).await;
    wait_figures("PolicyReports written again", wgpolicyk8s, &figures).await;
    wait_figures("Reports kept beside them", openreports, &figures).await;
    let out = tempfile::tempdir().unwrap();
    export_evidence(env!("CARGO_BIN_EXE_baseline-operator"), out.path());
    let bundle: Value =
        serde_json::from_slice(&std::fs::read(out.path().join("evidence.json")).unwrap()).unwrap();
    let bundled = bundle["policyReports"]["reports"].as_array().unwrap();
    assert_eq!(bundled.len(), figures.len(), "each report once");
    assert!(
        bundled
            .iter()
            .all(|r| r["kind"] == "Report" || r["kind"] == "ClusterReport"),
        "{bundled:#?}"
    );
    operator.stop().await;

    // 4. wgpolicyk8s: PolicyReports only; its Reports are pruned.
    let operator = start_operator(client.clone(), ReportsChoice::Wgpolicyk8s).await;
    wait_figures("Reports pruned", openreports, &Figures::new()).await;
    wait_figures("PolicyReports kept", wgpolicyk8s, &figures).await;

    delete_cr(&baselines, "or").await;
    delete_cr(&isolations, "or").await;
    operator.stop().await;
}

/// Deletes a custom resource and waits until the operator's finalizer let it go.
async fn delete_cr<K>(api: &kube::Api<K>, name: &str)
where
    K: kube::Resource + Clone + serde::de::DeserializeOwned + std::fmt::Debug,
{
    let _ = api.delete(name, &Default::default()).await;
    wait_until("custom resource deleted", TIMEOUT, || async {
        api.get_opt(name).await.unwrap().is_none()
    })
    .await;
}
