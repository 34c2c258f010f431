//! The reconcile loop the three kinds share: finalizer, evaluate, enforce, evidence, events.
//! Each kind only says what it plans ([`Reconciled::plan`], which computes and does nothing);
//! carrying the plan out (applies, deletes, events, status) lives here once.

use super::context::Context;
use super::reads::Reads;
use super::scope::Scope;
use super::{Error, apply, status};
use crate::api::{ComplianceStatus, ControlState, Exemption};
use crate::catalog::ControlKind;
use crate::desired::{DesiredObject, OwnedKind, Owner};
use crate::evaluate::{self, Evaluation};
use crate::validate::InvalidSpec;
use jiff::Timestamp;
use kube::api::{Patch, PatchParams};
use kube::runtime::controller::Action;
use kube::runtime::finalizer::{self, Event as Finalizer};
use kube::{Api, Resource, ResourceExt};
use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::{Map, Value};
use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Debug;
use std::sync::Arc;
use std::time::Duration;

pub const FINALIZER: &str = "security.baseline.dev/cleanup";

/// What one reconcile of a resource wants.
pub struct Plan<Extra> {
    pub evaluation: Evaluation,
    /// Owned objects that must exist (empty in Audit mode).
    pub desired: Vec<DesiredObject>,
    /// Labels the resource wants on namespaces, by namespace (empty in Audit mode).
    pub namespace_labels: BTreeMap<String, BTreeMap<String, String>>,
    /// Annotations the resource writes beside those labels, by namespace (the priors it
    /// records there).
    pub namespace_annotations: BTreeMap<String, BTreeMap<String, String>>,
    /// Kind-specific status fields beside the shared ones.
    pub extra_status: Extra,
    /// Objects to apply once, outside pruning (the steps of a restore test).
    pub apply_once: Vec<DesiredObject>,
    /// Owned objects to delete now, outside pruning: (kind, namespace, name).
    pub delete: Vec<(OwnedKind, Option<String>, String)>,
    /// Events to publish once the plan is carried out.
    pub events: Vec<PlannedEvent>,
    /// The next moment something time-based changes (expiry, RPO deadline), if sooner than
    /// the resync period.
    pub next_deadline: Option<Timestamp>,
    /// Why the resource cannot be fully reconciled although evaluation ran (reason, message),
    /// e.g. Velero not installed: Ready turns False with this reason.
    pub not_ready: Option<(String, String)>,
    /// The namespaces whose owned objects, labels and reports this plan renders: what is
    /// written and pruned. An evidence plan's evaluation and notes judge every namespace; an
    /// enforcement plan's may judge only these (see [`Self::provisional`]).
    pub scope: Scope,
    /// The evaluation is right for what this plan writes but is not evidence: a
    /// [`Stage::Enforcement`] plan judged the pass's own namespaces alone, or left changes
    /// outside [`Self::scope`] to judge later. The pass plans again before reports and status.
    pub provisional: bool,
}

/// Which plan of a pass this is. The first decides what is written, and must be right for the
/// pass's namespaces; it may leave the judgment of other namespaces' changes for later, so
/// that a new namespace's NetworkPolicies do not wait for the hundreds of namespaces its
/// labels also concern. The evidence (reports, status) always comes from a plan that judged
/// everything.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Stage {
    Enforcement,
    Evidence,
}

/// The kind-specific status of a kind that has none beside the shared fields.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct NoExtraStatus {}

/// An event a plan asks for.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PlannedEvent {
    pub warning: bool,
    pub reason: &'static str,
    pub action: &'static str,
    pub note: String,
}

impl<Extra> Plan<Extra> {
    pub fn report_only(evaluation: Evaluation, extra_status: Extra) -> Self {
        Self {
            evaluation,
            desired: Vec::new(),
            namespace_labels: BTreeMap::new(),
            namespace_annotations: BTreeMap::new(),
            extra_status,
            apply_once: Vec::new(),
            delete: Vec::new(),
            events: Vec::new(),
            next_deadline: None,
            not_ready: None,
            scope: Scope::All,
            provisional: false,
        }
    }
}

