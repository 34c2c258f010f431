//! A real Prometheus (built from its pinned module by tests/prometheus/build) scrapes the real
//! operator binary every second while it reconciles a real SecurityBaseline on the test
//! control plane, and evaluates the chart's own alerting rules (rendered by helm, with short
//! thresholds). Through Prometheus's HTTP API: a failing control shows up with its labels and
//! failed-object count and its alert fires; fixing it flips the state series and resolves the
//! alert; every dashboard query answers; deleting the resource removes its series.

#[path = "../prometheus/binaries.rs"]
mod binaries;

use crate::support::*;
use serde_json::Value;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

const TIMEOUT: Duration = Duration::from_secs(60);
const NAME: &str = "e2e-prometheus";

/// Kills a child process when the test ends, however it ends.
struct Killed(Child);

impl Drop for Killed {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// The operator binary, leading its own lease, keeping its history in `dir`.
fn operator_process(dir: &std::path::Path, port: u16) -> Killed {
    let key = baseline_operator::history::SigningKey::generate().unwrap();
    let key_file = dir.join("ed25519.seed");
    std::fs::write(&key_file, key.seed_base64()).unwrap();
    let child = Command::new(env!("CARGO_BIN_EXE_baseline-operator"))
        .env("KUBECONFIG", &cluster().kubeconfig)
        .env("RUST_LOG", "warn")
        .args(["run", "--lease-namespace", "default"])
        .args([
            "--lease-name",
            &format!("e2e-prometheus-{}", std::process::id()),
        ])
        .arg(format!("--health-addr=127.0.0.1:{port}"))
        .arg(format!("--history-dir={}", dir.join("history").display()))
        .arg(format!("--history-signing-key-file={}", key_file.display()))
        .arg(format!(
            "--history-public-key={}",
            key.public_key().to_base64()
        ))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("starting the operator binary");
    Killed(child)
}

/// Prometheus scraping the operator at `target` every second, with the chart's rules.
fn prometheus_process(dir: &std::path::Path, target: u16, port: u16) -> Killed {
    // Thresholds short enough to see an alert fire within the test.
    let rules = binaries::rule_file(&["prometheusRule.controlFailingFor=2s"]);
    std::fs::write(dir.join("rules.yaml"), rules).unwrap();
    std::fs::write(
        dir.join("prometheus.yml"),
        format!(
            "global: {{scrape_interval: 1s, scrape_timeout: 1s, evaluation_interval: 1s}}\n\
             rule_files: [rules.yaml]\n\
             scrape_configs:\n\
             - job_name: baseline-operator\n  static_configs: [{{targets: ['127.0.0.1:{target}']}}]\n"
        ),
    )
    .unwrap();
    let child = Command::new(binaries::prometheus_bin().join("prometheus"))
        .current_dir(dir)
        .arg(format!(
            "--config.file={}",
            dir.join("prometheus.yml").display()
        ))
        .arg(format!(
            "--storage.tsdb.path={}",
            dir.join("data").display()
        ))
        .arg(format!("--web.listen-address=127.0.0.1:{port}"))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("starting prometheus");
    Killed(child)
}

/// GET `path` from 127.0.0.1:`port` (HTTP/1.0: the body is never chunked); the body.
fn http_get(port: u16, path: &str) -> Option<String> {
    use std::io::{Read, Write};
    let mut stream = std::net::TcpStream::connect(("127.0.0.1", port)).ok()?;
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .ok()?;
    write!(stream, "GET {path} HTTP/1.0\r\nHost: localhost\r\n\r\n").ok()?;
    let mut response = String::new();
    stream.read_to_string(&mut response).ok()?;
    Some(response.split_once("\r\n\r\n")?.1.to_string())
}

fn percent_encoded(text: &str) -> String {
    text.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// An instant query; the result vector, or the error Prometheus gave.
fn query(port: u16, promql: &str) -> Result<Vec<Value>, String> {
    let body = http_get(
        port,
        &format!("/api/v1/query?query={}", percent_encoded(promql)),
    )
    .ok_or("no answer")?;
    let answer: Value = serde_json::from_str(&body).map_err(|e| format!("{e}: {body}"))?;
    if answer["status"] != "success" {
        return Err(body);
    }
    Ok(answer["data"]["result"]
        .as_array()
        .cloned()
        .unwrap_or_default())
}

/// The single sample `promql` returns, as a number, once it returns exactly one.
fn value(port: u16, promql: &str) -> Option<f64> {
    match query(port, promql).ok()?.as_slice() {
        [one] => one["value"][1].as_str()?.parse().ok(),
        _ => None,
    }
}

async fn wait_for_value(port: u16, promql: &str, expected: f64) {
    wait_until(&format!("{promql} == {expected}"), TIMEOUT, || async {
        value(port, promql) == Some(expected)
    })
    .await;
}

fn pods(ns: &str, image: &str) -> String {
    ["web-1", "web-2"]
        .iter()
        .map(|name| {
            format!(
                "apiVersion: v1\nkind: Pod\nmetadata: {{name: {name}, namespace: {ns}}}\n\
                 spec: {{containers: [{{name: api, image: \"{image}\"}}]}}\n---\n"
            )
        })
        .collect()
}

#[tokio::test]
async fn prometheus_scrapes_control_states_and_alerts_on_a_failing_control() {
    let _serial = serial().await;
    let client = client().await;
    let dir = tempfile::Builder::new()
        .prefix("baseline-e2e-prometheus-")
        .tempdir()
        .unwrap();
    let (operator_port, prometheus_port) = (free_port(), free_port());
    let _operator = operator_process(dir.path(), operator_port);
    let _prometheus = prometheus_process(dir.path(), operator_port, prometheus_port);
    let p = prometheus_port;

    let ns = namespace(&client, "e2e-prometheus", &[("e2e-prometheus", "scraped")]).await;
    cluster()
        .apply_yaml(&pods(&ns, "nginx:latest"))
        .expect("pods with a mutable tag");
    cluster()
        .apply_yaml(&format!(
            "apiVersion: security.baseline.dev/v1alpha1\nkind: SecurityBaseline\n\
             metadata: {{name: {NAME}}}\n\
             spec: {{mode: Audit, namespaceSelector: {{matchLabels: {{e2e-prometheus: scraped}}}}, \
             images: {{disallowLatestTag: true}}}}\n"
        ))
        .expect("the baseline");

    // The failing control, with exactly the bounded labels (plus the scrape's job and
    // instance), and its failed-object count.
    let selector = format!(r#"resource="{NAME}",control="trusted-images""#);
    let failing = format!(r#"baseline_operator_control_state{{{selector},state="Fail"}}"#);
    wait_for_value(p, &failing, 1.0).await;
    let series = query(p, &failing).unwrap();
    let labels = series[0]["metric"].as_object().unwrap();
    let mut names: Vec<&str> = labels.keys().map(String::as_str).collect();
    names.sort();
    assert_eq!(
        names,
        [
            "__name__", "control", "instance", "job", "kind", "resource", "state"
        ],
        "{labels:?}"
    );
    assert_eq!(labels["kind"], "SecurityBaseline");
    let pass = format!(r#"baseline_operator_control_state{{{selector},state="Pass"}}"#);
    assert_eq!(value(p, &pass), Some(0.0));
    wait_for_value(
        p,
        &format!("baseline_operator_control_failed_objects{{{selector}}}"),
        2.0,
    )
    .await;
    assert_eq!(
        value(
            p,
            &format!("baseline_operator_control_exempted_objects{{{selector}}}")
        ),
        Some(0.0)
    );
    let age = value(
        p,
        &format!(
            r#"time() - baseline_operator_last_evaluation_timestamp_seconds{{resource="{NAME}"}}"#
        ),
    )
    .expect("the last evaluation's timestamp");
    assert!((0.0..120.0).contains(&age), "evidence age {age}s");
    // The health the alerts watch, as this operator has it: leading, history written.
    wait_for_value(p, "baseline_operator_leader", 1.0).await;
    wait_for_value(p, "baseline_operator_history_writable", 1.0).await;

    // The chart's own alert, evaluated by Prometheus on the scraped series.
    let alert =
        format!(r#"ALERTS{{alertname="BaselineControlFailing",alertstate="firing",{selector}}}"#);
    wait_for_value(p, &alert, 1.0).await;
    for healthy in [
        "BaselineLeaderMissing",
        "BaselineHistoryUnavailable",
        "BaselineWatchFailing",
        "BaselineEvidenceStale",
    ] {
        let firing = query(p, &format!(r#"ALERTS{{alertname="{healthy}"}}"#)).unwrap();
        assert!(firing.is_empty(), "{healthy}: {firing:?}");
    }
    // Every dashboard query is valid PromQL on these series; those about compliance and the
    // operator's health have an answer.
    for (title, promql) in binaries::dashboard_queries() {
        let result = query(p, &promql).unwrap_or_else(|e| panic!("{title}: {promql}: {e}"));
        if title != "History append failures" {
            assert!(!result.is_empty(), "{title}: {promql} is empty");
        }
    }

    // Fixed: pinned tags. The state series flip, the count drops, the alert resolves.
    cluster()
        .apply_yaml(&pods(&ns, "nginx:1.27.0"))
        .expect("pods with a pinned tag");
    wait_for_value(p, &pass, 1.0).await;
    assert_eq!(value(p, &failing), Some(0.0));
    wait_for_value(
        p,
        &format!("baseline_operator_control_failed_objects{{{selector}}}"),
        0.0,
    )
    .await;
    wait_until("the alert resolves", TIMEOUT, || async {
        query(p, &alert).is_ok_and(|r| r.is_empty())
    })
    .await;

    // Deleted: the resource's series go (Prometheus marks them stale at the next scrape).
    cluster().kubectl_ok(&["delete", "securitybaseline", NAME, "--wait=true"]);
    wait_until(
        "the deleted resource's series disappear",
        TIMEOUT,
        || async {
            query(
                p,
                &format!(r#"{{__name__=~"baseline_operator_.*",resource="{NAME}"}}"#),
            )
            .is_ok_and(|r| r.is_empty())
        },
    )
    .await;
    cluster().kubectl_ok(&["delete", "namespace", &ns, "--wait=false"]);
}
