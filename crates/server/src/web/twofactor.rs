//! The two-factor pages: enrolment and settings under `/account/2fa`, and the second step of
//! sign-in (`/signin/2fa`) for users who have it on.

use askama::Template;
use axum::Router;
use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::Response;
use axum::routing::{get, post};
use serde::Deserialize;

use signet_common::Secret;

use super::account::{ClientIp, limit_keys, local_next};
use super::flash::Flash;
use super::session;
use super::totp::{self, Enrolment};
use super::{Nav, RequireTwoFactor, SignedIn, WebError, render, render_status, see_other};
use crate::Error;
use crate::accounts::sessions::SessionRow;
use crate::accounts::totp::Factor;
use crate::app::AppState;
use crate::audit::{AuditAction, AuditEvent, AuditOutcome};

/// The two-factor routes (inside [`super::routes`], so behind its CSRF check).
pub(crate) fn routes() -> Router<AppState> {
    Router::new()
        .route("/account/2fa", get(settings))
        .route("/account/2fa/setup", post(setup))
        .route("/account/2fa/confirm", post(confirm))
        .route("/account/2fa/disable", post(disable))
        .route("/account/2fa/recovery-codes", post(regenerate))
        .route("/signin/2fa", get(code_page).post(code))
}

#[derive(Template)]
#[template(path = "twofactor.html")]
struct SettingsPage {
    nav: Nav,
    csrf: String,
    enabled: bool,
    session_two_factor: bool,
    codes_left: i64,
    enrolment: Option<Enrolment>,
    recovery_codes: Vec<String>,
    error: Option<String>,
}

impl SettingsPage {
    /// The page as it stands: an enrolment started and not confirmed yet is shown (its
    /// secret is in the database already; showing it again creates nothing).
    async fn of(s: &AppState, user: &SignedIn) -> Result<Self, Error> {
        let settings = s.registry.two_factor_settings(user.user_id).await?;
        let enrolment = match &settings.pending_secret {
            Some(secret) => Some(totp::enrolment(
                secret,
                &user.user_name,
                &totp::issuer_for(&s.base),
            )?),
            None => None,
        };
        Ok(Self {
            nav: user.nav(),
            csrf: user.csrf().to_owned(),
            enabled: settings.enabled,
            session_two_factor: user.two_factor,
            codes_left: settings.recovery_codes_left,
            enrolment,
            recovery_codes: Vec::new(),
            error: None,
        })
    }
}

/// `GET /account/2fa`: on or off, and what can be done; the enrolment in progress; recovery
/// codes this session was just given, once (see [`super::flash`]).
async fn settings(State(s): State<AppState>, user: SignedIn) -> Result<Response, WebError> {
    let mut page = SettingsPage::of(&s, &user).await?;
    let now = s.registry.clock.now().unix_micros();
    if let Some(Flash::RecoveryCodes(codes)) = s.web.flashes.take_if(&user.token_hash, now, |f| {
        matches!(f, Flash::RecoveryCodes(_))
    }) {
        page.recovery_codes = codes.iter().map(|c| c.expose().to_owned()).collect();
    }
    Ok(render(&page))
}

/// Keeps `codes` for the settings page this session is redirected to.
fn flash_codes(s: &AppState, user: &SignedIn, codes: Vec<String>) {
    let now = s.registry.clock.now().unix_micros();
    s.web.flashes.put(
        &user.token_hash,
        Flash::RecoveryCodes(codes.into_iter().map(Secret::new).collect()),
        now,
    );
}

/// `POST /account/2fa/setup`: a new secret to put into an authenticator, shown by the
/// settings page this redirects to (post/redirect/get).
async fn setup(State(s): State<AppState>, user: SignedIn) -> Result<Response, WebError> {
    s.registry.start_two_factor(user.user_id).await?;
    Ok(see_other("/account/2fa"))
}

#[derive(Deserialize)]
struct CodeForm {
    #[serde(default)]
    code: String,
    #[serde(default)]
    next: String,
}

