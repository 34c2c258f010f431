//! The engine's state: the partitioned cluster, its indexes, and per (resource, namespace)
//! the kept outcomes. `apply` takes a watch event and says what it dirties; `settle`
//! recomputes only the dirty pairs; `evaluation` folds a resource's kept outcomes into its
//! Evaluation.
//!
//! SecurityBaselines and EnvironmentIsolations are kept per namespace (an isolation's part of
//! a namespace names other namespaces, which its dirty sets follow: see
//! [`super::environment_moves`] and [`super::mentions`]). A BackupPolicy's per-namespace
//! control is kept per namespace and settled when the policy is evaluated (see
//! [`super::backups`]); `Counters::whole_evaluations` counts the evaluations made from the
//! partition's whole snapshot instead.

use super::backups::KeptBackups;
use super::baseline_tally::{self, KeptParts};
use super::events::{ChangedKeys, Dirty, ResourceKey, ResourceKind, dirtied};
use super::indexes::Indexes;
use super::object::{Event, Object};
use super::partition::Partition;
use super::per_namespace;
use crate::evaluate::isolation::{NamespacePart, ProductionSecrets};
use crate::evaluate::security_baseline::{self, MissedByTemplates};
use crate::evaluate::{ControlOutcome, Evaluation, backup, isolation};
use crate::snapshot::{ExcludedNamespaces, Snapshot};
use crate::validate::environment_isolation::ValidEnvironmentIsolation;
use crate::validate::security_baseline::ValidSecurityBaseline;
use crate::vocabulary::environments::environments_of;
use jiff::Timestamp;
use std::cell::Cell;
use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

/// How much work the engine did: what a test counts instead of timing it.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Counters {
    /// (resource, namespace) pairs evaluated.
    pub namespace_evaluations: u64,
    /// Resources evaluated from the whole snapshot.
    pub whole_evaluations: u64,
    /// (EnvironmentIsolation, namespace) parts judged when not all of an isolation's were.
    pub isolation_parts: u64,
    /// (BackupPolicy, namespace) parts judged.
    pub backup_parts: u64,
}

/// An EnvironmentIsolation's kept state.
#[derive(Clone, Debug)]
struct Isolation {
    /// `None` when the spec is invalid: nothing is evaluated.
    spec: Option<ValidEnvironmentIsolation>,
    /// Per namespace with anything to count, its part.
    kept: BTreeMap<String, NamespacePart>,
    /// The production Secrets' index, with the partition's `secrets_and_environments` it
    /// was built at: a settle of a few namespaces does not index every production Secret.
    production: Option<(u64, Arc<ProductionSecrets>)>,
}

/// A SecurityBaseline's kept state.
#[derive(Clone, Debug)]
struct Baseline {
    /// `None` when the spec is invalid: nothing is evaluated.
    spec: Option<ValidSecurityBaseline>,
    /// Per selected namespace, its part (exactly the namespaces the baseline selects), and
    /// their sum, which a fold reads instead of every part (see [`BaselineFold`]).
    kept: KeptParts,
}

/// The sum of a SecurityBaseline's kept parts and what else its fold reads, taken from the
/// engine (see [`Engine::security_baseline_fold`]).
pub struct BaselineFold {
    name: String,
    spec: ValidSecurityBaseline,
    cluster: Snapshot,
    selected: Vec<String>,
    summed: Vec<ControlOutcome>,
    missed: MissedByTemplates,
}

impl BaselineFold {
    fn of(name: &str, spec: &ValidSecurityBaseline, cluster: &Snapshot, kept: &KeptParts) -> Self {
        Self {
            name: name.to_string(),
            spec: spec.clone(),
            cluster: cluster.clone(),
            selected: kept.namespaces().cloned().collect(),
            summed: kept.outcomes(),
            missed: kept.missed(),
        }
    }

    /// The evaluation, equal to folding every kept part
    /// ([`per_namespace::merge_security_baseline`]).
    pub fn fold(self, now: Timestamp) -> Evaluation {
        let resource_level = per_namespace::security_baseline_resource_level(
            &self.spec,
            &self.selected,
            &self.cluster,
        );
        let outcomes = baseline_tally::with_resource_level(resource_level, &self.summed);
        security_baseline::assemble(
            &self.name,
            &self.spec,
            &self.cluster,
            self.selected,
            outcomes,
            &self.missed,
            now,
        )
    }
}

