//! ValidatingAdmissionPolicies (CEL) and their bindings: enforcement that keeps working when
//! the operator is down, with messages that name the control id.

use super::{DesiredObject, Owner};
use crate::api::Exemption;
use crate::api::security_baseline::{ImagesSpec, ResourcesSpec};
use crate::catalog::ControlId;
use crate::snapshot::Snapshot;
use crate::validate::security_baseline::ValidSecurityBaseline;
use crate::vocabulary::exemptions::Live;
use crate::vocabulary::{images, rbac, storage};
use jiff::Timestamp;
use k8s_openapi::api::admissionregistration::v1::{
    MatchCondition, MatchResources, NamedRuleWithOperations, ValidatingAdmissionPolicy,
    ValidatingAdmissionPolicyBinding, ValidatingAdmissionPolicyBindingSpec,
    ValidatingAdmissionPolicySpec, Validation, Variable,
};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{LabelSelector, LabelSelectorRequirement};
use kube::core::Selector;

/// One admission rule: what it matches and the CEL that must hold.
pub struct Rule {
    pub control: ControlId,
    pub resources: Vec<NamedRuleWithOperations>,
    pub variables: Vec<Variable>,
    pub validations: Vec<(String, String)>,
}

/// What a policy matches: `resources` of the API `groups` at `versions`, on `operations`.
/// `scope` is left to the server's default (`*`, see `canonical`).
pub fn resource_rule(
    groups: &[&str],
    versions: &[&str],
    resources: &[&str],
    operations: &[&str],
) -> NamedRuleWithOperations {
    let strings = |items: &[&str]| Some(items.iter().map(|s| s.to_string()).collect());
    NamedRuleWithOperations {
        api_groups: strings(groups),
        api_versions: strings(versions),
        resources: strings(resources),
        operations: strings(operations),
        resource_names: None,
        scope: None,
    }
}

/// A named CEL expression the policy's validations read as `variables.<name>`.
pub fn variable(name: &str, expression: impl Into<String>) -> Variable {
    Variable {
        name: name.into(),
        expression: expression.into(),
    }
}

/// A CEL string literal.
pub fn cel_string(s: &str) -> String {
    format!("'{}'", s.replace('\\', "\\\\").replace('\'', "\\'"))
}

pub fn cel_list<'a>(items: impl IntoIterator<Item = &'a String>) -> String {
    let items: Vec<String> = items.into_iter().map(|s| cel_string(s)).collect();
    format!("[{}]", items.join(", "))
}

/// CEL for the labels of the request's object.
const OBJECT_LABELS: &str = "(has(object.metadata.labels) ? object.metadata.labels : {})";

/// Kinds whose pod template is `spec.template`.
const TEMPLATED_KINDS: &str = "['Deployment', 'ReplicaSet', 'StatefulSet', 'DaemonSet', 'Job']";

/// CEL for the pod template labels of a [`TEMPLATED_KINDS`] object.
const TEMPLATE_LABELS: &str = "(has(object.spec.template.metadata) && has(object.spec.template.metadata.labels) ? object.spec.template.metadata.labels : {})";

/// CEL for the pod template labels of a CronJob.
const CRONJOB_TEMPLATE_LABELS: &str = "(has(object.spec.jobTemplate.spec.template.metadata) && has(object.spec.jobTemplate.spec.template.metadata.labels) ? object.spec.jobTemplate.spec.template.metadata.labels : {})";

/// CEL that is true when `selector` selects the label map `labels` (a CEL expression), exactly
/// as `evaluate::selects` decides it. A selector kube cannot parse (an unknown operator, `In`
/// or `NotIn` without values) selects nothing on both sides, so a typo never widens a waiver.
pub fn selector_cel(selector: &LabelSelector, labels: &str) -> String {
    if Selector::try_from(selector.clone()).is_err() {
        return "false".into();
    }
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
            "Exists" => format!("({key} in {labels})"),
            "DoesNotExist" => format!("!({key} in {labels})"),
            _ => "false".into(),
        });
    }
    if terms.is_empty() {
        "true".into()
    } else {
        format!("({})", terms.join(" && "))
    }
}

