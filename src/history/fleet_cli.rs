//! `evidence report --fleet` and `evidence verify --fleet`: every cluster's chain under
//! `<prefix>/clusters/<id>/` (and a chain written without a cluster id at the prefix itself),
//! each verified on its own.
//!
//! - `report --fleet --from --to`: one report (JSON, Markdown, HTML) with a row per cluster
//!   and control; it is written even when a cluster's chain is broken (that cluster is named
//!   with its first broken entry, and has no rows), and the command then exits 1.
//! - `verify --fleet`: every chain whole, every snapshot checked against it (`--from/--to`:
//!   only what a report of that period reads, from the signed snapshot before it). A line per
//!   cluster; exit 1 when any is broken or empty.

use super::cli::{Format, ReportArgs, SourceArgs, VerifyArgs, parse_instant, parse_interval};
use super::error::HistoryError;
use super::fleet::{DEFAULT_CLUSTER, cluster_ids, cluster_store, fleet_report};
use super::fleet_render;
use super::period::{read_period, verify_whole};
use super::sign::PublicKey;
use super::store::Store;
use std::process::ExitCode;

/// The fleet report in one format. OSCAL is not written for a fleet yet (one Assessment
/// Results `result` per cluster needs each cluster's entries, which the fleet report does not
/// keep): it is refused with what to run instead, never written half.
pub fn render(report: &super::fleet::FleetReport, format: Format) -> Result<String, String> {
    match format {
        Format::Json => {
            Ok(serde_json::to_string_pretty(report).expect("reports serialize") + "\n")
        }
        Format::Markdown => Ok(fleet_render::render_markdown(report)),
        Format::Html => Ok(fleet_render::render_html(report)),
        Format::Oscal => Err(
            "--format oscal is not available with --fleet yet: report each cluster's chain on its own (--prefix <prefix>/clusters/<id> --format oscal)".into(),
        ),
    }
}

pub async fn report_command(args: ReportArgs) -> ExitCode {
    let period = (|| {
        let from = parse_instant(&args.from, false)?;
        let to = parse_instant(&args.to, true)?;
        if to <= from {
            return Err(format!("--to ({to}) is not after --from ({from})"));
        }
        Ok((from, to, parse_interval(&args.checkpoint_interval)?))
    })();
    let (from, to, interval) = match period {
        Ok(period) => period,
        Err(error) => {
            eprintln!("error: {error}");
            return ExitCode::from(2);
        }
    };
    let opened = open(&args.source);
    let (root, trusted) = match opened {
        Ok(opened) => opened,
        Err(error) => {
            eprintln!("error: {error}");
            return ExitCode::from(2);
        }
    };
    let report = match fleet_report(&root, from, to, interval, &trusted).await {
        Ok(report) => report,
        Err(error) => {
            eprintln!("error: {error}");
            return ExitCode::from(2);
        }
    };
    if report.clusters.is_empty() {
        eprintln!(
            "error: no cluster's chain at {} (nothing under clusters/, no segments/)",
            root.describe()
        );
        return ExitCode::FAILURE;
    }
    let text = match render(&report, args.format) {
        Ok(text) => text,
        Err(error) => {
            eprintln!("error: {error}");
            return ExitCode::from(2);
        }
    };
    let written = match &args.out {
        Some(path) => std::fs::write(path, text).map_err(|e| format!("{}: {e}", path.display())),
        None => {
            print!("{text}");
            Ok(())
        }
    };
    if let Err(error) = written {
        eprintln!("error: writing the report: {error}");
        return ExitCode::from(2);
    }
    for cluster in &report.clusters {
        eprintln!("{}: {}", cluster.cluster, fleet_render::status(cluster));
    }
    if report.broken().next().is_some() {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    }
}

pub async fn verify_command(args: VerifyArgs) -> ExitCode {
    let period = match (&args.from, &args.to) {
        (Some(from), Some(to)) => match (parse_instant(from, false), parse_instant(to, true)) {
            (Ok(from), Ok(to)) if from < to => Some((from, to)),
            (Err(error), _) | (_, Err(error)) => {
                eprintln!("error: {error}");
                return ExitCode::from(2);
            }
            _ => {
                eprintln!("error: --to is not after --from");
                return ExitCode::from(2);
            }
        },
        _ => None,
    };
    let (root, trusted) = match open(&args.source) {
        Ok(opened) => opened,
        Err(error) => {
            eprintln!("error: {error}");
            return ExitCode::from(2);
        }
    };
    let mut chains: Vec<(String, Option<String>, Store)> = Vec::new();
    let listed = async {
        if !root.segment_keys(None).await?.is_empty() {
            chains.push((DEFAULT_CLUSTER.to_string(), None, root.clone()));
        }
        for id in cluster_ids(&root).await? {
            chains.push((id.clone(), Some(id.clone()), cluster_store(&root, &id)?));
        }
        Ok::<_, HistoryError>(())
    };
    if let Err(error) = listed.await {
        eprintln!("error: {error}");
        return ExitCode::from(2);
    }
    if chains.is_empty() {
        println!(
            "EMPTY: no cluster's chain at {}: nothing is proven",
            root.describe()
        );
        return ExitCode::FAILURE;
    }
    let mut failed = false;
    for (name, id, store) in chains {
        if let Some((from, to)) = period {
            match read_period(&store, id.as_deref(), from, to, &trusted).await {
                Ok(Ok(read)) => match &read.through {
                    Some(through) => println!(
                        "OK {name}: {} entries in {} segments verified for {from} to {to}, from {}; through entry {} hash {}",
                        read.verified_entries,
                        read.segments_read,
                        read.snapshot
                            .as_deref()
                            .map_or("the first entry".to_string(), |s| format!(
                                "signed snapshot {s}"
                            )),
                        through.seq,
                        through.hash
                    ),
                    None => {
                        failed = true;
                        println!("EMPTY {name}: no entry at {}", store.describe());
                    }
                },
                Ok(Err(broken)) => {
                    failed = true;
                    println!("BROKEN {name}: {broken} (log {})", store.describe());
                }
                Err(error) => {
                    failed = true;
                    println!("NOT READ {name}: {error}");
                }
            }
            continue;
        }
        match verify_whole(&store, id.as_deref(), &trusted).await {
            Ok(Ok(whole)) if whole.entries.is_empty() => {
                failed = true;
                println!("EMPTY {name}: no entry at {}", store.describe());
            }
            Ok(Ok(whole)) => {
                let head = whole.entries.last().expect("not empty");
                println!(
                    "OK {name}: {} entries in {} segments and {} snapshots verified; head: entry {} hash {}",
                    whole.entries.len(),
                    whole.segments,
                    whole.snapshots,
                    head.seq,
                    head.hash
                );
            }
            Ok(Err(broken)) => {
                failed = true;
                println!("BROKEN {name}: {broken} (log {})", store.describe());
            }
            Err(error) => {
                failed = true;
                println!("NOT READ {name}: {error}");
            }
        }
    }
    if failed {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    }
}

/// The fleet's root and the trusted keys.
fn open(source: &SourceArgs) -> Result<(Store, Vec<PublicKey>), HistoryError> {
    let mut trusted = Vec::new();
    for path in &source.public_keys {
        let text = std::fs::read_to_string(path)
            .map_err(|e| HistoryError::Key(format!("{}: {e}", path.display())))?;
        trusted.push(
            PublicKey::from_base64(&text)
                .map_err(|e| HistoryError::Key(format!("{}: {e}", path.display())))?,
        );
    }
    Ok((super::cli::store(source)?, trusted))
}
