//! Fetching revocation data over HTTP: the [`Fetcher`] trait (so that tests and embedders can
//! plug in their own transport) and [`HttpFetcher`]: `ureq` without TLS for `http://` URLs
//! (nearly every CRL, OCSP and TSA URL), a blocking `reqwest` client for `https://` ones. Only
//! an https request builds the TLS stack, which loads the OS roots for transport security and
//! costs about 10 ms per process.

use std::io::Read;
use std::time::Duration;

/// Why a fetch failed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum FetchErrorKind {
    /// The host could not be reached (DNS, refused, reset).
    Unreachable,
    /// No complete answer within the timeout.
    Timeout,
    /// The server answered with a non-success HTTP status.
    Status(u16),
    /// The body exceeds the size limit.
    TooLarge,
    /// The URL is not http(s) or is malformed.
    UnsupportedUrl,
    /// Anything else.
    Other,
}

/// A failed fetch.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct FetchError {
    /// What kind of failure.
    pub kind: FetchErrorKind,
    /// A message for the report.
    pub message: String,
}

impl FetchError {
    /// A failure of `kind`.
    pub fn new(kind: FetchErrorKind, message: impl Into<String>) -> Self {
        Self {
            kind,
            message: message.into(),
        }
    }

    /// Whether the host itself is unusable (as opposed to one answer being bad), so that
    /// other requests to it in the same verification are not worth their timeout.
    pub fn host_is_down(&self) -> bool {
        matches!(
            self.kind,
            FetchErrorKind::Unreachable | FetchErrorKind::Timeout
        )
    }
}

/// A transport for CRLs and OCSP. Implementations must return within `timeout` (give or take
/// scheduling) and never read more than `max_len` bytes of body.
pub trait Fetcher: Send + Sync + std::fmt::Debug {
    /// `GET url`.
    fn get(&self, url: &str, timeout: Duration, max_len: usize) -> Result<Vec<u8>, FetchError>;

    /// `POST url` with `body` of `content_type`.
    fn post(
        &self,
        url: &str,
        content_type: &str,
        body: &[u8],
        timeout: Duration,
        max_len: usize,
    ) -> Result<Vec<u8>, FetchError>;
}

/// A blocking HTTP(S) client (`reqwest`): at most 3 redirects, proxies from the usual
/// environment variables, only `http` and `https` URLs. The client (and reqwest's background
/// runtime thread) is built on the first request, so a verification that never goes to the
/// network does not pay for it. Do not call it from inside an async runtime's worker thread
/// (use a blocking task).
#[derive(Debug, Default)]
pub struct HttpFetcher {
    client: std::sync::OnceLock<Result<reqwest::blocking::Client, FetchError>>,
}

impl HttpFetcher {
    /// A fetcher with signet's user agent.
    pub fn new() -> Self {
        Self::default()
    }

    fn client(&self) -> Result<&reqwest::blocking::Client, FetchError> {
        self.client
            .get_or_init(|| {
                reqwest::blocking::Client::builder()
                    .user_agent(concat!("signet/", env!("CARGO_PKG_VERSION")))
                    .redirect(reqwest::redirect::Policy::limited(3))
                    .build()
                    .map_err(|e| FetchError::new(FetchErrorKind::Other, e.to_string()))
            })
            .as_ref()
            .map_err(Clone::clone)
    }

    fn send(
        &self,
        request: reqwest::blocking::RequestBuilder,
        timeout: Duration,
        max_len: usize,
    ) -> Result<Vec<u8>, FetchError> {
        let started = std::time::Instant::now();
        let response = request
            .timeout(timeout)
            .send()
            .map_err(|e| classify(e, timeout))?;
        let status = response.status();
        if !status.is_success() {
            return Err(FetchError::new(
                FetchErrorKind::Status(status.as_u16()),
                format!("HTTP {status}"),
            ));
        }
        if response
            .content_length()
            .is_some_and(|n| n > u64::try_from(max_len).unwrap_or(u64::MAX))
        {
            return Err(too_large(max_len));
        }
        let mut body = Vec::new();
        let limit = u64::try_from(max_len).unwrap_or(u64::MAX).saturating_add(1);
        response
            .take(limit)
            .read_to_end(&mut body)
            .map_err(|e| read_error(&e, started, timeout))?;
        if body.len() > max_len {
            return Err(too_large(max_len));
        }
        Ok(body)
    }
}

fn too_large(max_len: usize) -> FetchError {
    FetchError::new(
        FetchErrorKind::TooLarge,
        format!("the response is larger than {max_len} bytes"),
    )
}

fn read_error(e: &std::io::Error, started: std::time::Instant, timeout: Duration) -> FetchError {
    if e.kind() == std::io::ErrorKind::TimedOut || started.elapsed() >= timeout {
        FetchError::new(
            FetchErrorKind::Timeout,
            format!("no answer within {:.1} s", timeout.as_secs_f64()),
        )
    } else {
        FetchError::new(FetchErrorKind::Unreachable, e.to_string())
    }
}

