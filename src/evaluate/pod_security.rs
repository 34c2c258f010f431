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

// ---------------------------------------------------------------------------------------------
// Helpers mirroring upstream's visitor / formatting helpers
// ---------------------------------------------------------------------------------------------

/// The container fields the checks look at, shared by containers, init containers and
/// ephemeral containers.
struct ContainerView<'a> {
    name: &'a str,
    security_context: Option<&'a SecurityContext>,
    ports: &'a [ContainerPort],
    liveness_probe: Option<&'a Probe>,
    readiness_probe: Option<&'a Probe>,
    startup_probe: Option<&'a Probe>,
    lifecycle: Option<&'a Lifecycle>,
}

impl<'a> From<&'a Container> for ContainerView<'a> {
    fn from(c: &'a Container) -> Self {
        ContainerView {
            name: &c.name,
            security_context: c.security_context.as_ref(),
            ports: c.ports.as_deref().unwrap_or(&[]),
            liveness_probe: c.liveness_probe.as_ref(),
            readiness_probe: c.readiness_probe.as_ref(),
            startup_probe: c.startup_probe.as_ref(),
            lifecycle: c.lifecycle.as_ref(),
        }
    }
}

impl<'a> From<&'a EphemeralContainer> for ContainerView<'a> {
    fn from(c: &'a EphemeralContainer) -> Self {
        ContainerView {
            name: &c.name,
            security_context: c.security_context.as_ref(),
            ports: c.ports.as_deref().unwrap_or(&[]),
            liveness_probe: c.liveness_probe.as_ref(),
            readiness_probe: c.readiness_probe.as_ref(),
            startup_probe: c.startup_probe.as_ref(),
            lifecycle: c.lifecycle.as_ref(),
        }
    }
}

/// Init containers, then containers, then ephemeral containers (upstream's visit order).
fn containers(spec: &PodSpec) -> impl Iterator<Item = ContainerView<'_>> {
    let init = spec
        .init_containers
        .iter()
        .flatten()
        .map(ContainerView::from);
    let regular = spec.containers.iter().map(ContainerView::from);
    let ephemeral = spec
        .ephemeral_containers
        .iter()
        .flatten()
        .map(ContainerView::from);
    init.chain(regular).chain(ephemeral)
}

fn join_quote<S: AsRef<str>>(items: &[S]) -> String {
    if items.is_empty() {
        return String::new();
    }
    let inner: Vec<&str> = items.iter().map(AsRef::as_ref).collect();
    format!("\"{}\"", inner.join("\", \""))
}

fn pluralize(singular: &'static str, plural: &'static str, count: usize) -> &'static str {
    if count == 1 { singular } else { plural }
}

fn containers_phrase<S: AsRef<str>>(names: &[S]) -> String {
    format!(
        "{} {}",
        pluralize("container", "containers", names.len()),
        join_quote(names)
    )
}

fn sorted(set: BTreeSet<String>) -> Vec<String> {
    set.into_iter().collect()
}

fn is_windows(spec: &PodSpec) -> bool {
    spec.os.as_ref().is_some_and(|os| os.name == "windows")
}

/// `hostUsers: false` — the pod runs in a user namespace.
fn relax_for_user_namespace(spec: &PodSpec) -> bool {
    spec.host_users == Some(false)
}

fn annotation<'a>(metadata: &'a ObjectMeta, key: &str) -> Option<&'a str> {
    metadata
        .annotations
        .as_ref()
        .and_then(|a| a.get(key))
        .map(String::as_str)
}

/// Go's `%q` (strconv.Quote) for the strings upstream formats that way.
fn go_quote(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\u{7}' => out.push_str("\\a"),
            '\u{8}' => out.push_str("\\b"),
            '\u{c}' => out.push_str("\\f"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '\u{b}' => out.push_str("\\v"),
            c if go_printable(c) => out.push(c),
            c if (c as u32) < 0x80 => out.push_str(&format!("\\x{:02x}", c as u32)),
            c if (c as u32) < 0x10000 => out.push_str(&format!("\\u{:04x}", c as u32)),
            c => out.push_str(&format!("\\U{:08x}", c as u32)),
        }
    }
    out.push('"');
    out
}

/// Approximation of Go's `unicode.IsPrint` (letters, marks, numbers, punctuation, symbols and
/// the ASCII space): control, non-ASCII space, format and private-use characters are not
/// printable.
fn go_printable(c: char) -> bool {
    if c == ' ' {
        return true;
    }
    if c.is_control() || c.is_whitespace() {
        return false;
    }
    let u = c as u32;
    let format_or_private = matches!(
        u,
        0x00AD
            | 0x0600..=0x0605
            | 0x061C
            | 0x06DD
            | 0x070F
            | 0x180E
            | 0x200B..=0x200F
            | 0x202A..=0x202E
            | 0x2060..=0x2064
            | 0x2066..=0x206F
            | 0xFEFF
            | 0xFFF9..=0xFFFB
            | 0xE000..=0xF8FF
            | 0xF0000..=0xFFFFD
            | 0x100000..=0x10FFFD
            | 0xE0001
            | 0xE0020..=0xE007F
    );
    !format_or_private
}

