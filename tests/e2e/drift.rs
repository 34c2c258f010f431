//! Drift against the real API server: any difference from what the operator renders is taken
//! back (a field added by hand, one the operator stopped rendering, a changed selector or
//! label), and only a change by someone else is announced as "restored after drift".

use crate::support::*;
use baseline_operator::api::{BackupPolicy, EnvironmentIsolation, SecurityBaseline};
use baseline_operator::desired::drift::RENDERED;
use baseline_operator::desired::{OWNER_UID, OwnedKind, canonical};
use k8s_openapi::api::core::v1::Namespace;
use k8s_openapi::api::networking::v1::NetworkPolicy;
use kube::api::{Api, DeleteParams, DynamicObject, ListParams, Patch, PatchParams};
use kube::{Client, Resource, ResourceExt};
use serde::de::DeserializeOwned;
use serde_json::{Value, json};
use std::fmt::Debug;
use std::time::Duration;

const TIMEOUT: Duration = Duration::from_secs(45);

async fn delete_cr<K>(api: &Api<K>, name: &str)
where
    K: Resource<DynamicType = ()> + Clone + DeserializeOwned + Debug,
{
    let _ = api.delete(name, &DeleteParams::default()).await;
    wait_until("custom resource deleted", TIMEOUT, || async {
        api.get_opt(name).await.unwrap().is_none()
    })
    .await;
}

/// Applies a custom resource created afresh: one left over by a failed run is deleted first,
/// so that its uid, and the events about it, belong to this run.
async fn fresh_cr<K>(client: &Client, name: &str, spec: Value) -> Api<K>
where
    K: Resource<DynamicType = ()> + Clone + DeserializeOwned + Debug,
{
    delete_cr(&Api::<K>::all(client.clone()), name).await;
    apply_cr(client, name, spec).await
}

async fn uid_of<K>(api: &Api<K>, name: &str) -> String
where
    K: Resource<DynamicType = ()> + Clone + DeserializeOwned + Debug,
{
    api.get(name).await.unwrap().uid().unwrap()
}

/// Notes of the `Restored` events about the custom resource with `uid`, with how often each
/// occurred (the recorder folds repeats into a series).
fn restored_events(uid: &str) -> Vec<(String, i64)> {
    let out = cluster().kubectl_ok(&[
        "get",
        "events",
        "-A",
        "--field-selector",
        "reason=Restored",
        "-o",
        "json",
    ]);
    let events: Value = serde_json::from_str(&out).unwrap();
    events["items"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|e| e["involvedObject"]["uid"] == uid)
        .filter_map(|e| {
            let count = e["series"]["count"]
                .as_i64()
                .or(e["count"].as_i64())
                .unwrap_or(1);
            Some((e["message"].as_str()?.to_string(), count))
        })
        .collect()
}

fn restored_notes(uid: &str) -> Vec<String> {
    restored_events(uid)
        .into_iter()
        .map(|(note, _)| note)
        .collect()
}

async fn wait_for_restored(uid: &str, fragment: &str) {
    wait_until(
        &format!("Restored event mentioning {fragment}"),
        TIMEOUT,
        || {
            let found = restored_notes(uid).iter().any(|n| n.contains(fragment));
            async move { found }
        },
    )
    .await;
    for note in restored_notes(uid) {
        assert!(note.len() < 1024, "unbounded event note: {note}");
        assert!(note.contains("restored after drift"), "{note}");
    }
}

fn patch(kind: &str, name: &str, namespace: Option<&str>, body: Value) {
    let body = body.to_string();
    let mut args = vec!["patch", kind, name, "--type", "merge", "-p", &body];
    if let Some(ns) = namespace {
        args.extend(["-n", ns]);
    }
    cluster().kubectl_ok(&args);
}

async fn spec_of(client: &Client, kind: OwnedKind, namespace: Option<&str>, name: &str) -> Value {
    let resource = kind.api_resource();
    let api: Api<DynamicObject> = match namespace {
        Some(ns) => Api::namespaced_with(client.clone(), ns, &resource),
        None => Api::all_with(client.clone(), &resource),
    };
    match api.get_opt(name).await.unwrap() {
        Some(object) => object.data["spec"].clone(),
        None => Value::Null,
    }
}

