//! The crate's one error type.

use std::path::PathBuf;

/// A configuration file that cannot be read, parsed or written, or a request the
/// configuration cannot satisfy.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The file could not be read or written.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The cause.
        source: std::io::Error,
    },
    /// The file is not a valid configuration file.
    #[error("{path}: {message}")]
    Invalid {
        /// The file.
        path: PathBuf,
        /// What is wrong, with the line when known.
        message: String,
    },
    /// A trusted-signers request that NuGet refuses too (duplicate name, unknown signer…).
    #[error("{0}")]
    Request(String),
}
