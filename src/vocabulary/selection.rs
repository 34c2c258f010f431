//! Label selection as every check and every desired object reads it.

use k8s_openapi::apimachinery::pkg::apis::meta::v1::LabelSelector;
use kube::core::{Selector, SelectorExt};
use std::collections::BTreeMap;

/// Whether `selector` selects an object with `labels`. An invalid selector selects nothing,
/// so a typo can never widen a policy's reach.
pub fn selects(selector: &LabelSelector, labels: &BTreeMap<String, String>) -> bool {
    Selector::try_from(selector.clone()).is_ok_and(|s| s.matches(labels))
}

/// The names of the namespaces `selector` selects, sorted.
pub fn selected_namespaces(
    selector: &LabelSelector,
    snapshot: &crate::snapshot::Snapshot,
) -> Vec<String> {
    let mut names: Vec<String> = snapshot
        .namespace_labels()
        .filter(|(_, labels)| selects(selector, labels))
        .map(|(name, _)| name.to_string())
        .collect();
    names.sort();
    names
}
