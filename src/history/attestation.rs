//! Signed attestations over the report files a command writes: an in-toto Statement v1
//! (<https://github.com/in-toto/attestation/blob/main/spec/v1/statement.md>) in a DSSE
//! envelope ([`super::dsse`]) signed with the history's ed25519 key, and that key in PEM
//! (SubjectPublicKeyInfo, RFC 8410) so `cosign verify-blob-attestation --key` can check it.
//!
//! - subjects: every file the run wrote (JSON, Markdown, HTML, and whatever else is passed in,
//!   e.g. OSCAL documents), by file name and SHA-256. A file changed after signing no longer
//!   matches its subject; a changed envelope no longer matches its signature.
//! - predicate: a summary of what the files attest (period, chain head, resources), under a
//!   predicate type of ours per kind of report ([`PERIOD_REPORT_PREDICATE`],
//!   [`FLEET_REPORT_PREDICATE`], [`EVIDENCE_BUNDLE_PREDICATE`]), so a verifier names what it expects with `--type`.
//!
//! Why ed25519 works with cosign (checked in cosign v3.1.3's source and by
//! tests/attestation_cosign.rs): `verify-blob-attestation --key FILE` parses the PEM with
//! `cryptoutils.UnmarshalPEMToPublicKey` (PKIX, ed25519 included), loads sigstore's
//! `ED25519Verifier` (pure Ed25519: `LoadVerifierWithOpts` picks the pre-hashed variant only
//! when asked), and go-securesystemslib's DSSE verifier hands it the PAE bytes. So the history
//! keeps its one ed25519 key for entries and attestations.

use super::dsse::{Envelope, IN_TOTO_PAYLOAD_TYPE};
use super::report::{ChainSummary, PeriodReport};
use super::sign::{PublicKey, SigningKey};
use crate::evidence::Bundle;
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};
use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// `_type` of an in-toto Statement v1.
pub const STATEMENT_TYPE: &str = "https://in-toto.io/Statement/v1";
/// The predicate of `evidence report`'s attestation: [`period_report_predicate`].
pub const PERIOD_REPORT_PREDICATE: &str =
    "https://security.baseline.dev/attestations/period-report/v1";
/// The predicate of `evidence report --fleet`'s attestation: [`fleet_report_predicate`].
pub const FLEET_REPORT_PREDICATE: &str =
    "https://security.baseline.dev/attestations/fleet-report/v1";
/// The predicate of `evidence --out`'s attestation: [`evidence_bundle_predicate`].
pub const EVIDENCE_BUNDLE_PREDICATE: &str =
    "https://security.baseline.dev/attestations/evidence-bundle/v1";

/// An in-toto Statement v1. Only the spec's four fields: cosign parses it with protobuf's
/// JSON reader, which refuses unknown fields.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Statement {
    #[serde(rename = "_type")]
    pub type_: String,
    pub subject: Vec<Subject>,
    #[serde(rename = "predicateType")]
    pub predicate_type: String,
    pub predicate: Value,
}

/// One attested file: its name (no directory: the files travel together) and digest.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Subject {
    pub name: String,
    /// `{"sha256": "<hex>"}`.
    pub digest: BTreeMap<String, String>,
}

impl Subject {
    pub fn new(name: &str, bytes: &[u8]) -> Self {
        Subject {
            name: name.to_string(),
            digest: BTreeMap::from([("sha256".to_string(), hex::encode(Sha256::digest(bytes)))]),
        }
    }
}

impl Statement {
    /// A statement over `files` (name, contents), in the order given.
    pub fn new(files: &[(String, Vec<u8>)], predicate_type: &str, predicate: Value) -> Self {
        Statement {
            type_: STATEMENT_TYPE.to_string(),
            subject: files
                .iter()
                .map(|(name, bytes)| Subject::new(name, bytes))
                .collect(),
            predicate_type: predicate_type.to_string(),
            predicate,
        }
    }

