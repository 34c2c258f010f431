//! What the operator keeps of each object it watches: the fields some control reads, and
//! nothing else.
//!
//! The reflector stores hold every watched object of the cluster for as long as the operator
//! runs, so what they hold is most of its memory. Each object is reduced here as it arrives
//! from the watch (`controller::stores` calls [`Projected::project`] in the reflector's
//! `.modify()`), before it is stored; the offline `audit` reduces the objects it reads from
//! manifests the same way, so the controls judge exactly the same fields in both, and the
//! audit's and the conformance tests prove that nothing they read was dropped.
//!
//! What is dropped, kind by kind, is listed below with why no control reads it. What is kept is
//! everything else: a field a future control reads is kept until someone drops it here on
//! purpose. Objects the operator owns and repairs (NetworkPolicies, Namespaces, admission
//! objects, reports, Velero objects) are never reduced beyond `managedFields`: the drift check
//! compares them whole.

use k8s_openapi::api::apps::v1::{DaemonSet, Deployment, StatefulSet};
use k8s_openapi::api::batch::v1::{CronJob, Job};
use k8s_openapi::api::core::v1::{
    Container, EphemeralContainer, Namespace, PersistentVolumeClaim, Pod, PodSpec, PodTemplateSpec,
    Service, ServiceAccount,
};
use k8s_openapi::api::discovery::v1::EndpointSlice;
use k8s_openapi::api::networking::v1::Ingress;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use std::collections::BTreeMap;

/// An object reduced in place to what the controls read.
pub trait Projected {
    /// Drops what no control reads. The default keeps everything (but `managedFields`,
    /// which the reflector drops for every kind).
    fn project(&mut self) {}
}

/// The annotation `kubectl apply` (client side) writes: a copy of the whole object as last
/// applied, often the largest part of it. No control reads it.
const LAST_APPLIED: &str = "kubectl.kubernetes.io/last-applied-configuration";

/// Drops what no control reads in any object's metadata: the last-applied copy.
fn project_meta(meta: &mut ObjectMeta) {
    if let Some(annotations) = meta.annotations.as_mut() {
        annotations.remove(LAST_APPLIED);
        if annotations.is_empty() {
            meta.annotations = None;
        }
    }
}

/// A pod's metadata as the controls read it: labels, owners, identity and the annotations
/// Pod Security judges (AppArmor, seccomp); other annotations (build info, checksums, sidecar
/// injection settings) are read by no control.
fn project_pod_meta(meta: &mut ObjectMeta) {
    project_meta(meta);
    if let Some(annotations) = meta.annotations.take() {
        let kept: BTreeMap<String, String> = annotations
            .into_iter()
            .filter(|(key, _)| crate::evaluate::pod_security::reads_annotation(key))
            .collect();
        meta.annotations = (!kept.is_empty()).then_some(kept);
    }
}

/// The fields of a container (or an ephemeral one: the same fields, another type) that no
/// control reads; see [`project_container`].
macro_rules! drop_unread_container_fields {
    ($c:expr) => {{
        let c = $c;
        c.env = None;
        c.env_from = None;
        c.command = None;
        c.args = None;
        c.working_dir = None;
        c.stdin = None;
        c.stdin_once = None;
        c.tty = None;
        c.termination_message_path = None;
        c.termination_message_policy = None;
        c.resize_policy = None;
    }};
}

/// A container as the controls read it. Dropped: the environment, command and arguments
/// (often the largest part of a container; no control judges them: secrets in env are not a
/// control of this catalog), the working directory, terminal settings, termination message
/// settings and resize policy. Kept: name, image, ports, resources, probes and lifecycle
/// handlers (Pod Security judges their hosts), security context, volume mounts (a pod is
/// matched to its template on them), restart policy (sidecars).
fn project_container(c: &mut Container) {
    drop_unread_container_fields!(c);
}

/// An ephemeral container, reduced as [`project_container`] reduces a container.
fn project_ephemeral_container(c: &mut EphemeralContainer) {
    drop_unread_container_fields!(c);
}

/// A pod spec as the controls read it. Dropped: scheduling (affinity, tolerations, node
/// selector, topology spread, scheduler, priority, scheduling gates, readiness gates), DNS
/// settings and host aliases, image pull secrets, grace periods and deadlines: no control
/// judges them, and the pod-to-template match ignores the ones the cluster fills in anyway.
fn project_pod_spec(spec: &mut PodSpec) {
    spec.affinity = None;
    spec.tolerations = None;
    spec.node_selector = None;
    spec.topology_spread_constraints = None;
    spec.scheduler_name = None;
    spec.priority = None;
    spec.priority_class_name = None;
    spec.preemption_policy = None;
    spec.scheduling_gates = None;
    spec.readiness_gates = None;
    spec.dns_config = None;
    spec.dns_policy = None;
    spec.host_aliases = None;
    spec.image_pull_secrets = None;
    spec.termination_grace_period_seconds = None;
    spec.active_deadline_seconds = None;
    spec.enable_service_links = None;
    for c in spec.containers.iter_mut() {
        project_container(c);
    }
    for c in spec.init_containers.iter_mut().flatten() {
        project_container(c);
    }
    for c in spec.ephemeral_containers.iter_mut().flatten() {
        project_ephemeral_container(c);
    }
}

