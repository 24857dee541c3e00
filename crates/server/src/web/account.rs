//! Sign-in, sign-out and the account page (API keys, organizations).

use std::net::SocketAddr;

use askama::Template;
use axum::extract::{ConnectInfo, FromRequestParts, Path, Query, State};
use axum::http::request::Parts;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::Response;
use serde::Deserialize;

use super::csrf::{self, PRE_COOKIE};
use super::flash::Flash;
use super::session::{self, set_cookie};
use super::{Nav, SignedIn, WebError, format_date, render, render_status, see_other};
use crate::Error;
use crate::app::AppState;
use crate::auth::{IdGlob, Scope, Scopes};
use crate::clock::random_hex;

/// The client's address: the connection's peer, or — when the peer is one of the configured
/// `trusted_proxies` — the right-most `X-Forwarded-For` entry that is not a trusted proxy
/// (entries further left were written by the client and prove nothing).
pub(crate) struct ClientIp(pub(crate) String);

impl FromRequestParts<AppState> for ClientIp {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut Parts, s: &AppState) -> Result<Self, Self::Rejection> {
        let peer = parts
            .extensions
            .get::<ConnectInfo<SocketAddr>>()
            .map(|c| c.0.ip());
        Ok(Self(match peer {
            None => "unknown".to_owned(),
            Some(ip) => client_ip(ip, &parts.headers, &s.trusted_proxies).to_string(),
        }))
    }
}

/// See [`ClientIp`].
pub(crate) fn client_ip(
    peer: std::net::IpAddr,
    headers: &HeaderMap,
    trusted: &[std::net::IpAddr],
) -> std::net::IpAddr {
    if !trusted.contains(&peer) {
        return peer;
    }
    let mut hops: Vec<std::net::IpAddr> = Vec::new();
    // Split the raw bytes: a client can put bytes that are not text before what the proxy
    // appends, and that must not make the whole header (and so the client) unreadable.
    for value in headers.get_all("x-forwarded-for") {
        for part in value.as_bytes().split(|&b| b == b',') {
            match std::str::from_utf8(part)
                .ok()
                .and_then(|p| p.trim().parse().ok())
            {
                Some(ip) => hops.push(ip),
                // An unreadable entry: nothing to its left can be placed.
                None => hops.clear(),
            }
        }
    }
    hops.into_iter()
        .rev()
        .find(|ip| !trusted.contains(ip))
        .unwrap_or(peer)
}

/// A local path to return to after sign-in (`/…`, never `//host` or a full URL).
pub(crate) fn local_next(next: Option<&str>) -> String {
    match next {
        Some(n) if is_same_origin_path(n) => n.to_owned(),
        _ => "/account".to_owned(),
    }
}

/// Whether `n` is a path on this site that no browser can turn into another origin: it
/// starts with one `/`, holds only visible ASCII (browsers drop tabs and newlines, so `/\t/x`
/// would become `//x`; they treat `\` as `/`), and neither it nor its percent-decoding starts
/// with `//` or `/\` or holds a control character or backslash (`/%09/evil.com`,
/// `/%2F/evil.com`, `/%5Cevil.com`).
pub(crate) fn is_same_origin_path(n: &str) -> bool {
    fn safe(p: &str) -> bool {
        p.starts_with('/')
            && !p.starts_with("//")
            && !p.chars().any(|c| c == '\\' || c.is_control())
    }
    if n.len() > 2048 || !n.bytes().all(|b| b.is_ascii_graphic()) || !safe(n) {
        return false;
    }
    // Decode repeatedly (double encoding), a bounded number of times.
    let mut current = n.to_owned();
    for _ in 0..3 {
        let decoded = percent_decode(&current);
        if !safe(&decoded) {
            return false;
        }
        if decoded == current {
            break;
        }
        current = decoded;
    }
    true
}

