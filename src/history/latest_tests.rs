use super::chain::append;
use super::chain_tests::{at, key, observation};
use super::entry::*;
use super::latest::Latest;
use crate::api::ControlState::*;
use crate::catalog::ControlId;
use jiff::SignedDuration;

const DAY: SignedDuration = SignedDuration::from_hours(24);

fn types(records: &[Record]) -> Vec<&'static str> {
    records
        .iter()
        .map(|r| match r.event {
            Event::Transition { .. } => "transition",
            Event::Checkpoint { .. } => "checkpoint",
            _ => "other",
        })
        .collect()
}

#[test]
fn first_sight_and_state_changes_are_transitions_unchanged_facts_wait_for_the_interval() {
    let mut latest = Latest::default();
    let now = at("2026-03-01T00:00:00Z");
    let pass = observation("prod", ControlId::RestrictedPorts, Pass);
    let first = latest.due(now, vec![pass.clone()], DAY);
    assert_eq!(types(&first), ["transition"]);
    assert!(matches!(
        first[0].event,
        Event::Transition { from: None, .. }
    ));
    for record in &first {
        latest.apply(record);
    }
    // Five minutes later, nothing changed: nothing to append (a converged resync writes
    // nothing).
    assert!(
        latest
            .due(at("2026-03-01T00:05:00Z"), vec![pass.clone()], DAY)
            .is_empty()
    );
    // A day later: the checkpoint that says it is still so.
    assert_eq!(
        types(&latest.due(at("2026-03-02T00:00:00Z"), vec![pass.clone()], DAY)),
        ["checkpoint"]
    );
    // More objects checked, same state: a checkpoint at once.
    let mut more = pass.clone();
    more.checked += 1;
    assert_eq!(
        types(&latest.due(at("2026-03-01T00:06:00Z"), vec![more], DAY)),
        ["checkpoint"]
    );
    // The state changes: a transition naming where it came from.
    let fail = observation("prod", ControlId::RestrictedPorts, Fail);
    let records = latest.due(at("2026-03-01T00:07:00Z"), vec![fail], DAY);
    assert!(matches!(
        records[0].event,
        Event::Transition {
            from: Some(Pass),
            ..
        }
    ));
}

#[test]
fn latest_follows_the_chain_and_forgets_deleted_resources() {
    let pass = observation("prod", ControlId::RestrictedPorts, Pass);
    let records = vec![
        Record {
            at: at("2026-03-01T00:00:00Z"),
            event: Event::Transition {
                from: None,
                observation: pass.clone(),
            },
        },
        Record {
            at: at("2026-03-01T01:00:00Z"),
            event: Event::Deleted {
                resource: pass.resource.clone(),
            },
        },
    ];
    let entries = append(None, records, &key(1));
    let before = Latest::from_entries(&entries[..1]);
    assert!(
        before
            .get(&pass.resource, ControlId::RestrictedPorts)
            .is_some()
    );
    let after = Latest::from_entries(&entries);
    assert!(
        after
            .get(&pass.resource, ControlId::RestrictedPorts)
            .is_none()
    );
    assert!(after.resources().is_empty());
}
