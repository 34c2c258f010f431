//! Status shared by the three reconcilers: conditions with stable transition times, control
//! evidence, and the rule that a status differing only in timestamps is not written.

use crate::api::{
    ComplianceStatus, ControlResult, ControlState, EvaluationScope, ExcludedNamespace,
    ExemptedNamespace,
};
use crate::conditions::{ConditionType, Reason};
use crate::evaluate::Evaluation;
use jiff::Timestamp;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{Condition, Time};
use std::time::Duration;

/// A condition's status: `Unknown` is for a check that could not run, which is neither.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ConditionStatus {
    True,
    False,
    Unknown,
}

impl ConditionStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::True => "True",
            Self::False => "False",
            Self::Unknown => "Unknown",
        }
    }
}

impl From<bool> for ConditionStatus {
    fn from(value: bool) -> Self {
        if value { Self::True } else { Self::False }
    }
}

/// A condition before its transition time is settled.
pub struct NewCondition {
    pub type_: String,
    pub status: ConditionStatus,
    pub reason: String,
    pub message: String,
}

/// Builds conditions, keeping `lastTransitionTime` from `old` when the status is unchanged.
pub fn conditions(
    old: &[Condition],
    new: Vec<NewCondition>,
    generation: Option<i64>,
    now: Timestamp,
) -> Vec<Condition> {
    new.into_iter()
        .map(|c| {
            let status = c.status.as_str().to_string();
            let previous = old.iter().find(|o| o.type_ == c.type_);
            let last_transition_time = match previous {
                Some(p) if p.status == status => p.last_transition_time.clone(),
                _ => Time(now),
            };
            Condition {
                type_: c.type_,
                status,
                reason: c.reason,
                message: c.message,
                observed_generation: generation,
                last_transition_time,
            }
        })
        .collect()
}

/// The Ready, Compliant and per-control conditions for a successful evaluation.
pub fn evaluation_conditions(evaluation: &Evaluation) -> Vec<NewCondition> {
    let failing: Vec<&str> = evaluation.failing().map(|id| id.as_str()).collect();
    let not_run: Vec<&str> = evaluation.not_evaluated().map(|id| id.as_str()).collect();
    let (compliant_reason, compliant_message) = match (failing.is_empty(), not_run.is_empty()) {
        (true, true) => (
            Reason::AllControlsPass,
            "every applicable control passes or is exempt".to_string(),
        ),
        (false, true) => (
            Reason::ControlsFailing,
            format!("failing: {}", failing.join(", ")),
        ),
        (true, false) => (
            Reason::ChecksNotRun,
            format!("not evaluated: {}", not_run.join(", ")),
        ),
        (false, false) => (
            Reason::ControlsFailing,
            format!(
                "failing: {}; not evaluated: {}",
                failing.join(", "),
                not_run.join(", ")
            ),
        ),
    };
    let mut out = vec![
        NewCondition {
            type_: ConditionType::Ready.name(),
            status: ConditionStatus::True,
            reason: Reason::Reconciled.as_str().into(),
            message: "evaluated and applied".into(),
        },
        NewCondition {
            type_: ConditionType::Compliant.name(),
            status: evaluation.compliant().into(),
            reason: compliant_reason.as_str().into(),
            message: compliant_message,
        },
    ];
    for control in &evaluation.controls {
        let (status, reason) = match control.state {
            ControlState::Pass => (ConditionStatus::True, Reason::Pass),
            ControlState::Exempt => (ConditionStatus::True, Reason::Exempt),
            ControlState::NotApplicable => (ConditionStatus::True, Reason::NotApplicable),
            ControlState::Fail => (ConditionStatus::False, Reason::Fail),
            ControlState::NotEvaluated => (ConditionStatus::Unknown, Reason::CheckNotRun),
        };
        // The same figures as the control's status entry and the PolicyReports: objects
        // checked, failed and exempted, then findings (an object can have several).
        let counts = format!(
            "{} checked, {} failed, {} exempted",
            control.checked,
            control.failed_objects(),
            control.exempted_objects()
        );
        let counts = match control.failed.first() {
            Some(v) => format!(
                "{counts}; {} finding(s), first: {} {}: {}",
                control.failed.len(),
                v.object.kind,
                v.object.name,
                v.message
            ),
            None => counts,
        };
        // What did not run, or what enforcement cannot follow, comes first: a truncated
        // message must not lose it.
        let mut message = evaluation
            .notes
            .get(&control.id)
            .map(|notes| notes.join("; "))
            .unwrap_or_default();
        if !message.is_empty() {
            message.push_str("; ");
        }
        message.push_str(&counts);
        out.push(NewCondition {
            type_: ConditionType::Control(control.id).name(),
            status,
            reason: reason.as_str().into(),
            message: truncate(message, 1024),
        });
    }
    out
}

