//! `restricted-ports` on ingress: the ports the union of a namespace's NetworkPolicies opens to
//! sources outside the namespace's environment and declared flows, beyond the baseline's list.
//!
//! NetworkPolicies are additive: a pod's allowed ingress is the union of the ingress rules of
//! every policy selecting it (the operator's own included), and a (source, port) pair is in
//! that union exactly when one rule admits it. So the union opens an unlisted port to an
//! outside source exactly when some rule of some policy does, and that rule's policy is the
//! object to report. A policy is judged whether or not a pod matches its `podSelector` today:
//! a pod created tomorrow would be reached.
//!
//! Inside, whatever the list says: the namespace's own pods (a `podSelector`-only peer), the
//! namespaces of its environment(s) as any EnvironmentIsolation defines them, and the sources
//! of a declared flow into it, for the ports the flow carries. A namespace no environment
//! claims is an environment of its own. Everything else is outside: every `ipBlock` (with or
//! without `except`, IPv4 or IPv6: which addresses pods have is not in the API, and an address
//! block is a path from outside the cluster), an empty `namespaceSelector`, a rule without
//! `from`, and namespaces a selector matches beyond the environment.

use super::isolation::{flow_allows, flow_allows_between};
use super::{ObjectRef, Violation, selects};
use crate::api::environment_isolation::Flow;
use crate::api::{PortSpec, Protocol};
use crate::snapshot::Snapshot;
use crate::validate::environment_isolation::{ValidEnvironmentIsolation, validate};
use crate::vocabulary::environments::{Environment, EnvironmentMap, environments_of};
use k8s_openapi::api::core::v1::Namespace;
use k8s_openapi::api::networking::v1::{
    NetworkPolicy, NetworkPolicyIngressRule, NetworkPolicyPeer, NetworkPolicyPort,
};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::LabelSelector;
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;
use std::collections::BTreeMap;

/// Every EnvironmentIsolation's environments and flows, resolved once per evaluation (or kept
/// by the incremental engine, updated per Namespace event: see
/// [`Environments::namespace_changed`]).
#[derive(Clone, Debug)]
pub struct Environments {
    isolations: Vec<(EnvironmentMap, Vec<Flow>)>,
    /// Each isolation's declared environments, in the order of `isolations`: what a changed
    /// namespace is placed by.
    declared: Vec<Vec<Environment>>,
}

/// Equal when they resolve the same environments and flows (the compiled selectors they came
/// from aside).
impl PartialEq for Environments {
    fn eq(&self, other: &Self) -> bool {
        self.isolations == other.isolations
    }
}

impl Environments {
    /// The environments of every valid EnvironmentIsolation in the snapshot, whatever its mode:
    /// which namespaces belong together is a fact of the spec, not of its enforcement.
    pub fn of(snapshot: &Snapshot) -> std::sync::Arc<Self> {
        snapshot.derived.environments(|| Self::compute(snapshot))
    }

    /// [`Self::of`], computed now and not kept.
    pub fn compute(snapshot: &Snapshot) -> Self {
        let (isolations, declared) = Self::counted(snapshot)
            .map(|valid| {
                (
                    (
                        environments_of(&valid.environments, snapshot),
                        valid.allowed_flows.clone(),
                    ),
                    valid.environments,
                )
            })
            .unzip();
        Self {
            isolations,
            declared,
        }
    }

