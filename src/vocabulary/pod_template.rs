//! Whether a pod runs what its workload's template says: the pod controls judge a controlled
//! pod through its owner's template only then.
//!
//! A pod differs from its template in fields the API server, its admission plugins and the
//! scheduler fill in (the node, the service account token volume, default tolerations,
//! priority, RuntimeClass overhead, a StatefulSet pod's hostname). Those are left out of the
//! comparison; everything a control could read (containers, images, security contexts,
//! volumes, host namespaces, resources, ephemeral containers added later, and the annotations
//! Pod Security reads) must be equal. Anything else (an image changed on the pod, a debug
//! container, an AppArmor annotation, a pod created with a forged ownerReference to a real
//! ReplicaSet) makes the pod judged itself.
//!
//! The token volume is recognised by its whole shape, not by its name: the ServiceAccount
//! admission plugin names it `kube-api-access-<random>`, and anyone who writes the pod can name
//! a hostPath volume that way too (the plugin then even mounts that volume at the token path).

use crate::evaluate::pod_security::reads_annotation;
use k8s_openapi::api::core::v1::{
    ConfigMapProjection, Container, DownwardAPIProjection, DownwardAPIVolumeFile, KeyToPath,
    ObjectFieldSelector, PodSpec, ProjectedVolumeSource, ServiceAccountTokenProjection, Volume,
    VolumeMount, VolumeProjection,
};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use std::collections::{BTreeMap, BTreeSet};

/// The name prefix the ServiceAccount admission plugin gives the token volume.
const TOKEN_VOLUME_PREFIX: &str = "kube-api-access-";
/// Where the ServiceAccount admission plugin mounts it in every container.
const TOKEN_MOUNT_PATH: &str = "/var/run/secrets/kubernetes.io/serviceaccount";

/// Whether a pod (`pod_meta`, `pod`) is what its template (`template_meta`, `template`)
/// describes, up to what the cluster fills in on pods.
pub fn runs_its_template(
    pod_meta: &ObjectMeta,
    pod: &PodSpec,
    template_meta: &ObjectMeta,
    template: &PodSpec,
) -> bool {
    pod_security_annotations(pod_meta) == pod_security_annotations(template_meta)
        && comparable(pod) == comparable(template)
}

/// The annotations Pod Security reads (AppArmor, seccomp): the only metadata it judges.
fn pod_security_annotations(meta: &ObjectMeta) -> BTreeMap<&str, &str> {
    meta.annotations
        .iter()
        .flatten()
        .filter(|(k, _)| reads_annotation(k))
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect()
}

/// The projected volume the ServiceAccount admission plugin adds (`TokenVolumeSource` in
/// kube-apiserver, after defaulting), exactly.
fn is_injected_token_volume(volume: &Volume) -> bool {
    let injected = ProjectedVolumeSource {
        default_mode: Some(0o644),
        default_user: None,
        sources: Some(vec![
            VolumeProjection {
                service_account_token: Some(ServiceAccountTokenProjection {
                    path: "token".into(),
                    expiration_seconds: Some(3607),
                    ..Default::default()
                }),
                ..Default::default()
            },
            VolumeProjection {
                config_map: Some(ConfigMapProjection {
                    name: "kube-root-ca.crt".into(),
                    items: Some(vec![KeyToPath {
                        key: "ca.crt".into(),
                        path: "ca.crt".into(),
                        ..Default::default()
                    }]),
                    optional: None,
                }),
                ..Default::default()
            },
            VolumeProjection {
                downward_api: Some(DownwardAPIProjection {
                    items: Some(vec![DownwardAPIVolumeFile {
                        path: "namespace".into(),
                        field_ref: Some(ObjectFieldSelector {
                            api_version: Some("v1".into()),
                            field_path: "metadata.namespace".into(),
                        }),
                        ..Default::default()
                    }]),
                }),
                ..Default::default()
            },
        ]),
    };
    let only_projected = Volume {
        name: volume.name.clone(),
        projected: volume.projected.clone(),
        ..Default::default()
    };
    volume.name.starts_with(TOKEN_VOLUME_PREFIX)
        && *volume == only_projected
        && volume.projected.as_ref() == Some(&injected)
}

/// The mount the plugin adds for token volume `volume` in every container, exactly.
fn is_injected_token_mount(mount: &VolumeMount, token_volumes: &BTreeSet<String>) -> bool {
    token_volumes.contains(&mount.name)
        && *mount
            == VolumeMount {
                name: mount.name.clone(),
                mount_path: TOKEN_MOUNT_PATH.into(),
                read_only: Some(true),
                ..Default::default()
            }
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
    let mut token_volumes = BTreeSet::new();
    if let Some(volumes) = spec.volumes.as_mut() {
        volumes.retain(|v| {
            let injected = is_injected_token_volume(v);
            if injected {
                token_volumes.insert(v.name.clone());
            }
            !injected
        });
    }
    if spec.volumes.as_ref().is_some_and(Vec::is_empty) {
        spec.volumes = None;
    }
    let strip = |containers: &mut Vec<Container>| {
        for c in containers {
            if let Some(mounts) = c.volume_mounts.as_mut() {
                mounts.retain(|m| !is_injected_token_mount(m, &token_volumes));
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
