use super::*;
use crate::api::BackupPolicy;
use crate::api::BackupPolicySpec;
use crate::api::backup_policy::RestoreTestResult;
use crate::api::backup_policy::{RestoreTestSpec, Retention};
use crate::desired::{DesiredObject, OwnedKind, Owner};
use crate::snapshot::Snapshot;
use crate::validate::ValidBackupPolicy;
use crate::velero::Backup;
use crate::velero::{BackupSpec, BackupStatus, RestoreProgress, RestoreStatus};
use crate::vocabulary::labels::{POLICY_LABEL, RESTORE_TEST_LABEL, RESTORE_TEST_POLICY_UID};
use crate::vocabulary::sandbox::{is_restore_test_sandbox, sandbox_policy_uid};
use crate::vocabulary::time::later;
use crate::vocabulary::velero_records::{BackupContents, Record, RestoreOutcome, VeleroRecords};
use jiff::Timestamp;
use k8s_openapi::api::core::v1::Namespace;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::LabelSelector;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{ObjectMeta, Time};
use serde_json::json;
use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

const POLICY: &str = "prod";

fn valid(spec: &BackupPolicySpec) -> ValidBackupPolicy {
    crate::validate::backup_policy::validate(spec, at("2026-01-01T00:00:00Z")).unwrap()
}

fn schedule(
    owner: &Owner,
    spec: &BackupPolicySpec,
    namespaces: &[String],
) -> Option<DesiredObject> {
    super::schedule(owner, &valid(spec), namespaces)
}

fn plan_restore_test(
    name: &str,
    spec: &BackupPolicySpec,
    last: Option<&RestoreTestResult>,
    snapshot: &Snapshot,
    now: Timestamp,
) -> RestoreTestStep {
    super::plan_restore_test(
        name,
        &valid(spec),
        last,
        snapshot,
        &records_of(snapshot),
        now,
    )
}

/// What a Velero server that ran every Backup and Restore in `snapshot` would hold: empty
/// resource lists and results without errors (the verification tests below fill them in).
fn records_of(snapshot: &Snapshot) -> VeleroRecords {
    let mut records = VeleroRecords::default();
    for backup in &snapshot.velero.backups {
        let name = backup.metadata.name.clone().unwrap_or_default();
        let contents = Record::Found(BackupContents::default());
        records.backups.insert(name, Arc::new(contents));
    }
    for restore in &snapshot.velero.restores {
        let backup = restore.spec.backup_name.clone();
        let contents = Arc::new(Record::Found(BackupContents::default()));
        records.backups.entry(backup).or_insert(contents);
        let name = restore.metadata.name.clone().unwrap_or_default();
        let outcome = Record::Found(RestoreOutcome::default());
        records.restores.insert(name, Arc::new(outcome));
    }
    records
}

fn at(text: &str) -> Timestamp {
    text.parse().unwrap()
}

fn hours(h: u64) -> Duration {
    Duration::from_secs(h * 3600)
}

fn owner() -> Owner {
    Owner {
        api_version: "security.baseline.dev/v1alpha1".into(),
        kind: "BackupPolicy".into(),
        name: POLICY.into(),
        uid: "uid-1".into(),
    }
}

fn spec() -> BackupPolicySpec {
    BackupPolicySpec {
        mode: None,
        namespace_selector: LabelSelector {
            match_labels: Some(BTreeMap::from([("backup".into(), "true".into())])),
            ..LabelSelector::default()
        },
        rpo: "6h".into(),
        rto: Some("1h".into()),
        schedule: None,
        retention: Some(Retention {
            min: "720h".into(),
            max: "2160h".into(),
        }),
        storage_location: None,
        require_encryption: false,
        snapshot_volumes: Some(true),
        restore_test: Some(RestoreTestSpec {
            every: Some("720h".into()),
            keep_sandbox_for: Some("1h".into()),
            min_restored_items: Some(5),
        }),
        velero: None,
        exemptions: Vec::new(),
    }
}

#[test]
fn cron_follows_the_rpo() {
    assert_eq!(cron_for_rpo(hours(48)), "0 0 * * *");
    assert_eq!(cron_for_rpo(hours(24)), "0 0 * * *");
    assert_eq!(cron_for_rpo(hours(6)), "0 */6 * * *");
    assert_eq!(cron_for_rpo(hours(5)), "0 */4 * * *");
    assert_eq!(cron_for_rpo(Duration::from_secs(90 * 60)), "0 */1 * * *");
    assert_eq!(cron_for_rpo(Duration::from_secs(15 * 60)), "*/15 * * * *");
    assert_eq!(cron_for_rpo(Duration::from_secs(7 * 60)), "*/6 * * * *");
    assert_eq!(cron_for_rpo(Duration::ZERO), "*/1 * * * *");
}

#[test]
fn derived_cron_never_runs_less_often_than_the_rpo() {
    for minutes in (1..=48 * 60).step_by(7) {
        let rpo = Duration::from_secs(minutes * 60);
        let schedule = crate::cron::parse(&cron_for_rpo(rpo)).unwrap();
        let interval = schedule.longest_gap(at("2026-01-01T00:00:00Z")).unwrap();
        assert!(interval <= rpo, "{minutes}m");
    }
}

