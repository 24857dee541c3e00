//! The one error type of `signet-pki`.

use std::path::PathBuf;

/// Everything that can go wrong while creating, revoking in or serving a development PKI.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    // --- files ---
    /// A file or directory could not be read, written or created.
    #[error("{action} {}: {source}", .path.display())]
    Io {
        /// What was being done ("cannot write", "cannot read", ...).
        action: &'static str,
        /// The file or directory.
        path: PathBuf,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
    /// `init` found a PKI in the directory and `--force` was not given.
    #[error("{} already holds a development PKI (use --force to replace it)", .0.display())]
    AlreadyExists(PathBuf),
    /// The directory holds no PKI state file.
    #[error("{} holds no development PKI (no state.json; run `signet pki init` first)", .0.display())]
    NotAPki(PathBuf),
    /// The state file is not what `init` wrote.
    #[error("{}: unreadable state: {reason}", .path.display())]
    BadState {
        /// The state file.
        path: PathBuf,
        /// What is wrong with it.
        reason: String,
    },

    // --- certificates and keys ---
    /// rcgen refused to make a key, certificate or CRL.
    #[error("cannot make {what}: {source}")]
    Generate {
        /// What was being made.
        what: &'static str,
        /// The cause.
        #[source]
        source: rcgen::Error,
    },
    /// A DER structure could not be encoded or decoded.
    #[error("{what}: {source}")]
    Der {
        /// What was being encoded or decoded.
        what: &'static str,
        /// The cause.
        #[source]
        source: der::Error,
    },
    /// The PKCS#12 file could not be written.
    #[error("cannot write the PKCS#12 file: {0}")]
    Pkcs12(String),
    /// The system RNG failed.
    #[error("the system random number generator failed")]
    Random,
    /// A key or certificate of the PKI could not be loaded for signing.
    #[error("cannot load {what}: {reason}")]
    LoadKey {
        /// Which key.
        what: String,
        /// Why.
        reason: String,
    },

    // --- arguments ---
    /// A port of 0 was given (the URLs in the certificates need a fixed port).
    #[error("the port must not be 0: the CRL and OCSP URLs in the certificates name it")]
    PortZero,
    /// An empty PFX password was given.
    #[error("the PFX password must not be empty")]
    EmptyPassword,
    /// The certificate to revoke is not one this PKI issued.
    #[error(
        "no certificate issued by this PKI matches {0:?} (try codesign, tsa, repository, intermediate, a serial in hex, or a certificate file)"
    )]
    UnknownCertificate(String),
    /// The root cannot be revoked: nothing above it publishes its status.
    #[error(
        "the root CA cannot be revoked (no CRL or OCSP responder covers a self-signed root); run `signet pki init --force` for a new PKI"
    )]
    RevokeRoot,
    /// The certificate is already revoked.
    #[error("certificate {serial} ({name}) is already revoked (since {since})")]
    AlreadyRevoked {
        /// Its serial, hex.
        serial: String,
        /// Its name in this PKI.
        name: String,
        /// The recorded revocation time, RFC 3339.
        since: String,
    },
    /// An unknown revocation reason.
    #[error(
        "unknown revocation reason {0:?} (unspecified, keyCompromise, cACompromise, affiliationChanged, superseded, cessationOfOperation, certificateHold, privilegeWithdrawn)"
    )]
    UnknownReason(String),
    /// A time argument is not RFC 3339.
    #[error("{0:?} is not an RFC 3339 time such as 2026-01-31T12:00:00Z")]
    BadTime(String),
    /// A certificate file given to `revoke` could not be parsed.
    #[error("{}: not a PEM or DER certificate: {reason}", .path.display())]
    BadCertificateFile {
        /// The file.
        path: PathBuf,
        /// Why.
        reason: String,
    },

    // --- server ---
    /// `serve` was asked to listen on an address other than loopback.
    #[error(
        "refusing to listen on {0}: the development PKI serves its CA keys' signatures on loopback only (use 127.0.0.1 or [::1])"
    )]
    NotLoopback(std::net::SocketAddr),
    /// The HTTP server failed.
    #[error("the HTTP server failed: {0}")]
    Serve(#[source] std::io::Error),
}

impl Error {
    pub(crate) fn io(
        action: &'static str,
        path: impl Into<PathBuf>,
        source: std::io::Error,
    ) -> Self {
        Self::Io {
            action,
            path: path.into(),
            source,
        }
    }

    pub(crate) fn generate(what: &'static str) -> impl FnOnce(rcgen::Error) -> Self {
        move |source| Self::Generate { what, source }
    }

    pub(crate) fn der(what: &'static str) -> impl FnOnce(der::Error) -> Self {
        move |source| Self::Der { what, source }
    }
}
