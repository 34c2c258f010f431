//! The ArgoCD health checks in `config/argocd/` run under a real Lua 5.1 interpreter (ArgoCD's
//! gopher-lua speaks Lua 5.1) against sample objects, and `argocd-cm-patch.yaml` embeds each of
//! them verbatim.
//!
//! Needs the `lua5.1` binary (Debian/Ubuntu package `lua5.1`); set `LUA` to use another one.

use serde_json::{Value, json};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

const KINDS: [&str; 3] = ["SecurityBaseline", "BackupPolicy", "EnvironmentIsolation"];

fn argocd_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("config/argocd")
}

fn lua_file(kind: &str) -> PathBuf {
    argocd_dir().join(format!("security.baseline.dev_{kind}.lua"))
}

/// A Lua string literal for any Rust string.
fn lua_string(s: &str) -> String {
    let mut out = String::from("\"");
    for b in s.bytes() {
        match b {
            b'"' => out.push_str("\\\""),
            b'\\' => out.push_str("\\\\"),
            b'\n' => out.push_str("\\n"),
            0x20..=0x7e => out.push(b as char),
            _ => out.push_str(&format!("\\{b:03}")),
        }
    }
    out.push('"');
    out
}

/// A Lua table constructor for a JSON value, as ArgoCD hands objects to health checks:
/// objects become tables keyed by strings, arrays 1-based sequences, null an absent key.
fn lua_value(value: &Value) -> String {
    match value {
        Value::Null => "nil".into(),
        Value::Bool(b) => b.to_string(),
        Value::Number(n) => n.to_string(),
        Value::String(s) => lua_string(s),
        Value::Array(items) => {
            assert!(
                !items.iter().any(Value::is_null),
                "null inside an array cannot be a Lua sequence"
            );
            let items: Vec<String> = items.iter().map(lua_value).collect();
            format!("{{{}}}", items.join(", "))
        }
        Value::Object(map) => {
            let fields: Vec<String> = map
                .iter()
                .filter(|(_, v)| !v.is_null())
                .map(|(k, v)| format!("[{}] = {}", lua_string(k), lua_value(v)))
                .collect();
            format!("{{{}}}", fields.join(", "))
        }
    }
}

/// Runs the health check of `kind` on `obj`; returns `(status, message)`.
fn health(kind: &str, obj: &Value) -> (String, String) {
    let script = lua_file(kind);
    let harness = format!(
        "obj = {}\n\
         local check = assert(loadfile({}))\n\
         local hs = check()\n\
         io.write(hs.status .. \"\\t\" .. hs.message)\n",
        lua_value(obj),
        lua_string(script.to_str().expect("UTF-8 path")),
    );
    let lua = std::env::var("LUA").unwrap_or_else(|_| "lua5.1".into());
    let mut child = Command::new(&lua)
        .arg("-")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| {
            panic!("cannot run `{lua}` ({e}): install the Debian package lua5.1 or set LUA")
        });
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(harness.as_bytes())
        .expect("writing the harness");
    let out = child.wait_with_output().expect("waiting for lua");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "lua failed for {kind}: {}\n{stdout}\nharness:\n{harness}",
        String::from_utf8_lossy(&out.stderr)
    );
    let (status, message) = stdout
        .split_once('\t')
        .unwrap_or_else(|| panic!("unexpected output {stdout:?}"));
    (status.to_string(), message.to_string())
}

fn object(kind: &str, generation: i64, status: Value) -> Value {
    json!({
        "apiVersion": "security.baseline.dev/v1alpha1",
        "kind": kind,
        "metadata": {"name": "production", "generation": generation, "uid": "1b2c"},
        "spec": {"mode": "Enforce", "namespaceSelector": {"matchLabels": {"env": "production"}}},
        "status": status,
    })
}

fn condition(type_: &str, status: &str, generation: i64, reason: &str, message: &str) -> Value {
    json!({
        "type": type_,
        "status": status,
        "observedGeneration": generation,
        "reason": reason,
        "message": message,
        "lastTransitionTime": "2026-01-01T00:00:00Z",
    })
}

fn reconciled(generation: i64, failing: &str) -> Value {
    let mut summary =
        json!({"namespaces": 3, "passing": 5, "failing": 0, "exempt": 1, "score": 100});
    if !failing.is_empty() {
        summary["failing"] = json!(failing.split(',').count());
        summary["score"] = json!(71);
        summary["failingControls"] = json!(failing);
    }
    json!({
        "observedGeneration": generation,
        "conditions": [
            condition("Ready", "True", generation, "Reconciled", "evaluated and applied"),
            condition(
                "Compliant",
                if failing.is_empty() { "True" } else { "False" },
                generation,
                if failing.is_empty() { "AllControlsPass" } else { "ControlsFailing" },
                "failing: whatever",
            ),
        ],
        "summary": summary,
        "controls": [{
            "id": "restricted-ports", "title": "t", "frameworks": ["ISO27001:A.8.20"],
            "state": "Pass", "checked": 3, "failed": 0, "exempted": 0,
        }],
    })
}

