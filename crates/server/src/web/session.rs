//! Browser sessions: a random 256-bit token in a cookie, its SHA-256 in the `sessions` table,
//! idle and absolute expiry, and the extractors pages use to know who is signed in.

use axum::Json;
use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use axum::response::{IntoResponse, Response};
use sqlx::Row as _;

use super::{Nav, WebError, csrf, see_other};
use crate::Error;
use crate::app::AppState;
use crate::clock::random_hex;
use crate::db::Db;

/// The session cookie.
pub(crate) const SESSION_COOKIE: &str = "signet_session";
/// A session ends after this long without a request (12 hours).
pub(crate) const IDLE_MICROS: i64 = 12 * 3600 * 1_000_000;
/// A session ends this long after sign-in, however busy (7 days).
pub(crate) const ABSOLUTE_MICROS: i64 = 7 * 86_400 * 1_000_000;
/// A half-finished sign-in (password right, second factor awaited) lasts 10 minutes.
pub(crate) const PENDING_MICROS: i64 = 10 * 60 * 1_000_000;
/// `last_seen_at` is written at most once a minute per session.
const TOUCH_MICROS: i64 = 60 * 1_000_000;

/// A session row joined with its user.
#[derive(Clone, Debug)]
pub(crate) struct SessionRow {
    pub(crate) user_id: i64,
    pub(crate) user_name: String,
    pub(crate) last_seen_at: i64,
    pub(crate) expires_at: i64,
    pub(crate) two_factor: bool,
    pub(crate) pending: bool,
    pub(crate) site_admin: bool,
}