fn latest_pod(ns: &str, labels: &str) -> String {
    format!(
        "apiVersion: v1\nkind: Pod\nmetadata: {{name: latest, namespace: {ns}, labels: {labels}}}\nspec:\n  containers: [{{name: web, image: \"nginx:latest\"}}]\n"
    )
}

fn images_baseline(selector: Value, exemptions: Value) -> Value {
    json!({
        "mode": "Enforce",
        "namespaceSelector": selector,
        "images": {"disallowLatestTag": true},
        "exemptions": exemptions,
    })
}

#[tokio::test]
async fn hand_added_ingress_rule_on_default_deny_is_taken_back() {
    let s = Scenario::start().await.timeout(TIMEOUT);
    let ns = s.namespace("e2e-drift-np", &[("e2e-drift", "np")]).await;
    let api = fresh_cr::<SecurityBaseline>(
        &s.client,
        "e2e-drift-np",
        json!({
            "mode": "Enforce",
            "namespaceSelector": {"matchLabels": {"e2e-drift": "np"}},
            "network": {"defaultDeny": ["Ingress", "Egress"]},
        }),
    )
    .await;
    let uid = uid_of(&api, "e2e-drift-np").await;
    let policies: Api<NetworkPolicy> = Api::namespaced(s.client.clone(), &ns);
    let deny = "sb-e2e-drift-np-default-deny";
    s.wait_until("default-deny exists", || async {
        policies.get_opt(deny).await.unwrap().is_some()
    })
    .await;
    settle_writes().await;
    assert!(
        restored_notes(&uid).is_empty(),
        "{:?}",
        restored_notes(&uid)
    );

    // `ingress: [{}]` admits everything: the default-deny would deny nothing inbound.
    patch(
        "networkpolicy",
        deny,
        Some(&ns),
        json!({"spec": {"ingress": [{}]}}),
    );
    let wanted = json!({"podSelector": {}, "policyTypes": ["Ingress", "Egress"]});
    s.wait_until("hand-added ingress rule removed", || async {
        spec_of(&s.client, OwnedKind::NetworkPolicy, Some(&ns), deny).await == wanted
    })
    .await;
    wait_for_restored(
        &uid,
        &format!("NetworkPolicy {ns}/{deny} was edited by hand"),
    )
    .await;
    settle_writes().await;

    // The same edit, in the same request as removing the label the operator finds its
    // objects by: the object leaves the operator's view, but not its care.
    patch(
        "networkpolicy",
        deny,
        Some(&ns),
        json!({"metadata": {"labels": {(OWNER_UID): null}}, "spec": {"ingress": [{}]}}),
    );
    s.wait_until("unlabelled, edited policy restored", || async {
        let policies: Api<NetworkPolicy> = Api::namespaced(s.client.clone(), &ns);
        let Some(policy) = policies.get_opt(deny).await.unwrap() else {
            return false;
        };
        policy.labels().get(OWNER_UID) == Some(&uid)
            && serde_json::to_value(policy.spec).unwrap() == wanted
    })
    .await;
    delete_cr(&api, "e2e-drift-np").await;
}

