//! cosign, the real verifier of our in-toto attestations: built from its pinned Go module by
//! `tests/cosign/build` (cached in `~/.cache/baseline-operator/cosign-<version>-<hash>/`).

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::OnceLock;

/// The cosign binary, built (or found in the cache) once per test run.
pub fn cosign() -> &'static Path {
    static COSIGN: OnceLock<PathBuf> = OnceLock::new();
    COSIGN.get_or_init(|| crate::built_tool("tests/cosign/build"))
}

/// `cosign verify-blob-attestation --key KEY --signature ENVELOPE --type TYPE FILE`, offline:
/// the key is the trust root, so no transparency log (`--insecure-ignore-tlog`) and no signed
/// timestamp (the default) are consulted, and with a key cosign loads no trusted root (TUF).
/// HOME is an empty directory beside the envelope, so no cached Sigstore material of this
/// machine takes part.
pub fn verify_blob_attestation(
    key: &Path,
    envelope: &Path,
    predicate_type: &str,
    file: &Path,
) -> Output {
    let home = envelope
        .parent()
        .expect("the envelope's directory")
        .join(".cosign-home");
    std::fs::create_dir_all(&home).expect("a HOME for cosign");
    Command::new(cosign())
        .arg("verify-blob-attestation")
        .arg("--key")
        .arg(key)
        .arg("--signature")
        .arg(envelope)
        .args(["--type", predicate_type])
        .arg("--insecure-ignore-tlog=true")
        .arg(file)
        .env("HOME", &home)
        .env("SIGSTORE_NO_CACHE", "true")
        .stdin(Stdio::null())
        .output()
        .expect("running cosign")
}
