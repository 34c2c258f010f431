//! `production-data-restricted`: production data (classified objects, copied Secrets, cloned
//! volumes, restores) kept out of non-production namespaces.

use super::*;
use std::collections::HashMap;
use std::sync::Arc;

/// The judged namespaces' ConfigMaps, Secrets and claims, in their parts. Velero Restores
/// are no namespace's: see [`production_data_outcome`].
pub(super) fn production_data(
    spec: &ProductionDataSpec,
    scope: &Scope,
    parts: &mut Parts,
    production: Option<&ProductionSecrets>,
) {
    let snapshot = scope.snapshot;
    let judged_non_production = |ns: &str| scope.judges(ns) && scope.envs.is_non_production(ns);
    let secrets: Vec<&SecretDigest> = snapshot
        .secrets
        .items()
        .iter()
        .map(AsRef::as_ref)
        .filter(|s| judged_non_production(&s.namespace))
        .collect();
    let classified = Classification { spec, scope };
    for c in snapshot.config_maps.iter().map(AsRef::as_ref) {
        if judged_non_production(&c.namespace) {
            let tally = parts.tally(&c.namespace, PRODUCTION_DATA);
            tally.checked += 1;
            let found = classified.check("ConfigMap", &c.namespace, &c.name, &c.labels);
            tally.violations.extend(found);
        }
    }
    for s in &secrets {
        let tally = parts.tally(&s.namespace, PRODUCTION_DATA);
        tally.checked += 1;
        let found = classified.check("Secret", &s.namespace, &s.name, &s.labels);
        tally.violations.extend(found);
    }
    for p in snapshot.persistent_volume_claims.iter().map(AsRef::as_ref) {
        let meta = &p.metadata;
        let (ns, name) = (meta.namespace.as_deref(), meta.name.as_deref());
        let (ns, name) = (ns.unwrap_or_default(), name.unwrap_or_default());
        if !judged_non_production(ns) {
            continue;
        }
        let labels = meta.labels.clone().unwrap_or_default();
        let tally = parts.tally(ns, PRODUCTION_DATA);
        tally.checked += 1;
        let found = classified.check("PersistentVolumeClaim", ns, name, &labels);
        tally.violations.extend(found);
        tally.violations.extend(cloned_from_production(p, scope));
    }
    // Without the Secrets, "no copy found" would be a Pass for a check that never ran (the
    // assembled outcome says so).
    if spec.detect_copied_secrets && snapshot.secrets.why_not().is_none() {
        let built;
        let production = match production {
            Some(kept) => kept,
            None => {
                built = ProductionSecrets::of(snapshot, scope.envs);
                &built
            }
        };
        for (secret, violation) in copied_secrets(&secrets, production) {
            parts
                .tally(&secret.namespace, PRODUCTION_DATA)
                .violations
                .push(violation);
        }
    }
}

/// The control's outcome: the namespaces' `tally` with the Velero Restores, which are no
/// namespace's; not applicable without a spec; not run in part without the Secrets.
pub(super) fn production_data_outcome(
    spec: Option<&ProductionDataSpec>,
    mut tally: Tally,
    scope: &Scope,
) -> ControlOutcome {
    let Some(spec) = spec else {
        return ControlOutcome::not_applicable(ControlId::ProductionDataRestricted);
    };
    let restores = &scope.snapshot.velero.restores;
    tally.checked += restores.len();
    for restore in restores {
        tally
            .violations
            .extend(restores_production_elsewhere(restore, scope));
    }
    let not_run = spec
        .detect_copied_secrets
        .then(|| scope.snapshot.secrets.why_not())
        .flatten();
    let outcome = ControlOutcome::checked(
        ControlId::ProductionDataRestricted,
        tally.checked,
        tally.violations,
    );
    match not_run {
        Some(why) => outcome.with_check_not_run(format!("copied-Secret detection: {why}")),
        None => outcome,
    }
}

