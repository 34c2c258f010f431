//! Compliance as Prometheus metrics: per resource and control, the state, the failed and
//! exempted object counts and when it was last evaluated; beside them the health of what the
//! evidence depends on (the history, the watches). Platform teams alert on these in the
//! monitoring they already run (the chart's PrometheusRule, `charts/baseline-operator/templates/prometheusrule.yaml`).
//!
//! Labels are bounded on purpose: the kind, the resource's name and the control id (15 per
//! resource at most), the state (five values), the watched kind. Never an object, a namespace
//! or anything read from a Secret: the figures are counts, and which objects fail is in status
//! and the PolicyReports, where access is controlled per resource.

use crate::api::{ControlResult, ControlState};
use crate::catalog::ControlId;
use prometheus_client::encoding::{EncodeLabelSet, LabelSetEncoder};
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::registry::Registry;
use std::collections::BTreeSet;

/// Every state a control can be in, each exported as its own series (1 for the current state,
/// 0 for the others), so `{state="Fail"} == 1` selects failing controls and a state change
/// never leaves an old series behind.
pub const STATES: [ControlState; 5] = [
    ControlState::Pass,
    ControlState::Fail,
    ControlState::Exempt,
    ControlState::NotApplicable,
    ControlState::NotEvaluated,
];

