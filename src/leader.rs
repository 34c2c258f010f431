//! Leader election on a `coordination.k8s.io` Lease, with the guarantees of client-go's
//! `leaderelection` package:
//!
//! - **Expiry by locally observed time.** A candidate never compares the Lease's `renewTime`
//!   with its own clock (clocks of two nodes disagree). It remembers when, on its own monotonic
//!   clock, it last saw the Lease record change, and takes the Lease over only after
//!   `leaseDurationSeconds` pass without a change.
//! - **A renew deadline shorter than the lease.** The leader counts from the moment it *sent*
//!   its last successful renewal (never later than the write a standby observed); once
//!   `renew_deadline` passes without another success, it has lost, even if every request
//!   merely hung: each attempt is cut off at that deadline. Because
//!   `renew_deadline < duration`, the old leader has given up before any standby can take over.
//! - **Losing is final.** Once lost, [`run`] returns and `leading` turns false for good; the
//!   process then exits at once (see `main.rs`), so no writer of a zombie leader survives.
//!
//! - **Renewal never waits for other work.** [`spawn_on_own_thread`] runs the election on a
//!   thread of its own, with its own runtime and its own client, so an evaluation that keeps
//!   every worker of the operator's runtime busy (thousands of namespaces) cannot starve the
//!   renewal past its deadline: the scale benchmark lost the lease that way at 1,000
//!   namespaces when the election shared the operator's runtime and client.
//!
//! Updates go through `replace` with the Lease's resourceVersion as a precondition, so two
//! candidates can never both believe they took the same term: the loser gets a 409.
//!
//! Why not a crate: `kube-leader-election` judges expiry by `renewTime` against the local
//! clock (its documentation says it is vulnerable to clock skew) and has no renew deadline;
//! `kube-lease-manager` also compares timestamps, with a configurable skew allowance;
//! `kube-coordinate` follows client-go but tracks kube's major version and has no release
//! for kube 5, which this project uses. None gives exactly the semantics above.

use jiff::Timestamp;
use k8s_openapi::api::coordination::v1::{Lease, LeaseSpec};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{MicroTime, ObjectMeta};
use kube::Client;
use kube::api::{Api, PostParams};
use std::time::Duration;
use tokio::sync::watch;
use tokio::time::Instant;

#[derive(Clone, Debug)]
pub struct LeaseConfig {
    pub namespace: String,
    pub name: String,
    pub identity: String,
    /// How long a standby waits after the last change it saw before it takes over.
    pub duration: Duration,
    /// How long the leader may go without a successful renewal before it gives up.
    pub renew_deadline: Duration,
    /// Pause between two attempts to acquire or renew.
    pub retry_period: Duration,
}

impl LeaseConfig {
    /// The orderings client-go insists on: without them two leaders could overlap.
    pub fn validate(&self) -> Result<(), String> {
        if self.renew_deadline >= self.duration {
            return Err(format!(
                "the renew deadline ({:?}) must be shorter than the lease duration ({:?})",
                self.renew_deadline, self.duration
            ));
        }
        if self.retry_period.is_zero() || self.retry_period >= self.renew_deadline {
            return Err(format!(
                "the retry period ({:?}) must be positive and shorter than the renew deadline ({:?})",
                self.retry_period, self.renew_deadline
            ));
        }
        if self.identity.is_empty() {
            return Err("the identity must not be empty".into());
        }
        Ok(())
    }
}

#[derive(Debug, thiserror::Error)]
pub enum LeaderError {
    #[error("lease {namespace}/{name}: {source}")]
    Api {
        namespace: String,
        name: String,
        #[source]
        source: kube::Error,
    },
}

/// The fields of a Lease that make up its record; any change of them counts as a sign of life
/// of the holder.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Record {
    pub holder: String,
    pub duration_seconds: i32,
    pub acquire_time: Option<Timestamp>,
    pub renew_time: Option<Timestamp>,
    pub transitions: i32,
}

