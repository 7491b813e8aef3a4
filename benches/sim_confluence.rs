//! How many simple GETs per second the Confluence simulator serves, so we know
//! it never limits the hub's own benchmarks (the bar: 10,000/s on 2 cores).
//!
//! `cargo bench --bench sim_confluence [-- SECONDS CONNECTIONS]`. The load
//! generator runs in the same process and shares the cores, so the figures
//! are a lower bound of what the simulator alone can do.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use sim::confluence::{
    ConfluenceSim, DEFAULT_ADMIN_TOKEN, Dataset, GenerateOptions, SimOptions, SimVersion,
};

fn main() {
    platform::tls::install_crypto_provider();
    let arguments: Vec<String> = std::env::args()
        .skip(1)
        .filter(|argument| !argument.starts_with('-'))
        .collect();
    let seconds: u64 = arguments
        .first()
        .and_then(|text| text.parse().ok())
        .unwrap_or(3);
    let connections: usize = arguments
        .get(1)
        .and_then(|text| text.parse().ok())
        .unwrap_or(32);

    let dataset = Dataset::generate(&GenerateOptions {
        seed: 1,
        users: 10_000,
        groups: 1_000,
        spaces: 1_000,
    });
    let user_key = dataset.users[4_321].user_key.clone();
    let sim = ConfluenceSim::start(SimOptions::new(SimVersion::V10_2, dataset))
        .expect("the simulator starts");
    let base = sim.base_url();

    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("a client runtime");
    println!(
        "Confluence simulator GET throughput ({seconds} s per endpoint, {connections} keep-alive connections)"
    );
    for path in [
        "/rest/api/user/current".to_owned(),
        format!("/rest/api/user?key={user_key}"),
        "/rest/api/group?limit=25".to_owned(),
        "/rest/api/space?limit=25".to_owned(),
        "/rest/api/user/list?limit=200&expand=status".to_owned(),
    ] {
        let url = format!("{base}{path}");
        let (requests, elapsed) =
            runtime.block_on(hammer(url, connections, Duration::from_secs(seconds)));
        let per_second = requests as f64 / elapsed.as_secs_f64();
        println!("  GET {path:<48} {per_second:>9.0} req/s");
    }
    println!("requests served: {}", sim.request_count());
}

/// `connections` tasks sending GETs back to back for `duration`; returns the
/// number of successful responses and the time taken.
async fn hammer(url: String, connections: usize, duration: Duration) -> (u64, Duration) {
    let client = reqwest::Client::builder()
        .pool_max_idle_per_host(connections)
        .build()
        .expect("a client");
    let done = Arc::new(AtomicBool::new(false));
    let count = Arc::new(AtomicU64::new(0));
    let started = Instant::now();
    let workers: Vec<_> = (0..connections)
        .map(|_| {
            let (client, url, done, count) = (
                client.clone(),
                url.clone(),
                Arc::clone(&done),
                Arc::clone(&count),
            );
            tokio::spawn(async move {
                while !done.load(Ordering::Relaxed) {
                    let response = client
                        .get(&url)
                        .bearer_auth(DEFAULT_ADMIN_TOKEN)
                        .send()
                        .await;
                    if let Ok(response) = response
                        && response.status().is_success()
                        && response.bytes().await.is_ok()
                    {
                        count.fetch_add(1, Ordering::Relaxed);
                    }
                }
            })
        })
        .collect();
    tokio::time::sleep(duration).await;
    done.store(true, Ordering::Relaxed);
    for worker in workers {
        let _ = worker.await;
    }
    (count.load(Ordering::Relaxed), started.elapsed())
}