// ---------------------------------------------------------------------------------------------
// Baseline checks
// ---------------------------------------------------------------------------------------------

const APPARMOR_ANNOTATION_PREFIX: &str = "container.apparmor.security.beta.kubernetes.io/";

fn app_armor_allowed_annotation_value(v: &str) -> bool {
    v.is_empty() || v == "runtime/default" || v.starts_with("localhost/")
}

fn app_armor_allowed_type(t: &str) -> bool {
    t == "RuntimeDefault" || t == "Localhost"
}

fn app_armor_profile_1_0(metadata: &ObjectMeta, spec: &PodSpec) -> Option<Forbidden> {
    let mut bad_setters: Vec<String> = Vec::new();
    let mut bad_values: BTreeSet<String> = BTreeSet::new();

    if let Some(profile) = spec
        .security_context
        .as_ref()
        .and_then(|sc| sc.app_armor_profile.as_ref())
        && !app_armor_allowed_type(&profile.type_)
    {
        bad_setters.push("pod".to_string());
        bad_values.insert(profile.type_.clone());
    }

    let mut bad_containers: Vec<&str> = Vec::new();
    for c in containers(spec) {
        if let Some(profile) = c
            .security_context
            .and_then(|sc| sc.app_armor_profile.as_ref())
            && !app_armor_allowed_type(&profile.type_)
        {
            bad_containers.push(c.name);
            bad_values.insert(profile.type_.clone());
        }
    }
    if !bad_containers.is_empty() {
        bad_setters.push(containers_phrase(&bad_containers));
    }

    let mut forbidden_annotations: Vec<String> = metadata
        .annotations
        .iter()
        .flatten()
        .filter(|(k, v)| {
            k.starts_with(APPARMOR_ANNOTATION_PREFIX) && !app_armor_allowed_annotation_value(v)
        })
        .map(|(k, v)| format!("{k}={}", go_quote(v)))
        .collect();

    let mut bad_value_list = sorted(bad_values);
    if !forbidden_annotations.is_empty() {
        forbidden_annotations.sort();
        let n = forbidden_annotations.len();
        bad_value_list.extend(forbidden_annotations);
        bad_setters.push(pluralize("annotation", "annotations", n).to_string());
    }

    if bad_setters.is_empty() {
        return None;
    }
    forbid(
        pluralize(
            "forbidden AppArmor profile",
            "forbidden AppArmor profiles",
            bad_value_list.len(),
        ),
        format!(
            "{} must not set AppArmor profile type to {}",
            bad_setters.join(" and "),
            join_quote(&bad_value_list)
        ),
    )
}

const CAPABILITIES_ALLOWED_1_0: &[&str] = &[
    "AUDIT_WRITE",
    "CHOWN",
    "DAC_OVERRIDE",
    "FOWNER",
    "FSETID",
    "KILL",
    "MKNOD",
    "NET_BIND_SERVICE",
    "SETFCAP",
    "SETGID",
    "SETPCAP",
    "SETUID",
    "SYS_CHROOT",
];

fn added_capabilities(caps: &Capabilities) -> &[String] {
    caps.add.as_deref().unwrap_or(&[])
}

fn capabilities_baseline_1_0(_: &ObjectMeta, spec: &PodSpec) -> Option<Forbidden> {
    let mut bad_containers: Vec<&str> = Vec::new();
    let mut non_default: BTreeSet<String> = BTreeSet::new();
    for c in containers(spec) {
        let Some(caps) = c.security_context.and_then(|sc| sc.capabilities.as_ref()) else {
            continue;
        };
        let mut valid = true;
        for cap in added_capabilities(caps) {
            if !CAPABILITIES_ALLOWED_1_0.contains(&cap.as_str()) {
                valid = false;
                non_default.insert(cap.clone());
            }
        }
        if !valid {
            bad_containers.push(c.name);
        }
    }
    if bad_containers.is_empty() {
        return None;
    }
    forbid(
        "non-default capabilities",
        format!(
            "{} must not include {} in securityContext.capabilities.add",
            containers_phrase(&bad_containers),
            join_quote(&sorted(non_default))
        ),
    )
}

