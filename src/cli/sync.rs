//! `confluence-hub sync --config FILE --instance ID --out FILE.c1z`: one
//! tenant, once, with progress bars on a terminal (plain log lines
//! otherwise) and a summary. Exit 0 only when the file is complete.

use std::io::IsTerminal;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use anyhow::Context as _;
use indicatif::{MultiProgress, ProgressBar, ProgressStyle};

use super::LogFormat;
use hub::actors::instance::SyncReport;
use hub::actors::oneshot::sync_once;
use hub::config::TenantConfig;
use hub::sync::{Progress, ProgressSnapshot, SkipReason};

#[derive(Debug, clap::Args)]
pub struct SyncArgs {
    #[command(flatten)]
    pub config: super::ConfigArg,
    /// The tenant (`[[instance]] id`) to sync.
    #[arg(long)]
    pub instance: String,
    /// Where to write the c1z file (replaced only once the new file is complete).
    #[arg(long)]
    pub out: PathBuf,
}

pub fn run(args: SyncArgs, log_format: LogFormat, log_level: &str) -> anyhow::Result<ExitCode> {
    let config = super::load_config(&args.config.config)
        .with_context(|| format!("cannot sync `{}`", args.instance))?;
    let Some(tenant) = config.tenant(&args.instance).cloned() else {
        let known: Vec<_> = config
            .tenants
            .iter()
            .map(|tenant| tenant.id.as_str())
            .collect();
        anyhow::bail!(
            "no instance `{}` in {}; known instances: {}",
            args.instance,
            config.source.display(),
            if known.is_empty() {
                "none".to_owned()
            } else {
                known.join(", ")
            }
        );
    };
    sync_to_file(tenant, &args.out, log_format, log_level)
}

/// Syncs `tenant` once into `out` with progress and a summary; the exit
/// code is success only when the file is complete.
pub(super) fn sync_to_file(
    tenant: TenantConfig,
    out: &Path,
    log_format: LogFormat,
    log_level: &str,
) -> anyhow::Result<ExitCode> {
    hub::telemetry::init_cli_logging(log_format, log_level)?;
    if let Some(dir) = out.parent().filter(|dir| !dir.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir)
            .with_context(|| format!("cannot create the output directory {}", dir.display()))?;
    }

    let id = tenant.id.clone();
    let progress = Arc::new(Progress::default());
    let done = Arc::new(AtomicBool::new(false));
    let reporter = {
        let (progress, done) = (progress.clone(), done.clone());
        let interactive = std::io::stderr().is_terminal();
        std::thread::spawn(move || report_progress(&progress, &done, interactive))
    };
    let started = Instant::now();
    let result = sync_once(tenant, out.to_owned(), progress);
    done.store(true, Ordering::Relaxed);
    let _ = reporter.join();

    match result {
        Ok(report) => {
            print_summary(id.as_str(), &report, started.elapsed());
            Ok(ExitCode::SUCCESS)
        }
        Err(err) => {
            eprintln!("error: sync of `{id}` failed: {err}");
            eprintln!("no file was written to {}", out.display());
            Ok(ExitCode::FAILURE)
        }
    }
}

/// Bars on a terminal; a log line every few seconds otherwise.
fn report_progress(progress: &Progress, done: &AtomicBool, interactive: bool) {
    if !interactive {
        let mut last = Instant::now();
        while !done.load(Ordering::Relaxed) {
            std::thread::sleep(Duration::from_millis(200));
            if last.elapsed() >= Duration::from_secs(5) {
                last = Instant::now();
                let s = progress.snapshot();
                tracing::info!(
                    users = s.users,
                    groups = s.groups,
                    spaces = s.spaces,
                    groups_done = s.groups_done,
                    spaces_done = s.spaces_done,
                    grants = s.grants,
                    "sync progress"
                );
            }
        }
        return;
    }
    let bars = MultiProgress::new();
    let counter = ProgressStyle::with_template("{spinner} {prefix:>8} {pos:>8} {msg}")
        .unwrap_or_else(|_| ProgressStyle::default_spinner());
    let ratio = ProgressStyle::with_template("{spinner} {prefix:>8} [{bar:30}] {pos}/{len} {msg}")
        .unwrap_or_else(|_| ProgressStyle::default_bar())
        .progress_chars("=> ");
    let bar = |prefix: &'static str, style: &ProgressStyle| {
        let bar = bars.add(
            ProgressBar::new(0)
                .with_style(style.clone())
                .with_prefix(prefix),
        );
        bar.enable_steady_tick(Duration::from_millis(120));
        bar
    };
    let users = bar("users", &counter);
    let groups = bar("groups", &ratio);
    let spaces = bar("spaces", &ratio);
    let grants = bar("grants", &counter);
    let update = |s: &ProgressSnapshot| {
        users.set_position(s.users);
        groups.set_length(s.groups_total.max(s.groups));
        groups.set_position(s.groups_done);
        groups.set_message(format!("{} groups listed, members read", s.groups));
        spaces.set_length(s.spaces_total.max(s.spaces));
        spaces.set_position(s.spaces_done);
        spaces.set_message(format!("{} spaces listed, permissions read", s.spaces));
        grants.set_position(s.grants);
        grants.set_message(format!("{} skipped", s.skipped.total()));
    };
    while !done.load(Ordering::Relaxed) {
        update(&progress.snapshot());
        std::thread::sleep(Duration::from_millis(100));
    }
    update(&progress.snapshot());
    for bar in [users, groups, spaces, grants] {
        leave_final_count(&bar);
    }
}

/// Stops a bar showing the count it reached. `finish` would move a counter
/// (a bar without a length) to its length, 0, on the last frame.
fn leave_final_count(bar: &ProgressBar) {
    bar.abandon();
}

fn print_summary(tenant: &str, report: &SyncReport, wall: Duration) {
    let c = &report.counts;
    println!("sync of `{tenant}` complete: {}", report.path.display());
    println!("  sync id       {}", report.sync_id);
    println!("  users         {}", c.user);
    println!("  groups        {}", c.group);
    println!("  spaces        {}", c.space);
    println!("  entitlements  {}", c.entitlement);
    println!("  grants        {}", c.grant);
    println!("  skipped rows  {}", report.skipped.total());
    for reason in SkipReason::ALL {
        let count = report.skipped.get(reason);
        if count > 0 {
            println!("    {:<22}{count}", reason.label());
        }
    }
    println!("  requests      {}", report.client.requests);
    println!("  429s          {}", report.client.rate_limited);
    println!("  retries       {}", report.client.retries);
    println!("  wall time     {:.2?}", wall);
    println!("  file size     {} bytes", report.file_size);
}

#[cfg(test)]
mod tests {
    use super::*;

    use indicatif::ProgressDrawTarget;

    #[test]
    fn the_last_frame_keeps_the_final_counts() {
        // Built as the counters are: length 0, which `finish` would jump to.
        let counter = ProgressBar::with_draw_target(Some(0), ProgressDrawTarget::hidden());
        counter.set_position(2_000);
        leave_final_count(&counter);
        assert!(counter.is_finished());
        assert_eq!(counter.position(), 2_000);

        let ratio = ProgressBar::hidden();
        ratio.set_length(40);
        ratio.set_position(40);
        leave_final_count(&ratio);
        assert_eq!((ratio.position(), ratio.length()), (40, Some(40)));
    }
}
