use super::cli::*;
use clap::{Args, Command, FromArgMatches};

fn parse(args: &[&str]) -> Result<EvidenceCommand, clap::Error> {
    let command = EvidenceCommand::augment_args(Command::new("evidence"));
    let matches = command.try_get_matches_from(args)?;
    EvidenceCommand::from_arg_matches(&matches)
}

#[test]
fn the_bundle_command_is_unchanged_beside_the_history_commands() {
    EvidenceCommand::augment_args(Command::new("evidence")).debug_assert();
    let bundle = parse(&["evidence", "--out", "dir", "--framework", "soc2"]).unwrap();
    assert!(bundle.history.is_none());
    assert_eq!(bundle.bundle.unwrap().out.to_str(), Some("dir"));
    // --out stays required when no command is given.
    assert!(parse(&["evidence"]).is_err());
    let verify = parse(&[
        "evidence",
        "verify",
        "--dir",
        "log",
        "--public-key",
        "k.pub",
    ])
    .unwrap();
    assert!(matches!(verify.history, Some(HistoryCommand::Verify(_))));
    // A source is required, and only one.
    assert!(parse(&["evidence", "verify", "--public-key", "k.pub"]).is_err());
    assert!(
        parse(&[
            "evidence",
            "verify",
            "--dir",
            "log",
            "--s3-endpoint",
            "http://127.0.0.1:1",
            "--bucket",
            "b",
            "--public-key",
            "k.pub"
        ])
        .is_err()
    );
    assert!(parse(&["evidence", "--out", "dir", "verify"]).is_err());
}

#[test]
fn a_date_ends_a_period_at_the_end_of_that_day() {
    assert_eq!(
        parse_instant("2026-03-31", false).unwrap().to_string(),
        "2026-03-31T00:00:00Z"
    );
    assert_eq!(
        parse_instant("2026-03-31", true).unwrap().to_string(),
        "2026-04-01T00:00:00Z"
    );
    assert_eq!(
        parse_instant("2026-03-31T12:30:00Z", true)
            .unwrap()
            .to_string(),
        "2026-03-31T12:30:00Z"
    );
    assert!(parse_instant("31/03/2026", false).is_err());
}

#[test]
fn checkpoint_intervals_are_positive_durations() {
    assert_eq!(parse_interval("24h").unwrap().as_secs(), 86_400);
    assert_eq!(parse_interval("PT1H30M").unwrap().as_secs(), 5_400);
    assert!(parse_interval("0s").is_err());
    assert!(parse_interval("daily").is_err());
}

#[test]
fn an_attestation_needs_a_report_file_and_the_signing_key() {
    let base = [
        "evidence",
        "report",
        "--dir",
        "log",
        "--public-key",
        "k.pub",
        "--from",
        "2026-01-01",
        "--to",
        "2026-01-31",
    ];
    let with = |extra: &[&str]| parse(&[&base[..], extra].concat());
    let parsed = with(&[
        "--out",
        "r.html",
        "--attest",
        "r.intoto.json",
        "--signing-key",
        "ed25519.seed",
    ])
    .unwrap();
    let Some(HistoryCommand::Report(args)) = parsed.history else {
        panic!("a report command");
    };
    assert_eq!(args.attest.unwrap().to_str(), Some("r.intoto.json"));
    // No file to attest (standard output), no key, or a key with nothing to sign: refused.
    assert!(with(&["--attest", "a.json", "--signing-key", "s"]).is_err());
    assert!(with(&["--out", "r.html", "--attest", "a.json"]).is_err());
    assert!(with(&["--out", "r.html", "--signing-key", "s"]).is_err());
    // The bundle: --attest needs --signing-key and the reverse.
    assert!(parse(&["evidence", "--out", "d", "--attest", "--signing-key", "s"]).is_ok());
    assert!(parse(&["evidence", "--out", "d", "--attest"]).is_err());
    assert!(parse(&["evidence", "--out", "d", "--signing-key", "s"]).is_err());
}
