//! How our states become an OSCAL finding's `target.status`: `satisfied` only when every
//! evaluation in force passed (or was waived by an exemption in force); anything that proves
//! nothing (a gap in the history, a check that could not run, a control that does not apply,
//! nothing evaluated at all) is `not-satisfied` with that reason, never `satisfied`.

use crate::api::ControlState;
use crate::history::PeriodState;

/// A finding's status: `satisfied` or not, and why (the `reason` token).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Verdict {
    pub satisfied: bool,
    /// `pass`, `exempt` (satisfied under an approved exemption: a risk), `fail`,
    /// `not-evaluated`, `gap`, `not-applicable` or `absent`.
    pub reason: &'static str,
}

impl Verdict {
    const fn satisfied(reason: &'static str) -> Self {
        Verdict {
            satisfied: true,
            reason,
        }
    }

    const fn not_satisfied(reason: &'static str) -> Self {
        Verdict {
            satisfied: false,
            reason,
        }
    }

    /// The OSCAL `target.status.state`.
    pub fn state(self) -> &'static str {
        if self.satisfied {
            "satisfied"
        } else {
            "not-satisfied"
        }
    }
}

/// The verdict on one current state (a status result). None: the resource has no result for
/// the control (not reconciled yet): nothing is proven.
pub fn control_state_verdict(state: Option<ControlState>) -> Verdict {
    match state {
        Some(ControlState::Pass) => Verdict::satisfied("pass"),
        Some(ControlState::Exempt) => Verdict::satisfied("exempt"),
        Some(ControlState::Fail) => Verdict::not_satisfied("fail"),
        Some(ControlState::NotEvaluated) => Verdict::not_satisfied("not-evaluated"),
        Some(ControlState::NotApplicable) => Verdict::not_satisfied("not-applicable"),
        None => Verdict::not_satisfied("not-evaluated"),
    }
}

/// The verdict on a period, from the states its timeline went through. The worst state
/// decides: a Fail anywhere, then a check that could not run, then a gap (nothing evaluated
/// for a while), then a stretch where the control did not apply. `Absent` (the control's
/// resource did not exist yet, or was deleted) neither helps nor hurts, but a period with
/// nothing else proves nothing.
pub fn period_verdict(states: impl IntoIterator<Item = PeriodState>) -> Verdict {
    let mut seen = [false; PeriodState::ALL.len()];
    for state in states {
        seen[PeriodState::ALL
            .iter()
            .position(|s| *s == state)
            .expect("a state")] = true;
    }
    let had = |state: PeriodState| seen[PeriodState::ALL.iter().position(|s| *s == state).unwrap()];
    if had(PeriodState::Fail) {
        Verdict::not_satisfied("fail")
    } else if had(PeriodState::NotEvaluated) {
        Verdict::not_satisfied("not-evaluated")
    } else if had(PeriodState::Gap) {
        Verdict::not_satisfied("gap")
    } else if had(PeriodState::NotApplicable) {
        Verdict::not_satisfied("not-applicable")
    } else if had(PeriodState::Exempt) {
        Verdict::satisfied("exempt")
    } else if had(PeriodState::Pass) {
        Verdict::satisfied("pass")
    } else {
        Verdict::not_satisfied("absent")
    }
}
