//! SecurityBaseline against the real API server: enforcement objects, admission, drift,
//! findings and the zero-write steady state.

use crate::support::*;
use baseline_operator::api::{ControlState, SecurityBaseline};
use k8s_openapi::api::core::v1::Namespace;
use k8s_openapi::api::networking::v1::NetworkPolicy;
use kube::api::{Api, DeleteParams, Patch, PatchParams};
use serde_json::{Value, json};
use std::time::Duration;

fn control_state(sb: &SecurityBaseline, id: &str) -> Option<(ControlState, Vec<String>)> {
    find_control(sb, id).map(|c| (c.state, findings(c)))
}

#[tokio::test]
async fn selected_namespaces_get_policies_and_labels_and_lose_them_when_relabelled() {
    let s = Scenario::start().await;
    let ns = s.namespace("e2e-sb-select", &[("e2e-sb", "select")]).await;
    let baseline = s.baseline("e2e-select", json!({
        "mode": "Enforce",
        "namespaceSelector": {"matchLabels": {"e2e-sb": "select"}},
        "network": {"defaultDeny": ["Ingress", "Egress"], "allowDNS": true, "allowedIngressPorts": [{"port": 443}]},
        "podSecurity": {"level": "restricted", "version": "v1.30"},
    }))
    .await;
    s.wait_until("owned NetworkPolicies exist", || async {
        let names = s.network_policies(&ns).await;
        names.contains(&"sb-e2e-select-default-deny".to_string())
            && names.contains(&"sb-e2e-select-allow".to_string())
    })
    .await;
    let policies: Api<NetworkPolicy> = Api::namespaced(s.client.clone(), &ns);
    let allow = policies.get("sb-e2e-select-allow").await.unwrap();
    let spec = allow.spec.unwrap();
    let ingress_port = &spec.ingress.as_ref().unwrap()[0].ports.as_ref().unwrap()[0];
    assert_eq!(
        serde_json::to_value(&ingress_port.port).unwrap(),
        json!(443)
    );
    let egress_ports: Vec<Value> = spec.egress.unwrap()[0]
        .ports
        .clone()
        .unwrap()
        .iter()
        .map(|p| serde_json::to_value(p).unwrap())
        .collect();
    assert!(
        egress_ports.contains(&json!({"port": 53, "protocol": "UDP"})),
        "{egress_ports:?}"
    );
    s.wait_until("PSA labels applied", || async {
        let labels = s.labels(&ns).await;
        labels
            .get("pod-security.kubernetes.io/enforce")
            .map(String::as_str)
            == Some("restricted")
            && labels
                .get("pod-security.kubernetes.io/enforce-version")
                .map(String::as_str)
                == Some("v1.30")
            && labels
                .get("pod-security.kubernetes.io/warn")
                .map(String::as_str)
                == Some("restricted")
    })
    .await;

    let namespaces: Api<Namespace> = Api::all(s.client.clone());
    namespaces
        .patch(
            &ns,
            &PatchParams::default(),
            &Patch::Merge(json!({"metadata": {"labels": {"e2e-sb": "elsewhere"}}})),
        )
        .await
        .unwrap();
    s.wait_until("policies and labels removed after relabel", || async {
        let labels = s.labels(&ns).await;
        s.network_policies(&ns).await.is_empty()
            && !labels
                .keys()
                .any(|k| k.starts_with("pod-security.kubernetes.io/"))
    })
    .await;
    baseline.delete().await;
}

