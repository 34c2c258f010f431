//! An auditor reconciles the exported bundle with the cluster: every figure in `evidence.json`
//! and `evidence.md` is checked against the objects this test created, the scope says which
//! namespaces were judged and which were left out (a Terminating one) or exempted as a whole,
//! and every failed and exempted object is listed, not only the status sample.

use crate::support::*;
use baseline_operator::api::{ControlResult, SecurityBaseline};
use baseline_operator::evidence::Bundle;
use k8s_openapi::api::core::v1::Namespace;
use kube::api::{Api, DeleteParams};
use serde_json::{Value, json};
use std::time::Duration;

const BIN: &str = env!("CARGO_BIN_EXE_baseline-operator");
const TIMEOUT: Duration = Duration::from_secs(60);
const NAME: &str = "e2e-figures";
const HOLD: &str = "e2e.baseline.dev/hold";

fn pod(ns: &str, name: &str, image: &str, labels: &str, finalizer: bool) -> String {
    let finalizers = if finalizer {
        format!(", finalizers: [{HOLD}]")
    } else {
        String::new()
    };
    format!(
        "apiVersion: v1\nkind: Pod\nmetadata: {{name: {name}, namespace: {ns}, labels: {labels}{finalizers}}}\nspec:\n  containers: [{{name: app, image: \"{image}\"}}]\n"
    )
}

/// The bundle `evidence` exports from the shared cluster, read back: evidence.json and
/// evidence.md.
fn exported_bundle() -> (Bundle, String) {
    let out = tempfile::tempdir().unwrap();
    export_evidence(BIN, out.path());
    let json = std::fs::read(out.path().join("evidence.json")).unwrap();
    let md = std::fs::read_to_string(out.path().join("evidence.md")).unwrap();
    (serde_json::from_slice(&json).unwrap(), md)
}

fn control<'a>(sb: &'a SecurityBaseline, id: &str) -> &'a ControlResult {
    sb.status
        .as_ref()
        .and_then(|s| s.controls.iter().find(|c| c.id.as_str() == id))
        .unwrap_or_else(|| panic!("{id} missing"))
}

