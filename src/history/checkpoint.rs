//! Signed snapshots of the chain ("checkpoints" of the chain itself, not of a control): what
//! the chain said about every control after one entry, and that entry's hash, signed with the
//! history's key. A reader starts at the last snapshot before its period instead of at the
//! first entry, so opening a chain reads the segments of the period, not of its whole life.
//! Pure: building, signing, checking, and the entries a report starts from.
//!
//! Stored at `<chain>/snapshots/<seq, 20 digits>-<unix seconds>.json` (the seq and time of the
//! entry it ends at, so a reader picks one by name), written if absent like a segment. The
//! writer stores one at the first append of each UTC day ([`due`]). The snapshot's
//! `controls` are exactly what the period report needs from the entries before it
//! ([`Boundary::report_prefix`]): a report read from a snapshot equals the report read from
//! the whole chain (proved in `checkpoint_tests`), and a full `evidence verify` checks every
//! snapshot against the state the chain computes there ([`check_against_chain`]).

use super::chain::{BreakReason, Broken};
use super::entry::{Entry, Event, Observation, Record, ResourceRef, canonical_json};
use super::latest::Latest;
use super::sign::{PublicKey, SigningKey};
use crate::api::ControlState;
use crate::catalog::ControlId;
use jiff::Timestamp;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use std::collections::BTreeMap;

/// Where a chain's snapshots are, relative to its root.
pub const SNAPSHOTS: &str = "snapshots";

/// What the chain last said about one control, as of a boundary.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ControlAtBoundary {
    pub resource: ResourceRef,
    pub control: ControlId,
    /// When its last record was made, in the chain's order (entry times made non-decreasing,
    /// as the report reads them).
    pub at: Timestamp,
    /// The record's own time, when it differs from `at` (writers' clocks disagreed).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub recorded_at: Option<Timestamp>,
    /// The last observation; None: its resource was deleted since.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub observation: Option<Observation>,
}

/// The chain's state after one entry, kept by whoever walks the chain.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Boundary {
    /// The last entry taken in (seq, hash); None before the first.
    pub head: Option<(u64, String)>,
    /// Its time, made non-decreasing.
    pub at: Option<Timestamp>,
    /// Whether it is a `Stopped`.
    pub stopped: bool,
    controls: BTreeMap<(ResourceRef, ControlId), ControlAtBoundary>,
}

impl Boundary {
    pub fn from_entries<'a>(entries: impl IntoIterator<Item = &'a Entry>) -> Self {
        let mut boundary = Boundary::default();
        for entry in entries {
            boundary.apply(entry);
        }
        boundary
    }

    /// Takes the next entry of the chain in.
    pub fn apply(&mut self, entry: &Entry) {
        let at = self.at.map_or(entry.record.at, |t| t.max(entry.record.at));
        let recorded_at = (entry.record.at != at).then_some(entry.record.at);
        match &entry.record.event {
            Event::Transition { observation, .. } | Event::Checkpoint { observation } => {
                self.controls.insert(
                    (observation.resource.clone(), observation.control),
                    ControlAtBoundary {
                        resource: observation.resource.clone(),
                        control: observation.control,
                        at,
                        recorded_at,
                        observation: Some(observation.clone()),
                    },
                );
            }
            Event::Deleted { resource } => {
                for ((r, _), control) in self.controls.iter_mut() {
                    if r == resource {
                        control.at = at;
                        control.recorded_at = recorded_at;
                        control.observation = None;
                    }
                }
            }
            Event::Started { .. } | Event::Stopped { .. } => {}
        }
        self.head = Some((entry.seq, entry.hash.clone()));
        self.at = Some(at);
        self.stopped = matches!(entry.record.event, Event::Stopped { .. });
    }

    /// The snapshot of this state, signed, for the chain of `cluster`; `segment_first_seq`:
    /// the first entry of the segment whose last entry is the head. None before any entry.
    pub fn snapshot(
        &self,
        cluster: Option<&str>,
        segment_first_seq: u64,
        key: &SigningKey,
    ) -> Option<Snapshot> {
        let (seq, hash) = self.head.clone()?;
        let mut snapshot = Snapshot {
            cluster: cluster.map(str::to_string),
            seq,
            hash,
            segment_first_seq,
            at: self.at?,
            stopped: self.stopped,
            controls: self.controls.values().cloned().collect(),
            key_id: key.public_key().key_id(),
            signature: String::new(),
        };
        snapshot.signature = key.sign(&snapshot.digest());
        Some(snapshot)
    }

    /// The state a snapshot describes (after checking it: [`Snapshot::check`]).
    pub fn from_snapshot(snapshot: &Snapshot) -> Self {
        Boundary {
            head: Some((snapshot.seq, snapshot.hash.clone())),
            at: Some(snapshot.at),
            stopped: snapshot.stopped,
            controls: snapshot
                .controls
                .iter()
                .map(|c| ((c.resource.clone(), c.control), c.clone()))
                .collect(),
        }
    }

    /// What the writer's [`Latest`] is after the same entries.
    pub fn latest(&self) -> Latest {
        let mut latest = Latest::default();
        for control in self.controls.values() {
            if let Some(observation) = &control.observation {
                latest.apply(&Record {
                    at: control.recorded_at.unwrap_or(control.at),
                    event: Event::Checkpoint {
                        observation: observation.clone(),
                    },
                });
            }
        }
        latest
    }

    /// Entries standing for the chain up to this boundary, for the period report: the report
    /// of these followed by the entries after the boundary equals the report of the whole
    /// chain for any period starting at or after the boundary. They are never verified nor
    /// stored (their hashes are empty): each control's last record at its time (a deleted
    /// control: an instant observation and its resource's deletion), then an entry at the
    /// boundary's time that is a `Stopped` when the chain's last entry was one.
    pub fn report_prefix(&self) -> Vec<Entry> {
        let Some(boundary_at) = self.at else {
            return Vec::new();
        };
        // (time, order at that time, record): an instant observation of a deleted control
        // before its resource's deletion, the deletion, then live observations (which came
        // after any deletion at the same time, or they would be deleted).
        let mut records: Vec<(Timestamp, u8, Record)> = Vec::new();
        let mut deletions: BTreeMap<(Timestamp, ResourceRef), ()> = BTreeMap::new();
        for control in self.controls.values() {
            match &control.observation {
                Some(observation) => records.push((
                    control.at,
                    2,
                    Record {
                        at: control.at,
                        event: Event::Checkpoint {
                            observation: observation.clone(),
                        },
                    },
                )),
                None => {
                    records.push((
                        control.at,
                        0,
                        Record {
                            at: control.at,
                            event: Event::Checkpoint {
                                observation: placeholder(&control.resource, control.control),
                            },
                        },
                    ));
                    deletions.insert((control.at, control.resource.clone()), ());
                }
            }
        }
        for (at, resource) in deletions.into_keys() {
            records.push((
                at,
                1,
                Record {
                    at,
                    event: Event::Deleted { resource },
                },
            ));
        }
        records.sort_by_key(|r| (r.0, r.1));
        let last = Record {
            at: boundary_at,
            event: if self.stopped {
                Event::Stopped {
                    identity: String::new(),
                }
            } else {
                Event::Started {
                    identity: String::new(),
                }
            },
        };
        records
            .into_iter()
            .map(|(_, _, record)| record)
            .chain(std::iter::once(last))
            .map(|record| Entry {
                cluster: None,
                seq: 0,
                prev: String::new(),
                record,
                hash: String::new(),
                key_id: String::new(),
                signature: String::new(),
            })
            .collect()
    }
}

