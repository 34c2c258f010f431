//! Each invalid field, and the message it gets.

use super::backup_policy::{self, DEFAULT_RESTORE_TEST_EVERY};
use super::*;
use crate::api::backup_policy::{RestoreTestSpec, Retention};
use crate::api::{BackupPolicySpec, EnvironmentIsolationSpec, Mode, SecurityBaselineSpec};
use crate::vocabulary::selection::LabelMatch;
use jiff::Timestamp;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::LabelSelectorRequirement;

fn now() -> Timestamp {
    "2026-01-01T00:00:00Z".parse().unwrap()
}

fn backup_policy() -> BackupPolicySpec {
    serde_json::from_value(serde_json::json!({
        "namespaceSelector": {"matchLabels": {"backup": "true"}},
        "rpo": "24h",
    }))
    .unwrap()
}

/// The (field, message) pairs `spec` is refused with.
fn problems(spec: &BackupPolicySpec) -> Vec<(String, String)> {
    match backup_policy::validate(spec, now()) {
        Ok(_) => vec![],
        Err(InvalidSpec(all)) => all.into_iter().map(|i| (i.field, i.message)).collect(),
    }
}

fn one(spec: &BackupPolicySpec) -> (String, String) {
    let all = problems(spec);
    assert_eq!(all.len(), 1, "{all:?}");
    all.into_iter().next().unwrap()
}

#[test]
fn a_valid_backup_policy_becomes_typed_values() {
    let mut spec = backup_policy();
    spec.rto = Some("6h".into());
    spec.schedule = Some("30 1 * * *".into());
    spec.retention = Some(Retention {
        min: "720h".into(),
        max: "2160h".into(),
    });
    spec.restore_test = Some(RestoreTestSpec {
        every: None,
        keep_sandbox_for: Some("1h30m".into()),
        min_restored_items: None,
    });
    let valid = backup_policy::validate(&spec, now()).unwrap();
    let hours = |h: u64| Duration::from_secs(h * 3600);
    assert_eq!(valid.rpo, hours(24));
    assert_eq!(valid.rto, Some(hours(6)));
    assert_eq!(
        valid.schedule.as_ref().map(|s| s.as_str()),
        Some("30 1 * * *")
    );
    assert_eq!(
        valid.retention,
        Some(RetentionBounds {
            min: hours(720),
            max: hours(2160)
        })
    );
    assert_eq!(
        valid.restore_test,
        Some(RestoreTest {
            every: DEFAULT_RESTORE_TEST_EVERY,
            keep_sandbox_for: Duration::from_secs(5400),
            min_restored_items: 1,
        })
    );
    // Defaults are applied once, here.
    assert_eq!(valid.velero_namespace, "velero");
    assert_eq!(valid.storage_location, "default");
}

/// Breaks one field of a valid spec.
type Breaker = fn(&mut BackupPolicySpec);

