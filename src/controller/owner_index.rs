//! Which objects of one watched kind carry the operator's owner label, by owner and
//! namespace: what a write pass over a few namespaces looks up instead of walking every
//! object of the kind (at 3,200 namespaces, thousands of NetworkPolicies and reports per pass).
//!
//! It follows the watch's events *before* the store does (see `stores::reflect`): an object
//! the store holds is always named here, an object named here may already be gone from the
//! store (the reader then finds nothing, as it would a moment later). The reader takes each
//! object from the store and checks its owner label and namespace again, so the index only
//! decides which objects to look at, never what they say. A relist is followed as the store
//! follows it: the listed objects replace the old ones at the list's end.

use super::scope::Scope;
use kube::Resource;
use kube::runtime::watcher;
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::{Arc, PoisonError, RwLock};

/// An object's place: its namespace (None: cluster-scoped) and name.
pub type Place = (Option<String>, String);

#[derive(Default)]
struct Entries {
    /// Owner uid -> namespace -> names.
    by_owner: HashMap<String, BTreeMap<Option<String>, BTreeSet<String>>>,
    /// Each indexed object's owner: a changed or removed label moves it.
    owner_of: HashMap<Place, String>,
    /// A relist under way: the labelled objects listed so far.
    listing: Option<Vec<(String, Place)>>,
}

impl Entries {
    fn insert(&mut self, owner: String, place: Place) {
        let (namespace, name) = place.clone();
        self.by_owner
            .entry(owner.clone())
            .or_default()
            .entry(namespace)
            .or_default()
            .insert(name);
        self.owner_of.insert(place, owner);
    }

    fn remove(&mut self, place: &Place) {
        let Some(owner) = self.owner_of.remove(place) else {
            return;
        };
        let Some(namespaces) = self.by_owner.get_mut(&owner) else {
            return;
        };
        if let Some(names) = namespaces.get_mut(&place.0) {
            names.remove(&place.1);
            if names.is_empty() {
                namespaces.remove(&place.0);
            }
        }
        if namespaces.is_empty() {
            self.by_owner.remove(&owner);
        }
    }
}

/// See the module documentation. Cheap to clone: one index shared by the watch and readers.
#[derive(Clone, Default)]
pub struct OwnerIndex(Arc<RwLock<Entries>>);

impl OwnerIndex {
    /// Follows one watch event (before the store applies it).
    pub fn follow<K: Resource>(&self, event: &watcher::Event<K>) {
        let mut entries = self.0.write().unwrap_or_else(PoisonError::into_inner);
        match event {
            watcher::Event::Apply(object) => {
                let place = place_of(object);
                entries.remove(&place);
                if let Some(owner) = owner_of(object) {
                    entries.insert(owner, place);
                }
            }
            watcher::Event::Delete(object) => entries.remove(&place_of(object)),
            watcher::Event::Init => entries.listing = Some(Vec::new()),
            watcher::Event::InitApply(object) => {
                if let Some(owner) = owner_of(object) {
                    let place = place_of(object);
                    entries
                        .listing
                        .get_or_insert_with(Vec::new)
                        .push((owner, place));
                }
            }
            watcher::Event::InitDone => {
                let listed = entries.listing.take().unwrap_or_default();
                entries.by_owner.clear();
                entries.owner_of.clear();
                for (owner, place) in listed {
                    entries.insert(owner, place);
                }
            }
        }
    }

    /// The namespaces holding at least one of `owner`'s objects (maybe one just deleted, see
    /// the module documentation), sorted.
    pub fn namespaces_of(&self, owner: &str) -> Vec<String> {
        let entries = self.0.read().unwrap_or_else(PoisonError::into_inner);
        entries
            .by_owner
            .get(owner)
            .map(|namespaces| namespaces.keys().flatten().cloned().collect())
            .unwrap_or_default()
    }

    /// The places of `owner`'s objects that `scope` covers (cluster-scoped ones always).
    pub fn owned_by(&self, owner: &str, scope: &Scope) -> Vec<Place> {
        let entries = self.0.read().unwrap_or_else(PoisonError::into_inner);
        let Some(namespaces) = entries.by_owner.get(owner) else {
            return Vec::new();
        };
        let listed = |namespace: &Option<String>, names: &BTreeSet<String>| {
            names
                .iter()
                .map(|name| (namespace.clone(), name.clone()))
                .collect::<Vec<_>>()
        };
        match scope {
            Scope::All => namespaces
                .iter()
                .flat_map(|(namespace, names)| listed(namespace, names))
                .collect(),
            Scope::Namespaces(covered) => std::iter::once(None)
                .chain(covered.iter().cloned().map(Some))
                .filter_map(|namespace| {
                    let names = namespaces.get(&namespace)?;
                    Some(listed(&namespace, names))
                })
                .flatten()
                .collect(),
        }
    }
}

