//! The next step of a policy's restore test, planned from the Snapshot alone.

use super::verify::{Verification, verify_sandbox};
use super::{SANDBOX_DENY_ALL, sandbox_name};
use crate::api::backup_policy::{MeasuredBy, RestoreTestResult};
use crate::snapshot::Snapshot;
use crate::validate::{RestoreTest, ValidBackupPolicy};
use crate::velero::{Backup, Restore};
use crate::vocabulary::sandbox::is_own_sandbox;
use crate::vocabulary::selection::selected_namespaces;
use crate::vocabulary::time::{elapsed, finished_at, human, human_measured, later, millis};
use crate::vocabulary::velero_records::{Record, VeleroRecords};
use crate::vocabulary::velero_view::{Coverage, VeleroView, belongs_to_policy, completed_at};
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
// One step is planned per reconcile and consumed at once: boxing the verdict would buy nothing.
#[allow(clippy::large_enum_variant)]
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
    /// A Restore is running: nothing to write; Restore watch events bring the next step, or
    /// `until` (when the RTO runs out) does.
    Waiting {
        restore: String,
        sandbox: String,
        until: Option<Timestamp>,
    },
    /// A Restore finished: fetch what Velero itself recorded about it and its backup (into
    /// the records the next plan reads), then plan again.
    Verify { backup: String, restore: String },
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
    records: &VeleroRecords,
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
    let velero = VeleroView::new(snapshot, &spec.velero_namespace);
    let current = newest_policy_restore(&velero, name);
    if let Some(restore) = current {
        let source = restore.spec.included_namespaces.first().cloned();
        let source = source.unwrap_or_default();
        let own = Ownership::OperatorRan;
        let judged = judge_current(
            spec, test, restore, &source, own, last, snapshot, records, now,
        );
        if let Some(step) = judged {
            return step;
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

/// What the newest Restore of the policy asks for, if anything: wait for it, verify it,
/// or record its verdict. None once its verdict is recorded (or it gave up on the RTO and
/// that is recorded): the plan goes on to clean-up and the next test.
#[allow(clippy::too_many_arguments)]
fn judge_current(
    spec: &ValidBackupPolicy,
    test: &RestoreTest,
    restore: &Restore,
    source: &str,
    own: Ownership,
    last: Option<&RestoreTestResult>,
    snapshot: &Snapshot,
    records: &VeleroRecords,
    now: Timestamp,
) -> Option<RestoreTestStep> {
    let name = object_name(&restore.metadata);
    let sandbox = target_of(restore, source);
    let clock = Clock::of(restore, own);
    if last.is_some_and(|l| l.restore == name || l.started.0 >= clock.started(restore, now)) {
        return None;
    }
    if !is_terminal(restore) {
        let started = clock.started(restore, now);
        let until = spec.rto.map(|rto| later(started, rto));
        if let Some(until) = until
            && until <= now
        {
            let rto = spec.rto.unwrap_or_default();
            let mut result = verdict_base(restore, source, clock.measure(restore, now));
            result.result = "Failed".into();
            result.reason = Some(RTO_EXCEEDED.into());
            result.message = format!(
                "still running after {}, longer than the RTO {}",
                human(elapsed(started, now)),
                human(rto)
            );
            return Some(RestoreTestStep::Record(result));
        }
        return Some(RestoreTestStep::Waiting {
            restore: name,
            sandbox,
            until,
        });
    }
    let backup = &restore.spec.backup_name;
    let (Some(contents), Some(outcome)) =
        (records.backups.get(backup), records.restores.get(&name))
    else {
        return Some(RestoreTestStep::Verify {
            backup: backup.clone(),
            restore: name,
        });
    };
    let result = restore_result(
        spec,
        test,
        restore,
        clock,
        &VeleroEvidence {
            contents,
            outcome,
            source,
            target: &sandbox,
            snapshot,
        },
        now,
    )?;
    (!is_recorded(last, &result)).then_some(RestoreTestStep::Record(result))
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
    // Every selected namespace in turn: the one tested longest ago (or never) next, among
    // those a completed backup of the policy holds whole. Decided from the Snapshot alone,
    // so consecutive steps agree on the sandbox.
    let selected = selected_namespaces(&spec.namespace_selector, velero.snapshot);
    let candidates = selected.into_iter().filter_map(|ns| {
        let (backup, completed) = newest_policy_backup(velero, name, &ns)?;
        let tested = last_tested(velero, name, &ns);
        Some((tested, ns, backup, completed))
    });
    let Some((_, source, backup, completed)) =
        candidates.min_by(|a, b| (a.0, &a.1).cmp(&(b.0, &b.1)))
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

/// The newest completed backup of the policy that holds all of `namespace`.
fn newest_policy_backup<'a>(
    velero: &VeleroView<'a>,
    policy: &str,
    namespace: &str,
) -> Option<(&'a Backup, Timestamp)> {
    velero
        .backup_reaches()
        .filter(|(b, _)| belongs_to_policy(&b.metadata, policy))
        .filter(|(_, reach)| reach.coverage(namespace) == Coverage::Whole)
        .filter_map(|(b, _)| Some((b, completed_at(b)?)))
        .max_by_key(|(_, at)| *at)
}

/// When the policy last started a restore test of `namespace`; None if never (first in line).
fn last_tested(velero: &VeleroView, policy: &str, namespace: &str) -> Option<Timestamp> {
    velero
        .restores()
        .filter(|r| belongs_to_policy(&r.metadata, policy))
        .filter(|r| r.spec.included_namespaces.iter().any(|n| n == namespace))
        .filter_map(|r| r.metadata.creation_timestamp.as_ref().map(|t| t.0))
        .max()
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

/// Where a restore put `source`: its mapped namespace, or `source` itself.
fn target_of(restore: &Restore, source: &str) -> String {
    let mapping = &restore.spec.namespace_mapping;
    mapping
        .get(source)
        .cloned()
        .unwrap_or_else(|| source.to_string())
}

/// Audit mode restores nothing: the newest Restore of a selected namespace, whoever ran it,
/// is verified against its backup the same way and recorded. With none, the evaluation
/// fails `restore-tested` ("no restore test has run yet"), never NotApplicable. A policy that
/// declares an RTO but configures no `restoreTest` is judged this way in both modes.
pub fn judge_existing_restores(
    spec: &ValidBackupPolicy,
    last: Option<&RestoreTestResult>,
    snapshot: &Snapshot,
    records: &VeleroRecords,
    now: Timestamp,
) -> RestoreTestStep {
    let idle = RestoreTestStep::Idle {
        next_due: later(now, RETRY_LATER),
    };
    let Some(test) = &spec.judged_restore_test() else {
        return RestoreTestStep::Idle {
            next_due: Timestamp::MAX,
        };
    };
    if !snapshot.velero.installed {
        return idle;
    }
    let velero = VeleroView::new(snapshot, &spec.velero_namespace);
    // Without a Restore there is nothing to judge: the selection (a walk of every namespace,
    // twice per pass) is not made.
    if velero.restores().next().is_none() {
        return idle;
    }
    let selected: std::collections::HashSet<String> =
        selected_namespaces(&spec.namespace_selector, snapshot)
            .into_iter()
            .collect();
    let newest = velero
        .restores()
        .filter_map(|r| {
            let source = r
                .spec
                .included_namespaces
                .iter()
                .find(|n| selected.contains(n.as_str()))?;
            let created = r.metadata.creation_timestamp.as_ref().map(|t| t.0);
            Some(((created, r.metadata.name.clone()), r, source.clone()))
        })
        .max_by(|a, b| a.0.cmp(&b.0));
    let Some((_, restore, source)) = newest else {
        return idle;
    };
    let own = Ownership::SomeoneElseRan;
    judge_current(
        spec, test, restore, &source, own, last, snapshot, records, now,
    )
    .unwrap_or(idle)
}

/// Whether `last` already holds this result, or a newer one (then an older Restore that
/// became the newest, because a later one was deleted, must not overwrite it).
fn is_recorded(last: Option<&RestoreTestResult>, result: &RestoreTestResult) -> bool {
    last.is_some_and(|l| l.restore == result.restore || l.started.0 >= result.started.0)
}

/// `RestoreTestResult::reason` when a restore outlives the RTO.
pub const RTO_EXCEEDED: &str = crate::conditions::Reason::RTOExceeded.as_str();

/// What only the Velero server could have produced about a finished restore, and where to
/// look for its result.
pub struct VeleroEvidence<'a> {
    pub contents: &'a Record<crate::vocabulary::velero_records::BackupContents>,
    pub outcome: &'a Record<crate::vocabulary::velero_records::RestoreOutcome>,
    /// The namespace restored, and where it was restored to.
    pub source: &'a str,
    pub target: &'a str,
    pub snapshot: &'a Snapshot,
}

fn is_terminal(restore: &Restore) -> bool {
    let phase = restore.status.as_ref().and_then(|s| s.phase.as_deref());
    phase.is_some_and(|p| TERMINAL_PHASES.contains(&p))
}

/// When the operator created one of its own Restores, on its own clock, to the nanosecond
/// (RFC 3339). The API server's `creationTimestamp` and Velero's timestamps are whole seconds:
/// a restore that takes a few hundred milliseconds would read `0s`.
pub const CREATED_AT_ANNOTATION: &str = "security.baseline.dev/created-at";

/// Whether the operator ran a Restore (Enforce mode's own tests) or someone else did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Ownership {
    OperatorRan,
    SomeoneElseRan,
}

/// How a test's duration is measured.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Clock {
    /// The operator's clock, from creating the Restore (its [`CREATED_AT_ANNOTATION`]) to
    /// verifying what it restored: the restore as a recovery, not only Velero's part of it.
    Operator { created: Timestamp },
    /// Velero's start and completion timestamps (whole seconds), for restores others ran.
    Velero,
}

