//! Observability: tracing subscriber (JSON or console logs), OpenTelemetry
//! traces and metrics over OTLP, and the metric instruments themselves.

pub mod metrics;
