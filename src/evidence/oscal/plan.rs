//! The minimal OSCAL Assessment Plan the results import (`import-ap`): what is assessed (the
//! ISO/IEC 27001:2022 and SOC 2 controls our 15 controls prove, our controls as the
//! objectives), by which method (automated TEST of the cluster's live state by the operator)
//! and against which system. There is no System Security Plan of the cluster: `import-ssp`
//! points at a back-matter resource that says so and names the component definition, which
//! describes the operator and its controls.

use super::*;

/// The Assessment Plan, generated at `generated` (`metadata.last-modified`: the only field
/// that changes between runs).
pub fn assessment_plan(generated: Timestamp) -> Value {
    let system = uuid_of("resource/system");
    json!({"assessment-plan": {
        "uuid": uuid_of("assessment-plan"),
        "metadata": metadata(
            "baseline-operator: continuous assessment of a Kubernetes cluster's security baseline",
            generated,
            vec![],
        ),
        "import-ssp": {"href": format!("#{system}")},
        "local-definitions": {
            "activities": [{
                "uuid": uuid_of("activity/evaluate"),
                "title": "Evaluate every control of every resource",
                "description": "baseline-operator evaluates each control of each SecurityBaseline, \
                    BackupPolicy and EnvironmentIsolation against the cluster's live objects on every \
                    change and at least once per checkpoint interval, and records each evaluation in \
                    status, PolicyReports and its signed, hash-chained evidence history.",
                "props": [{"name": "method", "value": "TEST"}],
            }],
        },
        "reviewed-controls": results::reviewed_controls(ControlId::ALL),
        "assessment-subjects": [{
            "type": "component",
            "description": "The cluster's workloads, namespaces and policy objects that the \
                SecurityBaselines, BackupPolicies and EnvironmentIsolations select.",
            "include-all": {},
        }],
        "back-matter": {"resources": [{
            "uuid": system,
            "title": "The system: a Kubernetes cluster evaluated by baseline-operator",
            "description": format!(
                "No System Security Plan is published for the cluster. The system is the cluster \
                 whose kube-system namespace uid each result names (prop `cluster`); the assessing \
                 component and the controls it implements are in {COMPONENTS_FILE}."
            ),
            "rlinks": [{"href": COMPONENTS_FILE, "media-type": "application/json"}],
        }]},
    }})
}
