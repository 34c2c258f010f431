//! One watched object, of any kind the controls read, as a watch event carries it.

use crate::api::{BackupPolicy, EnvironmentIsolation, SecurityBaseline};
use crate::snapshot::{ObjectMetaOnly, ReplicaSetLink, SecretDigest};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use std::sync::Arc;

/// Where an object lives and what it is called: what an upsert replaces and a delete removes.
pub trait Keyed {
    /// The object's namespace; `None` for cluster-scoped objects.
    fn namespace(&self) -> Option<&str>;
    /// Its name (a ReplicaSet's uid: links carry no name).
    fn name(&self) -> &str;
}

fn meta_key(meta: &ObjectMeta) -> (Option<&str>, &str) {
    (
        meta.namespace.as_deref(),
        meta.name.as_deref().unwrap_or_default(),
    )
}

macro_rules! keyed_by_metadata {
    ($($ty:ty),* $(,)?) => {
        $(impl Keyed for $ty {
            fn namespace(&self) -> Option<&str> {
                meta_key(&self.metadata).0
            }
            fn name(&self) -> &str {
                meta_key(&self.metadata).1
            }
        })*
    };
}

macro_rules! keyed_watched_kinds {
    ($($field:ident: $ty:ty,)*) => {
        keyed_by_metadata!($($ty,)*);
    };
}
crate::snapshot::watched_kinds!(keyed_watched_kinds);
keyed_by_metadata!(SecurityBaseline, BackupPolicy, EnvironmentIsolation);
crate::snapshot::velero_kinds!(keyed_watched_kinds);

impl Keyed for ObjectMetaOnly {
    fn namespace(&self) -> Option<&str> {
        Some(&self.namespace)
    }
    fn name(&self) -> &str {
        &self.name
    }
}

impl Keyed for SecretDigest {
    fn namespace(&self) -> Option<&str> {
        Some(&self.namespace)
    }
    fn name(&self) -> &str {
        &self.name
    }
}

impl Keyed for ReplicaSetLink {
    fn namespace(&self) -> Option<&str> {
        Some(&self.namespace)
    }
    fn name(&self) -> &str {
        &self.uid
    }
}

macro_rules! object_enum {
    ($($field:ident: $ty:ty,)*) => {
        /// An object of a kind the controls read. The variants of the kinds in
        /// [`watched_kinds`](crate::snapshot::watched_kinds) are named after their Snapshot
        /// field (`Object::pods`), so that a kind added there is a variant here with no more
        /// code.
        #[allow(non_camel_case_types)]
        #[derive(Clone, Debug)]
        pub enum Object {
            $($field(Arc<$ty>),)*
            config_maps(Arc<ObjectMetaOnly>),
            replica_sets(Arc<ReplicaSetLink>),
            secrets(Arc<SecretDigest>),
            security_baselines(Arc<SecurityBaseline>),
            backup_policies(Arc<BackupPolicy>),
            environment_isolations(Arc<EnvironmentIsolation>),
            velero_schedules(Arc<crate::velero::Schedule>),
            velero_backups(Arc<crate::velero::Backup>),
            velero_restores(Arc<crate::velero::Restore>),
            velero_storage_locations(Arc<crate::velero::BackupStorageLocation>),
            velero_snapshot_locations(Arc<crate::velero::VolumeSnapshotLocation>),
        }

        /// An object's kind, as [`Object`]'s variant names it.
        #[allow(non_camel_case_types)]
        #[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
        pub enum Kind {
            $($field,)*
            config_maps,
            replica_sets,
            secrets,
            security_baselines,
            backup_policies,
            environment_isolations,
            velero_schedules,
            velero_backups,
            velero_restores,
            velero_storage_locations,
            velero_snapshot_locations,
        }

        impl Object {
            fn keyed(&self) -> &dyn Keyed {
                match self {
                    $(Self::$field(o) => o.as_ref(),)*
                    Self::config_maps(o) => o.as_ref(),
                    Self::replica_sets(o) => o.as_ref(),
                    Self::secrets(o) => o.as_ref(),
                    Self::security_baselines(o) => o.as_ref(),
                    Self::backup_policies(o) => o.as_ref(),
                    Self::environment_isolations(o) => o.as_ref(),
                    Self::velero_schedules(o) => o.as_ref(),
                    Self::velero_backups(o) => o.as_ref(),
                    Self::velero_restores(o) => o.as_ref(),
                    Self::velero_storage_locations(o) => o.as_ref(),
                    Self::velero_snapshot_locations(o) => o.as_ref(),
                }
            }

            pub fn kind(&self) -> Kind {
                match self {
                    $(Self::$field(_) => Kind::$field,)*
                    Self::config_maps(_) => Kind::config_maps,
                    Self::replica_sets(_) => Kind::replica_sets,
                    Self::secrets(_) => Kind::secrets,
                    Self::security_baselines(_) => Kind::security_baselines,
                    Self::backup_policies(_) => Kind::backup_policies,
                    Self::environment_isolations(_) => Kind::environment_isolations,
                    Self::velero_schedules(_) => Kind::velero_schedules,
                    Self::velero_backups(_) => Kind::velero_backups,
                    Self::velero_restores(_) => Kind::velero_restores,
                    Self::velero_storage_locations(_) => Kind::velero_storage_locations,
                    Self::velero_snapshot_locations(_) => Kind::velero_snapshot_locations,
                }
            }
        }
    };
}
crate::snapshot::watched_kinds!(object_enum);

