use std::path::PathBuf;

use signet_common::NuCode;
use signet_trust::ChainProblem;

use crate::protocol::{FailureInfo, PkiStatus};

/// Errors of the timestamp authority (starting it and serving) and of the timestamp client,
/// grouped by phase. The authority answers bad requests with a `PKIStatusInfo`, never with an
/// error: these are configuration, I/O and client-side failures.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    // --- starting the authority ------------------------------------------------------------
    /// The signer has no certificate.
    #[error("the timestamp authority's signer has no certificate")]
    NoCertificate,
    /// The TSA certificate cannot be decoded.
    #[error("the timestamp authority certificate cannot be decoded: {0}")]
    CertificateDecode(#[source] signet_signature::Error),
    /// The TSA certificate is unfit for timestamping (RFC 3161 §2.3, NuGet's NU3022/NU3023).
    #[error("the timestamp authority certificate {subject} cannot be used: {reason}")]
    UnfitCertificate {
        /// The certificate's subject.
        subject: String,
        /// What is wrong with it.
        reason: String,
    },
    /// The signer's key does not belong to the certificate, or cannot sign.
    #[error("the timestamp authority's key cannot sign for its certificate: {0}")]
    KeyMismatch(String),
    /// An [`crate::AuthorityConfig`] value is unusable.
    #[error("invalid timestamp authority configuration: {0}")]
    Config(String),
    /// The serial-number state file cannot be read or written.
    #[error("the serial number state file {path} cannot be used: {source}")]
    SerialState {
        /// The state file.
        path: PathBuf,
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },
    /// The state file does not hold a serial number; starting over could repeat serials.
    #[error("the serial number state file {path} is corrupt (expected a positive decimal number)")]
    SerialStateCorrupt {
        /// The state file.
        path: PathBuf,
    },
    /// Another authority holds the state file's lock.
    #[error("the serial number state file {path} is in use by another timestamp authority")]
    SerialStateInUse {
        /// The state file.
        path: PathBuf,
    },
    /// Every 64-bit serial number has been used.
    #[error("the serial numbers are exhausted")]
    SerialExhausted,

    // --- serving ----------------------------------------------------------------------------
    /// The HTTP server failed.
    #[error("the timestamp server failed: {0}")]
    Serve(#[source] std::io::Error),

    // --- requesting a timestamp (spec §4.1–§4.2) --------------------------------------------
    /// The timestamper URL is not http or https (NuGet refuses other schemes).
    #[error(
        "the timestamper URL '{url}' has an invalid URI scheme; the supported schemes are http and https"
    )]
    UnsupportedScheme {
        /// The URL given.
        url: String,
    },
    /// The HTTP client could not be set up (TLS initialisation).
    #[error("the HTTP client cannot be initialised: {0}")]
    HttpClient(String),
    /// The request could not be encoded.
    #[error("the timestamp request cannot be encoded: {0}")]
    Encode(String),
    /// The HTTP exchange failed (connection, timeout, body too large).
    #[error("the timestamp service at {url} could not be reached: {message}")]
    Transport {
        /// The timestamper URL.
        url: String,
        /// What went wrong.
        message: String,
    },
    /// The service answered with a non-success HTTP status.
    #[error("the timestamp service at {url} responded with HTTP status {status}")]
    HttpStatus {
        /// The timestamper URL.
        url: String,
        /// The HTTP status code.
        status: u16,
    },
    /// The response is larger than [`crate::Limits::max_response_size`].
    #[error("the timestamp response exceeds the limit of {limit} bytes")]
    ResponseTooLarge {
        /// The limit.
        limit: usize,
    },
    /// The response is not a `TimeStampResp`.
    #[error("the timestamp response cannot be decoded: {0}")]
    MalformedResponse(String),
    /// The service did not grant the request.
    #[error("the timestamp service refused the request: status {status}, failure {fail_info}{}", text.as_deref().map(|t| format!(": {t}")).unwrap_or_default())]
    Rejected {
        /// The PKIStatus.
        status: PkiStatus,
        /// The failInfo bits (empty when absent).
        fail_info: FailureInfo,
        /// The statusString, joined.
        text: Option<String>,
    },
    /// A granted response without a token.
    #[error("the timestamp response was granted but holds no timestamp token")]
    NoToken,
    /// The token cannot be decoded or fails NuGet's load-time checks (NU3003, NU3020, NU3021).
    #[error(transparent)]
    Token(#[from] signet_signature::Error),
    /// A response check of spec §4.2 failed (NU3019, NU3022–NU3026, NU3036).
    #[error("{message}")]
    Check {
        /// The NU code.
        code: NuCode,
        /// What is wrong.
        message: String,
    },
    /// The TSA certificate chain does not build to a trusted timestamping root with the
    /// timeStamping EKU (NU3028).
    #[error("the timestamp certificate chain has a problem: {}", problems.iter().map(|p| format!("{}: {}", p.name(), p.message())).collect::<Vec<_>>().join("; "))]
    Chain {
        /// Every chain status found.
        problems: Vec<ChainProblem>,
    },
}

impl Error {
    pub(crate) fn check(code: NuCode, message: impl Into<String>) -> Self {
        Self::Check {
            code,
            message: message.into(),
        }
    }

    /// NuGet's code for this error, where NuGet has one (spec §4.2, §6).
    pub fn code(&self) -> Option<NuCode> {
        match self {
            Self::Token(e) => Some(e.code()),
            Self::Check { code, .. } => Some(*code),
            Self::Chain { .. } => Some(NuCode::NU3028),
            _ => None,
        }
    }
}
