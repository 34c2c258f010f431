use super::*;
use crate::api::Exemption;
use crate::desired::OwnedKind;
use crate::evaluate::{ControlEvidence, Waived};
use serde_json::{Value, json};

fn owner() -> Owner {
    Owner {
        api_version: "security.baseline.dev/v1alpha1".into(),
        kind: "SecurityBaseline".into(),
        name: "prod".into(),
        uid: "uid-1".into(),
    }
}

fn violation(ns: &str, i: usize) -> Violation {
    Violation::new(
        ObjectRef {
            kind: "Deployment".into(),
            namespace: Some(ns.into()),
            name: format!("app-{i:05}"),
            labels: Default::default(),
            pod_labels: None,
        },
        format!("container app uses image nginx:latest with a mutable tag ({i})"),
    )
}

fn evaluation(controls: Vec<ControlEvidence>) -> Evaluation {
    Evaluation {
        namespaces: vec!["shop".into()],
        excluded: Vec::new(),
        namespace_exemptions: Vec::new(),
        controls,
        notices: Vec::new(),
        notes: Default::default(),
    }
}

fn exemption() -> Exemption {
    Exemption {
        controls: vec![ControlId::TrustedImages],
        namespaces: vec!["shop".into()],
        selector: None,
        reason: "vendor image".into(),
        approved_by: "ciso@example.com".into(),
        ticket: Some("SEC-42".into()),
        expires: "2030-01-01".into(),
    }
}

#[test]
fn five_thousand_findings_split_below_one_mebibyte_and_counts_add_up() {
    let failed: Vec<Violation> = (0..5_000).map(|i| violation("shop", i)).collect();
    let eval = evaluation(vec![
        ControlEvidence {
            id: ControlId::TrustedImages,
            state: ControlState::Fail,
            checked: 5_000,
            failed,
            waived: Vec::new(),
        },
        ControlEvidence {
            id: ControlId::EncryptionInTransit,
            state: ControlState::Pass,
            checked: 3,
            failed: Vec::new(),
            waived: Vec::new(),
        },
    ]);
    let reports = policy_reports(&owner(), &eval, ReportApi::WgPolicyK8s, false);
    assert!(
        reports.len() > 1,
        "5,000 findings need more than one report"
    );
    let mut fails = 0;
    let mut passes = 0;
    for (i, report) in reports.iter().enumerate() {
        let size = serde_json::to_vec(&report.json()).unwrap().len();
        assert!(size < 1024 * 1024, "report {i} is {size} bytes");
        assert!(size <= MAX_REPORT_BYTES, "report {i} is {size} bytes");
        assert_eq!(report.json()["apiVersion"], API_VERSION);
        assert_eq!(report.json()["kind"], KIND);
        assert_eq!(report.namespace.as_deref(), Some("shop"));
        let summary = &report.json()["summary"].clone();
        let body = report.json();
        let results = body["results"].as_array().unwrap();
        assert_eq!(summary["fail"].as_u64().unwrap() as usize, results.len());
        fails += summary["fail"].as_u64().unwrap();
        passes += summary["pass"].as_u64().unwrap();
    }
    assert_eq!(fails, 5_000);
    assert_eq!(
        passes, 1,
        "encryption-in-transit passes, once per namespace"
    );
    assert_eq!(reports[0].name, "sb-prod");
    assert_eq!(reports[1].name, "sb-prod-2");
    let first = &reports[0].json()["results"][0].clone();
    assert_eq!(first["policy"], "SecurityBaseline/prod");
    assert_eq!(first["rule"], "trusted-images");
    assert_eq!(first["result"], "fail");
    assert_eq!(first["severity"], "high");
    assert_eq!(first["category"], "ISO/IEC 27001:2022");
    assert_eq!(first["source"], SOURCE);
    assert_eq!(first["resources"][0]["apiVersion"], "apps/v1");
    assert_eq!(first["resources"][0]["namespace"], "shop");
    assert!(
        first["properties"]["frameworks"]
            .as_str()
            .unwrap()
            .contains("ISO/IEC 27001:2013 A.12.5.1")
    );
    assert_eq!(first["properties"]["iso27001:2022"], "8.19, 8.32");
    assert_eq!(first["properties"]["soc2"], "CC6.8, CC8.1");
    assert_eq!(first["properties"]["iso27001:2013"], "A.12.5.1, A.14.2.4");
    assert_eq!(
        first["properties"]["source"],
        "Vulnerability Scanning, Software Change Testing"
    );
    assert!(first.get("timestamp").is_none());
    assert_eq!(
        reports[0].json()["metadata"]["labels"]["app.kubernetes.io/managed-by"],
        "baseline-operator"
    );
}

