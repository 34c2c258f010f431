//! The Helm chart in `charts/baseline-operator`: its CRDs are the generated ones, it lints
//! cleanly and renders, and its ClusterRole reads Secrets only when asked to.
//!
//! helm comes from the bin dir in `BASELINE_CLUSTER_BIN`, or else from `tests/cluster/build`
//! (cached; slow only on a cold machine). No cluster is needed.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

fn chart() -> PathBuf {
    root().join("charts/baseline-operator")
}

fn bin_dir() -> &'static Path {
    static BIN: OnceLock<PathBuf> = OnceLock::new();
    BIN.get_or_init(|| {
        if let Some(dir) = std::env::var_os("BASELINE_CLUSTER_BIN") {
            return PathBuf::from(dir);
        }
        let out = Command::new(root().join("tests/cluster/build"))
            .output()
            .expect("running tests/cluster/build");
        assert!(
            out.status.success(),
            "tests/cluster/build failed:\n{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let stdout = String::from_utf8(out.stdout).expect("UTF-8 bin dir");
        PathBuf::from(stdout.lines().last().expect("bin dir line").trim())
    })
}

/// Runs helm with `args`; returns stdout, failing the test with helm's output on error.
fn helm(args: &[&str]) -> String {
    let helm = bin_dir().join("helm");
    let home = std::env::temp_dir().join("baseline-operator-helm-test");
    let out = Command::new(&helm)
        .args(args)
        // Keep helm away from the user's repositories, plugins and cache.
        .env("HELM_CONFIG_HOME", home.join("config"))
        .env("HELM_CACHE_HOME", home.join("cache"))
        .env("HELM_DATA_HOME", home.join("data"))
        .output()
        .unwrap_or_else(|e| panic!("running {}: {e}", helm.display()));
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success(),
        "helm {args:?} failed:\n{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    stdout
}

fn render(extra: &[&str]) -> Vec<serde_norway::Value> {
    let chart = chart();
    let mut args = vec![
        "template",
        "baseline",
        chart.to_str().expect("UTF-8 path"),
        "--namespace",
        "baseline-system",
    ];
    args.extend_from_slice(extra);
    let text = helm(&args);
    serde_norway::Deserializer::from_str(&text)
        .map(|doc| serde::Deserialize::deserialize(doc).expect("rendered YAML parses"))
        .filter(|doc: &serde_norway::Value| !doc.is_null())
        .collect()
}

fn find<'a>(docs: &'a [serde_norway::Value], kind: &str) -> Vec<&'a serde_norway::Value> {
    docs.iter()
        .filter(|d| d["kind"].as_str() == Some(kind))
        .collect()
}

/// Resources the ClusterRole grants any verb on, as `group/resource`.
fn cluster_role_resources(docs: &[serde_norway::Value]) -> Vec<String> {
    let roles = find(docs, "ClusterRole");
    assert_eq!(roles.len(), 1, "exactly one ClusterRole");
    let mut out = Vec::new();
    for rule in roles[0]["rules"].as_sequence().expect("rules") {
        for group in rule["apiGroups"].as_sequence().expect("apiGroups") {
            for resource in rule["resources"].as_sequence().expect("resources") {
                out.push(format!(
                    "{}/{}",
                    group.as_str().unwrap(),
                    resource.as_str().unwrap()
                ));
            }
        }
    }
    out
}

#[test]
fn chart_crds_are_the_generated_crds() {
    let generated = std::fs::read(root().join("crds/crds.yaml")).expect("reading crds/crds.yaml");
    let packaged =
        std::fs::read(chart().join("crds/crds.yaml")).expect("reading the chart's crds/crds.yaml");
    assert!(
        generated == packaged,
        "charts/baseline-operator/crds/crds.yaml differs from crds/crds.yaml: \
         cp crds/crds.yaml charts/baseline-operator/crds/crds.yaml"
    );
}

#[test]
fn chart_lints_strictly() {
    let chart = chart();
    let out = helm(&["lint", chart.to_str().unwrap(), "--strict"]);
    assert!(out.contains("0 chart(s) failed"), "{out}");
}

