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

    /// Whether every namespace `other` covers is covered here.
    pub fn contains(&self, other: &Scope) -> bool {
        match (self, other) {
            (Scope::All, _) => true,
            (Scope::Namespaces(_), Scope::All) => false,
            (Scope::Namespaces(mine), Scope::Namespaces(theirs)) => theirs.is_subset(mine),
        }
    }

    /// Adds the namespaces `other` covers.
    pub fn merge(&mut self, other: &Scope) {
        match (&mut *self, other) {
            (Scope::All, _) => {}
            (_, Scope::All) => *self = Scope::All,
            (Scope::Namespaces(mine), Scope::Namespaces(theirs)) => {
                mine.extend(theirs.iter().cloned())
            }
        }
    }
}

/// The position of a change in the order the watches applied changes to the stores and the
/// engine (`engine_feed::EngineFeed::done`): a plan that starts when the clock reads `n` sees
/// every change numbered `n` or less. [`Self::UNKNOWN`] for a change with no number (a
/// watch failing, a relist, a retry), which no plan is known to have seen.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord)]
pub struct Seen(pub u64);

impl Seen {
    pub const UNKNOWN: Seen = Seen(u64::MAX);

    /// A change's number, or [`Self::UNKNOWN`].
    pub fn of(seq: Option<u64>) -> Seen {
        seq.map_or(Self::UNKNOWN, Seen)
    }
}

/// The scope a pass takes, and whether its evidence is already published.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Taken {
    pub scope: Scope,
    /// Every change that woke the pass is older than what the last finished pass's evidence
    /// read: the status and reports it published judged them already (another controller's
    /// write, seen by the pass that was running when it landed, wakes the resource a window
    /// later). The pass still enforces its namespaces (the last pass may have written only
    /// others), and publishes nothing new unless that writes something.
    pub already_judged: bool,
}

/// What is known of one resource's passes.
#[derive(Debug)]
struct Passes {
    /// Changes recorded since the last pass took them.
    pending: Option<Scope>,
    /// The newest of those changes.
    pending_newest: Seen,
    /// What the evaluation the last finished pass published had seen (None: no such pass, or
    /// the last one did not finish).
    judged_through: Option<Seen>,
    /// The namespaces the last finished pass wrote, and what its last plan had seen when it
    /// found them as that plan wants them: changes older than that in those namespaces are
    /// enforced already.
    enforced: Option<(Seen, Scope)>,
    /// A running pass took changes recorded after it started ([`Scopes::take_more`]): the
    /// wake-up they sent finds its work done, so a wake-up with nothing recorded is not a
    /// reason for a whole pass then.
    absorbed: bool,
    /// The generation the last whole pass planned: a different one is a changed spec.
    generation: Option<i64>,
    /// When the next whole pass is due (the resync, an expiry, a deadline).
    whole_due: Timestamp,
}

impl Passes {
    fn record(&mut self, scope: &Scope, newest: Seen) {
        match &mut self.pending {
            Some(pending) => pending.merge(scope),
            None => self.pending = Some(scope.clone()),
        }
        self.pending_newest = self.pending_newest.max(newest);
    }
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

    /// Changes concerning `scope` of the resource `uid` arrived, the newest of them `newest`.
    pub fn mark(&self, uid: &str, scope: &Scope, newest: Seen) {
        let mut all = self.lock();
        let Some(passes) = all.get_mut(uid) else {
            // No pass yet: the first one is whole anyway.
            return;
        };
        passes.record(scope, newest);
    }

    /// The scope of the pass starting now for the resource `uid` at `generation`; takes what
    /// was recorded. None: every change that woke it is older than what the last finished
    /// pass judged and enforced, in namespaces it enforced: it would find nothing to do.
    pub fn take(&self, uid: &str, generation: Option<i64>, now: Timestamp) -> Option<Taken> {
        let whole = Some(Taken {
            scope: Scope::All,
            already_judged: false,
        });
        let mut all = self.lock();
        let Some(passes) = all.get_mut(uid) else {
            tracing::debug!("a first pass, over every namespace");
            return whole;
        };
        let pending = passes.pending.take();
        let newest = std::mem::take(&mut passes.pending_newest);
        passes.absorbed = false;
        let why = if passes.generation != generation {
            "the spec changed"
        } else if now >= passes.whole_due {
            "the whole pass is due"
        } else {
            match pending {
                None => "woken with no namespace recorded",
                Some(Scope::All) => "a cluster-wide change, or a whole pass to finish",
                Some(narrow) => {
                    let already_judged = passes.judged_through.is_some_and(|read| newest <= read);
                    let already_enforced =
                        passes.enforced.as_ref().is_some_and(|(read, enforced)| {
                            newest <= *read && enforced.contains(&narrow)
                        });
                    tracing::debug!(
                        ?newest,
                        judged_through = ?passes.judged_through,
                        enforced = ?passes.enforced.as_ref().map(|(read, _)| read),
                        "a pass over the namespaces changes concerned"
                    );
                    if already_judged && already_enforced {
                        tracing::debug!("woken by changes it had judged and enforced");
                        return None;
                    }
                    return Some(Taken {
                        scope: narrow,
                        already_judged,
                    });
                }
            }
        };
        tracing::debug!(why, "a pass over every namespace");
        whole
    }

