//! The ArgoCD health check `config/argocd/health.lua`, judged by the interpreter ArgoCD runs it
//! in: gopher-lua at the version ArgoCD pins, with the libraries and object conversion of
//! ArgoCD's util/lua (see `tests/argocd/main.go`). `tests/argocd/build` builds that harness
//! with Go into `~/.cache/baseline-operator/` on first use; nothing else has to be installed.
//!
//! The cases are in `config/argocd/health_test.yaml` (ArgoCD's layout: an input object under
//! `testdata/` and the health ArgoCD must report for it). Each case runs for each kind, with
//! the script `argocd-cm-patch.yaml` installs under the key ArgoCD looks up for that kind.

use serde::Deserialize;
use serde_json::{Value, json};
use std::collections::BTreeSet;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::OnceLock;

const GROUP: &str = "security.baseline.dev";
const KINDS: [&str; 3] = ["SecurityBaseline", "BackupPolicy", "EnvironmentIsolation"];

fn argocd_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("config/argocd")
}

/// ArgoCD's HealthStatus; an empty field is left out of the harness's JSON.
#[derive(Debug, Default, PartialEq, Deserialize)]
struct HealthStatus {
    #[serde(default)]
    status: String,
    #[serde(default)]
    message: String,
}

/// `health_test.yaml`, as ArgoCD's TestLuaHealthScript reads it.
#[derive(Deserialize)]
struct HealthTests {
    tests: Vec<HealthTest>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct HealthTest {
    health_status: HealthStatus,
    input_path: String,
}

fn health_tests() -> Vec<HealthTest> {
    let path = argocd_dir().join("health_test.yaml");
    let text = std::fs::read_to_string(&path).expect("reading health_test.yaml");
    let parsed: HealthTests = serde_norway::from_str(&text)
        .unwrap_or_else(|e| panic!("{} does not parse: {e}", path.display()));
    parsed.tests
}

/// The harness binary, built (or found in the cache) once per test run.
fn harness() -> &'static Path {
    static HARNESS: OnceLock<PathBuf> = OnceLock::new();
    HARNESS.get_or_init(|| baseline_test_support::built_tool("tests/argocd/build"))
}

/// Runs `script` on `obj` as ArgoCD would: the health it reports, or the interpreter's error.
fn run_health(script: &Path, obj: &Value) -> Result<HealthStatus, String> {
    let mut child = Command::new(harness())
        .arg(script)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("starting the harness");
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(obj.to_string().as_bytes())
        .expect("writing the object");
    let out = child.wait_with_output().expect("waiting for the harness");
    if !out.status.success() {
        return Err(String::from_utf8_lossy(&out.stderr).trim().to_string());
    }
    serde_json::from_slice(&out.stdout).map_err(|e| {
        format!(
            "unreadable harness output {:?}: {e}",
            String::from_utf8_lossy(&out.stdout)
        )
    })
}

/// Runs an inline script on `obj`.
fn run_inline(script: &str, obj: &Value) -> Result<HealthStatus, String> {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("check.lua");
    std::fs::write(&path, script).expect("writing the script");
    run_health(&path, obj)
}

fn healthy(message: &str) -> Result<HealthStatus, String> {
    Ok(HealthStatus {
        status: "Healthy".into(),
        message: message.into(),
    })
}

/// The argocd-cm key ArgoCD reads a custom health check from for `kind` of our group.
fn health_key(kind: &str) -> String {
    format!("resource.customizations.health.{GROUP}_{kind}")
}

/// The `data` of `argocd-cm-patch.yaml`, what users merge into argocd-cm.
fn cm_patch_data() -> serde_norway::Mapping {
    let text = std::fs::read_to_string(argocd_dir().join("argocd-cm-patch.yaml"))
        .expect("reading argocd-cm-patch.yaml");
    let cm: serde_norway::Value =
        serde_norway::from_str(&text).expect("argocd-cm-patch.yaml parses");
    assert_eq!(cm["kind"].as_str(), Some("ConfigMap"));
    assert_eq!(cm["metadata"]["name"].as_str(), Some("argocd-cm"));
    cm["data"].as_mapping().expect("data").clone()
}

/// The script ArgoCD runs for `kind` once the patch is merged into argocd-cm.
fn installed_script<'a>(data: &'a serde_norway::Mapping, kind: &str) -> &'a str {
    let key = health_key(kind);
    data.get(key.as_str())
        .and_then(|v| v.as_str())
        .unwrap_or_else(|| panic!("argocd-cm-patch.yaml lacks {key}"))
}

