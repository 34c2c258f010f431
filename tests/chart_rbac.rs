//! The Helm chart on the real control plane: it installs the objects it promises, and its RBAC
//! is what the operator needs — no less (the real operator binary, impersonating the chart's
//! ServiceAccount, reconciles every kind without a 403) and no more than the rules it lists
//! (remove one, and the operator reports `Forbidden` instead of succeeding).
//!
//! A test binary of its own (not part of `tests/e2e`): no in-process operator runs here, so
//! the only operator reconciling the custom resources is the impersonating child process,
//! and its status is the proof. It gets its own control plane unless
//! `BASELINE_TEST_KUBECONFIG` names one; against a shared cluster, do not run it while
//! another operator (e.g. `cargo test --test e2e` in another shell) reconciles the same cluster.

use baseline_test_support::*;
use k8s_openapi::api::admissionregistration::v1::ValidatingAdmissionPolicy;
use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::{Namespace, Service, ServiceAccount};
use k8s_openapi::api::events::v1::Event;
use k8s_openapi::api::networking::v1::NetworkPolicy;
use k8s_openapi::api::policy::v1::PodDisruptionBudget;
use k8s_openapi::api::rbac::v1::{ClusterRole, ClusterRoleBinding, Role, RoleBinding};
use kube::api::{Api, ApiResource, DeleteParams, DynamicObject, Patch, PatchParams};
use kube::{Client, Resource};
use serde_json::{Value, json};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

const RELEASE: &str = "baseline-operator";
const RELEASE_NS: &str = "baseline-system";
const SERVICE_ACCOUNT: &str = "system:serviceaccount:baseline-system:baseline-operator";
const VELERO: &str = "velero";
const TIMEOUT: Duration = Duration::from_secs(60);

fn chart() -> PathBuf {
    Path::new(REPO).join("charts/baseline-operator")
}

