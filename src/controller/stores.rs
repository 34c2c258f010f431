//! One reflector per watched kind, shared by all controllers, and the trigger fan-out that
//! maps each change to the namespace it happened in.

use super::echoes::{Echoes, ObjectKey};
use super::engine_feed::{EngineFeed, Fed};
use super::owner_index::OwnerIndex;
use super::projection_memo::ProjectionMemo;
use super::scope::Scope;
use super::secrets::SecretDigests;
pub use super::trigger::Trigger;
use super::watch_health::WatchHealth;
use crate::projection::Projected;
use crate::snapshot::{CustomResources, ObjectMetaOnly, ReplicaSetLink, Snapshot, VeleroSnapshot};
use futures::{FutureExt, TryStreamExt};
use k8s_openapi::api::admissionregistration::v1::{
    ValidatingAdmissionPolicy, ValidatingAdmissionPolicyBinding,
};
use k8s_openapi::api::apps::v1::ReplicaSet;
use k8s_openapi::api::core::v1::ConfigMap;
use kube::api::DynamicObject;
use kube::core::PartialObjectMeta;
use kube::runtime::reflector::{self, Store};
use kube::runtime::{WatchStreamExt, watcher};
use kube::{Api, Client, Resource, ResourceExt};
use serde::de::DeserializeOwned;
use std::fmt::Debug;
use std::hash::Hash;
use std::sync::{Arc, OnceLock};
use tokio::sync::broadcast;

/// The operator's own reports of one report kind (PolicyReport, ClusterPolicyReport, Report
/// or ClusterReport), once its API is served, and what discovery has found so far.
#[derive(Default)]
pub struct ReportStore {
    store: OnceLock<Store<DynamicObject>>,
    /// The reports by owner and namespace (see `owner_index`).
    owners: OwnerIndex,
    /// Discovery has looked and found the API not served (or not listable by the operator).
    absent: std::sync::atomic::AtomicBool,
}

impl ReportStore {
    /// The store, once the API is served and the operator's reports are listed.
    pub fn get(&self) -> Option<&Store<DynamicObject>> {
        self.store.get()
    }

    /// The namespaces holding a report of `owner` (by uid), from the owner index: a lookup,
    /// not a walk of every report. Empty until the API is served.
    pub fn namespaces_of(&self, owner: &str) -> Vec<String> {
        match self.store.get() {
            Some(_) => self.owners.namespaces_of(owner),
            None => Vec::new(),
        }
    }

    pub fn discovery(&self) -> crate::desired::report_api::Discovery {
        use crate::desired::report_api::Discovery;
        if self.store.get().is_some() {
            Discovery::Served
        } else if self.absent.load(std::sync::atomic::Ordering::Relaxed) {
            Discovery::Absent
        } else {
            Discovery::Unknown
        }
    }
}

/// Polls discovery until `kind` (a report kind, whose CRDs may be installed after the
/// operator) is served and listable, then watches the operator's reports of that kind. The
/// first look that finds it absent is recorded, so that `--reports-api auto` knows which API
/// to write without waiting for it.
fn discover_reports(
    kind: crate::desired::OwnedKind,
    client: Client,
    cell: Arc<ReportStore>,
    triggers: broadcast::Sender<Trigger>,
    echoes: Arc<Echoes>,
) {
    tokio::spawn(async move {
        let resource = kind.api_resource();
        let api = Api::<DynamicObject>::all_with(client.clone(), &resource);
        loop {
            if is_served(&client, &resource.api_version, &resource.plural).await {
                let probe = kube::api::ListParams::default().limit(1);
                match api.list_metadata(&probe).await {
                    Ok(_) => break,
                    Err(kube::Error::Api(status)) if status.code == 403 => {
                        // Once, not every look.
                        if !cell.absent.load(std::sync::atomic::Ordering::Relaxed) {
                            tracing::warn!(kind = %resource.kind, message = %status.message, "report API served but not listable; not writing it");
                        }
                    }
                    // Anything else may pass: look again before calling it absent.
                    Err(_) => {
                        tokio::time::sleep(VELERO_DISCOVERY_INTERVAL).await;
                        continue;
                    }
                }
            }
            if !cell.absent.swap(true, std::sync::atomic::Ordering::Relaxed) {
                // A choice waiting for this answer (auto) can decide now.
                let _ = triggers.send(Trigger::everything());
            }
            tokio::time::sleep(VELERO_DISCOVERY_INTERVAL).await;
        }
        let owned = owned_only();
        let writer = reflector::store::Writer::new(resource.clone());
        let reader = writer.as_reader();
        let owners = cell.owners.clone();
        let stream = watcher(api, owned)
            .default_backoff()
            // The drift check compares a report's content, never its managedFields.
            .modify(|report| report.managed_fields_mut().clear())
            .inspect_ok(move |event| owners.follow(event))
            .reflect(writer);
        let sender = triggers.clone();
        let kind_name = resource.kind.clone();
        tokio::spawn(async move {
            let mut stream = std::pin::pin!(stream);
            while let Ok(Some(event)) = stream.try_next().await {
                let (report, deleted) = match event {
                    watcher::Event::Apply(o) | watcher::Event::InitApply(o) => (o, false),
                    watcher::Event::Delete(o) => (o, true),
                    watcher::Event::Init | watcher::Event::InitDone => continue,
                };
                let key = ObjectKey::new(
                    kind_name.as_str(),
                    report.namespace().as_deref(),
                    &report.name_any(),
                );
                let version = report.resource_version();
                let echo_of = echoes.writer_of(&key, version.as_deref(), deleted);
                let namespace = report.namespace();
                // A cluster-scoped report is rendered in every pass of its owner: its change
                // reaches no namespace (a narrow pass repairs it), not every one.
                let reach = namespace.is_none().then(Default::default);
                // No control judges a report: only its owner is woken (to repair or prune
                // it). One whose owner label is gone wakes whoever reads reports.
                let owner = super::owner_index::owner_of(&report);
                let trigger = Trigger {
                    echo_of,
                    kind: Some(kind_name.clone()),
                    reach,
                    owner,
                    ..Trigger::in_namespace(namespace)
                };
                if let Some(trigger) =
                    echoes.pass_or_hold(&key, version.as_deref(), deleted, trigger)
                {
                    let _ = sender.send(trigger);
                }
            }
        });
        let _ = reader.wait_until_ready().await;
        let _ = cell.store.set(reader);
        tracing::info!(kind = %resource.kind, "report API found; its reports are watched");
        let _ = triggers.send(Trigger::everything());
    });
}

