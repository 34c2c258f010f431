//! The incremental engine ([`crate::engine`]) fed by the watches. Every watch event goes into
//! it as it arrives (the stores' own `Arc`s: no second copy of an object); a SecurityBaseline's
//! and an EnvironmentIsolation's evaluations are drawn from it
//! ([`EngineFeed::security_baseline_by`], [`EngineFeed::isolation_by`]), and a periodic check
//! compares its evaluation of each with a from-scratch one over the stores' snapshot,
//! counting the comparisons and the divergences in metrics
//! (`baseline_operator_engine_checks_total`, `..._engine_divergences_total`, expected 0).
//!
//! The property test proves the engine equal to a from-scratch evaluation for generated
//! clusters; the periodic check proves it on real watches (relists, reordered events, objects
//! the generators do not make).

use crate::engine::{Engine, Event, Kind, Object, ObjectKey};
use crate::evaluate::Evaluation;
use crate::snapshot::{ExcludedNamespaces, ObjectMetaOnly, ReplicaSetLink, Snapshot};
use jiff::Timestamp;
use k8s_openapi::api::admissionregistration::v1::{
    ValidatingAdmissionPolicy, ValidatingAdmissionPolicyBinding,
};
use k8s_openapi::api::apps::v1::ReplicaSet;
use k8s_openapi::api::core::v1::ConfigMap;
use kube::core::PartialObjectMeta;
use std::collections::{BTreeSet, HashMap, HashSet};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

/// A watched type, as the engine takes it (None: a kind the controls do not read, e.g. the
/// operator's own admission policies).
pub trait Fed: Sized {
    const KIND: Option<Kind>;
    fn object(this: Arc<Self>) -> Option<Object>;
}

macro_rules! fed_as_is {
    ($($field:ident: $ty:ty,)*) => {
        $(impl Fed for $ty {
            const KIND: Option<Kind> = Some(Kind::$field);
            fn object(this: Arc<Self>) -> Option<Object> {
                Some(Object::$field(this))
            }
        })*
    };
}
crate::snapshot::watched_kinds!(fed_as_is);
crate::kinds::custom_kinds!(fed_as_is);
fed_as_is! {
    velero_schedules: crate::velero::Schedule,
    velero_backups: crate::velero::Backup,
    velero_restores: crate::velero::Restore,
    velero_storage_locations: crate::velero::BackupStorageLocation,
    velero_snapshot_locations: crate::velero::VolumeSnapshotLocation,
}

macro_rules! not_fed {
    ($($ty:ty),*) => {
        $(impl Fed for $ty {
            const KIND: Option<Kind> = None;
            fn object(_: Arc<Self>) -> Option<Object> {
                None
            }
        })*
    };
}
// The operator's own admission objects, and its restore-test ConfigMaps in Velero's namespace.
not_fed!(
    ValidatingAdmissionPolicy,
    ValidatingAdmissionPolicyBinding,
    ConfigMap
);

impl Fed for PartialObjectMeta<ConfigMap> {
    const KIND: Option<Kind> = Some(Kind::config_maps);
    fn object(this: Arc<Self>) -> Option<Object> {
        Some(Object::config_maps(Arc::new(ObjectMetaOnly {
            kind: "ConfigMap",
            namespace: this.metadata.namespace.clone().unwrap_or_default(),
            name: this.metadata.name.clone().unwrap_or_default(),
            labels: this.metadata.labels.clone().unwrap_or_default(),
        })))
    }
}

impl Fed for PartialObjectMeta<ReplicaSet> {
    const KIND: Option<Kind> = Some(Kind::replica_sets);
    fn object(this: Arc<Self>) -> Option<Object> {
        Some(Object::replica_sets(Arc::new(ReplicaSetLink::of(
            &this.metadata,
        ))))
    }
}

/// The engine, what its events dirtied since it last settled, and what each kind's watch fed
/// it (so that a relist, which replaces a store wholesale, removes what it no longer lists).
pub struct EngineFeed {
    state: Mutex<FeedState>,
    /// Watch events received (their stores updated) and events given to the engine: while
    /// they differ, the stores are ahead of the engine and a comparison would see two
    /// instants.
    received: AtomicU64,
    fed: AtomicU64,
}