#[tokio::test]
async fn owned_network_policy_is_restored_after_delete_and_edit() {
    let s = Scenario::start().await;
    let ns = s.namespace("e2e-sb-drift", &[("e2e-sb", "drift")]).await;
    let baseline = s
        .baseline(
            "e2e-drift",
            json!({
                "mode": "Enforce",
                "namespaceSelector": {"matchLabels": {"e2e-sb": "drift"}},
                "network": {"allowedIngressPorts": [{"port": 8443}]},
            }),
        )
        .await;
    let policies: Api<NetworkPolicy> = Api::namespaced(s.client.clone(), &ns);
    let allow_port = || async {
        let p = policies.get_opt("sb-e2e-drift-allow").await.unwrap()?;
        let port = p
            .spec?
            .ingress?
            .first()?
            .ports
            .clone()?
            .first()?
            .port
            .clone()?;
        Some(serde_json::to_value(port).unwrap())
    };
    s.wait_until("allow policy created", || async {
        allow_port().await == Some(json!(8443))
    })
    .await;

    policies
        .delete("sb-e2e-drift-default-deny", &DeleteParams::default())
        .await
        .unwrap();
    s.wait_until("deleted policy restored", || async {
        policies
            .get_opt("sb-e2e-drift-default-deny")
            .await
            .unwrap()
            .is_some()
    })
    .await;

    policies
        .patch(
            "sb-e2e-drift-allow",
            &PatchParams::default(),
            &Patch::Merge(
                json!({"spec": {"ingress": [{"ports": [{"port": 22, "protocol": "TCP"}]}]}}),
            ),
        )
        .await
        .unwrap();
    s.wait_until("edited policy restored", || async {
        allow_port().await == Some(json!(8443))
    })
    .await;

    let events = cluster().kubectl_ok(&[
        "get",
        "events",
        "-A",
        "--field-selector",
        "reason=Restored",
        "-o",
        "json",
    ]);
    assert!(
        events.contains("sb-e2e-drift-default-deny"),
        "no Restored event for the deleted policy"
    );
    baseline.delete().await;
}

#[tokio::test]
async fn violations_created_before_the_baseline_become_findings() {
    let s = Scenario::start().await;
    let ns = s
        .namespace("e2e-sb-findings", &[("e2e-sb", "findings")])
        .await;
    cluster()
        .apply_yaml(&format!(
            r#"
apiVersion: v1
kind: Pod
metadata: {{name: web, namespace: {ns}}}
spec:
  containers: [{{name: api, image: "nginx:latest"}}]
---
apiVersion: networking.k8s.io/v1
kind: Ingress
metadata: {{name: shop, namespace: {ns}}}
spec:
  rules: [{{host: shop.example.com, http: {{paths: [{{path: /, pathType: Prefix, backend: {{service: {{name: web, port: {{number: 80}}}}}}}}]}}}}]
---
apiVersion: rbac.authorization.k8s.io/v1
kind: RoleBinding
metadata: {{name: too-much, namespace: {ns}}}
roleRef: {{apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: cluster-admin}}
subjects: [{{kind: ServiceAccount, name: default, namespace: {ns}}}]
"#
        ))
        .expect("create violating objects");
    let soon = (jiff::Timestamp::now() + jiff::SignedDuration::from_hours(72))
        .strftime("%Y-%m-%d")
        .to_string();
    let baseline = s.baseline("e2e-findings", json!({
            "mode": "Audit",
            "namespaceSelector": {"matchLabels": {"e2e-sb": "findings"}},
            "network": {},
            "encryption": {"inTransit": {"requireIngressTLS": true}},
            "podSecurity": {"level": "restricted"},
            "images": {"disallowLatestTag": true},
            "access": {"forbiddenRoles": ["cluster-admin"]},
            "resources": {"requireRequests": true},
            "exemptions": [
                // Both on a control the baseline configures: the one about to run out waives
                // nothing here (its selector matches no object), the one long over would waive
                // the `nginx:latest` pod if expiry were ignored.
                {"controls": ["trusted-images"], "selector": {"matchLabels": {"team": "elsewhere"}}, "reason": "soon over", "approvedBy": "ciso", "expires": soon},
                {"controls": ["trusted-images"], "reason": "long over", "approvedBy": "ciso", "expires": "2020-01-01"},
            ],
        }),
    )
    .await;
    let sb = baseline.wait_reconciled().await;
    // Exemptions about to run out, or already out, are announced as warnings.
    for reason in ["ExemptionExpiring", "ExemptionExpired"] {
        s.wait_until(&format!("{reason} warning event"), || async {
            let selector = format!("reason={reason}");
            let events = cluster().kubectl_ok(&[
                "get",
                "events",
                "-A",
                "--field-selector",
                &selector,
                "-o",
                "json",
            ]);
            events.contains("e2e-findings") && events.contains("Warning")
        })
        .await;
    }
    let expect = [
        (
            "trusted-images",
            "container `api` image `nginx:latest` uses a mutable tag",
        ),
        (
            "encryption-in-transit",
            "host `shop.example.com` is served without TLS",
        ),
        (
            "least-privilege",
            "grants forbidden ClusterRole `cluster-admin`",
        ),
        (
            "workload-hardening",
            "violates PodSecurity \"restricted:latest\"",
        ),
        ("resource-governance", "does not declare a CPU request"),
        (
            "restricted-ports",
            "has no default-deny Ingress NetworkPolicy",
        ),
    ];
    for (id, text) in expect {
        let (state, findings) = control_state(&sb, id).unwrap_or_else(|| panic!("{id} missing"));
        assert_eq!(state, ControlState::Fail, "{id}: {findings:?}");
        assert!(
            findings.iter().any(|f| f.contains(text)),
            "{id}: no finding containing {text:?} in {findings:?}"
        );
    }
    assert_eq!(condition(&sb, "Compliant").status, "False");
    // Audit mode enforces nothing, but still reports every finding in a PolicyReport.
    assert!(s.network_policies(&ns).await.is_empty());
    s.wait_until("PolicyReport with the findings", || async {
        let out = cluster().kubectl(&[
            "get",
            "policyreport",
            "sb-e2e-findings",
            "-n",
            &ns,
            "-o",
            "json",
        ]);
        let report: Value = serde_json::from_slice(&out.stdout).unwrap_or_default();
        let rules: Vec<&str> = report["results"]
            .as_array()
            .map(|r| r.iter().filter_map(|r| r["rule"].as_str()).collect())
            .unwrap_or_default();
        [
            "trusted-images",
            "encryption-in-transit",
            "least-privilege",
            "workload-hardening",
        ]
        .iter()
        .all(|rule| rules.contains(rule))
            && report["summary"]["fail"].as_i64() >= Some(4)
    })
    .await;
    baseline.delete().await;
}

