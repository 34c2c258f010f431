use super::*;
use crate::desired::Owner;

fn owner() -> Owner {
    Owner {
        api_version: "security.baseline.dev/v1alpha1".into(),
        kind: "SecurityBaseline".into(),
        name: "prod".into(),
        uid: "uid-1".into(),
    }
}

fn deny(spec: Value) -> DesiredObject {
    DesiredObject::owned(
        OwnedKind::NetworkPolicy,
        &owner(),
        Some("shop"),
        "sb-prod-default-deny".into(),
        json!({ "spec": spec }),
    )
}

/// What the API server stores for `rendered`: defaults filled in, and bookkeeping the
/// comparison must ignore.
fn stored(rendered: &Rendered) -> Value {
    let mut live = canonical(rendered.kind, &rendered.body);
    live["metadata"]["resourceVersion"] = json!("42");
    live["metadata"]["labels"]["team"] = json!("shop");
    live["metadata"]["annotations"]["note"] = json!("by hand");
    live["metadata"]["managedFields"] = json!([]);
    live
}

fn default_deny() -> DesiredObject {
    deny(json!({"podSelector": {}, "policyTypes": ["Ingress", "Egress"]}))
}

#[test]
fn stored_object_is_in_sync_and_a_missing_one_is_created() {
    let rendered = render(&default_deny());
    assert_eq!(
        rendered.body["metadata"]["annotations"][RENDERED],
        json!(rendered.fingerprint)
    );
    assert_eq!(
        verdict(&rendered, Some(&stored(&rendered)), true),
        Verdict::InSync
    );
    assert_eq!(
        verdict(&rendered, None, false),
        Verdict::Create {
            deleted_by_hand: false
        }
    );
    assert_eq!(
        verdict(&rendered, None, true),
        Verdict::Create {
            deleted_by_hand: true
        }
    );
}

#[test]
fn added_field_is_drift() {
    let rendered = render(&default_deny());
    let mut live = stored(&rendered);
    live["spec"]["ingress"] = json!([{}]);
    assert_eq!(
        verdict(&rendered, Some(&live), true),
        Verdict::Replace { drifted: true }
    );
}

#[test]
fn changed_or_removed_owned_metadata_is_drift() {
    let rendered = render(&default_deny());
    let mut live = stored(&rendered);
    live["metadata"]["ownerReferences"] = json!([]);
    assert_eq!(
        verdict(&rendered, Some(&live), true),
        Verdict::Replace { drifted: true }
    );
    let mut live = stored(&rendered);
    live["metadata"]["labels"]
        .as_object_mut()
        .unwrap()
        .remove(crate::desired::MANAGED_BY);
    assert_eq!(
        verdict(&rendered, Some(&live), true),
        Verdict::Replace { drifted: true }
    );
}

#[test]
fn changed_wish_is_a_re_render_not_drift() {
    let before = render(&default_deny());
    let live = stored(&before);
    let after = render(&deny(
        json!({"podSelector": {}, "policyTypes": ["Ingress"]}),
    ));
    assert_eq!(
        verdict(&after, Some(&live), true),
        Verdict::Replace { drifted: false }
    );
}

#[test]
fn hand_edit_on_top_of_a_changed_wish_is_still_drift() {
    let before = render(&default_deny());
    let mut live = stored(&before);
    live["spec"]["ingress"] = json!([{}]);
    let after = render(&deny(
        json!({"podSelector": {}, "policyTypes": ["Ingress"]}),
    ));
    assert_eq!(
        verdict(&after, Some(&live), true),
        Verdict::Replace { drifted: true }
    );
}

#[test]
fn missing_or_foreign_stamp_forces_a_write_without_blame() {
    let rendered = render(&default_deny());
    let mut live = stored(&rendered);
    live["metadata"]["annotations"]
        .as_object_mut()
        .unwrap()
        .remove(RENDERED);
    assert_eq!(
        verdict(&rendered, Some(&live), true),
        Verdict::Replace { drifted: false }
    );
}

