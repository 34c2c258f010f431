//! Where the tests find Prometheus, promtool and helm, and how they render the chart's rules.
//! Shared by tests/prometheus_rules.rs and tests/e2e/prometheus_scrape.rs (`#[path]`).
//!
//! Prometheus and promtool come from the bin dir in `BASELINE_PROMETHEUS_BIN`, or else from
//! `tests/prometheus/build` (cached; a cold build takes minutes); helm from
//! `BASELINE_CLUSTER_BIN` or `tests/cluster/build`.

#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

pub fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

/// The bin dir `script` prints as its last line, unless `env` names one.
fn built(env: &str, script: &str) -> PathBuf {
    if let Some(dir) = std::env::var_os(env) {
        return PathBuf::from(dir);
    }
    let out = Command::new(root().join(script))
        .output()
        .unwrap_or_else(|e| panic!("running {script}: {e}"));
    assert!(
        out.status.success(),
        "{script} failed:\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let stdout = String::from_utf8(out.stdout).expect("UTF-8 bin dir");
    PathBuf::from(stdout.lines().last().expect("bin dir line").trim())
}

pub fn prometheus_bin() -> &'static Path {
    static BIN: OnceLock<PathBuf> = OnceLock::new();
    BIN.get_or_init(|| built("BASELINE_PROMETHEUS_BIN", "tests/prometheus/build"))
}

pub fn cluster_bin() -> &'static Path {
    static BIN: OnceLock<PathBuf> = OnceLock::new();
    BIN.get_or_init(|| built("BASELINE_CLUSTER_BIN", "tests/cluster/build"))
}

/// `helm template` of the chart with `extra` arguments; the rendered documents.
pub fn render(extra: &[&str]) -> Vec<serde_norway::Value> {
    let chart = root().join("charts/baseline-operator");
    let home = std::env::temp_dir().join("baseline-operator-helm-test");
    let out = Command::new(cluster_bin().join("helm"))
        .args(["template", "baseline", chart.to_str().expect("UTF-8 path")])
        .args(["--namespace", "baseline-system"])
        .args(extra)
        // Keep helm away from the user's repositories, plugins and cache.
        .env("HELM_CONFIG_HOME", home.join("config"))
        .env("HELM_CACHE_HOME", home.join("cache"))
        .env("HELM_DATA_HOME", home.join("data"))
        .output()
        .expect("running helm");
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "helm template {extra:?} failed:\n{text}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_norway::Deserializer::from_str(&text)
        .map(|doc| serde::Deserialize::deserialize(doc).expect("rendered YAML parses"))
        .filter(|doc: &serde_norway::Value| !doc.is_null())
        .collect()
}

pub fn of_kind<'a>(docs: &'a [serde_norway::Value], kind: &str) -> Vec<&'a serde_norway::Value> {
    docs.iter()
        .filter(|d| d["kind"].as_str() == Some(kind))
        .collect()
}

/// The chart's alerting rules as a Prometheus rule file (the PrometheusRule's spec), rendered
/// with `values` (`--set` pairs): exactly what the chart ships.
pub fn rule_file(values: &[&str]) -> String {
    let mut args = vec!["--set", "prometheusRule.enabled=true"];
    for value in values {
        args.extend(["--set", value]);
    }
    let docs = render(&args);
    let rules = of_kind(&docs, "PrometheusRule");
    assert_eq!(rules.len(), 1, "one PrometheusRule");
    serde_norway::to_string(&rules[0]["spec"]).expect("rule file YAML")
}

/// Runs promtool with `args` in `dir`: (success, stdout and stderr).
pub fn promtool(dir: &Path, args: &[&str]) -> (bool, String) {
    let out = Command::new(prometheus_bin().join("promtool"))
        .current_dir(dir)
        .args(args)
        .output()
        .expect("running promtool");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.success(), text)
}

/// The chart's Grafana dashboard.
pub fn dashboard() -> serde_json::Value {
    let path = root().join("charts/baseline-operator/files/grafana-dashboard.json");
    serde_json::from_str(&std::fs::read_to_string(path).expect("dashboard file"))
        .expect("dashboard JSON")
}

/// Every PromQL expression of the dashboard's panels, with its variables set to "all".
pub fn dashboard_queries() -> Vec<(String, String)> {
    dashboard()["panels"]
        .as_array()
        .expect("panels")
        .iter()
        .flat_map(|panel| {
            let title = panel["title"].as_str().unwrap_or_default().to_string();
            panel["targets"]
                .as_array()
                .cloned()
                .unwrap_or_default()
                .into_iter()
                .map(move |t| {
                    let expr = t["expr"].as_str().expect("expr").to_string();
                    (
                        title.clone(),
                        expr.replace("$kind", ".*").replace("$resource", ".*"),
                    )
                })
        })
        .collect()
}
