//! The Snapshot the controls read, built from manifest documents instead of watches.

use super::*;

/// What the audit left out, and why.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Skipped {
    /// Objects of kinds no control reads.
    pub unknown_kinds: usize,
    /// How many of each skipped kind, keyed `Kind (apiVersion)`.
    #[serde(default)]
    pub kinds: BTreeMap<String, usize>,
}

impl Skipped {
    pub(super) fn add(&mut self, doc: &Document) {
        self.unknown_kinds += 1;
        *self
            .kinds
            .entry(format!("{} ({})", doc.kind, doc.api_version))
            .or_default() += 1;
    }

    pub(super) fn extend(&mut self, other: Skipped) {
        self.unknown_kinds += other.unknown_kinds;
        for (kind, n) in other.kinds {
            *self.kinds.entry(kind).or_default() += n;
        }
    }
}

macro_rules! watched_reader {
    ($($field:ident: $ty:ty,)*) => {
        /// The kinds of [`crate::snapshot::watched_kinds`] as (kind, apiVersion).
        const WATCHED: &[(&str, &str)] = &[$((
            <$ty as k8s_openapi::Resource>::KIND,
            <$ty as k8s_openapi::Resource>::API_VERSION,
        ),)*];

        /// Adds `doc` to its Snapshot field when it is one of the watched kinds at the
        /// apiVersion the controls read; false when it is not.
        fn push_watched(s: &mut Snapshot, doc: &Document) -> Result<bool, AuditError> {
            $(if doc.kind == <$ty as k8s_openapi::Resource>::KIND
                && doc.api_version == <$ty as k8s_openapi::Resource>::API_VERSION
            {
                // Reduced as the operator's stores reduce it, so both judge the same fields.
                let mut object: $ty = doc.typed()?;
                crate::projection::Projected::project(&mut object);
                s.$field.push(Arc::new(object));
                return Ok(true);
            })*
            Ok(false)
        }
    };
}
crate::snapshot::watched_kinds!(watched_reader);

macro_rules! velero_reader {
    ($($field:ident: $ty:ty,)*) => {
        /// The kinds of [`crate::snapshot::velero_kinds`] as (kind, apiVersion).
        fn velero_read() -> Vec<(&'static str, &'static str)> {
            use kube::Resource;
            let name = |text: std::borrow::Cow<'static, str>| match text {
                std::borrow::Cow::Borrowed(text) => text,
                std::borrow::Cow::Owned(text) => String::leak(text),
            };
            vec![$((name(<$ty>::kind(&())), name(<$ty>::api_version(&()))),)*]
        }

        /// Adds `doc` to its Velero field when it is one of Velero's kinds the controls read;
        /// false when it is not.
        fn push_velero(s: &mut Snapshot, doc: &Document) -> Result<bool, AuditError> {
            use kube::Resource;
            $(if doc.kind == <$ty>::kind(&()) && doc.api_version == <$ty>::api_version(&()) {
                s.velero.$field.push(Arc::new(doc.typed()?));
                return Ok(true);
            })*
            Ok(false)
        }
    };
}
crate::snapshot::velero_kinds!(velero_reader);

/// The kinds the controls read in another form (metadata only, a keyed digest), with the one
/// apiVersion the audit understands for each.
const READ_OTHERWISE: &[(&str, &str)] = &[("ConfigMap", "v1"), ("Secret", "v1")];

/// API groups of Kubernetes itself (current and removed) and of Velero: a judged kind in one of
/// these at another apiVersion is the kind the controls mean, in a form the audit cannot read.
/// (A `Backup` of another group, e.g. a database operator's, is another kind and is skipped.)
const KNOWN_GROUPS: &[&str] = &[
    "",
    "apps",
    "extensions",
    "batch",
    "policy",
    "networking.k8s.io",
    "rbac.authorization.k8s.io",
    "storage.k8s.io",
    "velero.io",
];

pub(super) fn group_of(api_version: &str) -> &str {
    api_version.rsplit_once('/').map_or("", |(group, _)| group)
}

/// The apiVersion the audit reads `doc.kind` at, when `doc` is that kind at another one.
fn unreadable_version(doc: &Document) -> Option<&'static str> {
    let velero = velero_read();
    let (_, known) = WATCHED
        .iter()
        .chain(READ_OTHERWISE)
        .chain(&velero)
        .find(|(kind, _)| *kind == doc.kind)?;
    let group = group_of(&doc.api_version);
    (*known != doc.api_version && (group == group_of(known) || KNOWN_GROUPS.contains(&group)))
        .then_some(*known)
}

const CLUSTER_SCOPED: &[&str] = &[
    "Namespace",
    "StorageClass",
    "ClusterRole",
    "ClusterRoleBinding",
];

pub(super) const NAMESPACE_NAME_LABEL: &str = "kubernetes.io/metadata.name";

