//! SecurityBaseline: evaluate the eight controls; in Enforce mode, NetworkPolicies, Pod
//! Security labels and admission policies.

use super::Error;
use super::context::Context;
use super::reconciler::{Plan, Reconciled};
use super::stores::Stores;
use crate::api::{ComplianceStatus, Exemption, Mode, SecurityBaseline};
use crate::catalog::ControlKind;
use crate::desired::{self, OwnedKind, Owner};
use crate::evaluate;
use jiff::Timestamp;

/// Marks namespaces that carry Pod Security labels set by a SecurityBaseline (value: its uid).
pub const PSA_MARKER: &str = "security.baseline.dev/pod-security-from";

impl Reconciled for SecurityBaseline {
    const KIND: ControlKind = ControlKind::SecurityBaseline;
    const MANAGES: &'static [OwnedKind] = &[
        OwnedKind::NetworkPolicy,
        OwnedKind::ValidatingAdmissionPolicy,
        OwnedKind::ValidatingAdmissionPolicyBinding,
    ];
    const LABEL_MARKER: &'static str = PSA_MARKER;

    fn compliance(&self) -> ComplianceStatus {
        self.status.clone().unwrap_or_default()
    }

    fn exemptions(&self) -> &[Exemption] {
        &self.spec.exemptions
    }

    fn selects_namespace(&self, namespace: &str, stores: &Stores) -> bool {
        super::namespace_selected(&self.spec.namespace_selector, namespace, stores)
    }

    async fn plan(&self, ctx: &Context, now: Timestamp) -> Result<Plan, Error> {
        let snapshot = ctx.stores.snapshot();
        let evaluation = evaluate::security_baseline::evaluate(&self.spec, &snapshot, now);
        let mut plan = Plan::report_only(evaluation);
        if self.spec.mode() != Mode::Enforce {
            return Ok(plan);
        }
        let owner = Owner::of(self);
        let namespaces = &plan.evaluation.namespaces;
        if let Some(network) = &self.spec.network {
            plan.desired
                .extend(desired::network_policy::restricted_ports(
                    &owner, network, namespaces,
                ));
        }
        plan.desired.extend(desired::admission::security_baseline(
            &owner, &self.spec, &snapshot, now,
        ));
        if let Some(pod_security) = &self.spec.pod_security {
            let labels = desired::pod_security_labels::labels(pod_security);
            plan.namespace_labels = namespaces
                .iter()
                .map(|ns| (ns.clone(), labels.clone()))
                .collect();
        }
        Ok(plan)
    }
}
