//! The I/O shell: watches, applies desired objects, writes status and events.

pub mod apply;
pub mod backoff;
pub mod backup_policy;
pub mod blocking;
pub mod carry_out;
pub mod context;
pub mod echoes;
pub mod engine_feed;
pub mod environment_isolation;
pub mod history;
pub mod owner_index;
pub mod projection_memo;
pub mod publish;
pub mod reads;
pub mod reconciler;
pub mod scope;
pub mod secrets;
pub mod security_baseline;
pub mod status;
pub mod stores;
pub mod trigger;
pub mod velero_records;
pub mod watch_health;
pub mod write_pool;

use crate::conditions::Reason;
use crate::desired::OwnedKind;
use context::Context;
use futures::{StreamExt, TryStreamExt};
use kube::runtime::WatchStreamExt;
use kube::runtime::controller::Action;
use kube::runtime::reflector::ObjectRef;
use kube::runtime::{Controller, watcher};
use kube::{Api, Client, Resource, ResourceExt};
use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;
use stores::{Stores, Trigger};
use tokio::sync::{broadcast, watch};

/// Why a reconcile failed; each becomes a `Ready=False` reason and a Warning event.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("forbidden to {verb} {object}: {message}")]
    Forbidden {
        verb: &'static str,
        object: String,
        message: String,
    },
    #[error("failed to {verb} {object}: {source}")]
    Write {
        verb: &'static str,
        object: String,
        #[source]
        source: kube::Error,
    },
    #[error("writing status: {0}")]
    Status(#[source] kube::Error),
    #[error("serializing status: {0}")]
    StatusSerialize(String),
    #[error("finalizer: {0}")]
    Finalizer(String),
    /// Some writes failed and the rest were done: one namespace's quota, Terminating state or
    /// someone else's admission policy never stops enforcement elsewhere.
    #[error("{} of the operator's writes failed; the rest were done: {}", .0.len(), join_bounded(.0))]
    Partial(Vec<Error>),
    /// What Velero recorded about a restore test could not be fetched (yet).
    #[error("reading Velero's record: {0}")]
    VeleroRecord(String),
}

/// The failures of a partial reconcile, the first few in full.
fn join_bounded(errors: &[Error]) -> String {
    const SHOWN: usize = 3;
    let mut text: Vec<String> = errors.iter().take(SHOWN).map(Error::to_string).collect();
    if errors.len() > SHOWN {
        text.push(format!("and {} more", errors.len() - SHOWN));
    }
    text.join("; ")
}

impl Error {
    pub fn write(
        verb: &'static str,
        kind: OwnedKind,
        namespace: Option<&str>,
        name: &str,
        source: kube::Error,
    ) -> Self {
        let object = apply::reference(kind, namespace, name);
        match source {
            kube::Error::Api(status) if status.code == 403 => Self::Forbidden {
                verb,
                object,
                message: status.message,
            },
            source => Self::Write {
                verb,
                object,
                source,
            },
        }
    }

    /// The condition reason and metric label.
    pub fn reason(&self) -> Reason {
        match self {
            Self::Forbidden { .. } => Reason::Forbidden,
            Self::Write { .. } => Reason::ApplyFailed,
            Self::Status(_) | Self::StatusSerialize(_) => Reason::StatusFailed,
            Self::Finalizer(_) => Reason::FinalizerFailed,
            Self::Partial(errors) => errors.first().map_or(Reason::ApplyFailed, Error::reason),
            Self::VeleroRecord(_) => Reason::VeleroRecordUnavailable,
        }
    }

    /// Whether waiting alone can clear the error; decides how fast a retry comes.
    pub fn persistence(&self) -> backoff::Persistence {
        use backoff::Persistence::*;
        match self {
            Self::Forbidden { .. } | Self::StatusSerialize(_) => Permanent,
            Self::Write { source, .. } | Self::Status(source) => backoff::persistence_of(source),
            Self::Finalizer(_) => Transient,
            // Velero not answering is rarely over in a second: retried at the slow pace, so a
            // cluster without a running Velero sees few retries (each one only reads).
            Self::VeleroRecord(_) => Permanent,
            // Retry at the pace of the quickest to clear.
            Self::Partial(errors) => {
                if errors.iter().any(|e| e.persistence() == Transient) {
                    Transient
                } else {
                    Permanent
                }
            }
        }
    }
}

