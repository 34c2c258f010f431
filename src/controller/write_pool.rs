//! One bounded pool for the writes every controller makes (applies, replaces, deletes, label
//! patches, status): writes run concurrently, as many at once as the apply floor uses, so that
//! converging a thousand namespaces is not a thousand round trips one after the other, while
//! the API server never sees more than the bound from this process, whichever controllers are
//! busy. A write the server throttles (429) waits and tries again here, instead of failing the
//! whole reconcile.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::Semaphore;

/// Writes in flight at once, across all controllers: what the apply floor of the scale bench
/// runs (`benches/scale.rs`).
pub const WRITE_CONCURRENCY: usize = 32;

/// How often a throttled write is tried again before it counts as failed.
const THROTTLED_RETRIES: u32 = 5;
/// The first wait after a 429; doubled per retry.
const FIRST_BACKOFF: Duration = Duration::from_millis(100);

/// Shared by every controller through the `Context`; cloning shares the bound.
#[derive(Clone)]
pub struct WritePool {
    permits: Arc<Semaphore>,
    first_backoff: Duration,
}

impl Default for WritePool {
    fn default() -> Self {
        Self::new(WRITE_CONCURRENCY)
    }
}

impl WritePool {
    pub fn new(concurrency: usize) -> Self {
        Self {
            permits: Arc::new(Semaphore::new(concurrency.max(1))),
            first_backoff: FIRST_BACKOFF,
        }
    }

    /// The same pool waiting `first` after the first 429 (tests use a short one).
    pub fn with_backoff(mut self, first: Duration) -> Self {
        self.first_backoff = first;
        self
    }

    /// Runs `attempt` holding one of the pool's permits, trying again with backoff while the
    /// server answers 429 Too Many Requests. Any other answer, success or error, is returned.
    pub async fn write<T, F, Fut>(&self, mut attempt: F) -> Result<T, kube::Error>
    where
        F: FnMut() -> Fut,
        Fut: Future<Output = Result<T, kube::Error>>,
    {
        // The semaphore is never closed, so acquiring only fails if it were; write anyway.
        let _permit = self.permits.acquire().await.ok();
        let mut wait = self.first_backoff;
        let mut retries = 0;
        loop {
            match attempt().await {
                Err(kube::Error::Api(status))
                    if status.code == 429 && retries < THROTTLED_RETRIES =>
                {
                    tracing::debug!(retries, "write throttled by the API server; waiting");
                    tokio::time::sleep(wait).await;
                    wait *= 2;
                    retries += 1;
                }
                answer => return answer,
            }
        }
    }

    /// Permits free now (for tests and metrics).
    pub fn available(&self) -> usize {
        self.permits.available_permits()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};

    fn throttled() -> kube::Error {
        kube::Error::Api(
            kube::core::Status::failure("slow down", "TooManyRequests")
                .with_code(429)
                .boxed(),
        )
    }

    #[tokio::test]
    async fn a_throttled_write_is_tried_again_until_it_succeeds() {
        let pool = WritePool::new(2).with_backoff(Duration::from_millis(1));
        let calls = AtomicUsize::new(0);
        let answer = pool
            .write(|| async {
                if calls.fetch_add(1, Ordering::SeqCst) < 2 {
                    Err(throttled())
                } else {
                    Ok(7)
                }
            })
            .await;
        assert_eq!(answer.ok(), Some(7));
        assert_eq!(calls.load(Ordering::SeqCst), 3);
    }

    #[tokio::test]
    async fn a_write_throttled_every_time_fails_after_the_retries() {
        let pool = WritePool::new(1).with_backoff(Duration::from_millis(1));
        let calls = AtomicUsize::new(0);
        let answer: Result<(), _> = pool
            .write(|| async {
                calls.fetch_add(1, Ordering::SeqCst);
                Err(throttled())
            })
            .await;
        assert!(matches!(answer, Err(kube::Error::Api(s)) if s.code == 429));
        assert_eq!(calls.load(Ordering::SeqCst), 1 + THROTTLED_RETRIES as usize);
    }

    #[tokio::test]
    async fn other_errors_are_not_retried() {
        let pool = WritePool::new(1);
        let calls = AtomicUsize::new(0);
        let answer: Result<(), _> = pool
            .write(|| async {
                calls.fetch_add(1, Ordering::SeqCst);
                Err(kube::Error::Api(
                    kube::core::Status::failure("conflict", "Conflict")
                        .with_code(409)
                        .boxed(),
                ))
            })
            .await;
        assert!(answer.is_err());
        assert_eq!(calls.load(Ordering::SeqCst), 1);
    }

    #[tokio::test]
    async fn no_more_writes_run_at_once_than_the_bound() {
        let pool = WritePool::new(3);
        let running = Arc::new(AtomicUsize::new(0));
        let most = Arc::new(AtomicUsize::new(0));
        let writes = (0..20).map(|_| {
            let (pool, running, most) = (pool.clone(), running.clone(), most.clone());
            async move {
                pool.write(|| async {
                    let now = running.fetch_add(1, Ordering::SeqCst) + 1;
                    most.fetch_max(now, Ordering::SeqCst);
                    tokio::task::yield_now().await;
                    tokio::time::sleep(Duration::from_millis(2)).await;
                    running.fetch_sub(1, Ordering::SeqCst);
                    Ok::<_, kube::Error>(())
                })
                .await
            }
        });
        futures::future::join_all(writes).await;
        assert_eq!(most.load(Ordering::SeqCst), 3);
        assert_eq!(pool.available(), 3);
    }
}
