//! EnvironmentIsolation handles a change in one namespace by a pass over the namespaces it
//! concerns (issue 26), those the engine's global indexes name included: a namespace joining
//! an environment gets its isolation policy while the other namespaces' policies are not
//! rewritten; a production Secret's value changing makes a pre-existing copy elsewhere a
//! finding (and changing it back clears it); a RoleBinding whose subject's namespace moves
//! into production is found; a Secret created before its namespace is labelled into an environment is judged
//! on the label. Each through `reconcile_passes{kind="EnvironmentIsolation",
//! scope="namespaces"}`, with the engine's periodic check finding no divergence.

use crate::environment_isolation::DeleteOnDrop;
use crate::support::*;
use baseline_operator::api::EnvironmentIsolation;
use k8s_openapi::api::core::v1::{Namespace, Secret};
use k8s_openapi::api::networking::v1::NetworkPolicy;
use kube::Client;
use kube::api::{Api, Patch, PatchParams, PostParams};
use serde_json::json;
use std::collections::BTreeMap;
use std::time::Duration;

const NAME: &str = "e2e-ni";
const POLICY: &str = "ei-e2e-ni-isolation";
const ENV: &str = "e2e-ni-env";
/// Values no test or system object would contain by accident.
const FIRST: &str = "ni-first-password-7d1f0c3b";
const SECOND: &str = "ni-second-password-9a4e2b6d";

fn narrow_passes(operator: &Operator) -> u64 {
    operator
        .metrics
        .passes
        .get_or_create(&baseline_operator::telemetry::PassLabels {
            kind: "EnvironmentIsolation".into(),
            scope: "namespaces".into(),
        })
        .get()
}

fn assert_narrow(operator: &Operator, before: u64, what: &str) {
    if narrow_passes(operator) > before {
        return;
    }
    for line in logs()
        .lines()
        .filter(|l| l.contains(NAME) && (l.contains("planned") || l.contains("every namespace")))
    {
        eprintln!("{line}");
    }
    panic!("{what} was not handled by a pass over namespaces only");
}

/// The resourceVersion of the isolation policy in each of `namespaces`.
async fn policy_versions(client: &Client, namespaces: &[&str]) -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    for ns in namespaces {
        let api: Api<NetworkPolicy> = Api::namespaced(client.clone(), ns);
        if let Some(p) = api.get_opt(POLICY).await.unwrap() {
            out.insert(
                ns.to_string(),
                p.metadata.resource_version.unwrap_or_default(),
            );
        }
    }
    out
}

async fn put_secret(client: &Client, ns: &str, name: &str, value: &str) {
    let api: Api<Secret> = Api::namespaced(client.clone(), ns);
    let secret: Secret = serde_json::from_value(
        json!({"metadata": {"name": name}, "stringData": {"password": value}}),
    )
    .unwrap();
    if api.get_opt(name).await.unwrap().is_some() {
        api.replace(name, &PostParams::default(), &secret)
            .await
            .unwrap();
    } else {
        api.create(&PostParams::default(), &secret).await.unwrap();
    }
}

async fn relabel(client: &Client, ns: &str, env: &str) {
    let namespaces: Api<Namespace> = Api::all(client.clone());
    namespaces
        .patch(
            ns,
            &PatchParams::default(),
            &Patch::Merge(json!({"metadata": {"labels": {ENV: env}}})),
        )
        .await
        .unwrap();
}

fn control_findings(ei: &EnvironmentIsolation, id: &str) -> Vec<String> {
    find_control(ei, id).map(findings).unwrap_or_default()
}

/// Whether the cluster-scoped reports carry a result about `ns/name` (a copied Secret is
/// reported there only, never in the tenant's namespace).
fn cluster_report_names(ns: &str, name: &str) -> bool {
    let out = cluster().kubectl(&["get", "clusterpolicyreports", "-o", "json"]);
    let reports: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap_or_default();
    reports["items"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|r| r["metadata"]["name"].as_str() == Some(&format!("ei-{NAME}")))
        .flat_map(|r| r["results"].as_array().cloned().unwrap_or_default())
        .any(|result| {
            result["resources"]
                .as_array()
                .into_iter()
                .flatten()
                .any(|r| r["namespace"].as_str() == Some(ns) && r["name"].as_str() == Some(name))
        })
}

/// Whether the resource's PolicyReport in `ns` has a result about `name`.
fn has_report_naming(ns: &str, name: &str) -> bool {
    let out = cluster().kubectl(&[
        "get",
        "policyreport",
        &format!("ei-{NAME}"),
        "-n",
        ns,
        "--ignore-not-found",
        "-o",
        "json",
    ]);
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap_or_default();
    report["results"]
        .as_array()
        .into_iter()
        .flatten()
        .flat_map(|r| r["resources"].as_array().cloned().unwrap_or_default())
        .any(|r| r["name"].as_str() == Some(name))
}

