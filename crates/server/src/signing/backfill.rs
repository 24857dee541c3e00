//! Backfill (spec server §3.3): repository-sign every stored version whose bytes lack a
//! signature by the current repository certificate — after signing was turned on, or after a
//! rotation. Idempotent and resumable by construction: what is left is exactly the versions
//! whose recorded repository fingerprint is not the current one, and each version is switched
//! to its new bytes in one transaction (the old blob is deleted after the commit; a crash
//! between leaves an orphan that start-up collects).

use std::path::Path;

use serde::Serialize;

use crate::signing::store::VersionSignature;

/// Versions fetched from the database per batch.
pub(crate) const BATCH: i64 = 256;

/// Where a backfill run stands.
#[derive(Clone, Debug, Default, Serialize)]
pub struct BackfillProgress {
    /// Versions that lacked the current repository signature when the run started.
    pub total: u64,
    /// Signed so far.
    pub signed: u64,
    /// Left alone because another process changed them meanwhile.
    pub skipped: u64,
    /// Failed (logged; a later run retries them).
    pub failed: u64,
}

/// The author part of a signature row, read from the package when the version predates
/// signature rows (stored before signing was enabled). Blocking.
pub(crate) fn author_part(path: &Path, limits: &signet_nupkg::Limits) -> VersionSignature {
    let read = || -> Option<VersionSignature> {
        let file = std::fs::File::open(path).ok()?;
        let mut pkg = signet_nupkg::Package::open(std::io::BufReader::new(file), limits).ok()?;
        let bytes = pkg.read_signature().ok()??;
        let sig =
            signet_signature::PrimarySignature::load(&bytes, &signet_signature::Limits::default())
                .ok()?;
        if sig.signature_type() != signet_signature::SignatureType::Author {
            return None;
        }
        let cert = sig.certificate();
        let ts = sig.first_timestamp().ok().flatten();
        Some(VersionSignature {
            author_fingerprint: Some(cert.sha256_hex().to_lowercase()),
            author_subject: Some(cert.subject()),
            author_issuer: Some(cert.issuer()),
            author_not_before: Some(cert.not_before().unix_micros()),
            author_not_after: Some(cert.not_after().unix_micros()),
            timestamp_at: ts.as_ref().map(|t| t.upper_limit().unix_micros()),
            timestamp_subject: ts.as_ref().map(|t| t.certificate().subject()),
            ..VersionSignature::default()
        })
    };
    read().unwrap_or_default()
}

pub(crate) enum One {
    Signed,
    Skipped,
}