#[derive(Debug)]
pub struct Engine {
    partition: Partition,
    indexes: Indexes,
    baselines: BTreeMap<String, Baseline>,
    isolations: BTreeMap<String, Isolation>,
    /// Per BackupPolicy, its kept per-namespace part (`None` until its first evaluation).
    backups: BTreeMap<String, Option<KeptBackups>>,
    /// Moves with every change all BackupPolicies' namespace parts read (Velero's objects, the
    /// namespaces left out of scope).
    backups_epoch: u64,
    namespace_evaluations: u64,
    isolation_parts: u64,
    backup_parts: u64,
    whole_evaluations: Cell<u64>,
}

impl Engine {
    /// An engine over an empty cluster, judging with these settings (see
    /// [`Snapshot::excluded`] and [`Snapshot::from_manifests`]).
    pub fn new(excluded: ExcludedNamespaces, from_manifests: bool) -> Self {
        Self {
            partition: Partition::new(excluded, from_manifests),
            indexes: Indexes::default(),
            baselines: BTreeMap::new(),
            isolations: BTreeMap::new(),
            backups: BTreeMap::new(),
            backups_epoch: 0,
            namespace_evaluations: 0,
            isolation_parts: 0,
            backup_parts: 0,
            whole_evaluations: Cell::new(0),
        }
    }

    /// Takes a watch event into the state; returns what it dirties (to [`Self::settle`],
    /// now or batched with others).
    pub fn apply(&mut self, event: Event) -> Dirty {
        let new = match &event {
            Event::Upsert(object) => Some(object.clone()),
            Event::Delete(_) => None,
        };
        let old = self.partition.apply(event);
        self.applied(old, new)
    }

    /// [`Self::apply`] of an object created or changed; `None` when the engine held it
    /// already, equal but for its resource version (see [`Object::same_but_version`]): a
    /// write of what no control reads dirties nothing, and wakes no one (on a fresh cluster
    /// the controller-manager rewrites thousands of Deployments', ReplicaSets' and Pods'
    /// statuses, each of which was a pass for its namespace).
    pub fn upsert(&mut self, object: Object) -> Option<Dirty> {
        let new = object.clone();
        let old = self.partition.apply(Event::Upsert(object));
        if old.as_ref().is_some_and(|old| old.same_but_version(&new)) {
            return None;
        }
        Some(self.applied(old, Some(new)))
    }

    /// What a change from `old` to `new`, already in the partition, dirties.
    fn applied(&mut self, old: Option<Object>, new: Option<Object>) -> Dirty {
        self.indexes.update(old.as_ref(), new.as_ref());
        if let Some(Object::security_baselines(sb)) = new.as_ref().or(old.as_ref()) {
            let name = sb.metadata.name.clone().unwrap_or_default();
            match &new {
                Some(_) => {
                    let spec = crate::validate::security_baseline::validate(&sb.spec).ok();
                    let baseline = self.baselines.entry(name).or_insert(Baseline {
                        spec: None,
                        kept: KeptParts::default(),
                    });
                    if baseline.spec != spec {
                        baseline.spec = spec;
                        baseline.kept.clear();
                    }
                }
                None => {
                    self.baselines.remove(&name);
                }
            }
        }
        if let Some(Object::environment_isolations(ei)) = new.as_ref().or(old.as_ref()) {
            let name = ei.metadata.name.clone().unwrap_or_default();
            match &new {
                Some(_) => {
                    let spec = crate::validate::environment_isolation::validate(&ei.spec).ok();
                    let isolation = self.isolations.entry(name).or_insert(Isolation {
                        spec: None,
                        kept: BTreeMap::new(),
                        production: None,
                    });
                    if isolation.spec != spec {
                        isolation.spec = spec;
                        isolation.kept.clear();
                        isolation.production = None;
                    }
                }
                None => {
                    self.isolations.remove(&name);
                }
            }
        }
        let mut dirty = dirtied(&self.partition, &self.indexes, old.as_ref(), new.as_ref());
        dirty.isolations = self.isolation_reach(old.as_ref(), new.as_ref());
        self.follow_backups(old.as_ref(), new.as_ref(), &dirty);
        dirty
    }