/// Objects whose classification label marks them as production data.
pub(super) struct Classification<'a> {
    spec: &'a ProductionDataSpec,
    scope: &'a Scope<'a>,
}

impl Classification<'_> {
    fn check(
        &self,
        kind: &str,
        namespace: &str,
        name: &str,
        labels: &BTreeMap<String, String>,
    ) -> Option<Violation> {
        let value = labels.get(self.spec.classification_label())?;
        if !self.spec.production_values.contains(value) {
            return None;
        }
        let object = ObjectRef {
            kind: kind.to_string(),
            namespace: Some(namespace.to_string()),
            name: name.to_string(),
            labels: Arc::new(labels.clone()),
            pod_labels: None,
        };
        Some(Violation::new(
            object,
            format!(
                "{kind} {namespace}/{name} is classified `{value}` in non-production environment `{}`",
                self.scope.environment(namespace)
            ),
        ))
    }
}

/// Whether a Secret's whole-content digest can be compared at all.
///
/// The snapshot computes a digest only for Secrets worth comparing: service-account tokens and
/// Secrets without data would match each other across every namespace and prove nothing, so
/// they carry the all-zero digest, which never matches here.
pub(super) fn comparable(secret: &SecretDigest) -> bool {
    secret.digest != [0; 32]
}

/// The production Secrets by the digests a copy is found by: their whole content (when it
/// can be compared and holds secret material) and each secret-material value. Built once per
/// state of the Secrets and of which namespaces are production, and kept by the incremental
/// engine between its settles: built per settle, it was most of the cost of judging one
/// namespace's isolation part at 3,200 namespaces.
#[derive(Default)]
pub struct ProductionSecrets {
    whole: HashMap<[u8; 32], Vec<Arc<SecretDigest>>>,
    values: HashMap<[u8; 32], Vec<(Arc<SecretDigest>, String)>>,
}

impl ProductionSecrets {
    /// The index of the Secrets of `snapshot` in a production namespace of `envs`.
    pub fn of(snapshot: &Snapshot, envs: &EnvironmentMap) -> Self {
        let mut index = Self::default();
        for secret in snapshot.secrets.items() {
            if !envs.is_production(&secret.namespace) {
                continue;
            }
            if comparable(secret) && secret.holds_material {
                index
                    .whole
                    .entry(secret.digest)
                    .or_default()
                    .push(secret.clone());
            }
            for (key, digest) in &secret.value_digests {
                if secret.material_keys.contains(key) {
                    index
                        .values
                        .entry(*digest)
                        .or_default()
                        .push((secret.clone(), key.clone()));
                }
            }
        }
        index
    }
}

impl std::fmt::Debug for ProductionSecrets {
    // Counts only: no debug log may carry a digest.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ProductionSecrets")
            .field("whole", &self.whole.len())
            .field("values", &self.values.len())
            .finish()
    }
}

