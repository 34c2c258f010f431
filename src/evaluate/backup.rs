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
        velero_missing(name, &namespaces, snapshot)
    };
    Evaluation::new(namespaces, outcomes, &spec.exemptions, now).with_excluded(
        super::excluded_namespaces([&spec.namespace_selector], snapshot),
    )
}

/// Without Velero nothing can be proven, so every control fails: automated-backup for each
/// selected namespace (its unit), the others pointing at the policy. With no namespace
/// selected, automated-backup points at the policy too: a policy that backs up nothing
/// while Velero is absent proves nothing either.
fn velero_missing(name: &str, namespaces: &[String], snapshot: &Snapshot) -> Vec<ControlOutcome> {
    let finding = || vec![Violation::new(policy_ref(name), NOT_INSTALLED)];
    let per_namespace: Vec<Violation> = namespaces
        .iter()
        .map(|ns| Violation::new(namespace_ref(snapshot, ns), NOT_INSTALLED))
        .collect();
    let automated = match per_namespace.is_empty() {
        true => ControlOutcome::checked(ControlId::AutomatedBackup, 1, finding()),
        false => {
            ControlOutcome::checked(ControlId::AutomatedBackup, namespaces.len(), per_namespace)
        }
    };
    vec![
        automated,
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
#[path = "backup_tests.rs"]
mod tests;
