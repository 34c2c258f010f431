//! Global indexes for the controls that read across namespaces, updated per event. Each
//! answers one question: which namespaces must be judged again when a cluster-scoped object,
//! or another namespace, changes.

use super::object::Object;
use k8s_openapi::api::networking::v1::NetworkPolicy;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::LabelSelector;
use kube::core::{Selector, SelectorExt};
use std::collections::{BTreeMap, BTreeSet};

/// namespace -> object name -> what the index keeps of it.
type ByNamespace<T> = BTreeMap<String, BTreeMap<String, T>>;

/// The peer namespace selectors of every NetworkPolicy, each distinct selector compiled once
/// with the namespaces whose policies use it. Policies written from one template (those the
/// operator renders, or a team's) share a handful of selectors across thousands of
/// namespaces: which of them pick a namespace's labels is a few matches, not one per policy.
#[derive(Clone, Debug, Default)]
pub struct SelectorPeers {
    /// namespace -> policy name -> its selectors' keys.
    by_namespace: ByNamespace<Vec<String>>,
    /// A selector's key (its canonical JSON) -> the selector and who uses it.
    distinct: BTreeMap<String, Distinct>,
    /// Label keys the distinct selectors read, with how many of them read each.
    label_keys: BTreeMap<String, usize>,
}

#[derive(Clone, Debug)]
struct Distinct {
    /// `None`: invalid, so it selects nothing (as `vocabulary::selection::selects` judges).
    compiled: Option<Selector>,
    /// namespace -> how many of its policies' peers use the selector.
    users: BTreeMap<String, usize>,
    /// The label keys it reads.
    label_keys: Vec<String>,
}

/// The label keys a selector reads (those of `matchLabels` and `matchExpressions`): whatever
/// the values of the others, it picks a namespace the same.
fn selector_keys(selector: &LabelSelector) -> Vec<String> {
    let labels = selector.match_labels.iter().flat_map(|m| m.keys().cloned());
    let expressions = selector
        .match_expressions
        .iter()
        .flatten()
        .map(|e| e.key.clone());
    labels.chain(expressions).collect()
}

/// The label keys of every selector in a custom resource's spec, wherever it sits
/// (namespace, environment and exemption selectors, and any a later field adds).
fn spec_selector_keys(value: &serde_json::Value, out: &mut Vec<String>) {
    use serde_json::Value;
    match value {
        Value::Object(map) => {
            if let Some(Value::Object(labels)) = map.get("matchLabels") {
                out.extend(labels.keys().cloned());
            }
            if let Some(Value::Array(expressions)) = map.get("matchExpressions") {
                out.extend(
                    expressions
                        .iter()
                        .filter_map(|e| e.get("key")?.as_str())
                        .map(str::to_string),
                );
            }
            map.values().for_each(|v| spec_selector_keys(v, out));
        }
        Value::Array(items) => items.iter().for_each(|v| spec_selector_keys(v, out)),
        _ => {}
    }
}

fn count(counts: &mut BTreeMap<String, usize>, keys: &[String]) {
    for key in keys {
        *counts.entry(key.clone()).or_default() += 1;
    }
}

fn uncount(counts: &mut BTreeMap<String, usize>, keys: &[String]) {
    for key in keys {
        if let Some(n) = counts.get_mut(key) {
            *n -= 1;
            if *n == 0 {
                counts.remove(key);
            }
        }
    }
}

