//! Invalid custom resources are rejected by the API server itself, with the field named.

use crate::support::*;
use kube::api::{Api, ApiResource, DynamicObject, PostParams};
use serde_json::{Value, json};

fn resource(kind: &str) -> ApiResource {
    let plural = match kind {
        "SecurityBaseline" => "securitybaselines",
        "BackupPolicy" => "backuppolicies",
        _ => "environmentisolations",
    };
    ApiResource {
        group: "security.baseline.dev".into(),
        version: "v1alpha1".into(),
        api_version: "security.baseline.dev/v1alpha1".into(),
        kind: kind.into(),
        plural: plural.into(),
    }
}

fn exemption(controls: Value) -> Value {
    json!({"controls": controls, "reason": "r", "approvedBy": "ciso", "expires": "2030-01-01"})
}

/// (case, kind, spec, text the API server's error must contain)
fn cases() -> Vec<(&'static str, &'static str, Value, &'static str)> {
    let sel = json!({"matchLabels": {"env": "production"}});
    let env =
        |name: &str| json!({"name": name, "namespaceSelector": {"matchLabels": {"env": name}}});
    vec![
        (
            "unknown mode",
            "SecurityBaseline",
            json!({"namespaceSelector": sel, "mode": "Block"}),
            "spec.mode",
        ),
        (
            "missing selector",
            "SecurityBaseline",
            json!({}),
            "spec.namespaceSelector",
        ),
        (
            "port out of range",
            "SecurityBaseline",
            json!({"namespaceSelector": sel, "network": {"allowedIngressPorts": [{"port": 70000}]}}),
            "spec.network.allowedIngressPorts[0].port",
        ),
        (
            "bad protocol",
            "SecurityBaseline",
            json!({"namespaceSelector": sel, "network": {"allowedIngressPorts": [{"port": 443, "protocol": "HTTP"}]}}),
            "spec.network.allowedIngressPorts[0].protocol",
        ),
        (
            "egress cidr",
            "SecurityBaseline",
            json!({"namespaceSelector": sel, "network": {"allowedEgress": [{"cidr": "10.0.0.0/33"}]}}),
            "spec.network.allowedEgress[0].cidr",
        ),
        (
            "unknown pod security level",
            "SecurityBaseline",
            json!({"namespaceSelector": sel, "podSecurity": {"level": "strict"}}),
            "spec.podSecurity.level",
        ),
        (
            "bad pod security version",
            "SecurityBaseline",
            json!({"namespaceSelector": sel, "podSecurity": {"level": "restricted", "version": "1.30"}}),
            "spec.podSecurity.version",
        ),
        (
            "at rest names nothing",
            "SecurityBaseline",
            json!({"namespaceSelector": sel, "encryption": {"atRest": {}}}),
            "spec.encryption.atRest",
        ),
        (
            "min replicas zero",
            "SecurityBaseline",
            json!({"namespaceSelector": sel, "availability": {"minReplicas": 0}}),
            "spec.availability.minReplicas",
        ),
        (
            "unknown control in exemption",
            "SecurityBaseline",
            json!({"namespaceSelector": sel, "exemptions": [exemption(json!(["no-such-control"]))]}),
            "spec.exemptions[0].controls[0]",
        ),
        (
            "exemption names no control",
            "SecurityBaseline",
            json!({"namespaceSelector": sel, "exemptions": [exemption(json!([]))]}),
            "spec.exemptions[0].controls",
        ),
        (
            "exemption of another kind's control",
            "SecurityBaseline",
            json!({"namespaceSelector": sel, "exemptions": [exemption(json!(["automated-backup"]))]}),
            "spec.exemptions[0].controls",
        ),
        (
            "exemption without reason",
            "SecurityBaseline",
            json!({"namespaceSelector": sel, "exemptions": [{"controls": ["trusted-images"], "approvedBy": "ciso", "expires": "2030-01-01"}]}),
            "spec.exemptions[0].reason",
        ),
        (
            "exemption without expiry",
            "SecurityBaseline",
            json!({"namespaceSelector": sel, "exemptions": [{"controls": ["trusted-images"], "reason": "r", "approvedBy": "ciso"}]}),
            "spec.exemptions[0].expires",
        ),
        (
            "exemption bad date",
            "SecurityBaseline",
            json!({"namespaceSelector": sel, "exemptions": [exemption(json!(["trusted-images"])).as_object().unwrap().clone().into_iter().chain([("expires".to_string(), json!("31/12/2030"))]).collect::<serde_json::Map<_,_>>()]}),
            "spec.exemptions[0].expires",
        ),
        (
            "rpo not a duration",
            "BackupPolicy",
            json!({"namespaceSelector": sel, "rpo": "1d"}),
            "spec.rpo",
        ),
        (
            "rpo zero",
            "BackupPolicy",
            json!({"namespaceSelector": sel, "rpo": "0h"}),
            "spec.rpo",
        ),
        (
            "retention min above max",
            "BackupPolicy",
            json!({"namespaceSelector": sel, "rpo": "24h", "retention": {"min": "2160h", "max": "720h"}}),
            "spec.retention.min",
        ),
        (
            "bad cron",
            "BackupPolicy",
            json!({"namespaceSelector": sel, "rpo": "24h", "schedule": "daily"}),
            "spec.schedule",
        ),
        (
            "duplicate environment names",
            "EnvironmentIsolation",
            json!({"environments": [env("dev"), env("dev")]}),
            "spec.environments",
        ),
        (
            "flow to undeclared environment",
            "EnvironmentIsolation",
            json!({"environments": [env("dev")], "allowedFlows": [{"from": "dev", "to": "prod"}]}),
            "spec.allowedFlows",
        ),
        (
            "environment name not a DNS label",
            "EnvironmentIsolation",
            json!({"environments": [env("Dev_1")]}),
            "spec.environments[0].name",
        ),
        (
            "no environments",
            "EnvironmentIsolation",
            json!({"environments": []}),
            "spec.environments",
        ),
    ]
}

