//! Telemetry end to end: spans and metrics reach an OTLP/gRPC collector (an in-test receiver),
//! the Prometheus page parses under a strict text-format parser, and JSON log lines carry the
//! tenant. `telemetry::init` installs process-wide state (the tracing subscriber, the global
//! meter provider that `metrics::get()` binds to once), so the pipeline runs in a child process
//! of this test binary, where no other test can have touched it first.

use std::collections::{BTreeMap, BTreeSet};
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use hub::telemetry::{self, LogFormat, TelemetryOptions, metrics};
use opentelemetry_proto::tonic::collector::metrics::v1::metrics_service_server::{
    MetricsService, MetricsServiceServer,
};
use opentelemetry_proto::tonic::collector::metrics::v1::{
    ExportMetricsServiceRequest, ExportMetricsServiceResponse,
};
use opentelemetry_proto::tonic::collector::trace::v1::trace_service_server::{
    TraceService, TraceServiceServer,
};
use opentelemetry_proto::tonic::collector::trace::v1::{
    ExportTraceServiceRequest, ExportTraceServiceResponse,
};
use opentelemetry_proto::tonic::common::v1::{KeyValue, any_value};
use opentelemetry_proto::tonic::metrics::v1::{Metric, metric};
use opentelemetry_proto::tonic::trace::v1::{ResourceSpans, Span, span};
use tracing::Instrument;

use crate::support::run_alone;

/// An OTLP/gRPC collector stand-in on 127.0.0.1 that keeps everything it receives. It runs on
/// its own runtime, so it works from plain `#[test]` functions and alongside any other runtime.
pub struct OtlpReceiver {
    address: SocketAddr,
    received: Arc<Received>,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    runtime: tokio::runtime::Runtime,
}

#[derive(Default)]
struct Received {
    spans: Mutex<Vec<ResourceSpans>>,
    metrics: Mutex<Vec<Metric>>,
}

struct Traces(Arc<Received>);
struct Metrics(Arc<Received>);

#[tonic::async_trait]
impl TraceService for Traces {
    async fn export(
        &self,
        request: tonic::Request<ExportTraceServiceRequest>,
    ) -> Result<tonic::Response<ExportTraceServiceResponse>, tonic::Status> {
        self.0
            .spans
            .lock()
            .unwrap()
            .extend(request.into_inner().resource_spans);
        Ok(tonic::Response::new(ExportTraceServiceResponse {
            partial_success: None,
        }))
    }
}

#[tonic::async_trait]
impl MetricsService for Metrics {
    async fn export(
        &self,
        request: tonic::Request<ExportMetricsServiceRequest>,
    ) -> Result<tonic::Response<ExportMetricsServiceResponse>, tonic::Status> {
        let metrics = request
            .into_inner()
            .resource_metrics
            .into_iter()
            .flat_map(|resource| resource.scope_metrics)
            .flat_map(|scope| scope.metrics);
        self.0.metrics.lock().unwrap().extend(metrics);
        Ok(tonic::Response::new(ExportMetricsServiceResponse {
            partial_success: None,
        }))
    }
}

impl OtlpReceiver {
    pub fn start() -> Self {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .build()
            .expect("receiver runtime");
        let listener = runtime
            .block_on(tokio::net::TcpListener::bind("127.0.0.1:0"))
            .expect("bind the OTLP receiver");
        let address = listener.local_addr().expect("receiver address");
        let received = Arc::new(Received::default());
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let server = tonic::transport::Server::builder()
            .add_service(TraceServiceServer::new(Traces(Arc::clone(&received))))
            .add_service(MetricsServiceServer::new(Metrics(Arc::clone(&received))))
            .serve_with_incoming_shutdown(
                tokio_stream::wrappers::TcpListenerStream::new(listener),
                async {
                    let _ = stopped.await;
                },
            );
        runtime.spawn(server);
        Self {
            address,
            received,
            stop: Some(stop),
            runtime,
        }
    }

    /// What to put in `telemetry.otlp_endpoint`.
    pub fn endpoint(&self) -> String {
        format!("http://{}", self.address)
    }

    /// Every span received so far, with its resource's `service.name`.
    pub fn spans(&self) -> Vec<(String, Span)> {
        let resources = self.received.spans.lock().unwrap().clone();
        resources
            .into_iter()
            .flat_map(|resource| {
                let service = resource
                    .resource
                    .as_ref()
                    .and_then(|resource| string_attribute(&resource.attributes, "service.name"))
                    .unwrap_or_default();
                resource
                    .scope_spans
                    .into_iter()
                    .flat_map(|scope| scope.spans)
                    .map(move |span| (service.clone(), span))
            })
            .collect()
    }

