//! The transparency log over HTTP (c2sp.org/tlog-tiles under `/tlog/`): the checkpoint
//! (mutable, cached a second), tiles and entry bundles (immutable, from the blob store, so an
//! S3 bucket or CDN could serve them as they are), and per version a c2sp.org/tlog-proof; the
//! `signet/TransparencyLog/1.0.0` resource names the prefix, the origin and the verifier key.

use axum::extract::{Path, State};
use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Response};
use futures_util::StreamExt as _;
use serde_json::{Value, json};

use super::{ApiError, AppState};
use crate::{BlobBody, Error};

type Result<T> = std::result::Result<T, ApiError>;

/// Largest tile or entry bundle read: 256 entries of at most 1 KiB and their lengths.
const MAX_TILE: usize = 256 * (2 + 1024);

/// Adds the resource when the log signs checkpoints.
pub(crate) fn extend_service_index(s: &AppState, index: &mut Value) {
    let Some(key) = s.registry.transparency_log() else {
        return;
    };
    if let Some(resources) = index.get_mut("resources").and_then(Value::as_array_mut) {
        resources.push(json!({
            "@id": format!("{}/tlog/", s.base),
            "@type": crate::tlog::RESOURCE_TYPE,
            "origin": key.origin(),
            "verifierKey": key.verifier().to_string(),
            "comment": "c2sp.org/tlog-tiles: checkpoint, tile/<L>/<N>, tile/entries/<N>; proof/{id-lower}/{version-lower} is a c2sp.org/tlog-proof whose extra data is the version's entry"
        }));
    }
}

/// The proof URL of a version, when the log is on.
pub(crate) fn proof_url(s: &AppState, id: &str, version: &str) -> Option<String> {
    s.registry.transparency_log().map(|_| {
        format!(
            "{}/tlog/proof/{}/{}",
            s.base,
            id.to_lowercase(),
            version.to_lowercase()
        )
    })
}

fn text(body: String, cache: &'static str) -> Response {
    let mut r = body.into_response();
    let h = r.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static(cache));
    r
}

/// `GET /tlog/checkpoint`: the newest checkpoint, with the witnesses' cosignatures it has.
pub(crate) async fn checkpoint(State(s): State<AppState>) -> Result<Response> {
    let cp = s
        .registry
        .tlog_latest_cosigned()
        .await?
        .ok_or_else(|| ApiError(Error::NotFound("no checkpoint signed yet".into())))?;
    Ok(text(cp.note, "public, max-age=1"))
}

/// `GET /tlog/tile/{*path}` (hash tiles and entry bundles).
pub(crate) async fn tile(State(s): State<AppState>, Path(path): Path<String>) -> Result<Response> {
    let path = format!("tile/{path}");
    let body = s
        .registry
        .tlog_tile(&path)
        .await?
        .ok_or_else(|| ApiError(Error::NotFound(format!("no {path}"))))?;
    let bytes = read_small(body).await?;
    let mut r = bytes.into_response();
    let h = r.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/octet-stream"),
    );
    h.insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static("public, max-age=31536000, immutable"),
    );
    Ok(r)
}

/// `GET /tlog/proof/{id}/{version}`.
pub(crate) async fn proof(
    State(s): State<AppState>,
    Path((id, version)): Path<(String, String)>,
) -> Result<Response> {
    let p = s
        .registry
        .tlog_proof(&id, &version)
        .await?
        .ok_or_else(|| ApiError(Error::NotFound(format!("no package {id} {version}"))))?;
    Ok(text(p, "public, max-age=1"))
}

async fn read_small(body: BlobBody) -> Result<Vec<u8>> {
    let too_big = || ApiError(Error::Invalid("a stored tile is too large".into()));
    match body {
        BlobBody::Bytes(b) if b.len() <= MAX_TILE => Ok(b.to_vec()),
        BlobBody::Bytes(_) => Err(too_big()),
        BlobBody::File { file, len } => {
            if usize::try_from(len).map_or(true, |l| l > MAX_TILE) {
                return Err(too_big());
            }
            let mut out = Vec::new();
            tokio::io::AsyncReadExt::read_to_end(
                &mut tokio::io::AsyncReadExt::take(file, len),
                &mut out,
            )
            .await
            .map_err(|e| ApiError(Error::io("tile", e)))?;
            Ok(out)
        }
        BlobBody::Stream { mut stream, .. } => {
            let mut out = Vec::new();
            while let Some(chunk) = stream.next().await {
                let chunk = chunk.map_err(|e| ApiError(Error::io("tile", e)))?;
                out.extend_from_slice(&chunk);
                if out.len() > MAX_TILE {
                    return Err(too_big());
                }
            }
            Ok(out)
        }
    }
}
