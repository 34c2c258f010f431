//! The publish step of a pass: what the pass found and did, told once each where auditors
//! and platform teams read it (events, the evidence history, metrics, status), and when to
//! look again. The status itself is composed by a pure function ([`compose_status`]).

use super::carry_out::{CarriedOut, Evidence, Failed};
use super::context::Context;
use super::reconciler::{Observed, Reconciled};
use super::scope::Scope;
use super::{Error, apply, status};
use crate::api::{ComplianceStatus, ControlState, Exemption};
use crate::catalog::ControlKind;
use crate::conditions::Reason;
use crate::desired::OwnedKind;
use crate::evaluate::{self, Evaluation};
use crate::telemetry::stopwatch::Stopwatch;
use crate::validate::InvalidSpec;
use jiff::Timestamp;
use kube::api::{Patch, PatchParams};
use kube::runtime::controller::Action;
use kube::{Api, ResourceExt};
use serde::Serialize;
use serde_json::{Map, Value};
use std::collections::BTreeSet;
use std::time::Duration;

/// How soon to look again when a repair lost a race with another writer.
pub const RETRY_SOON: Duration = Duration::from_secs(2);

/// Event notes stay well under the API's 1 KiB limit, whatever names they carry.
pub const MAX_NOTE_BYTES: usize = 512;

/// Publishes a pass that carried its plan out (some writes may have failed: Ready names
/// them, and the retry backs off).
pub async fn published<K: Reconciled>(
    resource: &K,
    ctx: &Context,
    pass: &Observed,
    carried: CarriedOut<K::ExtraStatus>,
    fetched: Result<(), Error>,
) -> Result<Action, Error> {
    let CarriedOut {
        plan,
        mut owned,
        mut labels,
        mut watch,
        evidence,
    } = carried;
    let now = pass.now;
    let published = match evidence {
        Evidence::New(seen) => seen,
        Evidence::Standing => return Ok(standing(ctx, pass, &plan.scope, watch)),
    };
    // Writes that failed for some objects: the evaluation (which reads the live cluster, so
    // it already shows where enforcement is missing) is still recorded, Ready turns False
    // naming them, and the retry backs off.
    let mut failed = std::mem::take(&mut owned.failed);
    failed.append(&mut labels.failed);
    let partial = (!failed.is_empty()).then(|| Error::Partial(failed));
    announce_repairs(ctx, pass, &owned, &labels).await;
    for event in &plan.events {
        ctx.event(
            &pass.reference,
            event.warning,
            event.reason,
            event.action,
            event.note.clone(),
        )
        .await;
    }
    announce(ctx, resource, &pass.old, &plan.evaluation).await;

    // Why Ready is False although the evaluation ran, in the order the last one wins.
    let mut blockers: Vec<(Reason, String)> = Vec::new();
    blockers.extend(plan.not_ready.clone());
    // Inputs fetched on request that could not be had (Velero not answering): the plan waits
    // for them and Ready says why. Not an error: the next resync asks again, only reading, so
    // a cluster whose Velero never answers sees no write loop and no event per retry.
    if let Err(error) = &fetched {
        tracing::warn!(%error, "an input fetched on request is missing");
        blockers.push((error.reason(), bounded(error.to_string())));
    }
    let reads_velero = K::KIND != ControlKind::SecurityBaseline;
    let stale = ctx
        .reads
        .stores
        .watch_health
        .failing_beyond(ctx.watch_grace, reads_velero);
    if let Some(message) = stale {
        blockers.push((Reason::WatchFailing, bounded(message)));
    }
    if let Some(error) = &partial {
        let message = bounded(error.to_string());
        blockers.push((error.reason(), message.clone()));
        ctx.event(
            &pass.reference,
            true,
            error.reason().as_str(),
            "Reconcile",
            message,
        )
        .await;
    }
    let mut new = compose_status(pass, &plan.evaluation, ctx.evaluated_refresh, &blockers);
    if let Some(message) = record_history(resource, ctx, pass, &new).await {
        let reason = Reason::HistoryUnavailable.as_str();
        new = status::not_ready(new, &pass.old, reason, &message, pass.generation, now);
    }
    ctx.metrics
        .compliance
        .evaluated(&crate::telemetry::compliance::Evaluated {
            kind: K::KIND.as_str(),
            resource: &pass.owner.name,
            controls: &new.controls,
            at: now.as_second(),
            failing_watches: ctx.reads.stores.watch_health.kinds_beyond(ctx.watch_grace),
        });
    // Back in time for the next refresh of "evaluated at", even with a longer resync.
    let refresh_in = refresh_due(&new, now, ctx.evaluated_refresh);
    write_status(ctx, resource, new, plan.extra_status).await?;
    watch.lap("status");
    tracing::debug!(laps = %watch, "pass done");
    let (uid, generation) = (&pass.owner.uid, pass.generation);
    if let Some(error) = partial {
        ctx.scopes
            .ended(uid, generation, &plan.scope, false, now, None);
        return Err(error);
    }
    let mut next = next_check(resource.exemptions(), plan.next_deadline, now, ctx.resync)
        .min(refresh_in.max(RETRY_SOON));
    if owned.retry_soon {
        next = next.min(RETRY_SOON);
    }
    // A narrower pass keeps the whole pass's due time, and comes back for it.
    let whole_due = now.checked_add(next).unwrap_or(now);
    ctx.scopes.ended(
        uid,
        generation,
        &plan.scope,
        !owned.retry_soon,
        whole_due,
        Some(published),
    );
    if let Some(due) = ctx.scopes.whole_due(uid)
        && let Ok(until) = Duration::try_from(due.duration_since(now))
    {
        next = next.min(until.max(Duration::from_millis(100)));
    }
    Ok(Action::requeue(next))
}

