//! The HTML period report, rendered in headless Chromium (Debian's `chromium` package, which
//! `tests/browser/install-chromium` installs when missing): the timeline of every control is
//! drawn, the failure the log holds is a red bar in its control, the page logs no console
//! error (its Content-Security-Policy would turn any fetch into one), and a screenshot is kept
//! as a test artifact under target/.
//!
//! The log is written through the library (a local store) and the report by the real binary.

use baseline_operator::api::{ControlState, Finding};
use baseline_operator::catalog::ControlId;
use baseline_operator::history::*;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

const BIN: &str = env!("CARGO_BIN_EXE_baseline-operator");
const CHROMIUM: &str = "/usr/bin/chromium";

fn install_chromium() {
    let script = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/browser/install-chromium"
    );
    let out = Command::new(script)
        .output()
        .expect("running install-chromium");
    eprintln!("{}", String::from_utf8_lossy(&out.stdout));
    assert!(
        out.status.success(),
        "tests/browser/install-chromium failed:\n{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(Path::new(CHROMIUM).exists(), "{CHROMIUM} still missing");
}

/// Headless Chromium with a throwaway profile and nothing that reaches the network by itself.
fn chromium(profile: &Path, args: &[&str]) -> Output {
    let mut child = Command::new(CHROMIUM)
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--disable-dev-shm-usage",
            "--enable-logging=stderr",
            "--v=0",
        ])
        .arg(format!("--user-data-dir={}", profile.display()))
        .args(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("starting chromium");
    // Read both pipes on threads so a chatty Chromium never blocks on a full pipe.
    let mut stdout = child.stdout.take().unwrap();
    let mut stderr = child.stderr.take().unwrap();
    let out_thread = std::thread::spawn(move || {
        let mut buffer = Vec::new();
        std::io::Read::read_to_end(&mut stdout, &mut buffer).ok();
        buffer
    });
    let err_thread = std::thread::spawn(move || {
        let mut buffer = Vec::new();
        std::io::Read::read_to_end(&mut stderr, &mut buffer).ok();
        buffer
    });
    let deadline = Instant::now() + Duration::from_secs(120);
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            panic!("chromium did not finish within 120s");
        }
        std::thread::sleep(Duration::from_millis(100));
    };
    Output {
        status,
        stdout: out_thread.join().unwrap(),
        stderr: err_thread.join().unwrap(),
    }
}

fn at(text: &str) -> jiff::Timestamp {
    text.parse().unwrap()
}

fn observation(name: &str, control: ControlId, state: ControlState) -> Observation {
    let failing = state == ControlState::Fail;
    Observation {
        resource: ResourceRef {
            kind: "SecurityBaseline".into(),
            name: name.into(),
        },
        generation: Some(1),
        spec_hash: spec_hash(&serde_json::json!({"mode": "Audit"})),
        control,
        state,
        checked: 5,
        failed: i32::from(failing),
        exempted: 0,
        findings: if failing {
            vec![Finding {
                kind: "Pod".into(),
                namespace: Some("shop".into()),
                name: "web-0".into(),
                message: "runs privileged".into(),
            }]
        } else {
            Vec::new()
        },
        exemptions: Vec::new(),
    }
}

fn transition(time: &str, name: &str, control: ControlId, state: ControlState) -> Record {
    Record {
        at: at(time),
        event: Event::Transition {
            from: None,
            observation: observation(name, control, state),
        },
    }
}

/// Two controls over a week: workload-hardening fails for a day and a half; trusted-images
/// passes throughout; the operator is down for two days in the middle (a gap for both).
async fn known_log(dir: &Path, key: &SigningKey) {
    let mut log = Log::open(Store::Local(LocalStore::new(dir)), key.clone(), "op-0")
        .await
        .unwrap();
    let hardening = ControlId::WorkloadHardening;
    let images = ControlId::TrustedImages;
    let checkpoint = |time: &str, control, state| Record {
        at: at(time),
        event: Event::Checkpoint {
            observation: observation("prod", control, state),
        },
    };
    for (time, records) in [
        (
            "2026-04-01T00:00:00Z",
            vec![
                transition(
                    "2026-04-01T00:00:00Z",
                    "prod",
                    hardening,
                    ControlState::Pass,
                ),
                transition("2026-04-01T00:00:00Z", "prod", images, ControlState::Pass),
            ],
        ),
        (
            "2026-04-02T06:00:00Z",
            vec![transition(
                "2026-04-02T06:00:00Z",
                "prod",
                hardening,
                ControlState::Fail,
            )],
        ),
        (
            "2026-04-03T00:00:00Z",
            vec![
                checkpoint("2026-04-03T00:00:00Z", hardening, ControlState::Fail),
                checkpoint("2026-04-03T00:00:00Z", images, ControlState::Pass),
            ],
        ),
        (
            "2026-04-03T18:00:00Z",
            vec![transition(
                "2026-04-03T18:00:00Z",
                "prod",
                hardening,
                ControlState::Pass,
            )],
        ),
        // Down from 18:00 on the 3rd until the 6th.
        (
            "2026-04-06T00:00:00Z",
            vec![
                Record {
                    at: at("2026-04-06T00:00:00Z"),
                    event: Event::Started {
                        identity: "op-1".into(),
                    },
                },
                checkpoint("2026-04-06T00:00:00Z", hardening, ControlState::Pass),
                checkpoint("2026-04-06T00:00:00Z", images, ControlState::Pass),
            ],
        ),
        (
            "2026-04-07T00:00:00Z",
            vec![
                checkpoint("2026-04-07T00:00:00Z", hardening, ControlState::Pass),
                checkpoint("2026-04-07T00:00:00Z", images, ControlState::Pass),
            ],
        ),
    ] {
        assert!(records.iter().all(|r| r.at == at(time)));
        log.append(records).await.unwrap();
    }
}

