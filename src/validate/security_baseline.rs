//! SecurityBaseline: selectors that compile, CIDRs, ports and the Pod Security version.

use super::{InvalidSpec, Problems, is_cidr};
use crate::api::security_baseline::{
    AccessSpec, AvailabilitySpec, EncryptionSpec, ImagesSpec, NetworkSpec, PodSecuritySpec,
    ResourcesSpec,
};
use crate::api::{Exemption, Mode, SecurityBaselineSpec};
use crate::catalog::ControlKind;
use crate::vocabulary::selection::CheckedSelector;

/// A SecurityBaseline spec whose values have been checked: it owns them (the plan and the
/// evaluation never read the raw spec), with the mode resolved and the namespace selector
/// compiled once. Ports are typed by the API itself (a number the schema bounds, a protocol
/// enum); this step checks their range again for offline input.
#[derive(Clone, Debug, PartialEq)]
pub struct ValidSecurityBaseline {
    pub mode: Mode,
    pub namespace_selector: CheckedSelector,
    pub network: Option<NetworkSpec>,
    pub encryption: Option<EncryptionSpec>,
    pub pod_security: Option<PodSecuritySpec>,
    pub images: Option<ImagesSpec>,
    pub access: Option<AccessSpec>,
    pub availability: Option<AvailabilitySpec>,
    pub resources: Option<ResourcesSpec>,
    pub exemptions: Vec<Exemption>,
}

pub fn validate(spec: &SecurityBaselineSpec) -> Result<ValidSecurityBaseline, InvalidSpec> {
    let mut problems = Problems::default();
    problems.exemptions(&spec.exemptions, ControlKind::SecurityBaseline);
    let namespace_selector = problems.selector(&spec.namespace_selector, "spec.namespaceSelector");
    if let Some(network) = &spec.network {
        problems.ports(
            &network.allowed_ingress_ports,
            "spec.network.allowedIngressPorts",
        );
        for (i, rule) in network.allowed_egress.iter().enumerate() {
            if !is_cidr(&rule.cidr) {
                problems.push(
                    format!("spec.network.allowedEgress[{i}].cidr"),
                    format!("`{}` must be a CIDR such as 10.0.0.0/8", rule.cidr),
                );
            }
            problems.ports(
                &rule.ports,
                &format!("spec.network.allowedEgress[{i}].ports"),
            );
        }
    }
    if let Some(at_rest) = spec.encryption.as_ref().and_then(|e| e.at_rest.as_ref())
        && at_rest.encrypted_storage_classes.is_empty()
        && at_rest.storage_class_parameter.is_none()
    {
        problems.push(
            "spec.encryption.atRest",
            "name at least one encrypted StorageClass or a storageClassParameter",
        );
    }
    if let Some(ps) = &spec.pod_security
        && let Some(version) = &ps.version
        && !(version == "latest"
            || version.strip_prefix("v1.").is_some_and(|m| {
                (1..=2).contains(&m.len()) && m.bytes().all(|b| b.is_ascii_digit())
            }))
    {
        problems.push(
            "spec.podSecurity.version",
            format!("`{version}` must be `latest` or `v1.N`"),
        );
    }
    if let Some(min) = spec.availability.as_ref().and_then(|a| a.min_replicas)
        && !(1..=1000).contains(&min)
    {
        problems.push("spec.availability.minReplicas", "must be 1..1000");
    }
    problems.finish()?;
    let Some(namespace_selector) = namespace_selector else {
        // `selector` recorded the problem, so `finish` returned it.
        return Err(InvalidSpec(vec![super::invalid("spec", "cannot be read")]));
    };
    Ok(ValidSecurityBaseline {
        mode: spec.mode(),
        namespace_selector,
        network: spec.network.clone(),
        encryption: spec.encryption.clone(),
        pod_security: spec.pod_security.clone(),
        images: spec.images.clone(),
        access: spec.access.clone(),
        availability: spec.availability.clone(),
        resources: spec.resources.clone(),
        exemptions: spec.exemptions.clone(),
    })
}
