//! Scope is closed to tenants, against the real API server: only the operator's own
//! configuration takes a namespace out of scope (an Invalid BackupPolicy naming a tenant
//! namespace as its Velero namespace changes nothing there), and the control plane's, Velero's
//! and the operator's namespaces are in no environment in admission as in evaluation, however
//! an environment's selector is written (`NotIn`, `DoesNotExist`).

use crate::backup_policy::velero_namespace;
use crate::environment_isolation::{
    ControlView, DeleteOnDrop, admitted, apply_isolation, binding, delete_isolation, wait_control,
};
use crate::support::*;
use baseline_operator::api::{BackupPolicy, SecurityBaseline};
use k8s_openapi::api::core::v1::Namespace;
use k8s_openapi::api::networking::v1::NetworkPolicy;
use kube::Client;
use kube::api::{Api, ListParams, Patch, PatchParams};
use serde_json::{Value, json};
use std::time::Duration;

const TIMEOUT: Duration = Duration::from_secs(45);
const MANAGED: &str = "app.kubernetes.io/managed-by=baseline-operator";
/// The in-process operator's Velero namespace (`--velero-namespace`).
const VELERO: &str = baseline_operator::controller::DEFAULT_VELERO_NAMESPACE;

/// Meets Pod Security `restricted`, so only the trusted-images rule can reject it.
fn latest_pod(ns: &str) -> String {
    format!(
        "apiVersion: v1\nkind: Pod\nmetadata: {{name: scope-latest, namespace: {ns}}}\nspec:\n  securityContext: {{runAsNonRoot: true, seccompProfile: {{type: RuntimeDefault}}}}\n  containers: [{{name: app, image: \"nginx:latest\", securityContext: {{allowPrivilegeEscalation: false, capabilities: {{drop: [ALL]}}}}}}]\n"
    )
}

/// Breaks Pod Security `restricted` (privileged) with a pinned image, so only Pod Security
/// Admission can reject it.
fn privileged_pod(ns: &str) -> String {
    format!(
        "apiVersion: v1\nkind: Pod\nmetadata: {{name: scope-privileged, namespace: {ns}}}\nspec:\n  containers: [{{name: app, image: \"registry.example.com/app:1\", securityContext: {{privileged: true}}}}]\n"
    )
}

/// Whether Pod Security Admission rejects `yaml` (an admitted pod is deleted again).
fn psa_rejects(yaml: &str) -> bool {
    match cluster().apply_yaml(yaml) {
        Ok(_) => {
            cluster().kubectl_stdin(&["delete", "--wait", "-f", "-"], yaml);
            false
        }
        Err(message) => message.contains("violates PodSecurity"),
    }
}

/// The names of the operator's NetworkPolicies in `ns`, sorted.
async fn owned_policies(client: &Client, ns: &str) -> Vec<String> {
    let api: Api<NetworkPolicy> = Api::namespaced(client.clone(), ns);
    let mut names: Vec<String> = api
        .list(&ListParams::default().labels(MANAGED))
        .await
        .unwrap()
        .items
        .into_iter()
        .filter_map(|p| p.metadata.name)
        .collect();
    names.sort();
    names
}

async fn pod_security_label(client: &Client, ns: &str) -> Option<String> {
    let api: Api<Namespace> = Api::all(client.clone());
    api.get(ns)
        .await
        .unwrap()
        .metadata
        .labels
        .unwrap_or_default()
        .get("pod-security.kubernetes.io/enforce")
        .cloned()
}

/// The namespaces the baseline's status covers and the ones it says it left out.
async fn scope_of(api: &Api<SecurityBaseline>, name: &str) -> (Vec<String>, Vec<String>) {
    let sb = api.get(name).await.unwrap();
    let scope = sb.status.and_then(|s| s.scope).unwrap_or_default();
    let excluded = scope.excluded.into_iter().map(|e| e.name).collect();
    (scope.namespace_names, excluded)
}

/// Everything a SecurityBaseline in Enforce mode puts on `ns`, checked on the API server:
/// owned NetworkPolicies, the Pod Security label (and PSA refusing a privileged pod), the
/// trusted-images admission rule, and status covering the namespace.
async fn enforced(client: &Client, api: &Api<SecurityBaseline>, name: &str, ns: &str) -> bool {
    let (covered, excluded) = scope_of(api, name).await;
    !owned_policies(client, ns).await.is_empty()
        && pod_security_label(client, ns).await.as_deref() == Some("restricted")
        && covered == [ns]
        && !excluded.iter().any(|e| e == ns)
        && cluster().rejects(&latest_pod(ns), "trusted-images")
        && psa_rejects(&privileged_pod(ns))
}

