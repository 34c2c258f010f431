//! Secret digests for copied-secret detection.
//!
//! Secret bodies never reach a cache: each watch event is reduced at once to a keyed
//! HMAC-SHA256 of the Secret's type and data under a random key that exists only in this
//! process, and the body is dropped. Nothing derived from the data is logged or written.

use super::trigger::Trigger;
use crate::engine::{Kind, Object};
use crate::snapshot::{Observed, SecretDigest};
use crate::vocabulary::secret_material;
use futures::TryStreamExt;
use hmac::{Hmac, Mac};
use k8s_openapi::api::core::v1::Secret;
use kube::runtime::{WatchStreamExt, watcher};
use kube::{Api, Client, ResourceExt};
use sha2::Sha256;
use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Arc, RwLock};
use tokio::sync::broadcast;

type Key = (String, String);

/// Secrets per page of the initial list (see `SecretDigests::start`).
const SECRET_PAGE_SIZE: u32 = 50;

/// The digests of every Secret in the cluster, kept current by a watch.
#[derive(Clone, Default)]
pub struct SecretDigests {
    digests: Arc<RwLock<BTreeMap<Key, Arc<SecretDigest>>>>,
    /// Until the first full list (e.g. Secret read is forbidden) no digests is not "no
    /// Secrets": why, for the check that cannot run.
    unlisted: Arc<RwLock<Option<String>>>,
}

/// Why no Secret is judged when the operator was not asked to read them: what status says
/// and what the engine is told, so both evaluations say the same.
pub const NOT_READ: &str = "the operator runs without --detect-copied-secrets (Helm value copiedSecretDetection), so it does not read Secrets";

/// Why no Secret is judged before their first list.
const NOT_LISTED_YET: &str = "Secrets have not been listed yet";

impl SecretDigests {
    /// The digests, or why there are none to trust yet.
    pub fn observed(&self) -> Observed<Vec<Arc<SecretDigest>>> {
        match self
            .unlisted
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
        {
            Some(why) => Observed::NotObserved(why),
            None => Observed::Observed(self.state()),
        }
    }

    pub fn state(&self) -> Vec<Arc<SecretDigest>> {
        self.digests
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .values()
            .cloned()
            .collect()
    }

    /// Starts the Secret watch; returns once started (the first list arrives in the background).
    /// Each digest is fed to the incremental `engine` too, whose index of where each digest
    /// is held names the namespaces a Secret's change reaches (its copies, or its originals).
    pub fn start(
        client: &Client,
        triggers: &broadcast::Sender<Trigger>,
        engine: Arc<super::engine_feed::EngineFeed>,
    ) -> Self {
        let this = Self::default();
        *this.unlisted.write().unwrap_or_else(|p| p.into_inner()) = Some(NOT_LISTED_YET.into());
        engine.set_secrets_not_observed(Some(NOT_LISTED_YET.into()));
        let unlisted = this.unlisted.clone();
        let mut key = [0u8; 32];
        getrandom::fill(&mut key).expect("the OS random source is available");
        let api: Api<Secret> = Api::all(client.clone());
        // Small pages: a Secret list holds every value in the cluster, and each page is
        // decoded whole before its Secrets are reduced to digests; 50 at a time keeps the
        // initial sync's peak to a few Secrets' worth instead of 500 (kube's default page).
        let config = watcher::Config::default()
            .any_semantic()
            .page_size(SECRET_PAGE_SIZE);
        let stream = watcher(api, config).default_backoff();
        let digests = this.digests.clone();
        let triggers = triggers.clone();
        tokio::spawn(async move {
            let mut stream = std::pin::pin!(stream);
            let mut relisting: Option<BTreeMap<Key, Arc<SecretDigest>>> = None;
            loop {
                let event = match stream.try_next().await {
                    Ok(Some(event)) => event,
                    Ok(None) => break,
                    Err(error) => {
                        tracing::warn!(%error, "secret watch failed; retrying");
                        let why = format!("Secrets cannot be listed: {error}");
                        let mut unlisted = unlisted.write().unwrap_or_else(|p| p.into_inner());
                        if unlisted.as_ref().is_some_and(|old| *old != why) {
                            // Status must say why, not wait for the resync to learn it.
                            engine.set_secrets_not_observed(Some(why.clone()));
                            *unlisted = Some(why);
                            let _ = triggers.send(Trigger::everything());
                        }
                        continue;
                    }
                };
                let mut map = digests.write().unwrap_or_else(|p| p.into_inner());
                engine.received();
                // The namespace changed (None: every namespace) and the others it reaches.
                let changed = match event {
                    watcher::Event::Init => {
                        relisting = Some(BTreeMap::new());
                        None
                    }
                    watcher::Event::InitApply(secret) => {
                        let d = digest(&key, &secret);
                        if let Some(list) = relisting.as_mut() {
                            list.insert((d.namespace.clone(), d.name.clone()), Arc::new(d));
                        }
                        None
                    }
                    watcher::Event::InitDone => {
                        *map = relisting.take().unwrap_or_default();
                        *unlisted.write().unwrap_or_else(|p| p.into_inner()) = None;
                        let listed = map.values().cloned().map(Object::secrets).collect();
                        engine.listed(Kind::secrets, listed);
                        engine.set_secrets_not_observed(None);
                        Some((None, None))
                    }
                    watcher::Event::Apply(secret) => {
                        let d = Arc::new(digest(&key, &secret));
                        let ns = d.namespace.clone();
                        map.insert((ns.clone(), d.name.clone()), d.clone());
                        // A Secret rewritten with the same content changes no digest:
                        // nothing to judge, no one to wake.
                        engine
                            .upsert(Object::secrets(d))
                            .map(|reach| (Some(ns), Some(reach)))
                    }
                    watcher::Event::Delete(secret) => {
                        let ns = secret.namespace().unwrap_or_default();
                        let gone = map.remove(&(ns.clone(), secret.name_any()));
                        let reach = gone.map(|d| engine.delete(Object::secrets(d)));
                        Some((Some(ns), reach))
                    }
                };
                engine.done();
                drop(map);
                if let Some((namespace, reach)) = changed {
                    let _ = triggers.send(Trigger {
                        kind: Some("Secret".into()),
                        reach,
                        ..Trigger::in_namespace(namespace)
                    });
                }
            }
        });
        this
    }
}

