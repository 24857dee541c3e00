//! Online revocation checking for the certificates of a built chain (spec §5.4 step 5 and §4.3
//! step 10: revocation flag ExcludeRoot, mode Online/Offline): OCSP first (AIA responder, HTTP
//! POST, GET for short requests when POST fails), then CRLs (distribution points, HTTP GET),
//! with an in-process cache and an optional on-disk cache, both honouring nextUpdate.
//!
//! A dead responder never hangs verification: every request has a short timeout, a responder
//! gets one timeout for all its attempts, a host that timed out or refused is not asked again
//! in the same verification, and the whole verification has a time budget. Offline mode never
//! touches the network and answers from the caches only (NuGet's offline mode is Windows'
//! cache-only revocation, spec §5.2 and `../shared/spec/user-pain-points.md` §1b).
//!
//! Timeouts are measured on the monotonic clock; every validity decision uses the `now` the
//! caller passes.

use std::cell::{Cell, RefCell};
use std::collections::{BTreeSet, HashMap};
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use signet_common::{HashAlgorithm, UtcTime};
use signet_signature::Certificate;
use x509_cert::ext::pkix::name::{DistributionPointName, GeneralName};
use x509_cert::ext::pkix::{AuthorityInfoAccessSyntax, CrlDistributionPoints};

use crate::crl::Crl;
use crate::fetch::{Fetcher, HttpFetcher, is_fetchable};
use crate::limits::RevocationLimits;
use crate::ocsp::{self, CertId, CertIdHash, OcspRequest};
use crate::policy::RevocationMode;
use crate::status::RevocationStatus;

/// What one verification knows while it checks revocation: the mode, the time, when the first
/// network request started (for the time budget) and which hosts failed.
#[derive(Debug)]
pub struct RevocationContext {
    /// Online or offline (cache only).
    pub mode: RevocationMode,
    /// The verification time.
    pub now: UtcTime,
    started: Cell<Option<Instant>>,
    down: RefCell<BTreeSet<String>>,
}

impl RevocationContext {
    /// A context for one verification.
    pub fn new(mode: RevocationMode, now: UtcTime) -> Self {
        Self {
            mode,
            now,
            started: Cell::new(None),
            down: RefCell::new(BTreeSet::new()),
        }
    }

    /// Time left of `budget`, counted from this verification's first network request.
    pub fn remaining(&self, budget: Duration) -> Duration {
        let started = match self.started.get() {
            Some(s) => s,
            None => {
                let s = Instant::now();
                self.started.set(Some(s));
                s
            }
        };
        budget.saturating_sub(started.elapsed())
    }

    /// Remembers that `host` is down for the rest of the verification.
    pub fn mark_down(&self, host: &str) {
        self.down.borrow_mut().insert(host.to_string());
    }

    /// Whether `host` failed earlier in this verification.
    pub fn is_down(&self, host: &str) -> bool {
        self.down.borrow().contains(host)
    }
}

/// A source of revocation status for certificates of a built chain. [`RevocationChecker`] is
/// the real one; tests and embedders may provide others.
pub trait RevocationSource: Send + Sync + std::fmt::Debug {
    /// The status of `certificate`, issued by `issuer`.
    fn status(
        &self,
        certificate: &Certificate,
        issuer: &Certificate,
        context: &RevocationContext,
    ) -> RevocationStatus;
}

/// Settings of a [`RevocationChecker`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RevocationSettings {
    /// Time one responder or distribution point gets for all its attempts (POST, then GET).
    pub responder_timeout: Duration,
    /// Time one verification may spend on the network in total.
    pub budget: Duration,
    /// Time everything this checker does may spend on the network in total, counted from its
    /// first request: one budget for a whole install or audit, so N packages whose responder
    /// is dead cost one budget, not N. With a run budget, a host that failed is also not asked
    /// again by any later verification of this checker. `None` (the default, for long-lived
    /// checkers such as the server's): only the per-verification budget and memory.
    pub run_budget: Option<Duration>,
    /// A directory for cached CRLs and OCSP responses, shared between runs (`None`: memory
    /// only).
    pub cache_dir: Option<PathBuf>,
    /// Size and count limits for responses and CRLs.
    pub limits: RevocationLimits,
}

