//! `pki serve`: binding on loopback, and running the router until shutdown.

use std::future::Future;
use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;

use signet_common::UtcTime;
use tokio::net::TcpListener;

use crate::error::Error;
use crate::responder::Responder;

/// Where the server reads the time. Libraries take time as an argument; the server is the one
/// place that reads a clock, and tests give it a fixed one.
pub trait Clock: Send + Sync {
    /// The current time.
    fn now(&self) -> UtcTime;
}

/// The system clock (for the binary).
#[derive(Clone, Copy, Debug, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> UtcTime {
        UtcTime::now()
    }
}

/// How `serve` runs.
#[non_exhaustive]
pub struct ServeOptions {
    /// The clock for thisUpdate, producedAt and genTime.
    pub clock: Arc<dyn Clock>,
}

impl ServeOptions {
    /// The options with this clock.
    pub fn new(clock: Arc<dyn Clock>) -> Self {
        Self { clock }
    }
}

/// Refuses an address that is not loopback.
pub fn check_loopback(addr: SocketAddr) -> Result<(), Error> {
    if addr.ip().is_loopback() {
        Ok(())
    } else {
        Err(Error::NotLoopback(addr))
    }
}

/// Binds a listener on `addr`, which must be a loopback address.
pub async fn bind_loopback(addr: SocketAddr) -> Result<TcpListener, Error> {
    check_loopback(addr)?;
    TcpListener::bind(addr)
        .await
        .map_err(|e| Error::io("cannot listen on", addr.to_string(), e))
}

/// Serves the PKI in `dir` on `listener` (which must be bound to loopback) until `shutdown`
/// completes, then lets the requests in flight finish.
pub async fn serve(
    dir: &Path,
    listener: TcpListener,
    options: ServeOptions,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<(), Error> {
    let local = listener.local_addr().map_err(Error::Serve)?;
    check_loopback(local)?;
    let responder = Arc::new(Responder::open(dir)?);
    let router = crate::router::router(responder, options.clock, None);
    axum::serve(listener, router)
        .with_graceful_shutdown(shutdown)
        .await
        .map_err(Error::Serve)
}
