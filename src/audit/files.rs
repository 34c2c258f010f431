//! Input files: walking directories, and YAML/JSON streams split into Kubernetes objects.

use super::*;

/// Files under `paths`: files as given, directories recursively (`.yaml`, `.yml`, `.json`),
/// sorted so that output is deterministic.
pub fn collect_files(paths: &[PathBuf]) -> Result<Vec<PathBuf>, AuditError> {
    let mut out = Vec::new();
    for path in paths {
        let meta = std::fs::metadata(path).map_err(|source| AuditError::Read {
            path: path.clone(),
            source,
        })?;
        if meta.is_dir() {
            walk(path, &mut out)?;
        } else {
            out.push(path.clone());
        }
    }
    Ok(out)
}

fn walk(dir: &Path, out: &mut Vec<PathBuf>) -> Result<(), AuditError> {
    let read = |source| AuditError::Read {
        path: dir.to_path_buf(),
        source,
    };
    let mut entries: Vec<PathBuf> = std::fs::read_dir(dir)
        .map_err(read)?
        .map(|e| e.map(|e| e.path()))
        .collect::<Result<_, _>>()
        .map_err(read)?;
    entries.sort();
    for path in entries {
        if path.is_dir() {
            walk(&path, out)?;
        } else if path
            .extension()
            .and_then(|e| e.to_str())
            .is_some_and(|e| matches!(e, "yaml" | "yml" | "json"))
        {
            out.push(path);
        }
    }
    Ok(())
}

/// Reads every document of every file under `paths`.
pub fn load(paths: &[PathBuf]) -> Result<Vec<Document>, AuditError> {
    let mut docs = Vec::new();
    for path in collect_files(paths)? {
        let text = std::fs::read_to_string(&path).map_err(|source| AuditError::Read {
            path: path.clone(),
            source,
        })?;
        docs.extend(parse_documents(&path, &text)?);
    }
    Ok(docs)
}

/// Splits a YAML (or JSON) stream into Kubernetes objects, read as kubectl reads them
/// (anchors, aliases and merge keys resolved); empty documents (only comments, as Helm leaves
/// them) are skipped, `List`s are expanded.
pub fn parse_documents(path: &Path, text: &str) -> Result<Vec<Document>, AuditError> {
    let mut out = Vec::new();
    for (index, de) in serde_norway::Deserializer::from_str(text).enumerate() {
        let yaml = serde_norway::Value::deserialize(de).map_err(|e| AuditError::Yaml {
            path: path.to_path_buf(),
            index,
            message: e.to_string(),
        })?;
        if yaml.is_null() {
            continue;
        }
        // Judged as kubectl would send it: merge keys resolved (aliases already are).
        let yaml = super::yaml::resolve_merge_keys(yaml).map_err(|message| AuditError::Yaml {
            path: path.to_path_buf(),
            index,
            message,
        })?;
        let not_object = |message: String| AuditError::NotAnObject {
            path: path.to_path_buf(),
            index,
            message,
        };
        let value: Value = serde_json::to_value(&yaml).map_err(|e| not_object(e.to_string()))?;
        let object = |value: Value| -> Result<Document, AuditError> {
            let Some(map) = value.as_object() else {
                return Err(not_object(
                    "expected a mapping with apiVersion and kind".into(),
                ));
            };
            let field = |name: &str| {
                map.get(name)
                    .and_then(Value::as_str)
                    .filter(|s| !s.is_empty())
                    .map(str::to_string)
                    .ok_or_else(|| not_object(format!("missing or non-string `{name}`")))
            };
            let (api_version, kind) = (field("apiVersion")?, field("kind")?);
            if !map.get("metadata").is_none_or(Value::is_object) {
                return Err(not_object("`metadata` is not a mapping".into()));
            }
            Ok(Document {
                path: path.to_path_buf(),
                index,
                api_version,
                kind,
                value,
            })
        };
        let doc = object(value)?;
        if doc.kind.ends_with("List") && doc.value.get("items").is_some() {
            let Some(items) = doc.value["items"].as_array() else {
                return Err(not_object("`items` of a List is not a sequence".into()));
            };
            for item in items {
                out.push(object(item.clone())?);
            }
        } else {
            out.push(doc);
        }
    }
    Ok(out)
}
