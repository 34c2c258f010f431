//! `environment-segregation`: no network path between environments but the allowed flows.

use super::*;
use kube::core::{Selector, SelectorExt};
use std::collections::{HashMap, HashSet};
use std::rc::Rc;

/// Judges the NetworkPolicies that exist, whoever wrote them, and the Services that route
/// into another environment ([`routes`]), so that Audit mode assesses the
/// cluster as it is (in Enforce mode the owned isolation policy is one of them).
///
/// A namespace is reached from another environment unless its ingress is isolated (some
/// NetworkPolicy selects all its pods and governs Ingress) and no ingress rule of any policy
/// in it admits that environment's namespaces beyond a declared flow. Only the target's
/// ingress is credited: that is the side the environment being protected controls.
///
/// Peers are judged as the API defines them, with one deliberate simplification: an `ipBlock`
/// peer is treated as admitting every source, because which addresses pods have is not in the
/// API (a pod CIDR inside the block admits pods of every namespace), so a narrower block
/// cannot honestly be judged as closed.
pub(super) fn segregation(policy_name: &str, flows: &[Flow], scope: &Scope, parts: &mut Parts) {
    // Each judged namespace's policies governing ingress, found once rather than by a scan of
    // every policy per namespace.
    let mut ingress_policies: BTreeMap<&str, Vec<&NetworkPolicy>> = BTreeMap::new();
    for policy in scope.snapshot.network_policies.iter().map(AsRef::as_ref) {
        if let Some(namespace) = policy.metadata.namespace.as_deref()
            && scope.judges(namespace)
            && governs_ingress(policy)
        {
            ingress_policies.entry(namespace).or_default().push(policy);
        }
    }
    let mut reach = Reach::new(flows, scope);
    for (target, envs) in &scope.envs.namespaces {
        if !scope.judges(target) {
            continue;
        }
        let tally = parts.tally(target, SEGREGATION);
        tally.checked += 1;
        let ns_ref = scope.namespace_ref(target);
        if envs.len() > 1 {
            tally.violations.push(Violation::new(
                ns_ref.clone(),
                format!(
                    "namespace `{target}` is selected by environments {}; it is treated as production until only one selects it",
                    names(envs)
                ),
            ));
        }
        // Sources are namespaces of other environments; a source fully allowed by a flow
        // without port limits can never be a finding.
        let sources = reach.sources(envs, target);
        if sources.is_empty() {
            continue;
        }
        let policies = ingress_policies
            .get(target.as_str())
            .map(Vec::as_slice)
            .unwrap_or_default();
        if !policies.iter().any(|p| selects_all_pods(p)) {
            tally.violations.push(Violation::new(
                ns_ref,
                format!(
                    "namespace `{target}` (environment {}) does not isolate ingress: no NetworkPolicy selects all its pods for Ingress, so namespaces of other environments reach it ({}); in Enforce mode the operator maintains {policy_name} there",
                    names(envs),
                    describe_sources(&sources, scope)
                ),
            ));
            continue;
        }
        // Each policy is judged on its own here, so each is counted.
        tally.checked += policies.len();
        for policy in policies {
            if let Some(violation) = admitting_policy(policy, target, envs, &mut reach) {
                tally.violations.push(violation);
            }
        }
    }
    routes(flows, scope, parts);
}

/// Sources a rule admits, each with the peer that admits it.
type Admitted<'s> = Vec<(&'s str, String)>;

/// What other environments reach a namespace, which depends on its environments only (and,
/// for a rule, on the rule): found once per set of environments and rule, not once per
/// namespace, so that judging every namespace stays linear in their number.
struct Reach<'a, 's> {
    flows: &'a [Flow],
    scope: &'a Scope<'s>,
    /// A target's environments -> the sources of other environments no flow fully allows.
    sources: HashMap<&'s [String], Rc<Vec<&'s str>>>,
    /// (a rule as JSON, the target's environments) -> the sources it admits beyond the
    /// declared flows, in source order, with the peer that admits each.
    admitted: HashMap<(String, &'s [String]), Rc<Admitted<'s>>>,
}

impl<'a, 's> Reach<'a, 's> {
    fn new(flows: &'a [Flow], scope: &'a Scope<'s>) -> Self {
        Self {
            flows,
            scope,
            sources: HashMap::new(),
            admitted: HashMap::new(),
        }
    }