impl Default for RevocationSettings {
    fn default() -> Self {
        Self {
            responder_timeout: Duration::from_secs(5),
            budget: Duration::from_secs(15),
            run_budget: None,
            cache_dir: None,
            limits: RevocationLimits::default(),
        }
    }
}

/// Longest base64 OCSP request sent with GET (RFC 5019 §5: GET when under 255 bytes).
const MAX_GET_REQUEST_LEN: usize = 255;

/// Checks revocation with OCSP, then CRLs, over a [`Fetcher`], with caches.
#[derive(Debug)]
pub struct RevocationChecker {
    fetcher: Arc<dyn Fetcher>,
    settings: RevocationSettings,
    memory: Mutex<HashMap<String, Arc<Vec<u8>>>>,
    /// Hosts that timed out or refused, for every verification this checker serves.
    down: Mutex<BTreeSet<String>>,
    /// When this checker's first network request started ([`RevocationSettings::run_budget`]).
    started: Mutex<Option<Instant>>,
}

/// Cache entries kept in memory at most (oldest are not tracked; the map is cleared instead).
const MAX_MEMORY_ENTRIES: usize = 4096;

impl RevocationChecker {
    /// A checker over `fetcher`.
    pub fn new(fetcher: Arc<dyn Fetcher>, settings: RevocationSettings) -> Self {
        Self {
            fetcher,
            settings,
            memory: Mutex::new(HashMap::new()),
            down: Mutex::new(BTreeSet::new()),
            started: Mutex::new(None),
        }
    }

    /// Time left of the run budget (`None`: no run budget).
    fn run_remaining(&self) -> Option<Duration> {
        let budget = self.settings.run_budget?;
        let mut started = self.started.lock().ok()?;
        let s = *started.get_or_insert_with(Instant::now);
        Some(budget.saturating_sub(s.elapsed()))
    }

    fn mark_down(&self, ctx: &RevocationContext, host: &str) {
        ctx.mark_down(host);
        if self.settings.run_budget.is_some()
            && let Ok(mut down) = self.down.lock()
        {
            down.insert(host.to_string());
        }
    }

    fn is_down(&self, ctx: &RevocationContext, host: &str) -> bool {
        ctx.is_down(host) || self.down.lock().is_ok_and(|d| d.contains(host))
    }

    /// A checker over HTTP(S) ([`HttpFetcher`]).
    pub fn http(settings: RevocationSettings) -> Self {
        Self::new(Arc::new(HttpFetcher::new()), settings)
    }

    /// The settings.
    pub fn settings(&self) -> &RevocationSettings {
        &self.settings
    }

    fn check(
        &self,
        certificate: &Certificate,
        issuer: &Certificate,
        ctx: &RevocationContext,
    ) -> RevocationStatus {
        let max = self.settings.limits.max_urls_per_certificate;
        let ocsp_urls: Vec<String> = ocsp_urls(certificate).into_iter().take(max).collect();
        let crl_urls: Vec<String> = crl_urls(certificate).into_iter().take(max).collect();
        if ocsp_urls.is_empty() && crl_urls.is_empty() {
            return RevocationStatus::Unknown {
                why: "the certificate names no http OCSP responder or CRL distribution point"
                    .into(),
            };
        }
        let mut reasons = Vec::new();
        for url in &ocsp_urls {
            match self.ocsp(url, certificate, issuer, ctx) {
                Ok(status @ (RevocationStatus::Good | RevocationStatus::Revoked { .. })) => {
                    return status;
                }
                Ok(RevocationStatus::Unknown { why }) => reasons.push(format!("OCSP {url}: {why}")),
                Err(why) => reasons.push(format!("OCSP {url}: {why}")),
            }
        }
        for url in &crl_urls {
            match self.crl(url, certificate, issuer, ctx) {
                Ok(status) => return status,
                Err(why) => reasons.push(format!("CRL {url}: {why}")),
            }
        }
        RevocationStatus::Unknown {
            why: reasons.join("; "),
        }
    }

