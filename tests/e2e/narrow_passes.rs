//! A change in one namespace is handled by a pass over that namespace only (issue 26): the
//! operator's `reconcile_passes{scope="namespaces"}` counts such passes, and what they must do
//! is done: a new namespace gets its NetworkPolicies, Pod Security labels and PolicyReport; a
//! namespace leaving the selection loses them; a hand edit in one namespace is repaired; the
//! other namespaces' objects are not rewritten; status (drawn from the incremental engine)
//! counts every namespace, and agrees with a from-scratch evaluation.

use crate::environment_isolation::DeleteOnDrop;
use crate::support::*;
use baseline_operator::api::SecurityBaseline;
use k8s_openapi::api::core::v1::Namespace;
use k8s_openapi::api::networking::v1::NetworkPolicy;
use kube::Client;
use kube::api::{Api, ListParams, Patch, PatchParams};
use serde_json::json;
use std::collections::BTreeMap;
use std::time::Duration;

const TIMEOUT: Duration = Duration::from_secs(60);
const NAME: &str = "e2e-narrow";
const PSA_ENFORCE: &str = "pod-security.kubernetes.io/enforce";

fn narrow_passes(operator: &Operator) -> u64 {
    operator
        .metrics
        .passes
        .get_or_create(&baseline_operator::telemetry::PassLabels {
            kind: "SecurityBaseline".into(),
            scope: "namespaces".into(),
        })
        .get()
}

/// Asserts that a pass over namespaces only ran since `before`; else shows why passes were whole.
fn assert_narrow(operator: &Operator, before: u64, what: &str) {
    if narrow_passes(operator) > before {
        return;
    }
    for line in logs()
        .lines()
        .filter(|l| l.contains(NAME) && (l.contains("planned") || l.contains("every namespace")))
    {
        eprintln!("{line}");
    }
    panic!("{what} was not handled by a pass over namespaces only");
}

/// The operator's NetworkPolicies in `ns`, by name, with their resourceVersions.
async fn owned_policies(client: &Client, ns: &str) -> BTreeMap<String, String> {
    let api: Api<NetworkPolicy> = Api::namespaced(client.clone(), ns);
    let listed = api
        .list(&ListParams::default().labels(baseline_operator::desired::OWNER_UID))
        .await
        .unwrap();
    listed
        .items
        .into_iter()
        .map(|p| {
            (
                p.metadata.name.unwrap_or_default(),
                p.metadata.resource_version.unwrap_or_default(),
            )
        })
        .collect()
}

/// A Pod with a `latest` image: a finding, so the namespace has a PolicyReport.
fn finding_in(ns: &str) {
    cluster()
        .apply_yaml(&format!(
            "apiVersion: v1\nkind: Pod\nmetadata: {{name: web, namespace: {ns}}}\nspec:\n  containers: [{{name: app, image: \"nginx:latest\"}}]\n"
        ))
        .unwrap();
}

fn has_report(ns: &str) -> bool {
    report_named(ns, &format!("sb-{NAME}"))
}

async fn psa_label(client: &Client, ns: &str) -> Option<String> {
    let api: Api<Namespace> = Api::all(client.clone());
    api.get(ns)
        .await
        .ok()?
        .metadata
        .labels?
        .get(PSA_ENFORCE)
        .cloned()
}

async fn relabel(client: &Client, ns: &str, value: &str) {
    let namespaces: Api<Namespace> = Api::all(client.clone());
    namespaces
        .patch(
            ns,
            &PatchParams::default(),
            &Patch::Merge(json!({"metadata": {"labels": {"e2e-narrow": value}}})),
        )
        .await
        .unwrap();
}

async fn counted_namespaces(api: &Api<SecurityBaseline>) -> Vec<String> {
    api.get(NAME)
        .await
        .ok()
        .and_then(|sb| sb.status?.scope)
        .map(|s| s.namespace_names)
        .unwrap_or_default()
}

