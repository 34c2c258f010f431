//! `automated-backup`: a Velero Schedule covers every selected namespace at least once per
//! RPO, and each has a completed backup younger than the RPO.

use super::namespace_ref;
use crate::catalog::ControlId;
use crate::evaluate::{ControlOutcome, Violation, selected_namespaces};
use crate::snapshot::Snapshot;
use crate::validate::ValidBackupPolicy;
use crate::velero::{Backup, Schedule};
use crate::vocabulary::time::{elapsed, human, human_age, later};
use crate::vocabulary::velero_view::{
    Coverage, VeleroView, attempted_at, backup_phase, belongs_to_policy, completed_at, qualified,
};
use jiff::Timestamp;
use std::collections::HashMap;
use std::time::Duration;

const FAILED_PHASES: &[&str] = &["Failed", "PartiallyFailed", "FailedValidation"];

pub(super) fn automated_backup(
    name: &str,
    spec: &ValidBackupPolicy,
    velero: &VeleroView,
    namespaces: &[String],
    now: Timestamp,
) -> ControlOutcome {
    let intervals = schedule_intervals(velero, spec.rpo, now);
    let violations = namespaces
        .iter()
        .flat_map(|ns| namespace_findings(name, spec, velero, &intervals, ns, now).0)
        .collect();
    ControlOutcome::checked(ControlId::AutomatedBackup, namespaces.len(), violations)
}

/// The namespaces whose findings ([`namespace_findings`]) a Schedule's presence, absence or
/// change can change: those its template's include list names (a namespace outside it is
/// never covered). None when that may be any namespace: the list names every namespace
/// (empty, or `*`). (Its interval verdict is the Schedule's, compared whole: see
/// [`schedule_intervals`].)
pub fn namespaces_a_schedule_judges(schedule: &Schedule) -> Option<&[String]> {
    named_namespaces(&schedule.spec.template.included_namespaces)
}

/// The namespaces whose findings a Schedule's change from `old` to `new` can change. When the
/// two differ only in which namespaces their include lists name (a policy's own Schedule
/// rewritten after a namespace joined or left its selection), a namespace both name sees the
/// same Schedule: only those one names and the other does not. Else those either names
/// ([`namespaces_a_schedule_judges`]); None when that may be any namespace.
pub fn namespaces_a_schedule_change_judges(old: &Schedule, new: &Schedule) -> Option<Vec<String>> {
    let old_named = namespaces_a_schedule_judges(old)?;
    let new_named = namespaces_a_schedule_judges(new)?;
    if !same_but_namespaces(old, new) {
        return Some(old_named.iter().chain(new_named).cloned().collect());
    }
    let old_set: std::collections::BTreeSet<&String> = old_named.iter().collect();
    let new_set: std::collections::BTreeSet<&String> = new_named.iter().collect();
    Some(
        old_set
            .symmetric_difference(&new_set)
            .map(|n| (*n).clone())
            .collect(),
    )
}

/// Whether two versions of a Schedule are equal but for their include lists and the
/// bookkeeping no finding reads: the API server's (resource version, generation, managed
/// fields) and the digest the operator stamps on what it renders, which moves with the list.
fn same_but_namespaces(old: &Schedule, new: &Schedule) -> bool {
    let bare = |s: &Schedule| {
        let mut s = s.clone();
        s.spec.template.included_namespaces = Vec::new();
        s.metadata.resource_version = None;
        s.metadata.generation = None;
        s.metadata.managed_fields = None;
        if let Some(annotations) = s.metadata.annotations.as_mut() {
            annotations.remove(crate::desired::drift::RENDERED);
        }
        s.metadata.annotations.take_if(|a| a.is_empty());
        s
    };
    bare(old) == bare(new)
}

/// [`namespaces_a_schedule_judges`] for a Backup: those its include list names, unless it
/// failed (a namespace whose newest attempt failed counts every failed backup of the policy,
/// whichever namespaces they hold) or names every namespace.
pub fn namespaces_a_backup_judges(backup: &Backup) -> Option<&[String]> {
    if FAILED_PHASES.contains(&backup_phase(backup)) {
        return None;
    }
    named_namespaces(&backup.spec.included_namespaces)
}

fn named_namespaces(included: &[String]) -> Option<&[String]> {
    let every = included.is_empty() || included.iter().any(|n| n == "*");
    (!every).then_some(included)
}

/// Per Schedule (by its qualified name), why it does not run at least once per RPO, or None.
pub type ScheduleIntervals = HashMap<String, Option<String>>;

/// Whether a Schedule runs often enough is the Schedule's, not the namespace's: its cron is
/// walked once, not once per namespace it covers. Depends on `now` (the gaps ahead).
pub fn schedule_intervals(velero: &VeleroView, rpo: Duration, now: Timestamp) -> ScheduleIntervals {
    velero
        .schedules()
        .map(|s| {
            (
                qualified(&s.metadata),
                schedule_interval_problem(s, rpo, now),
            )
        })
        .collect()
}

/// How long a namespace's `automated-backup` findings, judged at some instant, stay what a
/// judgement at another instant would find (Velero's objects, the namespace and the
/// Schedules' intervals unchanged).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Holds {
    /// Time plays no part (no completed backup: nothing ages).
    Always,
    /// Up to and including this instant: the newest completed backup is fresh until then.
    Until(Timestamp),
    /// At this instant only: a stale backup's finding names its age.
    At(Timestamp),
}

