//! What an EnvironmentIsolation in Enforce mode maintains: one isolation NetworkPolicy per
//! environment namespace, and ValidatingAdmissionPolicies that keep production data, identities
//! and environment labels where they belong.

use super::admission::{
    Rule, cel_list, cel_string, outside_excluded, policy_and_binding, resource_rule, selector_cel,
    variable,
};
use super::network_policy::{baseline_ingress_ports, every_pod, namespaces_peer, ports};
use super::{DesiredObject, OwnedBody, Owner};
use crate::api::environment_isolation::LabelProtectionSpec;
use crate::api::{Exemption, PortSpec};
use crate::catalog::ControlId;
use crate::snapshot::{CustomResources, Snapshot};
use crate::validate::environment_isolation::ValidEnvironmentIsolation;
use crate::vocabulary::environments::Environment;
use crate::vocabulary::environments::{
    ALL_SERVICE_ACCOUNTS_GROUP, AUTHENTICATED_GROUP, EnvironmentMap, SERVICE_ACCOUNT_USER_PREFIX,
    SERVICE_ACCOUNTS_GROUP_PREFIX, allowance_key, cluster_roles_granting_nothing_in_namespaces,
    isolation_policy_name, normalized, own_environment,
};
use crate::vocabulary::exemptions::Live;
use crate::vocabulary::labels::{RESTORE_TEST_LABEL, RESTORE_TEST_POLICY_UID, RESTORE_TEST_PREFIX};
use crate::vocabulary::service_dns::target_namespace_cel;
use jiff::Timestamp;
use k8s_openapi::api::admissionregistration::v1::{
    MatchCondition, NamedRuleWithOperations, ParamKind, ParamRef,
};
use k8s_openapi::api::networking::v1::NetworkPolicyIngressRule;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{LabelSelector, LabelSelectorRequirement};
use std::collections::BTreeSet;

/// One isolation NetworkPolicy in every namespace of every environment: ingress only from the
/// same environment, plus the declared flows into it. A namespace two environments claim still
/// gets one (from its first environment in spec order): the overlap is reported, and an
/// unisolated namespace would be worse than a possibly too narrow one.
///
/// Where a SecurityBaseline in Enforce mode denies ingress, the policy opens only the ports
/// the baseline lists ([`baseline_ingress_ports`]): together they never open more than the
/// baseline allows.
pub fn network_policies(
    owner: &Owner,
    spec: &ValidEnvironmentIsolation,
    envs: &EnvironmentMap,
    snapshot: &Snapshot,
    now: Timestamp,
) -> Vec<DesiredObject> {
    let name = isolation_policy_name(&owner.name);
    let excluded = snapshot.excluded.names();
    envs.namespaces
        .iter()
        // Terminating namespaces are out of scope, in no environment: the API server refuses
        // new objects there, asking would only fail.
        .filter(|(namespace, _)| !envs.out_of_scope.contains(namespace.as_str()))
        .filter_map(|(namespace, names)| {
            let env = environment(spec, names.first()?)?;
            let baseline_ports = baseline_ingress_ports(namespace, snapshot, now);
            let rules = ingress_rules(spec, env, baseline_ports.as_deref(), &excluded);
            // No ingress rule when nothing is open: a full replacement (see
            // `drift::replacement`) removes a stale one.
            Some(DesiredObject::typed(
                owner,
                Some(namespace),
                name.clone(),
                every_pod(
                    vec!["Ingress".into()],
                    (!rules.is_empty()).then_some(rules),
                    None,
                ),
            ))
        })
        .collect()
}

fn environment<'a>(spec: &'a ValidEnvironmentIsolation, name: &str) -> Option<&'a Environment> {
    spec.environments.iter().find(|e| e.name == name)
}

