//! Attempts to get around EnvironmentIsolation, against the real API server: namespaces the
//! admission policies have never heard of, identities in every form RBAC knows, labels and
//! exemptions changed in the same request, impersonated restore-test sandboxes, and production
//! Secrets copied key by key.

use crate::environment_isolation::{
    ControlView, DeleteOnDrop, admitted, apply_admitted, apply_isolation, binding, config_map,
    delete_isolation, environment, wait_control,
};
use crate::support::*;
use baseline_operator::api::{ControlState, EnvironmentIsolationSpec};
use baseline_operator::desired::{OwnedKind, Owner};
use baseline_operator::snapshot::Snapshot;
use k8s_openapi::api::core::v1::{Namespace, Secret};
use kube::Client;
use kube::api::{Api, DeleteParams, PostParams};
use serde_json::{Value, json};
use std::collections::BTreeMap;
use std::time::Duration;

const TIMEOUT: Duration = Duration::from_secs(30);
/// How long a freshly created or relabelled namespace may take to be covered: the API
/// server's own namespace cache, never an operator round trip.
const AT_ONCE: Duration = Duration::from_secs(5);

fn spec(mode: &str, key: &str) -> Value {
    json!({
        "mode": mode,
        "environments": [environment(key, "prod", true), environment(key, "dev", false)],
        "productionData": {"productionValues": ["production"], "detectCopiedSecrets": true},
        "access": {"denyCrossEnvironmentBindings": true, "nonProductionGroups": ["contractors"]},
    })
}

async fn delete_namespace(client: &Client, name: &str) {
    let api: Api<Namespace> = Api::all(client.clone());
    let _ = api.delete(name, &DeleteParams::default()).await;
    wait_until("namespace gone", Duration::from_secs(60), || async {
        api.get_opt(name).await.ok().flatten().is_none()
    })
    .await;
}

/// Generation and spec of every admission policy and binding whose name starts with `prefix`:
/// what changes when the operator re-renders them (status written by the API server aside).
fn admission_specs(prefix: &str) -> BTreeMap<String, Value> {
    let mut out = BTreeMap::new();
    for kind in [
        "validatingadmissionpolicies",
        "validatingadmissionpolicybindings",
    ] {
        let list: Value =
            serde_json::from_str(&cluster().kubectl_ok(&["get", kind, "-o", "json"])).unwrap();
        for item in list["items"].as_array().unwrap() {
            let name = item["metadata"]["name"].as_str().unwrap();
            if name.starts_with(prefix) {
                out.insert(
                    format!("{kind}/{name}"),
                    json!([item["metadata"]["generation"], item["spec"]]),
                );
            }
        }
    }
    out
}

async fn wait_rejected(what: &str, timeout: Duration, yaml: &str, control: &str) {
    wait_until(what, timeout, || {
        let rejected = cluster().rejects(yaml, control);
        async move { rejected }
    })
    .await;
}

async fn wait_admitted(what: &str, timeout: Duration, yaml: &str) {
    wait_until(what, timeout, || {
        let ok = admitted(yaml);
        async move { ok }
    })
    .await;
}