#[test]
fn chart_renders_a_hardened_deployment() {
    let docs = render(&[]);
    for kind in [
        "ServiceAccount",
        "ClusterRole",
        "ClusterRoleBinding",
        "Deployment",
        "PodDisruptionBudget",
        "Service",
    ] {
        assert_eq!(find(&docs, kind).len(), 1, "one {kind}");
    }
    assert!(
        find(&docs, "ServiceMonitor").is_empty(),
        "no ServiceMonitor by default"
    );
    let deploy = find(&docs, "Deployment")[0];
    assert_eq!(deploy["spec"]["replicas"].as_i64(), Some(2));
    let pod = &deploy["spec"]["template"]["spec"];
    assert_eq!(pod["automountServiceAccountToken"].as_bool(), Some(true));
    assert_eq!(pod["securityContext"]["runAsNonRoot"].as_bool(), Some(true));
    let container = &pod["containers"][0];
    assert_eq!(
        container["image"].as_str(),
        Some("ghcr.io/baseline-dev/baseline-operator:0.1.0")
    );
    assert_eq!(container["args"][0].as_str(), Some("run"));
    let sc = &container["securityContext"];
    assert_eq!(sc["runAsUser"].as_i64(), Some(65532));
    assert_eq!(sc["readOnlyRootFilesystem"].as_bool(), Some(true));
    assert_eq!(sc["allowPrivilegeEscalation"].as_bool(), Some(false));
    assert_eq!(sc["capabilities"]["drop"][0].as_str(), Some("ALL"));
    assert_eq!(
        sc["seccompProfile"]["type"].as_str(),
        Some("RuntimeDefault")
    );
    assert_eq!(
        container["livenessProbe"]["httpGet"]["path"].as_str(),
        Some("/healthz")
    );
    assert_eq!(
        container["readinessProbe"]["httpGet"]["path"].as_str(),
        Some("/readyz")
    );
    let env: Vec<&str> = container["env"]
        .as_sequence()
        .expect("env")
        .iter()
        .filter_map(|e| e["name"].as_str())
        .collect();
    for name in [
        "POD_NAME",
        "POD_NAMESPACE",
        "BASELINE_LOG_JSON",
        // The allocator setting the bench measured (benches/RESULTS.md).
        "MALLOC_ARENA_MAX",
    ] {
        assert!(env.contains(&name), "env {name} in {env:?}");
    }
    // Two Roles: the Lease's in the release namespace, Velero's in Velero's namespace.
    assert_eq!(find(&docs, "Role").len(), 2, "two Roles");
    assert_eq!(find(&docs, "RoleBinding").len(), 2, "two RoleBindings");
    let lease = find(&docs, "Role")
        .into_iter()
        .find(|r| {
            r["metadata"]["name"]
                .as_str()
                .is_some_and(|n| n.ends_with("-leader-election"))
        })
        .expect("the Lease Role");
    assert_eq!(
        lease["metadata"]["namespace"].as_str(),
        Some("baseline-system")
    );
    assert_eq!(
        lease["rules"][0]["resources"][0].as_str(),
        Some("leases"),
        "the namespaced Role is for the Lease"
    );
}

#[test]
fn secrets_are_read_only_with_copied_secret_detection() {
    let default = cluster_role_resources(&render(&[]));
    assert!(
        !default.iter().any(|r| r == "/secrets"),
        "no Secret access by default: {default:?}"
    );
    assert!(default.iter().any(|r| r == "/configmaps"), "{default:?}");
    let enabled = cluster_role_resources(&render(&["--set", "copiedSecretDetection=true"]));
    assert!(
        enabled.iter().any(|r| r == "/secrets"),
        "Secret read with copiedSecretDetection=true: {enabled:?}"
    );
}

#[test]
fn cluster_role_grants_no_wildcards_nor_escalation() {
    let docs = render(&["--set", "copiedSecretDetection=true"]);
    let role = find(&docs, "ClusterRole")[0];
    for rule in role["rules"].as_sequence().expect("rules") {
        for field in ["apiGroups", "resources", "verbs"] {
            for item in rule[field].as_sequence().expect(field) {
                assert_ne!(item.as_str(), Some("*"), "wildcard in {rule:?}");
            }
        }
        for verb in rule["verbs"].as_sequence().unwrap() {
            let verb = verb.as_str().unwrap();
            assert!(
                !["bind", "escalate", "impersonate"].contains(&verb),
                "{verb} in {rule:?}"
            );
        }
    }
}

