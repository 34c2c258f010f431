//! Logs, metrics and the health server.

use axum::{Router, extract::State, http::StatusCode, response::IntoResponse, routing::get};
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::Registry;
use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};
use tracing_subscriber::{EnvFilter, prelude::*};

pub mod compliance;
pub mod stopwatch;

/// Installs the global subscriber: JSON lines when asked, human-readable otherwise.
pub fn init_logging(json: bool) {
    let filter =
        EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info,kube=warn"));
    let registry = tracing_subscriber::registry().with(filter);
    let result = if json {
        registry
            .with(
                tracing_subscriber::fmt::layer()
                    .json()
                    .with_current_span(true),
            )
            .try_init()
    } else {
        registry.with(tracing_subscriber::fmt::layer()).try_init()
    };
    // A second init (tests start several operators in one process) keeps the first subscriber.
    drop(result);
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct KindLabel {
    pub kind: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ErrorLabels {
    pub kind: String,
    pub reason: String,
}

/// A reconcile pass by kind and by what it covered: `all` namespaces or only the
/// `namespaces` changes concerned (see `controller::scope`).
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct PassLabels {
    pub kind: String,
    pub scope: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct WriteLabels {
    pub kind: String,
    pub verb: String,
}

/// The operator's metrics, registered once per process.
pub struct Metrics {
    pub registry: Registry,
    pub reconciles: Family<KindLabel, Counter>,
    pub failures: Family<ErrorLabels, Counter>,
    pub duration: Family<KindLabel, Histogram>,
    /// Reconcile passes by what they covered: a change in one namespace costs that namespace.
    pub passes: Family<PassLabels, Counter>,
    /// Every write the operator sends to the API server, by object kind and verb.
    pub writes: Family<WriteLabels, Counter>,
    pub leader: Gauge,
    /// Periodic comparisons of the incremental engine with a from-scratch evaluation, and
    /// those that disagreed (expected 0; see `controller::engine_feed`).
    pub engine_checks: Counter,
    pub engine_divergences: Counter,
    /// Wall-clock time those comparisons took (a background thread at the lowest CPU
    /// priority): what a benchmark phase shares the machine with.
    pub engine_check_seconds: Counter<f64, std::sync::atomic::AtomicU64>,
    /// Per resource and control: state, counts, evidence age, history and watch health.
    pub compliance: compliance::ComplianceMetrics,
}

impl Default for Metrics {
    fn default() -> Self {
        let mut registry = Registry::with_prefix("baseline_operator");
        let reconciles = Family::<KindLabel, Counter>::default();
        let failures = Family::<ErrorLabels, Counter>::default();
        let duration = Family::<KindLabel, Histogram>::new_with_constructor(|| {
            Histogram::new([0.005, 0.01, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0])
        });
        let writes = Family::<WriteLabels, Counter>::default();
        let passes = Family::<PassLabels, Counter>::default();
        let leader = Gauge::default();
        let engine_checks = Counter::default();
        let engine_divergences = Counter::default();
        let engine_check_seconds = Counter::<f64, std::sync::atomic::AtomicU64>::default();
        registry.register(
            "engine_check_seconds",
            "Time spent comparing the incremental engine with a from-scratch evaluation",
            engine_check_seconds.clone(),
        );
        registry.register(
            "engine_checks",
            "Comparisons of the incremental engine with a from-scratch evaluation",
            engine_checks.clone(),
        );
        registry.register(
            "engine_divergences",
            "Comparisons where the incremental engine disagreed with a from-scratch evaluation (expected 0)",
            engine_divergences.clone(),
        );
        registry.register("reconciles", "Reconciliations run", reconciles.clone());
        registry.register(
            "reconcile_errors",
            "Reconciliations that failed, by reason",
            failures.clone(),
        );
        registry.register(
            "reconcile_duration_seconds",
            "Time spent reconciling",
            duration.clone(),
        );
        registry.register(
            "reconcile_passes",
            "Reconcile passes by scope: all namespaces, or only those changes concerned",
            passes.clone(),
        );
        registry.register(
            "api_writes",
            "Writes sent to the API server",
            writes.clone(),
        );
        registry.register(
            "leader",
            "1 while this replica holds the leader lease",
            leader.clone(),
        );
        let compliance = compliance::ComplianceMetrics::default();
        compliance.register(&mut registry);
        Self {
            registry,
            reconciles,
            failures,
            duration,
            passes,
            writes,
            leader,
            engine_checks,
            engine_divergences,
            engine_check_seconds,
            compliance,
        }
    }
}

impl Metrics {
    /// Counts one pass of `kind` over all namespaces or only some.
    pub fn pass(&self, kind: &str, all: bool) {
        self.passes
            .get_or_create(&PassLabels {
                kind: kind.to_string(),
                scope: if all { "all" } else { "namespaces" }.to_string(),
            })
            .inc();
    }

    pub fn write(&self, kind: &str, verb: &str) {
        self.writes
            .get_or_create(&WriteLabels {
                kind: kind.to_string(),
                verb: verb.to_string(),
            })
            .inc();
    }

    /// Total writes so far, across kinds and verbs.
    pub fn total_writes(&self) -> u64 {
        self.total("baseline_operator_api_writes_total{")
    }

    /// Total reconciles so far, across kinds.
    pub fn total_reconciles(&self) -> u64 {
        self.total("baseline_operator_reconciles_total{")
    }

    fn total(&self, series: &str) -> u64 {
        self.encode()
            .lines()
            .filter(|l| l.starts_with(series))
            .filter_map(|l| l.rsplit(' ').next()?.parse::<u64>().ok())
            .sum()
    }

    pub fn encode(&self) -> String {
        let mut text = String::new();
        let _ = prometheus_client::encoding::text::encode(&mut text, &self.registry);
        text
    }
}

/// Shared health state. Ready once the caches have synced (a standby too: it holds warm caches
/// and can take over at once). Live while no reconcile has been running longer than
/// [`Health::stall_after`]: a reconcile stuck that long means the loop no longer makes
/// progress, and a restart is the cure.
pub struct Health {
    pub ready: AtomicBool,
    /// How long one reconcile may run before the process counts as stuck.
    pub stall_after: Duration,
    in_flight: Mutex<BTreeMap<u64, Instant>>,
    next: AtomicU64,
}

/// How long one reconcile may run before liveness fails, unless configured otherwise. Longer
/// than the client's own request timeouts, so that only a loop that is truly stuck trips it.
pub const DEFAULT_STALL_AFTER: Duration = Duration::from_secs(600);

impl Default for Health {
    fn default() -> Self {
        Self::new(DEFAULT_STALL_AFTER)
    }
}

impl Health {
    pub fn new(stall_after: Duration) -> Self {
        Self {
            ready: AtomicBool::new(false),
            stall_after,
            in_flight: Mutex::default(),
            next: AtomicU64::new(0),
        }
    }

    /// Marks a reconcile as running until the returned guard drops (finished or cancelled).
    pub fn reconcile_started(self: &Arc<Self>) -> InFlight {
        let id = self.next.fetch_add(1, Ordering::Relaxed);
        self.lock().insert(id, Instant::now());
        InFlight {
            health: self.clone(),
            id,
        }
    }

    /// The reconcile that has been running longest, if it has run past the stall limit.
    pub fn stalled(&self, now: Instant) -> Option<Duration> {
        let oldest = self.lock().values().min().copied()?;
        let running = now.saturating_duration_since(oldest);
        (running > self.stall_after).then_some(running)
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, BTreeMap<u64, Instant>> {
        self.in_flight.lock().unwrap_or_else(|p| p.into_inner())
    }
}

/// A running reconcile, tracked for liveness.
pub struct InFlight {
    health: Arc<Health>,
    id: u64,
}

impl Drop for InFlight {
    fn drop(&mut self) {
        self.health.lock().remove(&self.id);
    }
}

#[derive(Clone)]
struct ServerState {
    metrics: Arc<Metrics>,
    health: Arc<Health>,
}

/// Serves `/healthz`, `/readyz` and `/metrics` until the process ends.
pub async fn serve(
    addr: SocketAddr,
    metrics: Arc<Metrics>,
    health: Arc<Health>,
) -> std::io::Result<()> {
    let app = Router::new()
        .route("/healthz", get(healthz))
        .route("/readyz", get(readyz))
        .route("/metrics", get(metrics_text))
        .with_state(ServerState { metrics, health });
    let listener = tokio::net::TcpListener::bind(addr).await?;
    axum::serve(listener, app).await
}

async fn healthz(State(state): State<ServerState>) -> impl IntoResponse {
    match state.health.stalled(Instant::now()) {
        None => (StatusCode::OK, "ok".to_string()),
        Some(running) => (
            StatusCode::SERVICE_UNAVAILABLE,
            format!("a reconcile has been running for {}s", running.as_secs()),
        ),
    }
}

async fn readyz(State(state): State<ServerState>) -> impl IntoResponse {
    if state.health.ready.load(Ordering::Relaxed) {
        (StatusCode::OK, "ready")
    } else {
        (StatusCode::SERVICE_UNAVAILABLE, "caches not synced")
    }
}

async fn metrics_text(State(state): State<ServerState>) -> impl IntoResponse {
    (
        [(
            "content-type",
            "application/openmetrics-text; version=1.0.0; charset=utf-8",
        )],
        state.metrics.encode(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn liveness_fails_only_while_a_reconcile_runs_past_the_limit() {
        let health = Arc::new(Health::new(Duration::from_secs(60)));
        let now = Instant::now();
        assert_eq!(
            health.stalled(now + Duration::from_secs(3600)),
            None,
            "idle is live"
        );
        let first = health.reconcile_started();
        assert_eq!(health.stalled(now + Duration::from_secs(30)), None);
        assert!(health.stalled(now + Duration::from_secs(61)).is_some());
        drop(first);
        assert_eq!(
            health.stalled(now + Duration::from_secs(3600)),
            None,
            "finished"
        );
    }
}
