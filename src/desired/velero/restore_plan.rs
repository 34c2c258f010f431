//! The next step of a policy's restore test, planned from the Snapshot alone.

use super::{SANDBOX_DENY_ALL, sandbox_name};
use crate::api::backup_policy::RestoreTestResult;
use crate::snapshot::Snapshot;
use crate::validate::{RestoreTest, ValidBackupPolicy};
use crate::velero::{Backup, Restore};
use crate::vocabulary::sandbox::is_own_sandbox;
use crate::vocabulary::selection::selected_namespaces;
use crate::vocabulary::time::{elapsed, finished_at, human, later};
use crate::vocabulary::velero_view::{VeleroView, belongs_to_policy, completed_at, includes};
use jiff::Timestamp;
use k8s_openapi::api::networking::v1::NetworkPolicy;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{ObjectMeta, Time};
use std::collections::BTreeMap;
use std::time::Duration;

/// How soon to look again when a test is due but cannot start yet (no backup, sandbox still
/// terminating, Velero missing). Watches usually wake the controller earlier.
pub const RETRY_LATER: Duration = Duration::from_secs(15 * 60);
/// A failed test is retried this soon (or after `every`, if shorter), not a year later.
pub const RETRY_FAILED_TEST_AFTER: Duration = Duration::from_secs(24 * 3600);
const TERMINAL_PHASES: &[&str] = &["Completed", "PartiallyFailed", "Failed", "FailedValidation"];
/// The one thing the controller should do next for a policy's restore test. Each step is
/// decided from the Snapshot alone, so a restarted operator picks up where it left off.
///
/// The sandbox and the Restore are created on demand by these steps, not listed among the
/// policy's desired objects: the controller must not prune owned restore-test Namespaces
/// (label [`RESTORE_TEST_LABEL`](crate::vocabulary::labels::RESTORE_TEST_LABEL)) or owned Restores; it removes sandboxes only on
/// [`RestoreTestStep::DeleteSandbox`] and leaves Restores as Velero's record of the test
/// (ownerReferences clean both up when the policy is deleted).
#[derive(Clone, Debug, PartialEq)]
pub enum RestoreTestStep {
    /// Nothing to do: requeue at `next_due` (`Timestamp::MAX` when no test is configured).
    Idle { next_due: Timestamp },
    /// Apply [`sandbox_objects`](super::sandbox_objects). The Restore waits until the Snapshot shows both: Velero
    /// keeps an existing namespace's labels, and a restore into a namespace without the
    /// deny-all policy would run production workloads unquarantined.
    CreateSandbox {
        backup: String,
        source: String,
        sandbox: String,
    },
    /// Create (not apply) [`restore_object`](super::restore_object) with these arguments; AlreadyExists means an
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
pub(super) fn leftover_sandbox(
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
