//! The writer the operator holds while it leads: opens the stored chain (verifying it),
//! remembers the head, and appends segments without ever forking the chain.
//!
//! Each append is one segment, stored at the key of its first sequence number only if that
//! key is free. When another writer took it first (a leader that has not stopped yet, a
//! second replica), the append re-reads what was stored after the head, verifies it, and
//! appends on top of it; two writers can interleave but never both write entry N.

use super::chain::{self, Anchor, BreakReason, Broken, RawSegment};
use super::checkpoint::{self, Boundary, SNAPSHOTS, Snapshot};
use super::entry::{Entry, Event, Record};
use super::error::HistoryError;
use super::latest::Latest;
use super::objects::Objects;
use super::period::segment_key;
use super::sign::{PublicKey, SigningKey};
use super::store::{Store, Written};
use jiff::Timestamp;

/// How many times an append re-reads the head and tries again before it gives up.
const ATTEMPTS: u32 = 10;

#[derive(Debug)]
pub struct Log {
    store: Store,
    key: SigningKey,
    trusted: Vec<PublicKey>,
    identity: String,
    head: Option<Entry>,
    head_key: Option<String>,
    latest: Latest,
    /// The cluster id every entry names (None: entries name none, today's layout).
    cluster: Option<String>,
    /// The chain's state at the head, for the signed snapshots.
    boundary: Boundary,
    /// The last snapshot's time (before the first: the chain's time when opened or first
    /// written): a new UTC day after it calls for the next ([`checkpoint::due`]).
    snapshot_since: Option<Timestamp>,
}

impl Log {
    /// Reads the chain from its newest signed snapshot (or from the first entry when it has
    /// none), verifies it with the signing key's own public key, and remembers the head. A chain that does not verify is an error ([`HistoryError::Broken`]
    /// names the first broken entry): appending after it would hide nothing but would look as
    /// if the break were accepted.
    pub async fn open(
        store: Store,
        key: SigningKey,
        identity: impl Into<String>,
    ) -> Result<Log, HistoryError> {
        let trusted = vec![key.public_key()];
        Log::open_trusting(store, key, identity, trusted).await
    }

    /// As [`Log::open`], trusting older keys too (after the signing key was rotated).
    pub async fn open_trusting(
        store: Store,
        key: SigningKey,
        identity: impl Into<String>,
        trusted: Vec<PublicKey>,
    ) -> Result<Log, HistoryError> {
        Log::open_in(store, key, identity, trusted, None).await
    }

    /// As [`Log::open_trusting`], writing the chain of `cluster` (`--history-cluster-id`):
    /// every entry names it, and an entry of the stored chain naming another breaks it.
    pub async fn open_in(
        store: Store,
        key: SigningKey,
        identity: impl Into<String>,
        mut trusted: Vec<PublicKey>,
        cluster: Option<String>,
    ) -> Result<Log, HistoryError> {
        if !trusted.contains(&key.public_key()) {
            trusted.push(key.public_key());
        }
        let mut log = Log {
            store,
            key,
            trusted,
            identity: identity.into(),
            head: None,
            head_key: None,
            latest: Latest::default(),
            cluster,
            boundary: Boundary::default(),
            snapshot_since: None,
        };
        log.start_at_newest_snapshot().await?;
        log.catch_up().await?;
        log.snapshot_since = log.snapshot_since.or(log.boundary.at);
        Ok(log)
    }

    /// Starts from the newest signed snapshot, if any: its state, and the head entry read from
    /// the segment it ends at (one read).
    async fn start_at_newest_snapshot(&mut self) -> Result<(), HistoryError> {
        let names = Objects::names_under(&self.store, SNAPSHOTS).await?;
        let Some((name, seq, _)) = checkpoint::newest(&names) else {
            return Ok(());
        };
        let key = self.store.key_of(&format!("{SNAPSHOTS}/{name}"));
        let text = self.store.read(&key).await?;
        let broken = |problem: String| {
            HistoryError::Broken(Broken {
                seq,
                segment: key.clone(),
                line: 0,
                reason: BreakReason::Snapshot { problem },
            })
        };
        let snapshot = Snapshot::check(&text, &name, self.cluster.as_deref(), &self.trusted)
            .map_err(broken)?;
        let segment = segment_key(&self.store, snapshot.segment_first_seq);
        let text = self.store.read(&segment).await?;
        // The segment on its own: linked and signed within, starting from its first `prev`.
        let start = serde_json::from_str::<Entry>(text.lines().next().unwrap_or_default())
            .ok()
            .filter(|first| first.seq > 0)
            .map(|first| Anchor {
                seq: first.seq - 1,
                hash: first.prev,
            });
        let raw = [RawSegment {
            key: segment.clone(),
            text,
        }];
        let verified =
            chain::verify_after(start.as_ref(), self.cluster.as_deref(), &raw, &self.trusted)
                .map_err(HistoryError::Broken)?;
        let head = verified.entries.into_iter().last();
        if head.as_ref().map(|h| (h.seq, &h.hash)) != Some((snapshot.seq, &snapshot.hash)) {
            return Err(broken(format!(
                "its segment {segment} does not end at entry {} with its hash",
                snapshot.seq
            )));
        }
        self.boundary = Boundary::from_snapshot(&snapshot);
        self.latest = self.boundary.latest();
        self.head = head;
        self.head_key = Some(segment);
        self.snapshot_since = Some(snapshot.at);
        Ok(())
    }

