use super::chain::append;
use super::chain_tests::{at, key, observation};
use super::entry::*;
use super::report::*;
use crate::api::ControlState::{self, *};
use crate::catalog::ControlId;
use jiff::SignedDuration;

const DAY: SignedDuration = SignedDuration::from_hours(24);

fn observed(time: &str, state: ControlState) -> Record {
    Record {
        at: at(time),
        event: Event::Checkpoint {
            observation: observation("prod", ControlId::RestrictedPorts, state),
        },
    }
}

fn event(time: &str, event: Event) -> Record {
    Record {
        at: at(time),
        event,
    }
}

fn chain(records: Vec<Record>) -> Vec<Entry> {
    append(None, records, &key(1))
}

fn only(report: &PeriodReport) -> &ControlReport {
    assert_eq!(report.controls.len(), 1, "{:#?}", report.controls);
    &report.controls[0]
}

fn states(control: &ControlReport) -> Vec<(String, PeriodState)> {
    control
        .timeline
        .iter()
        .map(|s| (s.start.to_string(), s.state))
        .collect()
}

#[test]
fn pass_fail_pass_gives_one_failure_interval_with_its_findings() {
    let entries = chain(vec![
        observed("2026-03-01T00:00:00Z", Pass),
        observed("2026-03-01T10:00:00Z", Fail),
        observed("2026-03-01T16:30:00Z", Pass),
    ]);
    let report = report(
        &entries,
        at("2026-03-01T00:00:00Z"),
        at("2026-03-02T00:00:00Z"),
        DAY,
    );
    let control = only(&report);
    assert_eq!(control.failures.len(), 1);
    let failure = &control.failures[0];
    assert_eq!(failure.start, at("2026-03-01T10:00:00Z"));
    assert_eq!(failure.end, at("2026-03-01T16:30:00Z"));
    assert_eq!(failure.seconds, 6 * 3600 + 1800);
    assert_eq!(failure.ended_by, Some(PeriodState::Pass));
    assert!(!failure.started_before_period);
    assert_eq!(failure.findings.len(), 1);
    assert_eq!(failure.findings[0].name, "shop");
    assert_eq!(control.shares.fail.seconds, 6 * 3600 + 1800);
    assert_eq!(control.shares.pass.seconds, 24 * 3600 - (6 * 3600 + 1800));
    assert_eq!(control.shares.gap.seconds, 0);
    assert_eq!(control.title, ControlId::RestrictedPorts.title());
    assert!(
        control.frameworks.iter().any(|f| f.starts_with("SOC 2")),
        "{:?}",
        control.frameworks
    );
}

#[test]
fn checkpoints_while_failing_stay_one_interval() {
    let entries = chain(vec![
        observed("2026-03-01T00:00:00Z", Fail),
        observed("2026-03-02T00:00:00Z", Fail),
        observed("2026-03-03T00:00:00Z", Pass),
    ]);
    let report = report(
        &entries,
        at("2026-03-01T00:00:00Z"),
        at("2026-03-04T00:00:00Z"),
        DAY,
    );
    let control = only(&report);
    assert_eq!(control.failures.len(), 1);
    assert_eq!(control.failures[0].seconds, 2 * 24 * 3600);
}

#[test]
fn silence_longer_than_the_interval_is_a_gap_never_a_pass() {
    // A Pass, then nothing for three days (the operator died without a word), then Pass.
    let entries = chain(vec![
        observed("2026-03-01T00:00:00Z", Pass),
        observed("2026-03-04T00:00:00Z", Pass),
    ]);
    let report = report(
        &entries,
        at("2026-03-01T00:00:00Z"),
        at("2026-03-05T00:00:00Z"),
        DAY,
    );
    let control = only(&report);
    // Valid for the interval plus a tenth (26h24m), then a gap until the next record.
    assert_eq!(
        states(control),
        [
            ("2026-03-01T00:00:00Z".into(), PeriodState::Pass),
            ("2026-03-02T02:24:00Z".into(), PeriodState::Gap),
            ("2026-03-04T00:00:00Z".into(), PeriodState::Pass),
        ]
    );
    assert_eq!(
        control.shares.pass.seconds,
        2 * 24 * 3600 + 2 * 3600 + 24 * 60
    );
    assert!(control.shares.gap.seconds > 0);
}

