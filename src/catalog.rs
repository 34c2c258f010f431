//! The control catalog: the single source of truth for control ids, titles, the kind each
//! control belongs to, and the framework references it proves (`../shared/CONTROLS.md`).
//!
//! The CRD enum of control ids, the titles written into status, the CEL rule that keeps
//! exemptions within a kind's own controls, and the evidence export all derive from here.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use std::fmt;

/// The three custom resource kinds a control can belong to.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub enum ControlKind {
    SecurityBaseline,
    BackupPolicy,
    EnvironmentIsolation,
}

/// Declares [`ControlId`] once: each variant with the id users write, from which the enum
/// (its serde and schema names), [`ControlId::ALL`] and [`ControlId::as_str`] all follow.
macro_rules! control_ids {
    ($($variant:ident => $id:literal,)*) => {
        /// A stable control id, as users write it in exemptions and auditors search for it.
        #[derive(
            Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize,
            JsonSchema,
        )]
        pub enum ControlId {
            $(#[serde(rename = $id)] $variant,)*
        }

        impl ControlId {
            /// Every control id, in declaration order.
            pub const ALL: &'static [ControlId] = &[$(ControlId::$variant,)*];

            pub fn as_str(self) -> &'static str {
                match self {
                    $(ControlId::$variant => $id,)*
                }
            }
        }
    };
}

control_ids! {
    RestrictedPorts => "restricted-ports",
    EncryptionInTransit => "encryption-in-transit",
    EncryptionAtRest => "encryption-at-rest",
    WorkloadHardening => "workload-hardening",
    TrustedImages => "trusted-images",
    LeastPrivilege => "least-privilege",
    HighAvailability => "high-availability",
    ResourceGovernance => "resource-governance",
    AutomatedBackup => "automated-backup",
    BackupRetention => "backup-retention",
    BackupEncryption => "backup-encryption",
    RestoreTested => "restore-tested",
    EnvironmentSegregation => "environment-segregation",
    ProductionDataRestricted => "production-data-restricted",
    CrossEnvironmentAccess => "cross-environment-access",
}

/// A framework whose references the catalog cites. The serde name is the key users pass to
/// `baseline-operator evidence --framework` and that evidence.json carries.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub enum Framework {
    /// ISO/IEC 27001:2022 Annex A: 93 controls in four themes (5 Organizational, 6 People,
    /// 7 Physical, 8 Technological). Certification audits run against it since the transition
    /// from the 2013 edition ended (31 October 2025).
    #[serde(rename = "iso27001:2022")]
    Iso27001v2022,
    /// The AICPA Trust Services Criteria (2017, points of focus revised 2022) that SOC 2
    /// reports cite: CC1.1-CC9.2, A1.1-A1.3, C1.1-C1.2, PI1.1-PI1.5, P1.1-P8.1.
    #[serde(rename = "soc2")]
    Soc2,
    /// ISO/IEC 27001:2013 Annex A, as the source policies number their controls.
    #[serde(rename = "iso27001:2013")]
    Iso27001v2013,
    /// The source policies' own control names (`../shared/seeds`).
    #[serde(rename = "source")]
    SourcePolicy,
}

use Framework::*;

/// The Trust Services Criteria series in the order the TSC list them, with how many criteria
/// each has (CC6 has CC6.1-CC6.8, ...).
const TSC_SERIES: &[(&str, u32)] = &[
    ("CC1", 5),
    ("CC2", 3),
    ("CC3", 4),
    ("CC4", 2),
    ("CC5", 3),
    ("CC6", 8),
    ("CC7", 5),
    ("CC8", 1),
    ("CC9", 2),
    ("A1", 3),
    ("C1", 2),
    ("PI1", 5),
    ("P1", 1),
    ("P2", 1),
    ("P3", 2),
    ("P4", 3),
    ("P5", 2),
    ("P6", 7),
    ("P7", 1),
    ("P8", 1),
];

/// ISO/IEC 27001:2022 Annex A themes and how many controls each has (5.1-5.37, ...).
const ISO27001_2022_THEMES: &[(u32, u32)] = &[(5, 37), (6, 8), (7, 14), (8, 34)];

/// ISO/IEC 27001:2013 Annex A control objectives and how many controls each has (A.9.2 has
/// A.9.2.1-A.9.2.6, ...): 114 controls.
const ISO27001_2013_OBJECTIVES: &[((u32, u32), u32)] = &[
    ((5, 1), 2),
    ((6, 1), 5),
    ((6, 2), 2),
    ((7, 1), 2),
    ((7, 2), 3),
    ((7, 3), 1),
    ((8, 1), 4),
    ((8, 2), 3),
    ((8, 3), 3),
    ((9, 1), 2),
    ((9, 2), 6),
    ((9, 3), 1),
    ((9, 4), 5),
    ((10, 1), 2),
    ((11, 1), 6),
    ((11, 2), 9),
    ((12, 1), 4),
    ((12, 2), 1),
    ((12, 3), 1),
    ((12, 4), 4),
    ((12, 5), 1),
    ((12, 6), 2),
    ((12, 7), 1),
    ((13, 1), 3),
    ((13, 2), 4),
    ((14, 1), 3),
    ((14, 2), 9),
    ((14, 3), 1),
    ((15, 1), 3),
    ((15, 2), 2),
    ((16, 1), 7),
    ((17, 1), 3),
    ((17, 2), 1),
    ((18, 1), 5),
    ((18, 2), 3),
];

