//! Owned Velero objects for a BackupPolicy: the Schedule that takes the backups
//! (`automated-backup`, `backup-retention`), and the quarantined sandbox and Restore of a
//! restore test (`restore-tested`), planned one step at a time from the Snapshot.

use super::{DesiredObject, OwnedKind, Owner};
use crate::api::backup_policy::RestoreTestResult;
use crate::snapshot::Snapshot;
use crate::validate::{RestoreTest, ValidBackupPolicy, go_duration};
use crate::velero::{Backup, Restore};
use crate::vocabulary::labels::{
    POLICY_LABEL, RESTORE_TEST_LABEL, RESTORE_TEST_POLICY_UID, RESTORE_TEST_PREFIX,
    RESTORE_TEST_SOURCE_LABEL,
};
use crate::vocabulary::sandbox::is_own_sandbox;
use crate::vocabulary::selection::selected_namespaces;
use crate::vocabulary::time::{elapsed, finished_at, human, later};
use crate::vocabulary::velero_view::{VeleroView, belongs_to_policy, completed_at, includes};
use jiff::Timestamp;
use k8s_openapi::api::networking::v1::NetworkPolicy;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{ObjectMeta, Time};
use serde_json::json;
use std::collections::BTreeMap;
use std::time::Duration;

/// The deny-all NetworkPolicy in every sandbox; one per namespace, so a fixed name suffices.
pub const SANDBOX_DENY_ALL: &str = "restore-test-deny-all";
/// Kept out of a test restore. Restored allow-policies would add to the sandbox's deny-all
/// (NetworkPolicies only ever widen), and restored Ingresses would claim production hosts.
pub const RESTORE_EXCLUDED_RESOURCES: &[&str] = &[
    "networkpolicies.networking.k8s.io",
    "ingresses.networking.k8s.io",
];
/// How soon to look again when a test is due but cannot start yet (no backup, sandbox still
/// terminating, Velero missing). Watches usually wake the controller earlier.
pub const RETRY_LATER: Duration = Duration::from_secs(15 * 60);
/// A failed test is retried this soon (or after `every`, if shorter), not a year later.
pub const RETRY_FAILED_TEST_AFTER: Duration = Duration::from_secs(24 * 3600);
const TERMINAL_PHASES: &[&str] = &["Completed", "PartiallyFailed", "Failed", "FailedValidation"];
const DNS_LABEL_MAX: usize = 63;

// ---------------------------------------------------------------------------------------------
// Schedule

/// A cron expression that fires at least once per `rpo`. Hour and minute steps are divisors
/// of 24 and 60, so runs stay evenly spaced across midnight and the top of the hour; a daily
/// run is the slowest produced, even for longer RPOs.
pub fn cron_for_rpo(rpo: Duration) -> String {
    let minutes = rpo.as_secs() / 60;
    let hours = minutes / 60;
    if hours >= 24 {
        "0 0 * * *".into()
    } else if hours >= 1 {
        format!("0 */{} * * *", largest_divisor_at_most(24, hours))
    } else {
        format!("*/{} * * * *", largest_divisor_at_most(60, minutes.max(1)))
    }
}

fn largest_divisor_at_most(whole: u64, limit: u64) -> u64 {
    (1..=limit.min(whole))
        .rev()
        .find(|d| whole.is_multiple_of(*d))
        .unwrap_or(1)
}

fn policy_labels(policy: &str) -> BTreeMap<String, String> {
    BTreeMap::from([(POLICY_LABEL.to_string(), policy.to_string())])
}