/// An observation that lasts no time (it is at its resource's deletion): it only makes the
/// control known to the report, as the chain before the boundary did.
fn placeholder(resource: &ResourceRef, control: ControlId) -> Observation {
    Observation {
        resource: resource.clone(),
        generation: None,
        spec_hash: String::new(),
        control,
        state: ControlState::NotEvaluated,
        checked: 0,
        failed: 0,
        exempted: 0,
        findings: Vec::new(),
        exemptions: Vec::new(),
    }
}

/// A signed snapshot as stored.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Snapshot {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cluster: Option<String>,
    /// The entry it ends at, and that entry's hash: the next segment's first `prev`.
    pub seq: u64,
    pub hash: String,
    /// The first entry of the segment that ends at `seq` (the reader lists segments after it).
    pub segment_first_seq: u64,
    /// `seq`'s time, made non-decreasing.
    pub at: Timestamp,
    pub stopped: bool,
    pub controls: Vec<ControlAtBoundary>,
    pub key_id: String,
    /// ed25519 over the SHA-256 of the canonical JSON of every other field.
    pub signature: String,
}

impl Snapshot {
    /// The SHA-256 the signature covers.
    pub fn digest(&self) -> Vec<u8> {
        let mut value = serde_json::to_value(self).expect("snapshots serialize");
        if let Some(object) = value.as_object_mut() {
            object.remove("signature");
        }
        Sha256::digest(canonical_json(&value).as_bytes()).to_vec()
    }

    /// Its name under `snapshots/`.
    pub fn name(&self) -> String {
        snapshot_name(self.seq, self.at)
    }

    pub fn to_text(&self) -> String {
        serde_json::to_string(self).expect("snapshots serialize") + "\n"
    }

    /// Parses and checks a stored snapshot: signed by a trusted key, of the chain of
    /// `cluster` (when given), and stored under the name its content calls for.
    pub fn check(
        text: &str,
        name: &str,
        cluster: Option<&str>,
        trusted: &[PublicKey],
    ) -> Result<Snapshot, String> {
        let snapshot: Snapshot =
            serde_json::from_str(text).map_err(|e| format!("not a snapshot ({e})"))?;
        let Some(key) = trusted.iter().find(|k| k.key_id() == snapshot.key_id) else {
            return Err(format!(
                "signed by key {}, not a trusted key",
                snapshot.key_id
            ));
        };
        if !key.verifies(&snapshot.digest(), &snapshot.signature) {
            return Err(format!(
                "the signature is not key {}'s signature over it",
                snapshot.key_id
            ));
        }
        if let Some(cluster) = cluster
            && snapshot.cluster.as_deref().is_some_and(|c| c != cluster)
        {
            return Err(format!(
                "it is cluster {}'s, the chain is cluster {cluster}'s",
                snapshot.cluster.as_deref().unwrap_or("none")
            ));
        }
        if name != snapshot.name() {
            return Err(format!(
                "stored as {name}, its content calls for {}",
                snapshot.name()
            ));
        }
        Ok(snapshot)
    }
}