    /// What a change leaves the BackupPolicies' kept parts to judge again.
    fn follow_backups(&mut self, old: Option<&Object>, new: Option<&Object>, dirty: &Dirty) {
        match new.or(old) {
            Some(Object::backup_policies(bp)) if new.is_none() => {
                self.backups
                    .remove(bp.metadata.name.as_deref().unwrap_or_default());
            }
            Some(Object::velero_schedules(_) | Object::velero_backups(_)) => {
                match super::backups::reached_by(old, new) {
                    Some(namespaces) => {
                        for kept in self.backups.values_mut().flatten() {
                            kept.dirtied(&namespaces);
                        }
                    }
                    None => self.backups_epoch += 1,
                }
            }
            Some(
                Object::velero_restores(_)
                | Object::velero_storage_locations(_)
                | Object::velero_snapshot_locations(_),
            ) => self.backups_epoch += 1,
            _ if dirty.whole => self.backups_epoch += 1,
            _ => {
                for kept in self.backups.values_mut().flatten() {
                    kept.dirtied(&dirty.namespaces);
                }
            }
        }
    }

    /// The namespaces, besides those `dirtied` names, whose EnvironmentIsolation parts a
    /// change reaches: a Namespace's (see [`super::environment_moves`]), or a pod's or
    /// Service's address changing hands (the slices pointing at it, see
    /// [`super::mentions`]).
    fn isolation_reach(&self, old: Option<&Object>, new: Option<&Object>) -> BTreeSet<String> {
        let Some(any) = new.or(old) else {
            return BTreeSet::new();
        };
        match any {
            Object::namespaces(_) if !self.isolations.is_empty() => {
                let namespace = |o: Option<&Object>| match o {
                    Some(Object::namespaces(ns)) => Some(ns.clone()),
                    _ => None,
                };
                super::environment_moves::reached(
                    &self.partition,
                    &self.indexes,
                    self.isolations.values().filter_map(|i| i.spec.as_ref()),
                    namespace(old).as_ref(),
                    namespace(new).as_ref(),
                )
            }
            Object::pods(_) | Object::services(_) => {
                let addresses: Vec<_> = [old, new]
                    .into_iter()
                    .flatten()
                    .flat_map(super::mentions::reported_addresses)
                    .collect();
                self.indexes
                    .mentions
                    .pointing_at(addresses)
                    .cloned()
                    .collect()
            }
            _ => BTreeSet::new(),
        }
    }

    /// The namespaces no resource judges changed (the operator's configuration, known only
    /// once it runs): every resource is judged again.
    pub fn set_excluded(&mut self, excluded: ExcludedNamespaces) -> Dirty {
        self.partition.set_excluded(excluded);
        self.backups_epoch += 1;
        Dirty {
            resources: self.resources().into_iter().collect(),
            whole: true,
            ..Dirty::default()
        }
    }

    /// Secrets became observable (`None`) or not (why). Only whole evaluations read them.
    pub fn set_secrets_not_observed(&mut self, why: Option<String>) -> Dirty {
        self.partition.set_secrets_not_observed(why);
        Dirty {
            whole: true,
            ..Dirty::default()
        }
    }

    /// Velero's API state (see [`crate::snapshot::VeleroSnapshot`]). Only whole evaluations
    /// read it.
    pub fn set_velero_state(
        &mut self,
        installed: bool,
        unreadable: Option<String>,
        namespace_missing: Option<String>,
    ) -> Dirty {
        self.partition
            .set_velero_state(installed, unreadable, namespace_missing);
        Dirty {
            whole: true,
            ..Dirty::default()
        }
    }

    /// Recomputes the dirty (resource, namespace) pairs: each dirty namespace a baseline
    /// selects is evaluated again, one it no longer selects is dropped; a dirty resource has
    /// every namespace judged.
    pub fn settle(&mut self, dirty: &Dirty) {
        self.settle_baselines(dirty);
        self.settle_isolations(dirty);
    }

    /// [`Self::settle`] for the SecurityBaselines alone: a shell that paces the kinds apart
    /// settles each when it evaluates it (an enforcement plan for a new namespace does not
    /// wait on the isolations' parts).
    pub fn settle_baselines(&mut self, dirty: &Dirty) {
        let mut base = self.partition.namespace_base();
        // Every namespace's name only for a baseline judged whole: a settle of a few
        // namespaces costs them.
        let mut all: Option<Vec<String>> = None;
        for (name, baseline) in &mut self.baselines {
            let Some(spec) = &baseline.spec else {
                continue;
            };
            let whole = dirty.resources.contains(&ResourceKey {
                kind: ResourceKind::SecurityBaseline,
                name: name.clone(),
            });
            let namespaces: Vec<String> = if whole {
                let mut every: Vec<String> = baseline.kept.namespaces().cloned().collect();
                let all = all.get_or_insert_with(|| {
                    self.partition
                        .namespace_names()
                        .map(str::to_string)
                        .collect()
                });
                every.extend(all.iter().cloned());
                every.sort();
                every.dedup();
                every
            } else {
                dirty.namespaces.iter().cloned().collect()
            };
            for namespace in namespaces {
                if !per_namespace::selects(spec, &self.partition, &namespace) {
                    baseline.kept.remove(&namespace);
                    continue;
                }
                let part = self
                    .partition
                    .with_namespace_view(&mut base, &namespace, |view| {
                        per_namespace::security_baseline(spec, &namespace, view)
                    });
                self.namespace_evaluations += 1;
                baseline.kept.insert(namespace, Arc::new(part));
            }
        }
    }