    /// Every metric received so far, one entry per export.
    pub fn metrics(&self) -> Vec<Metric> {
        self.received.metrics.lock().unwrap().clone()
    }

    /// Polls `done` until it holds or `timeout` passes; says which.
    pub fn wait_until(&self, timeout: Duration, done: impl Fn(&Self) -> bool) -> bool {
        let deadline = Instant::now() + timeout;
        while !done(self) {
            if Instant::now() > deadline {
                return false;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        true
    }
}

impl Drop for OtlpReceiver {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        // Dropping a runtime waits for its tasks; the server exits on the signal above.
        let runtime = std::mem::replace(
            &mut self.runtime,
            tokio::runtime::Builder::new_current_thread()
                .build()
                .expect("placeholder runtime"),
        );
        runtime.shutdown_timeout(Duration::from_secs(2));
    }
}

pub fn string_attribute(attributes: &[KeyValue], key: &str) -> Option<String> {
    let value = attributes
        .iter()
        .find(|kv| kv.key == key)?
        .value
        .as_ref()?
        .value
        .as_ref()?;
    match value {
        any_value::Value::StringValue(text) => Some(text.clone()),
        any_value::Value::IntValue(number) => Some(number.to_string()),
        any_value::Value::BoolValue(flag) => Some(flag.to_string()),
        any_value::Value::DoubleValue(number) => Some(number.to_string()),
        _ => None,
    }
}

/// The attributes of each data point of `metric`, whatever its type.
fn data_point_attributes(metric: &Metric) -> Vec<&[KeyValue]> {
    match &metric.data {
        Some(metric::Data::Sum(sum)) => sum
            .data_points
            .iter()
            .map(|point| point.attributes.as_slice())
            .collect(),
        Some(metric::Data::Gauge(gauge)) => gauge
            .data_points
            .iter()
            .map(|point| point.attributes.as_slice())
            .collect(),
        Some(metric::Data::Histogram(histogram)) => histogram
            .data_points
            .iter()
            .map(|point| point.attributes.as_slice())
            .collect(),
        _ => Vec::new(),
    }
}

/// Every instrument of `metrics.rs`, as exported over OTLP.
const OTLP_METRIC_NAMES: [&str; 17] = [
    "confluence_hub.sync.duration",
    "confluence_hub.syncs",
    "confluence_hub.sync.objects",
    "confluence_hub.sync.skipped",
    "http.client.request.duration",
    "confluence_hub.confluence.requests",
    "confluence_hub.confluence.rate_limited",
    "confluence_hub.confluence.rate_limit_wait",
    "confluence_hub.confluence.retries",
    "confluence_hub.confluence.concurrency_limit",
    "confluence_hub.confluence.learned_rate",
    "confluence_hub.c1.tasks",
    "confluence_hub.c1.upload.size",
    "confluence_hub.c1.heartbeat.failures",
    "confluence_hub.tenants",
    "confluence_hub.config.reloads",
    "confluence_hub.provisioning.operations",
];

/// The same instruments as the Prometheus page names them (what the dashboard queries).
const PROMETHEUS_FAMILIES: [(&str, &str); 17] = [
    ("confluence_hub_sync_duration_seconds", "histogram"),
    ("confluence_hub_syncs_total", "counter"),
    ("confluence_hub_sync_objects_total", "counter"),
    ("confluence_hub_sync_skipped_total", "counter"),
    ("http_client_request_duration_seconds", "histogram"),
    ("confluence_hub_confluence_requests_total", "counter"),
    ("confluence_hub_confluence_rate_limited_total", "counter"),
    (
        "confluence_hub_confluence_rate_limit_wait_seconds_total",
        "counter",
    ),
    ("confluence_hub_confluence_retries_total", "counter"),
    ("confluence_hub_confluence_concurrency_limit", "gauge"),
    ("confluence_hub_confluence_learned_rate", "gauge"),
    ("confluence_hub_c1_tasks_total", "counter"),
    ("confluence_hub_c1_upload_size_bytes_total", "counter"),
    ("confluence_hub_c1_heartbeat_failures_total", "counter"),
    ("confluence_hub_tenants", "gauge"),
    ("confluence_hub_config_reloads_total", "counter"),
    ("confluence_hub_provisioning_operations_total", "counter"),
];

const PIPELINE_TEST: &str = "telemetry::pipeline_in_a_fresh_process";

#[test]
fn telemetry_reaches_otlp_prometheus_and_logs_when_init_runs_before_an_actix_system() {
    let stderr = run_alone(PIPELINE_TEST);

    // The child's logs went to stderr as JSON lines; the one logged inside a request span,
    // itself inside the tenant's sync span, must carry the tenant and both spans' fields.
    let line = stderr
        .lines()
        .find(|line| line.contains("page fetched"))
        .unwrap_or_else(|| panic!("no `page fetched` log line in:\n{stderr}"));
    let line: serde_json::Value = serde_json::from_str(line).expect("a JSON log line");
    assert_eq!(line["tenant"], "acme", "{line}");
    assert_eq!(line["sync_id"], "2bTestSync", "{line}");
    assert_eq!(line["url.template"], "/rest/api/group", "{line}");
    assert_eq!(line["span"], "confluence.request", "{line}");
    assert_eq!(line["level"], "INFO", "{line}");
}

/// The pipeline itself; run by the test above in a process of its own.
#[test]
#[ignore = "run in its own process by telemetry_reaches_otlp_prometheus_and_logs_when_init_runs_before_an_actix_system"]
fn pipeline_in_a_fresh_process() {
    let receiver = OtlpReceiver::start();
    let mut options = TelemetryOptions::new(LogFormat::Json, "info");
    options.service_name = "hub-under-test".into();
    options.otlp_endpoint = Some(receiver.endpoint().parse().unwrap());
    // As in `main`: no runtime exists yet when `init` runs.
    assert!(tokio::runtime::Handle::try_current().is_err());
    let guard = telemetry::init(options).expect("telemetry init");
    assert!(matches!(
        telemetry::init_cli_logging(LogFormat::Console, "info"),
        Err(telemetry::TelemetryError::AlreadyInitialised)
    ));

    actix_rt::System::new().block_on(async {
        let sync = tracing::info_span!(
            "sync",
            tenant = "acme",
            sync_id = "2bTestSync",
            trigger = "schedule"
        );
        async {
            for page in 0..3 {
                let request = tracing::info_span!(
                    "confluence.request",
                    http.request.method = "GET",
                    url.template = "/rest/api/group",
                    http.response.status_code = tracing::field::Empty,
                    retry_count = 0,
                    otel.kind = "client",
                );
                async {
                    actix_rt::time::sleep(Duration::from_millis(2)).await;
                    tracing::Span::current().record("http.response.status_code", 200);
                    tracing::info!(page, "page fetched");
                }
                .instrument(request)
                .await;
            }
        }
        .instrument(sync)
        .await;
        record_every_metric();
        // Blocks the arbiter's only thread, as a busy actor would: the export must still
        // happen, because it runs on the control-plane runtime, not here.
        guard
            .force_flush()
            .expect("flush from inside the actix system");
    });

    let spans = receiver.spans();
    let sync = spans
        .iter()
        .find(|(_, span)| span.name == "sync")
        .unwrap_or_else(|| panic!("no sync span among {spans:?}"));
    assert_eq!(sync.0, "hub-under-test");
    let sync = &sync.1;
    assert_eq!(
        string_attribute(&sync.attributes, "tenant").as_deref(),
        Some("acme")
    );
    assert_eq!(
        string_attribute(&sync.attributes, "sync_id").as_deref(),
        Some("2bTestSync")
    );
    assert_eq!(
        string_attribute(&sync.attributes, "trigger").as_deref(),
        Some("schedule")
    );
    let requests: Vec<&Span> = spans
        .iter()
        .map(|(_, span)| span)
        .filter(|span| span.name == "confluence.request")
        .collect();
    assert_eq!(requests.len(), 3, "{spans:?}");
    for request in requests {
        assert_eq!(request.trace_id, sync.trace_id);
        assert_eq!(request.parent_span_id, sync.span_id);
        assert_eq!(request.kind, span::SpanKind::Client as i32);
        let attribute = |key| string_attribute(&request.attributes, key);
        assert_eq!(
            attribute("tenant").as_deref(),
            Some("acme"),
            "inherited from sync"
        );
        assert_eq!(attribute("http.request.method").as_deref(), Some("GET"));
        assert_eq!(
            attribute("url.template").as_deref(),
            Some("/rest/api/group")
        );
        assert_eq!(
            attribute("http.response.status_code").as_deref(),
            Some("200")
        );
        assert_eq!(attribute("retry_count").as_deref(), Some("0"));
    }

    let exported = receiver.metrics();
    let names: BTreeSet<&str> = exported.iter().map(|metric| metric.name.as_str()).collect();
    assert_eq!(
        names,
        BTreeSet::from(OTLP_METRIC_NAMES),
        "exported metric names"
    );
    for metric in &exported {
        let points = data_point_attributes(metric);
        assert!(!points.is_empty(), "{} has no data points", metric.name);
        for attributes in points {
            assert!(
                string_attribute(attributes, "tenant").is_some(),
                "{} has a point without tenant: {attributes:?}",
                metric.name
            );
        }
    }

    let page = guard.prometheus_text();
    let families = parse_exposition(&page).unwrap_or_else(|err| panic!("{err}\n{page}"));
    for (name, kind) in PROMETHEUS_FAMILIES {
        let family = families
            .get(name)
            .unwrap_or_else(|| panic!("no {name} in\n{page}"));
        assert_eq!(family.kind, kind, "{name}");
        assert!(family.help, "{name} has no HELP");
    }
    for (name, family) in &families {
        for sample in family.samples.iter().filter(|_| name != "target_info") {
            assert!(
                sample.label("tenant").is_some(),
                "{} without tenant in\n{page}",
                sample.name
            );
        }
    }
    let syncs = &families["confluence_hub_syncs_total"].samples;
    assert_eq!(syncs.len(), 1);
    assert_eq!(syncs[0].label("trigger"), Some("schedule"));
    assert_eq!(syncs[0].value, 1.0);
    let uploaded = &families["confluence_hub_c1_upload_size_bytes_total"].samples;
    assert_eq!(uploaded[0].value, 5_000_000.0);
    assert!(families["target_info"].samples[0].label("service_name") == Some("hub-under-test"));

    // A span finished after the last flush is exported by shutdown, within its bound.
    tracing::info_span!("c1.upload", tenant = "acme", bytes = 5_000_000_u64).in_scope(|| {});
    let started = Instant::now();
    guard
        .shutdown(Duration::from_secs(5))
        .expect("clean shutdown");
    assert!(started.elapsed() < Duration::from_secs(5));
    assert!(
        receiver.wait_until(Duration::from_secs(5), |receiver| {
            receiver
                .spans()
                .iter()
                .any(|(_, span)| span.name == "c1.upload")
        }),
        "the span ended before shutdown was not exported"
    );
}

fn record_every_metric() {
    metrics::confluence_request(
        "acme",
        "GET",
        "/rest/api/group",
        200,
        Duration::from_millis(40),
    );
    metrics::confluence_request(
        "acme",
        "GET",
        "/rest/api/group",
        429,
        Duration::from_millis(3),
    );
    metrics::confluence_retry("acme", "rate_limited");
    metrics::rate_limit_wait("acme", Duration::from_millis(1500));
    metrics::confluence_pacing("acme", 6, Some(10.0));
    metrics::sync_finished("acme", "schedule", "ok", Duration::from_secs(42));
    metrics::objects_synced("acme", "user", 120);
    metrics::rows_skipped("acme", "anonymous_permission", 2);
    metrics::c1_task("acme", "sync_full", "ok");
    metrics::upload_bytes("acme", 5_000_000);
    metrics::heartbeat_failure("acme");
    metrics::tenant_state("acme", "idle", true);
    metrics::config_reload("ok");
    metrics::provisioning("acme", "grant", "ok");
}

/// One metric family of a parsed exposition page.
#[derive(Debug, Default)]
pub struct Family {
    pub kind: String,
    pub help: bool,
    pub samples: Vec<Sample>,
}

#[derive(Debug)]
pub struct Sample {
    pub name: String,
    pub labels: Vec<(String, String)>,
    pub value: f64,
}

impl Sample {
    pub fn label(&self, name: &str) -> Option<&str> {
        self.labels
            .iter()
            .find(|(key, _)| key == name)
            .map(|(_, value)| value.as_str())
    }
}

/// A strict parser for the Prometheus text format 0.0.4: every line must be well formed
/// (stricter than Prometheus: no blank lines, no samples outside a declared `# TYPE`); HELP and
/// TYPE come at most once per family and before its samples; a family's lines are contiguous;
/// no series repeats; counters are non-negative; every histogram series has increasing `le`
/// bounds ending in `+Inf`, non-decreasing cumulative counts, and `_count` equal to the
/// `+Inf` bucket and a `_sum`.
pub fn parse_exposition(text: &str) -> Result<BTreeMap<String, Family>, String> {
    if !text.is_empty() && !text.ends_with('\n') {
        return Err("the page does not end with a newline".into());
    }
    let mut families: BTreeMap<String, Family> = BTreeMap::new();
    let mut current: Option<String> = None;
    let mut closed: BTreeSet<String> = BTreeSet::new();
    let mut seen_series: BTreeSet<String> = BTreeSet::new();
    let mut enter = |name: &str, current: &mut Option<String>| -> Result<(), String> {
        if current.as_deref() != Some(name) {
            if closed.contains(name) {
                return Err(format!("lines of family {name} are not contiguous"));
            }
            if let Some(previous) = current.replace(name.to_owned()) {
                closed.insert(previous);
            }
        }
        Ok(())
    };
    for (number, line) in text.lines().enumerate() {
        let fail = |why: &str| format!("line {}: {why}: {line:?}", number + 1);
        if let Some(rest) = line.strip_prefix("# HELP ") {
            let (name, help) = rest.split_once(' ').unwrap_or((rest, ""));
            check_metric_name(name).map_err(|why| fail(&why))?;
            unescape(help, false).map_err(|why| fail(&why))?;
            enter(name, &mut current).map_err(|why| fail(&why))?;
            let family = families.entry(name.to_owned()).or_default();
            if family.help || !family.samples.is_empty() {
                return Err(fail("HELP repeated or after samples"));
            }
            family.help = true;
        } else if let Some(rest) = line.strip_prefix("# TYPE ") {
            let (name, kind) = rest
                .split_once(' ')
                .ok_or_else(|| fail("TYPE without a type"))?;
            check_metric_name(name).map_err(|why| fail(&why))?;
            if !["counter", "gauge", "histogram", "summary", "untyped"].contains(&kind) {
                return Err(fail("unknown type"));
            }
            enter(name, &mut current).map_err(|why| fail(&why))?;
            let family = families.entry(name.to_owned()).or_default();
            if !family.kind.is_empty() || !family.samples.is_empty() {
                return Err(fail("TYPE repeated or after samples"));
            }
            family.kind = kind.to_owned();
        } else if line.starts_with('#') {
            continue;
        } else {
            let sample = parse_sample(line).map_err(|why| fail(&why))?;
            let family_name = family_of(&sample.name, &families)
                .ok_or_else(|| fail("sample of a family without # TYPE"))?;
            enter(&family_name, &mut current).map_err(|why| fail(&why))?;
            let series = format!("{}{:?}", sample.name, sample.labels);
            if !seen_series.insert(series) {
                return Err(fail("series repeated"));
            }
            let family = families
                .get_mut(&family_name)
                .ok_or_else(|| fail("lost family"))?;
            if family.kind == "counter" && (sample.value.is_nan() || sample.value < 0.0) {
                return Err(fail("counter value is negative or NaN"));
            }
            family.samples.push(sample);
        }
    }
    for (name, family) in &families {
        if family.kind.is_empty() {
            return Err(format!("family {name} has HELP but no TYPE"));
        }
        if family.kind == "histogram" {
            check_histogram(name, family)?;
        }
    }
    Ok(families)
}

fn family_of(sample_name: &str, families: &BTreeMap<String, Family>) -> Option<String> {
    for suffix in ["_bucket", "_sum", "_count"] {
        if let Some(base) = sample_name.strip_suffix(suffix)
            && families
                .get(base)
                .is_some_and(|family| family.kind == "histogram")
        {
            return Some(base.to_owned());
        }
    }
    families
        .get(sample_name)
        .filter(|family| !family.kind.is_empty() && family.kind != "histogram")
        .map(|_| sample_name.to_owned())
}

fn check_histogram(name: &str, family: &Family) -> Result<(), String> {
    #[derive(Default)]
    struct Series {
        buckets: Vec<(f64, f64)>,
        sum: Option<f64>,
        count: Option<f64>,
    }
    let mut series: BTreeMap<Vec<(String, String)>, Series> = BTreeMap::new();
    for sample in &family.samples {
        let labels: Vec<_> = sample
            .labels
            .iter()
            .filter(|(key, _)| key != "le")
            .cloned()
            .collect();
        let entry = series.entry(labels).or_default();
        match sample.name.strip_prefix(name) {
            Some("_bucket") => {
                let le = sample
                    .label("le")
                    .ok_or(format!("{} without le", sample.name))?;
                entry.buckets.push((parse_value(le)?, sample.value));
            }
            Some("_sum") if sample.label("le").is_none() => entry.sum = Some(sample.value),
            Some("_count") if sample.label("le").is_none() => entry.count = Some(sample.value),
            _ => {
                return Err(format!(
                    "{} does not belong to histogram {name}",
                    sample.name
                ));
            }
        }
    }
    for (labels, series) in series {
        let last = series
            .buckets
            .last()
            .ok_or(format!("{name}{labels:?} has no buckets"))?;
        if last.0 != f64::INFINITY {
            return Err(format!("{name}{labels:?} does not end with le=\"+Inf\""));
        }
        for pair in series.buckets.windows(2) {
            if pair[1].0 <= pair[0].0 || pair[1].1 < pair[0].1 {
                return Err(format!(
                    "{name}{labels:?} buckets are not monotonic: {pair:?}"
                ));
            }
        }
        if series.count != Some(last.1) || series.sum.is_none() {
            return Err(format!(
                "{name}{labels:?} lacks _sum or has _count != +Inf bucket"
            ));
        }
    }
    Ok(())
}

fn check_metric_name(name: &str) -> Result<(), String> {
    let mut chars = name.chars();
    let valid_start = chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_' || c == ':');
    if valid_start && chars.all(|c| c.is_ascii_alphanumeric() || c == '_' || c == ':') {
        Ok(())
    } else {
        Err(format!("invalid metric name {name:?}"))
    }
}

fn check_label_name(name: &str) -> Result<(), String> {
    let mut chars = name.chars();
    let valid_start = chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_');
    if valid_start && chars.all(|c| c.is_ascii_alphanumeric() || c == '_') {
        Ok(())
    } else {
        Err(format!("invalid label name {name:?}"))
    }
}

/// Resolves `\\`, `\n` (and `\"` in label values); any other escape is an error.
fn unescape(text: &str, quotes: bool) -> Result<String, String> {
    let mut out = String::new();
    let mut chars = text.chars();
    while let Some(c) = chars.next() {
        match c {
            '\\' => match chars.next() {
                Some('\\') => out.push('\\'),
                Some('n') => out.push('\n'),
                Some('"') if quotes => out.push('"'),
                other => return Err(format!("bad escape \\{other:?}")),
            },
            '"' if quotes => return Err("unescaped quote".into()),
            c => out.push(c),
        }
    }
    Ok(out)
}

fn parse_value(text: &str) -> Result<f64, String> {
    match text {
        "+Inf" => Ok(f64::INFINITY),
        "-Inf" => Ok(f64::NEG_INFINITY),
        "NaN" => Ok(f64::NAN),
        _ if text.starts_with(|c: char| c.is_ascii_digit() || c == '-' || c == '.') => {
            text.parse().map_err(|_| format!("invalid value {text:?}"))
        }
        _ => Err(format!("invalid value {text:?}")),
    }
}

fn parse_sample(line: &str) -> Result<Sample, String> {
    let name_end = line.find(['{', ' ']).ok_or("no value")?;
    let name = &line[..name_end];
    check_metric_name(name)?;
    let mut rest = &line[name_end..];
    let mut labels: Vec<(String, String)> = Vec::new();
    if let Some(body) = rest.strip_prefix('{') {
        rest = body;
        loop {
            if let Some(after) = rest.strip_prefix('}') {
                rest = after;
                break;
            }
            let (key, after) = rest.split_once("=\"").ok_or("label without =\"")?;
            check_label_name(key)?;
            let mut end = None;
            let mut escaped = false;
            for (index, c) in after.char_indices() {
                match (escaped, c) {
                    (false, '\\') => escaped = true,
                    (false, '"') => {
                        end = Some(index);
                        break;
                    }
                    _ => escaped = false,
                }
            }
            let end = end.ok_or("unterminated label value")?;
            if labels.iter().any(|(existing, _)| existing == key) {
                return Err(format!("label {key} repeated"));
            }
            labels.push((key.to_owned(), unescape(&after[..end], true)?));
            rest = &after[end + 1..];
            match rest.strip_prefix(',') {
                Some(after_comma) => rest = after_comma,
                None if rest.starts_with('}') => {}
                None => return Err("labels not separated by commas".into()),
            }
        }
    }
    let rest = rest.strip_prefix(' ').ok_or("no space before the value")?;
    let mut parts = rest.split(' ');
    let value = parse_value(parts.next().ok_or("no value")?)?;
    if let Some(timestamp) = parts.next() {
        timestamp
            .parse::<i64>()
            .map_err(|_| format!("invalid timestamp {timestamp:?}"))?;
    }
    if parts.next().is_some() {
        return Err("trailing text after the timestamp".into());
    }
    Ok(Sample {
        name: name.to_owned(),
        labels,
        value,
    })
}

#[test]
fn exposition_parser_rejects_malformed_pages() {
    let valid = "# HELP a_seconds A\n# TYPE a_seconds histogram\n\
a_seconds_bucket{t=\"x\",le=\"1.0\"} 1\na_seconds_bucket{t=\"x\",le=\"+Inf\"} 2\n\
a_seconds_sum{t=\"x\"} 3.5\na_seconds_count{t=\"x\"} 2\n";
    assert!(
        parse_exposition(valid).is_ok(),
        "{:?}",
        parse_exposition(valid)
    );
    let broken = [
        ("bucket counts decrease", valid.replace("} 1\n", "} 3\n")),
        ("no +Inf bucket", valid.replace("le=\"+Inf\"", "le=\"2.0\"")),
        (
            "count differs from +Inf",
            valid.replace("_count{t=\"x\"} 2", "_count{t=\"x\"} 7"),
        ),
        (
            "sample before TYPE",
            format!("a_total 1\n# TYPE a_total counter\n{valid}"),
        ),
        ("bad escape", valid.replace("t=\"x\"", "t=\"\\x\"")),
        ("bad label name", valid.replace("t=\"x\"", "1t=\"x\"")),
        (
            "labels without comma",
            valid.replace("t=\"x\",le", "t=\"x\"le"),
        ),
        ("missing newline", valid.trim_end().to_owned()),
        (
            "negative counter",
            "# TYPE a_total counter\na_total -1\n".to_owned(),
        ),
        ("repeated series", "# TYPE g gauge\ng 1\ng 2\n".to_owned()),
        (
            "split family",
            "# TYPE g gauge\ng{a=\"1\"} 1\n# TYPE h gauge\nh 1\ng{a=\"2\"} 1\n".to_owned(),
        ),
    ];
    for (why, page) in broken {
        assert!(
            parse_exposition(&page).is_err(),
            "accepted a page with {why}:\n{page}"
        );
    }
}

/// Every PromQL expression in a Grafana dashboard (panel targets and template queries).
fn dashboard_expressions(value: &serde_json::Value, found: &mut Vec<String>) {
    match value {
        serde_json::Value::Object(map) => {
            for (key, value) in map {
                match (key.as_str(), value) {
                    ("expr" | "definition", serde_json::Value::String(expr)) => {
                        found.push(expr.clone())
                    }
                    _ => dashboard_expressions(value, found),
                }
            }
        }
        serde_json::Value::Array(items) => items
            .iter()
            .for_each(|item| dashboard_expressions(item, found)),
        _ => {}
    }
}

/// Label names an expression groups by (`by (a, b)`) or matches on (`{a="x"}`).
fn label_names(expr: &str) -> Vec<String> {
    let mut names = Vec::new();
    for (open, close, grouping) in [("by (", ')', true), ("{", '}', false)] {
        let mut rest = expr;
        while let Some(start) = rest.find(open) {
            let after = &rest[start + open.len()..];
            let end = after.find(close).unwrap_or(after.len());
            for part in after[..end].split(',') {
                let name = if grouping {
                    part
                } else {
                    part.split(['=', '!']).next().unwrap_or("")
                };
                names.push(name.trim().to_owned());
            }
            rest = &after[end..];
        }
    }
    names
}

#[test]
fn grafana_dashboard_charts_every_metric_with_the_names_and_labels_of_the_metrics_page() {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/deploy/grafana/confluence-hub.json"
    );
    let dashboard: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(path).unwrap()).expect("dashboard JSON");
    let mut expressions = Vec::new();
    dashboard_expressions(&dashboard, &mut expressions);
    assert!(!expressions.is_empty());

    use metrics::labels;
    let known_labels: BTreeSet<String> = [
        labels::TENANT,
        labels::KIND,
        labels::OUTCOME,
        labels::TRIGGER,
        labels::ROUTE,
        labels::METHOD,
        labels::STATUS,
        labels::TASK_TYPE,
        labels::STATE,
        labels::RESULT,
        labels::OPERATION,
        labels::REASON,
        "le",
    ]
    .iter()
    .map(|name| name.replace('.', "_"))
    .collect();
    let mut charted = BTreeSet::new();
    for expr in &expressions {
        let identifiers =
            expr.split(|c: char| !(c.is_ascii_alphanumeric() || c == '_' || c == ':'));
        for name in identifiers
            .filter(|word| word.starts_with("confluence_hub_") || word.starts_with("http_client_"))
        {
            let family = PROMETHEUS_FAMILIES.iter().find(|(family, kind)| {
                name == *family
                    || (*kind == "histogram"
                        && ["_bucket", "_sum", "_count"]
                            .iter()
                            .any(|suffix| name.strip_suffix(suffix) == Some(family)))
            });
            let (family, _) = family.unwrap_or_else(|| panic!("`{name}` is not exported: {expr}"));
            charted.insert(*family);
        }
        for label in label_names(expr) {
            assert!(
                known_labels.contains(&label),
                "unknown label `{label}` in {expr}"
            );
        }
    }
    let all: BTreeSet<&str> = PROMETHEUS_FAMILIES
        .iter()
        .map(|(family, _)| *family)
        .collect();
    assert_eq!(charted, all, "every metric has a panel");
}

