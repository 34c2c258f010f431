use super::chain::*;
use super::entry::*;
use super::sign::SigningKey;
use crate::api::{ControlState, Finding};
use crate::catalog::ControlId;
use jiff::Timestamp;

pub(super) fn key(byte: u8) -> SigningKey {
    SigningKey::from_seed_bytes(&[byte; 32])
}

pub(super) fn at(text: &str) -> Timestamp {
    text.parse().unwrap()
}

pub(super) fn observation(name: &str, control: ControlId, state: ControlState) -> Observation {
    Observation {
        resource: ResourceRef {
            kind: "SecurityBaseline".into(),
            name: name.into(),
        },
        generation: Some(1),
        spec_hash: spec_hash(&serde_json::json!({"mode": "Audit"})),
        control,
        state,
        checked: 3,
        failed: u8::from(state == ControlState::Fail).into(),
        exempted: 0,
        findings: if state == ControlState::Fail {
            vec![Finding {
                kind: "Namespace".into(),
                namespace: None,
                name: "shop".into(),
                message: "no default-deny NetworkPolicy".into(),
            }]
        } else {
            Vec::new()
        },
        exemptions: Vec::new(),
    }
}

fn record(minute: u32, state: ControlState) -> Record {
    Record {
        at: at(&format!("2026-01-01T00:{minute:02}:00Z")),
        event: Event::Transition {
            from: None,
            observation: observation("prod", ControlId::RestrictedPorts, state),
        },
    }
}

/// Three segments: entries 0-1, 2, 3-5.
fn stored(signer: &SigningKey) -> Vec<RawSegment> {
    let mut segments = Vec::new();
    let mut head: Option<Entry> = None;
    for batch in [
        vec![record(0, ControlState::Pass), record(1, ControlState::Fail)],
        vec![record(2, ControlState::Pass)],
        vec![
            record(3, ControlState::Fail),
            record(4, ControlState::Pass),
            record(5, ControlState::Pass),
        ],
    ] {
        let entries = append(head.as_ref(), batch, signer);
        segments.push(RawSegment {
            key: format!("evidence/segments/{}", segment_name(entries[0].seq)),
            text: segment_text(&entries),
        });
        head = entries.last().cloned();
    }
    segments
}

