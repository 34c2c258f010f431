//! `backup-retention`: Schedules' ttl and Backups' lifetimes stay between the policy's
//! minimum and maximum retention.

use crate::catalog::ControlId;
use crate::evaluate::{ControlOutcome, ObjectRef, Violation};
use crate::validate::ValidBackupPolicy;
use crate::velero::{Backup, Schedule};
use crate::vocabulary::time::{elapsed, human};
use crate::vocabulary::velero_view::{Reach, VeleroView, belongs_to_policy, qualified};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use std::collections::HashSet;
use std::time::Duration;

/// Velero stamps start and expiration a moment apart; this keeps `ttl == min` passing.
const RETENTION_SLACK: Duration = Duration::from_secs(60);

pub(super) fn backup_retention(
    name: &str,
    spec: &ValidBackupPolicy,
    velero: &VeleroView,
    namespaces: &[String],
) -> ControlOutcome {
    let id = ControlId::BackupRetention;
    let Some(retention) = spec.retention else {
        return ControlOutcome::not_applicable(id);
    };
    let bounds = Bounds {
        min: retention.min,
        max: retention.max,
    };
    // The policy's own objects, and any other holding a selected namespace: a copy kept too
    // long by another schedule breaks the disposal promise just the same.
    let selected: HashSet<&str> = namespaces.iter().map(String::as_str).collect();
    let relevant = |meta: &ObjectMeta, reach: &Reach| {
        belongs_to_policy(meta, name) || reach.includes_any(&selected)
    };
    let schedules: Vec<&Schedule> = velero
        .schedule_reaches()
        .filter(|(s, reach)| relevant(&s.metadata, reach))
        .map(|(s, _)| s)
        .collect();
    let backups: Vec<(&Backup, Duration)> = velero
        .backup_reaches()
        .filter(|(b, reach)| relevant(&b.metadata, reach))
        .filter_map(|(b, _)| Some((b, backup_lifetime(b)?)))
        .collect();
    let mut violations: Vec<Violation> = schedules
        .iter()
        .filter_map(|s| schedule_ttl_violation(s, bounds))
        .collect();
    violations.extend(
        backups
            .iter()
            .filter_map(|(b, lifetime)| backup_lifetime_violation(b, *lifetime, bounds)),
    );
    ControlOutcome::checked(id, schedules.len() + backups.len(), violations)
}

#[derive(Clone, Copy)]
struct Bounds {
    min: Duration,
    max: Duration,
}

impl Bounds {
    /// "less than the minimum retention 720h" / "more than the maximum …", or None if within.
    fn breach(self, kept: Duration) -> Option<String> {
        if kept + RETENTION_SLACK < self.min {
            Some(format!(
                "less than the minimum retention {}",
                human(self.min)
            ))
        } else if kept > self.max + RETENTION_SLACK {
            Some(format!(
                "more than the maximum retention {}",
                human(self.max)
            ))
        } else {
            None
        }
    }
}

fn schedule_ttl_violation(schedule: &Schedule, bounds: Bounds) -> Option<Violation> {
    let object = qualified(&schedule.metadata);
    let message = match schedule.spec.template.ttl.as_deref() {
        None => format!(
            "Schedule `{object}` sets no ttl, so retention is whatever the Velero server defaults to"
        ),
        Some(ttl) => match go_duration(ttl) {
            None => format!("Schedule `{object}` has a ttl `{ttl}` that cannot be read"),
            Some(kept) => {
                let breach = bounds.breach(kept)?;
                format!(
                    "Schedule `{object}` keeps backups for {}, {breach}",
                    human(kept)
                )
            }
        },
    };
    Some(Violation::new(
        ObjectRef::of("Schedule", &schedule.metadata),
        message,
    ))
}

/// A Go duration as Velero writes one (`720h0m0s`); None for what Go would not read or for
/// a negative one.
fn go_duration(text: &str) -> Option<Duration> {
    let parsed: kube::core::Duration = text.parse().ok()?;
    (!parsed.is_negative()).then(|| parsed.into())
}

/// How long Velero will keep a backup: expiration minus start. None until both are known.
fn backup_lifetime(backup: &Backup) -> Option<Duration> {
    let status = backup.status.as_ref()?;
    let start = status.start_timestamp.as_ref()?.0;
    let expiration = status.expiration.as_ref()?.0;
    Some(elapsed(start, expiration))
}

fn backup_lifetime_violation(
    backup: &Backup,
    lifetime: Duration,
    bounds: Bounds,
) -> Option<Violation> {
    let breach = bounds.breach(lifetime)?;
    let message = format!(
        "Backup `{}` expires {} after it started, {breach}",
        qualified(&backup.metadata),
        human(lifetime)
    );
    Some(Violation::new(
        ObjectRef::of("Backup", &backup.metadata),
        message,
    ))
}
