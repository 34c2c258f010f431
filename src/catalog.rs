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

/// A stable control id, as users write it in exemptions and auditors search for it.
#[derive(
    Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize, JsonSchema,
)]
#[serde(rename_all = "kebab-case")]
pub enum ControlId {
    RestrictedPorts,
    EncryptionInTransit,
    EncryptionAtRest,
    WorkloadHardening,
    TrustedImages,
    LeastPrivilege,
    HighAvailability,
    ResourceGovernance,
    AutomatedBackup,
    BackupRetention,
    BackupEncryption,
    RestoreTested,
    EnvironmentSegregation,
    ProductionDataRestricted,
    CrossEnvironmentAccess,
}

/// One promise in a source policy that a control proves.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct FrameworkRef {
    /// The framework family, e.g. `ISO 27001` or `SOC 2`; PolicyReports use it as category.
    pub framework: &'static str,
    /// The reference within the family, e.g. `A.13.1.1` or a control name.
    pub reference: &'static str,
}

impl fmt::Display for FrameworkRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}", self.framework, self.reference)
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
    pub frameworks: &'static [FrameworkRef],
}

const fn soc2(reference: &'static str) -> FrameworkRef {
    FrameworkRef {
        framework: "SOC 2",
        reference,
    }
}
const fn iso27001(reference: &'static str) -> FrameworkRef {
    FrameworkRef {
        framework: "ISO 27001",
        reference,
    }
}
const fn policy(reference: &'static str) -> FrameworkRef {
    FrameworkRef {
        framework: "Company policy",
        reference,
    }
}

use ControlId::*;
use ControlKind::*;

