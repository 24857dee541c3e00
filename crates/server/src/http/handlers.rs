//! Handlers: extract, authorise, call the registry, map the result.

use std::collections::HashMap;
use std::time::Instant;

use axum::Json;
use axum::body::Body;
use axum::extract::{FromRequest, Multipart, Path, Query, Request, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use http_body_util::BodyExt as _;
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};

use super::documents;
use super::{ApiError, AppState, with_reason};
use crate::Error;
use crate::blob::BlobBody;
use crate::registry::VersionFilter;

type Result<T> = std::result::Result<T, ApiError>;

/// One line per request: method, path, status, duration.
pub(crate) async fn log_request(State(s): State<AppState>, req: Request, next: Next) -> Response {
    let method = req.method().clone();
    let path = req.uri().path().to_owned();
    let start = Instant::now();
    // Audit entries written while answering name this client (through trusted proxies).
    let client = req
        .extensions()
        .get::<axum::extract::ConnectInfo<std::net::SocketAddr>>()
        .map(|c| crate::web::client_ip(c.0.ip(), req.headers(), &s.trusted_proxies));
    let response = crate::audit::with_client(client, next.run(req)).await;
    let micros = u64::try_from(start.elapsed().as_micros()).unwrap_or(u64::MAX);
    let status = response.status().as_u16();
    s.metrics.request(&path, status, micros);
    tracing::info!(%method, path = %path, status, micros, "request");
    response
}

/// `GET /health`: 200 when the database and the blob store answer; otherwise 503 with
/// `Retry-After`, naming each dependency that does not (each probe bounded to 5 s).
pub(crate) async fn health(State(s): State<AppState>) -> Response {
    const PROBE: std::time::Duration = std::time::Duration::from_secs(5);
    let database = match tokio::time::timeout(PROBE, s.registry.ping_database()).await {
        Ok(Ok(())) => None,
        Ok(Err(e)) => Some(e.to_string()),
        Err(_) => Some("no answer within 5 s".to_owned()),
    };
    // A key that never exists: "not found" is a healthy answer.
    let storage = match tokio::time::timeout(PROBE, s.registry.probe_blobs()).await {
        Ok(Ok(())) => None,
        Ok(Err(e)) => Some(e.to_string()),
        Err(_) => Some("no answer within 5 s".to_owned()),
    };
    let mut down = Vec::new();
    for (name, problem) in [("database", &database), ("storage", &storage)] {
        if let Some(p) = problem {
            tracing::warn!(dependency = name, problem = %p, "health: a dependency is down");
            down.push(name);
        }
    }
    let state = |p: &Option<String>| if p.is_some() { "down" } else { "ok" };
    let body = Json(serde_json::json!({
        "status": if down.is_empty() { "ok" } else { "unavailable" },
        "database": state(&database),
        "storage": state(&storage),
        "down": down,
    }));
    if down.is_empty() {
        return body.into_response();
    }
    let mut r = (StatusCode::SERVICE_UNAVAILABLE, body).into_response();
    r.headers_mut()
        .insert(header::RETRY_AFTER, HeaderValue::from(5u64));
    r
}

pub(crate) async fn metrics(State(s): State<AppState>) -> impl IntoResponse {
    (
        [(header::CONTENT_TYPE, "text/plain; version=0.0.4")],
        s.metrics.render(),
    )
}

pub(crate) async fn not_found() -> ApiError {
    ApiError(Error::NotFound("not found".into()))
}

pub(crate) async fn service_index(State(s): State<AppState>) -> impl IntoResponse {
    let mut index = documents::service_index(&s.base);
    super::signing::extend_service_index(&s, &mut index);
    super::staples::extend_service_index(&s, &mut index);
    super::tlog::extend_service_index(&s, &mut index);
    Json(index)
}

pub(crate) fn api_key(headers: &HeaderMap) -> Option<&str> {
    headers.get("x-nuget-apikey").and_then(|v| v.to_str().ok())
}

/// Bytes past the limit that are still read (and discarded) before answering 413, so that
/// the client is reading when the response comes instead of seeing a reset connection.
const DRAIN_MAX: u64 = 64 << 20;

/// Where the upload goes: the file until the limit, then nowhere (draining).
struct Sink {
    out: tokio::fs::File,
    written: u64,
    limit: u64,
}