/// The name status and the metrics use for a state.
pub fn state_name(state: ControlState) -> &'static str {
    match state {
        ControlState::Pass => "Pass",
        ControlState::Fail => "Fail",
        ControlState::Exempt => "Exempt",
        ControlState::NotApplicable => "NotApplicable",
        ControlState::NotEvaluated => "NotEvaluated",
    }
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ResourceLabels {
    pub kind: String,
    pub resource: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ControlLabels {
    pub kind: String,
    pub resource: String,
    pub control: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ControlStateLabels {
    pub kind: String,
    pub resource: String,
    pub control: String,
    pub state: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct WatchLabels {
    pub watched_kind: String,
}

/// No labels, in a family: the series appears only once set (the history metrics exist only
/// when a history is configured, so that no alert fires on a history nobody asked for).
#[derive(Clone, Debug, Hash, PartialEq, Eq)]
pub struct Unlabelled;

impl EncodeLabelSet for Unlabelled {
    fn encode(&self, _encoder: &mut LabelSetEncoder) -> Result<(), std::fmt::Error> {
        Ok(())
    }
}

/// The compliance metrics, registered in the operator's registry.
#[derive(Default)]
pub struct ComplianceMetrics {
    state: Family<ControlStateLabels, Gauge>,
    checked: Family<ControlLabels, Gauge>,
    failed: Family<ControlLabels, Gauge>,
    exempted: Family<ControlLabels, Gauge>,
    last_evaluation: Family<ResourceLabels, Gauge>,
    history_last_success: Family<Unlabelled, Gauge>,
    history_writable: Family<Unlabelled, Gauge>,
    history_failures: Family<Unlabelled, Counter>,
    watch_failing: Family<WatchLabels, Gauge>,
}

/// One evaluation of one resource, as the reconcile that wrote it into status saw it.
pub struct Evaluated<'a> {
    pub kind: &'a str,
    pub resource: &'a str,
    pub controls: &'a [ControlResult],
    /// Unix seconds of the evaluation.
    pub at: i64,
    /// The watched kinds failing past the grace period at that moment.
    pub failing_watches: Vec<String>,
}

impl ComplianceMetrics {
    pub fn register(&self, registry: &mut Registry) {
        registry.register(
            "control_state",
            "1 for the state a resource's control is in, 0 for the other states",
            self.state.clone(),
        );
        registry.register(
            "control_checked_objects",
            "Objects a control looked at in its last evaluation",
            self.checked.clone(),
        );
        registry.register(
            "control_failed_objects",
            "Objects with a finding that counts against the control",
            self.failed.clone(),
        );
        registry.register(
            "control_exempted_objects",
            "Objects whose every finding is waived by a live exemption",
            self.exempted.clone(),
        );
        registry.register(
            "last_evaluation_timestamp_seconds",
            "Unix time of a resource's last evaluation; time() minus it is the evidence's age",
            self.last_evaluation.clone(),
        );
        registry.register(
            "history_last_success_timestamp_seconds",
            "Unix time the evidence history last took an evaluation (appended what it called for)",
            self.history_last_success.clone(),
        );
        registry.register(
            "history_writable",
            "1 when the last write to the evidence history succeeded, 0 when it failed",
            self.history_writable.clone(),
        );
        registry.register(
            "history_append_failures",
            "Writes to the evidence history that failed",
            self.history_failures.clone(),
        );
        registry.register(
            "watch_failing",
            "1 while the watch of a kind has failed past the grace period (figures may be stale)",
            self.watch_failing.clone(),
        );
    }

    /// Publishes one evaluation: the figures status shows, when, and the watches' health.
    /// Controls the resource no longer evaluates lose their series.
    pub fn evaluated(&self, evaluation: &Evaluated) {
        let (kind, resource) = (evaluation.kind, evaluation.resource);
        let present: BTreeSet<ControlId> = evaluation.controls.iter().map(|c| c.id).collect();
        for id in ControlId::ALL.iter().filter(|id| !present.contains(id)) {
            self.forget_control(kind, resource, *id);
        }
        for control in evaluation.controls {
            let labels = control_labels(kind, resource, control.id);
            for state in STATES {
                self.state
                    .get_or_create(&state_labels(&labels, state))
                    .set(i64::from(control.state == state));
            }
            self.checked
                .get_or_create(&labels)
                .set(control.checked.into());
            self.failed
                .get_or_create(&labels)
                .set(control.failed.into());
            self.exempted
                .get_or_create(&labels)
                .set(control.exempted.into());
        }
        self.last_evaluation
            .get_or_create(&ResourceLabels {
                kind: kind.into(),
                resource: resource.into(),
            })
            .set(evaluation.at);
        self.watches_failing(&evaluation.failing_watches);
    }

    /// Records whether a write to the evidence history succeeded, at Unix time `at`.
    pub fn history_written(&self, ok: bool, at: i64) {
        self.history_writable
            .get_or_create(&Unlabelled)
            .set(i64::from(ok));
        if ok {
            self.history_last_success.get_or_create(&Unlabelled).set(at);
        } else {
            self.history_failures.get_or_create(&Unlabelled).inc();
        }
    }

    /// A deleted resource: its series disappear (an alert on it resolves, not goes stale).
    pub fn forget(&self, kind: &str, resource: &str) {
        for id in ControlId::ALL {
            self.forget_control(kind, resource, *id);
        }
        self.last_evaluation.remove(&ResourceLabels {
            kind: kind.into(),
            resource: resource.into(),
        });
    }

    fn forget_control(&self, kind: &str, resource: &str, id: ControlId) {
        let labels = control_labels(kind, resource, id);
        for state in STATES {
            self.state.remove(&state_labels(&labels, state));
        }
        self.checked.remove(&labels);
        self.failed.remove(&labels);
        self.exempted.remove(&labels);
    }

    /// The failing set replaces the last one: a recovered watch's series goes.
    fn watches_failing(&self, kinds: &[String]) {
        self.watch_failing.clear();
        for kind in kinds {
            self.watch_failing
                .get_or_create(&WatchLabels {
                    watched_kind: kind.clone(),
                })
                .set(1);
        }
    }
}

fn control_labels(kind: &str, resource: &str, id: ControlId) -> ControlLabels {
    ControlLabels {
        kind: kind.into(),
        resource: resource.into(),
        control: id.as_str().into(),
    }
}

fn state_labels(labels: &ControlLabels, state: ControlState) -> ControlStateLabels {
    ControlStateLabels {
        kind: labels.kind.clone(),
        resource: labels.resource.clone(),
        control: labels.control.clone(),
        state: state_name(state).into(),
    }
}

#[cfg(test)]
#[path = "compliance_tests.rs"]
mod tests;
