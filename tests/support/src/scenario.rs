//! Scenario builders for tests against the shared in-process operator: the preamble every such
//! test repeats (one test at a time, the operator running, a client, fresh namespaces, custom
//! resources applied) and the waits they all make (a resource reconciled with its status
//! current, NetworkPolicies and labels in a namespace), typed, so that a test reads as what it
//! proves.
//!
//! ```ignore
//! let s = Scenario::start().await;
//! let ns = s.namespace("e2e-x", &[("e2e", "x")]).await;
//! let sb = s.baseline("e2e-x", json!({"mode": "Enforce", ...})).await;
//! let status = sb.wait("restricted-ports fails", |sb| control(sb, "restricted-ports").state == Fail).await;
//! sb.delete().await;
//! ```

use crate::{apply_cr, client, cluster, operator, serial, wait_until};
use baseline_operator::api::{
    BackupPolicy, ComplianceStatus, ControlResult, EnvironmentIsolation, SecurityBaseline,
};
use k8s_openapi::api::core::v1::Namespace;
use k8s_openapi::api::networking::v1::NetworkPolicy;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Condition;
use kube::api::{Api, DeleteParams};
use kube::{Client, Resource};
use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::Value;
use std::collections::BTreeMap;
use std::fmt::Debug;
use std::time::{Duration, Instant};

/// How long a scenario waits for the operator unless told otherwise.
pub const SCENARIO_TIMEOUT: Duration = Duration::from_secs(30);

/// One test's hold on the shared operator: the serial lock (released when dropped), the
/// operator running and its caches ready, and a client.
pub struct Scenario {
    pub client: Client,
    timeout: Duration,
    _serial: tokio::sync::MutexGuard<'static, ()>,
}

impl Scenario {
    /// Takes the serial lock, makes sure the shared operator runs, and connects.
    pub async fn start() -> Self {
        let serial = serial().await;
        operator();
        Scenario {
            client: client().await,
            timeout: SCENARIO_TIMEOUT,
            _serial: serial,
        }
    }

    /// How long this scenario's waits (and those of the resources it applies) last.
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// A namespace created afresh with `labels` (one left by an earlier run is deleted
    /// first); returns its name.
    pub async fn namespace(&self, name: &str, labels: &[(&str, &str)]) -> String {
        crate::namespace(&self.client, name, labels).await
    }

    /// Server-side applies the SecurityBaseline `name` with `spec`.
    pub async fn baseline(&self, name: &str, spec: Value) -> Applied<SecurityBaseline> {
        self.apply(name, spec).await
    }

    /// Server-side applies the EnvironmentIsolation `name` with `spec`.
    pub async fn isolation(&self, name: &str, spec: Value) -> Applied<EnvironmentIsolation> {
        self.apply(name, spec).await
    }

    /// Server-side applies the BackupPolicy `name` with `spec`.
    pub async fn backup_policy(&self, name: &str, spec: Value) -> Applied<BackupPolicy> {
        self.apply(name, spec).await
    }

    /// Server-side applies the cluster-scoped custom resource `name` of kind `K`.
    pub async fn apply<K>(&self, name: &str, spec: Value) -> Applied<K>
    where
        K: Resource<DynamicType = ()> + Clone + DeserializeOwned + Debug,
    {
        Applied {
            api: apply_cr(&self.client, name, spec).await,
            client: self.client.clone(),
            name: name.to_string(),
            timeout: self.timeout,
        }
    }

    /// A handle on the custom resource `name` of kind `K` without applying it (one applied
    /// earlier, or by kubectl).
    pub fn existing<K>(&self, name: &str) -> Applied<K>
    where
        K: Resource<DynamicType = ()> + Clone + DeserializeOwned + Debug,
    {
        Applied {
            api: Api::all(self.client.clone()),
            client: self.client.clone(),
            name: name.to_string(),
            timeout: self.timeout,
        }
    }

