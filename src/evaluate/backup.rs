//! BackupPolicy controls, read from Velero's objects: `automated-backup`, `backup-retention`,
//! `backup-encryption` and `restore-tested`.
//!
//! Velero's objects (Schedules, Backups, Restores, BackupStorageLocations) live in Velero's own
//! namespace; Velero ignores them anywhere else, so only that namespace is read.

use super::{ControlOutcome, Evaluation, ObjectRef, Violation, selected_namespaces};
use crate::api::BackupPolicySpec;
use crate::api::backup_policy::RestoreTestResult;
use crate::catalog::ControlId;
use crate::snapshot::Snapshot;
use crate::validate::{RestoreTest, ValidBackupPolicy};
use crate::velero::{Backup, BackupStorageLocationSpec, Schedule};
use crate::vocabulary::time::{elapsed, finished_at, human, human_age, later};
use crate::vocabulary::velero_view::{
    VeleroView, attempted_at, backup_phase, belongs_to_policy, includes, qualified,
};
use jiff::Timestamp;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use std::time::Duration;

/// Velero stamps start and expiration a moment apart; this keeps `ttl == min` passing.
const RETENTION_SLACK: Duration = Duration::from_secs(60);

/// BackupStorageLocation `config` keys that turn on encryption, by object-store provider
/// (`velero.io/` prefix stripped). Only key presence is read: values are never printed.
pub const ENCRYPTION_KEYS: &[(&str, &[&str])] = &[
    (
        "aws",
        &[
            "kmsKeyId",
            "serverSideEncryption",
            "customerKeyEncryptionFile",
        ],
    ),
    ("gcp", &["kmsKeyName"]),
    ("azure", &["encryptionScope", "customerKeyEncryptionFile"]),
];
/// Accepted from any provider, so S3-compatible or third-party plugins using the common
/// names are not reported as unencrypted.
pub const GENERIC_ENCRYPTION_KEYS: &[&str] = &[
    "kmsKeyId",
    "kmsKeyName",
    "serverSideEncryption",
    "encryptionScope",
];

const NOT_INSTALLED: &str = "Velero is not installed (velero.io/v1 is not served)";
const FAILED_PHASES: &[&str] = &["Failed", "PartiallyFailed", "FailedValidation"];

pub fn evaluate(
    name: &str,
    spec: &ValidBackupPolicy,
    last_restore_test: Option<&RestoreTestResult>,
    snapshot: &Snapshot,
    now: Timestamp,
) -> Evaluation {
    let namespaces = selected_namespaces(&spec.namespace_selector, snapshot);
    let outcomes = if snapshot.velero.installed || snapshot.velero.unreadable.is_some() {
        let velero = VeleroView::new(snapshot, spec);
        let outcomes = vec![
            automated_backup(name, spec, &velero, &namespaces, now),
            backup_retention(name, spec, &velero, &namespaces),
            backup_encryption(spec, &velero),
            restore_tested(name, spec, last_restore_test, now),
        ];
        match &snapshot.velero.unreadable {
            // Served but unreadable: the controls that read Velero's objects looked at
            // nothing, so they neither pass nor fail (restore-tested judges the recorded
            // result of the last test).
            Some(why) => outcomes
                .into_iter()
                .map(|o| match o.applicable && o.id != ControlId::RestoreTested {
                    true => ControlOutcome::checked(o.id, 0, vec![]).with_check_not_run(why),
                    false => o,
                })
                .collect(),
            None => outcomes,
        }
    } else {
        velero_missing(name, namespaces.len())
    };
    Evaluation::new(namespaces, outcomes, &spec.exemptions, now)
}

/// Without Velero nothing can be proven, so every control fails, pointing at the policy.
fn velero_missing(name: &str, namespaces: usize) -> Vec<ControlOutcome> {
    let finding = || vec![Violation::new(policy_ref(name), NOT_INSTALLED)];
    vec![
        ControlOutcome::checked(ControlId::AutomatedBackup, namespaces, finding()),
        ControlOutcome::checked(ControlId::BackupRetention, 1, finding()),
        ControlOutcome::checked(ControlId::BackupEncryption, 1, finding()),
        ControlOutcome::checked(ControlId::RestoreTested, 1, finding()),
    ]
}

