//! The body of an owned object as the builders make it: a typed `k8s-openapi` value where the
//! kind has been typed, JSON for the kinds not typed yet. JSON is made from it only at the
//! drift boundary ([`super::drift::render`]) and for the write.

use super::OwnedKind;
use super::policy_report::PolicyReport;
use crate::velero::{Restore, Schedule};
use k8s_openapi::api::admissionregistration::v1::{
    ValidatingAdmissionPolicy, ValidatingAdmissionPolicyBinding,
};
use k8s_openapi::api::core::v1::{ConfigMap, Namespace};
use k8s_openapi::api::networking::v1::NetworkPolicy;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use serde_json::Value;

#[derive(Clone, Debug, PartialEq)]
pub enum OwnedBody {
    NetworkPolicy(NetworkPolicy),
    ValidatingAdmissionPolicy(ValidatingAdmissionPolicy),
    ValidatingAdmissionPolicyBinding(ValidatingAdmissionPolicyBinding),
    VeleroSchedule(Schedule),
    VeleroRestore(Restore),
    Namespace(Namespace),
    ConfigMap(ConfigMap),
    /// Any of the four report kinds.
    PolicyReport(PolicyReport),
    /// A body given as JSON ([`super::DesiredObject::owned`]): the whole object, apiVersion,
    /// kind and metadata included.
    Json(Value),
}

impl OwnedBody {
    /// The kind of a typed body; `None` for JSON, whose kind only its builder knows.
    pub fn kind(&self) -> Option<OwnedKind> {
        match self {
            Self::NetworkPolicy(_) => Some(OwnedKind::NetworkPolicy),
            Self::ValidatingAdmissionPolicy(_) => Some(OwnedKind::ValidatingAdmissionPolicy),
            Self::ValidatingAdmissionPolicyBinding(_) => {
                Some(OwnedKind::ValidatingAdmissionPolicyBinding)
            }
            Self::VeleroSchedule(_) => Some(OwnedKind::VeleroSchedule),
            Self::VeleroRestore(_) => Some(OwnedKind::VeleroRestore),
            Self::Namespace(_) => Some(OwnedKind::Namespace),
            Self::ConfigMap(_) => Some(OwnedKind::ConfigMap),
            Self::PolicyReport(o) => Some(o.owned_kind),
            Self::Json(_) => None,
        }
    }

    /// The body as the API server receives it.
    pub fn to_json(&self) -> Value {
        let typed = match self {
            Self::NetworkPolicy(o) => serde_json::to_value(o),
            Self::ValidatingAdmissionPolicy(o) => serde_json::to_value(o),
            Self::ValidatingAdmissionPolicyBinding(o) => serde_json::to_value(o),
            Self::VeleroSchedule(o) => serde_json::to_value(o),
            Self::VeleroRestore(o) => serde_json::to_value(o),
            Self::Namespace(o) => serde_json::to_value(o),
            Self::ConfigMap(o) => serde_json::to_value(o),
            Self::PolicyReport(o) => serde_json::to_value(o),
            Self::Json(body) => return body.clone(),
        };
        // Serialising a k8s-openapi value to a `Value` has no failure case (string keys only).
        typed.expect("a k8s-openapi object serialises to JSON")
    }

    /// The metadata of a typed body.
    pub fn metadata_mut(&mut self) -> Option<&mut ObjectMeta> {
        match self {
            Self::NetworkPolicy(o) => Some(&mut o.metadata),
            Self::ValidatingAdmissionPolicy(o) => Some(&mut o.metadata),
            Self::ValidatingAdmissionPolicyBinding(o) => Some(&mut o.metadata),
            Self::VeleroSchedule(o) => Some(&mut o.metadata),
            Self::VeleroRestore(o) => Some(&mut o.metadata),
            Self::Namespace(o) => Some(&mut o.metadata),
            Self::ConfigMap(o) => Some(&mut o.metadata),
            Self::PolicyReport(o) => Some(&mut o.metadata),
            Self::Json(_) => None,
        }
    }
}

impl From<NetworkPolicy> for OwnedBody {
    fn from(object: NetworkPolicy) -> Self {
        Self::NetworkPolicy(object)
    }
}

impl From<ValidatingAdmissionPolicy> for OwnedBody {
    fn from(object: ValidatingAdmissionPolicy) -> Self {
        Self::ValidatingAdmissionPolicy(object)
    }
}

impl From<ValidatingAdmissionPolicyBinding> for OwnedBody {
    fn from(object: ValidatingAdmissionPolicyBinding) -> Self {
        Self::ValidatingAdmissionPolicyBinding(object)
    }
}

impl From<Schedule> for OwnedBody {
    fn from(object: Schedule) -> Self {
        Self::VeleroSchedule(object)
    }
}

impl From<Restore> for OwnedBody {
    fn from(object: Restore) -> Self {
        Self::VeleroRestore(object)
    }
}

impl From<Namespace> for OwnedBody {
    fn from(object: Namespace) -> Self {
        Self::Namespace(object)
    }
}

impl From<ConfigMap> for OwnedBody {
    fn from(object: ConfigMap) -> Self {
        Self::ConfigMap(object)
    }
}

impl From<PolicyReport> for OwnedBody {
    fn from(object: PolicyReport) -> Self {
        Self::PolicyReport(object)
    }
}
