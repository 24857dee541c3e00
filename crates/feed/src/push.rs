//! Pushing a package to a feed (PackagePublish/2.0.0, spec server §6.2), as `nuget push`
//! does: PUT of a `multipart/form-data` body with the package as its one file part and the API
//! key in `X-NuGet-ApiKey`.

use std::io::{Cursor, Read};
use std::path::Path;
use std::time::Duration;

use crate::index::{MAX_DOCUMENT_SIZE, ServiceIndex};
use crate::{Error, Http, HttpPolicy};

/// The publish resource types, in the client's preference order.
pub const PACKAGE_PUBLISH: &[&str] = &["PackagePublish/Versioned", "PackagePublish/2.0.0"];

/// What the server answered.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PushResponse {
    /// HTTP status.
    pub status: u16,
    /// The body as text (servers put their reason there as well as in the reason phrase),
    /// at most 4 KiB.
    pub message: String,
    /// `X-NuGet-Warning` headers.
    pub warnings: Vec<String>,
}

impl PushResponse {
    /// 2xx.
    pub fn is_success(&self) -> bool {
        (200..300).contains(&self.status)
    }

    /// The server's reason in words: the `error.message` of a JSON error body (signet's shape)
    /// or a `message` field, else the body as text, else the status's standard phrase. Never
    /// raw JSON.
    pub fn reason(&self) -> String {
        #[derive(serde::Deserialize)]
        struct Inner {
            message: Option<String>,
        }
        #[derive(serde::Deserialize)]
        struct Body {
            error: Option<Inner>,
            message: Option<String>,
        }
        if let Ok(b) = serde_json::from_str::<Body>(&self.message)
            && let Some(m) = b.error.and_then(|e| e.message).or(b.message)
            && !m.trim().is_empty()
        {
            return m.trim().to_string();
        }
        let text = self.message.trim();
        if !text.is_empty() && !text.starts_with('{') && !text.starts_with('<') {
            return text.to_string();
        }
        reqwest::StatusCode::from_u16(self.status)
            .ok()
            .and_then(|s| s.canonical_reason())
            .unwrap_or("no reason given")
            .to_string()
    }
}

/// Finds the publish URL of the feed at `index_url`.
pub fn publish_url(index_url: &str, http: &dyn Http) -> Result<String, Error> {
    let json = http
        .get(index_url, MAX_DOCUMENT_SIZE)?
        .ok_or_else(|| Error::Protocol {
            source_url: index_url.to_string(),
            message: "the service index was not found (404)".into(),
        })?;
    let index = ServiceIndex::parse(index_url, &json)?;
    index
        .find(PACKAGE_PUBLISH)
        .map(|(u, _)| u.to_string())
        .ok_or_else(|| Error::Protocol {
            source_url: index_url.to_string(),
            message: "the service index has no PackagePublish/2.0.0 resource: this feed does not accept pushes".into(),
        })
}

/// The resource type of signet's validation endpoint: a push that stores nothing.
pub const PACKAGE_VALIDATION: &str = "signet/PackageValidation/1.0.0";

/// The validation endpoint from the service index at `index_url` (`signet push --dry-run`):
/// it takes the same request as a push and runs every check without publishing.
pub fn validation_url(index_url: &str, http: &dyn Http) -> Result<String, Error> {
    let json = http
        .get(index_url, MAX_DOCUMENT_SIZE)?
        .ok_or_else(|| Error::Protocol {
            source_url: index_url.to_string(),
            message: "the service index was not found (404)".into(),
        })?;
    let index = ServiceIndex::parse(index_url, &json)?;
    index
        .find(&[PACKAGE_VALIDATION])
        .map(|(u, _)| u.to_string())
        .ok_or_else(|| Error::Protocol {
            source_url: index_url.to_string(),
            message: format!(
                "the service index has no {PACKAGE_VALIDATION} resource: this feed cannot check a push without publishing it (a signet server can)"
            ),
        })
}

