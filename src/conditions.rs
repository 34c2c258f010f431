//! Every condition type and reason the operator writes, in one place: status conditions,
//! notices and events. Auditors and ArgoCD health checks match on these strings, so they are a
//! public contract; naming them once keeps two spellings of one reason from ever shipping.
//! The `pub const` aliases elsewhere (`evaluate::CHECK_NOT_RUN`, `status::INVALID`, ...) are
//! these values.

use crate::catalog::ControlId;

/// The type of a status condition.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum ConditionType {
    /// Whether the resource was evaluated and its enforcement applied.
    Ready,
    /// Whether every applicable control passes or is exempt.
    Compliant,
    /// One control's state (the type is the control id in CamelCase).
    Control(ControlId),
}

impl ConditionType {
    pub fn name(self) -> String {
        match self {
            Self::Ready => "Ready".into(),
            Self::Compliant => "Compliant".into(),
            Self::Control(id) => id.condition_type(),
        }
    }
}

macro_rules! reasons {
    ($($(#[doc = $doc:literal])* $variant:ident,)*) => {
        /// Why a condition, notice or event says what it says (its `reason`).
        #[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
        pub enum Reason {
            $($(#[doc = $doc])* $variant,)*
        }

        impl Reason {
            pub const ALL: &'static [Reason] = &[$(Reason::$variant,)*];

            /// The reason as written: the variant's name.
            pub const fn as_str(self) -> &'static str {
                match self {
                    $(Reason::$variant => stringify!($variant),)*
                }
            }
        }
    };
}

reasons! {
    // Ready
    /// Evaluated and applied.
    Reconciled,
    /// The spec fails validation; nothing is planned until it changes.
    Invalid,
    /// A watch has failed for longer than the grace period.
    WatchFailing,
    /// The evidence history could not be written.
    HistoryUnavailable,
    /// The operator may not do what it must (RBAC).
    Forbidden,
    /// A write of an owned object failed.
    ApplyFailed,
    /// The status write failed.
    StatusFailed,
    /// Adding or removing the finalizer failed.
    FinalizerFailed,
    /// What Velero recorded about a backup or restore could not be read.
    VeleroRecordUnavailable,
    /// The velero.io/v1 API is not served.
    VeleroNotInstalled,
    /// Velero's API is served but its namespace does not exist.
    VeleroNamespaceMissing,
    /// Velero's objects cannot be listed (RBAC).
    VeleroForbidden,
    // Compliant
    /// Every applicable control passes or is exempt.
    AllControlsPass,
    /// At least one control fails.
    ControlsFailing,
    /// No control fails, but some could not be evaluated.
    ChecksNotRun,
    // Per control
    Pass,
    Exempt,
    NotApplicable,
    Fail,
    /// A check could not run (never reported as Pass).
    CheckNotRun,
    // Notices and notes beside a control's counts
    /// The offline audit judged declared replicas, not Ready ones.
    ReadinessNotJudged,
    /// An exemption's selector matches workloads by their own labels only.
    ExemptionMisconfigured,
    /// Enforcement cannot follow an exemption's scope.
    ExemptionScope,
    /// Another baseline writes the same mechanism in a namespace.
    OverlappingBaselines,
    /// A stricter Pod Security label already there is kept.
    StricterLabelsKept,
    /// An exemption has expired.
    ExemptionExpired,
    /// An exemption expires soon.
    ExemptionExpiring,
    /// An exemption cannot be applied as written.
    ExemptionInvalid,
    /// Copied-Secret detection is switched off.
    CopiedSecretDetectionOff,
    /// A restore test took longer than the declared RTO.
    RTOExceeded,
    // Events
    /// An owned object or label changed by hand was put back.
    Restored,
    /// A control changed state.
    ControlStateChanged,
    RestoreTestStarted,
    RestoreTestFinished,
    // Why a namespace is out of scope
    SystemNamespace,
    OperatorNamespace,
    VeleroNamespace,
    ExcludedByConfiguration,
    Terminating,
}

impl std::fmt::Display for Reason {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reasons_are_distinct_camel_case_words() {
        let mut seen = std::collections::BTreeSet::new();
        for reason in Reason::ALL {
            let text = reason.as_str();
            assert!(seen.insert(text), "{text} twice");
            assert!(
                text.chars().next().is_some_and(|c| c.is_ascii_uppercase())
                    && text.chars().all(|c| c.is_ascii_alphanumeric()),
                "{text} is not a Kubernetes reason (CamelCase)"
            );
        }
    }

    #[test]
    fn condition_types_are_ready_compliant_and_one_per_control() {
        assert_eq!(ConditionType::Ready.name(), "Ready");
        assert_eq!(ConditionType::Compliant.name(), "Compliant");
        assert_eq!(
            ConditionType::Control(ControlId::ProductionDataRestricted).name(),
            "ProductionDataRestricted"
        );
    }
}
