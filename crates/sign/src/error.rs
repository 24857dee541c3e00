//! The crate's one error type: a NuGet code, what kind of failure it is (for callers that
//! react to one case, instead of matching on the code or the text), and a message.

use signet_common::NuCode;

/// The failures a caller may want to handle differently from the rest.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum ErrorKind {
    /// The package's primary signature is a repository signature, which cannot be
    /// countersigned (NU3033). A repository re-signs it only after removing that signature.
    RepositoryPrimarySigned,
    /// Any other failure; `code` and `message` say which.
    Other,
}

/// Why a package could not be signed. `code` is NuGet's code for the failure (NU3001 when
/// NuGet has no more specific one).
#[derive(Debug, thiserror::Error)]
#[error("{code}: {message}")]
#[non_exhaustive]
pub struct Error {
    /// NuGet's code.
    pub code: NuCode,
    /// What went wrong, ready to show.
    pub message: String,
    /// The kind of failure, as data.
    pub kind: ErrorKind,
}

impl Error {
    /// A failure of kind [`ErrorKind::Other`] (for [`crate::TimestampClient`] implementations).
    pub fn new(code: NuCode, message: impl Into<String>) -> Self {
        Self {
            code,
            message: message.into(),
            kind: ErrorKind::Other,
        }
    }

    /// A failure of a specific kind.
    pub(crate) fn of_kind(kind: ErrorKind, code: NuCode, message: impl Into<String>) -> Self {
        Self {
            code,
            message: message.into(),
            kind,
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
