//! The offline `audit` command agrees with the operator, and `evidence` exports what the
//! cluster proves. Fixtures: tests/fixtures/audit/.

use crate::support::*;
use baseline_operator::api::SecurityBaseline;
use baseline_operator::audit::AuditReport;
use baseline_operator::evidence::Bundle;
use k8s_openapi::api::core::v1::Namespace;
use kube::api::{Api, DeleteParams};
use sha2::{Digest, Sha256};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

const BIN: &str = env!("CARGO_BIN_EXE_baseline-operator");
const NAME: &str = "audit-fixture";
const NAMESPACE: &str = "e2e-audit";
const TIMEOUT: Duration = Duration::from_secs(60);

fn fixture(path: &str) -> PathBuf {
    Path::new(REPO).join("tests/fixtures/audit").join(path)
}

/// Runs `audit --output json`; returns the exit code and the parsed report.
fn audit(manifests: &str) -> (i32, AuditReport) {
    let out = Command::new(BIN)
        .arg("audit")
        .arg("--baselines")
        .arg(fixture("baselines"))
        .arg("--manifests")
        .arg(fixture(manifests))
        .args(["--output", "json"])
        .output()
        .expect("running baseline-operator audit");
    let report = serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!(
            "audit printed no JSON report ({e}); stderr: {}",
            String::from_utf8_lossy(&out.stderr)
        )
    });
    (out.status.code().unwrap_or(-1), report)
}

#[test]
fn audit_cli_fails_on_the_fixture_and_passes_on_the_clean_variant() {
    let (code, report) = audit("manifests");
    assert_eq!(code, 1, "a failing control exits 1");
    let sb = &report.resources[0];
    assert_eq!(
        (sb.kind.as_str(), sb.name.as_str()),
        ("SecurityBaseline", NAME)
    );
    let failing: Vec<&str> = sb
        .controls
        .iter()
        .filter(|c| c.failed > 0)
        .map(|c| c.id.as_str())
        .collect();
    assert_eq!(
        failing,
        [
            "encryption-in-transit",
            "trusted-images",
            "least-privilege",
            "resource-governance"
        ]
    );
    let finding = |id: &str| {
        let c = sb.controls.iter().find(|c| c.id.as_str() == id).unwrap();
        let f = &c.findings[0];
        (f.kind.clone(), f.namespace.clone(), f.name.clone())
    };
    let at = |kind: &str, name: &str| {
        (
            kind.to_string(),
            Some(NAMESPACE.to_string()),
            name.to_string(),
        )
    };
    assert_eq!(finding("trusted-images"), at("Deployment", "web"));
    assert_eq!(finding("encryption-in-transit"), at("Ingress", "web"));
    assert_eq!(
        finding("least-privilege"),
        at("RoleBinding", "everyone-is-admin")
    );

    let (code, report) = audit("clean");
    assert_eq!(code, 0, "everything passes: {report:#?}");
    // The Secret is compared by keyed digest for copied-Secret detection, never printed.
    assert_eq!(report.secrets, 1, "the Secret is read as a digest");
    assert_eq!(report.skipped.unknown_kinds, 0, "{:?}", report.skipped);
    let printed = serde_json::to_string(&report).unwrap();
    assert!(
        !printed.contains("never read by audit"),
        "a Secret value was printed"
    );

    let bad = Command::new(BIN)
        .args(["audit", "--baselines", "/nonexistent/baseline.yaml"])
        .output()
        .unwrap();
    assert_eq!(bad.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&bad.stderr).contains("/nonexistent/baseline.yaml"));
}

async fn wait_reconciled(api: &Api<SecurityBaseline>) -> SecurityBaseline {
    wait_until("audit-fixture reconciled", TIMEOUT, || async {
        api.get_opt(NAME).await.ok().flatten().is_some_and(|sb| {
            sb.status.as_ref().is_some_and(|s| {
                s.observed_generation == sb.metadata.generation
                    && s.conditions
                        .iter()
                        .any(|c| c.type_ == "Ready" && c.status == "True")
            })
        })
    })
    .await;
    api.get(NAME).await.unwrap()
}

