use opentelemetry::metrics::MeterProvider as _;
use opentelemetry_sdk::metrics::SdkMeterProvider;

use super::*;

fn provider() -> (SdkMeterProvider, MetricsHandle) {
    let (handle, reader) = reader();
    let resource = Resource::builder_empty()
        .with_attribute(KeyValue::new("service.name", "hub-test"))
        .build();
    (
        SdkMeterProvider::builder()
            .with_resource(resource)
            .with_reader(reader)
            .build(),
        handle,
    )
}

#[test]
fn counters_histograms_and_gauges_render_with_prometheus_names_and_suffixes() {
    let (provider, handle) = provider();
    let meter = provider.meter("test");
    let syncs = meter
        .u64_counter("confluence_hub.syncs")
        .with_description("Syncs")
        .build();
    syncs.add(
        2,
        &[
            KeyValue::new("tenant", "acme"),
            KeyValue::new("outcome", "ok"),
        ],
    );
    syncs.add(
        1,
        &[
            KeyValue::new("tenant", "beta"),
            KeyValue::new("outcome", "error"),
        ],
    );
    let bytes = meter
        .u64_counter("confluence_hub.c1.upload.size")
        .with_unit("By")
        .with_description("Bytes")
        .build();
    bytes.add(1024, &[KeyValue::new("tenant", "acme")]);
    let latency = meter
        .f64_histogram("http.client.request.duration")
        .with_unit("s")
        .with_description("Latency")
        .with_boundaries(vec![0.1, 1.0])
        .build();
    let route = [KeyValue::new("url.template", "/rest/api/group")];
    for seconds in [0.05, 0.5, 0.7, 3.0] {
        latency.record(seconds, &route);
    }
    let tenants = meter
        .u64_gauge("confluence_hub.tenants")
        .with_description("Tenants")
        .build();
    tenants.record(
        1,
        &[
            KeyValue::new("tenant", "acme"),
            KeyValue::new("state", "idle"),
        ],
    );
    let ratio = meter
        .f64_gauge("cache.hit")
        .with_unit("1")
        .with_description("Hit ratio")
        .build();
    ratio.record(0.25, &[]);

    let expected = "\
# HELP target_info Target metadata
# TYPE target_info gauge
target_info{service_name=\"hub-test\"} 1
# HELP cache_hit_ratio Hit ratio
# TYPE cache_hit_ratio gauge
cache_hit_ratio 0.25
# HELP confluence_hub_c1_upload_size_bytes_total Bytes
# TYPE confluence_hub_c1_upload_size_bytes_total counter
confluence_hub_c1_upload_size_bytes_total{tenant=\"acme\"} 1024
# HELP confluence_hub_syncs_total Syncs
# TYPE confluence_hub_syncs_total counter
confluence_hub_syncs_total{outcome=\"error\",tenant=\"beta\"} 1
confluence_hub_syncs_total{outcome=\"ok\",tenant=\"acme\"} 2
# HELP confluence_hub_tenants Tenants
# TYPE confluence_hub_tenants gauge
confluence_hub_tenants{state=\"idle\",tenant=\"acme\"} 1
# HELP http_client_request_duration_seconds Latency
# TYPE http_client_request_duration_seconds histogram
http_client_request_duration_seconds_bucket{url_template=\"/rest/api/group\",le=\"0.1\"} 1
http_client_request_duration_seconds_bucket{url_template=\"/rest/api/group\",le=\"1.0\"} 3
http_client_request_duration_seconds_bucket{url_template=\"/rest/api/group\",le=\"+Inf\"} 4
http_client_request_duration_seconds_sum{url_template=\"/rest/api/group\"} 4.25
http_client_request_duration_seconds_count{url_template=\"/rest/api/group\"} 4
";
    assert_eq!(handle.render(), expected);
}

#[test]
fn label_values_are_escaped_and_colliding_keys_are_merged() {
    let (provider, handle) = provider();
    let counter = provider
        .meter("test")
        .u64_counter("odd")
        .with_description("a\\b\nc")
        .build();
    counter.add(
        1,
        &[
            KeyValue::new("group", "say \"hi\"\\\nbye"),
            KeyValue::new("a.b", "dot"),
            KeyValue::new("a_b", "underscore"),
            KeyValue::new("9lives", "cat"),
        ],
    );
    let text = handle.render();
    assert!(text.contains("# HELP odd_total a\\\\b\\nc\n"), "{text}");
    assert!(
        text.contains(
            "odd_total{a_b=\"dot;underscore\",group=\"say \\\"hi\\\"\\\\\\nbye\",key_9lives=\"cat\"} 1\n"
        ),
        "{text}"
    );
}

#[test]
fn units_map_to_prometheus_suffixes_without_doubling() {
    assert_eq!(
        family_name("a.duration", "ms", Kind::Histogram),
        "a_duration_milliseconds"
    );
    assert_eq!(
        family_name("a.wait_seconds", "s", Kind::Counter),
        "a_wait_seconds_total"
    );
    assert_eq!(
        family_name("requests_total", "{request}", Kind::Counter),
        "requests_total"
    );
    assert_eq!(
        family_name("rate", "By/s", Kind::Gauge),
        "rate_bytes_per_second"
    );
    assert_eq!(family_name("things", "1", Kind::Counter), "things_total");
    assert_eq!(family_name("2xx..count", "", Kind::Gauge), "_2xx_count");
}

#[test]
fn render_after_shutdown_is_a_valid_empty_page() {
    let (provider, handle) = provider();
    provider.shutdown().unwrap();
    let text = handle.render();
    assert!(text.starts_with("# metrics unavailable"), "{text}");
    assert_eq!(text.lines().count(), 1);
}
