use super::*;
use crate::api::Finding;
use crate::catalog::ControlId;

fn bundle() -> Bundle {
    let control = |id: ControlId, state, failed: i32| ControlResult {
        id,
        title: id.title().into(),
        frameworks: id.framework_refs(),
        state,
        checked: 3,
        failed,
        exempted: 0,
        failed_findings: failed,
        exempted_findings: 0,
        findings: (0..failed)
            .map(|i| Finding {
                kind: "Namespace".into(),
                namespace: None,
                name: format!("shop-{i}"),
                message: "no default-deny | ingress".into(),
            })
            .collect(),
        note: String::new(),
        last_evaluated: None,
    };
    Bundle {
        history: vec![HistoryPublication {
            published_by: "baseline-system/baseline-evidence-history".into(),
            public_key: "cHVibGlj".into(),
            location: "s3://evidence/baseline-operator at https://s3.example.com".into(),
        }],
        generated_at: "2030-01-02T03:04:05Z".into(),
        operator_version: "0.1.0".into(),
        cluster: ClusterIdentity {
            kube_system_uid: "1234-abcd".into(),
            server_version: "v1.37.1".into(),
            platform: "linux/amd64".into(),
        },
        resources: vec![ResourceEvidence {
            kind: "SecurityBaseline".into(),
            name: "prod".into(),
            uid: "u".into(),
            mode: Mode::Enforce,
            generation: Some(1),
            observed_generation: Some(1),
            compliant: "False".into(),
            summary: Some(Summary {
                namespaces: 1,
                passing: 1,
                failing: 1,
                exempt: 0,
                score: 50,
                failing_controls: "restricted-ports".into(),
                ..Default::default()
            }),
            controls: vec![
                control(ControlId::RestrictedPorts, ControlState::Fail, 1),
                control(ControlId::EncryptionInTransit, ControlState::Pass, 0),
            ],
            exemptions: vec![Exemption {
                controls: vec![ControlId::TrustedImages],
                namespaces: vec!["legacy".into()],
                selector: None,
                reason: "vendor image".into(),
                approved_by: "ciso@example.com".into(),
                ticket: Some("SEC-42".into()),
                expires: "2030-06-30".into(),
            }],
            last_restore_test: None,
            scope: None,
            objects: vec![ControlObjects {
                control: ControlId::RestrictedPorts,
                failing: vec![ListedObject {
                    kind: "Namespace".into(),
                    namespace: None,
                    name: "shop-0".into(),
                    findings: vec!["no default-deny | ingress".into()],
                }],
                exempted: Vec::new(),
                complete: true,
                note: None,
            }],
        }],
        policy_reports: PolicyReports {
            served: true,
            cluster_served: true,
            note: None,
            reports: Vec::new(),
        },
        framework: None,
        frameworks: Vec::new(),
    }
    .for_frameworks(None)
}

/// The rows of the table in `section` (`### <name>`) of evidence.md, header excluded.
fn table<'a>(md: &'a str, section: &str) -> Vec<&'a str> {
    md.split(&format!("\n### {section}\n"))
        .nth(1)
        .unwrap_or_else(|| panic!("no section {section}:\n{md}"))
        .lines()
        .skip_while(|l| !l.starts_with('|'))
        .take_while(|l| l.starts_with('|'))
        .skip(2)
        .collect()
}