struct FeedState {
    engine: Engine,
    /// What the SecurityBaselines' and the EnvironmentIsolations' parts have yet to settle:
    /// apart, so that each kind's pass settles its own (a baseline's enforcement plan for a
    /// new namespace does not wait on the isolations').
    pending: crate::engine::Dirty,
    isolations_pending: crate::engine::Dirty,
    fed: HashMap<Kind, HashSet<ObjectKey>>,
}

impl FeedState {
    /// What an event (or a setting) dirtied, pending for both kinds.
    fn dirtied(&mut self, dirty: crate::engine::Dirty) {
        self.isolations_pending.merge(dirty.clone());
        self.pending.merge(dirty);
    }
}

impl EngineFeed {
    pub fn new(excluded: ExcludedNamespaces) -> Self {
        Self {
            state: Mutex::new(FeedState {
                engine: Engine::new(excluded, false),
                pending: Default::default(),
                isolations_pending: Default::default(),
                fed: HashMap::new(),
            }),
            received: AtomicU64::new(0),
            fed: AtomicU64::new(0),
        }
    }

    /// A watch event arrived (its store is updated); [`Self::done`] follows once the engine
    /// has it.
    pub fn received(&self) {
        self.received.fetch_add(1, Ordering::SeqCst);
    }

    /// The engine has what the last [`Self::received`] event changed. Returns the change's
    /// number: a plan that starts once [`Self::clock`] reads it or more sees the change (in
    /// the stores, which the watch updated first, and in the engine).
    pub fn done(&self) -> u64 {
        self.fed.fetch_add(1, Ordering::SeqCst) + 1
    }

    /// The number of the last change a plan starting now sees, with every change numbered
    /// less (each change is numbered after it was applied).
    pub fn clock(&self) -> u64 {
        self.fed.load(Ordering::SeqCst)
    }

    /// The number of events the engine has, when it has every event the stores have.
    fn quiet(&self) -> Option<u64> {
        let fed = self.fed.load(Ordering::SeqCst);
        (self.received.load(Ordering::SeqCst) == fed).then_some(fed)
    }

