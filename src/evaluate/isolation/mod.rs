//! EnvironmentIsolation controls: environments defined by namespace selectors, kept apart on
//! the network (`environment-segregation`), in data (`production-data-restricted`) and in
//! access (`cross-environment-access`).
//!
//! A namespace two environments claim is never silently given to one of them: it is a
//! segregation finding, and the data and access rules treat it as production, the safer side.

use super::{ControlOutcome, Evaluation, ObjectRef, Violation};
use crate::api::environment_isolation::{Flow, IsolationAccessSpec, ProductionDataSpec};
use crate::catalog::ControlId;
use crate::snapshot::{SecretDigest, Snapshot};
use crate::validate::environment_isolation::ValidEnvironmentIsolation;
use crate::velero::Restore;
use crate::vocabulary::environments::{
    ALL_SERVICE_ACCOUNTS_GROUP, AUTHENTICATED_GROUP, EnvironmentMap, SERVICE_ACCOUNT_USER_PREFIX,
    SERVICE_ACCOUNTS_GROUP_PREFIX, allowance_key, environments_of, grants_nothing_in_namespaces,
    isolation_policy_name, normalized,
};
use jiff::Timestamp;
use k8s_openapi::api::core::v1::PersistentVolumeClaim;
use k8s_openapi::api::networking::v1::{
    NetworkPolicy, NetworkPolicyIngressRule, NetworkPolicyPeer, NetworkPolicyPort,
};
use k8s_openapi::api::rbac::v1::{RoleRef, Subject};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::LabelSelector;
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;
use std::collections::{BTreeMap, BTreeSet};

mod access;
mod production_data;
mod routes;
mod segregation;

use access::*;
use production_data::*;
use routes::*;
use segregation::*;

pub(crate) use access::{Identities, identities_of};
pub use production_data::ProductionSecrets;
pub(crate) use segregation::{
    admits_beyond_flows, admits_every_namespace, flow_allows, flow_allows_between, is_source,
    isolates,
};

/// The three EnvironmentIsolation controls, in catalog order. `name` is the custom resource's.
pub fn evaluate(
    name: &str,
    spec: &ValidEnvironmentIsolation,
    snapshot: &Snapshot,
    now: Timestamp,
) -> Evaluation {
    let envs = environments_of(&spec.environments, snapshot);
    let parts = namespace_parts(name, spec, snapshot, &envs, &|_| true, None);
    assemble(name, spec, snapshot, &envs, parts.values(), now)
}

/// One control's count and findings in one namespace.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Tally {
    pub checked: usize,
    pub violations: Vec<Violation>,
}

/// What one namespace contributes to the three controls, in catalog order: segregation
/// judged with it as the target (and the routes its Services and EndpointSlices make), its
/// production data, its RoleBindings. What is no namespace's (Velero Restores,
/// ClusterRoleBindings) is judged when the parts are assembled.
pub type NamespacePart = [Tally; 3];

const SEGREGATION: usize = 0;
const PRODUCTION_DATA: usize = 1;
const ACCESS: usize = 2;

/// The parts as the controls fill them; a namespace with nothing counted has none.
#[derive(Default)]
struct Parts(BTreeMap<String, NamespacePart>);

impl Parts {
    fn tally(&mut self, namespace: &str, control: usize) -> &mut Tally {
        &mut self.0.entry(namespace.to_string()).or_default()[control]
    }
}

/// Each namespace's part (see [`NamespacePart`]) of the namespaces `judged` keeps, read from
/// the whole `snapshot`: a namespace's part names other namespaces (the sources that reach
/// it, a copied Secret's original, a bound identity's environment), so it reads them, but
/// only the judged namespaces' own objects are judged. `envs` is `environments_of` the spec
/// on `snapshot`; `production`, when given, is [`ProductionSecrets::of`] them (else it is
/// built here). Namespaces with nothing to count are left out.
pub fn namespace_parts(
    name: &str,
    spec: &ValidEnvironmentIsolation,
    snapshot: &Snapshot,
    envs: &EnvironmentMap,
    judged: &dyn Fn(&str) -> bool,
    production: Option<&ProductionSecrets>,
) -> BTreeMap<String, NamespacePart> {
    let scope = Scope::new(envs, snapshot, judged);
    let mut parts = Parts::default();
    segregation(
        &isolation_policy_name(name),
        &spec.allowed_flows,
        &scope,
        &mut parts,
    );
    if let Some(data) = spec.production_data.as_ref() {
        production_data(data, &scope, &mut parts, production);
    }
    if let Some(access) = access_spec(spec) {
        cross_environment_access(access, &scope, &mut parts);
    }
    parts.0
}

