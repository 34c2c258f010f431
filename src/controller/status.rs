//! Status shared by the three reconcilers: conditions with stable transition times, control
//! evidence, and the rule that a status differing only in timestamps is not written.

use crate::api::{ComplianceStatus, ControlResult, ControlState};
use crate::evaluate::Evaluation;
use jiff::Timestamp;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{Condition, Time};

/// A condition before its transition time is settled.
pub struct NewCondition {
    pub type_: String,
    pub status: bool,
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
            let status = if c.status { "True" } else { "False" }.to_string();
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
    let mut out = vec![
        NewCondition {
            type_: "Ready".into(),
            status: true,
            reason: "Reconciled".into(),
            message: "evaluated and applied".into(),
        },
        NewCondition {
            type_: "Compliant".into(),
            status: failing.is_empty(),
            reason: if failing.is_empty() {
                "AllControlsPass"
            } else {
                "ControlsFailing"
            }
            .into(),
            message: if failing.is_empty() {
                "every applicable control passes or is exempt".into()
            } else {
                format!("failing: {}", failing.join(", "))
            },
        },
    ];
    for control in &evaluation.controls {
        let (status, reason) = match control.state {
            ControlState::Pass => (true, "Pass"),
            ControlState::Exempt => (true, "Exempt"),
            ControlState::NotApplicable => (true, "NotApplicable"),
            ControlState::Fail => (false, "Fail"),
        };
        let message = match control.failed.first() {
            Some(v) => format!(
                "{} finding(s); first: {} {}: {}",
                control.failed.len(),
                v.object.kind,
                v.object.name,
                v.message
            ),
            None => format!(
                "{} checked, {} exempted",
                control.checked,
                control.waived.len()
            ),
        };
        out.push(NewCondition {
            type_: control.id.condition_type(),
            status,
            reason: reason.into(),
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
/// that a resync that finds nothing new writes nothing.
pub fn controls(old: &[ControlResult], new: Vec<ControlResult>) -> Vec<ControlResult> {
    new.into_iter()
        .map(|mut c| {
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

/// A full status for a successful evaluation.
pub fn compliance_status(
    old: &ComplianceStatus,
    evaluation: &Evaluation,
    generation: Option<i64>,
    now: Timestamp,
) -> ComplianceStatus {
    ComplianceStatus {
        observed_generation: generation,
        conditions: conditions(
            &old.conditions,
            evaluation_conditions(evaluation),
            generation,
            now,
        ),
        summary: Some(evaluation.summary()),
        controls: controls(&old.controls, evaluation.control_results(now)),
    }
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
        type_: "Ready".into(),
        status: false,
        reason: reason.into(),
        message: truncate(message.to_string(), 1024),
    };
    let updated = conditions(&old.conditions, vec![ready], generation, now).remove(0);
    status.conditions.retain(|c| c.type_ != "Ready");
    status.conditions.insert(0, updated);
    status
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cond(status: bool) -> NewCondition {
        NewCondition {
            type_: "Ready".into(),
            status,
            reason: "R".into(),
            message: "m".into(),
        }
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
}
