//! The chart's alerts, tested with promtool built from Prometheus's pinned module
//! (tests/prometheus/build): the rule file the chart renders passes `promtool check rules`,
//! and tests/prometheus/alerts_test.yaml proves every alert silent before its threshold,
//! firing after it and resolved once the cause is gone. Also: when the chart ships the rule
//! and the dashboard, and that both only name metrics the operator exports.

#[path = "prometheus/binaries.rs"]
mod binaries;

use binaries::*;
use std::collections::BTreeSet;

/// Writes the rule file rendered with `values` and the unit tests into a temporary dir.
fn rule_dir(values: &[&str]) -> tempfile::TempDir {
    let dir = tempfile::Builder::new()
        .prefix("baseline-e2e-promtool-")
        .tempdir()
        .unwrap();
    std::fs::write(dir.path().join("rules.yaml"), rule_file(values)).unwrap();
    std::fs::copy(
        root().join("tests/prometheus/alerts_test.yaml"),
        dir.path().join("alerts_test.yaml"),
    )
    .unwrap();
    dir
}

#[test]
fn every_alert_fires_after_its_threshold_and_resolves() {
    let dir = rule_dir(&[]);
    let (ok, out) = promtool(dir.path(), &["check", "rules", "rules.yaml"]);
    assert!(ok, "promtool check rules:\n{out}");
    assert!(out.contains("SUCCESS: 5 rules found"), "{out}");
    let (ok, out) = promtool(dir.path(), &["test", "rules", "alerts_test.yaml"]);
    assert!(ok, "promtool test rules:\n{out}");
}

#[test]
fn thresholds_come_from_the_values() {
    // Later thresholds are valid rules, and the unit tests (written for the defaults) see
    // each alert stay silent where it fired before: the values reach the rules.
    let dir = rule_dir(&[
        "prometheusRule.controlFailingFor=20m",
        "prometheusRule.staleEvidenceSeconds=1200",
        "prometheusRule.historyUnavailableFor=15m",
        "prometheusRule.watchFailingFor=7m",
        "prometheusRule.leaderMissingFor=8m",
    ]);
    let (ok, out) = promtool(dir.path(), &["check", "rules", "rules.yaml"]);
    assert!(ok, "promtool check rules:\n{out}");
    let (ok, out) = promtool(dir.path(), &["test", "rules", "alerts_test.yaml"]);
    assert!(
        !ok,
        "the default-threshold tests pass with other thresholds:\n{out}"
    );
    for alert in [
        "BaselineControlFailing",
        "BaselineEvidenceStale",
        "BaselineHistoryUnavailable",
        "BaselineWatchFailing",
        "BaselineLeaderMissing",
    ] {
        assert!(
            out.contains(&format!("alertname: {alert}")),
            "{alert} unaffected:\n{out}"
        );
    }
}

#[test]
fn the_rule_ships_when_the_cluster_serves_prometheus_rules_or_a_value_says_so() {
    let served = ["--api-versions", "monitoring.coreos.com/v1/PrometheusRule"];
    assert!(
        of_kind(&render(&[]), "PrometheusRule").is_empty(),
        "auto, not served"
    );
    assert_eq!(
        of_kind(&render(&served), "PrometheusRule").len(),
        1,
        "auto, served"
    );
    let off = [&served[..], &["--set", "prometheusRule.enabled=false"]].concat();
    assert!(of_kind(&render(&off), "PrometheusRule").is_empty(), "false");
    let on = render(&[
        "--set",
        "prometheusRule.enabled=true",
        "--set",
        "prometheusRule.labels.release=kps",
    ]);
    let rule = of_kind(&on, "PrometheusRule")[0];
    assert_eq!(rule["metadata"]["labels"]["release"].as_str(), Some("kps"));
}

#[test]
fn the_dashboard_ships_in_a_sidecar_config_map_when_asked() {
    assert!(
        of_kind(&render(&[]), "ConfigMap")
            .iter()
            .all(|c| c["metadata"]["labels"]["grafana_dashboard"].is_null())
    );
    let docs = render(&["--set", "grafanaDashboard.enabled=true"]);
    let maps: Vec<_> = of_kind(&docs, "ConfigMap")
        .into_iter()
        .filter(|c| c["metadata"]["labels"]["grafana_dashboard"].as_str() == Some("1"))
        .collect();
    assert_eq!(maps.len(), 1, "one dashboard ConfigMap");
    let json = maps[0]["data"]["baseline-operator-compliance.json"]
        .as_str()
        .expect("dashboard JSON in the ConfigMap");
    let shipped: serde_json::Value = serde_json::from_str(json).expect("valid JSON");
    assert_eq!(
        shipped,
        dashboard(),
        "the ConfigMap carries the file unchanged"
    );
}

/// The metric names in a PromQL expression that belong to the operator.
fn operator_metrics(expr: &str) -> BTreeSet<String> {
    let mut names = BTreeSet::new();
    let mut rest = expr;
    while let Some(at) = rest.find("baseline_operator_") {
        let tail = &rest[at..];
        let end = tail
            .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
            .unwrap_or(tail.len());
        names.insert(tail[..end].to_string());
        rest = &tail[end..];
    }
    names
}

#[test]
fn rules_and_dashboard_name_only_metrics_the_operator_exports() {
    // Every family the operator registers, with the sample names its types add; the
    // compliance families appear once they have a series, so give each one.
    let metrics = baseline_operator::telemetry::Metrics::default();
    let control: baseline_operator::api::ControlResult =
        serde_json::from_value(serde_json::json!({
            "id": "restricted-ports", "title": "", "frameworks": [], "state": "Fail",
            "checked": 2, "failed": 1, "exempted": 1,
        }))
        .unwrap();
    metrics
        .compliance
        .evaluated(&baseline_operator::telemetry::compliance::Evaluated {
            kind: "SecurityBaseline",
            resource: "prod",
            controls: &[control],
            at: 1,
            failing_watches: vec!["Pod".into()],
        });
    metrics.compliance.history_written(false, 1);
    metrics.compliance.history_written(true, 2);
    let exposition = metrics.encode();
    let mut exported = BTreeSet::new();
    for line in exposition.lines() {
        let mut words = line.split_whitespace();
        if let (Some("#"), Some("TYPE"), Some(name), Some(kind)) =
            (words.next(), words.next(), words.next(), words.next())
        {
            exported.insert(name.to_string());
            if kind == "counter" {
                exported.insert(format!("{name}_total"));
            }
        }
    }
    let rules = rule_file(&[]);
    let mut used = operator_metrics(&rules);
    for (_, query) in dashboard_queries() {
        used.extend(operator_metrics(&query));
    }
    assert!(used.len() >= 8, "{used:?}");
    let unknown: Vec<_> = used.difference(&exported).collect();
    assert!(
        unknown.is_empty(),
        "not exported: {unknown:?}; exported: {exported:?}"
    );
}