#[test]
fn a_restart_after_downtime_is_a_gap_from_the_last_entry() {
    let entries = chain(vec![
        event(
            "2026-03-01T00:00:00Z",
            Event::Started {
                identity: "a".into(),
            },
        ),
        observed("2026-03-01T00:00:00Z", Pass),
        // The operator went down at 06:00 and came back 30 hours later.
        observed("2026-03-01T06:00:00Z", Pass),
        event(
            "2026-03-02T12:00:00Z",
            Event::Started {
                identity: "b".into(),
            },
        ),
        observed("2026-03-02T12:00:00Z", Pass),
    ]);
    let report = report(
        &entries,
        at("2026-03-01T00:00:00Z"),
        at("2026-03-03T00:00:00Z"),
        DAY,
    );
    let control = only(&report);
    assert_eq!(
        states(control),
        [
            ("2026-03-01T00:00:00Z".into(), PeriodState::Pass),
            ("2026-03-01T06:00:00Z".into(), PeriodState::Gap),
            ("2026-03-02T12:00:00Z".into(), PeriodState::Pass),
        ]
    );
    assert_eq!(report.recording_gaps.len(), 1);
    assert_eq!(report.recording_gaps[0].seconds, 30 * 3600);
}

#[test]
fn a_short_failover_is_not_a_gap() {
    let entries = chain(vec![
        observed("2026-03-01T00:00:00Z", Pass),
        event(
            "2026-03-01T00:10:00Z",
            Event::Stopped {
                identity: "a".into(),
            },
        ),
        event(
            "2026-03-01T00:10:30Z",
            Event::Started {
                identity: "b".into(),
            },
        ),
        observed("2026-03-01T00:10:40Z", Pass),
    ]);
    let report = report(
        &entries,
        at("2026-03-01T00:00:00Z"),
        at("2026-03-01T12:00:00Z"),
        DAY,
    );
    assert_eq!(only(&report).shares.pass.seconds, 12 * 3600);
    assert!(report.recording_gaps.is_empty());
}

#[test]
fn before_the_first_entry_and_after_the_last_are_gaps() {
    let entries = chain(vec![observed("2026-03-02T00:00:00Z", Pass)]);
    let report = report(
        &entries,
        at("2026-03-01T00:00:00Z"),
        at("2026-03-05T00:00:00Z"),
        DAY,
    );
    let control = only(&report);
    assert_eq!(
        states(control),
        [
            ("2026-03-01T00:00:00Z".into(), PeriodState::Gap),
            ("2026-03-02T00:00:00Z".into(), PeriodState::Pass),
            ("2026-03-03T02:24:00Z".into(), PeriodState::Gap),
        ]
    );
    assert_eq!(control.shares.absent.seconds, 0);
}

#[test]
fn a_clean_stop_is_a_gap_at_once() {
    let entries = chain(vec![
        observed("2026-03-01T00:00:00Z", Pass),
        event(
            "2026-03-01T08:00:00Z",
            Event::Stopped {
                identity: "a".into(),
            },
        ),
    ]);
    let report = report(
        &entries,
        at("2026-03-01T00:00:00Z"),
        at("2026-03-02T00:00:00Z"),
        DAY,
    );
    assert_eq!(only(&report).shares.pass.seconds, 8 * 3600);
    assert_eq!(only(&report).shares.gap.seconds, 16 * 3600);
}

