//! How the operator names an object in findings, exemptions and notices.

use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use std::collections::BTreeMap;
use std::sync::Arc;

/// The object a finding is about.
#[derive(Clone, Debug, Default, PartialEq, Eq, PartialOrd, Ord)]
pub struct ObjectRef {
    pub kind: String,
    pub namespace: Option<String>,
    pub name: String,
    /// Shared: a finding's object is copied into every evaluation that folds it (the
    /// incremental engine folds every namespace's kept findings per plan).
    pub labels: Arc<BTreeMap<String, String>>,
    /// The labels of the pods a workload makes (its pod template's), for pod carriers. An
    /// exemption's selector matches the object's own labels or these: see
    /// [`super::exemptions::covers`].
    pub pod_labels: Option<Arc<BTreeMap<String, String>>>,
}

impl ObjectRef {
    /// Identifies the object among those a control counts: kind, namespace and name.
    pub fn key(&self) -> (&str, Option<&str>, &str) {
        (&self.kind, self.namespace.as_deref(), &self.name)
    }

    pub fn of(kind: &str, meta: &ObjectMeta) -> Self {
        Self {
            kind: kind.to_string(),
            namespace: meta.namespace.clone(),
            name: meta.name.clone().unwrap_or_default(),
            labels: Arc::new(meta.labels.clone().unwrap_or_default()),
            pod_labels: None,
        }
    }

    /// A pod carrier (a Pod, or a workload with a pod template), with its pod labels.
    pub fn of_carrier(carrier: &crate::snapshot::PodCarrier) -> Self {
        Self {
            pod_labels: Some(Arc::new(
                carrier.pod_meta.labels.clone().unwrap_or_default(),
            )),
            ..Self::of(carrier.kind, carrier.meta)
        }
    }

    pub fn namespace(name: &str, labels: &BTreeMap<String, String>) -> Self {
        Self {
            kind: "Namespace".into(),
            namespace: None,
            name: name.into(),
            labels: Arc::new(labels.clone()),
            pod_labels: None,
        }
    }

    /// A cluster-scoped object without labels that matter here, e.g. the custom resource
    /// being evaluated.
    pub fn cluster_scoped(kind: &str, name: &str) -> Self {
        Self {
            kind: kind.into(),
            name: name.into(),
            ..Self::default()
        }
    }

    /// The namespace an exemption scoped by namespace matches against.
    pub fn scope_namespace(&self) -> Option<&str> {
        match (&self.namespace, self.kind.as_str()) {
            (Some(ns), _) => Some(ns),
            (None, "Namespace") => Some(&self.name),
            (None, _) => None,
        }
    }
}

/// Something worth an event that is not a control's state, e.g. an exemption about to expire.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct Notice {
    pub reason: &'static str,
    pub message: String,
}
