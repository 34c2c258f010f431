use super::*;
use crate::api::ControlState::{self, *};
use crate::history::PeriodState as P;

fn exemption() -> ExemptionInForce {
    ExemptionInForce {
        controls: vec![ControlId::RestrictedPorts, ControlId::TrustedImages],
        namespaces: vec!["legacy".into()],
        selector: None,
        reason: "The legacy billing app needs telnet until its migration".into(),
        approved_by: "jane.doe@example.com".into(),
        ticket: Some("SEC-123".into()),
        expires: "2026-12-31".into(),
    }
}

fn at(text: &str) -> Timestamp {
    text.parse().unwrap()
}

fn evaluation(state: ControlState) -> Evaluation {
    Evaluation {
        collected: at("2026-03-01T10:00:00Z"),
        state,
        checked: 4,
        failed: u8::from(state == Fail).into(),
        exempted: u8::from(state == Exempt).into(),
        findings: Vec::new(),
        entry: None,
        source: "the status of SecurityBaseline prod".into(),
    }
}

fn assessment(controls: Vec<(ControlId, ControlState, bool)>) -> Assessment {
    Assessment {
        title: "test".into(),
        description: "test".into(),
        scope: "current/test".into(),
        start: at("2026-03-01T12:00:00Z"),
        end: None,
        props: vec![("cluster", "0d5c-uid".into())],
        resources: vec![ResourceAssessment {
            cluster: Some("0d5c-uid".into()),
            resource: ResourceRef {
                kind: "SecurityBaseline".into(),
                name: "prod".into(),
            },
            controls: controls
                .into_iter()
                .map(|(control, state, exempted)| ControlAssessment {
                    control,
                    verdict: control_state_verdict(Some(state)),
                    timeline: Vec::new(),
                    evaluations: vec![evaluation(state)],
                    exemptions: if exempted {
                        vec![ExemptionRecord {
                            exemption: exemption(),
                            in_force: None,
                        }]
                    } else {
                        Vec::new()
                    },
                    remarks: String::new(),
                })
                .collect(),
        }],
    }
}

fn results(document: &Value) -> &Vec<Value> {
    document["assessment-results"]["results"]
        .as_array()
        .unwrap()
}

fn finding(document: &Value, control: ControlId) -> &Value {
    results(document)[0]["findings"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["target"]["target-id"] == control.as_str())
        .unwrap_or_else(|| panic!("no finding for {control}"))
}

#[test]
fn only_pass_and_exempt_are_satisfied_now() {
    for (state, satisfied, reason) in [
        (Some(Pass), true, "pass"),
        (Some(Exempt), true, "exempt"),
        (Some(Fail), false, "fail"),
        (Some(NotEvaluated), false, "not-evaluated"),
        (Some(NotApplicable), false, "not-applicable"),
        // No result in status: not reconciled yet, nothing is proven.
        (None, false, "not-evaluated"),
    ] {
        let verdict = control_state_verdict(state);
        assert_eq!(
            (verdict.satisfied, verdict.reason),
            (satisfied, reason),
            "{state:?}"
        );
        assert_eq!(
            verdict.state(),
            if satisfied {
                "satisfied"
            } else {
                "not-satisfied"
            }
        );
    }
}

#[test]
fn a_gap_or_a_check_that_could_not_run_is_never_satisfied_over_a_period() {
    let cases: Vec<(Vec<P>, bool, &str)> = vec![
        (vec![P::Pass], true, "pass"),
        (vec![P::Absent, P::Pass, P::Absent], true, "pass"),
        (vec![P::Pass, P::Exempt], true, "exempt"),
        (vec![P::Pass, P::Gap, P::Pass], false, "gap"),
        (vec![P::Pass, P::NotEvaluated], false, "not-evaluated"),
        (vec![P::Gap, P::NotEvaluated, P::Fail], false, "fail"),
        (vec![P::Pass, P::NotApplicable], false, "not-applicable"),
        // Nothing evaluated in the period proves nothing.
        (vec![P::Absent], false, "absent"),
        (vec![], false, "absent"),
        (vec![P::Gap], false, "gap"),
    ];
    for (states, satisfied, reason) in cases {
        let verdict = period_verdict(states.clone());
        assert_eq!(
            (verdict.satisfied, verdict.reason),
            (satisfied, reason),
            "{states:?}"
        );
    }
}