/// How often every resource is re-evaluated even when nothing changed (time-based rules).
pub const RESYNC: Duration = Duration::from_secs(300);

/// Triggers are gathered for this long after the first one, then each concerned resource is
/// reconciled once: a burst of pod events (a rollout, a namespace full of Jobs) costs one
/// evaluation per window, not one per event. A fixed window, not a sliding one (kube's own
/// debounce restarts on every event), so that endless churn delays a reconcile by at most one
/// window and can never starve it.
pub const TRIGGER_WINDOW: Duration = Duration::from_secs(1);

/// Settings of a running operator.
#[derive(Clone, Debug)]
pub struct RunConfig {
    pub instance: String,
    /// How often every resource is re-evaluated without a trigger.
    pub resync: Duration,
    /// Watch Secrets (as keyed digests) so EnvironmentIsolation can detect copies.
    pub detect_copied_secrets: bool,
    /// The namespace the operator runs in (never touched, so it cannot cut itself off).
    pub operator_namespace: Option<String>,
    /// More namespaces no resource may touch, beside the built-in system ones.
    pub excluded_namespaces: Vec<String>,
    /// How long a watch may fail before every resource's Ready says so.
    pub watch_grace: Duration,
    /// How often status says again that an unchanged result was evaluated (one status write
    /// per resource per interval in steady state).
    pub evaluated_refresh: Duration,
    /// How often the incremental engine is compared with a from-scratch evaluation.
    pub engine_check: Duration,
    /// Writes in flight at once, across all controllers (see [`write_pool`]).
    pub write_concurrency: usize,
    /// Where control transitions and checkpoints are appended; None: no history is kept.
    pub history: Option<history::HistoryConfig>,
    /// The namespace Velero runs in, the only one whose Velero objects are watched and written
    /// (the chart's Velero rights are a Role there).
    pub velero_namespace: String,
    /// The ServiceAccounts (in `velero_namespace`) Velero's server runs as: label protection
    /// lets them recreate a deleted namespace with its environment labels (disaster recovery).
    pub velero_service_accounts: Vec<String>,
    /// Which report API(s) findings are written to: `auto` follows what the cluster serves.
    pub reports_api: crate::desired::report_api::ReportsChoice,
}

/// How often status restamps an unchanged evaluation unless configured otherwise.
pub const DEFAULT_EVALUATED_REFRESH: Duration = Duration::from_secs(3600);

/// Velero's namespace unless configured otherwise (`--velero-namespace`).
pub const DEFAULT_VELERO_NAMESPACE: &str = crate::snapshot::DEFAULT_VELERO_NAMESPACE;

/// The ServiceAccounts Velero's server runs as unless configured otherwise
/// (`--velero-service-accounts`): `velero-server` from Velero's Helm chart (release `velero`),
/// `velero` from `velero install`.
pub const DEFAULT_VELERO_SERVICE_ACCOUNTS: &[&str] = &["velero-server", "velero"];

