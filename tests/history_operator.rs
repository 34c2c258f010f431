//! The operator writes the evidence history for real: the operator binary, leading by its
//! Lease, appends to the S3 server of the backup stack (MinIO on loopback); the test makes a
//! namespace non-compliant for a known window, fails the leader over, and reads the chain back
//! with the `evidence verify` and `evidence report` commands an auditor runs; the report and
//! the evidence bundle, attested with the history's key, are verified by cosign.
//!
//! A test binary of its own (not part of `tests/e2e`): it needs the backup stack's S3 server,
//! and it runs operator processes with their own flags (history, checkpoint and refresh
//! intervals) beside no in-process operator.

use baseline_operator::api::{ControlState, SecurityBaseline};
use baseline_operator::history::{Entry, Event};
use baseline_test_support::*;
use jiff::Timestamp;
use k8s_openapi::api::apps::v1::Deployment;
use kube::api::{Api, DeleteParams, PostParams};
use serde_json::{Value, json};
use std::process::{Command, Output};
use std::time::Duration;

const TIMEOUT: Duration = Duration::from_secs(60);
/// Short intervals, so that a checkpoint and a status refresh happen within the test.
const CHECKPOINT_SECONDS: u64 = 15;
const REFRESH_SECONDS: u64 = 8;

const BIN: &str = env!("CARGO_BIN_EXE_baseline-operator");

/// A replica of the operator writing `history`: short Lease timings so that a failover is
/// quick, and short checkpoint and refresh intervals.
fn replica(
    history: &SignedHistory,
    identity: &str,
    lease: &str,
    metrics_port: u16,
) -> OperatorProcess {
    let mut command = history.operator_command(BIN, identity, lease, metrics_port);
    command
        .args(["--lease-seconds", "6", "--renew-deadline-seconds", "4"])
        .args(["--retry-period-seconds", "1"])
        .arg(format!("--history-checkpoint-seconds={CHECKPOINT_SECONDS}"))
        .arg(format!("--evaluated-refresh-seconds={REFRESH_SECONDS}"));
    OperatorProcess(command.spawn().expect("starting the operator binary"))
}

/// Runs `baseline-operator evidence <args>` against `history`.
fn evidence(history: &SignedHistory, args: &[&str]) -> Output {
    history
        .evidence_command(BIN, args)
        .output()
        .expect("running baseline-operator evidence")
}

/// The operator's count of status writes to SecurityBaselines, from its /metrics.
fn status_writes(port: u16) -> Option<f64> {
    use std::io::{Read, Write};
    let mut stream = std::net::TcpStream::connect(("127.0.0.1", port)).ok()?;
    stream.set_read_timeout(Some(Duration::from_secs(5))).ok()?;
    stream
        .write_all(b"GET /metrics HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n")
        .ok()?;
    let mut text = String::new();
    stream.read_to_string(&mut text).ok()?;
    text.lines()
        .filter(|l| l.starts_with("baseline_operator_api_writes_total{"))
        .filter(|l| l.contains("\"SecurityBaseline\"") && l.contains("\"status\""))
        .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .reduce(|a, b| a + b)
}

fn trusted_images(sb: &SecurityBaseline) -> Option<(ControlState, Option<Timestamp>)> {
    let control = sb
        .status
        .as_ref()?
        .controls
        .iter()
        .find(|c| c.id.as_str() == "trusted-images")?;
    Some((control.state, control.last_evaluated.as_ref().map(|t| t.0)))
}

async fn state_of(api: &Api<SecurityBaseline>, name: &str) -> Option<ControlState> {
    trusted_images(&api.get_opt(name).await.ok()??).map(|(s, _)| s)
}

