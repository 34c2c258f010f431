//! All eight SecurityBaseline controls over the namespaces the baseline selects.

use super::{
    Evaluation, encryption, excluded_namespaces, images, network, privilege, selected_namespaces,
    workloads,
};
use crate::snapshot::Snapshot;
use crate::validate::security_baseline::ValidSecurityBaseline;
use jiff::Timestamp;

pub fn evaluate(spec: &ValidSecurityBaseline, snapshot: &Snapshot, now: Timestamp) -> Evaluation {
    let namespaces = selected_namespaces(&spec.namespace_selector, snapshot);
    let encryption = spec.encryption.as_ref();
    let require_tls = encryption
        .and_then(|e| e.in_transit.as_ref())
        .is_some_and(|t| t.require_ingress_tls);
    let outcomes = vec![
        network::restricted_ports(spec.network.as_ref(), &namespaces, snapshot),
        encryption::in_transit(require_tls, &namespaces, snapshot),
        encryption::at_rest(
            encryption.and_then(|e| e.at_rest.as_ref()),
            &namespaces,
            snapshot,
        ),
        workloads::hardening(spec.pod_security.as_ref(), &namespaces, snapshot),
        images::trusted_images(spec.images.as_ref(), &namespaces, snapshot),
        privilege::least_privilege(spec.access.as_ref(), &namespaces, snapshot),
        workloads::availability(spec.availability.as_ref(), &namespaces, snapshot),
        workloads::resources(spec.resources.as_ref(), &namespaces, snapshot),
    ];
    Evaluation::new(namespaces, outcomes, &spec.exemptions, now)
        .with_excluded(excluded_namespaces([&spec.namespace_selector], snapshot))
}
