//! Real backups: the cluster runs the backup stack (`tests/cluster/up --with-velero`: a MinIO
//! S3 server and `velero server` with the AWS plugin, all on loopback). Nothing here writes a
//! Velero status: every phase, timestamp and expiration is Velero's, and every tarball is
//! read back from the bucket.
//!
//! A test binary of its own (not part of `tests/e2e`) because it needs a cluster with the
//! backup stack; it gets its own control plane unless `BASELINE_TEST_KUBECONFIG` names one
//! started with `--with-velero`.

use baseline_operator::api::{BackupPolicy, ControlState};
use baseline_operator::velero::{Backup, Schedule};
use baseline_test_support::*;
use futures::{StreamExt, TryStreamExt};
use k8s_openapi::api::core::v1::ConfigMap;
use kube::Client;
use kube::api::{
    Api, ApiResource, DeleteParams, DynamicObject, ListParams, PostParams, WatchEvent, WatchParams,
};
use serde_json::json;
use std::io::Write;
use std::process::{Command, Stdio};
use std::time::Duration;

const VELERO: &str = "velero";
/// A backup of one small namespace takes seconds. A Schedule's first backup waits for its
/// next cron time (at most a minute here) and for Velero's schedule resync (every minute).
const BACKUP_TIMEOUT: Duration = Duration::from_secs(240);
const FAILED_PHASES: &[&str] = &["Failed", "PartiallyFailed", "FailedValidation"];

/// Velero's Backups, read as the operator reads them.
fn backups(client: &Client) -> Api<Backup> {
    Api::namespaced(client.clone(), VELERO)
}

/// A namespace with one ConfigMap in it, so that a backup of it has an item to carry.
async fn namespace_with_config_map(client: &Client, name: &str, labels: &[(&str, &str)]) {
    namespace(client, name, labels).await;
    let config_map: ConfigMap = serde_json::from_value(json!({
        "metadata": {"name": "settings", "namespace": name},
        "data": {"colour": "blue"},
    }))
    .unwrap();
    Api::<ConfigMap>::namespaced(client.clone(), name)
        .create(&PostParams::default(), &config_map)
        .await
        .expect("create ConfigMap");
}

/// Waits until Velero has finished `name` and returns it; fails the test when Velero ended it
/// in a failed phase.
async fn wait_backup_completed(client: &Client, name: &str) -> Backup {
    let api = backups(client);
    wait_until(
        &format!("Velero completes Backup {name}"),
        BACKUP_TIMEOUT,
        || async {
            let phase = api
                .get_opt(name)
                .await
                .unwrap()
                .and_then(|b| b.status?.phase)
                .unwrap_or_default();
            assert!(
                !FAILED_PHASES.contains(&phase.as_str()),
                "Velero ended Backup {name} {phase}"
            );
            phase == "Completed"
        },
    )
    .await;
    api.get(name).await.unwrap()
}