    /// The engine, at once when it is free; otherwise waited for off the async workers: a
    /// settle can hold it for tens of milliseconds at thousands of namespaces, and a watch
    /// task waiting on a worker thread would stall every task queued behind it (on two
    /// cores, the whole runtime).
    fn lock(&self) -> std::sync::MutexGuard<'_, FeedState> {
        match self.state.try_lock() {
            Ok(state) => state,
            Err(std::sync::TryLockError::Poisoned(p)) => p.into_inner(),
            Err(std::sync::TryLockError::WouldBlock) => {
                super::blocking::off_the_async_workers(|| {
                    self.state.lock().unwrap_or_else(|p| p.into_inner())
                })
            }
        }
    }

    /// An object created or changed.
    /// Returns the namespaces it dirties for any kind (the trigger's reach, see
    /// `trigger::Trigger`): an isolation's report there may change. `None` when the engine
    /// held the object already but for its resource version: no control reads what changed,
    /// so the event wakes no one (see `Engine::upsert`).
    pub fn upsert(&self, object: Object) -> Option<std::collections::BTreeSet<String>> {
        let mut state = self.lock();
        let key = object.key();
        state.fed.entry(key.kind).or_default().insert(key);
        let dirty = state.engine.upsert(object)?;
        let reach = dirty.namespaces.union(&dirty.isolations).cloned().collect();
        state.dirtied(dirty);
        Some(reach)
    }

    /// An object gone.
    /// Returns the namespaces it dirties.
    pub fn delete(&self, object: Object) -> std::collections::BTreeSet<String> {
        let key = object.key();
        let mut state = self.lock();
        if let Some(fed) = state.fed.get_mut(&key.kind) {
            fed.remove(&key);
        }
        let dirty = state.engine.apply(Event::Delete(key));
        let reach = dirty.namespaces.union(&dirty.isolations).cloned().collect();
        state.dirtied(dirty);
        reach
    }

    /// Whether a namespace change that set only `changed` is read through a selector or is a
    /// sandbox marker (see `Engine::selectors_read`).
    pub fn selectors_read(&self, changed: &crate::engine::ChangedKeys) -> bool {
        self.lock().engine.selectors_read(changed)
    }

    /// Every EnvironmentIsolation's environments, as the engine keeps them per event; `None`
    /// until the engine has the lists of what they read (Namespaces, EnvironmentIsolations,
    /// BackupPolicies): a store can be ready an instant before its list reaches the engine.
    pub fn environments(&self) -> Option<Arc<crate::evaluate::open_ports::Environments>> {
        let state = self.lock();
        [
            Kind::namespaces,
            Kind::environment_isolations,
            Kind::backup_policies,
        ]
        .iter()
        .all(|kind| state.fed.contains_key(kind))
        .then(|| state.engine.partition().environments())
    }

    /// Secrets can be judged (`None`: listed) or not (why).
    pub fn set_secrets_not_observed(&self, why: Option<String>) {
        let mut state = self.lock();
        let dirty = state.engine.set_secrets_not_observed(why);
        state.dirtied(dirty);
    }

    /// A list of `kind` ended (at start, or a relist after a watch was lost): the store now
    /// holds exactly `listed`, which replaces what the engine had of the kind. (While a list
    /// runs, the store keeps its old content, so the listed objects are taken from the store
    /// only once it is swapped in.)
    pub fn listed(&self, kind: Kind, listed: Vec<Object>) {
        let mut state = self.lock();
        let keys: HashSet<ObjectKey> = listed.iter().map(Object::key).collect();
        let before = std::mem::replace(state.fed.entry(kind).or_default(), keys.clone());
        for key in before.into_iter().filter(|key| !keys.contains(key)) {
            let dirty = state.engine.apply(Event::Delete(key));
            state.dirtied(dirty);
        }
        // A relist after a lost watch holds mostly what the engine had: those dirty nothing.
        for object in listed {
            if let Some(dirty) = state.engine.upsert(object) {
                state.dirtied(dirty);
            }
        }
    }

    /// The operator's configured exclusions, known once it runs.
    pub fn set_excluded(&self, excluded: ExcludedNamespaces) {
        let mut state = self.lock();
        let dirty = state.engine.set_excluded(excluded);
        state.dirtied(dirty);
    }

    /// The engine's evaluation of an EnvironmentIsolation judged by `spec`, after settling what
    /// is dirty: what status and reports are drawn from. `None` when the engine knows another
    /// spec of it (its watch and the caller's are at different versions): the caller
    /// evaluates from scratch then.
    pub fn isolation_by(
        &self,
        name: &str,
        spec: &crate::validate::environment_isolation::ValidEnvironmentIsolation,
        now: Timestamp,
    ) -> Option<Evaluation> {
        let mut watch = crate::telemetry::stopwatch::Stopwatch::start();
        let mut state = self.lock();
        let pending = std::mem::take(&mut state.isolations_pending);
        state.engine.settle_isolations(&pending);
        watch.lap("settle");
        let evaluation = state.engine.isolation_by(name, spec, now);
        watch.lap("assemble");
        tracing::debug!(laps = %watch, dirty = pending.namespaces.len() + pending.isolations.len(), "engine isolation evaluation");
        evaluation
    }

    /// A BackupPolicy's per-namespace part judged by `spec`, settled for the namespaces changed
    /// since its last evaluation (see `engine::backups`); `None` while the engine does not
    /// know the policy or lacks a list it reads (Namespaces, and Velero's Schedules and
    /// Backups when `velero_read`): the caller judges every namespace then. (A store can be
    /// ready an instant before its list reaches the engine, and an empty part would write a
    /// Schedule of no namespace.)
    pub fn backup_policy_by(
        &self,
        name: &str,
        spec: &crate::validate::ValidBackupPolicy,
        velero_read: bool,
        now: Timestamp,
    ) -> Option<crate::evaluate::backup::NamespaceParts> {
        let mut watch = crate::telemetry::stopwatch::Stopwatch::start();
        let mut state = self.lock();
        let velero: &[Kind] = match velero_read {
            true => &[Kind::velero_schedules, Kind::velero_backups],
            false => &[],
        };
        let listed = [Kind::namespaces, Kind::backup_policies]
            .iter()
            .chain(velero)
            .all(|kind| state.fed.contains_key(kind));
        if !listed {
            return None;
        }
        let before = state.engine.counters().backup_parts;
        let parts = state.engine.backup_policy_by(name, spec, now);
        let judged = state.engine.counters().backup_parts - before;
        drop(state);
        watch.lap("fold");
        tracing::debug!(laps = %watch, judged, "engine backup policy parts");
        parts
    }

    /// The engine's evaluation of a SecurityBaseline, after settling what is dirty.
    pub fn security_baseline(&self, name: &str, now: Timestamp) -> Option<Evaluation> {
        let mut state = self.lock();
        let pending = std::mem::take(&mut state.pending);
        state.engine.settle_baselines(&pending);
        // Folded after the lock is released, as a plan's evidence is: a fold over thousands
        // of namespaces under the lock held up watch events and new namespaces' plans.
        let fold = state.engine.security_baseline_fold_kept(name);
        drop(state);
        fold.map(|fold| fold.fold(now))
    }
}

