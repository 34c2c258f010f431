//! What the history records: a [`Record`] (when, and what happened) and the [`Entry`] that
//! chains and signs it.
//!
//! The JSON is camelCase, one entry per line. Each entry's `hash` is the SHA-256 of the
//! canonical JSON (keys sorted, no whitespace) of `{"cluster", "prev", "record", "seq"}`
//! (`cluster` only when the writer has a cluster id: entries written before cluster ids
//! existed hash, and so verify, exactly as they did); `prev` is the
//! previous entry's `hash` (64 zeros for the first entry), so changing, removing or reordering
//! any entry breaks every link after it; `signature` is ed25519 over the 32 bytes of `hash`.

use crate::api::{ControlResult, ControlState, Exemption, Finding};
use crate::catalog::ControlId;
use jiff::Timestamp;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::LabelSelector;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use sha2::{Digest, Sha256};

/// The most findings one record carries (the status sample is bounded the same way).
pub const MAX_FINDINGS: usize = 20;

/// One resource of the operator's kinds (all cluster-scoped): `SecurityBaseline/prod`.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ResourceRef {
    pub kind: String,
    pub name: String,
}

impl std::fmt::Display for ResourceRef {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}", self.kind, self.name)
    }
}

/// What the operator appends: when, and what happened.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Record {
    /// When it happened (the evaluation's time for observations).
    pub at: Timestamp,
    pub event: Event,
}

/// What happened.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(
    tag = "type",
    rename_all = "camelCase",
    rename_all_fields = "camelCase"
)]
pub enum Event {
    /// A control's state changed (`from` is None for the first observation of a control).
    Transition {
        from: Option<ControlState>,
        observation: Observation,
    },
    /// The control was evaluated again and its state is unchanged: "still Pass, checked N
    /// objects". Written at least once per checkpoint interval per control, so that silence
    /// longer than the interval means "not evaluated" (a gap), never "still passing".
    Checkpoint { observation: Observation },
    /// The resource was deleted: its controls are no longer evaluated, and that is not a gap.
    Deleted { resource: ResourceRef },
    /// A leader began writing. When the previous entry is older than the checkpoint interval,
    /// the time between them is a gap: nothing was evaluated.
    Started { identity: String },
    /// A leader stopped cleanly (shutdown); nothing is evaluated until the next `Started`.
    Stopped { identity: String },
}

/// One evaluation of one control of one resource.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Observation {
    pub resource: ResourceRef,
    /// The resource's `metadata.generation` the evaluation used.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub generation: Option<i64>,
    /// [`spec_hash`] of the resource's spec: which policy text the evaluation applied.
    pub spec_hash: String,
    pub control: ControlId,
    pub state: ControlState,
    pub checked: i32,
    pub failed: i32,
    pub exempted: i32,
    /// A bounded sample ([`MAX_FINDINGS`]) of the failing objects.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub findings: Vec<Finding>,
    /// The exemptions naming this control that were live at `at`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub exemptions: Vec<ExemptionInForce>,
}

impl Observation {
    /// The observation a control's status result stands for; `exemptions` are the resource's
    /// exemptions, of which those naming this control and live at `now` are kept.
    pub fn from_control_result(
        resource: ResourceRef,
        generation: Option<i64>,
        spec_hash: String,
        result: &ControlResult,
        exemptions: &[Exemption],
        now: Timestamp,
    ) -> Self {
        Observation {
            resource,
            generation,
            spec_hash,
            control: result.id,
            state: result.state,
            checked: result.checked,
            failed: result.failed,
            exempted: result.exempted,
            findings: result.findings.iter().take(MAX_FINDINGS).cloned().collect(),
            exemptions: ExemptionInForce::for_control(exemptions, result.id, now),
        }
    }
}

/// An exemption as it stood when a control was evaluated: who approved it, why, until when.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ExemptionInForce {
    pub controls: Vec<ControlId>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub namespaces: Vec<String>,
    /// The label selector, as JSON (`{"matchLabels": ...}`), when the exemption has one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub selector: Option<String>,
    pub reason: String,
    pub approved_by: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ticket: Option<String>,
    pub expires: String,
}

