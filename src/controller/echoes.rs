//! The operator's own writes, remembered until their watch events come back.
//!
//! Two uses. A watch event that only echoes a resource's own write is no reason to reconcile
//! that resource again (it already judged the state it wrote): before this, the operator's
//! label and policy writes woke their writer once more per write, tens of whole evaluations to
//! converge a large cluster. And evidence waits until the stores show what was just written,
//! so that reports and status judge the enforced state (see [`Written::observed`]).
//!
//! An echo is recognised by its resourceVersion: the write's answer carries the version the
//! watch will deliver. Only the writer ignores it; every other resource still hears the
//! change (an EnvironmentIsolation reads the NetworkPolicies a SecurityBaseline writes).
//!
//! The watch may deliver the event before the write's answer arrives (a BackupPolicy's
//! Schedule listing a thousand namespaces, often): the event of an object with a write of
//! ours on its way is held ([`Echoes::sending`]) until the answer says whether it is the
//! echo. Taken for anyone's change, it woke its own writer for a pass over every namespace
//! after each relabel.

use super::trigger::Trigger;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::sync::broadcast;

/// After this long an expected echo that never came is forgotten (a watch restart may skip
/// it): the memory is bounded, and a missed echo costs only one reconcile more.
const FORGET_AFTER: Duration = Duration::from_secs(60);

/// An object as the watches name it: kind (as the API names it), namespace and name.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ObjectKey {
    pub kind: String,
    pub namespace: Option<String>,
    pub name: String,
}

impl ObjectKey {
    pub fn new(kind: impl Into<String>, namespace: Option<&str>, name: &str) -> Self {
        Self {
            kind: kind.into(),
            namespace: namespace.map(str::to_string),
            name: name.to_string(),
        }
    }
}

/// What the watch shows once a write of ours has arrived.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Expected {
    /// The object at this resourceVersion (or a later one).
    Version(String),
    /// The object gone.
    Gone,
}

/// One write of ours: which object, what the watch will show, and who wrote it (the owner's
/// uid), so that only the writer treats the echo as nothing new.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Written {
    pub kind: crate::desired::OwnedKind,
    pub key: ObjectKey,
    pub expected: Expected,
    pub writer: String,
}

impl Written {
    /// Whether a store whose copy of the object has `resource_version` (None: absent) shows
    /// this write or something later.
    pub fn observed(&self, resource_version: Option<&str>) -> bool {
        shows(&self.expected, resource_version)
    }
}

/// Whether an object at `resource_version` (None: absent) shows what was `expected`.
fn shows(expected: &Expected, resource_version: Option<&str>) -> bool {
    match (expected, resource_version) {
        (Expected::Gone, None) => true,
        (Expected::Gone, Some(_)) => false,
        (Expected::Version(_), None) => false,
        (Expected::Version(wrote), Some(seen)) => at_or_after(seen, wrote),
    }
}

/// Whether version `seen` is `wrote` or later. Versions are compared as numbers when both
/// are (as every API server backed by etcd gives them); otherwise only equality counts, and
/// a later write by someone else is waited out by the caller's deadline.
fn at_or_after(seen: &str, wrote: &str) -> bool {
    match (seen.parse::<u64>(), wrote.parse::<u64>()) {
        (Ok(seen), Ok(wrote)) => seen >= wrote,
        _ => seen == wrote,
    }
}

/// An echo still to come: what the watch will show, and whose write it is.
struct Pending {
    expected: Expected,
    writer: String,
    at: Instant,
}

/// The echoes not yet seen, shared by the writers and the watches.
#[derive(Default)]
pub struct Echoes {
    /// Per object with writes of ours on their way, the triggers its events made meanwhile.
    /// Locked before `pending` wherever both are.
    in_flight: Mutex<HashMap<ObjectKey, InFlight>>,
    /// Where held triggers go once the writes are answered; without it nothing is held.
    release_to: Option<broadcast::Sender<Trigger>>,
    pending: Mutex<HashMap<ObjectKey, Pending>>,
    /// Per custom resource (by uid), the status it last wrote, recorded before the write is
    /// sent: the watch may deliver the write's event before its answer arrives, so the echo
    /// is recognised by content, not by resourceVersion. One entry per custom resource.
    statuses: Mutex<HashMap<String, serde_json::Value>>,
}

