//! Stapled revocation status: the server fetches OCSP responses for every certificate chain in
//! the signatures it serves (author, timestamp and repository signers and their intermediates),
//! keeps them fresh, and serves the CA-signed bytes unchanged beside each version
//! (`signet/RevocationStatus/1.0.0`), so that clients check revocation without contacting a
//! CA. The trust stays with the CA: clients verify every staple as they would an online
//! response; the server only carries them.
//!
//! Staples live in the blob store under `staples/{certificate ID}.json` (the certificate and
//! issuer DER beside the response, so the refresh job needs nothing else). A staple is fetched
//! when a version's document is first asked for (a push asks right after its commit) and
//! refreshed by [`Stapler::refresh_stored`] when older than a day or within two days of its
//! `nextUpdate` (CA rules let code-signing OCSP responses live up to about a week).

use std::io::{Read, Seek};
use std::sync::Arc;

use base64::Engine as _;
use futures_util::StreamExt as _;
use signet_signature::{Certificate, Limits as SignatureLimits, PrimarySignature};
use signet_trust::{RevocationChecker, RevocationContext, RevocationMode, RevocationStatus};

use crate::blob::{BlobBody, BlobStore};
use crate::clock::Clock;
use crate::error::Error;

/// The service index resource type.
pub const REVOCATION_STATUS: &str = "signet/RevocationStatus/1.0.0";

/// Refresh a staple older than this (microseconds).
const REFRESH_AGE: i64 = 24 * 3600 * 1_000_000;
/// Refresh a staple this close to its `nextUpdate` (microseconds).
const REFRESH_BEFORE_EXPIRY: i64 = 2 * 24 * 3600 * 1_000_000;
/// How long a failed fetch is remembered (microseconds).
const FAILURE_MEMORY: i64 = 10 * 60 * 1_000_000;

/// Whether a stored staple should be fetched again: older than a day, past half its validity
/// (`thisUpdate` to `nextUpdate`), or within two days of its `nextUpdate`.
fn needs_refresh(r: &Record, now: i64) -> bool {
    let validity = (r.next_update - r.this_update).max(0);
    now - r.fetched_at >= REFRESH_AGE
        || now - r.this_update >= validity / 2
        || (validity > 2 * REFRESH_BEFORE_EXPIRY && r.next_update - now <= REFRESH_BEFORE_EXPIRY)
}

/// Most certificates followed up one chain.
const MAX_CHAIN: usize = 10;
/// Largest staple record read back.
const MAX_RECORD: usize = 256 * 1024;

/// A stored staple.
#[derive(Clone, Debug, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "camelCase")]
struct Record {
    certificate: String,
    issuer: String,
    response: String,
    fetched_at: i64,
    this_update: i64,
    next_update: i64,
    revoked: bool,
}

/// What a refresh did.
#[derive(Clone, Debug, Default, PartialEq, Eq, serde::Serialize)]
pub struct StapleSummary {
    /// Responses fetched and stored.
    pub fetched: usize,
    /// Still fresh, not fetched.
    pub fresh: usize,
    /// Could not be fetched (responder down, no OCSP URL).
    pub failed: usize,
    /// SHA-256 fingerprints of certificates a staple says are revoked.
    pub revoked: Vec<String>,
}

/// Fetches, stores and serves staples.
pub struct Stapler {
    checker: Arc<RevocationChecker>,
    blobs: Arc<dyn BlobStore>,
    clock: Arc<dyn Clock>,
    /// Staple keys whose fetch failed, and when (microseconds).
    failures: std::sync::Mutex<std::collections::HashMap<String, i64>>,
    /// Staple keys being fetched now.
    in_flight: std::sync::Mutex<std::collections::HashSet<String>>,
}

/// A key marked as being fetched, unmarked when dropped.
struct InFlight<'a> {
    set: &'a std::sync::Mutex<std::collections::HashSet<String>>,
    key: String,
}

impl<'a> InFlight<'a> {
    /// `None` when another task is fetching `key` already.
    fn start(
        set: &'a std::sync::Mutex<std::collections::HashSet<String>>,
        key: &str,
    ) -> Option<Self> {
        let mut s = set.lock().ok()?;
        s.insert(key.to_string()).then(|| Self {
            set,
            key: key.to_string(),
        })
    }
}

impl Drop for InFlight<'_> {
    fn drop(&mut self) {
        if let Ok(mut s) = self.set.lock() {
            s.remove(&self.key);
        }
    }
}

impl std::fmt::Debug for Stapler {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Stapler").finish_non_exhaustive()
    }
}

