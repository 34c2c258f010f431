//! `baseline-operator audit`: the same evaluation the operator runs, offline, over manifest
//! files (plain YAML/JSON, multi-document streams, `helm template` output, `kubectl get -o
//! yaml` lists).
//!
//! How files become a [`Snapshot`]:
//! - Namespaced objects without `metadata.namespace` are placed in `--namespace` (`default`),
//!   as `kubectl apply` would.
//! - Namespaces referenced by objects but not given as `Namespace` manifests are implied, with
//!   no labels other than `kubernetes.io/metadata.name` (which the API server sets on every
//!   namespace). Label selectors can therefore only select namespaces given as manifests.
//! - Secrets are reduced at once to the operator's keyed digest (HMAC-SHA256 of type and data,
//!   `stringData` merged into `data` as the API server does, under a key that lives only in
//!   this run), so copied production Secrets in a GitOps repository are found; their values
//!   are never kept or printed. A malformed Secret is reported without its content.
//! - Velero is assumed installed (offline there is no API to ask); `--no-velero` evaluates a
//!   BackupPolicy as the operator does when Velero's API is not served. Velero objects
//!   (`velero.io/v1` Schedule, Backup, Restore, BackupStorageLocation) are read from the
//!   manifests.
//! - A BackupPolicy's last restore test comes from its `status.lastRestoreTest` when the file
//!   carries one (e.g. exported with `kubectl get bp -o yaml`).
//! - Kinds no control reads are skipped, counted and named in the summary. A kind a control
//!   reads with an apiVersion the audit does not know (e.g. `apiVersion: v1`, `kind:
//!   Deployment`, or a removed `extensions/v1beta1`) is an error, never quietly skipped.
//!
//! Exit codes: 0 when no control fails, 1 when one fails or could not be evaluated, 2 on bad
//! input.

use crate::api::backup_policy::RestoreTestResult;
use crate::api::{
    BackupPolicySpec, ControlState, EnvironmentIsolationSpec, Finding, SecurityBaselineSpec,
};
use crate::catalog::{ControlId, ControlKind, Framework};
use crate::evaluate::{self, Evaluation};
use crate::snapshot::{ObjectMetaOnly, Observed, SecretDigest, Snapshot};
use crate::validate::environment_isolation::ValidEnvironmentIsolation;
use crate::validate::security_baseline::ValidSecurityBaseline;
use crate::validate::{self, ValidBackupPolicy};
use jiff::Timestamp;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;

mod baselines;
mod files;
mod render;
mod snapshot;
mod yaml;

pub use baselines::{Baseline, parse_baselines};
pub use files::{collect_files, load, parse_documents};
pub use render::render_table;
#[cfg(test)]
use snapshot::NAMESPACE_NAME_LABEL;
use snapshot::group_of;
pub use snapshot::{Skipped, build_snapshot};

/// Arguments of `baseline-operator audit`.
#[derive(clap::Args, Debug, Clone)]
pub struct AuditArgs {
    /// Files or directories with SecurityBaseline, BackupPolicy and EnvironmentIsolation
    /// resources.
    #[arg(long, num_args = 1.., required = true)]
    pub baselines: Vec<PathBuf>,
    /// Files or directories with the Kubernetes manifests to audit (.yaml, .yml, .json,
    /// searched recursively).
    #[arg(long, num_args = 1..)]
    pub manifests: Vec<PathBuf>,
    #[arg(long, value_enum, default_value_t = OutputFormat::Table)]
    pub output: OutputFormat,
    /// Evaluate as of this instant (RFC 3339), e.g. to check exemption expiry; default now.
    #[arg(long)]
    pub now: Option<String>,
    /// Namespace for namespaced objects that do not name one.
    #[arg(long, default_value = "default")]
    pub namespace: String,
    /// Evaluate BackupPolicies as if Velero were not installed (default: assume installed).
    #[arg(long)]
    pub no_velero: bool,
}

#[derive(clap::ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum OutputFormat {
    Table,
    Json,
}

/// Bad input: every variant names the file (and document) at fault.
#[derive(Debug, thiserror::Error)]
pub enum AuditError {
    #[error("{path}: cannot read: {source}")]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{path}: document {index}: not valid YAML: {message}")]
    Yaml {
        path: PathBuf,
        index: usize,
        message: String,
    },
    #[error("{path}: document {index}: not a Kubernetes object: {message}")]
    NotAnObject {
        path: PathBuf,
        index: usize,
        message: String,
    },
    #[error("{0}")]
    Invalid(Box<InvalidObject>),
    #[error("--now: `{0}` is not an RFC 3339 instant")]
    Now(String),
    #[error(
        "{path}: document {index}: {kind} with apiVersion `{api_version}` cannot be audited: the controls read {kind} as `{known}` (convert the manifest, e.g. with `kubectl convert`)"
    )]
    UnknownApiVersion {
        path: PathBuf,
        index: usize,
        kind: String,
        api_version: String,
        known: &'static str,
    },
    #[error("no random key for Secret digests: {0}")]
    Random(String),
}

/// A document that deserializes badly or breaks a CRD rule, with the field at fault.
#[derive(Debug, thiserror::Error)]
#[error("{path}: document {index}: {kind} {name}: invalid field {field}: {message}")]
pub struct InvalidObject {
    pub path: PathBuf,
    pub index: usize,
    pub kind: String,
    pub name: String,
    pub field: String,
    pub message: String,
}

/// One document of an input file, already checked to carry apiVersion and kind.
#[derive(Clone, Debug, PartialEq)]
pub struct Document {
    pub path: PathBuf,
    /// Position in the file, from 0 (items of a `List` share their list's index).
    pub index: usize,
    pub api_version: String,
    pub kind: String,
    pub value: Value,
}

