//! The cluster's objects grouped by namespace, updated one watch event at a time, so that a
//! namespace's objects are found without scanning the cluster. Cluster-scoped objects
//! (Namespaces, StorageClasses, ClusterRoles, ClusterRoleBindings, the operator's custom
//! resources) and Velero's objects are kept once.
//!
//! Each group is a [`Snapshot`] holding only its objects, sorted by name, so that the control
//! functions written for a whole snapshot read a namespace's part as they read the whole.

use super::object::{Event, Keyed, Kind, Object, ObjectKey};
use crate::evaluate::open_ports::Environments;
use crate::snapshot::{ExcludedNamespaces, Observed, Snapshot, is_terminating};
use crate::vocabulary::selection::LabelMatch;
use k8s_openapi::api::core::v1::Namespace;
use std::collections::BTreeMap;
use std::sync::Arc;

#[derive(Clone, Debug)]
pub struct Partition {
    /// Cluster-scoped objects, Velero's, the custom resources, and the settings
    /// (`excluded`, `from_manifests`); no namespaced object of a watched kind.
    cluster: Snapshot,
    /// Each namespace's objects; a namespace's group exists whether or not its Namespace does.
    by_namespace: BTreeMap<String, Snapshot>,
    /// Why Secrets cannot be observed, if they cannot.
    secrets_not_observed: Option<String>,
    /// Every EnvironmentIsolation's environments, kept up to date per event (a Namespace's
    /// moves its place alone; an isolation's spec, a BackupPolicy coming or going, or the
    /// exclusions recompute them): every snapshot made here is given them, so that no
    /// evaluation resolves every namespace's environments again (issue 26).
    environments: Arc<Environments>,
    /// Moves with every change of a Secret or of what the environments read (a Namespace
    /// holding Secrets, an isolation's spec, a BackupPolicy, the exclusions): what is derived
    /// from both (the production Secrets' index) is valid while it stands still.
    secrets_and_environments: u64,
}

/// Inserts or replaces `object` in `items` (sorted by name); returns what it replaced.
fn put<T: Keyed>(items: &mut Vec<Arc<T>>, object: Arc<T>) -> Option<Arc<T>> {
    match items.binary_search_by(|o| o.name().cmp(object.name())) {
        Ok(at) => Some(std::mem::replace(&mut items[at], object)),
        Err(at) => {
            items.insert(at, object);
            None
        }
    }
}

/// Removes the object called `name` from `items`; returns it.
/// The object called `name` in `items` (sorted by name).
fn take_ref<T: Keyed>(items: &[Arc<T>], name: &str) -> Option<Arc<T>> {
    let at = items.binary_search_by(|o| o.name().cmp(name)).ok()?;
    Some(items[at].clone())
}

fn take<T: Keyed>(items: &mut Vec<Arc<T>>, name: &str) -> Option<Arc<T>> {
    let at = items.binary_search_by(|o| o.name().cmp(name)).ok()?;
    Some(items.remove(at))
}

fn secrets_of(group: &mut Snapshot) -> &mut Vec<Arc<crate::snapshot::SecretDigest>> {
    if !matches!(group.secrets, Observed::Observed(_)) {
        group.secrets = Observed::Observed(Vec::new());
    }
    match &mut group.secrets {
        Observed::Observed(items) => items,
        Observed::NotObserved(_) => unreachable!("set just above"),
    }
}