/// A positive decimal without sign or leading zero.
fn number(text: &str) -> Option<u32> {
    if text.is_empty() || text.starts_with('0') || !text.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    text.parse().ok()
}

/// The numbers of a dotted id (`8.20` -> [8, 20]); `None` if a part is not a [`number`].
fn numbers(text: &str) -> Option<Vec<u32>> {
    text.split('.').map(number).collect()
}

impl Framework {
    /// Every framework, in the order status, reports and evidence list them.
    pub const ALL: [Framework; 4] = [Iso27001v2022, Soc2, Iso27001v2013, SourcePolicy];

    /// The key of `evidence --framework` and of evidence.json.
    pub fn key(self) -> &'static str {
        match self {
            Iso27001v2022 => "iso27001:2022",
            Soc2 => "soc2",
            Iso27001v2013 => "iso27001:2013",
            SourcePolicy => "source",
        }
    }

    /// The name auditors know it by; status renders references as `<name> <id>`.
    pub fn name(self) -> &'static str {
        match self {
            Iso27001v2022 => "ISO/IEC 27001:2022",
            Soc2 => "SOC 2",
            Iso27001v2013 => "ISO/IEC 27001:2013",
            SourcePolicy => "Source policy",
        }
    }

    /// What exactly the references point into.
    pub fn scope(self) -> &'static str {
        match self {
            Iso27001v2022 => {
                "ISO/IEC 27001:2022 Annex A (themes 5 Organizational, 6 People, 7 Physical, 8 Technological)"
            }
            Soc2 => {
                "SOC 2: AICPA Trust Services Criteria (2017, points of focus revised 2022); A1 applies when Availability is in scope, C1 when Confidentiality is"
            }
            Iso27001v2013 => {
                "ISO/IEC 27001:2013 Annex A, as the source policies cite it (superseded: certification audits use the 2022 edition)"
            }
            SourcePolicy => {
                "Source policy: the control names of the company's own policy documents"
            }
        }
    }

    /// Whether `id` names a control or criterion that exists in this framework.
    pub fn is_well_formed(self, id: &str) -> bool {
        match self {
            Iso27001v2022 => match numbers(id).as_deref() {
                Some(&[theme, n]) => ISO27001_2022_THEMES
                    .iter()
                    .any(|&(t, count)| t == theme && n <= count),
                _ => false,
            },
            Iso27001v2013 => match id.strip_prefix("A.").and_then(numbers).as_deref() {
                Some(&[clause, objective, n]) => ISO27001_2013_OBJECTIVES
                    .iter()
                    .any(|&(o, count)| o == (clause, objective) && n <= count),
                _ => false,
            },
            Soc2 => id.split_once('.').is_some_and(|(series, n)| {
                number(n).is_some_and(|n| {
                    TSC_SERIES
                        .iter()
                        .any(|&(s, count)| s == series && n <= count)
                })
            }),
            SourcePolicy => !id.is_empty() && id.trim() == id && !id.chars().any(char::is_control),
        }
    }
}

impl fmt::Display for Framework {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.key())
    }
}

impl std::str::FromStr for Framework {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        Framework::ALL
            .into_iter()
            .find(|f| f.key().eq_ignore_ascii_case(text))
            .ok_or_else(|| {
                let keys: Vec<&str> = Framework::ALL.iter().map(|f| f.key()).collect();
                format!("unknown framework {text:?}; one of: {}", keys.join(", "))
            })
    }
}

/// One reference a control proves: a control of a standard, a criterion, or a policy promise.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct FrameworkRef {
    pub framework: Framework,
    /// The reference within the framework: `8.20`, `CC6.6`, `A.13.1.1`, or a policy control name.
    pub id: &'static str,
    /// The standard's title of the control or criterion; for a source-policy reference, the
    /// policy document it comes from.
    pub title: &'static str,
}

