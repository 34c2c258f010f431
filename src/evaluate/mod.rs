//! Evaluation: `fn(&Spec, &Snapshot, now) -> Evaluation`. Pure: no client, no clock.
//!
//! Each control family lives in its own module and reports raw [`Violation`]s; this module
//! applies exemptions, counts, and turns the result into status evidence.

pub mod backup;
pub mod encryption;
pub mod images;
pub mod isolation;
pub mod network;
pub mod open_ports;
pub mod pod_security;
pub mod privilege;
pub mod workloads;

pub use crate::vocabulary::exemptions;
pub use crate::vocabulary::objects::{Notice, ObjectRef};
pub use crate::vocabulary::selection::{
    Excluded, TERMINATING, excluded_namespaces, selected_namespaces, selects,
};

use crate::api::{ControlResult, ControlState, Exemption, Finding, Summary};
use crate::catalog::ControlId;
use jiff::Timestamp;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use std::collections::{BTreeMap, BTreeSet};

/// Findings kept in status per control; the rest go to PolicyReports.
pub const STATUS_FINDINGS_PER_CONTROL: usize = 10;

/// One object breaking one control, before exemptions. Shared, not copied: an evaluation
/// over thousands of namespaces gathers the findings every namespace's kept part holds, and
/// a copy of each (four strings) was most of that fold. Reads go through to its fields.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct Violation(std::sync::Arc<ViolationFields>);

/// What a [`Violation`] says.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct ViolationFields {
    pub object: ObjectRef,
    /// Told wherever the finding goes, the object's namespace's PolicyReport included.
    pub message: String,
    /// Told only in the custom resource's (cluster-scoped) status: what the object's namespace
    /// must not learn, e.g. which production Secret a copy came from.
    pub detail: Option<String>,
    /// The finding itself is what the object's namespace must not learn: a non-production
    /// Secret matching production data would otherwise be an oracle for its tenants (store a
    /// guess, watch for the finding). Reported only where they cannot read: the custom
    /// resource's status, the ClusterPolicyReport (and so the bundle) and the history; never
    /// in the namespace's PolicyReport (not even as a count) or in an event.
    pub confidential: bool,
}

impl std::ops::Deref for Violation {
    type Target = ViolationFields;

    fn deref(&self) -> &ViolationFields {
        &self.0
    }
}

impl Violation {
    pub fn new(object: ObjectRef, message: impl Into<String>) -> Self {
        Self(std::sync::Arc::new(ViolationFields {
            object,
            message: message.into(),
            detail: None,
            confidential: false,
        }))
    }

    /// Marks the finding as one the object's namespace must not see (see `confidential`).
    pub fn confidential(mut self) -> Self {
        std::sync::Arc::make_mut(&mut self.0).confidential = true;
        self
    }

    pub fn with_detail(mut self, detail: impl Into<String>) -> Self {
        std::sync::Arc::make_mut(&mut self.0).detail = Some(detail.into());
        self
    }

    /// The finding as the custom resource's status shows it, detail included.
    pub fn finding(&self) -> Finding {
        let message = match &self.detail {
            Some(detail) => format!("{} ({detail})", self.message),
            None => self.message.clone(),
        };
        Finding {
            kind: self.object.kind.clone(),
            namespace: self.object.namespace.clone(),
            name: self.object.name.clone(),
            message,
        }
    }
}

/// What one control family found.
#[derive(Clone, Debug, PartialEq)]
pub struct ControlOutcome {
    pub id: ControlId,
    /// False when the resource does not configure this control.
    pub applicable: bool,
    pub checked: i32,
    pub violations: Vec<Violation>,
    /// Why part of the check the resource asks for could not run (e.g. Secrets not observed).
    /// Violations found by the parts that did run still fail the control; without any, the
    /// control is `NotEvaluated`, never `Pass`.
    pub not_run: Option<String>,
}

impl ControlOutcome {
    pub fn not_applicable(id: ControlId) -> Self {
        Self {
            id,
            applicable: false,
            checked: 0,
            violations: Vec::new(),
            not_run: None,
        }
    }

    pub fn checked(id: ControlId, checked: usize, mut violations: Vec<Violation>) -> Self {
        violations.sort();
        violations.dedup();
        Self {
            id,
            applicable: true,
            checked: i32::try_from(checked).unwrap_or(i32::MAX),
            violations,
            not_run: None,
        }
    }