/// Maps triggers to the resources of kind `K` whose scope they touch: a change in a namespace
/// reconciles the resources that select it (by its labels now or before the change); a
/// cluster-wide change (or a lagging receiver, which lost track) reconciles all of them; a
/// change that only echoes a resource's own write does not wake that resource. The first
/// change after a quiet spell is acted on at once, and so is a namespace created or relabelled
/// by someone else, whatever window is open (a new namespace gets its NetworkPolicies without
/// waiting); the other changes that follow are gathered per [`TRIGGER_WINDOW`]. The
/// namespaces a change concerns are recorded in `scopes`, so that the pass it starts covers
/// only them (see [`scope`]).
fn mapped_triggers<K>(
    mut receiver: broadcast::Receiver<Trigger>,
    store: kube::runtime::reflector::Store<K>,
    selects_namespace: fn(&K, &str, Option<&BTreeMap<String, String>>) -> bool,
    stores: Stores,
    scopes: Arc<scope::Scopes>,
) -> impl futures::Stream<Item = ObjectRef<K>> + Send + 'static
where
    K: reconciler::Reconciled,
{
    let (tx, mut rx) = tokio::sync::mpsc::channel(1024);
    tokio::spawn(async move {
        let mut leading = true;
        let mut carried = Vec::new();
        loop {
            // The echo of the operator's own namespace label write (a SecurityBaseline's Pod
            // Security labels) that set only labels no selector reads concerns no resource of
            // a kind that reads namespaces through selectors alone. Only echoes: a tenant's
            // relabel always wakes every reader, so a selector the engine has not indexed yet
            // (its resource's event still on its way) can never make one missed.
            let ignored = |trigger: &Trigger| {
                K::READS_NAMESPACES_THROUGH_SELECTORS
                    && trigger.echo_of.is_some()
                    && trigger.kind.as_deref() == Some("Namespace")
                    && trigger
                        .namespace_keys
                        .as_ref()
                        .is_some_and(|keys| !stores.engine.selectors_read(keys))
            };
            let Some(mut window) =
                trigger::next_window(&mut receiver, leading, TRIGGER_WINDOW, carried, ignored)
                    .await
            else {
                return;
            };
            carried = std::mem::take(&mut window.deferred);
            // After a quiet window, the next change leads again.
            leading = !leading && window.is_empty();
            let current_labels = |ns: &str| {
                stores
                    .namespaces
                    .get(&ObjectRef::new(ns))
                    .map(|n| n.labels().clone())
            };
            for resource in store.state() {
                let uid = resource.meta().uid.as_deref().unwrap_or_default();
                let Some(concerned) = window.scope_for(
                    uid,
                    |kind, namespace| resource.reads(kind, namespace),
                    |ns, labels| selects_namespace(&resource, ns, labels),
                    current_labels,
                ) else {
                    continue;
                };
                let concerned = resource.widen(concerned);
                if concerned.is_all() {
                    let kinds: Vec<&str> = window
                        .everything
                        .keys()
                        .map(|k| k.as_deref().unwrap_or("(no object: a watch or an API)"))
                        .collect();
                    tracing::debug!(
                        resource = %resource.meta().name.as_deref().unwrap_or_default(),
                        ?kinds,
                        "a change of unknown reach concerns every namespace"
                    );
                } else {
                    // What woke a narrow pass, per namespace (a few at most: the
                    // diagnosis of a cluster that keeps waking the operator).
                    let woke: Vec<(&str, Vec<&str>)> = window
                        .namespaces
                        .iter()
                        .take(4)
                        .map(|(ns, changes)| {
                            let mut kinds: Vec<&str> =
                                changes.wakes.keys().flatten().map(String::as_str).collect();
                            if changes.owners.contains(uid) {
                                kinds.push("(an object of its own)");
                            }
                            (ns.as_str(), kinds)
                        })
                        .collect();
                    tracing::debug!(
                        resource = %resource.meta().name.as_deref().unwrap_or_default(),
                        ?woke,
                        "woken by changes in namespaces"
                    );
                }
                // Recorded before the wake-up is sent: the pass it starts takes it.
                scopes.mark(uid, &concerned, window.newest_for(uid, &concerned));
                if tx.send(ObjectRef::from_obj(&*resource)).await.is_err() {
                    return;
                }
            }
        }
    });
    futures::stream::poll_fn(move |cx| rx.poll_recv(cx))
}

/// Whether a namespace with `labels` is selected by `selector` (None: a namespace missing
/// from the store, which may still hold owned objects to prune).
pub fn namespace_selected(
    selector: &k8s_openapi::apimachinery::pkg::apis::meta::v1::LabelSelector,
    labels: Option<&BTreeMap<String, String>>,
) -> bool {
    labels.is_none_or(|labels| crate::evaluate::selects(selector, labels))
}

/// Watch caches that have synced, ready for the controllers. A standby replica holds these
/// too, so that it is Ready and takes over without a cold start.
pub struct Caches {
    triggers: broadcast::Sender<Trigger>,
    stores: Stores,
}

/// Starts the stores and waits until they have synced; then marks the process Ready.
pub async fn warm(
    client: &Client,
    detect_copied_secrets: bool,
    velero_namespace: &str,
    watch_grace: Duration,
    health: &crate::telemetry::Health,
) -> Result<Caches, RunError> {
    let (triggers, _) = broadcast::channel(4096);
    let stores = Stores::start(
        client,
        &triggers,
        detect_copied_secrets,
        velero_namespace,
        watch_grace,
    );
    stores
        .wait_until_ready()
        .await
        .map_err(|_| RunError::CachesStopped)?;
    health
        .ready
        .store(true, std::sync::atomic::Ordering::Relaxed);
    Ok(Caches { triggers, stores })
}

