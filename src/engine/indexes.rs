//! Global indexes for the controls that read across namespaces, updated per event. Each
//! answers one question: which namespaces must be judged again when a cluster-scoped object,
//! or another namespace, changes.

use super::object::Object;
use crate::evaluate::selects;
use k8s_openapi::api::networking::v1::NetworkPolicy;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::LabelSelector;
use std::collections::{BTreeMap, BTreeSet};

/// namespace -> object name -> what the index keeps of it.
type ByNamespace<T> = BTreeMap<String, BTreeMap<String, T>>;

#[derive(Clone, Debug, Default)]
pub struct Indexes {
    /// The non-empty `namespaceSelector`s of the ingress peers of each namespace's
    /// NetworkPolicies: `restricted-ports` judges which namespaces they admit and whether
    /// those are inside the policy's environment, so a namespace whose labels change, or a
    /// change of environments, concerns the namespaces whose selectors pick it.
    selector_peers: ByNamespace<Vec<LabelSelector>>,
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
                replace(
                    &mut self.selector_peers,
                    old.as_deref().map(|p| key(&p.metadata)),
                    new.as_deref().and_then(|p| {
                        let selectors = peer_selectors(p);
                        let (ns, name) = key(&p.metadata);
                        (!selectors.is_empty()).then_some((ns, name, selectors))
                    }),
                );
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

    /// Namespaces with a NetworkPolicy whose peer selector picks a namespace labelled
    /// `labels`.
    pub fn selecting(&self, labels: &BTreeMap<String, String>) -> BTreeSet<String> {
        self.selector_peers
            .iter()
            .filter(|(_, policies)| {
                policies
                    .values()
                    .flatten()
                    .any(|selector| selects(selector, labels))
            })
            .map(|(ns, _)| ns.clone())
            .collect()
    }

    /// Namespaces with a NetworkPolicy that picks peers by namespace selector: whose judgment
    /// depends on which environments there are.
    pub fn with_selector_peers(&self) -> BTreeSet<String> {
        self.selector_peers.keys().cloned().collect()
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
