//! Label selection as every check and every desired object reads it.

use k8s_openapi::apimachinery::pkg::apis::meta::v1::LabelSelector;
use kube::core::{Selector, SelectorExt};
use std::collections::BTreeMap;

/// Whether `selector` selects an object with `labels`. An invalid selector selects nothing,
/// so a typo can never widen a policy's reach.
pub fn selects(selector: &LabelSelector, labels: &BTreeMap<String, String>) -> bool {
    Selector::try_from(selector.clone()).is_ok_and(|s| s.matches(labels))
}

/// A selector as a resource's spec writes it (compiled on each use; one that does not
/// compile selects nothing) or as validation compiled it once.
pub trait LabelMatch {
    fn selects(&self, labels: &BTreeMap<String, String>) -> bool;
}

impl LabelMatch for LabelSelector {
    fn selects(&self, labels: &BTreeMap<String, String>) -> bool {
        selects(self, labels)
    }
}

impl LabelMatch for Selector {
    fn selects(&self, labels: &BTreeMap<String, String>) -> bool {
        self.matches(labels)
    }
}

/// A namespace a resource's selectors pick but that it leaves out of scope, and why.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct Excluded {
    pub namespace: String,
    pub reason: &'static str,
}

/// Why a namespace is out of scope: it is being deleted. (The other reasons are in
/// [`crate::snapshot`]: system, Velero, the operator's own, configured.)
pub const TERMINATING: &str = crate::conditions::Reason::Terminating.as_str();

/// The namespaces any of `selectors` picks that are left out of scope, with the reason.
pub fn excluded_namespaces<'a, S: LabelMatch + 'a>(
    selectors: impl IntoIterator<Item = &'a S>,
    snapshot: &crate::snapshot::Snapshot,
) -> Vec<Excluded> {
    let selectors: Vec<&S> = selectors.into_iter().collect();
    let mut out: Vec<Excluded> = snapshot
        .namespaces_with_labels()
        .filter(|(_, _, labels)| selectors.iter().any(|s| s.selects(labels)))
        .filter_map(|(namespace, name, _)| {
            Some(Excluded {
                namespace: name.to_string(),
                reason: snapshot.namespace_out_of_scope(namespace)?,
            })
        })
        .collect();
    out.sort();
    out
}

/// The names of the namespaces `selector` selects, sorted; excluded and Terminating ones are
/// out of scope (see [`excluded_namespaces`]).
pub fn selected_namespaces(
    selector: &impl LabelMatch,
    snapshot: &crate::snapshot::Snapshot,
) -> Vec<String> {
    let mut names: Vec<String> = snapshot
        .namespaces_with_labels()
        .filter(|(namespace, _, _)| snapshot.namespace_out_of_scope(namespace).is_none())
        .filter(|(_, _, labels)| selector.selects(labels))
        .map(|(_, name, _)| name.to_string())
        .collect();
    names.sort();
    names
}
