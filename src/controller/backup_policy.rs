//! BackupPolicy: a Velero Schedule from the RPO, evidence from Velero's objects, and restore
//! tests run step by step (sandbox first, then the Restore, then verification and clean-up).

use super::context::Context;
use super::reconciler::{Plan, Reconciled};
use super::stores::Stores;
use super::{Error, apply};
use crate::api::backup_policy::RestoreTestResult;
use crate::api::{BackupPolicy, ComplianceStatus, Exemption, Mode};
use crate::catalog::ControlKind;
use crate::desired::velero::{self as velero_desired, RestoreTestStep};
use crate::desired::{OwnedKind, Owner};
use crate::evaluate::backup;
use crate::validate::{InvalidSpec, ValidBackupPolicy};
use jiff::{SignedDuration, Timestamp};
use kube::{Resource, ResourceExt};

/// How soon to look again while a restore test is in progress.
const STEP_INTERVAL: SignedDuration = SignedDuration::from_secs(2);

impl Reconciled for BackupPolicy {
    const KIND: ControlKind = ControlKind::BackupPolicy;
    // Restore-test sandboxes and Restores are created and removed step by step, not pruned.
    const MANAGES: &'static [OwnedKind] = &[OwnedKind::VeleroSchedule];
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

    fn selects_namespace(&self, namespace: &str, stores: &Stores) -> bool {
        let velero_namespace = self.spec.velero_namespace();
        namespace == velero_namespace
            || super::namespace_selected(&self.spec.namespace_selector, namespace, stores)
    }

    type Valid = ValidBackupPolicy;

    fn validate(&self, now: Timestamp) -> Result<ValidBackupPolicy, InvalidSpec> {
        crate::validate::backup_policy::validate(&self.spec, now)
    }

    async fn plan(
        &self,
        valid: &ValidBackupPolicy,
        ctx: &Context,
        now: Timestamp,
    ) -> Result<Plan, Error> {
        let snapshot = ctx.stores.snapshot();
        let name = self.name_any();
        let owner = Owner::of(self);
        let mut last = self
            .status
            .as_ref()
            .and_then(|s| s.last_restore_test.clone());
        let mut step_deadline = None;
        let velero_namespace = self.spec.velero_namespace();
        let velero_deployed = snapshot
            .namespaces
            .iter()
            .any(|ns| ns.metadata.name.as_deref() == Some(velero_namespace));
        if self.spec.mode() == Mode::Enforce && snapshot.velero.installed && velero_deployed {
            let step =
                velero_desired::plan_restore_test(&name, valid, last.as_ref(), &snapshot, now);
            match step {
                RestoreTestStep::Idle { next_due } => step_deadline = Some(next_due),
                RestoreTestStep::CreateSandbox {
                    source, sandbox, ..
                } => {
                    for object in velero_desired::sandbox_objects(&owner, &name, &source, &sandbox)
                    {
                        apply::apply_one(ctx, &object).await?;
                    }
                    step_deadline = now.checked_add(STEP_INTERVAL).ok();
                }
                RestoreTestStep::StartRestore {
                    backup,
                    source,
                    sandbox,
                    due,
                } => {
                    let restore = velero_desired::restore_object(
                        &owner, &self.spec, &backup, &source, &sandbox, due,
                    );
                    apply::apply_one(ctx, &restore).await?;
                    ctx.event(
                        &self.object_ref(&()),
                        false,
                        "RestoreTestStarted",
                        "RestoreTest",
                        format!(
                            "restoring backup {backup} of namespace {source} into sandbox {sandbox}"
                        ),
                    )
                    .await;
                    step_deadline = now.checked_add(STEP_INTERVAL).ok();
                }
                RestoreTestStep::Waiting { .. } => {
                    step_deadline = now.checked_add(STEP_INTERVAL).ok()
                }
                RestoreTestStep::Record(result) => {
                    announce_result(ctx, self, &result).await;
                    last = Some(result);
                    step_deadline = now.checked_add(STEP_INTERVAL).ok();
                }
                RestoreTestStep::DeleteSandbox { sandbox } => {
                    apply::delete_one(ctx, OwnedKind::Namespace, None, &sandbox).await?;
                    step_deadline = now.checked_add(STEP_INTERVAL).ok();
                }
            }
        }
        let evaluation = backup::evaluate(&name, valid, last.as_ref(), &snapshot, now);
        let mut plan = Plan::report_only(evaluation);
        if let Some(last) = &last {
            plan.extra_status.insert(
                "lastRestoreTest".into(),
                serde_json::to_value(last).unwrap_or_default(),
            );
        }
        plan.next_deadline = [backup::next_deadline(valid, &snapshot, now), step_deadline]
            .into_iter()
            .flatten()
            .min();
        if let Some(why) = &snapshot.velero.unreadable {
            plan.not_ready = Some(("VeleroForbidden".into(), why.clone()));
            return Ok(plan);
        }
        if !snapshot.velero.installed {
            plan.not_ready = Some((
                "VeleroNotInstalled".into(),
                "the velero.io/v1 API is not served; install Velero (the policy recovers by itself)".into(),
            ));
            return Ok(plan);
        }
        if !velero_deployed {
            // Velero's CRDs exist but not its namespace: nothing could run a Schedule there.
            plan.not_ready = Some((
                "VeleroNamespaceMissing".into(),
                format!(
                    "namespace `{velero_namespace}` does not exist; deploy Velero there or set spec.velero.namespace"
                ),
            ));
            return Ok(plan);
        }
        if self.spec.mode() == Mode::Enforce {
            let namespaces = plan.evaluation.namespaces.clone();
            plan.desired
                .extend(velero_desired::schedule(&owner, valid, &namespaces));
        }
        Ok(plan)
    }
}

async fn announce_result(ctx: &Context, policy: &BackupPolicy, result: &RestoreTestResult) {
    let passed = result.result == "Passed";
    let note = format!(
        "restore test of backup {} {}: {} items in {}s{}",
        result.backup,
        if passed { "passed" } else { "failed" },
        result.items.unwrap_or(0),
        result.duration_seconds.unwrap_or(0),
        if result.message.is_empty() {
            String::new()
        } else {
            format!(" ({})", result.message)
        },
    );
    ctx.event(
        &policy.object_ref(&()),
        !passed,
        "RestoreTestFinished",
        "RestoreTest",
        note,
    )
    .await;
}