impl Sink {
    /// Writes `chunk`; `false` once the body is over the limit and past the drain allowance.
    async fn write(&mut self, chunk: &[u8]) -> Result<bool> {
        self.written = self.written.saturating_add(chunk.len() as u64);
        if self.written > self.limit {
            return Ok(self.written <= self.limit.saturating_add(DRAIN_MAX));
        }
        self.out
            .write_all(chunk)
            .await
            .map_err(|e| ApiError(Error::io("write the upload", e)))?;
        Ok(true)
    }
}

/// Streams the package (first multipart part, or the raw body) into `file`, at most `limit`
/// bytes, then fsyncs it.
/// [`receive`] within the configured body timeout (`[server] body_timeout_seconds`): a client
/// that trickles its upload cannot hold a connection and an upload file for ever.
pub(crate) async fn receive_in_time(
    s: &AppState,
    req: Request,
    file: std::fs::File,
    limit: u64,
) -> Result<u64> {
    let within = s.limits.body_timeout;
    match tokio::time::timeout(within, receive(req, file, limit)).await {
        Ok(r) => r,
        Err(_) => Err(ApiError(Error::Invalid(format!(
            "the request body was not received within {} seconds",
            within.as_secs()
        )))),
    }
}

/// Reads and drops what a refused client is still sending (at most 8 MiB, for at most
/// 15 s and never longer than the body timeout) before the refusal is answered: a client that
/// cannot read a response while it sends (NuGet clients, signet's own) would otherwise see a
/// connection closed under its upload instead of the 401. Bounded in time well below the
/// body timeout: a client without credentials must not hold a connection for ten minutes by
/// trickling a body (one on a slow link sees the connection closed instead, as before).
async fn drain_before_refusing(s: &AppState, req: Request) {
    const DRAIN_MAX: usize = 8 << 20;
    const DRAIN_TIME: std::time::Duration = std::time::Duration::from_secs(15);
    let mut body = req.into_body();
    let drain = async {
        let mut read = 0usize;
        while let Some(Ok(frame)) = body.frame().await {
            read = read.saturating_add(frame.data_ref().map_or(0, |d| d.len()));
            if read > DRAIN_MAX {
                break;
            }
        }
    };
    let _ = tokio::time::timeout(s.limits.body_timeout.min(DRAIN_TIME), drain).await;
}

pub(crate) async fn receive(req: Request, file: std::fs::File, limit: u64) -> Result<u64> {
    let mut sink = Sink {
        out: tokio::fs::File::from_std(file),
        written: 0,
        limit,
    };
    let is_multipart = req
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.to_ascii_lowercase().starts_with("multipart/form-data"));
    let multipart_error = |e: axum::extract::multipart::MultipartError| {
        if e.status() == StatusCode::PAYLOAD_TOO_LARGE {
            ApiError(Error::TooLarge { limit })
        } else {
            ApiError(Error::Invalid(format!(
                "invalid multipart body: {}",
                e.body_text()
            )))
        }
    };
    if is_multipart {
        let mut multipart = Multipart::from_request(req, &()).await.map_err(|e| {
            ApiError(Error::Invalid(format!(
                "invalid multipart body: {}",
                e.body_text()
            )))
        })?;
        // NuGet sends one part named `package`; take the first part, whatever its name.
        let mut field = multipart
            .next_field()
            .await
            .map_err(multipart_error)?
            .ok_or_else(|| {
                ApiError(Error::Invalid(
                    "the multipart body has no package part".into(),
                ))
            })?;
        while let Some(chunk) = field.chunk().await.map_err(multipart_error)? {
            if !sink.write(&chunk).await? {
                break;
            }
        }
    } else {
        let mut body = req.into_body();
        while let Some(frame) = body.frame().await {
            let frame = frame
                .map_err(|e| ApiError(Error::Invalid(format!("cannot read the body: {e}"))))?;
            if let Some(data) = frame.data_ref()
                && !sink.write(data).await?
            {
                break;
            }
        }
    }
    if sink.written > limit {
        return Err(ApiError(Error::TooLarge { limit }));
    }
    let mut out = sink.out;
    out.flush()
        .await
        .map_err(|e| ApiError(Error::io("write the upload", e)))?;
    out.sync_all()
        .await
        .map_err(|e| ApiError(Error::io("sync the upload", e)))?;
    if sink.written == 0 {
        return Err(ApiError(Error::Invalid(
            "the request contains no package".into(),
        )));
    }
    Ok(sink.written)
}