/// A namespace created (or relabelled) after the policies converged is covered at once, and
/// the policies are not re-rendered for it: they judge the namespace's labels themselves.
#[tokio::test]
async fn a_namespace_created_after_convergence_is_covered_without_rerendering() {
    let s = Scenario::start().await;
    let key = "bypass-late-env";
    s.namespace("byp-late-prod", &[(key, "prod")]).await;
    s.namespace("byp-late-dev", &[(key, "dev")]).await;
    delete_namespace(&s.client, "byp-late-new").await;
    let name = "e2e-bypass-late";
    let _cleanup = DeleteOnDrop("environmentisolation", name.to_string());
    let api = apply_isolation(&s.client, name, spec("Enforce", key)).await;
    wait_rejected(
        "classified ConfigMap in dev rejected",
        TIMEOUT,
        &config_map("byp-late-dev", "customers", true, ""),
        "production-data-restricted",
    )
    .await;
    settle_writes().await;
    let before = admission_specs(&format!("ei-{name}-"));
    // Production data, cross-environment access and routes: a policy and a binding each.
    assert_eq!(before.len(), 6, "{before:?}");

    s.namespace("byp-late-new", &[(key, "dev")]).await;
    wait_rejected(
        "classified ConfigMap in the new dev namespace rejected at once",
        AT_ONCE,
        &config_map("byp-late-new", "customers", true, ""),
        "production-data-restricted",
    )
    .await;
    for subject in [
        "{kind: User, name: 'system:serviceaccount:byp-late-new:ci', apiGroup: rbac.authorization.k8s.io}",
        "{kind: ServiceAccount, name: ci, namespace: byp-late-new}",
        "{kind: Group, name: 'system:serviceaccounts:byp-late-new', apiGroup: rbac.authorization.k8s.io}",
    ] {
        wait_rejected(
            &format!("{subject} of the new dev namespace rejected in production at once"),
            AT_ONCE,
            &binding(Some("byp-late-prod"), "late-ci", subject, ""),
            "cross-environment-access",
        )
        .await;
    }

    // Relabelled into production: its data is welcome, its bindings are judged as production.
    cluster().kubectl_ok(&[
        "label",
        "--overwrite",
        "ns",
        "byp-late-new",
        &format!("{key}=prod"),
    ]);
    wait_admitted(
        "classified ConfigMap admitted once the namespace is production",
        AT_ONCE,
        &config_map("byp-late-new", "customers", true, ""),
    )
    .await;
    wait_rejected(
        "dev ServiceAccount rejected in the relabelled namespace",
        AT_ONCE,
        &binding(
            Some("byp-late-new"),
            "dev-ci",
            "{kind: ServiceAccount, name: ci, namespace: byp-late-dev}",
            "",
        ),
        "cross-environment-access",
    )
    .await;

    settle_writes().await;
    assert_eq!(
        admission_specs(&format!("ei-{name}-")),
        before,
        "the admission policies were re-rendered for a namespace change"
    );
    delete_isolation(&api, name).await;
}