    /// Whether the pass starting now has nothing to do: what woke it was taken and carried
    /// out by the pass before ([`Self::take_more`]), nothing was recorded since, the spec is
    /// the same and no whole pass is due. Answers once per such wake-up.
    pub fn handled_before(&self, uid: &str, generation: Option<i64>, now: Timestamp) -> bool {
        let mut all = self.lock();
        let Some(passes) = all.get_mut(uid) else {
            return false;
        };
        let handled = passes.absorbed
            && passes.pending.is_none()
            && passes.generation == generation
            && now < passes.whole_due;
        passes.absorbed = false;
        handled
    }

    /// Namespaces whose changes were recorded while a narrow pass of `uid` at `generation`
    /// runs, taken by that pass: a namespace created while a pass publishes its evidence is
    /// then enforced by it at once, instead of after that pass's reports and status. None
    /// unless what is recorded is narrow and the spec the one the last whole pass planned.
    pub fn take_more(&self, uid: &str, generation: Option<i64>) -> Option<BTreeSet<String>> {
        let mut all = self.lock();
        let passes = all.get_mut(uid)?;
        if passes.generation != generation {
            return None;
        }
        if !matches!(&passes.pending, Some(Scope::Namespaces(set)) if !set.is_empty()) {
            return None;
        }
        let Some(Scope::Namespaces(more)) = passes.pending.take() else {
            return None;
        };
        passes.pending_newest = Seen::default();
        passes.absorbed = true;
        Some(more)
    }

    /// Whether [`Self::take_more`] would take something now.
    pub fn has_more(&self, uid: &str, generation: Option<i64>) -> bool {
        self.lock().get(uid).is_some_and(|passes| {
            passes.generation == generation
                && matches!(&passes.pending, Some(Scope::Namespaces(set)) if !set.is_empty())
        })
    }