    /// The statement signed into a DSSE envelope.
    pub fn sign(&self, key: &SigningKey) -> Envelope {
        let payload = serde_json::to_vec(self).expect("statements serialize");
        Envelope::sign(IN_TOTO_PAYLOAD_TYPE, &payload, key)
    }
}

/// The period report's predicate: the period, the verified chain it was drawn from (its head
/// entry's hash pins the exact history), the resources it covers and the format written.
pub fn period_report_predicate(report: &PeriodReport, format: &str) -> Value {
    let resources: BTreeSet<String> = report
        .controls
        .iter()
        .map(|c| c.resource.to_string())
        .collect();
    json!({
        "generator": generator(),
        "period": { "from": report.from, "to": report.to },
        "checkpointIntervalSeconds": report.checkpoint_interval_seconds,
        "chain": report.chain.as_ref().map(chain_value),
        "resources": resources,
        "controls": report.controls.len(),
        "recordingGaps": report.recording_gaps.len(),
        "format": format,
    })
}

/// The fleet report's predicate: the period, where the fleet is, and per cluster whether its
/// chain verified, through which entry (its hash pins that cluster's history), or where it
/// broke; the format written.
pub fn fleet_report_predicate(report: &super::fleet::FleetReport, format: &str) -> Value {
    let clusters: Vec<Value> = report
        .clusters
        .iter()
        .map(|c| {
            json!({
                "cluster": c.cluster,
                "verified": c.verified,
                "throughSeq": c.through_seq,
                "throughHash": c.through_hash,
                "broken": c.broken_text.as_ref().or(c.error.as_ref()),
                "controls": c.controls.len(),
            })
        })
        .collect();
    json!({
        "generator": generator(),
        "period": { "from": report.from, "to": report.to },
        "checkpointIntervalSeconds": report.checkpoint_interval_seconds,
        "source": report.source,
        "trustedKeyIds": report.trusted_key_ids,
        "clusters": clusters,
        "format": format,
    })
}

fn chain_value(chain: &ChainSummary) -> Value {
    serde_json::to_value(chain).expect("chain summaries serialize")
}

/// The evidence bundle's predicate: when and where it was collected, the resources and their
/// compliance, and the histories the cluster publishes (their public keys).
pub fn evidence_bundle_predicate(bundle: &Bundle) -> Value {
    let resources: Vec<Value> = bundle
        .resources
        .iter()
        .map(|r| json!({ "resource": format!("{}/{}", r.kind, r.name), "compliant": r.compliant }))
        .collect();
    json!({
        "generator": generator(),
        "collectedAt": bundle.generated_at,
        "operatorVersion": bundle.operator_version,
        "cluster": bundle.cluster,
        "framework": bundle.framework,
        "resources": resources,
        "history": bundle.history,
    })
}

fn generator() -> Value {
    json!({ "name": "baseline-operator", "version": env!("CARGO_PKG_VERSION") })
}

/// The public key as a PEM `PUBLIC KEY` (SubjectPublicKeyInfo DER, RFC 8410: the fixed
/// Ed25519 prefix, then the 32 key bytes), the form `cosign --key` and `openssl` read.
pub fn public_key_pem(key: &PublicKey) -> String {
    const ED25519_SPKI_PREFIX: [u8; 12] = [
        0x30, 0x2a, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x70, 0x03, 0x21, 0x00,
    ];
    let mut der = ED25519_SPKI_PREFIX.to_vec();
    der.extend_from_slice(&key.to_bytes());
    format!(
        "-----BEGIN PUBLIC KEY-----\n{}\n-----END PUBLIC KEY-----\n",
        STANDARD.encode(der)
    )
}

/// Where the signer's public key is written beside an envelope: `report.intoto.json` ->
/// `report.intoto.pub.pem`.
pub fn public_key_path(envelope: &Path) -> PathBuf {
    envelope.with_extension("pub.pem")
}