impl EngineFeed {
    /// The engine's evaluation of a SecurityBaseline judged by `spec`, after settling what is
    /// dirty: what status and reports are drawn from. `None` when the engine knows another
    /// spec of it (its watch and the caller's are at different versions): the caller
    /// evaluates from scratch then.
    ///
    /// `first`: settle only these namespaces' changes now and leave the others dirty (for
    /// the next call), and judge these namespaces alone: the evaluation is then right for
    /// them and says nothing of the others, so it is provisional (the second value), never
    /// evidence. A changed spec is always settled whole.
    pub fn security_baseline_by(
        &self,
        name: &str,
        spec: &crate::validate::security_baseline::ValidSecurityBaseline,
        first: Option<&std::collections::BTreeSet<String>>,
        now: Timestamp,
    ) -> Option<(Evaluation, bool)> {
        let mut watch = crate::telemetry::stopwatch::Stopwatch::start();
        let mut state = self.lock();
        watch.lap("lock");
        let now_dirty = match first {
            Some(first) if state.pending.resources.is_empty() => {
                let (now_dirty, later): (BTreeSet<String>, BTreeSet<String>) =
                    std::mem::take(&mut state.pending.namespaces)
                        .into_iter()
                        .partition(|ns| first.contains(ns));
                state.pending.namespaces = later;
                crate::engine::Dirty {
                    namespaces: now_dirty,
                    ..Default::default()
                }
            }
            _ => std::mem::take(&mut state.pending),
        };
        state.engine.settle_baselines(&now_dirty);
        watch.lap("settle");
        // An enforcement plan reads its own namespaces' part only: folding every namespace's
        // would make a new namespace's protection wait on the cluster's size. Provisional
        // then, whatever is left dirty: the evidence comes from a plan of everything.
        let left = state.pending.namespaces.len();
        let (evaluation, provisional) = match first {
            Some(first) => (
                state.engine.security_baseline_of(name, spec, first, now),
                true,
            ),
            None => {
                // Folded every namespace's part after the lock is released.
                let fold = state.engine.security_baseline_fold(name, spec);
                drop(state);
                watch.lap("take");
                (fold.map(|fold| fold.fold(now)), left > 0)
            }
        };
        watch.lap("fold");
        tracing::debug!(
            laps = %watch,
            dirty = now_dirty.namespaces.len(),
            left,
            "engine evaluation"
        );
        evaluation.map(|e| (e, provisional))
    }
}

/// How often the engine is compared with a from-scratch evaluation unless configured
/// otherwise (`--engine-check-seconds`).
pub const DEFAULT_CHECK_INTERVAL: std::time::Duration = std::time::Duration::from_secs(600);

/// Attempts at a comparison while watch events keep arriving (a comparison is made only when
/// the engine has every event the stores have, before and after); a cluster that never stops
/// changing for that long is not compared this round, and nothing is counted.
const ATTEMPTS: usize = 20;

