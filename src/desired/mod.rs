//! Desired state: `fn(&Spec, &Snapshot, ...) -> Vec<DesiredObject>`. Pure, like evaluation.
//!
//! Every owned object carries an ownerReference to its custom resource, the
//! `app.kubernetes.io/managed-by` label and the owner's uid label, so the controller can
//! find what it owns in its stores and prune what is no longer desired.

pub mod admission;
pub mod canonical;
pub mod drift;
pub mod isolation;
pub mod network_policy;
pub mod overlap;
pub mod owned_body;
pub mod pod_security_labels;
pub mod pod_security_takeover;
pub mod policy_report;
pub mod report;
pub mod report_api;
pub mod velero;

#[cfg(test)]
pub(crate) mod golden_tests;

use k8s_openapi::apimachinery::pkg::apis::meta::v1::{ObjectMeta, OwnerReference};
use kube::Resource;
pub use owned_body::OwnedBody;
use serde_json::{Value, json};
use std::collections::BTreeMap;

pub const MANAGED_BY: &str = "app.kubernetes.io/managed-by";
pub const OPERATOR: &str = "baseline-operator";
/// Label with the uid of the custom resource that owns an object.
pub const OWNER_UID: &str = "security.baseline.dev/owner-uid";

/// The kinds of object the operator creates and owns.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum OwnedKind {
    NetworkPolicy,
    ValidatingAdmissionPolicy,
    ValidatingAdmissionPolicyBinding,
    VeleroSchedule,
    VeleroRestore,
    Namespace,
    /// `wgpolicyk8s.io/v1alpha2` PolicyReport: findings that do not fit a status.
    PolicyReport,
    /// `wgpolicyk8s.io/v1alpha2` ClusterPolicyReport: the findings about cluster-scoped
    /// objects, which no namespaced report can carry.
    ClusterPolicyReport,
    /// `openreports.io/v1alpha1` Report: the same findings as a PolicyReport, in the API
    /// that succeeds it.
    Report,
    /// `openreports.io/v1alpha1` ClusterReport: the same findings as a ClusterPolicyReport.
    ClusterReport,
    /// A BackupPolicy's restore-test resource modifiers, in Velero's namespace.
    ConfigMap,
}

impl OwnedKind {
    pub const ALL: [OwnedKind; 11] = [
        Self::NetworkPolicy,
        Self::ValidatingAdmissionPolicy,
        Self::ValidatingAdmissionPolicyBinding,
        Self::VeleroSchedule,
        Self::VeleroRestore,
        Self::Namespace,
        Self::PolicyReport,
        Self::ClusterPolicyReport,
        Self::Report,
        Self::ClusterReport,
        Self::ConfigMap,
    ];

    pub fn api_resource(self) -> kube::core::ApiResource {
        use k8s_openapi::api::admissionregistration::v1 as admission;
        match self {
            Self::NetworkPolicy => kube::core::ApiResource::erase::<
                k8s_openapi::api::networking::v1::NetworkPolicy,
            >(&()),
            Self::ValidatingAdmissionPolicy => {
                kube::core::ApiResource::erase::<admission::ValidatingAdmissionPolicy>(&())
            }
            Self::ValidatingAdmissionPolicyBinding => {
                kube::core::ApiResource::erase::<admission::ValidatingAdmissionPolicyBinding>(&())
            }
            Self::VeleroSchedule => kube::core::ApiResource::erase::<crate::velero::Schedule>(&()),
            Self::VeleroRestore => kube::core::ApiResource::erase::<crate::velero::Restore>(&()),
            Self::Namespace => {
                kube::core::ApiResource::erase::<k8s_openapi::api::core::v1::Namespace>(&())
            }
            Self::ConfigMap => {
                kube::core::ApiResource::erase::<k8s_openapi::api::core::v1::ConfigMap>(&())
            }
            Self::PolicyReport => kube::core::ApiResource {
                group: "wgpolicyk8s.io".into(),
                version: "v1alpha2".into(),
                api_version: crate::desired::report::API_VERSION.into(),
                kind: crate::desired::report::KIND.into(),
                plural: "policyreports".into(),
            },
            Self::ClusterPolicyReport => kube::core::ApiResource {
                group: "wgpolicyk8s.io".into(),
                version: "v1alpha2".into(),
                api_version: crate::desired::report::API_VERSION.into(),
                kind: crate::desired::report::CLUSTER_KIND.into(),
                plural: "clusterpolicyreports".into(),
            },
            Self::Report => kube::core::ApiResource {
                group: "openreports.io".into(),
                version: "v1alpha1".into(),
                api_version: crate::desired::report::OPENREPORTS_API_VERSION.into(),
                kind: crate::desired::report::OPENREPORTS_KIND.into(),
                plural: "reports".into(),
            },
            Self::ClusterReport => kube::core::ApiResource {
                group: "openreports.io".into(),
                version: "v1alpha1".into(),
                api_version: crate::desired::report::OPENREPORTS_API_VERSION.into(),
                kind: crate::desired::report::OPENREPORTS_CLUSTER_KIND.into(),
                plural: "clusterreports".into(),
            },
        }
    }

    pub fn namespaced(self) -> bool {
        matches!(
            self,
            Self::NetworkPolicy
                | Self::VeleroSchedule
                | Self::VeleroRestore
                | Self::PolicyReport
                | Self::Report
                | Self::ConfigMap
        )
    }

