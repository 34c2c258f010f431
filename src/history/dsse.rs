//! DSSE (Dead Simple Signing Envelope, <https://github.com/secure-systems-lab/dsse>, v1.0.0):
//! the envelope an in-toto attestation travels in, signed with the history's ed25519 key.
//!
//! The signature is over the Pre-Authentication Encoding (PAE), never over the raw payload, so
//! a signature cannot be replayed as one over a payload of another type:
//!
//! ```text
//! PAE(type, body) = "DSSEv1" SP LEN(type) SP type SP LEN(body) SP body
//! ```
//!
//! with LEN the byte length in ASCII decimal without leading zeros. The envelope carries the
//! payload in standard base64 (padded), as the spec's JSON encoding says.
//!
//! Ed25519 signs the PAE bytes themselves (pure Ed25519, no pre-hash): that is what cosign's
//! verifier (sigstore's `ED25519Verifier` behind go-securesystemslib's DSSE verifier) checks.

use super::sign::{PublicKey, SigningKey};
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use serde::{Deserialize, Serialize};

/// The payload type of an in-toto Statement inside DSSE (in-toto attestation spec v1).
pub const IN_TOTO_PAYLOAD_TYPE: &str = "application/vnd.in-toto+json";

/// The bytes DSSE v1 signs.
pub fn pae(payload_type: &str, payload: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(payload_type.len() + payload.len() + 32);
    out.extend_from_slice(b"DSSEv1 ");
    out.extend_from_slice(payload_type.len().to_string().as_bytes());
    out.push(b' ');
    out.extend_from_slice(payload_type.as_bytes());
    out.push(b' ');
    out.extend_from_slice(payload.len().to_string().as_bytes());
    out.push(b' ');
    out.extend_from_slice(payload);
    out
}

/// A DSSE envelope in its JSON encoding.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Envelope {
    /// Base64 (standard, padded) of the payload bytes.
    pub payload: String,
    pub payload_type: String,
    pub signatures: Vec<EnvelopeSignature>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct EnvelopeSignature {
    /// Left empty on purpose: DSSE makes it an optional, unauthenticated hint, and
    /// go-securesystemslib (behind cosign) skips a signature whose keyid differs from the id
    /// it derives for the verifier's key, which for a `--key` file is not ours (our key id is
    /// the first 16 hex digits of the key's SHA-256). The verifier's own key decides.
    pub keyid: String,
    /// Base64 (standard, padded) of the signature over [`pae`].
    pub sig: String,
}

impl Envelope {
    /// Signs `payload` of `payload_type` with `key`.
    pub fn sign(payload_type: &str, payload: &[u8], key: &SigningKey) -> Self {
        Envelope {
            payload: STANDARD.encode(payload),
            payload_type: payload_type.to_string(),
            signatures: vec![EnvelopeSignature {
                keyid: String::new(),
                sig: key.sign(&pae(payload_type, payload)),
            }],
        }
    }

    /// The payload, when `key` signed this envelope (any of its signatures, over the PAE of
    /// its own payload type and payload); None otherwise.
    pub fn verified_payload(&self, key: &PublicKey) -> Option<Vec<u8>> {
        let payload = STANDARD.decode(&self.payload).ok()?;
        let message = pae(&self.payload_type, &payload);
        self.signatures
            .iter()
            .any(|s| key.verifies(&message, &s.sig))
            .then_some(payload)
    }
}