#[test]
fn schedule_carries_policy_label_retention_and_sorted_namespaces() {
    let namespaces = vec!["shop".to_string(), "billing".to_string()];
    let object = schedule(&owner(), &spec(), &namespaces).unwrap();
    assert_eq!(object.kind, OwnedKind::VeleroSchedule);
    assert_eq!(object.namespace.as_deref(), Some("velero"));
    assert_eq!(object.name, "bp-prod");
    let body = &object.json();
    assert_eq!(body["metadata"]["labels"][POLICY_LABEL], "prod");
    assert_eq!(body["spec"]["schedule"], "0 */6 * * *");
    assert_eq!(body["spec"]["useOwnerReferencesInBackup"], false);
    let template = &body["spec"]["template"];
    assert_eq!(template["includedNamespaces"], json!(["billing", "shop"]));
    assert_eq!(template["ttl"], "720h0m0s");
    assert_eq!(template["storageLocation"], "default");
    assert_eq!(template["snapshotVolumes"], true);
    assert_eq!(template["metadata"]["labels"][POLICY_LABEL], "prod");

    let mut explicit = spec();
    explicit.schedule = Some("30 1 * * *".into());
    let object = schedule(&owner(), &explicit, &namespaces).unwrap();
    assert_eq!(object.json()["spec"]["schedule"], "30 1 * * *");
    assert_eq!(schedule(&owner(), &spec(), &[]), None);
}

#[test]
fn sandbox_names_fit_a_namespace_and_stay_distinct() {
    assert_eq!(sandbox_name("prod", "shop"), "restore-test-prod-shop");
    let long_a = sandbox_name("prod", &"a".repeat(60));
    let long_b = sandbox_name("prod", &format!("{}b", "a".repeat(59)));
    assert!(long_a.len() <= 63 && long_b.len() <= 63);
    assert_ne!(long_a, long_b);
    assert_eq!(long_a, sandbox_name("prod", &"a".repeat(60)));
    assert!(long_a.starts_with("restore-test-prod-aaa"));
}

#[test]
fn restore_maps_source_into_the_sandbox() {
    let object = restore_object(
        &owner(),
        &valid(&spec()),
        "b1",
        "shop",
        "restore-test-prod-shop",
        at("2026-03-01T00:00:00Z"),
    );
    assert_eq!(object.kind, OwnedKind::VeleroRestore);
    assert_eq!(object.name, "bp-prod-restore-1772323200");
    let restore_spec = &object.json()["spec"].clone();
    assert_eq!(restore_spec["backupName"], "b1");
    assert_eq!(restore_spec["includedNamespaces"], json!(["shop"]));
    assert_eq!(
        restore_spec["namespaceMapping"],
        json!({"shop": "restore-test-prod-shop"})
    );
    assert_eq!(
        object.json()["metadata"]["labels"][RESTORE_TEST_LABEL],
        "true"
    );
}

/// Nothing restored into a sandbox runs, routes or claims: the Restore restores an allowlist
/// (`includedResources`), so pods, jobs, cronjobs, daemonsets, autoscalers, Services,
/// Endpoints, Ingresses, Gateway routes, NetworkPolicies and every custom resource (an Argo
/// Rollout, any kind with a pod template) stay in the backup; and it references the modifiers
/// that scale the replicated workloads it does restore to zero.
#[test]
fn restore_restores_an_allowlist_that_runs_routes_and_claims_nothing() {
    let object = restore_object(
        &owner(),
        &valid(&spec()),
        "b1",
        "shop",
        "restore-test-prod-shop",
        at("2026-03-01T00:00:00Z"),
    );
    let restore_spec = &object.json()["spec"].clone();
    assert!(
        restore_spec.get("excludedResources").is_none(),
        "an allowlist, not exclusions: {restore_spec}"
    );
    let included: Vec<&str> = restore_spec["includedResources"]
        .as_array()
        .expect("includedResources")
        .iter()
        .filter_map(|r| r.as_str())
        .collect();
    assert_eq!(
        included,
        [
            "configmaps",
            "secrets",
            "serviceaccounts",
            "persistentvolumeclaims",
            "persistentvolumes",
            "limitranges",
            "resourcequotas",
            "roles.rbac.authorization.k8s.io",
            "poddisruptionbudgets.policy",
            "deployments.apps",
            "statefulsets.apps",
            "replicasets.apps",
            "replicationcontrollers",
        ]
    );
    assert!(!included.contains(&"*"));
    for kind in [
        "pods",
        "jobs.batch",
        "cronjobs.batch",
        "daemonsets.apps",
        "horizontalpodautoscalers.autoscaling",
        "services",
        "endpoints",
        "endpointslices.discovery.k8s.io",
        "networkpolicies.networking.k8s.io",
        "ingresses.networking.k8s.io",
        "httproutes.gateway.networking.k8s.io",
        "gateways.gateway.networking.k8s.io",
        "rollouts.argoproj.io",
        // Would grant the production namespace's identities their rights in the sandbox.
        "rolebindings.rbac.authorization.k8s.io",
    ] {
        assert!(!included.contains(&kind), "{kind} restored: {included:?}");
    }
    // Every restored workload kind is scaled to zero by the modifiers.
    let rules = modifier_rules();
    for workload in [
        "deployments.apps",
        "statefulsets.apps",
        "replicasets.apps",
        "replicationcontrollers",
    ] {
        assert!(
            included.contains(&workload) && rules.contains(&format!("groupResource: {workload}\n")),
            "{workload}: {rules}"
        );
    }
    assert_eq!(
        restore_spec["resourceModifier"],
        json!({"kind": "configmap", "name": "bp-prod-restore-test-modifiers"})
    );
}

