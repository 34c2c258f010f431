//! `workload-hardening` (Pod Security Standards), `high-availability` and
//! `resource-governance`: properties of pods and pod templates.

use super::encryption::in_scope;
use super::pod_security::{self, Level, PsaVersion};
use super::{ControlOutcome, ObjectRef, Violation, selects};
use crate::api::security_baseline::{
    AvailabilitySpec, PodSecurityLevel, PodSecuritySpec, ResourcesSpec,
};
use crate::catalog::ControlId;
use crate::snapshot::{PodCarrier, Snapshot};
use k8s_openapi::api::core::v1::Container;

fn carriers<'a>(snapshot: &'a Snapshot, namespaces: &[String]) -> Vec<PodCarrier<'a>> {
    snapshot
        .pod_carriers()
        .into_iter()
        .filter(|c| in_scope(Some(c.namespace()), namespaces))
        .collect()
}

pub fn hardening(
    spec: Option<&PodSecuritySpec>,
    namespaces: &[String],
    snapshot: &Snapshot,
) -> ControlOutcome {
    let Some(spec) = spec else {
        return ControlOutcome::not_applicable(ControlId::WorkloadHardening);
    };
    let level = match spec.level {
        PodSecurityLevel::Baseline => Level::Baseline,
        PodSecurityLevel::Restricted => Level::Restricted,
    };
    let version = PsaVersion::parse(spec.version()).unwrap_or(PsaVersion::Latest);
    let carriers = carriers(snapshot, namespaces);
    let mut violations = Vec::new();
    for carrier in &carriers {
        let found = pod_security::evaluate(level, version, carrier.pod_meta, carrier.spec);
        if !found.is_empty() {
            let reasons: Vec<String> = found
                .iter()
                .map(|v| format!("{} ({})", v.reason, v.detail))
                .collect();
            violations.push(Violation::new(
                ObjectRef::of_carrier(carrier),
                format!(
                    "violates PodSecurity \"{}:{}\": {}",
                    spec.level.as_str(),
                    spec.version(),
                    reasons.join("; ")
                ),
            ));
        }
    }
    ControlOutcome::checked(ControlId::WorkloadHardening, carriers.len(), violations)
}

pub fn availability(
    spec: Option<&AvailabilitySpec>,
    namespaces: &[String],
    snapshot: &Snapshot,
) -> ControlOutcome {
    let Some(spec) = spec else {
        return ControlOutcome::not_applicable(ControlId::HighAvailability);
    };
    let carriers: Vec<PodCarrier> = carriers(snapshot, namespaces)
        .into_iter()
        .filter(|c| matches!(c.kind, "Deployment" | "StatefulSet"))
        .collect();
    let mut violations = Vec::new();
    for carrier in &carriers {
        let object = ObjectRef::of_carrier(carrier);
        if let (Some(min), Some(replicas)) = (spec.min_replicas, carrier.replicas) {
            if replicas < min {
                violations.push(Violation::new(
                    object.clone(),
                    format!("runs {replicas} replica(s), fewer than the required {min}"),
                ));
            } else if let Some(ready) = carrier.ready_replicas
                && ready < min
            {
                // Asking for enough replicas is not having them: pods that never schedule,
                // crash or fail their readiness probe leave the service as fragile as one
                // replica would. The spec finding above already covers a short spec.
                violations.push(Violation::new(
                    object.clone(),
                    format!("has {ready} Ready replica(s), fewer than the required {min}"),
                ));
            }
        }
        if spec.require_pod_disruption_budget {
            let pod_labels = carrier.pod_meta.labels.clone().unwrap_or_default();
            let covered = snapshot.pod_disruption_budgets.iter().any(|pdb| {
                pdb.metadata.namespace.as_deref() == Some(carrier.namespace())
                    && pdb
                        .spec
                        .as_ref()
                        .and_then(|s| s.selector.as_ref())
                        .is_some_and(|s| !is_empty_selector(s) && selects(s, &pod_labels))
            });
            if !covered {
                violations.push(Violation::new(
                    object.clone(),
                    "no PodDisruptionBudget covers its pods",
                ));
            }
        }
        if spec.require_probes {
            for c in &carrier.spec.containers {
                if c.readiness_probe.is_none() || c.liveness_probe.is_none() {
                    violations.push(Violation::new(
                        object.clone(),
                        format!("container `{}` lacks a readiness or liveness probe", c.name),
                    ));
                }
            }
        }
    }
    ControlOutcome::checked(ControlId::HighAvailability, carriers.len(), violations)
}

fn is_empty_selector(s: &k8s_openapi::apimachinery::pkg::apis::meta::v1::LabelSelector) -> bool {
    s.match_labels.as_ref().is_none_or(|m| m.is_empty())
        && s.match_expressions.as_ref().is_none_or(Vec::is_empty)
}

pub fn resources(
    spec: Option<&ResourcesSpec>,
    namespaces: &[String],
    snapshot: &Snapshot,
) -> ControlOutcome {
    let Some(spec) = spec else {
        return ControlOutcome::not_applicable(ControlId::ResourceGovernance);
    };
    let carriers = carriers(snapshot, namespaces);
    let mut violations = Vec::new();
    for carrier in &carriers {
        let all = carrier
            .spec
            .containers
            .iter()
            .chain(carrier.spec.init_containers.iter().flatten());
        for container in all {
            let missing = missing_resources(spec, container);
            if !missing.is_empty() {
                violations.push(Violation::new(
                    ObjectRef::of_carrier(carrier),
                    format!(
                        "container `{}` does not declare {}",
                        container.name,
                        missing.join(", ")
                    ),
                ));
            }
        }
    }
    ControlOutcome::checked(ControlId::ResourceGovernance, carriers.len(), violations)
}