fn place_of<K: Resource>(object: &K) -> Place {
    let meta = object.meta();
    (
        meta.namespace.clone(),
        meta.name.clone().unwrap_or_default(),
    )
}

/// The uid an owned object's label names as its owner.
pub fn owner_of<K: Resource>(object: &K) -> Option<String> {
    object
        .meta()
        .labels
        .as_ref()?
        .get(crate::desired::OWNER_UID)
        .cloned()
}

#[cfg(test)]
mod tests {
    use super::*;
    use k8s_openapi::api::networking::v1::NetworkPolicy;
    use serde_json::json;

    fn policy(namespace: &str, name: &str, owner: Option<&str>) -> NetworkPolicy {
        let mut labels = json!({"app": "x"});
        if let Some(owner) = owner {
            labels[crate::desired::OWNER_UID] = json!(owner);
        }
        serde_json::from_value(
            json!({"metadata": {"namespace": namespace, "name": name, "labels": labels}}),
        )
        .unwrap()
    }

    fn places(list: &[(&str, &str)]) -> Vec<Place> {
        list.iter()
            .map(|(ns, name)| (Some(ns.to_string()), name.to_string()))
            .collect()
    }

    fn only(namespaces: &[&str]) -> Scope {
        Scope::Namespaces(namespaces.iter().map(|n| n.to_string()).collect())
    }

    #[test]
    fn an_owners_objects_are_found_by_namespace_and_follow_their_label() {
        let index = OwnerIndex::default();
        for event in [
            watcher::Event::Apply(policy("a", "deny", Some("uid-1"))),
            watcher::Event::Apply(policy("b", "deny", Some("uid-1"))),
            watcher::Event::Apply(policy("b", "tenant", None)),
            watcher::Event::Apply(policy("b", "other", Some("uid-2"))),
        ] {
            index.follow(&event);
        }
        assert_eq!(
            index.owned_by("uid-1", &Scope::All),
            places(&[("a", "deny"), ("b", "deny")])
        );
        assert_eq!(
            index.owned_by("uid-1", &only(&["b"])),
            places(&[("b", "deny")])
        );
        assert!(index.owned_by("uid-1", &only(&["c"])).is_empty());
        // Relabelled to another owner, then unlabelled: it moves, then leaves.
        index.follow(&watcher::Event::Apply(policy("a", "deny", Some("uid-2"))));
        assert_eq!(
            index.owned_by("uid-2", &Scope::All),
            places(&[("a", "deny"), ("b", "other")])
        );
        index.follow(&watcher::Event::Apply(policy("a", "deny", None)));
        assert_eq!(
            index.owned_by("uid-2", &Scope::All),
            places(&[("b", "other")])
        );
        assert_eq!(index.namespaces_of("uid-2"), ["b"]);
        assert_eq!(index.namespaces_of("uid-1"), ["b"]);
        assert!(index.namespaces_of("uid-3").is_empty());
        index.follow(&watcher::Event::Delete(policy("b", "deny", Some("uid-1"))));
        assert!(index.owned_by("uid-1", &Scope::All).is_empty());
    }

    #[test]
    fn a_relist_replaces_what_was_indexed_at_its_end() {
        let index = OwnerIndex::default();
        index.follow(&watcher::Event::Apply(policy("a", "gone", Some("uid-1"))));
        index.follow(&watcher::Event::<NetworkPolicy>::Init);
        index.follow(&watcher::Event::InitApply(policy(
            "b",
            "kept",
            Some("uid-1"),
        )));
        // Until the list ends, the index says what the store still holds.
        assert_eq!(
            index.owned_by("uid-1", &Scope::All),
            places(&[("a", "gone")])
        );
        index.follow(&watcher::Event::<NetworkPolicy>::InitDone);
        assert_eq!(
            index.owned_by("uid-1", &Scope::All),
            places(&[("b", "kept")])
        );
    }
}