impl Record {
    fn of(spec: &LeaseSpec) -> Self {
        Self {
            holder: spec.holder_identity.clone().unwrap_or_default(),
            duration_seconds: spec.lease_duration_seconds.unwrap_or(0),
            acquire_time: spec.acquire_time.as_ref().map(|t| t.0),
            renew_time: spec.renew_time.as_ref().map(|t| t.0),
            transitions: spec.lease_transitions.unwrap_or(0),
        }
    }
}

/// The last record seen and when, on this process's monotonic clock, it last changed.
#[derive(Clone, Debug)]
pub struct Observed {
    pub record: Record,
    pub changed_at: Instant,
}

impl Observed {
    /// Folds a freshly read record in: the time moves only when the record changed.
    pub fn update(previous: Option<Observed>, record: Record, now: Instant) -> Observed {
        match previous {
            Some(seen) if seen.record == record => seen,
            _ => Observed {
                record,
                changed_at: now,
            },
        }
    }

    /// Whether another holder's lease has run out, judged only by local time: the record has
    /// not changed for its own `leaseDurationSeconds` since this process first saw it so.
    pub fn expired(&self, now: Instant) -> bool {
        let duration = Duration::from_secs(u64::try_from(self.duration_seconds()).unwrap_or(0));
        now >= self.changed_at + duration
    }

    fn duration_seconds(&self) -> i32 {
        self.record.duration_seconds
    }
}

/// Whether `identity` may write the lease now (take it over or renew it).
pub fn may_take(observed: &Observed, identity: &str, now: Instant) -> bool {
    let holder = observed.record.holder.as_str();
    holder.is_empty() || holder == identity || observed.expired(now)
}

/// Runs [`run`] on a thread of its own, with a single-threaded runtime and a client built
/// there from `kube_config`. A client's requests are driven by a task on the runtime that built
/// it, so the election must not share the operator's client either. The thread ends when
/// [`run`] returns; join it to know the lease was released.
pub fn spawn_on_own_thread(
    kube_config: kube::Config,
    config: LeaseConfig,
    leading: watch::Sender<bool>,
    stop: watch::Receiver<bool>,
) -> std::io::Result<std::thread::JoinHandle<()>> {
    std::thread::Builder::new()
        .name("leader-election".into())
        .spawn(move || {
            let runtime = match tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
            {
                Ok(runtime) => runtime,
                Err(error) => {
                    tracing::error!(%error, "cannot start the leader election's runtime");
                    leading.send_replace(false);
                    return;
                }
            };
            runtime.block_on(async move {
                match Client::try_from(kube_config) {
                    Ok(client) => run(client, config, leading, stop).await,
                    Err(error) => {
                        tracing::error!(%error, "cannot build the leader election's client");
                        leading.send_replace(false);
                    }
                }
            });
        })
}

/// Campaigns until this replica leads, then renews until `stop` turns true (releasing the lease)
/// or leadership is lost (returning at once, with `leading` false). `leading` never turns true
/// again after it turned false: a lost leader must exit and start clean.
pub async fn run(
    client: Client,
    config: LeaseConfig,
    leading: watch::Sender<bool>,
    mut stop: watch::Receiver<bool>,
) {
    let api: Api<Lease> = Api::namespaced(client, &config.namespace);
    let mut observed: Option<Observed> = None;
    // Campaign: try every retry period until the lease is ours.
    let mut last_renewal = loop {
        let stopped = *stop.borrow();
        if stopped {
            return;
        }
        let sent = Instant::now();
        let attempt = tokio::time::timeout(
            config.renew_deadline,
            try_acquire_or_renew(&api, &config, &mut observed),
        );
        match attempt.await {
            Ok(Ok(Attempt::Ours)) => break sent,
            Ok(Ok(Attempt::Theirs | Attempt::Raced)) => {}
            Ok(Err(error)) => tracing::warn!(%error, "leader election"),
            Err(_) => tracing::warn!("leader election: acquiring the lease timed out"),
        }
        tokio::select! {
            _ = tokio::time::sleep(config.retry_period) => {}
            _ = stop.changed() => {}
        }
    };
    leading.send_replace(true);
    // Lead: renew every retry period, each attempt cut off at the renew deadline.
    loop {
        tokio::select! {
            _ = tokio::time::sleep(config.retry_period) => {}
            () = async { drop(stop.wait_for(|s| *s).await) } => {
                release(&api, &config).await;
                leading.send_replace(false);
                return;
            }
        }
        let deadline = last_renewal + config.renew_deadline;
        loop {
            let sent = Instant::now();
            if sent >= deadline {
                tracing::error!(
                    deadline = ?config.renew_deadline,
                    "could not renew the leader lease within the renew deadline"
                );
                leading.send_replace(false);
                return;
            }
            let attempt = tokio::time::timeout_at(
                deadline,
                try_acquire_or_renew(&api, &config, &mut observed),
            );
            match attempt.await {
                Ok(Ok(Attempt::Ours)) => {
                    last_renewal = sent;
                    break;
                }
                Ok(Ok(Attempt::Raced)) => tracing::warn!("renewing the leader lease raced a write"),
                Ok(Ok(Attempt::Theirs)) => {
                    let holder = observed.as_ref().map(|o| o.record.holder.clone());
                    tracing::error!(?holder, "the leader lease was taken over");
                    leading.send_replace(false);
                    return;
                }
                Ok(Err(error)) => tracing::warn!(%error, "renewing the leader lease"),
                Err(_) => continue, // the deadline passed: the check above ends it
            }
            tokio::time::sleep_until((Instant::now() + config.retry_period).min(deadline)).await;
        }
    }
}

