//! `confluence-hub demo`: the embedded default. In one process and without
//! network access it starts three simulated Confluence DC tenants (8.5, 9.2
//! and 10.2, of different sizes, one rate limited), a simulated ConductorOne
//! with its own credentials per tenant, and the hub in service mode against
//! them; then it asks ConductorOne for a sync of each tenant, a grant, a
//! revoke and an account creation, shows live progress, and ends with a
//! summary table.

mod scenario;
mod summary;

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::{Duration, Instant};

use anyhow::Context as _;
use indicatif::{MultiProgress, ProgressBar, ProgressStyle};

use self::scenario::{Provisioning, Scenario};
use self::summary::{Row, print_summary};
use hub::telemetry::{LogFormat, TelemetryOptions};
use sim::conductorone::{SyncOptions, TaskRecord};

/// The whole demo must stay well inside a minute on two cores.
const TASK_TIMEOUT: Duration = Duration::from_secs(50);

pub struct DemoOptions {
    pub keep_running: bool,
    /// Where config, secrets, logs and c1z files go.
    pub dir: PathBuf,
    pub log_level: String,
}

pub fn run(options: DemoOptions) -> anyhow::Result<ExitCode> {
    let started = Instant::now();
    prepare_dir(&options.dir)?;
    println!(
        "confluence-hub demo: 3 simulated Confluence tenants, a simulated ConductorOne, the hub in service mode"
    );
    println!("working directory: {}", options.dir.display());
    let scenario = Scenario::start(&options.dir).context("cannot start the simulators")?;

    let (stop_hub, hub_stopped) = tokio::sync::oneshot::channel::<()>();
    let config_path = scenario.config_path.clone();
    let mut logging = TelemetryOptions::new(LogFormat::Json, options.log_level.clone());
    logging.log_file = Some(options.dir.join("hub.log"));
    let hub = std::thread::Builder::new()
        .name("hub".into())
        .spawn(move || {
            hub::actors::runtime::run_until(&config_path, logging, async move {
                let _ = hub_stopped.await;
            })
        })?;

    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let outcome = runtime.block_on(drive(&scenario, started));
    match &outcome {
        Ok(rows) => {
            print_summary(rows);
            println!();
            println!(
                "c1z files as ConductorOne received them: {}",
                scenario.uploads_dir.display()
            );
            println!(
                "latest sync per tenant (hub data dir):   {}",
                scenario.data_dir.display()
            );
            println!(
                "hub log:                                  {}",
                options.dir.join("hub.log").display()
            );
            println!(
                "admin endpoint:                           {}/status  {}/metrics",
                scenario.admin_url, scenario.admin_url
            );
            println!("demo wall time: {:.1?}", started.elapsed());
        }
        Err(err) => eprintln!(
            "demo failed: {err:#}\nsee {}",
            options.dir.join("hub.log").display()
        ),
    }
    if outcome.is_ok() && options.keep_running {
        println!();
        println!("--keep-running: the hub and simulators stay up; press Ctrl-C to stop");
        runtime.block_on(async {
            let _ = tokio::signal::ctrl_c().await;
        });
    }
    let _ = stop_hub.send(());
    match hub.join() {
        Ok(Ok(_)) => {}
        Ok(Err(err)) => eprintln!("the hub stopped with an error: {err:#}"),
        Err(_) => eprintln!("the hub thread panicked"),
    }
    outcome.map(|_| ExitCode::SUCCESS)
}

fn prepare_dir(dir: &std::path::Path) -> anyhow::Result<()> {
    if dir.exists() {
        std::fs::remove_dir_all(dir).with_context(|| format!("cannot clear {}", dir.display()))?;
    }
    std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))
}

/// Syncs every tenant through ConductorOne, then provisions, with live progress.
async fn drive(scenario: &Scenario, started: Instant) -> anyhow::Result<Vec<Row>> {
    scenario.wait_until_ready(Duration::from_secs(20)).await?;
    println!(
        "hub ready after {:.1?}; asking ConductorOne for a full sync of each tenant",
        started.elapsed()
    );

    let bars = MultiProgress::new();
    let style = ProgressStyle::with_template("{spinner} {prefix:<9} {msg}")
        .unwrap_or_else(|_| ProgressStyle::default_spinner());
    let mut syncs = Vec::new();
    for tenant in &scenario.tenants {
        let task_id = scenario.c1.enqueue_sync(
            &tenant.id,
            SyncOptions {
                skip_expand_grants: true,
                ..SyncOptions::default()
            },
        )?;
        let bar = bars.add(
            ProgressBar::new_spinner()
                .with_style(style.clone())
                .with_prefix(tenant.id.clone()),
        );
        bar.enable_steady_tick(Duration::from_millis(120));
        syncs.push((tenant, task_id, bar));
    }
    let mut records: Vec<Option<TaskRecord>> = vec![None; syncs.len()];
    let deadline = Instant::now() + TASK_TIMEOUT;
    while records.iter().any(Option::is_none) {
        anyhow::ensure!(
            Instant::now() < deadline,
            "the syncs did not finish within {TASK_TIMEOUT:?}"
        );
        let status = scenario.status().await.unwrap_or_default();
        for (index, (tenant, task_id, bar)) in syncs.iter().enumerate() {
            if records[index].is_some() {
                continue;
            }
            match scenario
                .c1
                .task(task_id)
                .filter(|record| record.finish.is_some())
            {
                Some(record) => {
                    let finish = record
                        .finish
                        .as_ref()
                        .map(|f| (f.success, f.message.clone()));
                    let line = match finish {
                        Some((true, _)) => {
                            format!("synced and uploaded after {:.1?}", started.elapsed())
                        }
                        Some((false, message)) => format!("failed: {message}"),
                        None => String::new(),
                    };
                    if bars.is_hidden() {
                        println!("  {:<9} {line}", tenant.id);
                    }
                    bar.finish_with_message(line);
                    records[index] = Some(record);
                }
                None => bar.set_message(scenario::live_line(&status, &tenant.id)),
            }
        }
        tokio::time::sleep(Duration::from_millis(150)).await;
    }
    for (record, (tenant, _, _)) in records.iter().zip(&syncs) {
        let finish = record.as_ref().and_then(|r| r.finish.clone());
        anyhow::ensure!(
            finish.as_ref().is_some_and(|f| f.success),
            "the sync of {} failed: {finish:?}",
            tenant.id
        );
    }

    println!("asking ConductorOne for a grant, a revoke and an account creation");
    let provisioning = scenario.provision(TASK_TIMEOUT).await?;
    let status = scenario.status().await.unwrap_or_default();
    Ok(scenario
        .tenants
        .iter()
        .map(|tenant| {
            let results: Vec<&Provisioning> = provisioning
                .iter()
                .filter(|p| p.tenant == tenant.id)
                .collect();
            Row::new(tenant, &status, &scenario.c1.uploads(&tenant.id), &results)
        })
        .collect())
}
