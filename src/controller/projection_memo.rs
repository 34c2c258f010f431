//! Projections of stored objects kept from one snapshot to the next. A plan reads ConfigMaps
//! and ReplicaSets as small projections (labels; the controller that vouches for a pod), and
//! every plan takes a snapshot: projecting every object afresh each time cloned every
//! ConfigMap's labels and every ReplicaSet's owner per plan (a seventh of a relabel's CPU at
//! 1,000 namespaces). A reflector stores each version of an object in a new `Arc`, so the
//! projection of an `Arc` seen before is still right, and only new versions are projected.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};

/// The projections of the objects of the last snapshot, by the address of the stored version
/// they were made from. The version itself is held beside its projection, so that its address
/// cannot be reused by another object while the entry exists.
pub struct ProjectionMemo<K, P> {
    by_version: Mutex<HashMap<usize, Remembered<K, P>>>,
}

/// A stored version and its projection.
type Remembered<K, P> = (Arc<K>, Arc<P>);

impl<K, P> Default for ProjectionMemo<K, P> {
    fn default() -> Self {
        Self {
            by_version: Mutex::new(HashMap::new()),
        }
    }
}

impl<K, P> ProjectionMemo<K, P> {
    /// The projections of `objects` (a store's state), in their order: those of versions the
    /// last call saw are reused, the others made by `project`. What the last call saw and
    /// `objects` no longer holds is forgotten.
    pub fn project(&self, objects: Vec<Arc<K>>, project: impl Fn(&K) -> P) -> Vec<Arc<P>> {
        let mut memo = self
            .by_version
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        let mut next = HashMap::with_capacity(objects.len());
        let projected = objects
            .into_iter()
            .map(|object| {
                let key = Arc::as_ptr(&object) as usize;
                let projection = match memo.remove(&key) {
                    Some((_, projection)) => projection,
                    None => Arc::new(project(&object)),
                };
                next.insert(key, (object, projection.clone()));
                projection
            })
            .collect();
        *memo = next;
        projected
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::cell::Cell;

    #[test]
    fn only_new_versions_are_projected_and_gone_ones_forgotten() {
        let memo = ProjectionMemo::<String, usize>::default();
        let (a, b) = (Arc::new("a".to_string()), Arc::new("bb".to_string()));
        let made = Cell::new(0);
        let len = |s: &String| {
            made.set(made.get() + 1);
            s.len()
        };
        let first = memo.project(vec![a.clone(), b.clone()], len);
        assert_eq!((*first[0], *first[1], made.get()), (1, 2, 2));
        // `b` changed: the reflector stores its new version in a new Arc.
        let b2 = Arc::new("bbb".to_string());
        let second = memo.project(vec![a.clone(), b2.clone()], len);
        assert_eq!((*second[0], *second[1]), (1, 3));
        assert_eq!(made.get(), 3, "only the new version was projected");
        assert!(Arc::ptr_eq(&first[0], &second[0]), "a's projection reused");
        // `a` deleted: its projection is forgotten (and its stored version released).
        let third = memo.project(vec![b2.clone()], len);
        assert_eq!(*third[0], 3);
        assert_eq!(Arc::strong_count(&a), 1, "the memo let go of a's version");
        assert_eq!(made.get(), 3);
    }
}
