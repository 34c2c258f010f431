//! Snapshots: signed and checked, and standing exactly for the entries before them (a
//! report read from any snapshot at or before its period equals the report of the whole
//! chain; the writer's Latest is the same). Cluster ids: signed, and checked by verification.

use super::chain::{
    Anchor, BreakReason, RawSegment, append, append_in, segment_text, verify_after,
};
use super::chain_tests::{at, key, observation};
use super::checkpoint::*;
use super::entry::*;
use super::latest::Latest;
use super::report::report;
use crate::api::ControlState::{self, *};
use crate::catalog::ControlId;
use jiff::SignedDuration;

/// A deterministic history over `days` days: two resources, three controls, transitions,
/// checkpoints, a deletion and a re-creation, an operator outage and a clean stop, and one
/// writer whose clock runs behind.
pub(super) fn history(days: i64) -> Vec<Record> {
    let start = at("2026-01-01T00:00:00Z");
    let controls = [
        ControlId::RestrictedPorts,
        ControlId::ALL[1],
        ControlId::ALL[2],
    ];
    let states = [Pass, Fail, Exempt, Pass, NotEvaluated];
    let mut seed: u64 = 7;
    let mut next = || {
        seed = seed
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        (seed >> 33) as usize
    };
    let mut records = Vec::new();
    for day in 0..days {
        for hour in [1i64, 9, 17] {
            let when = start + SignedDuration::from_hours(day * 24 + hour);
            if day == 3 && hour == 9 {
                records.push(Record {
                    at: when,
                    event: Event::Stopped {
                        identity: "a".into(),
                    },
                });
                continue;
            }
            if day == 3 && hour == 17 || day == 6 && hour == 1 {
                records.push(Record {
                    at: when,
                    event: Event::Started {
                        identity: "b".into(),
                    },
                });
            }
            if day == 5 {
                continue; // down all day: a gap
            }
            for name in ["prod", "staging"] {
                if name == "staging" && (8..11).contains(&day) {
                    if day == 8 && hour == 1 {
                        records.push(Record {
                            at: when,
                            event: Event::Deleted {
                                resource: observation(name, controls[0], Pass).resource,
                            },
                        });
                    }
                    continue;
                }
                for control in controls {
                    let state: ControlState = states[next() % states.len()];
                    // A clock behind by a minute now and then.
                    let skew = if next() % 7 == 0 { -60 } else { 0 };
                    records.push(Record {
                        at: when + SignedDuration::from_secs(skew),
                        event: Event::Checkpoint {
                            observation: observation(name, control, state),
                        },
                    });
                }
            }
        }
    }
    records
}

/// The records appended a few at a time, as segments.
fn chained(records: Vec<Record>, cluster: Option<&str>) -> Vec<Vec<Entry>> {
    let signer = key(1);
    let mut head: Option<Entry> = None;
    let mut segments = Vec::new();
    for batch in records.chunks(4) {
        let entries = append_in(cluster, head.as_ref(), batch.to_vec(), &signer);
        head = entries.last().cloned();
        segments.push(entries);
    }
    segments
}

#[test]
fn a_report_from_any_snapshot_equals_the_report_of_the_whole_chain() {
    let entries: Vec<Entry> = chained(history(14), None).concat();
    let interval = SignedDuration::from_hours(24);
    let periods = [
        ("2026-01-02T00:00:00Z", "2026-01-05T00:00:00Z"),
        ("2026-01-04T00:00:00Z", "2026-01-08T12:00:00Z"),
        ("2026-01-09T00:00:00Z", "2026-01-15T00:00:00Z"),
        ("2026-01-12T06:00:00Z", "2026-01-13T00:00:00Z"),
    ];
    let mut compared = 0;
    for (from, to) in periods {
        let (from, to) = (at(from), at(to));
        let whole = report(&entries, from, to, interval);
        let mut boundary = Boundary::default();
        for (k, entry) in entries.iter().enumerate() {
            boundary.apply(entry);
            if boundary.at.unwrap() > from {
                break;
            }
            let mut from_snapshot = boundary.report_prefix();
            from_snapshot.extend(entries[k + 1..].iter().cloned());
            assert_eq!(
                report(&from_snapshot, from, to, interval),
                whole,
                "period {from}..{to} read from the snapshot after entry {k}"
            );
            compared += 1;
        }
    }
    assert!(compared > 100, "{compared}");
}