#[test]
fn exempted_findings_are_skips_with_the_exemption() {
    let eval = evaluation(vec![ControlEvidence {
        id: ControlId::TrustedImages,
        state: ControlState::Fail,
        checked: 2,
        failed: vec![violation("shop", 1)],
        waived: vec![Waived {
            violation: violation("shop", 2),
            exemption: exemption(),
        }],
    }]);
    let reports = policy_reports(&owner(), &eval, ReportApi::WgPolicyK8s, false);
    assert_eq!(reports.len(), 1);
    let body = &reports[0].json();
    assert_eq!(body["summary"]["fail"], 1);
    assert_eq!(body["summary"]["skip"], 1);
    assert_eq!(body["summary"]["pass"], 0);
    let skip = body["results"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["result"] == "skip")
        .unwrap();
    assert_eq!(skip["properties"]["exemptionReason"], "vendor image");
    assert_eq!(skip["properties"]["approvedBy"], "ciso@example.com");
    assert_eq!(skip["properties"]["expires"], "2030-01-01");
    assert_eq!(skip["properties"]["ticket"], "SEC-42");
    assert!(skip.get("severity").is_none());
}

#[test]
fn cluster_scoped_findings_are_counted_not_reported_and_namespaces_get_their_own() {
    let crb = Violation::new(
        ObjectRef {
            kind: "ClusterRoleBinding".into(),
            name: "everyone-admin".into(),
            ..ObjectRef::default()
        },
        "grants cluster-admin",
    );
    let ns = Violation::new(
        ObjectRef::namespace("other", &BTreeMap::new()),
        "no default-deny NetworkPolicy",
    );
    let eval = evaluation(vec![ControlEvidence {
        id: ControlId::LeastPrivilege,
        state: ControlState::Fail,
        checked: 3,
        failed: vec![crb, ns, violation("shop", 1)],
        waived: Vec::new(),
    }]);
    let reports = policy_reports(&owner(), &eval, ReportApi::WgPolicyK8s, false);
    let namespaces: Vec<_> = reports
        .iter()
        .map(|r| r.namespace.clone().unwrap())
        .collect();
    assert_eq!(namespaces, ["other", "shop"]);
    assert_eq!(unreported(&eval), Unreported { fail: 1, skip: 0 });
    assert!(
        reports[0].json()["results"][0]["resources"][0]
            .get("namespace")
            .is_none()
    );
}

