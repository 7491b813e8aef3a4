//! Pacing by the server: the tenant follows Confluence's own limiter when its
//! headers describe one, adapts its concurrency to latency and overload when
//! they do not, and obeys an operator's ceiling either way.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use confluence::settings::{Auth, ClientSettings, RetryPolicy};
use confluence::{ConfluenceClient, Pacing, RateCeiling};
use hub::actors::oneshot::sync_once;
use hub::config::{TenantConfig, TenantId};
use hub::sync::Progress;
use platform::secret::Secret;
use reqwest::Url;
use sim::confluence::{
    ConfluenceSim, DEFAULT_ADMIN_TOKEN, Dataset, Faults, GenerateOptions, RateLimit, SimOptions,
    SimVersion,
};

use crate::support::TempDir;

fn simulator(users: usize, rate_limit: Option<RateLimit>) -> ConfluenceSim {
    let dataset = Dataset::generate(&GenerateOptions {
        seed: 7,
        users,
        groups: 10,
        spaces: 10,
    });
    let mut options = SimOptions::new(SimVersion::V8_5, dataset);
    options.rate_limit = rate_limit;
    ConfluenceSim::start(options).expect("the simulator starts")
}

/// The documented defaults, for the simulator's admin.
fn default_settings(sim: &ConfluenceSim) -> ClientSettings {
    let base_url = Url::parse(&sim.base_url()).expect("the simulator's URL parses");
    let token = Secret::new(DEFAULT_ADMIN_TOKEN.to_owned());
    ClientSettings::new("acme", base_url, Auth::Token(token))
}

fn limit(capacity: u32, fill_rate: u32) -> RateLimit {
    RateLimit {
        capacity,
        fill_rate,
        interval: Duration::from_secs(1),
    }
}

