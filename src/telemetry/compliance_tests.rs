use super::*;
use crate::telemetry::Metrics;

fn control(id: ControlId, state: ControlState, failed: i32, exempted: i32) -> ControlResult {
    ControlResult {
        id,
        title: String::new(),
        frameworks: Vec::new(),
        state,
        checked: 10,
        failed,
        exempted,
        failed_findings: failed,
        exempted_findings: exempted,
        findings: Vec::new(),
        note: String::new(),
        last_evaluated: None,
    }
}

fn evaluated<'a>(resource: &'a str, controls: &'a [ControlResult]) -> Evaluated<'a> {
    Evaluated {
        kind: "SecurityBaseline",
        resource,
        controls,
        at: 1_700_000_000,
        failing_watches: Vec::new(),
    }
}

fn series(metrics: &Metrics, prefix: &str) -> Vec<String> {
    metrics
        .encode()
        .lines()
        .filter(|l| l.starts_with(prefix))
        .map(str::to_string)
        .collect()
}

#[test]
fn a_control_exports_one_series_per_state_with_its_counts() {
    let metrics = Metrics::default();
    let controls = [control(
        ControlId::RestrictedPorts,
        ControlState::Fail,
        3,
        1,
    )];
    metrics.compliance.evaluated(&evaluated("prod", &controls));
    let states = series(&metrics, "baseline_operator_control_state{");
    assert_eq!(states.len(), STATES.len(), "{states:#?}");
    let labels = r#"kind="SecurityBaseline",resource="prod",control="restricted-ports""#;
    assert!(states.contains(&format!(
        r#"baseline_operator_control_state{{{labels},state="Fail"}} 1"#
    )));
    assert!(states.contains(&format!(
        r#"baseline_operator_control_state{{{labels},state="Pass"}} 0"#
    )));
    let text = metrics.encode();
    for line in [
        format!("baseline_operator_control_failed_objects{{{labels}}} 3"),
        format!("baseline_operator_control_exempted_objects{{{labels}}} 1"),
        format!("baseline_operator_control_checked_objects{{{labels}}} 10"),
        r#"baseline_operator_last_evaluation_timestamp_seconds{kind="SecurityBaseline",resource="prod"} 1700000000"#.to_string(),
    ] {
        assert!(text.lines().any(|l| l == line), "{line} missing from\n{text}");
    }
}

#[test]
fn a_fixed_control_flips_its_state_series() {
    let metrics = Metrics::default();
    let failing = [control(
        ControlId::RestrictedPorts,
        ControlState::Fail,
        3,
        0,
    )];
    metrics.compliance.evaluated(&evaluated("prod", &failing));
    let fixed = [control(
        ControlId::RestrictedPorts,
        ControlState::Pass,
        0,
        0,
    )];
    metrics.compliance.evaluated(&evaluated("prod", &fixed));
    let text = metrics.encode();
    assert!(
        text.contains(r#"control="restricted-ports",state="Fail"} 0"#),
        "{text}"
    );
    assert!(
        text.contains(r#"control="restricted-ports",state="Pass"} 1"#),
        "{text}"
    );
}

#[test]
fn deleted_resources_and_dropped_controls_lose_their_series() {
    let metrics = Metrics::default();
    let both = [
        control(ControlId::RestrictedPorts, ControlState::Pass, 0, 0),
        control(ControlId::LeastPrivilege, ControlState::Fail, 1, 0),
    ];
    metrics.compliance.evaluated(&evaluated("prod", &both));
    metrics.compliance.evaluated(&evaluated("staging", &both));
    metrics.compliance.evaluated(&evaluated("prod", &both[..1]));
    assert!(
        !metrics
            .encode()
            .contains(r#"resource="prod",control="least-privilege""#)
    );
    metrics.compliance.forget("SecurityBaseline", "prod");
    let text = metrics.encode();
    assert!(!text.contains(r#"resource="prod""#), "{text}");
    assert!(
        text.contains(r#"resource="staging",control="least-privilege""#),
        "{text}"
    );
}

#[test]
fn labels_stay_bounded() {
    let metrics = Metrics::default();
    let controls: Vec<ControlResult> = ControlId::ALL
        .iter()
        .map(|id| control(*id, ControlState::Fail, 5, 0))
        .collect();
    metrics.compliance.evaluated(&Evaluated {
        failing_watches: vec!["Pod".into()],
        ..evaluated("prod", &controls)
    });
    metrics.compliance.history_written(false, 1);
    let allowed = ["kind", "resource", "control", "state", "watched_kind"];
    for line in metrics.encode().lines().filter(|l| !l.starts_with('#')) {
        let Some((_, labels)) = line.split_once('{') else {
            continue;
        };
        let labels = labels.split_once('}').expect("closing brace").0;
        for pair in labels.split(',').filter(|p| !p.is_empty()) {
            let name = pair.split_once('=').expect("name=value").0;
            // The operator's own reconcile metrics use `reason` and `verb`; nothing names an
            // object or a namespace.
            assert!(
                allowed.contains(&name) || ["reason", "verb", "le"].contains(&name),
                "unexpected label {name} in {line}"
            );
        }
    }
    // 15 controls x (5 states + 3 counts): the cardinality a resource costs, at most.
    let per_resource = series(&metrics, "baseline_operator_control_").len();
    assert_eq!(per_resource, ControlId::ALL.len() * (STATES.len() + 3));
}

#[test]
fn history_and_watch_series_appear_only_when_there_is_something_to_say() {
    let metrics = Metrics::default();
    assert!(series(&metrics, "baseline_operator_history_").is_empty());
    metrics.compliance.history_written(true, 100);
    metrics.compliance.history_written(false, 200);
    let text = metrics.encode();
    assert!(
        text.contains("baseline_operator_history_writable{} 0\n"),
        "{text}"
    );
    assert!(text.contains("baseline_operator_history_last_success_timestamp_seconds{} 100\n"));
    assert!(text.contains("baseline_operator_history_append_failures_total{} 1\n"));
    metrics.compliance.history_written(true, 300);
    assert!(
        metrics
            .encode()
            .contains("baseline_operator_history_writable{} 1\n")
    );

    let failing = Evaluated {
        failing_watches: vec!["Pod".into()],
        ..evaluated("prod", &[])
    };
    metrics.compliance.evaluated(&failing);
    assert!(
        metrics
            .encode()
            .contains(r#"baseline_operator_watch_failing{watched_kind="Pod"} 1"#)
    );
    metrics.compliance.evaluated(&evaluated("prod", &[]));
    assert!(series(&metrics, "baseline_operator_watch_failing{").is_empty());
}
