//! `signet/RevocationStatus/1.0.0`: the stapled OCSP responses of a version
//! (`crate::staples`), as the CAs signed them.

use axum::Json;
use axum::extract::{Path, State};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

use super::{ApiError, AppState};
use crate::Error;

type Result<T> = std::result::Result<T, ApiError>;

/// Adds the resource to the service index when stapling is on.
pub(crate) fn extend_service_index(s: &AppState, index: &mut Value) {
    if !s.registry.staples_on() {
        return;
    }
    if let Some(resources) = index.get_mut("resources").and_then(Value::as_array_mut) {
        resources.push(json!({
            "@id": format!("{}/api/signet/revocation/", s.base),
            "@type": crate::staples::REVOCATION_STATUS,
            "comment": "GET {id-lower}/{version-lower}: CA-signed OCSP responses for every certificate chain in the version's signatures"
        }));
    }
}

/// `GET /api/signet/revocation/{id}/{version}`.
pub(crate) async fn document(
    State(s): State<AppState>,
    Path((id, version)): Path<(String, String)>,
) -> Result<Response> {
    match s.registry.staple_document(&id, &version).await? {
        Some(doc) => Ok(Json(doc).into_response()),
        None => Err(ApiError(Error::NotFound(format!(
            "no stapled status for {id} {version}"
        )))),
    }
}