fn b64(bytes: &[u8]) -> String {
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

fn unb64(s: &str) -> Option<Vec<u8>> {
    base64::engine::general_purpose::STANDARD.decode(s).ok()
}

impl Stapler {
    /// A stapler that fetches with `checker` and stores in `blobs`.
    pub fn new(
        checker: Arc<RevocationChecker>,
        blobs: Arc<dyn BlobStore>,
        clock: Arc<dyn Clock>,
    ) -> Self {
        Self {
            checker,
            blobs,
            clock,
            failures: std::sync::Mutex::default(),
            in_flight: std::sync::Mutex::default(),
        }
    }

    /// The (certificate, issuer) pairs of every chain in a package's signatures, from the
    /// certificates the signatures carry; roots (self-issued) need no status.
    pub fn pairs(signature: &[u8]) -> Vec<(Certificate, Certificate)> {
        let Ok(sig) = PrimarySignature::load(signature, &SignatureLimits::default()) else {
            return Vec::new();
        };
        let mut pairs = Vec::new();
        let mut add_chain = |leaf: &Certificate, bag: &[Certificate]| {
            let mut current = leaf.clone();
            for _ in 0..MAX_CHAIN {
                if current.is_self_issued() {
                    break;
                }
                let Some(issuer) = bag
                    .iter()
                    .find(|c| c.der() != current.der() && current.is_signed_by(c))
                else {
                    break;
                };
                if !pairs.iter().any(|(c, i): &(Certificate, Certificate)| {
                    c.der() == current.der() && i.der() == issuer.der()
                }) {
                    pairs.push((current.clone(), issuer.clone()));
                }
                current = issuer.clone();
            }
        };
        add_chain(sig.certificate(), sig.certificates());
        if let Ok(Some(ts)) = sig.first_timestamp() {
            add_chain(ts.certificate(), ts.certificates());
        }
        if let Ok(Some(counter)) = sig.repository_countersignature() {
            if let Some(cert) = counter.certificate() {
                add_chain(cert, sig.certificates());
            }
            if let Ok(Some(ts)) = counter.first_timestamp() {
                add_chain(ts.certificate(), ts.certificates());
            }
        }
        pairs
    }

    fn key(certificate: &Certificate, issuer: &Certificate) -> Option<String> {
        signet_trust::staple_key(certificate, issuer).map(|k| format!("staples/{k}.json"))
    }

    async fn read_record(&self, key: &str) -> Option<Record> {
        let body = self.blobs.get(key).await.ok()??;
        let bytes = read_body(body, MAX_RECORD).await.ok()?;
        serde_json::from_slice(&bytes).ok()
    }

    async fn write_record(&self, key: &str, record: &Record) -> Result<(), Error> {
        let bytes = serde_json::to_vec(record).map_err(|e| Error::Invalid(e.to_string()))?;
        let mut tmp = tempfile::NamedTempFile::new().map_err(|e| Error::io("staple", e))?;
        std::io::Write::write_all(&mut tmp, &bytes).map_err(|e| Error::io("staple", e))?;
        tmp.as_file()
            .sync_all()
            .map_err(|e| Error::io("staple", e))?;
        let path = tmp.into_temp_path();
        self.blobs.put_file(key, &path).await
    }

    /// Fetches (on a blocking thread, within the checker's budgets) and stores a staple for
    /// the pair under `key`, unless `stored` is fresh. Returns how it went and the record now
    /// stored (the fetched one, else what was there). One fetch per key at a time: a burst of
    /// requests for a new version asks the CA once, the others serve what is stored.
    async fn ensure(
        &self,
        key: &str,
        certificate: &Certificate,
        issuer: &Certificate,
        stored: Option<Record>,
        force: bool,
    ) -> (Outcome, Option<Record>) {
        let now = self.clock.now();
        if !force
            && let Some(r) = &stored
            && !needs_refresh(r, now.unix_micros())
        {
            return (Outcome::Fresh, stored);
        }
        let Some(_flight) = InFlight::start(&self.in_flight, key) else {
            return (Outcome::Fresh, stored);
        };
        let checker = Arc::clone(&self.checker);
        let (c, i) = (certificate.clone(), issuer.clone());
        let fetched = tokio::task::spawn_blocking(move || {
            let ctx = RevocationContext::new(RevocationMode::Online, now);
            checker.fetch_ocsp_staple(&c, &i, &ctx)
        })
        .await;
        let Ok(Ok((bytes, answer))) = fetched else {
            self.remember_failure(key);
            return (Outcome::Failed, stored);
        };
        let revoked = matches!(answer.status, RevocationStatus::Revoked { .. });
        let record = Record {
            certificate: b64(certificate.der()),
            issuer: b64(issuer.der()),
            response: b64(&bytes),
            fetched_at: now.unix_micros(),
            this_update: answer.this_update.unix_micros(),
            next_update: answer.expires().unix_micros(),
            revoked,
        };
        match self.write_record(key, &record).await {
            Ok(()) => (Outcome::Fetched, Some(record)),
            Err(e) => {
                tracing::warn!(error = %e, "cannot store a staple");
                (Outcome::Failed, Some(record))
            }
        }
    }

    /// The stored staples of every chain of `signature`. With `fetch` (after a push), missing
    /// or stale ones are fetched first. Without (a client's request), what is stored is served
    /// as it is — freshness is the refresh job's, and every client checks the window itself —
    /// and only a staple never fetched is asked for, once at a time per certificate and not
    /// again for ten minutes after a failure.
    pub async fn staples_for(
        &self,
        signature: &[u8],
        fetch: bool,
    ) -> (Vec<Vec<u8>>, StapleSummary) {
        let mut summary = StapleSummary::default();
        let mut out = Vec::new();
        for (c, i) in Self::pairs(signature) {
            let Some(key) = Self::key(&c, &i) else {
                continue;
            };
            let mut record = self.read_record(&key).await;
            if fetch || record.is_none() && !self.recently_failed(&key) {
                let (outcome, now_stored) = self.ensure(&key, &c, &i, record, false).await;
                summary.count(outcome);
                if now_stored.as_ref().is_some_and(|r| r.revoked) {
                    summary.revoked.push(c.sha256_hex());
                }
                record = now_stored;
            }
            if let Some(bytes) = record.and_then(|r| unb64(&r.response)) {
                out.push(bytes);
            }
        }
        (out, summary)
    }

    /// Whether fetching `key` failed in the last ten minutes (a dead CA is not asked on every
    /// client request).
    fn recently_failed(&self, key: &str) -> bool {
        let now = self.clock.now().unix_micros();
        self.failures
            .lock()
            .is_ok_and(|f| f.get(key).is_some_and(|t| now - t < FAILURE_MEMORY))
    }

    fn remember_failure(&self, key: &str) {
        let now = self.clock.now().unix_micros();
        if let Ok(mut f) = self.failures.lock() {
            if f.len() > 10_000 {
                f.clear();
            }
            f.insert(key.to_string(), now);
        }
    }

    /// Refreshes every stored staple that is older than a day or close to its `nextUpdate`
    /// (the periodic job), or all of them with `force`.
    pub async fn refresh_stored(&self, force: bool) -> Result<StapleSummary, Error> {
        let mut summary = StapleSummary::default();
        for (key, _) in self.blobs.list("staples/").await? {
            let Some(r) = self.read_record(&key).await else {
                continue;
            };
            let (Some(c), Some(i)) = (
                unb64(&r.certificate).and_then(|d| Certificate::from_der(&d).ok()),
                unb64(&r.issuer).and_then(|d| Certificate::from_der(&d).ok()),
            ) else {
                continue;
            };
            let (outcome, now_stored) = self.ensure(&key, &c, &i, Some(r), force).await;
            summary.count(outcome);
            if now_stored.is_some_and(|r| r.revoked) {
                summary.revoked.push(c.sha256_hex());
            }
        }
        Ok(summary)
    }

    /// The JSON document of a version: `{"version": 1, "ocspResponses": [base64 DER, …]}`.
    pub async fn document(&self, signature: Option<&[u8]>) -> serde_json::Value {
        let responses = match signature {
            Some(sig) => self.staples_for(sig, false).await.0,
            None => Vec::new(),
        };
        serde_json::json!({
            "version": 1,
            "ocspResponses": responses.iter().map(|r| b64(r)).collect::<Vec<_>>(),
        })
    }
}

/// How one staple went.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Outcome {
    Fetched,
    Fresh,
    Failed,
}

