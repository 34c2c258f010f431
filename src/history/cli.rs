//! `baseline-operator evidence ...`: the bundle (`--out DIR`, unchanged) and the history's
//! commands:
//!
//! - `evidence verify (--dir PATH | --s3-endpoint URL --bucket B ...) --public-key FILE`:
//!   checks every link and signature; exit 0 and the head when intact, exit 1 and the FIRST
//!   broken entry otherwise (or when the log is empty: nothing is proven), 2 on usage or
//!   access errors.
//! - `evidence report --from DATE --to DATE (source) --public-key FILE --format
//!   json|markdown|html|oscal [--out FILE]`: verifies first and REFUSES (exit 1, nothing
//!   written) when what the period rests on is broken: the chain from the signed snapshot
//!   before the period (or from the first entry) through the period's end. A report is only
//!   ever drawn from entries that verified, and says so (the last verified entry, trusted
//!   keys). `--format oscal` writes OSCAL Assessment Results, and with `--out FILE` the
//!   Assessment Plan and Component Definition beside it. With `--attest FILE --signing-key
//!   SEED`, also a signed in-toto attestation over every file written (see
//!   [`super::attestation`]). `--fleet`: every cluster's chain in one report (see `fleet_cli`).
//! - `evidence oscal-plan [--out FILE]`, `evidence oscal-components [--out FILE]`: the OSCAL
//!   Assessment Plan the results import, and the Component Definition mapping the controls.
//! - `evidence keygen --out DIR`: a new signing key (`ed25519.seed`, mode 0600) and its public
//!   key (`ed25519.pub`).
//!
//! S3 credentials come from `--access-key-file`/`--secret-key-file` or the environment
//! (`AWS_ACCESS_KEY_ID`, `AWS_SECRET_ACCESS_KEY`), never from the command line.

use super::attestation;
use super::chain::{self, Verified};
use super::error::HistoryError;
use super::oscal::OscalArgs;
use super::report::{ChainSummary, PeriodReport, report};
use super::sign::{PublicKey, SigningKey};
use super::store::Store;
use super::store_local::LocalStore;
use super::store_s3::{Retention, S3Config, S3Store, Secret};
use crate::evidence::EvidenceArgs;
use jiff::{SignedDuration, Timestamp};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

/// `baseline-operator evidence`: a bundle (`--out DIR`) or one of the history's commands.
#[derive(clap::Args, Debug)]
#[command(args_conflicts_with_subcommands = true, subcommand_negates_reqs = true)]
pub struct EvidenceCommand {
    #[command(flatten)]
    pub bundle: Option<EvidenceArgs>,
    #[command(subcommand)]
    pub history: Option<HistoryCommand>,
}

#[derive(clap::Subcommand, Debug)]
pub enum HistoryCommand {
    /// Verify the evidence log's chain and signatures; name the first broken entry.
    Verify(VerifyArgs),
    /// Write a period report (per control: shares of Pass/Fail/Exempt/Gap, failure intervals
    /// and their findings, exemptions) from a verified evidence log.
    Report(ReportArgs),
    /// Generate a signing key: DIR/ed25519.seed (the Secret's value) and DIR/ed25519.pub.
    Keygen(KeygenArgs),
    /// Write the OSCAL Assessment Plan that the OSCAL Assessment Results import.
    OscalPlan(OscalArgs),
    /// Write the OSCAL Component Definition: the 15 controls and the ISO/IEC 27001:2022 and
    /// SOC 2 references they prove.
    OscalComponents(OscalArgs),
}

