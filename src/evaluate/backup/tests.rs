use super::*;
use crate::api::BackupPolicySpec;
use crate::api::ControlState;
use crate::api::backup_policy::{RestoreTestSpec, Retention};
use crate::validate::ValidBackupPolicy;
use crate::velero::{Backup, BackupStorageLocationSpec, Schedule};
use crate::velero::{
    BackupSpec, BackupStatus, BackupStorageLocation, ScheduleSpec, TemplateMetadata,
};
use crate::vocabulary::labels::POLICY_LABEL;
use k8s_openapi::api::core::v1::Namespace;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{LabelSelector, Time};
use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

const POLICY: &str = "prod";

fn valid(spec: &BackupPolicySpec) -> ValidBackupPolicy {
    crate::validate::backup_policy::validate(spec, at("2026-01-01T00:00:00Z")).unwrap()
}

/// The evaluation of a spec the tests know to be valid.
fn evaluate(
    name: &str,
    spec: &BackupPolicySpec,
    last: Option<&RestoreTestResult>,
    snapshot: &Snapshot,
    now: Timestamp,
) -> Evaluation {
    super::evaluate(name, &valid(spec), last, snapshot, now)
}

fn at(text: &str) -> Timestamp {
    text.parse().unwrap()
}

fn labels(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

fn meta(namespace: &str, name: &str, label_pairs: &[(&str, &str)]) -> ObjectMeta {
    ObjectMeta {
        namespace: Some(namespace.into()),
        name: Some(name.into()),
        labels: Some(labels(label_pairs)),
        ..ObjectMeta::default()
    }
}

fn spec() -> BackupPolicySpec {
    BackupPolicySpec {
        mode: None,
        namespace_selector: LabelSelector {
            match_labels: Some(labels(&[("backup", "true")])),
            ..LabelSelector::default()
        },
        rpo: "24h".into(),
        rto: None,
        schedule: None,
        retention: None,
        storage_location: None,
        require_encryption: false,
        snapshot_volumes: None,
        restore_test: None,
        velero: None,
        exemptions: Vec::new(),
    }
}

fn namespace(name: &str) -> Arc<Namespace> {
    Arc::new(Namespace {
        metadata: ObjectMeta {
            name: Some(name.into()),
            labels: Some(labels(&[("backup", "true")])),
            ..ObjectMeta::default()
        },
        ..Namespace::default()
    })
}

fn schedule(name: &str, cron: &str, included: &[&str], ttl: Option<&str>) -> Arc<Schedule> {
    Arc::new(Schedule {
        metadata: meta("velero", name, &[(POLICY_LABEL, POLICY)]),
        spec: ScheduleSpec {
            schedule: cron.into(),
            template: BackupSpec {
                included_namespaces: included.iter().map(|s| s.to_string()).collect(),
                ttl: ttl.map(str::to_string),
                metadata: Some(TemplateMetadata {
                    labels: labels(&[(POLICY_LABEL, POLICY)]),
                }),
                ..BackupSpec::default()
            },
            use_owner_references_in_backup: Some(false),
            paused: None,
        },
        status: None,
    })
}

fn backup(name: &str, phase: &str, start: &str, end: &str, expires: &str) -> Arc<Backup> {
    let time = |t: &str| (!t.is_empty()).then(|| Time(at(t)));
    Arc::new(Backup {
        metadata: meta("velero", name, &[(POLICY_LABEL, POLICY)]),
        spec: BackupSpec {
            included_namespaces: vec!["shop".into()],
            ..BackupSpec::default()
        },
        status: Some(BackupStatus {
            phase: Some(phase.into()),
            start_timestamp: time(start),
            completion_timestamp: time(end),
            expiration: time(expires),
            volume_snapshots_attempted: None,
        }),
    })
}

fn location(provider: &str, config: &[(&str, &str)]) -> Arc<BackupStorageLocation> {
    Arc::new(BackupStorageLocation {
        metadata: meta("velero", "default", &[]),
        spec: BackupStorageLocationSpec {
            provider: provider.into(),
            default: None,
            config: labels(config),
        },
    })
}

fn snapshot() -> Snapshot {
    let mut snapshot = Snapshot {
        namespaces: vec![namespace("shop")],
        ..Snapshot::default()
    };
    snapshot.velero.installed = true;
    snapshot.velero.schedules = vec![schedule("bp-prod", "0 0 * * *", &["shop"], None)];
    snapshot
}

fn state(evaluation: &Evaluation, id: ControlId) -> ControlState {
    evaluation
        .controls
        .iter()
        .find(|c| c.id == id)
        .unwrap()
        .state
}

fn messages(evaluation: &Evaluation, id: ControlId) -> Vec<String> {
    let control = evaluation.controls.iter().find(|c| c.id == id).unwrap();
    control.failed.iter().map(|v| v.message.clone()).collect()
}

#[test]
fn velero_unreadable_is_not_evaluated_not_failed_nor_passed() {
    let mut snapshot = snapshot();
    snapshot.velero.installed = false;
    snapshot.velero.unreadable = Some("the operator may not list backups".into());
    let mut spec = spec();
    spec.retention = Some(crate::api::backup_policy::Retention {
        min: "720h".into(),
        max: "2160h".into(),
    });
    spec.require_encryption = true;
    spec.restore_test = Some(RestoreTestSpec {
        every: Some("720h".into()),
        keep_sandbox_for: None,
        min_restored_items: None,
    });
    let evaluation = evaluate(POLICY, &spec, None, &snapshot, at("2026-03-01T00:00:00Z"));
    let states: Vec<(ControlId, ControlState)> = evaluation
        .controls
        .iter()
        .map(|c| (c.id, c.state))
        .collect();
    for (id, state) in &states[..3] {
        assert_eq!(*state, ControlState::NotEvaluated, "{id:?}");
    }
    assert_eq!(states[3].0, ControlId::RestoreTested);
    assert_ne!(
        states[3].1,
        ControlState::NotEvaluated,
        "judged from status"
    );
    assert!(!evaluation.compliant());
}

#[test]
fn velero_missing_fails_every_control_each_on_its_own_unit() {
    let mut snapshot = snapshot();
    snapshot.velero.installed = false;
    let evaluation = evaluate(POLICY, &spec(), None, &snapshot, at("2026-03-01T00:00:00Z"));
    assert_eq!(evaluation.controls.len(), 4);
    for control in &evaluation.controls {
        assert_eq!(control.state, ControlState::Fail);
        // automated-backup counts namespaces, so each selected one fails; the others
        // point at the policy.
        let kind = match control.id {
            ControlId::AutomatedBackup => "Namespace",
            _ => "BackupPolicy",
        };
        assert_eq!(control.failed[0].object.kind, kind, "{}", control.id);
        assert!(control.failed_objects() <= usize::try_from(control.checked).unwrap());
        assert_eq!(control.failed[0].message, NOT_INSTALLED);
    }
}

#[test]
fn veleros_namespace_missing_fails_every_control_saying_so_even_when_unreadable() {
    let mut snapshot = snapshot();
    // The API is served but there is no Velero namespace, so the chart granted no Role there
    // and listing is forbidden too: the missing Velero is what status must say.
    snapshot.velero.installed = false;
    snapshot.velero.unreadable = Some("the operator may not list schedules".into());
    snapshot.velero.namespace_missing = Some("velero".into());
    let evaluation = evaluate(POLICY, &spec(), None, &snapshot, at("2026-03-01T00:00:00Z"));
    assert_eq!(evaluation.controls.len(), 4);
    for control in &evaluation.controls {
        assert_eq!(control.state, ControlState::Fail, "{}", control.id);
        assert!(
            control.failed[0]
                .message
                .contains("Velero is not deployed: its namespace `velero` does not exist"),
            "{}",
            control.failed[0].message
        );
    }
    assert!(!evaluation.compliant());
    // Velero's API not served at all is said as such, whatever the namespaces.
    snapshot.velero.unreadable = None;
    let evaluation = evaluate(POLICY, &spec(), None, &snapshot, at("2026-03-01T00:00:00Z"));
    assert!(
        evaluation
            .controls
            .iter()
            .all(|c| c.failed[0].message == NOT_INSTALLED)
    );
}

#[test]
fn controls_come_in_catalog_order_and_unset_ones_do_not_apply() {
    let evaluation = evaluate(
        POLICY,
        &spec(),
        None,
        &snapshot(),
        at("2026-03-01T00:00:00Z"),
    );
    let ids: Vec<ControlId> = evaluation.controls.iter().map(|c| c.id).collect();
    assert_eq!(
        ids,
        [
            ControlId::AutomatedBackup,
            ControlId::BackupRetention,
            ControlId::BackupEncryption,
            ControlId::RestoreTested
        ]
    );
    for id in &ids[1..] {
        assert_eq!(state(&evaluation, *id), ControlState::NotApplicable);
    }
}

#[test]
fn freshness_flips_with_time() {
    let mut snapshot = snapshot();
    let evaluate_at =
        |snapshot: &Snapshot, now: &str| evaluate(POLICY, &spec(), None, snapshot, at(now));
    let before = evaluate_at(&snapshot, "2026-03-01T12:00:00Z");
    assert_eq!(
        state(&before, ControlId::AutomatedBackup),
        ControlState::Fail
    );
    assert_eq!(
        messages(&before, ControlId::AutomatedBackup),
        ["namespace `shop` has no completed backup"]
    );

    snapshot.velero.backups = vec![backup(
        "b1",
        "Completed",
        "2026-03-01T00:00:00Z",
        "2026-03-01T00:10:00Z",
        "",
    )];
    let fresh = evaluate_at(&snapshot, "2026-03-01T12:00:00Z");
    assert_eq!(
        state(&fresh, ControlId::AutomatedBackup),
        ControlState::Pass
    );
    assert_eq!(
        next_deadline(&valid(&spec()), &snapshot, at("2026-03-01T12:00:00Z")),
        Some(at("2026-03-02T00:10:00Z"))
    );

    let stale = evaluate_at(&snapshot, "2026-03-02T06:10:00Z");
    assert_eq!(
        state(&stale, ControlId::AutomatedBackup),
        ControlState::Fail
    );
    assert_eq!(
        messages(&stale, ControlId::AutomatedBackup),
        ["newest completed backup `b1` of namespace `shop` is 30h old, older than the RPO 24h"]
    );
    assert_eq!(
        next_deadline(&valid(&spec()), &snapshot, at("2026-03-02T06:10:00Z")),
        None
    );
}

#[test]
fn stale_namespace_counts_failed_attempts_when_the_newest_failed() {
    let mut snapshot = snapshot();
    snapshot.velero.backups = vec![
        backup(
            "b1",
            "Completed",
            "2026-03-01T00:00:00Z",
            "2026-03-01T00:10:00Z",
            "",
        ),
        backup(
            "b2",
            "PartiallyFailed",
            "2026-03-02T00:00:00Z",
            "2026-03-02T00:10:00Z",
            "",
        ),
        backup("b3", "Failed", "2026-03-03T00:00:00Z", "", ""),
    ];
    let evaluation = evaluate(POLICY, &spec(), None, &snapshot, at("2026-03-03T01:00:00Z"));
    let message = &messages(&evaluation, ControlId::AutomatedBackup)[0];
    assert!(
            message.ends_with(
                "; the newest attempt `b3` ended Failed (1 Failed and 1 PartiallyFailed backups of this policy)"
            ),
            "{message}"
        );
}

#[test]
fn schedule_slower_than_rpo_or_unreadable_fails() {
    let mut snapshot = snapshot();
    snapshot.velero.backups = vec![backup(
        "b1",
        "Completed",
        "2026-03-01T00:00:00Z",
        "2026-03-01T00:10:00Z",
        "",
    )];
    snapshot.velero.schedules = vec![schedule("weekly", "0 0 * * 0", &["*"], None)];
    let now = at("2026-03-01T01:00:00Z");
    let slow = evaluate(POLICY, &spec(), None, &snapshot, now);
    assert_eq!(
        messages(&slow, ControlId::AutomatedBackup),
        [
            "namespace `shop` has no active Schedule of the whole namespace within the RPO 24h: Schedule `velero/weekly` runs every 168h, less often than the RPO"
        ]
    );
    snapshot.velero.schedules = vec![schedule("odd", "0 0 L * *", &["shop"], None)];
    let odd = evaluate(POLICY, &spec(), None, &snapshot, now);
    assert!(
        messages(&odd, ControlId::AutomatedBackup)[0]
            .contains("Schedule `velero/odd`: `0 0 L * *` is not a schedule Velero accepts")
    );
    snapshot.velero.schedules = vec![schedule("other", "0 * * * *", &["billing"], None)];
    let uncovered = evaluate(POLICY, &spec(), None, &snapshot, now);
    assert_eq!(
        messages(&uncovered, ControlId::AutomatedBackup),
        ["namespace `shop` is not covered by any Velero Schedule in `velero`"]
    );
}

#[test]
fn retention_checks_schedule_ttl_and_backup_lifetimes() {
    let mut spec = spec();
    spec.retention = Some(Retention {
        min: "720h".into(),
        max: "2160h".into(),
    });
    let mut snapshot = snapshot();
    let now = at("2026-03-02T00:00:00Z");
    snapshot.velero.schedules = vec![schedule(
        "bp-prod",
        "0 0 * * *",
        &["shop"],
        Some("720h0m0s"),
    )];
    snapshot.velero.backups = vec![backup(
        "ok",
        "Completed",
        "2026-03-01T00:00:00Z",
        "2026-03-01T00:10:00Z",
        "2026-03-31T00:00:30Z",
    )];
    let within = evaluate(POLICY, &spec, None, &snapshot, now);
    assert_eq!(
        state(&within, ControlId::BackupRetention),
        ControlState::Pass
    );

    snapshot.velero.schedules = vec![schedule(
        "bp-prod",
        "0 0 * * *",
        &["shop"],
        Some("168h0m0s"),
    )];
    snapshot.velero.backups.push(backup(
        "long",
        "Completed",
        "2026-03-01T00:00:00Z",
        "2026-03-01T00:10:00Z",
        "2027-03-01T00:00:00Z",
    ));
    let outside = evaluate(POLICY, &spec, None, &snapshot, now);
    assert_eq!(
        messages(&outside, ControlId::BackupRetention),
        [
            "Backup `velero/long` expires 8760h after it started, more than the maximum retention 2160h",
            "Schedule `velero/bp-prod` keeps backups for 168h, less than the minimum retention 720h",
        ]
    );
    let control = outside
        .controls
        .iter()
        .find(|c| c.id == ControlId::BackupRetention);
    assert_eq!(control.unwrap().checked, 3);
}

#[test]
fn encryption_depends_on_provider_keys() {
    let mut spec = spec();
    spec.require_encryption = true;
    let now = at("2026-03-01T00:00:00Z");
    let judge = |location: Option<Arc<BackupStorageLocation>>| {
        let mut snapshot = snapshot();
        snapshot.velero.storage_locations = location.into_iter().collect();
        let evaluation = evaluate(POLICY, &spec, None, &snapshot, now);
        messages(&evaluation, ControlId::BackupEncryption)
    };
    assert_eq!(
        judge(None),
        ["BackupStorageLocation velero/default does not exist"]
    );
    assert!(
        judge(Some(location(
            "velero.io/aws",
            &[("kmsKeyId", "secret-arn")]
        )))
        .is_empty()
    );
    assert!(judge(Some(location("aws", &[("serverSideEncryption", "AES256")]))).is_empty());
    assert!(judge(Some(location("velero.io/gcp", &[("kmsKeyName", "k")]))).is_empty());
    assert!(
        judge(Some(location(
            "velero.io/azure",
            &[("encryptionScope", "s")]
        )))
        .is_empty()
    );
    assert!(judge(Some(location("example.com/s3", &[("kmsKeyId", "k")]))).is_empty());
    let gcp_with_aws_only_key = judge(Some(location(
        "gcp",
        &[("customerKeyEncryptionFile", "/k"), ("region", "eu")],
    )));
    assert_eq!(
        gcp_with_aws_only_key,
        [
            "BackupStorageLocation velero/default (provider `gcp`) sets none of kmsKeyName, kmsKeyId, serverSideEncryption, encryptionScope"
        ]
    );
    let empty = judge(Some(location("aws", &[("kmsKeyId", " ")])));
    assert_eq!(empty.len(), 1);
    assert!(!empty[0].contains("secret-arn"));
}

fn passed(completed: &str, duration_seconds: i64, items: i64) -> RestoreTestResult {
    let end = at(completed);
    let start = end
        .checked_sub(Duration::from_secs(duration_seconds as u64))
        .unwrap();
    RestoreTestResult {
        backup: "b1".into(),
        restore: "bp-prod-restore-1".into(),
        started: Time(start),
        completed: Some(Time(end)),
        duration_milliseconds: Some(duration_seconds * 1000),
        duration: String::new(),
        measured_by: None,
        duration_seconds: None,
        items: Some(items),
        result: "Passed".into(),
        reason: None,
        namespace: Some("shop".into()),
        verified: Some(items),
        verified_of: Some(items),
        message: String::new(),
    }
}

#[test]
fn restore_tested_requires_a_recent_fast_complete_pass() {
    let mut spec = spec();
    spec.rto = Some("6h".into());
    spec.restore_test = Some(RestoreTestSpec {
        every: Some("720h".into()),
        keep_sandbox_for: None,
        min_restored_items: Some(10),
    });
    let now = at("2026-03-01T00:00:00Z");
    let judge = |last: Option<&RestoreTestResult>| {
        messages(
            &evaluate(POLICY, &spec, last, &snapshot(), now),
            ControlId::RestoreTested,
        )
    };
    assert_eq!(judge(None), ["no restore test has run yet"]);
    assert!(judge(Some(&passed("2026-02-20T00:00:00Z", 600, 40))).is_empty());
    assert_eq!(
        judge(Some(&passed("2026-01-01T00:00:00Z", 600, 40))),
        [
            "the last restore test `bp-prod-restore-1` finished 1416h ago; one is required every 720h"
        ]
    );
    assert_eq!(
        judge(Some(&passed("2026-02-20T00:00:00Z", 7 * 3600, 40))),
        ["restore test `bp-prod-restore-1` took 7h, longer than the RTO 6h"]
    );
    assert_eq!(
        judge(Some(&passed("2026-02-20T00:00:00Z", 600, 3))),
        ["restore test `bp-prod-restore-1` restored 3 items, fewer than the required 10"]
    );
    let mut failed = passed("2026-02-20T00:00:00Z", 600, 40);
    failed.result = "Failed".into();
    failed.message = "Velero ended the restore PartiallyFailed".into();
    assert_eq!(
        judge(Some(&failed)),
        [
            "restore test `bp-prod-restore-1` of backup `b1` failed: Velero ended the restore PartiallyFailed"
        ]
    );
}

/// A Schedule or Backup that holds only part of a namespace, or a paused Schedule, is no
/// backup of it: each of these used to give a false Pass.
#[test]
fn paused_or_partial_schedules_and_backups_do_not_cover_a_namespace() {
    let now = "2026-03-01T12:00:00Z";
    let fresh = || {
        backup(
            "b1",
            "Completed",
            "2026-03-01T00:00:00Z",
            "2026-03-01T00:10:00Z",
            "",
        )
    };
    let covered = |schedule: Arc<Schedule>, backup: Arc<Backup>| {
        let mut snapshot = snapshot();
        snapshot.velero.schedules = vec![schedule];
        snapshot.velero.backups = vec![backup];
        let evaluation = evaluate(POLICY, &spec(), None, &snapshot, at(now));
        (
            state(&evaluation, ControlId::AutomatedBackup),
            messages(&evaluation, ControlId::AutomatedBackup),
        )
    };
    let daily = || schedule("bp-prod", "0 0 * * *", &["shop"], None);
    assert_eq!(covered(daily(), fresh()), (ControlState::Pass, vec![]));

    let mut paused = (*daily()).clone();
    paused.spec.paused = Some(true);
    let (state, found) = covered(Arc::new(paused), fresh());
    assert_eq!(state, ControlState::Fail);
    assert!(
        found[0].ends_with("Schedule `velero/bp-prod` is paused"),
        "{found:?}"
    );

    let mut everything_but_shop = (*schedule("all", "0 0 * * *", &["*"], None)).clone();
    everything_but_shop.spec.template.excluded_namespaces = vec!["shop".into()];
    let (state, found) = covered(Arc::new(everything_but_shop), fresh());
    assert_eq!(state, ControlState::Fail);
    assert_eq!(
        found[0],
        "namespace `shop` is not covered by any Velero Schedule in `velero`"
    );

    let mut only_config = (*daily()).clone();
    only_config.spec.template.included_resources = vec!["configmaps".into()];
    let (state, found) = covered(Arc::new(only_config), fresh());
    assert_eq!(state, ControlState::Fail);
    assert!(
        found[0].ends_with("backs up only part of the namespace (only resources configmaps)"),
        "{found:?}"
    );

    // Leaving out events loses nothing Velero would restore; a real Velero 1.18 excludes CSI
    // VolumeSnapshot objects from every backup it makes.
    let mut no_events = (*daily()).clone();
    no_events.spec.template.excluded_resources = vec!["events".into()];
    let mut as_velero_makes_it = (*fresh()).clone();
    as_velero_makes_it.spec.excluded_namespace_scoped_resources =
        Some(vec!["volumesnapshots.snapshot.storage.k8s.io".into()]);
    assert_eq!(
        covered(Arc::new(no_events), Arc::new(as_velero_makes_it)),
        (ControlState::Pass, vec![])
    );

    // The same rules hold for the backups themselves: a backup of some objects is not fresh.
    for narrow in [
        |b: &mut Backup| {
            b.spec.label_selector = Some(serde_json::json!({"matchLabels": {"a": "b"}}))
        },
        |b: &mut Backup| b.spec.excluded_resources = vec!["secrets".into()],
        |b: &mut Backup| b.spec.excluded_namespaces = vec!["shop".into()],
    ] {
        let mut partial = (*fresh()).clone();
        narrow(&mut partial);
        let (state, found) = covered(daily(), Arc::new(partial));
        assert_eq!(state, ControlState::Fail);
        assert_eq!(found, ["namespace `shop` has no completed backup"]);
    }
}

/// The policy names an encrypted location, but its Schedule writes elsewhere: judged on where
/// the backups really go.
#[test]
fn encryption_is_judged_where_backups_really_go() {
    let mut spec = spec();
    spec.require_encryption = true;
    let mut snapshot = snapshot();
    snapshot.velero.storage_locations = vec![location("aws", &[("kmsKeyId", "k")])];
    let now = at("2026-03-01T12:00:00Z");
    let result = evaluate(POLICY, &spec, None, &snapshot, now);
    assert_eq!(
        state(&result, ControlId::BackupEncryption),
        ControlState::Pass
    );

    let mut plain = (*location("aws", &[])).clone();
    plain.metadata.name = Some("plain".into());
    snapshot.velero.storage_locations.push(Arc::new(plain));
    let mut elsewhere = (*schedule("bp-prod", "0 0 * * *", &["shop"], None)).clone();
    elsewhere.spec.template.storage_location = Some("plain".into());
    snapshot.velero.schedules = vec![Arc::new(elsewhere)];
    let result = evaluate(POLICY, &spec, None, &snapshot, now);
    assert_eq!(
        state(&result, ControlId::BackupEncryption),
        ControlState::Fail
    );
    assert_eq!(
        messages(&result, ControlId::BackupEncryption),
        [
            "BackupStorageLocation velero/plain (provider `aws`) sets none of kmsKeyId, serverSideEncryption, customerKeyEncryptionFile, kmsKeyName, encryptionScope"
        ]
    );

    // A backup someone ran by hand of a selected namespace, to another location, counts too.
    snapshot.velero.schedules = vec![schedule("bp-prod", "0 0 * * *", &["shop"], None)];
    let mut manual = (*backup(
        "by-hand",
        "Completed",
        "2026-03-01T00:00:00Z",
        "2026-03-01T00:10:00Z",
        "",
    ))
    .clone();
    manual.metadata.labels = None;
    manual.spec.storage_location = Some("missing".into());
    snapshot.velero.backups = vec![Arc::new(manual)];
    let result = evaluate(POLICY, &spec, None, &snapshot, now);
    assert_eq!(
        messages(&result, ControlId::BackupEncryption),
        ["BackupStorageLocation velero/missing does not exist"]
    );
}

/// Volume snapshots count where they were really taken; resource-only backups take none.
#[test]
fn volume_snapshots_are_judged_in_the_snapshot_location_they_went_to() {
    let mut spec = spec();
    spec.require_encryption = true;
    let mut snapshot = snapshot();
    snapshot.velero.storage_locations = vec![location("aws", &[("kmsKeyId", "k")])];
    let mut with_volumes = (*backup(
        "b1",
        "Completed",
        "2026-03-01T00:00:00Z",
        "2026-03-01T00:10:00Z",
        "",
    ))
    .clone();
    with_volumes.spec.volume_snapshot_locations = Some(vec!["ebs".into()]);
    snapshot.velero.backups = vec![Arc::new(with_volumes.clone())];
    let now = at("2026-03-01T12:00:00Z");
    // No snapshot attempted: nothing went to `ebs`.
    let result = evaluate(POLICY, &spec, None, &snapshot, now);
    assert_eq!(
        state(&result, ControlId::BackupEncryption),
        ControlState::Pass
    );

    with_volumes
        .status
        .as_mut()
        .unwrap()
        .volume_snapshots_attempted = Some(2);
    snapshot.velero.backups = vec![Arc::new(with_volumes)];
    let result = evaluate(POLICY, &spec, None, &snapshot, now);
    assert_eq!(
        messages(&result, ControlId::BackupEncryption),
        ["VolumeSnapshotLocation velero/ebs, where backups took volume snapshots, does not exist"]
    );
    snapshot.velero.snapshot_locations = vec![Arc::new(crate::velero::VolumeSnapshotLocation {
        metadata: meta("velero", "ebs", &[]),
        spec: crate::velero::VolumeSnapshotLocationSpec {
            provider: "aws".into(),
            config: labels(&[("region", "eu-west-1")]),
        },
    })];
    let result = evaluate(POLICY, &spec, None, &snapshot, now);
    assert_eq!(
        state(&result, ControlId::BackupEncryption),
        ControlState::Fail
    );
    Arc::make_mut(&mut snapshot.velero.snapshot_locations[0])
        .spec
        .config
        .insert("kmsKeyId".into(), "k".into());
    let result = evaluate(POLICY, &spec, None, &snapshot, now);
    assert_eq!(
        state(&result, ControlId::BackupEncryption),
        ControlState::Pass
    );
}

#[test]
fn a_declared_rto_is_a_promise_to_test() {
    let now = at("2026-06-01T00:00:00Z");
    // No RTO, no restoreTest: nothing to prove, and the condition says which field is unset.
    let evaluation = evaluate(POLICY, &spec(), None, &snapshot(), now);
    assert_eq!(
        state(&evaluation, ControlId::RestoreTested),
        ControlState::NotApplicable
    );
    assert_eq!(
        evaluation.notes[&ControlId::RestoreTested],
        ["not configured: the BackupPolicy sets no spec.restoreTest or spec.rto"]
    );
    // An RTO alone: restore-tested applies, and with no restore observed it fails.
    let with_rto = BackupPolicySpec {
        rto: Some("6h".into()),
        ..spec()
    };
    let evaluation = evaluate(POLICY, &with_rto, None, &snapshot(), now);
    assert_eq!(
        state(&evaluation, ControlId::RestoreTested),
        ControlState::Fail
    );
    assert_eq!(
        messages(&evaluation, ControlId::RestoreTested),
        ["rto 6h declared, no restore test configured or observed"]
    );
    // A restore someone ran within the RTO proves it; one past it does not.
    let fast = passed("2026-05-31T00:00:00Z", 600, 3);
    let evaluation = evaluate(POLICY, &with_rto, Some(&fast), &snapshot(), now);
    assert_eq!(
        state(&evaluation, ControlId::RestoreTested),
        ControlState::Pass
    );
    let slow = passed("2026-05-31T00:00:00Z", 7 * 3600, 3);
    let evaluation = evaluate(POLICY, &with_rto, Some(&slow), &snapshot(), now);
    assert_eq!(
        state(&evaluation, ControlId::RestoreTested),
        ControlState::Fail
    );
    // A pass with no measured time does not show the RTO was met.
    let unmeasured = RestoreTestResult {
        duration_milliseconds: None,
        ..fast.clone()
    };
    let evaluation = evaluate(POLICY, &with_rto, Some(&unmeasured), &snapshot(), now);
    assert!(
        messages(&evaluation, ControlId::RestoreTested)[0].contains("recorded no duration"),
        "{:?}",
        messages(&evaluation, ControlId::RestoreTested)
    );
    // An older result's whole seconds still count.
    let older = RestoreTestResult {
        duration_milliseconds: None,
        duration_seconds: Some(600),
        ..fast
    };
    let evaluation = evaluate(POLICY, &with_rto, Some(&older), &snapshot(), now);
    assert_eq!(
        state(&evaluation, ControlId::RestoreTested),
        ControlState::Pass
    );
}

#[test]
fn backup_retention_with_nothing_to_judge_fails_on_the_policy_or_has_no_scope() {
    let now = at("2026-06-01T00:00:00Z");
    let retained = BackupPolicySpec {
        retention: Some(Retention {
            min: "720h".into(),
            max: "2160h".into(),
        }),
        ..spec()
    };
    // The namespace is selected, but no Schedule or Backup holds it.
    let mut bare = snapshot();
    bare.velero.schedules.clear();
    let evaluation = evaluate(POLICY, &retained, None, &bare, now);
    let control = evaluation
        .controls
        .iter()
        .find(|c| c.id == ControlId::BackupRetention)
        .unwrap();
    assert_eq!(control.state, ControlState::Fail);
    assert_eq!((control.checked, control.failed_objects()), (1, 1));
    assert_eq!(control.failed[0].object.kind, "BackupPolicy");
    assert_eq!(control.failed[0].object.name, POLICY);
    assert!(
        control.failed[0]
            .message
            .contains("no retention can be proven")
    );
    // Nothing selected: nothing promised.
    bare.namespaces.clear();
    let evaluation = evaluate(POLICY, &retained, None, &bare, now);
    assert_eq!(
        state(&evaluation, ControlId::BackupRetention),
        ControlState::NotApplicable
    );
    assert_eq!(
        evaluation.notes[&ControlId::BackupRetention],
        ["nothing to judge: no namespace is in scope"]
    );
    assert_eq!(
        state(&evaluation, ControlId::AutomatedBackup),
        ControlState::NotApplicable
    );
}

#[test]
fn a_schedule_rewritten_with_another_namespace_list_judges_only_the_namespaces_it_added_or_dropped()
{
    let old = schedule("daily", "0 1 * * *", &["a", "b", "c"], Some("720h"));
    let mut new = (*schedule("daily", "0 1 * * *", &["b", "c", "d"], Some("720h"))).clone();
    // The API server's bookkeeping moves with every write; no finding reads it.
    new.metadata.resource_version = Some("42".into());
    new.metadata.generation = Some(7);
    // The digest the operator stamps on the Schedule it renders moves with the list too.
    new.metadata.annotations = Some(
        [(
            crate::desired::drift::RENDERED.to_string(),
            "d1".to_string(),
        )]
        .into(),
    );
    let mut judged = namespaces_a_schedule_change_judges(&old, &new).unwrap();
    judged.sort();
    assert_eq!(judged, ["a", "d"]);
    // Anything else changing reaches every namespace either names.
    new.spec.paused = Some(true);
    let mut judged = namespaces_a_schedule_change_judges(&old, &new).unwrap();
    judged.sort();
    judged.dedup();
    assert_eq!(judged, ["a", "b", "c", "d"]);
    // A list naming every namespace reaches any.
    let every = schedule("daily", "0 1 * * *", &["*"], Some("720h"));
    assert_eq!(namespaces_a_schedule_change_judges(&old, &every), None);
    assert_eq!(namespaces_a_schedule_change_judges(&every, &old), None);
}