impl SelectorPeers {
    fn update(&mut self, old: Option<&NetworkPolicy>, new: Option<&NetworkPolicy>) {
        if let Some(policy) = old {
            let (ns, name) = key(&policy.metadata);
            let removed = self
                .by_namespace
                .get_mut(ns)
                .and_then(|policies| policies.remove(name));
            if self.by_namespace.get(ns).is_some_and(BTreeMap::is_empty) {
                self.by_namespace.remove(ns);
            }
            for selector in removed.into_iter().flatten() {
                if let Some(distinct) = self.distinct.get_mut(&selector) {
                    if let Some(count) = distinct.users.get_mut(ns) {
                        *count -= 1;
                        if *count == 0 {
                            distinct.users.remove(ns);
                        }
                    }
                    if distinct.users.is_empty()
                        && let Some(gone) = self.distinct.remove(&selector)
                    {
                        uncount(&mut self.label_keys, &gone.label_keys);
                    }
                }
            }
        }
        let Some(policy) = new else {
            return;
        };
        let selectors = peer_selectors(policy);
        if selectors.is_empty() {
            return;
        }
        let (ns, name) = key(&policy.metadata);
        let mut keys = Vec::with_capacity(selectors.len());
        for selector in selectors {
            let key = serde_json::to_string(&selector).unwrap_or_default();
            let label_keys = &mut self.label_keys;
            let distinct = self.distinct.entry(key.clone()).or_insert_with(|| {
                let keys = selector_keys(&selector);
                count(label_keys, &keys);
                Distinct {
                    compiled: Selector::try_from(selector).ok(),
                    users: BTreeMap::new(),
                    label_keys: keys,
                }
            });
            *distinct.users.entry(ns.to_string()).or_default() += 1;
            keys.push(key);
        }
        self.by_namespace
            .entry(ns.to_string())
            .or_default()
            .insert(name.to_string(), keys);
    }

    /// The distinct selectors (by key) that pick a namespace labelled `labels`.
    pub fn picking(&self, labels: &BTreeMap<String, String>) -> BTreeSet<&str> {
        self.distinct
            .iter()
            .filter(|(_, d)| d.compiled.as_ref().is_some_and(|s| s.matches(labels)))
            .map(|(key, _)| key.as_str())
            .collect()
    }

    /// The namespaces whose policies use any of the selectors `keys`.
    pub fn using<'a>(&self, keys: impl IntoIterator<Item = &'a str>) -> BTreeSet<String> {
        keys.into_iter()
            .filter_map(|key| self.distinct.get(key))
            .flat_map(|d| d.users.keys().cloned())
            .collect()
    }

    /// Namespaces with a NetworkPolicy whose peer selector picks a namespace labelled
    /// `labels`.
    pub fn selecting(&self, labels: &BTreeMap<String, String>) -> BTreeSet<String> {
        self.using(self.picking(labels))
    }
}

#[derive(Clone, Debug, Default)]
pub struct Indexes {
    /// The non-empty `namespaceSelector`s of the ingress peers of each namespace's
    /// NetworkPolicies: `restricted-ports` judges which namespaces they admit and whether
    /// those are inside the policy's environment, so a namespace whose labels change, or a
    /// change of environments, concerns the namespaces whose selectors pick it.
    pub selector_peers: SelectorPeers,
    /// The ClusterRoles each namespace's RoleBindings name: a ClusterRole's rules judge them.
    bound_cluster_roles: ByNamespace<String>,
    /// The StorageClass each namespace's PersistentVolumeClaims name (`None`: none, so the
    /// default class): a StorageClass judges them.
    claimed_classes: ByNamespace<Option<String>>,
    /// Where each Secret digest is held: EnvironmentIsolation's copied-Secret detection
    /// judges one namespace's Secrets by another's.
    pub secret_holders: super::crossing::SecretHolders,
    /// Which namespaces' RoleBindings name another namespace's identities:
    /// EnvironmentIsolation's cross-environment access judges them by that namespace's
    /// environment.
    pub bound_subjects: super::crossing::BoundSubjects,
    /// The label keys of each custom resource's selectors, and how many resources' selectors
    /// name each key: with the peer selectors', every namespace label any judgment reads
    /// through a selector.
    custom_keys: BTreeMap<super::object::ObjectKey, Vec<String>>,
    custom_key_counts: BTreeMap<String, usize>,
    /// Which namespaces' objects name another namespace or point at an address:
    /// EnvironmentIsolation's routes and cloned claims judge them by that namespace's
    /// environment.
    pub mentions: super::mentions::Mentions,
    /// Which namespaces isolate their ingress, and which admit every namespace: what
    /// segregation reads of a target when another namespace changes environment.
    pub ingress_shapes: super::ingress_shapes::IngressShapes,
}

