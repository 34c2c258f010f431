//! EnvironmentIsolation: environments apart on the network, in data and in access.

use super::context::Context;
use super::reconciler::{NoExtraStatus, Plan, Reconciled};
use crate::api::{ComplianceStatus, EnvironmentIsolation, Exemption, Mode};
use crate::catalog::ControlKind;
use crate::desired::{self, OwnedKind, Owner};
use crate::evaluate::{Notice, isolation};
use crate::validate::environment_isolation::ValidEnvironmentIsolation;
use jiff::Timestamp;
use kube::ResourceExt;

impl Reconciled for EnvironmentIsolation {
    const KIND: ControlKind = ControlKind::EnvironmentIsolation;
    const MANAGES: &'static [OwnedKind] = &[
        OwnedKind::NetworkPolicy,
        OwnedKind::ValidatingAdmissionPolicy,
        OwnedKind::ValidatingAdmissionPolicyBinding,
    ];
    const LABEL_MARKER: &'static str = "security.baseline.dev/isolation-from";

    fn compliance(&self) -> ComplianceStatus {
        self.status.clone().unwrap_or_default()
    }

    fn exemptions(&self) -> &[Exemption] {
        &self.spec.exemptions
    }

    /// Every namespace concerns an isolation: any may join or leave an environment, and a
    /// copy of production data matters wherever it lands.
    /// Every namespace: one in no environment is an environment of its own for access.
    fn selects_namespace(
        &self,
        _namespace: &str,
        _labels: Option<&std::collections::BTreeMap<String, String>>,
    ) -> bool {
        true
    }

    type Valid = ValidEnvironmentIsolation;

    fn validate(
        &self,
        _ctx: &Context,
        _now: Timestamp,
    ) -> Result<ValidEnvironmentIsolation, crate::validate::InvalidSpec> {
        crate::validate::environment_isolation::validate(&self.spec)
    }

    type ExtraStatus = NoExtraStatus;

    fn extra_status(&self) -> NoExtraStatus {
        NoExtraStatus {}
    }

    fn plan(
        &self,
        valid: &ValidEnvironmentIsolation,
        ctx: &Context,
        _scope: &super::scope::Scope,
        now: Timestamp,
    ) -> Plan<NoExtraStatus> {
        let snapshot = ctx.snapshot();
        let name = self.name_any();
        let mut evaluation = isolation::evaluate(&name, valid, &snapshot, now);
        let wants_copies = self
            .spec
            .production_data
            .as_ref()
            .is_some_and(|d| d.detect_copied_secrets);
        if wants_copies && !ctx.detects_copied_secrets {
            evaluation.notices.push(Notice {
                reason: crate::conditions::Reason::CopiedSecretDetectionOff.as_str(),
                message: "detectCopiedSecrets is set but the operator runs without --detect-copied-secrets (Helm value copiedSecretDetection): copies are not detected".into(),
            });
        }
        let mut plan = Plan::report_only(evaluation, NoExtraStatus {});
        if self.spec.mode() == Mode::Enforce {
            let owner = Owner::of(self);
            let envs =
                crate::vocabulary::environments::environments_of(&valid.environments, &snapshot);
            plan.desired =
                desired::isolation::network_policies(&owner, &self.spec, &envs, &snapshot, now);
            plan.desired.extend(desired::isolation::admission(
                &owner,
                &self.spec,
                &snapshot,
                ctx.username.as_deref(),
                &ctx.restorers,
                now,
            ));
        }
        plan
    }
}
