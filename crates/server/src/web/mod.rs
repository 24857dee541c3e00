//! The server's web pages, rendered on the server (askama templates under `templates/`, HTML
//! auto-escaped; no JavaScript): home and search, package pages with owner management, the
//! account page (API keys, organizations), sign-in and sign-out, and two-factor sign-in
//! (TOTP, RFC 6238) with recovery codes.
//!
//! # Building a page on this framework
//!
//! - **Who is signed in.** [`SignedIn`] is an extractor: the user's id and name, and
//!   whether this session passed a second factor (`two_factor`). A GET without a valid
//!   session is redirected to `/signin?next=…`; other methods get a 401 page. [`MaybeSignedIn`]
//!   never refuses (public pages). [`RequireTwoFactor`] is [`SignedIn`] that also needs a
//!   session that passed 2FA, and otherwise answers 403 with the reason and a link to
//!   `/account/2fa` (JSON for API callers that ask for it).
//! - **CSRF.** Every form carries a hidden `csrf` field with [`SignedIn::csrf`] (the layout's
//!   sign-out form shows how). Routes under [`routes`] pass [`require_csrf`]: a non-GET/HEAD
//!   request needs that token in its urlencoded `csrf` field or an `X-CSRF-Token` header, or
//!   it is refused with a 403 page. A route outside that router, or one whose body is not
//!   urlencoded (multipart uploads), calls [`SignedIn::verify_csrf`] itself — or put the
//!   token in the `X-CSRF-Token` header. The token is an HMAC of the session token, so
//!   nothing extra is stored.
//! - **Templates.** A page template starts with `{% extends "layout.html" %}`, fills
//!   `{% block title %}` and `{% block content %}`, and its struct has a `nav: Nav` field
//!   ([`SignedIn::nav`], [`Nav::anonymous`]). [`render`] turns a template into a response (a
//!   500 page if rendering fails).
//! - **Errors.** [`WebError`] is the HTML error page; every [`Error`] converts into it with the
//!   status [`Error::status`] gives (a 500's cause is logged, the page stays generic).
//!
//! Sessions (`sessions` table): a random 256-bit token in an `HttpOnly; SameSite=Lax; Path=/`
//! cookie (`Secure` when the public URL is https); only its SHA-256 is stored; idle and
//! absolute expiry; signing out deletes the row. Sign-in failures are limited per client
//! address and per user name ([`ratelimit`]); argon2 runs off the async workers.

mod account;
mod admin;
mod csrf;
mod pages;
mod session;
mod signing;
mod totp;
mod twofactor;

use askama::Template;
use axum::Router;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{Html, IntoResponse, Response};
use axum::routing::{get, post};

use crate::Error;
use crate::app::AppState;
// Shared with `http` (sign-in limits on Basic credentials), so they live in `app`.
use crate::app::flash;

pub use crate::app::WebState;
pub(crate) use account::{attempt_succeeded, client_ip, count_attempt, limit_keys};
pub use csrf::require_csrf;
pub use session::{MaybeSignedIn, RequireTwoFactor, SignedIn, TwoFactorIfEnabled};

/// The user of the request's live, fully signed-in session (not one pending a second
/// factor), for the private-feed check (`http/access.rs`): a signed-in browser may read.
pub(crate) async fn session_user(
    s: &AppState,
    headers: &axum::http::HeaderMap,
) -> Result<Option<i64>, Error> {
    Ok(session::lookup(s, headers)
        .await?
        .filter(|(_, row)| !row.pending)
        .map(|(_, row)| row.user_id))
}

/// Whether the request carries a session cookie (live or not).
pub(crate) fn has_session_cookie(headers: &axum::http::HeaderMap) -> bool {
    session::cookie(headers, session::SESSION_COOKIE).is_some()
}