fn violating(ns: &str, what: &str, exempt: bool) -> String {
    let labels = if exempt { "{exempt: \"yes\"}" } else { "{}" };
    match what {
        "ingress" => format!(
            "apiVersion: networking.k8s.io/v1\nkind: Ingress\nmetadata: {{name: plain, namespace: {ns}, labels: {labels}}}\nspec:\n  rules: [{{host: plain.example.com}}]\n"
        ),
        "pvc" => format!(
            "apiVersion: v1\nkind: PersistentVolumeClaim\nmetadata: {{name: data, namespace: {ns}, labels: {labels}}}\nspec:\n  storageClassName: standard\n  accessModes: [ReadWriteOnce]\n  resources: {{requests: {{storage: 1Gi}}}}\n"
        ),
        "pod" => format!(
            "apiVersion: v1\nkind: Pod\nmetadata: {{name: latest, namespace: {ns}, labels: {labels}}}\nspec:\n  containers: [{{name: web, image: \"nginx:latest\"}}]\n"
        ),
        _ => format!(
            "apiVersion: rbac.authorization.k8s.io/v1\nkind: RoleBinding\nmetadata: {{name: admin, namespace: {ns}, labels: {labels}}}\nroleRef: {{apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: cluster-admin}}\nsubjects: [{{kind: User, name: mallory}}]\n"
        ),
    }
}

