//! Which namespaces' NetworkPolicy judgement a namespace's change reaches. A policy whose
//! peer selector picks the namespace (before or after the change) names it among the sources
//! it admits from outside its environment (`restricted-ports`) only when the namespace is
//! outside for one of the rule's ports. A namespace inside for every such port, in its state
//! before and after the change, changes nothing there: the policy's namespace is not judged
//! again. In a cluster whose policies admit their own environment (what the operator writes),
//! a new namespace then dirties itself, not the hundreds of namespaces whose policies pick
//! its environment's label.
//!
//! Inside and outside are decided by the same [`Environments`] the evaluation uses: the
//! partition's for the candidates, the changed namespace's resolved alone in each of its
//! states. Anything not judged here (a missing Namespace, a peer without a port list,
//! memberships that do not line up with the kept isolations) counts as reached: a superset,
//! never less.

use super::partition::Partition;
use crate::evaluate::open_ports::Environments;
use crate::evaluate::selects;
use k8s_openapi::api::core::v1::Namespace;
use k8s_openapi::api::networking::v1::{NetworkPolicyIngressRule, NetworkPolicyPort};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::LabelSelector;
use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

/// Of `candidates` (the namespaces whose policies pick the changed namespace by its labels
/// before or after), those whose judgement the change from `old` to `new` may change.
pub fn reached(
    partition: &Partition,
    candidates: BTreeSet<String>,
    old: Option<&Arc<Namespace>>,
    new: Option<&Arc<Namespace>>,
) -> BTreeSet<String> {
    let Some(name) = new.or(old).and_then(|ns| ns.metadata.name.clone()) else {
        return candidates;
    };
    let candidates: BTreeSet<String> = candidates.into_iter().filter(|c| *c != name).collect();
    if candidates.is_empty() {
        return candidates;
    }
    // The changed namespace's environments in each of its states, resolved alone; the
    // candidates' are the partition's (a namespace's environments are its own labels against
    // the selectors, which this change leaves alone). Resolving the candidates' again per
    // event matched hundreds of namespaces against every environment's selector.
    let kept = partition.environments();
    let states: Vec<(&Namespace, Vec<Vec<String>>)> = [old, new]
        .into_iter()
        .flatten()
        .map(|state| (state.as_ref(), memberships(partition, state)))
        .collect();
    // Hundreds of candidates' policies carry the same few selectors: each is compiled and
    // matched against a state once.
    let picked: Vec<SelectorAnswers> = states.iter().map(|_| SelectorAnswers::default()).collect();
    candidates
        .into_iter()
        .filter(|target| {
            partition.namespace(target).is_none()
                || states.iter().zip(&picked).any(|((state, source), picked)| {
                    outside_somewhere(partition, target, &name, state, &kept, source, picked)
                })
        })
        .collect()
}

/// Distinct selectors kept per state at most: past them a selector is matched on its own
/// (a linear search among thousands of distinct selectors would cost more than compiling).
const DISTINCT_SELECTORS: usize = 32;

/// Whether each selector seen so far picks one namespace state: a cluster's policies repeat
/// the same few selectors, and compiling one per candidate policy was most of a Namespace
/// event's cost at thousands of namespaces.
#[derive(Default)]
struct SelectorAnswers(std::cell::RefCell<Vec<(LabelSelector, bool)>>);

impl SelectorAnswers {
    fn selects(&self, selector: &LabelSelector, labels: &BTreeMap<String, String>) -> bool {
        if let Some((_, answer)) = self.0.borrow().iter().find(|(s, _)| s == selector) {
            return *answer;
        }
        let answer = selects(selector, labels);
        let mut known = self.0.borrow_mut();
        if known.len() < DISTINCT_SELECTORS {
            known.push((selector.clone(), answer));
        }
        answer
    }
}