fn policy_ref(name: &str) -> ObjectRef {
    ObjectRef {
        kind: "BackupPolicy".into(),
        name: name.into(),
        ..ObjectRef::default()
    }
}

fn namespace_ref(snapshot: &Snapshot, namespace: &str) -> ObjectRef {
    let labels = snapshot
        .namespace_labels()
        .find(|(name, _)| *name == namespace)
        .map(|(_, labels)| labels.clone())
        .unwrap_or_default();
    ObjectRef::namespace(namespace, &labels)
}

// ---------------------------------------------------------------------------------------------
// automated-backup

fn automated_backup(
    name: &str,
    spec: &ValidBackupPolicy,
    velero: &VeleroView,
    namespaces: &[String],
    now: Timestamp,
) -> ControlOutcome {
    let id = ControlId::AutomatedBackup;
    let rpo = spec.rpo;
    let violations = namespaces
        .iter()
        .flat_map(|ns| {
            let object = namespace_ref(velero.snapshot, ns);
            let schedule = schedule_problem(velero, ns, rpo, now);
            let freshness = freshness_problem(name, velero, ns, rpo, now);
            [schedule, freshness]
                .into_iter()
                .flatten()
                .map(move |message| Violation::new(object.clone(), message))
        })
        .collect();
    ControlOutcome::checked(id, namespaces.len(), violations)
}

/// Why no Schedule covers `namespace` at least once per RPO, or None when one does.
fn schedule_problem(
    velero: &VeleroView,
    namespace: &str,
    rpo: Duration,
    now: Timestamp,
) -> Option<String> {
    let covering: Vec<&Schedule> = velero
        .schedules()
        .filter(|s| includes(&s.spec.template.included_namespaces, namespace))
        .collect();
    if covering.is_empty() {
        return Some(format!(
            "namespace `{namespace}` is not covered by any Velero Schedule in `{}`",
            velero.namespace
        ));
    }
    let mut reasons = Vec::new();
    for schedule in covering {
        match schedule_interval_problem(schedule, rpo, now) {
            None => return None,
            Some(reason) => reasons.push(reason),
        }
    }
    Some(format!(
        "namespace `{namespace}` has no Schedule within the RPO {}: {}",
        human(rpo),
        reasons.join("; ")
    ))
}

fn schedule_interval_problem(schedule: &Schedule, rpo: Duration, now: Timestamp) -> Option<String> {
    let object = qualified(&schedule.metadata);
    let phase = schedule.status.as_ref().and_then(|s| s.phase.as_deref());
    if phase == Some("FailedValidation") {
        return Some(format!("Schedule `{object}` failed Velero's validation"));
    }
    let expr = &schedule.spec.schedule;
    let schedule = match crate::cron::parse(expr) {
        Ok(schedule) => schedule,
        Err(error) => return Some(format!("Schedule `{object}`: {error}")),
    };
    match schedule.longest_gap(now) {
        None => Some(format!(
            "Schedule `{object}` (`{expr}`) never runs: no date matches it in the next five years"
        )),
        Some(interval) if interval > rpo => Some(format!(
            "Schedule `{object}` runs every {}, less often than the RPO",
            human(interval)
        )),
        Some(_) => None,
    }
}

/// Why the newest successful backup of `namespace` is missing or too old, or None.
fn freshness_problem(
    name: &str,
    velero: &VeleroView,
    namespace: &str,
    rpo: Duration,
    now: Timestamp,
) -> Option<String> {
    let problem = match velero.newest_completed_backup(namespace) {
        None => format!("namespace `{namespace}` has no completed backup"),
        Some((backup, at)) => {
            let age = elapsed(at, now);
            if age <= rpo {
                return None;
            }
            format!(
                "newest completed backup `{}` of namespace `{namespace}` is {} old, older than the RPO {}",
                backup.metadata.name.as_deref().unwrap_or_default(),
                human_age(age),
                human(rpo)
            )
        }
    };
    Some(problem + &failed_attempts_note(name, velero, namespace))
}

