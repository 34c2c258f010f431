//! Per-namespace evaluation: a resource's raw outcomes for ONE namespace, and the fold of
//! kept per-namespace outcomes (plus the resource-level part) into the same [`Evaluation`]
//! the whole-snapshot `evaluate` returns.
//!
//! Exact because every SecurityBaseline control is a sum over namespaces: a namespace's part
//! reads that namespace's objects and cluster-scoped ones only (its NetworkPolicies' peers
//! read every Namespace's labels and the environments, which the namespace view holds). The
//! one exception is a ClusterRoleBinding: it is counted once, naming every selected
//! namespace's identities in one finding, so it is judged once per resource
//! ([`security_baseline_resource_level`]) and left out of namespace views. Violations are
//! sorted within each control (`ControlOutcome::checked`), so adding parts in any order gives
//! the whole's order.

use super::partition::Partition;
use crate::catalog::ControlId;
use crate::evaluate::security_baseline::{self, MissedByTemplates};
use crate::evaluate::{ControlOutcome, Evaluation, privilege};
use crate::snapshot::Snapshot;
use crate::validate::security_baseline::ValidSecurityBaseline;
use jiff::Timestamp;

/// What one namespace contributes to a SecurityBaseline's evaluation.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct NamespaceOutcomes {
    /// The eight controls' raw outcomes for this namespace alone, in catalog order.
    pub outcomes: Vec<ControlOutcome>,
    /// The workloads here that exemptions miss by template.
    pub missed: MissedByTemplates,
}

/// Whether `spec` judges `namespace`: it exists, is in scope and its selector picks it.
pub fn selects(spec: &ValidSecurityBaseline, partition: &Partition, namespace: &str) -> bool {
    partition.selects(&spec.namespace_selector, namespace)
}

/// `namespace`'s part of a SecurityBaseline's evaluation, read from `view` (its objects and
/// the cluster-scoped ones, see `Partition::with_namespace_view`).
pub fn security_baseline(
    spec: &ValidSecurityBaseline,
    namespace: &str,
    view: &Snapshot,
) -> NamespaceOutcomes {
    let namespaces = [namespace.to_string()];
    NamespaceOutcomes {
        outcomes: security_baseline::outcomes(spec, &namespaces, view),
        missed: security_baseline::missed_by_templates(spec, view, &namespaces),
    }
}

/// The part of a SecurityBaseline's evaluation that is not any one namespace's: whether each
/// control applies, and the ClusterRoleBindings naming identities of the `selected`
/// namespaces (or the broad groups that include them). `cluster` holds no namespaced object.
pub fn security_baseline_resource_level(
    spec: &ValidSecurityBaseline,
    selected: &[String],
    cluster: &Snapshot,
) -> Vec<ControlOutcome> {
    security_baseline::outcomes(spec, &[], cluster)
        .into_iter()
        .map(|outcome| match outcome.id {
            ControlId::LeastPrivilege => {
                privilege::least_privilege(spec.access.as_ref(), selected, cluster)
            }
            _ => outcome,
        })
        .collect()
}

/// Adds `part` to `total`, control by control (both in catalog order).
pub fn add(total: &mut [ControlOutcome], part: &[ControlOutcome]) {
    for (total, part) in total.iter_mut().zip(part) {
        debug_assert_eq!(total.id, part.id);
        total.checked = total.checked.saturating_add(part.checked);
        total.violations.extend(part.violations.iter().cloned());
        if total.not_run.is_none() {
            total.not_run.clone_from(&part.not_run);
        }
    }
}

/// Folds the resource-level part and each selected namespace's part into the Evaluation the
/// whole-snapshot `security_baseline::evaluate` returns. `selected` is sorted; `cluster` is
/// the partition's cluster-scoped part.
pub fn merge_security_baseline<'a>(
    name: &str,
    spec: &ValidSecurityBaseline,
    cluster: &Snapshot,
    selected: Vec<String>,
    parts: impl IntoIterator<Item = &'a NamespaceOutcomes>,
    now: Timestamp,
) -> Evaluation {
    let mut outcomes = security_baseline_resource_level(spec, &selected, cluster);
    let parts: Vec<&NamespaceOutcomes> = parts.into_iter().collect();
    // Each control's findings are gathered into one list sized once: grown part by part, it
    // was reallocated and copied over and over (thousands of findings at 3,200 namespaces).
    for (at, total) in outcomes.iter_mut().enumerate() {
        let more: usize = parts
            .iter()
            .filter_map(|part| part.outcomes.get(at))
            .map(|o| o.violations.len())
            .sum();
        total.violations.reserve(more);
    }
    let mut missed = MissedByTemplates::default();
    for part in parts {
        add(&mut outcomes, &part.outcomes);
        missed.merge(&part.missed);
    }
    security_baseline::assemble(
        name,
        spec,
        cluster,
        selected,
        sorted(outcomes),
        &missed,
        now,
    )
}

/// Added-up outcomes as one evaluation holds them: each applicable control's findings sorted
/// and deduplicated, its not-run reason kept.
pub fn sorted(outcomes: Vec<ControlOutcome>) -> Vec<ControlOutcome> {
    outcomes
        .into_iter()
        .map(|o| {
            if !o.applicable {
                return o;
            }
            let not_run = o.not_run.clone();
            let checked = usize::try_from(o.checked).unwrap_or_default();
            let merged = ControlOutcome::checked(o.id, checked, o.violations);
            match not_run {
                Some(why) => merged.with_check_not_run(why),
                None => merged,
            }
        })
        .collect()
}
