//! RFC 3161 over HTTP (§3.4): `POST` a `TimeStampReq` with `Content-Type:
//! application/timestamp-query` to any path, get a `TimeStampResp` back as
//! `application/timestamp-reply`. The handler reads the clock and calls
//! [`Authority::respond`]; the authority knows nothing of HTTP.

use std::future::Future;
use std::sync::Arc;

use axum::Router;
use axum::body::Bytes;
use axum::extract::{DefaultBodyLimit, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use tokio::net::TcpListener;

use crate::authority::Authority;
use crate::error::Error;
use crate::protocol::FailureInfo;

/// The request media type (RFC 3161 §3.4).
pub const QUERY_CONTENT_TYPE: &str = "application/timestamp-query";
/// The response media type (RFC 3161 §3.4).
pub const REPLY_CONTENT_TYPE: &str = "application/timestamp-reply";

pub use signet_common::{Clock, SystemClock};

#[derive(Clone)]
struct AppState {
    authority: Arc<Authority>,
    clock: Arc<dyn Clock>,
}

/// Serves `authority` on `listener` with the system clock until `shutdown` completes, then
/// finishes the requests in flight (graceful shutdown).
pub async fn serve(
    listener: TcpListener,
    authority: Arc<Authority>,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<(), Error> {
    serve_with_clock(listener, authority, Arc::new(SystemClock), shutdown).await
}

/// [`serve`] with the clock given.
pub async fn serve_with_clock(
    listener: TcpListener,
    authority: Arc<Authority>,
    clock: Arc<dyn Clock>,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<(), Error> {
    axum::serve(listener, router(authority, clock))
        .with_graceful_shutdown(shutdown)
        .await
        .map_err(Error::Serve)
}

/// All routes: `POST` on any path timestamps (other methods: 405), `GET /health` answers
/// 200. Bodies over the authority's request limit get 413.
pub fn router(authority: Arc<Authority>, clock: Arc<dyn Clock>) -> Router {
    let limit = authority.limits().max_request_size;
    Router::new()
        .route("/", post(timestamp))
        .route("/health", get(health).post(timestamp))
        .route("/{*path}", post(timestamp))
        .layer(DefaultBodyLimit::max(limit))
        .with_state(AppState { authority, clock })
}

async fn health() -> &'static str {
    "ok\n"
}

async fn timestamp(State(state): State<AppState>, headers: HeaderMap, body: Bytes) -> Response {
    let is_query = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .is_some_and(|v| v.trim().eq_ignore_ascii_case(QUERY_CONTENT_TYPE));
    let reply = if is_query {
        // One token costs one RSA signature (about 0.3 ms), so it runs inline on the
        // worker: handing it to `spawn_blocking` cost 10-20% more CPU per token in
        // `examples/tsa_load.rs` runs, for no gain in throughput on two cores.
        state.authority.respond(&body, state.clock.now())
    } else {
        crate::authority::rejection_der(
            FailureInfo::BAD_REQUEST,
            "the content type must be application/timestamp-query",
        )
    };
    (
        StatusCode::OK,
        [(header::CONTENT_TYPE, REPLY_CONTENT_TYPE)],
        reply,
    )
        .into_response()
}
