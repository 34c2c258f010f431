use super::*;
use crate::api::EnvironmentIsolationSpec;
use crate::api::PortSpec;
use crate::api::environment_isolation::{Flow, LabelProtectionSpec};
use crate::desired::OwnedKind;
use crate::evaluate::isolation::tests::{environment, namespace, snapshot, spec};
use crate::vocabulary::environments::environments_of;
use serde_json::{Value, json};

fn valid(spec: &EnvironmentIsolationSpec) -> ValidEnvironmentIsolation {
    crate::validate::environment_isolation::validate(spec).unwrap()
}

fn owner() -> Owner {
    Owner {
        api_version: "security.baseline.dev/v1alpha1".into(),
        kind: "EnvironmentIsolation".into(),
        name: "iso".into(),
        uid: "uid-1".into(),
    }
}

/// `production`, `dev` and `staging`; staging reaches production on 443, dev reaches
/// production on every port.
fn three_environments() -> EnvironmentIsolationSpec {
    let mut spec = spec();
    spec.environments.push(environment("staging", false));
    spec.allowed_flows = vec![
        Flow {
            from: "staging".into(),
            to: "production".into(),
            ports: vec![PortSpec {
                port: 443,
                protocol: None,
            }],
        },
        Flow {
            from: "dev".into(),
            to: "production".into(),
            ports: vec![],
        },
    ];
    spec
}

fn policy_in(objects: &[DesiredObject], namespace: &str) -> Value {
    objects
        .iter()
        .find(|o| o.namespace.as_deref() == Some(namespace))
        .unwrap()
        .json()
}

#[test]
fn isolation_policy_admits_same_environment_and_declared_flows_in_order() {
    let spec = three_environments();
    let snapshot = snapshot();
    let envs = environments_of(
        &crate::validate::environment_isolation::validate(&spec)
            .unwrap()
            .environments,
        &snapshot,
    );
    let objects = network_policies(
        &owner(),
        &valid(&spec),
        &envs,
        &snapshot,
        Timestamp::UNIX_EPOCH,
    );
    assert_eq!(objects.len(), 2);
    assert!(objects.iter().all(|o| o.name == "ei-iso-isolation"));
    let prod = policy_in(&objects, "prod");
    assert_eq!(prod["spec"]["podSelector"], json!({}));
    assert_eq!(prod["spec"]["policyTypes"], json!(["Ingress"]));
    assert_eq!(
        prod["spec"]["ingress"],
        json!([
            {"from": [{"namespaceSelector": {"matchLabels": {"env": "production"}}}]},
            {"from": [{"namespaceSelector": {"matchLabels": {"env": "dev"}}}]},
            {"from": [{"namespaceSelector": {"matchLabels": {"env": "staging"}}}],
             "ports": [{"port": 443, "protocol": "TCP"}]},
        ])
    );
    let dev = policy_in(&objects, "dev");
    assert_eq!(
        dev["spec"]["ingress"],
        json!([{"from": [{"namespaceSelector": {"matchLabels": {"env": "dev"}}}]}])
    );
}

#[test]
fn overlapping_namespace_gets_its_first_environments_policy() {
    let spec = spec();
    let mut snapshot = snapshot();
    snapshot
        .namespaces
        .push(namespace("shared", &[("env", "dev")]));
    let mut envs = environments_of(
        &crate::validate::environment_isolation::validate(&spec)
            .unwrap()
            .environments,
        &snapshot,
    );
    envs.namespaces
        .insert("shared".into(), vec!["dev".into(), "production".into()]);
    let objects = network_policies(
        &owner(),
        &valid(&spec),
        &envs,
        &snapshot,
        Timestamp::UNIX_EPOCH,
    );
    let shared = policy_in(&objects, "shared");
    assert_eq!(
        shared["spec"]["ingress"][0]["from"][0]["namespaceSelector"],
        json!({"matchLabels": {"env": "dev"}})
    );
}

fn policies_for(spec: &EnvironmentIsolationSpec, snapshot: &Snapshot) -> Vec<DesiredObject> {
    let now = "2025-06-01T00:00:00Z".parse().unwrap();
    admission(
        &owner(),
        &valid(spec),
        snapshot,
        Some("system:serviceaccount:ops:operator"),
        &["system:serviceaccount:velero:velero-server".to_string()],
        now,
    )
}

fn policies(spec: &EnvironmentIsolationSpec) -> Vec<DesiredObject> {
    policies_for(spec, &snapshot())
}

