//! What a watch event dirties: the namespaces whose evaluation it may change, and the
//! resources whose every namespace it may change.

use super::indexes::Indexes;
use super::object::Object;
use super::partition::Partition;
use crate::vocabulary::selection::LabelMatch;
use k8s_openapi::api::rbac::v1::ClusterRole;
use kube::core::Selector;
use std::collections::{BTreeMap, BTreeSet};

/// The three custom kinds the engine evaluates.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum ResourceKind {
    SecurityBaseline,
    EnvironmentIsolation,
    BackupPolicy,
}

/// One custom resource.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ResourceKey {
    pub kind: ResourceKind,
    pub name: String,
}

/// What must be judged again.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Dirty {
    /// Namespaces every resource judges again (if they are in its scope, or were).
    pub namespaces: BTreeSet<String>,
    /// Resources whose spec changed (or that came or went): every namespace of theirs.
    pub resources: BTreeSet<ResourceKey>,
    /// Namespaces only EnvironmentIsolations judge again: their parts name a namespace
    /// whose environment changed, or an address that changed hands (see
    /// `Engine::isolation_reach`).
    pub isolations: BTreeSet<String>,
    /// Something the per-namespace split of EnvironmentIsolations does not follow changed
    /// (which namespaces are restore-test sandboxes, whether Secrets are observed): every
    /// namespace of every isolation is judged again, and every BackupPolicy's (see
    /// `Engine::follow_backups`).
    pub whole: bool,
}

impl Dirty {
    pub fn is_empty(&self) -> bool {
        self.namespaces.is_empty()
            && self.resources.is_empty()
            && self.isolations.is_empty()
            && !self.whole
    }

    /// Adds what `other` dirties.
    pub fn merge(&mut self, other: Dirty) {
        self.namespaces.extend(other.namespaces);
        self.resources.extend(other.resources);
        self.isolations.extend(other.isolations);
        self.whole |= other.whole;
    }
}

/// The label and annotation keys a Namespace's change set, changed or removed, when that is
/// all it changed (it neither came, went nor began terminating).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ChangedKeys {
    pub labels: BTreeSet<String>,
    pub annotations: BTreeSet<String>,
}

impl ChangedKeys {
    /// The keys whose values differ between two label maps and between two annotation maps.
    pub fn between(
        (old_labels, new_labels): (&BTreeMap<String, String>, &BTreeMap<String, String>),
        (old_annotations, new_annotations): (&BTreeMap<String, String>, &BTreeMap<String, String>),
    ) -> Self {
        fn differing(
            a: &BTreeMap<String, String>,
            b: &BTreeMap<String, String>,
        ) -> BTreeSet<String> {
            a.keys()
                .chain(b.keys())
                .filter(|k| a.get(*k) != b.get(*k))
                .cloned()
                .collect()
        }
        Self {
            labels: differing(old_labels, new_labels),
            annotations: differing(old_annotations, new_annotations),
        }
    }
}

static NO_LABELS: BTreeMap<String, String> = BTreeMap::new();

fn labels_of(object: Option<&Object>) -> Option<&BTreeMap<String, String>> {
    match object {
        Some(Object::namespaces(ns)) => Some(ns.metadata.labels.as_ref().unwrap_or(&NO_LABELS)),
        _ => None,
    }
}

/// What a namespace's environment membership is judged on: its labels and whether it is
/// being deleted.
fn membership_of(object: Option<&Object>) -> Option<(&BTreeMap<String, String>, bool)> {
    match object {
        Some(Object::namespaces(ns)) => Some((
            ns.metadata.labels.as_ref().unwrap_or(&NO_LABELS),
            crate::snapshot::is_terminating(ns),
        )),
        _ => None,
    }
}

