//! `restricted-ports`, `workload-hardening` and `high-availability` on the real control plane,
//! in both modes: what status reports, what the API server enforces, and that the two agree
//! under exemptions, including when an exemption expires while the operator runs.

use crate::support::*;
use baseline_operator::api::ControlState;
use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::networking::v1::NetworkPolicy;
use kube::api::Api;
use serde_json::{Value, json};
use std::time::Duration;

const PSA_ENFORCE: &str = "pod-security.kubernetes.io/enforce";

#[tokio::test]
async fn restricted_ports_reports_in_audit_and_enforces_dns_only_egress() {
    let s = Scenario::start().await;
    let ns = s.namespace("e2e-np-ports", &[("e2e-np", "ports")]).await;
    cluster()
        .apply_yaml(&format!(
            r#"
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {{name: open-to-all, namespace: {ns}}}
spec:
  podSelector: {{}}
  ingress: [{{}}]
---
apiVersion: v1
kind: Service
metadata: {{name: debug, namespace: {ns}}}
spec:
  type: NodePort
  selector: {{app: web}}
  ports: [{{port: 8080, protocol: TCP}}]
---
apiVersion: v1
kind: Service
metadata: {{name: web, namespace: {ns}}}
spec:
  type: LoadBalancer
  selector: {{app: web}}
  ports: [{{port: 443, protocol: TCP}}]
"#
        ))
        .expect("foreign NetworkPolicy and Services");
    let spec = |mode: &str| {
        json!({
            "mode": mode,
            "namespaceSelector": {"matchLabels": {"e2e-np": "ports"}},
            "network": {"defaultDeny": ["Ingress", "Egress"], "allowDNS": true, "allowedIngressPorts": [{"port": 443}]},
        })
    };
    let name = "e2e-np-ports";
    let baseline = s.baseline(name, spec("Audit")).await;
    let sb = baseline
        .wait("restricted-ports evaluated", |sb| {
            control(sb, "restricted-ports").state == ControlState::Fail
        })
        .await;
    let found = findings(control(&sb, "restricted-ports"));
    for expected in [
        format!("Namespace {ns}: namespace `{ns}` has no default-deny Ingress NetworkPolicy"),
        format!("Namespace {ns}: namespace `{ns}` has no default-deny Egress NetworkPolicy"),
        "NetworkPolicy open-to-all: NetworkPolicy admits all sources on all ports".to_string(),
        "Service debug: NodePort Service exposes port 8080/TCP which the baseline does not list"
            .to_string(),
    ] {
        assert!(found.contains(&expected), "{expected:?} not in {found:?}");
    }
    assert!(
        !found.iter().any(|f| f.starts_with("Service web")),
        "the listed port 443 is fine: {found:?}"
    );
    assert_eq!(
        s.network_policies(&ns).await,
        ["open-to-all"],
        "Audit mode writes no NetworkPolicy"
    );

    baseline.apply(spec("Enforce")).await;
    let sb = baseline
        .wait("default-deny in place", |sb| {
            !findings(control(sb, "restricted-ports"))
                .iter()
                .any(|f| f.contains("has no default-deny"))
        })
        .await;
    assert_eq!(
        s.network_policies(&ns).await,
        [
            "open-to-all".to_string(),
            format!("sb-{name}-allow"),
            format!("sb-{name}-default-deny")
        ]
    );
    let policies: Api<NetworkPolicy> = Api::namespaced(s.client.clone(), &ns);
    let deny = serde_json::to_value(
        policies
            .get(&format!("sb-{name}-default-deny"))
            .await
            .unwrap(),
    )
    .unwrap();
    assert_eq!(deny["spec"]["podSelector"], json!({}));
    assert_eq!(deny["spec"]["policyTypes"], json!(["Ingress", "Egress"]));
    let allow =
        serde_json::to_value(policies.get(&format!("sb-{name}-allow")).await.unwrap()).unwrap();
    assert_eq!(
        allow["spec"]["egress"],
        json!([{
            "to": [{
                "namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "kube-system"}},
                "podSelector": {"matchLabels": {"k8s-app": "kube-dns"}},
            }],
            "ports": [{"port": 53, "protocol": "UDP"}, {"port": 53, "protocol": "TCP"}],
        }]),
        "DNS egress goes to the cluster DNS only"
    );
    assert_eq!(
        allow["spec"]["ingress"],
        json!([{"ports": [{"port": 443, "protocol": "TCP"}]}])
    );
    // The foreign findings stay: enforcement adds policies, it does not hide others' openings.
    let found = findings(control(&sb, "restricted-ports"));
    assert_eq!(control(&sb, "restricted-ports").state, ControlState::Fail);
    assert!(
        found
            .iter()
            .any(|f| f.starts_with("NetworkPolicy open-to-all")),
        "{found:?}"
    );
    assert!(
        found.iter().any(|f| f.starts_with("Service debug")),
        "{found:?}"
    );

    // A foreign policy that opens DNS to every destination defeats the egress default-deny.
    cluster()
        .apply_yaml(&format!(
            "apiVersion: networking.k8s.io/v1\nkind: NetworkPolicy\nmetadata: {{name: dns-anywhere, namespace: {ns}}}\nspec:\n  podSelector: {{}}\n  policyTypes: [Egress]\n  egress: [{{ports: [{{port: 53, protocol: UDP}}]}}]\n"
        ))
        .unwrap();
    baseline.wait("DNS-to-anywhere finding", |sb| {
        findings(control(sb, "restricted-ports")).iter().any(|f| {
            f.starts_with("NetworkPolicy dns-anywhere: NetworkPolicy allows egress to every destination on port 53/UDP")
        })
    })
    .await;

    for (kind, object) in [
        ("networkpolicy", "open-to-all"),
        ("networkpolicy", "dns-anywhere"),
        ("service", "debug"),
    ] {
        cluster().kubectl_ok(&["delete", kind, object, "-n", &ns]);
    }
    baseline
        .wait("restricted-ports passes", |sb| {
            control(sb, "restricted-ports").state == ControlState::Pass
        })
        .await;
    baseline.delete().await;
}

