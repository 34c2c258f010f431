use baseline_operator::{api, controller, leader, telemetry};
use clap::{Parser, Subcommand};
use kube::Client;
use std::net::SocketAddr;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::watch;

/// With `--features dhat-heap` every allocation goes through dhat, which records its call stack;
/// `run` writes the profile on a clean exit (SIGTERM). For the scale bench's memory by owner.
#[cfg(feature = "dhat-heap")]
#[global_allocator]
static ALLOCATOR: dhat::Alloc = dhat::Alloc;

/// With `--features mimalloc` (and not profiling): mimalloc, measured against glibc's malloc.
#[cfg(all(feature = "mimalloc", not(feature = "dhat-heap")))]
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// Turns a written security policy into enforced, continuously checked, auditable cluster state.
#[derive(Parser)]
#[command(version, about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Print the CustomResourceDefinitions as YAML.
    Crd,
    /// Run the operator against the cluster of KUBECONFIG or the in-cluster service account.
    Run(Box<RunArgs>),
    /// Print the version.
    Version,
    /// Evaluate baselines offline against manifest files (exit 1 when a control fails).
    Audit(baseline_operator::audit::AuditArgs),
    /// Write an evidence bundle (JSON, Markdown, OSCAL, SHA256SUMS) from the cluster (`--out
    /// DIR`), or verify and report on the evidence log (`verify`, `report`, `keygen`), or write
    /// the OSCAL plan and component definition (`oscal-plan`, `oscal-components`).
    Evidence(Box<baseline_operator::history::cli::EvidenceCommand>),
}