fn object(objects: &[DesiredObject], kind: OwnedKind, name: &str) -> Value {
    objects
        .iter()
        .find(|o| o.kind == kind && o.name == name)
        .unwrap_or_else(|| panic!("no {kind:?} {name}"))
        .json()
}

fn validation(objects: &[DesiredObject], name: &str) -> String {
    object(objects, OwnedKind::ValidatingAdmissionPolicy, name)["spec"].to_string()
}

/// The policies decide from the namespace's labels, so they name no namespace and do not
/// change when namespaces come, go or are relabelled.
#[test]
fn admission_policies_do_not_depend_on_which_namespaces_exist() {
    let mut spec = spec();
    spec.protect_environment_labels = Some(LabelProtectionSpec {
        allowed_users: vec![],
        allowed_groups: vec!["platform-admins".into()],
    });
    let before = policies_for(&spec, &snapshot());
    let mut changed = snapshot();
    changed
        .namespaces
        .push(namespace("dev-2", &[("env", "dev")]));
    changed.namespaces[0] = namespace("prod", &[("env", "dev")]);
    assert_eq!(before, policies_for(&spec, &changed));
    assert_eq!(before.len(), 8);
    for object in &before {
        let text = object.json().to_string();
        assert!(
            !text.contains("'prod'") && !text.contains("'dev-2'"),
            "{text}"
        );
    }
}

#[test]
fn production_data_policy_judges_the_namespaces_labels() {
    let objects = policies(&spec());
    let cel = validation(&objects, "ei-iso-production-data-restricted");
    assert!(cel.contains("namespaceObject.metadata.labels"), "{cel}");
    assert!(
            cel.contains("('env' in (has(namespaceObject.metadata.labels) ? namespaceObject.metadata.labels : {}) && (has(namespaceObject.metadata.labels) ? namespaceObject.metadata.labels : {})['env'] == 'dev')"),
            "{cel}"
        );
    // Claimed by two environments is production; claimed by none is non-production.
    assert!(cel.contains(".filter(m, m)) > 1"), "{cel}");
    assert!(cel.contains("data.baseline.dev/classification"), "{cel}");
    assert!(cel.contains("[production-data-restricted]"), "{cel}");
    let binding = object(
        &objects,
        OwnedKind::ValidatingAdmissionPolicyBinding,
        "ei-iso-production-data-restricted",
    );
    // Every namespace but the excluded ones: membership is judged in CEL.
    assert_eq!(
        binding["spec"]["matchResources"]["namespaceSelector"],
        json!({"matchExpressions": [{"key": "kubernetes.io/metadata.name", "operator": "NotIn",
            "values": ["kube-node-lease", "kube-public", "kube-system", "velero"]}]})
    );
}

#[test]
fn cross_environment_policy_takes_every_namespace_as_a_param() {
    let objects = policies(&spec());
    let name = "ei-iso-cross-environment-access";
    let policy = object(&objects, OwnedKind::ValidatingAdmissionPolicy, name);
    assert_eq!(
        policy["spec"]["paramKind"],
        json!({"apiVersion": "v1", "kind": "Namespace"})
    );
    let binding = object(&objects, OwnedKind::ValidatingAdmissionPolicyBinding, name);
    assert_eq!(
        binding["spec"]["paramRef"],
        json!({"selector": {}, "parameterNotFoundAction": "Deny"})
    );
    let cel = policy["spec"].to_string();
    for form in [
        "'system:serviceaccount:' + params.metadata.name + ':'",
        "'system:serviceaccounts:' + params.metadata.name",
        "'system:serviceaccounts'",
        "s.name.lowerAscii().trim() in ['contractors', 'system:authenticated']",
        "params.metadata.name in ['kube-node-lease', 'kube-public', 'kube-system', 'velero']",
        "'namespace:' + params.metadata.name",
        "clusterrolebindings",
        "request.namespace) == params.metadata.name",
    ] {
        assert!(cel.contains(form), "{form} missing: {cel}");
    }
}

