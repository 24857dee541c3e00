//! `pki serve`: binding on loopback, and running the router until shutdown.

use std::future::Future;
use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;

use signet_keys::SoftwareSigner;
use signet_tsa::{Authority, AuthorityConfig};
pub use signet_tsa::{Clock, SystemClock};
use tokio::net::TcpListener;

use crate::error::Error;
use crate::model::CertName;
use crate::responder::Responder;

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

/// The file in which the TSA keeps its serial numbers (RFC 3161 §2.4.2: unique across
/// restarts).
pub const TSA_SERIAL_FILE: &str = "tsa-serial.state";

/// Serves the PKI in `dir` on `listener` (which must be bound to loopback) until `shutdown`
/// completes, then lets the requests in flight finish: the routes of `router.rs`, with an
/// RFC 3161 timestamp authority at `/tsa` signing with `tsa.key.pem` (`signet_tsa`).
pub async fn serve(
    dir: &Path,
    listener: TcpListener,
    options: ServeOptions,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<(), Error> {
    let local = listener.local_addr().map_err(Error::Serve)?;
    check_loopback(local)?;
    let responder = Arc::new(Responder::open(dir)?);
    let tsa = signet_tsa::router(Arc::new(timestamp_authority(dir)?), options.clock.clone());
    let router = crate::router::router(responder, options.clock, Some(tsa));
    axum::serve(listener, router)
        .with_graceful_shutdown(shutdown)
        .await
        .map_err(Error::Serve)
}

/// The PKI's CRL, OCSP and CA-certificate routes (and `/health`), without a TSA: for a server
/// that serves a PKI's revocation under a path of its own (`signet serve` nests them at
/// `/dev/pki` for its development PKI).
pub fn revocation_routes(dir: &Path, clock: Arc<dyn Clock>) -> Result<axum::Router, Error> {
    let responder = Arc::new(Responder::open(dir)?);
    Ok(crate::router::router(responder, clock, None))
}

/// The TSA of the PKI: its key and chain, serials kept in [`TSA_SERIAL_FILE`].
fn timestamp_authority(dir: &Path) -> Result<Authority, Error> {
    let load_error = |reason: String| Error::LoadKey {
        what: format!("the TSA key and certificate in {}", dir.display()),
        reason,
    };
    let key = zeroize::Zeroizing::new(crate::files::read(&dir.join(CertName::Tsa.key_file()))?);
    let chain = crate::files::read(&dir.join(CertName::Tsa.cert_file()))?;
    let signer = SoftwareSigner::from_key_and_chain(&key, None, &chain)
        .map_err(|e| load_error(e.to_string()))?;
    Authority::new(
        Box::new(signer),
        AuthorityConfig::new(dir.join(TSA_SERIAL_FILE)),
    )
    .map_err(|e| load_error(e.to_string()))
}