#[derive(clap::Args)]
struct RunArgs {
    /// Address of /healthz, /readyz and /metrics.
    #[arg(long, env = "BASELINE_HEALTH_ADDR", default_value = "0.0.0.0:8080")]
    health_addr: SocketAddr,
    /// Log JSON lines instead of human-readable text.
    #[arg(long, env = "BASELINE_LOG_JSON")]
    log_json: bool,
    /// Namespace of the leader election Lease.
    #[arg(long, env = "POD_NAMESPACE", default_value = "default")]
    lease_namespace: String,
    #[arg(long, default_value = "baseline-operator")]
    lease_name: String,
    /// Seconds a standby waits, after it last saw the Lease change, before it takes over.
    #[arg(long, default_value_t = 15)]
    lease_seconds: u64,
    /// Seconds the leader may go without a successful renewal before it gives up and exits
    /// (shorter than --lease-seconds, so it has stopped before a standby takes over). Default:
    /// two thirds of --lease-seconds, client-go's 10 of 15, so a shorter lease needs no second
    /// flag.
    #[arg(long)]
    renew_deadline_seconds: Option<u64>,
    /// Seconds between two attempts to acquire or renew the Lease.
    #[arg(long, default_value_t = 2)]
    retry_period_seconds: u64,
    /// Seconds one reconcile may run before /healthz fails (the loop counts as stuck).
    #[arg(long, default_value_t = telemetry::DEFAULT_STALL_AFTER.as_secs())]
    stall_seconds: u64,
    /// Seconds a watch may keep failing before every resource's Ready turns False
    /// (`WatchFailing`): its figures would otherwise describe a cluster it no longer sees.
    #[arg(long, default_value_t = controller::watch_health::DEFAULT_GRACE.as_secs())]
    watch_grace_seconds: u64,
    /// Seconds after which status says again that an unchanged result was evaluated
    /// (`lastEvaluated`, `scope.evaluatedAt`): at most one status write per resource per
    /// interval, so an auditor can tell a current Pass from a stale one.
    #[arg(long, env = "BASELINE_EVALUATED_REFRESH_SECONDS", default_value_t = controller::DEFAULT_EVALUATED_REFRESH.as_secs())]
    evaluated_refresh_seconds: u64,
    /// Seconds between comparisons of the incremental engine with a from-scratch evaluation
    /// of every SecurityBaseline (metrics `baseline_operator_engine_checks_total` and
    /// `..._engine_divergences_total`, expected 0).
    #[arg(long, env = "BASELINE_ENGINE_CHECK_SECONDS", default_value_t = controller::engine_feed::DEFAULT_CHECK_INTERVAL.as_secs())]
    engine_check_seconds: u64,
    /// Writes to the API server in flight at once, across all controllers.
    #[arg(long, env = "BASELINE_WRITE_CONCURRENCY", default_value_t = controller::write_pool::WRITE_CONCURRENCY)]
    write_concurrency: usize,
    #[command(flatten)]
    history: HistoryArgs,
    /// This replica's identity in the Lease (defaults to POD_NAME or the host name plus pid).
    #[arg(long, env = "POD_NAME")]
    identity: Option<String>,
    /// Watch Secrets (reduced at once to keyed digests) so that EnvironmentIsolation can find
    /// production Secrets copied into non-production namespaces. Needs cluster-wide Secret read.
    #[arg(long, env = "BASELINE_DETECT_COPIED_SECRETS")]
    detect_copied_secrets: bool,
    /// The operator's own namespace, which no resource may touch (set by the chart from the
    /// pod's namespace; unset when run outside the cluster).
    #[arg(long, env = "BASELINE_OPERATOR_NAMESPACE")]
    operator_namespace: Option<String>,
    /// Namespaces no resource may touch, beside kube-system, kube-public, kube-node-lease,
    /// Velero's (--velero-namespace) and the operator's own. Only these flags exclude a
    /// namespace: nothing a custom resource says does.
    #[arg(long, env = "BASELINE_EXCLUDED_NAMESPACES", value_delimiter = ',')]
    excluded_namespaces: Vec<String>,
    /// The namespace Velero runs in: the only one where the operator reads and writes Velero's
    /// objects (the chart grants its Velero rights there alone), and out of every resource's
    /// scope. A BackupPolicy naming another is Invalid.
    #[arg(long, env = "BASELINE_VELERO_NAMESPACE", default_value = "velero")]
    velero_namespace: String,
    /// The ServiceAccounts in the Velero namespace that Velero's server runs as. Label
    /// protection (EnvironmentIsolation `protectEnvironmentLabels`) lets them create a
    /// namespace with its environment labels, which is what restoring a deleted namespace
    /// does, and never relabel an existing one. Empty (`--velero-service-accounts=`) for none.
    #[arg(
        long,
        env = "BASELINE_VELERO_SERVICE_ACCOUNTS",
        value_delimiter = ',',
        default_values_t = controller::DEFAULT_VELERO_SERVICE_ACCOUNTS.iter().map(|s| s.to_string())
    )]
    velero_service_accounts: Vec<String>,
    /// Where findings go beyond status: `wgpolicyk8s` (PolicyReports), `openreports`
    /// (openreports.io Reports), `both`, or `auto`: OpenReports when the cluster serves it,
    /// else PolicyReports. Reports the operator wrote in a served API not chosen are deleted.
    #[arg(long, env = "BASELINE_REPORTS_API", value_enum, default_value_t)]
    reports_api: baseline_operator::desired::report_api::ReportsChoice,
}

