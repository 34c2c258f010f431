//! What segregation reads of a namespace's ingress NetworkPolicies when ANOTHER namespace
//! changes environment: whether some policy isolates its ingress (a namespace that does not is
//! named with every source that reaches it), and whether some rule admits every namespace
//! whatever its labels (no `from`, an `ipBlock`, an empty `namespaceSelector`), which no
//! selector index finds. Rules that pick namespaces by label are found through
//! [`super::indexes::SelectorPeers`].

use crate::evaluate::isolation::{admits_every_namespace, isolates};
use k8s_openapi::api::networking::v1::NetworkPolicy;
use std::collections::{BTreeMap, BTreeSet};

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
struct Shape {
    isolates: bool,
    admits_every: bool,
}

#[derive(Clone, Debug, Default)]
pub struct IngressShapes {
    /// namespace -> policy name -> its shape (only policies that isolate or admit every
    /// namespace are kept).
    by_namespace: BTreeMap<String, BTreeMap<String, Shape>>,
}

fn shape(policy: &NetworkPolicy) -> Shape {
    Shape {
        isolates: isolates(policy),
        admits_every: admits_every_namespace(policy),
    }
}

fn key(policy: &NetworkPolicy) -> (String, String) {
    (
        policy.metadata.namespace.clone().unwrap_or_default(),
        policy.metadata.name.clone().unwrap_or_default(),
    )
}

impl IngressShapes {
    /// Follows one policy's change (`old` replaced by `new`; either may be absent).
    pub fn update(&mut self, old: Option<&NetworkPolicy>, new: Option<&NetworkPolicy>) {
        if let Some(old) = old {
            let (ns, name) = key(old);
            if let Some(policies) = self.by_namespace.get_mut(&ns) {
                policies.remove(&name);
                if policies.is_empty() {
                    self.by_namespace.remove(&ns);
                }
            }
        }
        if let Some(new) = new {
            let found = shape(new);
            if found != Shape::default() {
                let (ns, name) = key(new);
                self.by_namespace.entry(ns).or_default().insert(name, found);
            }
        }
    }

    /// Whether some policy in `namespace` isolates its ingress.
    pub fn isolated(&self, namespace: &str) -> bool {
        self.by_namespace
            .get(namespace)
            .is_some_and(|p| p.values().any(|s| s.isolates))
    }

    /// The namespaces with a rule admitting every namespace.
    pub fn admitting_every(&self) -> BTreeSet<&str> {
        self.by_namespace
            .iter()
            .filter(|(_, p)| p.values().any(|s| s.admits_every))
            .map(|(ns, _)| ns.as_str())
            .collect()
    }
}