/// Runs `$on` with the vector of `$group` that holds objects of `$kind`, and the object's
/// variant (`$wrap`), for every kind.
macro_rules! dispatch {
    ($($field:ident: $ty:ty,)*) => {
        impl Partition {
            fn put_object(group: &mut Snapshot, object: Object) -> Option<Object> {
                match object {
                    $(Object::$field(o) => put(&mut group.$field, o).map(Object::$field),)*
                    Object::config_maps(o) => put(&mut group.config_maps, o).map(Object::config_maps),
                    Object::replica_sets(o) => put(&mut group.replica_sets, o).map(Object::replica_sets),
                    Object::secrets(o) => put(secrets_of(group), o).map(Object::secrets),
                    Object::security_baselines(o) => put(&mut group.custom_resources.security_baselines, o).map(Object::security_baselines),
                    Object::backup_policies(o) => put(&mut group.custom_resources.backup_policies, o).map(Object::backup_policies),
                    Object::environment_isolations(o) => put(&mut group.custom_resources.environment_isolations, o).map(Object::environment_isolations),
                    Object::velero_schedules(o) => put(&mut group.velero.schedules, o).map(Object::velero_schedules),
                    Object::velero_backups(o) => put(&mut group.velero.backups, o).map(Object::velero_backups),
                    Object::velero_restores(o) => put(&mut group.velero.restores, o).map(Object::velero_restores),
                    Object::velero_storage_locations(o) => put(&mut group.velero.storage_locations, o).map(Object::velero_storage_locations),
                    Object::velero_snapshot_locations(o) => put(&mut group.velero.snapshot_locations, o).map(Object::velero_snapshot_locations),
                }
            }

            fn take_object(group: &mut Snapshot, kind: Kind, name: &str) -> Option<Object> {
                match kind {
                    $(Kind::$field => take(&mut group.$field, name).map(Object::$field),)*
                    Kind::config_maps => take(&mut group.config_maps, name).map(Object::config_maps),
                    Kind::replica_sets => take(&mut group.replica_sets, name).map(Object::replica_sets),
                    Kind::secrets => take(secrets_of(group), name).map(Object::secrets),
                    Kind::security_baselines => take(&mut group.custom_resources.security_baselines, name).map(Object::security_baselines),
                    Kind::backup_policies => take(&mut group.custom_resources.backup_policies, name).map(Object::backup_policies),
                    Kind::environment_isolations => take(&mut group.custom_resources.environment_isolations, name).map(Object::environment_isolations),
                    Kind::velero_schedules => take(&mut group.velero.schedules, name).map(Object::velero_schedules),
                    Kind::velero_backups => take(&mut group.velero.backups, name).map(Object::velero_backups),
                    Kind::velero_restores => take(&mut group.velero.restores, name).map(Object::velero_restores),
                    Kind::velero_storage_locations => take(&mut group.velero.storage_locations, name).map(Object::velero_storage_locations),
                    Kind::velero_snapshot_locations => take(&mut group.velero.snapshot_locations, name).map(Object::velero_snapshot_locations),
                }
            }

            /// Appends `group`'s namespaced objects to `whole`.
            fn extend_with(whole: &mut Snapshot, group: &Snapshot) {
                $(whole.$field.extend(group.$field.iter().cloned());)*
                whole.config_maps.extend(group.config_maps.iter().cloned());
                whole.replica_sets.extend(group.replica_sets.iter().cloned());
                if let Observed::Observed(all) = &mut whole.secrets {
                    all.extend(group.secrets.items().iter().cloned());
                }
            }
        }
    };
}
crate::snapshot::watched_kinds!(dispatch);

/// Whether objects of `kind` are kept once for the cluster rather than in their namespace's
/// group: cluster-scoped kinds, the custom resources and Velero's objects.
fn kept_once(kind: Kind) -> bool {
    matches!(
        kind,
        Kind::namespaces
            | Kind::storage_classes
            | Kind::cluster_roles
            | Kind::cluster_role_bindings
            | Kind::security_baselines
            | Kind::backup_policies
            | Kind::environment_isolations
            | Kind::velero_schedules
            | Kind::velero_backups
            | Kind::velero_restores
            | Kind::velero_storage_locations
            | Kind::velero_snapshot_locations
    )
}

impl Partition {
    /// An empty cluster, judged with these settings (see [`Snapshot`]'s fields).
    pub fn new(excluded: ExcludedNamespaces, from_manifests: bool) -> Self {
        let cluster = Snapshot {
            excluded,
            from_manifests,
            ..Snapshot::default()
        };
        let environments = Arc::new(Environments::compute(&cluster));
        let mut partition = Self {
            cluster,
            by_namespace: BTreeMap::new(),
            secrets_not_observed: Some("not observed".into()),
            environments,
            secrets_and_environments: 0,
        };
        partition.cluster.derived =
            crate::snapshot::derived::Derived::knowing(partition.environments.clone());
        partition
    }

