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
    /// The selector compiled (`None`: it does not compile, and selects nothing): what a
    /// caller matching many label sets compiles once.
    fn compiled(&self) -> Option<std::borrow::Cow<'_, Selector>>;
}

impl LabelMatch for LabelSelector {
    fn selects(&self, labels: &BTreeMap<String, String>) -> bool {
        selects(self, labels)
    }

    fn compiled(&self) -> Option<std::borrow::Cow<'_, Selector>> {
        Selector::try_from(self.clone())
            .ok()
            .map(std::borrow::Cow::Owned)
    }
}

impl LabelMatch for Selector {
    fn selects(&self, labels: &BTreeMap<String, String>) -> bool {
        self.matches(labels)
    }

    fn compiled(&self) -> Option<std::borrow::Cow<'_, Selector>> {
        Some(std::borrow::Cow::Borrowed(self))
    }
}

/// A selector a validated spec owns: as written, for the objects that carry it (NetworkPolicy
/// peers, admission bindings, CEL), and compiled once, for matching.
#[derive(Clone, Debug, PartialEq)]
pub struct CheckedSelector {
    pub written: LabelSelector,
    pub compiled: Selector,
}

impl LabelMatch for CheckedSelector {
    fn selects(&self, labels: &BTreeMap<String, String>) -> bool {
        self.compiled.matches(labels)
    }

    fn compiled(&self) -> Option<std::borrow::Cow<'_, Selector>> {
        Some(std::borrow::Cow::Borrowed(&self.compiled))
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
    // Out of scope first: few namespaces are, and a selector (compiled on each use when
    // written as in a spec) need not be matched against the others.
    let mut out: Vec<Excluded> = snapshot
        .namespaces_with_labels()
        .filter_map(|(namespace, name, labels)| {
            let reason = snapshot.namespace_out_of_scope(namespace)?;
            selectors
                .iter()
                .any(|s| s.selects(labels))
                .then(|| Excluded {
                    namespace: name.to_string(),
                    reason,
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
    // Matched against every namespace: compiled once.
    let Some(selector) = selector.compiled() else {
        return Vec::new();
    };
    let mut names: Vec<String> = snapshot
        .namespaces_with_labels()
        .filter(|(namespace, _, _)| snapshot.namespace_out_of_scope(namespace).is_none())
        .filter(|(_, _, labels)| selector.matches(labels))
        .map(|(_, name, _)| name.to_string())
        .collect();
    names.sort();
    names
}