/// Where the log is, and the keys it must be signed with.
#[derive(clap::Args, Debug, Clone)]
pub struct SourceArgs {
    /// A local evidence directory (holding `segments/`), e.g. a copy of the bucket's prefix.
    #[arg(
        long,
        conflicts_with = "s3_endpoint",
        required_unless_present = "s3_endpoint"
    )]
    pub dir: Option<PathBuf>,
    /// S3 endpoint URL (`https://s3.eu-west-1.amazonaws.com`, `http://127.0.0.1:9000`).
    #[arg(long, requires = "bucket")]
    pub s3_endpoint: Option<String>,
    #[arg(long)]
    pub bucket: Option<String>,
    /// Key prefix of the log in the bucket (segments are under `<prefix>/segments/`).
    #[arg(long, default_value = "")]
    pub prefix: String,
    #[arg(long, default_value = "us-east-1")]
    pub region: String,
    /// File holding the S3 access key id (else AWS_ACCESS_KEY_ID).
    #[arg(long)]
    pub access_key_file: Option<PathBuf>,
    /// File holding the S3 secret key (else AWS_SECRET_ACCESS_KEY).
    #[arg(long)]
    pub secret_key_file: Option<PathBuf>,
    /// The operator's public key (`ed25519.pub`: base64 of 32 bytes). Repeat it to trust the
    /// keys of earlier periods after a rotation.
    #[arg(long = "public-key", value_name = "FILE", required = true)]
    pub public_keys: Vec<PathBuf>,
}

#[derive(clap::Args, Debug, Clone)]
pub struct VerifyArgs {
    #[command(flatten)]
    pub source: SourceArgs,
    /// Verify every cluster's chain of a fleet (`<prefix>/clusters/<id>/`) on its own, with
    /// its signed snapshots (see `fleet_cli`).
    #[arg(long)]
    pub fleet: bool,
    /// With --fleet: verify only what a report of this period reads (from the signed snapshot
    /// before it), as `report --from`.
    #[arg(long, requires_all = ["fleet", "to"])]
    pub from: Option<String>,
    /// With --fleet and --from: the period's end, as `report --to`.
    #[arg(long, requires = "from")]
    pub to: Option<String>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    Json,
    Markdown,
    Html,
    /// OSCAL 1.1.3 Assessment Results (JSON).
    Oscal,
}

#[derive(clap::Args, Debug, Clone)]
pub struct ReportArgs {
    #[command(flatten)]
    pub source: SourceArgs,
    /// Start of the period: `YYYY-MM-DD` (00:00 UTC) or an RFC 3339 instant.
    #[arg(long)]
    pub from: String,
    /// End of the period: `YYYY-MM-DD` (that day included: up to 24:00 UTC) or an RFC 3339
    /// instant (excluded).
    #[arg(long)]
    pub to: String,
    /// The operator's checkpoint interval (`24h`, `1h`, ...): an evaluation counts for this
    /// long plus a tenth, then the time is a gap.
    #[arg(long, default_value = "24h")]
    pub checkpoint_interval: String,
    #[arg(long, value_enum, default_value = "html")]
    pub format: Format,
    /// The file to write (default: standard output).
    #[arg(long)]
    pub out: Option<PathBuf>,
    /// Also write a signed in-toto attestation over the report file(s) to FILE (a DSSE
    /// envelope, for `cosign verify-blob-attestation`) and the signer's public key in PEM
    /// beside it (`FILE` with its extension replaced by `.pub.pem`).
    #[arg(long, value_name = "FILE", requires_all = ["out", "signing_key"])]
    pub attest: Option<PathBuf>,
    /// The history's signing key (`ed25519.seed`, the Secret's value) to sign the
    /// attestation with.
    #[arg(long, value_name = "FILE", requires = "attest")]
    pub signing_key: Option<PathBuf>,
    /// Report on every cluster's chain of a fleet (`<prefix>/clusters/<id>/`) in one report,
    /// each read from its signed snapshot before the period (see `fleet_cli`).
    #[arg(long)]
    pub fleet: bool,
}

#[derive(clap::Args, Debug, Clone)]
pub struct KeygenArgs {
    /// Directory to write ed25519.seed and ed25519.pub into (created if missing; an existing
    /// seed is never overwritten).
    #[arg(long)]
    pub out: PathBuf,
}

/// Runs `baseline-operator evidence ...`.
pub async fn run(command: EvidenceCommand) -> ExitCode {
    match (command.history, command.bundle) {
        (Some(HistoryCommand::Verify(args)), _) => verify_command(args).await,
        (Some(HistoryCommand::Report(args)), _) => report_command(args).await,
        (Some(HistoryCommand::Keygen(args)), _) => keygen_command(args),
        (Some(HistoryCommand::OscalPlan(args)), _) => {
            super::oscal::command(args, crate::evidence::oscal::assessment_plan)
        }
        (Some(HistoryCommand::OscalComponents(args)), _) => {
            super::oscal::command(args, crate::evidence::oscal::component_definition)
        }
        (None, Some(bundle)) => crate::evidence::run(bundle).await,
        (None, None) => {
            eprintln!(
                "error: give --out DIR (an evidence bundle) or a command: verify, report, keygen, oscal-plan, oscal-components"
            );
            ExitCode::from(2)
        }
    }
}

