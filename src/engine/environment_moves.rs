//! Which namespaces' EnvironmentIsolation parts a Namespace's change reaches, besides its own
//! (see `evaluate::isolation::namespace_parts`). A target namespace's segregation part names
//! the sources that reach it: every source when its ingress is not isolated, the sources a
//! rule admits beyond the declared flows otherwise, and it counts its policies only while it
//! has a source at all. So a namespace M changing reaches a target T only if M is a source of
//! T before or after the change, and then only if T is not isolated, or a rule of T admits M
//! (before or after), or M is T's only source. Routes into M and claims cloned from M (see
//! [`super::mentions`]), copied Secrets and bindings naming M's identities (the crossing
//! indexes, in `events::dirtied`) are the rest.
//!
//! M's environments are resolved in each state alone; the cluster's, only when they changed.
//! A label no selector reads changes nothing here.

use super::indexes::Indexes;
use super::partition::Partition;
use crate::evaluate::isolation::{admits_beyond_flows, is_source};
use crate::validate::environment_isolation::ValidEnvironmentIsolation;
use crate::vocabulary::environments::environments_of;
use k8s_openapi::api::core::v1::Namespace;
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::Arc;

static NO_LABELS: BTreeMap<String, String> = BTreeMap::new();

/// The environments of `spec` a namespace in `state` is in, resolved without the others.
fn environments_alone(
    partition: &Partition,
    spec: &ValidEnvironmentIsolation,
    state: Option<&Arc<Namespace>>,
) -> Vec<String> {
    let Some(state) = state else {
        return Vec::new();
    };
    let name = state.metadata.name.as_deref().unwrap_or_default();
    environments_of(&spec.environments, &partition.namespace_alone(state))
        .environments(name)
        .to_vec()
}

fn labels(state: Option<&Arc<Namespace>>) -> &BTreeMap<String, String> {
    state
        .and_then(|ns| ns.metadata.labels.as_ref())
        .unwrap_or(&NO_LABELS)
}

/// The namespaces other than the changed one whose parts of some isolation in `specs` the
/// change from `old` to `new` may change. `partition` and `indexes` hold the state after it.
pub fn reached<'a>(
    partition: &Partition,
    indexes: &Indexes,
    specs: impl IntoIterator<Item = &'a ValidEnvironmentIsolation>,
    old: Option<&Arc<Namespace>>,
    new: Option<&Arc<Namespace>>,
) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    let Some(name) = new.or(old).and_then(|ns| ns.metadata.name.clone()) else {
        return out;
    };
    let (old_labels, new_labels) = (labels(old), labels(new));
    let peers = &indexes.selector_peers;
    let (picked_before, picked_after) = (peers.picking(old_labels), peers.picking(new_labels));
    let mut moved = false;
    let known = partition.environments();
    for spec in specs {
        let before = environments_alone(partition, spec, old);
        let after = environments_alone(partition, spec, new);
        let flows = &spec.allowed_flows;
        // A rule reads M's labels and environments: with both unchanged for this isolation
        // (a label no selector here reads), nothing of another namespace changes.
        let candidates: BTreeSet<String> = if before != after {
            moved = true;
            // The environments the partition keeps per Namespace event (already after this
            // one): resolving every namespace again per move was O(n) in each relabel's and
            // each new production namespace's watch event.
            let computed;
            let envs = match known.map_of(&spec.environments) {
                Some(kept) => kept,
                None => {
                    computed = environments_of(&spec.environments, partition.cluster());
                    &computed
                }
            };
            let pickers = peers.using(picked_before.union(&picked_after).copied());
            let every = indexes.ingress_shapes.admitting_every();
            // Whether a target's environments have a source besides M: without one, M coming
            // or going changes whether the target is judged against any source at all.
            let mut others: HashMap<&[String], bool> = HashMap::new();
            let mut reached = BTreeSet::new();
            for (target, target_envs) in &envs.namespaces {
                if *target == name {
                    continue;
                }
                let (was, is) = (
                    is_source(flows, &before, target_envs),
                    is_source(flows, &after, target_envs),
                );
                if !was && !is {
                    continue;
                }
                let admitting = pickers.contains(target) || every.contains(target.as_str());
                let sole = was != is
                    && !*others.entry(target_envs).or_insert_with(|| {
                        envs.namespaces.iter().any(|(other, other_envs)| {
                            *other != name && is_source(flows, other_envs, target_envs)
                        })
                    });
                if sole
                    || !indexes.ingress_shapes.isolated(target)
                    || (admitting
                        && admits(
                            partition,
                            target,
                            flows,
                            target_envs,
                            (was, is),
                            &before,
                            &after,
                            old_labels,
                            new_labels,
                        ))
                {
                    reached.insert(target.clone());
                }
            }
            reached
        } else if picked_before != picked_after {
            // Same environments, another pick: the targets whose rules pick M in one state
            // only (M's admission there may change).
            let changed = picked_before.symmetric_difference(&picked_after).copied();
            peers.using(changed)
        } else {
            BTreeSet::new()
        };
        out.extend(candidates);
    }
    if moved {
        out.extend(indexes.mentions.naming(&name).cloned());
        if let Some(group) = partition.group(&name) {
            let pods = group.pods.iter().map(|p| super::Object::pods(p.clone()));
            let services = group
                .services
                .iter()
                .map(|s| super::Object::services(s.clone()));
            let addresses: Vec<_> = pods
                .chain(services)
                .flat_map(|o| super::mentions::reported_addresses(&o))
                .collect();
            out.extend(indexes.mentions.pointing_at(addresses).cloned());
        }
    }
    out.remove(&name);
    out
}

/// Whether a policy of `target` admits M beyond the flows in a state where M is a source.
#[allow(clippy::too_many_arguments)]
fn admits(
    partition: &Partition,
    target: &str,
    flows: &[crate::api::environment_isolation::Flow],
    target_envs: &[String],
    (was, is): (bool, bool),
    before: &[String],
    after: &[String],
    old_labels: &BTreeMap<String, String>,
    new_labels: &BTreeMap<String, String>,
) -> bool {
    let Some(group) = partition.group(target) else {
        return false;
    };
    group.network_policies.iter().any(|policy| {
        (was && admits_beyond_flows(policy, old_labels, flows, before, target_envs))
            || (is && admits_beyond_flows(policy, new_labels, flows, after, target_envs))
    })
}
