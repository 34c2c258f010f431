//! A fleet in one bucket of the real S3 server (the backup stack's MinIO, on loopback): three
//! clusters' history writers, each driven by real evaluations (the offline audit, the same
//! evaluation the operator runs, of fixture manifests, one a day for a week), write their
//! chains under their cluster ids. One chain is then forged. The real binary's
//! `evidence report --fleet` still reports the two intact clusters (a row per cluster and
//! control) and names the forged entry for the third; `evidence verify --fleet` says the same.
//! As OSCAL, the fleet is one Assessment Results document (a result per cluster, the forged
//! entry stated, none of that cluster's controls satisfied) that compliance-trestle loads and
//! NIST's schema validates, signed with `--attest` so that cosign verifies it and refuses a
//! changed copy.
//! A period read, counted by wrapping the real S3 store, reads the period, not the chain.

use baseline_operator::api::ControlResult;
use baseline_operator::audit::{AuditArgs, OutputFormat, execute};
use baseline_operator::controller::history::{HistoryConfig, HistoryWriter, resource_ref};
use baseline_operator::history::fleet::cluster_store;
use baseline_operator::history::objects::{Counting, Objects};
use baseline_operator::history::period::{read_period, verify_whole};
use baseline_operator::history::*;
use baseline_test_support::{S3Store as ClusterS3, velero_cluster};
use jiff::{SignedDuration, Timestamp};
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

const BIN: &str = env!("CARGO_BIN_EXE_baseline-operator");
const CLUSTERS: [&str; 3] = ["eu-1", "us-2", "ap-3"];

fn read(path: &Path) -> String {
    std::fs::read_to_string(path).unwrap().trim().to_string()
}

fn fixtures(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/audit")
        .join(name)
}

fn root_store(s3: &ClusterS3, prefix: &str) -> Store {
    assert!(
        s3.endpoint.starts_with("http://127.0.0.1:"),
        "{}",
        s3.endpoint
    );
    Store::S3(
        S3Store::new(S3Config {
            endpoint: s3.endpoint.clone(),
            bucket: s3.bucket.clone(),
            prefix: prefix.to_string(),
            region: s3.region.clone(),
            access_key: read(s3.access_key_file()),
            secret_key: Secret::new(read(s3.secret_key_file())),
            retention: Retention {
                mode: LockMode::Compliance,
                days: 1,
            },
        })
        .unwrap(),
    )
}

/// What the operator would write for one evaluation of the fixture manifests at `now`: the
/// offline audit's results per resource, as status results.
fn evaluate(manifests: &Path, now: Timestamp) -> Vec<(String, String, Vec<ControlResult>)> {
    let report = execute(&AuditArgs {
        baselines: vec![fixtures("baselines")],
        manifests: vec![manifests.to_path_buf()],
        output: OutputFormat::Json,
        now: Some(now.to_string()),
        namespace: "default".into(),
        no_velero: false,
    })
    .unwrap();
    report
        .resources
        .into_iter()
        .map(|resource| {
            let controls = resource
                .controls
                .into_iter()
                .map(|c| ControlResult {
                    id: c.id,
                    title: c.title,
                    frameworks: c.frameworks,
                    state: c.state,
                    checked: c.checked,
                    failed: c.failed,
                    exempted: c.exempted,
                    failed_findings: c.failed_findings,
                    exempted_findings: c.exempted_findings,
                    findings: c.findings,
                    note: c.note,
                    last_evaluated: None,
                })
                .collect();
            (resource.kind, resource.name, controls)
        })
        .collect()
}

/// eu-1 is clean, ap-3 fails throughout, us-2 fails the first two days.
fn manifests(cluster: &str, day: i64) -> PathBuf {
    match (cluster, day) {
        ("eu-1", _) => fixtures("clean/manifests"),
        ("us-2", 2..) => fixtures("clean/manifests"),
        _ => fixtures("manifests"),
    }
}

