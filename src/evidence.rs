//! `baseline-operator evidence --out DIR`: an evidence bundle for auditors, read from the
//! cluster of KUBECONFIG (or the in-cluster service account).
//!
//! Writes `evidence.json` (every control of every SecurityBaseline, BackupPolicy and
//! EnvironmentIsolation with its state, framework references, counts and findings, every
//! exemption, the operator's PolicyReports, and the same evidence grouped by framework),
//! `evidence.md` (the same for a human reader: a section per framework listing each of its
//! references and the controls, resources and states that prove it) and `SHA256SUMS`
//! (`sha256sum -c` format) over both. Secret values never appear: the operator never puts them
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
use kube::api::{Api, ListParams};
use kube::core::DynamicObject;
use kube::{Client, Resource};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use sha2::{Digest, Sha256};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

/// Arguments of `baseline-operator evidence`.
#[derive(clap::Args, Debug, Clone)]
pub struct EvidenceArgs {
    /// Directory to write evidence.json, evidence.md and SHA256SUMS into (created if missing).
    #[arg(long)]
    pub out: PathBuf,
    /// Restrict the bundle to one framework: iso27001:2022, soc2, iso27001:2013 (the numbers
    /// the source policies cite) or source (the policies' own control names). Default: all.
    #[arg(long, value_name = "KEY")]
    pub framework: Option<Framework>,
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
}

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
    /// `PolicyReport`, or `ClusterPolicyReport` (then `namespace` is empty).
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
}

fn read(what: &'static str) -> impl FnOnce(kube::Error) -> EvidenceError {
    move |source| EvidenceError::Read { what, source }
}