    /// Appends `records` as one segment after the stored head. When another writer stored a
    /// segment there first, reads and verifies it and tries again on top of it.
    pub async fn append(&mut self, records: Vec<Record>) -> Result<(), HistoryError> {
        if records.is_empty() {
            return Ok(());
        }
        for _ in 0..ATTEMPTS {
            let entries = chain::append_in(
                self.cluster.as_deref(),
                self.head.as_ref(),
                records.clone(),
                &self.key,
            );
            let first = entries[0].seq;
            let key = self.store.segment_key(first);
            let text = chain::segment_text(&entries);
            match self.store.create(&key, &text).await? {
                Written::Written => {
                    self.advance(entries, key);
                    self.snapshot_if_due(first).await;
                    return Ok(());
                }
                Written::Taken => {
                    // Our own earlier attempt may have landed (an answer lost on the way).
                    if self.store.read(&key).await.ok().as_deref() == Some(text.as_str()) {
                        self.advance(entries, key);
                        self.snapshot_if_due(first).await;
                        return Ok(());
                    }
                    self.catch_up().await?;
                }
            }
        }
        Err(HistoryError::Contended { attempts: ATTEMPTS })
    }

    /// Stores a signed snapshot of the chain at the head (the segment starting at
    /// `segment_first_seq` ends there) at the first append of a new UTC day. A snapshot that
    /// could not be stored only makes readers read further back: the append stands.
    async fn snapshot_if_due(&mut self, segment_first_seq: u64) {
        let Some(at) = self.boundary.at else { return };
        let Some(since) = self.snapshot_since else {
            self.snapshot_since = Some(at);
            return;
        };
        if !checkpoint::due(since, at) {
            return;
        }
        let Some(snapshot) =
            self.boundary
                .snapshot(self.cluster.as_deref(), segment_first_seq, &self.key)
        else {
            return;
        };
        let key = self
            .store
            .key_of(&format!("{SNAPSHOTS}/{}", snapshot.name()));
        match self.store.create(&key, &snapshot.to_text()).await {
            Ok(_) => self.snapshot_since = Some(at),
            Err(error) => tracing::warn!(%error, "storing a snapshot of the evidence history"),
        }
    }

    /// Appends `Started { identity }`: call once when this replica starts leading.
    pub async fn started(&mut self, now: Timestamp) -> Result<(), HistoryError> {
        let identity = self.identity.clone();
        self.append(vec![Record {
            at: now,
            event: Event::Started { identity },
        }])
        .await
    }

    /// Appends `Stopped { identity }`: call on a clean shutdown, after the last evaluation.
    pub async fn stopped(&mut self, now: Timestamp) -> Result<(), HistoryError> {
        let identity = self.identity.clone();
        self.append(vec![Record {
            at: now,
            event: Event::Stopped { identity },
        }])
        .await
    }

    /// The last entry stored (None: the log is empty).
    pub fn head(&self) -> Option<&Entry> {
        self.head.as_ref()
    }

    /// What the chain last said about each control (to decide what an evaluation appends:
    /// [`Latest::due`]).
    pub fn latest(&self) -> &Latest {
        &self.latest
    }

    /// The cluster id its entries name.
    pub fn cluster(&self) -> Option<&str> {
        self.cluster.as_deref()
    }

    pub fn identity(&self) -> &str {
        &self.identity
    }

    pub fn store(&self) -> &Store {
        &self.store
    }

    /// Reads and verifies the segments stored after the head, and moves the head to their end.
    async fn catch_up(&mut self) -> Result<(), HistoryError> {
        let segments: Vec<RawSegment> = self.store.read_segments(self.head_key.as_deref()).await?;
        if segments.is_empty() {
            return Ok(());
        }
        let last_key = segments
            .iter()
            .max_by_key(|s| (chain::first_seq_in_key(&s.key), s.key.clone()))
            .map(|s| s.key.clone());
        let anchor = self.head.as_ref().map(|h| Anchor {
            seq: h.seq,
            hash: h.hash.clone(),
        });
        let verified = chain::verify_after(
            anchor.as_ref(),
            self.cluster.as_deref(),
            &segments,
            &self.trusted,
        )
        .map_err(HistoryError::Broken)?;
        if let (Some(key), false) = (last_key, verified.entries.is_empty()) {
            self.advance(verified.entries, key);
        }
        Ok(())
    }

    fn advance(&mut self, entries: Vec<Entry>, key: String) {
        for entry in &entries {
            self.latest.apply(&entry.record);
            self.boundary.apply(entry);
        }
        self.head = entries.into_iter().last().or(self.head.take());
        self.head_key = Some(key);
    }
}