/// CEL that is true when `selector` covers the request's object: a workload by its pod
/// template's labels only, a Pod or any other object by its own labels. This is the rule of
/// `evaluate::exemptions::covers`; see there for why: the ReplicaSets, Jobs and Pods
/// kube-controller-manager makes carry only the template's labels, so a workload is admitted
/// as exempt exactly when everything made from it is.
fn exemption_selector_cel(selector: &LabelSelector) -> String {
    format!(
        "(object.kind in {TEMPLATED_KINDS} ? ({}) : (object.kind == 'CronJob' ? ({}) : ({})))",
        selector_cel(selector, TEMPLATE_LABELS),
        selector_cel(selector, CRONJOB_TEMPLATE_LABELS),
        selector_cel(selector, OBJECT_LABELS),
    )
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
            terms.push(format!("({})", exemption_selector_cel(selector)));
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

/// `selector` narrowed to leave out the excluded namespaces (system, Velero, the operator's
/// own, configured: see [`crate::snapshot::ExcludedNamespaces`]), by the name label the API
/// server sets on every namespace. For cluster-scoped objects (ClusterRoleBindings) the API
/// server does not apply a namespace selector, so those are judged as before.
pub fn outside_excluded(selector: &LabelSelector, snapshot: &Snapshot) -> LabelSelector {
    let excluded = snapshot.excluded.names();
    let mut narrowed = selector.clone();
    narrowed
        .match_expressions
        .get_or_insert_with(Vec::new)
        .push(LabelSelectorRequirement {
            key: "kubernetes.io/metadata.name".into(),
            operator: "NotIn".into(),
            values: Some(excluded),
        });
    narrowed
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
    let validations: Vec<Validation> = rule
        .validations
        .iter()
        .map(|(expression, message)| Validation {
            expression: expression.clone(),
            message: Some(format!("[{}] {message}", rule.control)),
            ..Validation::default()
        })
        .collect();
    let policy = ValidatingAdmissionPolicy {
        spec: Some(ValidatingAdmissionPolicySpec {
            failure_policy: Some("Fail".into()),
            match_constraints: Some(MatchResources {
                resource_rules: Some(rule.resources),
                namespace_selector: Some(namespace_selector.clone()),
                ..MatchResources::default()
            }),
            validations: Some(validations),
            variables: (!rule.variables.is_empty()).then_some(rule.variables),
            // No exemption, no condition: drift detection compares for equality, so a
            // condition left on the live policy after the last exemption expires is removed
            // like any extra field.
            match_conditions: exempt.map(|condition| {
                vec![MatchCondition {
                    name: "not-exempted".into(),
                    expression: format!("!({condition})"),
                }]
            }),
            ..ValidatingAdmissionPolicySpec::default()
        }),
        ..ValidatingAdmissionPolicy::default()
    };
    let binding = ValidatingAdmissionPolicyBinding {
        spec: ValidatingAdmissionPolicyBindingSpec {
            policy_name: name.clone(),
            validation_actions: vec!["Deny".into()],
            match_resources: Some(MatchResources {
                namespace_selector: Some(namespace_selector.clone()),
                ..MatchResources::default()
            }),
            param_ref: None,
        },
        ..ValidatingAdmissionPolicyBinding::default()
    };
    vec![
        DesiredObject::typed(owner, None, name.clone(), policy),
        DesiredObject::typed(owner, None, name, binding),
    ]
}

fn rules(groups: &[&str], resources: &[&str]) -> Vec<NamedRuleWithOperations> {
    vec![resource_rule(
        groups,
        &["*"],
        resources,
        &["CREATE", "UPDATE"],
    )]
}

/// The main resources of every kind that carries pods. Subresources (`scale`, `status`) are
/// not listed, so scaling and status updates are never judged.
fn pod_carrier_rules() -> Vec<NamedRuleWithOperations> {
    let write = ["CREATE", "UPDATE"];
    vec![
        resource_rule(&[""], &["v1"], &["pods"], &write),
        resource_rule(
            &["apps"],
            &["v1"],
            &["deployments", "statefulsets", "daemonsets", "replicasets"],
            &write,
        ),
        resource_rule(&["batch"], &["v1"], &["jobs", "cronjobs"], &write),
    ]
}

/// CEL for the pod spec of `object` or `oldObject`: the Pod's own, or the workload's template.
fn pod_spec_of(object: &str) -> String {
    format!(
        "({object}.kind == 'Pod' ? {object}.spec : ({object}.kind == 'CronJob' ? {object}.spec.jobTemplate.spec.template.spec : {object}.spec.template.spec))"
    )
}

/// CEL for the containers and init containers of a pod spec (what resource-governance judges).
fn regular_containers_of(spec: &str) -> String {
    format!("({spec}.containers + (has({spec}.initContainers) ? {spec}.initContainers : []))")
}

/// CEL for every container, init and ephemeral container of a pod spec (what trusted-images
/// judges).
fn all_containers_of(spec: &str) -> String {
    format!(
        "({} + (has({spec}.ephemeralContainers) ? {spec}.ephemeralContainers : []))",
        regular_containers_of(spec)
    )
}

/// The `judged` variable: true on CREATE, and on UPDATE only when `changed` (CEL comparing
/// `object` with `oldObject`) says the update changes what the control judges.
///
/// Admission judges what a request changes, never what it leaves alone: metadata-only
/// updates (labels, annotations, finalizers, ownerReferences), `spec.replicas`, the `scale` and
/// `status` subresources and deletions of objects that were already non-compliant are let
/// through, so remediation (scaling an old ReplicaSet to zero, a PVC shedding its finalizer)
/// is never blocked. An update that does change the judged fields is judged in full: touching
/// a workload's images means all of them must be trusted. The audit keeps reporting what is
/// non-compliant either way.
fn judged(changed: &str) -> Variable {
    variable(
        "judged",
        format!("request.operation != 'UPDATE' || oldObject == null || ({changed})"),
    )
}

/// A validation that holds trivially when the request is not judged.
fn when_judged(expression: &str) -> String {
    format!("!variables.judged || ({expression})")
}

fn image_rule(spec: &ImagesSpec) -> Option<Rule> {
    let mut validations = Vec::new();
    let prefixes = images::registry_prefixes(spec);
    if !prefixes.is_empty() {
        validations.push((
            when_judged(&format!(
                "variables.containers.all(c, {}.exists(p, c.image.startsWith(p)))",
                cel_list(&prefixes)
            )),
            format!(
                "images must come from an allowed registry ({})",
                spec.allowed_registries.join(", ")
            ),
        ));
    }
    let pinned = format!("c.image.matches({})", cel_string(images::PINNED_PATTERN));
    if spec.require_digest {
        validations.push((
            when_judged(&format!("variables.containers.all(c, {pinned})")),
            "images must be pinned by a sha256 digest (@sha256: and 64 lowercase hex digits)"
                .into(),
        ));
    }
    if spec.disallow_latest_tag {
        validations.push((
            when_judged(&format!(
                "variables.containers.all(c, {pinned} || (c.image.matches({}) && !c.image.matches({})))",
                cel_string(images::TAGGED_PATTERN),
                cel_string(images::LATEST_PATTERN)
            )),
            "images must carry an immutable tag, not `latest` or none".into(),
        ));
    }
    if validations.is_empty() {
        return None;
    }
    let mut resources = pod_carrier_rules();
    // `kubectl debug` adds an ephemeral container through this subresource.
    resources.push(resource_rule(
        &[""],
        &["v1"],
        &["pods/ephemeralcontainers"],
        &["UPDATE"],
    ));
    let images_of = |object: &str| {
        format!(
            "{}.map(c, c.image)",
            all_containers_of(&pod_spec_of(object))
        )
    };
    Some(Rule {
        control: ControlId::TrustedImages,
        resources,
        variables: vec![
            variable("containers", all_containers_of(&pod_spec_of("object"))),
            judged(&format!(
                "{} != {}",
                images_of("object"),
                images_of("oldObject")
            )),
        ],
        validations,
    })
}

/// CEL that is true when a TLS host `h` covers the rule host `host`: equal, or a `*.` wildcard
/// standing for exactly one leading label (`evaluate::encryption::wildcard_covers`).
const TLS_HOST_COVERS: &str = "h == r.host || (h.startsWith('*.') && r.host.indexOf('.') >= 0 && r.host.substring(r.host.indexOf('.')) == h.substring(1))";

/// `encryption-in-transit`, judged as `evaluate::encryption::ingress_violations` judges: each
/// rule host covered by a TLS host, a rule without host or a lone default backend only with
/// some TLS.
fn in_transit_rule() -> Rule {
    let tls_of = |o: &str| format!("(has({o}.spec.tls) ? {o}.spec.tls : [])");
    let rules_of = |o: &str| format!("(has({o}.spec.rules) ? {o}.spec.rules : [])");
    let changed = format!(
        "{tls_new}.map(t, has(t.hosts) ? t.hosts : []) != {tls_old}.map(t, has(t.hosts) ? t.hosts : []) || {rules_new}.map(r, has(r.host) ? r.host : '') != {rules_old}.map(r, has(r.host) ? r.host : '') || has(object.spec.defaultBackend) != has(oldObject.spec.defaultBackend)",
        tls_new = tls_of("object"),
        tls_old = tls_of("oldObject"),
        rules_new = rules_of("object"),
        rules_old = rules_of("oldObject"),
    );
    Rule {
        control: ControlId::EncryptionInTransit,
        resources: rules(&["networking.k8s.io"], &["ingresses"]),
        variables: vec![
            variable("tls", tls_of("object")),
            variable("rules", rules_of("object")),
            judged(&changed),
        ],
        validations: vec![(
            when_judged(&format!(
                "variables.rules.all(r, has(r.host) ? variables.tls.exists(t, has(t.hosts) && t.hosts.exists(h, {TLS_HOST_COVERS})) : size(variables.tls) > 0) && (size(variables.rules) > 0 || !has(object.spec.defaultBackend) || size(variables.tls) > 0)"
            )),
            "every Ingress host must be served over TLS (a `*.` TLS host covers one leading label)"
                .into(),
        )],
    }
}

/// `encryption-at-rest`: the claim's class must be encrypted; a claim without a class is let
/// in only when the cluster's default class, which it will get, is encrypted.
fn at_rest_rule(classes: &[String], default_class: Option<&String>) -> Rule {
    let class = "object.spec.storageClassName";
    let old = "oldObject.spec.storageClassName";
    let default_encrypted = default_class.is_some_and(|d| classes.contains(d));
    Rule {
        control: ControlId::EncryptionAtRest,
        resources: rules(&[""], &["persistentvolumeclaims"]),
        variables: vec![judged(&format!(
            "has({class}) != has({old}) || (has({class}) && {class} != {old})"
        ))],
        validations: vec![(
            when_judged(&format!(
                "has({class}) ? {class} in {} : {default_encrypted}",
                cel_list(classes)
            )),
            format!(
                "PersistentVolumeClaims must use an encrypted StorageClass ({})",
                classes.join(", ")
            ),
        )],
    }
}

/// `least-privilege`, as `evaluate::privilege` judges it, where admission can see it:
///
/// - RoleBindings may not grant a forbidden ClusterRole (by name), nor a role whose rules
///   grant what a forbidden role grants, nor a Secret-reading role to an identity of another
///   namespace. A policy cannot read the referenced role, so those roles are inlined by kind
///   and name (`namespace/name` for Roles) from the cluster's roles when the policy is
///   rendered (re-rendered when roles change); a role created or changed after that is
///   reported in status until the next render.
/// - Roles in selected namespaces may not be created or changed to grant what a forbidden role
///   grants (judged on the request's own rules, so this needs nothing inlined).
///
/// ClusterRoles and ClusterRoleBindings are cluster-scoped, beyond a baseline's namespaces:
/// status reports bindings of them to the selected namespaces' identities; admission does not
/// refuse them. `roleRef` is immutable, so a binding update is judged when it adds a subject;
/// removing subjects is remediation and always allowed.
fn least_privilege_rule(forbidden_by_name: &[String], roles: Option<&rbac::RolesByRules>) -> Rule {
    let subjects = |o: &str| format!("(has({o}.subjects) ? {o}.subjects : [])");
    let rules_of = |o: &str| format!("(has({o}.rules) ? {o}.rules : [])");
    let binding = "request.resource.resource == 'rolebindings'";
    let role = "request.resource.resource == 'roles'";
    let mut validations = Vec::new();
    if !forbidden_by_name.is_empty() {
        validations.push((
            when_judged(&format!(
                "!({binding} && object.roleRef.kind == 'ClusterRole' && object.roleRef.name in {})",
                cel_list(forbidden_by_name)
            )),
            format!(
                "RoleBindings may not grant the ClusterRoles {}",
                forbidden_by_name.join(", ")
            ),
        ));
    }
    if let Some(roles) = roles {
        let bound = |cluster: &[String], namespaced: &[String]| {
            format!(
                "{binding} && ((object.roleRef.kind == 'ClusterRole' && object.roleRef.name in {}) || (object.roleRef.kind == 'Role' && (request.namespace + '/' + object.roleRef.name) in {}))",
                cel_list(cluster),
                cel_list(namespaced)
            )
        };
        let name = "s.name.lowerAscii().trim()";
        let foreign = format!(
            "(s.kind == 'ServiceAccount' && has(s.namespace) && s.namespace != '' && s.namespace.lowerAscii().trim() != request.namespace) || (s.kind == 'User' && {name}.startsWith('system:serviceaccount:') && !{name}.startsWith('system:serviceaccount:' + request.namespace + ':')) || (s.kind == 'Group' && ({name} in ['system:serviceaccounts', 'system:authenticated', 'system:unauthenticated'] || ({name}.startsWith('system:serviceaccounts:') && {name} != 'system:serviceaccounts:' + request.namespace)))"
        );
        let mut verbs = vec!["*".to_string()];
        verbs.extend(
            rbac::ESCALATING_VERBS
                .iter()
                .filter(|v| **v != "impersonate")
                .map(|v| v.to_string()),
        );
        let escalating = cel_list(&verbs);
        // `impersonate` of ServiceAccounts alone is bounded to the Role's namespace (see
        // `rbac::forbidden_grant`); any other impersonation is forbidden.
        let impersonation = "(v == 'impersonate' && !(has(r.apiGroups) && size(r.apiGroups) > 0 && r.apiGroups.all(g, g == '') && has(r.resources) && size(r.resources) > 0 && r.resources.all(x, x == 'serviceaccounts')))";
        validations.extend([
            (
                when_judged(&format!(
                    "!({})",
                    bound(&roles.forbidden_cluster_roles, &roles.forbidden_roles)
                )),
                "RoleBindings may not grant a role whose rules grant what a forbidden role grants (`*` verbs, resources or API groups, escalate, bind, impersonate, every non-resource URL)".into(),
            ),
            (
                when_judged(&format!(
                    "!({} && {}.exists(s, {foreign}))",
                    bound(&roles.secret_reading_cluster_roles, &roles.secret_reading_roles),
                    subjects("object")
                )),
                "RoleBindings may not let identities of other namespaces (their ServiceAccounts in any form, system:serviceaccounts, system:authenticated) read Secrets".into(),
            ),
            (
                when_judged(&format!(
                    "!({role} && {}.exists(r, r.verbs.exists(v, v in {escalating} || {impersonation}) || (has(r.resources) && r.resources.exists(x, x == '*')) || (has(r.apiGroups) && r.apiGroups.exists(g, g == '*')) || (has(r.nonResourceURLs) && r.nonResourceURLs.exists(u, u in ['*', '/*']))))",
                    rules_of("object")
                )),
                "Roles may not grant what a forbidden role grants (`*` verbs, resources or API groups, escalate, bind, impersonate)".into(),
            ),
        ]);
    }
    let mut resources = vec!["rolebindings"];
    if roles.is_some() {
        resources.push("roles");
    }
    Rule {
        control: ControlId::LeastPrivilege,
        resources: rules(&["rbac.authorization.k8s.io"], &resources),
        variables: vec![judged(&format!(
            "{role} ? {new_rules} != {old_rules} : (object.roleRef != oldObject.roleRef || {}.exists(s, !(s in {})))",
            subjects("object"),
            subjects("oldObject"),
            new_rules = rules_of("object"),
            old_rules = rules_of("oldObject"),
        ))],
        validations,
    }
}

/// `resource-governance` over containers and init containers; an update is judged when it
/// changes the containers or their resources.
fn resources_rule(spec: &ResourcesSpec) -> Option<Rule> {
    let mut checks = Vec::new();
    if spec.require_requests {
        checks.push("has(c.resources) && has(c.resources.requests) && 'cpu' in c.resources.requests && 'memory' in c.resources.requests");
    }
    if spec.require_memory_limit {
        checks
            .push("has(c.resources) && has(c.resources.limits) && 'memory' in c.resources.limits");
    }
    if checks.is_empty() {
        return None;
    }
    let containers = |o: &str| regular_containers_of(&pod_spec_of(o));
    let changed = format!(
        "{new}.map(c, c.name) != {old}.map(c, c.name) || {new}.map(c, has(c.resources) ? c.resources : {{}}) != {old}.map(c, has(c.resources) ? c.resources : {{}})",
        new = containers("object"),
        old = containers("oldObject"),
    );
    Some(Rule {
        control: ControlId::ResourceGovernance,
        resources: pod_carrier_rules(),
        variables: vec![
            variable("containers", containers("object")),
            judged(&changed),
        ],
        validations: vec![(
            when_judged(&format!(
                "variables.containers.all(c, {})",
                checks.join(" && ")
            )),
            "every container must declare CPU and memory requests and a memory limit".into(),
        )],
    })
}

/// The admission policies a SecurityBaseline in Enforce mode maintains.
pub fn security_baseline(
    owner: &Owner,
    spec: &ValidSecurityBaseline,
    snapshot: &Snapshot,
    now: Timestamp,
) -> Vec<DesiredObject> {
    let live = Live::new(&spec.exemptions, now);
    let exemptions: Vec<&Exemption> = live.iter().collect();
    let in_scope = outside_excluded(&spec.namespace_selector.written, snapshot);
    let mut rules_out = Vec::new();
    let encryption = spec.encryption.as_ref();
    if encryption
        .and_then(|e| e.in_transit.as_ref())
        .is_some_and(|t| t.require_ingress_tls)
    {
        rules_out.push(in_transit_rule());
    }
    if let Some(at_rest) = encryption.and_then(|e| e.at_rest.as_ref()) {
        let classes = storage::encrypted_class_names(at_rest, snapshot);
        let default_class = storage::default_class_name(snapshot);
        rules_out.push(at_rest_rule(&classes, default_class.as_ref()));
    }
    if let Some(images) = &spec.images {
        rules_out.extend(image_rule(images));
    }
    if let Some(access) = &spec.access {
        let mut forbidden = access.forbidden_roles.clone();
        forbidden.sort();
        forbidden.dedup();
        let roles = rbac::judged_on_rules(access).then(|| rbac::roles_by_rules(snapshot));
        if !forbidden.is_empty() || roles.is_some() {
            rules_out.push(least_privilege_rule(&forbidden, roles.as_ref()));
        }
    }
    if let Some(resources) = &spec.resources {
        rules_out.extend(resources_rule(resources));
    }
    rules_out
        .into_iter()
        .flat_map(|rule| policy_and_binding(owner, rule, &in_scope, &exemptions))
        .collect()
}

#[cfg(test)]
#[path = "admission_tests.rs"]
mod tests;