/// Failed-code limits for a signed-in user (the same counters as sign-in).
/// Counts a code attempt (see [`super::ratelimit::RateLimiter::attempt`]); the keys and the
/// attempt's time, for [`super::ratelimit::RateLimiter::forgive`] on success.
async fn check_limit(s: &AppState, ip: &str, user: &str) -> Result<([String; 3], i64), Error> {
    let keys = limit_keys(ip, user);
    let now = s.registry.clock.now().unix_micros();
    super::account::count_attempt(s, user, &keys, now).await?;
    Ok((keys, now))
}

/// `POST /account/2fa/confirm`: a current code turns it on; the recovery codes are shown
/// once, and this session counts as having passed a second factor.
async fn confirm(
    State(s): State<AppState>,
    ClientIp(ip): ClientIp,
    user: SignedIn,
    axum::Form(f): axum::Form<CodeForm>,
) -> Result<Response, WebError> {
    let (keys, at) = check_limit(&s, &ip, &user.user_name).await?;
    let confirmed = s
        .registry
        .confirm_two_factor(user.user_id, &user.user_name, &f.code)
        .await;
    s.registry
        .audit_result(
            &user.user_name,
            AuditAction::TwoFactorOn,
            &user.user_name,
            &confirmed,
        )
        .await;
    match confirmed {
        Ok(codes) => {
            s.web.limiter.forgive(&keys, at);
            // This session passed a second factor; turning two-factor sign-in on ends every
            // other session (one signed in with the password alone, perhaps by whoever knew
            // it, would otherwise stay).
            s.registry
                .keep_only_enrolling_session(user.user_id, &user.token_hash)
                .await?;
            tracing::info!(user = %user.user_name, "two-factor sign-in turned on");
            flash_codes(&s, &user, codes);
            Ok(see_other("/account/2fa"))
        }
        Err(Error::Invalid(message)) => {
            // Already counted by `check_limit`. The page shows the enrolment again.
            let mut page = SettingsPage::of(&s, &user).await?;
            page.error = Some(format!(
                "{message}: check your authenticator's clock and try again."
            ));
            Ok(render_status(StatusCode::BAD_REQUEST, &page))
        }
        Err(e) => Err(e.into()),
    }
}

/// `POST /account/2fa/disable`: needs a current code.
async fn disable(
    State(s): State<AppState>,
    ClientIp(ip): ClientIp,
    user: SignedIn,
    axum::Form(f): axum::Form<CodeForm>,
) -> Result<Response, WebError> {
    let (keys, at) = check_limit(&s, &ip, &user.user_name).await?;
    let disabled = s
        .registry
        .disable_two_factor(user.user_id, &user.user_name, &f.code)
        .await;
    s.registry
        .audit_result(
            &user.user_name,
            AuditAction::TwoFactorOff,
            &user.user_name,
            &disabled,
        )
        .await;
    match disabled {
        Ok(()) => {
            s.web.limiter.forgive(&keys, at);
            tracing::info!(user = %user.user_name, "two-factor sign-in turned off");
            Ok(see_other("/account/2fa"))
        }
        Err(Error::Invalid(message)) => {
            // Already counted by `check_limit`.
            let mut page = SettingsPage::of(&s, &user).await?;
            page.error = Some(message);
            Ok(render_status(StatusCode::BAD_REQUEST, &page))
        }
        Err(e) => Err(e.into()),
    }
}

/// `POST /account/2fa/recovery-codes`: a fresh set (the old ones stop working); needs a
/// session that passed a second factor.
async fn regenerate(
    State(s): State<AppState>,
    RequireTwoFactor(user): RequireTwoFactor,
) -> Result<Response, WebError> {
    if !s.registry.two_factor_enabled(user.user_id).await? {
        return Err(WebError::new(
            StatusCode::CONFLICT,
            "Not possible",
            "Two-factor sign-in is off, so there are no recovery codes.",
        )
        .with_link("/account/2fa", "Two-factor authentication settings"));
    }
    let codes = s.registry.new_recovery_codes(user.user_id).await;
    s.registry
        .audit_result(
            &user.user_name,
            AuditAction::RecoveryCodes,
            &user.user_name,
            &codes,
        )
        .await;
    flash_codes(&s, &user, codes?);
    Ok(see_other("/account/2fa"))
}

