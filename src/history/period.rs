//! Reading one chain for a period without reading its whole life: start at the last signed
//! snapshot at or before the period ([`super::checkpoint`]), verify the segments after it
//! (linked to the snapshot's hash), and stop after the first segment that reaches the
//! period's end. What is read is O(segments in the period), plus at most a day before it.
//!
//! [`verify_whole`] is the full audit: every segment from the first, and every snapshot
//! checked against the state the chain computes at its entry.

use super::chain::{
    Anchor, BreakReason, Broken, RawSegment, first_seq_in_key, segment_name, verify_after,
};
use super::checkpoint::{self, Boundary, SNAPSHOTS, Snapshot};
use super::entry::Entry;
use super::error::HistoryError;
use super::objects::Objects;
use super::sign::PublicKey;
use jiff::Timestamp;

/// A chain read for a period.
#[derive(Clone, Debug, PartialEq)]
pub struct PeriodRead {
    /// What the report is drawn from: the snapshot's stand-in entries, then every verified
    /// entry read.
    pub entries: Vec<Entry>,
    /// Entries read and verified (the stand-ins not counted).
    pub verified_entries: usize,
    pub segments_read: usize,
    /// The snapshot the reading started at (its name), None: from the first entry.
    pub snapshot: Option<String>,
    /// The last verified entry.
    pub through: Option<Anchor>,
}

/// The key of the segment starting at `first_seq`.
pub fn segment_key<S: Objects>(store: &S, first_seq: u64) -> String {
    store.key_of(&format!("segments/{}", segment_name(first_seq)))
}

/// Reads and verifies what the report of `[from, to)` needs from the chain in `store`, the
/// chain of `cluster` (None: whichever its entries name). `Ok(Err(broken))`: the first broken
/// entry (or snapshot) met.
pub async fn read_period<S: Objects>(
    store: &S,
    cluster: Option<&str>,
    from: Timestamp,
    to: Timestamp,
    trusted: &[PublicKey],
) -> Result<Result<PeriodRead, Broken>, HistoryError> {
    let names = store.names_under(SNAPSHOTS).await?;
    let (anchor, boundary, after, snapshot, snapshot_cluster) =
        match checkpoint::start_for(&names, from) {
            None => (None, Boundary::default(), None, None, None),
            Some((name, seq, _)) => {
                let key = store.key_of(&format!("{SNAPSHOTS}/{name}"));
                let text = store.read(&key).await?;
                let snapshot = match Snapshot::check(&text, &name, cluster, trusted) {
                    Ok(snapshot) => snapshot,
                    Err(problem) => {
                        return Ok(Err(Broken {
                            seq,
                            segment: key,
                            line: 0,
                            reason: BreakReason::Snapshot { problem },
                        }));
                    }
                };
                let anchor = Anchor {
                    seq: snapshot.seq,
                    hash: snapshot.hash.clone(),
                };
                let after = segment_key(store, snapshot.segment_first_seq);
                (
                    Some(anchor),
                    Boundary::from_snapshot(&snapshot),
                    Some(after),
                    Some(name),
                    snapshot.cluster.clone(),
                )
            }
        };
    let mut segments = Vec::new();
    let mut latest = Timestamp::MIN;
    for key in store.segment_keys(after.as_deref()).await? {
        let text = store.read(&key).await?;
        if let Some(last) = last_entry(&text) {
            latest = latest.max(last.record.at);
        }
        segments.push(RawSegment { key, text });
        if latest >= to {
            break;
        }
    }
    // The chain's own cluster id goes on from the snapshot's when none is asked for.
    let cluster = cluster.map(str::to_string).or(snapshot_cluster);
    let verified = match verify_after(anchor.as_ref(), cluster.as_deref(), &segments, trusted) {
        Ok(verified) => verified,
        Err(broken) => return Ok(Err(broken)),
    };
    let through = verified
        .entries
        .last()
        .map(|e| Anchor {
            seq: e.seq,
            hash: e.hash.clone(),
        })
        .or(anchor);
    let verified_entries = verified.entries.len();
    let mut entries = boundary.report_prefix();
    entries.extend(verified.entries);
    Ok(Ok(PeriodRead {
        entries,
        verified_entries,
        segments_read: segments.len(),
        snapshot,
        through,
    }))
}

/// The last entry of a segment's text, unverified (to know when to stop reading).
fn last_entry(text: &str) -> Option<Entry> {
    let line = text.lines().rev().find(|l| !l.trim().is_empty())?;
    serde_json::from_str(line).ok()
}

/// The whole chain, verified, with its snapshots checked.
#[derive(Clone, Debug, PartialEq)]
pub struct WholeChain {
    pub entries: Vec<Entry>,
    pub segments: usize,
    pub snapshots: usize,
}

/// Reads every segment and every snapshot of the chain in `store` and verifies them all.
pub async fn verify_whole<S: Objects>(
    store: &S,
    cluster: Option<&str>,
    trusted: &[PublicKey],
) -> Result<Result<WholeChain, Broken>, HistoryError> {
    let mut segments = Vec::new();
    for key in store.segment_keys(None).await? {
        let text = store.read(&key).await?;
        segments.push(RawSegment { key, text });
    }
    let verified = match verify_after(None, cluster, &segments, trusted) {
        Ok(verified) => verified,
        Err(broken) => return Ok(Err(broken)),
    };
    let mut firsts: Vec<u64> = segments
        .iter()
        .filter_map(|s| first_seq_in_key(&s.key))
        .collect();
    firsts.sort();
    let segment_of = |seq: u64| firsts.iter().rev().find(|f| **f <= seq).copied();
    let mut snapshots = Vec::new();
    for name in store.names_under(SNAPSHOTS).await? {
        let text = store
            .read(&store.key_of(&format!("{SNAPSHOTS}/{name}")))
            .await?;
        snapshots.push((name, text));
    }
    let chain_cluster = cluster
        .map(str::to_string)
        .or_else(|| verified.entries.iter().find_map(|e| e.cluster.clone()));
    match checkpoint::check_against_chain(
        &verified.entries,
        &snapshots,
        chain_cluster.as_deref(),
        trusted,
        segment_of,
    ) {
        Ok(checked) => Ok(Ok(WholeChain {
            entries: verified.entries,
            segments: verified.segments,
            snapshots: checked,
        })),
        Err(broken) => Ok(Err(broken)),
    }
}