    /// [`Self::settle`] for the EnvironmentIsolations alone: all the parts of one whose spec
    /// changed (or when `dirty.whole`), else those of the namespaces `dirty` names.
    pub fn settle_isolations(&mut self, dirty: &Dirty) {
        let judged: BTreeSet<&str> = dirty
            .namespaces
            .iter()
            .chain(&dirty.isolations)
            .map(String::as_str)
            .collect();
        let mut whole: Option<Snapshot> = None;
        let mut view: Option<Snapshot> = None;
        // Kept up to date per Namespace event: a few namespaces' parts do not resolve every
        // namespace's environments.
        let known = self.partition.environments();
        for (name, isolation) in &mut self.isolations {
            let Some(spec) = &isolation.spec else {
                continue;
            };
            let all = dirty.whole
                || dirty.resources.contains(&ResourceKey {
                    kind: ResourceKind::EnvironmentIsolation,
                    name: name.clone(),
                });
            if !all && judged.is_empty() {
                continue;
            }
            // Judging a few namespaces reads their objects, the cluster-scoped ones, and from
            // the others only what their parts compare with: Secrets, and the pods' and
            // Services' addresses.
            let snapshot = if all {
                whole.get_or_insert_with(|| self.partition.whole())
            } else {
                view.get_or_insert_with(|| self.partition.view_of(&judged))
            };
            let computed;
            let envs = match known.map_of(&spec.environments) {
                Some(kept) => kept,
                None => {
                    computed = environments_of(&spec.environments, snapshot);
                    &computed
                }
            };
            let detects_copies = spec
                .production_data
                .as_ref()
                .is_some_and(|data| data.detect_copied_secrets);
            let production = detects_copies.then(|| {
                let version = self.partition.secrets_and_environments();
                match &isolation.production {
                    Some((at, kept)) if *at == version => kept.clone(),
                    _ => {
                        let built = Arc::new(ProductionSecrets::of(snapshot, envs));
                        isolation.production = Some((version, built.clone()));
                        built
                    }
                }
            });
            let parts = isolation::namespace_parts(
                name,
                spec,
                snapshot,
                envs,
                &|ns| all || judged.contains(ns),
                production.as_deref(),
            );
            if all {
                isolation.kept = parts;
                self.whole_evaluations.set(self.whole_evaluations.get() + 1);
            } else {
                for namespace in &judged {
                    isolation.kept.remove(*namespace);
                }
                isolation.kept.extend(parts);
                self.isolation_parts += judged.len() as u64;
            }
        }
    }

    /// `apply` then `settle`.
    pub fn apply_and_settle(&mut self, event: Event) -> Dirty {
        let dirty = self.apply(event);
        self.settle(&dirty);
        dirty
    }

    /// A resource's Evaluation; `None` when there is no such resource or its spec is invalid.
    pub fn evaluation(&self, resource: &ResourceKey, now: Timestamp) -> Option<Evaluation> {
        let cluster = self.partition.cluster();
        match resource.kind {
            ResourceKind::SecurityBaseline => {
                let baseline = self.baselines.get(&resource.name)?;
                let spec = baseline.spec.as_ref()?;
                Some(BaselineFold::of(&resource.name, spec, cluster, &baseline.kept).fold(now))
            }
            ResourceKind::EnvironmentIsolation => {
                let isolation = self.isolations.get(&resource.name)?;
                let spec = isolation.spec.as_ref()?;
                Some(self.assemble_isolation(&resource.name, spec, isolation, now))
            }
            ResourceKind::BackupPolicy => self.backup_policy_evaluation(&resource.name, None, now),
        }
    }