#[test]
fn replacement_sets_owned_parts_and_keeps_the_rest() {
    let rendered = render(&default_deny());
    let mut live = stored(&rendered);
    live["spec"]["ingress"] = json!([{}]);
    live["metadata"]["ownerReferences"] = json!([{"uid": "someone-else"}]);
    live["metadata"]["labels"][crate::desired::OWNER_UID] = json!("forged");
    live["metadata"]["annotations"][RENDERED] = json!("stale");
    live["status"] = json!({"phase": "Enabled"});
    let put = replacement(&rendered, &live);
    assert_eq!(put["spec"], rendered.body["spec"]);
    assert_eq!(put["status"], json!({"phase": "Enabled"}));
    assert_eq!(put["metadata"]["resourceVersion"], json!("42"));
    assert_eq!(put["metadata"]["labels"]["team"], json!("shop"));
    assert_eq!(
        put["metadata"]["labels"][crate::desired::OWNER_UID],
        json!("uid-1")
    );
    assert_eq!(put["metadata"]["annotations"]["note"], json!("by hand"));
    assert_eq!(
        put["metadata"]["annotations"][RENDERED],
        json!(rendered.fingerprint)
    );
    assert_eq!(
        put["metadata"]["ownerReferences"],
        rendered.body["metadata"]["ownerReferences"]
    );
    assert!(put["metadata"].get("managedFields").is_none());
    // Once stored, the replacement is in sync.
    let mut after = canonical(rendered.kind, &put);
    after["metadata"]["resourceVersion"] = json!("43");
    assert_eq!(verdict(&rendered, Some(&after), true), Verdict::InSync);
}

#[test]
fn policy_report_replacement_drops_top_level_fields_no_longer_rendered() {
    let mut report = DesiredObject::owned(
        OwnedKind::PolicyReport,
        &owner(),
        Some("shop"),
        "sb-prod".into(),
        json!({"summary": {"fail": 1}, "results": [{"rule": "r"}]}),
    );
    let crate::desired::OwnedBody::Json(body) = &mut report.body else {
        unreachable!("built as JSON")
    };
    body["apiVersion"] = json!("wgpolicyk8s.io/v1alpha2");
    body["kind"] = json!("PolicyReport");
    let rendered = render(&report);
    let mut live = stored(&rendered);
    live["scope"] = json!({"kind": "Namespace", "name": "shop"});
    live["results"] = json!([]);
    assert_eq!(
        verdict(&rendered, Some(&live), true),
        Verdict::Replace { drifted: true }
    );
    let put = replacement(&rendered, &live);
    assert!(put.get("scope").is_none());
    assert_eq!(put["results"], json!([{"rule": "r"}]));
    assert_eq!(put["kind"], json!("PolicyReport"));
}

fn labels(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

#[test]
fn labels_first_applied_or_re_wished_are_not_drift() {
    let wanted = labels(&[("psa/enforce", "restricted"), ("marker", "uid")]);
    let untouched = labels(&[("team", "shop")]);
    assert_eq!(
        label_verdict(&wanted, &untouched, None),
        LabelVerdict::Apply { drifted: vec![] }
    );
    let mut applied = untouched.clone();
    applied.extend(wanted.clone());
    let stamp = labels_fingerprint(&wanted);
    assert_eq!(
        label_verdict(&wanted, &applied, Some(&stamp)),
        LabelVerdict::InSync
    );
    let rewished = labels(&[("psa/enforce", "baseline"), ("marker", "uid")]);
    assert_eq!(
        label_verdict(&rewished, &applied, Some(&stamp)),
        LabelVerdict::Apply { drifted: vec![] }
    );
}

#[test]
fn labels_changed_or_removed_by_hand_are_drift() {
    let wanted = labels(&[
        ("psa/enforce", "restricted"),
        ("psa/warn", "restricted"),
        ("marker", "uid"),
    ]);
    let stamp = labels_fingerprint(&wanted);
    let edited = labels(&[("psa/enforce", "privileged"), ("marker", "uid")]);
    assert_eq!(
        label_verdict(&wanted, &edited, Some(&stamp)),
        LabelVerdict::Apply {
            drifted: vec!["psa/enforce".into(), "psa/warn".into()]
        }
    );
}
