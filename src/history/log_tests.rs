//! The Log on the local store: what it writes, that it re-reads the head when another writer
//! got there first, and that it refuses a broken chain.

use super::chain::{RawSegment, verify};
use super::chain_tests::{at, key, observation};
use super::entry::*;
use super::error::HistoryError;
use super::log::Log;
use super::store::Store;
use super::store_local::LocalStore;
use crate::api::ControlState::*;
use crate::catalog::ControlId;

fn records(n: usize, writer: &str) -> Vec<Record> {
    (0..n)
        .map(|i| Record {
            at: at("2026-03-01T00:00:00Z"),
            event: Event::Checkpoint {
                observation: {
                    let mut o = observation(writer, ControlId::RestrictedPorts, Pass);
                    o.checked = i as i32;
                    o
                },
            },
        })
        .collect()
}

async fn stored(store: &Store) -> Vec<RawSegment> {
    store.read_segments(None).await.unwrap()
}

#[tokio::test]
async fn appends_become_segments_named_after_their_first_entry() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::Local(LocalStore::new(dir.path()));
    let mut log = Log::open(store.clone(), key(1), "a").await.unwrap();
    assert!(log.head().is_none());
    log.started(at("2026-03-01T00:00:00Z")).await.unwrap();
    log.append(records(3, "prod")).await.unwrap();
    log.append(Vec::new()).await.unwrap();
    assert_eq!(log.head().map(|h| h.seq), Some(3));
    let keys = store.segment_keys(None).await.unwrap();
    assert_eq!(
        keys,
        [
            "segments/00000000000000000000.jsonl",
            "segments/00000000000000000001.jsonl"
        ]
    );
    // A second Log continues from the stored head.
    let mut again = Log::open(store.clone(), key(1), "b").await.unwrap();
    assert_eq!(again.head().map(|h| h.seq), Some(3));
    assert!(
        again
            .latest()
            .get(
                &observation("prod", ControlId::RestrictedPorts, Pass).resource,
                ControlId::RestrictedPorts
            )
            .is_some()
    );
    again.stopped(at("2026-03-01T01:00:00Z")).await.unwrap();
    let verified = verify(&stored(&store).await, &[key(1).public_key()]).unwrap();
    assert_eq!(verified.entries.len(), 5);
}

#[tokio::test]
async fn a_writer_behind_the_head_re_reads_it_and_never_forks() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::Local(LocalStore::new(dir.path()));
    let mut a = Log::open(store.clone(), key(1), "a").await.unwrap();
    let mut b = Log::open(store.clone(), key(1), "b").await.unwrap();
    a.append(records(2, "a")).await.unwrap();
    // b still believes the chain is empty: its write of entry 0 is refused, it catches up.
    b.append(records(1, "b")).await.unwrap();
    assert_eq!(b.head().map(|h| h.seq), Some(2));
    a.append(records(1, "a")).await.unwrap();
    assert_eq!(a.head().map(|h| h.seq), Some(3));
    let verified = verify(&stored(&store).await, &[key(1).public_key()]).unwrap();
    let seqs: Vec<u64> = verified.entries.iter().map(|e| e.seq).collect();
    assert_eq!(seqs, [0, 1, 2, 3]);
}

#[tokio::test]
async fn concurrent_writers_interleave_without_forking() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::Local(LocalStore::new(dir.path()));
    let mut tasks = Vec::new();
    for writer in ["a", "b", "c"] {
        let store = store.clone();
        tasks.push(tokio::spawn(async move {
            let mut log = Log::open(store, key(1), writer).await.unwrap();
            for _ in 0..5 {
                log.append(records(2, writer)).await.unwrap();
            }
        }));
    }
    for task in tasks {
        task.await.unwrap();
    }
    let verified = verify(&stored(&store).await, &[key(1).public_key()]).unwrap();
    assert_eq!(verified.entries.len(), 30);
    assert_eq!(verified.segments, 15);
}

#[tokio::test]
async fn a_broken_chain_is_refused_at_open() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::Local(LocalStore::new(dir.path()));
    let mut log = Log::open(store.clone(), key(1), "a").await.unwrap();
    log.append(records(1, "a")).await.unwrap();
    log.append(records(1, "a")).await.unwrap();
    log.append(records(1, "a")).await.unwrap();
    std::fs::remove_file(dir.path().join("segments/00000000000000000001.jsonl")).unwrap();
    match Log::open(store, key(1), "b").await {
        Err(HistoryError::Broken(broken)) => assert_eq!(broken.seq, 1),
        other => panic!("expected a broken chain, got {other:?}"),
    }
}

#[tokio::test]
async fn a_log_signed_by_another_key_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::Local(LocalStore::new(dir.path()));
    let mut log = Log::open(store.clone(), key(1), "a").await.unwrap();
    log.append(records(1, "a")).await.unwrap();
    assert!(matches!(
        Log::open(store, key(2), "b").await,
        Err(HistoryError::Broken(_))
    ));
}
