//! SecurityBaseline admission against the real API server: the admission policies judge what
//! the audit reports, exemptions cover the same objects on both sides (and stop covering them
//! on both sides when they expire), and remediation of objects that predate a baseline is
//! never blocked.

use crate::support::*;
use baseline_operator::api::{ControlState, SecurityBaseline, SecurityBaselineSpec};
use baseline_operator::evaluate::{encryption, images, privilege, workloads};
use baseline_operator::snapshot::Snapshot;
use k8s_openapi::api::apps::v1::{Deployment, ReplicaSet};
use k8s_openapi::api::core::v1::{PersistentVolumeClaim, Pod};
use k8s_openapi::api::networking::v1::Ingress;
use k8s_openapi::api::rbac::v1::{ClusterRole, Role, RoleBinding};
use k8s_openapi::api::storage::v1::StorageClass;
use kube::Client;
use kube::api::{Api, ApiResource, DynamicObject, ListParams, PostParams};
use serde_json::{Value, json};
use std::sync::Arc;
use std::time::Duration;

const TIMEOUT: Duration = Duration::from_secs(30);

/// The five controls a SecurityBaseline enforces through admission policies.
const ADMISSION_CONTROLS: [&str; 5] = [
    "encryption-in-transit",
    "encryption-at-rest",
    "trusted-images",
    "least-privilege",
    "resource-governance",
];

fn api_resource(kind: &str) -> ApiResource {
    match kind {
        "Pod" => ApiResource::erase::<Pod>(&()),
        "Deployment" => ApiResource::erase::<Deployment>(&()),
        "ReplicaSet" => ApiResource::erase::<ReplicaSet>(&()),
        "Ingress" => ApiResource::erase::<Ingress>(&()),
        "PersistentVolumeClaim" => ApiResource::erase::<PersistentVolumeClaim>(&()),
        "RoleBinding" => ApiResource::erase::<RoleBinding>(&()),
        other => panic!("no ApiResource for {other}"),
    }
}

/// Creates `object` in `ns`, or with `dry_run` only sends it through admission; the API
/// server's message when it refuses.
async fn create(client: &Client, ns: &str, object: &Value, dry_run: bool) -> Result<(), String> {
    let kind = object["kind"].as_str().unwrap();
    let api: Api<DynamicObject> = Api::namespaced_with(client.clone(), ns, &api_resource(kind));
    let params = PostParams {
        dry_run,
        ..PostParams::default()
    };
    let object: DynamicObject = serde_json::from_value(object.clone()).unwrap();
    match api.create(&params, &object).await {
        Ok(_) => Ok(()),
        Err(kube::Error::Api(status)) => Err(status.message),
        Err(error) => panic!("creating {kind}: {error}"),
    }
}

/// `object` as the API server would store it in namespace `ns`, with its defaults (a memory
/// request taken from the limit, for one), which admission sees and the audit reads later: a
/// dry-run create in `unselected`, a namespace no baseline selects.
async fn stored_form(client: &Client, unselected: &str, ns: &str, object: &Value) -> Value {
    let kind = object["kind"].as_str().unwrap();
    let api: Api<DynamicObject> =
        Api::namespaced_with(client.clone(), unselected, &api_resource(kind));
    let mut object = object.clone();
    object["metadata"]["namespace"] = json!(unselected);
    let object: DynamicObject = serde_json::from_value(object).unwrap();
    let params = PostParams {
        dry_run: true,
        ..PostParams::default()
    };
    let deadline = std::time::Instant::now() + TIMEOUT;
    let stored = loop {
        match api.create(&params, &object).await {
            Ok(created) => break created,
            // Pods wait for the namespace's default ServiceAccount.
            Err(kube::Error::Api(status))
                if status.message.contains("serviceaccount")
                    && std::time::Instant::now() < deadline =>
            {
                tokio::time::sleep(Duration::from_millis(250)).await;
            }
            Err(error) => panic!("dry-run {kind} in {unselected}: {error}"),
        }
    };
    let mut stored = serde_json::to_value(stored).unwrap();
    stored["metadata"]["namespace"] = json!(ns);
    stored
}