/// What of a custom resource decides whether its own controller must look at it again,
/// beside its status: the spec (by generation), its deletion and finalizers, its labels and
/// annotations.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Identity {
    generation: Option<i64>,
    deleting: bool,
    finalizers: Vec<String>,
    labels: std::collections::BTreeMap<String, String>,
    annotations: std::collections::BTreeMap<String, String>,
}

impl Identity {
    pub fn of(meta: &k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta) -> Self {
        Self {
            generation: meta.generation,
            deleting: meta.deletion_timestamp.is_some(),
            finalizers: meta.finalizers.clone().unwrap_or_default(),
            labels: meta.labels.clone().unwrap_or_default(),
            annotations: meta.annotations.clone().unwrap_or_default(),
        }
    }
}

/// Writes of ours on their way to one object, and the watch events it had meanwhile.
#[derive(Default)]
struct InFlight {
    writes: usize,
    held: Vec<Held>,
}

/// A watch event held until the writes in flight are answered.
struct Held {
    resource_version: Option<String>,
    deleted: bool,
    trigger: Trigger,
}

/// A write of ours on its way (see [`Echoes::sending`]): when it is dropped, after the
/// write's answer was remembered or the write failed or was abandoned, the events held
/// meanwhile are released.
#[must_use = "the write is in flight while this lives"]
pub struct Sending {
    echoes: Arc<Echoes>,
    key: ObjectKey,
}

impl Drop for Sending {
    fn drop(&mut self) {
        self.echoes.answered(&self.key);
    }
}

impl Echoes {
    /// Echoes whose held triggers are released to `triggers`.
    pub fn releasing_to(triggers: broadcast::Sender<Trigger>) -> Self {
        Self {
            release_to: Some(triggers),
            ..Self::default()
        }
    }

    /// A write of ours to `key` is about to be sent: its events wait for the answer (keep
    /// the returned guard until the answer is remembered with [`Self::wrote`]).
    pub fn sending(self: &Arc<Self>, key: ObjectKey) -> Sending {
        let mut in_flight = self.in_flight.lock().unwrap_or_else(|p| p.into_inner());
        in_flight.entry(key.clone()).or_default().writes += 1;
        Sending {
            echoes: self.clone(),
            key,
        }
    }

    /// The trigger a watch event made, to send now (its echo recognised if its write was
    /// answered meanwhile), or None when it is held because a write of ours to the object is
    /// still unanswered (released by [`Sending`]'s drop).
    pub fn pass_or_hold(
        &self,
        key: &ObjectKey,
        resource_version: Option<&str>,
        deleted: bool,
        mut trigger: Trigger,
    ) -> Option<Trigger> {
        if trigger.echo_of.is_some() || self.release_to.is_none() {
            return Some(trigger);
        }
        let mut in_flight = self.in_flight.lock().unwrap_or_else(|p| p.into_inner());
        // Answered between the watch's first look and now: an echo after all.
        trigger.echo_of = self.writer_of(key, resource_version, deleted);
        match in_flight.get_mut(key) {
            Some(flight) if trigger.echo_of.is_none() => {
                flight.held.push(Held {
                    resource_version: resource_version.map(str::to_string),
                    deleted,
                    trigger,
                });
                None
            }
            _ => Some(trigger),
        }
    }

    /// A write to `key` was answered (and remembered) or failed: when it was the last in
    /// flight, the held triggers go out, each recognised as an echo if it is one.
    fn answered(&self, key: &ObjectKey) {
        let held = {
            let mut in_flight = self.in_flight.lock().unwrap_or_else(|p| p.into_inner());
            let Some(flight) = in_flight.get_mut(key) else {
                return;
            };
            flight.writes = flight.writes.saturating_sub(1);
            if flight.writes > 0 {
                return;
            }
            let flight = in_flight.remove(key).unwrap_or_default();
            flight
                .held
                .into_iter()
                .map(|mut held| {
                    held.trigger.echo_of =
                        self.writer_of(key, held.resource_version.as_deref(), held.deleted);
                    held.trigger
                })
                .collect::<Vec<_>>()
        };
        if let Some(triggers) = &self.release_to {
            for trigger in held {
                let _ = triggers.send(trigger);
            }
        }
    }

    /// Remembers a write of an owned object whose echo is still to come.
    pub fn wrote(&self, written: Written) {
        self.wrote_object(written.key, written.expected, &written.writer);
    }

