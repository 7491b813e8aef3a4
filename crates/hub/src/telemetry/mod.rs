//! Observability: the tracing subscriber (JSON or console logs on stderr), OpenTelemetry
//! traces and metrics over OTLP/gRPC, the Prometheus text page for `/metrics`, and the metric
//! instruments themselves ([`metrics`]).
//!
//! # Starting it
//!
//! - The hub calls [`init`] once, first thing in `main`, before any actix `System` exists.
//!   Exporters are built on a dedicated multi-thread tokio runtime (the "control plane"
//!   runtime, owned by the returned [`TelemetryGuard`] unless one is passed in), never on an
//!   actix arbiter: an exporter bound to an arbiter stalls whenever that arbiter blocks, and its
//!   spans are lost (docs/architecture.md, Threads and runtimes). The admin HTTP server can
//!   share that runtime through [`TelemetryGuard::runtime`].
//! - Short commands (`sync`, `check`) call [`init_cli_logging`], which only installs the log
//!   subscriber, or [`init`] when the config names a collector.
//! - Either may run once per process; a second call fails with
//!   [`TelemetryError::AlreadyInitialised`]. [`metrics::get`] binds the instruments to whatever
//!   meter provider is global at its first call, so `init` must come before any metric is
//!   recorded.
//! - Dropping the guard (or [`TelemetryGuard::shutdown`]) flushes spans and metrics within a
//!   bounded time. Do it from a blocking context, e.g. after `System::run()` returns.
//!
//! # Logs
//!
//! JSON lines by default: `timestamp`, `level`, `target`, `message`, then the fields of every
//! span in scope (outermost first, inner spans win), then the event's own fields, then `span`
//! (the innermost span's name). So every line logged inside a tenant's `sync` span carries
//! `"tenant": "..."`. Secrets are [`platform::secret::Secret`]s, which format as `[redacted]`;
//! never record a raw header, a full URL with a query string, or a request body.
//!
//! # Span conventions
//!
//! Spans are `INFO` level (they produce no log lines of their own; events inside them do).
//! Only `INFO` and above reach the trace exporter, whatever `--log-level` says. Every exported
//! span carries `tenant`: a span without its own `tenant` field inherits its nearest exported
//! ancestor's (see `tenant.rs`), so only the outermost span of a tenant's work must set it.
//!
//! | span | fields |
//! | --- | --- |
//! | `sync` | `tenant`, `sync_id`, `trigger` (`c1_task`, `schedule`, `cli`) |
//! | `fetch` | `tenant`, `resource_type` (`user`, `group`, `space`) |
//! | `confluence.request` | `http.request.method`, `url.template` (the route, never the full URL), `http.response.status_code` (record when known), `retry_count`, `otel.kind = "client"` |
//! | `c1.task` | `tenant`, `task_id`, `task_type`, `outcome` (record when finished) |
//! | `c1.upload` | `tenant`, `bytes` |
//!
//! Declare fields that are only known later as `tracing::field::Empty` and `record` them.
//! `otel.status_code = "error"` marks a failed span. Metric names and labels live in
//! [`metrics`]; the Prometheus page renders them as described in `prometheus.rs`.

mod logs;
pub use platform::metrics;
mod prometheus;
mod tenant;

use std::sync::mpsc;
use std::thread;
use std::time::{Duration, Instant};

use opentelemetry::KeyValue;
use opentelemetry::trace::TracerProvider as _;
use opentelemetry_otlp::{WithExportConfig, WithTonicConfig};
use opentelemetry_sdk::Resource;
use opentelemetry_sdk::metrics::{PeriodicReader, SdkMeterProvider, Temporality};
use opentelemetry_sdk::propagation::TraceContextPropagator;
use opentelemetry_sdk::trace::SdkTracerProvider;
use reqwest::Url;
use tokio::runtime::{Handle, Runtime};
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;
use tracing_subscriber::{EnvFilter, Layer as _};

pub use self::prometheus::{MetricsHandle, PROMETHEUS_CONTENT_TYPE};
use crate::config::TelemetrySettings;

/// How log lines look.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, clap::ValueEnum)]
pub enum LogFormat {
    /// One JSON object per line, for log collectors.
    #[default]
    Json,
    /// Human-readable lines with the span context (`sync{tenant=acme}: ...`).
    Console,
}

/// The instrumentation scope of the hub's tracer (its meter is [`metrics::METER_NAME`]).
const TRACER_NAME: &str = "confluence-hub";

/// Enough for the OTLP channels, the admin server and their timers; the control plane never
/// does heavy work, so it needs no more threads whatever the core count.
const CONTROL_PLANE_THREADS: usize = 2;

