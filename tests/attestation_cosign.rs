//! The signed attestation of `evidence report --attest`, judged by a real verifier: cosign,
//! built from its pinned Go module by `tests/cosign/build` (cached; no network at verify time).
//!
//! The history is a local directory written with the history's own code (no cluster needed);
//! the operator's history on MinIO is attested and verified in `tests/history_operator.rs`.
//! Each report format is attested and verified; a changed report file, a changed envelope (its
//! statement edited to match the changed file, signature kept), another predicate type and
//! another key are each refused by cosign.

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use baseline_operator::api::ControlState;
use baseline_operator::catalog::ControlId;
use baseline_operator::history::attestation::{
    PERIOD_REPORT_PREDICATE, Statement, Subject, public_key_pem,
};
use baseline_operator::history::dsse::Envelope;
use baseline_operator::history::*;
use baseline_test_support::cosign::verify_blob_attestation;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

const BIN: &str = env!("CARGO_BIN_EXE_baseline-operator");

fn record(time: &str, event: Event) -> Record {
    Record {
        at: time.parse().unwrap(),
        event,
    }
}

fn observation(state: ControlState) -> Observation {
    Observation {
        resource: ResourceRef {
            kind: "SecurityBaseline".into(),
            name: "prod".into(),
        },
        generation: Some(1),
        spec_hash: spec_hash(&serde_json::json!({"mode": "Audit"})),
        control: ControlId::RestrictedPorts,
        state,
        checked: 1,
        failed: i32::from(state == ControlState::Fail),
        exempted: 0,
        findings: Vec::new(),
        exemptions: Vec::new(),
    }
}

/// A history directory with one day (Pass, a Fail window, Pass) and the key files an operator
/// team holds: the seed (the Secret's value) and the public key.
struct Fixture {
    dir: tempfile::TempDir,
    seed: PathBuf,
    public_key: PathBuf,
}

async fn fixture() -> Fixture {
    let dir = tempfile::tempdir().unwrap();
    let key = SigningKey::generate().unwrap();
    let store = Store::Local(LocalStore::new(dir.path().join("history")));
    let mut log = Log::open(store, key.clone(), "operator-0").await.unwrap();
    for (time, from, state) in [
        ("2026-02-10T00:00:00Z", None, ControlState::Pass),
        (
            "2026-02-10T09:00:00Z",
            Some(ControlState::Pass),
            ControlState::Fail,
        ),
        (
            "2026-02-10T11:30:00Z",
            Some(ControlState::Fail),
            ControlState::Pass,
        ),
    ] {
        let observation = observation(state);
        log.append(vec![record(time, Event::Transition { from, observation })])
            .await
            .unwrap();
    }
    let seed = dir.path().join("ed25519.seed");
    let public_key = dir.path().join("ed25519.pub");
    std::fs::write(&seed, key.seed_base64() + "\n").unwrap();
    std::fs::write(&public_key, key.public_key().to_base64() + "\n").unwrap();
    Fixture {
        dir,
        seed,
        public_key,
    }
}

impl Fixture {
    fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    /// `evidence report --format FORMAT --out OUT --attest ENVELOPE --signing-key SEED`.
    fn report(&self, format: &str, out: &Path, envelope: &Path) -> Output {
        Command::new(BIN)
            .args(["evidence", "report", "--from=2026-02-10", "--to=2026-02-10"])
            .arg("--dir")
            .arg(self.path("history"))
            .arg("--public-key")
            .arg(&self.public_key)
            .arg(format!("--format={format}"))
            .arg("--out")
            .arg(out)
            .arg("--attest")
            .arg(envelope)
            .arg("--signing-key")
            .arg(&self.seed)
            .output()
            .expect("running baseline-operator evidence report")
    }
}