/// A measured test: from `started` to `ended` on `by`'s clock.
pub struct Measured {
    pub started: Timestamp,
    pub ended: Timestamp,
    pub by: MeasuredBy,
}

impl Clock {
    /// The operator's clock for its own Restores that carry their creation instant (the
    /// annotation is trusted only there: anyone else's could claim any instant); Velero's
    /// otherwise.
    fn of(restore: &Restore, own: Ownership) -> Self {
        let stamped = restore
            .metadata
            .annotations
            .as_ref()
            .and_then(|a| a.get(CREATED_AT_ANNOTATION))
            .and_then(|text| text.parse::<Timestamp>().ok());
        match (own, stamped) {
            (Ownership::OperatorRan, Some(created)) => Clock::Operator { created },
            _ => Clock::Velero,
        }
    }

    /// When the test started on this clock.
    fn started(self, restore: &Restore, now: Timestamp) -> Timestamp {
        match self {
            Clock::Operator { created } => created,
            Clock::Velero => {
                let status = restore.status.as_ref();
                let started = status.and_then(|s| s.start_timestamp.as_ref());
                started
                    .or(restore.metadata.creation_timestamp.as_ref())
                    .map_or(now, |t| t.0)
            }
        }
    }

    /// The test from its start to `now` (the operator's verification, or the moment it gave
    /// up on a restore still running) or, on Velero's clock, to Velero's completion.
    fn measure(self, restore: &Restore, now: Timestamp) -> Measured {
        let started = self.started(restore, now);
        match self {
            Clock::Operator { .. } => Measured {
                started,
                ended: now.max(started),
                by: MeasuredBy::Operator,
            },
            Clock::Velero => {
                let status = restore.status.as_ref();
                let completed = status.and_then(|s| s.completion_timestamp.as_ref());
                Measured {
                    started,
                    ended: completed.map_or(now, |t| t.0).max(started),
                    by: MeasuredBy::Velero,
                }
            }
        }
    }
}