/// What `Drop` allows for the final flush: the hub's shutdown grace (60 s by default) leaves a
/// margin of 15 s before Kubernetes kills the pod, and the flush must fit in it.
pub const DEFAULT_SHUTDOWN_TIMEOUT: Duration = Duration::from_secs(10);

/// The collector must answer within this; a slow collector must not hold a shutdown hostage.
const OTLP_TIMEOUT: Duration = Duration::from_secs(10);

/// What [`init`] sets up.
#[derive(Clone, Debug)]
pub struct TelemetryOptions {
    pub log_format: LogFormat,
    /// A level (`info`) or a tracing filter directive (`info,confluence_hub::confluence=debug`).
    pub log_filter: String,
    /// The OpenTelemetry `service.name` resource attribute.
    pub service_name: String,
    /// OTLP/gRPC collector; traces and metrics are exported there when set.
    pub otlp_endpoint: Option<Url>,
    /// How often metrics are pushed over OTLP; `None` keeps the SDK default (60 s, or
    /// `OTEL_METRIC_EXPORT_INTERVAL` in milliseconds).
    pub metric_export_interval: Option<Duration>,
    /// Extra resource attributes (e.g. the shard ordinal). `OTEL_RESOURCE_ATTRIBUTES` is read too.
    pub resource_attributes: Vec<KeyValue>,
    /// A control-plane runtime to build the exporters on; `None` makes the guard own one.
    pub runtime: Option<Handle>,
    /// Append log lines to this file instead of writing them to stderr.
    pub log_file: Option<std::path::PathBuf>,
}

impl TelemetryOptions {
    pub fn new(log_format: LogFormat, log_filter: impl Into<String>) -> Self {
        Self {
            log_format,
            log_filter: log_filter.into(),
            service_name: TRACER_NAME.to_owned(),
            otlp_endpoint: None,
            metric_export_interval: None,
            resource_attributes: Vec::new(),
            runtime: None,
            log_file: None,
        }
    }

    /// Takes the collector endpoint and service name from the config file's `[telemetry]`.
    pub fn with_settings(mut self, settings: &TelemetrySettings) -> Self {
        self.service_name = settings.service_name.clone();
        self.otlp_endpoint = settings.otlp_endpoint.clone();
        self
    }
}

#[derive(Debug, thiserror::Error)]
pub enum TelemetryError {
    #[error("cannot open the log file {}: {source}; pick a writable path", path.display())]
    LogFile {
        path: std::path::PathBuf,
        source: std::io::Error,
    },
    #[error(
        "telemetry is already initialised in this process (call telemetry::init or init_cli_logging once, before anything logs)"
    )]
    AlreadyInitialised,
    #[error(
        "`{directive}` is not a valid log level or filter ({source}); use e.g. `info` or `info,confluence_hub=debug`"
    )]
    InvalidLogFilter {
        directive: String,
        source: tracing_subscriber::filter::ParseError,
    },
    #[error("cannot start the control-plane runtime for telemetry: {0}")]
    Runtime(#[source] std::io::Error),
    #[error("cannot build the OTLP {signal} exporter for {endpoint}: {source}")]
    Exporter {
        signal: &'static str,
        endpoint: String,
        source: opentelemetry_otlp::ExporterBuildError,
    },
    #[error("flushing telemetry failed: {0}")]
    Flush(String),
    #[error("telemetry did not flush within {0:?}; the collector may be unreachable")]
    ShutdownTimedOut(Duration),
}

