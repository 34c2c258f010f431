//! The Snapshot: plain data describing the part of the cluster the controls read.
//!
//! The operator fills it from reflector stores (shared `Arc`s, no copies); the offline `audit`
//! command fills it from manifest files. Evaluation never sees a client.

use k8s_openapi::api::core::v1::{Namespace, PodSpec};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{ObjectMeta, OwnerReference};
use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

pub mod derived;

/// Labels or metadata of an object whose body the controls never read.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct ObjectMetaOnly {
    pub kind: &'static str,
    pub namespace: String,
    pub name: String,
    pub labels: BTreeMap<String, String>,
}

/// A ReplicaSet reduced to what vouches for its pods: its namespace, its uid and its
/// controller's.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct ReplicaSetLink {
    /// Owners are looked up in the owned object's namespace only (the API has no
    /// cross-namespace ownerReferences), which also keeps a namespace's evaluation a function
    /// of that namespace's objects (`engine::per_namespace`).
    pub namespace: String,
    pub uid: String,
    /// `(kind, uid)` of the ReplicaSet's controller (a Deployment, or something else).
    pub controller: Option<(String, String)>,
}

impl ReplicaSetLink {
    pub fn of(meta: &ObjectMeta) -> Self {
        Self {
            namespace: meta.namespace.clone().unwrap_or_default(),
            uid: meta.uid.clone().unwrap_or_default(),
            controller: controller_of(meta).map(|r| (r.kind.clone(), r.uid.clone())),
        }
    }
}

/// A Secret reduced to what copy detection needs: its keyed digest, never its data.
#[derive(Clone, PartialEq)]
pub struct SecretDigest {
    pub namespace: String,
    pub name: String,
    pub labels: BTreeMap<String, String>,
    /// Keyed hash of the Secret's type and data; the key lives only in this process.
    pub digest: [u8; 32],
    /// Keyed hash of each value worth comparing on its own, by key, so that one production
    /// value copied into a bigger Secret is found too.
    pub value_digests: BTreeMap<String, [u8; 32]>,
    /// The keys whose values are secret material (`vocabulary::secret_material`): when this is
    /// a production Secret, only these values are looked for elsewhere, so that a username or
    /// a host shared by design is no finding.
    pub material_keys: BTreeSet<String>,
    /// Whether the Secret holds secret material at all: a whole copy of a Secret holding only
    /// values shared by design is no production data.
    pub holds_material: bool,
}

impl std::fmt::Debug for SecretDigest {
    // Deliberately omits the digest, so that no debug log can carry it.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SecretDigest")
            .field("namespace", &self.namespace)
            .field("name", &self.name)
            .field("labels", &self.labels)
            .finish_non_exhaustive()
    }
}

impl std::fmt::Display for SecretDigest {
    // Deliberately omits the digest: nothing derived from a Secret's data may be printed.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Secret {}/{}", self.namespace, self.name)
    }
}

/// Every kind the controls read in full, declared once as `field: Type`. The Snapshot's
/// fields, the operator's reflector stores (`controller::stores`) and the offline audit's
/// reader (`audit::snapshot`) are generated from this list by passing a macro to it, so that
/// adding an input to a control is one line here. Velero's kinds have a list of their own,
/// [`velero_kinds`], because they are watched in Velero's namespace once its API is served.
/// (ConfigMaps, read as metadata only, Secrets, read as keyed digests, and the operator's own
/// three kinds are each read in a form of their own, beside these lists.)
macro_rules! watched_kinds {
    ($with:ident) => {
        $with! {
            namespaces: k8s_openapi::api::core::v1::Namespace,
            network_policies: k8s_openapi::api::networking::v1::NetworkPolicy,
            services: k8s_openapi::api::core::v1::Service,
            endpoint_slices: k8s_openapi::api::discovery::v1::EndpointSlice,
            ingresses: k8s_openapi::api::networking::v1::Ingress,
            persistent_volume_claims: k8s_openapi::api::core::v1::PersistentVolumeClaim,
            storage_classes: k8s_openapi::api::storage::v1::StorageClass,
            pods: k8s_openapi::api::core::v1::Pod,
            deployments: k8s_openapi::api::apps::v1::Deployment,
            stateful_sets: k8s_openapi::api::apps::v1::StatefulSet,
            daemon_sets: k8s_openapi::api::apps::v1::DaemonSet,
            jobs: k8s_openapi::api::batch::v1::Job,
            cron_jobs: k8s_openapi::api::batch::v1::CronJob,
            service_accounts: k8s_openapi::api::core::v1::ServiceAccount,
            role_bindings: k8s_openapi::api::rbac::v1::RoleBinding,
            cluster_role_bindings: k8s_openapi::api::rbac::v1::ClusterRoleBinding,
            roles: k8s_openapi::api::rbac::v1::Role,
            cluster_roles: k8s_openapi::api::rbac::v1::ClusterRole,
            pod_disruption_budgets: k8s_openapi::api::policy::v1::PodDisruptionBudget,
        }
    };
}
pub(crate) use watched_kinds;

