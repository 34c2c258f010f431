//! BackupPolicy: a Velero Schedule from the RPO, evidence from Velero's objects, and restore
//! tests run step by step (sandbox first, then the Restore, then verification and clean-up).

use super::context::Context;
use super::reads::Reads;
use super::reconciler::{Plan, PlannedEvent, Reconciled, Stage};
use super::scope::Scope;
use crate::api::backup_policy::{MeasuredBy, RestoreTestResult};
use crate::api::{BackupPolicy, ComplianceStatus, Exemption, Mode};
use crate::catalog::ControlKind;
use crate::conditions::Reason;
use crate::desired::velero::{self as velero_desired, RestoreTestStep};
use crate::desired::{OwnedKind, Owner};
use crate::evaluate::backup;
use crate::validate::{InvalidSpec, ValidBackupPolicy};
use jiff::{SignedDuration, Timestamp};
use kube::ResourceExt;
use serde::Serialize;

/// How soon to look again while a restore test is in progress.
const STEP_INTERVAL: SignedDuration = SignedDuration::from_secs(2);

impl Reconciled for BackupPolicy {
    const KIND: ControlKind = ControlKind::BackupPolicy;
    // Restore-test sandboxes and Restores are created and removed step by step, not pruned.
    const MANAGES: &'static [OwnedKind] = &[OwnedKind::VeleroSchedule, OwnedKind::ConfigMap];
    const LABEL_MARKER: &'static str = "security.baseline.dev/backup-from";

    fn compliance(&self) -> ComplianceStatus {
        self.status
            .clone()
            .map(|s| s.compliance)
            .unwrap_or_default()
    }

    fn exemptions(&self) -> &[Exemption] {
        &self.spec.exemptions
    }

    fn selects_namespace(
        &self,
        namespace: &str,
        labels: Option<&std::collections::BTreeMap<String, String>>,
    ) -> bool {
        let velero_namespace = self.spec.velero_namespace();
        namespace == velero_namespace
            || super::namespace_selected(&self.spec.namespace_selector, labels)
    }

    /// Velero's objects (and the restore-test modifiers) in its namespace, which namespaces
    /// the selector picks, and a restore-test sandbox's NetworkPolicies (its quarantine): not
    /// a tenant's Pods, Ingresses, Secrets, bindings or other NetworkPolicies, and no
    /// cluster-wide RBAC or storage.
    fn reads(&self, kind: &str, namespace: Option<&str>) -> bool {
        use crate::vocabulary::labels::RESTORE_TEST_PREFIX;
        match namespace {
            Some(ns) if ns == self.spec.velero_namespace() => true,
            // A sandbox carries the name prefix (and more, see `vocabulary::sandbox`): the
            // NetworkPolicies a SecurityBaseline or an isolation writes elsewhere are no
            // change to a policy.
            Some(ns) if kind == "NetworkPolicy" => ns.starts_with(RESTORE_TEST_PREFIX),
            Some(_) => kind == "Namespace",
            None => !matches!(kind, "ClusterRole" | "ClusterRoleBinding" | "StorageClass"),
        }
    }

    /// Velero's objects decide every selected namespace's findings (which Schedule covers
    /// it, its newest backup): a change in Velero's namespace is a pass over every namespace.
    fn widen(&self, scope: Scope) -> Scope {
        match scope {
            Scope::Namespaces(names) if !names.contains(self.spec.velero_namespace()) => {
                Scope::Namespaces(names)
            }
            _ => Scope::All,
        }
    }

    /// Namespaces are read through its selectors (and exemptions') and the restore-test
    /// sandbox markers only.
    const READS_NAMESPACES_THROUGH_SELECTORS: bool = true;

    type Valid = ValidBackupPolicy;

    fn validate(&self, reads: &Reads, now: Timestamp) -> Result<ValidBackupPolicy, InvalidSpec> {
        let valid = crate::validate::backup_policy::validate(&self.spec, now)?;
        crate::validate::backup_policy::velero_namespace_watched(
            &self.spec,
            &reads.velero_namespace,
        )?;
        Ok(valid)
    }