#[test]
fn exemptions_in_force_become_risks_with_approver_ticket_and_expiry() {
    let document = assessment_results(
        &assessment(vec![
            (ControlId::RestrictedPorts, Exempt, true),
            (ControlId::TrustedImages, Pass, true),
        ]),
        at("2026-03-01T12:00:00Z"),
    );
    let risks = results(&document)[0]["risks"].as_array().unwrap();
    // One exemption waiving two controls is one risk, related to both findings.
    assert_eq!(risks.len(), 1, "{risks:#?}");
    let risk = &risks[0];
    assert_eq!(risk["status"], "deviation-approved");
    assert_eq!(risk["description"], exemption().reason);
    let props: Vec<(String, String)> = risk["props"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| {
            assert_eq!(p["ns"], NS);
            (
                p["name"].as_str().unwrap().into(),
                p["value"].as_str().unwrap().into(),
            )
        })
        .collect();
    for expected in [
        ("approved-by", "jane.doe@example.com"),
        ("ticket", "SEC-123"),
        ("expires", "2026-12-31"),
        ("control", "restricted-ports"),
        ("control", "trusted-images"),
    ] {
        assert!(
            props.contains(&(expected.0.into(), expected.1.into())),
            "{expected:?} in {props:?}"
        );
    }
    // A day's exemption waives to the end of that day (UTC).
    assert_eq!(risk["deadline"], "2027-01-01T00:00:00Z");
    assert!(
        risk["statement"]
            .as_str()
            .unwrap()
            .contains("namespaces legacy")
    );
    for control in [ControlId::RestrictedPorts, ControlId::TrustedImages] {
        let f = finding(&document, control);
        assert_eq!(f["related-risks"][0]["risk-uuid"], risk["uuid"]);
    }
    let exempt = finding(&document, ControlId::RestrictedPorts);
    assert_eq!(exempt["target"]["status"]["state"], "satisfied");
    assert_eq!(exempt["target"]["status"]["reason"], "exempt");
}

#[test]
fn failing_and_unevaluated_controls_are_not_satisfied_findings() {
    let document = assessment_results(
        &assessment(vec![
            (ControlId::RestrictedPorts, Fail, false),
            (ControlId::TrustedImages, NotEvaluated, false),
            (ControlId::LeastPrivilege, NotApplicable, false),
            (ControlId::WorkloadHardening, Pass, false),
        ]),
        at("2026-03-01T12:00:00Z"),
    );
    let status = |c: ControlId| {
        let s = &finding(&document, c)["target"]["status"];
        (s["state"].as_str().unwrap(), s["reason"].as_str().unwrap())
    };
    assert_eq!(
        status(ControlId::RestrictedPorts),
        ("not-satisfied", "fail")
    );
    assert_eq!(
        status(ControlId::TrustedImages),
        ("not-satisfied", "not-evaluated")
    );
    assert_eq!(
        status(ControlId::LeastPrivilege),
        ("not-satisfied", "not-applicable")
    );
    assert_eq!(status(ControlId::WorkloadHardening), ("satisfied", "pass"));
    let result = &results(&document)[0];
    // Each finding rests on its observation, a TEST collected at the evaluation's time.
    for observation in result["observations"].as_array().unwrap() {
        assert_eq!(observation["methods"], json!(["TEST"]));
        assert_eq!(observation["collected"], "2026-03-01T10:00:00Z");
    }
    let f = finding(&document, ControlId::RestrictedPorts);
    let observation_uuid = &f["related-observations"][0]["observation-uuid"];
    assert!(
        result["observations"]
            .as_array()
            .unwrap()
            .iter()
            .any(|o| &o["uuid"] == observation_uuid)
    );
    // The cluster is in the result's props: a fleet document adds one result per cluster.
    assert!(
        result["props"]
            .as_array()
            .unwrap()
            .contains(&json!({"name": "cluster", "ns": NS, "value": "0d5c-uid"}))
    );
}

#[test]
fn reviewed_controls_name_the_iso_27001_2022_and_soc2_controls() {
    let document = assessment_results(
        &assessment(vec![(ControlId::RestrictedPorts, Pass, false)]),
        at("2026-03-01T12:00:00Z"),
    );
    let reviewed = &results(&document)[0]["reviewed-controls"];
    let ids: Vec<&str> = reviewed["control-selections"][0]["include-controls"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["control-id"].as_str().unwrap())
        .collect();
    for framework in FRAMEWORKS {
        for reference in ControlId::RestrictedPorts.references(framework) {
            assert!(ids.contains(&control_id(reference).as_str()), "{ids:?}");
        }
    }
    assert!(ids.iter().any(|id| id.starts_with("iso27001-2022_")));
    assert!(ids.iter().any(|id| id.starts_with("soc2_")));
    assert_eq!(
        reviewed["control-objective-selections"][0]["include-objectives"],
        json!([{"objective-id": "restricted-ports"}])
    );
}

/// Every `uuid` member anywhere in a document.
fn uuids(value: &Value, out: &mut Vec<String>) {
    match value {
        Value::Object(map) => {
            for (key, v) in map {
                if key == "uuid" {
                    out.push(v.as_str().unwrap().to_string());
                }
                uuids(v, out);
            }
        }
        Value::Array(items) => items.iter().for_each(|v| uuids(v, out)),
        _ => {}
    }
}