/// What judging other namespaces' policies reads of a namespace in `state`, besides the
/// selectors picking it: for each EnvironmentIsolation, the environments it is in (none while
/// it is out of scope, Terminating or a restore-test sandbox).
pub fn memberships(partition: &Partition, state: &Arc<Namespace>) -> Vec<Vec<String>> {
    let name = state.metadata.name.as_deref().unwrap_or_default();
    Environments::of(&partition.namespace_alone(state)).memberships(name)
}

static NO_LABELS: BTreeMap<String, String> = BTreeMap::new();

/// Whether a policy of `target` picks `source` (in `state`, in the environments
/// `memberships` per isolation) through a peer selector on a port for which `source` is
/// outside `target`'s environment and declared flows.
fn outside_somewhere(
    partition: &Partition,
    target: &str,
    source: &str,
    state: &Namespace,
    envs: &Environments,
    memberships: &[Vec<String>],
    picked: &SelectorAnswers,
) -> bool {
    let labels = state.metadata.labels.as_ref().unwrap_or(&NO_LABELS);
    let Some(group) = partition.group(target) else {
        return false;
    };
    group
        .network_policies
        .iter()
        .filter_map(|p| p.spec.as_ref())
        .flat_map(|spec| spec.ingress.iter().flatten())
        .filter(|rule| picks(rule, labels, picked))
        .any(|rule| {
            ports_of(rule)
                .iter()
                .any(|port| !envs.inside_from(memberships, source, target, port))
        })
}

/// Whether a peer selector of `rule` picks a namespace labelled `labels`.
fn picks(
    rule: &NetworkPolicyIngressRule,
    labels: &BTreeMap<String, String>,
    picked: &SelectorAnswers,
) -> bool {
    rule.from
        .iter()
        .flatten()
        .filter_map(|peer| peer.namespace_selector.as_ref())
        .any(|selector| picked.selects(selector, labels))
}

