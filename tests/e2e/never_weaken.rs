//! Never weaken what was already there: a stricter Pod Security label a namespace carried
//! before a baseline came is kept (and its condition says so), and when the baseline leaves
//! (deleted, or the namespace exempted as a whole) exactly what was there comes back. The
//! record of it is the operator's own: a record it did not write restores nothing, and a
//! tenant who may edit namespaces cannot rewrite it.

use crate::support::*;
use baseline_operator::api::SecurityBaseline;
use k8s_openapi::api::core::v1::Namespace;
use kube::Client;
use kube::api::{Api, DeleteParams, PostParams};
use serde_json::{Value, json};
use std::collections::BTreeMap;
use std::time::Duration;

const TIMEOUT: Duration = Duration::from_secs(60);
const PSA: &str = "pod-security.kubernetes.io/";
const OURS: &str = "security.baseline.dev/";

/// Creates a namespace with `labels` and `annotations`; returns its labels as stored.
async fn namespace_with(
    client: &Client,
    name: &str,
    labels: &[(&str, &str)],
    annotations: &[(&str, &str)],
) -> BTreeMap<String, String> {
    let api: Api<Namespace> = Api::all(client.clone());
    let _ = api.delete(name, &DeleteParams::default()).await;
    wait_until("old namespace gone", TIMEOUT, || async {
        api.get_opt(name).await.ok().flatten().is_none()
    })
    .await;
    let map = |pairs: &[(&str, &str)]| -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    };
    let ns: Namespace = serde_json::from_value(json!({"metadata": {
        "name": name, "labels": map(labels), "annotations": map(annotations),
    }}))
    .unwrap();
    let created = api.create(&PostParams::default(), &ns).await.unwrap();
    created.metadata.labels.unwrap_or_default()
}

async fn our_annotations(client: &Client, ns: &str) -> Vec<String> {
    let api: Api<Namespace> = Api::all(client.clone());
    api.get(ns)
        .await
        .unwrap()
        .metadata
        .annotations
        .unwrap_or_default()
        .into_keys()
        .filter(|k| k.starts_with(OURS))
        .collect()
}

/// The Pod Security labels of `labels`, without the prefix.
fn psa(labels: &BTreeMap<String, String>) -> BTreeMap<String, String> {
    labels
        .iter()
        .filter_map(|(k, v)| Some((k.strip_prefix(PSA)?.to_string(), v.clone())))
        .collect()
}

