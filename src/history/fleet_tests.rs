//! The writer's snapshots and the period reader on the real local store: what a period read
//! costs (counted by wrapping the real store), that it equals the whole chain's report, that
//! a reopened writer starts from the newest snapshot, and a fleet with one broken chain.

use super::chain::BreakReason;
use super::chain_tests::{at, key};
use super::checkpoint::SNAPSHOTS;
use super::checkpoint_tests::history;
use super::entry::Record;
use super::fleet::{DEFAULT_CLUSTER, cluster_store, fleet_report};
use super::latest::Latest;
use super::log::Log;
use super::objects::{Counting, Objects};
use super::period::{read_period, verify_whole};
use super::report::report;
use super::store::Store;
use super::store_local::LocalStore;
use jiff::SignedDuration;

/// Writes `records` through a Log of `cluster`, one segment per record time (an evaluation).
async fn write(store: &Store, cluster: Option<&str>, records: Vec<Record>) -> Log {
    let mut log = Log::open_in(
        store.clone(),
        key(1),
        "op",
        Vec::new(),
        cluster.map(String::from),
    )
    .await
    .unwrap();
    let mut batch: Vec<Record> = Vec::new();
    for record in records {
        if batch.first().is_some_and(|b| b.at != record.at) {
            log.append(std::mem::take(&mut batch)).await.unwrap();
        }
        batch.push(record);
    }
    log.append(batch).await.unwrap();
    log
}

#[tokio::test]
async fn a_period_read_reads_the_periods_segments_not_the_whole_chain() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::Local(LocalStore::new(dir.path()));
    write(&store, Some("eu-1"), history(60)).await;
    let trusted = [key(1).public_key()];
    let segments = store.segment_keys(None).await.unwrap().len();
    let snapshots = store.names_under(SNAPSHOTS).await.unwrap().len();
    assert!(segments > 150, "{segments} segments");
    // One snapshot per UTC day with an append after the first.
    assert!((55..=60).contains(&snapshots), "{snapshots} snapshots");

    let interval = SignedDuration::from_hours(24);
    let (from, to) = (at("2026-02-10T00:00:00Z"), at("2026-02-13T00:00:00Z"));
    let counted = Counting::new(store.clone());
    let read = read_period(&counted, Some("eu-1"), from, to, &trusted)
        .await
        .unwrap()
        .unwrap();
    // The period's three days, the day before it from its snapshot on, the segment reaching
    // the end (about five of sixty days), plus the snapshot itself.
    assert!(read.snapshot.is_some());
    assert_eq!(counted.reads(), read.segments_read + 1);
    assert!(
        counted.reads() * 8 < segments,
        "{} of {segments}",
        counted.reads()
    );

    // The same report as the whole chain's.
    let whole = verify_whole(&store, Some("eu-1"), &trusted)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(whole.snapshots, snapshots);
    assert_eq!(
        report(&read.entries, from, to, interval),
        report(&whole.entries, from, to, interval)
    );
    // Reading the whole chain reads every segment and snapshot.
    let counted = Counting::new(store.clone());
    verify_whole(&counted, Some("eu-1"), &trusted)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(counted.reads(), segments + snapshots);
}

#[tokio::test]
async fn a_reopened_writer_starts_at_the_newest_snapshot_with_the_same_state() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::Local(LocalStore::new(dir.path()));
    let written = write(&store, None, history(20)).await;
    // An early segment removed: a writer starting from the newest snapshot does not read it
    // (the full verification does, and names it).
    std::fs::remove_file(dir.path().join("segments/00000000000000000004.jsonl")).unwrap();
    let reopened = Log::open(store.clone(), key(1), "again").await.unwrap();
    assert_eq!(reopened.head(), written.head());
    assert_eq!(reopened.latest(), written.latest());
    let whole = Latest::from_entries(std::iter::empty());
    assert_ne!(reopened.latest(), &whole);
    let broken = verify_whole(&store, None, &[key(1).public_key()])
        .await
        .unwrap()
        .unwrap_err();
    assert_eq!(broken.seq, 4);
}

