//! A tenant of a non-production namespace (namespace-editor rights, plus read of its own
//! PolicyReports and events) tries to use copied-Secret detection as an oracle: it stores
//! guesses of production values and watches what it can read for a sign that one matched.
//! Also: copied means secret material (a shared username is no copy), and the offline audit
//! reads YAML merge keys and aliases as kubectl does.

use crate::environment_isolation::{
    DeleteOnDrop, apply_isolation, config_map, delete_isolation, environment, wait_control,
};
use crate::support::*;
use baseline_operator::audit::AuditReport;
use k8s_openapi::api::core::v1::Secret;
use kube::Client;
use kube::api::{Api, DeleteParams, PostParams};
use serde_json::{Value, json};
use std::collections::BTreeMap;
use std::path::Path;
use std::process::Command;

const BIN: &str = env!("CARGO_BIN_EXE_baseline-operator");
const TENANT: &str = "tenant@example.com";

fn spec(key: &str) -> Value {
    json!({
        "mode": "Audit",
        "environments": [environment(key, "prod", true), environment(key, "dev", false)],
        "productionData": {"productionValues": ["production"], "detectCopiedSecrets": true},
    })
}

async fn create_secret(client: &Client, ns: &str, name: &str, data: &[(&str, &str)]) {
    let api: Api<Secret> = Api::namespaced(client.clone(), ns);
    let _ = api.delete(name, &DeleteParams::default()).await;
    let data: BTreeMap<&str, &str> = data.iter().copied().collect();
    let secret: Secret =
        serde_json::from_value(json!({"metadata": {"name": name}, "stringData": data})).unwrap();
    api.create(&PostParams::default(), &secret).await.unwrap();
}

/// The tenant's rights in `ns`: the built-in `edit` role (namespace editor) and read of the
/// PolicyReports and events there, as a tenant is given to see its own findings.
fn grant_tenant(ns: &str) {
    let yaml = format!(
        r#"apiVersion: rbac.authorization.k8s.io/v1
kind: RoleBinding
metadata: {{name: tenant-edit, namespace: {ns}}}
roleRef: {{apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: edit}}
subjects: [{{apiGroup: rbac.authorization.k8s.io, kind: User, name: "{TENANT}"}}]
---
apiVersion: rbac.authorization.k8s.io/v1
kind: Role
metadata: {{name: tenant-reports, namespace: {ns}}}
rules:
  - {{apiGroups: [wgpolicyk8s.io], resources: [policyreports], verbs: [get, list, watch]}}
  - {{apiGroups: [""], resources: [events], verbs: [get, list, watch]}}
  - {{apiGroups: [events.k8s.io], resources: [events], verbs: [get, list, watch]}}
---
apiVersion: rbac.authorization.k8s.io/v1
kind: RoleBinding
metadata: {{name: tenant-reports, namespace: {ns}}}
roleRef: {{apiGroup: rbac.authorization.k8s.io, kind: Role, name: tenant-reports}}
subjects: [{{apiGroup: rbac.authorization.k8s.io, kind: User, name: "{TENANT}"}}]
"#
    );
    cluster().apply_yaml(&yaml).unwrap();
}

/// kubectl as the tenant.
fn as_tenant(args: &[&str]) -> std::process::Output {
    let mut all = vec!["--as", TENANT];
    all.extend_from_slice(args);
    cluster().kubectl(&all)
}

/// What the tenant reads in its namespace: every PolicyReport (summary and results) and every
/// event (reason, note, object), in a stable order.
fn tenant_view(ns: &str) -> Value {
    let read = |kind: &str| -> Value {
        let out = as_tenant(&["get", kind, "-n", ns, "-o", "json"]);
        assert!(
            out.status.success(),
            "the tenant reads {kind}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        serde_json::from_slice(&out.stdout).unwrap()
    };
    let reports: Vec<Value> = read("policyreports.wgpolicyk8s.io")["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            json!([
                r["metadata"]["name"],
                r["metadata"]["labels"],
                r["metadata"]["annotations"],
                r["summary"],
                r["results"]
            ])
        })
        .collect();
    let mut events: Vec<Value> = read("events")["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| {
            json!([
                e["reason"],
                e["message"],
                e["involvedObject"]["kind"],
                e["involvedObject"]["name"]
            ])
        })
        .collect();
    events.sort_by_key(|e| e.to_string());
    json!({"reports": reports, "events": events})
}