/// The resource paths inside a backup tarball (`tar -tz`).
fn tarball_entries(tarball: &[u8]) -> Vec<String> {
    let mut tar = Command::new("tar")
        .args(["-tzf", "-"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("running tar");
    let mut stdin = tar.stdin.take().unwrap();
    let bytes = tarball.to_vec();
    let writer = std::thread::spawn(move || stdin.write_all(&bytes));
    let out = tar.wait_with_output().unwrap();
    writer.join().unwrap().unwrap();
    assert!(
        out.status.success(),
        "the backup tarball is not a gzip tar: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(str::to_string)
        .collect()
}

/// The backup's tarball is in the bucket under Velero's layout and carries the namespace's
/// ConfigMap.
fn assert_tarball_holds_config_map(store: &S3Store, backup: &str, namespace: &str) {
    let key = format!("backups/{backup}/{backup}.tar.gz");
    let keys = store.keys(&format!("backups/{backup}/"));
    assert!(
        keys.contains(&key),
        "{key} is not in bucket {}: {keys:?}",
        store.bucket
    );
    let entries = tarball_entries(&store.object(&key));
    let config_map = format!("resources/configmaps/namespaces/{namespace}/settings.json");
    assert!(
        entries
            .iter()
            .any(|e| e.trim_start_matches("./") == config_map),
        "{key} lacks {config_map}: {entries:?}"
    );
}

fn seconds(time: &Option<k8s_openapi::apimachinery::pkg::apis::meta::v1::Time>) -> i64 {
    time.as_ref()
        .expect("timestamp set by Velero")
        .0
        .as_second()
}

#[tokio::test]
async fn velero_backs_up_a_namespace_into_the_bucket() {
    let cluster = velero_cluster();
    let store = cluster.s3().unwrap();
    let client = client().await;

    let locations: Api<DynamicObject> = Api::namespaced_with(
        client.clone(),
        VELERO,
        &ApiResource::erase::<baseline_operator::velero::BackupStorageLocation>(&()),
    );
    let location = locations.get("default").await.expect("BSL default");
    assert_eq!(
        location.data["status"]["phase"], "Available",
        "Velero validated the bucket: {:?}",
        location.data["status"]
    );

    let ns = "e2e-bk-stack";
    namespace_with_config_map(&client, ns, &[]).await;
    // A fresh name per run: Velero never overwrites a backup already in the bucket.
    let name = format!("e2e-stack-{}", jiff::Timestamp::now().as_second());
    assert!(
        store.keys(&format!("backups/{name}/")).is_empty(),
        "nothing is stored under this backup's name before Velero runs it"
    );
    let backup: Backup = serde_json::from_value(json!({
        "apiVersion": "velero.io/v1", "kind": "Backup",
        "metadata": {"name": name, "namespace": VELERO},
        "spec": {"includedNamespaces": [ns], "storageLocation": "default", "ttl": "1h0m0s"},
    }))
    .unwrap();
    backups(&client)
        .create(&PostParams::default(), &backup)
        .await
        .expect("create Backup");

    let done = wait_backup_completed(&client, &name).await;
    let status = done.status.expect("status set by Velero");
    assert!(status.start_timestamp.is_some() && status.completion_timestamp.is_some());
    assert_tarball_holds_config_map(&store, &name, ns);
}

/// The automated-backup state of each status write, in order, until it passes.
async fn automated_backup_history(
    api: &Api<BackupPolicy>,
    name: &str,
    after: &str,
) -> Vec<(ControlState, Vec<String>)> {
    let params = WatchParams::default()
        .fields(&format!("metadata.name={name}"))
        .timeout(290);
    let mut events = api.watch(&params, after).await.unwrap().boxed();
    let mut history: Vec<(ControlState, Vec<String>)> = Vec::new();
    let deadline = tokio::time::Instant::now() + BACKUP_TIMEOUT;
    loop {
        let next = tokio::time::timeout_at(deadline, events.try_next()).await;
        let event = match next {
            Ok(Ok(Some(event))) => event,
            other => panic!(
                "automated-backup never passed (watch ended: {other:?}); states seen: {history:?}"
            ),
        };
        let policy = match event {
            WatchEvent::Added(p) | WatchEvent::Modified(p) => p,
            WatchEvent::Deleted(_) => panic!("the policy was deleted"),
            WatchEvent::Bookmark(_) => continue,
            WatchEvent::Error(error) => panic!("watch error: {error:?}"),
        };
        let control = policy.status.and_then(|s| {
            s.compliance
                .controls
                .into_iter()
                .find(|c| c.id.as_str() == "automated-backup")
        });
        let Some(control) = control else { continue };
        let state = control.state;
        let findings = control.findings.into_iter().map(|f| f.message).collect();
        if history
            .last()
            .is_none_or(|(s, f)| (*s, f) != (state, &findings))
        {
            history.push((state, findings));
        }
        if state == ControlState::Pass {
            return history;
        }
    }
}

async fn control(
    api: &Api<BackupPolicy>,
    name: &str,
    id: &str,
) -> Option<(ControlState, Vec<String>)> {
    let control = api
        .get(name)
        .await
        .ok()?
        .status?
        .compliance
        .controls
        .into_iter()
        .find(|c| c.id.as_str() == id)?;
    let findings = control.findings.into_iter().map(|f| f.message).collect();
    Some((control.state, findings))
}

#[tokio::test]
async fn enforced_policy_gets_real_backups_that_pass_its_controls() {
    velero_cluster();
    let store = velero_cluster().s3().unwrap();
    let _serial = serial().await;
    operator();
    let client = client().await;
    let policy = "e2e-auto";
    let schedule = format!("bp-{policy}");
    // A namespace of this run only: the backups of an earlier run against a reused cluster
    // (Velero syncs them back from the bucket) cover other namespaces and cannot pass the
    // control by themselves.
    let run = jiff::Timestamp::now().as_second().to_string();
    let ns = &format!("e2e-bk-shop-{run}");
    namespace_with_config_map(&client, ns, &[("e2e-bk", &run)]).await;

    let api: Api<BackupPolicy> = Api::all(client.clone());
    let _ = api.delete(policy, &DeleteParams::default()).await;
    wait_until("old policy gone", Duration::from_secs(60), || async {
        api.get_opt(policy).await.unwrap().is_none()
    })
    .await;
    let schedules: Api<Schedule> = Api::namespaced(client.clone(), VELERO);
    wait_until("old schedule gone", Duration::from_secs(60), || async {
        schedules.get_opt(&schedule).await.unwrap().is_none()
    })
    .await;
    let by_schedule = ListParams::default().labels(&format!("velero.io/schedule-name={schedule}"));
    let start = api.list(&ListParams::default()).await.unwrap();
    let after = start.metadata.resource_version.unwrap();

    apply_cr::<BackupPolicy>(
        &client,
        policy,
        json!({
            "mode": "Enforce",
            "namespaceSelector": {"matchLabels": {"e2e-bk": run}},
            "rpo": "1h",
            // Velero 1.18 runs a new Schedule first at its next cron time after creation (not
            // at once, whatever --schedule-skip-immediately says), so the test's Schedule runs
            // every minute rather than daily.
            "schedule": "* * * * *",
            "retention": {"min": "720h", "max": "2160h"},
            "storageLocation": "default",
        }),
    )
    .await;

    // The control must first fail for want of a backup and then pass because Velero, running
    // the operator's Schedule, made one.
    let history = automated_backup_history(&api, policy, &after).await;
    let (first_state, first_findings) = &history[0];
    assert_eq!(
        *first_state,
        ControlState::Fail,
        "before Velero's backup: {history:?}"
    );
    assert!(
        first_findings
            .iter()
            .any(|m| m.contains("no completed backup")),
        "{history:?}"
    );

    // The backup that made it pass: Velero's, from the operator's Schedule, Completed by
    // Velero, its tarball in the bucket.
    let made = backups(&client).list(&by_schedule).await.unwrap().items;
    let completed: Vec<&Backup> = made
        .iter()
        .filter(|b| b.spec.included_namespaces.contains(ns))
        .filter(|b| b.status.as_ref().and_then(|s| s.phase.as_deref()) == Some("Completed"))
        .collect();
    assert!(
        !completed.is_empty(),
        "no Completed Backup from Schedule {schedule}: {made:?}"
    );
    let backup = completed[0];
    let backup_name = backup.metadata.name.clone().unwrap();
    assert_eq!(backup.spec.included_namespaces, vec![ns.to_string()]);
    assert_eq!(
        backup
            .metadata
            .labels
            .as_ref()
            .and_then(|l| l.get("security.baseline.dev/backup-policy"))
            .map(String::as_str),
        Some(policy),
        "the Schedule's template labels reach the Backup"
    );
    assert_tarball_holds_config_map(&store, &backup_name, ns);

    // Retention from the real backup: Velero set expiration = start + the Schedule's ttl,
    // and the ttl is the policy's minimum retention.
    let ttl = schedules.get(&schedule).await.unwrap().spec.template.ttl;
    assert_eq!(ttl.as_deref(), Some("720h0m0s"));
    let status = backup.status.as_ref().unwrap();
    let lifetime = seconds(&status.expiration) - seconds(&status.start_timestamp);
    assert!(
        (lifetime - 720 * 3600).abs() <= 60,
        "Velero's expiration is {lifetime}s after the start, not 720h"
    );
    wait_until(
        "backup-retention passes on Velero's backup",
        Duration::from_secs(45),
        || async {
            control(&api, policy, "backup-retention")
                .await
                .is_some_and(|(state, _)| state == ControlState::Pass)
        },
    )
    .await;

    // A copy of the namespace kept shorter than the minimum, made out of band: only once
    // Velero has stamped its start and expiration can the operator see its lifetime.
    let short = format!("e2e-short-{run}");
    let backup: Backup = serde_json::from_value(json!({
        "apiVersion": "velero.io/v1", "kind": "Backup",
        "metadata": {"name": short, "namespace": VELERO},
        "spec": {"includedNamespaces": [ns], "storageLocation": "default", "ttl": "1h0m0s"},
    }))
    .unwrap();
    backups(&client)
        .create(&PostParams::default(), &backup)
        .await
        .expect("create Backup");
    let done = wait_backup_completed(&client, &short).await;
    let status = done.status.as_ref().unwrap();
    let lifetime = seconds(&status.expiration) - seconds(&status.start_timestamp);
    assert!(
        (lifetime - 3600).abs() <= 60,
        "Velero kept {short} {lifetime}s"
    );
    wait_until(
        "backup-retention fails on Velero's 1h backup",
        Duration::from_secs(45),
        || async {
            control(&api, policy, "backup-retention")
                .await
                .is_some_and(|(state, findings)| {
                    state == ControlState::Fail
                        && findings.iter().any(|m| {
                            m.contains(&short) && m.contains("less than the minimum retention")
                        })
                })
        },
    )
    .await;

    api.delete(policy, &DeleteParams::default()).await.unwrap();
}

/// The newest `status.lastRestoreTest` of `name` once it is recorded and finished.
async fn recorded_restore_test(
    api: &Api<BackupPolicy>,
    name: &str,
) -> baseline_operator::api::backup_policy::RestoreTestResult {
    let mut found = None;
    let deadline = tokio::time::Instant::now() + BACKUP_TIMEOUT + Duration::from_secs(120);
    while found.is_none() {
        let policy = api.get(name).await.unwrap();
        found = policy.status.and_then(|s| s.last_restore_test);
        if found.is_none() {
            assert!(
                tokio::time::Instant::now() < deadline,
                "no restore test recorded for {name}"
            );
            tokio::time::sleep(Duration::from_secs(2)).await;
        }
    }
    found.unwrap()
}

/// restore-tested end to end: Velero (not the test) backs the namespace up, the operator
/// restores that backup into a quarantined sandbox, and verifies the sandbox against the
/// backup's own resource list, fetched from Velero. The measured RTO is the operator's; the sandbox
/// is deleted afterwards.
#[tokio::test]
async fn enforced_restore_test_restores_a_real_backup_and_verifies_it_against_the_backup() {
    velero_cluster();
    let _serial = serial().await;
    operator();
    let client = client().await;
    let run = jiff::Timestamp::now().as_second().to_string();
    let ns = &format!("e2e-rt-{run}");
    namespace_with_config_map(&client, ns, &[("e2e-rt", &run)]).await;
    cluster()
        .apply_yaml(&format!(
            "apiVersion: apps/v1\nkind: Deployment\nmetadata: {{name: web, namespace: {ns}}}\nspec:\n  replicas: 2\n  selector: {{matchLabels: {{app: web}}}}\n  template:\n    metadata: {{labels: {{app: web}}}}\n    spec: {{containers: [{{name: web, image: registry.example.com/web:1}}]}}\n"
        ))
        .expect("deployment");
    let name = &format!("e2e-rt-{run}");
    let api: Api<BackupPolicy> = apply_cr(
        &client,
        name,
        json!({
            "mode": "Enforce",
            "namespaceSelector": {"matchLabels": {"e2e-rt": run}},
            "rpo": "1h", "rto": "30m",
            "schedule": "* * * * *",
            "restoreTest": {"every": "8760h", "keepSandboxFor": "45s", "minRestoredItems": 2},
        }),
    )
    .await;
    let result = recorded_restore_test(&api, name).await;
    assert_eq!(result.result, "Passed", "{result:?}");
    assert_eq!(result.namespace.as_deref(), Some(ns.as_str()));
    // The Deployment and the ConfigMaps (its own and kube-root-ca.crt) were found again in
    // the sandbox, looked up by the names Velero's resource list gives.
    assert!(result.verified.unwrap_or(0) >= 3, "{result:?}");
    assert_eq!(result.verified, result.verified_of, "{result:?}");
    assert!(result.duration_milliseconds.is_some(), "{result:?}");
    let (state, findings) = control(&api, name, "restore-tested").await.unwrap();
    assert_eq!(state, ControlState::Pass, "{findings:?}");

    // The Restore is Velero's own record of the test: finished by Velero, into the sandbox.
    let restores: Api<baseline_operator::velero::Restore> = Api::namespaced(client.clone(), VELERO);
    let restore = restores.get(&result.restore).await.unwrap();
    let sandbox = restore
        .spec
        .namespace_mapping
        .get(ns.as_str())
        .cloned()
        .unwrap();
    assert!(sandbox.starts_with("restore-test-"), "{sandbox}");
    assert_eq!(
        restore.status.and_then(|s| s.phase).as_deref(),
        Some("Completed")
    );
    // Velero applied the operator's resource modifier: the restored Deployment asks for no
    // pods (the source asks for two), so production code never runs in the sandbox. The
    // sandbox is kept 45 s for this look.
    let deployments: Api<k8s_openapi::api::apps::v1::Deployment> =
        Api::namespaced(client.clone(), &sandbox);
    let restored = deployments
        .get("web")
        .await
        .expect("the restored Deployment");
    assert_eq!(restored.spec.replicas, Some(0));
    let namespaces: Api<k8s_openapi::api::core::v1::Namespace> = Api::all(client.clone());
    wait_until(
        "sandbox deleted after verification",
        Duration::from_secs(150),
        || async {
            namespaces
                .get_opt(&sandbox)
                .await
                .unwrap()
                .is_none_or(|n| n.metadata.deletion_timestamp.is_some())
        },
    )
    .await;
    api.delete(name, &DeleteParams::default()).await.unwrap();
}

/// Audit mode restores nothing itself: it judges a restore someone else ran with Velero,
/// verified the same way against the backup.
#[tokio::test]
async fn audit_mode_judges_a_restore_someone_else_ran() {
    velero_cluster();
    let _serial = serial().await;
    operator();
    let client = client().await;
    let run = jiff::Timestamp::now().as_second().to_string();
    let ns = &format!("e2e-ra-{run}");
    namespace_with_config_map(&client, ns, &[("e2e-ra", &run)]).await;
    let backup = format!("by-hand-{run}");
    cluster()
        .apply_yaml(&format!(
            "apiVersion: velero.io/v1\nkind: Backup\nmetadata: {{name: {backup}, namespace: {VELERO}}}\nspec: {{includedNamespaces: [{ns}], storageLocation: default}}\n"
        ))
        .expect("backup");
    wait_backup_completed(&client, &backup).await;
    let restore = format!("copy-{run}");
    cluster()
        .apply_yaml(&format!(
            "apiVersion: velero.io/v1\nkind: Restore\nmetadata: {{name: {restore}, namespace: {VELERO}}}\nspec: {{backupName: {backup}, includedNamespaces: [{ns}], namespaceMapping: {{{ns}: {ns}-copy}}}}\n"
        ))
        .expect("restore");
    let name = &format!("e2e-ra-{run}");
    let api: Api<BackupPolicy> = apply_cr(
        &client,
        name,
        json!({
            "mode": "Audit",
            "namespaceSelector": {"matchLabels": {"e2e-ra": run}},
            "rpo": "24h",
            "restoreTest": {"every": "8760h", "minRestoredItems": 1},
        }),
    )
    .await;
    let result = recorded_restore_test(&api, name).await;
    assert_eq!(result.restore, restore, "{result:?}");
    assert_eq!(result.result, "Passed", "{result:?}");
    assert!(result.verified.unwrap_or(0) >= 1, "{result:?}");
    let (state, findings) = control(&api, name, "restore-tested").await.unwrap();
    assert_eq!(state, ControlState::Pass, "{findings:?}");
    // Audit mode made no restore of its own.
    let restores: Api<baseline_operator::velero::Restore> = Api::namespaced(client.clone(), VELERO);
    let labelled =
        ListParams::default().labels(&format!("security.baseline.dev/backup-policy={name}"));
    assert!(restores.list(&labelled).await.unwrap().items.is_empty());
    api.delete(name, &DeleteParams::default()).await.unwrap();
}

/// `status.lastRestoreTest` of `name` as the API server returns it.
async fn restore_test_json(api: &Api<BackupPolicy>, name: &str) -> serde_json::Value {
    let policy = serde_json::to_value(api.get(name).await.unwrap()).unwrap();
    policy["status"]["lastRestoreTest"].clone()
}

/// Measured times are measured. The operator's own restore test is timed on its own clock,
/// from creating the Restore (stamped on it to the nanosecond) to verifying what Velero
/// restored, to the millisecond: a restore Velero finishes within a second is never a rounded
/// `0s`. A restore someone else ran is timed by Velero's timestamps, which are whole seconds,
/// and says so: `<1s`, never `0s`.
#[tokio::test]
async fn restore_tests_are_timed_to_the_millisecond_and_never_read_zero() {
    velero_cluster();
    let _serial = serial().await;
    operator();
    let client = client().await;
    let run = jiff::Timestamp::now().as_second().to_string();
    let ns = &format!("e2e-rm-{run}");
    namespace_with_config_map(&client, ns, &[("e2e-rm", &run)]).await;
    let name = &format!("e2e-rm-{run}");
    let api: Api<BackupPolicy> = apply_cr(
        &client,
        name,
        json!({
            "mode": "Enforce",
            "namespaceSelector": {"matchLabels": {"e2e-rm": run}},
            "rpo": "1h", "rto": "30m",
            "schedule": "* * * * *",
            "restoreTest": {"every": "8760h", "keepSandboxFor": "1h", "minRestoredItems": 1},
        }),
    )
    .await;
    let result = recorded_restore_test(&api, name).await;
    assert_eq!(result.result, "Passed", "{result:?}");
    let recorded = restore_test_json(&api, name).await;
    assert_eq!(recorded["measuredBy"], "Operator", "{recorded:#}");
    let millis = recorded["durationMilliseconds"]
        .as_i64()
        .unwrap_or_else(|| panic!("no durationMilliseconds: {recorded:#}"));
    assert!(millis > 0, "{recorded:#}");
    let duration = recorded["duration"].as_str().unwrap_or_default();
    assert!(
        !duration.is_empty()
            && duration != "0s"
            && duration.chars().next().unwrap().is_ascii_digit(),
        "{recorded:#}"
    );
    // From the instant the operator stamped on the Restore when it created it...
    let restores: Api<baseline_operator::velero::Restore> = Api::namespaced(client.clone(), VELERO);
    let restore = restores.get(&result.restore).await.unwrap();
    let stamped: jiff::Timestamp = restore
        .metadata
        .annotations
        .as_ref()
        .and_then(|a| a.get("security.baseline.dev/created-at"))
        .expect("the operator stamps its Restore's creation instant")
        .parse()
        .unwrap();
    // Kubernetes writes times to the second; the milliseconds are in durationMilliseconds.
    assert_eq!(
        result.started.0.as_second(),
        stamped.as_second(),
        "{recorded:#}"
    );
    let created = restore.metadata.creation_timestamp.unwrap().0;
    assert!(
        (created.as_second() - stamped.as_second()).abs() <= 1,
        "the stamp {stamped} is the API server's creation {created}, to the second"
    );
    // ...to its verification, after Velero completed it.
    let completed = result.completed.clone().unwrap().0;
    let whole = completed.as_second() - stamped.as_second();
    assert!(
        (whole * 1000 - millis).abs() < 1000,
        "{millis}ms is not the {whole}s between the stamp and the verification: {recorded:#}"
    );
    let velero_done = restore
        .status
        .and_then(|s| s.completion_timestamp)
        .unwrap()
        .0;
    assert!(
        completed.as_second() >= velero_done.as_second(),
        "verified at {completed}, before Velero completed at {velero_done}"
    );
    api.delete(name, &DeleteParams::default()).await.unwrap();

    // Someone else's restore, judged in Audit mode: Velero's clock, second precision.
    let backup = format!("rm-by-hand-{run}");
    cluster()
        .apply_yaml(&format!(
            "apiVersion: velero.io/v1\nkind: Backup\nmetadata: {{name: {backup}, namespace: {VELERO}}}\nspec: {{includedNamespaces: [{ns}], storageLocation: default}}\n"
        ))
        .expect("backup");
    wait_backup_completed(&client, &backup).await;
    let copy = format!("rm-copy-{run}");
    cluster()
        .apply_yaml(&format!(
            "apiVersion: velero.io/v1\nkind: Restore\nmetadata: {{name: {copy}, namespace: {VELERO}}}\nspec: {{backupName: {backup}, includedNamespaces: [{ns}], namespaceMapping: {{{ns}: {ns}-copy}}}}\n"
        ))
        .expect("restore");
    let audit = &format!("e2e-rm-audit-{run}");
    let api: Api<BackupPolicy> = apply_cr(
        &client,
        audit,
        json!({
            "mode": "Audit",
            "namespaceSelector": {"matchLabels": {"e2e-rm": run}},
            "rpo": "24h", "rto": "30m",
        }),
    )
    .await;
    // The operator's own Restore of the namespace (garbage-collected with its policy) may be
    // judged first; the copy is newer.
    let deadline = tokio::time::Instant::now() + BACKUP_TIMEOUT;
    let mut result = recorded_restore_test(&api, audit).await;
    while result.restore != copy {
        assert!(
            tokio::time::Instant::now() < deadline,
            "{copy} never judged: {result:?}"
        );
        tokio::time::sleep(Duration::from_secs(2)).await;
        result = recorded_restore_test(&api, audit).await;
    }
    assert_eq!(result.result, "Passed", "{result:?}");
    let recorded = restore_test_json(&api, audit).await;
    assert_eq!(recorded["measuredBy"], "Velero", "{recorded:#}");
    let millis = recorded["durationMilliseconds"].as_i64().expect("measured");
    assert_eq!(
        millis % 1000,
        0,
        "Velero's clock has whole seconds: {recorded:#}"
    );
    let duration = recorded["duration"].as_str().unwrap_or_default();
    assert_ne!(duration, "0s", "{recorded:#}");
    if millis == 0 {
        assert_eq!(duration, "<1s", "{recorded:#}");
    }
    api.delete(audit, &DeleteParams::default()).await.unwrap();
}

/// Nothing a restore test restores runs, routes or claims. The backed-up namespace holds a
/// ReplicationController (restored as it is, it starts its pod at once), a `LoadBalancer`
/// Service with external IPs and a requested load-balancer IP, an Ingress claiming a host and
/// an Argo Rollout (a custom resource with a pod template, of a kind the operator knows
/// nothing about). Velero, restoring the test's allowlist, brings back the ConfigMap and the
/// ReplicationController scaled to zero, and none of the rest: no pod ever exists in the
/// sandbox (the controller-manager would start one within a second of a running controller's
/// restore), no Service, no Ingress, no Rollout, no RoleBinding granting the namespace's people
/// rights in the sandbox. The test still passes its verification: what
/// it leaves in the backup on purpose is not counted missing.
#[tokio::test]
async fn a_restore_test_restores_nothing_that_runs_routes_or_claims() {
    velero_cluster();
    let _serial = serial().await;
    operator();
    let client = client().await;
    let run = jiff::Timestamp::now().as_second().to_string();
    let ns = &format!("e2e-closed-{run}");
    namespace_with_config_map(&client, ns, &[("e2e-closed", &run)]).await;
    cluster()
        .apply_yaml(ROLLOUT_CRD)
        .expect("a stand-in for Argo Rollouts' CRD");
    cluster().kubectl_ok(&[
        "wait",
        "--for=condition=Established",
        "--timeout=60s",
        "crd/rollouts.argoproj.io",
    ]);
    cluster()
        .apply_yaml(&format!(
            r#"apiVersion: v1
kind: ReplicationController
metadata: {{name: legacy, namespace: {ns}}}
spec:
  replicas: 1
  selector: {{app: legacy}}
  template:
    metadata: {{labels: {{app: legacy}}}}
    spec: {{containers: [{{name: legacy, image: registry.example.com/legacy:1}}]}}
---
apiVersion: v1
kind: Service
metadata: {{name: web, namespace: {ns}}}
spec:
  type: LoadBalancer
  loadBalancerIP: 192.0.2.11
  externalIPs: [192.0.2.10]
  selector: {{app: legacy}}
  ports: [{{port: 80, targetPort: 8080}}]
---
apiVersion: networking.k8s.io/v1
kind: Ingress
metadata: {{name: web, namespace: {ns}}}
spec:
  rules:
  - host: shop-{run}.example.com
    http:
      paths:
      - {{path: /, pathType: Prefix, backend: {{service: {{name: web, port: {{number: 80}}}}}}}}
---
apiVersion: rbac.authorization.k8s.io/v1
kind: RoleBinding
metadata: {{name: tenant-editors, namespace: {ns}}}
roleRef: {{apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: edit}}
subjects: [{{kind: User, name: tenant, apiGroup: rbac.authorization.k8s.io}}]
---
apiVersion: argoproj.io/v1alpha1
kind: Rollout
metadata: {{name: canary, namespace: {ns}}}
spec:
  replicas: 1
  selector: {{matchLabels: {{app: canary}}}}
  template:
    metadata: {{labels: {{app: canary}}}}
    spec: {{containers: [{{name: canary, image: registry.example.com/canary:1}}]}}
"#
        ))
        .expect("the workloads, Service, Ingress and Rollout of the source namespace");
    let name = &format!("e2e-closed-{run}");
    let api: Api<BackupPolicy> = apply_cr(
        &client,
        name,
        json!({
            "mode": "Enforce",
            "namespaceSelector": {"matchLabels": {"e2e-closed": run}},
            "rpo": "1h", "rto": "30m",
            "schedule": "* * * * *",
            "restoreTest": {"every": "8760h", "keepSandboxFor": "1h", "minRestoredItems": 2},
        }),
    )
    .await;
    let result = recorded_restore_test(&api, name).await;
    assert_eq!(result.result, "Passed", "{result:?}");
    assert_eq!(result.verified, result.verified_of, "{result:?}");
    let restores: Api<baseline_operator::velero::Restore> = Api::namespaced(client.clone(), VELERO);
    let restore = restores.get(&result.restore).await.unwrap();
    let sandbox = restore.spec.namespace_mapping[ns.as_str()].clone();
    assert!(sandbox.starts_with("restore-test-"), "{sandbox}");

    // Long enough for the controller-manager to start the pod of a restored running controller.
    tokio::time::sleep(Duration::from_secs(5)).await;
    let in_sandbox = |kind: &str| {
        let names = cluster().kubectl_ok(&["get", kind, "-n", &sandbox, "-o", "name"]);
        names.lines().map(str::to_string).collect::<Vec<_>>()
    };
    let mut problems = Vec::new();
    for kind in [
        "pods",
        "services",
        "ingresses.networking.k8s.io",
        "rollouts.argoproj.io",
    ] {
        let found = in_sandbox(kind);
        if !found.is_empty() {
            problems.push(format!("restored {kind}: {found:?}"));
        }
    }
    let replicas = cluster().kubectl_ok(&[
        "get",
        "replicationcontroller",
        "legacy",
        "-n",
        &sandbox,
        "-o",
        "jsonpath={.spec.replicas}",
    ]);
    if replicas != "0" {
        problems.push(format!(
            "the ReplicationController asks for {replicas} replicas"
        ));
    }
    // The production namespace's people get no rights in the sandbox: with `edit` they could
    // scale a restored workload back up.
    let bindings = in_sandbox("rolebindings.rbac.authorization.k8s.io");
    if bindings.iter().any(|b| b.ends_with("/tenant-editors")) {
        problems.push(format!(
            "restored the namespace's RoleBindings: {bindings:?}"
        ));
    }
    assert!(
        in_sandbox("configmaps").contains(&"configmap/settings".to_string()),
        "the data came back"
    );
    assert!(problems.is_empty(), "the sandbox {sandbox}: {problems:?}");

    api.delete(name, &DeleteParams::default()).await.unwrap();
    cluster().kubectl_ok(&["delete", "namespace", ns, "--wait=false"]);
}

/// Enough of Argo Rollouts' CRD to store a Rollout: a namespaced kind with a pod template
/// that no built-in controller knows.
const ROLLOUT_CRD: &str = r#"apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata: {name: rollouts.argoproj.io}
spec:
  group: argoproj.io
  scope: Namespaced
  names: {kind: Rollout, listKind: RolloutList, plural: rollouts, singular: rollout}
  versions:
  - name: v1alpha1
    served: true
    storage: true
    schema:
      openAPIV3Schema: {type: object, x-kubernetes-preserve-unknown-fields: true}
"#;

/// Disaster recovery under label protection: a production namespace protected by an
/// EnvironmentIsolation (`protectEnvironmentLabels`, which lets nobody but listed
/// administrators set its environment label, `system:masters` included) is deleted, and
/// Velero restores it from a real backup, environment label and all, with no administrator
/// listed for it. Velero runs as a real install's server does, as the ServiceAccount
/// `velero/velero-server` bound to cluster-admin (`tests/cluster/velero-up.sh`), not as an
/// admin: the operator allows that identity by default, and only to create a namespace.
#[tokio::test]
async fn velero_restores_a_deleted_production_namespace_under_label_protection() {
    use baseline_operator::api::EnvironmentIsolation;
    velero_cluster();
    let _serial = serial().await;
    operator();
    let client = client().await;
    // Velero's own identity, from the kubeconfig it runs with: a ServiceAccount, no admin.
    let velero_kubeconfig = cluster()
        .kubeconfig
        .parent()
        .unwrap()
        .join("velero/kubeconfig");
    let whoami = Command::new(cluster().bin.join("kubectl"))
        .arg("--kubeconfig")
        .arg(&velero_kubeconfig)
        .args([
            "auth",
            "whoami",
            "-o",
            "jsonpath={.status.userInfo.username} {.status.userInfo.groups}",
        ])
        .output()
        .unwrap();
    let whoami = String::from_utf8_lossy(&whoami.stdout).into_owned();
    assert!(
        whoami.starts_with("system:serviceaccount:velero:velero-server ")
            && !whoami.contains("system:masters"),
        "Velero runs as {whoami:?}"
    );

    let run = jiff::Timestamp::now().as_second().to_string();
    let ns = &format!("e2e-dr-{run}");
    namespace_with_config_map(
        &client,
        ns,
        &[("e2e-dr-env", "production"), ("e2e-dr", &run)],
    )
    .await;
    let isolation = format!("e2e-dr-{run}");
    let isolations: Api<EnvironmentIsolation> = apply_cr(
        &client,
        &isolation,
        json!({
            "mode": "Enforce",
            "environments": [{"name": "production", "production": true,
                "namespaceSelector": {"matchLabels": {"e2e-dr-env": "production"}}}],
            "protectEnvironmentLabels": {"allowedUsers": ["platform-lead"]},
        }),
    )
    .await;
    // Protection is on: an administrator not listed may not create a production namespace
    // (impersonated: the in-process operator runs with the admin kubeconfig, and the
    // operator's own identity is allowed).
    let probe = format!(
        "apiVersion: v1\nkind: Namespace\nmetadata: {{name: e2e-dr-probe-{run}, labels: {{e2e-dr-env: production}}}}\n"
    );
    let mut last = String::new();
    wait_until(
        "label protection is enforced",
        Duration::from_secs(90),
        || {
            let out = cluster().kubectl_stdin(
                &[
                    "create",
                    "--dry-run=server",
                    "-f",
                    "-",
                    "--as=cluster-operator",
                    "--as-group=system:masters",
                ],
                &probe,
            );
            last = String::from_utf8_lossy(&out.stderr).into_owned();
            let denied = !out.status.success() && last.contains("only environment administrators");
            async move { denied }
        },
    )
    .await;

    // Only Velero's own ServiceAccount name is allowed, not a look-alike (impersonated with
    // system:masters for the RBAC check, which label protection does not exempt).
    for (who, admitted) in [
        ("system:serviceaccount:velero:velero-server", true),
        ("system:serviceaccount:other:velero-server", false),
        ("system:serviceaccount:velero:velero-server-2", false),
        ("velero-server", false),
    ] {
        let out = cluster().kubectl_stdin(
            &[
                "create",
                "--dry-run=server",
                "-f",
                "-",
                &format!("--as={who}"),
                "--as-group=system:masters",
            ],
            &probe,
        );
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(
            out.status.success(),
            admitted,
            "{who} creating a production namespace: {stderr}"
        );
    }

    let backup = format!("e2e-dr-{run}");
    cluster()
        .apply_yaml(&format!(
            "apiVersion: velero.io/v1\nkind: Backup\nmetadata: {{name: {backup}, namespace: {VELERO}}}\nspec: {{includedNamespaces: [{ns}], storageLocation: default}}\n"
        ))
        .expect("backup");
    wait_backup_completed(&client, &backup).await;

    // The disaster: the production namespace is gone.
    let namespaces: Api<k8s_openapi::api::core::v1::Namespace> = Api::all(client.clone());
    namespaces
        .delete(ns, &DeleteParams::default())
        .await
        .unwrap();
    wait_until(
        "the namespace is gone",
        Duration::from_secs(120),
        || async { namespaces.get_opt(ns).await.unwrap().is_none() },
    )
    .await;

    // Recovery: an administrator asks Velero to restore it in place.
    let restore = format!("e2e-dr-{run}");
    cluster()
        .apply_yaml(&format!(
            "apiVersion: velero.io/v1\nkind: Restore\nmetadata: {{name: {restore}, namespace: {VELERO}}}\nspec: {{backupName: {backup}, includedNamespaces: [{ns}]}}\n"
        ))
        .expect("restore");
    let restores: Api<baseline_operator::velero::Restore> = Api::namespaced(client.clone(), VELERO);
    let phase_of = |restores: Api<baseline_operator::velero::Restore>, name: String| async move {
        let status = restores
            .get(&name)
            .await
            .unwrap()
            .status
            .unwrap_or_default();
        (status.phase.clone().unwrap_or_default(), status)
    };
    wait_until("Velero finishes the restore", BACKUP_TIMEOUT, || {
        let done = phase_of(restores.clone(), restore.clone());
        async move {
            let (phase, _) = done.await;
            ["Completed", "PartiallyFailed", "Failed", "FailedValidation"].contains(&phase.as_str())
        }
    })
    .await;
    let (phase, status) = phase_of(restores.clone(), restore.clone()).await;
    let restored = namespaces.get_opt(ns).await.unwrap();
    let labels = restored
        .as_ref()
        .and_then(|n| n.metadata.labels.clone())
        .unwrap_or_default();
    let velero_log = std::fs::read_to_string(
        cluster()
            .kubeconfig
            .parent()
            .unwrap()
            .join("logs/velero.log"),
    )
    .unwrap_or_default();
    let denials: Vec<&str> = velero_log
        .lines()
        .filter(|l| l.contains(ns.as_str()) && l.contains("denied"))
        .take(3)
        .collect();
    assert_eq!(
        phase, "Completed",
        "{status:?}; Velero's denials: {denials:?}"
    );
    assert_eq!(
        labels.get("e2e-dr-env").map(String::as_str),
        Some("production"),
        "{restored:?}"
    );
    let config_maps: Api<ConfigMap> = Api::namespaced(client.clone(), ns);
    assert!(
        config_maps.get_opt("settings").await.unwrap().is_some(),
        "the data came back"
    );

    // The allowance is for creating namespaces only: relabelling an existing one, even as
    // Velero, is still refused.
    let relabel = Command::new(cluster().bin.join("kubectl"))
        .arg("--kubeconfig")
        .arg(&velero_kubeconfig)
        .args([
            "label",
            "namespace",
            ns,
            "e2e-dr-env=staging",
            "--overwrite",
            "--dry-run=server",
        ])
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&relabel.stderr);
    assert!(
        !relabel.status.success() && stderr.contains("only environment administrators"),
        "Velero relabelled an existing namespace: {stderr}"
    );

    isolations
        .delete(&isolation, &DeleteParams::default())
        .await
        .unwrap();
    cluster().kubectl_ok(&["delete", "namespace", ns, "--wait=false"]);
}