fn classify(e: reqwest::Error, timeout: Duration) -> FetchError {
    // reqwest's own message repeats the URL and wraps the cause in layers ("error sending
    // request for url (…): client error (Connect): tcp connect error: …"); the innermost
    // cause is what a user can act on.
    let mut cause: &dyn std::error::Error = &e;
    while let Some(inner) = cause.source() {
        cause = inner;
    }
    if e.is_timeout() {
        FetchError::new(
            FetchErrorKind::Timeout,
            format!("no answer within {:.1} s", timeout.as_secs_f64()),
        )
    } else if e.is_connect() {
        FetchError::new(
            FetchErrorKind::Unreachable,
            format!("cannot connect: {cause}"),
        )
    } else if e.is_builder() {
        FetchError::new(FetchErrorKind::UnsupportedUrl, cause.to_string())
    } else {
        FetchError::new(FetchErrorKind::Other, cause.to_string())
    }
}

/// Whether `url` is one signet fetches: `http://` or `https://` (LDAP and file URLs in
/// certificates are ignored).
pub(crate) fn is_fetchable(url: &str) -> bool {
    let lower = url.get(..8).unwrap_or(url).to_ascii_lowercase();
    lower.starts_with("http://") || lower.starts_with("https://")
}

/// Whether `url` is plain `http://` (served by `ureq`, no TLS stack).
fn is_plain_http(url: &str) -> bool {
    url.get(..7)
        .is_some_and(|p| p.eq_ignore_ascii_case("http://"))
}

/// A plain-HTTP request with `ureq`: one timeout for the whole exchange, at most three
/// redirects, the body bounded by `max_len`.
fn plain_http(
    url: &str,
    post: Option<(&str, &[u8])>,
    timeout: Duration,
    max_len: usize,
) -> Result<Vec<u8>, FetchError> {
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .timeout_global(Some(timeout))
        .max_redirects(3)
        .http_status_as_error(false)
        .user_agent(concat!("signet/", env!("CARGO_PKG_VERSION")))
        .build()
        .into();
    let response = match post {
        Some((content_type, body)) => agent
            .post(url)
            .header("Content-Type", content_type)
            .send(body),
        None => agent.get(url).call(),
    };
    let mut response = response.map_err(|e| classify_ureq(e, timeout))?;
    let status = response.status().as_u16();
    if !(200..300).contains(&status) {
        return Err(FetchError::new(
            FetchErrorKind::Status(status),
            format!("HTTP {status}"),
        ));
    }
    let limit = u64::try_from(max_len).unwrap_or(u64::MAX);
    response
        .body_mut()
        .with_config()
        .limit(limit)
        .read_to_vec()
        .map_err(|e| match e {
            ureq::Error::BodyExceedsLimit(_) => too_large(max_len),
            other => classify_ureq(other, timeout),
        })
}

fn classify_ureq(e: ureq::Error, timeout: Duration) -> FetchError {
    match e {
        ureq::Error::Timeout(_) => FetchError::new(
            FetchErrorKind::Timeout,
            format!("no answer within {:.1} s", timeout.as_secs_f64()),
        ),
        ureq::Error::Io(io) if io.kind() == std::io::ErrorKind::TimedOut => FetchError::new(
            FetchErrorKind::Timeout,
            format!("no answer within {:.1} s", timeout.as_secs_f64()),
        ),
        ureq::Error::HostNotFound | ureq::Error::ConnectionFailed | ureq::Error::Io(_) => {
            FetchError::new(FetchErrorKind::Unreachable, format!("cannot connect: {e}"))
        }
        ureq::Error::BadUri(_) => FetchError::new(FetchErrorKind::UnsupportedUrl, e.to_string()),
        ureq::Error::BodyExceedsLimit(n) => too_large(usize::try_from(n).unwrap_or(usize::MAX)),
        other => FetchError::new(FetchErrorKind::Other, other.to_string()),
    }
}

impl Fetcher for HttpFetcher {
    fn get(&self, url: &str, timeout: Duration, max_len: usize) -> Result<Vec<u8>, FetchError> {
        if !is_fetchable(url) {
            return Err(FetchError::new(
                FetchErrorKind::UnsupportedUrl,
                "not an http(s) URL",
            ));
        }
        if is_plain_http(url) {
            return plain_http(url, None, timeout, max_len);
        }
        self.send(self.client()?.get(url), timeout, max_len)
    }

    fn post(
        &self,
        url: &str,
        content_type: &str,
        body: &[u8],
        timeout: Duration,
        max_len: usize,
    ) -> Result<Vec<u8>, FetchError> {
        if !is_fetchable(url) {
            return Err(FetchError::new(
                FetchErrorKind::UnsupportedUrl,
                "not an http(s) URL",
            ));
        }
        if is_plain_http(url) {
            return plain_http(url, Some((content_type, body)), timeout, max_len);
        }
        let request = self
            .client()?
            .post(url)
            .header(reqwest::header::CONTENT_TYPE, content_type)
            .body(body.to_vec());
        self.send(request, timeout, max_len)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fetchable_urls() {
        assert!(is_fetchable("http://crl.example/ca.crl"));
        assert!(is_fetchable("HTTPS://ocsp.example"));
        assert!(!is_fetchable("ldap://x/cn=ca?certificateRevocationList"));
        assert!(!is_fetchable("file:///etc/passwd"));
        assert!(!is_fetchable("http"));
    }
}
