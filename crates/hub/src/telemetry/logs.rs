//! Log lines on stderr (stdout belongs to command output such as `shard-plan` and the
//! simulators' "listening on" line). The JSON format flattens the fields of every span in
//! scope into the line, so a tenant's `tenant` field shows on every line logged inside its
//! spans, however deep.

use std::fmt;
use std::io::IsTerminal;
use std::sync::Arc;

use serde_json::Value;
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;
use tracing::field::{Field, Visit};
use tracing::{Event, Subscriber};
use tracing_subscriber::fmt::format::{JsonFields, Writer};
use tracing_subscriber::fmt::writer::BoxMakeWriter;
use tracing_subscriber::fmt::{FmtContext, FormatEvent, FormattedFields};
use tracing_subscriber::registry::LookupSpan;
use tracing_subscriber::{EnvFilter, Layer};

use super::LogFormat;

/// Keys the line itself owns; a span or event field with one of these names is written as
/// `fields.<name>` instead of overwriting it.
const RESERVED_KEYS: [&str; 5] = ["timestamp", "level", "target", "message", "span"];

/// The log layer for `format`, filtered by `filter`, writing to stderr or,
/// when given, appending to `file` (the demo keeps its terminal for itself).
pub(super) fn layer<S>(
    format: LogFormat,
    filter: EnvFilter,
    file: Option<Arc<std::fs::File>>,
) -> Box<dyn Layer<S> + Send + Sync>
where
    S: Subscriber + for<'a> LookupSpan<'a> + Send + Sync,
{
    let ansi = file.is_none() && std::io::stderr().is_terminal();
    let writer = match file {
        Some(file) => BoxMakeWriter::new(file),
        None => BoxMakeWriter::new(std::io::stderr),
    };
    let base = tracing_subscriber::fmt::layer().with_writer(writer);
    match format {
        LogFormat::Json => base
            .fmt_fields(JsonFields::new())
            .event_format(JsonLines)
            .with_filter(filter)
            .boxed(),
        LogFormat::Console => base.with_ansi(ansi).with_filter(filter).boxed(),
    }
}

/// One JSON object per event: `timestamp`, `level`, `target`, `message`, the fields of the
/// spans in scope (outermost first, so inner spans win), the event's fields, and `span`, the
/// innermost span's name. Span fields are stored by [`JsonFields`] as JSON text, which is
/// why this formatter only pairs with it.
pub(crate) struct JsonLines;

impl<S> FormatEvent<S, JsonFields> for JsonLines
where
    S: Subscriber + for<'a> LookupSpan<'a>,
{
    fn format_event(
        &self,
        ctx: &FmtContext<'_, S, JsonFields>,
        mut writer: Writer<'_>,
        event: &Event<'_>,
    ) -> fmt::Result {
        let mut line = Line::default();
        let mut innermost_span = None;
        if let Some(scope) = ctx.event_scope() {
            for span in scope.from_root() {
                let extensions = span.extensions();
                let fields = extensions
                    .get::<FormattedFields<JsonFields>>()
                    .and_then(|fields| serde_json::from_str::<Value>(&fields.fields).ok());
                if let Some(Value::Object(fields)) = fields {
                    for (key, value) in fields {
                        line.set(key, value);
                    }
                }
                innermost_span = Some(span.name());
            }
        }
        let mut visitor = EventFields {
            line: &mut line,
            message: None,
            log_target: None,
        };
        event.record(&mut visitor);
        let EventFields {
            message,
            log_target,
            ..
        } = visitor;

        let metadata = event.metadata();
        let timestamp = OffsetDateTime::now_utc()
            .format(&Rfc3339)
            .map_err(|_| fmt::Error)?;
        let mut head = vec![
            ("timestamp", Value::String(timestamp)),
            ("level", Value::String(metadata.level().to_string())),
            // Records bridged from the `log` crate carry their real target as a field.
            (
                "target",
                Value::String(log_target.unwrap_or_else(|| metadata.target().to_owned())),
            ),
        ];
        if let Some(message) = message {
            head.push(("message", message));
        }

        let mut text = String::from("{");
        let head = head.iter().map(|(key, value)| (*key, value));
        let tail = line
            .entries
            .iter()
            .map(|(key, value)| (key.as_str(), value));
        let span = innermost_span.map(|name| Value::String(name.to_owned()));
        let span = span.iter().map(|name| ("span", name));
        for (index, (key, value)) in head.chain(tail).chain(span).enumerate() {
            if index > 0 {
                text.push(',');
            }
            text.push_str(&serde_json::to_string(key).map_err(|_| fmt::Error)?);
            text.push(':');
            text.push_str(&serde_json::to_string(value).map_err(|_| fmt::Error)?);
        }
        text.push('}');
        writeln!(writer, "{text}")
    }
}

/// Fields in first-set order; setting a key again replaces its value in place.
#[derive(Default)]
struct Line {
    entries: Vec<(String, Value)>,
}

impl Line {
    fn set(&mut self, key: String, value: Value) {
        let key = if RESERVED_KEYS.contains(&key.as_str()) {
            format!("fields.{key}")
        } else {
            key
        };
        match self
            .entries
            .iter_mut()
            .find(|(existing, _)| *existing == key)
        {
            Some(entry) => entry.1 = value,
            None => self.entries.push((key, value)),
        }
    }
}

struct EventFields<'a> {
    line: &'a mut Line,
    message: Option<Value>,
    log_target: Option<String>,
}