#[test]
fn each_invalid_backup_policy_field_is_named() {
    let duration_message = |v: &str| format!("`{v}` is not a duration such as 24h, 90m or 1h30m");
    let cases: Vec<(Breaker, &str, String)> = vec![
        (
            |s| s.rpo = "1d".into(),
            "spec.rpo",
            duration_message("1d"),
        ),
        (
            |s| s.rpo = "0s".into(),
            "spec.rpo",
            "must be greater than zero".into(),
        ),
        (
            |s| s.rto = Some("30m1h".into()),
            "spec.rto",
            duration_message("30m1h"),
        ),
        (
            |s| s.schedule = Some("0 0 30 2 *".into()),
            "spec.schedule",
            "`0 0 30 2 *` never runs: no date matches it in the next five years".into(),
        ),
        (
            |s| s.schedule = Some("0 0 * * 7".into()),
            "spec.schedule",
            "`0 0 * * 7` is not a schedule Velero accepts: the day of week field `7` is outside 0-6"
                .into(),
        ),
        (
            |s| {
                s.retention = Some(Retention {
                    min: "2160h".into(),
                    max: "720h".into(),
                })
            },
            "spec.retention.min",
            "retention.min must not exceed retention.max".into(),
        ),
        (
            |s| {
                s.retention = Some(Retention {
                    min: "720h".into(),
                    max: "1y".into(),
                })
            },
            "spec.retention.max",
            duration_message("1y"),
        ),
        (
            |s| {
                s.restore_test = Some(RestoreTestSpec {
                    every: Some("weekly".into()),
                    keep_sandbox_for: None,
                    min_restored_items: None,
                })
            },
            "spec.restoreTest.every",
            duration_message("weekly"),
        ),
        (
            |s| {
                s.restore_test = Some(RestoreTestSpec {
                    every: Some("59m59s".into()),
                    keep_sandbox_for: None,
                    min_restored_items: None,
                })
            },
            "spec.restoreTest.every",
            "must be at least 1h".into(),
        ),
        (
            |s| {
                s.restore_test = Some(RestoreTestSpec {
                    every: None,
                    keep_sandbox_for: Some("1hh".into()),
                    min_restored_items: None,
                })
            },
            "spec.restoreTest.keepSandboxFor",
            duration_message("1hh"),
        ),
        (
            |s| {
                s.restore_test = Some(RestoreTestSpec {
                    every: None,
                    keep_sandbox_for: None,
                    min_restored_items: Some(-1),
                })
            },
            "spec.restoreTest.minRestoredItems",
            "must be >= 0".into(),
        ),
        (
            |s| {
                s.namespace_selector.match_expressions = Some(vec![LabelSelectorRequirement {
                    key: "env".into(),
                    operator: "Equals".into(),
                    values: Some(vec!["prod".into()]),
                }])
            },
            "spec.namespaceSelector",
            "not a valid label selector: Invalid expression operator".into(),
        ),
    ];
    for (break_it, field, message) in cases {
        let mut spec = backup_policy();
        break_it(&mut spec);
        assert_eq!(one(&spec), (field.to_string(), message));
    }
}

#[test]
fn every_problem_is_reported_not_only_the_first() {
    let mut spec = backup_policy();
    spec.rpo = "soon".into();
    spec.schedule = Some("0 0 30 2 *".into());
    let fields: Vec<String> = problems(&spec).into_iter().map(|(f, _)| f).collect();
    assert_eq!(fields, ["spec.rpo", "spec.schedule"]);
}

#[test]
fn durations_follow_the_crd_pattern() {
    let hours = |h: u64| Some(Duration::from_secs(h * 3600));
    assert_eq!(parse_duration("24h"), hours(24));
    assert_eq!(parse_duration("90m"), Some(Duration::from_secs(5400)));
    assert_eq!(parse_duration("1h30m"), Some(Duration::from_secs(5400)));
    assert_eq!(parse_duration("1h0m5s"), Some(Duration::from_secs(3605)));
    assert_eq!(parse_duration("720h0m0s"), hours(720));
    assert_eq!(parse_duration("0s"), Some(Duration::ZERO));
    for bad in [
        "", "h", "24", "30m1h", "1d", "-1h", "1hh", "1.5h", "1h 30m", "1234567h", "5ms",
    ] {
        assert_eq!(parse_duration(bad), None, "{bad}");
    }
    assert_eq!(go_duration(Duration::from_secs(2_592_000)), "720h0m0s");
}

#[test]
fn security_baseline_fields_are_named() {
    let spec: SecurityBaselineSpec = serde_json::from_value(serde_json::json!({
        "namespaceSelector": {"matchExpressions": [{"key": "env", "operator": "In"}]},
        "network": {"allowedEgress": [{"cidr": "10.0.0.0/33", "ports": [{"port": 0}]}]},
        "podSecurity": {"level": "restricted", "version": "1.30"},
    }))
    .unwrap();
    let all = security_baseline::validate(&spec).unwrap_err().0;
    let got: Vec<(&str, &str)> = all
        .iter()
        .map(|i| (i.field.as_str(), i.message.as_str()))
        .collect();
    assert_eq!(
        got,
        [
            (
                "spec.namespaceSelector",
                "not a valid label selector: Expected values for In operator, got none"
            ),
            (
                "spec.network.allowedEgress[0].cidr",
                "`10.0.0.0/33` must be a CIDR such as 10.0.0.0/8"
            ),
            (
                "spec.network.allowedEgress[0].ports[0].port",
                "must be 1..65535"
            ),
            (
                "spec.podSecurity.version",
                "`1.30` must be `latest` or `v1.N`"
            ),
        ]
    );
}