/// A tenant stores a guess that matches a production password. Everything it can read in its
/// namespace (PolicyReports with their counts, events, the Secret itself) is the same as for a
/// guess that does not match; the match is in the EnvironmentIsolation's status and the
/// ClusterPolicyReport, which the tenant cannot read.
#[tokio::test]
async fn a_tenant_cannot_learn_which_guess_matches_a_production_secret() {
    let s = Scenario::start().await;
    let key = "oracle-env";
    let (prod, dev) = ("oracle-prod", "oracle-dev");
    s.namespace(prod, &[(key, "prod")]).await;
    s.namespace(dev, &[(key, "dev")]).await;
    grant_tenant(dev);
    let password = "Or4cle-pr0d-Passw0rd-5e1b";
    create_secret(
        &s.client,
        prod,
        "db",
        &[("username", "payments"), ("password", password)],
    )
    .await;
    // A finding of its own in dev, so that the tenant's namespace has a report to watch.
    cluster()
        .apply_yaml(&config_map(dev, "rows", true, ""))
        .unwrap();
    let guess = |name: &str, value: &str| {
        format!(
            "apiVersion: v1\nkind: Secret\nmetadata: {{name: {name}, namespace: {dev}}}\nstringData: {{password: {value}}}\n"
        )
    };
    let created = as_tenant_create(&guess("guess-miss", "Or4cle-wrong-Guess-0000"));
    assert!(created, "the tenant creates Secrets in its namespace");

    let name = "e2e-secret-oracle";
    let _cleanup = DeleteOnDrop("environmentisolation", name.to_string());
    let api = apply_isolation(&s.client, name, spec(key)).await;
    wait_control(
        &api,
        name,
        "production-data-restricted",
        "the ConfigMap found",
        |c| {
            c.failed == 1
                && c.findings
                    .iter()
                    .any(|f| f.contains("ConfigMap oracle-dev/rows"))
        },
    )
    .await;
    s.wait_until("the tenant's report lists the ConfigMap", || {
        let view = tenant_view(dev);
        async move {
            view["reports"]
                .to_string()
                .contains("ConfigMap oracle-dev/rows")
        }
    })
    .await;
    settle_writes().await;
    let before = tenant_view(dev);

    assert!(as_tenant_create(&guess("guess-hit", password)));
    let view = wait_control(
        &api,
        name,
        "production-data-restricted",
        "the copy found",
        |c| c.failed == 2,
    )
    .await;
    let findings = view.findings.join("\n");
    assert!(
        findings.contains("Secret oracle-dev/guess-hit holds a value of a production Secret under key `password` (copied from production Secret oracle-prod/db key `password`)"),
        "the cluster-scoped status names the copy: {findings}"
    );
    assert!(!findings.contains("guess-miss"), "{findings}");
    settle_writes().await;
    let after = tenant_view(dev);
    assert_eq!(
        before, after,
        "what the tenant reads in its namespace changed when a guess matched production"
    );
    let everywhere = cluster().kubectl_ok(&["get", "events", "-A", "-o", "json"]);
    assert!(
        !everywhere.contains("guess-hit"),
        "no event anywhere names the matching guess"
    );
    // The Secret itself carries no mark of the match.
    let secret: Value = serde_json::from_slice(
        &as_tenant(&["get", "secret", "guess-hit", "-n", dev, "-o", "json"]).stdout,
    )
    .unwrap();
    assert!(
        secret["metadata"].get("labels").is_none()
            && secret["metadata"].get("annotations").is_none(),
        "{secret}"
    );

    // Where the match is told, the tenant cannot read.
    let cluster_report = cluster().kubectl_ok(&[
        "get",
        "clusterpolicyreport",
        &format!("ei-{name}"),
        "-o",
        "json",
    ]);
    assert!(
        cluster_report.contains("Secret oracle-dev/guess-hit holds a value of a production Secret"),
        "{cluster_report}"
    );
    assert!(!cluster_report.contains(password));
    for args in [
        vec!["get", "environmentisolation", name],
        vec!["get", "clusterpolicyreport", &format!("ei-{name}")],
        vec!["get", "events", "-n", "default"],
    ] {
        let out = as_tenant(&args);
        assert!(
            !out.status.success() && String::from_utf8_lossy(&out.stderr).contains("Forbidden"),
            "the tenant must not read {args:?}"
        );
    }
    delete_isolation(&api, name).await;
}

/// Creates `yaml` as the tenant (`create`, not `apply`, which would copy the value into an
/// annotation); whether it was admitted.
fn as_tenant_create(yaml: &str) -> bool {
    cluster()
        .kubectl_stdin(&["--as", TENANT, "create", "-f", "-"], yaml)
        .status
        .success()
}