macro_rules! snapshot_struct {
    ($($field:ident: $ty:ty,)*) => {
        #[derive(Clone, Debug, Default)]
        pub struct Snapshot {
                    $(pub $field: Vec<Arc<$ty>>,)*
            /// ConfigMaps, metadata only.
            pub config_maps: Vec<Arc<ObjectMetaOnly>>,
            /// ReplicaSets as links to their controllers, so that a Pod claiming one as its
            /// controller is judged through a Deployment's template only when the chain holds.
            pub replica_sets: Vec<Arc<ReplicaSetLink>>,
            /// Secrets as digests, when they could be observed at all (copy detection on, Secret
            /// read granted, first list done): "no Secrets seen" is not "no Secrets".
            pub secrets: Observed<Vec<Arc<SecretDigest>>>,
            pub velero: VeleroSnapshot,
            /// The operator's own custom resources, for rules that depend on each other: label
            /// protection covers the label keys of every selector, and a restore-test sandbox is
            /// recognised by the uid of the BackupPolicy that made it.
            pub custom_resources: CustomResources,
            /// Namespaces no resource judges or enforces in, whatever its selectors say.
            pub excluded: ExcludedNamespaces,
            /// Read from manifest files (the offline `audit`), not from a cluster: objects
            /// carry no status, so what only a live cluster shows (Ready replicas) is not
            /// judged, and the evidence says so.
            pub from_manifests: bool,
            /// Answers every namespace's evaluation derives from the cluster-scoped part,
            /// kept only when asked for (see [`derived`]).
            pub derived: derived::Derived,
        }
    };
}
watched_kinds!(snapshot_struct);

/// Why a namespace is left out of every resource's scope.
pub const SYSTEM_NAMESPACE: &str = crate::conditions::Reason::SystemNamespace.as_str();
pub const OPERATOR_NAMESPACE: &str = crate::conditions::Reason::OperatorNamespace.as_str();
pub const VELERO_NAMESPACE: &str = crate::conditions::Reason::VeleroNamespace.as_str();
pub const EXCLUDED_BY_CONFIGURATION: &str =
    crate::conditions::Reason::ExcludedByConfiguration.as_str();

/// Namespaces that no SecurityBaseline, BackupPolicy or EnvironmentIsolation touches, in
/// audit or in admission: a `namespaceSelector: {}` or a `NotIn` selector must never put
/// default-deny egress, Pod Security `restricted` or admission rules on the control plane's
/// namespaces, on Velero's, or on the operator's own (it must never cut itself off from the API
/// server). Built in: `kube-system`, `kube-public`, `kube-node-lease` and Velero's namespace as
/// the operator is configured (`--velero-namespace`, Helm value `velero.namespace`; `velero`
/// unless told otherwise); the operator adds its own namespace and the names given with
/// `--excluded-namespaces` (Helm value `excludedNamespaces`).
///
/// Only the operator's configuration, which the cluster's administrators control, takes a
/// namespace out of scope: nothing a custom resource says does (a BackupPolicy naming
/// `spec.velero.namespace: payments` must not switch off `payments`' NetworkPolicies, Pod
/// Security labels and admission rules; it is Invalid, and an Invalid resource changes nothing
/// outside itself).
#[derive(Clone, Debug, PartialEq)]
pub struct ExcludedNamespaces {
    names: BTreeMap<String, &'static str>,
}

/// The control plane's own namespaces.
pub const SYSTEM_NAMESPACES: [&str; 3] = ["kube-system", "kube-public", "kube-node-lease"];