/// The ports the evaluation asks about for `rule`: each it names, or every port (as
/// `open_ports` asks for a rule naming none).
fn ports_of(rule: &NetworkPolicyIngressRule) -> Vec<NetworkPolicyPort> {
    match rule.ports.as_deref() {
        Some(ports) if !ports.is_empty() => ports.to_vec(),
        _ => vec![NetworkPolicyPort::default()],
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::object::{Event, Object};
    use serde_json::json;

    fn namespace(name: &str, env: Option<&str>) -> Arc<Namespace> {
        let mut labels = json!({"kubernetes.io/metadata.name": name});
        if let Some(env) = env {
            labels["env"] = json!(env);
        }
        Arc::new(
            serde_json::from_value(json!({"metadata": {"name": name, "labels": labels}})).unwrap(),
        )
    }

    /// `prod` admits its own environment on every port and `stage` on 443 (a declared flow);
    /// `dev` admits its own environment on 8080.
    fn cluster() -> Partition {
        let mut partition = Partition::new(crate::snapshot::ExcludedNamespaces::default(), false);
        let isolation = json!({
            "apiVersion": "security.baseline.dev/v1alpha1", "kind": "EnvironmentIsolation",
            "metadata": {"name": "ei", "uid": "uid-ei"},
            "spec": {"environments": [
                {"name": "production", "production": true, "namespaceSelector": {"matchLabels": {"env": "production"}}},
                {"name": "staging", "namespaceSelector": {"matchLabels": {"env": "staging"}}},
                {"name": "development", "namespaceSelector": {"matchLabels": {"env": "development"}}}],
                "allowedFlows": [{"from": "staging", "to": "production", "ports": [{"port": 443}]}]},
        });
        partition.apply(Event::Upsert(Object::environment_isolations(Arc::new(
            serde_json::from_value(isolation).unwrap(),
        ))));
        for (name, env) in [("prod", "production"), ("dev", "development")] {
            partition.apply(Event::Upsert(Object::namespaces(namespace(
                name,
                Some(env),
            ))));
        }
        let policy = |ns: &str, rules: serde_json::Value| {
            Object::network_policies(Arc::new(
                serde_json::from_value(json!({
                    "metadata": {"namespace": ns, "name": "isolate"},
                    "spec": {"podSelector": {}, "policyTypes": ["Ingress"], "ingress": rules},
                }))
                .unwrap(),
            ))
        };
        partition.apply(Event::Upsert(policy(
            "prod",
            json!([
                {"from": [{"namespaceSelector": {"matchLabels": {"env": "production"}}}]},
                {"from": [{"namespaceSelector": {"matchLabels": {"env": "staging"}}}], "ports": [{"port": 443}]},
            ]),
        )));
        partition.apply(Event::Upsert(policy(
            "dev",
            json!([{"from": [{"namespaceSelector": {"matchLabels": {"env": "development"}}}],
                    "ports": [{"port": 8080}]}]),
        )));
        partition
    }

    fn reached_by(partition: &Partition, old: Option<&str>, new: Option<&str>) -> Vec<String> {
        let (old, new) = (namespace("new", old), namespace("new", new));
        let candidates = BTreeSet::from(["prod".to_string(), "dev".to_string()]);
        reached(partition, candidates, Some(&old), Some(&new))
            .into_iter()
            .collect()
    }

    #[test]
    fn a_remembered_selector_answers_as_matching_it_does_past_the_bound_too() {
        let labels: BTreeMap<String, String> = [("env".to_string(), "production".to_string())]
            .into_iter()
            .collect();
        let answers = SelectorAnswers::default();
        // More distinct selectors than are remembered, each asked twice.
        for round in 0..2 {
            for at in 0..DISTINCT_SELECTORS + 8 {
                let value = if at % 3 == 0 { "production" } else { "staging" };
                let selector: LabelSelector = serde_json::from_value(
                    json!({"matchLabels": {"env": value}, "matchExpressions": [
                        {"key": format!("k{at}"), "operator": "DoesNotExist"}]}),
                )
                .unwrap();
                assert_eq!(
                    answers.selects(&selector, &labels),
                    at % 3 == 0,
                    "selector {at}, round {round}"
                );
            }
        }
        assert_eq!(answers.0.borrow().len(), DISTINCT_SELECTORS);
    }

    #[test]
    fn a_namespace_joining_an_environment_its_pickers_admit_reaches_none_of_them() {
        let partition = cluster();
        // Picked by prod's own-environment rule: inside.
        assert!(reached_by(&partition, None, Some("production")).is_empty());
        // Picked by prod's flow rule on 443, which the flow declares: inside.
        assert!(reached_by(&partition, None, Some("staging")).is_empty());
        // Picked by dev's rule on 8080: its own environment, inside.
        assert!(reached_by(&partition, None, Some("development")).is_empty());
    }

    #[test]
    fn a_namespace_outside_for_a_port_that_picks_it_is_reached_before_and_after() {
        let mut partition = cluster();
        // prod's flow rule now also opens 8443, which no flow declares: a staging namespace is
        // outside there, joining or leaving.
        partition.apply(Event::Upsert(Object::network_policies(Arc::new(
            serde_json::from_value(json!({
                "metadata": {"namespace": "prod", "name": "isolate"},
                "spec": {"podSelector": {}, "policyTypes": ["Ingress"], "ingress": [
                    {"from": [{"namespaceSelector": {"matchLabels": {"env": "staging"}}}],
                     "ports": [{"port": 443}, {"port": 8443}]}]},
            }))
            .unwrap(),
        ))));
        assert_eq!(reached_by(&partition, None, Some("staging")), ["prod"]);
        assert_eq!(reached_by(&partition, Some("staging"), None), ["prod"]);
        // A policy whose namespace is gone, or unknown, is always reached.
        let candidates = BTreeSet::from(["gone".to_string()]);
        let new = namespace("new", Some("production"));
        assert_eq!(
            reached(&partition, candidates, None, Some(&new)),
            BTreeSet::from(["gone".to_string()])
        );
    }
}