fn host_namespaces_1_0(_: &ObjectMeta, spec: &PodSpec) -> Option<Forbidden> {
    let mut namespaces: Vec<&str> = Vec::new();
    if spec.host_network == Some(true) {
        namespaces.push("hostNetwork=true");
    }
    if spec.host_pid == Some(true) {
        namespaces.push("hostPID=true");
    }
    if spec.host_ipc == Some(true) {
        namespaces.push("hostIPC=true");
    }
    if namespaces.is_empty() {
        return None;
    }
    forbid("host namespaces", namespaces.join(", "))
}

fn volumes(spec: &PodSpec) -> &[Volume] {
    spec.volumes.as_deref().unwrap_or(&[])
}

fn host_path_volumes_1_0(_: &ObjectMeta, spec: &PodSpec) -> Option<Forbidden> {
    let host_volumes: Vec<&str> = volumes(spec)
        .iter()
        .filter(|v| v.host_path.is_some())
        .map(|v| v.name.as_str())
        .collect();
    if host_volumes.is_empty() {
        return None;
    }
    forbid(
        "hostPath volumes",
        format!(
            "{} {}",
            pluralize("volume", "volumes", host_volumes.len()),
            join_quote(&host_volumes)
        ),
    )
}

fn host_ports_1_0(_: &ObjectMeta, spec: &PodSpec) -> Option<Forbidden> {
    let mut bad_containers: Vec<&str> = Vec::new();
    let mut ports: BTreeSet<String> = BTreeSet::new();
    for c in containers(spec) {
        let mut valid = true;
        for p in c.ports {
            let host_port = p.host_port.unwrap_or(0);
            if host_port != 0 {
                valid = false;
                ports.insert(host_port.to_string());
            }
        }
        if !valid {
            bad_containers.push(c.name);
        }
    }
    if bad_containers.is_empty() {
        return None;
    }
    let n_ports = ports.len();
    forbid(
        "hostPort",
        format!(
            "{} {} {} {}",
            containers_phrase(&bad_containers),
            pluralize("uses", "use", bad_containers.len()),
            pluralize("hostPort", "hostPorts", n_ports),
            sorted(ports).join(", ")
        ),
    )
}

fn forbidden_probe_hosts(probe: Option<&Probe>) -> Vec<String> {
    let Some(probe) = probe else {
        return Vec::new();
    };
    let http = probe.http_get.as_ref().and_then(|h| h.host.as_deref());
    let tcp = probe.tcp_socket.as_ref().and_then(|t| t.host.as_deref());
    [http, tcp]
        .into_iter()
        .flatten()
        .filter(|h| !h.is_empty())
        .map(str::to_string)
        .collect()
}

fn forbidden_lifecycle_hosts(handler: Option<&LifecycleHandler>) -> Vec<String> {
    let Some(handler) = handler else {
        return Vec::new();
    };
    let http = handler.http_get.as_ref().and_then(|h| h.host.as_deref());
    let tcp = handler.tcp_socket.as_ref().and_then(|t| t.host.as_deref());
    [http, tcp]
        .into_iter()
        .flatten()
        .filter(|h| !h.is_empty())
        .map(str::to_string)
        .collect()
}

fn host_probes_and_host_lifecycle_1_34(_: &ObjectMeta, spec: &PodSpec) -> Option<Forbidden> {
    let mut bad_containers: BTreeSet<String> = BTreeSet::new();
    let mut forbidden: BTreeSet<String> = BTreeSet::new();
    for c in containers(spec) {
        let mut hosts = forbidden_probe_hosts(c.liveness_probe);
        hosts.extend(forbidden_probe_hosts(c.readiness_probe));
        hosts.extend(forbidden_probe_hosts(c.startup_probe));
        if let Some(lc) = c.lifecycle {
            hosts.extend(forbidden_lifecycle_hosts(lc.post_start.as_ref()));
            hosts.extend(forbidden_lifecycle_hosts(lc.pre_stop.as_ref()));
        }
        if !hosts.is_empty() {
            bad_containers.insert(c.name.to_string());
            forbidden.extend(hosts);
        }
    }
    if bad_containers.is_empty() {
        return None;
    }
    let n_containers = bad_containers.len();
    let n_hosts = forbidden.len();
    forbid(
        "probe or lifecycle host",
        format!(
            "{} {} {} {}",
            containers_phrase(&sorted(bad_containers)),
            pluralize("uses", "use", n_containers),
            pluralize(
                "probe or lifecycle host",
                "probe or lifecycle hosts",
                n_hosts
            ),
            join_quote(&sorted(forbidden))
        ),
    )
}

