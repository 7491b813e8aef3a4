//! The shared state of a running simulator: the data behind its lock, the
//! settings every route consults, and request counters.

use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, PoisonError, RwLock, RwLockReadGuard, RwLockWriteGuard};

use super::auth::Authenticator;
use super::faults::FaultInjector;
use super::options::{Quirks, SimOptions};
use super::ratelimit::RateLimiter;
use super::render::Renderer;
use super::state::State;
use super::version::SimVersion;

pub(crate) struct App {
    /// Handlers hold the lock only while they read or write, never across an await.
    state: RwLock<State>,
    pub version: SimVersion,
    pub quirks: Quirks,
    pub render: Renderer,
    pub auth: Authenticator,
    pub limiter: RateLimiter,
    /// Requests being handled right now (for load-sensitive latency).
    pub in_flight: AtomicUsize,
    pub faults: FaultInjector,
    pub counters: RequestCounters,
    /// TCP connections open right now (clients that keep idle ones show here).
    pub open_connections: Arc<AtomicUsize>,
    pub remote_api_enabled: bool,
    pub licensed_seats: Option<usize>,
}

impl App {
    /// `options.dataset` must be valid.
    pub fn new(options: SimOptions, base_url: String) -> App {
        let SimOptions {
            version,
            mut dataset,
            admin_token,
            admin_username,
            tokens,
            passwords,
            rate_limit,
            rate_limit_exempt,
            faults,
            email_visible,
            remote_api_enabled,
            licensed_seats,
            worker_threads: _,
            quirks,
        } = options;
        for (username, password) in passwords {
            if let Some(user) = dataset
                .users
                .iter_mut()
                .find(|user| user.username.eq_ignore_ascii_case(&username))
            {
                user.password = Some(password);
            }
        }
        let mut token_owners: HashMap<String, String> = tokens.into_iter().collect();
        token_owners.insert(admin_token, admin_username);
        App {
            state: RwLock::new(State::new(dataset)),
            version,
            render: Renderer {
                base_url,
                email_visible,
                status_style: quirks.user_status_style,
                space_has_status: version.space_has_status(),
            },
            auth: Authenticator::new(token_owners, quirks.login_attempts_before_captcha),
            limiter: RateLimiter::new(rate_limit, &rate_limit_exempt),
            in_flight: AtomicUsize::new(0),
            faults: FaultInjector::new(faults),
            counters: RequestCounters::default(),
            open_connections: Arc::default(),
            remote_api_enabled,
            licensed_seats,
            quirks,
        }
    }

    pub fn read(&self) -> RwLockReadGuard<'_, State> {
        // Handlers do not panic under the lock (no unwraps; indexes come from
        // the same state). Should one ever do, serving the state as it is beats
        // failing every later request, so poisoning is ignored.
        self.state.read().unwrap_or_else(PoisonError::into_inner)
    }

    pub fn write(&self) -> RwLockWriteGuard<'_, State> {
        self.state.write().unwrap_or_else(PoisonError::into_inner)
    }
}

/// Requests served, in total and per route (`"GET /rest/api/user/list"`).
#[derive(Default)]
pub(crate) struct RequestCounters {
    total: AtomicU64,
    by_route: Mutex<HashMap<String, u64>>,
}

impl RequestCounters {
    pub fn count(&self, route: &str) {
        self.total.fetch_add(1, Ordering::Relaxed);
        let mut by_route = self.by_route.lock().unwrap_or_else(PoisonError::into_inner);
        match by_route.get_mut(route) {
            Some(count) => *count += 1,
            None => {
                by_route.insert(route.to_owned(), 1);
            }
        }
    }

    pub fn total(&self) -> u64 {
        self.total.load(Ordering::Relaxed)
    }

    pub fn by_route(&self) -> BTreeMap<String, u64> {
        let by_route = self.by_route.lock().unwrap_or_else(PoisonError::into_inner);
        by_route
            .iter()
            .map(|(route, count)| (route.clone(), *count))
            .collect()
    }
}
