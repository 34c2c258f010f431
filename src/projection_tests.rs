use super::*;
use crate::snapshot::{ReplicaSetLink, Snapshot};
use serde_json::json;
use std::sync::Arc;

fn parse<T: serde::de::DeserializeOwned>(value: serde_json::Value) -> T {
    serde_json::from_value(value).expect("test object")
}

fn projected<T: Projected>(mut object: T) -> T {
    object.project();
    object
}

/// A pod spec as a real cluster holds it: what the controls judge, plus what they do not.
fn full_spec(image: &str) -> serde_json::Value {
    json!({
        "securityContext": {"runAsNonRoot": true, "seccompProfile": {"type": "RuntimeDefault"}},
        "automountServiceAccountToken": false,
        "tolerations": [{"key": "node.kubernetes.io/not-ready", "operator": "Exists"}],
        "affinity": {"podAntiAffinity": {}},
        "dnsPolicy": "ClusterFirst",
        "terminationGracePeriodSeconds": 30,
        "volumes": [{"name": "data", "emptyDir": {}}],
        "containers": [{
            "name": "app", "image": image,
            "env": [{"name": "DATABASE_URL", "value": "postgres://db"}],
            "command": ["/app"], "args": ["--serve"],
            "ports": [{"containerPort": 8443, "hostPort": 8443}],
            "resources": {"requests": {"cpu": "10m"}, "limits": {"memory": "64Mi"}},
            "readinessProbe": {"httpGet": {"path": "/ready", "port": 8443}},
            "lifecycle": {"preStop": {"httpGet": {"host": "10.0.0.1", "port": 80}}},
            "volumeMounts": [{"name": "data", "mountPath": "/data"}],
            "securityContext": {"allowPrivilegeEscalation": false, "capabilities": {"drop": ["ALL"]}}
        }]
    })
}

fn annotations() -> serde_json::Value {
    json!({
        "container.apparmor.security.beta.kubernetes.io/app": "unconfined",
        "checksum/config": "abc",
        "kubectl.kubernetes.io/last-applied-configuration": "{\"a\":1}"
    })
}

#[test]
fn a_pod_keeps_what_the_controls_read_and_loses_the_rest() {
    let pod: Pod = projected(parse(json!({
        "metadata": {"name": "p", "namespace": "a", "labels": {"app": "a"},
                     "annotations": annotations()},
        "spec": full_spec("registry.example.com/app:1"),
        "status": {"phase": "Running", "podIP": "10.1.0.4", "podIPs": [{"ip": "10.1.0.4"}],
                   "qosClass": "Burstable",
                   "conditions": [{"type": "Ready", "status": "True"}]}
    })));
    let annotations = pod.metadata.annotations.as_ref().unwrap();
    assert_eq!(
        annotations.keys().collect::<Vec<_>>(),
        ["container.apparmor.security.beta.kubernetes.io/app"],
        "only what Pod Security reads"
    );
    let spec = pod.spec.as_ref().unwrap();
    let c = &spec.containers[0];
    assert!(c.env.is_none() && c.command.is_none() && c.args.is_none());
    assert!(spec.tolerations.is_none() && spec.affinity.is_none() && spec.dns_policy.is_none());
    // Kept: everything a control judges.
    assert_eq!(c.image.as_deref(), Some("registry.example.com/app:1"));
    assert_eq!(c.ports.as_ref().unwrap()[0].host_port, Some(8443));
    assert!(c.resources.is_some() && c.readiness_probe.is_some() && c.lifecycle.is_some());
    assert!(c.security_context.is_some() && c.volume_mounts.is_some());
    assert!(spec.security_context.is_some() && spec.volumes.is_some());
    assert_eq!(spec.automount_service_account_token, Some(false));
    let status = pod.status.as_ref().unwrap();
    assert_eq!(status.phase.as_deref(), Some("Running"));
    assert_eq!(status.pod_ip.as_deref(), Some("10.1.0.4"));
    assert!(status.conditions.is_none() && status.qos_class.is_none());
}

