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

/// The prefixes an image reference must start with to come from an allowed registry: each
/// entry without its trailing `/`, then `/`. Matching on that boundary keeps
/// `registry.acme.test` from trusting `registry.acme.test.evil.io/x`,
/// `registry.acme.testing/x` or `registry.acme.test:5000/x` (another registry), and keeps
/// `registry.acme.test/team/` from trusting `registry.acme.test/teammate/x`. Admission renders
/// the same list into CEL (`startsWith`), so both sides judge by this one function.
pub fn registry_prefixes(spec: &ImagesSpec) -> Vec<String> {
    spec.allowed_registries
        .iter()
        .map(|entry| format!("{}/", entry.trim_end_matches('/')))
        .collect()
}

/// RE2 pattern of an image reference pinned by a well-formed digest: one `@`, then `sha256:`
/// and 64 lowercase hex digits, at the end. Admission uses it verbatim with CEL `matches`.
pub const PINNED_PATTERN: &str = "^[^@]+@sha256:[0-9a-f]{64}$";

/// Whether `image` is pinned by a well-formed sha256 digest (see [`PINNED_PATTERN`]).
pub fn pinned(image: &str) -> bool {
    image.split_once('@').is_some_and(|(name, digest)| {
        !name.is_empty()
            && digest.strip_prefix("sha256:").is_some_and(|hex| {
                hex.len() == 64 && hex.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
            })
    })
}

/// RE2 pattern of an image reference with a (non-empty) tag; admission's form of [`tag`].
pub const TAGGED_PATTERN: &str = "^[^@]*:[^:/@]+(@.*)?$";

/// RE2 pattern of an image reference tagged `latest`; admission's form of [`tag`] == `latest`.
pub const LATEST_PATTERN: &str = "^[^@]*:latest(@.*)?$";

/// The tag of an image reference: what follows the last `:` after the last `/` of the part
/// before any `@`. A `:` before the last `/` is a registry port, not a tag; an empty tag is none.
pub fn tag(image: &str) -> Option<&str> {
    let name = image.split_once('@').map_or(image, |(name, _)| name);
    let last_segment = name.rsplit('/').next().unwrap_or(name);
    last_segment
        .rsplit_once(':')
        .map(|(_, tag)| tag)
        .filter(|tag| !tag.is_empty())
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
