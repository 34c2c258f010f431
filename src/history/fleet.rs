//! A fleet: every cluster's operator writes its own chain under its cluster id in one bucket
//! (`<prefix>/clusters/<id>/segments/...`, `--history-cluster-id`), each entry naming the
//! cluster under its signature. The fleet report verifies every cluster's chain for the
//! period on its own, so a broken chain is named for its cluster and the others are still
//! reported.
//!
//! A chain written without a cluster id (`<prefix>/segments/`, the layout before fleets) is
//! read too, as the cluster [`DEFAULT_CLUSTER`].

use super::chain::Broken;
use super::entry::Entry;
use super::error::HistoryError;
use super::objects::Objects;
use super::period::read_period;
use super::report::{ControlReport, PeriodReport, Span, report};
use super::sign::PublicKey;
use futures::StreamExt;
use jiff::{SignedDuration, Timestamp};
use serde::{Deserialize, Serialize};

/// Where the clusters' chains are, under the bucket's prefix (or the directory).
pub const CLUSTERS: &str = "clusters";

/// The name the fleet report gives the chain written without a cluster id.
pub const DEFAULT_CLUSTER: &str = "(no cluster id)";

/// How many clusters are read at once.
const CONCURRENCY: usize = 8;

/// A cluster id is a path segment of every key of its chain: a DNS label (lowercase letters,
/// digits and `-`, 1-63, starting and ending with a letter or digit).
pub fn check_cluster_id(id: &str) -> Result<(), String> {
    let ok = (1..=63).contains(&id.len())
        && id
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        && !id.starts_with('-')
        && !id.ends_with('-');
    if ok {
        Ok(())
    } else {
        Err(format!(
            "cluster id {id:?} is not a DNS label (a-z, 0-9 and -, at most 63, no - at either end)"
        ))
    }
}

/// The chain of cluster `id` in the fleet rooted at `root`.
pub fn cluster_store<S: Objects>(root: &S, id: &str) -> Result<S, HistoryError> {
    check_cluster_id(id).map_err(HistoryError::Io)?;
    root.within(&format!("{CLUSTERS}/{id}"))
}

/// The fleet's cluster ids (names under `clusters/` that are cluster ids), sorted.
pub async fn cluster_ids<S: Objects>(root: &S) -> Result<Vec<String>, HistoryError> {
    let mut ids: Vec<String> = root
        .names_under(CLUSTERS)
        .await?
        .into_iter()
        .filter(|name| check_cluster_id(name).is_ok())
        .collect();
    ids.sort();
    Ok(ids)
}

/// The fleet's period report.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct FleetReport {
    pub from: Timestamp,
    pub to: Timestamp,
    /// Where the fleet is (`s3://bucket/prefix at endpoint`, a directory).
    pub source: String,
    pub checkpoint_interval_seconds: i64,
    pub max_silence_seconds: i64,
    pub trusted_key_ids: Vec<String>,
    /// One per cluster, by id; broken ones too.
    pub clusters: Vec<ClusterReport>,
}

impl FleetReport {
    /// The clusters whose chain did not verify (or could not be read).
    pub fn broken(&self) -> impl Iterator<Item = &ClusterReport> {
        self.clusters.iter().filter(|c| !c.verified)
    }
}

/// One cluster over the period.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ClusterReport {
    pub cluster: String,
    pub source: String,
    /// True only when every entry read for the period verified: only then are `controls`
    /// and `recordingGaps` given.
    pub verified: bool,
    /// The first broken entry (or snapshot) met.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub broken: Option<Broken>,
    /// The same, in words.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub broken_text: Option<String>,
    /// The chain could not be read at all (access, network).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// The signed snapshot the reading started at (None: from the first entry).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub snapshot: Option<String>,
    pub segments_read: usize,
    pub entries_verified: usize,
    /// The last verified entry: seq and hash.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub through_seq: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub through_hash: Option<String>,
    /// Stretches of the period when this cluster's operator recorded nothing.
    pub recording_gaps: Vec<Span>,
    /// Seconds of the period in a recording gap.
    pub recording_gap_seconds: i64,
    pub controls: Vec<ControlReport>,
}

impl ClusterReport {
    /// The cluster's own period report (what a per-cluster renderer, such as the OSCAL one,
    /// takes: one result per cluster). None when its chain did not verify.
    pub fn period_report(&self, fleet: &FleetReport) -> Option<PeriodReport> {
        self.verified.then(|| PeriodReport {
            from: fleet.from,
            to: fleet.to,
            checkpoint_interval_seconds: fleet.checkpoint_interval_seconds,
            max_silence_seconds: fleet.max_silence_seconds,
            chain: Some(super::report::ChainSummary {
                source: self.source.clone(),
                verified: true,
                entries: self.entries_verified as u64,
                segments: self.segments_read,
                head_seq: self.through_seq,
                head_hash: self.through_hash.clone(),
                trusted_key_ids: fleet.trusted_key_ids.clone(),
            }),
            recording_gaps: self.recording_gaps.clone(),
            controls: self.controls.clone(),
        })
    }
}