    /// The environments recomputed from the cluster-scoped part (what they read).
    fn recompute_environments(&mut self) {
        self.secrets_and_environments += 1;
        self.cluster.derived = crate::snapshot::derived::Derived::default();
        self.environments = Arc::new(Environments::compute(&self.cluster));
        self.cluster.derived =
            crate::snapshot::derived::Derived::knowing(self.environments.clone());
    }

    /// The environments, as every snapshot made here knows them.
    pub fn environments(&self) -> Arc<Environments> {
        self.environments.clone()
    }

    /// What a snapshot made here derives: the environments known, other answers kept when
    /// `shared` (a snapshot nobody changes while it is read).
    fn derived(&self, shared: bool) -> crate::snapshot::derived::Derived {
        use crate::snapshot::derived::Derived;
        let known = self.environments.clone();
        match shared {
            true => Derived::shared_with(known),
            false => Derived::knowing(known),
        }
    }

    /// Follows a change of `kind` `name` (`before` what it was) in the environments.
    fn follow_environments(&mut self, kind: Kind, name: &str, before: Option<&Object>) {
        // Held by no snapshot of the cluster part while it changes: updated in place, not
        // copied.
        self.cluster.derived = crate::snapshot::derived::Derived::default();
        let recompute = match kind {
            Kind::namespaces => {
                // A namespace's environments are its own (its labels against the selectors):
                // one holding no Secret moves no Secret in or out of production.
                if self
                    .by_namespace
                    .get(name)
                    .is_some_and(|group| !group.secrets.items().is_empty())
                {
                    self.secrets_and_environments += 1;
                }
                let now = self
                    .cluster
                    .namespaces
                    .binary_search_by(|n| n.name().cmp(name))
                    .ok()
                    .map(|at| self.cluster.namespaces[at].clone());
                Arc::make_mut(&mut self.environments).namespace_changed(
                    name,
                    now.as_deref(),
                    &self.cluster,
                );
                false
            }
            Kind::environment_isolations => {
                let made_of = |o: Option<&Object>| match o {
                    Some(Object::environment_isolations(ei)) => Environments::made_of(ei),
                    _ => None,
                };
                let now = take_ref(&self.cluster.custom_resources.environment_isolations, name);
                made_of(before) != now.and_then(|ei| Environments::made_of(&ei))
            }
            Kind::backup_policies => {
                let uid =
                    |o: Option<&crate::api::BackupPolicy>| o.and_then(|bp| bp.metadata.uid.clone());
                let was = match before {
                    Some(Object::backup_policies(bp)) => uid(Some(bp)),
                    _ => None,
                };
                let now = take_ref(&self.cluster.custom_resources.backup_policies, name);
                was != uid(now.as_deref())
            }
            _ => false,
        };
        if recompute {
            self.recompute_environments();
        } else {
            // The cluster-scoped part changed: a fresh view of it, the environments known.
            self.cluster.derived =
                crate::snapshot::derived::Derived::knowing(self.environments.clone());
        }
    }

    /// Applies a watch event; returns the object it replaced or removed.
    pub fn apply(&mut self, event: Event) -> Option<Object> {
        let (kind, name) = match &event {
            Event::Upsert(object) => {
                let key = object.key();
                (key.kind, key.name)
            }
            Event::Delete(key) => (key.kind, key.name.clone()),
        };
        let before = self.apply_to_groups(event);
        if kind == Kind::secrets {
            self.secrets_and_environments += 1;
        }
        if kept_once(kind) {
            self.follow_environments(kind, &name, before.as_ref());
        }
        before
    }

    fn apply_to_groups(&mut self, event: Event) -> Option<Object> {
        match event {
            Event::Upsert(object) => {
                let key = object.key();
                let group = self.group_mut(&key);
                Self::put_object(group, object)
            }
            Event::Delete(key) => {
                let group = self.group_mut(&key);
                let gone = Self::take_object(group, key.kind, &key.name);
                if let Some(namespace) = key.namespace.as_deref().filter(|_| !kept_once(key.kind))
                    && self.by_namespace.get(namespace).is_some_and(is_empty)
                {
                    self.by_namespace.remove(namespace);
                }
                gone
            }
        }
    }

