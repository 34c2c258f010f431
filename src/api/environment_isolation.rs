//! `EnvironmentIsolation`: environments defined by namespace selectors, kept apart on the
//! network, in data and in access.

use super::common::{ComplianceStatus, Exemption, Mode, PortSpec};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::LabelSelector;
use kube::{CustomResource, KubeSchema};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

#[derive(CustomResource, Clone, Debug, PartialEq, Serialize, Deserialize, KubeSchema)]
#[kube(
    group = "security.baseline.dev",
    version = "v1alpha1",
    kind = "EnvironmentIsolation",
    shortname = "ei",
    category = "baseline",
    status = "ComplianceStatus",
    doc = "Segregated environments, production data kept out of non-production, no cross-environment access"
)]
#[serde(rename_all = "camelCase")]
#[x_kube(validation = kube::core::Rule::new("self.environments.all(e, self.environments.exists_one(f, f.name == e.name))").message("environment names must be unique").field_path(".environments"))]
#[x_kube(validation = kube::core::Rule::new("!has(self.allowedFlows) || self.allowedFlows.all(f, self.environments.exists(e, e.name == f.from) && self.environments.exists(e, e.name == f.to))").message("allowedFlows must name declared environments in from and to").field_path(".allowedFlows"))]
#[x_kube(validation = kube::core::Rule::new("!has(self.access) || !has(self.access.allowedBindings) || self.access.allowedBindings.all(b, self.environments.exists(e, e.name == b.from) && self.environments.exists(e, e.name == b.to))").message("access.allowedBindings must name declared environments in from and to").field_path(".access.allowedBindings"))]
pub struct EnvironmentIsolationSpec {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mode: Option<Mode>,
    #[schemars(length(min = 1, max = 16))]
    pub environments: Vec<Environment>,
    /// Traffic allowed between environments, by port.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(length(max = 64))]
    pub allowed_flows: Vec<Flow>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub production_data: Option<ProductionDataSpec>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub access: Option<IsolationAccessSpec>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub protect_environment_labels: Option<LabelProtectionSpec>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(length(max = 100))]
    pub exemptions: Vec<Exemption>,
}

impl EnvironmentIsolationSpec {
    pub fn mode(&self) -> Mode {
        self.mode.unwrap_or_default()
    }
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct Environment {
    /// A DNS label naming the environment (`production`).
    #[schemars(
        regex(pattern = r"^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$"),
        length(max = 63)
    )]
    pub name: String,
    /// Whether this environment holds production data.
    #[serde(default)]
    pub production: bool,
    pub namespace_selector: LabelSelector,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct Flow {
    #[schemars(length(max = 63))]
    pub from: String,
    #[schemars(length(max = 63))]
    pub to: String,
    /// Ports of `to` that `from` may reach; every port when empty.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(length(max = 32))]
    pub ports: Vec<PortSpec>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ProductionDataSpec {
    /// The label that classifies data (`data.baseline.dev/classification` when absent).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 317))]
    pub classification_label: Option<String>,
    /// Classification values that mark production data.
    #[schemars(length(min = 1, max = 16))]
    pub production_values: Vec<String>,
    /// Compare Secrets in non-production namespaces with production ones by keyed hash.
    /// Needs cluster-wide Secret read.
    #[serde(default)]
    pub detect_copied_secrets: bool,
}

impl ProductionDataSpec {
    pub fn classification_label(&self) -> &str {
        self.classification_label
            .as_deref()
            .unwrap_or("data.baseline.dev/classification")
    }
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct IsolationAccessSpec {
    /// Report (and in Enforce, reject) bindings that let identities of one environment act in
    /// another (any pair, production or not) unless `allowedBindings` names the pair. A
    /// namespace in no environment (and not excluded) is an environment of its own.
    #[serde(default)]
    pub deny_cross_environment_bindings: bool,
    /// Groups that count as non-production identities: never bound in production namespaces
    /// nor cluster-wide.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(length(max = 32))]
    pub non_production_groups: Vec<String>,
    /// Pairs of environments whose bindings are allowed: identities (ServiceAccounts) of
    /// `from` may be granted roles in the namespaces of `to`. One direction only.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(length(max = 64))]
    pub allowed_bindings: Vec<BindingAllowance>,
}

/// One allowed direction of access between two declared environments.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct BindingAllowance {
    /// The environment whose identities are granted.
    #[schemars(length(max = 63))]
    pub from: String,
    /// The environment in whose namespaces they are granted roles.
    #[schemars(length(max = 63))]
    pub to: String,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct LabelProtectionSpec {
    #[serde(default)]
    #[schemars(length(max = 32))]
    pub allowed_users: Vec<String>,
    #[serde(default)]
    #[schemars(length(max = 32))]
    pub allowed_groups: Vec<String>,
}