/// `PUT /api/v2/package`: 201, or 400/401/403/409/413 with the reason in the status line.
pub(crate) async fn push(State(s): State<AppState>, req: Request) -> Result<Response> {
    let result = push_inner(&s, req).await;
    s.metrics.push(
        result.as_ref().is_ok_and(|(_, n)| *n > 0),
        result.as_ref().map_or(0, |(_, n)| *n),
    );
    let pushed = result?.0;
    if s.registry.staples_on() {
        // Staple the new version's chains now, while its CAs answer (idempotent; a failure
        // is retried by the refresh job and on the first request).
        let registry = std::sync::Arc::clone(&s.registry);
        let (id, version) = (pushed.id.clone(), pushed.version.clone());
        tokio::spawn(async move {
            if let Err(e) = registry.staple_version(&id, &version).await {
                tracing::warn!(%id, %version, error = %e, "stapling failed");
            }
        });
    }
    let message = format!("{} {} was pushed", pushed.id, pushed.version);
    let mut response = with_reason(StatusCode::CREATED, "Created", message.into_response());
    // NuGet clients print X-NuGet-Warning (spec server §2.3: unsigned after signed).
    for w in &pushed.warnings {
        let clean: String = w
            .chars()
            .map(|c| {
                if c.is_ascii_graphic() || c == ' ' {
                    c
                } else {
                    ' '
                }
            })
            .collect();
        if let Ok(v) = HeaderValue::from_str(&clean) {
            response.headers_mut().append("x-nuget-warning", v);
        }
    }
    Ok(response)
}

async fn push_inner(s: &AppState, req: Request) -> Result<(crate::registry::Pushed, u64)> {
    let caller = match s.registry.authenticate(api_key(req.headers())).await {
        Ok(c) => c,
        Err(e) => {
            drain_before_refusing(s, req).await;
            return Err(ApiError(e));
        }
    };
    let upload = s.registry.new_upload()?;
    let file = upload
        .reopen()
        .map_err(|e| ApiError(Error::io("open the upload", e)))?;
    let size = receive_in_time(s, req, file, s.registry.limits().max_package_size).await?;
    let pushed = s.registry.push(&caller, upload.path()).await?;
    Ok((pushed, size))
}

/// `DELETE /api/v2/package/{id}/{version}`: unlist (NuGet.org's delete), 200.
pub(crate) async fn unlist(
    State(s): State<AppState>,
    headers: HeaderMap,
    Path((id, version)): Path<(String, String)>,
) -> Result<Response> {
    let caller = s.registry.authenticate(api_key(&headers)).await?;
    s.registry.set_listed(&caller, &id, &version, false).await?;
    Ok(StatusCode::OK.into_response())
}

/// `POST /api/v2/package/{id}/{version}`: relist, 200.
pub(crate) async fn relist(
    State(s): State<AppState>,
    headers: HeaderMap,
    Path((id, version)): Path<(String, String)>,
) -> Result<Response> {
    let caller = s.registry.authenticate(api_key(&headers)).await?;
    s.registry.set_listed(&caller, &id, &version, true).await?;
    Ok(StatusCode::OK.into_response())
}

/// `GET /v3-flatcontainer/{id}/index.json`: every version, listed or not, lower case.
pub(crate) async fn flat_index(
    State(s): State<AppState>,
    Path(id): Path<String>,
) -> Result<Response> {
    // A mirrored id: what its upstream's policy still lets through.
    let versions = s.registry.served_versions(&id).await?;
    let mut list: Vec<String> = versions.into_iter().map(|v| v.version_lower).collect();
    // Ids without a local owner: what the mirror's upstream lists, merged with what is stored.
    let mut warning = None;
    if let Some(listing) = s.registry.mirror_listing(&id).await? {
        let mut seen: std::collections::HashSet<String> = list.iter().cloned().collect();
        list.extend(
            listing
                .versions
                .into_iter()
                .filter(|v| seen.insert(v.clone())),
        );
        list.sort_by_cached_key(|v| signet_feed::NuGetVersion::parse(v).ok());
        warning = listing.warning;
    }
    if list.is_empty() {
        return Err(nothing_to_serve(&id, warning));
    }
    let response = Json(serde_json::json!({ "versions": list })).into_response();
    Ok(with_stale_warning(response, warning))
}