/// The policies as the pure renderer makes them, applied by hand with no EnvironmentIsolation
/// and so no operator behind them, still cover namespaces created afterwards.
#[tokio::test]
async fn rendered_policies_cover_new_namespaces_with_no_operator_behind_them() {
    // Not the operator's, but cluster-wide policies all the same: keep them from other tests.
    let _serial = serial().await;
    let client = client().await;
    let key = "bypass-offline-env";
    for ns in ["byp-off-prod", "byp-off-dev"] {
        delete_namespace(&client, ns).await;
    }
    let spec: EnvironmentIsolationSpec = serde_json::from_value(spec("Enforce", key)).unwrap();
    let owner = Owner {
        api_version: "security.baseline.dev/v1alpha1".into(),
        kind: "EnvironmentIsolation".into(),
        name: "bypass-offline".into(),
        uid: "not-a-live-object".into(),
    };
    let objects = baseline_operator::desired::isolation::admission(
        &owner,
        &baseline_operator::validate::environment_isolation::validate(&spec).unwrap(),
        &Snapshot::default(),
        None,
        &[],
        jiff::Timestamp::now(),
    );
    assert_eq!(objects.len(), 6);
    let mut _cleanup = Vec::new();
    for object in &objects {
        let mut body = object.json();
        // Nothing ties them to an owner: no garbage collection, no operator pruning.
        let meta = body["metadata"].as_object_mut().unwrap();
        meta.remove("ownerReferences");
        meta.remove("labels");
        let out = cluster().kubectl_stdin(
            &[
                "apply",
                "--server-side",
                "--field-manager=e2e-offline",
                "-f",
                "-",
            ],
            &body.to_string(),
        );
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let kind = match object.kind {
            OwnedKind::ValidatingAdmissionPolicy => "validatingadmissionpolicy",
            _ => "validatingadmissionpolicybinding",
        };
        _cleanup.push(DeleteOnDrop(kind, object.name.clone()));
    }

    // Namespaces the renderer never saw.
    namespace(&client, "byp-off-prod", &[(key, "prod")]).await;
    namespace(&client, "byp-off-dev", &[(key, "dev")]).await;
    wait_rejected(
        "classified ConfigMap in dev rejected",
        TIMEOUT,
        &config_map("byp-off-dev", "customers", true, ""),
        "production-data-restricted",
    )
    .await;
    wait_admitted(
        "classified ConfigMap in production admitted",
        TIMEOUT,
        &config_map("byp-off-prod", "customers", true, ""),
    )
    .await;
    wait_rejected(
        "dev ServiceAccount bound in production rejected",
        TIMEOUT,
        &binding(
            Some("byp-off-prod"),
            "dev-ci",
            "{kind: ServiceAccount, name: ci, namespace: byp-off-dev}",
            "",
        ),
        "cross-environment-access",
    )
    .await;
    wait_rejected(
        "dev ServiceAccounts bound cluster-wide rejected",
        TIMEOUT,
        &binding(
            None,
            "byp-off-dev-ci",
            "{kind: Group, name: 'system:serviceaccounts:byp-off-dev', apiGroup: rbac.authorization.k8s.io}",
            "",
        ),
        "cross-environment-access",
    )
    .await;
    wait_admitted(
        "production ServiceAccount bound in production admitted",
        TIMEOUT,
        &binding(
            Some("byp-off-prod"),
            "prod-ci",
            "{kind: ServiceAccount, name: ci, namespace: byp-off-prod}",
            "",
        ),
    )
    .await;
    // The guards delete the policies.
}