impl Document {
    fn name(&self) -> String {
        self.value["metadata"]["name"]
            .as_str()
            .unwrap_or_default()
            .to_string()
    }

    fn invalid(&self, field: impl Into<String>, message: impl Into<String>) -> AuditError {
        AuditError::Invalid(Box::new(InvalidObject {
            path: self.path.clone(),
            index: self.index,
            kind: self.kind.clone(),
            name: self.name(),
            field: field.into(),
            message: message.into(),
        }))
    }

    /// Deserializes into `T`, naming the field path on error.
    fn typed<T: DeserializeOwned>(&self) -> Result<T, AuditError> {
        serde_path_to_error::deserialize(self.value.clone()).map_err(|e| {
            let path = e.path().to_string();
            let field = if path == "." { "(object)".into() } else { path };
            self.invalid(field, e.into_inner().to_string())
        })
    }
}

/// The audit result, as `--output json` prints it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct AuditReport {
    pub resources: Vec<AuditedResource>,
    pub skipped: Skipped,
    /// Secrets read as keyed digests for copied-Secret detection (values never kept).
    #[serde(default)]
    pub secrets: usize,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct AuditedResource {
    pub kind: String,
    pub name: String,
    pub controls: Vec<AuditedControl>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AuditedControl {
    pub id: ControlId,
    pub title: String,
    pub state: ControlState,
    pub frameworks: Vec<String>,
    /// Objects checked, failed and exempted, as in status (see `ControlResult`).
    pub checked: i32,
    pub failed: i32,
    pub exempted: i32,
    /// Findings, as in status: `findings.len()` and `exemptions.len()`.
    pub failed_findings: i32,
    pub exempted_findings: i32,
    /// Every failing object (status keeps only the first ten, in the same order).
    pub findings: Vec<Finding>,
    /// Every waived object, with the exemption that waives it.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub exemptions: Vec<WaivedFinding>,
    /// What the figures alone do not say, as in status (see `ControlResult::note`): why the
    /// control does not apply, or what the audit cannot judge from manifests.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub note: String,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct WaivedFinding {
    #[serde(flatten)]
    pub finding: Finding,
    pub reason: String,
    pub approved_by: String,
    pub expires: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ticket: Option<String>,
}

impl AuditReport {
    pub fn failing(&self) -> bool {
        self.resources
            .iter()
            .flat_map(|r| &r.controls)
            .any(|c| matches!(c.state, ControlState::Fail | ControlState::NotEvaluated))
    }
}

/// Evaluates every baseline against the snapshot.
pub fn audit(
    baselines: &[Baseline],
    snapshot: &Snapshot,
    now: Timestamp,
    skipped: Skipped,
) -> AuditReport {
    let count = |n: usize| i32::try_from(n).unwrap_or(i32::MAX);
    let resources = baselines
        .iter()
        .map(|b| {
            let evaluation = b.evaluate(snapshot, now);
            AuditedResource {
                kind: b.kind().as_str().into(),
                name: b.name().into(),
                controls: evaluation
                    .controls
                    .iter()
                    .map(|c| AuditedControl {
                        id: c.id,
                        title: c.id.title().into(),
                        state: c.state,
                        frameworks: c.id.framework_refs(),
                        checked: c.checked,
                        failed: count(c.failed_objects()),
                        exempted: count(c.exempted_objects()),
                        failed_findings: count(c.failed.len()),
                        exempted_findings: count(c.waived.len()),
                        findings: c.failed.iter().map(|v| v.finding()).collect(),
                        exemptions: c
                            .waived
                            .iter()
                            .map(|w| WaivedFinding {
                                finding: w.violation.finding(),
                                reason: w.exemption.reason.clone(),
                                approved_by: w.exemption.approved_by.clone(),
                                expires: w.exemption.expires.clone(),
                                ticket: w.exemption.ticket.clone(),
                            })
                            .collect(),
                        note: evaluation
                            .notes
                            .get(&c.id)
                            .map(|notes| notes.join("; "))
                            .unwrap_or_default(),
                    })
                    .collect(),
            }
        })
        .collect();
    AuditReport {
        resources,
        skipped,
        secrets: snapshot.secrets.items().len(),
    }
}

/// Loads, validates and evaluates: everything `run` does except printing.
pub fn execute(args: &AuditArgs) -> Result<AuditReport, AuditError> {
    let now = match &args.now {
        Some(text) => text
            .parse::<Timestamp>()
            .map_err(|_| AuditError::Now(text.clone()))?,
        None => Timestamp::now(),
    };
    let (baselines, skipped_in_baselines) = parse_baselines(&load(&args.baselines)?, now)?;
    let (snapshot, mut skipped) =
        build_snapshot(&load(&args.manifests)?, &args.namespace, !args.no_velero)?;
    skipped.extend(skipped_in_baselines);
    Ok(audit(&baselines, &snapshot, now, skipped))
}

/// `baseline-operator audit`: 0 when no control fails, 1 when any fails, 2 on bad input.
pub fn run(args: AuditArgs) -> ExitCode {
    match execute(&args) {
        Ok(report) => {
            match args.output {
                OutputFormat::Table => print!("{}", render_table(&report)),
                OutputFormat::Json => match serde_json::to_string_pretty(&report) {
                    Ok(json) => println!("{json}"),
                    Err(e) => {
                        eprintln!("error: {e}");
                        return ExitCode::from(2);
                    }
                },
            }
            if report.failing() {
                ExitCode::from(1)
            } else {
                ExitCode::SUCCESS
            }
        }
        Err(error) => {
            eprintln!("error: {error}");
            ExitCode::from(2)
        }
    }
}

#[cfg(test)]
mod tests;