#[tokio::test]
async fn api_server_rejects_invalid_crs_naming_the_field() {
    let client = client().await;
    let mut failures = Vec::new();
    for (case, kind, spec, field) in cases() {
        let api: Api<DynamicObject> = Api::all_with(client.clone(), &resource(kind));
        let object: DynamicObject = serde_json::from_value(json!({
            "apiVersion": "security.baseline.dev/v1alpha1", "kind": kind,
            "metadata": {"name": "invalid"}, "spec": spec,
        }))
        .unwrap();
        let params = PostParams {
            dry_run: true,
            ..Default::default()
        };
        match api.create(&params, &object).await {
            Ok(_) => failures.push(format!("{case}: accepted")),
            Err(kube::Error::Api(status))
                if status.code == 422 && status.message.contains(field) => {}
            Err(other) => failures.push(format!("{case}: error does not name `{field}`: {other}")),
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[tokio::test]
async fn every_sample_is_accepted_by_the_api_server() {
    let samples = std::path::Path::new(REPO).join("config/samples");
    let Ok(entries) = std::fs::read_dir(&samples) else {
        panic!("config/samples is missing");
    };
    let client = client().await;
    let mut count = 0;
    for entry in entries {
        let path = entry.unwrap().path();
        if path.extension().is_none_or(|e| e != "yaml") {
            continue;
        }
        let text = std::fs::read_to_string(&path).unwrap();
        for document in serde_norway::Deserializer::from_str(&text) {
            let value =
                serde_json::to_value(serde_norway::Value::deserialize(document).unwrap()).unwrap();
            if value.is_null() {
                continue;
            }
            let object: DynamicObject = serde_json::from_value(value.clone()).unwrap();
            let kind = value["kind"].as_str().unwrap_or_default();
            if !matches!(
                kind,
                "SecurityBaseline" | "BackupPolicy" | "EnvironmentIsolation"
            ) {
                continue;
            }
            let api: Api<DynamicObject> = Api::all_with(client.clone(), &resource(kind));
            // A server-side apply dry run validates whether or not the object already exists.
            let mut params = kube::api::PatchParams::apply("e2e-samples").force();
            params.dry_run = true;
            let name = object.metadata.name.clone().unwrap_or_default();
            api.patch(&name, &params, &kube::api::Patch::Apply(&object))
                .await
                .unwrap_or_else(|e| panic!("{}: {e}", path.display()));
            count += 1;
        }
    }
    assert!(count >= 3, "expected samples of every kind, found {count}");
}

use serde::Deserialize;

/// `restoreTest.every` below an hour is refused by the API server, naming the field; an hour
/// exactly is accepted.
#[tokio::test]
async fn backup_restore_test_every_below_an_hour_is_rejected() {
    let client = client().await;
    let api: Api<DynamicObject> = Api::all_with(client.clone(), &resource("BackupPolicy"));
    let params = PostParams {
        dry_run: true,
        ..Default::default()
    };
    let policy = |every: &str| -> DynamicObject {
        serde_json::from_value(json!({
            "apiVersion": "security.baseline.dev/v1alpha1", "kind": "BackupPolicy",
            "metadata": {"name": "every"},
            "spec": {
                "namespaceSelector": {"matchLabels": {"env": "production"}},
                "rpo": "24h",
                "restoreTest": {"every": every},
            },
        }))
        .unwrap()
    };
    for too_short in ["59m", "30m", "3599s", "0h"] {
        match api.create(&params, &policy(too_short)).await {
            Err(kube::Error::Api(status)) => assert!(
                status.code == 422
                    && status.message.contains("spec.restoreTest.every")
                    && status.message.contains("at least 1h"),
                "{too_short}: {status:?}"
            ),
            other => panic!("every: {too_short} was not refused: {other:?}"),
        }
    }
    for enough in ["1h", "60m", "8760h"] {
        api.create(&params, &policy(enough))
            .await
            .unwrap_or_else(|e| panic!("every: {enough} was refused: {e}"));
    }
}