/// The real hub, a real sync: its spans and metrics reach the collector with
/// the tenant on them, and `/metrics` parses.
#[test]
fn a_real_sync_reaches_the_collector_and_the_metrics_page() {
    use sim::confluence::{ConfluenceSim, Dataset, GenerateOptions, SimOptions, SimVersion};

    let receiver = OtlpReceiver::start();
    let dataset = Dataset::generate(&GenerateOptions {
        seed: 91,
        users: 30,
        groups: 5,
        spaces: 4,
    });
    let sim = ConfluenceSim::start(SimOptions::new(SimVersion::V9_2, dataset)).unwrap();
    let config = format!(
        "[hub]\ndata_dir = \"{{data_dir}}\"\nadmin_listen = \"{{admin}}\"\n\
         [telemetry]\notlp_endpoint = \"{}\"\n\
         [[instance]]\nid = \"observed\"\nbase_url = \"{}\"\ntoken = {{ env = \"HUB_IT_TOKEN\" }}\nsync_interval = \"1h\"\n",
        receiver.endpoint(),
        sim.base_url(),
    );
    let dir = crate::support::TempDir::new("otlp");
    let mut hub = crate::support::HubProcess::start(
        dir.path(),
        &config,
        &[
            ("HUB_IT_TOKEN", "sim-admin-token"),
            ("OTEL_METRIC_EXPORT_INTERVAL", "500"),
        ],
    );
    // The receiver owns a runtime, so the async part runs on one of its own.
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let page = runtime.block_on(async {
        hub.wait_for(Duration::from_secs(20), "the sync", |status| {
            crate::support::tenant(status, "observed")
                .is_some_and(|t| t["last_sync"]["outcome"] == "ok")
        })
        .await;

        hub.get("/metrics")
            .await
            .expect("/metrics answers")
            .text()
            .await
            .unwrap()
    });
    let families = parse_exposition(&page).unwrap_or_else(|err| panic!("{err}\n{page}"));
    let samples = |family: &str| {
        families
            .get(family)
            .map(|f| f.samples.as_slice())
            .unwrap_or_default()
    };
    let syncs = samples("confluence_hub_syncs_total");
    assert!(
        syncs.iter().any(|s| s.label("tenant") == Some("observed")
            && s.label("outcome") == Some("ok")
            && s.value >= 1.0),
        "{page}"
    );
    let requests = samples("confluence_hub_confluence_requests_total");
    assert!(
        requests
            .iter()
            .any(|s| s.label("url_template") == Some("/rest/api/user/list")),
        "{page}"
    );
    assert!(
        requests
            .iter()
            .all(|s| s.label("tenant") == Some("observed")),
        "{page}"
    );
    // Every metric is labelled with the tenant (target_info describes the process).
    for (name, family) in families.iter().filter(|(name, _)| *name != "target_info") {
        for sample in &family.samples {
            assert!(
                sample.label("tenant").is_some(),
                "{name}: {} has no tenant label",
                sample.name
            );
        }
    }

    // Stopping flushes the spans still batched.
    hub.signal("TERM");
    assert!(
        hub.wait_exit(Duration::from_secs(20))
            .is_some_and(|status| status.success())
    );
    let arrived = receiver.wait_until(Duration::from_secs(10), |receiver| {
        let names: BTreeSet<String> = receiver
            .spans()
            .into_iter()
            .map(|(_, span)| span.name)
            .collect();
        ["sync", "fetch", "confluence.request"]
            .iter()
            .all(|name| names.contains(*name))
    });
    let spans = receiver.spans();
    assert!(
        arrived,
        "spans received: {:?}",
        spans.iter().map(|(_, s)| &s.name).collect::<Vec<_>>()
    );
    for (service, span) in &spans {
        assert_eq!(service, "confluence-hub");
        if ["sync", "fetch", "confluence.request"].contains(&span.name.as_str()) {
            assert_eq!(
                string_attribute(&span.attributes, "tenant").as_deref(),
                Some("observed"),
                "{}",
                span.name
            );
        }
    }
    let request = spans
        .iter()
        .find(|(_, span)| span.name == "confluence.request")
        .unwrap();
    let template = string_attribute(&request.1.attributes, "url.template").unwrap_or_default();
    assert!(
        template.starts_with("/rest/api/") || template.starts_with("/rpc/"),
        "{template}"
    );
    let fetch_types: BTreeSet<String> = spans
        .iter()
        .filter(|(_, span)| span.name == "fetch")
        .filter_map(|(_, span)| string_attribute(&span.attributes, "resource_type"))
        .collect();
    assert_eq!(
        fetch_types,
        ["group", "space", "user"].map(String::from).into()
    );

    let metric_names: BTreeSet<String> = receiver
        .metrics()
        .into_iter()
        .map(|metric| metric.name)
        .collect();
    for name in [
        "confluence_hub.syncs",
        "confluence_hub.sync.duration",
        "confluence_hub.confluence.requests",
        "http.client.request.duration",
        "confluence_hub.sync.objects",
    ] {
        assert!(
            metric_names.contains(name),
            "{name} not exported; got {metric_names:?}"
        );
    }
    for metric in receiver
        .metrics()
        .iter()
        .filter(|metric| metric.name.starts_with("confluence_hub.sync"))
    {
        for attributes in data_point_attributes(metric) {
            assert_eq!(
                string_attribute(attributes, "tenant").as_deref(),
                Some("observed"),
                "{}",
                metric.name
            );
        }
    }
}