/// Same environment first, then declared flows sorted by source environment (stable, so
/// flows from one source keep their declared order): the policy only changes when the spec
/// (or the ports of the baseline restricting the namespace, `baseline_ports`) does. A rule
/// left with no port the baseline opens is left out.
fn ingress_rules(
    spec: &ValidEnvironmentIsolation,
    env: &Environment,
    baseline_ports: Option<&[PortSpec]>,
    excluded: &[String],
) -> Vec<NetworkPolicyIngressRule> {
    let mut flows: Vec<_> = spec
        .allowed_flows
        .iter()
        // A flow within one environment adds nothing to the same-environment rule.
        .filter(|f| f.to == env.name && f.from != env.name)
        .collect();
    flows.sort_by(|a, b| a.from.cmp(&b.from));
    let mut rules = Vec::new();
    let mut push = |selector: &LabelSelector, flow_ports: &[PortSpec]| {
        let selector = without_excluded(selector, excluded);
        let from = Some(vec![namespaces_peer(&selector)]);
        let open: Vec<PortSpec> = match baseline_ports {
            None => flow_ports.to_vec(),
            Some(listed) if flow_ports.is_empty() => listed.to_vec(),
            Some(listed) => flow_ports
                .iter()
                .filter(|p| {
                    listed
                        .iter()
                        .any(|l| l.port == p.port && l.protocol() == p.protocol())
                })
                .cloned()
                .collect(),
        };
        if baseline_ports.is_some() && open.is_empty() {
            return;
        }
        rules.push(NetworkPolicyIngressRule {
            from,
            ports: (!open.is_empty()).then(|| ports(&open)),
        });
    };
    push(&env.selector.written, &[]);
    for flow in flows {
        let Some(source) = environment(spec, &flow.from) else {
            continue;
        };
        push(&source.selector.written, &flow.ports);
    }
    rules
}

/// `selector` as a NetworkPolicy peer that leaves the excluded namespaces (system, Velero's,
/// the operator's own, configured) out, as evaluation and admission do: they are in no
/// environment. Only a selector that can pick a namespace without its writers' say needs it
/// (empty, `NotIn`, `DoesNotExist`: `kube-system` carries no `env` label, so `env NotIn
/// [production]` picks it); a positive one (`matchLabels`, `In`, `Exists`) picks an excluded
/// namespace only if a cluster administrator labels it so, and stays as written.
fn without_excluded(selector: &LabelSelector, excluded: &[String]) -> LabelSelector {
    let negative = selector
        .match_expressions
        .iter()
        .flatten()
        .any(|e| e.operator == "NotIn" || e.operator == "DoesNotExist");
    let empty = selector.match_labels.as_ref().is_none_or(|l| l.is_empty())
        && selector
            .match_expressions
            .as_ref()
            .is_none_or(|e| e.is_empty());
    if excluded.is_empty() || !(negative || empty) {
        return selector.clone();
    }
    let mut out = selector.clone();
    out.match_expressions
        .get_or_insert_with(Vec::new)
        .push(LabelSelectorRequirement {
            key: NAMESPACE_NAME_LABEL.into(),
            operator: "NotIn".into(),
            values: Some(excluded.to_vec()),
        });
    out
}

/// The label the API server sets on every namespace to its name (immutable).
const NAMESPACE_NAME_LABEL: &str = "kubernetes.io/metadata.name";

/// The admission policies an EnvironmentIsolation in Enforce mode maintains.
///
/// They decide environment membership from the labels of the namespace the request is about
/// (`namespaceObject`, or the namespaces passed as params), evaluated against each
/// environment's selector in CEL, so a namespace created or relabelled while the operator is
/// stopped is covered at once; nothing here depends on which namespaces exist, and the
/// policies are not re-rendered when namespaces change. What they do depend on: the spec,
/// the excluded namespaces (the operator's configuration), the operator's user name, the live
/// exemptions, the uids of BackupPolicies (restore-test sandboxes), the selector label keys of
/// every custom resource (label protection) and the ClusterRoles that grant nothing in
/// namespaces (cross-environment access).
///
/// `restorers` are the user names of the backup tool's server (Velero's ServiceAccount): label
/// protection lets them create a namespace with its protected labels, which is what restoring
/// a deleted namespace from a backup does, and nothing more.
pub fn admission(
    owner: &Owner,
    spec: &ValidEnvironmentIsolation,
    snapshot: &Snapshot,
    operator_username: Option<&str>,
    restorers: &[String],
    now: Timestamp,
) -> Vec<DesiredObject> {
    let live = Live::new(&spec.exemptions, now);
    let exemptions: Vec<&Exemption> = live.iter().collect();
    let everywhere = outside_excluded(&LabelSelector::default(), snapshot);
    let membership = Membership::new(spec, snapshot);
    let mut out: Vec<DesiredObject> = production_data_rule(spec, &membership)
        .into_iter()
        .flat_map(|rule| policy_and_binding(owner, rule, &everywhere, &exemptions))
        .collect();
    let harmless = cluster_roles_granting_nothing_in_namespaces(snapshot);
    let excluded = snapshot.excluded.names();
    if let Some(rule) = cross_environment_rule(spec, &membership, &harmless, &excluded) {
        out.extend(with_namespaces_as_params(policy_and_binding(
            owner,
            rule,
            &everywhere,
            &exemptions,
        )));
    }
    // Every Namespace is a param here too: the route's target is another namespace.
    out.extend(named(
        with_namespaces_as_params(policy_and_binding(
            owner,
            routes_rule(spec, &membership, &excluded),
            &everywhere,
            &exemptions,
        )),
        "routes",
        ROUTES_CONDITION,
    ));
    let keys = protected_label_keys(spec, &snapshot.custom_resources);
    if let Some(rule) = label_protection_rule(spec, &keys, operator_username, restorers) {
        // No exemption waives label protection: an exemption is scoped by labels, and the
        // labels are what this rule protects.
        out.extend(policy_and_binding(owner, rule, &everywhere, &[]));
    }
    // A policy without live exemptions has no `matchConditions`: drift compares whole specs
    // and replaces them, so an expired exemption's condition does not stay behind.
    out
}