fn replace<T>(index: &mut ByNamespace<T>, old: Option<(&str, &str)>, new: Option<(&str, &str, T)>) {
    if let Some((namespace, name)) = old
        && let Some(entries) = index.get_mut(namespace)
    {
        entries.remove(name);
        if entries.is_empty() {
            index.remove(namespace);
        }
    }
    if let Some((namespace, name, value)) = new {
        index
            .entry(namespace.to_string())
            .or_default()
            .insert(name.to_string(), value);
    }
}

fn key(meta: &k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta) -> (&str, &str) {
    (
        meta.namespace.as_deref().unwrap_or_default(),
        meta.name.as_deref().unwrap_or_default(),
    )
}

/// The non-empty namespace selectors of a policy's ingress peers.
fn peer_selectors(policy: &NetworkPolicy) -> Vec<LabelSelector> {
    policy
        .spec
        .iter()
        .flat_map(|s| s.ingress.iter().flatten())
        .flat_map(|rule| rule.from.iter().flatten())
        .filter_map(|peer| peer.namespace_selector.clone())
        .filter(|s| {
            s.match_labels.as_ref().is_some_and(|m| !m.is_empty())
                || s.match_expressions.as_ref().is_some_and(|e| !e.is_empty())
        })
        .collect()
}

impl Indexes {
    /// Follows one object's change (`old` replaced by `new`; either may be absent).
    pub fn update(&mut self, old: Option<&Object>, new: Option<&Object>) {
        self.bound_subjects.update(old, new);
        self.mentions.update(old, new);
        if let Some(any) = new.or(old)
            && any.key().kind.is_custom()
        {
            let key = any.key();
            if let Some(before) = self.custom_keys.remove(&key) {
                uncount(&mut self.custom_key_counts, &before);
            }
            if let Some(spec) = new.and_then(Object::spec_json) {
                let mut keys = Vec::new();
                spec_selector_keys(&spec, &mut keys);
                keys.sort();
                keys.dedup();
                count(&mut self.custom_key_counts, &keys);
                self.custom_keys.insert(key, keys);
            }
        }
        let secret = |o: Option<&Object>| match o {
            Some(Object::secrets(s)) => Some(s.clone()),
            _ => None,
        };
        let (old_secret, new_secret) = (secret(old), secret(new));
        if old_secret.is_some() || new_secret.is_some() {
            self.secret_holders
                .update(old_secret.as_deref(), new_secret.as_deref());
        }
        match (old, new) {
            (Some(Object::network_policies(_)), _) | (_, Some(Object::network_policies(_))) => {
                let of = |o: Option<&Object>| match o {
                    Some(Object::network_policies(p)) => Some(p.clone()),
                    _ => None,
                };
                let (old, new) = (of(old), of(new));
                self.selector_peers.update(old.as_deref(), new.as_deref());
                self.ingress_shapes.update(old.as_deref(), new.as_deref());
            }
            (Some(Object::role_bindings(_)), _) | (_, Some(Object::role_bindings(_))) => {
                let of = |o: Option<&Object>| match o {
                    Some(Object::role_bindings(b)) => Some(b.clone()),
                    _ => None,
                };
                let (old, new) = (of(old), of(new));
                replace(
                    &mut self.bound_cluster_roles,
                    old.as_deref().map(|b| key(&b.metadata)),
                    new.as_deref()
                        .filter(|b| b.role_ref.kind == "ClusterRole")
                        .map(|b| {
                            let (ns, name) = key(&b.metadata);
                            (ns, name, b.role_ref.name.clone())
                        }),
                );
            }
            (Some(Object::persistent_volume_claims(_)), _)
            | (_, Some(Object::persistent_volume_claims(_))) => {
                let of = |o: Option<&Object>| match o {
                    Some(Object::persistent_volume_claims(c)) => Some(c.clone()),
                    _ => None,
                };
                let (old, new) = (of(old), of(new));
                replace(
                    &mut self.claimed_classes,
                    old.as_deref().map(|c| key(&c.metadata)),
                    new.as_deref().map(|c| {
                        let (ns, name) = key(&c.metadata);
                        let class = c.spec.as_ref().and_then(|s| s.storage_class_name.clone());
                        (ns, name, class)
                    }),
                );
            }
            _ => {}
        }
    }