/// Watches only the objects the operator manages (its managed-by label).
fn owned_only() -> watcher::Config {
    watcher::Config::default()
        .labels(&format!(
            "{}={}",
            crate::desired::MANAGED_BY,
            crate::desired::OPERATOR
        ))
        .any_semantic()
}

/// Returns once discovery lists `plural` in `group_version`, looking every
/// [`VELERO_DISCOVERY_INTERVAL`]: for APIs installed after the operator started.
async fn wait_until_served(client: &Client, group_version: &str, plural: &str) {
    while !is_served(client, group_version, plural).await {
        tokio::time::sleep(VELERO_DISCOVERY_INTERVAL).await;
    }
}

/// Whether discovery lists `plural` in `group_version` now.
async fn is_served(client: &Client, group_version: &str, plural: &str) -> bool {
    client
        .list_api_group_resources(group_version)
        .await
        .is_ok_and(|list| list.resources.iter().any(|r| r.name == plural))
}

/// Velero's stores, one per kind of [`crate::snapshot::velero_kinds`], all in Velero's
/// namespace, plus the operator's own ConfigMaps there.
macro_rules! velero_stores {
    ($($field:ident: $ty:ty,)*) => {
        #[derive(Clone)]
        pub struct VeleroStores {
            $(pub $field: Store<$ty>,)*
            /// The operator's own ConfigMaps in Velero's namespace (restore-test resource
            /// modifiers), whole, for drift repair; others' ConfigMaps there are not read.
            pub config_maps: Store<ConfigMap>,
        }

        impl VeleroStores {
            fn start(
                client: &Client,
                namespace: &str,
                triggers: &broadcast::Sender<Trigger>,
                health: &WatchHealth,
                sinks: &Sinks,
            ) -> Self {
                let all = watcher::Config::default().any_semantic();
                Self {
                    $($field: reflect(
                        Api::namespaced(client.clone(), namespace),
                        all.clone(),
                        triggers,
                        health,
                        sinks,
                    ),)*
                    config_maps: reflect(
                        Api::namespaced(client.clone(), namespace),
                        owned_only(),
                        triggers,
                        health,
                        sinks,
                    ),
                }
            }

            async fn wait_until_ready(&self) {
                let _ = futures::future::join_all([
                    $(self.$field.wait_until_ready().boxed(),)*
                    self.config_maps.wait_until_ready().boxed(),
                ])
                .await;
            }

            fn snapshot(&self) -> VeleroSnapshot {
                VeleroSnapshot {
                    installed: true,
                    unreadable: None,
                    // Filled in by `Context::snapshot`, which knows Velero's namespace.
                    namespace_missing: None,
                    $($field: self.$field.state(),)*
                }
            }
        }

        /// The first Velero kind the operator may not list in `namespace` (the modifier
        /// ConfigMaps included), with the API server's refusal.
        async fn unlistable_velero_kind(client: &Client, namespace: &str) -> Option<String> {
            let refusals = [
                $((
                    <$ty as Resource>::plural(&()).into_owned(),
                    list_refused::<$ty>(client, namespace).await,
                ),)*
                ("configmaps".to_string(), list_refused::<ConfigMap>(client, namespace).await),
            ];
            refusals
                .into_iter()
                .find_map(|(plural, error)| match error {
                    Some(kube::Error::Api(status)) if status.code == 403 => Some(format!(
                        "the velero.io/v1 API is served but the operator may not list {plural} in namespace {namespace}: {}",
                        status.message
                    )),
                    _ => None,
                })
        }
    };
}
crate::snapshot::velero_kinds!(velero_stores);