#[test]
fn a_snapshot_restores_the_writers_latest() {
    let entries: Vec<Entry> = chained(history(12), None).concat();
    for k in [0, 10, 57, 140, entries.len() - 1] {
        let boundary = Boundary::from_entries(&entries[..=k]);
        assert_eq!(
            boundary.latest(),
            Latest::from_entries(&entries[..=k]),
            "after {k}"
        );
    }
}

#[test]
fn a_snapshot_is_signed_named_and_of_one_cluster() {
    let entries: Vec<Entry> = chained(history(2), Some("eu-1")).concat();
    let boundary = Boundary::from_entries(&entries);
    let snapshot = boundary.snapshot(Some("eu-1"), 40, &key(1)).unwrap();
    let text = snapshot.to_text();
    let name = snapshot.name();
    let trusted = [key(1).public_key()];
    assert_eq!(
        Snapshot::check(&text, &name, Some("eu-1"), &trusted).unwrap(),
        snapshot
    );
    assert_eq!(
        Boundary::from_snapshot(&snapshot).report_prefix(),
        boundary.report_prefix()
    );
    assert!(
        Snapshot::check(&text, &name, Some("us-2"), &trusted)
            .unwrap_err()
            .contains("cluster eu-1's")
    );
    assert!(Snapshot::check(&text, &name, None, &[key(2).public_key()]).is_err());
    assert!(Snapshot::check(&text, "00000000000000000001-0.json", None, &trusted).is_err());
    let edited = text.replace("\"stopped\":false", "\"stopped\":true");
    assert_ne!(edited, text);
    assert!(
        Snapshot::check(&edited, &name, None, &trusted)
            .unwrap_err()
            .contains("signature")
    );
}

#[test]
fn the_reader_starts_at_the_last_snapshot_at_or_before_the_period() {
    let name = |seq: u64, t: &str| snapshot_name(seq, at(t));
    let names = vec![
        name(10, "2026-01-01T00:30:00Z"),
        name(50, "2026-01-02T00:10:00Z"),
        name(90, "2026-01-03T00:20:00Z"),
        "junk.json".to_string(),
    ];
    let start = |t: &str| start_for(&names, at(t)).map(|(_, seq, _)| seq);
    assert_eq!(start("2026-01-01T00:00:00Z"), None);
    assert_eq!(start("2026-01-02T00:10:00Z"), Some(50));
    assert_eq!(start("2026-01-03T00:00:00Z"), Some(50));
    assert_eq!(start("2027-01-01T00:00:00Z"), Some(90));
    assert_eq!(newest(&names).map(|(_, seq, _)| seq), Some(90));
    assert_eq!(
        parse_snapshot_name(&name(7, "2026-01-01T00:00:00Z")),
        Some((7, at("2026-01-01T00:00:00Z")))
    );
}

#[test]
fn a_snapshot_is_due_at_the_first_append_of_a_new_utc_day() {
    assert!(!due(at("2026-01-01T00:10:00Z"), at("2026-01-01T23:59:59Z")));
    assert!(due(at("2026-01-01T23:59:59Z"), at("2026-01-02T00:00:00Z")));
    assert!(due(at("2026-01-01T10:00:00Z"), at("2026-01-09T10:00:00Z")));
}

