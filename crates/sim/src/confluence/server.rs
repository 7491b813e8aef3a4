//! [`ConfluenceSim`]: a simulator running on its own thread with its own tokio
//! runtime, so it can be started from synchronous tests, async tests and the
//! CLI alike, plus the accessors tests use to see what the hub did.

use std::collections::BTreeMap;
use std::io;
use std::net::{Ipv4Addr, SocketAddr};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc;
use std::thread::JoinHandle;
use std::time::Duration;

use axum::Router;
use tokio::sync::oneshot;

use super::app::App;
use super::dataset::Dataset;
use super::faults::Faults;
use super::listener::{ConnectionHandle, SimListener};
use super::mutation::Mutation;
use super::options::{RateLimit, SimOptions};
use super::routes;

/// How long requests still in flight at shutdown (injected latency, a client
/// that never reads) may take before the runtime is dropped under them.
const SHUTDOWN_GRACE: Duration = Duration::from_millis(500);

/// A running Confluence Data Center simulator. Stops on [`Self::shutdown`] or drop.
pub struct ConfluenceSim {
    app: Arc<App>,
    address: SocketAddr,
    stop: Option<oneshot::Sender<()>>,
    thread: Option<JoinHandle<()>>,
}

impl ConfluenceSim {
    /// Starts on `127.0.0.1` with a free port; returns once it accepts connections.
    pub fn start(options: SimOptions) -> io::Result<ConfluenceSim> {
        Self::start_on(options, SocketAddr::from((Ipv4Addr::LOCALHOST, 0)))
    }

    /// Starts on `address` (port 0 picks a free port); returns once listening.
    /// Fails if the dataset is inconsistent or the address cannot be bound.
    pub fn start_on(options: SimOptions, address: SocketAddr) -> io::Result<ConfluenceSim> {
        options
            .dataset
            .validate()
            .map_err(|error| io::Error::new(io::ErrorKind::InvalidInput, error))?;
        let listener = std::net::TcpListener::bind(address)?;
        listener.set_nonblocking(true)?;
        let address = listener.local_addr()?;
        let worker_threads = options.worker_threads.max(1);
        let app = Arc::new(App::new(options, format!("http://{address}")));
        let router = routes::router(Arc::clone(&app));
        let open_connections = Arc::clone(&app.open_connections);
        let (ready_sender, ready) = mpsc::channel();
        let (stop, stopped) = oneshot::channel();
        // The runtime is built and dropped on the simulator's thread only: a
        // runtime dropped inside a caller's async context would panic.
        let thread = std::thread::Builder::new()
            .name("confluence-sim".into())
            .spawn(move || {
                let runtime = tokio::runtime::Builder::new_multi_thread()
                    .worker_threads(worker_threads)
                    .thread_name("confluence-sim-worker")
                    .enable_all()
                    .build();
                match runtime {
                    Ok(runtime) => {
                        runtime.block_on(serve(
                            listener,
                            open_connections,
                            router,
                            stopped,
                            ready_sender,
                        ));
                        runtime.shutdown_background();
                    }
                    Err(error) => {
                        let _ = ready_sender.send(Err(error));
                    }
                }
            })?;
        match ready.recv() {
            Ok(Ok(())) => Ok(ConfluenceSim {
                app,
                address,
                stop: Some(stop),
                thread: Some(thread),
            }),
            Ok(Err(error)) => {
                let _ = thread.join();
                Err(error)
            }
            Err(_) => {
                let _ = thread.join();
                Err(io::Error::other(
                    "the simulator thread ended before it was listening",
                ))
            }
        }
    }

    /// `http://127.0.0.1:PORT`, without a trailing slash.
    pub fn base_url(&self) -> String {
        self.app.render.base_url.clone()
    }

    pub fn address(&self) -> SocketAddr {
        self.address
    }

    /// The current data, mutations applied.
    pub fn dataset(&self) -> Dataset {
        self.app.read().to_dataset()
    }

    /// Every mutating call that reached a route, in the order applied.
    pub fn mutations(&self) -> Vec<Mutation> {
        self.app.read().mutations().to_vec()
    }

    /// All requests received (faulted, refused and rate-limited ones included),
    /// except the simulator's own `/__sim/` endpoints.
    pub fn request_count(&self) -> u64 {
        self.app.counters.total()
    }

    /// Requests per route, keyed `"<METHOD> <route template>"`; paths no route
    /// matches count as `"<METHOD> (unmatched)"`.
    pub fn request_counts(&self) -> BTreeMap<String, u64> {
        self.app.counters.by_route()
    }

    /// TCP connections open right now.
    pub fn open_connections(&self) -> usize {
        self.app.open_connections.load(Ordering::Relaxed)
    }

    /// Replaces the fault injection; the fault sequence restarts from request 0.
    pub fn set_faults(&self, faults: Faults) {
        self.app.faults.set(faults);
    }

    /// The latency the faults added to each request since they were last set
    /// (with a knee, it grows with load): what a client waited beyond the work.
    pub fn added_latencies(&self) -> Vec<Duration> {
        self.app.faults.added_latencies()
    }

    /// Replaces the rate-limit settings (`None`: unlimited) from the next request on.
    pub fn set_rate_limit(&self, limit: Option<RateLimit>) {
        self.app.limiter.set_limit(limit);
    }

    /// Stops serving and joins the simulator's thread.
    pub fn shutdown(mut self) {
        self.stop_and_join();
    }

    fn stop_and_join(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

impl Drop for ConfluenceSim {
    fn drop(&mut self) {
        self.stop_and_join();
    }
}

async fn serve(
    listener: std::net::TcpListener,
    open_connections: Arc<AtomicUsize>,
    router: Router,
    stopped: oneshot::Receiver<()>,
    ready: mpsc::Sender<io::Result<()>>,
) {
    let listener = match SimListener::new(listener, open_connections) {
        Ok(listener) => listener,
        Err(error) => {
            let _ = ready.send(Err(error));
            return;
        }
    };
    let (drain, draining) = oneshot::channel::<()>();
    let service = router.into_make_service_with_connect_info::<ConnectionHandle>();
    let server = axum::serve(listener, service).with_graceful_shutdown(async move {
        let _ = draining.await;
    });
    let server = tokio::spawn(async move { server.await });
    let _ = ready.send(Ok(()));
    // A dropped sender (the handle was leaked or dropped) also means stop.
    let _ = stopped.await;
    let _ = drain.send(());
    let _ = tokio::time::timeout(SHUTDOWN_GRACE, server).await;
}