/// `GET /v3-flatcontainer/{id}/{version}/{id}.{version}.nupkg` and `…/{id}.nuspec`.
pub(crate) async fn flat_file(
    State(s): State<AppState>,
    Path((id, version, file)): Path<(String, String, String)>,
) -> Result<Response> {
    let id_lower = id.to_lowercase();
    let version_lower = version.to_lowercase();
    let file = file.to_lowercase();
    let missing = || ApiError(Error::NotFound(format!("no package {id} {version}")));
    if file == format!("{id_lower}.{version_lower}.nupkg") {
        // A mirrored version its upstream's policy now blocks or denies is not served.
        s.registry.mirror_serve_check(&id, &version).await?;
        let mut body = s.registry.download_package(&id, &version).await?;
        if body.is_none() {
            // Not stored: from the mirror's upstream, if one serves the id (404 otherwise).
            s.registry.mirror_fetch(&id, &version).await?;
            body = s.registry.download_package(&id, &version).await?;
        }
        let body = body.ok_or_else(missing)?;
        let (body, len) = match body {
            BlobBody::Bytes(b) => {
                let len = b.len() as u64;
                (Body::from(b), len)
            }
            BlobBody::File { file, len } => {
                let stream = futures_util::stream::unfold(file, |mut f| async move {
                    let mut buf = vec![0u8; 256 * 1024];
                    match f.read(&mut buf).await {
                        Ok(0) => None,
                        Ok(n) => {
                            buf.truncate(n);
                            Some((Ok::<_, std::io::Error>(buf), f))
                        }
                        Err(e) => Some((Err(e), f)),
                    }
                });
                (Body::from_stream(stream), len)
            }
            BlobBody::Stream { stream, len } => (Body::from_stream(stream), len),
        };
        let mut response = Response::new(body);
        let h = response.headers_mut();
        h.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/octet-stream"),
        );
        h.insert(header::CONTENT_LENGTH, HeaderValue::from(len));
        return Ok(response);
    }
    if file == format!("{id_lower}.nuspec") {
        s.registry.mirror_serve_check(&id, &version).await?;
        let mut bytes = s.registry.nuspec(&id, &version).await?;
        if bytes.is_none() {
            s.registry.mirror_fetch(&id, &version).await?;
            bytes = s.registry.nuspec(&id, &version).await?;
        }
        let bytes = bytes.ok_or_else(missing)?;
        return Ok(([(header::CONTENT_TYPE, "application/xml")], bytes).into_response());
    }
    Err(missing())
}

/// `GET /v3/registration/{id}/index.json` and the leaves `…/{version}.json`.
pub(crate) async fn registration(
    State(s): State<AppState>,
    Path((id, leaf)): Path<(String, String)>,
) -> Result<Response> {
    if leaf == "index.json" {
        // A mirrored id: the versions its upstream's policy still lets through.
        let mut versions = s.registry.served_versions(&id).await?;
        let stored: std::collections::HashSet<String> =
            versions.iter().map(|v| v.version_lower.clone()).collect();
        // Ids without a local owner: the upstream's versions not stored yet, too.
        let upstream = s.registry.mirror_registration(&id, &stored).await?;
        if !upstream.versions.is_empty() {
            versions.extend(upstream.versions);
            versions.sort_by_cached_key(|r| signet_feed::NuGetVersion::parse(&r.version).ok());
        }
        if versions.is_empty() {
            return Err(nothing_to_serve(&id, upstream.warning));
        }
        let response = Json(documents::registration_index(&s.base, &versions)).into_response();
        return Ok(with_stale_warning(response, upstream.warning));
    }
    let version = leaf
        .strip_suffix(".json")
        .ok_or_else(|| ApiError(Error::NotFound("not found".into())))?;
    let row = match s.registry.served_version(&id, version).await? {
        Some(row) => row,
        None => {
            // An upstream version not stored yet.
            let wanted = signet_feed::NuGetVersion::parse(version).map(|v| v.lower());
            let upstream = s
                .registry
                .mirror_registration(&id, &std::collections::HashSet::new())
                .await?;
            match upstream
                .versions
                .into_iter()
                .find(|r| wanted.as_ref().is_ok_and(|w| *w == r.version_lower))
            {
                Some(row) => row,
                None => {
                    return Err(nothing_to_serve(
                        &format!("{id} {version}"),
                        upstream.warning,
                    ));
                }
            }
        }
    };
    let mut leaf = documents::registration_leaf(&s.base, &row);
    if let (Some(url), Some(obj)) = (
        super::tlog::proof_url(&s, &row.package_id, &row.version),
        leaf.as_object_mut(),
    ) {
        // signet's extension: the version's inclusion proof (c2sp.org/tlog-proof).
        obj.insert("signet:transparencyLogProof".into(), url.into());
    }
    Ok(Json(leaf).into_response())
}

