//! PolicyReports (`wgpolicyk8s.io/v1alpha2`) or OpenReports Reports (`openreports.io/v1alpha1`,
//! see [`super::report_api`]): every finding, per namespace, beyond the bounded sample that fits
//! in status. Pure: `fn(&Evaluation) -> Vec<DesiredObject>`. Both APIs get the same reports
//! (names, results, summaries, the split and the confidentiality rule below); an OpenReports
//! report also names its `source` once at the top. Its `scope` stays unset: a report holds a
//! whole namespace's findings about many objects, each result names its own (`resources`), and
//! a scope would tell a reader such as Policy Reporter that they all concern one object.
//!
//! One report per namespace with findings, named after the owner (`sb-prod`); a namespace whose
//! results would make the report larger than [`MAX_REPORT_BYTES`] gets further reports
//! `sb-prod-2`, `sb-prod-3`, ... The reports carry no timestamp, so they change only when the
//! findings change and a converged resync writes nothing.
//!
//! Findings about cluster-scoped objects (a ClusterRoleBinding, a StorageClass, the policy
//! itself) go to a ClusterPolicyReport of the same name, split the same way, when the cluster
//! serves that kind; where it does not, they stay in status alone and are counted by
//! [`unreported`]. Findings about a Namespace object go to that namespace's report.
//!
//! Confidential findings (a non-production Secret holding production secret material) are
//! about namespaced objects but go to the ClusterPolicyReport too, detail included: the
//! namespace's tenants can read its PolicyReport, and any trace of the finding there (a result,
//! a `fail` count, a passing control less) would tell them which guess matched production.

use crate::api::ControlState;
use crate::catalog::{ControlId, Framework};
use crate::desired::policy_report::{PolicyReport, ReportResult, ResultResource, Summary};
use crate::desired::report_api::ReportApi;
use crate::desired::{DesiredObject, Owner};
use crate::evaluate::{Evaluation, Violation};
use crate::vocabulary::objects::ObjectRef;
use std::collections::BTreeMap;

pub const API_VERSION: &str = "wgpolicyk8s.io/v1alpha2";
pub const KIND: &str = "PolicyReport";
pub const CLUSTER_KIND: &str = "ClusterPolicyReport";
pub const OPENREPORTS_API_VERSION: &str = "openreports.io/v1alpha1";
pub const OPENREPORTS_KIND: &str = "Report";
pub const OPENREPORTS_CLUSTER_KIND: &str = "ClusterReport";
/// `source` of every result (and of every OpenReports report).
pub const SOURCE: &str = "baseline-operator";
/// A report is closed once its serialized size reaches this (etcd's limit is 1.5 MiB).
pub const MAX_REPORT_BYTES: usize = 512 * 1024;

/// Findings that no PolicyReport carries because their object is cluster-scoped.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Unreported {
    pub fail: usize,
    pub skip: usize,
}

/// Counts findings about cluster-scoped objects (left out of every PolicyReport).
pub fn unreported(evaluation: &Evaluation) -> Unreported {
    let mut out = Unreported::default();
    for control in &evaluation.controls {
        out.fail += control
            .failed
            .iter()
            .filter(|v| reported_in(v).is_none())
            .count();
        out.skip += control
            .waived
            .iter()
            .filter(|w| reported_in(&w.violation).is_none())
            .count();
    }
    out
}

/// The namespace whose PolicyReport carries a finding; `None`: the ClusterPolicyReport (a
/// cluster-scoped object, or a confidential finding its namespace's tenants must not read).
fn reported_in(violation: &Violation) -> Option<&str> {
    if violation.confidential {
        None
    } else {
        violation.object.scope_namespace()
    }
}

/// The reports in `api` for one evaluated custom resource, one set per namespace with
/// findings, and with `cluster_reports` (the cluster serves the API's cluster-scoped kind) one
/// set for the findings about cluster-scoped objects.
pub fn policy_reports(
    owner: &Owner,
    evaluation: &Evaluation,
    api: ReportApi,
    cluster_reports: bool,
) -> Vec<DesiredObject> {
    policy_reports_in(owner, evaluation, api, cluster_reports, &|_| true)
}

/// [`policy_reports`] for the namespaces `covered` accepts only (None: the cluster-scoped
/// report): a pass over some namespaces renders only their reports.
pub fn policy_reports_in(
    owner: &Owner,
    evaluation: &Evaluation,
    api: ReportApi,
    cluster_reports: bool,
    covered: &dyn Fn(Option<&str>) -> bool,
) -> Vec<DesiredObject> {
    let policy = format!("{}/{}", owner.kind, owner.name);
    // namespace (None: cluster-scoped) -> results, in control order then finding order (both
    // deterministic).
    let mut per_namespace: BTreeMap<Option<&str>, NamespaceResults> = BTreeMap::new();
    let reported = |ns: Option<&str>| (ns.is_some() || cluster_reports) && covered(ns);
    for control in &evaluation.controls {
        for violation in &control.failed {
            let ns = reported_in(violation);
            if reported(ns) {
                let entry = per_namespace.entry(ns).or_default();
                entry.failing_controls.insert(control.id);
                entry
                    .results
                    .push(result(&policy, control.id, violation, None));
            }
        }
        for waived in &control.waived {
            let ns = reported_in(&waived.violation);
            if reported(ns) {
                let e = &waived.exemption;
                let mut exemption = BTreeMap::from([
                    ("exemptionReason", e.reason.clone()),
                    ("approvedBy", e.approved_by.clone()),
                    ("expires", e.expires.clone()),
                ]);
                if let Some(ticket) = &e.ticket {
                    exemption.insert("ticket", ticket.clone());
                }
                per_namespace.entry(ns).or_default().results.push(result(
                    &policy,
                    control.id,
                    &waived.violation,
                    Some(exemption),
                ));
            }
        }
    }
    let applicable: Vec<ControlId> = evaluation
        .controls
        .iter()
        // A check that did not run proves nothing: it is not counted as passing.
        .filter(|c| {
            !matches!(
                c.state,
                ControlState::NotApplicable | ControlState::NotEvaluated
            )
        })
        .map(|c| c.id)
        .collect();

    let mut out = Vec::new();
    for (ns, results) in per_namespace {
        let pass = applicable
            .iter()
            .filter(|id| !results.failing_controls.contains(id))
            .count();
        for (index, chunk) in split(results.results).into_iter().enumerate() {
            let name = if index == 0 {
                owner.prefix()
            } else {
                format!("{}-{}", owner.prefix(), index + 1)
            };
            let count = |r: &str| chunk.iter().filter(|x| x.result == r).count();
            let summary = Summary {
                // Passing controls are counted once per namespace, in its first report, so
                // that the counts of split reports add up.
                pass: if index == 0 { pass } else { 0 },
                fail: count("fail"),
                skip: count("skip"),
                warn: 0,
                error: 0,
            };
            let kind = match ns {
                Some(_) => api.namespaced(),
                None => api.cluster(),
            };
            let source = (api == ReportApi::OpenReports).then(|| SOURCE.to_string());
            let report = PolicyReport::new(kind, summary, chunk, source);
            out.push(DesiredObject::typed(owner, ns, name, report));
        }
    }
    out
}

