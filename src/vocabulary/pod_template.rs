//! Whether a pod runs what its workload's template says: the pod controls judge a controlled
//! pod through its owner's template only then.
//!
//! A pod differs from its template in fields the API server, its admission plugins and the
//! scheduler fill in (the node, the service account token volume, default tolerations,
//! priority, RuntimeClass overhead, a StatefulSet pod's hostname). Those are left out of the
//! comparison; everything a control could read (containers, images, security contexts,
//! volumes, host namespaces, resources, ephemeral containers added later) must be equal.
//! Anything else (an image changed on the pod, a debug container, a pod created with a forged
//! ownerReference to a real ReplicaSet) makes the pod judged itself.

use k8s_openapi::api::core::v1::{Container, PodSpec};

/// Volumes (and their mounts) the ServiceAccount admission plugin adds to every pod.
const TOKEN_VOLUME_PREFIX: &str = "kube-api-access-";

/// Whether `pod` is what `template` describes, up to what the cluster fills in on pods.
pub fn runs_its_template(pod: &PodSpec, template: &PodSpec) -> bool {
    comparable(pod) == comparable(template)
}

/// `spec` without the fields the cluster fills in on pods.
fn comparable(spec: &PodSpec) -> PodSpec {
    let mut spec = spec.clone();
    spec.node_name = None;
    spec.service_account = None;
    spec.tolerations = None;
    spec.priority = None;
    spec.preemption_policy = None;
    spec.overhead = None;
    spec.hostname = None;
    spec.subdomain = None;
    spec.scheduler_name = None;
    // The DaemonSet controller pins each pod to its node with a node affinity; no control
    // reads scheduling constraints.
    spec.affinity = None;
    spec.enable_service_links = None;
    // The ServiceAccount admission plugin names `default` when the template names none.
    if spec.service_account_name.is_none() {
        spec.service_account_name = Some("default".into());
    }
    if let Some(volumes) = spec.volumes.as_mut() {
        volumes.retain(|v| !v.name.starts_with(TOKEN_VOLUME_PREFIX));
    }
    if spec.volumes.as_ref().is_some_and(Vec::is_empty) {
        spec.volumes = None;
    }
    let strip = |containers: &mut Vec<Container>| {
        for c in containers {
            if let Some(mounts) = c.volume_mounts.as_mut() {
                mounts.retain(|m| !m.name.starts_with(TOKEN_VOLUME_PREFIX));
            }
            if c.volume_mounts.as_ref().is_some_and(Vec::is_empty) {
                c.volume_mounts = None;
            }
        }
    };
    strip(&mut spec.containers);
    if let Some(init) = spec.init_containers.as_mut() {
        strip(init);
    }
    spec
}

#[cfg(test)]
#[path = "pod_template_tests.rs"]
mod tests;
