//! `baseline-operator evidence --out DIR`: an evidence bundle for auditors, read from the
//! cluster of KUBECONFIG (or the in-cluster service account).
//!
//! Writes `evidence.json` (every control of every SecurityBaseline, BackupPolicy and
//! EnvironmentIsolation with its state, framework references, counts and findings, every
//! exemption, the operator's PolicyReports, and the same evidence grouped by framework),
//! `evidence.md` (the same for a human reader: a section per framework listing each of its
//! references and the controls, resources and states that prove it), the current state as
//! OSCAL 1.1.3 Assessment Results (`assessment-results.json`, with the `assessment-plan.json`
//! it imports and `component-definition.json`, see [`oscal`]) and `SHA256SUMS`
//! (`sha256sum -c` format) over them all; with `--attest --signing-key SEED`, also a signed
//! in-toto attestation over every file written (`evidence.intoto.json`, see
//! [`crate::history::attestation`]). Secret values never appear: the operator never puts them
//! in status or reports.
//!
//! The grouping comes from the control catalog compiled into this binary (typed references,
//! keyed by control id), not from parsing the strings in status: the catalog is the single
//! source of truth, and a status written by an operator with another catalog is pointed out.
//! `--framework KEY` (`iso27001:2022`, `soc2`, `iso27001:2013`, `source`) keeps only that
//! framework's section and the controls that cite it.

use crate::api::backup_policy::RestoreTestResult;
use crate::api::{
    BackupPolicy, ControlResult, ControlState, EnvironmentIsolation, EvaluationScope, Exemption,
    Mode, SecurityBaseline, Summary,
};
use crate::catalog::{CATALOG, ControlId, Framework};
use crate::desired::{MANAGED_BY, OPERATOR, OwnedKind};
use crate::history::attestation;
use kube::api::{Api, ListParams};
use kube::core::DynamicObject;
use kube::{Client, Resource};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use sha2::{Digest, Sha256};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

mod collect;
mod figures;
mod files;
mod markdown;
pub mod oscal;

pub use collect::collect;
pub use figures::{by_framework, objects_behind_figures};
pub use files::{sha256sums, write};
pub use markdown::render_markdown;

/// Arguments of `baseline-operator evidence`.
#[derive(clap::Args, Debug, Clone)]
pub struct EvidenceArgs {
    /// Directory to write evidence.json, evidence.md, the OSCAL documents and SHA256SUMS into
    /// (created if missing).
    #[arg(long)]
    pub out: PathBuf,
    /// Restrict the bundle to one framework: iso27001:2022, soc2, iso27001:2013 (the numbers
    /// the source policies cite) or source (the policies' own control names). Default: all.
    #[arg(long, value_name = "KEY")]
    pub framework: Option<Framework>,
    /// Also write a signed in-toto attestation over every file of the bundle:
    /// DIR/evidence.intoto.json (a DSSE envelope, for `cosign verify-blob-attestation`) and
    /// the signer's public key DIR/evidence.intoto.pub.pem.
    #[arg(long, requires = "signing_key")]
    pub attest: bool,
    /// The history's signing key (`ed25519.seed`, the Secret's value) to sign the
    /// attestation with.
    #[arg(long, value_name = "FILE", requires = "attest")]
    pub signing_key: Option<PathBuf>,
}

/// Everything the bundle proves, as written to `evidence.json`.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Bundle {
    /// RFC 3339 instant the evidence was collected.
    pub generated_at: String,
    pub operator_version: String,
    pub cluster: ClusterIdentity,
    pub resources: Vec<ResourceEvidence>,
    pub policy_reports: PolicyReports,
    /// The framework `--framework` restricted the bundle to; absent: every framework.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub framework: Option<Framework>,
    /// The controls' evidence grouped by framework, then by reference (see [`by_framework`]).
    #[serde(default)]
    pub frameworks: Vec<FrameworkEvidence>,
    /// Where the operator keeps its evidence history and the public key that verifies it, as
    /// the chart publishes them (ConfigMaps labelled `app.kubernetes.io/component:
    /// evidence-history`). Empty: no history is published in this cluster.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub history: Vec<HistoryPublication>,
}

/// An evidence history the cluster publishes: its public key and location.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct HistoryPublication {
    /// The ConfigMap it was read from, `namespace/name`.
    pub published_by: String,
    /// The ed25519 public key (base64) for `baseline-operator evidence verify --public-key`.
    pub public_key: String,
    pub location: String,
}

/// The label of the ConfigMaps that publish an evidence history.
pub const HISTORY_COMPONENT: &str = "app.kubernetes.io/component=evidence-history";