fn observations_of<'a>(
    entries: &'a [Entry],
    control: &'a str,
) -> impl Iterator<Item = (&'a Entry, ControlState)> + 'a {
    entries.iter().filter_map(move |e| match &e.record.event {
        Event::Transition { observation, .. } | Event::Checkpoint { observation }
            if observation.control.as_str() == control =>
        {
            Some((e, observation.state))
        }
        _ => None,
    })
}

#[tokio::test]
async fn the_leader_records_transitions_and_checkpoints_and_a_failover_continues_the_chain() {
    let cluster = velero_cluster();
    let dir = tempfile::tempdir().unwrap();
    let history = SignedHistory::new(
        cluster.s3().expect("the backup stack's S3 server"),
        "history-e2e",
        dir.path(),
    );
    let client = client().await;
    let pid = std::process::id();
    let lease = format!("history-{pid}");
    let ns = namespace(
        &client,
        &format!("history-{pid}"),
        &[("history-e2e", "yes")],
    )
    .await;
    let name = format!("history-{pid}");
    let deployments: Api<Deployment> = Api::namespaced(client.clone(), &ns);
    deployments
        .create(
            &PostParams::default(),
            &shop_deployment(&ns, "registry.example.com/shop:1.0"),
        )
        .await
        .unwrap();
    let port_a = free_port();
    let replica_a = replica(&history, "replica-a", &lease, port_a);
    let started = Timestamp::now();
    let api: Api<SecurityBaseline> = apply_cr(
        &client,
        &name,
        json!({
            "mode": "Audit",
            "namespaceSelector": {"matchLabels": {"history-e2e": "yes"}},
            "images": {"allowedRegistries": ["registry.example.com/"]},
        }),
    )
    .await;
    wait_until("trusted-images passes", TIMEOUT, || async {
        state_of(&api, &name).await == Some(ControlState::Pass)
    })
    .await;

    // A known window of non-compliance: an image from an untrusted registry.
    let failing_from = Timestamp::now();
    deployments
        .replace(
            "shop",
            &PostParams::default(),
            &shop_deployment(&ns, "docker.io/evil/shop:1"),
        )
        .await
        .unwrap();
    wait_until("trusted-images fails", TIMEOUT, || async {
        state_of(&api, &name).await == Some(ControlState::Fail)
    })
    .await;
    tokio::time::sleep(Duration::from_secs(3)).await;
    let fixed_at = Timestamp::now();
    deployments
        .replace(
            "shop",
            &PostParams::default(),
            &shop_deployment(&ns, "registry.example.com/shop:1.1"),
        )
        .await
        .unwrap();
    wait_until("trusted-images passes again", TIMEOUT, || async {
        state_of(&api, &name).await == Some(ControlState::Pass)
    })
    .await;
    let passing_again = Timestamp::now();

    // Freshness: nothing changes, yet status says again that the control was evaluated,
    // within the refresh interval plus a moment, and with one status write per interval.
    let (_, stamped) = trusted_images(&api.get(&name).await.unwrap()).unwrap();
    let writes_before = status_writes(port_a).expect("the operator's metrics");
    wait_until(
        "lastEvaluated refreshed without a change",
        Duration::from_secs(REFRESH_SECONDS * 3),
        || async {
            let (_, now) = trusted_images(&api.get(&name).await.unwrap()).unwrap();
            now > stamped
        },
    )
    .await;
    tokio::time::sleep(Duration::from_secs(REFRESH_SECONDS * 2)).await;
    let writes = status_writes(port_a).unwrap() - writes_before;
    assert!(
        (1.0..=4.0).contains(&writes),
        "{writes} status writes in about {} s of steady state with a {REFRESH_SECONDS} s refresh",
        REFRESH_SECONDS * 3
    );

    // A checkpoint: the unchanged control is recorded again within the checkpoint interval.
    wait_until(
        "a checkpoint of trusted-images",
        Duration::from_secs(CHECKPOINT_SECONDS * 3),
        || async {
            history.entries().iter().any(|e| {
                e.record.at > passing_again
                    && matches!(&e.record.event, Event::Checkpoint { observation }
                        if observation.control.as_str() == "trusted-images"
                            && observation.state == ControlState::Pass)
            })
        },
    )
    .await;

    // Failover: a standby takes over when the leader is killed, and continues the chain.
    let replica_b = replica(&history, "replica-b", &lease, free_port());
    tokio::time::sleep(Duration::from_secs(2)).await;
    drop(replica_a);
    wait_until("the standby starts writing", TIMEOUT, || async {
        history.entries().iter().any(
            |e| matches!(&e.record.event, Event::Started { identity } if identity == "replica-b"),
        )
    })
    .await;
    deployments
        .delete("shop", &DeleteParams::default())
        .await
        .unwrap();
    wait_until(
        "the new leader records the next evaluation",
        TIMEOUT,
        || async {
            let entries = history.entries();
            let b_started = entries.iter().position(|e| {
            matches!(&e.record.event, Event::Started { identity } if identity == "replica-b")
        });
            b_started.is_some_and(|i| observations_of(&entries[i..], "trusted-images").count() > 0)
        },
    )
    .await;
    cleanup(&client, &ns, &name).await;
    drop(replica_b);

    // One chain: contiguous, each entry linked to the one before, A's entries all before B's.
    let entries = history.entries();
    for (i, pair) in entries.windows(2).enumerate() {
        assert_eq!(pair[1].seq, pair[0].seq + 1, "seq gap after entry {i}");
        assert_eq!(
            pair[1].prev, pair[0].hash,
            "entry {} not linked",
            pair[1].seq
        );
    }
    let starts: Vec<&str> = entries
        .iter()
        .filter_map(|e| match &e.record.event {
            Event::Started { identity } => Some(identity.as_str()),
            _ => None,
        })
        .collect();
    assert_eq!(
        starts,
        ["replica-a", "replica-b"],
        "who started writing, in order"
    );

    // The bundle an auditor exports carries the public key the chart publishes.
    let public_key = std::fs::read_to_string(&history.public_key_file).unwrap();
    cluster
        .apply_yaml(&format!(
            r#"
apiVersion: v1
kind: ConfigMap
metadata:
  name: baseline-evidence-history
  namespace: default
  labels: {{app.kubernetes.io/component: evidence-history}}
data: {{ed25519.pub: "{public_key}", location: "s3://velero/{}"}}
"#,
            history.prefix
        ))
        .expect("publish the public key as the chart does");
    let bundle_dir = tempfile::tempdir().unwrap();
    export_evidence(env!("CARGO_BIN_EXE_baseline-operator"), bundle_dir.path());
    let bundle: Value =
        serde_json::from_slice(&std::fs::read(bundle_dir.path().join("evidence.json")).unwrap())
            .unwrap();
    assert_eq!(bundle["history"][0]["publicKey"], public_key.as_str());

    let verified = evidence(&history, &["verify"]);
    assert!(
        verified.status.success(),
        "evidence verify: {}{}",
        String::from_utf8_lossy(&verified.stdout),
        String::from_utf8_lossy(&verified.stderr)
    );

    // The period report shows the failure window the test made, and only that one.
    let report = evidence(
        &history,
        &[
            "report",
            &format!("--from={started}"),
            &format!("--to={}", Timestamp::now()),
            &format!("--checkpoint-interval={CHECKPOINT_SECONDS}s"),
            "--format=json",
        ],
    );
    assert!(
        report.status.success(),
        "evidence report: {}",
        String::from_utf8_lossy(&report.stderr)
    );
    let report: Value = serde_json::from_slice(&report.stdout).expect("a JSON report");
    let failures = failure_intervals(&report, &name, "trusted-images");
    assert_eq!(failures.len(), 1, "one failure window: {failures:?}");
    let (start, end) = failures[0];
    let slack = jiff::SignedDuration::from_secs(10);
    assert!(
        start >= failing_from - slack && start <= failing_from + slack,
        "failure began {start}, the test broke it at {failing_from}"
    );
    assert!(
        end >= fixed_at - slack && end <= passing_again + slack,
        "failure ended {end}, the test fixed it at {fixed_at}"
    );

    attested_files_verify_with_cosign(&history, started, &name, &failures);
}

/// The auditor's files, signed and checked by a real verifier: the period report written to a
/// file with `--attest` (same failure window as above, chain head pinned in the predicate) and
/// the current-state bundle with `evidence --out --attest`, each verified by cosign; a changed
/// file is refused.
fn attested_files_verify_with_cosign(
    history: &SignedHistory,
    started: Timestamp,
    name: &str,
    failures: &[(Timestamp, Timestamp)],
) {
    use baseline_operator::history::attestation::{
        EVIDENCE_BUNDLE_PREDICATE, PERIOD_REPORT_PREDICATE, Statement,
    };
    use baseline_operator::history::dsse::Envelope;
    use baseline_test_support::cosign::verify_blob_attestation;

    let dir = tempfile::tempdir().unwrap();
    let report_file = dir.path().join("report.json");
    let envelope_file = dir.path().join("report.intoto.json");
    let pem = dir.path().join("report.intoto.pub.pem");
    let head = history.entries().last().expect("entries").hash.clone();
    let run = evidence(
        history,
        &[
            "report",
            &format!("--from={started}"),
            &format!("--to={}", Timestamp::now()),
            &format!("--checkpoint-interval={CHECKPOINT_SECONDS}s"),
            "--format=json",
            &format!("--out={}", report_file.display()),
            &format!("--attest={}", envelope_file.display()),
            &format!("--signing-key={}", history.key_file.display()),
        ],
    );
    assert!(
        run.status.success(),
        "evidence report --attest: {}",
        String::from_utf8_lossy(&run.stderr)
    );
    let report: Value = serde_json::from_slice(&std::fs::read(&report_file).unwrap()).unwrap();
    assert_eq!(
        failure_intervals(&report, name, "trusted-images"),
        failures,
        "the attested report shows the same failure window"
    );
    let envelope: Envelope =
        serde_json::from_slice(&std::fs::read(&envelope_file).unwrap()).unwrap();
    let public_key = baseline_operator::history::PublicKey::from_base64(
        &std::fs::read_to_string(&history.public_key_file).unwrap(),
    )
    .unwrap();
    let statement: Statement =
        serde_json::from_slice(&envelope.verified_payload(&public_key).expect("signed")).unwrap();
    assert_eq!(statement.predicate["chain"]["headHash"], head.as_str());
    assert!(
        statement.predicate["resources"]
            .as_array()
            .unwrap()
            .contains(&json!(format!("SecurityBaseline/{name}"))),
        "{}",
        statement.predicate
    );
    let verified =
        verify_blob_attestation(&pem, &envelope_file, PERIOD_REPORT_PREDICATE, &report_file);
    assert!(
        verified.status.success(),
        "cosign: {}",
        String::from_utf8_lossy(&verified.stderr)
    );
    let mut changed = std::fs::read(&report_file).unwrap();
    changed.extend_from_slice(b" ");
    let tampered = dir.path().join("tampered-report.json");
    std::fs::write(&tampered, changed).unwrap();
    let refused = verify_blob_attestation(&pem, &envelope_file, PERIOD_REPORT_PREDICATE, &tampered);
    assert!(
        !refused.status.success()
            && String::from_utf8_lossy(&refused.stderr).contains("no matching subject digest"),
        "cosign on a changed report: {}",
        String::from_utf8_lossy(&refused.stderr)
    );

    // The current-state bundle: every file it writes is a subject.
    let bundle = dir.path().join("bundle");
    let run = Command::new(BIN)
        .args(["evidence", "--out"])
        .arg(&bundle)
        .arg("--attest")
        .arg("--signing-key")
        .arg(&history.key_file)
        .env("KUBECONFIG", &velero_cluster().kubeconfig)
        .output()
        .expect("running baseline-operator evidence --out --attest");
    assert!(
        run.status.success(),
        "evidence --out --attest: {}",
        String::from_utf8_lossy(&run.stderr)
    );
    let envelope_file = bundle.join("evidence.intoto.json");
    let pem = bundle.join("evidence.intoto.pub.pem");
    // The OSCAL documents the bundle writes beside them are subjects too.
    for file in [
        "evidence.json",
        "evidence.md",
        "assessment-results.json",
        "assessment-plan.json",
        "component-definition.json",
        "SHA256SUMS",
    ] {
        let verified = verify_blob_attestation(
            &pem,
            &envelope_file,
            EVIDENCE_BUNDLE_PREDICATE,
            &bundle.join(file),
        );
        assert!(
            verified.status.success(),
            "cosign on {file}: {}",
            String::from_utf8_lossy(&verified.stderr)
        );
    }
    let tampered = dir.path().join("tampered-evidence.json");
    let mut changed = std::fs::read(bundle.join("evidence.json")).unwrap();
    changed.extend_from_slice(b" ");
    std::fs::write(&tampered, changed).unwrap();
    let refused =
        verify_blob_attestation(&pem, &envelope_file, EVIDENCE_BUNDLE_PREDICATE, &tampered);
    assert!(
        !refused.status.success()
            && String::from_utf8_lossy(&refused.stderr).contains("no matching subject digest"),
        "cosign on a changed evidence.json: {}",
        String::from_utf8_lossy(&refused.stderr)
    );
}

/// The (start, end) of every failure interval of `control` of SecurityBaseline `name`.
fn failure_intervals(report: &Value, name: &str, control: &str) -> Vec<(Timestamp, Timestamp)> {
    let controls = report["controls"].as_array().expect("report.controls");
    let entry = controls
        .iter()
        .find(|c| {
            c["resource"]["name"] == name
                && c["resource"]["kind"] == "SecurityBaseline"
                && c["control"] == control
        })
        .unwrap_or_else(|| panic!("no {control} of {name} in the report: {report}"));
    entry["failures"]
        .as_array()
        .expect("failures")
        .iter()
        .map(|f| {
            (
                f["start"].as_str().unwrap().parse().unwrap(),
                f["end"].as_str().unwrap().parse().unwrap(),
            )
        })
        .collect()
}

/// Deletes the baseline (while an operator still runs to take its finalizer off) and the
/// namespace.
async fn cleanup(client: &kube::Client, ns: &str, name: &str) {
    let baselines: Api<SecurityBaseline> = Api::all(client.clone());
    let _ = baselines.delete(name, &DeleteParams::default()).await;
    wait_until("the baseline is deleted", TIMEOUT, || async {
        baselines.get_opt(name).await.ok().flatten().is_none()
    })
    .await;
    let namespaces: Api<k8s_openapi::api::core::v1::Namespace> = Api::all(client.clone());
    let _ = namespaces.delete(ns, &DeleteParams::default()).await;
}