/// The sandbox is compared with the backup for the restored kinds only: what a test leaves in
/// the backup on purpose (a Service, an Ingress, a Job, a Rollout) is not missing, and a
/// restored kind the operator does not watch (a ReplicationController) is Velero's word.
#[test]
fn verification_looks_for_exactly_the_restored_kinds() {
    let list = br#"{"v1/ConfigMap": ["shop/settings", "other/settings"],
        "v1/Service": ["shop/web"], "networking.k8s.io/v1/Ingress": ["shop/web"],
        "batch/v1/Job": ["shop/migrate"], "argoproj.io/v1alpha1/Rollout": ["shop/canary"],
        "gateway.networking.k8s.io/v1/HTTPRoute": ["shop/web"], "v1/Pod": ["shop/web-1"],
        "v1/ReplicationController": ["shop/legacy"], "v1/Endpoints": ["shop/web"]}"#;
    let contents = BackupContents::parse(list).unwrap();
    let mut snapshot = Snapshot::default();
    snapshot
        .config_maps
        .push(Arc::new(crate::snapshot::ObjectMetaOnly {
            kind: "ConfigMap",
            namespace: "restore-test-prod-shop".into(),
            name: "settings".into(),
            labels: BTreeMap::new(),
        }));
    let verification = verify_sandbox(&contents, "shop", "restore-test-prod-shop", &snapshot);
    assert_eq!(
        verification,
        Verification {
            looked_for: 1,
            found: 1,
            missing: vec![],
            by_velero_only: 1,
        }
    );
    // Every kind a test restores is expected back, and nothing else.
    for restored in RESTORED_KINDS {
        assert!(is_restored(restored.group, restored.kind), "{restored:?}");
    }
    for (group, kind) in [
        ("", "Service"),
        ("networking.k8s.io", "Ingress"),
        ("", "Pod"),
        ("argoproj.io", "Rollout"),
    ] {
        assert!(!is_restored(group, kind), "{group}/{kind}");
    }
}

#[test]
fn resource_modifiers_scale_every_replicated_kind_to_zero() {
    let object = resource_modifiers(&owner(), &valid(&spec()));
    assert_eq!(object.kind, OwnedKind::ConfigMap);
    assert_eq!(object.name, "bp-prod-restore-test-modifiers");
    assert_eq!(object.namespace.as_deref(), Some("velero"));
    assert_eq!(object.json()["apiVersion"], "v1");
    assert_eq!(object.json()["kind"], "ConfigMap");
    assert_eq!(
        object.json()["metadata"]["ownerReferences"][0]["uid"],
        "uid-1"
    );
    let body = object.json();
    let data = body["data"].as_object().expect("data");
    assert_eq!(data.len(), 1, "Velero reads exactly one key: {data:?}");
    let rules: serde_json::Value =
        serde_norway::from_str(data[MODIFIERS_KEY].as_str().unwrap()).expect("YAML rules");
    assert_eq!(rules["version"], "v1");
    let rules = rules["resourceModifierRules"].as_array().expect("rules");
    let kinds: Vec<&str> = rules
        .iter()
        .map(|r| r["conditions"]["groupResource"].as_str().unwrap())
        .collect();
    assert_eq!(
        kinds,
        [
            "deployments.apps",
            "statefulsets.apps",
            "replicasets.apps",
            "replicationcontrollers"
        ]
    );
    for rule in rules {
        assert_eq!(
            rule["conditions"].as_object().unwrap().len(),
            1,
            "no namespace or name condition narrows the rule: {rule}"
        );
        assert_eq!(
            rule["patches"],
            json!([{"operation": "add", "path": "/spec/replicas", "value": "0"}])
        );
    }
    let mut elsewhere = spec();
    elsewhere.velero = Some(crate::api::backup_policy::VeleroSpec {
        namespace: Some("backup-system".into()),
    });
    assert_eq!(
        resource_modifiers(&owner(), &valid(&elsewhere))
            .namespace
            .as_deref(),
        Some("backup-system")
    );
}

fn namespace(name: &str, labels: &[(&str, &str)]) -> Arc<Namespace> {
    Arc::new(Namespace {
        metadata: ObjectMeta {
            name: Some(name.into()),
            labels: Some(
                labels
                    .iter()
                    .map(|(k, v)| (k.to_string(), v.to_string()))
                    .collect(),
            ),
            ..ObjectMeta::default()
        },
        ..Namespace::default()
    })
}

fn completed_backup(name: &str, completed: &str) -> Arc<Backup> {
    let mut backup = Backup::new(
        name,
        BackupSpec {
            included_namespaces: vec!["shop".into()],
            ..BackupSpec::default()
        },
    );
    backup.metadata.namespace = Some("velero".into());
    backup.metadata.labels = Some(policy_labels(POLICY));
    backup.status = Some(BackupStatus {
        phase: Some("Completed".into()),
        completion_timestamp: Some(Time(at(completed))),
        ..BackupStatus::default()
    });
    Arc::new(backup)
}

/// `shop` selected, a completed backup `b1` of it, and the BackupPolicy itself (its uid
/// is what marks its sandboxes).
fn snapshot_with_policy() -> Snapshot {
    let mut policy = BackupPolicy::new(POLICY, spec());
    policy.metadata.uid = Some(owner().uid);
    let mut snapshot = Snapshot {
        namespaces: vec![namespace("shop", &[("backup", "true")])],
        ..Snapshot::default()
    };
    snapshot.custom_resources.backup_policies = vec![Arc::new(policy)];
    snapshot.velero.installed = true;
    snapshot.velero.backups = vec![completed_backup("b1", "2026-03-01T00:10:00Z")];
    snapshot
}

/// Turns desired objects into what the cluster would show, as the controller's apply
/// and the reflectors would.
fn apply(snapshot: &mut Snapshot, objects: Vec<DesiredObject>, created: &str) {
    for object in objects {
        let mut body = object.json();
        body["metadata"]["creationTimestamp"] = json!(created);
        match object.kind {
            OwnedKind::Namespace => snapshot
                .namespaces
                .push(Arc::new(serde_json::from_value(body).unwrap())),
            OwnedKind::NetworkPolicy => snapshot
                .network_policies
                .push(Arc::new(serde_json::from_value(body).unwrap())),
            OwnedKind::VeleroRestore => snapshot
                .velero
                .restores
                .push(Arc::new(serde_json::from_value(body).unwrap())),
            other => panic!("unexpected {other:?}"),
        }
    }
}