/// Installs logs, traces and metrics for the whole process. See the module docs.
pub fn init(options: TelemetryOptions) -> Result<TelemetryGuard, TelemetryError> {
    let log_filter = parse_filter(&options.log_filter)?;
    let log_file = match &options.log_file {
        Some(path) => Some(std::sync::Arc::new(
            std::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(path)
                .map_err(|source| TelemetryError::LogFile {
                    path: path.clone(),
                    source,
                })?,
        )),
        None => None,
    };
    let (runtime, owned_runtime) = match options.runtime.clone() {
        Some(handle) => (handle, None),
        None => {
            let runtime = tokio::runtime::Builder::new_multi_thread()
                .worker_threads(CONTROL_PLANE_THREADS)
                .thread_name("control-plane")
                .enable_all()
                .build()
                .map_err(TelemetryError::Runtime)?;
            (runtime.handle().clone(), Some(runtime))
        }
    };
    let resource = resource(&options);
    let (metrics, prometheus_reader) = prometheus::reader();
    let mut guard = TelemetryGuard {
        metrics,
        meter_provider: None,
        tracer_provider: None,
        runtime,
        owned_runtime,
        flushed: false,
    };

    // tonic spawns each channel's connection task on the runtime current at build time, so
    // the exporters must be built inside the control plane, whoever calls `init`.
    let handle = guard.runtime();
    let _entered = handle.enter();

    let mut meter_builder = SdkMeterProvider::builder()
        .with_resource(resource.clone())
        .with_reader(prometheus_reader);
    if let Some(endpoint) = &options.otlp_endpoint {
        let exporter = opentelemetry_otlp::MetricExporter::builder()
            .with_tonic()
            .with_endpoint(endpoint.as_str())
            .with_timeout(OTLP_TIMEOUT)
            .with_tls_config(tls_config())
            .with_temporality(Temporality::Cumulative)
            .build()
            .map_err(|source| exporter_error("metrics", endpoint, source))?;
        let mut reader = PeriodicReader::builder(exporter);
        if let Some(interval) = options.metric_export_interval {
            reader = reader.with_interval(interval);
        }
        meter_builder = meter_builder.with_reader(reader.build());
    }
    let meter_provider = meter_builder.build();
    guard.meter_provider = Some(meter_provider.clone());

    let tracer_provider = match &options.otlp_endpoint {
        Some(endpoint) => {
            let exporter = opentelemetry_otlp::SpanExporter::builder()
                .with_tonic()
                .with_endpoint(endpoint.as_str())
                .with_timeout(OTLP_TIMEOUT)
                .with_tls_config(tls_config())
                .build()
                .map_err(|source| exporter_error("traces", endpoint, source))?;
            Some(
                SdkTracerProvider::builder()
                    .with_resource(resource)
                    // Registered before the batch processor so the tenant attribute is set
                    // before the span is queued for export.
                    .with_span_processor(tenant::TenantInheritance::default())
                    .with_batch_exporter(exporter)
                    .build(),
            )
        }
        None => None,
    };
    guard.tracer_provider = tracer_provider.clone();

    let trace_layer = tracer_provider.as_ref().map(|provider| {
        tracing_opentelemetry::layer()
            .with_tracer(provider.tracer(TRACER_NAME))
            .with_filter(trace_filter())
    });
    tracing_subscriber::registry()
        .with(logs::layer(options.log_format, log_filter, log_file))
        .with(trace_layer)
        .try_init()
        .map_err(|_| TelemetryError::AlreadyInitialised)?;

    opentelemetry::global::set_text_map_propagator(TraceContextPropagator::new());
    opentelemetry::global::set_meter_provider(meter_provider);
    if let Some(provider) = tracer_provider {
        opentelemetry::global::set_tracer_provider(provider);
    }
    if metrics::created_before_init() {
        tracing::warn!(
            "metric instruments were created before telemetry::init and record nothing; call init first"
        );
    }
    tracing::info!(
        otlp_endpoint = options.otlp_endpoint.as_ref().map(redacted_endpoint),
        "telemetry initialised"
    );
    Ok(guard)
}

/// Logs only, for short commands: no runtime, no exporters. Metrics recorded afterwards go
/// nowhere; call [`init`] instead when the config names a collector.
pub fn init_cli_logging(format: LogFormat, filter: &str) -> Result<(), TelemetryError> {
    tracing_subscriber::registry()
        .with(logs::layer(format, parse_filter(filter)?, None))
        .try_init()
        .map_err(|_| TelemetryError::AlreadyInitialised)
}

/// Owns the exporters (and, unless one was passed in, the control-plane runtime). Dropping it
/// flushes within [`DEFAULT_SHUTDOWN_TIMEOUT`]; [`TelemetryGuard::shutdown`] picks the bound.
pub struct TelemetryGuard {
    metrics: MetricsHandle,
    meter_provider: Option<SdkMeterProvider>,
    tracer_provider: Option<SdkTracerProvider>,
    runtime: Handle,
    /// `None` when the runtime was passed in (its owner stops it) or already stopped.
    owned_runtime: Option<Runtime>,
    flushed: bool,
}

impl TelemetryGuard {
    /// A cheap, cloneable handle that renders the Prometheus text page.
    pub fn metrics(&self) -> MetricsHandle {
        self.metrics.clone()
    }

    /// The current metrics in Prometheus text exposition format 0.0.4.
    pub fn prometheus_text(&self) -> String {
        self.metrics.render()
    }

    /// The control-plane runtime the exporters run on, for the admin server and signal handling.
    pub fn runtime(&self) -> Handle {
        self.runtime.clone()
    }

    /// Exports every finished span and the current metrics now. Blocks: call it from a
    /// blocking context (a plain thread, `spawn_blocking`), not from an async task.
    pub fn force_flush(&self) -> Result<(), TelemetryError> {
        let mut errors = Vec::new();
        if let Some(provider) = &self.tracer_provider {
            errors.extend(
                provider
                    .force_flush()
                    .err()
                    .map(|err| format!("traces: {err}")),
            );
        }
        if let Some(provider) = &self.meter_provider {
            errors.extend(
                provider
                    .force_flush()
                    .err()
                    .map(|err| format!("metrics: {err}")),
            );
        }
        if errors.is_empty() {
            Ok(())
        } else {
            Err(TelemetryError::Flush(errors.join("; ")))
        }
    }

