use super::attestation::*;
use super::chain::append;
use super::chain_tests::{at, key, observation};
use super::dsse::*;
use super::entry::{Event, Record};
use super::report::{ChainSummary, report};
use super::sign::SigningKey;
use crate::api::ControlState;
use crate::catalog::ControlId;
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use jiff::SignedDuration;
use serde_json::Value;

/// The PAE example of the DSSE v1 protocol document, byte for byte.
#[test]
fn pae_is_the_dsse_v1_encoding() {
    assert_eq!(
        pae("http://example.com/HelloWorld", b"hello world"),
        b"DSSEv1 29 http://example.com/HelloWorld 11 hello world".to_vec()
    );
    // Lengths are byte lengths, not character counts, and an empty body is "0 " then nothing.
    assert_eq!(pae("t", "é".as_bytes()), b"DSSEv1 1 t 2 \xc3\xa9".to_vec());
    assert_eq!(pae("", b""), b"DSSEv1 0  0 ".to_vec());
}

#[test]
fn an_envelope_verifies_with_its_key_only_and_not_once_changed() {
    let signer = key(1);
    let envelope = Envelope::sign(IN_TOTO_PAYLOAD_TYPE, b"{\"a\":1}", &signer);
    assert_eq!(envelope.payload_type, "application/vnd.in-toto+json");
    assert_eq!(envelope.payload, STANDARD.encode(b"{\"a\":1}"));
    // The signature is over the PAE, not over the payload alone.
    let pae_bytes = pae(IN_TOTO_PAYLOAD_TYPE, b"{\"a\":1}");
    assert!(
        signer
            .public_key()
            .verifies(&pae_bytes, &envelope.signatures[0].sig)
    );
    assert_eq!(
        envelope.verified_payload(&signer.public_key()),
        Some(b"{\"a\":1}".to_vec())
    );
    assert_eq!(envelope.verified_payload(&key(2).public_key()), None);

    let mut payload_changed = envelope.clone();
    payload_changed.payload = STANDARD.encode(b"{\"a\":2}");
    assert_eq!(payload_changed.verified_payload(&signer.public_key()), None);
    let mut type_changed = envelope.clone();
    type_changed.payload_type = "application/json".into();
    assert_eq!(type_changed.verified_payload(&signer.public_key()), None);

    let json: Value = serde_json::to_value(&envelope).unwrap();
    let mut fields: Vec<&str> = json
        .as_object()
        .unwrap()
        .keys()
        .map(|k| k.as_str())
        .collect();
    fields.sort();
    assert_eq!(fields, ["payload", "payloadType", "signatures"]);
}

#[test]
fn the_statement_names_every_file_by_name_and_sha256() {
    let files = vec![
        ("report.json".to_string(), b"abc".to_vec()),
        ("report.oscal.json".to_string(), Vec::new()),
    ];
    let statement = Statement::new(&files, PERIOD_REPORT_PREDICATE, serde_json::json!({}));
    let json: Value = serde_json::to_value(&statement).unwrap();
    assert_eq!(json["_type"], "https://in-toto.io/Statement/v1");
    assert_eq!(json["predicateType"], PERIOD_REPORT_PREDICATE);
    assert_eq!(
        json["subject"],
        serde_json::json!([
            {"name": "report.json", "digest": {
                "sha256": "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"}},
            {"name": "report.oscal.json", "digest": {
                "sha256": "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"}},
        ])
    );
    // Only the spec's fields: cosign's protobuf reader refuses unknown ones.
    let mut fields: Vec<&str> = json
        .as_object()
        .unwrap()
        .keys()
        .map(|k| k.as_str())
        .collect();
    fields.sort();
    assert_eq!(fields, ["_type", "predicate", "predicateType", "subject"]);

    let envelope = statement.sign(&key(1));
    let payload = envelope.verified_payload(&key(1).public_key()).unwrap();
    let signed: Statement = serde_json::from_slice(&payload).unwrap();
    assert_eq!(signed, statement);
}

