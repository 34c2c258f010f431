//! The writer the operator holds while it leads: opens the stored chain (verifying it),
//! remembers the head, and appends segments without ever forking the chain.
//!
//! Each append is one segment, stored at the key of its first sequence number only if that
//! key is free. When another writer took it first (a leader that has not stopped yet, a
//! second replica), the append re-reads what was stored after the head, verifies it, and
//! appends on top of it; two writers can interleave but never both write entry N.

use super::chain::{self, RawSegment};
use super::entry::{Entry, Event, Record};
use super::error::HistoryError;
use super::latest::Latest;
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
}

impl Log {
    /// Reads every segment, verifies the chain with the signing key's own public key, and
    /// remembers the head. A chain that does not verify is an error ([`HistoryError::Broken`]
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
        mut trusted: Vec<PublicKey>,
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
        };
        log.catch_up().await?;
        Ok(log)
    }

    /// Appends `records` as one segment after the stored head. When another writer stored a
    /// segment there first, reads and verifies it and tries again on top of it.
    pub async fn append(&mut self, records: Vec<Record>) -> Result<(), HistoryError> {
        if records.is_empty() {
            return Ok(());
        }
        for _ in 0..ATTEMPTS {
            let entries = chain::append(self.head.as_ref(), records.clone(), &self.key);
            let first = entries[0].seq;
            let key = self.store.segment_key(first);
            let text = chain::segment_text(&entries);
            match self.store.create(&key, &text).await? {
                Written::Written => {
                    self.advance(entries, key);
                    return Ok(());
                }
                Written::Taken => {
                    // Our own earlier attempt may have landed (an answer lost on the way).
                    if self.store.read(&key).await.ok().as_deref() == Some(text.as_str()) {
                        self.advance(entries, key);
                        return Ok(());
                    }
                    self.catch_up().await?;
                }
            }
        }
        Err(HistoryError::Contended { attempts: ATTEMPTS })
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
        let verified = chain::verify_from(self.head.as_ref(), &segments, &self.trusted)
            .map_err(HistoryError::Broken)?;
        if let (Some(key), false) = (last_key, verified.entries.is_empty()) {
            self.advance(verified.entries, key);
        }
        Ok(())
    }

    fn advance(&mut self, entries: Vec<Entry>, key: String) {
        for entry in &entries {
            self.latest.apply(&entry.record);
        }
        self.head = entries.into_iter().last().or(self.head.take());
        self.head_key = Some(key);
    }
}
