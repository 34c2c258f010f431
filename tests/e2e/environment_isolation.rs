//! EnvironmentIsolation against the real API server: segregation policies, production data,
//! cross-environment access, protected labels, and no Secret material anywhere.

use crate::support::*;
use baseline_operator::api::{ControlState, EnvironmentIsolation};
use k8s_openapi::api::core::v1::Secret;
use k8s_openapi::api::networking::v1::NetworkPolicy;
use kube::Client;
use kube::api::{Api, DeleteParams, PostParams};
use serde_json::{Value, json};
use std::time::Duration;

const TIMEOUT: Duration = Duration::from_secs(30);
/// A value no test or system object would contain by accident.
const SECRET_VALUE: &str = "pr0d-db-password-4f7c1e9a";

async fn apply_isolation(client: &Client, name: &str, spec: Value) -> Api<EnvironmentIsolation> {
    apply_cr(client, name, spec).await
}

fn spec(mode: &str) -> Value {
    let env = |name: &str, production: bool| json!({"name": name, "production": production, "namespaceSelector": {"matchLabels": {"e2e-env": name}}});
    json!({
        "mode": mode,
        "environments": [env("prod", true), env("stage", false), env("dev", false)],
        "allowedFlows": [{"from": "stage", "to": "prod", "ports": [{"port": 443}]}],
        "productionData": {"productionValues": ["production", "personal"], "detectCopiedSecrets": true},
        "access": {"denyCrossEnvironmentBindings": true},
        "protectEnvironmentLabels": {"allowedUsers": ["platform-lead"], "allowedGroups": ["platform-admins"]},
    })
}

async fn isolation_policy(client: &Client, ns: &str) -> Option<NetworkPolicy> {
    let api: Api<NetworkPolicy> = Api::namespaced(client.clone(), ns);
    api.get_opt("ei-e2e-isolation-isolation").await.unwrap()
}

async fn secret(client: &Client, ns: &str, name: &str, value: &str) {
    let api: Api<Secret> = Api::namespaced(client.clone(), ns);
    let _ = api.delete(name, &DeleteParams::default()).await;
    let s: Secret = serde_json::from_value(
        json!({"metadata": {"name": name}, "stringData": {"password": value}}),
    )
    .unwrap();
    api.create(&PostParams::default(), &s).await.unwrap();
}

async fn findings(
    api: &Api<EnvironmentIsolation>,
    id: &str,
) -> (Option<ControlState>, Vec<String>) {
    let ei = api.get("e2e-isolation").await.unwrap();
    let Some(status) = ei.status else {
        return (None, vec![]);
    };
    match status.controls.iter().find(|c| c.id.as_str() == id) {
        Some(c) => (
            Some(c.state),
            c.findings
                .iter()
                .map(|f| {
                    format!(
                        "{} {}/{}: {}",
                        f.kind,
                        f.namespace.clone().unwrap_or_default(),
                        f.name,
                        f.message
                    )
                })
                .collect(),
        ),
        None => (None, vec![]),
    }
}