fn truncate(mut s: String, max: usize) -> String {
    if s.len() > max {
        let mut cut = max;
        while !s.is_char_boundary(cut) {
            cut -= 1;
        }
        s.truncate(cut);
    }
    s
}

/// Control results whose `lastEvaluated` stays put while the result itself is unchanged, so
/// that a resync that finds nothing new writes nothing, unless `refresh` is due: then every
/// control is stamped `now` (one write for all of them, at most once per interval).
pub fn controls(
    old: &[ControlResult],
    new: Vec<ControlResult>,
    refresh: bool,
) -> Vec<ControlResult> {
    new.into_iter()
        .map(|mut c| {
            if refresh {
                return c;
            }
            if let Some(previous) = old.iter().find(|o| o.id == c.id) {
                let mut same = c.clone();
                same.last_evaluated = previous.last_evaluated.clone();
                if &same == previous {
                    c.last_evaluated = previous.last_evaluated.clone();
                }
            }
            c
        })
        .collect()
}

/// Whether the stored evaluation time is `interval` old or older (or missing): an auditor must
/// be able to tell a current Pass from a stale one, so status says again that the controls
/// were evaluated, once per interval, even when nothing changed.
pub fn refresh_due(old: &ComplianceStatus, now: Timestamp, interval: Duration) -> bool {
    let Some(at) = old.scope.as_ref().and_then(|s| s.evaluated_at.as_ref()) else {
        return true;
    };
    let interval = jiff::SignedDuration::try_from(interval).unwrap_or(jiff::SignedDuration::MAX);
    now.duration_since(at.0) >= interval
}

/// A full status for a successful evaluation. `refresh` is how often status says again that
/// an unchanged result was evaluated (see [`refresh_due`]).
pub fn compliance_status(
    old: &ComplianceStatus,
    evaluation: &Evaluation,
    generation: Option<i64>,
    now: Timestamp,
    refresh: Duration,
) -> ComplianceStatus {
    let due = refresh_due(old, now, refresh);
    let controls = controls(&old.controls, evaluation.control_results(now), due);
    let scope = scope(old, evaluation, &controls, now, due);
    ComplianceStatus {
        observed_generation: generation,
        conditions: conditions(
            &old.conditions,
            evaluation_conditions(evaluation),
            generation,
            now,
        ),
        summary: Some(evaluation.summary()),
        controls,
        scope: Some(scope),
    }
}

/// Status lists at most this many namespace names; the count is always exact.
pub const SCOPE_NAMES: usize = 256;

/// The scope of `evaluation`, stamped `now` only when it or a control's result changed since
/// `old` (the controls' `lastEvaluated` already moved when theirs did), or a refresh is due.
fn scope(
    old: &ComplianceStatus,
    evaluation: &Evaluation,
    controls: &[ControlResult],
    now: Timestamp,
    refresh: bool,
) -> EvaluationScope {
    let mut scope = EvaluationScope {
        namespaces: i32::try_from(evaluation.namespaces.len()).unwrap_or(i32::MAX),
        namespace_names: evaluation
            .namespaces
            .iter()
            .take(SCOPE_NAMES)
            .cloned()
            .collect(),
        excluded: evaluation
            .excluded
            .iter()
            .map(|e| ExcludedNamespace {
                name: e.namespace.clone(),
                reason: e.reason.into(),
            })
            .collect(),
        exempted_namespaces: evaluation
            .namespace_exemptions
            .iter()
            .flat_map(|e| {
                e.namespaces.iter().map(|ns| ExemptedNamespace {
                    name: ns.clone(),
                    controls: e.controls.clone(),
                    approved_by: e.approved_by.clone(),
                    expires: e.expires.clone(),
                })
            })
            .collect(),
        evaluated_at: None,
    };
    let previous = old.scope.as_ref();
    let same_scope = previous.is_some_and(|p| {
        EvaluationScope {
            evaluated_at: None,
            ..p.clone()
        } == scope
    });
    let same_results = controls.len() == old.controls.len()
        && controls
            .iter()
            .zip(&old.controls)
            .all(|(new, old)| new == old);
    scope.evaluated_at = match previous.and_then(|p| p.evaluated_at.clone()) {
        Some(at) if same_scope && same_results && !refresh => Some(at),
        _ => Some(Time(now)),
    };
    scope
}

