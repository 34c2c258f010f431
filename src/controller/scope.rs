//! Which namespaces a reconcile pass plans, writes and reports: every namespace, or only those
//! whose changes woke the resource. A change in one namespace then costs that namespace's
//! objects, labels and reports, not the cluster's (issue 26: the unit of work is a resource
//! and a namespace).
//!
//! The triggers record, per resource, the namespaces their changes concern ([`Scopes::mark`]);
//! a pass takes them ([`Scopes::take`]). A pass is whole whenever a narrower one could miss
//! something: the first pass of a resource (or of this process), a changed spec, a
//! cluster-wide change, a wake-up with nothing recorded (the resource's own change, a timer, a
//! retry after an error), or once the periodic full pass is due. What a failed or unfinished
//! pass covered is recorded again, so the retry covers it too.

use jiff::Timestamp;
use std::collections::{BTreeSet, HashMap};
use std::sync::Mutex;

/// The namespaces one pass covers. Cluster-scoped objects (admission policies, cluster
/// reports) are planned in every pass: there are few of them.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Scope {
    All,
    Namespaces(BTreeSet<String>),
}

impl Scope {
    /// Whether an object in `namespace` (None: cluster-scoped) is this pass's to plan, write
    /// and prune.
    pub fn covers(&self, namespace: Option<&str>) -> bool {
        match (self, namespace) {
            (Scope::All, _) | (_, None) => true,
            (Scope::Namespaces(set), Some(ns)) => set.contains(ns),
        }
    }

    pub fn is_all(&self) -> bool {
        matches!(self, Scope::All)
    }

    fn merge(&mut self, other: &Scope) {
        match (&mut *self, other) {
            (Scope::All, _) => {}
            (_, Scope::All) => *self = Scope::All,
            (Scope::Namespaces(mine), Scope::Namespaces(theirs)) => {
                mine.extend(theirs.iter().cloned())
            }
        }
    }
}

/// What is known of one resource's passes.
#[derive(Debug)]
struct Passes {
    /// Changes recorded since the last pass took them.
    pending: Option<Scope>,
    /// The generation the last whole pass planned: a different one is a changed spec.
    generation: Option<i64>,
    /// When the next whole pass is due (the resync, an expiry, a deadline).
    whole_due: Timestamp,
}

/// The recorded scopes of every resource, by uid.
#[derive(Debug, Default)]
pub struct Scopes {
    by_uid: Mutex<HashMap<String, Passes>>,
}