#[tokio::test(flavor = "multi_thread")]
async fn every_figure_in_the_bundle_traces_to_the_objects_behind_it() {
    let s = Scenario::start().await.timeout(TIMEOUT);
    let namespaces: Api<Namespace> = Api::all(s.client.clone());
    for ns in ["fig-a", "fig-b", "fig-gone"] {
        s.namespace(ns, &[("e2e-figures", "yes")]).await;
    }
    let pinned = format!("registry.example.com/app@sha256:{}", "a".repeat(64));
    for yaml in [
        pod("fig-a", "latest", "nginx:latest", "{}", false),
        pod("fig-a", "pinned", &pinned, "{}", false),
        pod("fig-a", "waived", "nginx:latest", "{exempt: \"yes\"}", false),
        "apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: web, namespace: fig-b}\nspec:\n  selector: {matchLabels: {app: web}}\n  template:\n    metadata: {labels: {app: web}}\n    spec:\n      containers: [{name: app, image: \"nginx:latest\"}]\n".to_string(),
        "apiVersion: networking.k8s.io/v1\nkind: Ingress\nmetadata: {name: shop, namespace: fig-a}\nspec:\n  rules: [{host: shop.example.com}, {host: baseline.api.example.com}]\n".to_string(),
        // Held by a finalizer nobody removes, so fig-gone stays Terminating with a violating
        // pod in it: out of scope, and said to be.
        pod("fig-gone", "stuck", "nginx:latest", "{}", true),
    ] {
        cluster().apply_yaml(&yaml).unwrap_or_else(|e| panic!("{e}\n{yaml}"));
    }
    namespaces
        .delete("fig-gone", &DeleteParams::default())
        .await
        .unwrap();
    s.wait_until("fig-gone Terminating", || async {
        namespaces
            .get("fig-gone")
            .await
            .is_ok_and(|ns| ns.metadata.deletion_timestamp.is_some())
    })
    .await;

    let baseline = s
        .baseline(
            NAME,
            json!({
                "mode": "Audit",
                "namespaceSelector": {"matchLabels": {"e2e-figures": "yes"}},
                "images": {"disallowLatestTag": true},
                "encryption": {"inTransit": {"requireIngressTLS": true}},
                "exemptions": [
                    {"controls": ["trusted-images"], "selector": {"matchLabels": {"exempt": "yes"}},
                     "reason": "vendor image", "approvedBy": "ciso", "expires": "2099-01-01"},
                    {"controls": ["encryption-in-transit"], "namespaces": ["fig-b"],
                     "reason": "internal only", "approvedBy": "cto", "expires": "2099-01-01"},
                ],
            }),
        )
        .await;
    // Four pod carriers (three bare Pods and the Deployment; the Deployment's own Pods are
    // judged through it): two fail, one is waived. One Ingress fails, with two findings.
    let mut sb = baseline.api.get(NAME).await.unwrap();
    let deadline = std::time::Instant::now() + TIMEOUT;
    loop {
        let done = sb.status.as_ref().is_some_and(|s| {
            s.observed_generation == sb.metadata.generation && !s.controls.is_empty()
        }) && {
            let images = control(&sb, "trusted-images");
            let tls = control(&sb, "encryption-in-transit");
            (images.checked, images.failed, images.exempted) == (4, 2, 1)
                && (tls.checked, tls.failed, tls.failed_findings) == (1, 1, 2)
        };
        if done {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "figures never settled: {:#?}",
            sb.status
        );
        tokio::time::sleep(Duration::from_millis(500)).await;
        sb = baseline.api.get(NAME).await.unwrap();
    }
    let images = control(&sb, "trusted-images");
    assert_eq!((images.failed_findings, images.exempted_findings), (2, 1));
    let scope = sb.status.as_ref().unwrap().scope.clone().expect("scope");
    assert_eq!(scope.namespaces, 2);
    assert_eq!(scope.namespace_names, ["fig-a", "fig-b"]);
    assert_eq!(
        (
            scope.excluded[0].name.as_str(),
            scope.excluded[0].reason.as_str()
        ),
        ("fig-gone", "Terminating")
    );
    assert_eq!(scope.exempted_namespaces[0].name, "fig-b");
    assert!(scope.evaluated_at.is_some());
    let condition = sb
        .status
        .as_ref()
        .unwrap()
        .conditions
        .iter()
        .find(|c| c.type_ == "TrustedImages")
        .unwrap()
        .message
        .clone();
    assert!(
        condition.starts_with("4 checked, 2 failed, 1 exempted; 2 finding(s)"),
        "{condition}"
    );

    // The PolicyReports list exactly the findings status counts.
    s.wait_until("PolicyReports carry every finding", || async {
        let out = cluster().kubectl(&["get", "policyreports", "-A", "-o", "json"]);
        let list: Value = serde_json::from_slice(&out.stdout).unwrap_or_default();
        let ours = list["items"].as_array().into_iter().flatten().filter(|r| {
            r["metadata"]["name"]
                .as_str()
                .is_some_and(|n| n.starts_with(&format!("sb-{NAME}")))
        });
        let (mut fail, mut skip) = (0, 0);
        for report in ours {
            fail += report["summary"]["fail"].as_i64().unwrap_or(0);
            skip += report["summary"]["skip"].as_i64().unwrap_or(0);
        }
        (fail, skip) == (4, 1)
    })
    .await;

    let (bundle, md) = exported_bundle();
    let resource = bundle
        .resources
        .iter()
        .find(|r| r.kind == "SecurityBaseline" && r.name == NAME)
        .expect("the baseline in the bundle");
    assert_eq!(resource.scope.as_ref(), Some(&scope));
    let listed = |id: &str| {
        let o = resource
            .objects
            .iter()
            .find(|o| o.control.as_str() == id)
            .unwrap_or_else(|| panic!("{id}: no objects in the bundle"));
        let names = |objects: &[baseline_operator::evidence::ListedObject]| -> Vec<String> {
            objects
                .iter()
                .map(|o| {
                    format!(
                        "{} {}/{} ({})",
                        o.kind,
                        o.namespace.as_deref().unwrap_or(""),
                        o.name,
                        o.findings.len()
                    )
                })
                .collect()
        };
        (names(&o.failing), names(&o.exempted), o.complete)
    };
    assert_eq!(
        listed("trusted-images"),
        (
            vec![
                "Deployment fig-b/web (1)".to_string(),
                "Pod fig-a/latest (1)".to_string()
            ],
            vec!["Pod fig-a/waived (1)".to_string()],
            true
        )
    );
    assert_eq!(
        listed("encryption-in-transit"),
        (vec!["Ingress fig-a/shop (2)".to_string()], vec![], true)
    );
    // The figures in the framework tables and the listed objects agree in evidence.md.
    let row = |reference: &str, id: &str, figures: &str| {
        md.lines().any(|l| {
            l.starts_with(&format!("| {reference} |"))
                && l.contains(&format!("| `{id}` | SecurityBaseline/{NAME} |"))
                && l.ends_with(figures)
        })
    };
    assert!(
        row("8.19", "trusted-images", "| **Fail** | 4 | 2 | 1 |"),
        "{md}"
    );
    assert!(
        row("CC8.1", "trusted-images", "| **Fail** | 4 | 2 | 1 |"),
        "{md}"
    );
    for line in [
        format!("| SecurityBaseline/{NAME} | `trusted-images` | failed | Deployment fig-b/web |"),
        format!("| SecurityBaseline/{NAME} | `trusted-images` | failed | Pod fig-a/latest |"),
        format!("| SecurityBaseline/{NAME} | `trusted-images` | exempted | Pod fig-a/waived |"),
        format!(
            "| SecurityBaseline/{NAME} | `encryption-in-transit` | failed | Ingress fig-a/shop |"
        ),
        "  - excluded `fig-gone`: Terminating".to_string(),
        format!("- SecurityBaseline/{NAME}: 2 namespace(s) in scope: fig-a, fig-b, evaluated "),
    ] {
        assert!(md.contains(&line), "{line}\n{md}");
    }
    assert!(!md.contains("fig-gone/stuck"), "{md}");

    // Release the Terminating namespace and the baseline.
    cluster().kubectl_ok(&[
        "patch",
        "pod",
        "stuck",
        "-n",
        "fig-gone",
        "--type",
        "json",
        "-p",
        r#"[{"op": "remove", "path": "/metadata/finalizers"}]"#,
    ]);
    let _ = baseline.api.delete(NAME, &DeleteParams::default()).await;
}