    type ExtraStatus = BackupPolicyExtraStatus;

    async fn prepare(
        &self,
        valid: &ValidBackupPolicy,
        ctx: &Context,
        now: Timestamp,
    ) -> Result<(), super::Error> {
        let snapshot = ctx.reads.backup_snapshot();
        if !snapshot.velero.installed {
            return Ok(());
        }
        let last = self.extra_status().last_restore_test;
        let records = ctx.reads.velero_records();
        let step = self.restore_test_step(valid, last.as_ref(), &snapshot, &records, now);
        if let RestoreTestStep::Verify { backup, restore } = step {
            super::velero_records::fetch(ctx, &backup, &restore).await?;
        }
        Ok(())
    }

    fn extra_status(&self) -> BackupPolicyExtraStatus {
        BackupPolicyExtraStatus {
            last_restore_test: self
                .status
                .as_ref()
                .and_then(|s| s.last_restore_test.clone()),
        }
    }

    fn plan(
        &self,
        valid: &ValidBackupPolicy,
        reads: &Reads,
        scope: &Scope,
        _stage: Stage,
        now: Timestamp,
    ) -> Plan<BackupPolicyExtraStatus> {
        let snapshot = reads.backup_snapshot();
        let name = self.name_any();
        let owner = Owner::of(self);
        let mut last = self.extra_status().last_restore_test;
        let mut step_deadline = None;
        let mut apply_once = Vec::new();
        let mut delete = Vec::new();
        let mut events = Vec::new();
        // A valid policy names the operator's Velero namespace; the snapshot says whether it
        // exists.
        let velero_namespace = valid.velero_namespace.as_str();
        let velero_deployed = snapshot.velero.namespace_missing.is_none();
        if snapshot.velero.installed && velero_deployed {
            let records = reads.velero_records();
            // Not the reconcile's `now`: `prepare` may just have fetched Velero's records, and a
            // verdict recorded now ends the measured RTO when verification really ended.
            let verified_at = Timestamp::now().max(now);
            let step =
                self.restore_test_step(valid, last.as_ref(), &snapshot, &records, verified_at);
            let soon = now.checked_add(STEP_INTERVAL).ok();
            match step {
                RestoreTestStep::Idle { next_due } => step_deadline = Some(next_due),
                RestoreTestStep::CreateSandbox {
                    source, sandbox, ..
                } => {
                    apply_once = velero_desired::sandbox_objects(&owner, &name, &source, &sandbox);
                    step_deadline = soon;
                }
                RestoreTestStep::StartRestore {
                    backup,
                    source,
                    sandbox,
                    due,
                } => {
                    let restore = velero_desired::restore_object(
                        &owner, valid, &backup, &source, &sandbox, due,
                    );
                    // The measured RTO starts here, on this clock, to the nanosecond.
                    apply_once.push(velero_desired::created_at(restore, Timestamp::now()));
                    events.push(PlannedEvent {
                        warning: false,
                        reason: crate::conditions::Reason::RestoreTestStarted.as_str(),
                        action: "RestoreTest",
                        note: format!(
                            "restoring backup {backup} of namespace {source} into sandbox {sandbox}"
                        ),
                    });
                    step_deadline = soon;
                }
                // The Restore's watch events bring its end; the RTO bounds the wait.
                RestoreTestStep::Waiting { until, .. } => step_deadline = until,
                // `prepare` fetches the records; it failed (Ready says why) and backs off.
                RestoreTestStep::Verify { .. } => {}
                RestoreTestStep::Record(result) => {
                    events.push(result_event(&result));
                    last = Some(result);
                    step_deadline = soon;
                }
                RestoreTestStep::DeleteSandbox { sandbox } => {
                    delete.push((OwnedKind::Namespace, None, sandbox));
                    step_deadline = soon;
                }
            }
        }
        // The per-namespace part from the incremental engine: only the namespaces changed
        // since the last pass are judged again (a relabel is one namespace, not the cluster).
        let velero_read = snapshot.velero.installed && snapshot.velero.unreadable.is_none();
        let parts = reads
            .stores
            .engine
            .backup_policy_by(&name, valid, velero_read, now);
        let evaluation = backup::evaluate_with(&name, valid, last.as_ref(), &snapshot, now, parts);
        let mut plan = Plan::report_only(
            evaluation,
            BackupPolicyExtraStatus {
                last_restore_test: last,
            },
        );
        plan.scope = planned_scope(scope, velero_namespace);
        plan.apply_once = apply_once;
        plan.delete = delete;
        plan.events = events;
        plan.next_deadline = [backup::next_deadline(valid, &snapshot, now), step_deadline]
            .into_iter()
            .flatten()
            .min();
        if !snapshot.velero.installed && snapshot.velero.unreadable.is_none() {
            plan.not_ready = Some((
                Reason::VeleroNotInstalled,
                "the velero.io/v1 API is not served; install Velero (the policy recovers by itself)".into(),
            ));
            return plan;
        }
        if !velero_deployed {
            // Velero's CRDs exist but not its namespace: nothing could run a Schedule there.
            // Said before a refused list: without the namespace the chart grants no Velero
            // Role, so "forbidden" would hide what is missing.
            plan.not_ready = Some((
                Reason::VeleroNamespaceMissing,
                format!(
                    "Velero is not deployed: namespace `{velero_namespace}` (the operator's --velero-namespace) does not exist; install Velero there, then upgrade the operator's Helm release so that it grants the operator its Velero Role (the policy recovers by itself)"
                ),
            ));
            return plan;
        }
        if let Some(why) = &snapshot.velero.unreadable {
            plan.not_ready = Some((Reason::VeleroForbidden, why.clone()));
            return plan;
        }
        if valid.mode == Mode::Enforce {
            let namespaces = plan.evaluation.namespaces.clone();
            plan.desired
                .extend(velero_desired::schedule(&owner, valid, &namespaces));
            if valid.restore_test.is_some() {
                // Referenced by every test Restore: restored workloads start with no pods.
                plan.desired
                    .push(velero_desired::resource_modifiers(&owner, valid));
            }
        }
        plan
    }
}