#[test]
fn health_test_yaml_cases_pass_in_argocds_interpreter() {
    let tests = health_tests();
    assert!(!tests.is_empty(), "health_test.yaml lists no cases");
    let data = cm_patch_data();
    let scripts = tempfile::tempdir().expect("tempdir");
    let mut failures = Vec::new();
    let mut runs = 0;
    for kind in KINDS {
        let script = installed_script(&data, kind);
        let script_path = scripts.path().join(format!("{kind}.lua"));
        std::fs::write(&script_path, script).expect("writing the script");
        for test in &tests {
            let input = argocd_dir().join(&test.input_path);
            let text = std::fs::read_to_string(&input)
                .unwrap_or_else(|e| panic!("reading {}: {e}", input.display()));
            let mut obj: Value = serde_norway::from_str(&text)
                .unwrap_or_else(|e| panic!("{} does not parse: {e}", input.display()));
            assert_eq!(
                obj["apiVersion"].as_str().and_then(|v| v.split_once('/')),
                Some((GROUP, "v1alpha1")),
                "{}: apiVersion",
                test.input_path
            );
            obj["kind"] = json!(kind);
            runs += 1;
            let case = format!("{} as {kind}", test.input_path);
            match run_health(&script_path, &obj) {
                Ok(got) if got == test.health_status => {}
                Ok(got) => failures.push(format!(
                    "{case}: expected {:?}, ArgoCD would report {got:?}",
                    test.health_status
                )),
                Err(error) => failures.push(format!("{case}: the script failed: {error}")),
            }
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {runs} health checks failed:\n{}",
        failures.len(),
        failures.join("\n")
    );
}

/// No input sits unused under testdata/, and no case names an input twice.
#[test]
fn every_testdata_file_is_a_case() {
    let listed: Vec<String> = health_tests().into_iter().map(|t| t.input_path).collect();
    let unique: BTreeSet<&String> = listed.iter().collect();
    assert_eq!(unique.len(), listed.len(), "an inputPath is listed twice");
    let on_disk: BTreeSet<String> = std::fs::read_dir(argocd_dir().join("testdata"))
        .expect("reading testdata/")
        .map(|entry| {
            format!(
                "testdata/{}",
                entry.expect("entry").file_name().to_string_lossy()
            )
        })
        .collect();
    assert_eq!(
        unique,
        on_disk.iter().collect(),
        "health_test.yaml vs testdata/"
    );
}

/// `argocd-cm-patch.yaml` installs `health.lua` verbatim for each kind (regenerate it with
/// `config/argocd/generate-cm-patch.sh`).
#[test]
fn cm_patch_installs_health_lua_for_each_kind() {
    let data = cm_patch_data();
    assert_eq!(data.len(), KINDS.len(), "one health check per kind");
    let source =
        std::fs::read_to_string(argocd_dir().join("health.lua")).expect("reading health.lua");
    for kind in KINDS {
        assert!(
            installed_script(&data, kind) == source,
            "{} differs from health.lua: run config/argocd/generate-cm-patch.sh",
            health_key(kind)
        );
    }
}

/// A check from argocd-cm gets only the package, base and table libraries, plus `os.time` and
/// `os.date` through `require("os")`; a script leaning on `string` or the global `os` would
/// fail in ArgoCD, so it fails here.
#[test]
fn harness_offers_only_argocds_libraries() {
    let obj = json!({});
    assert_eq!(
        run_inline(
            "return {status = 'Healthy', message = type(string) .. type(math) .. type(os) .. type(io)}",
            &obj
        ),
        healthy("nilnilnilnil")
    );
    assert_eq!(
        run_inline(
            "local os = require('os')\n\
             return {status = 'Healthy', message = type(os.time) .. type(os.date) .. type(os.exit)}",
            &obj
        ),
        healthy("functionfunctionnil")
    );
    assert_eq!(
        run_inline(
            "return {status = 'Healthy', message = type(table.insert) .. type(ipairs) .. type(tostring)}",
            &obj
        ),
        healthy("functionfunctionfunction")
    );
    let error = run_inline("return {status = string.upper('healthy')}", &obj).unwrap_err();
    assert!(error.contains("attempt to index"), "{error}");
}

/// `obj` is converted as ArgoCD converts it: integers are Lua numbers (so 9 < 10), null is an
/// absent key, arrays are 1-based sequences.
#[test]
fn harness_converts_objects_as_argocd_does() {
    let obj = json!({"n": 10, "m": 9, "gone": null, "list": ["a", "b"], "x": 2.5});
    assert_eq!(
        run_inline(
            "return {status = 'Healthy', message = type(obj.n) .. ' ' .. tostring(obj.m < obj.n) .. ' ' ..\n\
             tostring(obj.n) .. ' ' .. tostring(obj.gone == nil) .. ' ' .. #obj.list .. obj.list[1] .. ' ' .. obj.x}",
            &obj
        ),
        healthy("number true 10 true 2a 2.5")
    );
}

/// What ArgoCD makes of a script that errs or returns something it does not accept: a runtime
/// error and a non-table result are errors; an unknown status code is Unknown.
#[test]
fn harness_reports_what_argocd_rejects() {
    let obj = json!({});
    let error = run_inline("error('boom')", &obj).unwrap_err();
    assert!(error.contains("boom"), "{error}");
    let error = run_inline("return 'Healthy'", &obj).unwrap_err();
    assert!(error.contains("expect table output"), "{error}");
    assert_eq!(
        run_inline("return {status = 'Fine'}", &obj),
        Ok(HealthStatus {
            status: "Unknown".into(),
            message: "Lua returned an invalid health status".into(),
        })
    );
    let error = run_inline("while true do end", &obj).unwrap_err();
    assert!(error.contains("deadline"), "{error}");
}