/// Where the evidence history goes (`--history-dir` or `--history-s3-*`) and its signing key.
/// S3 credentials come from the environment only (`BASELINE_HISTORY_S3_ACCESS_KEY_ID`,
/// `BASELINE_HISTORY_S3_SECRET_ACCESS_KEY`, which the chart fills from a Secret), never from
/// the command line, where any process could read them.
#[derive(clap::Args)]
struct HistoryArgs {
    /// Directory of the evidence history (development; use --history-s3-endpoint in
    /// production, outside the cluster's reach).
    #[arg(
        long,
        env = "BASELINE_HISTORY_DIR",
        conflicts_with = "history_s3_endpoint"
    )]
    history_dir: Option<std::path::PathBuf>,
    /// S3-compatible endpoint of the evidence history (`https://s3.eu-west-1.amazonaws.com`).
    #[arg(
        long,
        env = "BASELINE_HISTORY_S3_ENDPOINT",
        requires = "history_s3_bucket"
    )]
    history_s3_endpoint: Option<String>,
    #[arg(long, env = "BASELINE_HISTORY_S3_BUCKET")]
    history_s3_bucket: Option<String>,
    /// Key prefix in the bucket; segments go under `<prefix>/segments/`.
    #[arg(
        long,
        env = "BASELINE_HISTORY_S3_PREFIX",
        default_value = "baseline-operator"
    )]
    history_s3_prefix: String,
    #[arg(long, env = "BASELINE_HISTORY_S3_REGION", default_value = "us-east-1")]
    history_s3_region: String,
    /// Object Lock mode of each segment, when the bucket has Object Lock enabled.
    #[arg(
        long,
        env = "BASELINE_HISTORY_S3_LOCK_MODE",
        value_enum,
        default_value = "compliance"
    )]
    history_s3_lock_mode: baseline_operator::history::LockMode,
    /// Days each segment stays locked, when the bucket has Object Lock enabled.
    #[arg(long, env = "BASELINE_HISTORY_S3_LOCK_DAYS", default_value_t = 400)]
    history_s3_lock_days: u32,
    /// File holding the base64 ed25519 seed the history is signed with (the Secret key
    /// `ed25519.seed`, mounted). Required with a history.
    #[arg(long, env = "BASELINE_HISTORY_SIGNING_KEY_FILE")]
    history_signing_key_file: Option<std::path::PathBuf>,
    /// The public key (base64) auditors verify with, as the chart publishes it: the operator
    /// refuses to start when its signing key does not match it.
    #[arg(long, env = "BASELINE_HISTORY_PUBLIC_KEY")]
    history_public_key: Option<String>,
    /// Seconds after which an unchanged control is recorded again ("still Pass, checked N
    /// objects"); silence longer than this is a gap in the period report.
    #[arg(long, env = "BASELINE_HISTORY_CHECKPOINT_SECONDS", default_value_t = controller::history::DEFAULT_CHECKPOINT.as_secs())]
    history_checkpoint_seconds: u64,
    /// This cluster's id when several clusters keep their histories in one bucket (a DNS
    /// label): the chain goes under `<prefix>/clusters/<id>/` (or `DIR/clusters/<id>/`) and
    /// every entry names it, under its signature. Empty: the chain stays at the prefix itself
    /// with entries naming no cluster, as before cluster ids existed.
    #[arg(long, env = "BASELINE_HISTORY_CLUSTER_ID", default_value = "")]
    history_cluster_id: String,
}

impl HistoryArgs {
    /// The history configuration, None when no history is configured.
    fn config(&self) -> Result<Option<controller::history::HistoryConfig>, String> {
        use baseline_operator::history::{
            LocalStore, Retention, S3Config, S3Store, Secret, SigningKey, Store,
        };
        let store = match (&self.history_dir, &self.history_s3_endpoint) {
            (None, None) => return Ok(None),
            (Some(dir), _) => Store::Local(LocalStore::new(dir)),
            (None, Some(endpoint)) => {
                let env =
                    |name: &str| std::env::var(name).map_err(|_| format!("{name} is not set"));
                let config = S3Config {
                    endpoint: endpoint.clone(),
                    bucket: self.history_s3_bucket.clone().unwrap_or_default(),
                    prefix: self.history_s3_prefix.clone(),
                    region: self.history_s3_region.clone(),
                    access_key: env("BASELINE_HISTORY_S3_ACCESS_KEY_ID")?,
                    secret_key: Secret::new(env("BASELINE_HISTORY_S3_SECRET_ACCESS_KEY")?),
                    retention: Retention {
                        mode: self.history_s3_lock_mode,
                        days: self.history_s3_lock_days,
                    },
                };
                Store::S3(S3Store::new(config).map_err(|e| e.to_string())?)
            }
        };
        let cluster = match self.history_cluster_id.trim() {
            "" => None,
            id => Some(id.to_string()),
        };
        let store = match &cluster {
            None => store,
            Some(id) => baseline_operator::history::fleet::cluster_store(&store, id)
                .map_err(|e| format!("--history-cluster-id: {e}"))?,
        };
        let Some(key_file) = &self.history_signing_key_file else {
            return Err("--history-signing-key-file is required with a history".into());
        };
        let seed = std::fs::read_to_string(key_file)
            .map_err(|e| format!("reading {}: {e}", key_file.display()))?;
        let key = SigningKey::from_base64(&seed).map_err(|e| e.to_string())?;
        if let Some(published) = &self.history_public_key {
            let own = key.public_key().to_base64();
            if published.trim() != own {
                return Err(format!(
                    "the signing key's public key {own} is not the published one {}",
                    published.trim()
                ));
            }
        }
        let checkpoint = jiff::SignedDuration::from_secs(
            i64::try_from(self.history_checkpoint_seconds.max(1)).unwrap_or(i64::MAX),
        );
        Ok(Some(controller::history::HistoryConfig {
            store,
            key,
            checkpoint,
            cluster,
        }))
    }
}

