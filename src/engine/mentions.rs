//! Which namespaces' EnvironmentIsolation findings name another namespace through their own
//! objects: an ExternalName Service aliasing a name in it, an EndpointSlice whose `targetRef`
//! names it or whose addresses point at an address, a claim populated from it
//! (`dataSourceRef.namespace`). When that namespace changes environment, or an address
//! changes hands (a pod or a Service reporting it comes, goes or changes), the namespaces
//! holding those objects are judged again.
//!
//! Which namespace owns an address is not kept here: the namespaces pointing at an address are
//! named whoever reports it, a superset of those whose findings change, never less.

use super::object::{Object, ObjectKey};
use crate::vocabulary::service_dns::target_namespace;
use std::collections::{BTreeMap, BTreeSet};
use std::net::IpAddr;

/// What one object names: namespaces, and addresses it routes to.
#[derive(Clone, Debug, Default, PartialEq)]
struct Named {
    namespaces: BTreeSet<String>,
    addresses: BTreeSet<IpAddr>,
}

#[derive(Clone, Debug, Default)]
pub struct Mentions {
    /// Each naming object (its key holds its namespace) and what it names.
    of_object: BTreeMap<ObjectKey, Named>,
    /// A named namespace -> the namespaces of the objects naming it, with how many.
    naming: BTreeMap<String, BTreeMap<String, usize>>,
    /// An address -> the namespaces of the slices pointing at it, with how many.
    pointing: BTreeMap<IpAddr, BTreeMap<String, usize>>,
}

/// What `object` names, if it is of a kind that names anything.
fn named_by(object: &Object) -> Option<Named> {
    let mut named = Named::default();
    match object {
        Object::services(service) => {
            let spec = service.spec.as_ref()?;
            if spec.type_.as_deref() == Some("ExternalName")
                && let Some(target) = spec.external_name.as_deref().and_then(target_namespace)
            {
                named.namespaces.insert(target);
            }
        }
        Object::endpoint_slices(slice) => {
            for endpoint in slice.endpoints.iter().flatten() {
                if let Some(ns) = endpoint
                    .target_ref
                    .as_ref()
                    .and_then(|r| r.namespace.clone())
                {
                    named.namespaces.insert(ns);
                }
                named.addresses.extend(
                    endpoint
                        .addresses
                        .iter()
                        .filter_map(|a| a.parse::<IpAddr>().ok()),
                );
            }
        }
        Object::persistent_volume_claims(claim) => {
            let reference = claim.spec.as_ref()?.data_source_ref.as_ref()?;
            named.namespaces.extend(reference.namespace.clone());
        }
        _ => return None,
    }
    Some(named)
}

fn add(map: &mut BTreeMap<String, usize>, namespace: &str) {
    *map.entry(namespace.to_string()).or_default() += 1;
}

fn remove(map: &mut BTreeMap<String, usize>, namespace: &str) {
    if let Some(count) = map.get_mut(namespace) {
        *count -= 1;
        if *count == 0 {
            map.remove(namespace);
        }
    }
}

impl Mentions {
    /// Follows one object's change (`old` replaced by `new`; either may be absent).
    pub fn update(&mut self, old: Option<&Object>, new: Option<&Object>) {
        let Some(any) = new.or(old) else {
            return;
        };
        let key = any.key();
        let Some(namespace) = key.namespace.clone() else {
            return;
        };
        if let Some(before) = self.of_object.remove(&key) {
            for named in &before.namespaces {
                if let Some(map) = self.naming.get_mut(named) {
                    remove(map, &namespace);
                    if map.is_empty() {
                        self.naming.remove(named);
                    }
                }
            }
            for address in &before.addresses {
                if let Some(map) = self.pointing.get_mut(address) {
                    remove(map, &namespace);
                    if map.is_empty() {
                        self.pointing.remove(address);
                    }
                }
            }
        }
        let Some(after) = new.and_then(named_by) else {
            return;
        };
        if after == Named::default() {
            return;
        }
        for named in &after.namespaces {
            add(self.naming.entry(named.clone()).or_default(), &namespace);
        }
        for address in &after.addresses {
            add(self.pointing.entry(*address).or_default(), &namespace);
        }
        self.of_object.insert(key, after);
    }

    /// The namespaces holding an object that names `namespace`.
    pub fn naming(&self, namespace: &str) -> impl Iterator<Item = &String> {
        self.naming
            .get(namespace)
            .into_iter()
            .flat_map(|m| m.keys())
    }

    /// The namespaces holding a slice that points at one of `addresses`.
    pub fn pointing_at<'a>(
        &'a self,
        addresses: impl IntoIterator<Item = IpAddr> + 'a,
    ) -> impl Iterator<Item = &'a String> + 'a {
        addresses
            .into_iter()
            .filter_map(|a| self.pointing.get(&a))
            .flat_map(|m| m.keys())
    }
}

/// The addresses `object` reports as its own, if it is a pod or a Service: what slices may
/// point at (see `evaluate::isolation::routes`).
pub fn reported_addresses(object: &Object) -> Vec<IpAddr> {
    let found: Vec<&str> = match object {
        Object::pods(pod) => pod
            .status
            .iter()
            .flat_map(|s| {
                s.pod_ips
                    .iter()
                    .flatten()
                    .map(|ip| ip.ip.as_str())
                    .chain(s.pod_ip.as_deref())
            })
            .collect(),
        Object::services(service) => service
            .spec
            .iter()
            .flat_map(|s| {
                s.cluster_ips
                    .iter()
                    .flatten()
                    .map(String::as_str)
                    .chain(s.cluster_ip.as_deref())
            })
            .collect(),
        _ => Vec::new(),
    };
    found.into_iter().filter_map(|a| a.parse().ok()).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;
    use std::sync::Arc;

    fn slice(ns: &str, name: &str, address: &str, target: Option<&str>) -> Object {
        let mut endpoint = json!({"addresses": [address]});
        if let Some(target) = target {
            endpoint["targetRef"] = json!({"kind": "Pod", "namespace": target, "name": "p"});
        }
        Object::endpoint_slices(Arc::new(
            serde_json::from_value(json!({
                "metadata": {"namespace": ns, "name": name},
                "addressType": "IPv4", "endpoints": [endpoint],
            }))
            .unwrap(),
        ))
    }

    #[test]
    fn names_follow_their_objects_through_changes_and_deletions() {
        let mut mentions = Mentions::default();
        let first = slice("shop", "a", "10.0.0.1", Some("db"));
        mentions.update(None, Some(&first));
        let ip: IpAddr = "10.0.0.1".parse().unwrap();
        assert_eq!(mentions.naming("db").collect::<Vec<_>>(), ["shop"]);
        assert_eq!(mentions.pointing_at([ip]).collect::<Vec<_>>(), ["shop"]);
        // A second slice in the same namespace names the same: both are counted.
        let second = slice("shop", "b", "10.0.0.1", Some("db"));
        mentions.update(None, Some(&second));
        mentions.update(Some(&first), None);
        assert_eq!(mentions.naming("db").collect::<Vec<_>>(), ["shop"]);
        // Changed to point elsewhere: the old names are taken back.
        let moved = slice("shop", "b", "10.0.0.2", None);
        mentions.update(Some(&second), Some(&moved));
        assert_eq!(mentions.naming("db").count(), 0);
        assert_eq!(mentions.pointing_at([ip]).count(), 0);
        let other: IpAddr = "10.0.0.2".parse().unwrap();
        assert_eq!(mentions.pointing_at([other]).collect::<Vec<_>>(), ["shop"]);
    }
}