/// The policy's Velero Schedule over `namespaces`; None when there is nothing to back up.
pub fn schedule(
    owner: &Owner,
    spec: &ValidBackupPolicy,
    namespaces: &[String],
) -> Option<DesiredObject> {
    if namespaces.is_empty() {
        return None;
    }
    let cron = match &spec.schedule {
        Some(cron) => cron.as_str().to_string(),
        None => cron_for_rpo(spec.rpo),
    };
    let mut included = namespaces.to_vec();
    included.sort();
    included.dedup();
    // Labels in the template are copied onto every Backup, which is how the controls find
    // the policy's backups.
    let mut template = json!({
        "includedNamespaces": included,
        "storageLocation": spec.storage_location(),
        "metadata": {"labels": policy_labels(&owner.name)},
    });
    // The minimum: kept long enough, and as far below the maximum as the policy allows.
    if let Some(retention) = spec.retention {
        template["ttl"] = json!(go_duration(retention.min));
    }
    if let Some(snapshot_volumes) = spec.snapshot_volumes {
        template["snapshotVolumes"] = json!(snapshot_volumes);
    }
    let fields = json!({"spec": {
        "schedule": cron,
        "template": template,
        // Owner references would let Kubernetes delete every backup along with the Schedule
        // (e.g. when the policy is deleted), cutting retention short.
        "useOwnerReferencesInBackup": false,
    }});
    let schedule = DesiredObject::owned(
        OwnedKind::VeleroSchedule,
        owner,
        Some(spec.velero_namespace()),
        owner.prefix(),
        fields,
    );
    Some(schedule.with_labels(&policy_labels(&owner.name)))
}

// ---------------------------------------------------------------------------------------------
// Restore-test objects

/// `restore-test-<policy>-<source>`; when that exceeds a namespace name's 63 characters it is
/// cut and suffixed with a hash of the full name, so two long sources never share a sandbox.
pub fn sandbox_name(policy: &str, source: &str) -> String {
    let full = format!("{RESTORE_TEST_PREFIX}{policy}-{source}");
    if full.len() <= DNS_LABEL_MAX {
        return full;
    }
    let suffix = format!("{:08x}", fnv1a(full.as_bytes()));
    let keep = DNS_LABEL_MAX - suffix.len() - 1;
    let head = full[..keep].trim_end_matches(|c: char| !c.is_ascii_alphanumeric());
    format!("{head}-{suffix}")
}

/// Stable across processes and releases, unlike std's hasher; not for security.
fn fnv1a(bytes: &[u8]) -> u32 {
    bytes.iter().fold(0x811c_9dc5, |hash, byte| {
        (hash ^ u32::from(*byte)).wrapping_mul(0x0100_0193)
    })
}

fn sandbox_labels(policy: &str, source: &str) -> BTreeMap<String, String> {
    let mut labels = policy_labels(policy);
    labels.insert(RESTORE_TEST_LABEL.into(), "true".into());
    labels.insert(RESTORE_TEST_SOURCE_LABEL.into(), source.into());
    labels
}

/// The quarantined sandbox: a namespace EnvironmentIsolation recognises as a restore test
/// (name prefix, label and the policy's uid in an annotation: see
/// [`is_restore_test_sandbox`]), and a NetworkPolicy denying all traffic to and from its pods.
pub fn sandbox_objects(
    owner: &Owner,
    policy_name: &str,
    source: &str,
    sandbox: &str,
) -> Vec<DesiredObject> {
    let labels = sandbox_labels(policy_name, source);
    let namespace = DesiredObject::owned(
        OwnedKind::Namespace,
        owner,
        None,
        sandbox.to_string(),
        json!({}),
    );
    let mut namespace = namespace.with_labels(&labels);
    namespace.body["metadata"]["annotations"] = json!({RESTORE_TEST_POLICY_UID: owner.uid});
    let deny_all = DesiredObject::owned(
        OwnedKind::NetworkPolicy,
        owner,
        Some(sandbox),
        SANDBOX_DENY_ALL.to_string(),
        json!({"spec": {"podSelector": {}, "policyTypes": ["Ingress", "Egress"]}}),
    );
    vec![namespace, deny_all.with_labels(&labels)]
}

/// Named after the moment the test fell due, so every reconcile that plans the same test
/// names the same Restore, and a repeated create fails with AlreadyExists instead of
/// starting a second restore.
pub fn restore_name(owner: &Owner, due: Timestamp) -> String {
    format!("{}-restore-{}", owner.prefix(), due.as_second())
}