fn finish_restore(snapshot: &mut Snapshot, phase: &str, start: &str, end: &str, items: i64) {
    let restore = Arc::make_mut(&mut snapshot.velero.restores[0]);
    restore.status = Some(RestoreStatus {
        phase: Some(phase.into()),
        start_timestamp: Some(Time(at(start))),
        completion_timestamp: Some(Time(at(end))),
        progress: Some(RestoreProgress {
            total_items: Some(items),
            items_restored: Some(items),
        }),
        errors: None,
    });
}

#[test]
fn restore_test_walks_from_sandbox_to_cleanup() {
    let spec = spec();
    let owner = owner();
    let sandbox = "restore-test-prod-shop".to_string();
    let mut snapshot = snapshot_with_policy();
    let plan = |snapshot: &Snapshot, last: Option<&RestoreTestResult>, now: &str| {
        plan_restore_test(POLICY, &spec, last, snapshot, at(now))
    };

    let step = plan(&snapshot, None, "2026-03-01T01:00:00Z");
    let create = RestoreTestStep::CreateSandbox {
        backup: "b1".into(),
        source: "shop".into(),
        sandbox: sandbox.clone(),
    };
    assert_eq!(step, create);

    // A namespace alone is not a sandbox: the deny-all policy must be there first.
    let objects = sandbox_objects(&owner, POLICY, "shop", &sandbox);
    apply(&mut snapshot, objects[..1].to_vec(), "2026-03-01T01:00:00Z");
    assert_eq!(plan(&snapshot, None, "2026-03-01T01:00:10Z"), create);
    apply(&mut snapshot, objects[1..].to_vec(), "2026-03-01T01:00:10Z");

    let due = at("2026-03-01T00:10:00Z");
    let step = plan(&snapshot, None, "2026-03-01T01:00:20Z");
    assert_eq!(
        step,
        RestoreTestStep::StartRestore {
            backup: "b1".into(),
            source: "shop".into(),
            sandbox: sandbox.clone(),
            due,
        }
    );

    let restore = restore_object(&owner, &valid(&spec), "b1", "shop", &sandbox, due);
    let restore_name = restore.name.clone();
    apply(&mut snapshot, vec![restore], "2026-03-01T01:00:30Z");
    assert_eq!(
        plan(&snapshot, None, "2026-03-01T01:05:00Z"),
        RestoreTestStep::Waiting {
            restore: restore_name.clone(),
            sandbox: sandbox.clone(),
            // Created at 01:00:30, RTO 1h: the moment to give up if Velero never finishes.
            until: Some(at("2026-03-01T02:00:30Z")),
        }
    );

    finish_restore(
        &mut snapshot,
        "Completed",
        "2026-03-01T01:00:30Z",
        "2026-03-01T01:20:30Z",
        12,
    );
    let RestoreTestStep::Record(result) = plan(&snapshot, None, "2026-03-01T01:21:00Z") else {
        panic!("expected Record");
    };
    assert_eq!(result.result, "Passed", "{}", result.message);
    assert_eq!(result.restore, restore_name);
    assert_eq!(result.backup, "b1");
    // The plan's own Restore carries no creation stamp here: Velero's clock, whole seconds.
    assert_eq!(result.duration_milliseconds, Some(1_200_000));
    assert_eq!(result.duration, "20m");
    assert_eq!(
        result.measured_by,
        Some(crate::api::backup_policy::MeasuredBy::Velero)
    );
    assert_eq!(result.items, Some(12));

    let last = Some(&result);
    assert_eq!(
        plan(&snapshot, last, "2026-03-01T01:50:00Z"),
        RestoreTestStep::Idle {
            next_due: at("2026-03-01T02:20:30Z")
        }
    );
    assert_eq!(
        plan(&snapshot, last, "2026-03-01T03:00:00Z"),
        RestoreTestStep::DeleteSandbox {
            sandbox: sandbox.clone()
        }
    );

    snapshot
        .namespaces
        .retain(|ns| ns.metadata.name.as_deref() != Some(&sandbox));
    snapshot.network_policies.clear();
    assert_eq!(
        plan(&snapshot, last, "2026-03-01T03:00:10Z"),
        RestoreTestStep::Idle {
            next_due: at("2026-03-31T01:20:30Z")
        }
    );

    snapshot
        .velero
        .backups
        .push(completed_backup("b2", "2026-03-31T00:10:00Z"));
    assert_eq!(
        plan(&snapshot, last, "2026-03-31T02:00:00Z"),
        RestoreTestStep::CreateSandbox {
            backup: "b2".into(),
            source: "shop".into(),
            sandbox,
        }
    );
}

#[test]
fn slow_or_partial_restore_is_recorded_as_failed() {
    let spec = spec();
    let owner = owner();
    let mut snapshot = Snapshot::default();
    snapshot.velero.installed = true;
    let due = at("2026-03-01T00:00:00Z");
    let restore = restore_object(
        &owner,
        &valid(&spec),
        "b1",
        "shop",
        "restore-test-prod-shop",
        due,
    );
    apply(&mut snapshot, vec![restore], "2026-03-01T00:00:00Z");
    finish_restore(
        &mut snapshot,
        "PartiallyFailed",
        "2026-03-01T00:00:00Z",
        "2026-03-01T02:00:00Z",
        3,
    );
    let RestoreTestStep::Record(result) =
        plan_restore_test(POLICY, &spec, None, &snapshot, at("2026-03-01T03:00:00Z"))
    else {
        panic!("expected Record");
    };
    assert_eq!(result.result, "Failed");
    assert_eq!(
        result.message,
        "Velero ended the restore PartiallyFailed; took 2h, longer than the RTO 1h; restored 3 items, fewer than the required 5"
    );
    assert_eq!(result.reason.as_deref(), Some("RestoreFailed"));
    // A failed test is retried within a day, not after `every`.
    assert_eq!(
        next_due(&valid(&spec).restore_test.unwrap(), Some(&result)),
        Some(at("2026-03-02T02:00:00Z"))
    );
}

