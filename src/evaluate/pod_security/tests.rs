use super::*;
use k8s_openapi::api::core::v1::{
    HTTPGetAction, PodOS, PodSecurityContext, SeccompProfile, Sysctl,
};
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;

fn container(name: &str) -> Container {
    Container {
        name: name.to_string(),
        image: Some("registry.k8s.io/pause".to_string()),
        ..Default::default()
    }
}

fn baseline_pod() -> PodSpec {
    PodSpec {
        containers: vec![container("c")],
        ..Default::default()
    }
}

/// A pod valid for `restricted` at every version.
fn restricted_pod() -> PodSpec {
    let mut c = container("c");
    c.security_context = Some(SecurityContext {
        allow_privilege_escalation: Some(false),
        capabilities: Some(Capabilities {
            drop: Some(vec!["ALL".to_string()]),
            ..Default::default()
        }),
        ..Default::default()
    });
    PodSpec {
        containers: vec![c],
        security_context: Some(PodSecurityContext {
            run_as_non_root: Some(true),
            seccomp_profile: Some(SeccompProfile {
                type_: "RuntimeDefault".to_string(),
                ..Default::default()
            }),
            ..Default::default()
        }),
        ..Default::default()
    }
}

fn ids(level: Level, v: PsaVersion, spec: &PodSpec) -> Vec<&'static str> {
    evaluate(level, v, &ObjectMeta::default(), spec)
        .into_iter()
        .map(|v| v.check)
        .collect()
}

#[test]
fn version_parse_and_label() {
    assert_eq!(PsaVersion::parse("latest"), Some(PsaVersion::Latest));
    assert_eq!(PsaVersion::parse("v1.25"), Some(PsaVersion::Minor(25)));
    assert_eq!(PsaVersion::parse("v1.0"), Some(PsaVersion::Minor(0)));
    for bad in ["v1.05", "1.25", "v2.1", "v1.", "v1.x", "Latest", ""] {
        assert_eq!(PsaVersion::parse(bad), None, "{bad}");
    }
    assert_eq!(PsaVersion::Minor(29).as_label(), "v1.29");
    assert_eq!(PsaVersion::Latest.as_label(), "latest");
    assert!(PsaVersion::Minor(999) < PsaVersion::Latest);
}

#[test]
fn privileged_always_passes() {
    let mut spec = baseline_pod();
    spec.host_network = Some(true);
    assert!(
        evaluate(
            Level::Privileged,
            PsaVersion::Latest,
            &Default::default(),
            &spec
        )
        .is_empty()
    );
    assert_eq!(
        ids(Level::Baseline, PsaVersion::Latest, &spec),
        ["hostNamespaces"]
    );
}

#[test]
fn sysctl_keepalive_allowed_from_1_29() {
    let mut spec = baseline_pod();
    spec.security_context = Some(PodSecurityContext {
        sysctls: Some(vec![Sysctl {
            name: "net.ipv4.tcp_keepalive_time".to_string(),
            value: "60".to_string(),
        }]),
        ..Default::default()
    });
    let v = evaluate(
        Level::Baseline,
        PsaVersion::Minor(28),
        &Default::default(),
        &spec,
    );
    assert_eq!(
        v,
        [Violation {
            check: "sysctls",
            reason: "forbidden sysctls".to_string(),
            detail: "net.ipv4.tcp_keepalive_time".to_string(),
        }]
    );
    assert!(ids(Level::Baseline, PsaVersion::Minor(29), &spec).is_empty());
    assert!(ids(Level::Baseline, PsaVersion::Latest, &spec).is_empty());
}

#[test]
fn sysctl_notsent_lowat_allowed_from_1_37() {
    let mut spec = baseline_pod();
    spec.security_context = Some(PodSecurityContext {
        sysctls: Some(vec![Sysctl {
            name: "net.ipv4.tcp_notsent_lowat".to_string(),
            value: "1".to_string(),
        }]),
        ..Default::default()
    });
    assert_eq!(
        ids(Level::Baseline, PsaVersion::Minor(36), &spec),
        ["sysctls"]
    );
    assert!(ids(Level::Baseline, PsaVersion::Minor(37), &spec).is_empty());
    // Versions beyond the newest check behave like the newest.
    assert!(ids(Level::Baseline, PsaVersion::Minor(40), &spec).is_empty());
}