    /// Flushes and stops the exporters, waiting at most `timeout`, then stops the runtime.
    pub fn shutdown(mut self, timeout: Duration) -> Result<(), TelemetryError> {
        self.flush_and_stop(timeout)
    }

    fn flush_and_stop(&mut self, timeout: Duration) -> Result<(), TelemetryError> {
        if std::mem::replace(&mut self.flushed, true) {
            return Ok(());
        }
        let started = Instant::now();
        let tracer_provider = self.tracer_provider.take();
        let meter_provider = self.meter_provider.take();
        // The SDK bounds each step, but not their sum (the meter provider ignores the timeout
        // it is given); a helper thread makes `timeout` a hard bound on the caller.
        let (done, finished) = mpsc::channel();
        let stopper = thread::Builder::new()
            .name("telemetry-shutdown".into())
            .spawn(move || {
                let mut errors = Vec::new();
                if let Some(provider) = tracer_provider {
                    errors.extend(
                        provider
                            .shutdown_with_timeout(timeout)
                            .err()
                            .map(|err| format!("traces: {err}")),
                    );
                }
                if let Some(provider) = meter_provider {
                    errors.extend(
                        provider
                            .shutdown_with_timeout(timeout)
                            .err()
                            .map(|err| format!("metrics: {err}")),
                    );
                }
                // The receiver may have given up waiting; nothing is left to tell then.
                let _ = done.send(errors);
            });
        let result = match stopper {
            Err(err) => Err(TelemetryError::Flush(format!(
                "cannot start the shutdown thread: {err}"
            ))),
            Ok(_) => match finished.recv_timeout(timeout) {
                Ok(errors) if errors.is_empty() => Ok(()),
                Ok(errors) => Err(TelemetryError::Flush(errors.join("; "))),
                Err(_) => Err(TelemetryError::ShutdownTimedOut(timeout)),
            },
        };
        if let Some(runtime) = self.owned_runtime.take() {
            // Waiting for the runtime's tasks is forbidden inside an async context (tokio
            // panics); the exporters are stopped by now, so abandoning stragglers is harmless.
            if Handle::try_current().is_ok() {
                runtime.shutdown_background();
            } else {
                runtime.shutdown_timeout(timeout.saturating_sub(started.elapsed()));
            }
        }
        result
    }
}

impl Drop for TelemetryGuard {
    fn drop(&mut self) {
        if let Err(err) = self.flush_and_stop(DEFAULT_SHUTDOWN_TIMEOUT) {
            // The subscriber outlives the guard, so this line still reaches the logs.
            tracing::warn!(error = %err, "telemetry shutdown incomplete; some spans or metrics may be lost");
        }
    }
}

fn parse_filter(directive: &str) -> Result<EnvFilter, TelemetryError> {
    EnvFilter::try_new(directive).map_err(|source| TelemetryError::InvalidLogFilter {
        directive: directive.to_owned(),
        source,
    })
}

/// Spans and span events that reach the trace exporter: `INFO` and above from our code, and
/// nothing from the exporter's own stack, whose spans would otherwise feed back into export.
fn trace_filter() -> EnvFilter {
    EnvFilter::new(
        "info,opentelemetry=off,opentelemetry_sdk=off,opentelemetry_otlp=off,tonic=off,h2=off,hyper=off,hyper_util=off,tower=off",
    )
}

fn resource(options: &TelemetryOptions) -> Resource {
    Resource::builder()
        .with_service_name(options.service_name.clone())
        .with_attribute(KeyValue::new("service.version", env!("CARGO_PKG_VERSION")))
        .with_attribute(KeyValue::new(
            "service.instance.id",
            crate::config::hostname(),
        ))
        .with_attributes(options.resource_attributes.iter().cloned())
        .build()
}

/// Trust the platform's roots for `https://` collectors; ignored for `http://`.
fn tls_config() -> tonic::transport::ClientTlsConfig {
    tonic::transport::ClientTlsConfig::new().with_enabled_roots()
}

fn exporter_error(
    signal: &'static str,
    endpoint: &Url,
    source: opentelemetry_otlp::ExporterBuildError,
) -> TelemetryError {
    TelemetryError::Exporter {
        signal,
        endpoint: redacted_endpoint(endpoint),
        source,
    }
}

/// The endpoint without credentials, which may sit in its user-info part.
fn redacted_endpoint(endpoint: &Url) -> String {
    let mut shown = endpoint.clone();
    // Only fails for URLs that cannot have credentials, which then have none to hide.
    let _ = shown.set_username("");
    let _ = shown.set_password(None);
    shown.to_string()
}