/// The Velero Restore of `source` from `backup` into `sandbox`.
pub fn restore_object(
    owner: &Owner,
    spec: &crate::api::BackupPolicySpec,
    backup: &str,
    source: &str,
    sandbox: &str,
    due: Timestamp,
) -> DesiredObject {
    let mut labels = policy_labels(&owner.name);
    labels.insert(RESTORE_TEST_LABEL.into(), "true".into());
    let fields = json!({"spec": {
        "backupName": backup,
        "includedNamespaces": [source],
        "namespaceMapping": {source: sandbox},
        "excludedResources": RESTORE_EXCLUDED_RESOURCES,
    }});
    DesiredObject::owned(
        OwnedKind::VeleroRestore,
        owner,
        Some(spec.velero_namespace()),
        restore_name(owner, due),
        fields,
    )
    .with_labels(&labels)
}

// ---------------------------------------------------------------------------------------------
// Restore-test planning

/// The one thing the controller should do next for a policy's restore test. Each step is
/// decided from the Snapshot alone, so a restarted operator picks up where it left off.
///
/// The sandbox and the Restore are created on demand by these steps, not listed among the
/// policy's desired objects: the controller must not prune owned restore-test Namespaces
/// (label [`RESTORE_TEST_LABEL`]) or owned Restores; it removes sandboxes only on
/// [`RestoreTestStep::DeleteSandbox`] and leaves Restores as Velero's record of the test
/// (ownerReferences clean both up when the policy is deleted).
#[derive(Clone, Debug, PartialEq)]
pub enum RestoreTestStep {
    /// Nothing to do: requeue at `next_due` (`Timestamp::MAX` when no test is configured).
    Idle { next_due: Timestamp },
    /// Apply [`sandbox_objects`]. The Restore waits until the Snapshot shows both: Velero
    /// keeps an existing namespace's labels, and a restore into a namespace without the
    /// deny-all policy would run production workloads unquarantined.
    CreateSandbox {
        backup: String,
        source: String,
        sandbox: String,
    },
    /// Create (not apply) [`restore_object`] with these arguments; AlreadyExists means an
    /// earlier reconcile already started it.
    StartRestore {
        backup: String,
        source: String,
        sandbox: String,
        due: Timestamp,
    },
    /// A Restore is running: nothing to write; Restore watch events bring the next step.
    Waiting { restore: String, sandbox: String },
    /// Write this into `status.lastRestoreTest` (and emit an event); evaluation judges it.
    Record(RestoreTestResult),
    /// Delete this sandbox Namespace: verified and kept for inspection long enough, or in
    /// the way of the next test.
    DeleteSandbox { sandbox: String },
}

pub fn plan_restore_test(
    name: &str,
    spec: &ValidBackupPolicy,
    last: Option<&RestoreTestResult>,
    snapshot: &Snapshot,
    now: Timestamp,
) -> RestoreTestStep {
    let Some(test) = &spec.restore_test else {
        return RestoreTestStep::Idle {
            next_due: Timestamp::MAX,
        };
    };
    if !snapshot.velero.installed {
        return RestoreTestStep::Idle {
            next_due: later(now, RETRY_LATER),
        };
    }
    let velero = VeleroView::new(snapshot, spec);
    let current = newest_policy_restore(&velero, name);
    if let Some(restore) = current {
        match restore_result(spec, test, restore, now) {
            None => {
                return RestoreTestStep::Waiting {
                    restore: object_name(&restore.metadata),
                    sandbox: sandbox_of(restore),
                };
            }
            Some(result) if !is_recorded(last, &result) => return RestoreTestStep::Record(result),
            Some(_) => {}
        }
    }
    let due = next_due(test, last);
    let due_now = due.is_none_or(|due| due <= now);
    let mut wake = due.unwrap_or(now);
    if let Some((sandbox, finished)) = current.and_then(|r| leftover_sandbox(snapshot, name, r)) {
        let expires = later(finished, test.keep_sandbox_for);
        if expires <= now || due_now {
            return RestoreTestStep::DeleteSandbox { sandbox };
        }
        wake = wake.min(expires);
    }
    if !due_now {
        return RestoreTestStep::Idle { next_due: wake };
    }
    start_next_test(name, spec, &velero, due, now)
}