/// Ends a pass whose evidence stands (see [`Evidence::Standing`]): it enforced its
/// namespaces and wrote nothing, so status, reports, events, history and metrics keep what
/// the pass that judged its changes published. It comes back when the whole pass is due.
fn standing(ctx: &Context, pass: &Observed, scope: &Scope, mut watch: Stopwatch) -> Action {
    watch.lap("status");
    tracing::debug!(laps = %watch, "pass done");
    let uid = &pass.owner.uid;
    let due = ctx.scopes.whole_due(uid).unwrap_or(pass.now);
    ctx.scopes
        .ended(uid, pass.generation, scope, true, due, None);
    let until = Duration::try_from(due.duration_since(pass.now)).unwrap_or(ctx.resync);
    Action::requeue(until.max(Duration::from_millis(100)))
}

/// Publishes a pass whose plan could not be carried out: Ready says why, an event too, and
/// the error backs the retry off.
pub async fn failed<K: Reconciled>(
    resource: &K,
    ctx: &Context,
    pass: &Observed,
    failed: Failed,
) -> Result<Action, Error> {
    let Failed { error, scope } = failed;
    let (now, generation) = (pass.now, pass.generation);
    ctx.scopes
        .ended(&pass.owner.uid, generation, &scope, false, now, None);
    let reason = error.reason().as_str();
    let status = status::failed_status(&pass.old, reason, &error.to_string(), generation, now);
    write_status(ctx, resource, status, resource.extra_status()).await?;
    ctx.event(
        &pass.reference,
        true,
        reason,
        "Reconcile",
        error.to_string(),
    )
    .await;
    Err(error)
}

