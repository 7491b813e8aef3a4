//! Every metric the hub records, in one place: names, units and labels. Each
//! carries the `tenant` label. Instruments come from the global OpenTelemetry
//! meter, so whatever `telemetry::init` installed (OTLP, the `/metrics`
//! reader, or nothing) receives them.
//!
//! Names follow OpenTelemetry conventions (`http.client.request.duration` for
//! Confluence request latency; the rest under `confluence_hub.`); the
//! Prometheus page renders them with `_` and unit suffixes.

use std::sync::OnceLock;
use std::time::Duration;

use opentelemetry::KeyValue;
use opentelemetry::metrics::{Counter, Gauge, Histogram, Meter};

pub const METER_NAME: &str = "confluence-hub";

/// Label keys shared by instruments and dashboards.
pub mod labels {
    pub const TENANT: &str = "tenant";
    pub const KIND: &str = "kind";
    pub const OUTCOME: &str = "outcome";
    pub const TRIGGER: &str = "trigger";
    pub const ROUTE: &str = "url.template";
    pub const METHOD: &str = "http.request.method";
    pub const STATUS: &str = "http.response.status_code";
    pub const TASK_TYPE: &str = "task_type";
    pub const STATE: &str = "state";
    pub const RESULT: &str = "result";
    pub const OPERATION: &str = "operation";
    pub const REASON: &str = "reason";
}

pub struct Metrics {
    pub sync_duration: Histogram<f64>,
    pub syncs: Counter<u64>,
    pub objects_synced: Counter<u64>,
    pub rows_skipped: Counter<u64>,
    pub request_duration: Histogram<f64>,
    pub requests: Counter<u64>,
    pub rate_limited: Counter<u64>,
    pub rate_limit_wait: Counter<f64>,
    pub retries: Counter<u64>,
    pub concurrency_limit: Gauge<u64>,
    pub learned_rate: Gauge<f64>,
    pub c1_tasks: Counter<u64>,
    pub upload_bytes: Counter<u64>,
    pub heartbeat_failures: Counter<u64>,
    pub tenants: Gauge<u64>,
    pub config_reloads: Counter<u64>,
    pub provisioning: Counter<u64>,
}

static METRICS: OnceLock<Metrics> = OnceLock::new();

/// The instruments. Built on first use, so call `telemetry::init` first.
pub fn get() -> &'static Metrics {
    METRICS.get_or_init(|| Metrics::new(&opentelemetry::global::meter(METER_NAME)))
}

/// Whether the instruments already exist, bound to whatever meter provider was global then
/// (`init` warns, since they would record into a no-op provider forever).
pub fn created_before_init() -> bool {
    METRICS.get().is_some()
}

const LATENCY_BUCKETS: [f64; 12] = [
    0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0,
];
const SYNC_BUCKETS: [f64; 12] = [
    1.0, 2.0, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0, 600.0, 1800.0, 3600.0, 7200.0,
];

impl Metrics {
    fn new(meter: &Meter) -> Self {
        Self {
            sync_duration: meter
                .f64_histogram("confluence_hub.sync.duration")
                .with_unit("s")
                .with_description("Wall time of one tenant sync, by outcome")
                .with_boundaries(SYNC_BUCKETS.to_vec())
                .build(),
            syncs: meter
                .u64_counter("confluence_hub.syncs")
                .with_description("Finished syncs, by trigger and outcome")
                .build(),
            objects_synced: meter
                .u64_counter("confluence_hub.sync.objects")
                .with_description("Objects written to c1z files, by kind")
                .build(),
            rows_skipped: meter
                .u64_counter("confluence_hub.sync.skipped")
                .with_description("Source rows that produced no grant, by reason")
                .build(),
            request_duration: meter
                .f64_histogram("http.client.request.duration")
                .with_unit("s")
                .with_description("Confluence request latency, by route and status")
                .with_boundaries(LATENCY_BUCKETS.to_vec())
                .build(),
            requests: meter
                .u64_counter("confluence_hub.confluence.requests")
                .with_description("Confluence requests, by route and status")
                .build(),
            rate_limited: meter
                .u64_counter("confluence_hub.confluence.rate_limited")
                .with_description("429 responses received from Confluence")
                .build(),
            rate_limit_wait: meter
                .f64_counter("confluence_hub.confluence.rate_limit_wait")
                .with_unit("s")
                .with_description(
                    "Time spent waiting on rate limits (local limiter and Retry-After)",
                )
                .build(),
            retries: meter
                .u64_counter("confluence_hub.confluence.retries")
                .with_description("Confluence requests retried, by reason")
                .build(),
            concurrency_limit: meter
                .u64_gauge("confluence_hub.confluence.concurrency_limit")
                .with_description("Requests the tenant may have in flight to Confluence right now")
                .build(),
            learned_rate: meter
                .f64_gauge("confluence_hub.confluence.learned_rate")
                .with_description(
                    "Requests per second allowed by Confluence's own rate limiter, as its headers say; 0 when it sets none",
                )
                .build(),
            c1_tasks: meter
                .u64_counter("confluence_hub.c1.tasks")
                .with_description("ConductorOne tasks finished, by type and outcome")
                .build(),
            upload_bytes: meter
                .u64_counter("confluence_hub.c1.upload.size")
                .with_unit("By")
                .with_description("c1z bytes uploaded to ConductorOne")
                .build(),
            heartbeat_failures: meter
                .u64_counter("confluence_hub.c1.heartbeat.failures")
                .with_description("Failed BatonService heartbeats")
                .build(),
            tenants: meter
                .u64_gauge("confluence_hub.tenants")
                .with_description("Tenants on this replica, by state")
                .build(),
            config_reloads: meter
                .u64_counter("confluence_hub.config.reloads")
                .with_description("Config reloads, by result")
                .build(),
            provisioning: meter
                .u64_counter("confluence_hub.provisioning.operations")
                .with_description("Provisioning calls, by operation and outcome")
                .build(),
        }
    }
}