/// Velero's namespace unless the operator is configured otherwise (`--velero-namespace`).
pub const DEFAULT_VELERO_NAMESPACE: &str = "velero";

impl Default for ExcludedNamespaces {
    fn default() -> Self {
        Self::new(DEFAULT_VELERO_NAMESPACE)
    }
}

impl ExcludedNamespaces {
    /// The system namespaces and `velero_namespace`, the one Velero runs in.
    pub fn new(velero_namespace: &str) -> Self {
        let names = SYSTEM_NAMESPACES
            .into_iter()
            .map(|n| (n.to_string(), SYSTEM_NAMESPACE))
            .collect();
        Self { names }.with([velero_namespace.to_string()], VELERO_NAMESPACE)
    }

    /// Adds `names` with `reason`, keeping the first reason given for a name.
    pub fn with(mut self, names: impl IntoIterator<Item = String>, reason: &'static str) -> Self {
        for name in names.into_iter().filter(|n| !n.is_empty()) {
            self.names.entry(name).or_insert(reason);
        }
        self
    }

    /// Why `namespace` is out of scope, if it is.
    pub fn reason(&self, namespace: &str) -> Option<&'static str> {
        self.names.get(namespace).copied()
    }

    /// Every excluded name, sorted: what admission bindings leave out.
    pub fn names(&self) -> Vec<String> {
        self.names.keys().cloned().collect()
    }
}

macro_rules! custom_resources_struct {
    ($($field:ident: $ty:ty,)*) => {
        /// Every resource of the operator's own kinds in the cluster (see [`crate::kinds`]).
        #[derive(Clone, Debug, Default)]
        pub struct CustomResources {
            $(pub $field: Vec<Arc<$ty>>,)*
        }
    };
}
crate::kinds::custom_kinds!(custom_resources_struct);

/// State the operator may or may not be able to see, kept apart from "seen and empty", so
/// that a check over it can say it did not run instead of passing.
#[derive(Clone, Debug, PartialEq)]
pub enum Observed<T> {
    Observed(T),
    /// Why the state could not be observed (e.g. the operator may not read Secrets).
    NotObserved(String),
}

impl<T> Default for Observed<T> {
    fn default() -> Self {
        Self::NotObserved("not observed".into())
    }
}

impl<T> Observed<T> {
    /// Why the state is unknown, if it is.
    pub fn why_not(&self) -> Option<&str> {
        match self {
            Self::Observed(_) => None,
            Self::NotObserved(why) => Some(why),
        }
    }
}

impl<T> Observed<Vec<T>> {
    /// What was observed; nothing when nothing could be.
    pub fn items(&self) -> &[T] {
        match self {
            Self::Observed(items) => items,
            Self::NotObserved(_) => &[],
        }
    }
}

/// Velero's kinds the controls read, declared once as `field: Type`, like
/// [`watched_kinds`]: the fields of [`VeleroSnapshot`], the operator's Velero reflectors and
/// its list-permission probe (`controller::stores`), and the offline audit's reader are
/// generated from this list.
macro_rules! velero_kinds {
    ($with:ident) => {
        $with! {
            schedules: crate::velero::Schedule,
            backups: crate::velero::Backup,
            restores: crate::velero::Restore,
            storage_locations: crate::velero::BackupStorageLocation,
            snapshot_locations: crate::velero::VolumeSnapshotLocation,
        }
    };
}
pub(crate) use velero_kinds;

macro_rules! velero_snapshot_struct {
    ($($field:ident: $ty:ty,)*) => {
        /// Velero's objects, and whether its API is served at all.
        #[derive(Clone, Debug, Default)]
        pub struct VeleroSnapshot {
            pub installed: bool,
            /// Why Velero's objects cannot be read although its API is served (e.g. listing
            /// Backups is forbidden): its controls then did not run, which is not "no backups".
            pub unreadable: Option<String>,
            /// Velero's namespace (the one the operator is configured with), when it does not
            /// exist: Velero's API may be served, but no Velero runs, so nothing is backed up.
            /// (The operator fills it in from the namespaces it sees; offline it stays empty.)
            pub namespace_missing: Option<String>,
            $(pub $field: Vec<Arc<$ty>>,)*
        }
    };
}
velero_kinds!(velero_snapshot_struct);

