//! How long a failed reconcile waits before the next try: exponential per resource, and
//! slower for refusals that will not go away by themselves (a 403, an invalid body) than for
//! those that will (a 5xx, a 429 asking us to slow down, a 409 lost race, a dropped connection).
//! A success resets the count, so one bad hour is not paid for the next day.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Duration;

/// Whether an error is expected to clear without anyone changing anything.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Persistence {
    /// The server is busy, restarting or lost a race: retry soon.
    Transient,
    /// The server refused the request itself (RBAC, someone's admission policy, a bad body):
    /// retrying at once only adds load, so wait longer.
    Permanent,
}

/// The first wait and the longest one, per persistence.
pub const TRANSIENT_FIRST: Duration = Duration::from_secs(1);
pub const TRANSIENT_MAX: Duration = Duration::from_secs(60);
pub const PERMANENT_FIRST: Duration = Duration::from_secs(15);
pub const PERMANENT_MAX: Duration = Duration::from_secs(600);

/// The wait before retry number `attempt` (1 for the first failure): doubling from the
/// first wait up to the longest.
pub fn delay(persistence: Persistence, attempt: u32) -> Duration {
    let (first, max) = match persistence {
        Persistence::Transient => (TRANSIENT_FIRST, TRANSIENT_MAX),
        Persistence::Permanent => (PERMANENT_FIRST, PERMANENT_MAX),
    };
    let doublings = attempt.saturating_sub(1).min(16);
    first.saturating_mul(1 << doublings).min(max)
}

/// How a kube error persists: an answer from the server with a 4xx code other than 409 and
/// 429 is permanent; everything else (5xx, 409, 429, no answer at all) is transient.
pub fn persistence_of(error: &kube::Error) -> Persistence {
    match error {
        kube::Error::Api(status) if (400..500).contains(&status.code) => {
            if status.code == 409 || status.code == 429 {
                Persistence::Transient
            } else {
                Persistence::Permanent
            }
        }
        kube::Error::SerdeError(_) => Persistence::Permanent,
        _ => Persistence::Transient,
    }
}

/// Consecutive failures per resource (`kind/name`), in memory.
#[derive(Default)]
pub struct Failures(Mutex<HashMap<String, u32>>);

impl Failures {
    /// Counts one more failure of `key` and returns how many in a row.
    pub fn record(&self, key: &str) -> u32 {
        let mut all = self.0.lock().unwrap_or_else(|p| p.into_inner());
        let count = all.entry(key.to_string()).or_default();
        *count = count.saturating_add(1);
        *count
    }

    pub fn reset(&self, key: &str) {
        self.0.lock().unwrap_or_else(|p| p.into_inner()).remove(key);
    }
}

#[cfg(test)]
#[path = "backoff_tests.rs"]
mod tests;
