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
use crate::validate::{self, ValidBackupPolicy};
use jiff::Timestamp;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;

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

/// Files under `paths`: files as given, directories recursively (`.yaml`, `.yml`, `.json`),
/// sorted so that output is deterministic.
pub fn collect_files(paths: &[PathBuf]) -> Result<Vec<PathBuf>, AuditError> {
    let mut out = Vec::new();
    for path in paths {
        let meta = std::fs::metadata(path).map_err(|source| AuditError::Read {
            path: path.clone(),
            source,
        })?;
        if meta.is_dir() {
            walk(path, &mut out)?;
        } else {
            out.push(path.clone());
        }
    }
    Ok(out)
}

fn walk(dir: &Path, out: &mut Vec<PathBuf>) -> Result<(), AuditError> {
    let read = |source| AuditError::Read {
        path: dir.to_path_buf(),
        source,
    };
    let mut entries: Vec<PathBuf> = std::fs::read_dir(dir)
        .map_err(read)?
        .map(|e| e.map(|e| e.path()))
        .collect::<Result<_, _>>()
        .map_err(read)?;
    entries.sort();
    for path in entries {
        if path.is_dir() {
            walk(&path, out)?;
        } else if path
            .extension()
            .and_then(|e| e.to_str())
            .is_some_and(|e| matches!(e, "yaml" | "yml" | "json"))
        {
            out.push(path);
        }
    }
    Ok(())
}

/// Reads every document of every file under `paths`.
pub fn load(paths: &[PathBuf]) -> Result<Vec<Document>, AuditError> {
    let mut docs = Vec::new();
    for path in collect_files(paths)? {
        let text = std::fs::read_to_string(&path).map_err(|source| AuditError::Read {
            path: path.clone(),
            source,
        })?;
        docs.extend(parse_documents(&path, &text)?);
    }
    Ok(docs)
}

/// Splits a YAML (or JSON) stream into Kubernetes objects; empty documents (only comments,
/// as Helm leaves them) are skipped, `List`s are expanded.
pub fn parse_documents(path: &Path, text: &str) -> Result<Vec<Document>, AuditError> {
    let mut out = Vec::new();
    for (index, de) in serde_norway::Deserializer::from_str(text).enumerate() {
        let yaml = serde_norway::Value::deserialize(de).map_err(|e| AuditError::Yaml {
            path: path.to_path_buf(),
            index,
            message: e.to_string(),
        })?;
        if yaml.is_null() {
            continue;
        }
        let not_object = |message: String| AuditError::NotAnObject {
            path: path.to_path_buf(),
            index,
            message,
        };
        let value: Value = serde_json::to_value(&yaml).map_err(|e| not_object(e.to_string()))?;
        let object = |value: Value| -> Result<Document, AuditError> {
            let Some(map) = value.as_object() else {
                return Err(not_object(
                    "expected a mapping with apiVersion and kind".into(),
                ));
            };
            let field = |name: &str| {
                map.get(name)
                    .and_then(Value::as_str)
                    .filter(|s| !s.is_empty())
                    .map(str::to_string)
                    .ok_or_else(|| not_object(format!("missing or non-string `{name}`")))
            };
            let (api_version, kind) = (field("apiVersion")?, field("kind")?);
            if !map.get("metadata").is_none_or(Value::is_object) {
                return Err(not_object("`metadata` is not a mapping".into()));
            }
            Ok(Document {
                path: path.to_path_buf(),
                index,
                api_version,
                kind,
                value,
            })
        };
        let doc = object(value)?;
        if doc.kind.ends_with("List") && doc.value.get("items").is_some() {
            let Some(items) = doc.value["items"].as_array() else {
                return Err(not_object("`items` of a List is not a sequence".into()));
            };
            for item in items {
                out.push(object(item.clone())?);
            }
        } else {
            out.push(doc);
        }
    }
    Ok(out)
}

/// What the audit left out, and why.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Skipped {
    /// Objects of kinds no control reads.
    pub unknown_kinds: usize,
    /// How many of each skipped kind, keyed `Kind (apiVersion)`.
    #[serde(default)]
    pub kinds: BTreeMap<String, usize>,
}

impl Skipped {
    fn add(&mut self, doc: &Document) {
        self.unknown_kinds += 1;
        *self
            .kinds
            .entry(format!("{} ({})", doc.kind, doc.api_version))
            .or_default() += 1;
    }

    fn extend(&mut self, other: Skipped) {
        self.unknown_kinds += other.unknown_kinds;
        for (kind, n) in other.kinds {
            *self.kinds.entry(kind).or_default() += n;
        }
    }
}

