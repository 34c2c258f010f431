//! ValidatingAdmissionPolicies (CEL) and their bindings: enforcement that keeps working when
//! the operator is down, with messages that name the control id.

use super::{DesiredObject, OwnedKind, Owner};
use crate::api::security_baseline::ImagesSpec;
use crate::api::{Exemption, SecurityBaselineSpec};
use crate::catalog::ControlId;
use crate::evaluate::exemptions::Live;
use crate::evaluate::{encryption, privilege};
use crate::snapshot::Snapshot;
use jiff::Timestamp;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::LabelSelector;
use serde_json::{Value, json};

/// One admission rule: what it matches and the CEL that must hold.
pub struct Rule {
    pub control: ControlId,
    pub resources: Value,
    pub variables: Vec<Value>,
    pub validations: Vec<(String, String)>,
}

/// A CEL string literal.
pub fn cel_string(s: &str) -> String {
    format!("'{}'", s.replace('\\', "\\\\").replace('\'', "\\'"))
}

pub fn cel_list<'a>(items: impl IntoIterator<Item = &'a String>) -> String {
    let items: Vec<String> = items.into_iter().map(|s| cel_string(s)).collect();
    format!("[{}]", items.join(", "))
}

/// CEL that is true for objects a label selector selects.
fn selector_cel(selector: &LabelSelector) -> String {
    let labels = "(has(object.metadata.labels) ? object.metadata.labels : {})";
    let mut terms = Vec::new();
    for (k, v) in selector.match_labels.iter().flatten() {
        let key = cel_string(k);
        terms.push(format!(
            "({key} in {labels} && {labels}[{key}] == {})",
            cel_string(v)
        ));
    }
    for expr in selector.match_expressions.iter().flatten() {
        let key = cel_string(&expr.key);
        let values = cel_list(expr.values.iter().flatten());
        terms.push(match expr.operator.as_str() {
            "In" => format!("({key} in {labels} && {labels}[{key}] in {values})"),
            "NotIn" => format!("!({key} in {labels} && {labels}[{key}] in {values})"),
            "Exists" => format!("{key} in {labels}"),
            _ => format!("!({key} in {labels})"),
        });
    }
    if terms.is_empty() {
        "true".into()
    } else {
        terms.join(" && ")
    }
}

/// CEL that is true when a live exemption waives `control` for the request's object.
/// `None` when an exemption waives the control everywhere (no policy is needed).
pub fn exemption_condition(
    exemptions: &[&Exemption],
    control: ControlId,
) -> Option<Option<String>> {
    let mut alternatives = Vec::new();
    for e in exemptions.iter().filter(|e| e.controls.contains(&control)) {
        let mut terms = Vec::new();
        if !e.namespaces.is_empty() {
            terms.push(format!("request.namespace in {}", cel_list(&e.namespaces)));
        }
        if let Some(selector) = &e.selector {
            terms.push(format!("({})", selector_cel(selector)));
        }
        if terms.is_empty() {
            return None;
        }
        alternatives.push(terms.join(" && "));
    }
    Some(if alternatives.is_empty() {
        None
    } else {
        Some(alternatives.join(" || "))
    })
}

/// The policy + binding pair for one rule, scoped to the namespaces the owner selects.
pub fn policy_and_binding(
    owner: &Owner,
    rule: Rule,
    namespace_selector: &LabelSelector,
    exemptions: &[&Exemption],
) -> Vec<DesiredObject> {
    let Some(exempt) = exemption_condition(exemptions, rule.control) else {
        return Vec::new();
    };
    let name = format!("{}-{}", owner.prefix(), rule.control);
    let validations: Vec<Value> = rule
        .validations
        .iter()
        .map(|(expression, message)| json!({"expression": expression, "message": format!("[{}] {message}", rule.control)}))
        .collect();
    let mut spec = json!({
        "failurePolicy": "Fail",
        "matchConstraints": {
            "resourceRules": rule.resources,
            "namespaceSelector": namespace_selector,
        },
        "validations": validations,
    });
    if !rule.variables.is_empty() {
        spec["variables"] = json!(rule.variables);
    }
    if let Some(condition) = exempt {
        spec["matchConditions"] =
            json!([{"name": "not-exempted", "expression": format!("!({condition})")}]);
    }
    let policy = DesiredObject::owned(
        OwnedKind::ValidatingAdmissionPolicy,
        owner,
        None,
        name.clone(),
        json!({"spec": spec}),
    );
    let binding = DesiredObject::owned(
        OwnedKind::ValidatingAdmissionPolicyBinding,
        owner,
        None,
        name.clone(),
        json!({"spec": {
            "policyName": name,
            "validationActions": ["Deny"],
            "matchResources": {"namespaceSelector": namespace_selector},
        }}),
    );
    vec![policy, binding]
}

fn rules(groups: &[&str], resources: &[&str]) -> Value {
    json!([{
        "apiGroups": groups,
        "apiVersions": ["*"],
        "resources": resources,
        "operations": ["CREATE", "UPDATE"],
    }])
}

fn pod_carrier_rules() -> Value {
    json!([
        {"apiGroups": [""], "apiVersions": ["v1"], "resources": ["pods"], "operations": ["CREATE", "UPDATE"]},
        {"apiGroups": ["apps"], "apiVersions": ["v1"], "resources": ["deployments", "statefulsets", "daemonsets", "replicasets"], "operations": ["CREATE", "UPDATE"]},
        {"apiGroups": ["batch"], "apiVersions": ["v1"], "resources": ["jobs", "cronjobs"], "operations": ["CREATE", "UPDATE"]},
    ])
}