#[test]
fn a_default_sync_under_the_servers_limiter_runs_at_its_floor_without_429s() {
    let sim = simulator(60, Some(limit(10, 20)));
    let dir = TempDir::new("pacing-floor");
    let tenant = TenantConfig::new(
        TenantId::parse("acme").expect("a tenant id"),
        default_settings(&sim),
    );
    let started = Instant::now();
    let report = sync_once(
        tenant,
        dir.path().join("acme.c1z"),
        Arc::new(Progress::default()),
    )
    .expect("the sync completes");
    let wall = started.elapsed();
    let requests = report.client.requests as f64;
    // The server's bucket: 10 at once, then 20 per second.
    let floor = Duration::from_secs_f64((requests - 10.0).max(0.0) / 20.0);
    eprintln!(
        "limited sync: {} requests in {wall:?} (floor {floor:?})",
        report.client.requests
    );
    assert_eq!(report.client.rate_limited, 0, "{:?}", report.client);
    assert!(
        requests > 30.0,
        "the sync must outrun the bucket: {requests}"
    );
    assert!(
        wall <= floor.mul_f64(1.2) + Duration::from_millis(500),
        "{wall:?} against a floor of {floor:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_pacing_reports_the_servers_bucket_and_follows_its_changes() {
    let sim = simulator(20, Some(limit(10, 10)));
    let client = ConfluenceClient::new(&default_settings(&sim)).expect("builds");
    assert!(matches!(client.pacing(), Pacing::Adaptive { .. }));
    client.current_user().await.expect("answers");
    assert_eq!(
        client.pacing(),
        Pacing::Learned {
            capacity: 10,
            fill_rate_per_second: 10.0,
            concurrency_limit: 4
        }
    );

    // The administrator tightens the limiter mid-run: the next answer says so.
    sim.set_rate_limit(Some(limit(4, 5)));
    client.current_user().await.expect("answers");
    assert!(
        matches!(client.pacing(), Pacing::Learned { capacity: 4, fill_rate_per_second, .. } if fill_rate_per_second == 5.0),
        "{:?}",
        client.pacing()
    );
    // And the tenant keeps to it: 14 more requests with at most 4 tokens
    // left take at least 2 s at 5 per second, without a 429.
    let started = Instant::now();
    let calls = (0..14).map(|_| client.current_user());
    for answer in futures::future::join_all(calls).await {
        answer.expect("answers");
    }
    assert!(
        started.elapsed() >= Duration::from_millis(1900),
        "{:?}",
        started.elapsed()
    );
    assert_eq!(client.stats().rate_limited, 0, "{:?}", client.stats());

    // The limiter is switched off: the learned bucket goes with it.
    sim.set_rate_limit(None);
    client.current_user().await.expect("answers");
    assert!(
        matches!(client.pacing(), Pacing::Adaptive { .. }),
        "{:?}",
        client.pacing()
    );
}

/// Keeps `workers` requests going until `stop`, recording the concurrency limit.
async fn load(client: &ConfluenceClient, workers: usize, stop: Duration) -> Vec<usize> {
    let done = Arc::new(AtomicBool::new(false));
    let mut tasks = Vec::new();
    for _ in 0..workers {
        let client = client.clone();
        let done = done.clone();
        tasks.push(tokio::spawn(async move {
            while !done.load(Ordering::Relaxed) {
                let _ = client.current_user().await;
            }
        }));
    }
    let mut limits = Vec::new();
    let started = Instant::now();
    while started.elapsed() < stop {
        limits.push(client.pacing().concurrency_limit());
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    done.store(true, Ordering::Relaxed);
    for task in tasks {
        task.await.expect("a load task");
    }
    limits.push(client.pacing().concurrency_limit());
    limits
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_a_server_limit_concurrency_grows_when_fast_and_falls_on_503s_and_slowness() {
    let sim = simulator(20, None);
    sim.set_faults(Faults {
        latency: Duration::from_millis(20),
        ..Faults::default()
    });
    let settings = ClientSettings {
        retry: RetryPolicy {
            max_attempts: 2,
            initial_backoff: Duration::from_millis(5),
            max_backoff: Duration::from_millis(10),
            ..RetryPolicy::default()
        },
        ..default_settings(&sim)
    };
    let client = ConfluenceClient::new(&settings).expect("builds");
    let ceiling = settings.concurrency_ceiling();
    let in_range = |limits: &[usize]| limits.iter().all(|limit| (1..=ceiling).contains(limit));

    let fast = load(&client, 32, Duration::from_secs(2)).await;
    let peak = *fast.iter().max().expect("samples");
    assert!(peak > settings.max_in_flight, "{fast:?}");
    assert!(in_range(&fast), "{fast:?}");

    sim.set_faults(Faults {
        latency: Duration::from_millis(20),
        status_503_rate: 0.5,
        retry_after_secs: 0,
        ..Faults::default()
    });
    let failing = load(&client, 32, Duration::from_secs(1)).await;
    let lowest = *failing.iter().min().expect("samples");
    assert!(lowest < peak / 2, "peak {peak}, then {failing:?}");
    assert!(in_range(&failing), "{failing:?}");

    sim.set_faults(Faults {
        latency: Duration::from_millis(20),
        ..Faults::default()
    });
    let recovered = load(&client, 32, Duration::from_secs(2)).await;
    let recovered_peak = *recovered.iter().max().expect("samples");
    // The node slows down under the same load: latency 8 times the baseline.
    sim.set_faults(Faults {
        latency: Duration::from_millis(160),
        ..Faults::default()
    });
    let slow = load(&client, 32, Duration::from_secs(2)).await;
    let lowest = *slow.iter().min().expect("samples");
    assert!(
        lowest < recovered_peak.min(peak),
        "peak {recovered_peak}, then {slow:?}"
    );
    assert!(
        in_range(&recovered) && in_range(&slow),
        "{recovered:?} {slow:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_operator_ceiling_is_obeyed_when_the_server_allows_more() {
    let sim = simulator(20, Some(limit(1000, 1000)));
    let settings = ClientSettings {
        rate_ceiling: Some(RateCeiling::new(5.0, None)),
        ..default_settings(&sim)
    };
    let client = ConfluenceClient::new(&settings).expect("builds");
    let started = Instant::now();
    // A burst of 5 (one second's worth), then 5 per second: 15 requests take 2 s.
    let calls = (0..15).map(|_| client.current_user());
    for answer in futures::future::join_all(calls).await {
        answer.expect("answers");
    }
    let elapsed = started.elapsed();
    assert!(elapsed >= Duration::from_millis(1900), "{elapsed:?}");
    assert!(
        matches!(client.pacing(), Pacing::Ceiling { requests_per_second, burst: 5, .. } if requests_per_second == 5.0),
        "{:?}",
        client.pacing()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_simulators_limiter_changes_through_its_admin_endpoint() {
    let sim = simulator(20, None);
    let http = reqwest::Client::new();
    let limit_header = || async {
        let response = http
            .get(format!("{}/rest/api/user/current", sim.base_url()))
            .bearer_auth(DEFAULT_ADMIN_TOKEN)
            .send()
            .await
            .expect("answers");
        assert_eq!(response.status(), 200);
        response
            .headers()
            .get("x-ratelimit-limit")
            .map(|value| value.to_str().expect("ASCII").to_owned())
    };
    assert_eq!(limit_header().await, None);
    let put = |body: &'static str| {
        http.put(format!("{}/__sim/rate-limit", sim.base_url()))
            .header("content-type", "application/json")
            .body(body)
            .send()
    };
    let answer = put(r#"{"capacity": 3, "fill_rate": 1, "interval": "1s"}"#)
        .await
        .expect("answers");
    assert_eq!(answer.status(), 204);
    assert_eq!(limit_header().await.as_deref(), Some("3"));
    assert_eq!(put("null").await.expect("answers").status(), 204);
    assert_eq!(limit_header().await, None);
    assert_eq!(
        put("{\"capacity\": -1}").await.expect("answers").status(),
        400
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_simulated_node_slows_down_with_load_past_its_knee() {
    let sim = simulator(20, None);
    let base = Duration::from_millis(40);
    sim.set_faults(Faults {
        latency: base,
        knee: 2,
        ..Faults::default()
    });
    let client = ConfluenceClient::new(&ClientSettings {
        max_in_flight: 8,
        max_in_flight_ceiling: 8,
        ..default_settings(&sim)
    })
    .expect("builds");
    let calls = (0..8).map(|_| client.current_user());
    for answer in futures::future::join_all(calls).await {
        answer.expect("answers");
    }
    let added = sim.added_latencies();
    assert_eq!(added.len(), 8, "{added:?}");
    assert!(added.iter().all(|latency| *latency >= base), "{added:?}");
    assert!(
        added.iter().any(|latency| *latency >= base * 2),
        "more than twice the knee in flight doubles the latency: {added:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_hubs_status_page_shows_the_learned_limit_after_a_default_sync() {
    let sim = simulator(30, Some(limit(10, 20)));
    let dir = TempDir::new("pacing-status");
    let config = format!(
        "[hub]\ndata_dir = \"{{data_dir}}\"\nadmin_listen = \"{{admin}}\"\n\
         [[instance]]\nid = \"paced\"\nbase_url = \"{}\"\n\
         token = {{ env = \"HUB_IT_TOKEN\" }}\nsync_interval = \"1h\"\n",
        sim.base_url(),
    );
    let mut hub = crate::support::HubProcess::start(
        dir.path(),
        &config,
        &[("HUB_IT_TOKEN", DEFAULT_ADMIN_TOKEN)],
    );
    let status = hub
        .wait_for(Duration::from_secs(30), "the first sync", |status| {
            crate::support::tenant(status, "paced")
                .is_some_and(|tenant| tenant["last_sync"]["outcome"] == "ok")
        })
        .await;
    let tenant = crate::support::tenant(&status, "paced").expect("the tenant");
    assert_eq!(tenant["last_sync"]["rate_limited"], 0, "{tenant:#}");
    let pacing = &tenant["pacing"];
    assert_eq!(pacing["mode"], "learned", "{tenant:#}");
    assert_eq!(pacing["capacity"], 10, "{pacing}");
    assert_eq!(pacing["fill_rate_per_second"], 20.0, "{pacing}");
    hub.signal("TERM");
    assert!(
        hub.wait_exit(Duration::from_secs(20))
            .is_some_and(|status| status.success())
    );
}
