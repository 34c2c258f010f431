//! Hostile and odd input: names at the label limit, custom resources at the schema's limits
//! with unicode text, Velero objects without status, PVCs on StorageClasses that do not exist.
//! The API server rejects what it must (naming the field); everything else is reconciled and
//! judged, never a panic or a wedged status.

use crate::backup_policy::velero_namespace;
use crate::environment_isolation::DeleteOnDrop;
use crate::support::*;
use baseline_operator::api::{BackupPolicy, ControlState};
use kube::api::Api;
use serde_json::{Value, json};
use std::time::Duration;

const TIMEOUT: Duration = Duration::from_secs(60);

/// Waits until `name`'s current generation is reconciled with Ready=True; returns its status.
async fn ready_status<K>(api: &Api<K>, name: &str) -> Value
where
    K: kube::Resource + Clone + serde::de::DeserializeOwned + serde::Serialize + std::fmt::Debug,
{
    let deadline = std::time::Instant::now() + TIMEOUT;
    loop {
        let object = serde_json::to_value(api.get(name).await.unwrap()).unwrap();
        let status = object["status"].clone();
        let ready = status["conditions"]
            .as_array()
            .into_iter()
            .flatten()
            .any(|c| c["type"] == "Ready" && c["status"] == "True");
        if ready && status["observedGeneration"] == object["metadata"]["generation"] {
            return status;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "{name} never became Ready: {status:#}"
        );
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}

#[tokio::test]
async fn a_backup_policy_name_must_fit_a_label_value() {
    let s = Scenario::start().await.timeout(TIMEOUT);
    velero_namespace(&s.client).await;
    s.namespace("e2e-hostile-bp", &[("e2e-hostile", "bp")])
        .await;
    let spec = json!({"mode": "Enforce", "namespaceSelector": {"matchLabels": {"e2e-hostile": "bp"}}, "rpo": "24h"});
    let too_long = "b".repeat(64);
    let yaml = json!({"apiVersion": "security.baseline.dev/v1alpha1", "kind": "BackupPolicy",
                      "metadata": {"name": too_long}, "spec": spec})
    .to_string();
    let refused = cluster().apply_yaml(&yaml).unwrap_err();
    assert!(
        refused.contains("metadata.name") && refused.contains("63"),
        "{refused}"
    );
    // At the limit, the owned Schedule carries the whole name as its label value.
    let longest = "b".repeat(63);
    let _cleanup = DeleteOnDrop("backuppolicy", longest.clone());
    let api: Api<BackupPolicy> = apply_cr(&s.client, &longest, spec).await;
    ready_status(&api, &longest).await;
    s.wait_until("Schedule labelled with the 63-character name", || async {
        let out = cluster().kubectl(&[
            "get",
            "schedules",
            "-n",
            "velero",
            "-l",
            &format!("security.baseline.dev/backup-policy={longest}"),
            "-o",
            "name",
        ]);
        !String::from_utf8_lossy(&out.stdout).trim().is_empty()
    })
    .await;
}

#[tokio::test]
async fn a_baseline_at_the_schemas_limits_with_unicode_text_is_reconciled() {
    let s = Scenario::start().await.timeout(TIMEOUT);
    let ns = s
        .namespace(
            "e2e-hostile-odd",
            &[("a.b-c.d/E.F_g-h", "x_Y.z-0"), ("e2e-hostile", "odd")],
        )
        .await;
    // A PVC on a StorageClass that does not exist.
    cluster()
        .apply_yaml(&format!(
            "apiVersion: v1\nkind: PersistentVolumeClaim\nmetadata: {{name: nowhere, namespace: {ns}}}\nspec:\n  storageClassName: does-not-exist\n  accessModes: [ReadWriteOnce]\n  resources: {{requests: {{storage: 1Gi}}}}\n"
        ))
        .unwrap();
    let logged_before = logs().len();
    let controls: Vec<&str> = baseline_operator::catalog::CATALOG
        .iter()
        .filter(|c| c.kind == baseline_operator::catalog::ControlKind::SecurityBaseline)
        .map(|c| c.id.as_str())
        .collect();
    let soon = (jiff::Timestamp::now() + jiff::SignedDuration::from_hours(24))
        .strftime("%Y-%m-%dT%H:%M:%SZ")
        .to_string();
    // 100 exemptions (the maximum), each of all eight controls, with the longest unicode
    // reason, approver and ticket the schema allows, all about to expire: each raises an event
    // whose note (the approver in four-byte characters) is over the API server's 1 KiB.
    let exemptions: Vec<Value> = (0..100)
        .map(|i| {
            json!({
                "controls": controls,
                "selector": {"matchLabels": {"exempt": format!("n{i}")}},
                "reason": "ü".repeat(1024),
                "approvedBy": format!("{i}{}", "𝔄".repeat(250)),
                "ticket": "☃".repeat(256),
                "expires": soon,
            })
        })
        .collect();
    let name = "e2e-hostile-limits";
    let _cleanup = DeleteOnDrop("securitybaseline", name.to_string());
    let baseline = s
        .baseline(
            name,
            json!({
                "mode": "Audit",
                "namespaceSelector": {"matchExpressions": [
                    {"key": "a.b-c.d/E.F_g-h", "operator": "In", "values": ["x_Y.z-0"]},
                    {"key": "e2e-hostile", "operator": "Exists"},
                ]},
                "encryption": {"atRest": {"encryptedStorageClasses": ["encrypted"]}},
                "exemptions": exemptions,
            }),
        )
        .await;
    let status = ready_status(&baseline.api, name).await;
    assert_eq!(status["scope"]["namespaceNames"], json!([ns]));
    let at_rest = status["controls"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["id"] == "encryption-at-rest")
        .unwrap()
        .clone();
    assert_eq!(at_rest["state"], json!(ControlState::Fail));
    assert!(
        at_rest["findings"][0]["message"]
            .as_str()
            .unwrap()
            .contains("StorageClass `does-not-exist` which does not exist"),
        "{at_rest:#}"
    );
    // The expiry warnings were published: none was refused for its size.
    s.wait_until("ExemptionExpiring events published", || async {
        let out = cluster().kubectl(&[
            "get",
            "events",
            "-A",
            "--field-selector",
            "reason=ExemptionExpiring",
            "-o",
            "json",
        ]);
        let list: Value = serde_json::from_slice(&out.stdout).unwrap_or_default();
        list["items"]
            .as_array()
            .into_iter()
            .flatten()
            .filter(|e| e["regarding"]["name"] == name || e["involvedObject"]["name"] == name)
            .all(|e| {
                e["note"]
                    .as_str()
                    .or(e["message"].as_str())
                    .unwrap_or("")
                    .len()
                    <= 1024
            })
            && String::from_utf8_lossy(&out.stdout).contains(name)
    })
    .await;
    let logged = logs();
    let since = logged.get(logged_before..).unwrap_or_default();
    assert!(
        !since.contains("publishing event"),
        "an event was refused:\n{since}"
    );
}

#[tokio::test]
async fn velero_objects_without_status_are_judged_not_fatal() {
    let s = Scenario::start().await.timeout(TIMEOUT);
    velero_namespace(&s.client).await;
    let ns = s
        .namespace("e2e-hostile-velero", &[("e2e-hostile", "velero")])
        .await;
    for yaml in [
        format!("apiVersion: velero.io/v1\nkind: Backup\nmetadata: {{name: bare-backup, namespace: velero}}\nspec: {{includedNamespaces: [{ns}]}}\n"),
        "apiVersion: velero.io/v1\nkind: Restore\nmetadata: {name: bare-restore, namespace: velero}\nspec: {backupName: bare-backup}\n".to_string(),
        format!("apiVersion: velero.io/v1\nkind: Schedule\nmetadata: {{name: bare-schedule, namespace: velero}}\nspec:\n  schedule: \"@every 1h\"\n  template: {{includedNamespaces: [{ns}]}}\n"),
        "apiVersion: velero.io/v1\nkind: BackupStorageLocation\nmetadata: {name: bare-location, namespace: velero}\nspec: {provider: aws, objectStorage: {bucket: b}}\n".to_string(),
    ] {
        cluster().apply_yaml(&yaml).unwrap_or_else(|e| panic!("{e}\n{yaml}"));
    }
    let name = "e2e-hostile-velero";
    let _cleanup = DeleteOnDrop("backuppolicy", name.to_string());
    let api: Api<BackupPolicy> = apply_cr(
        &s.client,
        name,
        json!({
            "mode": "Audit",
            "namespaceSelector": {"matchLabels": {"e2e-hostile": "velero"}},
            "rpo": "24h",
            "retention": {"min": "24h", "max": "720h"},
            "storageLocation": "bare-location",
            "requireEncryption": true,
        }),
    )
    .await;
    let status = ready_status(&api, name).await;
    let state = |id: &str| {
        status["controls"]
            .as_array()
            .unwrap()
            .iter()
            .find(|c| c["id"] == id)
            .map(|c| c["state"].clone())
            .unwrap()
    };
    // A Backup without status has not completed; the Schedule is judged from its spec.
    assert_eq!(state("automated-backup"), json!(ControlState::Fail));
    assert_eq!(state("backup-encryption"), json!(ControlState::Fail));
    for (kind, object) in [
        ("backup", "bare-backup"),
        ("restore", "bare-restore"),
        ("schedule", "bare-schedule"),
        ("backupstoragelocation", "bare-location"),
    ] {
        cluster().kubectl_ok(&["delete", kind, object, "-n", "velero"]);
    }
}
