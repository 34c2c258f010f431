//! Writes owned objects and namespace labels so they equal what the operator renders: creates
//! with server-side apply, repairs any difference with one full update, prunes what is no
//! longer desired. Writes only when the live object in the stores differs.

use super::Error;
use super::context::Context;
use super::echoes::{Expected, ObjectKey, Written};
use super::scope::Scope;
use super::stores::LiveOwned;
use super::write_pool::WRITE_CONCURRENCY;
use crate::desired::drift::{self, LabelVerdict, Verdict};
use crate::desired::{DesiredObject, OWNER_UID, OwnedKind, pod_security_takeover};
use futures::StreamExt;
use kube::api::{Api, DeleteParams, DynamicObject, Patch, PatchParams, PostParams};
use serde_json::Value;
use std::collections::{BTreeMap, BTreeSet};

pub const FIELD_MANAGER: &str = "baseline-operator";

/// An owned object that existed and was put back.
#[derive(Debug, PartialEq)]
pub struct Restored {
    pub kind: OwnedKind,
    pub namespace: Option<String>,
    pub name: String,
    pub deleted: bool,
}

type Key = (OwnedKind, Option<String>, String);

/// Live owned objects of `owner_uid` in the stores, of the owned `kinds` (see
/// [`super::stores::Stores::owned`]).
fn live_owned(
    ctx: &Context,
    owner_uid: &str,
    kinds: &BTreeSet<OwnedKind>,
    scope: &Scope,
) -> BTreeMap<Key, LiveOwned> {
    let mut found = BTreeMap::new();
    for &kind in kinds {
        for object in ctx.reads.stores.owned(kind, owner_uid, scope) {
            let key = (kind, object.namespace.clone(), object.name.clone());
            found.insert(key, object);
        }
    }
    found
}

fn api_for(ctx: &Context, kind: OwnedKind, namespace: Option<&str>) -> Api<DynamicObject> {
    let resource = kind.api_resource();
    match namespace {
        Some(ns) => Api::namespaced_with(ctx.client.clone(), ns, &resource),
        None => Api::all_with(ctx.client.clone(), &resource),
    }
}

/// What [`reconcile_owned`] did beyond making objects equal their desired form.
#[derive(Debug, Default)]
pub struct OwnedOutcome {
    /// Objects changed or deleted by someone else, and put back.
    pub restored: Vec<Restored>,
    /// A replace lost a race with another writer (409) or with a deletion (404): the watch
    /// brings the newer object, and the next reconcile, which should come soon, repairs it.
    pub retry_soon: bool,
    /// Writes that failed; the others were done.
    pub failed: Vec<Error>,
    /// What was created, replaced or deleted, to see arrive in the stores.
    pub written: Vec<Written>,
}

impl OwnedOutcome {
    /// Adds what a later pass over other kinds did.
    pub fn absorb(&mut self, other: OwnedOutcome) {
        self.restored.extend(other.restored);
        self.retry_soon |= other.retry_soon;
        self.failed.extend(other.failed);
        self.written.extend(other.written);
    }
}