    fn ocsp(
        &self,
        url: &str,
        certificate: &Certificate,
        issuer: &Certificate,
        ctx: &RevocationContext,
    ) -> Result<RevocationStatus, String> {
        let limits = &self.settings.limits;
        let id = CertId::new(certificate, issuer, CertIdHash::Sha1).map_err(|e| e.to_string())?;
        let key = format!(
            "ocsp\n{url}\n{}",
            signet_signature::hex_upper(&id.to_der_bytes().map_err(|e| e.to_string())?)
        );
        let check =
            |bytes: &[u8]| ocsp::check_response(bytes, certificate, issuer, ctx.now, None, limits);
        if let Some(bytes) = self.cached(&key, limits.max_ocsp_response_size)
            && let Ok(answer) = check(&bytes)
        {
            return Ok(answer.status);
        }
        if ctx.mode == RevocationMode::Offline {
            return Err("offline, and no current response in the cache".into());
        }
        let request = OcspRequest::new(vec![id], None)
            .and_then(|r| r.to_der_bytes())
            .map_err(|e| e.to_string())?;
        let bytes = self.fetch_ocsp(url, &request, ctx)?;
        let answer = check(&bytes).map_err(|e| e.to_string())?;
        if !matches!(answer.status, RevocationStatus::Unknown { .. }) {
            self.store(&key, bytes);
        }
        Ok(answer.status)
    }

    /// A fresh OCSP response for `certificate` (issued by `issuer`) from its responders, as
    /// the CA signed it, with what it says — for a server that staples status to what it
    /// serves. Only a response that passes every check and knows the certificate (good or
    /// revoked) is returned.
    pub fn fetch_ocsp_staple(
        &self,
        certificate: &Certificate,
        issuer: &Certificate,
        ctx: &RevocationContext,
    ) -> Result<(Vec<u8>, ocsp::OcspAnswer), String> {
        let limits = &self.settings.limits;
        let urls: Vec<String> = ocsp_urls(certificate)
            .into_iter()
            .take(limits.max_urls_per_certificate)
            .collect();
        if urls.is_empty() {
            return Err("the certificate names no http OCSP responder".into());
        }
        let id = CertId::new(certificate, issuer, CertIdHash::Sha1).map_err(|e| e.to_string())?;
        let request = OcspRequest::new(vec![id], None)
            .and_then(|r| r.to_der_bytes())
            .map_err(|e| e.to_string())?;
        let mut reasons = Vec::new();
        for url in &urls {
            match self.fetch_ocsp(url, &request, ctx).and_then(|bytes| {
                ocsp::check_response(&bytes, certificate, issuer, ctx.now, None, limits)
                    .map(|a| (bytes, a))
                    .map_err(|e| e.to_string())
            }) {
                Ok((bytes, answer))
                    if !matches!(answer.status, RevocationStatus::Unknown { .. }) =>
                {
                    return Ok((bytes, answer));
                }
                Ok(_) => reasons.push(format!("{url}: the responder does not know it")),
                Err(e) => reasons.push(format!("{url}: {e}")),
            }
        }
        Err(reasons.join("; "))
    }

