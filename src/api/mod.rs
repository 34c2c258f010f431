//! The custom resources of `security.baseline.dev/v1alpha1` and their CRD YAML.

pub mod backup_policy;
pub mod common;
pub mod environment_isolation;
pub mod security_baseline;

pub use backup_policy::{BackupPolicy, BackupPolicySpec, BackupPolicyStatus};
pub use common::*;
pub use environment_isolation::{EnvironmentIsolation, EnvironmentIsolationSpec};
pub use security_baseline::{SecurityBaseline, SecurityBaselineSpec};

use crate::catalog::ControlKind;
use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::{
    CustomResourceColumnDefinition, CustomResourceDefinition, JSONSchemaProps, ValidationRule,
};
use kube::CustomResourceExt;

pub const GROUP: &str = "security.baseline.dev";

/// The three CRDs as the API server should serve them.
///
/// Each kind's exemptions may only name that kind's controls; the rule is generated from the
/// catalog here so that it cannot drift from it.
pub fn crds() -> Vec<CustomResourceDefinition> {
    let rpo = ("RPO", "string", ".spec.rpo");
    vec![
        with_printer_columns(
            with_exemption_scope(SecurityBaseline::crd(), ControlKind::SecurityBaseline),
            &[],
        ),
        with_printer_columns(
            with_exemption_scope(BackupPolicy::crd(), ControlKind::BackupPolicy),
            &[rpo],
        ),
        with_printer_columns(
            with_exemption_scope(
                EnvironmentIsolation::crd(),
                ControlKind::EnvironmentIsolation,
            ),
            &[],
        ),
    ]
}

/// The `kubectl get` columns every kind shows (mode, compliance, score, failing controls,
/// age), declared once, with a kind's own `(name, type, jsonPath)` columns after the mode.
fn with_printer_columns(
    mut crd: CustomResourceDefinition,
    own: &[(&str, &str, &str)],
) -> CustomResourceDefinition {
    let column = |(name, type_, json_path): (&str, &str, &str)| CustomResourceColumnDefinition {
        name: name.into(),
        type_: type_.into(),
        json_path: json_path.into(),
        ..Default::default()
    };
    let mut columns = vec![column(("Mode", "string", ".spec.mode"))];
    columns.extend(own.iter().copied().map(column));
    columns.extend(
        [
            (
                "Compliant",
                "string",
                ".status.conditions[?(@.type==\"Compliant\")].status",
            ),
            // The namespaces the figures cover (status.scope), so a reader sees the scope
            // of a score without opening the object.
            ("Namespaces", "integer", ".status.scope.namespaces"),
            ("Score", "integer", ".status.summary.score"),
            ("Failing", "string", ".status.summary.failingControls"),
            ("Age", "date", ".metadata.creationTimestamp"),
        ]
        .map(column),
    );
    for version in &mut crd.spec.versions {
        version.additional_printer_columns = Some(columns.clone());
    }
    crd
}

/// All CRDs as one multi-document YAML stream, as committed in `crds/`.
pub fn crds_yaml() -> String {
    crds()
        .iter()
        .map(|crd| serde_norway::to_string(crd).expect("CRDs serialize"))
        .collect::<Vec<_>>()
        .join("---\n")
}

fn with_exemption_scope(
    mut crd: CustomResourceDefinition,
    kind: ControlKind,
) -> CustomResourceDefinition {
    let ids: Vec<String> = kind.controls().map(|id| format!("'{id}'")).collect();
    let rule = ValidationRule {
        rule: format!("self.all(c, c in [{}])", ids.join(", ")),
        message: Some(format!(
            "exemptions of a {} may only name its controls: {}",
            kind.as_str(),
            ids.join(", ")
        )),
        ..Default::default()
    };
    for version in &mut crd.spec.versions {
        let controls = version
            .schema
            .as_mut()
            .and_then(|s| s.open_api_v3_schema.as_mut())
            .and_then(|root| property(root, "spec"))
            .and_then(|spec| property(spec, "exemptions"))
            .and_then(|exemptions| exemptions.items.as_mut())
            .and_then(|items| match items {
                k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::JSONSchemaPropsOrArray::Schema(s) => Some(s.as_mut()),
                _ => None,
            })
            .and_then(|item| property(item, "controls"))
            .expect("every kind has spec.exemptions[].controls");
        controls
            .x_kubernetes_validations
            .get_or_insert_with(Vec::new)
            .push(rule.clone());
    }
    crd
}

fn property<'a>(schema: &'a mut JSONSchemaProps, name: &str) -> Option<&'a mut JSONSchemaProps> {
    schema.properties.as_mut()?.get_mut(name)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `crds/` is generated; this fails when the Rust types and the committed YAML differ.
    #[test]
    fn committed_crds_are_in_sync() {
        let path = concat!(env!("CARGO_MANIFEST_DIR"), "/crds/crds.yaml");
        let committed = std::fs::read_to_string(path).unwrap_or_default();
        assert!(
            committed == crds_yaml(),
            "crds/crds.yaml is stale: run `cargo run -- crd > crds/crds.yaml`"
        );
    }

    #[test]
    fn exemption_rule_lists_only_own_controls() {
        let yaml = serde_norway::to_string(&crds()[1]).unwrap();
        assert!(yaml.contains("'automated-backup'"));
        assert!(!yaml.contains("c in ['restricted-ports'"));
    }
}
