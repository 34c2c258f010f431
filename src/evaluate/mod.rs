//! Evaluation: `fn(&Spec, &Snapshot, now) -> Evaluation`. Pure: no client, no clock.
//!
//! Each control family lives in its own module and reports raw [`Violation`]s; this module
//! applies exemptions, counts, and turns the result into status evidence.

pub mod backup;
pub mod encryption;
pub mod exemptions;
pub mod images;
pub mod isolation;
pub mod network;
pub mod pod_security;
pub mod privilege;
pub mod workloads;

use crate::api::{ControlResult, ControlState, Exemption, Finding, Summary};
use crate::catalog::ControlId;
use jiff::Timestamp;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{LabelSelector, ObjectMeta, Time};
use kube::core::{Selector, SelectorExt};
use std::collections::BTreeMap;

/// Findings kept in status per control; the rest go to PolicyReports.
pub const STATUS_FINDINGS_PER_CONTROL: usize = 10;

/// The object a finding is about.
#[derive(Clone, Debug, Default, PartialEq, Eq, PartialOrd, Ord)]
pub struct ObjectRef {
    pub kind: String,
    pub namespace: Option<String>,
    pub name: String,
    pub labels: BTreeMap<String, String>,
    /// The labels of the pods a workload makes (its pod template's), for pod carriers. An
    /// exemption's selector matches the object's own labels or these: see
    /// [`exemptions::covers`].
    pub pod_labels: Option<BTreeMap<String, String>>,
}

impl ObjectRef {
    pub fn of(kind: &str, meta: &ObjectMeta) -> Self {
        Self {
            kind: kind.to_string(),
            namespace: meta.namespace.clone(),
            name: meta.name.clone().unwrap_or_default(),
            labels: meta.labels.clone().unwrap_or_default(),
            pod_labels: None,
        }
    }

    /// A pod carrier (a Pod, or a workload with a pod template), with its pod labels.
    pub fn of_carrier(carrier: &crate::snapshot::PodCarrier) -> Self {
        Self {
            pod_labels: Some(carrier.pod_meta.labels.clone().unwrap_or_default()),
            ..Self::of(carrier.kind, carrier.meta)
        }
    }

    pub fn namespace(name: &str, labels: &BTreeMap<String, String>) -> Self {
        Self {
            kind: "Namespace".into(),
            namespace: None,
            name: name.into(),
            labels: labels.clone(),
            pod_labels: None,
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

/// One object breaking one control, before exemptions.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct Violation {
    pub object: ObjectRef,
    pub message: String,
}

impl Violation {
    pub fn new(object: ObjectRef, message: impl Into<String>) -> Self {
        Self {
            object,
            message: message.into(),
        }
    }

    pub fn finding(&self) -> Finding {
        Finding {
            kind: self.object.kind.clone(),
            namespace: self.object.namespace.clone(),
            name: self.object.name.clone(),
            message: self.message.clone(),
        }
    }
}

/// What one control family found.
#[derive(Clone, Debug, PartialEq)]
pub struct ControlOutcome {
    pub id: ControlId,
    /// False when the resource does not configure this control.
    pub applicable: bool,
    pub checked: i32,
    pub violations: Vec<Violation>,
}

impl ControlOutcome {
    pub fn not_applicable(id: ControlId) -> Self {
        Self {
            id,
            applicable: false,
            checked: 0,
            violations: Vec::new(),
        }
    }

    pub fn checked(id: ControlId, checked: usize, mut violations: Vec<Violation>) -> Self {
        violations.sort();
        violations.dedup();
        Self {
            id,
            applicable: true,
            checked: i32::try_from(checked).unwrap_or(i32::MAX),
            violations,
        }
    }
}

/// A violation waived by an exemption.
#[derive(Clone, Debug, PartialEq)]
pub struct Waived {
    pub violation: Violation,
    pub exemption: Exemption,
}

/// The evidence for one control after exemptions.
#[derive(Clone, Debug, PartialEq)]
pub struct ControlEvidence {
    pub id: ControlId,
    pub state: ControlState,
    pub checked: i32,
    pub failed: Vec<Violation>,
    pub waived: Vec<Waived>,
}

/// Something worth an event that is not a control's state, e.g. an exemption about to expire.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct Notice {
    pub reason: &'static str,
    pub message: String,
}

/// The full result of evaluating one custom resource.
#[derive(Clone, Debug, PartialEq)]
pub struct Evaluation {
    pub namespaces: Vec<String>,
    pub controls: Vec<ControlEvidence>,
    pub notices: Vec<Notice>,
}

impl Evaluation {
    /// Applies exemptions to raw outcomes.
    pub fn new(
        namespaces: Vec<String>,
        outcomes: Vec<ControlOutcome>,
        exemptions: &[Exemption],
        now: Timestamp,
    ) -> Self {
        let live = exemptions::Live::new(exemptions, now);
        let controls = outcomes
            .into_iter()
            .map(|outcome| {
                let mut failed = Vec::new();
                let mut waived = Vec::new();
                for violation in outcome.violations {
                    match live.waiver(outcome.id, &violation.object) {
                        Some(exemption) => waived.push(Waived {
                            violation,
                            exemption: exemption.clone(),
                        }),
                        None => failed.push(violation),
                    }
                }
                let state = if !outcome.applicable {
                    ControlState::NotApplicable
                } else if !failed.is_empty() {
                    ControlState::Fail
                } else if !waived.is_empty() {
                    ControlState::Exempt
                } else {
                    ControlState::Pass
                };
                ControlEvidence {
                    id: outcome.id,
                    state,
                    checked: outcome.checked,
                    failed,
                    waived,
                }
            })
            .collect();
        Self {
            namespaces,
            controls,
            notices: live.notices,
        }
    }

