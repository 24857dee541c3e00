//! Every route, in one place (spec §6). Resource URLs stay under `/v3/…` beside the service
//! index where clients allow it (§6.8); push keeps NuGet's conventional `/api/v2/package`.

use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::routing::{get, put};

use super::AppState;
use super::handlers;
use super::signing;
use super::v2;

/// The application router.
pub fn router(state: AppState) -> Router {
    // The push handler counts the package itself (413 past `max_package_size`, after draining
    // up to 64 MiB more); this outer bound is what axum's multipart reader enforces.
    let body_limit = usize::try_from(state.registry.limits().max_package_size)
        .unwrap_or(usize::MAX)
        .saturating_add(65 << 20);
    let mut app = Router::new();
    // The embedded development authority, for author signatures against a development feed.
    if let Some(repo) = &state.registry.signing().repository {
        match repo.development_tsa() {
            Ok(Some(tsa)) => app = app.nest_service("/dev/tsa", tsa),
            Ok(None) => {}
            Err(e) => {
                tracing::warn!(error = %e, "the development timestamp authority is not served")
            }
        }
        // Its PKI's CRLs and OCSP responder, at the URLs its certificates name.
        match repo.development_pki() {
            Ok(Some(pki)) => app = app.nest_service("/dev/pki", pki),
            Ok(None) => {}
            Err(e) => {
                tracing::warn!(error = %e, "the development PKI's revocation is not served")
            }
        }
    }
    app.route("/health", get(handlers::health))
        .route("/metrics", get(handlers::metrics))
        .route("/v3/index.json", get(handlers::service_index))
        .route(
            "/api/v2/package",
            put(handlers::push).layer(DefaultBodyLimit::max(body_limit)),
        )
        .route(
            "/api/v2/package/",
            put(handlers::push).layer(DefaultBodyLimit::max(body_limit)),
        )
        .route(
            "/api/v2/package/{id}/{version}",
            axum::routing::delete(handlers::unlist).post(handlers::relist),
        )
        // The read-only V2 OData feed for `nuget list` (§6.7); the static push routes above
        // take precedence over `{resource}`.
        .route("/api/v2", get(v2::service_document))
        .route("/api/v2/", get(v2::service_document))
        .route("/api/v2/{resource}", get(v2::resource))
        .route(
            "/v3-flatcontainer/{id}/index.json",
            get(handlers::flat_index),
        )
        .route(
            "/v3-flatcontainer/{id}/{version}/{file}",
            get(handlers::flat_file),
        )
        .route("/v3/registration/{id}/{leaf}", get(handlers::registration))
        .route(
            "/v3/repository-signatures/{version}/index.json",
            get(signing::repository_signatures),
        )
        .route(
            "/v3/repository-signatures/certificates/{file}",
            get(signing::repository_certificate),
        )
        .route(
            "/api/signet/validate",
            put(signing::validate).layer(DefaultBodyLimit::max(body_limit)),
        )
        .route(
            "/api/signet/packages/{id}/{version}/signature",
            get(signing::version_signature),
        )
        .route(
            "/api/signet/revocation/{id}/{version}",
            get(super::staples::document),
        )
        .route("/tlog/checkpoint", get(super::tlog::checkpoint))
        .route("/tlog/tile/{*path}", get(super::tlog::tile))
        .route("/tlog/proof/{id}/{version}", get(super::tlog::proof))
        .route("/v3/query", get(handlers::search))
        .route("/v3/autocomplete", get(handlers::autocomplete))
        .merge(crate::web::routes())
        .fallback(handlers::not_found)
        // Outside every route and the fallback: in a private feed nothing but the open paths
        // of `access.rs` is answered without credentials, whichever route is added here.
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            super::access::require_reader,
        ))
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            handlers::log_request,
        ))
        .with_state(state)
}