fn privileged_1_0(_: &ObjectMeta, spec: &PodSpec) -> Option<Forbidden> {
    let bad: Vec<&str> = containers(spec)
        .filter(|c| c.security_context.and_then(|sc| sc.privileged) == Some(true))
        .map(|c| c.name)
        .collect();
    if bad.is_empty() {
        return None;
    }
    forbid(
        "privileged",
        format!(
            "{} must not set securityContext.privileged=true",
            containers_phrase(&bad)
        ),
    )
}

fn proc_mount_1_0(_: &ObjectMeta, spec: &PodSpec) -> Option<Forbidden> {
    let mut bad_containers: Vec<&str> = Vec::new();
    let mut types: BTreeSet<String> = BTreeSet::new();
    for c in containers(spec) {
        if let Some(pm) = c.security_context.and_then(|sc| sc.proc_mount.as_ref())
            && pm != "Default"
        {
            bad_containers.push(c.name);
            types.insert(pm.clone());
        }
    }
    if bad_containers.is_empty() {
        return None;
    }
    forbid(
        "procMount",
        format!(
            "{} must not set securityContext.procMount to {}",
            containers_phrase(&bad_containers),
            join_quote(&sorted(types))
        ),
    )
}

fn proc_mount_baseline_1_35(meta: &ObjectMeta, spec: &PodSpec) -> Option<Forbidden> {
    if relax_for_user_namespace(spec) {
        return None;
    }
    proc_mount_1_0(meta, spec)
}

const SELINUX_TYPES_1_0: &[&str] = &["", "container_t", "container_init_t", "container_kvm_t"];
const SELINUX_TYPES_1_31: &[&str] = &[
    "",
    "container_t",
    "container_init_t",
    "container_kvm_t",
    "container_engine_t",
];

fn se_linux_options_1_0(meta: &ObjectMeta, spec: &PodSpec) -> Option<Forbidden> {
    se_linux_options(meta, spec, SELINUX_TYPES_1_0)
}

fn se_linux_options_1_31(meta: &ObjectMeta, spec: &PodSpec) -> Option<Forbidden> {
    se_linux_options(meta, spec, SELINUX_TYPES_1_31)
}

fn se_linux_options(_: &ObjectMeta, spec: &PodSpec, allowed: &[&str]) -> Option<Forbidden> {
    let mut bad_types: BTreeSet<String> = BTreeSet::new();
    let mut set_user = false;
    let mut set_role = false;
    let mut valid = |opts: &SELinuxOptions| {
        let mut ok = true;
        let t = opts.type_.as_deref().unwrap_or("");
        if !allowed.contains(&t) {
            ok = false;
            bad_types.insert(t.to_string());
        }
        if opts.user.as_deref().is_some_and(|u| !u.is_empty()) {
            ok = false;
            set_user = true;
        }
        if opts.role.as_deref().is_some_and(|r| !r.is_empty()) {
            ok = false;
            set_role = true;
        }
        ok
    };

    let mut bad_setters: Vec<String> = Vec::new();
    if let Some(opts) = spec
        .security_context
        .as_ref()
        .and_then(|sc| sc.se_linux_options.as_ref())
        && !valid(opts)
    {
        bad_setters.push("pod".to_string());
    }
    let mut bad_containers: Vec<&str> = Vec::new();
    for c in containers(spec) {
        if let Some(opts) = c
            .security_context
            .and_then(|sc| sc.se_linux_options.as_ref())
            && !valid(opts)
        {
            bad_containers.push(c.name);
        }
    }
    if !bad_containers.is_empty() {
        bad_setters.push(containers_phrase(&bad_containers));
    }
    if bad_setters.is_empty() {
        return None;
    }

    let mut bad_data: Vec<String> = Vec::new();
    if !bad_types.is_empty() {
        bad_data.push(format!(
            "{} {}",
            pluralize("type", "types", bad_types.len()),
            join_quote(&sorted(bad_types))
        ));
    }
    if set_user {
        bad_data.push("user may not be set".to_string());
    }
    if set_role {
        bad_data.push("role may not be set".to_string());
    }
    forbid(
        "seLinuxOptions",
        format!(
            "{} set forbidden securityContext.seLinuxOptions: {}",
            bad_setters.join(" and "),
            bad_data.join("; ")
        ),
    )
}

const SECCOMP_POD_ANNOTATION: &str = "seccomp.security.alpha.kubernetes.io/pod";
const SECCOMP_CONTAINER_ANNOTATION_PREFIX: &str = "container.seccomp.security.alpha.kubernetes.io/";

fn valid_seccomp_type(t: &str) -> bool {
    t == "Localhost" || t == "RuntimeDefault"
}

fn valid_seccomp_annotation_value(v: &str) -> bool {
    v == "runtime/default" || v == "docker/default" || v.starts_with("localhost/")
}

