use super::*;
use crate::api::SecurityBaselineSpec;
use crate::desired::OwnedKind;
use serde_json::{Value, json};

fn owner() -> Owner {
    Owner {
        api_version: "security.baseline.dev/v1alpha1".into(),
        kind: "SecurityBaseline".into(),
        name: "sb".into(),
        uid: "uid-1".into(),
    }
}

fn valid(spec: &SecurityBaselineSpec) -> ValidSecurityBaseline {
    crate::validate::security_baseline::validate(spec).unwrap()
}

fn spec(extra: Value) -> SecurityBaselineSpec {
    let mut spec =
        json!({"mode": "Enforce", "namespaceSelector": {"matchLabels": {"env": "prod"}}});
    spec.as_object_mut()
        .unwrap()
        .extend(extra.as_object().unwrap().clone());
    serde_json::from_value(spec).unwrap()
}

fn policies(spec: &SecurityBaselineSpec) -> Vec<Value> {
    security_baseline(
        &owner(),
        &valid(spec),
        &Snapshot::default(),
        "2026-01-01T00:00:00Z".parse().unwrap(),
    )
    .into_iter()
    .filter(|o| o.kind == OwnedKind::ValidatingAdmissionPolicy)
    .map(|o| o.json())
    .collect()
}

fn policy(spec: &SecurityBaselineSpec, control: ControlId) -> Value {
    let name = format!("sb-sb-{control}");
    policies(spec)
        .into_iter()
        .find(|p| p["metadata"]["name"] == name.as_str())
        .unwrap_or_else(|| panic!("no policy {name}"))
}

#[test]
fn invalid_selector_renders_as_selecting_nothing() {
    for selector in [
        json!({"matchExpressions": [{"key": "a", "operator": "NotIn"}]}),
        json!({"matchLabels": {"b": "c"}, "matchExpressions": [{"key": "a", "operator": "Bogus", "values": ["x"]}]}),
    ] {
        let selector: LabelSelector = serde_json::from_value(selector).unwrap();
        assert_eq!(selector_cel(&selector, OBJECT_LABELS), "false");
    }
}

/// A workload by its pod template's labels only (what its ReplicaSets and Pods carry), a Pod
/// or any other object by its own.
#[test]
fn exemption_selector_matches_workloads_by_their_pod_template_labels_only() {
    let spec = spec(json!({
        "images": {"disallowLatestTag": true},
        "exemptions": [{"controls": ["trusted-images"], "selector": {"matchLabels": {"exempt": "yes"}}, "reason": "r", "approvedBy": "a", "expires": "2030-01-01"}],
    }));
    let p = policy(&spec, ControlId::TrustedImages);
    let condition = p["spec"]["matchConditions"][0]["expression"]
        .as_str()
        .unwrap();
    let exempt = |labels: &str| format!("('exempt' in {labels} && {labels}['exempt'] == 'yes')");
    let expected = format!(
        "!(((object.kind in {TEMPLATED_KINDS} ? (({})) : (object.kind == 'CronJob' ? (({})) : (({}))))))",
        exempt(TEMPLATE_LABELS),
        exempt(CRONJOB_TEMPLATE_LABELS),
        exempt(OBJECT_LABELS),
    );
    assert_eq!(condition, expected);
}

#[test]
fn no_exemption_renders_no_condition() {
    let spec = spec(json!({"images": {"disallowLatestTag": true}}));
    let p = policy(&spec, ControlId::TrustedImages);
    assert!(p["spec"]["matchConditions"].is_null(), "{p}");
}

#[test]
fn every_policy_judges_updates_only_when_judged_fields_change() {
    let spec = spec(json!({
        "encryption": {"inTransit": {"requireIngressTLS": true}, "atRest": {"encryptedStorageClasses": ["enc"]}},
        "images": {"allowedRegistries": ["registry.acme.test"], "requireDigest": true, "disallowLatestTag": true},
        "access": {"forbiddenRoles": ["admin"]},
        "resources": {"requireRequests": true},
    }));
    let all = policies(&spec);
    assert_eq!(all.len(), 5);
    for p in all {
        let spec = &p["spec"];
        let judged = spec["variables"]
            .as_array()
            .unwrap()
            .iter()
            .find(|v| v["name"] == "judged")
            .unwrap_or_else(|| panic!("{} has no judged variable", p["metadata"]["name"]));
        assert!(
            judged["expression"]
                .as_str()
                .unwrap()
                .starts_with("request.operation != 'UPDATE'")
        );
        for v in spec["validations"].as_array().unwrap() {
            assert!(
                v["expression"]
                    .as_str()
                    .unwrap()
                    .starts_with("!variables.judged || (")
            );
        }
        for rule in spec["matchConstraints"]["resourceRules"]
            .as_array()
            .unwrap()
        {
            assert!(
                !rule["operations"]
                    .as_array()
                    .unwrap()
                    .contains(&json!("DELETE"))
            );
            for r in rule["resources"].as_array().unwrap() {
                let r = r.as_str().unwrap();
                assert!(!r.contains('/') || r == "pods/ephemeralcontainers", "{r}");
            }
        }
    }
}

#[test]
fn trusted_images_covers_ephemeral_containers_and_registry_boundaries() {
    let spec =
        spec(json!({"images": {"allowedRegistries": ["registry.acme.test", "r.test/team/"]}}));
    let p = policy(&spec, ControlId::TrustedImages);
    let resources = p["spec"]["matchConstraints"]["resourceRules"].to_string();
    assert!(
        resources.contains("pods/ephemeralcontainers"),
        "{resources}"
    );
    let expression = p["spec"]["validations"][0]["expression"].as_str().unwrap();
    assert!(
        expression.contains("['registry.acme.test/', 'r.test/team/']"),
        "{expression}"
    );
}