/// Every form in which RBAC names a non-production identity: reported in Audit mode, rejected
/// in Enforce mode, in RoleBindings of production namespaces and in ClusterRoleBindings.
#[tokio::test]
async fn every_form_of_a_non_production_identity_is_reported_and_rejected() {
    let s = Scenario::start().await;
    let key = "bypass-ids-env";
    s.namespace("byp-ids-prod", &[(key, "prod")]).await;
    s.namespace("byp-ids-dev", &[(key, "dev")]).await;
    let rbac = "apiGroup: rbac.authorization.k8s.io";
    let crossing = [
        (
            "sa",
            "{kind: ServiceAccount, name: ci, namespace: byp-ids-dev}".to_string(),
        ),
        (
            "sa-user",
            format!("{{kind: User, name: 'system:serviceaccount:byp-ids-dev:ci', {rbac}}}"),
        ),
        (
            "sa-group",
            format!("{{kind: Group, name: 'system:serviceaccounts:byp-ids-dev', {rbac}}}"),
        ),
        (
            "all-sas",
            format!("{{kind: Group, name: 'system:serviceaccounts', {rbac}}}"),
        ),
        (
            "authenticated",
            format!("{{kind: Group, name: 'system:authenticated', {rbac}}}"),
        ),
        (
            "declared",
            format!("{{kind: Group, name: contractors, {rbac}}}"),
        ),
    ];
    let fine = [
        (
            "prod-sa",
            "{kind: ServiceAccount, name: ci, namespace: byp-ids-prod}".to_string(),
        ),
        (
            "prod-user",
            format!("{{kind: User, name: 'system:serviceaccount:byp-ids-prod:ci', {rbac}}}"),
        ),
        ("person", format!("{{kind: User, name: alice, {rbac}}}")),
    ];
    let role_binding = |form: &str, subject: &str| {
        binding(Some("byp-ids-prod"), &format!("ids-{form}"), subject, "")
    };
    let cluster_binding =
        |form: &str, subject: &str| binding(None, &format!("byp-ids-{form}"), subject, "");

    // Audit: everything is admitted, and every crossing form is a finding, in both kinds.
    let name = "e2e-bypass-identities";
    let _cleanup = DeleteOnDrop("environmentisolation", name.to_string());
    let api = apply_isolation(&s.client, name, spec("Audit", key)).await;
    let all: Vec<String> = crossing
        .iter()
        .chain(&fine)
        .flat_map(|(form, subject)| [role_binding(form, subject), cluster_binding(form, subject)])
        .collect();
    for yaml in &all {
        cluster().apply_yaml(yaml).unwrap();
    }
    // The RoleBinding without a subject namespace names its own (production) namespace.
    let own = binding(
        Some("byp-ids-prod"),
        "ids-own",
        "{kind: ServiceAccount, name: app}",
        "",
    );
    cluster().apply_yaml(&own).unwrap();
    // A production ServiceAccount bound cluster-wide acts in dev too: those two
    // ClusterRoleBindings cross as well.
    let view = wait_control(
        &api,
        name,
        "cross-environment-access",
        "every form reported",
        |c| c.failed == 2 * crossing.len() as i32 + 2,
    )
    .await;
    assert_eq!(view.state, ControlState::Fail);
    for yaml in all.iter().chain([&own]) {
        cluster().kubectl_stdin(&["delete", "-f", "-"], yaml);
    }

    // Enforce: the same objects are rejected, production identities admitted.
    apply_isolation(&s.client, name, spec("Enforce", key)).await;
    for (form, subject) in &crossing {
        for yaml in [role_binding(form, subject), cluster_binding(form, subject)] {
            wait_rejected(
                &format!("{form} rejected"),
                TIMEOUT,
                &yaml,
                "cross-environment-access",
            )
            .await;
        }
    }
    for (form, subject) in &fine {
        let yaml = role_binding(form, subject);
        assert!(admitted(&yaml), "{form} rejected: {yaml}");
        let yaml = cluster_binding(form, subject);
        if *form == "person" {
            assert!(admitted(&yaml), "{form} rejected: {yaml}");
        } else {
            assert!(
                cluster().rejects(&yaml, "cross-environment-access"),
                "a production identity bound cluster-wide was admitted: {yaml}"
            );
        }
    }
    assert!(admitted(&own));
    wait_control(
        &api,
        name,
        "cross-environment-access",
        "passes again",
        |c| c.state == ControlState::Pass,
    )
    .await;
    delete_isolation(&api, name).await;
}