impl Db {
    /// Stores a new session (its token's digest only).
    pub(crate) async fn insert_session(
        &self,
        token_hash: &str,
        user_id: i64,
        now: i64,
        expires_at: i64,
        two_factor: bool,
        pending: bool,
    ) -> Result<(), Error> {
        sqlx::query(
            "INSERT INTO sessions (token_hash, user_id, created_at, last_seen_at, expires_at, \
             two_factor, pending) VALUES ($1, $2, $3, $3, $4, $5, $6)",
        )
        .bind(token_hash)
        .bind(user_id)
        .bind(now)
        .bind(expires_at)
        .bind(i64::from(two_factor))
        .bind(i64::from(pending))
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// The session with this digest.
    pub(crate) async fn find_session(&self, token_hash: &str) -> Result<Option<SessionRow>, Error> {
        let row = sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT s.user_id, a.name, s.last_seen_at, s.expires_at, s.two_factor, s.pending, \
             (SELECT COUNT(*) FROM site_admins sa WHERE sa.user_id = s.user_id) AS site_admin \
             FROM sessions s JOIN accounts a ON a.id = s.user_id WHERE s.token_hash = $1 \
             AND {}",
            crate::lifecycle::NOT_DISABLED
        )))
        .bind(token_hash)
        .fetch_optional(&self.pool)
        .await?;
        let Some(r) = row else { return Ok(None) };
        Ok(Some(SessionRow {
            user_id: r.try_get("user_id")?,
            user_name: r.try_get("name")?,
            last_seen_at: r.try_get("last_seen_at")?,
            expires_at: r.try_get("expires_at")?,
            two_factor: r.try_get::<i64, _>("two_factor")? != 0,
            pending: r.try_get::<i64, _>("pending")? != 0,
            site_admin: r.try_get::<i64, _>("site_admin")? != 0,
        }))
    }

    /// Ends every session of `user` but the one with `keep` (its token digest).
    pub(crate) async fn delete_other_sessions(&self, user: i64, keep: &str) -> Result<(), Error> {
        sqlx::query("DELETE FROM sessions WHERE user_id = $1 AND token_hash <> $2")
            .bind(user)
            .bind(keep)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    /// Records activity on a session.
    pub(crate) async fn touch_session(&self, token_hash: &str, now: i64) -> Result<(), Error> {
        sqlx::query("UPDATE sessions SET last_seen_at = $1 WHERE token_hash = $2")
            .bind(now)
            .bind(token_hash)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    /// Marks a session as having passed a second factor.
    pub(crate) async fn set_session_two_factor(&self, token_hash: &str) -> Result<(), Error> {
        sqlx::query("UPDATE sessions SET two_factor = 1 WHERE token_hash = $1")
            .bind(token_hash)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    /// Deletes a session (sign-out, or found expired).
    pub(crate) async fn delete_session(&self, token_hash: &str) -> Result<(), Error> {
        sqlx::query("DELETE FROM sessions WHERE token_hash = $1")
            .bind(token_hash)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    /// Deletes every session past its absolute or idle expiry.
    pub(crate) async fn delete_expired_sessions(&self, now: i64) -> Result<(), Error> {
        sqlx::query("DELETE FROM sessions WHERE expires_at <= $1 OR last_seen_at <= $2")
            .bind(now)
            .bind(now.saturating_sub(IDLE_MICROS))
            .execute(&self.pool)
            .await?;
        Ok(())
    }
}

/// SHA-256 of a token, hex: what the database keeps.
pub(crate) fn token_hash(token: &str) -> String {
    hex::encode(aws_lc_rs::digest::digest(
        &aws_lc_rs::digest::SHA256,
        token.as_bytes(),
    ))
}

/// The value of cookie `name`, if the request sends it.
pub(crate) fn cookie(headers: &HeaderMap, name: &str) -> Option<String> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v.trim().to_owned())
        .filter(|v| !v.is_empty())
}

/// A `Set-Cookie` value: `HttpOnly; SameSite=Lax; Path=/`, `Secure` on https. Max-Age is
/// relative, so the browser's own clock does not matter.
pub(crate) fn set_cookie(s: &AppState, name: &str, value: &str, max_age_secs: i64) -> HeaderValue {
    let secure = if s.base.starts_with("https://") {
        "; Secure"
    } else {
        ""
    };
    HeaderValue::from_str(&format!(
        "{name}={value}; Max-Age={max_age_secs}; Path=/; HttpOnly; SameSite=Lax{secure}"
    ))
    .unwrap_or_else(|_| HeaderValue::from_static(""))
}

/// Starts a session for `user_id` and returns its `Set-Cookie` value. A pending session (the
/// password was right, the second factor is awaited) signs nobody in until it is replaced.
pub(crate) async fn start(
    s: &AppState,
    user_id: i64,
    two_factor: bool,
    pending: bool,
) -> Result<HeaderValue, Error> {
    let r = &s.registry;
    let token = random_hex(r.rng.as_ref(), 32)?;
    let now = r.clock.now().unix_micros();
    let lifetime = if pending {
        PENDING_MICROS
    } else {
        ABSOLUTE_MICROS
    };
    r.db.delete_expired_sessions(now).await?;
    r.db.insert_session(
        &token_hash(&token),
        user_id,
        now,
        now.saturating_add(lifetime),
        two_factor,
        pending,
    )
    .await?;
    Ok(set_cookie(s, SESSION_COOKIE, &token, lifetime / 1_000_000))
}

/// Ends the request's session (if any) and returns the `Set-Cookie` value that clears it.
pub(crate) async fn end(s: &AppState, headers: &HeaderMap) -> Result<HeaderValue, Error> {
    if let Some(token) = cookie(headers, SESSION_COOKIE) {
        s.registry.db.delete_session(&token_hash(&token)).await?;
    }
    Ok(set_cookie(s, SESSION_COOKIE, "", 0))
}

/// The request's session row if it is live (not expired, not idle too long); expired ones
/// are deleted. Returns the token digest with the row.
pub(crate) async fn lookup(
    s: &AppState,
    headers: &HeaderMap,
) -> Result<Option<(String, SessionRow)>, Error> {
    let Some(token) = cookie(headers, SESSION_COOKIE) else {
        return Ok(None);
    };
    let hash = token_hash(&token);
    let db = &s.registry.db;
    let Some(row) = db.find_session(&hash).await? else {
        return Ok(None);
    };
    let now = s.registry.clock.now().unix_micros();
    if row.expires_at <= now || row.last_seen_at.saturating_add(IDLE_MICROS) <= now {
        db.delete_session(&hash).await?;
        return Ok(None);
    }
    if now.saturating_sub(row.last_seen_at) >= TOUCH_MICROS {
        db.touch_session(&hash, now).await?;
    }
    Ok(Some((hash, row)))
}

/// The signed-in user of a request (an extractor; see the module documentation).
#[derive(Clone, Debug)]
pub struct SignedIn {
    /// The user's row id.
    pub user_id: i64,
    /// The user's name.
    pub user_name: String,
    /// Whether this session passed a second factor (TOTP or a recovery code).
    pub two_factor: bool,
    /// The session token's digest (its `sessions` row).
    pub(crate) token_hash: String,
    /// Whether the user is a site administrator.
    pub(crate) site_admin: bool,
    csrf: String,
}

impl SignedIn {
    /// The CSRF token for this session's forms (the hidden `csrf` field).
    pub fn csrf(&self) -> &str {
        &self.csrf
    }

    /// Checks a submitted CSRF token; a mismatch is the 403 page.
    pub fn verify_csrf(&self, submitted: &str) -> Result<(), WebError> {
        if csrf::matches(&self.csrf, submitted) {
            Ok(())
        } else {
            Err(csrf::refused())
        }
    }

    /// The layout header for this user.
    pub fn nav(&self) -> Nav {
        Nav {
            user: Some(self.user_name.clone()),
            csrf: self.csrf.clone(),
            site_admin: self.site_admin,
        }
    }

    async fn from_headers(s: &AppState, headers: &HeaderMap) -> Result<Option<Self>, Error> {
        let Some(token) = cookie(headers, SESSION_COOKIE) else {
            return Ok(None);
        };
        match lookup(s, headers).await? {
            Some((hash, row)) if !row.pending => Ok(Some(Self {
                user_id: row.user_id,
                user_name: row.user_name,
                two_factor: row.two_factor,
                token_hash: hash,
                site_admin: row.site_admin,
                csrf: csrf::token_for(&token),
            })),
            _ => Ok(None),
        }
    }
}

/// Where to send someone who must sign in first.
fn signin_redirect(parts: &Parts) -> Response {
    if parts.method == Method::GET || parts.method == Method::HEAD {
        let next = parts
            .uri
            .path_and_query()
            .map_or("/", |p| p.as_str())
            .to_owned();
        let next: String = serde_urlencoded::to_string([("next", next.as_str())])
            .unwrap_or_else(|_| "next=%2F".into());
        see_other(&format!("/signin?{next}"))
    } else {
        WebError::new(
            StatusCode::UNAUTHORIZED,
            "Not signed in",
            "Your session has ended. Sign in again, then repeat what you were doing.",
        )
        .with_link("/signin", "Sign in")
        .into_response()
    }
}

impl FromRequestParts<AppState> for SignedIn {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, s: &AppState) -> Result<Self, Response> {
        match Self::from_headers(s, &parts.headers).await {
            Ok(Some(user)) => Ok(user),
            Ok(None) => Err(signin_redirect(parts)),
            Err(e) => Err(WebError::from(e).into_response()),
        }
    }
}