/// The kinds the controls read, with the one apiVersion the audit understands for each.
const JUDGED: &[(&str, &str)] = &[
    ("Namespace", "v1"),
    ("NetworkPolicy", "networking.k8s.io/v1"),
    ("Service", "v1"),
    ("Ingress", "networking.k8s.io/v1"),
    ("PersistentVolumeClaim", "v1"),
    ("StorageClass", "storage.k8s.io/v1"),
    ("Pod", "v1"),
    ("Deployment", "apps/v1"),
    ("StatefulSet", "apps/v1"),
    ("DaemonSet", "apps/v1"),
    ("Job", "batch/v1"),
    ("CronJob", "batch/v1"),
    ("ServiceAccount", "v1"),
    ("RoleBinding", "rbac.authorization.k8s.io/v1"),
    ("ClusterRoleBinding", "rbac.authorization.k8s.io/v1"),
    ("Role", "rbac.authorization.k8s.io/v1"),
    ("ClusterRole", "rbac.authorization.k8s.io/v1"),
    ("PodDisruptionBudget", "policy/v1"),
    ("ConfigMap", "v1"),
    ("Secret", "v1"),
    ("Schedule", "velero.io/v1"),
    ("Backup", "velero.io/v1"),
    ("Restore", "velero.io/v1"),
    ("BackupStorageLocation", "velero.io/v1"),
];

/// API groups of Kubernetes itself (current and removed) and of Velero: a judged kind in one of
/// these at another apiVersion is the kind the controls mean, in a form the audit cannot read.
/// (A `Backup` of another group, e.g. a database operator's, is another kind and is skipped.)
const KNOWN_GROUPS: &[&str] = &[
    "",
    "apps",
    "extensions",
    "batch",
    "policy",
    "networking.k8s.io",
    "rbac.authorization.k8s.io",
    "storage.k8s.io",
    "velero.io",
];

fn group_of(api_version: &str) -> &str {
    api_version.rsplit_once('/').map_or("", |(group, _)| group)
}

/// The apiVersion the audit reads `doc.kind` at, when `doc` is that kind at another one.
fn unreadable_version(doc: &Document) -> Option<&'static str> {
    let (_, known) = JUDGED.iter().find(|(kind, _)| *kind == doc.kind)?;
    let group = group_of(&doc.api_version);
    (*known != doc.api_version && (group == group_of(known) || KNOWN_GROUPS.contains(&group)))
        .then_some(*known)
}

const CLUSTER_SCOPED: &[&str] = &[
    "Namespace",
    "StorageClass",
    "ClusterRole",
    "ClusterRoleBinding",
];

const NAMESPACE_NAME_LABEL: &str = "kubernetes.io/metadata.name";