#[derive(Default)]
struct NamespaceResults {
    results: Vec<ReportResult>,
    failing_controls: std::collections::BTreeSet<ControlId>,
}

/// Room for metadata (labels, ownerReference) and summary around the results.
const ENVELOPE_BYTES: usize = 4 * 1024;

/// Splits results into chunks whose serialized size stays below [`MAX_REPORT_BYTES`].
fn split(results: Vec<ReportResult>) -> Vec<Vec<ReportResult>> {
    let mut chunks = vec![Vec::new()];
    let mut size = ENVELOPE_BYTES;
    for result in results {
        let len = serde_json::to_vec(&result).map(|v| v.len()).unwrap_or(0) + 1;
        let current = chunks.last_mut().expect("never empty");
        if !current.is_empty() && size + len > MAX_REPORT_BYTES {
            chunks.push(vec![result]);
            size = ENVELOPE_BYTES + len;
        } else {
            current.push(result);
            size += len;
        }
    }
    chunks
}

fn result(
    policy: &str,
    id: ControlId,
    violation: &Violation,
    exemption: Option<BTreeMap<&str, String>>,
) -> ReportResult {
    let control = id.control();
    let mut properties = BTreeMap::from([
        ("frameworks", id.framework_refs().join(", ")),
        ("controlTitle", control.title.to_string()),
    ]);
    // One property per framework, keyed as `evidence --framework` is (`iso27001:2022: 8.20,
    // 8.21`, `soc2: CC6.1, CC6.6`), so a report viewer can filter on the one an audit uses.
    for framework in Framework::ALL {
        let ids: Vec<&str> = id.references(framework).map(|r| r.id).collect();
        if !ids.is_empty() {
            properties.insert(framework.key(), ids.join(", "));
        }
    }
    let outcome = if exemption.is_some() { "skip" } else { "fail" };
    // Only the ClusterPolicyReport carries confidential findings: it may say what the
    // namespace's report must not, e.g. which production Secret a copy came from.
    let message = if violation.confidential {
        violation.finding().message
    } else {
        violation.message.clone()
    };
    if let Some(exemption) = exemption {
        properties.extend(exemption);
    }
    ReportResult {
        policy: policy.to_string(),
        rule: id.as_str().to_string(),
        result: outcome.to_string(),
        category: control
            .frameworks
            .first()
            .map(|f| f.framework.name())
            .unwrap_or_default()
            .to_string(),
        message,
        resources: vec![resource(&violation.object)],
        properties: properties
            .into_iter()
            .map(|(k, v)| (k.to_string(), v))
            .collect(),
        source: SOURCE.to_string(),
        severity: (outcome == "fail").then(|| "high".to_string()),
    }
}

fn resource(object: &ObjectRef) -> ResultResource {
    ResultResource {
        api_version: api_version(&object.kind).map(str::to_string),
        kind: object.kind.clone(),
        name: object.name.clone(),
        namespace: object.namespace.clone(),
    }
}

/// apiVersion of the kinds findings are about; `None` when unknown (then omitted).
pub fn api_version(kind: &str) -> Option<&'static str> {
    Some(match kind {
        "Namespace"
        | "Pod"
        | "Service"
        | "ServiceAccount"
        | "PersistentVolumeClaim"
        | "ConfigMap"
        | "Secret" => "v1",
        "Deployment" | "StatefulSet" | "DaemonSet" | "ReplicaSet" => "apps/v1",
        "Job" | "CronJob" => "batch/v1",
        "Ingress" | "NetworkPolicy" => "networking.k8s.io/v1",
        "RoleBinding" | "ClusterRoleBinding" | "Role" | "ClusterRole" => {
            "rbac.authorization.k8s.io/v1"
        }
        "StorageClass" => "storage.k8s.io/v1",
        "PodDisruptionBudget" => "policy/v1",
        "EndpointSlice" => "discovery.k8s.io/v1",
        "Schedule" | "Backup" | "Restore" | "BackupStorageLocation" => "velero.io/v1",
        "SecurityBaseline" | "BackupPolicy" | "EnvironmentIsolation" => {
            "security.baseline.dev/v1alpha1"
        }
        _ => return None,
    })
}

#[cfg(test)]
#[path = "report_tests.rs"]
mod tests;