/// Creates `object`, retrying while the namespace's default ServiceAccount (which Pods need)
/// is still being made; fails the test when admission rejects it.
async fn admitted(client: &Client, ns: &str, object: &Value) {
    let name = object["metadata"]["name"].as_str().unwrap().to_string();
    let mut last: String;
    let deadline = std::time::Instant::now() + TIMEOUT;
    loop {
        match create(client, ns, object, false).await {
            Ok(()) => return,
            Err(message) if message.contains("serviceaccount") => last = message,
            Err(message) => panic!("{name} was rejected: {message}"),
        }
        assert!(std::time::Instant::now() < deadline, "{name}: {last}");
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}

/// Whether admission rejects creating `object` with a message naming `control`.
async fn rejected_by(client: &Client, ns: &str, object: &Value, control: &str) -> bool {
    create(client, ns, object, true)
        .await
        .is_err_and(|message| message.contains(&format!("[{control}]")))
}

/// Waits until the policy of `control` is in force: `violating` is rejected naming it.
async fn wait_enforced(client: &Client, ns: &str, violating: &Value, control: &str) {
    wait_until(&format!("{control} enforced"), TIMEOUT, || {
        rejected_by(client, ns, violating, control)
    })
    .await;
}

fn metadata(name: &str, labels: &[(&str, &str)]) -> Value {
    let labels: serde_json::Map<String, Value> = labels
        .iter()
        .map(|(k, v)| (k.to_string(), json!(v)))
        .collect();
    json!({"name": name, "labels": labels})
}

fn resources() -> Value {
    json!({"requests": {"cpu": "10m", "memory": "16Mi"}, "limits": {"memory": "32Mi"}})
}

fn pod(name: &str, labels: &[(&str, &str)], image: &str, with_resources: bool) -> Value {
    let mut container = json!({"name": "app", "image": image});
    if with_resources {
        container["resources"] = resources();
    }
    json!({"apiVersion": "v1", "kind": "Pod", "metadata": metadata(name, labels), "spec": {"containers": [container]}})
}

/// A Deployment (or ReplicaSet) of `image`; `template_labels` go on the pod template next to
/// the `app` label the selector uses.
fn workload(
    kind: &str,
    name: &str,
    own_labels: &[(&str, &str)],
    template_labels: &[(&str, &str)],
    image: &str,
    with_resources: bool,
    replicas: i32,
) -> Value {
    let mut labels = vec![("app", name)];
    labels.extend_from_slice(template_labels);
    let pod = pod(name, &labels, image, with_resources);
    json!({
        "apiVersion": "apps/v1", "kind": kind,
        "metadata": metadata(name, own_labels),
        "spec": {
            "replicas": replicas,
            "selector": {"matchLabels": {"app": name}},
            "template": {"metadata": {"labels": pod["metadata"]["labels"]}, "spec": pod["spec"]},
        },
    })
}

fn deployment(
    name: &str,
    own_labels: &[(&str, &str)],
    template_labels: &[(&str, &str)],
    image: &str,
    with_resources: bool,
) -> Value {
    workload(
        "Deployment",
        name,
        own_labels,
        template_labels,
        image,
        with_resources,
        1,
    )
}

fn ingress(name: &str, labels: &[(&str, &str)], host: &str, tls_hosts: &[&str]) -> Value {
    let mut spec = json!({"rules": [{"host": host, "http": {"paths": [{"path": "/", "pathType": "Prefix", "backend": {"service": {"name": "web", "port": {"number": 80}}}}]}}]});
    if !tls_hosts.is_empty() {
        spec["tls"] = json!([{"hosts": tls_hosts, "secretName": "tls"}]);
    }
    json!({"apiVersion": "networking.k8s.io/v1", "kind": "Ingress", "metadata": metadata(name, labels), "spec": spec})
}

fn pvc(name: &str, labels: &[(&str, &str)], class: &str) -> Value {
    json!({
        "apiVersion": "v1", "kind": "PersistentVolumeClaim", "metadata": metadata(name, labels),
        "spec": {"storageClassName": class, "accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": "1Gi"}}},
    })
}

fn role_binding(name: &str, labels: &[(&str, &str)], kind: &str, role: &str) -> Value {
    json!({
        "apiVersion": "rbac.authorization.k8s.io/v1", "kind": "RoleBinding", "metadata": metadata(name, labels),
        "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": kind, "name": role},
        "subjects": [{"apiGroup": "rbac.authorization.k8s.io", "kind": "User", "name": "alice"}],
    })
}

/// StorageClasses `e2e-encrypted` and `e2e-plain`, and the wildcard ClusterRole
/// `e2e-wildcard`, shared by the tests here.
fn cluster_fixtures() {
    cluster()
        .apply_yaml(
            r#"
apiVersion: storage.k8s.io/v1
kind: StorageClass
metadata: {name: e2e-encrypted}
provisioner: kubernetes.io/no-provisioner
parameters: {encrypted: "true"}
---
apiVersion: storage.k8s.io/v1
kind: StorageClass
metadata: {name: e2e-plain}
provisioner: kubernetes.io/no-provisioner
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRole
metadata: {name: e2e-wildcard}
rules: [{apiGroups: [""], resources: ["*"], verbs: [get]}]
"#,
        )
        .expect("cluster fixtures");
}

/// Removes a baseline a failed earlier run left behind, and waits for its admission policies
/// to go, so that objects meant to predate the baseline can be created.
async fn no_leftover_baseline(s: &Scenario, name: &str) {
    s.existing::<SecurityBaseline>(name).delete().await;
    let prefix = format!("validatingadmissionpolicy.admissionregistration.k8s.io/sb-{name}-");
    wait_until("leftover admission policies gone", TIMEOUT, || async {
        let policies = cluster().kubectl_ok(&["get", "validatingadmissionpolicies", "-o", "name"]);
        !policies.lines().any(|p| p.starts_with(&prefix))
    })
    .await;
}

/// The cluster's Roles and ClusterRoles, as the operator's snapshot holds them.
async fn rbac_snapshot(client: &Client) -> Snapshot {
    let roles: Api<Role> = Api::all(client.clone());
    let cluster_roles: Api<ClusterRole> = Api::all(client.clone());
    Snapshot {
        roles: roles
            .list(&ListParams::default())
            .await
            .unwrap()
            .items
            .into_iter()
            .map(Arc::new)
            .collect(),
        cluster_roles: cluster_roles
            .list(&ListParams::default())
            .await
            .unwrap()
            .items
            .into_iter()
            .map(Arc::new)
            .collect(),
        ..Snapshot::default()
    }
}