fn percent_decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while let Some(&b) = bytes.get(i) {
        if b == b'%'
            && let (Some(h), Some(l)) = (bytes.get(i + 1), bytes.get(i + 2))
            && let (Some(h), Some(l)) = ((*h as char).to_digit(16), (*l as char).to_digit(16))
        {
            out.push(u8::try_from(h * 16 + l).unwrap_or(b'?'));
            i += 3;
            continue;
        }
        out.push(b);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

#[derive(Template)]
#[template(path = "signin.html")]
pub(crate) struct SignInPage {
    pub(crate) nav: Nav,
    pub(crate) csrf: String,
    pub(crate) next: String,
    pub(crate) name: String,
    pub(crate) error: Option<String>,
}

/// The sign-in form's CSRF token, and the pre-session cookie to set when there is none yet.
fn form_token(s: &AppState, headers: &HeaderMap) -> Result<(String, Option<String>), Error> {
    if let Some(t) = csrf::expected(headers) {
        return Ok((t, None));
    }
    let pre = random_hex(s.registry.rng.as_ref(), 32)?;
    Ok((csrf::token_for(&pre), Some(pre)))
}

fn with_pre_cookie(s: &AppState, mut response: Response, pre: Option<String>) -> Response {
    if let Some(pre) = pre {
        // Lives as long as a sign-in form may stay open.
        response
            .headers_mut()
            .append(header::SET_COOKIE, set_cookie(s, PRE_COOKIE, &pre, 86_400));
    }
    response
}

/// `GET /signin?next=…`.
pub(crate) async fn signin_page(
    State(s): State<AppState>,
    headers: HeaderMap,
    Query(q): Query<std::collections::HashMap<String, String>>,
) -> Result<Response, WebError> {
    let (csrf, pre) = form_token(&s, &headers)?;
    let page = SignInPage {
        nav: Nav::anonymous(),
        csrf,
        next: local_next(q.get("next").map(String::as_str)),
        name: String::new(),
        error: None,
    };
    Ok(with_pre_cookie(&s, render(&page), pre))
}

#[derive(Deserialize)]
pub(crate) struct SignInForm {
    name: String,
    password: String,
    #[serde(default)]
    next: String,
}

/// A user name as the limiter keys it: a fixed-size digest of the name as typed (trimmed,
/// lower case). Names are not bounded where they are typed (a sign-in form, a Basic header),
/// and every refused attempt still names its keys: kept whole, they were memory any client
/// could fill.
pub(crate) fn name_key(name: &str) -> String {
    let lower = name.trim().to_lowercase();
    let digest = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, lower.as_bytes());
    hex::encode(digest.as_ref().get(..16).unwrap_or_default())
}

/// A client address as the limiter counts it: IPv6 per /64 (one subscriber holds a whole
/// /64, so counting single addresses would give one client unlimited ones).
fn address_key(ip: &str) -> String {
    match ip.parse::<std::net::IpAddr>() {
        Ok(std::net::IpAddr::V6(v6)) if v6.to_ipv4_mapped().is_none() => {
            let s = v6.segments();
            format!("{:x}:{:x}:{:x}:{:x}::/64", s[0], s[1], s[2], s[3])
        }
        _ => ip.to_owned(),
    }
}

/// The rate-limit keys of a sign-in attempt.
pub(crate) fn limit_keys(ip: &str, name: &str) -> [String; 3] {
    let (name, ip) = (name_key(name), address_key(ip));
    [
        format!("ip:{ip}"),
        format!("client:{name}@{ip}"),
        format!("user:{name}"),
    ]
}

/// Counts a sign-in or code attempt of `name` under `keys` ([`limit_keys`]); past a limit,
/// an administrator's unlock of the user (`signet admin unlock-user`, a database row every
/// server reads) forgets the user's failures made before it, and the attempt is counted again.
pub(crate) async fn count_attempt(
    s: &AppState,
    name: &str,
    keys: &[String; 3],
    now: i64,
) -> Result<(), Error> {
    match s.web.limiter.attempt(keys, now) {
        Err(Error::TooManyRequests { retry_after_secs }) => {
            match s.registry.sign_in_unlocked_at(name).await? {
                Some(at) if s.web.limiter.apply_unlock(&name_key(name), at) => {
                    s.web.limiter.attempt(keys, now)
                }
                _ => Err(Error::TooManyRequests { retry_after_secs }),
            }
        }
        other => other,
    }
}

