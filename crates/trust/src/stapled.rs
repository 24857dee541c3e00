//! Stapled revocation status: OCSP responses a feed fetched from the CAs ahead of time and
//! serves with each package, so that an install never waits on a CA (NuGet/Home#11548,
//! #13659) and an air-gapped client still checks revocation (instead of turning it off with
//! `NUGET_CERT_REVOCATION_MODE=offline`, #7008).
//!
//! The trust stays with the CA: a staple is the CA's (or its delegated responder's) signed
//! bytes, checked exactly like a response fetched online (`ocsp::check_response`: signer,
//! certificate ID, `thisUpdate`/`nextUpdate` window). A stale, foreign or mis-signed staple is
//! never used; the fallback (online checking within the run's budget) answers instead, or, in
//! stapled-only mode, the status is unknown. A [`StapleMemory`] kept per user refuses a staple
//! older than one already seen for the same certificate, and remembers revocations, so a feed
//! cannot replay last month's "good" after the CA said "revoked".

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use signet_common::UtcTime;
use signet_signature::Certificate;

use crate::limits::RevocationLimits;
use crate::ocsp::{self, CertId, CertIdHash};
use crate::revocation::{RevocationContext, RevocationSource};
use crate::status::RevocationStatus;

/// Most staples used for one package (a chain of a few certificates per signature, three
/// signatures at most, with room for CRL-less intermediates).
pub const MAX_STAPLES: usize = 64;

/// The certificate ID an OCSP staple answers for, as hex of its DER (SHA-1 name and key hashes
/// and the serial, as OCSP requests carry them): the key under which servers store and
/// clients remember staples.
pub fn staple_key(certificate: &Certificate, issuer: &Certificate) -> Option<String> {
    let id = CertId::new(certificate, issuer, CertIdHash::Sha1).ok()?;
    Some(signet_signature::hex_upper(&id.to_der_bytes().ok()?))
}

/// Revocation from staples first, then (unless stapled-only) a fallback source.
#[derive(Debug)]
pub struct StapledRevocation {
    responses: Vec<Vec<u8>>,
    fallback: Option<Arc<dyn RevocationSource>>,
    memory: Option<Arc<StapleMemory>>,
    limits: RevocationLimits,
    answered: AtomicUsize,
    unanswered: AtomicUsize,
}

impl StapledRevocation {
    /// Staples (DER OCSP responses; at most [`MAX_STAPLES`] are looked at, each bounded by
    /// `limits`), and `fallback` for certificates without a usable staple (`None`: never go
    /// online — the air-gapped mode).
    pub fn new(
        responses: Vec<Vec<u8>>,
        fallback: Option<Arc<dyn RevocationSource>>,
        memory: Option<Arc<StapleMemory>>,
        limits: RevocationLimits,
    ) -> Self {
        let responses = responses
            .into_iter()
            .filter(|r| r.len() <= limits.max_ocsp_response_size)
            .take(MAX_STAPLES)
            .collect();
        Self {
            responses,
            fallback,
            memory,
            limits,
            answered: AtomicUsize::new(0),
            unanswered: AtomicUsize::new(0),
        }
    }

    /// How many statuses came from staples (for reports and tests: revocation was checked,
    /// and without a connection).
    pub fn answered_from_staples(&self) -> usize {
        self.answered.load(Ordering::Relaxed)
    }

    /// How many statuses had no usable staple and no fallback (stapled-only): revocation was
    /// not checked for them. Callers say so, whatever the policy does with unknown status.
    pub fn unanswered(&self) -> usize {
        self.unanswered.load(Ordering::Relaxed)
    }

    /// The newest usable staple's status for the pair, if any.
    fn newest_staple(
        &self,
        certificate: &Certificate,
        issuer: &Certificate,
        now: UtcTime,
    ) -> Option<(RevocationStatus, UtcTime)> {
        let mut best: Option<(RevocationStatus, UtcTime)> = None;
        for r in &self.responses {
            let Ok(answer) = ocsp::check_response(r, certificate, issuer, now, None, &self.limits)
            else {
                continue;
            };
            if matches!(answer.status, RevocationStatus::Unknown { .. }) {
                continue;
            }
            let newer = best.as_ref().is_none_or(|(_, t)| answer.this_update > *t);
            if newer {
                best = Some((answer.status, answer.this_update));
            }
        }
        best
    }
}