/// Starts the stores and the controllers, and runs until `shutdown` turns true.
pub async fn run(
    client: Client,
    config: RunConfig,
    metrics: Arc<crate::telemetry::Metrics>,
    health: Arc<crate::telemetry::Health>,
    shutdown: watch::Receiver<bool>,
) -> Result<(), RunError> {
    let caches = warm(
        &client,
        config.detect_copied_secrets,
        &config.velero_namespace,
        config.watch_grace,
        &health,
    )
    .await?;
    run_with(client, caches, config, metrics, health, shutdown).await;
    Ok(())
}

/// Runs the controllers on caches that have synced, until `shutdown` turns true and the
/// reconciles in flight have finished.
pub async fn run_with(
    client: Client,
    caches: Caches,
    config: RunConfig,
    metrics: Arc<crate::telemetry::Metrics>,
    health: Arc<crate::telemetry::Health>,
    shutdown: watch::Receiver<bool>,
) {
    let Caches { triggers, stores } = caches;
    let mut ctx = Context::new(
        client.clone(),
        stores.clone(),
        metrics,
        config.instance.clone(),
        config.resync,
    );
    ctx.writes = write_pool::WritePool::new(config.write_concurrency);
    ctx.reads.username = own_username(&client).await;
    ctx.reads.detects_copied_secrets = config.detect_copied_secrets;
    ctx.watch_grace = config.watch_grace;
    ctx.evaluated_refresh = config.evaluated_refresh;
    ctx.history = config
        .history
        .map(|h| Arc::new(history::HistoryWriter::new(h, config.instance.clone())));
    ctx.reads.velero_namespace = config.velero_namespace.clone();
    ctx.reports = config.reports_api;
    ctx.reads.restorers = config
        .velero_service_accounts
        .iter()
        .map(|name| service_account_username(&config.velero_namespace, name))
        .collect();
    // Only the operator's own configuration takes namespaces out of scope, never a custom
    // resource (see `ExcludedNamespaces`).
    ctx.reads.excluded = crate::snapshot::ExcludedNamespaces::new(&config.velero_namespace)
        .with(
            config.operator_namespace,
            crate::snapshot::OPERATOR_NAMESPACE,
        )
        .with(
            config.excluded_namespaces,
            crate::snapshot::EXCLUDED_BY_CONFIGURATION,
        );
    ctx.reads
        .stores
        .engine
        .set_excluded(ctx.reads.excluded.clone());
    let ctx = Arc::new(ctx);
    let checks = tokio::spawn(engine_feed::check_periodically(
        ctx.clone(),
        config.engine_check,
    ));
    if let Some(history) = &ctx.history
        && let Err(error) = history.start(jiff::Timestamp::now()).await
    {
        // Every reconcile tries again and says so in Ready until it succeeds.
        tracing::error!(%error, location = %history.describe(), "cannot open the evidence history");
    }
    let shared = Shared {
        client: &client,
        triggers: &triggers,
        stores: &stores,
        ctx: &ctx,
        health: &health,
        shutdown: &shutdown,
    };
    macro_rules! run_controllers {
        ($($field:ident: $ty:ty,)*) => {
            futures::join!($(controller::<$ty>(&shared),)*)
        };
    }
    crate::kinds::custom_kinds!(run_controllers);
    checks.abort();
    if let Some(history) = &ctx.history {
        history.stop(jiff::Timestamp::now()).await;
    }
}

/// What the three controllers share.
struct Shared<'a> {
    client: &'a Client,
    triggers: &'a broadcast::Sender<Trigger>,
    stores: &'a Stores,
    ctx: &'a Arc<Context>,
    health: &'a Arc<crate::telemetry::Health>,
    shutdown: &'a watch::Receiver<bool>,
}

/// The user name the API server gives a ServiceAccount's requests.
fn service_account_username(namespace: &str, name: &str) -> String {
    format!(
        "{}{namespace}:{name}",
        crate::vocabulary::environments::SERVICE_ACCOUNT_USER_PREFIX
    )
}

