use super::*;
use crate::api::SecurityBaselineSpec;
use crate::snapshot::CustomResources;
use k8s_openapi::api::core::v1::Namespace;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use std::sync::Arc;

fn baseline(name: &str, level: Option<&str>, network: bool, team: &str) -> SecurityBaseline {
    let mut spec = serde_json::json!({
        "mode": "Enforce",
        "namespaceSelector": {"matchLabels": {"team": team}},
    });
    if let Some(level) = level {
        spec["podSecurity"] = serde_json::json!({"level": level});
    }
    if network {
        spec["network"] = serde_json::json!({});
    }
    let spec: SecurityBaselineSpec = serde_json::from_value(spec).unwrap();
    let mut sb = SecurityBaseline::new(name, spec);
    sb.metadata.uid = Some(format!("uid-{name}"));
    sb
}

fn snapshot(baselines: &[&SecurityBaseline]) -> Snapshot {
    let ns = |name: &str, team: &str| {
        Arc::new(Namespace {
            metadata: ObjectMeta {
                name: Some(name.into()),
                labels: Some(BTreeMap::from([("team".into(), team.into())])),
                ..Default::default()
            },
            ..Default::default()
        })
    };
    Snapshot {
        namespaces: vec![ns("shop", "shop"), ns("tools", "tools")],
        custom_resources: CustomResources {
            security_baselines: baselines.iter().map(|b| Arc::new((*b).clone())).collect(),
            ..Default::default()
        },
        ..Default::default()
    }
}

#[test]
fn the_strictest_baseline_writes_pod_security_labels_and_both_say_so() {
    let strict = baseline("zz-strict", Some("restricted"), false, "shop");
    let lax = baseline("aa-lax", Some("baseline"), false, "shop");
    let snapshot = snapshot(&[&strict, &lax]);
    let shop = vec!["shop".to_string()];
    let from_strict = writers(&strict, Mechanism::PodSecurityLabels, &shop, &snapshot);
    let from_lax = writers(&lax, Mechanism::PodSecurityLabels, &shop, &snapshot);
    assert_eq!(from_strict.mine, shop);
    assert!(from_lax.mine.is_empty(), "one writer");
    assert!(
        from_lax.notes[0]
            .contains("SecurityBaseline zz-strict, which writes their Pod Security labels")
    );
    assert!(
        from_strict.notes[0]
            .contains("also selected by SecurityBaseline(s) aa-lax; this baseline writes")
    );
}

#[test]
fn network_policies_go_to_the_first_name_and_a_lone_baseline_writes_everywhere() {
    let a = baseline("a", None, true, "shop");
    let b = baseline("b", None, true, "shop");
    let other = baseline("c", None, true, "tools");
    let snapshot = snapshot(&[&a, &b, &other]);
    let shop = vec!["shop".to_string()];
    assert_eq!(
        writers(&a, Mechanism::NetworkPolicies, &shop, &snapshot).mine,
        shop
    );
    assert!(
        writers(&b, Mechanism::NetworkPolicies, &shop, &snapshot)
            .mine
            .is_empty()
    );
    let tools = vec!["tools".to_string()];
    let alone = writers(&other, Mechanism::NetworkPolicies, &tools, &snapshot);
    assert_eq!(alone.mine, tools);
    assert!(alone.notes.is_empty());
}

#[test]
fn a_baseline_being_deleted_or_in_audit_hands_over() {
    let mut leaving = baseline("a", Some("restricted"), false, "shop");
    leaving.metadata.deletion_timestamp =
        Some(k8s_openapi::apimachinery::pkg::apis::meta::v1::Time(
            "2030-01-01T00:00:00Z".parse().unwrap(),
        ));
    let mut auditing = baseline("b", Some("restricted"), false, "shop");
    auditing.spec.mode = Some(Mode::Audit);
    let staying = baseline("c", Some("baseline"), false, "shop");
    let snapshot = snapshot(&[&leaving, &auditing, &staying]);
    let shop = vec!["shop".to_string()];
    assert_eq!(
        writers(&staying, Mechanism::PodSecurityLabels, &shop, &snapshot).mine,
        shop
    );
}