/// Builds the Snapshot the controls read from manifest documents.
pub fn build_snapshot(
    docs: &[Document],
    default_namespace: &str,
    velero_installed: bool,
) -> Result<(Snapshot, Skipped), AuditError> {
    fn push<T: DeserializeOwned>(list: &mut Vec<Arc<T>>, doc: &Document) -> Result<(), AuditError> {
        list.push(Arc::new(doc.typed()?));
        Ok(())
    }
    let mut s = Snapshot::default();
    let mut skipped = Skipped::default();
    s.velero.installed = velero_installed;
    let mut secrets = Vec::new();
    // A key of this run only, as the operator's is of its process: digests are comparable
    // within one audit and meaningless outside it.
    let mut key = [0u8; 32];
    getrandom::fill(&mut key).map_err(|e| AuditError::Random(e.to_string()))?;
    for doc in docs {
        let mut doc = doc.clone();
        if !CLUSTER_SCOPED.contains(&doc.kind.as_str()) {
            let meta = doc
                .value
                .as_object_mut()
                .expect("checked by parse_documents")
                .entry("metadata")
                .or_insert_with(|| Value::Object(Default::default()));
            if let Some(meta) = meta.as_object_mut()
                && !meta.get("namespace").is_some_and(|ns| ns.is_string())
            {
                meta.insert("namespace".into(), Value::String(default_namespace.into()));
            }
        }
        let d = &doc;
        match (d.api_version.as_str(), d.kind.as_str()) {
            ("v1", "Namespace") => push(&mut s.namespaces, d)?,
            ("networking.k8s.io/v1", "NetworkPolicy") => push(&mut s.network_policies, d)?,
            ("v1", "Service") => push(&mut s.services, d)?,
            ("networking.k8s.io/v1", "Ingress") => push(&mut s.ingresses, d)?,
            ("v1", "PersistentVolumeClaim") => push(&mut s.persistent_volume_claims, d)?,
            ("storage.k8s.io/v1", "StorageClass") => push(&mut s.storage_classes, d)?,
            ("v1", "Pod") => push(&mut s.pods, d)?,
            ("apps/v1", "Deployment") => push(&mut s.deployments, d)?,
            ("apps/v1", "StatefulSet") => push(&mut s.stateful_sets, d)?,
            ("apps/v1", "DaemonSet") => push(&mut s.daemon_sets, d)?,
            ("batch/v1", "Job") => push(&mut s.jobs, d)?,
            ("batch/v1", "CronJob") => push(&mut s.cron_jobs, d)?,
            ("v1", "ServiceAccount") => push(&mut s.service_accounts, d)?,
            ("rbac.authorization.k8s.io/v1", "RoleBinding") => push(&mut s.role_bindings, d)?,
            ("rbac.authorization.k8s.io/v1", "ClusterRoleBinding") => {
                push(&mut s.cluster_role_bindings, d)?
            }
            ("rbac.authorization.k8s.io/v1", "Role") => push(&mut s.roles, d)?,
            ("rbac.authorization.k8s.io/v1", "ClusterRole") => push(&mut s.cluster_roles, d)?,
            ("policy/v1", "PodDisruptionBudget") => push(&mut s.pod_disruption_budgets, d)?,
            ("v1", "ConfigMap") => {
                let meta: k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta =
                    serde_path_to_error::deserialize(d.value["metadata"].clone()).map_err(|e| {
                        d.invalid(format!("metadata.{}", e.path()), e.into_inner().to_string())
                    })?;
                s.config_maps.push(Arc::new(ObjectMetaOnly {
                    kind: "ConfigMap",
                    namespace: meta.namespace.unwrap_or_default(),
                    name: meta.name.unwrap_or_default(),
                    labels: meta.labels.unwrap_or_default(),
                }));
            }
            ("v1", "Secret") => secrets.push(Arc::new(secret_digest(d, &key)?)),
            ("velero.io/v1", "Schedule") => push(&mut s.velero.schedules, d)?,
            ("velero.io/v1", "Backup") => push(&mut s.velero.backups, d)?,
            ("velero.io/v1", "Restore") => push(&mut s.velero.restores, d)?,
            ("velero.io/v1", "BackupStorageLocation") => push(&mut s.velero.storage_locations, d)?,
            _ => match unreadable_version(d) {
                Some(known) => {
                    return Err(AuditError::UnknownApiVersion {
                        path: d.path.clone(),
                        index: d.index,
                        kind: d.kind.clone(),
                        api_version: d.api_version.clone(),
                        known,
                    });
                }
                None => skipped.add(d),
            },
        }
    }
    // The manifests are the whole world offline: no Secret among them means none exists.
    s.secrets = Observed::Observed(secrets);
    complete_namespaces(&mut s, docs, default_namespace);
    Ok((s, skipped))
}

/// A Secret manifest reduced to the operator's keyed digest. Errors name the field, never a
/// value: serde's messages about a bad base64 string may quote it.
fn secret_digest(doc: &Document, key: &[u8; 32]) -> Result<SecretDigest, AuditError> {
    use k8s_openapi::ByteString;
    use k8s_openapi::api::core::v1::Secret;
    let mut secret: Secret = serde_path_to_error::deserialize(doc.value.clone()).map_err(|e| {
        let field = e.path().to_string();
        doc.invalid(field, "not a valid Secret field (value not shown)")
    })?;
    // The API server merges stringData into data, stringData winning; so does the digest, so a
    // copy written as stringData matches its original written as base64 data.
    if let Some(strings) = secret.string_data.take() {
        let data = secret.data.get_or_insert_with(BTreeMap::new);
        for (k, v) in strings {
            data.insert(k, ByteString(v.into_bytes()));
        }
    }
    Ok(crate::controller::secrets::digest(key, &secret))
}

/// Adds the namespaces objects live in but no manifest declares, and the label the API server
/// puts on every namespace.
fn complete_namespaces(s: &mut Snapshot, docs: &[Document], default_namespace: &str) {
    use k8s_openapi::api::core::v1::Namespace;
    let declared: BTreeSet<String> = s
        .namespace_labels()
        .map(|(name, _)| name.to_string())
        .collect();
    let mut implied = BTreeSet::new();
    for doc in docs {
        if CLUSTER_SCOPED.contains(&doc.kind.as_str()) {
            continue;
        }
        let ns = doc.value["metadata"]["namespace"]
            .as_str()
            .unwrap_or(default_namespace);
        if !declared.contains(ns) {
            implied.insert(ns.to_string());
        }
    }
    for name in implied {
        s.namespaces.push(Arc::new(Namespace {
            metadata: k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta {
                name: Some(name),
                ..Default::default()
            },
            ..Default::default()
        }));
    }
    for ns in &mut s.namespaces {
        let Some(name) = ns.metadata.name.clone() else {
            continue;
        };
        let labels = ns.metadata.labels.clone().unwrap_or_default();
        if !labels.contains_key(NAMESPACE_NAME_LABEL) {
            let ns = Arc::make_mut(ns);
            ns.metadata
                .labels
                .get_or_insert_with(BTreeMap::new)
                .insert(NAMESPACE_NAME_LABEL.into(), name);
        }
    }
}