fn missing_resources(spec: &ResourcesSpec, container: &Container) -> Vec<&'static str> {
    let resources = container.resources.as_ref();
    let has = |map: Option<&std::collections::BTreeMap<String, _>>, key: &str| {
        map.is_some_and(|m| m.contains_key(key))
    };
    let requests = resources.and_then(|r| r.requests.as_ref());
    let limits = resources.and_then(|r| r.limits.as_ref());
    let mut missing = Vec::new();
    if spec.require_requests {
        if !has(requests, "cpu") {
            missing.push("a CPU request");
        }
        if !has(requests, "memory") {
            missing.push("a memory request");
        }
    }
    if spec.require_memory_limit && !has(limits, "memory") {
        missing.push("a memory limit");
    }
    missing
}

#[cfg(test)]
mod tests {
    use super::*;
    use k8s_openapi::api::apps::v1::Deployment;
    use k8s_openapi::api::policy::v1::PodDisruptionBudget;
    use serde_json::json;
    use std::sync::Arc;

    fn spec() -> AvailabilitySpec {
        AvailabilitySpec {
            min_replicas: Some(2),
            require_pod_disruption_budget: true,
            require_probes: true,
        }
    }

    fn deployment(name: &str, replicas: i32, probes: bool) -> Arc<Deployment> {
        ready_deployment(name, replicas, probes, replicas)
    }

    fn ready_deployment(name: &str, replicas: i32, probes: bool, ready: i32) -> Arc<Deployment> {
        let mut container = json!({"name": "web", "image": "registry.example.com/web:1"});
        if probes {
            container["readinessProbe"] = json!({"httpGet": {"path": "/ready", "port": 8080}});
            container["livenessProbe"] = json!({"httpGet": {"path": "/live", "port": 8080}});
        }
        Arc::new(
            serde_json::from_value(json!({
                "metadata": {"name": name, "namespace": "shop"},
                "spec": {
                    "replicas": replicas,
                    "selector": {"matchLabels": {"app": name}},
                    "template": {
                        "metadata": {"labels": {"app": name}},
                        "spec": {"containers": [container]},
                    },
                },
                "status": {"replicas": replicas, "readyReplicas": ready},
            }))
            .unwrap(),
        )
    }

    fn pdb(app: &str) -> Arc<PodDisruptionBudget> {
        Arc::new(
            serde_json::from_value(json!({
                "metadata": {"name": app, "namespace": "shop"},
                "spec": {"minAvailable": 1, "selector": {"matchLabels": {"app": app}}},
            }))
            .unwrap(),
        )
    }

    fn findings(snapshot: &Snapshot) -> Vec<String> {
        availability(Some(&spec()), &["shop".into()], snapshot)
            .violations
            .into_iter()
            .map(|v| format!("{}: {}", v.object.name, v.message))
            .collect()
    }

    #[test]
    fn single_replica_without_budget_or_probes_breaks_every_rule() {
        let snapshot = Snapshot {
            deployments: vec![deployment("fragile", 1, false)],
            ..Default::default()
        };
        assert_eq!(
            findings(&snapshot),
            [
                "fragile: container `web` lacks a readiness or liveness probe",
                "fragile: no PodDisruptionBudget covers its pods",
                "fragile: runs 1 replica(s), fewer than the required 2",
            ]
        );
    }

    #[test]
    fn replicated_deployment_with_budget_and_probes_passes() {
        let snapshot = Snapshot {
            deployments: vec![deployment("sturdy", 3, true)],
            pod_disruption_budgets: vec![pdb("sturdy"), pdb("other")],
            ..Default::default()
        };
        assert_eq!(findings(&snapshot), Vec::<String>::new());
        // A budget for other pods does not cover it.
        let snapshot = Snapshot {
            deployments: vec![deployment("sturdy", 3, true)],
            pod_disruption_budgets: vec![pdb("other")],
            ..Default::default()
        };
        assert_eq!(
            findings(&snapshot),
            ["sturdy: no PodDisruptionBudget covers its pods"]
        );
    }

    #[test]
    fn replicas_asked_for_but_not_ready_are_not_availability() {
        let budgets = vec![pdb("sturdy")];
        let snapshot = Snapshot {
            deployments: vec![ready_deployment("sturdy", 3, true, 1)],
            pod_disruption_budgets: budgets.clone(),
            ..Default::default()
        };
        assert_eq!(
            findings(&snapshot),
            ["sturdy: has 1 Ready replica(s), fewer than the required 2"]
        );
        // No status at all (never scheduled, or no node): nothing is Ready.
        let mut unreported = (*deployment("sturdy", 3, true)).clone();
        unreported.status = None;
        let snapshot = Snapshot {
            deployments: vec![Arc::new(unreported)],
            pod_disruption_budgets: budgets.clone(),
            ..Default::default()
        };
        assert_eq!(
            findings(&snapshot),
            ["sturdy: has 0 Ready replica(s), fewer than the required 2"]
        );
        // Two of three Ready meets a minimum of two (a rolling update may take one down).
        let snapshot = Snapshot {
            deployments: vec![ready_deployment("sturdy", 3, true, 2)],
            pod_disruption_budgets: budgets,
            ..Default::default()
        };
        assert_eq!(findings(&snapshot), Vec::<String>::new());
    }
}