impl FrameworkRef {
    /// Orders references as their standard lists them: `8.2` before `8.13`, CC before A1.
    pub fn order_key(&self) -> (usize, Vec<u32>, &'static str) {
        match self.framework {
            Iso27001v2022 => (0, numbers(self.id).unwrap_or_default(), self.id),
            Iso27001v2013 => (
                0,
                self.id
                    .strip_prefix("A.")
                    .and_then(numbers)
                    .unwrap_or_default(),
                self.id,
            ),
            Soc2 => {
                let (series, n) = self.id.split_once('.').unwrap_or((self.id, ""));
                let position = TSC_SERIES
                    .iter()
                    .position(|&(s, _)| s == series)
                    .unwrap_or(usize::MAX);
                (position, number(n).into_iter().collect(), self.id)
            }
            SourcePolicy => (0, Vec::new(), self.id),
        }
    }
}

/// How status, reports and audit output render a reference: `ISO/IEC 27001:2022 8.20`,
/// `SOC 2 CC6.6`, `ISO/IEC 27001:2013 A.13.1.1`, `Source policy: Segregation of Environments`.
impl fmt::Display for FrameworkRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.framework {
            SourcePolicy => write!(f, "{}: {}", self.framework.name(), self.id),
            _ => write!(f, "{} {}", self.framework.name(), self.id),
        }
    }
}

/// Everything the catalog says about one control.
#[derive(Debug)]
pub struct Control {
    pub id: ControlId,
    pub title: &'static str,
    pub kind: ControlKind,
    /// What the cluster must show, as CONTROLS.md states it.
    pub checks: &'static str,
    /// What `checked`, `failed` and `exempted` count for this control: objects of these
    /// kinds (a namespace is an object too). Findings are counted apart.
    pub counts: &'static str,
    /// The spec field that turns the control on. Without it the control is `NotApplicable`,
    /// and its condition says which field is unset.
    pub configured_by: &'static str,
    /// What the control reports when it is configured but judged no object (`checked` 0).
    pub when_empty: WhenEmpty,
    /// Grouped by framework in [`Framework::ALL`] order (a unit test keeps it so).
    pub frameworks: &'static [FrameworkRef],
}