/// Reads and reports every cluster of the fleet rooted at `root` over `[from, to)`.
pub async fn fleet_report<S: Objects>(
    root: &S,
    from: Timestamp,
    to: Timestamp,
    checkpoint_interval: SignedDuration,
    trusted: &[PublicKey],
) -> Result<FleetReport, HistoryError> {
    let (report, _) =
        fleet_report_with(root, from, to, checkpoint_interval, trusted, &|_, _| ()).await?;
    Ok(report)
}

/// [`fleet_report`], and per cluster what `keep` draws from its period report and verified
/// entries while they are read (None for a chain that did not verify). The entries are not
/// kept: a renderer that needs them (OSCAL observations cite them) takes what it needs here.
pub async fn fleet_report_with<S: Objects, T>(
    root: &S,
    from: Timestamp,
    to: Timestamp,
    checkpoint_interval: SignedDuration,
    trusted: &[PublicKey],
    keep: &(dyn Fn(&PeriodReport, &[Entry]) -> T + Sync),
) -> Result<(FleetReport, Vec<Option<T>>), HistoryError> {
    let mut chains: Vec<(String, Option<String>, S)> = Vec::new();
    if !root.segment_keys(None).await?.is_empty() {
        chains.push((DEFAULT_CLUSTER.to_string(), None, root.clone()));
    }
    for id in cluster_ids(root).await? {
        let store = cluster_store(root, &id)?;
        chains.push((id.clone(), Some(id), store));
    }
    let clusters = futures::stream::iter(chains)
        .map(|(name, id, store)| async move {
            cluster_report_with(
                &store,
                name,
                id.as_deref(),
                from,
                to,
                checkpoint_interval,
                trusted,
                keep,
            )
            .await
        })
        .buffered(CONCURRENCY)
        .collect::<Vec<_>>()
        .await;
    let (clusters, kept) = clusters.into_iter().unzip();
    let max_silence = checkpoint_interval + checkpoint_interval / 10;
    let report = FleetReport {
        from,
        to,
        source: root.describe(),
        checkpoint_interval_seconds: checkpoint_interval.as_secs(),
        max_silence_seconds: max_silence.as_secs(),
        trusted_key_ids: trusted.iter().map(PublicKey::key_id).collect(),
        clusters,
    };
    Ok((report, kept))
}

/// One cluster's part: its chain read for the period and verified on its own.
pub async fn cluster_report<S: Objects>(
    store: &S,
    name: String,
    id: Option<&str>,
    from: Timestamp,
    to: Timestamp,
    checkpoint_interval: SignedDuration,
    trusted: &[PublicKey],
) -> ClusterReport {
    let keep: &(dyn Fn(&PeriodReport, &[Entry]) + Sync) = &|_, _| ();
    cluster_report_with(
        store,
        name,
        id,
        from,
        to,
        checkpoint_interval,
        trusted,
        keep,
    )
    .await
    .0
}

/// [`cluster_report`], and what `keep` draws from the verified period (see
/// [`fleet_report_with`]).
#[allow(clippy::too_many_arguments)]
async fn cluster_report_with<S: Objects, T>(
    store: &S,
    name: String,
    id: Option<&str>,
    from: Timestamp,
    to: Timestamp,
    checkpoint_interval: SignedDuration,
    trusted: &[PublicKey],
    keep: &(dyn Fn(&PeriodReport, &[Entry]) -> T + Sync),
) -> (ClusterReport, Option<T>) {
    let mut cluster = ClusterReport {
        cluster: name,
        source: store.describe(),
        verified: false,
        broken: None,
        broken_text: None,
        error: None,
        snapshot: None,
        segments_read: 0,
        entries_verified: 0,
        through_seq: None,
        through_hash: None,
        recording_gaps: Vec::new(),
        recording_gap_seconds: 0,
        controls: Vec::new(),
    };
    let mut kept = None;
    match read_period(store, id, from, to, trusted).await {
        Err(error) => cluster.error = Some(error.to_string()),
        Ok(Err(broken)) => {
            cluster.broken_text = Some(broken.to_string());
            cluster.broken = Some(broken);
        }
        Ok(Ok(read)) => {
            let period = report(&read.entries, from, to, checkpoint_interval);
            kept = Some(keep(&period, &read.entries));
            cluster.verified = true;
            cluster.snapshot = read.snapshot;
            cluster.segments_read = read.segments_read;
            cluster.entries_verified = read.verified_entries;
            cluster.through_seq = read.through.as_ref().map(|a| a.seq);
            cluster.through_hash = read.through.map(|a| a.hash);
            cluster.recording_gap_seconds = period.recording_gaps.iter().map(|s| s.seconds).sum();
            cluster.recording_gaps = period.recording_gaps;
            cluster.controls = period.controls;
        }
    }
    (cluster, kept)
}