/// What [`attest_files`] wrote.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Written {
    pub envelope: PathBuf,
    pub public_key: PathBuf,
    pub subjects: usize,
}

/// Reads `files` (what the run wrote), signs a statement over them with `key` and writes the
/// envelope to `envelope` and the public key PEM beside it ([`public_key_path`]).
pub fn attest_files(
    files: &[PathBuf],
    predicate_type: &str,
    predicate: Value,
    key: &SigningKey,
    envelope: &Path,
) -> Result<Written, String> {
    let mut contents = Vec::with_capacity(files.len());
    for path in files {
        let name = path
            .file_name()
            .ok_or_else(|| format!("{}: not a file name", path.display()))?
            .to_string_lossy()
            .into_owned();
        let bytes = std::fs::read(path).map_err(|e| format!("{}: {e}", path.display()))?;
        contents.push((name, bytes));
    }
    let statement = Statement::new(&contents, predicate_type, predicate);
    let signed = statement.sign(key);
    let text = serde_json::to_string_pretty(&signed).expect("envelopes serialize") + "\n";
    std::fs::write(envelope, text).map_err(|e| format!("{}: {e}", envelope.display()))?;
    let public_key = public_key_path(envelope);
    std::fs::write(&public_key, public_key_pem(&key.public_key()))
        .map_err(|e| format!("{}: {e}", public_key.display()))?;
    Ok(Written {
        envelope: envelope.to_path_buf(),
        public_key,
        subjects: contents.len(),
    })
}

/// An attestation is signed with the history's key: `key` must be one of the keys the
/// history is verified with (`--public-key`), so a verifier trusting the history's key can
/// check it.
pub fn check_history_key(key: &SigningKey, trusted: &[PublicKey]) -> Result<(), String> {
    if trusted.contains(&key.public_key()) {
        return Ok(());
    }
    let ids: Vec<String> = trusted.iter().map(PublicKey::key_id).collect();
    Err(format!(
        "its public key (key id {}) is none of the history's keys ({}): attestations are signed with the history's key",
        key.public_key().key_id(),
        ids.join(", ")
    ))
}

/// For the bundle: when the cluster publishes histories, `key` must be the key of one of them
/// (their `ed25519.pub`); a cluster publishing none leaves the choice to the caller.
pub fn check_bundle_key(key: &SigningKey, bundle: &Bundle) -> Result<(), String> {
    if bundle.history.is_empty() {
        return Ok(());
    }
    let published: Vec<PublicKey> = bundle
        .history
        .iter()
        .filter_map(|h| PublicKey::from_base64(&h.public_key).ok())
        .collect();
    check_history_key(key, &published)
}

/// The signing key from its file (the Secret's `ed25519.seed`: base64 of the 32-byte seed).
pub fn load_signing_key(path: &Path) -> Result<SigningKey, String> {
    let text = std::fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()))?;
    SigningKey::from_base64(&text).map_err(|e| format!("{}: {e}", path.display()))
}

/// The bundle's attestation file names in `evidence --out DIR`.
pub const BUNDLE_ENVELOPE: &str = "evidence.intoto.json";

/// `evidence --out DIR --attest`: signs a statement over `files` (every file the bundle
/// wrote) into DIR/[`BUNDLE_ENVELOPE`]; returns the two files it wrote. The caller checks the
/// key with [`check_bundle_key`] before writing anything.
pub fn attest_bundle(
    dir: &Path,
    bundle: &Bundle,
    files: &[PathBuf],
    key: &SigningKey,
) -> Result<[PathBuf; 2], crate::evidence::EvidenceError> {
    let written = attest_files(
        files,
        EVIDENCE_BUNDLE_PREDICATE,
        evidence_bundle_predicate(bundle),
        key,
        &dir.join(BUNDLE_ENVELOPE),
    )
    .map_err(crate::evidence::EvidenceError::Attest)?;
    Ok([written.envelope, written.public_key])
}