#[derive(Debug, thiserror::Error)]
enum RunError {
    #[error("cannot connect to the cluster: {0}")]
    Connect(#[source] kube::Error),
    #[error(
        "CRD {0}.security.baseline.dev is not installed: apply crds/ (or install the Helm chart) first"
    )]
    MissingCrd(&'static str),
    #[error("cannot read API group security.baseline.dev/v1alpha1: {0}")]
    Discovery(#[source] kube::Error),
    #[error("health server: {0}")]
    Health(#[source] std::io::Error),
    #[error(transparent)]
    Controllers(#[from] controller::RunError),
    #[error("leader election: {0}")]
    Election(#[source] std::io::Error),
    #[error("evidence history: {0}")]
    History(String),
    #[error("invalid leader election settings: {0}")]
    LeaseConfig(String),
}

#[tokio::main]
async fn main() -> ExitCode {
    let cli = Cli::parse();
    match cli.command {
        Command::Crd => {
            print!("{}", api::crds_yaml());
            ExitCode::SUCCESS
        }
        Command::Version => {
            println!("baseline-operator {}", env!("CARGO_PKG_VERSION"));
            ExitCode::SUCCESS
        }
        Command::Audit(args) => baseline_operator::audit::run(args),
        Command::Evidence(command) => baseline_operator::history::cli::run(*command).await,
        Command::Run(args) => {
            telemetry::init_logging(args.log_json);
            // Written when dropped, after `run` returns: `BASELINE_DHAT_OUT` or dhat-heap.json.
            #[cfg(feature = "dhat-heap")]
            let _heap_profile = dhat::Profiler::builder()
                // Whole stacks: the default keeps 10 frames, too few to reach the code that
                // asked for memory from inside a watch or a pass.
                .trim_backtraces(None)
                .file_name(
                    std::env::var_os("BASELINE_DHAT_OUT")
                        .unwrap_or_else(|| "dhat-heap.json".into()),
                )
                .build();
            match run(*args).await {
                Ok(()) => ExitCode::SUCCESS,
                Err(error) => {
                    tracing::error!(%error, "operator stopped");
                    eprintln!("error: {error}");
                    ExitCode::FAILURE
                }
            }
        }
    }
}

async fn check_crds(client: &Client) -> Result<(), RunError> {
    let resources = match client
        .list_api_group_resources("security.baseline.dev/v1alpha1")
        .await
    {
        Ok(list) => list.resources,
        Err(kube::Error::Api(status)) if status.code == 404 => Vec::new(),
        Err(e) => return Err(RunError::Discovery(e)),
    };
    for plural in [
        "securitybaselines",
        "backuppolicies",
        "environmentisolations",
    ] {
        if !resources.iter().any(|r| r.name == plural) {
            return Err(RunError::MissingCrd(plural));
        }
    }
    Ok(())
}

async fn run(args: RunArgs) -> Result<(), RunError> {
    let identity = args.identity.unwrap_or_else(|| {
        let host = std::env::var("HOSTNAME").unwrap_or_else(|_| "local".into());
        format!("{host}-{}", std::process::id())
    });
    let lease = leader::LeaseConfig {
        namespace: args.lease_namespace,
        name: args.lease_name,
        identity: identity.clone(),
        duration: Duration::from_secs(args.lease_seconds),
        renew_deadline: Duration::from_secs(
            args.renew_deadline_seconds
                .unwrap_or(args.lease_seconds * 2 / 3),
        ),
        retry_period: Duration::from_secs(args.retry_period_seconds),
    };
    lease.validate().map_err(RunError::LeaseConfig)?;
    let history = args.history.config().map_err(RunError::History)?;
    let kube_config = kube::Config::infer()
        .await
        .map_err(|e| RunError::Connect(kube::Error::InferConfig(e)))?;
    let client = Client::try_from(kube_config.clone()).map_err(RunError::Connect)?;
    check_crds(&client).await?;
    let metrics = Arc::new(telemetry::Metrics::default());
    let health = Arc::new(telemetry::Health::new(Duration::from_secs(
        args.stall_seconds,
    )));
    let server = tokio::spawn(telemetry::serve(
        args.health_addr,
        metrics.clone(),
        health.clone(),
    ));
    let (shutdown_tx, shutdown) = watch::channel(false);
    tokio::spawn(async move {
        wait_for_signal().await;
        tracing::info!("shutting down");
        let _ = shutdown_tx.send(true);
    });
    let mut stop = shutdown.clone();
    // Warm caches first, leader or not: a standby is Ready, and takes over without a cold start.
    let caches = tokio::select! {
        caches = controller::warm(
            &client,
            args.detect_copied_secrets,
            &args.velero_namespace,
            Duration::from_secs(args.watch_grace_seconds),
            &health,
        ) => caches?,
        _ = stop.wait_for(|s| *s) => return Ok(()),
        result = server_failed(server) => return result,
    };
    // The election stops only when told to, after this replica's writers have stopped.
    let (stop_election, election_stopped) = watch::channel(false);
    let (leading_tx, mut leading) = watch::channel(false);
    // On its own thread: evaluation keeping this runtime busy must not delay renewals.
    let election = leader::spawn_on_own_thread(kube_config, lease, leading_tx, election_stopped)
        .map_err(RunError::Election)?;
    let election = async move {
        let _ = tokio::task::spawn_blocking(move || election.join()).await;
    };
    tracing::info!(%identity, "caches synced; waiting for the leader lease");
    tokio::select! {
        led = leading.wait_for(|l| *l) => {
            // A closed channel means the election ended without ever leading: never lead then.
            if led.is_err() {
                return Err(RunError::Election(std::io::Error::other(
                    "the leader election stopped before this replica led",
                )));
            }
        }
        _ = stop.wait_for(|s| *s) => {
            let _ = stop_election.send(true);
            election.await;
            return Ok(());
        }
    }
    metrics.leader.set(1);
    tracing::info!(%identity, "leading");
    let controllers = controller::run_with(
        client,
        caches,
        controller::RunConfig {
            instance: identity,
            resync: controller::RESYNC,
            detect_copied_secrets: args.detect_copied_secrets,
            operator_namespace: args.operator_namespace.clone(),
            excluded_namespaces: args.excluded_namespaces.clone(),
            watch_grace: Duration::from_secs(args.watch_grace_seconds),
            evaluated_refresh: Duration::from_secs(args.evaluated_refresh_seconds.max(1)),
            engine_check: Duration::from_secs(args.engine_check_seconds.max(1)),
            write_concurrency: args.write_concurrency.max(1),
            history,
            velero_namespace: args.velero_namespace.clone(),
            velero_service_accounts: args
                .velero_service_accounts
                .iter()
                .filter(|name| !name.is_empty())
                .cloned()
                .collect(),
            reports_api: args.reports_api,
        },
        metrics.clone(),
        health,
        shutdown.clone(),
    );
    tokio::select! {
        // Shutdown: the controllers finish the reconciles in flight and return; only then is
        // the lease released, so that the next leader never writes beside this one.
        () = controllers => {}
        _ = leading.wait_for(|l| !*l) => lost_lease(),
    }
    metrics.leader.set(0);
    let _ = stop_election.send(true);
    election.await;
    Ok(())
}

/// Leadership is gone (taken over, or not renewed within the renew deadline): every writer stops
/// at once, with the process, so that none of them acts beside the new leader, and Kubernetes
/// starts this replica again clean, as a standby.
fn lost_lease() -> ! {
    tracing::error!("lost the leader lease; exiting so that a standby takes over cleanly");
    eprintln!("error: lost the leader lease; exiting");
    std::process::exit(3)
}

async fn server_failed(
    server: tokio::task::JoinHandle<std::io::Result<()>>,
) -> Result<(), RunError> {
    match server.await {
        Ok(Err(e)) => Err(RunError::Health(e)),
        _ => Err(RunError::Health(std::io::Error::other("stopped"))),
    }
}

async fn wait_for_signal() {
    let ctrl_c = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
            .expect("installing the SIGTERM handler");
        tokio::select! {
            _ = ctrl_c => {}
            _ = term.recv() => {}
        }
    }
    #[cfg(not(unix))]
    let _ = ctrl_c.await;
}