#[tokio::test]
async fn extra_match_condition_on_an_owned_admission_policy_is_removed() {
    let s = Scenario::start().await.timeout(TIMEOUT);
    let ns = s.namespace("e2e-drift-vap", &[("e2e-drift", "vap")]).await;
    let selector = json!({"matchLabels": {"e2e-drift": "vap"}});
    let api = fresh_cr::<SecurityBaseline>(
        &s.client,
        "e2e-drift-vap",
        images_baseline(selector, json!([])),
    )
    .await;
    let uid = uid_of(&api, "e2e-drift-vap").await;
    let policy = "sb-e2e-drift-vap-trusted-images";
    s.wait_until("latest tag rejected", || {
        let rejected = cluster().rejects(&latest_pod(&ns, "{}"), "trusted-images");
        async move { rejected }
    })
    .await;
    settle_writes().await;

    // Another field manager adds a condition that never matches: the policy checks nothing.
    let intrusion = json!({
        "apiVersion": "admissionregistration.k8s.io/v1",
        "kind": "ValidatingAdmissionPolicy",
        "metadata": {"name": policy},
        "spec": {"matchConditions": [{"name": "never", "expression": "false"}]},
    });
    let out = cluster().kubectl_stdin(
        &[
            "apply",
            "--server-side",
            "--force-conflicts",
            "--field-manager=intruder",
            "-f",
            "-",
        ],
        &intrusion.to_string(),
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    s.wait_until("extra matchConditions removed", || async {
        let spec = spec_of(
            &s.client,
            OwnedKind::ValidatingAdmissionPolicy,
            None,
            policy,
        )
        .await;
        spec.is_object() && spec.get("matchConditions").is_none()
    })
    .await;
    wait_for_restored(
        &uid,
        &format!("ValidatingAdmissionPolicy {policy} was edited by hand"),
    )
    .await;
    s.wait_until("latest tag rejected again", || {
        let rejected = cluster().rejects(&latest_pod(&ns, "{}"), "trusted-images");
        async move { rejected }
    })
    .await;
    // The repair leaves the operator's own server-side apply working: a changed spec still
    // reaches the policy.
    apply_cr::<SecurityBaseline>(
        &s.client,
        "e2e-drift-vap",
        json!({
            "mode": "Enforce",
            "namespaceSelector": {"matchLabels": {"e2e-drift": "vap"}},
            "images": {"disallowLatestTag": true, "requireDigest": true},
        }),
    )
    .await;
    s.wait_until("policy follows the changed spec", || async {
        let spec = spec_of(
            &s.client,
            OwnedKind::ValidatingAdmissionPolicy,
            None,
            policy,
        )
        .await;
        spec["validations"].as_array().map(Vec::len) == Some(2)
    })
    .await;
    delete_cr(&api, "e2e-drift-vap").await;
}

/// `selector` as the user wrote it: without the term every admission binding adds to leave
/// the excluded namespaces out (`kubernetes.io/metadata.name NotIn [kube-system, ...]`).
fn as_written(selector: &Value) -> Value {
    let mut selector = selector.clone();
    if let Some(terms) = selector
        .get_mut("matchExpressions")
        .and_then(Value::as_array_mut)
    {
        terms.retain(|t| {
            !(t["key"] == "kubernetes.io/metadata.name"
                && t["operator"] == "NotIn"
                && t["values"]
                    .as_array()
                    .is_some_and(|v| v.contains(&json!("kube-system"))))
        });
        if terms.is_empty() {
            selector.as_object_mut().unwrap().remove("matchExpressions");
        }
    }
    selector
}

#[tokio::test]
async fn hand_edited_namespace_selector_on_a_binding_is_restored() {
    let s = Scenario::start().await.timeout(TIMEOUT);
    let ns = s
        .namespace("e2e-drift-bind", &[("e2e-drift", "bind")])
        .await;
    let selector = json!({"matchLabels": {"e2e-drift": "bind"}});
    let api = fresh_cr::<SecurityBaseline>(
        &s.client,
        "e2e-drift-bind",
        images_baseline(selector.clone(), json!([])),
    )
    .await;
    let uid = uid_of(&api, "e2e-drift-bind").await;
    let binding = "sb-e2e-drift-bind-trusted-images";
    s.wait_until("latest tag rejected", || {
        let rejected = cluster().rejects(&latest_pod(&ns, "{}"), "trusted-images");
        async move { rejected }
    })
    .await;
    settle_writes().await;
    let restored_selector = || async {
        let live = spec_of(
            &s.client,
            OwnedKind::ValidatingAdmissionPolicyBinding,
            None,
            binding,
        )
        .await;
        let live = &live["matchResources"]["namespaceSelector"];
        // Restored exactly: the selector as written plus the exclusion term, nothing else.
        as_written(live) == selector
            && live["matchExpressions"]
                .as_array()
                .is_some_and(|t| t.len() == 1)
    };

    // Broader: every namespace, instead of the selected ones.
    patch(
        "validatingadmissionpolicybinding",
        binding,
        None,
        json!({"spec": {"matchResources": {"namespaceSelector": {
            "matchLabels": null,
            "matchExpressions": [{"key": "kubernetes.io/metadata.name", "operator": "Exists"}],
        }}}}),
    );
    s.wait_until("broader selector restored", restored_selector)
        .await;
    wait_for_restored(
        &uid,
        &format!("ValidatingAdmissionPolicyBinding {binding} was edited by hand"),
    )
    .await;
    settle_writes().await;

    // Narrower: the selected namespace carved out by an added expression.
    patch(
        "validatingadmissionpolicybinding",
        binding,
        None,
        json!({"spec": {"matchResources": {"namespaceSelector": {
            "matchExpressions": [{"key": "kubernetes.io/metadata.name", "operator": "NotIn", "values": [ns]}],
        }}}}),
    );
    s.wait_until("narrowed selector restored", restored_selector)
        .await;
    s.wait_until("latest tag rejected again", || {
        let rejected = cluster().rejects(&latest_pod(&ns, "{}"), "trusted-images");
        async move { rejected }
    })
    .await;
    delete_cr(&api, "e2e-drift-bind").await;
}

#[tokio::test]
async fn expired_or_removed_exemption_takes_its_match_condition_along() {
    let s = Scenario::start().await.timeout(TIMEOUT);
    let ns = s
        .namespace("e2e-drift-exempt", &[("e2e-drift", "exempt")])
        .await;
    let selector = json!({"matchLabels": {"e2e-drift": "exempt"}});
    let exemption = |expires: &str| {
        json!([{
            "controls": ["trusted-images"], "namespaces": [ns.clone()],
            "selector": {"matchLabels": {"exempt": "yes"}},
            "reason": "e2e", "approvedBy": "ciso", "expires": expires,
        }])
    };
    let policy = "sb-e2e-drift-exempt-trusted-images";
    let conditions = || async {
        spec_of(
            &s.client,
            OwnedKind::ValidatingAdmissionPolicy,
            None,
            policy,
        )
        .await["matchConditions"]
            .clone()
    };
    let soon = (jiff::Timestamp::now() + jiff::SignedDuration::from_secs(20))
        .strftime("%Y-%m-%dT%H:%M:%SZ")
        .to_string();
    let api = fresh_cr::<SecurityBaseline>(
        &s.client,
        "e2e-drift-exempt",
        images_baseline(selector.clone(), exemption(&soon)),
    )
    .await;
    let uid = uid_of(&api, "e2e-drift-exempt").await;
    s.wait_until("exemption rendered as a matchCondition", || async {
        conditions().await.is_array()
    })
    .await;
    wait_until(
        "matchCondition gone once the exemption expired",
        TIMEOUT + Duration::from_secs(20),
        || async { conditions().await.is_null() },
    )
    .await;

    apply_cr::<SecurityBaseline>(
        &s.client,
        "e2e-drift-exempt",
        images_baseline(selector.clone(), exemption("2099-01-01")),
    )
    .await;
    s.wait_until("exempted object admitted", || {
        let admitted = cluster()
            .apply_yaml(&latest_pod(&ns, "{exempt: \"yes\"}"))
            .is_ok();
        async move { admitted }
    })
    .await;
    cluster().kubectl_ok(&["delete", "pod", "latest", "-n", &ns, "--wait"]);
    apply_cr::<SecurityBaseline>(
        &s.client,
        "e2e-drift-exempt",
        images_baseline(selector, json!([])),
    )
    .await;
    s.wait_until(
        "matchCondition gone once the exemption left the CR",
        || async { conditions().await.is_null() },
    )
    .await;
    // The API server's admission policy cache follows the stored object a moment later, so the
    // rejection is awaited rather than asserted at once (CI saw it admitted in that gap).
    s.wait_until(
        "an object the removed exemption covered is rejected again",
        || {
            let rejected =
                cluster().rejects(&latest_pod(&ns, "{exempt: \"yes\"}"), "trusted-images");
            async move { rejected }
        },
    )
    .await;
    settle_writes().await;
    // Re-rendering after a spec change or an expiry is the operator's own doing.
    assert!(
        restored_notes(&uid).is_empty(),
        "{:?}",
        restored_notes(&uid)
    );
    delete_cr(&api, "e2e-drift-exempt").await;
}

#[tokio::test]
async fn selector_key_dropped_from_the_cr_disappears_from_live_objects() {
    let s = Scenario::start().await.timeout(TIMEOUT);
    let ns = s
        .namespace(
            "e2e-drift-keys",
            &[("e2e-drift", "keys"), ("e2e-drift-tier", "web")],
        )
        .await;
    let two_keys = json!({"matchLabels": {"e2e-drift": "keys", "e2e-drift-tier": "web"}});
    let one_key = json!({"matchLabels": {"e2e-drift": "keys"}});
    let sb = fresh_cr::<SecurityBaseline>(
        &s.client,
        "e2e-drift-keys",
        images_baseline(two_keys.clone(), json!([])),
    )
    .await;
    let environments = |selector: &Value| {
        json!({
            "mode": "Enforce",
            "environments": [
                {"name": "prod", "production": true, "namespaceSelector": selector},
                {"name": "dev", "namespaceSelector": {"matchLabels": {"e2e-drift-env": "dev"}}},
            ],
        })
    };
    let ei = fresh_cr::<EnvironmentIsolation>(&s.client, "e2e-drift-keys", environments(&two_keys))
        .await;
    let name = "sb-e2e-drift-keys-trusted-images";
    let isolation = "ei-e2e-drift-keys-isolation";
    let selectors = || async {
        let binding = spec_of(
            &s.client,
            OwnedKind::ValidatingAdmissionPolicyBinding,
            None,
            name,
        )
        .await;
        let policy = spec_of(&s.client, OwnedKind::ValidatingAdmissionPolicy, None, name).await;
        let network = spec_of(&s.client, OwnedKind::NetworkPolicy, Some(&ns), isolation).await;
        [
            as_written(&binding["matchResources"]["namespaceSelector"]),
            as_written(&policy["matchConstraints"]["namespaceSelector"]),
            network["ingress"][0]["from"][0]["namespaceSelector"].clone(),
        ]
    };
    s.wait_until("selectors with both keys", || async {
        selectors().await.iter().all(|s| *s == two_keys)
    })
    .await;

    apply_cr::<SecurityBaseline>(
        &s.client,
        "e2e-drift-keys",
        images_baseline(one_key.clone(), json!([])),
    )
    .await;
    apply_cr::<EnvironmentIsolation>(&s.client, "e2e-drift-keys", environments(&one_key)).await;
    s.wait_until("dropped key gone from every live selector", || async {
        selectors().await.iter().all(|s| *s == one_key)
    })
    .await;
    delete_cr(&sb, "e2e-drift-keys").await;
    delete_cr(&ei, "e2e-drift-keys").await;
}

#[tokio::test]
async fn a_new_namespace_is_no_drift_but_a_hand_deletion_is() {
    let s = Scenario::start().await.timeout(TIMEOUT);
    let first = s
        .namespace("e2e-drift-join-a", &[("e2e-drift", "join")])
        .await;
    let api = fresh_cr::<SecurityBaseline>(
        &s.client,
        "e2e-drift-join",
        json!({
            "mode": "Enforce",
            "namespaceSelector": {"matchLabels": {"e2e-drift": "join"}},
            "network": {"defaultDeny": ["Ingress"]},
        }),
    )
    .await;
    let uid = uid_of(&api, "e2e-drift-join").await;
    let deny = "sb-e2e-drift-join-default-deny";
    let exists = |ns: String| {
        let client = s.client.clone();
        async move {
            let policies: Api<NetworkPolicy> = Api::namespaced(client, &ns);
            policies.get_opt(deny).await.unwrap().is_some()
        }
    };
    s.wait_until("policy in the first namespace", || exists(first.clone()))
        .await;
    settle_writes().await;

    let second = s
        .namespace("e2e-drift-join-b", &[("e2e-drift", "join")])
        .await;
    s.wait_until("policy in the joining namespace", || exists(second.clone()))
        .await;
    settle_writes().await;
    assert!(
        restored_notes(&uid).is_empty(),
        "a namespace joining the selector was reported as drift: {:?}",
        restored_notes(&uid)
    );

    let policies: Api<NetworkPolicy> = Api::namespaced(s.client.clone(), &second);
    policies
        .delete(deny, &DeleteParams::default())
        .await
        .unwrap();
    wait_for_restored(
        &uid,
        &format!("NetworkPolicy {second}/{deny} was deleted by hand"),
    )
    .await;
    s.wait_until("deleted policy recreated", || exists(second.clone()))
        .await;
    delete_cr(&api, "e2e-drift-join").await;
}

async fn label(client: &Client, ns: &str, key: &str) -> Option<String> {
    let api: Api<Namespace> = Api::all(client.clone());
    api.get(ns).await.unwrap().labels().get(key).cloned()
}

#[tokio::test]
async fn pod_security_label_changed_by_hand_is_restored_with_an_event() {
    let s = Scenario::start().await.timeout(TIMEOUT);
    let ns = s.namespace("e2e-drift-psa", &[("e2e-drift", "psa")]).await;
    let spec = |level: &str| {
        json!({
            "mode": "Enforce",
            "namespaceSelector": {"matchLabels": {"e2e-drift": "psa"}},
            "podSecurity": {"level": level},
        })
    };
    let api = fresh_cr::<SecurityBaseline>(&s.client, "e2e-drift-psa", spec("baseline")).await;
    let uid = uid_of(&api, "e2e-drift-psa").await;
    let enforce = "pod-security.kubernetes.io/enforce";
    let warn = "pod-security.kubernetes.io/warn";
    s.wait_until("labels first applied", || async {
        label(&s.client, &ns, enforce).await.as_deref() == Some("baseline")
    })
    .await;
    apply_cr::<SecurityBaseline>(&s.client, "e2e-drift-psa", spec("restricted")).await;
    s.wait_until("labels follow the changed level", || async {
        label(&s.client, &ns, enforce).await.as_deref() == Some("restricted")
    })
    .await;
    settle_writes().await;
    assert!(
        restored_notes(&uid).is_empty(),
        "first application or a changed level reported as drift: {:?}",
        restored_notes(&uid)
    );

    let overwrite = format!("{enforce}=privileged");
    cluster().kubectl_ok(&["label", "namespace", &ns, &overwrite, "--overwrite"]);
    s.wait_until("changed label restored", || async {
        label(&s.client, &ns, enforce).await.as_deref() == Some("restricted")
    })
    .await;
    let note = format!("labels the operator set on Namespace {ns} were changed by hand");
    wait_for_restored(&uid, &note).await;
    settle_writes().await;

    let removal = format!("{warn}-");
    cluster().kubectl_ok(&["label", "namespace", &ns, &removal]);
    s.wait_until("removed label restored", || async {
        label(&s.client, &ns, warn).await.as_deref() == Some("restricted")
    })
    .await;
    // The same repair of the same namespace: the recorder counts it in the event's series.
    s.wait_until("second Restored occurrence for the namespace", || {
        let repeated = restored_events(&uid)
            .iter()
            .any(|(n, count)| n.contains(&note) && *count >= 2);
        async move { repeated }
    })
    .await;
    delete_cr(&api, "e2e-drift-psa").await;
}

/// Owned objects of `owner_uid`, of every kind the operator renders, read from the server.
async fn owned_objects(client: &Client, owner_uid: &str) -> Vec<(OwnedKind, DynamicObject)> {
    let selector = format!("{OWNER_UID}={owner_uid}");
    let mut out = Vec::new();
    for kind in [
        OwnedKind::NetworkPolicy,
        OwnedKind::ValidatingAdmissionPolicy,
        OwnedKind::ValidatingAdmissionPolicyBinding,
        OwnedKind::VeleroSchedule,
        OwnedKind::PolicyReport,
        OwnedKind::ConfigMap,
    ] {
        let api: Api<DynamicObject> = Api::all_with(client.clone(), &kind.api_resource());
        let list = api.list(&ListParams::default().labels(&selector)).await;
        for object in list.unwrap().items {
            out.push((kind, object));
        }
    }
    out
}

#[tokio::test]
async fn every_rendered_kind_reads_back_as_its_canonical_form_and_resyncs_write_nothing() {
    let s = Scenario::start().await.timeout(TIMEOUT);
    let operator = operator();
    // A run that failed half-way leaves its policies behind; they would refuse the fixtures.
    delete_cr(&Api::<SecurityBaseline>::all(s.client.clone()), "e2e-canon").await;
    delete_cr(
        &Api::<EnvironmentIsolation>::all(s.client.clone()),
        "e2e-canon",
    )
    .await;
    delete_cr(
        &Api::<EnvironmentIsolation>::all(s.client.clone()),
        "e2e-canon",
    )
    .await;
    delete_cr(&Api::<BackupPolicy>::all(s.client.clone()), "e2e-canon").await;
    let prod = s
        .namespace(
            "e2e-canon-prod",
            &[("e2e-canon", "yes"), ("e2e-canon-env", "prod")],
        )
        .await;
    let dev = s
        .namespace(
            "e2e-canon-dev",
            &[("e2e-canon", "yes"), ("e2e-canon-env", "dev")],
        )
        .await;
    let namespaces: Api<Namespace> = Api::all(s.client.clone());
    if namespaces.get_opt("velero").await.unwrap().is_none() {
        s.namespace("velero", &[]).await;
    }
    // A finding that outlives enforcement (admitted before the policies), for a PolicyReport.
    cluster()
        .apply_yaml(&latest_pod(&prod, "{}"))
        .expect("violating pod");

    let sb = fresh_cr::<SecurityBaseline>(&s.client, "e2e-canon", json!({
        "mode": "Enforce",
        "namespaceSelector": {
            "matchLabels": {"e2e-canon": "yes"},
            "matchExpressions": [{"key": "e2e-canon-env", "operator": "In", "values": ["prod", "dev"]}],
        },
        "network": {
            "defaultDeny": ["Ingress", "Egress"],
            "allowDNS": true,
            "allowedIngressPorts": [{"port": 443}, {"port": 8443, "protocol": "UDP"}],
            "allowedEgress": [{"cidr": "10.0.0.0/8", "ports": [{"port": 5432}]}, {"cidr": "192.168.0.0/16"}],
        },
        "encryption": {"inTransit": {"requireIngressTLS": true}, "atRest": {"encryptedStorageClasses": ["encrypted"]}},
        "podSecurity": {"level": "baseline"},
        "images": {"allowedRegistries": ["registry.example.com/"], "disallowLatestTag": true, "requireDigest": true},
        "access": {"forbiddenRoles": ["cluster-admin"], "forbidWildcardRoles": true},
        "resources": {"requireRequests": true, "requireMemoryLimit": true},
        "exemptions": [{
            "controls": ["trusted-images"], "namespaces": [dev.clone()],
            "selector": {"matchLabels": {"exempt": "yes"}, "matchExpressions": [{"key": "tier", "operator": "Exists"}]},
            "reason": "e2e", "approvedBy": "ciso", "expires": "2099-01-01",
        }],
    }))
    .await;
    let ei = fresh_cr::<EnvironmentIsolation>(&s.client, "e2e-canon", json!({
        "mode": "Enforce",
        "environments": [
            {"name": "prod", "production": true, "namespaceSelector": {"matchLabels": {"e2e-canon-env": "prod"}}},
            {"name": "dev", "namespaceSelector": {"matchLabels": {"e2e-canon-env": "dev"}}},
        ],
        "allowedFlows": [{"from": "dev", "to": "prod", "ports": [{"port": 443}]}],
        "productionData": {"productionValues": ["production"]},
        "access": {"denyCrossEnvironmentBindings": true},
        "protectEnvironmentLabels": {"allowedUsers": ["kubernetes-admin"]},
    }))
    .await;
    let bp = fresh_cr::<BackupPolicy>(
        &s.client,
        "e2e-canon",
        json!({
            "mode": "Enforce",
            "namespaceSelector": {"matchLabels": {"e2e-canon-env": "prod"}},
            "rpo": "24h", "rto": "6h",
            "retention": {"min": "720h", "max": "2160h"},
            "snapshotVolumes": true,
            // No backup to test yet: only the resource-modifier ConfigMap is rendered for it.
            "restoreTest": {"every": "8760h"},
        }),
    )
    .await;
    let uids = [
        uid_of(&sb, "e2e-canon").await,
        uid_of(&ei, "e2e-canon").await,
        uid_of(&bp, "e2e-canon").await,
    ];
    let expected = [
        (OwnedKind::NetworkPolicy, "sb-e2e-canon-default-deny"),
        (OwnedKind::NetworkPolicy, "sb-e2e-canon-allow"),
        (OwnedKind::NetworkPolicy, "ei-e2e-canon-isolation"),
        (
            OwnedKind::ValidatingAdmissionPolicy,
            "sb-e2e-canon-trusted-images",
        ),
        (
            OwnedKind::ValidatingAdmissionPolicyBinding,
            "sb-e2e-canon-trusted-images",
        ),
        (
            OwnedKind::ValidatingAdmissionPolicy,
            "sb-e2e-canon-encryption-in-transit",
        ),
        (
            OwnedKind::ValidatingAdmissionPolicy,
            "sb-e2e-canon-encryption-at-rest",
        ),
        (
            OwnedKind::ValidatingAdmissionPolicy,
            "sb-e2e-canon-least-privilege",
        ),
        (
            OwnedKind::ValidatingAdmissionPolicy,
            "sb-e2e-canon-resource-governance",
        ),
        (
            OwnedKind::ValidatingAdmissionPolicy,
            "ei-e2e-canon-production-data-restricted",
        ),
        (
            OwnedKind::ValidatingAdmissionPolicy,
            "ei-e2e-canon-cross-environment-access",
        ),
        (
            OwnedKind::ValidatingAdmissionPolicy,
            "ei-e2e-canon-environment-segregation",
        ),
        (
            OwnedKind::ValidatingAdmissionPolicyBinding,
            "ei-e2e-canon-environment-segregation",
        ),
        (OwnedKind::VeleroSchedule, "bp-e2e-canon"),
        (OwnedKind::ConfigMap, "bp-e2e-canon-restore-test-modifiers"),
        (OwnedKind::PolicyReport, "sb-e2e-canon"),
    ];
    let all_owned = || async {
        let mut objects = Vec::new();
        for uid in &uids {
            objects.extend(owned_objects(&s.client, uid).await);
        }
        objects
    };
    s.wait_until("every kind of owned object rendered", || async {
        let objects = all_owned().await;
        expected.iter().all(|(kind, name)| {
            objects
                .iter()
                .any(|(k, o)| k == kind && o.name_any() == *name)
        })
    })
    .await;
    // Created before the writes settle: a namespace in no environment is judged by the
    // EnvironmentIsolation (non-production for production data), so its arrival may change
    // the evidence; relabelling it with a key no selector reads must not.
    let bystander = s.namespace("e2e-canon-bystander", &[]).await;
    settle_writes().await;

    // Read back from the server, each object's owned view hashes to the stamp the operator
    // computed from its canonical form: the defaults model matches the real server.
    let mut mismatched = Vec::new();
    for (kind, object) in &all_owned().await {
        let value = serde_json::to_value(object).unwrap();
        let label_keys: Vec<&str> = object.labels().keys().map(String::as_str).collect();
        let view = canonical::owned_view(*kind, &value, label_keys);
        let stamp = object.annotations().get(RENDERED).cloned();
        if stamp.as_deref() != Some(canonical::fingerprint(&view).as_str()) {
            mismatched.push(format!("{kind:?} {}: {view:#}", object.name_any()));
        }
    }
    assert!(
        mismatched.is_empty(),
        "stored objects differ from their canonical form:\n{}",
        mismatched.join("\n")
    );
    for uid in &uids {
        assert!(
            restored_notes(uid).is_empty(),
            "the first rollout was reported as drift: {:?}",
            restored_notes(uid)
        );
    }

    // Converged: resyncs of all three resources write nothing. A label no selector reads, on
    // a namespace all three select, wakes all three (a namespace's change wakes only the
    // resources selecting it) and changes nothing they judge; on the bystander too.
    let settled = operator.metrics.total_writes();
    let writes_before = operator.metrics.encode();
    for round in 0..3 {
        let reconciles = operator.metrics.total_reconciles();
        let touch = json!({"metadata": {"labels": {"e2e-touch": round.to_string()}}});
        for namespace in [&prod, &bystander] {
            namespaces
                .patch(namespace, &PatchParams::default(), &Patch::Merge(&touch))
                .await
                .unwrap();
        }
        s.wait_until("a full resync ran", || async {
            operator.metrics.total_reconciles() >= reconciles + 3
        })
        .await;
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
    assert_eq!(
        operator.metrics.total_writes(),
        settled,
        "a converged resync wrote to the API server\nbefore:\n{writes_before}\nafter:\n{}",
        operator.metrics.encode()
    );

    delete_cr(&ei, "e2e-canon").await;
    delete_cr(&sb, "e2e-canon").await;
    delete_cr(&bp, "e2e-canon").await;
    let _ = cluster().kubectl(&["delete", "pod", "latest", "-n", &prod, "--wait=false"]);
}
