//! The `/metrics` page: a pull reader on the global meter provider and a renderer for the
//! Prometheus text exposition format 0.0.4, written here rather than taken from the
//! `prometheus` crate, which would bring `protobuf` and a second `thiserror` (docs/decisions.md,
//! No `prometheus` crate).
//!
//! Names follow the OpenTelemetry-to-Prometheus compatibility rules: characters outside
//! `[a-zA-Z0-9_:]` become `_`; the unit is appended (`s` → `_seconds`, `By` → `_bytes`, `1`
//! on a gauge → `_ratio`, annotations like `{request}` dropped); monotonic counters end in
//! `_total`; histograms render as `_bucket{le}` / `_sum` / `_count`. So
//! `confluence_hub.sync.duration` (s) is `confluence_hub_sync_duration_seconds` and
//! `confluence_hub.c1.upload.size` (By) is `confluence_hub_c1_upload_size_bytes_total`.
//! Label keys get the same treatment (`url.template` → `url_template`). The resource is
//! rendered once as `target_info`. The reader keeps cumulative temporality, as Prometheus
//! expects.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::sync::{Arc, Weak};
use std::time::Duration;

use opentelemetry::KeyValue;
use opentelemetry_sdk::Resource;
use opentelemetry_sdk::error::OTelSdkResult;
use opentelemetry_sdk::metrics::data::{AggregatedMetrics, Metric, MetricData, ResourceMetrics};
use opentelemetry_sdk::metrics::reader::MetricReader;
use opentelemetry_sdk::metrics::{InstrumentKind, ManualReader, Pipeline, Temporality};

/// The `Content-Type` of [`MetricsHandle::render`]'s output.
pub const PROMETHEUS_CONTENT_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";

/// Renders the current metrics on demand; cheap to clone into the admin server's state.
#[derive(Clone, Debug)]
pub struct MetricsHandle {
    reader: Arc<ManualReader>,
}

/// The half registered with the meter provider, which takes its reader by value.
#[derive(Debug)]
pub(super) struct SharedReader(Arc<ManualReader>);

pub(super) fn reader() -> (MetricsHandle, SharedReader) {
    let reader = Arc::new(
        ManualReader::builder()
            .with_temporality(Temporality::Cumulative)
            .build(),
    );
    (
        MetricsHandle {
            reader: Arc::clone(&reader),
        },
        SharedReader(reader),
    )
}

impl MetricReader for SharedReader {
    fn register_pipeline(&self, pipeline: Weak<Pipeline>) {
        self.0.register_pipeline(pipeline);
    }

    fn collect(&self, metrics: &mut ResourceMetrics) -> OTelSdkResult {
        self.0.collect(metrics)
    }

    fn force_flush(&self) -> OTelSdkResult {
        self.0.force_flush()
    }

    fn shutdown_with_timeout(&self, timeout: Duration) -> OTelSdkResult {
        self.0.shutdown_with_timeout(timeout)
    }

    fn temporality(&self, kind: InstrumentKind) -> Temporality {
        self.0.temporality(kind)
    }
}

