//! Fleet report benchmark (issue 27 item 4): N clusters' chains in one bucket of the local S3
//! server (the backup stack's MinIO, started by the test support, or reused with
//! `BASELINE_TEST_KUBECONFIG`), each written by the real writer ([`Log`]) with one evaluation a
//! day for D days: per resource, one segment of a checkpoint per control, a control flipping
//! Pass/Fail every week (transitions), and the writer's daily signed snapshot. Then
//! `fleet report` over periods of growing length and over growing subsets of clusters; per
//! run: wall time, objects read and listings (counted by wrapping the real store), and the
//! process's peak RSS during the run (VmHWM, reset through /proc/self/clear_refs before each).
//!
//! ```text
//! cargo bench --bench fleet -- --clusters 100 --days 365          # the full size (idle machine)
//! cargo bench --bench fleet -- --clusters 5 --days 30             # a smoke run
//! cargo bench --bench fleet -- --dir /tmp/fleet --clusters 5 --days 30   # a local directory
//! ```
//!
//! Options: `--resources R` per cluster (default 3), `--periods 7,30,90,365` (days, ending at
//! the last day written; longer than `--days` are skipped), `--prefix P` (reuse a written
//! fleet: `--skip-write`), `--out FILE` (JSON of every run).

use baseline_operator::api::ControlState;
use baseline_operator::catalog::ControlId;
use baseline_operator::history::fleet::{cluster_report, cluster_store};
use baseline_operator::history::objects::Counting;
use baseline_operator::history::*;
use futures::StreamExt;
use jiff::{SignedDuration, Timestamp};
use std::time::Instant;

struct Options {
    clusters: usize,
    days: i64,
    resources: usize,
    periods: Vec<i64>,
    dir: Option<std::path::PathBuf>,
    prefix: Option<String>,
    skip_write: bool,
    out: Option<std::path::PathBuf>,
}

fn options() -> Options {
    let mut o = Options {
        clusters: 100,
        days: 365,
        resources: 3,
        periods: vec![7, 30, 90, 365],
        dir: None,
        prefix: None,
        skip_write: false,
        out: None,
    };
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        let mut value = || args.next().unwrap_or_else(|| panic!("{arg} needs a value"));
        match arg.as_str() {
            "--clusters" => o.clusters = value().parse().expect("--clusters N"),
            "--days" => o.days = value().parse().expect("--days D"),
            "--resources" => o.resources = value().parse().expect("--resources R"),
            "--periods" => {
                o.periods = value()
                    .split(',')
                    .map(|p| p.parse().expect("--periods 7,30,..."))
                    .collect()
            }
            "--dir" => o.dir = Some(value().into()),
            "--prefix" => o.prefix = Some(value()),
            "--skip-write" => o.skip_write = true,
            "--out" => o.out = Some(value().into()),
            "--bench" => {} // cargo bench passes it
            other => panic!("unknown option {other}"),
        }
    }
    o
}

fn read(path: &std::path::Path) -> String {
    std::fs::read_to_string(path).unwrap().trim().to_string()
}

/// The peak RSS since the last reset, in KiB.
fn peak_kib() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or(0)
}

/// Resets the peak RSS to the current RSS (Linux: 5 > /proc/self/clear_refs).
fn reset_peak() {
    let _ = std::fs::write("/proc/self/clear_refs", "5");
}

fn observation(resource: usize, control: ControlId, state: ControlState) -> Observation {
    Observation {
        resource: ResourceRef {
            kind: "SecurityBaseline".into(),
            name: format!("baseline-{resource}"),
        },
        generation: Some(1),
        spec_hash: spec_hash(&serde_json::json!({ "resource": resource })),
        control,
        state,
        checked: 40,
        failed: i32::from(state == ControlState::Fail),
        exempted: 0,
        findings: Vec::new(),
        exemptions: Vec::new(),
    }
}

/// One cluster's year: the real writer, one append per resource per day.
async fn write_cluster(store: Store, id: String, key: SigningKey, o: &Options, start: Timestamp) {
    let mut log = Log::open_in(
        store,
        key,
        format!("{id}-operator"),
        Vec::new(),
        Some(id.clone()),
    )
    .await
    .expect("open");
    log.started(start).await.expect("started");
    let controls = &ControlId::ALL[..8];
    for day in 0..o.days {
        let now = start + SignedDuration::from_hours(24 * day);
        for resource in 0..o.resources {
            let records = controls
                .iter()
                .enumerate()
                .map(|(i, control)| {
                    // Control i of resource r fails in alternate weeks when (i + r) is odd.
                    let failing = (i + resource) % 2 == 1 && (day / 7) % 2 == 1;
                    let state = if failing {
                        ControlState::Fail
                    } else {
                        ControlState::Pass
                    };
                    let observation = observation(resource, *control, state);
                    let event = match log.latest().get(&observation.resource, *control) {
                        Some((_, last)) if last.state == state => Event::Checkpoint { observation },
                        last => Event::Transition {
                            from: last.map(|(_, o)| o.state),
                            observation,
                        },
                    };
                    Record { at: now, event }
                })
                .collect();
            log.append(records).await.expect("append");
        }
    }
}

