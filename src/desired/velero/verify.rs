//! Verifying a finished restore test against the backup itself: every object the backup
//! holds for the source namespace, of a kind the test restores ([`RESTORED_KINDS`](super::RESTORED_KINDS)), must be in
//! the sandbox.
//! Velero's own `itemsRestored` counter is not trusted for this: it is a number in an object
//! anyone with write access to Velero's namespace can edit.

use super::restore::is_restored;
use crate::snapshot::{Observed, Snapshot};
use crate::vocabulary::velero_records::{BackedUp, BackupContents};
use k8s_openapi::Metadata;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use std::sync::Arc;

/// How the sandbox compares with the backup.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Verification {
    /// Backed-up objects the operator looked for in the sandbox, and how many it found.
    pub looked_for: usize,
    pub found: usize,
    /// `Kind/name` of each one it did not find.
    pub missing: Vec<String>,
    /// Backed-up objects of kinds the operator does not watch (ReplicaSets, Endpoints, custom
    /// resources...): judged by Velero's restore record alone.
    pub by_velero_only: usize,
}

/// Compares the objects `contents` holds for `source` with what `snapshot` shows in
/// `sandbox`.
pub fn verify_sandbox(
    contents: &BackupContents,
    source: &str,
    sandbox: &str,
    snapshot: &Snapshot,
) -> Verification {
    let mut verification = Verification::default();
    for object in contents.objects_in(source) {
        // Only the kinds a test restores can be expected in the sandbox; the rest stay in the
        // backup on purpose (`RESTORED_KINDS`).
        if !is_restored(&object.group, &object.kind) {
            continue;
        }
        match present(snapshot, sandbox, &object) {
            Some(true) => {
                verification.looked_for += 1;
                verification.found += 1;
            }
            Some(false) => {
                verification.looked_for += 1;
                verification
                    .missing
                    .push(format!("{}/{}", object.kind, object.name));
            }
            None => verification.by_velero_only += 1,
        }
    }
    verification
}

/// Whether the sandbox holds `object`; None when the Snapshot cannot tell (a kind it does not
/// hold, or Secrets it may not read).
fn present(snapshot: &Snapshot, sandbox: &str, object: &BackedUp) -> Option<bool> {
    fn here<T: Metadata<Ty = ObjectMeta>>(list: &[Arc<T>], sandbox: &str, name: &str) -> bool {
        list.iter().any(|o| {
            let meta = o.metadata();
            meta.namespace.as_deref() == Some(sandbox) && meta.name.as_deref() == Some(name)
        })
    }
    let name = object.name.as_str();
    let s = snapshot;
    Some(match (object.group.as_str(), object.kind.as_str()) {
        ("apps", "Deployment") => here(&s.deployments, sandbox, name),
        ("apps", "StatefulSet") => here(&s.stateful_sets, sandbox, name),
        ("", "Service") => here(&s.services, sandbox, name),
        ("", "ServiceAccount") => here(&s.service_accounts, sandbox, name),
        ("", "PersistentVolumeClaim") => here(&s.persistent_volume_claims, sandbox, name),
        ("rbac.authorization.k8s.io", "Role") => here(&s.roles, sandbox, name),
        ("rbac.authorization.k8s.io", "RoleBinding") => here(&s.role_bindings, sandbox, name),
        ("policy", "PodDisruptionBudget") => here(&s.pod_disruption_budgets, sandbox, name),
        ("", "ConfigMap") => s
            .config_maps
            .iter()
            .any(|c| c.namespace == sandbox && c.name == name),
        ("", "Secret") => match &s.secrets {
            Observed::Observed(secrets) => secrets
                .iter()
                .any(|d| d.namespace == sandbox && d.name == name),
            Observed::NotObserved(_) => return None,
        },
        _ => return None,
    })
}
