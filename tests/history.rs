//! The evidence history against a real S3 server: the MinIO of the backup stack
//! (`tests/cluster/up --with-velero`), on loopback. Logs are written through `Store::S3` (SigV4,
//! conditional PUTs), read back and checked by the real binary (`evidence verify`, `evidence
//! report`); the attacker's overwrites and deletions go to the same server.
//!
//! A test binary of its own because it needs the backup stack; it gets its own control plane
//! unless `BASELINE_TEST_KUBECONFIG` names one started with `--with-velero`.

use baseline_operator::api::{ControlState, Finding};
use baseline_operator::catalog::ControlId;
use baseline_operator::history::*;
use baseline_test_support::{S3Store as ClusterS3, velero_cluster};
use jiff::Timestamp;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

const BIN: &str = env!("CARGO_BIN_EXE_baseline-operator");

fn cluster_s3() -> ClusterS3 {
    velero_cluster().s3().expect("the backup stack's S3 server")
}

/// A prefix no other test (or earlier run against the same cluster) uses.
fn unique_prefix(name: &str) -> String {
    let mut nonce = [0u8; 4];
    getrandom::fill(&mut nonce).unwrap();
    format!("history-tests/{name}-{}", hex::encode(nonce))
}

fn read(path: &Path) -> String {
    std::fs::read_to_string(path).unwrap().trim().to_string()
}

fn config(s3: &ClusterS3, bucket: &str, prefix: &str) -> S3Config {
    assert!(
        s3.endpoint.starts_with("http://127.0.0.1:"),
        "S3 test traffic stays on loopback: {}",
        s3.endpoint
    );
    S3Config {
        endpoint: s3.endpoint.clone(),
        bucket: bucket.to_string(),
        prefix: prefix.to_string(),
        region: s3.region.clone(),
        access_key: read(s3.access_key_file()),
        secret_key: Secret::new(read(s3.secret_key_file())),
        retention: Retention {
            mode: LockMode::Compliance,
            days: 1,
        },
    }
}

fn s3_store(s3: &ClusterS3, bucket: &str, prefix: &str) -> S3Store {
    S3Store::new(config(s3, bucket, prefix)).unwrap()
}

/// A directory with the test's signing key's public key, as an auditor receives it.
fn public_key_file(key: &SigningKey) -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("ed25519.pub");
    std::fs::write(&path, key.public_key().to_base64() + "\n").unwrap();
    (dir, path)
}

fn signing_key() -> SigningKey {
    SigningKey::generate().unwrap()
}

/// `baseline-operator evidence <command> --s3-endpoint ... <extra>` with credentials by file.
fn evidence(
    command: &str,
    s3: &ClusterS3,
    bucket: &str,
    prefix: &str,
    public_key: &Path,
    extra: &[&str],
) -> Output {
    let out = Command::new(BIN)
        .args(["evidence", command, "--s3-endpoint", &s3.endpoint])
        .args([
            "--bucket", bucket, "--prefix", prefix, "--region", &s3.region,
        ])
        .arg("--access-key-file")
        .arg(s3.access_key_file())
        .arg("--secret-key-file")
        .arg(s3.secret_key_file())
        .arg("--public-key")
        .arg(public_key)
        .args(extra)
        .env_remove("AWS_ACCESS_KEY_ID")
        .env_remove("AWS_SECRET_ACCESS_KEY")
        .output()
        .unwrap();
    let secret = read(s3.secret_key_file());
    for stream in [&out.stdout, &out.stderr] {
        assert!(
            !String::from_utf8_lossy(stream).contains(&secret),
            "the S3 secret key was printed"
        );
    }
    out
}

