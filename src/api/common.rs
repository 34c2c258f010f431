//! Types shared by the three custom resources: mode, exemptions, ports and the status
//! that carries control evidence.

use crate::catalog::ControlId;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{Condition, LabelSelector, Time};
use kube::KubeSchema;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// `Audit` reports only; `Enforce` also makes the cluster comply with native mechanisms.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub enum Mode {
    #[default]
    Audit,
    Enforce,
}

/// A documented, approved and expiring waiver of one or more controls.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, KubeSchema)]
#[serde(rename_all = "camelCase")]
pub struct Exemption {
    /// The control ids this exemption waives (at least one).
    #[schemars(length(min = 1, max = 15))]
    pub controls: Vec<ControlId>,
    /// Namespaces the exemption covers; with neither `namespaces` nor `selector` it covers every
    /// namespace the resource selects.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(length(max = 256))]
    pub namespaces: Vec<String>,
    /// Objects the exemption covers, by label.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub selector: Option<LabelSelector>,
    /// Why the risk is accepted.
    #[schemars(length(min = 1, max = 1024))]
    pub reason: String,
    /// Who approved the exemption.
    #[schemars(length(min = 1, max = 256))]
    pub approved_by: String,
    /// A ticket or change reference.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = 256))]
    pub ticket: Option<String>,
    /// The day the exemption stops waiving (`YYYY-MM-DD`, UTC) or an RFC 3339 UTC instant.
    #[schemars(regex(
        pattern = r"^[0-9]{4}-(0[1-9]|1[0-2])-(0[1-9]|[12][0-9]|3[01])(T([01][0-9]|2[0-3]):[0-5][0-9]:[0-5][0-9]Z)?$"
    ))]
    pub expires: String,
}

/// A port, optionally with its protocol (TCP when absent).
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct PortSpec {
    #[schemars(range(min = 1, max = 65535))]
    pub port: i32,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub protocol: Option<Protocol>,
}

impl PortSpec {
    pub fn protocol(&self) -> Protocol {
        self.protocol.unwrap_or(Protocol::TCP)
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
#[allow(clippy::upper_case_acronyms)]
pub enum Protocol {
    TCP,
    UDP,
    SCTP,
}

impl Protocol {
    pub fn as_str(self) -> &'static str {
        match self {
            Protocol::TCP => "TCP",
            Protocol::UDP => "UDP",
            Protocol::SCTP => "SCTP",
        }
    }
}

/// The outcome of one control.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub enum ControlState {
    Pass,
    Fail,
    Exempt,
    NotApplicable,
    /// The resource asks for a check the operator could not perform (e.g. copied-Secret
    /// detection without Secret access): nothing is proven either way, so it never counts as
    /// passing. Its condition is `Unknown` with reason `CheckNotRun` and says why.
    NotEvaluated,
}

/// One failing (or exempted) object, with a precise message. Never carries Secret values.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct Finding {
    pub kind: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub namespace: Option<String>,
    pub name: String,
    pub message: String,
}

/// Evidence for one control, as auditors read it from `kubectl get -o yaml`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ControlResult {
    pub id: ControlId,
    pub title: String,
    /// The framework references the control proves, rendered `<framework> <id>`:
    /// `ISO/IEC 27001:2022 8.20`, `SOC 2 CC6.6`, `ISO/IEC 27001:2013 A.13.1.1` (as the source
    /// policies cite it), `Source policy: <control name>`.
    pub frameworks: Vec<String>,
    pub state: ControlState,
    /// Objects the control looked at (which kinds: the catalog's `counts`; namespaces are
    /// objects too). `failed + exempted <= checked` always holds.
    pub checked: i32,
    /// Of those, objects with at least one finding that counts against the control.
    pub failed: i32,
    /// Of those, objects whose every finding is waived by a live exemption.
    pub exempted: i32,
    /// Findings that count against the control (an object can have several); the PolicyReports
    /// list each as a `fail` result.
    #[serde(default)]
    pub failed_findings: i32,
    /// Findings waived by a live exemption; the PolicyReports list each as a `skip` result.
    #[serde(default)]
    pub exempted_findings: i32,
    /// A bounded sample of the failing objects.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub findings: Vec<Finding>,
    /// What the figures alone do not say: why the control does not apply (not configured, or
    /// nothing to judge, as the catalog states per control), why a check did not run, where
    /// enforcement cannot follow an exemption, or an exemption that misses what it names.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub note: String,
    /// When this control was last evaluated: it moves when its result changes, and otherwise
    /// once per refresh interval (default 1 h).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_evaluated: Option<Time>,
}

/// Totals across controls, for printer columns and dashboards.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct Summary {
    /// Namespaces in scope.
    pub namespaces: i32,
    pub passing: i32,
    pub failing: i32,
    pub exempt: i32,
    /// Controls whose check could not run (state `NotEvaluated`); they count against the
    /// score like failing ones.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub not_evaluated: i32,
    /// Share of applicable controls that pass or are exempt, 0-100.
    pub score: i32,
    /// Failing control ids, comma separated (for `kubectl get`).
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub failing_controls: String,
    /// Ids of the controls whose check could not run, comma separated.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub not_evaluated_controls: String,
}

fn is_zero(n: &i32) -> bool {
    *n == 0
}

/// The status every kind shares.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ComplianceStatus {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub observed_generation: Option<i64>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub conditions: Vec<Condition>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub summary: Option<Summary>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub controls: Vec<ControlResult>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scope: Option<EvaluationScope>,
}

/// What the figures in this status cover: which namespaces were judged, which the selectors
/// pick but were left out and why, which are exempted as a whole, and when.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct EvaluationScope {
    /// Namespaces in scope.
    pub namespaces: i32,
    /// Their names, sorted; at most the first 256 (the evidence bundle says when cut).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub namespace_names: Vec<String>,
    /// Namespaces the selectors pick but that were left out, with the reason.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub excluded: Vec<ExcludedNamespace>,
    /// Live exemptions covering whole namespaces: judged, but their findings are waived.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub exempted_namespaces: Vec<ExemptedNamespace>,
    /// When these figures were last computed. It moves when a figure, a finding or the scope
    /// changes, and otherwise once per refresh interval (default 1 h): older than that plus
    /// the resync period, the operator has stopped evaluating.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub evaluated_at: Option<Time>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ExcludedNamespace {
    pub name: String,
    /// `Terminating`: the namespace is being deleted.
    pub reason: String,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ExemptedNamespace {
    pub name: String,
    pub controls: Vec<ControlId>,
    pub approved_by: String,
    pub expires: String,
}
