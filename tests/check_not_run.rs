//! A check the operator cannot perform is never reported as Pass: an EnvironmentIsolation asks
//! for copied-Secret detection while the operator does not read Secrets, either because it
//! runs without `--detect-copied-secrets` or because its RBAC (the Helm chart's, without
//! `copiedSecretDetection`) forbids listing them. The control must say `NotEvaluated`, its
//! condition `Unknown`/`CheckNotRun` with the reason, and `Compliant` must not be True — even
//! though a production Secret really has been copied. Likewise a BackupPolicy whose operator may
//! not list Velero's Backups although Velero's API is served.
//!
//! A test binary of its own (not part of `tests/e2e`): its operators run with other settings
//! than the shared e2e operator, one at a time, and must be the only operator reconciling the
//! cluster. It gets its own control plane unless `BASELINE_TEST_KUBECONFIG` names one; against a
//! shared cluster, do not run it while another operator reconciles the same cluster.

use baseline_operator::api::{BackupPolicy, ControlState, EnvironmentIsolation};
use baseline_operator::controller::RunConfig;
use baseline_test_support::*;
use kube::api::{Api, DeleteParams};
use kube::config::{KubeConfigOptions, Kubeconfig};
use kube::{Client, Config};
use serde_json::{Value, json};
use std::process::Command;
use std::time::Duration;

const TIMEOUT: Duration = Duration::from_secs(60);

/// An in-process operator with its own settings.
async fn start_operator(client: Client, detect_copied_secrets: bool) -> OwnOperator {
    let config = RunConfig {
        detect_copied_secrets,
        ..test_run_config("check-not-run")
    };
    OwnOperator::start(client, config).await
}

/// A production namespace with a Secret, and a development namespace with a copy of it.
async fn copied_secret(client: &Client, prefix: &str) -> (String, String) {
    let prod = namespace(
        client,
        &format!("{prefix}-prod"),
        &[("e2e-nr", prefix), ("env", "production")],
    )
    .await;
    let dev = namespace(
        client,
        &format!("{prefix}-dev"),
        &[("e2e-nr", prefix), ("env", "development")],
    )
    .await;
    for (ns, name) in [(&prod, "db"), (&dev, "db-copy")] {
        cluster()
            .apply_yaml(&format!(
                "apiVersion: v1\nkind: Secret\nmetadata: {{name: {name}, namespace: {ns}}}\nstringData: {{password: e2e-copied-value}}\n"
            ))
            .expect("Secret");
    }
    (prod, dev)
}

fn isolation_spec(prefix: &str, detect: bool) -> Value {
    json!({
        "mode": "Audit",
        "environments": [
            {"name": "production", "production": true, "namespaceSelector": {"matchLabels": {"e2e-nr": prefix, "env": "production"}}},
            {"name": "development", "namespaceSelector": {"matchLabels": {"e2e-nr": prefix, "env": "development"}}},
        ],
        "productionData": {"productionValues": ["production"], "detectCopiedSecrets": detect},
    })
}

/// The status of `production-data-restricted`, its condition and the Compliant condition.
async fn production_data(
    api: &Api<EnvironmentIsolation>,
    name: &str,
) -> Option<(ControlState, Value, Value, Value)> {
    let ei = api.get(name).await.ok()?;
    if ei.status.as_ref()?.observed_generation != ei.metadata.generation {
        return None;
    }
    let status = serde_json::to_value(ei.status?).ok()?;
    let control = status["controls"]
        .as_array()?
        .iter()
        .find(|c| c["id"] == "production-data-restricted")?
        .clone();
    let condition = |type_: &str| {
        status["conditions"]
            .as_array()
            .and_then(|c| c.iter().find(|c| c["type"] == type_))
            .cloned()
            .unwrap_or_default()
    };
    let state = serde_json::from_value(control["state"].clone()).ok()?;
    Some((
        state,
        condition("ProductionDataRestricted"),
        condition("Compliant"),
        status["summary"].clone(),
    ))
}

