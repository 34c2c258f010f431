//! Pod Security Standards evaluator.
//!
//! A pure-Rust reimplementation of the checks in upstream Kubernetes Pod Security Admission
//! (`k8s.io/pod-security-admission/policy`, as shipped with Kubernetes v1.37). Every check keeps
//! its upstream id, its upstream version ranges and its upstream forbidden reason / detail
//! strings, and checks run in upstream order (baseline ids sorted, then restricted ids sorted).
//!
//! Version handling follows upstream's check registry: a check applies from the minimum
//! version of its first variant on, the newest variant whose minimum is not newer than the
//! requested version is used, `latest` (or any version newer than the newest variant of any
//! check) means the newest behaviour, and the `restricted` level includes every `baseline`
//! check that no active restricted check overrides.
//!
//! Pods are judged as given, with one exception: a volume with no source at all counts as
//! `emptyDir`, because the API server defaults it so before admission runs (upstream's own
//! `restrictedVolumes` pass fixture depends on that). No other API-server defaulting is applied.

use k8s_openapi::api::core::v1::{
    Capabilities, Container, ContainerPort, EphemeralContainer, Lifecycle, LifecycleHandler,
    PodSpec, Probe, SELinuxOptions, SecurityContext, Volume,
};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use std::collections::BTreeSet;

mod baseline;
mod go_quote;
mod helpers;
mod restricted;
mod strictness;

use baseline::*;
use go_quote::*;
use helpers::*;
use restricted::*;
pub use strictness::at_least_as_strict;

/// A Pod Security Standards level.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Level {
    Privileged,
    Baseline,
    Restricted,
}

/// A PSA version: `latest` or a minor of 1.x ("v1.25" etc.).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum PsaVersion {
    /// The 1.x minor.
    Minor(u32),
    Latest,
}

impl PsaVersion {
    /// Parses `latest` or `v1.<minor>` exactly as upstream's `api.ParseVersion` accepts it
    /// (no leading zeros, no other major).
    pub fn parse(s: &str) -> Option<Self> {
        if s == "latest" {
            return Some(PsaVersion::Latest);
        }
        let minor = s.strip_prefix("v1.")?;
        let valid = !minor.is_empty()
            && minor.bytes().all(|b| b.is_ascii_digit())
            && (minor == "0" || !minor.starts_with('0'));
        if !valid {
            return None;
        }
        minor.parse::<u32>().ok().map(PsaVersion::Minor)
    }

    /// `"latest"` or `"v1.<minor>"`.
    pub fn as_label(&self) -> String {
        match self {
            PsaVersion::Latest => "latest".to_string(),
            PsaVersion::Minor(m) => format!("v1.{m}"),
        }
    }
}

/// Whether Pod Security reads the pod annotation `key` (AppArmor and seccomp profiles): the
/// metadata a pod must share with a template that vouches for it.
pub fn reads_annotation(key: &str) -> bool {
    key.starts_with(APPARMOR_ANNOTATION_PREFIX)
        || key == SECCOMP_POD_ANNOTATION
        || key.starts_with(SECCOMP_CONTAINER_ANNOTATION_PREFIX)
}

/// One failing check.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Violation {
    /// Upstream check id, e.g. `"runAsNonRoot"`, `"capabilities_restricted"`.
    pub check: &'static str,
    /// Upstream forbidden reason, e.g. `"allowPrivilegeEscalation != false"`.
    pub reason: String,
    /// Upstream forbidden detail.
    pub detail: String,
}

/// Checks a pod's metadata + spec against `level` at `version`, exactly like upstream's
/// `policy.NewEvaluator(policy.DefaultChecks(), nil).EvaluatePod`. Privileged always passes.
/// Returns every failing check, in upstream evaluation order.
pub fn evaluate(
    level: Level,
    version: PsaVersion,
    metadata: &ObjectMeta,
    spec: &PodSpec,
) -> Vec<Violation> {
    if level == Level::Privileged {
        return Vec::new();
    }
    let max = newest_check_version();
    let v = match version {
        PsaVersion::Latest => max,
        PsaVersion::Minor(m) => m.min(max),
    };

    // Restricted checks active at `v` and the baseline ids they override.
    let mut overridden: BTreeSet<&'static str> = BTreeSet::new();
    if level == Level::Restricted {
        for check in CHECKS.iter().filter(|c| c.level == Level::Restricted) {
            if let Some(vc) = check.active(v) {
                overridden.extend(vc.overrides.iter().copied());
            }
        }
    }

    let mut ordered: Vec<&Check> = CHECKS
        .iter()
        .filter(|c| match level {
            Level::Baseline => c.level == Level::Baseline,
            _ => c.level == Level::Restricted || !overridden.contains(c.id),
        })
        .collect();
    // Upstream order: baseline ids sorted bytewise, then restricted ids sorted bytewise.
    ordered.sort_by(|a, b| (a.level, a.id.as_bytes()).cmp(&(b.level, b.id.as_bytes())));

    let mut out = Vec::new();
    for check in ordered {
        if let Some(vc) = check.active(v)
            && let Some(f) = (vc.check)(metadata, spec)
        {
            out.push(Violation {
                check: check.id,
                reason: if f.reason.is_empty() {
                    "unknown forbidden reason".to_string()
                } else {
                    f.reason
                },
                detail: f.detail,
            });
        }
    }
    out
}

// ---------------------------------------------------------------------------------------------
// Registry
// ---------------------------------------------------------------------------------------------

struct Forbidden {
    reason: String,
    detail: String,
}