    fn group_mut(&mut self, key: &ObjectKey) -> &mut Snapshot {
        match key.namespace.as_deref().filter(|_| !kept_once(key.kind)) {
            Some(namespace) => self.by_namespace.entry(namespace.to_string()).or_default(),
            None => &mut self.cluster,
        }
    }

    /// The namespaces no resource judges (the operator's configuration).
    pub fn set_excluded(&mut self, excluded: ExcludedNamespaces) {
        self.cluster.excluded = excluded;
        self.recompute_environments();
    }

    /// Secrets became observable (`None`) or not (why).
    pub fn set_secrets_not_observed(&mut self, why: Option<String>) {
        self.secrets_not_observed = why;
        self.secrets_and_environments += 1;
    }

    /// A version of the Secrets and of the environments: equal versions, equal both (see
    /// `secrets_and_environments`).
    pub fn secrets_and_environments(&self) -> u64 {
        self.secrets_and_environments
    }

    /// Velero's API state (see [`crate::snapshot::VeleroSnapshot`]).
    pub fn set_velero_state(
        &mut self,
        installed: bool,
        unreadable: Option<String>,
        namespace_missing: Option<String>,
    ) {
        self.cluster.velero.installed = installed;
        self.cluster.velero.unreadable = unreadable;
        self.cluster.velero.namespace_missing = namespace_missing;
    }

    /// The cluster-scoped part: Namespaces, StorageClasses, ClusterRoles, ClusterRoleBindings,
    /// custom resources, Velero and the settings; no namespaced object.
    pub fn cluster(&self) -> &Snapshot {
        &self.cluster
    }

    /// `namespace`'s objects, if it has any.
    pub fn group(&self, namespace: &str) -> Option<&Snapshot> {
        self.by_namespace.get(namespace)
    }

    /// The Namespace object called `name`.
    pub fn namespace(&self, name: &str) -> Option<&Arc<Namespace>> {
        let at = self
            .cluster
            .namespaces
            .binary_search_by(|n| n.name().cmp(name))
            .ok()?;
        self.cluster.namespaces.get(at)
    }

    /// Every Namespace's name.
    pub fn namespace_names(&self) -> impl Iterator<Item = &str> {
        self.cluster.namespaces.iter().map(|n| n.name())
    }