fn core_rules(resources: &[&str]) -> Vec<NamedRuleWithOperations> {
    vec![resource_rule(
        &[""],
        &["v1"],
        resources,
        &["CREATE", "UPDATE"],
    )]
}

/// `is_restore_test_sandbox` in CEL, for a Namespace object `namespace` (namespaceObject,
/// params): the name prefix, the restore-test label, and the uid of an existing BackupPolicy
/// (`policy_uids`) in the sandbox annotation.
pub fn sandbox_cel(namespace: &str, policy_uids: &[String]) -> String {
    let meta = format!("{namespace}.metadata");
    let label = cel_string(RESTORE_TEST_LABEL);
    let annotation = cel_string(RESTORE_TEST_POLICY_UID);
    format!(
        "({meta}.name.startsWith({prefix}) && has({meta}.labels) && {label} in {meta}.labels && {meta}.labels[{label}] == 'true' && has({meta}.annotations) && {annotation} in {meta}.annotations && {meta}.annotations[{annotation}] in {uids})",
        prefix = cel_string(RESTORE_TEST_PREFIX),
        uids = cel_list(policy_uids),
    )
}

/// Environment membership in CEL, as `evaluate::isolation::environments_of` and
/// `EnvironmentMap` decide it: a sandbox and an excluded namespace (system, Velero's, the
/// operator's own, configured) are in no environment, whatever the selectors say (a `NotIn`
/// or `DoesNotExist` selector matches `kube-system` too); a namespace is production when a
/// production environment or more than one environment selects it; non-production when
/// exactly one, non-production, environment does.
struct Membership<'a> {
    spec: &'a ValidEnvironmentIsolation,
    policy_uids: Vec<String>,
    excluded: Vec<String>,
}

impl<'a> Membership<'a> {
    fn new(spec: &'a ValidEnvironmentIsolation, snapshot: &Snapshot) -> Self {
        let mut policy_uids: Vec<String> = snapshot
            .custom_resources
            .backup_policies
            .iter()
            .filter_map(|p| p.metadata.uid.clone())
            .collect();
        policy_uids.sort();
        Self {
            spec,
            policy_uids,
            excluded: snapshot.excluded.names(),
        }
    }

    /// True when the namespace object `namespace` may belong to an environment: neither a
    /// restore-test sandbox nor excluded.
    fn eligible(&self, namespace: &str) -> String {
        format!(
            "!({namespace}.metadata.name in {}) && !{}",
            cel_list(&self.excluded),
            sandbox_cel(namespace, &self.policy_uids)
        )
    }

    fn matches(&self, namespace: &str, production: Option<bool>) -> Vec<String> {
        let labels =
            format!("(has({namespace}.metadata.labels) ? {namespace}.metadata.labels : {{}})");
        self.spec
            .environments
            .iter()
            .filter(|e| production.is_none_or(|p| e.production == p))
            .map(|e| selector_cel(&e.selector.written, &labels))
            .collect()
    }

    /// True for a production (or ambiguous) namespace object `namespace`.
    fn production(&self, namespace: &str) -> String {
        let production = self.matches(namespace, Some(true));
        let all = self.matches(namespace, None);
        let mut either = Vec::new();
        if !production.is_empty() {
            either.push(production.join(" || "));
        }
        if all.len() > 1 {
            either.push(format!("size([{}].filter(m, m)) > 1", all.join(", ")));
        }
        if either.is_empty() {
            return "false".into();
        }
        format!(
            "({} && ({}))",
            self.eligible(namespace),
            either.join(" || ")
        )
    }