/// Anything that carries a pod spec: a bare Pod or a workload's pod template.
#[derive(Clone, Copy, Debug)]
pub struct PodCarrier<'a> {
    pub kind: &'static str,
    pub meta: &'a ObjectMeta,
    /// Metadata of the pod (the template's for workloads).
    pub pod_meta: &'a ObjectMeta,
    pub spec: &'a PodSpec,
    /// Desired replicas for Deployments and StatefulSets.
    pub replicas: Option<i32>,
    /// Replicas the workload controller reports Ready (`status.readyReplicas`; none reported
    /// counts as zero), for Deployments and StatefulSets in a live cluster; None from
    /// manifests, which carry no status.
    pub ready_replicas: Option<i32>,
}

impl PodCarrier<'_> {
    pub fn namespace(&self) -> &str {
        self.meta.namespace.as_deref().unwrap_or_default()
    }
    pub fn name(&self) -> &str {
        self.meta.name.as_deref().unwrap_or_default()
    }
}

static EMPTY_META: std::sync::LazyLock<ObjectMeta> = std::sync::LazyLock::new(ObjectMeta::default);

impl Snapshot {
    /// `observed` when read from a live cluster; None from manifests, which carry no status.
    fn live<T>(&self, observed: T) -> Option<T> {
        (!self.from_manifests).then_some(observed)
    }

    /// Names and labels of every namespace.
    pub fn namespace_labels(&self) -> impl Iterator<Item = (&str, &BTreeMap<String, String>)> {
        static NO_LABELS: BTreeMap<String, String> = BTreeMap::new();
        self.namespaces.iter().filter_map(|ns| {
            Some((
                ns.metadata.name.as_deref()?,
                ns.metadata.labels.as_ref().unwrap_or(&NO_LABELS),
            ))
        })
    }

