//! The checks no admission policy enforces (token automounting, backup retention and
//! encryption, PVC clones and Velero Restores out of production), each on the real control
//! plane in both modes: a compliant object passes, a violating one is reported with its finding
//! (and, being report-only, still admitted in Enforce), an exempted one is counted as exempted,
//! and an exemption that has run out waives nothing.

use crate::backup_policy::velero_namespace;
use crate::environment_isolation::{DeleteOnDrop, environment, exemption};
use crate::support::*;
use baseline_operator::api::{BackupPolicy, ControlResult, ControlState, EnvironmentIsolation};
use kube::Resource;
use kube::api::{Api, Patch, PatchParams};
use serde::de::DeserializeOwned;
use serde_json::json;
use std::time::Duration;

const TIMEOUT: Duration = Duration::from_secs(45);
const VELERO: &str = "velero";

/// Waits until the CR's current generation is reconciled and control `id` satisfies `check`.
async fn wait_result<K>(
    api: &Api<K>,
    name: &str,
    id: &str,
    what: &str,
    check: impl Fn(&ControlResult) -> bool,
) -> ControlResult
where
    K: Resource + Clone + DeserializeOwned + serde::Serialize + std::fmt::Debug,
{
    let deadline = std::time::Instant::now() + TIMEOUT;
    loop {
        let object = serde_json::to_value(api.get(name).await.unwrap()).unwrap();
        let status = &object["status"];
        let current = status["observedGeneration"] == object["metadata"]["generation"];
        let result = status["controls"]
            .as_array()
            .into_iter()
            .flatten()
            .find(|c| c["id"] == id)
            .map(|c| serde_json::from_value::<ControlResult>(c.clone()).unwrap());
        if let Some(result) = result.filter(|r| current && check(r)) {
            return result;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "timed out waiting for {id}: {what}\nlast status: {status:#}"
        );
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}

fn findings(result: &ControlResult) -> String {
    result
        .findings
        .iter()
        .map(|f| format!("{} {}: {}", f.kind, f.name, f.message))
        .collect::<Vec<_>>()
        .join("\n")
}

fn apply(yaml: &str) {
    cluster()
        .apply_yaml(yaml)
        .unwrap_or_else(|e| panic!("{e}\n{yaml}"));
}

/// A Deployment whose pod template (and own metadata) carry `labels`, a YAML flow map: an
/// exemption selects a workload by its pod template's labels.
fn deployment(ns: &str, name: &str, labels: &str, pod_spec: &str) -> String {
    let extra = labels
        .trim()
        .trim_start_matches('{')
        .trim_end_matches('}')
        .trim();
    let pod_labels = match extra {
        "" => format!("{{app: {name}}}"),
        extra => format!("{{app: {name}, {extra}}}"),
    };
    format!(
        "apiVersion: apps/v1\nkind: Deployment\nmetadata: {{name: {name}, namespace: {ns}, labels: {labels}}}\nspec:\n  selector: {{matchLabels: {{app: {name}}}}}\n  template:\n    metadata: {{labels: {pod_labels}}}\n    spec:\n      {pod_spec}containers: [{{name: app, image: \"registry.example.com/{name}@sha256:{}\"}}]\n",
        "0".repeat(64)
    )
}

#[tokio::test]
async fn token_automount_is_reported_in_both_modes_and_waived_only_while_exempt() {
    let s = Scenario::start().await.timeout(TIMEOUT);
    let ns = s.namespace("e2e-token", &[("e2e-token", "yes")]).await;
    apply(&format!(
        "apiVersion: v1\nkind: ServiceAccount\nmetadata: {{name: quiet, namespace: {ns}}}\nautomountServiceAccountToken: false\n"
    ));
    for yaml in [
        deployment(&ns, "chatty", "{}", ""),
        deployment(
            &ns,
            "opted-out",
            "{}",
            "automountServiceAccountToken: false\n      ",
        ),
        deployment(
            &ns,
            "quiet-account",
            "{}",
            "serviceAccountName: quiet\n      ",
        ),
        deployment(&ns, "waived", "{token-exempt: live}", ""),
        deployment(&ns, "lapsed", "{token-exempt: lapsed}", ""),
    ] {
        apply(&yaml);
    }
    let spec = |mode: &str| {
        json!({
            "mode": mode,
            "namespaceSelector": {"matchLabels": {"e2e-token": "yes"}},
            "access": {"disallowAutomountToken": true},
            "exemptions": [
                exemption("least-privilege", json!({"selector": {"matchLabels": {"token-exempt": "live"}}}), "2099-01-01"),
                exemption("least-privilege", json!({"selector": {"matchLabels": {"token-exempt": "lapsed"}}}), "2020-01-01"),
            ],
        })
    };
    let name = "e2e-token";
    let _cleanup = DeleteOnDrop("securitybaseline", name.to_string());
    let baseline = s.baseline(name, spec("Audit")).await;
    for mode in ["Audit", "Enforce"] {
        baseline.apply(spec(mode)).await;
        let result = wait_result(&baseline.api, name, "least-privilege", mode, |r| {
            r.failed == 2 && r.exempted == 1
        })
        .await;
        assert_eq!(result.state, ControlState::Fail, "{mode}");
        assert_eq!(result.checked, 5, "{mode}");
        let text = findings(&result);
        for failing in ["chatty", "lapsed"] {
            assert!(
                text.contains(&format!(
                    "Deployment {failing}: pods automount the token of ServiceAccount `default`"
                )),
                "{mode}: {text}"
            );
        }
        for passing in ["opted-out", "quiet-account", "waived"] {
            assert!(!text.contains(passing), "{mode}: {text}");
        }
    }
    // Report only: Enforce renders no admission rule for automounting, so a new violating
    // workload is admitted and then reported.
    apply(&deployment(&ns, "late", "{}", ""));
    wait_result(
        &baseline.api,
        name,
        "least-privilege",
        "new workload reported",
        |r| findings(r).contains("Deployment late:"),
    )
    .await;
    for fixed in ["chatty", "lapsed", "late"] {
        cluster().kubectl_ok(&["delete", "deployment", fixed, "-n", &ns]);
    }
    let result = wait_result(
        &baseline.api,
        name,
        "least-privilege",
        "only the waiver left",
        |r| r.state == ControlState::Exempt,
    )
    .await;
    assert_eq!((result.checked, result.failed, result.exempted), (3, 0, 1));
}

fn schedule(name: &str, namespaces: &[&str], ttl: &str, labels: &str) -> String {
    format!(
        "apiVersion: velero.io/v1\nkind: Schedule\nmetadata: {{name: {name}, namespace: {VELERO}, labels: {labels}}}\nspec:\n  schedule: \"0 3 * * *\"\n  template: {{includedNamespaces: {}, ttl: \"{ttl}\", storageLocation: keep-sealed}}\n",
        serde_json::to_string(namespaces).unwrap()
    )
}

fn storage_location(name: &str, config: &str, labels: &str) -> String {
    format!(
        "apiVersion: velero.io/v1\nkind: BackupStorageLocation\nmetadata: {{name: {name}, namespace: {VELERO}, labels: {labels}}}\nspec:\n  provider: aws\n  objectStorage: {{bucket: backups}}\n  config: {config}\n"
    )
}

/// backup-retention judges the ttl of every Schedule covering a selected namespace (the
/// operator's own, written in Enforce, and anyone else's); backup-encryption judges the
/// policy's storage location. Both only report: Enforce sets the owned Schedule's ttl and
/// otherwise changes nothing in Velero.
#[tokio::test]
async fn backup_retention_and_encryption_are_judged_from_velero_objects_in_both_modes() {
    let s = Scenario::start().await.timeout(TIMEOUT);
    velero_namespace(&s.client).await;
    let ns = s.namespace("e2e-bp-keep", &[("e2e-bp", "keep")]).await;
    for yaml in [
        schedule("keep-too-long", &[&ns], "8760h0m0s", "{}"),
        schedule("keep-too-short", &[&ns], "24h0m0s", "{}"),
        schedule("keep-waived", &[&ns], "8760h0m0s", "{keep-exempt: live}"),
        schedule("keep-lapsed", &[&ns], "8760h0m0s", "{keep-exempt: lapsed}"),
        schedule("keep-elsewhere", &["e2e-not-selected"], "8760h0m0s", "{}"),
        storage_location("keep-plain", "{region: eu-1}", "{}"),
        storage_location(
            "keep-sealed",
            "{region: eu-1, kmsKeyId: alias/backups}",
            "{}",
        ),
        storage_location("keep-waived", "{region: eu-1}", "{bsl-exempt: live}"),
        storage_location("keep-lapsed", "{region: eu-1}", "{bsl-exempt: lapsed}"),
    ] {
        apply(&yaml);
    }
    let name = "e2e-keep";
    let _cleanup = DeleteOnDrop("backuppolicy", name.to_string());
    let spec = |mode: &str, location: &str| {
        json!({
            "mode": mode,
            "namespaceSelector": {"matchLabels": {"e2e-bp": "keep"}},
            "rpo": "24h",
            "retention": {"min": "720h", "max": "2160h"},
            "storageLocation": location,
            "requireEncryption": true,
            "exemptions": [
                exemption("backup-retention", json!({"namespaces": [VELERO], "selector": {"matchLabels": {"keep-exempt": "live"}}}), "2099-01-01"),
                exemption("backup-retention", json!({"selector": {"matchLabels": {"keep-exempt": "lapsed"}}}), "2020-01-01"),
                exemption("backup-encryption", json!({"namespaces": [VELERO], "selector": {"matchLabels": {"bsl-exempt": "live"}}}), "2099-01-01"),
                exemption("backup-encryption", json!({"selector": {"matchLabels": {"bsl-exempt": "lapsed"}}}), "2020-01-01"),
            ],
        })
    };
    let api: Api<BackupPolicy> = apply_cr(&s.client, name, spec("Audit", "keep-plain")).await;

    // Audit: the Schedules keeping too long or too short are findings, the waived one is
    // counted apart, the lapsed waiver waives nothing, a Schedule of other namespaces is none
    // of this policy's business. The operator writes no Schedule of its own.
    let retention = wait_result(&api, name, "backup-retention", "Audit", |r| {
        r.failed == 3 && r.exempted == 1
    })
    .await;
    assert_eq!(retention.state, ControlState::Fail);
    assert_eq!(retention.checked, 4);
    let text = findings(&retention);
    assert!(
        text.contains("Schedule keep-too-long: Schedule `velero/keep-too-long` keeps backups for 8760h, more than the maximum retention 2160h"),
        "{text}"
    );
    assert!(
        text.contains("Schedule keep-too-short: Schedule `velero/keep-too-short` keeps backups for 24h, less than the minimum retention 720h"),
        "{text}"
    );
    assert!(text.contains("Schedule keep-lapsed:"), "{text}");
    assert!(
        !text.contains("keep-waived") && !text.contains("keep-elsewhere"),
        "{text}"
    );
    let schedules = cluster().kubectl_ok(&["get", "schedules", "-n", VELERO, "-o", "name"]);
    assert!(!schedules.contains(name), "{schedules}");

    for (location, state, failed, exempted, finding) in [
        (
            "keep-plain",
            ControlState::Fail,
            1,
            0,
            Some(
                "BackupStorageLocation keep-plain: BackupStorageLocation velero/keep-plain (provider `aws`) sets none of kmsKeyId",
            ),
        ),
        ("keep-sealed", ControlState::Pass, 0, 0, None),
        ("keep-waived", ControlState::Exempt, 0, 1, None),
        (
            "keep-lapsed",
            ControlState::Fail,
            1,
            0,
            Some("BackupStorageLocation keep-lapsed:"),
        ),
        (
            "keep-missing",
            ControlState::Fail,
            1,
            0,
            Some(
                "BackupStorageLocation keep-missing: BackupStorageLocation velero/keep-missing does not exist",
            ),
        ),
    ] {
        apply_cr::<BackupPolicy>(&s.client, name, spec("Audit", location)).await;
        let encryption = wait_result(&api, name, "backup-encryption", location, |r| {
            r.state == state && r.failed == failed && r.exempted == exempted
        })
        .await;
        // Judged where backups really go: the policy's location, and keep-sealed, where the
        // foreign Schedules of the selected namespace write (encrypted, so never a finding).
        let judged = if location == "keep-sealed" { 1 } else { 2 };
        assert_eq!(encryption.checked, judged, "{location}");
        if let Some(finding) = finding {
            assert!(
                findings(&encryption).contains(finding),
                "{location}: {}",
                findings(&encryption)
            );
        }
    }

    // Enforce: the operator's own Schedule keeps backups for the minimum retention and passes;
    // the foreign Schedules are still reported, untouched.
    apply_cr::<BackupPolicy>(&s.client, name, spec("Enforce", "keep-sealed")).await;
    let owned = format!("bp-{name}");
    let retention = wait_result(&api, name, "backup-retention", "Enforce", |r| {
        r.checked == 5 && r.failed == 3 && r.exempted == 1
    })
    .await;
    assert!(
        !findings(&retention).contains(&owned),
        "{}",
        findings(&retention)
    );
    let ttl = || {
        cluster().kubectl_ok(&[
            "get",
            "schedule",
            &owned,
            "-n",
            VELERO,
            "-o",
            "jsonpath={.spec.template.ttl}",
        ])
    };
    assert_eq!(ttl(), "720h0m0s");
    let foreign = cluster().kubectl_ok(&[
        "get",
        "schedule",
        "keep-too-long",
        "-n",
        VELERO,
        "-o",
        "jsonpath={.spec.template.ttl}",
    ]);
    assert_eq!(
        foreign, "8760h0m0s",
        "a foreign Schedule is reported, not rewritten"
    );

    // Someone stretches the owned Schedule's ttl: the operator takes it back.
    let schedules: Api<kube::api::DynamicObject> = Api::namespaced_with(
        s.client.clone(),
        VELERO,
        &kube::api::ApiResource::erase::<baseline_operator::velero::Schedule>(&()),
    );
    schedules
        .patch(
            &owned,
            &PatchParams::default(),
            &Patch::Merge(json!({"spec": {"template": {"ttl": "87600h0m0s"}}})),
        )
        .await
        .unwrap();
    s.wait_until("owned ttl restored", || {
        let restored = ttl() == "720h0m0s";
        async move { restored }
    })
    .await;
    for stale in ["keep-too-long", "keep-too-short", "keep-lapsed"] {
        cluster().kubectl_ok(&["delete", "schedule", stale, "-n", VELERO]);
    }
    let retention = wait_result(&api, name, "backup-retention", "fixed", |r| {
        r.state == ControlState::Exempt
    })
    .await;
    assert_eq!(
        (retention.checked, retention.failed, retention.exempted),
        (2, 0, 1)
    );
    for stale in ["keep-waived", "keep-elsewhere"] {
        cluster().kubectl_ok(&["delete", "schedule", stale, "-n", VELERO]);
    }
    for location in ["keep-plain", "keep-sealed", "keep-waived", "keep-lapsed"] {
        cluster().kubectl_ok(&["delete", "backupstoragelocation", location, "-n", VELERO]);
    }
}

/// production-data-restricted reports what admission cannot see: a PVC in a non-production
/// namespace populated from a production namespace (`dataSourceRef.namespace`, which the test
/// cluster serves with the CrossNamespaceVolumeDataSource gate on), and a Velero Restore
/// mapping a production namespace into a non-production one.
#[tokio::test]
async fn pvc_clones_and_restores_out_of_production_are_reported_in_both_modes() {
    let s = Scenario::start().await.timeout(TIMEOUT);
    velero_namespace(&s.client).await;
    let key = "e2e-clone-env";
    s.namespace("clone-prod", &[(key, "prod")]).await;
    s.namespace("clone-dev", &[(key, "dev")]).await;
    s.namespace("clone-prod-copy", &[(key, "prod")]).await;
    let claim = |name: &str, source_ns: &str, labels: &str| {
        format!(
            "apiVersion: v1\nkind: PersistentVolumeClaim\nmetadata: {{name: {name}, namespace: clone-dev, labels: {labels}}}\nspec:\n  accessModes: [ReadWriteOnce]\n  resources: {{requests: {{storage: 1Gi}}}}\n  dataSourceRef: {{apiGroup: snapshot.storage.k8s.io, kind: VolumeSnapshot, name: nightly, namespace: {source_ns}}}\n"
        )
    };
    let restore = |name: &str, to: &str, labels: &str| {
        format!(
            "apiVersion: velero.io/v1\nkind: Restore\nmetadata: {{name: {name}, namespace: {VELERO}, labels: {labels}}}\nspec:\n  backupName: clone-prod-nightly\n  namespaceMapping: {{clone-prod: {to}}}\n"
        )
    };
    let objects = [
        claim("from-prod", "clone-prod", "{}"),
        claim("from-dev", "clone-dev", "{}"),
        claim("waived", "clone-prod", "{clone-exempt: live}"),
        claim("lapsed", "clone-prod", "{clone-exempt: lapsed}"),
        restore("clone-prod-into-dev", "clone-dev", "{}"),
        restore("clone-prod-into-prod-copy", "clone-prod-copy", "{}"),
        // A namespace in no environment, not even created yet, is non-production.
        restore("clone-prod-into-nowhere", "clone-nowhere", "{}"),
        restore("clone-waived", "clone-dev", "{clone-exempt: live}"),
    ];
    for yaml in &objects {
        apply(yaml);
    }
    let stored = cluster().kubectl_ok(&[
        "get",
        "pvc",
        "from-prod",
        "-n",
        "clone-dev",
        "-o",
        "jsonpath={.spec.dataSourceRef.namespace}",
    ]);
    assert_eq!(
        stored, "clone-prod",
        "the API server dropped dataSourceRef.namespace"
    );
    let name = "e2e-clone";
    let _cleanup = DeleteOnDrop("environmentisolation", name.to_string());
    let id = "production-data-restricted";
    let spec = |mode: &str| {
        json!({
            "mode": mode,
            "environments": [environment(key, "prod", true), environment(key, "dev", false)],
            "productionData": {"productionValues": ["production"]},
            "exemptions": [
                exemption(id, json!({"selector": {"matchLabels": {"clone-exempt": "live"}}}), "2099-01-01"),
                exemption(id, json!({"selector": {"matchLabels": {"clone-exempt": "lapsed"}}}), "2020-01-01"),
            ],
        })
    };
    let api: Api<EnvironmentIsolation> = apply_cr(&s.client, name, spec("Audit")).await;
    for mode in ["Audit", "Enforce"] {
        apply_cr::<EnvironmentIsolation>(&s.client, name, spec(mode)).await;
        let result = wait_result(&api, name, id, mode, |r| r.failed == 4 && r.exempted == 2).await;
        assert_eq!(result.state, ControlState::Fail, "{mode}");
        let text = findings(&result);
        for expected in [
            "PersistentVolumeClaim from-prod: PersistentVolumeClaim clone-dev/from-prod is populated from VolumeSnapshot clone-prod/nightly in production namespace `clone-prod`",
            "PersistentVolumeClaim lapsed:",
            "Restore clone-prod-into-dev: Restore velero/clone-prod-into-dev maps production namespace `clone-prod` into non-production namespace `clone-dev` (environment `dev`)",
            "Restore clone-prod-into-nowhere: Restore velero/clone-prod-into-nowhere maps production namespace `clone-prod` into non-production namespace `clone-nowhere` (environment `(none)`)",
        ] {
            assert!(text.contains(expected), "{mode}: {expected}\n{text}");
        }
        for passing in ["from-dev", "prod-copy", "waived"] {
            assert!(!text.contains(passing), "{mode}: {text}");
        }
    }
    // Report only, as the catalog says: Enforce admits another clone, and reports it.
    apply(&claim("late", "clone-prod", "{}"));
    wait_result(&api, name, id, "late clone reported", |r| {
        findings(r).contains("PersistentVolumeClaim late:")
    })
    .await;
    for yaml in &objects {
        cluster().kubectl_stdin(&["delete", "--ignore-not-found", "-f", "-"], yaml);
    }
    cluster().kubectl_ok(&["delete", "pvc", "late", "-n", "clone-dev"]);
}

/// In Audit the operator writes nothing into Velero and runs no restore test, and still
/// judges: a namespace without a Schedule, or without a completed backup, is a finding; a
/// namespace exemption waives its findings until it lapses; a restore test that never ran
/// fails `restore-tested`.
#[tokio::test]
async fn automated_backup_and_restore_testing_are_judged_in_audit_without_writing() {
    let s = Scenario::start().await.timeout(TIMEOUT);
    velero_namespace(&s.client).await;
    for ns in [
        "e2e-aud-covered",
        "e2e-aud-bare",
        "e2e-aud-waived",
        "e2e-aud-lapsed",
    ] {
        s.namespace(ns, &[("e2e-bp", "audit")]).await;
    }
    apply(&schedule(
        "aud-hourly",
        &["e2e-aud-covered"],
        "720h0m0s",
        "{}",
    ));
    let name = "e2e-aud";
    let _cleanup = DeleteOnDrop("backuppolicy", name.to_string());
    let api: Api<BackupPolicy> = apply_cr(
        &s.client,
        name,
        json!({
            "mode": "Audit",
            "namespaceSelector": {"matchLabels": {"e2e-bp": "audit"}},
            "rpo": "24h",
            "restoreTest": {"every": "8760h"},
            "exemptions": [
                exemption("automated-backup", json!({"namespaces": ["e2e-aud-waived"]}), "2099-01-01"),
                exemption("automated-backup", json!({"namespaces": ["e2e-aud-lapsed"]}), "2020-01-01"),
            ],
        }),
    )
    .await;
    let backups = wait_result(&api, name, "automated-backup", "Audit", |r| {
        r.checked == 4 && r.failed == 3 && r.exempted == 1
    })
    .await;
    assert_eq!(backups.state, ControlState::Fail);
    // Namespaces are the objects here: the bare and the lapsed one have two findings each
    // (no Schedule, no backup), the waived one two waived findings.
    assert_eq!((backups.failed_findings, backups.exempted_findings), (5, 2));
    let text = findings(&backups);
    for expected in [
        "Namespace e2e-aud-covered: namespace `e2e-aud-covered` has no completed backup",
        "Namespace e2e-aud-bare: namespace `e2e-aud-bare` is not covered by any Velero Schedule in `velero`",
        "Namespace e2e-aud-lapsed: namespace `e2e-aud-lapsed` is not covered by any Velero Schedule in `velero`",
    ] {
        assert!(text.contains(expected), "{expected}\n{text}");
    }
    assert!(!text.contains("e2e-aud-waived"), "{text}");
    assert!(
        !text.contains("e2e-aud-covered` is not covered"),
        "the hourly Schedule covers it: {text}"
    );
    let tested = wait_result(&api, name, "restore-tested", "Audit", |_| true).await;
    assert_eq!(tested.state, ControlState::Fail);
    assert!(
        findings(&tested).contains("no restore test has run yet"),
        "{}",
        findings(&tested)
    );
    // Audit wrote nothing: no Schedule, no Restore, no sandbox namespace.
    settle_writes().await;
    let owned = cluster().kubectl_ok(&[
        "get",
        "schedules,restores",
        "-n",
        VELERO,
        "-l",
        &format!("security.baseline.dev/backup-policy={name}"),
        "-o",
        "name",
    ]);
    assert_eq!(owned.trim(), "", "Audit created Velero objects");
    let sandboxes = cluster().kubectl_ok(&[
        "get",
        "namespaces",
        "-l",
        "security.baseline.dev/restore-test=true",
        "-o",
        "name",
    ]);
    assert!(!sandboxes.contains(name), "{sandboxes}");
    cluster().kubectl_ok(&["delete", "schedule", "aud-hourly", "-n", VELERO]);
}