/// Makes the owner's objects equal `desired`: creates what is missing, replaces what differs
/// in any way (a changed, added or left-over field), deletes what is owned but no longer
/// desired. `manages` limits pruning to the kinds this call is responsible for, `scope` to the
/// namespaces this pass planned (`desired` holds only theirs). A write that
/// fails (a Terminating namespace, a quota, someone else's admission policy, a conflict) is
/// recorded in [`OwnedOutcome::failed`] and the rest go on: one namespace never holds back
/// enforcement in the others.
pub async fn reconcile_owned(
    ctx: &Context,
    owner_uid: &str,
    desired: &[DesiredObject],
    manages: &[OwnedKind],
    scope: &Scope,
) -> OwnedOutcome {
    // Only the kinds this pass manages or writes are read (each read serializes the owner's
    // live objects of that kind).
    let kinds: BTreeSet<OwnedKind> = manages
        .iter()
        .copied()
        .chain(desired.iter().map(|o| o.kind))
        .collect();
    let live = live_owned(ctx, owner_uid, &kinds, scope);
    let keys: Vec<Key> = desired
        .iter()
        .map(|o| (o.kind, o.namespace.clone(), o.name.clone()))
        .collect();
    let ids: Vec<String> = keys
        .iter()
        .map(|(kind, namespace, name)| reference(*kind, namespace.as_deref(), name))
        .collect();
    let known_before = ctx.known_live(owner_uid, &ids);
    let mut known_now = BTreeSet::new();
    let mut outcome = OwnedOutcome::default();
    // The objects of a wave converge at once, bounded by the shared write pool; a wave starts
    // once the one before has been written (see [`wave`]): an admission binding never
    // reaches the API server before the policy it binds.
    // (The futures are collected first: a closure inside the stream's type would make the
    // reconcile future's `Send` proof ask too much of the compiler.)
    let mut converged = Vec::new();
    for current_wave in [Wave::Objects, Wave::Bindings] {
        let converging: Vec<_> = desired
            .iter()
            .zip(keys.iter().zip(&ids))
            .filter(|(object, _)| wave(object.kind) == current_wave)
            .map(|(object, (key, id))| {
                let id = id.clone();
                let known = known_before.contains(&id);
                let current = live.get(key);
                async move {
                    // As JSON only now: at most the writes in flight hold theirs.
                    let current = current.and_then(LiveOwned::json);
                    let result = converge(ctx, owner_uid, object, current.as_ref(), known).await;
                    (id, known, result)
                }
            })
            .collect();
        converged.extend(
            futures::stream::iter(converging)
                .buffer_unordered(WRITE_CONCURRENCY)
                .collect::<Vec<_>>()
                .await,
        );
    }
    for (id, known, result) in converged {
        match result {
            Ok(converged) => {
                if converged.exists {
                    // Seen in the store or written just now: from here on, missing means
                    // deleted.
                    known_now.insert(id);
                }
                outcome.retry_soon |= converged.retry_soon;
                outcome.written.extend(converged.written);
                outcome.restored.extend(converged.restored);
            }
            Err(error) => {
                tracing::warn!(%error, "write failed; going on with the rest");
                if known {
                    known_now.insert(id);
                }
                outcome.failed.push(error);
            }
        }
    }
    ctx.remember_live(owner_uid, manages, scope, known_now);
    let wanted: BTreeSet<&Key> = keys.iter().collect();
    let prune: Vec<&Key> = live
        .keys()
        .filter(|key| manages.contains(&key.0) && !wanted.contains(key))
        .collect();
    // Pruned in the reverse order: bindings before the policies they bind.
    let mut deleted = Vec::new();
    for current_wave in [Wave::Bindings, Wave::Objects] {
        let deleting: Vec<_> = prune
            .iter()
            .filter(|(kind, _, _)| wave(*kind) == current_wave)
            .map(|(kind, namespace, name)| {
                delete_one(ctx, owner_uid, *kind, namespace.as_deref(), name)
            })
            .collect();
        deleted.extend(
            futures::stream::iter(deleting)
                .buffer_unordered(WRITE_CONCURRENCY)
                .collect::<Vec<_>>()
                .await,
        );
    }
    for result in deleted {
        match result {
            Ok(written) => outcome.written.push(written),
            Err(error) => {
                tracing::warn!(%error, "delete failed; going on with the rest");
                outcome.failed.push(error);
            }
        }
    }
    outcome
}

/// The order owned objects are written in: what others refer to first.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Wave {
    Objects,
    /// ValidatingAdmissionPolicyBindings, which name a policy: written after it, pruned
    /// before it.
    Bindings,
}

fn wave(kind: OwnedKind) -> Wave {
    match kind {
        OwnedKind::ValidatingAdmissionPolicyBinding => Wave::Bindings,
        _ => Wave::Objects,
    }
}

/// What converging one desired object did.
struct Converged {
    /// The object exists now (in sync, created or replaced).
    exists: bool,
    retry_soon: bool,
    /// The write made, if one was.
    written: Option<Written>,
    restored: Option<Restored>,
}