    /// Polls `check` until it holds, failing the test with `what` after this scenario's
    /// timeout.
    pub async fn wait_until<F, Fut>(&self, what: &str, check: F)
    where
        F: FnMut() -> Fut,
        Fut: std::future::Future<Output = bool>,
    {
        wait_until(what, self.timeout, check).await
    }

    /// The names of the NetworkPolicies in `ns`, sorted.
    pub async fn network_policies(&self, ns: &str) -> Vec<String> {
        network_policy_names(&self.client, ns).await
    }

    /// Waits until the NetworkPolicies in `ns` are exactly `expected` (in any order).
    pub async fn wait_network_policies(&self, ns: &str, expected: &[&str]) {
        let mut expected: Vec<String> = expected.iter().map(|s| s.to_string()).collect();
        expected.sort();
        self.wait_until(
            &format!("NetworkPolicies in {ns} are {expected:?}"),
            || async { self.network_policies(ns).await == expected },
        )
        .await
    }

    /// The labels of namespace `ns`.
    pub async fn labels(&self, ns: &str) -> BTreeMap<String, String> {
        namespace_labels(&self.client, ns).await
    }

    /// Waits until label `key` of namespace `ns` is `value` (None: absent).
    pub async fn wait_label(&self, ns: &str, key: &str, value: Option<&str>) {
        self.wait_until(&format!("label {key} of {ns} is {value:?}"), || async {
            self.labels(ns).await.get(key).map(String::as_str) == value
        })
        .await
    }
}

/// A custom resource a scenario applied: re-apply, read, wait on its status, delete.
pub struct Applied<K> {
    pub api: Api<K>,
    client: Client,
    pub name: String,
    timeout: Duration,
}

impl<K> Applied<K>
where
    K: Resource<DynamicType = ()> + Clone + DeserializeOwned + Serialize + Debug,
{
    /// Server-side applies a new spec to the same resource.
    pub async fn apply(&self, spec: Value) {
        apply_cr::<K>(&self.client, &self.name, spec).await;
    }

    /// The resource as the API server has it now.
    pub async fn get(&self) -> K {
        self.api.get(&self.name).await.unwrap()
    }

    /// Waits until the operator has reconciled the current generation (`observedGeneration`
    /// is the resource's, `Ready` is True) and `check` holds for it; returns it. On timeout the
    /// test fails with `what` and the last status seen.
    pub async fn wait(&self, what: &str, check: impl Fn(&K) -> bool) -> K {
        let deadline = Instant::now() + self.timeout;
        loop {
            let current = self.get().await;
            if reconciled(&current) && check(&current) {
                return current;
            }
            assert!(
                Instant::now() < deadline,
                "timed out waiting for: {what}\nlast status: {}",
                serde_json::to_string_pretty(&status_of(&current)).unwrap()
            );
            tokio::time::sleep(Duration::from_millis(250)).await;
        }
    }

    /// Waits until the operator has reconciled the current generation; returns the resource.
    pub async fn wait_reconciled(&self) -> K {
        self.wait("reconciled", |_| true).await
    }

    /// Deletes the resource and waits until the API server no longer has it.
    pub async fn delete(&self) {
        let _ = self.api.delete(&self.name, &DeleteParams::default()).await;
        wait_until(
            &format!("{} {} deleted", K::kind(&()), self.name),
            self.timeout,
            || async { self.api.get_opt(&self.name).await.unwrap().is_none() },
        )
        .await;
    }
}

fn status_of<K: Serialize>(resource: &K) -> Value {
    serde_json::to_value(resource).unwrap()["status"].clone()
}

/// Whether the status is of the resource's current generation and says Ready (every kind's
/// status carries `observedGeneration` and the `Ready` condition).
fn reconciled<K: Resource + Serialize>(resource: &K) -> bool {
    let status = status_of(resource);
    let current = resource.meta().generation.is_some()
        && status["observedGeneration"].as_i64() == resource.meta().generation;
    let ready = status["conditions"]
        .as_array()
        .into_iter()
        .flatten()
        .any(|c| c["type"] == "Ready" && c["status"] == "True");
    current && ready
}