/// A BackupPolicy is cluster-scoped, but whoever may write one must not be able to switch off
/// security in a namespace by naming it as Velero's: an Invalid BackupPolicy whose
/// `spec.velero.namespace` is a tenant namespace (created, or edited into it) leaves that
/// namespace's NetworkPolicies, Pod Security label and admission rules in place, and the
/// baseline's status still covers it.
#[tokio::test]
async fn an_invalid_backup_policy_naming_a_tenant_namespace_leaves_it_enforced() {
    let s = Scenario::start().await.timeout(TIMEOUT);
    velero_namespace(&s.client).await;
    let tenant = "e2e-scope-payments";
    s.namespace(tenant, &[("e2e-scope", "tenant")]).await;
    let sb_name = "e2e-scope-tenant";
    let _sb_cleanup = DeleteOnDrop("securitybaseline", sb_name.to_string());
    let sb: Api<SecurityBaseline> = apply_cr(
        &s.client,
        sb_name,
        json!({
            "mode": "Enforce",
            "namespaceSelector": {"matchLabels": {"e2e-scope": "tenant"}},
            "network": {"defaultDeny": ["Ingress"]},
            "podSecurity": {"level": "restricted"},
            "images": {"disallowLatestTag": true},
        }),
    )
    .await;
    s.wait_until("the tenant namespace is enforced", || {
        enforced(&s.client, &sb, sb_name, tenant)
    })
    .await;
    let policies_before = owned_policies(&s.client, tenant).await;

    let bp_name = "e2e-scope-forged";
    let _bp_cleanup = DeleteOnDrop("backuppolicy", bp_name.to_string());
    let invalid_naming = |velero: &str| {
        json!({
            "mode": "Enforce",
            "namespaceSelector": {"matchLabels": {"e2e-scope": "nothing"}},
            "rpo": "24h",
            "velero": {"namespace": velero},
        })
    };
    // Valid first (the operator's own Velero namespace), then edited to name the tenant's:
    // both a new resource and an update must be harmless.
    let bp: Api<BackupPolicy> = apply_cr(&s.client, bp_name, invalid_naming(VELERO)).await;
    apply_cr::<BackupPolicy>(&s.client, bp_name, invalid_naming(tenant)).await;
    s.wait_until(
        "the BackupPolicy is Invalid, naming spec.velero.namespace",
        || async {
            let Ok(policy) = bp.get(bp_name).await else {
                return false;
            };
            let generation = policy.metadata.generation;
            policy.status.is_some_and(|s| {
                s.compliance.conditions.iter().any(|c| {
                    c.type_ == "Ready"
                        && c.status == "False"
                        && c.reason == "Invalid"
                        && c.observed_generation == generation
                        && c.message.contains("spec.velero.namespace")
                })
            })
        },
    )
    .await;
    // A change in the tenant namespace makes the baseline evaluate again with the policy in
    // the operator's cache, so that nothing below is judged before the operator could react.
    let namespaces: Api<Namespace> = Api::all(s.client.clone());
    namespaces
        .patch(
            tenant,
            &PatchParams::default(),
            &Patch::Merge(json!({"metadata": {"labels": {"e2e-scope-poke": "1"}}})),
        )
        .await
        .unwrap();
    settle_writes().await;

    assert_eq!(
        owned_policies(&s.client, tenant).await,
        policies_before,
        "the tenant namespace lost its NetworkPolicies"
    );
    assert_eq!(
        pod_security_label(&s.client, tenant).await.as_deref(),
        Some("restricted"),
        "the tenant namespace lost its Pod Security label"
    );
    assert!(
        cluster().rejects(&latest_pod(tenant), "trusted-images"),
        "the trusted-images admission rule no longer covers the tenant namespace"
    );
    assert!(
        psa_rejects(&privileged_pod(tenant)),
        "Pod Security Admission no longer covers the tenant namespace"
    );
    let (covered, excluded) = scope_of(&sb, sb_name).await;
    assert_eq!(covered, [tenant], "status no longer covers the tenant");
    assert!(!excluded.iter().any(|e| e == tenant), "{excluded:?}");
}

/// The cross-environment policy under test: production by label, and development as
/// "everything else", written with `NotIn` or `DoesNotExist`, which match `kube-system`,
/// Velero's and the operator's namespaces too.
fn everything_else_is_development(development: Value) -> Value {
    json!({
        "mode": "Enforce",
        "environments": [
            {"name": "production", "production": true,
             "namespaceSelector": {"matchLabels": {"e2e-scope-env": "production"}}},
            {"name": "development", "production": false, "namespaceSelector": development},
        ],
        "access": {"denyCrossEnvironmentBindings": true},
    })
}

async fn ensure_namespace(client: &Client, name: &str) {
    let api: Api<Namespace> = Api::all(client.clone());
    if api.get_opt(name).await.unwrap().is_none() {
        namespace(client, name, &[]).await;
    }
}