fn lines(segment: &RawSegment) -> Vec<serde_json::Value> {
    segment
        .text
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

fn set_lines(segment: &mut RawSegment, lines: &[serde_json::Value]) {
    segment.text = lines.iter().map(|l| format!("{l}\n")).collect();
}

#[test]
fn an_untouched_chain_verifies_in_order() {
    let signer = key(1);
    let verified = verify(&stored(&signer), &[signer.public_key()]).unwrap();
    let seqs: Vec<u64> = verified.entries.iter().map(|e| e.seq).collect();
    assert_eq!(seqs, [0, 1, 2, 3, 4, 5]);
    assert_eq!(verified.segments, 3);
    assert_eq!(verified.entries[0].prev, GENESIS_PREV);
    assert_eq!(verified.entries[1].prev, verified.entries[0].hash);
}

#[test]
fn segments_listed_out_of_order_still_verify() {
    let signer = key(1);
    let mut segments = stored(&signer);
    segments.reverse();
    assert!(verify(&segments, &[signer.public_key()]).is_ok());
}

#[test]
fn an_edited_field_is_the_first_broken_entry() {
    let signer = key(1);
    let mut segments = stored(&signer);
    let mut entries = lines(&segments[2]);
    // Entry 3 said Fail; the forger makes it Pass.
    entries[0]["record"]["event"]["observation"]["state"] = "Pass".into();
    set_lines(&mut segments[2], &entries);
    let broken = verify(&segments, &[signer.public_key()]).unwrap_err();
    assert_eq!(broken.seq, 3);
    assert_eq!(broken.segment, segments[2].key);
    assert_eq!(broken.line, 1);
    assert!(
        matches!(broken.reason, BreakReason::HashMismatch { .. }),
        "{broken}"
    );
}

#[test]
fn an_edited_entry_with_a_recomputed_hash_breaks_the_signature() {
    let signer = key(1);
    let mut segments = stored(&signer);
    let mut entries = lines(&segments[0]);
    let mut entry: Entry = serde_json::from_value(entries[1].clone()).unwrap();
    entry.record.at = at("2026-01-01T00:01:30Z");
    entry.hash = entry.computed_hash();
    entries[1] = serde_json::to_value(&entry).unwrap();
    set_lines(&mut segments[0], &entries);
    let broken = verify(&segments, &[signer.public_key()]).unwrap_err();
    assert_eq!((broken.seq, broken.line), (1, 2));
    assert!(matches!(broken.reason, BreakReason::BadSignature { .. }));
}

#[test]
fn a_deleted_entry_is_named() {
    let signer = key(1);
    let mut segments = stored(&signer);
    let mut entries = lines(&segments[2]);
    entries.remove(1); // entry 4
    set_lines(&mut segments[2], &entries);
    let broken = verify(&segments, &[signer.public_key()]).unwrap_err();
    assert_eq!(broken.seq, 5);
    assert_eq!(
        broken.reason,
        BreakReason::SeqGap {
            expected: 4,
            found: 5
        }
    );
}

#[test]
fn reordered_entries_are_named() {
    let signer = key(1);
    let mut segments = stored(&signer);
    let mut entries = lines(&segments[2]);
    entries.swap(0, 1);
    set_lines(&mut segments[2], &entries);
    let broken = verify(&segments, &[signer.public_key()]).unwrap_err();
    // The segment named 3 now starts with entry 4.
    assert_eq!(broken.segment, segments[2].key);
    assert!(
        matches!(
            broken.reason,
            BreakReason::MissingSegment {
                expected: 3,
                found: 4
            }
        ),
        "{broken}"
    );
}

#[test]
fn renumbered_entries_break_the_prev_link() {
    let signer = key(1);
    let mut segments = stored(&signer);
    // Entries 3 and 4 swapped AND renumbered: seqs look fine, the links do not.
    let mut entries = lines(&segments[2]);
    entries.swap(0, 1);
    entries[0]["seq"] = 3.into();
    entries[1]["seq"] = 4.into();
    set_lines(&mut segments[2], &entries);
    let broken = verify(&segments, &[signer.public_key()]).unwrap_err();
    assert_eq!(broken.seq, 3);
    assert!(
        matches!(broken.reason, BreakReason::PrevLink { .. }),
        "{broken}"
    );
}

#[test]
fn a_chain_re_signed_with_another_key_is_refused_from_its_first_entry() {
    let signer = key(1);
    let forger = key(2);
    let segments = stored(&forger);
    let broken = verify(&segments, &[signer.public_key()]).unwrap_err();
    assert_eq!(broken.seq, 0);
    assert_eq!(
        broken.reason,
        BreakReason::UnknownKey {
            key_id: forger.public_key().key_id()
        }
    );
}

#[test]
fn a_forged_key_id_does_not_pass_the_signature_check() {
    let signer = key(1);
    let forger = key(2);
    let mut segments = stored(&forger);
    // The forger claims the trusted key's id on its own signatures.
    for segment in &mut segments {
        let mut entries = lines(segment);
        for entry in &mut entries {
            entry["keyId"] = signer.public_key().key_id().into();
        }
        set_lines(segment, &entries);
    }
    let broken = verify(&segments, &[signer.public_key()]).unwrap_err();
    assert_eq!(broken.seq, 0);
    assert!(matches!(broken.reason, BreakReason::BadSignature { .. }));
}

#[test]
fn a_deleted_segment_in_the_middle_is_named() {
    let signer = key(1);
    let mut segments = stored(&signer);
    segments.remove(1); // entry 2
    let broken = verify(&segments, &[signer.public_key()]).unwrap_err();
    assert_eq!(broken.seq, 2);
    assert_eq!(
        broken.segment,
        "evidence/segments/00000000000000000003.jsonl"
    );
    assert_eq!(
        broken.reason,
        BreakReason::MissingSegment {
            expected: 2,
            found: 3
        }
    );
    assert!(
        broken.to_string().contains("entries 2..2 are missing"),
        "{broken}"
    );
}

#[test]
fn a_renamed_segment_is_named() {
    let signer = key(1);
    let mut segments = stored(&signer);
    segments[1].key = "evidence/segments/notes.jsonl".into();
    let broken = verify(&segments, &[signer.public_key()]).unwrap_err();
    assert!(matches!(
        broken.reason,
        BreakReason::SegmentName {
            first_seq_in_name: None
        }
    ));
}

#[test]
fn an_unparsable_line_is_named() {
    let signer = key(1);
    let mut segments = stored(&signer);
    segments[1].text = "{not json\n".into();
    let broken = verify(&segments, &[signer.public_key()]).unwrap_err();
    assert_eq!((broken.seq, broken.line), (2, 1));
    assert!(matches!(broken.reason, BreakReason::Unparsable { .. }));
}

#[test]
fn a_rotated_key_verifies_when_both_keys_are_trusted() {
    let (old, new) = (key(1), key(2));
    let first = append(None, vec![record(0, ControlState::Pass)], &old);
    let second = append(first.last(), vec![record(1, ControlState::Fail)], &new);
    let segments = [
        RawSegment {
            key: segment_name(0),
            text: segment_text(&first),
        },
        RawSegment {
            key: segment_name(1),
            text: segment_text(&second),
        },
    ];
    assert!(verify(&segments, &[new.public_key()]).is_err());
    assert!(verify(&segments, &[old.public_key(), new.public_key()]).is_ok());
}

#[test]
fn verify_from_continues_after_a_known_head() {
    let signer = key(1);
    let segments = stored(&signer);
    let all = verify(&segments, &[signer.public_key()]).unwrap();
    let head = &all.entries[2];
    let rest = verify_from(Some(head), &segments[2..], &[signer.public_key()]).unwrap();
    assert_eq!(rest.entries.first().map(|e| e.seq), Some(3));
    // Segments that do not continue the given head are refused.
    assert!(verify_from(Some(head), &segments[1..], &[signer.public_key()]).is_err());
}

#[test]
fn canonical_json_does_not_depend_on_key_order() {
    let a: serde_json::Value =
        serde_json::from_str(r#"{"b":1,"a":{"y":[1,{"d":2,"c":3}],"x":"é"}}"#).unwrap();
    let b: serde_json::Value =
        serde_json::from_str(r#"{"a":{"x":"é","y":[1,{"c":3,"d":2}]},"b":1}"#).unwrap();
    assert_eq!(canonical_json(&a), canonical_json(&b));
    assert_eq!(
        canonical_json(&a),
        r#"{"a":{"x":"é","y":[1,{"c":3,"d":2}]},"b":1}"#
    );
    assert_eq!(spec_hash(&a), spec_hash(&b));
}

#[test]
fn entries_round_trip_through_their_json_line() {
    let signer = key(1);
    let entries = append(None, vec![record(0, ControlState::Fail)], &signer);
    let line = entries[0].to_line();
    let back: Entry = serde_json::from_str(&line).unwrap();
    assert_eq!(back, entries[0]);
    assert_eq!(back.computed_hash(), back.hash);
    assert!(line.contains(r#""type":"transition""#), "{line}");
    assert!(line.contains(r#""specHash""#), "{line}");
}
