//! Owned Velero objects for a BackupPolicy: the Schedule that takes the backups
//! (`automated-backup`, `backup-retention`), and the quarantined sandbox and Restore of a
//! restore test (`restore-tested`), planned one step at a time from the Snapshot.

mod restore;
mod restore_plan;
mod sandbox;
mod schedule;
mod verify;

pub use restore::{
    MODIFIERS_KEY, RESTORED_KINDS, RestoredKind, created_at, is_restored, modifier_rules,
    modifiers_name, resource_modifiers, restore_name, restore_object, restored_resources,
};
pub use restore_plan::{
    CREATED_AT_ANNOTATION, Clock, Measured, RETRY_FAILED_TEST_AFTER, RETRY_LATER, RTO_EXCEEDED,
    RestoreTestStep, VeleroEvidence, judge_existing_restores, next_due, plan_restore_test,
    restore_result,
};
pub use sandbox::{SANDBOX_DENY_ALL, sandbox_name, sandbox_objects};
pub use schedule::{cron_for_rpo, schedule};
pub use verify::{Verification, verify_sandbox};

#[cfg(test)]
use restore_plan::leftover_sandbox;

use crate::vocabulary::labels::POLICY_LABEL;
use std::collections::BTreeMap;

pub(super) fn policy_labels(policy: &str) -> BTreeMap<String, String> {
    BTreeMap::from([(POLICY_LABEL.to_string(), policy.to_string())])
}

#[cfg(test)]
mod tests;
