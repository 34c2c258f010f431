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
        let digest = format!("registry.example.com/api@sha256:{}", "a".repeat(64));
        assert!(image_problem(&s, &digest).is_none());
        // A malformed digest pins nothing: the untagged name resolves to `latest`.
        assert!(
            image_problem(&s, "registry.example.com/api@sha256:abc")
                .unwrap()
                .contains("no tag")
        );
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

    fn registries(entries: &[&str]) -> ImagesSpec {
        ImagesSpec {
            allowed_registries: entries.iter().map(|e| e.to_string()).collect(),
            disallow_latest_tag: false,
            require_digest: false,
        }
    }

    #[test]
    fn allowed_registry_matches_on_a_host_boundary() {
        for entry in ["registry.acme.test", "registry.acme.test/"] {
            let s = registries(&[entry]);
            assert!(
                image_problem(&s, "registry.acme.test/x:1").is_none(),
                "{entry}"
            );
            assert!(
                image_problem(&s, "registry.acme.test/team/x:1").is_none(),
                "{entry}"
            );
            for outside in [
                "registry.acme.test.evil.io/x:1",
                "registry.acme.testing/x:1",
                "registry.acme.test:5000/x:1",
                "registry.acme.test",
                "evil.io/registry.acme.test/x:1",
            ] {
                assert!(
                    image_problem(&s, outside).is_some(),
                    "{entry} admitted {outside}"
                );
            }
        }
    }

    #[test]
    fn allowed_path_prefix_matches_on_a_path_boundary() {
        for entry in ["registry.acme.test/team/", "registry.acme.test/team"] {
            let s = registries(&[entry]);
            assert!(
                image_problem(&s, "registry.acme.test/team/x:1").is_none(),
                "{entry}"
            );
            assert!(image_problem(&s, "registry.acme.test/team/sub/x:1").is_none());
            for outside in [
                "registry.acme.test/teammate/x:1",
                "registry.acme.test/x:1",
                "registry.acme.test/team:1",
            ] {
                assert!(
                    image_problem(&s, outside).is_some(),
                    "{entry} admitted {outside}"
                );
            }
        }
        assert_eq!(
            registry_prefixes(&registries(&["a.test", "b.test/team/", "c.test//"])),
            ["a.test/", "b.test/team/", "c.test/"]
        );
    }

    #[test]
    fn a_digest_is_sha256_and_64_lowercase_hex() {
        let hex = "0123456789abcdef".repeat(4);
        assert!(pinned(&format!("r.test/x@sha256:{hex}")));
        assert!(pinned(&format!("r.test/x:1.2@sha256:{hex}")));
        for bad in [
            "r.test/x@sha256:abc".to_string(),
            format!("r.test/x@sha256:{}", hex.to_uppercase()),
            format!("r.test/x@sha256:{hex}0"),
            format!("r.test/x@sha256:{}", &hex[1..]),
            format!("r.test/x@sha512:{hex}"),
            format!("r.test/x@sha256:{}g", &hex[1..]),
            format!("@sha256:{hex}"),
            format!("r.test/x@y@sha256:{hex}"),
            format!("r.test/x:sha256:{hex}"),
        ] {
            assert!(!pinned(&bad), "{bad} counted as pinned");
        }
        let s = ImagesSpec {
            require_digest: true,
            ..registries(&[])
        };
        assert!(image_problem(&s, "r.test/x@sha256:abc").is_some());
        assert!(image_problem(&s, &format!("r.test/x@sha256:{hex}")).is_none());
    }

    #[test]
    fn tag_is_after_the_last_colon_of_the_last_path_segment() {
        assert_eq!(tag("nginx"), None);
        assert_eq!(tag("nginx:"), None);
        assert_eq!(tag("nginx:1.25"), Some("1.25"));
        assert_eq!(tag("localhost:5000/nginx"), None);
        assert_eq!(tag("localhost:5000/nginx:latest"), Some("latest"));
        assert_eq!(tag("r.test/x:1@sha256:abc"), Some("1"));
        assert_eq!(tag("r.test/x@sha256:abc"), None);
    }
}
