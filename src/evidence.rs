//! `baseline-operator evidence --out DIR`: an evidence bundle for auditors, read from the
//! cluster of KUBECONFIG (or the in-cluster service account).
//!
//! Writes `evidence.json` (every control of every SecurityBaseline, BackupPolicy and
//! EnvironmentIsolation with its state, framework references, counts and findings, every
//! exemption, and the operator's PolicyReports), `evidence.md` (the same for a human reader:
//! one table per framework reference, listing the controls that prove it) and `SHA256SUMS`
//! (`sha256sum -c` format) over both. Secret values never appear: the operator never puts them
//! in status or reports.

use crate::api::backup_policy::RestoreTestResult;
use crate::api::{
    BackupPolicy, ControlResult, ControlState, EnvironmentIsolation, Exemption, Mode,
    SecurityBaseline, Summary,
};
use crate::desired::{MANAGED_BY, OPERATOR};
use kube::api::{Api, ListParams};
use kube::core::{ApiResource, DynamicObject, GroupVersionKind};
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
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PolicyReports {
    /// Whether the API server serves `wgpolicyk8s.io/v1alpha2` PolicyReports.
    pub served: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
    pub reports: Vec<PolicyReportEvidence>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PolicyReportEvidence {
    pub namespace: String,
    pub name: String,
    pub summary: Value,
    pub results: Vec<Value>,
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
        let bundle = collect(&client).await?;
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

    Ok(Bundle {
        generated_at: jiff::Timestamp::now().to_string(),
        operator_version: env!("CARGO_PKG_VERSION").into(),
        cluster: ClusterIdentity {
            kube_system_uid: kube_system.metadata.uid.unwrap_or_default(),
            server_version: version.git_version,
            platform: version.platform,
        },
        resources,
        policy_reports: policy_reports(client).await?,
    })
}

async fn policy_reports(client: &Client) -> Result<PolicyReports, EvidenceError> {
    let gvk = GroupVersionKind::gvk("wgpolicyk8s.io", "v1alpha2", "PolicyReport");
    let resource = ApiResource::from_gvk_with_plural(&gvk, "policyreports");
    let api: Api<DynamicObject> = Api::all_with(client.clone(), &resource);
    let lp = ListParams::default().labels(&format!("{MANAGED_BY}={OPERATOR}"));
    let list = match api.list(&lp).await {
        Ok(list) => list,
        Err(kube::Error::Api(status)) if status.code == 404 => {
            return Ok(PolicyReports {
                served: false,
                note: Some(
                    "wgpolicyk8s.io/v1alpha2 PolicyReports are not served by this cluster (CRD not installed); findings beyond the status sample are not included".into(),
                ),
                reports: Vec::new(),
            });
        }
        Err(e) => return Err(read("PolicyReports")(e)),
    };
    let mut reports: Vec<PolicyReportEvidence> = list
        .items
        .into_iter()
        .map(|r| PolicyReportEvidence {
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
        .collect();
    reports.sort_by(|a, b| (&a.namespace, &a.name).cmp(&(&b.namespace, &b.name)));
    Ok(PolicyReports {
        served: true,
        note: None,
        reports,
    })
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
                    "not evaluated"
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

    // framework reference -> (resource, control)
    let mut by_ref: BTreeMap<&str, Vec<(&ResourceEvidence, &ControlResult)>> = BTreeMap::new();
    for r in &bundle.resources {
        for c in &r.controls {
            for f in &c.frameworks {
                by_ref.entry(f.as_str()).or_default().push((r, c));
            }
        }
    }
    line("## Controls by framework reference".into());
    line(String::new());
    if by_ref.is_empty() {
        line("No control has been evaluated yet.".into());
        line(String::new());
    }
    for (reference, rows) in &by_ref {
        line(format!("### {}", cell(reference)));
        line(String::new());
        line("| Control | Title | Resource | State | Checked | Failed | Exempted |".into());
        line("|---|---|---|---|---|---|---|".into());
        for (r, c) in rows {
            line(format!(
                "| `{}` | {} | {}/{} | {} | {} | {} | {} |",
                c.id,
                cell(&c.title),
                r.kind,
                cell(&r.name),
                state(c.state),
                c.checked,
                c.failed,
                c.exempted
            ));
        }
        line(String::new());
    }

    line("## Failing objects (sample kept in status)".into());
    line(String::new());
    let mut any = false;
    for r in &bundle.resources {
        for c in r.controls.iter().filter(|c| !c.findings.is_empty()) {
            if !any {
                line("| Resource | Control | Object | Finding |".into());
                line("|---|---|---|---|".into());
                any = true;
            }
            for f in &c.findings {
                let ns = f
                    .namespace
                    .as_deref()
                    .map(|n| format!("{n}/"))
                    .unwrap_or_default();
                line(format!(
                    "| {}/{} | `{}` | {} {}{} | {} |",
                    r.kind,
                    cell(&r.name),
                    c.id,
                    f.kind,
                    cell(&ns),
                    cell(&f.name),
                    cell(&f.message)
                ));
            }
        }
    }
    if !any {
        line("None.".into());
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
            line(format!(
                "| {} | {} | {} | {} | {} |",
                cell(&r.namespace),
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
mod tests {
    use super::*;
    use crate::api::Finding;
    use crate::catalog::ControlId;

    fn bundle() -> Bundle {
        let control = |id: ControlId, state, failed: i32| ControlResult {
            id,
            title: id.title().into(),
            frameworks: id.framework_refs(),
            state,
            checked: 3,
            failed,
            exempted: 0,
            findings: (0..failed)
                .map(|i| Finding {
                    kind: "Namespace".into(),
                    namespace: None,
                    name: format!("shop-{i}"),
                    message: "no default-deny | ingress".into(),
                })
                .collect(),
            last_evaluated: None,
        };
        Bundle {
            generated_at: "2030-01-02T03:04:05Z".into(),
            operator_version: "0.1.0".into(),
            cluster: ClusterIdentity {
                kube_system_uid: "1234-abcd".into(),
                server_version: "v1.37.1".into(),
                platform: "linux/amd64".into(),
            },
            resources: vec![ResourceEvidence {
                kind: "SecurityBaseline".into(),
                name: "prod".into(),
                uid: "u".into(),
                mode: Mode::Enforce,
                generation: Some(1),
                observed_generation: Some(1),
                compliant: "False".into(),
                summary: Some(Summary {
                    namespaces: 1,
                    passing: 1,
                    failing: 1,
                    exempt: 0,
                    score: 50,
                    failing_controls: "restricted-ports".into(),
                    ..Default::default()
                }),
                controls: vec![
                    control(ControlId::RestrictedPorts, ControlState::Fail, 1),
                    control(ControlId::EncryptionInTransit, ControlState::Pass, 0),
                ],
                exemptions: vec![Exemption {
                    controls: vec![ControlId::TrustedImages],
                    namespaces: vec!["legacy".into()],
                    selector: None,
                    reason: "vendor image".into(),
                    approved_by: "ciso@example.com".into(),
                    ticket: Some("SEC-42".into()),
                    expires: "2030-06-30".into(),
                }],
                last_restore_test: None,
            }],
            policy_reports: PolicyReports {
                served: true,
                note: None,
                reports: Vec::new(),
            },
        }
    }

    #[test]
    fn markdown_has_identity_summary_framework_tables_and_exemptions() {
        let md = render_markdown(&bundle());
        assert!(
            md.contains("kube-system namespace uid `1234-abcd`, Kubernetes v1.37.1"),
            "{md}"
        );
        assert!(md.contains("2030-01-02T03:04:05Z"));
        assert!(
            md.contains(
                "| SecurityBaseline/prod | Enforce | False | 50 | 1 | 1 | 0 | restricted-ports |"
            ),
            "{md}"
        );
        let section = md
            .split("### ISO 27001 A.13.1.1\n")
            .nth(1)
            .expect("a table for A.13.1.1");
        let table: Vec<&str> = section
            .lines()
            .skip(1)
            .take_while(|l| l.starts_with('|'))
            .collect();
        assert_eq!(table.len(), 3, "{table:?}");
        assert!(table[2].starts_with("| `restricted-ports` | Restricted port configurations | SecurityBaseline/prod | **Fail** | 3 | 1 | 0 |"), "{}", table[2]);
        assert!(md.contains("### ISO 27001 A.13.2.1"));
        assert!(md.contains("### SOC 2 Encryption-in-Transit"));
        assert!(
            md.contains("no default-deny \\| ingress"),
            "pipes are escaped"
        );
        assert!(md.contains("| SecurityBaseline/prod | `trusted-images` | namespaces legacy | vendor image | ciso@example.com | 2030-06-30 | SEC-42 |"), "{md}");
        assert!(md.contains("The operator has written no PolicyReport"));
    }

    #[test]
    fn markdown_is_deterministic_and_handles_an_empty_cluster() {
        assert_eq!(render_markdown(&bundle()), render_markdown(&bundle()));
        let md = render_markdown(&Bundle {
            policy_reports: PolicyReports {
                served: false,
                note: Some("not served".into()),
                reports: Vec::new(),
            },
            ..Bundle::default()
        });
        assert!(md.contains("No SecurityBaseline"));
        assert!(md.contains("not served."));
    }

    #[test]
    fn bundle_files_verify() {
        let dir = tempfile::tempdir().unwrap();
        write(dir.path(), &bundle()).unwrap();
        let sums = std::fs::read_to_string(dir.path().join("SHA256SUMS")).unwrap();
        let lines: Vec<&str> = sums.lines().collect();
        assert_eq!(lines.len(), 2);
        for l in lines {
            let (hex, name) = l.split_once("  ").unwrap();
            let bytes = std::fs::read(dir.path().join(name)).unwrap();
            assert_eq!(hex, hex::encode(Sha256::digest(&bytes)));
        }
        let json: Bundle =
            serde_json::from_slice(&std::fs::read(dir.path().join("evidence.json")).unwrap())
                .unwrap();
        assert_eq!(json, bundle());
    }
}