/// Copied means secret material: a production password in a dev Secret is found; a dev Secret
/// that only shares the username and host with production, or is a whole copy of a production
/// Secret holding nothing else, is not.
#[tokio::test]
async fn a_copied_password_is_found_a_shared_username_is_not() {
    let s = Scenario::start().await;
    let key = "material-env";
    let (prod, dev) = ("material-prod", "material-dev");
    s.namespace(prod, &[(key, "prod")]).await;
    s.namespace(dev, &[(key, "dev")]).await;
    let password = "M4terial-pr0d-Passw0rd-9c2d";
    let shared = [("username", "payments"), ("host", "payments-db.prod.svc")];
    create_secret(
        &s.client,
        prod,
        "db",
        &[shared[0], shared[1], ("password", password)],
    )
    .await;
    create_secret(&s.client, prod, "config", &shared).await;
    create_secret(
        &s.client,
        dev,
        "shares-username",
        &[shared[0], ("host", "payments-db.dev.svc")],
    )
    .await;
    create_secret(&s.client, dev, "config", &shared).await;
    let name = "e2e-secret-material";
    let _cleanup = DeleteOnDrop("environmentisolation", name.to_string());
    let api = apply_isolation(&s.client, name, spec(key)).await;
    wait_control(
        &api,
        name,
        "production-data-restricted",
        "evaluated",
        |_| true,
    )
    .await;
    // Created last, so that the evaluation that finds it has seen the others.
    create_secret(&s.client, dev, "app", &[("DB_PASS", password), shared[0]]).await;
    let view = wait_control(
        &api,
        name,
        "production-data-restricted",
        "the copy found",
        |c| c.findings.iter().any(|f| f.contains("material-dev/app")),
    )
    .await;
    assert_eq!(
        view.findings,
        [
            "Secret material-dev/app: Secret material-dev/app holds a value of a production Secret under key `DB_PASS` (copied from production Secret material-prod/db key `password`)"
        ],
        "only the copied password is production data"
    );
    assert_eq!(view.failed, 1);
    delete_isolation(&api, name).await;
}

/// The audit judges what kubectl sends: a `hostNetwork` set through a merge key, a privileged
/// container merged from an alias, and keys merged before or after others, each as the real
/// kubectl resolves the same file.
#[test]
fn the_audit_reads_merge_keys_and_aliases_as_kubectl_does() {
    let fixture = Path::new(REPO).join("tests/fixtures/audit/yaml-merge");
    let manifests = fixture.join("manifests/pods.yaml");
    let out = Command::new(BIN)
        .arg("audit")
        .arg("--baselines")
        .arg(fixture.join("baselines"))
        .arg("--manifests")
        .arg(&manifests)
        .args(["--output", "json"])
        .output()
        .expect("running baseline-operator audit");
    let report: AuditReport = serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!(
            "audit printed no JSON report ({e}); stderr: {}",
            String::from_utf8_lossy(&out.stderr)
        )
    });
    let hardening = report.resources[0]
        .controls
        .iter()
        .find(|c| c.id.as_str() == "workload-hardening")
        .unwrap();
    let mut flagged: Vec<&str> = hardening.findings.iter().map(|f| f.name.as_str()).collect();
    flagged.dedup();

    // What kubectl sends for the same file: one JSON object per object it would create.
    let printed = cluster().kubectl_ok(&[
        "create",
        "--dry-run=client",
        "-o",
        "json",
        "-f",
        manifests.to_str().unwrap(),
    ]);
    let sent: Vec<Value> = serde_json::Deserializer::from_str(&printed)
        .into_iter::<Value>()
        .collect::<Result<_, _>>()
        .unwrap();
    let mut host_access = Vec::new();
    for pod in &sent {
        if pod["kind"] != "Pod" {
            continue;
        }
        let spec = &pod["spec"];
        assert!(!spec.to_string().contains("<<"), "kubectl resolved {pod}");
        let privileged = spec["containers"]
            .as_array()
            .unwrap()
            .iter()
            .any(|c| c["securityContext"]["privileged"] == true);
        if spec["hostNetwork"] == true || spec["hostPID"] == true || privileged {
            host_access.push(pod["metadata"]["name"].as_str().unwrap());
        }
    }
    assert!(host_access.contains(&"merged"), "kubectl sends {printed}");
    assert!(host_access.contains(&"aliased") && host_access.contains(&"merged-list"));
    assert!(!host_access.contains(&"overridden") && !host_access.contains(&"clean"));
    host_access.sort();
    flagged.sort();
    assert_eq!(
        flagged, host_access,
        "the audit flags exactly the pods kubectl would create with host access"
    );
}
