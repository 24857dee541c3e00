//! `state.json`: what the PKI issued, what it revoked, and its CRLs.
//!
//! Times are RFC 3339 text and serials uppercase hex, so the file can be read (and, with care,
//! edited) by hand. `pki revoke` rewrites it atomically; `pki serve` re-reads it on every
//! request, so a revocation shows at once in the running server's CRLs and OCSP answers.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use signet_common::UtcTime;

use crate::error::Error;
use crate::files::{self, Access};
use crate::model::{CertName, RevocationReason, parse_rfc3339};

/// The state file's name inside the PKI directory.
pub const STATE_FILE: &str = "state.json";

/// The format written in `format`; a different value is refused.
const FORMAT: u32 = 1;

/// The whole state file.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
pub(crate) struct StateFile {
    pub(crate) format: u32,
    /// The loopback port named in every CRL and OCSP URL.
    pub(crate) port: u16,
    /// When `init` ran.
    pub(crate) created: String,
    pub(crate) certificates: Vec<IssuedRecord>,
    #[serde(default)]
    pub(crate) revocations: Vec<RevocationRecord>,
    pub(crate) crls: Vec<CrlRecord>,
}

/// One certificate `init` issued.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
pub(crate) struct IssuedRecord {
    pub(crate) name: String,
    pub(crate) serial: String,
    pub(crate) subject: String,
    /// The issuing CA's name (absent for the root).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) issuer: Option<String>,
    pub(crate) not_before: String,
    pub(crate) not_after: String,
    /// SHA-256 of the certificate DER, uppercase hex.
    pub(crate) sha256: String,
}

/// One revocation.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
pub(crate) struct RevocationRecord {
    pub(crate) serial: String,
    pub(crate) name: String,
    pub(crate) issuer: String,
    pub(crate) time: String,
    pub(crate) reason: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) invalidity_date: Option<String>,
}

/// The last CRL written to disk for one CA.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
pub(crate) struct CrlRecord {
    pub(crate) issuer: String,
    pub(crate) number: u64,
    pub(crate) this_update: String,
}

/// A revocation, decoded.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Revocation {
    pub(crate) serial: Vec<u8>,
    pub(crate) issuer: CertName,
    pub(crate) time: UtcTime,
    pub(crate) reason: RevocationReason,
    pub(crate) invalidity_date: Option<UtcTime>,
}

impl StateFile {
    pub(crate) fn path(dir: &Path) -> PathBuf {
        dir.join(STATE_FILE)
    }

    pub(crate) fn load(dir: &Path) -> Result<Self, Error> {
        let path = Self::path(dir);
        if !path.exists() {
            return Err(Error::NotAPki(dir.to_owned()));
        }
        let bytes = files::read(&path)?;
        let state: StateFile = serde_json::from_slice(&bytes).map_err(|e| Error::BadState {
            path: path.clone(),
            reason: e.to_string(),
        })?;
        if state.format != FORMAT {
            return Err(Error::BadState {
                path,
                reason: format!(
                    "format {} (this signet reads format {FORMAT})",
                    state.format
                ),
            });
        }
        // Decode everything once so that later lookups cannot meet a bad field.
        state.revocations_decoded(dir)?;
        for c in &state.crls {
            state.crl_time(dir, c)?;
        }
        Ok(state)
    }

    pub(crate) fn save(&self, dir: &Path) -> Result<(), Error> {
        let mut json = serde_json::to_vec_pretty(self).map_err(|e| Error::BadState {
            path: Self::path(dir),
            reason: e.to_string(),
        })?;
        json.push(b'\n');
        files::write_atomic(dir, STATE_FILE, &json, Access::Public)
    }

    pub(crate) fn new(port: u16, created: UtcTime) -> Self {
        Self {
            format: FORMAT,
            port,
            created: created.rfc3339(),
            certificates: Vec::new(),
            revocations: Vec::new(),
            crls: Vec::new(),
        }
    }

    fn bad(dir: &Path, reason: String) -> Error {
        Error::BadState {
            path: Self::path(dir),
            reason,
        }
    }

    /// Every revocation, decoded.
    pub(crate) fn revocations_decoded(&self, dir: &Path) -> Result<Vec<Revocation>, Error> {
        self.revocations
            .iter()
            .map(|r| {
                let issuer: CertName = r
                    .issuer
                    .parse()
                    .map_err(|_| Self::bad(dir, format!("unknown issuer {:?}", r.issuer)))?;
                Ok(Revocation {
                    serial: hex::decode(&r.serial)
                        .map_err(|_| Self::bad(dir, format!("bad serial {:?}", r.serial)))?,
                    issuer,
                    time: parse_rfc3339(&r.time).map_err(|e| Self::bad(dir, e.to_string()))?,
                    reason: r
                        .reason
                        .parse()
                        .map_err(|e: Error| Self::bad(dir, e.to_string()))?,
                    invalidity_date: r
                        .invalidity_date
                        .as_deref()
                        .map(parse_rfc3339)
                        .transpose()
                        .map_err(|e| Self::bad(dir, e.to_string()))?,
                })
            })
            .collect()
    }

    pub(crate) fn crl_time(&self, dir: &Path, c: &CrlRecord) -> Result<UtcTime, Error> {
        parse_rfc3339(&c.this_update).map_err(|e| Self::bad(dir, e.to_string()))
    }

    /// The CRL record of `ca`.
    pub(crate) fn crl(&self, ca: CertName) -> Option<&CrlRecord> {
        self.crls.iter().find(|c| c.issuer == ca.as_str())
    }

    /// The issued certificate record with this serial.
    pub(crate) fn by_serial(&self, serial: &[u8]) -> Option<&IssuedRecord> {
        let hex = hex::encode_upper(serial);
        self.certificates.iter().find(|c| c.serial == hex)
    }

    /// The issued certificate record of `name`.
    pub(crate) fn by_name(&self, name: CertName) -> Option<&IssuedRecord> {
        self.certificates.iter().find(|c| c.name == name.as_str())
    }
}
