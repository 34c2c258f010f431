//! `BackupPolicy`: Velero schedules derived from an RPO, retention, backup encryption and
//! verified restore tests.

use super::common::{ComplianceStatus, Exemption, Mode};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{LabelSelector, Time};
use kube::{CustomResource, KubeSchema};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// Go-style durations limited to hours, minutes and seconds (`24h`, `90m`, `1h30m`), so that
/// CEL's `duration()` and the operator read them the same way.
pub const DURATION_PATTERN: &str = r"^([0-9]{1,6}h)?([0-9]{1,6}m)?([0-9]{1,6}s)?$";

#[derive(CustomResource, Clone, Debug, PartialEq, Serialize, Deserialize, KubeSchema)]
#[kube(
    group = "security.baseline.dev",
    version = "v1alpha1",
    kind = "BackupPolicy",
    shortname = "bp",
    category = "baseline",
    status = "BackupPolicyStatus",
    doc = "Backups (through Velero) within an RPO, retained, encrypted and restore-tested",
    // The name is a label value on every Velero object the policy owns, and label values
    // stop at 63 characters: a longer name would make every Schedule write fail.
    validation = kube::core::Rule::new("self.metadata.name.size() <= 63").message("metadata.name: a BackupPolicy name may have at most 63 characters (it labels the Velero objects the policy owns)")
)]
#[serde(rename_all = "camelCase")]
#[x_kube(validation = kube::core::Rule::new("duration(self.rpo) > duration('0s')").message("spec.rpo must be greater than zero").field_path(".rpo"))]
#[x_kube(validation = kube::core::Rule::new("!has(self.rto) || duration(self.rto) > duration('0s')").message("spec.rto must be greater than zero").field_path(".rto"))]
pub struct BackupPolicySpec {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mode: Option<Mode>,
    /// Namespaces to back up.
    pub namespace_selector: LabelSelector,
    /// Recovery point objective: the most data, in time, that may be lost (`24h`).
    #[schemars(
        regex(pattern = r"^([0-9]{1,6}h)?([0-9]{1,6}m)?([0-9]{1,6}s)?$"),
        length(min = 2, max = 32)
    )]
    pub rpo: String,
    /// Recovery time objective: the longest a restore may take (`6h`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(
        regex(pattern = r"^([0-9]{1,6}h)?([0-9]{1,6}m)?([0-9]{1,6}s)?$"),
        length(min = 2, max = 32)
    )]
    pub rto: Option<String>,
    /// A five-field cron expression; derived from the RPO when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(regex(pattern = r"^(\S+\s+){4}\S+$"), length(max = 128))]
    pub schedule: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub retention: Option<Retention>,
    /// The Velero BackupStorageLocation (`default` when absent).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 253))]
    pub storage_location: Option<String>,
    /// The storage location must encrypt backups.
    #[serde(default)]
    pub require_encryption: bool,
    /// Snapshot persistent volumes as part of each backup.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub snapshot_volumes: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub restore_test: Option<RestoreTestSpec>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub velero: Option<VeleroSpec>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(length(max = 100))]
    pub exemptions: Vec<Exemption>,
}

impl BackupPolicySpec {
    pub fn mode(&self) -> Mode {
        self.mode.unwrap_or_default()
    }
    pub fn storage_location(&self) -> &str {
        self.storage_location.as_deref().unwrap_or("default")
    }
    pub fn velero_namespace(&self) -> &str {
        self.velero
            .as_ref()
            .and_then(|v| v.namespace.as_deref())
            .unwrap_or("velero")
    }
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, KubeSchema)]
#[serde(rename_all = "camelCase")]
#[x_kube(validation = kube::core::Rule::new("duration(self.min) <= duration(self.max)").message("retention.min must not exceed retention.max").field_path(".min"))]
pub struct Retention {
    /// Backups must be kept at least this long (`720h`).
    #[schemars(
        regex(pattern = r"^([0-9]{1,6}h)?([0-9]{1,6}m)?([0-9]{1,6}s)?$"),
        length(min = 2, max = 32)
    )]
    pub min: String,
    /// Backups must be deleted no later than this (`2160h`).
    #[schemars(
        regex(pattern = r"^([0-9]{1,6}h)?([0-9]{1,6}m)?([0-9]{1,6}s)?$"),
        length(min = 2, max = 32)
    )]
    pub max: String,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, KubeSchema)]