    /// True for a non-production namespace object `namespace`, as production data judges it:
    /// not excluded, not a sandbox, not production, not claimed by two environments; a
    /// namespace in no environment is non-production too. (The binding leaves the excluded
    /// ones out as well; saying it here keeps the expression true to its name.)
    fn non_production(&self, namespace: &str) -> String {
        let production = self.matches(namespace, Some(true));
        let all = self.matches(namespace, None);
        let mut not = vec![
            format!("{namespace}.metadata.name in {}", cel_list(&self.excluded)),
            sandbox_cel(namespace, &self.policy_uids),
        ];
        if !production.is_empty() {
            not.push(production.join(" || "));
        }
        if all.len() > 1 {
            not.push(format!("size([{}].filter(m, m)) > 1", all.join(", ")));
        }
        format!("!({})", not.join(" || "))
    }

    /// The declared environments whose selectors pick namespace object `namespace`, as a CEL
    /// list of names, in spec order.
    fn matched_environments(&self, namespace: &str) -> String {
        let labels =
            format!("(has({namespace}.metadata.labels) ? {namespace}.metadata.labels : {{}})");
        let terms: Vec<String> = self
            .spec
            .environments
            .iter()
            .map(|e| {
                format!(
                    "({} ? [{}] : [])",
                    selector_cel(&e.selector.written, &labels),
                    cel_string(&e.name)
                )
            })
            .collect();
        if terms.is_empty() {
            return "[]".into();
        }
        terms.join(" + ")
    }

    /// `EnvironmentMap::access_environments` in CEL for a judged namespace object `namespace`
    /// whose [`Self::matched_environments`] are `matched` (a CEL list): those, or its own
    /// environment ([`own_environment`]) when it is a sandbox or in none.
    fn access_environments(&self, namespace: &str, matched: &str) -> String {
        let own = format!(
            "[{} + {namespace}.metadata.name]",
            cel_string(&own_environment(""))
        );
        format!(
            "({} || size({matched}) == 0 ? {own} : {matched})",
            sandbox_cel(namespace, &self.policy_uids)
        )
    }
}

/// Rejects objects classified as production data in non-production namespaces.
fn production_data_rule(spec: &ValidEnvironmentIsolation, membership: &Membership) -> Option<Rule> {
    let data = spec.production_data.as_ref()?;
    let label = cel_string(data.classification_label());
    let classified = format!(
        "has(object.metadata.labels) && {label} in object.metadata.labels && object.metadata.labels[{label}] in {}",
        cel_list(&data.production_values)
    );
    Some(Rule {
        control: ControlId::ProductionDataRestricted,
        resources: core_rules(&["configmaps", "secrets", "persistentvolumeclaims"]),
        variables: vec![variable(
            "nonProduction",
            format!(
                "namespaceObject != null && {}",
                membership.non_production("namespaceObject")
            ),
        )],
        validations: vec![(
            format!("!variables.nonProduction || !({classified})"),
            format!(
                "objects labelled {} = {} hold production data and may not be stored in a non-production namespace",
                data.classification_label(),
                data.production_values.join(" or ")
            ),
        )],
    })
}