impl RevocationSource for StapledRevocation {
    fn status(
        &self,
        certificate: &Certificate,
        issuer: &Certificate,
        context: &RevocationContext,
    ) -> RevocationStatus {
        let key = staple_key(certificate, issuer);
        let stapled = self.newest_staple(certificate, issuer, context.now);
        let remembered = match (&self.memory, &key) {
            (Some(m), Some(k)) => m.judge(k, stapled),
            _ => stapled.map(|(s, _)| s),
        };
        if let Some(status) = remembered {
            self.answered.fetch_add(1, Ordering::Relaxed);
            return status;
        }
        match &self.fallback {
            Some(f) => f.status(certificate, issuer, context),
            None => {
                self.unanswered.fetch_add(1, Ordering::Relaxed);
                RevocationStatus::Unknown {
                why: "no current stapled status from the feed, and going online is not allowed (--revocation-mode stapled)".into(),
                }
            }
        }
    }
}

/// What was last seen for one certificate.
#[derive(Clone, Debug, serde::Serialize, serde::Deserialize)]
struct Seen {
    /// thisUpdate of the newest status seen (Unix microseconds).
    this_update: i64,
    /// When it was revoked, if a staple ever said so (revocation is final).
    #[serde(default)]
    revoked_at: Option<i64>,
}

/// Most certificates remembered (a few hundred bytes each).
const MAX_REMEMBERED: usize = 100_000;

/// The newest staple status seen per certificate, kept in a file per user: a staple older
/// than one already seen is not used, and a revocation once seen is never overridden by a
/// "good" staple (a replay of an older response).
#[derive(Debug)]
pub struct StapleMemory {
    path: Option<PathBuf>,
    seen: Mutex<BTreeMap<String, Seen>>,
}

impl StapleMemory {
    /// Memory only (nothing kept between runs).
    pub fn in_memory() -> Self {
        Self {
            path: None,
            seen: Mutex::new(BTreeMap::new()),
        }
    }

    /// Loads `path` (missing or unreadable: empty; at most 64 MiB read).
    pub fn load(path: PathBuf) -> Self {
        use std::io::Read as _;
        let seen = std::fs::File::open(&path)
            .ok()
            .and_then(|f| {
                let mut bytes = Vec::new();
                f.take(64 * 1024 * 1024).read_to_end(&mut bytes).ok()?;
                serde_json::from_slice::<BTreeMap<String, Seen>>(&bytes).ok()
            })
            .unwrap_or_default();
        Self {
            path: Some(path),
            seen: Mutex::new(seen),
        }
    }

    /// Writes the memory back (atomically; best effort callers may ignore the error).
    pub fn save(&self) -> std::io::Result<()> {
        let Some(path) = &self.path else {
            return Ok(());
        };
        let bytes = {
            let seen = self
                .seen
                .lock()
                .map_err(|_| std::io::Error::other("poisoned"))?;
            serde_json::to_vec(&*seen).map_err(std::io::Error::other)?
        };
        let dir = path.parent().unwrap_or(std::path::Path::new("."));
        std::fs::create_dir_all(dir)?;
        let mut tmp = tempfile::NamedTempFile::new_in(dir)?;
        std::io::Write::write_all(&mut tmp, &bytes)?;
        tmp.persist(path).map_err(|e| e.error)?;
        Ok(())
    }

    /// The status to use for `key` given the newest usable staple (`None`: no staple), and
    /// records what is now the newest.
    fn judge(
        &self,
        key: &str,
        stapled: Option<(RevocationStatus, UtcTime)>,
    ) -> Option<RevocationStatus> {
        let Ok(mut seen) = self.seen.lock() else {
            return stapled.map(|(s, _)| s);
        };
        let prior = seen.get(key).cloned();
        // A revocation once seen stands, whatever a staple says now.
        if let Some(at) = prior.as_ref().and_then(|p| p.revoked_at) {
            return Some(RevocationStatus::Revoked {
                time: UtcTime::from_unix_micros(at),
                reason: None,
                invalidity_date: None,
            });
        }
        let (status, this_update) = stapled?;
        if prior
            .as_ref()
            .is_some_and(|p| this_update.unix_micros() < p.this_update)
        {
            // Older than a status already seen: a replay; not used.
            return None;
        }
        if seen.len() >= MAX_REMEMBERED && !seen.contains_key(key) {
            return Some(status);
        }
        let revoked_at = match &status {
            RevocationStatus::Revoked { time, .. } => Some(time.unix_micros()),
            _ => None,
        };
        seen.insert(
            key.to_string(),
            Seen {
                this_update: this_update.unix_micros(),
                revoked_at,
            },
        );
        Some(status)
    }
}