#[test]
fn the_period_clips_intervals_at_from_and_to() {
    let entries = chain(vec![
        observed("2026-03-01T00:00:00Z", Fail),
        observed("2026-03-01T12:00:00Z", Fail),
        observed("2026-03-01T20:00:00Z", Pass),
        observed("2026-03-02T04:00:00Z", Fail),
        observed("2026-03-02T10:00:00Z", Fail),
    ]);
    let report = report(
        &entries,
        at("2026-03-01T06:00:00Z"),
        at("2026-03-02T06:00:00Z"),
        DAY,
    );
    let control = only(&report);
    let failures: Vec<_> = control
        .failures
        .iter()
        .map(|f| {
            (
                f.start.to_string(),
                f.end.to_string(),
                f.started_before_period,
                f.ended_by,
            )
        })
        .collect();
    assert_eq!(
        failures,
        [
            (
                "2026-03-01T06:00:00Z".to_string(),
                "2026-03-01T20:00:00Z".to_string(),
                true,
                Some(PeriodState::Pass)
            ),
            (
                "2026-03-02T04:00:00Z".to_string(),
                "2026-03-02T06:00:00Z".to_string(),
                false,
                None
            ),
        ]
    );
    let total: i64 = control.timeline.iter().map(|s| s.seconds).sum();
    assert_eq!(total, 24 * 3600);
    assert_eq!(control.shares.fail.percent, 66.7);
    assert_eq!(control.shares.pass.percent, 33.3);
}

#[test]
fn exemptions_in_force_are_listed_with_approver_and_ticket() {
    let mut exempt = observation("prod", ControlId::RestrictedPorts, Exempt);
    exempt.exemptions = vec![ExemptionInForce {
        controls: vec![ControlId::RestrictedPorts],
        namespaces: vec!["legacy".into()],
        selector: None,
        reason: "vendor appliance needs telnet until replaced".into(),
        approved_by: "ciso@example.com".into(),
        ticket: Some("SEC-1234".into()),
        expires: "2026-06-30".into(),
    }];
    let entries = chain(vec![
        observed("2026-03-01T00:00:00Z", Fail),
        Record {
            at: at("2026-03-01T05:00:00Z"),
            event: Event::Transition {
                from: Some(Fail),
                observation: exempt,
            },
        },
    ]);
    let report = report(
        &entries,
        at("2026-03-01T00:00:00Z"),
        at("2026-03-01T12:00:00Z"),
        DAY,
    );
    let control = only(&report);
    assert_eq!(control.exemptions.len(), 1);
    let listed = &control.exemptions[0];
    assert_eq!(listed.exemption.approved_by, "ciso@example.com");
    assert_eq!(listed.exemption.ticket.as_deref(), Some("SEC-1234"));
    assert_eq!(listed.from, at("2026-03-01T05:00:00Z"));
    assert_eq!(control.shares.exempt.seconds, 7 * 3600);
    assert_eq!(control.failures[0].ended_by, Some(PeriodState::Exempt));
}

#[test]
fn a_deleted_resource_is_absent_not_a_gap_or_a_pass() {
    let prod = ResourceRef {
        kind: "SecurityBaseline".into(),
        name: "prod".into(),
    };
    let entries = chain(vec![
        observed("2026-03-01T00:00:00Z", Pass),
        event("2026-03-01T06:00:00Z", Event::Deleted { resource: prod }),
        event(
            "2026-03-01T07:00:00Z",
            Event::Started {
                identity: "keeps-recording".into(),
            },
        ),
    ]);
    let report = report(
        &entries,
        at("2026-03-01T00:00:00Z"),
        at("2026-03-01T12:00:00Z"),
        DAY,
    );
    let control = only(&report);
    assert_eq!(control.shares.pass.seconds, 6 * 3600);
    assert_eq!(control.shares.absent.seconds, 6 * 3600);
}

#[test]
fn not_evaluated_is_never_counted_as_pass() {
    let entries = chain(vec![
        observed("2026-03-01T00:00:00Z", NotEvaluated),
        observed("2026-03-01T06:00:00Z", Pass),
    ]);
    let report = report(
        &entries,
        at("2026-03-01T00:00:00Z"),
        at("2026-03-01T12:00:00Z"),
        DAY,
    );
    let control = only(&report);
    assert_eq!(control.shares.not_evaluated.seconds, 6 * 3600);
    assert_eq!(control.shares.pass.seconds, 6 * 3600);
}

#[test]
fn an_empty_log_reports_the_whole_period_as_a_recording_gap() {
    let report = report(
        &[],
        at("2026-03-01T00:00:00Z"),
        at("2026-03-02T00:00:00Z"),
        DAY,
    );
    assert!(report.controls.is_empty());
    assert_eq!(report.recording_gaps.len(), 1);
    assert_eq!(report.recording_gaps[0].seconds, 24 * 3600);
}