/// A right password or code: this attempt does not count, and the user's own failures are
/// forgotten (the client address keeps its count).
pub(crate) fn attempt_succeeded(s: &AppState, keys: &[String; 3], now: i64) {
    s.web.limiter.forgive(keys, now);
    s.web.limiter.reset(&keys[1]);
    s.web.limiter.reset(&keys[2]);
}

/// `POST /signin`: the password; then either a session, or (with two-factor sign-in on) a
/// pending session and the code form.
pub(crate) async fn signin(
    State(s): State<AppState>,
    ClientIp(ip): ClientIp,
    headers: HeaderMap,
    axum::Form(f): axum::Form<SignInForm>,
) -> Result<Response, WebError> {
    let now = s.registry.clock.now().unix_micros();
    let keys = limit_keys(&ip, &f.name);
    count_attempt(&s, &f.name, &keys, now).await?;
    let next = local_next(Some(&f.next));
    let name = f.name.trim();
    let checked = s.registry.check_password(name, &f.password).await?;
    // The account's own name (a failed attempt names an account only if there is one).
    let account = s.registry.audit_name_of(name).await;
    let second_factor = match checked {
        Some(id) => s.registry.two_factor_enabled(id).await.unwrap_or(false),
        None => false,
    };
    s.registry
        .audit(crate::audit::AuditEvent {
            // A failed attempt proves nobody's identity.
            actor: if checked.is_some() {
                &account
            } else {
                crate::audit::ANONYMOUS
            },
            action: crate::audit::AuditAction::SignIn,
            target: &account,
            outcome: if checked.is_some() {
                crate::audit::AuditOutcome::Ok
            } else {
                crate::audit::AuditOutcome::Refused
            },
            client: Some(&ip),
            detail: if second_factor {
                "password; the second factor is asked next"
            } else {
                ""
            },
        })
        .await;
    let Some(user_id) = checked else {
        tracing::info!(user = %f.name, %ip, "sign-in failed");
        let (csrf, pre) = form_token(&s, &headers)?;
        let page = SignInPage {
            nav: Nav::anonymous(),
            csrf,
            next,
            name: f.name,
            error: Some("The user name or password is incorrect.".into()),
        };
        return Ok(with_pre_cookie(
            &s,
            render_status(StatusCode::UNAUTHORIZED, &page),
            pre,
        ));
    };
    // A new session each time (no fixation): whatever the browser had is ended.
    session::end(&s, &headers).await?;
    let pending = s.registry.two_factor_enabled(user_id).await?;
    // The password was right: this attempt does not count against the client.
    if pending {
        s.web.limiter.forgive(&keys, now);
    } else {
        attempt_succeeded(&s, &keys, now);
    }
    let cookie = session::start(&s, user_id, false, pending).await?;
    let location = if pending {
        let q = serde_urlencoded::to_string([("next", next.as_str())]).unwrap_or_default();
        format!("/signin/2fa?{q}")
    } else {
        tracing::info!(user = %f.name, "signed in");
        next
    };
    let mut r = see_other(&location);
    r.headers_mut().append(header::SET_COOKIE, cookie);
    Ok(r)
}

/// `POST /signout`: deletes the session and clears the cookie.
pub(crate) async fn signout(
    State(s): State<AppState>,
    headers: HeaderMap,
) -> Result<Response, WebError> {
    let clear = session::end(&s, &headers).await?;
    let mut r = see_other("/");
    r.headers_mut().append(header::SET_COOKIE, clear);
    Ok(r)
}

/// One API key on the account page.
struct KeyLine {
    id: i64,
    description: String,
    owner: String,
    scopes: String,
    globs: String,
    created: String,
    expires: String,
    state: &'static str,
    active: bool,
}

#[derive(Template)]
#[template(path = "account.html")]
struct AccountPage {
    nav: Nav,
    csrf: String,
    name: String,
    two_factor_enabled: bool,
    session_two_factor: bool,
    new_key: Option<String>,
    error: Option<String>,
    keys: Vec<KeyLine>,
    organizations: Vec<(String, String)>,
    owner_requests: Vec<crate::OwnerRequest>,
    /// (package id, owning account) of the packages the user manages.
    packages: Vec<(String, String)>,
}