    /// Remembers a write of any object (a custom resource's own status, say) by `writer`.
    pub fn wrote_object(&self, key: ObjectKey, expected: Expected, writer: &str) {
        let now = Instant::now();
        let mut pending = self.pending.lock().unwrap_or_else(|p| p.into_inner());
        pending.retain(|_, p| now.duration_since(p.at) < FORGET_AFTER);
        pending.insert(
            key,
            Pending {
                expected,
                writer: writer.to_string(),
                at: now,
            },
        );
    }

    /// Remembers the status a custom resource `uid` is about to write (see
    /// [`Self::is_own_status`]).
    pub fn writing_status(&self, uid: &str, status: serde_json::Value) {
        self.statuses
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(uid.to_string(), status);
    }

    /// Whether `status`, seen on custom resource `uid`, is the one it last wrote.
    pub fn is_own_status(&self, uid: &str, status: &serde_json::Value) -> bool {
        self.statuses
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(uid)
            .is_some_and(|written| written == status)
    }

    /// A custom resource is gone: its last status write is forgotten.
    pub fn forget_status(&self, uid: &str) {
        self.statuses
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .remove(uid);
    }

    /// Called by a watch for each event: the uid of the resource whose write this event only
    /// echoes, if it does. The write is forgotten once its event (or a later one) arrived.
    pub fn writer_of(
        &self,
        key: &ObjectKey,
        resource_version: Option<&str>,
        deleted: bool,
    ) -> Option<String> {
        let mut pending = self.pending.lock().unwrap_or_else(|p| p.into_inner());
        let written = pending.get(key)?;
        let echo = match &written.expected {
            Expected::Gone => deleted,
            Expected::Version(wrote) => !deleted && resource_version == Some(wrote.as_str()),
        };
        let seen = (!deleted).then_some(resource_version).flatten();
        let arrived = echo || shows(&written.expected, seen);
        let writer = echo.then(|| written.writer.clone());
        if arrived || deleted {
            pending.remove(key);
        }
        writer
    }