    pub fn compliant(&self) -> bool {
        self.controls.iter().all(|c| c.state != ControlState::Fail)
    }

    pub fn failing(&self) -> impl Iterator<Item = ControlId> + '_ {
        self.controls
            .iter()
            .filter(|c| c.state == ControlState::Fail)
            .map(|c| c.id)
    }

    pub fn summary(&self) -> Summary {
        let count = |state| {
            let n = self.controls.iter().filter(|c| c.state == state).count();
            i32::try_from(n).unwrap_or(i32::MAX)
        };
        let passing = count(ControlState::Pass);
        let failing = count(ControlState::Fail);
        let exempt = count(ControlState::Exempt);
        let applicable = passing + failing + exempt;
        Summary {
            namespaces: i32::try_from(self.namespaces.len()).unwrap_or(i32::MAX),
            passing,
            failing,
            exempt,
            score: ((passing + exempt) * 100)
                .checked_div(applicable)
                .unwrap_or(100),
            failing_controls: self
                .failing()
                .map(|id| id.as_str())
                .collect::<Vec<_>>()
                .join(","),
        }
    }

    /// Per-control results for status, with a bounded sample of findings.
    pub fn control_results(&self, evaluated_at: Timestamp) -> Vec<ControlResult> {
        self.controls
            .iter()
            .map(|c| ControlResult {
                id: c.id,
                title: c.id.title().to_string(),
                frameworks: c.id.framework_refs(),
                state: c.state,
                checked: c.checked,
                failed: i32::try_from(c.failed.len()).unwrap_or(i32::MAX),
                exempted: i32::try_from(c.waived.len()).unwrap_or(i32::MAX),
                findings: c
                    .failed
                    .iter()
                    .take(STATUS_FINDINGS_PER_CONTROL)
                    .map(Violation::finding)
                    .collect(),
                last_evaluated: Some(Time(evaluated_at)),
            })
            .collect()
    }
}

/// Whether `selector` selects an object with `labels`. An invalid selector selects nothing,
/// so a typo can never widen a policy's reach.
pub fn selects(selector: &LabelSelector, labels: &BTreeMap<String, String>) -> bool {
    Selector::try_from(selector.clone()).is_ok_and(|s| s.matches(labels))
}

/// The names of the namespaces `selector` selects, sorted.
pub fn selected_namespaces(
    selector: &LabelSelector,
    snapshot: &crate::snapshot::Snapshot,
) -> Vec<String> {
    let mut names: Vec<String> = snapshot
        .namespace_labels()
        .filter(|(_, labels)| selects(selector, labels))
        .map(|(name, _)| name.to_string())
        .collect();
    names.sort();
    names
}

pub mod security_baseline;