#[test]
fn least_privilege_matches_cluster_roles_by_kind() {
    let spec = spec(json!({"access": {"forbiddenRoles": ["admin"]}}));
    let p = policy(&spec, ControlId::LeastPrivilege);
    let expression = p["spec"]["validations"][0]["expression"].as_str().unwrap();
    assert!(
        expression
            .contains("object.roleRef.kind == 'ClusterRole' && object.roleRef.name in ['admin']"),
        "{expression}"
    );
}

#[test]
fn expiry_of_the_last_exemption_changes_the_policy_the_operator_compares() {
    let spec = spec(json!({
        "images": {"disallowLatestTag": true},
        "exemptions": [{"controls": ["trusted-images"], "selector": {"matchLabels": {"exempt": "yes"}}, "reason": "r", "approvedBy": "a", "expires": "2026-01-01T00:00:10Z"}],
    }));
    let render = |now: &str| {
        security_baseline(
            &owner(),
            &valid(&spec),
            &Snapshot::default(),
            now.parse().unwrap(),
        )
        .into_iter()
        .find(|o| o.kind == OwnedKind::ValidatingAdmissionPolicy)
        .unwrap()
        .json()
    };
    let live = render("2026-01-01T00:00:00Z");
    let expired = render("2026-01-01T00:00:11Z");
    // The live policy still waives; the re-rendered one must not look already applied.
    let content = |body: &Value| {
        use crate::desired::canonical::{canonical, content};
        let kind = OwnedKind::ValidatingAdmissionPolicy;
        content(kind, &canonical(kind, body))
    };
    assert_ne!(content(&expired), content(&live));
    assert!(expired["spec"]["matchConditions"].is_null(), "{expired}");
}

#[test]
fn claim_without_class_is_judged_by_the_default_class_it_gets() {
    let class = |name: &str, default: bool| {
        let annotations = if default {
            json!({"storageclass.kubernetes.io/is-default-class": "true"})
        } else {
            json!({})
        };
        std::sync::Arc::new(
            serde_json::from_value(json!({
                "metadata": {"name": name, "annotations": annotations},
                "provisioner": "p",
            }))
            .unwrap(),
        )
    };
    let spec = spec(json!({"encryption": {"atRest": {"encryptedStorageClasses": ["enc"]}}}));
    for (default, admits_classless) in [("enc", true), ("plain", false)] {
        let snapshot = Snapshot {
            storage_classes: vec![
                class("enc", default == "enc"),
                class("plain", default == "plain"),
            ],
            ..Snapshot::default()
        };
        let p = security_baseline(
            &owner(),
            &valid(&spec),
            &snapshot,
            "2026-01-01T00:00:00Z".parse().unwrap(),
        )
        .into_iter()
        .find(|o| o.kind == OwnedKind::ValidatingAdmissionPolicy)
        .unwrap()
        .json();
        let expression = p["spec"]["validations"][0]["expression"].as_str().unwrap();
        assert!(
            expression.ends_with(&format!(": {admits_classless})")),
            "default {default}: {expression}"
        );
    }
}

/// Roles judged on their rules: the policy also covers Roles (judged on the request's own
/// rules) and inlines the roles whose rules break the policy, by kind and name.
#[test]
fn least_privilege_judges_roles_on_their_rules() {
    use k8s_openapi::api::rbac::v1::{ClusterRole, Role};
    use std::sync::Arc;
    let spec = spec(json!({"access": {"forbidWildcardRoles": true}}));
    let cluster_role: ClusterRole = serde_json::from_value(json!({
        "metadata": {"name": "escalator"},
        "rules": [{"apiGroups": ["rbac.authorization.k8s.io"], "resources": ["roles"], "verbs": ["escalate"]}],
    }))
    .unwrap();
    let role: Role = serde_json::from_value(json!({
        "metadata": {"name": "reader", "namespace": "shop"},
        "rules": [{"apiGroups": [""], "resources": ["secrets"], "verbs": ["list"]}],
    }))
    .unwrap();
    let snapshot = Snapshot {
        cluster_roles: vec![Arc::new(cluster_role)],
        roles: vec![Arc::new(role)],
        ..Snapshot::default()
    };
    let policy = security_baseline(
        &owner(),
        &valid(&spec),
        &snapshot,
        "2026-01-01T00:00:00Z".parse().unwrap(),
    )
    .into_iter()
    .find(|o| o.kind == OwnedKind::ValidatingAdmissionPolicy)
    .unwrap()
    .json();
    let text = policy["spec"].to_string();
    assert!(
        policy["spec"]["matchConstraints"]["resourceRules"][0]["resources"]
            == json!(["rolebindings", "roles"]),
        "{text}"
    );
    assert!(
        text.contains("object.roleRef.name in ['escalator']"),
        "{text}"
    );
    assert!(text.contains("in ['shop/reader']"), "{text}");
    assert!(text.contains("['*', 'escalate', 'bind']"), "{text}");
    // Impersonation is refused unless it is of ServiceAccounts only (bounded to the namespace).
    assert!(
        text.contains("v == 'impersonate' && !(has(r.apiGroups)"),
        "{text}"
    );
}
