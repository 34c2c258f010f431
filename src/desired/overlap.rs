//! When several SecurityBaselines in Enforce mode select the same namespace, exactly one writes
//! each namespace-wide mechanism there (Pod Security labels, the default-deny and port
//! NetworkPolicies), so they never fight: for Pod Security the one with the strictest level,
//! for NetworkPolicies the first by name; ties by name. Every baseline computes the same
//! answer from the same snapshot, so no coordination is needed, and a baseline that stops
//! selecting the namespace (or is deleted) hands over on the next reconcile. The others keep
//! judging their own rules and say in their conditions who writes what.

use crate::api::security_baseline::PodSecurityLevel;
use crate::api::{Mode, SecurityBaseline};
use crate::evaluate::selects;
use crate::snapshot::Snapshot;
use kube::ResourceExt;
use std::collections::BTreeMap;

/// A namespace-wide mechanism with one writer per namespace.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mechanism {
    PodSecurityLabels,
    NetworkPolicies,
}

impl Mechanism {
    fn wanted_by(self, sb: &SecurityBaseline) -> Option<u8> {
        match self {
            // Stricter wins.
            Self::PodSecurityLabels => sb.spec.pod_security.as_ref().map(|p| match p.level {
                PodSecurityLevel::Baseline => 1,
                PodSecurityLevel::Restricted => 2,
            }),
            Self::NetworkPolicies => sb.spec.network.as_ref().map(|_| 0),
        }
    }

    fn what(self) -> &'static str {
        match self {
            Self::PodSecurityLabels => "Pod Security labels",
            Self::NetworkPolicies => "NetworkPolicies",
        }
    }
}

/// Who writes `mechanism` in each of `namespaces` (the ones `me` selects), and the notes for
/// `me`'s condition about namespaces other baselines also select.
pub struct Writers {
    /// Namespaces where `me` writes.
    pub mine: Vec<String>,
    pub notes: Vec<String>,
}

/// `me` is the baseline being reconciled (its spec may be newer than the snapshot's copy).
pub fn writers(
    me: &SecurityBaseline,
    mechanism: Mechanism,
    namespaces: &[String],
    snapshot: &Snapshot,
) -> Writers {
    let candidates: Vec<&SecurityBaseline> = std::iter::once(me)
        .chain(
            snapshot
                .custom_resources
                .security_baselines
                .iter()
                .map(AsRef::as_ref)
                .filter(|sb| sb.name_any() != me.name_any()),
        )
        .filter(|sb| sb.metadata.deletion_timestamp.is_none())
        .filter(|sb| sb.spec.mode() == Mode::Enforce)
        .filter(|sb| mechanism.wanted_by(sb).is_some())
        .collect();
    // No other baseline writes the mechanism: every namespace is `me`'s, without a look at
    // each one's labels (the common case, judged on every pass over thousands of namespaces).
    if candidates.iter().all(|sb| std::ptr::eq(*sb, me)) {
        return Writers {
            mine: namespaces.to_vec(),
            notes: Vec::new(),
        };
    }
    let labels: BTreeMap<&str, &BTreeMap<String, String>> = snapshot.namespace_labels().collect();
    let mut mine = Vec::new();
    // writer name -> (namespaces it writes for me to mention, the others selecting them)
    let mut elsewhere: BTreeMap<String, Vec<&str>> = BTreeMap::new();
    let mut shared: BTreeMap<String, Vec<&str>> = BTreeMap::new();
    for ns in namespaces {
        let Some(ns_labels) = labels.get(ns.as_str()) else {
            mine.push(ns.clone());
            continue;
        };
        let selecting: Vec<&SecurityBaseline> = candidates
            .iter()
            .copied()
            .filter(|sb| std::ptr::eq(*sb, me) || selects(&sb.spec.namespace_selector, ns_labels))
            .collect();
        // Strictest first; among equals, the first name.
        let writer = selecting
            .iter()
            .copied()
            .max_by(|a, b| {
                mechanism
                    .wanted_by(a)
                    .cmp(&mechanism.wanted_by(b))
                    .then_with(|| b.name_any().cmp(&a.name_any()))
            })
            .unwrap_or(me);
        let others: Vec<String> = selecting
            .iter()
            .filter(|sb| !std::ptr::eq(**sb, me))
            .map(|sb| sb.name_any())
            .collect();
        if std::ptr::eq(writer, me) {
            mine.push(ns.clone());
            if !others.is_empty() {
                shared.entry(others.join(", ")).or_default().push(ns);
            }
        } else {
            elsewhere.entry(writer.name_any()).or_default().push(ns);
        }
    }
    let what = mechanism.what();
    let mut notes = Vec::new();
    for (writer, names) in elsewhere {
        notes.push(format!(
            "namespace(s) {} are also selected by SecurityBaseline {writer}, which writes their {what} (one writer per namespace: {})",
            names.join(", "),
            rule(mechanism)
        ));
    }
    for (others, names) in shared {
        notes.push(format!(
            "namespace(s) {} are also selected by SecurityBaseline(s) {others}; this baseline writes their {what} ({})",
            names.join(", "),
            rule(mechanism)
        ));
    }
    Writers { mine, notes }
}

/// The baseline that writes the NetworkPolicies of a namespace with `labels`, as [`writers`]
/// decides it from the snapshot: among the baselines in Enforce mode with a network section
/// that select it, the first by name.
pub fn network_policy_writer<'a>(
    labels: &BTreeMap<String, String>,
    snapshot: &'a Snapshot,
) -> Option<&'a SecurityBaseline> {
    snapshot
        .custom_resources
        .security_baselines
        .iter()
        .map(AsRef::as_ref)
        .filter(|sb| sb.metadata.deletion_timestamp.is_none())
        .filter(|sb| sb.spec.mode() == Mode::Enforce)
        .filter(|sb| Mechanism::NetworkPolicies.wanted_by(sb).is_some())
        .filter(|sb| selects(&sb.spec.namespace_selector, labels))
        .min_by_key(|sb| sb.name_any())
}

fn rule(mechanism: Mechanism) -> &'static str {
    match mechanism {
        Mechanism::PodSecurityLabels => "the strictest level, then the first name",
        Mechanism::NetworkPolicies => "the first name",
    }
}

#[cfg(test)]
#[path = "overlap_tests.rs"]
mod tests;