/// Rejects bindings that let an identity of one environment act in another: RoleBindings
/// naming identities of a namespace of another environment (between every pair of
/// environments, unless `access.allowedBindings` allows that direction; a namespace in no
/// environment is an environment of its own), and ClusterRoleBindings naming identities of any
/// judged namespace (they grant in every namespace). Declared non-production groups may not be
/// bound in production namespaces nor cluster-wide.
///
/// A subject names a namespace other than the request's (`system:serviceaccount:dev:ci`), and
/// CEL cannot look up another namespace's labels. Inlining the namespaces' environments
/// would leave a namespace created while the operator is stopped (or in the second before it
/// re-renders) uncovered. So the policy takes every Namespace as a param (the binding's
/// `paramRef` selects all of them and the API server evaluates the policy once per namespace,
/// denying if any evaluation fails): each evaluation judges one namespace by its own labels,
/// and rejects the binding if a subject is one of that namespace's identities and the
/// namespace's environment may not act in the binding's. Coverage follows labels immediately,
/// with nothing inlined but the spec and the excluded namespace names (whose identities are
/// never judged, so that the control plane's own bindings are never refused).
///
/// Bindings of ClusterRoles that grant nothing in namespaces (`harmless_roles`, judged from
/// the roles in the cluster as the evaluation judges them) are left alone. That list is the
/// one thing inlined from cluster state; a role not on it is judged, so a stale list errs on
/// the side of rejecting.
fn cross_environment_rule(
    spec: &ValidEnvironmentIsolation,
    membership: &Membership,
    harmless_roles: &[String],
    excluded: &[String],
) -> Option<Rule> {
    let access = spec
        .access
        .as_ref()
        .filter(|a| a.deny_cross_environment_bindings)?;
    let normalized_name = "s.name.lowerAscii().trim()";
    // A ServiceAccount subject without a namespace is the RoleBinding's own.
    let of_param = format!(
        "(s.kind == 'ServiceAccount' && (has(s.namespace) && s.namespace != '' ? s.namespace.lowerAscii().trim() : request.namespace) == params.metadata.name) || (s.kind == 'User' && {normalized_name}.startsWith({user} + params.metadata.name + ':')) || (s.kind == 'Group' && ({normalized_name} == {group} + params.metadata.name || {normalized_name} == {all} || {normalized_name} == {authenticated}))",
        user = cel_string(SERVICE_ACCOUNT_USER_PREFIX),
        group = cel_string(SERVICE_ACCOUNTS_GROUP_PREFIX),
        all = cel_string(ALL_SERVICE_ACCOUNTS_GROUP),
        authenticated = cel_string(AUTHENTICATED_GROUP),
    );
    let mut declared: Vec<String> = access
        .non_production_groups
        .iter()
        .map(|g| normalized(g))
        .collect();
    if !declared.is_empty() {
        // Every member of a declared group is authenticated.
        declared.push(AUTHENTICATED_GROUP.into());
    }
    let allowed: Vec<String> = access
        .allowed_bindings
        .iter()
        .map(|a| allowance_key(&a.from, &a.to))
        .collect();
    let cross = format!(
        "variables.subjects.filter(s, (variables.paramCrosses && ({of_param})) || (variables.reachesProduction && s.kind == 'Group' && {normalized_name} in {}))",
        cel_list(&declared)
    );
    let crosses = format!(
        "variables.paramJudged && (request.resource.resource == 'clusterrolebindings' || (namespaceObject != null && params.metadata.name != namespaceObject.metadata.name && variables.paramEnvironments.exists(p, variables.targetEnvironments.exists(t, p != t && !((p + {separator} + t) in {allowed})))))",
        separator = cel_string(&allowance_key("", "")),
        allowed = cel_list(&allowed),
    );
    Some(Rule {
        control: ControlId::CrossEnvironmentAccess,
        resources: vec![resource_rule(
            &["rbac.authorization.k8s.io"],
            &["*"],
            &["rolebindings", "clusterrolebindings"],
            &["CREATE", "UPDATE"],
        )],
        variables: vec![
            variable("reachesProduction", format!(
                "request.resource.resource == 'clusterrolebindings' || (namespaceObject != null && {})",
                membership.production("namespaceObject")
            )),
            // The param's identities are judged unless it is excluded (system, Velero, the
            // operator's own, configured) or Terminating, as `EnvironmentMap::out_of_scope`.
            variable("paramJudged", format!(
                "params != null && !(params.metadata.name in {}) && !(has(params.status) && has(params.status.phase) && params.status.phase == 'Terminating')",
                cel_list(excluded)
            )),
            variable("paramMatched", format!(
                "params == null ? [] : {}", membership.matched_environments("params")
            )),
            variable("paramEnvironments", format!(
                "params == null ? [] : {}",
                membership.access_environments("params", "variables.paramMatched")
            )),
            variable("targetMatched", format!(
                "namespaceObject == null ? [] : {}", membership.matched_environments("namespaceObject")
            )),
            variable("targetEnvironments", format!(
                "namespaceObject == null ? [] : {}",
                membership.access_environments("namespaceObject", "variables.targetMatched")
            )),
            variable("paramCrosses", crosses),
            variable("subjects", "has(object.subjects) ? object.subjects : []"),
            variable("crossSubjects", cross),
        ],
        validations: vec![(
            format!(
                "(object.roleRef.kind == 'ClusterRole' && object.roleRef.name in {}) || size(variables.crossSubjects) == 0",
                cel_list(harmless_roles)
            ),
            "bindings may not let identities of one environment act in another (ServiceAccounts in any subject form, system:serviceaccounts[:<namespace>] groups, system:authenticated; a namespace in no environment is an environment of its own) unless spec.access.allowedBindings names the pair; ClusterRoleBindings may not name them at all, and declared non-production groups may not be bound in production namespaces nor cluster-wide".into(),
        )],
    })
}

