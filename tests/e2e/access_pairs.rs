//! Access judged as a tenant with namespace-editor rights would try to get around it, against
//! the real API server: bindings between every pair of environments (not only into
//! production), namespaces in no environment, identities in every subject form RBAC accepts,
//! and least privilege judged on a role's rules rather than its name. Each case is judged
//! twice on the same objects: reported in Audit (the PolicyReports, which carry every finding),
//! refused in Enforce.

use crate::environment_isolation::{DeleteOnDrop, admitted, apply_isolation, delete_isolation};
use crate::support::*;
use serde_json::{Value, json};
use std::collections::BTreeSet;
use std::time::Duration;

const TIMEOUT: Duration = Duration::from_secs(30);
const RBAC: &str = "apiGroup: rbac.authorization.k8s.io";

/// `(kind, namespace, name)` of an object a finding is about; namespace empty when
/// cluster-scoped.
type Object = (String, String, String);

fn object(kind: &str, namespace: &str, name: &str) -> Object {
    (kind.into(), namespace.into(), name.into())
}

/// Every object the PolicyReports and ClusterPolicyReports of `policy`
/// (`EnvironmentIsolation/<name>`) report failing `control`.
fn reported(policy: &str, control: &str) -> BTreeSet<Object> {
    let mut out = BTreeSet::new();
    for kind in ["policyreports", "clusterpolicyreports"] {
        let listed = cluster().kubectl(&["get", kind, "-A", "-o", "json"]);
        let list: Value = serde_json::from_slice(&listed.stdout).unwrap_or_default();
        for item in list["items"].as_array().into_iter().flatten() {
            for result in item["results"].as_array().into_iter().flatten() {
                if result["policy"] != policy
                    || result["rule"] != control
                    || result["result"] != "fail"
                {
                    continue;
                }
                for resource in result["resources"].as_array().into_iter().flatten() {
                    let text = |key: &str| resource[key].as_str().unwrap_or_default().to_string();
                    out.insert((text("kind"), text("namespace"), text("name")));
                }
            }
        }
    }
    out
}

