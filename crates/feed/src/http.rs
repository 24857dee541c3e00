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
    /// Checks `url` against the policy. The URL is parsed once with the WHATWG parser the
    /// HTTP client itself uses, so the host checked is the host connected to (a hand-written
    /// split would read `http://x\@127.0.0.1/` as loopback; the client connects to `x`).
    pub fn check(self, url: &str) -> Result<(), Error> {
        let parsed = reqwest::Url::parse(url).map_err(|e| Error::Protocol {
            source_url: url.to_string(),
            message: format!("not a valid URL: {e}"),
        })?;
        match parsed.scheme() {
            "https" => return Ok(()),
            "http" => {}
            _ => {
                return Err(Error::Protocol {
                    source_url: url.to_string(),
                    message: "not an http(s) URL".into(),
                });
            }
        }
        match self {
            Self::DangerousAnyHttp => Ok(()),
            Self::LoopbackHttp if is_loopback_url(&parsed) => Ok(()),
            _ => Err(Error::InsecureUrl(url.to_string())),
        }
    }
}

/// Whether `url` names a loopback host (`127.0.0.0/8`, `::1`, `localhost`) with no user
/// information: parsed with the client's own URL parser, so backslashes, `@`, percent-escapes
/// and odd IPv4 spellings (`0x7f.1`) are read exactly as the connection will read them.
pub fn is_loopback(url: &str) -> bool {
    reqwest::Url::parse(url).is_ok_and(|u| is_loopback_url(&u))
}

fn is_loopback_url(u: &reqwest::Url) -> bool {
    if !u.username().is_empty() || u.password().is_some() {
        return false;
    }
    // `host_str` is the parser's normalized host: IPv4 in dotted decimal whatever the input
    // spelling, IPv6 in brackets, domains lower-cased and IDNA-mapped.
    let Some(host) = u.host_str() else {
        return false;
    };
    if let Some(v6) = host.strip_prefix('[').and_then(|h| h.strip_suffix(']')) {
        return v6
            .parse::<std::net::Ipv6Addr>()
            .is_ok_and(|ip| ip.is_loopback());
    }
    host == "localhost"
        || host
            .parse::<std::net::Ipv4Addr>()
            .is_ok_and(|ip| ip.is_loopback())
}

/// A transport failure in words a user can act on: the connection refused or unreachable, a
/// timeout (with its length), a TLS failure — instead of reqwest's "error sending request".
pub fn describe_transport_error(e: &reqwest::Error, timeout: Duration) -> String {
    use std::error::Error as _;
    // The innermost cause says what actually happened (ECONNREFUSED, certificate errors).
    let mut cause = String::new();
    let mut source = e.source();
    while let Some(s) = source {
        cause = s.to_string();
        source = s.source();
    }
    let detail = if cause.is_empty() {
        e.to_string()
    } else {
        cause
    };
    let lower = detail.to_ascii_lowercase();
    if e.is_timeout() {
        format!("timed out: no answer within {} s", timeout.as_secs())
    } else if lower.contains("certificate") || lower.contains("tls") || lower.contains("handshake")
    {
        format!("TLS failure: {detail}")
    } else if e.is_connect() {
        if lower.contains("refused") {
            "connection refused: is the server running at this address?".to_string()
        } else {
            format!("cannot connect: {detail}")
        }
    } else {
        detail
    }
}

/// GETs for a feed client.
pub trait Http: Send + Sync {
    /// The body of `url`, at most `limit` bytes; `Ok(None)` for 404.
    fn get(&self, url: &str, limit: u64) -> Result<Option<Vec<u8>>, Error>;
    /// Streams the body of `url` into `out` (at most `limit` bytes); `Ok(false)` for 404.
    fn download(&self, url: &str, out: &mut dyn Write, limit: u64) -> Result<bool, Error>;
}

