//! The custom resources among the input, parsed and validated as the operator validates them.

use super::*;

/// One custom resource to evaluate.
#[derive(Clone, Debug, PartialEq)]
pub enum Baseline {
    SecurityBaseline {
        name: String,
        spec: Box<ValidSecurityBaseline>,
    },
    BackupPolicy {
        name: String,
        spec: Box<ValidBackupPolicy>,
        last_restore_test: Option<Box<RestoreTestResult>>,
    },
    EnvironmentIsolation {
        name: String,
        spec: Box<ValidEnvironmentIsolation>,
    },
}

impl Baseline {
    pub fn kind(&self) -> ControlKind {
        match self {
            Self::SecurityBaseline { .. } => ControlKind::SecurityBaseline,
            Self::BackupPolicy { .. } => ControlKind::BackupPolicy,
            Self::EnvironmentIsolation { .. } => ControlKind::EnvironmentIsolation,
        }
    }

    pub fn name(&self) -> &str {
        match self {
            Self::SecurityBaseline { name, .. }
            | Self::BackupPolicy { name, .. }
            | Self::EnvironmentIsolation { name, .. } => name,
        }
    }

    /// The same evaluation the operator runs.
    pub fn evaluate(&self, snapshot: &Snapshot, now: Timestamp) -> Evaluation {
        match self {
            Self::SecurityBaseline { name, spec } => {
                evaluate::security_baseline::evaluate(name, spec, snapshot, now)
            }
            Self::BackupPolicy {
                name,
                spec,
                last_restore_test,
            } => {
                evaluate::backup::evaluate(name, spec, last_restore_test.as_deref(), snapshot, now)
            }
            Self::EnvironmentIsolation { name, spec } => {
                evaluate::isolation::evaluate(name, spec, snapshot, now)
            }
        }
    }
}

const GROUP_VERSION: &str = "security.baseline.dev/v1alpha1";

/// The custom resources among `docs`, deserialized and validated; other objects are counted.
/// `now` is when a BackupPolicy's schedule must next run, as the operator judges it.
pub fn parse_baselines(
    docs: &[Document],
    now: Timestamp,
) -> Result<(Vec<Baseline>, Skipped), AuditError> {
    let mut out = Vec::new();
    let mut skipped = Skipped::default();
    for doc in docs {
        let ours = ["SecurityBaseline", "BackupPolicy", "EnvironmentIsolation"];
        if doc.api_version != GROUP_VERSION {
            if group_of(&doc.api_version) == group_of(GROUP_VERSION)
                && ours.contains(&doc.kind.as_str())
            {
                return Err(AuditError::UnknownApiVersion {
                    path: doc.path.clone(),
                    index: doc.index,
                    kind: doc.kind.clone(),
                    api_version: doc.api_version.clone(),
                    known: GROUP_VERSION,
                });
            }
            skipped.add(doc);
            continue;
        }
        let name = doc.name();
        if name.is_empty() {
            return Err(doc.invalid("metadata.name", "missing"));
        }
        let spec = || -> Result<Document, AuditError> {
            let mut spec = doc.clone();
            spec.value = doc
                .value
                .get("spec")
                .cloned()
                .ok_or_else(|| doc.invalid("spec", "missing"))?;
            Ok(spec)
        };
        let prefixed = |e: AuditError| match e {
            AuditError::Invalid(mut invalid) => {
                invalid.field = if invalid.field == "(object)" {
                    "spec".into()
                } else {
                    format!("spec.{}", invalid.field)
                };
                AuditError::Invalid(invalid)
            }
            other => other,
        };
        // The operator's own validation: the CRD's rules and what only the operator judges.
        let first_problem = |e: validate::InvalidSpec| {
            let first = e.0.into_iter().next();
            let (field, message) =
                first.map_or(("spec".into(), "invalid".into()), |i| (i.field, i.message));
            doc.invalid(field, message)
        };
        let baseline = match doc.kind.as_str() {
            "SecurityBaseline" => {
                let spec: SecurityBaselineSpec = spec()?.typed().map_err(prefixed)?;
                let spec = validate::security_baseline::validate(&spec).map_err(first_problem)?;
                Baseline::SecurityBaseline {
                    name,
                    spec: Box::new(spec),
                }
            }
            "BackupPolicy" => {
                let spec: BackupPolicySpec = spec()?.typed().map_err(prefixed)?;
                let spec = validate::backup_policy::validate(&spec, now).map_err(first_problem)?;
                let last_restore_test = match doc.value["status"].get("lastRestoreTest") {
                    Some(v) => Some(Box::new(
                        serde_path_to_error::deserialize(v.clone()).map_err(|e| {
                            doc.invalid(
                                format!("status.lastRestoreTest.{}", e.path()),
                                e.into_inner().to_string(),
                            )
                        })?,
                    )),
                    None => None,
                };
                Baseline::BackupPolicy {
                    name,
                    spec: Box::new(spec),
                    last_restore_test,
                }
            }
            "EnvironmentIsolation" => {
                let spec: EnvironmentIsolationSpec = spec()?.typed().map_err(prefixed)?;
                let spec =
                    validate::environment_isolation::validate(&spec).map_err(first_problem)?;
                Baseline::EnvironmentIsolation {
                    name,
                    spec: Box::new(spec),
                }
            }
            _ => {
                skipped.add(doc);
                continue;
            }
        };
        out.push(baseline);
    }
    Ok((out, skipped))
}