/// Only writes that name another namespace reach the per-namespace evaluation: an
/// `ExternalName` Service, or endpoints whose `targetRef` names a namespace other than the
/// request's. Everything else (kube-controller-manager's own slices among them) is admitted
/// without evaluating the policy once per namespace.
const ROUTES_CONDITION: &str = "request.resource.resource == 'services' ? (has(object.spec.type) && object.spec.type == 'ExternalName') : (request.resource.resource == 'endpointslices' ? (has(object.endpoints) && object.endpoints.exists(e, has(e.targetRef) && has(e.targetRef.namespace) && e.targetRef.namespace != request.namespace)) : (has(object.subsets) && object.subsets.exists(s, (has(s.addresses) && s.addresses.exists(a, has(a.targetRef) && has(a.targetRef.namespace) && a.targetRef.namespace != request.namespace)) || (has(s.notReadyAddresses) && s.notReadyAddresses.exists(a, has(a.targetRef) && has(a.targetRef.namespace) && a.targetRef.namespace != request.namespace)))))";

/// Rejects routes from a namespace of one environment into a namespace of another that no
/// declared flow without port limits joins, where admission can see the target: an
/// `ExternalName` Service whose name has the shape of a cluster DNS name of the target
/// namespace (`svc.ns`, `svc.ns.svc[.domain]`, `host.svc.ns.svc[.domain]`, `ip.ns.pod[.domain]`,
/// any case, trailing dot), and Endpoints or EndpointSlices with a `targetRef` in it.
///
/// Each evaluation (one per Namespace param, see [`cross_environment_rule`]) judges one
/// candidate target by its own labels, so a namespace created or relabelled while the
/// operator is stopped is covered at once. What admission cannot see is left to status
/// (`environment-segregation`): endpoint addresses (which pod has an address is written by
/// the kubelet, not part of the request), and an alias to a namespace that does not exist yet
/// or joins another environment later.
fn routes_rule(
    spec: &ValidEnvironmentIsolation,
    membership: &Membership,
    excluded: &[String],
) -> Rule {
    let (ns, param) = ("variables.nsLabels", "variables.paramLabels");
    let either = |terms: Vec<String>| {
        if terms.is_empty() {
            "false".to_string()
        } else {
            format!("({})", terms.join(" || "))
        }
    };
    let member = |labels: &str| {
        either(
            spec.environments
                .iter()
                .map(|e| selector_cel(&e.selector.written, labels))
                .collect(),
        )
    };
    let shared = either(
        spec.environments
            .iter()
            .map(|e| {
                format!(
                    "({} && {})",
                    selector_cel(&e.selector.written, ns),
                    selector_cel(&e.selector.written, param)
                )
            })
            .collect(),
    );
    let open_flows = either(
        spec.allowed_flows
            .iter()
            .filter(|f| f.ports.is_empty())
            .filter_map(|f| {
                let (from, to) = (environment(spec, &f.from)?, environment(spec, &f.to)?);
                Some(format!(
                    "({} && {})",
                    selector_cel(&from.selector.written, ns),
                    selector_cel(&to.selector.written, param)
                ))
            })
            .collect(),
    );
    let targets = |list: &str| {
        format!(
            "has({list}) && {list}.exists(a, has(a.targetRef) && has(a.targetRef.namespace) && a.targetRef.namespace == params.metadata.name)"
        )
    };
    Rule {
        control: ControlId::EnvironmentSegregation,
        resources: vec![
            resource_rule(
                &[""],
                &["v1"],
                &["services", "endpoints"],
                &["CREATE", "UPDATE"],
            ),
            resource_rule(
                &["discovery.k8s.io"],
                &["*"],
                &["endpointslices"],
                &["CREATE", "UPDATE"],
            ),
        ],
        variables: vec![
            variable("nsLabels", "namespaceObject != null && has(namespaceObject.metadata.labels) ? namespaceObject.metadata.labels : {}"),
            variable("paramLabels", "params != null && has(params.metadata.labels) ? params.metadata.labels : {}"),
            variable("externalName", "request.resource.resource == 'services' && has(object.spec.externalName) ? object.spec.externalName.lowerAscii() : ''"),
            variable("nameLabels", "(variables.externalName.endsWith('.') ? variables.externalName.substring(0, size(variables.externalName) - 1) : variables.externalName).split('.')"),
            variable("aliased", format!(
                "params != null && variables.externalName != '' && ({}) == params.metadata.name",
                target_namespace_cel("variables.nameLabels")
            )),
            variable("targeted", format!(
                "params != null && (request.resource.resource == 'endpointslices' ? ({}) : (request.resource.resource == 'endpoints' && has(object.subsets) && object.subsets.exists(s, ({}) || ({}))))",
                targets("object.endpoints"),
                targets("s.addresses"),
                targets("s.notReadyAddresses"),
            )),
            variable("crosses", format!(
                "params.metadata.name != request.namespace && !(params.metadata.name in {}) && namespaceObject != null && !{} && !{} && {} && {} && !{shared} && !{open_flows}",
                cel_list(excluded),
                sandbox_cel("namespaceObject", &membership.policy_uids),
                sandbox_cel("params", &membership.policy_uids),
                member(ns),
                member(param),
            )),
        ],
        validations: vec![(
            "!(variables.aliased || variables.targeted) || !variables.crosses".into(),
            "a Service, Endpoints or EndpointSlice in a namespace of one environment may not route into a namespace of another environment (an ExternalName with that namespace's cluster DNS name, or an endpoint whose targetRef is in it) unless a declared flow without port limits joins the two environments".into(),
        )],
    }
}