#[test]
fn service_monitor_is_optional() {
    let docs = render(&["--set", "serviceMonitor.enabled=true"]);
    assert_eq!(find(&docs, "ServiceMonitor").len(), 1);
}

/// The Deployment's arguments, as rendered with `extra` values.
fn operator_args(extra: &[&str]) -> Vec<String> {
    let docs = render(extra);
    let deploy = find(&docs, "Deployment")[0];
    deploy["spec"]["template"]["spec"]["containers"][0]["args"]
        .as_sequence()
        .expect("args")
        .iter()
        .map(|a| a.as_str().expect("string arg").to_string())
        .collect()
}

/// Runs the operator binary with `args` and no reachable cluster; returns stderr. Arguments are
/// parsed and the lease timings checked before any connection is tried.
fn operator_stderr(args: &[String]) -> String {
    let out = Command::new(env!("CARGO_BIN_EXE_baseline-operator"))
        .args(args)
        .args(["--health-addr", "127.0.0.1:0"])
        .env("KUBECONFIG", "/nonexistent/kubeconfig")
        .env_remove("KUBERNETES_SERVICE_HOST")
        .output()
        .expect("running the operator binary");
    assert!(!out.status.success(), "no cluster: the operator must fail");
    String::from_utf8_lossy(&out.stderr).into_owned()
}

#[test]
fn chart_lease_timings_are_accepted_and_ordered() {
    let args = operator_args(&[]);
    for flag in [
        "--lease-seconds=15",
        "--renew-deadline-seconds=10",
        "--retry-period-seconds=2",
        "--stall-seconds=600",
    ] {
        assert!(args.iter().any(|a| a == flag), "{flag} in {args:?}");
    }
    let stderr = operator_stderr(&args);
    assert!(
        stderr.contains("cannot connect to the cluster"),
        "the binary accepts the chart's arguments and gets as far as connecting: {stderr}"
    );
    // A renew deadline as long as the lease would let two leaders overlap: refused.
    let stderr = operator_stderr(&operator_args(&["--set", "renewDeadlineSeconds=15"]));
    assert!(
        stderr.contains("invalid leader election settings"),
        "{stderr}"
    );
}

#[test]
fn chart_rolls_and_drains_with_a_warm_standby() {
    let docs = render(&[]);
    let deploy = find(&docs, "Deployment")[0];
    assert_eq!(deploy["spec"]["replicas"].as_i64(), Some(2));
    assert_eq!(
        deploy["spec"]["strategy"]["rollingUpdate"]["maxUnavailable"].as_i64(),
        Some(0)
    );
    let pdb = find(&docs, "PodDisruptionBudget")[0];
    assert_eq!(pdb["spec"]["minAvailable"].as_i64(), Some(1));
    // Both probes exist; that the standby answers /readyz with 200 is proven on a real
    // cluster by tests/e2e/leader.rs (a_warm_standby_is_ready).
    let container = &deploy["spec"]["template"]["spec"]["containers"][0];
    assert_eq!(
        container["readinessProbe"]["httpGet"]["path"].as_str(),
        Some("/readyz")
    );
    assert_eq!(
        container["livenessProbe"]["httpGet"]["path"].as_str(),
        Some("/healthz")
    );
}