#[test]
fn nothing_planned_without_a_restore_test() {
    let mut spec = spec();
    spec.restore_test = None;
    let step = plan_restore_test(
        POLICY,
        &spec,
        None,
        &Snapshot::default(),
        at("2026-03-01T00:00:00Z"),
    );
    assert_eq!(
        step,
        RestoreTestStep::Idle {
            next_due: Timestamp::MAX
        }
    );
}

#[test]
fn sandbox_namespace_carries_the_policy_uid() {
    let objects = sandbox_objects(&owner(), POLICY, "shop", "restore-test-prod-shop");
    let meta: ObjectMeta = serde_json::from_value(objects[0].json()["metadata"].clone()).unwrap();
    assert_eq!(sandbox_policy_uid(&meta), Some("uid-1"));
    assert!(is_restore_test_sandbox(&meta, &snapshot_with_policy()));
    // Without the policy in the cluster the same namespace is no sandbox.
    assert!(!is_restore_test_sandbox(&meta, &Snapshot::default()));
}

/// A namespace someone else prepared under the sandbox's name (the label alone, or a
/// label and another policy's uid) is never written to, restored into or deleted.
#[test]
fn a_foreign_namespace_under_the_sandbox_name_is_never_used() {
    let spec = spec();
    let sandbox = "restore-test-prod-shop";
    for annotation in [None, Some("uid-of-another-policy")] {
        let mut snapshot = snapshot_with_policy();
        let mut planted = (*namespace(sandbox, &[(RESTORE_TEST_LABEL, "true")])).clone();
        planted.metadata.annotations = annotation
            .map(|uid| BTreeMap::from([(RESTORE_TEST_POLICY_UID.to_string(), uid.into())]));
        planted.metadata.creation_timestamp = Some(Time(at("2026-03-01T00:00:00Z")));
        snapshot.namespaces.push(Arc::new(planted));
        let deny_all = sandbox_objects(&owner(), POLICY, "shop", sandbox).remove(1);
        apply(&mut snapshot, vec![deny_all], "2026-03-01T00:00:00Z");
        let now = at("2026-03-01T01:00:00Z");
        assert_eq!(
            plan_restore_test(POLICY, &spec, None, &snapshot, now),
            RestoreTestStep::Idle {
                next_due: later(now, RETRY_LATER)
            },
            "{annotation:?}"
        );
        // Not deleted either, after a finished restore into it.
        let restore = restore_object(&owner(), &valid(&spec), "b1", "shop", sandbox, now);
        apply(&mut snapshot, vec![restore], "2026-03-01T01:00:00Z");
        finish_restore(
            &mut snapshot,
            "Completed",
            "2026-03-01T01:00:00Z",
            "2026-03-01T01:10:00Z",
            10,
        );
        let restore = snapshot.velero.restores[0].clone();
        assert_eq!(leftover_sandbox(&snapshot, POLICY, &restore), None);
    }
}

/// A finished restore with no records yet asks for them; with Velero's records it is judged
/// against them, and a record Velero never wrote (a Restore made by hand, status and all)
/// fails the test however good its status looks.
#[test]
fn finished_restores_are_judged_against_what_velero_recorded() {
    let spec = spec();
    let mut snapshot = snapshot_with_policy();
    let due = at("2026-03-01T00:00:00Z");
    let sandbox = "restore-test-prod-shop";
    let restore = restore_object(&owner(), &valid(&spec), "b1", "shop", sandbox, due);
    let restore_name = restore.name.clone();
    apply(&mut snapshot, vec![restore], "2026-03-01T00:00:00Z");
    finish_restore(
        &mut snapshot,
        "Completed",
        "2026-03-01T00:00:00Z",
        "2026-03-01T00:05:00Z",
        9,
    );
    let now = at("2026-03-01T00:06:00Z");
    let plan = |records: &VeleroRecords, snapshot: &Snapshot| {
        super::plan_restore_test(POLICY, &valid(&spec), None, snapshot, records, now)
    };
    assert_eq!(
        plan(&VeleroRecords::default(), &snapshot),
        RestoreTestStep::Verify {
            backup: "b1".into(),
            restore: restore_name.clone()
        }
    );

    // Forged: the status says Completed, but Velero holds no results for it.
    let mut forged = records_of(&snapshot);
    forged
        .restores
        .insert(restore_name.clone(), Arc::new(Record::Missing));
    let RestoreTestStep::Record(result) = plan(&forged, &snapshot) else {
        panic!("expected Record");
    };
    assert_eq!(result.result, "Failed");
    assert_eq!(result.reason.as_deref(), Some("NotRunByVelero"));

    // The backup held a Deployment and a ConfigMap of `shop` (and a Pod, which tests never
    // restore); the sandbox has only the ConfigMap.
    let list = br#"{"apps/v1/Deployment": ["shop/web"], "v1/ConfigMap": ["shop/settings"],
        "v1/Pod": ["shop/web-1"], "apps/v1/ReplicaSet": ["shop/web-5d9"]}"#;
    let mut records = records_of(&snapshot);
    let contents = Record::Found(BackupContents::parse(list).unwrap());
    records.backups.insert("b1".into(), Arc::new(contents));
    snapshot
        .config_maps
        .push(Arc::new(crate::snapshot::ObjectMetaOnly {
            kind: "ConfigMap",
            namespace: sandbox.into(),
            name: "settings".into(),
            labels: BTreeMap::new(),
        }));
    let RestoreTestStep::Record(result) = plan(&records, &snapshot) else {
        panic!("expected Record");
    };
    assert_eq!(
        result.reason.as_deref(),
        Some("ContentMismatch"),
        "{}",
        result.message
    );
    assert_eq!(
        result.message,
        "1 of 2 backed-up objects of `shop` are not in `restore-test-prod-shop`: Deployment/web"
    );
    assert_eq!((result.verified, result.verified_of), (Some(1), Some(2)));

    // Restored as backed up: it passes, and says what it could and could not look at.
    let mut web: k8s_openapi::api::apps::v1::Deployment = serde_json::from_value(json!({
        "metadata": {"name": "web", "namespace": sandbox},
        "spec": {"selector": {}, "template": {}},
    }))
    .unwrap();
    web.metadata.namespace = Some(sandbox.into());
    snapshot.deployments.push(Arc::new(web));
    let RestoreTestStep::Record(result) = plan(&records, &snapshot) else {
        panic!("expected Record");
    };
    assert_eq!(result.result, "Passed", "{}", result.message);
    assert_eq!(result.namespace.as_deref(), Some("shop"));
    assert_eq!(
        result.message,
        "2 backed-up objects found in `restore-test-prod-shop`; 1 more of kinds the operator does not watch, restored by Velero's record"
    );

    // Velero's own errors are named.
    let mut failed = records;
    let outcome = RestoreOutcome::parse(br#"{"errors": {"namespaces": {"restore-test-prod-shop": ["error restoring secrets/db: quota exceeded"]}}}"#).unwrap();
    failed
        .restores
        .insert(restore_name, Arc::new(Record::Found(outcome)));
    finish_restore(
        &mut snapshot,
        "PartiallyFailed",
        "2026-03-01T00:00:00Z",
        "2026-03-01T00:05:00Z",
        9,
    );
    let RestoreTestStep::Record(result) = plan(&failed, &snapshot) else {
        panic!("expected Record");
    };
    assert_eq!(result.reason.as_deref(), Some("RestoreFailed"));
    assert!(
        result.message.starts_with("Velero ended the restore PartiallyFailed: restore-test-prod-shop: error restoring secrets/db: quota exceeded"),
        "{}",
        result.message
    );
}

