//! What an EnvironmentIsolation in Enforce mode maintains: one isolation NetworkPolicy per
//! environment namespace, and ValidatingAdmissionPolicies that keep production data, identities
//! and environment labels where they belong.

use super::admission::{Rule, cel_list, cel_string, policy_and_binding};
use super::network_policy::ports;
use super::{DesiredObject, OwnedKind, Owner};
use crate::api::environment_isolation::{Environment, LabelProtectionSpec};
use crate::api::{EnvironmentIsolationSpec, Exemption};
use crate::catalog::ControlId;
use crate::evaluate::exemptions::Live;
use crate::evaluate::isolation::{EnvironmentMap, RESTORE_TEST_LABEL, isolation_policy_name};
use crate::snapshot::Snapshot;
use jiff::Timestamp;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::LabelSelector;
use serde_json::{Value, json};
use std::collections::BTreeSet;

/// One isolation NetworkPolicy in every namespace of every environment: ingress only from the
/// same environment, plus the declared flows into it. A namespace two environments claim still
/// gets one (from its first environment in spec order): the overlap is reported, and an
/// unisolated namespace would be worse than a possibly too narrow one.
pub fn network_policies(
    owner: &Owner,
    spec: &EnvironmentIsolationSpec,
    envs: &EnvironmentMap,
    snapshot: &Snapshot,
) -> Vec<DesiredObject> {
    let name = isolation_policy_name(&owner.name);
    envs.namespaces
        .iter()
        .filter(|(namespace, _)| !is_terminating(namespace, snapshot))
        .filter_map(|(namespace, names)| {
            let env = environment(spec, names.first()?)?;
            Some(DesiredObject::owned(
                OwnedKind::NetworkPolicy,
                owner,
                Some(namespace),
                name.clone(),
                json!({"spec": {
                    "podSelector": {},
                    "policyTypes": ["Ingress"],
                    "ingress": ingress_rules(spec, env),
                }}),
            ))
        })
        .collect()
}

fn environment<'a>(spec: &'a EnvironmentIsolationSpec, name: &str) -> Option<&'a Environment> {
    spec.environments.iter().find(|e| e.name == name)
}

/// The API server refuses new objects in a terminating namespace; asking would only fail.
fn is_terminating(namespace: &str, snapshot: &Snapshot) -> bool {
    snapshot.namespaces.iter().any(|ns| {
        ns.metadata.name.as_deref() == Some(namespace)
            && ns.status.as_ref().and_then(|s| s.phase.as_deref()) == Some("Terminating")
    })
}

/// Same environment first, then declared flows sorted by source environment (stable, so
/// flows from one source keep their declared order): the policy only changes when the spec does.
fn ingress_rules(spec: &EnvironmentIsolationSpec, env: &Environment) -> Vec<Value> {
    let mut flows: Vec<_> = spec
        .allowed_flows
        .iter()
        // A flow within one environment adds nothing to the same-environment rule.
        .filter(|f| f.to == env.name && f.from != env.name)
        .collect();
    flows.sort_by(|a, b| a.from.cmp(&b.from));
    let mut rules = vec![json!({"from": [{"namespaceSelector": env.namespace_selector}]})];
    for flow in flows {
        let Some(source) = environment(spec, &flow.from) else {
            continue;
        };
        let mut rule = json!({"from": [{"namespaceSelector": source.namespace_selector}]});
        if !flow.ports.is_empty() {
            rule["ports"] = json!(ports(&flow.ports));
        }
        rules.push(rule);
    }
    rules
}

/// The admission policies an EnvironmentIsolation in Enforce mode maintains.
///
/// The namespace lists are inlined into the CEL from `envs`, so the operator re-renders these
/// policies whenever namespaces or their labels change. Bindings use the empty namespace
/// selector: the CEL itself decides by namespace.
pub fn admission(
    owner: &Owner,
    spec: &EnvironmentIsolationSpec,
    envs: &EnvironmentMap,
    operator_username: Option<&str>,
    now: Timestamp,
) -> Vec<DesiredObject> {
    let live = Live::new(&spec.exemptions, now);
    let exemptions: Vec<&Exemption> = live.iter().collect();
    let everywhere = LabelSelector::default();
    [
        production_data_rule(spec, envs),
        cross_environment_rule(spec, envs),
        label_protection_rule(spec, operator_username),
    ]
    .into_iter()
    .flatten()
    .flat_map(|rule| policy_and_binding(owner, rule, &everywhere, &exemptions))
    .collect()
}

