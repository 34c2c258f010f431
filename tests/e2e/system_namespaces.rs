//! System namespaces are never touched by accident: a SecurityBaseline in Enforce mode that
//! names kube-system, kube-public, kube-node-lease, velero, the operator's own namespace and
//! one excluded by flag puts no NetworkPolicy, no Pod Security label and no admission rule on
//! any of them, and its status lists each as excluded with the reason.

use crate::backup_policy::velero_namespace;
use crate::environment_isolation::DeleteOnDrop;
use crate::support::*;
use k8s_openapi::api::core::v1::Namespace;
use k8s_openapi::api::networking::v1::NetworkPolicy;
use kube::api::{Api, ListParams};
use serde_json::json;
use std::time::Duration;

const TIMEOUT: Duration = Duration::from_secs(45);
const NAME: &str = "e2e-system";
const OPEN: &str = "e2e-sys-open";

/// Meets Pod Security `restricted`, so only the trusted-images rule can reject it.
fn latest_pod(ns: &str) -> String {
    format!(
        "apiVersion: v1\nkind: Pod\nmetadata: {{name: sys-latest, namespace: {ns}}}\nspec:\n  securityContext: {{runAsNonRoot: true, seccompProfile: {{type: RuntimeDefault}}}}\n  containers: [{{name: app, image: \"nginx:latest\", securityContext: {{allowPrivilegeEscalation: false, capabilities: {{drop: [ALL]}}}}}}]\n"
    )
}

#[tokio::test]
async fn excluded_namespaces_get_no_enforcement_and_status_says_why() {
    let s = Scenario::start().await.timeout(TIMEOUT);
    velero_namespace(&s.client).await;
    for ns in [OPERATOR_HOME, EXCLUDED_BY_FLAG, OPEN] {
        s.namespace(ns, &[]).await;
    }
    let named = [
        "kube-system",
        "kube-public",
        "kube-node-lease",
        "velero",
        OPERATOR_HOME,
        EXCLUDED_BY_FLAG,
        OPEN,
    ];
    let _cleanup = DeleteOnDrop("securitybaseline", NAME.to_string());
    let baseline = s
        .baseline(
            NAME,
            json!({
                "mode": "Enforce",
                // Names every excluded namespace outright: exclusion wins over any selector.
                "namespaceSelector": {"matchExpressions": [
                    {"key": "kubernetes.io/metadata.name", "operator": "In", "values": named},
                ]},
                "network": {"defaultDeny": ["Ingress", "Egress"]},
                "podSecurity": {"level": "restricted"},
                "images": {"disallowLatestTag": true},
            }),
        )
        .await;
    let excluded_now = || async {
        let sb = baseline.api.get(NAME).await.unwrap();
        let scope = sb.status.and_then(|s| s.scope).unwrap_or_default();
        let excluded: Vec<String> = scope
            .excluded
            .iter()
            .map(|e| format!("{}={}", e.name, e.reason))
            .collect();
        (scope.namespace_names, excluded)
    };
    s.wait_until("scope with the excluded namespaces", || async {
        let (names, excluded) = excluded_now().await;
        names == [OPEN] && excluded.len() == 6
    })
    .await;
    let (_, excluded) = excluded_now().await;
    assert_eq!(
        excluded,
        [
            format!("{EXCLUDED_BY_FLAG}=ExcludedByConfiguration"),
            format!("{OPERATOR_HOME}=OperatorNamespace"),
            "kube-node-lease=SystemNamespace".to_string(),
            "kube-public=SystemNamespace".to_string(),
            "kube-system=SystemNamespace".to_string(),
            "velero=VeleroNamespace".to_string(),
        ]
    );

    // The namespace in scope is enforced: policies, labels and admission.
    s.wait_until("the open namespace is enforced", || {
        let rejected = cluster().rejects(&latest_pod(OPEN), "trusted-images");
        async move { rejected }
    })
    .await;
    let namespaces: Api<Namespace> = Api::all(s.client.clone());
    let labels = |ns: &'static str| s.labels(ns);
    assert_eq!(
        labels(OPEN)
            .await
            .get("pod-security.kubernetes.io/enforce")
            .map(String::as_str),
        Some("restricted")
    );
    let policies: Api<NetworkPolicy> = Api::all(s.client.clone());
    let owned = policies
        .list(&ListParams::default().labels("app.kubernetes.io/managed-by=baseline-operator"))
        .await
        .unwrap()
        .items;
    let owned_in: Vec<String> = owned
        .iter()
        .filter_map(|p| p.metadata.namespace.clone())
        .collect();
    assert!(owned_in.iter().any(|ns| ns == OPEN), "{owned_in:?}");

    // None of it reaches an excluded namespace.
    settle_writes().await;
    for ns in &named[..6] {
        assert!(
            !owned_in.iter().any(|o| o == ns),
            "owned NetworkPolicy in {ns}: {owned_in:?}"
        );
        let ns_labels = namespaces
            .get(ns)
            .await
            .unwrap()
            .metadata
            .labels
            .unwrap_or_default();
        assert!(
            !ns_labels
                .keys()
                .any(|k| k.starts_with("pod-security.kubernetes.io/")),
            "{ns}: {ns_labels:?}"
        );
    }
    for ns in [OPERATOR_HOME, EXCLUDED_BY_FLAG, "kube-public"] {
        let yaml = latest_pod(ns);
        cluster()
            .apply_yaml(&yaml)
            .unwrap_or_else(|e| panic!("{ns}: a pod the baseline would reject was refused: {e}"));
        cluster().kubectl_stdin(&["delete", "--wait", "-f", "-"], &yaml);
    }
}