/// A restore still running when the RTO runs out is a failure then, not a wait without end;
/// its late completion does not turn it into a pass.
#[test]
fn a_restore_running_past_the_rto_fails_with_rto_exceeded() {
    let spec = spec();
    let mut snapshot = snapshot_with_policy();
    let due = at("2026-03-01T00:00:00Z");
    let restore = restore_object(
        &owner(),
        &valid(&spec),
        "b1",
        "shop",
        "restore-test-prod-shop",
        due,
    );
    apply(&mut snapshot, vec![restore], "2026-03-01T00:00:00Z");
    let RestoreTestStep::Waiting { until, .. } =
        plan_restore_test(POLICY, &spec, None, &snapshot, at("2026-03-01T00:30:00Z"))
    else {
        panic!("expected Waiting");
    };
    assert_eq!(until, Some(at("2026-03-01T01:00:00Z")));
    let RestoreTestStep::Record(result) =
        plan_restore_test(POLICY, &spec, None, &snapshot, at("2026-03-01T01:00:05Z"))
    else {
        panic!("expected Record");
    };
    assert_eq!(result.result, "Failed");
    assert_eq!(result.reason.as_deref(), Some(RTO_EXCEEDED));
    assert_eq!(
        result.message,
        "still running after 1h5s, longer than the RTO 1h"
    );

    finish_restore(
        &mut snapshot,
        "Completed",
        "2026-03-01T00:00:00Z",
        "2026-03-01T01:30:00Z",
        9,
    );
    let step = plan_restore_test(
        POLICY,
        &spec,
        Some(&result),
        &snapshot,
        at("2026-03-01T01:31:00Z"),
    );
    assert!(!matches!(step, RestoreTestStep::Record(_)), "{step:?}");
}

/// Tests rotate: each selected namespace is restored in turn, the one tested longest ago
/// (or never) first.
#[test]
fn restore_tests_rotate_through_the_selected_namespaces() {
    let spec = spec();
    let mut snapshot = snapshot_with_policy();
    snapshot
        .namespaces
        .push(namespace("cart", &[("backup", "true")]));
    let mut both = (*completed_backup("b1", "2026-03-01T00:10:00Z")).clone();
    both.spec.included_namespaces = vec!["shop".into(), "cart".into()];
    snapshot.velero.backups = vec![Arc::new(both)];
    let now = at("2026-03-01T01:00:00Z");
    let source = |snapshot: &Snapshot| match plan_restore_test(POLICY, &spec, None, snapshot, now) {
        RestoreTestStep::CreateSandbox { source, .. } => source,
        other => panic!("expected CreateSandbox, got {other:?}"),
    };
    // Neither tested yet: by name.
    assert_eq!(source(&snapshot), "cart");
    let cart = restore_object(
        &owner(),
        &valid(&spec),
        "b1",
        "cart",
        "restore-test-prod-cart",
        at("2026-02-01T00:00:00Z"),
    );
    apply(&mut snapshot, vec![cart], "2026-02-01T00:00:00Z");
    // `cart`'s Restore exists (and is judged first); once it is recorded, `shop` is next.
    finish_restore(
        &mut snapshot,
        "Completed",
        "2026-02-01T00:00:00Z",
        "2026-02-01T00:05:00Z",
        9,
    );
    let RestoreTestStep::Record(result) = plan_restore_test(POLICY, &spec, None, &snapshot, now)
    else {
        panic!("expected Record");
    };
    let step = plan_restore_test(
        POLICY,
        &spec,
        Some(&result),
        &snapshot,
        at("2026-03-05T00:00:00Z"),
    );
    match step {
        RestoreTestStep::CreateSandbox { source, .. } => assert_eq!(source, "shop"),
        RestoreTestStep::DeleteSandbox { .. } => {}
        other => panic!("expected the next test, got {other:?}"),
    }
}