    /// Marks a check the resource asks for as not run, saying why.
    pub fn with_check_not_run(mut self, why: impl Into<String>) -> Self {
        self.not_run = Some(why.into());
        self
    }
}

/// The notice reason (and condition reason) of a check that could not run.
pub const CHECK_NOT_RUN: &str = crate::conditions::Reason::CheckNotRun.as_str();

/// A violation waived by an exemption.
#[derive(Clone, Debug, PartialEq)]
pub struct Waived {
    pub violation: Violation,
    pub exemption: Exemption,
}

/// The evidence for one control after exemptions.
#[derive(Clone, Debug, PartialEq)]
pub struct ControlEvidence {
    pub id: ControlId,
    pub state: ControlState,
    pub checked: i32,
    pub failed: Vec<Violation>,
    pub waived: Vec<Waived>,
}

impl ControlEvidence {
    /// Distinct objects with at least one finding that counts against the control.
    pub fn failed_objects(&self) -> usize {
        self.failed
            .iter()
            .map(|v| v.object.key())
            .collect::<BTreeSet<_>>()
            .len()
    }

    /// Distinct objects whose every finding is waived. An exemption covers an object for a
    /// control as a whole, so an object is normally either failed or exempted; one that is
    /// both counts as failed.
    pub fn exempted_objects(&self) -> usize {
        let failed: BTreeSet<_> = self.failed.iter().map(|v| v.object.key()).collect();
        self.waived
            .iter()
            .map(|w| w.violation.object.key())
            .filter(|key| !failed.contains(key))
            .collect::<BTreeSet<_>>()
            .len()
    }
}

fn count(n: usize) -> i32 {
    i32::try_from(n).unwrap_or(i32::MAX)
}

/// The full result of evaluating one custom resource.
#[derive(Clone, Debug, PartialEq)]
pub struct Evaluation {
    /// The namespaces in scope, sorted.
    pub namespaces: Vec<String>,
    /// Namespaces the selectors pick but that are out of scope, and why.
    pub excluded: Vec<Excluded>,
    /// Live exemptions scoped to whole namespaces (no selector): findings there are waived.
    pub namespace_exemptions: Vec<Exemption>,
    pub controls: Vec<ControlEvidence>,
    pub notices: Vec<Notice>,
    /// Per control, what its condition must say beside the counts: why a check did not run,
    /// or where enforcement cannot follow an exemption.
    pub notes: BTreeMap<ControlId, Vec<String>>,
}

impl Evaluation {
    /// Applies the catalog's empty-scope rules and exemptions to raw outcomes. `resource` is
    /// the custom resource evaluated: a control whose empty scope fails says so on it.
    pub fn new(
        resource: &ObjectRef,
        namespaces: Vec<String>,
        outcomes: Vec<ControlOutcome>,
        exemptions: &[Exemption],
        now: Timestamp,
    ) -> Self {
        let live = exemptions::Live::new(exemptions, now);
        let mut notices = live.notices.clone();
        let mut notes: BTreeMap<ControlId, Vec<String>> = BTreeMap::new();
        let in_scope = !namespaces.is_empty();
        let controls = outcomes
            .into_iter()
            .map(|mut outcome| {
                // Nothing checked is never a Pass: the catalog says, per control, whether an
                // empty scope is nothing to judge or a promise broken.
                let mut nothing_to_judge = false;
                if !outcome.applicable {
                    notes
                        .entry(outcome.id)
                        .or_default()
                        .push(outcome.id.not_configured());
                } else if outcome.checked == 0
                    && outcome.violations.is_empty()
                    && outcome.not_run.is_none()
                {
                    let rule = outcome.id.when_empty();
                    let message = rule.message(in_scope);
                    if rule.state(in_scope) == ControlState::Fail {
                        outcome.checked = 1;
                        outcome
                            .violations
                            .push(Violation::new(resource.clone(), message));
                    } else {
                        nothing_to_judge = true;
                        notes
                            .entry(outcome.id)
                            .or_default()
                            .push(format!("nothing to judge: {message}"));
                    }
                }
                if let Some(why) = &outcome.not_run {
                    let message = format!("{} was not evaluated: {why}", outcome.id);
                    notes.entry(outcome.id).or_default().push(message.clone());
                    notices.push(Notice {
                        reason: CHECK_NOT_RUN,
                        message,
                    });
                }
                let mut failed = Vec::new();
                let mut waived = Vec::new();
                for violation in outcome.violations {
                    match live.waiver(outcome.id, &violation.object) {
                        Some(exemption) => waived.push(Waived {
                            violation,
                            exemption: exemption.clone(),
                        }),
                        None => failed.push(violation),
                    }
                }
                let state = if !outcome.applicable || nothing_to_judge {
                    ControlState::NotApplicable
                } else if !failed.is_empty() {
                    ControlState::Fail
                } else if outcome.not_run.is_some() {
                    ControlState::NotEvaluated
                } else if !waived.is_empty() {
                    ControlState::Exempt
                } else {
                    ControlState::Pass
                };
                ControlEvidence {
                    id: outcome.id,
                    state,
                    checked: outcome.checked,
                    failed,
                    waived,
                }
            })
            .collect();
        let namespace_exemptions = live
            .iter()
            .filter(|e| e.selector.is_none() && !e.namespaces.is_empty())
            .cloned()
            .collect();
        Self {
            namespaces,
            excluded: Vec::new(),
            namespace_exemptions,
            controls,
            notices,
            notes,
        }
    }