fn text(out: &Output) -> String {
    format!(
        "exit {}\nstdout: {}\nstderr: {}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

fn assert_verified(out: &Output) {
    assert!(out.status.success(), "cosign refused: {}", text(out));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("Verified OK"),
        "{}",
        text(out)
    );
}

/// cosign refused, for the reason it gives in `expected` (so a refusal for another reason,
/// such as cosign not running at all, does not pass).
fn assert_refused(out: &Output, why: &str, expected: &str) {
    assert!(
        !out.status.success(),
        "cosign accepted {why}: {}",
        text(out)
    );
    assert!(
        String::from_utf8_lossy(&out.stderr).contains(expected),
        "cosign refused {why}, but not with {expected:?}: {}",
        text(out)
    );
}

#[tokio::test]
async fn cosign_verifies_each_report_format_and_refuses_every_tampering() {
    let fixture = fixture().await;
    for (format, file) in [
        ("json", "report.json"),
        ("markdown", "report.md"),
        ("html", "report.html"),
    ] {
        let out = fixture.path(file);
        let envelope = fixture.path(&format!("{file}.intoto.json"));
        let run = fixture.report(format, &out, &envelope);
        assert!(run.status.success(), "evidence report: {}", text(&run));
        let pem = fixture.path(&format!("{file}.intoto.pub.pem"));
        assert_eq!(
            std::fs::read_to_string(&pem).unwrap(),
            public_key_pem(
                &PublicKey::from_base64(&std::fs::read_to_string(&fixture.public_key).unwrap())
                    .unwrap()
            ),
            "the PEM beside the envelope is the history's public key"
        );
        assert_verified(&verify_blob_attestation(
            &pem,
            &envelope,
            PERIOD_REPORT_PREDICATE,
            &out,
        ));
    }

    let report = fixture.path("report.json");
    let envelope_file = fixture.path("report.json.intoto.json");
    let pem = fixture.path("report.json.intoto.pub.pem");
    let original = std::fs::read(&report).unwrap();

    // A report file changed after signing: its digest is no subject of the statement.
    let tampered = fixture.path("tampered/report.json");
    std::fs::create_dir_all(tampered.parent().unwrap()).unwrap();
    let mut changed = original.clone();
    let at = changed.len() / 2;
    changed[at] = if changed[at] == b'0' { b'1' } else { b'0' };
    std::fs::write(&tampered, &changed).unwrap();
    assert_refused(
        &verify_blob_attestation(&pem, &envelope_file, PERIOD_REPORT_PREDICATE, &tampered),
        "a changed report file",
        "no matching subject digest found",
    );

    // The envelope changed to match: its statement names the changed file's digest, the
    // signature is kept (the signer's key is not the attacker's).
    let envelope: Envelope =
        serde_json::from_slice(&std::fs::read(&envelope_file).unwrap()).unwrap();
    let mut statement: Statement =
        serde_json::from_slice(&STANDARD.decode(&envelope.payload).unwrap()).unwrap();
    statement.subject = vec![Subject::new("report.json", &changed)];
    let mut forged = envelope.clone();
    forged.payload = STANDARD.encode(serde_json::to_vec(&statement).unwrap());
    let forged_file = fixture.path("tampered/report.json.intoto.json");
    std::fs::write(&forged_file, serde_json::to_vec(&forged).unwrap()).unwrap();
    assert_refused(
        &verify_blob_attestation(&pem, &forged_file, PERIOD_REPORT_PREDICATE, &tampered),
        "an edited envelope",
        "accepted signatures do not match threshold",
    );

    // Another predicate type than the one signed.
    assert_refused(
        &verify_blob_attestation(
            &pem,
            &envelope_file,
            "https://security.baseline.dev/attestations/evidence-bundle/v1",
            &report,
        ),
        "another predicate type",
        "invalid predicate type",
    );

    // Another key: the attestation is only as good as the key the verifier trusts.
    let other = fixture.path("other.pub.pem");
    std::fs::write(
        &other,
        public_key_pem(&SigningKey::generate().unwrap().public_key()),
    )
    .unwrap();
    assert_refused(
        &verify_blob_attestation(&other, &envelope_file, PERIOD_REPORT_PREDICATE, &report),
        "another key",
        "accepted signatures do not match threshold",
    );

    // And the untouched pair still verifies (the refusals above are not cosign failing).
    assert_verified(&verify_blob_attestation(
        &pem,
        &envelope_file,
        PERIOD_REPORT_PREDICATE,
        &report,
    ));
}

/// A seed that is not the history's key signs nothing, and no report is written either.
#[tokio::test]
async fn a_signing_key_that_is_not_the_historys_is_refused_before_anything_is_written() {
    let fixture = fixture().await;
    let other = fixture.path("other.seed");
    std::fs::write(&other, SigningKey::generate().unwrap().seed_base64()).unwrap();
    let out = fixture.path("report.json");
    let envelope = fixture.path("report.intoto.json");
    let run = Command::new(BIN)
        .args(["evidence", "report", "--from=2026-02-10", "--to=2026-02-10"])
        .arg("--dir")
        .arg(fixture.path("history"))
        .arg("--public-key")
        .arg(&fixture.public_key)
        .args(["--format=json", "--out"])
        .arg(&out)
        .arg("--attest")
        .arg(&envelope)
        .arg("--signing-key")
        .arg(&other)
        .output()
        .unwrap();
    assert_eq!(run.status.code(), Some(2), "{}", text(&run));
    assert!(
        String::from_utf8_lossy(&run.stderr).contains("none of the history's keys"),
        "{}",
        text(&run)
    );
    assert!(!out.exists() && !envelope.exists());
}

/// `report --fleet --attest`: the fleet's report (here the chain at the prefix itself, the
/// fleet's cluster without an id) is signed under the fleet predicate and cosign verifies it;
/// a seed that is not the history's key is refused before anything is written.
#[tokio::test]
async fn the_fleet_report_is_attested_with_the_historys_key_and_no_other() {
    use baseline_operator::history::attestation::FLEET_REPORT_PREDICATE;
    let fixture = fixture().await;
    let other = fixture.path("other.seed");
    std::fs::write(&other, SigningKey::generate().unwrap().seed_base64()).unwrap();
    let fleet = |seed: &Path, out: &Path, envelope: &Path| {
        Command::new(BIN)
            .args([
                "evidence",
                "report",
                "--fleet",
                "--from=2026-02-10",
                "--to=2026-02-10",
            ])
            .arg("--dir")
            .arg(fixture.path("history"))
            .arg("--public-key")
            .arg(&fixture.public_key)
            .args(["--format=json", "--out"])
            .arg(out)
            .arg("--attest")
            .arg(envelope)
            .arg("--signing-key")
            .arg(seed)
            .output()
            .unwrap()
    };
    let (out, envelope) = (
        fixture.path("other-fleet.json"),
        fixture.path("other.intoto.json"),
    );
    let refused = fleet(&other, &out, &envelope);
    assert_eq!(refused.status.code(), Some(2), "{}", text(&refused));
    assert!(
        String::from_utf8_lossy(&refused.stderr).contains("none of the history's keys"),
        "{}",
        text(&refused)
    );
    assert!(!out.exists() && !envelope.exists());

    let (out, envelope) = (
        fixture.path("fleet.json"),
        fixture.path("fleet.intoto.json"),
    );
    let run = fleet(&fixture.seed, &out, &envelope);
    assert!(run.status.success(), "{}", text(&run));
    let report: serde_json::Value = serde_json::from_slice(&std::fs::read(&out).unwrap()).unwrap();
    assert_eq!(report["clusters"][0]["verified"], true, "{report}");
    let pem = fixture.path("fleet.intoto.pub.pem");
    assert_verified(&verify_blob_attestation(
        &pem,
        &envelope,
        FLEET_REPORT_PREDICATE,
        &out,
    ));
    // Not a single cluster's period report: the predicate type says which it is.
    assert_refused(
        &verify_blob_attestation(&pem, &envelope, PERIOD_REPORT_PREDICATE, &out),
        "the period report's predicate type",
        "invalid predicate type",
    );
}