    /// A SecurityBaseline's Evaluation when the engine judges it by `spec` (the spec the
    /// caller validated); `None` when it knows another spec (its watch is behind or ahead of
    /// the caller's) or no such resource.
    pub fn security_baseline_by(
        &self,
        name: &str,
        spec: &ValidSecurityBaseline,
        now: Timestamp,
    ) -> Option<Evaluation> {
        let baseline = self.baselines.get(name)?;
        if baseline.spec.as_ref() != Some(spec) {
            return None;
        }
        self.evaluation(
            &ResourceKey {
                kind: ResourceKind::SecurityBaseline,
                name: name.to_string(),
            },
            now,
        )
    }

    /// What folding a SecurityBaseline's evaluation reads, when the engine judges it by
    /// `spec`: taken under the engine's lock (shared parts, the cluster-scoped objects), folded
    /// after it is released ([`BaselineFold::fold`]), so that a fold over thousands of
    /// namespaces does not hold up watch events and other resources' plans. Equal to
    /// [`Self::security_baseline_by`].
    pub fn security_baseline_fold(
        &self,
        name: &str,
        spec: &ValidSecurityBaseline,
    ) -> Option<BaselineFold> {
        let baseline = self.baselines.get(name)?;
        if baseline.spec.as_ref() != Some(spec) {
            return None;
        }
        Some(BaselineFold::of(
            name,
            spec,
            self.partition.cluster(),
            &baseline.kept,
        ))
    }

    /// [`Self::security_baseline_fold`] by the spec the engine keeps for the baseline: what
    /// the periodic check compares with a from-scratch evaluation.
    pub fn security_baseline_fold_kept(&self, name: &str) -> Option<BaselineFold> {
        let spec = self.baselines.get(name)?.spec.clone()?;
        self.security_baseline_fold(name, &spec)
    }

    /// A SecurityBaseline's evaluation of `namespaces` alone (those it selects among them),
    /// when the engine judges it by `spec`: what an enforcement plan for those namespaces
    /// reads, folded without the cluster's other namespaces so that its cost is theirs. Never
    /// evidence: its counts and findings leave the other namespaces out.
    pub fn security_baseline_of(
        &self,
        name: &str,
        spec: &ValidSecurityBaseline,
        namespaces: &std::collections::BTreeSet<String>,
        now: Timestamp,
    ) -> Option<Evaluation> {
        let baseline = self.baselines.get(name)?;
        if baseline.spec.as_ref() != Some(spec) {
            return None;
        }
        let kept: Vec<(&String, &per_namespace::NamespaceOutcomes)> = namespaces
            .iter()
            .filter_map(|ns| baseline.kept.get(ns))
            .collect();
        Some(per_namespace::merge_security_baseline(
            name,
            spec,
            self.partition.cluster(),
            kept.iter().map(|(ns, _)| (*ns).clone()).collect(),
            kept.iter().map(|(_, part)| *part),
            now,
        ))
    }

    /// An EnvironmentIsolation's Evaluation when the engine judges it by `spec` (the spec the
    /// caller validated); `None` when it knows another spec or no such resource.
    pub fn isolation_by(
        &self,
        name: &str,
        spec: &ValidEnvironmentIsolation,
        now: Timestamp,
    ) -> Option<Evaluation> {
        let isolation = self.isolations.get(name)?;
        if isolation.spec.as_ref() != Some(spec) {
            return None;
        }
        Some(self.assemble_isolation(name, spec, isolation, now))
    }

    /// The kept parts with what is no namespace's (see `isolation::assemble`), read from the
    /// cluster-scoped objects alone.
    fn assemble_isolation(
        &self,
        name: &str,
        spec: &ValidEnvironmentIsolation,
        isolation: &Isolation,
        now: Timestamp,
    ) -> Evaluation {
        let cluster = self.partition.cluster_view();
        let known = self.partition.environments();
        let computed;
        let envs = match known.map_of(&spec.environments) {
            Some(kept) => kept,
            None => {
                computed = environments_of(&spec.environments, &cluster);
                &computed
            }
        };
        isolation::assemble(name, spec, &cluster, envs, isolation.kept.values(), now)
    }

    fn backup_policy_named(&self, name: &str) -> Option<&crate::api::BackupPolicy> {
        let policies = &self.partition.cluster().custom_resources.backup_policies;
        policies
            .iter()
            .find(|r| r.metadata.name.as_deref() == Some(name))
            .map(AsRef::as_ref)
    }

    /// The policy's spec validated at `now`; `None` when there is none or it is invalid.
    fn backup_policy_spec(
        &self,
        name: &str,
        now: Timestamp,
    ) -> Option<crate::validate::ValidBackupPolicy> {
        let bp = self.backup_policy_named(name)?;
        crate::validate::backup_policy::validate(&bp.spec, now).ok()
    }