/// When the next test falls due; None when none has run yet (due now).
pub fn next_due(test: &RestoreTest, last: Option<&RestoreTestResult>) -> Option<Timestamp> {
    let last = last?;
    let every = test.every;
    let wait = if last.result == "Passed" {
        every
    } else {
        every.min(RETRY_FAILED_TEST_AFTER)
    };
    Some(later(finished_at(last), wait))
}

fn start_next_test(
    name: &str,
    spec: &ValidBackupPolicy,
    velero: &VeleroView,
    due: Option<Timestamp>,
    now: Timestamp,
) -> RestoreTestStep {
    let retry = RestoreTestStep::Idle {
        next_due: later(now, RETRY_LATER),
    };
    let Some((backup, completed)) = newest_policy_backup(velero, name) else {
        return retry;
    };
    // The first selected namespace the backup holds: deterministic, so consecutive steps
    // agree on the sandbox.
    let selected = selected_namespaces(&spec.namespace_selector, velero.snapshot);
    let Some(source) = selected
        .into_iter()
        .find(|ns| includes(&backup.spec.included_namespaces, ns))
    else {
        return retry;
    };
    let sandbox = sandbox_name(name, &source);
    let backup = object_name(&backup.metadata);
    match sandbox_state(velero.snapshot, name, &sandbox) {
        // Someone else's namespace under the sandbox's name is never taken over: restoring
        // production data into a namespace prepared by someone else (its RoleBindings, its
        // workloads) would hand them the data. The test waits until it is gone.
        SandboxState::Terminating | SandboxState::Foreign => retry,
        SandboxState::Missing | SandboxState::Incomplete => RestoreTestStep::CreateSandbox {
            backup,
            source,
            sandbox,
        },
        SandboxState::Ready => RestoreTestStep::StartRestore {
            backup,
            source,
            sandbox,
            // A first test has no due moment; its backup's completion is just as stable.
            due: due.unwrap_or(completed),
        },
    }
}

fn object_name(meta: &ObjectMeta) -> String {
    meta.name.clone().unwrap_or_default()
}

fn newest_policy_backup<'a>(
    velero: &VeleroView<'a>,
    policy: &str,
) -> Option<(&'a Backup, Timestamp)> {
    velero
        .backups()
        .filter(|b| belongs_to_policy(&b.metadata, policy))
        .filter_map(|b| Some((b, completed_at(b)?)))
        .max_by_key(|(_, at)| *at)
}

fn newest_policy_restore<'a>(velero: &VeleroView<'a>, policy: &str) -> Option<&'a Restore> {
    velero
        .restores()
        .filter(|r| belongs_to_policy(&r.metadata, policy))
        .max_by_key(|r| {
            let created = r.metadata.creation_timestamp.as_ref().map(|t| t.0);
            (created, r.metadata.name.clone())
        })
}

fn sandbox_of(restore: &Restore) -> String {
    let mapping = &restore.spec.namespace_mapping;
    mapping.values().next().cloned().unwrap_or_default()
}

/// Whether `last` already holds this result, or a newer one (then an older Restore that
/// became the newest, because a later one was deleted, must not overwrite it).
fn is_recorded(last: Option<&RestoreTestResult>, result: &RestoreTestResult) -> bool {
    last.is_some_and(|l| l.restore == result.restore || l.started.0 >= result.started.0)
}

