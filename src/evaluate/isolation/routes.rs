//! `environment-segregation` beyond NetworkPolicies: Services that route into another
//! environment. An `ExternalName` Service is a DNS alias its namespace's pods (and anything
//! that reaches its name) follow; a Service's EndpointSlices are where kube-proxy sends its
//! traffic, and for a Service without selector whoever writes them chooses (a `v1` Endpoints
//! object is mirrored into a slice by kube-controller-manager, so slices cover it too).
//!
//! A route from namespace S into namespace T of another environment is a finding unless a
//! declared flow without port limits joins S's environment to T's: a DNS alias bounds no port,
//! and the admission policy that refuses such routes cannot read ports per endpoint either, so
//! both sides hold routes to the same rule.
//!
//! Where a slice's endpoint points is read from its `targetRef` (any kind naming another
//! namespace) and from its addresses, matched against the addresses pods report in
//! `status.podIPs` (written by their node's kubelet; host-network pods carry their node's
//! address, not their namespace's, and finished pods give theirs back) and Services'
//! cluster IPs.

use super::*;
use crate::vocabulary::service_dns::target_namespace;
use k8s_openapi::api::core::v1::Service;
use std::net::IpAddr;

/// The routes into other environments, and how many Services and slices were judged, in the
/// parts of the namespaces they route from.
pub(super) fn routes(flows: &[Flow], scope: &Scope, parts: &mut Parts) {
    let in_environment = |ns: Option<&str>| {
        ns.filter(|ns| scope.judges(ns) && !scope.envs.environments(ns).is_empty())
            .map(str::to_string)
    };
    for service in &scope.snapshot.services {
        let Some(source) = in_environment(service.metadata.namespace.as_deref()) else {
            continue;
        };
        let Some(name) = external_name(service) else {
            continue;
        };
        let tally = parts.tally(&source, SEGREGATION);
        tally.checked += 1;
        let Some(target) = target_namespace(name) else {
            continue;
        };
        if crosses(&source, &target, flows, scope) {
            tally.violations.push(Violation::new(
                ObjectRef::of("Service", &service.metadata),
                format!(
                    "ExternalName Service {source}/{} points at `{name}` in namespace `{target}` (environment {}) from environment {}, and no declared flow without port limits joins them",
                    service.metadata.name.as_deref().unwrap_or_default(),
                    names(scope.envs.environments(&target)),
                    names(scope.envs.environments(&source)),
                ),
            ));
        }
    }
    // Built once, and only when a judged namespace has slices: a pass judging a few
    // namespaces reads every pod's address only if it must.
    let addresses = std::cell::OnceCell::new();
    for slice in &scope.snapshot.endpoint_slices {
        let Some(source) = in_environment(slice.metadata.namespace.as_deref()) else {
            continue;
        };
        let addresses = addresses.get_or_init(|| Addresses::of(scope.snapshot));
        let tally = parts.tally(&source, SEGREGATION);
        tally.checked += 1;
        let mut crossing: Vec<String> = Vec::new();
        for endpoint in slice.endpoints.iter().flatten() {
            let by_ref = endpoint.target_ref.as_ref().and_then(|r| {
                let ns = r.namespace.as_deref()?;
                Some((
                    ns.to_string(),
                    format!(
                        "targetRef {} {ns}/{}",
                        r.kind.as_deref().unwrap_or("object"),
                        r.name.as_deref().unwrap_or_default()
                    ),
                ))
            });
            let by_address = endpoint.addresses.iter().filter_map(|a| {
                addresses
                    .owner(a)
                    .map(|(ns, what)| (ns.clone(), format!("address {a} ({what})")))
            });
            for (target, how) in by_ref.into_iter().chain(by_address) {
                if crosses(&source, &target, flows, scope) && !crossing.contains(&how) {
                    crossing.push(how);
                }
            }
        }
        if crossing.is_empty() {
            continue;
        }
        let service = slice
            .metadata
            .labels
            .as_ref()
            .and_then(|l| l.get("kubernetes.io/service-name"))
            .map(|s| format!(" of Service `{s}`"))
            .unwrap_or_default();
        tally.violations.push(Violation::new(
            ObjectRef::of("EndpointSlice", &slice.metadata),
            format!(
                "EndpointSlice {source}/{}{service} routes environment {} into another environment that no declared flow without port limits joins: {}",
                slice.metadata.name.as_deref().unwrap_or_default(),
                names(scope.envs.environments(&source)),
                crossing.join(", ")
            ),
        ));
    }
}

/// The DNS name an `ExternalName` Service aliases.
fn external_name(service: &Service) -> Option<&str> {
    let spec = service.spec.as_ref()?;
    (spec.type_.as_deref() == Some("ExternalName"))
        .then_some(spec.external_name.as_deref())
        .flatten()
}

/// Whether a route from `source` into `target` joins two environments that no declared flow
/// without port limits joins.
fn crosses(source: &str, target: &str, flows: &[Flow], scope: &Scope) -> bool {
    source != target
        && !scope.envs.environments(target).is_empty()
        && !scope.envs.share_environment(source, target)
        && !flow_allows(flows, scope.envs, source, target, None)
}

/// Which namespace an address belongs to: pods' reported addresses and Services' cluster IPs.
struct Addresses(BTreeMap<IpAddr, (String, String)>);

fn keep_first(map: &mut BTreeMap<IpAddr, (String, String)>, ip: IpAddr, owner: (String, String)) {
    match map.get_mut(&ip) {
        Some(kept) if *kept <= owner => {}
        Some(kept) => *kept = owner,
        None => {
            map.insert(ip, owner);
        }
    }
}

impl Addresses {
    fn of(snapshot: &Snapshot) -> Self {
        let mut map = BTreeMap::new();
        for pod in &snapshot.pods {
            let (Some(ns), Some(status)) = (&pod.metadata.namespace, &pod.status) else {
                continue;
            };
            let host_network = pod
                .spec
                .as_ref()
                .and_then(|s| s.host_network)
                .unwrap_or(false);
            let finished = matches!(status.phase.as_deref(), Some("Succeeded" | "Failed"));
            if host_network || finished {
                continue;
            }
            let name = pod.metadata.name.clone().unwrap_or_default();
            let ips = status
                .pod_ips
                .iter()
                .flatten()
                .map(|ip| ip.ip.as_str())
                .chain(status.pod_ip.as_deref());
            for ip in ips.filter_map(|ip| ip.parse::<IpAddr>().ok()) {
                keep_first(&mut map, ip, (ns.clone(), format!("pod {ns}/{name}")));
            }
        }
        // A Service's cluster IP names the Service, whatever pod reports the same address.
        let mut services = BTreeMap::new();
        for service in &snapshot.services {
            let (Some(ns), Some(spec)) = (&service.metadata.namespace, &service.spec) else {
                continue;
            };
            let name = service.metadata.name.clone().unwrap_or_default();
            let ips = spec
                .cluster_ips
                .iter()
                .flatten()
                .map(String::as_str)
                .chain(spec.cluster_ip.as_deref());
            for ip in ips.filter_map(|ip| ip.parse::<IpAddr>().ok()) {
                keep_first(
                    &mut services,
                    ip,
                    (ns.clone(), format!("Service {ns}/{name}")),
                );
            }
        }
        map.extend(services);
        Self(map)
    }

    /// Who reports `address`: with several (two pods briefly sharing an address), the first
    /// by namespace and name, so that the answer does not depend on listing order.
    fn owner(&self, address: &str) -> Option<&(String, String)> {
        self.0.get(&address.parse::<IpAddr>().ok()?)
    }
}
