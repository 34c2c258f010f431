//! Tracing the figures: every object behind a control's failed and exempted counts, and the
//! evidence grouped by framework reference.

use super::*;

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
                    note: c.note.clone(),
                })
        })
        .collect()
}
