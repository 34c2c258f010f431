//! OSCAL documents from a real history, read by a real consumer: the operator binary writes
//! its signed history to the backup stack's S3 server (MinIO on loopback) while a namespace
//! fails and is fixed and another is exempted; `evidence report --format oscal` and
//! `evidence --out` turn it into OSCAL Assessment Results (with the Assessment Plan and
//! Component Definition beside them), which compliance-trestle (pinned, installed by
//! tests/oscal/install) loads and NIST's OSCAL JSON schema (pinned in tests/fixtures/oscal)
//! validates. The findings are the period report's, control by control and interval by
//! interval; tampered documents are refused. The period's OSCAL files are signed as a DSSE
//! in-toto attestation (`--attest --signing-key`, the history's key) that cosign (built from
//! its pinned module by tests/cosign/build) verifies; a copy of the OSCAL file with one byte
//! changed fails cosign and, as the byte decides, trestle and the schema or the attested digest.
//!
//! A test binary of its own: it needs the backup stack and runs an operator process with
//! short history intervals.

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use baseline_operator::api::{ControlState, SecurityBaseline};
use baseline_operator::history::attestation::{PERIOD_REPORT_PREDICATE, Statement};
use baseline_operator::history::dsse::Envelope;
use baseline_operator::history::{Event, PeriodReport, PeriodState};
use baseline_test_support::cosign::verify_blob_attestation;
use baseline_test_support::oscal::{SCHEMA, validate};
use baseline_test_support::*;
use jiff::Timestamp;
use k8s_openapi::api::apps::v1::Deployment;
use kube::api::{Api, PostParams};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};
use std::path::{Path, PathBuf};
use std::process::Output;
use std::time::Duration;

const BIN: &str = env!("CARGO_BIN_EXE_baseline-operator");
const TIMEOUT: Duration = Duration::from_secs(60);
const CHECKPOINT_SECONDS: u64 = 15;

/// The operator process writing `history`, with a short checkpoint interval.
fn operator(history: &SignedHistory) -> OperatorProcess {
    let lease = format!("oscal-{}", std::process::id());
    let mut command = history.operator_command(BIN, "oscal-e2e", &lease, free_port());
    command.arg(format!("--history-checkpoint-seconds={CHECKPOINT_SECONDS}"));
    OperatorProcess(command.spawn().expect("starting the operator binary"))
}

/// `baseline-operator evidence <args>` against `history`, as an auditor runs it, with `env`.
fn evidence(history: &SignedHistory, args: &[&str], env: &[(&str, &str)]) -> Output {
    history
        .evidence_command(BIN, args)
        .envs(env.iter().copied())
        .output()
        .expect("running baseline-operator evidence")
}