impl MetricsHandle {
    /// The current value of every instrument, in Prometheus text format 0.0.4. After
    /// shutdown the page holds only a comment saying why it is empty.
    pub fn render(&self) -> String {
        let mut collected = ResourceMetrics::default();
        match self.reader.collect(&mut collected) {
            Ok(()) => render(&collected),
            Err(err) => format!(
                "# metrics unavailable: {}\n",
                err.to_string().replace('\n', " ")
            ),
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Kind {
    Counter,
    Gauge,
    Histogram,
}

impl Kind {
    fn as_str(self) -> &'static str {
        match self {
            Kind::Counter => "counter",
            Kind::Gauge => "gauge",
            Kind::Histogram => "histogram",
        }
    }
}

struct Family {
    help: String,
    kind: Kind,
    series: Vec<Series>,
}

struct Series {
    /// Sanitized, sorted by key, not yet escaped.
    labels: Vec<(String, String)>,
    value: SeriesValue,
}

enum SeriesValue {
    Single(String),
    Histogram {
        cumulative_buckets: Vec<(String, u64)>,
        sum: String,
        count: u64,
    },
}

fn render(collected: &ResourceMetrics) -> String {
    let mut families: BTreeMap<String, Family> = BTreeMap::new();
    for scope in collected.scope_metrics() {
        for metric in scope.metrics() {
            match metric.data() {
                AggregatedMetrics::F64(data) => add_metric(&mut families, metric, data),
                AggregatedMetrics::U64(data) => add_metric(&mut families, metric, data),
                AggregatedMetrics::I64(data) => add_metric(&mut families, metric, data),
            }
        }
    }
    let mut text = String::new();
    render_target_info(&mut text, collected.resource());
    for (name, mut family) in families {
        if !family.help.is_empty() {
            let help = family.help.replace('\\', r"\\").replace('\n', r"\n");
            let _ = writeln!(text, "# HELP {name} {help}");
        }
        let _ = writeln!(text, "# TYPE {name} {}", family.kind.as_str());
        family.series.sort_by(|a, b| a.labels.cmp(&b.labels));
        for series in &family.series {
            render_series(&mut text, &name, series);
        }
    }
    text
}

/// Writing to a `String` cannot fail, so `writeln!` results are ignored throughout.
fn render_series(text: &mut String, name: &str, series: &Series) {
    match &series.value {
        SeriesValue::Single(value) => {
            let _ = writeln!(text, "{name}{} {value}", label_text(&series.labels, None));
        }
        SeriesValue::Histogram {
            cumulative_buckets,
            sum,
            count,
        } => {
            for (bound, cumulative) in cumulative_buckets {
                let labels = label_text(&series.labels, Some(bound));
                let _ = writeln!(text, "{name}_bucket{labels} {cumulative}");
            }
            let labels = label_text(&series.labels, Some("+Inf"));
            let _ = writeln!(text, "{name}_bucket{labels} {count}");
            let labels = label_text(&series.labels, None);
            let _ = writeln!(text, "{name}_sum{labels} {sum}");
            let _ = writeln!(text, "{name}_count{labels} {count}");
        }
    }
}

fn render_target_info(text: &mut String, resource: &Resource) {
    if resource.is_empty() {
        return;
    }
    let labels = labels(
        resource
            .iter()
            .map(|(key, value)| (key.as_str(), value.as_str())),
    );
    text.push_str("# HELP target_info Target metadata\n# TYPE target_info gauge\n");
    let _ = writeln!(text, "target_info{} 1", label_text(&labels, None));
}

/// A number as Prometheus writes it (Go's float syntax, `+Inf`/`-Inf`/`NaN`).
trait SampleValue: Copy {
    fn sample_text(self) -> String;
}

impl SampleValue for f64 {
    fn sample_text(self) -> String {
        float_text(self)
    }
}

impl SampleValue for u64 {
    fn sample_text(self) -> String {
        self.to_string()
    }
}

impl SampleValue for i64 {
    fn sample_text(self) -> String {
        self.to_string()
    }
}

fn float_text(value: f64) -> String {
    if value.is_nan() {
        "NaN".into()
    } else if value.is_infinite() {
        if value > 0.0 {
            "+Inf".into()
        } else {
            "-Inf".into()
        }
    } else {
        // `{:?}` keeps a decimal point or an exponent (`1.0`, `1e-7`), both valid for Go.
        format!("{value:?}")
    }
}

fn add_metric<T: SampleValue>(
    families: &mut BTreeMap<String, Family>,
    metric: &Metric,
    data: &MetricData<T>,
) {
    let (kind, series): (Kind, Vec<Series>) = match data {
        MetricData::Sum(sum) => (
            if sum.is_monotonic() {
                Kind::Counter
            } else {
                Kind::Gauge
            },
            sum.data_points()
                .map(|point| Series {
                    labels: attribute_labels(point.attributes()),
                    value: SeriesValue::Single(point.value().sample_text()),
                })
                .collect(),
        ),
        MetricData::Gauge(gauge) => (
            Kind::Gauge,
            gauge
                .data_points()
                .map(|point| Series {
                    labels: attribute_labels(point.attributes()),
                    value: SeriesValue::Single(point.value().sample_text()),
                })
                .collect(),
        ),
        MetricData::Histogram(histogram) => (
            Kind::Histogram,
            histogram
                .data_points()
                .map(|point| {
                    let mut cumulative = 0;
                    let cumulative_buckets = point
                        .bounds()
                        .zip(point.bucket_counts())
                        .map(|(bound, count)| {
                            cumulative += count;
                            (float_text(bound), cumulative)
                        })
                        .collect();
                    Series {
                        labels: attribute_labels(point.attributes()),
                        value: SeriesValue::Histogram {
                            cumulative_buckets,
                            sum: point.sum().sample_text(),
                            count: point.count(),
                        },
                    }
                })
                .collect(),
        ),
        // No view in this crate selects exponential histograms, and the text format has no
        // way to express them.
        MetricData::ExponentialHistogram(_) => return,
    };
    let name = family_name(metric.name(), metric.unit(), kind);
    let family = families.entry(name).or_insert_with(|| Family {
        help: metric.description().to_owned(),
        kind,
        series: Vec::new(),
    });
    // Two instruments that map to one name with different types cannot share a family;
    // the first one wins rather than producing a page Prometheus rejects whole.
    if family.kind == kind {
        family.series.extend(series);
    }
}

fn family_name(otel_name: &str, unit: &str, kind: Kind) -> String {
    let mut name = sanitize(otel_name, true);
    if let Some(unit) = unit_suffix(unit, kind)
        && !name.ends_with(&format!("_{unit}"))
    {
        name.push('_');
        name.push_str(&unit);
    }
    if kind == Kind::Counter && !name.ends_with("_total") {
        name.push_str("_total");
    }
    name
}

/// The UCUM unit as a Prometheus name suffix, per the OpenTelemetry compatibility spec.
fn unit_suffix(unit: &str, kind: Kind) -> Option<String> {
    let mut plain = String::new();
    let mut in_annotation = false;
    for c in unit.chars() {
        match c {
            '{' => in_annotation = true,
            '}' => in_annotation = false,
            c if !in_annotation => plain.push(c),
            _ => {}
        }
    }
    let plain = plain.trim();
    if plain.is_empty() {
        return None;
    }
    if plain == "1" {
        return (kind == Kind::Gauge).then(|| "ratio".to_owned());
    }
    let suffix = match plain.split_once('/') {
        Some((main, per)) if !main.is_empty() => {
            format!("{}_per_{}", unit_word(main), per_unit_word(per))
        }
        Some((_, per)) => format!("per_{}", per_unit_word(per)),
        None => unit_word(plain).to_owned(),
    };
    let suffix = sanitize(&suffix, false);
    (!suffix.is_empty()).then_some(suffix)
}

fn unit_word(unit: &str) -> &str {
    match unit {
        "d" => "days",
        "h" => "hours",
        "min" => "minutes",
        "s" => "seconds",
        "ms" => "milliseconds",
        "us" => "microseconds",
        "ns" => "nanoseconds",
        "By" => "bytes",
        "KiBy" => "kibibytes",
        "MiBy" => "mebibytes",
        "GiBy" => "gibibytes",
        "TiBy" => "tebibytes",
        "KBy" => "kilobytes",
        "MBy" => "megabytes",
        "GBy" => "gigabytes",
        "TBy" => "terabytes",
        "m" => "meters",
        "V" => "volts",
        "A" => "amperes",
        "J" => "joules",
        "W" => "watts",
        "g" => "grams",
        "Cel" => "celsius",
        "Hz" => "hertz",
        "%" => "percent",
        other => other,
    }
}

fn per_unit_word(unit: &str) -> &str {
    match unit {
        "s" => "second",
        "m" => "minute",
        "h" => "hour",
        "d" => "day",
        "w" => "week",
        "mo" => "month",
        "y" => "year",
        other => other,
    }
}

/// Replaces characters Prometheus does not allow with `_`, collapses runs of `_`, and keeps
/// the first character from being a digit. Metric names may contain `:`, label names not.
fn sanitize(text: &str, metric_name: bool) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        let allowed = c.is_ascii_alphanumeric() || c == '_' || (metric_name && c == ':');
        let c = if allowed { c } else { '_' };
        if !(c == '_' && out.ends_with('_')) {
            out.push(c);
        }
    }
    if out.starts_with(|c: char| c.is_ascii_digit()) {
        out.insert_str(0, if metric_name { "_" } else { "key_" });
    }
    out
}

