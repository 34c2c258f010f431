//! Which pods are judged through a template and which by themselves.

use super::*;
use k8s_openapi::api::apps::v1::{DaemonSet, Deployment};
use k8s_openapi::api::batch::v1::{CronJob, Job};
use k8s_openapi::api::core::v1::Pod;
use serde_json::json;

fn owner(kind: &str, uid: &str) -> serde_json::Value {
    json!([{"apiVersion": "apps/v1", "kind": kind, "name": "x", "uid": uid, "controller": true}])
}

/// A pod running the workloads' template.
fn pod(name: &str, owners: serde_json::Value) -> Arc<Pod> {
    pod_running(name, owners, "registry.example.com/ok:1")
}

fn pod_running(name: &str, owners: serde_json::Value, image: &str) -> Arc<Pod> {
    Arc::new(
        serde_json::from_value(json!({
            "metadata": {"name": name, "namespace": "shop", "ownerReferences": owners},
            "spec": {"containers": [{"name": "c", "image": image}]},
        }))
        .unwrap(),
    )
}

fn with_uid<T: serde::de::DeserializeOwned>(kind_spec: serde_json::Value, uid: &str) -> Arc<T> {
    let mut value = kind_spec;
    value["metadata"] = json!({"name": "x", "namespace": "shop", "uid": uid});
    Arc::new(serde_json::from_value(value).unwrap())
}

fn template() -> serde_json::Value {
    json!({"spec": {"containers": [{"name": "c", "image": "registry.example.com/ok:1"}]}})
}

/// The names of the pods judged by themselves.
fn judged_pods(snapshot: &Snapshot) -> Vec<String> {
    snapshot
        .pod_carriers()
        .iter()
        .filter(|c| c.kind == "Pod")
        .map(|c| c.meta.name.clone().unwrap_or_default())
        .collect()
}

fn cluster() -> Snapshot {
    Snapshot {
        deployments: vec![with_uid::<Deployment>(
            json!({"spec": {"selector": {}, "template": template()}}),
            "deploy-uid",
        )],
        daemon_sets: vec![with_uid::<DaemonSet>(
            json!({"spec": {"selector": {}, "template": template()}}),
            "ds-uid",
        )],
        jobs: vec![with_uid::<Job>(
            json!({"spec": {"template": template()}}),
            "job-uid",
        )],
        replica_sets: vec![
            Arc::new(ReplicaSetLink {
                namespace: "shop".into(),
                uid: "rs-uid".into(),
                controller: Some(("Deployment".into(), "deploy-uid".into())),
            }),
            // A bare ReplicaSet: no template here stands for its pods.
            Arc::new(ReplicaSetLink {
                namespace: "shop".into(),
                uid: "bare-rs-uid".into(),
                controller: None,
            }),
        ],
        ..Snapshot::default()
    }
}

#[test]
fn pods_of_workloads_here_are_judged_through_their_templates() {
    let mut snapshot = cluster();
    snapshot.pods = vec![
        pod("of-deployment", owner("ReplicaSet", "rs-uid")),
        pod("of-daemonset", owner("DaemonSet", "ds-uid")),
        pod("of-job", owner("Job", "job-uid")),
    ];
    assert_eq!(judged_pods(&snapshot), Vec::<String>::new());
}

#[test]
fn a_claimed_controller_that_does_not_vouch_leaves_the_pod_judged_itself() {
    let mut snapshot = cluster();
    snapshot.pods = vec![
        // A made-up uid.
        pod("forged", owner("ReplicaSet", "no-such-uid")),
        // A ReplicaSet no Deployment here controls.
        pod("of-bare-replicaset", owner("ReplicaSet", "bare-rs-uid")),
        // A Deployment's uid, but Deployments never own pods directly: only a uid matters,
        // so this counts only if the uid is one that vouches, and a Deployment's is not.
        pod("claims-deployment", owner("Deployment", "deploy-uid")),
        // Another operator's kind.
        pod("of-custom-kind", owner("Rollout", "rollout-uid")),
    ];
    assert_eq!(
        judged_pods(&snapshot),
        [
            "forged",
            "of-bare-replicaset",
            "claims-deployment",
            "of-custom-kind"
        ]
    );
}

