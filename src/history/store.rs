//! Where the chain's segments live: a local directory (development) or an S3-compatible
//! bucket. Both offer the same four operations, and both write a segment only if no object
//! has that key yet, so two writers can never both store entry N: the second learns that
//! the key is taken, re-reads the head and appends after it (see [`super::log::Log`]).

use super::chain::{RawSegment, first_seq_in_key, segment_name};
use super::error::HistoryError;
use super::store_local::LocalStore;
use super::store_s3::S3Store;

/// Where segments are kept.
#[derive(Clone, Debug)]
pub enum Store {
    Local(LocalStore),
    S3(S3Store),
}

/// What a conditional write did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Written {
    /// The segment is stored.
    Written,
    /// An object with that key already exists (another writer stored this sequence number);
    /// nothing was written.
    Taken,
}

impl Store {
    /// The key of the segment starting at `first_seq`.
    pub fn segment_key(&self, first_seq: u64) -> String {
        let name = segment_name(first_seq);
        match self {
            Store::Local(_) => format!("segments/{name}"),
            Store::S3(s3) => s3.key(&format!("segments/{name}")),
        }
    }

    /// Every segment key after `after` (a segment key; None: all), ordered by first sequence
    /// number. Keys that are not segment names are listed too (verification flags them).
    pub async fn segment_keys(&self, after: Option<&str>) -> Result<Vec<String>, HistoryError> {
        let mut keys = match self {
            Store::Local(local) => local.segment_keys().await?,
            Store::S3(s3) => s3.segment_keys(after).await?,
        };
        if let Some(after) = after {
            let after = (first_seq_in_key(after), after.to_string());
            keys.retain(|k| (first_seq_in_key(k), k.clone()) > after);
        }
        keys.sort_by(|a, b| (first_seq_in_key(a), a).cmp(&(first_seq_in_key(b), b)));
        Ok(keys)
    }

    pub async fn read(&self, key: &str) -> Result<String, HistoryError> {
        match self {
            Store::Local(local) => local.read(key).await,
            Store::S3(s3) => s3.read(key).await,
        }
    }

    /// Stores `text` at `key` only if nothing is there yet.
    pub async fn create(&self, key: &str, text: &str) -> Result<Written, HistoryError> {
        match self {
            Store::Local(local) => local.create(key, text).await,
            Store::S3(s3) => s3.create(key, text).await,
        }
    }

    /// Every segment after `after` (None: all), read.
    pub async fn read_segments(
        &self,
        after: Option<&str>,
    ) -> Result<Vec<RawSegment>, HistoryError> {
        let mut segments = Vec::new();
        for key in self.segment_keys(after).await? {
            let text = self.read(&key).await?;
            segments.push(RawSegment { key, text });
        }
        Ok(segments)
    }

    /// Where the log is, for messages (never credentials).
    pub fn describe(&self) -> String {
        match self {
            Store::Local(local) => local.dir().display().to_string(),
            Store::S3(s3) => s3.describe(),
        }
    }
}