/// The kinds whose status is a [`ComplianceStatus`] (controls, conditions, summary).
pub trait Compliance {
    fn compliance(&self) -> Option<&ComplianceStatus>;
}

impl Compliance for SecurityBaseline {
    fn compliance(&self) -> Option<&ComplianceStatus> {
        self.status.as_ref()
    }
}

impl Compliance for EnvironmentIsolation {
    fn compliance(&self) -> Option<&ComplianceStatus> {
        self.status.as_ref()
    }
}

/// Control `id` of the status, if listed.
pub fn find_control<'a>(resource: &'a impl Compliance, id: &str) -> Option<&'a ControlResult> {
    resource
        .compliance()?
        .controls
        .iter()
        .find(|c| c.id.as_str() == id)
}

/// Control `id` of the status; the test fails when it is not listed.
pub fn control<'a>(resource: &'a impl Compliance, id: &str) -> &'a ControlResult {
    find_control(resource, id).unwrap_or_else(|| panic!("{id} missing from status"))
}

/// Condition `type_` of the status; the test fails when it is not there.
pub fn condition<'a>(resource: &'a impl Compliance, type_: &str) -> &'a Condition {
    resource
        .compliance()
        .and_then(|s| s.conditions.iter().find(|c| c.type_ == type_))
        .unwrap_or_else(|| panic!("condition {type_} missing"))
}

/// A control's findings as `<kind> <name>: <message>`, in status order.
pub fn findings(result: &ControlResult) -> Vec<String> {
    result
        .findings
        .iter()
        .map(|f| format!("{} {}: {}", f.kind, f.name, f.message))
        .collect()
}

/// The names of the NetworkPolicies in `ns`, sorted.
pub async fn network_policy_names(client: &Client, ns: &str) -> Vec<String> {
    let api: Api<NetworkPolicy> = Api::namespaced(client.clone(), ns);
    let mut names: Vec<String> = api
        .list(&Default::default())
        .await
        .unwrap()
        .items
        .into_iter()
        .filter_map(|p| p.metadata.name)
        .collect();
    names.sort();
    names
}

/// The labels of namespace `ns`.
pub async fn namespace_labels(client: &Client, ns: &str) -> BTreeMap<String, String> {
    let api: Api<Namespace> = Api::all(client.clone());
    api.get(ns)
        .await
        .unwrap()
        .metadata
        .labels
        .unwrap_or_default()
}

/// Whether the real Pod Security admission rejects creating `yaml` (Err: rejected for another
/// reason, with the message); an admitted object is deleted again so that the next attempt is
/// a fresh create.
pub fn psa_rejects(yaml: &str) -> Result<bool, String> {
    match cluster().apply_yaml(yaml) {
        Ok(_) => {
            cluster().kubectl_stdin(&["delete", "--wait", "-f", "-"], yaml);
            Ok(false)
        }
        Err(message) if message.contains("violates PodSecurity") => Ok(true),
        Err(message) => Err(message),
    }
}

/// A pod that breaks `restricted` (and `baseline`): privileged. `labels` is a YAML flow map.
pub fn privileged_pod(ns: &str, name: &str, labels: &str) -> String {
    format!(
        "apiVersion: v1\nkind: Pod\nmetadata: {{name: {name}, namespace: {ns}, labels: {labels}}}\nspec:\n  containers:\n  - name: app\n    image: registry.example.com/app:1\n    securityContext: {{privileged: true}}\n"
    )
}

/// An RFC 3339 instant `seconds` from now (negative: ago), as an exemption's `expires`.
pub fn in_seconds(seconds: i64) -> String {
    (jiff::Timestamp::now() + jiff::SignedDuration::from_secs(seconds))
        .strftime("%Y-%m-%dT%H:%M:%SZ")
        .to_string()
}
