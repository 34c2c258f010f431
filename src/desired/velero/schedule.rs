//! The policy's Velero Schedule, which takes the backups (`automated-backup`,
//! `backup-retention`).

use super::policy_labels;
use crate::desired::{DesiredObject, Owner};
use crate::validate::{ValidBackupPolicy, go_duration};
use crate::velero::{BackupSpec, Schedule, ScheduleSpec, TemplateMetadata};
use std::time::Duration;

/// A cron expression that fires at least once per `rpo`. Hour and minute steps are divisors
/// of 24 and 60, so runs stay evenly spaced across midnight and the top of the hour; a daily
/// run is the slowest produced, even for longer RPOs.
pub fn cron_for_rpo(rpo: Duration) -> String {
    let minutes = rpo.as_secs() / 60;
    let hours = minutes / 60;
    if hours >= 24 {
        "0 0 * * *".into()
    } else if hours >= 1 {
        format!("0 */{} * * *", largest_divisor_at_most(24, hours))
    } else {
        format!("*/{} * * * *", largest_divisor_at_most(60, minutes.max(1)))
    }
}

fn largest_divisor_at_most(whole: u64, limit: u64) -> u64 {
    (1..=limit.min(whole))
        .rev()
        .find(|d| whole.is_multiple_of(*d))
        .unwrap_or(1)
}

/// The policy's Velero Schedule over `namespaces`; None when there is nothing to back up.
pub fn schedule(
    owner: &Owner,
    spec: &ValidBackupPolicy,
    namespaces: &[String],
) -> Option<DesiredObject> {
    if namespaces.is_empty() {
        return None;
    }
    let cron = match &spec.schedule {
        Some(cron) => cron.as_str().to_string(),
        None => cron_for_rpo(spec.rpo),
    };
    let mut included = namespaces.to_vec();
    included.sort();
    included.dedup();
    let template = BackupSpec {
        included_namespaces: included,
        storage_location: Some(spec.storage_location.clone()),
        // Labels in the template are copied onto every Backup, which is how the controls
        // find the policy's backups.
        metadata: Some(TemplateMetadata {
            labels: policy_labels(&owner.name),
        }),
        // The minimum: kept long enough, and as far below the maximum as the policy allows.
        ttl: spec.retention.map(|retention| go_duration(retention.min)),
        snapshot_volumes: spec.snapshot_volumes,
        ..BackupSpec::default()
    };
    let spec_out = ScheduleSpec {
        schedule: cron,
        template,
        // Owner references would let Kubernetes delete every backup along with the Schedule
        // (e.g. when the policy is deleted), cutting retention short.
        use_owner_references_in_backup: Some(false),
        paused: None,
    };
    let schedule = DesiredObject::typed(
        owner,
        Some(spec.velero_namespace.as_str()),
        owner.prefix(),
        Schedule::new(&owner.prefix(), spec_out),
    );
    Some(schedule.with_labels(&policy_labels(&owner.name)))
}