async fn verify_command(args: VerifyArgs) -> ExitCode {
    if args.fleet {
        return super::fleet_cli::verify_command(args).await;
    }
    match load(&args.source).await {
        // An empty log proves nothing (and is what a mistyped location looks like).
        Ok((store, _, Ok(verified))) if verified.entries.is_empty() => {
            println!("EMPTY: no entry at {}: nothing is proven", store.describe());
            ExitCode::FAILURE
        }
        Ok((store, trusted, Ok(verified))) => {
            println!("{}", verified_line(&store, &trusted, &verified));
            ExitCode::SUCCESS
        }
        Ok((store, _, Err(broken))) => {
            println!("BROKEN: {} (log {})", broken, store.describe());
            ExitCode::FAILURE
        }
        Err(error) => {
            eprintln!("error: {error}");
            ExitCode::from(2)
        }
    }
}

async fn report_command(args: ReportArgs) -> ExitCode {
    if args.fleet {
        return super::fleet_cli::report_command(args).await;
    }
    let period = (|| {
        let from = parse_instant(&args.from, false)?;
        let to = parse_instant(&args.to, true)?;
        if to <= from {
            return Err(format!("--to ({to}) is not after --from ({from})"));
        }
        let interval = parse_interval(&args.checkpoint_interval)?;
        Ok((from, to, interval))
    })();
    let (from, to, interval) = match period {
        Ok(period) => period,
        Err(error) => {
            eprintln!("error: {error}");
            return ExitCode::from(2);
        }
    };
    // The period is read from the signed snapshot before it: what the report rests on is
    // verified, not the chain's whole life (`verify` is the full audit).
    let opened = trusted_keys(&args.source).and_then(|t| Ok((store(&args.source)?, t)));
    let (store, trusted) = match opened {
        Ok(opened) => opened,
        Err(error) => {
            eprintln!("error: {error}");
            return ExitCode::from(2);
        }
    };
    let read = match super::period::read_period(&store, None, from, to, &trusted).await {
        Ok(Ok(read)) => read,
        Ok(Err(broken)) => {
            eprintln!(
                "error: the evidence log does not verify, no report written: BROKEN: {broken} (log {})",
                store.describe()
            );
            return ExitCode::FAILURE;
        }
        Err(error) => {
            eprintln!("error: {error}");
            return ExitCode::from(2);
        }
    };
    // The attestation is signed with the history's key: refused before anything is written
    // when the signing key is none of the keys the chain was just verified with.
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
    let mut period_report = report(&read.entries, from, to, interval);
    period_report.chain = Some(ChainSummary {
        source: store.describe(),
        verified: true,
        entries: read.verified_entries as u64,
        segments: read.segments_read,
        head_seq: read.through.as_ref().map(|a| a.seq),
        head_hash: read.through.as_ref().map(|a| a.hash.clone()),
        trusted_key_ids: trusted.iter().map(PublicKey::key_id).collect(),
    });
    let generated = crate::evidence::oscal::generated_at();
    let text = match args.format {
        Format::Oscal => super::oscal::render(&period_report, &read.entries, generated),
        format => render(&period_report, format),
    };
    let written = match &args.out {
        Some(path) => std::fs::write(path, text)
            .and_then(|()| match (args.format, path.parent()) {
                (Format::Oscal, Some(dir)) => {
                    let dir = if dir.as_os_str().is_empty() {
                        Path::new(".")
                    } else {
                        dir
                    };
                    crate::evidence::oscal::write_companions(dir, generated)
                }
                _ => Ok(Vec::new()),
            })
            .map_err(|e| format!("{}: {e}", path.display()))
            .and_then(|companions| {
                // Every file written is a subject of the attestation, the OSCAL companions
                // included.
                let mut files = vec![path.clone()];
                files.extend(companions);
                attest_run(
                    &args,
                    signing_key.as_ref(),
                    attestation::PERIOD_REPORT_PREDICATE,
                    |format| attestation::period_report_predicate(&period_report, format),
                    &files,
                )
            }),
        None => {
            print!("{text}");
            Ok(())
        }
    };
    match written {
        Ok(()) => {
            eprintln!("{}", period_line(&store, &trusted, &read));
            ExitCode::SUCCESS
        }
        Err(error) => {
            eprintln!("error: writing the report: {error}");
            ExitCode::from(2)
        }
    }
}

