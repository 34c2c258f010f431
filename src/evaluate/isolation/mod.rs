//! EnvironmentIsolation controls: environments defined by namespace selectors, kept apart on
//! the network (`environment-segregation`), in data (`production-data-restricted`) and in
//! access (`cross-environment-access`).
//!
//! A namespace two environments claim is never silently given to one of them: it is a
//! segregation finding, and the data and access rules treat it as production, the safer side.

use super::{ControlOutcome, Evaluation, ObjectRef, Violation, selects};
use crate::api::environment_isolation::{Flow, IsolationAccessSpec, ProductionDataSpec};
use crate::catalog::ControlId;
use crate::snapshot::{ObjectMetaOnly, SecretDigest, Snapshot};
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
pub(crate) use segregation::flow_allows;

/// The three EnvironmentIsolation controls, in catalog order. `name` is the custom resource's.
pub fn evaluate(
    name: &str,
    spec: &ValidEnvironmentIsolation,
    snapshot: &Snapshot,
    now: Timestamp,
) -> Evaluation {
    let envs = environments_of(&spec.environments, snapshot);
    let scope = Scope::new(&envs, snapshot);
    let outcomes = vec![
        segregation(&isolation_policy_name(name), &spec.allowed_flows, &scope),
        production_data(spec.production_data.as_ref(), &scope),
        cross_environment_access(spec.access.as_ref(), &scope),
    ];
    let selectors = spec.environments.iter().map(|e| &e.selector);
    let resource = ObjectRef::cluster_scoped("EnvironmentIsolation", name);
    Evaluation::new(&resource, envs.members(), outcomes, &spec.exemptions, now)
        .with_excluded(super::excluded_namespaces(selectors, snapshot))
}

/// What every check reads: environment membership plus namespace labels by name.
struct Scope<'a> {
    envs: &'a EnvironmentMap,
    snapshot: &'a Snapshot,
    labels: BTreeMap<&'a str, &'a BTreeMap<String, String>>,
}

impl<'a> Scope<'a> {
    fn new(envs: &'a EnvironmentMap, snapshot: &'a Snapshot) -> Self {
        Self {
            envs,
            snapshot,
            labels: snapshot.namespace_labels().collect(),
        }
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