/// `<seq, 20 digits>-<unix seconds>.json`.
pub fn snapshot_name(seq: u64, at: Timestamp) -> String {
    format!("{seq:020}-{}.json", at.as_second())
}

/// The (seq, time) a snapshot name gives, None when it is not one.
pub fn parse_snapshot_name(name: &str) -> Option<(u64, Timestamp)> {
    let stem = name.strip_suffix(".json")?;
    let (seq, seconds) = stem.split_once('-')?;
    if seq.len() != 20 || !seq.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    Some((
        seq.parse().ok()?,
        Timestamp::from_second(seconds.parse().ok()?).ok()?,
    ))
}

/// The snapshot a reader of a period starting at `from` starts at: the latest whose time is
/// at or before `from` (None: read from the first entry).
pub fn start_for(names: &[String], from: Timestamp) -> Option<(String, u64, Timestamp)> {
    names
        .iter()
        .filter_map(|n| parse_snapshot_name(n).map(|(seq, at)| (n.clone(), seq, at)))
        .filter(|(_, _, at)| *at <= from)
        .max_by_key(|(_, seq, _)| *seq)
}

/// The newest snapshot by name.
pub fn newest(names: &[String]) -> Option<(String, u64, Timestamp)> {
    start_for(names, Timestamp::MAX)
}

/// Whether a writer stores a snapshot after an append that brought the chain to `head_at`,
/// `since` being its last snapshot's time (or, before it stored one, the chain's time when it
/// opened it or first wrote): at the first append of each UTC day, so a reader never reads
/// more than a day of entries before its period.
pub fn due(since: Timestamp, head_at: Timestamp) -> bool {
    let day = |t: Timestamp| t.as_second().div_euclid(86_400);
    day(head_at) > day(since)
}

/// Checks stored snapshots (name, text) against the verified chain `entries` of `cluster`:
/// each must be signed, and say exactly what the chain says after its entry. The first that
/// does not is named as the chain's break.
pub fn check_against_chain(
    entries: &[Entry],
    snapshots: &[(String, String)],
    cluster: Option<&str>,
    trusted: &[PublicKey],
    segment_of: impl Fn(u64) -> Option<u64>,
) -> Result<usize, Broken> {
    let mut wanted: BTreeMap<u64, Vec<&(String, String)>> = BTreeMap::new();
    for stored in snapshots {
        let seq = parse_snapshot_name(&stored.0).map_or(u64::MAX, |(seq, _)| seq);
        wanted.entry(seq).or_default().push(stored);
    }
    let broken = |seq: u64, name: &str, problem: String| Broken {
        seq,
        segment: format!("{SNAPSHOTS}/{name}"),
        line: 0,
        reason: BreakReason::Snapshot { problem },
    };
    let mut boundary = Boundary::default();
    let mut checked = 0;
    let mut pending = wanted.iter().peekable();
    for entry in entries {
        boundary.apply(entry);
        while let Some((seq, stored)) = pending.peek() {
            let seq = **seq;
            if seq > entry.seq {
                break;
            }
            for (name, text) in stored.iter().map(|s| (&s.0, &s.1)) {
                let snapshot = Snapshot::check(text, name, cluster, trusted)
                    .map_err(|problem| broken(seq, name, problem))?;
                let first = segment_of(seq).unwrap_or(u64::MAX);
                let mut expected = boundary_snapshot(&boundary, &snapshot, first);
                expected.signature = snapshot.signature.clone();
                if seq != entry.seq || expected != snapshot {
                    return Err(broken(
                        seq,
                        name,
                        "it does not say what the chain says after its entry".into(),
                    ));
                }
                checked += 1;
            }
            pending.next();
        }
    }
    if let Some((seq, stored)) = pending.next() {
        return Err(broken(
            *seq,
            &stored[0].0,
            "it names an entry the chain does not have".into(),
        ));
    }
    Ok(checked)
}

/// The snapshot `boundary` calls for, with the stored one's signer and cluster (the signature
/// is compared apart).
fn boundary_snapshot(boundary: &Boundary, stored: &Snapshot, segment_first_seq: u64) -> Snapshot {
    let (seq, hash) = boundary.head.clone().unwrap_or_default();
    Snapshot {
        cluster: stored.cluster.clone(),
        seq,
        hash,
        segment_first_seq,
        at: boundary.at.unwrap_or(Timestamp::MIN),
        stopped: boundary.stopped,
        controls: boundary.controls.values().cloned().collect(),
        key_id: stored.key_id.clone(),
        signature: String::new(),
    }
}
