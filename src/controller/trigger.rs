//! What the watches tell the controllers: a change somewhere in the cluster.

use super::scope::{Scope, Seen};
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
    /// The kind of the object that changed (None: not one object's change, e.g. a watch
    /// failing or an API appearing), so that a resource that reads no object of that kind is
    /// not woken by it ([`TriggerWindow::scope_for`]'s `reads`).
    pub kind: Option<String>,
    /// The other namespaces whose judgment the change may change, as the engine's global
    /// indexes name them (`engine::events::dirtied`): the copies of a Secret, the namespaces
    /// whose RoleBindings name a relabelled namespace's identities, those binding a changed
    /// ClusterRole. For a cluster-scoped change, `None` is "every namespace" and `Some` is
    /// exactly these (possibly none: then only cluster-scoped objects and status change).
    pub reach: Option<BTreeSet<String>>,
    /// For a Namespace's change that set only labels and annotations: their keys. A kind
    /// that reads a namespace only through selectors ignores the echo of the operator's own
    /// write when no selector reads them ([`next_window`]'s `ignored`).
    pub namespace_keys: Option<crate::engine::ChangedKeys>,
    /// For a change of an object only its owner reads (a report: no control judges reports,
    /// each resource repairs and prunes its own): the owner's uid. Only the owner is woken,
    /// and not by the echo of its own write; another resource's report written in a
    /// namespace this one judges is no change to it. None: whoever reads the kind.
    pub owner: Option<String>,
    /// The change's number in the order the stores and the engine took changes
    /// (`EngineFeed::done`; None: a relist, a failing watch, a report). For the echo of the
    /// operator's own write (another resource's: the echo of its own wakes no one), a pass
    /// whose evidence had seen it need not judge it again
    /// ([`super::scope::Taken::already_judged`]). Any other change counts as never seen
    /// ([`TriggerWindow::add`]): one someone else made may be drift of what a resource
    /// enforces, which its pass must look at whatever it had seen.
    pub seq: Option<u64>,
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

    /// Whether the change must be acted on at once rather than at the end of a window: a
    /// namespace created or relabelled by someone else may be one that must be protected now
    /// (a new production namespace waits for no batch). The operator's own label writes on
    /// namespaces echo back as Namespace events too; those are not urgent.
    pub fn is_urgent(&self) -> bool {
        self.namespace.is_some()
            && self.kind.as_deref() == Some("Namespace")
            && self.echo_of.is_none()
    }

    /// The part of this change that concerns other namespaces (its reach), as a change of its
    /// own: what an urgent change leaves to the next window.
    fn reach_only(&self) -> Option<Trigger> {
        // Its own namespace is judged in this window (the engine names it among those the
        // change dirties).
        let mut reach = self.reach.clone()?;
        if let Some(own) = &self.namespace {
            reach.remove(own);
        }
        let reach = Some(reach).filter(|r| !r.is_empty())?;
        Some(Trigger {
            namespace: None,
            old_labels: None,
            echo_of: self.echo_of.clone(),
            kind: self.kind.clone(),
            reach: Some(reach),
            namespace_keys: self.namespace_keys.clone(),
            owner: self.owner.clone(),
            seq: self.seq,
        })
    }
}

