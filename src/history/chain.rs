//! Appending records to the chain and verifying it. Pure: no clock, no I/O.
//!
//! The chain is stored in segments, each holding the entries of one append, named after the
//! sequence number of its first entry (`segments/00000000000000000042.jsonl`). Verification
//! walks every entry in order and stops at the FIRST broken one: a line that is not an entry,
//! a missing segment or sequence number, a segment whose name and first entry disagree, a
//! `prev` that is not the previous entry's hash, a hash that does not match the entry's
//! content, or a signature that is not a trusted key's.
//!
//! What a chain cannot show on its own: that nothing was cut off its END (the last segments
//! deleted). The period report shows the time after the last entry as a gap, and each report
//! and `verify` print the head (seq and hash), so an auditor who noted an earlier head can see
//! that it is still in the chain.

use super::entry::{Entry, GENESIS_PREV, Record};
use super::sign::{PublicKey, SigningKey};
use serde::{Deserialize, Serialize};
use std::fmt;

/// One stored segment as read: its key (or file name) and text (JSON lines).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RawSegment {
    pub key: String,
    pub text: String,
}

/// A chain that verified: its entries, in order.
#[derive(Clone, Debug, PartialEq)]
pub struct Verified {
    pub entries: Vec<Entry>,
    pub segments: usize,
}

impl Verified {
    pub fn head(&self) -> Option<&Entry> {
        self.entries.last()
    }
}

/// The first broken entry: where, and why.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Broken {
    /// The sequence number the broken entry has (or, when it is missing or unreadable, the
    /// one expected there).
    pub seq: u64,
    /// The segment it is in (or where it was expected).
    pub segment: String,
    /// The line in that segment, from 1 (0: the segment as a whole).
    pub line: usize,
    pub reason: BreakReason,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(
    tag = "kind",
    rename_all = "camelCase",
    rename_all_fields = "camelCase"
)]
pub enum BreakReason {
    /// The line is not an entry (JSON error).
    Unparsable { error: String },
    /// The segment's name does not end in `<20 digits>.jsonl`, or names another first entry.
    SegmentName { first_seq_in_name: Option<u64> },
    /// The segment has no entry.
    EmptySegment,
    /// Entries `expected..found` are missing: a segment was deleted.
    MissingSegment { expected: u64, found: u64 },
    /// Within a segment, the sequence number jumps or goes back (entries deleted or
    /// reordered).
    SeqGap { expected: u64, found: u64 },
    /// `prev` is not the previous entry's hash (an entry before it was changed or removed).
    PrevLink { expected: String, found: String },
    /// The content does not match `hash` (the entry was edited).
    HashMismatch { expected: String, found: String },
    /// Signed by a key that is not trusted (the chain was re-signed with another key).
    UnknownKey { key_id: String },
    /// The signature is not the named key's signature over the hash.
    BadSignature { key_id: String },
    /// The entry names another cluster than the chain's (a segment copied from another
    /// cluster's chain), or none after entries that named one.
    WrongCluster {
        expected: Option<String>,
        found: Option<String>,
    },
    /// A signed snapshot of the chain (the boundary a period is read from) does not hold:
    /// not signed by a trusted key, another cluster's, or not what the chain says there.
    Snapshot { problem: String },
}

