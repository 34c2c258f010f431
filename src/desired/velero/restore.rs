//! The Velero Restore of a restore test, from a backup of the source into its sandbox.

use super::policy_labels;
use crate::desired::{DesiredObject, Owner};
use crate::velero::{Restore, RestoreSpec};
use crate::vocabulary::labels::RESTORE_TEST_LABEL;
use jiff::Timestamp;
use k8s_openapi::api::core::v1::{ConfigMap, TypedLocalObjectReference};
use std::collections::BTreeMap;

/// A kind a restore test restores: its resource as Velero names it (`resource.group`, the
/// form of a Restore's `includedResources` and of resource-modifier conditions), and the
/// group and kind its objects have in a backup's resource list.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct RestoredKind {
    pub resource: &'static str,
    pub group: &'static str,
    pub kind: &'static str,
    /// Restored with zero replicas by the Restore's resource modifiers: the object (and the
    /// data in its volumes) can be inspected, but no pod of it starts.
    pub scaled_to_zero: bool,
}

const fn as_is(resource: &'static str, group: &'static str, kind: &'static str) -> RestoredKind {
    RestoredKind {
        resource,
        group,
        kind,
        scaled_to_zero: false,
    }
}

const fn scaled(resource: &'static str, group: &'static str, kind: &'static str) -> RestoredKind {
    RestoredKind {
        resource,
        group,
        kind,
        scaled_to_zero: true,
    }
}

/// Everything a test restore brings back, as an allowlist (a Restore's `includedResources`):
/// any kind not named here stays in the backup. Restored as they are: kinds that cannot run
/// code, receive traffic or claim a hostname or IP (configuration, credentials, volumes,
/// identities, Roles, quotas and disruption budgets). Restored scaled to zero:
/// the replicated workloads whose only running knob is `spec.replicas`.
///
/// Left out, so never restored: Pods, Jobs and CronJobs (would run at once), DaemonSets (cannot
/// be scaled to zero), HorizontalPodAutoscalers (would scale the workloads back up), every
/// custom resource (an Argo Rollout or any operator's kind with a pod template would start
/// pods, and the operator cannot know which do), Services (a `LoadBalancer`, `NodePort` or
/// `externalIPs` Service receives traffic from outside and claims an address; Kubernetes
/// validates the fields that make a Service external together, and Velero keeps explicitly
/// set node ports, so patching them away is fragile, while a Service carries no data and the
/// scaled-down workloads behind it serve nothing), Endpoints and EndpointSlices (would route
/// cluster traffic to arbitrary addresses), Ingresses and Gateway API routes (would claim
/// production hostnames), NetworkPolicies (would add to the sandbox's deny-all: NetworkPolicies
/// only ever widen), RoleBindings (they would grant the production namespace's people and
/// ServiceAccounts their rights in the sandbox: with `edit` or `admin` they could scale a
/// restored workload back up or delete the sandbox's deny-all policy; a Role without a binding
/// grants nothing). The chart's restore guard admits no other resource.
pub const RESTORED_KINDS: &[RestoredKind] = &[
    as_is("configmaps", "", "ConfigMap"),
    as_is("secrets", "", "Secret"),
    as_is("serviceaccounts", "", "ServiceAccount"),
    as_is("persistentvolumeclaims", "", "PersistentVolumeClaim"),
    // Cluster-scoped: restored only as the volume of a restored claim.
    as_is("persistentvolumes", "", "PersistentVolume"),
    as_is("limitranges", "", "LimitRange"),
    as_is("resourcequotas", "", "ResourceQuota"),
    as_is(
        "roles.rbac.authorization.k8s.io",
        "rbac.authorization.k8s.io",
        "Role",
    ),
    as_is(
        "poddisruptionbudgets.policy",
        "policy",
        "PodDisruptionBudget",
    ),
    scaled("deployments.apps", "apps", "Deployment"),
    scaled("statefulsets.apps", "apps", "StatefulSet"),
    scaled("replicasets.apps", "apps", "ReplicaSet"),
    scaled("replicationcontrollers", "", "ReplicationController"),
];