    fn sources(&mut self, envs: &'s [String], target: &str) -> Rc<Vec<&'s str>> {
        let (flows, scope) = (self.flows, self.scope);
        self.sources
            .entry(envs)
            .or_insert_with(|| {
                // `target` shares its own environments: excluded like every namespace that
                // does, whichever of them asks.
                Rc::new(
                    scope
                        .envs
                        .namespaces
                        .keys()
                        .map(String::as_str)
                        .filter(|s| *s != target && !scope.envs.share_environment(s, target))
                        .filter(|s| !flow_allows(flows, scope.envs, s, target, None))
                        .collect(),
                )
            })
            .clone()
    }

    fn admitted(
        &mut self,
        rule: &NetworkPolicyIngressRule,
        target: &str,
        envs: &'s [String],
    ) -> Rc<Admitted<'s>> {
        let sources = self.sources(envs, target);
        let (flows, scope) = (self.flows, self.scope);
        let key = (serde_json::to_string(rule).unwrap_or_default(), envs);
        self.admitted
            .entry(key)
            .or_insert_with(|| {
                let mut admitted = Vec::new();
                // Matched against every source namespace: its selectors compiled once.
                let peers = CompiledPeers::of(rule);
                for source in sources.iter() {
                    let Some(through) = peers.admits(scope.labels.get(source).copied()) else {
                        continue;
                    };
                    if flow_allows(
                        flows,
                        scope.envs,
                        source,
                        target,
                        Some(rule.ports.as_deref()),
                    ) {
                        continue;
                    }
                    admitted.push((*source, through));
                }
                Rc::new(admitted)
            })
            .clone()
    }
}

/// At most three sources by name, then how many more.
pub(super) fn describe_sources(sources: &[&str], scope: &Scope) -> String {
    let mut shown: Vec<String> = sources
        .iter()
        .take(3)
        .map(|s| format!("`{s}` of environment {}", names(scope.envs.environments(s))))
        .collect();
    if sources.len() > 3 {
        shown.push(format!("{} more", sources.len() - 3));
    }
    shown.join(", ")
}

/// One finding per policy that admits ingress from other environments beyond the declared
/// flows, naming what admits them.
fn admitting_policy<'s>(
    policy: &NetworkPolicy,
    target: &str,
    envs: &'s [String],
    reach: &mut Reach<'_, 's>,
) -> Option<Violation> {
    let scope = reach.scope;
    let mut admitted: Vec<&str> = Vec::new();
    let mut seen: HashSet<&str> = HashSet::new();
    let mut how = None;
    for rule in ingress_rules(policy) {
        for (source, through) in reach.admitted(rule, target, envs).iter() {
            if seen.insert(source) {
                admitted.push(source);
            }
            how.get_or_insert_with(|| through.clone());
        }
    }
    let how = how?;
    Some(Violation::new(
        ObjectRef::of("NetworkPolicy", &policy.metadata),
        format!(
            "NetworkPolicy {target}/{} admits ingress into environment {} from other environments through {how}: {}",
            policy.metadata.name.as_deref().unwrap_or_default(),
            names(scope.envs.environments(target)),
            describe_sources(&admitted, scope)
        ),
    ))
}

/// An ingress rule's sources with their namespace selectors compiled: what
/// [`admits`] reads of a rule, to match many namespaces against.
pub(super) struct CompiledPeers {
    /// `None`: the rule has no `from` (every source).
    peers: Option<Vec<CompiledPeer>>,
}

enum CompiledPeer {
    /// An address block: every source.
    Block(String),
    /// A namespace selector (`None`: one that does not compile, selecting nothing), and how a
    /// finding names it.
    Namespaces(Option<Selector>, String),
    /// Only a podSelector: pods of the policy's own namespace.
    OwnNamespace,
}

impl CompiledPeers {
    pub(super) fn of(rule: &NetworkPolicyIngressRule) -> Self {
        let peers = match rule.from.as_deref() {
            None | Some([]) => None,
            Some(peers) => Some(peers.iter().map(CompiledPeer::of).collect()),
        };
        Self { peers }
    }

    /// Whether the rule admits a namespace labelled `labels` (`None`: no such namespace), and
    /// through which peer.
    pub(super) fn admits(&self, labels: Option<&BTreeMap<String, String>>) -> Option<String> {
        let Some(peers) = &self.peers else {
            return Some("an ingress rule without `from` (every source)".into());
        };
        peers.iter().find_map(|peer| peer.admits(labels))
    }
}

impl CompiledPeer {
    fn of(peer: &NetworkPolicyPeer) -> Self {
        if let Some(block) = &peer.ip_block {
            return Self::Block(format!(
                "ipBlock {} (pod addresses are not known, so an address block counts as every source)",
                block.cidr
            ));
        }
        let Some(selector) = peer.namespace_selector.as_ref() else {
            return Self::OwnNamespace;
        };
        let text = if is_empty_selector(selector) {
            "an empty namespaceSelector (every namespace)".into()
        } else {
            format!("namespaceSelector {}", selector_text(selector))
        };
        Self::Namespaces(Selector::try_from(selector.clone()).ok(), text)
    }

    fn admits(&self, labels: Option<&BTreeMap<String, String>>) -> Option<String> {
        match self {
            Self::Block(text) => Some(text.clone()),
            Self::OwnNamespace => None,
            Self::Namespaces(selector, text) => {
                let matched = selector.as_ref()?.matches(labels?);
                matched.then(|| text.clone())
            }
        }
    }
}

/// Whether a peer admits a namespace labelled `labels` (`None`: no such namespace), and
/// through what.
fn peer_admits_labelled(
    peer: &NetworkPolicyPeer,
    labels: Option<&BTreeMap<String, String>>,
) -> Option<String> {
    CompiledPeer::of(peer).admits(labels)
}