fn seccomp_profile_baseline_1_0(meta: &ObjectMeta, spec: &PodSpec) -> Option<Forbidden> {
    let mut forbidden: BTreeSet<String> = BTreeSet::new();
    if let Some(v) = annotation(meta, SECCOMP_POD_ANNOTATION)
        && !valid_seccomp_annotation_value(v)
    {
        forbidden.insert(format!("{SECCOMP_POD_ANNOTATION}={}", go_quote(v)));
    }
    for c in containers(spec) {
        let key = format!("{SECCOMP_CONTAINER_ANNOTATION_PREFIX}{}", c.name);
        if let Some(v) = annotation(meta, &key)
            && !valid_seccomp_annotation_value(v)
        {
            forbidden.insert(format!("{key}={}", go_quote(v)));
        }
    }
    if forbidden.is_empty() {
        return None;
    }
    let n = forbidden.len();
    forbid(
        "seccompProfile",
        format!(
            "forbidden {} {}",
            pluralize("annotation", "annotations", n),
            sorted(forbidden).join(", ")
        ),
    )
}

fn seccomp_profile_baseline_1_19(_: &ObjectMeta, spec: &PodSpec) -> Option<Forbidden> {
    let mut bad_setters: Vec<String> = Vec::new();
    let mut bad_values: BTreeSet<String> = BTreeSet::new();
    if let Some(p) = spec
        .security_context
        .as_ref()
        .and_then(|sc| sc.seccomp_profile.as_ref())
        && !valid_seccomp_type(&p.type_)
    {
        bad_setters.push("pod".to_string());
        bad_values.insert(p.type_.clone());
    }
    let mut bad_containers: Vec<&str> = Vec::new();
    for c in containers(spec) {
        if let Some(p) = c
            .security_context
            .and_then(|sc| sc.seccomp_profile.as_ref())
            && !valid_seccomp_type(&p.type_)
        {
            bad_containers.push(c.name);
            bad_values.insert(p.type_.clone());
        }
    }
    if !bad_containers.is_empty() {
        bad_setters.push(containers_phrase(&bad_containers));
    }
    if bad_setters.is_empty() {
        return None;
    }
    forbid(
        "seccompProfile",
        format!(
            "{} must not set securityContext.seccompProfile.type to {}",
            bad_setters.join(" and "),
            join_quote(&sorted(bad_values))
        ),
    )
}

const SYSCTLS_1_0: &[&str] = &[
    "kernel.shm_rmid_forced",
    "net.ipv4.ip_local_port_range",
    "net.ipv4.tcp_syncookies",
    "net.ipv4.ping_group_range",
    "net.ipv4.ip_unprivileged_port_start",
];
const SYSCTLS_ADDED_1_27: &[&str] = &["net.ipv4.ip_local_reserved_ports"];
const SYSCTLS_ADDED_1_29: &[&str] = &[
    "net.ipv4.tcp_keepalive_time",
    "net.ipv4.tcp_fin_timeout",
    "net.ipv4.tcp_keepalive_intvl",
    "net.ipv4.tcp_keepalive_probes",
];
const SYSCTLS_ADDED_1_32: &[&str] = &["net.ipv4.tcp_rmem", "net.ipv4.tcp_wmem"];
const SYSCTLS_ADDED_1_37: &[&str] = &[
    "net.ipv4.tcp_slow_start_after_idle",
    "net.ipv4.tcp_notsent_lowat",
];

fn sysctls_1_0(meta: &ObjectMeta, spec: &PodSpec) -> Option<Forbidden> {
    sysctls(meta, spec, &[SYSCTLS_1_0])
}

fn sysctls_1_27(meta: &ObjectMeta, spec: &PodSpec) -> Option<Forbidden> {
    sysctls(meta, spec, &[SYSCTLS_1_0, SYSCTLS_ADDED_1_27])
}

fn sysctls_1_29(meta: &ObjectMeta, spec: &PodSpec) -> Option<Forbidden> {
    sysctls(
        meta,
        spec,
        &[SYSCTLS_1_0, SYSCTLS_ADDED_1_27, SYSCTLS_ADDED_1_29],
    )
}

fn sysctls_1_32(meta: &ObjectMeta, spec: &PodSpec) -> Option<Forbidden> {
    sysctls(
        meta,
        spec,
        &[
            SYSCTLS_1_0,
            SYSCTLS_ADDED_1_27,
            SYSCTLS_ADDED_1_29,
            SYSCTLS_ADDED_1_32,
        ],
    )
}

fn sysctls_1_37(meta: &ObjectMeta, spec: &PodSpec) -> Option<Forbidden> {
    sysctls(
        meta,
        spec,
        &[
            SYSCTLS_1_0,
            SYSCTLS_ADDED_1_27,
            SYSCTLS_ADDED_1_29,
            SYSCTLS_ADDED_1_32,
            SYSCTLS_ADDED_1_37,
        ],
    )
}