/// The part of the DOM inside the element that opens with `opening`.
fn section<'a>(dom: &'a str, opening: &str) -> &'a str {
    let start = dom
        .find(opening)
        .unwrap_or_else(|| panic!("{opening} not in the DOM"));
    let rest = &dom[start..];
    &rest[..rest.find("</section>").expect("section closes")]
}

#[tokio::test]
async fn the_html_report_draws_a_timeline_per_control_in_chromium() {
    install_chromium();
    let work = tempfile::tempdir().unwrap();
    let log_dir = work.path().join("log");
    let key = SigningKey::generate().unwrap();
    known_log(&log_dir, &key).await;
    let public_key = work.path().join("ed25519.pub");
    std::fs::write(&public_key, key.public_key().to_base64()).unwrap();
    let html = work.path().join("report.html");
    let out = Command::new(BIN)
        .args(["evidence", "report", "--dir"])
        .arg(&log_dir)
        .arg("--public-key")
        .arg(&public_key)
        .args([
            "--from",
            "2026-04-01",
            "--to",
            "2026-04-07",
            "--format",
            "html",
        ])
        .arg("--out")
        .arg(&html)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "evidence report: {}",
        String::from_utf8_lossy(&out.stderr)
    );

    let url = format!("file://{}", html.display());
    let profile = work.path().join("profile");
    let dumped = chromium(&profile, &["--dump-dom", &url]);
    assert!(dumped.status.success(), "chromium --dump-dom failed");
    let dom = String::from_utf8(dumped.stdout).unwrap();
    let stderr = String::from_utf8_lossy(&dumped.stderr);
    let console: Vec<&str> = stderr.lines().filter(|l| l.contains(":CONSOLE")).collect();
    assert!(
        console.is_empty(),
        "console messages:\n{}",
        console.join("\n")
    );

    // One timeline per control, each with its spans.
    assert_eq!(
        dom.matches("<section class=\"control\"").count(),
        2,
        "{dom}"
    );
    assert_eq!(dom.matches("<svg class=\"timeline\"").count(), 2);
    let hardening = section(
        &dom,
        "<section class=\"control\" id=\"control-securitybaseline-prod-workload-hardening\"",
    );
    let images = section(
        &dom,
        "<section class=\"control\" id=\"control-securitybaseline-prod-trusted-images\"",
    );
    // The failure the log holds is one red bar, 2nd 06:00 to 3rd 18:00, in its control only.
    assert_eq!(
        hardening.matches("class=\"span span-fail\"").count(),
        1,
        "{hardening}"
    );
    assert!(hardening.contains(
        "data-state=\"Fail\" data-start=\"2026-04-02T06:00:00Z\" data-end=\"2026-04-03T18:00:00Z\""
    ));
    assert_eq!(hardening.matches("<tr class=\"failure\">").count(), 1);
    assert!(hardening.contains("Pod shop/web-0: runs privileged"));
    assert!(!images.contains("span-fail"), "{images}");
    // The operator's downtime is a gap in both timelines, never a pass.
    for control in [hardening, images] {
        assert!(
            control.contains("data-state=\"Gap\" data-start=\"2026-04-03T18:00:00Z\" data-end=\"2026-04-06T00:00:00Z\""),
            "{control}"
        );
    }
    assert!(dom.contains("Chain and signatures verified"));

    // The screenshot, kept for a human to look at.
    let artifacts = Path::new(env!("CARGO_TARGET_TMPDIR")).join("history-report");
    std::fs::create_dir_all(&artifacts).unwrap();
    let screenshot: PathBuf = artifacts.join("report.png");
    let _ = std::fs::remove_file(&screenshot);
    let shot = chromium(
        &profile,
        &[
            "--window-size=1280,1800",
            &format!("--screenshot={}", screenshot.display()),
            &url,
        ],
    );
    assert!(shot.status.success(), "chromium --screenshot failed");
    let png = std::fs::read(&screenshot).expect("the screenshot was written");
    assert!(png.starts_with(b"\x89PNG\r\n\x1a\n") && png.len() > 10_000);
    eprintln!("screenshot: {}", screenshot.display());
}
