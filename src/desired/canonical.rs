//! What the API server stores for a desired object, and the part of an owned object the
//! operator answers for.
//!
//! Drift is any difference in that part, not only a missing field: a field added by hand, or
//! one the operator no longer renders, counts as much as a changed value. Equality needs a
//! model of what the server adds and drops on its own, or every resync would write:
//! [`canonical`] applies the server's defaults for exactly the fields the operator's desired
//! objects use. A test against the real API server checks that every kind of desired object
//! reads back equal to its canonical form, so a default missing here fails a test rather than
//! turning into a write loop.

use super::OwnedKind;
use serde_json::{Map, Value, json};
use sha2::{Digest, Sha256};

/// `body` as the API server stores it once applied: nulls and, for built-in kinds, empty lists
/// and label maps dropped (Go's `omitempty`), and the server's defaults filled in.
///
/// Only defaults for fields the builders leave out are modelled. NetworkPolicies need none:
/// their builders spell out every port's protocol and the policy types (see
/// `network_policy::ports` and `every_pod`), and admission policies always say
/// `failurePolicy: Fail`. Empty lists and label maps still come from users' selectors, which
/// are copied into policies as written.
pub fn canonical(kind: OwnedKind, body: &Value) -> Value {
    let mut body = body.clone();
    drop_nulls(&mut body);
    let builtin = matches!(
        kind,
        OwnedKind::NetworkPolicy
            | OwnedKind::ValidatingAdmissionPolicy
            | OwnedKind::ValidatingAdmissionPolicyBinding
    );
    // Custom resources (Velero's, PolicyReports) are stored as sent: their schemas declare no
    // defaults for the fields the operator writes, and JSON keeps empty lists.
    if let (true, Some(spec)) = (builtin, body.get_mut("spec")) {
        drop_empty(spec);
        match kind {
            OwnedKind::ValidatingAdmissionPolicy => {
                if let Some(constraints) = spec.get_mut("matchConstraints") {
                    match_resources_defaults(constraints);
                }
            }
            OwnedKind::ValidatingAdmissionPolicyBinding => {
                if let Some(resources) = spec.get_mut("matchResources") {
                    match_resources_defaults(resources);
                }
            }
            _ => {}
        }
    }
    body
}

/// The part of `object` the operator answers for: its content (the whole `spec`, or a
/// PolicyReport's top-level fields), the operator's labels (`label_keys`) and the
/// ownerReferences. Works on a desired body and on a live object alike.
pub fn owned_view<'a>(
    kind: OwnedKind,
    object: &Value,
    label_keys: impl IntoIterator<Item = &'a str>,
) -> Value {
    let live_labels = object.pointer("/metadata/labels");
    let labels: Map<String, Value> = label_keys
        .into_iter()
        .filter_map(|key| {
            let value = live_labels?.get(key)?;
            Some((key.to_string(), value.clone()))
        })
        .collect();
    let owner_references = object
        .pointer("/metadata/ownerReferences")
        .cloned()
        .unwrap_or(Value::Null);
    json!({
        "content": content(kind, object),
        "labels": labels,
        "ownerReferences": owner_references,
    })
}

/// Top-level fields that are not content: type, identity, and what others write.
const ENVELOPE: &[&str] = &["apiVersion", "kind", "metadata", "status"];

/// The content of an owned object: `spec`, or for a PolicyReport or ConfigMap (which have
/// none) every top-level field (results, summary, scope, ...; data). Namespaces have no content the operator
/// writes beyond labels.
pub fn content(kind: OwnedKind, object: &Value) -> Value {
    match kind {
        OwnedKind::Namespace => Value::Null,
        kind if kind.content_is_top_level() => Value::Object(
            object
                .as_object()
                .into_iter()
                .flatten()
                .filter(|(k, _)| !ENVELOPE.contains(&k.as_str()))
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect(),
        ),
        _ => object.get("spec").cloned().unwrap_or(Value::Null),
    }
}