/// RFC 8032's test 1 key (seed 9d61b1...) in RFC 8410's SubjectPublicKeyInfo PEM.
#[test]
fn the_public_key_pem_is_rfc_8410_spki() {
    let signer = SigningKey::from_base64("nWGxne/9WmC6hEr0kuwsxERJxWl7MmkZcDusAxyuf2A=").unwrap();
    assert_eq!(
        public_key_pem(&signer.public_key()),
        "-----BEGIN PUBLIC KEY-----\nMCowBQYDK2VwAyEA11qYAYKxCrfVS/7TyWQHOg7hcvPapiMlrwIaaPcHURo=\n-----END PUBLIC KEY-----\n"
    );
    assert_eq!(
        public_key_path(std::path::Path::new("/x/report.intoto.json")),
        std::path::Path::new("/x/report.intoto.pub.pem")
    );
}

#[test]
fn attest_files_signs_what_is_on_disk_and_the_predicate_pins_the_chain_head() {
    let entries = append(
        None,
        vec![Record {
            at: at("2026-03-01T00:00:00Z"),
            event: Event::Checkpoint {
                observation: observation("prod", ControlId::RestrictedPorts, ControlState::Pass),
            },
        }],
        &key(1),
    );
    let mut period = report(
        &entries,
        at("2026-03-01T00:00:00Z"),
        at("2026-03-02T00:00:00Z"),
        SignedDuration::from_hours(24),
    );
    period.chain = Some(ChainSummary {
        source: "dir".into(),
        verified: true,
        entries: 1,
        segments: 1,
        head_seq: Some(0),
        head_hash: Some(entries[0].hash.clone()),
        trusted_key_ids: vec![key(1).public_key().key_id()],
    });
    let predicate = period_report_predicate(&period, "json");
    assert_eq!(predicate["chain"]["headHash"], entries[0].hash.as_str());
    assert_eq!(
        predicate["resources"],
        serde_json::json!(["SecurityBaseline/prod"])
    );
    assert_eq!(predicate["period"]["from"], "2026-03-01T00:00:00Z");

    let dir = tempfile::tempdir().unwrap();
    let report_file = dir.path().join("report.json");
    std::fs::write(&report_file, b"{}").unwrap();
    let envelope_file = dir.path().join("report.intoto.json");
    let written = attest_files(
        std::slice::from_ref(&report_file),
        PERIOD_REPORT_PREDICATE,
        predicate,
        &key(1),
        &envelope_file,
    )
    .unwrap();
    assert_eq!(written.subjects, 1);
    let envelope: Envelope =
        serde_json::from_slice(&std::fs::read(&envelope_file).unwrap()).unwrap();
    let statement: Statement =
        serde_json::from_slice(&envelope.verified_payload(&key(1).public_key()).unwrap()).unwrap();
    assert_eq!(statement.subject, vec![Subject::new("report.json", b"{}")]);
    assert_eq!(
        std::fs::read_to_string(&written.public_key).unwrap(),
        public_key_pem(&key(1).public_key())
    );
}

#[test]
fn only_the_historys_key_signs_attestations() {
    let history = key(1);
    assert!(check_history_key(&history, &[key(3).public_key(), history.public_key()]).is_ok());
    let refused = check_history_key(&key(2), &[history.public_key()]).unwrap_err();
    assert!(
        refused.contains(&key(2).public_key().key_id())
            && refused.contains(&history.public_key().key_id()),
        "{refused}"
    );

    // The bundle: a cluster publishing a history names the key; one publishing none does not.
    let mut bundle = crate::evidence::Bundle::default();
    assert!(check_bundle_key(&key(2), &bundle).is_ok());
    bundle.history.push(crate::evidence::HistoryPublication {
        published_by: "default/baseline-evidence-history".into(),
        public_key: history.public_key().to_base64(),
        location: "s3://velero/prod".into(),
    });
    assert!(check_bundle_key(&history, &bundle).is_ok());
    assert!(check_bundle_key(&key(2), &bundle).is_err());
}