    /// A BackupPolicy's Evaluation, given the last restore test's result (kept in its status,
    /// not in the cluster's objects).
    pub fn backup_policy_evaluation(
        &self,
        name: &str,
        last_restore_test: Option<&crate::api::backup_policy::RestoreTestResult>,
        now: Timestamp,
    ) -> Option<Evaluation> {
        let spec = self.backup_policy_spec(name, now)?;
        self.whole_evaluations.set(self.whole_evaluations.get() + 1);
        Some(backup::evaluate(
            name,
            &spec,
            last_restore_test,
            &self.partition.whole(),
            now,
        ))
    }

    /// A BackupPolicy's evaluation judged by `spec` (the spec the caller validated): its
    /// per-namespace part settled here (only the namespaces changed since, or whose findings
    /// stopped holding at `now`), the rest judged from `cluster` (Velero's objects and state
    /// as the caller sees them). `None` when the engine does not know the policy.
    pub fn backup_policy_by(
        &mut self,
        name: &str,
        spec: &crate::validate::ValidBackupPolicy,
        now: Timestamp,
    ) -> Option<backup::NamespaceParts> {
        self.backup_policy_named(name)?;
        let state = self.backups.entry(name.to_string()).or_insert(None);
        let (parts, judged) =
            super::backups::fold(state, &self.partition, self.backups_epoch, name, spec, now);
        self.backup_parts += judged.namespaces;
        Some(parts)
    }

    /// A BackupPolicy's Evaluation as the operator makes it: its spec validated at `now`, its
    /// per-namespace part from [`Self::backup_policy_by`].
    pub fn backup_policy(
        &mut self,
        name: &str,
        last_restore_test: Option<&crate::api::backup_policy::RestoreTestResult>,
        now: Timestamp,
    ) -> Option<Evaluation> {
        let spec = self.backup_policy_spec(name, now)?;
        let parts = self.backup_policy_by(name, &spec, now)?;
        Some(backup::evaluate_with(
            name,
            &spec,
            last_restore_test,
            self.partition.cluster(),
            now,
            Some(parts),
        ))
    }

    /// Every custom resource the engine knows.
    pub fn resources(&self) -> Vec<ResourceKey> {
        let cluster = &self.partition.cluster().custom_resources;
        let named = |kind, name: &Option<String>| ResourceKey {
            kind,
            name: name.clone().unwrap_or_default(),
        };
        let baselines = cluster
            .security_baselines
            .iter()
            .map(|r| named(ResourceKind::SecurityBaseline, &r.metadata.name));
        let isolations = cluster
            .environment_isolations
            .iter()
            .map(|r| named(ResourceKind::EnvironmentIsolation, &r.metadata.name));
        let policies = cluster
            .backup_policies
            .iter()
            .map(|r| named(ResourceKind::BackupPolicy, &r.metadata.name));
        baselines.chain(isolations).chain(policies).collect()
    }

    /// The whole cluster as one Snapshot: what a from-scratch evaluation reads.
    pub fn snapshot(&self) -> Snapshot {
        self.partition.whole()
    }

    /// The namespaces a SecurityBaseline's evaluation is kept for.
    pub fn kept_namespaces(&self, baseline: &str) -> Vec<String> {
        self.baselines
            .get(baseline)
            .map(|b| b.kept.namespaces().cloned().collect())
            .unwrap_or_default()
    }

    /// Whether a Namespace change that set only the keys in `changed` may change what a
    /// kind reading namespaces only through selectors and the restore-test sandbox markers
    /// judges (EnvironmentIsolation, BackupPolicy): some selector reads one of its labels, or
    /// it touched a sandbox marker. The Pod Security labels a SecurityBaseline writes are
    /// neither, unless a selector names them.
    pub fn selectors_read(&self, changed: &ChangedKeys) -> bool {
        use crate::vocabulary::labels::{RESTORE_TEST_LABEL, RESTORE_TEST_POLICY_UID};
        changed
            .labels
            .iter()
            .any(|key| key == RESTORE_TEST_LABEL || self.indexes.selectors_read(key))
            || changed.annotations.contains(RESTORE_TEST_POLICY_UID)
    }

    pub fn counters(&self) -> Counters {
        Counters {
            namespace_evaluations: self.namespace_evaluations,
            whole_evaluations: self.whole_evaluations.get(),
            isolation_parts: self.isolation_parts,
            backup_parts: self.backup_parts,
        }
    }

    pub fn partition(&self) -> &Partition {
        &self.partition
    }
}
