//! The body of a PolicyReport or ClusterPolicyReport (`wgpolicyk8s.io/v1alpha2`) and of its
//! openreports twin, Report or ClusterReport (`openreports.io/v1alpha1`): the fields the
//! operator writes, which both APIs share (openreports adds `source`).

use super::OwnedKind;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use serde::Serialize;
use std::collections::BTreeMap;

#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct PolicyReport {
    /// Which of the four kinds this is; apiVersion and kind are written from it.
    #[serde(skip)]
    pub owned_kind: OwnedKind,
    pub api_version: String,
    pub kind: String,
    pub metadata: ObjectMeta,
    pub summary: Summary,
    pub results: Vec<ReportResult>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub source: Option<String>,
}

impl PolicyReport {
    pub fn new(
        owned_kind: OwnedKind,
        summary: Summary,
        results: Vec<ReportResult>,
        source: Option<String>,
    ) -> Self {
        let resource = owned_kind.api_resource();
        Self {
            owned_kind,
            api_version: resource.api_version,
            kind: resource.kind,
            metadata: ObjectMeta::default(),
            summary,
            results,
            source,
        }
    }
}

#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct Summary {
    pub pass: usize,
    pub fail: usize,
    pub skip: usize,
    pub warn: usize,
    pub error: usize,
}

/// One finding: a failed or exempted (`skip`) object of one control.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct ReportResult {
    pub policy: String,
    pub rule: String,
    pub result: String,
    pub category: String,
    pub message: String,
    pub resources: Vec<ResultResource>,
    pub properties: BTreeMap<String, String>,
    pub source: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub severity: Option<String>,
}

/// The object a finding is about.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ResultResource {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub api_version: Option<String>,
    pub kind: String,
    pub name: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub namespace: Option<String>,
}