/// The keyed digests of a Secret. The whole-content digest is all zeros (never compared) for
/// service-account tokens and Secrets without data, which are alike by construction rather
/// than by copying; those carry no value digests either. Which values are secret material, and
/// so compared when the Secret is a production original, is judged here, while the values are
/// at hand (`vocabulary::secret_material`).
pub fn digest(key: &[u8; 32], secret: &Secret) -> SecretDigest {
    let type_ = secret.type_.as_deref().unwrap_or("Opaque");
    let data = secret.data.as_ref().filter(|d| !d.is_empty());
    let mut value_digests = BTreeMap::new();
    let mut material_keys = BTreeSet::new();
    let mut holds_material = false;
    let digest = match data {
        Some(data) if type_ != "kubernetes.io/service-account-token" => {
            let mut mac = keyed(key, b"secret");
            mac.update(type_.as_bytes());
            for (k, v) in data {
                // Length prefixes keep ("ab","c") and ("a","bc") apart.
                mac.update(&(k.len() as u64).to_be_bytes());
                mac.update(k.as_bytes());
                mac.update(&(v.0.len() as u64).to_be_bytes());
                mac.update(&v.0);
                if worth_comparing(&v.0) {
                    // The value alone, not its key: a copy may well be renamed.
                    let mut value = keyed(key, b"value");
                    value.update(&v.0);
                    value_digests.insert(k.clone(), value.finalize().into_bytes().into());
                }
                if secret_material::is_secret_material(k, &v.0) {
                    material_keys.insert(k.clone());
                }
                holds_material |= !v.0.is_empty() && secret_material::names_secret(k);
            }
            mac.finalize().into_bytes().into()
        }
        _ => [0; 32],
    };
    SecretDigest {
        namespace: secret.namespace().unwrap_or_default(),
        name: secret.name_any(),
        labels: secret.labels().clone(),
        digest,
        holds_material: holds_material || !material_keys.is_empty(),
        value_digests,
        material_keys,
    }
}

/// An HMAC under the process key, separated by purpose so that a whole-Secret digest can never
/// equal a value digest.
fn keyed(key: &[u8; 32], purpose: &[u8]) -> Hmac<Sha256> {
    let mut mac = Hmac::<Sha256>::new_from_slice(key).expect("HMAC takes any key length");
    mac.update(purpose);
    mac.update(&[0]);
    mac
}

/// Long enough to mean something, and not a PEM certificate: certificates are public by
/// design (the same CA bundle sits in TLS Secrets of every environment). Every such value of
/// a non-production Secret is looked up among the production secret material.
fn worth_comparing(value: &[u8]) -> bool {
    value.len() >= secret_material::MIN_MATERIAL_BYTES && !secret_material::is_certificate(value)
}

#[cfg(test)]
mod tests {
    use super::*;
    use k8s_openapi::ByteString;

