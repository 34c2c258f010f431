//! The Pod Security Standards' baseline checks, version by version.

use super::*;

pub(super) const APPARMOR_ANNOTATION_PREFIX: &str =
    "container.apparmor.security.beta.kubernetes.io/";

pub(super) fn app_armor_allowed_annotation_value(v: &str) -> bool {
    v.is_empty() || v == "runtime/default" || v.starts_with("localhost/")
}

pub(super) fn app_armor_allowed_type(t: &str) -> bool {
    t == "RuntimeDefault" || t == "Localhost"
}

pub(super) fn app_armor_profile_1_0(metadata: &ObjectMeta, spec: &PodSpec) -> Option<Forbidden> {
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

pub(super) const CAPABILITIES_ALLOWED_1_0: &[&str] = &[
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

pub(super) fn added_capabilities(caps: &Capabilities) -> &[String] {
    caps.add.as_deref().unwrap_or(&[])
}

pub(super) fn capabilities_baseline_1_0(_: &ObjectMeta, spec: &PodSpec) -> Option<Forbidden> {
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

pub(super) fn host_namespaces_1_0(_: &ObjectMeta, spec: &PodSpec) -> Option<Forbidden> {
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

pub(super) fn volumes(spec: &PodSpec) -> &[Volume] {
    spec.volumes.as_deref().unwrap_or(&[])
}

pub(super) fn host_path_volumes_1_0(_: &ObjectMeta, spec: &PodSpec) -> Option<Forbidden> {
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

pub(super) fn host_ports_1_0(_: &ObjectMeta, spec: &PodSpec) -> Option<Forbidden> {
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

pub(super) fn forbidden_probe_hosts(probe: Option<&Probe>) -> Vec<String> {
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

pub(super) fn forbidden_lifecycle_hosts(handler: Option<&LifecycleHandler>) -> Vec<String> {
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

pub(super) fn host_probes_and_host_lifecycle_1_34(
    _: &ObjectMeta,
    spec: &PodSpec,
) -> Option<Forbidden> {
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

pub(super) fn privileged_1_0(_: &ObjectMeta, spec: &PodSpec) -> Option<Forbidden> {
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

pub(super) fn proc_mount_1_0(_: &ObjectMeta, spec: &PodSpec) -> Option<Forbidden> {
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

pub(super) fn proc_mount_baseline_1_35(meta: &ObjectMeta, spec: &PodSpec) -> Option<Forbidden> {
    if relax_for_user_namespace(spec) {
        return None;
    }
    proc_mount_1_0(meta, spec)
}

pub(super) const SELINUX_TYPES_1_0: &[&str] =
    &["", "container_t", "container_init_t", "container_kvm_t"];
pub(super) const SELINUX_TYPES_1_31: &[&str] = &[
    "",
    "container_t",
    "container_init_t",
    "container_kvm_t",
    "container_engine_t",
];

pub(super) fn se_linux_options_1_0(meta: &ObjectMeta, spec: &PodSpec) -> Option<Forbidden> {
    se_linux_options(meta, spec, SELINUX_TYPES_1_0)
}

pub(super) fn se_linux_options_1_31(meta: &ObjectMeta, spec: &PodSpec) -> Option<Forbidden> {
    se_linux_options(meta, spec, SELINUX_TYPES_1_31)
}

pub(super) fn se_linux_options(
    _: &ObjectMeta,
    spec: &PodSpec,
    allowed: &[&str],
) -> Option<Forbidden> {
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

pub(super) const SECCOMP_POD_ANNOTATION: &str = "seccomp.security.alpha.kubernetes.io/pod";
pub(super) const SECCOMP_CONTAINER_ANNOTATION_PREFIX: &str =
    "container.seccomp.security.alpha.kubernetes.io/";

pub(super) fn valid_seccomp_type(t: &str) -> bool {
    t == "Localhost" || t == "RuntimeDefault"
}

pub(super) fn valid_seccomp_annotation_value(v: &str) -> bool {
    v == "runtime/default" || v == "docker/default" || v.starts_with("localhost/")
}

pub(super) fn seccomp_profile_baseline_1_0(meta: &ObjectMeta, spec: &PodSpec) -> Option<Forbidden> {
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

pub(super) fn seccomp_profile_baseline_1_19(_: &ObjectMeta, spec: &PodSpec) -> Option<Forbidden> {
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

pub(super) const SYSCTLS_1_0: &[&str] = &[
    "kernel.shm_rmid_forced",
    "net.ipv4.ip_local_port_range",
    "net.ipv4.tcp_syncookies",
    "net.ipv4.ping_group_range",
    "net.ipv4.ip_unprivileged_port_start",
];
pub(super) const SYSCTLS_ADDED_1_27: &[&str] = &["net.ipv4.ip_local_reserved_ports"];
pub(super) const SYSCTLS_ADDED_1_29: &[&str] = &[
    "net.ipv4.tcp_keepalive_time",
    "net.ipv4.tcp_fin_timeout",
    "net.ipv4.tcp_keepalive_intvl",
    "net.ipv4.tcp_keepalive_probes",
];
pub(super) const SYSCTLS_ADDED_1_32: &[&str] = &["net.ipv4.tcp_rmem", "net.ipv4.tcp_wmem"];
pub(super) const SYSCTLS_ADDED_1_37: &[&str] = &[
    "net.ipv4.tcp_slow_start_after_idle",
    "net.ipv4.tcp_notsent_lowat",
];

pub(super) fn sysctls_1_0(meta: &ObjectMeta, spec: &PodSpec) -> Option<Forbidden> {
    sysctls(meta, spec, &[SYSCTLS_1_0])
}

pub(super) fn sysctls_1_27(meta: &ObjectMeta, spec: &PodSpec) -> Option<Forbidden> {
    sysctls(meta, spec, &[SYSCTLS_1_0, SYSCTLS_ADDED_1_27])
}

pub(super) fn sysctls_1_29(meta: &ObjectMeta, spec: &PodSpec) -> Option<Forbidden> {
    sysctls(
        meta,
        spec,
        &[SYSCTLS_1_0, SYSCTLS_ADDED_1_27, SYSCTLS_ADDED_1_29],
    )
}

pub(super) fn sysctls_1_32(meta: &ObjectMeta, spec: &PodSpec) -> Option<Forbidden> {
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

pub(super) fn sysctls_1_37(meta: &ObjectMeta, spec: &PodSpec) -> Option<Forbidden> {
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

pub(super) fn sysctls(_: &ObjectMeta, spec: &PodSpec, allowed: &[&[&str]]) -> Option<Forbidden> {
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

pub(super) fn windows_host_process_1_0(_: &ObjectMeta, spec: &PodSpec) -> Option<Forbidden> {
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