    /// Why `namespace` is out of every resource's scope, if it is: excluded (system, Velero,
    /// the operator's own, configured) or Terminating.
    pub fn out_of_scope(&self, namespace: &str) -> Option<&'static str> {
        self.excluded.reason(namespace).or_else(|| {
            self.terminating_namespaces()
                .any(|n| n == namespace)
                .then_some(crate::evaluate::TERMINATING)
        })
    }

    /// The Namespace called `name`.
    pub fn namespace_named(&self, name: &str) -> Option<&Namespace> {
        let index = self.derived.namespace_index(name, || {
            self.namespaces
                .iter()
                .enumerate()
                .filter_map(|(i, ns)| Some((ns.metadata.name.clone()?, i)))
                .collect()
        });
        match index {
            Some(at) => at.and_then(|at| self.namespaces.get(at)).map(AsRef::as_ref),
            None => self
                .namespaces
                .iter()
                .find(|ns| ns.metadata.name.as_deref() == Some(name))
                .map(AsRef::as_ref),
        }
    }

    /// [`Self::out_of_scope`] for a Namespace in hand: no scan of the others, so that a loop
    /// over every namespace stays linear in their number.
    pub fn namespace_out_of_scope(&self, ns: &Namespace) -> Option<&'static str> {
        let name = ns.metadata.name.as_deref().unwrap_or_default();
        self.excluded
            .reason(name)
            .or_else(|| is_terminating(ns).then_some(crate::evaluate::TERMINATING))
    }

    /// Every Namespace with its name and labels.
    pub fn namespaces_with_labels(
        &self,
    ) -> impl Iterator<Item = (&Namespace, &str, &BTreeMap<String, String>)> {
        static NO_LABELS: BTreeMap<String, String> = BTreeMap::new();
        self.namespaces.iter().filter_map(|ns| {
            Some((
                ns.as_ref(),
                ns.metadata.name.as_deref()?,
                ns.metadata.labels.as_ref().unwrap_or(&NO_LABELS),
            ))
        })
    }

    /// Namespaces being deleted: every kind leaves them out of scope (their objects are going,
    /// and the API server refuses new objects in them), and status says so.
    pub fn terminating_namespaces(&self) -> impl Iterator<Item = &str> {
        self.namespaces
            .iter()
            .filter(|ns| is_terminating(ns))
            .filter_map(|ns| ns.metadata.name.as_deref())
    }

    /// Workload pod templates and the pods no template vouches for. A pod whose controller is
    /// a workload in this snapshot (by uid: a ReplicaSet of a Deployment, a StatefulSet, a
    /// DaemonSet or a Job) and that runs exactly that template is judged through it, so that
    /// one bad Deployment is one finding, not one per replica. Any other pod is judged itself:
    /// a `controller: true` ownerReference anyone can write (to a made-up uid, a bare
    /// ReplicaSet, another operator's kind, or a real ReplicaSet with another spec) must not
    /// take a pod out of the evidence.
    pub fn pod_carriers(&self) -> Vec<PodCarrier<'_>> {
        let vouching = self.vouching_templates();
        let mut out = Vec::new();
        for d in &self.deployments {
            {
                let spec = &d.spec;
                out.push(PodCarrier {
                    kind: "Deployment",
                    meta: &d.metadata,
                    pod_meta: spec.template.metadata.as_ref().unwrap_or(&EMPTY_META),
                    spec: spec.template.spec.as_ref().unwrap_or(&EMPTY_POD_SPEC),
                    replicas: Some(spec.replicas.unwrap_or(1)),
                    ready_replicas: self.live(
                        d.status
                            .as_ref()
                            .and_then(|st| st.ready_replicas)
                            .unwrap_or(0),
                    ),
                });
            }
        }
        for s in &self.stateful_sets {
            {
                let spec = &s.spec;
                out.push(PodCarrier {
                    kind: "StatefulSet",
                    meta: &s.metadata,
                    pod_meta: spec.template.metadata.as_ref().unwrap_or(&EMPTY_META),
                    spec: spec.template.spec.as_ref().unwrap_or(&EMPTY_POD_SPEC),
                    replicas: Some(spec.replicas.unwrap_or(1)),
                    ready_replicas: self.live(
                        s.status
                            .as_ref()
                            .and_then(|st| st.ready_replicas)
                            .unwrap_or(0),
                    ),
                });
            }
        }
        for d in &self.daemon_sets {
            {
                let spec = &d.spec;
                out.push(PodCarrier {
                    kind: "DaemonSet",
                    meta: &d.metadata,
                    pod_meta: spec.template.metadata.as_ref().unwrap_or(&EMPTY_META),
                    spec: spec.template.spec.as_ref().unwrap_or(&EMPTY_POD_SPEC),
                    replicas: None,
                    ready_replicas: None,
                });
            }
        }
        let cron_jobs: BTreeSet<(&str, &str)> = self
            .cron_jobs
            .iter()
            .filter_map(|c| Some((namespace_of(&c.metadata), c.metadata.uid.as_deref()?)))
            .collect();
        for j in &self.jobs {
            // A Job of a CronJob here (in its namespace) is judged through the CronJob's
            // template.
            if controller_of(&j.metadata)
                .is_some_and(|r| cron_jobs.contains(&(namespace_of(&j.metadata), r.uid.as_str())))
            {
                continue;
            }
            if let Some(spec) = &j.spec {
                out.push(PodCarrier {
                    kind: "Job",
                    meta: &j.metadata,
                    pod_meta: spec.template.metadata.as_ref().unwrap_or(&EMPTY_META),
                    spec: spec.template.spec.as_ref().unwrap_or(&EMPTY_POD_SPEC),
                    replicas: None,
                    ready_replicas: None,
                });
            }
        }
        for c in &self.cron_jobs {
            let template = c.spec.job_template.spec.as_ref().map(|s| &s.template);
            if let Some(template) = template {
                out.push(PodCarrier {
                    kind: "CronJob",
                    meta: &c.metadata,
                    pod_meta: template.metadata.as_ref().unwrap_or(&EMPTY_META),
                    spec: template.spec.as_ref().unwrap_or(&EMPTY_POD_SPEC),
                    replicas: None,
                    ready_replicas: None,
                });
            }
        }
        for p in &self.pods {
            // Judged through the template only when the pod runs exactly what it says (an
            // image set on the pod, a debug container or a pod forged onto a real ReplicaSet
            // is not what the template says).
            let template = controller_of(&p.metadata)
                .and_then(|r| vouching.get(&(namespace_of(&p.metadata), r.uid.as_str())));
            if let (Some(template), Some(spec)) = (template, &p.spec)
                && template.vouches_for(&p.metadata, spec)
            {
                continue;
            }
            if let Some(spec) = &p.spec {
                out.push(PodCarrier {
                    kind: "Pod",
                    meta: &p.metadata,
                    pod_meta: &p.metadata,
                    spec,
                    replicas: None,
                    ready_replicas: None,
                });
            }
        }
        out
    }

    /// The template each controller here stands by, keyed by the controller's namespace and
    /// uid: a Deployment's for its ReplicaSets, and a StatefulSet's, DaemonSet's or Job's own.
    /// A finished Job makes no more pods, so it stands by none created after it finished. An
    /// owner is looked up in its dependent's namespace only, as the garbage collector does.
    fn vouching_templates(&self) -> BTreeMap<(&str, &str), Vouching<'_>> {
        fn key(meta: &ObjectMeta) -> Option<(&str, &str)> {
            Some((namespace_of(meta), meta.uid.as_deref()?))
        }
        fn of(template: &k8s_openapi::api::core::v1::PodTemplateSpec) -> Vouching<'_> {
            Vouching {
                meta: template.metadata.as_ref().unwrap_or(&EMPTY_META),
                spec: template.spec.as_ref().unwrap_or(&EMPTY_POD_SPEC),
                made_before: None,
            }
        }
        let deployments: BTreeMap<(&str, &str), Vouching> = self
            .deployments
            .iter()
            .filter_map(|d| Some((key(&d.metadata)?, of(&d.spec.template))))
            .collect();
        let replica_sets = self.replica_sets.iter().filter_map(|rs| {
            let (kind, owner) = rs.controller.as_ref()?;
            let template = deployments
                .get(&(rs.namespace.as_str(), owner.as_str()))
                .filter(|_| kind == "Deployment")?;
            Some(((rs.namespace.as_str(), rs.uid.as_str()), *template))
        });
        replica_sets
            .chain(
                self.stateful_sets
                    .iter()
                    .filter_map(|s| Some((key(&s.metadata)?, of(&s.spec.template)))),
            )
            .chain(
                self.daemon_sets
                    .iter()
                    .filter_map(|d| Some((key(&d.metadata)?, of(&d.spec.template)))),
            )
            .chain(self.jobs.iter().filter_map(|j| {
                let spec = j.spec.as_ref()?;
                let vouching = Vouching {
                    made_before: crate::vocabulary::jobs::finished(j),
                    ..of(&spec.template)
                };
                Some((key(&j.metadata)?, vouching))
            }))
            .collect()
    }
}