/// Waits until, among `ours`, exactly `expected` are reported failing `control`.
async fn wait_reported(
    policy: &str,
    control: &str,
    ours: &BTreeSet<Object>,
    expected: &BTreeSet<Object>,
) {
    let mut last = BTreeSet::new();
    let deadline = std::time::Instant::now() + TIMEOUT;
    loop {
        let seen: BTreeSet<Object> = reported(policy, control)
            .intersection(ours)
            .cloned()
            .collect();
        if &seen == expected {
            return;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "timed out waiting for {control} findings\n expected: {expected:?}\n last seen: {last:?}"
        );
        last = seen;
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}

async fn wait_rejected(yaml: &str, control: &str) {
    wait_until(&format!("rejected: {yaml}"), TIMEOUT, || {
        let rejected = cluster().rejects(yaml, control);
        async move { rejected }
    })
    .await;
}

/// A RoleBinding in `ns` (or a ClusterRoleBinding when `ns` is None) granting ClusterRole
/// `role` to one subject, given as a YAML flow mapping.
fn binding(ns: Option<&str>, name: &str, role: &str, subject: &str) -> String {
    let (kind, namespace) = match ns {
        Some(ns) => ("RoleBinding", format!(", namespace: {ns}")),
        None => ("ClusterRoleBinding", String::new()),
    };
    format!(
        "apiVersion: rbac.authorization.k8s.io/v1\nkind: {kind}\nmetadata: {{name: {name}{namespace}}}\nroleRef: {{{RBAC}, kind: ClusterRole, name: {role}}}\nsubjects: [{subject}]\n"
    )
}

/// One binding of the pair test: its manifest and the object it makes.
struct Case {
    yaml: String,
    object: Object,
}

fn role_binding(ns: &str, name: &str, subject: &str) -> Case {
    Case {
        yaml: binding(Some(ns), name, "view", subject),
        object: object("RoleBinding", ns, name),
    }
}

fn cluster_role_binding(name: &str, subject: &str) -> Case {
    Case {
        yaml: binding(None, name, "view", subject),
        object: object("ClusterRoleBinding", "", name),
    }
}

const KEY: &str = "access-pairs-env";

fn pairs_spec(mode: &str, allowed: Value) -> Value {
    let env = |name: &str, production: bool| json!({"name": name, "production": production, "namespaceSelector": {"matchLabels": {KEY: name}}});
    let mut access = json!({"denyCrossEnvironmentBindings": true});
    if allowed != json!([]) {
        access["allowedBindings"] = allowed;
    }
    json!({
        "mode": mode,
        "environments": [env("production", true), env("staging", false), env("development", false)],
        "productionData": {"productionValues": ["production"]},
        "access": access,
    })
}

fn classified_config_map(ns: &str) -> String {
    format!(
        "apiVersion: v1\nkind: ConfigMap\nmetadata: {{name: customers, namespace: {ns}, labels: {{data.baseline.dev/classification: production}}}}\ndata: {{rows: '1'}}\n"
    )
}

/// Staging, development and a namespace in no environment judged against each other, in
/// both directions, in every identity form; a ClusterRoleBinding of any environment's
/// identity; the control plane's own identities never. Reported in Audit and refused in
/// Enforce on the same objects, and an allowance lets exactly the direction it names. A
/// namespace in no environment is non-production for production data, in status and in
/// admission.
#[tokio::test]
async fn bindings_between_every_pair_of_environments_are_reported_and_refused() {
    let s = Scenario::start().await;
    s.namespace("ap-prod", &[(KEY, "production")]).await;
    s.namespace("ap-stage", &[(KEY, "staging")]).await;
    s.namespace("ap-dev", &[(KEY, "development")]).await;
    s.namespace("ap-loose", &[]).await;
    let crossing = [
        role_binding(
            "ap-stage",
            "dev-sa",
            "{kind: ServiceAccount, name: ci, namespace: ap-dev}",
        ),
        role_binding(
            "ap-stage",
            "dev-user",
            &format!("{{kind: User, name: 'system:serviceaccount:ap-dev:ci', {RBAC}}}"),
        ),
        role_binding(
            "ap-stage",
            "dev-user-case",
            &format!("{{kind: User, name: 'System:ServiceAccount:AP-DEV:ci', {RBAC}}}"),
        ),
        role_binding(
            "ap-stage",
            "dev-group",
            &format!("{{kind: Group, name: 'system:serviceaccounts:ap-dev', {RBAC}}}"),
        ),
        role_binding(
            "ap-stage",
            "dev-group-space",
            &format!("{{kind: Group, name: ' system:serviceaccounts:ap-dev ', {RBAC}}}"),
        ),
        role_binding(
            "ap-stage",
            "all-sas",
            &format!("{{kind: Group, name: 'system:serviceaccounts', {RBAC}}}"),
        ),
        role_binding(
            "ap-stage",
            "authenticated",
            &format!("{{kind: Group, name: 'system:authenticated', {RBAC}}}"),
        ),
        // The other direction, and namespaces in no environment both ways.
        role_binding(
            "ap-dev",
            "stage-sa",
            "{kind: ServiceAccount, name: ci, namespace: ap-stage}",
        ),
        role_binding(
            "ap-stage",
            "loose-sa",
            "{kind: ServiceAccount, name: ci, namespace: ap-loose}",
        ),
        role_binding(
            "ap-loose",
            "dev-sa",
            "{kind: ServiceAccount, name: ci, namespace: ap-dev}",
        ),
        cluster_role_binding(
            "ap-pairs-stage-sa",
            "{kind: ServiceAccount, name: ci, namespace: ap-stage}",
        ),
        cluster_role_binding(
            "ap-pairs-loose-sa",
            "{kind: ServiceAccount, name: ci, namespace: ap-loose}",
        ),
    ];
    let fine = [
        role_binding("ap-stage", "own", "{kind: ServiceAccount, name: app}"),
        role_binding(
            "ap-stage",
            "own-user",
            &format!("{{kind: User, name: 'system:serviceaccount:ap-stage:ci', {RBAC}}}"),
        ),
        role_binding(
            "ap-stage",
            "person",
            &format!("{{kind: User, name: alice, {RBAC}}}"),
        ),
        role_binding(
            "ap-loose",
            "own",
            "{kind: ServiceAccount, name: ci, namespace: ap-loose}",
        ),
        // The control plane's own identities are in no environment.
        cluster_role_binding(
            "ap-pairs-system-sa",
            "{kind: ServiceAccount, name: ci, namespace: kube-system}",
        ),
        role_binding(
            "ap-stage",
            "system-sa",
            &format!("{{kind: User, name: 'system:serviceaccount:kube-system:ci', {RBAC}}}"),
        ),
    ];
    let ours: BTreeSet<Object> = crossing
        .iter()
        .chain(&fine)
        .map(|c| c.object.clone())
        .collect();
    let expected: BTreeSet<Object> = crossing.iter().map(|c| c.object.clone()).collect();
    let data: BTreeSet<Object> = ["ap-prod", "ap-loose"]
        .into_iter()
        .map(|ns| object("ConfigMap", ns, "customers"))
        .collect();

    // Audit: everything is admitted; exactly the crossing bindings are findings, and the
    // classified ConfigMap in the namespace in no environment.
    let name = "e2e-access-pairs";
    let policy = format!("EnvironmentIsolation/{name}");
    let _cleanup = DeleteOnDrop("environmentisolation", name.to_string());
    let _bindings: Vec<DeleteOnDrop> = crossing
        .iter()
        .chain(&fine)
        .filter(|c| c.object.0 == "ClusterRoleBinding")
        .map(|c| DeleteOnDrop("clusterrolebinding", c.object.2.clone()))
        .collect();
    let api = apply_isolation(&s.client, name, pairs_spec("Audit", json!([]))).await;
    for case in crossing.iter().chain(&fine) {
        cluster()
            .apply_yaml(&case.yaml)
            .unwrap_or_else(|e| panic!("{e}\n{}", case.yaml));
    }
    for ns in ["ap-prod", "ap-loose"] {
        cluster().apply_yaml(&classified_config_map(ns)).unwrap();
    }
    wait_reported(&policy, "cross-environment-access", &ours, &expected).await;
    wait_reported(
        &policy,
        "production-data-restricted",
        &data,
        &BTreeSet::from([object("ConfigMap", "ap-loose", "customers")]),
    )
    .await;
    for case in crossing.iter().chain(&fine) {
        cluster().kubectl_stdin(&["delete", "--wait", "-f", "-"], &case.yaml);
    }
    for ns in ["ap-prod", "ap-loose"] {
        cluster().kubectl_stdin(&["delete", "-f", "-"], &classified_config_map(ns));
    }

    // Enforce: the same objects are refused, the others admitted.
    apply_isolation(&s.client, name, pairs_spec("Enforce", json!([]))).await;
    for case in &crossing {
        wait_rejected(&case.yaml, "cross-environment-access").await;
    }
    for case in &fine {
        assert!(admitted(&case.yaml), "refused: {}", case.yaml);
    }
    wait_rejected(
        &classified_config_map("ap-loose"),
        "production-data-restricted",
    )
    .await;
    // The control plane's own bindings are never refused: the API server and
    // kube-controller-manager reconcile them (kube-system ServiceAccounts, the
    // system:serviceaccounts and system:authenticated groups) on every start.
    for bootstrap in [
        "system:controller:deployment-controller",
        "system:service-account-issuer-discovery",
        "system:basic-user",
        "system:discovery",
    ] {
        let live = cluster().kubectl_ok(&["get", "clusterrolebinding", bootstrap, "-o", "json"]);
        let out = cluster().kubectl_stdin(&["replace", "-f", "-"], &live);
        assert!(
            out.status.success(),
            "bootstrap binding {bootstrap} refused: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    assert!(admitted(&classified_config_map("ap-prod")));

    // An allowance lets development identities act in staging, and nothing else.
    let allowance = json!([{"from": "development", "to": "staging"}]);
    apply_isolation(&s.client, name, pairs_spec("Enforce", allowance.clone())).await;
    let allowed = &crossing[0];
    s.wait_until("the allowed direction admitted", || {
        let ok = admitted(&allowed.yaml);
        async move { ok }
    })
    .await;
    for case in &crossing[7..] {
        assert!(
            cluster().rejects(&case.yaml, "cross-environment-access"),
            "admitted despite the allowance naming another pair: {}",
            case.yaml
        );
    }
    // Status agrees: the allowed binding is no finding, the reverse direction still is.
    apply_isolation(&s.client, name, pairs_spec("Audit", allowance)).await;
    for case in [&crossing[0], &crossing[7]] {
        // Admitted once the operator has removed the Enforce policies.
        s.wait_until("admitted in Audit", || {
            let ok = cluster().apply_yaml(&case.yaml).is_ok();
            async move { ok }
        })
        .await;
    }
    wait_reported(
        &policy,
        "cross-environment-access",
        &ours,
        &BTreeSet::from([crossing[7].object.clone()]),
    )
    .await;
    for case in [&crossing[0], &crossing[7]] {
        cluster().kubectl_stdin(&["delete", "-f", "-"], &case.yaml);
    }
    delete_isolation(&api, name).await;
}

/// An allowance must name declared environments: the API server refuses one that does not,
/// naming the field.
#[tokio::test]
async fn an_allowance_naming_an_unknown_environment_is_refused_naming_the_field() {
    let _cleanup = DeleteOnDrop("environmentisolation", "e2e-access-unknown".into());
    let yaml = format!(
        "apiVersion: security.baseline.dev/v1alpha1\nkind: EnvironmentIsolation\nmetadata: {{name: e2e-access-unknown}}\nspec: {}\n",
        pairs_spec("Audit", json!([{"from": "development", "to": "qa"}]))
    );
    let error = cluster()
        .apply_yaml(&yaml)
        .expect_err("an allowance naming an unknown environment was accepted");
    assert!(error.contains("spec.access.allowedBindings"), "{error}");
    assert!(
        error.contains("access.allowedBindings must name declared environments"),
        "{error}"
    );
}

/// A ClusterRole `name` with `rules` (a YAML flow sequence) and extra top-level YAML.
fn cluster_role(name: &str, labels: &str, rules: &str) -> String {
    format!(
        "apiVersion: rbac.authorization.k8s.io/v1\nkind: ClusterRole\nmetadata: {{name: {name}, labels: {{{labels}}}}}\nrules: {rules}\n"
    )
}

fn role(ns: &str, name: &str, rules: &str) -> String {
    format!(
        "apiVersion: rbac.authorization.k8s.io/v1\nkind: Role\nmetadata: {{name: {name}, namespace: {ns}}}\nrules: {rules}\n"
    )
}

fn bound(ns: &str, name: &str, kind: &str, role: &str, subject: &str) -> Case {
    Case {
        yaml: format!(
            "apiVersion: rbac.authorization.k8s.io/v1\nkind: RoleBinding\nmetadata: {{name: {name}, namespace: {ns}}}\nroleRef: {{{RBAC}, kind: {kind}, name: {role}}}\nsubjects: [{subject}]\n"
        ),
        object: object("RoleBinding", ns, name),
    }
}

async fn delete_security_baseline(name: &str) {
    cluster().kubectl(&["delete", "securitybaseline", name, "--ignore-not-found"]);
    let prefix = format!("validatingadmissionpolicy.admissionregistration.k8s.io/sb-{name}-");
    wait_until("its admission policies deleted", TIMEOUT, || async {
        !cluster()
            .kubectl_ok(&["get", "validatingadmissionpolicies", "-o", "name"])
            .contains(&prefix)
    })
    .await;
}

/// Roles granting what a forbidden role grants under other names (`*` in verbs, resources or
/// API groups, escalate, bind, impersonate, every non-resource URL), an aggregated ClusterRole
/// judged on the rules it aggregates, and Secret read granted to identities of other
/// namespaces: reported in Audit and refused in Enforce on the same RoleBindings; a Role with
/// such rules reported, and refused when created in a selected namespace; a ClusterRoleBinding
/// granting cluster-wide Secret read to a selected namespace's ServiceAccount reported (status
/// only: it is beyond a baseline's namespaces). Built-in roles are judged on their rules like
/// any other, never for their name.
#[tokio::test]
async fn least_privilege_is_judged_on_rules_not_names() {
    let s = Scenario::start().await;
    let name = "e2e-access-rules";
    delete_security_baseline(name).await;
    let ns = "ap-lp";
    s.namespace(ns, &[("ap-lp", "selected")]).await;
    s.namespace("ap-lp-other", &[]).await;
    let roles = [
        (
            "ap-lp-escalate",
            "",
            "[{apiGroups: [rbac.authorization.k8s.io], resources: [roles], verbs: [escalate]}]",
        ),
        (
            "ap-lp-bind",
            "",
            "[{apiGroups: [rbac.authorization.k8s.io], resources: [clusterroles], verbs: [bind]}]",
        ),
        (
            "ap-lp-impersonate",
            "",
            "[{apiGroups: [''], resources: [users], verbs: [impersonate]}]",
        ),
        (
            "ap-lp-any-group",
            "",
            "[{apiGroups: ['*'], resources: [deployments], verbs: [get]}]",
        ),
        (
            "ap-lp-any-verb",
            "",
            "[{apiGroups: [apps], resources: [deployments], verbs: ['*']}]",
        ),
        (
            "ap-lp-any-url",
            "",
            "[{nonResourceURLs: ['*'], verbs: [get]}]",
        ),
        (
            "ap-lp-part",
            "ap-lp-aggregate: 'true'",
            "[{apiGroups: [''], resources: [groups], verbs: [impersonate]}]",
        ),
        (
            "ap-lp-secrets",
            "",
            "[{apiGroups: [''], resources: [secrets], verbs: [get, list]}]",
        ),
        (
            "ap-lp-pods",
            "",
            "[{apiGroups: [''], resources: [pods], verbs: [get, list]}]",
        ),
    ];
    let mut _cleanup: Vec<DeleteOnDrop> = Vec::new();
    for (role_name, labels, rules) in roles {
        cluster()
            .apply_yaml(&cluster_role(role_name, labels, rules))
            .unwrap();
        _cleanup.push(DeleteOnDrop("clusterrole", role_name.into()));
    }
    cluster()
        .apply_yaml(
            "apiVersion: rbac.authorization.k8s.io/v1\nkind: ClusterRole\nmetadata: {name: ap-lp-aggregate}\naggregationRule: {clusterRoleSelectors: [{matchLabels: {ap-lp-aggregate: 'true'}}]}\nrules: []\n"
        )
        .unwrap();
    _cleanup.push(DeleteOnDrop("clusterrole", "ap-lp-aggregate".into()));
    let wild_role = role(
        ns,
        "ap-wild",
        "[{apiGroups: [''], resources: [pods], verbs: ['*']}]",
    );
    cluster().apply_yaml(&wild_role).unwrap();

    let person = format!("{{kind: User, name: alice, {RBAC}}}");
    let mut forbidden: Vec<Case> = [
        "ap-lp-escalate",
        "ap-lp-bind",
        "ap-lp-impersonate",
        "ap-lp-any-group",
        "ap-lp-any-verb",
        "ap-lp-any-url",
        "ap-lp-aggregate",
    ]
    .into_iter()
    .map(|r| bound(ns, r, "ClusterRole", r, &person))
    .collect();
    forbidden.extend([
        bound(ns, "wild-role", "Role", "ap-wild", &person),
        bound(
            ns,
            "secrets-foreign-sa",
            "ClusterRole",
            "ap-lp-secrets",
            "{kind: ServiceAccount, name: ci, namespace: ap-lp-other}",
        ),
        bound(
            ns,
            "secrets-foreign-user",
            "ClusterRole",
            "ap-lp-secrets",
            &format!("{{kind: User, name: 'system:serviceaccount:ap-lp-other:ci', {RBAC}}}"),
        ),
        bound(
            ns,
            "secrets-all-sas",
            "ClusterRole",
            "ap-lp-secrets",
            &format!("{{kind: Group, name: 'system:serviceaccounts', {RBAC}}}"),
        ),
    ]);
    let fine = [
        bound(
            ns,
            "secrets-own",
            "ClusterRole",
            "ap-lp-secrets",
            "{kind: ServiceAccount, name: ci}",
        ),
        bound(
            ns,
            "secrets-person",
            "ClusterRole",
            "ap-lp-secrets",
            &person,
        ),
        bound(ns, "pods", "ClusterRole", "ap-lp-pods", &person),
        // A built-in role is judged on its rules, not flagged for its name.
        bound(
            ns,
            "builtin",
            "ClusterRole",
            "system:aggregate-to-view",
            &person,
        ),
        // `edit` impersonates the namespace's ServiceAccounts only: bounded to the namespace,
        // so a team's editors are not a finding.
        bound(ns, "editors", "ClusterRole", "edit", &person),
    ];
    let cluster_wide = Case {
        yaml: "apiVersion: rbac.authorization.k8s.io/v1\nkind: ClusterRoleBinding\nmetadata: {name: ap-lp-secrets-cluster}\nroleRef: {apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: ap-lp-secrets}\nsubjects: [{kind: ServiceAccount, name: ci, namespace: ap-lp}]\n".into(),
        object: object("ClusterRoleBinding", "", "ap-lp-secrets-cluster"),
    };
    _cleanup.push(DeleteOnDrop(
        "clusterrolebinding",
        cluster_wide.object.2.clone(),
    ));
    let mut ours: BTreeSet<Object> = forbidden
        .iter()
        .chain(&fine)
        .chain([&cluster_wide])
        .map(|c| c.object.clone())
        .collect();
    ours.insert(object("Role", ns, "ap-wild"));
    let mut expected: BTreeSet<Object> = forbidden.iter().map(|c| c.object.clone()).collect();
    expected.insert(object("Role", ns, "ap-wild"));
    expected.insert(cluster_wide.object.clone());

    let spec = |mode: &str| {
        json!({
            "mode": mode,
            "namespaceSelector": {"matchLabels": {"ap-lp": "selected"}},
            "access": {"forbiddenRoles": ["cluster-admin"], "forbidWildcardRoles": true},
        })
    };
    let _baseline = DeleteOnDrop("securitybaseline", name.into());
    apply_cr::<baseline_operator::api::SecurityBaseline>(&s.client, name, spec("Audit")).await;
    for case in forbidden.iter().chain(&fine).chain([&cluster_wide]) {
        cluster()
            .apply_yaml(&case.yaml)
            .unwrap_or_else(|e| panic!("{e}\n{}", case.yaml));
    }
    let policy = format!("SecurityBaseline/{name}");
    wait_reported(&policy, "least-privilege", &ours, &expected).await;
    for case in forbidden.iter().chain(&fine).chain([&cluster_wide]) {
        cluster().kubectl_stdin(&["delete", "--wait", "-f", "-"], &case.yaml);
    }

    // Enforce: the same RoleBindings are refused, and so is a new Role with such rules.
    apply_cr::<baseline_operator::api::SecurityBaseline>(&s.client, name, spec("Enforce")).await;
    for case in &forbidden {
        wait_rejected(&case.yaml, "least-privilege").await;
    }
    for case in &fine {
        assert!(admitted(&case.yaml), "refused: {}", case.yaml);
    }
    for rules in [
        "[{apiGroups: [''], resources: [pods], verbs: ['*']}]",
        "[{apiGroups: [''], resources: ['*'], verbs: [get]}]",
        "[{apiGroups: ['*'], resources: [pods], verbs: [get]}]",
        "[{apiGroups: [rbac.authorization.k8s.io], resources: [roles], verbs: [escalate]}]",
        "[{apiGroups: [rbac.authorization.k8s.io], resources: [roles], verbs: [bind]}]",
        "[{apiGroups: [''], resources: [serviceaccounts, users], verbs: [impersonate]}]",
    ] {
        wait_rejected(&role(ns, "ap-new", rules), "least-privilege").await;
    }
    // Impersonating the namespace's own ServiceAccounts, as `edit` grants, is admitted: its
    // holder could already run a pod as any of them.
    let sa_impersonation = role(
        ns,
        "ap-sa-impersonation",
        "[{apiGroups: [''], resources: [serviceaccounts], verbs: [impersonate]}]",
    );
    assert!(admitted(&sa_impersonation), "refused: {sa_impersonation}");
    // Changing a harmless Role into such a Role is refused too; a harmless Role is admitted.
    let harmless = role(
        ns,
        "ap-narrow",
        "[{apiGroups: [''], resources: [pods], verbs: [get]}]",
    );
    cluster().apply_yaml(&harmless).unwrap();
    assert!(cluster().rejects(
        &role(
            ns,
            "ap-narrow",
            "[{apiGroups: [''], resources: [pods], verbs: [get, impersonate]}]"
        ),
        "least-privilege"
    ));
    // Outside the selected namespaces nothing is refused.
    assert!(admitted(&role(
        "ap-lp-other",
        "ap-new",
        "[{apiGroups: [''], resources: [pods], verbs: ['*']}]"
    )));
    cluster().kubectl_stdin(&["delete", "-f", "-"], &harmless);
    cluster().kubectl_stdin(&["delete", "-f", "-"], &wild_role);
    delete_security_baseline(name).await;
}
