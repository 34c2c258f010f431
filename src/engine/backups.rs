//! A BackupPolicy's `automated-backup` findings kept per selected namespace: the one part of
//! a policy's evaluation that grows with the cluster (one judgement per selected namespace,
//! most of them findings in a cluster not yet backed up). The other controls read Velero's
//! objects, a few per Schedule, and are judged whole on each evaluation.
//!
//! A namespace's findings are judged again when the namespace changed (its labels select it
//! or not and are copied into its findings), when they stop holding (a fresh backup turns
//! stale at a known instant, a stale one's finding names its age), when a Velero Schedule or
//! Backup naming it changed ([`reached_by`]), and for every namespace when what they all read
//! changed: the policy's spec, a Velero object naming every namespace (or a failed backup,
//! or another Velero kind), the Schedules' intervals (which depend on the instant), the
//! namespaces left out of scope.

use super::object::Object;
use super::partition::Partition;
use crate::catalog::ControlId;
use crate::evaluate::backup::{self, Holds, NamespaceParts, ScheduleIntervals};
use crate::evaluate::{ControlOutcome, Violation};
use crate::validate::ValidBackupPolicy;
use crate::vocabulary::selection::LabelMatch;
use crate::vocabulary::velero_view::VeleroView;
use jiff::Timestamp;
use std::collections::{BTreeMap, BTreeSet};

/// One selected namespace's findings and how long they hold.
#[derive(Clone, Debug)]
struct Kept {
    findings: Vec<Violation>,
    holds: Holds,
}

/// A BackupPolicy's kept state, made on its first evaluation.
#[derive(Clone, Debug)]
pub struct KeptBackups {
    /// What the kept findings were judged by: a different spec, Velero state (`epoch`) or
    /// intervals judges every namespace again.
    spec: ValidBackupPolicy,
    epoch: u64,
    intervals: ScheduleIntervals,
    /// Exactly the namespaces the policy selects, each with its findings.
    kept: BTreeMap<String, Kept>,
    /// Namespaces changed since the last evaluation.
    pending: BTreeSet<String>,
}

impl KeptBackups {
    /// Namespaces whose findings may have changed.
    pub fn dirtied<'a>(&mut self, namespaces: impl IntoIterator<Item = &'a String>) {
        self.pending.extend(namespaces.into_iter().cloned());
    }
}

/// The namespaces whose findings a change of a Velero Schedule or Backup from `old` to `new`
/// may change: those either names (see `backup::namespaces_a_schedule_judges`). None when
/// that may be any namespace's (every namespace named, a failed backup, another kind): then
/// every namespace is judged again. A policy's own Schedule names the namespaces it selects,
/// so its rewrite after one namespace's relabel judged all of them again before this; and a
/// rewrite that changes only the list judges only the namespaces it added or dropped (see
/// `backup::namespaces_a_schedule_change_judges`).
pub fn reached_by(old: Option<&Object>, new: Option<&Object>) -> Option<BTreeSet<String>> {
    if let (Some(Object::velero_schedules(old)), Some(Object::velero_schedules(new))) = (old, new) {
        return backup::namespaces_a_schedule_change_judges(old, new)
            .map(|named| named.into_iter().collect());
    }
    let mut reached = BTreeSet::new();
    for object in old.into_iter().chain(new) {
        let named = match object {
            Object::velero_schedules(schedule) => backup::namespaces_a_schedule_judges(schedule)?,
            Object::velero_backups(b) => backup::namespaces_a_backup_judges(b)?,
            _ => return None,
        };
        reached.extend(named.iter().cloned());
    }
    Some(reached)
}

/// Counts what a fold judged.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Judged {
    /// Namespaces judged again.
    pub namespaces: u64,
    /// Whether every namespace was (the policy's first evaluation, or what all of them read
    /// changed).
    pub all: bool,
}

/// The policy's namespace parts at `now`, judging again only what changed since `state` was
/// kept (a fresh state when `None`).
pub fn fold(
    state: &mut Option<KeptBackups>,
    partition: &Partition,
    epoch: u64,
    name: &str,
    spec: &ValidBackupPolicy,
    now: Timestamp,
) -> (NamespaceParts, Judged) {
    let cluster = partition.cluster();
    let velero = VeleroView::new(cluster, &spec.velero_namespace);
    let intervals = backup::schedule_intervals(&velero, spec.rpo, now);
    // Compiled once: matched against every namespace on a full judgement.
    let selector = spec.namespace_selector.compiled();
    let selected = |namespace: &str| {
        selector
            .as_deref()
            .is_some_and(|s| partition.selects(s, namespace))
    };
    let judge = |namespace: &str| {
        let (findings, holds) =
            backup::namespace_findings(name, spec, &velero, &intervals, namespace, now);
        Kept { findings, holds }
    };
    let mut judged = Judged::default();
    let current = state
        .as_ref()
        .is_some_and(|s| s.spec == *spec && s.epoch == epoch && s.intervals == intervals);
    if !current {
        *state = None;
    }
    let kept = state.get_or_insert_with(|| {
        let kept: BTreeMap<String, Kept> = partition
            .namespace_names()
            .filter(|ns| selected(ns))
            .map(|ns| (ns.to_string(), judge(ns)))
            .collect();
        judged = Judged {
            namespaces: kept.len() as u64,
            all: true,
        };
        KeptBackups {
            spec: spec.clone(),
            epoch,
            intervals: intervals.clone(),
            kept,
            pending: BTreeSet::new(),
        }
    });
    if !judged.all {
        let mut again: BTreeSet<String> = std::mem::take(&mut kept.pending);
        again.extend(
            kept.kept
                .iter()
                .filter(|(_, k)| !k.holds.at(now))
                .map(|(ns, _)| ns.clone()),
        );
        for namespace in again {
            if selected(&namespace) {
                kept.kept.insert(namespace.clone(), judge(&namespace));
                judged.namespaces += 1;
            } else {
                kept.kept.remove(&namespace);
            }
        }
    }
    let findings = kept
        .kept
        .values()
        .flat_map(|k| k.findings.iter().cloned())
        .collect();
    let parts = NamespaceParts {
        namespaces: kept.kept.keys().cloned().collect(),
        automated: ControlOutcome::checked(ControlId::AutomatedBackup, kept.kept.len(), findings),
    };
    (parts, judged)
}
