//! The object operations the snapshot-aware readers ([`super::period`], [`super::fleet`]) and
//! the writer's snapshots use, as a trait over [`Store`], so that a test or the bench can
//! wrap the real store and count what a reader asks it ([`Counting`]).
//!
//! Keys are what [`Store::segment_keys`] returns (for S3 the whole object key, prefix
//! included; for a directory the path inside it); names (`snapshots/...`) are relative to the
//! chain's root.

use super::error::HistoryError;
use super::store::{Store, Written};
use super::store_local::LocalStore;
use super::store_s3::S3Store;
use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

pub trait Objects: Clone + Send + Sync + 'static {
    /// Where it is, for messages (never credentials).
    fn describe(&self) -> String;
    /// The key of `name` (relative to this store's root).
    fn key_of(&self, name: &str) -> String;
    /// The same bucket or directory rooted at `sub` (a cluster's chain: `clusters/<id>`).
    fn within(&self, sub: &str) -> Result<Self, HistoryError>;
    fn read(&self, key: &str) -> impl Future<Output = Result<String, HistoryError>> + Send;
    fn create(
        &self,
        key: &str,
        text: &str,
    ) -> impl Future<Output = Result<Written, HistoryError>> + Send;
    /// As [`Store::segment_keys`].
    fn segment_keys(
        &self,
        after: Option<&str>,
    ) -> impl Future<Output = Result<Vec<String>, HistoryError>> + Send;
    /// The names directly under `sub` (files and directories), sorted; none when it is absent.
    fn names_under(
        &self,
        sub: &str,
    ) -> impl Future<Output = Result<Vec<String>, HistoryError>> + Send;
}

impl Objects for Store {
    fn describe(&self) -> String {
        Store::describe(self)
    }

    fn key_of(&self, name: &str) -> String {
        match self {
            Store::Local(_) => name.to_string(),
            Store::S3(s3) => s3.key(name),
        }
    }

    fn within(&self, sub: &str) -> Result<Self, HistoryError> {
        let sub = sub.trim_matches('/');
        Ok(match self {
            Store::Local(local) => Store::Local(LocalStore::new(local.dir().join(sub))),
            Store::S3(s3) => {
                let mut config = s3.config().clone();
                config.prefix = s3.key(sub);
                Store::S3(S3Store::new(config)?)
            }
        })
    }

    async fn read(&self, key: &str) -> Result<String, HistoryError> {
        Store::read(self, key).await
    }

    async fn create(&self, key: &str, text: &str) -> Result<Written, HistoryError> {
        Store::create(self, key, text).await
    }

    async fn segment_keys(&self, after: Option<&str>) -> Result<Vec<String>, HistoryError> {
        Store::segment_keys(self, after).await
    }

    async fn names_under(&self, sub: &str) -> Result<Vec<String>, HistoryError> {
        match self {
            Store::Local(local) => local_names(local.dir().join(sub.trim_matches('/'))).await,
            Store::S3(s3) => s3.names_under(sub).await,
        }
    }
}

async fn local_names(dir: std::path::PathBuf) -> Result<Vec<String>, HistoryError> {
    tokio::task::spawn_blocking(move || {
        let entries = match std::fs::read_dir(&dir) {
            Ok(entries) => entries,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
            Err(e) => {
                return Err(HistoryError::Local {
                    operation: "listing",
                    path: dir.display().to_string(),
                    source: e,
                });
            }
        };
        let mut names: Vec<String> = entries
            .filter_map(Result::ok)
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .filter(|name| !name.starts_with('.'))
            .collect();
        names.sort();
        Ok(names)
    })
    .await
    .map_err(|e| HistoryError::Io(format!("file task: {e}")))?
}

/// The real store, with a count of the objects read and the listings asked: what the tests and
/// the bench use to show that a reader reads the period, not the whole chain.
#[derive(Clone, Debug)]
pub struct Counting<S> {
    inner: S,
    reads: Arc<AtomicUsize>,
    listings: Arc<AtomicUsize>,
}

impl<S: Objects> Counting<S> {
    pub fn new(inner: S) -> Self {
        Counting {
            inner,
            reads: Arc::default(),
            listings: Arc::default(),
        }
    }

    /// Objects read so far (by this store and every store made `within` it).
    pub fn reads(&self) -> usize {
        self.reads.load(Ordering::SeqCst)
    }

    /// Listings asked so far.
    pub fn listings(&self) -> usize {
        self.listings.load(Ordering::SeqCst)
    }
}

impl<S: Objects> Objects for Counting<S> {
    fn describe(&self) -> String {
        self.inner.describe()
    }

    fn key_of(&self, name: &str) -> String {
        self.inner.key_of(name)
    }

    fn within(&self, sub: &str) -> Result<Self, HistoryError> {
        Ok(Counting {
            inner: self.inner.within(sub)?,
            reads: self.reads.clone(),
            listings: self.listings.clone(),
        })
    }

    async fn read(&self, key: &str) -> Result<String, HistoryError> {
        self.reads.fetch_add(1, Ordering::SeqCst);
        self.inner.read(key).await
    }

    async fn create(&self, key: &str, text: &str) -> Result<Written, HistoryError> {
        self.inner.create(key, text).await
    }

    async fn segment_keys(&self, after: Option<&str>) -> Result<Vec<String>, HistoryError> {
        self.listings.fetch_add(1, Ordering::SeqCst);
        self.inner.segment_keys(after).await
    }

    async fn names_under(&self, sub: &str) -> Result<Vec<String>, HistoryError> {
        self.listings.fetch_add(1, Ordering::SeqCst);
        self.inner.names_under(sub).await
    }
}
