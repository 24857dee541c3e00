//! The server's one error type, grouped by phase. Each variant says which HTTP status it maps
//! to at the edge ([`Error::status`]); causes of 500s go to the log, never to the client.

/// Everything that can go wrong in the server library.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    // --- configuration and start-up
    /// The configuration file or an option is unusable.
    #[error("configuration: {0}")]
    Config(String),

    // --- request validation (400, 413)
    /// The pushed package or a request parameter is invalid; the text is shown to the client.
    #[error("{0}")]
    Invalid(String),
    /// A push refused by a named rule (the push pipeline's refusals: what rule, which NU code,
    /// and what to do). 400.
    #[error("{0}")]
    Refused(Refusal),
    /// The request body is larger than the configured limit.
    #[error("the package is larger than the limit of {limit} bytes")]
    TooLarge {
        /// The limit, in bytes.
        limit: u64,
    },

    // --- authentication and authorisation (401, 403)
    /// No API key, an unknown one, or an expired or revoked one; or the caller does not own the
    /// package.
    #[error("{0}")]
    Unauthorized(String),
    /// The key is valid but its scopes or package globs do not allow this.
    #[error("{0}")]
    Forbidden(String),

    // --- state (404, 409)
    /// The package or version does not exist.
    #[error("{0}")]
    NotFound(String),
    /// The version already exists, or a name is taken.
    #[error("{0}")]
    Conflict(String),

    // --- throttling (429)
    /// Too many failed attempts (sign-in, second factor); retry after the wait.
    #[error("too many failed attempts: try again in {retry_after_secs} seconds")]
    TooManyRequests {
        /// Seconds until an attempt is accepted again.
        retry_after_secs: u64,
    },

    // --- storage (500)
    /// The database failed.
    #[error("database: {0}")]
    Database(#[from] sqlx::Error),
    /// A file or blob operation failed.
    #[error("{context}: {source}")]
    Io {
        /// What was being done.
        context: String,
        /// The cause.
        source: std::io::Error,
    },
    /// The blob store (S3) did not answer or failed: 503 with `Retry-After`.
    #[error("storage: {0}")]
    StorageUnavailable(String),
    /// Password hashing or the random source failed.
    #[error("crypto: {0}")]
    Crypto(String),
    /// Repository signing failed (the key, the token or the timestamp authority).
    #[error("{0}")]
    Signing(String),

    // --- the mirror's upstreams (403, 502, 504)
    /// An upstream failed, or served something the mirror refuses; the text says why.
    #[error("{0}")]
    Upstream(UpstreamError),
}

/// The rule a push broke. Each names a requirement of NuGet.org's push (spec
/// `nuget-server.md` §2) or of this server.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum PushRule {
    /// NuGet.org's verification of the author signature (§2.6): exactly one valid timestamp,
    /// an author primary signature, RSA 2048+, EKUs, a chain to the server's roots, not revoked.
    SignatureVerification,
    /// Who must and may sign (§2.1): registered certificates, the required signer.
    WhoMaySign,
    /// A certificate the owner registered was found revoked by the recheck job.
    RevokedRegistration,
    /// The organization requires every package it owns to be author-signed.
    OrganizationRequiresSigned,
    /// The package's signature cannot be read.
    SignatureFormat,
    /// The package's archive entries (traversal, duplicates, case twins) — what clients would
    /// unpack differently.
    ArchiveEntries,
    /// The manifest: id and version bounds, metadata URLs.
    Manifest,
}

impl PushRule {
    /// A short name for messages.
    pub fn name(self) -> &'static str {
        match self {
            Self::SignatureVerification => {
                "signature verification (exactly one valid timestamp, trusted chain, key size, EKU, not revoked)"
            }
            Self::WhoMaySign => "who may sign",
            Self::RevokedRegistration => "revoked registered certificate",
            Self::OrganizationRequiresSigned => "organization requires signed packages",
            Self::SignatureFormat => "signature format",
            Self::ArchiveEntries => "archive entry names",
            Self::Manifest => "manifest",
        }
    }
}

/// Why a push was refused: the rule, NuGet's code when there is one, and the message.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Refusal {
    /// The rule broken.
    pub rule: PushRule,
    /// NuGet's code for the first failure, when NuGet has one.
    pub code: Option<signet_common::NuCode>,
    /// What is wrong and what to do.
    pub message: String,
}