/// The access control applies only when cross-environment bindings are denied.
fn access_spec(spec: &ValidEnvironmentIsolation) -> Option<&IsolationAccessSpec> {
    spec.access
        .as_ref()
        .filter(|a| a.deny_cross_environment_bindings)
}

/// The Evaluation of the namespaces' `parts` together with what is no namespace's: Velero
/// Restores, ClusterRoleBindings, which controls apply, whether copied-Secret detection
/// could run. `snapshot` needs the cluster-scoped objects and the Secrets' observed state
/// only (its namespaced objects are not read); `envs` is `environments_of` the spec on it.
pub fn assemble<'p>(
    name: &str,
    spec: &ValidEnvironmentIsolation,
    snapshot: &Snapshot,
    envs: &EnvironmentMap,
    parts: impl IntoIterator<Item = &'p NamespacePart>,
    now: Timestamp,
) -> Evaluation {
    let mut totals = NamespacePart::default();
    for part in parts {
        for (total, tally) in totals.iter_mut().zip(part) {
            total.checked += tally.checked;
            total.violations.extend(tally.violations.iter().cloned());
        }
    }
    let [segregated, data, bound] = totals;
    let scope = Scope::new(envs, snapshot, &|_| false);
    let outcomes = vec![
        ControlOutcome::checked(
            ControlId::EnvironmentSegregation,
            segregated.checked,
            segregated.violations,
        ),
        production_data_outcome(spec.production_data.as_ref(), data, &scope),
        match access_spec(spec) {
            None => ControlOutcome::not_applicable(ControlId::CrossEnvironmentAccess),
            Some(access) => cluster_access(access, bound, &scope),
        },
    ];
    let selectors = spec.environments.iter().map(|e| &e.selector);
    let resource = ObjectRef::cluster_scoped("EnvironmentIsolation", name);
    Evaluation::new(&resource, envs.members(), outcomes, &spec.exemptions, now)
        .with_excluded(super::excluded_namespaces(selectors, snapshot))
}

/// What every check reads: environment membership plus namespace labels by name, and which
/// namespaces' parts are judged.
struct Scope<'a> {
    envs: &'a EnvironmentMap,
    snapshot: &'a Snapshot,
    labels: BTreeMap<&'a str, &'a BTreeMap<String, String>>,
    judged: &'a dyn Fn(&str) -> bool,
}

impl<'a> Scope<'a> {
    fn new(
        envs: &'a EnvironmentMap,
        snapshot: &'a Snapshot,
        judged: &'a dyn Fn(&str) -> bool,
    ) -> Self {
        Self {
            envs,
            snapshot,
            labels: snapshot.namespace_labels().collect(),
            judged,
        }
    }

    /// Whether `namespace`'s part is judged in this pass.
    fn judges(&self, namespace: &str) -> bool {
        (self.judged)(namespace)
    }

    fn namespace_ref(&self, namespace: &str) -> ObjectRef {
        let labels = self.labels.get(namespace).copied().cloned();
        ObjectRef::namespace(namespace, &labels.unwrap_or_default())
    }

    /// The environments of a namespace, for messages; `(none)` for a namespace in no
    /// environment (non-production for production data).
    fn environment(&self, namespace: &str) -> String {
        let envs = self.envs.environments(namespace);
        if envs.is_empty() {
            return "(none)".into();
        }
        envs.join(", ")
    }
}

fn names(items: &[String]) -> String {
    items
        .iter()
        .map(|s| format!("`{s}`"))
        .collect::<Vec<_>>()
        .join(", ")
}

#[cfg(test)]
pub(crate) mod tests;
