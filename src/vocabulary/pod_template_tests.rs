use super::*;
use serde_json::json;

fn spec(value: serde_json::Value) -> PodSpec {
    serde_json::from_value(value).unwrap()
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
            "volumeMounts": [{"name": "kube-api-access-x1y2z", "mountPath": "/var/run/secrets/kubernetes.io/serviceaccount", "readOnly": true}]}],
        "restartPolicy": "Always",
        "nodeName": "node-1",
        "serviceAccount": "default",
        "serviceAccountName": "default",
        "schedulerName": "default-scheduler",
        "enableServiceLinks": true,
        "priority": 0,
        "preemptionPolicy": "PreemptLowerPriority",
        "tolerations": [{"key": "node.kubernetes.io/not-ready", "operator": "Exists", "effect": "NoExecute", "tolerationSeconds": 300}],
        "volumes": [{"name": "kube-api-access-x1y2z", "projected": {"sources": []}}],
    }));
    assert!(runs_its_template(&pod, &template()));
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
        assert!(!runs_its_template(&pod, &template()), "{what}");
    }
}
