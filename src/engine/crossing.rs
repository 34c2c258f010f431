//! The indexes behind EnvironmentIsolation's controls that judge one namespace by another:
//! which namespaces hold the same Secret material (`production-data-restricted`'s copied
//! Secrets), and which namespaces' RoleBindings name the identities of another
//! (`cross-environment-access`). Each answers "which namespaces must be judged again" when a
//! Secret, a RoleBinding or a namespace's environment changes, without a scan of the cluster.
//!
//! Neither index knows the environments: a namespace holding the same material, or naming
//! the identities, is named whichever environments they are in (a superset of what changes,
//! never less). Environment membership itself is a namespace's own labels, judged on the
//! Namespace event (see `events::dirtied`).

use super::object::Object;
use crate::evaluate::isolation::{Identities, identities_of};
use crate::snapshot::SecretDigest;
use std::collections::{BTreeMap, BTreeSet, HashMap};

/// (namespace, name) of one object.
type Key = (String, String);

/// Where each Secret digest is held. Keyed digests only: nothing here is ever printed (the
/// `Debug` below counts, never shows them).
#[derive(Clone, Default)]
pub struct SecretHolders {
    /// digest -> the Secrets holding it (whole content or one value).
    holders: HashMap<[u8; 32], BTreeSet<Key>>,
    /// Each Secret's digests, to take them back when it changes or goes.
    of_secret: BTreeMap<Key, Vec<[u8; 32]>>,
}

impl std::fmt::Debug for SecretHolders {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SecretHolders")
            .field("secrets", &self.of_secret.len())
            .field("digests", &self.holders.len())
            .finish()
    }
}

/// The digests of a Secret that copy detection compares: the whole content (when comparable)
/// and every value worth comparing. A production Secret is compared on its secret material
/// only, a subset of these: indexing all of them names a superset, never less.
fn digests_of(secret: &SecretDigest) -> Vec<[u8; 32]> {
    let mut digests: Vec<[u8; 32]> = secret.value_digests.values().copied().collect();
    if secret.digest != [0; 32] {
        digests.push(secret.digest);
    }
    digests.sort_unstable();
    digests.dedup();
    digests
}

impl SecretHolders {
    /// Follows one Secret's change (`old` replaced by `new`; either may be absent).
    pub fn update(&mut self, old: Option<&SecretDigest>, new: Option<&SecretDigest>) {
        let Some(any) = new.or(old) else {
            return;
        };
        let key = (any.namespace.clone(), any.name.clone());
        for digest in self.of_secret.remove(&key).unwrap_or_default() {
            if let Some(holders) = self.holders.get_mut(&digest) {
                holders.remove(&key);
                if holders.is_empty() {
                    self.holders.remove(&digest);
                }
            }
        }
        if let Some(new) = new {
            let digests = digests_of(new);
            for digest in &digests {
                self.holders.entry(*digest).or_default().insert(key.clone());
            }
            self.of_secret.insert(key, digests);
        }
    }

    /// The namespaces other than its own holding any of `secret`'s digests: when it changes
    /// (judged on its digests before and after), its copies, or the originals it copies, are
    /// judged again.
    pub fn holding_any_of(&self, secret: &SecretDigest) -> BTreeSet<String> {
        self.holding_any(digests_of(secret).iter(), &secret.namespace)
    }

    /// The namespaces other than `except` holding any of `digests`.
    fn holding_any<'a>(
        &self,
        digests: impl Iterator<Item = &'a [u8; 32]>,
        except: &str,
    ) -> BTreeSet<String> {
        digests
            .filter_map(|d| self.holders.get(d))
            .flatten()
            .map(|(ns, _)| ns)
            .filter(|ns| *ns != except)
            .cloned()
            .collect()
    }

    /// The namespaces other than `namespace` holding material one of its Secrets holds: when
    /// `namespace` changes environment, its copies (or the originals it copies) are judged
    /// again.
    pub fn sharing_with(&self, namespace: &str) -> BTreeSet<String> {
        let start = (namespace.to_string(), String::new());
        let digests = self
            .of_secret
            .range(start..)
            .take_while(|((ns, _), _)| ns == namespace)
            .flat_map(|(_, digests)| digests);
        self.holding_any(digests, namespace)
    }
}