impl BackupPolicy {
    /// The restore test's next step: Enforce with `restoreTest` runs tests; Audit, or an RTO
    /// without `restoreTest`, judges the restores others ran.
    fn restore_test_step(
        &self,
        valid: &ValidBackupPolicy,
        last: Option<&RestoreTestResult>,
        snapshot: &crate::snapshot::Snapshot,
        records: &crate::vocabulary::velero_records::VeleroRecords,
        now: Timestamp,
    ) -> RestoreTestStep {
        match (valid.mode, valid.restore_test.is_some()) {
            (Mode::Enforce, true) => velero_desired::plan_restore_test(
                &self.name_any(),
                valid,
                last,
                snapshot,
                records,
                now,
            ),
            _ => velero_desired::judge_existing_restores(valid, last, snapshot, records, now),
        }
    }
}

/// The namespaces a pass over `scope` writes, prunes and reports. The evaluation always judges
/// every selected namespace (it is small: one finding per namespace at most per control), but
/// rendering every namespace's report in every pass is not: a namespace's own change (its
/// labels, a sandbox's quarantine) changes its own findings and the Schedule in Velero's
/// namespace alone, so such a pass covers those two. (A change in Velero's namespace reaches
/// the pass as every namespace already: see `widen`.) Applied to its own answer it gives the
/// same: a pass that enforces again for namespaces changed meanwhile plans it again.
fn planned_scope(scope: &Scope, velero_namespace: &str) -> Scope {
    match scope {
        Scope::Namespaces(names) => {
            let mut names = names.clone();
            names.insert(velero_namespace.to_string());
            Scope::Namespaces(names)
        }
        Scope::All => Scope::All,
    }
}

