//! What the watches tell the controllers: a change somewhere in the cluster.

use super::scope::Scope;
use std::collections::{BTreeMap, BTreeSet};

/// A change in a namespace, or cluster-wide (`namespace: None`).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Trigger {
    pub namespace: Option<String>,
    /// For a Namespace's own change: its labels before the change, so that a resource that
    /// selected it by those (and no longer does) is woken too, to take back what it wrote.
    pub old_labels: Option<BTreeMap<String, String>>,
    /// The uid of the resource whose own write this change only echoes: that resource
    /// already judged what it wrote and is not woken by it; every other resource is.
    pub echo_of: Option<String>,
}

impl Trigger {
    /// A change that may concern every resource.
    pub fn everything() -> Self {
        Self::default()
    }

    /// A change to an object in `namespace` (or cluster-scoped, with `None`).
    pub fn in_namespace(namespace: Option<String>) -> Self {
        Self {
            namespace,
            ..Self::default()
        }
    }
}

/// Whom a set of changes wakes: nobody yet, every resource but the one whose own writes they
/// only echo, or every resource.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub enum Wakes {
    #[default]
    Nobody,
    AllBut(String),
    All,
}

impl Wakes {
    /// Adds one change, the echo of `echo_of`'s write or (None) anyone's.
    pub fn add(&mut self, echo_of: Option<&str>) {
        *self = match (std::mem::take(self), echo_of) {
            (Wakes::All, _) | (_, None) => Wakes::All,
            (Wakes::Nobody, Some(uid)) => Wakes::AllBut(uid.to_string()),
            (Wakes::AllBut(writer), Some(uid)) if writer == uid => Wakes::AllBut(writer),
            (Wakes::AllBut(_), Some(_)) => Wakes::All,
        }
    }

    pub fn wakes(&self, uid: &str) -> bool {
        match self {
            Wakes::Nobody => false,
            Wakes::AllBut(writer) => writer != uid,
            Wakes::All => true,
        }
    }
}

/// The changes of one window: per namespace whom they wake and the labels the namespace had
/// before, plus the cluster-wide ones (or a lagging receiver, which lost track).
#[derive(Debug, Default)]
pub struct TriggerWindow {
    pub everything: Wakes,
    pub namespaces: BTreeMap<String, NamespaceChanges>,
}

#[derive(Debug, Default)]
pub struct NamespaceChanges {
    pub wakes: Wakes,
    /// Labels the namespace had before its own changes in this window.
    pub old_labels: Vec<BTreeMap<String, String>>,
}

impl TriggerWindow {
    pub fn add(&mut self, trigger: Trigger) {
        match trigger.namespace {
            Some(ns) => {
                let changes = self.namespaces.entry(ns).or_default();
                changes.wakes.add(trigger.echo_of.as_deref());
                if let Some(labels) = trigger.old_labels
                    && !changes.old_labels.contains(&labels)
                {
                    changes.old_labels.push(labels);
                }
            }
            None => self.everything.add(trigger.echo_of.as_deref()),
        }
    }

    /// A receiver that lagged lost changes: every resource is concerned.
    pub fn lost_track(&mut self) {
        self.everything = Wakes::All;
    }

    pub fn is_empty(&self) -> bool {
        self.everything == Wakes::Nobody && self.namespaces.is_empty()
    }

    /// Whether the resource with `uid` is concerned, given `selects(namespace, labels)`
    /// (labels None: the namespace is not known, so it may hold what the resource wrote).
    pub fn concerns(
        &self,
        uid: &str,
        selects: impl Fn(&str, Option<&BTreeMap<String, String>>) -> bool,
        current_labels: impl Fn(&str) -> Option<BTreeMap<String, String>>,
    ) -> bool {
        self.scope_for(uid, selects, current_labels).is_some()
    }

    /// What the changes concern of the resource with `uid`: nothing (None), every namespace
    /// (a cluster-wide change), or the namespaces it selects by their labels now or before.
    pub fn scope_for(
        &self,
        uid: &str,
        selects: impl Fn(&str, Option<&BTreeMap<String, String>>) -> bool,
        current_labels: impl Fn(&str) -> Option<BTreeMap<String, String>>,
    ) -> Option<Scope> {
        if self.everything.wakes(uid) {
            return Some(Scope::All);
        }
        let concerned: BTreeSet<String> = self
            .namespaces
            .iter()
            .filter(|(ns, changes)| {
                changes.wakes.wakes(uid)
                    && (selects(ns, current_labels(ns).as_ref())
                        || changes
                            .old_labels
                            .iter()
                            .any(|labels| selects(ns, Some(labels))))
            })
            .map(|(ns, _)| ns.clone())
            .collect();
        (!concerned.is_empty()).then_some(Scope::Namespaces(concerned))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn labels(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    fn selects_team_a(_: &str, labels: Option<&BTreeMap<String, String>>) -> bool {
        labels.is_none_or(|l| l.get("team").map(String::as_str) == Some("a"))
    }

    #[test]
    fn an_echo_wakes_everyone_but_its_writer() {
        let mut window = TriggerWindow::default();
        window.add(Trigger {
            namespace: Some("a1".into()),
            echo_of: Some("uid-1".into()),
            ..Trigger::default()
        });
        let now = |_: &str| Some(labels(&[("team", "a")]));
        assert!(!window.concerns("uid-1", selects_team_a, now));
        assert!(window.concerns("uid-2", selects_team_a, now));
        // Anyone else's change in the same window wakes the writer too.
        window.add(Trigger::in_namespace(Some("a1".into())));
        assert!(window.concerns("uid-1", selects_team_a, now));
    }

    #[test]
    fn echoes_of_two_writers_wake_both() {
        let mut wakes = Wakes::default();
        wakes.add(Some("uid-1"));
        wakes.add(Some("uid-2"));
        assert!(wakes.wakes("uid-1") && wakes.wakes("uid-2"));
    }

    #[test]
    fn a_namespace_is_judged_on_its_old_labels_and_its_new_ones() {
        let mut window = TriggerWindow::default();
        window.add(Trigger {
            namespace: Some("n".into()),
            old_labels: Some(labels(&[("team", "a")])),
            echo_of: None,
        });
        // It left team a: the resource selecting team a must still come to take back.
        let now = |_: &str| Some(labels(&[("team", "b")]));
        assert!(window.concerns("uid", selects_team_a, now));
        let mut other = TriggerWindow::default();
        other.add(Trigger {
            namespace: Some("n".into()),
            old_labels: Some(labels(&[("team", "c")])),
            echo_of: None,
        });
        assert!(!other.concerns("uid", selects_team_a, now));
        assert_eq!(
            window.scope_for("uid", selects_team_a, now),
            Some(Scope::Namespaces(["n".to_string()].into()))
        );
        // A namespace gone from the store may still hold what the resource wrote.
        assert!(other.concerns("uid", selects_team_a, |_| None));
    }

    #[test]
    fn a_cluster_wide_change_or_a_lost_track_wakes_everyone() {
        let mut window = TriggerWindow::default();
        assert!(window.is_empty());
        window.add(Trigger::everything());
        assert!(window.concerns("uid", |_, _| false, |_| None));
        let mut lagged = TriggerWindow::default();
        lagged.lost_track();
        assert!(lagged.concerns("uid", |_, _| false, |_| None));
    }
}
