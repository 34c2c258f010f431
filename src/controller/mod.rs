//! The I/O shell: watches, applies desired objects, writes status and events.

pub mod apply;
pub mod backup_policy;
pub mod context;
pub mod environment_isolation;
pub mod reconciler;
pub mod secrets;
pub mod security_baseline;
pub mod status;
pub mod stores;
pub mod trigger;

use crate::desired::OwnedKind;
use context::Context;
use futures::StreamExt;
use kube::runtime::controller::Action;
use kube::runtime::reflector::ObjectRef;
use kube::runtime::{Controller, watcher};
use kube::{Api, Client, Resource, ResourceExt};
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
    pub fn reason(&self) -> &'static str {
        match self {
            Self::Forbidden { .. } => "Forbidden",
            Self::Write { .. } => "ApplyFailed",
            Self::Status(_) | Self::StatusSerialize(_) => "StatusFailed",
            Self::Finalizer(_) => "FinalizerFailed",
        }
    }
}

/// How often every resource is re-evaluated even when nothing changed (time-based rules).
pub const RESYNC: Duration = Duration::from_secs(300);

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
    /// The namespace Velero runs in, the only one whose Velero objects are watched and written
    /// (the chart's Velero rights are a Role there).
    pub velero_namespace: String,
}

/// Velero's namespace unless configured otherwise (`--velero-namespace`).
pub const DEFAULT_VELERO_NAMESPACE: &str = "velero";

/// Maps triggers to the resources of kind `K` whose scope they touch: a change in a namespace
/// reconciles the resources that select it; a cluster-wide change (or a lagging receiver, which
/// lost track) reconciles all of them.
fn mapped_triggers<K>(
    mut receiver: broadcast::Receiver<Trigger>,
    store: kube::runtime::reflector::Store<K>,
    selects_namespace: fn(&K, &str, &Stores) -> bool,
    stores: Stores,
) -> impl futures::Stream<Item = ObjectRef<K>> + Send + 'static
where
    K: Resource<DynamicType = ()> + Clone + Send + Sync + 'static,
{
    let (tx, mut rx) = tokio::sync::mpsc::channel(1024);
    tokio::spawn(async move {
        loop {
            let namespace = match receiver.recv().await {
                Ok(trigger) => trigger.namespace,
                Err(broadcast::error::RecvError::Lagged(_)) => None,
                Err(broadcast::error::RecvError::Closed) => return,
            };
            for resource in store.state() {
                let concerned = namespace
                    .as_deref()
                    .is_none_or(|ns| selects_namespace(&resource, ns, &stores));
                if concerned && tx.send(ObjectRef::from_obj(&*resource)).await.is_err() {
                    return;
                }
            }
        }
    });
    futures::stream::poll_fn(move |cx| rx.poll_recv(cx))
}

/// Whether a namespace with `name` is selected by `selector` right now.
pub fn namespace_selected(
    selector: &k8s_openapi::apimachinery::pkg::apis::meta::v1::LabelSelector,
    name: &str,
    stores: &Stores,
) -> bool {
    stores
        .namespaces
        .get(&ObjectRef::new(name))
        // A namespace missing from the store may still hold owned objects to prune.
        .is_none_or(|ns| crate::evaluate::selects(selector, ns.labels()))
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
    health: &crate::telemetry::Health,
) -> Result<Caches, RunError> {
    let (triggers, _) = broadcast::channel(4096);
    let stores = Stores::start(client, &triggers, detect_copied_secrets, velero_namespace);
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
        config.instance,
        config.resync,
    );
    ctx.username = own_username(&client).await;
    ctx.detects_copied_secrets = config.detect_copied_secrets;
    ctx.velero_namespace = config.velero_namespace.clone();
    ctx.excluded = crate::snapshot::ExcludedNamespaces::default()
        .with(
            config.operator_namespace,
            crate::snapshot::OPERATOR_NAMESPACE,
        )
        .with(
            config.excluded_namespaces,
            crate::snapshot::EXCLUDED_BY_CONFIGURATION,
        )
        .with([config.velero_namespace], crate::snapshot::VELERO_NAMESPACE);
    let ctx = Arc::new(ctx);
    let shared = Shared {
        client: &client,
        triggers: &triggers,
        stores: &stores,
        ctx: &ctx,
        health: &health,
        shutdown: &shutdown,
    };
    futures::join!(
        controller::<crate::api::SecurityBaseline>(&shared),
        controller::<crate::api::EnvironmentIsolation>(&shared),
        controller::<crate::api::BackupPolicy>(&shared),
    );
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
    let controller = Controller::new(
        Api::<K>::all(shared.client.clone()),
        watcher::Config::default().any_semantic(),
    );
    let trigger = mapped_triggers(
        shared.triggers.subscribe(),
        controller.store(),
        |resource: &K, namespace, stores| {
            !reconciler::awaits_own_change(resource)
                && K::selects_namespace(resource, namespace, stores)
        },
        shared.stores.clone(),
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
                    let result = reconciler::reconcile::<K>(resource, ctx).await;
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

fn error_policy<K: ResourceExt>(_resource: Arc<K>, error: &Error, _ctx: Arc<Context>) -> Action {
    // Invalid or forbidden work waits longer: hammering a 403 helps nobody.
    match error {
        Error::Forbidden { .. } => Action::requeue(Duration::from_secs(60)),
        _ => Action::requeue(Duration::from_secs(5)),
    }
}

/// Why the controllers stopped running.
#[derive(Debug, thiserror::Error)]
pub enum RunError {
    #[error("the watch caches stopped before they were ready")]
    CachesStopped,
}