    /// POST, then GET if the request is short and POST failed for a reason other than the
    /// host being down; both within one responder timeout.
    fn fetch_ocsp(
        &self,
        url: &str,
        request: &[u8],
        ctx: &RevocationContext,
    ) -> Result<Vec<u8>, String> {
        let host = host_of(url);
        let started = Instant::now();
        let max_len = self.settings.limits.max_ocsp_response_size;
        let timeout = self.timeout(ctx, started, &host)?;
        let post_error =
            match self
                .fetcher
                .post(url, ocsp::REQUEST_CONTENT_TYPE, request, timeout, max_len)
            {
                Ok(body) => return Ok(body),
                Err(e) if e.host_is_down() => {
                    self.mark_down(ctx, &host);
                    return Err(e.to_string());
                }
                Err(e) => e,
            };
        let encoded = {
            use base64::Engine;
            base64::engine::general_purpose::STANDARD.encode(request)
        };
        if encoded.len() > MAX_GET_REQUEST_LEN {
            return Err(post_error.to_string());
        }
        let get_url = format!(
            "{}/{}",
            url.trim_end_matches('/'),
            encoded
                .replace('+', "%2B")
                .replace('/', "%2F")
                .replace('=', "%3D")
        );
        let timeout = self.timeout(ctx, started, &host)?;
        self.fetcher.get(&get_url, timeout, max_len).map_err(|e| {
            if e.host_is_down() {
                self.mark_down(ctx, &host);
            }
            format!("POST: {post_error}; GET: {e}")
        })
    }

    fn crl(
        &self,
        url: &str,
        certificate: &Certificate,
        issuer: &Certificate,
        ctx: &RevocationContext,
    ) -> Result<RevocationStatus, String> {
        let limits = &self.settings.limits;
        let key = format!("crl\n{url}");
        let check = |bytes: &[u8]| {
            Crl::decode(bytes, limits).and_then(|crl| crl.status_of(certificate, issuer, ctx.now))
        };
        if let Some(bytes) = self.cached(&key, limits.max_crl_size)
            && let Ok(status) = check(&bytes)
        {
            return Ok(status);
        }
        if ctx.mode == RevocationMode::Offline {
            return Err("offline, and no current CRL in the cache".into());
        }
        let host = host_of(url);
        let timeout = self.timeout(ctx, Instant::now(), &host)?;
        let bytes = self
            .fetcher
            .get(url, timeout, limits.max_crl_size)
            .map_err(|e| {
                if e.host_is_down() {
                    self.mark_down(ctx, &host);
                }
                e.to_string()
            })?;
        let status = check(&bytes).map_err(|e| e.to_string())?;
        self.store(&key, bytes);
        Ok(status)
    }

    /// The timeout for the next request to `host`: what is left of the responder's timeout
    /// (counted from `started`) and of the verification's budget.
    fn timeout(
        &self,
        ctx: &RevocationContext,
        started: Instant,
        host: &str,
    ) -> Result<Duration, String> {
        if self.is_down(ctx, host) {
            return Err(format!(
                "not asked: {host} did not answer earlier in this run"
            ));
        }
        let run_left = self.run_remaining();
        let left = self
            .settings
            .responder_timeout
            .saturating_sub(started.elapsed())
            .min(ctx.remaining(self.settings.budget))
            .min(run_left.unwrap_or(Duration::MAX));
        if left.is_zero() {
            return Err(match run_left {
                Some(r) if r.is_zero() => format!(
                    "not asked: the revocation time budget of {} s for this run is spent",
                    self.settings.run_budget.unwrap_or_default().as_secs_f32()
                ),
                _ => format!(
                    "not asked: the revocation time budget of {} s is spent",
                    self.settings.budget.as_secs_f32()
                ),
            });
        }
        Ok(left)
    }

    fn cached(&self, key: &str, max_len: usize) -> Option<Arc<Vec<u8>>> {
        if let Ok(memory) = self.memory.lock()
            && let Some(bytes) = memory.get(key)
        {
            return Some(bytes.clone());
        }
        let path = self.cache_path(key)?;
        let file = std::fs::File::open(path).ok()?;
        let mut bytes = Vec::new();
        use std::io::Read;
        file.take(u64::try_from(max_len).ok()?.saturating_add(1))
            .read_to_end(&mut bytes)
            .ok()?;
        if bytes.len() > max_len {
            return None;
        }
        let bytes = Arc::new(bytes);
        self.remember(key, bytes.clone());
        Some(bytes)
    }

    fn remember(&self, key: &str, bytes: Arc<Vec<u8>>) {
        if let Ok(mut memory) = self.memory.lock() {
            if memory.len() >= MAX_MEMORY_ENTRIES {
                memory.clear();
            }
            memory.insert(key.to_string(), bytes);
        }
    }