/// Every `interval`, compares the engine's evaluation of every valid SecurityBaseline,
/// EnvironmentIsolation and BackupPolicy with a from-scratch one; counts the comparisons and
/// the divergences.
pub async fn check_periodically(ctx: Arc<super::context::Context>, interval: std::time::Duration) {
    loop {
        tokio::time::sleep(interval).await;
        let round_ctx = ctx.clone();
        match tokio::task::spawn_blocking(move || check_once(&round_ctx)).await {
            Ok(round) => {
                ctx.metrics.engine_check_seconds.inc_by(round.seconds);
                tracing::info!(
                    compared = round.compared,
                    diverged = round.diverged,
                    seconds = round.seconds,
                    "engine check round done"
                );
            }
            Err(error) => tracing::warn!(%error, "the engine check did not finish"),
        }
    }
}

/// Runs a from-scratch evaluation on a thread of its own at the lowest CPU priority: it
/// re-evaluates the whole cluster (seconds of CPU at thousands of namespaces) and must not
/// delay a reconcile, which protects a new namespace. Only this pure work is lowered: the
/// engine's lock and the stores are read at normal priority, so a starved thread never holds
/// what a reconcile or a watch waits for.
fn in_background<T: Send>(snapshot: &Snapshot, evaluate: &(dyn Fn(&Snapshot) -> T + Sync)) -> T {
    std::thread::scope(|scope| {
        let worker = std::thread::Builder::new()
            .name("engine-check".into())
            .spawn_scoped(scope, || {
                lower_this_threads_priority();
                evaluate(snapshot)
            });
        match worker {
            Ok(worker) => worker
                .join()
                .unwrap_or_else(|panic| std::panic::resume_unwind(panic)),
            // No thread to be had: evaluated here, at this thread's priority.
            Err(error) => {
                tracing::debug!(%error, "the engine check evaluates on the round's thread");
                evaluate(snapshot)
            }
        }
    })
}

/// The calling thread's nice value to 19 (Linux: a per-thread attribute). Failing leaves it
/// as it was (said at debug level: the check still runs, only at normal priority).
fn lower_this_threads_priority() {
    let thread = rustix::thread::gettid();
    if let Err(error) = rustix::process::setpriority_process(Some(thread), 19) {
        tracing::debug!(%error, "the engine check runs at normal priority");
    }
}

/// What one round compared.
struct Round {
    compared: u64,
    diverged: u64,
    seconds: f64,
}

/// One round of comparisons (blocking: evaluations are CPU work). Each attempt reads the
/// resource from its store again: one deleted or made invalid since the round began (another
/// client's change, mid-round) has nothing to compare, which is not a divergence.
fn check_once(ctx: &super::context::Context) -> Round {
    let started = std::time::Instant::now();
    tracing::info!("engine check round started");
    let mut round = Round {
        compared: 0,
        diverged: 0,
        seconds: 0.0,
    };
    let feed = &ctx.reads.stores.engine;
    let snapshot = || ctx.reads.snapshot();
    let baselines = &ctx.reads.stores.custom.security_baselines;
    for name in names(baselines.state()) {
        let outcome = compare(
            feed,
            &snapshot,
            || {
                let sb = baselines.get(&kube::runtime::reflector::ObjectRef::new(&name))?;
                crate::validate::security_baseline::validate(&sb.spec).ok()
            },
            |valid, snapshot, now| {
                crate::evaluate::security_baseline::evaluate(&name, valid, snapshot, now)
            },
            |_, now| feed.security_baseline(&name, now),
        );
        record(ctx, &name, outcome, &mut round);
    }
    let isolations = &ctx.reads.stores.custom.environment_isolations;
    for name in names(isolations.state()) {
        let outcome = compare(
            feed,
            &snapshot,
            || {
                let ei = isolations.get(&kube::runtime::reflector::ObjectRef::new(&name))?;
                crate::validate::environment_isolation::validate(&ei.spec).ok()
            },
            |valid, snapshot, now| {
                crate::evaluate::isolation::evaluate(&name, valid, snapshot, now)
            },
            |valid, now| feed.isolation_by(&name, valid, now),
        );
        record(ctx, &name, outcome, &mut round);
    }
    let policies = &ctx.reads.stores.custom.backup_policies;
    for name in names(policies.state()) {
        let policy = || policies.get(&kube::runtime::reflector::ObjectRef::new(&name));
        let last = || policy().and_then(|bp| bp.status.as_ref()?.last_restore_test.clone());
        let outcome = compare(
            feed,
            &snapshot,
            || {
                let bp = policy()?;
                crate::validate::backup_policy::validate(&bp.spec, Timestamp::now()).ok()
            },
            |valid, snapshot, now| {
                crate::evaluate::backup::evaluate(&name, valid, last().as_ref(), snapshot, now)
            },
            |valid, now| {
                // The rest of the evaluation from the same stores, as a pass reads it.
                let snapshot = ctx.reads.backup_snapshot();
                let velero_read = snapshot.velero.installed && snapshot.velero.unreadable.is_none();
                let parts = feed.backup_policy_by(&name, valid, velero_read, now)?;
                Some(crate::evaluate::backup::evaluate_with(
                    &name,
                    valid,
                    last().as_ref(),
                    &snapshot,
                    now,
                    Some(parts),
                ))
            },
        );
        record(ctx, &name, outcome, &mut round);
    }
    round.seconds = started.elapsed().as_secs_f64();
    round
}