fn text(out: &Output) -> String {
    format!(
        "exit {:?}\nstdout:\n{}\nstderr:\n{}",
        out.status.code(),
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

async fn trusted_images(api: &Api<SecurityBaseline>, name: &str) -> Option<ControlState> {
    let sb = api.get_opt(name).await.ok()??;
    sb.status?
        .controls
        .iter()
        .find(|c| c.id.as_str() == "trusted-images")
        .map(|c| c.state)
}

fn read_json(path: &Path) -> Value {
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

fn props<'a>(object: &'a Value, name: &'a str) -> impl Iterator<Item = &'a Value> + 'a {
    object["props"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(move |p| p["name"] == name)
}

fn prop_value<'a>(object: &'a Value, name: &'a str) -> Option<&'a str> {
    props(object, name).next().and_then(|p| p["value"].as_str())
}

#[tokio::test]
async fn the_operators_history_becomes_signed_oscal_that_trestle_and_cosign_accept_and_a_changed_byte_fails_both()
 {
    let cluster = velero_cluster();
    let dir = tempfile::tempdir().unwrap();
    let history = SignedHistory::new(
        cluster.s3().expect("the S3 server"),
        "oscal-e2e",
        dir.path(),
    );
    let client = client().await;
    let pid = std::process::id();
    let label = ("oscal-e2e", "yes");
    let shop = namespace(&client, &format!("oscal-shop-{pid}"), &[label]).await;
    let legacy = namespace(&client, &format!("oscal-legacy-{pid}"), &[label]).await;
    let shops: Api<Deployment> = Api::namespaced(client.clone(), &shop);
    shops
        .create(
            &PostParams::default(),
            &shop_deployment(&shop, "registry.example.com/shop:1.0"),
        )
        .await
        .unwrap();
    // An untrusted image the exemption waives for the whole test.
    Api::<Deployment>::namespaced(client.clone(), &legacy)
        .create(
            &PostParams::default(),
            &shop_deployment(&legacy, "docker.io/legacy/billing:7"),
        )
        .await
        .unwrap();
    let from = Timestamp::now();
    let _operator = operator(&history);
    let name = format!("oscal-{pid}");
    let api: Api<SecurityBaseline> = apply_cr(
        &client,
        &name,
        json!({
            "mode": "Audit",
            "namespaceSelector": {"matchLabels": {"oscal-e2e": "yes"}},
            "images": {"allowedRegistries": ["registry.example.com/"]},
            "exemptions": [{
                "controls": ["trusted-images"],
                "namespaces": [legacy],
                "reason": "The billing app is migrated off its vendor image in Q3",
                "approvedBy": "jane.doe@example.com",
                "ticket": "SEC-123",
                "expires": "2099-01-01",
            }],
        }),
    )
    .await;
    wait_until("trusted-images is exempt", TIMEOUT, || async {
        trusted_images(&api, &name).await == Some(ControlState::Exempt)
    })
    .await;
    shops
        .replace(
            "shop",
            &PostParams::default(),
            &shop_deployment(&shop, "docker.io/evil/shop:1"),
        )
        .await
        .unwrap();
    wait_until("trusted-images fails", TIMEOUT, || async {
        trusted_images(&api, &name).await == Some(ControlState::Fail)
    })
    .await;
    tokio::time::sleep(Duration::from_secs(2)).await;
    shops
        .replace(
            "shop",
            &PostParams::default(),
            &shop_deployment(&shop, "registry.example.com/shop:1.1"),
        )
        .await
        .unwrap();
    wait_until("trusted-images is exempt again", TIMEOUT, || async {
        trusted_images(&api, &name).await == Some(ControlState::Exempt)
    })
    .await;
    let recorded = |state: ControlState| {
        history.entries().iter().any(|e| {
            matches!(&e.record.event, Event::Transition { observation, .. }
                if observation.control.as_str() == "trusted-images" && observation.state == state
                    && observation.resource.name == name)
        })
    };
    wait_until("the history records the fix", TIMEOUT, || async {
        recorded(ControlState::Fail) && {
            let entries = history.entries();
            let last_fail = entries.iter().rposition(|e| {
                matches!(&e.record.event, Event::Transition { observation, .. }
                    if observation.state == ControlState::Fail && observation.resource.name == name)
            });
            last_fail.is_some_and(|i| {
                entries[i..].iter().any(|e| {
                    matches!(&e.record.event, Event::Transition { observation, .. }
                        if observation.state == ControlState::Exempt && observation.resource.name == name)
                })
            })
        }
    })
    .await;
    let to = Timestamp::now();

    // The period, as the JSON report and as OSCAL, from the same verified chain.
    let out = dir.path().join("period");
    std::fs::create_dir_all(&out).unwrap();
    let period = |format: &str, file: &Path, env: &[(&str, &str)], extra: &[&str]| {
        let (from, to) = (from.to_string(), to.to_string());
        let interval = format!("{CHECKPOINT_SECONDS}s");
        let mut args = vec![
            "report",
            "--from",
            &from,
            "--to",
            &to,
            "--checkpoint-interval",
            &interval,
            "--format",
            format,
            "--out",
            file.to_str().unwrap(),
        ];
        args.extend_from_slice(extra);
        let run = evidence(&history, &args, env);
        assert!(run.status.success(), "{}", text(&run));
    };
    let report_file = dir.path().join("report.json");
    period("json", &report_file, &[], &[]);
    // The OSCAL files, signed with the history's key as they are written.
    let results_file = out.join("assessment-results.json");
    let envelope_file = out.join("assessment-results.intoto.json");
    period(
        "oscal",
        &results_file,
        &[("SOURCE_DATE_EPOCH", "1767225600")],
        &[
            &format!("--attest={}", envelope_file.display()),
            &format!("--signing-key={}", history.key_file.display()),
        ],
    );
    let plan_file = out.join("assessment-plan.json");
    let components_file = out.join("component-definition.json");
    assert!(
        plan_file.exists() && components_file.exists(),
        "written beside the results"
    );

    // The same history and SOURCE_DATE_EPOCH give a byte-identical document.
    let again = dir.path().join("again.json");
    period("oscal", &again, &[("SOURCE_DATE_EPOCH", "1767225600")], &[]);
    assert_eq!(
        std::fs::read(&results_file).unwrap(),
        std::fs::read(&again).unwrap()
    );

    // The findings are the period report's: the same intervals, never satisfied with a Fail.
    let report: PeriodReport = serde_json::from_slice(&std::fs::read(&report_file).unwrap())
        .expect("the JSON report parses");
    let control = report
        .controls
        .iter()
        .find(|c| c.resource.name == name && c.control.as_str() == "trusted-images")
        .expect("trusted-images in the report");
    assert!(!control.failures.is_empty(), "{control:#?}");
    let document = read_json(&results_file);
    let ar = &document["assessment-results"];
    assert_eq!(ar["metadata"]["oscal-version"], "1.1.3");
    assert_eq!(ar["metadata"]["last-modified"], "2026-01-01T00:00:00Z");
    assert_eq!(ar["import-ap"]["href"], "assessment-plan.json");
    let result = ar["results"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| prop_value(r, "resource-name") == Some(name.as_str()))
        .expect("a result for the SecurityBaseline");
    assert_eq!(result["start"], from.to_string());
    assert_eq!(result["end"], to.to_string());
    let finding = result["findings"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["target"]["target-id"] == "trusted-images")
        .expect("a finding for trusted-images");
    let intervals: Vec<(String, String)> = props(finding, "interval")
        .map(|p| {
            (
                p["class"].as_str().unwrap().to_string(),
                p["value"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    let timeline: Vec<(String, String)> = control
        .timeline
        .iter()
        .map(|s| {
            (
                baseline_operator::evidence::oscal::state_token(s.state).to_string(),
                format!("{}/{}", s.start, s.end),
            )
        })
        .collect();
    assert_eq!(intervals, timeline);
    for failure in &control.failures {
        let value = format!("{}/{}", failure.start, failure.end);
        assert!(
            intervals.contains(&("fail".into(), value.clone())),
            "{value} in {intervals:?}"
        );
    }
    assert_eq!(finding["target"]["status"]["state"], "not-satisfied");
    assert_eq!(finding["target"]["status"]["reason"], "fail");

    // Every control of the period, not only the one that failed: its finding carries the
    // report's timeline as `interval` props, its `fail` intervals are the report's failure
    // intervals value for value, and it is not-satisfied exactly when the timeline holds
    // anything but Pass, Exempt or Absent (the verdict and reason the report's spans give).
    let results = ar["results"].as_array().unwrap();
    for control in &report.controls {
        let result = results
            .iter()
            .find(|r| {
                prop_value(r, "resource-kind") == Some(control.resource.kind.as_str())
                    && prop_value(r, "resource-name") == Some(control.resource.name.as_str())
            })
            .unwrap_or_else(|| panic!("a result for {:?}", control.resource));
        let finding = result["findings"]
            .as_array()
            .unwrap()
            .iter()
            .find(|f| f["target"]["target-id"] == control.control.as_str())
            .unwrap_or_else(|| panic!("a finding for {}", control.control));
        let intervals: Vec<(String, String)> = props(finding, "interval")
            .map(|p| {
                (
                    p["class"].as_str().unwrap().to_string(),
                    p["value"].as_str().unwrap().to_string(),
                )
            })
            .collect();
        let timeline: Vec<(String, String)> = control
            .timeline
            .iter()
            .map(|s| {
                (
                    baseline_operator::evidence::oscal::state_token(s.state).to_string(),
                    format!("{}/{}", s.start, s.end),
                )
            })
            .collect();
        assert_eq!(intervals, timeline, "{}", control.control);
        let failing: Vec<&str> = intervals
            .iter()
            .filter(|(class, _)| class == "fail")
            .map(|(_, value)| value.as_str())
            .collect();
        let failures: Vec<String> = control
            .failures
            .iter()
            .map(|f| format!("{}/{}", f.start, f.end))
            .collect();
        assert_eq!(failing, failures, "{}", control.control);
        let proves_nothing_or_fails = control.timeline.iter().any(|s| {
            !matches!(
                s.state,
                PeriodState::Pass | PeriodState::Exempt | PeriodState::Absent
            )
        });
        let state = finding["target"]["status"]["state"].as_str().unwrap();
        assert_eq!(
            state == "not-satisfied",
            proves_nothing_or_fails,
            "{}: {state} for {timeline:?}",
            control.control
        );
        if !control.failures.is_empty() {
            assert_eq!(finding["target"]["status"]["reason"], "fail");
        }
    }
    assert!(
        report.controls.len() > 1,
        "more than one control compared: {}",
        report.controls.len()
    );

    // Each evaluation is an observation citing its entry's digest, which is in the chain.
    let entries = history.entries();
    let observations = result["observations"].as_array().unwrap();
    let cited: Vec<&str> = finding["related-observations"]
        .as_array()
        .unwrap()
        .iter()
        .map(|o| o["observation-uuid"].as_str().unwrap())
        .collect();
    assert!(!cited.is_empty());
    for uuid in cited {
        let observation = observations
            .iter()
            .find(|o| o["uuid"] == uuid)
            .expect("the cited observation");
        assert_eq!(observation["methods"], json!(["TEST"]));
        let hash = prop_value(observation, "history-entry-hash").expect("the entry's digest");
        let entry = entries
            .iter()
            .find(|e| e.hash == hash)
            .expect("the digest names an entry of the chain");
        assert_eq!(observation["collected"], entry.record.at.to_string());
    }

    // The exemption in force is a risk with its approver, ticket and expiry.
    let risk = &result["risks"][0];
    assert_eq!(risk["status"], "deviation-approved");
    assert_eq!(
        prop_value(risk, "approved-by"),
        Some("jane.doe@example.com")
    );
    assert_eq!(prop_value(risk, "ticket"), Some("SEC-123"));
    assert_eq!(prop_value(risk, "expires"), Some("2099-01-01"));
    assert_eq!(finding["related-risks"][0]["risk-uuid"], risk["uuid"]);

    // The current state, from `evidence --out`, beside evidence.json and in SHA256SUMS.
    let bundle = dir.path().join("bundle");
    export_evidence(BIN, &bundle);
    let sums = std::fs::read_to_string(bundle.join("SHA256SUMS")).unwrap();
    for name in [
        "assessment-results.json",
        "assessment-plan.json",
        "component-definition.json",
    ] {
        assert!(sums.contains(&format!("  {name}\n")), "{name} in {sums}");
    }
    let now = read_json(&bundle.join("assessment-results.json"));
    let current = now["assessment-results"]["results"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| prop_value(r, "resource-name") == Some(name.as_str()))
        .expect("a current result for the SecurityBaseline");
    let uid = prop_value(current, "cluster").expect("the cluster in the result's props");
    assert!(!uid.is_empty());
    let now_finding = current["findings"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["target"]["target-id"] == "trusted-images")
        .unwrap();
    assert_eq!(now_finding["target"]["status"]["state"], "satisfied");
    assert_eq!(now_finding["target"]["status"]["reason"], "exempt");

    // The real consumer accepts all six documents.
    let files = vec![
        results_file.clone(),
        plan_file.clone(),
        components_file.clone(),
        bundle.join("assessment-results.json"),
        bundle.join("assessment-plan.json"),
        bundle.join("component-definition.json"),
    ];
    let validated = validate(&files, &[]);
    assert!(validated.status.success(), "{}", text(&validated));
    let stdout = String::from_utf8_lossy(&validated.stdout);
    assert_eq!(
        stdout.lines().filter(|l| l.starts_with("OK ")).count(),
        6,
        "{stdout}"
    );
    assert!(stdout.contains("OSCAL 1.1.3"), "{stdout}");

    // Tampered documents are refused: by trestle, and by the schema on its own.
    let tamper = |file: &str, edit: &dyn Fn(&mut Value)| {
        let mut document = read_json(&results_file);
        edit(&mut document["assessment-results"]);
        let path = dir.path().join(file);
        std::fs::write(&path, serde_json::to_vec(&document).unwrap()).unwrap();
        path
    };
    let tampered = [
        tamper("no-collected.json", &|ar| {
            ar["results"][0]["observations"][0]
                .as_object_mut()
                .unwrap()
                .remove("collected");
        }),
        tamper("bad-uuid.json", &|ar| {
            ar["results"][0]["findings"][0]["uuid"] = json!("not-a-uuid");
        }),
        tamper("no-method.json", &|ar| {
            ar["results"][0]["observations"][0]["methods"] = json!([]);
        }),
    ];
    for extra in [&[][..], &["--schema-only"][..]] {
        let refused = validate(&tampered, extra);
        assert_eq!(
            refused.status.code(),
            Some(1),
            "{extra:?}: {}",
            text(&refused)
        );
        let stdout = String::from_utf8_lossy(&refused.stdout);
        assert_eq!(
            stdout.lines().filter(|l| l.starts_with("REFUSED ")).count(),
            tampered.len(),
            "{extra:?}: {stdout}"
        );
    }

    // The period's OSCAL files are signed: the statement names each file's digest, and cosign
    // verifies every one of them against the envelope with the history's key in PEM.
    let pem = out.join("assessment-results.intoto.pub.pem");
    let envelope: Envelope =
        serde_json::from_slice(&std::fs::read(&envelope_file).unwrap()).unwrap();
    assert_eq!(envelope.payload_type, "application/vnd.in-toto+json");
    let statement: Statement =
        serde_json::from_slice(&STANDARD.decode(&envelope.payload).unwrap()).unwrap();
    assert_eq!(statement.predicate_type, PERIOD_REPORT_PREDICATE);
    let sha256 = |bytes: &[u8]| hex::encode(Sha256::digest(bytes));
    let attested = |name: &str| -> String {
        statement
            .subject
            .iter()
            .find(|s| s.name == name)
            .unwrap_or_else(|| panic!("{name} is a subject of {:?}", statement.subject))
            .digest["sha256"]
            .clone()
    };
    let original = std::fs::read(&results_file).unwrap();
    assert_eq!(attested("assessment-results.json"), sha256(&original));
    for file in [&results_file, &plan_file, &components_file] {
        let verified = verify_blob_attestation(&pem, &envelope_file, PERIOD_REPORT_PREDICATE, file);
        assert!(
            verified.status.success()
                && String::from_utf8_lossy(&verified.stderr).contains("Verified OK"),
            "cosign on {}: {}",
            file.display(),
            text(&verified)
        );
    }

    // A copy of the OSCAL file with one byte changed fails both checks. `at` picks the byte;
    // the copy keeps the file's name, in a directory of its own.
    let one_byte_changed = |case: &str, at: usize, byte: u8| -> PathBuf {
        let mut changed = original.clone();
        assert_ne!(changed[at], byte, "{case}: the byte changes");
        changed[at] = byte;
        let path = dir.path().join(case).join("assessment-results.json");
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(&path, &changed).unwrap();
        path
    };
    let results_text = String::from_utf8(original.clone()).unwrap();
    let cosign_refuses = |path: &Path, case: &str| {
        let refused = verify_blob_attestation(&pem, &envelope_file, PERIOD_REPORT_PREDICATE, path);
        assert!(
            !refused.status.success()
                && String::from_utf8_lossy(&refused.stderr)
                    .contains("no matching subject digest found"),
            "cosign must refuse {case} for its digest: {}",
            text(&refused)
        );
    };
    // 1. A finding's UUID no longer a UUID: trestle refuses the document, and so does the
    //    schema on its own; cosign refuses it for its digest.
    let uuid_at = results_text.find(r#""findings": ["#).unwrap();
    let uuid_at = uuid_at + results_text[uuid_at..].find(r#""uuid": ""#).unwrap() + 9;
    let broken_uuid = one_byte_changed("tampered-uuid", uuid_at, b'z');
    for (extra, why) in [
        (&[][..], "trestle refuses it as assessment-results"),
        (&["--schema-only"][..], "the schema rejects it"),
    ] {
        let refused = validate(std::slice::from_ref(&broken_uuid), extra);
        assert_eq!(refused.status.code(), Some(1), "{}", text(&refused));
        assert!(
            String::from_utf8_lossy(&refused.stdout).contains(why),
            "{extra:?}: {}",
            text(&refused)
        );
    }
    cosign_refuses(&broken_uuid, "a broken UUID");
    // 2. The failure interval moved by one digit: still a valid document (trestle and the
    //    schema cannot know what the interval was), so only the attested digest tells, and
    //    cosign refuses it.
    let failure = &control.failures[0];
    let value = format!(r#""value": "{}/{}""#, failure.start, failure.end);
    let interval_at = results_text.find(&value).expect("the failure interval") + 10;
    let year = original[interval_at];
    let moved = one_byte_changed(
        "tampered-interval",
        interval_at,
        if year == b'1' { b'2' } else { b'1' },
    );
    let accepted = validate(std::slice::from_ref(&moved), &[]);
    assert!(accepted.status.success(), "{}", text(&accepted));
    assert_ne!(
        sha256(&std::fs::read(&moved).unwrap()),
        attested("assessment-results.json"),
        "the digest check refuses the moved interval"
    );
    cosign_refuses(&moved, "a moved failure interval");
}

/// The committed schema is the file its README names (source and digest), for the OSCAL
/// version the pinned trestle implements.
#[test]
fn the_pinned_schema_is_the_file_its_readme_names() {
    let schema = std::fs::read(Path::new(REPO).join(SCHEMA)).unwrap();
    let readme =
        std::fs::read_to_string(Path::new(REPO).join("tests/fixtures/oscal/README.md")).unwrap();
    let digest = hex::encode(Sha256::digest(&schema));
    assert!(
        readme.contains(&format!("File SHA-256: `{digest}`")),
        "the schema's SHA-256 {digest} is not the one tests/fixtures/oscal/README.md names"
    );
    let schema: Value = serde_json::from_slice(&schema).unwrap();
    assert_eq!(
        schema["$id"],
        format!(
            "http://csrc.nist.gov/ns/oscal/1.0/oscal-complete-{}-schema.json",
            baseline_operator::evidence::oscal::OSCAL_VERSION
        )
    );
    let requirements =
        std::fs::read_to_string(Path::new(REPO).join("tests/oscal/requirements.txt")).unwrap();
    assert!(requirements.contains("\ncompliance-trestle==3.12.4\n"));
}