/// `kube-system`, Velero's and the operator's namespaces match a `NotIn` or `DoesNotExist`
/// environment too; like the evaluation (`environments_of`), every membership test in CEL
/// takes them out of every environment by name.
#[test]
fn excluded_namespaces_are_in_no_environment_in_admission() {
    use k8s_openapi::apimachinery::pkg::apis::meta::v1::LabelSelectorRequirement;
    let mut spec = spec();
    spec.environments[1].namespace_selector = LabelSelector {
        match_expressions: Some(vec![LabelSelectorRequirement {
            key: "env".into(),
            operator: "NotIn".into(),
            values: Some(vec!["production".into()]),
        }]),
        ..LabelSelector::default()
    };
    let mut snapshot = snapshot();
    snapshot.excluded = crate::snapshot::ExcludedNamespaces::new("backup-system")
        .with(["ops".into()], crate::snapshot::OPERATOR_NAMESPACE);
    let objects = policies_for(&spec, &snapshot);
    let variables = |name: &str| {
        object(&objects, OwnedKind::ValidatingAdmissionPolicy, name)["spec"]["variables"]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| {
                (
                    v["name"].as_str().unwrap().to_string(),
                    v["expression"].as_str().unwrap().to_string(),
                )
            })
            .collect::<std::collections::BTreeMap<_, _>>()
    };
    let excluded = "['backup-system', 'kube-node-lease', 'kube-public', 'kube-system', 'ops']";
    let access = variables("ei-iso-cross-environment-access");
    for (variable, object) in [
        ("paramJudged", "params"),
        ("reachesProduction", "namespaceObject"),
    ] {
        let cel = &access[variable];
        assert!(
            cel.contains(&format!("!({object}.metadata.name in {excluded})")),
            "{variable}: {cel}"
        );
    }
    let data = variables("ei-iso-production-data-restricted");
    assert!(
        data["nonProduction"].contains(&format!(
            "!(namespaceObject.metadata.name in {excluded} || "
        )),
        "{}",
        data["nonProduction"]
    );
}

#[test]
fn selector_cel_mirrors_label_selector_semantics() {
    use k8s_openapi::apimachinery::pkg::apis::meta::v1::LabelSelectorRequirement;
    let requirement = |operator: &str, values: &[&str]| LabelSelector {
        match_expressions: Some(vec![LabelSelectorRequirement {
            key: "env".into(),
            operator: operator.into(),
            values: Some(values.iter().map(|v| v.to_string()).collect()),
        }]),
        ..Default::default()
    };
    assert_eq!(selector_cel(&LabelSelector::default(), "l"), "true");
    assert_eq!(
        selector_cel(&requirement("NotIn", &["prod"]), "l"),
        "(!('env' in l && l['env'] in ['prod']))"
    );
    assert_eq!(
        selector_cel(&requirement("Exists", &[]), "l"),
        "(('env' in l))"
    );
    // Invalid selectors select nothing, as `evaluate::selects` decides.
    let mut no_values = requirement("In", &[]);
    no_values.match_expressions.as_mut().unwrap()[0].values = None;
    assert_eq!(selector_cel(&no_values, "l"), "false");
    assert_eq!(
        selector_cel(&requirement("Sometimes", &["x"]), "l"),
        "false"
    );
}

#[test]
fn sandbox_cel_checks_prefix_label_and_known_policy_uids() {
    let cel = sandbox_cel("params", &["uid-a".into()]);
    assert!(
        cel.contains("params.metadata.name.startsWith('restore-test-')"),
        "{cel}"
    );
    assert!(
        cel.contains(&format!(
            "params.metadata.labels['{RESTORE_TEST_LABEL}'] == 'true'"
        )),
        "{cel}"
    );
    assert!(
        cel.contains(&format!(
            "params.metadata.annotations['{RESTORE_TEST_POLICY_UID}'] in ['uid-a']"
        )),
        "{cel}"
    );
}

fn protected(spec: &EnvironmentIsolationSpec, snapshot: &Snapshot) -> String {
    validation(
        &policies_for(spec, snapshot),
        "ei-iso-environment-segregation",
    )
}

fn protecting_spec() -> EnvironmentIsolationSpec {
    let mut spec = spec();
    spec.protect_environment_labels = Some(LabelProtectionSpec {
        allowed_users: vec!["alice".into()],
        allowed_groups: vec!["platform-admins".into()],
    });
    spec
}

#[test]
fn label_protection_allows_only_listed_identities() {
    let cel = protected(&protecting_spec(), &snapshot());
    assert!(
        cel.contains(&format!("['env', '{RESTORE_TEST_LABEL}']")),
        "{cel}"
    );
    assert!(
        cel.contains("['alice', 'system:serviceaccount:ops:operator']"),
        "{cel}"
    );
    assert!(cel.contains("['platform-admins']"), "{cel}");
    assert!(!cel.contains("system:masters"), "{cel}");
    assert!(cel.contains("\"resources\":[\"namespaces\"]"), "{cel}");
    // Velero's server recreates a deleted namespace with its labels (disaster recovery), on
    // create only: it never relabels an existing namespace.
    assert!(
        cel.contains("(oldObject == null && request.userInfo.username in ['system:serviceaccount:velero:velero-server'])"),
        "{cel}"
    );
    // An existing namespace never gains the sandbox marks.
    assert!(cel.contains("oldObject != null && ((!("), "{cel}");
}