fn names<K: kube::Resource>(objects: Vec<Arc<K>>) -> Vec<String> {
    objects
        .iter()
        .filter_map(|o| o.meta().name.clone())
        .collect()
}

/// What one comparison of a resource found.
#[derive(Debug, PartialEq)]
enum Comparison {
    Agreed,
    /// What differed.
    Diverged(String),
    /// The cluster kept changing, or the resource is gone or invalid: not counted.
    NotCompared,
}

/// Compares one resource's incremental evaluation with a from-scratch one over the stores'
/// snapshot, at an instant the engine has every event the stores have. `current` is the
/// resource's validated spec as its store has it now (`None`: gone or invalid); `scratch`
/// evaluates it over a snapshot ([`in_background`]); `incremental` is the engine's.
fn compare<V: Sync>(
    feed: &EngineFeed,
    snapshot: &dyn Fn() -> Snapshot,
    current: impl Fn() -> Option<V>,
    scratch: impl Fn(&V, &Snapshot, Timestamp) -> Evaluation + Sync,
    incremental: impl Fn(&V, Timestamp) -> Option<Evaluation>,
) -> Comparison {
    let mut disagreed = false;
    for attempt in 0..ATTEMPTS {
        if attempt > 0 {
            std::thread::sleep(std::time::Duration::from_millis(100));
        }
        let Some(before) = feed.quiet() else {
            continue;
        };
        let now = Timestamp::now();
        let Some(spec) = current() else {
            return Comparison::NotCompared;
        };
        let from_scratch = in_background(&snapshot(), &|snapshot| scratch(&spec, snapshot, now));
        let incremental = incremental(&spec, now);
        if feed.quiet() != Some(before) {
            continue;
        }
        if incremental.as_ref() == Some(&from_scratch) {
            return Comparison::Agreed;
        }
        // A disagreement counts once it is seen twice: an event whose store was updated
        // but whose counter was not yet (a task paused between the two) is gone by then;
        // a wrong engine disagrees again.
        if disagreed {
            return Comparison::Diverged(describe_difference(incremental.as_ref(), &from_scratch));
        }
        disagreed = true;
    }
    Comparison::NotCompared
}

/// Counts a comparison and a divergence in the metrics, and says what differed.
fn record(ctx: &super::context::Context, name: &str, outcome: Comparison, round: &mut Round) {
    if outcome != Comparison::NotCompared {
        round.compared += 1;
    }
    match outcome {
        Comparison::NotCompared => {
            tracing::debug!(resource = %name, "not compared this round (changing, gone or invalid)");
        }
        Comparison::Agreed => {
            ctx.metrics.engine_checks.inc();
        }
        Comparison::Diverged(difference) => {
            round.diverged += 1;
            ctx.metrics.engine_checks.inc();
            ctx.metrics.engine_divergences.inc();
            tracing::warn!(
                resource = %name,
                %difference,
                "the incremental engine disagrees with a from-scratch evaluation"
            );
        }
    }
}