#[tokio::test]
async fn workload_hardening_reports_in_audit_and_the_api_server_enforces_it() {
    let s = Scenario::start().await;
    let ns = s.namespace("e2e-psa-modes", &[("e2e-psa", "modes")]).await;
    let spec = |mode: &str| {
        json!({
            "mode": mode,
            "namespaceSelector": {"matchLabels": {"e2e-psa": "modes"}},
            "podSecurity": {"level": "restricted"},
        })
    };
    let name = "e2e-psa-modes";
    let baseline = s.baseline(name, spec("Audit")).await;
    // No pod yet: nothing to judge, which is never a Pass.
    baseline
        .wait("Audit evaluated", |sb| {
            control(sb, "workload-hardening").state == ControlState::NotApplicable
        })
        .await;
    // Audit: the API server admits the pod; status reports it.
    assert_eq!(
        psa_rejects(&privileged_pod(&ns, "probe", "{}")),
        Ok(false),
        "Audit mode puts no Pod Security label"
    );
    cluster()
        .apply_yaml(&privileged_pod(&ns, "privileged", "{}"))
        .unwrap();
    // Waits for this pod's finding, not the first Fail: the probe pod (created and deleted
    // above) may have been judged in between.
    let sb = baseline
        .wait("privileged pod reported", |sb| {
            let hardening = control(sb, "workload-hardening");
            hardening.state == ControlState::Fail
                && findings(hardening)
                    .iter()
                    .any(|f| f.starts_with("Pod privileged:"))
        })
        .await;
    let found = findings(control(&sb, "workload-hardening"));
    assert!(
        found.iter().any(|f| f
            .starts_with("Pod privileged: violates PodSecurity \"restricted:latest\"")
            && f.contains("privileged")),
        "{found:?}"
    );
    assert!(!s.labels(&ns).await.contains_key(PSA_ENFORCE));

    // Enforce: the labels, and the real Pod Security admission rejects a new violating pod.
    baseline.apply(spec("Enforce")).await;
    s.wait_label(&ns, PSA_ENFORCE, Some("restricted")).await;
    assert_eq!(psa_rejects(&privileged_pod(&ns, "second", "{}")), Ok(true));
    // The pod that existed before stays a finding: admission does not judge existing pods.
    let sb = baseline.wait("Enforce evaluated", |_| true).await;
    assert_eq!(control(&sb, "workload-hardening").state, ControlState::Fail);
    cluster().kubectl_ok(&["delete", "pod", "privileged", "-n", &ns, "--wait"]);
    // The last pod gone: nothing to judge again (Not applicable, never a vacuous Pass).
    baseline
        .wait("workload-hardening has nothing to judge", |sb| {
            control(sb, "workload-hardening").state == ControlState::NotApplicable
        })
        .await;
    baseline.delete().await;
    s.wait_label(&ns, PSA_ENFORCE, None).await;
}

