//! `SecurityBaseline`: network, encryption, pod security, images, access, availability and
//! resource controls over the namespaces it selects.

use super::common::{ComplianceStatus, Exemption, Mode, PortSpec};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::LabelSelector;
use kube::{CustomResource, KubeSchema};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

#[derive(CustomResource, Clone, Debug, PartialEq, Serialize, Deserialize, KubeSchema)]
#[kube(
    group = "security.baseline.dev",
    version = "v1alpha1",
    kind = "SecurityBaseline",
    shortname = "sb",
    category = "baseline",
    status = "ComplianceStatus",
    doc = "Security controls enforced and continuously checked on the namespaces it selects"
)]
#[serde(rename_all = "camelCase")]
pub struct SecurityBaselineSpec {
    /// `Audit` (the default) reports only; `Enforce` also makes the cluster comply.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mode: Option<Mode>,
    /// Namespaces the baseline applies to.
    pub namespace_selector: LabelSelector,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub network: Option<NetworkSpec>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub encryption: Option<EncryptionSpec>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pod_security: Option<PodSecuritySpec>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub images: Option<ImagesSpec>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub access: Option<AccessSpec>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub availability: Option<AvailabilitySpec>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resources: Option<ResourcesSpec>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(length(max = 100))]
    pub exemptions: Vec<Exemption>,
}

impl SecurityBaselineSpec {
    pub fn mode(&self) -> Mode {
        self.mode.unwrap_or_default()
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
pub enum TrafficDirection {
    Ingress,
    Egress,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct NetworkSpec {
    /// Directions denied by default (`Ingress` when absent).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = 2))]
    pub default_deny: Option<Vec<TrafficDirection>>,
    /// Keep DNS working under an egress default-deny: UDP/TCP 53 to the cluster DNS only (pods
    /// `k8s-app=kube-dns` in namespace `kube-system`), not to every destination.
    #[serde(default, rename = "allowDNS")]
    pub allow_dns: bool,
    /// Ports open for ingress from any source.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(length(max = 64))]
    pub allowed_ingress_ports: Vec<PortSpec>,
    /// Egress destinations allowed under an egress default-deny.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(length(max = 64))]
    pub allowed_egress: Vec<EgressRule>,
}

impl NetworkSpec {
    pub fn denies(&self, direction: TrafficDirection) -> bool {
        match &self.default_deny {
            Some(directions) => directions.contains(&direction),
            None => direction == TrafficDirection::Ingress,
        }
    }
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, KubeSchema)]
#[serde(rename_all = "camelCase")]
pub struct EgressRule {
    /// Destination network in CIDR notation.
    #[x_kube(validation = kube::core::Rule::new("isCIDR(self)").message("must be a CIDR such as 10.0.0.0/8"))]
    #[schemars(length(max = 64))]
    pub cidr: String,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(length(max = 64))]
    pub ports: Vec<PortSpec>,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct EncryptionSpec {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub in_transit: Option<InTransitSpec>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub at_rest: Option<AtRestSpec>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct InTransitSpec {
    /// Every Ingress host must be served over TLS.
    #[serde(rename = "requireIngressTLS")]
    pub require_ingress_tls: bool,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, KubeSchema)]
#[serde(rename_all = "camelCase")]
#[x_kube(validation = kube::core::Rule::new("size(self.encryptedStorageClasses) > 0 || has(self.storageClassParameter)").message("name at least one encrypted StorageClass or a storageClassParameter"))]
pub struct AtRestSpec {
    /// StorageClasses known to encrypt volumes.
    #[serde(default)]
    #[schemars(length(max = 64))]
    pub encrypted_storage_classes: Vec<String>,
    /// A StorageClass parameter that marks a class as encrypting (e.g. `encrypted: "true"`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub storage_class_parameter: Option<KeyValue>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct KeyValue {
    #[schemars(length(min = 1, max = 253))]
    pub key: String,
    #[schemars(length(max = 253))]
    pub value: String,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum PodSecurityLevel {
    Baseline,
    Restricted,
}

impl PodSecurityLevel {
    pub fn as_str(self) -> &'static str {
        match self {
            PodSecurityLevel::Baseline => "baseline",
            PodSecurityLevel::Restricted => "restricted",
        }
    }
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct PodSecuritySpec {
    pub level: PodSecurityLevel,
    /// Pod Security Standards version: `latest` (when absent) or `v1.N`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(regex(pattern = r"^(latest|v1\.[0-9]{1,2})$"))]
    pub version: Option<String>,
}

impl PodSecuritySpec {
    pub fn version(&self) -> &str {
        self.version.as_deref().unwrap_or("latest")
    }
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ImagesSpec {
    /// Trusted registries or repository paths (e.g. `registry.example.com` or
    /// `registry.example.com/team/`), matched on a `/` boundary: `registry.example.com` does not
    /// trust `registry.example.com.evil.io/x` nor `registry.example.com:5000/x`. Any when empty.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(length(max = 64))]
    pub allowed_registries: Vec<String>,
    /// Reject `:latest` and untagged images.
    #[serde(default)]
    pub disallow_latest_tag: bool,
    /// Require every image to be pinned by a digest: `@sha256:` and 64 lowercase hex digits.
    #[serde(default)]
    pub require_digest: bool,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct AccessSpec {
    /// ClusterRoles no RoleBinding in a selected namespace may grant (a namespaced Role of the
    /// same name is another role and is not matched).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(length(max = 64))]
    pub forbidden_roles: Vec<String>,
    /// Forbid bindings to roles whose rules use `*` for verbs or resources.
    #[serde(default)]
    pub forbid_wildcard_roles: bool,
    /// Service-account tokens must not be automounted unless a workload opts in.
    #[serde(default)]
    pub disallow_automount_token: bool,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct AvailabilitySpec {
    /// Each Deployment and StatefulSet must ask for at least this many replicas and have at
    /// least this many Ready.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 1, max = 1000))]
    pub min_replicas: Option<i32>,
    #[serde(default)]
    pub require_pod_disruption_budget: bool,
    #[serde(default)]
    pub require_probes: bool,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ResourcesSpec {
    #[serde(default)]
    pub require_requests: bool,
    #[serde(default)]
    pub require_memory_limit: bool,
}
