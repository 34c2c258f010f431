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
    let label_keys: Vec<String> = object
        .body
        .pointer("/metadata/labels")
        .and_then(Value::as_object)
        .map(|labels| labels.keys().cloned().collect())
        .unwrap_or_default();
    let stored = canonical(object.kind, &object.body);
    let view = owned_view(object.kind, &stored, label_keys.iter().map(String::as_str));
    let fingerprint = fingerprint(&view);
    let mut body = object.body.clone();
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
    if rendered.kind == OwnedKind::PolicyReport {
        out.retain(|key, _| ["apiVersion", "kind", "metadata", "status"].contains(&key.as_str()));
    }
    if let Value::Object(content) = canonical::content(rendered.kind, &rendered.body) {
        if rendered.kind == OwnedKind::PolicyReport {
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
mod tests {
    use super::*;
    use crate::desired::Owner;

    fn owner() -> Owner {
        Owner {
            api_version: "security.baseline.dev/v1alpha1".into(),
            kind: "SecurityBaseline".into(),
            name: "prod".into(),
            uid: "uid-1".into(),
        }
    }

    fn deny(spec: Value) -> DesiredObject {
        DesiredObject::owned(
            OwnedKind::NetworkPolicy,
            &owner(),
            Some("shop"),
            "sb-prod-default-deny".into(),
            json!({ "spec": spec }),
        )
    }

    /// What the API server stores for `rendered`: defaults filled in, and bookkeeping the
    /// comparison must ignore.
    fn stored(rendered: &Rendered) -> Value {
        let mut live = canonical(rendered.kind, &rendered.body);
        live["metadata"]["resourceVersion"] = json!("42");
        live["metadata"]["labels"]["team"] = json!("shop");
        live["metadata"]["annotations"]["note"] = json!("by hand");
        live["metadata"]["managedFields"] = json!([]);
        live
    }

    fn default_deny() -> DesiredObject {
        deny(json!({"podSelector": {}, "policyTypes": ["Ingress", "Egress"]}))
    }

    #[test]
    fn stored_object_is_in_sync_and_a_missing_one_is_created() {
        let rendered = render(&default_deny());
        assert_eq!(
            rendered.body["metadata"]["annotations"][RENDERED],
            json!(rendered.fingerprint)
        );
        assert_eq!(
            verdict(&rendered, Some(&stored(&rendered)), true),
            Verdict::InSync
        );
        assert_eq!(
            verdict(&rendered, None, false),
            Verdict::Create {
                deleted_by_hand: false
            }
        );
        assert_eq!(
            verdict(&rendered, None, true),
            Verdict::Create {
                deleted_by_hand: true
            }
        );
    }

    #[test]
    fn added_field_is_drift() {
        let rendered = render(&default_deny());
        let mut live = stored(&rendered);
        live["spec"]["ingress"] = json!([{}]);
        assert_eq!(
            verdict(&rendered, Some(&live), true),
            Verdict::Replace { drifted: true }
        );
    }

    #[test]
    fn changed_or_removed_owned_metadata_is_drift() {
        let rendered = render(&default_deny());
        let mut live = stored(&rendered);
        live["metadata"]["ownerReferences"] = json!([]);
        assert_eq!(
            verdict(&rendered, Some(&live), true),
            Verdict::Replace { drifted: true }
        );
        let mut live = stored(&rendered);
        live["metadata"]["labels"]
            .as_object_mut()
            .unwrap()
            .remove(crate::desired::MANAGED_BY);
        assert_eq!(
            verdict(&rendered, Some(&live), true),
            Verdict::Replace { drifted: true }
        );
    }

    #[test]
    fn changed_wish_is_a_re_render_not_drift() {
        let before = render(&default_deny());
        let live = stored(&before);
        let after = render(&deny(
            json!({"podSelector": {}, "policyTypes": ["Ingress"]}),
        ));
        assert_eq!(
            verdict(&after, Some(&live), true),
            Verdict::Replace { drifted: false }
        );
    }

    #[test]
    fn hand_edit_on_top_of_a_changed_wish_is_still_drift() {
        let before = render(&default_deny());
        let mut live = stored(&before);
        live["spec"]["ingress"] = json!([{}]);
        let after = render(&deny(
            json!({"podSelector": {}, "policyTypes": ["Ingress"]}),
        ));
        assert_eq!(
            verdict(&after, Some(&live), true),
            Verdict::Replace { drifted: true }
        );
    }

    #[test]
    fn missing_or_foreign_stamp_forces_a_write_without_blame() {
        let rendered = render(&default_deny());
        let mut live = stored(&rendered);
        live["metadata"]["annotations"]
            .as_object_mut()
            .unwrap()
            .remove(RENDERED);
        assert_eq!(
            verdict(&rendered, Some(&live), true),
            Verdict::Replace { drifted: false }
        );
    }

    #[test]
    fn replacement_sets_owned_parts_and_keeps_the_rest() {
        let rendered = render(&default_deny());
        let mut live = stored(&rendered);
        live["spec"]["ingress"] = json!([{}]);
        live["metadata"]["ownerReferences"] = json!([{"uid": "someone-else"}]);
        live["metadata"]["labels"][crate::desired::OWNER_UID] = json!("forged");
        live["metadata"]["annotations"][RENDERED] = json!("stale");
        live["status"] = json!({"phase": "Enabled"});
        let put = replacement(&rendered, &live);
        assert_eq!(put["spec"], rendered.body["spec"]);
        assert_eq!(put["status"], json!({"phase": "Enabled"}));
        assert_eq!(put["metadata"]["resourceVersion"], json!("42"));
        assert_eq!(put["metadata"]["labels"]["team"], json!("shop"));
        assert_eq!(
            put["metadata"]["labels"][crate::desired::OWNER_UID],
            json!("uid-1")
        );
        assert_eq!(put["metadata"]["annotations"]["note"], json!("by hand"));
        assert_eq!(
            put["metadata"]["annotations"][RENDERED],
            json!(rendered.fingerprint)
        );
        assert_eq!(
            put["metadata"]["ownerReferences"],
            rendered.body["metadata"]["ownerReferences"]
        );
        assert!(put["metadata"].get("managedFields").is_none());
        // Once stored, the replacement is in sync.
        let mut after = canonical(rendered.kind, &put);
        after["metadata"]["resourceVersion"] = json!("43");
        assert_eq!(verdict(&rendered, Some(&after), true), Verdict::InSync);
    }

    #[test]
    fn policy_report_replacement_drops_top_level_fields_no_longer_rendered() {
        let mut report = DesiredObject::owned(
            OwnedKind::PolicyReport,
            &owner(),
            Some("shop"),
            "sb-prod".into(),
            json!({"summary": {"fail": 1}, "results": [{"rule": "r"}]}),
        );
        report.body["apiVersion"] = json!("wgpolicyk8s.io/v1alpha2");
        report.body["kind"] = json!("PolicyReport");
        let rendered = render(&report);
        let mut live = stored(&rendered);
        live["scope"] = json!({"kind": "Namespace", "name": "shop"});
        live["results"] = json!([]);
        assert_eq!(
            verdict(&rendered, Some(&live), true),
            Verdict::Replace { drifted: true }
        );
        let put = replacement(&rendered, &live);
        assert!(put.get("scope").is_none());
        assert_eq!(put["results"], json!([{"rule": "r"}]));
        assert_eq!(put["kind"], json!("PolicyReport"));
    }

    fn labels(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn labels_first_applied_or_re_wished_are_not_drift() {
        let wanted = labels(&[("psa/enforce", "restricted"), ("marker", "uid")]);
        let untouched = labels(&[("team", "shop")]);
        assert_eq!(
            label_verdict(&wanted, &untouched, None),
            LabelVerdict::Apply { drifted: vec![] }
        );
        let mut applied = untouched.clone();
        applied.extend(wanted.clone());
        let stamp = labels_fingerprint(&wanted);
        assert_eq!(
            label_verdict(&wanted, &applied, Some(&stamp)),
            LabelVerdict::InSync
        );
        let rewished = labels(&[("psa/enforce", "baseline"), ("marker", "uid")]);
        assert_eq!(
            label_verdict(&rewished, &applied, Some(&stamp)),
            LabelVerdict::Apply { drifted: vec![] }
        );
    }

    #[test]
    fn labels_changed_or_removed_by_hand_are_drift() {
        let wanted = labels(&[
            ("psa/enforce", "restricted"),
            ("psa/warn", "restricted"),
            ("marker", "uid"),
        ]);
        let stamp = labels_fingerprint(&wanted);
        let edited = labels(&[("psa/enforce", "privileged"), ("marker", "uid")]);
        assert_eq!(
            label_verdict(&wanted, &edited, Some(&stamp)),
            LabelVerdict::Apply {
                drifted: vec!["psa/enforce".into(), "psa/warn".into()]
            }
        );
    }
}