#[serde(rename_all = "camelCase")]
// Each test restores a whole namespace into a new sandbox; more often than hourly would keep
// Velero and the cluster busy restoring for nothing. Same bound as validate's
// MIN_RESTORE_TEST_EVERY.
#[x_kube(validation = kube::core::Rule::new("!has(self.every) || duration(self.every) >= duration('1h')").message("restoreTest.every must be at least 1h").field_path(".every"))]
pub struct RestoreTestSpec {
    /// How often a restore must be verified (`8760h` when absent: at least annually; at
    /// least `1h`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(
        regex(pattern = r"^([0-9]{1,6}h)?([0-9]{1,6}m)?([0-9]{1,6}s)?$"),
        length(min = 2, max = 32)
    )]
    pub every: Option<String>,
    /// How long a verified sandbox is kept for inspection (`1h` when absent).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(
        regex(pattern = r"^([0-9]{1,6}h)?([0-9]{1,6}m)?([0-9]{1,6}s)?$"),
        length(min = 2, max = 32)
    )]
    pub keep_sandbox_for: Option<String>,
    /// Fewer restored items than this fails the test.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 0))]
    pub min_restored_items: Option<i64>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct VeleroSpec {
    /// Namespace Velero runs in (`velero` when absent).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 63))]
    pub namespace: Option<String>,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct BackupPolicyStatus {
    #[serde(flatten)]
    pub compliance: ComplianceStatus,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_restore_test: Option<RestoreTestResult>,
}

/// Which clock measured a restore test.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub enum MeasuredBy {
    /// The operator's own clock, from creating the Restore to verifying what it restored,
    /// with sub-second precision: the restores the operator runs itself.
    Operator,
    /// Velero's `status.startTimestamp` to `status.completionTimestamp`, which Velero writes
    /// to the second: restores someone else ran. A restore within one second reads `<1s`.
    Velero,
}

impl RestoreTestResult {
    /// The measured duration: `durationMilliseconds`, or an older result's whole seconds.
    pub fn took(&self) -> Option<std::time::Duration> {
        let millis = self
            .duration_milliseconds
            .or_else(|| self.duration_seconds.map(|s| s.saturating_mul(1000)))?;
        Some(std::time::Duration::from_millis(
            millis.max(0).unsigned_abs(),
        ))
    }
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct RestoreTestResult {
    /// The Velero Backup that was restored.
    pub backup: String,
    /// The Velero Restore that did it.
    pub restore: String,
    /// When the test started: when the operator created the Restore (`measuredBy:
    /// Operator`), or Velero's start of it (`Velero`).
    pub started: Time,
    /// When the test ended: when the operator verified the restore (`Operator`), or Velero's
    /// completion of it (`Velero`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub completed: Option<Time>,
    /// How long the restore took, from `started` to `completed`: the measured RTO. Exact to
    /// the millisecond on the operator's clock (`started` and `completed` are written to the
    /// second, as every Kubernetes time is); whole seconds on Velero's.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub duration_milliseconds: Option<i64>,
    /// The same for a reader: `412ms`, `3.207s`, `6m3s`, or `<1s` when Velero's second-precision
    /// timestamps show no difference. Never a rounded `0s`.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub duration: String,
    /// Which clock measured the duration, and so how precisely.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub measured_by: Option<MeasuredBy>,
    /// Whole seconds, as operators before `durationMilliseconds` recorded them; read only
    /// when `durationMilliseconds` is absent, never written.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub duration_seconds: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub items: Option<i64>,
    /// `Running`, `Passed` or `Failed`.
    pub result: String,
    /// Why it failed, for machines: `RTOExceeded`, `RestoreFailed`, `NotRunByVelero`,
    /// `ContentMismatch` or `TooFewItems` (the first that applies).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// The namespace whose backup was restored (tests rotate through the selected ones).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub namespace: Option<String>,
    /// Backed-up objects of that namespace found again in the sandbox, out of those the
    /// operator could look for (`verifiedOf`); the rest are judged by Velero's own record.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub verified: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub verified_of: Option<i64>,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub message: String,
}