/// What namespace environments are read from in an EnvironmentIsolation or a BackupPolicy
/// (see `evaluate::open_ports::Environments`): the isolation's spec while it is not being
/// deleted, the policy's uid (restore-test sandboxes belong to no environment).
fn environments_read(object: Option<&Object>) -> Option<String> {
    match object? {
        Object::environment_isolations(ei) => Some(if ei.metadata.deletion_timestamp.is_some() {
            "deleting".into()
        } else {
            serde_json::to_string(&ei.spec).unwrap_or_default()
        }),
        Object::backup_policies(bp) => Some(bp.metadata.uid.clone().unwrap_or_default()),
        _ => None,
    }
}

/// What replacing `old` by `new` (either may be absent) dirties, `partition` and `indexes`
/// being the state after the change.
pub fn dirtied(
    partition: &Partition,
    indexes: &Indexes,
    old: Option<&Object>,
    new: Option<&Object>,
) -> Dirty {
    let mut dirty = Dirty::default();
    let Some(object) = new.or(old) else {
        return dirty;
    };
    let key = object.key();
    match object {
        // A namespace: itself, judged on its old and its new labels (one leaving a selector
        // is pruned), and the namespaces whose NetworkPolicies pick it by label, before or
        // after (which sources they admit, and from which environment, changed).
        Object::namespaces(_) => {
            dirty.namespaces.insert(key.name.clone());
            let namespace = |o: Option<&Object>| match o {
                Some(Object::namespaces(ns)) => Some(ns.clone()),
                _ => None,
            };
            let (old_ns, new_ns) = (namespace(old), namespace(new));
            // A policy reads a source namespace through the peer selectors that pick it and
            // the environments it is in. While those environments stay, only the policies
            // whose selectors picked it before and not after (or after and not before) can
            // judge differently: a label no selector reads (the Pod Security labels the
            // operator writes) reaches no one.
            let peers = &indexes.selector_peers;
            let picks = |o: Option<&Object>| labels_of(o).map(|l| peers.picking(l));
            let (before, after) = (
                picks(old).unwrap_or_default(),
                picks(new).unwrap_or_default(),
            );
            let moved = match (&old_ns, &new_ns) {
                (Some(old), Some(new)) => {
                    super::peers::memberships(partition, old)
                        != super::peers::memberships(partition, new)
                }
                _ => true,
            };
            let selectors: Vec<&str> = if moved {
                before.union(&after).copied().collect()
            } else {
                before.symmetric_difference(&after).copied().collect()
            };
            dirty.namespaces.extend(super::peers::reached(
                partition,
                peers.using(selectors),
                old_ns.as_ref(),
                new_ns.as_ref(),
            ));
            // Its environment may have changed (environments are label selectors): the
            // namespaces holding the Secret material its Secrets hold (copied-Secret detection,
            // both ways) and those whose RoleBindings name its identities (cross-environment
            // access) are judged by it. Only a change of labels or of being deleted (or one
            // coming or going) can change an environment: a Terminating namespace is in none.
            if membership_of(old) != membership_of(new) {
                dirty
                    .namespaces
                    .extend(indexes.secret_holders.sharing_with(&key.name));
                dirty
                    .namespaces
                    .extend(indexes.bound_subjects.naming(&key.name));
            }
        }
        // A Secret: its namespace, and the namespaces holding any of its digests before or
        // after (its copies if it is a production original; the originals if it is a copy).
        Object::secrets(_) => {
            if let Some(namespace) = key.namespace {
                dirty.namespaces.insert(namespace);
            }
            for secret in [old, new].into_iter().flatten() {
                if let Object::secrets(secret) = secret {
                    dirty
                        .namespaces
                        .extend(indexes.secret_holders.holding_any_of(secret));
                }
            }
        }
        // A StorageClass: the namespaces with claims naming it, or naming none (the default
        // class may be this one, now or before).
        Object::storage_classes(_) => {
            dirty.namespaces.extend(indexes.claiming(&key.name));
        }
        // A ClusterRole: namespaces with RoleBindings to it or to the aggregated ClusterRoles
        // that take its rules (before or after the change).
        Object::cluster_roles(_) => {
            let affected = aggregating(partition, &key.name, old, new);
            dirty.namespaces.extend(indexes.binding_any_of(&affected));
        }
        // Judged once per resource over its selected namespaces, when its evaluation is
        // assembled: no namespace is dirtied.
        Object::cluster_role_bindings(_) => {}
        Object::security_baselines(_) => {
            let spec_of = |o: Option<&Object>| match o {
                Some(Object::security_baselines(sb)) => Some(sb.spec.clone()),
                _ => None,
            };
            if spec_of(old) != spec_of(new) {
                dirty.resources.insert(ResourceKey {
                    kind: ResourceKind::SecurityBaseline,
                    name: key.name.clone(),
                });
            }
        }
        // Environments (whose namespaces are inside a NetworkPolicy's environment) come from
        // every EnvironmentIsolation, and restore-test sandboxes, which belong to none, from
        // BackupPolicies' uids.
        // Only what those are read for: an EnvironmentIsolation's spec and whether it is being
        // deleted, a BackupPolicy's uid. A status write (every pass makes one) is neither.
        Object::environment_isolations(_) | Object::backup_policies(_) => {
            if environments_read(old) != environments_read(new) {
                dirty.namespaces.extend(indexes.with_selector_peers());
            }
            // An isolation's own spec: all of its namespaces. A BackupPolicy's uid says which
            // namespaces are its restore-test sandboxes, in no environment: every isolation's
            // namespaces.
            let spec_of = |o: Option<&Object>| match o {
                Some(Object::environment_isolations(ei)) => Some(ei.spec.clone()),
                _ => None,
            };
            match object {
                Object::environment_isolations(_) if spec_of(old) != spec_of(new) => {
                    dirty.resources.insert(ResourceKey {
                        kind: ResourceKind::EnvironmentIsolation,
                        name: key.name.clone(),
                    });
                }
                Object::backup_policies(_) if environments_read(old) != environments_read(new) => {
                    dirty.whole = true;
                }
                _ => {}
            }
        }
        // Velero's objects are read by BackupPolicies only, by every namespace's part (see
        // `Engine::follow_backups`): no namespace is dirtied for the other kinds.
        Object::velero_schedules(_)
        | Object::velero_backups(_)
        | Object::velero_restores(_)
        | Object::velero_storage_locations(_)
        | Object::velero_snapshot_locations(_) => {}
        // Every other object is judged in its namespace only.
        _ => {
            if let Some(namespace) = key.namespace {
                dirty.namespaces.insert(namespace);
            }
        }
    }
    dirty
}