/// One custom resource to evaluate.
#[derive(Clone, Debug, PartialEq)]
pub enum Baseline {
    SecurityBaseline {
        name: String,
        spec: SecurityBaselineSpec,
    },
    BackupPolicy {
        name: String,
        spec: Box<ValidBackupPolicy>,
        last_restore_test: Option<RestoreTestResult>,
    },
    EnvironmentIsolation {
        name: String,
        spec: EnvironmentIsolationSpec,
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
            Self::SecurityBaseline { spec, .. } => {
                evaluate::security_baseline::evaluate(spec, snapshot, now)
            }
            Self::BackupPolicy {
                name,
                spec,
                last_restore_test,
            } => evaluate::backup::evaluate(name, spec, last_restore_test.as_ref(), snapshot, now),
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
                validate::security_baseline::validate(&spec).map_err(first_problem)?;
                Baseline::SecurityBaseline { name, spec }
            }
            "BackupPolicy" => {
                let spec: BackupPolicySpec = spec()?.typed().map_err(prefixed)?;
                let spec = validate::backup_policy::validate(&spec, now).map_err(first_problem)?;
                let last_restore_test = match doc.value["status"].get("lastRestoreTest") {
                    Some(v) => Some(serde_path_to_error::deserialize(v.clone()).map_err(|e| {
                        doc.invalid(
                            format!("status.lastRestoreTest.{}", e.path()),
                            e.into_inner().to_string(),
                        )
                    })?),
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
                validate::environment_isolation::validate(&spec).map_err(first_problem)?;
                Baseline::EnvironmentIsolation { name, spec }
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
    pub checked: i32,
    pub failed: i32,
    pub exempted: i32,
    /// Every failing object (status keeps only the first ten, in the same order).
    pub findings: Vec<Finding>,
    /// Every waived object, with the exemption that waives it.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub exemptions: Vec<WaivedFinding>,
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
                        failed: count(c.failed.len()),
                        exempted: count(c.waived.len()),
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

/// A plain-text table: one row per control.
pub fn render_table(report: &AuditReport) -> String {
    let mut rows = vec![[
        "CR".to_string(),
        "CONTROL".into(),
        "STATE".into(),
        "ISO27001:2022".into(),
        "SOC2".into(),
        "FAILED".into(),
        "EXEMPTED".into(),
        "FIRST FINDING".into(),
    ]];
    for r in &report.resources {
        for c in &r.controls {
            let first = c
                .findings
                .first()
                .map(|f| {
                    let ns = f
                        .namespace
                        .as_deref()
                        .map(|n| format!("{n}/"))
                        .unwrap_or_default();
                    format!("{} {ns}{}: {}", f.kind, f.name, f.message)
                })
                .unwrap_or_default();
            rows.push([
                format!("{}/{}", r.kind, r.name),
                c.id.as_str().into(),
                format!("{:?}", c.state),
                references(c.id, Framework::Iso27001v2022),
                references(c.id, Framework::Soc2),
                c.failed.to_string(),
                c.exempted.to_string(),
                first,
            ]);
        }
    }
    let mut widths = [0usize; 7];
    for row in &rows {
        for (w, cell) in widths.iter_mut().zip(row.iter()) {
            *w = (*w).max(cell.chars().count());
        }
    }
    let mut out = String::new();
    for row in &rows {
        for (i, cell) in row.iter().enumerate() {
            if i < widths.len() {
                out.push_str(&format!("{cell:<w$}  ", w = widths[i]));
            } else {
                out.push_str(cell);
            }
        }
        out.push('\n');
    }
    let kinds: Vec<String> = report
        .skipped
        .kinds
        .iter()
        .map(|(kind, n)| format!("{kind} x{n}"))
        .collect();
    out.push_str(&format!(
        "\nskipped: {} object(s) of kinds no control reads{}\n",
        report.skipped.unknown_kinds,
        if kinds.is_empty() {
            String::new()
        } else {
            format!(": {}", kinds.join(", "))
        }
    ));
    out.push_str(&format!(
        "secrets: {} compared by keyed digest (values never printed)\n",
        report.secrets
    ));
    out
}

/// A control's reference ids in one framework, for a table cell (`8.20,8.21`).
fn references(id: ControlId, framework: Framework) -> String {
    id.references(framework)
        .map(|r| r.id)
        .collect::<Vec<_>>()
        .join(",")
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
#[path = "audit_tests.rs"]
mod tests;