/// Findings about cluster-scoped objects beyond the ten the status sample names: twelve
/// ClusterRoleBindings that let a development ServiceAccount act cluster-wide. They go to a
/// ClusterPolicyReport, and the bundle lists all twelve, complete, with an exempted one too.
#[tokio::test(flavor = "multi_thread")]
async fn cluster_scoped_findings_beyond_the_status_sample_are_all_in_the_bundle() {
    use baseline_operator::api::EnvironmentIsolation;
    let s = Scenario::start().await.timeout(TIMEOUT);
    let name = "e2e-cpr";
    s.namespace("cpr-prod", &[("e2e-cpr", "prod")]).await;
    s.namespace("cpr-dev", &[("e2e-cpr", "dev")]).await;
    let bindings: Vec<String> = (1..=13).map(|i| format!("e2e-cpr-{i:02}")).collect();
    for binding in &bindings {
        let exempt = if binding.ends_with("13") {
            "{e2e-cpr-exempt: \"yes\"}"
        } else {
            "{}"
        };
        let yaml = format!(
            "apiVersion: rbac.authorization.k8s.io/v1\nkind: ClusterRoleBinding\nmetadata: {{name: {binding}, labels: {exempt}}}\nroleRef: {{apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: view}}\nsubjects: [{{kind: ServiceAccount, name: ci, namespace: cpr-dev}}]\n"
        );
        cluster()
            .apply_yaml(&yaml)
            .unwrap_or_else(|e| panic!("{e}\n{yaml}"));
    }
    let env = |env: &str, production: bool| json!({"name": env, "production": production, "namespaceSelector": {"matchLabels": {"e2e-cpr": env}}});
    let api: Api<EnvironmentIsolation> = apply_cr(
        &s.client,
        name,
        json!({
            "mode": "Audit",
            "environments": [env("prod", true), env("dev", false)],
            "access": {"denyCrossEnvironmentBindings": true},
            "exemptions": [
                {"controls": ["cross-environment-access"], "selector": {"matchLabels": {"e2e-cpr-exempt": "yes"}},
                 "reason": "break-glass", "approvedBy": "ciso", "expires": "2099-01-01"},
            ],
        }),
    )
    .await;
    let figures = |ei: &EnvironmentIsolation| {
        ei.status
            .as_ref()
            .and_then(|s| {
                s.controls
                    .iter()
                    .find(|c| c.id.as_str() == "cross-environment-access")
            })
            .map(|c| (c.failed, c.exempted, c.findings.len()))
    };
    s.wait_until("twelve failed, one exempted", || async {
        figures(&api.get(name).await.unwrap()) == Some((12, 1, 10))
    })
    .await;
    s.wait_until("a ClusterPolicyReport carries them", || async {
        let out = cluster().kubectl(&[
            "get",
            "clusterpolicyreport",
            &format!("ei-{name}"),
            "-o",
            "json",
        ]);
        let report: Value = serde_json::from_slice(&out.stdout).unwrap_or_default();
        report["summary"]["fail"] == 12 && report["summary"]["skip"] == 1
    })
    .await;

    let (bundle, md) = exported_bundle();
    assert!(bundle.policy_reports.cluster_served);
    let resource = bundle
        .resources
        .iter()
        .find(|r| r.kind == "EnvironmentIsolation" && r.name == name)
        .expect("the isolation in the bundle");
    let objects = resource
        .objects
        .iter()
        .find(|o| o.control.as_str() == "cross-environment-access")
        .expect("objects behind the figures");
    let failing: Vec<&str> = objects.failing.iter().map(|o| o.name.as_str()).collect();
    assert_eq!(
        failing,
        bindings[..12]
            .iter()
            .map(String::as_str)
            .collect::<Vec<_>>()
    );
    let exempted: Vec<&str> = objects.exempted.iter().map(|o| o.name.as_str()).collect();
    assert_eq!(exempted, ["e2e-cpr-13"]);
    assert!(objects.complete, "{:?}", objects.note);
    for binding in &bindings[..12] {
        let row = format!(
            "| EnvironmentIsolation/{name} | `cross-environment-access` | failed | ClusterRoleBinding {binding} |"
        );
        assert!(md.contains(&row), "{row}\n{md}");
    }
    assert!(
        md.contains(&format!("| (cluster-scoped) | ei-{name} | ")),
        "{md}"
    );

    let _ = api.delete(name, &DeleteParams::default()).await;
    for binding in &bindings {
        cluster().kubectl(&[
            "delete",
            "clusterrolebinding",
            binding,
            "--ignore-not-found",
        ]);
    }
    s.wait_until("the ClusterPolicyReport goes with its owner", || async {
        let out = cluster().kubectl(&[
            "get",
            "clusterpolicyreport",
            &format!("ei-{name}"),
            "--ignore-not-found",
            "-o",
            "name",
        ]);
        out.status.success() && out.stdout.is_empty()
    })
    .await;
}