/// Nothing stored to serve: a 502 naming the upstream's failure when there was one (a client
/// with several sources takes a 404 as "look elsewhere", which an outage is not), else 404.
fn nothing_to_serve(what: &str, upstream_failure: Option<String>) -> ApiError {
    ApiError(match upstream_failure {
        Some(w) => Error::Upstream(crate::mirror::UpstreamError {
            kind: crate::mirror::FailureKind::Unreachable,
            code: None,
            message: w,
        }),
        None => Error::NotFound(format!("no package {what}")),
    })
}

/// RFC 7234 warn-code 110 "Response is Stale" when the upstream failed and what it listed
/// last (or only what is mirrored) is served; the text made header-safe.
fn with_stale_warning(mut response: Response, warning: Option<String>) -> Response {
    if let Some(w) = warning {
        let text: String = w
            .chars()
            .map(|c| {
                if c.is_ascii_graphic() || c == ' ' {
                    c
                } else {
                    '?'
                }
            })
            .filter(|c| *c != '"' && *c != '\\')
            .take(300)
            .collect();
        if let Ok(v) = HeaderValue::from_str(&format!("110 signet \"{text}\"")) {
            response.headers_mut().insert(header::WARNING, v);
        }
    }
    response
}

fn flag(q: &HashMap<String, String>, name: &str) -> bool {
    q.get(name).is_some_and(|v| v.eq_ignore_ascii_case("true"))
}

fn number(q: &HashMap<String, String>, name: &str, default: usize, max: usize) -> usize {
    q.get(name)
        .and_then(|v| v.parse::<usize>().ok())
        .unwrap_or(default)
        .min(max)
}

fn filter(q: &HashMap<String, String>) -> VersionFilter {
    VersionFilter {
        prerelease: flag(q, "prerelease"),
        semver2: q
            .get("semVerLevel")
            .is_some_and(|v| v.split('.').next().and_then(|m| m.parse::<u32>().ok()) >= Some(2)),
    }
}

/// `GET /v3/query?q=&skip=&take=&prerelease=&semVerLevel=` (§6.5).
pub(crate) async fn search(
    State(s): State<AppState>,
    Query(q): Query<HashMap<String, String>>,
) -> Result<Response> {
    let skip = number(&q, "skip", 0, 3000);
    let take = number(&q, "take", 20, 1000);
    let page = s
        .registry
        .search(
            q.get("q").map_or("", String::as_str),
            filter(&q),
            skip,
            take,
        )
        .await?;
    Ok(Json(documents::search(&s.base, &page)).into_response())
}

/// `GET /v3/autocomplete?q=…` (ids) or `?id=…` (versions) (§6.6).
pub(crate) async fn autocomplete(
    State(s): State<AppState>,
    Query(q): Query<HashMap<String, String>>,
) -> Result<Response> {
    let filter = filter(&q);
    if let Some(id) = q.get("id") {
        let versions = s.registry.listed_versions(id, filter).await?;
        let data: Vec<&str> = versions.iter().map(|v| v.version.as_str()).collect();
        return Ok(Json(serde_json::json!({ "data": data })).into_response());
    }
    let skip = number(&q, "skip", 0, 3000);
    let take = number(&q, "take", 20, 1000);
    let page = s
        .registry
        .search(q.get("q").map_or("", String::as_str), filter, skip, take)
        .await?;
    let data: Vec<&str> = page
        .hits
        .iter()
        .filter_map(|h| h.versions.last().map(|v| v.package_id.as_str()))
        .collect();
    Ok(Json(serde_json::json!({ "totalHits": page.total, "data": data })).into_response())
}