fn core_rules(resources: &[&str]) -> Value {
    json!([{
        "apiGroups": [""],
        "apiVersions": ["v1"],
        "resources": resources,
        "operations": ["CREATE", "UPDATE"],
    }])
}

/// Rejects objects classified as production data in non-production namespaces.
fn production_data_rule(spec: &EnvironmentIsolationSpec, envs: &EnvironmentMap) -> Option<Rule> {
    let data = spec.production_data.as_ref()?;
    let label = cel_string(data.classification_label());
    let classified = format!(
        "has(object.metadata.labels) && {label} in object.metadata.labels && object.metadata.labels[{label}] in {}",
        cel_list(&data.production_values)
    );
    let non_production = cel_list(&envs.non_production_namespaces());
    Some(Rule {
        control: ControlId::ProductionDataRestricted,
        resources: core_rules(&["configmaps", "secrets", "persistentvolumeclaims"]),
        variables: vec![],
        validations: vec![(
            format!("!(request.namespace in {non_production}) || !({classified})"),
            format!(
                "objects labelled {} = {} hold production data and may not be stored in a non-production namespace",
                data.classification_label(),
                data.production_values.join(" or ")
            ),
        )],
    })
}

/// Rejects bindings that let non-production identities act in production: RoleBindings in
/// production namespaces and every ClusterRoleBinding (it reaches production too).
fn cross_environment_rule(spec: &EnvironmentIsolationSpec, envs: &EnvironmentMap) -> Option<Rule> {
    let access = spec
        .access
        .as_ref()
        .filter(|a| a.deny_cross_environment_bindings)?;
    // A ServiceAccount subject without a namespace is the RoleBinding's own, i.e. production.
    let cross_subjects = format!(
        "has(object.subjects) ? object.subjects.filter(s, (s.kind == 'ServiceAccount' && has(s.namespace) && s.namespace in {}) || (s.kind == 'Group' && s.name in {})) : []",
        cel_list(&envs.non_production_namespaces()),
        cel_list(&access.non_production_groups),
    );
    let reaches_production = format!(
        "request.resource.resource == 'clusterrolebindings' || request.namespace in {}",
        cel_list(&envs.production_namespaces())
    );
    Some(Rule {
        control: ControlId::CrossEnvironmentAccess,
        resources: json!([{
            "apiGroups": ["rbac.authorization.k8s.io"],
            "apiVersions": ["*"],
            "resources": ["rolebindings", "clusterrolebindings"],
            "operations": ["CREATE", "UPDATE"],
        }]),
        variables: vec![json!({"name": "crossSubjects", "expression": cross_subjects})],
        validations: vec![(
            format!("!({reaches_production}) || size(variables.crossSubjects) == 0"),
            "RoleBindings in production namespaces and ClusterRoleBindings may not name ServiceAccounts of non-production namespaces or non-production groups".into(),
        )],
    })
}

/// Every label key that decides environment membership: selector keys, and the restore-test
/// label, which takes a namespace out of every environment.
fn environment_label_keys(spec: &EnvironmentIsolationSpec) -> BTreeSet<String> {
    let mut keys = BTreeSet::from([RESTORE_TEST_LABEL.to_string()]);
    for selector in spec.environments.iter().map(|e| &e.namespace_selector) {
        keys.extend(
            selector
                .match_labels
                .iter()
                .flatten()
                .map(|(k, _)| k.clone()),
        );
        keys.extend(
            selector
                .match_expressions
                .iter()
                .flatten()
                .map(|e| e.key.clone()),
        );
    }
    keys
}

