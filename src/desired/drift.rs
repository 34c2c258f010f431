//! Whether an owned object (or a namespace's labels) needs a write, and whether the difference
//! is drift, i.e. a change made by someone else, rather than the operator's own re-render.
//!
//! Every object the operator writes carries [`RENDERED`]: the fingerprint of the owned view it
//! rendered. Live content whose fingerprint no longer matches that stamp was changed since
//! the operator wrote it: drift. A stamp that matches the live content but not the current
//! desired object means the operator's own wish changed (a spec or exemption edit, a new
//! namespace): a re-render, not drift. Stateless, so a restarted operator judges alike.

use super::canonical::{self, canonical, fingerprint, owned_view};
use super::{DesiredObject, OwnedKind};
use serde_json::{Map, Value, json};
use std::collections::BTreeMap;

/// Annotation on every owned object: the fingerprint of the owned view last rendered for it.
pub const RENDERED: &str = "security.baseline.dev/rendered";

/// A desired object ready to write: its body stamped with [`RENDERED`], and what it will
/// look like once stored.
#[derive(Clone, Debug, PartialEq)]
pub struct Rendered {
    pub kind: OwnedKind,
    pub body: Value,
    pub fingerprint: String,
    view: Value,
    label_keys: Vec<String>,
}

pub fn render(object: &DesiredObject) -> Rendered {
    // The drift boundary: from here on the object is the JSON the server receives and stores.
    let mut body = object.json();
    let label_keys: Vec<String> = body
        .pointer("/metadata/labels")
        .and_then(Value::as_object)
        .map(|labels| labels.keys().cloned().collect())
        .unwrap_or_default();
    let stored = canonical(object.kind, &body);
    let view = owned_view(object.kind, &stored, label_keys.iter().map(String::as_str));
    let fingerprint = fingerprint(&view);
    body["metadata"]["annotations"][RENDERED] = json!(fingerprint);
    Rendered {
        kind: object.kind,
        body,
        fingerprint,
        view,
        label_keys,
    }
}

/// What to do about one desired object.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Verdict {
    /// The live object is what the operator renders: no write.
    InSync,
    /// No live object: create it. `deleted_by_hand` when the operator had seen it live.
    Create { deleted_by_hand: bool },
    /// The live object differs: replace its owned parts. `drifted` when its content is not
    /// what the operator last rendered for it.
    Replace { drifted: bool },
}

pub fn verdict(rendered: &Rendered, live: Option<&Value>, seen_before: bool) -> Verdict {
    let Some(live) = live else {
        return Verdict::Create {
            deleted_by_hand: seen_before,
        };
    };
    let live_view = owned_view(
        rendered.kind,
        live,
        rendered.label_keys.iter().map(String::as_str),
    );
    let stamp = live
        .pointer("/metadata/annotations")
        .and_then(|a| a.get(RENDERED))
        .and_then(Value::as_str);
    if live_view == rendered.view && stamp == Some(rendered.fingerprint.as_str()) {
        return Verdict::InSync;
    }
    // No stamp (written by an older release, or removed): nothing to judge by, so no claim.
    let drifted = stamp.is_some_and(|stamp| stamp != fingerprint(&live_view));
    Verdict::Replace { drifted }
}

/// The body of a full update (PUT) that makes `live` what `rendered` says, in one write: its
/// content replaced (fields added by hand or no longer rendered are gone), the operator's
/// labels, annotation and ownerReferences set. Whatever else `live` carries stays, including
/// others' labels and annotations, `status` (Velero's CRDs have no status subresource, so a
/// PUT without it would erase Velero's record) and the resourceVersion, which makes the write
/// fail rather than overwrite a change not seen yet.
pub fn replacement(rendered: &Rendered, live: &Value) -> Value {
    let mut out = live.as_object().cloned().unwrap_or_default();
    if rendered.kind.content_is_top_level() {
        out.retain(|key, _| ["apiVersion", "kind", "metadata", "status"].contains(&key.as_str()));
    }
    if let Value::Object(content) = canonical::content(rendered.kind, &rendered.body) {
        if rendered.kind.content_is_top_level() {
            out.extend(content);
        } else {
            out.insert("spec".into(), Value::Object(content));
        }
    }
    for key in ["apiVersion", "kind"] {
        if let Some(value) = rendered.body.get(key) {
            out.insert(key.into(), value.clone());
        }
    }
    let mut metadata = out
        .get("metadata")
        .and_then(Value::as_object)
        .cloned()
        .unwrap_or_default();
    metadata.remove("managedFields");
    let wanted = rendered.body.get("metadata");
    for map in ["labels", "annotations"] {
        let mut merged = metadata
            .get(map)
            .and_then(Value::as_object)
            .cloned()
            .unwrap_or_default();
        if let Some(Value::Object(own)) = wanted.and_then(|m| m.get(map)) {
            merged.extend(own.clone());
        }
        metadata.insert(map.into(), Value::Object(merged));
    }
    match wanted.and_then(|m| m.get("ownerReferences")) {
        Some(references) => metadata.insert("ownerReferences".into(), references.clone()),
        None => metadata.remove("ownerReferences"),
    };
    out.insert("metadata".into(), Value::Object(metadata));
    Value::Object(out)
}

/// Annotation on a namespace, beside a kind's marker label, with the fingerprint of the labels
/// that kind last applied there.
pub fn labels_annotation(marker: &str) -> String {
    format!("{marker}-rendered")
}

/// What to do about the labels a resource wants on one namespace.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum LabelVerdict {
    InSync,
    /// Apply the wanted labels; `drifted` names the keys someone changed or removed after
    /// the operator set them (empty for a first application or changed wishes).
    Apply {
        drifted: Vec<String>,
    },
}

/// Compares the labels wanted on a namespace (marker included) with its current labels and
/// the fingerprint the operator stamped when it last applied labels there.
pub fn label_verdict(
    wanted: &BTreeMap<String, String>,
    current: &BTreeMap<String, String>,
    stamp: Option<&str>,
) -> LabelVerdict {
    let wanted_print = labels_fingerprint(wanted);
    let matches = wanted.iter().all(|(k, v)| current.get(k) == Some(v));
    if matches && stamp == Some(wanted_print.as_str()) {
        return LabelVerdict::InSync;
    }
    let present: BTreeMap<String, String> = wanted
        .keys()
        .filter_map(|k| Some((k.clone(), current.get(k)?.clone())))
        .collect();
    let drifted = match stamp {
        Some(stamp) if stamp != labels_fingerprint(&present) => wanted
            .iter()
            .filter(|(k, v)| current.get(*k) != Some(*v))
            .map(|(k, _)| k.clone())
            .collect(),
        _ => Vec::new(),
    };
    LabelVerdict::Apply { drifted }
}

pub fn labels_fingerprint(labels: &BTreeMap<String, String>) -> String {
    let map: Map<String, Value> = labels.iter().map(|(k, v)| (k.clone(), json!(v))).collect();
    fingerprint(&Value::Object(map))
}

#[cfg(test)]
#[path = "drift_tests.rs"]
mod tests;