#[tokio::test]
async fn a_change_in_one_namespace_is_handled_by_a_pass_over_that_namespace() {
    let _serial = serial().await;
    let operator = operator();
    let client = client().await;
    let selected = [("e2e-narrow", "in")];
    let a = namespace(&client, "e2e-narrow-a", &selected).await;
    let b = namespace(&client, "e2e-narrow-b", &selected).await;
    finding_in(&a);
    finding_in(&b);
    let _cleanup = DeleteOnDrop("securitybaseline", NAME.into());
    let api = apply_cr::<SecurityBaseline>(
        &client,
        NAME,
        json!({
            "mode": "Enforce",
            "namespaceSelector": {"matchLabels": {"e2e-narrow": "in"}},
            "network": {"defaultDeny": ["Ingress"], "allowedIngressPorts": [{"port": 443}]},
            "podSecurity": {"level": "baseline"},
            "images": {"disallowLatestTag": true},
        }),
    )
    .await;
    wait_until("both namespaces enforced and reported", TIMEOUT, || async {
        owned_policies(&client, &a).await.len() >= 2
            && owned_policies(&client, &b).await.len() >= 2
            && has_report(&a)
            && has_report(&b)
            && psa_label(&client, &b).await.as_deref() == Some("baseline")
    })
    .await;
    // Let the whole passes of the creation settle before counting.
    tokio::time::sleep(Duration::from_secs(3)).await;
    let policies_of_a = owned_policies(&client, &a).await;
    let before = narrow_passes(operator);

    // A new namespace: protected by a pass over it alone.
    let c = namespace(&client, "e2e-narrow-c", &selected).await;
    wait_until("the new namespace enforced", TIMEOUT, || async {
        owned_policies(&client, &c).await.len() >= 2
            && psa_label(&client, &c).await.as_deref() == Some("baseline")
    })
    .await;
    assert_narrow(operator, before, "the new namespace");
    // A namespace with a finding joins the selection: enforced and reported.
    let d = namespace(&client, "e2e-narrow-d", &[("e2e-narrow", "out")]).await;
    finding_in(&d);
    let before = narrow_passes(operator);
    relabel(&client, &d, "in").await;
    wait_until(
        "the joining namespace enforced and reported",
        TIMEOUT,
        || async {
            owned_policies(&client, &d).await.len() >= 2
                && has_report(&d)
                && psa_label(&client, &d).await.as_deref() == Some("baseline")
        },
    )
    .await;
    assert_narrow(operator, before, "the namespace joining");
    // Status is the whole resource's: the new namespaces count beside the others.
    wait_until("status counts all four namespaces", TIMEOUT, || async {
        let counted = counted_namespaces(&api).await;
        [&a, &b, &c, &d].iter().all(|ns| counted.contains(ns))
    })
    .await;

    // A namespace leaves the selection: its objects, labels and report go, in a narrow pass.
    let before = narrow_passes(operator);
    relabel(&client, &b, "out").await;
    wait_until("the namespace that left is released", TIMEOUT, || async {
        owned_policies(&client, &b).await.is_empty()
            && !has_report(&b)
            && psa_label(&client, &b).await.is_none()
            && !counted_namespaces(&api).await.contains(&b)
    })
    .await;
    assert_narrow(operator, before, "the namespace leaving");

    // A hand edit in one namespace is repaired.
    let (edited, _) = policies_of_a.iter().next().unwrap();
    let policies: Api<NetworkPolicy> = Api::namespaced(client.clone(), &a);
    policies
        .patch(
            edited,
            &PatchParams::default(),
            &Patch::Merge(json!({"spec": {"podSelector": {"matchLabels": {"hole": "yes"}}}})),
        )
        .await
        .unwrap();
    wait_until("the edited policy is restored", TIMEOUT, || async {
        policies
            .get(edited)
            .await
            .is_ok_and(|p| p.spec.and_then(|s| s.pod_selector?.match_labels).is_none())
    })
    .await;

    // Nothing else in a was rewritten by the passes over b, c and d.
    let after = owned_policies(&client, &a).await;
    for (name, version) in &policies_of_a {
        if name != edited {
            assert_eq!(
                after.get(name),
                Some(version),
                "{name} in {a} was rewritten"
            );
        }
    }
    operator.assert_engine_never_diverged("status drawn from the engine");
}