impl Object {
    pub fn key(&self) -> ObjectKey {
        let keyed = self.keyed();
        ObjectKey {
            kind: self.kind(),
            namespace: keyed.namespace().map(str::to_string),
            name: keyed.name().to_string(),
        }
    }
}

/// Whether `a` and `b` are equal but for their resource versions.
fn equal_but_version<K: kube::Resource + Clone + PartialEq>(a: &K, b: &K) -> bool {
    if a.meta().resource_version == b.meta().resource_version {
        return a == b;
    }
    let mut a = a.clone();
    a.meta_mut()
        .resource_version
        .clone_from(&b.meta().resource_version);
    a == *b
}

macro_rules! same_but_version_of_watched_kinds {
    ($($field:ident: $ty:ty,)*) => {
        impl Object {
            /// Whether `new` is this object as the controls read it, equal but for its
            /// resource version: a write of what the projection drops (a status no control
            /// reads, conditions, managed fields) bumps only that. Never for the custom kinds,
            /// whose status writes their own controllers follow, nor for Velero's (few, and
            /// read whole).
            pub fn same_but_version(&self, new: &Object) -> bool {
                match (self, new) {
                    $((Self::$field(a), Self::$field(b)) => {
                        Arc::ptr_eq(a, b) || equal_but_version(a.as_ref(), b.as_ref())
                    })*
                    (Self::config_maps(a), Self::config_maps(b)) => a == b,
                    (Self::replica_sets(a), Self::replica_sets(b)) => a == b,
                    (Self::secrets(a), Self::secrets(b)) => a == b,
                    _ => false,
                }
            }
        }
    };
}
crate::snapshot::watched_kinds!(same_but_version_of_watched_kinds);

/// Which object an event is about.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ObjectKey {
    pub kind: Kind,
    pub namespace: Option<String>,
    /// The name (a ReplicaSet's uid).
    pub name: String,
}

/// A watch event: an object created or changed, or gone.
#[derive(Clone, Debug)]
pub enum Event {
    Upsert(Object),
    Delete(ObjectKey),
}

impl Kind {
    /// One of the operator's own custom kinds.
    pub fn is_custom(self) -> bool {
        matches!(
            self,
            Kind::security_baselines | Kind::backup_policies | Kind::environment_isolations
        )
    }
}

impl Object {
    /// A custom resource's spec as JSON; `None` for every other kind.
    pub fn spec_json(&self) -> Option<serde_json::Value> {
        match self {
            Object::security_baselines(r) => serde_json::to_value(&r.spec).ok(),
            Object::backup_policies(r) => serde_json::to_value(&r.spec).ok(),
            Object::environment_isolations(r) => serde_json::to_value(&r.spec).ok(),
            _ => None,
        }
    }
}