fn sysctls(_: &ObjectMeta, spec: &PodSpec, allowed: &[&[&str]]) -> Option<Forbidden> {
    let forbidden: Vec<&str> = spec
        .security_context
        .as_ref()
        .and_then(|sc| sc.sysctls.as_deref())
        .unwrap_or(&[])
        .iter()
        .map(|s| s.name.as_str())
        .filter(|name| !allowed.iter().any(|set| set.contains(name)))
        .collect();
    if forbidden.is_empty() {
        return None;
    }
    forbid("forbidden sysctls", forbidden.join(", "))
}

fn windows_host_process_1_0(_: &ObjectMeta, spec: &PodSpec) -> Option<Forbidden> {
    let bad_containers: Vec<&str> = containers(spec)
        .filter(|c| {
            c.security_context
                .and_then(|sc| sc.windows_options.as_ref())
                .and_then(|w| w.host_process)
                == Some(true)
        })
        .map(|c| c.name)
        .collect();
    let pod_forbidden = spec
        .security_context
        .as_ref()
        .and_then(|sc| sc.windows_options.as_ref())
        .and_then(|w| w.host_process)
        == Some(true);

    let mut setters: Vec<String> = Vec::new();
    if pod_forbidden {
        setters.push("pod".to_string());
    }
    if !bad_containers.is_empty() {
        setters.push(containers_phrase(&bad_containers));
    }
    if setters.is_empty() {
        return None;
    }
    forbid(
        "hostProcess",
        format!(
            "{} must not set securityContext.windowsOptions.hostProcess=true",
            setters.join(" and ")
        ),
    )
}

// ---------------------------------------------------------------------------------------------
// Restricted checks
// ---------------------------------------------------------------------------------------------

fn allow_privilege_escalation_1_8(_: &ObjectMeta, spec: &PodSpec) -> Option<Forbidden> {
    let bad: Vec<&str> = containers(spec)
        .filter(|c| {
            c.security_context
                .and_then(|sc| sc.allow_privilege_escalation)
                .unwrap_or(true)
        })
        .map(|c| c.name)
        .collect();
    if bad.is_empty() {
        return None;
    }
    forbid(
        "allowPrivilegeEscalation != false",
        format!(
            "{} must set securityContext.allowPrivilegeEscalation=false",
            containers_phrase(&bad)
        ),
    )
}

fn allow_privilege_escalation_1_25(meta: &ObjectMeta, spec: &PodSpec) -> Option<Forbidden> {
    if is_windows(spec) {
        return None;
    }
    allow_privilege_escalation_1_8(meta, spec)
}

fn capabilities_restricted_1_22(_: &ObjectMeta, spec: &PodSpec) -> Option<Forbidden> {
    let mut missing_drop_all: Vec<&str> = Vec::new();
    let mut adding_forbidden: Vec<&str> = Vec::new();
    let mut forbidden_caps: BTreeSet<String> = BTreeSet::new();
    for c in containers(spec) {
        let Some(caps) = c.security_context.and_then(|sc| sc.capabilities.as_ref()) else {
            missing_drop_all.push(c.name);
            continue;
        };
        if !caps.drop.iter().flatten().any(|d| d == "ALL") {
            missing_drop_all.push(c.name);
        }
        let mut added_forbidden = false;
        for cap in added_capabilities(caps) {
            if cap != "NET_BIND_SERVICE" {
                added_forbidden = true;
                forbidden_caps.insert(cap.clone());
            }
        }
        if added_forbidden {
            adding_forbidden.push(c.name);
        }
    }
    let mut details: Vec<String> = Vec::new();
    if !missing_drop_all.is_empty() {
        details.push(format!(
            "{} must set securityContext.capabilities.drop=[\"ALL\"]",
            containers_phrase(&missing_drop_all)
        ));
    }
    if !adding_forbidden.is_empty() {
        details.push(format!(
            "{} must not include {} in securityContext.capabilities.add",
            containers_phrase(&adding_forbidden),
            join_quote(&sorted(forbidden_caps))
        ));
    }
    if details.is_empty() {
        return None;
    }
    forbid("unrestricted capabilities", details.join("; "))
}

fn capabilities_restricted_1_25(meta: &ObjectMeta, spec: &PodSpec) -> Option<Forbidden> {
    if is_windows(spec) {
        return None;
    }
    capabilities_restricted_1_22(meta, spec)
}