fn namespace_of(meta: &ObjectMeta) -> &str {
    meta.namespace.as_deref().unwrap_or_default()
}

/// A template that stands by the pods its controller made.
#[derive(Clone, Copy)]
struct Vouching<'a> {
    meta: &'a ObjectMeta,
    spec: &'a PodSpec,
    /// For a finished Job: it stands only by pods created before then
    /// ([`jobs::Finished`](crate::vocabulary::jobs::Finished)).
    made_before: Option<crate::vocabulary::jobs::Finished>,
}

impl Vouching<'_> {
    fn vouches_for(&self, pod_meta: &ObjectMeta, pod_spec: &PodSpec) -> bool {
        use crate::vocabulary::jobs::Finished;
        let in_time = match self.made_before {
            None => true,
            Some(Finished::Unknown) => false,
            // Timestamps have whole seconds: a pod created in the second the Job finished is
            // not vouched for (judging it itself costs a duplicate finding, never a miss).
            Some(Finished::At(finished)) => pod_meta
                .creation_timestamp
                .as_ref()
                .is_some_and(|created| created.0 < finished),
        };
        in_time
            && crate::vocabulary::pod_template::runs_its_template(
                pod_meta, pod_spec, self.meta, self.spec,
            )
    }
}

static EMPTY_POD_SPEC: std::sync::LazyLock<PodSpec> = std::sync::LazyLock::new(PodSpec::default);

/// The ownerReference marked `controller: true`, if any.
fn controller_of(meta: &ObjectMeta) -> Option<&OwnerReference> {
    meta.owner_references
        .as_ref()?
        .iter()
        .find(|r| r.controller == Some(true))
}

/// Whether a namespace is being deleted (phase `Terminating`, or a deletion timestamp already
/// set while the phase has not caught up).
pub fn is_terminating(ns: &Namespace) -> bool {
    ns.metadata.deletion_timestamp.is_some()
        || ns
            .status
            .as_ref()
            .and_then(|s| s.phase.as_deref())
            .is_some_and(|phase| phase == "Terminating")
}

#[cfg(test)]
#[path = "snapshot_tests.rs"]
mod tests;