/// [`Http`] over reqwest's blocking client, with a policy for plain http.
///
/// A client made for one source with [`HttpClient::for_source`] sends that source's
/// credentials (HTTP Basic, as NuGet sends `packageSourceCredentials`) with every request to
/// the source's origin (scheme, host, port) and to no other: not to a resource the service
/// index places on another host, and not across a redirect to another origin (reqwest drops
/// `Authorization` there; `credentials_stay_with_their_source` holds it to that). Each source
/// gets its own client, so one source's credentials never reach another source.
pub struct HttpClient {
    client: reqwest::blocking::Client,
    policy: HttpPolicy,
    timeout: Duration,
    credential: Option<ScopedCredential>,
}

/// An `Authorization` value and the one origin it is sent to.
struct ScopedCredential {
    origin: reqwest::Url,
    header: reqwest::header::HeaderValue,
}

/// Whether `a` and `b` share scheme, host and port.
fn same_origin(a: &reqwest::Url, b: &reqwest::Url) -> bool {
    a.scheme() == b.scheme()
        && a.host_str() == b.host_str()
        && a.port_or_known_default() == b.port_or_known_default()
}

impl HttpClient {
    /// A client with `timeout` per request.
    pub fn new(timeout: Duration, policy: HttpPolicy) -> Result<Self, Error> {
        let client = reqwest::blocking::Client::builder()
            .user_agent(concat!("signet/", env!("CARGO_PKG_VERSION")))
            .timeout(timeout)
            // Each hop is held to the policy before it is followed (a redirect to plain http,
            // or to a non-loopback http host under the loopback policy, is never requested),
            // not only the final URL.
            .redirect(reqwest::redirect::Policy::custom(move |attempt| {
                // `previous()` holds the first URL and every hop followed so far.
                if attempt.previous().len() > 5 {
                    attempt.error("more than 5 redirects")
                } else if policy.check(attempt.url().as_str()).is_err() {
                    let to = attempt.url().to_string();
                    attempt.error(format!(
                        "a redirect to {to} is refused (only https, or plain http as the \
                         source's policy allows)"
                    ))
                } else {
                    attempt.follow()
                }
            }))
            .build()
            .map_err(|e| Error::Http {
                url: String::new(),
                message: e.to_string(),
            })?;
        Ok(Self {
            client,
            policy,
            timeout,
            credential: None,
        })
    }

    /// A client for the source at `source_url` (sharing this one's connections) that sends
    /// `credential`, if any, as HTTP Basic to that URL's origin only.
    pub fn for_source(
        &self,
        source_url: &str,
        credential: Option<&signet_common::BasicCredential>,
    ) -> Result<Self, Error> {
        let credential = match credential {
            None => None,
            Some(c) => {
                use base64::Engine as _;
                let origin = reqwest::Url::parse(source_url).map_err(|e| Error::Protocol {
                    source_url: source_url.to_string(),
                    message: format!("not a valid URL: {e}"),
                })?;
                let token = base64::engine::general_purpose::STANDARD.encode(format!(
                    "{}:{}",
                    c.username,
                    c.password.expose()
                ));
                let mut header = reqwest::header::HeaderValue::from_str(&format!("Basic {token}"))
                    .map_err(|_| Error::Protocol {
                        source_url: source_url.to_string(),
                        message: "the credentials cannot be sent in an HTTP header".into(),
                    })?;
                // Kept out of reqwest's and hyper's debug output.
                header.set_sensitive(true);
                Some(ScopedCredential { origin, header })
            }
        };
        Ok(Self {
            client: self.client.clone(),
            policy: self.policy,
            timeout: self.timeout,
            credential,
        })
    }