pub(super) fn selector_text(selector: &LabelSelector) -> String {
    serde_json::to_string(selector).unwrap_or_default()
}

/// Whether a declared flow lets `source`'s environment reach `target`'s on `ports`: `None`
/// asks for every port (only a flow without port limits allows that); a rule's ports are
/// allowed when each one is a port the flow lists (a rule without ports means every port).
pub(crate) fn flow_allows(
    flows: &[Flow],
    envs: &EnvironmentMap,
    source: &str,
    target: &str,
    ports: Option<Option<&[NetworkPolicyPort]>>,
) -> bool {
    flow_allows_between(
        flows,
        envs.environments(source),
        envs.environments(target),
        ports,
    )
}

/// [`flow_allows`] for a source in environments `from` and a target in `to`.
pub(crate) fn flow_allows_between(
    flows: &[Flow],
    from: &[String],
    to: &[String],
    ports: Option<Option<&[NetworkPolicyPort]>>,
) -> bool {
    flows
        .iter()
        .filter(|f| from.contains(&f.from) && to.contains(&f.to))
        .any(|flow| {
            if flow.ports.is_empty() {
                return true;
            }
            match ports.flatten() {
                Some(ports) if !ports.is_empty() => ports.iter().all(|p| {
                    let protocol = p.protocol.as_deref().unwrap_or("TCP");
                    let single = match (&p.port, p.end_port) {
                        (Some(IntOrString::Int(port)), None) => Some(*port),
                        (Some(IntOrString::Int(port)), Some(end)) if end == *port => Some(*port),
                        // Named ports and ranges cannot be matched against numbered flows.
                        _ => None,
                    };
                    single.is_some_and(|port| {
                        flow.ports
                            .iter()
                            .any(|f| f.port == port && f.protocol().as_str() == protocol)
                    })
                }),
                _ => false,
            }
        })
}

/// Without `policyTypes`, a policy governs ingress (and egress only if it has egress rules).
pub(super) fn governs_ingress(policy: &NetworkPolicy) -> bool {
    policy
        .spec
        .as_ref()
        .and_then(|s| s.policy_types.as_ref())
        .is_none_or(|types| types.iter().any(|t| t == "Ingress"))
}

pub(super) fn selects_all_pods(policy: &NetworkPolicy) -> bool {
    policy
        .spec
        .as_ref()
        .and_then(|s| s.pod_selector.as_ref())
        .is_none_or(is_empty_selector)
}

/// The policy's ingress rules, if the policy governs ingress at all.
pub(super) fn ingress_rules(
    policy: &NetworkPolicy,
) -> impl Iterator<Item = &NetworkPolicyIngressRule> {
    policy
        .spec
        .as_ref()
        .and_then(|s| s.ingress.as_ref())
        .filter(|_| governs_ingress(policy))
        .into_iter()
        .flatten()
}

pub(super) fn is_empty_selector(selector: &LabelSelector) -> bool {
    selector
        .match_labels
        .as_ref()
        .is_none_or(BTreeMap::is_empty)
        && selector
            .match_expressions
            .as_ref()
            .is_none_or(Vec::is_empty)
}

/// Whether a namespace in environments `source` is one of the sources segregation judges a
/// target in environments `target` against (see `Reach::sources`): in some environment, none
/// of the target's, and not fully allowed by a flow without port limits.
pub(crate) fn is_source(flows: &[Flow], source: &[String], target: &[String]) -> bool {
    !source.is_empty()
        && !source.iter().any(|e| target.contains(e))
        && !flow_allows_between(flows, source, target, None)
}

/// Whether `policy` admits a source namespace labelled `labels`, in environments `source`,
/// into its namespace (in environments `target`) beyond the declared flows: what makes the
/// source part of a finding of that namespace.
pub(crate) fn admits_beyond_flows(
    policy: &NetworkPolicy,
    labels: &BTreeMap<String, String>,
    flows: &[Flow],
    source: &[String],
    target: &[String],
) -> bool {
    ingress_rules(policy).any(|rule| {
        let admitted = match rule.from.as_deref() {
            None | Some([]) => true,
            Some(peers) => peers
                .iter()
                .any(|peer| peer_admits_labelled(peer, Some(labels)).is_some()),
        };
        admitted && !flow_allows_between(flows, source, target, Some(rule.ports.as_deref()))
    })
}

/// Whether `policy` isolates its namespace's ingress (selects all its pods for Ingress).
pub(crate) fn isolates(policy: &NetworkPolicy) -> bool {
    governs_ingress(policy) && selects_all_pods(policy)
}

/// Whether an ingress rule of `policy` admits every namespace whatever its labels: no `from`,
/// an `ipBlock`, an empty `namespaceSelector`.
pub(crate) fn admits_every_namespace(policy: &NetworkPolicy) -> bool {
    ingress_rules(policy).any(|rule| match rule.from.as_deref() {
        None | Some([]) => true,
        Some(peers) => peers.iter().any(|peer| {
            peer.ip_block.is_some()
                || peer
                    .namespace_selector
                    .as_ref()
                    .is_some_and(is_empty_selector)
        }),
    })
}