/// Where the engine's evaluation differs from a from-scratch one, by part and control, with
/// the objects whose findings differ: what a divergence warning must say to be traced. Names
/// objects only (findings never carry Secret values).
fn describe_difference(incremental: Option<&Evaluation>, scratch: &Evaluation) -> String {
    let Some(incremental) = incremental else {
        return "the engine has no evaluation".into();
    };
    let mut parts = Vec::new();
    if incremental.namespaces != scratch.namespaces {
        parts.push(format!(
            "namespaces: engine {} vs scratch {}",
            incremental.namespaces.len(),
            scratch.namespaces.len()
        ));
    }
    if incremental.excluded != scratch.excluded {
        parts.push("excluded namespaces".into());
    }
    if incremental.namespace_exemptions != scratch.namespace_exemptions {
        parts.push("namespace exemptions".into());
    }
    if incremental.notices != scratch.notices {
        parts.push("notices".into());
    }
    if incremental.notes != scratch.notes {
        parts.push("notes".into());
    }
    let keys = |violations: &[crate::evaluate::Violation]| -> BTreeSet<String> {
        violations
            .iter()
            .map(|v| format!("{:?}: {}", v.object.key(), v.message))
            .collect()
    };
    for theirs in &scratch.controls {
        let Some(ours) = incremental.controls.iter().find(|c| c.id == theirs.id) else {
            parts.push(format!("{:?}: missing in the engine", theirs.id));
            continue;
        };
        if ours == theirs {
            continue;
        }
        let (a, b) = (keys(&ours.failed), keys(&theirs.failed));
        parts.push(format!(
            "{:?}: state {:?} vs {:?}, checked {} vs {}, only in engine {:?}, only in scratch {:?}, waived {} vs {}",
            theirs.id,
            ours.state,
            theirs.state,
            ours.checked,
            theirs.checked,
            a.difference(&b).collect::<Vec<_>>(),
            b.difference(&a).collect::<Vec<_>>(),
            ours.waived.len(),
            theirs.waived.len(),
        ));
    }
    if incremental.controls.len() != scratch.controls.len() {
        parts.push("the engine has controls the scratch evaluation does not".into());
    }
    parts.join("; ")
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn object<T: serde::de::DeserializeOwned>(value: serde_json::Value) -> Arc<T> {
        Arc::new(serde_json::from_value(value).unwrap())
    }

    fn namespace(name: &str, team: &str) -> Object {
        Object::namespaces(object(
            json!({"metadata": {"name": name, "labels": {"team": team}}}),
        ))
    }

    /// A first plan settles its own namespaces and says the rest is provisional; the next
    /// settles everything and equals a from-scratch evaluation.
    #[test]
    fn an_enforcement_first_settle_leaves_the_rest_for_the_evidence_plan() {
        let feed = EngineFeed::new(ExcludedNamespaces::default());
        feed.set_secrets_not_observed(None);
        let spec = json!({"namespaceSelector": {}, "network": {"defaultDeny": ["Ingress"]}});
        let sb: Arc<crate::api::SecurityBaseline> = object(json!({
            "apiVersion": "security.baseline.dev/v1alpha1", "kind": "SecurityBaseline",
            "metadata": {"name": "sb", "uid": "uid-sb"}, "spec": spec,
        }));
        let valid = crate::validate::security_baseline::validate(&sb.spec).unwrap();
        feed.upsert(Object::security_baselines(sb));
        for name in ["a", "b", "c"] {
            feed.upsert(namespace(name, "red"));
        }
        let now: Timestamp = "2026-06-01T00:00:00Z".parse().unwrap();
        let (_, provisional) = feed.security_baseline_by("sb", &valid, None, now).unwrap();
        assert!(!provisional);
        // Every namespace's policy picks team=blue; a namespace joining it is outside.
        for name in ["a", "b", "c"] {
            feed.upsert(Object::network_policies(object(json!({
                "metadata": {"namespace": name, "name": "np"},
                "spec": {"podSelector": {}, "ingress": [
                    {"from": [{"namespaceSelector": {"matchLabels": {"team": "blue"}}}]}]},
            }))));
        }
        feed.security_baseline_by("sb", &valid, None, now).unwrap();
        let reach = feed.upsert(namespace("new", "blue")).expect("a change");
        assert_eq!(reach.len(), 4, "{reach:?}");
        let first = BTreeSet::from(["new".to_string()]);
        let (early, provisional) = feed
            .security_baseline_by("sb", &valid, Some(&first), now)
            .unwrap();
        assert!(provisional, "a, b and c are left to judge");
        assert_eq!(
            early.namespaces,
            ["new"],
            "the first plan judges its own only"
        );
        let (settled, provisional) = feed.security_baseline_by("sb", &valid, None, now).unwrap();
        assert!(!provisional);
        let mut snapshot = feed.lock().engine.snapshot();
        snapshot.excluded = ExcludedNamespaces::default();
        let scratch = crate::evaluate::security_baseline::evaluate("sb", &valid, &snapshot, now);
        assert_eq!(settled, scratch);
        assert_ne!(
            early, scratch,
            "the first plan had not judged a, b and c yet"
        );
    }

    fn baseline(spec: serde_json::Value) -> Arc<crate::api::SecurityBaseline> {
        object(json!({
            "apiVersion": "security.baseline.dev/v1alpha1", "kind": "SecurityBaseline",
            "metadata": {"name": "sb", "uid": "uid-sb"}, "spec": spec,
        }))
    }

    /// The check as `check_once` makes it, over a one-resource "store"; also asserts that the
    /// from-scratch evaluation ran at nice 19 and the engine's at the caller's priority.
    fn check(feed: &EngineFeed, store: Option<&crate::api::SecurityBaseline>) -> Comparison {
        let nice = || rustix::process::getpriority_process(Some(rustix::thread::gettid())).unwrap();
        let ours = nice();
        let snapshot = || {
            let mut snapshot = feed.lock().engine.snapshot();
            snapshot.excluded = ExcludedNamespaces::default();
            snapshot
        };
        compare(
            feed,
            &snapshot,
            || crate::validate::security_baseline::validate(&store?.spec).ok(),
            |valid, snapshot, now| {
                assert_eq!(nice(), 19, "the from-scratch evaluation runs lowered");
                crate::evaluate::security_baseline::evaluate("sb", valid, snapshot, now)
            },
            |_, now| {
                assert_eq!(nice(), ours, "the engine is read at normal priority");
                feed.security_baseline("sb", now)
            },
        )
    }

    /// A baseline deleted while a round runs (its store no longer has it) is not a divergence;
    /// the engine disagreeing with the stores' spec is one.
    #[test]
    fn a_resource_gone_mid_round_is_not_compared_and_a_wrong_engine_diverges() {
        let feed = EngineFeed::new(ExcludedNamespaces::default());
        feed.set_secrets_not_observed(None);
        let sb =
            baseline(json!({"namespaceSelector": {}, "network": {"defaultDeny": ["Ingress"]}}));
        feed.upsert(Object::security_baselines(sb.clone()));
        feed.upsert(namespace("a", "red"));
        assert_eq!(check(&feed, Some(&sb)), Comparison::Agreed);

        feed.delete(Object::security_baselines(sb.clone()));
        assert_eq!(check(&feed, None), Comparison::NotCompared);

        // The engine keeps the old spec while the "store" has another: seen twice, counted.
        feed.upsert(Object::security_baselines(sb));
        let other =
            baseline(json!({"namespaceSelector": {}, "network": {"defaultDeny": ["Egress"]}}));
        assert!(matches!(
            check(&feed, Some(&other)),
            Comparison::Diverged(_)
        ));
    }

    /// Plans take the engine's environments only once it has every list they are made of.
    #[test]
    fn environments_are_handed_out_once_their_lists_are_in() {
        let feed = EngineFeed::new(ExcludedNamespaces::default());
        feed.listed(Kind::namespaces, vec![namespace("a", "red")]);
        feed.listed(Kind::environment_isolations, Vec::new());
        assert!(feed.environments().is_none(), "no BackupPolicy list yet");
        feed.listed(Kind::backup_policies, Vec::new());
        assert!(feed.environments().is_some());
    }
}
