use super::chain::append;
use super::chain_tests::{at, key, observation};
use super::entry::*;
use super::oscal::assessment;
use super::report::*;
use crate::api::ControlState::{self, *};
use crate::catalog::ControlId;
use crate::evidence::oscal::{assessment_results, date_time, state_token};
use jiff::SignedDuration;
use serde_json::Value;

fn observed(time: &str, state: ControlState) -> Record {
    let mut observation = observation("prod", ControlId::RestrictedPorts, state);
    if state == Exempt {
        observation.exemptions = vec![ExemptionInForce {
            controls: vec![ControlId::RestrictedPorts],
            namespaces: vec!["legacy".into()],
            selector: None,
            reason: "telnet until the migration".into(),
            approved_by: "jane.doe@example.com".into(),
            ticket: Some("SEC-123".into()),
            expires: "2026-03-31T00:00:00Z".into(),
        }];
    }
    Record {
        at: at(time),
        event: Event::Checkpoint { observation },
    }
}

/// A day that passes, fails for six and a half hours, goes silent past the checkpoint
/// interval (a gap), then is exempted.
fn day() -> (Vec<Entry>, PeriodReport) {
    let entries = append(
        None,
        vec![
            observed("2026-03-01T00:00:00Z", Pass),
            observed("2026-03-01T10:00:00Z", Fail),
            observed("2026-03-01T16:30:00Z", Pass),
            observed("2026-03-01T18:00:00Z", Exempt),
        ],
        &key(1),
    );
    let report = report(
        &entries,
        at("2026-03-01T00:00:00Z"),
        at("2026-03-02T00:00:00Z"),
        SignedDuration::from_hours(1),
    );
    (entries, report)
}

fn only_finding(document: &Value) -> &Value {
    let results = document["assessment-results"]["results"]
        .as_array()
        .unwrap();
    assert_eq!(results.len(), 1);
    let findings = results[0]["findings"].as_array().unwrap();
    assert_eq!(findings.len(), 1);
    &findings[0]
}

#[test]
fn a_findings_intervals_are_the_period_reports_timeline() {
    let (entries, report) = day();
    let document = assessment_results(&assessment(&report, &entries), at("2026-03-02T01:00:00Z"));
    let finding = only_finding(&document);
    let intervals: Vec<(String, String)> = finding["props"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|p| p["name"] == "interval")
        .map(|p| {
            (
                p["class"].as_str().unwrap().to_string(),
                p["value"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    let timeline: Vec<(String, String)> = report.controls[0]
        .timeline
        .iter()
        .map(|s| {
            (
                state_token(s.state).to_string(),
                format!("{}/{}", date_time(s.start), date_time(s.end)),
            )
        })
        .collect();
    assert_eq!(intervals, timeline);
    // The failure interval of the report is among them, and the silence is a gap.
    let failure = &report.controls[0].failures[0];
    assert!(intervals.contains(&(
        "fail".into(),
        format!("{}/{}", date_time(failure.start), date_time(failure.end))
    )));
    assert!(intervals.iter().any(|(state, _)| state == "gap"));
    assert_eq!(finding["target"]["status"]["state"], "not-satisfied");
    assert_eq!(finding["target"]["status"]["reason"], "fail");
}

#[test]
fn a_period_with_a_gap_and_no_failure_is_not_satisfied() {
    let entries = append(
        None,
        vec![
            observed("2026-03-01T00:00:00Z", Pass),
            observed("2026-03-01T12:00:00Z", Pass),
        ],
        &key(1),
    );
    let period = report(
        &entries,
        at("2026-03-01T00:00:00Z"),
        at("2026-03-02T00:00:00Z"),
        SignedDuration::from_hours(1),
    );
    let document = assessment_results(&assessment(&period, &entries), at("2026-03-02T01:00:00Z"));
    let status = &only_finding(&document)["target"]["status"];
    assert_eq!(status["state"], "not-satisfied");
    assert_eq!(status["reason"], "gap");
    // Passing all day, checked at least once per interval: satisfied.
    let entries = append(
        None,
        (0..24)
            .map(|h| observed(&format!("2026-03-01T{h:02}:00:00Z"), Pass))
            .collect(),
        &key(1),
    );
    let report = report(
        &entries,
        at("2026-03-01T00:00:00Z"),
        at("2026-03-02T00:00:00Z"),
        SignedDuration::from_hours(1),
    );
    let document = assessment_results(&assessment(&report, &entries), at("2026-03-02T01:00:00Z"));
    assert_eq!(
        only_finding(&document)["target"]["status"]["state"],
        "satisfied"
    );
}

#[test]
fn every_evaluation_is_an_observation_citing_its_history_entry() {
    let (entries, report) = day();
    let document = assessment_results(&assessment(&report, &entries), at("2026-03-02T01:00:00Z"));
    let ar = &document["assessment-results"];
    let observations = ar["results"][0]["observations"].as_array().unwrap();
    assert_eq!(observations.len(), entries.len());
    let resources = ar["back-matter"]["resources"].as_array().unwrap();
    for (observation, entry) in observations.iter().zip(&entries) {
        assert_eq!(observation["methods"], serde_json::json!(["TEST"]));
        assert_eq!(observation["collected"], date_time(entry.record.at));
        let href = observation["links"][0]["href"].as_str().unwrap();
        let resource = resources
            .iter()
            .find(|r| format!("#{}", r["uuid"].as_str().unwrap()) == href)
            .expect("the link names a back-matter resource");
        assert!(
            resource["props"]
                .as_array()
                .unwrap()
                .iter()
                .any(|p| p["name"] == "history-entry-hash" && p["value"] == entry.hash.as_str())
        );
    }
    // The exemption recorded in force is a risk with when it was.
    let risk = &ar["results"][0]["risks"][0];
    assert!(risk["props"].as_array().unwrap().iter().any(|p| {
        p["name"] == "in-force"
            && p["value"]
                .as_str()
                .unwrap()
                .starts_with("2026-03-01T18:00:00Z/")
    }));
    assert_eq!(risk["deadline"], "2026-03-31T00:00:00Z");
}

#[test]
fn the_same_history_gives_the_same_document() {
    let (entries, report) = day();
    let one = assessment_results(&assessment(&report, &entries), at("2026-03-02T01:00:00Z"));
    let two = assessment_results(&assessment(&report, &entries), at("2026-03-02T01:00:00Z"));
    assert_eq!(one, two);
}

#[test]
fn the_oscal_commands_and_format_parse() {
    use super::cli::{EvidenceCommand, Format, HistoryCommand};
    use clap::{Args, Command, FromArgMatches};
    let parse = |args: &[&str]| {
        let matches = EvidenceCommand::augment_args(Command::new("evidence"))
            .try_get_matches_from(args)
            .unwrap();
        EvidenceCommand::from_arg_matches(&matches).unwrap()
    };
    let report = parse(&[
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
        "--format",
        "oscal",
    ]);
    assert!(
        matches!(report.history, Some(HistoryCommand::Report(ref r)) if r.format == Format::Oscal)
    );
    let plan = parse(&["evidence", "oscal-plan", "--out", "plan.json"]);
    assert!(
        matches!(plan.history, Some(HistoryCommand::OscalPlan(ref a)) if a.out.as_deref() == Some(std::path::Path::new("plan.json")))
    );
    let components = parse(&["evidence", "oscal-components"]);
    assert!(matches!(
        components.history,
        Some(HistoryCommand::OscalComponents(ref a)) if a.out.is_none()
    ));
}