/// The lines logged since `from` (a length of `logs()`) that say a resource was woken by a
/// Pod in `ns` (JSON lines: the `woke` list's quotes are escaped).
fn woken_by_pod_since(from: usize, ns: &str) -> Vec<String> {
    let logs = logs();
    logs.get(from..)
        .unwrap_or_default()
        .lines()
        .filter(|l| l.contains("woken by changes in namespaces") && l.contains(ns))
        .filter(|l| l.contains(r#"\"Pod\""#))
        .map(str::to_string)
        .collect()
}

#[tokio::test]
async fn a_write_of_what_no_control_reads_wakes_no_one() {
    use k8s_openapi::api::core::v1::Pod;
    let s = Scenario::start().await;
    let ns = s
        .namespace("e2e-quiet-status", &[("e2e-quiet", "in")])
        .await;
    finding_in(&ns);
    let sb = s
        .baseline(
            "e2e-quiet",
            json!({
                "mode": "Audit",
                "namespaceSelector": {"matchLabels": {"e2e-quiet": "in"}},
                "images": {"disallowLatestTag": true},
            }),
        )
        .await;
    sb.wait("the namespace counted", |sb| {
        sb.status
            .as_ref()
            .and_then(|st| st.scope.as_ref())
            .is_some_and(|scope| scope.namespace_names.contains(&ns))
    })
    .await;
    tokio::time::sleep(Duration::from_secs(2)).await;
    let pods: Api<Pod> = Api::namespaced(s.client.clone(), &ns);
    let before = pods.get("web").await.unwrap().metadata.resource_version;
    let mark = logs().len();
    // A status write of what no control reads (a condition; with no node here, nothing else
    // writes this pod): the API server bumps the resource version, the operator does nothing.
    pods.patch_status(
        "web",
        &PatchParams::default(),
        &Patch::Merge(json!({"status": {"conditions": [
            {"type": "PodScheduled", "status": "False", "reason": "Unschedulable"}]}})),
    )
    .await
    .unwrap();
    let after = pods.get("web").await.unwrap().metadata.resource_version;
    assert_ne!(before, after, "the status write was not made");
    tokio::time::sleep(Duration::from_secs(3)).await;
    let woken = woken_by_pod_since(mark, &ns);
    assert!(
        woken.is_empty(),
        "woken by a status no control reads: {woken:?}"
    );
    // What a control reads (a label: selectors, templates) wakes the baseline, so the check
    // above looks where a wake would show.
    pods.patch(
        "web",
        &PatchParams::default(),
        &Patch::Merge(json!({"metadata": {"labels": {"tier": "web"}}})),
    )
    .await
    .unwrap();
    s.wait_until("a label change wakes the baseline", || async {
        !woken_by_pod_since(mark, &ns).is_empty()
    })
    .await;
    sb.delete().await;
}

/// Lines saying `resource` was woken by changes in `ns` since log byte `from`.
fn woken_in_since(from: usize, resource: &str, ns: &str) -> Vec<String> {
    let logs = logs();
    logs.get(from..)
        .unwrap_or_default()
        .lines()
        .filter(|l| l.contains("woken by changes in namespaces") && l.contains(ns))
        .filter(|l| l.contains(&format!("\"{resource}\"")))
        .map(str::to_string)
        .collect()
}

fn report_named(ns: &str, name: &str) -> bool {
    let out = cluster().kubectl(&[
        "get",
        "policyreport",
        name,
        "-n",
        ns,
        "--ignore-not-found",
        "-o",
        "name",
    ]);
    !String::from_utf8_lossy(&out.stdout).trim().is_empty()
}

/// A report is read by no control: deleting one by hand wakes its owner, which puts it
/// back, and not the other baseline judging the same namespace (whose pass would find
/// nothing changed), nor does the owner's own write of it wake anyone.
#[tokio::test]
async fn a_report_deleted_by_hand_wakes_its_owner_alone() {
    let s = Scenario::start().await;
    let ns = s
        .namespace("e2e-owned-reports", &[("e2e-owned", "in")])
        .await;
    finding_in(&ns);
    let spec = json!({
        "mode": "Audit",
        "namespaceSelector": {"matchLabels": {"e2e-owned": "in"}},
        "images": {"disallowLatestTag": true},
    });
    let first = s.baseline("e2e-rep-first", spec.clone()).await;
    let second = s.baseline("e2e-rep-second", spec).await;
    s.wait_until("both baselines report in the namespace", || async {
        report_named(&ns, "sb-e2e-rep-first") && report_named(&ns, "sb-e2e-rep-second")
    })
    .await;
    tokio::time::sleep(Duration::from_secs(2)).await;
    let mark = logs().len();
    let out = cluster().kubectl(&["delete", "policyreport", "sb-e2e-rep-second", "-n", &ns]);
    assert!(out.status.success(), "{out:?}");
    s.wait_until("the owner puts its report back", || async {
        report_named(&ns, "sb-e2e-rep-second")
    })
    .await;
    let owner = woken_in_since(mark, "e2e-rep-second", &ns);
    assert!(
        owner.iter().any(|l| l.contains("an object of its own")),
        "the owner was not woken by its report: {owner:?}"
    );
    // The put-back's echo and the deletion, a window later at most.
    tokio::time::sleep(Duration::from_secs(3)).await;
    let other = woken_in_since(mark, "e2e-rep-first", &ns);
    assert!(
        other.is_empty(),
        "woken by another baseline's report: {other:?}"
    );
    first.delete().await;
    second.delete().await;
}

/// A pass woken by another resource's write it had already seen does not judge it again: a
/// namespace labelled into both wakes a baseline and an isolation at once, each writes its NetworkPolicy
/// there, and each policy's echo wakes the other a window later. Whichever pass had seen
/// the other's policy when it judged (at least one had: each judges after its own write has
/// arrived) skips, or enforces and lets its evidence stand. Both policies stay, both
/// statuses count the namespace.
#[tokio::test]
async fn a_wake_by_another_resources_write_it_had_seen_judges_nothing_again() {
    const ENV: &str = "e2e-seen-env";
    let s = Scenario::start().await.timeout(Duration::from_secs(60));
    let a = s
        .namespace("e2e-seen-a", &[("e2e-seen", "in"), (ENV, "seen-prod")])
        .await;
    let env = |name: &str, production: bool| json!({"name": name, "production": production, "namespaceSelector": {"matchLabels": {ENV: name}}});
    let isolation = s
        .isolation(
            "e2e-seen-iso",
            json!({
                "mode": "Enforce",
                "environments": [env("seen-prod", true), env("seen-dev", false)],
            }),
        )
        .await;
    let sb = s
        .baseline(
            "e2e-seen",
            json!({
                "mode": "Enforce",
                "namespaceSelector": {"matchLabels": {"e2e-seen": "in"}},
                "network": {"defaultDeny": ["Ingress"]},
            }),
        )
        .await;
    let both_policies = |ns: String| {
        let client = s.client.clone();
        async move {
            let names = network_policy_names(&client, &ns).await;
            names.contains(&"sb-e2e-seen-default-deny".to_string())
                && names.contains(&"ei-e2e-seen-iso-isolation".to_string())
        }
    };
    s.wait_until("both policies in the first namespace", || {
        both_policies(a.clone())
    })
    .await;
    // Selected by neither yet: what the cluster's controllers add to a new namespace (its
    // ServiceAccount, its CA ConfigMap) is someone else's change, which is always judged.
    let x = s.namespace("e2e-seen-x", &[]).await;
    tokio::time::sleep(Duration::from_secs(3)).await;
    let mark = logs().len();
    let namespaces: Api<Namespace> = Api::all(s.client.clone());
    namespaces
        .patch(
            &x,
            &PatchParams::default(),
            &Patch::Merge(json!({"metadata": {"labels": {"e2e-seen": "in", ENV: "seen-prod"}}})),
        )
        .await
        .unwrap();
    s.wait_until("both policies in the new namespace", || {
        both_policies(x.clone())
    })
    .await;
    let skipped = |line: &str| {
        line.contains("woken by changes it had judged and enforced") || line.contains("it stands")
    };
    let ours = |line: &str| line.contains("\"e2e-seen\"") || line.contains("\"e2e-seen-iso\"");
    // The echoes wake a window after the first passes.
    tokio::time::sleep(Duration::from_secs(4)).await;
    let since: Vec<String> = logs()
        .get(mark..)
        .unwrap_or_default()
        .lines()
        .filter(|l| ours(l))
        .map(str::to_string)
        .collect();
    if !since.iter().any(|l| skipped(l)) {
        for line in &since {
            eprintln!("{line}");
        }
        panic!("no pass woken by the other's policy skipped what it had judged");
    }
    let counted = |scope: Option<&baseline_operator::api::EvaluationScope>| {
        scope.is_some_and(|scope| scope.namespace_names.contains(&x))
    };
    sb.wait("the baseline counts the new namespace", |sb| {
        counted(sb.status.as_ref().and_then(|st| st.scope.as_ref()))
    })
    .await;
    isolation
        .wait("the isolation counts the new namespace", |ei| {
            counted(ei.status.as_ref().and_then(|st| st.scope.as_ref()))
        })
        .await;
    assert!(both_policies(x.clone()).await);
    sb.delete().await;
    isolation.delete().await;
}