/// Item by item, the API server's admission verdict and the audit's verdict on the same
/// object must both equal the expected one. Collects every disagreement before failing.
#[tokio::test]
async fn admission_and_audit_judge_every_enforced_control_alike() {
    let s = Scenario::start().await;
    cluster_fixtures();
    let ns = s.namespace("e2e-adm-exact", &[("e2e-adm", "exact")]).await;
    let elsewhere = s.namespace("e2e-adm-exact-other", &[]).await;
    for (namespace, role) in [(&ns, "everything"), (&elsewhere, "elsewhere")] {
        cluster()
            .apply_yaml(&format!(
                "apiVersion: rbac.authorization.k8s.io/v1\nkind: Role\nmetadata: {{name: {role}, namespace: {namespace}}}\nrules: [{{apiGroups: [\"\"], resources: [\"*\"], verbs: [get]}}]\n---\napiVersion: rbac.authorization.k8s.io/v1\nkind: Role\nmetadata: {{name: admin, namespace: {namespace}}}\nrules: [{{apiGroups: [\"\"], resources: [pods], verbs: [get]}}]\n"
            ))
            .expect("roles");
    }
    let spec = json!({
        "mode": "Enforce",
        "namespaceSelector": {"matchLabels": {"e2e-adm": "exact"}},
        "images": {"allowedRegistries": ["registry.acme.test", "registry.acme.test:5000/team/"], "disallowLatestTag": true},
        "access": {"forbiddenRoles": ["admin", "cluster-admin"], "forbidWildcardRoles": true},
        "encryption": {"inTransit": {"requireIngressTLS": true}, "atRest": {"encryptedStorageClasses": ["e2e-encrypted"]}},
        "resources": {"requireRequests": true, "requireMemoryLimit": true},
    });
    let parsed: SecurityBaselineSpec = serde_json::from_value(spec.clone()).unwrap();
    let baseline = s.baseline("e2e-adm-exact", spec).await;
    baseline.wait_reconciled().await;
    let untrusted = pod("p", &[], "docker.io/library/nginx:1.25", true);
    wait_enforced(&s.client, &ns, &untrusted, "trusted-images").await;
    let bare = ingress("i", &[], "bare.example.com", &[]);
    wait_enforced(&s.client, &ns, &bare, "encryption-in-transit").await;
    let plain = pvc("c", &[], "e2e-plain");
    wait_enforced(&s.client, &ns, &plain, "encryption-at-rest").await;
    let unbounded = pod("r", &[], "registry.acme.test/app:1", false);
    wait_enforced(&s.client, &ns, &unbounded, "resource-governance").await;
    let admin = role_binding("b", &[], "ClusterRole", "admin");
    wait_enforced(&s.client, &ns, &admin, "least-privilege").await;
    // The wildcard Role must be in the policy before the table is judged.
    let wildcard = role_binding("b", &[], "Role", "everything");
    wait_enforced(&s.client, &ns, &wildcard, "least-privilege").await;

    let mut disagreements = Vec::new();
    let mut judge = |what: String, expected: bool, audit: bool, admission: Result<(), String>| {
        let admitted = admission.is_ok();
        if audit != expected || admitted != expected {
            disagreements.push(format!(
                "{what}: expected {}, audit {}, admission {}",
                verdict(expected),
                verdict(audit),
                admission.map_or_else(|m| format!("rejects ({m})"), |()| "admits".into())
            ));
        }
    };

    let images_spec = parsed.images.as_ref().unwrap();
    let hex = "0123456789abcdef".repeat(4);
    let image_cases = [
        ("registry.acme.test/app:1.0".to_string(), true),
        ("registry.acme.test/team/app:1.0".to_string(), true),
        (format!("registry.acme.test/app@sha256:{hex}"), true),
        (format!("registry.acme.test/app:1.0@sha256:{hex}"), true),
        ("registry.acme.test.evil.io/app:1.0".to_string(), false),
        ("registry.acme.testing/app:1.0".to_string(), false),
        ("registry.acme.test:5000/app:1.0".to_string(), false),
        ("registry.acme.test:5000/team/app:1.0".to_string(), true),
        (
            "registry.acme.test:5000/teammate/app:1.0".to_string(),
            false,
        ),
        ("evil.io/registry.acme.test/app:1.0".to_string(), false),
        ("registry.acme.test/app".to_string(), false),
        ("registry.acme.test/app:latest".to_string(), false),
        ("registry.acme.test/app@sha256:abc".to_string(), false),
        (
            format!("registry.acme.test/app@sha256:{}", hex.to_uppercase()),
            false,
        ),
        (format!("registry.acme.test/app@sha256:{hex}0"), false),
    ];
    for (image, expected) in image_cases {
        let audit = images::image_problem(images_spec, &image).is_none();
        let admission = create(&s.client, &ns, &pod("p", &[], &image, true), true).await;
        judge(format!("image {image}"), expected, audit, admission);
    }

    let host_cases = [
        ("a.example.com", &["*.example.com"][..], true),
        ("*.example.com", &["*.example.com"][..], true),
        ("example.com", &["*.example.com"][..], false),
        ("a.b.example.com", &["*.example.com"][..], false),
        ("a.example.com.evil.io", &["*.example.com"][..], false),
        ("shop.example.com", &["shop.example.com"][..], true),
        ("shop.example.com", &["other.example.com"][..], false),
    ];
    for (host, tls, expected) in host_cases {
        let object = ingress("i", &[], host, tls);
        let stored = stored_form(&s.client, &elsewhere, &ns, &object).await;
        let typed: Ingress = serde_json::from_value(stored).unwrap();
        let audit = encryption::ingress_violations(&typed).is_empty();
        let admission = create(&s.client, &ns, &object, true).await;
        judge(
            format!("host {host} under TLS {tls:?}"),
            expected,
            audit,
            admission,
        );
    }

    let scope = [ns.clone()];
    let at_rest_spec = parsed.encryption.as_ref().unwrap().at_rest.as_ref();
    let storage_classes: Api<StorageClass> = Api::all(s.client.clone());
    let classes: Vec<Arc<StorageClass>> = storage_classes
        .list(&ListParams::default())
        .await
        .unwrap()
        .items
        .into_iter()
        .map(Arc::new)
        .collect();
    assert!(
        baseline_operator::vocabulary::storage::default_class_name(&Snapshot {
            storage_classes: classes.clone(),
            ..Snapshot::default()
        })
        .is_none(),
        "a default StorageClass would change what a claim without a class gets"
    );
    let class_cases = [
        (Some("e2e-encrypted"), true),
        (Some("e2e-plain"), false),
        (Some("no-such-class"), false),
        (Some(""), false),
        (None, false),
    ];
    for (class, expected) in class_cases {
        let mut object = pvc("c", &[], class.unwrap_or_default());
        object["metadata"]["namespace"] = json!(ns);
        if class.is_none() {
            object["spec"]
                .as_object_mut()
                .unwrap()
                .remove("storageClassName");
        }
        let snapshot = Snapshot {
            storage_classes: classes.clone(),
            persistent_volume_claims: vec![Arc::new(
                serde_json::from_value(stored_form(&s.client, &elsewhere, &ns, &object).await)
                    .unwrap(),
            )],
            ..Snapshot::default()
        };
        let audit = encryption::at_rest(at_rest_spec, &scope, &snapshot)
            .violations
            .is_empty();
        let admission = create(&s.client, &ns, &object, true).await;
        judge(
            format!("PVC of class {class:?}"),
            expected,
            audit,
            admission,
        );
    }

    let resources_spec = parsed.resources.as_ref();
    let without = |key: &str| {
        let mut r = resources();
        let (part, name) = key.split_once('.').unwrap();
        r[part].as_object_mut().unwrap().remove(name);
        r
    };
    let resource_cases = [
        ("everything declared", resources(), None, true),
        ("no CPU request", without("requests.cpu"), None, false),
        // The API server defaults a missing request to the limit.
        ("no memory request", without("requests.memory"), None, true),
        (
            "limits only",
            json!({"limits": {"cpu": "10m", "memory": "32Mi"}}),
            None,
            true,
        ),
        (
            "no memory request nor limit",
            json!({"requests": {"cpu": "10m"}}),
            None,
            false,
        ),
        ("no memory limit", without("limits.memory"), None, false),
        (
            "init container without any",
            resources(),
            Some(json!({})),
            false,
        ),
        (
            "init container with all",
            resources(),
            Some(resources()),
            true,
        ),
    ];
    for (what, declared, init, expected) in resource_cases {
        let mut object = pod("r", &[], "registry.acme.test/app:1", true);
        object["metadata"]["namespace"] = json!(ns);
        object["spec"]["containers"][0]["resources"] = declared;
        if let Some(init) = init {
            object["spec"]["initContainers"] =
                json!([{"name": "init", "image": "registry.acme.test/init:1", "resources": init}]);
        }
        let snapshot = Snapshot {
            pods: vec![Arc::new(
                serde_json::from_value(stored_form(&s.client, &elsewhere, &ns, &object).await)
                    .unwrap(),
            )],
            ..Snapshot::default()
        };
        let audit = workloads::resources(resources_spec, &scope, &snapshot)
            .violations
            .is_empty();
        let admission = create(&s.client, &ns, &object, true).await;
        judge(format!("Pod with {what}"), expected, audit, admission);
    }

    let access_spec = parsed.access.as_ref().unwrap();
    let snapshot = rbac_snapshot(&s.client).await;
    let role_cases = [
        ("ClusterRole", "admin", false),
        ("ClusterRole", "cluster-admin", false),
        ("ClusterRole", "e2e-wildcard", false),
        ("ClusterRole", "view", true),
        // A namespaced Role that happens to be called like a forbidden ClusterRole.
        ("Role", "admin", true),
        ("Role", "cluster-admin", true),
        ("Role", "everything", false),
        // The wildcard Role of another namespace is not this namespace's Role.
        ("Role", "elsewhere", true),
    ];
    for (kind, role, expected) in role_cases {
        let mut object = role_binding("b", &[], kind, role);
        object["metadata"]["namespace"] = json!(ns);
        let stored = stored_form(&s.client, &elsewhere, &ns, &object).await;
        let typed: RoleBinding = serde_json::from_value(stored).unwrap();
        let audit = privilege::binding_problem(access_spec, &typed, &snapshot).is_none();
        let admission = create(&s.client, &ns, &object, true).await;
        judge(
            format!("RoleBinding to {kind} {role}"),
            expected,
            audit,
            admission,
        );
    }
    assert!(
        disagreements.is_empty(),
        "audit and admission disagree:\n{}",
        disagreements.join("\n")
    );
    baseline.delete().await;
}