    /// A pass over `scope` at `generation` ended. `finished`: everything it planned was
    /// written (else what it covered is recorded again for the retry). `whole_due`: when the
    /// next whole pass is due, as the pass computed it (a narrower pass keeps the due time
    /// it found, or brings it forward). `published`: what the evaluation it published had
    /// seen (None: it published none, the last one stands).
    pub fn ended(
        &self,
        uid: &str,
        generation: Option<i64>,
        scope: &Scope,
        finished: bool,
        whole_due: Timestamp,
        published: Option<Seen>,
    ) {
        let mut all = self.lock();
        if scope.is_all() {
            let (pending, pending_newest, judged_through, enforced) = all
                .remove(uid)
                .map(|p| (p.pending, p.pending_newest, p.judged_through, p.enforced))
                .unwrap_or_default();
            all.insert(
                uid.to_string(),
                Passes {
                    pending,
                    pending_newest,
                    judged_through,
                    enforced,
                    absorbed: false,
                    generation,
                    whole_due,
                },
            );
        }
        let Some(passes) = all.get_mut(uid) else {
            return;
        };
        if !finished {
            // Covered again by a retry that judges it anew.
            passes.record(scope, Seen::UNKNOWN);
            passes.judged_through = None;
            passes.enforced = None;
            return;
        }
        if let Some(read) = published {
            passes.judged_through = Some(read);
            // Finished: what it wrote was seen in the stores, and its last plan (on what it
            // had seen) wanted nothing else there.
            passes.enforced = Some((read, scope.clone()));
        }
        if !scope.is_all() {
            // A finished narrow pass that found something due sooner (an expiry in its
            // namespaces) brings the whole pass forward: its wake-up then is whole, as it
            // would be with nothing recorded, even when a pass finds nothing to do before.
            passes.whole_due = passes.whole_due.min(whole_due);
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
        scopes.mark("uid", &only(&["a"]), Seen::UNKNOWN);
        assert_eq!(
            scopes.take("uid", Some(1), at(0)).unwrap().scope,
            Scope::All
        );
    }

    #[test]
    fn after_a_whole_pass_only_the_marked_namespaces_are_planned() {
        let scopes = Scopes::default();
        scopes.ended("uid", Some(1), &Scope::All, true, at(300), None);
        scopes.mark("uid", &only(&["a"]), Seen::UNKNOWN);
        scopes.mark("uid", &only(&["b"]), Seen::UNKNOWN);
        assert_eq!(
            scopes.take("uid", Some(1), at(10)).unwrap().scope,
            only(&["a", "b"])
        );
        // Taken: a wake-up with nothing recorded (a timer, its own change) is whole.
        assert_eq!(
            scopes.take("uid", Some(1), at(11)).unwrap().scope,
            Scope::All
        );
    }

    #[test]
    fn a_changed_spec_a_cluster_wide_change_or_a_due_resync_is_whole() {
        let scopes = Scopes::default();
        scopes.ended("uid", Some(1), &Scope::All, true, at(300), None);
        scopes.mark("uid", &only(&["a"]), Seen::UNKNOWN);
        assert_eq!(
            scopes.take("uid", Some(2), at(10)).unwrap().scope,
            Scope::All
        );
        scopes.mark("uid", &only(&["a"]), Seen::UNKNOWN);
        scopes.mark("uid", &Scope::All, Seen::UNKNOWN);
        assert_eq!(
            scopes.take("uid", Some(1), at(10)).unwrap().scope,
            Scope::All
        );
        scopes.mark("uid", &only(&["a"]), Seen::UNKNOWN);
        assert_eq!(
            scopes.take("uid", Some(1), at(300)).unwrap().scope,
            Scope::All
        );
    }

    #[test]
    fn an_unfinished_pass_is_covered_again_and_a_narrow_pass_keeps_the_due_resync() {
        let scopes = Scopes::default();
        scopes.ended("uid", Some(1), &Scope::All, true, at(300), None);
        scopes.mark("uid", &only(&["a"]), Seen::UNKNOWN);
        let scope = scopes.take("uid", Some(1), at(10)).unwrap().scope;
        scopes.mark("uid", &only(&["b"]), Seen::UNKNOWN);
        scopes.ended("uid", Some(1), &scope, false, at(999), None);
        assert_eq!(scopes.whole_due("uid"), Some(at(300)));
        assert_eq!(
            scopes.take("uid", Some(1), at(12)).unwrap().scope,
            only(&["a", "b"])
        );
        // An unfinished whole pass makes the retry whole.
        scopes.ended("uid", Some(1), &Scope::All, false, at(300), None);
        assert_eq!(
            scopes.take("uid", Some(1), at(13)).unwrap().scope,
            Scope::All
        );
    }

    #[test]
    fn a_running_narrow_pass_takes_later_changes_and_their_wake_up_finds_nothing_to_do() {
        let scopes = Scopes::default();
        scopes.ended("uid", Some(1), &Scope::All, true, at(300), None);
        scopes.mark("uid", &only(&["a"]), Seen::UNKNOWN);
        let mut scope = scopes.take("uid", Some(1), at(10)).unwrap().scope;
        assert!(!scopes.has_more("uid", Some(1)));
        // A namespace created while the pass runs: taken by it.
        scopes.mark("uid", &only(&["b"]), Seen::UNKNOWN);
        assert!(scopes.has_more("uid", Some(1)));
        let more = scopes.take_more("uid", Some(1)).unwrap();
        scope.merge(&Scope::Namespaces(more));
        assert_eq!(scope, only(&["a", "b"]));
        assert_eq!(scopes.take_more("uid", Some(1)), None);
        scopes.ended("uid", Some(1), &scope, true, at(999), None);
        assert_eq!(scopes.whole_due("uid"), Some(at(300)));
        // b's wake-up: nothing left to do, not a whole pass.
        assert!(scopes.handled_before("uid", Some(1), at(11)));
        // The next wake-up with nothing recorded is whole again.
        assert!(!scopes.handled_before("uid", Some(1), at(12)));
        assert_eq!(
            scopes.take("uid", Some(1), at(12)).unwrap().scope,
            Scope::All
        );
        // Not when the whole pass is due, or something was recorded since.
        scopes.mark("uid", &only(&["b"]), Seen::UNKNOWN);
        scopes.take_more("uid", Some(1)).unwrap();
        assert!(!scopes.handled_before("uid", Some(1), at(300)));
        scopes.mark("uid", &only(&["b"]), Seen::UNKNOWN);
        scopes.take_more("uid", Some(1)).unwrap();
        scopes.mark("uid", &only(&["c"]), Seen::UNKNOWN);
        assert!(!scopes.handled_before("uid", Some(1), at(14)));
        assert_eq!(
            scopes.take("uid", Some(1), at(14)).unwrap().scope,
            only(&["c"])
        );
        // Nothing is taken across a spec change, or when the change is cluster-wide.
        scopes.mark("uid", &only(&["c"]), Seen::UNKNOWN);
        assert_eq!(scopes.take_more("uid", Some(2)), None);
        scopes.mark("uid", &Scope::All, Seen::UNKNOWN);
        assert_eq!(scopes.take_more("uid", Some(1)), None);
        assert_eq!(
            scopes.take("uid", Some(1), at(13)).unwrap().scope,
            Scope::All
        );
    }

    #[test]
    fn a_wake_by_changes_the_last_pass_had_seen_is_judged_or_done_already() {
        let scopes = Scopes::default();
        let take = |at_second| scopes.take("uid", Some(1), at(at_second));
        scopes.ended("uid", Some(1), &Scope::All, true, at(300), Some(Seen(10)));
        // Another controller's write, seen by that pass as change 9 or 10, wakes it later:
        // judged and enforced everywhere, nothing to do.
        scopes.mark("uid", &only(&["a"]), Seen(9));
        scopes.mark("uid", &only(&["b"]), Seen(10));
        assert_eq!(take(10), None);
        // One change newer than what it read: a pass, judged anew.
        scopes.mark("uid", &only(&["a"]), Seen(9));
        scopes.mark("uid", &only(&["b"]), Seen(11));
        let taken = take(10).unwrap();
        assert_eq!(taken.scope, only(&["a", "b"]));
        assert!(!taken.already_judged);
        // A change with no number (a relist, a failed watch, a report) is never seen.
        scopes.mark("uid", &only(&["a"]), Seen::UNKNOWN);
        assert!(!take(10).unwrap().already_judged);
        // A narrow pass that published: judged everywhere up to what it read, enforced in its
        // own namespaces only. Elsewhere the pass enforces, its evidence stands.
        scopes.ended("uid", Some(1), &only(&["a"]), true, at(300), Some(Seen(20)));
        scopes.mark("uid", &only(&["a"]), Seen(15));
        assert_eq!(take(10), None);
        scopes.mark("uid", &only(&["a"]), Seen(15));
        scopes.mark("uid", &only(&["b"]), Seen(16));
        let taken = take(10).unwrap();
        assert_eq!(taken.scope, only(&["a", "b"]));
        assert!(taken.already_judged);
        // A pass that published nothing (its evidence stood) keeps both as they were.
        scopes.ended("uid", Some(1), &only(&["a", "b"]), true, at(300), None);
        scopes.mark("uid", &only(&["b"]), Seen(17));
        assert!(take(10).unwrap().already_judged);
        scopes.ended("uid", Some(1), &only(&["b"]), true, at(300), None);
        scopes.mark("uid", &only(&["a"]), Seen(17));
        assert_eq!(take(10), None);
        // An unfinished pass forgets both: its retry judges anew, and so does the next wake.
        scopes.ended(
            "uid",
            Some(1),
            &only(&["a"]),
            false,
            at(300),
            Some(Seen(30)),
        );
        let retry = take(10).unwrap();
        assert_eq!(retry.scope, only(&["a"]));
        assert!(!retry.already_judged);
        scopes.mark("uid", &only(&["a"]), Seen(1));
        assert!(!take(10).unwrap().already_judged);
        // Never for a whole pass: a changed spec, a due resync, a cluster-wide change.
        scopes.ended("uid", Some(1), &Scope::All, true, at(300), Some(Seen(40)));
        scopes.mark("uid", &only(&["a"]), Seen(1));
        assert_eq!(
            scopes.take("uid", Some(2), at(10)),
            Some(Taken {
                scope: Scope::All,
                already_judged: false
            })
        );
        scopes.mark("uid", &only(&["a"]), Seen(1));
        assert_eq!(take(300).unwrap().scope, Scope::All);
        scopes.mark("uid", &Scope::All, Seen(1));
        assert_eq!(take(10).unwrap().scope, Scope::All);
        // Changes a running pass took (take_more) are not left as the next wake's newest.
        scopes.mark("uid", &only(&["a"]), Seen::UNKNOWN);
        scopes.take_more("uid", Some(1)).unwrap();
        scopes.mark("uid", &only(&["b"]), Seen(2));
        assert_eq!(take(10), None);
    }

    #[test]
    fn covers_cluster_scoped_objects_in_every_pass() {
        assert!(only(&["a"]).covers(None));
        assert!(only(&["a"]).covers(Some("a")));
        assert!(!only(&["a"]).covers(Some("b")));
        assert!(Scope::All.covers(Some("b")));
    }
}
