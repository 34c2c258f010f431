//! BackupPolicy: durations as [`Duration`]s, the schedule as a parsed [`CronSchedule`].

use super::{InvalidSpec, Problems};
use crate::api::{BackupPolicySpec, Exemption, Mode};
use crate::catalog::ControlKind;
use crate::cron::{self, CronSchedule};
use crate::vocabulary::selection::CheckedSelector;
use jiff::Timestamp;
use std::time::Duration;

/// "At least annually", the seeds' weakest wording, when `restoreTest.every` is absent.
pub const DEFAULT_RESTORE_TEST_EVERY: Duration = Duration::from_secs(8760 * 3600);
/// The shortest `restoreTest.every`: each test restores a whole namespace into a sandbox, and
/// the CRD's CEL rule holds the same bound (this catches what bypassed the schema).
pub const MIN_RESTORE_TEST_EVERY: Duration = Duration::from_secs(3600);
pub const DEFAULT_KEEP_SANDBOX_FOR: Duration = Duration::from_secs(3600);
pub const DEFAULT_MIN_RESTORED_ITEMS: i64 = 1;

/// A BackupPolicy spec whose values have been read and checked: it owns them (the plan and
/// the evaluation never read the raw spec), durations as [`Duration`]s, the schedule parsed,
/// the selector compiled, the defaults of the mode, storage location and Velero namespace
/// applied.
#[derive(Clone, Debug, PartialEq)]
pub struct ValidBackupPolicy {
    pub mode: Mode,
    pub namespace_selector: CheckedSelector,
    pub rpo: Duration,
    pub rto: Option<Duration>,
    /// `spec.schedule`; None derives one from the RPO.
    pub schedule: Option<CronSchedule>,
    pub retention: Option<RetentionBounds>,
    pub restore_test: Option<RestoreTest>,
    /// `spec.storageLocation`, `default` when absent.
    pub storage_location: String,
    pub require_encryption: bool,
    pub snapshot_volumes: Option<bool>,
    /// `spec.velero.namespace`, `velero` when absent.
    pub velero_namespace: String,
    pub exemptions: Vec<Exemption>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RetentionBounds {
    pub min: Duration,
    pub max: Duration,
}

/// `spec.restoreTest` with its defaults applied.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RestoreTest {
    pub every: Duration,
    pub keep_sandbox_for: Duration,
    pub min_restored_items: i64,
}

impl ValidBackupPolicy {
    /// The restore test `restore-tested` judges: `spec.restoreTest`, or, when only an RTO is
    /// declared, the defaults. An RTO is a promise to test: restores someone else ran can
    /// prove it (they are judged as Audit mode judges them), but none at all fails it.
    pub fn judged_restore_test(&self) -> Option<RestoreTest> {
        self.restore_test.or_else(|| {
            self.rto.map(|_| RestoreTest {
                every: DEFAULT_RESTORE_TEST_EVERY,
                keep_sandbox_for: DEFAULT_KEEP_SANDBOX_FOR,
                min_restored_items: DEFAULT_MIN_RESTORED_ITEMS,
            })
        })
    }
}

/// Checks `spec` as of `now` (a schedule must run within robfig/cron's five-year horizon).
pub fn validate(spec: &BackupPolicySpec, now: Timestamp) -> Result<ValidBackupPolicy, InvalidSpec> {
    let mut problems = Problems::default();
    problems.exemptions(&spec.exemptions, ControlKind::BackupPolicy);
    let namespace_selector = problems.selector(&spec.namespace_selector, "spec.namespaceSelector");
    let rpo = problems.positive_duration(&spec.rpo, "spec.rpo");
    let rto = match &spec.rto {
        Some(rto) => problems.positive_duration(rto, "spec.rto").map(Some),
        None => Some(None),
    };
    let schedule = match &spec.schedule {
        None => Some(None),
        Some(text) => match cron::parse(text) {
            Err(error) => {
                problems.push("spec.schedule", error.to_string());
                None
            }
            Ok(schedule) if schedule.next_after(now).is_none() => {
                problems.push(
                    "spec.schedule",
                    format!("`{text}` never runs: no date matches it in the next five years"),
                );
                None
            }
            Ok(schedule) => Some(Some(schedule)),
        },
    };
    let retention = match &spec.retention {
        None => Some(None),
        Some(r) => {
            let min = problems.duration(&r.min, "spec.retention.min");
            let max = problems.duration(&r.max, "spec.retention.max");
            match (min, max) {
                (Some(min), Some(max)) if min > max => {
                    problems.push(
                        "spec.retention.min",
                        "retention.min must not exceed retention.max",
                    );
                    None
                }
                (Some(min), Some(max)) => Some(Some(RetentionBounds { min, max })),
                _ => None,
            }
        }
    };
    let restore_test = match &spec.restore_test {
        None => Some(None),
        Some(t) => {
            let mut read = |text: &Option<String>, field: &str, default: Duration| match text {
                Some(text) => problems.duration(text, field),
                None => Some(default),
            };
            let every = read(
                &t.every,
                "spec.restoreTest.every",
                DEFAULT_RESTORE_TEST_EVERY,
            );
            let keep = read(
                &t.keep_sandbox_for,
                "spec.restoreTest.keepSandboxFor",
                DEFAULT_KEEP_SANDBOX_FOR,
            );
            let every = every.filter(|every| {
                let too_short = *every < MIN_RESTORE_TEST_EVERY;
                if too_short {
                    problems.push("spec.restoreTest.every", "must be at least 1h");
                }
                !too_short
            });
            let min_restored_items = t.min_restored_items.unwrap_or(DEFAULT_MIN_RESTORED_ITEMS);
            if min_restored_items < 0 {
                problems.push("spec.restoreTest.minRestoredItems", "must be >= 0");
            }
            match (every, keep) {
                (Some(every), Some(keep_sandbox_for)) => Some(Some(RestoreTest {
                    every,
                    keep_sandbox_for,
                    min_restored_items,
                })),
                _ => None,
            }
        }
    };
    problems.finish()?;
    // Every None above recorded a problem, so this always matches.
    let (
        Some(namespace_selector),
        Some(rpo),
        Some(rto),
        Some(schedule),
        Some(retention),
        Some(restore_test),
    ) = (
        namespace_selector,
        rpo,
        rto,
        schedule,
        retention,
        restore_test,
    )
    else {
        return Err(InvalidSpec(vec![super::invalid("spec", "cannot be read")]));
    };
    Ok(ValidBackupPolicy {
        mode: spec.mode(),
        namespace_selector,
        rpo,
        rto,
        schedule,
        retention,
        restore_test,
        storage_location: spec.storage_location().into(),
        require_encryption: spec.require_encryption,
        snapshot_volumes: spec.snapshot_volumes,
        velero_namespace: spec.velero_namespace().into(),
        exemptions: spec.exemptions.clone(),
    })
}

/// A policy naming a Velero namespace other than the one the operator watches (and holds its
/// Velero rights in) could be neither judged nor enforced there: its Schedules would be
/// refused and its evidence never seen. Invalid, so it is never reported as a Pass.
pub fn velero_namespace_watched(spec: &BackupPolicySpec, watched: &str) -> Result<(), InvalidSpec> {
    let named = spec.velero_namespace();
    if named == watched {
        return Ok(());
    }
    Err(InvalidSpec(vec![super::invalid(
        "spec.velero.namespace",
        format!(
            "`{named}` is not the Velero namespace this operator is installed for (`{watched}`, \
             Helm value velero.namespace, flag --velero-namespace); it reads and writes Velero's \
             objects there only"
        ),
    )]))
}