#[tokio::test]
async fn a_fleet_report_names_the_broken_cluster_and_reports_the_others() {
    let dir = tempfile::tempdir().unwrap();
    let root = Store::Local(LocalStore::new(dir.path()));
    for id in ["eu-1", "us-2", "ap-3"] {
        write(&cluster_store(&root, id).unwrap(), Some(id), history(10)).await;
    }
    // us-2's chain: one segment replaced by eu-1's segment of the same number (signed by the
    // same key, but it links into eu-1's chain).
    let name = "segments/00000000000000000030.jsonl";
    let eu = dir.path().join("clusters/eu-1").join(name);
    let us = dir.path().join("clusters/us-2").join(name);
    std::fs::remove_file(&us).unwrap();
    std::fs::copy(&eu, &us).unwrap();

    let trusted = [key(1).public_key()];
    let (from, to) = (at("2026-01-01T00:00:00Z"), at("2026-01-11T00:00:00Z"));
    let fleet = fleet_report(&root, from, to, SignedDuration::from_hours(24), &trusted)
        .await
        .unwrap();
    let ids: Vec<&str> = fleet.clusters.iter().map(|c| c.cluster.as_str()).collect();
    assert_eq!(ids, ["ap-3", "eu-1", "us-2"]);
    let us = &fleet.clusters[2];
    assert!(!us.verified);
    let broken = us.broken.as_ref().unwrap();
    assert_eq!(broken.seq, 30);
    assert!(
        matches!(broken.reason, BreakReason::PrevLink { .. }),
        "{broken}"
    );
    assert!(us.controls.is_empty());
    for cluster in &fleet.clusters[..2] {
        assert!(cluster.verified, "{:?}", cluster.broken_text);
        assert!(!cluster.controls.is_empty());
        // The day-5 outage of the history is a gap in every cluster.
        assert!(cluster.recording_gap_seconds >= 86_400);
    }
    let markdown = super::fleet_render::render_markdown(&fleet);
    assert!(
        markdown.contains("| us-2 | BROKEN: entry 30 in"),
        "{markdown}"
    );
    assert!(markdown.contains("| eu-1 | SecurityBaseline/prod |"));
    assert!(!markdown.contains(DEFAULT_CLUSTER));
    let html = super::fleet_render::render_html(&fleet);
    assert!(
        html.contains("<td>us-2</td><td class=\"broken\">BROKEN: entry 30 in"),
        "{html}"
    );
    assert!(html.contains("<td>ap-3</td><td>SecurityBaseline/prod</td>"));
    let json: super::fleet::FleetReport =
        serde_json::from_str(&serde_json::to_string(&fleet).unwrap()).unwrap();
    assert_eq!(json, fleet);
}

