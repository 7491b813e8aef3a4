//! In-repo simulators of the servers the hub talks to, for tests, benchmarks
//! and the demo. They share no code with the clients they exercise.

pub mod conductorone;
pub mod confluence;

/// Blocks until SIGINT or SIGTERM: a simulator started from the command line
/// serves on its own threads until it is told to stop.
pub(crate) fn serve_until_terminated() -> anyhow::Result<()> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    runtime.block_on(async {
        let mut terminate =
            tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())?;
        tokio::select! {
            interrupted = tokio::signal::ctrl_c() => interrupted?,
            _ = terminate.recv() => {}
        }
        Ok(())
    })
}
