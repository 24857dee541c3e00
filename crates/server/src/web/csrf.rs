//! Cross-site request forgery protection. A form's token is an HMAC of the session token
//! (or, before sign-in, of a random pre-session cookie: the double-submit pattern, so that
//! nobody can sign a visitor in to the attacker's account either). A cross-site page can
//! neither read the cookie nor compute the token; nothing extra is stored.

use axum::body::Body;
use axum::extract::Request;
use axum::http::{HeaderMap, Method, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use super::WebError;
use super::session::{SESSION_COOKIE, cookie};

/// The pre-session cookie (forms shown before sign-in).
pub(crate) const PRE_COOKIE: &str = "signet_pre";

/// The largest urlencoded form body the check reads (forms here are a few hundred bytes).
const FORM_MAX: usize = 64 * 1024;

/// The form token for a session (or pre-session) token.
pub(crate) fn token_for(secret: &str) -> String {
    let key = aws_lc_rs::hmac::Key::new(aws_lc_rs::hmac::HMAC_SHA256, secret.as_bytes());
    hex::encode(aws_lc_rs::hmac::sign(&key, b"signet web form token v1"))
}

/// The token the request's forms must carry: the session's if a session cookie is sent,
/// else the pre-session cookie's.
pub(crate) fn expected(headers: &HeaderMap) -> Option<String> {
    cookie(headers, SESSION_COOKIE)
        .or_else(|| cookie(headers, PRE_COOKIE))
        .map(|t| token_for(&t))
}

/// Constant-time comparison of two tokens.
pub(crate) fn matches(expected: &str, submitted: &str) -> bool {
    !expected.is_empty()
        && aws_lc_rs::constant_time::verify_slices_are_equal(
            expected.as_bytes(),
            submitted.trim().as_bytes(),
        )
        .is_ok()
}

/// The 403 page for a missing or wrong token.
pub(crate) fn refused() -> WebError {
    WebError::new(
        StatusCode::FORBIDDEN,
        "Request refused",
        "The form's security token is missing or does not match your session, so nothing was \
         changed. This happens when a form is sent from another site, or after you signed in \
         or out in another tab. Go back, reload the page and try again.",
    )
}

/// Middleware: every request other than GET, HEAD and OPTIONS must carry the token, in an
/// `X-CSRF-Token` header or the `csrf` field of an urlencoded body (read here, up to 64 KiB,
/// and handed on unchanged); otherwise 403. Fails closed: any other body needs the header.
pub async fn require_csrf(req: Request, next: Next) -> Response {
    if matches!(*req.method(), Method::GET | Method::HEAD | Method::OPTIONS) {
        return next.run(req).await;
    }
    let Some(expected) = expected(req.headers()) else {
        return refused().into_response();
    };
    if let Some(h) = req
        .headers()
        .get("x-csrf-token")
        .and_then(|v| v.to_str().ok())
    {
        return if matches(&expected, h) {
            next.run(req).await
        } else {
            refused().into_response()
        };
    }
    let is_form = req
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| {
            v.to_ascii_lowercase()
                .starts_with("application/x-www-form-urlencoded")
        });
    if !is_form {
        return refused().into_response();
    }
    let (parts, body) = req.into_parts();
    let Ok(bytes) = axum::body::to_bytes(body, FORM_MAX).await else {
        return WebError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "Form too large",
            "The form is larger than this server accepts.",
        )
        .into_response();
    };
    let fields: Vec<(String, String)> = serde_urlencoded::from_bytes(&bytes).unwrap_or_default();
    let ok = fields
        .iter()
        .find(|(k, _)| k == "csrf")
        .is_some_and(|(_, v)| matches(&expected, v));
    if !ok {
        return refused().into_response();
    }
    next.run(Request::from_parts(parts, Body::from(bytes)))
        .await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens() {
        let a = token_for("session-a");
        assert_eq!(a, token_for("session-a"));
        assert_ne!(a, token_for("session-b"));
        assert!(matches(&a, &a));
        assert!(!matches(&a, &token_for("session-b")));
        assert!(!matches(&a, ""));
        assert!(!matches("", ""));
    }
}