/// Label protection judges what the namespace was, takes no exemption, covers every custom
/// resource's selector keys, and never lets an existing namespace become a sandbox.
#[tokio::test]
async fn label_protection_has_no_holes() {
    let s = Scenario::start().await;
    let key = "bypass-labels-env";
    s.namespace("byp-lbl-prod", &[(key, "prod")]).await;
    s.namespace("byp-lbl-dev", &[(key, "dev")]).await;
    cluster().apply_yaml("apiVersion: rbac.authorization.k8s.io/v1\nkind: ClusterRole\nmetadata: {name: e2e-bypass-namespace-editor}\nrules: [{apiGroups: [''], resources: [namespaces], verbs: [get, patch, update]}]\n---\napiVersion: rbac.authorization.k8s.io/v1\nkind: ClusterRoleBinding\nmetadata: {name: e2e-bypass-namespace-editor}\nroleRef: {apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: e2e-bypass-namespace-editor}\nsubjects: [{kind: User, name: tenant, apiGroup: rbac.authorization.k8s.io}, {kind: Group, name: platform-admins, apiGroup: rbac.authorization.k8s.io}]\n").unwrap();
    // A SecurityBaseline selecting by a key no environment uses.
    let _baseline = DeleteOnDrop("securitybaseline", "e2e-bypass-labels".into());
    let baselines = apply_cr::<baseline_operator::api::SecurityBaseline>(
        &s.client,
        "e2e-bypass-labels",
        json!({"mode": "Audit", "namespaceSelector": {"matchLabels": {"bypass-tier": "gold"}}}),
    )
    .await;
    let mut ei = spec("Enforce", key);
    ei["protectEnvironmentLabels"] =
        json!({"allowedGroups": ["platform-admins", "system:masters"]});
    // Waives environment-segregation for namespaces labelled legacy=true.
    ei["exemptions"] = json!([{
        "controls": ["environment-segregation"], "selector": {"matchLabels": {"legacy": "true"}},
        "reason": "legacy namespaces", "approvedBy": "ciso", "expires": "2099-01-01",
    }]);
    let name = "e2e-bypass-labels";
    let _cleanup = DeleteOnDrop("environmentisolation", name.to_string());
    let api = apply_isolation(&s.client, name, ei).await;
    // Every attempt that should fail is a server-side dry run: if it were admitted (e.g.
    // before the policy takes effect), it changes nothing that later attempts depend on.
    let label = |ns: &str, labels: &[&str], who: &[&str], dry_run: bool| {
        let mut args = vec!["label", "--overwrite", "ns", ns];
        args.extend(labels);
        args.extend(who);
        if dry_run {
            args.push("--dry-run=server");
        }
        cluster().kubectl(&args)
    };
    let tenant = ["--as=tenant"];
    let admin = ["--as=alice", "--as-group=platform-admins"];
    let rejected = |out: std::process::Output| {
        !out.status.success()
            && String::from_utf8_lossy(&out.stderr).contains("[environment-segregation]")
    };
    let to_prod = format!("{key}=prod");
    s.wait_until("tenant relabel rejected", || {
        let r = rejected(label("byp-lbl-dev", &[&to_prod], &tenant, true));
        async move { r }
    })
    .await;
    // One request adding the exempt label and the production label together.
    assert!(rejected(label(
        "byp-lbl-dev",
        &["legacy=true", &to_prod],
        &tenant,
        true
    )));
    // The exemption's own selector key is protected; set by an administrator, it still
    // waives nothing of label protection.
    assert!(rejected(label(
        "byp-lbl-dev",
        &["legacy=true"],
        &tenant,
        true
    )));
    assert!(
        label("byp-lbl-dev", &["legacy=true"], &admin, false)
            .status
            .success()
    );
    assert!(rejected(label("byp-lbl-dev", &[&to_prod], &tenant, true)));
    // The SecurityBaseline's key is protected as well.
    s.wait_until("the baseline's selector key protected", || {
        let r = rejected(label("byp-lbl-dev", &["bypass-tier=gold"], &tenant, true));
        async move { r }
    })
    .await;
    assert!(
        label("byp-lbl-dev", &["bypass-tier=gold"], &admin, false)
            .status
            .success()
    );
    // Not even an administrator turns an existing namespace into a restore-test sandbox.
    assert!(rejected(label(
        "byp-lbl-dev",
        &["security.baseline.dev/restore-test=true"],
        &admin,
        true
    )));
    let annotate = cluster().kubectl(&[
        "annotate",
        "ns",
        "byp-lbl-dev",
        "security.baseline.dev/restore-test-policy-uid=x",
        "--as=alice",
        "--as-group=platform-admins",
        "--dry-run=server",
    ]);
    assert!(rejected(annotate));
    let labels = cluster().kubectl_ok(&["get", "ns", "byp-lbl-dev", "--show-labels"]);
    assert!(labels.contains(&format!("{key}=dev")), "{labels}");
    assert!(!labels.contains("restore-test"), "{labels}");

    delete_isolation(&api, name).await;
    let _ = baselines
        .delete("e2e-bypass-labels", &DeleteParams::default())
        .await;
}