/// Polls discovery until `velero.io/v1` is served, then starts Velero's reflectors and
/// triggers every resource, so a BackupPolicy recovers by itself once Velero is installed.
/// Only `namespace` is watched: Velero acts on its objects there alone, and the chart grants
/// the operator its Velero rights there alone (a Role, not cluster-wide).
fn discover_velero(
    client: Client,
    namespace: String,
    cell: Arc<OnceLock<VeleroStores>>,
    unreadable: Arc<std::sync::RwLock<Option<String>>>,
    triggers: broadcast::Sender<Trigger>,
    health: WatchHealth,
    sinks: Sinks,
) {
    tokio::spawn(async move {
        loop {
            wait_until_served(&client, "velero.io/v1", "schedules").await;
            // A forbidden list would leave the reflectors waiting forever and Velero
            // looking absent: say why instead, and look again.
            let why = unlistable_velero_kind(&client, &namespace).await;
            let changed = {
                let mut current = unreadable.write().unwrap_or_else(|p| p.into_inner());
                let changed = *current != why;
                current.clone_from(&why);
                changed
            };
            if changed {
                let _ = triggers.send(Trigger::everything());
            }
            if why.is_some() {
                tokio::time::sleep(VELERO_DISCOVERY_INTERVAL).await;
                continue;
            }
            let stores = VeleroStores::start(&client, &namespace, &triggers, &health, &sinks);
            stores.wait_until_ready().await;
            let _ = cell.set(stores);
            tracing::info!("Velero API found; watching its objects");
            let _ = triggers.send(Trigger::everything());
            return;
        }
    });
}

/// Why listing `K` in `namespace` fails, if it does.
async fn list_refused<K>(client: &Client, namespace: &str) -> Option<kube::Error>
where
    K: Resource<Scope = kube::core::NamespaceResourceScope> + Clone + DeserializeOwned + Debug,
    K::DynamicType: Default,
{
    let probe = kube::api::ListParams::default().limit(1);
    Api::<K>::namespaced(client.clone(), namespace)
        .list_metadata(&probe)
        .await
        .err()
}

/// How often to look for Velero while it is not installed.
pub const VELERO_DISCOVERY_INTERVAL: std::time::Duration = std::time::Duration::from_secs(5);

/// What the engine made of a watch event.
enum EngineAnswer {
    /// The engine does not take the kind (or the store no longer holds the object).
    NotFed,
    /// The object is what the engine held but for its resource version: nothing any control
    /// reads changed.
    Unchanged,
    /// The namespaces it dirties (the trigger's reach).
    Reach(std::collections::BTreeSet<String>),
}

/// Gives the engine what a watch event changed: the store's own `Arc` of an object created
/// or changed (the reflector has stored it already), or the object gone.
fn feed_engine<K>(engine: &EngineFeed, store: &Store<K>, object: &K, deleted: bool) -> EngineAnswer
where
    K: Resource + Clone + Fed + 'static,
    K::DynamicType: Default + Eq + Hash + Clone,
{
    // Kinds the engine does not take are not fed.
    if K::KIND.is_none() {
        return EngineAnswer::NotFed;
    }
    if deleted {
        return match K::object(Arc::new(object.clone())) {
            Some(gone) => EngineAnswer::Reach(engine.delete(gone)),
            None => EngineAnswer::NotFed,
        };
    }
    let key = reflector::ObjectRef::from_obj(object);
    match store.get(&key).and_then(K::object) {
        Some(stored) => engine
            .upsert(stored)
            .map_or(EngineAnswer::Unchanged, EngineAnswer::Reach),
        None => EngineAnswer::NotFed,
    }
}

/// What the Namespace watch keeps of each namespace between its events.
#[derive(Clone)]
struct NamespaceSeen {
    labels: std::collections::BTreeMap<String, String>,
    annotations: std::collections::BTreeMap<String, String>,
    terminating: bool,
}

impl NamespaceSeen {
    fn of<K: Resource>(object: &K) -> Self {
        let meta = object.meta();
        Self {
            labels: meta.labels.clone().unwrap_or_default(),
            annotations: meta.annotations.clone().unwrap_or_default(),
            // A namespace's phase turns Terminating only once its deletion timestamp is set.
            terminating: meta.deletion_timestamp.is_some(),
        }
    }

    /// The label and annotation keys a change from `self` to `now` set, when that is all it
    /// changed of what any judgment reads of a namespace (its labels, annotations and being
    /// deleted; its name and uid are the same object's).
    fn keys_changed_to(&self, now: &NamespaceSeen) -> Option<crate::engine::ChangedKeys> {
        (self.terminating == now.terminating).then(|| {
            crate::engine::ChangedKeys::between(
                (&self.labels, &now.labels),
                (&self.annotations, &now.annotations),
            )
        })
    }
}

/// Cluster-scoped kinds whose every reader's judgment the engine's indexes follow per
/// namespace (`engine::events::dirtied`): a change of one wakes the namespaces it names, not
/// the cluster. Any other cluster-scoped change (a custom resource: label protection and
/// environments read them all) still concerns every namespace.
const REACHED_CLUSTER_KINDS: &[&str] = &["ClusterRole", "ClusterRoleBinding", "StorageClass"];

/// Where every watch event goes besides its store and the triggers.
#[derive(Clone)]
struct Sinks {
    echoes: Arc<Echoes>,
    engine: Arc<EngineFeed>,
    /// The NetworkPolicies' owner index (one watch of the kind feeds it).
    network_policy_owners: OwnerIndex,
}

