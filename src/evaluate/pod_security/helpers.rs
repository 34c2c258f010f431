//! Helpers mirroring upstream's visitor and formatting helpers.

use super::*;

/// The container fields the checks look at, shared by containers, init containers and
/// ephemeral containers.
pub(super) struct ContainerView<'a> {
    pub(super) name: &'a str,
    pub(super) security_context: Option<&'a SecurityContext>,
    pub(super) ports: &'a [ContainerPort],
    pub(super) liveness_probe: Option<&'a Probe>,
    pub(super) readiness_probe: Option<&'a Probe>,
    pub(super) startup_probe: Option<&'a Probe>,
    pub(super) lifecycle: Option<&'a Lifecycle>,
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
pub(super) fn containers(spec: &PodSpec) -> impl Iterator<Item = ContainerView<'_>> {
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

pub(super) fn join_quote<S: AsRef<str>>(items: &[S]) -> String {
    if items.is_empty() {
        return String::new();
    }
    let inner: Vec<&str> = items.iter().map(AsRef::as_ref).collect();
    format!("\"{}\"", inner.join("\", \""))
}

pub(super) fn pluralize(
    singular: &'static str,
    plural: &'static str,
    count: usize,
) -> &'static str {
    if count == 1 { singular } else { plural }
}

pub(super) fn containers_phrase<S: AsRef<str>>(names: &[S]) -> String {
    format!(
        "{} {}",
        pluralize("container", "containers", names.len()),
        join_quote(names)
    )
}

pub(super) fn sorted(set: BTreeSet<String>) -> Vec<String> {
    set.into_iter().collect()
}

pub(super) fn is_windows(spec: &PodSpec) -> bool {
    spec.os.as_ref().is_some_and(|os| os.name == "windows")
}

/// `hostUsers: false` — the pod runs in a user namespace.
pub(super) fn relax_for_user_namespace(spec: &PodSpec) -> bool {
    spec.host_users == Some(false)
}

pub(super) fn annotation<'a>(metadata: &'a ObjectMeta, key: &str) -> Option<&'a str> {
    metadata
        .annotations
        .as_ref()
        .and_then(|a| a.get(key))
        .map(String::as_str)
}