/// Gives a rule's policy and binding a name of their own (`<prefix>-<control>-<suffix>`),
/// for a second policy of one control, and adds `condition` to the policy's matchConditions.
fn named(mut objects: Vec<DesiredObject>, suffix: &str, condition: &str) -> Vec<DesiredObject> {
    for object in &mut objects {
        let name = format!("{}-{suffix}", object.name);
        if let Some(metadata) = object.body.metadata_mut() {
            metadata.name = Some(name.clone());
        }
        match &mut object.body {
            OwnedBody::ValidatingAdmissionPolicy(policy) => {
                let spec = policy.spec.get_or_insert_with(Default::default);
                spec.match_conditions
                    .get_or_insert_with(Vec::new)
                    .push(MatchCondition {
                        name: "names-another-namespace".into(),
                        expression: condition.into(),
                    });
            }
            OwnedBody::ValidatingAdmissionPolicyBinding(binding) => {
                binding.spec.policy_name = name.clone();
            }
            _ => {}
        }
        object.name = name;
    }
    objects
}

/// Makes the policy take every Namespace as a param; see [`cross_environment_rule`]. If the
/// API server cannot list namespaces the binding denies (fail closed).
fn with_namespaces_as_params(mut objects: Vec<DesiredObject>) -> Vec<DesiredObject> {
    for object in &mut objects {
        match &mut object.body {
            OwnedBody::ValidatingAdmissionPolicy(policy) => {
                policy.spec.get_or_insert_with(Default::default).param_kind = Some(ParamKind {
                    api_version: Some("v1".into()),
                    kind: Some("Namespace".into()),
                });
            }
            OwnedBody::ValidatingAdmissionPolicyBinding(binding) => {
                binding.spec.param_ref = Some(ParamRef {
                    selector: Some(LabelSelector::default()),
                    parameter_not_found_action: Some("Deny".into()),
                    ..ParamRef::default()
                });
            }
            _ => {}
        }
    }
    objects
}