/// Starts a reflector for `K`; every add, change or delete sends a trigger, and `health`
/// records whether its watch is failing.
fn reflect<K>(
    api: Api<K>,
    config: watcher::Config,
    triggers: &broadcast::Sender<Trigger>,
    health: &WatchHealth,
    sinks: &Sinks,
) -> Store<K>
where
    K: Resource + Clone + DeserializeOwned + Debug + Send + Sync + Fed + Projected + 'static,
    K::DynamicType: Default + Eq + Hash + Clone + Send + Sync,
{
    let (reader, writer) = reflector::store();
    let triggers = triggers.clone();
    let health = health.clone();
    let echoes = sinks.echoes.clone();
    let engine = sinks.engine.clone();
    let store = reader.clone();
    // Indexed by owner before the store takes each event (see `owner_index`); the other
    // kinds' owned objects are few, or read whole anyway.
    let owners = (K::kind(&Default::default()) == "NetworkPolicy")
        .then(|| sinks.network_policy_owners.clone());
    let stream = watcher(api, config)
        .default_backoff()
        .modify(|object| {
            // Nothing reads managedFields; dropping them roughly halves the cache. Then
            // whatever else of this kind no control reads (`crate::projection`).
            object.managed_fields_mut().clear();
            object.project();
        })
        .inspect_ok(move |event| {
            if let Some(owners) = &owners {
                owners.follow(event);
            }
        })
        .reflect(writer);
    tokio::spawn(async move {
        let kind = K::kind(&Default::default()).into_owned();
        // Each namespace as last seen (only for the Namespace watch): the labels before a
        // change, which decide who selected it, and what tells a change of labels and
        // annotations alone.
        let mut namespaces_seen: std::collections::HashMap<String, NamespaceSeen> =
            std::collections::HashMap::new();
        // Each custom resource's identity as last seen (only for the custom kinds): a change
        // that leaves it as it was touched only status, which no evaluation reads; it wakes
        // no one here (the resource's own controller watch judges its status).
        let custom = crate::kinds::is_custom(&kind);
        let mut identities: std::collections::HashMap<String, super::echoes::Identity> =
            std::collections::HashMap::new();
        let mut stream = std::pin::pin!(stream);
        loop {
            match stream.try_next().await {
                Ok(Some(event)) => {
                    // Any event, a list's start and end included, means the watch works.
                    health.recovered(&kind);
                    let listing = matches!(event, watcher::Event::InitApply(_));
                    let (object, deleted) = match event {
                        watcher::Event::Apply(o) | watcher::Event::InitApply(o) => (o, false),
                        watcher::Event::Delete(o) => (o, true),
                        watcher::Event::Init => continue,
                        watcher::Event::InitDone => {
                            // The store now holds the list: the engine takes it whole.
                            if let Some(kind) = K::KIND {
                                engine.received();
                                let listed = store.state().into_iter().filter_map(K::object);
                                engine.listed(kind, listed.collect());
                                engine.done();
                            }
                            continue;
                        }
                    };
                    // Listed objects reach the store (and the engine) at the list's end.
                    let mut fed = EngineAnswer::NotFed;
                    // A listed object has no number: the store takes it at the list's end.
                    let mut seq = None;
                    if !listing {
                        engine.received();
                        fed = feed_engine(&engine, &store, &object, deleted);
                        seq = Some(engine.done());
                    }
                    let key = ObjectKey::new(
                        kind.as_str(),
                        object.namespace().as_deref(),
                        &object.name_any(),
                    );
                    let version = object.resource_version();
                    let echo_of = echoes.writer_of(&key, version.as_deref(), deleted);
                    // What no control reads changed (a status the projection drops): the
                    // store holds the new version, nothing is judged again. (The custom
                    // kinds never come here: their status writes are followed below.)
                    let reach = match fed {
                        EngineAnswer::Unchanged => continue,
                        EngineAnswer::Reach(reach) => Some(reach),
                        EngineAnswer::NotFed => None,
                    };
                    if custom && !deleted {
                        let identity = super::echoes::Identity::of(object.meta());
                        let uid = object.meta().uid.clone().unwrap_or_default();
                        if identities.insert(uid, identity.clone()).as_ref() == Some(&identity) {
                            continue;
                        }
                    }
                    let trigger = if kind == "Namespace" {
                        // The namespace itself, judged by whoever selected it before or selects
                        // it now.
                        let name = object.name_any();
                        let seen = NamespaceSeen::of(&object);
                        let before = if deleted {
                            namespaces_seen.remove(&name)
                        } else {
                            namespaces_seen.insert(name.clone(), seen.clone())
                        };
                        let namespace_keys = before
                            .as_ref()
                            .filter(|_| !deleted)
                            .and_then(|before| before.keys_changed_to(&seen));
                        Trigger {
                            namespace: Some(name),
                            old_labels: Some(before.map(|b| b.labels).unwrap_or_default()),
                            echo_of,
                            kind: Some(kind.clone()),
                            reach,
                            namespace_keys,
                            owner: None,
                            seq,
                        }
                    } else {
                        let namespace = object.namespace();
                        // A cluster-scoped change reaches only the namespaces the indexes
                        // name where they follow its kind; otherwise every namespace.
                        let reach = reach.filter(|_| {
                            namespace.is_some() || REACHED_CLUSTER_KINDS.contains(&kind.as_str())
                        });
                        Trigger {
                            namespace,
                            old_labels: None,
                            echo_of,
                            kind: Some(kind.clone()),
                            reach,
                            namespace_keys: None,
                            owner: None,
                            seq,
                        }
                    };
                    // No receiver yet (start-up) is fine: controllers reconcile everything first.
                    if let Some(trigger) =
                        echoes.pass_or_hold(&key, version.as_deref(), deleted, trigger)
                    {
                        let _ = triggers.send(trigger);
                    }
                }
                Ok(None) => break,
                Err(error) => {
                    tracing::warn!(%kind, %error, "watch failed; retrying");
                    health.failed(&kind, &error.to_string());
                }
            }
        }
    });
    reader
}