/// The Restore's `includedResources`: every [`RESTORED_KINDS`] resource.
pub fn restored_resources() -> Vec<&'static str> {
    RESTORED_KINDS.iter().map(|k| k.resource).collect()
}

/// Whether a test restore brings back objects of this group and kind.
pub fn is_restored(group: &str, kind: &str) -> bool {
    RESTORED_KINDS
        .iter()
        .any(|k| k.group == group && k.kind == kind)
}

/// The one data key of the resource-modifier ConfigMap (Velero requires exactly one).
pub const MODIFIERS_KEY: &str = "restore-test-modifiers.yaml";

/// The policy's resource-modifier ConfigMap in Velero's namespace, referenced by its Restores.
pub fn modifiers_name(owner: &Owner) -> String {
    format!("{}-restore-test-modifiers", owner.prefix())
}

/// Velero resource modifier rules (Velero >= 1.12, format `v1`) setting `/spec/replicas` to 0
/// on every [`RESTORED_KINDS`] kind restored scaled to zero. `add` rather than `replace`: it
/// also holds when a backup lacks the field. The value is JSON (`0`, a number), as Velero
/// reads it.
pub fn modifier_rules() -> String {
    let mut rules = String::from("version: v1\nresourceModifierRules:\n");
    let scaled = RESTORED_KINDS.iter().filter(|k| k.scaled_to_zero);
    for group_resource in scaled.map(|k| k.resource) {
        rules.push_str(&format!(
            "- conditions:\n    groupResource: {group_resource}\n  patches:\n  - operation: add\n    path: \"/spec/replicas\"\n    value: \"0\"\n"
        ));
    }
    rules
}

/// The ConfigMap of [`modifier_rules`], owned by the policy so drift is repaired like any
/// other owned object's.
pub fn resource_modifiers(
    owner: &Owner,
    spec: &crate::validate::backup_policy::ValidBackupPolicy,
) -> DesiredObject {
    DesiredObject::typed(
        owner,
        Some(spec.velero_namespace.as_str()),
        modifiers_name(owner),
        ConfigMap {
            data: Some(BTreeMap::from([(
                MODIFIERS_KEY.to_string(),
                modifier_rules(),
            )])),
            ..ConfigMap::default()
        },
    )
    .with_labels(&policy_labels(&owner.name))
}

/// Named after the moment the test fell due, so every reconcile that plans the same test
/// names the same Restore, and a repeated create fails with AlreadyExists instead of
/// starting a second restore.
pub fn restore_name(owner: &Owner, due: Timestamp) -> String {
    format!("{}-restore-{}", owner.prefix(), due.as_second())
}

/// The Velero Restore of `source` from `backup` into `sandbox`.
pub fn restore_object(
    owner: &Owner,
    spec: &crate::validate::backup_policy::ValidBackupPolicy,
    backup: &str,
    source: &str,
    sandbox: &str,
    due: Timestamp,
) -> DesiredObject {
    let mut labels = policy_labels(&owner.name);
    labels.insert(RESTORE_TEST_LABEL.into(), "true".into());
    let restore = RestoreSpec {
        backup_name: backup.to_string(),
        included_namespaces: vec![source.to_string()],
        namespace_mapping: BTreeMap::from([(source.to_string(), sandbox.to_string())]),
        // An allowlist, not exclusions: a kind nobody thought of stays in the backup.
        included_resources: restored_resources().into_iter().map(String::from).collect(),
        resource_modifier: Some(TypedLocalObjectReference {
            api_group: None,
            kind: "configmap".into(),
            name: modifiers_name(owner),
        }),
    };
    let name = restore_name(owner, due);
    DesiredObject::typed(
        owner,
        Some(spec.velero_namespace.as_str()),
        name.clone(),
        Restore::new(&name, restore),
    )
    .with_labels(&labels)
}

/// `restore` stamped with the instant the operator creates it, on its own clock and to the
/// nanosecond ([`CREATED_AT_ANNOTATION`](super::CREATED_AT_ANNOTATION)): the start of the
/// measured RTO. The Restore is created once, never re-applied, so the stamp never moves.
pub fn created_at(restore: DesiredObject, at: Timestamp) -> DesiredObject {
    restore.with_annotation(super::CREATED_AT_ANNOTATION, &at.to_string())
}
