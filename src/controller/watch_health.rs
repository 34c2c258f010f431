//! Which watches are failing, and since when. A reflector whose watch fails keeps serving its
//! last state, so evaluation would go on judging a cluster it no longer sees (a Velero CRD
//! removed, a revoked list right, an API server that keeps refusing). Brief failures are the
//! watcher's business (it retries with backoff); one that lasts past a grace period turns every
//! resource's `Ready` False with reason `WatchFailing`, naming the kind and the error, until
//! the watch lists again.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// Ready's reason while a watch has failed past the grace period.
pub const WATCH_FAILING: &str = crate::conditions::Reason::WatchFailing.as_str();

/// How long a watch may fail before status says so; longer than the watcher's first retries.
pub const DEFAULT_GRACE: Duration = Duration::from_secs(30);

#[derive(Clone, Default)]
pub struct WatchHealth(Arc<Mutex<BTreeMap<String, Failing>>>);

#[derive(Clone, Debug)]
struct Failing {
    since: Instant,
    at: jiff::Timestamp,
    /// The latest failure: a watch that starts again delivers no event while nothing changes,
    /// so recovery shows as failures that stopped coming.
    last: Instant,
    error: String,
}

/// A watch whose last failure is older than this has recovered: the watcher retries a failing
/// watch at least every 30 s (kube's default backoff ceiling), so a longer silence means its
/// retries succeed.
pub const RECOVERED_AFTER: Duration = Duration::from_secs(45);

impl WatchHealth {
    /// Records a failed watch of `kind`; the first failure of a run sets its start.
    pub fn failed(&self, kind: &str, error: &str) {
        let mut all = self.0.lock().unwrap_or_else(|p| p.into_inner());
        let now = Instant::now();
        let entry = all.entry(kind.to_string()).or_insert_with(|| Failing {
            since: now,
            at: jiff::Timestamp::now(),
            last: now,
            error: String::new(),
        });
        if entry.last.elapsed() > RECOVERED_AFTER {
            // Recovered in between: this is a new run of failures.
            entry.since = now;
            entry.at = jiff::Timestamp::now();
        }
        entry.last = now;
        entry.error = error.to_string();
    }

    /// The watch of `kind` delivered events again (a list or a change).
    pub fn recovered(&self, kind: &str) {
        self.0
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .remove(kind);
    }

    /// Watches failing for longer than `grace`, as one message: the kinds, since when, and the
    /// first one's error (one error says what the others say). None when all are healthy.
    /// Without `velero`, Velero's kinds are left out: a SecurityBaseline reads none of them,
    /// so Velero's removal does not make its evidence stale.
    pub fn failing_beyond(&self, grace: Duration, velero: bool) -> Option<String> {
        let all = self.0.lock().unwrap_or_else(|p| p.into_inner());
        let failing: Vec<(&String, &Failing)> = all
            .iter()
            .filter(|(kind, f)| f.beyond(grace) && (velero || !is_velero(kind)))
            .collect();
        let (first_kind, first) = failing.first()?;
        let since = failing.iter().map(|(_, f)| f.at).min().unwrap_or(first.at);
        let kinds: Vec<&str> = failing.iter().map(|(k, _)| k.as_str()).collect();
        Some(format!(
            "the watches of {} have failed since {since}, so figures may describe the cluster as it was, not as it is; {first_kind}: {}",
            kinds.join(", "),
            first.error
        ))
    }

    /// The kinds failing beyond `grace`, to notice when that set changes.
    pub fn kinds_beyond(&self, grace: Duration) -> Vec<String> {
        let all = self.0.lock().unwrap_or_else(|p| p.into_inner());
        all.iter()
            .filter(|(_, f)| f.beyond(grace))
            .map(|(kind, _)| kind.clone())
            .collect()
    }
}

impl Failing {
    /// Failing for longer than `grace`, and still failing.
    fn beyond(&self, grace: Duration) -> bool {
        self.since.elapsed() > grace && self.last.elapsed() < RECOVERED_AFTER
    }
}

/// The kind names of Velero's watched kinds, from the one list (`velero_kinds!`).
macro_rules! velero_kind_names {
    ($($field:ident: $ty:ty,)*) => {
        [$(<$ty as kube::Resource>::kind(&()),)*]
    };
}

/// Velero's kinds, which only BackupPolicy and EnvironmentIsolation read.
fn is_velero(kind: &str) -> bool {
    crate::snapshot::velero_kinds!(velero_kind_names)
        .iter()
        .any(|k| k == kind)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_watched_velero_kind_is_velero_and_nothing_else_is() {
        for kind in ["Schedule", "Backup", "Restore", "BackupStorageLocation"] {
            assert!(is_velero(kind), "{kind}");
        }
        assert!(is_velero("VolumeSnapshotLocation"));
        assert!(!is_velero("Deployment") && !is_velero("Namespace"));
    }

    #[test]
    fn a_failure_is_reported_only_past_the_grace_and_until_recovery() {
        let health = WatchHealth::default();
        health.failed("Schedule", "404 Not Found");
        health.failed("Backup", "404 Not Found");
        assert_eq!(health.failing_beyond(Duration::from_secs(60), true), None);
        std::thread::sleep(Duration::from_millis(20));
        let grace = Duration::from_millis(10);
        let message = health.failing_beyond(grace, true).expect("past the grace");
        assert!(
            message.starts_with("the watches of Backup, Schedule have failed since"),
            "{message}"
        );
        assert!(message.ends_with("Backup: 404 Not Found"), "{message}");
        assert_eq!(health.kinds_beyond(grace), ["Backup", "Schedule"]);
        // Velero's kinds do not concern a resource that reads none of them.
        assert_eq!(health.failing_beyond(grace, false), None);
        health.failed("Pod", "403 Forbidden");
        std::thread::sleep(Duration::from_millis(20));
        let message = health.failing_beyond(grace, false).unwrap();
        assert!(message.ends_with("Pod: 403 Forbidden"), "{message}");
        // Repeated failures keep the first start; recovery clears.
        health.failed("Schedule", "still 404");
        assert!(health.failing_beyond(grace, true).is_some());
        for kind in ["Schedule", "Backup", "Pod"] {
            health.recovered(kind);
        }
        assert_eq!(health.failing_beyond(Duration::ZERO, true), None);
    }
}