#[tokio::test]
async fn isolation_handles_changes_by_passes_over_the_namespaces_they_concern() {
    let s = Scenario::start().await.timeout(Duration::from_secs(60));
    let operator = operator();
    let prod = s.namespace("e2e-ni-prod", &[(ENV, "prod")]).await;
    let dev = s.namespace("e2e-ni-dev", &[(ENV, "dev")]).await;
    let stage = s.namespace("e2e-ni-stage-a", &[(ENV, "stage")]).await;
    put_secret(&s.client, &prod, "db", FIRST).await;
    // Holds the production Secret's next value before production does.
    put_secret(&s.client, &dev, "copy", SECOND).await;
    let _cleanup = DeleteOnDrop("environmentisolation", NAME.into());
    let env = |name: &str, production: bool| json!({"name": name, "production": production, "namespaceSelector": {"matchLabels": {ENV: name}}});
    let ei = s
        .isolation(
            NAME,
            json!({
                "mode": "Enforce",
                "environments": [env("prod", true), env("stage", false), env("dev", false)],
                "productionData": {"productionValues": ["production"], "detectCopiedSecrets": true},
                "access": {"denyCrossEnvironmentBindings": true},
            }),
        )
        .await;
    let all = [prod.as_str(), dev.as_str(), stage.as_str()];
    s.wait_until("every namespace isolated", || async {
        policy_versions(&s.client, &all).await.len() == 3
    })
    .await;
    ei.wait("no copy yet", |ei| {
        control_findings(ei, "production-data-restricted").is_empty()
    })
    .await;
    // Let the whole passes of the creation settle before counting.
    tokio::time::sleep(Duration::from_secs(3)).await;
    let versions = policy_versions(&s.client, &all).await;

    // (a) A new namespace joins staging: isolated by a narrow pass, nothing else rewritten.
    let before = narrow_passes(operator);
    let joining = s.namespace("e2e-ni-stage-b", &[(ENV, "stage")]).await;
    s.wait_until("the joining namespace isolated", || async {
        policy_versions(&s.client, &[&joining]).await.len() == 1
    })
    .await;
    assert_narrow(operator, before, "a namespace joining staging");

    // (b) Production's value changes to the one dev already holds: dev's Secret becomes a
    // copy, found (status and the cluster report) by a narrow pass; and back: cleared.
    let before = narrow_passes(operator);
    put_secret(&s.client, &prod, "db", SECOND).await;
    ei.wait("the pre-existing copy found", |ei| {
        control_findings(ei, "production-data-restricted")
            .iter()
            .any(|f| f.contains("Secret copy") && f.contains(&format!("{dev}/copy")))
    })
    .await;
    s.wait_until("the cluster report names the copy", || async {
        cluster_report_names(&dev, "copy")
    })
    .await;
    assert_narrow(operator, before, "a production Secret's value changing");
    let before = narrow_passes(operator);
    put_secret(&s.client, &prod, "db", FIRST).await;
    ei.wait("the copy no longer a finding", |ei| {
        control_findings(ei, "production-data-restricted").is_empty()
    })
    .await;
    s.wait_until("the cluster report no longer names it", || async {
        !cluster_report_names(&dev, "copy")
    })
    .await;
    assert_narrow(
        operator,
        before,
        "a production Secret's value changing back",
    );

    // (c) A RoleBinding in dev naming a ServiceAccount of another dev namespace (admitted:
    // same environment), whose namespace then moves to production: the binding now lets a
    // production identity act in dev. Only the index of bound identities names dev as
    // concerned by that relabel: found in status and in dev's own report.
    let moving = s.namespace("e2e-ni-dev-2", &[(ENV, "dev")]).await;
    cluster()
        .apply_yaml(&format!(
            "apiVersion: rbac.authorization.k8s.io/v1\nkind: RoleBinding\nmetadata: {{name: prod-reader, namespace: {dev}}}\nroleRef: {{apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: view}}\nsubjects: [{{kind: ServiceAccount, name: app, namespace: {moving}}}]\n"
        ))
        .unwrap();
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert!(!has_report_naming(&dev, "prod-reader"));
    let before = narrow_passes(operator);
    relabel(&s.client, &moving, "prod").await;
    ei.wait("the crossing binding found", |ei| {
        control_findings(ei, "cross-environment-access")
            .iter()
            .any(|f| f.contains("prod-reader"))
    })
    .await;
    s.wait_until("dev's report names the binding", || async {
        has_report_naming(&dev, "prod-reader")
    })
    .await;
    assert_narrow(operator, before, "a namespace moving into production");

    // (d) The attacker's order: a Secret created while its namespace is production (an
    // original, no finding), then the namespace labelled dev at once: judged on the label.
    let before = narrow_passes(operator);
    let late = s.namespace("e2e-ni-late", &[(ENV, "prod")]).await;
    put_secret(&s.client, &late, "twin", FIRST).await;
    relabel(&s.client, &late, "dev").await;
    ei.wait("the relabelled namespace's Secret found as a copy", |ei| {
        control_findings(ei, "production-data-restricted")
            .iter()
            .any(|f| f.contains(&format!("{late}/twin")))
    })
    .await;
    assert_narrow(operator, before, "a namespace labelled after its Secret");

    // The other namespaces' isolation policies were never rewritten.
    assert_eq!(policy_versions(&s.client, &all).await, versions);
    // The engine's periodic check (every few seconds here) saw no divergence.
    tokio::time::sleep(Duration::from_secs(3)).await;
    operator.assert_engine_never_diverged("isolation handled by narrow passes");
}