/// A ClusterRoleBinding for `kube-system/coredns` (and every other identity of an excluded
/// namespace, in every subject form) is admitted with an EnvironmentIsolation in Enforce whose
/// development environment is "everything but production" (`NotIn`, then `DoesNotExist`),
/// while a real cross-environment binding is still refused; Kubernetes' own bootstrap
/// ClusterRoleBindings can still be updated, and evaluation agrees (no finding about them).
#[tokio::test]
async fn system_namespaces_are_in_no_environment_in_admission() {
    let s = Scenario::start().await.timeout(TIMEOUT);
    velero_namespace(&s.client).await;
    ensure_namespace(&s.client, OPERATOR_HOME).await;
    ensure_namespace(&s.client, EXCLUDED_BY_FLAG).await;
    let prod = "e2e-scope-prod";
    let dev = "e2e-scope-dev";
    s.namespace(prod, &[("e2e-scope-env", "production")]).await;
    s.namespace(dev, &[]).await;
    let rbac = "apiGroup: rbac.authorization.k8s.io";
    // Identities of excluded namespaces: the control plane's, Velero's, the operator's own
    // (the chart binds its ServiceAccount there) and one excluded by flag.
    let excluded_identities = [
        (
            "coredns",
            "{kind: ServiceAccount, name: coredns, namespace: kube-system}".to_string(),
        ),
        (
            "coredns-user",
            format!("{{kind: User, name: 'system:serviceaccount:kube-system:coredns', {rbac}}}"),
        ),
        (
            "kube-system-sas",
            format!("{{kind: Group, name: 'system:serviceaccounts:kube-system', {rbac}}}"),
        ),
        (
            "velero",
            format!("{{kind: ServiceAccount, name: velero, namespace: {VELERO}}}"),
        ),
        (
            "operator",
            format!(
                "{{kind: ServiceAccount, name: baseline-operator, namespace: {OPERATOR_HOME}}}"
            ),
        ),
        (
            "by-flag",
            format!("{{kind: ServiceAccount, name: app, namespace: {EXCLUDED_BY_FLAG}}}"),
        ),
    ];
    let dev_sa = format!("{{kind: ServiceAccount, name: ci, namespace: {dev}}}");
    let crossing = [
        binding(None, "e2e-scope-dev-ci", &dev_sa, ""),
        binding(Some(prod), "scope-dev-ci", &dev_sa, ""),
    ];

    let name = "e2e-scope-envs";
    let _cleanup = DeleteOnDrop("environmentisolation", name.to_string());
    let mut api = None;
    for development in [
        json!({"matchExpressions": [{"key": "e2e-scope-env", "operator": "NotIn", "values": ["production"]}]}),
        json!({"matchExpressions": [{"key": "e2e-scope-env", "operator": "DoesNotExist"}]}),
    ] {
        let selector = development.to_string();
        let not_in = selector.contains("NotIn");
        api = Some(
            apply_isolation(&s.client, name, everything_else_is_development(development)).await,
        );
        // The rendered policy follows the selector (only `NotIn` lists values): wait for it,
        // then for it to refuse.
        s.wait_until("the policy for this selector is live", || async {
            let out = cluster().kubectl(&[
                "get",
                "validatingadmissionpolicy",
                &format!("ei-{name}-cross-environment-access"),
                "-o",
                "json",
            ]);
            out.status.success()
                && String::from_utf8_lossy(&out.stdout).contains("in ['production']") == not_in
        })
        .await;
        for yaml in &crossing {
            s.wait_until(&format!("{selector}: {yaml} refused"), || {
                let refused = cluster().rejects(yaml, "cross-environment-access");
                async move { refused }
            })
            .await;
        }
        for (form, subject) in &excluded_identities {
            let yaml = binding(None, &format!("e2e-scope-{form}"), subject, "");
            assert!(
                admitted(&yaml),
                "{selector}: a ClusterRoleBinding of an excluded namespace's identity ({form}) was refused:\n{yaml}"
            );
        }
        // Kubernetes' own bindings (which the API server reconciles at every start) can still
        // be written: a server-side dry run of a change to each is admitted.
        let out = cluster().kubectl(&[
            "annotate",
            "clusterrolebinding",
            "-l",
            "kubernetes.io/bootstrapping=rbac-defaults",
            "e2e-scope/touched=1",
            "--overwrite",
            "--dry-run=server",
        ]);
        assert!(
            out.status.success(),
            "{selector}: a bootstrap ClusterRoleBinding was refused:\n{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }

    // Evaluation agrees: no finding about an excluded namespace's identities (the bootstrap
    // bindings of kube-system's ServiceAccounts are in the cluster).
    let api = api.unwrap();
    let view: ControlView =
        wait_control(&api, name, "cross-environment-access", "evaluated", |_| {
            true
        })
        .await;
    for finding in &view.findings {
        for ns in ["kube-system", VELERO, OPERATOR_HOME, EXCLUDED_BY_FLAG] {
            assert!(
                !finding.contains(&format!("namespace `{ns}`")),
                "finding about {ns}: {finding}"
            );
        }
    }
    delete_isolation(&api, name).await;
    // Its isolation NetworkPolicies went into every namespace: wait until they are gone.
    let policies: Api<NetworkPolicy> = Api::all(s.client.clone());
    let isolation = format!("ei-{name}-isolation");
    s.wait_until("the isolation NetworkPolicies are gone", || async {
        !policies
            .list(&ListParams::default().labels(MANAGED))
            .await
            .unwrap()
            .items
            .iter()
            .any(|p| p.metadata.name.as_deref() == Some(isolation.as_str()))
    })
    .await;
}