/// Audit mode restores nothing itself: it judges the newest restore someone else ran of a
/// selected namespace, verified the same way.
#[test]
fn audit_mode_judges_restores_others_ran() {
    let spec = spec();
    let valid = valid(&spec);
    let mut snapshot = snapshot_with_policy();
    let now = at("2026-03-01T02:00:00Z");
    let idle = RestoreTestStep::Idle {
        next_due: later(now, RETRY_LATER),
    };
    assert_eq!(
        judge_existing_restores(&valid, None, &snapshot, &records_of(&snapshot), now),
        idle
    );
    // A restore of another namespace says nothing about `shop`.
    let mut other = restore_object(&owner(), &valid, "b1", "elsewhere", "copy", now);
    if let Some(metadata) = other.body.metadata_mut() {
        metadata.labels = Some(BTreeMap::new());
    }
    apply(&mut snapshot, vec![other], "2026-03-01T00:00:00Z");
    assert_eq!(
        judge_existing_restores(&valid, None, &snapshot, &records_of(&snapshot), now),
        idle
    );
    let theirs = restore_object(&owner(), &valid, "b1", "shop", "shop-copy", now);
    apply(&mut snapshot, vec![theirs], "2026-03-01T00:30:00Z");
    let restore = Arc::make_mut(&mut snapshot.velero.restores[1]);
    restore.status = Some(RestoreStatus {
        phase: Some("Completed".into()),
        start_timestamp: Some(Time(at("2026-03-01T00:30:00Z"))),
        completion_timestamp: Some(Time(at("2026-03-01T00:40:00Z"))),
        ..RestoreStatus::default()
    });
    assert!(matches!(
        judge_existing_restores(&valid, None, &snapshot, &VeleroRecords::default(), now),
        RestoreTestStep::Verify { .. }
    ));
    let RestoreTestStep::Record(result) =
        judge_existing_restores(&valid, None, &snapshot, &records_of(&snapshot), now)
    else {
        panic!("expected Record");
    };
    assert_eq!(result.namespace.as_deref(), Some("shop"));
    // It restored 0 items (no progress reported), fewer than the policy's minimum.
    assert_eq!(
        result.reason.as_deref(),
        Some("TooFewItems"),
        "{}",
        result.message
    );
}

/// The operator's own test is timed on its clock: from the instant stamped on the Restore
/// when it created it to the verification, to the millisecond, even when Velero's
/// second-precision timestamps show no difference. Someone else's stamp is not trusted.
#[test]
fn own_restore_tests_are_timed_on_the_operators_clock_to_the_millisecond() {
    use crate::api::backup_policy::MeasuredBy;
    let spec = spec();
    let mut snapshot = snapshot_with_policy();
    let sandbox = "restore-test-prod-shop";
    apply(
        &mut snapshot,
        sandbox_objects(&owner(), POLICY, "shop", sandbox),
        "2026-03-01T01:00:00Z",
    );
    let due = at("2026-03-01T00:10:00Z");
    let restore = restore_object(&owner(), &valid(&spec), "b1", "shop", sandbox, due);
    let stamped = super::created_at(restore, at("2026-03-01T01:00:30.250Z"));
    apply(&mut snapshot, vec![stamped], "2026-03-01T01:00:30Z");
    // Velero started and finished within the same second.
    finish_restore(
        &mut snapshot,
        "Completed",
        "2026-03-01T01:00:30Z",
        "2026-03-01T01:00:30Z",
        3,
    );
    let RestoreTestStep::Record(result) = plan_restore_test(
        POLICY,
        &spec,
        None,
        &snapshot,
        at("2026-03-01T01:00:30.662Z"),
    ) else {
        panic!("expected Record");
    };
    assert_eq!(result.measured_by, Some(MeasuredBy::Operator));
    assert_eq!(result.duration_milliseconds, Some(412));
    assert_eq!(result.duration, "412ms");
    assert_eq!(result.started.0, at("2026-03-01T01:00:30.250Z"));
    assert_eq!(result.completed.unwrap().0, at("2026-03-01T01:00:30.662Z"));

    // The same Restore judged as someone else's (Audit mode): Velero's clock, `<1s`.
    let valid = valid(&spec);
    let RestoreTestStep::Record(result) = judge_existing_restores(
        &valid,
        None,
        &snapshot,
        &records_of(&snapshot),
        at("2026-03-01T01:00:31Z"),
    ) else {
        panic!("expected Record");
    };
    assert_eq!(result.measured_by, Some(MeasuredBy::Velero));
    assert_eq!(result.duration_milliseconds, Some(0));
    assert_eq!(result.duration, "<1s");
}

#[test]
fn schedule_sends_the_same_velero_schedule() {
    let namespaces = vec!["shop".to_string(), "billing".to_string()];
    let object = schedule(&owner(), &spec(), &namespaces).unwrap();
    crate::desired::golden_tests::pinned(&[object], SCHEDULE);
}

const SCHEDULE: &str = r#"[
  {
    "apiVersion": "velero.io/v1",
    "kind": "Schedule",
    "metadata": {
      "labels": {
        "app.kubernetes.io/managed-by": "baseline-operator",
        "security.baseline.dev/backup-policy": "prod",
        "security.baseline.dev/owner-uid": "uid-1"
      },
      "name": "bp-prod",
      "namespace": "velero",
      "ownerReferences": [
        {
          "apiVersion": "security.baseline.dev/v1alpha1",
          "blockOwnerDeletion": true,
          "controller": true,
          "kind": "BackupPolicy",
          "name": "prod",
          "uid": "uid-1"
        }
      ]
    },
    "spec": {
      "schedule": "0 */6 * * *",
      "template": {
        "includedNamespaces": [
          "billing",
          "shop"
        ],
        "metadata": {
          "labels": {
            "security.baseline.dev/backup-policy": "prod"
          }
        },
        "snapshotVolumes": true,
        "storageLocation": "default",
        "ttl": "720h0m0s"
      },
      "useOwnerReferencesInBackup": false
    }
  }
]"#;

