use super::*;
use serde_json::json;

fn spec(value: serde_json::Value) -> PodSpec {
    serde_json::from_value(value).unwrap()
}

fn meta(annotations: serde_json::Value) -> ObjectMeta {
    serde_json::from_value(json!({"annotations": annotations})).unwrap()
}

fn no_meta() -> ObjectMeta {
    ObjectMeta::default()
}

/// The token volume exactly as the ServiceAccount admission plugin adds it (after defaulting).
fn token_volume(name: &str) -> serde_json::Value {
    json!({"name": name, "projected": {"defaultMode": 420, "sources": [
        {"serviceAccountToken": {"expirationSeconds": 3607, "path": "token"}},
        {"configMap": {"name": "kube-root-ca.crt", "items": [{"key": "ca.crt", "path": "ca.crt"}]}},
        {"downwardAPI": {"items": [{"path": "namespace", "fieldRef": {"apiVersion": "v1", "fieldPath": "metadata.namespace"}}]}},
    ]}})
}

fn token_mount(name: &str) -> serde_json::Value {
    json!({"name": name, "mountPath": "/var/run/secrets/kubernetes.io/serviceaccount", "readOnly": true})
}

fn template() -> PodSpec {
    spec(json!({
        "containers": [{"name": "app", "image": "registry.example.com/app:1",
            "securityContext": {"runAsNonRoot": true}}],
        "restartPolicy": "Always",
    }))
}

#[test]
fn what_the_cluster_fills_in_on_a_pod_is_not_a_difference() {
    let pod = spec(json!({
        "containers": [{"name": "app", "image": "registry.example.com/app:1",
            "securityContext": {"runAsNonRoot": true},
            "volumeMounts": [token_mount("kube-api-access-x1y2z")]}],
        "restartPolicy": "Always",
        "nodeName": "node-1",
        "serviceAccount": "default",
        "serviceAccountName": "default",
        "schedulerName": "default-scheduler",
        "enableServiceLinks": true,
        "priority": 0,
        "preemptionPolicy": "PreemptLowerPriority",
        "tolerations": [{"key": "node.kubernetes.io/not-ready", "operator": "Exists", "effect": "NoExecute", "tolerationSeconds": 300}],
        "volumes": [token_volume("kube-api-access-x1y2z")],
    }));
    assert!(runs_its_template(&no_meta(), &pod, &no_meta(), &template()));
}

#[test]
fn anything_a_control_reads_is_a_difference() {
    let changed = |change: &dyn Fn(&mut serde_json::Value)| {
        let mut value = serde_json::to_value(template()).unwrap();
        change(&mut value);
        spec(value)
    };
    let cases: [(&str, PodSpec); 5] = [
        (
            "an image set on the pod",
            changed(&|v| v["containers"][0]["image"] = json!("docker.io/evil:1")),
        ),
        (
            "a privileged container",
            changed(&|v| v["containers"][0]["securityContext"] = json!({"privileged": true})),
        ),
        (
            "a host namespace",
            changed(&|v| v["hostNetwork"] = json!(true)),
        ),
        (
            "a debug container added later",
            changed(&|v| v["ephemeralContainers"] = json!([{"name": "debug", "image": "busybox"}])),
        ),
        (
            "a host path volume",
            changed(&|v| v["volumes"] = json!([{"name": "root", "hostPath": {"path": "/"}}])),
        ),
    ];
    for (what, pod) in cases {
        assert!(
            !runs_its_template(&no_meta(), &pod, &no_meta(), &template()),
            "{what}"
        );
    }
}

/// The plugin mounts an existing `kube-api-access-*` volume at the token path whatever it is:
/// only the exact projected volume it adds itself, and its exact mount, are left out.
#[test]
fn only_the_exact_token_volume_is_left_out_whatever_the_names() {
    let with = |volume: serde_json::Value, mount: serde_json::Value| {
        let mut value = serde_json::to_value(template()).unwrap();
        value["volumes"] = json!([volume]);
        value["containers"][0]["volumeMounts"] = json!([mount]);
        spec(value)
    };
    let host_path = json!({"name": "kube-api-access-x", "hostPath": {"path": "/"}});
    let mut longer_token = token_volume("kube-api-access-x");
    longer_token["projected"]["sources"][0]["serviceAccountToken"]["expirationSeconds"] =
        json!(86400);
    let mut audience = token_volume("kube-api-access-x");
    audience["projected"]["sources"][0]["serviceAccountToken"]["audience"] = json!("vault");
    let mut writable_mount = token_mount("kube-api-access-x");
    writable_mount["readOnly"] = json!(false);
    let mut elsewhere = token_mount("kube-api-access-x");
    elsewhere["mountPath"] = json!("/host");
    let cases = [
        (
            "a hostPath volume named like the token volume",
            with(host_path, token_mount("kube-api-access-x")),
        ),
        (
            "another token lifetime",
            with(longer_token, token_mount("kube-api-access-x")),
        ),
        (
            "another audience",
            with(audience, token_mount("kube-api-access-x")),
        ),
        (
            "a writable mount",
            with(token_volume("kube-api-access-x"), writable_mount),
        ),
        (
            "the token mounted elsewhere",
            with(token_volume("kube-api-access-x"), elsewhere),
        ),
        (
            "the exact token volume under another name",
            with(token_volume("my-token"), token_mount("my-token")),
        ),
    ];
    for (what, pod) in cases {
        assert!(
            !runs_its_template(&no_meta(), &pod, &no_meta(), &template()),
            "{what}"
        );
    }
    let injected = with(
        token_volume("kube-api-access-abcde"),
        token_mount("kube-api-access-abcde"),
    );
    assert!(runs_its_template(
        &no_meta(),
        &injected,
        &no_meta(),
        &template()
    ));
}

#[test]
fn annotations_pod_security_reads_must_be_the_templates() {
    let unconfined =
        meta(json!({"container.apparmor.security.beta.kubernetes.io/app": "unconfined"}));
    let seccomp = meta(json!({"seccomp.security.alpha.kubernetes.io/pod": "unconfined"}));
    let container_seccomp =
        meta(json!({"container.seccomp.security.alpha.kubernetes.io/app": "unconfined"}));
    for (what, pod_meta) in [
        ("an AppArmor annotation", &unconfined),
        ("a pod seccomp annotation", &seccomp),
        ("a container seccomp annotation", &container_seccomp),
    ] {
        assert!(
            !runs_its_template(pod_meta, &template(), &no_meta(), &template()),
            "{what}"
        );
    }
    // The same annotation on both, or annotations Pod Security never reads, are no difference.
    assert!(runs_its_template(
        &unconfined,
        &template(),
        &unconfined,
        &template()
    ));
    let other = meta(
        json!({"kubectl.kubernetes.io/restartedAt": "now", "controller.kubernetes.io/pod-deletion-cost": "10"}),
    );
    assert!(runs_its_template(
        &other,
        &template(),
        &no_meta(),
        &template()
    ));
}