#[test]
fn a_job_claiming_a_cron_job_that_is_not_here_is_judged_itself() {
    let mut snapshot = cluster();
    snapshot.cron_jobs = vec![with_uid::<CronJob>(
        json!({"spec": {"schedule": "* * * * *", "jobTemplate": {"spec": {"template": template()}}}}),
        "cron-uid",
    )];
    let mut of_cron: Job = (*snapshot.jobs[0]).clone();
    of_cron.metadata.uid = Some("job-of-cron".into());
    of_cron.metadata.owner_references =
        serde_json::from_value(owner("CronJob", "cron-uid")).unwrap();
    let mut forged = of_cron.clone();
    forged.metadata.uid = Some("job-forged".into());
    forged.metadata.name = Some("forged".into());
    forged.metadata.owner_references =
        serde_json::from_value(owner("CronJob", "no-such-cron")).unwrap();
    snapshot.jobs = vec![Arc::new(of_cron), Arc::new(forged)];
    let jobs: Vec<_> = snapshot
        .pod_carriers()
        .iter()
        .filter(|c| c.kind == "Job")
        .map(|c| c.meta.name.clone().unwrap_or_default())
        .collect();
    assert_eq!(jobs, ["forged"]);
}

/// A pod made (or claimed) for a finished Job: the Job creates no pod after it finished, so
/// its template stands by none created since.
#[test]
fn a_finished_job_vouches_for_no_pod_created_after_it_finished() {
    let mut snapshot = cluster();
    let mut job: Job = (*snapshot.jobs[0]).clone();
    job.status = serde_json::from_value(json!({"conditions": [
        {"type": "Failed", "status": "True", "reason": "DeadlineExceeded",
         "lastTransitionTime": "2026-01-01T00:01:00Z"},
    ]}))
    .unwrap();
    snapshot.jobs = vec![Arc::new(job)];
    let created = |name: &str, at: &str| {
        let mut p: Pod = (*pod(name, owner("Job", "job-uid"))).clone();
        p.metadata.creation_timestamp = Some(k8s_openapi::apimachinery::pkg::apis::meta::v1::Time(
            at.parse().unwrap(),
        ));
        Arc::new(p)
    };
    snapshot.pods = vec![
        created("before", "2026-01-01T00:00:30Z"),
        created("same-second", "2026-01-01T00:01:00Z"),
        created("after", "2026-01-01T00:05:00Z"),
        // No creation time: nothing to place it before the end.
        pod("undated", owner("Job", "job-uid")),
    ];
    assert_eq!(judged_pods(&snapshot), ["same-second", "after", "undated"]);
}

/// The API has no cross-namespace owners (the garbage collector ignores them): a pod naming a
/// ReplicaSet of another namespace is judged itself, and a ReplicaSet naming a Deployment of
/// another namespace vouches for nothing. This also keeps a namespace's evaluation a function
/// of its own objects (`engine::per_namespace`).
#[test]
fn an_owner_in_another_namespace_vouches_for_nothing() {
    let mut snapshot = cluster();
    let mut elsewhere: Pod =
        (*pod("claims-shop-replicaset", owner("ReplicaSet", "rs-uid"))).clone();
    elsewhere.metadata.namespace = Some("other".into());
    snapshot.replica_sets.push(Arc::new(ReplicaSetLink {
        namespace: "other".into(),
        uid: "other-rs-uid".into(),
        controller: Some(("Deployment".into(), "deploy-uid".into())),
    }));
    let mut of_other: Pod = (*pod(
        "of-replicaset-naming-shops-deployment",
        owner("ReplicaSet", "other-rs-uid"),
    ))
    .clone();
    of_other.metadata.namespace = Some("other".into());
    snapshot.pods = vec![
        Arc::new(elsewhere),
        Arc::new(of_other),
        pod("of-deployment", owner("ReplicaSet", "rs-uid")),
    ];
    assert_eq!(
        judged_pods(&snapshot),
        [
            "claims-shop-replicaset",
            "of-replicaset-naming-shops-deployment"
        ]
    );
}

#[test]
fn the_velero_kinds_a_baseline_ignores_are_every_velero_kind_watched() {
    macro_rules! kind_names {
        ($($field:ident: $ty:ty,)*) => {
            vec![$(<$ty as kube::Resource>::kind(&()).to_string(),)*]
        };
    }
    let watched: Vec<String> = crate::snapshot::velero_kinds!(kind_names);
    assert_eq!(watched, crate::velero::KINDS);
}