impl ExemptionInForce {
    pub fn from_exemption(exemption: &Exemption) -> Self {
        ExemptionInForce {
            controls: exemption.controls.clone(),
            namespaces: exemption.namespaces.clone(),
            selector: exemption.selector.as_ref().map(selector_text),
            reason: exemption.reason.clone(),
            approved_by: exemption.approved_by.clone(),
            ticket: exemption.ticket.clone(),
            expires: exemption.expires.clone(),
        }
    }

    /// The exemptions naming `control` that are live at `now` (not yet expired).
    pub fn for_control(exemptions: &[Exemption], control: ControlId, now: Timestamp) -> Vec<Self> {
        let mut live: Vec<Self> = exemptions
            .iter()
            .filter(|e| e.controls.contains(&control))
            .filter(|e| crate::vocabulary::exemptions::expiry(e).is_some_and(|end| now < end))
            .map(Self::from_exemption)
            .collect();
        live.sort();
        live
    }
}

fn selector_text(selector: &LabelSelector) -> String {
    canonical_json(&serde_json::to_value(selector).unwrap_or(Value::Null))
}

/// One link of the chain: a record, its place, the hash that binds it to the previous entry,
/// and the signature over that hash.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Entry {
    /// The cluster whose operator wrote it (`--history-cluster-id`), covered by the hash and
    /// so by the signature: a segment copied into another cluster's chain names its origin.
    /// None: written without a cluster id (a single cluster's history, today's layout).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cluster: Option<String>,
    /// 0 for the first entry, then +1 each.
    pub seq: u64,
    /// The previous entry's `hash` ([`GENESIS_PREV`] for seq 0).
    pub prev: String,
    pub record: Record,
    /// SHA-256 hex of [`Entry::signed_bytes`].
    pub hash: String,
    /// Which key signed: the first 16 hex digits of the SHA-256 of the public key.
    pub key_id: String,
    /// ed25519 over the 32 bytes of `hash`, base64.
    pub signature: String,
}

/// `prev` of the first entry.
pub const GENESIS_PREV: &str = "0000000000000000000000000000000000000000000000000000000000000000";

impl Entry {
    /// The canonical JSON `{"prev", "record", "seq"}` the hash covers (an entry without a
    /// cluster id).
    pub fn signed_bytes(seq: u64, prev: &str, record: &Record) -> Vec<u8> {
        Entry::signed_bytes_in(None, seq, prev, record)
    }

    /// The canonical JSON the hash covers: `{"cluster", "prev", "record", "seq"}`, without
    /// `cluster` when there is none (so older entries keep their hash).
    pub fn signed_bytes_in(
        cluster: Option<&str>,
        seq: u64,
        prev: &str,
        record: &Record,
    ) -> Vec<u8> {
        let mut value = serde_json::json!({
            "seq": seq,
            "prev": prev,
            "record": serde_json::to_value(record).expect("records serialize"),
        });
        if let Some(cluster) = cluster {
            value["cluster"] = Value::String(cluster.to_string());
        }
        canonical_json(&value).into_bytes()
    }

    /// The hash this entry's fields call for (compare with `hash`).
    pub fn computed_hash(&self) -> String {
        hex::encode(Sha256::digest(Entry::signed_bytes_in(
            self.cluster.as_deref(),
            self.seq,
            &self.prev,
            &self.record,
        )))
    }

    /// The entry as one JSON line (no trailing newline).
    pub fn to_line(&self) -> String {
        serde_json::to_string(self).expect("entries serialize")
    }
}

/// SHA-256 hex of the canonical JSON of a resource's spec: equal specs hash equal whatever
/// the order of their keys.
pub fn spec_hash(spec: &Value) -> String {
    hex::encode(Sha256::digest(canonical_json(spec).as_bytes()))
}

/// JSON with every object's keys sorted and no whitespace: one text per value, whatever
/// order the keys were built or parsed in (the same writer as the owned objects' fingerprints).
pub fn canonical_json(value: &Value) -> String {
    crate::desired::canonical::sorted_json(value)
}
