//! The ed25519 key the operator signs entries with, and the public key auditors verify them
//! with.
//!
//! Formats (one each, so there is nothing to guess):
//! - signing key: the 32-byte ed25519 seed, base64 (standard alphabet, padded), as the
//!   Secret key `ed25519.seed` holds it (surrounding whitespace is ignored);
//! - public key: the 32-byte ed25519 public key, base64, one line (`ed25519.pub`), as the
//!   chart prints it and every bundle carries it.
//!
//! `baseline-operator evidence keygen --out DIR` writes both.

use super::error::HistoryError;
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use ed25519_dalek::{Signature, Signer, Verifier};
use sha2::{Digest, Sha256};
use std::fmt;

/// The signing key. Its Debug output names only the key id: the seed never leaves it.
#[derive(Clone)]
pub struct SigningKey(ed25519_dalek::SigningKey);

impl fmt::Debug for SigningKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "SigningKey({} , seed redacted)",
            self.public_key().key_id()
        )
    }
}

impl SigningKey {
    pub fn from_seed_bytes(seed: &[u8; 32]) -> Self {
        SigningKey(ed25519_dalek::SigningKey::from_bytes(seed))
    }

    /// From the base64 text of the 32-byte seed (the Secret's `ed25519.seed`).
    pub fn from_base64(text: &str) -> Result<Self, HistoryError> {
        let bytes = STANDARD
            .decode(text.trim())
            .map_err(|_| HistoryError::Key("the seed is not base64".into()))?;
        let seed: [u8; 32] = bytes.as_slice().try_into().map_err(|_| {
            HistoryError::Key(format!(
                "the seed has {} bytes; an ed25519 seed has 32",
                bytes.len()
            ))
        })?;
        Ok(Self::from_seed_bytes(&seed))
    }

    /// A new key from the operating system's random source.
    pub fn generate() -> Result<Self, HistoryError> {
        let mut seed = [0u8; 32];
        getrandom::fill(&mut seed).map_err(|e| HistoryError::Key(format!("random: {e}")))?;
        Ok(Self::from_seed_bytes(&seed))
    }

    /// The seed as base64 (what `keygen` writes into `ed25519.seed`).
    pub fn seed_base64(&self) -> String {
        STANDARD.encode(self.0.to_bytes())
    }

    pub fn public_key(&self) -> PublicKey {
        PublicKey(self.0.verifying_key())
    }

    /// The base64 signature over `message`.
    pub fn sign(&self, message: &[u8]) -> String {
        STANDARD.encode(self.0.sign(message).to_bytes())
    }
}

/// The public key entries are verified with.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct PublicKey(ed25519_dalek::VerifyingKey);

impl fmt::Debug for PublicKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "PublicKey({})", self.key_id())
    }
}

impl PublicKey {
    /// From the base64 text of the 32-byte public key (`ed25519.pub`).
    pub fn from_base64(text: &str) -> Result<Self, HistoryError> {
        let bytes = STANDARD
            .decode(text.trim())
            .map_err(|_| HistoryError::Key("the public key is not base64".into()))?;
        let bytes: [u8; 32] = bytes.as_slice().try_into().map_err(|_| {
            HistoryError::Key(format!(
                "the public key has {} bytes; an ed25519 public key has 32",
                bytes.len()
            ))
        })?;
        ed25519_dalek::VerifyingKey::from_bytes(&bytes)
            .map(PublicKey)
            .map_err(|_| HistoryError::Key("not a valid ed25519 public key".into()))
    }

    pub fn to_base64(&self) -> String {
        STANDARD.encode(self.0.as_bytes())
    }

    /// The 32 raw bytes of the public key.
    pub fn to_bytes(&self) -> [u8; 32] {
        self.0.to_bytes()
    }

    /// The first 16 hex digits of the SHA-256 of the public key: names the key in entries.
    pub fn key_id(&self) -> String {
        hex::encode(&Sha256::digest(self.0.as_bytes())[..8])
    }

    /// Whether `signature` (base64) is this key's signature over `message` (strict: no
    /// malleable or weak-key signatures).
    pub fn verifies(&self, message: &[u8], signature: &str) -> bool {
        let Ok(bytes) = STANDARD.decode(signature) else {
            return false;
        };
        let Ok(signature) = Signature::from_slice(&bytes) else {
            return false;
        };
        self.0.verify_strict(message, &signature).is_ok()
            && self.0.verify(message, &signature).is_ok()
    }
}