fn forbid(reason: impl Into<String>, detail: impl Into<String>) -> Option<Forbidden> {
    Some(Forbidden {
        reason: reason.into(),
        detail: detail.into(),
    })
}

type CheckFn = fn(&ObjectMeta, &PodSpec) -> Option<Forbidden>;

struct VersionedCheck {
    /// Minimum 1.x minor this variant applies from.
    min: u32,
    check: CheckFn,
    /// Baseline check ids this (restricted) variant replaces.
    overrides: &'static [&'static str],
}

struct Check {
    id: &'static str,
    level: Level,
    /// Strictly increasing `min`.
    versions: &'static [VersionedCheck],
}

impl Check {
    fn active(&self, v: u32) -> Option<&VersionedCheck> {
        self.versions.iter().rev().find(|vc| vc.min <= v)
    }
}

const fn vc(min: u32, check: CheckFn) -> VersionedCheck {
    VersionedCheck {
        min,
        check,
        overrides: &[],
    }
}

const fn vco(min: u32, check: CheckFn, overrides: &'static [&'static str]) -> VersionedCheck {
    VersionedCheck {
        min,
        check,
        overrides,
    }
}

const ID_CAPABILITIES_BASELINE: &str = "capabilities_baseline";
const ID_HOST_PATH_VOLUMES: &str = "hostPathVolumes";
const ID_SECCOMP_BASELINE: &str = "seccompProfile_baseline";
const ID_PROC_MOUNT: &str = "procMount";

static CHECKS: &[Check] = &[
    // ---- baseline ----
    Check {
        id: "appArmorProfile",
        level: Level::Baseline,
        versions: &[vc(0, app_armor_profile_1_0)],
    },
    Check {
        id: ID_CAPABILITIES_BASELINE,
        level: Level::Baseline,
        versions: &[vc(0, capabilities_baseline_1_0)],
    },
    Check {
        id: "hostNamespaces",
        level: Level::Baseline,
        versions: &[vc(0, host_namespaces_1_0)],
    },
    Check {
        id: ID_HOST_PATH_VOLUMES,
        level: Level::Baseline,
        versions: &[vc(0, host_path_volumes_1_0)],
    },
    Check {
        id: "hostPorts",
        level: Level::Baseline,
        versions: &[vc(0, host_ports_1_0)],
    },
    Check {
        id: "hostProbesAndHostLifecycle",
        level: Level::Baseline,
        versions: &[vc(34, host_probes_and_host_lifecycle_1_34)],
    },
    Check {
        id: "privileged",
        level: Level::Baseline,
        versions: &[vc(0, privileged_1_0)],
    },
    Check {
        id: ID_PROC_MOUNT,
        level: Level::Baseline,
        versions: &[vc(0, proc_mount_1_0), vc(35, proc_mount_baseline_1_35)],
    },
    Check {
        id: "seLinuxOptions",
        level: Level::Baseline,
        versions: &[vc(0, se_linux_options_1_0), vc(31, se_linux_options_1_31)],
    },
    Check {
        id: ID_SECCOMP_BASELINE,
        level: Level::Baseline,
        versions: &[
            vc(0, seccomp_profile_baseline_1_0),
            vc(19, seccomp_profile_baseline_1_19),
        ],
    },
    Check {
        id: "sysctls",
        level: Level::Baseline,
        versions: &[
            vc(0, sysctls_1_0),
            vc(27, sysctls_1_27),
            vc(29, sysctls_1_29),
            vc(32, sysctls_1_32),
            vc(37, sysctls_1_37),
        ],
    },
    Check {
        id: "windowsHostProcess",
        level: Level::Baseline,
        versions: &[vc(0, windows_host_process_1_0)],
    },
    // ---- restricted ----
    Check {
        id: "allowPrivilegeEscalation",
        level: Level::Restricted,
        versions: &[
            vc(8, allow_privilege_escalation_1_8),
            vc(25, allow_privilege_escalation_1_25),
        ],
    },
    Check {
        id: "capabilities_restricted",
        level: Level::Restricted,
        versions: &[
            vco(
                22,
                capabilities_restricted_1_22,
                &[ID_CAPABILITIES_BASELINE],
            ),
            vco(
                25,
                capabilities_restricted_1_25,
                &[ID_CAPABILITIES_BASELINE],
            ),
        ],
    },
    Check {
        id: "procMount_restricted",
        level: Level::Restricted,
        versions: &[vco(35, proc_mount_1_0, &[ID_PROC_MOUNT])],
    },
    Check {
        id: "restrictedVolumes",
        level: Level::Restricted,
        versions: &[vco(0, restricted_volumes_1_0, &[ID_HOST_PATH_VOLUMES])],
    },
    Check {
        id: "runAsNonRoot",
        level: Level::Restricted,
        versions: &[vc(0, run_as_non_root_1_0), vc(35, run_as_non_root_1_35)],
    },
    Check {
        id: "runAsUser",
        level: Level::Restricted,
        versions: &[vc(23, run_as_user_1_23), vc(35, run_as_user_1_35)],
    },
    Check {
        id: "seccompProfile_restricted",
        level: Level::Restricted,
        versions: &[
            vco(19, seccomp_profile_restricted_1_19, &[ID_SECCOMP_BASELINE]),
            vco(25, seccomp_profile_restricted_1_25, &[ID_SECCOMP_BASELINE]),
        ],
    },
];

/// The newest minimum version of any check variant: the version `latest` resolves to.
fn newest_check_version() -> u32 {
    CHECKS
        .iter()
        .filter_map(|c| c.versions.last().map(|v| v.min))
        .max()
        .unwrap_or(0)
}

#[cfg(test)]
mod tests;