    fn secret(ns: &str, name: &str, value: &[u8]) -> Secret {
        Secret {
            metadata: kube::api::ObjectMeta {
                namespace: Some(ns.into()),
                name: Some(name.into()),
                ..Default::default()
            },
            data: Some(BTreeMap::from([(
                "password".to_string(),
                ByteString(value.to_vec()),
            )])),
            ..Default::default()
        }
    }

    #[test]
    fn equal_data_equal_digest_and_never_printed() {
        let key = [7u8; 32];
        let a = digest(&key, &secret("prod", "db", b"hunter2"));
        let b = digest(&key, &secret("dev", "db", b"hunter2"));
        let c = digest(&key, &secret("dev", "db", b"other"));
        assert_eq!(a.digest, b.digest);
        assert_ne!(a.digest, c.digest);
        let shown = format!("{a:?} {a}");
        assert!(!shown.contains("hunter2") && !shown.contains(&hex::encode(a.digest)));
    }

    #[test]
    fn a_different_key_gives_a_different_digest() {
        let s = secret("prod", "db", b"hunter2");
        assert_ne!(digest(&[1; 32], &s).digest, digest(&[2; 32], &s).digest);
    }

    fn secret_with(ns: &str, data: &[(&str, &[u8])]) -> Secret {
        let mut secret = secret(ns, "s", b"");
        secret.data = Some(
            data.iter()
                .map(|(k, v)| (k.to_string(), ByteString(v.to_vec())))
                .collect(),
        );
        secret
    }

    #[test]
    fn a_value_has_the_same_digest_under_any_key_in_any_secret() {
        let key = [7u8; 32];
        let prod = digest(
            &key,
            &secret_with("prod", &[("password", b"hunter2-hunter2")]),
        );
        let dev = digest(
            &key,
            &secret_with(
                "dev",
                &[
                    ("DB_PASSWORD", b"hunter2-hunter2"),
                    ("mode", b"debug-mode-on"),
                ],
            ),
        );
        assert_ne!(prod.digest, dev.digest);
        assert_eq!(
            prod.value_digests["password"],
            dev.value_digests["DB_PASSWORD"]
        );
        assert_ne!(prod.value_digests["password"], dev.value_digests["mode"]);
        // Purposes are separated: a one-key Secret's digest is not its value's digest.
        assert_ne!(prod.digest, prod.value_digests["password"]);
        let shown = format!("{dev:?} {dev}");
        assert!(
            !shown.contains("hunter2")
                && !shown.contains(&hex::encode(dev.value_digests["DB_PASSWORD"]))
        );
    }

    #[test]
    fn short_values_certificates_and_tokens_are_not_compared_alone() {
        let key = [7u8; 32];
        let cert = b"-----BEGIN CERTIFICATE-----\nMIIB...\n-----END CERTIFICATE-----\n";
        let private = b"-----BEGIN PRIVATE KEY-----\nMIIE...\n-----END PRIVATE KEY-----\n";
        let d = digest(
            &key,
            &secret_with(
                "dev",
                &[("port", b"5432"), ("ca.crt", cert), ("tls.key", private)],
            ),
        );
        assert_eq!(d.value_digests.keys().collect::<Vec<_>>(), ["tls.key"]);
        let mut token = secret_with("dev", &[("token", b"eyJhbGciOiJSUzI1NiIs")]);
        token.type_ = Some("kubernetes.io/service-account-token".into());
        let d = digest(&key, &token);
        assert_eq!(d.digest, [0; 32]);
        assert!(d.value_digests.is_empty());
    }

    #[test]
    fn only_secret_material_is_compared_as_a_production_original() {
        let key = [7u8; 32];
        let d = digest(
            &key,
            &secret_with(
                "prod",
                &[
                    ("username", b"payments"),
                    ("host", b"payments-db.prod.svc"),
                    ("password", b"Pr0d-pa55word-7c1f"),
                ],
            ),
        );
        assert_eq!(d.material_keys.iter().collect::<Vec<_>>(), ["password"]);
        assert!(d.holds_material);
        // Every value long enough is still looked up when the Secret is a copy.
        assert_eq!(d.value_digests.len(), 3);
        let shared = digest(
            &key,
            &secret_with("prod", &[("username", b"payments"), ("port", b"5432")]),
        );
        assert!(shared.material_keys.is_empty() && !shared.holds_material);
        // A short password still makes the whole Secret worth comparing.
        let short = digest(&key, &secret_with("prod", &[("password", b"abc12")]));
        assert!(short.material_keys.is_empty() && short.holds_material);
    }
}
