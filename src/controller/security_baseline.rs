//! Reconciles a SecurityBaseline: evaluate, enforce (Enforce mode), write evidence.

use super::context::Context;
use super::stores::Stores;
use super::{Error, apply, status};
use crate::api::{ComplianceStatus, Mode, SecurityBaseline};
use crate::catalog::ControlKind;
use crate::desired::{self, OwnedKind, Owner};
use crate::evaluate::{self, Evaluation};
use jiff::Timestamp;
use kube::api::{Patch, PatchParams};
use kube::runtime::controller::Action;
use kube::runtime::finalizer::{self, Event as Finalizer};
use kube::{Api, Resource, ResourceExt};
use std::collections::BTreeMap;
use std::sync::Arc;

pub const FINALIZER: &str = "security.baseline.dev/cleanup";
/// Marks namespaces that carry Pod Security labels set by a SecurityBaseline (value: its uid).
pub const PSA_MARKER: &str = "security.baseline.dev/pod-security-from";
const MANAGES: &[OwnedKind] = &[
    OwnedKind::NetworkPolicy,
    OwnedKind::ValidatingAdmissionPolicy,
    OwnedKind::ValidatingAdmissionPolicyBinding,
];

pub fn selects_namespace(sb: &SecurityBaseline, namespace: &str, stores: &Stores) -> bool {
    super::namespace_selected(&sb.spec.namespace_selector, namespace, stores)
}

#[tracing::instrument(skip_all, fields(kind = "SecurityBaseline", name = %sb.name_any()))]
pub async fn reconcile(sb: Arc<SecurityBaseline>, ctx: Arc<Context>) -> Result<Action, Error> {
    let kind = ControlKind::SecurityBaseline.as_str();
    let label = crate::telemetry::KindLabel { kind: kind.into() };
    ctx.metrics.reconciles.get_or_create(&label).inc();
    let started = std::time::Instant::now();
    let api: Api<SecurityBaseline> = Api::all(ctx.client.clone());
    let result = finalizer::finalizer(&api, FINALIZER, sb, |event| async {
        match event {
            Finalizer::Apply(sb) => apply_baseline(&sb, &ctx).await,
            Finalizer::Cleanup(sb) => cleanup(&sb, &ctx).await,
        }
    })
    .await
    .map_err(|e| match e {
        finalizer::Error::ApplyFailed(e) | finalizer::Error::CleanupFailed(e) => e,
        other => Error::Finalizer(other.to_string()),
    });
    ctx.metrics
        .duration
        .get_or_create(&label)
        .observe(started.elapsed().as_secs_f64());
    if let Err(error) = &result {
        ctx.metrics
            .failures
            .get_or_create(&crate::telemetry::ErrorLabels {
                kind: kind.into(),
                reason: error.reason().into(),
            })
            .inc();
    }
    result
}

async fn apply_baseline(sb: &SecurityBaseline, ctx: &Context) -> Result<Action, Error> {
    let now = Timestamp::now();
    let snapshot = ctx.stores.snapshot();
    let evaluation = evaluate::security_baseline::evaluate(&sb.spec, &snapshot, now);
    let old = sb.status.clone().unwrap_or_default();
    let owner = Owner::of(sb);
    let enforce = sb.spec.mode() == Mode::Enforce;
    let mut desired = Vec::new();
    let mut labels = BTreeMap::new();
    if enforce {
        if let Some(network) = &sb.spec.network {
            desired.extend(desired::network_policy::restricted_ports(
                &owner,
                network,
                &evaluation.namespaces,
            ));
        }
        desired.extend(desired::admission::security_baseline(
            &owner, &sb.spec, &snapshot, now,
        ));
        if let Some(pod_security) = &sb.spec.pod_security {
            let wanted = desired::pod_security_labels::labels(pod_security);
            for ns in &evaluation.namespaces {
                labels.insert(ns.clone(), wanted.clone());
            }
        }
    }
    let applied_before = old.observed_generation.is_some();
    let enforced = async {
        let restored =
            apply::reconcile_owned(ctx, &owner.uid, &desired, MANAGES, applied_before).await?;
        apply::reconcile_namespace_labels(ctx, &owner.uid, PSA_MARKER, &labels).await?;
        Ok::<_, Error>(restored)
    }
    .await;
    let reference = sb.object_ref(&());
    let restored = match enforced {
        Ok(restored) => restored,
        Err(error) => {
            let failed = status::failed_status(
                &old,
                error.reason(),
                &error.to_string(),
                sb.metadata.generation,
                now,
            );
            write_status(ctx, sb, &old, failed).await?;
            ctx.event(
                &reference,
                true,
                error.reason(),
                "Enforce",
                error.to_string(),
            )
            .await;
            return Err(error);
        }
    };
    for r in restored {
        let how = if r.deleted { "deleted" } else { "edited" };
        ctx.event(
            &reference,
            true,
            "Restored",
            "Enforce",
            format!(
                "{} was {how} by hand and has been restored",
                apply::reference(r.kind, r.namespace.as_deref(), &r.name)
            ),
        )
        .await;
    }
    let new = status::compliance_status(&old, &evaluation, sb.metadata.generation, now);
    announce(ctx, sb, &old, &evaluation).await;
    write_status(ctx, sb, &old, new).await?;
    Ok(Action::requeue(next_check(
        &sb.spec.exemptions,
        now,
        ctx.resync,
    )))
}

