//! Reading the evidence from the cluster: the custom resources with their status, the
//! cluster identity, and the operator's PolicyReports and ClusterPolicyReports (or their
//! OpenReports equivalents, Reports and ClusterReports).

use super::*;

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
        history: history_publications(client).await?,
    })
}

/// The operator's reports, from OpenReports when it holds them (or is the only API served),
/// else from wgpolicyk8s: with `--reports-api both` the two carry the same figures, and
/// reading both would count every object twice.
async fn policy_reports(client: &Client) -> Result<PolicyReports, EvidenceError> {
    use crate::desired::report_api::ReportApi;
    let openreports = reports_of(client, ReportApi::OpenReports.namespaced()).await?;
    let wgpolicyk8s = reports_of(client, ReportApi::WgPolicyK8s.namespaced()).await?;
    let (api, reports) = match (openreports, wgpolicyk8s) {
        (Some(or), wg) if !or.is_empty() || wg.is_none() => (ReportApi::OpenReports, or),
        (_, Some(wg)) => (ReportApi::WgPolicyK8s, wg),
        (_, None) => {
            return Ok(PolicyReports {
                served: false,
                cluster_served: false,
                note: Some(
                    "neither wgpolicyk8s.io/v1alpha2 PolicyReports nor openreports.io/v1alpha1 Reports are served by this cluster (CRDs not installed); findings beyond the status sample are not included".into(),
                ),
                reports: Vec::new(),
            });
        }
    };
    let mut reports = reports;
    let cluster = reports_of(client, api.cluster()).await?;
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

/// The evidence histories the chart published, with their public keys.
async fn history_publications(client: &Client) -> Result<Vec<HistoryPublication>, EvidenceError> {
    use k8s_openapi::api::core::v1::ConfigMap;
    let listed = Api::<ConfigMap>::all(client.clone())
        .list(&ListParams::default().labels(HISTORY_COMPONENT))
        .await;
    let published = match listed {
        Ok(list) => list,
        // An auditor's role may not read ConfigMaps: the bundle says no history was found,
        // and the public key comes from the chart's notes instead.
        Err(kube::Error::Api(status)) if status.code == 403 => return Ok(Vec::new()),
        Err(error) => return Err(read("the evidence history's ConfigMaps")(error)),
    };
    Ok(published
        .items
        .into_iter()
        .map(|cm| {
            let value = |key: &str| {
                cm.data
                    .as_ref()
                    .and_then(|d| d.get(key))
                    .cloned()
                    .unwrap_or_default()
            };
            HistoryPublication {
                published_by: format!(
                    "{}/{}",
                    cm.metadata.namespace.clone().unwrap_or_default(),
                    cm.metadata.name.clone().unwrap_or_default()
                ),
                public_key: value("ed25519.pub"),
                location: value("location"),
            }
        })
        .collect())
}