/// Makes one object equal its desired form. `current` is the store's copy; `known` says the
/// operator saw or wrote it before.
async fn converge(
    ctx: &Context,
    owner_uid: &str,
    object: &DesiredObject,
    current: Option<&Value>,
    known: bool,
) -> Result<Converged, Error> {
    let done = |exists, retry_soon, restored: Option<Restored>| Converged {
        exists,
        retry_soon,
        written: None,
        restored,
    };
    let mut fetched = None;
    if known && current.is_none() {
        // Missing from the store but known to exist: deleted, stripped of the operator's
        // labels (which hides it from the store), or the store lags behind a write of the
        // operator's own. The server says which; a single read, only in this rare case.
        match fetch(ctx, object).await? {
            Some(found) if carries_owner(&found, owner_uid) => return Ok(done(true, false, None)),
            found => fetched = found,
        }
    }
    let current = current.or(fetched.as_ref());
    if current.is_none()
        && object
            .namespace
            .as_deref()
            .is_some_and(|ns| terminating(ctx, ns))
    {
        // The namespace controller is removing its content; a create would be refused,
        // and the object's absence is nobody's hand edit.
        return Ok(done(false, false, None));
    }
    let rendered = drift::render(object);
    let restored = |yes: bool| {
        yes.then(|| Restored {
            kind: object.kind,
            namespace: object.namespace.clone(),
            name: object.name.clone(),
            deleted: current.is_none(),
        })
    };
    match drift::verdict(&rendered, current, known) {
        Verdict::InSync => Ok(done(true, false, None)),
        Verdict::Create { deleted_by_hand } => {
            let written = apply_body(
                ctx,
                owner_uid,
                object.kind,
                object.namespace.as_deref(),
                &object.name,
                &rendered.body,
            )
            .await?;
            Ok(Converged {
                written: Some(written),
                ..done(true, false, restored(deleted_by_hand))
            })
        }
        Verdict::Replace { drifted } => {
            // Only a live object is ever replaced.
            let Some(live) = current else {
                return Ok(done(false, false, None));
            };
            let written =
                replace(ctx, owner_uid, object, &drift::replacement(&rendered, live)).await?;
            let replaced = written.is_some();
            Ok(Converged {
                written,
                ..done(true, !replaced, restored(replaced && drifted))
            })
        }
    }
}

/// `object` as the server has it now (read only when the store and memory disagree).
async fn fetch(ctx: &Context, object: &DesiredObject) -> Result<Option<Value>, Error> {
    let found = api_for(ctx, object.kind, object.namespace.as_deref())
        .get_opt(&object.name)
        .await
        .map_err(|source| {
            Error::write(
                "read",
                object.kind,
                object.namespace.as_deref(),
                &object.name,
                source,
            )
        })?;
    Ok(found.map(|o| serde_json::to_value(o).unwrap_or_default()))
}

fn carries_owner(object: &Value, owner_uid: &str) -> bool {
    object
        .pointer("/metadata/labels")
        .and_then(|labels| labels.get(OWNER_UID))
        .and_then(Value::as_str)
        == Some(owner_uid)
}

fn terminating(ctx: &Context, namespace: &str) -> bool {
    ctx.reads
        .stores
        .namespaces
        .get(&kube::runtime::reflector::ObjectRef::new(namespace))
        .is_some_and(|ns| ns.metadata.deletion_timestamp.is_some())
}