#[tokio::test(flavor = "multi_thread")]
async fn operator_status_matches_audit_and_evidence_exports_it() {
    let s = Scenario::start().await.timeout(TIMEOUT);
    let namespaces: Api<Namespace> = Api::all(s.client.clone());
    let baselines: Api<SecurityBaseline> = Api::all(s.client.clone());
    // A previous run may have left the fixture behind.
    let _ = baselines.delete(NAME, &DeleteParams::default()).await;
    let _ = namespaces.delete(NAMESPACE, &DeleteParams::default()).await;
    s.wait_until("old fixture gone", || async {
        namespaces.get_opt(NAMESPACE).await.ok().flatten().is_none()
            && baselines.get_opt(NAME).await.ok().flatten().is_none()
    })
    .await;

    // (b) the same fixture on the real cluster: manifests first, then the baseline.
    let manifests = fixture("manifests");
    cluster().kubectl_ok(&["apply", "-R", "-f", manifests.to_str().unwrap()]);
    cluster().kubectl_ok(&["apply", "-f", fixture("baselines").to_str().unwrap()]);

    let (_, report) = audit("manifests");
    let expected = &report.resources[0];
    // The operator sees each object shortly after it is written; wait until status agrees on
    // the failure counts, then compare everything.
    let mut sb = wait_reconciled(&baselines).await;
    let counts = |sb: &SecurityBaseline| -> Vec<(String, i32)> {
        sb.status
            .as_ref()
            .map(|s| {
                s.controls
                    .iter()
                    .map(|c| (c.id.to_string(), c.failed))
                    .collect()
            })
            .unwrap_or_default()
    };
    let expected_counts: Vec<(String, i32)> = expected
        .controls
        .iter()
        .map(|c| (c.id.to_string(), c.failed))
        .collect();
    let deadline = std::time::Instant::now() + TIMEOUT;
    while counts(&sb) != expected_counts && std::time::Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(500)).await;
        sb = wait_reconciled(&baselines).await;
    }
    let status = sb.status.clone().unwrap();
    assert_eq!(status.controls.len(), expected.controls.len());
    for (live, offline) in status.controls.iter().zip(&expected.controls) {
        assert_eq!(live.id, offline.id);
        assert_eq!(live.state, offline.state, "{}", live.id);
        assert_eq!(live.failed, offline.failed, "{}", live.id);
        assert_eq!(live.exempted, offline.exempted, "{}", live.id);
        let sample: Vec<_> = offline.findings.iter().take(10).cloned().collect();
        assert_eq!(live.findings, sample, "{}", live.id);
    }

    // (c) the evidence bundle of the same cluster.
    let out = tempfile::tempdir().unwrap();
    export_evidence(BIN, out.path());
    let json = std::fs::read(out.path().join("evidence.json")).unwrap();
    let md = std::fs::read_to_string(out.path().join("evidence.md")).unwrap();
    let sums = std::fs::read_to_string(out.path().join("SHA256SUMS")).unwrap();
    let mut verified = Vec::new();
    for line in sums.lines() {
        let (hex, name) = line.split_once("  ").expect("sha256sum format");
        let bytes = std::fs::read(out.path().join(name)).unwrap();
        assert_eq!(hex, hex::encode(Sha256::digest(&bytes)), "{name}");
        verified.push(name.to_string());
    }
    assert!(verified.contains(&"evidence.json".to_string()), "{sums}");

    let bundle: Bundle = serde_json::from_slice(&json).unwrap();
    assert!(!bundle.cluster.kube_system_uid.is_empty());
    assert!(bundle.cluster.server_version.starts_with("v1."));
    let live: Vec<SecurityBaseline> = baselines.list(&Default::default()).await.unwrap().items;
    for sb in &live {
        let name = sb.metadata.name.clone().unwrap();
        let exported = bundle
            .resources
            .iter()
            .find(|r| r.kind == "SecurityBaseline" && r.name == name)
            .unwrap_or_else(|| panic!("SecurityBaseline {name} missing from evidence.json"));
        if name == NAME {
            assert_eq!(exported.controls.len(), status.controls.len());
            for (e, s) in exported.controls.iter().zip(&status.controls) {
                assert_eq!((e.id, e.state, e.failed), (s.id, s.state, s.failed));
                assert_eq!(e.frameworks, s.frameworks);
                assert_eq!(e.findings, s.findings);
            }
        }
    }
    assert!(
        bundle.policy_reports.served,
        "the wgpolicyk8s.io PolicyReport CRD must be served (tests/cluster/up installs it)"
    );
    // Grouped by framework: a section per framework, a row per reference, control and resource.
    let keys: Vec<&str> = bundle
        .frameworks
        .iter()
        .map(|f| f.framework.key())
        .collect();
    assert_eq!(keys, ["iso27001:2022", "soc2", "iso27001:2013", "source"]);
    let proven_here = |framework: usize, reference: &str| {
        bundle.frameworks[framework]
            .references
            .iter()
            .find(|r| r.id == reference)
            .unwrap_or_else(|| panic!("no {reference} in {}", bundle.frameworks[framework].name))
            .controls
            .iter()
            .find(|c| c.control.as_str() == "restricted-ports")
            .and_then(|c| c.results.iter().find(|o| o.name == NAME))
            .map(|o| o.state)
    };
    let live_state = status
        .controls
        .iter()
        .find(|c| c.id.as_str() == "restricted-ports")
        .unwrap()
        .state;
    assert_eq!(proven_here(0, "8.20"), Some(live_state));
    assert_eq!(proven_here(1, "CC6.6"), Some(live_state));
    let rows = |section: &str| -> Vec<String> {
        md.split(&format!("\n### {section}\n"))
            .nth(1)
            .unwrap_or_else(|| panic!("no section {section} in evidence.md:\n{md}"))
            .lines()
            .take_while(|l| !l.starts_with("#"))
            .filter(|l| l.starts_with('|'))
            .map(String::from)
            .collect()
    };
    let row = |section: &str, reference: &str| {
        rows(section).into_iter().any(|l| {
            l.starts_with(&format!("| {reference} |"))
                && l.contains("| `restricted-ports` | SecurityBaseline/audit-fixture |")
        })
    };
    assert!(row("ISO/IEC 27001:2022", "8.20"), "{md}");
    assert!(row("SOC 2", "CC6.6"), "{md}");
    assert!(row("ISO/IEC 27001:2013", "A.13.1.1"), "{md}");

    // (d) `--framework soc2`: only the SOC 2 section; an unknown key is refused.
    let soc2_dir = tempfile::tempdir().unwrap();
    let run = Command::new(BIN)
        .args(["evidence", "--framework", "soc2", "--out"])
        .arg(soc2_dir.path())
        .env("KUBECONFIG", &cluster().kubeconfig)
        .output()
        .expect("running baseline-operator evidence --framework soc2");
    assert!(
        run.status.success(),
        "evidence --framework soc2 failed: {}",
        String::from_utf8_lossy(&run.stderr)
    );
    let soc2_md = std::fs::read_to_string(soc2_dir.path().join("evidence.md")).unwrap();
    let soc2: Bundle =
        serde_json::from_slice(&std::fs::read(soc2_dir.path().join("evidence.json")).unwrap())
            .unwrap();
    assert_eq!(soc2.framework.map(|f| f.key()), Some("soc2"));
    let keys: Vec<&str> = soc2.frameworks.iter().map(|f| f.framework.key()).collect();
    assert_eq!(keys, ["soc2"]);
    assert!(soc2_md.contains("\n### SOC 2\n"), "{soc2_md}");
    for other in ["ISO/IEC 27001:2022", "ISO/IEC 27001:2013", "Source policy"] {
        assert!(
            !soc2_md.contains(&format!("\n### {other}\n")),
            "--framework soc2 wrote a {other} section:\n{soc2_md}"
        );
    }
    let sums = std::fs::read_to_string(soc2_dir.path().join("SHA256SUMS")).unwrap();
    for line in sums.lines() {
        let (hex, name) = line.split_once("  ").expect("sha256sum format");
        let bytes = std::fs::read(soc2_dir.path().join(name)).unwrap();
        assert_eq!(hex, hex::encode(Sha256::digest(&bytes)), "{name}");
    }
    let bad = Command::new(BIN)
        .args(["evidence", "--framework", "iso27001", "--out"])
        .arg(soc2_dir.path())
        .env("KUBECONFIG", &cluster().kubeconfig)
        .output()
        .unwrap();
    assert_eq!(
        bad.status.code(),
        Some(2),
        "an unknown framework is a usage error"
    );
    assert!(
        String::from_utf8_lossy(&bad.stderr).contains("iso27001:2022, soc2, iso27001:2013, source"),
        "{}",
        String::from_utf8_lossy(&bad.stderr)
    );

    baselines
        .delete(NAME, &DeleteParams::default())
        .await
        .unwrap();
    namespaces
        .delete(NAMESPACE, &DeleteParams::default())
        .await
        .unwrap();
    s.wait_until("fixture baseline deleted", || async {
        baselines.get_opt(NAME).await.ok().flatten().is_none()
    })
    .await;
}