    /// Kinds without a `spec`: their content is every top-level field but the envelope.
    pub fn content_is_top_level(self) -> bool {
        matches!(
            self,
            Self::PolicyReport
                | Self::ClusterPolicyReport
                | Self::Report
                | Self::ClusterReport
                | Self::ConfigMap
        )
    }
}

/// The custom resource that owns objects.
#[derive(Clone, Debug, PartialEq)]
pub struct Owner {
    pub api_version: String,
    pub kind: String,
    pub name: String,
    pub uid: String,
}

impl Owner {
    pub fn of<K: Resource<DynamicType = ()>>(resource: &K) -> Self {
        Self {
            api_version: K::api_version(&()).into_owned(),
            kind: K::kind(&()).into_owned(),
            name: resource.meta().name.clone().unwrap_or_default(),
            uid: resource.meta().uid.clone().unwrap_or_default(),
        }
    }

    /// A short prefix for owned object names: `sb-<name>`, `bp-<name>`, `ei-<name>`.
    pub fn prefix(&self) -> String {
        let short = match self.kind.as_str() {
            "SecurityBaseline" => "sb",
            "BackupPolicy" => "bp",
            _ => "ei",
        };
        format!("{short}-{}", self.name)
    }

    pub fn labels(&self) -> BTreeMap<String, String> {
        BTreeMap::from([
            (MANAGED_BY.to_string(), OPERATOR.to_string()),
            (OWNER_UID.to_string(), self.uid.clone()),
        ])
    }

    fn owner_reference(&self) -> OwnerReference {
        OwnerReference {
            api_version: self.api_version.clone(),
            kind: self.kind.clone(),
            name: self.name.clone(),
            uid: self.uid.clone(),
            controller: Some(true),
            block_owner_deletion: Some(true),
        }
    }

    /// The metadata of every object it owns: name, namespace, its labels and ownerReference.
    fn metadata(&self, namespace: Option<&str>, name: &str) -> ObjectMeta {
        ObjectMeta {
            name: Some(name.to_string()),
            namespace: namespace.map(str::to_string),
            labels: Some(self.labels()),
            owner_references: Some(vec![self.owner_reference()]),
            ..ObjectMeta::default()
        }
    }
}

/// One object the operator wants to exist, as a server-side apply body.
#[derive(Clone, Debug, PartialEq)]
pub struct DesiredObject {
    pub kind: OwnedKind,
    pub namespace: Option<String>,
    pub name: String,
    pub body: OwnedBody,
}

impl DesiredObject {
    /// Builds an owned object from JSON: `fields` holds everything but apiVersion, kind and
    /// metadata. The builders make typed bodies ([`Self::typed`]); this is for callers that
    /// hold JSON, such as the drift logic's tests.
    pub fn owned(
        kind: OwnedKind,
        owner: &Owner,
        namespace: Option<&str>,
        name: String,
        fields: Value,
    ) -> Self {
        let resource = kind.api_resource();
        let metadata = serde_json::to_value(owner.metadata(namespace, &name))
            .expect("ObjectMeta serialises to JSON");
        let mut body = json!({
            "apiVersion": resource.api_version,
            "kind": resource.kind,
            "metadata": metadata,
        });
        if let (Some(body), Value::Object(fields)) = (body.as_object_mut(), fields) {
            body.extend(fields);
        }
        Self {
            kind,
            namespace: namespace.map(str::to_string),
            name,
            body: OwnedBody::Json(body),
        }
    }

    /// Builds an owned object from a typed body; its metadata is the owner's (see
    /// [`Owner::metadata`]), whatever the body carried.
    pub fn typed(
        owner: &Owner,
        namespace: Option<&str>,
        name: String,
        body: impl Into<OwnedBody>,
    ) -> Self {
        let mut body = body.into();
        let kind = body.kind().expect("a typed body");
        if let Some(metadata) = body.metadata_mut() {
            *metadata = owner.metadata(namespace, &name);
        }
        Self {
            kind,
            namespace: namespace.map(str::to_string),
            name,
            body,
        }
    }

    /// The body as the API server receives it.
    pub fn json(&self) -> Value {
        self.body.to_json()
    }

    /// Adds labels (e.g. restore-test markers) to the object's metadata.
    pub fn with_labels(mut self, labels: &BTreeMap<String, String>) -> Self {
        match &mut self.body {
            OwnedBody::Json(body) => {
                if let Some(map) = body["metadata"]["labels"].as_object_mut() {
                    for (k, v) in labels {
                        map.insert(k.clone(), json!(v));
                    }
                }
            }
            typed => {
                if let Some(metadata) = typed.metadata_mut() {
                    metadata
                        .labels
                        .get_or_insert_with(BTreeMap::new)
                        .extend(labels.clone());
                }
            }
        }
        self
    }

    /// Sets one annotation on the object's metadata.
    pub fn with_annotation(mut self, key: &str, value: &str) -> Self {
        match &mut self.body {
            OwnedBody::Json(body) => {
                body["metadata"]["annotations"][key] = json!(value);
            }
            typed => {
                if let Some(metadata) = typed.metadata_mut() {
                    metadata
                        .annotations
                        .get_or_insert_with(BTreeMap::new)
                        .insert(key.to_string(), value.to_string());
                }
            }
        }
        self
    }
}