/// A namespace exempted from `restricted-ports` and `workload-hardening` gets neither owned
/// NetworkPolicies nor Pod Security labels, and status counts its findings as exempted; when
/// the exemption expires (no trigger but the clock), both come back, in enforcement and in
/// status.
#[tokio::test]
async fn namespace_exemption_is_reflected_in_enforcement_until_it_expires() {
    let s = Scenario::start().await;
    let exempt = s
        .namespace("e2e-exempt-legacy", &[("e2e-exempt", "yes")])
        .await;
    let enforced = s
        .namespace("e2e-exempt-shop", &[("e2e-exempt", "yes")])
        .await;
    cluster()
        .apply_yaml(&privileged_pod(&exempt, "legacy", "{}"))
        .unwrap();
    let name = "e2e-exempt";
    // Long enough to observe the exempted state, short enough to watch it run out.
    let expires = in_seconds(25);
    let baseline = s
        .baseline(
            name,
            json!({
                "mode": "Enforce",
                "namespaceSelector": {"matchLabels": {"e2e-exempt": "yes"}},
                "network": {"defaultDeny": ["Ingress"]},
                "podSecurity": {"level": "restricted"},
                "exemptions": [{
                    "controls": ["restricted-ports", "workload-hardening"],
                    "namespaces": [exempt],
                    "reason": "legacy app being replaced", "approvedBy": "ciso", "expires": expires,
                }],
            }),
        )
        .await;
    // The first evaluation runs before the first policies exist; wait for the one after.
    let sb = baseline
        .wait("exempted namespace evaluated", |sb| {
            control(sb, "workload-hardening").state == ControlState::Exempt
                && control(sb, "restricted-ports").state == ControlState::Exempt
        })
        .await;
    assert_eq!(control(&sb, "workload-hardening").exempted, 1);
    assert_eq!(control(&sb, "workload-hardening").failed, 0);
    assert_eq!(control(&sb, "restricted-ports").exempted, 1);
    let message = &condition(&sb, "WorkloadHardening").message;
    assert!(
        message.contains(&format!(
            "namespace(s) {exempt} carry no Pod Security labels"
        )),
        "{message}"
    );
    s.wait_until("enforced namespace labelled and denied", || async {
        s.labels(&enforced)
            .await
            .get(PSA_ENFORCE)
            .map(String::as_str)
            == Some("restricted")
            && s.network_policies(&enforced).await == [format!("sb-{name}-default-deny")]
    })
    .await;
    // Enforcement agrees with status: nothing in the exempted namespace.
    assert!(!s.labels(&exempt).await.contains_key(PSA_ENFORCE));
    assert!(s.network_policies(&exempt).await.is_empty());
    assert_eq!(
        psa_rejects(&privileged_pod(&exempt, "also-legacy", "{}")),
        Ok(false)
    );
    assert_eq!(
        psa_rejects(&privileged_pod(&enforced, "sneaky", "{}")),
        Ok(true)
    );

    // The clock runs out: enforcement and the finding come back by themselves.
    wait_until(
        "labels and policies back after expiry",
        Duration::from_secs(60),
        || async {
            s.labels(&exempt).await.get(PSA_ENFORCE).map(String::as_str) == Some("restricted")
                && s.network_policies(&exempt).await == [format!("sb-{name}-default-deny")]
        },
    )
    .await;
    let sb = baseline
        .wait("finding back after expiry", |sb| {
            control(sb, "workload-hardening").state == ControlState::Fail
        })
        .await;
    let c = control(&sb, "workload-hardening");
    assert_eq!((c.failed, c.exempted), (1, 0));
    assert!(findings(c)[0].starts_with("Pod legacy: violates PodSecurity"));
    assert_eq!(
        psa_rejects(&privileged_pod(&exempt, "after-expiry", "{}")),
        Ok(true)
    );
    baseline.delete().await;
}