#[tokio::main]
async fn main() {
    let o = options();
    let key = SigningKey::from_seed_bytes(&[27; 32]);
    let trusted = vec![key.public_key()];
    let (root, _cluster) = match &o.dir {
        Some(dir) => (Store::Local(LocalStore::new(dir)), None),
        None => {
            let cluster = baseline_test_support::velero_cluster();
            let s3 = cluster.s3().expect("the backup stack's S3 server");
            let prefix = o.prefix.clone().unwrap_or_else(|| {
                format!(
                    "bench-fleet/{}x{}-{}",
                    o.clusters,
                    o.days,
                    Timestamp::now().as_second()
                )
            });
            let store = S3Store::new(S3Config {
                endpoint: s3.endpoint.clone(),
                bucket: s3.bucket.clone(),
                prefix,
                region: s3.region.clone(),
                access_key: read(s3.access_key_file()),
                secret_key: Secret::new(read(s3.secret_key_file())),
                retention: Retention {
                    mode: LockMode::Governance,
                    days: 1,
                },
            })
            .expect("S3 store");
            (Store::S3(store), Some(cluster))
        }
    };
    println!(
        "fleet bench: {} clusters x {} days x {} resources at {}",
        o.clusters,
        o.days,
        o.resources,
        root.describe()
    );
    let start: Timestamp = "2025-01-01T08:00:00Z".parse().unwrap();
    let ids: Vec<String> = (0..o.clusters).map(|i| format!("cluster-{i:03}")).collect();
    if !o.skip_write {
        let began = Instant::now();
        futures::stream::iter(ids.clone())
            .map(|id| {
                let store = cluster_store(&root, &id).expect("cluster store");
                write_cluster(store, id, key.clone(), &o, start)
            })
            .buffer_unordered(8)
            .collect::<Vec<()>>()
            .await;
        println!("written in {:.1}s", began.elapsed().as_secs_f64());
    }
    let end = start + SignedDuration::from_hours(24 * o.days);
    let interval = SignedDuration::from_hours(24);
    let mut runs = Vec::new();
    let mut subsets: Vec<usize> = [o.clusters / 10, o.clusters / 2, o.clusters]
        .into_iter()
        .filter(|n| *n > 0)
        .collect();
    subsets.dedup();
    println!(
        "| clusters | period days | seconds | objects read | listings | peak RSS MiB | verified |"
    );
    println!("|---|---|---|---|---|---|---|");
    for &clusters in &subsets {
        for &period in o.periods.iter().filter(|p| **p <= o.days) {
            let from = end - SignedDuration::from_hours(24 * period);
            let counted = Counting::new(root.clone());
            reset_peak();
            let began = Instant::now();
            let reports = futures::stream::iter(ids[..clusters].to_vec())
                .map(|id| {
                    let store = cluster_store(&counted, &id).expect("cluster store");
                    let trusted = trusted.clone();
                    async move {
                        cluster_report(&store, id.clone(), Some(&id), from, end, interval, &trusted)
                            .await
                    }
                })
                .buffered(8)
                .collect::<Vec<_>>()
                .await;
            let seconds = began.elapsed().as_secs_f64();
            let peak = peak_kib();
            let verified = reports.iter().filter(|r| r.verified).count();
            println!(
                "| {clusters} | {period} | {seconds:.2} | {} | {} | {:.1} | {verified}/{clusters} |",
                counted.reads(),
                counted.listings(),
                peak as f64 / 1024.0
            );
            runs.push(serde_json::json!({
                "clusters": clusters, "periodDays": period, "seconds": seconds,
                "objectsRead": counted.reads(), "listings": counted.listings(),
                "peakRssKib": peak, "verified": verified,
            }));
            drop(reports);
        }
    }
    if let Some(out) = &o.out {
        let doc = serde_json::json!({
            "clusters": o.clusters, "days": o.days, "resources": o.resources,
            "source": root.describe(), "runs": runs,
        });
        std::fs::write(out, serde_json::to_string_pretty(&doc).unwrap()).expect("--out");
    }
}