/// PUTs `package` to `publish_url` with `api_key`. The body streams from the file.
/// `boundary` separates the multipart parts: give a fresh random value (at least 16 random
/// bytes, hex), which no package will contain.
pub fn push(
    publish_url: &str,
    api_key: &str,
    package: &Path,
    boundary: &str,
    policy: HttpPolicy,
    timeout: Duration,
) -> Result<PushResponse, Error> {
    policy.check(publish_url)?;
    let io = |source| Error::Io {
        what: format!("reading {}", package.display()),
        source,
    };
    let file = std::fs::File::open(package).map_err(io)?;
    let len = file.metadata().map_err(io)?.len();
    // Hand-written multipart framing (one part, fixed headers) so the file streams instead of
    // being read into memory, and without enabling reqwest's multipart feature for 10 lines.
    if boundary.len() < 16
        || !boundary
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-')
    {
        return Err(Error::Protocol {
            source_url: publish_url.to_string(),
            message: "the multipart boundary must be at least 16 letters, digits or dashes".into(),
        });
    }
    let head = format!(
        "--{boundary}\r\nContent-Disposition: form-data; name=\"package\"; filename=\"package.nupkg\"\r\nContent-Type: application/octet-stream\r\n\r\n"
    );
    let tail = format!("\r\n--{boundary}--\r\n");
    let total = head.len() as u64 + len + tail.len() as u64;
    let body = Cursor::new(head.into_bytes())
        .chain(file)
        .chain(Cursor::new(tail.into_bytes()));
    let http = |message: String| Error::Http {
        url: publish_url.to_string(),
        message,
    };
    let client = client(timeout).map_err(|e| http(e.to_string()))?;
    let response = client
        .put(publish_url)
        .header("X-NuGet-ApiKey", api_key)
        .header("X-NuGet-Protocol-Version", "4.1.0")
        .header(
            "Content-Type",
            format!("multipart/form-data; boundary={boundary}"),
        )
        .body(reqwest::blocking::Body::sized(body, total))
        .send()
        .map_err(|e| http(crate::http::describe_transport_error(&e, timeout)))?;
    read_response(response, publish_url)
}

/// No redirects: a push or unlist carries the API key, which must never follow a redirect to
/// another host.
fn client(timeout: Duration) -> reqwest::Result<reqwest::blocking::Client> {
    reqwest::blocking::Client::builder()
        .user_agent(concat!("signet/", env!("CARGO_PKG_VERSION")))
        .timeout(timeout)
        .redirect(reqwest::redirect::Policy::none())
        .build()
}

/// Which edit of a listed version.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ListingChange {
    /// `DELETE {publish}/{id}/{version}`: `nuget delete`, which NuGet.org and signet treat as
    /// unlisting (the version stays downloadable for existing lock files).
    Unlist,
    /// `POST {publish}/{id}/{version}`: list it again.
    Relist,
}

/// Unlists or relists `id` `version` on the feed whose publish URL is `publish_url`. The id and
/// version are validated and normalized before they become a URL.
pub fn change_listing(
    publish_url: &str,
    api_key: &str,
    id: &signet_nupkg::PackageId,
    version: &crate::NuGetVersion,
    change: ListingChange,
    policy: HttpPolicy,
    timeout: Duration,
) -> Result<PushResponse, Error> {
    policy.check(publish_url)?;
    let url = format!(
        "{}/{}/{}",
        publish_url.trim_end_matches('/'),
        id.as_str(),
        version.normalized()
    );
    let http = |message: String| Error::Http {
        url: url.clone(),
        message,
    };
    let client = client(timeout).map_err(|e| http(e.to_string()))?;
    let request = match change {
        ListingChange::Unlist => client.delete(&url),
        ListingChange::Relist => client.post(&url),
    };
    let response = request
        .header("X-NuGet-ApiKey", api_key)
        .header("X-NuGet-Protocol-Version", "4.1.0")
        .send()
        .map_err(|e| http(crate::http::describe_transport_error(&e, timeout)))?;
    read_response(response, &url)
}

fn read_response(response: reqwest::blocking::Response, url: &str) -> Result<PushResponse, Error> {
    let http = |message: String| Error::Http {
        url: url.to_string(),
        message,
    };
    let status = response.status().as_u16();
    let warnings = response
        .headers()
        .get_all("X-NuGet-Warning")
        .iter()
        .filter_map(|v| v.to_str().ok().map(str::to_string))
        .collect();
    let mut text = Vec::new();
    response
        .take(4096)
        .read_to_end(&mut text)
        .map_err(|e| http(e.to_string()))?;
    Ok(PushResponse {
        status,
        message: String::from_utf8_lossy(&text).trim().to_string(),
        warnings,
    })
}
