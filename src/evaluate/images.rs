//! `trusted-images`: allowed registries, no mutable tags, optional digest pinning.

use super::encryption::in_scope;
use super::{ControlOutcome, ObjectRef, Violation};
use crate::api::security_baseline::ImagesSpec;
use crate::catalog::ControlId;
use crate::snapshot::{PodCarrier, Snapshot};
use crate::vocabulary::images::{pinned, registry_prefixes, tag};

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
    let prefixes = registry_prefixes(spec);
    if !prefixes.is_empty() && !prefixes.iter().any(|p| image.starts_with(p.as_str())) {
        return Some(format!(
            "comes from a registry outside the allowed list ({})",
            spec.allowed_registries.join(", ")
        ));
    }
    let pinned = pinned(image);
    if spec.require_digest && !pinned {
        return Some("is not pinned by a sha256 digest (`@sha256:` and 64 lowercase hex)".into());
    }
    if spec.disallow_latest_tag && !pinned {
        match tag(image) {
            None => return Some("has no tag (resolves to the mutable `latest`)".into()),
            Some("latest") => return Some("uses a mutable tag".into()),
            Some(_) => {}
        }
    }
    None
}

#[cfg(test)]
#[path = "images_tests.rs"]
mod tests;
