//! `restore-tested`: the last restore test is recent, passed, within the RTO and restored
//! enough items.

use super::policy_ref;
use crate::api::backup_policy::RestoreTestResult;
use crate::catalog::ControlId;
use crate::evaluate::{ControlOutcome, Violation};
use crate::validate::{RestoreTest, ValidBackupPolicy};
use crate::vocabulary::time::{elapsed, finished_at, human, human_age};
use jiff::Timestamp;

pub(super) fn restore_tested(
    name: &str,
    spec: &ValidBackupPolicy,
    last: Option<&RestoreTestResult>,
    now: Timestamp,
) -> ControlOutcome {
    let id = ControlId::RestoreTested;
    let Some(test) = spec.judged_restore_test() else {
        return ControlOutcome::not_applicable(id);
    };
    let violations = restore_test_problems(spec, &test, last, now)
        .into_iter()
        .map(|message| Violation::new(policy_ref(name), message))
        .collect();
    ControlOutcome::checked(id, 1, violations)
}

/// Why the last restore test does not prove recoverability now; empty when it does.
pub fn restore_test_problems(
    spec: &ValidBackupPolicy,
    test: &RestoreTest,
    last: Option<&RestoreTestResult>,
    now: Timestamp,
) -> Vec<String> {
    let Some(last) = last else {
        return vec![match (spec.restore_test, spec.rto) {
            (None, Some(rto)) => format!(
                "rto {} declared, no restore test configured or observed",
                human(rto)
            ),
            _ => "no restore test has run yet".into(),
        }];
    };
    let mut problems = Vec::new();
    let every = test.every;
    let age = elapsed(finished_at(last), now);
    if age > every {
        problems.push(format!(
            "the last restore test `{}` finished {} ago; one is required every {}",
            last.restore,
            human_age(age),
            human(every)
        ));
    }
    match last.result.as_str() {
        "Passed" => problems.extend(passed_result_problems(spec, test, last)),
        "Running" => problems.push(format!("restore test `{}` has not finished", last.restore)),
        _ => problems.push(format!(
            "restore test `{}` of backup `{}` failed: {}",
            last.restore, last.backup, last.message
        )),
    }
    problems
}

/// A pass recorded under an earlier RTO or item minimum is re-judged against today's spec.
fn passed_result_problems(
    spec: &ValidBackupPolicy,
    test: &RestoreTest,
    last: &RestoreTestResult,
) -> Vec<String> {
    let mut problems = Vec::new();
    if let Some(rto) = spec.rto {
        match last.took() {
            Some(took) if took > rto => problems.push(format!(
                "restore test `{}` took {}, longer than the RTO {}",
                last.restore,
                human(took),
                human(rto)
            )),
            Some(_) => {}
            // A pass with no measured time cannot show the RTO was met.
            None => problems.push(format!(
                "restore test `{}` recorded no duration, so the RTO {} is not shown to be met",
                last.restore,
                human(rto)
            )),
        }
    }
    let items = last.items.unwrap_or(0);
    let wanted = test.min_restored_items;
    if items < wanted {
        problems.push(format!(
            "restore test `{}` restored {items} items, fewer than the required {wanted}",
            last.restore
        ));
    }
    problems
}