/// Replaces a live object in one full update carrying its resourceVersion: fields added by
/// hand or no longer rendered disappear atomically, with no window in which the object is
/// missing (as delete-and-recreate would open). The write runs under the operator's field
/// manager, so later server-side applies of its own stay conflict-free. Returns false when
/// the object changed or vanished meanwhile.
async fn replace(
    ctx: &Context,
    writer: &str,
    object: &DesiredObject,
    body: &Value,
) -> Result<Option<Written>, Error> {
    let failed = |source| {
        Error::write(
            "replace",
            object.kind,
            object.namespace.as_deref(),
            &object.name,
            source,
        )
    };
    let body: DynamicObject =
        serde_json::from_value(body.clone()).map_err(|e| failed(kube::Error::SerdeError(e)))?;
    let params = PostParams {
        field_manager: Some(FIELD_MANAGER.into()),
        ..PostParams::default()
    };
    let api = api_for(ctx, object.kind, object.namespace.as_deref());
    let _sending = in_flight(ctx, object.kind, object.namespace.as_deref(), &object.name);
    match ctx
        .writes
        .write(|| api.replace(&object.name, &params, &body))
        .await
    {
        Ok(replaced) => {
            ctx.metrics.write(&format!("{:?}", object.kind), "replace");
            Ok(Some(remember(
                ctx,
                writer,
                object.kind,
                object.namespace.as_deref(),
                &object.name,
                replaced.metadata.resource_version,
            )))
        }
        Err(kube::Error::Api(status)) if status.code == 409 || status.code == 404 => {
            tracing::debug!(object = %reference(object.kind, object.namespace.as_deref(), &object.name), code = status.code, "replace raced another writer; retrying soon");
            Ok(None)
        }
        Err(source) => Err(failed(source)),
    }
}

/// Applies `labels` (and `annotations`) to each namespace under a field manager of the
/// owner's own, and takes them back from namespaces that no longer want them: the labels
/// recorded as there before the operator came are put back exactly, and everything else it
/// wrote is removed (by applying only those under that manager).
/// A marker label with the owner's uid records which namespaces carry them; an annotation
/// beside it, the fingerprint of the labels applied, tells a hand edit from a changed wish.
/// A namespace whose write fails is recorded and the others go on.
pub async fn reconcile_namespace_labels(
    ctx: &Context,
    owner_uid: &str,
    marker: &str,
    wanted: &BTreeMap<String, BTreeMap<String, String>>,
    annotations: &BTreeMap<String, BTreeMap<String, String>>,
    scope: &Scope,
) -> LabelOutcome {
    let manager = format!("{FIELD_MANAGER}/{owner_uid}");
    let stamp_key = drift::labels_annotation(marker);
    let api: Api<k8s_openapi::api::core::v1::Namespace> = Api::all(ctx.client.clone());
    let mut outcome = LabelOutcome::default();
    let mut patches = Vec::new();
    // Only the namespaces this pass planned (`wanted` holds only theirs).
    let namespaces = match scope {
        Scope::All => ctx.reads.stores.namespaces.state(),
        Scope::Namespaces(names) => names
            .iter()
            .filter_map(|name| {
                ctx.reads
                    .stores
                    .namespaces
                    .get(&kube::runtime::reflector::ObjectRef::new(name))
            })
            .collect(),
    };
    for ns in namespaces {
        let name = ns.metadata.name.clone().unwrap_or_default();
        let current = ns.metadata.labels.clone().unwrap_or_default();
        let carries = current.get(marker).is_some_and(|uid| uid == owner_uid);
        let (body, drifted) = match wanted.get(&name) {
            Some(labels) => {
                let mut labels = labels.clone();
                labels.insert(marker.to_string(), owner_uid.to_string());
                let stamp = ns
                    .metadata
                    .annotations
                    .as_ref()
                    .and_then(|a| a.get(&stamp_key))
                    .map(String::as_str);
                let extra = annotations.get(&name);
                let current_annotations = ns.metadata.annotations.as_ref();
                let annotations_in_sync = extra
                    .into_iter()
                    .flatten()
                    .all(|(k, v)| current_annotations.and_then(|a| a.get(k)) == Some(v));
                let drifted = match drift::label_verdict(&labels, &current, stamp) {
                    LabelVerdict::InSync if annotations_in_sync => continue,
                    LabelVerdict::InSync => Vec::new(),
                    LabelVerdict::Apply { drifted } => drifted,
                };
                let mut annotations =
                    BTreeMap::from([(stamp_key.clone(), drift::labels_fingerprint(&labels))]);
                annotations.extend(
                    extra
                        .into_iter()
                        .flatten()
                        .map(|(k, v)| (k.clone(), v.clone())),
                );
                (
                    serde_json::json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name, "labels": labels, "annotations": annotations}}),
                    drifted,
                )
            }
            None if carries => {
                // Put back exactly what was there before: the recorded priors, under this
                // manager, in the same write that drops everything else it wrote. The
                // resourceVersion makes a stale view (another baseline took over meanwhile)
                // fail rather than overwrite that baseline's labels.
                let no_annotations = BTreeMap::new();
                let record = pod_security_takeover::trusted_record(
                    marker,
                    &current,
                    ns.metadata.annotations.as_ref().unwrap_or(&no_annotations),
                );
                let labels = record
                    .as_ref()
                    .map(pod_security_takeover::restored)
                    .unwrap_or_default();
                (
                    serde_json::json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name, "resourceVersion": ns.metadata.resource_version, "labels": labels}}),
                    Vec::new(),
                )
            }
            None => continue,
        };
        if ns.metadata.deletion_timestamp.is_some() {
            continue;
        }
        patches.push((name, body, drifted));
    }
    let params = PatchParams::apply(&manager).force();
    let patching: Vec<_> = patches
        .into_iter()
        .map(|(name, body, drifted)| {
            let (api, params) = (&api, &params);
            async move {
                let patch = Patch::Apply(&body);
                let sending = in_flight(ctx, OwnedKind::Namespace, None, &name);
                let written = ctx.writes.write(|| api.patch(&name, params, &patch)).await;
                (name, drifted, written, sending)
            }
        })
        .collect();
    let written: Vec<_> = futures::stream::iter(patching)
        .buffer_unordered(WRITE_CONCURRENCY)
        .collect()
        .await;
    // Each guard lives until its write is remembered below: the watch events that came
    // before the answers are held until then (see `Echoes::sending`).
    for (name, drifted, written, _sending) in written {
        let labelled = match written {
            Ok(labelled) => labelled,
            Err(source) => {
                let error = Error::write("label", OwnedKind::Namespace, None, &name, source);
                tracing::warn!(%error, "labelling failed; going on with the other namespaces");
                outcome.failed.push(error);
                continue;
            }
        };
        ctx.metrics.write("Namespace", "apply");
        outcome.written.push(remember(
            ctx,
            owner_uid,
            OwnedKind::Namespace,
            None,
            &name,
            labelled.metadata.resource_version,
        ));
        if !drifted.is_empty() {
            outcome.restored.push((name, drifted));
        }
    }
    outcome
}