/// Velero rights are a Role (and RoleBinding) in Velero's namespace, never in the ClusterRole;
/// the Velero namespace follows the value, and reaches the operator as `--velero-namespace`.
#[test]
fn velero_rights_are_a_role_in_veleros_namespace() {
    for (extra, namespace) in [
        (vec![], "velero"),
        (
            vec!["--set", "velero.namespace=backup-system"],
            "backup-system",
        ),
    ] {
        let docs = render(&extra);
        let cluster_wide = cluster_role_resources(&docs);
        assert!(
            !cluster_wide.iter().any(|r| r.starts_with("velero.io/")),
            "Velero rights in the ClusterRole: {cluster_wide:?}"
        );
        let role = find(&docs, "Role")
            .into_iter()
            .find(|r| {
                r["metadata"]["name"]
                    .as_str()
                    .is_some_and(|n| n.ends_with("-velero"))
            })
            .expect("the Velero Role");
        assert_eq!(role["metadata"]["namespace"].as_str(), Some(namespace));
        let velero_resources: Vec<&str> = role["rules"]
            .as_sequence()
            .unwrap()
            .iter()
            .filter(|rule| rule["apiGroups"][0].as_str() == Some("velero.io"))
            .flat_map(|rule| rule["resources"].as_sequence().unwrap())
            .filter_map(|r| r.as_str())
            .collect();
        for resource in [
            "schedules",
            "restores",
            "backups",
            "backupstoragelocations",
            "volumesnapshotlocations",
            "downloadrequests",
        ] {
            assert!(velero_resources.contains(&resource), "{velero_resources:?}");
        }
        let binding = find(&docs, "RoleBinding")
            .into_iter()
            .find(|b| {
                b["metadata"]["name"]
                    .as_str()
                    .is_some_and(|n| n.ends_with("-velero"))
            })
            .expect("the Velero RoleBinding");
        assert_eq!(binding["metadata"]["namespace"].as_str(), Some(namespace));
        assert_eq!(binding["roleRef"]["kind"].as_str(), Some("Role"));
        let args = operator_args(&extra);
        let flag = format!("--velero-namespace={namespace}");
        assert!(args.contains(&flag), "{flag} in {args:?}");
    }
}

/// The restore guard ships with the chart: a policy and its Deny binding.
#[test]
fn restore_guard_is_installed_with_the_chart() {
    let docs = render(&[]);
    let policies: Vec<&str> = find(&docs, "ValidatingAdmissionPolicy")
        .iter()
        .filter_map(|p| p["metadata"]["name"].as_str())
        .collect();
    assert!(
        policies.iter().any(|p| p.ends_with("-restore-guard")),
        "{policies:?}"
    );
    let binding = find(&docs, "ValidatingAdmissionPolicyBinding")
        .into_iter()
        .find(|b| {
            b["metadata"]["name"]
                .as_str()
                .is_some_and(|n| n.ends_with("-restore-guard"))
        })
        .expect("the restore guard's binding");
    assert_eq!(
        binding["spec"]["validationActions"][0].as_str(),
        Some("Deny")
    );
}

/// The restore guard admits exactly the operator's restore-test allowlist: the kinds in its
/// `includedResources` rule are `restored_resources()`, so the guard neither refuses the
/// operator's own Restores nor lets a kind beyond them through.
#[test]
fn restore_guard_allowlist_is_the_operators() {
    let docs = render(&[]);
    let policy = find(&docs, "ValidatingAdmissionPolicy")
        .into_iter()
        .find(|p| {
            p["metadata"]["name"]
                .as_str()
                .is_some_and(|n| n.ends_with("-restore-guard"))
        })
        .expect("the restore guard");
    let rule = policy["spec"]["validations"]
        .as_sequence()
        .unwrap()
        .iter()
        .filter_map(|v| v["expression"].as_str())
        .find(|e| e.contains("variables.resources.all("))
        .expect("the includedResources rule");
    let list = &rule[rule.find('[').unwrap()..=rule.rfind(']').unwrap()];
    let allowed: Vec<&str> = list.split('\'').skip(1).step_by(2).collect();
    assert_eq!(
        allowed,
        baseline_operator::desired::velero::restored_resources(),
        "{rule}"
    );
}

/// Velero's ServiceAccounts reach the operator (`--velero-service-accounts`), so label
/// protection lets Velero recreate a deleted namespace: by default both names a Velero
/// install gives its server, or what the value says.
#[test]
fn velero_service_accounts_reach_the_operator() {
    let args = operator_args(&[]);
    assert!(
        args.contains(&"--velero-service-accounts=velero-server,velero".to_string()),
        "{args:?}"
    );
    let args = operator_args(&["--set", "velero.serviceAccounts={backup-server}"]);
    assert!(
        args.contains(&"--velero-service-accounts=backup-server".to_string()),
        "{args:?}"
    );
}