/// `baseline-operator evidence`.
pub async fn run(args: EvidenceArgs) -> ExitCode {
    let result = async {
        let client = Client::try_default()
            .await
            .map_err(EvidenceError::Connect)?;
        let bundle = collect(&client).await?.for_frameworks(args.framework);
        write(&args.out, &bundle)
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

/// Reads the custom resources, the operator's PolicyReports and the cluster identity.
pub async fn collect(client: &Client) -> Result<Bundle, EvidenceError> {
    let lp = ListParams::default();
    let mut resources = Vec::new();
    for sb in Api::<SecurityBaseline>::all(client.clone())
        .list(&lp)
        .await
        .map_err(read("SecurityBaselines"))?
    {
        let status = sb.status.clone().unwrap_or_default();
        resources.push(ResourceEvidence {
            kind: "SecurityBaseline".into(),
            name: sb.meta().name.clone().unwrap_or_default(),
            uid: sb.meta().uid.clone().unwrap_or_default(),
            mode: sb.spec.mode(),
            generation: sb.meta().generation,
            observed_generation: status.observed_generation,
            compliant: compliant(&status.conditions),
            summary: status.summary,
            controls: status.controls,
            exemptions: sb.spec.exemptions.clone(),
            last_restore_test: None,
            scope: status.scope,
            objects: Vec::new(),
        });
    }
    for bp in Api::<BackupPolicy>::all(client.clone())
        .list(&lp)
        .await
        .map_err(read("BackupPolicies"))?
    {
        let status = bp.status.clone().unwrap_or_default();
        resources.push(ResourceEvidence {
            kind: "BackupPolicy".into(),
            name: bp.meta().name.clone().unwrap_or_default(),
            uid: bp.meta().uid.clone().unwrap_or_default(),
            mode: bp.spec.mode(),
            generation: bp.meta().generation,
            observed_generation: status.compliance.observed_generation,
            compliant: compliant(&status.compliance.conditions),
            summary: status.compliance.summary,
            controls: status.compliance.controls,
            exemptions: bp.spec.exemptions.clone(),
            last_restore_test: status.last_restore_test,
            scope: status.compliance.scope,
            objects: Vec::new(),
        });
    }
    for ei in Api::<EnvironmentIsolation>::all(client.clone())
        .list(&lp)
        .await
        .map_err(read("EnvironmentIsolations"))?
    {
        let status = ei.status.clone().unwrap_or_default();
        resources.push(ResourceEvidence {
            kind: "EnvironmentIsolation".into(),
            name: ei.meta().name.clone().unwrap_or_default(),
            uid: ei.meta().uid.clone().unwrap_or_default(),
            mode: ei.spec.mode(),
            generation: ei.meta().generation,
            observed_generation: status.observed_generation,
            compliant: compliant(&status.conditions),
            summary: status.summary,
            controls: status.controls,
            exemptions: ei.spec.exemptions.clone(),
            last_restore_test: None,
            scope: status.scope,
            objects: Vec::new(),
        });
    }
    resources.sort_by(|a, b| (&a.kind, &a.name).cmp(&(&b.kind, &b.name)));

    let kube_system = Api::<k8s_openapi::api::core::v1::Namespace>::all(client.clone())
        .get("kube-system")
        .await
        .map_err(read("namespace kube-system"))?;
    let version = client
        .apiserver_version()
        .await
        .map_err(read("the API server version"))?;

    let policy_reports = policy_reports(client).await?;
    for r in &mut resources {
        r.objects = objects_behind_figures(r, &policy_reports);
    }
    Ok(Bundle {
        generated_at: jiff::Timestamp::now().to_string(),
        operator_version: env!("CARGO_PKG_VERSION").into(),
        cluster: ClusterIdentity {
            kube_system_uid: kube_system.metadata.uid.unwrap_or_default(),
            server_version: version.git_version,
            platform: version.platform,
        },
        resources,
        policy_reports,
        framework: None,
        frameworks: Vec::new(),
    })
}

/// For each control of `resource` with failed or exempted objects, lists every such object:
/// namespaced ones (and Namespaces) from the PolicyReports' `fail` and `skip` results, the
/// cluster-scoped ones from the status sample. `complete` says whether the lists account for
/// the figures; when they do not, `note` says why instead of leaving a silent gap.
pub fn objects_behind_figures(
    resource: &ResourceEvidence,
    reports: &PolicyReports,
) -> Vec<ControlObjects> {
    let policy = format!("{}/{}", resource.kind, resource.name);
    let mut out = Vec::new();
    for control in &resource.controls {
        if control.failed == 0 && control.exempted == 0 {
            continue;
        }
        type Key = (String, Option<String>, String);
        let mut failing: BTreeMap<Key, Vec<String>> = BTreeMap::new();
        let mut exempted: BTreeMap<Key, Vec<String>> = BTreeMap::new();
        let results = reports.reports.iter().flat_map(|r| r.results.iter());
        for result in
            results.filter(|r| r["policy"] == policy.as_str() && r["rule"] == control.id.as_str())
        {
            let Some(object) = result["resources"].get(0) else {
                continue;
            };
            let text = |v: &Value| v.as_str().map(str::to_string);
            let key = (
                text(&object["kind"]).unwrap_or_default(),
                text(&object["namespace"]),
                text(&object["name"]).unwrap_or_default(),
            );
            let message = text(&result["message"]).unwrap_or_default();
            match result["result"].as_str() {
                Some("fail") => failing.entry(key).or_default().push(message),
                Some("skip") => exempted.entry(key).or_default().push(message),
                _ => {}
            }
        }
        // Without ClusterPolicyReports, cluster-scoped objects are only in the status sample.
        let sample = control
            .findings
            .iter()
            .filter(|f| f.namespace.is_none() && f.kind != "Namespace");
        for f in sample.filter(|_| !reports.cluster_served) {
            failing
                .entry((f.kind.clone(), None, f.name.clone()))
                .or_default()
                .push(f.message.clone());
        }
        let list = |objects: BTreeMap<Key, Vec<String>>| -> Vec<ListedObject> {
            objects
                .into_iter()
                .map(|((kind, namespace, name), mut findings)| {
                    findings.dedup();
                    ListedObject {
                        kind,
                        namespace,
                        name,
                        findings,
                    }
                })
                .collect()
        };
        let (failing, exempted) = (list(failing), list(exempted));
        let listed = |n: usize| i32::try_from(n).unwrap_or(i32::MAX);
        let complete =
            listed(failing.len()) == control.failed && listed(exempted.len()) == control.exempted;
        let note = (!complete).then(|| {
            let why = match &reports.note {
                Some(note) => note.clone(),
                None if !reports.cluster_served => "the rest are cluster-scoped objects beyond the status sample (the cluster serves no ClusterPolicyReport to carry them), or the reports changed between reading status and reports".into(),
                None => "the reports changed between reading status and reports; export again".into(),
            };
            format!(
                "{} of {} failing and {} of {} exempted objects are listed; {why}",
                failing.len(),
                control.failed,
                exempted.len(),
                control.exempted
            )
        });
        out.push(ControlObjects {
            control: control.id,
            failing,
            exempted,
            complete,
            note,
        });
    }
    out
}

impl Bundle {
    /// Groups the evidence by framework; with `only`, keeps that framework's section and the
    /// controls that cite it.
    pub fn for_frameworks(mut self, only: Option<Framework>) -> Bundle {
        if let Some(framework) = only {
            for r in &mut self.resources {
                r.controls
                    .retain(|c| c.id.references(framework).next().is_some());
                r.objects
                    .retain(|o| o.control.references(framework).next().is_some());
            }
        }
        self.frameworks = by_framework(&self.resources, only);
        self.framework = only;
        self
    }
}

/// Every reference of each framework (all of them, or `only`) that the catalog cites, in the
/// order the standard lists them, with the outcome of each control citing it in each resource.
pub fn by_framework(
    resources: &[ResourceEvidence],
    only: Option<Framework>,
) -> Vec<FrameworkEvidence> {
    Framework::ALL
        .into_iter()
        .filter(|f| only.is_none_or(|o| o == *f))
        .map(|framework| {
            let mut references: Vec<_> = CATALOG
                .iter()
                .flat_map(|c| c.frameworks.iter())
                .filter(|r| r.framework == framework)
                .collect();
            references.sort_by_key(|r| r.order_key());
            references.dedup_by_key(|r| r.id);
            FrameworkEvidence {
                framework,
                name: framework.name().into(),
                references: references
                    .into_iter()
                    .map(|reference| ReferenceEvidence {
                        id: reference.id.into(),
                        title: reference.title.into(),
                        controls: CATALOG
                            .iter()
                            .filter(|c| c.frameworks.contains(reference))
                            .map(|c| ProvingControl {
                                control: c.id,
                                results: outcomes(resources, c.id),
                            })
                            .collect(),
                    })
                    .collect(),
            }
        })
        .collect()
}

fn outcomes(resources: &[ResourceEvidence], id: ControlId) -> Vec<ControlOutcome> {
    resources
        .iter()
        .flat_map(|r| {
            r.controls
                .iter()
                .filter(move |c| c.id == id)
                .map(move |c| ControlOutcome {
                    kind: r.kind.clone(),
                    name: r.name.clone(),
                    state: c.state,
                    checked: c.checked,
                    failed: c.failed,
                    exempted: c.exempted,
                })
        })
        .collect()
}

async fn policy_reports(client: &Client) -> Result<PolicyReports, EvidenceError> {
    let Some(mut reports) = reports_of(client, OwnedKind::PolicyReport).await? else {
        return Ok(PolicyReports {
            served: false,
            cluster_served: false,
            note: Some(
                "wgpolicyk8s.io/v1alpha2 PolicyReports are not served by this cluster (CRD not installed); findings beyond the status sample are not included".into(),
            ),
            reports: Vec::new(),
        });
    };
    let cluster = reports_of(client, OwnedKind::ClusterPolicyReport).await?;
    let cluster_served = cluster.is_some();
    reports.extend(cluster.into_iter().flatten());
    reports.sort_by(|a, b| (&a.namespace, &a.kind, &a.name).cmp(&(&b.namespace, &b.kind, &b.name)));
    Ok(PolicyReports {
        served: true,
        cluster_served,
        note: None,
        reports,
    })
}

/// The operator's reports of `kind`, or None when the cluster does not serve the kind.
async fn reports_of(
    client: &Client,
    kind: OwnedKind,
) -> Result<Option<Vec<PolicyReportEvidence>>, EvidenceError> {
    let resource = kind.api_resource();
    let api: Api<DynamicObject> = Api::all_with(client.clone(), &resource);
    let lp = ListParams::default().labels(&format!("{MANAGED_BY}={OPERATOR}"));
    let list = match api.list(&lp).await {
        Ok(list) => list,
        Err(kube::Error::Api(status)) if status.code == 404 => return Ok(None),
        Err(e) => return Err(read("PolicyReports")(e)),
    };
    Ok(Some(
        list.items
            .into_iter()
            .map(|r| PolicyReportEvidence {
                kind: resource.kind.clone(),
                namespace: r.metadata.namespace.clone().unwrap_or_default(),
                name: r.metadata.name.clone().unwrap_or_default(),
                summary: r.data.get("summary").cloned().unwrap_or(Value::Null),
                results: r
                    .data
                    .get("results")
                    .and_then(Value::as_array)
                    .cloned()
                    .unwrap_or_default(),
            })
            .collect(),
    ))
}

/// `sha256sum` format: `<hex>  <name>` per line.
pub fn sha256sums(files: &[(&str, &[u8])]) -> String {
    files
        .iter()
        .map(|(name, bytes)| format!("{}  {name}\n", hex::encode(Sha256::digest(bytes))))
        .collect()
}

/// Writes the bundle; returns the paths written.
pub fn write(dir: &Path, bundle: &Bundle) -> Result<Vec<PathBuf>, EvidenceError> {
    let io = |path: &Path| {
        let path = path.to_path_buf();
        move |source| EvidenceError::Write { path, source }
    };
    std::fs::create_dir_all(dir).map_err(io(dir))?;
    let json = serde_json::to_vec_pretty(bundle)?;
    let md = render_markdown(bundle);
    let sums = sha256sums(&[("evidence.json", &json), ("evidence.md", md.as_bytes())]);
    let mut written = Vec::new();
    for (name, bytes) in [
        ("evidence.json", json.as_slice()),
        ("evidence.md", md.as_bytes()),
        ("SHA256SUMS", sums.as_bytes()),
    ] {
        let path = dir.join(name);
        std::fs::write(&path, bytes).map_err(io(&path))?;
        written.push(path);
    }
    Ok(written)
}

fn cell(text: &str) -> String {
    text.replace('|', "\\|").replace(['\n', '\r'], " ")
}

fn state(state: ControlState) -> &'static str {
    match state {
        ControlState::Pass => "Pass",
        ControlState::Fail => "**Fail**",
        ControlState::Exempt => "Exempt",
        ControlState::NotApplicable => "Not applicable",
        ControlState::NotEvaluated => "**Not evaluated**",
    }
}

/// The auditor-readable report. Pure: same bundle, same text.
pub fn render_markdown(bundle: &Bundle) -> String {
    let mut md = String::new();
    let mut line = |s: String| {
        md.push_str(&s);
        md.push('\n');
    };
    line("# Compliance evidence".into());
    line(String::new());
    line(format!(
        "- Cluster: kube-system namespace uid `{}`, Kubernetes {}{}",
        bundle.cluster.kube_system_uid,
        bundle.cluster.server_version,
        if bundle.cluster.platform.is_empty() {
            String::new()
        } else {
            format!(" ({})", bundle.cluster.platform)
        }
    ));
    line(format!("- Collected: {}", bundle.generated_at));
    line(format!(
        "- Collected by: baseline-operator {}",
        bundle.operator_version
    ));
    line("- Integrity: `SHA256SUMS` in this directory (`sha256sum -c SHA256SUMS`)".into());
    line(String::new());

    line("## Summary".into());
    line(String::new());
    if bundle.resources.is_empty() {
        line(
            "No SecurityBaseline, BackupPolicy or EnvironmentIsolation exists in this cluster."
                .into(),
        );
    } else {
        line("| Resource | Mode | Compliant | Score | Passing | Failing | Exempt | Failing controls |".into());
        line("|---|---|---|---|---|---|---|---|".into());
        for r in &bundle.resources {
            let s = r.summary.clone().unwrap_or_default();
            let reconciled = r.summary.is_some();
            line(format!(
                "| {}/{} | {:?} | {} | {} | {} | {} | {} | {} |",
                r.kind,
                cell(&r.name),
                r.mode,
                if r.compliant.is_empty() {
                    "not reconciled"
                } else {
                    &r.compliant
                },
                if reconciled {
                    s.score.to_string()
                } else {
                    "-".into()
                },
                s.passing,
                s.failing,
                s.exempt,
                cell(&s.failing_controls),
            ));
        }
    }
    line(String::new());

    line("## Evidence by framework".into());
    line(String::new());
    line(format!(
        "References from the control catalog of baseline-operator {}. One row per control per resource; \"no resource\": no resource of the control's kind exists, or none has been reconciled yet (not the NotEvaluated state).",
        bundle.operator_version
    ));
    line(String::new());
    // A status written by an operator with another catalog cites other references; say so
    // instead of silently regrouping it.
    for r in &bundle.resources {
        for c in &r.controls {
            if c.frameworks != c.id.framework_refs() {
                line(format!(
                    "- Note: the status of {}/{} lists other references for `{}` than this catalog (written by another operator version): {}",
                    r.kind,
                    cell(&r.name),
                    c.id,
                    cell(&c.frameworks.join(", "))
                ));
                line(String::new());
            }
        }
    }
    if bundle.frameworks.is_empty() {
        line("No framework selected.".into());
        line(String::new());
    }
    for section in &bundle.frameworks {
        line(format!("### {}", section.name));
        line(String::new());
        line(format!("{}.", section.framework.scope()));
        line(String::new());
        line(
            "| Reference | Title | Control | Resource | State | Checked | Failed | Exempted |"
                .into(),
        );
        line("|---|---|---|---|---|---|---|---|".into());
        for reference in &section.references {
            for proof in &reference.controls {
                let lead = format!(
                    "| {} | {} | `{}` |",
                    cell(&reference.id),
                    cell(&reference.title),
                    proof.control
                );
                if proof.results.is_empty() {
                    line(format!("{lead} - | no resource | - | - | - |"));
                }
                for o in &proof.results {
                    line(format!(
                        "{lead} {}/{} | {} | {} | {} | {} |",
                        o.kind,
                        cell(&o.name),
                        state(o.state),
                        o.checked,
                        o.failed,
                        o.exempted
                    ));
                }
            }
        }
        line(String::new());
    }

    line("## Scope".into());
    line(String::new());
    line("Which namespaces each resource's figures cover, which its selectors pick but were left out, and which are exempted as a whole.".into());
    line(String::new());
    for r in &bundle.resources {
        let Some(scope) = &r.scope else {
            line(format!(
                "- {}/{}: not reconciled yet",
                r.kind,
                cell(&r.name)
            ));
            continue;
        };
        let mut names = scope.namespace_names.join(", ");
        let listed = i32::try_from(scope.namespace_names.len()).unwrap_or(i32::MAX);
        if listed < scope.namespaces {
            names.push_str(&format!(" (first {listed} of {})", scope.namespaces));
        }
        line(format!(
            "- {}/{}: {} namespace(s) in scope{}, evaluated {}",
            r.kind,
            cell(&r.name),
            scope.namespaces,
            if names.is_empty() {
                String::new()
            } else {
                format!(": {}", cell(&names))
            },
            scope
                .evaluated_at
                .as_ref()
                .map(|t| t.0.to_string())
                .unwrap_or_else(|| "-".into())
        ));
        for e in &scope.excluded {
            line(format!(
                "  - excluded `{}`: {}",
                cell(&e.name),
                cell(&e.reason)
            ));
        }
        for e in &scope.exempted_namespaces {
            let controls: Vec<String> = e.controls.iter().map(|c| format!("`{c}`")).collect();
            line(format!(
                "  - exempted `{}` from {} (approved by {}, expires {})",
                cell(&e.name),
                controls.join(", "),
                cell(&e.approved_by),
                cell(&e.expires)
            ));
        }
    }
    line(String::new());

    line("## Objects behind the figures".into());
    line(String::new());
    line("Every failed and every exempted object per control, so each figure above can be traced without cluster access.".into());
    line(String::new());
    let mut any = false;
    for r in &bundle.resources {
        for o in &r.objects {
            if !any {
                line("| Resource | Control | Result | Object | Findings |".into());
                line("|---|---|---|---|---|".into());
                any = true;
            }
            for (result, objects) in [("failed", &o.failing), ("exempted", &o.exempted)] {
                for object in objects {
                    let ns = object
                        .namespace
                        .as_deref()
                        .map(|n| format!("{n}/"))
                        .unwrap_or_default();
                    line(format!(
                        "| {}/{} | `{}` | {result} | {} {}{} | {} |",
                        r.kind,
                        cell(&r.name),
                        o.control,
                        object.kind,
                        cell(&ns),
                        cell(&object.name),
                        cell(&object.findings.join("; "))
                    ));
                }
            }
        }
    }
    if !any {
        line("None.".into());
    }
    line(String::new());
    for r in &bundle.resources {
        for o in r.objects.iter().filter(|o| !o.complete) {
            line(format!(
                "- Note on {}/{} `{}`: {}",
                r.kind,
                cell(&r.name),
                o.control,
                cell(o.note.as_deref().unwrap_or_default())
            ));
        }
    }
    line(String::new());

    line("## Exemptions".into());
    line(String::new());
    let exemptions: Vec<_> = bundle
        .resources
        .iter()
        .flat_map(|r| r.exemptions.iter().map(move |e| (r, e)))
        .collect();
    if exemptions.is_empty() {
        line("None.".into());
    } else {
        line("| Resource | Controls | Scope | Reason | Approved by | Expires | Ticket |".into());
        line("|---|---|---|---|---|---|---|".into());
        for (r, e) in exemptions {
            let controls: Vec<String> = e.controls.iter().map(|c| format!("`{c}`")).collect();
            let mut scope = Vec::new();
            if !e.namespaces.is_empty() {
                scope.push(format!("namespaces {}", e.namespaces.join(", ")));
            }
            if let Some(selector) = &e.selector {
                scope.push(format!(
                    "selector {}",
                    serde_json::to_string(selector).unwrap_or_default()
                ));
            }
            if scope.is_empty() {
                scope.push("every selected namespace".into());
            }
            line(format!(
                "| {}/{} | {} | {} | {} | {} | {} | {} |",
                r.kind,
                cell(&r.name),
                controls.join(", "),
                cell(&scope.join("; ")),
                cell(&e.reason),
                cell(&e.approved_by),
                cell(&e.expires),
                cell(e.ticket.as_deref().unwrap_or("-")),
            ));
        }
    }
    line(String::new());

    line("## Policy reports".into());
    line(String::new());
    let pr = &bundle.policy_reports;
    if let Some(note) = &pr.note {
        line(format!("{note}."));
    } else if pr.reports.is_empty() {
        line("The operator has written no PolicyReport (`wgpolicyk8s.io/v1alpha2`).".into());
    } else {
        line("Every finding is in `evidence.json` (`policyReports.reports[].results`).".into());
        line(String::new());
        line("| Namespace | Report | Pass | Fail | Skip |".into());
        line("|---|---|---|---|---|".into());
        for r in &pr.reports {
            let n = |k: &str| r.summary.get(k).and_then(Value::as_i64).unwrap_or(0);
            let namespace = if r.namespace.is_empty() {
                "(cluster-scoped)"
            } else {
                &r.namespace
            };
            line(format!(
                "| {} | {} | {} | {} | {} |",
                cell(namespace),
                cell(&r.name),
                n("pass"),
                n("fail"),
                n("skip")
            ));
        }
    }
    md
}

#[cfg(test)]
#[path = "evidence_tests.rs"]
mod tests;
