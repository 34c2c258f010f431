//! Leader election on a `coordination.k8s.io` Lease.
//!
//! Updates go through `replace` with the Lease's resourceVersion as a precondition, so two
//! candidates can never both believe they took the same term: the loser gets a 409 and reads
//! again. A leader that cannot renew before the lease runs out steps down.

use jiff::Timestamp;
use k8s_openapi::api::coordination::v1::{Lease, LeaseSpec};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{MicroTime, ObjectMeta};
use kube::Client;
use kube::api::{Api, PostParams};
use std::time::Duration;
use tokio::sync::watch;

#[derive(Clone, Debug)]
pub struct LeaseConfig {
    pub namespace: String,
    pub name: String,
    pub identity: String,
    pub duration: Duration,
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

/// Runs the election until `shutdown` fires; `leading` tells whether this replica leads.
pub async fn run(
    client: Client,
    config: LeaseConfig,
    leading: watch::Sender<bool>,
    mut shutdown: watch::Receiver<bool>,
) {
    let api: Api<Lease> = Api::namespaced(client, &config.namespace);
    let retry = config.duration / 3;
    let mut last_renewal: Option<tokio::time::Instant> = None;
    loop {
        match try_acquire_or_renew(&api, &config).await {
            Ok(true) => {
                last_renewal = Some(tokio::time::Instant::now());
                leading.send_if_modified(|l| !std::mem::replace(l, true));
            }
            Ok(false) => {
                last_renewal = None;
                leading.send_if_modified(|l| std::mem::replace(l, false));
            }
            Err(error) => {
                tracing::warn!(%error, "leader election");
                if last_renewal.is_none_or(|t| t.elapsed() >= config.duration) {
                    leading.send_if_modified(|l| std::mem::replace(l, false));
                }
            }
        }
        tokio::select! {
            _ = tokio::time::sleep(retry) => {}
            _ = shutdown.changed() => break,
        }
    }
    if *leading.borrow() {
        release(&api, &config).await;
        leading.send_replace(false);
    }
}

async fn try_acquire_or_renew(api: &Api<Lease>, config: &LeaseConfig) -> Result<bool, LeaderError> {
    let wrap = |source| LeaderError::Api {
        namespace: config.namespace.clone(),
        name: config.name.clone(),
        source,
    };
    let now = MicroTime(Timestamp::now());
    let duration_seconds = i32::try_from(config.duration.as_secs()).unwrap_or(i32::MAX);
    let Some(mut lease) = api.get_opt(&config.name).await.map_err(wrap)? else {
        let lease = Lease {
            metadata: ObjectMeta {
                name: Some(config.name.clone()),
                ..Default::default()
            },
            spec: Some(LeaseSpec {
                holder_identity: Some(config.identity.clone()),
                lease_duration_seconds: Some(duration_seconds),
                acquire_time: Some(now.clone()),
                renew_time: Some(now),
                lease_transitions: Some(0),
                ..Default::default()
            }),
        };
        return match api.create(&PostParams::default(), &lease).await {
            Ok(_) => Ok(true),
            Err(kube::Error::Api(status)) if status.code == 409 => Ok(false),
            Err(e) => Err(wrap(e)),
        };
    };
    let spec = lease.spec.get_or_insert_with(Default::default);
    let holder = spec.holder_identity.clone().unwrap_or_default();
    let expired = match (&spec.renew_time, spec.lease_duration_seconds) {
        (Some(renewed), Some(seconds)) => {
            let expiry = renewed
                .0
                .checked_add(jiff::SignedDuration::from_secs(i64::from(seconds)));
            expiry.is_ok_and(|e| e <= now.0)
        }
        _ => true,
    };
    if holder != config.identity && !holder.is_empty() && !expired {
        return Ok(false);
    }
    if holder != config.identity {
        spec.acquire_time = Some(now.clone());
        spec.lease_transitions = Some(spec.lease_transitions.unwrap_or(0) + 1);
    }
    spec.holder_identity = Some(config.identity.clone());
    spec.lease_duration_seconds = Some(duration_seconds);
    spec.renew_time = Some(now);
    // `replace` carries the resourceVersion we read: a concurrent writer makes this a 409.
    match api
        .replace(&config.name, &PostParams::default(), &lease)
        .await
    {
        Ok(_) => Ok(true),
        Err(kube::Error::Api(status)) if status.code == 409 => Ok(false),
        Err(e) => Err(wrap(e)),
    }
}

/// Gives the lease up so that a standby takes over at once instead of after it expires.
async fn release(api: &Api<Lease>, config: &LeaseConfig) {
    if let Ok(Some(mut lease)) = api.get_opt(&config.name).await
        && let Some(spec) = lease.spec.as_mut()
        && spec.holder_identity.as_deref() == Some(config.identity.as_str())
    {
        spec.holder_identity = None;
        spec.renew_time = None;
        if let Err(error) = api
            .replace(&config.name, &PostParams::default(), &lease)
            .await
        {
            tracing::warn!(%error, "releasing the leader lease");
        }
    }
}