/// What [`reconcile_namespace_labels`] did.
#[derive(Debug, Default)]
pub struct LabelOutcome {
    /// Namespaces whose labels were changed by hand and put back, with the keys.
    pub restored: Vec<(String, Vec<String>)>,
    /// Namespaces that could not be labelled; the others were.
    pub failed: Vec<Error>,
    /// The namespaces labelled, to see arrive in the stores.
    pub written: Vec<Written>,
}

impl LabelOutcome {
    /// Adds what another round over more namespaces did.
    pub fn absorb(&mut self, other: LabelOutcome) {
        self.restored.extend(other.restored);
        self.failed.extend(other.failed);
        self.written.extend(other.written);
    }
}

pub fn reference(kind: OwnedKind, namespace: Option<&str>, name: &str) -> String {
    match namespace {
        Some(ns) => format!("{kind:?} {ns}/{name}"),
        None => format!("{kind:?} {name}"),
    }
}

/// Applies one object outside the desired-set bookkeeping (restore-test steps).
pub async fn apply_one(ctx: &Context, writer: &str, object: &DesiredObject) -> Result<(), Error> {
    if object.kind == OwnedKind::VeleroRestore {
        return create_once(ctx, writer, object).await;
    }
    apply_body(
        ctx,
        writer,
        object.kind,
        object.namespace.as_deref(),
        &object.name,
        &object.json(),
    )
    .await
    .map(|_| ())
}