/// With `--attest`: the signed attestation over `files` (every report file this run wrote),
/// of type `predicate_type`, its predicate built for the report's format. Shared by the period
/// and the fleet reports.
pub(super) fn attest_run(
    args: &ReportArgs,
    key: Option<&SigningKey>,
    predicate_type: &str,
    predicate: impl FnOnce(&str) -> serde_json::Value,
    files: &[PathBuf],
) -> Result<(), String> {
    let (Some(envelope), Some(key)) = (&args.attest, key) else {
        return Ok(());
    };
    let format = format!("{:?}", args.format).to_lowercase();
    let written =
        attestation::attest_files(files, predicate_type, predicate(&format), key, envelope)?;
    eprintln!(
        "attested {} file(s): {} (public key {}, key id {})",
        written.subjects,
        written.envelope.display(),
        written.public_key.display(),
        key.public_key().key_id()
    );
    Ok(())
}

/// The report in one format.
pub fn render(report: &PeriodReport, format: Format) -> String {
    match format {
        Format::Json => serde_json::to_string_pretty(report).expect("reports serialize") + "\n",
        Format::Markdown => super::markdown::render_markdown(report),
        Format::Html => super::html::render_html(report),
        // Without the entries: no observation cites them (report_command passes them).
        Format::Oscal => super::oscal::render(report, &[], crate::evidence::oscal::generated_at()),
    }
}

fn keygen_command(args: KeygenArgs) -> ExitCode {
    match keygen(&args.out) {
        Ok(public) => {
            println!(
                "wrote {0}/ed25519.seed (keep it secret: the operator's Secret) and {0}/ed25519.pub (key id {public})",
                args.out.display()
            );
            ExitCode::SUCCESS
        }
        Err(error) => {
            eprintln!("error: {error}");
            ExitCode::FAILURE
        }
    }
}