#[test]
fn markdown_has_identity_summary_framework_tables_and_exemptions() {
    let md = render_markdown(&bundle());
    assert!(
        md.contains("kube-system namespace uid `1234-abcd`, Kubernetes v1.37.1"),
        "{md}"
    );
    assert!(md.contains("2030-01-02T03:04:05Z"));
    assert!(
        md.contains(
            "| SecurityBaseline/prod | Enforce | False | 50 | 1 | 1 | 0 | restricted-ports |"
        ),
        "{md}"
    );
    let iso = table(&md, "ISO/IEC 27001:2022");
    assert!(
            iso.contains(&"| 8.20 | Networks security | `restricted-ports` | SecurityBaseline/prod | **Fail** | 3 | 1 | 0 |"),
            "{iso:#?}"
        );
    assert!(
            iso.contains(&"| 5.14 | Information transfer | `encryption-in-transit` | SecurityBaseline/prod | Pass | 3 | 0 | 0 |"),
            "{iso:#?}"
        );
    let soc2 = table(&md, "SOC 2");
    assert!(
        soc2.iter().any(|l| l.starts_with("| CC6.6 |")
            && l.ends_with(
                "| `restricted-ports` | SecurityBaseline/prod | **Fail** | 3 | 1 | 0 |"
            )),
        "{soc2:#?}"
    );
    assert!(
        soc2.iter().any(|l| l.starts_with("| CC6.7 |")
            && l.ends_with(
                "| `encryption-in-transit` | SecurityBaseline/prod | Pass | 3 | 0 | 0 |"
            )),
        "{soc2:#?}"
    );
    let old = table(&md, "ISO/IEC 27001:2013");
    assert!(old.iter().any(|l| l.starts_with("| A.13.1.1 | Network controls | `restricted-ports` | SecurityBaseline/prod | **Fail** |")), "{old:#?}");
    assert!(
        !md.contains("- Note:"),
        "status cites what the catalog does: {md}"
    );
    assert!(
        md.contains("no default-deny \\| ingress"),
        "pipes are escaped"
    );
    assert!(md.contains("| SecurityBaseline/prod | `trusted-images` | namespaces legacy | vendor image | ciso@example.com | 2030-06-30 | SEC-42 |"), "{md}");
    assert!(md.contains("The operator has written no PolicyReport"));
}

#[test]
fn every_framework_section_lists_each_reference_with_the_controls_that_prove_it() {
    let b = bundle();
    let keys: Vec<Framework> = b.frameworks.iter().map(|f| f.framework).collect();
    assert_eq!(keys, Framework::ALL);
    for section in &b.frameworks {
        // Every reference the catalog cites in this framework, each once, in the
        // standard's order.
        let mut expected: Vec<&str> = CATALOG
            .iter()
            .flat_map(|c| c.id.references(section.framework))
            .map(|r| r.id)
            .collect();
        expected.sort();
        expected.dedup();
        let mut got: Vec<&str> = section.references.iter().map(|r| r.id.as_str()).collect();
        got.sort();
        assert_eq!(got, expected, "{}", section.name);
        for reference in &section.references {
            for proof in &reference.controls {
                assert!(
                    proof
                        .control
                        .references(section.framework)
                        .any(|r| r.id == reference.id),
                    "{} does not cite {}",
                    proof.control,
                    reference.id
                );
            }
        }
    }
    let iso = &b.frameworks[0];
    let ids: Vec<&str> = iso.references.iter().map(|r| r.id.as_str()).collect();
    let position = |id: &str| ids.iter().position(|i| *i == id).unwrap();
    assert!(position("5.14") < position("8.2") && position("8.2") < position("8.13"));
    let backup = iso.references.iter().find(|r| r.id == "8.13").unwrap();
    assert!(
        backup.controls.iter().all(|c| c.results.is_empty()),
        "no BackupPolicy in the bundle: 8.13 has no resource"
    );
    let md = render_markdown(&b);
    assert!(table(&md, "ISO/IEC 27001:2022").contains(
        &"| 8.13 | Information backup | `automated-backup` | - | no resource | - | - | - |"
    ));
    let json = serde_json::to_value(&b).unwrap();
    assert_eq!(json["frameworks"][1]["framework"], "soc2");
    assert_eq!(json["frameworks"][1]["name"], "SOC 2");
    assert!(json.get("framework").is_none());
}

#[test]
fn a_framework_filter_keeps_its_section_and_the_controls_that_cite_it() {
    let mut unfiltered = bundle();
    let mut ha = unfiltered.resources[0].controls[1].clone();
    ha.id = ControlId::HighAvailability;
    ha.title = ha.id.title().into();
    ha.frameworks = ha.id.framework_refs();
    unfiltered.resources[0].controls.push(ha);
    for framework in Framework::ALL {
        let b = unfiltered.clone().for_frameworks(Some(framework));
        assert_eq!(b.framework, Some(framework));
        assert_eq!(b.frameworks.len(), 1);
        assert_eq!(b.frameworks[0].framework, framework);
        let md = render_markdown(&b);
        for other in Framework::ALL {
            assert_eq!(
                md.contains(&format!("\n### {}\n", other.name())),
                other == framework,
                "--framework {framework}: section {}",
                other.name()
            );
        }
        let kept: Vec<ControlId> = b.resources[0].controls.iter().map(|c| c.id).collect();
        // high-availability cites no ISO/IEC 27001:2013 control (the source policies
        // give none), so that bundle leaves it out.
        let expected_ha = framework != Framework::Iso27001v2013;
        assert_eq!(
            kept.contains(&ControlId::HighAvailability),
            expected_ha,
            "{framework}: {kept:?}"
        );
        assert!(kept.contains(&ControlId::RestrictedPorts));
        let json = serde_json::to_value(&b).unwrap();
        assert_eq!(json["framework"], framework.key());
    }
}