async fn account_view(
    s: &AppState,
    user: &SignedIn,
    new_key: Option<String>,
    error: Option<String>,
) -> Result<AccountPage, Error> {
    let now = s.registry.clock.now().unix_micros();
    let overview = s
        .registry
        .account_overview(user.user_id, &user.user_name)
        .await?;
    let keys = overview
        .keys
        .into_iter()
        .rev()
        .map(|k| {
            let (state, active) = if k.revoked_at.is_some() {
                ("revoked", false)
            } else if k.expires_at.is_some_and(|t| t <= now) {
                ("expired", false)
            } else {
                ("active", true)
            };
            KeyLine {
                id: k.id,
                description: k.description,
                owner: k.owner,
                scopes: k.scopes,
                globs: k.globs,
                created: format_date(k.created_at),
                expires: k.expires_at.map_or_else(|| "never".into(), format_date),
                state,
                active,
            }
        })
        .collect();
    Ok(AccountPage {
        nav: user.nav(),
        csrf: user.csrf().to_owned(),
        name: user.user_name.clone(),
        two_factor_enabled: overview.two_factor_enabled,
        session_two_factor: user.two_factor,
        new_key,
        error,
        keys,
        organizations: overview.organizations,
        owner_requests: overview.owner_requests,
        packages: overview.packages,
    })
}

/// `GET /account`: with the secret of a key this session just created, once (see
/// [`super::flash`]).
pub(crate) async fn account_page(
    State(s): State<AppState>,
    user: SignedIn,
) -> Result<Response, WebError> {
    let now = s.registry.clock.now().unix_micros();
    let new_key = match s
        .web
        .flashes
        .take_if(&user.token_hash, now, |f| matches!(f, Flash::NewApiKey(_)))
    {
        Some(Flash::NewApiKey(secret)) => Some(secret.expose().to_owned()),
        _ => None,
    };
    Ok(render(&account_view(&s, &user, new_key, None).await?))
}

#[derive(Deserialize)]
pub(crate) struct NewKeyForm {
    #[serde(default)]
    description: String,
    #[serde(default)]
    owner: String,
    #[serde(default)]
    scope_push_new: Option<String>,
    #[serde(default)]
    scope_push_version: Option<String>,
    #[serde(default)]
    scope_unlist: Option<String>,
    #[serde(default)]
    scope_read: Option<String>,
    #[serde(default)]
    globs: String,
    #[serde(default)]
    expires_days: String,
}

/// Longest key note accepted.
const DESCRIPTION_MAX: usize = 200;

fn parse_key_form(f: &NewKeyForm) -> Result<(Scopes, Vec<IdGlob>, Option<u32>), Error> {
    let mut scopes = Scopes::default();
    for (on, scope) in [
        (&f.scope_push_new, Scope::PushNew),
        (&f.scope_push_version, Scope::PushVersion),
        (&f.scope_unlist, Scope::Unlist),
        (&f.scope_read, Scope::Read),
    ] {
        if on.is_some() {
            scopes.insert(scope);
        }
    }
    if scopes == Scopes::default() {
        return Err(Error::Invalid("choose at least one scope".into()));
    }
    let globs = f
        .globs
        .split(|c: char| c.is_whitespace() || c == ',')
        .filter(|g| !g.is_empty())
        .map(IdGlob::parse)
        .collect::<Result<Vec<_>, _>>()?;
    if globs.len() > 32 {
        return Err(Error::Invalid("at most 32 package globs".into()));
    }
    let expires = match f.expires_days.trim() {
        "" | "never" => None,
        d => Some(
            d.parse::<u32>()
                .ok()
                .filter(|d| (1..=3650).contains(d))
                .ok_or_else(|| Error::Invalid(format!("invalid expiry {d:?} (days)")))?,
        ),
    };
    if f.description.chars().count() > DESCRIPTION_MAX {
        return Err(Error::Invalid(format!(
            "the description is longer than {DESCRIPTION_MAX} characters"
        )));
    }
    Ok((scopes, globs, expires))
}

