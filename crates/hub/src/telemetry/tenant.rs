//! Every exported span carries `tenant`. Code sets it once, on the outermost span of a
//! tenant's work (`sync`, `c1.task`); the Confluence client, shared by that tenant's actors,
//! should not have to thread it through every `confluence.request` span. This span processor
//! copies it from the nearest ancestor that has one, while that ancestor is still open.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Duration;

use opentelemetry::trace::{Span as _, SpanContext, SpanId, TraceContextExt, TraceId};
use opentelemetry::{Context, KeyValue, Value};
use opentelemetry_sdk::error::OTelSdkResult;
use opentelemetry_sdk::trace::{Span, SpanData, SpanProcessor};

use super::metrics::labels::TENANT;

#[derive(Debug, Default)]
pub(super) struct TenantInheritance {
    /// The tenant of every open span that has one, own or inherited.
    open: Mutex<HashMap<(TraceId, SpanId), Value>>,
}

fn key(context: &SpanContext) -> (TraceId, SpanId) {
    (context.trace_id(), context.span_id())
}

impl SpanProcessor for TenantInheritance {
    fn on_start(&self, span: &mut Span, parent: &Context) {
        let Some(data) = span.exported_data() else {
            return;
        };
        let own = data.attributes.iter().find(|kv| kv.key.as_str() == TENANT);
        // A poisoned map only means another thread panicked mid-insert; its entries are
        // still whole values, so keep going rather than drop the attribute for good.
        let mut open = self
            .open
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        let tenant = match own {
            Some(kv) => kv.value.clone(),
            None => {
                let Some(inherited) = parent
                    .has_active_span()
                    .then(|| open.get(&key(parent.span().span_context())).cloned())
                    .flatten()
                else {
                    return;
                };
                span.set_attribute(KeyValue::new(TENANT, inherited.clone()));
                inherited
            }
        };
        open.insert(key(&data.span_context), tenant);
    }

    fn on_end(&self, span: SpanData) {
        let mut open = self
            .open
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        open.remove(&key(&span.span_context));
    }

    fn force_flush(&self) -> OTelSdkResult {
        Ok(())
    }

    fn shutdown_with_timeout(&self, _timeout: Duration) -> OTelSdkResult {
        self.open
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .clear();
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use opentelemetry::trace::{Tracer as _, TracerProvider as _};
    use opentelemetry_sdk::trace::SdkTracerProvider;

    use super::*;

    /// Keeps every ended span, with the attributes processors before it added.
    #[derive(Debug, Default, Clone)]
    struct Ended(Arc<Mutex<Vec<SpanData>>>);

    impl SpanProcessor for Ended {
        fn on_start(&self, _span: &mut Span, _parent: &Context) {}

        fn on_end(&self, span: SpanData) {
            self.0.lock().unwrap().push(span);
        }

        fn force_flush(&self) -> OTelSdkResult {
            Ok(())
        }

        fn shutdown_with_timeout(&self, _timeout: Duration) -> OTelSdkResult {
            Ok(())
        }
    }

    #[test]
    fn child_spans_inherit_the_tenant_of_their_open_ancestor() {
        let ended = Ended::default();
        let provider = SdkTracerProvider::builder()
            .with_span_processor(TenantInheritance::default())
            .with_span_processor(ended.clone())
            .build();
        let tracer = provider.tracer("test");
        let sync = tracer
            .span_builder("sync")
            .with_attributes([KeyValue::new(TENANT, "acme")])
            .start(&tracer);
        let sync = Context::current_with_span(sync);
        {
            let _attached = sync.clone().attach();
            tracer.in_span("fetch", |_| tracer.in_span("confluence.request", |_| {}));
        }
        sync.span().end();
        tracer.in_span("hub.reload", |_| tracer.in_span("config.read", |_| {}));

        let ended = ended.0.lock().unwrap();
        let tenants: Vec<_> = ended
            .iter()
            .map(|span| {
                let tenant = span.attributes.iter().find(|kv| kv.key.as_str() == TENANT);
                (span.name.to_string(), tenant.map(|kv| kv.value.to_string()))
            })
            .collect();
        let acme = Some("acme".to_owned());
        assert_eq!(
            tenants,
            [
                ("confluence.request".to_owned(), acme.clone()),
                ("fetch".to_owned(), acme.clone()),
                ("sync".to_owned(), acme),
                ("config.read".to_owned(), None),
                ("hub.reload".to_owned(), None),
            ]
        );
    }
}