/// When the newest attempt for `namespace` failed, says so and counts the policy's failed
/// backups: that points at a broken Velero rather than a missing schedule.
fn failed_attempts_note(name: &str, velero: &VeleroView, namespace: &str) -> String {
    let newest_attempt = velero
        .backups()
        .filter(|b| includes(&b.spec.included_namespaces, namespace))
        .max_by_key(|b| attempted_at(b));
    let Some(attempt) = newest_attempt else {
        return String::new();
    };
    let phase = backup_phase(attempt);
    if !FAILED_PHASES.contains(&phase) {
        return String::new();
    }
    let count = |wanted: &str| {
        velero
            .backups()
            .filter(|b| belongs_to_policy(&b.metadata, name) && backup_phase(b) == wanted)
            .count()
    };
    format!(
        "; the newest attempt `{}` ended {phase} ({} Failed and {} PartiallyFailed backups of this policy)",
        attempt.metadata.name.as_deref().unwrap_or_default(),
        count("Failed"),
        count("PartiallyFailed"),
    )
}

/// The earliest moment a namespace that is fresh now stops being fresh (its newest completed
/// backup turns older than the RPO): when to evaluate again if nothing else changes.
pub fn next_deadline(
    spec: &ValidBackupPolicy,
    snapshot: &Snapshot,
    now: Timestamp,
) -> Option<Timestamp> {
    if !snapshot.velero.installed {
        return None;
    }
    let rpo = spec.rpo;
    let velero = VeleroView::new(snapshot, spec);
    selected_namespaces(&spec.namespace_selector, snapshot)
        .iter()
        .filter_map(|ns| velero.newest_completed_backup(ns))
        .map(|(_, at)| later(at, rpo))
        .filter(|deadline| *deadline > now)
        .min()
}

// ---------------------------------------------------------------------------------------------
// backup-retention

fn backup_retention(
    name: &str,
    spec: &ValidBackupPolicy,
    velero: &VeleroView,
    namespaces: &[String],
) -> ControlOutcome {
    let id = ControlId::BackupRetention;
    let Some(retention) = spec.retention else {
        return ControlOutcome::not_applicable(id);
    };
    let bounds = Bounds {
        min: retention.min,
        max: retention.max,
    };
    // The policy's own objects, and any other holding a selected namespace: a copy kept too
    // long by another schedule breaks the disposal promise just the same.
    let relevant = |meta: &ObjectMeta, included: &[String]| {
        belongs_to_policy(meta, name) || namespaces.iter().any(|ns| includes(included, ns))
    };
    let schedules: Vec<&Schedule> = velero
        .schedules()
        .filter(|s| relevant(&s.metadata, &s.spec.template.included_namespaces))
        .collect();
    let backups: Vec<(&Backup, Duration)> = velero
        .backups()
        .filter(|b| relevant(&b.metadata, &b.spec.included_namespaces))
        .filter_map(|b| Some((b, backup_lifetime(b)?)))
        .collect();
    let mut violations: Vec<Violation> = schedules
        .iter()
        .filter_map(|s| schedule_ttl_violation(s, bounds))
        .collect();
    violations.extend(
        backups
            .iter()
            .filter_map(|(b, lifetime)| backup_lifetime_violation(b, *lifetime, bounds)),
    );
    ControlOutcome::checked(id, schedules.len() + backups.len(), violations)
}

#[derive(Clone, Copy)]
struct Bounds {
    min: Duration,
    max: Duration,
}

impl Bounds {
    /// "less than the minimum retention 720h" / "more than the maximum …", or None if within.
    fn breach(self, kept: Duration) -> Option<String> {
        if kept + RETENTION_SLACK < self.min {
            Some(format!(
                "less than the minimum retention {}",
                human(self.min)
            ))
        } else if kept > self.max + RETENTION_SLACK {
            Some(format!(
                "more than the maximum retention {}",
                human(self.max)
            ))
        } else {
            None
        }
    }
}

