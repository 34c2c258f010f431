//! What every reconciler shares: the client, the stores, metrics and the event recorder.

use super::stores::Stores;
use crate::telemetry::Metrics;
use k8s_openapi::api::core::v1::ObjectReference;
use kube::Client;
use kube::runtime::events::{Event, EventType, Recorder, Reporter};
use std::collections::{BTreeSet, HashMap};
use std::sync::{Arc, Mutex};

pub struct Context {
    pub client: Client,
    pub stores: Stores,
    pub metrics: Arc<Metrics>,
    pub recorder: Recorder,
    pub resync: std::time::Duration,
    /// The operator's own user name, so that its own writes pass label protection.
    pub username: Option<String>,
    /// Whether Secrets are watched for copied-secret detection.
    pub detects_copied_secrets: bool,
    /// Notices already announced per object uid, so an event is published once per change
    /// rather than on every resync.
    announced: Mutex<HashMap<String, BTreeSet<String>>>,
}

impl Context {
    pub fn new(
        client: Client,
        stores: Stores,
        metrics: Arc<Metrics>,
        instance: String,
        resync: std::time::Duration,
    ) -> Self {
        let reporter = Reporter {
            controller: "baseline-operator".into(),
            instance: Some(instance),
        };
        Self {
            recorder: Recorder::new(client.clone(), reporter),
            client,
            stores,
            resync,
            username: None,
            detects_copied_secrets: false,
            metrics,
            announced: Mutex::default(),
        }
    }

    /// Publishes an event; a failure to publish is logged, never fatal.
    pub async fn event(
        &self,
        reference: &ObjectReference,
        warning: bool,
        reason: &str,
        action: &str,
        note: String,
    ) {
        let event = Event {
            type_: if warning {
                EventType::Warning
            } else {
                EventType::Normal
            },
            reason: reason.into(),
            note: Some(note),
            action: action.into(),
            secondary: None,
        };
        match self.recorder.publish(&event, reference).await {
            Ok(()) => self.metrics.write("Event", "create"),
            Err(error) => tracing::warn!(%error, reason, "publishing event"),
        }
    }

    /// Returns the notices among `current` not announced yet for `uid`, and remembers them.
    pub fn unannounced(&self, uid: &str, current: BTreeSet<String>) -> Vec<String> {
        let mut announced = self.announced.lock().unwrap_or_else(|p| p.into_inner());
        let seen = announced.entry(uid.to_string()).or_default();
        let fresh = current.difference(seen).cloned().collect();
        *seen = current;
        fresh
    }

    pub fn forget(&self, uid: &str) {
        self.announced
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .remove(uid);
    }
}