/// `name` and the aggregated ClusterRoles that take its rules, directly or through others,
/// judged on its labels before (`old`) and after (`new`) the change.
fn aggregating(
    partition: &Partition,
    name: &str,
    old: Option<&Object>,
    new: Option<&Object>,
) -> BTreeSet<String> {
    let role_labels = |o: Option<&Object>| match o {
        Some(Object::cluster_roles(r)) => r.metadata.labels.clone(),
        _ => None,
    };
    let roles = &partition.cluster().cluster_roles;
    let mut affected = BTreeSet::from([name.to_string()]);
    // Labels under which a role in `affected` can be picked by an aggregation rule.
    let mut frontier: Vec<BTreeMap<String, String>> = [role_labels(old), role_labels(new)]
        .into_iter()
        .map(Option::unwrap_or_default)
        .collect();
    while let Some(labels) = frontier.pop() {
        for role in roles.iter().filter(|r| picks(r, &labels)) {
            let role_name = role.metadata.name.clone().unwrap_or_default();
            if affected.insert(role_name) {
                frontier.push(role.metadata.labels.clone().unwrap_or_default());
            }
        }
    }
    affected
}

/// Whether an aggregation rule of `role` picks ClusterRoles labelled `labels`.
fn picks(role: &ClusterRole, labels: &BTreeMap<String, String>) -> bool {
    role.aggregation_rule
        .iter()
        .flat_map(|a| a.cluster_role_selectors.iter().flatten())
        .filter_map(|s| Selector::try_from(s.clone()).ok())
        .any(|s| s.selects(labels))
}