fn tenant(tenant: &str) -> KeyValue {
    KeyValue::new(labels::TENANT, tenant.to_owned())
}

/// One Confluence HTTP exchange (after retries are counted separately).
pub fn confluence_request(
    tenant_id: &str,
    method: &str,
    route: &'static str,
    status: u16,
    latency: Duration,
) {
    let attributes = [
        tenant(tenant_id),
        KeyValue::new(labels::METHOD, method.to_owned()),
        KeyValue::new(labels::ROUTE, route),
        KeyValue::new(labels::STATUS, i64::from(status)),
    ];
    let metrics = get();
    metrics.requests.add(1, &attributes);
    metrics
        .request_duration
        .record(latency.as_secs_f64(), &attributes);
    if status == 429 {
        metrics.rate_limited.add(1, &attributes[..1]);
    }
}

pub fn confluence_retry(tenant_id: &str, reason: &'static str) {
    get().retries.add(
        1,
        &[tenant(tenant_id), KeyValue::new(labels::REASON, reason)],
    );
}

pub fn rate_limit_wait(tenant_id: &str, waited: Duration) {
    get()
        .rate_limit_wait
        .add(waited.as_secs_f64(), &[tenant(tenant_id)]);
}

/// The tenant's pacing after a request: its concurrency limit and the
/// server's learned rate (`None` when the server sets no limit).
pub fn confluence_pacing(tenant_id: &str, concurrency_limit: usize, learned_rate: Option<f64>) {
    let attributes = [tenant(tenant_id)];
    let metrics = get();
    metrics
        .concurrency_limit
        .record(concurrency_limit as u64, &attributes);
    metrics
        .learned_rate
        .record(learned_rate.unwrap_or(0.0), &attributes);
}

pub fn sync_finished(
    tenant_id: &str,
    trigger: &'static str,
    outcome: &'static str,
    took: Duration,
) {
    let attributes = [
        tenant(tenant_id),
        KeyValue::new(labels::TRIGGER, trigger),
        KeyValue::new(labels::OUTCOME, outcome),
    ];
    let metrics = get();
    metrics.syncs.add(1, &attributes);
    metrics.sync_duration.record(
        took.as_secs_f64(),
        &[attributes[0].clone(), attributes[2].clone()],
    );
}

pub fn objects_synced(tenant_id: &str, kind: &'static str, count: u64) {
    get().objects_synced.add(
        count,
        &[tenant(tenant_id), KeyValue::new(labels::KIND, kind)],
    );
}

pub fn rows_skipped(tenant_id: &str, reason: &'static str, count: u64) {
    get().rows_skipped.add(
        count,
        &[tenant(tenant_id), KeyValue::new(labels::REASON, reason)],
    );
}

pub fn c1_task(tenant_id: &str, task_type: &'static str, outcome: &'static str) {
    get().c1_tasks.add(
        1,
        &[
            tenant(tenant_id),
            KeyValue::new(labels::TASK_TYPE, task_type),
            KeyValue::new(labels::OUTCOME, outcome),
        ],
    );
}

pub fn upload_bytes(tenant_id: &str, bytes: u64) {
    get().upload_bytes.add(bytes, &[tenant(tenant_id)]);
}

pub fn heartbeat_failure(tenant_id: &str) {
    get().heartbeat_failures.add(1, &[tenant(tenant_id)]);
}

/// Sets the number of tenants in `state` (one series per tenant and state,
/// value 0 or 1, so a dashboard can sum by state or filter by tenant).
pub fn tenant_state(tenant_id: &str, state: &'static str, present: bool) {
    get().tenants.record(
        u64::from(present),
        &[tenant(tenant_id), KeyValue::new(labels::STATE, state)],
    );
}

/// Config reloads are hub-wide; the tenant label is `_hub` so every series
/// still carries one.
pub fn config_reload(result: &'static str) {
    get()
        .config_reloads
        .add(1, &[tenant("_hub"), KeyValue::new(labels::RESULT, result)]);
}

pub fn provisioning(tenant_id: &str, operation: &'static str, outcome: &'static str) {
    get().provisioning.add(
        1,
        &[
            tenant(tenant_id),
            KeyValue::new(labels::OPERATION, operation),
            KeyValue::new(labels::OUTCOME, outcome),
        ],
    );
}