fn text(out: &Output) -> String {
    format!(
        "status {:?}\nstdout:\n{}\nstderr:\n{}",
        out.status.code(),
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

fn at(text: &str) -> Timestamp {
    text.parse().unwrap()
}

fn observation(state: ControlState, findings: Vec<Finding>) -> Observation {
    Observation {
        resource: ResourceRef {
            kind: "SecurityBaseline".into(),
            name: "prod".into(),
        },
        generation: Some(3),
        spec_hash: spec_hash(&serde_json::json!({"mode": "Enforce"})),
        control: ControlId::RestrictedPorts,
        state,
        checked: 4,
        failed: findings.len() as i32,
        exempted: 0,
        findings,
        exemptions: Vec::new(),
    }
}

fn telnet_finding() -> Finding {
    Finding {
        kind: "Service".into(),
        namespace: Some("shop".into()),
        name: "legacy".into(),
        message: "exposes port 23 (telnet)".into(),
    }
}

fn record(time: &str, event: Event) -> Record {
    Record {
        at: at(time),
        event,
    }
}

/// The writes of a known day: Pass from 00:00, Fail 09:00-11:30 (telnet exposed), Pass again,
/// a checkpoint, each its own segment, as the operator appends them.
fn known_day() -> Vec<Vec<Record>> {
    vec![
        vec![
            record(
                "2026-02-10T00:00:00Z",
                Event::Started {
                    identity: "operator-0".into(),
                },
            ),
            record(
                "2026-02-10T00:00:00Z",
                Event::Transition {
                    from: None,
                    observation: observation(ControlState::Pass, Vec::new()),
                },
            ),
        ],
        vec![record(
            "2026-02-10T09:00:00Z",
            Event::Transition {
                from: Some(ControlState::Pass),
                observation: observation(ControlState::Fail, vec![telnet_finding()]),
            },
        )],
        vec![record(
            "2026-02-10T11:30:00Z",
            Event::Transition {
                from: Some(ControlState::Fail),
                observation: observation(ControlState::Pass, Vec::new()),
            },
        )],
        vec![record(
            "2026-02-10T23:00:00Z",
            Event::Checkpoint {
                observation: observation(ControlState::Pass, Vec::new()),
            },
        )],
    ]
}

async fn write_known_day(store: Store, key: &SigningKey) -> Log {
    let mut log = Log::open(store, key.clone(), "operator-0").await.unwrap();
    for records in known_day() {
        log.append(records).await.unwrap();
    }
    log
}

#[tokio::test]
async fn a_log_on_s3_verifies_and_reports_the_failure_window() {
    let s3 = cluster_s3();
    let prefix = unique_prefix("report");
    let key = signing_key();
    let (_keys, public_key) = public_key_file(&key);
    let store = s3_store(&s3, &s3.bucket, &prefix);
    let log = write_known_day(Store::S3(store.clone()), &key).await;
    assert_eq!(log.head().map(|h| h.seq), Some(4));

    // Segments are objects under the prefix, one per append, named by their first entry.
    let keys = s3.keys(&format!("{prefix}/segments/"));
    assert_eq!(
        keys,
        [0, 2, 3, 4].map(|seq| format!("{prefix}/segments/{seq:020}.jsonl")),
    );

    let verified = evidence("verify", &s3, &s3.bucket, &prefix, &public_key, &[]);
    assert!(verified.status.success(), "{}", text(&verified));
    let stdout = String::from_utf8_lossy(&verified.stdout);
    assert!(
        stdout.contains("verified: 5 entries in 4 segments"),
        "{stdout}"
    );
    assert!(stdout.contains(&log.head().unwrap().hash), "{stdout}");

    let dir = tempfile::tempdir().unwrap();
    let out_file = dir.path().join("report.json");
    let reported = evidence(
        "report",
        &s3,
        &s3.bucket,
        &prefix,
        &public_key,
        &[
            "--from",
            "2026-02-10",
            "--to",
            "2026-02-10",
            "--format",
            "json",
            "--out",
            out_file.to_str().unwrap(),
        ],
    );
    assert!(reported.status.success(), "{}", text(&reported));
    let report: PeriodReport = serde_json::from_str(&std::fs::read_to_string(&out_file).unwrap())
        .expect("the JSON report parses");
    assert_eq!(report.from, at("2026-02-10T00:00:00Z"));
    assert_eq!(report.to, at("2026-02-11T00:00:00Z"));
    assert!(
        report
            .chain
            .as_ref()
            .is_some_and(|c| c.verified && c.entries == 5)
    );
    assert_eq!(report.controls.len(), 1);
    let control = &report.controls[0];
    assert_eq!(control.failures.len(), 1, "{:#?}", control.failures);
    let failure = &control.failures[0];
    assert_eq!(failure.start, at("2026-02-10T09:00:00Z"));
    assert_eq!(failure.end, at("2026-02-10T11:30:00Z"));
    assert_eq!(failure.seconds, 9000);
    assert_eq!(failure.findings, vec![telnet_finding()]);
    assert_eq!(control.shares.fail.seconds, 9000);
    assert_eq!(control.shares.pass.seconds, 24 * 3600 - 9000);
    assert_eq!(control.shares.gap.seconds, 0);

    // A period reaching past the log's last entry plus the silence allowed is a gap there.
    let later = evidence(
        "report",
        &s3,
        &s3.bucket,
        &prefix,
        &public_key,
        &[
            "--from",
            "2026-02-10",
            "--to",
            "2026-02-12",
            "--format",
            "markdown",
        ],
    );
    assert!(later.status.success(), "{}", text(&later));
    let markdown = String::from_utf8_lossy(&later.stdout);
    assert!(markdown.contains("| **Gap** |"), "{markdown}");
    assert!(
        markdown.contains("Service shop/legacy: exposes port 23 (telnet)"),
        "{markdown}"
    );
}

#[tokio::test]
async fn two_logs_appending_concurrently_never_fork_the_chain() {
    let s3 = cluster_s3();
    let prefix = unique_prefix("concurrent");
    let key = signing_key();
    let store = Store::S3(s3_store(&s3, &s3.bucket, &prefix));
    // Both open on the same (empty) head, as an old leader that has not stopped yet and the
    // new one would.
    let first = Log::open(store.clone(), key.clone(), "writer-a")
        .await
        .unwrap();
    let second = Log::open(store.clone(), key.clone(), "writer-b")
        .await
        .unwrap();
    let tasks: Vec<_> = [first, second]
        .into_iter()
        .map(|mut log| {
            tokio::spawn(async move {
                for i in 0..8 {
                    let identity = log.identity().to_string();
                    log.append(vec![
                        record(
                            "2026-02-10T00:00:00Z",
                            Event::Started {
                                identity: format!("{identity}#{i}"),
                            },
                        ),
                        record(
                            "2026-02-10T00:00:01Z",
                            Event::Stopped {
                                identity: format!("{identity}#{i}"),
                            },
                        ),
                    ])
                    .await
                    .unwrap();
                }
            })
        })
        .collect();
    for task in tasks {
        task.await.unwrap();
    }
    let segments = store.read_segments(None).await.unwrap();
    let verified = verify(&segments, &[key.public_key()]).expect("one unforked chain");
    let seqs: Vec<u64> = verified.entries.iter().map(|e| e.seq).collect();
    assert_eq!(seqs, (0..32).collect::<Vec<u64>>());
    assert_eq!(verified.segments, 16);
    for writer in ["writer-a", "writer-b"] {
        let written = verified
            .entries
            .iter()
            .filter(|e| {
                matches!(&e.record.event, Event::Started { identity } if identity.starts_with(writer))
            })
            .count();
        assert_eq!(written, 8, "every append of {writer} is in the chain");
    }
    // A third writer opening now continues from the stored head.
    let third = Log::open(store, key, "writer-c").await.unwrap();
    assert_eq!(third.head().map(|h| h.seq), Some(31));
}

/// The store level under the chain: two writers PUT the same segment key at the same moment
/// (two `If-None-Match: *` requests in flight together), twenty times over. Each time exactly
/// one is stored and the other learns the key is taken, and the object holds the winner's text.
#[tokio::test]
async fn two_writers_racing_for_one_sequence_number_never_both_succeed() {
    let s3 = cluster_s3();
    let prefix = unique_prefix("race");
    let a = Store::S3(s3_store(&s3, &s3.bucket, &prefix));
    let b = Store::S3(s3_store(&s3, &s3.bucket, &prefix));
    for seq in 0..20 {
        let key = a.segment_key(seq);
        let (text_a, text_b) = (format!("writer-a {seq}\n"), format!("writer-b {seq}\n"));
        let (written_a, written_b) = tokio::join!(a.create(&key, &text_a), b.create(&key, &text_b));
        let (written_a, written_b) = (written_a.unwrap(), written_b.unwrap());
        let winner = match (written_a, written_b) {
            (Written::Written, Written::Taken) => &text_a,
            (Written::Taken, Written::Written) => &text_b,
            both => panic!("sequence {seq}: {both:?}: not exactly one writer stored it"),
        };
        assert_eq!(&a.read(&key).await.unwrap(), winner, "sequence {seq}");
        // A late third writer is refused too, and changes nothing.
        assert_eq!(a.create(&key, "late\n").await.unwrap(), Written::Taken);
        assert_eq!(&b.read(&key).await.unwrap(), winner, "sequence {seq}");
    }
}

#[tokio::test]
async fn an_edited_segment_is_named_by_verify_and_no_report_is_written() {
    let s3 = cluster_s3();
    let prefix = unique_prefix("edited");
    let key = signing_key();
    let (_keys, public_key) = public_key_file(&key);
    let store = s3_store(&s3, &s3.bucket, &prefix);
    write_known_day(Store::S3(store.clone()), &key).await;

    // The forger turns the Fail of entry 2 into a Pass, in place.
    let segment = format!("{prefix}/segments/{:020}.jsonl", 2);
    let original = String::from_utf8(s3.object(&segment)).unwrap();
    let forged = original.replace(r#""state":"Fail""#, r#""state":"Pass""#);
    assert_ne!(forged, original);
    assert_eq!(
        store.overwrite(&segment, &forged).await.unwrap(),
        Attempt::Done
    );

    let verified = evidence("verify", &s3, &s3.bucket, &prefix, &public_key, &[]);
    assert_eq!(verified.status.code(), Some(1), "{}", text(&verified));
    let stdout = String::from_utf8_lossy(&verified.stdout);
    assert!(
        stdout.contains(&format!("BROKEN: entry 2 in {segment} line 1"))
            && stdout.contains("edited"),
        "{stdout}"
    );

    let dir = tempfile::tempdir().unwrap();
    let out_file = dir.path().join("report.html");
    let reported = evidence(
        "report",
        &s3,
        &s3.bucket,
        &prefix,
        &public_key,
        &[
            "--from",
            "2026-02-10",
            "--to",
            "2026-02-10",
            "--out",
            out_file.to_str().unwrap(),
        ],
    );
    assert_eq!(reported.status.code(), Some(1), "{}", text(&reported));
    assert!(
        String::from_utf8_lossy(&reported.stderr).contains("no report written"),
        "{}",
        text(&reported)
    );
    assert!(!out_file.exists(), "a report was drawn from a broken chain");
}

#[tokio::test]
async fn a_deleted_segment_is_named_by_verify() {
    let s3 = cluster_s3();
    let prefix = unique_prefix("deleted");
    let key = signing_key();
    let (_keys, public_key) = public_key_file(&key);
    let store = s3_store(&s3, &s3.bucket, &prefix);
    write_known_day(Store::S3(store.clone()), &key).await;

    // The failure window's segment disappears.
    let segment = format!("{prefix}/segments/{:020}.jsonl", 2);
    assert_eq!(store.delete(&segment, None).await.unwrap(), Attempt::Done);

    let verified = evidence("verify", &s3, &s3.bucket, &prefix, &public_key, &[]);
    assert_eq!(verified.status.code(), Some(1), "{}", text(&verified));
    let stdout = String::from_utf8_lossy(&verified.stdout);
    assert!(
        stdout.contains("BROKEN: entry 2 in")
            && stdout.contains("entries 2..2 are missing (a segment was deleted)"),
        "{stdout}"
    );

    // A log signed by another key is refused too (the public key is the auditor's anchor).
    let (_other, other_key) = public_key_file(&signing_key());
    let foreign = evidence("verify", &s3, &s3.bucket, &prefix, &other_key, &[]);
    assert_eq!(foreign.status.code(), Some(1), "{}", text(&foreign));
    assert!(
        String::from_utf8_lossy(&foreign.stdout).contains("BROKEN: entry 0"),
        "{}",
        text(&foreign)
    );
}

/// A bucket created with Object Lock enabled (MinIO needs nothing else: its single-drive mode
/// supports versioning and Object Lock), through a SigV4-signed request.
fn create_locked_bucket(s3: &ClusterS3, bucket: &str) {
    let user = format!(
        "{}:{}",
        read(s3.access_key_file()),
        read(s3.secret_key_file())
    );
    let mut child = Command::new("curl")
        .args(["-fsS", "--max-time", "30", "-X", "PUT"])
        .args(["-H", "x-amz-bucket-object-lock-enabled: true"])
        .arg("--aws-sigv4")
        .arg(format!("aws:amz:{}:s3", s3.region))
        .args(["-K", "-"])
        .arg(format!("{}/{bucket}", s3.endpoint))
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("running curl");
    child
        .stdin
        .take()
        .unwrap()
        .write_all(format!("user = \"{user}\"\n").as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "creating bucket {bucket} with Object Lock: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[tokio::test]
async fn segments_in_a_bucket_with_object_lock_are_locked() {
    let s3 = cluster_s3();
    let mut nonce = [0u8; 4];
    getrandom::fill(&mut nonce).unwrap();
    let bucket = format!("evidence-locked-{}", hex::encode(nonce));
    create_locked_bucket(&s3, &bucket);
    let key = signing_key();
    let (_keys, public_key) = public_key_file(&key);
    let store = s3_store(&s3, &bucket, "prod");
    assert!(store.object_lock().await.unwrap());
    let before = Timestamp::now();
    write_known_day(Store::S3(store.clone()), &key).await;

    let segment = format!("prod/segments/{:020}.jsonl", 2);
    let retention = store
        .retention(&segment)
        .await
        .unwrap()
        .expect("the segment carries a retention");
    assert_eq!(retention.mode, "COMPLIANCE");
    let until: Timestamp = retention.retain_until.parse().unwrap();
    let one_day = jiff::SignedDuration::from_hours(24);
    assert!(
        until >= before + one_day - jiff::SignedDuration::from_mins(1)
            && until <= Timestamp::now() + one_day + jiff::SignedDuration::from_mins(1),
        "retained until {until}"
    );

    // The stored version cannot be deleted, not even with the root credentials.
    let versions = store.versions(&segment).await.unwrap();
    assert_eq!(versions.len(), 1, "{versions:?}");
    let refused = store.delete(&segment, Some(&versions[0])).await.unwrap();
    // AWS answers 403 AccessDenied, MinIO 400 "Object is WORM protected": refused either way,
    // and the version is still there.
    assert!(
        matches!(
            refused,
            Attempt::Refused {
                status: 400 | 403,
                ..
            }
        ),
        "a locked version was deleted: {refused:?}"
    );
    assert_eq!(store.versions(&segment).await.unwrap(), versions);
    // An overwrite only adds a version: verify catches it, and the locked original stays.
    assert_eq!(
        store
            .overwrite(&segment, "{\"forged\":true}\n")
            .await
            .unwrap(),
        Attempt::Done
    );
    let verified = evidence("verify", &s3, &bucket, "prod", &public_key, &[]);
    assert_eq!(verified.status.code(), Some(1), "{}", text(&verified));
    assert_eq!(store.versions(&segment).await.unwrap().len(), 2);

    // The backup stack's own bucket has no Object Lock: segments there carry no retention.
    let plain = s3_store(&s3, &s3.bucket, &unique_prefix("unlocked"));
    assert!(!plain.object_lock().await.unwrap());
}