/// Whose identities a RoleBinding names: some namespaces', or every namespace's (the groups
/// `system:serviceaccounts` and `system:authenticated`).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
struct Named {
    namespaces: BTreeSet<String>,
    every: bool,
}

/// subject namespace -> the RoleBindings naming its identities.
#[derive(Clone, Debug, Default)]
pub struct BoundSubjects {
    naming: BTreeMap<String, BTreeSet<Key>>,
    /// RoleBindings naming every namespace's identities.
    naming_every: BTreeSet<Key>,
    of_binding: BTreeMap<Key, Named>,
}

fn named_by(binding: &k8s_openapi::api::rbac::v1::RoleBinding) -> Named {
    let namespace = binding.metadata.namespace.as_deref();
    let mut named = Named::default();
    for subject in binding.subjects.iter().flatten() {
        match identities_of(subject, namespace) {
            Identities::Of(ns) => {
                named.namespaces.insert(ns);
            }
            Identities::Every => named.every = true,
            Identities::Nobody => {}
        }
    }
    named
}

impl BoundSubjects {
    /// Follows one RoleBinding's change. A RoleBinding is judged in its own namespace (the
    /// finding is the binding there), which its own event dirties already; this only keeps
    /// the index.
    pub fn update(&mut self, old: Option<&Object>, new: Option<&Object>) {
        let binding = |o: Option<&Object>| match o {
            Some(Object::role_bindings(b)) => Some(b.clone()),
            _ => None,
        };
        let (old, new) = (binding(old), binding(new));
        let Some(any) = new.as_deref().or(old.as_deref()) else {
            return;
        };
        let key = (
            any.metadata.namespace.clone().unwrap_or_default(),
            any.metadata.name.clone().unwrap_or_default(),
        );
        if let Some(before) = self.of_binding.remove(&key) {
            for ns in &before.namespaces {
                if let Some(bindings) = self.naming.get_mut(ns) {
                    bindings.remove(&key);
                    if bindings.is_empty() {
                        self.naming.remove(ns);
                    }
                }
            }
            self.naming_every.remove(&key);
        }
        if let Some(binding) = new.as_deref() {
            let named = named_by(binding);
            for ns in &named.namespaces {
                self.naming
                    .entry(ns.clone())
                    .or_default()
                    .insert(key.clone());
            }
            if named.every {
                self.naming_every.insert(key.clone());
            }
            self.of_binding.insert(key, named);
        }
    }