/// Only the listed administrators and the operator may set or change environment labels:
/// relabelling a namespace would move it, and its data, between environments. Nobody is
/// exempt implicitly, `system:masters` included.
fn label_protection_rule(
    spec: &EnvironmentIsolationSpec,
    operator_username: Option<&str>,
) -> Option<Rule> {
    let protection: &LabelProtectionSpec = spec.protect_environment_labels.as_ref()?;
    let keys: Vec<String> = environment_label_keys(spec).into_iter().collect();
    let mut users = protection.allowed_users.clone();
    users.extend(operator_username.map(str::to_string));
    let changed = format!(
        "{}.filter(k, (k in variables.labels) != (k in variables.oldLabels) || (k in variables.labels && k in variables.oldLabels && variables.labels[k] != variables.oldLabels[k]))",
        cel_list(&keys)
    );
    let allowed = format!(
        "request.userInfo.username in {} || (has(request.userInfo.groups) && request.userInfo.groups.exists(g, g in {}))",
        cel_list(&users),
        cel_list(&protection.allowed_groups)
    );
    Some(Rule {
        control: ControlId::EnvironmentSegregation,
        resources: core_rules(&["namespaces"]),
        variables: vec![
            json!({"name": "labels", "expression": "has(object.metadata.labels) ? object.metadata.labels : {}"}),
            // On CREATE there is no old object: every environment label present counts as set.
            json!({"name": "oldLabels", "expression": "oldObject != null && has(oldObject.metadata.labels) ? oldObject.metadata.labels : {}"}),
            json!({"name": "changedKeys", "expression": changed}),
            json!({"name": "allowed", "expression": allowed}),
        ],
        validations: vec![(
            "size(variables.changedKeys) == 0 || variables.allowed".into(),
            format!(
                "only environment administrators may set or change the environment labels {}",
                keys.join(", ")
            ),
        )],
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::PortSpec;
    use crate::api::environment_isolation::{Flow, LabelProtectionSpec};
    use crate::evaluate::isolation::environments_of;
    use crate::evaluate::isolation::tests::{environment, namespace, snapshot, spec};

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

    fn policy_in<'a>(objects: &'a [DesiredObject], namespace: &str) -> &'a Value {
        &objects
            .iter()
            .find(|o| o.namespace.as_deref() == Some(namespace))
            .unwrap()
            .body
    }

    #[test]
    fn isolation_policy_admits_same_environment_and_declared_flows_in_order() {
        let spec = three_environments();
        let snapshot = snapshot();
        let envs = environments_of(&spec, &snapshot);
        let objects = network_policies(&owner(), &spec, &envs, &snapshot);
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
        let mut envs = environments_of(&spec, &snapshot);
        envs.namespaces
            .insert("shared".into(), vec!["dev".into(), "production".into()]);
        let objects = network_policies(&owner(), &spec, &envs, &snapshot);
        let shared = policy_in(&objects, "shared");
        assert_eq!(
            shared["spec"]["ingress"][0]["from"][0]["namespaceSelector"],
            json!({"matchLabels": {"env": "dev"}})
        );
    }

    fn policies(spec: &EnvironmentIsolationSpec) -> Vec<DesiredObject> {
        let envs = environments_of(spec, &snapshot());
        let now = "2025-06-01T00:00:00Z".parse().unwrap();
        admission(
            &owner(),
            spec,
            &envs,
            Some("system:serviceaccount:ops:operator"),
            now,
        )
    }

    fn validation(objects: &[DesiredObject], name: &str) -> String {
        let policy = objects
            .iter()
            .find(|o| o.kind == OwnedKind::ValidatingAdmissionPolicy && o.name == name)
            .unwrap_or_else(|| panic!("no policy {name}"));
        policy.body["spec"].to_string()
    }

    #[test]
    fn production_data_policy_lists_non_production_namespaces() {
        let objects = policies(&spec());
        let cel = validation(&objects, "ei-iso-production-data-restricted");
        assert!(cel.contains("!(request.namespace in ['dev'])"), "{cel}");
        assert!(cel.contains("['production']"), "{cel}");
        assert!(cel.contains("data.baseline.dev/classification"), "{cel}");
        assert!(cel.contains("[production-data-restricted]"), "{cel}");
        let binding = objects
            .iter()
            .find(|o| o.kind == OwnedKind::ValidatingAdmissionPolicyBinding)
            .unwrap();
        assert_eq!(
            binding.body["spec"]["matchResources"]["namespaceSelector"],
            json!({})
        );
    }

    #[test]
    fn cross_environment_policy_lists_both_namespace_sets_and_groups() {
        let objects = policies(&spec());
        let cel = validation(&objects, "ei-iso-cross-environment-access");
        assert!(cel.contains("s.namespace in ['dev']"), "{cel}");
        assert!(cel.contains("s.name in ['contractors']"), "{cel}");
        assert!(cel.contains("request.namespace in ['prod']"), "{cel}");
        assert!(cel.contains("clusterrolebindings"), "{cel}");
    }

    #[test]
    fn label_protection_covers_selector_keys_and_allows_only_listed_identities() {
        let mut spec = spec();
        spec.protect_environment_labels = Some(LabelProtectionSpec {
            allowed_users: vec!["alice".into()],
            allowed_groups: vec!["platform-admins".into()],
        });
        let objects = policies(&spec);
        let cel = validation(&objects, "ei-iso-environment-segregation");
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
    }

    #[test]
    fn unconfigured_rules_produce_no_policies() {
        let mut spec = spec();
        spec.production_data = None;
        spec.access = None;
        assert!(policies(&spec).is_empty());
    }
}