/// The keys every custom resource selects namespaces by are protected, not only this
/// isolation's environment keys: relabelling moves a namespace out of a baseline's or a
/// backup policy's reach just as well.
#[test]
fn label_protection_covers_every_custom_resources_selector_keys() {
    use crate::api::{BackupPolicy, Exemption, SecurityBaseline};
    let selector = |key: &str| LabelSelector {
        match_labels: Some([(key.to_string(), "x".to_string())].into()),
        ..Default::default()
    };
    let mut snapshot = snapshot();
    let sb: SecurityBaseline = serde_json::from_value(json!({
            "apiVersion": "security.baseline.dev/v1alpha1", "kind": "SecurityBaseline",
            "metadata": {"name": "sb"},
            "spec": {"namespaceSelector": {"matchExpressions": [{"key": "tier", "operator": "Exists"}]}},
        }))
        .unwrap();
    let mut bp: BackupPolicy = serde_json::from_value(json!({
        "apiVersion": "security.baseline.dev/v1alpha1", "kind": "BackupPolicy",
        "metadata": {"name": "bp"},
        "spec": {"namespaceSelector": {"matchLabels": {"backup": "daily"}}, "rpo": "24h"},
    }))
    .unwrap();
    bp.spec.exemptions = vec![Exemption {
        controls: vec![ControlId::AutomatedBackup],
        namespaces: vec![],
        selector: Some(selector("backup-exempt")),
        reason: "r".into(),
        approved_by: "a".into(),
        ticket: None,
        expires: "2099-01-01".into(),
    }];
    snapshot.custom_resources.security_baselines = vec![std::sync::Arc::new(sb)];
    snapshot.custom_resources.backup_policies = vec![std::sync::Arc::new(bp)];
    let cel = protected(&protecting_spec(), &snapshot);
    assert!(
        cel.contains(&format!(
            "['backup', 'backup-exempt', 'env', '{RESTORE_TEST_LABEL}', 'tier']"
        )),
        "{cel}"
    );
}

/// An exemption of environment-segregation scoped by labels would let one PATCH add the
/// exempt label together with `env=production`: label protection takes no exemptions.
#[test]
fn no_exemption_waives_label_protection() {
    use crate::api::Exemption;
    let mut spec = protecting_spec();
    let exemption = |selector: Option<LabelSelector>, namespaces: Vec<String>| Exemption {
        controls: vec![ControlId::EnvironmentSegregation],
        namespaces,
        selector,
        reason: "legacy".into(),
        approved_by: "ciso".into(),
        ticket: None,
        expires: "2099-01-01".into(),
    };
    spec.exemptions = vec![
        exemption(
            Some(LabelSelector {
                match_labels: Some([("legacy".to_string(), "true".to_string())].into()),
                ..Default::default()
            }),
            vec![],
        ),
        // Even one waiving the control everywhere.
        exemption(None, vec![]),
    ];
    let objects = policies_for(&spec, &snapshot());
    let policy = object(
        &objects,
        OwnedKind::ValidatingAdmissionPolicy,
        "ei-iso-environment-segregation",
    );
    assert!(policy["spec"]["matchConditions"].is_null(), "{policy}");
}

/// When the last exemption of a control expires, the live policy's exemption condition
/// must go: the desired policy is not a subset of one that still has it.
#[test]
fn an_expired_exemption_leaves_no_condition_behind() {
    use crate::api::Exemption;
    let mut spec = spec();
    spec.exemptions = vec![Exemption {
        controls: vec![ControlId::ProductionDataRestricted],
        namespaces: vec!["dev".into()],
        selector: None,
        reason: "r".into(),
        approved_by: "a".into(),
        ticket: None,
        expires: "2025-06-01T12:00:00Z".into(),
    }];
    let at = |now: &str| {
        admission(
            &owner(),
            &valid(&spec),
            &snapshot(),
            None,
            &[],
            now.parse().unwrap(),
        )
        .into_iter()
        .find(|o| {
            o.kind == OwnedKind::ValidatingAdmissionPolicy
                && o.name == "ei-iso-production-data-restricted"
        })
        .unwrap()
        .json()
    };
    let live = at("2025-06-01T00:00:00Z");
    assert!(live["spec"]["matchConditions"].is_array(), "{live}");
    let expired = at("2025-06-02T00:00:00Z");
    assert!(expired["spec"]["matchConditions"].is_null());
    let content = |body: &Value| {
        use crate::desired::canonical::{canonical, content};
        let kind = OwnedKind::ValidatingAdmissionPolicy;
        content(kind, &canonical(kind, body))
    };
    assert_ne!(content(&expired), content(&live));
    let mut converged = expired.clone();
    converged["spec"]
        .as_object_mut()
        .unwrap()
        .remove("matchConditions");
    assert_eq!(content(&expired), content(&converged));
}