/// What one attempt found.
#[derive(Debug, PartialEq)]
enum Attempt {
    /// The lease is ours (created, taken over or renewed).
    Ours,
    /// Someone else holds a live lease.
    Theirs,
    /// Another write came first (409): read again.
    Raced,
}

/// One attempt: reads the lease, folds it into `observed`, and writes it (create, take over or
/// renew) only when [`may_take`] allows.
async fn try_acquire_or_renew(
    api: &Api<Lease>,
    config: &LeaseConfig,
    observed: &mut Option<Observed>,
) -> Result<Attempt, LeaderError> {
    let wrap = |source| LeaderError::Api {
        namespace: config.namespace.clone(),
        name: config.name.clone(),
        source,
    };
    let now = MicroTime(Timestamp::now());
    let duration_seconds = i32::try_from(config.duration.as_secs()).unwrap_or(i32::MAX);
    let Some(mut lease) = api.get_opt(&config.name).await.map_err(wrap)? else {
        let spec = LeaseSpec {
            holder_identity: Some(config.identity.clone()),
            lease_duration_seconds: Some(duration_seconds),
            acquire_time: Some(now.clone()),
            renew_time: Some(now),
            lease_transitions: Some(0),
            ..Default::default()
        };
        let lease = Lease {
            metadata: ObjectMeta {
                name: Some(config.name.clone()),
                ..Default::default()
            },
            spec: Some(spec.clone()),
        };
        return match api.create(&PostParams::default(), &lease).await {
            Ok(_) => {
                *observed = Some(Observed::update(None, Record::of(&spec), Instant::now()));
                Ok(Attempt::Ours)
            }
            Err(kube::Error::Api(status)) if status.code == 409 => Ok(Attempt::Raced),
            Err(e) => Err(wrap(e)),
        };
    };
    let spec = lease.spec.get_or_insert_with(Default::default);
    let seen = Observed::update(observed.take(), Record::of(spec), Instant::now());
    let allowed = may_take(&seen, &config.identity, Instant::now());
    *observed = Some(seen);
    if !allowed {
        return Ok(Attempt::Theirs);
    }
    if spec.holder_identity.as_deref() != Some(config.identity.as_str()) {
        spec.acquire_time = Some(now.clone());
        spec.lease_transitions = Some(spec.lease_transitions.unwrap_or(0) + 1);
    }
    spec.holder_identity = Some(config.identity.clone());
    spec.lease_duration_seconds = Some(duration_seconds);
    spec.renew_time = Some(now);
    let record = Record::of(spec);
    // `replace` carries the resourceVersion we read: a concurrent writer makes this a 409.
    match api
        .replace(&config.name, &PostParams::default(), &lease)
        .await
    {
        Ok(_) => {
            *observed = Some(Observed::update(None, record, Instant::now()));
            Ok(Attempt::Ours)
        }
        Err(kube::Error::Api(status)) if status.code == 409 => Ok(Attempt::Raced),
        Err(e) => Err(wrap(e)),
    }
}