/// What a configured control reports when it judged no object: nothing checked is never a
/// Pass. README and evidence.md render this per control.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum WhenEmpty {
    /// Nothing had to exist: `NotApplicable`, and the condition says this.
    NotApplicable(&'static str),
    /// The resource promises objects that are missing, so nothing is proven: `Fail`, with this
    /// finding on the resource itself (counted as the one object checked). With no namespace
    /// in scope nothing is promised: `NotApplicable` ([`NO_NAMESPACE_IN_SCOPE`]).
    Fail(&'static str),
    /// The control always judges this object, so its scope is never empty; if it ever were,
    /// it would fail like [`WhenEmpty::Fail`] rather than pass.
    NeverEmpty(&'static str),
}

/// The catalog's empty-scope rules as a Markdown table, one row per control: the spec field
/// that turns it on, what it counts, and what it reports when it judged no object. README
/// and evidence.md carry exactly this (a unit test checks README).
pub fn empty_scope_table() -> String {
    let cell = |text: &str| text.replace('|', "\\|");
    let mut table = String::from(
        "| Control | Configured by | Counts | When nothing is checked |\n|---|---|---|---|\n",
    );
    for control in CATALOG {
        table.push_str(&format!(
            "| `{}` | `{}` | {} | {} |\n",
            control.id,
            control.configured_by,
            cell(control.counts),
            cell(&control.when_empty.rule())
        ));
    }
    table
}

/// Why a [`WhenEmpty::Fail`] control with nothing to judge is `NotApplicable` instead.
pub const NO_NAMESPACE_IN_SCOPE: &str = "no namespace is in scope";

impl WhenEmpty {
    /// The state an empty scope has, given whether any namespace is in scope.
    pub fn state(self, namespaces_in_scope: bool) -> crate::api::ControlState {
        use crate::api::ControlState;
        match self {
            WhenEmpty::NotApplicable(_) => ControlState::NotApplicable,
            WhenEmpty::Fail(_) | WhenEmpty::NeverEmpty(_) if !namespaces_in_scope => {
                ControlState::NotApplicable
            }
            WhenEmpty::Fail(_) | WhenEmpty::NeverEmpty(_) => ControlState::Fail,
        }
    }

    /// What the condition (or, for a Fail, the finding) says, given whether any namespace is
    /// in scope.
    pub fn message(self, namespaces_in_scope: bool) -> &'static str {
        match self {
            WhenEmpty::NotApplicable(why) => why,
            WhenEmpty::Fail(_) | WhenEmpty::NeverEmpty(_) if !namespaces_in_scope => {
                NO_NAMESPACE_IN_SCOPE
            }
            WhenEmpty::Fail(why) | WhenEmpty::NeverEmpty(why) => why,
        }
    }

    /// The rule as README and evidence.md state it.
    pub fn rule(self) -> String {
        match self {
            WhenEmpty::NotApplicable(why) => format!("Not applicable: {why}"),
            WhenEmpty::Fail(why) => {
                format!("**Fail**: {why} (Not applicable when {NO_NAMESPACE_IN_SCOPE})")
            }
            WhenEmpty::NeverEmpty(why) => format!("never empty: {why}"),
        }
    }
}

const fn iso2022(id: &'static str, title: &'static str) -> FrameworkRef {
    FrameworkRef {
        framework: Iso27001v2022,
        id,
        title,
    }
}
const fn soc2(id: &'static str, title: &'static str) -> FrameworkRef {
    FrameworkRef {
        framework: Soc2,
        id,
        title,
    }
}
const fn iso2013(id: &'static str, title: &'static str) -> FrameworkRef {
    FrameworkRef {
        framework: Iso27001v2013,
        id,
        title,
    }
}
const fn source(id: &'static str, title: &'static str) -> FrameworkRef {
    FrameworkRef {
        framework: SourcePolicy,
        id,
        title,
    }
}

// The source policies (../shared/seeds), as the title of their references.
const PEOPLE_SECURITY: &str = "source policy 000: People Security";
const SOC2_CONTROL_LIST: &str = "source policy 001: SOC 2 control list";
const PRIVACY_CONTROLS: &str = "source policy 003: Privacy controls";
const SECURITY_QUESTIONNAIRE: &str = "source policy 004: Security questionnaire";

use ControlId::*;
use ControlKind::*;

// How the references were chosen.
// - ISO/IEC 27001:2013: exactly what the source policies cite (seed 002 numbers its controls;
//   CONTROLS.md fills the rest from the 2013 Annex A). Never invented here.
// - ISO/IEC 27001:2022: first the correspondents of those 2013 controls in ISO/IEC 27002:2022
//   Annex B (Table B.2; a unit test checks every one is cited), then controls the 2022 edition
//   added or that the control's meaning fits; those are marked "judgement" below.
// - SOC 2: the criteria whose points of focus the control's check demonstrates. Every one is a
//   judgement (the TSC have no official mapping to technical controls); where the fit is not
//   plain, a comment names the point of focus.
// A reference is only claimed for what the check proves: nothing here scans images for
// vulnerabilities, so neither 8.8 nor CC7.1 "susceptibilities to vulnerabilities" is claimed
// by trusted-images.

/// Every control, in catalog order.
pub static CATALOG: &[Control] = &[
    Control {
        id: RestrictedPorts,
        title: "Restricted port configurations",
        kind: SecurityBaseline,
        checks: "every selected namespace denies ingress by default; only listed ports are open; no NodePort/LoadBalancer exposes an unlisted port",
        counts: "selected Namespaces, their NetworkPolicies and Services",
        configured_by: "spec.network",
        when_empty: WhenEmpty::NotApplicable(
            "no namespace is in scope, so none needs a default-deny policy",
        ),
        frameworks: &[
            iso2022("8.20", "Networks security"),
            // judgement: the listed ports are the security requirements of the network services
            // a namespace offers, and NodePort/LoadBalancer exposure is checked against them.
            iso2022("8.21", "Security of network services"),
            // judgement: points of focus "Manages Points of Access", "Considers Network
            // Segmentation".
            soc2(
                "CC6.1",
                "Logical access security software, infrastructure and architectures",
            ),
            // judgement: default deny and no unlisted externally exposed port are boundary
            // protection.
            soc2(
                "CC6.6",
                "Logical access security measures against threats from outside the system boundaries",
            ),
            iso2013("A.13.1.1", "Network controls"),
            source("Restricted Port Configurations", SOC2_CONTROL_LIST),
            source("Network Security Policy", SOC2_CONTROL_LIST),
        ],
    },
    Control {
        id: EncryptionInTransit,
        title: "Encryption in transit",
        kind: SecurityBaseline,
        checks: "every Ingress serves each of its hosts over TLS",
        counts: "Ingresses in selected namespaces",
        configured_by: "spec.encryption.inTransit.requireIngressTLS",
        when_empty: WhenEmpty::NotApplicable(
            "no Ingress in the selected namespaces: no traffic enters through one",
        ),
        frameworks: &[
            iso2022("5.14", "Information transfer"),
            // judgement: TLS is the use of cryptography (8.24) for data in transit.
            iso2022("8.24", "Use of cryptography"),
            iso2022("8.26", "Application security requirements"),
            // judgement: point of focus "Uses Encryption Technologies or Secure Communication
            // Channels to Protect Data".
            soc2(
                "CC6.7",
                "Restricts the transmission, movement and removal of information",
            ),
            iso2013("A.13.2.1", "Information transfer policies and procedures"),
            iso2013("A.14.1.3", "Protecting application services transactions"),
            source("Encryption-in-Transit", SOC2_CONTROL_LIST),
            source(
                "All methods of communication are encrypted",
                PRIVACY_CONTROLS,
            ),
        ],
    },
    Control {
        id: EncryptionAtRest,
        title: "Encryption at rest",
        kind: SecurityBaseline,
        checks: "every PersistentVolumeClaim uses an encrypted StorageClass",
        counts: "PersistentVolumeClaims in selected namespaces",
        configured_by: "spec.encryption.atRest",
        when_empty: WhenEmpty::NotApplicable(
            "no PersistentVolumeClaim in the selected namespaces: no volume to encrypt",
        ),
        frameworks: &[
            iso2022("8.24", "Use of cryptography"),
            // judgement: point of focus "Uses Encryption to Protect Data" (at rest).
            soc2(
                "CC6.1",
                "Logical access security software, infrastructure and architectures",
            ),
            iso2013("A.10.1.1", "Policy on the use of cryptographic controls"),
            source("Encryption-at-Rest", SOC2_CONTROL_LIST),
            source("Encrypted storage on all devices", SECURITY_QUESTIONNAIRE),
        ],
    },
    Control {
        id: WorkloadHardening,
        title: "Workload hardening (Pod Security Standards)",
        kind: SecurityBaseline,
        checks: "pods meet the chosen Pod Security Standard exactly as Pod Security Admission judges",
        counts: "pod carriers in selected namespaces: bare Pods, Deployments, StatefulSets, DaemonSets, bare Jobs, CronJobs",
        configured_by: "spec.podSecurity",
        when_empty: WhenEmpty::NotApplicable("no workload or Pod in the selected namespaces"),
        frameworks: &[
            // judgement: 8.9 is new in 2022 (no 2013 predecessor); a Pod Security Standard
            // is a defined secure configuration, enforced and monitored.
            iso2022("8.9", "Configuration management"),
            iso2022("8.18", "Use of privileged utility programs"),
            iso2022("8.19", "Installation of software on operational systems"),
            // judgement: privileged, host-namespace and host-path pods are how software
            // overrides the node's controls; the standard restricts them.
            soc2(
                "CC6.8",
                "Prevents or detects unauthorized or malicious software",
            ),
            // judgement: point of focus "Uses Defined Configuration Standards".
            soc2(
                "CC7.1",
                "Detection of configuration changes that introduce vulnerabilities",
            ),
            iso2013("A.9.4.4", "Use of privileged utility programs"),
            iso2013("A.12.6.2", "Restrictions on software installation"),
            source("Baseline Configurations", SOC2_CONTROL_LIST),
        ],
    },
    Control {
        id: TrustedImages,
        title: "Trusted images",
        kind: SecurityBaseline,
        checks: "images come from allowed registries, carry no mutable tag, and are digest-pinned when required",
        counts: "pod carriers in selected namespaces: bare Pods, Deployments, StatefulSets, DaemonSets, bare Jobs, CronJobs",
        configured_by: "spec.images",
        when_empty: WhenEmpty::NotApplicable(
            "no workload or Pod in the selected namespaces: no image runs",
        ),
        frameworks: &[
            iso2022("8.19", "Installation of software on operational systems"),
            iso2022("8.32", "Change management"),
            // judgement: point of focus "Restricts Application and Software Installation".
            soc2(
                "CC6.8",
                "Prevents or detects unauthorized or malicious software",
            ),
            // judgement: an immutable tag or digest makes each deployed change the tested one.
            soc2("CC8.1", "Change management"),
            iso2013(
                "A.12.5.1",
                "Installation of software on operational systems",
            ),
            iso2013("A.14.2.4", "Restrictions on changes to software packages"),
            source("Vulnerability Scanning", SOC2_CONTROL_LIST),
            source("Software Change Testing", SOC2_CONTROL_LIST),
        ],
    },
    Control {
        id: LeastPrivilege,
        title: "Least privilege",
        kind: SecurityBaseline,
        checks: "no RoleBinding grants a forbidden role, or a role whose rules grant what a forbidden role grants (wildcards, escalate, bind, impersonate, every non-resource URL), or Secret read to identities of other namespaces; no Role in a selected namespace grants that; no ClusterRoleBinding grants it to their identities; service-account tokens are not automounted by default",
        counts: "RoleBindings in selected namespaces; when roles are judged on rules, Roles there and ClusterRoleBindings naming their identities; pod carriers when automounting is judged",
        configured_by: "spec.access",
        when_empty: WhenEmpty::NotApplicable(
            "no RoleBinding in the selected namespaces (nor a Role or a ClusterRoleBinding naming their identities when roles are judged on rules, nor a workload or Pod when token automounting is judged)",
        ),
        frameworks: &[
            // judgement: 5.15 carries the least-privilege rules, 5.18 the provisioning of
            // access rights that RoleBindings and automounted tokens are.
            iso2022("5.15", "Access control"),
            iso2022("5.18", "Access rights"),
            iso2022("8.2", "Privileged access rights"),
            // judgement: point of focus "Restricts Logical Access" (to the cluster's API).
            soc2(
                "CC6.1",
                "Logical access security software, infrastructure and architectures",
            ),
            // judgement: point of focus "Uses Role-Based Access Controls" (least privilege).
            soc2(
                "CC6.3",
                "Role-based access: authorizes, modifies or removes access by least privilege",
            ),
            iso2013("A.9.2.3", "Management of privileged access rights"),
            source("Administrative Access is Restricted", SOC2_CONTROL_LIST),
            source("Access to Customer Data is Restricted", SOC2_CONTROL_LIST),
            source(
                "Role Based Access Control and Principle of Least Privilege",
                PRIVACY_CONTROLS,
            ),
        ],
    },
    Control {
        id: HighAvailability,
        title: "High availability",
        kind: SecurityBaseline,
        checks: "Deployments and StatefulSets have enough Ready replicas (not just requested ones), have a PodDisruptionBudget and probes",
        counts: "Deployments and StatefulSets in selected namespaces",
        configured_by: "spec.availability",
        when_empty: WhenEmpty::NotApplicable(
            "no Deployment or StatefulSet in the selected namespaces",
        ),
        frameworks: &[
            // judgement (the source cites no ISO number): replicas and disruption budgets are
            // redundancy (8.14, 2013 A.17.2.1) and part of ICT readiness (5.30, new in 2022).
            iso2022("5.30", "ICT readiness for business continuity"),
            iso2022("8.14", "Redundancy of information processing facilities"),
            // judgement: replicas are processing capacity kept against demand (A1.1) and
            // alternate processing infrastructure (A1.2 point of focus).
            soc2(
                "A1.1",
                "Capacity: maintains, monitors and evaluates processing capacity",
            ),
            soc2(
                "A1.2",
                "Environmental protections, software, data backup and recovery infrastructure",
            ),
            source("High Availability Configuration", SOC2_CONTROL_LIST),
            source("Uptime and Availability Monitoring", SOC2_CONTROL_LIST),
            source("High availability and failover", SECURITY_QUESTIONNAIRE),
        ],
    },
    Control {
        id: ResourceGovernance,
        title: "Resource governance",
        kind: SecurityBaseline,
        checks: "every container declares CPU and memory requests and a memory limit",
        counts: "pod carriers in selected namespaces: bare Pods, Deployments, StatefulSets, DaemonSets, bare Jobs, CronJobs",
        configured_by: "spec.resources",
        when_empty: WhenEmpty::NotApplicable("no workload or Pod in the selected namespaces"),
        frameworks: &[
            iso2022("8.6", "Capacity management"),
            // judgement: declared requests and limits are how the capacity is managed.
            soc2(
                "A1.1",
                "Capacity: maintains, monitors and evaluates processing capacity",
            ),
            iso2013("A.12.1.3", "Capacity management"),
        ],
    },
    Control {
        id: AutomatedBackup,
        title: "Automated backup",
        kind: BackupPolicy,
        checks: "every selected namespace is covered by a schedule within the RPO and has a successful backup younger than the RPO",
        counts: "selected Namespaces",
        configured_by: "spec.rpo",
        when_empty: WhenEmpty::NotApplicable("the policy selects no namespace: nothing to back up"),
        frameworks: &[
            iso2022("8.13", "Information backup"),
            // judgement: points of focus "Determines Data Requiring Backup", "Performs Data
            // Backup".
            soc2(
                "A1.2",
                "Environmental protections, software, data backup and recovery infrastructure",
            ),
            iso2013("A.12.3.1", "Information backup"),
            source("Automated Backup Process", SOC2_CONTROL_LIST),
            source("RPO 24 hours", PEOPLE_SECURITY),
            source("Regular backups", PRIVACY_CONTROLS),
        ],
    },
    Control {
        id: BackupRetention,
        title: "Backup retention",
        kind: BackupPolicy,
        checks: "backups expire no sooner than the minimum and no later than the maximum retention",
        counts: "Velero Schedules and Backups holding a selected namespace or made for the policy; with none, the BackupPolicy itself",
        configured_by: "spec.retention",
        when_empty: WhenEmpty::Fail(
            "no Velero Schedule or Backup holds a selected namespace or was made for the policy, so no retention can be proven",
        ),
        frameworks: &[
            iso2022("5.33", "Protection of records"),
            // judgement: 8.13 asks for retention periods of backup copies; 8.10 (new in 2022)
            // for deleting information when no longer required: the maximum retention.
            iso2022("8.10", "Information deletion"),
            iso2022("8.13", "Information backup"),
            // judgement: the minimum retention keeps confidential information for its
            // retention period (C1.1 point of focus "Protects Confidential Information From
            // Destruction"); the maximum disposes of it (C1.2). CC6.5 is not claimed: it is
            // about disposing of physical assets and media, not data past its retention.
            soc2("C1.1", "Identifies and maintains confidential information"),
            soc2("C1.2", "Disposes of confidential information"),
            iso2013("A.18.1.3", "Protection of records"),
            source("Data Retention and Disposal Policy", SOC2_CONTROL_LIST),
            source("Retention of Customer Data", SOC2_CONTROL_LIST),
        ],
    },
    Control {
        id: BackupEncryption,
        title: "Backup encryption",
        kind: BackupPolicy,
        checks: "the backup storage location is configured for encryption",
        counts: "the policy's BackupStorageLocation",
        configured_by: "spec.requireEncryption",
        when_empty: WhenEmpty::NeverEmpty(
            "the policy's own BackupStorageLocation is always judged",
        ),
        frameworks: &[
            // judgement: 8.13 asks that backups be protected like the original (encryption).
            iso2022("8.13", "Information backup"),
            iso2022("8.24", "Use of cryptography"),
            // judgement: data at rest in the backup store is encrypted (CC6.1 point of focus
            // "Uses Encryption to Protect Data"), and backups are information moved off the
            // cluster (CC6.7).
            soc2(
                "CC6.1",
                "Logical access security software, infrastructure and architectures",
            ),
            soc2(
                "CC6.7",
                "Restricts the transmission, movement and removal of information",
            ),
            iso2013("A.10.1.1", "Policy on the use of cryptographic controls"),
            source(
                "Encryption for backups including data at rest",
                SECURITY_QUESTIONNAIRE,
            ),
        ],
    },
    Control {
        id: RestoreTested,
        title: "Restore tested",
        kind: BackupPolicy,
        checks: "a restore of a recent backup was verified within the required period and the RTO",
        counts: "the BackupPolicy (its last restore test)",
        configured_by: "spec.restoreTest or spec.rto",
        when_empty: WhenEmpty::NeverEmpty(
            "the policy's last restore test, or its absence, is always judged",
        ),
        frameworks: &[
            iso2022("5.29", "Information security during disruption"),
            // judgement: 5.30 (new in 2022) asks that ICT readiness be tested against the
            // recovery objectives; the restore must finish within the RTO.
            iso2022("5.30", "ICT readiness for business continuity"),
            iso2022("8.13", "Information backup"),
            // judgement: point of focus "Tests Integrity and Completeness of Backup Data".
            soc2("A1.3", "Tests recovery plan procedures"),
            iso2013("A.12.3.1", "Information backup"),
            iso2013(
                "A.17.1.3",
                "Verify, review and evaluate information security continuity",
            ),
            source("Backup Restoration Testing", SOC2_CONTROL_LIST),
            source("RTO 6 hours", PEOPLE_SECURITY),
        ],
    },
    Control {
        id: EnvironmentSegregation,
        title: "Environment segregation",
        kind: EnvironmentIsolation,
        checks: "no network path between environments except declared flows",
        counts: "Namespaces in an environment, the ingress NetworkPolicies of those that isolate themselves, and their ExternalName Services and EndpointSlices",
        configured_by: "spec.environments",
        when_empty: WhenEmpty::NotApplicable("no namespace is in any environment"),
        frameworks: &[
            iso2022("8.3", "Information access restriction"),
            iso2022("8.22", "Segregation of networks"),
            iso2022(
                "8.31",
                "Separation of development, test and production environments",
            ),
            // judgement: point of focus "Considers Network Segmentation".
            soc2(
                "CC6.1",
                "Logical access security software, infrastructure and architectures",
            ),
            // judgement: separate environments keep changes from reaching production outside
            // the change process.
            soc2("CC8.1", "Change management"),
            iso2013("A.9.4.1", "Information access restriction"),
            iso2013(
                "A.12.1.4",
                "Separation of development, testing and operational environments",
            ),
            iso2013("A.13.1.3", "Segregation in networks"),
            source("Segregation of Environments", SOC2_CONTROL_LIST),
        ],
    },
    Control {
        id: ProductionDataRestricted,
        title: "Production data restricted",
        kind: EnvironmentIsolation,
        checks: "no production data, copied Secret, cloned volume or restore lands in a non-production namespace",
        counts: "ConfigMaps, Secrets and PersistentVolumeClaims in non-production namespaces, and Velero Restores",
        configured_by: "spec.productionData",
        when_empty: WhenEmpty::NotApplicable(
            "no ConfigMap, Secret or PersistentVolumeClaim in a non-production namespace, and no Velero Restore",
        ),
        frameworks: &[
            // judgement: 8.12 (new in 2022): classified objects, copied Secrets, cloned volumes
            // and restores into non-production are the leakage paths the check closes. 8.11
            // (data masking) is not claimed: nothing is masked, copies are refused.
            iso2022("8.12", "Data leakage prevention"),
            iso2022(
                "8.31",
                "Separation of development, test and production environments",
            ),
            iso2022("8.33", "Test information"),
            // judgement: C1.1 point of focus "Identifies Confidential Information" (the
            // classification label); CC8.1 point of focus "Protects Confidential Information"
            // during development and testing.
            soc2("CC8.1", "Change management"),
            soc2("C1.1", "Identifies and maintains confidential information"),
            iso2013(
                "A.12.1.4",
                "Separation of development, testing and operational environments",
            ),
            iso2013("A.14.3.1", "Protection of test data"),
            source("Production Data Use is Restricted", SOC2_CONTROL_LIST),
            source("Privacy by Design", PRIVACY_CONTROLS),
        ],
    },
    Control {
        id: CrossEnvironmentAccess,
        title: "Cross-environment access",
        kind: EnvironmentIsolation,
        checks: "no identity of one environment is bound to act in another (any pair, and a namespace in no environment is one of its own) unless the spec allows that direction",
        counts: "RoleBindings in environment namespaces and namespaces in no environment, and ClusterRoleBindings, except bindings of roles that grant nothing in namespaces",
        configured_by: "spec.access.denyCrossEnvironmentBindings",
        when_empty: WhenEmpty::NotApplicable(
            "no RoleBinding in an environment namespace or a namespace in no environment, and no ClusterRoleBinding",
        ),
        frameworks: &[
            iso2022("5.3", "Segregation of duties"),
            iso2022("8.2", "Privileged access rights"),
            // judgement: separating environments includes who may act in each.
            iso2022(
                "8.31",
                "Separation of development, test and production environments",
            ),
            // judgement: point of focus "Restricts Logical Access" (production namespaces to
            // production identities).
            soc2(
                "CC6.1",
                "Logical access security software, infrastructure and architectures",
            ),
            // judgement: point of focus "Uses Role-Based Access Controls" (segregation of
            // incompatible functions).
            soc2(
                "CC6.3",
                "Role-based access: authorizes, modifies or removes access by least privilege",
            ),
            iso2013("A.6.1.2", "Segregation of duties"),
            iso2013("A.9.2.3", "Management of privileged access rights"),
            source("Administrative Access is Restricted", SOC2_CONTROL_LIST),
            source("Segregation of Environments", SOC2_CONTROL_LIST),
        ],
    },
];

impl ControlId {
    /// Every control id in catalog order.
    pub fn all() -> impl Iterator<Item = ControlId> {
        CATALOG.iter().map(|c| c.id)
    }

    pub fn control(self) -> &'static Control {
        CATALOG
            .iter()
            .find(|c| c.id == self)
            .expect("every ControlId has a catalog entry (checked by a unit test)")
    }

    /// The condition type for this control: the id in PascalCase (`restricted-ports` ->
    /// `RestrictedPorts`).
    pub fn condition_type(self) -> String {
        self.as_str()
            .split('-')
            .map(|word| {
                let mut chars = word.chars();
                chars
                    .next()
                    .map(|first| first.to_ascii_uppercase().to_string() + chars.as_str())
                    .unwrap_or_default()
            })
            .collect()
    }

    pub fn title(self) -> &'static str {
        self.control().title
    }

    pub fn kind(self) -> ControlKind {
        self.control().kind
    }

    /// What the control reports when configured but judged no object.
    pub fn when_empty(self) -> WhenEmpty {
        self.control().when_empty
    }

    /// Why the control does not apply to a resource that leaves it unconfigured.
    pub fn not_configured(self) -> String {
        let control = self.control();
        format!(
            "not configured: the {} sets no {}",
            control.kind.as_str(),
            control.configured_by
        )
    }

    /// Framework references as status, PolicyReports and audit output render them
    /// (`ISO/IEC 27001:2022 8.20`, `SOC 2 CC6.6`, ...), in [`Framework::ALL`] order.
    pub fn framework_refs(self) -> Vec<String> {
        Framework::ALL
            .into_iter()
            .flat_map(|f| self.references(f))
            .map(ToString::to_string)
            .collect()
    }

    /// The control's references in one framework, in catalog order.
    pub fn references(self, framework: Framework) -> impl Iterator<Item = &'static FrameworkRef> {
        self.control()
            .frameworks
            .iter()
            .filter(move |r| r.framework == framework)
    }
}

impl fmt::Display for ControlId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl ControlKind {
    pub fn controls(self) -> impl Iterator<Item = ControlId> {
        CATALOG.iter().filter(move |c| c.kind == self).map(|c| c.id)
    }

    pub fn as_str(self) -> &'static str {
        match self {
            SecurityBaseline => "SecurityBaseline",
            BackupPolicy => "BackupPolicy",
            EnvironmentIsolation => "EnvironmentIsolation",
        }
    }
}

#[cfg(test)]
#[path = "catalog_tests.rs"]
mod tests;