fn keygen(dir: &Path) -> Result<String, String> {
    std::fs::create_dir_all(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    let key = SigningKey::generate().map_err(|e| e.to_string())?;
    let seed_path = dir.join("ed25519.seed");
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    let mut file = options
        .open(&seed_path)
        .map_err(|e| format!("{}: {e}", seed_path.display()))?;
    std::io::Write::write_all(&mut file, format!("{}\n", key.seed_base64()).as_bytes())
        .map_err(|e| format!("{}: {e}", seed_path.display()))?;
    let public_path = dir.join("ed25519.pub");
    std::fs::write(&public_path, format!("{}\n", key.public_key().to_base64()))
        .map_err(|e| format!("{}: {e}", public_path.display()))?;
    Ok(key.public_key().key_id())
}

type Loaded = (Store, Vec<PublicKey>, Result<Verified, chain::Broken>);

/// What a period report rests on, verified: for the line `report` prints.
fn period_line(store: &Store, trusted: &[PublicKey], read: &super::period::PeriodRead) -> String {
    let keys: Vec<String> = trusted.iter().map(PublicKey::key_id).collect();
    let start = match &read.snapshot {
        Some(name) => format!("from signed snapshot {name}"),
        None => "from the first entry".to_string(),
    };
    match &read.through {
        Some(through) => format!(
            "verified: {} entries in {} segments of {}, {start}, signed by trusted keys ({}); through entry {} hash {}",
            read.verified_entries,
            read.segments_read,
            store.describe(),
            keys.join(", "),
            through.seq,
            through.hash
        ),
        None => format!("verified: the log at {} is empty", store.describe()),
    }
}

/// Opens the source, reads every segment and verifies them, and checks every signed snapshot
/// against the chain (a snapshot that does not say what the chain says is named as its break).
async fn load(source: &SourceArgs) -> Result<Loaded, HistoryError> {
    let trusted = trusted_keys(source)?;
    let store = store(source)?;
    let verified = super::period::verify_whole(&store, None, &trusted)
        .await?
        .map(|whole| Verified {
            entries: whole.entries,
            segments: whole.segments,
        });
    Ok((store, trusted, verified))
}

/// The public keys a source names.
fn trusted_keys(source: &SourceArgs) -> Result<Vec<PublicKey>, HistoryError> {
    let mut trusted = Vec::new();
    for path in &source.public_keys {
        let text = std::fs::read_to_string(path)
            .map_err(|e| HistoryError::Key(format!("{}: {e}", path.display())))?;
        trusted.push(
            PublicKey::from_base64(&text)
                .map_err(|e| HistoryError::Key(format!("{}: {e}", path.display())))?,
        );
    }
    Ok(trusted)
}

/// The store a source names.
pub fn store(source: &SourceArgs) -> Result<Store, HistoryError> {
    if let Some(dir) = &source.dir {
        return Ok(Store::Local(LocalStore::new(dir)));
    }
    let (Some(endpoint), Some(bucket)) = (&source.s3_endpoint, &source.bucket) else {
        return Err(HistoryError::S3Config(
            "give --dir, or --s3-endpoint and --bucket".into(),
        ));
    };
    let access_key = credential(source.access_key_file.as_deref(), "AWS_ACCESS_KEY_ID")?;
    let secret_key = credential(source.secret_key_file.as_deref(), "AWS_SECRET_ACCESS_KEY")?;
    Ok(Store::S3(S3Store::new(S3Config {
        endpoint: endpoint.clone(),
        bucket: bucket.clone(),
        prefix: source.prefix.clone(),
        region: source.region.clone(),
        access_key,
        secret_key: Secret::new(secret_key),
        retention: Retention::default(),
    })?))
}

/// A credential from its file, else from the environment (the value is never printed).
fn credential(file: Option<&Path>, env: &str) -> Result<String, HistoryError> {
    let value = match file {
        Some(path) => std::fs::read_to_string(path)
            .map_err(|e| HistoryError::S3Config(format!("{}: {e}", path.display())))?,
        None => std::env::var(env).map_err(|_| {
            HistoryError::S3Config(format!("no credential: give its file or set {env}"))
        })?,
    };
    Ok(value.trim().to_string())
}

fn verified_line(store: &Store, trusted: &[PublicKey], verified: &Verified) -> String {
    let keys: Vec<String> = trusted.iter().map(PublicKey::key_id).collect();
    match verified.head() {
        Some(head) => format!(
            "verified: {} entries in {} segments of {}, signed by trusted keys ({}); head: entry {} hash {}",
            verified.entries.len(),
            verified.segments,
            store.describe(),
            keys.join(", "),
            head.seq,
            head.hash
        ),
        None => format!("verified: the log at {} is empty", store.describe()),
    }
}

/// `YYYY-MM-DD` (00:00 UTC, or the next day's when it ends a period) or an RFC 3339 instant.
pub fn parse_instant(text: &str, end: bool) -> Result<Timestamp, String> {
    if let Ok(instant) = text.parse::<Timestamp>() {
        return Ok(instant);
    }
    let date: jiff::civil::Date = text
        .parse()
        .map_err(|_| format!("{text:?} is neither YYYY-MM-DD nor an RFC 3339 instant"))?;
    let date = if end {
        date.tomorrow().map_err(|e| e.to_string())?
    } else {
        date
    };
    date.to_zoned(jiff::tz::TimeZone::UTC)
        .map(|z| z.timestamp())
        .map_err(|e| e.to_string())
}

/// `24h`, `90m`, `1h30m`, `PT24H`: a positive duration.
pub fn parse_interval(text: &str) -> Result<SignedDuration, String> {
    let interval: SignedDuration = text
        .parse()
        .map_err(|_| format!("{text:?} is not a duration (24h, 90m, PT24H)"))?;
    if interval <= SignedDuration::ZERO {
        return Err(format!("the checkpoint interval {text:?} must be positive"));
    }
    Ok(interval)
}