/// Gives the lease up so that a standby takes over at once instead of after it expires. Called
/// only once this replica's writers have stopped.
async fn release(api: &Api<Lease>, config: &LeaseConfig) {
    let released = async {
        if let Ok(Some(mut lease)) = api.get_opt(&config.name).await
            && let Some(spec) = lease.spec.as_mut()
            && spec.holder_identity.as_deref() == Some(config.identity.as_str())
        {
            // As client-go: no holder, a one-second duration, so candidates take it at once.
            spec.holder_identity = None;
            spec.lease_duration_seconds = Some(1);
            spec.renew_time = Some(MicroTime(Timestamp::now()));
            if let Err(error) = api
                .replace(&config.name, &PostParams::default(), &lease)
                .await
            {
                tracing::warn!(%error, "releasing the leader lease");
            }
        }
    };
    if tokio::time::timeout(config.renew_deadline, released)
        .await
        .is_err()
    {
        tracing::warn!("releasing the leader lease timed out; standbys wait for it to expire");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(holder: &str, renewed_secs: i64) -> Record {
        Record {
            holder: holder.into(),
            duration_seconds: 15,
            acquire_time: None,
            renew_time: Some(Timestamp::from_second(renewed_secs).unwrap()),
            transitions: 0,
        }
    }

    #[test]
    fn a_renewal_stamped_far_in_the_past_is_not_expiry() {
        // The holder's clock lags a day behind ours: its renewTime looks ancient, but it is
        // renewing, so its lease is live as long as the record keeps changing.
        let start = Instant::now();
        let mut seen = Observed::update(None, record("a", 0), start);
        for step in 1..10 {
            let now = start + Duration::from_secs(5 * step);
            seen = Observed::update(Some(seen), record("a", 5 * step as i64), now);
            assert!(!may_take(&seen, "b", now), "step {step}");
        }
    }

    #[test]
    fn a_renewal_stamped_in_the_future_does_not_extend_the_lease() {
        // The holder's clock runs a day ahead and it then stops renewing: the standby takes
        // over after the lease duration of its own time, not a day later.
        let start = Instant::now();
        let seen = Observed::update(None, record("a", 86_400 * 400), start);
        assert!(!may_take(&seen, "b", start + Duration::from_secs(14)));
        let later = Observed::update(
            Some(seen),
            record("a", 86_400 * 400),
            start + Duration::from_secs(15),
        );
        assert!(may_take(&later, "b", start + Duration::from_secs(15)));
    }

    #[test]
    fn an_unchanged_record_keeps_its_first_observation_time() {
        let start = Instant::now();
        let seen = Observed::update(None, record("a", 1), start);
        let again = Observed::update(Some(seen), record("a", 1), start + Duration::from_secs(10));
        assert_eq!(again.changed_at, start);
        let changed =
            Observed::update(Some(again), record("a", 2), start + Duration::from_secs(11));
        assert_eq!(changed.changed_at, start + Duration::from_secs(11));
    }

    #[test]
    fn an_empty_holder_or_our_own_may_be_taken_at_once() {
        let now = Instant::now();
        assert!(may_take(
            &Observed::update(None, record("", 0), now),
            "b",
            now
        ));
        assert!(may_take(
            &Observed::update(None, record("b", 0), now),
            "b",
            now
        ));
    }

    #[test]
    fn timings_must_leave_the_old_leader_time_to_stop() {
        let config = |duration, deadline, retry| LeaseConfig {
            namespace: "ns".into(),
            name: "lease".into(),
            identity: "me".into(),
            duration: Duration::from_secs(duration),
            renew_deadline: Duration::from_secs(deadline),
            retry_period: Duration::from_secs(retry),
        };
        assert!(config(15, 10, 2).validate().is_ok());
        assert!(config(15, 15, 2).validate().is_err());
        assert!(config(15, 10, 10).validate().is_err());
        assert!(config(15, 10, 0).validate().is_err());
    }
}
