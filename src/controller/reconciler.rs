//! The reconcile loop the three kinds share: the finalizer, and one pass as a short pipeline
//! ([`apply_resource`]). Each kind only says how it validates and what it plans
//! ([`Reconciled::plan`], which computes and does nothing); carrying the plan out
//! ([`super::carry_out`]) and publishing it ([`super::publish`]) live once for all kinds.

use super::context::Context;
use super::reads::Reads;
use super::scope::{Scope, Taken};
use super::{Error, apply, carry_out, publish, status};
use crate::api::{ComplianceStatus, Exemption};
use crate::catalog::ControlKind;
use crate::conditions::Reason;
use crate::desired::{DesiredObject, OwnedKind, Owner};
use crate::evaluate::Evaluation;
use crate::validate::InvalidSpec;
use jiff::Timestamp;
use k8s_openapi::api::core::v1::ObjectReference;
use kube::runtime::controller::Action;
use kube::runtime::finalizer::{self, Event as Finalizer};
use kube::{Api, Resource, ResourceExt};
use serde::Serialize;
use serde::de::DeserializeOwned;
use std::collections::BTreeMap;
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
    pub not_ready: Option<(Reason, String)>,
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
    /// judge (`reads`); a spec that fails it is not planned at all.
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
                reason: error.reason().as_str().into(),
            })
            .inc();
    }
    result
}

/// What a pass knows of its resource before it plans, observed once at its start.
pub struct Observed {
    pub now: Timestamp,
    /// The status as stored: what the pass's status and events are compared with.
    pub old: ComplianceStatus,
    pub generation: Option<i64>,
    pub owner: Owner,
    pub reference: ObjectReference,
}

impl Observed {
    fn of<K: Reconciled>(resource: &K) -> Self {
        Self {
            now: Timestamp::now(),
            old: resource.compliance(),
            generation: resource.meta().generation,
            owner: Owner::of(resource),
            reference: resource.object_ref(&()),
        }
    }
}

/// One pass: observe -> validate -> fetch -> plan and apply -> publish. Validation and the
/// plans decide everything and are pure (they read [`Reads`], hold no client); the steps
/// around them fetch what exists only on request, carry the plans out and record them.
async fn apply_resource<K: Reconciled>(resource: &K, ctx: &Context) -> Result<Action, Error> {
    let pass = Observed::of(resource);
    let valid = match resource.validate(&ctx.reads, pass.now) {
        Ok(valid) => valid,
        Err(invalid) => return publish::rejected(resource, ctx, &pass, &invalid).await,
    };
    let Some(taken) = take_scope(ctx, &pass) else {
        // Woken by changes a pass before this one took and carried out, or had seen when it
        // judged and enforced the namespaces they concern: nothing to do.
        tracing::debug!("the changes that woke this pass were handled by the one before");
        let until_whole = ctx
            .scopes
            .whole_due(&pass.owner.uid)
            .and_then(|due| Duration::try_from(due.duration_since(pass.now)).ok())
            .unwrap_or(ctx.resync);
        return Ok(Action::requeue(until_whole.max(Duration::from_millis(100))));
    };
    let fetched = resource.prepare(&valid, ctx, pass.now).await;
    // An input that could not be fetched is news for Ready: publish it.
    let taken = Taken {
        already_judged: taken.already_judged && fetched.is_ok(),
        ..taken
    };
    match carry_out::carry_out(resource, &valid, ctx, &pass, taken).await {
        Ok(carried) => publish::published(resource, ctx, &pass, carried, fetched).await,
        Err(failed) => publish::failed(resource, ctx, &pass, failed).await,
    }
}

/// The namespaces changes concerned since the resource's last pass (see [`super::scope`]),
/// or None when a pass before this one took and carried them out already, or had judged and
/// enforced them.
fn take_scope(ctx: &Context, pass: &Observed) -> Option<Taken> {
    let (uid, generation) = (&pass.owner.uid, pass.generation);
    if ctx.scopes.handled_before(uid, generation, pass.now) {
        return None;
    }
    ctx.scopes.take(uid, generation, pass.now)
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