/// The signed-in user, if any (public pages).
#[derive(Clone, Debug)]
pub struct MaybeSignedIn(pub Option<SignedIn>);

impl MaybeSignedIn {
    /// The layout header.
    pub fn nav(&self) -> Nav {
        self.0.as_ref().map_or_else(Nav::anonymous, SignedIn::nav)
    }
}

impl FromRequestParts<AppState> for MaybeSignedIn {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, s: &AppState) -> Result<Self, Response> {
        SignedIn::from_headers(s, &parts.headers)
            .await
            .map(Self)
            .map_err(|e| WebError::from(e).into_response())
    }
}

/// A signed-in user whose session passed a second factor if the user has two-factor sign-in
/// on (API key creation, owner changes): a session from before it was turned on, or one that
/// skipped it, is refused with 403 and the reason.
#[derive(Clone, Debug)]
pub struct TwoFactorIfEnabled(pub SignedIn);

impl FromRequestParts<AppState> for TwoFactorIfEnabled {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, s: &AppState) -> Result<Self, Response> {
        let user = SignedIn::from_request_parts(parts, s).await?;
        if user.two_factor {
            return Ok(Self(user));
        }
        match s.registry.db.totp_enabled(user.user_id).await {
            Ok(false) => Ok(Self(user)),
            Ok(true) => Err(WebError::new(
                StatusCode::FORBIDDEN,
                "Two-factor authentication required",
                "This needs a sign-in with two-factor authentication, and this session signed \
                 in without it. Sign out and sign in again with your authenticator code.",
            )
            .into_response()),
            Err(e) => Err(WebError::from(e).into_response()),
        }
    }
}

/// A signed-in user whose session passed a second factor. Without one the request is refused
/// with 403, the reason, and a link to `/account/2fa`: a page, or the server's JSON error
/// shape when the caller accepts JSON and not HTML.
#[derive(Clone, Debug)]
pub struct RequireTwoFactor(pub SignedIn);

impl FromRequestParts<AppState> for RequireTwoFactor {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, s: &AppState) -> Result<Self, Response> {
        let user = SignedIn::from_request_parts(parts, s).await?;
        if user.two_factor {
            return Ok(Self(user));
        }
        let enabled = match s.registry.db.totp_enabled(user.user_id).await {
            Ok(e) => e,
            Err(e) => return Err(WebError::from(e).into_response()),
        };
        let message = if enabled {
            "This needs a sign-in with two-factor authentication, and this session signed in \
             without it. Sign out and sign in again with your authenticator code."
        } else {
            "This needs two-factor authentication. Turn it on at /account/2fa, then try again."
        };
        let wants_json = parts
            .headers
            .get(header::ACCEPT)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|a| a.contains("application/json") && !a.contains("text/html"));
        if wants_json {
            let body = Json(serde_json::json!({
                "error": { "status": 403, "message": message, "twoFactorUrl": "/account/2fa" }
            }));
            return Err((StatusCode::FORBIDDEN, body).into_response());
        }
        Err(WebError::new(
            StatusCode::FORBIDDEN,
            "Two-factor authentication required",
            message,
        )
        .with_link("/account/2fa", "Two-factor authentication settings")
        .into_response())
    }
}
