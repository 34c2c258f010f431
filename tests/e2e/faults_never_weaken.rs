//! The record of what a namespace carried before the operator came lives on the namespace, so
//! it survives the operator: the real binary, killed and restarted, neither forgets it nor
//! takes its own labels for a stricter prior. (A child of `faults`, for its cluster and
//! supervised replicas.)

use super::*;

async fn psa_labels(api: &Api<Namespace>, ns: &str) -> BTreeMap<String, String> {
    api.get(ns)
        .await
        .unwrap()
        .labels()
        .iter()
        .filter(|(k, _)| k.starts_with("pod-security.kubernetes.io/"))
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect()
}

#[tokio::test]
async fn the_record_of_what_was_there_survives_an_operator_restart() {
    let _serial = serial().await;
    let client = fault_client().await;
    let lease = lease_name("prior");
    let operator = Replica::start(&lease, "prior");
    wait_leading(&client, &lease, &operator).await;
    let names = namespaces(&client, "faults-prior", "prior", 1).await;
    let ns = names[0].as_str();
    let api: Api<Namespace> = Api::all(client.clone());
    // The namespace's own level, weaker than the baseline's: replaced, and recorded.
    let own = json!({"metadata": {"labels": {PSA_ENFORCE: "baseline"}}});
    api.patch(ns, &PatchParams::default(), &Patch::Merge(&own))
        .await
        .unwrap();
    let original = api.get(ns).await.unwrap().labels().clone();
    apply_baseline(&client, "faults-prior", baseline_spec("prior")).await;
    wait_until("restricted applied", TIMEOUT, || async {
        psa_labels(&api, ns)
            .await
            .get(PSA_ENFORCE)
            .map(String::as_str)
            == Some("restricted")
    })
    .await;
    wait_ready(&client, "faults-prior").await;

    operator.hold();
    operator.signal("KILL");
    wait_until("the operator is gone", TIMEOUT, || async {
        !operator.running()
    })
    .await;
    operator.release();

    // Made weaker after the restart, the baseline asks baseline:latest. Its own restricted
    // label is not a prior: the recorded one (baseline, no version) is, and is as strict.
    let mut weaker = baseline_spec("prior");
    weaker["podSecurity"]["level"] = json!("baseline");
    apply_baseline(&client, "faults-prior", weaker).await;
    let wanted: BTreeMap<String, String> = [
        ("enforce", "baseline"),
        ("warn", "baseline"),
        ("warn-version", "latest"),
        ("audit", "baseline"),
        ("audit-version", "latest"),
    ]
    .iter()
    .map(|(k, v)| (format!("pod-security.kubernetes.io/{k}"), v.to_string()))
    .collect();
    let deadline = Instant::now() + TIMEOUT;
    loop {
        let now = psa_labels(&api, ns).await;
        if now == wanted {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "timed out waiting for the restarted operator to follow the record\nwanted {wanted:?}\nfound  {now:?}"
        );
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    wait_ready(&client, "faults-prior").await;

    // Deleted, the baseline puts back exactly what the namespace carried.
    delete_baseline(&client, "faults-prior").await;
    let deadline = Instant::now() + TIMEOUT;
    loop {
        let ns_now = api.get(ns).await.unwrap();
        let labels = ns_now.labels().clone();
        let ours: Vec<&String> = ns_now
            .annotations()
            .keys()
            .filter(|k| k.starts_with("security.baseline.dev/"))
            .collect();
        if labels == original && ours.is_empty() {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "timed out waiting for exactly what was there\nwanted {original:?}\nfound  {labels:?}, annotations {ours:?}"
        );
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}