/// Wakes every resource when the set of watches failing past `grace` changes, so that status
/// says so (and says when they recover) without waiting for a resync.
fn announce_failing_watches(
    health: WatchHealth,
    grace: std::time::Duration,
    triggers: broadcast::Sender<Trigger>,
) {
    tokio::spawn(async move {
        let mut known = Vec::new();
        loop {
            tokio::time::sleep(std::time::Duration::from_secs(2)).await;
            let now = health.kinds_beyond(grace);
            if now != known {
                known = now;
                let _ = triggers.send(Trigger::everything());
            }
        }
    });
}

/// A live owned object in a store, turned into JSON only when the drift check reads it: a
/// whole pass then holds the JSON of the objects being written at that moment, not of every
/// owned object at once (18.5 MiB at the peak of a whole pass at 1,000 namespaces).
#[derive(Clone)]
pub struct LiveOwned {
    pub namespace: Option<String>,
    pub name: String,
    json: Arc<dyn Fn() -> Option<serde_json::Value> + Send + Sync>,
}

impl LiveOwned {
    /// The object as the store held it when it was listed, as JSON.
    pub fn json(&self) -> Option<serde_json::Value> {
        (self.json)()
    }
}

/// The objects among `objects` labelled with `owner_uid` in the namespaces `covered` accepts
/// (a pass over one namespace reads that namespace's).
fn owned_live<K: Resource + serde::Serialize + Send + Sync + 'static>(
    objects: Vec<Arc<K>>,
    owner_uid: &str,
    covered: &dyn Fn(Option<&str>) -> bool,
) -> Vec<LiveOwned> {
    objects
        .into_iter()
        // The namespace first: a pass over one namespace skips the others' objects without
        // looking up their labels.
        .filter(|o| {
            covered(o.meta().namespace.as_deref())
                && o.meta()
                    .labels
                    .as_ref()
                    .and_then(|l| l.get(crate::desired::OWNER_UID))
                    .is_some_and(|uid| uid == owner_uid)
        })
        .map(|o| LiveOwned {
            namespace: o.meta().namespace.clone(),
            name: o.meta().name.clone().unwrap_or_default(),
            json: Arc::new(move || serde_json::to_value(&*o).ok()),
        })
        .collect()
}

/// [`owned_live`] through an owner index: the objects it names for `owner_uid` in `scope`,
/// each read from the store and checked again (the index may name one already gone).
fn owned_indexed<K>(
    store: &Store<K>,
    owners: &OwnerIndex,
    dynamic_type: &K::DynamicType,
    owner_uid: &str,
    scope: &Scope,
) -> Vec<LiveOwned>
where
    K: Resource + Clone + serde::Serialize + Send + Sync + 'static,
    K::DynamicType: Eq + Hash + Clone,
{
    let objects = owners
        .owned_by(owner_uid, scope)
        .into_iter()
        .filter_map(|(namespace, name)| {
            let mut key = reflector::ObjectRef::<K>::new_with(&name, dynamic_type.clone());
            if let Some(ns) = namespace {
                key = key.within(&ns);
            }
            store.get(&key)
        })
        .collect();
    owned_live(objects, owner_uid, &|namespace| scope.covers(namespace))
}

/// The resourceVersion of `name` in `namespace` in `store`, if the store holds it.
fn version_in<K>(store: &Store<K>, namespace: Option<&str>, name: &str) -> Option<String>
where
    K: Resource + Clone + 'static,
    K::DynamicType: Default + Eq + Hash + Clone,
{
    let mut key = reflector::ObjectRef::<K>::new(name);
    if let Some(ns) = namespace {
        key = key.within(ns);
    }
    store.get(&key)?.resource_version()
}

impl Stores {
    /// The resourceVersion of an owned kind's object as the stores hold it now (None: not
    /// there, or the kind is not watched yet).
    pub fn resource_version(
        &self,
        kind: crate::desired::OwnedKind,
        namespace: Option<&str>,
        name: &str,
    ) -> Option<String> {
        use crate::desired::OwnedKind::*;
        let velero = self.velero.get();
        match kind {
            NetworkPolicy => version_in(&self.network_policies, namespace, name),
            ValidatingAdmissionPolicy => version_in(&self.admission_policies, namespace, name),
            ValidatingAdmissionPolicyBinding => {
                version_in(&self.admission_bindings, namespace, name)
            }
            Namespace => version_in(&self.namespaces, namespace, name),
            VeleroSchedule => velero.and_then(|v| version_in(&v.schedules, namespace, name)),
            VeleroRestore => velero.and_then(|v| version_in(&v.restores, namespace, name)),
            ConfigMap => velero.and_then(|v| version_in(&v.config_maps, namespace, name)),
            PolicyReport | ClusterPolicyReport | Report | ClusterReport => {
                let store = self.report_store(kind)?.get()?;
                let mut key = reflector::ObjectRef::new_with(name, kind.api_resource());
                if let Some(ns) = namespace {
                    key = key.within(ns);
                }
                store.get(&key)?.resource_version()
            }
        }
    }