#[test]
fn a_status_citing_other_references_is_pointed_out() {
    let mut b = bundle();
    b.resources[0].controls[0].frameworks = vec!["ISO 27001 A.13.1.1".into()];
    let md = render_markdown(&b);
    assert!(
            md.contains("- Note: the status of SecurityBaseline/prod lists other references for `restricted-ports` than this catalog (written by another operator version): ISO 27001 A.13.1.1"),
            "{md}"
        );
}

/// The README shows an excerpt of evidence.md; it must be what the code writes for the
/// audit fixture (tests/fixtures/audit, evaluated offline as the operator would).
#[test]
fn readme_excerpt_is_what_the_code_writes_for_the_audit_fixture() {
    use clap::Parser;
    #[derive(Parser)]
    struct Cli {
        #[command(flatten)]
        audit: crate::audit::AuditArgs,
    }
    let root = env!("CARGO_MANIFEST_DIR");
    let fixture = |dir: &str| format!("{root}/tests/fixtures/audit/{dir}");
    let cli = Cli::parse_from([
        "audit",
        "--baselines",
        &fixture("baselines"),
        "--manifests",
        &fixture("manifests"),
        "--now",
        "2030-01-01T00:00:00Z",
    ]);
    let report = crate::audit::execute(&cli.audit).expect("the audit fixture evaluates");
    let resources = report
        .resources
        .iter()
        .map(|r| ResourceEvidence {
            kind: r.kind.clone(),
            name: r.name.clone(),
            uid: String::new(),
            mode: Mode::Audit,
            generation: None,
            observed_generation: None,
            compliant: String::new(),
            summary: None,
            controls: r
                .controls
                .iter()
                .map(|c| ControlResult {
                    id: c.id,
                    title: c.title.clone(),
                    frameworks: c.frameworks.clone(),
                    state: c.state,
                    checked: c.checked,
                    failed: c.failed,
                    exempted: c.exempted,
                    failed_findings: c.failed_findings,
                    exempted_findings: c.exempted_findings,
                    findings: c.findings.iter().take(10).cloned().collect(),
                    note: c.note.clone(),
                    last_evaluated: None,
                })
                .collect(),
            exemptions: Vec::new(),
            last_restore_test: None,
            scope: None,
            objects: Vec::new(),
        })
        .collect();
    let md = render_markdown(
        &Bundle {
            resources,
            ..Bundle::default()
        }
        .for_frameworks(None),
    );
    let readme = std::fs::read_to_string(format!("{root}/README.md")).unwrap();
    let excerpt = readme
        .split("<!-- evidence.md excerpt")
        .nth(1)
        .and_then(|rest| rest.split("```markdown\n").nth(1))
        .and_then(|rest| rest.split("```").next())
        .expect("README.md has an evidence.md excerpt");
    let lines: Vec<&str> = excerpt.lines().filter(|l| *l != "...").collect();
    assert!(lines.len() > 10, "{excerpt}");
    for line in lines {
        assert!(
            md.lines().any(|generated| generated == line),
            "README.md shows a line evidence.md does not have: {line:?}\n\nevidence.md:\n{md}"
        );
    }
}