/// A spec only the operator could judge invalid: status says which fields and why, owned
/// objects stay as the last valid spec left them, and nothing is retried until the resource
/// changes (a timer would only find the same spec again).
pub async fn rejected<K: Reconciled>(
    resource: &K,
    ctx: &Context,
    pass: &Observed,
    invalid: &InvalidSpec,
) -> Result<Action, Error> {
    let message = invalid.to_string();
    tracing::info!(%message, "spec invalid; waiting for a change");
    let new = status::invalid_status(&pass.old, &message, pass.generation, pass.now);
    let announced = pass.old.conditions.iter().any(|c| {
        c.type_ == crate::conditions::ConditionType::Ready.name()
            && c.reason == status::INVALID
            && c.message == new.conditions[0].message
    });
    write_status(ctx, resource, new, resource.extra_status()).await?;
    if !announced {
        ctx.event(
            &pass.reference,
            true,
            status::INVALID,
            "Validate",
            bounded(message),
        )
        .await;
    }
    Ok(Action::await_change())
}

/// Pure: the status a pass writes: its evaluation, with Ready turned False by each of
/// `blockers` (reason, message) in turn, so the last one is what Ready says.
pub fn compose_status(
    pass: &Observed,
    evaluation: &Evaluation,
    evaluated_refresh: Duration,
    blockers: &[(Reason, String)],
) -> ComplianceStatus {
    let (old, generation, now) = (&pass.old, pass.generation, pass.now);
    let new = status::compliance_status(old, evaluation, generation, now, evaluated_refresh);
    blockers.iter().fold(new, |new, (reason, message)| {
        status::not_ready(new, old, reason.as_str(), message, generation, now)
    })
}

/// How long until status must say again that an unchanged result was evaluated.
fn refresh_due(new: &ComplianceStatus, now: Timestamp, evaluated_refresh: Duration) -> Duration {
    new.scope
        .as_ref()
        .and_then(|s| s.evaluated_at.as_ref())
        .and_then(|at| {
            let due = at.0.checked_add(evaluated_refresh).ok()?;
            Duration::try_from(due.duration_since(now)).ok()
        })
        .unwrap_or(evaluated_refresh)
}

/// Appends the pass's control results to the evidence history, when one is configured.
/// Appended before status is written: a control status shows is always in the chain (a
/// failed status write is retried; the chain already holds the evaluation). Returns why it
/// could not be written.
async fn record_history<K: Reconciled>(
    resource: &K,
    ctx: &Context,
    pass: &Observed,
    new: &ComplianceStatus,
) -> Option<String> {
    let history = ctx.history.as_ref()?;
    let recorded = history
        .record(
            super::history::resource_ref(K::KIND.as_str(), &pass.owner.name),
            pass.generation,
            spec_hash(resource),
            &new.controls,
            resource.exemptions(),
            pass.now,
        )
        .await;
    ctx.metrics
        .compliance
        .history_written(recorded.is_ok(), pass.now.as_second());
    let error = recorded.err()?;
    tracing::warn!(%error, "writing the evidence history");
    Some(bounded(format!(
        "the evidence history at {} could not be written: {error}",
        history.describe()
    )))
}

/// Only drift is announced: a first apply, a new namespace or a changed spec is not. Each
/// event names the restored object, and its action what was done, so that the recorder's
/// series (one per reason, action and objects) never mixes two different repairs.
async fn announce_repairs(
    ctx: &Context,
    pass: &Observed,
    owned: &apply::OwnedOutcome,
    labels: &apply::LabelOutcome,
) {
    for r in &owned.restored {
        let (how, action) = if r.deleted {
            ("deleted", "Recreate")
        } else {
            ("edited", "Replace")
        };
        let object = apply::reference(r.kind, r.namespace.as_deref(), &r.name);
        ctx.event_related(
            &pass.reference,
            Some(object_reference(r.kind, r.namespace.as_deref(), &r.name)),
            true,
            Reason::Restored.as_str(),
            action,
            bounded(format!(
                "{object} was {how} by hand and has been restored after drift"
            )),
        )
        .await;
    }
    for (namespace, keys) in &labels.restored {
        tracing::info!(namespace, keys = %keys.join(","), "restored namespace labels changed by hand");
        ctx.event_related(
            &pass.reference,
            Some(object_reference(OwnedKind::Namespace, None, namespace)),
            true,
            Reason::Restored.as_str(),
            "Relabel",
            bounded(format!(
                "labels the operator set on Namespace {namespace} were changed by hand and have been restored after drift"
            )),
        )
        .await;
    }
}