fn schedule_ttl_violation(schedule: &Schedule, bounds: Bounds) -> Option<Violation> {
    let object = qualified(&schedule.metadata);
    let message = match schedule.spec.template.ttl.as_deref() {
        None => format!(
            "Schedule `{object}` sets no ttl, so retention is whatever the Velero server defaults to"
        ),
        Some(ttl) => match go_duration(ttl) {
            None => format!("Schedule `{object}` has a ttl `{ttl}` that cannot be read"),
            Some(kept) => {
                let breach = bounds.breach(kept)?;
                format!(
                    "Schedule `{object}` keeps backups for {}, {breach}",
                    human(kept)
                )
            }
        },
    };
    Some(Violation::new(
        ObjectRef::of("Schedule", &schedule.metadata),
        message,
    ))
}

/// A Go duration as Velero writes one (`720h0m0s`); None for what Go would not read or for
/// a negative one.
fn go_duration(text: &str) -> Option<Duration> {
    let parsed: kube::core::Duration = text.parse().ok()?;
    (!parsed.is_negative()).then(|| parsed.into())
}

/// How long Velero will keep a backup: expiration minus start. None until both are known.
fn backup_lifetime(backup: &Backup) -> Option<Duration> {
    let status = backup.status.as_ref()?;
    let start = status.start_timestamp.as_ref()?.0;
    let expiration = status.expiration.as_ref()?.0;
    Some(elapsed(start, expiration))
}

fn backup_lifetime_violation(
    backup: &Backup,
    lifetime: Duration,
    bounds: Bounds,
) -> Option<Violation> {
    let breach = bounds.breach(lifetime)?;
    let message = format!(
        "Backup `{}` expires {} after it started, {breach}",
        qualified(&backup.metadata),
        human(lifetime)
    );
    Some(Violation::new(
        ObjectRef::of("Backup", &backup.metadata),
        message,
    ))
}

// ---------------------------------------------------------------------------------------------
// backup-encryption

fn backup_encryption(spec: &BackupPolicySpec, velero: &VeleroView) -> ControlOutcome {
    let id = ControlId::BackupEncryption;
    if !spec.require_encryption {
        return ControlOutcome::not_applicable(id);
    }
    let name = spec.storage_location();
    let qualified_name = format!("{}/{name}", velero.namespace);
    let violation = match velero.storage_location(name) {
        None => Some(Violation::new(
            ObjectRef {
                kind: "BackupStorageLocation".into(),
                namespace: Some(velero.namespace.to_string()),
                name: name.to_string(),
                ..ObjectRef::default()
            },
            format!("BackupStorageLocation {qualified_name} does not exist"),
        )),
        Some(location) if !is_encrypted(&location.spec) => Some(Violation::new(
            ObjectRef::of("BackupStorageLocation", &location.metadata),
            format!(
                "BackupStorageLocation {qualified_name} (provider `{}`) sets none of {}",
                location.spec.provider,
                encryption_keys(&location.spec.provider).join(", ")
            ),
        )),
        Some(_) => None,
    };
    ControlOutcome::checked(id, 1, violation.into_iter().collect())
}

/// The config keys that count as encryption for `provider`, its own first.
pub fn encryption_keys(provider: &str) -> Vec<&'static str> {
    let short = provider.trim().trim_start_matches("velero.io/");
    let own = ENCRYPTION_KEYS
        .iter()
        .filter(|(p, _)| p.eq_ignore_ascii_case(short))
        .flat_map(|(_, keys)| keys.iter().copied());
    let mut keys: Vec<&'static str> = Vec::new();
    for key in own.chain(GENERIC_ENCRYPTION_KEYS.iter().copied()) {
        if !keys.contains(&key) {
            keys.push(key);
        }
    }
    keys
}

/// Whether the location sets (to anything non-empty) a key that turns on encryption.
pub fn is_encrypted(location: &BackupStorageLocationSpec) -> bool {
    encryption_keys(&location.provider).iter().any(|key| {
        location
            .config
            .get(*key)
            .is_some_and(|v| !v.trim().is_empty())
    })
}

// ---------------------------------------------------------------------------------------------
// restore-tested