/// The operator's user name as the API server sees it, so that label protection admits the
/// operator's own writes. `None` when the server will not say (the rule then lists nobody).
async fn own_username(client: &Client) -> Option<String> {
    use k8s_openapi::api::authentication::v1::SelfSubjectReview;
    let api: Api<SelfSubjectReview> = Api::all(client.clone());
    match api
        .create(&Default::default(), &SelfSubjectReview::default())
        .await
    {
        Ok(review) => review.status?.user_info?.username,
        Err(error) => {
            tracing::warn!(%error, "cannot learn the operator's own user name");
            None
        }
    }
}

/// Runs one kind's controller until shutdown. Every reconcile is tracked for liveness.
async fn controller<K: reconciler::Reconciled>(shared: &Shared<'_>) {
    // The resources themselves, as `Controller::new` would watch them, but a change that only
    // echoes the resource's own status write wakes nothing: the reconcile that wrote it had
    // judged everything already.
    let (reader, writer) = kube::runtime::reflector::store();
    let echoes = shared.stores.echoes.clone();
    // Each resource's identity as last seen: an event that leaves it as it was and carries
    // the status the resource itself last wrote is only the echo of that write.
    let seen: std::sync::Mutex<std::collections::HashMap<String, echoes::Identity>> =
        Default::default();
    let changed = watcher(
        Api::<K>::all(shared.client.clone()),
        watcher::Config::default().any_semantic(),
    )
    .default_backoff()
    .reflect(writer)
    .applied_objects()
    .try_filter(move |resource| {
        let uid = resource.meta().uid.clone().unwrap_or_default();
        let identity = echoes::Identity::of(resource.meta());
        let same_identity = seen
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .insert(uid.clone(), identity.clone())
            .is_some_and(|before| before == identity);
        let status = serde_json::to_value(resource)
            .ok()
            .and_then(|mut v| v.get_mut("status").map(serde_json::Value::take))
            .unwrap_or_default();
        let own_echo = same_identity && echoes.is_own_status(&uid, &status);
        futures::future::ready(!own_echo)
    });
    let controller = Controller::for_stream(changed, reader);
    let trigger = mapped_triggers(
        shared.triggers.subscribe(),
        controller.store(),
        |resource: &K, namespace, labels| {
            !reconciler::awaits_own_change(resource)
                && K::selects_namespace(resource, namespace, labels)
        },
        shared.stores.clone(),
        shared.ctx.scopes.clone(),
    );
    let mut shutdown = shared.shutdown.clone();
    let health = shared.health.clone();
    controller
        .reconcile_on(trigger)
        .graceful_shutdown_on(async move {
            let _ = shutdown.wait_for(|s| *s).await;
        })
        .run(
            move |resource, ctx| {
                let in_flight = health.reconcile_started();
                async move {
                    let key = failure_key(&*resource);
                    let result = reconciler::reconcile::<K>(resource, ctx.clone()).await;
                    if result.is_ok() {
                        ctx.failures.reset(&key);
                    }
                    drop(in_flight);
                    result
                }
            },
            error_policy,
            shared.ctx.clone(),
        )
        .for_each(|result| async move {
            if let Err(error) = result {
                tracing::debug!(%error, "reconcile");
            }
        })
        .await;
}

/// Backs off exponentially per resource, slower for refusals than for outages (see
/// [`backoff`]).
fn error_policy<K: Resource<DynamicType = ()>>(
    resource: Arc<K>,
    error: &Error,
    ctx: Arc<Context>,
) -> Action {
    let attempt = ctx.failures.record(&failure_key(&*resource));
    let wait = backoff::delay(error.persistence(), attempt);
    tracing::debug!(
        attempt,
        wait_seconds = wait.as_secs(),
        "retrying after failure"
    );
    Action::requeue(wait)
}

fn failure_key<K: Resource<DynamicType = ()>>(resource: &K) -> String {
    format!("{}/{}", K::kind(&()), resource.name_any())
}

/// Why the controllers stopped running.
#[derive(Debug, thiserror::Error)]
pub enum RunError {
    #[error("the watch caches stopped before they were ready")]
    CachesStopped,
}
