//! The operator's side of the evidence history ([`crate::history`]): what a reconcile appends.
//!
//! Only the leader writes, because the controllers run only while this replica leads and the
//! process exits when it loses the lease. A new leader opens the stored chain (verifying it)
//! and continues from its head, so a failover never forks it; two writers racing for the same
//! sequence number cannot both store it (see [`crate::history::Log`]).
//!
//! What is appended is decided from the chain, not from the stored status: a control seen
//! for the first time, a changed state or changed facts, and a checkpoint per control once its
//! last record is a checkpoint interval old. A new leader reads what the chain last said
//! (possibly its predecessor's) and goes on from there. A record that could not be stored is
//! retried by the next reconcile, because the chain still says the old thing.

use crate::api::{ControlResult, Exemption};
use crate::history::{HistoryError, Log, Observation, Record, ResourceRef, SigningKey, Store};
use jiff::{SignedDuration, Timestamp};
use tokio::sync::Mutex;

/// Where the history goes and how it is signed (`--history-*`).
#[derive(Clone, Debug)]
pub struct HistoryConfig {
    pub store: Store,
    pub key: SigningKey,
    /// How often an unchanged control is recorded again ("still Pass, checked N objects"):
    /// silence longer than this is a gap in the period report.
    pub checkpoint: SignedDuration,
    /// This cluster's id in a fleet (`--history-cluster-id`): every entry names it, and
    /// `store` is already the cluster's own chain (`<prefix>/clusters/<id>/`). None: today's
    /// layout, entries without an id.
    pub cluster: Option<String>,
}

/// The default checkpoint interval: daily.
pub const DEFAULT_CHECKPOINT: std::time::Duration = std::time::Duration::from_secs(86_400);

/// Reason of a Ready=False condition when the history could not be written.
pub const HISTORY_UNAVAILABLE: &str = crate::conditions::Reason::HistoryUnavailable.as_str();

/// The leader's writer: the log is opened on first use (and again after a failure), and its
/// opening is recorded as `Started`.
pub struct HistoryWriter {
    config: HistoryConfig,
    identity: String,
    log: Mutex<Option<Log>>,
}

impl HistoryWriter {
    pub fn new(config: HistoryConfig, identity: String) -> Self {
        Self {
            config,
            identity,
            log: Mutex::default(),
        }
    }

    /// Where the history is written, for logs and messages (never credentials).
    pub fn describe(&self) -> String {
        self.config.store.describe()
    }

    /// Opens the chain and records that this replica started writing. Called when it starts
    /// leading; a failure is retried by every reconcile until it succeeds.
    pub async fn start(&self, now: Timestamp) -> Result<(), HistoryError> {
        let mut log = self.log.lock().await;
        self.open(&mut log, now).await.map(|_| ())
    }

    /// Appends what the evaluation of `controls` calls for (see [`crate::history::Latest::due`]).
    pub async fn record(
        &self,
        resource: ResourceRef,
        generation: Option<i64>,
        spec_hash: String,
        controls: &[ControlResult],
        exemptions: &[Exemption],
        now: Timestamp,
    ) -> Result<(), HistoryError> {
        let observations = controls
            .iter()
            .map(|result| {
                Observation::from_control_result(
                    resource.clone(),
                    generation,
                    spec_hash.clone(),
                    result,
                    exemptions,
                    now,
                )
            })
            .collect();
        let mut guard = self.log.lock().await;
        let log = self.open(&mut guard, now).await?;
        let records = log.latest().due(now, observations, self.config.checkpoint);
        let appended = log.append(records).await;
        if appended.is_err() {
            // Read the chain again next time: another writer may have moved it on.
            *guard = None;
        }
        appended
    }

    /// Records that `resource` is gone: its controls stop being evaluated, which is not a gap.
    pub async fn deleted(&self, resource: ResourceRef, now: Timestamp) -> Result<(), HistoryError> {
        let mut guard = self.log.lock().await;
        let log = self.open(&mut guard, now).await?;
        if !log.latest().resources().contains(&resource) {
            return Ok(());
        }
        let record = Record {
            at: now,
            event: crate::history::Event::Deleted { resource },
        };
        let appended = log.append(vec![record]).await;
        if appended.is_err() {
            *guard = None;
        }
        appended
    }

    /// Records a clean shutdown, after the controllers have stopped.
    pub async fn stop(&self, now: Timestamp) {
        let mut guard = self.log.lock().await;
        if let Some(log) = guard.as_mut()
            && let Err(error) = log.stopped(now).await
        {
            tracing::warn!(%error, "recording the shutdown in the evidence history");
        }
    }

    /// The open log, opening it (and recording `Started`) when it is not.
    async fn open<'a>(
        &self,
        slot: &'a mut Option<Log>,
        now: Timestamp,
    ) -> Result<&'a mut Log, HistoryError> {
        if slot.is_none() {
            let mut log = Log::open_in(
                self.config.store.clone(),
                self.config.key.clone(),
                self.identity.clone(),
                Vec::new(),
                self.config.cluster.clone(),
            )
            .await?;
            log.started(now).await?;
            tracing::info!(
                location = %self.config.store.describe(),
                cluster = self.config.cluster.as_deref().unwrap_or(""),
                head = log.head().map(|h| h.seq),
                "writing the evidence history"
            );
            *slot = Some(log);
        }
        Ok(slot.as_mut().expect("opened above"))
    }
}

/// The history's name for one of the operator's resources.
pub fn resource_ref(kind: &str, name: &str) -> ResourceRef {
    ResourceRef {
        kind: kind.into(),
        name: name.into(),
    }
}

#[cfg(test)]
#[path = "history_tests.rs"]
mod tests;