fn restore_tested(
    name: &str,
    spec: &ValidBackupPolicy,
    last: Option<&RestoreTestResult>,
    now: Timestamp,
) -> ControlOutcome {
    let id = ControlId::RestoreTested;
    let Some(test) = spec.restore_test else {
        return ControlOutcome::not_applicable(id);
    };
    let violations = restore_test_problems(spec, &test, last, now)
        .into_iter()
        .map(|message| Violation::new(policy_ref(name), message))
        .collect();
    ControlOutcome::checked(id, 1, violations)
}

/// Why the last restore test does not prove recoverability now; empty when it does.
pub fn restore_test_problems(
    spec: &ValidBackupPolicy,
    test: &RestoreTest,
    last: Option<&RestoreTestResult>,
    now: Timestamp,
) -> Vec<String> {
    let Some(last) = last else {
        return vec!["no restore test has run yet".into()];
    };
    let mut problems = Vec::new();
    let every = test.every;
    let age = elapsed(finished_at(last), now);
    if age > every {
        problems.push(format!(
            "the last restore test `{}` finished {} ago; one is required every {}",
            last.restore,
            human_age(age),
            human(every)
        ));
    }
    match last.result.as_str() {
        "Passed" => problems.extend(passed_result_problems(spec, test, last)),
        "Running" => problems.push(format!("restore test `{}` has not finished", last.restore)),
        _ => problems.push(format!(
            "restore test `{}` of backup `{}` failed: {}",
            last.restore, last.backup, last.message
        )),
    }
    problems
}

/// A pass recorded under an earlier RTO or item minimum is re-judged against today's spec.
fn passed_result_problems(
    spec: &ValidBackupPolicy,
    test: &RestoreTest,
    last: &RestoreTestResult,
) -> Vec<String> {
    let mut problems = Vec::new();
    let took = Duration::from_secs(last.duration_seconds.unwrap_or(0).max(0).unsigned_abs());
    if let Some(rto) = spec.rto
        && took > rto
    {
        problems.push(format!(
            "restore test `{}` took {}, longer than the RTO {}",
            last.restore,
            human(took),
            human(rto)
        ));
    }
    let items = last.items.unwrap_or(0);
    let wanted = test.min_restored_items;
    if items < wanted {
        problems.push(format!(
            "restore test `{}` restored {items} items, fewer than the required {wanted}",
            last.restore
        ));
    }
    problems
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::ControlState;
    use crate::api::backup_policy::{RestoreTestSpec, Retention};
    use crate::velero::{
        BackupSpec, BackupStatus, BackupStorageLocation, ScheduleSpec, TemplateMetadata,
    };
    use crate::vocabulary::labels::POLICY_LABEL;
    use k8s_openapi::api::core::v1::Namespace;
    use k8s_openapi::apimachinery::pkg::apis::meta::v1::{LabelSelector, Time};
    use std::collections::BTreeMap;
    use std::sync::Arc;

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
            }),
        })
    }

    fn location(provider: &str, config: &[(&str, &str)]) -> Arc<BackupStorageLocation> {
        Arc::new(BackupStorageLocation {
            metadata: meta("velero", "default", &[]),
            spec: BackupStorageLocationSpec {
                provider: provider.into(),
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
    fn velero_missing_fails_every_control_on_the_policy() {
        let mut snapshot = snapshot();
        snapshot.velero.installed = false;
        let evaluation = evaluate(POLICY, &spec(), None, &snapshot, at("2026-03-01T00:00:00Z"));
        assert_eq!(evaluation.controls.len(), 4);
        for control in &evaluation.controls {
            assert_eq!(control.state, ControlState::Fail);
            assert_eq!(control.failed[0].object.kind, "BackupPolicy");
            assert_eq!(control.failed[0].message, NOT_INSTALLED);
        }
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
                "namespace `shop` has no Schedule within the RPO 24h: Schedule `velero/weekly` runs every 168h, less often than the RPO"
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
            duration_seconds: Some(duration_seconds),
            items: Some(items),
            result: "Passed".into(),
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
}
