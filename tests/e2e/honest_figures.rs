//! Figures that are true in the plain reading an auditor gives them: nothing checked is never
//! a Pass, a declared RTO is a promise to test, an exemption exempts exactly what admission
//! admits, and the offline audit judges only what a manifest can show.

use crate::environment_isolation::DeleteOnDrop;
use crate::support::*;
use baseline_operator::api::{BackupPolicy, ControlResult, ControlState, SecurityBaseline};
use k8s_openapi::api::apps::v1::ReplicaSet;
use kube::Resource;
use kube::api::{Api, ListParams};
use serde::de::DeserializeOwned;
use serde_json::{Value, json};
use std::process::Command;
use std::time::Duration;

const TIMEOUT: Duration = Duration::from_secs(60);

/// The control `id` of `name` once status is current and `check` holds, with its condition;
/// its `title` holds its `note`.
async fn wait_control<K>(
    api: &Api<K>,
    name: &str,
    id: &str,
    check: impl Fn(&ControlResult, &Value) -> bool,
) -> (ControlResult, Value)
where
    K: Resource + Clone + DeserializeOwned + serde::Serialize + std::fmt::Debug,
{
    let condition_type = baseline_operator::catalog::ControlId::ALL
        .iter()
        .find(|c| c.as_str() == id)
        .expect("a catalog id")
        .condition_type();
    let deadline = std::time::Instant::now() + TIMEOUT;
    loop {
        let object = serde_json::to_value(api.get(name).await.unwrap()).unwrap();
        let status = &object["status"];
        let current = status["observedGeneration"] == object["metadata"]["generation"];
        // The note is read from the JSON, so that this test also builds (and fails) on an
        // operator that wrote none.
        let result = status["controls"]
            .as_array()
            .into_iter()
            .flatten()
            .find(|c| c["id"] == id)
            .map(|c| {
                let mut result = serde_json::from_value::<ControlResult>(c.clone()).unwrap();
                result.title = c["note"].as_str().unwrap_or_default().to_string();
                result
            });
        let condition = status["conditions"]
            .as_array()
            .into_iter()
            .flatten()
            .find(|c| c["type"] == condition_type.as_str())
            .cloned()
            .unwrap_or_default();
        if let Some(result) = result.filter(|r| current && check(r, &condition)) {
            return (result, condition);
        }
        assert!(
            std::time::Instant::now() < deadline,
            "timed out waiting for {id} of {name}\nlast status: {status:#}"
        );
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}

/// The control's `note` (carried in `title` by [`wait_control`]).
fn note(result: &ControlResult) -> &str {
    &result.title
}

fn message(condition: &Value) -> &str {
    condition["message"].as_str().unwrap_or_default()
}

fn findings(result: &ControlResult) -> String {
    result
        .findings
        .iter()
        .map(|f| format!("{} {}: {}", f.kind, f.name, f.message))
        .collect::<Vec<_>>()
        .join("\n")
}

/// Nothing checked is never a Pass: a baseline over an empty namespace judges no Ingress, no
/// volume, no workload, and says so (Not applicable, with why, in the condition, in status and
/// in evidence.md, which also states the catalog's rule per control); a BackupPolicy whose
/// namespaces no Schedule or Backup holds cannot prove retention, and fails; one that selects
/// no namespace has nothing to judge.
#[tokio::test]
async fn nothing_checked_is_never_a_pass() {
    let s = Scenario::start().await.timeout(TIMEOUT);
    crate::backup_policy::velero_namespace(&s.client).await;
    let ns = s.namespace("e2e-hf-empty", &[("e2e-hf", "empty")]).await;

    let sb = "e2e-hf-empty";
    let _sb = DeleteOnDrop("securitybaseline", sb.into());
    let baselines: Api<SecurityBaseline> = apply_cr(
        &s.client,
        sb,
        json!({
            "mode": "Audit",
            "namespaceSelector": {"matchLabels": {"e2e-hf": "empty"}},
            "encryption": {"inTransit": {"requireIngressTLS": true}, "atRest": {"encryptedStorageClasses": ["enc"]}},
            "images": {"allowedRegistries": ["registry.acme.test/"]},
            "availability": {"minReplicas": 2},
            "resources": {"requireRequests": true},
        }),
    )
    .await;
    for (id, why) in [
        (
            "encryption-in-transit",
            "no Ingress in the selected namespaces",
        ),
        (
            "encryption-at-rest",
            "no PersistentVolumeClaim in the selected namespaces",
        ),
        (
            "trusted-images",
            "no workload or Pod in the selected namespaces",
        ),
        (
            "high-availability",
            "no Deployment or StatefulSet in the selected namespaces",
        ),
    ] {
        let (result, condition) = wait_control(&baselines, sb, id, |_, _| true).await;
        assert_eq!(
            result.state,
            ControlState::NotApplicable,
            "{id}: {result:?}"
        );
        assert_eq!(result.checked, 0, "{id}");
        assert!(note(&result).contains(why), "{id}: {:?}", note(&result));
        assert_eq!(condition["reason"], "NotApplicable", "{id}: {condition}");
        assert!(message(&condition).contains(why), "{id}: {condition}");
    }
    // Unconfigured controls say which field would turn them on.
    let (ports, condition) = wait_control(&baselines, sb, "restricted-ports", |_, _| true).await;
    assert_eq!(ports.state, ControlState::NotApplicable);
    assert!(
        message(&condition).contains("not configured: the SecurityBaseline sets no spec.network"),
        "{condition}"
    );

    // The same namespace under a BackupPolicy in Audit mode: no Schedule or Backup holds it,
    // so retention cannot be proven. One that selects nothing has nothing to judge.
    let bp = "e2e-hf-retention";
    let _bp = DeleteOnDrop("backuppolicy", bp.into());
    let policies: Api<BackupPolicy> = apply_cr(
        &s.client,
        bp,
        json!({
            "mode": "Audit",
            "namespaceSelector": {"matchLabels": {"e2e-hf": "empty"}},
            "rpo": "24h",
            "retention": {"min": "720h", "max": "2160h"},
        }),
    )
    .await;
    let (retention, condition) = wait_control(&policies, bp, "backup-retention", |_, _| true).await;
    assert_eq!(retention.state, ControlState::Fail, "{retention:?}");
    assert_eq!((retention.checked, retention.failed), (1, 1));
    assert!(
        findings(&retention).contains(&format!(
            "BackupPolicy {bp}: no Velero Schedule or Backup holds a selected namespace or was made for the policy, so no retention can be proven"
        )),
        "{}",
        findings(&retention)
    );
    assert_eq!(condition["status"], "False", "{condition}");

    let nothing = "e2e-hf-nothing";
    let _nothing = DeleteOnDrop("backuppolicy", nothing.into());
    let policies: Api<BackupPolicy> = apply_cr(
        &s.client,
        nothing,
        json!({
            "mode": "Audit",
            "namespaceSelector": {"matchLabels": {"e2e-hf": "no-such-namespace"}},
            "rpo": "24h",
            "retention": {"min": "720h", "max": "2160h"},
        }),
    )
    .await;
    for (id, why) in [
        ("backup-retention", "no namespace is in scope"),
        (
            "automated-backup",
            "the policy selects no namespace: nothing to back up",
        ),
    ] {
        let (result, _) = wait_control(&policies, nothing, id, |_, _| true).await;
        assert_eq!(
            result.state,
            ControlState::NotApplicable,
            "{id}: {result:?}"
        );
        assert!(note(&result).contains(why), "{id}: {:?}", note(&result));
    }

    // evidence.md states the rule per control, and shows why each control does not apply.
    let out = tempfile::tempdir().unwrap();
    export_evidence(env!("CARGO_BIN_EXE_baseline-operator"), out.path());
    let md = std::fs::read_to_string(out.path().join("evidence.md")).unwrap();
    assert!(md.contains("## What an empty scope means"), "{md}");
    assert!(
        md.contains("| `backup-retention` | `spec.retention` |")
            && md.contains("**Fail**: no Velero Schedule or Backup holds a selected namespace"),
        "{md}"
    );
    assert!(
        md.contains(&format!(
            "SecurityBaseline/{sb} | Not applicable: nothing to judge: no Ingress in the selected namespaces"
        )),
        "{md}"
    );
    let _ = ns;
}

/// A declared RTO is a promise to test: without `restoreTest`, and with no restore anyone ran,
/// `restore-tested` fails saying so, instead of NotApplicable with nothing to say.
#[tokio::test]
async fn a_declared_rto_without_a_restore_test_fails_restore_tested() {
    let s = Scenario::start().await.timeout(TIMEOUT);
    crate::backup_policy::velero_namespace(&s.client).await;
    s.namespace("e2e-hf-rto", &[("e2e-hf", "rto")]).await;
    for mode in ["Audit", "Enforce"] {
        let name = &format!("e2e-hf-rto-{}", mode.to_lowercase());
        let _cleanup = DeleteOnDrop("backuppolicy", name.clone());
        let api: Api<BackupPolicy> = apply_cr(
            &s.client,
            name,
            json!({
                "mode": mode,
                "namespaceSelector": {"matchLabels": {"e2e-hf": "rto"}},
                "rpo": "24h",
                "rto": "6h",
            }),
        )
        .await;
        // Until the operator has seen Velero's API served, every control fails for want of
        // it: wait for the judgement of the restore tests themselves.
        let (tested, condition) = wait_control(&api, name, "restore-tested", |r, _| {
            !findings(r).contains("Velero is not installed")
        })
        .await;
        assert_eq!(tested.state, ControlState::Fail, "{mode}: {tested:?}");
        assert!(
            findings(&tested).contains("rto 6h declared, no restore test configured or observed"),
            "{mode}: {}",
            findings(&tested)
        );
        assert_eq!(condition["status"], "False", "{mode}: {condition}");
        // Without restoreTest the operator restores nothing itself, in either mode.
        settle_writes().await;
        let restores = cluster().kubectl_ok(&[
            "get",
            "restores",
            "-n",
            "velero",
            "-l",
            &format!("security.baseline.dev/backup-policy={name}"),
            "-o",
            "name",
        ]);
        assert_eq!(restores.trim(), "", "{mode}");
    }
}

fn workload(name: &str, own: Value, template: Value, image: &str) -> String {
    serde_json::to_string(&json!({
        "apiVersion": "apps/v1", "kind": "Deployment",
        "metadata": {"name": name, "labels": own},
        "spec": {
            "replicas": 1,
            "selector": {"matchLabels": {"app": name}},
            "template": {
                "metadata": {"labels": template},
                "spec": {"containers": [{"name": "app", "image": image}]},
            },
        },
    }))
    .unwrap()
}

fn create(ns: &str, yaml: &str) -> Result<String, String> {
    let out = cluster().kubectl_stdin(&["create", "-n", ns, "-f", "-"], yaml);
    if out.status.success() {
        Ok(String::from_utf8_lossy(&out.stdout).into_owned())
    } else {
        Err(String::from_utf8_lossy(&out.stderr).into_owned())
    }
}

/// An exemption matches a workload by its pod template's labels only, as admission sees the
/// ReplicaSets and Pods kube-controller-manager makes from it. A label on the Deployment's own
/// metadata alone exempts nothing: status counts the Deployment as failing and names it as
/// missed by a misconfigured exemption, and admission refuses such a Deployment itself rather
/// than admitting it and then refusing every ReplicaSet. A template label exempts the whole
/// chain in both.
#[tokio::test]
async fn an_exemption_on_a_workloads_own_labels_only_exempts_nothing_and_says_so() {
    let s = Scenario::start().await.timeout(TIMEOUT);
    let ns = s.namespace("e2e-hf-exempt", &[("e2e-hf", "exempt")]).await;
    let untrusted = "docker.io/library/nginx:1.25";
    // Before the baseline enforces: a Deployment labelled on its own metadata only.
    create(
        &ns,
        &workload(
            "own-only",
            json!({"exempt": "yes"}),
            json!({"app": "own-only"}),
            untrusted,
        ),
    )
    .expect("created before the baseline");
    let name = "e2e-hf-exempt";
    let _cleanup = DeleteOnDrop("securitybaseline", name.into());
    let baseline = s
        .baseline(
            name,
            json!({
                "mode": "Enforce",
                "namespaceSelector": {"matchLabels": {"e2e-hf": "exempt"}},
                "images": {"allowedRegistries": ["registry.acme.test/"]},
                "exemptions": [{
                    "controls": ["trusted-images"],
                    "namespaces": [ns], "selector": {"matchLabels": {"exempt": "yes"}},
                    "reason": "vendor image", "approvedBy": "ciso", "expires": "2099-01-01",
                }],
            }),
        )
        .await;
    let (images, condition) = wait_control(&baseline.api, name, "trusted-images", |r, _| {
        r.findings.iter().any(|f| f.name == "own-only")
    })
    .await;
    assert_eq!(images.state, ControlState::Fail, "{images:?}");
    assert_eq!((images.failed, images.exempted), (1, 0), "{images:?}");
    let says = message(&condition);
    assert!(
        says.contains("misconfigured exemption (approved by ciso)")
            && says.contains(&format!("Deployment {ns}/own-only"))
            && says.contains("spec.template.metadata.labels"),
        "{condition}"
    );
    assert!(
        note(&images).contains(&format!("Deployment {ns}/own-only")),
        "{images:?}"
    );

    // Admission agrees: the same Deployment is refused itself now...
    let again = workload(
        "own-only-again",
        json!({"exempt": "yes"}),
        json!({"app": "own-only-again"}),
        untrusted,
    );
    s.wait_until("admission refuses the own-only Deployment", || {
        let again = again.clone();
        let ns = ns.clone();
        async move {
            match create(&ns, &again) {
                Ok(_) => {
                    cluster().kubectl(&["delete", "deployment", "own-only-again", "-n", &ns]);
                    false
                }
                Err(message) => message.contains("[trusted-images]"),
            }
        }
    })
    .await;
    // ...and a template label exempts the Deployment, its ReplicaSet and its Pods, in
    // admission and in status.
    create(
        &ns,
        &workload(
            "templated",
            json!({}),
            json!({"app": "templated", "exempt": "yes"}),
            untrusted,
        ),
    )
    .expect("a template-labelled Deployment is admitted");
    let sets: Api<ReplicaSet> = Api::namespaced(s.client.clone(), &ns);
    s.wait_until(
        "kube-controller-manager's ReplicaSet of the templated Deployment is admitted",
        || async {
            !sets
                .list(&ListParams::default().labels("app=templated"))
                .await
                .unwrap()
                .items
                .is_empty()
        },
    )
    .await;
    let (images, _) = wait_control(&baseline.api, name, "trusted-images", |r, _| {
        r.exempted == 1
    })
    .await;
    assert_eq!((images.failed, images.exempted), (1, 1), "{images:?}");
    assert!(
        !findings(&images).contains("templated"),
        "{}",
        findings(&images)
    );
}

fn audit(dir: &std::path::Path) -> (bool, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_baseline-operator"))
        .arg("audit")
        .arg("--baselines")
        .arg(dir.join("baselines"))
        .arg("--manifests")
        .arg(dir.join("manifests"))
        .output()
        .expect("running baseline-operator audit");
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        matches!(out.status.code(), Some(0 | 1)),
        "audit failed: {stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.success(), stdout)
}

/// The offline audit judges what a manifest can show: declared replicas, not Ready ones
/// (manifests carry no status), and says that readiness is judged live only. A GitOps gate
/// built on it passes a Deployment that asks for enough replicas and fails one that does not.
#[tokio::test]
async fn the_offline_audit_judges_declared_replicas_and_says_readiness_is_live_only() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(dir.path().join("baselines")).unwrap();
    std::fs::create_dir_all(dir.path().join("manifests")).unwrap();
    std::fs::write(
        dir.path().join("baselines/sb.yaml"),
        "apiVersion: security.baseline.dev/v1alpha1\nkind: SecurityBaseline\nmetadata: {name: ha}\nspec:\n  namespaceSelector: {matchLabels: {env: production}}\n  availability: {minReplicas: 2}\n",
    )
    .unwrap();
    let deployment = |replicas: i32| {
        format!(
            "apiVersion: v1\nkind: Namespace\nmetadata: {{name: shop, labels: {{env: production}}}}\n---\napiVersion: apps/v1\nkind: Deployment\nmetadata: {{name: web, namespace: shop}}\nspec:\n  replicas: {replicas}\n  selector: {{matchLabels: {{app: web}}}}\n  template:\n    metadata: {{labels: {{app: web}}}}\n    spec: {{containers: [{{name: web, image: registry.acme.test/web:1}}]}}\n"
        )
    };
    let manifests = dir.path().join("manifests/app.yaml");

    std::fs::write(&manifests, deployment(2)).unwrap();
    let (passed, out) = audit(dir.path());
    assert!(passed, "two declared replicas pass offline:\n{out}");
    assert!(
        out.contains("high-availability: readiness is judged live only"),
        "{out}"
    );
    assert!(!out.contains("Ready replica"), "{out}");

    std::fs::write(&manifests, deployment(1)).unwrap();
    let (passed, out) = audit(dir.path());
    assert!(!passed, "one declared replica fails:\n{out}");
    assert!(
        out.contains("runs 1 replica(s), fewer than the required 2"),
        "{out}"
    );
}
