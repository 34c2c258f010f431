//! README's first command, as a newcomer runs it: `./demo` starts the project's own local
//! control plane, runs the operator on the samples and prints the evidence. A flag default or
//! sample that breaks it fails here, not on a newcomer's machine.

use std::process::Command;

#[test]
fn the_demo_runs_on_a_fresh_local_control_plane_and_prints_evidence() {
    let out = Command::new("./demo")
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        // No cluster given: the demo must start its own.
        .env_remove("KUBECONFIG")
        .output()
        .expect("running ./demo");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "./demo failed:\n{stdout}\n{stderr}");
    for evidence in [
        "securitybaseline.security.baseline.dev/",
        "backuppolicy.security.baseline.dev/production",
        "environmentisolation.security.baseline.dev/environments",
        "restricted-ports\t",
        "production-data-restricted\t",
    ] {
        assert!(stdout.contains(evidence), "{evidence} missing:\n{stdout}");
    }
    the_history_is_verified_and_reported(&stdout, "entries in");
}

/// The demo ends with the evidence over time: the signed chain verified, and the period
/// report's files (HTML, Markdown, OSCAL, the signed attestation) written where it says.
fn the_history_is_verified_and_reported(stdout: &str, verified: &str) {
    let verified_line = stdout
        .lines()
        .find(|l| l.starts_with("verified: "))
        .unwrap_or_else(|| panic!("no verification result:\n{stdout}"));
    assert!(
        verified_line.contains(verified) && verified_line.contains("head: entry"),
        "{verified_line}"
    );
    for label in [
        "period report (HTML):",
        "period report (Markdown):",
        "OSCAL assessment results:",
        "signed attestation:",
    ] {
        let line = stdout
            .lines()
            .find(|l| l.starts_with(label))
            .unwrap_or_else(|| panic!("{label} missing:\n{stdout}"));
        let path = line[label.len()..].split_whitespace().next().unwrap();
        let text = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{path}: {e}"));
        assert!(!text.is_empty(), "{path} is empty");
        if label.starts_with("OSCAL") {
            assert!(text.contains("\"assessment-results\""), "{path}");
        }
    }
    assert!(
        stdout.contains("open the report:           xdg-open "),
        "{stdout}"
    );
}

/// `./demo --backups`: the backup stack starts too, and the demo ends with Velero's real
/// backups and a restore test that passed verification, with its measured RTO.
#[test]
fn the_demo_with_backups_shows_a_real_backup_and_a_verified_restore_test() {
    let out = Command::new("./demo")
        .arg("--backups")
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .env_remove("KUBECONFIG")
        .output()
        .expect("running ./demo --backups");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success(),
        "./demo --backups failed:\n{stdout}\n{stderr}"
    );
    for evidence in [
        "Completed",
        ": Passed\n",
        "measured RTO: ",
        "objects found again in the sandbox: ",
        "restore-tested\tPass",
    ] {
        assert!(stdout.contains(evidence), "{evidence} missing:\n{stdout}");
    }
    // Measured on the operator's clock to the millisecond: a restore within a second is
    // never printed as a rounded zero.
    assert!(stdout.contains("measured by: Operator"), "{stdout}");
    assert!(!stdout.contains("measured RTO: 0s"), "{stdout}");
    // With the backup stack the chain is on its S3 server (MinIO).
    the_history_is_verified_and_reported(&stdout, "demo-history");
}