/// BackupPolicy's own status beside the shared fields.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct BackupPolicyExtraStatus {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_restore_test: Option<RestoreTestResult>,
}

fn result_event(result: &RestoreTestResult) -> PlannedEvent {
    let passed = result.result == "Passed";
    let clock = match result.measured_by {
        Some(MeasuredBy::Operator) => " (operator's clock)",
        Some(MeasuredBy::Velero) => " (Velero's timestamps, to the second)",
        None => "",
    };
    let note = format!(
        "restore test of backup {} {}: {} items in {}{clock}{}",
        result.backup,
        if passed { "passed" } else { "failed" },
        result.items.unwrap_or(0),
        result.duration,
        if result.message.is_empty() {
            String::new()
        } else {
            format!(" ({})", result.message)
        },
    );
    PlannedEvent {
        warning: !passed,
        reason: crate::conditions::Reason::RestoreTestFinished.as_str(),
        action: "RestoreTest",
        note,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn policy() -> BackupPolicy {
        serde_json::from_value(serde_json::json!({
            "apiVersion": "security.baseline.dev/v1alpha1", "kind": "BackupPolicy",
            "metadata": {"name": "bp"},
            "spec": {"namespaceSelector": {"matchLabels": {"backup": "daily"}}, "rpo": "24h"},
        }))
        .unwrap()
    }

    #[test]
    fn a_namespaces_own_change_plans_it_and_velero_a_change_in_velero_plans_everything() {
        let names = |n: &[&str]| Scope::Namespaces(n.iter().map(|s| s.to_string()).collect());
        let shop = planned_scope(&names(&["shop"]), "velero");
        assert_eq!(
            shop,
            names(&["shop", "velero"]),
            "the Schedule listing the namespace lives in Velero's namespace"
        );
        // A pass that enforces again plans its own answer again: the same namespaces, not
        // every one.
        assert_eq!(planned_scope(&shop, "velero"), shop);
        assert_eq!(planned_scope(&Scope::All, "velero"), Scope::All);
        // What makes a pass whole is a change in Velero's namespace, as the triggers record it.
        let bp = policy();
        assert_eq!(bp.widen(names(&["shop"])), names(&["shop"]));
        assert_eq!(bp.widen(names(&["shop", "velero"])), Scope::All);
        assert_eq!(bp.widen(names(&["velero"])), Scope::All);
        assert_eq!(bp.widen(Scope::All), Scope::All);
    }

    #[test]
    fn a_tenants_pods_ingresses_and_cluster_rbac_do_not_wake_a_backup_policy() {
        let bp = policy();
        let velero = bp.spec.velero_namespace().to_string();
        for kind in [
            "Pod",
            "Ingress",
            "Deployment",
            "Secret",
            "RoleBinding",
            "Service",
        ] {
            assert!(!bp.reads(kind, Some("shop")), "{kind}");
        }
        for kind in ["ClusterRole", "ClusterRoleBinding", "StorageClass"] {
            assert!(!bp.reads(kind, None), "{kind}");
        }
        // What it does read: namespaces (selection, sandboxes), a sandbox's quarantine, and
        // anything in Velero's namespace; a cluster-scoped change of another kind.
        assert!(bp.reads("Namespace", Some("shop")));
        let sandbox = format!("{}shop-1", crate::vocabulary::labels::RESTORE_TEST_PREFIX);
        assert!(bp.reads("NetworkPolicy", Some(&sandbox)));
        // Not the NetworkPolicies a SecurityBaseline or an isolation writes elsewhere.
        assert!(!bp.reads("NetworkPolicy", Some("shop")));
        assert!(bp.reads("Schedule", Some(&velero)));
        assert!(bp.reads("ConfigMap", Some(&velero)));
        assert!(bp.reads("EnvironmentIsolation", None));
    }
}