#[tokio::test]
async fn enforce_mode_makes_the_api_server_reject_violations_unless_exempted() {
    let s = Scenario::start().await;
    let ns = s
        .namespace("e2e-sb-admission", &[("e2e-sb", "admission")])
        .await;
    let spec = |exemptions: Value| {
        json!({
            "mode": "Enforce",
            "namespaceSelector": {"matchLabels": {"e2e-sb": "admission"}},
            "encryption": {"inTransit": {"requireIngressTLS": true}, "atRest": {"encryptedStorageClasses": ["encrypted-gp3"]}},
            "images": {"disallowLatestTag": true},
            "access": {"forbiddenRoles": ["cluster-admin"]},
            "exemptions": exemptions,
        })
    };
    let baseline = s.baseline("e2e-admission", spec(json!([]))).await;
    let cases = [
        ("ingress", "encryption-in-transit"),
        ("pvc", "encryption-at-rest"),
        ("pod", "trusted-images"),
        ("rolebinding", "least-privilege"),
    ];
    for (what, control) in cases {
        s.wait_until(&format!("{what} rejected by {control}"), || {
            let rejected = cluster().rejects(&violating(&ns, what, false), control);
            async move { rejected }
        })
        .await;
    }
    let exemption = json!([{
        "controls": ["encryption-in-transit", "encryption-at-rest", "trusted-images", "least-privilege"],
        "namespaces": [ns], "selector": {"matchLabels": {"exempt": "yes"}},
        "reason": "e2e", "approvedBy": "ciso", "expires": "2099-01-01",
    }]);
    baseline.apply(spec(exemption)).await;
    for (what, control) in cases {
        s.wait_until(
            &format!("exempted {what} admitted despite {control}"),
            || {
                let result = cluster().apply_yaml(&violating(&ns, what, true));
                async move { result.is_ok() }
            },
        )
        .await;
    }
    baseline.delete().await;
    let policies = cluster().kubectl_ok(&["get", "validatingadmissionpolicies", "-o", "name"]);
    assert!(
        !policies.contains("sb-e2e-admission"),
        "policies left after delete: {policies}"
    );
}