/// The fleet as one OSCAL document: a result per cluster named by its id, a finding per
/// resource and control whose verdict and intervals are that cluster's report's, observations
/// citing the cluster's own entries; the broken cluster's result states its first broken entry
/// and every control of it is not-satisfied.
#[tokio::test]
async fn a_fleet_becomes_one_oscal_result_per_cluster_and_the_broken_one_proves_nothing() {
    use crate::evidence::oscal::{period_verdict, state_token};
    let dir = tempfile::tempdir().unwrap();
    let root = Store::Local(LocalStore::new(dir.path()));
    for id in ["eu-1", "us-2", "ap-3"] {
        write(&cluster_store(&root, id).unwrap(), Some(id), history(10)).await;
    }
    let name = "segments/00000000000000000030.jsonl";
    let us = dir.path().join("clusters/us-2").join(name);
    std::fs::remove_file(&us).unwrap();
    std::fs::copy(dir.path().join("clusters/eu-1").join(name), &us).unwrap();

    let trusted = [key(1).public_key()];
    let (from, to) = (at("2026-01-01T00:00:00Z"), at("2026-01-11T00:00:00Z"));
    let (fleet, kept) = super::fleet::fleet_report_with(
        &root,
        from,
        to,
        SignedDuration::from_hours(24),
        &trusted,
        &super::fleet_oscal::keep,
    )
    .await
    .unwrap();
    assert!(kept[2].is_none(), "nothing kept of the broken chain");
    let text = super::fleet_oscal::render(&fleet, kept, at("2026-02-01T00:00:00Z"));
    let document: serde_json::Value = serde_json::from_str(&text).unwrap();
    let results = document["assessment-results"]["results"]
        .as_array()
        .unwrap();
    let titles: Vec<&str> = results
        .iter()
        .map(|r| r["title"].as_str().unwrap())
        .collect();
    assert_eq!(
        titles,
        [
            "Cluster ap-3",
            "Cluster eu-1",
            "Cluster us-2: evidence history BROKEN"
        ]
    );
    let prop = |object: &serde_json::Value, name: &str| -> Option<String> {
        object["props"]
            .as_array()?
            .iter()
            .find(|p| p["name"] == name)
            .map(|p| p["value"].as_str().unwrap().to_string())
    };
    for (result, cluster) in results.iter().zip(&fleet.clusters) {
        assert_eq!(
            prop(result, "cluster").as_deref(),
            Some(cluster.cluster.as_str())
        );
    }

    // A verified cluster: one finding per resource and control of its report, same verdict
    // and the same spans as `interval` props.
    let eu = &fleet.clusters[1];
    let findings = results[1]["findings"].as_array().unwrap();
    assert_eq!(findings.len(), eu.controls.len());
    for control in &eu.controls {
        let finding = findings
            .iter()
            .find(|f| {
                f["target"]["target-id"] == control.control.as_str()
                    && prop(f, "resource-name").as_deref() == Some(control.resource.name.as_str())
            })
            .unwrap_or_else(|| panic!("a finding for {}", control.control));
        let verdict = period_verdict(control.timeline.iter().map(|s| s.state));
        assert_eq!(finding["target"]["status"]["state"], verdict.state());
        assert_eq!(finding["target"]["status"]["reason"], verdict.reason);
        let intervals: Vec<(String, String)> = finding["props"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|p| p["name"] == "interval")
            .map(|p| {
                (
                    p["class"].as_str().unwrap().to_string(),
                    p["value"].as_str().unwrap().to_string(),
                )
            })
            .collect();
        let timeline: Vec<(String, String)> = control
            .timeline
            .iter()
            .map(|s| {
                (
                    state_token(s.state).to_string(),
                    format!("{}/{}", s.start, s.end),
                )
            })
            .collect();
        assert_eq!(intervals, timeline);
    }
    // Its observations cite entries of its own chain.
    let hashes: Vec<String> = results[1]["observations"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|o| prop(o, "history-entry-hash"))
        .collect();
    assert!(!hashes.is_empty());
    let eu_chain = verify_whole(
        &cluster_store(&root, "eu-1").unwrap(),
        Some("eu-1"),
        &trusted,
    )
    .await
    .unwrap()
    .unwrap();
    assert!(
        hashes
            .iter()
            .all(|h| eu_chain.entries.iter().any(|e| &e.hash == h))
    );

    // The broken cluster: its first broken entry stated, every control not-satisfied.
    let broken = &results[2];
    assert_eq!(prop(broken, "chain").as_deref(), Some("broken"));
    assert_eq!(
        prop(broken, "first-broken-entry-seq").as_deref(),
        Some("30")
    );
    let observation = &broken["observations"][0];
    assert!(
        prop(observation, "first-broken")
            .unwrap()
            .starts_with("entry 30 in"),
        "{observation}"
    );
    let findings = broken["findings"].as_array().unwrap();
    assert_eq!(findings.len(), crate::catalog::ControlId::ALL.len());
    for finding in findings {
        assert_eq!(finding["target"]["status"]["state"], "not-satisfied");
        assert_eq!(finding["target"]["status"]["reason"], "history-broken");
        assert_eq!(
            finding["related-observations"][0]["observation-uuid"],
            observation["uuid"]
        );
    }

    // Every UUID of the document is unique.
    let mut uuids = Vec::new();
    fn collect(value: &serde_json::Value, out: &mut Vec<String>) {
        match value {
            serde_json::Value::Object(map) => {
                if let Some(serde_json::Value::String(uuid)) = map.get("uuid") {
                    out.push(uuid.clone());
                }
                map.values().for_each(|v| collect(v, out));
            }
            serde_json::Value::Array(items) => items.iter().for_each(|v| collect(v, out)),
            _ => {}
        }
    }
    collect(&document, &mut uuids);
    let count = uuids.len();
    uuids.sort();
    uuids.dedup();
    assert_eq!(uuids.len(), count, "duplicate UUIDs");
}