/// An exemption that selects pods cannot be expressed in Pod Security labels (namespace-wide):
/// the labels stay, status counts the selected pods as exempted and says that admission still
/// enforces the level for them.
#[tokio::test]
async fn pod_selector_exemption_keeps_labels_and_status_says_why() {
    let s = Scenario::start().await;
    let ns = s
        .namespace("e2e-psa-selector", &[("e2e-psa", "selector")])
        .await;
    cluster()
        .apply_yaml(&privileged_pod(&ns, "agent", "{app: agent}"))
        .unwrap();
    let name = "e2e-psa-selector";
    let baseline = s.baseline(name, json!({
            "mode": "Enforce",
            "namespaceSelector": {"matchLabels": {"e2e-psa": "selector"}},
            "podSecurity": {"level": "restricted"},
            "exemptions": [{
                "controls": ["workload-hardening"], "selector": {"matchLabels": {"app": "agent"}},
                "reason": "node agent", "approvedBy": "ciso", "expires": "2099-01-01",
            }],
        }),
    )
    .await;
    let sb = baseline
        .wait("selector exemption evaluated", |sb| {
            control(sb, "workload-hardening").state == ControlState::Exempt
        })
        .await;
    let message = &condition(&sb, "WorkloadHardening").message;
    assert!(
        message.contains("selects objects by label (app=agent); Pod Security Admission is namespace-wide, so admission still enforces restricted:latest for their pods")
            && message.contains(&ns),
        "{message}"
    );
    s.wait_label(&ns, PSA_ENFORCE, Some("restricted")).await;
    assert_eq!(
        psa_rejects(&privileged_pod(&ns, "agent-2", "{app: agent}")),
        Ok(true),
        "admission enforces the level for selected pods too, as status says"
    );
    s.wait_until("ExemptionScope event", || async {
        let events = cluster().kubectl_ok(&[
            "get",
            "events",
            "-A",
            "--field-selector",
            "reason=ExemptionScope",
            "-o",
            "json",
        ]);
        events.contains(name) && events.contains("namespace-wide")
    })
    .await;
    baseline.delete().await;
}

/// A Deployment whose pod template (and own metadata) carry `labels`, a YAML flow map: an
/// exemption selects a workload by its pod template's labels.
fn deployment(ns: &str, name: &str, replicas: i32, probes: bool, labels: &str) -> String {
    let extra = labels
        .trim()
        .trim_start_matches('{')
        .trim_end_matches('}')
        .trim();
    let pod_labels = match extra {
        "" => format!("{{app: {name}}}"),
        extra => format!("{{app: {name}, {extra}}}"),
    };
    let probes = if probes {
        "\n        readinessProbe: {httpGet: {path: /ready, port: 8080}}\n        livenessProbe: {httpGet: {path: /live, port: 8080}}"
    } else {
        ""
    };
    format!(
        "apiVersion: apps/v1\nkind: Deployment\nmetadata: {{name: {name}, namespace: {ns}, labels: {labels}}}\nspec:\n  replicas: {replicas}\n  selector: {{matchLabels: {{app: {name}}}}}\n  template:\n    metadata: {{labels: {pod_labels}}}\n    spec:\n      containers:\n      - name: app\n        image: registry.example.com/{name}:1{probes}\n"
    )
}