/// A workload's pod template, reduced as a pod is.
fn project_template(template: &mut PodTemplateSpec) {
    if let Some(meta) = template.metadata.as_mut() {
        project_pod_meta(meta);
    }
    if let Some(spec) = template.spec.as_mut() {
        project_pod_spec(spec);
    }
}

impl Projected for Pod {
    /// Of the status only the phase and the pod's addresses are read (routes between
    /// environments are found by pod IP); conditions and container statuses are not.
    fn project(&mut self) {
        project_pod_meta(&mut self.metadata);
        if let Some(spec) = self.spec.as_mut() {
            project_pod_spec(spec);
        }
        if let Some(status) = self.status.take() {
            self.status = Some(k8s_openapi::api::core::v1::PodStatus {
                phase: status.phase,
                pod_ip: status.pod_ip,
                pod_ips: status.pod_ips,
                ..Default::default()
            });
        }
    }
}

/// A workload whose status is read only for `readyReplicas` (availability).
macro_rules! ready_replicas_only {
    ($($ty:ty => $status:ty),* $(,)?) => {
        $(impl Projected for $ty {
            fn project(&mut self) {
                project_meta(&mut self.metadata);
                project_template(&mut self.spec.template);
                if let Some(status) = self.status.take() {
                    self.status = Some(<$status>::default());
                    if let Some(kept) = self.status.as_mut() {
                        kept.ready_replicas = status.ready_replicas;
                    }
                }
            }
        })*
    };
}
ready_replicas_only!(
    Deployment => k8s_openapi::api::apps::v1::DeploymentStatus,
    StatefulSet => k8s_openapi::api::apps::v1::StatefulSetStatus,
);

impl Projected for DaemonSet {
    /// No control reads a DaemonSet's status.
    fn project(&mut self) {
        project_meta(&mut self.metadata);
        project_template(&mut self.spec.template);
        self.status = None;
    }
}

impl Projected for Job {
    /// The status is kept: whether and when a Job finished decides which pods its template
    /// stands by (`vocabulary::jobs`).
    fn project(&mut self) {
        project_meta(&mut self.metadata);
        if let Some(spec) = self.spec.as_mut() {
            project_template(&mut spec.template);
        }
    }
}

impl Projected for CronJob {
    /// No control reads a CronJob's status (its Jobs are watched themselves).
    fn project(&mut self) {
        project_meta(&mut self.metadata);
        if let Some(template) = self.spec.job_template.spec.as_mut() {
            project_template(&mut template.template);
        }
        self.status = None;
    }
}

impl Projected for Service {
    /// No control reads a Service's status (load balancer ingress points).
    fn project(&mut self) {
        project_meta(&mut self.metadata);
        self.status = None;
    }
}

impl Projected for Ingress {
    /// No control reads an Ingress's status (load balancer addresses).
    fn project(&mut self) {
        project_meta(&mut self.metadata);
        self.status = None;
    }
}

impl Projected for PersistentVolumeClaim {
    /// No control reads a claim's status (capacity, conditions).
    fn project(&mut self) {
        project_meta(&mut self.metadata);
        self.status = None;
    }
}

impl Projected for EndpointSlice {
    fn project(&mut self) {
        project_meta(&mut self.metadata);
    }
}

impl Projected for ServiceAccount {
    /// No control reads the Secrets a ServiceAccount lists (legacy token references).
    fn project(&mut self) {
        project_meta(&mut self.metadata);
        self.secrets = None;
    }
}

/// Kinds watched as metadata only (ConfigMaps, ReplicaSets): names, labels, uids and owners
/// are read; annotations are not (a ConfigMap's last-applied annotation copies its data).
impl<K> Projected for kube::core::PartialObjectMeta<K> {
    fn project(&mut self) {
        self.metadata.annotations = None;
    }
}

/// Owned by the operator (it sets labels and annotations on them and repairs them): kept
/// whole.
impl Projected for Namespace {}

/// Kinds kept as they arrive (small, or owned by the operator and compared whole by the
/// drift check, or read in full).
macro_rules! kept_whole {
    ($($ty:ty),* $(,)?) => {
        $(impl Projected for $ty {})*
    };
}
kept_whole!(
    k8s_openapi::api::networking::v1::NetworkPolicy,
    k8s_openapi::api::storage::v1::StorageClass,
    k8s_openapi::api::rbac::v1::RoleBinding,
    k8s_openapi::api::rbac::v1::ClusterRoleBinding,
    k8s_openapi::api::rbac::v1::Role,
    k8s_openapi::api::rbac::v1::ClusterRole,
    k8s_openapi::api::policy::v1::PodDisruptionBudget,
    k8s_openapi::api::core::v1::ConfigMap,
    k8s_openapi::api::admissionregistration::v1::ValidatingAdmissionPolicy,
    k8s_openapi::api::admissionregistration::v1::ValidatingAdmissionPolicyBinding,
    crate::velero::Schedule,
    crate::velero::Backup,
    crate::velero::Restore,
    crate::velero::BackupStorageLocation,
    crate::velero::VolumeSnapshotLocation,
    crate::api::SecurityBaseline,
    crate::api::BackupPolicy,
    crate::api::EnvironmentIsolation,
    kube::api::DynamicObject,
);

#[cfg(test)]
#[path = "projection_tests.rs"]
mod tests;