#[test]
fn environment_isolation_fields_are_named() {
    let spec: EnvironmentIsolationSpec = serde_json::from_value(serde_json::json!({
        "environments": [
            {"name": "Prod", "namespaceSelector": {"matchExpressions": [{"key": "env", "operator": "Near"}]}},
            {"name": "Prod", "namespaceSelector": {}},
        ],
        "allowedFlows": [{"from": "dev", "to": "Prod", "ports": [{"port": 70000}]}],
        "access": {"allowedBindings": [{"from": "Prod", "to": "qa"}]},
        "exemptions": [{"controls": ["automated-backup"], "reason": " ", "approvedBy": "me", "expires": "soon"}],
    }))
    .unwrap();
    let all = environment_isolation::validate(&spec).unwrap_err().0;
    let fields: Vec<&str> = all.iter().map(|i| i.field.as_str()).collect();
    assert_eq!(
        fields,
        [
            "spec.exemptions[0].controls[0]",
            "spec.exemptions[0].reason",
            "spec.exemptions[0].expires",
            "spec.environments[0].name",
            "spec.environments[0].namespaceSelector",
            "spec.environments[1].name",
            "spec.environments",
            "spec.allowedFlows[0].from",
            "spec.allowedFlows[0].ports[0].port",
            "spec.access.allowedBindings[0].to",
        ]
    );
}

#[test]
fn valid_baselines_and_isolations_carry_compiled_selectors() {
    let labels = |pairs: &[(&str, &str)]| -> std::collections::BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    };
    let sb: SecurityBaselineSpec = serde_json::from_value(serde_json::json!({
        "namespaceSelector": {"matchExpressions": [{"key": "tier", "operator": "NotIn", "values": ["system"]}]},
    }))
    .unwrap();
    let valid = security_baseline::validate(&sb).unwrap();
    assert!(
        valid
            .namespace_selector
            .selects(&labels(&[("tier", "web")]))
    );
    assert!(
        !valid
            .namespace_selector
            .selects(&labels(&[("tier", "system")]))
    );
    assert_eq!(valid.namespace_selector.written, sb.namespace_selector);
    assert_eq!(valid.mode, Mode::Audit, "the mode's default is applied");

    let ei: EnvironmentIsolationSpec = serde_json::from_value(serde_json::json!({
        "environments": [
            {"name": "production", "production": true, "namespaceSelector": {"matchLabels": {"env": "prod"}}},
            {"name": "development", "namespaceSelector": {"matchLabels": {"env": "dev"}}},
        ],
    }))
    .unwrap();
    let valid = environment_isolation::validate(&ei).unwrap();
    let envs: Vec<(&str, bool)> = valid
        .environments
        .iter()
        .map(|e| (e.name.as_str(), e.production))
        .collect();
    assert_eq!(envs, [("production", true), ("development", false)]);
    assert!(
        valid.environments[0]
            .selector
            .selects(&labels(&[("env", "prod")]))
    );
    assert!(
        !valid.environments[1]
            .selector
            .selects(&labels(&[("env", "prod")]))
    );
}

#[test]
fn a_velero_namespace_other_than_the_watched_one_is_invalid() {
    let mut spec = backup_policy();
    assert!(backup_policy::velero_namespace_watched(&spec, "velero").is_ok());
    let InvalidSpec(all) = backup_policy::velero_namespace_watched(&spec, "backup-system")
        .expect_err("the default `velero` is not the watched `backup-system`");
    assert_eq!(all.len(), 1);
    assert_eq!(all[0].field, "spec.velero.namespace");
    assert!(all[0].message.contains("`velero`"), "{}", all[0].message);
    assert!(
        all[0].message.contains("`backup-system`"),
        "{}",
        all[0].message
    );
    spec.velero = Some(crate::api::backup_policy::VeleroSpec {
        namespace: Some("backup-system".into()),
    });
    assert!(backup_policy::velero_namespace_watched(&spec, "backup-system").is_ok());
    assert!(backup_policy::velero_namespace_watched(&spec, "velero").is_err());
}
