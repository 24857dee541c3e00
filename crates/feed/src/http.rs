//! HTTP for feeds: GETs with a size limit, and the rule for plain http.

use std::io::{Read, Write};
use std::time::Duration;

use crate::Error;

/// When plain `http://` URLs may be used.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum HttpPolicy {
    /// https only (NuGet's default for new sources, NU1302).
    HttpsOnly,
    /// Plain http to loopback addresses only (tests, local development servers).
    LoopbackHttp,
    /// Any plain http (the source says `allowInsecureConnections="true"`).
    DangerousAnyHttp,
}

impl HttpPolicy {
    /// Checks `url` against the policy.
    pub fn check(self, url: &str) -> Result<(), Error> {
        let lower = url.to_ascii_lowercase();
        if lower.starts_with("https://") {
            return Ok(());
        }
        if !lower.starts_with("http://") {
            return Err(Error::Protocol {
                source_url: url.to_string(),
                message: "not an http(s) URL".into(),
            });
        }
        match self {
            Self::DangerousAnyHttp => Ok(()),
            Self::LoopbackHttp if is_loopback(&lower) => Ok(()),
            _ => Err(Error::InsecureUrl(url.to_string())),
        }
    }
}

/// `http://127.x.x.x`, `http://[::1]` or `http://localhost`, with any port and path.
pub fn is_loopback(url: &str) -> bool {
    let rest = url
        .strip_prefix("http://")
        .or_else(|| url.strip_prefix("https://"))
        .unwrap_or(url);
    let authority = rest.split(['/', '?', '#']).next().unwrap_or_default();
    let host = authority.rsplit_once('@').map_or(authority, |(_, h)| h);
    let host = if host.starts_with('[') {
        host.split(']').next().map(|h| h.trim_start_matches('['))
    } else {
        host.split(':').next()
    }
    .unwrap_or_default();
    host == "localhost"
        || host == "::1"
        || host
            .parse::<std::net::Ipv4Addr>()
            .is_ok_and(|ip| ip.is_loopback())
}

/// GETs for a feed client.
pub trait Http: Send + Sync {
    /// The body of `url`, at most `limit` bytes; `Ok(None)` for 404.
    fn get(&self, url: &str, limit: u64) -> Result<Option<Vec<u8>>, Error>;
    /// Streams the body of `url` into `out` (at most `limit` bytes); `Ok(false)` for 404.
    fn download(&self, url: &str, out: &mut dyn Write, limit: u64) -> Result<bool, Error>;
}

/// [`Http`] over reqwest's blocking client, with a policy for plain http.
pub struct HttpClient {
    client: reqwest::blocking::Client,
    policy: HttpPolicy,
}

impl HttpClient {
    /// A client with `timeout` per request.
    pub fn new(timeout: Duration, policy: HttpPolicy) -> Result<Self, Error> {
        let client = reqwest::blocking::Client::builder()
            .user_agent(concat!("signet/", env!("CARGO_PKG_VERSION")))
            .timeout(timeout)
            .redirect(reqwest::redirect::Policy::limited(5))
            .build()
            .map_err(|e| Error::Http {
                url: String::new(),
                message: e.to_string(),
            })?;
        Ok(Self { client, policy })
    }

    fn send(&self, url: &str) -> Result<Option<reqwest::blocking::Response>, Error> {
        self.policy.check(url)?;
        let http = |message: String| Error::Http {
            url: url.to_string(),
            message,
        };
        let response = self
            .client
            .get(url)
            .send()
            .map_err(|e| http(e.to_string()))?;
        let status = response.status();
        if status == reqwest::StatusCode::NOT_FOUND {
            return Ok(None);
        }
        if !status.is_success() {
            return Err(http(format!("HTTP {status}")));
        }
        // A redirect may not downgrade to plain http.
        self.policy.check(response.url().as_str())?;
        Ok(Some(response))
    }
}

impl Http for HttpClient {
    fn get(&self, url: &str, limit: u64) -> Result<Option<Vec<u8>>, Error> {
        let mut body = Vec::new();
        if self.download(url, &mut body, limit)? {
            Ok(Some(body))
        } else {
            Ok(None)
        }
    }

    fn download(&self, url: &str, out: &mut dyn Write, limit: u64) -> Result<bool, Error> {
        let Some(response) = self.send(url)? else {
            return Ok(false);
        };
        let http = |message: String| Error::Http {
            url: url.to_string(),
            message,
        };
        let mut reader = response.take(limit.saturating_add(1));
        let copied = std::io::copy(&mut reader, out).map_err(|e| http(e.to_string()))?;
        if copied > limit {
            return Err(http(format!("the response is larger than {limit} bytes")));
        }
        Ok(true)
    }
}

/// Reads at most `limit` bytes of a local file (folder feeds).
pub(crate) fn read_limited(path: &std::path::Path, limit: u64) -> Result<Vec<u8>, Error> {
    let io = |source| Error::Io {
        what: format!("reading {}", path.display()),
        source,
    };
    let file = std::fs::File::open(path).map_err(io)?;
    let mut out = Vec::new();
    file.take(limit.saturating_add(1))
        .read_to_end(&mut out)
        .map_err(io)?;
    if out.len() as u64 > limit {
        return Err(Error::Io {
            what: format!("reading {}", path.display()),
            source: std::io::Error::other(format!("larger than {limit} bytes")),
        });
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn http_policy() {
        assert!(
            HttpPolicy::HttpsOnly
                .check("https://x.test/index.json")
                .is_ok()
        );
        assert!(HttpPolicy::HttpsOnly.check("http://127.0.0.1:80/").is_err());
        assert!(
            HttpPolicy::LoopbackHttp
                .check("http://127.0.0.1:8080/v3/index.json")
                .is_ok()
        );
        assert!(HttpPolicy::LoopbackHttp.check("http://localhost/").is_ok());
        assert!(HttpPolicy::LoopbackHttp.check("http://[::1]:5/").is_ok());
        assert!(
            HttpPolicy::LoopbackHttp
                .check("http://127.0.0.1.evil.test/")
                .is_err()
        );
        assert!(
            HttpPolicy::LoopbackHttp
                .check("http://user@10.0.0.1/")
                .is_err()
        );
        assert!(
            HttpPolicy::DangerousAnyHttp
                .check("http://10.0.0.1/")
                .is_ok()
        );
        assert!(HttpPolicy::DangerousAnyHttp.check("ftp://x/").is_err());
    }
}
