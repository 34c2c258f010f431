//! `trusted-images`: allowed registries, no mutable tags, optional digest pinning.

use super::encryption::in_scope;
use super::{ControlOutcome, ObjectRef, Violation};
use crate::api::security_baseline::ImagesSpec;
use crate::catalog::ControlId;
use crate::snapshot::{PodCarrier, Snapshot};

pub fn trusted_images(
    spec: Option<&ImagesSpec>,
    namespaces: &[String],
    snapshot: &Snapshot,
) -> ControlOutcome {
    let Some(spec) = spec else {
        return ControlOutcome::not_applicable(ControlId::TrustedImages);
    };
    let carriers: Vec<PodCarrier> = snapshot
        .pod_carriers()
        .into_iter()
        .filter(|c| in_scope(Some(c.namespace()), namespaces))
        .collect();
    let violations = carriers
        .iter()
        .flat_map(|c| carrier_violations(spec, c))
        .collect();
    ControlOutcome::checked(ControlId::TrustedImages, carriers.len(), violations)
}

fn carrier_violations(spec: &ImagesSpec, carrier: &PodCarrier) -> Vec<Violation> {
    let object = ObjectRef::of_carrier(carrier);
    containers(carrier)
        .filter_map(|(name, image)| {
            image_problem(spec, image).map(|why| {
                Violation::new(
                    object.clone(),
                    format!("container `{name}` image `{image}` {why}"),
                )
            })
        })
        .collect()
}

/// `(container name, image)` of every container, init and ephemeral container.
pub fn containers<'a>(carrier: &PodCarrier<'a>) -> impl Iterator<Item = (&'a str, &'a str)> {
    let spec = carrier.spec;
    let main = spec
        .containers
        .iter()
        .map(|c| (c.name.as_str(), c.image.as_deref().unwrap_or_default()));
    let init = spec
        .init_containers
        .iter()
        .flatten()
        .map(|c| (c.name.as_str(), c.image.as_deref().unwrap_or_default()));
    let ephemeral = spec
        .ephemeral_containers
        .iter()
        .flatten()
        .map(|c| (c.name.as_str(), c.image.as_deref().unwrap_or_default()));
    main.chain(init).chain(ephemeral)
}

/// Why an image breaks the policy, if it does.
pub fn image_problem(spec: &ImagesSpec, image: &str) -> Option<String> {
    if !spec.allowed_registries.is_empty()
        && !spec
            .allowed_registries
            .iter()
            .any(|p| image.starts_with(p.as_str()))
    {
        return Some(format!(
            "comes from a registry outside the allowed list ({})",
            spec.allowed_registries.join(", ")
        ));
    }
    let (name, digest) = match image.split_once('@') {
        Some((name, digest)) => (name, Some(digest)),
        None => (image, None),
    };
    if spec.require_digest && digest.is_none_or(|d| !d.starts_with("sha256:")) {
        return Some("is not pinned by a sha256 digest".into());
    }
    if spec.disallow_latest_tag && digest.is_none() {
        let last_segment = name.rsplit('/').next().unwrap_or(name);
        match last_segment.split_once(':') {
            None => return Some("has no tag (resolves to the mutable `latest`)".into()),
            Some((_, "latest")) => return Some("uses a mutable tag".into()),
            Some(_) => {}
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec() -> ImagesSpec {
        ImagesSpec {
            allowed_registries: vec!["registry.example.com/".into()],
            disallow_latest_tag: true,
            require_digest: false,
        }
    }

    #[test]
    fn judges_registry_tag_and_digest() {
        let s = spec();
        assert!(image_problem(&s, "registry.example.com/api:1.2").is_none());
        assert!(image_problem(&s, "registry.example.com:5000/api").is_some());
        assert!(
            image_problem(&s, "registry.example.com/api")
                .unwrap()
                .contains("no tag")
        );
        assert!(
            image_problem(&s, "registry.example.com/api:latest")
                .unwrap()
                .contains("mutable tag")
        );
        assert!(
            image_problem(&s, "docker.io/nginx:1.25")
                .unwrap()
                .contains("registry")
        );
        assert!(image_problem(&s, "registry.example.com/api@sha256:abc").is_none());
        let digest = ImagesSpec {
            require_digest: true,
            ..s
        };
        assert!(
            image_problem(&digest, "registry.example.com/api:1.2")
                .unwrap()
                .contains("digest")
        );
    }

    #[test]
    fn port_in_registry_host_is_not_a_tag() {
        let s = ImagesSpec {
            allowed_registries: vec![],
            disallow_latest_tag: true,
            require_digest: false,
        };
        assert!(image_problem(&s, "localhost:5000/api").is_some());
        assert!(image_problem(&s, "localhost:5000/api:v1").is_none());
    }
}