/// Neither a `restore-test-` name nor the restore-test label takes a namespace out of its
/// environment; only the operator's marks with a live BackupPolicy's uid do, in status and in
/// admission alike.
#[tokio::test]
async fn sandboxes_cannot_be_impersonated() {
    let s = Scenario::start().await;
    let key = "bypass-sandbox-env";
    s.namespace("byp-sbx-prod", &[(key, "prod")]).await;
    let sandbox_label = ("security.baseline.dev/restore-test", "true");
    s.namespace("restore-test-byp-fake", &[(key, "dev"), sandbox_label])
        .await;
    let _policy = DeleteOnDrop("backuppolicy", "e2e-bypass-sandbox".into());
    let policies = apply_cr::<baseline_operator::api::BackupPolicy>(
        &s.client,
        "e2e-bypass-sandbox",
        json!({"namespaceSelector": {"matchLabels": {"bypass-sandbox-backup": "none"}}, "rpo": "24h"}),
    )
    .await;
    let uid = policies
        .get("e2e-bypass-sandbox")
        .await
        .unwrap()
        .metadata
        .uid
        .unwrap();
    // Marked as the operator marks its sandboxes (created here by hand, as the operator would).
    delete_namespace(&s.client, "restore-test-byp-real").await;
    let real: Namespace = serde_json::from_value(json!({"metadata": {
        "name": "restore-test-byp-real",
        "labels": {key: "dev", sandbox_label.0: sandbox_label.1},
        "annotations": {"security.baseline.dev/restore-test-policy-uid": uid},
    }}))
    .unwrap();
    Api::<Namespace>::all(s.client.clone())
        .create(&PostParams::default(), &real)
        .await
        .unwrap();
    for ns in ["restore-test-byp-fake", "restore-test-byp-real"] {
        apply_admitted(&config_map(ns, "customers", true, "")).await;
    }
    let restore = |target: &str| {
        format!(
            "apiVersion: velero.io/v1\nkind: Restore\nmetadata: {{name: byp-into-{target}, namespace: velero}}\nspec: {{backupName: nightly, includedNamespaces: [byp-sbx-prod], namespaceMapping: {{byp-sbx-prod: {target}}}}}\n"
        )
    };
    let _ = cluster().apply_yaml("apiVersion: v1\nkind: Namespace\nmetadata: {name: velero}\n");
    for target in ["restore-test-byp-fake", "restore-test-byp-real"] {
        cluster().apply_yaml(&restore(target)).unwrap();
    }

    let name = "e2e-bypass-sandbox";
    let _cleanup = DeleteOnDrop("environmentisolation", name.to_string());
    let api = apply_isolation(&s.client, name, spec("Audit", key)).await;
    let view: ControlView = wait_control(
        &api,
        name,
        "production-data-restricted",
        "the look-alike is judged as dev",
        |c| c.failed == 2,
    )
    .await;
    let findings = view.findings.join("\n");
    assert!(
        findings.contains("ConfigMap restore-test-byp-fake/customers"),
        "{findings}"
    );
    assert!(
        findings.contains("byp-into-restore-test-byp-fake"),
        "{findings}"
    );
    assert!(!findings.contains("restore-test-byp-real"), "{findings}");

    apply_isolation(&s.client, name, spec("Enforce", key)).await;
    wait_rejected(
        "classified data rejected in the look-alike",
        TIMEOUT,
        &config_map("restore-test-byp-fake", "more", true, ""),
        "production-data-restricted",
    )
    .await;
    assert!(admitted(&config_map(
        "restore-test-byp-real",
        "more",
        true,
        ""
    )));

    // Without its BackupPolicy, the real sandbox is an ordinary dev namespace again.
    let _ = policies
        .delete("e2e-bypass-sandbox", &DeleteParams::default())
        .await;
    wait_rejected(
        "classified data rejected once the policy is gone",
        TIMEOUT,
        &config_map("restore-test-byp-real", "more", true, ""),
        "production-data-restricted",
    )
    .await;
    delete_isolation(&api, name).await;
    for target in ["restore-test-byp-fake", "restore-test-byp-real"] {
        cluster().kubectl_stdin(&["delete", "-f", "-"], &restore(target));
        // To later EnvironmentIsolations these namespaces are in no environment, so
        // non-production: classified data left here would be their findings.
        cluster().kubectl_stdin(
            &["delete", "-f", "-"],
            &config_map(target, "customers", true, ""),
        );
    }
}