/// On a cluster without Velero there is no namespace for the Velero Role: `velero.rbac=false`
/// leaves it out (and grants nothing of Velero's elsewhere either).
#[test]
fn velero_role_can_be_left_out() {
    let docs = render(&["--set", "velero.rbac=false"]);
    assert_eq!(find(&docs, "Role").len(), 1, "only the Lease Role");
    assert_eq!(
        find(&docs, "RoleBinding").len(),
        1,
        "only the Lease RoleBinding"
    );
    let cluster_wide = cluster_role_resources(&docs);
    assert!(
        !cluster_wide.iter().any(|r| r.starts_with("velero.io/")),
        "{cluster_wide:?}"
    );
}

#[test]
fn history_takes_credentials_from_secrets_and_publishes_its_public_key() {
    let values = [
        "--set",
        "history.enabled=true",
        "--set",
        "history.publicKey=cHVibGlj",
        "--set",
        "history.signingKeySecret=history-key",
        "--set",
        "history.s3.endpoint=https://s3.example.com",
        "--set",
        "history.s3.bucket=evidence",
        "--set",
        "history.s3.credentialsSecret=history-s3",
    ];
    let docs = render(&values);
    let args = operator_args(&values);
    for expected in [
        "--history-s3-endpoint=https://s3.example.com",
        "--history-s3-bucket=evidence",
        "--history-public-key=cHVibGlj",
        "--history-signing-key-file=/var/run/baseline-operator/history/ed25519.seed",
    ] {
        assert!(
            args.iter().any(|a| a == expected),
            "{expected} not in {args:?}"
        );
    }
    // No credential on the command line: they come from the Secret as environment variables.
    assert!(!args.iter().any(|a| a.contains("secret")), "{args:?}");
    let deploy = find(&docs, "Deployment")[0];
    let container = &deploy["spec"]["template"]["spec"]["containers"][0];
    let env = serde_json::to_string(&container["env"]).unwrap();
    assert!(
        env.contains(r#""name":"history-s3","key":"secret-access-key""#),
        "{env}"
    );
    let volumes = serde_json::to_string(&deploy["spec"]["template"]["spec"]["volumes"]).unwrap();
    assert!(
        volumes.contains(r#""secretName":"history-key""#),
        "{volumes}"
    );
    let published = find(&docs, "ConfigMap")
        .into_iter()
        .find(|cm| cm["data"]["ed25519.pub"].as_str() == Some("cHVibGlj"));
    assert!(
        published.is_some(),
        "the public key is published in a ConfigMap"
    );
    // The binary accepts every flag the chart passes: it gets as far as the history's
    // configuration, which wants the credentials the Secret would provide.
    let stderr = operator_stderr(&args);
    assert!(
        stderr.contains("evidence history: BASELINE_HISTORY_S3_ACCESS_KEY_ID is not set"),
        "{stderr}"
    );

    // Each missing value is named.
    let out = Command::new(bin_dir().join("helm"))
        .args(["template", "t"])
        .arg(chart())
        .args(["--set", "history.enabled=true"])
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("history."),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn history_cluster_id_reaches_the_operator_and_a_bad_one_is_refused() {
    let values = [
        "--set",
        "history.enabled=true",
        "--set",
        "history.publicKey=cHVibGlj",
        "--set",
        "history.signingKeySecret=history-key",
        "--set",
        "history.s3.endpoint=https://s3.example.com",
        "--set",
        "history.s3.bucket=evidence",
        "--set",
        "history.s3.credentialsSecret=history-s3",
    ];
    // Unset: no flag, the chain stays at <prefix>/segments/ as before cluster ids.
    let args = operator_args(&values);
    assert!(
        !args.iter().any(|a| a.starts_with("--history-cluster-id")),
        "{args:?}"
    );
    let mut with_id = values.to_vec();
    with_id.extend(["--set", "history.clusterId=eu-prod-1"]);
    let args = operator_args(&with_id);
    assert!(
        args.iter().any(|a| a == "--history-cluster-id=eu-prod-1"),
        "{args:?}"
    );
    // The binary refuses an id that is not a DNS label (it is a path segment of every key).
    let dir = tempfile::tempdir().unwrap();
    let stderr = operator_stderr(&[
        "run".to_string(),
        format!("--history-dir={}", dir.path().display()),
        "--history-cluster-id=EU_1".to_string(),
    ]);
    assert!(
        stderr.contains("--history-cluster-id: cluster id \"EU_1\" is not a DNS label"),
        "{stderr}"
    );
}
