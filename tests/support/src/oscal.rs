//! compliance-trestle and NIST's OSCAL schema, the real consumer of our OSCAL documents: the
//! pinned trestle venv (`tests/oscal/install`, cached in `~/.cache/baseline-operator/`) runs
//! `tests/oscal/validate.py` against the schema pinned in `tests/fixtures/oscal`.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::OnceLock;

/// The pinned OSCAL 1.1.3 JSON schema, relative to the repository.
pub const SCHEMA: &str = "tests/fixtures/oscal/oscal_complete_schema-1.1.3.json";

/// The venv python with the pinned compliance-trestle (installed once, cached).
pub fn python() -> &'static Path {
    static PYTHON: OnceLock<PathBuf> = OnceLock::new();
    PYTHON.get_or_init(|| {
        let install = Path::new(crate::REPO).join("tests/oscal/install");
        let out = Command::new(&install)
            .output()
            .unwrap_or_else(|e| panic!("cannot run {}: {e}", install.display()));
        assert!(
            out.status.success(),
            "{} failed ({}): {}",
            install.display(),
            out.status,
            String::from_utf8_lossy(&out.stderr)
        );
        PathBuf::from(String::from_utf8(out.stdout).expect("UTF-8 path").trim())
    })
}

/// `validate.py [extra] SCHEMA FILES...`: trestle loads each file, then the schema validates
/// it (`--schema-only`: the schema alone). Prints `OK <file>` or `REFUSED <file>: <why>` per
/// file; exit 1 when any is refused.
pub fn validate(files: &[PathBuf], extra: &[&str]) -> Output {
    Command::new(python())
        .arg(Path::new(crate::REPO).join("tests/oscal/validate.py"))
        .args(extra)
        .arg(Path::new(crate::REPO).join(SCHEMA))
        .args(files)
        .output()
        .expect("running tests/oscal/validate.py")
}