#[test]
fn cluster_scoped_findings_go_to_a_cluster_policy_report_when_served() {
    let crb = |name: &str| {
        Violation::new(
            ObjectRef {
                kind: "ClusterRoleBinding".into(),
                name: name.into(),
                ..ObjectRef::default()
            },
            "grants cluster-admin",
        )
    };
    let eval = evaluation(vec![ControlEvidence {
        id: ControlId::LeastPrivilege,
        state: ControlState::Fail,
        checked: 3,
        failed: vec![crb("a"), crb("b"), violation("shop", 1)],
        waived: Vec::new(),
    }]);
    let reports = policy_reports(&owner(), &eval, ReportApi::WgPolicyK8s, true);
    let cluster: Vec<_> = reports
        .iter()
        .filter(|r| r.kind == OwnedKind::ClusterPolicyReport)
        .collect();
    assert_eq!(cluster.len(), 1);
    let report = cluster[0];
    assert_eq!(report.namespace, None);
    assert!(report.json()["metadata"].get("namespace").is_none());
    assert_eq!(report.json()["kind"], "ClusterPolicyReport");
    assert_eq!(report.json()["apiVersion"], "wgpolicyk8s.io/v1alpha2");
    assert_eq!(report.json()["summary"]["fail"], 2);
    let body = report.json();
    let names: Vec<&str> = body["results"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["resources"][0]["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["a", "b"]);
    assert_eq!(
        reports
            .iter()
            .filter(|r| r.kind == OwnedKind::PolicyReport)
            .count(),
        1,
        "the namespaced finding stays in its namespace's report"
    );
}

#[test]
fn output_is_deterministic() {
    let build = || {
        evaluation(vec![ControlEvidence {
            id: ControlId::TrustedImages,
            state: ControlState::Fail,
            checked: 300,
            failed: (0..300).map(|i| violation("shop", i)).collect(),
            waived: vec![Waived {
                violation: violation("shop", 999),
                exemption: exemption(),
            }],
        }])
    };
    let a = policy_reports(&owner(), &build(), ReportApi::WgPolicyK8s, false);
    let b = policy_reports(&owner(), &build(), ReportApi::WgPolicyK8s, false);
    assert_eq!(a, b);
    assert_eq!(
        serde_json::to_string(&a[0].json()).unwrap(),
        serde_json::to_string(&b[0].json()).unwrap()
    );
}

#[test]
fn no_findings_no_reports() {
    let eval = evaluation(vec![ControlEvidence {
        id: ControlId::TrustedImages,
        state: ControlState::Pass,
        checked: 3,
        failed: Vec::new(),
        waived: Vec::new(),
    }]);
    assert!(policy_reports(&owner(), &eval, ReportApi::WgPolicyK8s, false).is_empty());
}

/// A tenant of `dev` who stores guesses of production values reads its namespace's report:
/// with and without a matching guess it must be the same, counts included.
#[test]
fn confidential_findings_leave_no_trace_in_the_namespaces_report() {
    let classified = Violation::new(
        ObjectRef {
            kind: "ConfigMap".into(),
            namespace: Some("dev".into()),
            name: "rows".into(),
            ..ObjectRef::default()
        },
        "ConfigMap dev/rows is classified `production`",
    );
    let copy = |name: &str| {
        Violation::new(
            ObjectRef {
                kind: "Secret".into(),
                namespace: Some("dev".into()),
                name: name.into(),
                ..ObjectRef::default()
            },
            format!("Secret dev/{name} holds a value of a production Secret under key `guess`"),
        )
        .with_detail("copied from production Secret prod/db key `password`")
        .confidential()
    };
    let build = |failed: Vec<Violation>, waived: Vec<Waived>| {
        evaluation(vec![ControlEvidence {
            id: ControlId::ProductionDataRestricted,
            state: ControlState::Fail,
            checked: 3,
            failed,
            waived,
        }])
    };
    let namespaced = |eval: &Evaluation, api: ReportApi, cluster: bool| -> Vec<Value> {
        policy_reports(&owner(), eval, api, cluster)
            .into_iter()
            .filter(|r| r.namespace.is_some())
            .map(|r| r.json())
            .collect()
    };
    let miss = build(vec![classified.clone()], Vec::new());
    let hit = build(vec![classified.clone(), copy("guess-1")], Vec::new());
    let waived_hit = build(
        vec![classified],
        vec![Waived {
            violation: copy("guess-2"),
            exemption: exemption(),
        }],
    );
    for api in ReportApi::ALL {
        for cluster in [true, false] {
            assert_eq!(
                namespaced(&miss, api, cluster),
                namespaced(&hit, api, cluster)
            );
            assert_eq!(
                namespaced(&miss, api, cluster),
                namespaced(&waived_hit, api, cluster)
            );
        }
        // A namespace whose only finding is a copy gets no report at all, as one without.
        let only_copy = build(vec![copy("guess-1")], Vec::new());
        assert!(namespaced(&only_copy, api, true).is_empty(), "{api:?}");
    }

    // The ClusterPolicyReport carries it, with the production original; without one, status
    // alone does, and the figures say so.
    let cluster: Vec<_> = policy_reports(&owner(), &hit, ReportApi::WgPolicyK8s, true)
        .into_iter()
        .filter(|r| r.namespace.is_none())
        .collect();
    assert_eq!(cluster.len(), 1);
    let result = &cluster[0].json()["results"][0].clone();
    assert_eq!(result["resources"][0]["namespace"], "dev");
    assert_eq!(
        result["message"],
        "Secret dev/guess-1 holds a value of a production Secret under key `guess` (copied from production Secret prod/db key `password`)"
    );
    assert_eq!(unreported(&hit), Unreported { fail: 1, skip: 0 });
    assert_eq!(unreported(&waived_hit), Unreported { fail: 0, skip: 1 });
}

/// Reports in either API carry the same figures: the same objects (names, namespaces, scope
/// of kind), results and summaries; only apiVersion, kind and OpenReports' top-level `source`
/// differ.
#[test]
fn openreports_reports_carry_the_same_figures_as_policy_reports() {
    let crb = Violation::new(
        ObjectRef {
            kind: "ClusterRoleBinding".into(),
            name: "wide".into(),
            ..ObjectRef::default()
        },
        "grants cluster-admin",
    );
    let copy = Violation::new(
        ObjectRef {
            kind: "Secret".into(),
            namespace: Some("dev".into()),
            name: "guess".into(),
            ..ObjectRef::default()
        },
        "Secret dev/guess holds a value of a production Secret",
    )
    .with_detail("copied from production Secret prod/db key `password`")
    .confidential();
    let eval = evaluation(vec![
        ControlEvidence {
            id: ControlId::TrustedImages,
            state: ControlState::Fail,
            checked: 4,
            failed: (0..3).map(|i| violation("shop", i)).collect(),
            waived: vec![Waived {
                violation: violation("shop", 9),
                exemption: exemption(),
            }],
        },
        ControlEvidence {
            id: ControlId::LeastPrivilege,
            state: ControlState::Fail,
            checked: 2,
            failed: vec![crb, copy],
            waived: Vec::new(),
        },
        ControlEvidence {
            id: ControlId::EncryptionInTransit,
            state: ControlState::Pass,
            checked: 1,
            failed: Vec::new(),
            waived: Vec::new(),
        },
    ]);
    for cluster in [true, false] {
        let wg = policy_reports(&owner(), &eval, ReportApi::WgPolicyK8s, cluster);
        let or = policy_reports(&owner(), &eval, ReportApi::OpenReports, cluster);
        assert_eq!(wg.len(), or.len());
        assert_eq!(wg.len(), if cluster { 2 } else { 1 });
        for (wg, or) in wg.iter().zip(&or) {
            let scoped = wg.namespace.is_some();
            assert_eq!(or.namespace, wg.namespace);
            assert_eq!(or.name, wg.name);
            assert_eq!(or.json()["apiVersion"], "openreports.io/v1alpha1");
            let (wg_kind, or_kind) = if scoped {
                (OwnedKind::PolicyReport, OwnedKind::Report)
            } else {
                (OwnedKind::ClusterPolicyReport, OwnedKind::ClusterReport)
            };
            assert_eq!((wg.kind, or.kind), (wg_kind, or_kind));
            assert_eq!(
                or.json()["kind"],
                if scoped { "Report" } else { "ClusterReport" }
            );
            assert_eq!(or.json()["source"], SOURCE);
            assert!(
                wg.json().get("source").is_none(),
                "PolicyReports have no top-level source"
            );
            assert!(or.json().get("scope").is_none());
            let mut same = or.json();
            same["apiVersion"] = wg.json()["apiVersion"].clone();
            same["kind"] = wg.json()["kind"].clone();
            same.as_object_mut().unwrap().remove("source");
            assert_eq!(same, wg.json(), "only apiVersion, kind and source differ");
        }
        let shop = or
            .iter()
            .find(|r| r.namespace.as_deref() == Some("shop"))
            .unwrap()
            .json();
        // least-privilege fails elsewhere only, so it passes in `shop`, as encryption does.
        assert_eq!(
            shop["summary"],
            json!({"pass": 2, "fail": 3, "skip": 1, "warn": 0, "error": 0})
        );
        // The copied Secret is about an object in `dev`, yet `dev` gets no report: only the
        // cluster report has it.
        assert!(or.iter().all(|r| r.namespace.as_deref() != Some("dev")));
        if cluster {
            let cluster = or.iter().find(|r| r.namespace.is_none()).unwrap();
            assert!(cluster.json().to_string().contains("prod/db"));
        }
    }
}

#[test]
fn reports_for_some_namespaces_are_exactly_those_of_the_whole_rendering() {
    let failed: Vec<Violation> = ["shop", "web", "api"]
        .iter()
        .flat_map(|ns| (0..3).map(move |i| violation(ns, i)))
        .collect();
    let eval = evaluation(vec![ControlEvidence {
        id: ControlId::TrustedImages,
        state: ControlState::Fail,
        checked: 9,
        failed,
        waived: Vec::new(),
    }]);
    let whole = policy_reports(&owner(), &eval, ReportApi::WgPolicyK8s, true);
    let covered = |ns: Option<&str>| ns.is_none_or(|ns| ns == "web");
    let some = policy_reports_in(&owner(), &eval, ReportApi::WgPolicyK8s, true, &covered);
    let expected: Vec<_> = whole
        .into_iter()
        .filter(|r| covered(r.namespace.as_deref()))
        .collect();
    assert_eq!(some, expected);
    assert_eq!(some.len(), 1, "only web's report: {some:?}");
}

#[test]
fn policy_reports_send_the_same_reports_in_both_apis() {
    let crb = Violation::new(
        ObjectRef {
            kind: "ClusterRoleBinding".into(),
            name: "everyone-admin".into(),
            ..ObjectRef::default()
        },
        "grants cluster-admin",
    );
    let eval = evaluation(vec![
        ControlEvidence {
            id: ControlId::TrustedImages,
            state: ControlState::Fail,
            checked: 3,
            failed: vec![violation("shop", 1)],
            waived: vec![Waived {
                violation: violation("shop", 2),
                exemption: exemption(),
            }],
        },
        ControlEvidence {
            id: ControlId::LeastPrivilege,
            state: ControlState::Fail,
            checked: 2,
            failed: vec![crb],
            waived: Vec::new(),
        },
        ControlEvidence {
            id: ControlId::ResourceGovernance,
            state: ControlState::Pass,
            checked: 2,
            failed: Vec::new(),
            waived: Vec::new(),
        },
    ]);
    let mut reports = policy_reports(&owner(), &eval, ReportApi::WgPolicyK8s, true);
    reports.extend(policy_reports(
        &owner(),
        &eval,
        ReportApi::OpenReports,
        true,
    ));
    crate::desired::golden_tests::pinned(&reports, POLICY_REPORTS);
}

const POLICY_REPORTS: &str = r#"[
  {
    "apiVersion": "wgpolicyk8s.io/v1alpha2",
    "kind": "ClusterPolicyReport",
    "metadata": {
      "labels": {
        "app.kubernetes.io/managed-by": "baseline-operator",
        "security.baseline.dev/owner-uid": "uid-1"
      },
      "name": "sb-prod",
      "ownerReferences": [
        {
          "apiVersion": "security.baseline.dev/v1alpha1",
          "blockOwnerDeletion": true,
          "controller": true,
          "kind": "SecurityBaseline",
          "name": "prod",
          "uid": "uid-1"
        }
      ]
    },
    "results": [
      {
        "category": "ISO/IEC 27001:2022",
        "message": "grants cluster-admin",
        "policy": "SecurityBaseline/prod",
        "properties": {
          "controlTitle": "Least privilege",
          "frameworks": "ISO/IEC 27001:2022 5.15, ISO/IEC 27001:2022 5.18, ISO/IEC 27001:2022 8.2, SOC 2 CC6.1, SOC 2 CC6.3, ISO/IEC 27001:2013 A.9.2.3, Source policy: Administrative Access is Restricted, Source policy: Access to Customer Data is Restricted, Source policy: Role Based Access Control and Principle of Least Privilege",
          "iso27001:2013": "A.9.2.3",
          "iso27001:2022": "5.15, 5.18, 8.2",
          "soc2": "CC6.1, CC6.3",
          "source": "Administrative Access is Restricted, Access to Customer Data is Restricted, Role Based Access Control and Principle of Least Privilege"
        },
        "resources": [
          {
            "apiVersion": "rbac.authorization.k8s.io/v1",
            "kind": "ClusterRoleBinding",
            "name": "everyone-admin"
          }
        ],
        "result": "fail",
        "rule": "least-privilege",
        "severity": "high",
        "source": "baseline-operator"
      }
    ],
    "summary": {
      "error": 0,
      "fail": 1,
      "pass": 2,
      "skip": 0,
      "warn": 0
    }
  },
  {
    "apiVersion": "wgpolicyk8s.io/v1alpha2",
    "kind": "PolicyReport",
    "metadata": {
      "labels": {
        "app.kubernetes.io/managed-by": "baseline-operator",
        "security.baseline.dev/owner-uid": "uid-1"
      },
      "name": "sb-prod",
      "namespace": "shop",
      "ownerReferences": [
        {
          "apiVersion": "security.baseline.dev/v1alpha1",
          "blockOwnerDeletion": true,
          "controller": true,
          "kind": "SecurityBaseline",
          "name": "prod",
          "uid": "uid-1"
        }
      ]
    },
    "results": [
      {
        "category": "ISO/IEC 27001:2022",
        "message": "container app uses image nginx:latest with a mutable tag (1)",
        "policy": "SecurityBaseline/prod",
        "properties": {
          "controlTitle": "Trusted images",
          "frameworks": "ISO/IEC 27001:2022 8.19, ISO/IEC 27001:2022 8.32, SOC 2 CC6.8, SOC 2 CC8.1, ISO/IEC 27001:2013 A.12.5.1, ISO/IEC 27001:2013 A.14.2.4, Source policy: Vulnerability Scanning, Source policy: Software Change Testing",
          "iso27001:2013": "A.12.5.1, A.14.2.4",
          "iso27001:2022": "8.19, 8.32",
          "soc2": "CC6.8, CC8.1",
          "source": "Vulnerability Scanning, Software Change Testing"
        },
        "resources": [
          {
            "apiVersion": "apps/v1",
            "kind": "Deployment",
            "name": "app-00001",
            "namespace": "shop"
          }
        ],
        "result": "fail",
        "rule": "trusted-images",
        "severity": "high",
        "source": "baseline-operator"
      },
      {
        "category": "ISO/IEC 27001:2022",
        "message": "container app uses image nginx:latest with a mutable tag (2)",
        "policy": "SecurityBaseline/prod",
        "properties": {
          "approvedBy": "ciso@example.com",
          "controlTitle": "Trusted images",
          "exemptionReason": "vendor image",
          "expires": "2030-01-01",
          "frameworks": "ISO/IEC 27001:2022 8.19, ISO/IEC 27001:2022 8.32, SOC 2 CC6.8, SOC 2 CC8.1, ISO/IEC 27001:2013 A.12.5.1, ISO/IEC 27001:2013 A.14.2.4, Source policy: Vulnerability Scanning, Source policy: Software Change Testing",
          "iso27001:2013": "A.12.5.1, A.14.2.4",
          "iso27001:2022": "8.19, 8.32",
          "soc2": "CC6.8, CC8.1",
          "source": "Vulnerability Scanning, Software Change Testing",
          "ticket": "SEC-42"
        },
        "resources": [
          {
            "apiVersion": "apps/v1",
            "kind": "Deployment",
            "name": "app-00002",
            "namespace": "shop"
          }
        ],
        "result": "skip",
        "rule": "trusted-images",
        "source": "baseline-operator"
      }
    ],
    "summary": {
      "error": 0,
      "fail": 1,
      "pass": 2,
      "skip": 1,
      "warn": 0
    }
  },
  {
    "apiVersion": "openreports.io/v1alpha1",
    "kind": "ClusterReport",
    "metadata": {
      "labels": {
        "app.kubernetes.io/managed-by": "baseline-operator",
        "security.baseline.dev/owner-uid": "uid-1"
      },
      "name": "sb-prod",
      "ownerReferences": [
        {
          "apiVersion": "security.baseline.dev/v1alpha1",
          "blockOwnerDeletion": true,
          "controller": true,
          "kind": "SecurityBaseline",
          "name": "prod",
          "uid": "uid-1"
        }
      ]
    },
    "results": [
      {
        "category": "ISO/IEC 27001:2022",
        "message": "grants cluster-admin",
        "policy": "SecurityBaseline/prod",
        "properties": {
          "controlTitle": "Least privilege",
          "frameworks": "ISO/IEC 27001:2022 5.15, ISO/IEC 27001:2022 5.18, ISO/IEC 27001:2022 8.2, SOC 2 CC6.1, SOC 2 CC6.3, ISO/IEC 27001:2013 A.9.2.3, Source policy: Administrative Access is Restricted, Source policy: Access to Customer Data is Restricted, Source policy: Role Based Access Control and Principle of Least Privilege",
          "iso27001:2013": "A.9.2.3",
          "iso27001:2022": "5.15, 5.18, 8.2",
          "soc2": "CC6.1, CC6.3",
          "source": "Administrative Access is Restricted, Access to Customer Data is Restricted, Role Based Access Control and Principle of Least Privilege"
        },
        "resources": [
          {
            "apiVersion": "rbac.authorization.k8s.io/v1",
            "kind": "ClusterRoleBinding",
            "name": "everyone-admin"
          }
        ],
        "result": "fail",
        "rule": "least-privilege",
        "severity": "high",
        "source": "baseline-operator"
      }
    ],
    "source": "baseline-operator",
    "summary": {
      "error": 0,
      "fail": 1,
      "pass": 2,
      "skip": 0,
      "warn": 0
    }
  },
  {
    "apiVersion": "openreports.io/v1alpha1",
    "kind": "Report",
    "metadata": {
      "labels": {
        "app.kubernetes.io/managed-by": "baseline-operator",
        "security.baseline.dev/owner-uid": "uid-1"
      },
      "name": "sb-prod",
      "namespace": "shop",
      "ownerReferences": [
        {
          "apiVersion": "security.baseline.dev/v1alpha1",
          "blockOwnerDeletion": true,
          "controller": true,
          "kind": "SecurityBaseline",
          "name": "prod",
          "uid": "uid-1"
        }
      ]
    },
    "results": [
      {
        "category": "ISO/IEC 27001:2022",
        "message": "container app uses image nginx:latest with a mutable tag (1)",
        "policy": "SecurityBaseline/prod",
        "properties": {
          "controlTitle": "Trusted images",
          "frameworks": "ISO/IEC 27001:2022 8.19, ISO/IEC 27001:2022 8.32, SOC 2 CC6.8, SOC 2 CC8.1, ISO/IEC 27001:2013 A.12.5.1, ISO/IEC 27001:2013 A.14.2.4, Source policy: Vulnerability Scanning, Source policy: Software Change Testing",
          "iso27001:2013": "A.12.5.1, A.14.2.4",
          "iso27001:2022": "8.19, 8.32",
          "soc2": "CC6.8, CC8.1",
          "source": "Vulnerability Scanning, Software Change Testing"
        },
        "resources": [
          {
            "apiVersion": "apps/v1",
            "kind": "Deployment",
            "name": "app-00001",
            "namespace": "shop"
          }
        ],
        "result": "fail",
        "rule": "trusted-images",
        "severity": "high",
        "source": "baseline-operator"
      },
      {
        "category": "ISO/IEC 27001:2022",
        "message": "container app uses image nginx:latest with a mutable tag (2)",
        "policy": "SecurityBaseline/prod",
        "properties": {
          "approvedBy": "ciso@example.com",
          "controlTitle": "Trusted images",
          "exemptionReason": "vendor image",
          "expires": "2030-01-01",
          "frameworks": "ISO/IEC 27001:2022 8.19, ISO/IEC 27001:2022 8.32, SOC 2 CC6.8, SOC 2 CC8.1, ISO/IEC 27001:2013 A.12.5.1, ISO/IEC 27001:2013 A.14.2.4, Source policy: Vulnerability Scanning, Source policy: Software Change Testing",
          "iso27001:2013": "A.12.5.1, A.14.2.4",
          "iso27001:2022": "8.19, 8.32",
          "soc2": "CC6.8, CC8.1",
          "source": "Vulnerability Scanning, Software Change Testing",
          "ticket": "SEC-42"
        },
        "resources": [
          {
            "apiVersion": "apps/v1",
            "kind": "Deployment",
            "name": "app-00002",
            "namespace": "shop"
          }
        ],
        "result": "skip",
        "rule": "trusted-images",
        "source": "baseline-operator"
      }
    ],
    "source": "baseline-operator",
    "summary": {
      "error": 0,
      "fail": 1,
      "pass": 2,
      "skip": 1,
      "warn": 0
    }
  }
]"#;