/// `variables.containers`: every container, init and ephemeral container of a pod or template.
fn container_variables() -> Vec<Value> {
    vec![
        json!({"name": "podSpec", "expression": "object.kind == 'Pod' ? object.spec : (object.kind == 'CronJob' ? object.spec.jobTemplate.spec.template.spec : object.spec.template.spec)"}),
        json!({"name": "containers", "expression": "variables.podSpec.containers + (has(variables.podSpec.initContainers) ? variables.podSpec.initContainers : []) + (has(variables.podSpec.ephemeralContainers) ? variables.podSpec.ephemeralContainers : [])"}),
    ]
}

fn image_rule(spec: &ImagesSpec) -> Option<Rule> {
    let mut validations = Vec::new();
    if !spec.allowed_registries.is_empty() {
        validations.push((
            format!(
                "variables.containers.all(c, {}.exists(p, c.image.startsWith(p)))",
                cel_list(&spec.allowed_registries)
            ),
            format!(
                "images must come from an allowed registry ({})",
                spec.allowed_registries.join(", ")
            ),
        ));
    }
    if spec.require_digest {
        validations.push((
            "variables.containers.all(c, c.image.contains('@sha256:'))".into(),
            "images must be pinned by a sha256 digest".into(),
        ));
    }
    if spec.disallow_latest_tag {
        validations.push((
            "variables.containers.all(c, c.image.contains('@') || (c.image.lastIndexOf(':') > c.image.lastIndexOf('/') && !c.image.endsWith(':latest')))".into(),
            "images must carry an immutable tag, not `latest` or none".into(),
        ));
    }
    (!validations.is_empty()).then(|| Rule {
        control: ControlId::TrustedImages,
        resources: pod_carrier_rules(),
        variables: container_variables(),
        validations,
    })
}

/// The admission policies a SecurityBaseline in Enforce mode maintains.
pub fn security_baseline(
    owner: &Owner,
    spec: &SecurityBaselineSpec,
    snapshot: &Snapshot,
    now: Timestamp,
) -> Vec<DesiredObject> {
    let live = Live::new(&spec.exemptions, now);
    let exemptions: Vec<&Exemption> = live.iter().collect();
    let mut rules_out = Vec::new();
    let encryption = spec.encryption.as_ref();
    if encryption
        .and_then(|e| e.in_transit.as_ref())
        .is_some_and(|t| t.require_ingress_tls)
    {
        rules_out.push(Rule {
            control: ControlId::EncryptionInTransit,
            resources: rules(&["networking.k8s.io"], &["ingresses"]),
            variables: vec![],
            validations: vec![(
                "has(object.spec.tls) && size(object.spec.tls) > 0 && (!has(object.spec.rules) || object.spec.rules.all(r, !has(r.host) || object.spec.tls.exists(t, has(t.hosts) && r.host in t.hosts)))".into(),
                "every Ingress host must be served over TLS".into(),
            )],
        });
    }
    if let Some(at_rest) = encryption.and_then(|e| e.at_rest.as_ref()) {
        let classes = encryption::encrypted_class_names(at_rest, snapshot);
        rules_out.push(Rule {
            control: ControlId::EncryptionAtRest,
            resources: json!([{"apiGroups": [""], "apiVersions": ["v1"], "resources": ["persistentvolumeclaims"], "operations": ["CREATE"]}]),
            variables: vec![],
            validations: vec![(
                format!("has(object.spec.storageClassName) && object.spec.storageClassName in {}", cel_list(&classes)),
                format!("PersistentVolumeClaims must use an encrypted StorageClass ({})", classes.join(", ")),
            )],
        });
    }
    if let Some(images) = &spec.images {
        rules_out.extend(image_rule(images));
    }
    if let Some(access) = &spec.access {
        let mut forbidden = access.forbidden_roles.clone();
        let mut namespaced = Vec::new();
        if access.forbid_wildcard_roles {
            let (cluster, roles) = privilege::wildcard_role_names(snapshot);
            forbidden.extend(cluster);
            namespaced = roles;
        }
        forbidden.sort();
        forbidden.dedup();
        if !forbidden.is_empty() || !namespaced.is_empty() {
            rules_out.push(Rule {
                control: ControlId::LeastPrivilege,
                resources: rules(&["rbac.authorization.k8s.io"], &["rolebindings"]),
                variables: vec![],
                validations: vec![
                    (
                        format!("!(object.roleRef.name in {})", cel_list(&forbidden)),
                        format!("RoleBindings may not grant {}", forbidden.join(", ")),
                    ),
                    (
                        format!("!(object.roleRef.kind == 'Role' && (request.namespace + '/' + object.roleRef.name) in {})", cel_list(&namespaced)),
                        "RoleBindings may not grant a Role with wildcard rules".into(),
                    ),
                ],
            });
        }
    }
    if let Some(resources) = &spec.resources {
        let mut checks = Vec::new();
        if resources.require_requests {
            checks.push("has(c.resources) && has(c.resources.requests) && 'cpu' in c.resources.requests && 'memory' in c.resources.requests");
        }
        if resources.require_memory_limit {
            checks.push(
                "has(c.resources) && has(c.resources.limits) && 'memory' in c.resources.limits",
            );
        }
        if !checks.is_empty() {
            let containers = "(variables.podSpec.containers + (has(variables.podSpec.initContainers) ? variables.podSpec.initContainers : []))";
            rules_out.push(Rule {
                control: ControlId::ResourceGovernance,
                resources: pod_carrier_rules(),
                variables: container_variables(),
                validations: vec![(
                    format!("{containers}.all(c, {})", checks.join(" && ")),
                    "every container must declare CPU and memory requests and a memory limit"
                        .into(),
                )],
            });
        }
    }
    rules_out
        .into_iter()
        .flat_map(|rule| policy_and_binding(owner, rule, &spec.namespace_selector, &exemptions))
        .collect()
}