async fn create_secret(client: &Client, ns: &str, name: &str, data: &[(&str, &str)]) {
    let api: Api<Secret> = Api::namespaced(client.clone(), ns);
    let _ = api.delete(name, &DeleteParams::default()).await;
    let data: BTreeMap<&str, &str> = data.iter().copied().collect();
    let secret: Secret =
        serde_json::from_value(json!({"metadata": {"name": name}, "stringData": data})).unwrap();
    api.create(&PostParams::default(), &secret).await.unwrap();
}

/// One production value copied into a bigger Secret is found; the non-production namespace's
/// PolicyReport never tells of it, only the cluster-scoped status and ClusterPolicyReport do.
#[tokio::test]
async fn copied_secrets_are_found_key_by_key_and_named_only_in_cluster_scoped_status() {
    let s = Scenario::start().await;
    let key = "bypass-secrets-env";
    s.namespace("byp-sec-prod", &[(key, "prod")]).await;
    s.namespace("byp-sec-dev", &[(key, "dev")]).await;
    let password = "byp-pr0d-password-73c1f0";
    create_secret(
        &s.client,
        "byp-sec-prod",
        "db",
        &[("password", password), ("user", "app")],
    )
    .await;
    create_secret(
        &s.client,
        "byp-sec-dev",
        "app",
        &[
            ("DB_PASSWORD", password),
            ("FEATURE_FLAGS", "dark-mode,beta-search"),
        ],
    )
    .await;
    create_secret(
        &s.client,
        "byp-sec-dev",
        "whole",
        &[("password", password), ("user", "app")],
    )
    .await;
    let name = "e2e-bypass-secrets";
    let _cleanup = DeleteOnDrop("environmentisolation", name.to_string());
    let api = apply_isolation(&s.client, name, spec("Audit", key)).await;
    let view = wait_control(
        &api,
        name,
        "production-data-restricted",
        "both copies found",
        |c| c.failed == 2,
    )
    .await;
    let findings = view.findings.join("\n");
    assert!(
        findings.contains("Secret byp-sec-dev/app: Secret byp-sec-dev/app holds a value of a production Secret under key `DB_PASSWORD` (copied from production Secret byp-sec-prod/db key `password`)"),
        "{findings}"
    );
    assert!(
        findings.contains("Secret byp-sec-dev/whole holds the same data as a production Secret (copied from production Secret byp-sec-prod/db)"),
        "{findings}"
    );
    // The matches are told in the ClusterPolicyReport, which dev's tenants cannot read, never
    // in dev's own PolicyReport (tests/e2e/secret_oracle.rs tries it as a tenant).
    let cluster_report = || {
        let out = cluster().kubectl(&[
            "get",
            "clusterpolicyreport",
            &format!("ei-{name}"),
            "-o",
            "json",
        ]);
        String::from_utf8_lossy(&out.stdout).into_owned()
    };
    s.wait_until("ClusterPolicyReport written", || {
        let r = cluster_report();
        async move { r.contains("DB_PASSWORD") && r.contains("byp-sec-dev/whole") }
    })
    .await;
    assert!(!cluster_report().contains(password));
    let dev = cluster().kubectl(&["get", "policyreport", "-n", "byp-sec-dev", "-o", "json"]);
    let dev = String::from_utf8_lossy(&dev.stdout);
    assert!(
        !dev.contains("DB_PASSWORD") && !dev.contains("byp-sec-dev/whole"),
        "the dev report tells its tenants which Secret matched production: {dev}"
    );
    delete_isolation(&api, name).await;
}