#[test]
fn host_probes_checked_from_1_34() {
    let mut spec = baseline_pod();
    spec.containers[0].liveness_probe = Some(Probe {
        http_get: Some(HTTPGetAction {
            host: Some("1.2.3.4".to_string()),
            port: IntOrString::Int(80),
            ..Default::default()
        }),
        ..Default::default()
    });
    assert!(ids(Level::Baseline, PsaVersion::Minor(33), &spec).is_empty());
    let v = evaluate(
        Level::Baseline,
        PsaVersion::Minor(34),
        &Default::default(),
        &spec,
    );
    assert_eq!(v.len(), 1);
    assert_eq!(v[0].check, "hostProbesAndHostLifecycle");
    assert_eq!(v[0].reason, "probe or lifecycle host");
    assert_eq!(
        v[0].detail,
        "container \"c\" uses probe or lifecycle host \"1.2.3.4\""
    );
}

#[test]
fn restricted_seccomp_required_from_1_19() {
    let mut spec = restricted_pod();
    spec.security_context.as_mut().unwrap().seccomp_profile = None;
    assert!(ids(Level::Restricted, PsaVersion::Minor(18), &spec).is_empty());
    let v = evaluate(
        Level::Restricted,
        PsaVersion::Minor(19),
        &Default::default(),
        &spec,
    );
    assert_eq!(v.len(), 1);
    assert_eq!(v[0].check, "seccompProfile_restricted");
    assert_eq!(
        v[0].detail,
        "pod or container \"c\" must set securityContext.seccompProfile.type to \"RuntimeDefault\" or \"Localhost\""
    );
}

#[test]
fn restricted_includes_baseline_and_respects_overrides() {
    let mut spec = restricted_pod();
    spec.host_pid = Some(true);
    spec.containers[0]
        .security_context
        .as_mut()
        .unwrap()
        .capabilities
        .as_mut()
        .unwrap()
        .add = Some(vec!["SYS_ADMIN".to_string()]);
    // Before 1.22 the baseline capabilities check applies at restricted.
    assert_eq!(
        ids(Level::Restricted, PsaVersion::Minor(21), &spec),
        ["capabilities_baseline", "hostNamespaces"]
    );
    // From 1.22 the restricted capabilities check replaces it.
    assert_eq!(
        ids(Level::Restricted, PsaVersion::Latest, &spec),
        ["hostNamespaces", "capabilities_restricted"]
    );
}

#[test]
fn windows_pods_exempt_from_some_restricted_checks_from_1_25() {
    let mut spec = baseline_pod();
    spec.os = Some(PodOS {
        name: "windows".to_string(),
    });
    spec.security_context = Some(PodSecurityContext {
        run_as_non_root: Some(true),
        ..Default::default()
    });
    assert!(ids(Level::Restricted, PsaVersion::Latest, &spec).is_empty());
    assert_eq!(
        ids(Level::Restricted, PsaVersion::Minor(24), &spec),
        [
            "allowPrivilegeEscalation",
            "capabilities_restricted",
            "seccompProfile_restricted"
        ]
    );
}

#[test]
fn user_namespace_relaxes_from_1_35() {
    let mut spec = restricted_pod();
    spec.host_users = Some(false);
    spec.security_context.as_mut().unwrap().run_as_non_root = None;
    spec.containers[0]
        .security_context
        .as_mut()
        .unwrap()
        .proc_mount = Some("Unmasked".to_string());
    assert_eq!(
        ids(Level::Restricted, PsaVersion::Minor(34), &spec),
        ["procMount", "runAsNonRoot"]
    );
    assert_eq!(
        ids(Level::Restricted, PsaVersion::Latest, &spec),
        ["procMount_restricted"]
    );
    assert!(ids(Level::Baseline, PsaVersion::Latest, &spec).is_empty());
    assert_eq!(
        ids(Level::Baseline, PsaVersion::Minor(34), &spec),
        ["procMount"]
    );
}

#[test]
fn seccomp_annotations_before_1_19() {
    let meta = ObjectMeta {
        annotations: Some(
            [(
                "seccomp.security.alpha.kubernetes.io/pod".to_string(),
                "unconfined".to_string(),
            )]
            .into_iter()
            .collect(),
        ),
        ..Default::default()
    };
    let spec = baseline_pod();
    let v = evaluate(Level::Baseline, PsaVersion::Minor(18), &meta, &spec);
    assert_eq!(v.len(), 1);
    assert_eq!(
        v[0].detail,
        "forbidden annotation seccomp.security.alpha.kubernetes.io/pod=\"unconfined\""
    );
    assert!(evaluate(Level::Baseline, PsaVersion::Minor(19), &meta, &spec).is_empty());
}

#[test]
fn go_quote_matches_strconv() {
    assert_eq!(
        go_quote("a\"b\\c\n\u{1}\u{a0}é"),
        "\"a\\\"b\\\\c\\n\\x01\\u00a0é\""
    );
}
