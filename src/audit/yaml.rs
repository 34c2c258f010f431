//! YAML as kubectl and Helm read it: merge keys (`<<`) resolved before anything is judged.
//!
//! serde_norway expands anchors and aliases while parsing (with limits against alias bombs)
//! but keeps `<<` as an ordinary key, so a `hostNetwork: true` merged into a pod spec from an
//! anchor would reach the evaluators as an unknown field named `<<`, unseen, while kubectl
//! sends it to the API server. kubectl (sigs.k8s.io/yaml on go-yaml v2) applies a mapping's
//! entries in document order: a merge sets the merged keys over the ones before it, a key after
//! it overrides the merged value, and of a sequence of merged mappings the earlier ones win.
//! Resolved here the same way; a merge of anything but a mapping or a sequence of mappings is
//! refused, as kubectl refuses it.

use serde_norway::{Mapping, Value};

/// `value` with every merge key resolved, or why the document cannot be read (naming where).
pub fn resolve_merge_keys(value: Value) -> Result<Value, String> {
    resolve(value, "")
}

fn resolve(value: Value, path: &str) -> Result<Value, String> {
    match value {
        Value::Mapping(mapping) => {
            let mut out = Mapping::with_capacity(mapping.len());
            for (key, value) in mapping {
                let at = format!("{path}.{}", key_text(&key));
                // A merged mapping's own merge keys first (an anchor built on another one).
                let value = resolve(value, &at)?;
                if is_merge_key(&key) {
                    for merged in merged_mappings(value, &at)? {
                        for (k, v) in merged {
                            out.insert(k, v);
                        }
                    }
                } else {
                    out.insert(key, value);
                }
            }
            Ok(Value::Mapping(out))
        }
        Value::Sequence(items) => items
            .into_iter()
            .enumerate()
            .map(|(i, item)| resolve(item, &format!("{path}[{i}]")))
            .collect::<Result<_, _>>()
            .map(Value::Sequence),
        Value::Tagged(mut tagged) => {
            tagged.value = resolve(std::mem::take(&mut tagged.value), path)?;
            Ok(Value::Tagged(tagged))
        }
        scalar => Ok(scalar),
    }
}

fn is_merge_key(key: &Value) -> bool {
    key.as_str() == Some("<<")
}

/// The mappings a merge key brings in, in the order they are applied (the last applied wins):
/// a sequence's later mappings first, so that its earlier ones take precedence.
fn merged_mappings(value: Value, at: &str) -> Result<Vec<Mapping>, String> {
    let refuse = || {
        format!(
            "`{at}`: a merge key (`<<`) takes a mapping or a sequence of mappings, as kubectl requires"
        )
    };
    match value {
        Value::Mapping(mapping) => Ok(vec![mapping]),
        Value::Sequence(items) => items
            .into_iter()
            .rev()
            .map(|item| match item {
                Value::Mapping(mapping) => Ok(mapping),
                _ => Err(refuse()),
            })
            .collect(),
        _ => Err(refuse()),
    }
}

/// A key as a path segment: strings as they are, other scalars in YAML, never a long value.
fn key_text(key: &Value) -> String {
    match key {
        Value::String(s) => s.clone(),
        Value::Number(n) => n.to_string(),
        Value::Bool(b) => b.to_string(),
        Value::Null => "null".into(),
        _ => "<complex key>".into(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn resolved(text: &str) -> Result<serde_json::Value, String> {
        let value: Value = serde_norway::from_str(text).unwrap();
        resolve_merge_keys(value).map(|v| serde_json::to_value(v).unwrap())
    }

    #[test]
    fn merged_keys_are_set_in_document_order_as_kubectl_sets_them() {
        let v = resolved(
            "base: &base {a: 1, b: 1, c: 1}\n\
             after: {<<: *base, b: 2}\n\
             before: {b: 2, <<: *base}\n\
             list: {<<: [{a: first}, {a: second, d: 4}]}\n",
        )
        .unwrap();
        assert_eq!(v["after"], serde_json::json!({"a": 1, "b": 2, "c": 1}));
        assert_eq!(v["before"], serde_json::json!({"a": 1, "b": 1, "c": 1}));
        assert_eq!(v["list"], serde_json::json!({"a": "first", "d": 4}));
    }

    #[test]
    fn merges_nest_through_anchors_sequences_and_pod_specs() {
        let v = resolved(
            "x: &root {hostNetwork: true}\n\
             y: &mid {<<: *root, hostPID: true}\n\
             spec: {containers: [{name: a, securityContext: {<<: *mid}}]}\n",
        )
        .unwrap();
        assert_eq!(
            v["spec"]["containers"][0]["securityContext"],
            serde_json::json!({"hostNetwork": true, "hostPID": true})
        );
        assert!(!v.to_string().contains("<<"));
    }

    #[test]
    fn a_merge_of_a_scalar_is_refused_naming_where() {
        let error = resolved("spec: {template: {<<: 5}}\n").unwrap_err();
        assert!(error.contains("`.spec.template.<<`"), "{error}");
        let error = resolved("spec: {<<: [{a: 1}, 2]}\n").unwrap_err();
        assert!(error.contains("merge key"), "{error}");
    }
}