/// A custom resource kind this operator reconciles.
pub trait Reconciled:
    Resource<DynamicType = ()> + Clone + DeserializeOwned + Serialize + Debug + Send + Sync + 'static
{
    const KIND: ControlKind;
    /// Owned kinds this resource's reconcile creates and prunes.
    const MANAGES: &'static [OwnedKind];
    /// The namespace label marking namespaces that carry this kind's labels.
    const LABEL_MARKER: &'static str;

    /// The spec after [`crate::validate`]: typed values the plan works from.
    type Valid: Send + Sync;
    /// Kind-specific status fields beside the shared ones; serializes to a JSON object.
    type ExtraStatus: Serialize + Send;

    fn compliance(&self) -> ComplianceStatus;
    /// The kind-specific status fields as stored now.
    fn extra_status(&self) -> Self::ExtraStatus;
    fn exemptions(&self) -> &[Exemption];
    /// Whether a namespace named `namespace` with `labels` (None: not known) is in this
    /// resource's reach: changes there concern it.
    fn selects_namespace(&self, namespace: &str, labels: Option<&BTreeMap<String, String>>)
    -> bool;
    /// Whether a change to an object of `kind` (its `Resource::kind`) in `namespace` (None:
    /// cluster-scoped) may change what this resource judges, plans or reports: a change it
    /// does not read does not wake it at all. Every kind unless the kind says otherwise.
    fn reads(&self, _kind: &str, _namespace: Option<&str>) -> bool {
        true
    }
    /// The namespaces a change concerning `scope` (what the triggers recorded) needs a pass
    /// over: a kind whose findings in every namespace depend on objects in one namespace
    /// widens a change there to every namespace. Unchanged unless the kind says otherwise.
    fn widen(&self, scope: Scope) -> Scope {
        scope
    }
    /// The kind reads a namespace only through label selectors (its own and the cluster's, see
    /// `engine::Engine::selectors_read`) and the restore-test sandbox markers: the echo of the
    /// operator's own label write that set only labels and annotations no selector reads (the
    /// Pod Security labels a SecurityBaseline writes) does not wake it. False: every change of
    /// a namespace it selects wakes it.
    const READS_NAMESPACES_THROUGH_SELECTORS: bool = false;
    /// The same validation `audit` runs, plus what only this operator's configuration can
    /// judge (`ctx`); a spec that fails it is not planned at all.
    fn validate(&self, reads: &Reads, now: Timestamp) -> Result<Self::Valid, InvalidSpec>;
    /// Pure: reads the stores and settings through `reads`, writes nothing and publishes
    /// nothing (it has no client). `scope`:
    /// the namespaces changes concerned since the last pass; a kind that cannot narrow its
    /// plan to them plans everything ([`Plan::scope`] says which it did).
    fn plan(
        &self,
        valid: &Self::Valid,
        reads: &Reads,
        scope: &Scope,
        stage: Stage,
        now: Timestamp,
    ) -> Plan<Self::ExtraStatus>;
    /// Fetches, before [`plan`](Self::plan), inputs that exist only on request (what Velero
    /// recorded about a finished restore test) into `ctx`. A failure leaves them missing:
    /// the plan waits for them, Ready says why, and the next resync asks again.
    fn prepare(
        &self,
        _valid: &Self::Valid,
        _ctx: &Context,
        _now: Timestamp,
    ) -> impl std::future::Future<Output = Result<(), Error>> + Send {
        async { Ok(()) }
    }
}