    pub fn with_excluded(mut self, excluded: Vec<Excluded>) -> Self {
        self.excluded = excluded;
        self
    }

    /// Adds a line to a control's condition message (and an event), e.g. where enforcement
    /// cannot follow an exemption.
    pub fn note(&mut self, control: ControlId, reason: &'static str, message: String) {
        let lines = self.notes.entry(control).or_default();
        if !lines.contains(&message) {
            lines.push(message.clone());
            self.notices.push(Notice { reason, message });
        }
    }

    /// No control fails and every check the resource asks for ran.
    pub fn compliant(&self) -> bool {
        self.controls
            .iter()
            .all(|c| !matches!(c.state, ControlState::Fail | ControlState::NotEvaluated))
    }

    pub fn not_evaluated(&self) -> impl Iterator<Item = ControlId> + '_ {
        self.controls
            .iter()
            .filter(|c| c.state == ControlState::NotEvaluated)
            .map(|c| c.id)
    }

    pub fn failing(&self) -> impl Iterator<Item = ControlId> + '_ {
        self.controls
            .iter()
            .filter(|c| c.state == ControlState::Fail)
            .map(|c| c.id)
    }

    pub fn summary(&self) -> Summary {
        let count = |state| {
            let n = self.controls.iter().filter(|c| c.state == state).count();
            i32::try_from(n).unwrap_or(i32::MAX)
        };
        let passing = count(ControlState::Pass);
        let failing = count(ControlState::Fail);
        let exempt = count(ControlState::Exempt);
        let not_evaluated = count(ControlState::NotEvaluated);
        let applicable = passing + failing + exempt + not_evaluated;
        let ids = |ids: &mut dyn Iterator<Item = ControlId>| {
            ids.map(|id| id.as_str()).collect::<Vec<_>>().join(",")
        };
        Summary {
            namespaces: i32::try_from(self.namespaces.len()).unwrap_or(i32::MAX),
            passing,
            failing,
            exempt,
            not_evaluated,
            score: ((passing + exempt) * 100)
                .checked_div(applicable)
                .unwrap_or(100),
            failing_controls: ids(&mut self.failing()),
            not_evaluated_controls: ids(&mut self.not_evaluated()),
        }
    }

    /// Per-control results for status, with a bounded sample of findings.
    pub fn control_results(&self, evaluated_at: Timestamp) -> Vec<ControlResult> {
        self.controls
            .iter()
            .map(|c| ControlResult {
                id: c.id,
                title: c.id.title().to_string(),
                frameworks: c.id.framework_refs(),
                state: c.state,
                checked: c.checked,
                failed: count(c.failed_objects()),
                exempted: count(c.exempted_objects()),
                failed_findings: count(c.failed.len()),
                exempted_findings: count(c.waived.len()),
                findings: c
                    .failed
                    .iter()
                    .take(STATUS_FINDINGS_PER_CONTROL)
                    .map(Violation::finding)
                    .collect(),
                note: self
                    .notes
                    .get(&c.id)
                    .map(|notes| notes.join("; "))
                    .unwrap_or_default(),
                last_evaluated: Some(Time(evaluated_at)),
            })
            .collect()
    }
}

pub mod security_baseline;

#[cfg(test)]
mod tests {
    use super::*;
    use crate::snapshot::Observed;
    use k8s_openapi::apimachinery::pkg::apis::meta::v1::{LabelSelector, ObjectMeta};