    /// The namespaces whose RoleBindings name an identity of `namespace` (or every
    /// namespace's): when `namespace` changes environment, whether those cross changes.
    pub fn naming(&self, namespace: &str) -> BTreeSet<String> {
        self.naming
            .get(namespace)
            .into_iter()
            .flatten()
            .chain(&self.naming_every)
            .map(|(ns, _)| ns.clone())
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;
    use std::sync::Arc;

    fn secret(ns: &str, name: &str, values: &[u8]) -> SecretDigest {
        SecretDigest {
            namespace: ns.into(),
            name: name.into(),
            labels: BTreeMap::new(),
            // Whole-content digests never match here: the values are what is compared.
            digest: [0; 32],
            value_digests: values
                .iter()
                .enumerate()
                .map(|(i, v)| (format!("k{i}"), [*v; 32]))
                .collect(),
            material_keys: BTreeSet::new(),
            holds_material: true,
        }
    }

    fn set(names: &[&str]) -> BTreeSet<String> {
        names.iter().map(|n| n.to_string()).collect()
    }

    #[test]
    fn a_production_secret_changing_names_the_namespaces_holding_its_old_or_new_values() {
        let mut index = SecretHolders::default();
        index.update(None, Some(&secret("dev", "copy", &[1])));
        index.update(None, Some(&secret("test", "other", &[2])));
        index.update(None, Some(&secret("stage", "unrelated", &[9])));
        // prod/db held value 1 (copied into dev) and now holds value 2 (found in test).
        let old = secret("prod", "db", &[1]);
        index.update(None, Some(&old));
        assert_eq!(index.holding_any_of(&old), set(&["dev"]));
        let new = secret("prod", "db", &[2]);
        index.update(Some(&old), Some(&new));
        assert_eq!(index.holding_any_of(&old), set(&["dev"]));
        assert_eq!(index.holding_any_of(&new), set(&["test"]));
        assert_eq!(index.sharing_with("prod"), set(&["test"]));
        // Gone: it holds nothing any more.
        index.update(Some(&new), None);
        assert_eq!(index.sharing_with("prod"), set(&[]));
        assert_eq!(index.sharing_with("test"), set(&[]));
    }

    #[test]
    fn a_namespace_changing_environment_names_the_namespaces_sharing_its_material() {
        let mut index = SecretHolders::default();
        index.update(None, Some(&secret("prod", "db", &[1, 2])));
        index.update(None, Some(&secret("dev", "copy", &[2])));
        index.update(None, Some(&secret("qa", "copy", &[1])));
        index.update(None, Some(&secret("dev", "mine", &[7])));
        // Both ways: prod's copies, and the originals a dev Secret copies.
        assert_eq!(index.sharing_with("prod"), set(&["dev", "qa"]));
        assert_eq!(index.sharing_with("dev"), set(&["prod"]));
        // A namespace sorting between others is not confused with them ("de" < "dev").
        assert_eq!(index.sharing_with("de"), set(&[]));
    }

    #[test]
    fn the_debug_form_carries_no_digest() {
        let mut index = SecretHolders::default();
        index.update(None, Some(&secret("prod", "db", &[0xab])));
        assert_eq!(
            format!("{index:?}"),
            "SecretHolders { secrets: 1, digests: 1 }"
        );
    }

    fn binding(ns: &str, name: &str, subjects: serde_json::Value) -> Object {
        Object::role_bindings(Arc::new(
            serde_json::from_value(json!({
                "metadata": {"namespace": ns, "name": name},
                "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": "edit"},
                "subjects": subjects,
            }))
            .unwrap(),
        ))
    }

    #[test]
    fn bindings_are_found_by_the_namespaces_whose_identities_they_name() {
        let mut index = BoundSubjects::default();
        let sa = binding(
            "dev",
            "uses-prod",
            json!([{"kind": "ServiceAccount", "name": "app", "namespace": "prod"}]),
        );
        index.update(None, Some(&sa));
        index.update(
            None,
            Some(&binding(
                "qa",
                "user",
                json!([{"kind": "User", "name": "System:ServiceAccount:prod:x "}]),
            )),
        );
        index.update(
            None,
            Some(&binding(
                "stage",
                "group",
                json!([{"kind": "Group", "name": "system:serviceaccounts:ops"}]),
            )),
        );
        // A ServiceAccount subject without a namespace is the binding's own.
        index.update(
            None,
            Some(&binding(
                "own",
                "local",
                json!([{"kind": "ServiceAccount", "name": "app"}]),
            )),
        );
        assert_eq!(index.naming("prod"), set(&["dev", "qa"]));
        assert_eq!(index.naming("ops"), set(&["stage"]));
        assert_eq!(index.naming("own"), set(&["own"]));
        // Every ServiceAccount of every namespace: named whichever namespace changes.
        let every = binding(
            "tools",
            "all",
            json!([{"kind": "Group", "name": "system:serviceaccounts"}]),
        );
        index.update(None, Some(&every));
        assert_eq!(index.naming("nobody-binds-me"), set(&["tools"]));
        // Changed to name someone else, then gone: taken back.
        let moved = binding(
            "dev",
            "uses-prod",
            json!([{"kind": "ServiceAccount", "name": "app", "namespace": "ops"}]),
        );
        index.update(Some(&sa), Some(&moved));
        assert_eq!(index.naming("prod"), set(&["qa", "tools"]));
        assert_eq!(index.naming("ops"), set(&["dev", "stage", "tools"]));
        index.update(Some(&every), None);
        index.update(Some(&moved), None);
        assert_eq!(index.naming("ops"), set(&["stage"]));
    }
}