    /// How many echoes are awaited (for tests and metrics).
    pub fn len(&self) -> usize {
        self.pending.lock().unwrap_or_else(|p| p.into_inner()).len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn written(rv: &str) -> Written {
        Written {
            kind: crate::desired::OwnedKind::NetworkPolicy,
            key: ObjectKey::new("NetworkPolicy", Some("a"), "deny"),
            expected: Expected::Version(rv.into()),
            writer: "uid-1".into(),
        }
    }

    #[test]
    fn the_event_carrying_the_written_version_is_the_writers_echo_once() {
        let echoes = Echoes::default();
        echoes.wrote(written("41"));
        let key = ObjectKey::new("NetworkPolicy", Some("a"), "deny");
        assert_eq!(
            echoes.writer_of(&key, Some("41"), false).as_deref(),
            Some("uid-1")
        );
        // The same version again (a relist) is no echo any more: it is forgotten.
        assert_eq!(echoes.writer_of(&key, Some("41"), false), None);
        assert!(echoes.is_empty());
    }

    #[test]
    fn a_later_edit_by_someone_else_is_no_echo() {
        let echoes = Echoes::default();
        echoes.wrote(written("41"));
        let key = ObjectKey::new("NetworkPolicy", Some("a"), "deny");
        assert_eq!(echoes.writer_of(&key, Some("45"), false), None);
        assert!(
            echoes.is_empty(),
            "a later version means the echo was skipped"
        );
    }

    #[test]
    fn an_earlier_version_keeps_waiting() {
        let echoes = Echoes::default();
        echoes.wrote(written("41"));
        let key = ObjectKey::new("NetworkPolicy", Some("a"), "deny");
        assert_eq!(echoes.writer_of(&key, Some("40"), false), None);
        assert_eq!(echoes.len(), 1);
    }

    #[test]
    fn a_deletion_is_the_echo_of_a_delete_and_ends_any_wait() {
        let echoes = Echoes::default();
        let key = ObjectKey::new("NetworkPolicy", Some("a"), "deny");
        echoes.wrote(Written {
            expected: Expected::Gone,
            ..written("0")
        });
        assert_eq!(
            echoes.writer_of(&key, Some("50"), true).as_deref(),
            Some("uid-1")
        );
        echoes.wrote(written("41"));
        assert_eq!(echoes.writer_of(&key, Some("52"), true), None);
        assert!(echoes.is_empty());
    }

    #[test]
    fn other_objects_are_not_echoes() {
        let echoes = Echoes::default();
        echoes.wrote(written("41"));
        let other = ObjectKey::new("NetworkPolicy", Some("b"), "deny");
        assert_eq!(echoes.writer_of(&other, Some("41"), false), None);
        assert_eq!(echoes.len(), 1);
    }

    fn trigger(namespace: &str) -> Trigger {
        Trigger {
            kind: Some("NetworkPolicy".into()),
            ..Trigger::in_namespace(Some(namespace.into()))
        }
    }

    #[test]
    fn an_event_before_the_writes_answer_is_held_and_released_as_its_echo() {
        let (sender, mut receiver) = broadcast::channel(8);
        let echoes = Arc::new(Echoes::releasing_to(sender));
        let key = ObjectKey::new("NetworkPolicy", Some("a"), "deny");
        let sending = echoes.sending(key.clone());
        // The watch is faster than the answer: its event waits.
        assert_eq!(
            echoes.pass_or_hold(&key, Some("41"), false, trigger("a")),
            None
        );
        // Another object's events are not held.
        let other = ObjectKey::new("NetworkPolicy", Some("b"), "deny");
        assert!(
            echoes
                .pass_or_hold(&other, Some("42"), false, trigger("b"))
                .is_some()
        );
        echoes.wrote(written("41"));
        drop(sending);
        let released = receiver.try_recv().expect("released once answered");
        assert_eq!(released.echo_of.as_deref(), Some("uid-1"));
        assert!(receiver.try_recv().is_err());
        assert!(echoes.is_empty(), "the echo was seen");
    }

    #[test]
    fn a_held_event_of_someone_elses_version_is_released_as_their_change() {
        let (sender, mut receiver) = broadcast::channel(8);
        let echoes = Arc::new(Echoes::releasing_to(sender));
        let key = ObjectKey::new("NetworkPolicy", Some("a"), "deny");
        // Two writes in flight: nothing goes out until both are answered.
        let (first, second) = (echoes.sending(key.clone()), echoes.sending(key.clone()));
        assert_eq!(
            echoes.pass_or_hold(&key, Some("40"), false, trigger("a")),
            None
        );
        echoes.wrote(written("41"));
        drop(first);
        assert!(receiver.try_recv().is_err(), "a write is still in flight");
        drop(second);
        let released = receiver.try_recv().expect("released");
        assert_eq!(released.echo_of, None, "version 40 was someone else's");
        // A write that failed (or was abandoned) releases what it held, unchanged.
        let failed = echoes.sending(key.clone());
        assert_eq!(
            echoes.pass_or_hold(&key, Some("43"), false, trigger("a")),
            None
        );
        drop(failed);
        assert_eq!(receiver.try_recv().expect("released").echo_of, None);
    }

    #[test]
    fn an_event_after_the_answer_is_an_echo_and_without_a_release_nothing_is_held() {
        let (sender, _receiver) = broadcast::channel(8);
        let echoes = Arc::new(Echoes::releasing_to(sender));
        let key = ObjectKey::new("NetworkPolicy", Some("a"), "deny");
        let sending = echoes.sending(key.clone());
        echoes.wrote(written("41"));
        // The watch looked before the answer was remembered, the hold after: an echo.
        let passed = echoes.pass_or_hold(&key, Some("41"), false, trigger("a"));
        assert_eq!(passed.and_then(|t| t.echo_of).as_deref(), Some("uid-1"));
        drop(sending);
        let quiet = Arc::new(Echoes::default());
        let _sending = quiet.sending(key.clone());
        assert!(
            quiet
                .pass_or_hold(&key, Some("41"), false, trigger("a"))
                .is_some()
        );
    }

    #[test]
    fn a_store_shows_a_write_at_its_version_or_later() {
        let w = written("41");
        assert!(!w.observed(None));
        assert!(!w.observed(Some("40")));
        assert!(w.observed(Some("41")));
        assert!(w.observed(Some("100")));
        let gone = Written {
            expected: Expected::Gone,
            ..written("0")
        };
        assert!(gone.observed(None));
        assert!(!gone.observed(Some("41")));
        let opaque = written("abc");
        assert!(opaque.observed(Some("abc")));
        assert!(!opaque.observed(Some("abd")));
    }
}