/// Without data, access or label rules, only the routes rule of `environment-segregation`
/// (always part of segregation in Enforce mode) is rendered.
#[test]
fn unconfigured_rules_produce_only_the_routes_policy() {
    let mut spec = spec();
    spec.production_data = None;
    spec.access = None;
    let names: Vec<String> = policies(&spec).into_iter().map(|o| o.name).collect();
    assert_eq!(
        names,
        [
            "ei-iso-environment-segregation-routes",
            "ei-iso-environment-segregation-routes"
        ]
    );
}

/// The routes policy takes every Namespace as a param, so that each evaluation judges one
/// candidate target by its own labels, and is evaluated only for writes naming another
/// namespace.
#[test]
fn the_routes_policy_judges_each_namespace_as_a_param() {
    let objects = policies(&spec());
    let name = "ei-iso-environment-segregation-routes";
    let policy = object(&objects, OwnedKind::ValidatingAdmissionPolicy, name);
    assert_eq!(
        policy["spec"]["paramKind"],
        json!({"apiVersion": "v1", "kind": "Namespace"})
    );
    let conditions = policy["spec"]["matchConditions"].to_string();
    assert!(
        conditions.contains("ExternalName") && conditions.contains("targetRef"),
        "{conditions}"
    );
    let binding = object(&objects, OwnedKind::ValidatingAdmissionPolicyBinding, name);
    assert_eq!(binding["spec"]["policyName"], json!(name));
    assert_eq!(
        binding["spec"]["paramRef"]["parameterNotFoundAction"],
        json!("Deny")
    );
    let text = validation(&objects, name);
    assert!(
        text.contains("lowerAscii()") && text.contains("'svc'"),
        "{text}"
    );
}

/// An environment written with `NotIn` picks `kube-system` too (it has no `env` label); the
/// isolation policy leaves the excluded namespaces out of its peers, as evaluation and
/// admission leave them out of every environment, so the operator's own policy opens nothing
/// to them. A positive selector stays as written.
#[test]
fn isolation_peers_leave_excluded_namespaces_out_of_negative_selectors() {
    use k8s_openapi::apimachinery::pkg::apis::meta::v1::LabelSelectorRequirement;
    let mut spec = three_environments();
    spec.environments[1].namespace_selector = LabelSelector {
        match_expressions: Some(vec![LabelSelectorRequirement {
            key: "env".into(),
            operator: "NotIn".into(),
            values: Some(vec!["production".into(), "staging".into()]),
        }]),
        ..LabelSelector::default()
    };
    let mut snapshot = snapshot();
    snapshot.excluded = crate::snapshot::ExcludedNamespaces::new("backup-system");
    let excluded = snapshot.excluded.names();
    assert!(
        excluded.contains(&"kube-system".to_string()),
        "{excluded:?}"
    );
    let envs = environments_of(
        &crate::validate::environment_isolation::validate(&spec)
            .unwrap()
            .environments,
        &snapshot,
    );
    let objects = network_policies(
        &owner(),
        &valid(&spec),
        &envs,
        &snapshot,
        Timestamp::UNIX_EPOCH,
    );
    let negative = json!({"matchExpressions": [
        {"key": "env", "operator": "NotIn", "values": ["production", "staging"]},
        {"key": "kubernetes.io/metadata.name", "operator": "NotIn", "values": excluded},
    ]});
    let dev = policy_in(&objects, "dev");
    assert_eq!(
        dev["spec"]["ingress"][0]["from"][0]["namespaceSelector"],
        negative
    );
    // The declared flow from dev into production carries the same exclusion; production's
    // own, positive, selector is untouched.
    let prod = policy_in(&objects, "prod");
    assert_eq!(
        prod["spec"]["ingress"][0]["from"][0]["namespaceSelector"],
        json!({"matchLabels": {"env": "production"}})
    );
    assert_eq!(
        prod["spec"]["ingress"][1]["from"][0]["namespaceSelector"],
        negative
    );
}