fn verdict_base(restore: &Restore, source: &str, measured: Measured) -> RestoreTestResult {
    let took = elapsed(measured.started, measured.ended);
    RestoreTestResult {
        backup: restore.spec.backup_name.clone(),
        restore: object_name(&restore.metadata),
        started: Time(measured.started),
        completed: Some(Time(measured.ended)),
        duration_milliseconds: Some(millis(took)),
        duration: human_measured(took, measured.by),
        measured_by: Some(measured.by),
        duration_seconds: None,
        items: None,
        result: "Running".into(),
        reason: None,
        namespace: (!source.is_empty()).then(|| source.to_string()),
        verified: None,
        verified_of: None,
        message: String::new(),
    }
}

/// How many of Velero's errors a verdict names; the rest are counted.
const ERRORS_SHOWN: usize = 5;

/// The verdict on a finished Restore, checked against what Velero itself recorded; None
/// while Velero is still working on it.
pub fn restore_result(
    spec: &ValidBackupPolicy,
    test: &RestoreTest,
    restore: &Restore,
    clock: Clock,
    evidence: &VeleroEvidence,
    now: Timestamp,
) -> Option<RestoreTestResult> {
    if !is_terminal(restore) {
        return None;
    }
    let status = restore.status.as_ref()?;
    let phase = status.phase.as_deref().unwrap_or_default();
    let measured = clock.measure(restore, now);
    let took = elapsed(measured.started, measured.ended);
    let items = status
        .progress
        .as_ref()
        .and_then(|p| p.items_restored)
        .unwrap_or(0);
    let mut result = verdict_base(restore, evidence.source, measured);
    result.items = Some(items);
    // (reason, message), in the order a reader should see them.
    let mut problems: Vec<(&str, String)> = Vec::new();
    let backup = &restore.spec.backup_name;
    let name = &result.restore;
    if *evidence.contents == Record::Missing {
        problems.push((
            "NotRunByVelero",
            format!("Velero's object store holds no contents for backup `{backup}`"),
        ));
    }
    match evidence.outcome {
        Record::Missing => problems.push((
            "NotRunByVelero",
            format!(
                "Velero's object store holds no results for restore `{name}`: Velero did not run it"
            ),
        )),
        Record::Found(outcome) if phase != "Completed" || !outcome.errors.is_empty() => {
            let mut shown: Vec<&str> = outcome
                .errors
                .iter()
                .take(ERRORS_SHOWN)
                .map(String::as_str)
                .collect();
            let more = outcome.errors.len().saturating_sub(ERRORS_SHOWN);
            let more = format!("and {more} more");
            if outcome.errors.len() > ERRORS_SHOWN {
                shown.push(&more);
            }
            let errors = match shown.is_empty() {
                true => String::new(),
                false => format!(": {}", shown.join("; ")),
            };
            problems.push((
                "RestoreFailed",
                format!("Velero ended the restore {phase}{errors}"),
            ));
        }
        Record::Found(_) => {}
    }
    if let Some(rto) = spec.rto
        && took > rto
    {
        problems.push((
            RTO_EXCEEDED,
            format!("took {}, longer than the RTO {}", human(took), human(rto)),
        ));
    }
    if let Record::Found(contents) = evidence.contents {
        let Verification {
            looked_for,
            found,
            missing,
            by_velero_only,
        } = verify_sandbox(
            contents,
            evidence.source,
            evidence.target,
            evidence.snapshot,
        );
        result.verified = Some(found as i64);
        result.verified_of = Some(looked_for as i64);
        if !missing.is_empty() {
            let shown: Vec<&str> = missing
                .iter()
                .take(ERRORS_SHOWN)
                .map(String::as_str)
                .collect();
            problems.push((
                "ContentMismatch",
                format!(
                    "{} of {looked_for} backed-up objects of `{}` are not in `{}`: {}",
                    missing.len(),
                    evidence.source,
                    evidence.target,
                    shown.join(", ")
                ),
            ));
        }
        if by_velero_only > 0 && problems.is_empty() {
            result.message = format!(
                "{found} backed-up objects found in `{}`; {by_velero_only} more of kinds the operator does not watch, restored by Velero's record",
                evidence.target
            );
        }
    }
    let wanted = test.min_restored_items;
    if items < wanted {
        problems.push((
            "TooFewItems",
            format!("restored {items} items, fewer than the required {wanted}"),
        ));
    }
    match problems.first() {
        None => {
            result.result = "Passed".into();
            if result.message.is_empty() {
                result.message = format!(
                    "{} backed-up objects found in `{}`",
                    result.verified.unwrap_or(0),
                    evidence.target
                );
            }
        }
        Some((reason, _)) => {
            result.result = "Failed".into();
            result.reason = Some((*reason).to_string());
            let messages: Vec<String> = problems.into_iter().map(|(_, m)| m).collect();
            result.message = messages.join("; ");
        }
    }
    Some(result)
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