/// A short, stable digest of `value`: the same on every machine and release (keys are
/// written sorted, whatever the map's order), so it can be stamped on an object and compared
/// after a restart.
pub fn fingerprint(value: &Value) -> String {
    let digest = Sha256::digest(sorted_json(value).as_bytes());
    digest[..16].iter().map(|b| format!("{b:02x}")).collect()
}

/// `value` as JSON with every object's keys sorted and no whitespace: one text per value,
/// whatever order its keys were built or parsed in.
pub fn sorted_json(value: &Value) -> String {
    let mut text = String::new();
    write_sorted(value, &mut text);
    text
}

fn write_sorted(value: &Value, out: &mut String) {
    match value {
        Value::Object(map) => {
            let mut keys: Vec<&String> = map.keys().collect();
            keys.sort();
            out.push('{');
            for (i, key) in keys.into_iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                out.push_str(&Value::String(key.clone()).to_string());
                out.push(':');
                write_sorted(&map[key], out);
            }
            out.push('}');
        }
        Value::Array(items) => {
            out.push('[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                write_sorted(item, out);
            }
            out.push(']');
        }
        other => out.push_str(&other.to_string()),
    }
}

fn drop_nulls(value: &mut Value) {
    match value {
        Value::Object(map) => {
            map.retain(|_, v| !v.is_null());
            map.values_mut().for_each(drop_nulls);
        }
        Value::Array(items) => items.iter_mut().for_each(drop_nulls),
        _ => {}
    }
}

/// Go's `omitempty` on the built-in types: empty lists are never stored, nor are empty
/// `matchLabels` maps. Empty selectors (`podSelector: {}`) are structs and stay.
fn drop_empty(value: &mut Value) {
    match value {
        Value::Object(map) => {
            map.values_mut().for_each(drop_empty);
            map.retain(|key, v| match v {
                Value::Array(items) => !items.is_empty(),
                Value::Object(inner) => !(key == "matchLabels" && inner.is_empty()),
                _ => true,
            });
        }
        Value::Array(items) => items.iter_mut().for_each(drop_empty),
        _ => {}
    }
}

fn default(object: &mut Value, key: &str, value: Value) {
    if let Some(map) = object.as_object_mut() {
        map.entry(key).or_insert(value);
    }
}

/// `SetDefaults_MatchResources` and `SetDefaults_Rule` of admissionregistration/v1: the
/// builders set only the namespace selector and the rules' groups, versions, resources and
/// operations (`admission::policy_and_binding`, `admission::resource_rule`), so the server
/// fills in the match policy, the other selector, and each rule's scope.
fn match_resources_defaults(resources: &mut Value) {
    default(resources, "matchPolicy", json!("Equivalent"));
    default(resources, "namespaceSelector", json!({}));
    default(resources, "objectSelector", json!({}));
    for list in ["resourceRules", "excludeResourceRules"] {
        for rule in array_mut(resources, list) {
            default(rule, "scope", json!("*"));
        }
    }
}

