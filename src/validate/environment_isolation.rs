//! EnvironmentIsolation: unique DNS-label environment names, flows and binding allowances
//! between declared environments, selectors that compile.

use super::{InvalidSpec, Problems, is_dns_label};
use crate::api::EnvironmentIsolationSpec;
use crate::catalog::ControlKind;
use crate::vocabulary::environments::Environment;
use std::collections::BTreeSet;
use std::ops::Deref;

/// An EnvironmentIsolation spec whose values have been checked, with each environment's
/// selector compiled once; everything else reads through to the spec.
#[derive(Clone, Debug)]
pub struct ValidEnvironmentIsolation {
    spec: EnvironmentIsolationSpec,
    /// `spec.environments`, in spec order.
    pub environments: Vec<Environment>,
}

impl Deref for ValidEnvironmentIsolation {
    type Target = EnvironmentIsolationSpec;
    fn deref(&self) -> &EnvironmentIsolationSpec {
        &self.spec
    }
}

/// Everything else is derived from the spec, so two are equal when their specs are.
impl PartialEq for ValidEnvironmentIsolation {
    fn eq(&self, other: &Self) -> bool {
        self.spec == other.spec
    }
}

impl ValidEnvironmentIsolation {
    pub fn spec(&self) -> &EnvironmentIsolationSpec {
        &self.spec
    }
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
        spec: spec.clone(),
        environments,
    })
}