    /// The isolations whose environments count: valid, not being deleted.
    fn counted(snapshot: &Snapshot) -> impl Iterator<Item = ValidEnvironmentIsolation> + '_ {
        snapshot
            .custom_resources
            .environment_isolations
            .iter()
            .filter(|ei| ei.metadata.deletion_timestamp.is_none())
            .filter_map(|ei| validate(&ei.spec).ok())
    }

    /// What of an EnvironmentIsolation these environments are made of: nothing when it does
    /// not count, else its environments and flows. A change of an isolation that leaves this
    /// alone (its status) leaves the environments alone.
    pub fn made_of(
        ei: &crate::api::EnvironmentIsolation,
    ) -> Option<(
        Vec<crate::api::environment_isolation::Environment>,
        Vec<Flow>,
    )> {
        if ei.metadata.deletion_timestamp.is_some() || validate(&ei.spec).is_err() {
            return None;
        }
        Some((ei.spec.environments.clone(), ei.spec.allowed_flows.clone()))
    }

    /// The Namespace `name` changed to `now` (None: gone); `snapshot`'s exclusions and
    /// BackupPolicies are those the environments were computed with.
    pub fn namespace_changed(&mut self, name: &str, now: Option<&Namespace>, snapshot: &Snapshot) {
        for ((map, _), declared) in self.isolations.iter_mut().zip(&self.declared) {
            map.namespace_changed(declared, name, now, snapshot);
        }
    }

    /// The environment map of the isolation declaring exactly `environments`, if it counts.
    pub fn map_of(&self, environments: &[Environment]) -> Option<&EnvironmentMap> {
        let same = |declared: &[Environment]| {
            declared.len() == environments.len()
                && declared.iter().zip(environments).all(|(a, b)| {
                    a.name == b.name && a.production == b.production && a.selector == b.selector
                })
        };
        self.declared
            .iter()
            .position(|declared| same(declared))
            .map(|at| &self.isolations[at].0)
    }

    /// For each isolation, the environments `namespace` is in: all that [`Self::inside`]
    /// reads of a source namespace.
    pub(crate) fn memberships(&self, namespace: &str) -> Vec<Vec<String>> {
        self.isolations
            .iter()
            .map(|(envs, _)| envs.environments(namespace).to_vec())
            .collect()
    }

    /// [`Self::inside`] for a source in the environments `memberships` (per isolation, as
    /// [`Self::memberships`] lists them), e.g. a namespace in a state these environments do
    /// not hold. Memberships for other isolations than these count as outside: a superset.
    pub(crate) fn inside_from(
        &self,
        memberships: &[Vec<String>],
        source: &str,
        target: &str,
        port: &NetworkPolicyPort,
    ) -> bool {
        if source == target {
            return true;
        }
        if memberships.len() != self.isolations.len() {
            return false;
        }
        self.isolations
            .iter()
            .zip(memberships)
            .any(|((envs, flows), from)| {
                let to = envs.environments(target);
                from.iter().any(|env| to.contains(env))
                    || flow_allows_between(flows, from, to, Some(Some(std::slice::from_ref(port))))
            })
    }

    /// Whether namespace `source` counts as inside for `port` of namespace `target`.
    pub(crate) fn inside(&self, source: &str, target: &str, port: &NetworkPolicyPort) -> bool {
        source == target
            || self.isolations.iter().any(|(envs, flows)| {
                envs.share_environment(source, target)
                    || flow_allows(
                        flows,
                        envs,
                        source,
                        target,
                        Some(Some(std::slice::from_ref(port))),
                    )
            })
    }
}

/// One finding per ingress rule and unlisted port that the rule opens to outside sources.
pub fn open_ports(
    policy: &NetworkPolicy,
    allowed: &[PortSpec],
    environments: &Environments,
    snapshot: &Snapshot,
) -> Vec<Violation> {
    let namespace = policy.metadata.namespace.as_deref().unwrap_or_default();
    let object = ObjectRef::of("NetworkPolicy", &policy.metadata);
    let mut out = Vec::new();
    for rule in ingress_rules(policy) {
        for unlisted in unlisted_ports(rule.ports.as_deref(), allowed) {
            let outside = outside_sources(rule, namespace, &unlisted.port, environments, snapshot);
            if outside.is_empty() {
                continue;
            }
            let message = match (rule.from.as_deref(), unlisted.every_port) {
                (None | Some([]), true) => "NetworkPolicy admits all sources on all ports".into(),
                (None | Some([]), false) => format!(
                    "NetworkPolicy admits all sources on {}, which the baseline does not list",
                    unlisted.text
                ),
                (_, _) => format!(
                    "NetworkPolicy admits sources outside the environment of namespace `{namespace}` and its declared flows ({}) on {}, which the baseline does not list",
                    outside.join("; "),
                    unlisted.text
                ),
            };
            out.push(Violation::new(object.clone(), message));
        }
    }
    out
}

/// Without `policyTypes`, a policy governs ingress; with it, only if it names `Ingress` (the
/// network plugin ignores the ingress rules of an egress-only policy).
fn ingress_rules(policy: &NetworkPolicy) -> impl Iterator<Item = &NetworkPolicyIngressRule> {
    let spec = policy.spec.as_ref();
    let governs = spec
        .and_then(|s| s.policy_types.as_ref())
        .is_none_or(|types| types.iter().any(|t| t == "Ingress"));
    spec.and_then(|s| s.ingress.as_ref())
        .filter(|_| governs)
        .into_iter()
        .flatten()
}

/// A port (or range, or every port) a rule opens that the baseline does not list.
#[derive(Debug)]
struct Unlisted {
    /// As a NetworkPolicyPort, so that declared flows can be asked whether they carry it.
    port: NetworkPolicyPort,
    text: String,
    every_port: bool,
}

