//! The private feed (`[access] read = "authenticated"`, issue 19): one layer in front of every
//! route, so a route added later is private without remembering to be. Only [`OPEN_PATHS`]
//! and [`OPEN_PREFIXES`] are answered without credentials.
//!
//! Credentials, the first one present deciding:
//! 1. `X-NuGet-ApiKey`: any valid key (every scope reads; `read` is the scope that only reads);
//! 2. `Authorization: Basic` — what NuGet clients send for `packageSourceCredentials`: the
//!    password is an API key (recognised by its `signet_` prefix; the user name is then not
//!    used) or the account password. Password attempts go through the sign-in rate limiter
//!    (per client address and per user name, counted before any argon2 work), at most
//!    [`hashing_permits`] argon2 verifications run at once, and a verified password is
//!    remembered for [`CACHE_MICROS`] as a SHA-256 over the user, the stored hash and the
//!    password (never the password), so a restore's hundreds of requests cost one argon2;
//! 3. a signed-in web session (a browser that signed in on `/signin`).
//!
//! Without credentials, or with wrong ones: 401 with `WWW-Authenticate: Basic realm="signet"`,
//! which makes NuGet clients ask their credential provider or prompt.

use std::net::SocketAddr;

use axum::extract::{ConnectInfo, Request, State};
use axum::http::{HeaderMap, HeaderValue, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use base64::Engine as _;

use super::{ApiError, AppState};
use crate::Error;
use crate::app::access::{HASHING_WAIT, ReadAccess};
use crate::auth::API_KEY_PREFIX;
use signet_common::Secret;

/// Paths answered without credentials in authenticated mode: the health probe, and what a
/// browser needs to sign in (the form, the second factor, the stylesheet, signing out).
pub(crate) const OPEN_PATHS: &[&str] = &[
    "/health",
    "/signin",
    "/signin/2fa",
    "/signout",
    "/static/site.css",
];

/// Path prefixes answered without credentials: the development timestamp authority and the
/// development PKI's CRLs and OCSP responder, which the certificates of a development feed
/// name and which verifiers fetch without credentials (they serve no package data).
pub(crate) const OPEN_PREFIXES: &[&str] = &["/dev/tsa", "/dev/pki"];

/// Longest `Authorization` header looked at.
const HEADER_MAX: usize = 8 * 1024;

/// The credential a request presents.
#[derive(Debug)]
enum Presented {
    ApiKey(Secret),
    Basic { user: String, password: Secret },
    Session,
    Nothing,
}

/// Whether `path` is answered without credentials.
pub(crate) fn is_open(path: &str) -> bool {
    OPEN_PATHS.contains(&path)
        || OPEN_PREFIXES.iter().any(|p| {
            path.strip_prefix(p)
                .is_some_and(|rest| rest.is_empty() || rest.starts_with('/'))
        })
}

/// The layer: passes open paths and requests with valid credentials; answers the rest 401.
pub(crate) async fn require_reader(
    State(s): State<AppState>,
    req: Request,
    next: Next,
) -> Response {
    if s.access.mode == ReadAccess::Public || is_open(req.uri().path()) {
        return next.run(req).await;
    }
    let ip = match req.extensions().get::<ConnectInfo<SocketAddr>>() {
        Some(c) => crate::web::client_ip(c.0.ip(), req.headers(), &s.trusted_proxies).to_string(),
        None => "unknown".to_owned(),
    };
    match check(&s, req.headers(), &ip).await {
        Ok(()) => next.run(req).await,
        Err(e) => challenge(e, wants_html(req.headers())),
    }
}

/// Whether the client is a browser asking for a page.
fn wants_html(headers: &HeaderMap) -> bool {
    headers
        .get(header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.contains("text/html"))
}

/// What a browser shows when it is refused (after its Basic prompt is cancelled): the way to
/// the sign-in form. Fixed text: nothing from the request is echoed.
const SIGN_IN_PAGE: &str = "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\">\
<title>Sign in</title><link rel=\"stylesheet\" href=\"/static/site.css\"></head><body><main>\
<h1>This feed is private</h1><p><a href=\"/signin\">Sign in</a> to see its packages, or \
use an API key or your credentials in a NuGet client.</p></main></body></html>";

/// The refusal: the JSON error shape (a short page with a sign-in link for a browser), with
/// the Basic challenge on a 401.
fn challenge(e: Error, html: bool) -> Response {
    let unauthorized = matches!(e, Error::Unauthorized(_));
    let mut response = ApiError(e).into_response();
    if html && unauthorized {
        let status = response.status();
        let reason = response
            .extensions()
            .get::<hyper::ext::ReasonPhrase>()
            .cloned();
        response = (
            status,
            [
                (header::CONTENT_TYPE, "text/html; charset=utf-8"),
                (header::CACHE_CONTROL, "no-store"),
                (
                    header::CONTENT_SECURITY_POLICY,
                    "default-src 'none'; style-src 'self'; frame-ancestors 'none'",
                ),
            ],
            SIGN_IN_PAGE,
        )
            .into_response();
        if let Some(reason) = reason {
            response.extensions_mut().insert(reason);
        }
    }
    if unauthorized {
        response.headers_mut().insert(
            header::WWW_AUTHENTICATE,
            HeaderValue::from_static("Basic realm=\"signet\", charset=\"UTF-8\""),
        );
    }
    response
}

fn presented(headers: &HeaderMap) -> Result<Presented, Error> {
    if let Some(key) = super::handlers::api_key(headers) {
        return Ok(Presented::ApiKey(Secret::new(key)));
    }
    if let Some(value) = headers.get(header::AUTHORIZATION) {
        let bad = || Error::Unauthorized("unreadable Basic credentials".into());
        let value = value.as_bytes();
        if value.len() > HEADER_MAX {
            return Err(bad());
        }
        let text = std::str::from_utf8(value).map_err(|_| bad())?;
        let (scheme, rest) = text.trim().split_once(' ').ok_or_else(bad)?;
        if !scheme.eq_ignore_ascii_case("basic") {
            return Err(Error::Unauthorized(
                "only Basic credentials and X-NuGet-ApiKey are accepted".into(),
            ));
        }
        let decoded = base64::engine::general_purpose::STANDARD
            .decode(rest.trim())
            .map_err(|_| bad())?;
        let decoded = String::from_utf8(decoded).map_err(|_| bad())?;
        let (user, password) = decoded.split_once(':').ok_or_else(bad)?;
        return Ok(Presented::Basic {
            user: user.trim().to_owned(),
            password: Secret::new(password),
        });
    }
    if crate::web::has_session_cookie(headers) {
        return Ok(Presented::Session);
    }
    Ok(Presented::Nothing)
}

/// Accepts the request's credential or says why not.
async fn check(s: &AppState, headers: &HeaderMap, ip: &str) -> Result<(), Error> {
    match presented(headers)? {
        Presented::ApiKey(key) => s
            .registry
            .authenticate(Some(key.expose()))
            .await
            .map(|_| ()),
        Presented::Basic { password, .. } if password.expose().starts_with(API_KEY_PREFIX) => {
            // NuGet clients send packageSourceCredentials as Basic: the key is the password,
            // the user name whatever the configuration says (keys are 256-bit secrets).
            s.registry
                .authenticate(Some(password.expose()))
                .await
                .map(|_| ())
        }
        Presented::Basic { user, password } => basic_password(s, &user, &password, ip).await,
        Presented::Session => match crate::web::session_user(s, headers).await? {
            Some(_) => Ok(()),
            None => Err(Error::Unauthorized(
                "the session has ended: sign in again, or send credentials".into(),
            )),
        },
        Presented::Nothing => Err(Error::Unauthorized(
            "this feed is private: credentials are required".into(),
        )),
    }
}

/// The cache key of a verified password: SHA-256 over the user, the stored PHC string (so a
/// new password or reset forgets it) and the password.
fn credential_digest(user_id: i64, phc: &str, password: &str) -> [u8; 32] {
    let mut ctx = aws_lc_rs::digest::Context::new(&aws_lc_rs::digest::SHA256);
    ctx.update(b"signet basic credential v1\0");
    ctx.update(&user_id.to_be_bytes());
    ctx.update(&(phc.len() as u64).to_be_bytes());
    ctx.update(phc.as_bytes());
    ctx.update(password.as_bytes());
    let mut out = [0u8; 32];
    // SHA-256 output is 32 bytes: the lengths always match.
    out.copy_from_slice(ctx.finish().as_ref());
    out
}

async fn basic_password(
    s: &AppState,
    user: &str,
    password: &Secret,
    ip: &str,
) -> Result<(), Error> {
    let wrong = || Error::Unauthorized("the user name or password is incorrect".into());
    if user.is_empty() || password.is_empty() {
        return Err(wrong());
    }
    let now = s.registry.clock.now().unix_micros();
    let row = s.registry.user_for_sign_in(user).await?;
    let digest = row.as_ref().and_then(|r| {
        Some(credential_digest(
            r.id,
            r.password_hash.as_deref()?,
            password.expose(),
        ))
    });
    if let (Some(r), Some(d)) = (&row, &digest)
        && s.access.remembered(d, now)
    {
        // Verified a moment ago against this very hash; a disabled account still stops here.
        if s.registry.user_is_disabled(r.id).await? {
            return Err(wrong());
        }
        return Ok(());
    }
    // Counted before any argon2 work: past the limit, a guess costs a map lookup.
    let keys = crate::web::limit_keys(ip, user);
    crate::web::count_attempt(s, user, &keys, now).await?;
    let permit = tokio::time::timeout(HASHING_WAIT, s.access.hashing.acquire())
        .await
        .map_err(|_| Error::TooManyRequests {
            retry_after_secs: 5,
        })?
        .map_err(|_| Error::TooManyRequests {
            retry_after_secs: 5,
        })?;
    let verified = s.registry.check_password(user, password.expose()).await?;
    drop(permit);
    match verified {
        Some(_) => {
            crate::web::attempt_succeeded(s, &keys, now);
            if let Some(d) = digest {
                s.access.remember(d, now);
            }
            Ok(())
        }
        None => {
            tracing::info!(%ip, "basic authentication failed");
            // As for the web sign-in: a failure proves nobody's identity, and what was typed
            // as the user name is kept only when it names an account (never a key pasted
            // there, or a password).
            let account = s.registry.audit_name_of(user).await;
            s.registry
                .audit(crate::audit::AuditEvent {
                    actor: crate::audit::ANONYMOUS,
                    action: crate::audit::AuditAction::BasicAuth,
                    target: &account,
                    outcome: crate::audit::AuditOutcome::Refused,
                    client: Some(ip),
                    detail: "wrong user name, password or key",
                })
                .await;
            Err(wrong())
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::indexing_slicing)]
    use super::*;

    #[test]
    fn open_paths_are_exact() {
        for open in [
            "/health",
            "/signin",
            "/static/site.css",
            "/dev/tsa",
            "/dev/pki/crl/root.crl",
        ] {
            assert!(is_open(open), "{open}");
        }
        for closed in [
            "/",
            "/health/",
            "/healthz",
            "/dev/tsax",
            "/dev",
            "/v3/index.json",
            "/static/other.css",
            "/signin/../v3/index.json",
        ] {
            assert!(!is_open(closed), "{closed}");
        }
    }

    /// One request on the loopback server: (status, headers lower-cased, body).
    async fn send(
        addr: SocketAddr,
        method: &str,
        path: &str,
        headers: &[(&str, String)],
        body: &[u8],
    ) -> (u16, String, String) {
        use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
        let mut stream = tokio::net::TcpStream::connect(addr).await.unwrap();
        let mut head = format!(
            "{method} {path} HTTP/1.1\r\nHost: t\r\nConnection: close\r\nContent-Length: {}\r\n",
            body.len()
        );
        for (k, v) in headers {
            head.push_str(&format!("{k}: {v}\r\n"));
        }
        head.push_str("\r\n");
        stream.write_all(head.as_bytes()).await.unwrap();
        stream.write_all(body).await.unwrap();
        let mut raw = Vec::new();
        stream.read_to_end(&mut raw).await.unwrap();
        let text = String::from_utf8_lossy(&raw).into_owned();
        let (head, body) = text.split_once("\r\n\r\n").unwrap();
        let status = head.split(' ').nth(1).unwrap().parse().unwrap();
        (status, head.to_ascii_lowercase(), body.to_owned())
    }

    /// A clock the test moves.
    struct TestClock(std::sync::atomic::AtomicI64);

    impl crate::Clock for TestClock {
        fn now(&self) -> signet_common::UtcTime {
            signet_common::UtcTime::from_unix_micros(
                self.0.load(std::sync::atomic::Ordering::SeqCst),
            )
        }
    }

    fn basic(user: &str, password: &str) -> (&'static str, String) {
        let token = base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}"));
        ("Authorization", format!("Basic {token}"))
    }

    /// Every route family, in authenticated mode: 401 with the Basic challenge without
    /// credentials (and with wrong ones), answered with a key, a read key, Basic with a key
    /// and Basic with the password; `/health` and the sign-in page stay open; a read key
    /// cannot write.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn every_route_needs_credentials_in_a_private_feed() {
        let tmp = tempfile::tempdir().unwrap();
        let clock = std::sync::Arc::new(TestClock(std::sync::atomic::AtomicI64::new(
            1_800_000_000_000_000,
        )));
        let db = crate::Db::connect(
            &format!("sqlite://{}?mode=rwc", tmp.path().join("t.db").display()),
            4,
        )
        .await
        .unwrap();
        let registry = crate::Registry::new(
            db,
            std::sync::Arc::new(crate::FileSystemStore::new(tmp.path().join("blobs")).unwrap()),
            clock.clone(),
            std::sync::Arc::new(crate::SystemRandom),
            signet_nupkg::Limits::default(),
            tmp.path().join("uploads"),
        )
        .unwrap();
        registry
            .create_user("alice", None, "correct horse")
            .await
            .unwrap();
        registry
            .create_user("mallory", None, "other")
            .await
            .unwrap();
        let all = crate::Scopes::all();
        let push_key = registry
            .create_api_key("alice", None, "", all, &[], None)
            .await
            .unwrap();
        let read_key = registry
            .create_api_key(
                "alice",
                None,
                "",
                crate::Scopes::parse("read").unwrap(),
                &[],
                None,
            )
            .await
            .unwrap();
        let caller = registry.authenticate(Some(&push_key)).await.unwrap();
        let package = signet_test_support::PackageBuilder::new("Private.Pkg", "1.0.0").build();
        let upload = registry.new_upload().unwrap();
        std::fs::write(upload.path(), &package).unwrap();
        registry.push(&caller, upload.path()).await.unwrap();

        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let registry = std::sync::Arc::new(registry);
        let state = AppState::new(std::sync::Arc::clone(&registry), &format!("http://{addr}"))
            .with_read_access(ReadAccess::Authenticated);
        let app = crate::router(state).into_make_service_with_connect_info::<SocketAddr>();
        tokio::spawn(async move { axum::serve(listener, app).await });

        // (method, path): one per route family, and the fallback.
        let routes: &[(&str, &str)] = &[
            ("GET", "/v3/index.json"),
            ("GET", "/v3-flatcontainer/private.pkg/index.json"),
            (
                "GET",
                "/v3-flatcontainer/private.pkg/1.0.0/private.pkg.1.0.0.nupkg",
            ),
            (
                "GET",
                "/v3-flatcontainer/private.pkg/1.0.0/private.pkg.nuspec",
            ),
            ("GET", "/v3/registration/private.pkg/index.json"),
            ("GET", "/v3/registration/private.pkg/1.0.0.json"),
            ("GET", "/v3/query?q=private"),
            ("GET", "/v3/autocomplete?q=priv"),
            ("GET", "/api/v2"),
            ("GET", "/api/v2/"),
            ("GET", "/api/v2/$metadata"),
            ("GET", "/api/v2/Search()?searchTerm=''"),
            ("GET", "/v3/repository-signatures/5.0.0/index.json"),
            ("GET", "/v3/repository-signatures/certificates/00.crt"),
            ("GET", "/api/signet/packages/private.pkg/1.0.0/signature"),
            ("GET", "/api/signet/revocation/private.pkg/1.0.0"),
            ("GET", "/metrics"),
            ("GET", "/"),
            ("GET", "/packages/Private.Pkg"),
            ("GET", "/packages/Private.Pkg/1.0.0"),
            ("GET", "/account"),
            ("GET", "/admin/signing"),
            ("GET", "/no/such/route"),
            ("HEAD", "/v3/index.json"),
            ("PUT", "/api/v2/package"),
            ("PUT", "/api/signet/validate"),
            ("DELETE", "/api/v2/package/Private.Pkg/1.0.0"),
            ("POST", "/api/v2/package/Private.Pkg/1.0.0"),
        ];
        // The same routes with credentials: the route answers (whatever it answers, not 401).
        for headers in [
            vec![("X-NuGet-ApiKey", push_key.clone())],
            vec![("X-NuGet-ApiKey", read_key.clone())],
            vec![basic("ci", &read_key)],
            vec![basic("alice", "correct horse")],
        ] {
            for (method, path) in routes.iter().filter(|(m, _)| *m == "GET") {
                let (status, _, body) = send(addr, method, path, &headers, b"").await;
                assert_ne!(status, 401, "{path}: {body}");
            }
            let (status, _, body) = send(
                addr,
                "GET",
                "/v3-flatcontainer/private.pkg/1.0.0/private.pkg.1.0.0.nupkg",
                &headers,
                b"",
            )
            .await;
            assert_eq!(status, 200, "{body}");
        }
        // The same routes without credentials, or with wrong ones.
        for (method, path) in routes {
            for headers in [
                vec![],
                vec![basic("alice", "wrong")],
                vec![("X-NuGet-ApiKey", "signet_0000".to_owned())],
                vec![basic("alice", "signet_0000")],
                vec![("Authorization", "Bearer x".to_owned())],
                vec![("Cookie", "signet_session=forged".to_owned())],
            ] {
                let (status, head, _) = send(addr, method, path, &headers, b"").await;
                // Wrong passwords soon meet the sign-in limit (429): refused all the same.
                if status == 429
                    && headers
                        .first()
                        .is_some_and(|h| h.1.starts_with("Basic YWxpY2U6d3Jvbmc"))
                {
                    continue;
                }
                assert_eq!(status, 401, "{method} {path} with {headers:?}");
                assert!(
                    head.contains("www-authenticate: basic realm=\"signet\""),
                    "{method} {path}: {head}"
                );
            }
        }
        // A browser is told where to sign in, still with the challenge.
        let (status, head, body) = send(
            addr,
            "GET",
            "/packages/Private.Pkg",
            &[("Accept", "text/html,*/*".to_owned())],
            b"",
        )
        .await;
        assert_eq!(status, 401);
        assert!(head.contains("www-authenticate: basic"), "{head}");
        assert!(
            body.contains("href=\"/signin\"") && !body.contains("Private.Pkg"),
            "{body}"
        );
        // Open without credentials.
        for path in ["/health", "/signin", "/static/site.css"] {
            let (status, _, body) = send(addr, "GET", path, &[], b"").await;
            assert_eq!(status, 200, "{path}: {body}");
        }

        // A read key reads and never writes: push, dry run, unlist, relist are 403.
        let read = vec![("X-NuGet-ApiKey", read_key.clone())];
        let other = signet_test_support::PackageBuilder::new("Private.Pkg", "2.0.0").build();
        for (method, path, body) in [
            ("PUT", "/api/v2/package", other.as_slice()),
            ("PUT", "/api/signet/validate", other.as_slice()),
            (
                "DELETE",
                "/api/v2/package/Private.Pkg/1.0.0",
                b"".as_slice(),
            ),
            ("POST", "/api/v2/package/Private.Pkg/1.0.0", b"".as_slice()),
        ] {
            let (status, _, text) = send(addr, method, path, &read, body).await;
            assert_eq!(status, 403, "{method} {path}: {text}");
        }
        let (status, _, _) = send(
            addr,
            "GET",
            "/v3-flatcontainer/private.pkg/index.json",
            &read,
            b"",
        )
        .await;
        assert_eq!(status, 200);

        // Password guessing through Basic is limited like sign-in (the wrong attempts above
        // counted against alice): even the right password is refused for now, before argon2.
        for _ in 0..5 {
            send(
                addr,
                "GET",
                "/v3/index.json",
                &[basic("mallory", "guess")],
                b"",
            )
            .await;
        }
        let (status, head, _) = send(
            addr,
            "GET",
            "/v3/index.json",
            &[basic("mallory", "other")],
            b"",
        )
        .await;
        assert_eq!(status, 429, "{head}");
        assert!(head.contains("retry-after:"), "{head}");

        // A revoked key, and every credential of a disabled user (a remembered password too),
        // read nothing.
        let mallory_key = registry
            .create_api_key(
                "mallory",
                None,
                "",
                crate::Scopes::parse("read").unwrap(),
                &[],
                None,
            )
            .await
            .unwrap();
        let index = "/v3/index.json";
        let with_key = [("X-NuGet-ApiKey", mallory_key.clone())];
        assert_eq!(send(addr, "GET", index, &with_key, b"").await.0, 200);
        let id = registry.api_keys("mallory").await.unwrap()[0].id;
        registry.revoke_api_key("mallory", id).await.unwrap();
        assert_eq!(send(addr, "GET", index, &with_key, b"").await.0, 401);
        // This address is past the limit (429 above), yet alice's password, verified earlier,
        // is answered from the remembered digest without counting or hashing.
        let alice_password = [basic("alice", "correct horse")];
        assert_eq!(send(addr, "GET", index, &alice_password, b"").await.0, 200);
        registry.disable_user("alice").await.unwrap();
        for headers in [
            vec![("X-NuGet-ApiKey", read_key.clone())],
            vec![basic("ci", &read_key)],
            alice_password.to_vec(),
        ] {
            assert_eq!(
                send(addr, "GET", index, &headers, b"").await.0,
                401,
                "{headers:?}"
            );
        }
        // An expired key reads nothing.
        let day_key = registry
            .create_api_key(
                "mallory",
                None,
                "",
                crate::Scopes::parse("read").unwrap(),
                &[],
                Some(1),
            )
            .await
            .unwrap();
        let with_day_key = [basic("mallory", &day_key)];
        assert_eq!(send(addr, "GET", index, &with_day_key, b"").await.0, 200);
        clock
            .0
            .fetch_add(2 * 86_400 * 1_000_000, std::sync::atomic::Ordering::SeqCst);
        assert_eq!(send(addr, "GET", index, &with_day_key, b"").await.0, 401);
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_public_feed_needs_nothing() {
        let tmp = tempfile::tempdir().unwrap();
        let db = crate::Db::connect(
            &format!("sqlite://{}?mode=rwc", tmp.path().join("t.db").display()),
            4,
        )
        .await
        .unwrap();
        let registry = crate::Registry::new(
            db,
            std::sync::Arc::new(crate::FileSystemStore::new(tmp.path().join("blobs")).unwrap()),
            std::sync::Arc::new(crate::SystemClock),
            std::sync::Arc::new(crate::SystemRandom),
            signet_nupkg::Limits::default(),
            tmp.path().join("uploads"),
        )
        .unwrap();
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let state = AppState::new(std::sync::Arc::new(registry), &format!("http://{addr}"));
        tokio::spawn(async move { axum::serve(listener, crate::router(state)).await });
        let (status, _, _) = send(addr, "GET", "/v3/index.json", &[], b"").await;
        assert_eq!(status, 200);
    }

    #[test]
    fn secrets_are_redacted() {
        let p = Presented::Basic {
            user: "alice".into(),
            password: Secret::new("hunter2"),
        };
        assert!(!format!("{p:?}").contains("hunter2"));
    }
}