impl Holds {
    pub fn at(self, now: Timestamp) -> bool {
        match self {
            Holds::Always => true,
            Holds::Until(until) => now <= until,
            Holds::At(at) => now == at,
        }
    }
}

/// One selected namespace's `automated-backup` findings, and how long they hold: the unit the
/// incremental engine keeps per namespace.
pub fn namespace_findings(
    name: &str,
    spec: &ValidBackupPolicy,
    velero: &VeleroView,
    intervals: &ScheduleIntervals,
    namespace: &str,
    now: Timestamp,
) -> (Vec<Violation>, Holds) {
    let rpo = spec.rpo;
    let schedule = schedule_problem(velero, intervals, namespace, rpo);
    let (freshness, holds) = freshness_problem(name, velero, namespace, rpo, now);
    // The namespace's reference (a copy of its labels) only for a finding: most namespaces of
    // a backed-up cluster have none.
    let problems: Vec<String> = [schedule, freshness].into_iter().flatten().collect();
    if problems.is_empty() {
        return (Vec::new(), holds);
    }
    let object = namespace_ref(velero.snapshot, namespace);
    let findings = problems
        .into_iter()
        .map(|message| Violation::new(object.clone(), message))
        .collect();
    (findings, holds)
}

/// Why no Schedule covers `namespace` at least once per RPO, or None when one does.
fn schedule_problem(
    velero: &VeleroView,
    intervals: &HashMap<String, Option<String>>,
    namespace: &str,
    rpo: Duration,
) -> Option<String> {
    let covering: Vec<(&Schedule, Coverage)> = velero
        .schedule_reaches()
        .map(|(s, reach)| (s, reach.coverage(namespace)))
        .filter(|(_, coverage)| *coverage != Coverage::Outside)
        .collect();
    if covering.is_empty() {
        return Some(format!(
            "namespace `{namespace}` is not covered by any Velero Schedule in `{}`",
            velero.namespace
        ));
    }
    let mut reasons = Vec::new();
    for (schedule, coverage) in covering {
        let object = qualified(&schedule.metadata);
        if schedule.spec.paused == Some(true) {
            reasons.push(format!("Schedule `{object}` is paused"));
            continue;
        }
        if let Coverage::Partial(what) = coverage {
            reasons.push(format!(
                "Schedule `{object}` backs up only part of the namespace ({what})"
            ));
            continue;
        }
        match intervals.get(&object) {
            Some(None) => return None,
            Some(Some(reason)) => reasons.push(reason.clone()),
            // Judged above for every Schedule; one that was not is never taken as running.
            None => reasons.push(format!("Schedule `{object}` could not be judged")),
        }
    }
    // In one order whatever order the API listed the Schedules in.
    reasons.sort();
    Some(format!(
        "namespace `{namespace}` has no active Schedule of the whole namespace within the RPO {}: {}",
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

/// Why the newest successful backup of `namespace` is missing or too old, or None; and how
/// long that answer holds.
fn freshness_problem(
    name: &str,
    velero: &VeleroView,
    namespace: &str,
    rpo: Duration,
    now: Timestamp,
) -> (Option<String>, Holds) {
    let (problem, holds) = match velero.newest_completed_backup(namespace) {
        None => (
            format!("namespace `{namespace}` has no completed backup"),
            Holds::Always,
        ),
        Some((backup, at)) => {
            let age = elapsed(at, now);
            if age <= rpo {
                return (None, Holds::Until(later(at, rpo)));
            }
            let problem = format!(
                "newest completed backup `{}` of namespace `{namespace}` is {} old, older than the RPO {}",
                backup.metadata.name.as_deref().unwrap_or_default(),
                human_age(age),
                human(rpo)
            );
            (problem, Holds::At(now))
        }
    };
    (
        Some(problem + &failed_attempts_note(name, velero, namespace)),
        holds,
    )
}

/// When the newest attempt for `namespace` failed, says so and counts the policy's failed
/// backups: that points at a broken Velero rather than a missing schedule.
fn failed_attempts_note(name: &str, velero: &VeleroView, namespace: &str) -> String {
    let newest_attempt = velero
        .backup_reaches()
        .filter(|(_, reach)| reach.includes(namespace))
        .map(|(b, _)| b)
        // Ties by name, not by the order the API listed them in (see
        // `newest_completed_backup`).
        .max_by(|a, b| {
            attempted_at(a)
                .cmp(&attempted_at(b))
                .then_with(|| a.metadata.name.cmp(&b.metadata.name))
        });
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
    let velero = VeleroView::new(snapshot, &spec.velero_namespace);
    // Without a completed backup no namespace is fresh: no selection (a walk of every
    // namespace) to make.
    if !velero.backups().any(|b| completed_at(b).is_some()) {
        return None;
    }
    selected_namespaces(&spec.namespace_selector, snapshot)
        .iter()
        .filter_map(|ns| velero.newest_completed_backup(ns))
        .map(|(_, at)| later(at, rpo))
        .filter(|deadline| *deadline > now)
        .min()
}