/// The verdict on a finished Restore; None while Velero is still working on it.
pub fn restore_result(
    spec: &ValidBackupPolicy,
    test: &RestoreTest,
    restore: &Restore,
    now: Timestamp,
) -> Option<RestoreTestResult> {
    let status = restore.status.as_ref()?;
    let phase = status.phase.as_deref()?;
    if !TERMINAL_PHASES.contains(&phase) {
        return None;
    }
    let created = restore.metadata.creation_timestamp.as_ref();
    let started = status
        .start_timestamp
        .as_ref()
        .or(created)
        .map_or(now, |t| t.0);
    let completed = status.completion_timestamp.as_ref().map_or(now, |t| t.0);
    let took = elapsed(started, completed);
    let items = status
        .progress
        .as_ref()
        .and_then(|p| p.items_restored)
        .unwrap_or(0);
    let mut reasons = Vec::new();
    if phase != "Completed" {
        let errors = status
            .errors
            .map(|e| format!(" with {e} errors"))
            .unwrap_or_default();
        reasons.push(format!("Velero ended the restore {phase}{errors}"));
    }
    let wanted = test.min_restored_items;
    if items < wanted {
        reasons.push(format!(
            "restored {items} items, fewer than the required {wanted}"
        ));
    }
    if let Some(rto) = spec.rto
        && took > rto
    {
        reasons.push(format!(
            "took {}, longer than the RTO {}",
            human(took),
            human(rto)
        ));
    }
    Some(RestoreTestResult {
        backup: restore.spec.backup_name.clone(),
        restore: object_name(&restore.metadata),
        started: Time(started),
        completed: Some(Time(completed)),
        duration_seconds: Some(i64::try_from(took.as_secs()).unwrap_or(i64::MAX)),
        items: Some(items),
        result: if reasons.is_empty() {
            "Passed"
        } else {
            "Failed"
        }
        .into(),
        message: reasons.join("; "),
    })
}

enum SandboxState {
    Missing,
    Terminating,
    /// Exists but is not a sandbox this policy created.
    Foreign,
    /// This policy's sandbox, without an intact deny-all policy: (re)apply.
    Incomplete,
    Ready,
}

fn sandbox_state(snapshot: &Snapshot, policy: &str, sandbox: &str) -> SandboxState {
    let Some(namespace) = snapshot
        .namespaces
        .iter()
        .find(|ns| ns.metadata.name.as_deref() == Some(sandbox))
    else {
        return SandboxState::Missing;
    };
    if namespace.metadata.deletion_timestamp.is_some() {
        return SandboxState::Terminating;
    }
    if !is_own_sandbox(&namespace.metadata, policy, snapshot) {
        return SandboxState::Foreign;
    }
    let quarantined = snapshot.network_policies.iter().any(|np| {
        np.metadata.namespace.as_deref() == Some(sandbox)
            && np.metadata.name.as_deref() == Some(SANDBOX_DENY_ALL)
            && is_deny_all(np)
    });
    if quarantined {
        SandboxState::Ready
    } else {
        SandboxState::Incomplete
    }
}

/// Selects every pod, governs both directions and allows nothing.
fn is_deny_all(policy: &NetworkPolicy) -> bool {
    let Some(spec) = &policy.spec else {
        return false;
    };
    let selects_all = spec.pod_selector.as_ref().is_none_or(|s| {
        s.match_labels.as_ref().is_none_or(BTreeMap::is_empty)
            && s.match_expressions.as_ref().is_none_or(Vec::is_empty)
    });
    let types = spec.policy_types.as_deref().unwrap_or_default();
    let both = ["Ingress", "Egress"]
        .iter()
        .all(|t| types.iter().any(|have| have == t));
    let no_rules = spec.ingress.as_ref().is_none_or(Vec::is_empty)
        && spec.egress.as_ref().is_none_or(Vec::is_empty);
    selects_all && both && no_rules
}

/// The sandbox of a finished, recorded Restore that still exists, with when the restore
/// finished. A sandbox created after that belongs to the next test and is left alone, as is
/// any namespace that is not a sandbox of this policy.
fn leftover_sandbox(
    snapshot: &Snapshot,
    policy: &str,
    restore: &Restore,
) -> Option<(String, Timestamp)> {
    let finished = restore.status.as_ref()?.completion_timestamp.as_ref()?.0;
    let sandbox = sandbox_of(restore);
    let namespace = snapshot
        .namespaces
        .iter()
        .find(|ns| ns.metadata.name.as_deref() == Some(sandbox.as_str()))?;
    let meta = &namespace.metadata;
    let created = meta.creation_timestamp.as_ref()?.0;
    let ours = is_own_sandbox(meta, policy, snapshot) && meta.deletion_timestamp.is_none();
    (ours && created <= finished).then_some((sandbox, finished))
}

#[cfg(test)]
#[path = "velero_tests.rs"]
mod tests;