/// Every control, in catalog order.
pub static CATALOG: &[Control] = &[
    Control {
        id: RestrictedPorts,
        title: "Restricted port configurations",
        kind: SecurityBaseline,
        checks: "every selected namespace denies ingress by default; only listed ports are open; no NodePort/LoadBalancer exposes an unlisted port",
        frameworks: &[
            soc2("Restricted Port Configurations"),
            soc2("Network Security Policy"),
            iso27001("A.13.1.1"),
        ],
    },
    Control {
        id: EncryptionInTransit,
        title: "Encryption in transit",
        kind: SecurityBaseline,
        checks: "every Ingress serves each of its hosts over TLS",
        frameworks: &[
            soc2("Encryption-in-Transit"),
            iso27001("A.13.2.1"),
            iso27001("A.14.1.3"),
            policy("All methods of communication are encrypted"),
        ],
    },
    Control {
        id: EncryptionAtRest,
        title: "Encryption at rest",
        kind: SecurityBaseline,
        checks: "every PersistentVolumeClaim uses an encrypted StorageClass",
        frameworks: &[
            soc2("Encryption-at-Rest"),
            iso27001("A.10.1.1"),
            policy("Encrypted storage on all devices"),
        ],
    },
    Control {
        id: WorkloadHardening,
        title: "Workload hardening (Pod Security Standards)",
        kind: SecurityBaseline,
        checks: "pods meet the chosen Pod Security Standard exactly as Pod Security Admission judges",
        frameworks: &[
            soc2("Baseline Configurations"),
            iso27001("A.12.6.2"),
            iso27001("A.9.4.4"),
        ],
    },
    Control {
        id: TrustedImages,
        title: "Trusted images",
        kind: SecurityBaseline,
        checks: "images come from allowed registries, carry no mutable tag, and are digest-pinned when required",
        frameworks: &[
            soc2("Vulnerability Scanning"),
            soc2("Software Change Testing"),
            iso27001("A.12.5.1"),
            iso27001("A.14.2.4"),
        ],
    },
    Control {
        id: LeastPrivilege,
        title: "Least privilege",
        kind: SecurityBaseline,
        checks: "no RoleBinding grants a forbidden or wildcard role; service-account tokens are not automounted by default",
        frameworks: &[
            soc2("Administrative Access is Restricted"),
            soc2("Access to Customer Data is Restricted"),
            iso27001("A.9.2.3"),
            policy("Role Based Access Control and Principle of Least Privilege"),
        ],
    },
    Control {
        id: HighAvailability,
        title: "High availability",
        kind: SecurityBaseline,
        checks: "Deployments and StatefulSets run enough replicas, have a PodDisruptionBudget and probes",
        frameworks: &[
            soc2("High Availability Configuration"),
            soc2("Uptime and Availability Monitoring"),
            policy("High availability and failover"),
        ],
    },
    Control {
        id: ResourceGovernance,
        title: "Resource governance",
        kind: SecurityBaseline,
        checks: "every container declares CPU and memory requests and a memory limit",
        frameworks: &[iso27001("A.12.1.3")],
    },
    Control {
        id: AutomatedBackup,
        title: "Automated backup",
        kind: BackupPolicy,
        checks: "every selected namespace is covered by a schedule within the RPO and has a successful backup younger than the RPO",
        frameworks: &[
            soc2("Automated Backup Process"),
            iso27001("A.12.3.1"),
            policy("RPO 24 hours"),
            policy("Regular backups"),
        ],
    },
    Control {
        id: BackupRetention,
        title: "Backup retention",
        kind: BackupPolicy,
        checks: "backups expire no sooner than the minimum and no later than the maximum retention",
        frameworks: &[
            soc2("Data Retention and Disposal Policy"),
            soc2("Retention of Customer Data"),
            iso27001("A.18.1.3"),
        ],
    },
    Control {
        id: BackupEncryption,
        title: "Backup encryption",
        kind: BackupPolicy,
        checks: "the backup storage location is configured for encryption",
        frameworks: &[
            policy("Encryption for backups including data at rest"),
            iso27001("A.10.1.1"),
        ],
    },
    Control {
        id: RestoreTested,
        title: "Restore tested",
        kind: BackupPolicy,
        checks: "a restore of a recent backup was verified within the required period and the RTO",
        frameworks: &[
            soc2("Backup Restoration Testing"),
            iso27001("A.12.3.1"),
            iso27001("A.17.1.3"),
            policy("RTO 6 hours"),
        ],
    },
    Control {
        id: EnvironmentSegregation,
        title: "Environment segregation",
        kind: EnvironmentIsolation,
        checks: "no network path between environments except declared flows",
        frameworks: &[
            soc2("Segregation of Environments"),
            iso27001("A.12.1.4"),
            iso27001("A.9.4.1"),
            iso27001("A.13.1.3"),
        ],
    },
    Control {
        id: ProductionDataRestricted,
        title: "Production data restricted",
        kind: EnvironmentIsolation,
        checks: "no production data, copied Secret, cloned volume or restore lands in a non-production namespace",
        frameworks: &[
            soc2("Production Data Use is Restricted"),
            iso27001("A.14.3.1"),
            iso27001("A.12.1.4"),
            policy("Privacy by Design"),
        ],
    },
    Control {
        id: CrossEnvironmentAccess,
        title: "Cross-environment access",
        kind: EnvironmentIsolation,
        checks: "no non-production identity is bound to act in a production namespace",
        frameworks: &[
            soc2("Administrative Access is Restricted"),
            soc2("Segregation of Environments"),
            iso27001("A.6.1.2"),
            iso27001("A.9.2.3"),
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

    pub fn as_str(self) -> &'static str {
        match self {
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

    /// Framework references as they appear in status and reports.
    pub fn framework_refs(self) -> Vec<String> {
        self.control()
            .frameworks
            .iter()
            .map(ToString::to_string)
            .collect()
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
mod tests {
    use super::*;

    #[test]
    fn every_id_has_exactly_one_catalog_entry() {
        for id in [
            RestrictedPorts,
            EncryptionInTransit,
            EncryptionAtRest,
            WorkloadHardening,
            TrustedImages,
            LeastPrivilege,
            HighAvailability,
            ResourceGovernance,
            AutomatedBackup,
            BackupRetention,
            BackupEncryption,
            RestoreTested,
            EnvironmentSegregation,
            ProductionDataRestricted,
            CrossEnvironmentAccess,
        ] {
            assert_eq!(CATALOG.iter().filter(|c| c.id == id).count(), 1, "{id}");
            assert!(!id.control().frameworks.is_empty(), "{id} proves nothing");
        }
        assert_eq!(CATALOG.len(), 15);
    }

    #[test]
    fn serde_name_matches_as_str() {
        for id in ControlId::all() {
            let json = serde_json::to_value(id).unwrap();
            assert_eq!(json, serde_json::Value::String(id.as_str().into()));
        }
    }

    #[test]
    fn condition_types_are_pascal_case() {
        assert_eq!(RestrictedPorts.condition_type(), "RestrictedPorts");
        assert_eq!(
            ProductionDataRestricted.condition_type(),
            "ProductionDataRestricted"
        );
    }

    #[test]
    fn kinds_partition_the_catalog() {
        assert_eq!(SecurityBaseline.controls().count(), 8);
        assert_eq!(BackupPolicy.controls().count(), 4);
        assert_eq!(EnvironmentIsolation.controls().count(), 3);
    }
}
