//! What the leader appends, on a local history directory.

use super::*;
use crate::api::{ControlResult, ControlState};
use crate::catalog::ControlId;
use crate::history::{Entry, Event, LocalStore, verify};

fn result(id: ControlId, state: ControlState, checked: i32) -> ControlResult {
    ControlResult {
        id,
        title: String::new(),
        frameworks: Vec::new(),
        state,
        checked,
        failed: i32::from(state == ControlState::Fail),
        exempted: 0,
        failed_findings: 0,
        exempted_findings: 0,
        findings: Vec::new(),
        note: String::new(),
        last_evaluated: None,
    }
}

fn writer(dir: &std::path::Path, key: &SigningKey, identity: &str) -> HistoryWriter {
    HistoryWriter::new(
        HistoryConfig {
            store: Store::Local(LocalStore::new(dir)),
            key: key.clone(),
            checkpoint: SignedDuration::from_hours(24),
            cluster: None,
        },
        identity.into(),
    )
}

async fn entries(dir: &std::path::Path, key: &SigningKey) -> Vec<Entry> {
    let store = Store::Local(LocalStore::new(dir));
    let segments = store.read_segments(None).await.unwrap();
    verify(&segments, &[key.public_key()])
        .expect("the chain verifies")
        .entries
}

fn kinds(entries: &[Entry]) -> Vec<String> {
    entries
        .iter()
        .map(|e| match &e.record.event {
            Event::Transition { observation, .. } => {
                format!("transition {} {:?}", observation.control, observation.state)
            }
            Event::Checkpoint { observation } => format!("checkpoint {}", observation.control),
            Event::Started { identity } => format!("started {identity}"),
            Event::Stopped { identity } => format!("stopped {identity}"),
            Event::Deleted { resource } => format!("deleted {resource}"),
        })
        .collect()
}

#[tokio::test]
async fn the_leader_appends_changes_and_checkpoints_and_a_successor_goes_on_from_the_chain() {
    let dir = tempfile::tempdir().unwrap();
    let key = SigningKey::from_seed_bytes(&[7; 32]);
    let at = |h: i64| Timestamp::from_second(1_900_000_000 + h * 3600).unwrap();
    let sb = resource_ref("SecurityBaseline", "prod");
    async fn record(w: &HistoryWriter, sb: &ResourceRef, state: ControlState, at: Timestamp) {
        let controls = vec![
            result(ControlId::TrustedImages, state, 3),
            result(ControlId::ResourceGovernance, ControlState::Pass, 3),
        ];
        w.record(sb.clone(), Some(1), "hash".into(), &controls, &[], at)
            .await
            .unwrap()
    }
    let a = writer(dir.path(), &key, "a");
    a.start(at(0)).await.unwrap();
    record(&a, &sb, ControlState::Pass, at(0)).await;
    record(&a, &sb, ControlState::Pass, at(1)).await; // unchanged: nothing
    record(&a, &sb, ControlState::Fail, at(2)).await; // one transition
    record(&a, &sb, ControlState::Fail, at(27)).await; // a day later: checkpoints
    assert_eq!(
        kinds(&entries(dir.path(), &key).await),
        [
            "started a",
            "transition trusted-images Pass",
            "transition resource-governance Pass",
            "transition trusted-images Fail",
            "checkpoint trusted-images",
            "checkpoint resource-governance",
        ]
    );
    // A successor (the leader was killed: no Stopped) continues the chain from what it last
    // said: only the changed control is recorded.
    let b = writer(dir.path(), &key, "b");
    record(&b, &sb, ControlState::Pass, at(28)).await;
    b.deleted(sb.clone(), at(29)).await.unwrap();
    b.stop(at(30)).await;
    let all = kinds(&entries(dir.path(), &key).await);
    assert_eq!(
        all[6..],
        [
            "started b",
            "transition trusted-images Pass",
            "deleted SecurityBaseline/prod",
            "stopped b",
        ]
    );
}

#[tokio::test]
async fn a_history_that_cannot_be_written_is_an_error_naming_where_not_a_secret() {
    let dir = tempfile::tempdir().unwrap();
    let blocked = dir.path().join("not-a-directory");
    std::fs::write(&blocked, "a file where the history's directory should be").unwrap();
    let key = SigningKey::from_seed_bytes(&[9; 32]);
    let w = writer(&blocked, &key, "a");
    let controls = [result(ControlId::TrustedImages, ControlState::Pass, 1)];
    let error = w
        .record(
            resource_ref("SecurityBaseline", "prod"),
            Some(1),
            "hash".into(),
            &controls,
            &[],
            Timestamp::now(),
        )
        .await
        .expect_err("nothing can be written there");
    let message = error.to_string();
    assert!(message.contains("not-a-directory"), "{message}");
    assert!(!message.contains(&key.seed_base64()), "{message}");
}
