//! How fast the Confluence client pages users: 20,000 users from the
//! in-process simulator (no latency, no rate limit, 200-user server cap),
//! several rounds. Prints pages/s, users/s and CPU time — the client's own
//! thread and the whole process (client plus simulator).
//!
//! Run: `cargo bench --bench client_paging` (optionally `-- --rounds N --users N`).

use std::time::{Duration, Instant};

use confluence::ConfluenceClient;
use confluence::settings::{Auth, ClientSettings};
use platform::secret::Secret;
use reqwest::Url;
use sim::confluence::{ConfluenceSim, Dataset, GenerateOptions, SimOptions, SimVersion};

struct Args {
    rounds: usize,
    users: usize,
}

fn parse_args() -> Args {
    let mut args = Args {
        rounds: 5,
        users: 20_000,
    };
    let mut words = std::env::args().skip(1);
    while let Some(word) = words.next() {
        let mut value = || words.next().and_then(|text| text.parse().ok());
        match word.as_str() {
            "--rounds" => args.rounds = value().unwrap_or(args.rounds),
            "--users" => args.users = value().unwrap_or(args.users),
            // `cargo bench` passes `--bench`; anything else is ignored too.
            _ => {}
        }
    }
    args
}

/// CPU time of the calling thread (`/proc/thread-self/schedstat`, ns).
fn thread_cpu() -> Duration {
    schedstat("/proc/thread-self/schedstat")
}

/// CPU time of the whole process: the sum over its threads.
fn process_cpu() -> Duration {
    std::fs::read_dir("/proc/self/task")
        .map(|tasks| {
            tasks
                .filter_map(Result::ok)
                .map(|task| schedstat(&format!("{}/schedstat", task.path().display())))
                .sum()
        })
        .unwrap_or_default()
}

fn schedstat(path: &str) -> Duration {
    std::fs::read_to_string(path)
        .ok()
        .and_then(|text| {
            text.split_whitespace()
                .next()
                .and_then(|ns| ns.parse().ok())
        })
        .map(Duration::from_nanos)
        .unwrap_or_default()
}

fn main() -> anyhow::Result<()> {
    let args = parse_args();
    let dataset = Dataset::generate(&GenerateOptions {
        seed: 1,
        users: args.users,
        groups: 2,
        spaces: 1,
    });
    let options = SimOptions::new(SimVersion::V9_2, dataset);
    let token = options.admin_token.clone();
    let sim = ConfluenceSim::start(options)?;
    let settings = ClientSettings {
        request_timeout: Duration::from_secs(30),
        max_in_flight: 4,
        page_size: 200,
        ..ClientSettings::new(
            "bench",
            Url::parse(&sim.base_url())?,
            Auth::Token(Secret::new(token)),
        )
    };
    let client = ConfluenceClient::new(&settings)?;
    // The client runs on this thread alone, so its CPU time is this thread's.
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;

    println!(
        "client_paging: {} users, {} rounds, server cap 200, no latency",
        args.users, args.rounds
    );
    let (mut best_pages_per_sec, mut total_pages, mut total_wall) = (0.0f64, 0u64, Duration::ZERO);
    let (mut total_client_cpu, mut total_process_cpu) = (Duration::ZERO, Duration::ZERO);
    for round in 0..=args.rounds {
        let (cpu_before, process_before, started) = (thread_cpu(), process_cpu(), Instant::now());
        let (users, pages) = runtime.block_on(async {
            let mut pager = client.users();
            let mut users = 0usize;
            while let Some(page) = pager.next_page().await? {
                users += page.len();
            }
            anyhow::Ok((users, pager.pages()))
        })?;
        let wall = started.elapsed();
        let client_cpu = thread_cpu() - cpu_before;
        let process_cpu = process_cpu() - process_before;
        anyhow::ensure!(
            users == args.users,
            "paged {users} users, expected {}",
            args.users
        );
        if round == 0 {
            // Warm-up: connections, allocator, simulator caches.
            continue;
        }
        let pages_per_sec = pages as f64 / wall.as_secs_f64();
        best_pages_per_sec = best_pages_per_sec.max(pages_per_sec);
        total_pages += pages;
        total_wall += wall;
        total_client_cpu += client_cpu;
        total_process_cpu += process_cpu;
        println!(
            "round {round}: {pages} pages in {:.1} ms = {pages_per_sec:.0} pages/s, {:.0} users/s; CPU client {:.1} ms, process {:.1} ms",
            wall.as_secs_f64() * 1e3,
            users as f64 / wall.as_secs_f64(),
            client_cpu.as_secs_f64() * 1e3,
            process_cpu.as_secs_f64() * 1e3,
        );
    }
    let per_page = |cpu: Duration| cpu.as_secs_f64() * 1e6 / total_pages as f64;
    println!(
        "mean {:.0} pages/s (best {best_pages_per_sec:.0}); CPU per page: client {:.0} µs, process {:.0} µs; stats {:?}",
        total_pages as f64 / total_wall.as_secs_f64(),
        per_page(total_client_cpu),
        per_page(total_process_cpu),
        client.stats(),
    );
    sim.shutdown();
    Ok(())
}
