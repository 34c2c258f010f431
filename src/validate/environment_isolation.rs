//! EnvironmentIsolation: unique DNS-label environment names, flows and binding allowances
//! between declared environments, selectors that compile.

use super::{InvalidSpec, Problems, is_dns_label};
use crate::api::environment_isolation::{
    Flow, IsolationAccessSpec, LabelProtectionSpec, ProductionDataSpec,
};
use crate::api::{EnvironmentIsolationSpec, Exemption, Mode};
use crate::catalog::ControlKind;
use crate::vocabulary::environments::Environment;
use std::collections::BTreeSet;

/// An EnvironmentIsolation spec whose values have been checked: it owns them (the plan and
/// the evaluation never read the raw spec), with the mode resolved and each environment's
/// selector compiled once.
#[derive(Clone, Debug, PartialEq)]
pub struct ValidEnvironmentIsolation {
    pub mode: Mode,
    /// `spec.environments`, in spec order.
    pub environments: Vec<Environment>,
    pub allowed_flows: Vec<Flow>,
    pub production_data: Option<ProductionDataSpec>,
    pub access: Option<IsolationAccessSpec>,
    pub protect_environment_labels: Option<LabelProtectionSpec>,
    pub exemptions: Vec<Exemption>,
}

pub fn validate(spec: &EnvironmentIsolationSpec) -> Result<ValidEnvironmentIsolation, InvalidSpec> {
    let mut problems = Problems::default();
    problems.exemptions(&spec.exemptions, ControlKind::EnvironmentIsolation);
    if spec.environments.is_empty() {
        problems.push("spec.environments", "declare at least one environment");
    }
    let mut seen = BTreeSet::new();
    let mut environments = Vec::new();
    for (i, env) in spec.environments.iter().enumerate() {
        if !is_dns_label(&env.name) {
            problems.push(
                format!("spec.environments[{i}].name"),
                format!("`{}` must be a DNS label", env.name),
            );
        }
        if !seen.insert(env.name.as_str()) {
            problems.push(
                "spec.environments",
                format!("environment names must be unique: `{}` repeats", env.name),
            );
        }
        let selector = problems.selector(
            &env.namespace_selector,
            &format!("spec.environments[{i}].namespaceSelector"),
        );
        environments.extend(selector.map(|selector| Environment {
            name: env.name.clone(),
            selector,
            production: env.production,
        }));
    }
    for (i, flow) in spec.allowed_flows.iter().enumerate() {
        for (field, env) in [("from", &flow.from), ("to", &flow.to)] {
            if !seen.contains(env.as_str()) {
                problems.push(
                    format!("spec.allowedFlows[{i}].{field}"),
                    format!("`{env}` is not a declared environment"),
                );
            }
        }
        problems.ports(&flow.ports, &format!("spec.allowedFlows[{i}].ports"));
    }
    let allowances = spec.access.iter().flat_map(|a| &a.allowed_bindings);
    for (i, allowance) in allowances.enumerate() {
        for (field, env) in [("from", &allowance.from), ("to", &allowance.to)] {
            if !seen.contains(env.as_str()) {
                problems.push(
                    format!("spec.access.allowedBindings[{i}].{field}"),
                    format!("`{env}` is not a declared environment"),
                );
            }
        }
    }
    if let Some(pd) = &spec.production_data
        && pd.production_values.is_empty()
    {
        problems.push(
            "spec.productionData.productionValues",
            "name at least one value",
        );
    }
    problems.finish()?;
    Ok(ValidEnvironmentIsolation {
        mode: spec.mode(),
        environments,
        allowed_flows: spec.allowed_flows.clone(),
        production_data: spec.production_data.clone(),
        access: spec.access.clone(),
        protect_environment_labels: spec.protect_environment_labels.clone(),
        exemptions: spec.exemptions.clone(),
    })
}