/// Builds the Snapshot the controls read from manifest documents.
pub fn build_snapshot(
    docs: &[Document],
    default_namespace: &str,
    velero_installed: bool,
) -> Result<(Snapshot, Skipped), AuditError> {
    let mut s = Snapshot {
        from_manifests: true,
        ..Snapshot::default()
    };
    let mut skipped = Skipped::default();
    s.velero.installed = velero_installed;
    let mut secrets = Vec::new();
    // A key of this run only, as the operator's is of its process: digests are comparable
    // within one audit and meaningless outside it.
    let mut key = [0u8; 32];
    getrandom::fill(&mut key).map_err(|e| AuditError::Random(e.to_string()))?;
    for doc in docs {
        let mut doc = doc.clone();
        if !CLUSTER_SCOPED.contains(&doc.kind.as_str()) {
            let meta = doc
                .value
                .as_object_mut()
                .expect("checked by parse_documents")
                .entry("metadata")
                .or_insert_with(|| Value::Object(Default::default()));
            if let Some(meta) = meta.as_object_mut()
                && !meta.get("namespace").is_some_and(|ns| ns.is_string())
            {
                meta.insert("namespace".into(), Value::String(default_namespace.into()));
            }
        }
        let d = &doc;
        if push_watched(&mut s, d)? || push_velero(&mut s, d)? {
            continue;
        }
        match (d.api_version.as_str(), d.kind.as_str()) {
            ("v1", "ConfigMap") => {
                let meta: k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta =
                    serde_path_to_error::deserialize(d.value["metadata"].clone()).map_err(|e| {
                        d.invalid(format!("metadata.{}", e.path()), e.into_inner().to_string())
                    })?;
                s.config_maps.push(Arc::new(ObjectMetaOnly {
                    kind: "ConfigMap",
                    namespace: meta.namespace.unwrap_or_default(),
                    name: meta.name.unwrap_or_default(),
                    labels: meta.labels.unwrap_or_default(),
                }));
            }
            ("apps/v1", "ReplicaSet") => {
                let meta: k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta =
                    serde_path_to_error::deserialize(d.value["metadata"].clone()).map_err(|e| {
                        d.invalid(format!("metadata.{}", e.path()), e.into_inner().to_string())
                    })?;
                s.replica_sets
                    .push(Arc::new(crate::snapshot::ReplicaSetLink::of(&meta)));
            }
            ("v1", "Secret") => secrets.push(Arc::new(secret_digest(d, &key)?)),
            _ => match unreadable_version(d) {
                Some(known) => {
                    return Err(AuditError::UnknownApiVersion {
                        path: d.path.clone(),
                        index: d.index,
                        kind: d.kind.clone(),
                        api_version: d.api_version.clone(),
                        known,
                    });
                }
                None => skipped.add(d),
            },
        }
    }
    // The manifests are the whole world offline: no Secret among them means none exists.
    s.secrets = Observed::Observed(secrets);
    complete_namespaces(&mut s, docs, default_namespace);
    Ok((s, skipped))
}

/// A Secret manifest reduced to the operator's keyed digest. Errors name the field, never a
/// value: serde's messages about a bad base64 string may quote it.
fn secret_digest(doc: &Document, key: &[u8; 32]) -> Result<SecretDigest, AuditError> {
    use k8s_openapi::ByteString;
    use k8s_openapi::api::core::v1::Secret;
    let mut secret: Secret = serde_path_to_error::deserialize(doc.value.clone()).map_err(|e| {
        let field = e.path().to_string();
        doc.invalid(field, "not a valid Secret field (value not shown)")
    })?;
    // The API server merges stringData into data, stringData winning; so does the digest, so a
    // copy written as stringData matches its original written as base64 data.
    if let Some(strings) = secret.string_data.take() {
        let data = secret.data.get_or_insert_with(BTreeMap::new);
        for (k, v) in strings {
            data.insert(k, ByteString(v.into_bytes()));
        }
    }
    Ok(crate::controller::secrets::digest(key, &secret))
}

/// Adds the namespaces objects live in but no manifest declares, and the label the API server
/// puts on every namespace.
fn complete_namespaces(s: &mut Snapshot, docs: &[Document], default_namespace: &str) {
    use k8s_openapi::api::core::v1::Namespace;
    let declared: BTreeSet<String> = s
        .namespace_labels()
        .map(|(name, _)| name.to_string())
        .collect();
    let mut implied = BTreeSet::new();
    for doc in docs {
        if CLUSTER_SCOPED.contains(&doc.kind.as_str()) {
            continue;
        }
        let ns = doc.value["metadata"]["namespace"]
            .as_str()
            .unwrap_or(default_namespace);
        if !declared.contains(ns) {
            implied.insert(ns.to_string());
        }
    }
    for name in implied {
        s.namespaces.push(Arc::new(Namespace {
            metadata: k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta {
                name: Some(name),
                ..Default::default()
            },
            ..Default::default()
        }));
    }
    for ns in &mut s.namespaces {
        let Some(name) = ns.metadata.name.clone() else {
            continue;
        };
        let labels = ns.metadata.labels.clone().unwrap_or_default();
        if !labels.contains_key(NAMESPACE_NAME_LABEL) {
            let ns = Arc::make_mut(ns);
            ns.metadata
                .labels
                .get_or_insert_with(BTreeMap::new)
                .insert(NAMESPACE_NAME_LABEL.into(), name);
        }
    }
}
