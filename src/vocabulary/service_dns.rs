//! Which namespace a cluster DNS name points into, as an `ExternalName` Service's target: the
//! admission policy (in CEL, [`crate::desired::isolation`]) and `environment-segregation`
//! read it the same way.

/// The namespace a cluster DNS name points into, if it has the shape of one: `svc.ns`,
/// `svc.ns.svc[.<cluster domain>]`, `host.svc.ns.svc[.<cluster domain>]` (a pod behind a
/// headless Service) or `a-b-c-d.ns.pod[.<cluster domain>]`, in any case, with or without the
/// trailing dot. The cluster domain is not assumed (`cluster.local` is only the default). A
/// two-label name such as `example.com` has the shape too: it is judged only when a namespace
/// of that name exists, as the resolver would then find it.
pub fn target_namespace(name: &str) -> Option<String> {
    let name = name.trim().to_ascii_lowercase();
    let name = name.strip_suffix('.').unwrap_or(&name);
    let labels: Vec<&str> = name.split('.').collect();
    let namespace = match labels.as_slice() {
        [_, ns] => ns,
        [_, ns, "svc" | "pod", ..] => ns,
        [_, _, ns, "svc", ..] => ns,
        _ => return None,
    };
    (!namespace.is_empty()).then(|| namespace.to_string())
}

/// [`target_namespace`] in CEL over `labels`, a CEL list of the lower-cased name's labels
/// without the trailing dot (see the admission policy): `''` when the name has no such shape.
pub fn target_namespace_cel(labels: &str) -> String {
    format!(
        "size({labels}) == 2 ? {labels}[1] : (size({labels}) >= 3 && ({labels}[2] == 'svc' || {labels}[2] == 'pod') ? {labels}[1] : (size({labels}) >= 4 && {labels}[3] == 'svc' ? {labels}[2] : ''))"
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_form_of_a_service_name_names_its_namespace() {
        for name in [
            "db.prod",
            "db.prod.svc",
            "db.prod.svc.cluster.local",
            "db.prod.svc.cluster.local.",
            "DB.Prod.SVC.Cluster.Local",
            "db-0.db.prod.svc.cluster.local",
            "10-1-2-3.prod.pod.cluster.local",
            "db.prod.svc.corp.internal",
        ] {
            assert_eq!(target_namespace(name).as_deref(), Some("prod"), "{name}");
        }
        for name in ["db", "api.example.org", "", ".", "a.b.c.d.e"] {
            assert_eq!(target_namespace(name), None, "{name}");
        }
    }
}
