//! What a plan reads: the stores and the settings the controls judge by, without the client.
//! Every kind's plan step takes a [`Reads`], never the [`super::context::Context`]: a plan
//! cannot write, publish an event or call the API server, and the compiler holds it to that.
//! (The fetch step, `Reconciled::prepare`, adds Velero's records here before the plan.)

use super::stores::Stores;
use std::sync::{Arc, Mutex};

/// How many Velero records of each sort stay cached.
const MAX_RECORDS: usize = 32;

pub struct Reads {
    pub stores: Stores,
    /// The operator's own user name, so that its own writes pass label protection.
    pub username: Option<String>,
    /// The user names of Velero's server, which label protection lets recreate a deleted
    /// namespace with its labels.
    pub restorers: Vec<String>,
    /// Whether Secrets are watched for copied-secret detection.
    pub detects_copied_secrets: bool,
    /// Namespaces no resource touches: the built-in list plus the operator's own namespace
    /// and `--excluded-namespaces`.
    pub excluded: crate::snapshot::ExcludedNamespaces,
    /// The namespace whose Velero objects the operator watches and writes.
    pub velero_namespace: String,
    /// What Velero recorded about backups and restores, fetched for restore tests. Velero
    /// never rewrites a record, so entries stay true; one per tested backup and restore.
    velero_records: Mutex<crate::vocabulary::velero_records::VeleroRecords>,
}

impl Reads {
    /// The stores with the default settings (the operator sets its own from its flags).
    pub fn new(stores: Stores) -> Self {
        Self {
            stores,
            username: None,
            restorers: Vec::new(),
            detects_copied_secrets: false,
            excluded: Default::default(),
            velero_namespace: super::DEFAULT_VELERO_NAMESPACE.into(),
            velero_records: Mutex::default(),
        }
    }

    /// The Velero records fetched so far (cheap: the records themselves are shared).
    pub fn velero_records(&self) -> crate::vocabulary::velero_records::VeleroRecords {
        self.velero_records
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clone()
    }

    pub fn remember_backup(
        &self,
        name: &str,
        record: Arc<
            crate::vocabulary::velero_records::Record<
                crate::vocabulary::velero_records::BackupContents,
            >,
        >,
    ) {
        let mut records = self
            .velero_records
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        // Bounded: a reconcile needs one backup and one restore per policy; an evicted
        // record is simply fetched again.
        if records.backups.len() >= MAX_RECORDS {
            records.backups.clear();
        }
        records.backups.insert(name.to_string(), record);
    }

    pub fn remember_restore(
        &self,
        name: &str,
        record: Arc<
            crate::vocabulary::velero_records::Record<
                crate::vocabulary::velero_records::RestoreOutcome,
            >,
        >,
    ) {
        let mut records = self
            .velero_records
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        // Bounded: a reconcile needs one backup and one restore per policy; an evicted
        // record is simply fetched again.
        if records.restores.len() >= MAX_RECORDS {
            records.restores.clear();
        }
        records.restores.insert(name.to_string(), record);
    }

    /// The cluster as the stores see it, with this operator's excluded namespaces.
    pub fn snapshot(&self) -> crate::snapshot::Snapshot {
        self.completed(self.stores.snapshot())
    }

    /// [`Self::snapshot`] without namespaced objects (see `Stores::cluster_snapshot`): for
    /// plans that render from namespaces' labels and the custom resources alone.
    pub fn cluster_snapshot(&self) -> crate::snapshot::Snapshot {
        let mut snapshot = self.completed(self.stores.cluster_snapshot());
        // The environments as the engine keeps them per Namespace event (the engine's
        // evaluations read the same): computing them from this snapshot matched every
        // namespace against every environment's selector in each plan (most of a new
        // namespace's enforcement plan at 3,200 namespaces). A namespace the engine has not
        // been fed yet is in no environment here; its own event wakes a pass once it has. Until
        // the engine has the lists, they are computed here.
        if let Some(environments) = self.stores.engine.environments() {
            snapshot.derived = crate::snapshot::derived::Derived::shared_with(environments);
        }
        snapshot
    }

    /// What a BackupPolicy's plan reads: [`Self::cluster_snapshot`] (the Namespaces, Velero's
    /// objects, the custom resources) and, while a Restore exists or a namespace looks like a
    /// restore-test sandbox (by its name: a superset of what `vocabulary::sandbox` accepts),
    /// every namespaced object too: verifying a restore looks for the backed-up objects in its
    /// sandbox, and the quarantine check reads the sandbox's NetworkPolicies. Without either,
    /// nothing a policy judges is namespaced, and copying every store per pass was a third of
    /// a policy's pass at 3,200 namespaces.
    pub fn backup_snapshot(&self) -> crate::snapshot::Snapshot {
        use crate::vocabulary::labels::RESTORE_TEST_PREFIX;
        let cluster = self.cluster_snapshot();
        // A sandbox carries the name prefix (and more, see `vocabulary::sandbox`).
        let sandbox_like = cluster.namespaces.iter().any(|ns| {
            ns.metadata
                .name
                .as_deref()
                .is_some_and(|n| n.starts_with(RESTORE_TEST_PREFIX))
        });
        if sandbox_like || !cluster.velero.restores.is_empty() {
            self.snapshot()
        } else {
            cluster
        }
    }

    /// A snapshot from the stores with this operator's settings.
    fn completed(&self, stores: crate::snapshot::Snapshot) -> crate::snapshot::Snapshot {
        let mut snapshot = crate::snapshot::Snapshot {
            excluded: self.excluded.clone(),
            ..stores
        };
        let deployed = snapshot
            .namespace_labels()
            .any(|(name, _)| name == self.velero_namespace);
        if !deployed {
            snapshot.velero.namespace_missing = Some(self.velero_namespace.clone());
        }
        // Complete now, and only read from here on: what its evaluations derive is shared.
        snapshot.derived = crate::snapshot::derived::Derived::shared();
        snapshot
    }
}