impl Refusal {
    /// A refusal.
    pub(crate) fn new(
        rule: PushRule,
        code: Option<signet_common::NuCode>,
        message: impl Into<String>,
    ) -> Self {
        Self {
            rule,
            code,
            message: message.into(),
        }
    }
}

impl std::fmt::Display for Refusal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if let Some(code) = self.code {
            write!(f, "{code}: ")?;
        }
        write!(f, "{} (push rule: {})", self.message, self.rule.name())
    }
}

impl From<Refusal> for Error {
    fn from(r: Refusal) -> Self {
        Self::Refused(r)
    }
}

impl Error {
    /// An [`Error::Io`] with its context.
    pub(crate) fn io(context: impl Into<String>, source: std::io::Error) -> Self {
        Self::Io {
            context: context.into(),
            source,
        }
    }

    /// The HTTP status code this error maps to.
    pub fn status(&self) -> u16 {
        match self {
            Self::Invalid(_) | Self::Refused(_) => 400,
            Self::Unauthorized(_) => 401,
            Self::Forbidden(_) => 403,
            Self::NotFound(_) => 404,
            Self::Conflict(_) => 409,
            Self::TooLarge { .. } => 413,
            Self::TooManyRequests { .. } => 429,
            Self::Database(_) if self.is_unavailable() => 503,
            Self::StorageUnavailable(_) => 503,
            Self::Config(_) | Self::Database(_) | Self::Io { .. } | Self::Crypto(_) => 500,
            Self::Signing(_) => 503,
            Self::Upstream(u) => u.status(),
        }
    }

    /// Whether the database or the blob store could not be reached (no connection within the
    /// acquire timeout, a refused or broken connection, an S3 endpoint that failed): a 503
    /// with `Retry-After`, not a 500.
    pub fn is_unavailable(&self) -> bool {
        matches!(
            self,
            Self::Database(
                sqlx::Error::PoolTimedOut | sqlx::Error::PoolClosed | sqlx::Error::Io(_)
            ) | Self::StorageUnavailable(_)
        )
    }

    /// Seconds a client should wait before retrying, for 503s and 429s.
    pub fn retry_after_secs(&self) -> Option<u64> {
        match self {
            Self::TooManyRequests { retry_after_secs } => Some(*retry_after_secs),
            Self::Upstream(u) if u.kind == FailureKind::Busy => Some(5),
            _ if self.is_unavailable() => Some(5),
            _ => None,
        }
    }

    /// Whether this is a unique-constraint violation from the database (two writers raced).
    pub(crate) fn is_unique_violation(&self) -> bool {
        match self {
            Self::Database(sqlx::Error::Database(db)) => db.is_unique_violation(),
            _ => false,
        }
    }
}

/// Why a mirror request failed, as the client is told.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum FailureKind {
    /// The upstream could not be reached (502).
    Unreachable,
    /// The upstream did not answer in time (504).
    TimedOut,
    /// The upstream served something that failed verification (502).
    Refused,
    /// The mirror's policy blocks it (403).
    Blocked,
    /// Held until it is older (403).
    Quarantined,
    /// Too many upstream fetches in flight (503, retry).
    Busy,
}

impl FailureKind {
    /// The name recorded.
    pub fn name(self) -> &'static str {
        match self {
            Self::Unreachable => "unreachable",
            Self::TimedOut => "timed-out",
            Self::Refused => "refused",
            Self::Blocked => "blocked",
            Self::Quarantined => "quarantined",
            Self::Busy => "busy",
        }
    }
}

/// A mirror failure.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct UpstreamError {
    /// What kind.
    pub kind: FailureKind,
    /// NuGet's code, when there is one.
    pub code: Option<signet_common::NuCode>,
    /// The message.
    pub message: String,
}

impl std::fmt::Display for UpstreamError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if let Some(code) = self.code {
            write!(f, "{code}: ")?;
        }
        write!(f, "{}", self.message)
    }
}

impl UpstreamError {
    /// The HTTP status.
    pub fn status(&self) -> u16 {
        match self.kind {
            FailureKind::Unreachable | FailureKind::Refused => 502,
            FailureKind::TimedOut => 504,
            FailureKind::Blocked | FailureKind::Quarantined => 403,
            FailureKind::Busy => 503,
        }
    }
}