/// Waits until the control is in state `want` with a condition message containing `says`.
async fn wait_state(
    api: &Api<EnvironmentIsolation>,
    name: &str,
    want: ControlState,
    says: &str,
) -> (Value, Value, Value) {
    let deadline = std::time::Instant::now() + TIMEOUT;
    loop {
        let got = production_data(api, name).await;
        if let Some((state, condition, compliant, summary)) = &got
            && *state == want
            && condition["message"]
                .as_str()
                .is_some_and(|m| m.contains(says))
        {
            return (condition.clone(), compliant.clone(), summary.clone());
        }
        assert!(
            std::time::Instant::now() < deadline,
            "production-data-restricted never became {want:?} saying {says:?}; last: {got:?}"
        );
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}

/// What every not-run check must show, whatever the cause.
fn assert_not_run(condition: &Value, compliant: &Value, summary: &Value, cause: &str) {
    assert_eq!(condition["status"], "Unknown", "{condition}");
    assert_eq!(condition["reason"], "CheckNotRun", "{condition}");
    let message = condition["message"].as_str().unwrap_or_default();
    assert!(
        message
            .starts_with("production-data-restricted was not evaluated: copied-Secret detection: ")
            && message.contains(cause),
        "{message}"
    );
    assert!(!message.contains("e2e-copied-value"), "{message}");
    assert_eq!(compliant["status"], "False", "{compliant}");
    assert!(
        compliant["message"]
            .as_str()
            .is_some_and(|m| m.contains("not evaluated: production-data-restricted")),
        "{compliant}"
    );
    assert_eq!(summary["notEvaluated"], 1, "{summary}");
    assert_eq!(
        summary["notEvaluatedControls"], "production-data-restricted",
        "{summary}"
    );
    assert!(summary["score"].as_i64() < Some(100), "{summary}");
}

async fn delete_isolation(api: &Api<EnvironmentIsolation>, name: &str) {
    let _ = api.delete(name, &DeleteParams::default()).await;
    wait_until("isolation deleted", TIMEOUT, || async {
        api.get_opt(name).await.unwrap().is_none()
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_detect_copied_secrets_the_check_is_not_evaluated() {
    let _serial = serial().await;
    let client = client().await;
    copied_secret(&client, "nr-flag").await;
    let operator = start_operator(client.clone(), false).await;
    let name = "nr-flag";
    let api: Api<EnvironmentIsolation> = apply_cr(&client, name, isolation_spec(name, true)).await;
    let (condition, compliant, summary) = wait_state(
        &api,
        name,
        ControlState::NotEvaluated,
        "--detect-copied-secrets",
    )
    .await;
    assert_not_run(&condition, &compliant, &summary, "--detect-copied-secrets");
    wait_until("a CheckNotRun Warning event", TIMEOUT, || async {
        let events = cluster().kubectl_ok(&[
            "get",
            "events",
            "-A",
            "--field-selector",
            "reason=CheckNotRun",
            "-o",
            "json",
        ]);
        events.contains(name) && events.contains("Warning")
    })
    .await;
    // Not asked for: nothing is missing, and the rest of the control runs.
    apply_cr::<EnvironmentIsolation>(&client, name, isolation_spec(name, false)).await;
    let (condition, _, summary) = wait_state(&api, name, ControlState::Pass, "checked").await;
    assert_eq!(condition["status"], "True", "{condition}");
    assert_eq!(summary.get("notEvaluatedControls"), None, "{summary}");
    delete_isolation(&api, name).await;
    operator.stop().await;
}

/// The Helm chart's ClusterRole as installed without `copiedSecretDetection`, and its Role in
/// Velero's namespace less the rule that lets the operator read Velero Backups and
/// BackupStorageLocations, both bound to `user`.
fn chart_role_without_secret_and_backup_read(user: &str) {
    let home = std::env::temp_dir().join(format!("baseline-not-run-helm-{}", std::process::id()));
    let out = Command::new(cluster().bin.join("helm"))
        .args([
            "template",
            user,
            &format!("{REPO}/charts/baseline-operator"),
            "--show-only",
            "templates/clusterrole.yaml",
            "--show-only",
            "templates/velero-role.yaml",
        ])
        .env("HELM_CONFIG_HOME", home.join("config"))
        .env("HELM_CACHE_HOME", home.join("cache"))
        .env("HELM_DATA_HOME", home.join("data"))
        .output()
        .expect("running the built helm");
    assert!(
        out.status.success(),
        "helm template: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8_lossy(&out.stdout);
    let mut role: Value = text
        .split("\n---")
        .filter_map(|doc| serde_norway::from_str::<Value>(doc).ok())
        .find(|doc| doc["kind"] == "ClusterRole")
        .expect("the chart renders a ClusterRole");
    let rules = serde_json::to_string(&role["rules"]).unwrap();
    assert!(
        !rules.contains("\"secrets\""),
        "the chart's default role reads Secrets: {rules}"
    );
    assert!(
        !rules.contains("velero.io"),
        "Velero rights are a Role in Velero's namespace, not cluster-wide: {rules}"
    );
    role["metadata"] = json!({"name": user});
    let binding = json!({
        "apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRoleBinding",
        "metadata": {"name": user},
        "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": user},
        "subjects": [{"apiGroup": "rbac.authorization.k8s.io", "kind": "User", "name": user}],
    });
    let mut velero_role: Value = text
        .split("\n---")
        .filter_map(|doc| serde_norway::from_str::<Value>(doc).ok())
        .find(|doc| doc["kind"] == "Role")
        .expect("the chart renders a Role in Velero's namespace");
    let velero_reads = json!([
        "backups",
        "backupstoragelocations",
        "volumesnapshotlocations"
    ]);
    let velero_rules = velero_role["rules"].as_array_mut().unwrap();
    let before = velero_rules.len();
    velero_rules.retain(|rule| rule["resources"] != velero_reads);
    assert_eq!(velero_rules.len(), before - 1, "one rule reads Backups");
    velero_role["metadata"] = json!({"name": user, "namespace": "velero"});
    let velero_binding = json!({
        "apiVersion": "rbac.authorization.k8s.io/v1", "kind": "RoleBinding",
        "metadata": {"name": user, "namespace": "velero"},
        "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": user},
        "subjects": [{"apiGroup": "rbac.authorization.k8s.io", "kind": "User", "name": user}],
    });
    // Velero's namespace may not exist yet in this cluster; a second create is refused, fine.
    cluster().kubectl(&["create", "namespace", "velero"]);
    for object in [role, binding, velero_role, velero_binding] {
        cluster()
            .apply_yaml(&serde_json::to_string(&object).unwrap())
            .expect("RBAC");
    }
}

/// A client that acts as `user` (the admin kubeconfig may impersonate).
async fn client_as(user: &str) -> Client {
    let kubeconfig = Kubeconfig::read_from(&cluster().kubeconfig).expect("kubeconfig");
    let mut config = Config::from_custom_kubeconfig(kubeconfig, &KubeConfigOptions::default())
        .await
        .expect("kubeconfig");
    config.auth_info.impersonate = Some(user.into());
    Client::try_from(config).expect("client")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn forbidden_to_list_secrets_the_check_is_not_evaluated() {
    let _serial = serial().await;
    let client = client().await;
    copied_secret(&client, "nr-rbac").await;
    let user = "e2e-operator-without-secret-read";
    chart_role_without_secret_and_backup_read(user);
    let as_operator = client_as(user).await;
    wait_until("the role is in force", TIMEOUT, || {
        let denied = cluster()
            .kubectl(&["auth", "can-i", "list", "secrets", "-A", "--as", user])
            .stdout;
        let allowed = cluster()
            .kubectl(&["auth", "can-i", "list", "pods", "-A", "--as", user])
            .stdout;
        async move { denied.starts_with(b"no") && allowed.starts_with(b"yes") }
    })
    .await;
    // The flag is on, but the identity may not list Secrets.
    let operator = start_operator(as_operator, true).await;
    let name = "nr-rbac";
    let api: Api<EnvironmentIsolation> = apply_cr(&client, name, isolation_spec(name, true)).await;
    let (condition, compliant, summary) = wait_state(
        &api,
        name,
        ControlState::NotEvaluated,
        "Secrets cannot be listed",
    )
    .await;
    assert_not_run(&condition, &compliant, &summary, "Secrets cannot be listed");
    let message = condition["message"].as_str().unwrap_or_default();
    assert!(message.contains("forbidden"), "{message}");

    // Velero's API is served, but its Backups may not be listed: the backup controls did not
    // run, which is neither "no backups" (Fail) nor Pass.
    let policy = "nr-velero";
    namespace(&client, "nr-velero-shop", &[("e2e-nr", policy)]).await;
    let policies: Api<BackupPolicy> = apply_cr(
        &client,
        policy,
        json!({
            "mode": "Audit", "namespaceSelector": {"matchLabels": {"e2e-nr": policy}}, "rpo": "24h",
            "retention": {"min": "720h", "max": "2160h"}, "requireEncryption": true,
        }),
    )
    .await;
    let deadline = std::time::Instant::now() + TIMEOUT;
    let status = loop {
        let status = policies
            .get(policy)
            .await
            .ok()
            .and_then(|bp| serde_json::to_value(bp.status?).ok())
            .unwrap_or_default();
        let states: Vec<&str> = status["controls"]
            .as_array()
            .map(|c| c.iter().filter_map(|c| c["state"].as_str()).collect())
            .unwrap_or_default();
        if states
            == [
                "NotEvaluated",
                "NotEvaluated",
                "NotEvaluated",
                "NotApplicable",
            ]
        {
            break status;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "backup controls never became NotEvaluated; last status: {status}"
        );
        tokio::time::sleep(Duration::from_millis(250)).await;
    };
    let conditions = status["conditions"].as_array().unwrap();
    let find = |t: &str| conditions.iter().find(|c| c["type"] == t).unwrap().clone();
    let ready = find("Ready");
    assert_eq!(
        (ready["status"].as_str(), ready["reason"].as_str()),
        (Some("False"), Some("VeleroForbidden")),
        "{ready}"
    );
    let backup = find("AutomatedBackup");
    assert_eq!(backup["status"], "Unknown", "{backup}");
    assert_eq!(backup["reason"], "CheckNotRun", "{backup}");
    assert!(
        backup["message"]
            .as_str()
            .is_some_and(|m| m.contains("may not list backups")),
        "{backup}"
    );
    assert_eq!(find("Compliant")["status"], "False");
    let _ = policies.delete(policy, &DeleteParams::default()).await;
    wait_until("backup policy deleted", TIMEOUT, || async {
        policies.get_opt(policy).await.unwrap().is_none()
    })
    .await;
    delete_isolation(&api, name).await;
    operator.stop().await;
    for kind in ["clusterrolebinding", "clusterrole"] {
        cluster().kubectl(&["delete", kind, user]);
    }
}