#[test]
fn the_same_input_gives_the_same_document_but_for_last_modified() {
    let input = assessment(vec![
        (ControlId::RestrictedPorts, Exempt, true),
        (ControlId::TrustedImages, Fail, false),
    ]);
    let one = assessment_results(&input, at("2026-03-01T12:00:00Z"));
    let two = assessment_results(&input, at("2026-03-01T12:00:00Z"));
    assert_eq!(to_text(&one), to_text(&two));
    let mut later = assessment_results(&input, at("2026-03-02T08:00:00Z"));
    assert_eq!(
        later["assessment-results"]["metadata"]["last-modified"],
        "2026-03-02T08:00:00Z"
    );
    later["assessment-results"]["metadata"]["last-modified"] = json!("2026-03-01T12:00:00Z");
    assert_eq!(later, one);
    // Another cluster or resource gives other UUIDs: results of a fleet never collide.
    let mut other = input.clone();
    other.resources[0].cluster = Some("another-uid".into());
    let other = assessment_results(&other, at("2026-03-01T12:00:00Z"));
    assert_ne!(results(&other)[0]["uuid"], results(&one)[0]["uuid"]);
}

#[test]
fn every_uuid_is_a_unique_v5_uuid() {
    for document in [
        assessment_results(
            &assessment(vec![
                (ControlId::RestrictedPorts, Exempt, true),
                (ControlId::TrustedImages, Fail, true),
            ]),
            at("2026-03-01T12:00:00Z"),
        ),
        assessment_plan(at("2026-03-01T12:00:00Z")),
        component_definition(at("2026-03-01T12:00:00Z")),
    ] {
        let mut all = Vec::new();
        uuids(&document, &mut all);
        assert!(!all.is_empty());
        for id in &all {
            let parsed = uuid::Uuid::parse_str(id).unwrap();
            assert_eq!(parsed.get_version_num(), 5, "{id}");
        }
        let count = all.len();
        all.sort();
        all.dedup();
        assert_eq!(all.len(), count, "a UUID is used twice");
    }
}

#[test]
fn the_component_definition_maps_all_15_controls_to_their_references() {
    let document = component_definition(at("2026-03-01T12:00:00Z"));
    let implementations =
        document["component-definition"]["components"][0]["control-implementations"]
            .as_array()
            .unwrap();
    assert_eq!(implementations.len(), FRAMEWORKS.len());
    let mut mapped: Vec<(String, String)> = Vec::new();
    for implementation in implementations {
        for requirement in implementation["implemented-requirements"]
            .as_array()
            .unwrap()
        {
            let control_id = requirement["control-id"].as_str().unwrap().to_string();
            for p in requirement["props"].as_array().unwrap() {
                if p["name"] == "control" {
                    mapped.push((p["value"].as_str().unwrap().into(), control_id.clone()));
                }
            }
        }
    }
    assert_eq!(ControlId::ALL.len(), 15);
    for control in ControlId::ALL {
        for framework in FRAMEWORKS {
            for reference in control.references(framework) {
                assert!(
                    mapped.contains(&(control.as_str().into(), control_id(reference))),
                    "{control} -> {reference} missing"
                );
            }
        }
        assert!(
            mapped.iter().any(|(c, _)| c == control.as_str()),
            "{control} is mapped to nothing"
        );
    }
}

#[test]
fn the_plan_reviews_every_reference_the_results_name() {
    let plan = assessment_plan(at("2026-03-01T12:00:00Z"));
    assert_eq!(
        plan["assessment-plan"]["reviewed-controls"],
        results::reviewed_controls(ControlId::ALL)
    );
    let results = assessment_results(
        &assessment(vec![(ControlId::RestrictedPorts, Pass, false)]),
        at("2026-03-01T12:00:00Z"),
    );
    assert_eq!(
        results["assessment-results"]["import-ap"]["href"],
        PLAN_FILE
    );
}

#[test]
fn prop_values_are_one_trimmed_line_and_empty_ones_are_left_out() {
    assert_eq!(prop("x", "  a\n b  ").unwrap()["value"], "a b");
    assert!(prop("x", " \n").is_none());
}

/// A fleet cluster whose verified chain evaluated nothing in the period still names every
/// control as reviewed (OSCAL selections need one) and has no finding: nothing is proven.
#[test]
fn a_fleet_cluster_that_evaluated_nothing_reviews_every_control_and_proves_none() {
    let fleet = FleetAssessment {
        title: "fleet".into(),
        description: "fleet".into(),
        scope: "fleet/test".into(),
        start: at("2026-03-01T00:00:00Z"),
        end: at("2026-03-02T00:00:00Z"),
        props: Vec::new(),
        clusters: vec![ClusterAssessment {
            cluster: "eu-1".into(),
            props: Vec::new(),
            outcome: ClusterOutcome::Verified(Vec::new()),
        }],
    };
    let document = fleet_assessment_results(&fleet, at("2026-03-03T00:00:00Z"));
    let result = &document["assessment-results"]["results"][0];
    assert_eq!(result["title"], "Cluster eu-1: nothing evaluated");
    let objectives =
        result["reviewed-controls"]["control-objective-selections"][0]["include-objectives"]
            .as_array()
            .unwrap();
    assert_eq!(objectives.len(), ControlId::ALL.len());
    assert!(
        !result["reviewed-controls"]["control-selections"][0]["include-controls"]
            .as_array()
            .unwrap()
            .is_empty()
    );
    assert!(result.get("findings").is_none());
}