    /// Whether some selector (a custom resource's, or a NetworkPolicy's peer namespace
    /// selector) reads the namespace label `key`: one none reads changes no selection.
    pub fn selectors_read(&self, key: &str) -> bool {
        self.custom_key_counts.contains_key(key) || self.selector_peers.label_keys.contains_key(key)
    }

    /// Namespaces with a NetworkPolicy that picks peers by namespace selector: whose judgment
    /// depends on which environments there are.
    pub fn with_selector_peers(&self) -> BTreeSet<String> {
        self.selector_peers.by_namespace.keys().cloned().collect()
    }

    /// Namespaces with a RoleBinding naming one of `cluster_roles`.
    pub fn binding_any_of(&self, cluster_roles: &BTreeSet<String>) -> BTreeSet<String> {
        self.bound_cluster_roles
            .iter()
            .filter(|(_, bindings)| bindings.values().any(|r| cluster_roles.contains(r)))
            .map(|(ns, _)| ns.clone())
            .collect()
    }

    /// Namespaces with a PersistentVolumeClaim naming StorageClass `class`, or none (so
    /// judged against the default class, which any StorageClass may become).
    pub fn claiming(&self, class: &str) -> BTreeSet<String> {
        self.claimed_classes
            .iter()
            .filter(|(_, claims)| {
                claims
                    .values()
                    .any(|c| c.as_deref().is_none_or(|c| c == class))
            })
            .map(|(ns, _)| ns.clone())
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn policy(ns: &str, name: &str, selectors: &[&serde_json::Value]) -> NetworkPolicy {
        let from: Vec<_> = selectors
            .iter()
            .map(|s| json!({"namespaceSelector": s}))
            .collect();
        serde_json::from_value(json!({
            "metadata": {"namespace": ns, "name": name},
            "spec": {"podSelector": {}, "ingress": [{"from": from}]},
        }))
        .unwrap()
    }

    fn labels(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn shared_peer_selectors_are_kept_once_with_the_namespaces_using_them() {
        let prod = json!({"matchLabels": {"env": "prod"}});
        let team = json!({"matchExpressions": [{"key": "team", "operator": "Exists"}]});
        let mut peers = SelectorPeers::default();
        peers.update(None, Some(&policy("a", "p", &[&prod])));
        peers.update(None, Some(&policy("b", "p", &[&prod, &team])));
        peers.update(None, Some(&policy("b", "q", &[&prod])));
        // An invalid selector selects nothing; an empty one is not a selector peer at all.
        peers.update(
            None,
            Some(&policy(
                "c",
                "p",
                &[
                    &json!({"matchExpressions": [{"key": "env", "operator": "In"}]}),
                    &json!({}),
                ],
            )),
        );
        assert_eq!(peers.distinct.len(), 3);
        let set = |names: &[&str]| names.iter().map(|n| n.to_string()).collect::<BTreeSet<_>>();
        assert_eq!(
            peers.selecting(&labels(&[("env", "prod")])),
            set(&["a", "b"])
        );
        assert_eq!(peers.selecting(&labels(&[("team", "x")])), set(&["b"]));
        assert_eq!(peers.selecting(&labels(&[("env", "dev")])), set(&[]));
        // b's second policy goes: b still uses the selector through its first.
        let q = policy("b", "q", &[&prod]);
        peers.update(Some(&q), None);
        assert_eq!(
            peers.selecting(&labels(&[("env", "prod")])),
            set(&["a", "b"])
        );
        // a's policy changes to the team selector: a no longer picks prod namespaces.
        peers.update(
            Some(&policy("a", "p", &[&prod])),
            Some(&policy("a", "p", &[&team])),
        );
        assert_eq!(peers.selecting(&labels(&[("env", "prod")])), set(&["b"]));
        assert_eq!(peers.selecting(&labels(&[("team", "x")])), set(&["a", "b"]));
        // Every policy gone: nothing is kept.
        peers.update(Some(&policy("a", "p", &[])), None);
        peers.update(Some(&policy("b", "p", &[])), None);
        peers.update(Some(&policy("c", "p", &[])), None);
        assert!(peers.distinct.is_empty() && peers.by_namespace.is_empty());
    }
}
