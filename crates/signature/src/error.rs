use signet_common::NuCode;

/// Errors of the signature model, grouped by phase: decoding, the load-time checks NuGet makes
/// (spec §3.8), timestamp tokens, and building.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    // --- decoding -------------------------------------------------------------------------
    /// BER could not be normalised.
    #[error("the package signature is invalid or cannot be decoded: {0}")]
    Ber(String),
    /// An ASN.1 structure is malformed.
    #[error("the package signature is invalid or cannot be decoded: {what}: {detail}")]
    Asn1 {
        /// Which structure.
        what: &'static str,
        /// What is wrong with it.
        detail: String,
    },
    /// A count or size limit was exceeded.
    #[error("the package signature exceeds the limit on {what} ({limit})")]
    Limit {
        /// Which limit.
        what: &'static str,
        /// Its value.
        limit: usize,
    },

    // --- load-time checks (§3.8) -------------------------------------------------------------
    /// Not exactly one SignerInfo.
    #[error(
        "the package signature file does not contain exactly one primary signature (found {0})"
    )]
    SignerCount(usize),
    /// The signer's certificate is not in the certificate set.
    #[error("the {0} does not have a signing certificate")]
    NoSignerCertificate(&'static str),
    /// Violations of the signing-certificate(-v2) or signing-time rules.
    #[error("the primary signature is invalid: {0}")]
    InvalidPrimarySignature(String),
    /// The signature content text is malformed.
    #[error("the package signature content is invalid: {0}")]
    Content(String),
    /// `Version:` is not 1.
    #[error("the package signature format version is not supported")]
    UnsupportedVersion,
    /// A structural rule of NuGet's own decoders (types, service index, owners) is violated.
    #[error("{0}")]
    Invalid(String),
    /// The repository countersignature breaks a rule.
    #[error("{message}")]
    Countersignature {
        /// NU3031, NU3032 or NU3033.
        code: NuCode,
        /// What is wrong.
        message: String,
    },

    // --- timestamps ---------------------------------------------------------------------------
    /// A timestamp token breaks a rule of §3.8 / §4.3.
    #[error("{message}")]
    Timestamp {
        /// NU3019–NU3030, NU3036.
        code: NuCode,
        /// What is wrong.
        message: String,
    },

    // --- building -----------------------------------------------------------------------------
    /// The key could not sign.
    #[error(transparent)]
    Key(#[from] signet_keys::Error),
    /// Invalid input to signing.
    #[error("invalid input to signing: {0}")]
    SigningInput(String),
}

impl Error {
    pub(crate) fn asn1(what: &'static str, detail: String) -> Self {
        Self::Asn1 { what, detail }
    }

    pub(crate) fn timestamp(code: NuCode, message: impl Into<String>) -> Self {
        Self::Timestamp {
            code,
            message: message.into(),
        }
    }

    /// NuGet's code for this error (spec §3.8, §6).
    pub fn code(&self) -> NuCode {
        match self {
            Self::Ber(_) | Self::Asn1 { .. } | Self::Limit { .. } => NuCode::NU3003,
            Self::SignerCount(_) => NuCode::NU3009,
            Self::NoSignerCertificate(_) => NuCode::NU3010,
            Self::InvalidPrimarySignature(_) => NuCode::NU3011,
            Self::Content(_) | Self::Invalid(_) => NuCode::NU3000,
            Self::UnsupportedVersion => NuCode::NU3007,
            Self::Countersignature { code, .. } | Self::Timestamp { code, .. } => *code,
            Self::Key(e) => e.code().unwrap_or(NuCode::NU3001),
            Self::SigningInput(_) => NuCode::NU3001,
        }
    }
}