#[derive(Template)]
#[template(path = "signin_2fa.html")]
struct CodePage {
    nav: Nav,
    csrf: String,
    next: String,
    error: Option<String>,
}

/// The pending sign-in of this request (password right, second factor awaited).
async fn pending(s: &AppState, headers: &HeaderMap) -> Result<Option<(String, SessionRow)>, Error> {
    Ok(session::lookup(s, headers)
        .await?
        .filter(|(_, row)| row.pending))
}

fn start_over() -> WebError {
    WebError::new(
        StatusCode::UNAUTHORIZED,
        "Sign in again",
        "This sign-in has expired or was never started. Sign in with your password first.",
    )
    .with_link("/signin", "Sign in")
}

/// `GET /signin/2fa?next=…`.
async fn code_page(
    State(s): State<AppState>,
    headers: HeaderMap,
    Query(q): Query<std::collections::HashMap<String, String>>,
) -> Result<Response, WebError> {
    if pending(&s, &headers).await?.is_none() {
        return Err(start_over());
    }
    let csrf = super::csrf::expected(&headers).unwrap_or_default();
    Ok(render(&CodePage {
        nav: Nav::anonymous(),
        csrf,
        next: local_next(q.get("next").map(String::as_str)),
        error: None,
    }))
}

/// `POST /signin/2fa`: a current code or a recovery code finishes the sign-in with a new
/// session that has `two_factor` set.
async fn code(
    State(s): State<AppState>,
    ClientIp(ip): ClientIp,
    headers: HeaderMap,
    axum::Form(f): axum::Form<CodeForm>,
) -> Result<Response, WebError> {
    let Some((hash, row)) = pending(&s, &headers).await? else {
        return Err(start_over());
    };
    let (keys, at) = check_limit(&s, &ip, &row.user_name).await?;
    let next = local_next(Some(&f.next));
    let factor = s
        .registry
        .verify_second_factor(row.user_id, &row.user_name, &f.code)
        .await?;
    s.registry
        .audit(AuditEvent {
            // The password step named the account; this step completes or refuses it.
            actor: &row.user_name,
            action: AuditAction::SignInCode,
            target: &row.user_name,
            outcome: if factor.is_some() {
                AuditOutcome::Ok
            } else {
                AuditOutcome::Refused
            },
            client: Some(&ip),
            detail: match factor {
                Some(Factor::RecoveryCode) => "recovery code",
                Some(_) => "authenticator code",
                None => "wrong or reused code",
            },
        })
        .await;
    match factor {
        Some(factor) => {
            super::account::attempt_succeeded(&s, &keys, at);
            // The pending session is replaced, not upgraded: a new token for the real one.
            let new = s
                .registry
                .replace_pending_session(&hash, row.user_id)
                .await?;
            let cookie = session::session_cookie(&s, &new);
            if factor == Factor::RecoveryCode {
                tracing::warn!(user = %row.user_name, "signed in with a recovery code");
            } else {
                tracing::info!(user = %row.user_name, "signed in with two factors");
            }
            let mut r = see_other(&next);
            r.headers_mut().append(header::SET_COOKIE, cookie);
            Ok(r)
        }
        None => {
            // Already counted by `check_limit`.
            let csrf = super::csrf::expected(&headers).unwrap_or_default();
            let page = CodePage {
                nav: Nav::anonymous(),
                csrf,
                next,
                error: Some(
                    "The code is not valid, or was already used. Wait for the next code, or \
                     use a recovery code."
                        .into(),
                ),
            };
            Ok(render_status(StatusCode::UNAUTHORIZED, &page))
        }
    }
}