/// The SHA-256 of the resource's spec as canonical JSON: which policy text was applied.
fn spec_hash<K: Reconciled>(resource: &K) -> String {
    let spec = serde_json::to_value(resource)
        .ok()
        .and_then(|mut v| v.get_mut("spec").map(serde_json::Value::take))
        .unwrap_or_default();
    crate::history::spec_hash(&spec)
}

fn object_reference(
    kind: OwnedKind,
    namespace: Option<&str>,
    name: &str,
) -> k8s_openapi::api::core::v1::ObjectReference {
    let resource = kind.api_resource();
    k8s_openapi::api::core::v1::ObjectReference {
        api_version: Some(resource.api_version),
        kind: Some(resource.kind),
        namespace: namespace.map(str::to_string),
        name: Some(name.to_string()),
        ..Default::default()
    }
}

fn bounded(mut note: String) -> String {
    if note.len() > MAX_NOTE_BYTES {
        let mut end = MAX_NOTE_BYTES - 3;
        while !note.is_char_boundary(end) {
            end -= 1;
        }
        note.truncate(end);
        note.push_str("...");
    }
    note
}

/// Events for control state changes and for notices, each once per change.
async fn announce<K: Reconciled>(
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
        // Events about a cluster-scoped resource land in `default`, which tenants may read:
        // a confidential finding (a Secret matching production data) is never named there.
        let note = match control.failed.iter().find(|v| !v.confidential) {
            Some(v) => format!(
                "{} is {:?}: {} {}: {}",
                control.id, control.state, v.object.kind, v.object.name, v.message
            ),
            None if !control.failed.is_empty() => format!(
                "{} is {:?}: {} findings, listed in status",
                control.id,
                control.state,
                control.failed.len()
            ),
            None => format!("{} is {:?}", control.id, control.state),
        };
        ctx.event(
            &reference,
            control.state == ControlState::Fail,
            Reason::ControlStateChanged.as_str(),
            "Evaluate",
            note,
        )
        .await;
    }
    let uid = resource.meta().uid.clone().unwrap_or_default();
    let notices: BTreeSet<String> = evaluation
        .notices
        .iter()
        .map(|n| format!("{}\u{0}{}", n.reason, n.message))
        .collect();
    for notice in ctx.unannounced(&uid, notices) {
        let (reason, message) = notice
            .split_once('\u{0}')
            .unwrap_or(("Notice", notice.as_str()));
        ctx.event(&reference, true, reason, "Evaluate", message.to_string())
            .await;
    }
}

/// The status object: the shared fields and the kind's own. A status that does not serialize
/// to an object is an error, never a skipped write.
fn status_object(
    compliance: &ComplianceStatus,
    extra: &impl Serialize,
) -> Result<Map<String, Value>, Error> {
    let object = |value: serde_json::Result<Value>| match value {
        Ok(Value::Object(map)) => Ok(map),
        Ok(other) => Err(Error::StatusSerialize(format!(
            "status is not an object: {other}"
        ))),
        Err(error) => Err(Error::StatusSerialize(error.to_string())),
    };
    let mut status = object(serde_json::to_value(compliance))?;
    status.extend(object(serde_json::to_value(extra))?);
    Ok(status)
}