/// Runs the Go-built helm against the test cluster, with its config, cache and data kept in a
/// directory of this run; returns stdout, failing the test with helm's output on error.
fn helm(args: &[&str]) -> String {
    let out = helm_output(args);
    assert!(
        out.status.success(),
        "helm {args:?} failed:\n{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn helm_output(args: &[&str]) -> std::process::Output {
    let cluster = cluster();
    let home =
        std::env::temp_dir().join(format!("baseline-chart-rbac-helm-{}", std::process::id()));
    Command::new(cluster.bin.join("helm"))
        .args(args)
        .env("KUBECONFIG", &cluster.kubeconfig)
        .env("HELM_CONFIG_HOME", home.join("config"))
        .env("HELM_CACHE_HOME", home.join("cache"))
        .env("HELM_DATA_HOME", home.join("data"))
        .output()
        .expect("running the built helm")
}

/// Installs (or upgrades) the release. The CRDs are already installed by the harness, and
/// there is no `--wait`: the control plane has no kubelet, so the pods never become ready.
fn install_chart(values: &[&str]) {
    // The Velero Role lives in Velero's namespace, which (as on a real cluster, where Velero
    // is installed first) must exist before the chart. AlreadyExists is fine.
    let _ = cluster().kubectl(&["create", "namespace", VELERO]);
    let chart = chart();
    let mut args = vec![
        "upgrade",
        "--install",
        RELEASE,
        chart.to_str().unwrap(),
        "--namespace",
        RELEASE_NS,
        "--create-namespace",
        "--skip-crds",
        "--force-conflicts",
    ];
    for value in values {
        args.extend(["--set", value]);
    }
    helm(&args);
}

/// Whether the chart's ServiceAccount may `verb` `resource` (`resource.group`, or
/// `resource.group/subresource`), cluster-wide or in `namespace`, by the API server's authorizer.
fn sa_can(verb: &str, resource: &str, namespace: Option<&str>) -> bool {
    let (resource, subresource) = match resource.split_once('/') {
        Some((resource, sub)) => (resource, Some(sub)),
        None => (resource, None),
    };
    let mut args = vec![
        "auth".to_string(),
        "can-i".into(),
        verb.into(),
        resource.into(),
        format!("--as={SERVICE_ACCOUNT}"),
    ];
    if let Some(sub) = subresource {
        args.push(format!("--subresource={sub}"));
    }
    match namespace {
        Some(ns) => args.push(format!("--namespace={ns}")),
        None => args.push("--all-namespaces".into()),
    }
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let out = cluster().kubectl(&args);
    let answer = String::from_utf8_lossy(&out.stdout).trim().to_string();
    match (out.status.code(), answer.as_str()) {
        (Some(0), "yes") => true,
        (Some(1), "no") => false,
        _ => panic!(
            "kubectl {args:?}: {answer} {}",
            String::from_utf8_lossy(&out.stderr)
        ),
    }
}

/// Like [`sa_can`] (cluster-wide), for a resource of an API the cluster may not serve (kubectl
/// resolves names by discovery; the authorizer needs none): a SubjectAccessReview naming the
/// group.
async fn sa_can_in(client: &Client, verb: &str, group: &str, resource: &str) -> bool {
    use k8s_openapi::api::authorization::v1::{
        ResourceAttributes, SubjectAccessReview, SubjectAccessReviewSpec,
    };
    let review = SubjectAccessReview {
        spec: SubjectAccessReviewSpec {
            user: Some(SERVICE_ACCOUNT.into()),
            groups: Some(vec![
                "system:serviceaccounts".into(),
                format!("system:serviceaccounts:{RELEASE_NS}"),
                "system:authenticated".into(),
            ]),
            resource_attributes: Some(ResourceAttributes {
                verb: Some(verb.into()),
                group: Some(group.into()),
                resource: Some(resource.into()),
                ..Default::default()
            }),
            ..Default::default()
        },
        ..Default::default()
    };
    let api: Api<SubjectAccessReview> = Api::all(client.clone());
    let answer = api
        .create(&Default::default(), &review)
        .await
        .expect("SubjectAccessReview");
    answer.status.expect("SubjectAccessReview status").allowed
}

// ------------------------------------------------------------------------- the operator

/// The real operator binary, as a child process authenticated as the chart's ServiceAccount
/// (the admin kubeconfig with `as:`; the admin is system:masters and may impersonate). Killed
/// when dropped, so a failing assertion leaves no process behind.
struct OperatorProcess {
    child: Child,
    dir: tempfile::TempDir,
}

impl OperatorProcess {
    fn start(lease: &str) -> Self {
        let dir = tempfile::tempdir().expect("temp dir");
        let text = std::fs::read_to_string(&cluster().kubeconfig).expect("reading kubeconfig");
        let mut config: serde_norway::Value =
            serde_norway::from_str(&text).expect("kubeconfig YAML");
        let users = config["users"].as_sequence_mut().expect("kubeconfig users");
        assert!(!users.is_empty(), "kubeconfig without users");
        for user in users {
            user["user"]["as"] = SERVICE_ACCOUNT.into();
        }
        let kubeconfig = dir.path().join("kubeconfig");
        std::fs::write(&kubeconfig, serde_norway::to_string(&config).unwrap()).unwrap();
        let stdout = std::fs::File::create(dir.path().join("stdout")).unwrap();
        let stderr = std::fs::File::create(dir.path().join("stderr")).unwrap();
        let child = Command::new(env!("CARGO_BIN_EXE_baseline-operator"))
            .args([
                "run",
                "--health-addr",
                "127.0.0.1:0",
                "--lease-namespace",
                RELEASE_NS,
                "--lease-name",
                lease,
                "--lease-seconds",
                "15",
                "--identity",
                lease,
                "--detect-copied-secrets",
            ])
            .env("KUBECONFIG", &kubeconfig)
            .env("RUST_LOG", "info,kube=warn")
            .env_remove("BASELINE_LOG_JSON")
            .env_remove("POD_NAME")
            .env_remove("POD_NAMESPACE")
            .env_remove("BASELINE_HEALTH_ADDR")
            .stdin(Stdio::null())
            .stdout(stdout)
            .stderr(stderr)
            .spawn()
            .expect("spawning the operator");
        Self { child, dir }
    }

    /// Everything the process wrote so far (its logs go to stdout, errors to stderr).
    fn output(&self) -> String {
        let read =
            |name: &str| std::fs::read_to_string(self.dir.path().join(name)).unwrap_or_default();
        format!("{}{}", read("stdout"), read("stderr"))
    }

    fn assert_running(&mut self) {
        if let Some(status) = self.child.try_wait().unwrap() {
            panic!("the operator exited ({status}):\n{}", self.output());
        }
    }
}

impl Drop for OperatorProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn lease_name(test: &str) -> String {
    format!("chart-rbac-{test}-{}", std::process::id())
}

fn delete_lease(name: &str) {
    let _ = cluster().kubectl(&[
        "delete",
        "lease",
        name,
        "--namespace",
        RELEASE_NS,
        "--ignore-not-found",
    ]);
}

// ------------------------------------------------------------------- custom resources

fn resource<K: Resource<DynamicType = ()>>() -> ApiResource {
    ApiResource::erase::<K>(&())
}

async fn apply_cr(
    client: &Client,
    ar: &ApiResource,
    name: &str,
    spec: Value,
) -> Api<DynamicObject> {
    let api: Api<DynamicObject> = Api::all_with(client.clone(), ar);
    let body = json!({
        "apiVersion": ar.api_version, "kind": ar.kind,
        "metadata": {"name": name}, "spec": spec,
    });
    api.patch(
        name,
        &PatchParams::apply("chart-rbac").force(),
        &Patch::Apply(&body),
    )
    .await
    .unwrap_or_else(|e| panic!("apply {} {name}: {e}", ar.kind));
    api
}

/// The `Ready` condition of `name`, once it was written for the current generation. With
/// `evidence`, status.observedGeneration must be current too (a failed reconcile leaves the
/// evidence of the last good one, so it updates only the condition's own observedGeneration).
async fn current_ready(api: &Api<DynamicObject>, name: &str, evidence: bool) -> Option<Value> {
    let object = api.get_opt(name).await.ok()??;
    let generation = object.metadata.generation?;
    let status = object.data.get("status")?;
    if evidence && status.get("observedGeneration")?.as_i64()? != generation {
        return None;
    }
    status["conditions"]
        .as_array()?
        .iter()
        .find(|c| c["type"] == "Ready" && c["observedGeneration"].as_i64() == Some(generation))
        .cloned()
}

async fn wait_ready(api: &Api<DynamicObject>, name: &str, operator: &mut OperatorProcess) {
    let deadline = std::time::Instant::now() + TIMEOUT;
    loop {
        operator.assert_running();
        let ready = current_ready(api, name, true).await;
        if ready.as_ref().is_some_and(|c| c["status"] == "True") {
            return;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "{name} not Ready=True at its generation; Ready condition: {ready:?}\noperator output:\n{}",
            operator.output()
        );
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}

async fn delete_cr(api: &Api<DynamicObject>, name: &str) {
    let _ = api.delete(name, &DeleteParams::default()).await;
    wait_until(
        &format!("{name} deleted (finalizer removed)"),
        TIMEOUT,
        || async { api.get_opt(name).await.unwrap().is_none() },
    )
    .await;
}

async fn ensure_namespace(client: &Client, name: &str) {
    let api: Api<Namespace> = Api::all(client.clone());
    if api.get_opt(name).await.unwrap().is_none() {
        namespace(client, name, &[]).await;
    }
}

fn assert_no_forbidden(operator: &OperatorProcess) {
    let output = operator.output();
    let hits: Vec<&str> = output
        .lines()
        .filter(|l| l.to_lowercase().contains("forbidden"))
        .collect();
    assert!(
        hits.is_empty(),
        "the operator was refused something with the chart's RBAC:\n{}",
        hits.join("\n")
    );
}

// ------------------------------------------------------------------------------ tests

#[tokio::test]
async fn helm_install_creates_the_objects() {
    let _serial = serial().await;
    let client = client().await;
    let chart = chart();
    let chart = chart.to_str().unwrap();
    let lint = helm(&["lint", "--strict", chart]);
    assert!(lint.contains("0 chart(s) failed"), "{lint}");
    let rendered = helm(&["template", RELEASE, chart, "--namespace", RELEASE_NS]);
    let kinds: Vec<String> = serde_norway::Deserializer::from_str(&rendered)
        .map(|doc| serde::Deserialize::deserialize(doc).expect("rendered YAML parses"))
        .filter_map(|doc: serde_norway::Value| doc["kind"].as_str().map(String::from))
        .collect();
    for kind in [
        "ServiceAccount",
        "ClusterRole",
        "ClusterRoleBinding",
        "Role",
        "RoleBinding",
        "Deployment",
        "PodDisruptionBudget",
        "Service",
    ] {
        assert!(kinds.iter().any(|k| k == kind), "{kind} in {kinds:?}");
    }

    // A fresh install, as a user would do it (an earlier run's release is removed first).
    // Velero first, as on a real cluster: the chart's Velero Role goes into its namespace.
    let _ = cluster().kubectl(&["create", "namespace", VELERO]);
    let _ = helm_output(&["uninstall", RELEASE, "--namespace", RELEASE_NS]);
    helm(&[
        "install",
        RELEASE,
        chart,
        "--namespace",
        RELEASE_NS,
        "--create-namespace",
        "--skip-crds",
    ]);
    let listed = helm(&["list", "--namespace", RELEASE_NS, "--output", "json"]);
    let releases: Value = serde_json::from_str(&listed).unwrap();
    assert!(
        releases
            .as_array()
            .unwrap()
            .iter()
            .any(|r| r["name"] == RELEASE && r["status"] == "deployed"),
        "{listed}"
    );

    let sa: Api<ServiceAccount> = Api::namespaced(client.clone(), RELEASE_NS);
    sa.get(RELEASE).await.expect("ServiceAccount");
    let role: ClusterRole = Api::all(client.clone())
        .get(RELEASE)
        .await
        .expect("ClusterRole");
    assert!(
        role.rules.unwrap_or_default().iter().any(|r| {
            r.resources
                .as_ref()
                .is_some_and(|res| res.iter().any(|x| x == "networkpolicies"))
                && r.verbs.iter().any(|v| v == "create")
        }),
        "the ClusterRole lets the operator create NetworkPolicies"
    );
    let binding: ClusterRoleBinding = Api::all(client.clone())
        .get(RELEASE)
        .await
        .expect("ClusterRoleBinding");
    assert_eq!(binding.role_ref.name, RELEASE);
    let subject = &binding.subjects.unwrap()[0];
    assert_eq!(
        (
            subject.kind.as_str(),
            subject.name.as_str(),
            subject.namespace.as_deref()
        ),
        ("ServiceAccount", RELEASE, Some(RELEASE_NS))
    );
    let lease_role: Role = Api::namespaced(client.clone(), RELEASE_NS)
        .get(&format!("{RELEASE}-leader-election"))
        .await
        .expect("leader-election Role");
    let rules = lease_role.rules.unwrap();
    assert_eq!(
        rules[0].resources.as_deref(),
        Some(&["leases".to_string()][..])
    );
    let lease_binding: RoleBinding = Api::namespaced(client.clone(), RELEASE_NS)
        .get(&format!("{RELEASE}-leader-election"))
        .await
        .expect("leader-election RoleBinding");
    assert_eq!(lease_binding.subjects.unwrap()[0].name, RELEASE);

    let deployment: Deployment = Api::namespaced(client.clone(), RELEASE_NS)
        .get(RELEASE)
        .await
        .expect("Deployment");
    let spec = deployment.spec;
    assert_eq!(spec.replicas, Some(2));
    let pod = spec.template.spec.unwrap();
    assert_eq!(pod.service_account_name.as_deref(), Some(RELEASE));
    let pod_sc = pod.security_context.unwrap();
    assert_eq!(pod_sc.run_as_non_root, Some(true));
    assert_eq!(
        pod_sc.seccomp_profile.map(|s| s.type_).as_deref(),
        Some("RuntimeDefault")
    );
    let container = &pod.containers[0];
    assert_eq!(container.args.as_ref().unwrap()[0], "run");
    assert!(
        !container
            .args
            .as_ref()
            .unwrap()
            .iter()
            .any(|a| a == "--detect-copied-secrets"),
        "no copied-secret detection by default"
    );
    let sc = container.security_context.clone().unwrap();
    assert_eq!(sc.run_as_non_root, Some(true));
    assert_eq!(sc.read_only_root_filesystem, Some(true));
    assert_eq!(sc.allow_privilege_escalation, Some(false));
    assert_eq!(
        sc.capabilities.and_then(|c| c.drop),
        Some(vec!["ALL".to_string()])
    );
    assert_eq!(
        sc.seccomp_profile.map(|s| s.type_).as_deref(),
        Some("RuntimeDefault")
    );

    let pdb: PodDisruptionBudget = Api::namespaced(client.clone(), RELEASE_NS)
        .get(RELEASE)
        .await
        .expect("PodDisruptionBudget");
    assert_eq!(
        serde_json::to_value(pdb.spec.unwrap().min_available).unwrap(),
        json!(1)
    );
    let service: Service = Api::namespaced(client.clone(), RELEASE_NS)
        .get(&format!("{RELEASE}-metrics"))
        .await
        .expect("Service");
    let port = &service.spec.unwrap().ports.unwrap()[0];
    assert_eq!(port.port, 8080);

    helm(&["uninstall", RELEASE, "--namespace", RELEASE_NS]);
    let roles: Api<ClusterRole> = Api::all(client.clone());
    wait_until("ClusterRole removed by uninstall", TIMEOUT, || async {
        roles.get_opt(RELEASE).await.unwrap().is_none()
    })
    .await;
}

#[tokio::test]
async fn operator_runs_with_the_charts_rbac() {
    let _serial = serial().await;
    let client = client().await;
    install_chart(&["copiedSecretDetection=true"]);
    let deployment: Deployment = Api::namespaced(client.clone(), RELEASE_NS)
        .get(RELEASE)
        .await
        .unwrap();
    let args = deployment.spec.template.spec.unwrap().containers[0]
        .args
        .clone()
        .unwrap();
    assert!(
        args.iter().any(|a| a == "--detect-copied-secrets"),
        "copiedSecretDetection=true passes --detect-copied-secrets: {args:?}"
    );

    // Every access the operator makes, granted by the chart (checked by the API server's
    // own authorizer), and a few it must not have.
    let cluster_wide: &[(&str, &[&str])] = &[
        (
            "securitybaselines.security.baseline.dev",
            &["get", "list", "watch", "patch", "update"],
        ),
        (
            "backuppolicies.security.baseline.dev",
            &["get", "list", "watch", "patch", "update"],
        ),
        (
            "environmentisolations.security.baseline.dev",
            &["get", "list", "watch", "patch", "update"],
        ),
        (
            "namespaces",
            &["get", "list", "watch", "create", "patch", "delete"],
        ),
        (
            "networkpolicies.networking.k8s.io",
            &["list", "watch", "create", "patch", "delete"],
        ),
        (
            "validatingadmissionpolicies.admissionregistration.k8s.io",
            &["list", "watch", "create", "patch", "delete"],
        ),
        (
            "validatingadmissionpolicybindings.admissionregistration.k8s.io",
            &["list", "watch", "create", "patch", "delete"],
        ),
        (
            "policyreports.wgpolicyk8s.io",
            &["list", "watch", "create", "patch", "delete"],
        ),
        (
            "clusterpolicyreports.wgpolicyk8s.io",
            &["list", "watch", "create", "patch", "delete"],
        ),
        ("events.events.k8s.io", &["create", "patch"]),
        ("secrets", &["list", "watch"]),
        ("configmaps", &["list", "watch"]),
        ("services", &["list", "watch"]),
        ("pods", &["list", "watch"]),
        ("serviceaccounts", &["list", "watch"]),
        ("persistentvolumeclaims", &["list", "watch"]),
        ("ingresses.networking.k8s.io", &["list", "watch"]),
        ("storageclasses.storage.k8s.io", &["list", "watch"]),
        ("deployments.apps", &["list", "watch"]),
        ("statefulsets.apps", &["list", "watch"]),
        ("daemonsets.apps", &["list", "watch"]),
        ("replicasets.apps", &["list", "watch"]),
        ("jobs.batch", &["list", "watch"]),
        ("cronjobs.batch", &["list", "watch"]),
        ("poddisruptionbudgets.policy", &["list", "watch"]),
        ("endpointslices.discovery.k8s.io", &["list", "watch"]),
        ("roles.rbac.authorization.k8s.io", &["list", "watch"]),
        ("rolebindings.rbac.authorization.k8s.io", &["list", "watch"]),
        ("clusterroles.rbac.authorization.k8s.io", &["list", "watch"]),
        (
            "clusterrolebindings.rbac.authorization.k8s.io",
            &["list", "watch"],
        ),
        ("selfsubjectreviews.authentication.k8s.io", &["create"]),
    ];
    for (resource, verbs) in cluster_wide {
        for verb in *verbs {
            assert!(
                sa_can(verb, resource, None),
                "the chart grants {verb} {resource}"
            );
        }
    }
    for kind in [
        "securitybaselines",
        "backuppolicies",
        "environmentisolations",
    ] {
        let resource = format!("{kind}.security.baseline.dev");
        for verb in ["get", "patch"] {
            assert!(
                sa_can(verb, &format!("{resource}/status"), None),
                "the chart grants {verb} {resource}/status"
            );
        }
        assert!(sa_can("update", &format!("{resource}/finalizers"), None));
    }
    for verb in ["get", "create", "update"] {
        assert!(
            sa_can(verb, "leases.coordination.k8s.io", Some(RELEASE_NS)),
            "the chart grants {verb} leases in {RELEASE_NS}"
        );
    }
    // Velero's objects: in Velero's namespace only (a Role), nowhere else.
    let in_velero: &[(&str, &[&str])] = &[
        (
            "schedules.velero.io",
            &["list", "watch", "create", "patch", "delete"],
        ),
        (
            "restores.velero.io",
            &["list", "watch", "create", "patch", "delete"],
        ),
        ("backups.velero.io", &["list", "watch"]),
        ("backupstoragelocations.velero.io", &["list", "watch"]),
        ("volumesnapshotlocations.velero.io", &["list", "watch"]),
        ("downloadrequests.velero.io", &["get", "create", "delete"]),
        ("configmaps", &["create", "patch", "update", "delete"]),
    ];
    for (resource, verbs) in in_velero {
        for verb in *verbs {
            assert!(
                sa_can(verb, resource, Some(VELERO)),
                "the chart grants {verb} {resource} in {VELERO}"
            );
            assert!(
                !sa_can(verb, resource, Some("chart-rbac-not-velero")),
                "the chart must not grant {verb} {resource} outside {VELERO}"
            );
        }
    }
    for verb in ["create", "list", "delete"] {
        assert!(
            !sa_can(verb, "schedules.velero.io", None),
            "the chart must not grant {verb} schedules cluster-wide"
        );
    }
    for (verb, resource) in [
        ("create", "securitybaselines.security.baseline.dev"),
        ("delete", "pods"),
        ("create", "rolebindings.rbac.authorization.k8s.io"),
        ("bind", "clusterroles.rbac.authorization.k8s.io"),
        ("escalate", "clusterroles.rbac.authorization.k8s.io"),
        ("impersonate", "users"),
        ("create", "secrets"),
        ("update", "leases.coordination.k8s.io"),
    ] {
        assert!(
            !sa_can(verb, resource, None),
            "the chart must not grant {verb} {resource}"
        );
    }

    velero_and_namespaces(&client).await;
    let lease = lease_name("sufficient");
    let mut operator = OperatorProcess::start(&lease);

    let sb_api = apply_cr(
        &client,
        &resource::<baseline_operator::api::SecurityBaseline>(),
        "chart-rbac-sb",
        json!({
            "mode": "Enforce",
            "namespaceSelector": {"matchLabels": {"chart-rbac": "sb"}},
            "network": {"defaultDeny": ["Ingress", "Egress"], "allowDNS": true, "allowedIngressPorts": [{"port": 443}]},
            "podSecurity": {"level": "restricted", "version": "latest"},
            "images": {"allowedRegistries": ["registry.example.com/"], "disallowLatestTag": true},
        }),
    )
    .await;
    let env = |name: &str, production: bool| {
        json!({"name": name, "production": production,
               "namespaceSelector": {"matchLabels": {"chart-rbac-env": name}}})
    };
    let ei_api = apply_cr(
        &client,
        &resource::<baseline_operator::api::EnvironmentIsolation>(),
        "chart-rbac-ei",
        json!({
            "mode": "Enforce",
            "environments": [env("prod", true), env("dev", false)],
            "productionData": {"productionValues": ["production"], "detectCopiedSecrets": true},
        }),
    )
    .await;
    let bp_api = apply_cr(
        &client,
        &resource::<baseline_operator::api::BackupPolicy>(),
        "chart-rbac-bp",
        json!({
            "mode": "Enforce",
            "namespaceSelector": {"matchLabels": {"chart-rbac": "bp"}},
            "rpo": "24h",
            "retention": {"min": "720h", "max": "2160h"},
            "storageLocation": "default",
        }),
    )
    .await;

    wait_ready(&sb_api, "chart-rbac-sb", &mut operator).await;
    wait_ready(&ei_api, "chart-rbac-ei", &mut operator).await;
    wait_ready(&bp_api, "chart-rbac-bp", &mut operator).await;

    let policies: Api<NetworkPolicy> = Api::namespaced(client.clone(), "chart-rbac-sb");
    for name in ["sb-chart-rbac-sb-default-deny", "sb-chart-rbac-sb-allow"] {
        assert!(
            policies.get_opt(name).await.unwrap().is_some(),
            "NetworkPolicy {name}"
        );
    }
    let sb_uid = sb_api
        .get("chart-rbac-sb")
        .await
        .unwrap()
        .metadata
        .uid
        .unwrap();
    let vaps: Api<ValidatingAdmissionPolicy> = Api::all(client.clone());
    let owned = vaps
        .list(
            &kube::api::ListParams::default()
                .labels(&format!("security.baseline.dev/owner-uid={sb_uid}")),
        )
        .await
        .unwrap();
    assert!(
        !owned.items.is_empty(),
        "the SecurityBaseline's ValidatingAdmissionPolicy exists"
    );
    let labels = Api::<Namespace>::all(client.clone())
        .get("chart-rbac-sb")
        .await
        .unwrap()
        .metadata
        .labels
        .unwrap_or_default();
    assert_eq!(
        labels
            .get("pod-security.kubernetes.io/enforce")
            .map(String::as_str),
        Some("restricted"),
        "{labels:?}"
    );
    let isolation: Api<NetworkPolicy> = Api::namespaced(client.clone(), "chart-rbac-prod");
    assert!(
        isolation
            .get_opt("ei-chart-rbac-ei-isolation")
            .await
            .unwrap()
            .is_some(),
        "the EnvironmentIsolation's NetworkPolicy exists"
    );
    let reports: Api<DynamicObject> = Api::namespaced_with(
        client.clone(),
        "chart-rbac-sb",
        &baseline_operator::desired::OwnedKind::PolicyReport.api_resource(),
    );
    // Written once the operator has found the PolicyReport API (discovery runs beside the
    // first reconciles), so possibly a moment after Ready.
    wait_until(
        "the SecurityBaseline's PolicyReport exists",
        TIMEOUT,
        || async { reports.get_opt("sb-chart-rbac-sb").await.unwrap().is_some() },
    )
    .await;
    let report = reports.get("sb-chart-rbac-sb").await.unwrap();
    assert!(
        report.data["results"].as_array().is_some_and(|r| r
            .iter()
            .any(|r| r["policy"] == "SecurityBaseline/chart-rbac-sb")),
        "{:?}",
        report.data
    );
    let schedules: Api<DynamicObject> = Api::namespaced_with(
        client.clone(),
        VELERO,
        &resource::<baseline_operator::velero::Schedule>(),
    );
    let schedule = schedules
        .get_opt("bp-chart-rbac-bp")
        .await
        .unwrap()
        .expect("the BackupPolicy's Velero Schedule exists");
    assert_eq!(schedule.data["spec"]["schedule"], "0 0 * * *");

    // Let a resync-free moment pass for late writes (events, reports) to show up in the logs.
    tokio::time::sleep(Duration::from_secs(2)).await;
    operator.assert_running();
    assert_no_forbidden(&operator);

    delete_cr(&sb_api, "chart-rbac-sb").await;
    delete_cr(&ei_api, "chart-rbac-ei").await;
    delete_cr(&bp_api, "chart-rbac-bp").await;
    wait_until("owned NetworkPolicies pruned", TIMEOUT, || async {
        policies
            .list(&Default::default())
            .await
            .unwrap()
            .items
            .is_empty()
    })
    .await;
    assert_no_forbidden(&operator);
    drop(operator);
    delete_lease(&lease);
}

async fn velero_and_namespaces(client: &Client) {
    ensure_namespace(client, VELERO).await;
    namespace(client, "chart-rbac-sb", &[("chart-rbac", "sb")]).await;
    namespace(client, "chart-rbac-bp", &[("chart-rbac", "bp")]).await;
    namespace(client, "chart-rbac-prod", &[("chart-rbac-env", "prod")]).await;
    namespace(client, "chart-rbac-dev", &[("chart-rbac-env", "dev")]).await;
    // A workload the SecurityBaseline finds fault with, so that it writes a PolicyReport.
    let deployment: Deployment = serde_json::from_value(json!({
        "metadata": {"name": "latest", "labels": {"app": "latest"}},
        "spec": {
            "replicas": 1,
            "selector": {"matchLabels": {"app": "latest"}},
            "template": {
                "metadata": {"labels": {"app": "latest"}},
                "spec": {"containers": [{"name": "app", "image": "nginx:latest"}]},
            },
        },
    }))
    .unwrap();
    Api::<Deployment>::namespaced(client.clone(), "chart-rbac-sb")
        .create(&Default::default(), &deployment)
        .await
        .expect("create a Deployment with an untrusted image");
}

/// Replaces the live ClusterRole with `role` (unconditionally: no resourceVersion).
fn replace_cluster_role(role: &Value) {
    use std::io::Write;
    let cluster = cluster();
    let mut child = Command::new(cluster.bin.join("kubectl"))
        .env("KUBECONFIG", &cluster.kubeconfig)
        .args(["replace", "-f", "-"])
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawning kubectl");
    child
        .stdin
        .take()
        .unwrap()
        .write_all(role.to_string().as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success() || std::thread::panicking(),
        "replacing ClusterRole {RELEASE}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Puts the live ClusterRole back as it was when dropped, also when the test fails half-way.
struct RestoreClusterRole {
    original: Value,
}

impl Drop for RestoreClusterRole {
    fn drop(&mut self) {
        replace_cluster_role(&self.original);
    }
}

/// The chart's ClusterRole as JSON for `kubectl replace`.
fn live_cluster_role() -> Value {
    let mut role: Value =
        serde_json::from_str(&cluster().kubectl_ok(&["get", "clusterrole", RELEASE, "-o", "json"]))
            .unwrap();
    let metadata = role["metadata"].as_object_mut().unwrap();
    metadata.remove("resourceVersion");
    metadata.remove("managedFields");
    role
}

/// `reports.api` picks the report API(s) the operator writes: the chart passes it on, grants
/// writing exactly the chosen API(s), and for the other only what pruning the operator's own
/// old reports needs (read and delete), by the API server's own authorizer.
#[tokio::test]
async fn report_rights_follow_reports_api() {
    let _serial = serial().await;
    let client = client().await;
    let write = [
        "get", "list", "watch", "create", "patch", "update", "delete",
    ];
    let groups = [
        (
            "wgpolicyk8s",
            "wgpolicyk8s.io",
            ["policyreports", "clusterpolicyreports"],
        ),
        (
            "openreports",
            "openreports.io",
            ["reports", "clusterreports"],
        ),
    ];
    for choice in ["auto", "wgpolicyk8s", "openreports", "both"] {
        install_chart(&[&format!("reports.api={choice}")]);
        let deployment: Deployment = Api::namespaced(client.clone(), RELEASE_NS)
            .get(RELEASE)
            .await
            .unwrap();
        let args = deployment.spec.template.spec.unwrap().containers[0]
            .args
            .clone()
            .unwrap();
        assert!(
            args.contains(&format!("--reports-api={choice}")),
            "{choice}: {args:?}"
        );
        for (api, group, resources) in groups {
            // auto may write either, depending on what the cluster serves.
            let writes = choice == api || choice == "auto" || choice == "both";
            for resource in resources {
                for verb in write {
                    let prunes = ["get", "list", "watch", "delete"].contains(&verb);
                    assert_eq!(
                        sa_can_in(&client, verb, group, resource).await,
                        writes || prunes,
                        "reports.api={choice}: {verb} {resource}"
                    );
                }
            }
        }
    }
    let refused = helm_output(&[
        "template",
        RELEASE,
        chart().to_str().unwrap(),
        "--set",
        "reports.api=kyverno",
    ]);
    assert!(
        !refused.status.success(),
        "an unknown reports.api is refused"
    );
    assert!(
        String::from_utf8_lossy(&refused.stderr).contains("reports.api must be"),
        "{}",
        String::from_utf8_lossy(&refused.stderr)
    );
}

#[tokio::test]
async fn removing_a_rule_surfaces_a_forbidden_condition() {
    let _serial = serial().await;
    let client = client().await;
    install_chart(&["copiedSecretDetection=true"]);
    let original = live_cluster_role();
    let mut reduced = original.clone();
    let mut edited = 0;
    for rule in reduced["rules"].as_array_mut().unwrap() {
        if rule["apiGroups"] == json!(["networking.k8s.io"])
            && rule["resources"] == json!(["networkpolicies"])
        {
            rule["verbs"] = json!(["get", "list", "watch"]);
            edited += 1;
        }
    }
    assert_eq!(edited, 1, "one NetworkPolicy rule in {original}");
    let restore = RestoreClusterRole { original };
    replace_cluster_role(&reduced);
    wait_until("NetworkPolicy writes revoked", TIMEOUT, || async {
        !sa_can("create", "networkpolicies.networking.k8s.io", None)
            && !sa_can("patch", "networkpolicies.networking.k8s.io", None)
    })
    .await;
    assert!(sa_can(
        "patch",
        "securitybaselines.security.baseline.dev/status",
        None
    ));

    let ns = namespace(
        &client,
        "chart-rbac-forbidden",
        &[("chart-rbac-forbidden", "yes")],
    )
    .await;
    let lease = lease_name("forbidden");
    let mut operator = OperatorProcess::start(&lease);
    let name = "chart-rbac-forbidden";
    let api = apply_cr(
        &client,
        &resource::<baseline_operator::api::SecurityBaseline>(),
        name,
        json!({
            "mode": "Enforce",
            "namespaceSelector": {"matchLabels": {"chart-rbac-forbidden": "yes"}},
            "network": {"defaultDeny": ["Ingress", "Egress"], "allowDNS": true},
        }),
    )
    .await;

    // The status write still works: the failure is reported, naming the refused object.
    let deadline = std::time::Instant::now() + TIMEOUT;
    let condition = loop {
        operator.assert_running();
        let ready = current_ready(&api, name, false).await;
        if let Some(c) = ready.as_ref().filter(|c| c["status"] == "False") {
            break c.clone();
        }
        assert!(
            std::time::Instant::now() < deadline,
            "no Ready=False; Ready condition: {ready:?}\noperator output:\n{}",
            operator.output()
        );
        tokio::time::sleep(Duration::from_millis(250)).await;
    };
    assert_eq!(condition["reason"], "Forbidden", "{condition}");
    let message = condition["message"].as_str().unwrap_or_default();
    assert!(
        message.contains(&format!("NetworkPolicy {ns}/sb-{name}-")),
        "the message names the NetworkPolicy: {message}"
    );
    let policies: Api<NetworkPolicy> = Api::namespaced(client.clone(), &ns);
    assert!(
        policies
            .list(&Default::default())
            .await
            .unwrap()
            .items
            .is_empty(),
        "no NetworkPolicy was written"
    );
    // Events are still allowed: the refusal is published as a Warning.
    let events: Api<Event> = Api::all(client.clone());
    wait_until("a Forbidden Warning event", TIMEOUT, || async {
        events
            .list(&Default::default())
            .await
            .unwrap()
            .items
            .iter()
            .any(|e| {
                e.reason.as_deref() == Some("Forbidden")
                    && e.type_.as_deref() == Some("Warning")
                    && e.regarding.as_ref().and_then(|r| r.name.as_deref()) == Some(name)
            })
    })
    .await;
    let output = operator.output();
    assert!(
        output.contains("Forbidden") || output.contains("forbidden"),
        "the operator logs the refusal:\n{output}"
    );

    // Put the rule back: the operator recovers by itself (a ClusterRole change triggers a
    // reconcile; the namespace touch covers a race with the authorizer's cache).
    drop(restore);
    wait_until("NetworkPolicy writes granted again", TIMEOUT, || async {
        sa_can("create", "networkpolicies.networking.k8s.io", None)
    })
    .await;
    Api::<Namespace>::all(client.clone())
        .patch(
            &ns,
            &PatchParams::default(),
            &Patch::Merge(json!({"metadata": {"annotations": {"chart-rbac/touched": "yes"}}})),
        )
        .await
        .unwrap();
    wait_ready(&api, name, &mut operator).await;
    assert!(
        policies
            .get_opt(&format!("sb-{name}-default-deny"))
            .await
            .unwrap()
            .is_some(),
        "the NetworkPolicy exists once the rule is back"
    );
    delete_cr(&api, name).await;
    drop(operator);
    delete_lease(&lease);
}

/// The chart grants namespace create/delete for restore-test sandboxes only; its admission
/// policy holds the operator's identity to exactly that.
#[tokio::test]
async fn namespace_guard_limits_the_operator_to_sandboxes() {
    let _serial = serial().await;
    let client = client().await;
    install_chart(&[]);
    namespace(&client, "chart-rbac-precious", &[]).await;
    let as_operator = format!("--as={SERVICE_ACCOUNT}");
    let mut last = String::new();
    wait_until("deleting an ordinary namespace is denied", TIMEOUT, || {
        // A server-side dry run goes through admission without deleting anything, so an
        // attempt before the policy is active cannot take the namespace with it.
        let out = cluster().kubectl(&[
            "delete",
            "namespace",
            "chart-rbac-precious",
            "--dry-run=server",
            &as_operator,
        ]);
        last = String::from_utf8_lossy(&out.stderr).into_owned();
        let denied = !out.status.success() && last.contains("only restore-test sandbox namespaces");
        async move { denied }
    })
    .await;
    let sandbox = "apiVersion: v1\nkind: Namespace\nmetadata: {name: restore-test-chart-rbac, labels: {security.baseline.dev/restore-test: 'true'}}\n";
    cluster().kubectl_ok(&[
        "delete",
        "namespace",
        "restore-test-chart-rbac",
        "--ignore-not-found",
        "--wait=false",
    ]);
    let created = cluster().kubectl_stdin(&["create", "-f", "-", &as_operator], sandbox);
    assert!(
        created.status.success(),
        "creating a sandbox was denied: {}",
        String::from_utf8_lossy(&created.stderr)
    );
    cluster().kubectl_ok(&[
        "delete",
        "namespace",
        "restore-test-chart-rbac",
        "--wait=false",
        &as_operator,
    ]);
    assert!(
        Api::<Namespace>::all(client.clone())
            .get_opt("chart-rbac-precious")
            .await
            .unwrap()
            .is_some_and(|ns| ns.metadata.deletion_timestamp.is_none()),
        "the ordinary namespace was deleted"
    );

    // Updates (every patch, label and apply): the operator's own keys only, and never the
    // sandbox label. Server-side dry runs pass through admission and change nothing.
    cluster().kubectl_ok(&[
        "label",
        "namespace",
        "chart-rbac-precious",
        "env=production",
        "--overwrite",
    ]);
    let label = |args: &[&str]| {
        let mut all = vec![
            "label",
            "namespace",
            "chart-rbac-precious",
            "--overwrite",
            "--dry-run=server",
            &as_operator,
        ];
        all.extend_from_slice(args);
        let out = cluster().kubectl(&all);
        (
            out.status.success(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    };
    for (args, denial) in [
        (
            vec!["security.baseline.dev/restore-test=true"],
            "restore-test sandbox label",
        ),
        (vec!["env=development"], "only its own namespace labels"),
        (vec!["env-"], "only its own namespace labels"),
        (vec!["team=ops"], "only its own namespace labels"),
    ] {
        let (ok, stderr) = label(&args);
        assert!(
            !ok && stderr.contains(denial),
            "{args:?} as the operator: {stderr}"
        );
    }
    let (ok, stderr) = label(&["pod-security.kubernetes.io/enforce=restricted"]);
    assert!(ok, "a Pod Security label was denied: {stderr}");
    let annotate = cluster().kubectl(&[
        "annotate",
        "namespace",
        "chart-rbac-precious",
        "owner=mallory",
        "--dry-run=server",
        &as_operator,
    ]);
    assert!(
        !annotate.status.success()
            && String::from_utf8_lossy(&annotate.stderr)
                .contains("only its own namespace annotations"),
        "{}",
        String::from_utf8_lossy(&annotate.stderr)
    );
    // A sandbox needs the name prefix too, and keeps its label for life.
    let unprefixed = "apiVersion: v1\nkind: Namespace\nmetadata: {name: chart-rbac-fake-sandbox, labels: {security.baseline.dev/restore-test: 'true'}}\n";
    let created = cluster().kubectl_stdin(
        &["create", "--dry-run=server", "-f", "-", &as_operator],
        unprefixed,
    );
    assert!(
        !created.status.success()
            && String::from_utf8_lossy(&created.stderr)
                .contains("only restore-test sandbox namespaces"),
        "{}",
        String::from_utf8_lossy(&created.stderr)
    );
    cluster().kubectl_ok(&[
        "delete",
        "namespace",
        "restore-test-chart-rbac-2",
        "--ignore-not-found",
        "--wait=false",
    ]);
    let second = sandbox.replace("restore-test-chart-rbac", "restore-test-chart-rbac-2");
    cluster().kubectl_stdin(&["create", "-f", "-"], &second);
    let unlabel = cluster().kubectl(&[
        "label",
        "namespace",
        "restore-test-chart-rbac-2",
        "security.baseline.dev/restore-test-",
        "--dry-run=server",
        &as_operator,
    ]);
    assert!(
        !unlabel.status.success()
            && String::from_utf8_lossy(&unlabel.stderr).contains("restore-test sandbox label"),
        "{}",
        String::from_utf8_lossy(&unlabel.stderr)
    );
    cluster().kubectl_ok(&[
        "delete",
        "namespace",
        "restore-test-chart-rbac-2",
        "--wait=false",
    ]);
}

/// The real API server, impersonating the operator: it may create Velero Schedules in
/// Velero's namespace and nowhere else (RBAC: a Role there, nothing cluster-wide).
/// The README's install command works on a cluster without Velero: with default values and
/// no `velero` namespace, `helm install` succeeds (the Velero Role, which needs that
/// namespace, is left out and the notes say so), and the operator, with the chart's rights,
/// reports every BackupPolicy as missing Velero (`Ready=False`, `VeleroNamespaceMissing`,
/// every control failing on it, never a Pass). Once Velero's namespace exists, `helm upgrade`
/// adds the Role and the policy recovers.
#[tokio::test]
async fn helm_install_without_velero_succeeds_and_status_says_velero_is_missing() {
    let _serial = serial().await;
    let client = client().await;
    let _ = helm_output(&["uninstall", RELEASE, "--namespace", RELEASE_NS]);
    let namespaces: Api<Namespace> = Api::all(client.clone());
    let _ = namespaces.delete(VELERO, &DeleteParams::default()).await;
    wait_until("no velero namespace", TIMEOUT, || async {
        namespaces.get_opt(VELERO).await.unwrap().is_none()
    })
    .await;

    let chart = chart();
    let install = [
        "install",
        RELEASE,
        chart.to_str().unwrap(),
        "--namespace",
        RELEASE_NS,
        "--create-namespace",
        "--skip-crds",
    ];
    let notes = helm(&install);
    assert!(
        notes.contains(&format!("Velero's namespace \"{VELERO}\" does not exist")),
        "the notes do not say Velero is missing:\n{notes}"
    );
    let manifest = helm(&["get", "manifest", RELEASE, "--namespace", RELEASE_NS]);
    assert!(
        !manifest.contains(&format!("namespace: {VELERO}\n")),
        "the release puts objects into the missing {VELERO} namespace:\n{manifest}"
    );

    let lease = lease_name("no-velero");
    let mut operator = OperatorProcess::start(&lease);
    namespace(
        &client,
        "chart-rbac-no-velero",
        &[("chart-rbac", "no-velero")],
    )
    .await;
    let name = "chart-rbac-no-velero";
    let bp_api = apply_cr(
        &client,
        &resource::<baseline_operator::api::BackupPolicy>(),
        name,
        json!({
            "mode": "Enforce",
            "namespaceSelector": {"matchLabels": {"chart-rbac": "no-velero"}},
            "rpo": "24h",
        }),
    )
    .await;
    let deadline = std::time::Instant::now() + TIMEOUT;
    let status = loop {
        operator.assert_running();
        let ready = current_ready(&bp_api, name, true).await;
        if let Some(ready) = &ready
            && ready["status"] == "False"
            && ready["reason"] == "VeleroNamespaceMissing"
        {
            break bp_api.get(name).await.unwrap().data["status"].clone();
        }
        assert!(
            std::time::Instant::now() < deadline,
            "Ready never said Velero's namespace is missing; Ready: {ready:?}\noperator output:\n{}",
            operator.output()
        );
        tokio::time::sleep(Duration::from_millis(250)).await;
    };
    let conditions = status["conditions"].as_array().unwrap();
    let condition = |t: &str| {
        conditions
            .iter()
            .find(|c| c["type"] == t)
            .unwrap_or_else(|| panic!("no {t} condition: {status}"))
    };
    let ready_message = condition("Ready")["message"].as_str().unwrap_or_default();
    assert!(
        ready_message.contains(&format!("namespace `{VELERO}`"))
            && ready_message.contains("does not exist"),
        "{ready_message}"
    );
    assert_eq!(condition("Compliant")["status"], "False", "{status}");
    let controls = status["controls"].as_array().unwrap();
    assert_eq!(controls.len(), 4, "{status}");
    for control in controls {
        assert_eq!(control["state"], "Fail", "{control}");
        assert!(
            control["findings"][0]["message"]
                .as_str()
                .is_some_and(|m| m.contains("Velero is not deployed")),
            "{control}"
        );
    }

    // Velero arrives: an upgrade with the same values grants the Role, and the policy recovers.
    ensure_namespace(&client, VELERO).await;
    let mut upgrade = install.to_vec();
    upgrade[0] = "upgrade";
    helm(&upgrade);
    let roles: Api<Role> = Api::namespaced(client.clone(), VELERO);
    assert!(
        roles
            .get_opt(&format!("{RELEASE}-velero"))
            .await
            .unwrap()
            .is_some(),
        "helm upgrade did not add the Velero Role"
    );
    wait_ready(&bp_api, name, &mut operator).await;
    delete_cr(&bp_api, name).await;
    drop(operator);
    delete_lease(&lease);
}

#[tokio::test]
async fn velero_schedules_only_in_veleros_namespace() {
    let _serial = serial().await;
    let client = client().await;
    install_chart(&[]);
    namespace(&client, "chart-rbac-not-velero", &[]).await;
    let as_operator = format!("--as={SERVICE_ACCOUNT}");
    let schedule = |namespace: &str| {
        format!(
            "apiVersion: velero.io/v1\nkind: Schedule\nmetadata: {{name: chart-rbac-schedule, namespace: {namespace}}}\nspec: {{schedule: '0 0 * * *', template: {{includedNamespaces: [chart-rbac-bp]}}}}\n"
        )
    };
    let create = |namespace: &str| {
        let out = cluster().kubectl_stdin(
            &["create", "--dry-run=server", "-f", "-", &as_operator],
            &schedule(namespace),
        );
        (
            out.status.success(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    };
    let (ok, stderr) = create(VELERO);
    assert!(ok, "creating a Schedule in {VELERO} was denied: {stderr}");
    for elsewhere in ["chart-rbac-not-velero", "default"] {
        let (ok, stderr) = create(elsewhere);
        assert!(
            !ok && stderr.contains("forbidden"),
            "a Schedule in {elsewhere}: {stderr}"
        );
    }
}

/// A Restore as the operator would make one, with `change` applied to its spec.
fn restore_manifest(name: &str, change: impl FnOnce(&mut Value)) -> String {
    let mut restore = json!({
        "apiVersion": "velero.io/v1",
        "kind": "Restore",
        "metadata": {"name": name, "namespace": VELERO},
        "spec": {
            "backupName": "chart-rbac-backup",
            "includedNamespaces": ["shop"],
            "namespaceMapping": {"shop": "restore-test-chart-rbac-shop"},
            "includedResources": baseline_operator::desired::velero::restored_resources(),
            "resourceModifier": {"kind": "configmap", "name": "bp-chart-rbac-restore-test-modifiers"},
        },
    });
    change(&mut restore["spec"]);
    restore.to_string()
}

/// The chart's restore guard holds the operator's Restores to sandbox targets (every mapped
/// namespace `restore-test-*`, every included namespace mapped, never all namespaces) and to
/// restores that start, route and claim nothing (a resource modifier, no hooks, and an
/// `includedResources` allowlist: the operator's own list or part of it, never a kind beyond
/// it, never everything, never a denylist instead), on create and on update; a Restore as the
/// operator makes it passes.
#[tokio::test]
async fn restore_guard_confines_operator_restores_to_sandboxes() {
    let _serial = serial().await;
    let client = client().await;
    install_chart(&[]);
    let as_operator = format!("--as={SERVICE_ACCOUNT}");
    let create = |manifest: &str| {
        let out = cluster().kubectl_stdin(
            &["create", "--dry-run=server", "-f", "-", &as_operator],
            manifest,
        );
        (
            out.status.success(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    };
    let no_mapping = restore_manifest("chart-rbac-no-mapping", |s| {
        s.as_object_mut().unwrap().remove("namespaceMapping");
    });
    let mut last = String::new();
    wait_until("the restore guard is active", TIMEOUT, || {
        let (ok, stderr) = create(&no_mapping);
        last = stderr;
        let denied = !ok && last.contains("restore-test- sandboxes");
        async move { denied }
    })
    .await;

    let (ok, stderr) = create(&restore_manifest("chart-rbac-allowed", |_| {}));
    assert!(
        ok,
        "a sandbox Restore as the operator makes it was denied: {stderr}"
    );
    let (ok, stderr) = create(&restore_manifest("chart-rbac-part", |s| {
        s["includedResources"] = json!(["configmaps", "secrets"])
    }));
    assert!(
        ok,
        "a Restore of part of the allowlist was denied: {stderr}"
    );

    let sandbox_only = "restore-test- sandboxes";
    let names_sources = "name their source namespaces";
    let no_hooks = "Restores with hooks";
    let stops_workloads = "must reference a resource modifier";
    let allowlist = "only from the restore-test allowlist";
    type SpecChange = Box<dyn FnOnce(&mut Value)>;
    let cases: Vec<(&str, SpecChange, &str)> = vec![
        (
            "empty mapping",
            Box::new(|s| s["namespaceMapping"] = json!({})),
            sandbox_only,
        ),
        (
            "maps into a production namespace",
            Box::new(|s| s["namespaceMapping"] = json!({"shop": "shop-copy"})),
            sandbox_only,
        ),
        (
            "maps onto itself",
            Box::new(|s| s["namespaceMapping"] = json!({"shop": "shop"})),
            sandbox_only,
        ),
        (
            "one included namespace left unmapped (restored in place)",
            Box::new(|s| s["includedNamespaces"] = json!(["shop", "billing"])),
            sandbox_only,
        ),
        (
            "no includedNamespaces (every namespace)",
            Box::new(|s| {
                s.as_object_mut().unwrap().remove("includedNamespaces");
            }),
            names_sources,
        ),
        (
            "includedNamespaces *",
            Box::new(|s| s["includedNamespaces"] = json!(["*"])),
            names_sources,
        ),
        (
            "restore hooks",
            Box::new(|s| {
                s["hooks"] = json!({"resources": [{"name": "run", "postHooks": [
                    {"init": {"initContainers": [{"name": "x", "image": "busybox"}]}}
                ]}]})
            }),
            no_hooks,
        ),
        (
            "no resource modifier",
            Box::new(|s| {
                s.as_object_mut().unwrap().remove("resourceModifier");
            }),
            stops_workloads,
        ),
        (
            "no includedResources (everything, exclusions or not)",
            Box::new(|s| {
                s.as_object_mut().unwrap().remove("includedResources");
                s["excludedResources"] = json!(["pods", "jobs.batch", "cronjobs.batch"]);
            }),
            allowlist,
        ),
        (
            "includedResources *",
            Box::new(|s| s["includedResources"] = json!(["*"])),
            allowlist,
        ),
        (
            "includedResources empty",
            Box::new(|s| s["includedResources"] = json!([])),
            allowlist,
        ),
        (
            "cluster resources wholesale",
            Box::new(|s| s["includeClusterResources"] = json!(true)),
            "includeClusterResources",
        ),
    ];
    // Each kind that runs, routes or claims, added to the operator's list, is refused.
    let mut cases = cases;
    for kind in [
        "pods",
        "jobs.batch",
        "cronjobs.batch",
        "daemonsets.apps",
        "horizontalpodautoscalers.autoscaling",
        "services",
        "endpoints",
        "endpointslices.discovery.k8s.io",
        "ingresses.networking.k8s.io",
        "networkpolicies.networking.k8s.io",
        "httproutes.gateway.networking.k8s.io",
        "rollouts.argoproj.io",
        "namespaces",
        // Other spellings Velero would resolve or match as patterns.
        "Pods",
        "*.apps",
        "deployments.apps*",
    ] {
        cases.push((
            kind,
            Box::new(move |s: &mut Value| {
                s["includedResources"]
                    .as_array_mut()
                    .unwrap()
                    .push(json!(kind))
            }) as SpecChange,
            allowlist,
        ));
    }
    for (case, change, denial) in cases {
        let (ok, stderr) = create(&restore_manifest("chart-rbac-denied", change));
        assert!(!ok && stderr.contains(denial), "{case}: {stderr}");
    }

    // Update: a sandbox Restore (made by an admin) may not be re-pointed by the operator.
    let restores: Api<DynamicObject> = Api::namespaced_with(
        client.clone(),
        VELERO,
        &resource::<baseline_operator::velero::Restore>(),
    );
    let _ = restores
        .delete("chart-rbac-existing", &DeleteParams::default())
        .await;
    cluster().kubectl_stdin(
        &["apply", "-f", "-"],
        &restore_manifest("chart-rbac-existing", |_| {}),
    );
    let repoint = cluster().kubectl(&[
        "patch",
        "restores.velero.io",
        "chart-rbac-existing",
        "-n",
        VELERO,
        "--type=merge",
        "-p",
        r#"{"spec":{"namespaceMapping":{"shop":"shop"}}}"#,
        "--dry-run=server",
        &as_operator,
    ]);
    let stderr = String::from_utf8_lossy(&repoint.stderr);
    assert!(
        !repoint.status.success() && stderr.contains(sandbox_only),
        "re-pointing a Restore at the source: {stderr}"
    );
    // Other identities are not the guard's business (Velero itself updates Restores).
    let admin = cluster().kubectl(&[
        "patch",
        "restores.velero.io",
        "chart-rbac-existing",
        "-n",
        VELERO,
        "--type=merge",
        "-p",
        r#"{"metadata":{"labels":{"touched":"yes"}}}"#,
        "--dry-run=server",
    ]);
    assert!(
        admin.status.success(),
        "{}",
        String::from_utf8_lossy(&admin.stderr)
    );
    let _ = restores
        .delete("chart-rbac-existing", &DeleteParams::default())
        .await;
}
