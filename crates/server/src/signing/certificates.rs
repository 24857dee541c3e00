//! Certificate registration on accounts (spec server §1), the required-signer setting
//! (§2.2) and the organization policy "every package author-signed". Permission checks
//! (2FA session, account admin) belong to the caller: these act for an account by name.

use serde::Serialize;
use signet_common::UtcTime;
use signet_signature::Certificate;

use crate::Error;
use crate::signing::store::CertificateRow;

/// A certificate's state on an account's list.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub enum CertificateStatus {
    /// Registered, valid now, not revoked.
    Active,
    /// Past its notAfter.
    Expired,
    /// The recheck job found it revoked.
    Revoked,
    /// Deleted by the account after it signed packages: listed, no longer accepted.
    Deactivated,
    /// Registered, but no push signed with it can be accepted (wrong EKU, weak key,
    /// untrusted); [`CertificateRow::cannot_sign`] says why.
    CannotSign,
}

impl CertificateStatus {
    /// The label pages show.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Active => "Active",
            Self::Expired => "Expired",
            Self::Revoked => "Revoked",
            Self::Deactivated => "Deactivated",
            Self::CannotSign => "Cannot sign",
        }
    }

    /// The status of `row` at `now`.
    pub fn of(row: &CertificateRow, now: UtcTime) -> Self {
        if row.status == "revoked" {
            Self::Revoked
        } else if !row.active {
            Self::Deactivated
        } else if row.not_after < now.unix_micros() {
            Self::Expired
        } else if row.cannot_sign.is_some() {
            Self::CannotSign
        } else {
            Self::Active
        }
    }
}

/// What registering a certificate gives back.
#[derive(Clone, Debug, Serialize)]
pub struct RegisteredCertificate {
    /// SHA-256 of the DER, lower-case hex.
    pub fingerprint: String,
    /// Subject DN.
    pub subject: String,
    /// Issuer DN.
    pub issuer: String,
    /// notAfter, RFC 3339.
    pub expires: String,
    /// signet's lint: why pushes signed with it would fail (it is registered anyway).
    pub warnings: Vec<String>,
}

/// A PEM upload becomes its first certificate's DER plus the rest as a chain; DER stays.
pub(crate) fn split_upload(bytes: &[u8]) -> Result<(Vec<u8>, Vec<Certificate>), Error> {
    let trimmed = bytes.trim_ascii_start();
    if !trimmed.starts_with(b"-----BEGIN") {
        return Ok((bytes.to_vec(), Vec::new()));
    }
    let mut certs = Certificate::from_pem_bundle(trimmed)
        .map_err(|e| Error::Invalid(format!("The PEM file cannot be read: {e}")))?
        .into_iter();
    let first = certs
        .next()
        .ok_or_else(|| Error::Invalid("The PEM file holds no certificate.".into()))?;
    Ok((first.der().to_vec(), certs.collect()))
}

pub(crate) fn chain_der(certs: &[Certificate]) -> Vec<u8> {
    certs.iter().flat_map(|c| c.der().iter().copied()).collect()
}