/// Whether no volume source is set at all. The API server defaults such a volume to
/// `emptyDir` before admission sees the pod (upstream's fixtures rely on this), so it is
/// judged as one here too.
fn has_no_source(v: &Volume) -> bool {
    let Volume {
        name: _,
        aws_elastic_block_store,
        azure_disk,
        azure_file,
        cephfs,
        cinder,
        config_map,
        csi,
        downward_api,
        empty_dir,
        ephemeral,
        fc,
        flex_volume,
        flocker,
        gce_persistent_disk,
        git_repo,
        glusterfs,
        host_path,
        image,
        iscsi,
        nfs,
        persistent_volume_claim,
        photon_persistent_disk,
        portworx_volume,
        projected,
        quobyte,
        rbd,
        scale_io,
        secret,
        storageos,
        vsphere_volume,
    } = v;
    aws_elastic_block_store.is_none()
        && azure_disk.is_none()
        && azure_file.is_none()
        && cephfs.is_none()
        && cinder.is_none()
        && config_map.is_none()
        && csi.is_none()
        && downward_api.is_none()
        && empty_dir.is_none()
        && ephemeral.is_none()
        && fc.is_none()
        && flex_volume.is_none()
        && flocker.is_none()
        && gce_persistent_disk.is_none()
        && git_repo.is_none()
        && glusterfs.is_none()
        && host_path.is_none()
        && image.is_none()
        && iscsi.is_none()
        && nfs.is_none()
        && persistent_volume_claim.is_none()
        && photon_persistent_disk.is_none()
        && portworx_volume.is_none()
        && projected.is_none()
        && quobyte.is_none()
        && rbd.is_none()
        && scale_io.is_none()
        && secret.is_none()
        && storageos.is_none()
        && vsphere_volume.is_none()
}

fn restricted_volume_type(v: &Volume) -> Option<&'static str> {
    let allowed = has_no_source(v)
        || v.config_map.is_some()
        || v.csi.is_some()
        || v.downward_api.is_some()
        || v.empty_dir.is_some()
        || v.ephemeral.is_some()
        || v.image.is_some()
        || v.persistent_volume_claim.is_some()
        || v.projected.is_some()
        || v.secret.is_some();
    if allowed {
        return None;
    }
    let kinds: [(bool, &'static str); 21] = [
        (v.host_path.is_some(), "hostPath"),
        (v.gce_persistent_disk.is_some(), "gcePersistentDisk"),
        (v.aws_elastic_block_store.is_some(), "awsElasticBlockStore"),
        (v.git_repo.is_some(), "gitRepo"),
        (v.nfs.is_some(), "nfs"),
        (v.iscsi.is_some(), "iscsi"),
        (v.glusterfs.is_some(), "glusterfs"),
        (v.rbd.is_some(), "rbd"),
        (v.flex_volume.is_some(), "flexVolume"),
        (v.cinder.is_some(), "cinder"),
        (v.cephfs.is_some(), "cephfs"),
        (v.flocker.is_some(), "flocker"),
        (v.fc.is_some(), "fc"),
        (v.azure_file.is_some(), "azureFile"),
        (v.vsphere_volume.is_some(), "vsphereVolume"),
        (v.quobyte.is_some(), "quobyte"),
        (v.azure_disk.is_some(), "azureDisk"),
        (v.photon_persistent_disk.is_some(), "photonPersistentDisk"),
        (v.portworx_volume.is_some(), "portworxVolume"),
        (v.scale_io.is_some(), "scaleIO"),
        (v.storageos.is_some(), "storageos"),
    ];
    Some(
        kinds
            .iter()
            .find(|(set, _)| *set)
            .map_or("unknown", |(_, name)| name),
    )
}

fn restricted_volumes_1_0(_: &ObjectMeta, spec: &PodSpec) -> Option<Forbidden> {
    let mut bad_volumes: Vec<&str> = Vec::new();
    let mut bad_types: BTreeSet<String> = BTreeSet::new();
    for v in volumes(spec) {
        if let Some(kind) = restricted_volume_type(v) {
            bad_volumes.push(&v.name);
            bad_types.insert(kind.to_string());
        }
    }
    if bad_volumes.is_empty() {
        return None;
    }
    let n_types = bad_types.len();
    forbid(
        "restricted volume types",
        format!(
            "{} {} {} {} {}",
            pluralize("volume", "volumes", bad_volumes.len()),
            join_quote(&bad_volumes),
            pluralize("uses", "use", bad_volumes.len()),
            pluralize("restricted volume type", "restricted volume types", n_types),
            join_quote(&sorted(bad_types))
        ),
    )
}