impl fmt::Display for Broken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "entry {} in {}", self.seq, self.segment)?;
        if self.line > 0 {
            write!(f, " line {}", self.line)?;
        }
        write!(f, ": ")?;
        match &self.reason {
            BreakReason::Unparsable { error } => write!(f, "not an entry ({error})"),
            BreakReason::SegmentName {
                first_seq_in_name: Some(n),
            } => write!(
                f,
                "the segment's name says it starts at entry {n}, its first entry is {}",
                self.seq
            ),
            BreakReason::SegmentName {
                first_seq_in_name: None,
            } => {
                write!(f, "not a segment name (<20 digits>.jsonl)")
            }
            BreakReason::EmptySegment => write!(f, "the segment holds no entry"),
            BreakReason::MissingSegment { expected, found } => write!(
                f,
                "entries {expected}..{} are missing (a segment was deleted)",
                found - 1
            ),
            BreakReason::SeqGap { expected, found } => write!(
                f,
                "expected entry {expected}, found {found} (entries deleted or reordered)"
            ),
            BreakReason::PrevLink { expected, found } => write!(
                f,
                "prev is {found}, the previous entry's hash is {expected} (the chain was cut or changed)"
            ),
            BreakReason::HashMismatch { expected, found } => write!(
                f,
                "the content hashes to {expected}, the entry says {found} (the entry was edited)"
            ),
            BreakReason::UnknownKey { key_id } => {
                write!(f, "signed by key {key_id}, which is not a trusted key")
            }
            BreakReason::BadSignature { key_id } => {
                write!(
                    f,
                    "the signature is not key {key_id}'s signature over the hash"
                )
            }
            BreakReason::WrongCluster { expected, found } => {
                let name = |c: &Option<String>| c.clone().unwrap_or_else(|| "none".into());
                write!(
                    f,
                    "the entry names cluster {}, the chain is cluster {}'s (copied from another chain?)",
                    name(found),
                    name(expected)
                )
            }
            BreakReason::Snapshot { problem } => write!(f, "signed snapshot: {problem}"),
        }
    }
}

/// The segment file name for a segment starting at `first_seq`.
pub fn segment_name(first_seq: u64) -> String {
    format!("{first_seq:020}.jsonl")
}

/// The first sequence number a segment key names (`.../00000000000000000042.jsonl` → 42).
pub fn first_seq_in_key(key: &str) -> Option<u64> {
    let name = key.rsplit('/').next()?;
    let digits = name.strip_suffix(".jsonl")?;
    if digits.len() != 20 || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    digits.parse().ok()
}

/// The text of a segment holding `entries`: one JSON line each.
pub fn segment_text(entries: &[Entry]) -> String {
    entries.iter().map(|e| e.to_line() + "\n").collect()
}

/// The entries that put `records` on top of `head` (None: the chain is empty), signed with
/// `key`, without a cluster id.
pub fn append(head: Option<&Entry>, records: Vec<Record>, key: &SigningKey) -> Vec<Entry> {
    append_in(None, head, records, key)
}

/// As [`append`], each entry naming `cluster` (covered by its hash and signature).
pub fn append_in(
    cluster: Option<&str>,
    head: Option<&Entry>,
    records: Vec<Record>,
    key: &SigningKey,
) -> Vec<Entry> {
    let key_id = key.public_key().key_id();
    let (mut seq, mut prev) = match head {
        Some(head) => (head.seq + 1, head.hash.clone()),
        None => (0, GENESIS_PREV.to_string()),
    };
    let mut entries = Vec::with_capacity(records.len());
    for record in records {
        let hash = hex::encode(<sha2::Sha256 as sha2::Digest>::digest(
            Entry::signed_bytes_in(cluster, seq, &prev, &record),
        ));
        let signature = key.sign(&hex::decode(&hash).expect("hex we just wrote"));
        entries.push(Entry {
            cluster: cluster.map(str::to_string),
            seq,
            prev,
            record,
            hash: hash.clone(),
            key_id: key_id.clone(),
            signature,
        });
        seq += 1;
        prev = hash;
    }
    entries
}

/// Verifies a whole chain (segments in any order; they are taken by name) against the
/// trusted public keys.
pub fn verify(segments: &[RawSegment], trusted: &[PublicKey]) -> Result<Verified, Broken> {
    verify_from(None, segments, trusted)
}

/// Verifies segments that continue the chain after `head` (None: from the start).
pub fn verify_from(
    head: Option<&Entry>,
    segments: &[RawSegment],
    trusted: &[PublicKey],
) -> Result<Verified, Broken> {
    let anchor = head.map(|h| Anchor {
        seq: h.seq,
        hash: h.hash.clone(),
    });
    verify_after(anchor.as_ref(), None, segments, trusted)
}

/// Where a verification starts: after the entry `seq` whose hash is `hash` (a verified head,
/// or a signed snapshot's boundary).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Anchor {
    pub seq: u64,
    pub hash: String,
}