    fn send(&self, url: &str) -> Result<Option<reqwest::blocking::Response>, Error> {
        self.policy.check(url)?;
        let http = |message: String| Error::Http {
            url: url.to_string(),
            message,
        };
        let mut request = self.client.get(url);
        if let Some(c) = &self.credential
            && reqwest::Url::parse(url).is_ok_and(|u| same_origin(&u, &c.origin))
        {
            request = request.header(reqwest::header::AUTHORIZATION, c.header.clone());
        }
        let response = request
            .send()
            .map_err(|e| http(describe_transport_error(&e, self.timeout)))?;
        let status = response.status();
        if status == reqwest::StatusCode::NOT_FOUND {
            return Ok(None);
        }
        if status == reqwest::StatusCode::UNAUTHORIZED {
            return Err(http(if self.credential.is_some() {
                format!("HTTP {status}: the feed refused the source's credentials")
            } else {
                format!(
                    "HTTP {status}: the feed requires credentials (nuget.config <packageSourceCredentials> with Username and ClearTextPassword for the source, or the environment variable NuGetPackageSourceCredentials_<source name>=\"Username=...;Password=...\")"
                )
            }));
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
        // The timeout bounds the whole request, body included: a server that drips one byte
        // every few seconds (each read within the client's per-read timeout) is cut off when
        // the request's time is up, not after hours.
        let deadline = std::time::Instant::now() + self.timeout;
        let mut response = response;
        let mut buf = vec![0u8; 64 * 1024];
        let mut copied: u64 = 0;
        loop {
            if std::time::Instant::now() > deadline {
                return Err(http(format!(
                    "timed out: the response did not complete within {} s",
                    self.timeout.as_secs()
                )));
            }
            let n = response.read(&mut buf).map_err(|e| http(e.to_string()))?;
            if n == 0 {
                break;
            }
            copied = copied.saturating_add(n as u64);
            if copied > limit {
                return Err(http(format!("the response is larger than {limit} bytes")));
            }
            out.write_all(buf.get(..n).unwrap_or_default())
                .map_err(|e| http(e.to_string()))?;
        }
        Ok(true)
    }
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

    /// A server that drips its body (one byte every 200 ms of a declared megabyte) is cut off
    /// when the request's timeout is spent, however often it sends a byte.
    #[test]
    fn a_dripping_body_is_cut_off_at_the_timeout() {
        use std::io::Write as _;
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        std::thread::spawn(move || {
            if let Ok((mut conn, _)) = listener.accept() {
                let mut req = [0u8; 1024];
                let _ = std::io::Read::read(&mut conn, &mut req);
                let _ = conn.write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 1000000\r\n\r\n");
                for _ in 0..100 {
                    if conn.write_all(b"x").is_err() {
                        break;
                    }
                    std::thread::sleep(Duration::from_millis(200));
                }
            }
        });
        let client = HttpClient::new(Duration::from_secs(1), HttpPolicy::LoopbackHttp).unwrap();
        let started = std::time::Instant::now();
        let r = client.get(&format!("http://{addr}/index.json"), 2_000_000);
        let elapsed = started.elapsed();
        let e = r.expect_err("a dripping body must time out");
        assert!(e.to_string().contains("timed out"), "{e}");
        assert!(elapsed < Duration::from_secs(5), "{elapsed:?}");
    }

    /// A one-request-per-connection server recording each request's head; `redirect` answers
    /// `/redirect` with a 302 to it.
    fn recorder(
        redirect: Option<String>,
    ) -> (std::net::SocketAddr, std::sync::mpsc::Receiver<String>) {
        use std::io::Write as _;
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            for conn in listener.incoming() {
                let Ok(mut conn) = conn else { break };
                let mut req = [0u8; 4096];
                let n = std::io::Read::read(&mut conn, &mut req).unwrap_or(0);
                let head = String::from_utf8_lossy(&req[..n]).into_owned();
                let answer = match &redirect {
                    Some(to) if head.starts_with("GET /redirect ") => format!(
                        "HTTP/1.1 302 Found\r\nLocation: {to}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
                    ),
                    _ => "HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: close\r\n\r\n{}"
                        .to_owned(),
                };
                let _ = tx.send(head);
                let _ = conn.write_all(answer.as_bytes());
            }
        });
        (addr, rx)
    }

    /// A redirect hop the policy refuses is never requested: under the loopback policy a
    /// loopback server's 302 to a plain-http address elsewhere is an error, before any
    /// connection to it (192.0.2.1 is TEST-NET-1: nothing answers there, so a followed
    /// redirect would be a connect timeout instead).
    #[test]
    fn redirect_hops_are_held_to_the_policy() {
        let (source, seen) = recorder(Some("http://192.0.2.1/elsewhere".into()));
        let client = HttpClient::new(Duration::from_secs(5), HttpPolicy::LoopbackHttp).unwrap();
        let started = std::time::Instant::now();
        let e = client
            .get(&format!("http://{source}/redirect"), 100)
            .expect_err("a redirect off loopback over plain http must be refused");
        assert!(e.to_string().contains("is refused"), "{e}");
        assert!(
            started.elapsed() < Duration::from_secs(2),
            "{:?}",
            started.elapsed()
        );
        assert!(seen.recv().unwrap().starts_with("GET /redirect "));
    }

    /// A source's credentials go to its origin only: not to another origin the client is
    /// asked for, not across a redirect to another origin, and not from another source's
    /// client sharing the connections.
    #[test]
    fn credentials_stay_with_their_source() {
        let (other, other_seen) = recorder(None);
        let (source, source_seen) = recorder(Some(format!("http://{other}/elsewhere")));
        let base = HttpClient::new(Duration::from_secs(10), HttpPolicy::LoopbackHttp).unwrap();
        let credential = signet_common::BasicCredential {
            username: "ci".into(),
            password: signet_common::Secret::new("hunter2"),
        };
        let client = base
            .for_source(&format!("http://{source}/v3/index.json"), Some(&credential))
            .unwrap();
        // "ci:hunter2"
        let expected = "authorization: basic y2k6ahvudgvymg==";
        client
            .get(&format!("http://{source}/v3/index.json"), 100)
            .unwrap();
        let head = source_seen.recv().unwrap().to_ascii_lowercase();
        assert!(head.contains(expected), "{head}");

        client
            .get(&format!("http://{source}/redirect"), 100)
            .unwrap();
        assert!(
            source_seen
                .recv()
                .unwrap()
                .to_ascii_lowercase()
                .contains(expected)
        );
        let followed = other_seen.recv().unwrap().to_ascii_lowercase();
        assert!(followed.starts_with("get /elsewhere"), "{followed}");
        assert!(!followed.contains("authorization"), "{followed}");

        client.get(&format!("http://{other}/direct"), 100).unwrap();
        assert!(
            !other_seen
                .recv()
                .unwrap()
                .to_ascii_lowercase()
                .contains("authorization")
        );

        let second = base
            .for_source(&format!("http://{other}/v3/index.json"), None)
            .unwrap();
        second
            .get(&format!("http://{source}/v3/index.json"), 100)
            .unwrap();
        assert!(
            !source_seen
                .recv()
                .unwrap()
                .to_ascii_lowercase()
                .contains("authorization")
        );
    }

    /// Hosts that look like loopback to a hand-written split but are not what the client
    /// connects to, and user information (credentials in the URL) on a loopback URL.
    #[test]
    fn loopback_means_loopback() {
        for bad in [
            "http://x\\@127.0.0.1/",
            "http://evil.test\\@localhost:8080/v3/index.json",
            "http://user:pw@127.0.0.1/",
            "http://127.0.0.1.evil.test/",
            "http://localhost.evil.test/",
            "http://evil.test#@127.0.0.1/",
            "http://evil.test?@127.0.0.1/",
            "http://[::ffff:10.0.0.1]/",
        ] {
            assert!(!is_loopback(bad), "{bad}");
            assert!(HttpPolicy::LoopbackHttp.check(bad).is_err(), "{bad}");
        }
        for good in [
            "http://127.0.0.1:5000/v3/index.json",
            "http://127.1.2.3/",
            "http://LOCALHOST/",
            "http://[::1]:80/",
            "http://0x7f.1/",
        ] {
            assert!(is_loopback(good), "{good}");
        }
    }
}
