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

pub(crate) async fn apply_isolation(
    client: &Client,
    name: &str,
    spec: Value,
) -> Api<EnvironmentIsolation> {
    apply_cr(client, name, spec).await
}

/// One environment selected by `key=<name>`.
pub(crate) fn environment(key: &str, name: &str, production: bool) -> Value {
    json!({"name": name, "production": production, "namespaceSelector": {"matchLabels": {key: name}}})
}

/// One control of an EnvironmentIsolation's status, as an auditor reads it.
#[derive(Debug)]
pub(crate) struct ControlView {
    pub state: ControlState,
    pub failed: i32,
    pub exempted: i32,
    pub findings: Vec<String>,
}

/// The control `id` of `name`, once the status reflects the current generation.
pub(crate) async fn control_view(
    api: &Api<EnvironmentIsolation>,
    name: &str,
    id: &str,
) -> Option<ControlView> {
    let ei = api.get(name).await.ok()?;
    let status = ei.status?;
    if status.observed_generation != ei.metadata.generation {
        return None;
    }
    let c = status.controls.iter().find(|c| c.id.as_str() == id)?;
    Some(ControlView {
        state: c.state,
        failed: c.failed,
        exempted: c.exempted,
        findings: c
            .findings
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
    })
}

/// Waits until control `id` of `name` satisfies `check`; returns it.
pub(crate) async fn wait_control(
    api: &Api<EnvironmentIsolation>,
    name: &str,
    id: &str,
    what: &str,
    check: impl Fn(&ControlView) -> bool,
) -> ControlView {
    let mut last = None;
    let deadline = std::time::Instant::now() + TIMEOUT;
    loop {
        if let Some(view) = control_view(api, name, id).await {
            if check(&view) {
                return view;
            }
            last = Some(view);
        }
        assert!(
            std::time::Instant::now() < deadline,
            "timed out waiting for {id}: {what}; last seen: {last:?}"
        );
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}

/// Deletes the EnvironmentIsolation and waits until it and its admission policies are gone,
/// so that the next test starts from a cluster without them.
pub(crate) async fn delete_isolation(api: &Api<EnvironmentIsolation>, name: &str) {
    let _ = api.delete(name, &DeleteParams::default()).await;
    wait_until("isolation deleted", TIMEOUT, || async {
        api.get_opt(name).await.unwrap().is_none()
    })
    .await;
    let prefix = format!("validatingadmissionpolicy.admissionregistration.k8s.io/ei-{name}-");
    wait_until("its admission policies deleted", TIMEOUT, || async {
        !cluster()
            .kubectl_ok(&["get", "validatingadmissionpolicies", "-o", "name"])
            .contains(&prefix)
    })
    .await;
    tokio::time::sleep(POLICY_SETTLE).await;
}

/// Deletes a cluster-scoped object when dropped, also when the test fails: a custom resource
/// left behind in Enforce mode would reject what later tests create.
pub(crate) struct DeleteOnDrop(pub &'static str, pub String);

impl Drop for DeleteOnDrop {
    fn drop(&mut self) {
        cluster().kubectl(&[
            "delete",
            self.0,
            &self.1,
            "--ignore-not-found",
            "--timeout=60s",
        ]);
        if self.0 == "environmentisolation" {
            // Its admission policies go with it (garbage collection): wait for them, so the
            // next test does not meet them.
            let prefix = format!(
                "validatingadmissionpolicy.admissionregistration.k8s.io/ei-{}-",
                self.1
            );
            let deadline = std::time::Instant::now() + Duration::from_secs(30);
            while std::time::Instant::now() < deadline
                && cluster()
                    .kubectl_ok(&["get", "validatingadmissionpolicies", "-o", "name"])
                    .contains(&prefix)
            {
                std::thread::sleep(Duration::from_millis(250));
            }
        }
        if self.0 == "environmentisolation" || self.0.starts_with("validatingadmissionpolic") {
            std::thread::sleep(POLICY_SETTLE);
        }
    }
}

/// How long the API server's admission plugin may take to stop enforcing a deleted policy (its
/// informer sees the deletion); later tests must not meet it.
const POLICY_SETTLE: Duration = Duration::from_secs(2);

/// Applies `yaml`, which this test expects admitted, retrying while an admission policy of an
/// earlier test still refuses it: a deleted ValidatingAdmissionPolicy stays in force until the
/// API server's admission plugin sees the deletion, and since a namespace in no environment is
/// judged (an environment of its own for access, non-production for data), a lingering policy
/// of another test's EnvironmentIsolation refuses this test's objects too.
pub(crate) async fn apply_admitted(yaml: &str) {
    let mut last = String::new();
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    while std::time::Instant::now() < deadline {
        match cluster().apply_yaml(yaml) {
            Ok(_) => return,
            Err(e) => last = e,
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    panic!(
        "never admitted: {last}
{yaml}"
    );
}

/// Whether creating `yaml` is admitted; an admitted object is deleted again.
pub(crate) fn admitted(yaml: &str) -> bool {
    match cluster().apply_yaml(yaml) {
        Ok(_) => {
            cluster().kubectl_stdin(&["delete", "--wait", "-f", "-"], yaml);
            true
        }
        Err(_) => false,
    }
}

/// A ConfigMap in `ns`, classified `production` when `classified`, with extra labels.
pub(crate) fn config_map(ns: &str, name: &str, classified: bool, labels: &str) -> String {
    let mut all: Vec<&str> = Vec::new();
    if classified {
        all.push("data.baseline.dev/classification: production");
    }
    if !labels.is_empty() {
        all.push(labels);
    }
    format!(
        "apiVersion: v1\nkind: ConfigMap\nmetadata: {{name: {name}, namespace: {ns}, labels: {{{}}}}}\ndata: {{rows: '1'}}\n",
        all.join(", ")
    )
}

/// A RoleBinding in `ns` (or a ClusterRoleBinding when `ns` is None) granting `view` to one
/// subject, given as a YAML flow mapping.
pub(crate) fn binding(ns: Option<&str>, name: &str, subject: &str, labels: &str) -> String {
    let (kind, namespace) = match ns {
        Some(ns) => ("RoleBinding", format!(", namespace: {ns}")),
        None => ("ClusterRoleBinding", String::new()),
    };
    format!(
        "apiVersion: rbac.authorization.k8s.io/v1\nkind: {kind}\nmetadata: {{name: {name}{namespace}, labels: {{{labels}}}}}\nroleRef: {{apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: view}}\nsubjects: [{subject}]\n"
    )
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
    let s = Scenario::start().await;
    for (ns, env) in [
        ("e2e-prod-a", "prod"),
        ("e2e-prod-b", "prod"),
        ("e2e-stage-a", "stage"),
        ("e2e-stage-b", "stage"),
        ("e2e-dev-a", "dev"),
        ("e2e-dev-b", "dev"),
    ] {
        s.namespace(ns, &[("e2e-env", env)]).await;
    }
    let _cleanup = DeleteOnDrop("environmentisolation", "e2e-isolation".into());
    secret(&s.client, "e2e-prod-a", "db", SECRET_VALUE).await;
    secret(&s.client, "e2e-dev-a", "db", SECRET_VALUE).await;
    secret(&s.client, "e2e-dev-b", "db", "a-different-dev-password").await;
    let api = apply_isolation(&s.client, "e2e-isolation", spec("Enforce")).await;

    // Network: each namespace admits its own environment, plus stage -> prod on 443.
    s.wait_until("isolation policies in all six namespaces", || async {
        let mut all = true;
        for ns in [
            "e2e-prod-a",
            "e2e-prod-b",
            "e2e-stage-a",
            "e2e-stage-b",
            "e2e-dev-a",
            "e2e-dev-b",
        ] {
            all &= isolation_policy(&s.client, ns).await.is_some();
        }
        all
    })
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
    let prod = peers(isolation_policy(&s.client, "e2e-prod-b").await.unwrap());
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
    let dev = peers(isolation_policy(&s.client, "e2e-dev-a").await.unwrap());
    assert_eq!(
        dev,
        vec![(
            json!([{"namespaceSelector": {"matchLabels": {"e2e-env": "dev"}}}]),
            json!([])
        )]
    );
    let policy = isolation_policy(&s.client, "e2e-dev-a").await.unwrap();
    assert_eq!(
        policy.spec.unwrap().policy_types,
        Some(vec!["Ingress".to_string()])
    );

    // Copied Secret: a finding naming both objects; a different Secret of the same name is not.
    s.wait_until("copied secret found", || async {
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
    s.wait_until("classified ConfigMap in dev rejected", || {
        let rejected = cluster().rejects(cm, "production-data-restricted");
        async move { rejected }
    })
    .await;
    let binding = "apiVersion: rbac.authorization.k8s.io/v1\nkind: RoleBinding\nmetadata: {name: dev-deployer, namespace: e2e-prod-a}\nroleRef: {apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: view}\nsubjects: [{kind: ServiceAccount, name: deployer, namespace: e2e-dev-a}]\n";
    s.wait_until("dev ServiceAccount bound in prod rejected", || {
        let rejected = cluster().rejects(binding, "cross-environment-access");
        async move { rejected }
    })
    .await;

    // Protected labels: an ordinary user (allowed by RBAC to patch namespaces) cannot move dev
    // into production; a listed admin group can.
    cluster().apply_yaml("apiVersion: rbac.authorization.k8s.io/v1\nkind: ClusterRole\nmetadata: {name: e2e-namespace-editor}\nrules: [{apiGroups: [''], resources: [namespaces], verbs: [get, patch, update]}]\n---\napiVersion: rbac.authorization.k8s.io/v1\nkind: ClusterRoleBinding\nmetadata: {name: e2e-namespace-editor}\nroleRef: {apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: e2e-namespace-editor}\nsubjects: [{kind: User, name: tenant, apiGroup: rbac.authorization.k8s.io}, {kind: Group, name: platform-admins, apiGroup: rbac.authorization.k8s.io}]\n").unwrap();
    s.wait_until("tenant relabel rejected", || {
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
    // The ClusterPolicyReport carries the copied Secret's finding (never its value).
    let reports = String::from_utf8_lossy(
        &cluster()
            .kubectl(&[
                "get",
                "policyreports,clusterpolicyreports",
                "-A",
                "-o",
                "json",
            ])
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
    s.wait_until("isolation deleted", || async {
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
            isolation_policy(&s.client, ns).await.is_none(),
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

pub(crate) fn exemption(control: &str, scope: Value, expires: &str) -> Value {
    let mut e =
        json!({"controls": [control], "reason": "e2e", "approvedBy": "ciso", "expires": expires});
    e.as_object_mut()
        .unwrap()
        .extend(scope.as_object().unwrap().clone());
    e
}

/// An instant `seconds` from now, and how exemptions write it.
fn in_seconds(seconds: i64) -> (jiff::Timestamp, String) {
    let at = jiff::Timestamp::now() + jiff::SignedDuration::from_secs(seconds);
    (at, at.strftime("%Y-%m-%dT%H:%M:%SZ").to_string())
}

fn network_policy(ns: &str, name: &str, spec: Value) -> String {
    json!({"apiVersion": "networking.k8s.io/v1", "kind": "NetworkPolicy",
           "metadata": {"name": name, "namespace": ns}, "spec": spec})
    .to_string()
}

/// environment-segregation judges the NetworkPolicies that exist, so Audit mode assesses the
/// cluster; Enforce mode adds the owned isolation that makes it pass. Exemptions waive
/// findings (counted apart) until they expire; they never waive label protection.
#[tokio::test]
async fn segregation_is_assessed_from_existing_network_policies_in_both_modes() {
    let s = Scenario::start().await;
    let key = "e2e-seg-env";
    for (ns, env) in [
        ("seg-prod", "prod"),
        ("seg-stage", "stage"),
        ("seg-dev", "dev"),
    ] {
        s.namespace(ns, &[(key, env)]).await;
    }
    let name = "e2e-segregation";
    let _cleanup = DeleteOnDrop("environmentisolation", name.to_string());
    let spec = |mode: &str| {
        json!({
            "mode": mode,
            "environments": [environment(key, "prod", true), environment(key, "stage", false), environment(key, "dev", false)],
            "allowedFlows": [{"from": "stage", "to": "prod", "ports": [{"port": 443}]}],
            "protectEnvironmentLabels": {"allowedGroups": ["system:masters"]},
            "exemptions": [
                exemption("environment-segregation", json!({"namespaces": ["seg-stage"]}), "2099-01-01"),
                exemption("environment-segregation", json!({"namespaces": ["seg-dev"]}), "2020-01-01"),
            ],
        })
    };
    let id = "environment-segregation";
    let api = apply_isolation(&s.client, name, spec("Audit")).await;

    // Nothing isolates anything: prod and dev fail, stage is waived, the lapsed waiver of dev
    // waives nothing.
    let view = wait_control(&api, name, id, "open namespaces found", |c| {
        c.failed == 2 && c.exempted == 1
    })
    .await;
    assert_eq!(view.state, ControlState::Fail);
    let findings = view.findings.join("\n");
    for ns in ["seg-prod", "seg-dev"] {
        assert!(
            findings.contains(&format!("namespace `{ns}` (environment"))
                && findings.contains("does not isolate ingress"),
            "{findings}"
        );
    }

    // Hand-written default-deny policies isolate every namespace; a declared flow is fine.
    let deny = |ns: &str| {
        network_policy(
            ns,
            "deny-ingress",
            json!({"podSelector": {}, "policyTypes": ["Ingress"]}),
        )
    };
    for ns in ["seg-prod", "seg-stage", "seg-dev"] {
        cluster().apply_yaml(&deny(ns)).unwrap();
    }
    let from = |ns: &str, name: &str, env: &str, ports: Value| {
        network_policy(
            ns,
            name,
            json!({"podSelector": {}, "ingress": [{"from": [{"namespaceSelector": {"matchLabels": {key: env}}}], "ports": ports}]}),
        )
    };
    cluster()
        .apply_yaml(&from(
            "seg-prod",
            "from-stage-https",
            "stage",
            json!([{"port": 443}]),
        ))
        .unwrap();
    wait_control(&api, name, id, "isolated namespaces pass", |c| {
        c.state == ControlState::Pass
    })
    .await;

    // A policy reopening production to dev, and dev to stage (non-production to
    // non-production counts too); the exempted stage opening itself is waived.
    let reopen = [
        from("seg-prod", "from-dev", "dev", json!([])),
        from("seg-dev", "from-stage", "stage", json!([])),
        from("seg-stage", "from-dev", "dev", json!([])),
    ];
    for yaml in &reopen {
        cluster().apply_yaml(yaml).unwrap();
    }
    let view = wait_control(&api, name, id, "reopening policies found", |c| {
        c.failed == 2 && c.exempted == 1
    })
    .await;
    let findings = view.findings.join("\n");
    assert!(
        findings.contains("NetworkPolicy seg-prod/from-dev admits ingress into environment `prod` from other environments through namespaceSelector"),
        "{findings}"
    );
    assert!(
        findings.contains("NetworkPolicy seg-dev/from-stage"),
        "{findings}"
    );
    // Audit mode enforces nothing: relabelling is admitted.
    let relabel = |who: &str| {
        cluster().kubectl(&[
            "label",
            "--overwrite",
            "ns",
            "seg-stage",
            &format!("{key}=prod"),
            who,
            "--dry-run=server",
        ])
    };
    let admitted = relabel("--as=tenant");
    assert!(
        admitted.status.success(),
        "{}",
        String::from_utf8_lossy(&admitted.stderr)
    );

    // Enforce: the owned isolation closes nothing the hand-written policies reopen (policies
    // add up), so the findings stay; removing them passes.
    apply_isolation(&s.client, name, spec("Enforce")).await;
    s.wait_until("owned isolation policies", || async {
        let mut all = true;
        for ns in ["seg-prod", "seg-stage", "seg-dev"] {
            let api: Api<NetworkPolicy> = Api::namespaced(s.client.clone(), ns);
            all &= api
                .get_opt("ei-e2e-segregation-isolation")
                .await
                .unwrap()
                .is_some();
        }
        all
    })
    .await;
    wait_control(&api, name, id, "still reopened", |c| c.failed == 2).await;
    for yaml in reopen
        .iter()
        .chain(["seg-prod", "seg-stage", "seg-dev"].map(deny).iter())
    {
        cluster().kubectl_stdin(&["delete", "-f", "-"], yaml);
    }
    wait_control(&api, name, id, "the owned isolation passes", |c| {
        c.state == ControlState::Pass
    })
    .await;
    // Label protection takes no exemption: stage is exempted, its labels are still protected.
    s.wait_until("relabelling rejected", || {
        let out = relabel("--as=tenant");
        let rejected = !out.status.success()
            && String::from_utf8_lossy(&out.stderr).contains("[environment-segregation]");
        async move { rejected }
    })
    .await;
    cluster().kubectl_stdin(
        &["delete", "--ignore-not-found", "-f", "-"],
        &from(
            "seg-prod",
            "from-stage-https",
            "stage",
            json!([{"port": 443}]),
        ),
    );
    delete_isolation(&api, name).await;
}

/// production-data-restricted in both modes: compliant objects pass and are admitted,
/// violating ones are reported (Audit) and rejected (Enforce), exempted ones are admitted and
/// counted as exempted, and an exemption stops waiving, in status and admission, when it
/// expires.
#[tokio::test]
async fn production_data_is_reported_rejected_exempted_and_expires_in_both_modes() {
    let s = Scenario::start().await;
    let key = "e2e-pdr-env";
    s.namespace("pdr-prod", &[(key, "prod")]).await;
    s.namespace("pdr-dev", &[(key, "dev")]).await;
    let name = "e2e-production-data";
    let _cleanup = DeleteOnDrop("environmentisolation", name.to_string());
    let id = "production-data-restricted";
    let spec = |mode: &str, live_until: &str| {
        json!({
            "mode": mode,
            "environments": [environment(key, "prod", true), environment(key, "dev", false)],
            "productionData": {"productionValues": ["production"]},
            "exemptions": [
                exemption(id, json!({"namespaces": ["pdr-dev"], "selector": {"matchLabels": {"pdr-exempt": "live"}}}), live_until),
                exemption(id, json!({"selector": {"matchLabels": {"pdr-exempt": "lapsed"}}}), "2020-01-01"),
            ],
        })
    };
    let cm = |ns: &str, name: &str, classified: bool, labels: &str| {
        config_map(ns, name, classified, labels)
    };
    let api = apply_isolation(&s.client, name, spec("Audit", "2099-01-01")).await;
    for yaml in [
        cm("pdr-dev", "plain", false, ""),
        cm("pdr-prod", "at-home", true, ""),
        cm("pdr-dev", "violating", true, ""),
        cm("pdr-dev", "waived", true, "pdr-exempt: live"),
        cm("pdr-dev", "lapsed", true, "pdr-exempt: lapsed"),
    ] {
        cluster().apply_yaml(&yaml).unwrap();
    }
    let view = wait_control(&api, name, id, "Audit reports", |c| {
        c.failed == 2 && c.exempted == 1
    })
    .await;
    assert_eq!(view.state, ControlState::Fail);
    let findings = view.findings.join("\n");
    assert!(
        findings.contains("ConfigMap pdr-dev/violating"),
        "{findings}"
    );
    assert!(findings.contains("ConfigMap pdr-dev/lapsed"), "{findings}");
    for yaml in [
        cm("pdr-dev", "violating", true, ""),
        cm("pdr-dev", "lapsed", true, "pdr-exempt: lapsed"),
    ] {
        cluster().kubectl_stdin(&["delete", "-f", "-"], &yaml);
    }
    wait_control(&api, name, id, "only the waived object is left", |c| {
        c.state == ControlState::Exempt && c.failed == 0 && c.exempted == 1
    })
    .await;

    // Enforce, with the live exemption running out shortly.
    let (expiry, until) = in_seconds(45);
    apply_isolation(&s.client, name, spec("Enforce", &until)).await;
    s.wait_until("violating rejected", || {
        let r = cluster().rejects(&cm("pdr-dev", "violating", true, ""), id);
        async move { r }
    })
    .await;
    assert!(cluster().rejects(&cm("pdr-dev", "lapsed", true, "pdr-exempt: lapsed"), id));
    assert!(admitted(&cm(
        "pdr-dev",
        "waived-2",
        true,
        "pdr-exempt: live"
    )));
    assert!(admitted(&cm("pdr-dev", "plain-2", false, "")));
    assert!(admitted(&cm("pdr-prod", "at-home-2", true, "")));
    wait_control(&api, name, id, "Enforce status", |c| {
        c.state == ControlState::Exempt && c.exempted == 1
    })
    .await;

    // The exemption expires: the waived object becomes a finding, and no longer admitted.
    let left = jiff::Timestamp::now().duration_until(expiry);
    tokio::time::sleep(left.unsigned_abs()).await;
    wait_control(
        &api,
        name,
        id,
        "the expired exemption waives nothing",
        |c| c.state == ControlState::Fail && c.failed == 1 && c.exempted == 0,
    )
    .await;
    s.wait_until("exempt-labelled object rejected after expiry", || {
        let r = cluster().rejects(&cm("pdr-dev", "waived-3", true, "pdr-exempt: live"), id);
        async move { r }
    })
    .await;
    delete_isolation(&api, name).await;
    // Classified objects left behind would be findings of every later EnvironmentIsolation:
    // to it these namespaces are in no environment, so non-production.
    for yaml in [
        cm("pdr-prod", "at-home", true, ""),
        cm("pdr-dev", "waived", true, "pdr-exempt: live"),
    ] {
        cluster().kubectl_stdin(&["delete", "-f", "-"], &yaml);
    }
}

/// cross-environment-access in both modes, exemptions included.
#[tokio::test]
async fn cross_environment_access_is_reported_rejected_and_exempted_in_both_modes() {
    let s = Scenario::start().await;
    let key = "e2e-cea-env";
    s.namespace("cea-prod", &[(key, "prod")]).await;
    s.namespace("cea-dev", &[(key, "dev")]).await;
    let name = "e2e-cross-access";
    let _cleanup = DeleteOnDrop("environmentisolation", name.to_string());
    let id = "cross-environment-access";
    let spec = |mode: &str| {
        json!({
            "mode": mode,
            "environments": [environment(key, "prod", true), environment(key, "dev", false)],
            "access": {"denyCrossEnvironmentBindings": true},
            "exemptions": [
                exemption(id, json!({"namespaces": ["cea-prod"], "selector": {"matchLabels": {"cea-exempt": "live"}}}), "2099-01-01"),
                exemption(id, json!({"selector": {"matchLabels": {"cea-exempt": "lapsed"}}}), "2020-01-01"),
            ],
        })
    };
    let dev_sa = "{kind: ServiceAccount, name: ci, namespace: cea-dev}";
    let rb =
        |name: &str, subject: &str, labels: &str| binding(Some("cea-prod"), name, subject, labels);
    let objects = [
        rb(
            "own",
            "{kind: ServiceAccount, name: app, namespace: cea-prod}",
            "",
        ),
        rb("violating", dev_sa, ""),
        rb("waived", dev_sa, "cea-exempt: live"),
        rb("lapsed", dev_sa, "cea-exempt: lapsed"),
    ];
    let api = apply_isolation(&s.client, name, spec("Audit")).await;
    for yaml in &objects {
        apply_admitted(yaml).await;
    }
    let view = wait_control(&api, name, id, "Audit reports", |c| {
        c.failed == 2 && c.exempted == 1
    })
    .await;
    assert_eq!(view.state, ControlState::Fail);
    let findings = view.findings.join("\n");
    assert!(
        findings.contains("RoleBinding cea-prod/violating"),
        "{findings}"
    );
    assert!(
        findings.contains("RoleBinding cea-prod/lapsed"),
        "{findings}"
    );
    for yaml in &objects {
        cluster().kubectl_stdin(&["delete", "-f", "-"], yaml);
    }

    apply_isolation(&s.client, name, spec("Enforce")).await;
    s.wait_until("violating rejected", || {
        let r = cluster().rejects(&objects[1], id);
        async move { r }
    })
    .await;
    assert!(
        cluster().rejects(&objects[3], id),
        "lapsed exemption still waives"
    );
    assert!(admitted(&objects[0]));
    cluster()
        .apply_yaml(&objects[2])
        .expect("exempted binding admitted");
    let view = wait_control(&api, name, id, "exempted binding counted", |c| {
        c.state == ControlState::Exempt && c.exempted == 1
    })
    .await;
    assert_eq!(view.failed, 0);
    cluster().kubectl_stdin(&["delete", "-f", "-"], &objects[2]);
    delete_isolation(&api, name).await;
}

/// A converged EnvironmentIsolation in Enforce mode, every rule on, writes nothing when
/// namespaces change around it: its admission policies name no namespace, and null-valued
/// fields compare equal to absent ones.
#[tokio::test]
async fn converged_isolation_makes_no_writes() {
    use k8s_openapi::api::core::v1::Namespace;
    use kube::api::{Patch, PatchParams};
    let s = Scenario::start().await;
    let operator = operator();
    let key = "e2e-steady-env";
    s.namespace("steady-prod", &[(key, "prod")]).await;
    s.namespace("steady-dev", &[(key, "dev")]).await;
    let name = "e2e-steady";
    let _cleanup = DeleteOnDrop("environmentisolation", name.to_string());
    let api = apply_isolation(
        &s.client,
        name,
        json!({
            "mode": "Enforce",
            "environments": [environment(key, "prod", true), environment(key, "dev", false)],
            "productionData": {"productionValues": ["production"], "detectCopiedSecrets": true},
            "access": {"denyCrossEnvironmentBindings": true, "nonProductionGroups": ["contractors"]},
            "protectEnvironmentLabels": {"allowedGroups": ["system:masters"]},
            "exemptions": [exemption("cross-environment-access", json!({"namespaces": ["steady-prod"]}), "2099-01-01")],
        }),
    )
    .await;
    s.wait_until("policies in place", || async {
        cluster()
            .kubectl_ok(&["get", "validatingadmissionpolicybindings", "-o", "name"])
            .matches("ei-e2e-steady-")
            .count()
            == 4
    })
    .await;
    // Created before the writes settle: a namespace in no environment is judged (it is
    // non-production for production data), so its arrival may change the evidence; relabelling
    // it with a key no selector reads must not.
    let bystander = s.namespace("steady-bystander", &[]).await;
    settle_writes().await;
    let settled = operator.metrics.total_writes();
    let writes_before = operator.metrics.encode();
    let namespaces: Api<Namespace> = Api::all(s.client.clone());
    for round in 0..3 {
        let reconciles = operator.metrics.total_reconciles();
        let touch = json!({"metadata": {"labels": {"e2e-touch": round.to_string()}}});
        namespaces
            .patch(&bystander, &PatchParams::default(), &Patch::Merge(&touch))
            .await
            .unwrap();
        s.wait_until("a full resync ran", || async {
            operator.metrics.total_reconciles() > reconciles
        })
        .await;
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
    assert_eq!(
        operator.metrics.total_writes(),
        settled,
        "a converged resync wrote to the API server\nbefore:\n{writes_before}\nafter:\n{}",
        operator.metrics.encode()
    );
    delete_isolation(&api, name).await;
}
