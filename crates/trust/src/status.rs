//! What a revocation check says about one certificate.

use signet_common::UtcTime;
use x509_cert::ext::pkix::CrlReason;

/// Why a certificate was revoked: `CRLReason`, RFC 5280 §5.3.1 (the same values appear in
/// OCSP's `RevokedInfo`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, serde::Serialize)]
#[non_exhaustive]
pub enum RevocationReason {
    /// unspecified (0).
    Unspecified,
    /// keyCompromise (1).
    KeyCompromise,
    /// cACompromise (2).
    CaCompromise,
    /// affiliationChanged (3).
    AffiliationChanged,
    /// superseded (4).
    Superseded,
    /// cessationOfOperation (5).
    CessationOfOperation,
    /// certificateHold (6).
    CertificateHold,
    /// removeFromCRL (8): only meaningful in delta CRLs; never treated as a revocation.
    RemoveFromCrl,
    /// privilegeWithdrawn (9).
    PrivilegeWithdrawn,
    /// aACompromise (10).
    AaCompromise,
}

impl RevocationReason {
    /// The RFC 5280 name (`keyCompromise`).
    pub fn name(self) -> &'static str {
        match self {
            Self::Unspecified => "unspecified",
            Self::KeyCompromise => "keyCompromise",
            Self::CaCompromise => "cACompromise",
            Self::AffiliationChanged => "affiliationChanged",
            Self::Superseded => "superseded",
            Self::CessationOfOperation => "cessationOfOperation",
            Self::CertificateHold => "certificateHold",
            Self::RemoveFromCrl => "removeFromCRL",
            Self::PrivilegeWithdrawn => "privilegeWithdrawn",
            Self::AaCompromise => "aACompromise",
        }
    }

    /// Whether the reason says a private key (the subject's, a CA's or an attribute
    /// authority's) was or may have been compromised.
    pub fn is_compromise(self) -> bool {
        matches!(
            self,
            Self::KeyCompromise | Self::CaCompromise | Self::AaCompromise
        )
    }
}

impl std::fmt::Display for RevocationReason {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

impl From<CrlReason> for RevocationReason {
    fn from(r: CrlReason) -> Self {
        match r {
            CrlReason::Unspecified => Self::Unspecified,
            CrlReason::KeyCompromise => Self::KeyCompromise,
            CrlReason::CaCompromise => Self::CaCompromise,
            CrlReason::AffiliationChanged => Self::AffiliationChanged,
            CrlReason::Superseded => Self::Superseded,
            CrlReason::CessationOfOperation => Self::CessationOfOperation,
            CrlReason::CertificateHold => Self::CertificateHold,
            CrlReason::RemoveFromCRL => Self::RemoveFromCrl,
            CrlReason::PrivilegeWithdrawn => Self::PrivilegeWithdrawn,
            CrlReason::AaCompromise => Self::AaCompromise,
        }
    }
}

impl From<RevocationReason> for CrlReason {
    fn from(r: RevocationReason) -> Self {
        match r {
            RevocationReason::Unspecified => Self::Unspecified,
            RevocationReason::KeyCompromise => Self::KeyCompromise,
            RevocationReason::CaCompromise => Self::CaCompromise,
            RevocationReason::AffiliationChanged => Self::AffiliationChanged,
            RevocationReason::Superseded => Self::Superseded,
            RevocationReason::CessationOfOperation => Self::CessationOfOperation,
            RevocationReason::CertificateHold => Self::CertificateHold,
            RevocationReason::RemoveFromCrl => Self::RemoveFromCRL,
            RevocationReason::PrivilegeWithdrawn => Self::PrivilegeWithdrawn,
            RevocationReason::AaCompromise => Self::AaCompromise,
        }
    }
}

/// The revocation status of one certificate.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum RevocationStatus {
    /// A current, correctly signed OCSP response or CRL says the certificate is not revoked.
    Good,
    /// A current, correctly signed OCSP response or CRL says the certificate is revoked.
    Revoked {
        /// revocationTime (OCSP) or revocationDate (CRL).
        time: UtcTime,
        /// The reason code, when given.
        reason: Option<RevocationReason>,
        /// The invalidity date (2.5.29.24): when the key is known or suspected to have become
        /// unusable, when given.
        invalidity_date: Option<UtcTime>,
    },
    /// No usable answer: no responder or distribution point, none reachable, no current
    /// cached answer in offline mode, or every answer failed its checks.
    Unknown {
        /// Why, for the report (`OCSP http://…: timed out after 5 s; no CRL distribution point`).
        why: String,
    },
}
