//! A SecurityBaseline's kept per-namespace parts, and their sum kept as parts come and go.
//!
//! Folding every kept part into one evaluation gathered and sorted every namespace's findings
//! again for each pass (at 3,200 namespaces, 25,600 per-control lists for a change in one):
//! the sum is what every evidence pass reads, so it is kept instead. Replacing a namespace's
//! part takes the old one out and puts the new one in; the sum equals the fold of the parts
//! ([`per_namespace::merge_security_baseline`]), which the tests and the engine's property
//! test check.

use super::per_namespace::{self, NamespaceOutcomes};
use crate::catalog::ControlId;
use crate::evaluate::security_baseline::MissedByTemplates;
use crate::evaluate::{ControlOutcome, Violation};
use std::collections::BTreeMap;
use std::sync::Arc;

/// Per selected namespace, its part, and the sum of them all.
#[derive(Clone, Debug, Default)]
pub struct KeptParts {
    parts: BTreeMap<String, Arc<NamespaceOutcomes>>,
    sum: Sum,
}

impl KeptParts {
    /// Keeps `part` as `namespace`'s, in place of the one before (if any).
    pub fn insert(&mut self, namespace: String, part: Arc<NamespaceOutcomes>) {
        // The old part out first: its not-run entry is keyed by the namespace too.
        if let Some(old) = self.parts.remove(&namespace) {
            self.sum.remove(&namespace, &old);
        }
        self.sum.add(&namespace, &part);
        self.parts.insert(namespace, part);
    }

    /// Drops `namespace`'s part (if any).
    pub fn remove(&mut self, namespace: &str) {
        if let Some(old) = self.parts.remove(namespace) {
            self.sum.remove(namespace, &old);
        }
    }

    pub fn clear(&mut self) {
        *self = Self::default();
    }

    /// The namespaces with a part, sorted.
    pub fn namespaces(&self) -> impl Iterator<Item = &String> {
        self.parts.keys()
    }

    pub fn get(&self, namespace: &str) -> Option<(&String, &NamespaceOutcomes)> {
        self.parts
            .get_key_value(namespace)
            .map(|(ns, part)| (ns, part.as_ref()))
    }

    /// Every part's outcomes added up, control by control, as
    /// [`per_namespace::merge_security_baseline`] adds them (before the resource-level part).
    /// Empty when no namespace has a part.
    pub fn outcomes(&self) -> Vec<ControlOutcome> {
        self.sum.outcomes()
    }

    /// The workloads every part's exemptions miss by template, merged as
    /// [`MissedByTemplates::merge`] merges them.
    pub fn missed(&self) -> MissedByTemplates {
        self.sum.missed()
    }
}

/// The sum of the kept parts.
#[derive(Clone, Debug, Default)]
struct Sum {
    /// In the parts' (catalog) order; empty while no part was ever added.
    controls: Vec<ControlSum>,
    /// Per exemption, per control it names, each workload missed by template with the number
    /// of parts naming it.
    missed: Vec<Vec<BTreeMap<String, usize>>>,
    /// Parts added and not removed.
    parts: usize,
}

#[derive(Clone, Debug)]
struct ControlSum {
    id: ControlId,
    checked: i64,
    /// Each part's findings, with the number of parts holding it: sorted and deduplicated, as
    /// the fold leaves them.
    violations: BTreeMap<Violation, usize>,
    /// The namespaces whose part could not run the check, and why: the fold tells the first.
    not_run: BTreeMap<String, String>,
}

impl Sum {
    fn add(&mut self, namespace: &str, part: &NamespaceOutcomes) {
        if self.controls.is_empty() {
            self.controls = part
                .outcomes
                .iter()
                .map(|o| ControlSum {
                    id: o.id,
                    checked: 0,
                    violations: BTreeMap::new(),
                    not_run: BTreeMap::new(),
                })
                .collect();
        }
        for (sum, outcome) in self.controls.iter_mut().zip(&part.outcomes) {
            debug_assert_eq!(sum.id, outcome.id);
            sum.checked += i64::from(outcome.checked);
            for violation in &outcome.violations {
                *sum.violations.entry(violation.clone()).or_default() += 1;
            }
            if let Some(why) = &outcome.not_run {
                sum.not_run.insert(namespace.to_string(), why.clone());
            }
        }
        if self.missed.is_empty() {
            self.missed = part
                .missed
                .0
                .iter()
                .map(|controls| vec![BTreeMap::new(); controls.len()])
                .collect();
        }
        for (mine, theirs) in self.missed.iter_mut().zip(&part.missed.0) {
            for (mine, theirs) in mine.iter_mut().zip(theirs) {
                for workload in theirs {
                    *mine.entry(workload.clone()).or_default() += 1;
                }
            }
        }
        self.parts += 1;
    }

    fn remove(&mut self, namespace: &str, part: &NamespaceOutcomes) {
        for (sum, outcome) in self.controls.iter_mut().zip(&part.outcomes) {
            sum.checked -= i64::from(outcome.checked);
            for violation in &outcome.violations {
                take_one(&mut sum.violations, violation);
            }
            if outcome.not_run.is_some() {
                sum.not_run.remove(namespace);
            }
        }
        for (mine, theirs) in self.missed.iter_mut().zip(&part.missed.0) {
            for (mine, theirs) in mine.iter_mut().zip(theirs) {
                for workload in theirs {
                    take_one(mine, workload);
                }
            }
        }
        self.parts -= 1;
    }

    fn outcomes(&self) -> Vec<ControlOutcome> {
        if self.parts == 0 {
            return Vec::new();
        }
        self.controls
            .iter()
            .map(|sum| ControlOutcome {
                id: sum.id,
                applicable: true,
                checked: i32::try_from(sum.checked.max(0)).unwrap_or(i32::MAX),
                violations: sum.violations.keys().cloned().collect(),
                not_run: sum.not_run.values().next().cloned(),
            })
            .collect()
    }

    fn missed(&self) -> MissedByTemplates {
        if self.parts == 0 {
            return MissedByTemplates::default();
        }
        MissedByTemplates(
            self.missed
                .iter()
                .map(|controls| {
                    controls
                        .iter()
                        .map(|workloads| {
                            workloads
                                .iter()
                                .flat_map(|(w, n)| std::iter::repeat_n(w.clone(), *n))
                                .collect()
                        })
                        .collect()
                })
                .collect(),
        )
    }
}

/// Takes one count of `key` out of `counts`, dropping it at none.
fn take_one<K: Ord + Clone>(counts: &mut BTreeMap<K, usize>, key: &K) {
    if let Some(n) = counts.get_mut(key) {
        *n -= 1;
        if *n == 0 {
            counts.remove(key);
        }
    }
}

/// Adds the resource-level outcomes (see [`per_namespace::security_baseline_resource_level`])
/// to the parts' sum, as [`per_namespace::merge_security_baseline`] does: the same outcomes.
pub fn with_resource_level(
    resource_level: Vec<ControlOutcome>,
    parts: &[ControlOutcome],
) -> Vec<ControlOutcome> {
    let mut outcomes = resource_level;
    per_namespace::add(&mut outcomes, parts);
    // The parts' findings come sorted and deduplicated; the resource level's few are merged
    // in (a sort of two sorted runs, linear).
    per_namespace::sorted(outcomes)
}

#[cfg(test)]
#[path = "baseline_tally_tests.rs"]
mod tests;
