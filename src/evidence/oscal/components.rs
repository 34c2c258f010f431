//! The OSCAL Component Definition: baseline-operator as a software component whose control
//! implementations map our 15 controls to the ISO/IEC 27001:2022 Annex A controls and SOC 2
//! Trust Services Criteria of the catalog (one implemented requirement per reference, naming
//! every control of ours that proves it), so a GRC tool can import the mapping.

use super::*;
use crate::catalog::CATALOG;

/// The Component Definition, generated at `generated` (`metadata.last-modified`: the only
/// field that changes between runs).
pub fn component_definition(generated: Timestamp) -> Value {
    let component = uuid_of("component/baseline-operator");
    let implementations: Vec<Value> = FRAMEWORKS.into_iter().map(control_implementation).collect();
    json!({"component-definition": {
        "uuid": uuid_of("component-definition"),
        "metadata": metadata(
            "baseline-operator: controls and the ISO/IEC 27001:2022 and SOC 2 references they prove",
            generated,
            vec![],
        ),
        "components": [{
            "uuid": component,
            "type": "software",
            "title": "baseline-operator",
            "description": "A Kubernetes operator that enforces a written security policy with native \
                mechanisms (NetworkPolicies, Pod Security Admission, ValidatingAdmissionPolicies, \
                Velero) and evaluates 15 controls continuously, with per-control evidence in status, \
                PolicyReports and a signed, hash-chained history.",
            "purpose": "Continuous, automated assessment of a cluster's security baseline.",
            "props": [prop("version", env!("CARGO_PKG_VERSION"))],
            "control-implementations": implementations,
        }],
        "back-matter": {"resources": FRAMEWORKS.into_iter().map(framework_resource).collect::<Vec<_>>()},
    }})
}

fn framework_uuid(framework: Framework) -> String {
    uuid_of(&format!("framework/{}", framework.key()))
}

/// The framework a control implementation's `source` points at (its catalog is not ours to
/// publish: ISO/IEC 27001 and the AICPA criteria are copyrighted).
fn framework_resource(framework: Framework) -> Value {
    json!({
        "uuid": framework_uuid(framework),
        "title": framework.name(),
        "description": framework.scope(),
    })
}

fn control_implementation(framework: Framework) -> Value {
    let mut refs: Vec<&'static FrameworkRef> = CATALOG
        .iter()
        .flat_map(|c| c.id.references(framework))
        .collect();
    refs.sort_by_key(|r| r.order_key());
    refs.dedup_by_key(|r| r.id);
    let requirements: Vec<Value> = refs
        .into_iter()
        .map(|reference| {
            let proving: Vec<ControlId> = ControlId::ALL
                .iter()
                .copied()
                .filter(|c| c.references(framework).any(|r| r.id == reference.id))
                .collect();
            let lines: Vec<String> = proving
                .iter()
                .map(|c| {
                    let control = c.control();
                    format!(
                        "- {} ({}, {}): {}",
                        c,
                        control.title,
                        control.kind.as_str(),
                        control.checks
                    )
                })
                .collect();
            json!({
                "uuid": uuid_of(&format!("implemented-requirement/{}", control_id(reference))),
                "control-id": control_id(reference),
                "description": format!(
                    "{} {} ({}) is proven by these baseline-operator controls:\n\n{}",
                    framework.name(),
                    reference.id,
                    reference.title,
                    lines.join("\n")
                ),
                "props": proving
                    .iter()
                    .filter_map(|c| prop("control", c.as_str()))
                    .chain(prop("reference", reference.id))
                    .collect::<Vec<_>>(),
            })
        })
        .collect();
    json!({
        "uuid": uuid_of(&format!("control-implementation/{}", framework.key())),
        "source": format!("#{}", framework_uuid(framework)),
        "description": format!(
            "The {} references of baseline-operator's control catalog, each with the controls that prove it.",
            framework.name()
        ),
        "implemented-requirements": requirements,
    })
}