fn pairs(items: &[(&str, &str)]) -> BTreeMap<String, String> {
    items
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

async fn wait_psa(client: &Client, ns: &str, what: &str, wanted: &BTreeMap<String, String>) {
    let deadline = std::time::Instant::now() + TIMEOUT;
    loop {
        let now = psa(&namespace_labels(client, ns).await);
        if &now == wanted {
            return;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "timed out waiting for: {what}\nwanted {wanted:?}\nfound  {now:?}"
        );
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}

async fn wait_restored(client: &Client, ns: &str, original: &BTreeMap<String, String>) {
    let deadline = std::time::Instant::now() + TIMEOUT;
    loop {
        let now = namespace_labels(client, ns).await;
        let annotations = our_annotations(client, ns).await;
        if &now == original && annotations.is_empty() {
            return;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "timed out waiting for {ns} to carry exactly what it had before\nwanted {original:?}\nfound  {now:?}, annotations {annotations:?}"
        );
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}

fn condition_message(sb: &SecurityBaseline, type_: &str) -> String {
    sb.status
        .as_ref()
        .and_then(|s| s.conditions.iter().find(|c| c.type_ == type_))
        .map(|c| c.message.clone())
        .unwrap_or_default()
}

/// A pod with no security context: `baseline` admits it, `restricted` does not.
fn plain_pod(ns: &str, name: &str) -> String {
    format!(
        "apiVersion: v1\nkind: Pod\nmetadata: {{name: {name}, namespace: {ns}}}\nspec:\n  containers:\n  - name: app\n    image: registry.example.com/app:1\n"
    )
}

fn psa_rejects(yaml: &str) -> bool {
    match cluster().apply_yaml(yaml) {
        Ok(_) => {
            cluster().kubectl_stdin(&["delete", "--wait", "-f", "-"], yaml);
            false
        }
        Err(message) => message.contains("violates PodSecurity"),
    }
}

#[tokio::test]
async fn a_stricter_label_already_there_is_kept_and_what_was_there_comes_back() {
    let s = Scenario::start().await.timeout(TIMEOUT);
    let kept = "e2e-nw-kept";
    let pinned = "e2e-nw-pinned";
    let original_kept = namespace_with(
        &s.client,
        kept,
        &[
            ("e2e-nw", "kept"),
            ("team.example/owner", "red"),
            ("pod-security.kubernetes.io/enforce", "restricted"),
            ("pod-security.kubernetes.io/warn", "baseline"),
            ("pod-security.kubernetes.io/warn-version", "v1.30"),
        ],
        &[],
    )
    .await;
    let original_pinned = namespace_with(
        &s.client,
        pinned,
        &[
            ("e2e-nw", "kept"),
            ("pod-security.kubernetes.io/enforce", "baseline"),
            ("pod-security.kubernetes.io/enforce-version", "v1.36"),
            ("pod-security.kubernetes.io/audit", "privileged"),
        ],
        &[],
    )
    .await;
    let name = "e2e-never-weaken";
    let spec = |exempt: Option<&str>| {
        let mut spec = json!({
            "mode": "Enforce",
            "namespaceSelector": {"matchLabels": {"e2e-nw": "kept"}},
            "podSecurity": {"level": "baseline"},
        });
        if let Some(ns) = exempt {
            spec["exemptions"] = json!([{
                "controls": ["workload-hardening"], "namespaces": [ns],
                "reason": "migration", "approvedBy": "ciso", "expires": "2099-01-01",
            }]);
        }
        spec
    };
    let baseline = s.baseline(name, spec(None)).await;

    // enforce=restricted is stricter than baseline: kept, with no version label added. warn
    // at v1.30 applies fewer checks than latest: replaced. audit was absent: set.
    let baseline_latest = |mode: &str| {
        [
            (mode.to_string(), "baseline".to_string()),
            (format!("{mode}-version"), "latest".to_string()),
        ]
    };
    let mut wanted_kept = pairs(&[("enforce", "restricted")]);
    wanted_kept.extend(baseline_latest("warn"));
    wanted_kept.extend(baseline_latest("audit"));
    wait_psa(
        &s.client,
        kept,
        "the stricter enforce label kept",
        &wanted_kept,
    )
    .await;
    // baseline at v1.36 applies every check latest does, before v1.37 widened a list: kept.
    // audit=privileged is weaker: replaced.
    let mut wanted_pinned = pairs(&[("enforce", "baseline"), ("enforce-version", "v1.36")]);
    wanted_pinned.extend(baseline_latest("warn"));
    wanted_pinned.extend(baseline_latest("audit"));
    wait_psa(
        &s.client,
        pinned,
        "the pinned stricter version kept",
        &wanted_pinned,
    )
    .await;
    s.wait_until("the condition says what was kept", || async {
        let message = condition_message(&baseline.get().await, "WorkloadHardening");
        message.contains(&format!(
            "namespace(s) {kept} keep the stricter Pod Security label(s) enforce=restricted:latest"
        )) && message.contains(&format!(
            "namespace(s) {pinned} keep the stricter Pod Security label(s) enforce=baseline:v1.36"
        )) && message.contains("this baseline asks baseline:latest")
    })
    .await;
    // Admission agrees with what the namespace carries: restricted still rejects.
    assert!(
        psa_rejects(&plain_pod(kept, "plain")),
        "the kept restricted label still enforces"
    );

    // Exempting the namespace as a whole puts back exactly what was there.
    baseline.apply(spec(Some(kept))).await;
    wait_restored(&s.client, kept, &original_kept).await;
    // The exemption gone, the labels come back, the stricter one still kept.
    baseline.apply(spec(None)).await;
    wait_psa(
        &s.client,
        kept,
        "labels back after the exemption",
        &wanted_kept,
    )
    .await;

    // Deleting the baseline puts back exactly what was there, everywhere.
    baseline.delete().await;
    wait_restored(&s.client, kept, &original_kept).await;
    wait_restored(&s.client, pinned, &original_pinned).await;
}

/// Grants the user `tenant` the right to edit namespaces (more than a namespace editor has),
/// so that only the operator's own admission policy stands between it and the record.
fn grant_namespace_edit(tenant: &str) {
    let yaml = format!(
        r#"
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRole
metadata: {{name: e2e-nw-namespace-editor}}
rules:
- apiGroups: [""]
  resources: [namespaces]
  verbs: [get, list, patch, update]
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRoleBinding
metadata: {{name: e2e-nw-namespace-editor}}
roleRef: {{apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: e2e-nw-namespace-editor}}
subjects:
- {{apiGroup: rbac.authorization.k8s.io, kind: User, name: {tenant}}}
"#
    );
    cluster().apply_yaml(&yaml).expect("grant namespace edit");
}

fn as_tenant(tenant: &str, args: &[&str]) -> Result<String, String> {
    let mut all = vec!["--as", tenant];
    all.extend_from_slice(args);
    let out = cluster().kubectl(&all);
    if out.status.success() {
        Ok(String::from_utf8_lossy(&out.stdout).into_owned())
    } else {
        Err(String::from_utf8_lossy(&out.stderr).into_owned())
    }
}

#[tokio::test]
async fn a_record_the_operator_did_not_write_restores_nothing_weaker() {
    let s = Scenario::start().await.timeout(TIMEOUT);
    let ns = "e2e-nw-forged";
    let record_key = "security.baseline.dev/pod-security-from-prior";
    let privileged: Value = json!({
        "pod-security.kubernetes.io/enforce": "privileged",
        "pod-security.kubernetes.io/enforce-version": null,
        "pod-security.kubernetes.io/warn": null,
        "pod-security.kubernetes.io/warn-version": null,
        "pod-security.kubernetes.io/audit": null,
        "pod-security.kubernetes.io/audit-version": null,
    });
    // Written before any baseline marked the namespace: not the operator's record.
    let original = namespace_with(
        &s.client,
        ns,
        &[
            ("e2e-nw", "forged"),
            ("pod-security.kubernetes.io/enforce", "baseline"),
        ],
        &[(record_key, &privileged.to_string())],
    )
    .await;
    let name = "e2e-never-weaken-forged";
    let baseline = s
        .baseline(
            name,
            json!({
                "mode": "Enforce",
                "namespaceSelector": {"matchLabels": {"e2e-nw": "forged"}},
                "podSecurity": {"level": "restricted"},
            }),
        )
        .await;
    let mut wanted = BTreeMap::new();
    for mode in ["enforce", "warn", "audit"] {
        wanted.insert(mode.to_string(), "restricted".to_string());
        wanted.insert(format!("{mode}-version"), "latest".to_string());
    }
    wait_psa(&s.client, ns, "restricted applied", &wanted).await;

    // A tenant who may edit namespaces cannot rewrite the record, nor drop the marker.
    let tenant = "e2e-nw-tenant";
    grant_namespace_edit(tenant);
    let forged = format!("{record_key}={privileged}");
    let mut refused = None;
    // Probed with server-side dry runs (admission judges them, nothing is stored): a probe
    // admitted before the guard is in force must not write the record itself, or every later
    // probe writes the same value, changes nothing, and is rightly admitted. (That window
    // between takeover and the guard being in force is real for a tenant too: see the
    // session note.) Until the tenant's RBAC is in force a probe is refused for that instead.
    s.wait_until("the record guard is in force", || {
        let result = as_tenant(
            tenant,
            &[
                "annotate",
                "namespace",
                ns,
                &forged,
                "--overwrite",
                "--dry-run=server",
            ],
        );
        let done = result
            .as_ref()
            .is_err_and(|e| e.contains("only baseline-operator may set or change"));
        refused = result.err();
        async move { done }
    })
    .await;
    // And for real: refused, so the record stays the operator's.
    let refused_for_real = as_tenant(
        tenant,
        &["annotate", "namespace", ns, &forged, "--overwrite"],
    );
    assert!(
        refused_for_real
            .as_ref()
            .is_err_and(|e| e.contains("only baseline-operator may set or change")),
        "{refused_for_real:?}"
    );
    let refused = refused.unwrap();
    assert!(
        refused.contains("only baseline-operator may set or change"),
        "{refused}"
    );
    let dropped = as_tenant(
        tenant,
        &[
            "label",
            "namespace",
            ns,
            "security.baseline.dev/pod-security-from-",
        ],
    );
    assert!(
        dropped
            .as_ref()
            .is_err_and(|e| e.contains("only baseline-operator may set or change")),
        "{dropped:?}"
    );
    // Other labels stay the tenant's to edit.
    as_tenant(
        tenant,
        &["label", "namespace", ns, "team.example/owner=blue"],
    )
    .expect("an unrelated label");

    // Deleting the baseline puts back what the namespace really carried: baseline, not the
    // privileged level the planted record claimed.
    baseline.delete().await;
    let mut expected = original.clone();
    expected.insert("team.example/owner".into(), "blue".into());
    wait_restored(&s.client, ns, &expected).await;
    cluster().kubectl(&[
        "delete",
        "clusterrole,clusterrolebinding",
        "e2e-nw-namespace-editor",
    ]);
}
