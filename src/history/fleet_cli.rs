//! `evidence report --fleet` and `evidence verify --fleet`: every cluster's chain under
//! `<prefix>/clusters/<id>/` (and a chain written without a cluster id at the prefix itself),
//! each verified on its own.
//!
//! - `report --fleet --from --to`: one report (JSON, Markdown, HTML) with a row per cluster
//!   and control; it is written even when a cluster's chain is broken (that cluster is named
//!   with its first broken entry, and has no rows), and the command then exits 1. `--format
//!   oscal`: one OSCAL Assessment Results document, a result per cluster (see `fleet_oscal`),
//!   with the Assessment Plan and Component Definition beside it. `--attest FILE
//!   --signing-key SEED`: a signed in-toto attestation over every file written (predicate
//!   `fleet-report/v1`: per cluster, verified through which entry, or where it broke).
//! - `verify --fleet`: every chain whole, every snapshot checked against it (`--from/--to`:
//!   only what a report of that period reads, from the signed snapshot before it). A line per
//!   cluster; exit 1 when any is broken or empty.

use super::attestation;
use super::cli::{
    Format, ReportArgs, SourceArgs, VerifyArgs, attest_run, parse_instant, parse_interval,
};
use super::error::HistoryError;
use super::fleet::{DEFAULT_CLUSTER, cluster_ids, cluster_store, fleet_report, fleet_report_with};
use super::fleet_oscal;
use super::fleet_render;
use super::period::{read_period, verify_whole};
use super::sign::PublicKey;
use super::store::Store;
use std::process::ExitCode;

/// The fleet report in one format. OSCAL from the report alone has its findings and
/// intervals but no observation citing the entries (`report_command` keeps them while reading).
pub fn render(report: &super::fleet::FleetReport, format: Format) -> String {
    match format {
        Format::Json => serde_json::to_string_pretty(report).expect("reports serialize") + "\n",
        Format::Markdown => fleet_render::render_markdown(report),
        Format::Html => fleet_render::render_html(report),
        Format::Oscal => {
            let resources = report
                .clusters
                .iter()
                .map(|c| {
                    c.period_report(report)
                        .map(|period| fleet_oscal::keep(&period, &[]))
                })
                .collect();
            fleet_oscal::render(report, resources, crate::evidence::oscal::generated_at())
        }
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
    // The attestation is signed with the history's key: refused before anything is read or
    // written when the signing key is none of the trusted keys.
    let signing_key = match args.signing_key.as_deref().map(|path| {
        attestation::load_signing_key(path)
            .and_then(|key| attestation::check_history_key(&key, &trusted).map(|()| key))
    }) {
        None => None,
        Some(Ok(key)) => Some(key),
        Some(Err(error)) => {
            eprintln!("error: --signing-key: {error}");
            return ExitCode::from(2);
        }
    };
    // OSCAL observations cite each cluster's entries: drawn from them while they are read.
    let generated = crate::evidence::oscal::generated_at();
    let fetched = match args.format {
        Format::Oscal => fleet_report_with(&root, from, to, interval, &trusted, &fleet_oscal::keep)
            .await
            .map(|(report, resources)| {
                let text = fleet_oscal::render(&report, resources, generated);
                (report, text)
            }),
        format => fleet_report(&root, from, to, interval, &trusted)
            .await
            .map(|report| {
                let text = render(&report, format);
                (report, text)
            }),
    };
    let (report, text) = match fetched {
        Ok(fetched) => fetched,
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
    let written = match &args.out {
        // OSCAL results import the Assessment Plan, written beside them with the Component
        // Definition, as for one cluster.
        Some(path) => std::fs::write(path, text)
            .and_then(|()| match (args.format, path.parent()) {
                (Format::Oscal, Some(dir)) => {
                    let dir = if dir.as_os_str().is_empty() {
                        std::path::Path::new(".")
                    } else {
                        dir
                    };
                    crate::evidence::oscal::write_companions(dir, generated)
                }
                _ => Ok(Vec::new()),
            })
            .map_err(|e| format!("{}: {e}", path.display()))
            .and_then(|companions| {
                // Every file written is a subject of the attestation.
                let mut files = vec![path.clone()];
                files.extend(companions);
                attest_run(
                    &args,
                    signing_key.as_ref(),
                    attestation::FLEET_REPORT_PREDICATE,
                    |format| attestation::fleet_report_predicate(&report, format),
                    &files,
                )
            }),
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