    fn violation(name: &str) -> Violation {
        Violation::new(
            ObjectRef {
                kind: "Secret".into(),
                namespace: Some("dev".into()),
                name: name.into(),
                labels: Default::default(),
                pod_labels: None,
            },
            "copied",
        )
    }

    fn now() -> Timestamp {
        "2026-01-01T00:00:00Z".parse().unwrap()
    }

    #[test]
    fn terminating_namespaces_are_out_of_scope_and_said_to_be() {
        use crate::snapshot::Snapshot;
        use k8s_openapi::api::core::v1::{Namespace, NamespaceStatus};
        let ns = |name: &str, phase: &str| {
            std::sync::Arc::new(Namespace {
                metadata: ObjectMeta {
                    name: Some(name.into()),
                    labels: Some(BTreeMap::from([("team".into(), "shop".into())])),
                    ..Default::default()
                },
                status: Some(NamespaceStatus {
                    phase: Some(phase.into()),
                    ..Default::default()
                }),
                ..Default::default()
            })
        };
        let snapshot = Snapshot {
            namespaces: vec![ns("shop", "Active"), ns("shop-old", "Terminating")],
            ..Default::default()
        };
        let selector = LabelSelector {
            match_labels: Some(BTreeMap::from([("team".into(), "shop".into())])),
            ..Default::default()
        };
        assert_eq!(selected_namespaces(&selector, &snapshot), ["shop"]);
        assert_eq!(
            excluded_namespaces([&selector], &snapshot),
            [Excluded {
                namespace: "shop-old".into(),
                reason: TERMINATING
            }]
        );
    }

    #[test]
    fn system_velero_operator_and_configured_namespaces_are_never_in_scope() {
        use crate::snapshot::{ExcludedNamespaces, Snapshot};
        use k8s_openapi::api::core::v1::Namespace;
        let names = [
            "kube-system",
            "kube-public",
            "kube-node-lease",
            "velero",
            "baseline-system",
            "ops",
            "shop",
        ];
        let snapshot = Snapshot {
            namespaces: names
                .iter()
                .map(|n| {
                    std::sync::Arc::new(Namespace {
                        metadata: ObjectMeta {
                            name: Some(n.to_string()),
                            labels: Some(BTreeMap::from([(
                                "kubernetes.io/metadata.name".into(),
                                n.to_string(),
                            )])),
                            ..Default::default()
                        },
                        ..Default::default()
                    })
                })
                .collect(),
            excluded: ExcludedNamespaces::default()
                .with(
                    ["baseline-system".into()],
                    crate::snapshot::OPERATOR_NAMESPACE,
                )
                .with(["ops".into()], crate::snapshot::EXCLUDED_BY_CONFIGURATION),
            ..Default::default()
        };
        // `{}` and a NotIn selector select everything else; nothing excluded slips in.
        let everything = LabelSelector::default();
        assert_eq!(selected_namespaces(&everything, &snapshot), ["shop"]);
        let not_shop = LabelSelector {
            match_expressions: Some(vec![
                k8s_openapi::apimachinery::pkg::apis::meta::v1::LabelSelectorRequirement {
                    key: "kubernetes.io/metadata.name".into(),
                    operator: "NotIn".into(),
                    values: Some(vec!["shop".into()]),
                },
            ]),
            ..Default::default()
        };
        assert!(selected_namespaces(&not_shop, &snapshot).is_empty());
        let reasons: Vec<(String, &str)> = excluded_namespaces([&everything], &snapshot)
            .into_iter()
            .map(|e| (e.namespace, e.reason))
            .collect();
        assert_eq!(
            reasons,
            [
                ("baseline-system".to_string(), "OperatorNamespace"),
                ("kube-node-lease".to_string(), "SystemNamespace"),
                ("kube-public".to_string(), "SystemNamespace"),
                ("kube-system".to_string(), "SystemNamespace"),
                ("ops".to_string(), "ExcludedByConfiguration"),
                ("velero".to_string(), "VeleroNamespace"),
            ]
        );
    }