fn verdict(compliant: bool) -> &'static str {
    if compliant { "compliant" } else { "violation" }
}

/// An exemption whose selector matches a Deployment's pod template covers the Deployment, the
/// ReplicaSet kube-controller-manager makes from it and that ReplicaSet's Pods; the same
/// objects count as exempted in status. A label only on the Deployment's own metadata does not
/// reach its ReplicaSet, so it exempts nothing, not even the Deployment (see
/// `honest_figures::an_exemption_on_a_workloads_own_labels_only_exempts_nothing_and_says_so`),
/// and a tenant's bare Pod with the label is exempted only inside the exemption's namespaces.
#[tokio::test]
async fn exemption_covers_a_deployment_its_replica_set_and_pods_through_the_pod_template() {
    let s = Scenario::start().await;
    let ns = s.namespace("e2e-adm-chain", &[("e2e-adm", "chain")]).await;
    let other = s
        .namespace("e2e-adm-chain-other", &[("e2e-adm", "chain")])
        .await;
    let baseline = s.baseline("e2e-adm-chain",
        json!({
            "mode": "Enforce",
            "namespaceSelector": {"matchLabels": {"e2e-adm": "chain"}},
            "images": {"allowedRegistries": ["registry.acme.test"]},
            "resources": {"requireRequests": true},
            "exemptions": [{
                "controls": ["trusted-images", "resource-governance"],
                "namespaces": [ns], "selector": {"matchLabels": {"exempt": "yes"}},
                "reason": "vendor image", "approvedBy": "ciso", "expires": "2099-01-01",
            }, {
                // A negative selector: whatever lacks the label is exempt in `other`.
                "controls": ["resource-governance"],
                "namespaces": [other],
                "selector": {"matchExpressions": [{"key": "needs-limits", "operator": "DoesNotExist"}]},
                "reason": "batch jobs", "approvedBy": "ciso", "expires": "2099-01-01",
            }],
        }),
    )
    .await;
    baseline.wait_reconciled().await;
    let untrusted = "docker.io/library/nginx:1.25";
    // Each object breaks one control only: admission names just the first policy that denies.
    let plain = deployment("plain", &[], &[], untrusted, true);
    wait_enforced(&s.client, &ns, &plain, "trusted-images").await;
    wait_enforced(
        &s.client,
        &ns,
        &deployment("unbounded", &[], &[], "registry.acme.test/app:1", false),
        "resource-governance",
    )
    .await;

    let mut exempted = workload(
        "Deployment",
        "exempted",
        &[],
        &[("exempt", "yes")],
        untrusted,
        false,
        2,
    );
    admitted(&s.client, &ns, &exempted).await;
    let replica_sets: Api<ReplicaSet> = Api::namespaced(s.client.clone(), &ns);
    let pods: Api<Pod> = Api::namespaced(s.client.clone(), &ns);
    s.wait_until(
        "the exempted Deployment's ReplicaSet made its two Pods",
        || async {
            let sets = replica_sets
                .list(&ListParams::default().labels("app=exempted"))
                .await
                .unwrap()
                .items;
            let made = pods
                .list(&ListParams::default().labels("app=exempted"))
                .await
                .unwrap()
                .items
                .len();
            sets.len() == 1 && sets[0].status.as_ref().is_some_and(|s| s.replicas == 2) && made == 2
        },
    )
    .await;
    let events = cluster().kubectl_ok(&[
        "get",
        "events",
        "-n",
        &ns,
        "--field-selector",
        "reason=FailedCreate",
        "-o",
        "name",
    ]);
    assert!(events.trim().is_empty(), "FailedCreate events: {events}");

    // A label on the Deployment's own metadata would not reach the ReplicaSet it creates,
    // whose labels are the template's: the Deployment is refused itself, not left to fail.
    let own_only = deployment("own-only", &[("exempt", "yes")], &[], untrusted, true);
    assert!(rejected_by(&s.client, &ns, &own_only, "trusted-images").await);

    // A non-exempted violating Deployment is rejected itself.
    assert!(rejected_by(&s.client, &ns, &plain, "trusted-images").await);
    exempted["metadata"]["name"] = json!("relabelled");
    exempted["spec"]["template"]["metadata"]["labels"]["exempt"] = json!("no");
    exempted["spec"]["template"]["spec"]["containers"][0]["resources"] = resources();
    assert!(rejected_by(&s.client, &ns, &exempted, "trusted-images").await);

    // A tenant labelling a bare Pod gets what a labelled pod template already gives: the Pod
    // is exempted (and counted as such), but only in the exemption's namespaces.
    let tenant_pod = pod("tenant", &[("exempt", "yes")], untrusted, true);
    admitted(&s.client, &ns, &tenant_pod).await;
    assert!(rejected_by(&s.client, &other, &tenant_pod, "trusted-images").await);

    // A Pod's pod labels are its own: a Pod carrying the label a negative selector excludes is
    // not exempted through some empty template.
    let trusted = "registry.acme.test/app:1";
    admitted(&s.client, &other, &pod("unlabelled", &[], trusted, false)).await;
    let flagged = pod("flagged", &[("needs-limits", "yes")], trusted, false);
    assert!(rejected_by(&s.client, &other, &flagged, "resource-governance").await);

    let sb = baseline
        .wait("exempted Deployments and Pods counted as exempted", |sb| {
            // Untrusted: the exempted Deployment and the tenant Pod; without resources:
            // `exempted` and `unlabelled`.
            [("trusted-images", 2), ("resource-governance", 2)]
                .iter()
                .all(|(id, exempted)| {
                    find_control(sb, id).is_some_and(|c| {
                        c.state == ControlState::Exempt && c.failed == 0 && c.exempted == *exempted
                    })
                })
        })
        .await;
    assert_eq!(
        control(&sb, "trusted-images").checked,
        3,
        "audit judges the Deployments and the bare Pods, not the Pods a ReplicaSet owns"
    );
    baseline.delete().await;
}