/// Non-production Secrets holding a production Secret's secret material: all of its content
/// (same keyed digest) when that content holds secret material, or one of its secret values
/// under any key (same keyed value digest), so that copying a single production password into
/// a bigger Secret is found too. Values shared by design (a username, a host, a port) are not
/// production data and never match (`vocabulary::secret_material`).
///
/// Every such finding is confidential: it goes only where the non-production namespace's
/// tenants cannot read (the custom resource's status, the ClusterPolicyReport), never to that
/// namespace's PolicyReport or an event, which would let them confirm guesses of production
/// values (store a guess, watch for the finding). The production Secret is named in the
/// finding's detail.
pub(super) fn copied_secrets<'s>(
    non_production: &[&'s SecretDigest],
    production: &ProductionSecrets,
) -> Vec<(&'s SecretDigest, Violation)> {
    let (whole, values) = (&production.whole, &production.values);
    let mut violations = Vec::new();
    for &secret in non_production {
        // The first by namespace/name(/key), so the message is stable across resyncs.
        let original = comparable(secret)
            .then(|| whole.get(&secret.digest))
            .flatten()
            .and_then(|matches| matches.iter().min_by_key(|s| (&s.namespace, &s.name)));
        if let Some(original) = original {
            violations.push((
                secret,
                Violation::new(
                    secret_ref(secret),
                    format!("{secret} holds the same data as a production Secret"),
                )
                .with_detail(format!("copied from production {original}"))
                .confidential(),
            ));
            continue;
        }
        let mut keys = Vec::new();
        let mut originals = BTreeSet::new();
        for (key, digest) in &secret.value_digests {
            if let Some(matches) = values.get(digest) {
                keys.push(key.clone());
                if let Some((original, original_key)) = matches
                    .iter()
                    .min_by_key(|(s, k)| (&s.namespace, &s.name, k.as_str()))
                {
                    originals.insert(format!("{original} key `{original_key}`"));
                }
            }
        }
        if !keys.is_empty() {
            let originals: Vec<String> = originals.into_iter().collect();
            violations.push((
                secret,
                Violation::new(
                    secret_ref(secret),
                    format!(
                        "{secret} holds a value of a production Secret under key {}",
                        names(&keys)
                    ),
                )
                .with_detail(format!("copied from production {}", originals.join(", ")))
                .confidential(),
            ));
        }
    }
    violations
}

pub(super) fn secret_ref(secret: &SecretDigest) -> ObjectRef {
    ObjectRef {
        kind: "Secret".into(),
        namespace: Some(secret.namespace.clone()),
        name: secret.name.clone(),
        labels: Arc::new(secret.labels.clone()),
        pod_labels: None,
    }
}

/// A non-production PVC cloned or restored from an object in a production namespace.
/// `dataSource` is always same-namespace; only `dataSourceRef.namespace` can reach across.
pub(super) fn cloned_from_production(
    claim: &PersistentVolumeClaim,
    scope: &Scope,
) -> Option<Violation> {
    let own = claim.metadata.namespace.as_deref().unwrap_or_default();
    let spec = claim.spec.as_ref()?;
    let local = spec
        .data_source
        .as_ref()
        .map(|s| (s.kind.as_str(), own, s.name.as_str()));
    let typed = spec.data_source_ref.as_ref().map(|r| {
        let ns = r.namespace.as_deref().unwrap_or(own);
        (r.kind.as_str(), ns, r.name.as_str())
    });
    let (kind, ns, name) = local
        .into_iter()
        .chain(typed)
        .find(|(_, ns, _)| scope.envs.is_production(ns))?;
    Some(Violation::new(
        ObjectRef::of("PersistentVolumeClaim", &claim.metadata),
        format!(
            "PersistentVolumeClaim {own}/{} is populated from {kind} {ns}/{name} in production namespace `{ns}`",
            claim.metadata.name.as_deref().unwrap_or_default()
        ),
    ))
}

/// A Velero Restore mapping a production namespace into a non-production one. A restore-test
/// sandbox belongs to no environment, so a Restore into one is never a finding here; a
/// namespace that only looks like a sandbox (name, label) is judged by its environment.
pub(super) fn restores_production_elsewhere(restore: &Restore, scope: &Scope) -> Vec<Violation> {
    restore
        .spec
        .namespace_mapping
        .iter()
        .filter(|(from, to)| scope.envs.is_production(from) && scope.envs.is_non_production(to))
        .map(|(from, to)| {
            Violation::new(
                ObjectRef::of("Restore", &restore.metadata),
                format!(
                    "Restore {}/{} maps production namespace `{from}` into non-production namespace `{to}` (environment `{}`)",
                    restore.metadata.namespace.as_deref().unwrap_or_default(),
                    restore.metadata.name.as_deref().unwrap_or_default(),
                    scope.environment(to)
                ),
            )
        })
        .collect()
}
