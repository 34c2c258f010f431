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
