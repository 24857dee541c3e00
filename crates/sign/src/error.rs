//! The crate's one error type: a NuGet code and a message.

use signet_common::NuCode;

/// Why a package could not be signed. `code` is NuGet's code for the failure (NU3001 when
/// NuGet has no more specific one).
#[derive(Debug, thiserror::Error)]
#[error("{code}: {message}")]
pub struct Error {
    /// NuGet's code.
    pub code: NuCode,
    /// What went wrong, ready to show.
    pub message: String,
}

impl Error {
    pub(crate) fn new(code: NuCode, message: impl Into<String>) -> Self {
        Self {
            code,
            message: message.into(),
        }
    }

    pub(crate) fn io(what: &str, e: &std::io::Error) -> Self {
        Self::new(NuCode::NU3001, format!("{what}: {e}"))
    }
}

impl From<signet_nupkg::Error> for Error {
    fn from(e: signet_nupkg::Error) -> Self {
        Self::new(e.code().unwrap_or(NuCode::NU3001), e.to_string())
    }
}

impl From<signet_signature::Error> for Error {
    fn from(e: signet_signature::Error) -> Self {
        Self::new(e.code(), e.to_string())
    }
}
