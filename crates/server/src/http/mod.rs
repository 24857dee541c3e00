//! HTTP: the NuGet v3 protocol (spec §6) over axum. Handlers extract, authorise through the
//! [`Registry`], and map results; every route is in `router.rs`. Who may read at all is one
//! layer over the whole router (`access.rs`, `[access] read`).

mod access;
mod conn;
mod documents;
mod handlers;
mod router;
mod signing;
mod staples;
mod tlog;
mod v2;

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use axum::Json;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use tokio::net::TcpListener;

use crate::Error;

pub use router::router;
// The shared state lives in `app` (below `http` and `web`); these are the names `http` uses.
pub use crate::app::{AppState, ConnectionLimits};

/// A reason phrase that hyper accepts: visible ASCII and spaces, at most 200 bytes.
fn reason_phrase(message: &str) -> Option<hyper::ext::ReasonPhrase> {
    let clean: String = message
        .chars()
        .map(|c| {
            if c.is_ascii_graphic() || c == ' ' {
                c
            } else {
                ' '
            }
        })
        .take(200)
        .collect();
    hyper::ext::ReasonPhrase::try_from(clean.trim().as_bytes().to_vec()).ok()
}

/// A response with `status` whose HTTP reason phrase is `message`: NuGet prints the reason
/// phrase (`Response status code does not indicate success: 409 (…)`), spec §6.2.
pub(crate) fn with_reason(status: StatusCode, message: &str, body: Response) -> Response {
    let mut response = body;
    *response.status_mut() = status;
    if let Some(reason) = reason_phrase(message) {
        response.extensions_mut().insert(reason);
    }
    response
}

/// The one JSON error shape: `{"error": {"status": n, "message": "…"}}`; a 500's cause is
/// logged, and the client sees a generic message.
#[derive(Debug)]
pub(crate) struct ApiError(pub Error);

impl From<Error> for ApiError {
    fn from(e: Error) -> Self {
        Self(e)
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let status =
            StatusCode::from_u16(self.0.status()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        // A signing failure (timestamp authority down, token gone) says what failed; other
        // server errors keep their cause in the log.
        let message = if let Error::StorageUnavailable(_) = &self.0 {
            tracing::error!(error = %self.0, "package storage unavailable");
            "the package storage is unavailable; retry later".to_owned()
        } else if self.0.is_unavailable() {
            tracing::error!(error = %self.0, "database unavailable");
            "the database is unavailable; retry later".to_owned()
        } else if status.is_server_error()
            && !matches!(self.0, Error::Signing(_) | Error::Upstream(_))
        {
            tracing::error!(error = %self.0, "request failed");
            "internal server error".to_owned()
        } else {
            self.0.to_string()
        };
        let body = Json(serde_json::json!({
            "error": { "status": status.as_u16(), "message": message }
        }))
        .into_response();
        let mut response = with_reason(status, &message, body);
        if let Some(secs) = self.0.retry_after_secs() {
            response
                .headers_mut()
                .insert(axum::http::header::RETRY_AFTER, secs.into());
        }
        response
    }
}

/// Serves `state` on `listener` until `shutdown` completes; requests in flight then get
/// `grace` to finish before the server stops anyway. Counted downloads are written to the
/// database every few seconds while serving, and once more before this returns.
pub async fn serve(
    listener: TcpListener,
    state: AppState,
    shutdown: impl Future<Output = ()> + Send + 'static,
    grace: Duration,
) -> Result<(), Error> {
    // The domain's download-count job runs beside the server and flushes once more after it.
    let registry = Arc::clone(&state.registry);
    let (stop, stopped) = tokio::sync::watch::channel(false);
    let flusher = tokio::spawn(async move {
        registry
            .run_download_flusher(DOWNLOAD_FLUSH_INTERVAL, stopped)
            .await;
    });
    let result = serve_until(listener, state, shutdown, grace).await;
    let _ = stop.send(true);
    let _ = flusher.await;
    result
}

/// Serves any `app` (the witness's) on `listener` with the same accept loop as the feed:
/// connection limit, header read and idle timeouts; after `shutdown`, requests in flight get
/// `grace` to finish.
pub(crate) async fn serve_router(
    listener: TcpListener,
    app: axum::Router,
    limits: ConnectionLimits,
    shutdown: impl Future<Output = ()> + Send + 'static,
    grace: Duration,
) -> Result<(), Error> {
    let (tx, rx) = tokio::sync::watch::channel(false);
    tokio::spawn(async move {
        shutdown.await;
        let _ = tx.send(true);
    });
    let max = limits
        .max_connections
        .clamp(1, tokio::sync::Semaphore::MAX_PERMITS);
    let permits = Arc::new(tokio::sync::Semaphore::new(max));
    conn::accept_loop(listener, app, limits, Arc::clone(&permits), rx).await?;
    let all = u32::try_from(max).unwrap_or(u32::MAX);
    let _ = tokio::time::timeout(grace, permits.acquire_many(all)).await;
    Ok(())
}

/// How often counted downloads are written to the database.
const DOWNLOAD_FLUSH_INTERVAL: Duration = Duration::from_secs(5);

async fn serve_until(
    listener: TcpListener,
    state: AppState,
    shutdown: impl Future<Output = ()> + Send + 'static,
    grace: Duration,
) -> Result<(), Error> {
    let limits = state.limits;
    let app = router(state);
    let (tx, rx) = tokio::sync::watch::channel(false);
    tokio::spawn(async move {
        shutdown.await;
        tracing::info!("shutting down: finishing requests in flight");
        let _ = tx.send(true);
    });
    let max = limits
        .max_connections
        .clamp(1, tokio::sync::Semaphore::MAX_PERMITS);
    let permits = Arc::new(tokio::sync::Semaphore::new(max));
    conn::accept_loop(listener, app, limits, Arc::clone(&permits), rx).await?;
    // Stopped accepting: connections in flight get the grace period to finish.
    let all = u32::try_from(max).unwrap_or(u32::MAX);
    if tokio::time::timeout(grace, permits.acquire_many(all))
        .await
        .is_err()
    {
        tracing::warn!("requests still in flight after the grace period; stopping");
    }
    Ok(())
}