#[test]
fn the_full_check_finds_a_snapshot_that_lies_about_the_chain() {
    let segments = chained(history(3), Some("eu-1"));
    let entries: Vec<Entry> = segments.concat();
    let trusted = [key(1).public_key()];
    let firsts: Vec<u64> = segments.iter().map(|s| s[0].seq).collect();
    let segment_of = |seq: u64| firsts.iter().rev().find(|f| **f <= seq).copied();
    let end = segments[5].last().unwrap().seq;
    let honest = Boundary::from_entries(&entries[..=end as usize])
        .snapshot(Some("eu-1"), segments[5][0].seq, &key(1))
        .unwrap();
    let stored = [(honest.name(), honest.to_text())];
    assert_eq!(
        check_against_chain(&entries, &stored, Some("eu-1"), &trusted, segment_of),
        Ok(1)
    );
    // Signed with the right key, but saying a control passed when the chain says otherwise.
    let mut boundary = Boundary::from_entries(&entries[..end as usize]);
    boundary.apply(&entries[end as usize]);
    let mut lying = boundary.clone();
    let mut forged = entries[end as usize].clone();
    let mut passing = observation("prod", ControlId::RestrictedPorts, Pass);
    passing.checked = 999;
    forged.record.event = Event::Checkpoint {
        observation: passing,
    };
    lying.apply(&forged);
    let lie = lying
        .snapshot(Some("eu-1"), segments[5][0].seq, &key(1))
        .unwrap();
    assert_ne!(lie.controls, honest.controls);
    let broken = check_against_chain(
        &entries,
        &[(lie.name(), lie.to_text())],
        Some("eu-1"),
        &trusted,
        segment_of,
    )
    .unwrap_err();
    assert!(matches!(broken.reason, BreakReason::Snapshot { .. }));
    assert_eq!(broken.seq, end);
}

fn raw(segments: &[Vec<Entry>]) -> Vec<RawSegment> {
    segments
        .iter()
        .map(|s| RawSegment {
            key: format!("segments/{:020}.jsonl", s[0].seq),
            text: segment_text(s),
        })
        .collect()
}

#[test]
fn the_cluster_id_is_signed_and_a_chain_of_another_cluster_is_broken() {
    let trusted = [key(1).public_key()];
    let eu = chained(history(1), Some("eu-1"));
    assert!(verify_after(None, Some("eu-1"), &raw(&eu), &trusted).is_ok());
    assert!(verify_after(None, None, &raw(&eu), &trusted).is_ok());
    let broken = verify_after(None, Some("us-2"), &raw(&eu), &trusted).unwrap_err();
    assert_eq!(broken.seq, 0);
    assert!(matches!(broken.reason, BreakReason::WrongCluster { .. }));
    // Editing the id breaks the hash (and so the signature).
    let mut edited = eu.clone();
    edited[1][0].cluster = Some("us-2".into());
    let broken = verify_after(None, None, &raw(&edited), &trusted).unwrap_err();
    assert!(matches!(broken.reason, BreakReason::HashMismatch { .. }));
    // Entries without an id are the same bytes as before ids existed.
    let legacy = append(None, history(1)[..2].to_vec(), &key(1));
    assert!(!legacy[0].to_line().contains("cluster"));
    assert_eq!(
        legacy[0].hash,
        append_in(None, None, history(1)[..1].to_vec(), &key(1))[0].hash
    );
}

#[test]
fn a_chain_may_take_an_id_after_entries_without_one_never_drop_it() {
    let trusted = [key(1).public_key()];
    let records = history(1);
    let before = append(None, records[..3].to_vec(), &key(1));
    let after = append_in(Some("eu-1"), before.last(), records[3..6].to_vec(), &key(1));
    let segments = raw(&[before.clone(), after.clone()]);
    assert!(verify_after(None, Some("eu-1"), &segments, &trusted).is_ok());
    let dropped = append(after.last(), records[6..7].to_vec(), &key(1));
    let segments = raw(&[before, after, dropped.clone()]);
    let broken = verify_after(None, Some("eu-1"), &segments, &trusted).unwrap_err();
    assert_eq!(broken.seq, dropped[0].seq);
    // Verification may start after a known entry (a snapshot's).
    let anchor = Anchor {
        seq: 2,
        hash: segments[0]
            .text
            .lines()
            .nth(2)
            .map(|l| serde_json::from_str::<Entry>(l).unwrap().hash)
            .unwrap(),
    };
    assert!(verify_after(Some(&anchor), Some("eu-1"), &segments[1..2], &trusted).is_ok());
}