/// Writes status with server-side apply, and only when it differs from the stored one.
async fn write_status<K: Reconciled>(
    ctx: &Context,
    resource: &K,
    compliance: ComplianceStatus,
    extra: K::ExtraStatus,
) -> Result<(), Error> {
    let status = status_object(&compliance, &extra)?;
    let old = serde_json::to_value(resource)
        .map_err(|e| Error::StatusSerialize(e.to_string()))?
        .get("status")
        .cloned()
        .unwrap_or_default();
    if Value::Object(status.clone()) == old {
        return Ok(());
    }
    let body = serde_json::json!({
        "apiVersion": K::api_version(&()),
        "kind": K::kind(&()),
        "status": status,
    });
    // Its watch event echoes this write: it wakes no reconcile of the resource (see
    // `controller`), which already judged what it wrote. Recorded before the write is sent:
    // the event may come back before the answer.
    if let Some(uid) = resource.meta().uid.as_deref() {
        ctx.reads
            .stores
            .echoes
            .writing_status(uid, Value::Object(status.clone()));
    }
    let api: Api<K> = Api::all(ctx.client.clone());
    let (name, params) = (
        resource.name_any(),
        PatchParams::apply(apply::FIELD_MANAGER).force(),
    );
    let patch = Patch::Apply(&body);
    ctx.writes
        .write(|| api.patch_status(&name, &params, &patch))
        .await
        .map_err(Error::Status)?;
    ctx.metrics.write(K::KIND.as_str(), "status");
    Ok(())
}

/// When to look again: the next exemption expiry or warning threshold, a kind's own deadline,
/// or the resync period, whichever comes first.
pub fn next_check(
    exemptions: &[Exemption],
    deadline: Option<Timestamp>,
    now: Timestamp,
    resync: Duration,
) -> Duration {
    let warn = jiff::SignedDuration::from_hours(24 * evaluate::exemptions::EXPIRY_WARNING_DAYS);
    exemptions
        .iter()
        .filter_map(evaluate::exemptions::expiry)
        .flat_map(|expiry| [expiry, expiry.checked_sub(warn).unwrap_or(expiry)])
        .chain(deadline)
        .filter(|t| *t > now)
        .map(|t| now.duration_until(t).unsigned_abs())
        .min()
        .map_or(resync, |d| d.min(resync) + Duration::from_secs(1))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Ready says the last thing that kept the pass from being whole, and what the evaluation
    /// proved (the controls) is written whatever Ready says.
    #[test]
    fn status_keeps_the_evaluation_and_ready_says_the_last_blocker() {
        use crate::catalog::ControlId;
        use crate::evaluate::ControlOutcome;
        let now: Timestamp = "2030-01-01T00:00:00Z".parse().unwrap();
        let pass = Observed {
            now,
            old: ComplianceStatus::default(),
            generation: Some(4),
            owner: crate::desired::Owner {
                api_version: "security.baseline.dev/v1alpha1".into(),
                kind: "SecurityBaseline".into(),
                name: "sb".into(),
                uid: "u".into(),
            },
            reference: Default::default(),
        };
        let evaluation = Evaluation::new(
            &crate::evaluate::ObjectRef::default(),
            vec!["shop".into()],
            vec![ControlOutcome::checked(ControlId::TrustedImages, 1, vec![])],
            &[],
            now,
        );
        let day = Duration::from_secs(86_400);
        let ready = |status: &ComplianceStatus| {
            let c = status
                .conditions
                .iter()
                .find(|c| c.type_ == "Ready")
                .unwrap();
            (c.status.clone(), c.reason.clone(), c.message.clone())
        };
        let whole = compose_status(&pass, &evaluation, day, &[]);
        assert_eq!(ready(&whole).0, "True");
        let blocked = compose_status(
            &pass,
            &evaluation,
            day,
            &[
                (Reason::VeleroForbidden, "first".into()),
                (Reason::WatchFailing, "second".into()),
            ],
        );
        assert_eq!(
            ready(&blocked),
            ("False".into(), "WatchFailing".into(), "second".into())
        );
        assert_eq!(blocked.controls, whole.controls);
        assert_eq!(blocked.observed_generation, Some(4));
    }

    #[test]
    fn event_notes_are_bounded_on_a_char_boundary() {
        let short = "NetworkPolicy a/b was edited by hand".to_string();
        assert_eq!(bounded(short.clone()), short);
        let long = format!("labels {}", "é".repeat(2000));
        let note = bounded(long);
        assert!(note.len() <= MAX_NOTE_BYTES);
        assert!(note.ends_with("..."));
    }
}