#[tracing::instrument(skip_all, fields(kind = K::KIND.as_str(), name = %resource.name_any()))]
pub async fn reconcile<K: Reconciled>(
    resource: Arc<K>,
    ctx: Arc<Context>,
) -> Result<Action, Error> {
    let kind = K::KIND.as_str();
    let label = crate::telemetry::KindLabel { kind: kind.into() };
    ctx.metrics.reconciles.get_or_create(&label).inc();
    tracing::debug!("reconciling");
    let started = std::time::Instant::now();
    let api: Api<K> = Api::all(ctx.client.clone());
    let result = finalizer::finalizer(&api, FINALIZER, resource, |event| async {
        match event {
            Finalizer::Apply(resource) => apply_resource(&*resource, &ctx).await,
            Finalizer::Cleanup(resource) => cleanup(&*resource, &ctx).await,
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
        tracing::warn!(%error, "reconcile failed");
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

async fn apply_resource<K: Reconciled>(resource: &K, ctx: &Context) -> Result<Action, Error> {
    let now = Timestamp::now();
    let old = resource.compliance();
    let generation = resource.meta().generation;
    let owner = Owner::of(resource);
    let reference = resource.object_ref(&());
    let valid = match resource.validate(&ctx.reads, now) {
        Ok(valid) => valid,
        Err(invalid) => return reject(ctx, resource, &old, &invalid, now).await,
    };
    if ctx.scopes.handled_before(&owner.uid, generation, now) {
        // Woken by changes a pass before this one took and carried out: nothing to do.
        tracing::debug!("the changes that woke this pass were handled by the one before");
        let until_whole = ctx
            .scopes
            .whole_due(&owner.uid)
            .and_then(|due| Duration::try_from(due.duration_since(now)).ok())
            .unwrap_or(ctx.resync);
        return Ok(Action::requeue(until_whole.max(Duration::from_millis(100))));
    }
    let asked = ctx.scopes.take(&owner.uid, generation, now);
    let prepared = resource.prepare(&valid, ctx, now).await;
    let mut watch = crate::telemetry::stopwatch::Stopwatch::start();
    // What this pass covers: what woke it, and the namespaces whose changes arrive while it
    // runs (taken before its evidence, see below).
    let mut scope = asked;
    let enforced = async {
        let (mut plan, mut owned, mut labels) =
            enforce(resource, &valid, ctx, &owner.uid, &scope, now).await?;
        // The plan may cover more than what woke the pass (an isolation's reports where a
        // finding names the namespaces that changed): what it covers is the pass's.
        scope = plan.scope.clone();
        watch.lap("enforce");
        let mut rounds = 1;
        loop {
            // A namespace created while this pass runs is enforced now, before the evidence
            // of the namespaces before it: its protection never waits for reports and status.
            let narrow = rounds < MAX_ENFORCEMENT_ROUNDS && !scope.is_all();
            if narrow && let Some(more) = ctx.scopes.take_more(&owner.uid, generation) {
                tracing::debug!(?more, "enforcing namespaces changed while this pass ran");
                scope.merge(&Scope::Namespaces(more));
                let (next, next_owned, next_labels) =
                    enforce(resource, &valid, ctx, &owner.uid, &scope, now).await?;
                scope = next.scope.clone();
                plan = next;
                owned.absorb(next_owned);
                labels.absorb(next_labels);
                rounds += 1;
                watch.lap("enforce");
                continue;
            }
            // Then the evidence, judged on what is now enforced: when this pass changed it,
            // wait until the stores show the writes and judge again, so that a converging
            // cluster writes each report once, not once before its NetworkPolicies and once
            // after.
            let changed: Vec<_> = owned
                .written
                .iter()
                .chain(&labels.written)
                .cloned()
                .collect();
            if changed.is_empty() && !plan.provisional {
                break;
            }
            if !changed.is_empty() && !ctx.reads.stores.observed(&changed, SETTLE_PATIENCE).await {
                tracing::debug!("the stores do not show every write yet; judging again soon");
                owned.retry_soon = true;
            }
            watch.lap("observe");
            if narrow && ctx.scopes.has_more(&owner.uid, generation) {
                continue;
            }
            let settled = super::blocking::off_the_async_workers(|| {
                resource.plan(&valid, &ctx.reads, &scope, Stage::Evidence, now)
            });
            watch.lap("replan");
            if narrow && ctx.scopes.has_more(&owner.uid, generation) {
                continue;
            }
            // A next step the writes made possible (a guard in force, then the labels it
            // guards): the echoes of our own writes wake no one, so come back for it.
            owned.retry_soon |= settled.desired != plan.desired
                || settled.namespace_labels != plan.namespace_labels
                || settled.namespace_annotations != plan.namespace_annotations;
            plan.evaluation = settled.evaluation;
            plan.provisional = false;
            break;
        }
        // Reports are evidence, not enforcement: written in Audit mode too.
        owned.absorb(reconcile_reports(ctx, &owner, &plan.evaluation, &scope).await);
        watch.lap("reports");
        Ok::<_, Error>((plan, owned, labels))
    }
    .await;
    let (plan, mut owned, mut labels) = match enforced {
        Ok(done) => done,
        Err(error) => {
            ctx.scopes.ended(&owner.uid, generation, &scope, false, now);
            let failed =
                status::failed_status(&old, error.reason(), &error.to_string(), generation, now);
            write_status(ctx, resource, failed, resource.extra_status()).await?;
            ctx.event(
                &reference,
                true,
                error.reason(),
                "Reconcile",
                error.to_string(),
            )
            .await;
            return Err(error);
        }
    };
    // Writes that failed for some objects: the evaluation (which reads the live cluster, so
    // it already shows where enforcement is missing) is still recorded, Ready turns False
    // naming them, and the retry backs off.
    let mut failed = std::mem::take(&mut owned.failed);
    failed.append(&mut labels.failed);

    let partial = (!failed.is_empty()).then(|| Error::Partial(failed));
    // Only drift is announced: a first apply, a new namespace or a changed spec is not. Each
    // event names the restored object, and its action what was done, so that the recorder's
    // series (one per reason, action and objects) never mixes two different repairs.
    for r in &owned.restored {
        let (how, action) = if r.deleted {
            ("deleted", "Recreate")
        } else {
            ("edited", "Replace")
        };
        let object = apply::reference(r.kind, r.namespace.as_deref(), &r.name);
        ctx.event_related(
            &reference,
            Some(object_reference(r.kind, r.namespace.as_deref(), &r.name)),
            true,
            crate::conditions::Reason::Restored.as_str(),
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
            &reference,
            Some(object_reference(OwnedKind::Namespace, None, namespace)),
            true,
            crate::conditions::Reason::Restored.as_str(),
            "Relabel",
            bounded(format!(
                "labels the operator set on Namespace {namespace} were changed by hand and have been restored after drift"
            )),
        )
        .await;
    }
    for event in &plan.events {
        ctx.event(
            &reference,
            event.warning,
            event.reason,
            event.action,
            event.note.clone(),
        )
        .await;
    }
    announce(ctx, resource, &old, &plan.evaluation).await;
    let mut new = status::compliance_status(
        &old,
        &plan.evaluation,
        generation,
        now,
        ctx.evaluated_refresh,
    );
    // Back in time for the next refresh of "evaluated at", even with a longer resync.
    let refresh_in = new
        .scope
        .as_ref()
        .and_then(|s| s.evaluated_at.as_ref())
        .and_then(|at| {
            let due = at.0.checked_add(ctx.evaluated_refresh).ok()?;
            std::time::Duration::try_from(due.duration_since(now)).ok()
        })
        .unwrap_or(ctx.evaluated_refresh);
    if let Some((reason, message)) = &plan.not_ready {
        new = status::not_ready(new, &old, reason, message, generation, now);
    }
    // Inputs fetched on request that could not be had (Velero not answering): the plan waits
    // for them and Ready says why. Not an error: the next resync asks again, only reading, so
    // a cluster whose Velero never answers sees no write loop and no event per retry.
    if let Err(error) = &prepared {
        tracing::warn!(%error, "an input fetched on request is missing");
        let message = bounded(error.to_string());
        new = status::not_ready(new, &old, error.reason(), &message, generation, now);
    }
    let reads_velero = K::KIND != ControlKind::SecurityBaseline;
    let stale = ctx
        .reads
        .stores
        .watch_health
        .failing_beyond(ctx.watch_grace, reads_velero);
    if let Some(message) = stale {
        let reason = super::watch_health::WATCH_FAILING;
        new = status::not_ready(new, &old, reason, &bounded(message), generation, now);
    }
    if let Some(error) = &partial {
        let message = bounded(error.to_string());
        new = status::not_ready(new, &old, error.reason(), &message, generation, now);
        ctx.event(&reference, true, error.reason(), "Reconcile", message)
            .await;
    }
    if let Some(history) = &ctx.history {
        // Appended before status is written: a control status shows is always in the chain
        // (a failed status write is retried; the chain already holds the evaluation).
        let recorded = history
            .record(
                super::history::resource_ref(K::KIND.as_str(), &owner.name),
                generation,
                spec_hash(resource),
                &new.controls,
                resource.exemptions(),
                now,
            )
            .await;
        ctx.metrics
            .compliance
            .history_written(recorded.is_ok(), now.as_second());
        if let Err(error) = recorded {
            tracing::warn!(%error, "writing the evidence history");
            let message = bounded(format!(
                "the evidence history at {} could not be written: {error}",
                history.describe()
            ));
            let reason = super::history::HISTORY_UNAVAILABLE;
            new = status::not_ready(new, &old, reason, &message, generation, now);
        }
    }
    ctx.metrics
        .compliance
        .evaluated(&crate::telemetry::compliance::Evaluated {
            kind: K::KIND.as_str(),
            resource: &owner.name,
            controls: &new.controls,
            at: now.as_second(),
            failing_watches: ctx.reads.stores.watch_health.kinds_beyond(ctx.watch_grace),
        });
    write_status(ctx, resource, new, plan.extra_status).await?;
    watch.lap("status");
    tracing::debug!(laps = %watch, "pass done");
    if let Some(error) = partial {
        ctx.scopes
            .ended(&owner.uid, generation, &plan.scope, false, now);
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
        &owner.uid,
        generation,
        &plan.scope,
        !owned.retry_soon,
        whole_due,
    );
    if let Some(due) = ctx.scopes.whole_due(&owner.uid)
        && let Ok(until) = std::time::Duration::try_from(due.duration_since(now))
    {
        next = next.min(until.max(Duration::from_millis(100)));
    }
    Ok(Action::requeue(next))
}

/// Enforcement rounds one pass makes at most (its own, and those for namespaces changed while
/// it ran) before its evidence: a cluster that keeps creating namespaces still gets its
/// reports and status; what is left wakes the next pass.
const MAX_ENFORCEMENT_ROUNDS: usize = 8;

/// One round of enforcement over `scope`: plans what it writes (from the namespaces of the
/// scope, see [`Stage::Enforcement`]) and writes it: objects applied or deleted once, owned
/// objects, namespace labels.
async fn enforce<K: Reconciled>(
    resource: &K,
    valid: &K::Valid,
    ctx: &Context,
    owner_uid: &str,
    scope: &Scope,
    now: Timestamp,
) -> Result<
    (
        Plan<K::ExtraStatus>,
        apply::OwnedOutcome,
        apply::LabelOutcome,
    ),
    Error,
> {
    let plan = super::blocking::off_the_async_workers(|| {
        resource.plan(valid, &ctx.reads, scope, Stage::Enforcement, now)
    });
    let scope = plan.scope.clone();
    ctx.metrics.pass(K::KIND.as_str(), scope.is_all());
    tracing::debug!(?scope, "planned");
    for object in &plan.apply_once {
        apply::apply_one(ctx, owner_uid, object).await?;
    }
    for (kind, namespace, name) in &plan.delete {
        apply::delete_one(ctx, owner_uid, *kind, namespace.as_deref(), name).await?;
    }
    // Enforcement first: NetworkPolicies, admission objects, Velero objects, labels.
    let owned = apply::reconcile_owned(ctx, owner_uid, &plan.desired, K::MANAGES, &scope).await;
    let labels = apply::reconcile_namespace_labels(
        ctx,
        owner_uid,
        K::LABEL_MARKER,
        &plan.namespace_labels,
        &plan.namespace_annotations,
        &scope,
    )
    .await;
    Ok((plan, owned, labels))
}

/// The SHA-256 of the resource's spec as canonical JSON: which policy text was applied.
fn spec_hash<K: Reconciled>(resource: &K) -> String {
    let spec = serde_json::to_value(resource)
        .ok()
        .and_then(|mut v| v.get_mut("spec").map(serde_json::Value::take))
        .unwrap_or_default();
    crate::history::spec_hash(&spec)
}

/// A spec only the operator could judge invalid: status says which fields and why, owned
/// objects stay as the last valid spec left them, and nothing is retried until the resource
/// changes (a timer would only find the same spec again).
async fn reject<K: Reconciled>(
    ctx: &Context,
    resource: &K,
    old: &ComplianceStatus,
    invalid: &InvalidSpec,
    now: Timestamp,
) -> Result<Action, Error> {
    let message = invalid.to_string();
    tracing::info!(%message, "spec invalid; waiting for a change");
    let generation = resource.meta().generation;
    let new = status::invalid_status(old, &message, generation, now);
    let announced = old.conditions.iter().any(|c| {
        c.type_ == crate::conditions::ConditionType::Ready.name()
            && c.reason == status::INVALID
            && c.message == new.conditions[0].message
    });
    write_status(ctx, resource, new, resource.extra_status()).await?;
    if !announced {
        ctx.event(
            &resource.object_ref(&()),
            true,
            status::INVALID,
            "Validate",
            bounded(message),
        )
        .await;
    }
    Ok(Action::await_change())
}

/// Whether the stored status says the current spec is invalid. Nothing else in the cluster
/// can make it valid, so changes to other objects do not wake it; only its own change does.
pub fn awaits_own_change<K: Reconciled>(resource: &K) -> bool {
    let status = resource.compliance();
    status.observed_generation == resource.meta().generation
        && status.conditions.iter().any(|c| {
            c.type_ == crate::conditions::ConditionType::Ready.name() && c.reason == status::INVALID
        })
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

/// How soon to look again when a repair lost a race with another writer.
const RETRY_SOON: Duration = Duration::from_secs(2);

/// How long evidence waits for the stores to show the enforcement a pass just wrote.
const SETTLE_PATIENCE: Duration = Duration::from_secs(5);

/// Event notes stay well under the API's 1 KiB limit, whatever names they carry.
pub const MAX_NOTE_BYTES: usize = 512;

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
            crate::conditions::Reason::ControlStateChanged.as_str(),
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

/// Writes the findings as reports in the API(s) `--reports-api` picks among those served, and
/// prunes the owner's reports in every other served API (a reader of both would count them
/// twice). Does nothing while the choice waits for discovery, or when no report API is served.
async fn reconcile_reports(
    ctx: &Context,
    owner: &Owner,
    evaluation: &Evaluation,
    scope: &Scope,
) -> apply::OwnedOutcome {
    use crate::desired::report_api::{self, ReportApi};
    let stores = &ctx.reads.stores;
    let watched = |kind: OwnedKind| stores.report_store(kind).is_some_and(|s| s.get().is_some());
    let Some(apis) = report_api::write_to(
        ctx.reports,
        stores.policy_reports.discovery(),
        stores.reports.discovery(),
    ) else {
        return apply::OwnedOutcome::default();
    };
    // An API counts as served once its namespaced kind is watched: until then (its listing
    // may finish after its cluster-scoped kind's) its reports are neither written nor pruned,
    // or `both` would delete a ClusterReport it is about to keep.
    let manages: Vec<OwnedKind> = ReportApi::ALL
        .into_iter()
        .filter(|api| watched(api.namespaced()))
        .flat_map(|api| [api.namespaced(), api.cluster()])
        .filter(|&kind| watched(kind))
        .collect();
    if manages.is_empty() {
        return apply::OwnedOutcome::default();
    }
    let reports: Vec<DesiredObject> = apis
        .into_iter()
        .flat_map(|api| {
            crate::desired::report::policy_reports_in(
                owner,
                evaluation,
                api,
                watched(api.cluster()),
                &|ns| scope.covers(ns),
            )
        })
        .collect();
    apply::reconcile_owned(ctx, &owner.uid, &reports, &manages, scope).await
}

async fn cleanup<K: Reconciled>(resource: &K, ctx: &Context) -> Result<Action, Error> {
    let owner = Owner::of(resource);
    let mut manages = K::MANAGES.to_vec();
    manages.extend(
        crate::desired::report_api::ReportApi::ALL
            .into_iter()
            .flat_map(|api| [api.namespaced(), api.cluster()]),
    );
    // Labels first: the priors are put back while the resource's admission policies (which
    // keep tenants from rewriting the record of them) still stand.
    let mut failed = apply::reconcile_namespace_labels(
        ctx,
        &owner.uid,
        K::LABEL_MARKER,
        &BTreeMap::new(),
        &BTreeMap::new(),
        &Scope::All,
    )
    .await
    .failed;
    failed.extend(
        apply::reconcile_owned(ctx, &owner.uid, &[], &manages, &Scope::All)
            .await
            .failed,
    );
    if !failed.is_empty() {
        // The finalizer stays until everything owned is gone.
        return Err(Error::Partial(failed));
    }
    if let Some(history) = &ctx.history {
        let gone = super::history::resource_ref(K::KIND.as_str(), &owner.name);
        // Never holds the deletion up: without this record the report shows the time after
        // it as a gap (not evaluated), which is true, not a false Pass.
        if let Err(error) = history.deleted(gone, Timestamp::now()).await {
            tracing::warn!(%error, "recording a deleted resource in the evidence history");
        }
    }
    ctx.forget(&owner.uid);
    ctx.scopes.forget(&owner.uid);
    ctx.reads.stores.echoes.forget_status(&owner.uid);
    ctx.metrics.compliance.forget(K::KIND.as_str(), &owner.name);
    Ok(Action::await_change())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn event_notes_are_bounded_on_a_char_boundary() {
        let short = "NetworkPolicy a/b was edited by hand".to_string();
        assert_eq!(bounded(short.clone()), short);
        let long = format!("labels {}", "é".repeat(2000));
        let note = bounded(long);
        assert!(note.len() <= MAX_NOTE_BYTES, "{}", note.len());
        assert!(note.ends_with("..."));
    }
}