/// `POST /account/api-keys`: creates a key, then redirects to the account page, which shows
/// its secret once (post/redirect/get: a reload neither creates another key nor shows it
/// again).
pub(crate) async fn create_key(
    State(s): State<AppState>,
    super::TwoFactorIfEnabled(user): super::TwoFactorIfEnabled,
    axum::Form(f): axum::Form<NewKeyForm>,
) -> Result<Response, WebError> {
    let owner = f.owner.trim();
    let organization =
        (!owner.is_empty() && !owner.eq_ignore_ascii_case(&user.user_name)).then_some(owner);
    let created = match parse_key_form(&f) {
        Ok((scopes, globs, expires)) => {
            s.registry
                .create_api_key(
                    &user.user_name,
                    organization,
                    f.description.trim(),
                    scopes,
                    &globs,
                    expires,
                )
                .await
        }
        Err(e) => Err(e),
    };
    s.registry
        .audit_result_with(
            &user.user_name,
            crate::audit::AuditAction::ApiKeyCreate,
            organization.unwrap_or(&user.user_name),
            f.description.trim(),
            &created,
        )
        .await;
    match created {
        Ok(secret) => {
            tracing::info!(user = %user.user_name, "API key created on the web");
            let now = s.registry.clock.now().unix_micros();
            s.web.flashes.put(
                &user.token_hash,
                Flash::NewApiKey(signet_common::Secret::new(secret)),
                now,
            );
            Ok(see_other("/account"))
        }
        Err(e @ (Error::Invalid(_) | Error::Forbidden(_) | Error::NotFound(_))) => {
            let page = account_view(&s, &user, None, Some(e.to_string())).await?;
            Ok(render_status(StatusCode::BAD_REQUEST, &page))
        }
        Err(e) => Err(e.into()),
    }
}

/// `POST /account/api-keys/{key}/revoke`.
pub(crate) async fn revoke_key(
    State(s): State<AppState>,
    user: SignedIn,
    Path(key): Path<i64>,
) -> Result<Response, WebError> {
    // The entry names the key by its description, as the account page does.
    let description = s
        .registry
        .api_keys(&user.user_name)
        .await
        .ok()
        .and_then(|keys| keys.into_iter().find(|k| k.id == key))
        .map(|k| k.description)
        .unwrap_or_default();
    let revoked = s.registry.revoke_api_key(&user.user_name, key).await;
    s.registry
        .audit_result_with(
            &user.user_name,
            crate::audit::AuditAction::ApiKeyRevoke,
            &format!("key {key}"),
            &description,
            &revoked,
        )
        .await;
    revoked.map_err(|e| WebError::from(e).with_link("/account", "Back to your account"))?;
    Ok(see_other("/account"))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn forwarded_for_counts_only_behind_a_trusted_proxy() {
        let proxy: std::net::IpAddr = "10.0.0.1".parse().unwrap();
        let mut h = HeaderMap::new();
        h.insert("x-forwarded-for", "6.6.6.6, 203.0.113.7".parse().unwrap());
        // Not from a trusted proxy: the peer, whatever the header says.
        assert_eq!(client_ip(proxy, &h, &[]), proxy);
        // From the proxy: the right-most entry it did not add itself.
        assert_eq!(client_ip(proxy, &h, &[proxy]).to_string(), "203.0.113.7");
        h.insert("x-forwarded-for", "203.0.113.7, 10.0.0.1".parse().unwrap());
        assert_eq!(client_ip(proxy, &h, &[proxy]).to_string(), "203.0.113.7");
        h.insert("x-forwarded-for", "garbage".parse().unwrap());
        assert_eq!(client_ip(proxy, &h, &[proxy]), proxy);
        // Bytes that are not text before what the proxy appended: the appended hop counts.
        h.insert(
            "x-forwarded-for",
            axum::http::HeaderValue::from_bytes(b"\xff, 203.0.113.9").unwrap(),
        );
        assert_eq!(client_ip(proxy, &h, &[proxy]).to_string(), "203.0.113.9");
    }

    #[test]
    fn same_origin_paths() {
        for ok in ["/", "/account", "/packages/A?x=1#y", "/a%20b"] {
            assert!(is_same_origin_path(ok), "{ok}");
        }
        for bad in [
            "//x",
            "/\\x",
            "/\tx",
            "/%09/x",
            "/%2f/x",
            "/%5cx",
            "/%252f/x",
            "x",
            "",
            "https://x",
        ] {
            assert!(!is_same_origin_path(bad), "{bad:?}");
        }
    }
}