#[tokio::test]
async fn environments_are_segregated_and_production_data_stays_in_production() {
    let _serial = serial().await;
    operator();
    let client = client().await;
    for (ns, env) in [
        ("e2e-prod-a", "prod"),
        ("e2e-prod-b", "prod"),
        ("e2e-stage-a", "stage"),
        ("e2e-stage-b", "stage"),
        ("e2e-dev-a", "dev"),
        ("e2e-dev-b", "dev"),
    ] {
        namespace(&client, ns, &[("e2e-env", env)]).await;
    }
    secret(&client, "e2e-prod-a", "db", SECRET_VALUE).await;
    secret(&client, "e2e-dev-a", "db", SECRET_VALUE).await;
    secret(&client, "e2e-dev-b", "db", "a-different-dev-password").await;
    let api = apply_isolation(&client, "e2e-isolation", spec("Enforce")).await;

    // Network: each namespace admits its own environment, plus stage -> prod on 443.
    wait_until(
        "isolation policies in all six namespaces",
        TIMEOUT,
        || async {
            let mut all = true;
            for ns in [
                "e2e-prod-a",
                "e2e-prod-b",
                "e2e-stage-a",
                "e2e-stage-b",
                "e2e-dev-a",
                "e2e-dev-b",
            ] {
                all &= isolation_policy(&client, ns).await.is_some();
            }
            all
        },
    )
    .await;
    let peers = |p: NetworkPolicy| -> Vec<(Value, Value)> {
        p.spec
            .unwrap()
            .ingress
            .unwrap()
            .into_iter()
            .map(|rule| {
                let from = serde_json::to_value(rule.from.unwrap_or_default()).unwrap();
                let ports = serde_json::to_value(rule.ports.unwrap_or_default()).unwrap();
                (from, ports)
            })
            .collect()
    };
    let prod = peers(isolation_policy(&client, "e2e-prod-b").await.unwrap());
    assert_eq!(
        prod,
        vec![
            (
                json!([{"namespaceSelector": {"matchLabels": {"e2e-env": "prod"}}}]),
                json!([])
            ),
            (
                json!([{"namespaceSelector": {"matchLabels": {"e2e-env": "stage"}}}]),
                json!([{"port": 443, "protocol": "TCP"}])
            ),
        ]
    );
    let dev = peers(isolation_policy(&client, "e2e-dev-a").await.unwrap());
    assert_eq!(
        dev,
        vec![(
            json!([{"namespaceSelector": {"matchLabels": {"e2e-env": "dev"}}}]),
            json!([])
        )]
    );
    let policy = isolation_policy(&client, "e2e-dev-a").await.unwrap();
    assert_eq!(
        policy.spec.unwrap().policy_types,
        Some(vec!["Ingress".to_string()])
    );

    // Copied Secret: a finding naming both objects; a different Secret of the same name is not.
    wait_until("copied secret found", TIMEOUT, || async {
        let (_, f) = findings(&api, "production-data-restricted").await;
        f.iter()
            .any(|f| f.contains("Secret e2e-dev-a/db") && f.contains("e2e-prod-a/db"))
    })
    .await;
    let (state, f) = findings(&api, "production-data-restricted").await;
    assert_eq!(state, Some(ControlState::Fail));
    assert!(!f.iter().any(|f| f.contains("e2e-dev-b/db")), "{f:?}");

    // Admission: classified data in dev, dev identities in prod.
    let cm = "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: customers, namespace: e2e-dev-b, labels: {data.baseline.dev/classification: production}}\ndata: {rows: '1'}\n";
    wait_until("classified ConfigMap in dev rejected", TIMEOUT, || {
        let rejected = cluster().rejects(cm, "production-data-restricted");
        async move { rejected }
    })
    .await;
    let binding = "apiVersion: rbac.authorization.k8s.io/v1\nkind: RoleBinding\nmetadata: {name: dev-deployer, namespace: e2e-prod-a}\nroleRef: {apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: view}\nsubjects: [{kind: ServiceAccount, name: deployer, namespace: e2e-dev-a}]\n";
    wait_until("dev ServiceAccount bound in prod rejected", TIMEOUT, || {
        let rejected = cluster().rejects(binding, "cross-environment-access");
        async move { rejected }
    })
    .await;

    // Protected labels: an ordinary user (allowed by RBAC to patch namespaces) cannot move dev
    // into production; a listed admin group can.
    cluster().apply_yaml("apiVersion: rbac.authorization.k8s.io/v1\nkind: ClusterRole\nmetadata: {name: e2e-namespace-editor}\nrules: [{apiGroups: [''], resources: [namespaces], verbs: [get, patch, update]}]\n---\napiVersion: rbac.authorization.k8s.io/v1\nkind: ClusterRoleBinding\nmetadata: {name: e2e-namespace-editor}\nroleRef: {apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: e2e-namespace-editor}\nsubjects: [{kind: User, name: tenant, apiGroup: rbac.authorization.k8s.io}, {kind: Group, name: platform-admins, apiGroup: rbac.authorization.k8s.io}]\n").unwrap();
    wait_until("tenant relabel rejected", TIMEOUT, || {
        let out = cluster().kubectl(&[
            "label",
            "--overwrite",
            "ns",
            "e2e-dev-b",
            "e2e-env=prod",
            "--as=tenant",
        ]);
        let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
        async move { !out.status.success() && stderr.contains("[environment-segregation]") }
    })
    .await;
    cluster().kubectl_ok(&[
        "label",
        "--overwrite",
        "ns",
        "e2e-dev-b",
        "e2e-env=prod",
        "--as=admin-alice",
        "--as-group=platform-admins",
    ]);
    cluster().kubectl_ok(&[
        "label",
        "--overwrite",
        "ns",
        "e2e-dev-b",
        "e2e-env=dev",
        "--as=admin-alice",
        "--as-group=platform-admins",
    ]);

    // No Secret value or digest anywhere: status, events, logs (debug), reports.
    let status = serde_json::to_string(&api.get("e2e-isolation").await.unwrap().status).unwrap();
    let events = cluster().kubectl_ok(&["get", "events", "-A", "-o", "json"]);
    let reports = String::from_utf8_lossy(
        &cluster()
            .kubectl(&["get", "policyreports", "-A", "-o", "json"])
            .stdout,
    )
    .into_owned();
    let logs = logs();
    assert!(
        logs.contains("e2e-isolation"),
        "the in-process operator's debug logs were not captured"
    );
    let encoded = base64_of(SECRET_VALUE);
    for (place, text) in [
        ("status", &status),
        ("events", &events),
        ("logs", &logs),
        ("reports", &reports),
    ] {
        assert!(!text.contains(SECRET_VALUE), "secret value in {place}");
        assert!(!text.contains(&encoded), "base64 secret value in {place}");
        assert!(
            !has_hex_digest(text),
            "something shaped like a digest in {place}"
        );
    }

    let _ = api.delete("e2e-isolation", &DeleteParams::default()).await;
    wait_until("isolation deleted", TIMEOUT, || async {
        api.get_opt("e2e-isolation").await.unwrap().is_none()
    })
    .await;
    for ns in [
        "e2e-prod-a",
        "e2e-prod-b",
        "e2e-stage-a",
        "e2e-stage-b",
        "e2e-dev-a",
        "e2e-dev-b",
    ] {
        assert!(
            isolation_policy(&client, ns).await.is_none(),
            "policy left in {ns}"
        );
    }
}

fn base64_of(text: &str) -> String {
    const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let bytes = text.as_bytes();
    let mut out = String::new();
    for chunk in bytes.chunks(3) {
        let b = [
            chunk[0],
            *chunk.get(1).unwrap_or(&0),
            *chunk.get(2).unwrap_or(&0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(ALPHABET[((n >> (18 - 6 * i)) & 63) as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}

/// A run of 64 hex digits: what a leaked SHA-256 digest would look like.
fn has_hex_digest(text: &str) -> bool {
    let mut run = 0;
    for c in text.chars() {
        run = if c.is_ascii_hexdigit() { run + 1 } else { 0 };
        if run >= 64 {
            return true;
        }
    }
    false
}