    /// Waits until the stores show every write in `written` (or something later), at most
    /// `patience`: what is judged next is the state the writes made. Whether they all
    /// arrived in time.
    pub async fn observed(
        &self,
        written: &[super::echoes::Written],
        patience: std::time::Duration,
    ) -> bool {
        let deadline = tokio::time::Instant::now() + patience;
        loop {
            let arrived = written.iter().all(|w| {
                let version =
                    self.resource_version(w.kind, w.key.namespace.as_deref(), &w.key.name);
                w.observed(version.as_deref())
            });
            if arrived {
                return true;
            }
            if tokio::time::Instant::now() >= deadline {
                return false;
            }
            tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        }
    }

    /// The live objects of an owned kind that carry `owner_uid` in the namespaces `scope`
    /// covers (the drift check compares them as JSON, made when it reads each); empty while
    /// the kind's API is not served yet. NetworkPolicies and reports, thousands at scale, are
    /// looked up through their owner index; the other kinds are few and walked. Every owned
    /// kind's store is named here once.
    pub fn owned(
        &self,
        kind: crate::desired::OwnedKind,
        owner_uid: &str,
        scope: &Scope,
    ) -> Vec<LiveOwned> {
        use crate::desired::OwnedKind::*;
        let velero = self.velero.get();
        let covered = |namespace: Option<&str>| scope.covers(namespace);
        match kind {
            NetworkPolicy => owned_indexed(
                &self.network_policies,
                &self.network_policy_owners,
                &(),
                owner_uid,
                scope,
            ),
            ValidatingAdmissionPolicy => {
                owned_live(self.admission_policies.state(), owner_uid, &covered)
            }
            ValidatingAdmissionPolicyBinding => {
                owned_live(self.admission_bindings.state(), owner_uid, &covered)
            }
            Namespace => owned_live(self.namespaces.state(), owner_uid, &covered),
            VeleroSchedule => velero.map_or_else(Vec::new, |v| {
                owned_live(v.schedules.state(), owner_uid, &covered)
            }),
            VeleroRestore => velero.map_or_else(Vec::new, |v| {
                owned_live(v.restores.state(), owner_uid, &covered)
            }),
            // The only owned ConfigMaps are restore-test modifiers, in Velero's namespace.
            ConfigMap => velero.map_or_else(Vec::new, |v| {
                owned_live(v.config_maps.state(), owner_uid, &covered)
            }),
            PolicyReport | ClusterPolicyReport | Report | ClusterReport => {
                let Some(reports) = self.report_store(kind) else {
                    return Vec::new();
                };
                reports.get().map_or_else(Vec::new, |store| {
                    owned_indexed(
                        store,
                        &reports.owners,
                        &kind.api_resource(),
                        owner_uid,
                        scope,
                    )
                })
            }
        }
    }

    /// The store of a report kind; None for the other owned kinds.
    pub fn report_store(&self, kind: crate::desired::OwnedKind) -> Option<&ReportStore> {
        use crate::desired::OwnedKind::*;
        match kind {
            PolicyReport => Some(&self.policy_reports),
            ClusterPolicyReport => Some(&self.cluster_policy_reports),
            Report => Some(&self.reports),
            ClusterReport => Some(&self.cluster_reports),
            _ => None,
        }
    }
}

macro_rules! custom_stores {
    ($($field:ident: $ty:ty,)*) => {
        /// One reflector per kind of [`crate::kinds::custom_kinds`].
        #[derive(Clone)]
        pub struct CustomStores {
            $(pub $field: Store<$ty>,)*
        }

        impl CustomStores {
            fn start(
                client: &Client,
                triggers: &broadcast::Sender<Trigger>,
                health: &WatchHealth,
                sinks: &Sinks,
            ) -> Self {
                let all = watcher::Config::default().any_semantic();
                Self {
                    $($field: reflect(Api::all(client.clone()), all.clone(), triggers, health, sinks),)*
                }
            }

            async fn wait_until_ready(&self) -> Result<(), reflector::store::WriterDropped> {
                futures::future::try_join_all([
                    $(self.$field.wait_until_ready().boxed(),)*
                ])
                .await
                .map(|_| ())
            }

            fn snapshot(&self) -> CustomResources {
                CustomResources {
                    $($field: self.$field.state(),)*
                }
            }
        }
    };
}
crate::kinds::custom_kinds!(custom_stores);