fn attribute_labels<'a>(attributes: impl Iterator<Item = &'a KeyValue>) -> Vec<(String, String)> {
    labels(attributes.map(|attribute| (attribute.key.as_str(), attribute.value.as_str())))
}

/// Sanitized label pairs sorted by name. Keys that sanitize to the same name (`a.b`, `a_b`)
/// share one label whose values are joined with `;` in the order of the original keys.
fn labels<'a, V: AsRef<str>>(pairs: impl Iterator<Item = (&'a str, V)>) -> Vec<(String, String)> {
    let mut merged: BTreeMap<String, Vec<(&'a str, String)>> = BTreeMap::new();
    for (key, value) in pairs {
        merged
            .entry(sanitize(key, false))
            .or_default()
            .push((key, value.as_ref().to_owned()));
    }
    merged
        .into_iter()
        .map(|(name, mut values)| {
            values.sort();
            let joined = values
                .into_iter()
                .map(|(_, value)| value)
                .collect::<Vec<_>>()
                .join(";");
            (name, joined)
        })
        .collect()
}

/// `{a="1",b="2"}` with values escaped, `le` last for bucket lines; empty when there is nothing.
fn label_text(labels: &[(String, String)], le: Option<&str>) -> String {
    let le = le.map(|bound| ("le", bound));
    let pairs = labels
        .iter()
        .map(|(key, value)| (key.as_str(), value.as_str()))
        .chain(le);
    let rendered: Vec<String> = pairs
        .map(|(key, value)| {
            let value = value
                .replace('\\', r"\\")
                .replace('"', "\\\"")
                .replace('\n', r"\n");
            format!("{key}=\"{value}\"")
        })
        .collect();
    if rendered.is_empty() {
        String::new()
    } else {
        format!("{{{}}}", rendered.join(","))
    }
}

#[cfg(test)]
mod tests;
