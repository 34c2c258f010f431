//! Server-side apply of desired objects, pruning of owned objects no longer desired, and
//! namespace labels. Writes only what differs from the live object in the stores.

use super::Error;
use super::context::Context;
use crate::desired::{DesiredObject, OWNER_UID, OwnedKind, is_subset};
use kube::Resource;
use kube::api::{Api, DeleteParams, DynamicObject, Patch, PatchParams};
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

/// Live owned objects of `owner_uid` in the stores, as JSON.
fn live_owned(ctx: &Context, owner_uid: &str) -> BTreeMap<Key, Value> {
    let stores = &ctx.stores;
    let mut owned = Owned {
        owner_uid,
        found: BTreeMap::new(),
    };
    owned.add(OwnedKind::NetworkPolicy, stores.network_policies.state());
    owned.add(
        OwnedKind::ValidatingAdmissionPolicy,
        stores.admission_policies.state(),
    );
    owned.add(
        OwnedKind::ValidatingAdmissionPolicyBinding,
        stores.admission_bindings.state(),
    );
    owned.add(OwnedKind::Namespace, stores.namespaces.state());
    if let Some(reports) = stores.policy_reports.get() {
        owned.add(OwnedKind::PolicyReport, reports.state());
    }
    if let Some(velero) = stores.velero.get() {
        owned.add(OwnedKind::VeleroSchedule, velero.schedules.state());
        owned.add(OwnedKind::VeleroRestore, velero.restores.state());
    }
    owned.found
}

/// Collects the objects of one owner from the stores, keyed for comparison with desired ones.
struct Owned<'a> {
    owner_uid: &'a str,
    found: BTreeMap<Key, Value>,
}

impl Owned<'_> {
    fn add<K: Resource + serde::Serialize>(
        &mut self,
        kind: OwnedKind,
        objects: Vec<std::sync::Arc<K>>,
    ) {
        for object in objects {
            let meta = object.meta();
            let ours = meta
                .labels
                .as_ref()
                .and_then(|l| l.get(OWNER_UID))
                .is_some_and(|uid| uid == self.owner_uid);
            if ours {
                let key = (
                    kind,
                    meta.namespace.clone(),
                    meta.name.clone().unwrap_or_default(),
                );
                self.found
                    .insert(key, serde_json::to_value(&*object).unwrap_or_default());
            }
        }
    }
}

fn api_for(ctx: &Context, kind: OwnedKind, namespace: Option<&str>) -> Api<DynamicObject> {
    let resource = kind.api_resource();
    match namespace {
        Some(ns) => Api::namespaced_with(ctx.client.clone(), ns, &resource),
        None => Api::all_with(ctx.client.clone(), &resource),
    }
}

/// Makes the owner's objects equal `desired`: applies what is missing or drifted, deletes
/// what is owned but no longer desired. `manages` limits pruning to the kinds this call is
/// responsible for.
pub async fn reconcile_owned(
    ctx: &Context,
    owner_uid: &str,
    desired: &[DesiredObject],
    manages: &[OwnedKind],
    had_applied_before: bool,
) -> Result<Vec<Restored>, Error> {
    let live = live_owned(ctx, owner_uid);
    let mut restored = Vec::new();
    let mut wanted = BTreeSet::new();
    for object in desired {
        let key = (object.kind, object.namespace.clone(), object.name.clone());
        wanted.insert(key.clone());
        let current = live.get(&key);
        if current.is_some_and(|live| is_subset(&object.body, live)) {
            continue;
        }
        apply_one(ctx, object).await?;
        if current.is_some() || had_applied_before {
            restored.push(Restored {
                kind: object.kind,
                namespace: object.namespace.clone(),
                name: object.name.clone(),
                deleted: current.is_none(),
            });
        }
    }
    for (kind, namespace, name) in live.keys() {
        if manages.contains(kind) && !wanted.contains(&(*kind, namespace.clone(), name.clone())) {
            delete_one(ctx, *kind, namespace.as_deref(), name).await?;
        }
    }
    Ok(restored)
}

/// Applies `labels` to each namespace under a field manager of the owner's own, and removes
/// them (by applying nothing under that manager) from namespaces that no longer want them.
/// A marker label with the owner's uid records which namespaces carry them.
pub async fn reconcile_namespace_labels(
    ctx: &Context,
    owner_uid: &str,
    marker: &str,
    wanted: &BTreeMap<String, BTreeMap<String, String>>,
) -> Result<(), Error> {
    let manager = format!("{FIELD_MANAGER}/{owner_uid}");
    let api: Api<k8s_openapi::api::core::v1::Namespace> = Api::all(ctx.client.clone());
    for ns in ctx.stores.namespaces.state() {
        let name = ns.metadata.name.clone().unwrap_or_default();
        let current = ns.metadata.labels.clone().unwrap_or_default();
        let carries = current.get(marker).is_some_and(|uid| uid == owner_uid);
        let body = match wanted.get(&name) {
            Some(labels) => {
                let mut labels = labels.clone();
                labels.insert(marker.to_string(), owner_uid.to_string());
                if labels.iter().all(|(k, v)| current.get(k) == Some(v)) {
                    continue;
                }
                serde_json::json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name, "labels": labels}})
            }
            None if carries => {
                serde_json::json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name}})
            }
            None => continue,
        };
        if ns.metadata.deletion_timestamp.is_some() {
            continue;
        }
        api.patch(
            &name,
            &PatchParams::apply(&manager).force(),
            &Patch::Apply(&body),
        )
        .await
        .map_err(|source| Error::write("label", OwnedKind::Namespace, None, &name, source))?;
        ctx.metrics.write("Namespace", "apply");
    }
    Ok(())
}

pub fn reference(kind: OwnedKind, namespace: Option<&str>, name: &str) -> String {
    match namespace {
        Some(ns) => format!("{kind:?} {ns}/{name}"),
        None => format!("{kind:?} {name}"),
    }
}

/// Applies one object outside the desired-set bookkeeping (restore-test steps).
pub async fn apply_one(ctx: &Context, object: &DesiredObject) -> Result<(), Error> {
    let api = api_for(ctx, object.kind, object.namespace.as_deref());
    api.patch(
        &object.name,
        &PatchParams::apply(FIELD_MANAGER).force(),
        &Patch::Apply(&object.body),
    )
    .await
    .map_err(|source| {
        Error::write(
            "apply",
            object.kind,
            object.namespace.as_deref(),
            &object.name,
            source,
        )
    })?;
    ctx.metrics.write(&format!("{:?}", object.kind), "apply");
    Ok(())
}

/// Deletes one owned object; already gone is fine.
pub async fn delete_one(
    ctx: &Context,
    kind: OwnedKind,
    namespace: Option<&str>,
    name: &str,
) -> Result<(), Error> {
    match api_for(ctx, kind, namespace)
        .delete(name, &DeleteParams::background())
        .await
    {
        Ok(_) => {
            ctx.metrics.write(&format!("{kind:?}"), "delete");
            Ok(())
        }
        Err(kube::Error::Api(status)) if status.code == 404 => Ok(()),
        Err(source) => Err(Error::write("delete", kind, namespace, name, source)),
    }
}
