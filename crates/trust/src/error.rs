/// Errors of the trust layer. Verification itself never fails (it reports); these come from
/// loading roots, and from decoding, building and checking revocation data (OCSP, CRLs), where
/// a checker turns them into an unknown revocation status with the error as the reason.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A bundled or user-supplied root bundle could not be read.
    #[error("the trust roots could not be read: {0}")]
    Roots(#[source] signet_signature::Error),

    // --- revocation data: decoding and encoding ---
    /// An OCSP or CRL structure could not be decoded or encoded.
    #[error("{what}: {detail}")]
    Asn1 {
        /// Which structure.
        what: &'static str,
        /// The decoder's message.
        detail: String,
    },
    /// A revocation structure exceeds a limit of [`crate::RevocationLimits`].
    #[error("{what} exceeds the limit of {limit}")]
    Limit {
        /// What was counted (`OCSP response size`, `CRL entries`).
        what: &'static str,
        /// The limit.
        limit: usize,
    },

    // --- revocation data: checking ---
    /// The OCSP responder answered with a status other than `successful` (RFC 6960 §4.2.1).
    #[error("the OCSP responder answered {0}")]
    OcspStatus(&'static str),
    /// The response type is not id-pkix-ocsp-basic.
    #[error("the OCSP response type {0} is not supported (only id-pkix-ocsp-basic)")]
    OcspResponseType(String),
    /// No certificate that may sign OCSP responses for the issuer signed the response
    /// (RFC 6960 §4.2.2.2): neither the issuer nor a delegated responder it issued with
    /// id-kp-OCSPSigning.
    #[error("the OCSP response is not signed by an authorised responder: {0}")]
    OcspSigner(&'static str),
    /// The response does not cover the certificate asked about.
    #[error("the OCSP response has no answer for the certificate")]
    OcspNotCovered,
    /// The response echoes a nonce other than the one sent (RFC 8954).
    #[error("the OCSP response nonce does not match the request")]
    OcspNonce,
    /// The CRL is not usable for the certificate (wrong issuer, delta or partial CRL, unknown
    /// critical extension).
    #[error("the CRL cannot be used: {0}")]
    CrlUnusable(&'static str),
    /// A CRL or OCSP response signature does not verify.
    #[error("the {0} signature does not verify")]
    BadSignature(&'static str),
    /// thisUpdate lies in the future or nextUpdate in the past.
    #[error("the {what} is not current: {detail}")]
    NotCurrent {
        /// `CRL` or `OCSP response`.
        what: &'static str,
        /// Which bound failed.
        detail: String,
    },

    // --- revocation data: building and fetching ---
    /// The key refused to sign (OCSP response builder).
    #[error("signing the OCSP response failed: {0}")]
    Sign(#[source] signet_keys::Error),
    /// A responder or distribution point could not be reached or answered badly.
    #[error("{url}: {reason}")]
    Fetch {
        /// The URL asked.
        url: String,
        /// What went wrong (timeout, refused, HTTP status, too large).
        reason: String,
    },
}

impl Error {
    pub(crate) fn asn1(what: &'static str, e: impl std::fmt::Display) -> Self {
        Self::Asn1 {
            what,
            detail: e.to_string(),
        }
    }
}