#[tokio::test]
async fn converged_resync_makes_no_writes_and_audit_mode_removes_enforcement() {
    let s = Scenario::start().await;
    let operator = operator();
    let ns = s.namespace("e2e-sb-steady", &[("e2e-sb", "steady")]).await;
    let spec = |mode: &str| {
        json!({
            "mode": mode,
            "namespaceSelector": {"matchLabels": {"e2e-sb": "steady"}},
            "network": {"defaultDeny": ["Ingress"], "allowedIngressPorts": [{"port": 443}]},
            "podSecurity": {"level": "baseline"},
            "images": {"allowedRegistries": ["registry.example.com/"]},
            "access": {"forbiddenRoles": ["admin"]},
        })
    };
    let baseline = s.baseline("e2e-steady", spec("Enforce")).await;
    baseline.wait_reconciled().await;
    s.wait_until("policies in place", || async {
        s.network_policies(&ns).await.len() == 2
    })
    .await;
    // Let in-flight reconciles settle, then force full resyncs: a namespace's change wakes
    // the resources selecting it, so touching the selected namespace with a label no selector
    // reads reconciles the baseline and changes nothing it judges. The bystander is created
    // before the writes settle: an EnvironmentIsolation judges a namespace in no environment,
    // so its arrival may change evidence; relabelling it must not.
    let bystander = s.namespace("e2e-sb-bystander", &[]).await;
    settle_writes().await;
    let settled = operator.metrics.total_writes();
    let writes_before = operator.metrics.encode();
    let namespaces: Api<Namespace> = Api::all(s.client.clone());
    for round in 0..3 {
        let reconciles = operator.metrics.total_reconciles();
        let touch = json!({"metadata": {"labels": {"e2e-touch": round.to_string()}}});
        for namespace in [&ns, &bystander] {
            namespaces
                .patch(namespace, &PatchParams::default(), &Patch::Merge(&touch))
                .await
                .unwrap();
        }
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

    baseline.apply(spec("Audit")).await;
    s.wait_until(
        "Audit mode removes policies, labels and admission policies",
        || async {
            let labels = s.labels(&ns).await;
            let vaps = cluster().kubectl_ok(&["get", "validatingadmissionpolicies", "-o", "name"]);
            s.network_policies(&ns).await.is_empty()
                && !labels.contains_key("pod-security.kubernetes.io/enforce")
                && !vaps.contains("sb-e2e-steady")
        },
    )
    .await;
    baseline.delete().await;
}

/// A `controller: true` ownerReference is a claim anyone who may create a Pod can write. Pods
/// are judged through a template only when the chain holds by uid (Pod -> ReplicaSet ->
/// Deployment, here made by the real controller-manager); a forged owner, a bare ReplicaSet
/// or a Deployment named directly leaves the pod judged itself.
#[tokio::test]
async fn a_pod_claiming_a_controller_that_does_not_vouch_for_it_is_judged_itself() {
    let s = Scenario::start().await;
    let ns = s
        .namespace("e2e-sb-forged-owner", &[("e2e-sb", "forged-owner")])
        .await;
    cluster()
        .apply_yaml(&format!(
            r#"
apiVersion: apps/v1
kind: Deployment
metadata: {{name: shop, namespace: {ns}}}
spec:
  replicas: 1
  selector: {{matchLabels: {{app: shop}}}}
  template:
    metadata: {{labels: {{app: shop}}}}
    spec: {{containers: [{{name: shop, image: "docker.io/shop:1"}}]}}
---
apiVersion: apps/v1
kind: ReplicaSet
metadata: {{name: bare, namespace: {ns}}}
spec:
  replicas: 1
  selector: {{matchLabels: {{app: bare}}}}
  template:
    metadata: {{labels: {{app: bare}}}}
    spec: {{containers: [{{name: bare, image: "docker.io/bare:1"}}]}}
"#
        ))
        .expect("create the workloads");
    // The controller-manager makes the Deployment's ReplicaSet and both ReplicaSets' pods.
    let pods: Api<k8s_openapi::api::core::v1::Pod> = Api::namespaced(s.client.clone(), &ns);
    s.wait_until("the controller-manager creates both pods", || async {
        pods.list(&Default::default()).await.unwrap().items.len() == 2
    })
    .await;
    let deployment_uid = cluster().kubectl_ok(&[
        "get",
        "deployment",
        "shop",
        "-n",
        &ns,
        "-o",
        "jsonpath={.metadata.uid}",
    ]);
    // The garbage collector deletes a pod whose owner is not found by name and uid: the
    // forgeries name real objects.
    let forged = |name: &str, kind: &str, owner: &str, uid: &str| {
        format!(
            r#"
apiVersion: v1
kind: Pod
metadata:
  name: {name}
  namespace: {ns}
  ownerReferences: [{{apiVersion: apps/v1, kind: {kind}, name: {owner}, uid: "{uid}", controller: true}}]
spec: {{containers: [{{name: c, image: "docker.io/{name}:1"}}]}}
"#
        )
    };
    // (A made-up owner uid is covered by the unit tests: the garbage collector deletes such a
    // pod at once.)
    cluster()
        .apply_yaml(&forged(
            "names-the-deployment",
            "Deployment",
            "shop",
            deployment_uid.trim(),
        ))
        .expect("a pod naming the Deployment as its controller");
    let baseline = s
        .baseline(
            "e2e-forged-owner",
            json!({
                "mode": "Audit",
                "namespaceSelector": {"matchLabels": {"e2e-sb": "forged-owner"}},
                "images": {"allowedRegistries": ["registry.example.com/"]},
            }),
        )
        .await;
    // The Deployment's real ReplicaSet, named by a pod with another image.
    let replica_set = cluster().kubectl_ok(&[
        "get",
        "replicaset",
        "-n",
        &ns,
        "-l",
        "app=shop",
        "-o",
        "jsonpath={.items[0].metadata.name} {.items[0].metadata.uid}",
    ]);
    let (rs_name, rs_uid) = replica_set.trim().split_once(' ').expect("name and uid");
    cluster()
        .apply_yaml(&forged(
            "onto-the-replicaset",
            "ReplicaSet",
            rs_name,
            rs_uid,
        ))
        .expect("a pod naming the Deployment's ReplicaSet as its controller");
    let expected = [
        "Deployment shop",
        "Pod bare-",
        "Pod names-the-deployment",
        "Pod onto-the-replicaset",
    ];
    let findings = || async {
        let sb = baseline.get().await;
        control_state(&sb, "trusted-images")
            .map(|(_, findings)| findings)
            .unwrap_or_default()
    };
    s.wait_until("every pod no template vouches for is a finding", || async {
        let seen = findings().await;
        expected
            .iter()
            .all(|e| seen.iter().any(|f| f.starts_with(e)))
    })
    .await;
    let seen = findings().await;
    // The Deployment's own pod is judged through its template: one finding, not one per pod.
    let per_pod_of_deployment = seen.iter().filter(|f| f.starts_with("Pod shop-")).count();
    assert_eq!(per_pod_of_deployment, 0, "{seen:?}");
    assert_eq!(seen.len(), expected.len(), "{seen:?}");
    baseline.delete().await;
}