/// The status after a failed reconcile: the evidence already proved stays, Ready turns False.
pub fn failed_status(
    old: &ComplianceStatus,
    reason: &str,
    message: &str,
    generation: Option<i64>,
    now: Timestamp,
) -> ComplianceStatus {
    not_ready(old.clone(), old, reason, message, generation, now)
}

/// Ready's reason for a spec the operator refuses.
pub const INVALID: &str = crate::conditions::Reason::Invalid.as_str();

/// The status of a resource whose spec is invalid: Ready=False naming the fields, Compliant
/// Unknown (nothing was evaluated against this spec), and no control evidence, which would
/// belong to an earlier spec.
pub fn invalid_status(
    old: &ComplianceStatus,
    message: &str,
    generation: Option<i64>,
    now: Timestamp,
) -> ComplianceStatus {
    let message = truncate(message.to_string(), 1024);
    let new = vec![
        NewCondition {
            type_: ConditionType::Ready.name(),
            status: ConditionStatus::False,
            reason: INVALID.into(),
            message: message.clone(),
        },
        NewCondition {
            type_: ConditionType::Compliant.name(),
            status: ConditionStatus::Unknown,
            reason: INVALID.into(),
            message: format!("not evaluated: the spec is invalid: {message}"),
        },
    ];
    ComplianceStatus {
        observed_generation: generation,
        conditions: conditions(&old.conditions, new, generation, now),
        summary: None,
        controls: Vec::new(),
        // Nothing was evaluated for this spec, so no scope is claimed.
        scope: None,
    }
}