fn assert_health(obj: &Value, status: &str, message: &str) {
    for kind in KINDS {
        let mut obj = obj.clone();
        obj["kind"] = json!(kind);
        assert_eq!(
            health(kind, &obj),
            (status.to_string(), message.to_string()),
            "{kind}: {obj:#}"
        );
    }
}

#[test]
fn lua_converter_escapes_strings() {
    assert_eq!(
        lua_string("a\"b\\c\nd\té"),
        "\"a\\\"b\\\\c\\nd\\009\\195\\169\""
    );
    assert_eq!(
        lua_value(&json!({"a": null, "b": [1, true]})),
        "{[\"b\"] = {1, true}}"
    );
}

#[test]
fn healthy_and_compliant() {
    assert_health(
        &object("SecurityBaseline", 3, reconciled(3, "")),
        "Healthy",
        "compliant",
    );
}

#[test]
fn failing_controls_are_healthy_with_their_names() {
    assert_health(
        &object(
            "SecurityBaseline",
            3,
            reconciled(3, "restricted-ports,trusted-images"),
        ),
        "Healthy",
        "failing controls: restricted-ports,trusted-images",
    );
}

#[test]
fn no_status_is_progressing() {
    let mut obj = object("SecurityBaseline", 1, Value::Null);
    obj.as_object_mut().unwrap().remove("status");
    assert_health(&obj, "Progressing", "waiting for the operator to reconcile");
}

#[test]
fn observed_generation_lag_is_progressing() {
    assert_health(
        &object("SecurityBaseline", 4, reconciled(3, "")),
        "Progressing",
        "waiting for the operator to observe generation 4",
    );
}

#[test]
fn status_without_observed_generation_is_progressing() {
    assert_health(
        &object("SecurityBaseline", 2, json!({"conditions": []})),
        "Progressing",
        "waiting for the operator to observe generation 2",
    );
}

#[test]
fn missing_ready_condition_is_progressing() {
    assert_health(
        &object("SecurityBaseline", 2, json!({"observedGeneration": 2})),
        "Progressing",
        "waiting for the Ready condition",
    );
}

#[test]
fn ready_false_is_degraded_with_its_message() {
    let mut status = reconciled(5, "restricted-ports");
    status["conditions"][0] = condition(
        "Ready",
        "False",
        5,
        "ApplyFailed",
        "applying NetworkPolicy shop/baseline-default-deny: forbidden",
    );
    assert_health(
        &object("SecurityBaseline", 5, status),
        "Degraded",
        "applying NetworkPolicy shop/baseline-default-deny: forbidden",
    );
}

/// An invalid new spec: the operator reports Ready=False for generation 6 but keeps
/// status.observedGeneration at the last good generation; that is Degraded, not Progressing.
#[test]
fn ready_false_for_the_current_generation_is_degraded_despite_lag() {
    let mut status = reconciled(5, "");
    status["conditions"][0] = condition("Ready", "False", 6, "InvalidSpec", "");
    assert_health(
        &object("SecurityBaseline", 6, status),
        "Degraded",
        "InvalidSpec",
    );
}

/// A Ready=False about an older generation says nothing about the new spec yet.
#[test]
fn stale_ready_false_is_progressing() {
    let mut status = reconciled(5, "");
    status["conditions"][0] = condition("Ready", "False", 5, "ApplyFailed", "boom");
    assert_health(
        &object("SecurityBaseline", 6, status),
        "Progressing",
        "waiting for the operator to observe generation 6",
    );
}

#[test]
fn the_three_kinds_share_one_check() {
    let first = std::fs::read_to_string(lua_file(KINDS[0])).expect("reading the health check");
    for kind in &KINDS[1..] {
        let other = std::fs::read_to_string(lua_file(kind)).expect("reading the health check");
        assert_eq!(
            first, other,
            "{kind}'s health check differs from {}'s",
            KINDS[0]
        );
    }
}

/// `argocd-cm-patch.yaml` inlines each `.lua` file verbatim (regenerate it with
/// `config/argocd/generate-cm-patch.sh`).
#[test]
fn cm_patch_embeds_each_lua_file_verbatim() {
    let text = std::fs::read_to_string(argocd_dir().join("argocd-cm-patch.yaml"))
        .expect("reading argocd-cm-patch.yaml");
    let cm: serde_yaml::Value = serde_yaml::from_str(&text).expect("argocd-cm-patch.yaml parses");
    assert_eq!(cm["kind"].as_str(), Some("ConfigMap"));
    assert_eq!(cm["metadata"]["name"].as_str(), Some("argocd-cm"));
    let data = cm["data"].as_mapping().expect("data");
    assert_eq!(data.len(), KINDS.len(), "one health check per kind");
    for kind in KINDS {
        let key = format!("resource.customizations.health.security.baseline.dev_{kind}");
        let embedded = data
            .get(key.as_str())
            .and_then(|v| v.as_str())
            .unwrap_or_else(|| panic!("argocd-cm-patch.yaml lacks {key}"));
        let file = std::fs::read_to_string(lua_file(kind)).expect("reading the health check");
        assert!(
            embedded == file,
            "{key} differs from {}: run config/argocd/generate-cm-patch.sh",
            lua_file(kind).display()
        );
    }
}