impl StapleSummary {
    fn count(&mut self, o: Outcome) {
        match o {
            Outcome::Fetched => self.fetched += 1,
            Outcome::Fresh => self.fresh += 1,
            Outcome::Failed => self.failed += 1,
        }
    }
}

/// Reads a blob into memory, at most `max` bytes.
async fn read_body(body: BlobBody, max: usize) -> Result<Vec<u8>, Error> {
    let too_big = || Error::Invalid("a stored staple is too large".into());
    match body {
        BlobBody::Bytes(b) => {
            if b.len() > max {
                return Err(too_big());
            }
            Ok(b.to_vec())
        }
        BlobBody::File { file, len } => {
            if usize::try_from(len).map_or(true, |l| l > max) {
                return Err(too_big());
            }
            let mut out = Vec::new();
            tokio::io::AsyncReadExt::read_to_end(
                &mut tokio::io::AsyncReadExt::take(file, len),
                &mut out,
            )
            .await
            .map_err(|e| Error::io("staple", e))?;
            Ok(out)
        }
        BlobBody::Stream { mut stream, .. } => {
            let mut out = Vec::new();
            while let Some(chunk) = stream.next().await {
                let chunk = chunk.map_err(|e| Error::io("staple", e))?;
                out.extend_from_slice(&chunk);
                if out.len() > max {
                    return Err(too_big());
                }
            }
            Ok(out)
        }
    }
}

/// The signature of a stored package (`.signature.p7s`), read without holding the package in
/// memory: files are read in place, remote objects spooled to a temporary file.
pub async fn package_signature(body: BlobBody) -> Result<Option<Vec<u8>>, Error> {
    crate::blob::read_blocking(body, signature_of).await
}

fn signature_of<R: Read + Seek>(reader: R) -> Result<Option<Vec<u8>>, Error> {
    let mut pkg = signet_nupkg::Package::open(reader, &signet_nupkg::Limits::default())
        .map_err(|e| Error::Invalid(e.to_string()))?;
    pkg.read_signature()
        .map_err(|e| Error::Invalid(e.to_string()))
}