/// Every namespace label key that decides what a resource of this operator covers: the keys
/// of every SecurityBaseline's, BackupPolicy's and EnvironmentIsolation's selectors (namespace
/// and environment selectors, exemption selectors), this spec's own (the store may not have
/// caught up with it yet), and the restore-test label, which takes a namespace out of every
/// environment.
fn protected_label_keys(
    spec: &ValidEnvironmentIsolation,
    resources: &CustomResources,
) -> BTreeSet<String> {
    let mut selectors: Vec<&LabelSelector> = Vec::new();
    selectors.extend(spec.environments.iter().map(|e| &e.selector.written));
    selectors.extend(spec.exemptions.iter().filter_map(|e| e.selector.as_ref()));
    for ei in &resources.environment_isolations {
        selectors.extend(ei.spec.environments.iter().map(|e| &e.namespace_selector));
        selectors.extend(
            ei.spec
                .exemptions
                .iter()
                .filter_map(|e| e.selector.as_ref()),
        );
    }
    for sb in &resources.security_baselines {
        selectors.push(&sb.spec.namespace_selector);
        selectors.extend(
            sb.spec
                .exemptions
                .iter()
                .filter_map(|e| e.selector.as_ref()),
        );
    }
    for bp in &resources.backup_policies {
        selectors.push(&bp.spec.namespace_selector);
        selectors.extend(
            bp.spec
                .exemptions
                .iter()
                .filter_map(|e| e.selector.as_ref()),
        );
    }
    let mut keys = BTreeSet::from([RESTORE_TEST_LABEL.to_string()]);
    for selector in selectors {
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

/// Only the listed administrators and the operator may set or change the protected labels:
/// relabelling a namespace would move it, and its data, between environments or out of a
/// baseline's reach. Nobody is exempt implicitly, `system:masters` included, and no exemption
/// waives this rule. The restore-test markers (label, policy uid annotation) may be set only
/// when a namespace is created, by anyone: an existing namespace never becomes a sandbox.
///
/// The `restorers` (Velero's server) may set the protected labels when they create a
/// namespace, never change them on an existing one: disaster recovery recreates a deleted
/// production namespace with the labels it was backed up with, and must not need an
/// administrator to do so, while a restore into an existing namespace keeps its labels.
fn label_protection_rule(
    spec: &ValidEnvironmentIsolation,
    keys: &BTreeSet<String>,
    operator_username: Option<&str>,
    restorers: &[String],
) -> Option<Rule> {
    let protection: &LabelProtectionSpec = spec.protect_environment_labels.as_ref()?;
    let keys: Vec<String> = keys.iter().cloned().collect();
    let mut users = protection.allowed_users.clone();
    users.extend(operator_username.map(str::to_string));
    let changed = format!(
        "{}.filter(k, (k in variables.labels) != (k in variables.oldLabels) || (k in variables.labels && k in variables.oldLabels && variables.labels[k] != variables.oldLabels[k]))",
        cel_list(&keys)
    );
    let mut allowed = format!(
        "request.userInfo.username in {} || (has(request.userInfo.groups) && request.userInfo.groups.exists(g, g in {}))",
        cel_list(&users),
        cel_list(&protection.allowed_groups)
    );
    if !restorers.is_empty() {
        allowed.push_str(&format!(
            " || (oldObject == null && request.userInfo.username in {})",
            cel_list(restorers)
        ));
    }
    let label = cel_string(RESTORE_TEST_LABEL);
    let annotation = cel_string(RESTORE_TEST_POLICY_UID);
    let is_sandbox_label =
        |labels: &str| format!("({label} in {labels} && {labels}[{label}] == 'true')");
    let becomes_sandbox = format!(
        "oldObject != null && ((!{} && {}) || ({annotation} in variables.annotations && (!({annotation} in variables.oldAnnotations) || variables.oldAnnotations[{annotation}] != variables.annotations[{annotation}])))",
        is_sandbox_label("variables.oldLabels"),
        is_sandbox_label("variables.labels"),
    );
    Some(Rule {
        control: ControlId::EnvironmentSegregation,
        resources: core_rules(&["namespaces"]),
        variables: vec![
            variable(
                "labels",
                "has(object.metadata.labels) ? object.metadata.labels : {}",
            ),
            // On CREATE there is no old object: every protected label present counts as set.
            variable(
                "oldLabels",
                "oldObject != null && has(oldObject.metadata.labels) ? oldObject.metadata.labels : {}",
            ),
            variable(
                "annotations",
                "has(object.metadata.annotations) ? object.metadata.annotations : {}",
            ),
            variable(
                "oldAnnotations",
                "oldObject != null && has(oldObject.metadata.annotations) ? oldObject.metadata.annotations : {}",
            ),
            variable("changedKeys", changed),
            variable("allowed", allowed),
        ],
        validations: vec![
            (
                "size(variables.changedKeys) == 0 || variables.allowed".into(),
                format!(
                    "only environment administrators may set or change the protected namespace labels {}",
                    keys.join(", ")
                ),
            ),
            (
                format!("!({becomes_sandbox})"),
                format!(
                    "an existing namespace cannot be made a restore-test sandbox ({} label or {} annotation); sandboxes are created as such by the operator",
                    RESTORE_TEST_LABEL, RESTORE_TEST_POLICY_UID
                ),
            ),
        ],
    })
}

#[cfg(test)]
#[path = "isolation_tests.rs"]
mod tests;