impl Scopes {
    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, Passes>> {
        self.by_uid
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Changes concerning `scope` of the resource `uid` arrived.
    pub fn mark(&self, uid: &str, scope: &Scope) {
        let mut all = self.lock();
        let Some(passes) = all.get_mut(uid) else {
            // No pass yet: the first one is whole anyway.
            return;
        };
        match &mut passes.pending {
            Some(pending) => pending.merge(scope),
            None => passes.pending = Some(scope.clone()),
        }
    }

    /// The scope of the pass starting now for the resource `uid` at `generation`; takes what
    /// was recorded.
    pub fn take(&self, uid: &str, generation: Option<i64>, now: Timestamp) -> Scope {
        let mut all = self.lock();
        let Some(passes) = all.get_mut(uid) else {
            tracing::debug!("a first pass, over every namespace");
            return Scope::All;
        };
        let pending = passes.pending.take();
        let why = if passes.generation != generation {
            "the spec changed"
        } else if now >= passes.whole_due {
            "the whole pass is due"
        } else {
            match pending {
                None => "woken with no namespace recorded",
                Some(Scope::All) => "a cluster-wide change, or a whole pass to finish",
                Some(narrow) => return narrow,
            }
        };
        tracing::debug!(why, "a pass over every namespace");
        Scope::All
    }

    /// A pass over `scope` at `generation` ended. `finished`: everything it planned was
    /// written (else what it covered is recorded again for the retry). `whole_due`: when the
    /// next whole pass is due, as the whole pass computed it (a narrower pass keeps the due
    /// time it found).
    pub fn ended(
        &self,
        uid: &str,
        generation: Option<i64>,
        scope: &Scope,
        finished: bool,
        whole_due: Timestamp,
    ) {
        let mut all = self.lock();
        if scope.is_all() {
            let pending = all.remove(uid).and_then(|p| p.pending);
            all.insert(
                uid.to_string(),
                Passes {
                    pending,
                    generation,
                    whole_due,
                },
            );
        }
        let Some(passes) = all.get_mut(uid) else {
            return;
        };
        if !finished {
            match &mut passes.pending {
                Some(pending) => pending.merge(scope),
                None => passes.pending = Some(scope.clone()),
            }
        }
    }

    /// The next whole pass of `uid` (None: no whole pass yet).
    pub fn whole_due(&self, uid: &str) -> Option<Timestamp> {
        self.lock().get(uid).map(|p| p.whole_due)
    }

    /// The resource is gone: forget it.
    pub fn forget(&self, uid: &str) {
        self.lock().remove(uid);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(second: i64) -> Timestamp {
        Timestamp::from_second(1_800_000_000 + second).unwrap()
    }

    fn only(names: &[&str]) -> Scope {
        Scope::Namespaces(names.iter().map(|n| n.to_string()).collect())
    }

    #[test]
    fn the_first_pass_is_whole_and_marks_before_it_are_not_needed() {
        let scopes = Scopes::default();
        scopes.mark("uid", &only(&["a"]));
        assert_eq!(scopes.take("uid", Some(1), at(0)), Scope::All);
    }

    #[test]
    fn after_a_whole_pass_only_the_marked_namespaces_are_planned() {
        let scopes = Scopes::default();
        scopes.ended("uid", Some(1), &Scope::All, true, at(300));
        scopes.mark("uid", &only(&["a"]));
        scopes.mark("uid", &only(&["b"]));
        assert_eq!(scopes.take("uid", Some(1), at(10)), only(&["a", "b"]));
        // Taken: a wake-up with nothing recorded (a timer, its own change) is whole.
        assert_eq!(scopes.take("uid", Some(1), at(11)), Scope::All);
    }

    #[test]
    fn a_changed_spec_a_cluster_wide_change_or_a_due_resync_is_whole() {
        let scopes = Scopes::default();
        scopes.ended("uid", Some(1), &Scope::All, true, at(300));
        scopes.mark("uid", &only(&["a"]));
        assert_eq!(scopes.take("uid", Some(2), at(10)), Scope::All);
        scopes.mark("uid", &only(&["a"]));
        scopes.mark("uid", &Scope::All);
        assert_eq!(scopes.take("uid", Some(1), at(10)), Scope::All);
        scopes.mark("uid", &only(&["a"]));
        assert_eq!(scopes.take("uid", Some(1), at(300)), Scope::All);
    }

    #[test]
    fn an_unfinished_pass_is_covered_again_and_a_narrow_pass_keeps_the_due_resync() {
        let scopes = Scopes::default();
        scopes.ended("uid", Some(1), &Scope::All, true, at(300));
        scopes.mark("uid", &only(&["a"]));
        let scope = scopes.take("uid", Some(1), at(10));
        scopes.mark("uid", &only(&["b"]));
        scopes.ended("uid", Some(1), &scope, false, at(999));
        assert_eq!(scopes.whole_due("uid"), Some(at(300)));
        assert_eq!(scopes.take("uid", Some(1), at(12)), only(&["a", "b"]));
        // An unfinished whole pass makes the retry whole.
        scopes.ended("uid", Some(1), &Scope::All, false, at(300));
        assert_eq!(scopes.take("uid", Some(1), at(13)), Scope::All);
    }

    #[test]
    fn covers_cluster_scoped_objects_in_every_pass() {
        assert!(only(&["a"]).covers(None));
        assert!(only(&["a"]).covers(Some("a")));
        assert!(!only(&["a"]).covers(Some("b")));
        assert!(Scope::All.covers(Some("b")));
    }
}