    /// Keeps a response that passed its checks, in memory and on disk (written to a
    /// temporary file in the cache directory and renamed, so readers never see half a file).
    /// Caching is best effort: a cache that cannot be written is skipped.
    fn store(&self, key: &str, bytes: Vec<u8>) {
        let bytes = Arc::new(bytes);
        self.remember(key, bytes.clone());
        let (Some(dir), Some(path)) = (self.settings.cache_dir.as_ref(), self.cache_path(key))
        else {
            return;
        };
        let write = || -> std::io::Result<()> {
            use std::io::Write;
            std::fs::create_dir_all(dir)?;
            let mut tmp = tempfile::NamedTempFile::new_in(dir)?;
            tmp.write_all(&bytes)?;
            tmp.as_file().sync_all()?;
            tmp.persist(&path).map_err(|e| e.error)?;
            Ok(())
        };
        let _ = write();
    }

    fn cache_path(&self, key: &str) -> Option<PathBuf> {
        let dir = self.settings.cache_dir.as_ref()?;
        let kind = if key.starts_with("crl\n") {
            "crl"
        } else {
            "ocsp"
        };
        let name = hex::encode(HashAlgorithm::Sha256.digest(key.as_bytes()));
        Some(dir.join(format!("{kind}-{name}.der")))
    }
}

impl RevocationSource for RevocationChecker {
    fn status(
        &self,
        certificate: &Certificate,
        issuer: &Certificate,
        context: &RevocationContext,
    ) -> RevocationStatus {
        self.check(certificate, issuer, context)
    }
}

/// `scheme://host:port` of a URL (the unit a dead responder is remembered by).
fn host_of(url: &str) -> String {
    let (scheme, rest) = url.split_once("://").unwrap_or(("", url));
    let authority = rest.split(['/', '?', '#']).next().unwrap_or(rest);
    format!(
        "{}://{}",
        scheme.to_ascii_lowercase(),
        authority.to_ascii_lowercase()
    )
}

/// The http(s) OCSP responder URLs of the AuthorityInfoAccess extension.
pub fn ocsp_urls(certificate: &Certificate) -> Vec<String> {
    let Ok(Some((_, aia))) = certificate
        .x509()
        .tbs_certificate()
        .get_extension::<AuthorityInfoAccessSyntax>()
    else {
        return Vec::new();
    };
    aia.0
        .iter()
        .filter(|d| d.access_method == ocsp::ID_AD_OCSP)
        .filter_map(|d| match &d.access_location {
            GeneralName::UniformResourceIdentifier(uri) => Some(uri.to_string()),
            _ => None,
        })
        .filter(|u| is_fetchable(u))
        .collect()
}

/// The http(s) URLs of the CRL distribution points that cover every reason and are issued by
/// the certificate's issuer (no `reasons`, no `cRLIssuer`).
pub fn crl_urls(certificate: &Certificate) -> Vec<String> {
    let Ok(Some((_, cdp))) = certificate
        .x509()
        .tbs_certificate()
        .get_extension::<CrlDistributionPoints>()
    else {
        return Vec::new();
    };
    cdp.0
        .iter()
        .filter(|dp| dp.reasons.is_none() && dp.crl_issuer.is_none())
        .filter_map(|dp| match &dp.distribution_point {
            Some(DistributionPointName::FullName(names)) => Some(names),
            _ => None,
        })
        .flatten()
        .filter_map(|n| match n {
            GeneralName::UniformResourceIdentifier(uri) => Some(uri.to_string()),
            _ => None,
        })
        .filter(|u| is_fetchable(u))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hosts() {
        assert_eq!(
            host_of("http://Ocsp.Example:8080/a/b"),
            "http://ocsp.example:8080"
        );
        assert_eq!(host_of("https://crl.example?x"), "https://crl.example");
        assert_eq!(host_of("nonsense"), "://nonsense");
    }
}