#[test]
fn every_object_behind_a_figure_is_listed_or_the_gap_is_named() {
    let mut resource = bundle().resources.remove(0);
    resource.controls[0].failed = 3;
    resource.controls[0].exempted = 1;
    resource.controls[0].findings.push(Finding {
        kind: "ClusterRoleBinding".into(),
        namespace: None,
        name: "everyone".into(),
        message: "grants too much".into(),
    });
    let result = |result: &str, ns: &str, name: &str, message: &str| {
        serde_json::json!({
            "policy": "SecurityBaseline/prod", "rule": "restricted-ports", "result": result,
            "message": message, "resources": [{"kind": "Service", "namespace": ns, "name": name}],
        })
    };
    let mut reports = PolicyReports {
        served: true,
        cluster_served: false,
        note: None,
        reports: vec![PolicyReportEvidence {
            kind: "PolicyReport".into(),
            namespace: "shop".into(),
            name: "sb-prod".into(),
            summary: Value::Null,
            results: vec![
                result("fail", "shop", "web", "exposes 22"),
                result("fail", "shop", "web", "exposes 23"),
                result("skip", "shop", "legacy", "exposes 21"),
                // Another resource's and another control's results are not this figure's.
                serde_json::json!({"policy": "SecurityBaseline/other", "rule": "restricted-ports", "result": "fail", "resources": [{"kind": "Service", "namespace": "shop", "name": "x"}]}),
            ],
        }],
    };
    let objects = objects_behind_figures(&resource, &reports);
    assert_eq!(objects.len(), 1, "only the control with failed objects");
    let o = &objects[0];
    let names: Vec<&str> = o.failing.iter().map(|f| f.name.as_str()).collect();
    assert_eq!(names, ["everyone", "web"]);
    assert_eq!(o.failing[1].findings, ["exposes 22", "exposes 23"]);
    assert_eq!(o.exempted[0].name, "legacy");
    // shop-0 (a Namespace finding) has no report here: the gap is named, not hidden.
    assert!(!o.complete);
    assert!(
        o.note
            .as_deref()
            .unwrap()
            .starts_with("2 of 3 failing and 1 of 1 exempted objects are listed")
    );

    // With ClusterPolicyReports served, cluster-scoped objects come from them, not from the
    // status sample (which names at most ten).
    reports.cluster_served = true;
    let objects = objects_behind_figures(&resource, &reports);
    let names: Vec<&str> = objects[0].failing.iter().map(|f| f.name.as_str()).collect();
    assert_eq!(
        names,
        ["web"],
        "the sample is not read when reports carry everything"
    );
    reports.reports.push(PolicyReportEvidence {
        kind: "ClusterPolicyReport".into(),
        namespace: String::new(),
        name: "sb-prod".into(),
        summary: Value::Null,
        results: vec![serde_json::json!({
            "policy": "SecurityBaseline/prod", "rule": "restricted-ports", "result": "fail",
            "message": "grants too much",
            "resources": [{"kind": "ClusterRoleBinding", "name": "everyone"}],
        })],
    });
    let objects = objects_behind_figures(&resource, &reports);
    let names: Vec<&str> = objects[0].failing.iter().map(|f| f.name.as_str()).collect();
    assert_eq!(names, ["everyone", "web"]);
}

#[test]
fn markdown_is_deterministic_and_handles_an_empty_cluster() {
    assert_eq!(render_markdown(&bundle()), render_markdown(&bundle()));
    let md = render_markdown(
        &Bundle {
            policy_reports: PolicyReports {
                served: false,
                cluster_served: false,
                note: Some("not served".into()),
                reports: Vec::new(),
            },
            ..Bundle::default()
        }
        .for_frameworks(None),
    );
    assert!(md.contains("No SecurityBaseline"));
    assert!(
        table(&md, "SOC 2")
            .iter()
            .all(|l| l.contains("| - | no resource |")),
        "{md}"
    );
    assert!(md.contains("not served."));
}

#[test]
fn bundle_files_verify() {
    let dir = tempfile::tempdir().unwrap();
    write(dir.path(), &bundle()).unwrap();
    let sums = std::fs::read_to_string(dir.path().join("SHA256SUMS")).unwrap();
    let lines: Vec<&str> = sums.lines().collect();
    let names: Vec<&str> = lines
        .iter()
        .map(|l| l.split_once("  ").unwrap().1)
        .collect();
    assert_eq!(
        names,
        [
            "evidence.json",
            "evidence.md",
            "assessment-results.json",
            "assessment-plan.json",
            "component-definition.json"
        ]
    );
    for l in lines {
        let (hex, name) = l.split_once("  ").unwrap();
        let bytes = std::fs::read(dir.path().join(name)).unwrap();
        assert_eq!(hex, hex::encode(Sha256::digest(&bytes)));
    }
    let json: Bundle =
        serde_json::from_slice(&std::fs::read(dir.path().join("evidence.json")).unwrap()).unwrap();
    assert_eq!(json, bundle());
}

#[test]
fn the_bundle_names_the_history_and_its_public_key() {
    let md = render_markdown(&bundle());
    assert!(
        md.contains("verified with ed25519 public key `cHVibGlj`"),
        "{md}"
    );
    let json = serde_json::to_value(bundle()).unwrap();
    assert_eq!(json["history"][0]["publicKey"], "cHVibGlj");
}