/// Gathers the next window of triggers from `receiver`: the first trigger alone when
/// `leading` (the first change after a quiet spell is acted on at once), else everything
/// until `window` has passed or an urgent trigger ([`Trigger::is_urgent`]) arrived, which
/// ends the window early. `carried`: what the previous window deferred
/// ([`TriggerWindow::deferred`]), gathered into this one, which then does not lead. A trigger
/// `ignored` says concerns none of the receiving kind's resources is dropped as it arrives.
/// None when the sender is gone.
pub async fn next_window(
    receiver: &mut tokio::sync::broadcast::Receiver<Trigger>,
    leading: bool,
    window: std::time::Duration,
    carried: Vec<Trigger>,
    ignored: impl Fn(&Trigger) -> bool,
) -> Option<TriggerWindow> {
    use tokio::sync::broadcast::error::RecvError;
    let mut out = TriggerWindow::default();
    let leading = leading && carried.is_empty();
    for trigger in carried {
        out.add(trigger);
    }
    if leading {
        loop {
            match receiver.recv().await {
                Ok(trigger) if ignored(&trigger) => continue,
                Ok(trigger) => out.add(trigger),
                Err(RecvError::Lagged(_)) => out.lost_track(),
                Err(RecvError::Closed) => return None,
            }
            return Some(out);
        }
    }
    let deadline = tokio::time::Instant::now() + window;
    loop {
        match tokio::time::timeout_at(deadline, receiver.recv()).await {
            Err(_window_over) => return Some(out),
            Ok(Ok(trigger)) if ignored(&trigger) => {}
            Ok(Ok(trigger)) => {
                let urgent = trigger.is_urgent();
                out.add(trigger);
                if urgent {
                    return Some(out);
                }
            }
            Ok(Err(RecvError::Lagged(_))) => out.lost_track(),
            Ok(Err(RecvError::Closed)) => return None,
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

/// Per kind of changed object (None: not one object's change), whom the changes wake.
pub type ByKind = BTreeMap<Option<String>, Wakes>;

fn add_kind(by_kind: &mut ByKind, kind: Option<&str>, echo_of: Option<&str>) {
    by_kind
        .entry(kind.map(str::to_string))
        .or_default()
        .add(echo_of);
}

/// Whether the changes of `by_kind` wake the resource `uid`, which reads objects of a kind
/// when `reads(kind)` says so (a change that is not one object's is read by everyone).
fn woken(by_kind: &ByKind, uid: &str, reads: impl Fn(&str) -> bool) -> bool {
    by_kind
        .iter()
        .any(|(kind, wakes)| wakes.wakes(uid) && kind.as_deref().is_none_or(&reads))
}

/// The changes of one window: per namespace whom they wake and the labels the namespace had
/// before, plus the cluster-wide ones (or a lagging receiver, which lost track).
#[derive(Debug, Default)]
pub struct TriggerWindow {
    /// Changes whose reach is every namespace.
    pub everything: ByKind,
    /// Cluster-scoped changes whose reach the indexes name (recorded per namespace too): a
    /// resource reading their kind is woken even when none of its namespaces is reached, for
    /// its cluster-scoped objects and its status.
    pub cluster: ByKind,
    pub namespaces: BTreeMap<String, NamespaceChanges>,
    /// The reach of this window's urgent changes, left to the next window: a new namespace's
    /// own pass must not wait for the namespaces whose judgment it also changes (those whose
    /// policies pick it by label: often most of the cluster), which follow one window later.
    pub deferred: Vec<Trigger>,
    /// The owners of cluster-scoped objects only their owner reads that changed (see
    /// [`Trigger::owner`]), not by their own write.
    pub cluster_owners: BTreeSet<String>,
    /// The newest of the cluster-scoped changes ([`Trigger::seq`]) but those only their
    /// owner reads.
    cluster_newest: Seen,
}

#[derive(Debug, Default)]
pub struct NamespaceChanges {
    /// The newest of the changes here ([`Trigger::seq`]) but those only their owner reads,
    /// whoever they wake.
    pub newest: Seen,
    pub wakes: ByKind,
    /// The owners of objects here only their owner reads that changed (see
    /// [`Trigger::owner`]), not by their own write.
    pub owners: BTreeSet<String>,
    /// Labels the namespace had before its own changes in this window.
    pub old_labels: Vec<BTreeMap<String, String>>,
}

impl TriggerWindow {
    pub fn add(&mut self, mut trigger: Trigger) {
        if trigger.is_urgent() {
            self.deferred.extend(trigger.reach_only());
            trigger.reach = None;
        }
        if let Some(owner) = trigger.owner {
            // Its owner's alone, and nobody's when it echoes the owner's own write.
            if trigger.echo_of.as_ref() != Some(&owner) {
                match trigger.namespace {
                    Some(ns) => {
                        self.namespaces.entry(ns).or_default().owners.insert(owner);
                    }
                    None => {
                        self.cluster_owners.insert(owner);
                    }
                }
            }
            return;
        }
        // Only an echo of the operator's own write may have been seen (see `Trigger::seq`).
        let seen = match trigger.echo_of {
            Some(_) => Seen::of(trigger.seq),
            None => Seen::UNKNOWN,
        };
        let kind = trigger.kind.as_deref();
        let echo_of = trigger.echo_of.as_deref();
        for reached in trigger.reach.iter().flatten() {
            let changes = self.namespaces.entry(reached.clone()).or_default();
            add_kind(&mut changes.wakes, kind, echo_of);
            changes.newest = changes.newest.max(seen);
        }
        // A Namespace's change is judged in itself and in the namespaces it reaches (its
        // reach, left to the next window, comes without its namespace): never cluster-wide.
        if trigger.namespace.is_none() && trigger.kind.as_deref() != Some("Namespace") {
            self.cluster_newest = self.cluster_newest.max(seen);
        }
        match trigger.namespace {
            Some(ns) => {
                let changes = self.namespaces.entry(ns).or_default();
                changes.newest = changes.newest.max(seen);
                add_kind(&mut changes.wakes, kind, echo_of);
                if let Some(labels) = trigger.old_labels
                    && !changes.old_labels.contains(&labels)
                {
                    changes.old_labels.push(labels);
                }
            }
            None if trigger.reach.is_some() => add_kind(&mut self.cluster, kind, echo_of),
            None => add_kind(&mut self.everything, kind, echo_of),
        }
    }

    /// A receiver that lagged lost changes: every resource is concerned.
    pub fn lost_track(&mut self) {
        add_kind(&mut self.everything, None, None);
        self.cluster_newest = Seen::UNKNOWN;
    }

    /// The newest change that may have woken the resource `uid` for `scope`: of its
    /// namespaces' and of the cluster-scoped changes, whomever they woke (an overestimate
    /// only makes a pass judge again what it had seen). Its own objects that changed (reports,
    /// which no plan reads and only the evidence step repairs) are never taken as seen.
    pub fn newest_for(&self, uid: &str, scope: &Scope) -> Seen {
        let Scope::Namespaces(names) = scope else {
            return Seen::UNKNOWN;
        };
        if self.cluster_owners.contains(uid) {
            return Seen::UNKNOWN;
        }
        names
            .iter()
            .filter_map(|ns| self.namespaces.get(ns))
            .map(|changes| match changes.owners.contains(uid) {
                true => Seen::UNKNOWN,
                false => changes.newest,
            })
            .fold(self.cluster_newest, Seen::max)
    }

    pub fn is_empty(&self) -> bool {
        self.everything.is_empty()
            && self.cluster.is_empty()
            && self.namespaces.is_empty()
            && self.deferred.is_empty()
            && self.cluster_owners.is_empty()
    }

    /// Whether the resource with `uid` is concerned, given `selects(namespace, labels)`
    /// (labels None: the namespace is not known, so it may hold what the resource wrote).
    pub fn concerns(
        &self,
        uid: &str,
        selects: impl Fn(&str, Option<&BTreeMap<String, String>>) -> bool,
        current_labels: impl Fn(&str) -> Option<BTreeMap<String, String>>,
    ) -> bool {
        self.scope_for(uid, |_, _| true, selects, current_labels)
            .is_some()
    }

    /// What the changes concern of the resource with `uid`: nothing (None), every namespace
    /// (a cluster-wide change of unknown reach), or the namespaces it selects by their labels
    /// now or before. `reads(kind, namespace)`: whether the resource reads objects of `kind`
    /// there (None: cluster-scoped ones); a change it does not read wakes it not at all.
    pub fn scope_for(
        &self,
        uid: &str,
        reads: impl Fn(&str, Option<&str>) -> bool,
        selects: impl Fn(&str, Option<&BTreeMap<String, String>>) -> bool,
        current_labels: impl Fn(&str) -> Option<BTreeMap<String, String>>,
    ) -> Option<Scope> {
        let cluster_scoped = |kind: &str| reads(kind, None);
        if woken(&self.everything, uid, cluster_scoped) {
            return Some(Scope::All);
        }
        let concerned: BTreeSet<String> = self
            .namespaces
            .iter()
            .filter(|(ns, changes)| {
                (woken(&changes.wakes, uid, |kind| reads(kind, Some(ns)))
                    || changes.owners.contains(uid))
                    && (selects(ns, current_labels(ns).as_ref())
                        || changes
                            .old_labels
                            .iter()
                            .any(|labels| selects(ns, Some(labels))))
            })
            .map(|(ns, _)| ns.clone())
            .collect();
        let cluster =
            woken(&self.cluster, uid, cluster_scoped) || self.cluster_owners.contains(uid);
        (cluster || !concerned.is_empty()).then_some(Scope::Namespaces(concerned))
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

    fn in_kind(kind: &str, namespace: &str, echo_of: Option<&str>) -> Trigger {
        Trigger {
            namespace: Some(namespace.into()),
            kind: Some(kind.into()),
            echo_of: echo_of.map(str::to_string),
            ..Trigger::default()
        }
    }

    #[tokio::test]
    async fn an_ignored_trigger_neither_leads_nor_joins_a_window() {
        let (tx, mut rx) = tokio::sync::broadcast::channel(16);
        let psa_only = Trigger {
            namespace_keys: Some(crate::engine::ChangedKeys::default()),
            ..in_kind("Namespace", "a", Some("uid-1"))
        };
        tx.send(psa_only.clone()).unwrap();
        tx.send(in_kind("Pod", "b", None)).unwrap();
        tx.send(psa_only).unwrap();
        let ignored = |t: &Trigger| t.namespace_keys.is_some();
        let window = next_window(
            &mut rx,
            true,
            std::time::Duration::from_secs(3600),
            vec![],
            ignored,
        )
        .await
        .unwrap();
        let namespaces: Vec<&str> = window.namespaces.keys().map(String::as_str).collect();
        assert_eq!(
            namespaces,
            ["b"],
            "the leading trigger is the first not ignored"
        );
        let next = next_window(
            &mut rx,
            false,
            std::time::Duration::from_millis(10),
            vec![],
            ignored,
        )
        .await
        .unwrap();
        assert!(next.is_empty(), "{next:?}");
    }

    #[tokio::test]
    async fn a_namespace_changed_by_someone_else_ends_the_window_at_once() {
        let (tx, mut rx) = tokio::sync::broadcast::channel(16);
        tx.send(in_kind("Pod", "a", None)).unwrap();
        // The operator's own label write echoing back is not urgent: the window goes on.
        tx.send(in_kind("Namespace", "b", Some("uid-1"))).unwrap();
        tx.send(in_kind("Namespace", "new", None)).unwrap();
        tx.send(in_kind("Pod", "later", None)).unwrap();
        // An hour-long window: only the urgent trigger can end this one in time (a window
        // that ignores it fails here after 10 s instead of hanging).
        let window = tokio::time::timeout(
            std::time::Duration::from_secs(10),
            next_window(
                &mut rx,
                false,
                std::time::Duration::from_secs(3600),
                vec![],
                |_| false,
            ),
        )
        .await
        .expect("the urgent trigger ends the window")
        .unwrap();
        let namespaces: Vec<&str> = window.namespaces.keys().map(String::as_str).collect();
        assert_eq!(namespaces, ["a", "b", "new"]);
        // What came after it is the next window's.
        let next = next_window(
            &mut rx,
            true,
            std::time::Duration::from_secs(3600),
            vec![],
            |_| false,
        )
        .await
        .unwrap();
        assert_eq!(next.namespaces.keys().collect::<Vec<_>>(), ["later"]);
    }

    #[tokio::test]
    async fn a_new_namespace_is_planned_alone_and_its_reach_one_window_later() {
        let (tx, mut rx) = tokio::sync::broadcast::channel(16);
        let mut new = in_kind("Namespace", "new", None);
        new.old_labels = Some(BTreeMap::new());
        new.reach = Some(BTreeSet::from(["picks-it".to_string()]));
        tx.send(new).unwrap();
        let selects_all = |_: &str, _: Option<&BTreeMap<String, String>>| true;
        let known = |_: &str| Some(BTreeMap::new());
        let reads = |_: &str, _: Option<&str>| true;
        let mut first = next_window(
            &mut rx,
            true,
            std::time::Duration::from_secs(3600),
            vec![],
            |_| false,
        )
        .await
        .unwrap();
        assert_eq!(
            first.scope_for("uid", reads, selects_all, known),
            Some(Scope::Namespaces(BTreeSet::from(["new".to_string()])))
        );
        // The namespace whose policies pick it is covered by the next window, which a short
        // window ends (nothing else arrives).
        let carried = std::mem::take(&mut first.deferred);
        let second = next_window(
            &mut rx,
            false,
            std::time::Duration::from_millis(10),
            carried,
            |_| false,
        )
        .await
        .unwrap();
        assert_eq!(
            second.scope_for("uid", reads, selects_all, known),
            Some(Scope::Namespaces(BTreeSet::from(["picks-it".to_string()])))
        );
    }

    fn report(namespace: Option<&str>, owner: Option<&str>, echo_of: Option<&str>) -> Trigger {
        Trigger {
            namespace: namespace.map(str::to_string),
            kind: Some("PolicyReport".into()),
            echo_of: echo_of.map(str::to_string),
            // A cluster-scoped report reaches no namespace (see `stores`).
            reach: namespace.is_none().then(BTreeSet::new),
            owner: owner.map(str::to_string),
            ..Trigger::default()
        }
    }

    #[test]
    fn the_newest_change_of_a_scope_is_its_namespaces_and_the_clusters() {
        let numbered = |namespace: Option<&str>, seq: Option<u64>, reach: Option<&[&str]>| {
            Trigger {
                namespace: namespace.map(str::to_string),
                kind: Some("NetworkPolicy".into()),
                reach: reach.map(|r| r.iter().map(|n| n.to_string()).collect()),
                seq,
                // Another resource's write.
                echo_of: Some("uid-w".into()),
                ..Trigger::default()
            }
        };
        let mut window = TriggerWindow::default();
        window.add(numbered(Some("a"), Some(7), None));
        window.add(numbered(Some("a"), Some(5), None));
        window.add(numbered(Some("b"), Some(9), Some(&["c"])));
        assert_eq!(window.newest_for("uid-1", &only(&["a"])), Seen(7));
        // Reached by b's change: its number.
        assert_eq!(window.newest_for("uid-1", &only(&["a", "c"])), Seen(9));
        assert_eq!(window.newest_for("uid-1", &only(&["z"])), Seen::default());
        assert_eq!(window.newest_for("uid-1", &Scope::All), Seen::UNKNOWN);
        // A cluster-scoped change counts for every scope; one with no number is unknown.
        window.add(numbered(None, Some(11), Some(&[])));
        assert_eq!(window.newest_for("uid-1", &only(&["a"])), Seen(11));
        window.add(numbered(Some("d"), None, None));
        assert_eq!(window.newest_for("uid-1", &only(&["d"])), Seen::UNKNOWN);
        // A report changed by someone else: unknown for its owner only (its repair is
        // evidence), nothing for the others.
        window.add(report(Some("a"), Some("uid-2"), None));
        assert_eq!(window.newest_for("uid-2", &only(&["a"])), Seen::UNKNOWN);
        assert_eq!(window.newest_for("uid-1", &only(&["a"])), Seen(11));
        window.add(report(None, Some("uid-3"), None));
        assert_eq!(window.newest_for("uid-3", &only(&["b"])), Seen::UNKNOWN);
        assert_eq!(window.newest_for("uid-1", &only(&["b"])), Seen(11));
        // The reach of a tenant's relabel, left to the next window: unknown where it reaches,
        // not cluster-wide.
        let mut urgent = TriggerWindow::default();
        urgent.add(Trigger {
            kind: Some("Namespace".into()),
            echo_of: None,
            ..numbered(Some("n"), Some(20), Some(&["m"]))
        });
        let mut next = TriggerWindow::default();
        for deferred in std::mem::take(&mut urgent.deferred) {
            next.add(deferred);
        }
        assert_eq!(next.newest_for("uid-1", &only(&["m"])), Seen::UNKNOWN);
        assert_eq!(next.newest_for("uid-1", &only(&["x"])), Seen::default());
        // A change someone else made, numbered or not, may be drift: never seen.
        window.add(Trigger {
            echo_of: None,
            ..numbered(Some("e"), Some(3), None)
        });
        assert_eq!(window.newest_for("uid-1", &only(&["e"])), Seen::UNKNOWN);
    }

    #[test]
    fn a_report_wakes_its_owner_alone_and_not_by_its_own_write() {
        let all = |_: &str, _: Option<&BTreeMap<String, String>>| true;
        let known = |_: &str| Some(BTreeMap::new());
        let reads = |_: &str, _: Option<&str>| true;
        // Written by its owner (the echo of uid-1's write): nobody.
        let mut window = TriggerWindow::default();
        window.add(report(Some("a"), Some("uid-1"), Some("uid-1")));
        assert!(window.is_empty());
        assert_eq!(window.scope_for("uid-2", reads, all, known), None);
        // Deleted or edited by someone else: its owner, and only its owner.
        window.add(report(Some("a"), Some("uid-1"), None));
        assert_eq!(
            window.scope_for("uid-1", reads, all, known),
            Some(only(&["a"]))
        );
        assert_eq!(window.scope_for("uid-2", reads, all, known), None);
        // ... in a namespace it selects, as any change there.
        assert_eq!(window.scope_for("uid-1", reads, |_, _| false, known), None);
        // A cluster-scoped one: its owner, for no namespace.
        let mut cluster = TriggerWindow::default();
        cluster.add(report(None, Some("uid-1"), Some("uid-2")));
        assert_eq!(
            cluster.scope_for("uid-1", reads, all, known),
            Some(Scope::Namespaces(BTreeSet::new()))
        );
        assert_eq!(cluster.scope_for("uid-2", reads, all, known), None);
        // A report whose owner is not known (its label removed) wakes whoever reads reports.
        let mut unknown = TriggerWindow::default();
        unknown.add(report(Some("a"), None, None));
        assert_eq!(
            unknown.scope_for("uid-2", reads, all, known),
            Some(only(&["a"]))
        );
        assert_eq!(unknown.scope_for("uid-2", |_, _| false, all, known), None);
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
            ..Trigger::default()
        });
        // It left team a: the resource selecting team a must still come to take back.
        let now = |_: &str| Some(labels(&[("team", "b")]));
        assert!(window.concerns("uid", selects_team_a, now));
        let mut other = TriggerWindow::default();
        other.add(Trigger {
            namespace: Some("n".into()),
            old_labels: Some(labels(&[("team", "c")])),
            ..Trigger::default()
        });
        assert!(!other.concerns("uid", selects_team_a, now));
        assert_eq!(
            window.scope_for("uid", |_, _| true, selects_team_a, now),
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

    fn only(names: &[&str]) -> Scope {
        Scope::Namespaces(names.iter().map(|n| n.to_string()).collect())
    }

    fn of_kind(kind: &str, namespace: Option<&str>, reach: Option<&[&str]>) -> Trigger {
        Trigger {
            namespace: namespace.map(str::to_string),
            kind: Some(kind.into()),
            reach: reach.map(|r| r.iter().map(|n| n.to_string()).collect()),
            ..Trigger::default()
        }
    }

    /// Reads everything but StorageClasses, and no Pods outside namespace `velero`.
    fn reads_some(kind: &str, namespace: Option<&str>) -> bool {
        match namespace {
            None => kind != "StorageClass",
            Some(ns) => kind != "Pod" || ns == "velero",
        }
    }

    #[test]
    fn a_change_of_a_kind_the_resource_does_not_read_wakes_it_not_at_all() {
        let all = |_: &str, _: Option<&BTreeMap<String, String>>| true;
        let known = |_: &str| Some(BTreeMap::new());
        let mut window = TriggerWindow::default();
        window.add(of_kind("StorageClass", None, None));
        window.add(of_kind("Pod", Some("a"), None));
        assert_eq!(window.scope_for("uid", reads_some, all, known), None);
        // The same kinds wake a resource that reads them.
        assert_eq!(
            window.scope_for("uid", |_, _| true, all, known),
            Some(Scope::All)
        );
        // A Pod where it does read them, and a change that is no object's, do.
        window.add(of_kind("Pod", Some("velero"), None));
        assert_eq!(
            window.scope_for("uid", reads_some, all, known),
            Some(only(&["velero"]))
        );
        window.lost_track();
        assert_eq!(
            window.scope_for("uid", reads_some, all, known),
            Some(Scope::All)
        );
    }

    #[test]
    fn a_change_with_a_known_reach_concerns_those_namespaces_only() {
        let all = |_: &str, _: Option<&BTreeMap<String, String>>| true;
        let known = |_: &str| Some(BTreeMap::new());
        // A ClusterRole bound in a and b: those two, not the cluster.
        let mut window = TriggerWindow::default();
        window.add(of_kind("ClusterRole", None, Some(&["a", "b"])));
        assert_eq!(
            window.scope_for("uid", |_, _| true, all, known),
            Some(only(&["a", "b"]))
        );
        // A ClusterRoleBinding reaching no namespace still wakes: status and the cluster
        // report change.
        let mut window = TriggerWindow::default();
        window.add(of_kind("ClusterRoleBinding", None, Some(&[])));
        assert_eq!(
            window.scope_for("uid", |_, _| true, all, known),
            Some(only(&[]))
        );
        // A production Secret in prod whose copy sits in dev: both.
        let mut window = TriggerWindow::default();
        window.add(of_kind("Secret", Some("prod"), Some(&["dev"])));
        assert_eq!(
            window.scope_for("uid", |_, _| true, all, known),
            Some(only(&["dev", "prod"]))
        );
        // The reached namespaces are judged by the resource's selector too.
        assert_eq!(
            window.scope_for("uid", |_, _| true, |ns, _| ns == "prod", known),
            Some(only(&["prod"]))
        );
    }
}