    /// Why `namespace` is out of every resource's scope, if it is (as
    /// [`Snapshot::out_of_scope`], without scanning the Namespaces).
    pub fn out_of_scope(&self, namespace: &str) -> Option<&'static str> {
        self.cluster.excluded.reason(namespace).or_else(|| {
            self.namespace(namespace)
                .filter(|ns| is_terminating(ns))
                .map(|_| crate::evaluate::TERMINATING)
        })
    }

    /// Whether a resource with `selector` judges `namespace`: it exists, is in scope and the
    /// selector picks it (as `selection::selected_namespaces` lists them).
    pub fn selects(&self, selector: &impl LabelMatch, namespace: &str) -> bool {
        static NO_LABELS: BTreeMap<String, String> = BTreeMap::new();
        self.out_of_scope(namespace).is_none()
            && self.namespace(namespace).is_some_and(|ns| {
                selector.selects(ns.metadata.labels.as_ref().unwrap_or(&NO_LABELS))
            })
    }

    /// The whole cluster as one Snapshot: what a from-scratch evaluation reads.
    pub fn whole(&self) -> Snapshot {
        let mut whole = self.cluster.clone();
        whole.secrets = match &self.secrets_not_observed {
            Some(why) => Observed::NotObserved(why.clone()),
            None => Observed::Observed(Vec::new()),
        };
        for group in self.by_namespace.values() {
            Self::extend_with(&mut whole, group);
        }
        // Complete now and only read from here on: its evaluations share what they derive
        // (a namespace looked up by name, not scanned for).
        whole.derived = self.derived(true);
        whole
    }

    /// A snapshot of one namespace `state` alone with what resolving its environments reads
    /// (the custom resources, the exclusions): its environments without the cluster's.
    pub fn namespace_alone(&self, state: &Arc<Namespace>) -> Snapshot {
        Snapshot {
            namespaces: vec![state.clone()],
            custom_resources: self.cluster.custom_resources.clone(),
            excluded: self.cluster.excluded.clone(),
            ..Snapshot::default()
        }
    }

    /// The cluster-scoped part with every object of `namespaces`, and of the other
    /// namespaces only their Secrets, pods and Services (what a namespace's judgement compares
    /// with elsewhere: copied Secret material, the addresses its routes point at). The pods
    /// and Services only when one of `namespaces` has an EndpointSlice.
    pub fn view_of(&self, namespaces: &std::collections::BTreeSet<&str>) -> Snapshot {
        let mut view = self.cluster_view();
        let addresses = namespaces.iter().any(|ns| {
            self.by_namespace
                .get(*ns)
                .is_some_and(|g| !g.endpoint_slices.is_empty())
        });
        for (namespace, group) in &self.by_namespace {
            if namespaces.contains(namespace.as_str()) {
                Self::extend_with(&mut view, group);
                continue;
            }
            if let Observed::Observed(all) = &mut view.secrets {
                all.extend(group.secrets.items().iter().cloned());
            }
            if addresses {
                view.pods.extend(group.pods.iter().cloned());
                view.services.extend(group.services.iter().cloned());
            }
        }
        view
    }

    /// The cluster-scoped part with the Secrets' observed state (and none of them): what
    /// assembling an evaluation from kept parts reads.
    pub fn cluster_view(&self) -> Snapshot {
        let mut view = self.cluster.clone();
        view.secrets = match &self.secrets_not_observed {
            Some(why) => Observed::NotObserved(why.clone()),
            None => Observed::Observed(Vec::new()),
        };
        // Views add namespaced objects only, never what the environments read.
        view.derived = self.derived(false);
        view
    }

    /// Runs `judge` on the view of one namespace: its objects plus the cluster-scoped ones
    /// (ClusterRoleBindings left out: they name identities of many namespaces and are judged
    /// once per resource, see `per_namespace`). `cluster` is [`Self::namespace_base`]'s
    /// answer, lent to the view for the call, so that building a view costs the namespace's
    /// objects, not the cluster's.
    pub fn with_namespace_view<R>(
        &self,
        cluster: &mut Snapshot,
        namespace: &str,
        judge: impl FnOnce(&Snapshot) -> R,
    ) -> R {
        let mut view = self
            .by_namespace
            .get(namespace)
            .cloned()
            .unwrap_or_default();
        view.secrets = match &self.secrets_not_observed {
            Some(why) => Observed::NotObserved(why.clone()),
            None => Observed::Observed(view.secrets.items().to_vec()),
        };
        lend(cluster, &mut view);
        let answer = judge(&view);
        lend(&mut view, cluster);
        answer
    }

    /// The cluster-scoped objects every namespace view shares (without ClusterRoleBindings).
    pub fn namespace_base(&self) -> Snapshot {
        Snapshot {
            cluster_role_bindings: Vec::new(),
            // Lives for one settle, unchanged: every view shares what it derives.
            derived: self.derived(true),
            ..self.cluster.clone()
        }
    }
}

/// Moves the cluster-scoped fields from `from` to `to`.
fn lend(from: &mut Snapshot, to: &mut Snapshot) {
    to.namespaces = std::mem::take(&mut from.namespaces);
    to.storage_classes = std::mem::take(&mut from.storage_classes);
    to.cluster_roles = std::mem::take(&mut from.cluster_roles);
    to.cluster_role_bindings = std::mem::take(&mut from.cluster_role_bindings);
    to.custom_resources = std::mem::take(&mut from.custom_resources);
    to.velero = std::mem::take(&mut from.velero);
    std::mem::swap(&mut to.excluded, &mut from.excluded);
    std::mem::swap(&mut to.derived, &mut from.derived);
    to.from_manifests = from.from_manifests;
}

fn is_empty(group: &Snapshot) -> bool {
    macro_rules! all_empty {
        ($($field:ident: $ty:ty,)*) => {
            true $(&& group.$field.is_empty())*
        };
    }
    crate::snapshot::watched_kinds!(all_empty)
        && group.config_maps.is_empty()
        && group.replica_sets.is_empty()
        && group.secrets.items().is_empty()
}
