//! Browser sessions on the web side: the cookie that carries the token, and the extractors
//! pages use to know who is signed in. The sessions themselves (a random 256-bit token, its
//! SHA-256 in the `sessions` table, idle and absolute expiry) are the registry's
//! (`accounts/sessions.rs`, `registry/sessions.rs`).

use axum::Json;
use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use axum::response::{IntoResponse, Response};

use super::{Nav, WebError, csrf, see_other};
use crate::Error;
use crate::accounts::sessions::{NewSession, SessionRow};
use crate::app::AppState;

/// The session cookie.
pub(crate) const SESSION_COOKIE: &str = "signet_session";

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

/// The `Set-Cookie` value that carries a session just started.
pub(crate) fn session_cookie(s: &AppState, session: &NewSession) -> HeaderValue {
    set_cookie(s, SESSION_COOKIE, &session.token, session.max_age_secs)
}

/// Starts a session for `user_id` and returns its `Set-Cookie` value. A pending session (the
/// password was right, the second factor is awaited) signs nobody in until it is replaced.
pub(crate) async fn start(
    s: &AppState,
    user_id: i64,
    two_factor: bool,
    pending: bool,
) -> Result<HeaderValue, Error> {
    let session = s
        .registry
        .start_session(user_id, two_factor, pending)
        .await?;
    Ok(session_cookie(s, &session))
}

/// Ends the request's session (if any) and returns the `Set-Cookie` value that clears it.
pub(crate) async fn end(s: &AppState, headers: &HeaderMap) -> Result<HeaderValue, Error> {
    if let Some(token) = cookie(headers, SESSION_COOKIE) {
        s.registry.end_session(&token).await?;
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
    s.registry.live_session(&token).await
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
        match s.registry.two_factor_enabled(user.user_id).await {
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
        let enabled = match s.registry.two_factor_enabled(user.user_id).await {
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