fn run_as_non_root_1_0(_: &ObjectMeta, spec: &PodSpec) -> Option<Forbidden> {
    let mut bad_setters: Vec<String> = Vec::new();
    let mut pod_run_as_non_root = false;
    match spec
        .security_context
        .as_ref()
        .and_then(|sc| sc.run_as_non_root)
    {
        Some(false) => bad_setters.push("pod".to_string()),
        Some(true) => pod_run_as_non_root = true,
        None => {}
    }
    let mut explicitly_bad: Vec<&str> = Vec::new();
    let mut implicitly_bad: Vec<&str> = Vec::new();
    for c in containers(spec) {
        match c.security_context.and_then(|sc| sc.run_as_non_root) {
            Some(false) => explicitly_bad.push(c.name),
            Some(true) => {}
            None if !pod_run_as_non_root => implicitly_bad.push(c.name),
            None => {}
        }
    }
    if !explicitly_bad.is_empty() {
        bad_setters.push(containers_phrase(&explicitly_bad));
    }
    if !bad_setters.is_empty() {
        return forbid(
            "runAsNonRoot != true",
            format!(
                "{} must not set securityContext.runAsNonRoot=false",
                bad_setters.join(" and ")
            ),
        );
    }
    if !implicitly_bad.is_empty() {
        return forbid(
            "runAsNonRoot != true",
            format!(
                "pod or {} must set securityContext.runAsNonRoot=true",
                containers_phrase(&implicitly_bad)
            ),
        );
    }
    None
}

fn run_as_non_root_1_35(meta: &ObjectMeta, spec: &PodSpec) -> Option<Forbidden> {
    if relax_for_user_namespace(spec) {
        return None;
    }
    run_as_non_root_1_0(meta, spec)
}

fn run_as_user_1_23(_: &ObjectMeta, spec: &PodSpec) -> Option<Forbidden> {
    let mut bad_setters: Vec<String> = Vec::new();
    if spec.security_context.as_ref().and_then(|sc| sc.run_as_user) == Some(0) {
        bad_setters.push("pod".to_string());
    }
    let bad: Vec<&str> = containers(spec)
        .filter(|c| c.security_context.and_then(|sc| sc.run_as_user) == Some(0))
        .map(|c| c.name)
        .collect();
    if !bad.is_empty() {
        bad_setters.push(containers_phrase(&bad));
    }
    if bad_setters.is_empty() {
        return None;
    }
    forbid(
        "runAsUser=0",
        format!("{} must not set runAsUser=0", bad_setters.join(" and ")),
    )
}

fn run_as_user_1_35(meta: &ObjectMeta, spec: &PodSpec) -> Option<Forbidden> {
    if relax_for_user_namespace(spec) {
        return None;
    }
    run_as_user_1_23(meta, spec)
}

fn seccomp_profile_restricted_1_19(_: &ObjectMeta, spec: &PodSpec) -> Option<Forbidden> {
    let mut bad_setters: Vec<String> = Vec::new();
    let mut bad_values: BTreeSet<String> = BTreeSet::new();
    let mut pod_seccomp_set = false;
    if let Some(p) = spec
        .security_context
        .as_ref()
        .and_then(|sc| sc.seccomp_profile.as_ref())
    {
        if valid_seccomp_type(&p.type_) {
            pod_seccomp_set = true;
        } else {
            bad_setters.push("pod".to_string());
            bad_values.insert(p.type_.clone());
        }
    }
    let mut explicitly_bad: Vec<&str> = Vec::new();
    let mut implicitly_bad: Vec<&str> = Vec::new();
    for c in containers(spec) {
        match c
            .security_context
            .and_then(|sc| sc.seccomp_profile.as_ref())
        {
            Some(p) if !valid_seccomp_type(&p.type_) => {
                explicitly_bad.push(c.name);
                bad_values.insert(p.type_.clone());
            }
            Some(_) => {}
            None if !pod_seccomp_set => implicitly_bad.push(c.name),
            None => {}
        }
    }
    if !explicitly_bad.is_empty() {
        bad_setters.push(containers_phrase(&explicitly_bad));
    }
    if !bad_setters.is_empty() {
        return forbid(
            "seccompProfile",
            format!(
                "{} must not set securityContext.seccompProfile.type to {}",
                bad_setters.join(" and "),
                join_quote(&sorted(bad_values))
            ),
        );
    }
    if !implicitly_bad.is_empty() {
        return forbid(
            "seccompProfile",
            format!(
                "pod or {} must set securityContext.seccompProfile.type to \"RuntimeDefault\" or \"Localhost\"",
                containers_phrase(&implicitly_bad)
            ),
        );
    }
    None
}

fn seccomp_profile_restricted_1_25(meta: &ObjectMeta, spec: &PodSpec) -> Option<Forbidden> {
    if is_windows(spec) {
        return None;
    }
    seccomp_profile_restricted_1_19(meta, spec)
}

#[cfg(test)]
#[path = "pod_security_tests.rs"]
mod tests;