fn evidence(s3: &ClusterS3, prefix: &str, public_key: &Path, args: &[&str]) -> Output {
    Command::new(BIN)
        .arg("evidence")
        .args(args)
        .args(["--s3-endpoint", &s3.endpoint, "--bucket", &s3.bucket])
        .args(["--prefix", prefix, "--region", &s3.region])
        .arg("--access-key-file")
        .arg(s3.access_key_file())
        .arg("--secret-key-file")
        .arg(s3.secret_key_file())
        .arg("--public-key")
        .arg(public_key)
        .env_remove("AWS_ACCESS_KEY_ID")
        .env_remove("AWS_SECRET_ACCESS_KEY")
        .output()
        .unwrap()
}

fn text(out: &Output) -> String {
    format!(
        "status {:?}\nstdout:\n{}\nstderr:\n{}",
        out.status.code(),
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

#[tokio::test]
async fn three_clusters_in_one_bucket_one_fleet_report_one_broken_chain_named() {
    let s3 = velero_cluster().s3().expect("the backup stack's S3 server");
    let mut nonce = [0u8; 4];
    getrandom::fill(&mut nonce).unwrap();
    let prefix = format!("history-tests/fleet-{}", hex::encode(nonce));
    let root = root_store(&s3, &prefix);
    let key = SigningKey::generate().unwrap();
    let keys = tempfile::tempdir().unwrap();
    let public_key = keys.path().join("ed25519.pub");
    std::fs::write(&public_key, key.public_key().to_base64() + "\n").unwrap();
    let seed = keys.path().join("ed25519.seed");
    std::fs::write(&seed, key.seed_base64() + "\n").unwrap();

    // Three operators' writers, one evaluation a day for seven days.
    let start: Timestamp = "2026-03-01T08:00:00Z".parse().unwrap();
    for cluster in CLUSTERS {
        let writer = HistoryWriter::new(
            HistoryConfig {
                store: cluster_store(&root, cluster).unwrap(),
                key: key.clone(),
                checkpoint: SignedDuration::from_hours(24),
                cluster: Some(cluster.to_string()),
            },
            format!("{cluster}-operator-0"),
        );
        writer.start(start).await.unwrap();
        for day in 0..7 {
            let now = start + SignedDuration::from_hours(24 * day);
            for (kind, name, controls) in evaluate(&manifests(cluster, day), now) {
                let spec = spec_hash(&serde_json::json!({"kind": kind, "name": name}));
                writer
                    .record(
                        resource_ref(&kind, &name),
                        Some(1),
                        spec,
                        &controls,
                        &[],
                        now,
                    )
                    .await
                    .unwrap();
            }
        }
    }
    // Each chain is under its id, and every entry names it.
    let trusted = [key.public_key()];
    for cluster in CLUSTERS {
        let store = cluster_store(&root, cluster).unwrap();
        let whole = verify_whole(&store, Some(cluster), &trusted)
            .await
            .unwrap()
            .unwrap();
        assert!(
            whole
                .entries
                .iter()
                .all(|e| e.cluster.as_deref() == Some(cluster))
        );
        assert!(
            whole.snapshots >= 5,
            "{cluster}: {} snapshots",
            whole.snapshots
        );
    }

    // A period read of one day reads from the snapshot before it: counted on the real store.
    let eu = Counting::new(cluster_store(&root, "eu-1").unwrap());
    let day6: Timestamp = "2026-03-07T00:00:00Z".parse().unwrap();
    let read = read_period(
        &eu,
        Some("eu-1"),
        day6,
        day6 + SignedDuration::from_hours(24),
        &trusted,
    )
    .await
    .unwrap()
    .unwrap();
    assert!(read.snapshot.is_some());
    let segments = eu.segment_keys(None).await.unwrap().len();
    assert!(
        eu.reads() <= 3 && eu.reads() * 3 < segments,
        "{} reads of {segments} segments",
        eu.reads()
    );

    // The forger turns us-2's Fail of the second day into a Pass, in place.
    let us_segments = s3.keys(&format!("{prefix}/clusters/us-2/segments/"));
    let forged_key = us_segments
        .iter()
        .find(|k| {
            let text = String::from_utf8(s3.object(k)).unwrap();
            text.contains("2026-03-02T08:00:00Z") && text.contains(r#""state":"Fail""#)
        })
        .expect("us-2 recorded a failure on the second day")
        .clone();
    let original = String::from_utf8(s3.object(&forged_key)).unwrap();
    let forged = original.replacen(r#""state":"Fail""#, r#""state":"Pass""#, 1);
    let s3_root = match &root {
        Store::S3(s3) => s3.clone(),
        Store::Local(_) => unreachable!(),
    };
    assert_eq!(
        s3_root.overwrite(&forged_key, &forged).await.unwrap(),
        baseline_operator::history::Attempt::Done
    );
    let forged_seq = original
        .lines()
        .find(|l| l.contains(r#""state":"Fail""#))
        .map(|l| serde_json::from_str::<Entry>(l).unwrap().seq)
        .unwrap();

    // One fleet report over the week: written, naming the forged entry, exit 1.
    let out_dir = tempfile::tempdir().unwrap();
    let json_path = out_dir.path().join("fleet.json");
    let reported = evidence(
        &s3,
        &prefix,
        &public_key,
        &[
            "report",
            "--fleet",
            "--from",
            "2026-03-01",
            "--to",
            "2026-03-07",
            "--format",
            "json",
            "--out",
            json_path.to_str().unwrap(),
        ],
    );
    assert_eq!(reported.status.code(), Some(1), "{}", text(&reported));
    let fleet: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&json_path).unwrap()).unwrap();
    let clusters = fleet["clusters"].as_array().unwrap();
    let ids: Vec<&str> = clusters
        .iter()
        .map(|c| c["cluster"].as_str().unwrap())
        .collect();
    assert_eq!(ids, ["ap-3", "eu-1", "us-2"]);
    let by_id = |id: &str| clusters.iter().find(|c| c["cluster"] == id).unwrap();
    let us = by_id("us-2");
    assert_eq!(us["verified"], false);
    assert_eq!(us["broken"]["seq"].as_u64(), Some(forged_seq), "{us}");
    assert_eq!(us["broken"]["reason"]["kind"], "hashMismatch", "{us}");
    for id in ["eu-1", "ap-3"] {
        let cluster = by_id(id);
        assert_eq!(cluster["verified"], true, "{cluster}");
        assert!(!cluster["controls"].as_array().unwrap().is_empty());
    }
    let failing_seconds = |id: &str| -> i64 {
        by_id(id)["controls"]
            .as_array()
            .unwrap()
            .iter()
            .map(|c| c["shares"]["fail"]["seconds"].as_i64().unwrap())
            .sum()
    };
    assert!(failing_seconds("ap-3") > failing_seconds("eu-1"));
    let stderr = String::from_utf8_lossy(&reported.stderr);
    assert!(
        stderr.contains(&format!("us-2: BROKEN: entry {forged_seq} in {forged_key}")),
        "{stderr}"
    );

    // Markdown: a row per cluster and control, the broken one named.
    let md_path = out_dir.path().join("fleet.md");
    let reported = evidence(
        &s3,
        &prefix,
        &public_key,
        &[
            "report",
            "--fleet",
            "--from",
            "2026-03-01",
            "--to",
            "2026-03-07",
            "--format",
            "markdown",
            "--out",
            md_path.to_str().unwrap(),
        ],
    );
    assert_eq!(reported.status.code(), Some(1), "{}", text(&reported));
    let markdown = std::fs::read_to_string(&md_path).unwrap();
    assert!(
        markdown.contains(&format!("| us-2 | BROKEN: entry {forged_seq} in")),
        "{markdown}"
    );
    assert!(
        markdown.contains("| eu-1 | SecurityBaseline/"),
        "{markdown}"
    );
    assert!(
        markdown.contains("| ap-3 | SecurityBaseline/"),
        "{markdown}"
    );

    // OSCAL: one Assessment Results document with a result per cluster, the same figures as
    // the JSON report, us-2's first broken entry stated and none of its controls satisfied;
    // compliance-trestle loads it (and the plan and component definition beside it) and NIST's
    // schema validates it.
    let oscal_dir = out_dir.path().join("oscal");
    std::fs::create_dir_all(&oscal_dir).unwrap();
    let oscal_path = oscal_dir.join("assessment-results.json");
    let envelope = out_dir.path().join("fleet.intoto.json");
    let reported = evidence(
        &s3,
        &prefix,
        &public_key,
        &[
            "report",
            "--fleet",
            "--from",
            "2026-03-01",
            "--to",
            "2026-03-07",
            "--format",
            "oscal",
            "--out",
            oscal_path.to_str().unwrap(),
            "--attest",
            envelope.to_str().unwrap(),
            "--signing-key",
            seed.to_str().unwrap(),
        ],
    );
    assert_eq!(reported.status.code(), Some(1), "{}", text(&reported));
    let document: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&oscal_path).unwrap()).unwrap();
    let results = document["assessment-results"]["results"]
        .as_array()
        .unwrap();
    let prop = |object: &serde_json::Value, name: &str| -> Option<String> {
        object["props"]
            .as_array()?
            .iter()
            .find(|p| p["name"] == name)
            .map(|p| p["value"].as_str().unwrap().to_string())
    };
    let result_ids: Vec<String> = results.iter().filter_map(|r| prop(r, "cluster")).collect();
    assert_eq!(result_ids, ["ap-3", "eu-1", "us-2"]);
    let result_of = |id: &str| results[result_ids.iter().position(|r| r == id).unwrap()].clone();
    let us = result_of("us-2");
    assert_eq!(us["title"], "Cluster us-2: evidence history BROKEN");
    assert_eq!(
        prop(&us, "first-broken-entry-seq"),
        Some(forged_seq.to_string())
    );
    let first_broken = prop(&us, "first-broken-entry").unwrap();
    assert!(
        first_broken.starts_with(&format!("entry {forged_seq} in {forged_key}")),
        "{first_broken}"
    );
    let us_findings = us["findings"].as_array().unwrap();
    assert!(!us_findings.is_empty());
    for finding in us_findings {
        assert_eq!(finding["target"]["status"]["state"], "not-satisfied");
        assert_eq!(finding["target"]["status"]["reason"], "history-broken");
    }
    let fleet_report: baseline_operator::history::fleet::FleetReport =
        serde_json::from_str(&std::fs::read_to_string(&json_path).unwrap()).unwrap();
    for id in ["eu-1", "ap-3"] {
        let result = result_of(id);
        assert_eq!(result["title"], format!("Cluster {id}"));
        let cluster = fleet_report
            .clusters
            .iter()
            .find(|c| c.cluster == id)
            .unwrap();
        let findings = result["findings"].as_array().unwrap();
        assert_eq!(findings.len(), cluster.controls.len(), "{id}");
        for control in &cluster.controls {
            let finding = findings
                .iter()
                .find(|f| {
                    f["target"]["target-id"] == control.control.as_str()
                        && prop(f, "resource-name").as_deref()
                            == Some(control.resource.name.as_str())
                })
                .unwrap_or_else(|| panic!("{id}: a finding for {}", control.control));
            let verdict = baseline_operator::evidence::oscal::period_verdict(
                control.timeline.iter().map(|s| s.state),
            );
            assert_eq!(finding["target"]["status"]["state"], verdict.state());
            assert_eq!(finding["target"]["status"]["reason"], verdict.reason);
            let fails: Vec<String> = finding["props"]
                .as_array()
                .unwrap()
                .iter()
                .filter(|p| p["name"] == "interval" && p["class"] == "fail")
                .map(|p| p["value"].as_str().unwrap().to_string())
                .collect();
            let failures: Vec<String> = control
                .failures
                .iter()
                .map(|f| format!("{}/{}", f.start, f.end))
                .collect();
            assert_eq!(fails, failures, "{id} {}", control.control);
        }
    }
    let reasons = |id: &str| -> Vec<String> {
        result_of(id)["findings"]
            .as_array()
            .unwrap()
            .iter()
            .map(|f| {
                f["target"]["status"]["reason"]
                    .as_str()
                    .unwrap()
                    .to_string()
            })
            .collect()
    };
    assert!(reasons("ap-3").iter().any(|r| r == "fail"));
    assert!(!reasons("eu-1").iter().any(|r| r == "fail"));
    let validated = baseline_test_support::oscal::validate(
        &[
            oscal_path.clone(),
            oscal_dir.join("assessment-plan.json"),
            oscal_dir.join("component-definition.json"),
        ],
        &[],
    );
    assert!(validated.status.success(), "{}", text(&validated));
    assert_eq!(
        String::from_utf8_lossy(&validated.stdout)
            .lines()
            .filter(|l| l.starts_with("OK "))
            .count(),
        3,
        "{}",
        text(&validated)
    );

    // Signed: cosign verifies each OSCAL file against the fleet attestation (whose predicate
    // names us-2 as broken), and refuses a copy with one byte changed for its digest.
    use baseline_operator::history::attestation::FLEET_REPORT_PREDICATE;
    use baseline_test_support::cosign::verify_blob_attestation;
    let pem = out_dir.path().join("fleet.intoto.pub.pem");
    for name in [
        "assessment-results.json",
        "assessment-plan.json",
        "component-definition.json",
    ] {
        let verified = verify_blob_attestation(
            &pem,
            &envelope,
            FLEET_REPORT_PREDICATE,
            &oscal_dir.join(name),
        );
        assert!(
            verified.status.success()
                && String::from_utf8_lossy(&verified.stderr).contains("Verified OK"),
            "cosign on {name}: {}",
            text(&verified)
        );
    }
    let signed: baseline_operator::history::dsse::Envelope =
        serde_json::from_slice(&std::fs::read(&envelope).unwrap()).unwrap();
    let payload = {
        use base64::Engine;
        base64::engine::general_purpose::STANDARD
            .decode(&signed.payload)
            .unwrap()
    };
    let statement: serde_json::Value = serde_json::from_slice(&payload).unwrap();
    let attested_us = statement["predicate"]["clusters"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["cluster"] == "us-2")
        .unwrap()
        .clone();
    assert_eq!(attested_us["verified"], false, "{attested_us}");
    assert!(
        attested_us["broken"]
            .as_str()
            .unwrap()
            .starts_with(&format!("entry {forged_seq} in")),
        "{attested_us}"
    );
    let mut changed = std::fs::read(&oscal_path).unwrap();
    let at = changed.len() / 2;
    changed[at] = if changed[at] == b'0' { b'1' } else { b'0' };
    let tampered = out_dir.path().join("tampered/assessment-results.json");
    std::fs::create_dir_all(tampered.parent().unwrap()).unwrap();
    std::fs::write(&tampered, &changed).unwrap();
    let refused = verify_blob_attestation(&pem, &envelope, FLEET_REPORT_PREDICATE, &tampered);
    assert!(
        !refused.status.success()
            && String::from_utf8_lossy(&refused.stderr)
                .contains("no matching subject digest found"),
        "cosign on a changed fleet OSCAL file: {}",
        text(&refused)
    );

    // verify --fleet: every chain whole, with its snapshots.
    let verified = evidence(&s3, &prefix, &public_key, &["verify", "--fleet"]);
    assert_eq!(verified.status.code(), Some(1), "{}", text(&verified));
    let stdout = String::from_utf8_lossy(&verified.stdout);
    assert!(stdout.contains("OK eu-1: "), "{stdout}");
    assert!(stdout.contains("OK ap-3: "), "{stdout}");
    assert!(
        stdout.contains(&format!("BROKEN us-2: entry {forged_seq} in {forged_key}")),
        "{stdout}"
    );

    // verify --fleet over the last days reads from the snapshot before them: us-2's forgery
    // is days earlier, outside what that period rests on (the whole verify above names it).
    let verified = evidence(
        &s3,
        &prefix,
        &public_key,
        &[
            "verify",
            "--fleet",
            "--from",
            "2026-03-06",
            "--to",
            "2026-03-07",
        ],
    );
    assert_eq!(verified.status.code(), Some(0), "{}", text(&verified));
    let stdout = String::from_utf8_lossy(&verified.stdout);
    for cluster in CLUSTERS {
        assert!(
            stdout.contains(&format!("OK {cluster}: ")) && stdout.contains("from signed snapshot"),
            "{stdout}"
        );
    }
}
