//! OSCAL documents from a real history, read by a real consumer: the operator binary writes
//! its signed history to the backup stack's S3 server (MinIO on loopback) while a namespace
//! fails and is fixed and another is exempted; `evidence report --format oscal` and
//! `evidence --out` turn it into OSCAL Assessment Results (with the Assessment Plan and
//! Component Definition beside them), which compliance-trestle (pinned, installed by
//! tests/oscal/install) loads and NIST's OSCAL JSON schema (pinned in tests/fixtures/oscal)
//! validates. The findings' intervals are the period report's; tampered documents are refused.
//!
//! A test binary of its own: it needs the backup stack and runs an operator process with
//! short history intervals.

use baseline_operator::api::{ControlState, SecurityBaseline};
use baseline_operator::history::{Event, PeriodReport};
use baseline_test_support::*;
use jiff::Timestamp;
use k8s_openapi::api::apps::v1::Deployment;
use kube::api::{Api, PostParams};
use serde_json::{Value, json};
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::Duration;

const BIN: &str = env!("CARGO_BIN_EXE_baseline-operator");
const TIMEOUT: Duration = Duration::from_secs(60);
const CHECKPOINT_SECONDS: u64 = 15;
const SCHEMA: &str = "tests/fixtures/oscal/oscal_complete_schema-1.1.3.json";

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

/// The venv python with the pinned compliance-trestle (installed once, cached).
fn oscal_python() -> PathBuf {
    let out = Command::new(Path::new(REPO).join("tests/oscal/install"))
        .output()
        .expect("running tests/oscal/install");
    assert!(out.status.success(), "tests/oscal/install: {}", text(&out));
    PathBuf::from(String::from_utf8_lossy(&out.stdout).trim())
}

/// Runs tests/oscal/validate.py (trestle, then the NIST schema) over `files`.
fn validate(files: &[PathBuf], extra: &[&str]) -> Output {
    Command::new(oscal_python())
        .arg(Path::new(REPO).join("tests/oscal/validate.py"))
        .args(extra)
        .arg(Path::new(REPO).join(SCHEMA))
        .args(files)
        .output()
        .expect("running validate.py")
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
async fn a_period_of_real_history_becomes_oscal_that_trestle_and_the_nist_schema_accept() {
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
    let period = |format: &str, file: &Path, env: &[(&str, &str)]| {
        let run = evidence(
            &history,
            &[
                "report",
                "--from",
                &from.to_string(),
                "--to",
                &to.to_string(),
                "--checkpoint-interval",
                &format!("{CHECKPOINT_SECONDS}s"),
                "--format",
                format,
                "--out",
                file.to_str().unwrap(),
            ],
            env,
        );
        assert!(run.status.success(), "{}", text(&run));
    };
    let report_file = dir.path().join("report.json");
    period("json", &report_file, &[]);
    let results_file = out.join("assessment-results.json");
    period(
        "oscal",
        &results_file,
        &[("SOURCE_DATE_EPOCH", "1767225600")],
    );
    let plan_file = out.join("assessment-plan.json");
    let components_file = out.join("component-definition.json");
    assert!(
        plan_file.exists() && components_file.exists(),
        "written beside the results"
    );

    // The same history and SOURCE_DATE_EPOCH give a byte-identical document.
    let again = dir.path().join("again.json");
    period("oscal", &again, &[("SOURCE_DATE_EPOCH", "1767225600")]);
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
        plan_file,
        components_file,
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
}

/// The committed schema is the file its README names (source and digest), for the OSCAL
/// version the pinned trestle implements.
#[test]
fn the_pinned_schema_is_the_file_its_readme_names() {
    use sha2::{Digest, Sha256};
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