/// Objects that break the baseline before it exists can be scaled down, relabelled, stripped
/// of finalizers and deleted once it enforces; updates that change what a control judges are
/// still judged, and `kubectl debug` cannot add an untrusted image.
#[tokio::test]
async fn remediation_of_objects_that_predate_the_baseline_is_never_blocked() {
    let s = Scenario::start().await;
    cluster_fixtures();
    no_leftover_baseline(&s, "e2e-adm-remedy").await;
    // A run that failed half-way leaves the legacy claim's finalizer, which would hold the
    // namespace in Terminating forever.
    cluster().kubectl(&[
        "patch",
        "pvc",
        "legacy",
        "-n",
        "e2e-adm-remedy",
        "--type=merge",
        "-p",
        r#"{"metadata":{"finalizers":null}}"#,
    ]);
    let ns = s
        .namespace("e2e-adm-remedy", &[("e2e-adm", "remedy")])
        .await;
    let untrusted = "docker.io/library/nginx:1.25";
    for name in ["legacy-scale", "legacy-patch"] {
        let rs = workload("ReplicaSet", name, &[], &[], untrusted, false, 1);
        admitted(&s.client, &ns, &rs).await;
    }
    let mut legacy_pvc = pvc("legacy", &[], "e2e-plain");
    legacy_pvc["metadata"]["finalizers"] = json!(["e2e.baseline.dev/hold"]);
    admitted(&s.client, &ns, &legacy_pvc).await;
    admitted(
        &s.client,
        &ns,
        &ingress("legacy", &[], "legacy.example.com", &[]),
    )
    .await;
    let mut legacy_binding = role_binding("legacy", &[], "ClusterRole", "admin");
    legacy_binding["subjects"] = json!([
        {"apiGroup": "rbac.authorization.k8s.io", "kind": "User", "name": "alice"},
        {"apiGroup": "rbac.authorization.k8s.io", "kind": "User", "name": "bob"},
    ]);
    admitted(&s.client, &ns, &legacy_binding).await;
    let pods: Api<Pod> = Api::namespaced(s.client.clone(), &ns);
    let legacy_pods = || async {
        pods.list(&ListParams::default().labels("app in (legacy-scale, legacy-patch)"))
            .await
            .unwrap()
            .items
            .len()
    };
    s.wait_until("legacy ReplicaSets made their Pods", || async {
        legacy_pods().await == 2
    })
    .await;

    let baseline = s.baseline("e2e-adm-remedy",
        json!({
            "mode": "Enforce",
            "namespaceSelector": {"matchLabels": {"e2e-adm": "remedy"}},
            "encryption": {"inTransit": {"requireIngressTLS": true}, "atRest": {"encryptedStorageClasses": ["e2e-encrypted"]}},
            "images": {"allowedRegistries": ["registry.acme.test"], "disallowLatestTag": true},
            "access": {"forbiddenRoles": ["admin"]},
            "resources": {"requireRequests": true, "requireMemoryLimit": true},
        }),
    )
    .await;
    baseline.wait_reconciled().await;
    let violations = [
        (
            ingress("v", &[], "v.example.com", &[]),
            "encryption-in-transit",
        ),
        (pvc("v", &[], "e2e-plain"), "encryption-at-rest"),
        (pod("v", &[], untrusted, true), "trusted-images"),
        (
            role_binding("v", &[], "ClusterRole", "admin"),
            "least-privilege",
        ),
        (
            pod("v", &[], "registry.acme.test/app:1", false),
            "resource-governance",
        ),
    ];
    for (object, control) in &violations {
        wait_enforced(&s.client, &ns, object, control).await;
    }

    let kubectl = |args: &[&str]| {
        let mut all = vec!["-n", ns.as_str()];
        all.extend_from_slice(args);
        cluster().kubectl(&all)
    };
    let ok = |args: &[&str]| {
        let out = kubectl(args);
        assert!(
            out.status.success(),
            "kubectl {args:?} was refused: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    };
    let refused_by = |args: &[&str], control: &str| {
        let out = kubectl(args);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(
            !out.status.success() && stderr.contains(&format!("[{control}]")),
            "kubectl {args:?} was not refused by {control}: {stderr}"
        );
    };

    // Scaling old non-compliant ReplicaSets to zero: the scale subresource and spec.replicas.
    ok(&["scale", "rs", "legacy-scale", "--replicas=0"]);
    ok(&[
        "patch",
        "rs",
        "legacy-patch",
        "--type=merge",
        "-p",
        r#"{"spec":{"replicas":0}}"#,
    ]);
    let replica_sets: Api<ReplicaSet> = Api::namespaced(s.client.clone(), &ns);
    s.wait_until("legacy ReplicaSets scaled to zero", || async {
        let mut zero = true;
        for name in ["legacy-scale", "legacy-patch"] {
            let rs = replica_sets.get(name).await.unwrap();
            zero &= rs.status.is_some_and(|s| s.replicas == 0);
        }
        zero && legacy_pods().await == 0
    })
    .await;

    // Metadata-only updates of every non-compliant kind.
    ok(&["label", "rs", "legacy-patch", "remediation=pending"]);
    ok(&["annotate", "ingress", "legacy", "owner=team-a"]);
    ok(&["label", "pvc", "legacy", "remediation=pending"]);
    ok(&["label", "rolebinding", "legacy", "remediation=pending"]);

    // Updates that change what a control judges are judged in full.
    refused_by(
        &[
            "set",
            "image",
            "rs/legacy-patch",
            "app=docker.io/library/nginx:1.26",
        ],
        "trusted-images",
    );
    refused_by(
        &["set", "resources", "rs/legacy-patch", "--requests=cpu=10m"],
        "resource-governance",
    );
    refused_by(
        &[
            "patch",
            "ingress",
            "legacy",
            "--type=json",
            "-p",
            r#"[{"op":"add","path":"/spec/rules/-","value":{"host":"new.example.com"}}]"#,
        ],
        "encryption-in-transit",
    );
    // Granting the forbidden role to someone new is judged; taking it away is remediation.
    refused_by(
        &[
            "patch",
            "rolebinding",
            "legacy",
            "--type=json",
            "-p",
            r#"[{"op":"add","path":"/subjects/-","value":{"apiGroup":"rbac.authorization.k8s.io","kind":"User","name":"mallory"}}]"#,
        ],
        "least-privilege",
    );
    ok(&[
        "patch",
        "rolebinding",
        "legacy",
        "--type=json",
        "-p",
        r#"[{"op":"remove","path":"/subjects/1"}]"#,
    ]);

    // A PVC on an unencrypted class sheds its finalizer and goes.
    ok(&["delete", "pvc", "legacy", "--wait=false"]);
    ok(&[
        "patch",
        "pvc",
        "legacy",
        "--type=merge",
        "-p",
        r#"{"metadata":{"finalizers":null}}"#,
    ]);
    let claims: Api<PersistentVolumeClaim> = Api::namespaced(s.client.clone(), &ns);
    s.wait_until("legacy PVC gone", || async {
        claims.get_opt("legacy").await.unwrap().is_none()
    })
    .await;
    for (kind, name) in [
        ("rs", "legacy-scale"),
        ("rs", "legacy-patch"),
        ("ingress", "legacy"),
        ("rolebinding", "legacy"),
    ] {
        ok(&["delete", kind, name]);
    }

    // `kubectl debug` adds an ephemeral container through pods/ephemeralcontainers.
    admitted(
        &s.client,
        &ns,
        &pod("debuggee", &[], "registry.acme.test/app:1", true),
    )
    .await;
    refused_by(
        &[
            "debug",
            "debuggee",
            "--image=docker.io/library/busybox:1.36",
            "--container=untrusted",
            "--profile=general",
        ],
        "trusted-images",
    );
    ok(&[
        "debug",
        "debuggee",
        "--image=registry.acme.test/debug:1.0",
        "--container=trusted",
        "--profile=general",
    ]);
    let debuggee = pods.get("debuggee").await.unwrap();
    let ephemeral: Vec<String> = debuggee
        .spec
        .unwrap()
        .ephemeral_containers
        .unwrap_or_default()
        .into_iter()
        .map(|c| c.name)
        .collect();
    assert_eq!(ephemeral, ["trusted"]);
    baseline.delete().await;
}

/// The objects of one scenario: for each of the five controls, a compliant object (`ok`), a
/// violation (`bad`), one exempted for good (`exempt`) and one exempted briefly (`brief`).
/// Returns `(control, variant, object)`.
fn scenario_objects() -> Vec<(&'static str, &'static str, Value)> {
    let mut out = Vec::new();
    let untrusted = "docker.io/library/nginx:1.25";
    let trusted = "registry.acme.test/app:1.0";
    for variant in ["ok", "bad", "exempt", "brief"] {
        let labels: &[(&str, &str)] = match variant {
            "exempt" => &[("exempt", "forever")],
            "brief" => &[("exempt", "briefly")],
            _ => &[],
        };
        let good = variant == "ok";
        let name = |control: &str| format!("{control}-{variant}");
        out.push((
            "encryption-in-transit",
            variant,
            if good {
                ingress(&name("tls"), labels, "ok.example.com", &["*.example.com"])
            } else {
                ingress(&name("tls"), labels, &format!("{variant}.example.com"), &[])
            },
        ));
        out.push((
            "encryption-at-rest",
            variant,
            pvc(
                &name("pvc"),
                labels,
                if good { "e2e-encrypted" } else { "e2e-plain" },
            ),
        ));
        // Workloads carry the exemption label on their pod template only.
        out.push((
            "trusted-images",
            variant,
            workload(
                "Deployment",
                &name("images"),
                &[],
                labels,
                if good { trusted } else { untrusted },
                true,
                0,
            ),
        ));
        out.push((
            "least-privilege",
            variant,
            role_binding(
                &name("rb"),
                labels,
                "ClusterRole",
                if good { "view" } else { "admin" },
            ),
        ));
        out.push((
            "resource-governance",
            variant,
            workload(
                "Deployment",
                &name("resources"),
                &[],
                labels,
                trusted,
                good,
                0,
            ),
        ));
    }
    out
}

/// What the audit says about each `bad` object.
fn expected_finding(control: &str) -> &'static str {
    match control {
        "encryption-in-transit" => "is served without TLS",
        "encryption-at-rest" => "uses StorageClass `e2e-plain` which is not an encrypted class",
        "trusted-images" => "comes from a registry outside the allowed list",
        "least-privilege" => "grants forbidden ClusterRole `admin`",
        _ => "does not declare a CPU request",
    }
}

/// The lasting exemption covers every control but least-privilege, whose only exemption is the
/// brief one: when that expires, its policy must lose its last waiver.
fn lasting_exemption_covers(control: &str) -> bool {
    control != "least-privilege"
}

fn scenario_spec(mode: &str, selector: &str, brief_until: &str) -> Value {
    let lasting: Vec<&str> = ADMISSION_CONTROLS
        .into_iter()
        .filter(|c| lasting_exemption_covers(c))
        .collect();
    let exemption = |controls: &[&str], value: &str, expires: &str| {
        json!({
            "controls": controls, "selector": {"matchLabels": {"exempt": value}},
            "reason": "e2e", "approvedBy": "ciso", "expires": expires,
        })
    };
    json!({
        "mode": mode,
        "namespaceSelector": {"matchLabels": {"e2e-adm": selector}},
        "encryption": {"inTransit": {"requireIngressTLS": true}, "atRest": {"encryptedStorageClasses": ["e2e-encrypted"]}},
        "images": {"allowedRegistries": ["registry.acme.test"], "disallowLatestTag": true},
        "access": {"forbiddenRoles": ["admin", "cluster-admin"]},
        "resources": {"requireRequests": true, "requireMemoryLimit": true},
        "exemptions": [
            exemption(&lasting, "forever", "2099-01-01"),
            exemption(&ADMISSION_CONTROLS, "briefly", brief_until),
        ],
    })
}

/// Waits until every control of the baseline shows `state` with `failed` and `exempted` as
/// `expect` computes them from the control id and whether the lasting exemption covers it.
async fn wait_counts(
    baseline: &Applied<SecurityBaseline>,
    what: &str,
    expect: impl Fn(bool) -> (ControlState, i32, i32),
) -> SecurityBaseline {
    baseline
        .wait(what, |sb| {
            ADMISSION_CONTROLS.iter().all(|id| {
                let (state, failed, exempted) = expect(lasting_exemption_covers(id));
                find_control(sb, id).is_some_and(|c| {
                    c.state == state && c.failed == failed && c.exempted == exempted
                })
            })
        })
        .await
}

/// For each of the five controls, in both modes: compliant objects pass, violations are
/// rejected (Enforce) or reported with their finding (Audit), exempted ones are admitted and
/// counted as exempted, and an exemption that expires stops waiving in status and admission,
/// also when it was a control's last one.
#[tokio::test]
async fn five_controls_agree_in_audit_and_enforce_until_an_exemption_expires() {
    let s = Scenario::start().await;
    cluster_fixtures();
    for name in ["e2e-adm-enforce", "e2e-adm-audit"] {
        no_leftover_baseline(&s, name).await;
    }
    let enforced = s
        .namespace("e2e-adm-enforce", &[("e2e-adm", "enforce")])
        .await;
    let audited = s.namespace("e2e-adm-audit", &[("e2e-adm", "audit")]).await;
    let objects = scenario_objects();
    // Audit mode admits everything; the objects exist before the baseline.
    for (_, _, object) in &objects {
        admitted(&s.client, &audited, object).await;
    }
    // Long enough to prove the exemption waives, short enough to wait for.
    let expiry = jiff::Timestamp::now() + jiff::SignedDuration::from_secs(45);
    let brief_until = expiry.strftime("%Y-%m-%dT%H:%M:%SZ").to_string();
    let enforce = s
        .baseline(
            "e2e-adm-enforce",
            scenario_spec("Enforce", "enforce", &brief_until),
        )
        .await;
    let audit = s
        .baseline(
            "e2e-adm-audit",
            scenario_spec("Audit", "audit", &brief_until),
        )
        .await;
    enforce.wait_reconciled().await;
    for (control, _, object) in objects.iter().filter(|(_, v, _)| *v == "bad") {
        wait_enforced(&s.client, &enforced, object, control).await;
    }
    for (control, variant, object) in &objects {
        let waived = match *variant {
            "ok" | "brief" => true,
            "exempt" => lasting_exemption_covers(control),
            _ => false,
        };
        if waived {
            admitted(&s.client, &enforced, object).await;
        } else {
            assert!(
                rejected_by(&s.client, &enforced, object, control).await,
                "{control}: {variant} violation admitted"
            );
        }
    }

    let live = |n: bool| i32::from(n);
    wait_counts(
        &enforce,
        "Enforce: every control exempt, nothing failing",
        |lasting| (ControlState::Exempt, 0, 1 + live(lasting)),
    )
    .await;
    let sb = wait_counts(
        &audit,
        "Audit: the violations fail, the exempted are counted",
        |lasting| (ControlState::Fail, 1 + live(!lasting), 1 + live(lasting)),
    )
    .await;
    assert!(
        jiff::Timestamp::now() < expiry,
        "too slow to see the brief exemption live"
    );
    for id in ADMISSION_CONTROLS {
        let found = findings(control(&sb, id));
        assert!(
            found
                .iter()
                .any(|f| f.contains("-bad") && f.contains(expected_finding(id))),
            "{id}: {found:?}"
        );
    }
    let policies = cluster().kubectl_ok(&["get", "validatingadmissionpolicies", "-o", "name"]);
    assert!(
        !policies.contains("sb-e2e-adm-audit-"),
        "Audit mode enforces: {policies}"
    );

    // The brief exemption runs out: both baselines report the brief objects as failures, and
    // admission no longer lets a briefly-exempted object in.
    let remaining = expiry.duration_since(jiff::Timestamp::now());
    tokio::time::sleep(remaining.unsigned_abs()).await;
    let enforce_sb = wait_counts(
        &enforce,
        "Enforce: the brief objects fail after expiry",
        |lasting| (ControlState::Fail, 1, live(lasting)),
    )
    .await;
    let audit_sb = wait_counts(
        &audit,
        "Audit: the brief objects fail after expiry",
        |lasting| (ControlState::Fail, 2 + live(!lasting), live(lasting)),
    )
    .await;
    for id in ADMISSION_CONTROLS {
        for sb in [&enforce_sb, &audit_sb] {
            let found = findings(control(sb, id));
            assert!(
                found
                    .iter()
                    .any(|f| f.contains("-brief") && f.contains(expected_finding(id))),
                "{id}: {found:?}"
            );
        }
    }
    for (control, _, object) in objects.iter().filter(|(_, v, _)| *v == "brief") {
        let mut again = object.clone();
        let name = format!("{}-again", object["metadata"]["name"].as_str().unwrap());
        again["metadata"]["name"] = json!(name);
        s.wait_until(
            &format!("{control}: expired exemption no longer admits {name}"),
            || rejected_by(&s.client, &enforced, &again, control),
        )
        .await;
    }
    enforce.delete().await;
    audit.delete().await;
}
