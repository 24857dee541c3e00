//! The state every handler shares, HTTP protocol and web pages alike ([`AppState`]), and the
//! types it holds. Both `http` and `web` build on this module; it depends on neither.

pub(crate) mod access;
pub(crate) mod flash;
pub(crate) mod metrics;
pub(crate) mod ratelimit;

use std::sync::Arc;
use std::time::Duration;

use crate::db::VersionRow;
use crate::registry::Registry;

pub use access::ReadAccess;
pub use metrics::Metrics;

/// Shared handler state.
#[derive(Clone, Debug)]
pub struct AppState {
    /// The domain service.
    pub registry: Arc<Registry>,
    /// The public base URL, without a trailing slash.
    pub base: Arc<str>,
    /// Counters for `/metrics`.
    pub metrics: Arc<metrics::Metrics>,
    /// The web pages' state (sign-in limits).
    pub(crate) web: Arc<WebState>,
    /// Connection limits and timeouts.
    pub limits: ConnectionLimits,
    /// Proxies whose `X-Forwarded-For` names the client (`[server] trusted_proxies`).
    pub trusted_proxies: Arc<[std::net::IpAddr]>,
    /// Who may read (`[access] read`) and the private feed's credential cache.
    pub(crate) access: Arc<access::Access>,
}

impl AppState {
    /// State for `registry` reachable at `public_url`.
    pub fn new(registry: Arc<Registry>, public_url: &str) -> Self {
        Self {
            registry,
            base: public_url.trim_end_matches('/').into(),
            metrics: Arc::default(),
            web: Arc::default(),
            limits: ConnectionLimits::default(),
            trusted_proxies: Arc::from(Vec::new()),
            access: Arc::default(),
        }
    }

    /// With this read access (`[access] read`; default public).
    pub fn with_read_access(mut self, read: ReadAccess) -> Self {
        self.access = Arc::new(access::Access::new(read));
        self
    }

    /// With these connection limits and timeouts.
    pub fn with_limits(mut self, limits: ConnectionLimits) -> Self {
        self.limits = limits;
        self
    }

    /// With these trusted proxies.
    pub fn with_trusted_proxies(mut self, proxies: Vec<std::net::IpAddr>) -> Self {
        self.trusted_proxies = Arc::from(proxies);
        self
    }
}

/// Connection handling limits (`[server]` in the configuration).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ConnectionLimits {
    /// Connections served at once; more wait in the listen backlog.
    pub max_connections: usize,
    /// Time a client has to send a request's headers.
    pub header_read_timeout: Duration,
    /// Time a connection may send and receive nothing (keep-alive, a stalled body).
    pub idle_timeout: Duration,
    /// Time a push has to send its whole body.
    pub body_timeout: Duration,
}

impl Default for ConnectionLimits {
    fn default() -> Self {
        Self {
            max_connections: 1024,
            header_read_timeout: Duration::from_secs(10),
            idle_timeout: Duration::from_secs(60),
            body_timeout: Duration::from_secs(600),
        }
    }
}

/// Shared state of the web pages (inside [`AppState`]).
#[derive(Debug, Default)]
pub struct WebState {
    /// Failed sign-in (and second-factor) attempts.
    pub(crate) limiter: ratelimit::RateLimiter,
    /// One-time results waiting for the page a form post redirects to.
    pub(crate) flashes: flash::Flashes,
}

/// The download URL of a version in the flat container (spec §6.4).
pub(crate) fn content_url(base: &str, row: &VersionRow) -> String {
    let id = row.package_id.to_lowercase();
    format!(
        "{base}/v3-flatcontainer/{id}/{v}/{id}.{v}.nupkg",
        v = row.version_lower
    )
}