    #[test]
    fn a_backup_policys_velero_namespace_takes_nothing_out_of_scope() {
        use crate::snapshot::{CustomResources, ExcludedNamespaces, Snapshot};
        use k8s_openapi::api::core::v1::Namespace;
        let namespace = |name: &str| {
            std::sync::Arc::new(Namespace {
                metadata: ObjectMeta {
                    name: Some(name.into()),
                    ..Default::default()
                },
                ..Default::default()
            })
        };
        // Whoever may write a BackupPolicy names a tenant namespace as Velero's: the policy
        // is Invalid, and must not switch off anything in `payments`.
        let forged: crate::api::BackupPolicy = serde_json::from_value(serde_json::json!({
            "apiVersion": "security.baseline.dev/v1alpha1", "kind": "BackupPolicy",
            "metadata": {"name": "forged"},
            "spec": {"namespaceSelector": {}, "rpo": "24h", "velero": {"namespace": "payments"}},
        }))
        .unwrap();
        let snapshot = Snapshot {
            namespaces: ["payments", "velero", "backup-system"]
                .map(namespace)
                .to_vec(),
            custom_resources: CustomResources {
                backup_policies: vec![std::sync::Arc::new(forged)],
                ..Default::default()
            },
            excluded: ExcludedNamespaces::new("backup-system"),
            ..Default::default()
        };
        let everything = LabelSelector::default();
        // Only the configured Velero namespace is out; `velero` is an ordinary name once the
        // operator is configured with another.
        assert_eq!(
            selected_namespaces(&everything, &snapshot),
            ["payments", "velero"]
        );
        assert_eq!(
            excluded_namespaces([&everything], &snapshot),
            [Excluded {
                namespace: "backup-system".into(),
                reason: crate::snapshot::VELERO_NAMESPACE
            }]
        );
        assert!(!snapshot.excluded.names().contains(&"payments".to_string()));
        let admission = crate::desired::admission::outside_excluded(&everything, &snapshot);
        assert!(
            !serde_json::to_string(&admission)
                .unwrap()
                .contains("payments"),
            "{admission:?}"
        );
    }

    #[test]
    fn objects_are_counted_once_however_many_findings_they_have() {
        let same = |message: &str| Violation::new(violation("copy").object.clone(), message);
        let outcome = ControlOutcome::checked(
            ControlId::ProductionDataRestricted,
            3,
            vec![same("a"), same("b"), violation("other")],
        );
        let evaluation = Evaluation::new(
            &ObjectRef::default(),
            vec!["dev".into()],
            vec![outcome],
            &[],
            now(),
        );
        let result = &evaluation.control_results(now())[0];
        assert_eq!((result.checked, result.failed, result.exempted), (3, 2, 0));
        assert_eq!(result.failed_findings, 3);
    }

    #[test]
    fn a_check_that_did_not_run_is_never_a_pass() {
        let outcomes = vec![
            ControlOutcome::checked(ControlId::EnvironmentSegregation, 2, vec![]),
            ControlOutcome::checked(ControlId::ProductionDataRestricted, 0, vec![])
                .with_check_not_run("Secrets are not observed"),
        ];
        let evaluation = Evaluation::new(
            &ObjectRef::default(),
            vec!["dev".into()],
            outcomes,
            &[],
            now(),
        );
        let states: Vec<ControlState> = evaluation.controls.iter().map(|c| c.state).collect();
        assert_eq!(states, [ControlState::Pass, ControlState::NotEvaluated]);
        assert!(!evaluation.compliant());
        let summary = evaluation.summary();
        assert_eq!(
            (summary.passing, summary.failing, summary.not_evaluated),
            (1, 0, 1)
        );
        assert_eq!(
            summary.score, 50,
            "a check not run counts against the score"
        );
        assert_eq!(summary.not_evaluated_controls, "production-data-restricted");
        assert_eq!(summary.failing_controls, "");
        assert_eq!(
            evaluation.notes[&ControlId::ProductionDataRestricted],
            ["production-data-restricted was not evaluated: Secrets are not observed"]
        );
        assert!(
            evaluation
                .notices
                .iter()
                .any(|n| n.reason == CHECK_NOT_RUN && n.message.contains("not observed"))
        );
    }