/// `status` with Ready=False; the transition time is judged against `old`, so repeating the
/// same failure writes nothing new.
pub fn not_ready(
    mut status: ComplianceStatus,
    old: &ComplianceStatus,
    reason: &str,
    message: &str,
    generation: Option<i64>,
    now: Timestamp,
) -> ComplianceStatus {
    let ready = NewCondition {
        type_: ConditionType::Ready.name(),
        status: ConditionStatus::False,
        reason: reason.into(),
        message: truncate(message.to_string(), 1024),
    };
    let updated = conditions(&old.conditions, vec![ready], generation, now).remove(0);
    status
        .conditions
        .retain(|c| c.type_ != ConditionType::Ready.name());
    status.conditions.insert(0, updated);
    status
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cond(status: bool) -> NewCondition {
        NewCondition {
            type_: "Ready".into(),
            status: status.into(),
            reason: "R".into(),
            message: "m".into(),
        }
    }

    #[test]
    fn evaluated_at_moves_only_when_figures_or_scope_change() {
        use crate::catalog::ControlId;
        use crate::evaluate::{ControlOutcome, Excluded, TERMINATING};
        let at = |s: &str| -> Timestamp { s.parse().unwrap() };
        let evaluation = |checked: usize| {
            Evaluation::new(
                &crate::evaluate::ObjectRef::default(),
                vec!["shop".into()],
                vec![ControlOutcome::checked(
                    ControlId::TrustedImages,
                    checked,
                    vec![],
                )],
                &[],
                at("2030-01-01T00:00:00Z"),
            )
        };
        let day = Duration::from_secs(86_400);
        let first = compliance_status(
            &ComplianceStatus::default(),
            &evaluation(1),
            Some(1),
            at("2030-01-01T00:00:00Z"),
            day,
        );
        let scope = first.scope.clone().unwrap();
        assert_eq!(
            (scope.namespaces, scope.namespace_names.clone()),
            (1, vec!["shop".to_string()])
        );
        let resync = compliance_status(
            &first,
            &evaluation(1),
            Some(1),
            at("2030-01-01T01:00:00Z"),
            day,
        );
        assert_eq!(resync, first, "nothing new: nothing to write");
        let grown = compliance_status(
            &first,
            &evaluation(2),
            Some(1),
            at("2030-01-01T02:00:00Z"),
            day,
        );
        assert_eq!(
            grown.scope.unwrap().evaluated_at,
            Some(Time(at("2030-01-01T02:00:00Z")))
        );
        let excluded = evaluation(1).with_excluded(vec![Excluded {
            namespace: "shop-old".into(),
            reason: TERMINATING,
        }]);
        let later = compliance_status(&first, &excluded, Some(1), at("2030-01-01T03:00:00Z"), day);
        let scope = later.scope.unwrap();
        assert_eq!(scope.excluded[0].name, "shop-old");
        assert_eq!(scope.evaluated_at, Some(Time(at("2030-01-01T03:00:00Z"))));
    }

    #[test]
    fn an_unchanged_result_is_restamped_once_per_refresh_interval() {
        use crate::catalog::ControlId;
        use crate::evaluate::ControlOutcome;
        let at = |s: &str| -> Timestamp { s.parse().unwrap() };
        let hour = Duration::from_secs(3600);
        let evaluation = Evaluation::new(
            &crate::evaluate::ObjectRef::default(),
            vec!["shop".into()],
            vec![
                ControlOutcome::checked(ControlId::TrustedImages, 1, vec![]),
                ControlOutcome::checked(ControlId::ResourceGovernance, 1, vec![]),
            ],
            &[],
            at("2030-01-01T00:00:00Z"),
        );
        let stamps = |status: &ComplianceStatus| {
            let mut all: Vec<_> = status
                .controls
                .iter()
                .map(|c| c.last_evaluated.clone())
                .collect();
            all.push(status.scope.as_ref().unwrap().evaluated_at.clone());
            all
        };
        let first = compliance_status(
            &ComplianceStatus::default(),
            &evaluation,
            Some(1),
            at("2030-01-01T00:00:00Z"),
            hour,
        );
        // Within the interval: nothing to write.
        let within = compliance_status(
            &first,
            &evaluation,
            Some(1),
            at("2030-01-01T00:59:59Z"),
            hour,
        );
        assert_eq!(within, first);
        // Once the interval has passed: every control and the scope say "evaluated now".
        let due = compliance_status(
            &first,
            &evaluation,
            Some(1),
            at("2030-01-01T01:00:00Z"),
            hour,
        );
        let now = Some(Time(at("2030-01-01T01:00:00Z")));
        assert!(stamps(&due).iter().all(|s| *s == now), "{:?}", stamps(&due));
        assert_eq!(
            compliance_status(&due, &evaluation, Some(1), at("2030-01-01T01:30:00Z"), hour),
            due,
            "one refresh per interval"
        );
    }

    #[test]
    fn transition_time_moves_only_on_change() {
        let t0: Timestamp = "2026-01-01T00:00:00Z".parse().unwrap();
        let t1: Timestamp = "2026-01-02T00:00:00Z".parse().unwrap();
        let first = conditions(&[], vec![cond(true)], Some(1), t0);
        let same = conditions(&first, vec![cond(true)], Some(1), t1);
        assert_eq!(same[0].last_transition_time, Time(t0));
        let flipped = conditions(&same, vec![cond(false)], Some(1), t1);
        assert_eq!(flipped[0].last_transition_time, Time(t1));
    }

    #[test]
    fn a_check_not_run_is_unknown_and_not_compliant() {
        use crate::catalog::ControlId;
        use crate::evaluate::ControlOutcome;
        let outcomes = vec![
            ControlOutcome::checked(ControlId::EnvironmentSegregation, 1, vec![]),
            ControlOutcome::checked(ControlId::ProductionDataRestricted, 3, vec![])
                .with_check_not_run("Secrets cannot be listed: forbidden"),
        ];
        let now: Timestamp = "2026-01-01T00:00:00Z".parse().unwrap();
        let evaluation = Evaluation::new(
            &crate::evaluate::ObjectRef::default(),
            vec![],
            outcomes,
            &[],
            now,
        );
        let conditions = conditions(&[], evaluation_conditions(&evaluation), Some(1), now);
        let get = |t: &str| conditions.iter().find(|c| c.type_ == t).unwrap();
        let control = get("ProductionDataRestricted");
        assert_eq!(
            (control.status.as_str(), control.reason.as_str()),
            ("Unknown", "CheckNotRun")
        );
        assert!(
            control.message.starts_with(
                "production-data-restricted was not evaluated: Secrets cannot be listed: forbidden"
            ),
            "{}",
            control.message
        );
        let compliant = get("Compliant");
        assert_eq!(
            (compliant.status.as_str(), compliant.reason.as_str()),
            ("False", "ChecksNotRun")
        );
        assert!(compliant.message.contains("production-data-restricted"));
        assert_eq!(get("EnvironmentSegregation").status, "True");
    }
}