/// One framework's section: each reference the catalog cites and what proves it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct FrameworkEvidence {
    /// The framework key (`iso27001:2022`, `soc2`, `iso27001:2013`, `source`).
    pub framework: Framework,
    /// `ISO/IEC 27001:2022`, `SOC 2`, ...
    pub name: String,
    pub references: Vec<ReferenceEvidence>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ReferenceEvidence {
    /// `8.20`, `CC6.6`, `A.13.1.1`, or a source policy's control name.
    pub id: String,
    pub title: String,
    /// The controls that cite this reference, in catalog order.
    pub controls: Vec<ProvingControl>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ProvingControl {
    pub control: ControlId,
    /// The control's outcome in every resource that evaluated it; empty when none did (no
    /// resource of its kind, or not reconciled yet).
    pub results: Vec<ControlOutcome>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ControlOutcome {
    pub kind: String,
    pub name: String,
    pub state: ControlState,
    pub checked: i32,
    pub failed: i32,
    pub exempted: i32,
    /// The status's note on the control (why it does not apply, ...), when it has one.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub note: String,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ClusterIdentity {
    /// The uid of the kube-system namespace: stable for the life of a cluster.
    pub kube_system_uid: String,
    /// The API server's version (`v1.37.1`).
    pub server_version: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub platform: String,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ResourceEvidence {
    pub kind: String,
    pub name: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub uid: String,
    pub mode: Mode,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub generation: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub observed_generation: Option<i64>,
    /// `True`, `False`, or empty when not reconciled yet.
    #[serde(default)]
    pub compliant: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub summary: Option<Summary>,
    pub controls: Vec<ControlResult>,
    pub exemptions: Vec<Exemption>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_restore_test: Option<RestoreTestResult>,
    /// Which namespaces the figures cover, which were left out and why, and when.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scope: Option<EvaluationScope>,
    /// Per control with failed or exempted objects: every such object, from the PolicyReports
    /// (and, for cluster-scoped objects, which no namespaced report can carry, from status).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub objects: Vec<ControlObjects>,
}

/// The objects behind one control's `failed` and `exempted` figures.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ControlObjects {
    pub control: ControlId,
    pub failing: Vec<ListedObject>,
    pub exempted: Vec<ListedObject>,
    /// True when the lists hold exactly as many objects as status counts.
    pub complete: bool,
    /// Why the lists fall short of the figures, when they do.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
}

#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ListedObject {
    pub kind: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub namespace: Option<String>,
    pub name: String,
    /// Every finding about the object under this control.
    pub findings: Vec<String>,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PolicyReports {
    /// Whether the API server serves `wgpolicyk8s.io/v1alpha2` PolicyReports.
    pub served: bool,
    /// Whether it serves ClusterPolicyReports, which carry the findings about cluster-scoped
    /// objects (without them, only the status sample names those).
    #[serde(default)]
    pub cluster_served: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
    pub reports: Vec<PolicyReportEvidence>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PolicyReportEvidence {
    /// `PolicyReport` or `Report`, or `ClusterPolicyReport` or `ClusterReport` (then
    /// `namespace` is empty).
    #[serde(default = "policy_report_kind")]
    pub kind: String,
    pub namespace: String,
    pub name: String,
    pub summary: Value,
    pub results: Vec<Value>,
}

fn policy_report_kind() -> String {
    crate::desired::report::KIND.into()
}

#[derive(Debug, thiserror::Error)]
pub enum EvidenceError {
    #[error("cannot connect to the cluster: {0}")]
    Connect(#[source] kube::Error),
    #[error("reading {what}: {source}")]
    Read {
        what: &'static str,
        #[source]
        source: kube::Error,
    },
    #[error("writing {path}: {source}")]
    Write {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("serializing evidence.json: {0}")]
    Json(#[from] serde_json::Error),
    #[error("attesting the bundle: {0}")]
    Attest(String),
}

fn read(what: &'static str) -> impl FnOnce(kube::Error) -> EvidenceError {
    move |source| EvidenceError::Read { what, source }
}

/// `baseline-operator evidence`.
pub async fn run(args: EvidenceArgs) -> ExitCode {
    // The key is read first: a bad key fails before the cluster is read.
    let signing_key = match args
        .signing_key
        .as_deref()
        .map(attestation::load_signing_key)
    {
        None => None,
        Some(Ok(key)) => Some(key),
        Some(Err(error)) => {
            eprintln!("error: signing key: {error}");
            return ExitCode::from(2);
        }
    };
    let result = async {
        let client = Client::try_default()
            .await
            .map_err(EvidenceError::Connect)?;
        let bundle = collect(&client).await?.for_frameworks(args.framework);
        if let Some(key) = &signing_key {
            attestation::check_bundle_key(key, &bundle).map_err(EvidenceError::Attest)?;
        }
        let mut files = write(&args.out, &bundle)?;
        if let Some(key) = &signing_key {
            files.extend(attestation::attest_bundle(&args.out, &bundle, &files, key)?);
        }
        Ok::<_, EvidenceError>(files)
    }
    .await;
    match result {
        Ok(files) => {
            for f in files {
                println!("{}", f.display());
            }
            ExitCode::SUCCESS
        }
        Err(error) => {
            eprintln!("error: {error}");
            ExitCode::FAILURE
        }
    }
}

fn compliant(controls: &[k8s_openapi::apimachinery::pkg::apis::meta::v1::Condition]) -> String {
    controls
        .iter()
        .find(|c| c.type_ == "Compliant")
        .map(|c| c.status.clone())
        .unwrap_or_default()
}

#[cfg(test)]
mod tests;