/// The stores and their snapshot, with one reflector per kind of
/// [`crate::snapshot::watched_kinds`] and the kinds read differently written out.
macro_rules! stores_for {
    ($($field:ident: $ty:ty,)*) => {
        /// Reflector stores for every kind the controls read.
        #[derive(Clone)]
        pub struct Stores {
            $(pub $field: Store<$ty>,)*
            pub admission_policies: Store<ValidatingAdmissionPolicy>,
            pub admission_bindings: Store<ValidatingAdmissionPolicyBinding>,
            /// ConfigMaps, metadata only: the controls read labels, never data.
            pub config_maps: Store<PartialObjectMeta<ConfigMap>>,
            /// ReplicaSets, metadata only: which Deployment vouches for a pod.
            pub replica_sets: Store<PartialObjectMeta<ReplicaSet>>,
            /// The ConfigMaps' and ReplicaSets' projections the last snapshot made.
            config_map_projections: Arc<ProjectionMemo<PartialObjectMeta<ConfigMap>, ObjectMetaOnly>>,
            replica_set_projections: Arc<ProjectionMemo<PartialObjectMeta<ReplicaSet>, ReplicaSetLink>>,
            /// Each Namespace's Pod Security priors (see `pod_security_takeover::priors`), kept
            /// for the versions the last SecurityBaseline plan saw.
            pub pod_security_priors: Arc<ProjectionMemo<k8s_openapi::api::core::v1::Namespace, crate::desired::pod_security_takeover::Record>>,
            /// The operator's own custom resources, which some rules read across kinds (every
            /// change triggers every resource, like any cluster-wide change).
            /// The operator's own kinds (see [`crate::kinds`]), for rules that read each other.
            pub custom: CustomStores,
            /// Secret digests, only when copied-secret detection is on (it needs Secret read).
            pub secrets: Option<SecretDigests>,
            /// Velero's objects, once its API is served (it may be installed after the operator).
            pub velero: Arc<OnceLock<VeleroStores>>,
            /// Why Velero's objects cannot be listed although its API is served (RBAC).
            pub velero_unreadable: Arc<std::sync::RwLock<Option<String>>>,
            /// The operator's own PolicyReports, once the PolicyReport API is served.
            pub policy_reports: Arc<ReportStore>,
            /// Its ClusterPolicyReports, once that API is served.
            pub cluster_policy_reports: Arc<ReportStore>,
            /// Its OpenReports Reports, once that API is served: watched whatever
            /// `--reports-api` says, so that reports of an API no longer chosen are pruned.
            pub reports: Arc<ReportStore>,
            /// Its OpenReports ClusterReports, once that API is served.
            pub cluster_reports: Arc<ReportStore>,
            /// Which watches are failing, and since when.
            pub watch_health: WatchHealth,
            /// The operator's own writes whose watch events are still to come.
            pub echoes: Arc<Echoes>,
            /// The incremental engine, fed by every watch (in shadow, see `engine_feed`).
            pub engine: Arc<EngineFeed>,
            /// The NetworkPolicies by owner and namespace (see `owner_index`).
            network_policy_owners: OwnerIndex,
        }

        impl Stores {
            pub fn start(
                client: &Client,
                triggers: &broadcast::Sender<Trigger>,
                detect_copied_secrets: bool,
                velero_namespace: &str,
                watch_grace: std::time::Duration,
            ) -> Self {
                let all = watcher::Config::default().any_semantic();
                let velero_unreadable: Arc<std::sync::RwLock<Option<String>>> = Arc::default();
                let owned = owned_only();
                let watch_health = WatchHealth::default();
                let echoes = Arc::new(Echoes::releasing_to(triggers.clone()));
                let engine = Arc::new(EngineFeed::new(
                    crate::snapshot::ExcludedNamespaces::new(velero_namespace),
                ));
                let sinks = Sinks {
                    echoes: echoes.clone(),
                    engine: engine.clone(),
                    network_policy_owners: OwnerIndex::default(),
                };
                let network_policy_owners = sinks.network_policy_owners.clone();
                announce_failing_watches(watch_health.clone(), watch_grace, triggers.clone());
                let report_store = |kind| {
                    let cell = Arc::new(ReportStore::default());
                    discover_reports(kind, client.clone(), cell.clone(), triggers.clone(), echoes.clone());
                    cell
                };
                macro_rules! store {
                    ($config:expr) => {
                        reflect(Api::all(client.clone()), $config.clone(), triggers, &watch_health, &sinks)
                    };
                }
                Self {
                    $($field: store!(all),)*
                    admission_policies: store!(owned),
                    admission_bindings: store!(owned),
                    custom: CustomStores::start(client, triggers, &watch_health, &sinks),
                    config_maps: reflect(
                        Api::<PartialObjectMeta<ConfigMap>>::all(client.clone()),
                        all.clone(),
                        triggers,
                        &watch_health,
                        &sinks,
                    ),
                    replica_sets: reflect(
                        Api::<PartialObjectMeta<ReplicaSet>>::all(client.clone()),
                        all.clone(),
                        triggers,
                        &watch_health,
                        &sinks,
                    ),
                    config_map_projections: Arc::default(),
                    replica_set_projections: Arc::default(),
                    pod_security_priors: Arc::default(),
                    secrets: match detect_copied_secrets {
                        true => Some(SecretDigests::start(client, triggers, engine.clone())),
                        false => {
                            engine.set_secrets_not_observed(Some(super::secrets::NOT_READ.into()));
                            None
                        }
                    },
                    velero: {
                        let cell = Arc::new(OnceLock::new());
                        discover_velero(
                            client.clone(),
                            velero_namespace.to_string(),
                            cell.clone(),
                            velero_unreadable.clone(),
                            triggers.clone(),
                            watch_health.clone(),
                            sinks.clone(),
                        );
                        cell
                    },
                    velero_unreadable,
                    policy_reports: report_store(crate::desired::OwnedKind::PolicyReport),
                    cluster_policy_reports: report_store(
                        crate::desired::OwnedKind::ClusterPolicyReport,
                    ),
                    reports: report_store(crate::desired::OwnedKind::Report),
                    cluster_reports: report_store(crate::desired::OwnedKind::ClusterReport),
                    watch_health,
                    echoes,
                    engine,
                    network_policy_owners,
                }
            }

            /// Waits until every store has its initial list.
            pub async fn wait_until_ready(&self) -> Result<(), reflector::store::WriterDropped> {
                futures::future::try_join_all([
                    $(self.$field.wait_until_ready().boxed(),)*
                    self.admission_policies.wait_until_ready().boxed(),
                    self.admission_bindings.wait_until_ready().boxed(),
                    self.config_maps.wait_until_ready().boxed(),
                    self.replica_sets.wait_until_ready().boxed(),
                    self.custom.wait_until_ready().boxed(),
                ])
                .await
                .map(|_| ())
            }

            /// Velero's objects, or why they cannot be read.
            fn velero_snapshot(&self) -> VeleroSnapshot {
                match self.velero.get() {
                    Some(v) => v.snapshot(),
                    None => VeleroSnapshot {
                        unreadable: self
                            .velero_unreadable
                            .read()
                            .unwrap_or_else(|p| p.into_inner())
                            .clone(),
                        ..VeleroSnapshot::default()
                    },
                }
            }

            /// [`Self::snapshot`] without the namespaced objects plans do not render from:
            /// the Namespaces, the other cluster-scoped kinds, Velero's, the custom resources,
            /// and the Roles (the least-privilege admission policy names the Roles that grant
            /// what it forbids: without them it would admit a binding to one). What a plan
            /// that renders from namespaces' labels reads, without copying every store's
            /// `Arc`s (at 3,200 namespaces, 48,000 of them per plan).
            pub fn cluster_snapshot(&self) -> Snapshot {
                Snapshot {
                    namespaces: self.namespaces.state(),
                    roles: self.roles.state(),
                    storage_classes: self.storage_classes.state(),
                    cluster_roles: self.cluster_roles.state(),
                    cluster_role_bindings: self.cluster_role_bindings.state(),
                    secrets: crate::snapshot::Observed::Observed(Vec::new()),
                    velero: self.velero_snapshot(),
                    custom_resources: self.custom.snapshot(),
                    ..Snapshot::default()
                }
            }

            /// The current cluster state as plain data: shared `Arc`s, no API call.
            pub fn snapshot(&self) -> Snapshot {
                Snapshot {
                    $($field: self.$field.state(),)*
                    config_maps: self.config_map_projections.project(
                        self.config_maps.state(),
                        |cm| ObjectMetaOnly {
                            kind: "ConfigMap",
                            namespace: cm.metadata.namespace.clone().unwrap_or_default(),
                            name: cm.metadata.name.clone().unwrap_or_default(),
                            labels: cm.metadata.labels.clone().unwrap_or_default(),
                        },
                    ),
                    replica_sets: self
                        .replica_set_projections
                        .project(self.replica_sets.state(), |rs| ReplicaSetLink::of(&rs.metadata)),
                    secrets: match &self.secrets {
                        Some(digests) => digests.observed(),
                        None => crate::snapshot::Observed::NotObserved(
                            super::secrets::NOT_READ.into(),
                        ),
                    },
                    velero: self.velero_snapshot(),
                    custom_resources: self.custom.snapshot(),
                    // The built-in list; the controllers add the configured names
                    // (see `Context::snapshot`).
                    excluded: Default::default(),
                    // Live objects with their status: Ready replicas are judged.
                    from_manifests: false,
                    derived: Default::default(),
                }
            }
        }
    };
}
crate::snapshot::watched_kinds!(stores_for);