/// What the layout shows in its header: who is signed in, and the token for its sign-out form.
#[derive(Clone, Debug, Default)]
pub struct Nav {
    /// The signed-in user's name.
    pub user: Option<String>,
    /// The CSRF token for forms on the page (empty when nobody is signed in).
    pub csrf: String,
    /// Whether the user is a site administrator (the header links to `/admin/signing`).
    pub site_admin: bool,
}

impl Nav {
    /// The header for a visitor who is not signed in.
    pub fn anonymous() -> Self {
        Self::default()
    }
}

/// The web routes (merged into the application router).
pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/", get(pages::home))
        .route("/static/site.css", get(pages::stylesheet))
        .route("/packages/{id}", get(pages::package))
        .route("/packages/{id}/{version}", get(pages::package_version))
        .route("/packages/{id}/owners", post(pages::add_owner))
        .route("/packages/{id}/owners/remove", post(pages::remove_owner))
        .route("/packages/{id}/{version}/listing", post(pages::set_listing))
        .route("/signin", get(account::signin_page).post(account::signin))
        .route("/signout", post(account::signout))
        .route("/account", get(account::account_page))
        .route("/account/owner-requests", post(pages::answer_owner_request))
        .route(
            "/account/certificates",
            get(signing::own_certificates).post(signing::add_own),
        )
        .route(
            "/account/certificates/{fingerprint}",
            axum::routing::delete(signing::delete_own_api),
        )
        .route(
            "/account/certificates/{fingerprint}/delete",
            post(signing::delete_own_form),
        )
        .route(
            "/organization/{name}/certificates",
            get(signing::org_certificates).post(signing::add_org),
        )
        .route(
            "/organization/{name}/certificates/{fingerprint}",
            axum::routing::delete(signing::delete_org_api),
        )
        .route(
            "/organization/{name}/certificates/{fingerprint}/delete",
            post(signing::delete_org_form),
        )
        .route(
            "/packages/{id}/required-signer",
            post(signing::set_required_signer),
        )
        .route("/admin/signing", get(signing::admin_page))
        .route("/admin/audit", get(admin::audit_page))
        .route("/account/api-keys", post(account::create_key))
        .route("/account/api-keys/{key}/revoke", post(account::revoke_key))
        .merge(twofactor::routes())
        .layer(axum::middleware::from_fn(require_csrf))
        // Browser uploads are multipart, which the layer above cannot read: these handlers
        // check the form's `csrf` field themselves (the API routes above need the header).
        .route("/account/certificates/upload", post(signing::add_own))
        .route(
            "/organization/{name}/certificates/upload",
            post(signing::add_org),
        )
        .layer(axum::middleware::map_response(page_headers))
}

/// Headers on every web response: no caching (pages show secrets and per-user state), a
/// strict content security policy (no scripts, same-origin styles and forms, no framing).
async fn page_headers(mut response: Response) -> Response {
    let h = response.headers_mut();
    if !h.contains_key(header::CACHE_CONTROL) {
        h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    }
    h.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(
            "default-src 'none'; style-src 'self'; img-src 'self'; form-action 'self'; \
             frame-ancestors 'none'; base-uri 'none'",
        ),
    );
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    h.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("same-origin"),
    );
    response
}

/// Renders `template` as an HTML 200 response (a 500 page if rendering fails).
pub fn render<T: Template>(template: &T) -> Response {
    render_status(StatusCode::OK, template)
}

/// Renders `template` with `status`.
pub fn render_status<T: Template>(status: StatusCode, template: &T) -> Response {
    match template.render() {
        Ok(html) => (status, Html(html)).into_response(),
        Err(e) => {
            tracing::error!(error = %e, "template rendering failed");
            WebError::new(
                StatusCode::INTERNAL_SERVER_ERROR,
                "Server error",
                "Something went wrong on the server.",
            )
            .into_response()
        }
    }
}

/// A 303 redirect to a local path (after a form post).
pub(crate) fn see_other(location: &str) -> Response {
    let mut r = StatusCode::SEE_OTHER.into_response();
    if let Ok(v) = HeaderValue::from_str(location) {
        r.headers_mut().insert(header::LOCATION, v);
    }
    r
}