fn array_mut<'a>(object: &'a mut Value, key: &str) -> impl Iterator<Item = &'a mut Value> {
    object
        .get_mut(key)
        .and_then(Value::as_array_mut)
        .into_iter()
        .flatten()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn empty_lists_vanish_from_built_in_kinds() {
        let desired = json!({"spec": {
            "podSelector": {"matchLabels": {}},
            "policyTypes": ["Ingress", "Egress"],
            "ingress": [{"ports": [{"port": 443, "protocol": "TCP"}]}],
            "egress": [],
        }});
        let stored = canonical(OwnedKind::NetworkPolicy, &desired);
        assert_eq!(
            stored["spec"],
            json!({
                "podSelector": {},
                "policyTypes": ["Ingress", "Egress"],
                "ingress": [{"ports": [{"port": 443, "protocol": "TCP"}]}],
            })
        );
    }

    #[test]
    fn admission_policy_and_binding_get_match_resource_defaults() {
        let policy = json!({"spec": {
            "matchConstraints": {
                "resourceRules": [{"apiGroups": [""], "apiVersions": ["v1"], "resources": ["pods"], "operations": ["CREATE"]}],
                "namespaceSelector": {"matchLabels": {}, "matchExpressions": []},
            },
            "validations": [{"expression": "true"}],
        }});
        let stored = canonical(OwnedKind::ValidatingAdmissionPolicy, &policy);
        let constraints = &stored["spec"]["matchConstraints"];
        assert_eq!(constraints["matchPolicy"], json!("Equivalent"));
        assert_eq!(constraints["namespaceSelector"], json!({}));
        assert_eq!(constraints["objectSelector"], json!({}));
        assert_eq!(constraints["resourceRules"][0]["scope"], json!("*"));

        let binding = json!({"spec": {"policyName": "p", "matchResources": {"namespaceSelector": {"matchLabels": {"env": "prod"}}}}});
        let stored = canonical(OwnedKind::ValidatingAdmissionPolicyBinding, &binding);
        assert_eq!(
            stored["spec"]["matchResources"],
            json!({"namespaceSelector": {"matchLabels": {"env": "prod"}}, "objectSelector": {}, "matchPolicy": "Equivalent"})
        );
    }

    #[test]
    fn explicit_values_are_kept_and_custom_resources_are_stored_as_sent() {
        let policy = json!({"spec": {"failurePolicy": "Ignore", "matchConstraints": {"matchPolicy": "Exact"}}});
        let stored = canonical(OwnedKind::ValidatingAdmissionPolicy, &policy);
        assert_eq!(stored["spec"]["failurePolicy"], json!("Ignore"));
        assert_eq!(
            stored["spec"]["matchConstraints"]["matchPolicy"],
            json!("Exact")
        );
        let schedule = json!({"spec": {"template": {"includedNamespaces": [], "ttl": null}}});
        assert_eq!(
            canonical(OwnedKind::VeleroSchedule, &schedule),
            json!({"spec": {"template": {"includedNamespaces": []}}})
        );
    }

    #[test]
    fn owned_view_holds_content_own_labels_and_owner_references_only() {
        let live = json!({
            "apiVersion": "networking.k8s.io/v1", "kind": "NetworkPolicy",
            "metadata": {
                "name": "p", "resourceVersion": "7",
                "labels": {"mine": "a", "theirs": "b"},
                "annotations": {"note": "x"},
                "ownerReferences": [{"uid": "u"}],
            },
            "spec": {"podSelector": {}},
        });
        assert_eq!(
            owned_view(OwnedKind::NetworkPolicy, &live, ["mine", "absent"]),
            json!({"content": {"podSelector": {}}, "labels": {"mine": "a"}, "ownerReferences": [{"uid": "u"}]})
        );
        let report = json!({"apiVersion": "wgpolicyk8s.io/v1alpha2", "kind": "PolicyReport", "metadata": {}, "results": [], "summary": {"fail": 1}});
        assert_eq!(
            content(OwnedKind::PolicyReport, &report),
            json!({"results": [], "summary": {"fail": 1}})
        );
    }

    #[test]
    fn fingerprint_ignores_key_order_but_not_values() {
        let a: Value = serde_json::from_str(r#"{"b": 1, "a": [2, {"y": 1, "x": 2}]}"#).unwrap();
        let b: Value = serde_json::from_str(r#"{"a": [2, {"x": 2, "y": 1}], "b": 1}"#).unwrap();
        assert_eq!(fingerprint(&a), fingerprint(&b));
        assert_eq!(fingerprint(&a).len(), 32);
        let c = json!({"a": [{"x": 2, "y": 1}, 2], "b": 1});
        assert_ne!(fingerprint(&a), fingerprint(&c));
    }
}