#[test]
fn restore_test_sends_the_same_sandbox_restore_and_modifiers() {
    let (owner, spec) = (owner(), spec());
    let sandbox = sandbox_name(POLICY, "shop");
    let due = at("2026-03-01T00:10:00Z");
    let mut objects = sandbox_objects(&owner, POLICY, "shop", &sandbox);
    objects.push(super::created_at(
        restore_object(&owner, &valid(&spec), "b1", "shop", &sandbox, due),
        at("2026-03-01T01:00:30.250Z"),
    ));
    objects.push(resource_modifiers(&owner, &valid(&spec)));
    crate::desired::golden_tests::pinned(&objects, RESTORE_TEST);
}

const RESTORE_TEST: &str = r#"[
  {
    "apiVersion": "v1",
    "kind": "Namespace",
    "metadata": {
      "annotations": {
        "security.baseline.dev/restore-test-policy-uid": "uid-1"
      },
      "labels": {
        "app.kubernetes.io/managed-by": "baseline-operator",
        "security.baseline.dev/backup-policy": "prod",
        "security.baseline.dev/owner-uid": "uid-1",
        "security.baseline.dev/restore-test": "true",
        "security.baseline.dev/restore-test-source": "shop"
      },
      "name": "restore-test-prod-shop",
      "ownerReferences": [
        {
          "apiVersion": "security.baseline.dev/v1alpha1",
          "blockOwnerDeletion": true,
          "controller": true,
          "kind": "BackupPolicy",
          "name": "prod",
          "uid": "uid-1"
        }
      ]
    }
  },
  {
    "apiVersion": "networking.k8s.io/v1",
    "kind": "NetworkPolicy",
    "metadata": {
      "labels": {
        "app.kubernetes.io/managed-by": "baseline-operator",
        "security.baseline.dev/backup-policy": "prod",
        "security.baseline.dev/owner-uid": "uid-1",
        "security.baseline.dev/restore-test": "true",
        "security.baseline.dev/restore-test-source": "shop"
      },
      "name": "restore-test-deny-all",
      "namespace": "restore-test-prod-shop",
      "ownerReferences": [
        {
          "apiVersion": "security.baseline.dev/v1alpha1",
          "blockOwnerDeletion": true,
          "controller": true,
          "kind": "BackupPolicy",
          "name": "prod",
          "uid": "uid-1"
        }
      ]
    },
    "spec": {
      "podSelector": {},
      "policyTypes": [
        "Ingress",
        "Egress"
      ]
    }
  },
  {
    "apiVersion": "velero.io/v1",
    "kind": "Restore",
    "metadata": {
      "annotations": {
        "security.baseline.dev/created-at": "2026-03-01T01:00:30.25Z"
      },
      "labels": {
        "app.kubernetes.io/managed-by": "baseline-operator",
        "security.baseline.dev/backup-policy": "prod",
        "security.baseline.dev/owner-uid": "uid-1",
        "security.baseline.dev/restore-test": "true"
      },
      "name": "bp-prod-restore-1772323800",
      "namespace": "velero",
      "ownerReferences": [
        {
          "apiVersion": "security.baseline.dev/v1alpha1",
          "blockOwnerDeletion": true,
          "controller": true,
          "kind": "BackupPolicy",
          "name": "prod",
          "uid": "uid-1"
        }
      ]
    },
    "spec": {
      "backupName": "b1",
      "includedNamespaces": [
        "shop"
      ],
      "includedResources": [
        "configmaps",
        "secrets",
        "serviceaccounts",
        "persistentvolumeclaims",
        "persistentvolumes",
        "limitranges",
        "resourcequotas",
        "roles.rbac.authorization.k8s.io",
        "poddisruptionbudgets.policy",
        "deployments.apps",
        "statefulsets.apps",
        "replicasets.apps",
        "replicationcontrollers"
      ],
      "namespaceMapping": {
        "shop": "restore-test-prod-shop"
      },
      "resourceModifier": {
        "kind": "configmap",
        "name": "bp-prod-restore-test-modifiers"
      }
    }
  },
  {
    "apiVersion": "v1",
    "data": {
      "restore-test-modifiers.yaml": "version: v1\nresourceModifierRules:\n- conditions:\n    groupResource: deployments.apps\n  patches:\n  - operation: add\n    path: \"/spec/replicas\"\n    value: \"0\"\n- conditions:\n    groupResource: statefulsets.apps\n  patches:\n  - operation: add\n    path: \"/spec/replicas\"\n    value: \"0\"\n- conditions:\n    groupResource: replicasets.apps\n  patches:\n  - operation: add\n    path: \"/spec/replicas\"\n    value: \"0\"\n- conditions:\n    groupResource: replicationcontrollers\n  patches:\n  - operation: add\n    path: \"/spec/replicas\"\n    value: \"0\"\n"
    },
    "kind": "ConfigMap",
    "metadata": {
      "labels": {
        "app.kubernetes.io/managed-by": "baseline-operator",
        "security.baseline.dev/backup-policy": "prod",
        "security.baseline.dev/owner-uid": "uid-1"
      },
      "name": "bp-prod-restore-test-modifiers",
      "namespace": "velero",
      "ownerReferences": [
        {
          "apiVersion": "security.baseline.dev/v1alpha1",
          "blockOwnerDeletion": true,
          "controller": true,
          "kind": "BackupPolicy",
          "name": "prod",
          "uid": "uid-1"
        }
      ]
    }
  }
]"#;