/// Events for control state changes and for exemption notices, each once per change.
pub async fn announce<K: Resource<DynamicType = ()>>(
    ctx: &Context,
    resource: &K,
    old: &ComplianceStatus,
    evaluation: &Evaluation,
) {
    let reference = resource.object_ref(&());
    for control in &evaluation.controls {
        let before = old
            .controls
            .iter()
            .find(|c| c.id == control.id)
            .map(|c| c.state);
        if before == Some(control.state) {
            continue;
        }
        let warning = control.state == crate::api::ControlState::Fail;
        let note = match control.failed.first() {
            Some(v) => format!(
                "{} is {:?}: {} {}: {}",
                control.id, control.state, v.object.kind, v.object.name, v.message
            ),
            None => format!("{} is {:?}", control.id, control.state),
        };
        ctx.event(&reference, warning, "ControlStateChanged", "Evaluate", note)
            .await;
    }
    let uid = resource.meta().uid.clone().unwrap_or_default();
    let notices: std::collections::BTreeSet<String> = evaluation
        .notices
        .iter()
        .map(|n| format!("{}\u{0}{}", n.reason, n.message))
        .collect();
    for notice in ctx.unannounced(&uid, notices) {
        let (reason, message) = notice.split_once('\u{0}').unwrap_or(("Notice", &notice));
        ctx.event(&reference, true, reason, "Evaluate", message.to_string())
            .await;
    }
}

/// Writes status only when it differs from what the API server holds.
pub async fn write_status(
    ctx: &Context,
    sb: &SecurityBaseline,
    old: &ComplianceStatus,
    new: ComplianceStatus,
) -> Result<(), Error> {
    if &new == old {
        return Ok(());
    }
    tracing::debug!(old = %serde_json::to_string(old).unwrap_or_default(), new = %serde_json::to_string(&new).unwrap_or_default(), "status changed");
    let api: Api<SecurityBaseline> = Api::all(ctx.client.clone());
    // Server-side apply, so that fields absent from `new` are removed rather than merged.
    let body = serde_json::json!({
        "apiVersion": SecurityBaseline::api_version(&()),
        "kind": SecurityBaseline::kind(&()),
        "status": new,
    });
    api.patch_status(
        &sb.name_any(),
        &PatchParams::apply(apply::FIELD_MANAGER).force(),
        &Patch::Apply(&body),
    )
    .await
    .map_err(Error::Status)?;
    ctx.metrics.write("SecurityBaseline", "status");
    Ok(())
}

/// When to look again: the next exemption expiry or warning threshold, or the resync period.
pub fn next_check(
    exemptions: &[crate::api::Exemption],
    now: Timestamp,
    resync: std::time::Duration,
) -> std::time::Duration {
    let warn = jiff::SignedDuration::from_hours(24 * evaluate::exemptions::EXPIRY_WARNING_DAYS);
    exemptions
        .iter()
        .filter_map(evaluate::exemptions::expiry)
        .flat_map(|expiry| [expiry, expiry.checked_sub(warn).unwrap_or(expiry)])
        .filter(|t| *t > now)
        .map(|t| now.duration_until(t).unsigned_abs())
        .min()
        .map_or(resync, |d| {
            d.min(resync) + std::time::Duration::from_secs(1)
        })
}

async fn cleanup(sb: &SecurityBaseline, ctx: &Context) -> Result<Action, Error> {
    let owner = Owner::of(sb);
    apply::reconcile_owned(ctx, &owner.uid, &[], MANAGES, false).await?;
    apply::reconcile_namespace_labels(ctx, &owner.uid, PSA_MARKER, &BTreeMap::new()).await?;
    ctx.forget(&owner.uid);
    Ok(Action::await_change())
}