#[tokio::test]
async fn high_availability_is_reported_in_both_modes_and_never_enforced() {
    let s = Scenario::start().await;
    let ns = s.namespace("e2e-ha", &[("e2e-ha", "yes")]).await;
    for yaml in [
        deployment(&ns, "fragile", 1, false, "{}"),
        deployment(&ns, "sturdy", 2, true, "{}"),
        deployment(&ns, "batch-ui", 1, false, "{ha-exempt: \"yes\"}"),
        deployment(&ns, "old-ui", 1, false, "{ha-exempt: lapsed}"),
        format!(
            "apiVersion: policy/v1\nkind: PodDisruptionBudget\nmetadata: {{name: sturdy, namespace: {ns}}}\nspec:\n  minAvailable: 1\n  selector: {{matchLabels: {{app: sturdy}}}}\n"
        ),
    ] {
        cluster().apply_yaml(&yaml).expect("workloads");
    }
    let spec = |mode: &str| {
        json!({
            "mode": mode,
            "namespaceSelector": {"matchLabels": {"e2e-ha": "yes"}},
            "availability": {"minReplicas": 2, "requirePodDisruptionBudget": true, "requireProbes": true},
            "exemptions": [{
                "controls": ["high-availability"], "selector": {"matchLabels": {"ha-exempt": "yes"}},
                "reason": "internal tool", "approvedBy": "cto", "expires": "2099-01-01",
            }, {
                "controls": ["high-availability"], "selector": {"matchLabels": {"ha-exempt": "lapsed"}},
                "reason": "retired tool", "approvedBy": "cto", "expires": "2020-01-01",
            }],
        })
    };
    let name = "e2e-ha";
    let baseline = s.baseline(name, spec("Audit")).await;
    let expected = [
        "Deployment fragile: container `app` lacks a readiness or liveness probe",
        "Deployment fragile: no PodDisruptionBudget covers its pods",
        "Deployment fragile: runs 1 replica(s), fewer than the required 2",
        // Its exemption ran out in 2020, so it waives nothing.
        "Deployment old-ui: container `app` lacks a readiness or liveness probe",
        "Deployment old-ui: no PodDisruptionBudget covers its pods",
        "Deployment old-ui: runs 1 replica(s), fewer than the required 2",
        // This cluster has no node, so nothing is ever Ready: asking for two replicas is not
        // having them (tests/node/availability.rs shows it passing once they run).
        "Deployment sturdy: has 0 Ready replica(s), fewer than the required 2",
    ];
    for mode in ["Audit", "Enforce"] {
        baseline.apply(spec(mode)).await;
        let sb = baseline
            .wait(&format!("high-availability in {mode}"), |sb| {
                sb.spec.mode.map(|m| format!("{m:?}")).as_deref() == Some(mode)
                    && control(sb, "high-availability").state == ControlState::Fail
            })
            .await;
        let c = control(&sb, "high-availability");
        assert_eq!(findings(c), expected, "{mode}");
        assert_eq!(c.checked, 4, "{mode}");
        // Objects, not findings: fragile and old-ui fail (three findings each), sturdy on
        // readiness alone; batch-ui breaks all three spec rules and all three are waived.
        assert_eq!(c.failed, 3, "{mode}");
        assert_eq!(c.exempted, 1, "{mode}");
        assert_eq!((c.failed_findings, c.exempted_findings), (7, 3), "{mode}");
        assert_eq!(condition(&sb, "HighAvailability").status, "False");
    }
    // Report only: the operator scales nothing, adds no budget, and rejects nothing.
    let deployments: Api<Deployment> = Api::namespaced(s.client.clone(), &ns);
    assert_eq!(
        deployments.get("fragile").await.unwrap().spec.replicas,
        Some(1)
    );
    let budgets = cluster().kubectl_ok(&["get", "pdb", "-n", &ns, "-o", "name"]);
    assert_eq!(budgets.trim(), "poddisruptionbudget.policy/sturdy");
    let vaps = cluster().kubectl_ok(&["get", "validatingadmissionpolicies", "-o", "name"]);
    assert!(!vaps.contains(&format!("sb-{name}")), "{vaps}");
    cluster()
        .apply_yaml(&deployment(&ns, "another-single", 1, false, "{}"))
        .expect("a single-replica Deployment is admitted in Enforce mode");
    baseline
        .wait("new Deployment reported", |sb| {
            findings(control(sb, "high-availability"))
                .iter()
                .any(|f| f.starts_with("Deployment another-single"))
        })
        .await;

    // With the spec-level failures gone, what is left is readiness alone (no node runs the
    // pods here); the exempted one stays counted as exempted.
    for object in ["fragile", "another-single", "old-ui"] {
        cluster().kubectl_ok(&["delete", "deployment", object, "-n", &ns]);
    }
    let sb = baseline
        .wait("only readiness left", |sb| {
            control(sb, "high-availability").checked == 2
        })
        .await;
    let c = control(&sb, "high-availability");
    assert_eq!(
        findings(c),
        ["Deployment sturdy: has 0 Ready replica(s), fewer than the required 2"]
    );
    assert_eq!((c.checked, c.failed, c.exempted), (2, 1, 1));
    assert_eq!(c.exempted_findings, 3);
    baseline.delete().await;
}

/// The summary never counts a check that did not run as passing; here every check runs, so
/// the field stays absent, which the ArgoCD health check reads as healthy.
#[tokio::test]
async fn summary_omits_not_evaluated_when_every_check_ran() {
    let s = Scenario::start().await;
    s.namespace("e2e-np-summary", &[("e2e-np", "summary")])
        .await;
    // A pod to judge: with none, workload-hardening would have nothing to judge (Not
    // applicable), never a Pass.
    cluster()
        .apply_yaml("apiVersion: v1\nkind: Pod\nmetadata: {name: plain, namespace: e2e-np-summary}\nspec:\n  containers: [{name: app, image: registry.example.com/app:1}]\n")
        .expect("pod");
    let name = "e2e-np-summary";
    let baseline = s
        .baseline(
            name,
            json!({
                "mode": "Audit",
                "namespaceSelector": {"matchLabels": {"e2e-np": "summary"}},
                "podSecurity": {"level": "baseline"},
            }),
        )
        .await;
    let sb = baseline
        .wait("evaluated", |sb| {
            control(sb, "workload-hardening").checked == 1
        })
        .await;
    let summary = serde_json::to_value(&sb.status.as_ref().unwrap().summary).unwrap();
    assert_eq!(summary["passing"], json!(1));
    assert_eq!(summary.get("notEvaluated"), None::<&Value>);
    assert_eq!(summary.get("notEvaluatedControls"), None::<&Value>);
    assert_eq!(condition(&sb, "Compliant").status, "True");
    baseline.delete().await;
}