impl EventFields<'_> {
    fn put(&mut self, field: &Field, value: Value) {
        match field.name() {
            "message" => self.message = Some(value),
            "log.target" => {
                self.log_target = value.as_str().map(str::to_owned);
            }
            // The rest of the `log` bridge's bookkeeping adds nothing a reader needs.
            name if name.starts_with("log.") => {}
            name => self.line.set(name.to_owned(), value),
        }
    }
}

impl Visit for EventFields<'_> {
    fn record_f64(&mut self, field: &Field, value: f64) {
        // JSON has no NaN or infinity; keep their spelling rather than lose the field.
        let value = serde_json::Number::from_f64(value)
            .map_or_else(|| Value::String(value.to_string()), Value::Number);
        self.put(field, value);
    }

    fn record_i64(&mut self, field: &Field, value: i64) {
        self.put(field, Value::from(value));
    }

    fn record_u64(&mut self, field: &Field, value: u64) {
        self.put(field, Value::from(value));
    }

    fn record_bool(&mut self, field: &Field, value: bool) {
        self.put(field, Value::Bool(value));
    }

    fn record_str(&mut self, field: &Field, value: &str) {
        self.put(field, Value::String(value.to_owned()));
    }

    fn record_error(&mut self, field: &Field, value: &(dyn std::error::Error + 'static)) {
        self.put(field, Value::String(value.to_string()));
    }

    fn record_debug(&mut self, field: &Field, value: &dyn fmt::Debug) {
        self.put(field, Value::String(format!("{value:?}")));
    }
}

#[cfg(test)]
mod tests {
    use std::io;
    use std::sync::{Arc, Mutex};

    use tracing_subscriber::layer::SubscriberExt;

    use super::*;

    #[derive(Clone, Default)]
    struct Captured(Arc<Mutex<Vec<u8>>>);

    impl io::Write for Captured {
        fn write(&mut self, bytes: &[u8]) -> io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(bytes);
            Ok(bytes.len())
        }

        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
    }

    /// Each line as written and as parsed.
    fn json_lines(emit: impl FnOnce()) -> Vec<(String, serde_json::Map<String, Value>)> {
        let captured = Captured::default();
        let writer = captured.clone();
        let subscriber = tracing_subscriber::registry().with(
            tracing_subscriber::fmt::layer()
                .fmt_fields(JsonFields::new())
                .event_format(JsonLines)
                .with_writer(move || writer.clone()),
        );
        tracing::subscriber::with_default(subscriber, emit);
        let text = String::from_utf8(captured.0.lock().unwrap().clone()).unwrap();
        text.lines()
            .map(|line| match serde_json::from_str(line) {
                Ok(Value::Object(map)) => (line.to_owned(), map),
                other => panic!("not a JSON object: {line} ({other:?})"),
            })
            .collect()
    }

    #[test]
    fn every_line_inside_a_tenant_span_carries_the_tenant_and_its_fields() {
        let lines = json_lines(|| {
            let sync = tracing::info_span!(
                "sync",
                tenant = "acme",
                sync_id = "2abc",
                trigger = "schedule"
            );
            let _sync = sync.enter();
            tracing::info!("sync started");
            let request = tracing::info_span!(
                "confluence.request",
                http.request.method = "GET",
                url.template = "/rest/api/group",
                http.response.status_code = tracing::field::Empty,
            );
            let _request = request.enter();
            request.record("http.response.status_code", 200);
            tracing::warn!(page = 3, "slow page");
        });
        assert_eq!(lines.len(), 2);
        let lines: Vec<_> = lines.into_iter().map(|(_, parsed)| parsed).collect();
        for line in &lines {
            assert_eq!(line["tenant"], "acme", "{line:?}");
            assert_eq!(line["sync_id"], "2abc", "{line:?}");
        }
        assert_eq!(lines[0]["message"], "sync started");
        assert_eq!(lines[0]["span"], "sync");
        assert_eq!(lines[1]["level"], "WARN");
        assert_eq!(lines[1]["page"], 3);
        assert_eq!(lines[1]["span"], "confluence.request");
        assert_eq!(lines[1]["url.template"], "/rest/api/group");
        assert_eq!(lines[1]["http.response.status_code"], 200);
        assert!(
            lines[1]["timestamp"]
                .as_str()
                .is_some_and(|t| t.ends_with('Z')),
            "{:?}",
            lines[1]
        );
    }

    #[test]
    fn inner_span_fields_override_outer_ones_and_reserved_keys_are_kept() {
        let lines = json_lines(|| {
            let outer = tracing::info_span!("sync", tenant = "acme", level = "outer");
            let _outer = outer.enter();
            let inner = tracing::info_span!("fetch", tenant = "acme-2", resource_type = "user");
            let _inner = inner.enter();
            tracing::info!(target: "confluence_hub::sync", "fetching");
        });
        let (text, line) = &lines[0];
        assert_eq!(line["tenant"], "acme-2");
        assert_eq!(line["level"], "INFO");
        assert_eq!(line["fields.level"], "outer");
        assert_eq!(line["target"], "confluence_hub::sync");
        assert_eq!(text.matches("\"tenant\":").count(), 1, "{text}");
        assert_eq!(text.matches("\"level\":").count(), 1, "{text}");
    }

    #[test]
    fn lines_outside_any_span_have_no_span_key() {
        let lines =
            json_lines(|| tracing::error!(error = %io::Error::other("disk full"), "write failed"));
        let (_, line) = &lines[0];
        assert_eq!(line["error"], "disk full");
        assert_eq!(line["message"], "write failed");
        assert!(!line.contains_key("span"));
        assert!(!line.contains_key("tenant"));
    }
}
