//! What every reconciler shares: the client, what plans read ([`Reads`]: the stores and the
//! settings), metrics, the write pool and the event recorder.

use super::reads::Reads;
use super::stores::Stores;
use crate::telemetry::Metrics;
use k8s_openapi::api::core::v1::ObjectReference;
use kube::Client;
use kube::runtime::events::{Event, EventType, Recorder, Reporter};
use std::collections::{BTreeSet, HashMap};
use std::sync::{Arc, Mutex};

pub struct Context {
    pub client: Client,
    /// What plans read (the stores and the settings they judge by); everything else here is
    /// the shell's.
    pub reads: Reads,
    pub metrics: Arc<Metrics>,
    pub recorder: Recorder,
    /// The bounded pool every write goes through (see [`super::write_pool`]).
    pub writes: super::write_pool::WritePool,
    pub resync: std::time::Duration,
    /// How often status says again that an unchanged result was evaluated.
    pub evaluated_refresh: std::time::Duration,
    /// Which report API(s) findings are written to (`--reports-api`).
    pub reports: crate::desired::report_api::ReportsChoice,
    /// Notices already announced per object uid, so an event is published once per change
    /// rather than on every resync.
    announced: Mutex<HashMap<String, BTreeSet<String>>>,
    /// Owned objects per owner uid known to exist (seen in the stores or written), so that
    /// one missing later counts as deleted by hand (in memory: after a restart, a deletion is
    /// repaired without that claim).
    known_live: Mutex<HashMap<String, BTreeSet<String>>>,
    /// Per resource, the namespaces changes concerned since its last pass (see
    /// [`super::scope`]).
    pub scopes: Arc<super::scope::Scopes>,
    /// Consecutive failed reconciles per resource, for the backoff.
    pub failures: super::backoff::Failures,
    /// How long a watch may fail before Ready says so.
    pub watch_grace: std::time::Duration,
    /// The evidence history, when one is configured (`--history-*`).
    pub history: Option<Arc<super::history::HistoryWriter>>,
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
            reads: Reads::new(stores),
            writes: Default::default(),
            resync,
            evaluated_refresh: super::DEFAULT_EVALUATED_REFRESH,
            reports: Default::default(),
            metrics,
            announced: Mutex::default(),
            known_live: Mutex::default(),
            scopes: Default::default(),
            failures: Default::default(),
            watch_grace: super::watch_health::DEFAULT_GRACE,
            history: None,
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
        self.event_related(reference, None, warning, reason, action, note)
            .await;
    }

    /// Publishes an event about `reference` that concerns a second object. The recorder folds
    /// events with the same reason, action and objects into one series (keeping the first
    /// note), so naming the second object keeps events about different objects apart.
    pub async fn event_related(
        &self,
        reference: &ObjectReference,
        related: Option<ObjectReference>,
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
            note: Some(bounded_note(note)),
            action: action.into(),
            secondary: related,
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

    /// Which of `ids` (owned objects of `uid`) are known to exist after its last reconcile.
    /// Asked for the objects a pass plans, not copied whole: a pass over one namespace does
    /// not copy the ids of every namespace's objects.
    pub fn known_live<'a>(
        &self,
        uid: &str,
        ids: impl IntoIterator<Item = &'a String>,
    ) -> BTreeSet<String> {
        let known = self.known_live.lock().unwrap_or_else(|p| p.into_inner());
        let Some(known) = known.get(uid) else {
            return BTreeSet::new();
        };
        ids.into_iter()
            .filter(|id| known.contains(*id))
            .cloned()
            .collect()
    }

    /// Replaces what is known to exist of the `kinds` a write pass managed in the namespaces
    /// it covered (ids as `apply::reference` writes them), keeping what is known of the
    /// owner's other kinds and namespaces: a pass that writes only reports must not forget
    /// the NetworkPolicies, nor a pass over one namespace those of the others.
    pub fn remember_live(
        &self,
        uid: &str,
        kinds: &[crate::desired::OwnedKind],
        scope: &super::scope::Scope,
        live: BTreeSet<String>,
    ) {
        let mut known = self.known_live.lock().unwrap_or_else(|p| p.into_inner());
        let entry = known.entry(uid.to_string()).or_default();
        let prefixes: Vec<String> = kinds.iter().map(|k| format!("{k:?} ")).collect();
        entry.retain(|id| {
            let Some(object) = prefixes.iter().find_map(|p| id.strip_prefix(p.as_str())) else {
                return true;
            };
            // "namespace/name" for a namespaced object, "name" for a cluster-scoped one.
            let namespace = object.split_once('/').map(|(ns, _)| ns);
            !scope.covers(namespace)
        });
        entry.extend(live);
    }

    pub fn forget(&self, uid: &str) {
        self.announced
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .remove(uid);
        self.known_live
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .remove(uid);
    }
}

/// The API server refuses an event whose note exceeds 1 KiB, so the event would be lost with
/// its evidence; a longer note is cut at a character boundary and says so.
pub const MAX_NOTE_BYTES: usize = 1024;

pub fn bounded_note(note: String) -> String {
    const CUT: &str = " [...]";
    if note.len() <= MAX_NOTE_BYTES {
        return note;
    }
    let mut end = MAX_NOTE_BYTES - CUT.len();
    while !note.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}{CUT}", &note[..end])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn notes_fit_the_api_servers_limit_and_say_when_cut() {
        assert_eq!(bounded_note("short".into()), "short");
        let exact = "x".repeat(MAX_NOTE_BYTES);
        assert_eq!(bounded_note(exact.clone()), exact);
        // Multi-byte characters straddling the limit are never split.
        let long = "é".repeat(MAX_NOTE_BYTES);
        let cut = bounded_note(long);
        assert!(cut.len() <= MAX_NOTE_BYTES, "{}", cut.len());
        assert!(cut.ends_with(" [...]"));
        assert!(cut.trim_end_matches(" [...]").chars().all(|c| c == 'é'));
    }
}