/// Verifies segments that continue the chain after `anchor` (None: from the start), as the
/// chain of `cluster`: an entry naming another cluster breaks it, and so does an entry
/// without a cluster id after one with it (a chain may start without ids, written before
/// they existed, and go on with them; never the other way). `cluster` None: the chain's id is
/// the first one an entry names.
pub fn verify_after(
    anchor: Option<&Anchor>,
    cluster: Option<&str>,
    segments: &[RawSegment],
    trusted: &[PublicKey],
) -> Result<Verified, Broken> {
    let mut chain_cluster: Option<String> = cluster.map(str::to_string);
    let mut named_so_far = false;
    let mut ordered: Vec<&RawSegment> = segments.iter().collect();
    ordered.sort_by(|a, b| {
        (first_seq_in_key(&a.key), &a.key).cmp(&(first_seq_in_key(&b.key), &b.key))
    });
    let (mut expected, mut prev) = match anchor {
        Some(anchor) => (anchor.seq + 1, anchor.hash.clone()),
        None => (0, GENESIS_PREV.to_string()),
    };
    let mut entries = Vec::new();
    for segment in &ordered {
        let broken = |seq: u64, line: usize, reason: BreakReason| Broken {
            seq,
            segment: segment.key.clone(),
            line,
            reason,
        };
        let named = first_seq_in_key(&segment.key);
        let Some(named_first) = named else {
            return Err(broken(
                expected,
                0,
                BreakReason::SegmentName {
                    first_seq_in_name: None,
                },
            ));
        };
        let lines: Vec<&str> = segment
            .text
            .lines()
            .filter(|l| !l.trim().is_empty())
            .collect();
        if lines.is_empty() {
            return Err(broken(named_first, 0, BreakReason::EmptySegment));
        }
        for (index, line) in lines.iter().enumerate() {
            let number = index + 1;
            let entry: Entry = serde_json::from_str(line).map_err(|e| {
                broken(
                    expected,
                    number,
                    BreakReason::Unparsable {
                        error: e.to_string(),
                    },
                )
            })?;
            if index == 0 {
                if entry.seq > expected {
                    return Err(broken(
                        expected,
                        number,
                        BreakReason::MissingSegment {
                            expected,
                            found: entry.seq,
                        },
                    ));
                }
                if entry.seq == expected && named_first != entry.seq {
                    return Err(broken(
                        entry.seq,
                        number,
                        BreakReason::SegmentName {
                            first_seq_in_name: Some(named_first),
                        },
                    ));
                }
            }
            if entry.seq != expected {
                return Err(broken(
                    entry.seq,
                    number,
                    BreakReason::SeqGap {
                        expected,
                        found: entry.seq,
                    },
                ));
            }
            if entry.prev != prev {
                return Err(broken(
                    entry.seq,
                    number,
                    BreakReason::PrevLink {
                        expected: prev,
                        found: entry.prev,
                    },
                ));
            }
            let computed = entry.computed_hash();
            if computed != entry.hash {
                return Err(broken(
                    entry.seq,
                    number,
                    BreakReason::HashMismatch {
                        expected: computed,
                        found: entry.hash,
                    },
                ));
            }
            let Some(key) = trusted.iter().find(|k| k.key_id() == entry.key_id) else {
                return Err(broken(
                    entry.seq,
                    number,
                    BreakReason::UnknownKey {
                        key_id: entry.key_id,
                    },
                ));
            };
            let hash_bytes = hex::decode(&entry.hash).unwrap_or_default();
            if !key.verifies(&hash_bytes, &entry.signature) {
                return Err(broken(
                    entry.seq,
                    number,
                    BreakReason::BadSignature {
                        key_id: entry.key_id,
                    },
                ));
            }
            match (&entry.cluster, &chain_cluster) {
                (Some(found), Some(own)) if found != own => {
                    return Err(broken(
                        entry.seq,
                        number,
                        BreakReason::WrongCluster {
                            expected: Some(own.clone()),
                            found: Some(found.clone()),
                        },
                    ));
                }
                (None, own) if named_so_far => {
                    return Err(broken(
                        entry.seq,
                        number,
                        BreakReason::WrongCluster {
                            expected: own.clone(),
                            found: None,
                        },
                    ));
                }
                (Some(found), _) => {
                    chain_cluster = Some(found.clone());
                    named_so_far = true;
                }
                (None, _) => {}
            }
            expected = entry.seq + 1;
            prev = entry.hash.clone();
            entries.push(entry);
        }
    }
    Ok(Verified {
        entries,
        segments: ordered.len(),
    })
}