#[derive(Template)]
#[template(path = "error.html")]
struct ErrorPage<'a> {
    nav: Nav,
    status: u16,
    title: &'a str,
    message: &'a str,
    link: Option<(&'a str, &'a str)>,
}

/// The HTML error page: a status, a title and a message, optionally a link onwards.
#[derive(Debug)]
pub struct WebError {
    status: StatusCode,
    title: String,
    message: String,
    link: Option<(String, String)>,
    retry_after: Option<u64>,
}

impl WebError {
    /// An error page.
    pub fn new(status: StatusCode, title: &str, message: &str) -> Self {
        Self {
            status,
            title: title.to_owned(),
            message: message.to_owned(),
            link: None,
            retry_after: None,
        }
    }

    /// Adds a link (`href`, text) below the message.
    pub fn with_link(mut self, href: &str, text: &str) -> Self {
        self.link = Some((href.to_owned(), text.to_owned()));
        self
    }

    /// The status code.
    pub fn status(&self) -> StatusCode {
        self.status
    }
}

impl From<Error> for WebError {
    fn from(e: Error) -> Self {
        let status = StatusCode::from_u16(e.status()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        let retry_after = match &e {
            Error::TooManyRequests { retry_after_secs } => Some(*retry_after_secs),
            _ => None,
        };
        let (title, message) = match &e {
            Error::TooManyRequests { retry_after_secs } => (
                "Too many attempts",
                format!(
                    "Too many failed attempts. Try again in {}.",
                    wait_text(*retry_after_secs)
                ),
            ),
            _ if status.is_server_error() => {
                tracing::error!(error = %e, "web request failed");
                ("Server error", "Something went wrong on the server.".into())
            }
            Error::NotFound(_) => ("Not found", e.to_string()),
            Error::Unauthorized(_) => ("Not signed in", e.to_string()),
            Error::Forbidden(_) => ("Not allowed", e.to_string()),
            Error::Conflict(_) => ("Not possible", e.to_string()),
            _ => ("Request refused", e.to_string()),
        };
        Self {
            status,
            title: title.into(),
            message,
            link: None,
            retry_after,
        }
    }
}

/// "N minutes" or "N seconds".
pub(crate) fn wait_text(secs: u64) -> String {
    if secs >= 90 {
        format!("{} minutes", secs.div_ceil(60))
    } else {
        format!("{secs} seconds")
    }
}

impl IntoResponse for WebError {
    fn into_response(self) -> Response {
        let page = ErrorPage {
            nav: Nav::anonymous(),
            status: self.status.as_u16(),
            title: &self.title,
            message: &self.message,
            link: self
                .link
                .as_ref()
                .map(|(href, text)| (href.as_str(), text.as_str())),
        };
        let mut response = match page.render() {
            Ok(html) => (self.status, Html(html)).into_response(),
            Err(_) => (self.status, self.message).into_response(),
        };
        if let Some(secs) = self.retry_after {
            response
                .headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from(secs));
        }
        response
    }
}

/// Microseconds since the epoch as `YYYY-MM-DD HH:MM UTC`.
pub(crate) fn format_time(micros: i64) -> String {
    let (y, mo, d, h, mi, _, _) = signet_common::UtcTime::from_unix_micros(micros).to_civil();
    format!("{y:04}-{mo:02}-{d:02} {h:02}:{mi:02} UTC")
}

/// Microseconds since the epoch as `YYYY-MM-DD`.
pub(crate) fn format_date(micros: i64) -> String {
    let (y, mo, d, ..) = signet_common::UtcTime::from_unix_micros(micros).to_civil();
    format!("{y:04}-{mo:02}-{d:02}")
}

/// A SHA-256 fingerprint as people read it: upper-case hex, as `signet verify` and NuGet print
/// it (the JSON API and URLs keep the stored lower case).
pub(crate) fn display_fingerprint(fingerprint: &str) -> String {
    fingerprint.to_ascii_uppercase()
}
