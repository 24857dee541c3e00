//! Every HTTP route of `pki serve`, in one place. Handlers extract, call [`Responder`], and
//! map the result; failures are logged and answered with a generic 500.
//!
//! | route | answer |
//! |---|---|
//! | `GET /health` | `ok` |
//! | `GET /crl/<ca>.crl` | the CA's current CRL, DER (`application/pkix-crl`) |
//! | `GET /ca/<ca>.cer` | the CA certificate, DER (`application/pkix-cert`; AIA caIssuers) |
//! | `POST /ocsp` | OCSP, RFC 6960 Appendix A.1 (`application/ocsp-request` in, `-response` out) |
//! | `GET /ocsp/<base64>` | OCSP, the request URL-encoded base64 in the path |
//! | `POST /tsa` | RFC 3161 timestamps, when the server was started with a TSA |

use std::sync::Arc;

use axum::Router;
use axum::body::Bytes;
use axum::extract::{DefaultBodyLimit, Path, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use base64::Engine as _;
use base64::engine::{DecodePaddingMode, GeneralPurpose, GeneralPurposeConfig};

use crate::model::CertName;
use crate::responder::Responder;
use crate::server::Clock;

/// The largest OCSP request accepted (a request for one certificate is about 100 bytes).
const MAX_OCSP_REQUEST: usize = 64 * 1024;

#[derive(Clone)]
struct AppState {
    responder: Arc<Responder>,
    clock: Arc<dyn Clock>,
}

/// The routes, with the TSA's router (if any) nested at `/tsa`.
pub(crate) fn router(
    responder: Arc<Responder>,
    clock: Arc<dyn Clock>,
    tsa: Option<Router>,
) -> Router {
    let router = Router::new()
        .route("/health", get(health))
        .route("/crl/{file}", get(crl))
        .route("/ca/{file}", get(ca_certificate))
        .route("/ocsp", post(ocsp_post))
        .route("/ocsp/", post(ocsp_post))
        .route("/ocsp/{*request}", get(ocsp_get))
        .layer(DefaultBodyLimit::max(MAX_OCSP_REQUEST))
        .with_state(AppState { responder, clock });
    match tsa {
        Some(tsa) => router.nest("/tsa", tsa),
        None => router,
    }
}

async fn health() -> &'static str {
    "ok\n"
}

/// `<ca>.<extension>` → the CA, if it is one.
fn ca_from_file(file: &str, extension: &str) -> Option<CertName> {
    let name: CertName = file.strip_suffix(extension)?.parse().ok()?;
    name.is_ca().then_some(name)
}

fn not_found() -> Response {
    (StatusCode::NOT_FOUND, "not found\n").into_response()
}

fn internal_error() -> Response {
    (StatusCode::INTERNAL_SERVER_ERROR, "internal error\n").into_response()
}

async fn crl(State(state): State<AppState>, Path(file): Path<String>) -> Response {
    let Some(ca) = ca_from_file(&file, ".crl") else {
        return not_found();
    };
    let now = state.clock.now();
    // Reading the state and an RSA signature: off the async workers.
    let result = tokio::task::spawn_blocking(move || state.responder.crl(ca, now)).await;
    match result {
        Ok(Ok(der)) => ([(header::CONTENT_TYPE, "application/pkix-crl")], der).into_response(),
        Ok(Err(e)) => {
            tracing::error!("CRL of {ca}: {e}");
            internal_error()
        }
        Err(e) => {
            tracing::error!("CRL of {ca}: {e}");
            internal_error()
        }
    }
}

async fn ca_certificate(State(state): State<AppState>, Path(file): Path<String>) -> Response {
    match ca_from_file(&file, ".cer").and_then(|ca| state.responder.ca_certificate(ca)) {
        Some(der) => (
            [(header::CONTENT_TYPE, "application/pkix-cert")],
            der.to_vec(),
        )
            .into_response(),
        None => not_found(),
    }
}

async fn ocsp_post(State(state): State<AppState>, body: Bytes) -> Response {
    ocsp(state, body.to_vec()).await
}

async fn ocsp_get(State(state): State<AppState>, Path(request): Path<String>) -> Response {
    // RFC 6960 A.1: the URL encoding of the base64 of the DER request; the path extractor
    // has already undone the URL encoding. URL-safe base64 and missing padding are accepted
    // too, as some clients send them.
    let lenient = GeneralPurpose::new(
        &base64::alphabet::STANDARD,
        GeneralPurposeConfig::new().with_decode_padding_mode(DecodePaddingMode::Indifferent),
    );
    let text: String = request
        .trim_start_matches('/')
        .chars()
        .map(|c| match c {
            '-' => '+',
            '_' => '/',
            c => c,
        })
        .collect();
    match lenient.decode(text.as_bytes()) {
        Ok(der) if der.len() <= MAX_OCSP_REQUEST => ocsp(state, der).await,
        // Not base64: let the responder say malformedRequest.
        _ => ocsp(state, Vec::new()).await,
    }
}

async fn ocsp(state: AppState, request: Vec<u8>) -> Response {
    let now = state.clock.now();
    match tokio::task::spawn_blocking(move || state.responder.ocsp(&request, now)).await {
        Ok(der) => (
            [(
                header::CONTENT_TYPE,
                signet_trust::ocsp::RESPONSE_CONTENT_TYPE,
            )],
            der,
        )
            .into_response(),
        Err(e) => {
            tracing::error!("OCSP: {e}");
            internal_error()
        }
    }
}