/// Creates a Restore, never re-applies one: a restore test starts once, and its creation
/// instant (the start of the measured RTO) must not move when a lagging cache plans the same
/// step again. AlreadyExists means an earlier reconcile started it.
async fn create_once(ctx: &Context, writer: &str, object: &DesiredObject) -> Result<(), Error> {
    let (kind, namespace, name) = (object.kind, object.namespace.as_deref(), &object.name);
    let body: DynamicObject = serde_json::from_value(object.json())
        .map_err(|e| Error::write("create", kind, namespace, name, kube::Error::SerdeError(e)))?;
    let params = PostParams {
        field_manager: Some(FIELD_MANAGER.into()),
        ..PostParams::default()
    };
    let api = api_for(ctx, kind, namespace);
    let _sending = in_flight(ctx, kind, namespace, name);
    match ctx.writes.write(|| api.create(&params, &body)).await {
        Ok(created) => {
            ctx.metrics.write(&format!("{kind:?}"), "create");
            let version = created.metadata.resource_version;
            remember(ctx, writer, kind, namespace, name, version);
            Ok(())
        }
        Err(kube::Error::Api(status)) if status.code == 409 => Ok(()),
        Err(source) => Err(Error::write("create", kind, namespace, name, source)),
    }
}

/// Server-side applies `body` with force under the operator's field manager.
async fn apply_body(
    ctx: &Context,
    writer: &str,
    kind: OwnedKind,
    namespace: Option<&str>,
    name: &str,
    body: &Value,
) -> Result<Written, Error> {
    let api = api_for(ctx, kind, namespace);
    let params = PatchParams::apply(FIELD_MANAGER).force();
    let patch = Patch::Apply(body);
    let _sending = in_flight(ctx, kind, namespace, name);
    let applied = ctx
        .writes
        .write(|| api.patch(name, &params, &patch))
        .await
        .map_err(|source| Error::write("apply", kind, namespace, name, source))?;
    ctx.metrics.write(&format!("{kind:?}"), "apply");
    let version = applied.metadata.resource_version;
    Ok(remember(ctx, writer, kind, namespace, name, version))
}

/// Marks a write to the object as on its way until the returned guard is dropped (after
/// [`remember`]): a watch event that arrives before the answer waits for it, so that the
/// writer's echo is known as one (see `Echoes::sending`).
fn in_flight(
    ctx: &Context,
    kind: OwnedKind,
    namespace: Option<&str>,
    name: &str,
) -> super::echoes::Sending {
    let key = ObjectKey::new(kind.api_resource().kind, namespace, name);
    ctx.reads.stores.echoes.sending(key)
}

/// Remembers a write of `writer`'s, so that its watch event is known as an echo and evidence
/// can wait until the stores show it (a `version` of None: the object is gone).
fn remember(
    ctx: &Context,
    writer: &str,
    kind: OwnedKind,
    namespace: Option<&str>,
    name: &str,
    version: Option<String>,
) -> Written {
    let written = Written {
        kind,
        key: ObjectKey::new(kind.api_resource().kind, namespace, name),
        expected: version.map_or(Expected::Gone, Expected::Version),
        writer: writer.to_string(),
    };
    ctx.reads.stores.echoes.wrote(written.clone());
    written
}

/// Deletes one owned object; already gone is fine.
pub async fn delete_one(
    ctx: &Context,
    writer: &str,
    kind: OwnedKind,
    namespace: Option<&str>,
    name: &str,
) -> Result<Written, Error> {
    let api = api_for(ctx, kind, namespace);
    let params = DeleteParams::background();
    let _sending = in_flight(ctx, kind, namespace, name);
    match ctx.writes.write(|| api.delete(name, &params)).await {
        Ok(_) => {
            ctx.metrics.write(&format!("{kind:?}"), "delete");
            Ok(remember(ctx, writer, kind, namespace, name, None))
        }
        Err(kube::Error::Api(status)) if status.code == 404 => Ok(Written {
            kind,
            key: ObjectKey::new(kind.api_resource().kind, namespace, name),
            expected: Expected::Gone,
            writer: writer.to_string(),
        }),
        Err(source) => Err(Error::write("delete", kind, namespace, name, source)),
    }
}