#[cfg(test)]
mod tests {
    use super::*;
    use k8s_openapi::api::core::v1::Namespace;

    fn namespace(body: serde_json::Value) -> NamespaceSeen {
        let ns: Namespace = serde_json::from_value(body).unwrap();
        NamespaceSeen::of(&ns)
    }

    #[test]
    fn a_namespace_change_of_labels_and_annotations_alone_names_their_keys() {
        let before = namespace(serde_json::json!({"metadata": {"name": "shop",
            "labels": {"env": "prod", "team": "a"}, "annotations": {"note": "x"}}}));
        let after = namespace(serde_json::json!({"metadata": {"name": "shop",
            "labels": {"env": "prod", "pod-security.kubernetes.io/enforce": "restricted"},
            "annotations": {"note": "y"}}}));
        let keys = before.keys_changed_to(&after).unwrap();
        let set = |k: &[&str]| k.iter().map(|s| s.to_string()).collect();
        assert_eq!(
            keys.labels,
            set(&["pod-security.kubernetes.io/enforce", "team"])
        );
        assert_eq!(keys.annotations, set(&["note"]));
        // Being deleted is not a change of labels: every reader is told.
        let deleting = namespace(serde_json::json!({"metadata": {"name": "shop",
            "labels": {"env": "prod", "team": "a"}, "annotations": {"note": "x"},
            "deletionTimestamp": "2026-01-01T00:00:00Z"}}));
        assert_eq!(before.keys_changed_to(&deleting), None);
    }
}