/// The rule's ports that the list does not cover: every port when the rule names none; a
/// port without number (every port of its protocol); a named port (it resolves per pod, to any
/// number); a range with any unlisted port in it; an unlisted number. UDP and SCTP are judged
/// apart from TCP.
fn unlisted_ports(ports: Option<&[NetworkPolicyPort]>, allowed: &[PortSpec]) -> Vec<Unlisted> {
    let Some(ports) = ports.filter(|p| !p.is_empty()) else {
        return vec![Unlisted {
            port: NetworkPolicyPort::default(),
            text: "all ports".into(),
            every_port: true,
        }];
    };
    ports
        .iter()
        .filter_map(|port| {
            let protocol = protocol_of(port.protocol.as_deref());
            let p = protocol.as_str();
            let text = match &port.port {
                None => format!("every {p} port"),
                Some(IntOrString::String(name)) => {
                    format!("named port `{name}` (it resolves to any number a pod names)")
                }
                Some(IntOrString::Int(first)) => {
                    let last = port.end_port.filter(|end| end > first).unwrap_or(*first);
                    if (*first..=last).all(|n| listed(allowed, n, protocol)) {
                        return None;
                    }
                    if last > *first {
                        format!("ports {first}-{last}/{p}")
                    } else {
                        format!("port {first}/{p}")
                    }
                }
            };
            Some(Unlisted {
                port: port.clone(),
                text,
                every_port: false,
            })
        })
        .collect()
}

/// What the rule admits from outside for `port`, described; empty when every source it
/// admits is inside.
fn outside_sources(
    rule: &NetworkPolicyIngressRule,
    namespace: &str,
    port: &NetworkPolicyPort,
    environments: &Environments,
    snapshot: &Snapshot,
) -> Vec<String> {
    let Some(peers) = rule.from.as_deref().filter(|p| !p.is_empty()) else {
        return vec!["every source".into()];
    };
    peers
        .iter()
        .filter_map(|peer| outside_peer(peer, namespace, port, environments, snapshot))
        .collect()
}

fn outside_peer(
    peer: &NetworkPolicyPeer,
    namespace: &str,
    port: &NetworkPolicyPort,
    environments: &Environments,
    snapshot: &Snapshot,
) -> Option<String> {
    if let Some(block) = &peer.ip_block {
        let except = block.except.as_deref().unwrap_or_default();
        return Some(if except.is_empty() {
            format!("ipBlock {}", block.cidr)
        } else {
            format!("ipBlock {} except {}", block.cidr, except.join(", "))
        });
    }
    let Some(selector) = &peer.namespace_selector else {
        // Only a podSelector: pods of the policy's own namespace. No field at all is not a
        // valid peer; if one got through, it is judged as every source.
        return peer
            .pod_selector
            .is_none()
            .then(|| "a peer naming no source".into());
    };
    if is_empty(selector) {
        return Some(
            "an empty namespaceSelector (every namespace, those created later too)".into(),
        );
    }
    let picked = snapshot.derived.selected(selector, || {
        snapshot
            .namespace_labels()
            .filter(|(_, labels)| selects(selector, labels))
            .map(|(name, _)| name.to_string())
            .collect()
    });
    let mut outside: Vec<&str> = picked
        .iter()
        .map(String::as_str)
        .filter(|source| !environments.inside(source, namespace, port))
        .collect();
    // By name, so that the namespaces named do not depend on the order they were listed in.
    outside.sort_unstable();
    if outside.is_empty() {
        return None;
    }
    let mut shown: Vec<String> = outside.iter().take(3).map(|s| format!("`{s}`")).collect();
    if outside.len() > 3 {
        shown.push(format!("{} more", outside.len() - 3));
    }
    Some(format!(
        "namespaceSelector {} matching {}",
        serde_json::to_string(selector).unwrap_or_default(),
        shown.join(", ")
    ))
}

fn is_empty(selector: &LabelSelector) -> bool {
    selector
        .match_labels
        .as_ref()
        .is_none_or(BTreeMap::is_empty)
        && selector
            .match_expressions
            .as_ref()
            .is_none_or(Vec::is_empty)
}

pub(super) fn listed(allowed: &[PortSpec], port: i32, protocol: Protocol) -> bool {
    allowed
        .iter()
        .any(|a| a.port == port && a.protocol() == protocol)
}

pub(super) fn protocol_of(text: Option<&str>) -> Protocol {
    match text {
        Some("UDP") => Protocol::UDP,
        Some("SCTP") => Protocol::SCTP,
        _ => Protocol::TCP,
    }
}

#[cfg(test)]
#[path = "open_ports_tests.rs"]
mod tests;
