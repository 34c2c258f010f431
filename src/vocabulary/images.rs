//! How an image reference is read (registry, digest, tag): one definition the
//! `trusted-images` check and its admission policy (which renders these patterns into CEL)
//! both use.

use crate::api::security_baseline::ImagesSpec;

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