    #[test]
    fn nothing_checked_is_never_a_pass() {
        let policy = ObjectRef::cluster_scoped("BackupPolicy", "prod");
        let outcomes = || {
            vec![
                ControlOutcome::checked(ControlId::EncryptionInTransit, 0, vec![]),
                ControlOutcome::checked(ControlId::BackupRetention, 0, vec![]),
                ControlOutcome::not_applicable(ControlId::TrustedImages),
                ControlOutcome::checked(ControlId::ResourceGovernance, 2, vec![]),
            ]
        };
        let evaluation = Evaluation::new(&policy, vec!["shop".into()], outcomes(), &[], now());
        let states: Vec<ControlState> = evaluation.controls.iter().map(|c| c.state).collect();
        assert_eq!(
            states,
            [
                ControlState::NotApplicable,
                ControlState::Fail,
                ControlState::NotApplicable,
                ControlState::Pass
            ]
        );
        assert_eq!(
            evaluation.notes[&ControlId::EncryptionInTransit],
            [
                "nothing to judge: no Ingress in the selected namespaces: no traffic enters through one"
            ]
        );
        assert_eq!(
            evaluation.notes[&ControlId::TrustedImages],
            ["not configured: the SecurityBaseline sets no spec.images"]
        );
        // The failed promise is a finding on the resource, counted as the object checked.
        let retention = &evaluation.control_results(now())[1];
        assert_eq!((retention.checked, retention.failed), (1, 1));
        assert_eq!(retention.findings[0].kind, "BackupPolicy");
        assert!(!evaluation.compliant());
        let results = evaluation.control_results(now());
        assert!(results[0].note.contains("no Ingress"), "{:?}", results[0]);
        // With no namespace in scope nothing was promised.
        let evaluation = Evaluation::new(&policy, vec![], outcomes(), &[], now());
        assert_eq!(evaluation.controls[1].state, ControlState::NotApplicable);
        assert_eq!(
            evaluation.notes[&ControlId::BackupRetention],
            ["nothing to judge: no namespace is in scope"]
        );
        // A check that did not run stays NotEvaluated, whatever it counted.
        let blind = ControlOutcome::checked(ControlId::ProductionDataRestricted, 0, vec![])
            .with_check_not_run("Secrets are not observed");
        let evaluation = Evaluation::new(&policy, vec!["dev".into()], vec![blind], &[], now());
        assert_eq!(evaluation.controls[0].state, ControlState::NotEvaluated);
    }

    #[test]
    fn findings_of_the_parts_that_ran_still_fail() {
        let outcome = ControlOutcome::checked(
            ControlId::ProductionDataRestricted,
            1,
            vec![violation("classified")],
        )
        .with_check_not_run("Secrets are not observed");
        let evaluation = Evaluation::new(&ObjectRef::default(), vec![], vec![outcome], &[], now());
        assert_eq!(evaluation.controls[0].state, ControlState::Fail);
        assert_eq!(
            evaluation.summary().failing_controls,
            "production-data-restricted"
        );
    }

    /// The copied-Secret check of an EnvironmentIsolation: requested, but the Secrets were
    /// never observed (no `--detect-copied-secrets`, or Secret list forbidden).
    #[test]
    fn copied_secret_detection_without_secrets_is_not_evaluated() {
        use super::isolation::tests::{snapshot, spec};
        let mut blind = snapshot();
        blind.secrets = Observed::NotObserved("the operator may not read Secrets".into());
        let evaluation = isolation::evaluate(
            "iso",
            &crate::validate::environment_isolation::validate(&spec()).unwrap(),
            &blind,
            now(),
        );
        let state = |e: &Evaluation| {
            e.controls
                .iter()
                .find(|c| c.id == ControlId::ProductionDataRestricted)
                .map(|c| c.state)
        };
        assert_eq!(state(&evaluation), Some(ControlState::NotEvaluated));
        assert!(
            evaluation.notes[&ControlId::ProductionDataRestricted][0]
                .contains("the operator may not read Secrets")
        );
        // Not requested: nothing is missing.
        let mut off = spec();
        off.production_data.as_mut().unwrap().detect_copied_secrets = false;
        let evaluation = isolation::evaluate(
            "iso",
            &crate::validate::environment_isolation::validate(&off).unwrap(),
            &blind,
            now(),
        );
        // (This cluster holds nothing in a non-production namespace: nothing to judge, which
        // is NotApplicable, never a vacuous Pass.)
        assert_eq!(state(&evaluation), Some(ControlState::NotApplicable));
        // Observed and empty: nothing to judge either, and nothing not run.
        let evaluation = isolation::evaluate(
            "iso",
            &crate::validate::environment_isolation::validate(&spec()).unwrap(),
            &snapshot(),
            now(),
        );
        assert_eq!(state(&evaluation), Some(ControlState::NotApplicable));
    }
}
