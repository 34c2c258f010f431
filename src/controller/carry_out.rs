//! The plan -> apply step of a pass: plan what is enforced, write it, then plan the evidence
//! on what is now enforced and write the reports. The plans are the kind's (pure, see
//! [`Reconciled::plan`]); this step only carries them out, in the order that lets a converging
//! cluster write each object once: enforcement before the evidence that judges it.

use super::context::Context;
use super::reconciler::{Observed, Plan, Reconciled, Stage};
use super::scope::{Scope, Seen, Taken};
use super::{Error, apply};
use crate::desired::{DesiredObject, OwnedKind, Owner};
use crate::evaluate::Evaluation;
use crate::telemetry::stopwatch::Stopwatch;
use std::time::Duration;

/// Enforcement rounds one pass makes at most (its own, and those for namespaces changed while
/// it ran) before its evidence: a cluster that keeps creating namespaces still gets its
/// reports and status; what is left wakes the next pass.
const MAX_ENFORCEMENT_ROUNDS: usize = 8;

/// How long evidence waits for the stores to show the enforcement a pass just wrote.
const SETTLE_PATIENCE: Duration = Duration::from_secs(5);

/// What a pass planned and what writing it did.
pub struct CarriedOut<Extra> {
    /// The last enforcement plan, its evaluation replaced by the evidence plan's.
    pub plan: Plan<Extra>,
    pub owned: apply::OwnedOutcome,
    pub labels: apply::LabelOutcome,
    /// Time spent per step, for the pass's debug log.
    pub watch: Stopwatch,
    pub evidence: Evidence,
}

/// Whether a pass has evidence to publish.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Evidence {
    /// The plan's evaluation judged every change numbered up to this ([`Seen`]).
    New(Seen),
    /// The pass was woken by changes the evidence published last had seen, and its
    /// enforcement wrote nothing: that evidence stands, the plan's evaluation (provisional,
    /// or the same) is not published again and no reports are written.
    Standing,
}

/// A pass that could not carry its plan out, and the namespaces it had taken on.
pub struct Failed {
    pub error: Error,
    pub scope: Scope,
}

/// Plans and writes enforcement for `scope` (and for namespaces changed while it runs), then
/// the evidence: reports judged on what is now enforced.
pub async fn carry_out<K: Reconciled>(
    resource: &K,
    valid: &K::Valid,
    ctx: &Context,
    pass: &Observed,
    asked: Taken,
) -> Result<CarriedOut<K::ExtraStatus>, Failed> {
    let (uid, generation, now) = (&pass.owner.uid, pass.generation, pass.now);
    let mut watch = Stopwatch::start();
    // What this pass covers: what woke it, and the namespaces whose changes arrive while it
    // runs (taken before its evidence, see below).
    let mut scope = asked.scope;
    let failed = |error, scope: &Scope| Failed {
        error,
        scope: scope.clone(),
    };
    let clock = || Seen(ctx.reads.stores.engine.clock());
    // What the plan whose evaluation is published saw.
    let mut seen = clock();
    let (mut plan, mut owned, mut labels) = enforce(resource, valid, ctx, uid, &scope, now)
        .await
        .map_err(|e| failed(e, &scope))?;
    if asked.already_judged && stands(resource, &plan, &owned, &labels) {
        tracing::debug!("woken by changes the published evidence had seen; enforced, it stands");
        watch.lap("enforce");
        return Ok(CarriedOut {
            plan,
            owned,
            labels,
            watch,
            evidence: Evidence::Standing,
        });
    }
    // The plan may cover more than what woke the pass (an isolation's reports where a
    // finding names the namespaces that changed): what it covers is the pass's.
    scope = plan.scope.clone();
    watch.lap("enforce");
    let mut rounds = 1;
    loop {
        // A namespace created while this pass runs is enforced now, before the evidence
        // of the namespaces before it: its protection never waits for reports and status.
        let narrow = rounds < MAX_ENFORCEMENT_ROUNDS && !scope.is_all();
        if narrow && let Some(more) = ctx.scopes.take_more(uid, generation) {
            tracing::debug!(?more, "enforcing namespaces changed while this pass ran");
            scope.merge(&Scope::Namespaces(more));
            seen = clock();
            let (next, next_owned, next_labels) = enforce(resource, valid, ctx, uid, &scope, now)
                .await
                .map_err(|e| failed(e, &scope))?;
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
        if narrow && ctx.scopes.has_more(uid, generation) {
            continue;
        }
        seen = clock();
        let settled = super::blocking::off_the_async_workers(|| {
            resource.plan(valid, &ctx.reads, &scope, Stage::Evidence, now)
        });
        watch.lap("replan");
        if narrow && ctx.scopes.has_more(uid, generation) {
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
    owned.absorb(reconcile_reports(ctx, &pass.owner, &plan.evaluation, &scope).await);
    watch.lap("reports");
    Ok(CarriedOut {
        plan,
        owned,
        labels,
        watch,
        evidence: Evidence::New(seen),
    })
}

/// Whether the evidence published last stands after an enforcement round that `plan` led
/// to, for a pass woken by changes it had seen: the round wrote nothing and failed nothing,
/// and the plan asks for nothing else the status would show (events, one-off writes, a
/// reason Ready is False, other kind-specific status), so the status it would compose is
/// the one stored.
fn stands<K: Reconciled>(
    resource: &K,
    plan: &Plan<K::ExtraStatus>,
    owned: &apply::OwnedOutcome,
    labels: &apply::LabelOutcome,
) -> bool {
    let ready =
        resource.compliance().conditions.iter().any(|c| {
            c.type_ == crate::conditions::ConditionType::Ready.name() && c.status == "True"
        });
    ready
        && owned.written.is_empty()
        && labels.written.is_empty()
        && owned.restored.is_empty()
        && labels.restored.is_empty()
        && owned.failed.is_empty()
        && labels.failed.is_empty()
        && !owned.retry_soon
        && plan.apply_once.is_empty()
        && plan.delete.is_empty()
        && plan.events.is_empty()
        && plan.not_ready.is_none()
        && serde_json::to_value(&plan.extra_status).ok()
            == serde_json::to_value(resource.extra_status()).ok()
}

/// One round of enforcement over `scope`: plans what it writes (from the namespaces of the
/// scope, see [`Stage::Enforcement`]) and writes it: objects applied or deleted once, owned
/// objects, namespace labels.
async fn enforce<K: Reconciled>(
    resource: &K,
    valid: &K::Valid,
    ctx: &Context,
    owner_uid: &str,
    scope: &Scope,
    now: jiff::Timestamp,
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