/// A Deployment, its ReplicaSet (as the stores keep it, a link) and a pod of it, all as a
/// real cluster holds them; `pod_image` lets the pod differ from its template.
fn deployment_and_pod(pod_image: &str) -> (Deployment, Pod) {
    let template_spec = full_spec("registry.example.com/app:1");
    let deployment: Deployment = parse(json!({
        "metadata": {"name": "app", "namespace": "a", "uid": "d-1", "annotations": annotations()},
        "spec": {"selector": {"matchLabels": {"app": "a"}},
                 "template": {"metadata": {"labels": {"app": "a"}, "annotations": annotations()},
                              "spec": template_spec}},
        "status": {"readyReplicas": 1, "observedGeneration": 4,
                   "conditions": [{"type": "Available", "status": "True"}]}
    }));
    let mut pod_spec = full_spec(pod_image);
    // What the cluster fills in on the pod, and what its controller's pod differs in.
    pod_spec["nodeName"] = json!("node-1");
    pod_spec["containers"][0]["env"] = json!([{"name": "POD_NAME", "value": "app-xyz"}]);
    let pod: Pod = parse(json!({
        "metadata": {"name": "app-xyz", "namespace": "a", "labels": {"app": "a"},
                     "annotations": annotations(),
                     "ownerReferences": [{"apiVersion": "apps/v1", "kind": "ReplicaSet",
                        "name": "app-rs", "uid": "rs-1", "controller": true}]},
        "spec": pod_spec,
        "status": {"phase": "Pending", "conditions": [{"type": "PodScheduled", "status": "False"}]}
    }));
    (deployment, pod)
}

fn carriers(deployment: Deployment, pod: Pod) -> Vec<(&'static str, String)> {
    let snapshot = Snapshot {
        deployments: vec![Arc::new(deployment)],
        pods: vec![Arc::new(pod)],
        replica_sets: vec![Arc::new(ReplicaSetLink {
            namespace: "a".into(),
            uid: "rs-1".into(),
            controller: Some(("Deployment".into(), "d-1".into())),
        })],
        ..Snapshot::default()
    };
    snapshot
        .pod_carriers()
        .iter()
        .map(|c| (c.kind, c.name().to_string()))
        .collect()
}

#[test]
fn a_workload_keeps_its_ready_replicas_and_its_template_is_reduced_as_its_pods_are() {
    let (deployment, _) = deployment_and_pod("registry.example.com/app:1");
    let reduced = projected(deployment);
    let status = reduced.status.as_ref().unwrap();
    assert_eq!(status.ready_replicas, Some(1));
    assert!(status.conditions.is_none() && status.observed_generation.is_none());
    let template = &reduced.spec.template;
    assert!(template.spec.as_ref().unwrap().containers[0].env.is_none());
    assert_eq!(
        template
            .metadata
            .as_ref()
            .unwrap()
            .annotations
            .as_ref()
            .unwrap()
            .len(),
        1
    );
}

#[test]
fn a_pod_differing_from_its_template_only_in_unread_fields_is_judged_through_it() {
    // The pod's environment differs from its template's: no control reads it, so once both
    // are reduced the Deployment stands by its pod (one finding per Deployment, not per
    // replica), as it would if the environments were equal.
    let (deployment, pod) = deployment_and_pod("registry.example.com/app:1");
    assert_eq!(
        carriers(projected(deployment), projected(pod)),
        [("Deployment", "app".to_string())]
    );
}

#[test]
fn a_pod_differing_from_its_template_in_a_judged_field_is_still_judged_itself() {
    // An image set on the pod is judged: reduction must not hide it behind the template.
    let (deployment, pod) = deployment_and_pod("evil.example.com/miner:latest");
    assert_eq!(
        carriers(projected(deployment), projected(pod)),
        [
            ("Deployment", "app".to_string()),
            ("Pod", "app-xyz".to_string())
        ]
    );
}

#[test]
fn metadata_only_objects_lose_their_annotations_and_keep_labels_and_owners() {
    let meta: kube::core::PartialObjectMeta<k8s_openapi::api::core::v1::ConfigMap> =
        kube::core::PartialObjectMeta {
            metadata: parse(json!({"name": "c", "namespace": "a", "labels": {"x": "y"},
                "annotations": annotations(),
                "ownerReferences": [{"apiVersion": "v1", "kind": "X", "name": "o", "uid": "u"}]})),
            ..Default::default()
        };
    let meta = projected(meta);
    assert!(meta.metadata.annotations.is_none());
    assert!(meta.metadata.labels.is_some() && meta.metadata.owner_references.is_some());
}
